//! The OpenAPI document on the live server: `GET /api/docs.json`, and `GET /api/docs` with
//! `Accept: application/vnd.openapi+json`. (Its coverage of the routes and its validity against the
//! OpenAPI 3.1 schema are tested in the api crate: `usher_api::openapi::tests`.)

use reqwest::Method;

use crate::support::{Backend, PUBLIC_URL, TestApp};

fn check_document(doc: &serde_json::Value) {
    let version = doc["openapi"].as_str().unwrap_or_default();
    assert!(version.starts_with("3.1."), "openapi: {version}");
    assert_eq!(doc["servers"][0]["url"], PUBLIC_URL);
    // All three dialects, the common routes and the pages are there.
    for (path, method) in [
        ("/v2/users/{id}", "put"),
        ("/v2/users/human/{id}", "put"),
        ("/zitadel/v2/users/{id}", "get"),
        ("/api/v1/users/{id}", "patch"),
        ("/zitadel.user.v2.UserService/{method}", "post"),
        ("/healthz", "get"),
        ("/invite/{token}", "get"),
    ] {
        assert!(
            doc["paths"][path][method].is_object(),
            "{method} {path} is not documented"
        );
    }
}

// The document does not depend on the database: SQLite is enough.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn served_at_docs_json_and_by_accept() {
    let Some(mut app) = TestApp::start(Backend::Sqlite).await else {
        return;
    };

    let res = app
        .client
        .get(format!("{}/api/docs.json", app.base))
        .send()
        .await
        .unwrap();
    let res = TestApp::read(res).await;
    res.expect(200);
    let ct = res.headers["content-type"].to_str().unwrap();
    assert!(ct.starts_with("application/vnd.openapi+json"), "{ct}");
    check_document(&res.body);
    let by_path = res.body;

    let res = app
        .client
        .get(format!("{}/api/docs", app.base))
        .header("accept", "application/vnd.openapi+json")
        .send()
        .await
        .unwrap();
    let res = TestApp::read(res).await;
    res.expect(200);
    let ct = res.headers["content-type"].to_str().unwrap();
    assert!(ct.starts_with("application/vnd.openapi+json"), "{ct}");
    check_document(&res.body);
    assert_eq!(res.body, by_path);

    // Without that Accept, /api/docs stays the Hydra documentation.
    let res = app.send(Method::GET, "/api/docs", None, None).await;
    res.expect(200);
    assert_eq!(res.body["@type"], "hydra:ApiDocumentation");

    app.stop().await;
}
