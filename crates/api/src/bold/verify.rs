//! Verification codes and the delivery queue, in Bold's style (**decision**: Bold's public pages
//! do not document these routes).

use axum::Json;
use axum::extract::State;
use serde::{Deserialize, Serialize};
use usher_core::error::{Field, FieldError, Validator};
use usher_core::model::CodePurpose;
use usher_core::ports::{OutboxQuery, OutboxRecord};
use usher_core::types::UserId;

use super::error::BoldError;
use super::extract::{Auth, BoldJson, BoldPath, BoldQuery};
use super::users::paging;
use super::wire::Empty;
use crate::AppState;

#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub(crate) struct CodeBody {
    code: Option<String>,
}

async fn verify(
    state: &AppState,
    p: &usher_core::principal::Principal,
    id: i64,
    purpose: CodePurpose,
    body: CodeBody,
) -> Result<Json<Empty>, BoldError> {
    let mut v = Validator::new();
    let code = body.code.filter(|c| !c.trim().is_empty());
    if code.is_none() {
        v.push(FieldError::required(Field::Code));
    }
    v.finish()?;
    state
        .services
        .verify_code_as(p, UserId(id), purpose, code.as_deref().unwrap_or(""))
        .await?;
    Ok(Json(Empty {}))
}

/// `POST /v1/users/{id}/email/verify` `{"code"}` → `{}`: marks the email address verified.
pub(super) async fn verify_email(
    State(state): State<AppState>,
    Auth(p): Auth,
    BoldPath(id): BoldPath<i64>,
    BoldJson(body): BoldJson<CodeBody>,
) -> Result<Json<Empty>, BoldError> {
    verify(&state, &p, id, CodePurpose::EmailVerification, body).await
}

/// `POST /v1/users/{id}/phone/verify` `{"code"}` → `{}`: marks the phone number verified.
pub(super) async fn verify_phone(
    State(state): State<AppState>,
    Auth(p): Auth,
    BoldPath(id): BoldPath<i64>,
    BoldJson(body): BoldJson<CodeBody>,
) -> Result<Json<Empty>, BoldError> {
    verify(&state, &p, id, CodePurpose::PhoneVerification, body).await
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct OutboxParams {
    /// `pending`, `sent`, `failed` or `cancelled` (default: all).
    status: Option<String>,
    /// Rows to skip (default 0).
    offset: Option<i64>,
    /// Rows per page: 1 to 100 (default 50).
    size: Option<i64>,
}

/// A message in the delivery queue (never its rendered text or codes).
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct OutboxOut {
    id: String,
    channel: &'static str,
    template: String,
    language: &'static str,
    recipient: String,
    user_id: Option<i64>,
    organization_id: Option<i64>,
    status: String,
    attempts: i32,
    last_error: Option<String>,
    next_attempt: Option<String>,
    date_created: String,
    date_sent: Option<String>,
}

impl From<OutboxRecord> for OutboxOut {
    fn from(r: OutboxRecord) -> Self {
        let m = r.message;
        OutboxOut {
            id: m.id,
            channel: m.channel.as_str(),
            template: m.template,
            language: m.language.as_str(),
            recipient: m.recipient,
            user_id: m.user_id.map(|u| u.0),
            organization_id: m.org_id.map(|o| o.0),
            next_attempt: (r.status == "pending").then(|| r.next_attempt_at.rfc3339()),
            status: r.status,
            attempts: r.attempts,
            last_error: r.last_error,
            date_created: m.created_at.rfc3339(),
            date_sent: r.sent_at.map(|t| t.rfc3339()),
        }
    }
}

/// `GET /v1/outbox?status=pending|sent|failed|cancelled&offset=&size=` (admins).
pub(super) async fn outbox(
    State(state): State<AppState>,
    Auth(p): Auth,
    BoldQuery(q): BoldQuery<OutboxParams>,
) -> Result<Json<Vec<OutboxOut>>, BoldError> {
    let (offset, limit, _) = paging(q.offset, q.size, None)?;
    let list = state
        .services
        .list_outbox(
            &p,
            OutboxQuery {
                status: q.status,
                org: None,
                offset,
                limit,
            },
        )
        .await?;
    Ok(Json(list.into_iter().map(Into::into).collect()))
}
