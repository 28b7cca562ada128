use time::OffsetDateTime;

use super::{unix_seconds, Store, StoreError, UserId};

/// Kinds of security events kept in the audit trail.
pub mod event {
    pub const LOGIN_SUCCEEDED: &str = "login_succeeded";
    pub const LOGIN_FAILED: &str = "login_failed";
    /// Failed logins made the account wait before its next attempt.
    pub const LOGIN_THROTTLED: &str = "login_throttled";
    pub const LOGOUT: &str = "logout";
    pub const REFRESH_TOKEN_REUSED: &str = "refresh_token_reused";
    pub const EMAIL_VERIFIED: &str = "email_verified";
    pub const ROLES_CHANGED: &str = "roles_changed";
}

/// Request facts stored with an event.
#[derive(Debug, Clone, Default)]
pub struct EventContext<'a> {
    pub ip: Option<&'a str>,
    pub user_agent: Option<&'a str>,
}

impl Store {
    pub async fn record_event(
        &self,
        user_id: Option<&UserId>,
        kind: &str,
        context: &EventContext<'_>,
        detail: Option<&str>,
        now: OffsetDateTime,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO audit_events (user_id, kind, ip, user_agent, detail, created_at) VALUES (?, ?, ?, ?, ?, ?)",
        )
        .bind(user_id.map(UserId::as_str))
        .bind(kind)
        .bind(context.ip)
        .bind(context.user_agent)
        .bind(detail)
        .bind(unix_seconds(now))
        .execute(&self.pool)
        .await?;
        Ok(())
    }
}
