//! The coverage guarantee and the document's shape. The router is built for real, on a throwaway
//! SQLite database.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::sync::Arc;

use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use serde_json::Value;
use tower::ServiceExt;
use usher_core::clock::ManualClock;
use usher_core::service::{CoreConfig, Services};

use super::{METHODS, document};
use crate::common::routes::{Kind, Route};
use crate::{AppState, Limits};

const PUBLIC_URL: &str = "https://usher.example.test";

struct TestState {
    state: AppState,
    _dir: tempfile::TempDir,
}

fn state() -> TestState {
    let dir = tempfile::tempdir().expect("temp dir");
    let url = format!("sqlite://{}", dir.path().join("usher.db").display());
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let store = runtime
        .block_on(usher_store::open(
            &url,
            &usher_store::StoreOptions {
                pg_pool_size: 1,
                migrate: true,
            },
        ))
        .expect("store opens");
    let services = Services::new(
        store,
        Arc::new(ManualClock::starting_now()),
        CoreConfig {
            public_url: PUBLIC_URL.into(),
            ..CoreConfig::default()
        },
    );
    TestState {
        state: AppState {
            services,
            limits: Limits::default(),
            templates: Arc::new(usher_templates::Templates::new()),
            metrics: Arc::new(usher_jobs::Metrics::new()),
        },
        _dir: dir,
    }
}

/// `"GET /v2/users"` → the operation, for every operation of the document.
fn operations(doc: &Value) -> BTreeMap<String, Value> {
    let mut out = BTreeMap::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for method in METHODS {
            if let Some(op) = item.get(*method) {
                out.insert(format!("{} {path}", method.to_uppercase()), op.clone());
            }
        }
    }
    out
}

fn served(table: &[Route]) -> BTreeSet<String> {
    table.iter().map(Route::key).collect()
}

#[test]
fn every_route_is_documented() {
    let t = state();
    let table = crate::route_table(&t.state);
    let keys = served(&table);
    assert_eq!(keys.len(), table.len(), "a route is registered twice");
    let documented: BTreeSet<String> = operations(&document(PUBLIC_URL)).into_keys().collect();
    let undocumented: Vec<&String> = keys.difference(&documented).collect();
    let unserved: Vec<&String> = documented.difference(&keys).collect();
    assert!(
        undocumented.is_empty(),
        "served routes without an OpenAPI operation (add one in crates/api/src/openapi/): \
         {undocumented:#?}"
    );
    assert!(
        unserved.is_empty(),
        "OpenAPI operations of routes the router does not serve: {unserved:#?}"
    );
    // Every kind is there, and the REST routes of all three dialects.
    let kinds: BTreeSet<Kind> = table.iter().map(|r| r.kind).collect();
    assert_eq!(kinds.len(), 3);
    for key in [
        "GET /healthz",
        "PUT /v2/users/{id}/invitation",
        "PUT /v2/users/human/{id}",
        "GET /zitadel/v2/users/{id}",
        "PATCH /api/v1/users/{id}/new-email",
        "POST /zitadel.user.v2.UserService/{method}",
        "GET /invite/{token}",
    ] {
        assert!(keys.contains(key), "{key} is not in the route table");
    }
}

/// A concrete path for a template.
fn sample(path: &str) -> String {
    path.split('/')
        .map(|segment| match segment {
            "{method}" => "GetUserByID",
            "{name}" => "User",
            s if s.starts_with('{') => "1",
            s => s,
        })
        .collect::<Vec<_>>()
        .join("/")
}

