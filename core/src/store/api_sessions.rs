//! API logins: token families stored as session rows of kind `api`, and
//! their rotating refresh tokens.

use std::time::Duration;

use time::OffsetDateTime;

use super::{unix_seconds, Store, StoreError, UserId};
use crate::token::TokenHash;

/// Key of a family's session row: the hash of its public family id, in a
/// namespace of its own so that it can never equal a browser session key.
pub fn family_key(family_id: &str) -> TokenHash {
    TokenHash::of(&format!("api:{family_id}"))
}

pub struct NewApiSession<'a> {
    pub user_id: &'a UserId,
    pub family_id: &'a str,
    pub scope: &'a str,
    pub ip: Option<&'a str>,
    pub user_agent: Option<&'a str>,
    pub refresh_hash: &'a TokenHash,
    pub expires_at: OffsetDateTime,
}

/// Outcome of presenting a refresh token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rotation {
    /// The token was current; it is spent and its successor stored.
    Rotated {
        user_id: UserId,
        family_id: String,
        scope: String,
    },
    /// The token had been spent before. Its family has been revoked.
    Reused {
        user_id: UserId,
        family_id: String,
    },
    /// The family is past its idle or absolute lifetime.
    Expired,
    Unknown,
}

/// A token family as the liveness check caches it.
#[derive(Debug, Clone)]
pub(super) struct LiveFamily {
    pub(super) user_id: UserId,
    created_at: i64,
    expires_at: i64,
}

impl LiveFamily {
    /// Checks both lifetimes. A refresh elsewhere may have moved
    /// `expires_at` later since this copy was read, so callers read a
    /// cached family that fails this check again instead of rejecting it.
    fn is_live(&self, now: i64, max_lifetime: Duration) -> bool {
        self.expires_at > now && self.created_at > now.saturating_sub(seconds(max_lifetime))
    }
}

/// Lifetimes of a token family.
#[derive(Debug, Clone, Copy)]
pub struct FamilyLifetimes {
    pub idle: Duration,
    pub max: Duration,
}

fn seconds(duration: Duration) -> i64 {
    i64::try_from(duration.as_secs()).unwrap_or(i64::MAX)
}

