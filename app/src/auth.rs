//! Server functions behind the account pages.
//!
//! Each one is a thin adapter: it reads the form, calls the account and
//! session rules in `latchkey_core`, and picks the next page. Success moves
//! on with a redirect, which works for a plain HTML form (a 302) and for the
//! hydrated app (client-side navigation) alike. Each function's work is in
//! an `_inner` function whose error `ssr::with_status` maps to an HTTP
//! status.

use leptos::prelude::*;
use serde::{Deserialize, Serialize};

use crate::error::AppError;

/// Facts about the logged-in user shown on the account page.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AccountView {
    pub email: String,
    pub display_name: String,
    pub email_verified: bool,
    /// Sign-up date as `YYYY-MM-DD` (UTC).
    pub member_since: String,
}

/// One line of the account page's recent activity.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ActivityView {
    /// Time as `YYYY-MM-DD HH:MM UTC`.
    pub when: String,
    pub what: String,
    pub ip: String,
    pub user_agent: String,
}

/// One login of the user on the sessions page.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SessionView {
    pub id: String,
    /// "This site" or "API".
    pub kind: String,
    pub device: String,
    pub ip: String,
    pub signed_in: String,
    pub last_active: String,
    pub current: bool,
}

/// Returns the password rules this server enforces, for the registration
/// page's hint, checks and strength meter.
#[server(prefix = "/fn", endpoint = "password_rules")]
pub async fn password_rules() -> Result<latchkey_core::password_rules::PasswordRules, AppError> {
    Ok(ssr::state()?.accounts.password_rules())
}

#[server(prefix = "/fn", endpoint = "register")]
pub async fn register(email: String, display_name: String, password: String) -> Result<(), AppError> {
    ssr::with_status(register_inner(email, display_name, password).await)
}

#[cfg(feature = "ssr")]
async fn register_inner(email: String, display_name: String, password: String) -> Result<(), AppError> {
    let state = ssr::state()?;
    let client = ssr::client_info();
    match state.accounts.register(&email, &display_name, &password, &client).await {
        Ok(_) => {
            leptos_axum::redirect("/register/check-email");
            Ok(())
        }
        Err(error) => Err(match AppError::from(error) {
            AppError::Invalid { errors, .. } => AppError::Invalid {
                errors,
                email,
                display_name,
            },
            other => other,
        }),
    }
}

/// Logs in and moves on to `next` when it is a path on this site, or to
/// the account page otherwise. `remember` is the "Remember me" checkbox,
/// sent only when ticked.
#[server(prefix = "/fn", endpoint = "log_in")]
pub async fn log_in(
    email: String,
    password: String,
    next: Option<String>,
    remember: Option<String>,
) -> Result<(), AppError> {
    ssr::with_status(log_in_inner(email, password, next, remember.is_some()).await)
}

#[cfg(feature = "ssr")]
async fn log_in_inner(email: String, password: String, next: Option<String>, remember: bool) -> Result<(), AppError> {
    let state = ssr::state()?;
    let client = ssr::client_info();
    let user = match state
        .accounts
        .authenticate(&email, &password, &client, Channel::Browser)
        .await
    {
        Ok(user) => user,
        Err(error) => {
            return Err(match AppError::from(error) {
                AppError::EmailNotVerified { .. } => AppError::EmailNotVerified {
                    email: email.trim().to_owned(),
                },
                other => other,
            })
        }
    };

    let session = ssr::session().await?;
    let remember_for = remember.then(|| state.accounts.remember_me_lifetime());
    latchkey_core::session::log_in(&session, &user.id, &client, remember_for)
        .await
        .map_err(ssr::session_failed)?;
    tracing::info!(user.id = %user.id, "logged in");

    let target = next
        .as_deref()
        .and_then(latchkey_core::validate::local_redirect_target)
        .unwrap_or("/account");
    leptos_axum::redirect(target);
    Ok(())
}

#[server(prefix = "/fn", endpoint = "log_out")]
pub async fn log_out() -> Result<(), AppError> {
    ssr::with_status(log_out_inner().await)
}

