//! The Orgo dialect: API Platform 3.4 conventions over `/api/v1/users` — JSON-LD with Hydra
//! collections, merge-patch, content negotiation, problem+json errors — plus logins and user API
//! tokens. See `spec/orgo.md` and `docs/orgo.md`.

mod auth;
mod collection;
pub mod docs;
mod error;
/// Entry points for the fuzz targets in `fuzz/` (not an API).
#[doc(hidden)]
pub mod fuzzing;
mod item;
mod users;

use axum::body::Bytes;
use axum::extract::rejection::PathRejection;
use axum::extract::{FromRequest, FromRequestParts, Path, Request};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};
use usher_core::error::Error;
use usher_core::principal::Principal;

use crate::AppState;
use crate::common::auth::presented_secret;
use crate::common::layers::Around;
use crate::common::routes::{Kind, Routes, get, patch, post};
pub use error::OrgoError;

/// The wire types the OpenAPI document describes (`crate::openapi::orgo`).
pub(crate) mod schema {
    pub(crate) use super::collection::Collection;
    pub(crate) use super::item::UserItem;
}

/// CORS for the Orgo dialect: API Platform clients also PATCH and may send `Api-Token`.
pub const ALLOW_METHODS: &str = "GET, POST, PATCH, DELETE, OPTIONS, PUT";
pub const ALLOW_HEADERS: &str = "authorization, content-type, accept, api-token, preload, fields";
pub const EXPOSE_HEADERS: &str = "authorization, content-type, link, location, content-location";

pub fn owns_path(path: &str) -> bool {
    path == "/api" || path.starts_with("/api/")
}

/// The documentation link every response of the dialect carries (`link`, made once), and its
/// CORS headers.
fn dialect_headers(link: &Option<HeaderValue>, res: &mut Response) {
    let h = res.headers_mut();
    if let Some(link) = link {
        h.append(header::LINK, link.clone());
    }
    h.insert(header::VARY, HeaderValue::from_static("Accept"));
    for (name, value) in [
        ("access-control-allow-methods", ALLOW_METHODS),
        ("access-control-allow-headers", ALLOW_HEADERS),
        ("access-control-expose-headers", EXPOSE_HEADERS),
    ] {
        h.insert(
            header::HeaderName::from_static(name),
            HeaderValue::from_static(value),
        );
    }
}

async fn method_not_allowed() -> OrgoError {
    OrgoError::status(StatusCode::METHOD_NOT_ALLOWED, "Method Not Allowed")
}

pub fn routes(state: &AppState) -> Routes {
    let link = HeaderValue::from_str(&format!(
        "<{}/api/docs.jsonld>; rel=\"http://www.w3.org/ns/hydra/core#apiDocumentation\"",
        state.services.config().public_url
    ))
    .ok();
    let api = Routes::new(Kind::Rest)
        .route("/", get(docs::entrypoint))
        .route("/contexts/{name}", get(docs::context))
        .route("/docs.jsonld", get(docs::hydra_documentation))
        .route("/docs.json", get(docs::openapi))
        .route("/docs", get(docs::docs))
        .route("/v1/users", get(users::list).post(users::create))
        .route(
            "/v1/users/{id}",
            get(users::get_one)
                .patch(users::patch)
                .delete(users::delete),
        )
        .route("/v1/users/{id}/new-email", patch(users::new_email))
        .route(
            "/v1/users/{id}/new-email/confirm",
            post(users::confirm_new_email),
        )
        .route("/v1/users/{id}/new-password", patch(users::new_password))
        .route("/v1/me", get(users::me))
        .route("/v1/login-check", post(auth::login))
        .route("/v1/login", post(auth::login))
        .route("/v1/token/refresh", post(auth::refresh))
        .route(
            "/v1/user-api-tokens",
            get(auth::list_tokens).post(auth::create_token),
        )
        .route(
            "/v1/user-api-tokens/{id}",
            get(auth::get_token).delete(auth::delete_token),
        )
        .route("/v1/user-api-tokens/{id}/revoke", patch(auth::revoke_token))
        .fallback(|| async { OrgoError::not_found() })
        .method_not_allowed_fallback(method_not_allowed);
    Routes::new(Kind::Rest)
        .nest("/api", api)
        // The entrypoint with a trailing slash too, as API Platform serves it (`/api/` is what
        // many clients are configured with); the nested `/` above only matches `/api`.
        .route("/api/", get(docs::entrypoint))
        // Only `/api/` is still without one here: the nested routes have theirs already.
        .method_not_allowed_fallback(method_not_allowed)
        .layer(Around::new(
            |_| (),
            move |(), res: &mut Response| dialect_headers(&link, res),
        ))
}

