//! Entry points for the fuzz targets in `fuzz/` (not an API): what an Orgo request body goes
//! through before any service call.

use axum::body::Bytes;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::IntoResponse;
use usher_core::types::Timestamp;

use super::{BodyKind, Format, item, read_body, users};

/// A `POST` (`merge_patch` false) or `PATCH` body of `/api/v1/users` with its `Content-Type`, as
/// the handler reads it: the media type (415), the JSON object (400) and every member's check
/// (422). The error's status on failure.
pub fn user_body(merge_patch: bool, content_type: &str, bytes: &[u8]) -> Result<(), StatusCode> {
    let kind = if merge_patch {
        BodyKind::MergePatch
    } else {
        BodyKind::Create
    };
    let mut headers = HeaderMap::new();
    if let Ok(v) = HeaderValue::from_str(content_type) {
        headers.insert(header::CONTENT_TYPE, v);
    }
    let bytes = Bytes::copy_from_slice(bytes);
    let status = |e: super::error::OrgoError| e.into_response().status();
    let body = futures::executor::block_on(read_body(kind, &headers, &bytes)).map_err(status)?;
    users::user_input(&body, true).map(drop).map_err(status)
}

/// `Accept` negotiation.
pub fn negotiate(accept: &str) -> Result<Format, StatusCode> {
    let mut headers = HeaderMap::new();
    if let Ok(v) = HeaderValue::from_str(accept) {
        headers.insert(header::ACCEPT, v);
    }
    super::negotiate(&headers).map_err(|e| e.into_response().status())
}

/// A birth date (`dateBirth`): RFC 3339, `YYYY-MM-DD`, or a date and time without an offset (UTC).
pub fn parse_date(text: &str) -> Option<Timestamp> {
    item::parse_date(text)
}