#[cfg(feature = "ssr")]
async fn log_out_inner() -> Result<(), AppError> {
    let session = ssr::session().await?;
    let user_id = latchkey_core::session::current_user_id(&session)
        .await
        .map_err(ssr::session_failed)?;
    latchkey_core::session::log_out(&session)
        .await
        .map_err(ssr::session_failed)?;
    if let Some(user_id) = user_id {
        let state = ssr::state()?;
        let client = ssr::client_info();
        state
            .accounts
            .record(Some(&user_id), event::LOGOUT, &client, Channel::Browser.as_str())
            .await?;
        tracing::info!(user.id = %user_id, "logged out");
    }
    leptos_axum::redirect("/login");
    Ok(())
}

/// Returns the logged-in user, or `None` for a visitor.
#[server(prefix = "/fn", endpoint = "current_user")]
pub async fn current_user() -> Result<Option<AccountView>, AppError> {
    ssr::with_status(current_user_inner().await)
}

#[cfg(feature = "ssr")]
async fn current_user_inner() -> Result<Option<AccountView>, AppError> {
    let state = ssr::state()?;
    let Some(user_id) = ssr::logged_in_user_id().await? else {
        return Ok(None);
    };
    let user = state.accounts.find_user(&user_id).await?;
    Ok(user.map(|user| ssr::account_view(&user)))
}

/// Returns the logged-in user's recent security events, newest first.
#[server(prefix = "/fn", endpoint = "recent_activity")]
pub async fn recent_activity() -> Result<Vec<ActivityView>, AppError> {
    ssr::with_status(recent_activity_inner().await)
}

#[cfg(feature = "ssr")]
async fn recent_activity_inner() -> Result<Vec<ActivityView>, AppError> {
    let state = ssr::state()?;
    let user_id = ssr::logged_in_user_id().await?.ok_or(AppError::NotLoggedIn)?;
    let events = state.accounts.recent_activity(&user_id).await?;
    Ok(events.iter().map(ssr::activity_view).collect())
}

#[server(prefix = "/fn", endpoint = "update_display_name")]
pub async fn update_display_name(display_name: String) -> Result<AccountView, AppError> {
    ssr::with_status(update_display_name_inner(display_name).await)
}

#[cfg(feature = "ssr")]
async fn update_display_name_inner(display_name: String) -> Result<AccountView, AppError> {
    let state = ssr::state()?;
    let user_id = ssr::logged_in_user_id().await?.ok_or(AppError::NotLoggedIn)?;
    match state.accounts.update_display_name(&user_id, &display_name).await {
        Ok(user) => {
            leptos_axum::redirect("/account?saved=1");
            Ok(ssr::account_view(&user))
        }
        Err(error) => Err(match AppError::from(error) {
            AppError::Invalid { errors, email, .. } => AppError::Invalid {
                errors,
                email,
                display_name,
            },
            other => other,
        }),
    }
}

#[server(prefix = "/fn", endpoint = "verify_email")]
pub async fn verify_email(token: String) -> Result<(), AppError> {
    ssr::with_status(verify_email_inner(token).await)
}

#[cfg(feature = "ssr")]
async fn verify_email_inner(token: String) -> Result<(), AppError> {
    let state = ssr::state()?;
    state.accounts.verify_email(&token, &ssr::client_info()).await?;
    leptos_axum::redirect("/verify-email?verified=1");
    Ok(())
}

/// Mails a new verification link for the address typed at login.
#[server(prefix = "/fn", endpoint = "resend_verification")]
pub async fn resend_verification(email: String) -> Result<(), AppError> {
    ssr::with_status(resend_verification_inner(email).await)
}

#[cfg(feature = "ssr")]
async fn resend_verification_inner(email: String) -> Result<(), AppError> {
    let state = ssr::state()?;
    state.accounts.resend_verification(&email, &ssr::client_info()).await?;
    let wait = state.accounts.throttle().verification_mail_cooldown().as_secs();
    leptos_axum::redirect(&format!("/login?resent=1&wait={wait}"));
    Ok(())
}

/// Mails a new verification link to the owner of an expired one.
#[server(prefix = "/fn", endpoint = "resend_verification_link")]
pub async fn resend_verification_link(token: String) -> Result<(), AppError> {
    ssr::with_status(resend_verification_link_inner(token).await)
}

#[cfg(feature = "ssr")]
async fn resend_verification_link_inner(token: String) -> Result<(), AppError> {
    let state = ssr::state()?;
    state
        .accounts
        .resend_verification_for_token(&token, &ssr::client_info())
        .await?;
    let wait = state.accounts.throttle().verification_mail_cooldown().as_secs();
    leptos_axum::redirect(&format!("/verify-email?resent=1&wait={wait}"));
    Ok(())
}