// ---------- content negotiation ----------

/// The representation a client asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    JsonLd,
    Json,
}

impl Format {
    pub fn content_type(self) -> &'static str {
        match self {
            Format::JsonLd => "application/ld+json; charset=utf-8",
            Format::Json => "application/json; charset=utf-8",
        }
    }
}

/// Picks the best of JSON-LD (the default, also for `*/*`) and JSON from `Accept`; anything else
/// is 406.
pub fn negotiate(headers: &HeaderMap) -> Result<Format, OrgoError> {
    let Some(accept) = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .filter(|s| !s.trim().is_empty())
    else {
        return Ok(Format::JsonLd);
    };
    let mut best: Option<(f32, usize, Format)> = None;
    for (pos, range) in accept.split(',').enumerate() {
        let mut parts = range.split(';');
        let media = parts.next().unwrap_or("").trim().to_ascii_lowercase();
        let q = parts
            .filter_map(|p| {
                p.trim()
                    .strip_prefix("q=")
                    .and_then(|v| v.trim().parse::<f32>().ok())
            })
            .next()
            .unwrap_or(1.0);
        if q <= 0.0 {
            continue;
        }
        let format = match media.as_str() {
            "application/ld+json" | "*/*" | "application/*" => Format::JsonLd,
            "application/json" => Format::Json,
            _ => continue,
        };
        // Higher q wins; then the more specific range; then the earlier one.
        let specificity = usize::from(!media.contains('*'));
        let better = match best {
            None => true,
            Some((bq, bs, _)) => q > bq || (q == bq && specificity > bs),
        };
        if better {
            best = Some((q, specificity, format));
        }
        let _ = pos;
    }
    best.map(|(_, _, f)| f).ok_or_else(|| {
        OrgoError::status(
            StatusCode::NOT_ACCEPTABLE,
            format!(
                "Requested format \"{accept}\" is not supported. Supported MIME types are \"application/ld+json\", \"application/json\"."
            ),
        )
    })
}

/// The negotiated format of a request.
pub struct Negotiated(pub Format);

impl<S: Send + Sync> FromRequestParts<S> for Negotiated {
    type Rejection = OrgoError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        negotiate(&parts.headers).map(Negotiated)
    }
}

/// Serializes a value in the negotiated format.
pub fn respond<T: Serialize>(format: Format, status: StatusCode, value: &T) -> Response {
    match serde_json::to_vec(value) {
        Ok(body) => {
            let mut res = (status, body).into_response();
            res.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static(format.content_type()),
            );
            res
        }
        Err(e) => OrgoError::from(Error::internal(e)).into_response(),
    }
}

// ---------- credentials ----------

/// The authenticated caller, or 401 in API Platform's words.
pub struct OrgoAuth(pub Principal);

impl FromRequestParts<AppState> for OrgoAuth {
    type Rejection = OrgoError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        // Content negotiation fails first, as in API Platform.
        negotiate(&parts.headers)?;
        let api_token = parts.headers.contains_key("api-token")
            && !parts.headers.contains_key(header::AUTHORIZATION);
        let Some(secret) = presented_secret(&parts.headers) else {
            return Err(OrgoError::status(
                StatusCode::UNAUTHORIZED,
                "JWT Token not found",
            ));
        };
        match state.services.auth().authenticate(secret).await {
            Ok(p) => Ok(OrgoAuth(p)),
            Err(Error::Unauthenticated) => Err(OrgoError::status(
                StatusCode::UNAUTHORIZED,
                if api_token {
                    "Invalid API token"
                } else {
                    "Invalid JWT Token"
                },
            )),
            Err(e) => Err(e.into()),
        }
    }
}

