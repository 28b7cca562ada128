//! Request extractors of the JSON API: a JSON body with API-shaped errors,
//! the bearer token, and the caller's address.

use axum::{
    body::Bytes,
    extract::{FromRequest, FromRequestParts, Request},
    http::{header, request::Parts},
};
use latchkey_core::{api_auth::Principal, session::ClientInfo};
use serde::de::DeserializeOwned;

use super::{error::ApiError, ApiState};

/// A JSON request body. Wrong content types get 415, oversized bodies 413,
/// and malformed JSON or wrong field types 400 with the field named.
pub struct ApiJson<T>(pub T);

impl<T, S> FromRequest<S> for ApiJson<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        let is_json = request
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.split(';').next())
            .is_some_and(|mime| mime.trim().eq_ignore_ascii_case("application/json"));
        if !is_json {
            return Err(ApiError::UnsupportedMediaType);
        }

        let bytes = Bytes::from_request(request, state).await.map_err(|rejection| {
            if rejection.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::PayloadTooLarge
            } else {
                ApiError::invalid("The request body could not be read.")
            }
        })?;

        let deserializer = &mut serde_json::Deserializer::from_slice(&bytes);
        let value = serde_path_to_error::deserialize(deserializer).map_err(|error| {
            let path = error.path().to_string();
            let inner = error.into_inner();
            let message = if path.is_empty() || path == "." {
                format!("Malformed JSON body: {inner}.")
            } else {
                format!("Invalid field {path}: {inner}.")
            };
            ApiError::invalid(message)
        })?;
        Ok(Self(value))
    }
}

/// The caller of a protected endpoint: a valid access token whose login is
/// still live.
pub struct Bearer(pub Principal);

impl FromRequestParts<ApiState> for Bearer {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &ApiState) -> Result<Self, Self::Rejection> {
        let Some(value) = parts.headers.get(header::AUTHORIZATION) else {
            return Err(ApiError::MissingToken);
        };
        let value = value.to_str().map_err(|_| ApiError::InvalidToken)?;
        let (scheme, token) = value.split_once(' ').ok_or(ApiError::InvalidToken)?;
        if !scheme.eq_ignore_ascii_case("bearer") || token.trim().is_empty() {
            return Err(ApiError::InvalidToken);
        }
        let principal = state.auth.authenticate(token.trim()).await?;
        Ok(Self(principal))
    }
}

impl Bearer {
    /// Fails with 403 `insufficient_scope` unless the token carries `scope`.
    pub fn require(&self, scope: &'static str) -> Result<(), ApiError> {
        if self.0.claims.has_scope(scope) {
            Ok(())
        } else {
            Err(ApiError::InsufficientScope(scope))
        }
    }
}

/// The client address (see `client_ip`) and user agent, for rate limits
/// and the audit trail.
pub struct Client(pub ClientInfo);

impl<S: Send + Sync> FromRequestParts<S> for Client {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        Ok(Self(ClientInfo::from_request(parts)))
    }
}
