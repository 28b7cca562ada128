//! Login state kept in a tower-sessions [`Session`].
//!
//! The browser pages and the server functions go through these functions
//! only, so the rules (new id at login, server-side deletion at logout) hold
//! everywhere.

use std::time::Duration;

use time::OffsetDateTime;
use tower_sessions::{Expiry, Session};

use crate::{
    client_ip::ClientAddr,
    roles::Role,
    store::{
        EventContext, UserId, SESSION_KEY_IP, SESSION_KEY_REMEMBER_UNTIL, SESSION_KEY_USER_AGENT, SESSION_KEY_USER_ID,
    },
};

pub type SessionError = tower_sessions::session::Error;

/// Request facts recorded with a login, shown to the user in session lists.
#[derive(Debug, Clone, Default)]
pub struct ClientInfo {
    pub ip: Option<String>,
    pub user_agent: Option<String>,
}

impl ClientInfo {
    /// Reads the client address that the server resolved before routing
    /// (see [`crate::client_ip`]) and the user agent of a request.
    pub fn from_request(parts: &http::request::Parts) -> Self {
        let ip = parts
            .extensions
            .get::<ClientAddr>()
            .map(|ClientAddr(address)| address.to_string());
        let user_agent = parts
            .headers
            .get(http::header::USER_AGENT)
            .and_then(|value| value.to_str().ok())
            .map(str::to_owned);
        Self { ip, user_agent }
    }

    pub fn event_context(&self) -> EventContext<'_> {
        EventContext {
            ip: self.ip.as_deref(),
            user_agent: self.user_agent.as_deref(),
        }
    }
}

/// Marks the session as logged in as `user_id`.
///
/// The session id is replaced first, so an id planted in the browser before
/// login (session fixation) never becomes an authenticated one.
///
/// With `remember_for`, the login lasts that long and its cookie persists
/// in the browser. Without it, the cookie ends with the browser session,
/// and the store's idle and absolute lifetimes apply.
pub async fn log_in(
    session: &Session,
    user_id: &UserId,
    client: &ClientInfo,
    remember_for: Option<Duration>,
) -> Result<(), SessionError> {
    session.cycle_id().await?;
    if let Some(lifetime) = remember_for {
        let until = OffsetDateTime::now_utc().saturating_add(lifetime.try_into().unwrap_or(time::Duration::MAX));
        session
            .insert(SESSION_KEY_REMEMBER_UNTIL, until.unix_timestamp())
            .await?;
        session.set_expiry(Some(Expiry::AtDateTime(until)));
    }
    session.insert(SESSION_KEY_USER_ID, user_id.as_str()).await?;
    if let Some(ip) = &client.ip {
        session.insert(SESSION_KEY_IP, ip).await?;
    }
    if let Some(user_agent) = &client.user_agent {
        session.insert(SESSION_KEY_USER_AGENT, user_agent).await?;
    }
    Ok(())
}

/// Gives the cookie of a "Remember me" login its expiry on every response.
/// tower-sessions starts each request with the layer's default, a cookie
/// that ends with the browser session, which would otherwise replace the
/// persistent one at the next response.
pub async fn keep_remembered_expiry(session: &Session) -> Result<(), SessionError> {
    let until: Option<i64> = session.get(SESSION_KEY_REMEMBER_UNTIL).await?;
    if let Some(until) = until.and_then(|seconds| OffsetDateTime::from_unix_timestamp(seconds).ok()) {
        session.set_expiry(Some(Expiry::AtDateTime(until)));
    }
    Ok(())
}

/// Returns the logged-in user's id, if any.
pub async fn current_user_id(session: &Session) -> Result<Option<UserId>, SessionError> {
    Ok(session.get::<String>(SESSION_KEY_USER_ID).await?.map(UserId))
}

/// Session key of the roles the session last acted with.
const SESSION_KEY_ROLES: &str = "roles";

/// Issues a new session id when the user's roles differ from those this
/// session last acted with, so that an id that leaked before a promotion
/// does not carry the new privileges. The first call after login only
/// records the roles, since login has just issued a new id. Returns
/// whether the id changed.
pub async fn renew_on_privilege_change(session: &Session, roles: &[Role]) -> Result<bool, SessionError> {
    let current = roles.iter().map(|role| role.as_str()).collect::<Vec<_>>().join(" ");
    let seen: Option<String> = session.get(SESSION_KEY_ROLES).await?;
    if seen.as_deref() == Some(current.as_str()) {
        return Ok(false);
    }
    if seen.is_some() {
        session.cycle_id().await?;
    }
    session.insert(SESSION_KEY_ROLES, current).await?;
    Ok(seen.is_some())
}

/// Issues a new session id after the password changed, so that an id that
/// leaked earlier stops working although this login continues.
pub async fn renew_after_password_change(session: &Session) -> Result<(), SessionError> {
    session.cycle_id().await
}

/// Deletes the session from the store and clears its cookie; replaying the
/// old cookie afterwards finds nothing.
pub async fn log_out(session: &Session) -> Result<(), SessionError> {
    session.flush().await
}
