//! gRPC-Web *text* mode (`application/grpc-web-text`, used by Google's grpc-web JavaScript
//! client): the same frames as binary gRPC-Web, base64-encoded. connectrpc serves binary gRPC-Web
//! only, so this adapter decodes the request body, hands a binary request to the service, and
//! encodes the answer back. Everything else passes through untouched.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use axum::body::{Body, to_bytes};
use axum::extract::Request;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64ct::{Base64, Encoding};
use tower::Service;
use usher_zitadel_proto::connectrpc::ErrorCode;

#[derive(Clone)]
pub struct GrpcWebText<S> {
    inner: S,
    /// The largest binary request; its base64 is a third longer.
    limit: usize,
}

impl<S> GrpcWebText<S> {
    pub fn new(inner: S, limit: usize) -> Self {
        Self { inner, limit }
    }
}

fn is_text(req: &Request) -> bool {
    req.headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| ct.starts_with("application/grpc-web-text"))
}

/// Base64 of the whole body; grpc-web clients may send several padded chunks, so decode each.
pub(super) fn decode_chunks(text: &[u8]) -> Option<Vec<u8>> {
    let clean: Vec<u8> = text
        .iter()
        .copied()
        .filter(|b| !b.is_ascii_whitespace())
        .collect();
    let mut out = Vec::new();
    let mut rest = clean.as_slice();
    while !rest.is_empty() {
        // A chunk ends after its padding, or at the end.
        let end = rest
            .iter()
            .position(|&b| b == b'=')
            .map(|i| {
                let mut j = i;
                while j < rest.len() && rest[j] == b'=' {
                    j += 1;
                }
                j
            })
            .unwrap_or(rest.len());
        out.extend(Base64::decode_vec(std::str::from_utf8(&rest[..end]).ok()?).ok()?);
        rest = &rest[end..];
    }
    Some(out)
}

impl<S, B> Service<Request> for GrpcWebText<S>
where
    S: Service<Request, Response = axum::http::Response<B>, Error = Infallible>
        + Clone
        + Send
        + 'static,
    S::Future: Send + 'static,
    B: http_body::Body<Data = bytes::Bytes> + Send + 'static,
    B::Error: Into<axum::BoxError>,
{
    type Response = Response;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Response, Infallible>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request) -> Self::Future {
        let mut inner = self.inner.clone();
        std::mem::swap(&mut inner, &mut self.inner);
        if !is_text(&req) {
            let fut = inner.call(req);
            return Box::pin(async move { fut.await.map(|res| res.map(Body::new)) });
        }
        // Base64 of the binary limit, with room for the padding of chunks and line breaks.
        let text_limit = self
            .limit
            .div_ceil(3)
            .saturating_mul(4)
            .saturating_add(4096);
        let limit = self.limit;
        Box::pin(async move {
            let (mut parts, body) = req.into_parts();
            let Ok(text) = to_bytes(body, text_limit).await else {
                // Answered by the handler in the dialect's shape (see `body_limit`).
                parts.headers.insert(
                    header::CONTENT_TYPE,
                    HeaderValue::from_static("application/grpc-web+proto"),
                );
                parts.headers.remove(header::CONTENT_LENGTH);
                let body = super::body_limit::mark_too_large(&mut parts, limit);
                return respond_text(inner.call(Request::from_parts(parts, body)).await?).await;
            };
            let Some(binary) = decode_chunks(&text) else {
                // In the protocol's own shape: a trailer frame, in base64.
                let frame = super::error_details::grpc_web_error_frame(&super::ZError::new(
                    ErrorCode::InvalidArgument,
                    "INVALID-REQUEST",
                    "The request body is not base64",
                ));
                return Ok((
                    [(
                        header::CONTENT_TYPE,
                        HeaderValue::from_static("application/grpc-web-text+proto"),
                    )],
                    Base64::encode_string(&frame),
                )
                    .into_response());
            };
            parts.headers.insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/grpc-web+proto"),
            );
            parts.headers.remove(header::CONTENT_LENGTH);
            let res = inner
                .call(Request::from_parts(parts, Body::from(binary)))
                .await?;
            respond_text(res).await
        })
    }
}

/// A binary gRPC-Web answer in text mode.
async fn respond_text<B>(res: axum::http::Response<B>) -> Result<Response, Infallible>
where
    B: http_body::Body<Data = bytes::Bytes> + Send + 'static,
    B::Error: Into<axum::BoxError>,
{
    let (mut parts, body) = res.map(Body::new).into_parts();
    let Ok(binary) = to_bytes(body, usize::MAX).await else {
        return Ok((StatusCode::INTERNAL_SERVER_ERROR, "response body failed").into_response());
    };
    parts.headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/grpc-web-text+proto"),
    );
    parts.headers.remove(header::CONTENT_LENGTH);
    Ok(Response::from_parts(
        parts,
        Body::from(Base64::encode_string(&binary)),
    ))
}

#[cfg(test)]
mod tests {
    use super::decode_chunks;

    #[test]
    fn chunks_each_padded() {
        assert_eq!(decode_chunks(b"AAEC").unwrap(), [0, 1, 2]);
        assert_eq!(decode_chunks(b"AA==AQ==").unwrap(), [0, 1]);
        assert_eq!(decode_chunks(b" AAEC\n").unwrap(), [0, 1, 2]);
        assert!(decode_chunks(b"@@@").is_none());
        assert_eq!(decode_chunks(b"").unwrap(), Vec::<u8>::new());
    }
}
