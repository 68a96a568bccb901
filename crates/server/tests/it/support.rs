//! Test support: start the real server in-process on a fresh database.

use std::sync::Arc;

use reqwest::Method;
use reqwest::header::HeaderMap;
use serde_json::{Value, json};
use usher_core::clock::ManualClock;
use usher_core::service::Services;
use usher_core::types::Timestamp;
use usher_server::{Config, Running};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// Generates `mod name { sqlite(); postgres() }` tests around `async fn name(app: TestApp)`.
macro_rules! both_backends {
    ($($name:ident),* $(,)?) => {
        $(
            mod $name {
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn sqlite() {
                    if let Some(app) = $crate::support::TestApp::start($crate::support::Backend::Sqlite).await {
                        super::$name(app).await;
                    }
                }

                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn postgres() {
                    if let Some(app) = $crate::support::TestApp::start($crate::support::Backend::Postgres).await {
                        super::$name(app).await;
                    }
                }
            }
        )*
    };
}

/// Generates `mod name { sqlite(); postgres() }` tests around `async fn name(backend: Backend)`,
/// for tests that start the server themselves (with their own configuration).
macro_rules! each_backend {
    ($($name:ident),* $(,)?) => {
        $(
            mod $name {
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn sqlite() {
                    super::$name($crate::support::Backend::Sqlite).await;
                }

                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn postgres() {
                    super::$name($crate::support::Backend::Postgres).await;
                }
            }
        )*
    };
}

/// A database location for a test: a temporary SQLite file or a fresh PostgreSQL database.
pub struct TestDb {
    pub url: String,
    pub backend: Backend,
    _dir: Option<tempfile::TempDir>,
}

impl TestDb {
    pub async fn new(backend: Backend) -> Option<TestDb> {
        match backend {
            Backend::Sqlite => {
                let dir = tempfile::tempdir().expect("temp dir");
                let url = format!("sqlite://{}", dir.path().join("usher.db").display());
                Some(TestDb {
                    url,
                    backend,
                    _dir: Some(dir),
                })
            }
            Backend::Postgres => {
                let url = usher_store::testing::fresh_pg_database("usher_it").await?;
                Some(TestDb {
                    url,
                    backend,
                    _dir: None,
                })
            }
        }
    }
}

pub const PUBLIC_URL: &str = "https://usher.test";

pub fn config(db: &TestDb, bootstrap_token: &str) -> Config {
    let mut c = Config::layer(Default::default(), Default::default()).expect("default config");
    c.listen = "127.0.0.1:0".parse().expect("addr");
    c.database_url = db.url.clone();
    c.public_url = PUBLIC_URL.to_owned();
    c.bootstrap_token = Some(bootstrap_token.to_owned());
    c.pg_pool_size = 4;
    c.mail_from = "usher <noreply@usher.test>".to_owned();
    // React to queued messages at once; a retry is due 10 s later on the test clock.
    c.delivery_poll = std::time::Duration::from_millis(50);
    c
}

pub struct TestApp {
    pub base: String,
    /// The instance-admin secret (the bootstrap token).
    pub admin: String,
    pub clock: Arc<ManualClock>,
    pub client: reqwest::Client,
    pub db: TestDb,
    running: Option<Running>,
}

/// A response, with the body kept raw and parsed.
#[derive(Debug)]
pub struct Resp {
    pub status: u16,
    pub headers: HeaderMap,
    pub text: String,
    pub body: Value,
}

impl Resp {
    /// Asserts the status, printing the body when it differs.
    #[track_caller]
    pub fn expect(&self, status: u16) -> &Self {
        assert_eq!(
            self.status, status,
            "unexpected status; body: {}",
            self.text
        );
        self
    }

    /// Asserts the Bold error shape: four keys, repeated.
    #[track_caller]
    pub fn bold_error(&self, status: u16, code: &str) -> &Self {
        self.expect(status);
        assert_eq!(self.body["code"], code, "body: {}", self.text);
        assert_eq!(self.body["errorCode"], code, "body: {}", self.text);
        assert!(self.body["message"].is_string(), "body: {}", self.text);
        assert_eq!(
            self.body["message"], self.body["errorMessage"],
            "body: {}",
            self.text
        );
        self
    }
}

/// A fixed, recognisable start time for the manual clock.
pub fn start_time() -> Timestamp {
    Timestamp::parse("2026-03-17T09:38:37.991821898Z").expect("time")
}

