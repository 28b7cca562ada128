//! Periodic work: picking up signing keys rotated by another process,
//! dropping rate limit state that has run out, and deleting expired rows.

use std::time::Duration;

use latchkey_core::{accounts::Accounts, jwt::KeyRing};
use time::OffsetDateTime;

/// How often expired rows are deleted.
const CLEANUP_INTERVAL: Duration = Duration::from_secs(15 * 60);

/// Mail given up on stays this long for the operator to see.
const GIVEN_UP_MAIL_KEPT: Duration = Duration::from_secs(30 * 86_400);

/// Spawns the housekeeping task, which ticks every `key_reload`: that
/// bounds how long an instance keeps signing with a key rotated elsewhere.
/// Expired rows are already ignored on read; deleting them only keeps the
/// tables small.
pub fn spawn_housekeeping(accounts: Accounts, keys: KeyRing, key_reload: Duration) -> tokio::task::JoinHandle<()> {
    let cleanup_every = u32::try_from(CLEANUP_INTERVAL.as_secs() / key_reload.as_secs().max(1))
        .unwrap_or(u32::MAX)
        .max(1);
    tokio::spawn(async move {
        let mut ticks = tokio::time::interval(key_reload);
        let mut count: u32 = 0;
        loop {
            ticks.tick().await;
            if let Err(error) = keys.reload().await {
                tracing::warn!(%error, "reloading signing keys failed");
            }
            accounts.throttle().purge().await;
            if count % cleanup_every == 0 {
                delete_expired(&accounts, &keys).await;
            }
            count = count.wrapping_add(1);
        }
    })
}

async fn delete_expired(accounts: &Accounts, keys: &KeyRing) {
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
    match accounts.store().delete_expired_email_change_tokens(now).await {
        Ok(0) => {}
        Ok(count) => tracing::debug!(count, "expired email change tokens deleted"),
        Err(error) => tracing::warn!(%error, "deleting expired email change tokens failed"),
    }
    match accounts.store().delete_expired_password_reset_tokens(now).await {
        Ok(0) => {}
        Ok(count) => tracing::debug!(count, "expired password reset tokens deleted"),
        Err(error) => tracing::warn!(%error, "deleting expired password reset tokens failed"),
    }
    match accounts.store().delete_given_up_mail(now - GIVEN_UP_MAIL_KEPT).await {
        Ok(0) => {}
        Ok(count) => tracing::debug!(count, "given-up mail deleted"),
        Err(error) => tracing::warn!(%error, "deleting given-up mail failed"),
    }
    // A retired key verifies tokens for one access-token lifetime; a day
    // later nothing it signed can be valid.
    let cutoff = now - keys.ttl() - Duration::from_secs(86_400);
    if let Err(error) = accounts.store().delete_retired_signing_keys(cutoff).await {
        tracing::warn!(%error, "deleting retired signing keys failed");
    }
}
