//! Layers around every route of every dialect: CORS and security headers on every response
//! (errors, unknown routes and preflights included), preflight answers, request ids and tracing.

use axum::Router;
use axum::body::Body;
use axum::extract::Request;
use axum::http::{HeaderName, HeaderValue, Method, StatusCode};
use axum::middleware::{self, Next};
use axum::response::Response;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::trace::TraceLayer;

/// The twelve headers of the Bold seeds, exact names and values.
pub const SECURITY_HEADERS: [(&str, &str); 12] = [
    (
        "access-control-expose-headers",
        "authorization, content-type",
    ),
    (
        "access-control-allow-headers",
        "authorization, content-type",
    ),
    (
        "access-control-allow-methods",
        "GET, POST, DELETE, OPTIONS, PUT",
    ),
    ("access-control-allow-origin", "*"),
    (
        "strict-transport-security",
        "max-age=31536000; includeSubDomains",
    ),
    ("x-frame-options", "SAMEORIGIN"),
    ("x-content-type-options", "nosniff"),
    ("x-xss-protection", "1; mode=block"),
    (
        "content-security-policy",
        "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'",
    ),
    ("referrer-policy", "no-referrer"),
    ("feature-policy", "self"),
    ("permissions-policy", "interest-cohort=()"),
];

/// Adds the security headers a response does not set itself (a page may bring its own CSP).
async fn security_headers(req: Request, next: Next) -> Response {
    let mut res = next.run(req).await;
    let headers = res.headers_mut();
    for (name, value) in SECURITY_HEADERS {
        let name = HeaderName::from_static(name);
        if !headers.contains_key(&name) {
            headers.insert(name, HeaderValue::from_static(value));
        }
    }
    res
}

/// CORS values a dialect uses instead of Bold's (methods, headers, exposed headers).
#[derive(Debug, Clone, Copy)]
pub struct Cors {
    pub allow_methods: &'static str,
    pub allow_headers: &'static str,
    pub expose_headers: &'static str,
}

/// Which dialect's CORS values a path gets; `None` = Bold's (the twelve seed headers).
pub type CorsFor = fn(&str) -> Option<Cors>;

/// Answers CORS preflights for any path, with the CORS values of the dialect owning it.
async fn preflight(cors_for: CorsFor, req: Request, next: Next) -> Response {
    if req.method() == Method::OPTIONS {
        let mut res = Response::new(Body::empty());
        *res.status_mut() = StatusCode::OK;
        if let Some(c) = cors_for(req.uri().path()) {
            let h = res.headers_mut();
            h.insert(
                "access-control-allow-methods",
                HeaderValue::from_static(c.allow_methods),
            );
            h.insert(
                "access-control-allow-headers",
                HeaderValue::from_static(c.allow_headers),
            );
            h.insert(
                "access-control-expose-headers",
                HeaderValue::from_static(c.expose_headers),
            );
        }
        return res;
    }
    next.run(req).await
}

pub fn apply(app: Router, cors_for: CorsFor, trust_forwarded_for: bool) -> Router {
    let request_id = HeaderName::from_static("x-request-id");
    app.layer(middleware::from_fn(move |req, next| {
        client_address(trust_forwarded_for, req, next)
    }))
    .layer(middleware::from_fn(move |req, next| {
        preflight(cors_for, req, next)
    }))
    .layer(TraceLayer::new_for_http())
    .layer(PropagateRequestIdLayer::new(request_id.clone()))
    .layer(SetRequestIdLayer::new(request_id, MakeRequestUuid))
    .layer(middleware::from_fn(security_headers))
    .layer(middleware::from_fn(close_after_too_large))
}

/// Marks a response given without reading the whole request body (a body over the limit answered
/// in a status other than 413, as the Zitadel dialect's `resource_exhausted` is).
#[derive(Debug, Clone, Copy)]
pub struct BodyLeftUnread;

/// A 413 (or a response marked [`BodyLeftUnread`]) is answered before the rest of the body is
/// read, and the server then closes the HTTP/1 connection: say so (`Connection: close`), so that
/// a client does not send its next request on a connection that is going away.
async fn close_after_too_large(req: Request, next: Next) -> Response {
    let http1 = req.version() < axum::http::Version::HTTP_2;
    let mut res = next.run(req).await;
    let unread = res.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE
        || res.extensions().get::<BodyLeftUnread>().is_some();
    if http1 && unread {
        res.headers_mut().insert(
            axum::http::header::CONNECTION,
            HeaderValue::from_static("close"),
        );
    }
    res
}

/// The client's address, from the connection (or, behind a trusted proxy, the last
/// `X-Forwarded-For` entry), made known to the core for per-address brute-force limits.
async fn client_address(trust_forwarded_for: bool, req: Request, next: Next) -> Response {
    let forwarded = trust_forwarded_for
        .then(|| {
            req.headers()
                .get_all("x-forwarded-for")
                .iter()
                .filter_map(|v| v.to_str().ok())
                .flat_map(|v| v.split(','))
                .filter_map(|a| a.trim().parse::<std::net::IpAddr>().ok())
                .next_back()
        })
        .flatten();
    let addr = forwarded.or_else(|| {
        req.extensions()
            .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
            .map(|c| c.0.ip())
    });
    match addr {
        Some(addr) => usher_core::throttle::with_client_address(addr, next.run(req)).await,
        None => next.run(req).await,
    }
}
