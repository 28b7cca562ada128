//! A user's logins, browser sessions and API token families alike, as the
//! sessions page and the API list them, and their revocation.

use time::OffsetDateTime;

use super::{AccountError, Accounts, Channel};
use crate::{
    devices,
    session::ClientInfo,
    store::{event, UserId},
    token::TokenHash,
};

/// Kind of a login.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LoginKind {
    Browser,
    Api,
}

impl LoginKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Browser => "browser",
            Self::Api => "api",
        }
    }
}

/// One login of a user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Login {
    /// Hex of the stored key, a hash of the session id or token family:
    /// it names the login without granting anything.
    pub id: String,
    pub kind: LoginKind,
    /// Browser and system in words, from the user agent.
    pub device: String,
    pub ip: Option<String>,
    pub signed_in_at: OffsetDateTime,
    pub last_active_at: OffsetDateTime,
    /// Whether this is the login that made the request.
    pub current: bool,
}

/// Returns the listed id of the login stored under `key`.
pub fn login_id(key: &TokenHash) -> String {
    to_hex(key.as_bytes())
}

fn to_hex(bytes: &[u8]) -> String {
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}

fn from_hex(text: &str) -> Option<Vec<u8>> {
    if text.len() != 64 || !text.is_ascii() {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|index| u8::from_str_radix(&text[index..index + 2], 16).ok())
        .collect()
}

impl Accounts {
    /// Lists the user's live logins, most recently active first. `current`
    /// is the key of the login making the request, which is marked.
    pub async fn logins(&self, user_id: &UserId, current: Option<&TokenHash>) -> Result<Vec<Login>, AccountError> {
        let rows = self.sessions.list_for_user(user_id, OffsetDateTime::now_utc()).await?;
        Ok(rows
            .into_iter()
            .map(|row| Login {
                current: current.is_some_and(|key| key.as_bytes() == row.id_hash.as_slice()),
                id: to_hex(&row.id_hash),
                kind: if row.kind == "api" {
                    LoginKind::Api
                } else {
                    LoginKind::Browser
                },
                device: devices::describe(row.user_agent.as_deref()),
                ip: row.ip,
                signed_in_at: row.created_at,
                last_active_at: row.last_seen_at,
            })
            .collect())
    }

    /// Ends one login of the user by its listed id. Its cookie, refresh
    /// token and access tokens are rejected from the next request on.
    /// An id that names no login of this user gets [`AccountError::NotFound`].
    pub async fn revoke_login(
        &self,
        user_id: &UserId,
        id: &str,
        client: &ClientInfo,
        channel: Channel,
    ) -> Result<(), AccountError> {
        let key = from_hex(id).ok_or(AccountError::NotFound)?;
        if !self.sessions.revoke_one(user_id, &key).await? {
            return Err(AccountError::NotFound);
        }
        self.record(Some(user_id), event::LOGIN_REVOKED, client, channel.as_str())
            .await?;
        tracing::info!(user.id = %user_id, "login revoked by its user");
        Ok(())
    }

    /// Ends every login of the user except `keep`, the one making the
    /// request. Returns how many ended.
    pub async fn revoke_other_logins(
        &self,
        user_id: &UserId,
        keep: Option<&TokenHash>,
        client: &ClientInfo,
        channel: Channel,
    ) -> Result<u64, AccountError> {
        let ended = self.sessions.revoke_all_except(user_id, keep).await?;
        let detail = format!("{}; {ended} ended", channel.as_str());
        self.record(Some(user_id), event::OTHER_LOGINS_REVOKED, client, &detail)
            .await?;
        tracing::info!(user.id = %user_id, ended, "other logins revoked by their user");
        Ok(ended)
    }
}

impl Accounts {
    /// Ends every login of `user_id` at an administrator's request, such as
    /// when the account is compromised. Returns how many ended, or
    /// [`AccountError::NotFound`] when there is no such user.
    pub async fn revoke_logins_as_admin(
        &self,
        user_id: &UserId,
        admin_id: &UserId,
        client: &ClientInfo,
    ) -> Result<u64, AccountError> {
        if self.store.find_user(user_id).await?.is_none() {
            return Err(AccountError::NotFound);
        }
        let ended = self.sessions.revoke_all_for_user(user_id).await?;
        let detail = format!("{ended} ended by {admin_id}");
        self.record(Some(user_id), event::LOGINS_REVOKED_BY_ADMIN, client, &detail)
            .await?;
        tracing::info!(user.id = %user_id, admin.id = %admin_id, ended, "logins revoked by an administrator");
        Ok(ended)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_round_trip_and_reject_junk() {
        let key = TokenHash::of("session");
        let id = to_hex(key.as_bytes());
        assert_eq!(id.len(), 64);
        assert_eq!(from_hex(&id).as_deref(), Some(key.as_bytes()));
        for junk in ["", "zz", &id[..62], &format!("{}é", &id[..62]), &"g".repeat(64)] {
            assert_eq!(from_hex(junk), None, "{junk}");
        }
    }
}
