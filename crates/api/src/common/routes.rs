//! Route registration that records what it registers, so that the set of `(method, path)` pairs
//! the router serves is known to the code — the OpenAPI document is checked against it.
//!
//! # The design
//!
//! Every route of the application goes through [`Routes`], a thin wrapper around axum's `Router`:
//!
//! - [`Routes::route`] takes a path and [`Endpoints`], built with this module's [`get`], [`post`],
//!   [`put`], [`patch`], [`delete`] and [`on`] — the counterparts of axum's. Each of them records
//!   its method **in the same call that adds the handler**, so the recorded methods cannot differ
//!   from the served ones. There is no way to put a bare axum `MethodRouter` into an [`Endpoints`]
//!   (only layers may wrap it: [`Endpoints::layer`]).
//! - [`Routes::service`] mounts a tower service (the Connect/gRPC service) with the methods it is
//!   documented for; [`Routes::nest`] and [`Routes::merge`] carry the records along, prefixing
//!   them when nesting.
//! - Each [`Route`] has a [`Kind`] (REST, HTML page or RPC), set by the [`Routes`] it was added to.
//!
//! The whole application's table is [`crate::route_table`]. Two tests hold it to account:
//!
//! - `openapi::tests::every_route_is_documented` fails when a recorded route has no operation in
//!   the OpenAPI document, or when the document has an operation the router does not serve.
//! - `openapi::tests::router_serves_exactly_the_table` sends every method to every recorded path
//!   of the real router and checks that exactly the recorded methods are routed (the others get
//!   405), which also covers the methods declared for [`Routes::service`].
//!
//! What keeps anyone from going around [`Routes`] with axum's own `Router::route` (and so adding a
//! route nobody recorded)? `crates/api/clippy.toml` disallows `Router::route`, `route_service`,
//! `nest` and `nest_service` in this crate (CI runs clippy with `-D warnings`); this module is the
//! one place allowed to call them.

use std::convert::Infallible;

use axum::Router;
use axum::extract::Request;
use axum::handler::Handler;
use axum::http::Method;
use axum::response::IntoResponse;
use axum::routing::{MethodFilter, MethodRouter};
use tower::{Layer, Service};

use crate::AppState;

/// What a route serves, which decides how the OpenAPI document describes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Kind {
    /// A JSON (or text) API operation of a dialect, or a common route.
    Rest,
    /// An HTML page for people (invitation, verification); documented as `text/html`.
    Html,
    /// The Connect / gRPC / gRPC-Web service; documented as one POST operation.
    Rpc,
}

/// One recorded `(method, path)` of the router; the path in axum's (and OpenAPI's) `{name}` form.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Route {
    pub method: Method,
    pub path: String,
    pub kind: Kind,
}

impl Route {
    /// `"GET /v2/users/{id}"`.
    pub fn key(&self) -> String {
        format!("{} {}", self.method, self.path)
    }
}

/// The handlers of one path, with the methods they answer.
pub struct Endpoints {
    router: MethodRouter<AppState>,
    methods: Vec<Method>,
}

fn filter(method: &Method) -> MethodFilter {
    match *method {
        Method::GET => MethodFilter::GET,
        Method::POST => MethodFilter::POST,
        Method::PUT => MethodFilter::PUT,
        Method::PATCH => MethodFilter::PATCH,
        Method::DELETE => MethodFilter::DELETE,
        Method::HEAD => MethodFilter::HEAD,
        Method::OPTIONS => MethodFilter::OPTIONS,
        // A programming error at start-up, caught by every test that builds the router.
        ref other => panic!("usher registers no {other} routes"),
    }
}

/// A handler for one method (axum's `on`).
pub fn on<H, T>(method: Method, handler: H) -> Endpoints
where
    H: Handler<T, AppState>,
    T: 'static,
{
    Endpoints {
        router: axum::routing::on(filter(&method), handler),
        methods: vec![method],
    }
}

macro_rules! method_fns {
    ($($name:ident => $method:ident),* $(,)?) => {
        $(
            #[doc = concat!("A `", stringify!($method), "` handler (axum's `", stringify!($name), "`).")]
            pub fn $name<H, T>(handler: H) -> Endpoints
            where
                H: Handler<T, AppState>,
                T: 'static,
            {
                on(Method::$method, handler)
            }
        )*

        impl Endpoints {
            $(
                #[doc = concat!("Adds a `", stringify!($method), "` handler.")]
                pub fn $name<H, T>(self, handler: H) -> Self
                where
                    H: Handler<T, AppState>,
                    T: 'static,
                {
                    self.merge(on(Method::$method, handler))
                }
            )*
        }
    };
}

method_fns!(get => GET, post => POST, put => PUT, patch => PATCH, delete => DELETE);

impl Endpoints {
    /// Both sets of handlers (each method once; axum panics on a method registered twice).
    pub fn merge(mut self, other: Endpoints) -> Self {
        self.router = self.router.merge(other.router);
        self.methods.extend(other.methods);
        self
    }

    /// Wraps these handlers in a layer (axum's `MethodRouter::layer`), e.g. a body limit.
    pub fn layer<L>(self, layer: L) -> Self
    where
        L: Layer<axum::routing::Route> + Clone + Send + Sync + 'static,
        L::Service: Service<Request> + Clone + Send + Sync + 'static,
        <L::Service as Service<Request>>::Response: IntoResponse + 'static,
        <L::Service as Service<Request>>::Error: Into<Infallible> + 'static,
        <L::Service as Service<Request>>::Future: Send + 'static,
    {
        Endpoints {
            router: self.router.layer(layer),
            methods: self.methods,
        }
    }
}

