use time::OffsetDateTime;

use super::{from_unix_seconds, unix_seconds, Store, StoreError, UserId};

/// Kinds of security events kept in the audit trail.
pub mod event {
    pub const LOGIN_SUCCEEDED: &str = "login_succeeded";
    pub const LOGIN_FAILED: &str = "login_failed";
    /// Failed logins made the account wait before its next attempt.
    pub const LOGIN_THROTTLED: &str = "login_throttled";
    /// Consecutive failed logins reached the cap: only a reset unlocks.
    pub const LOGIN_LOCKED: &str = "login_locked";
    pub const LOGOUT: &str = "logout";
    pub const REFRESH_TOKEN_REUSED: &str = "refresh_token_reused";
    pub const EMAIL_VERIFIED: &str = "email_verified";
    pub const ROLES_CHANGED: &str = "roles_changed";
    pub const PASSWORD_RESET_REQUESTED: &str = "password_reset_requested";
    /// A reset link set a new password and ended every login.
    pub const PASSWORD_RESET: &str = "password_reset";
    /// The user changed the password with the current one.
    pub const PASSWORD_CHANGED: &str = "password_changed";
    /// A password change was refused because the current password was wrong.
    pub const PASSWORD_CHANGE_FAILED: &str = "password_change_failed";
    /// The user ended one of their logins from the sessions list.
    pub const LOGIN_REVOKED: &str = "login_revoked";
    /// The user ended every login but the current one.
    pub const OTHER_LOGINS_REVOKED: &str = "other_logins_revoked";
    /// An administrator ended every login of the user.
    pub const LOGINS_REVOKED_BY_ADMIN: &str = "logins_revoked_by_admin";
    /// The user deleted their account. Stored without a user, since the
    /// user's own events are deleted with the account.
    pub const ACCOUNT_DELETED: &str = "account_deleted";
    /// An account deletion was refused because the password was wrong.
    pub const ACCOUNT_DELETION_FAILED: &str = "account_deletion_failed";
    pub const EMAIL_CHANGE_REQUESTED: &str = "email_change_requested";
    /// An email change was refused because the password was wrong.
    pub const EMAIL_CHANGE_FAILED: &str = "email_change_failed";
    pub const EMAIL_CHANGED: &str = "email_changed";
}

/// A stored security event, as the account page lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditEvent {
    pub kind: String,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    pub detail: Option<String>,
    pub created_at: OffsetDateTime,
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
            "INSERT INTO audit_events (user_id, kind, ip, user_agent, detail, created_at) VALUES ($1, $2, $3, $4, $5, $6)",
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

    /// Returns the user's newest events first, at most `limit` of them.
    pub async fn recent_events(&self, user_id: &UserId, limit: u32) -> Result<Vec<AuditEvent>, StoreError> {
        let rows: Vec<(String, Option<String>, Option<String>, Option<String>, i64)> = sqlx::query_as(
            "SELECT kind, ip, user_agent, detail, created_at FROM audit_events
             WHERE user_id = $1 ORDER BY created_at DESC, id DESC LIMIT $2",
        )
        .bind(user_id.as_str())
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter()
            .map(|(kind, ip, user_agent, detail, created_at)| {
                Ok(AuditEvent {
                    kind,
                    ip,
                    user_agent,
                    detail,
                    created_at: from_unix_seconds(created_at)?,
                })
            })
            .collect()
    }
}