// ---------- bodies ----------

/// Which content types a body may have.
#[derive(Debug, Clone, Copy)]
pub enum BodyKind {
    /// POST: JSON-LD or JSON.
    Create,
    /// PATCH: RFC 7396 merge patch only.
    MergePatch,
}

impl BodyKind {
    fn supported(self) -> &'static [&'static str] {
        match self {
            BodyKind::Create => &["application/ld+json", "application/json"],
            BodyKind::MergePatch => &["application/merge-patch+json"],
        }
    }
}

/// A JSON object body, after the content-type check (415) and parsing (400).
pub async fn read_body(
    kind: BodyKind,
    headers: &HeaderMap,
    body: &Bytes,
) -> Result<Map<String, Value>, OrgoError> {
    let ct = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let media = ct
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    if !kind.supported().contains(&media.as_str()) {
        return Err(OrgoError::status(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            format!(
                "The content-type \"{ct}\" is not supported. Supported MIME types are \"{}\".",
                kind.supported().join("\", \"")
            ),
        ));
    }
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(m)) => Ok(m),
        Ok(_) => Err(OrgoError::bad_request("The input data is misformatted.")),
        Err(_) => Err(OrgoError::bad_request("Syntax error")),
    }
}

/// The raw body with its headers, for handlers that check the content type themselves.
pub struct RawBody(pub HeaderMap, pub Bytes);

impl<S: Send + Sync> FromRequest<S> for RawBody {
    type Rejection = OrgoError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let headers = req.headers().clone();
        let bytes = Bytes::from_request(req, state).await.map_err(|e| {
            if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
                OrgoError::status(StatusCode::PAYLOAD_TOO_LARGE, "Request Entity Too Large")
            } else {
                OrgoError::bad_request("Syntax error")
            }
        })?;
        Ok(RawBody(headers, bytes))
    }
}

/// A path parameter (axum's `Path`) whose rejection is the dialect's: a segment axum cannot
/// decode (`%ff`, not UTF-8) names no resource, so it is a problem+json 404 like any unknown id,
/// not axum's plain-text 400.
pub struct OrgoPath<T>(pub T);

impl<T, S> FromRequestParts<S> for OrgoPath<T>
where
    T: DeserializeOwned + Send,
    S: Send + Sync,
{
    type Rejection = OrgoError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        match Path::<T>::from_request_parts(parts, state).await {
            Ok(Path(value)) => Ok(OrgoPath(value)),
            Err(PathRejection::FailedToDeserializePathParams(_)) => Err(OrgoError::not_found()),
            // A route without the parameter its handler reads: a programming error.
            Err(e) => Err(Error::internal(e).into()),
        }
    }
}

/// An id from the path: anything but a positive number names no resource.
pub fn path_id(raw: &str) -> Result<i64, OrgoError> {
    raw.parse::<i64>()
        .ok()
        .filter(|n| *n > 0)
        .ok_or_else(OrgoError::not_found)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn accept(v: &str) -> Result<Format, OrgoError> {
        let mut h = HeaderMap::new();
        h.insert(header::ACCEPT, HeaderValue::from_str(v).unwrap());
        negotiate(&h)
    }

    #[test]
    fn negotiation() {
        assert_eq!(negotiate(&HeaderMap::new()).unwrap(), Format::JsonLd);
        assert_eq!(accept("*/*").unwrap(), Format::JsonLd);
        assert_eq!(accept("application/json").unwrap(), Format::Json);
        assert_eq!(accept("application/ld+json").unwrap(), Format::JsonLd);
        assert_eq!(
            accept("text/html, application/json;q=0.9, */*;q=0.8").unwrap(),
            Format::Json
        );
        assert_eq!(
            accept("application/ld+json;q=0.5, application/json").unwrap(),
            Format::Json
        );
        assert!(accept("text/plain").is_err());
        assert!(accept("application/json;q=0").is_err());
    }
}
