//! Operating usher: auto-removal, restarts on an existing database, health checks and the
//! `usher` binary's commands.

use std::net::{SocketAddr, TcpListener};
use std::process::{ExitStatus, Output, Stdio};
use std::time::Duration;

use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, ChildStdout, Command};
use usher_core::model::Actor;
use usher_core::ports::UserFilter;
use usher_core::types::OrgId;

use crate::support::*;

// ---------- auto-removal ----------

/// `autoRemoveAfter` sets `autoRemoveDate` to now + the calendar period; the sweep removes only
/// users whose date has passed, keeps their audit trail, and `null` clears the date.
async fn auto_removal_follows_the_clock(app: TestApp) {
    let admin = app.org_admin().await;
    let mut ids = Vec::new();
    for (name, period) in [
        ("week", json!("WEEK")),
        ("month", json!("MONTH")),
        ("year", json!("YEAR")),
        ("never", Value::Null),
        ("cleared", json!("WEEK")),
    ] {
        let mut body = json!({"firstName": name, "emailAddress": format!("{name}@example.com")});
        if !period.is_null() {
            body["autoRemoveAfter"] = period;
        }
        ids.push(app.create_user(&admin, body).await);
    }
    let [week, month, year, never, cleared] = ids[..] else {
        unreachable!()
    };

    let expect = [
        (week, json!("WEEK"), json!("2026-03-24T09:38:37.991821898Z")),
        (
            month,
            json!("MONTH"),
            json!("2026-04-17T09:38:37.991821898Z"),
        ),
        (year, json!("YEAR"), json!("2027-03-17T09:38:37.991821898Z")),
        (never, Value::Null, Value::Null),
        (
            cleared,
            json!("WEEK"),
            json!("2026-03-24T09:38:37.991821898Z"),
        ),
    ];
    for (id, after, date) in &expect {
        let u = app.get(&format!("/v2/users/{id}"), &admin).await;
        u.expect(200);
        assert_eq!(&u.body["autoRemoveAfter"], after, "user {id}");
        assert_eq!(&u.body["autoRemoveDate"], date, "user {id}");
    }

    // `null` clears both.
    let r = app
        .put(
            &format!("/v2/users/{cleared}"),
            &admin,
            json!({"autoRemoveAfter": null}),
        )
        .await;
    r.expect(200);
    assert_eq!(r.text, cleared.to_string());
    let u = app.get(&format!("/v2/users/{cleared}"), &admin).await;
    assert_eq!(u.body["autoRemoveAfter"], Value::Null);
    assert_eq!(u.body["autoRemoveDate"], Value::Null);

    // Nothing is due yet.
    assert_eq!(
        app.services().sweep_auto_removals().await.expect("sweep"),
        0
    );

    // A week and a day later only the WEEK user goes.
    app.clock.advance(chrono::Duration::days(8));
    assert_eq!(
        app.services().sweep_auto_removals().await.expect("sweep"),
        1
    );
    app.get(&format!("/v2/users/{week}"), &admin)
        .await
        .bold_error(404, "UserNotFound");
    for id in [month, year, never, cleared] {
        app.get(&format!("/v2/users/{id}"), &admin)
            .await
            .expect(200);
    }
    // Its audit trail stays, ending with the deletion by usher itself.
    let events = app
        .services()
        .store()
        .audit_events("user", week)
        .await
        .expect("audit events");
    let types: Vec<&str> = events.iter().map(|e| e.event_type.as_str()).collect();
    assert_eq!(types, ["user.created", "user.deleted"], "{events:?}");
    let deleted = events.last().expect("deletion event");
    assert_eq!(deleted.actor, Actor::System);
    assert_eq!(deleted.subject_id, week);
    assert_eq!(deleted.org_id, Some(OrgId(1)));
    assert_eq!(
        deleted.created_at,
        start_time().plus(chrono::Duration::days(8))
    );
    assert_eq!(deleted.sequence, Some(events[0].sequence.expect("seq") + 1));
    // A second sweep at the same time removes nothing more.
    assert_eq!(
        app.services().sweep_auto_removals().await.expect("sweep"),
        0
    );

    // Setting a period later counts from the time it is set.
    let r = app
        .put(
            &format!("/v2/users/{never}"),
            &admin,
            json!({"autoRemoveAfter": "MONTH"}),
        )
        .await;
    r.expect(200);
    let u = app.get(&format!("/v2/users/{never}"), &admin).await;
    assert_eq!(u.body["autoRemoveAfter"], "MONTH");
    assert_eq!(u.body["autoRemoveDate"], "2026-04-25T09:38:37.991821898Z");

    // One nanosecond before the MONTH date nothing happens; at the date the user goes.
    app.clock
        .set(usher_core::types::Timestamp::parse("2026-04-17T09:38:37.991821897Z").expect("time"));
    assert_eq!(
        app.services().sweep_auto_removals().await.expect("sweep"),
        0
    );
    app.clock.advance(chrono::Duration::nanoseconds(1));
    assert_eq!(
        app.services().sweep_auto_removals().await.expect("sweep"),
        1
    );
    app.get(&format!("/v2/users/{month}"), &admin)
        .await
        .bold_error(404, "UserNotFound");

    // Past the second MONTH date and then past the YEAR date.
    app.clock.advance(chrono::Duration::days(9));
    assert_eq!(
        app.services().sweep_auto_removals().await.expect("sweep"),
        1
    );
    app.get(&format!("/v2/users/{never}"), &admin)
        .await
        .bold_error(404, "UserNotFound");
    app.clock.advance(chrono::Duration::days(400));
    assert_eq!(
        app.services().sweep_auto_removals().await.expect("sweep"),
        1
    );
    app.get(&format!("/v2/users/{year}"), &admin)
        .await
        .bold_error(404, "UserNotFound");

    // The cleared user survived every sweep.
    let u = app.get(&format!("/v2/users/{cleared}"), &admin).await;
    u.expect(200);
    assert_eq!(u.body["firstName"], "cleared");
    assert_eq!(
        app.services()
            .store()
            .count_users(&UserFilter::Org(OrgId(1)))
            .await
            .expect("count"),
        1
    );
}