impl Store {
    /// Stores a new token family with its first refresh token.
    pub async fn create_api_session(&self, new: &NewApiSession<'_>, now: OffsetDateTime) -> Result<(), StoreError> {
        let key = family_key(new.family_id);
        let mut tx = self.pool.begin().await?;
        sqlx::query(
            "INSERT INTO sessions (id_hash, user_id, kind, data, ip, user_agent, created_at, last_seen_at, expires_at, family_id, scope)
             VALUES ($1, $2, 'api', '{}', $3, $4, $5, $6, $7, $8, $9)",
        )
        .bind(key.as_bytes())
        .bind(new.user_id.as_str())
        .bind(new.ip)
        .bind(new.user_agent)
        .bind(unix_seconds(now))
        .bind(unix_seconds(now))
        .bind(unix_seconds(new.expires_at))
        .bind(new.family_id)
        .bind(new.scope)
        .execute(&mut *tx)
        .await?;
        sqlx::query("INSERT INTO refresh_tokens (token_hash, session_id, created_at) VALUES ($1, $2, $3)")
            .bind(new.refresh_hash.as_bytes())
            .bind(key.as_bytes())
            .bind(unix_seconds(now))
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Spends `presented` and stores `successor` in its place.
    ///
    /// The conditional update lets exactly one of several concurrent
    /// requests spend a token. A token that was already spent revokes its
    /// whole family, because the server cannot tell its owner from a thief
    /// (OAuth 2.0 Security BCP, RFC 9700, section 4.14).
    pub async fn rotate_refresh_token(
        &self,
        presented: &TokenHash,
        successor: &TokenHash,
        lifetimes: FamilyLifetimes,
        now: OffsetDateTime,
    ) -> Result<Rotation, StoreError> {
        let mut tx = self.pool.begin().await?;
        let spent: Option<Vec<u8>> = sqlx::query_scalar(
            "UPDATE refresh_tokens SET used_at = $1 WHERE token_hash = $2 AND used_at IS NULL RETURNING session_id",
        )
        .bind(unix_seconds(now))
        .bind(presented.as_bytes())
        .fetch_optional(&mut *tx)
        .await?;

        let Some(session_key) = spent else {
            let previous: Option<(Vec<u8>, String, String)> = sqlx::query_as(
                "SELECT s.id_hash, s.user_id, s.family_id FROM refresh_tokens r
                 JOIN sessions s ON s.id_hash = r.session_id
                 WHERE r.token_hash = $1 AND r.used_at IS NOT NULL",
            )
            .bind(presented.as_bytes())
            .fetch_optional(&mut *tx)
            .await?;
            let Some((key, user_id, family_id)) = previous else {
                tx.rollback().await?;
                return Ok(Rotation::Unknown);
            };
            sqlx::query("DELETE FROM sessions WHERE id_hash = $1")
                .bind(&key)
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
            self.cache.families.forget(&family_key(&family_id));
            return Ok(Rotation::Reused {
                user_id: UserId(user_id),
                family_id,
            });
        };

        let family: Option<(String, String, String, i64, i64)> = sqlx::query_as(
            "SELECT user_id, family_id, COALESCE(scope, ''), created_at, expires_at FROM sessions
             WHERE id_hash = $1 AND kind = 'api'",
        )
        .bind(&session_key)
        .fetch_optional(&mut *tx)
        .await?;
        let Some((user_id, family_id, scope, created_at, expires_at)) = family else {
            tx.rollback().await?;
            return Ok(Rotation::Unknown);
        };

        let now_seconds = unix_seconds(now);
        let deadline = created_at.saturating_add(seconds(lifetimes.max));
        if expires_at <= now_seconds || deadline <= now_seconds {
            sqlx::query("DELETE FROM sessions WHERE id_hash = $1")
                .bind(&session_key)
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
            self.cache.families.forget(&family_key(&family_id));
            return Ok(Rotation::Expired);
        }

        sqlx::query("INSERT INTO refresh_tokens (token_hash, session_id, created_at) VALUES ($1, $2, $3)")
            .bind(successor.as_bytes())
            .bind(&session_key)
            .bind(now_seconds)
            .execute(&mut *tx)
            .await?;
        sqlx::query("UPDATE sessions SET last_seen_at = $1, expires_at = $2 WHERE id_hash = $3")
            .bind(now_seconds)
            .bind(now_seconds.saturating_add(seconds(lifetimes.idle)).min(deadline))
            .bind(&session_key)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(Rotation::Rotated {
            user_id: UserId(user_id),
            family_id,
            scope,
        })
    }

    /// Returns the owner of a live token family, from the cache when the
    /// family is in it.
    pub async fn live_family_owner(
        &self,
        family_id: &str,
        max_lifetime: Duration,
        now: OffsetDateTime,
    ) -> Result<Option<UserId>, StoreError> {
        let key = family_key(family_id);
        let now = unix_seconds(now);
        if let Some(family) = self.cache.families.get(&key) {
            if family.is_live(now, max_lifetime) {
                return Ok(Some(family.user_id));
            }
        }

        let ticket = self.cache.families.ticket();
        let row: Option<(String, i64, i64)> =
            sqlx::query_as("SELECT user_id, created_at, expires_at FROM sessions WHERE id_hash = $1 AND kind = 'api'")
                .bind(key.as_bytes())
                .fetch_optional(&self.pool)
                .await?;
        let Some((user_id, created_at, expires_at)) = row else {
            return Ok(None);
        };
        let family = LiveFamily {
            user_id: UserId(user_id),
            created_at,
            expires_at,
        };
        if !family.is_live(now, max_lifetime) {
            return Ok(None);
        }
        let owner = family.user_id.clone();
        self.cache.families.fill(ticket, key, family);
        Ok(Some(owner))
    }

    /// Revokes a token family: its refresh tokens go with it, and its access
    /// tokens fail the liveness check from now on.
    pub async fn revoke_family(&self, family_id: &str) -> Result<bool, StoreError> {
        let key = family_key(family_id);
        let result = sqlx::query("DELETE FROM sessions WHERE id_hash = $1 AND kind = 'api'")
            .bind(key.as_bytes())
            .execute(&self.pool)
            .await?;
        self.cache.families.forget(&key);
        Ok(result.rows_affected() == 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{
        roles::Role,
        store::{testing, NewUser},
        token::SecretToken,
    };

    const LIFETIMES: FamilyLifetimes = FamilyLifetimes {
        idle: Duration::from_secs(3_600),
        max: Duration::from_secs(86_400),
    };

    /// Two handles on one database file, as two server instances would
    /// have, each with its own cache.
    async fn two_instances(ttl: Duration) -> (Store, Store, UserId, tempfile::TempDir) {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("test.db").display());
        let first = Store::connect(&url).await.unwrap().with_read_cache_ttl(ttl);
        let second = Store::connect(&url).await.unwrap().with_read_cache_ttl(ttl);
        let new_user = NewUser {
            email: "ann@example.com",
            display_name: "Ann",
            password_hash: "$argon2id$stub",
        };
        let user = first
            .insert_user(
                &new_user,
                &testing::link(&SecretToken::generate().hash(), OffsetDateTime::now_utc()),
                OffsetDateTime::now_utc(),
            )
            .await
            .unwrap()
            .unwrap();
        (first, second, user.id, dir)
    }

    async fn start_family(store: &Store, user_id: &UserId, family_id: &str) {
        let now = OffsetDateTime::now_utc();
        let new = NewApiSession {
            user_id,
            family_id,
            scope: "contacts.read",
            ip: None,
            user_agent: None,
            refresh_hash: &TokenHash::of(family_id),
            expires_at: now + LIFETIMES.idle,
        };
        store.create_api_session(&new, now).await.unwrap();
    }

    async fn owner(store: &Store, family_id: &str) -> Option<UserId> {
        store
            .live_family_owner(family_id, LIFETIMES.max, OffsetDateTime::now_utc())
            .await
            .unwrap()
    }

    #[tokio::test]
    async fn liveness_sees_own_revocation_at_once() {
        let (store, _, user_id, _dir) = two_instances(Duration::from_secs(3_600)).await;
        start_family(&store, &user_id, "f1").await;
        start_family(&store, &user_id, "f2").await;
        assert_eq!(owner(&store, "f1").await, Some(user_id.clone()));
        assert_eq!(owner(&store, "f2").await, Some(user_id.clone()));

        assert!(store.revoke_family("f1").await.unwrap());
        assert_eq!(owner(&store, "f1").await, None);

        let sessions = crate::store::SessionStore::new(
            store.clone(),
            crate::store::SessionLifetimes {
                idle: LIFETIMES.idle,
                max: LIFETIMES.max,
            },
        );
        assert_eq!(sessions.revoke_all_for_user(&user_id).await.unwrap(), 1);
        assert_eq!(owner(&store, "f2").await, None);
    }

    #[tokio::test]
    async fn liveness_sees_other_revocation_within_ttl() {
        let ttl = Duration::from_millis(300);
        let (first, second, user_id, _dir) = two_instances(ttl).await;
        start_family(&first, &user_id, "f1").await;
        assert_eq!(owner(&first, "f1").await, Some(user_id.clone()));

        assert!(second.revoke_family("f1").await.unwrap());
        assert_eq!(owner(&second, "f1").await, None);

        tokio::time::sleep(ttl + Duration::from_millis(100)).await;
        assert_eq!(owner(&first, "f1").await, None);
    }

    #[tokio::test]
    async fn liveness_without_cache_reads_database() {
        let (first, second, user_id, _dir) = two_instances(Duration::ZERO).await;
        start_family(&first, &user_id, "f1").await;
        assert_eq!(owner(&first, "f1").await, Some(user_id.clone()));
        assert!(second.revoke_family("f1").await.unwrap());
        assert_eq!(owner(&first, "f1").await, None);
    }

    #[tokio::test]
    async fn profile_sees_own_changes_at_once() {
        let (store, _, user_id, _dir) = two_instances(Duration::from_secs(3_600)).await;
        let (_, roles) = store.user_with_roles(&user_id).await.unwrap().unwrap();
        assert_eq!(roles, vec![Role::Viewer]);

        store.set_user_roles(&user_id, &[Role::Editor]).await.unwrap();
        let (_, roles) = store.user_with_roles(&user_id).await.unwrap().unwrap();
        assert_eq!(roles, vec![Role::Editor]);

        let repeated = [Role::Admin, Role::Editor, Role::Admin, Role::Viewer, Role::Editor];
        assert!(store.set_user_roles(&user_id, &repeated).await.unwrap());
        let (_, roles) = store.user_with_roles(&user_id).await.unwrap().unwrap();
        assert_eq!(roles, vec![Role::Viewer, Role::Editor, Role::Admin], "each role once");

        let now = OffsetDateTime::now_utc();
        store.update_display_name(&user_id, "Ann B.", now).await.unwrap();
        let (user, _) = store.user_with_roles(&user_id).await.unwrap().unwrap();
        assert_eq!(user.display_name, "Ann B.");
    }
}
