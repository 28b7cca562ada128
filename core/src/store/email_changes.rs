//! Pending changes of a user's email address.

use time::OffsetDateTime;

use super::{queue_in, unix_seconds, MailedLink, Store, StoreError, UserId};
use crate::token::TokenHash;

/// Outcome of presenting an email change token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EmailChange {
    /// The address changed; `old_email` was the previous one.
    Done {
        user_id: UserId,
        old_email: String,
        new_email: String,
    },
    /// Another account took the new address meanwhile.
    AddressTaken,
    Expired,
    AlreadyUsed,
    Unknown,
}

impl Store {
    /// Stores a pending change to `new_email` and queues the mail with its
    /// link, replacing the user's unused earlier changes so that only the
    /// newest link works.
    pub async fn replace_email_change_token(
        &self,
        user_id: &UserId,
        new_email: &str,
        link: &MailedLink<'_>,
        now: OffsetDateTime,
    ) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await?;
        sqlx::query("DELETE FROM email_change_tokens WHERE user_id = $1 AND used_at IS NULL")
            .bind(user_id.as_str())
            .execute(&mut *tx)
            .await?;
        sqlx::query(
            "INSERT INTO email_change_tokens (token_hash, user_id, new_email, created_at, expires_at)
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(link.hash.as_bytes())
        .bind(user_id.as_str())
        .bind(new_email)
        .bind(unix_seconds(now))
        .bind(unix_seconds(link.expires_at))
        .execute(&mut *tx)
        .await?;
        queue_in(&mut tx, link.mail, Some(user_id), now).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Spends an email change token and sets the new, now verified,
    /// address in one transaction. The unique index on `users.email`
    /// decides a race with a registration of the same address.
    pub async fn complete_email_change(
        &self,
        hash: &TokenHash,
        now: OffsetDateTime,
    ) -> Result<EmailChange, StoreError> {
        let mut tx = self.pool.begin().await?;
        let spent: Option<(String, String)> = sqlx::query_as(
            "UPDATE email_change_tokens SET used_at = $1
             WHERE token_hash = $2 AND used_at IS NULL AND expires_at > $3
             RETURNING user_id, new_email",
        )
        .bind(unix_seconds(now))
        .bind(hash.as_bytes())
        .bind(unix_seconds(now))
        .fetch_optional(&mut *tx)
        .await?;
        let Some((user_id, new_email)) = spent else {
            tx.rollback().await?;
            return self.classify_email_change_token(hash).await;
        };

        let old_email: Option<String> = sqlx::query_scalar("SELECT email FROM users WHERE id = $1")
            .bind(&user_id)
            .fetch_optional(&mut *tx)
            .await?;
        let Some(old_email) = old_email else {
            tx.rollback().await?;
            return Ok(EmailChange::Unknown);
        };
        let updated = sqlx::query("UPDATE users SET email = $1, email_verified_at = $2, updated_at = $3 WHERE id = $4")
            .bind(&new_email)
            .bind(unix_seconds(now))
            .bind(unix_seconds(now))
            .bind(&user_id)
            .execute(&mut *tx)
            .await;
        match updated {
            Ok(_) => {}
            Err(sqlx::Error::Database(error)) if error.is_unique_violation() => {
                tx.rollback().await?;
                return Ok(EmailChange::AddressTaken);
            }
            Err(error) => return Err(error.into()),
        }
        sqlx::query("DELETE FROM email_change_tokens WHERE user_id = $1 AND used_at IS NULL")
            .bind(&user_id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;

        let user_id = UserId(user_id);
        self.forget_user(&user_id);
        Ok(EmailChange::Done {
            user_id,
            old_email,
            new_email,
        })
    }

    async fn classify_email_change_token(&self, hash: &TokenHash) -> Result<EmailChange, StoreError> {
        let row: Option<(Option<i64>,)> =
            sqlx::query_as("SELECT used_at FROM email_change_tokens WHERE token_hash = $1")
                .bind(hash.as_bytes())
                .fetch_optional(&self.pool)
                .await?;
        Ok(match row {
            None => EmailChange::Unknown,
            Some((Some(_),)) => EmailChange::AlreadyUsed,
            Some((None,)) => EmailChange::Expired,
        })
    }

    /// Returns the address of the user's pending change, if an unused and
    /// unexpired link for one exists.
    pub async fn pending_email_change(
        &self,
        user_id: &UserId,
        now: OffsetDateTime,
    ) -> Result<Option<String>, StoreError> {
        Ok(sqlx::query_scalar(
            "SELECT new_email FROM email_change_tokens
             WHERE user_id = $1 AND used_at IS NULL AND expires_at > $2
             ORDER BY created_at DESC LIMIT 1",
        )
        .bind(user_id.as_str())
        .bind(unix_seconds(now))
        .fetch_optional(&self.pool)
        .await?)
    }

    /// Deletes email change tokens that expired before `cutoff`.
    pub async fn delete_expired_email_change_tokens(&self, cutoff: OffsetDateTime) -> Result<u64, StoreError> {
        let result = sqlx::query("DELETE FROM email_change_tokens WHERE expires_at < $1")
            .bind(unix_seconds(cutoff))
            .execute(&self.pool)
            .await?;
        Ok(result.rows_affected())
    }
}