/// Mails a password reset link if the address has an account. The page
/// that follows reads the same either way.
#[server(prefix = "/fn", endpoint = "request_password_reset")]
pub async fn request_password_reset(email: String) -> Result<(), AppError> {
    ssr::with_status(request_password_reset_inner(email).await)
}

#[cfg(feature = "ssr")]
async fn request_password_reset_inner(email: String) -> Result<(), AppError> {
    let state = ssr::state()?;
    state
        .accounts
        .request_password_reset(&email, &ssr::client_info())
        .await
        .map_err(|error| ssr::echo_email(error, email))?;
    leptos_axum::redirect("/forgot-password?sent=1");
    Ok(())
}

/// Checks a reset link without spending it, so that the page can report a
/// dead link before the user types a new password.
#[server(prefix = "/fn", endpoint = "check_reset_link")]
pub async fn check_reset_link(token: String) -> Result<(), AppError> {
    ssr::with_status(check_reset_link_inner(token).await)
}

#[cfg(feature = "ssr")]
async fn check_reset_link_inner(token: String) -> Result<(), AppError> {
    ssr::state()?.accounts.check_password_reset_token(&token).await?;
    Ok(())
}

/// Sets a new password with a reset link; every login of the account ends.
#[server(prefix = "/fn", endpoint = "reset_password")]
pub async fn reset_password(token: String, password: String) -> Result<(), AppError> {
    ssr::with_status(reset_password_inner(token, password).await)
}

#[cfg(feature = "ssr")]
async fn reset_password_inner(token: String, password: String) -> Result<(), AppError> {
    let state = ssr::state()?;
    state
        .accounts
        .reset_password(&token, &password, &ssr::client_info())
        .await?;
    // The browser that reset the password may hold a session of the
    // account, which the reset has just ended in the store.
    let session = ssr::session().await?;
    latchkey_core::session::log_out(&session)
        .await
        .map_err(ssr::session_failed)?;
    leptos_axum::redirect("/login?reset=1");
    Ok(())
}

/// Changes the logged-in user's password. Every other login ends, and this
/// one continues under a new session id.
#[server(prefix = "/fn", endpoint = "change_password")]
pub async fn change_password(current_password: String, new_password: String) -> Result<(), AppError> {
    ssr::with_status(change_password_inner(current_password, new_password).await)
}

#[cfg(feature = "ssr")]
async fn change_password_inner(current_password: String, new_password: String) -> Result<(), AppError> {
    let state = ssr::state()?;
    let user_id = ssr::logged_in_user_id().await?.ok_or(AppError::NotLoggedIn)?;
    let keep = ssr::current_session_key().await?;
    let session = ssr::session().await?;
    state
        .accounts
        .change_password(
            &user_id,
            &current_password,
            &new_password,
            keep.as_ref(),
            &ssr::client_info(),
            Channel::Browser,
        )
        .await?;
    latchkey_core::session::renew_after_password_change(&session)
        .await
        .map_err(ssr::session_failed)?;
    leptos_axum::redirect("/account/security?changed=1");
    Ok(())
}

/// Lists the logged-in user's logins, the current one marked.
#[server(prefix = "/fn", endpoint = "list_sessions")]
pub async fn list_sessions() -> Result<Vec<SessionView>, AppError> {
    ssr::with_status(list_sessions_inner().await)
}

#[cfg(feature = "ssr")]
async fn list_sessions_inner() -> Result<Vec<SessionView>, AppError> {
    let state = ssr::state()?;
    let user_id = ssr::logged_in_user_id().await?.ok_or(AppError::NotLoggedIn)?;
    let current = ssr::current_session_key().await?;
    let logins = state.accounts.logins(&user_id, current.as_ref()).await?;
    Ok(logins.into_iter().map(ssr::session_view).collect())
}

/// Ends one of the user's logins. Ending the current one logs out.
#[server(prefix = "/fn", endpoint = "revoke_session")]
pub async fn revoke_session(id: String) -> Result<(), AppError> {
    ssr::with_status(revoke_session_inner(id).await)
}