// ---------- restart ----------

/// A second start on the same database keeps the data and the original admin key, ignores a
/// different bootstrap token (an instance-admin key already exists) and makes no second
/// `default` organization.
async fn restart_on_an_existing_database(mut app: TestApp) {
    let admin = app.org_admin().await;
    let org = app.create_org("acme").await;
    let user = app
        .create_user(
            &admin,
            json!({"firstName": "Ada", "emailAddress": "ada@example.com", "externalId": "e-1"}),
        )
        .await;
    let before = app.get(&format!("/v2/users/{user}"), &admin).await;
    before.expect(200);
    app.stop().await;
    // The old server no longer answers.
    assert!(
        app.client
            .get(format!("{}/healthz", app.base))
            .send()
            .await
            .is_err()
    );

    let other_token = uuid::Uuid::new_v4().to_string();
    let running = usher_server::start(&config(&app.db, &other_token), app.clock.clone())
        .await
        .expect("second start");
    assert!(!running.bootstrapped.created_default_org);
    assert_eq!(running.bootstrapped.new_admin_secret, None);
    assert!(!running.bootstrapped.used_bootstrap_token);
    app.base = format!("http://{}", running.addr);

    // Data and keys survive.
    let after = app.get(&format!("/v2/users/{user}"), &admin).await;
    after.expect(200);
    assert_eq!(after.body, before.body);
    let orgs = app.get("/v1/organizations", &app.admin).await;
    orgs.expect(200);
    let names: Vec<(i64, &str)> = orgs
        .body
        .as_array()
        .expect("array")
        .iter()
        .map(|o| {
            (
                o["id"].as_i64().expect("id"),
                o["name"].as_str().expect("name"),
            )
        })
        .collect();
    assert_eq!(names, [(1, "default"), (org, "acme")]);

    // The new bootstrap token was not turned into a key.
    app.get("/v1/organizations", &other_token)
        .await
        .bold_error(401, "InvalidToken");
    app.get(&format!("/v2/users/{user}"), &other_token)
        .await
        .bold_error(401, "InvalidToken");

    // The restarted server writes, too.
    let second = app
        .create_user(
            &admin,
            json!({"firstName": "Bea", "emailAddress": "bea@example.com"}),
        )
        .await;
    assert!(second > user, "ids keep growing: {second} after {user}");
    running.shutdown().await;
}

