//! Token logins for client applications: access and refresh tokens on top of
//! the same accounts and session records as the browser.

use time::OffsetDateTime;

use crate::{
    accounts::{AccountError, Accounts, Channel},
    jwt::{AccessClaims, InvalidToken, KeyError, KeyRing},
    metrics::METRICS,
    roles::{grant_scopes, scopes_of, Role, ScopeNotGranted},
    session::ClientInfo,
    store::{event, FamilyLifetimes, NewApiSession, Rotation, Store, StoreError, User, UserId},
    throttle::{Action, TooManyAttempts},
    token::{SecretToken, TokenHash},
};

#[derive(Debug, thiserror::Error)]
pub enum ApiAuthError {
    #[error(transparent)]
    Account(#[from] AccountError),
    #[error(transparent)]
    Scope(#[from] ScopeNotGranted),
    /// The refresh token is unknown, spent, expired or revoked.
    #[error("the refresh token is invalid or expired")]
    InvalidGrant,
    #[error("invalid access token: {0}")]
    InvalidToken(#[from] InvalidToken),
    #[error(transparent)]
    Key(#[from] KeyError),
    #[error(transparent)]
    TooManyAttempts(#[from] TooManyAttempts),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Tokens handed to a client after login or refresh.
#[derive(Debug)]
pub struct TokenPair {
    pub access_token: String,
    pub refresh_token: SecretToken,
    /// Seconds until the access token expires.
    pub expires_in: u64,
    pub scope: String,
}

/// A verified access token whose login is still live.
#[derive(Debug, Clone)]
pub struct Principal {
    pub user_id: UserId,
    pub claims: AccessClaims,
}

#[derive(Debug, Clone)]
pub struct ApiAuth {
    accounts: Accounts,
    keys: KeyRing,
    lifetimes: FamilyLifetimes,
}

impl ApiAuth {
    pub fn new(accounts: Accounts, keys: KeyRing, lifetimes: FamilyLifetimes) -> Self {
        Self {
            accounts,
            keys,
            lifetimes,
        }
    }

    pub fn keys(&self) -> &KeyRing {
        &self.keys
    }

    fn store(&self) -> &Store {
        self.accounts.store()
    }

    /// Checks the credentials and starts a token family.
    pub async fn log_in(
        &self,
        email: &str,
        password: &str,
        requested_scope: Option<&str>,
        client: &ClientInfo,
    ) -> Result<(User, TokenPair), ApiAuthError> {
        let now = OffsetDateTime::now_utc();
        let user = self
            .accounts
            .authenticate(email, password, client, Channel::Api)
            .await?;

        let roles = self.store().user_roles(&user.id).await?;
        let scopes = grant_scopes(requested_scope, &roles)?;
        let scope = scopes.into_iter().collect::<Vec<_>>().join(" ");

        let family_id = uuid::Uuid::new_v4().to_string();
        let refresh_token = SecretToken::generate();
        let expires_at = now + self.lifetimes.idle.min(self.lifetimes.max);
        let new = NewApiSession {
            user_id: &user.id,
            family_id: &family_id,
            scope: &scope,
            ip: client.ip.as_deref(),
            user_agent: client.user_agent.as_deref(),
            refresh_hash: &refresh_token.hash(),
            expires_at,
        };
        self.store().create_api_session(&new, now).await?;
        tracing::info!(user.id = %user.id, family = %family_id, "API login");

        let pair = self.token_pair(&user.id, &family_id, scope, refresh_token)?;
        Ok((user, pair))
    }

    /// Spends a refresh token and returns a new pair. The scope is narrowed
    /// to what the user's roles grant now, so a removed role takes effect at
    /// the next refresh.
    pub async fn refresh(&self, presented: &str, client: &ClientInfo) -> Result<TokenPair, ApiAuthError> {
        self.accounts
            .throttle()
            .check_ip(Action::Refresh, client.ip.as_deref())
            .await?;
        let now = OffsetDateTime::now_utc();
        let successor = SecretToken::generate();
        let rotation = self
            .store()
            .rotate_refresh_token(&TokenHash::of(presented), &successor.hash(), self.lifetimes, now)
            .await?;

        match rotation {
            Rotation::Rotated {
                user_id,
                family_id,
                scope,
            } => {
                let roles = self.store().user_roles(&user_id).await?;
                let scope = narrow_scope(&scope, &roles);
                METRICS.refresh();
                self.token_pair(&user_id, &family_id, scope, successor)
            }
            Rotation::Reused { user_id, family_id } => {
                METRICS.refresh_reuse();
                let detail = format!("family {family_id} revoked");
                self.accounts
                    .record(Some(&user_id), event::REFRESH_TOKEN_REUSED, client, &detail)
                    .await?;
                tracing::warn!(user.id = %user_id, family = %family_id, "refresh token reused; token family revoked");
                Err(ApiAuthError::InvalidGrant)
            }
            Rotation::Expired | Rotation::Unknown => Err(ApiAuthError::InvalidGrant),
        }
    }

    /// Ends the login the access token belongs to.
    pub async fn log_out(&self, principal: &Principal, client: &ClientInfo) -> Result<(), ApiAuthError> {
        self.store().revoke_family(&principal.claims.sid).await?;
        self.accounts
            .record(Some(&principal.user_id), event::LOGOUT, client, Channel::Api.as_str())
            .await?;
        tracing::info!(user.id = %principal.user_id, family = %principal.claims.sid, "API logout");
        Ok(())
    }

    /// Verifies an access token and checks that its login is still live, so
    /// that logout and revocation reject tokens before they expire.
    pub async fn authenticate(&self, access_token: &str) -> Result<Principal, ApiAuthError> {
        let claims = self.keys.verify(access_token).await?;
        let owner = self
            .store()
            .live_family_owner(&claims.sid, self.lifetimes.max, OffsetDateTime::now_utc())
            .await?;
        match owner {
            Some(user_id) if user_id.as_str() == claims.sub => Ok(Principal { user_id, claims }),
            _ => Err(InvalidToken::Rejected("login revoked or expired".to_owned()).into()),
        }
    }

    fn token_pair(
        &self,
        user_id: &UserId,
        family_id: &str,
        scope: String,
        refresh_token: SecretToken,
    ) -> Result<TokenPair, ApiAuthError> {
        let (access_token, _) = self.keys.issue(user_id.as_str(), family_id, &scope)?;
        Ok(TokenPair {
            access_token,
            refresh_token,
            expires_in: self.keys.ttl().as_secs(),
            scope,
        })
    }
}

/// Keeps the scopes of `scope` that `roles` still grant.
fn narrow_scope(scope: &str, roles: &[Role]) -> String {
    let granted = scopes_of(roles);
    scope
        .split_ascii_whitespace()
        .filter(|scope| granted.contains(scope))
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn narrowing_drops_scopes_no_longer_granted() {
        assert_eq!(
            narrow_scope("contacts.read contacts.write", &[Role::Viewer]),
            "contacts.read"
        );
        assert_eq!(narrow_scope("contacts.read", &[Role::Admin]), "contacts.read");
        assert_eq!(narrow_scope("contacts.write", &[]), "");
    }
}