#[cfg(feature = "ssr")]
async fn revoke_session_inner(id: String) -> Result<(), AppError> {
    let state = ssr::state()?;
    let user_id = ssr::logged_in_user_id().await?.ok_or(AppError::NotLoggedIn)?;
    let current = ssr::current_session_key().await?;
    match state
        .accounts
        .revoke_login(&user_id, &id, &ssr::client_info(), Channel::Browser)
        .await
    {
        // Already ended elsewhere: the list is simply out of date.
        Ok(()) | Err(latchkey_core::accounts::AccountError::NotFound) => {}
        Err(error) => return Err(error.into()),
    }
    let ended_current = current.is_some_and(|key| latchkey_core::accounts::login_id(&key) == id);
    if ended_current {
        let session = ssr::session().await?;
        latchkey_core::session::log_out(&session)
            .await
            .map_err(ssr::session_failed)?;
        leptos_axum::redirect("/login");
    } else {
        leptos_axum::redirect("/account/sessions?revoked=1");
    }
    Ok(())
}

/// Ends every login of the user but this one.
#[server(prefix = "/fn", endpoint = "revoke_other_sessions")]
pub async fn revoke_other_sessions() -> Result<u64, AppError> {
    ssr::with_status(revoke_other_sessions_inner().await)
}

#[cfg(feature = "ssr")]
async fn revoke_other_sessions_inner() -> Result<u64, AppError> {
    let state = ssr::state()?;
    let user_id = ssr::logged_in_user_id().await?.ok_or(AppError::NotLoggedIn)?;
    let current = ssr::current_session_key().await?;
    let ended = state
        .accounts
        .revoke_other_logins(&user_id, current.as_ref(), &ssr::client_info(), Channel::Browser)
        .await?;
    leptos_axum::redirect("/account/sessions?revoked=1");
    Ok(ended)
}

/// Starts a change of the logged-in user's email address: the new address
/// gets a confirmation link, and the current one stays until it is used.
#[server(prefix = "/fn", endpoint = "request_email_change")]
pub async fn request_email_change(email: String, password: String) -> Result<(), AppError> {
    ssr::with_status(request_email_change_inner(email, password).await)
}

#[cfg(feature = "ssr")]
async fn request_email_change_inner(email: String, password: String) -> Result<(), AppError> {
    let state = ssr::state()?;
    let user_id = ssr::logged_in_user_id().await?.ok_or(AppError::NotLoggedIn)?;
    state
        .accounts
        .request_email_change(&user_id, &email, &password, &ssr::client_info(), Channel::Browser)
        .await
        .map_err(|error| ssr::echo_email(error, email))?;
    leptos_axum::redirect("/account/email?sent=1");
    Ok(())
}

/// Returns the new address of the logged-in user's pending email change.
#[server(prefix = "/fn", endpoint = "pending_email_change")]
pub async fn pending_email_change() -> Result<Option<String>, AppError> {
    ssr::with_status(pending_email_change_inner().await)
}

#[cfg(feature = "ssr")]
async fn pending_email_change_inner() -> Result<Option<String>, AppError> {
    let state = ssr::state()?;
    let user_id = ssr::logged_in_user_id().await?.ok_or(AppError::NotLoggedIn)?;
    Ok(state.accounts.pending_email_change(&user_id).await?)
}

/// Mails the confirmation link of the pending email change again.
#[server(prefix = "/fn", endpoint = "resend_email_change")]
pub async fn resend_email_change() -> Result<(), AppError> {
    ssr::with_status(resend_email_change_inner().await)
}

#[cfg(feature = "ssr")]
async fn resend_email_change_inner() -> Result<(), AppError> {
    let state = ssr::state()?;
    let user_id = ssr::logged_in_user_id().await?.ok_or(AppError::NotLoggedIn)?;
    state
        .accounts
        .resend_email_change(&user_id, &ssr::client_info())
        .await?;
    let wait = state.accounts.throttle().verification_mail_cooldown().as_secs();
    leptos_axum::redirect(&format!("/account/email?resent=1&wait={wait}"));
    Ok(())
}

/// Spends the link mailed to the new address.
#[server(prefix = "/fn", endpoint = "confirm_email_change")]
pub async fn confirm_email_change(token: String) -> Result<(), AppError> {
    ssr::with_status(confirm_email_change_inner(token).await)
}

