//! Password reset tokens, and the two ways a password is replaced: by a
//! reset link, which ends every login, or by a change with the current
//! password, which keeps the login that made it.

use time::OffsetDateTime;

use super::{queue_in, unix_seconds, LinkTokens, MailedLink, Store, StoreError, UserId};
use crate::{mail::Mail, token::TokenHash};

/// State of a presented password reset token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ResetTokenState {
    /// Unused and unexpired: it may set a new password for this user.
    Usable(UserId),
    Expired,
    AlreadyUsed,
    Unknown,
}

impl Store {
    /// Stores a new reset link for `user_id` and queues its mail, replacing
    /// any unused earlier links so that only the newest works.
    pub async fn replace_password_reset_token(
        &self,
        user_id: &UserId,
        link: &MailedLink<'_>,
        now: OffsetDateTime,
    ) -> Result<(), StoreError> {
        self.replace_link_token(LinkTokens::PasswordReset, user_id, link, now)
            .await
    }

    /// Looks a reset token up without spending it.
    pub async fn password_reset_token_state(
        &self,
        hash: &TokenHash,
        now: OffsetDateTime,
    ) -> Result<ResetTokenState, StoreError> {
        let row: Option<(String, i64, Option<i64>)> =
            sqlx::query_as("SELECT user_id, expires_at, used_at FROM password_reset_tokens WHERE token_hash = $1")
                .bind(hash.as_bytes())
                .fetch_optional(&self.pool)
                .await?;
        Ok(match row {
            None => ResetTokenState::Unknown,
            Some((_, _, Some(_))) => ResetTokenState::AlreadyUsed,
            Some((_, expires_at, None)) if expires_at <= unix_seconds(now) => ResetTokenState::Expired,
            Some((user_id, _, None)) => ResetTokenState::Usable(UserId(user_id)),
        })
    }

    /// Spends a reset token and sets the new password hash in one
    /// transaction, which also ends every login of the user, voids their
    /// other reset links and marks the address verified: the link reached
    /// its mailbox. `notice` is queued in the same transaction. Returns
    /// `false`, changing nothing, when the token was spent or expired
    /// meanwhile.
    pub async fn complete_password_reset(
        &self,
        hash: &TokenHash,
        user_id: &UserId,
        new_password_hash: &str,
        notice: &Mail,
        now: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        let mut tx = self.pool.begin().await?;
        let spent = sqlx::query(
            "UPDATE password_reset_tokens SET used_at = $1
             WHERE token_hash = $2 AND user_id = $3 AND used_at IS NULL AND expires_at > $4",
        )
        .bind(unix_seconds(now))
        .bind(hash.as_bytes())
        .bind(user_id.as_str())
        .bind(unix_seconds(now))
        .execute(&mut *tx)
        .await?;
        if spent.rows_affected() != 1 {
            tx.rollback().await?;
            return Ok(false);
        }

        sqlx::query(
            "UPDATE users SET password_hash = $1, email_verified_at = COALESCE(email_verified_at, $2), updated_at = $3
             WHERE id = $4",
        )
        .bind(new_password_hash)
        .bind(unix_seconds(now))
        .bind(unix_seconds(now))
        .bind(user_id.as_str())
        .execute(&mut *tx)
        .await?;
        sqlx::query("DELETE FROM password_reset_tokens WHERE user_id = $1 AND used_at IS NULL")
            .bind(user_id.as_str())
            .execute(&mut *tx)
            .await?;
        sqlx::query("DELETE FROM sessions WHERE user_id = $1")
            .bind(user_id.as_str())
            .execute(&mut *tx)
            .await?;
        queue_in(&mut tx, notice, Some(user_id), now).await?;
        tx.commit().await?;

        self.forget_logins_of(user_id);
        Ok(true)
    }

    /// Replaces the password hash if it is still `expected_old`, and ends
    /// every login of the user except `keep` (the session key of the login
    /// that made the change), in one transaction that also queues
    /// `notice`. Outstanding reset links stop working too. Returns `false`,
    /// changing nothing, when the hash changed meanwhile.
    pub async fn change_password_hash(
        &self,
        user_id: &UserId,
        expected_old: &str,
        new_password_hash: &str,
        keep: Option<&TokenHash>,
        notice: &Mail,
        now: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        let mut tx = self.pool.begin().await?;
        let changed =
            sqlx::query("UPDATE users SET password_hash = $1, updated_at = $2 WHERE id = $3 AND password_hash = $4")
                .bind(new_password_hash)
                .bind(unix_seconds(now))
                .bind(user_id.as_str())
                .bind(expected_old)
                .execute(&mut *tx)
                .await?;
        if changed.rows_affected() != 1 {
            tx.rollback().await?;
            return Ok(false);
        }

        sqlx::query("DELETE FROM password_reset_tokens WHERE user_id = $1 AND used_at IS NULL")
            .bind(user_id.as_str())
            .execute(&mut *tx)
            .await?;
        let keep: &[u8] = keep.map_or(&[], |key| key.as_bytes());
        sqlx::query("DELETE FROM sessions WHERE user_id = $1 AND id_hash <> $2")
            .bind(user_id.as_str())
            .bind(keep)
            .execute(&mut *tx)
            .await?;
        queue_in(&mut tx, notice, Some(user_id), now).await?;
        tx.commit().await?;

        self.forget_logins_of(user_id);
        Ok(true)
    }

    /// Deletes reset tokens that expired before `cutoff`, used or not.
    pub async fn delete_expired_password_reset_tokens(&self, cutoff: OffsetDateTime) -> Result<u64, StoreError> {
        let result = sqlx::query("DELETE FROM password_reset_tokens WHERE expires_at < $1")
            .bind(unix_seconds(cutoff))
            .execute(&self.pool)
            .await?;
        Ok(result.rows_affected())
    }

    /// Drops cached profile and token families of the user, so that ended
    /// logins stop working on this instance at once.
    fn forget_logins_of(&self, user_id: &UserId) {
        self.forget_user(user_id);
        self.cache.families.forget_where(|_, family| family.user_id == *user_id);
    }
}
