//! The OpenAPI 3.1 document of every REST route of the three dialects (being generated from the
//! handlers; see docs/orgo.md).

use serde_json::{Value, json};

pub fn document(public_url: &str) -> Value {
    json!({
        "openapi": "3.1.0",
        "info": {"title": "usher", "version": env!("CARGO_PKG_VERSION")},
        "servers": [{"url": public_url}],
        "paths": {},
    })
}
