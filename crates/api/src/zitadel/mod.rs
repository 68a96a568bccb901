//! The Zitadel dialect: `zitadel.user.v2.UserService` over Connect, gRPC, gRPC-Web (binary and
//! text) at `/zitadel.user.v2.UserService/<Method>`, and its REST gateway — at the root where it
//! does not collide with Bold (`POST /v2/users/human`, `PUT /v2/users/human/{userId}`,
//! `/v2/users/{userId}/email` …) and in full under `/zitadel` (`GET /zitadel/v2/users/{userId}` …).
//! See `spec/zitadel.md` and `docs/zitadel.md`.

mod body_limit;
mod calls;
mod convert;
mod error;
mod error_details;
/// Entry points for the fuzz targets in `fuzz/` (not an API).
#[doc(hidden)]
pub mod fuzzing;
mod grpc_web_text;
mod rest;
mod service;

use std::sync::Arc;

use axum::extract::Request;
use axum::http::{HeaderName, HeaderValue, Method};
use axum::middleware;
use axum::response::Response;
use tower::Layer;
use usher_zitadel_proto::connectrpc;
use usher_zitadel_proto::zitadel::user::v2::UserServiceExt;

use crate::AppState;
use crate::common::layers::Around;
use crate::common::routes::{Kind, Routes};

pub use error::ZError;
pub use rest::not_found;

/// CORS for the Zitadel dialect: the methods and headers its clients send.
pub const ALLOW_METHODS: &str = "GET, POST, DELETE, OPTIONS, PUT";
pub const ALLOW_HEADERS: &str = "authorization, content-type, connect-protocol-version, connect-timeout-ms, \
    grpc-timeout, x-grpc-web, x-user-agent, x-zitadel-orgid";
pub const EXPOSE_HEADERS: &str =
    "authorization, content-type, grpc-status, grpc-message, grpc-status-details-bin";

/// Sets the dialect's CORS headers (the shared layer adds the rest).
fn cors(_: (), res: &mut Response) {
    let h = res.headers_mut();
    for (name, value) in [
        ("access-control-allow-methods", ALLOW_METHODS),
        ("access-control-allow-headers", ALLOW_HEADERS),
        ("access-control-expose-headers", EXPOSE_HEADERS),
    ] {
        h.insert(
            HeaderName::from_static(name),
            HeaderValue::from_static(value),
        );
    }
}

/// Whether the request is a gRPC call (not gRPC-Web), for [`grpc_status_in_trailers`].
fn is_grpc(req: &Request) -> bool {
    req.headers()
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| {
            ct.starts_with("application/grpc") && !ct.starts_with("application/grpc-web")
        })
}

/// connectrpc answers a gRPC error with `grpc-status` and `grpc-message` in the header block *and*
/// the whole status, `grpc-status-details-bin` included, in the trailers that follow. A client that
/// reads a `grpc-status` header as a trailers-only answer — tonic, under the official Rust SDK —
/// then never reads the trailers and loses the `zitadel.v1.ErrorDetail`. Leave the status to the
/// trailers alone (valid gRPC: headers, no message, trailers).
fn grpc_status_in_trailers(grpc: bool, res: &mut Response) {
    if grpc && res.headers().contains_key("grpc-status") {
        res.headers_mut().remove("grpc-status");
        res.headers_mut().remove("grpc-message");
    }
}

/// Is this path served by the Zitadel dialect (for preflights)?
pub fn owns_path(path: &str) -> bool {
    path.starts_with("/zitadel")
        || path.starts_with("/v2/users/human")
        || path.starts_with("/v2/idp_intents")
        || {
            // `/v2/users/{id}/<action>` (Bold owns only `/v2/users/{id}/invitation`).
            let mut parts = path.trim_start_matches('/').split('/');
            matches!((parts.next(), parts.next(), parts.next(), parts.next()), (Some("v2"), Some("users"), Some(_), Some(action)) if action != "invitation")
        }
}

/// The dialect's routes.
pub fn routes(state: &AppState) -> Routes {
    let service = service::UserServiceImpl {
        calls: calls::Calls {
            state: state.clone(),
        },
    };
    let connect = Arc::new(service).register(connectrpc::Router::new());
    // The JSON body limit holds for every protocol. `BodyLimit` answers it in the dialect's shape;
    // connectrpc's own limits (the same) stay as a backstop, e.g. for decompressed messages.
    let limit = state.limits.json_body;
    let rpc = connectrpc::ConnectRpcService::new(connect).with_limits(
        connectrpc::Limits::default()
            .with_max_request_body_size(limit)
            .with_max_message_size(limit),
    );
    let rpc_routes = Routes::new(Kind::Rpc)
        .service(
            RPC_PATH,
            &[Method::POST],
            grpc_web_text::GrpcWebText::new(
                body_limit::BodyLimit::new(
                    middleware::from_fn(error_details::complete_errors).layer(rpc),
                    limit,
                ),
                limit,
            ),
        )
        .route_layer(Around::new(is_grpc, grpc_status_in_trailers));
    Routes::new(Kind::Rest)
        .merge(rpc_routes)
        .merge(rest::shared_routes())
        .nest(REST_PREFIX, rest::full_routes())
        .route_layer(Around::new(|_| (), cors))
}

/// The path of every call over Connect, gRPC and gRPC-Web.
pub const RPC_PATH: &str = "/zitadel.user.v2.UserService/{method}";

/// Where the complete REST gateway is mounted.
pub const REST_PREFIX: &str = "/zitadel";

/// The REST paths of the calls usher does not serve (answered 501 after authentication), for the
/// OpenAPI document.
pub fn unserved_rest_calls() -> &'static [(&'static str, &'static str, &'static str)] {
    rest::UNSERVED
}
