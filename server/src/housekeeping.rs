//! Periodic clean-up of expired rows.

use std::time::Duration;

use latchkey_core::accounts::Accounts;
use time::OffsetDateTime;

/// How often expired sessions and verification tokens are deleted.
const INTERVAL: Duration = Duration::from_secs(15 * 60);

/// Spawns a task that deletes expired sessions and verification tokens every
/// 15 minutes. Expired rows are already ignored on read; this only keeps the
/// tables small.
pub fn spawn_housekeeping(accounts: Accounts) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut ticks = tokio::time::interval(INTERVAL);
        loop {
            ticks.tick().await;
            let now = OffsetDateTime::now_utc();
            match accounts.sessions().delete_expired(now).await {
                Ok(0) => {}
                Ok(count) => tracing::debug!(count, "expired sessions deleted"),
                Err(error) => tracing::warn!(%error, "deleting expired sessions failed"),
            }
            match accounts.store().delete_expired_verification_tokens(now).await {
                Ok(0) => {}
                Ok(count) => tracing::debug!(count, "expired verification tokens deleted"),
                Err(error) => tracing::warn!(%error, "deleting expired verification tokens failed"),
            }
        }
    })
}
