//! `/v1/organization`, `/v1/organizations` and `/v1/api-keys`.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use usher_core::error::{Field, Validator};
use usher_core::model::ApiKey;
use usher_core::service::KeyDraft;
use usher_core::types::{ApiKeyId, OrgId, UserId};

use super::error::BoldError;
use super::extract::{Auth, BoldJson, BoldPath};
use super::wire::*;
use crate::AppState;

/// `GET /v1/organization`: the caller's own.
pub(super) async fn own(
    State(state): State<AppState>,
    Auth(p): Auth,
) -> Result<Json<OrganizationOut>, BoldError> {
    Ok(Json(state.services.own_organization(&p).await?.into()))
}

/// `GET /v1/organizations/{id}`.
pub(super) async fn get_one(
    State(state): State<AppState>,
    Auth(p): Auth,
    BoldPath(id): BoldPath<i64>,
) -> Result<Json<OrganizationOut>, BoldError> {
    Ok(Json(
        state.services.get_organization(&p, OrgId(id)).await?.into(),
    ))
}

/// `GET /v1/organizations`: all for an instance admin, else the caller's own.
pub(super) async fn list(
    State(state): State<AppState>,
    Auth(p): Auth,
) -> Result<Json<Vec<OrganizationOut>>, BoldError> {
    Ok(Json(
        state
            .services
            .list_organizations(&p)
            .await?
            .into_iter()
            .map(Into::into)
            .collect(),
    ))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub(crate) struct OrgBody {
    name: Option<String>,
}

/// `POST /v1/organizations` → 201 `{"id"}` (instance admins only).
pub(super) async fn create(
    State(state): State<AppState>,
    Auth(p): Auth,
    BoldJson(body): BoldJson<OrgBody>,
) -> Result<(StatusCode, Json<IdOut>), BoldError> {
    let mut v = Validator::new();
    let name = opt_text(&mut v, Field::Name, body.name, NAME_MAX);
    v.finish()?;
    let org = state
        .services
        .create_organization(&p, name.unwrap_or_default())
        .await?;
    Ok((StatusCode::CREATED, Json(IdOut { id: org.id.0 })))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct KeyBody {
    name: Option<String>,
    organization_id: Option<i64>,
    read_only: Option<bool>,
    expiration: Option<String>,
    user_id: Option<i64>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct CreatedKey {
    id: i64,
    token: String,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct KeyOut {
    id: i64,
    name: String,
    organization_id: Option<i64>,
    user_id: Option<i64>,
    read_only: bool,
    instance_admin: bool,
    expiration: Option<String>,
    date_created: String,
}

impl From<ApiKey> for KeyOut {
    fn from(k: ApiKey) -> Self {
        KeyOut {
            id: k.id.0,
            name: k.name,
            organization_id: k.org_id.map(|o| o.0),
            user_id: k.user_id.map(|u| u.0),
            read_only: k.read_only,
            instance_admin: k.instance_admin,
            expiration: k.expires_at.map(|t| t.rfc3339()),
            date_created: k.created_at.rfc3339(),
        }
    }
}

/// `POST /v1/api-keys` → 201 `{"id", "token"}`; the token is shown only here.
pub(super) async fn create_key(
    State(state): State<AppState>,
    Auth(p): Auth,
    BoldJson(body): BoldJson<KeyBody>,
) -> Result<(StatusCode, Json<CreatedKey>), BoldError> {
    let mut v = Validator::new();
    let draft = KeyDraft {
        name: opt_text(&mut v, Field::Name, body.name, TEXT_MAX).unwrap_or_default(),
        org: body.organization_id.map(OrgId),
        read_only: body.read_only.unwrap_or(false),
        expiration: opt_time(&mut v, Field::Expiration, body.expiration),
        user: body.user_id.map(UserId),
        instance_admin: false,
    };
    v.finish()?;
    let k = state.services.create_key(&p, draft).await?;
    Ok((
        StatusCode::CREATED,
        Json(CreatedKey {
            id: k.key.id.0,
            token: k.secret,
        }),
    ))
}

/// `GET /v1/api-keys` (never the secret).
pub(super) async fn list_keys(
    State(state): State<AppState>,
    Auth(p): Auth,
) -> Result<Json<Vec<KeyOut>>, BoldError> {
    Ok(Json(
        state
            .services
            .list_keys(&p)
            .await?
            .into_iter()
            .map(Into::into)
            .collect(),
    ))
}

/// `DELETE /v1/api-keys/{id}` → `{}`.
pub(super) async fn delete_key(
    State(state): State<AppState>,
    Auth(p): Auth,
    BoldPath(id): BoldPath<i64>,
) -> Result<Json<Empty>, BoldError> {
    state.services.delete_key(&p, ApiKeyId(id)).await?;
    Ok(Json(Empty {}))
}
