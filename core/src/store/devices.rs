//! The devices each user has logged in from.

use time::OffsetDateTime;

use super::{unix_seconds, Store, StoreError, UserId};

/// Whether a login came from a device the user had used before.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeviceSeen {
    Known,
    /// New to this user. `first` is set when the user had no device yet.
    New {
        first: bool,
    },
}

impl Store {
    /// Records that `user_id` logged in from `device`.
    pub async fn remember_device(
        &self,
        user_id: &UserId,
        device: &str,
        now: OffsetDateTime,
    ) -> Result<DeviceSeen, StoreError> {
        // The insert comes first, so that the transaction takes the write
        // lock at once: a read first would fail with SQLITE_BUSY when
        // another login of the user writes in between.
        let mut tx = self.pool.begin().await?;
        let inserted = sqlx::query(
            "INSERT INTO known_devices (user_id, device, first_seen_at) VALUES ($1, $2, $3)
             ON CONFLICT (user_id, device) DO NOTHING",
        )
        .bind(user_id.as_str())
        .bind(device)
        .bind(unix_seconds(now))
        .execute(&mut *tx)
        .await?;
        let known: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM known_devices WHERE user_id = $1")
            .bind(user_id.as_str())
            .fetch_one(&mut *tx)
            .await?;
        tx.commit().await?;

        Ok(if inserted.rows_affected() == 0 {
            DeviceSeen::Known
        } else {
            DeviceSeen::New { first: known == 1 }
        })
    }
}
