//! Faults: the real `usher serve` binary killed with SIGKILL under concurrent writes in all three
//! dialects (no acknowledged write, and no outbox row of one, may be lost), and two instances on
//! one PostgreSQL database (no lost update, every message delivered exactly once). See
//! docs/faults.md.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::Path;
use std::process::Stdio;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use reqwest::{Client, Method};
use serde_json::{Value, json};
use tokio::process::{Child, Command};
use usher_core::clock::ManualClock;
use usher_core::model::Channel;
use usher_core::ports::Store;
use usher_store::StoreOptions;

use crate::sinks::SmtpSink;
use crate::support::*;

const BIN: &str = env!("CARGO_BIN_EXE_usher");
const UPDATE_HUMAN_USER: &str = "/zitadel.user.v2.UserService/UpdateHumanUser";
const MERGE: &str = "application/merge-patch+json";
const JSON: &str = "application/json";

// ---------- a small client ----------

/// What became of a request.
#[derive(Debug)]
enum Outcome {
    /// A 2xx status line arrived: the server acknowledged the write (the body may be missing if
    /// the server died while sending it).
    Acked(Option<Value>),
    /// A definite non-2xx answer.
    Refused(u16, String),
    /// No answer (connection refused or reset, the server killed mid-request); the error is
    /// shown in panic messages.
    NoAnswer(#[allow(dead_code)] String),
}

/// One server's base URL with a credential.
#[derive(Clone)]
struct Api {
    base: String,
    token: String,
    client: Client,
}

impl Api {
    fn new(base: String, token: &str) -> Self {
        usher_jobs::senders::install_crypto_provider();
        Api {
            base,
            token: token.to_owned(),
            client: Client::builder()
                .timeout(Duration::from_secs(30))
                .build()
                .expect("client"),
        }
    }

    async fn call(&self, method: Method, path: &str, ct: &str, body: &Value) -> Outcome {
        let sent = self
            .client
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(&self.token)
            .header("content-type", ct)
            .body(body.to_string())
            .send()
            .await;
        let res = match sent {
            Ok(r) => r,
            Err(e) => return Outcome::NoAnswer(e.to_string()),
        };
        let status = res.status().as_u16();
        let text = res.text().await;
        if (200..300).contains(&status) {
            return Outcome::Acked(text.ok().and_then(|t| serde_json::from_str(&t).ok()));
        }
        match text {
            Ok(t) => Outcome::Refused(status, t),
            Err(e) => Outcome::NoAnswer(format!("{status} without a body: {e}")),
        }
    }

    /// A GET that must answer 200; its JSON body.
    async fn get(&self, path: &str) -> Value {
        let res = self
            .client
            .get(format!("{}{path}", self.base))
            .bearer_auth(&self.token)
            .send()
            .await
            .unwrap_or_else(|e| panic!("GET {path}: {e}"));
        let r = TestApp::read(res).await;
        r.expect(200);
        r.body
    }

    /// An organization-admin key of the `default` organization, made with the instance-admin
    /// token this `Api` holds.
    async fn org_admin_key(&self) -> String {
        match self
            .call(
                Method::POST,
                "/v1/api-keys",
                JSON,
                &json!({"name": "faults", "organizationId": 1}),
            )
            .await
        {
            Outcome::Acked(Some(b)) => b["token"].as_str().expect("token").to_owned(),
            other => panic!("creating a key: {other:?}"),
        }
    }

