//! The OpenAPI 3.1 document of every route usher serves, all dialects: served at
//! `/api/docs.json` and at `/api/docs` with `Accept: application/vnd.openapi+json` (see
//! `orgo::docs`), and described in `docs/openapi.md`.
//!
//! How it is made:
//!
//! - **Bold, Orgo, the common routes and the HTML pages** ([`bold`], [`orgo`], [`common`]):
//!   `#[utoipa::path]` attributes on documentation-only functions — not on the handlers, whose
//!   files stay about behaviour — with schemas derived (`ToSchema`, `IntoParams`) from the wire
//!   structs themselves (`bold/wire.rs`, the Bold handlers' query and body structs,
//!   `orgo/item.rs`, `orgo/collection.rs`) and hand-written only where the wire shape is built
//!   ad hoc (error bodies, small JSON bodies read field by field).
//! - **Zitadel** ([`zitadel`]): generated from the protobuf descriptors and the route tables.
//!
//! Each part's operation ids get the part's prefix (`bold_`, `orgo_`, …) so they are unique.
//!
//! **Coverage**: `crate::common::routes` records every `(method, path)` the router serves; the
//! tests below fail when a served route has no operation here, or when an operation names a
//! route that is not served. Every route is documented: the HTML pages as `text/html`
//! operations (tag `Pages`) and the Connect/gRPC endpoint as one POST operation.

pub mod bold;
pub mod common;
pub mod orgo;
pub mod zitadel;

use std::sync::LazyLock;

use serde_json::{Map, Value, json};
use utoipa::OpenApi;

/// The HTTP methods an OpenAPI path item may hold.
pub const METHODS: &[&str] = &[
    "get", "put", "post", "delete", "options", "head", "patch", "trace",
];

/// Rewrites every `$ref` to a renamed component schema.
fn rename_refs(value: &mut Value, renamed: &Map<String, Value>) {
    match value {
        Value::Object(m) => {
            if let Some(Value::String(r)) = m.get_mut("$ref")
                && let Some(Value::String(new)) = r
                    .strip_prefix("#/components/schemas/")
                    .and_then(|name| renamed.get(name))
            {
                *r = format!("#/components/schemas/{new}");
            }
            m.values_mut().for_each(|v| rename_refs(v, renamed));
        }
        Value::Array(a) => a.iter_mut().for_each(|v| rename_refs(v, renamed)),
        _ => {}
    }
}

/// Adds a utoipa-made part: its paths, with operation ids prefixed `{prefix}_`, and its component
/// schemas, with names prefixed `{Schemas}` (unless they already are) so that the dialects' names
/// (`Collection`, `Empty` …) cannot collide.
fn merge(doc: &mut Value, prefix: &str, schemas_prefix: &str, part: utoipa::openapi::OpenApi) {
    let mut part = serde_json::to_value(part).unwrap_or(Value::Null);
    let mut renamed = Map::new();
    if let Some(schemas) = part["components"]["schemas"].as_object() {
        for name in schemas.keys() {
            if !name.starts_with(schemas_prefix) {
                renamed.insert(
                    name.clone(),
                    Value::String(format!("{schemas_prefix}{name}")),
                );
            }
        }
    }
    rename_refs(&mut part, &renamed);
    if let Some(paths) = part["paths"].as_object() {
        for (path, item) in paths {
            let Some(item) = item.as_object() else {
                continue;
            };
            let mut item = item.clone();
            for method in METHODS {
                if let Some(Value::Object(op)) = item.get_mut(*method) {
                    let id = op
                        .get("operationId")
                        .and_then(Value::as_str)
                        .unwrap_or(method)
                        .to_owned();
                    op.insert(
                        "operationId".into(),
                        Value::String(format!("{prefix}_{id}")),
                    );
                }
            }
            add_path(doc, path, item);
        }
    }
    if let Some(schemas) = part["components"]["schemas"].as_object() {
        let schemas = schemas
            .iter()
            .map(|(name, schema)| {
                let name = renamed
                    .get(name)
                    .and_then(Value::as_str)
                    .unwrap_or(name)
                    .to_owned();
                (name, schema.clone())
            })
            .collect();
        add_schemas(doc, schemas);
    }
}

fn add_path(doc: &mut Value, path: &str, item: Map<String, Value>) {
    let paths = &mut doc["paths"];
    match paths.get_mut(path).and_then(Value::as_object_mut) {
        Some(existing) => existing.extend(item),
        None => paths[path] = Value::Object(item),
    }
}

fn add_schemas(doc: &mut Value, schemas: Map<String, Value>) {
    let target = &mut doc["components"]["schemas"];
    for (name, schema) in schemas {
        debug_assert!(
            target.get(&name).is_none_or(|old| *old == schema),
            "two different component schemas are named {name}"
        );
        target[name] = schema;
    }
}

/// The document without `servers` (those depend on the configuration).
static BASE: LazyLock<Value> = LazyLock::new(|| {
    let mut doc = json!({
        "openapi": "3.1.0",
        "info": {
            "title": "usher",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "User management with three REST dialects on one port: Bold \
                (`/v2/users`, `/v1/…`), the Zitadel v2 user service (REST gateway at the root \
                where it does not collide with Bold and in full under `/zitadel`, plus Connect, \
                gRPC and gRPC-Web), and Orgo (API Platform conventions under `/api`). Also the \
                health routes and the HTML pages people open from usher's messages.",
            "license": {"name": "Apache-2.0", "identifier": "Apache-2.0"},
        },
        "tags": [
            {"name": "Bold", "description": "Bold Smart Lock-compatible user management. \
                Errors: `{\"message\", \"code\", \"errorMessage\", \"errorCode\"}`."},
            {"name": "Zitadel", "description": "`zitadel.user.v2.UserService`: its REST gateway \
                and its Connect/gRPC/gRPC-Web endpoint. REST errors: \
                `{\"code\", \"message\", \"details\"}`."},
            {"name": "Orgo", "description": "Orgo's user API in API Platform 3.4 conventions \
                (JSON-LD/Hydra, merge-patch, problem+json, 422 ConstraintViolationList)."},
            {"name": "Common", "description": "Health and metrics."},
            {"name": "Pages", "description": "HTML pages for people (not an API): invitation, \
                email verification, email-change confirmation."},
        ],
        "paths": {},
        "components": {
            "schemas": {},
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer", "description": "An usher API \
                    key, session or access token: `Authorization: Bearer <secret>`."},
                "apiToken": {"type": "apiKey", "in": "header", "name": "Api-Token",
                    "description": "An Orgo user API token (no `Bearer`)."},
            },
        },
    });
    merge(&mut doc, "bold", "Bold", bold::Doc::openapi());
    merge(&mut doc, "orgo", "Orgo", orgo::Doc::openapi());
    merge(&mut doc, "common", "Common", common::Doc::openapi());
    merge(&mut doc, "pages", "Pages", common::Pages::openapi());
    let (paths, schemas) = zitadel::paths_and_schemas();
    for (path, item) in paths {
        if let Value::Object(item) = item {
            add_path(&mut doc, &path, item);
        }
    }
    add_schemas(&mut doc, schemas);
    doc
});

/// The OpenAPI 3.1 document, with `servers: [{url: public_url}]`.
pub fn document(public_url: &str) -> Value {
    let mut doc = BASE.clone();
    doc["servers"] = json!([{"url": public_url}]);
    doc
}

#[cfg(test)]
mod tests;