#[cfg(feature = "ssr")]
async fn confirm_email_change_inner(token: String) -> Result<(), AppError> {
    let state = ssr::state()?;
    state.accounts.confirm_email_change(&token, &ssr::client_info()).await?;
    leptos_axum::redirect("/confirm-email?done=1");
    Ok(())
}

/// Deletes the logged-in user's account, confirmed with the password, and
/// ends this session.
#[server(prefix = "/fn", endpoint = "delete_account")]
pub async fn delete_account(password: String) -> Result<(), AppError> {
    ssr::with_status(delete_account_inner(password).await)
}

#[cfg(feature = "ssr")]
async fn delete_account_inner(password: String) -> Result<(), AppError> {
    let state = ssr::state()?;
    let user_id = ssr::logged_in_user_id().await?.ok_or(AppError::NotLoggedIn)?;
    state
        .accounts
        .delete_account(&user_id, &password, &ssr::client_info(), Channel::Browser)
        .await?;
    let session = ssr::session().await?;
    latchkey_core::session::log_out(&session)
        .await
        .map_err(ssr::session_failed)?;
    leptos_axum::redirect("/login?deleted=1");
    Ok(())
}

#[cfg(feature = "ssr")]
use latchkey_core::{accounts::Channel, store::event};

#[cfg(feature = "ssr")]
mod ssr {
    use latchkey_core::{
        session::{ClientInfo, SessionError},
        store::{User, UserId},
    };
    use leptos::prelude::use_context;
    use tower_sessions::Session;

    use latchkey_core::store::{event, AuditEvent};

    use super::{AccountView, ActivityView, SessionView};
    use crate::{error::AppError, state::AppState};

    /// Gives an error its HTTP status for the hydrated app's fetch calls.
    /// A plain HTML form keeps the redirect that carries the error back to
    /// the page, because a status set here would replace it.
    pub fn with_status<T>(result: Result<T, AppError>) -> Result<T, AppError> {
        let Err(error) = &result else {
            return result;
        };
        let accepts_html = use_context::<http::request::Parts>()
            .and_then(|parts| {
                parts
                    .headers
                    .get(http::header::ACCEPT)?
                    .to_str()
                    .ok()
                    .map(|accept| accept.contains("text/html"))
            })
            .unwrap_or(false);
        if !accepts_html {
            if let Some(response) = use_context::<leptos_axum::ResponseOptions>() {
                response.set_status(status_of(error));
                if let AppError::TooManyAttempts { retry_after_seconds } = error {
                    response.insert_header(http::header::RETRY_AFTER, http::HeaderValue::from(*retry_after_seconds));
                }
            }
        }
        result
    }