// ---------- health ----------

async fn health_endpoints(app: TestApp) {
    let r = app.send(reqwest::Method::GET, "/healthz", None, None).await;
    r.expect(200);
    assert_eq!(r.body, json!({"status": "ok"}));
    assert_eq!(r.headers["content-type"], "application/json");
    let r = app.send(reqwest::Method::GET, "/readyz", None, None).await;
    r.expect(200);
    assert_eq!(r.body, json!({"status": "ready"}));
    assert_eq!(r.headers["content-type"], "application/json");
    // A credential does not change the answer, and a wrong one is not checked.
    let r = app.get("/readyz", "not-a-key").await;
    r.expect(200);
    assert_eq!(r.body, json!({"status": "ready"}));
}

// ---------- the binary ----------

const BIN: &str = env!("CARGO_BIN_EXE_usher");

/// `usher <args>` on `database_url`, with no other `USHER_*` setting from the environment, in an
/// empty working directory.
fn usher(database_url: &str, workdir: &std::path::Path) -> Command {
    let mut c = Command::new(BIN);
    for var in [
        "USHER_CONFIG",
        "USHER_LISTEN",
        "USHER_PUBLIC_URL",
        "USHER_BOOTSTRAP_TOKEN",
        "USHER_SWEEP_INTERVAL",
        "USHER_PG_POOL_SIZE",
        "USHER_MAX_JSON_BODY",
        "USHER_MAX_IMPORT_BODY",
        "USHER_SMTP_URL",
        "USHER_MAIL_FROM",
        "USHER_SMS_WEBHOOK_URL",
        "USHER_SMS_WEBHOOK_TOKEN",
    ] {
        c.env_remove(var);
    }
    c.env("USHER_DATABASE_URL", database_url)
        .env("USHER_LOG", "info")
        .env("NO_COLOR", "1")
        .current_dir(workdir)
        .stdin(Stdio::null())
        .kill_on_drop(true);
    c
}

/// Runs a command to completion (at most a minute).
async fn run(mut c: Command, args: &[&str]) -> Output {
    c.args(args);
    tokio::time::timeout(Duration::from_secs(60), c.output())
        .await
        .unwrap_or_else(|_| panic!("usher {args:?} timed out"))
        .expect("usher runs")
}

fn stdout(o: &Output) -> String {
    String::from_utf8(o.stdout.clone()).expect("utf-8 stdout")
}

#[track_caller]
fn assert_success(o: &Output, what: &str) {
    assert!(
        o.status.success(),
        "{what}: {:?}\nstdout: {}\nstderr: {}",
        o.status,
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
}

/// A lowercase UUID v4, as Bold secrets look.
#[track_caller]
fn assert_uuid_secret(s: &str) {
    let u = uuid::Uuid::parse_str(s).unwrap_or_else(|_| panic!("not a UUID: {s:?}"));
    assert_eq!(u.get_version_num(), 4, "{s}");
    assert_eq!(u.hyphenated().to_string(), s, "lowercase hyphenated");
}

/// A port nobody listens on (just released).
fn free_port() -> SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind");
    l.local_addr().expect("addr")
}