#[test]
fn router_serves_exactly_the_table() {
    let t = state();
    let table = crate::route_table(&t.state);
    let mut by_path: BTreeMap<&str, (Kind, BTreeSet<Method>)> = BTreeMap::new();
    for r in &table {
        by_path
            .entry(r.path.as_str())
            .or_insert_with(|| (r.kind, BTreeSet::new()))
            .1
            .insert(r.method.clone());
    }
    let router = crate::router(t.state.clone());
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let probes = [
        Method::GET,
        Method::POST,
        Method::PUT,
        Method::PATCH,
        Method::DELETE,
    ];
    let mut wrong = Vec::new();
    runtime.block_on(async {
        for (path, (kind, methods)) in &by_path {
            let uri = sample(path);
            for method in &probes {
                let req = Request::builder()
                    .method(method.clone())
                    .uri(&uri)
                    .body(Body::empty())
                    .expect("request");
                let status = router
                    .clone()
                    .oneshot(req)
                    .await
                    .expect("infallible")
                    .status();
                let routed = status != StatusCode::METHOD_NOT_ALLOWED;
                let recorded = methods.contains(method);
                // The RPC service takes every method; only the documented one is checked.
                if routed != recorded && (recorded || *kind != Kind::Rpc) {
                    wrong.push(format!(
                        "{method} {uri} ({path}): {status}, recorded: {recorded}"
                    ));
                }
            }
        }
    });
    assert!(
        wrong.is_empty(),
        "the router and the recorded table disagree: {wrong:#?}"
    );
}

fn resolve<'a>(doc: &'a Value, reference: &str) -> Option<&'a Value> {
    doc.pointer(reference.strip_prefix('#')?)
}

fn refs(value: &Value, out: &mut Vec<String>) {
    match value {
        Value::Object(m) => {
            if let Some(Value::String(r)) = m.get("$ref") {
                out.push(r.clone());
            }
            m.values().for_each(|v| refs(v, out));
        }
        Value::Array(a) => a.iter().for_each(|v| refs(v, out)),
        _ => {}
    }
}