/// A router that knows its routes. See the module documentation.
pub struct Routes {
    router: Router<AppState>,
    kind: Kind,
    table: Vec<Route>,
}

/// `prefix` + `path`, as axum joins them when nesting (`/api` + `/` = `/api`).
fn join(prefix: &str, path: &str) -> String {
    if path == "/" {
        prefix.to_owned()
    } else {
        format!("{prefix}{path}")
    }
}

// The one place allowed to register routes with axum directly (see crates/api/clippy.toml).
#[allow(clippy::disallowed_methods)]
impl Routes {
    /// No routes yet; those added with [`Routes::route`] will be of this kind.
    pub fn new(kind: Kind) -> Self {
        Routes {
            router: Router::new(),
            kind,
            table: Vec::new(),
        }
    }

    /// Serves `endpoints` at `path` (axum's `Router::route`).
    pub fn route(mut self, path: &str, endpoints: Endpoints) -> Self {
        for method in &endpoints.methods {
            self.table.push(Route {
                method: method.clone(),
                path: path.to_owned(),
                kind: self.kind,
            });
        }
        self.router = self.router.route(path, endpoints.router);
        self
    }

    /// Serves a tower service at `path` for every method; `methods` are those it is documented
    /// for (a test checks that they reach it).
    pub fn service<T>(mut self, path: &str, methods: &[Method], service: T) -> Self
    where
        T: Service<Request, Error = Infallible> + Clone + Send + Sync + 'static,
        T::Response: IntoResponse,
        T::Future: Send + 'static,
    {
        for method in methods {
            self.table.push(Route {
                method: method.clone(),
                path: path.to_owned(),
                kind: self.kind,
            });
        }
        self.router = self.router.route_service(path, service);
        self
    }

    /// Mounts `other` under `prefix` (axum's `Router::nest`).
    pub fn nest(mut self, prefix: &str, other: Routes) -> Self {
        self.table.extend(other.table.into_iter().map(|r| Route {
            path: join(prefix, &r.path),
            ..r
        }));
        self.router = self.router.nest(prefix, other.router);
        self
    }

    /// Both routers' routes (axum's `Router::merge`).
    pub fn merge(mut self, other: Routes) -> Self {
        self.table.extend(other.table);
        self.router = self.router.merge(other.router);
        self
    }

    /// The answer for paths no route matches (axum's `Router::fallback`).
    pub fn fallback<H, T>(mut self, handler: H) -> Self
    where
        H: Handler<T, AppState>,
        T: 'static,
    {
        self.router = self.router.fallback(handler);
        self
    }

    /// The answer for a known path with another method (axum's
    /// `Router::method_not_allowed_fallback`).
    pub fn method_not_allowed_fallback<H, T>(mut self, handler: H) -> Self
    where
        H: Handler<T, AppState>,
        T: 'static,
    {
        self.router = self.router.method_not_allowed_fallback(handler);
        self
    }

    /// A layer around every route and the fallback (axum's `Router::layer`).
    pub fn layer<L>(mut self, layer: L) -> Self
    where
        L: Layer<axum::routing::Route> + Clone + Send + Sync + 'static,
        L::Service: Service<Request> + Clone + Send + Sync + 'static,
        <L::Service as Service<Request>>::Response: IntoResponse + 'static,
        <L::Service as Service<Request>>::Error: Into<Infallible> + 'static,
        <L::Service as Service<Request>>::Future: Send + 'static,
    {
        self.router = self.router.layer(layer);
        self
    }

    /// A layer around the matched routes only (axum's `Router::route_layer`).
    pub fn route_layer<L>(mut self, layer: L) -> Self
    where
        L: Layer<axum::routing::Route> + Clone + Send + Sync + 'static,
        L::Service: Service<Request> + Clone + Send + Sync + 'static,
        <L::Service as Service<Request>>::Response: IntoResponse + 'static,
        <L::Service as Service<Request>>::Error: Into<Infallible> + 'static,
        <L::Service as Service<Request>>::Future: Send + 'static,
    {
        self.router = self.router.route_layer(layer);
        self
    }

    /// The recorded routes, in registration order.
    pub fn table(&self) -> &[Route] {
        &self.table
    }

    /// The axum router and the recorded routes.
    pub fn into_parts(self) -> (Router<AppState>, Vec<Route>) {
        (self.router, self.table)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn ok() -> &'static str {
        "ok"
    }

    #[test]
    fn records_methods_paths_and_prefixes() {
        let inner = Routes::new(Kind::Rest)
            .route("/", get(ok))
            .route("/v1/things/{id}", get(ok).patch(ok).merge(delete(ok)));
        let routes = Routes::new(Kind::Html)
            .route("/page", get(ok).post(ok))
            .nest("/api", inner);
        let keys: Vec<(String, Kind)> = routes.table().iter().map(|r| (r.key(), r.kind)).collect();
        assert_eq!(
            keys,
            [
                ("GET /page".to_owned(), Kind::Html),
                ("POST /page".to_owned(), Kind::Html),
                ("GET /api".to_owned(), Kind::Rest),
                ("GET /api/v1/things/{id}".to_owned(), Kind::Rest),
                ("PATCH /api/v1/things/{id}".to_owned(), Kind::Rest),
                ("DELETE /api/v1/things/{id}".to_owned(), Kind::Rest),
            ]
        );
    }
}
