//! The JSON API's errors and their one mapping to HTTP responses.
//!
//! Every error body is `{"error": "<code>", "message": "<text>"}`, with
//! `fields` added when input failed validation. Internal details never reach
//! the body; they are logged where the error is created.

use std::collections::BTreeMap;

use axum::{
    http::{header, HeaderValue, StatusCode},
    response::{IntoResponse, Response},
    Json,
};
use latchkey_core::{
    accounts::AccountError,
    api_auth::ApiAuthError,
    throttle::{retry_after_seconds, TooManyAttempts},
    validate::FieldErrors,
};
use serde::Serialize;
use utoipa::ToSchema;

/// Body of every error response.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorBody {
    /// Machine-readable code, such as `invalid_credentials`.
    pub error: String,
    /// Text for people.
    pub message: String,
    /// Per-field messages when input failed validation.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fields: Option<BTreeMap<String, String>>,
}

#[derive(Debug)]
pub enum ApiError {
    /// Malformed or invalid input (400).
    InvalidRequest {
        message: String,
        fields: Option<BTreeMap<String, String>>,
    },
    InvalidScope(String),
    InvalidVerificationToken,
    ExpiredVerificationToken,
    InvalidResetToken,
    ExpiredResetToken,
    InvalidGrant,
    InvalidCredentials,
    EmailNotVerified,
    /// No credentials were sent (401, challenge without an error code).
    MissingToken,
    InvalidToken,
    InsufficientScope(&'static str),
    NotFound(&'static str),
    PayloadTooLarge,
    UnsupportedMediaType,
    /// Locked after too many failed logins (403).
    AccountLocked,
    /// Over a rate limit or inside a login wait (429 with `Retry-After`).
    TooManyRequests {
        retry_after_seconds: u64,
    },
    Internal,
}

pub type ApiResult<T> = Result<T, ApiError>;

impl ApiError {
    pub fn invalid(message: impl Into<String>) -> Self {
        Self::InvalidRequest {
            message: message.into(),
            fields: None,
        }
    }

    /// Field errors with core field names replaced by the API's.
    pub fn fields(errors: &FieldErrors) -> Self {
        let fields: BTreeMap<String, String> = errors
            .iter()
            .map(|(field, message)| (api_field_name(field).to_owned(), message.to_owned()))
            .collect();
        let names: Vec<&str> = fields.keys().map(String::as_str).collect();
        Self::InvalidRequest {
            message: format!("Invalid field(s): {}.", names.join(", ")),
            fields: Some(fields),
        }
    }

    fn parts(&self) -> (StatusCode, &'static str, String) {
        match self {
            Self::InvalidRequest { message, .. } => (StatusCode::BAD_REQUEST, "invalid_request", message.clone()),
            Self::InvalidScope(scope) => (
                StatusCode::BAD_REQUEST,
                "invalid_scope",
                format!("The scope {scope:?} is not granted to this account."),
            ),
            Self::InvalidVerificationToken => (
                StatusCode::BAD_REQUEST,
                "invalid_token",
                "The verification token is invalid, already used or replaced by a newer one.".to_owned(),
            ),
            Self::ExpiredVerificationToken => (
                StatusCode::BAD_REQUEST,
                "expired_token",
                "The verification token has expired.".to_owned(),
            ),
            Self::InvalidResetToken => (
                StatusCode::BAD_REQUEST,
                "invalid_token",
                "The password reset token is invalid, already used or replaced by a newer one.".to_owned(),
            ),
            Self::ExpiredResetToken => (
                StatusCode::BAD_REQUEST,
                "expired_token",
                "The password reset token has expired. Request a new one.".to_owned(),
            ),
            Self::InvalidGrant => (
                StatusCode::BAD_REQUEST,
                "invalid_grant",
                "The refresh token is invalid, expired or revoked.".to_owned(),
            ),
            Self::InvalidCredentials => (
                StatusCode::UNAUTHORIZED,
                "invalid_credentials",
                "Wrong email or password.".to_owned(),
            ),
            Self::EmailNotVerified => (
                StatusCode::FORBIDDEN,
                "email_not_verified",
                "The email address is not verified yet.".to_owned(),
            ),
            Self::MissingToken => (
                StatusCode::UNAUTHORIZED,
                "invalid_token",
                "An access token is required: send Authorization: Bearer <token>.".to_owned(),
            ),
            Self::InvalidToken => (
                StatusCode::UNAUTHORIZED,
                "invalid_token",
                "The access token is invalid, expired or revoked.".to_owned(),
            ),
            Self::InsufficientScope(scope) => (
                StatusCode::FORBIDDEN,
                "insufficient_scope",
                format!("The access token lacks the scope {scope}."),
            ),
            Self::NotFound(what) => (StatusCode::NOT_FOUND, "not_found", format!("{what} not found.")),
            Self::PayloadTooLarge => (
                StatusCode::PAYLOAD_TOO_LARGE,
                "payload_too_large",
                "The request body is too large.".to_owned(),
            ),
            Self::UnsupportedMediaType => (
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                "Send the body as JSON with Content-Type: application/json.".to_owned(),
            ),
            Self::AccountLocked => (
                StatusCode::FORBIDDEN,
                "account_locked",
                "Too many failed logins. Reset the password (POST /api/auth/password/forgot) to unlock the account."
                    .to_owned(),
            ),
            Self::TooManyRequests { retry_after_seconds } => (
                StatusCode::TOO_MANY_REQUESTS,
                "too_many_requests",
                format!("Too many attempts. Try again in {retry_after_seconds} seconds."),
            ),
            Self::Internal => (
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal_error",
                "Something went wrong on our side.".to_owned(),
            ),
        }
    }

    /// Returns the `WWW-Authenticate` challenge of RFC 6750, section 3.
    fn challenge(&self) -> Option<String> {
        match self {
            Self::MissingToken => Some(r#"Bearer realm="latchkey""#.to_owned()),
            Self::InvalidToken => Some(r#"Bearer realm="latchkey", error="invalid_token""#.to_owned()),
            Self::InsufficientScope(scope) => Some(format!(
                r#"Bearer realm="latchkey", error="insufficient_scope", scope="{scope}""#
            )),
            _ => None,
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, code, message) = self.parts();
        let challenge = self.challenge();
        let retry_after = match &self {
            Self::TooManyRequests { retry_after_seconds } => Some(HeaderValue::from(*retry_after_seconds)),
            _ => None,
        };
        let fields = match self {
            Self::InvalidRequest { fields, .. } => fields,
            _ => None,
        };
        let mut response = (
            status,
            Json(ErrorBody {
                error: code.to_owned(),
                message,
                fields,
            }),
        )
            .into_response();
        if let Some(value) = challenge.and_then(|text| HeaderValue::from_str(&text).ok()) {
            response.headers_mut().insert(header::WWW_AUTHENTICATE, value);
        }
        if let Some(value) = retry_after {
            response.headers_mut().insert(header::RETRY_AFTER, value);
        }
        response
    }
}

/// Maps a core field name to the API's; the API calls the display name `name`.
fn api_field_name(core_name: &str) -> &str {
    match core_name {
        latchkey_core::validate::field::DISPLAY_NAME => "name",
        other => other,
    }
}

impl From<AccountError> for ApiError {
    fn from(error: AccountError) -> Self {
        match error {
            AccountError::Invalid(errors) => Self::fields(&errors),
            AccountError::InvalidCredentials => Self::InvalidCredentials,
            AccountError::EmailNotVerified => Self::EmailNotVerified,
            AccountError::TokenExpired => Self::ExpiredVerificationToken,
            AccountError::TokenUsed | AccountError::TokenInvalid => Self::InvalidVerificationToken,
            AccountError::ResetLinkExpired => Self::ExpiredResetToken,
            AccountError::ResetLinkUsed | AccountError::ResetLinkInvalid => Self::InvalidResetToken,
            AccountError::NotFound => Self::InvalidToken,
            AccountError::TooManyAttempts(limit) => limit.into(),
            AccountError::LoginLocked => Self::AccountLocked,
            AccountError::Store(_) | AccountError::Password(_) => {
                tracing::error!(%error, "account operation failed");
                Self::Internal
            }
        }
    }
}

impl From<ApiAuthError> for ApiError {
    fn from(error: ApiAuthError) -> Self {
        match error {
            ApiAuthError::Account(error) => error.into(),
            ApiAuthError::Scope(error) => Self::InvalidScope(error.0),
            ApiAuthError::InvalidGrant => Self::InvalidGrant,
            ApiAuthError::TooManyAttempts(limit) => limit.into(),
            ApiAuthError::InvalidToken(reason) => {
                tracing::debug!(%reason, "access token rejected");
                Self::InvalidToken
            }
            ApiAuthError::Key(_) | ApiAuthError::Store(_) => {
                tracing::error!(%error, "token operation failed");
                Self::Internal
            }
        }
    }
}

impl From<TooManyAttempts> for ApiError {
    fn from(limit: TooManyAttempts) -> Self {
        Self::TooManyRequests {
            retry_after_seconds: retry_after_seconds(limit.retry_after),
        }
    }
}

impl From<latchkey_core::store::StoreError> for ApiError {
    fn from(error: latchkey_core::store::StoreError) -> Self {
        tracing::error!(%error, "database operation failed");
        Self::Internal
    }
}
