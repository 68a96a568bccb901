//! Reading the credential of a request. Every dialect authenticates the same way; only the
//! rejection's shape differs.

use axum::http::HeaderMap;
use axum::http::header::AUTHORIZATION;
use usher_core::Result;
use usher_core::error::Error;
use usher_core::principal::Principal;

use crate::AppState;

/// The secret from `Authorization: Bearer <secret>` or `Api-Token: <secret>`.
pub fn presented_secret(headers: &HeaderMap) -> Option<&str> {
    if let Some(v) = headers.get(AUTHORIZATION).and_then(|v| v.to_str().ok()) {
        let v = v.trim();
        let (scheme, rest) = v.split_once(' ')?;
        if scheme.eq_ignore_ascii_case("bearer") {
            let secret = rest.trim();
            return (!secret.is_empty()).then_some(secret);
        }
        return None;
    }
    headers
        .get("api-token")
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|s| !s.is_empty())
}

/// The principal behind the request's credential.
pub async fn authenticate(state: &AppState, headers: &HeaderMap) -> Result<Principal> {
    let secret = presented_secret(headers).ok_or(Error::Unauthenticated)?;
    state.services.auth().authenticate(secret).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    #[test]
    fn secrets_are_read_from_both_headers() {
        let mut h = HeaderMap::new();
        assert_eq!(presented_secret(&h), None);
        h.insert(AUTHORIZATION, HeaderValue::from_static("Bearer abc"));
        assert_eq!(presented_secret(&h), Some("abc"));
        h.insert(AUTHORIZATION, HeaderValue::from_static("bearer   abc "));
        assert_eq!(presented_secret(&h), Some("abc"));
        h.insert(AUTHORIZATION, HeaderValue::from_static("Basic abc"));
        assert_eq!(presented_secret(&h), None);
        h.insert(AUTHORIZATION, HeaderValue::from_static("Bearer "));
        assert_eq!(presented_secret(&h), None);
        let mut h = HeaderMap::new();
        h.insert("api-token", HeaderValue::from_static("xyz"));
        assert_eq!(presented_secret(&h), Some("xyz"));
    }
}
