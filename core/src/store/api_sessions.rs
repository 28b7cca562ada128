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
             VALUES (?, ?, 'api', '{}', ?, ?, ?, ?, ?, ?, ?)",
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
        sqlx::query("INSERT INTO refresh_tokens (token_hash, session_id, created_at) VALUES (?, ?, ?)")
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
            "UPDATE refresh_tokens SET used_at = ? WHERE token_hash = ? AND used_at IS NULL RETURNING session_id",
        )
        .bind(unix_seconds(now))
        .bind(presented.as_bytes())
        .fetch_optional(&mut *tx)
        .await?;

        let Some(session_key) = spent else {
            let previous: Option<(Vec<u8>, String, String)> = sqlx::query_as(
                "SELECT s.id_hash, s.user_id, s.family_id FROM refresh_tokens r
                 JOIN sessions s ON s.id_hash = r.session_id
                 WHERE r.token_hash = ? AND r.used_at IS NOT NULL",
            )
            .bind(presented.as_bytes())
            .fetch_optional(&mut *tx)
            .await?;
            let Some((key, user_id, family_id)) = previous else {
                tx.rollback().await?;
                return Ok(Rotation::Unknown);
            };
            sqlx::query("DELETE FROM sessions WHERE id_hash = ?")
                .bind(&key)
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
            return Ok(Rotation::Reused {
                user_id: UserId(user_id),
                family_id,
            });
        };

        let family: Option<(String, String, String, i64, i64)> = sqlx::query_as(
            "SELECT user_id, family_id, COALESCE(scope, ''), created_at, expires_at FROM sessions
             WHERE id_hash = ? AND kind = 'api'",
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
            sqlx::query("DELETE FROM sessions WHERE id_hash = ?")
                .bind(&session_key)
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
            return Ok(Rotation::Expired);
        }

        sqlx::query("INSERT INTO refresh_tokens (token_hash, session_id, created_at) VALUES (?, ?, ?)")
            .bind(successor.as_bytes())
            .bind(&session_key)
            .bind(now_seconds)
            .execute(&mut *tx)
            .await?;
        sqlx::query("UPDATE sessions SET last_seen_at = ?, expires_at = ? WHERE id_hash = ?")
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

    /// Returns the owner of a live token family.
    pub async fn live_family_owner(
        &self,
        family_id: &str,
        max_lifetime: Duration,
        now: OffsetDateTime,
    ) -> Result<Option<UserId>, StoreError> {
        let owner: Option<String> = sqlx::query_scalar(
            "SELECT user_id FROM sessions WHERE id_hash = ? AND kind = 'api' AND expires_at > ? AND created_at > ?",
        )
        .bind(family_key(family_id).as_bytes())
        .bind(unix_seconds(now))
        .bind(unix_seconds(now).saturating_sub(seconds(max_lifetime)))
        .fetch_optional(&self.pool)
        .await?;
        Ok(owner.map(UserId))
    }

    /// Revokes a token family: its refresh tokens go with it, and its access
    /// tokens fail the liveness check from now on.
    pub async fn revoke_family(&self, family_id: &str) -> Result<bool, StoreError> {
        let result = sqlx::query("DELETE FROM sessions WHERE id_hash = ? AND kind = 'api'")
            .bind(family_key(family_id).as_bytes())
            .execute(&self.pool)
            .await?;
        Ok(result.rows_affected() == 1)
    }
}
