//! The transactional outbox of mail. Account changes write their message in
//! their own transaction through `queue_in`. Workers, in this process or in
//! another instance, claim due rows, send them and delete them.

use std::time::Duration;

use sqlx::AnyConnection;
use time::OffsetDateTime;

use super::{unix_seconds, Backend, Store, StoreError, UserId};
use crate::mail::Mail;

/// A claimed message, to be sent and then settled with `mail_sent` or
/// `mail_failed`.
#[derive(Debug, Clone)]
pub struct QueuedMail {
    pub id: String,
    pub mail: Mail,
    pub user_id: Option<String>,
    /// Attempts including this one.
    pub attempts: u32,
}

/// Outcome of a failed attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Retry {
    At(OffsetDateTime),
    GiveUp,
}

/// Writes `mail` into the queue on `connection`, which is usually the
/// transaction of the change the message reports.
pub(super) async fn queue_in(
    connection: &mut AnyConnection,
    mail: &Mail,
    user_id: Option<&UserId>,
    now: OffsetDateTime,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO mail_queue (id, recipient, subject, text_body, html_body, user_id, created_at, next_attempt_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    // Version 7 ids sort by creation time, so mail goes out in order.
    .bind(uuid::Uuid::now_v7().to_string())
    .bind(&mail.to)
    .bind(&mail.subject)
    .bind(&mail.text)
    .bind(&mail.html)
    .bind(user_id.map(UserId::as_str))
    .bind(unix_seconds(now))
    .bind(unix_seconds(now))
    .execute(connection)
    .await?;
    Ok(())
}

type ClaimedRow = (String, String, String, String, String, Option<String>, i64);

impl Store {
    /// Queues a message that goes with no stored change.
    pub async fn queue_mail(
        &self,
        mail: &Mail,
        user_id: Option<&UserId>,
        now: OffsetDateTime,
    ) -> Result<(), StoreError> {
        let mut connection = self.pool.acquire().await?;
        queue_in(&mut connection, mail, user_id, now).await?;
        Ok(())
    }

    /// Claims up to `limit` due messages for `lease`. A claimed row is
    /// invisible to other workers until the lease ends, so each message is
    /// sent by one worker even with several instances running.
    pub async fn claim_mail(
        &self,
        now: OffsetDateTime,
        lease: Duration,
        limit: u32,
    ) -> Result<Vec<QueuedMail>, StoreError> {
        // PostgreSQL lets concurrent claims skip each other's rows; SQLite
        // runs one writer at a time, so its claims never overlap.
        let lock = match self.backend {
            Backend::Postgres => "FOR UPDATE SKIP LOCKED",
            Backend::Sqlite => "",
        };
        let sql = format!(
            "UPDATE mail_queue SET locked_until = $1, attempts = attempts + 1
             WHERE id IN (
                 SELECT id FROM mail_queue
                 WHERE given_up_at IS NULL AND next_attempt_at <= $2 AND (locked_until IS NULL OR locked_until <= $2)
                 ORDER BY next_attempt_at, id LIMIT $3 {lock}
             )
             RETURNING id, recipient, subject, text_body, html_body, user_id, attempts"
        );
        let lease_end = now + lease;
        let mut rows: Vec<ClaimedRow> = sqlx::query_as(&sql)
            .bind(unix_seconds(lease_end))
            .bind(unix_seconds(now))
            .bind(i64::from(limit))
            .fetch_all(&self.pool)
            .await?;
        rows.sort_by(|a, b| a.0.cmp(&b.0));
        rows.into_iter()
            .map(|(id, to, subject, text, html, user_id, attempts)| {
                Ok(QueuedMail {
                    id,
                    mail: Mail {
                        to,
                        subject,
                        text,
                        html,
                    },
                    user_id,
                    attempts: u32::try_from(attempts)
                        .map_err(|_| StoreError::Corrupt(format!("mail attempts {attempts}")))?,
                })
            })
            .collect()
    }

    /// Removes a message the relay accepted.
    pub async fn mail_sent(&self, id: &str) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM mail_queue WHERE id = $1")
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Records a failed attempt: the message waits until `retry`, or is
    /// given up with its bodies blanked, since they may hold a link.
    pub async fn mail_failed(
        &self,
        id: &str,
        error: &str,
        retry: Retry,
        now: OffsetDateTime,
    ) -> Result<(), StoreError> {
        let query = match retry {
            Retry::At(at) => {
                sqlx::query("UPDATE mail_queue SET locked_until = NULL, last_error = $1, next_attempt_at = $2 WHERE id = $3")
                    .bind(error.to_owned())
                    .bind(unix_seconds(at))
            }
            Retry::GiveUp => sqlx::query(
                "UPDATE mail_queue SET locked_until = NULL, last_error = $1, given_up_at = $2, text_body = '', html_body = ''
                 WHERE id = $3",
            )
            .bind(error.to_owned())
            .bind(unix_seconds(now)),
        };
        query.bind(id).execute(&self.pool).await?;
        Ok(())
    }

    /// Hands claimed messages back unsent, as a worker that stops does, so
    /// that the next worker takes them without waiting for the lease.
    pub async fn release_mail(&self, id: &str) -> Result<(), StoreError> {
        sqlx::query("UPDATE mail_queue SET locked_until = NULL, attempts = attempts - 1 WHERE id = $1")
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Counts the messages still to be sent.
    pub async fn mail_queue_depth(&self) -> Result<u64, StoreError> {
        let depth: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM mail_queue WHERE given_up_at IS NULL")
            .fetch_one(&self.pool)
            .await?;
        Ok(u64::try_from(depth).unwrap_or_default())
    }

    /// Deletes given-up messages older than `cutoff`.
    pub async fn delete_given_up_mail(&self, cutoff: OffsetDateTime) -> Result<u64, StoreError> {
        let result = sqlx::query("DELETE FROM mail_queue WHERE given_up_at < $1")
            .bind(unix_seconds(cutoff))
            .execute(&self.pool)
            .await?;
        Ok(result.rows_affected())
    }
}
