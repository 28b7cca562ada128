//! Rate limit and login failure state in the database, shared by every
//! instance on it. Each change is one atomic statement or transaction, so
//! two instances counting the same key at once both count.

use std::time::Duration;

use async_trait::async_trait;

use super::Store;
use crate::throttle::{Backoff, LimitStore, LimitStoreError, Rate};

/// The largest stored time: a lock that only clearing the failures ends.
const FOREVER_MS: i64 = i64::MAX;

/// The throttle state of [`crate::throttle`] in the store's database.
#[derive(Debug, Clone)]
pub struct DatabaseLimitStore {
    store: Store,
}

impl DatabaseLimitStore {
    pub fn new(store: Store) -> Self {
        Self { store }
    }
}

fn signed(ms: u64) -> i64 {
    i64::try_from(ms).unwrap_or(FOREVER_MS)
}

fn millis(duration: Duration) -> i64 {
    i64::try_from(duration.as_millis()).unwrap_or(FOREVER_MS)
}

fn failed(error: sqlx::Error) -> LimitStoreError {
    LimitStoreError(error.to_string())
}

#[async_trait]
impl LimitStore for DatabaseLimitStore {
    async fn take(&self, key: &str, rate: Rate, now_ms: u64) -> Result<Option<Duration>, LimitStoreError> {
        let now = signed(now_ms);
        let interval = millis(rate.interval());
        let period = millis(rate.period);
        // The update applies only while the key stays within its budget;
        // no returned row means the request is over it.
        let spent: Option<i64> = sqlx::query_scalar(
            "INSERT INTO rate_limit_buckets (limit_key, arrival_ms) VALUES ($1, $2 + $3)
             ON CONFLICT (limit_key) DO UPDATE
             SET arrival_ms = CASE WHEN rate_limit_buckets.arrival_ms > $2 THEN rate_limit_buckets.arrival_ms ELSE $2 END + $3
             WHERE CASE WHEN rate_limit_buckets.arrival_ms > $2 THEN rate_limit_buckets.arrival_ms ELSE $2 END + $3 - $4 <= $2
             RETURNING arrival_ms",
        )
        .bind(key)
        .bind(now)
        .bind(interval)
        .bind(period)
        .fetch_optional(&self.store.pool)
        .await
        .map_err(failed)?;
        if spent.is_some() {
            return Ok(None);
        }

        let arrival: Option<i64> = sqlx::query_scalar("SELECT arrival_ms FROM rate_limit_buckets WHERE limit_key = $1")
            .bind(key)
            .fetch_optional(&self.store.pool)
            .await
            .map_err(failed)?;
        let allowed_from = arrival.unwrap_or(now).max(now).saturating_add(interval) - period;
        let wait = u64::try_from(allowed_from - now).unwrap_or(1).max(1);
        Ok(Some(Duration::from_millis(wait)))
    }

    async fn failure_wait(&self, key: &str, now_ms: u64) -> Result<Option<Duration>, LimitStoreError> {
        let now = signed(now_ms);
        let retry_at: Option<i64> =
            sqlx::query_scalar("SELECT retry_at_ms FROM login_failures WHERE limit_key = $1 AND retry_at_ms > $2")
                .bind(key)
                .bind(now)
                .fetch_optional(&self.store.pool)
                .await
                .map_err(failed)?;
        Ok(retry_at.map(|retry_at| match retry_at {
            FOREVER_MS => Duration::MAX,
            retry_at => Duration::from_millis(u64::try_from(retry_at - now).unwrap_or_default()),
        }))
    }

    async fn record_failure(&self, key: &str, backoff: Backoff, now_ms: u64) -> Result<u32, LimitStoreError> {
        let now = signed(now_ms);
        let mut tx = self.store.pool.begin().await.map_err(failed)?;
        // A count left alone past its forget time starts again from one.
        let count: i64 = sqlx::query_scalar(
            "INSERT INTO login_failures (limit_key, failures, last_ms, retry_at_ms, forget_after_ms)
             VALUES ($1, 1, $2, 0, $3)
             ON CONFLICT (limit_key) DO UPDATE
             SET failures = CASE WHEN $2 - login_failures.last_ms < login_failures.forget_after_ms
                                 THEN login_failures.failures + 1 ELSE 1 END,
                 last_ms = $2
             RETURNING failures",
        )
        .bind(key)
        .bind(now)
        .bind(millis(backoff.forget_after))
        .fetch_one(&mut *tx)
        .await
        .map_err(failed)?;
        let count = u32::try_from(count).unwrap_or(u32::MAX);

        let locked = count >= backoff.lock_after;
        let (retry_at, forget_after) = if locked {
            (FOREVER_MS, FOREVER_MS)
        } else {
            (
                now.saturating_add(millis(backoff.wait_after(count))),
                millis(backoff.forget_after),
            )
        };
        sqlx::query("UPDATE login_failures SET retry_at_ms = $1, forget_after_ms = $2 WHERE limit_key = $3")
            .bind(retry_at)
            .bind(forget_after)
            .bind(key)
            .execute(&mut *tx)
            .await
            .map_err(failed)?;
        tx.commit().await.map_err(failed)?;
        Ok(count)
    }