impl TestApp {
    /// Starts the server on a fresh database; `None` when PostgreSQL is unavailable outside CI.
    pub async fn start(backend: Backend) -> Option<TestApp> {
        Self::start_with(backend, |_| {}).await
    }

    /// Starts with a configuration changed by `tweak` (SMTP URL, SMS webhook …).
    pub async fn start_with(backend: Backend, tweak: impl FnOnce(&mut Config)) -> Option<TestApp> {
        let db = TestDb::new(backend).await?;
        let admin = uuid::Uuid::new_v4().to_string();
        let clock = Arc::new(ManualClock::new(start_time()));
        let mut cfg = config(&db, &admin);
        tweak(&mut cfg);
        let running = usher_server::start(&cfg, clock.clone())
            .await
            .expect("server starts");
        Some(TestApp {
            base: format!("http://{}", running.addr),
            admin,
            clock,
            client: reqwest::Client::new(),
            db,
            running: Some(running),
        })
    }

    pub fn services(&self) -> &Services {
        &self.running.as_ref().expect("running").services
    }

    pub fn backend(&self) -> Backend {
        self.db.backend
    }

    /// Stops the server (the database stays).
    pub async fn stop(&mut self) {
        if let Some(r) = self.running.take() {
            r.shutdown().await;
        }
    }

    pub async fn send(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<&Value>,
    ) -> Resp {
        let mut req = self
            .client
            .request(method, format!("{}{}", self.base, path));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        if let Some(b) = body {
            req = req
                .header("content-type", "application/json")
                .body(b.to_string());
        }
        let res = req.send().await.expect("request");
        Self::read(res).await
    }

    pub async fn raw(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        content_type: Option<&str>,
        body: impl Into<reqwest::Body>,
    ) -> Resp {
        let mut req = self
            .client
            .request(method, format!("{}{}", self.base, path))
            .body(body);
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        if let Some(ct) = content_type {
            req = req.header("content-type", ct);
        }
        Self::read(req.send().await.expect("request")).await
    }

    pub async fn read(res: reqwest::Response) -> Resp {
        let status = res.status().as_u16();
        let headers = res.headers().clone();
        let text = res.text().await.expect("body");
        let body = serde_json::from_str(&text).unwrap_or(Value::Null);
        Resp {
            status,
            headers,
            text,
            body,
        }
    }

    pub async fn get(&self, path: &str, token: &str) -> Resp {
        self.send(Method::GET, path, Some(token), None).await
    }

    pub async fn post(&self, path: &str, token: &str, body: Value) -> Resp {
        self.send(Method::POST, path, Some(token), Some(&body))
            .await
    }

    pub async fn put(&self, path: &str, token: &str, body: Value) -> Resp {
        self.send(Method::PUT, path, Some(token), Some(&body)).await
    }

    pub async fn delete(&self, path: &str, token: &str) -> Resp {
        self.send(Method::DELETE, path, Some(token), None).await
    }

    /// Creates an organization (as instance admin); returns its id.
    pub async fn create_org(&self, name: &str) -> i64 {
        let r = self
            .post("/v1/organizations", &self.admin, json!({"name": name}))
            .await;
        r.expect(201);
        r.body["id"].as_i64().expect("org id")
    }

    /// An API key in `org` acting as its admin (or as `user`), as the instance admin makes it.
    pub async fn key(&self, org: i64, user: Option<i64>, read_only: bool) -> String {
        let mut body = json!({"name": "test", "organizationId": org, "readOnly": read_only});
        if let Some(u) = user {
            body["userId"] = json!(u);
        }
        let r = self.post("/v1/api-keys", &self.admin, body).await;
        r.expect(201);
        r.body["token"].as_str().expect("token").to_owned()
    }

    /// An admin key of the `default` organization (id 1).
    pub async fn org_admin(&self) -> String {
        self.key(1, None, false).await
    }

    /// Creates a user; returns its id.
    pub async fn create_user(&self, token: &str, body: Value) -> i64 {
        let r = self.post("/v2/users", token, body).await;
        r.expect(201);
        r.body["userId"].as_i64().expect("user id")
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(r) = self.running.take() {
            // Tell the server to stop; the runtime ends with the test.
            let _ = r.stopper().send(true);
        }
    }
}