/// Reads stdout lines until one contains `until`; returns every line read.
async fn read_until(out: &mut BufReader<ChildStdout>, until: &str) -> Vec<String> {
    let mut lines = Vec::new();
    let read = async {
        loop {
            let mut line = String::new();
            let n = out.read_line(&mut line).await.expect("read stdout");
            assert!(n > 0, "stdout ended before {until:?}; got {lines:?}");
            let done = line.contains(until);
            lines.push(line);
            if done {
                return;
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(60), read)
        .await
        .unwrap_or_else(|_| panic!("no {until:?} on stdout within a minute"));
    lines
}

/// Sends SIGTERM and waits (at most 30 s) for the process to end.
async fn terminate(child: &mut Child) -> ExitStatus {
    let pid = child.id().expect("still running");
    let kill = std::process::Command::new("kill")
        .arg("-TERM")
        .arg(pid.to_string())
        .status()
        .expect("kill runs");
    assert!(kill.success());
    tokio::time::timeout(Duration::from_secs(30), child.wait())
        .await
        .expect("exits within 30 s after SIGTERM")
        .expect("wait")
}

/// `usher migrate`, `usher admin create-org`, `usher admin create-key` on the server's database.
async fn cli_admin_commands(mut app: TestApp) {
    let dir = tempfile::tempdir().expect("temp dir");
    let url = app.db.url.clone();

    let o = run(usher(&url, dir.path()), &["migrate"]).await;
    assert_success(&o, "usher migrate");
    assert_eq!(stdout(&o), format!("migrations applied to {url}\n"));
    // Idempotent.
    assert_success(
        &run(usher(&url, dir.path()), &["migrate"]).await,
        "second migrate",
    );

    let o = run(
        usher(&url, dir.path()),
        &["admin", "create-org", "--name", "acme"],
    )
    .await;
    assert_success(&o, "usher admin create-org");
    let text = stdout(&o);
    let org: i64 = text
        .trim_end_matches('\n')
        .parse()
        .unwrap_or_else(|_| panic!("an id, got {text:?}"));
    assert_eq!(text, format!("{org}\n"));
    let r = app
        .get(&format!("/v1/organizations/{org}"), &app.admin)
        .await;
    r.expect(200);
    assert_eq!(r.body["id"], org);
    assert_eq!(r.body["name"], "acme");

    // An org key: an admin of exactly that organization.
    let org_text = org.to_string();
    let o = run(
        usher(&url, dir.path()),
        &["admin", "create-key", "--org", &org_text],
    )
    .await;
    assert_success(&o, "usher admin create-key --org");
    let text = stdout(&o);
    let key = text.trim_end_matches('\n');
    assert_eq!(text, format!("{key}\n"));
    assert_uuid_secret(key);
    let r = app.get("/v1/organization", key).await;
    r.expect(200);
    assert_eq!(r.body["id"], org);
    assert_eq!(r.body["name"], "acme");
    let u = app
        .create_user(
            key,
            json!({"firstName": "Ann", "emailAddress": "ann@example.com"}),
        )
        .await;
    let r = app.get(&format!("/v2/users/{u}"), key).await;
    r.expect(200);
    assert_eq!(r.body["organizationId"], org);
    app.get("/v1/organizations/1", key)
        .await
        .bold_error(404, "OrganizationNotFound");
    app.post("/v1/organizations", key, json!({"name": "nope"}))
        .await
        .bold_error(403, "InsufficientRights");

    // Without --org: an instance-admin key.
    let o = run(usher(&url, dir.path()), &["admin", "create-key"]).await;
    assert_success(&o, "usher admin create-key");
    let text = stdout(&o);
    let root = text.trim_end_matches('\n');
    assert_eq!(text, format!("{root}\n"));
    assert_uuid_secret(root);
    assert_ne!(root, key);
    let r = app.get("/v1/organizations", root).await;
    r.expect(200);
    let names: Vec<&str> = r
        .body
        .as_array()
        .expect("array")
        .iter()
        .map(|o| o["name"].as_str().expect("name"))
        .collect();
    assert_eq!(
        names,
        ["default", "acme"],
        "no second `default` organization"
    );
    let r = app.get("/v1/organizations/1", root).await;
    r.expect(200);
    assert_eq!(r.body["name"], "default");

    // Bad input exits non-zero with a message on stderr and nothing on stdout.
    let o = run(usher(&url, dir.path()), &["admin", "create-org"]).await;
    assert_eq!(o.status.code(), Some(2), "clap usage error");
    assert_eq!(stdout(&o), "");
    let o = run(
        usher(&url, dir.path()),
        &["admin", "create-key", "--org", "999999"],
    )
    .await;
    assert_eq!(
        o.status.code(),
        Some(1),
        "a key for an unknown organization"
    );
    assert_eq!(stdout(&o), "");
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert_eq!(
        stderr.lines().last(),
        Some("usher: Organization not found"),
        "{stderr}"
    );

    // The CLI-made instance-admin key writes, on a server (re)started on that database. (On
    // SQLite a server that was already running when the CLI allocated ids does not see them;
    // see the report.)
    app.stop().await;
    let running = usher_server::start(&config(&app.db, &app.admin), app.clock.clone())
        .await
        .expect("restart");
    app.base = format!("http://{}", running.addr);
    let r = app
        .post("/v1/organizations", root, json!({"name": "beta"}))
        .await;
    r.expect(201);
    let beta = r.body["id"].as_i64().expect("id");
    assert!(beta > org, "{beta} after {org}");
    let r = app
        .post(
            "/v1/api-keys",
            root,
            json!({"name": "k", "organizationId": beta}),
        )
        .await;
    r.expect(201);
    assert_uuid_secret(r.body["token"].as_str().expect("token"));
    let r = app.get("/v1/organizations", &app.admin).await;
    let names: Vec<&str> = r
        .body
        .as_array()
        .expect("array")
        .iter()
        .map(|o| o["name"].as_str().expect("name"))
        .collect();
    assert_eq!(names, ["default", "acme", "beta"]);
    running.shutdown().await;
}

/// `usher serve` on an empty database without a bootstrap token prints a new instance-admin key
/// once, serves with it, and stops cleanly on SIGTERM; the next start prints no key.
async fn serve_prints_the_first_admin_key_once(app: TestApp) {
    let db = TestDb::new(app.backend()).await.expect("a second database");
    let dir = tempfile::tempdir().expect("temp dir");
    let addr = free_port();
    let listen = addr.to_string();

    let mut child = usher(&db.url, dir.path())
        .args(["serve", "--listen", &listen])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("usher serve starts");
    let mut out = BufReader::new(child.stdout.take().expect("stdout"));
    let lines = read_until(&mut out, "usher is listening").await;
    let keys: Vec<&str> = lines
        .iter()
        .map(|l| l.trim())
        .filter(|l| uuid::Uuid::parse_str(l).is_ok())
        .collect();
    assert_eq!(keys.len(), 1, "one key line: {lines:?}");
    let key = keys[0].to_owned();
    assert_uuid_secret(&key);
    let mentions = lines.iter().filter(|l| l.contains(&key)).count();
    assert_eq!(mentions, 2, "the key line and the usage line: {lines:?}");
    assert!(
        lines
            .iter()
            .any(|l| l.contains("usher created an instance-admin API key")),
        "{lines:?}"
    );

    let client = &app.client;
    let base = format!("http://{listen}");
    let res = client
        .get(format!("{base}/v1/organizations"))
        .bearer_auth(&key)
        .send()
        .await
        .expect("request");
    let r = TestApp::read(res).await;
    r.expect(200);
    let orgs = r.body.as_array().expect("array");
    assert_eq!(orgs.len(), 1, "{}", r.text);
    assert_eq!(orgs[0]["id"], 1);
    assert_eq!(orgs[0]["name"], "default");

    // `usher healthcheck` against the running binary.
    let o = run(
        usher(&db.url, dir.path()),
        &["healthcheck", "--listen", &listen],
    )
    .await;
    assert_success(&o, "usher healthcheck");

    let status = terminate(&mut child).await;
    assert!(status.success(), "graceful shutdown exits 0: {status:?}");
    // Read what is left: the key is never printed again.
    let mut rest = String::new();
    while out.read_line(&mut rest).await.expect("read") > 0 {}
    assert!(!rest.contains(&key), "{rest}");

    // Second start on the same database: no new key, the first one still works.
    let addr2 = free_port();
    let listen2 = addr2.to_string();
    let mut child = usher(&db.url, dir.path())
        .args(["serve", "--listen", &listen2])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("usher serve starts again");
    let mut out = BufReader::new(child.stdout.take().expect("stdout"));
    let lines = read_until(&mut out, "usher is listening").await;
    assert!(
        !lines.iter().any(
            |l| l.contains("instance-admin API key") || uuid::Uuid::parse_str(l.trim()).is_ok()
        ),
        "no key on the second start: {lines:?}"
    );
    let res = client
        .get(format!("http://{listen2}/v1/organizations"))
        .bearer_auth(&key)
        .send()
        .await
        .expect("request");
    let r = TestApp::read(res).await;
    r.expect(200);
    assert_eq!(
        r.body.as_array().expect("array").len(),
        1,
        "still one organization"
    );
    let status = terminate(&mut child).await;
    assert!(status.success(), "graceful shutdown exits 0: {status:?}");
}

/// `usher healthcheck` exits 0 against a ready server and non-zero against a closed port.
async fn healthcheck_command(app: TestApp) {
    let dir = tempfile::tempdir().expect("temp dir");
    let listen = app.base.trim_start_matches("http://").to_owned();
    let o = run(
        usher(&app.db.url, dir.path()),
        &["healthcheck", "--listen", &listen],
    )
    .await;
    assert_success(&o, "usher healthcheck");
    assert_eq!(stdout(&o), "");

    let closed = free_port().to_string();
    let o = run(
        usher(&app.db.url, dir.path()),
        &["healthcheck", "--listen", &closed],
    )
    .await;
    assert!(
        !o.status.success(),
        "healthcheck of a closed port must fail"
    );
    assert_eq!(o.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&o.stderr).starts_with("usher: "),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
}

/// With no SMTP server and no SMS webhook configured, the log shows each whole message, link
/// included, and the link works.
async fn log_shows_messages_and_their_links_work(app: TestApp) {
    let db = TestDb::new(app.backend()).await.expect("a second database");
    let dir = tempfile::tempdir().expect("temp dir");
    let listen = free_port().to_string();
    let token = "log-sender-test-admin-token";
    let mut child = usher(&db.url, dir.path())
        .args(["serve", "--listen", &listen, "--bootstrap-token", token])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("usher serve starts");
    let mut out = BufReader::new(child.stdout.take().expect("stdout"));
    read_until(&mut out, "usher is listening").await;
    let base = format!("http://{listen}");
    let res = app
        .client
        .post(format!("{base}/v2/users"))
        .bearer_auth(token)
        .json(&json!({"organizationId": 1, "firstName": "Lou", "emailAddress": "lou@example.com",
                      "phoneNumber": "+41791234567", "invitation": {"sendEmail": true, "sendSms": true}}))
        .send()
        .await
        .expect("request");
    let created = TestApp::read(res).await;
    created.expect(201);
    let link = created.body["invitation"]["url"]
        .as_str()
        .expect("url")
        .to_owned();
    assert!(link.starts_with(&format!("{base}/invite/")), "{link}");
    // The email and the SMS go out concurrently: read until both are in the log.
    let mut log = String::new();
    // The SMS carries the link too: wait for the email's recipient as well.
    let wanted = [
        link.as_str(),
        "SMS (no SMS webhook configured",
        "lou@example.com",
    ];
    tokio::time::timeout(Duration::from_secs(60), async {
        while !wanted.iter().all(|w| log.contains(w)) {
            let mut line = String::new();
            let n = out.read_line(&mut line).await.expect("read stdout");
            assert!(n > 0, "stdout ended; got {log}");
            log.push_str(&line);
        }
    })
    .await
    .unwrap_or_else(|_| panic!("the messages were not logged within a minute"));
    assert!(log.contains("lou@example.com"), "{log}");
    assert!(log.contains("+41791234567"), "{log}");
    let page = app.client.get(&link).send().await.expect("request");
    assert_eq!(page.status(), 200);
    assert!(
        page.text()
            .await
            .expect("body")
            .contains("type=\"password\"")
    );
    let status = terminate(&mut child).await;
    assert!(status.success(), "{status:?}");
}

both_backends!(
    log_shows_messages_and_their_links_work,
    auto_removal_follows_the_clock,
    restart_on_an_existing_database,
    health_endpoints,
    cli_admin_commands,
    serve_prints_the_first_admin_key_once,
    healthcheck_command,
);
