//! Logins (`login-check`, `login`), token refresh, and users' API tokens.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde_json::Value;
use usher_core::error::{Error, Field, FieldError, Validator};
use usher_core::model::ApiKey;
use usher_core::service::UserTokenDraft;
use usher_core::types::{ApiKeyId, Timestamp};

use super::collection::Collection;
use super::item::api_date;
use super::{
    BodyKind, Format, Negotiated, OrgoAuth, OrgoError, OrgoPath, RawBody, path_id, read_body,
    respond,
};
use crate::AppState;

/// The token pair of a login or refresh (LexikJWT + refresh-token bundle shape).
#[derive(Serialize)]
struct Tokens {
    token: String,
    refresh_token: String,
}

/// Authentication failures in the shape Orgo's login answers them (`{"code": 401, "message"}`).
fn login_failed(message: &str) -> Response {
    (
        StatusCode::UNAUTHORIZED,
        axum::Json(serde_json::json!({"code": 401, "message": message})),
    )
        .into_response()
}

fn json_object(
    headers: &HeaderMap,
    body: &Bytes,
) -> Result<serde_json::Map<String, Value>, OrgoError> {
    let ct = headers
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if !ct.to_ascii_lowercase().starts_with("application/json")
        && !ct.to_ascii_lowercase().starts_with("application/ld+json")
    {
        return Err(OrgoError::status(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            format!(
                "The content-type \"{ct}\" is not supported. Supported MIME types are \"application/json\"."
            ),
        ));
    }
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(m)) => Ok(m),
        Ok(_) => Err(OrgoError::bad_request("The input data is misformatted.")),
        Err(_) => Err(OrgoError::bad_request("Syntax error")),
    }
}

/// `POST /api/v1/login-check` and `/api/v1/login`: `{"username", "password"}` → `{"token",
/// "refresh_token"}`. Unknown users and wrong passwords get the same answer; repeated failures
/// answer 429 with `Retry-After`.
pub(super) async fn login(
    State(state): State<AppState>,
    RawBody(headers, body): RawBody,
) -> Response {
    let body = match json_object(&headers, &body) {
        Ok(b) => b,
        Err(e) => return e.into_response(),
    };
    let (Some(username), Some(password)) = (
        body.get("username").and_then(Value::as_str),
        body.get("password").and_then(Value::as_str),
    ) else {
        return OrgoError::bad_request("The key \"username\" and \"password\" must be provided.")
            .into_response();
    };
    match state.services.login(username, password).await {
        Ok(pair) => axum::Json(Tokens {
            token: pair.access,
            refresh_token: pair.refresh,
        })
        .into_response(),
        Err(Error::Unauthenticated) => login_failed("Invalid credentials."),
        Err(e) => OrgoError::from(e).into_response(),
    }
}

/// `POST /api/v1/token/refresh` `{"refresh_token"}` → a new pair; the used refresh token is gone.
pub(super) async fn refresh(
    State(state): State<AppState>,
    RawBody(headers, body): RawBody,
) -> Response {
    let body = match json_object(&headers, &body) {
        Ok(b) => b,
        Err(e) => return e.into_response(),
    };
    let Some(token) = body.get("refresh_token").and_then(Value::as_str) else {
        return login_failed("Missing JWT Refresh Token");
    };
    match state.services.refresh(token).await {
        Ok(pair) => axum::Json(Tokens {
            token: pair.access,
            refresh_token: pair.refresh,
        })
        .into_response(),
        Err(Error::Unauthenticated) => login_failed("JWT Refresh Token Not Found"),
        Err(e) => OrgoError::from(e).into_response(),
    }
}

/// A `UserApiToken` item; the raw token appears only in the create answer.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct TokenItem {
    #[serde(rename = "@context", skip_serializing_if = "Option::is_none")]
    context: Option<&'static str>,
    #[serde(rename = "@id", skip_serializing_if = "Option::is_none")]
    iri: Option<String>,
    #[serde(rename = "@type", skip_serializing_if = "Option::is_none")]
    kind: Option<&'static str>,
    id: i64,
    name: String,
    expires_at: Option<String>,
    last_used_at: Option<String>,
    is_active: bool,
    is_read_only: bool,
    date_created: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    token: Option<String>,
}

fn token_item(
    k: &ApiKey,
    format: Format,
    member: bool,
    now: Timestamp,
    token: Option<String>,
) -> TokenItem {
    let ld = format == Format::JsonLd;
    TokenItem {
        context: (ld && !member).then_some("/api/contexts/UserApiToken"),
        iri: ld.then(|| format!("/api/v1/user-api-tokens/{}", k.id)),
        kind: ld.then_some("UserApiToken"),
        id: k.id.0,
        name: k.name.clone(),
        expires_at: k.expires_at.map(api_date),
        last_used_at: k.last_used_at.map(api_date),
        is_active: k.revoked_at.is_none() && k.expires_at.is_none_or(|t| t > now),
        is_read_only: k.read_only,
        date_created: api_date(k.created_at),
        token,
    }
}

