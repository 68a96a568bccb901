//! Whole requests through the whole application (every dialect's router, extractors, handlers
//! and services) on a temporary SQLite database, as the instance admin. The first byte picks the
//! route (method, path, content type, framing), the second the id in the path; the rest is the
//! body (for `GET`s, the query string). Invariant: no request is a 5xx (or a gRPC internal or
//! unknown error), which also catches every panic, since the app turns one into a 500.
#![no_main]

use std::sync::{Arc, OnceLock};

use axum::Router;
use axum::body::Body;
use axum::http::{Request, header};
use libfuzzer_sys::fuzz_target;
use tower::ServiceExt;
use usher_api::{AppState, Limits};
use usher_core::service::{CoreConfig, Services};

const TOKEN: &str = "fuzz-instance-admin-token-0123456789";

struct App {
    rt: tokio::runtime::Runtime,
    router: Router,
    _dir: tempfile::TempDir,
}

fn app() -> &'static App {
    static APP: OnceLock<App> = OnceLock::new();
    APP.get_or_init(|| {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        let dir = tempfile::tempdir().expect("temporary directory");
        let url = format!("sqlite://{}/fuzz.db", dir.path().display());
        let router = rt.block_on(async {
            let opts = usher_store::StoreOptions {
                pg_pool_size: 1,
                migrate: true,
            };
            let store = usher_store::open(&url, &opts).await.expect("store");
            let clock: usher_core::clock::SharedClock = Arc::new(usher_core::clock::SystemClock);
            let core = CoreConfig {
                public_url: "http://usher.test".to_owned(),
                ..CoreConfig::default()
            };
            let services = Services::new(store, clock, core);
            services.bootstrap(Some(TOKEN)).await.expect("bootstrap");
            usher_api::router(AppState {
                services,
                limits: Limits {
                    import_body: 1024 * 1024,
                    ..Limits::default()
                },
                templates: Arc::new(usher_templates::Templates::new()),
                metrics: Arc::new(usher_jobs::Metrics::new()),
            })
        });
        App {
            rt,
            router,
            _dir: dir,
        }
    })
}

#[derive(Clone, Copy)]
enum Framing {
    Plain,
    /// The body is the query string.
    Query,
    /// One CSV file in a multipart form.
    Multipart,
    /// A gRPC-Web length-prefixed message.
    GrpcWeb,
}

use Framing::*;

const ROUTES: &[(&str, &str, &str, Framing)] = &[
    // Bold
    ("POST", "/v2/users", "application/json", Plain),
    ("PUT", "/v2/users/{id}", "application/json", Plain),
    (
        "PUT",
        "/v2/users/{id}/invitation",
        "application/json",
        Plain,
    ),
    ("GET", "/v2/users", "", Query),
    ("PUT", "/v2/users", "", Multipart),
    ("POST", "/v1/user-groups", "application/json", Plain),
    ("PUT", "/v1/user-groups/{id}", "application/json", Plain),
    (
        "POST",
        "/v1/user-groups/{id}/users",
        "application/json",
        Plain,
    ),
    (
        "DELETE",
        "/v1/user-groups/{id}/users",
        "application/json",
        Plain,
    ),
    ("GET", "/v1/user-groups", "", Query),
    ("POST", "/v1/organizations", "application/json", Plain),
    ("POST", "/v1/api-keys", "application/json", Plain),
    (
        "POST",
        "/v1/users/{id}/email/verify",
        "application/json",
        Plain,
    ),
    // Orgo
    ("POST", "/api/v1/users", "application/ld+json", Plain),
    ("POST", "/api/v1/users", "application/json", Plain),
    (
        "PATCH",
        "/api/v1/users/{id}",
        "application/merge-patch+json",
        Plain,
    ),
    ("GET", "/api/v1/users", "", Query),
    (
        "PATCH",
        "/api/v1/users/{id}/new-email",
        "application/merge-patch+json",
        Plain,
    ),
    (
        "POST",
        "/api/v1/users/{id}/new-email/confirm",
        "application/json",
        Plain,
    ),
    (
        "PATCH",
        "/api/v1/users/{id}/new-password",
        "application/merge-patch+json",
        Plain,
    ),
    ("POST", "/api/v1/token/refresh", "application/json", Plain),
    (
        "POST",
        "/api/v1/user-api-tokens",
        "application/ld+json",
        Plain,
    ),
    // Zitadel: REST gateway, Connect JSON and binary, gRPC-Web
    ("POST", "/v2/users/human", "application/json", Plain),
    ("PUT", "/v2/users/human/{id}", "application/json", Plain),
    ("POST", "/v2/users", "application/json", Plain),
    ("POST", "/v2/users/{id}/email", "application/json", Plain),
    ("POST", "/v2/users/{id}/phone", "application/json", Plain),
    (
        "POST",
        "/v2/users/{id}/invite_code",
        "application/json",
        Plain,
    ),
    (
        "POST",
        "/zitadel.user.v2.UserService/AddHumanUser",
        "application/json",
        Plain,
    ),
    (
        "POST",
        "/zitadel.user.v2.UserService/UpdateHumanUser",
        "application/json",
        Plain,
    ),
    (
        "POST",
        "/zitadel.user.v2.UserService/ListUsers",
        "application/json",
        Plain,
    ),
    (
        "POST",
        "/zitadel.user.v2.UserService/SetEmail",
        "application/json",
        Plain,
    ),
    (
        "POST",
        "/zitadel.user.v2.UserService/AddHumanUser",
        "application/proto",
        Plain,
    ),
    (
        "POST",
        "/zitadel.user.v2.UserService/UpdateHumanUser",
        "application/proto",
        Plain,
    ),
    (
        "POST",
        "/zitadel.user.v2.UserService/ListUsers",
        "application/proto",
        Plain,
    ),
    (
        "POST",
        "/zitadel.user.v2.UserService/CreateInviteCode",
        "application/proto",
        Plain,
    ),
    (
        "POST",
        "/zitadel.user.v2.UserService/AddHumanUser",
        "application/grpc-web+proto",
        GrpcWeb,
    ),
    (
        "POST",
        "/zitadel.user.v2.UserService/ListUsers",
        "application/grpc-web-text",
        Plain,
    ),
];

