//! usher's HTTP surface. `common` holds what every dialect shares (security headers,
//! credentials, health); each dialect module owns its routes, wire types and error rendering and
//! never imports another dialect.

pub mod bold;
pub mod common;
pub mod openapi;
pub mod orgo;
pub mod pages;
pub mod zitadel;

use axum::Router;
use axum::extract::OriginalUri;
use axum::response::{IntoResponse, Response};
use std::sync::Arc;

use common::routes::{Kind, Route, Routes};
use usher_core::service::Services;
use usher_jobs::Metrics;
use usher_templates::Templates;

/// Limits on what a client may send.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Largest JSON body, in bytes.
    pub json_body: usize,
    /// Largest bulk-import upload, in bytes.
    pub import_body: usize,
    /// Rows per import transaction (10,000). Each commit writes every page it changed of the
    /// random-key indexes (names, emails, usernames) to the WAL; more rows per commit share the
    /// pages. 1,000,000 users import in ~47 s with 10,000 rows, ~54 s with 2,000 (2026-11-24). The
    /// price: a write arriving during an import may wait for one batch, about 0.5 s.
    pub import_batch: usize,
    /// Client addresses (for brute-force limits) from the last `X-Forwarded-For` entry.
    pub trust_forwarded_for: bool,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            json_body: 1024 * 1024,
            import_body: 1024 * 1024 * 1024,
            import_batch: 10000,
            trust_forwarded_for: false,
        }
    }
}

/// What every handler gets.
#[derive(Clone)]
pub struct AppState {
    pub services: Services,
    pub limits: Limits,
    pub templates: Arc<Templates>,
    pub metrics: Arc<Metrics>,
}

/// The whole HTTP application: every dialect on one router, with the shared layers.
pub fn router(state: AppState) -> Router {
    let json_limit = state.limits.json_body;
    let trust_forwarded_for = state.limits.trust_forwarded_for;
    let (app, _) = routes(&state).into_parts();
    common::layers::apply(
        app.with_state(state),
        cors_for,
        trust_forwarded_for,
        bold::panic_response,
        json_limit,
    )
}

/// Every route of every dialect, recorded (see [`common::routes`]), with the fallbacks.
pub fn routes(state: &AppState) -> Routes {
    Routes::new(Kind::Rest)
        .merge(common::health::routes())
        .merge(pages::routes())
        .merge(zitadel::routes(state))
        .merge(orgo::routes(state))
        .merge(bold::routes(&state.limits))
        .fallback(not_found)
        .method_not_allowed_fallback(bold::method_not_allowed)
}

/// An unknown path, in the shape of the dialect whose paths it extends (Bold's by default).
/// Wrong methods on known paths are answered by each dialect's own routes.
async fn not_found(OriginalUri(uri): OriginalUri) -> Response {
    if zitadel::owns_path(uri.path()) {
        zitadel::not_found().await
    } else {
        bold::not_found().await.into_response()
    }
}

/// The `(method, path)` pairs the application serves, each with its kind.
pub fn route_table(state: &AppState) -> Vec<Route> {
    routes(state).into_parts().1
}

/// The CORS values of the dialect that owns a path (Bold's are the default).
fn cors_for(path: &str) -> Option<common::layers::Cors> {
    if zitadel::owns_path(path) {
        Some(common::layers::Cors {
            allow_methods: zitadel::ALLOW_METHODS,
            allow_headers: zitadel::ALLOW_HEADERS,
            expose_headers: zitadel::EXPOSE_HEADERS,
        })
    } else if orgo::owns_path(path) {
        Some(common::layers::Cors {
            allow_methods: orgo::ALLOW_METHODS,
            allow_headers: orgo::ALLOW_HEADERS,
            expose_headers: orgo::EXPOSE_HEADERS,
        })
    } else {
        None
    }
}
