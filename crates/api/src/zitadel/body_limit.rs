//! The request-size limit of the Zitadel calls (Connect, gRPC, gRPC-Web), in the dialect's own
//! error shape. connectrpc has a limit of its own, but its `resource_exhausted` carries no
//! `zitadel.v1.ErrorDetail`; so a body over the limit is replaced here by an empty message and the
//! request marked [`TooLarge`]: the handler answers `resource_exhausted` / `REQUEST-TOO-LARGE`
//! like every other error, rendered by connectrpc in the protocol the client speaks.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use axum::body::{Body, to_bytes};
use axum::extract::Request;
use axum::http::{HeaderMap, header};
use tower::Service;

/// Marks a request whose body was over the limit (its value: the limit, in bytes).
#[derive(Debug, Clone, Copy)]
pub struct TooLarge(pub usize);

/// Marks a request whose JSON message has the wrong shape (see [`json_shape_error`]); the value
/// says where and why.
#[derive(Debug, Clone)]
pub struct BadShape(pub String);

/// Why the JSON text of the request message `message` (a full name) does not have proto3 JSON's
/// shape. The serde derive of the generated messages would also read an array where a message
/// belongs, positionally (`[{"limit": 2}]` as `ListUsersRequest.query`, `"profile": ["Ann",
/// "Lee"]`); the REST gateway and [`BodyLimit`] refuse it first.
pub fn json_shape_error(message: &str, json: &[u8]) -> Option<String> {
    usher_zitadel_proto::json_shape::shape_error(message, json)
}

/// The shape error of a buffered Connect or gRPC(-Web) JSON request to `path` (which ends in the
/// method's name). A compressed body is left to the decoder.
fn json_request_error(path: &str, headers: &HeaderMap, body: &[u8]) -> Option<String> {
    let ct = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    if !ct.contains("json") {
        return None;
    }
    let method = path.rsplit('/').next().unwrap_or_default();
    let message = usher_zitadel_proto::json_shape::input_type(method)?;
    if ct.starts_with("application/grpc") {
        // One uncompressed frame: flag 0, four length bytes, the message.
        match body {
            [0, _, _, _, _, json @ ..] => json_shape_error(message, json),
            _ => None,
        }
    } else {
        let compressed = headers
            .get(header::CONTENT_ENCODING)
            .is_some_and(|v| v.as_bytes() != b"identity");
        if compressed {
            None
        } else {
            json_shape_error(message, body)
        }
    }
}

/// An empty message in the request's framing: `{}` for Connect JSON, nothing for Connect proto,
/// one empty frame for gRPC and gRPC-Web.
pub fn empty_message(headers: &HeaderMap) -> &'static [u8] {
    let ct = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let json = ct.contains("json");
    if ct.starts_with("application/grpc") {
        if json {
            b"\0\0\0\0\x02{}"
        } else {
            b"\0\0\0\0\0"
        }
    } else if json {
        b"{}"
    } else {
        b""
    }
}

/// Replaces `parts`' body by an empty message and marks the request [`TooLarge`].
pub fn mark_too_large(parts: &mut axum::http::request::Parts, limit: usize) -> Body {
    parts.extensions.insert(TooLarge(limit));
    for name in [
        "content-encoding",
        "grpc-encoding",
        "connect-content-encoding",
    ] {
        parts.headers.remove(name);
    }
    Body::from(empty_message(&parts.headers))
}

#[derive(Clone)]
pub struct BodyLimit<S> {
    inner: S,
    limit: usize,
}

impl<S> BodyLimit<S> {
    pub fn new(inner: S, limit: usize) -> Self {
        Self { inner, limit }
    }
}

