//! The one error type of Latchkey's server functions, shared with the
//! browser. Its text is what users read, so it never carries internals.

use latchkey_core::validate::FieldErrors;
use leptos::server_fn::{
    codec::JsonEncoding,
    error::{FromServerFnError, ServerFnErrorErr},
};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum AppError {
    /// Some fields failed validation. `email` and `display_name` echo what
    /// was submitted so that a form without JavaScript can be filled again;
    /// a password is never echoed.
    Invalid {
        errors: FieldErrors,
        email: String,
        display_name: String,
    },
    InvalidCredentials,
    /// The password was right but the address is not verified; `email`
    /// lets the page offer to resend the link.
    EmailNotVerified {
        email: String,
    },
    TokenExpired,
    TokenUsed,
    TokenInvalid,
    ResetLinkExpired,
    ResetLinkUsed,
    ResetLinkInvalid,
    NotLoggedIn,
    /// Over a rate limit or inside a login wait.
    TooManyAttempts {
        retry_after_seconds: u64,
    },
    /// Locked after too many failed logins, until a password reset.
    LoginLocked,
    /// Details are withheld on purpose; the server logs them.
    Internal,
    /// The request did not reach the function (network, decoding).
    ServerFn(ServerFnErrorErr),
}

impl AppError {
    /// Returns the message for a field, when the error is about fields.
    pub fn field(&self, name: &str) -> Option<String> {
        match self {
            Self::Invalid { errors, .. } => errors.get(name).map(str::to_owned),
            _ => None,
        }
    }

    pub fn invalid(errors: FieldErrors) -> Self {
        Self::Invalid {
            errors,
            email: String::new(),
            display_name: String::new(),
        }
    }
}

impl std::fmt::Display for AppError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let text = match self {
            Self::Invalid { .. } => "Some fields need your attention.",
            Self::InvalidCredentials => "Wrong email or password.",
            Self::EmailNotVerified { .. } => {
                "Your email address is not verified yet. Open the link we mailed you, or get a new one."
            }
            Self::TokenExpired => "This verification link has expired.",
            Self::TokenUsed => "This verification link has already been used.",
            Self::TokenInvalid => "This verification link is invalid or has been replaced by a newer one.",
            Self::ResetLinkExpired => "This password reset link has expired. Ask for a new one.",
            Self::ResetLinkUsed => "This password reset link has already been used. Ask for a new one if you need it.",
            Self::ResetLinkInvalid => {
                "This password reset link is invalid or has been replaced by a newer one. Ask for a new one."
            }
            Self::NotLoggedIn => "Please log in first.",
            Self::TooManyAttempts { retry_after_seconds } => {
                return write!(
                    f,
                    "Too many attempts. Please try again in {}.",
                    wait_text(*retry_after_seconds)
                );
            }
            Self::LoginLocked => {
                "Too many failed logins on this account. Reset your password with the link below to unlock it."
            }
            Self::Internal => "Something went wrong on our side. Please try again in a moment.",
            Self::ServerFn(_) => "The server could not be reached or did not understand the request. Please try again.",
        };
        f.write_str(text)
    }
}

/// Formats a wait for people to read: "1 second", "45 seconds", "15 minutes".
fn wait_text(seconds: u64) -> String {
    match seconds {
        1 => "1 second".to_owned(),
        2..120 => format!("{seconds} seconds"),
        _ => format!("{} minutes", seconds.div_ceil(60)),
    }
}

impl std::error::Error for AppError {}

impl FromServerFnError for AppError {
    type Encoder = JsonEncoding;

    fn from_server_fn_error(value: ServerFnErrorErr) -> Self {
        Self::ServerFn(value)
    }
}

#[cfg(feature = "ssr")]
impl From<latchkey_core::accounts::AccountError> for AppError {
    fn from(error: latchkey_core::accounts::AccountError) -> Self {
        use latchkey_core::accounts::AccountError;
        match error {
            AccountError::Invalid(errors) => Self::invalid(errors),
            AccountError::InvalidCredentials => Self::InvalidCredentials,
            AccountError::EmailNotVerified => Self::EmailNotVerified { email: String::new() },
            AccountError::TokenExpired => Self::TokenExpired,
            AccountError::TokenUsed => Self::TokenUsed,
            AccountError::TokenInvalid => Self::TokenInvalid,
            AccountError::ResetLinkExpired => Self::ResetLinkExpired,
            AccountError::ResetLinkUsed => Self::ResetLinkUsed,
            AccountError::ResetLinkInvalid => Self::ResetLinkInvalid,
            AccountError::NotFound => Self::NotLoggedIn,
            AccountError::LoginLocked => Self::LoginLocked,
            AccountError::TooManyAttempts(limit) => Self::TooManyAttempts {
                retry_after_seconds: latchkey_core::throttle::retry_after_seconds(limit.retry_after),
            },
            AccountError::Store(_) | AccountError::Password(_) => {
                tracing::error!(%error, "account operation failed");
                Self::Internal
            }
        }
    }
}