fuzz_target!(|data: &[u8]| {
    let [sel, id, body @ ..] = data else {
        return;
    };
    let (method, path, content_type, framing) = ROUTES[usize::from(*sel) % ROUTES.len()];
    // Ids of users the fuzzer may have made, and a few that do not exist.
    let path = path.replace("{id}", &(u64::from(*id) % 64).to_string());
    let mut req = Request::builder()
        .method(method)
        .header(header::AUTHORIZATION, format!("Bearer {TOKEN}"));
    let body = match framing {
        Plain => {
            req = req.uri(path.as_str());
            body.to_vec()
        }
        Query => {
            let query: String = String::from_utf8_lossy(body)
                .chars()
                .filter(|c| !c.is_whitespace() && !c.is_control() && *c != '#')
                .collect();
            req = req.uri(format!("{path}?{query}"));
            if axum::http::Uri::try_from(format!("{path}?{query}")).is_err() {
                return;
            }
            Vec::new()
        }
        Multipart => {
            req = req.uri(path.as_str()).header(
                header::CONTENT_TYPE,
                "multipart/form-data; boundary=fuzzboundary",
            );
            let mut b = b"--fuzzboundary\r\nContent-Disposition: form-data; name=\"file\"; \
                filename=\"users.csv\"\r\nContent-Type: text/csv\r\n\r\n"
                .to_vec();
            b.extend_from_slice(body);
            b.extend_from_slice(b"\r\n--fuzzboundary--\r\n");
            b
        }
        GrpcWeb => {
            req = req.uri(path.as_str());
            let mut b = vec![0];
            b.extend_from_slice(&(body.len() as u32).to_be_bytes());
            b.extend_from_slice(body);
            b
        }
    };
    if !content_type.is_empty() {
        req = req.header(header::CONTENT_TYPE, content_type);
    }
    if content_type.starts_with("application/json") && path.starts_with("/zitadel.") {
        req = req.header("connect-protocol-version", "1");
    }
    let Ok(req) = req.body(Body::from(body)) else {
        return;
    };
    let app = app();
    let res = app
        .rt
        .block_on(app.router.clone().oneshot(req))
        .expect("infallible");
    let status = res.status();
    assert!(!status.is_server_error(), "{method} {path}: {status}");
    if let Some(g) = res.headers().get("grpc-status") {
        // 2 unknown, 13 internal, 15 data loss
        assert!(
            !matches!(g.as_bytes(), b"2" | b"13" | b"15"),
            "{method} {path}: grpc-status {g:?}"
        );
    }
});
