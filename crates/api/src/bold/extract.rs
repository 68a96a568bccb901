//! Extractors whose rejections are already Bold errors.

use axum::extract::rejection::BytesRejection;
use axum::extract::{FromRequest, FromRequestParts, Path, Query, Request};
use axum::http::StatusCode;
use axum::http::request::Parts;
use bytes::Bytes;
use serde::de::DeserializeOwned;
use usher_core::principal::Principal;

use super::error::BoldError;
use crate::AppState;
use crate::common::auth::authenticate;

/// The authenticated caller.
pub struct Auth(pub Principal);

impl FromRequestParts<AppState> for Auth {
    type Rejection = BoldError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        Ok(Auth(authenticate(state, &parts.headers).await?))
    }
}

/// Query parameters; a bad one is a 400 naming it.
pub struct BoldQuery<T>(pub T);

impl<T: DeserializeOwned + Send, S: Send + Sync> FromRequestParts<S> for BoldQuery<T> {
    type Rejection = BoldError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Query::<T>::try_from_uri(&parts.uri)
            .map(|Query(v)| BoldQuery(v))
            .map_err(|e| BoldError::invalid(format!("Invalid query parameter: {}", e.body_text())))
    }
}

/// Path parameters (ids); anything but a number is a 400.
pub struct BoldPath<T>(pub T);

impl<T: DeserializeOwned + Send, S: Send + Sync> FromRequestParts<S> for BoldPath<T> {
    type Rejection = BoldError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        Path::<T>::from_request_parts(parts, state)
            .await
            .map(|Path(v)| BoldPath(v))
            .map_err(|_| BoldError::invalid("Invalid id: the path must hold a number"))
    }
}

async fn body_bytes(req: Request, state: &AppState) -> Result<Bytes, BoldError> {
    Bytes::from_request(req, state).await.map_err(|e| match e {
        BytesRejection::FailedToBufferBody(_) if e.status() == StatusCode::PAYLOAD_TOO_LARGE => {
            BoldError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "PayloadTooLarge",
                "Request body too large",
            )
        }
        _ => BoldError::invalid("Could not read the request body"),
    })
}

pub(super) fn parse<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, BoldError> {
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let value = serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        if inner.is_syntax() || inner.is_eof() {
            BoldError::invalid("Invalid JSON body")
        } else if path == "." {
            BoldError::invalid("Invalid value: body")
        } else {
            BoldError::invalid(format!("Invalid value: {path}"))
        }
    })?;
    de.end()
        .map_err(|_| BoldError::invalid("Invalid JSON body"))?;
    Ok(value)
}

pub(super) fn first_byte(bytes: &[u8]) -> Option<u8> {
    bytes.iter().copied().find(|b| !b.is_ascii_whitespace())
}

/// A JSON object body. Unknown fields are ignored; a body that is not a JSON object, or a field
/// of the wrong type, is a 400 naming the field.
pub struct BoldJson<T>(pub T);

impl<T: DeserializeOwned> FromRequest<AppState> for BoldJson<T> {
    type Rejection = BoldError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, Self::Rejection> {
        let bytes = body_bytes(req, state).await?;
        match first_byte(&bytes) {
            None => Err(BoldError::invalid("A JSON body is required")),
            Some(b'{') => parse(&bytes).map(BoldJson),
            Some(_) => Err(BoldError::invalid("The body must be a JSON object")),
        }
    }
}

/// A JSON array body.
pub struct BoldJsonArray<T>(pub T);

impl<T: DeserializeOwned> FromRequest<AppState> for BoldJsonArray<T> {
    type Rejection = BoldError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, Self::Rejection> {
        let bytes = body_bytes(req, state).await?;
        match first_byte(&bytes) {
            None => Err(BoldError::invalid("A JSON body is required")),
            Some(b'[') => parse(&bytes).map(BoldJsonArray),
            Some(_) => Err(BoldError::invalid("The body must be a JSON array")),
        }
    }
}