/// `GET /api/v1/user-api-tokens`.
pub(super) async fn list_tokens(
    State(state): State<AppState>,
    OrgoAuth(p): OrgoAuth,
    Negotiated(format): Negotiated,
) -> Result<Response, OrgoError> {
    let keys = state.services.list_user_tokens(&p).await?;
    let now = state.services.clock().now();
    Ok(match format {
        Format::Json => {
            let items: Vec<_> = keys
                .iter()
                .map(|k| token_item(k, format, true, now, None))
                .collect();
            respond(format, StatusCode::OK, &items)
        }
        Format::JsonLd => respond(
            format,
            StatusCode::OK,
            &Collection {
                context: "/api/contexts/UserApiToken",
                id: "/api/v1/user-api-tokens",
                kind: "hydra:Collection",
                total: keys.len() as u64,
                member: keys
                    .iter()
                    .map(|k| token_item(k, format, true, now, None))
                    .collect(),
                view: None,
                search: None,
            },
        ),
    })
}

/// `GET /api/v1/user-api-tokens/{id}`.
pub(super) async fn get_token(
    State(state): State<AppState>,
    OrgoAuth(p): OrgoAuth,
    Negotiated(format): Negotiated,
    OrgoPath(id): OrgoPath<String>,
) -> Result<Response, OrgoError> {
    let id = path_id(&id)?;
    let keys = state.services.list_user_tokens(&p).await?;
    let key = keys
        .into_iter()
        .find(|k| k.id.0 == id)
        .ok_or_else(OrgoError::not_found)?;
    let now = state.services.clock().now();
    Ok(respond(
        format,
        StatusCode::OK,
        &token_item(&key, format, false, now, None),
    ))
}

/// `POST /api/v1/user-api-tokens` `{"name", "expiresAt", "isReadOnly"}` → 201 with the token.
pub(super) async fn create_token(
    State(state): State<AppState>,
    OrgoAuth(p): OrgoAuth,
    Negotiated(format): Negotiated,
    RawBody(headers, bytes): RawBody,
) -> Result<Response, OrgoError> {
    let body = read_body(BodyKind::Create, &headers, &bytes).await?;
    let mut v = Validator::new();
    let name = match body.get("name") {
        Some(Value::String(s)) if !s.trim().is_empty() && s.chars().count() <= 255 => {
            Some(s.clone())
        }
        Some(Value::String(s)) if !s.trim().is_empty() => {
            v.push(FieldError::new(
                Field::Wire("name".into()),
                "too_long",
                "This value is too long. It should have 255 characters or less.",
            ));
            None
        }
        _ => {
            v.push(FieldError::new(
                Field::Wire("name".into()),
                "required",
                "blank",
            ));
            None
        }
    };
    let expires_at = match body.get("expiresAt") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => match Timestamp::parse(s) {
            Ok(t) => Some(t),
            Err(_) => {
                v.push(FieldError::new(
                    Field::Wire("expiresAt".into()),
                    "invalid_datetime",
                    "invalid",
                ));
                None
            }
        },
        Some(_) => {
            v.push(FieldError::new(
                Field::Wire("expiresAt".into()),
                "invalid_type",
                "This value should be of type string.",
            ));
            None
        }
    };
    let read_only = match body.get("isReadOnly") {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => *b,
        Some(_) => {
            v.push(FieldError::new(
                Field::Wire("isReadOnly".into()),
                "invalid_type",
                "This value should be of type bool.",
            ));
            false
        }
    };
    v.finish()?;
    let new = state
        .services
        .create_user_token(
            &p,
            UserTokenDraft {
                name: name.unwrap_or_default(),
                expires_at,
                read_only,
            },
        )
        .await
        .map_err(|e| match e {
            Error::Invalid(mut fields) => {
                for f in &mut fields {
                    if f.field == Field::Expiration {
                        f.field = Field::Wire("expiresAt".into());
                    }
                }
                OrgoError::from(Error::Invalid(fields))
            }
            other => other.into(),
        })?;
    let now = state.services.clock().now();
    Ok(respond(
        format,
        StatusCode::CREATED,
        &token_item(&new.key, format, false, now, Some(new.secret)),
    ))
}

/// `PATCH /api/v1/user-api-tokens/{id}/revoke` → the token, inactive.
pub(super) async fn revoke_token(
    State(state): State<AppState>,
    OrgoAuth(p): OrgoAuth,
    Negotiated(format): Negotiated,
    OrgoPath(id): OrgoPath<String>,
    RawBody(headers, bytes): RawBody,
) -> Result<Response, OrgoError> {
    if !bytes.iter().all(u8::is_ascii_whitespace) {
        read_body(BodyKind::MergePatch, &headers, &bytes).await?;
    }
    let id = path_id(&id)?;
    let key = state.services.revoke_user_token(&p, ApiKeyId(id)).await?;
    let now = state.services.clock().now();
    Ok(respond(
        format,
        StatusCode::OK,
        &token_item(&key, format, false, now, None),
    ))
}

/// `DELETE /api/v1/user-api-tokens/{id}` → 204.
pub(super) async fn delete_token(
    State(state): State<AppState>,
    OrgoAuth(p): OrgoAuth,
    OrgoPath(id): OrgoPath<String>,
) -> Result<Response, OrgoError> {
    let id = path_id(&id)?;
    state.services.delete_user_token(&p, ApiKeyId(id)).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}