    async fn clear_failures(&self, key: &str) -> Result<(), LimitStoreError> {
        sqlx::query("DELETE FROM login_failures WHERE limit_key = $1")
            .bind(key)
            .execute(&self.store.pool)
            .await
            .map_err(failed)?;
        Ok(())
    }

    async fn purge(&self, now_ms: u64) -> Result<(), LimitStoreError> {
        let now = signed(now_ms);
        // A bucket whose next arrival time has passed is full again, which
        // is the same as having no row.
        sqlx::query("DELETE FROM rate_limit_buckets WHERE arrival_ms <= $1")
            .bind(now)
            .execute(&self.store.pool)
            .await
            .map_err(failed)?;
        sqlx::query("DELETE FROM login_failures WHERE $1 - last_ms >= forget_after_ms")
            .bind(now)
            .execute(&self.store.pool)
            .await
            .map_err(failed)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::throttle::MemoryLimitStore;

    async fn store() -> (DatabaseLimitStore, tempfile::TempDir) {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("test.db").display());
        (DatabaseLimitStore::new(Store::connect(&url).await.unwrap()), dir)
    }

    /// The database store returns what the in-memory store returns, step
    /// by step.
    #[tokio::test]
    async fn budgets_match_the_memory_store() {
        let (database, _dir) = store().await;
        let memory = MemoryLimitStore::default();
        let rate = Rate {
            count: 3,
            period: Duration::from_secs(60),
        };
        let start = 1_000_000_000_000u64;
        for offset in [0, 1, 2, 3, 4, 10_000, 20_000, 20_001, 60_000, 200_000] {
            let now = start + offset;
            assert_eq!(
                database.take("login:ip:1", rate, now).await.unwrap(),
                memory.take("login:ip:1", rate, now).await.unwrap(),
                "at +{offset} ms"
            );
        }
    }

    #[tokio::test]
    async fn failures_wait_lock_and_clear() {
        let (database, _dir) = store().await;
        let backoff = Backoff {
            free_failures: 1,
            first_wait: Duration::from_secs(1),
            max_wait: Duration::from_secs(60),
            forget_after: Duration::from_secs(3600),
            lock_after: 4,
        };
        let now = 1_000_000_000_000u64;
        assert_eq!(database.record_failure("k", backoff, now).await.unwrap(), 1);
        assert_eq!(database.failure_wait("k", now).await.unwrap(), None);
        assert_eq!(database.record_failure("k", backoff, now).await.unwrap(), 2);
        assert_eq!(
            database.failure_wait("k", now).await.unwrap(),
            Some(Duration::from_secs(1))
        );
        assert_eq!(database.record_failure("k", backoff, now).await.unwrap(), 3);
        assert_eq!(database.record_failure("k", backoff, now).await.unwrap(), 4);
        let year_later = now + 365 * 24 * 3_600_000;
        assert_eq!(
            database.failure_wait("k", year_later).await.unwrap(),
            Some(Duration::MAX)
        );
        database.purge(year_later).await.unwrap();
        assert_eq!(
            database.failure_wait("k", year_later).await.unwrap(),
            Some(Duration::MAX),
            "a lock outlives the purge"
        );

        database.clear_failures("k").await.unwrap();
        assert_eq!(database.failure_wait("k", year_later).await.unwrap(), None);
        assert_eq!(database.record_failure("k", backoff, year_later).await.unwrap(), 1);
        assert_eq!(
            database
                .record_failure("k", backoff, year_later + 3_600_000)
                .await
                .unwrap(),
            1,
            "forgotten after an hour alone"
        );
    }
}