    fn status_of(error: &AppError) -> http::StatusCode {
        use http::StatusCode;
        match error {
            AppError::Invalid { .. }
            | AppError::TokenExpired
            | AppError::TokenUsed
            | AppError::TokenInvalid
            | AppError::ResetLinkExpired
            | AppError::ResetLinkUsed
            | AppError::ResetLinkInvalid => StatusCode::BAD_REQUEST,
            AppError::InvalidCredentials | AppError::NotLoggedIn => StatusCode::UNAUTHORIZED,
            AppError::EmailNotVerified { .. } | AppError::LoginLocked => StatusCode::FORBIDDEN,
            AppError::TooManyAttempts { .. } => StatusCode::TOO_MANY_REQUESTS,
            AppError::Internal | AppError::ServerFn(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    pub fn state() -> Result<AppState, AppError> {
        use_context::<AppState>().ok_or_else(|| {
            tracing::error!("AppState missing from the Leptos context");
            AppError::Internal
        })
    }

    pub async fn session() -> Result<Session, AppError> {
        leptos_axum::extract::<Session>().await.map_err(|error| {
            tracing::error!(%error, "session layer missing");
            AppError::Internal
        })
    }

    /// Returns the store key of this request's browser session, if any.
    pub async fn current_session_key() -> Result<Option<latchkey_core::token::TokenHash>, AppError> {
        let session = session().await?;
        Ok(session.id().map(|id| latchkey_core::store::browser_session_key(&id)))
    }

    pub fn session_view(login: latchkey_core::accounts::Login) -> SessionView {
        use latchkey_core::{accounts::LoginKind, timestamps::minute_utc};
        SessionView {
            id: login.id,
            kind: match login.kind {
                LoginKind::Browser => "This site".to_owned(),
                LoginKind::Api => "API".to_owned(),
            },
            device: login.device,
            ip: login.ip.unwrap_or_default(),
            signed_in: minute_utc(login.signed_in_at),
            last_active: minute_utc(login.last_active_at),
            current: login.current,
        }
    }

    /// Maps an account error, putting the submitted email back into a
    /// field error so that a form without JavaScript is filled again.
    pub fn echo_email(error: latchkey_core::accounts::AccountError, email: String) -> AppError {
        match AppError::from(error) {
            AppError::Invalid {
                errors, display_name, ..
            } => AppError::Invalid {
                errors,
                email,
                display_name,
            },
            other => other,
        }
    }

    pub fn session_failed(error: SessionError) -> AppError {
        tracing::error!(%error, "session store failed");
        AppError::Internal
    }

    /// Returns the logged-in user, renewing the session id first when
    /// their roles changed since the session last acted.
    pub async fn logged_in_user_id() -> Result<Option<UserId>, AppError> {
        let session = session().await?;
        let Some(user_id) = latchkey_core::session::current_user_id(&session)
            .await
            .map_err(session_failed)?
        else {
            return Ok(None);
        };
        let profile = state()?
            .accounts
            .store()
            .user_with_roles(&user_id)
            .await
            .map_err(|error| {
                tracing::error!(%error, "reading the user's roles failed");
                AppError::Internal
            })?;
        let Some((_, roles)) = profile else {
            return Ok(None);
        };
        let renewed = latchkey_core::session::renew_on_privilege_change(&session, &roles)
            .await
            .map_err(session_failed)?;
        if renewed {
            tracing::info!(user.id = %user_id, "session id renewed after a role change");
        }
        Ok(Some(user_id))
    }

    /// Reads the client address (resolved by the server before routing)
    /// and user agent of the current request.
    pub fn client_info() -> ClientInfo {
        use_context::<http::request::Parts>()
            .map(|parts| ClientInfo::from_request(&parts))
            .unwrap_or_default()
    }

    pub fn activity_view(event: &AuditEvent) -> ActivityView {
        let via = match event.detail.as_deref().and_then(|detail| detail.split(';').next()) {
            Some("browser") => " (this site)",
            Some("api") => " (API)",
            _ => "",
        };
        let what = match event.kind.as_str() {
            event::LOGIN_SUCCEEDED => format!("Logged in{via}"),
            event::LOGIN_FAILED => format!("Failed login{via}"),
            event::LOGIN_THROTTLED => "Failed logins: further attempts must wait".to_owned(),
            event::LOGIN_LOCKED => "Too many failed logins: locked until the password is reset".to_owned(),
            event::LOGOUT => format!("Logged out{via}"),
            event::REFRESH_TOKEN_REUSED => "A used refresh token came back; that login was ended".to_owned(),
            event::EMAIL_VERIFIED => "Email address verified".to_owned(),
            event::ROLES_CHANGED => "Roles changed".to_owned(),
            event::PASSWORD_RESET_REQUESTED => "Password reset link requested".to_owned(),
            event::PASSWORD_RESET => "Password reset with a mailed link; every device signed out".to_owned(),
            event::PASSWORD_CHANGED => format!("Password changed{via}; other devices signed out"),
            event::PASSWORD_CHANGE_FAILED => format!("Password change refused: wrong current password{via}"),
            event::LOGIN_REVOKED => format!("A login was ended from the sessions list{via}"),
            event::OTHER_LOGINS_REVOKED => format!("Every other login was ended{via}"),
            event::EMAIL_CHANGE_REQUESTED => format!("Change of email address requested{via}"),
            event::EMAIL_CHANGE_FAILED => format!("Email change refused: wrong password{via}"),
            event::EMAIL_CHANGED => "Email address changed".to_owned(),
            other => other.replace('_', " "),
        };
        ActivityView {
            when: latchkey_core::timestamps::minute_utc(event.created_at),
            what,
            ip: event.ip.clone().unwrap_or_default(),
            user_agent: event.user_agent.clone().unwrap_or_default(),
        }
    }

    pub fn account_view(user: &User) -> AccountView {
        let date = user.created_at.date();
        AccountView {
            email: user.email.clone(),
            display_name: user.display_name.clone(),
            email_verified: user.is_verified(),
            member_since: format!("{:04}-{:02}-{:02}", date.year(), u8::from(date.month()), date.day()),
        }
    }
}
