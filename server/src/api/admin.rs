//! `/api/admin/*`: account administration, behind the scope `users.admin`.

use axum::{
    extract::{Path, State},
    Json,
};
use latchkey_core::{
    accounts::AccountError,
    roles::{Role, SCOPE_USERS_ADMIN},
    store::{event, EventContext, UserId},
};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa::ToSchema;

use super::{
    error::{ApiError, ApiResult, ErrorBody},
    extract::{ApiJson, Bearer, Client},
    ApiState,
};

#[derive(Debug, Deserialize, ToSchema)]
pub struct RolesRequest {
    /// The complete new set.
    #[schema(example = json!(["editor"]))]
    pub roles: Vec<RoleName>,
}

/// A role's name.
#[derive(Debug, Clone, Copy, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum RoleName {
    Admin,
    Editor,
    Viewer,
}

impl From<RoleName> for Role {
    fn from(name: RoleName) -> Self {
        match name {
            RoleName::Admin => Role::Admin,
            RoleName::Editor => Role::Editor,
            RoleName::Viewer => Role::Viewer,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct RolesResponse {
    pub id: String,
    pub roles: Vec<String>,
}

/// Replaces a user's roles. Tokens issued from now on carry the new scopes;
/// existing tokens keep theirs until they are refreshed.
#[utoipa::path(
    put, path = "/api/admin/users/{id}/roles", tag = "admin",
    security(("bearer" = ["users.admin"])),
    params(("id" = String, Path, description = "The user's id")),
    request_body = RolesRequest,
    responses(
        (status = 200, description = "Roles replaced", body = RolesResponse),
        (status = 400, description = "Unknown role or malformed input", body = ErrorBody),
        (status = 401, description = "Missing, invalid or revoked access token", body = ErrorBody),
        (status = 403, description = "`insufficient_scope`", body = ErrorBody),
        (status = 404, description = "No such user", body = ErrorBody),
        (status = 413, description = "Body too large", body = ErrorBody),
        (status = 415, description = "Body is not JSON", body = ErrorBody),
    )
)]
pub async fn set_roles(
    State(state): State<ApiState>,
    Client(client): Client,
    bearer: Bearer,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<RolesRequest>,
) -> ApiResult<Json<RolesResponse>> {
    bearer.require(SCOPE_USERS_ADMIN)?;

    let mut roles: Vec<Role> = body.roles.into_iter().map(Role::from).collect();
    roles.sort();
    roles.dedup();

    let user_id = UserId(id);
    let store = state.accounts.store();
    if !store.set_user_roles(&user_id, &roles).await? {
        return Err(ApiError::NotFound("User"));
    }
    let names: Vec<String> = roles.iter().map(|role| role.as_str().to_owned()).collect();
    let context = EventContext {
        ip: client.ip.as_deref(),
        user_agent: client.user_agent.as_deref(),
    };
    let detail = format!("roles set to [{}] by {}", names.join(", "), bearer.0.user_id);
    store
        .record_event(
            Some(&user_id),
            event::ROLES_CHANGED,
            &context,
            Some(&detail),
            OffsetDateTime::now_utc(),
        )
        .await?;
    tracing::info!(user.id = %user_id, admin.id = %bearer.0.user_id, roles = ?names, "roles changed");

    Ok(Json(RolesResponse {
        id: user_id.to_string(),
        roles: names,
    }))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct RevokedSessionsResponse {
    /// How many logins ended.
    pub revoked: u64,
}

/// Ends every login of a user, browser sessions and API logins alike, for
/// example when the account is compromised. Its cookies and tokens are
/// rejected from the next request on.
#[utoipa::path(
    delete, path = "/api/admin/users/{id}/sessions", tag = "admin",
    security(("bearer" = ["users.admin"])),
    params(("id" = String, Path, description = "The user's id")),
    responses(
        (status = 200, description = "Every login of the user has ended", body = RevokedSessionsResponse),
        (status = 401, description = "Missing, invalid or revoked access token", body = ErrorBody),
        (status = 403, description = "`insufficient_scope`", body = ErrorBody),
        (status = 404, description = "No such user", body = ErrorBody),
    )
)]
pub async fn revoke_sessions(
    State(state): State<ApiState>,
    Client(client): Client,
    bearer: Bearer,
    Path(id): Path<String>,
) -> ApiResult<Json<RevokedSessionsResponse>> {
    bearer.require(SCOPE_USERS_ADMIN)?;
    match state
        .accounts
        .revoke_logins_as_admin(&UserId(id), &bearer.0.user_id, &client)
        .await
    {
        Ok(revoked) => Ok(Json(RevokedSessionsResponse { revoked })),
        Err(AccountError::NotFound) => Err(ApiError::NotFound("User")),
        Err(error) => Err(error.into()),
    }
}