    /// Creates a user through Bold; its id.
    async fn create_user(&self, body: Value) -> i64 {
        match self.call(Method::POST, "/v2/users", JSON, &body).await {
            Outcome::Acked(Some(b)) => b["userId"].as_i64().expect("userId"),
            other => panic!("creating a user: {other:?}"),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Dialect {
    Bold,
    Zitadel,
    Orgo,
}

/// Sets a user's first name in one dialect (Zitadel's profile needs the family name too).
async fn set_first_name(api: &Api, dialect: Dialect, id: i64, value: &str) -> Outcome {
    match dialect {
        Dialect::Bold => {
            api.call(
                Method::PUT,
                &format!("/v2/users/{id}"),
                JSON,
                &json!({"firstName": value}),
            )
            .await
        }
        Dialect::Zitadel => {
            api.call(
                Method::POST,
                UPDATE_HUMAN_USER,
                JSON,
                &json!({"userId": id.to_string(),
                        "profile": {"givenName": value, "familyName": "Writer"}}),
            )
            .await
        }
        Dialect::Orgo => {
            api.call(
                Method::PATCH,
                &format!("/api/v1/users/{id}"),
                MERGE,
                &json!({"firstName": value}),
            )
            .await
        }
    }
}

/// (Re)sends a user's invitation to a new address: one outbox message.
async fn resend_invitation(api: &Api, id: i64, email: &str) -> Outcome {
    api.call(
        Method::PUT,
        &format!("/v2/users/{id}/invitation"),
        JSON,
        &json!({"sendEmail": true, "emailAddress": email}),
    )
    .await
}

/// Creates a user invited by email: one outbox message.
async fn create_invited(api: &Api, name: &str) -> Outcome {
    api.call(
        Method::POST,
        "/v2/users",
        JSON,
        &json!({"firstName": name, "emailAddress": format!("{name}@example.com"),
                "invitation": {"sendEmail": true}}),
    )
    .await
}

/// A pseudo-random number in `lo..hi` (from the OS random source, via a UUID v4).
fn random_between(lo: u64, hi: u64) -> u64 {
    lo + (uuid::Uuid::new_v4().as_u128() % u128::from(hi - lo)) as u64
}

/// The store of a database (opened after the servers have stopped).
async fn open_store(url: &str) -> Arc<dyn Store> {
    usher_store::open(
        url,
        &StoreOptions {
            pg_pool_size: 2,
            migrate: false,
        },
    )
    .await
    .expect("open the store")
}

/// The outbox id in an email's Message-ID (`<{id}@{domain}>`).
fn outbox_id(message_id: &str) -> String {
    message_id
        .trim_matches(['<', '>'])
        .split('@')
        .next()
        .unwrap_or_default()
        .to_owned()
}

// ---------- 1. SIGKILL under load ----------

/// The `usher serve` child and where its output goes.
struct Server {
    child: Child,
    base: String,
}

/// `usher serve` on `db_url` at a fresh port, its output appended to `log`; waits until
/// `/readyz` answers.
async fn launch(db_url: &str, token: &str, smtp_url: &str, log: &Path) -> Server {
    usher_jobs::senders::install_crypto_provider();
    let listen = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .to_string();
    let out = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)
        .expect("log file");
    let mut c = Command::new(BIN);
    for var in [
        "USHER_CONFIG",
        "USHER_SWEEP_INTERVAL",
        "USHER_MAX_JSON_BODY",
        "USHER_MAX_IMPORT_BODY",
        "USHER_SMS_WEBHOOK_URL",
        "USHER_SMS_WEBHOOK_TOKEN",
        "USHER_DELIVERY_MAX_ATTEMPTS",
        "USHER_DELIVERY_RETRY_SECS",
        "USHER_TRUST_FORWARDED_FOR",
    ] {
        c.env_remove(var);
    }
    c.args(["serve", "--listen", &listen, "--bootstrap-token", token])
        .env("USHER_DATABASE_URL", db_url)
        .env("USHER_PUBLIC_URL", PUBLIC_URL)
        .env("USHER_SMTP_URL", smtp_url)
        .env("USHER_MAIL_FROM", "usher <noreply@usher.test>")
        .env("USHER_DELIVERY_POLL_MS", "100")
        .env("USHER_PG_POOL_SIZE", "4")
        .env("USHER_LOG", "warn")
        .env("NO_COLOR", "1")
        .current_dir(log.parent().expect("log dir"))
        .stdin(Stdio::null())
        .stdout(Stdio::from(out.try_clone().expect("log file")))
        .stderr(Stdio::from(out))
        .kill_on_drop(true);
    let mut child = c.spawn().expect("usher serve starts");
    let base = format!("http://{listen}");
    let client = Client::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Some(status) = child.try_wait().expect("try_wait") {
            panic!(
                "usher serve exited at start ({status}):\n{}",
                std::fs::read_to_string(log).unwrap_or_default()
            );
        }
        let ready = client
            .get(format!("{base}/readyz"))
            .send()
            .await
            .is_ok_and(|r| r.status() == 200);
        if ready {
            return Server { child, base };
        }
        assert!(Instant::now() < deadline, "usher serve not ready in 60 s");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// One writer's task and what it learned, carried from one server life to the next.
enum Task {
    /// Sets one user's first name, in one dialect, one write at a time (nobody else writes it).
    Update {
        dialect: Dialect,
        user: i64,
        next: u32,
        /// The value of the last acknowledged write.
        acked: String,
        /// Writes sent after it without an acknowledgement: each may or may not have committed.
        unsure: Vec<String>,
        acks: u32,
    },
    /// Creates users with an emailed invitation.
    Create {
        name: String,
        next: u32,
        /// `(first name and email local part, id when the body arrived)`.
        acked: Vec<(String, Option<i64>)>,
    },
    /// Resends one user's invitation to a new address each time.
    Resend {
        user: i64,
        next: u32,
        acked: Vec<String>,
    },
}

#[derive(Default, Debug)]
struct Tally {
    acked: u32,
    refused: u32,
    no_answer: u32,
}

impl Task {
    /// Writes until `stop`; returns itself with what it learned.
    async fn run(mut self, api: Api, stop: Arc<AtomicBool>) -> (Self, Tally) {
        let mut tally = Tally::default();
        while !stop.load(Ordering::SeqCst) {
            let outcome = match &mut self {
                Task::Update {
                    dialect,
                    user,
                    next,
                    acked,
                    unsure,
                    acks,
                } => {
                    let value = format!("{dialect:?}-{user}-{next}").to_lowercase();
                    *next += 1;
                    let o = set_first_name(&api, *dialect, *user, &value).await;
                    if matches!(o, Outcome::Acked(_)) {
                        *acked = value;
                        unsure.clear();
                        *acks += 1;
                    } else {
                        unsure.push(value);
                    }
                    o
                }
                Task::Create { name, next, acked } => {
                    let value = format!("{name}-{next}");
                    *next += 1;
                    let o = create_invited(&api, &value).await;
                    if let Outcome::Acked(body) = &o {
                        let id = body.as_ref().and_then(|b| b["userId"].as_i64());
                        acked.push((value, id));
                    }
                    o
                }
                Task::Resend { user, next, acked } => {
                    let email = format!("resend-{user}-{next}@example.com");
                    *next += 1;
                    let o = resend_invitation(&api, *user, &email).await;
                    if matches!(o, Outcome::Acked(_)) {
                        acked.push(email);
                    }
                    o
                }
            };
            match outcome {
                Outcome::Acked(_) => tally.acked += 1,
                // A dying server may answer 5xx; anything else is a bug in the test or server.
                Outcome::Refused(status, text) => {
                    assert!(status >= 500, "refused with {status}: {text}");
                    tally.refused += 1;
                }
                Outcome::NoAnswer(_) => {
                    tally.no_answer += 1;
                    // The server is gone; wait for the next one.
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
            }
        }
        (self, tally)
    }
}

/// Kill/restart cycles: SIGKILL after a random 0.6–1.6 s of load each time.
const CYCLES: usize = 4;

/// `usher serve` is killed with SIGKILL at random moments while Bold creates, Bold/Zitadel/Orgo
/// updates and invitation resends run concurrently; after a restart every acknowledged write is
/// there: each user's first name is its writer's last acknowledged value or one sent later without
/// an answer, every acknowledged create exists, and every acknowledged write's outbox row exists.
async fn sigkill_keeps_acknowledged_writes(backend: Backend) {
    let Some(db) = TestDb::new(backend).await else {
        return;
    };
    let started = Instant::now();
    let dir = tempfile::tempdir().expect("temp dir");
    let log = dir.path().join("usher.log");
    // A real SMTP peer: the worker delivers (and marks rows sent) while the kills happen.
    let sink = SmtpSink::start().await;
    let token = uuid::Uuid::new_v4().to_string();

    let first = launch(&db.url, &token, &sink.url(), &log).await;
    let key = Api::new(first.base.clone(), &token).org_admin_key().await;
    let api = Api::new(first.base.clone(), &key);
    let mut tasks = Vec::new();
    for dialect in [Dialect::Bold, Dialect::Zitadel, Dialect::Orgo] {
        for n in 0..3 {
            let user = api
                .create_user(json!({"firstName": "initial", "lastName": "Writer",
                    "emailAddress": format!("{dialect:?}-{n}@example.com")}))
                .await;
            tasks.push(Task::Update {
                dialect,
                user,
                next: 0,
                acked: "initial".to_owned(),
                unsure: Vec::new(),
                acks: 0,
            });
        }
    }
    for n in 0..2 {
        tasks.push(Task::Create {
            name: format!("created-{n}"),
            next: 0,
            acked: Vec::new(),
        });
        let user = api
            .create_user(
                json!({"firstName": "invitee", "emailAddress": format!("invitee-{n}@example.com")}),
            )
            .await;
        tasks.push(Task::Resend {
            user,
            next: 0,
            acked: Vec::new(),
        });
    }

    let mut server = first;
    let mut total = Tally::default();
    for cycle in 0..CYCLES {
        if cycle > 0 {
            server = launch(&db.url, &token, &sink.url(), &log).await;
        }
        let api = Api::new(server.base.clone(), &key);
        let stop = Arc::new(AtomicBool::new(false));
        let handles: Vec<_> = tasks
            .drain(..)
            .map(|t| tokio::spawn(t.run(api.clone(), stop.clone())))
            .collect();
        tokio::time::sleep(Duration::from_millis(random_between(600, 1600))).await;
        server.child.start_kill().expect("SIGKILL");
        let status = server.child.wait().await.expect("wait");
        assert_eq!(
            std::os::unix::process::ExitStatusExt::signal(&status),
            Some(9),
            "killed by SIGKILL: {status}"
        );
        stop.store(true, Ordering::SeqCst);
        for h in handles {
            let (task, tally) = h.await.expect("writer task");
            tasks.push(task);
            total.acked += tally.acked;
            total.refused += tally.refused;
            total.no_answer += tally.no_answer;
        }
    }

    // The last start, on the same database: read everything back.
    let mut server = launch(&db.url, &token, &sink.url(), &log).await;
    let api = Api::new(server.base.clone(), &key);
    let mut in_flight_kept = 0;
    let mut created = Vec::new();
    let mut resent = Vec::new();
    for task in &tasks {
        match task {
            Task::Update {
                dialect,
                user,
                acked,
                unsure,
                acks,
                ..
            } => {
                assert!(
                    *acks > 0,
                    "{dialect:?} writer of {user} never got an answer"
                );
                let u = api.get(&format!("/v2/users/{user}")).await;
                let stored = u["firstName"].as_str().expect("firstName").to_owned();
                if stored != *acked {
                    assert!(
                        unsure.contains(&stored),
                        "{dialect:?} writes to user {user}: stored {stored:?}, but the last \
                         acknowledged value is {acked:?} (later unanswered: {unsure:?}): an \
                         acknowledged write was lost"
                    );
                    in_flight_kept += 1;
                }
                assert_eq!(u["lastName"], "Writer", "user {user}");
            }
            Task::Create { acked, .. } => created.extend(acked.iter().cloned()),
            Task::Resend { acked, .. } => resent.extend(acked.iter().cloned()),
        }
    }
    for (name, id) in &created {
        // (When the 201 arrived without its body, the store is asked below.)
        if let Some(id) = id {
            let u = api.get(&format!("/v2/users/{id}")).await;
            assert_eq!(u["firstName"], name.as_str(), "acknowledged create {id}");
            assert_eq!(
                u["emailAddress"],
                format!("{name}@example.com"),
                "acknowledged create {id}"
            );
        }
    }
    server.child.start_kill().expect("SIGKILL");
    server.child.wait().await.expect("wait");

    let store = open_store(&db.url).await;
    for (name, id) in &created {
        if id.is_none() {
            let found = store
                .users_with_email(&format!("{name}@example.com"))
                .await
                .expect("users by email");
            assert_eq!(found.len(), 1, "acknowledged create of {name}");
        }
    }

    // Every acknowledged write's message is a row of the outbox (delivered or not).
    let rows = store.outbox(None).await.expect("outbox rows");
    let invitations: HashSet<&str> = rows
        .iter()
        .filter(|r| r.message.channel == Channel::Email && r.message.template == "invitation")
        .map(|r| r.message.recipient.as_str())
        .collect();
    for (name, _) in &created {
        let email = format!("{name}@example.com");
        assert!(
            invitations.contains(email.as_str()),
            "the invitation of acknowledged create {email} is not in the outbox"
        );
    }
    for email in &resent {
        assert!(
            invitations.contains(email.as_str()),
            "the acknowledged resend to {email} is not in the outbox"
        );
    }
    // Whatever reached the SMTP server was a committed row.
    let ids: HashSet<&str> = rows.iter().map(|r| r.message.id.as_str()).collect();
    let received = sink.messages();
    for m in &received {
        let id = outbox_id(&m.message_id());
        assert!(ids.contains(id.as_str()), "mail {id} has no outbox row");
    }
    assert!(
        !created.is_empty() && !resent.is_empty(),
        "creates {} resends {}",
        created.len(),
        resent.len()
    );
    eprintln!(
        "faults::sigkill ({backend:?}): {CYCLES} kills; {} writes acknowledged, {} refused, {} \
         unanswered; {} creates, {} resends, {} outbox rows, {} mails received; {in_flight_kept} \
         users kept a write that was in flight at a kill; {:.1} s",
        total.acked,
        total.refused,
        total.no_answer,
        created.len(),
        resent.len(),
        rows.len(),
        received.len(),
        started.elapsed().as_secs_f64()
    );
}

each_backend!(sigkill_keeps_acknowledged_writes);

// ---------- 2. two instances, one PostgreSQL ----------

/// One field of one user, written only by one writer, through one instance and dialect.
#[derive(Debug, Clone, Copy)]
enum Field {
    /// Zitadel UpdateHumanUser: given and family name (read back as Bold's first/last name).
    ZitadelProfile,
    /// Bold `PUT /v2/users/{id}` `description`.
    BoldDescription,
    /// Orgo merge-patch `companyName` (read back through Orgo).
    OrgoCompany,
    /// Bold `PUT /v2/users/{id}` `remarks`.
    BoldRemarks,
}

impl Field {
    async fn write(self, api: &Api, id: i64, value: &str) -> Outcome {
        match self {
            Field::ZitadelProfile => {
                api.call(
                    Method::POST,
                    UPDATE_HUMAN_USER,
                    JSON,
                    &json!({"userId": id.to_string(),
                            "profile": {"givenName": value, "familyName": value}}),
                )
                .await
            }
            Field::BoldDescription | Field::BoldRemarks => {
                let name = if matches!(self, Field::BoldDescription) {
                    "description"
                } else {
                    "remarks"
                };
                api.call(
                    Method::PUT,
                    &format!("/v2/users/{id}"),
                    JSON,
                    &json!({ name: value }),
                )
                .await
            }
            Field::OrgoCompany => {
                api.call(
                    Method::PATCH,
                    &format!("/api/v1/users/{id}"),
                    MERGE,
                    &json!({"companyName": value}),
                )
                .await
            }
        }
    }

    /// The field as stored, read through `api`.
    async fn read(self, api: &Api, id: i64) -> Value {
        match self {
            Field::ZitadelProfile => {
                let u = api.get(&format!("/v2/users/{id}")).await;
                assert_eq!(u["firstName"], u["lastName"], "user {id}: {u}");
                u["firstName"].clone()
            }
            Field::BoldDescription => {
                api.get(&format!("/v2/users/{id}")).await["description"].clone()
            }
            Field::BoldRemarks => api.get(&format!("/v2/users/{id}")).await["remarks"].clone(),
            Field::OrgoCompany => {
                api.get(&format!("/api/v1/users/{id}")).await["companyName"].clone()
            }
        }
    }
}

/// Writes per writer in the two-instance test.
const ROUNDS: u32 = 15;

/// Writes `field` of `user` `ROUNDS` times through `api`, checking through `other` (the other
/// instance) before each write that the last acknowledged value is still there: another
/// writer's read-modify-write of the same user must never put back an older value. Returns the
/// last acknowledged value and the count of 503s (too much contention).
async fn field_writer(api: Api, other: Api, field: Field, user: i64, tag: String) -> (Value, u32) {
    let mut acked = Value::Null;
    let mut busy = 0;
    for n in 0..ROUNDS {
        let now = field.read(&other, user).await;
        assert_eq!(
            now, acked,
            "{field:?} of user {user}: the last acknowledged value was overwritten (lost update)"
        );
        let value = format!("{tag}-{n}");
        match field.write(&api, user, &value).await {
            Outcome::Acked(_) => acked = json!(value),
            Outcome::Refused(503, _) => busy += 1,
            other => panic!("{field:?} of user {user}: {other:?}"),
        }
    }
    (acked, busy)
}

/// Two servers on one PostgreSQL database, started at the same moment, both sending mail to one
/// SMTP server. Four writers per user (two per instance, in all three dialects) change different
/// fields of the same users concurrently: no acknowledged change is ever overwritten by another
/// writer's stale copy. Invitations are created and resent through both: every acknowledged one
/// reaches the SMTP server exactly once (both instances' workers share the queue).
async fn two_instances_one_database(backend: Backend) {
    let Some(db) = TestDb::new(backend).await else {
        return;
    };
    let started = Instant::now();
    let sink = SmtpSink::start().await;
    let token = uuid::Uuid::new_v4().to_string();
    let clock = Arc::new(ManualClock::new(start_time()));
    let mut cfg = config(&db, &token);
    cfg.smtp_url = Some(sink.url());
    // Both bootstrap the empty database at once.
    let (a, b) = tokio::join!(
        usher_server::start(&cfg, clock.clone()),
        usher_server::start(&cfg, clock.clone())
    );
    let (a, b) = (a.expect("first instance"), b.expect("second instance"));
    let root_a = Api::new(format!("http://{}", a.addr), &token);
    let orgs = root_a.get("/v1/organizations").await;
    assert_eq!(
        orgs.as_array().map(Vec::len),
        Some(1),
        "one default organization: {orgs}"
    );
    let key = root_a.org_admin_key().await;
    let apis = [
        Api::new(format!("http://{}", a.addr), &key),
        Api::new(format!("http://{}", b.addr), &key),
    ];

    let mut users = Vec::new();
    for n in 0..3 {
        users.push(
            apis[n % 2]
                .create_user(json!({"emailAddress": format!("shared-{n}@example.com")}))
                .await,
        );
    }

    // (field, instance) per writer: each user gets two writers per instance.
    let plan = [
        (Field::ZitadelProfile, 0),
        (Field::BoldDescription, 1),
        (Field::OrgoCompany, 0),
        (Field::BoldRemarks, 1),
    ];
    let mut writers = Vec::new();
    for &user in &users {
        for (field, i) in plan {
            let tag = format!("{field:?}-{user}").to_lowercase();
            let (api, other) = (apis[i].clone(), apis[1 - i].clone());
            writers.push((
                field,
                user,
                tokio::spawn(field_writer(api, other, field, user, tag)),
            ));
        }
    }
    // Messages: each user's invitation resent to new addresses through both instances, and users
    // created with an invitation through both.
    let mut senders = Vec::new();
    for &user in &users {
        for (i, api) in apis.iter().enumerate() {
            let api = api.clone();
            senders.push(tokio::spawn(async move {
                let mut acked = Vec::new();
                for n in 0..ROUNDS {
                    let email = format!("resend-{user}-{i}-{n}@example.com");
                    match resend_invitation(&api, user, &email).await {
                        Outcome::Acked(_) => acked.push(email),
                        Outcome::Refused(503, _) => {}
                        other => panic!("resend to {email}: {other:?}"),
                    }
                }
                acked
            }));
        }
    }
    for (i, api) in apis.iter().enumerate() {
        let api = api.clone();
        senders.push(tokio::spawn(async move {
            let mut acked = Vec::new();
            for n in 0..ROUNDS {
                let name = format!("new-{i}-{n}");
                match create_invited(&api, &name).await {
                    Outcome::Acked(_) => acked.push(format!("{name}@example.com")),
                    other => panic!("create {name}: {other:?}"),
                }
            }
            acked
        }));
    }

    let mut busy = 0;
    let mut last = Vec::new();
    for (field, user, h) in writers {
        let (value, b) = h.await.expect("writer");
        assert!(
            !value.is_null(),
            "{field:?} of {user}: no write acknowledged"
        );
        busy += b;
        last.push((field, user, value));
    }
    let mut expected: Vec<String> = Vec::new();
    for h in senders {
        expected.extend(h.await.expect("sender"));
    }
    // Only a few writes may give up on contention (503 after the service's retries; such a
    // write changed nothing).
    let writes = users.len() as u32 * (plan.len() as u32 + 2) * ROUNDS;
    assert!(busy * 4 < writes, "{busy} of {writes} writes answered 503");

    // The final state holds every writer's last acknowledged value, seen through both instances.
    for (field, user, value) in &last {
        for api in &apis {
            assert_eq!(
                &field.read(api, *user).await,
                value,
                "{field:?} of user {user}"
            );
        }
    }

    // Every acknowledged message arrives once: no more, no fewer, no Message-ID twice.
    let got = sink.wait_for(expected.len()).await;
    // Give both workers several more polls to send a duplicate, if they would.
    tokio::time::sleep(Duration::from_millis(600)).await;
    let got = if sink.messages().len() > got.len() {
        sink.messages()
    } else {
        got
    };
    let mut per_recipient: BTreeMap<String, usize> = BTreeMap::new();
    let mut ids = HashMap::new();
    for m in &got {
        assert_eq!(m.to.len(), 1, "{:?}", m.to);
        *per_recipient.entry(m.to[0].clone()).or_default() += 1;
        let id = outbox_id(&m.message_id());
        if let Some(before) = ids.insert(id.clone(), m.to[0].clone()) {
            panic!("message {id} (to {before}) delivered twice");
        }
    }
    let want: BTreeMap<String, usize> = expected.iter().map(|e| (e.clone(), 1)).collect();
    assert_eq!(
        per_recipient, want,
        "each acknowledged invitation exactly once"
    );

    let (ma, mb) = (metrics_sent(&apis[0]).await, metrics_sent(&apis[1]).await);
    a.shutdown().await;
    b.shutdown().await;
    let rows = open_store(&db.url)
        .await
        .outbox(None)
        .await
        .expect("outbox rows");
    assert_eq!(rows.len(), expected.len(), "one outbox row per message");
    for r in &rows {
        assert_eq!(r.status, "sent", "{:?}", r.message.recipient);
        assert_eq!(r.attempts, 1, "{:?}", r.message.recipient);
    }
    eprintln!(
        "faults::two_instances: {writes} field writes and resends ({busy} gave up on contention), \
         {} messages delivered once each ({ma} by the first instance, {mb} by the second); \
         {:.1} s",
        expected.len(),
        started.elapsed().as_secs_f64()
    );
}

/// `usher_outbox_deliveries_total{channel="email",result="sent"}` of one instance.
async fn metrics_sent(api: &Api) -> u64 {
    let text = api
        .client
        .get(format!("{}/metrics", api.base))
        .send()
        .await
        .expect("metrics")
        .text()
        .await
        .expect("metrics body");
    text.lines()
        .filter(|l| l.starts_with("usher_outbox_deliveries_total") && l.contains("sent"))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<u64>().ok())
        .sum()
}

mod two_instances {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn postgres() {
        super::two_instances_one_database(crate::support::Backend::Postgres).await;
    }
}