impl<S> Service<Request> for BodyLimit<S>
where
    S: Service<Request, Response = axum::response::Response, Error = Infallible>
        + Clone
        + Send
        + 'static,
    S::Future: Send + 'static,
{
    type Response = axum::response::Response;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<S::Response, Infallible>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request) -> Self::Future {
        let mut inner = self.inner.clone();
        std::mem::swap(&mut inner, &mut self.inner);
        let limit = self.limit;
        Box::pin(async move {
            let (mut parts, body) = req.into_parts();
            let body = if parts.extensions.get::<TooLarge>().is_some() {
                body
            } else {
                match to_bytes(body, limit).await {
                    Ok(bytes) => {
                        match json_request_error(parts.uri.path(), &parts.headers, &bytes) {
                            Some(why) => {
                                parts.headers.remove(header::CONTENT_LENGTH);
                                parts.extensions.insert(BadShape(why));
                                Body::from(empty_message(&parts.headers))
                            }
                            None => Body::from(bytes),
                        }
                    }
                    // Over the limit (or a body that broke off: nobody reads that answer).
                    Err(_) => {
                        parts.headers.remove(header::CONTENT_LENGTH);
                        mark_too_large(&mut parts, limit)
                    }
                }
            };
            let unread = parts.extensions.get::<TooLarge>().is_some();
            let mut res = inner.call(Request::from_parts(parts, body)).await?;
            if unread {
                res.extensions_mut()
                    .insert(crate::common::layers::BodyLeftUnread);
            }
            Ok(res)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    #[test]
    fn json_shapes_are_checked_in_each_framing() {
        let of = |path: &str, ct: &str, encoding: Option<&str>, body: &[u8]| {
            let mut h = HeaderMap::new();
            h.insert(header::CONTENT_TYPE, HeaderValue::from_str(ct).unwrap());
            if let Some(e) = encoding {
                h.insert(header::CONTENT_ENCODING, HeaderValue::from_str(e).unwrap());
            }
            json_request_error(path, &h, body).is_some()
        };
        let list = "/zitadel.user.v2.UserService/ListUsers";
        let add = "/zitadel/zitadel.user.v2.UserService/AddHumanUser";
        assert!(of(list, "application/json", None, b"[]"));
        assert!(of(
            list,
            "application/json; charset=utf-8",
            None,
            b" \n[{\"limit\":2}]"
        ));
        assert!(of(list, "application/json", Some("identity"), b"[]"));
        assert!(of(
            list,
            "application/grpc-web+json",
            None,
            b"\0\0\0\0\x02[]"
        ));
        assert!(of(list, "application/grpc+json", None, b"\0\0\0\0\x03 []"));
        assert!(of(list, "application/json", None, b"{\"query\": [0, 2]}"));
        assert!(of(
            add,
            "application/json",
            None,
            b"{\"profile\": [\"Ann\", \"Lee\"]}"
        ));
        assert!(!of(add, "application/json", None, b"{\"profile\": {}}"));
        assert!(!of(list, "application/json", None, b"{}"));
        assert!(!of(list, "application/json", None, b"\"[\""));
        assert!(!of(list, "application/json", None, b""));
        assert!(!of(list, "application/json", Some("gzip"), b"[]"));
        assert!(!of(list, "application/proto", None, b"[]"));
        assert!(!of(
            list,
            "application/grpc+json",
            None,
            b"\x01\0\0\0\x02[]"
        ));
        assert!(!of(
            "/zitadel.user.v2.UserService/Nothing",
            "application/json",
            None,
            b"[]"
        ));
    }

    #[test]
    fn empty_messages_per_protocol() {
        let of = |ct: &str| {
            let mut h = HeaderMap::new();
            h.insert(header::CONTENT_TYPE, HeaderValue::from_str(ct).unwrap());
            empty_message(&h)
        };
        assert_eq!(of("application/json"), b"{}");
        assert_eq!(of("application/proto"), b"");
        assert_eq!(of("application/grpc"), b"\0\0\0\0\0");
        assert_eq!(of("application/grpc+proto"), b"\0\0\0\0\0");
        assert_eq!(of("application/grpc-web+proto"), b"\0\0\0\0\0");
        assert_eq!(of("application/grpc-web+json"), b"\0\0\0\0\x02{}");
    }
}