#[test]
fn document_shape() {
    let doc = document(PUBLIC_URL);
    assert_eq!(doc["openapi"], "3.1.0");
    assert_eq!(doc["servers"][0]["url"], PUBLIC_URL);
    let tags: BTreeSet<&str> = doc["tags"]
        .as_array()
        .expect("tags")
        .iter()
        .filter_map(|t| t["name"].as_str())
        .collect();
    let mut ids = BTreeSet::new();
    for (key, op) in operations(&doc) {
        assert!(
            op["summary"].as_str().is_some_and(|s| !s.is_empty()),
            "{key}: no summary"
        );
        let tag = op["tags"][0].as_str().unwrap_or_default();
        assert!(tags.contains(tag), "{key}: tag {tag:?} is not declared");
        let id = op["operationId"].as_str().expect("operationId").to_owned();
        assert!(
            ids.insert(id.clone()),
            "{key}: operationId {id} is used twice"
        );
        assert!(
            op["responses"].as_object().is_some_and(|r| !r.is_empty()),
            "{key}: no responses"
        );
        // Every path parameter is declared.
        let path = key.split_once(' ').map(|(_, p)| p).unwrap_or_default();
        let declared: BTreeSet<&str> = op["parameters"]
            .as_array()
            .map(|ps| {
                ps.iter()
                    .filter(|p| p["in"] == "path")
                    .filter_map(|p| p["name"].as_str())
                    .collect()
            })
            .unwrap_or_default();
        let templated: BTreeSet<&str> = path
            .split('/')
            .filter_map(|s| s.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
            .collect();
        assert_eq!(declared, templated, "{key}: path parameters");
        // Security names a declared scheme.
        for requirement in op["security"].as_array().into_iter().flatten() {
            for scheme in requirement.as_object().expect("requirement").keys() {
                assert!(
                    doc["components"]["securitySchemes"].get(scheme).is_some(),
                    "{key}: unknown security scheme {scheme}"
                );
            }
        }
    }
    let mut all = Vec::new();
    refs(&doc, &mut all);
    for r in all {
        assert!(resolve(&doc, &r).is_some(), "unresolved $ref {r}");
    }
}

#[test]
fn dialect_shapes_are_described() {
    let doc = document(PUBLIC_URL);
    let ops = operations(&doc);
    let schema = |name: &str| doc["components"]["schemas"][name].clone();
    // Bold: the four-key error body.
    let bold = schema("BoldError");
    for key in ["message", "code", "errorMessage", "errorCode"] {
        assert!(bold["properties"].get(key).is_some(), "BoldError.{key}");
    }
    assert_eq!(
        ops["PUT /v2/users/{id}"]["responses"]["404"]["content"]["application/json"]["schema"]["$ref"],
        "#/components/schemas/BoldError"
    );
    // Zitadel REST: {code, message, details}, and the proto messages.
    let z = schema("ZitadelError");
    assert_eq!(
        z["required"],
        serde_json::json!(["code", "message", "details"])
    );
    let update = &ops["PUT /v2/users/human/{id}"];
    let body = &update["requestBody"]["content"]["application/json"]["schema"];
    assert!(body["properties"].get("profile").is_some());
    assert!(
        body["properties"].get("userId").is_none(),
        "userId comes from the path"
    );
    assert!(
        schema("zitadel.user.v2.SetHumanProfile")["properties"]
            .get("givenName")
            .is_some()
    );
    assert_eq!(
        schema("zitadel.object.v2.Details")["properties"]["sequence"]["type"],
        "string"
    );
    let rpc = &ops["POST /zitadel.user.v2.UserService/{method}"];
    assert_eq!(
        rpc["parameters"][0]["schema"]["enum"]
            .as_array()
            .map(Vec::len),
        Some(22)
    );
    // Orgo: problem+json, 422 ConstraintViolationList, both credentials.
    let patch = &ops["PATCH /api/v1/users/{id}"];
    assert!(
        patch["responses"]["404"]["content"]
            .get("application/problem+json")
            .is_some()
    );
    assert_eq!(
        patch["responses"]["422"]["content"]["application/problem+json"]["schema"]["$ref"],
        "#/components/schemas/OrgoConstraintViolationList"
    );
    assert!(
        patch["requestBody"]["content"]
            .get("application/merge-patch+json")
            .is_some()
    );
    assert_eq!(
        patch["security"],
        serde_json::json!([{"bearer": []}, {"apiToken": []}])
    );
    assert!(
        schema("OrgoUser")["properties"]
            .get("newEmailRequested")
            .is_some()
    );
    let write = schema("OrgoUserWrite");
    assert!(write["properties"].get("firstName").is_some());
    assert!(write["properties"].get("age").is_none(), "age is read-only");
    // Pages are HTML.
    assert!(
        ops["GET /invite/{token}"]["responses"]["200"]["content"]
            .get("text/html")
            .is_some()
    );
}

#[test]
fn token_schema_follows_the_hydra_documentation() {
    let mut ours = super::orgo::token_properties();
    ours.retain(|p| !p.starts_with('@'));
    assert_eq!(ours, super::orgo::hydra_token_properties());
}

/// The workspace's `target/` directory.
fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target"))
}

/// Validates the document with the PyPI package `openapi-spec-validator` (OpenAPI 3.1 schema and
/// semantic checks), from the venv `scripts/test` makes (`target/openapi-venv`) or the Python
/// named by `USHER_OPENAPI_PYTHON`. Without one this test says so loudly and passes, except in CI
/// (`CI=true`), where it fails.
#[test]
fn document_validates_against_openapi_3_1() {
    let python = std::env::var_os("USHER_OPENAPI_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| target_dir().join("openapi-venv/bin/python"));
    let ci = std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "false" && v != "0");
    if !python.exists() {
        let message = format!(
            "openapi-spec-validator is not installed ({} is missing): run scripts/test, which \
             makes that venv; the OpenAPI document was NOT validated",
            python.display()
        );
        assert!(!ci, "{message}");
        eprintln!("\n!!! SKIPPED: {message}\n");
        return;
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("openapi.json");
    std::fs::write(
        &file,
        serde_json::to_vec_pretty(&document(PUBLIC_URL)).expect("json"),
    )
    .expect("write");
    let out = std::process::Command::new(&python)
        .args(["-m", "openapi_spec_validator", "--schema", "3.1"])
        .arg(&file)
        .output()
        .expect("python runs");
    assert!(
        out.status.success(),
        "openapi-spec-validator rejects the document:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}
