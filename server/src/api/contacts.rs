//! `/api/contacts`: a small per-user resource that shows how a resource
//! server checks scopes.

use axum::{extract::State, http::StatusCode, Json};
use latchkey_core::{
    roles::{SCOPE_CONTACTS_READ, SCOPE_CONTACTS_WRITE},
    store::Contact,
    validate::{normalize_display_name, normalize_email},
};
use serde::{Deserialize, Serialize};
use time::{format_description::well_known::Rfc3339, OffsetDateTime};
use utoipa::ToSchema;

use super::{
    error::{ApiError, ApiResult, ErrorBody},
    extract::{ApiJson, Bearer},
    ApiState,
};

#[derive(Debug, Serialize, ToSchema)]
pub struct ContactBody {
    pub id: String,
    pub name: String,
    pub email: Option<String>,
    /// RFC 3339 time of creation.
    pub created_at: String,
}

impl From<Contact> for ContactBody {
    fn from(contact: Contact) -> Self {
        Self {
            id: contact.id,
            name: contact.name,
            email: contact.email,
            created_at: contact.created_at.format(&Rfc3339).unwrap_or_default(),
        }
    }
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct NewContact {
    /// 1 to 100 characters.
    #[schema(example = "Bob Stone", min_length = 1, max_length = 100)]
    pub name: String,
    #[schema(example = "bob@example.com", format = Email, max_length = 254)]
    pub email: Option<String>,
}

/// Lists the caller's contacts. Needs the scope `contacts.read`.
#[utoipa::path(
    get, path = "/api/contacts", tag = "contacts",
    security(("bearer" = ["contacts.read"])),
    responses(
        (status = 200, description = "The caller's contacts", body = [ContactBody]),
        (status = 401, description = "Missing, invalid or revoked access token", body = ErrorBody),
        (status = 403, description = "`insufficient_scope`", body = ErrorBody),
    )
)]
pub async fn list(State(state): State<ApiState>, bearer: Bearer) -> ApiResult<Json<Vec<ContactBody>>> {
    bearer.require(SCOPE_CONTACTS_READ)?;
    let contacts = state.accounts.store().list_contacts(&bearer.0.user_id).await?;
    Ok(Json(contacts.into_iter().map(ContactBody::from).collect()))
}

/// Adds a contact. Needs the scope `contacts.write`.
#[utoipa::path(
    post, path = "/api/contacts", tag = "contacts",
    security(("bearer" = ["contacts.write"])),
    request_body = NewContact,
    responses(
        (status = 201, description = "Contact created", body = ContactBody),
        (status = 400, description = "Invalid or malformed input", body = ErrorBody),
        (status = 401, description = "Missing, invalid or revoked access token", body = ErrorBody),
        (status = 403, description = "`insufficient_scope`", body = ErrorBody),
        (status = 413, description = "Body too large", body = ErrorBody),
        (status = 415, description = "Body is not JSON", body = ErrorBody),
    )
)]
pub async fn create(
    State(state): State<ApiState>,
    bearer: Bearer,
    ApiJson(body): ApiJson<NewContact>,
) -> ApiResult<(StatusCode, Json<ContactBody>)> {
    bearer.require(SCOPE_CONTACTS_WRITE)?;

    let mut errors = latchkey_core::validate::FieldErrors::new();
    let name = errors.check("name", normalize_display_name(&body.name));
    let email = match body.email.as_deref() {
        Some(email) => errors.check("email", normalize_email(email)),
        None => None,
    };
    let Some(name) = name.filter(|_| errors.is_empty()) else {
        return Err(ApiError::fields(&errors));
    };

    let contact = state
        .accounts
        .store()
        .insert_contact(&bearer.0.user_id, &name, email.as_deref(), OffsetDateTime::now_utc())
        .await?;
    Ok((StatusCode::CREATED, Json(ContactBody::from(contact))))
}
