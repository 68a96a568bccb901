//! A real browser (headless Chromium through ChromeDriver) opens the invitation link from a
//! received email, sets a password using only the keyboard, and the user is active. A screenshot
//! of the result is kept in `target/artifacts/`.
//!
//! Chromium and ChromeDriver come from Debian's `chromium` and `chromium-driver` packages, which
//! `scripts/test` installs. Without them this test says so loudly and passes — except in CI,
//! where it fails.

use std::path::PathBuf;
use std::time::Duration;

use fantoccini::key::Key;
use fantoccini::{ClientBuilder, Locator};
use serde_json::json;
use tokio::process::Command;

use crate::sinks::SmtpSink;
use crate::support::*;

const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";

fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "false" && v != "0")
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn artifacts() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target"));
    let dir = target.join("artifacts");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

async fn browser_accepts_invitation(backend: Backend) {
    if !(std::path::Path::new(CHROMIUM).exists() && std::path::Path::new(CHROMEDRIVER).exists()) {
        assert!(
            !in_ci(),
            "Chromium and ChromeDriver are required in CI (scripts/test installs them)"
        );
        eprintln!(
            "\n!!! {CHROMIUM} or {CHROMEDRIVER} missing: the browser test did NOT run (run scripts/test).\n"
        );
        return;
    }
    let sink = SmtpSink::start().await;
    let port = free_port();
    let smtp = sink.url();
    let Some(app) = TestApp::start_with(backend, |c| {
        c.listen = format!("127.0.0.1:{port}").parse().unwrap();
        c.public_url = format!("http://127.0.0.1:{port}");
        c.smtp_url = Some(smtp);
    })
    .await
    else {
        return;
    };
    let admin = app.org_admin().await;
    let r = app
        .post(
            "/v2/users",
            &admin,
            json!({"firstName": "Bea", "emailAddress": "bea@example.com", "invitation": {"language": "en", "sendEmail": true}}),
        )
        .await;
    r.expect(201);
    let id = r.body["userId"].as_i64().unwrap();
    let link = sink.wait_for(1).await[0].link("/invite/");
    assert!(
        link.starts_with(&format!("http://127.0.0.1:{port}/invite/")),
        "{link}"
    );

    let driver_port = free_port();
    let mut driver = Command::new(CHROMEDRIVER)
        .arg(format!("--port={driver_port}"))
        .kill_on_drop(true)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("chromedriver starts");
    let profile = tempfile::tempdir().unwrap();
    let mut caps = serde_json::Map::new();
    caps.insert(
        "goog:chromeOptions".to_owned(),
        json!({
            "binary": CHROMIUM,
            "args": [
                "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--disable-quic", "--no-first-run", "--disable-background-networking",
                "--disable-component-update", "--disable-sync", "--window-size=900,900",
                format!("--user-data-dir={}", profile.path().display()),
            ]
        }),
    );
    let connector = hyper_util::client::legacy::connect::HttpConnector::new();
    let mut client = None;
    for _ in 0..100 {
        match ClientBuilder::new(connector.clone())
            .capabilities(caps.clone())
            .connect(&format!("http://127.0.0.1:{driver_port}"))
            .await
        {
            Ok(c) => {
                client = Some(c);
                break;
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    }
    let c = client.expect("a WebDriver session");

    c.goto(&link).await.unwrap();
    let title = c.title().await.unwrap();
    assert!(!title.is_empty());
    // Every field has a label that points at it.
    for name in ["password", "password_confirm"] {
        let input = c
            .find(Locator::Css(&format!("input[name={name}]")))
            .await
            .unwrap();
        let input_id = input
            .attr("id")
            .await
            .unwrap()
            .expect("the field has an id");
        let label = c
            .find(Locator::Css(&format!("label[for=\"{input_id}\"]")))
            .await
            .unwrap();
        assert!(
            !label.text().await.unwrap().trim().is_empty(),
            "label of {name}"
        );
    }
    // Keyboard only: Tab to the first field, type, Tab, type, Enter.
    let body = c.find(Locator::Css("body")).await.unwrap();
    body.send_keys(&String::from(char::from(Key::Tab)))
        .await
        .unwrap();
    let mut tabs = 0;
    loop {
        let active = c.active_element().await.unwrap();
        if active.attr("name").await.unwrap().as_deref() == Some("password") {
            break;
        }
        tabs += 1;
        assert!(tabs < 10, "the password field is reachable with Tab");
        active
            .send_keys(&String::from(char::from(Key::Tab)))
            .await
            .unwrap();
    }
    let password = "a long and unusual passphrase 7";
    c.active_element()
        .await
        .unwrap()
        .send_keys(password)
        .await
        .unwrap();
    c.active_element()
        .await
        .unwrap()
        .send_keys(&String::from(char::from(Key::Tab)))
        .await
        .unwrap();
    let confirm = c.active_element().await.unwrap();
    assert_eq!(
        confirm.attr("name").await.unwrap().as_deref(),
        Some("password_confirm")
    );
    confirm.send_keys(password).await.unwrap();
    confirm
        .send_keys(&String::from(char::from(Key::Enter)))
        .await
        .unwrap();

    // The done page replaces the form.
    c.wait().for_element(Locator::Css("main h1")).await.unwrap();
    let mut done = false;
    for _ in 0..100 {
        if c.find_all(Locator::Css("input[name=password]"))
            .await
            .unwrap()
            .is_empty()
        {
            done = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(done, "the form was submitted");
    let shot = c.screenshot().await.unwrap();
    assert!(shot.starts_with(b"\x89PNG"), "a PNG screenshot");
    let file =
        artifacts().join(format!("browser-invitation-accepted-{backend:?}.png").to_lowercase());
    std::fs::write(&file, &shot).unwrap();
    eprintln!("screenshot: {}", file.display());
    c.close().await.unwrap();
    let _ = driver.kill().await;

    let u = app.get(&format!("/v2/users/{id}"), &admin).await;
    assert_eq!(u.body["registered"], true);
    let stored = app
        .services()
        .store()
        .user(usher_core::types::UserId(id))
        .await
        .unwrap()
        .unwrap();
    assert!(
        app.services()
            .hasher()
            .verify(password, stored.password_hash.as_deref().unwrap())
            .await
            .is_ok_and(|v| matches!(
                v,
                usher_core::password::Verified::Valid {
                    needs_rehash: false
                }
            ))
    );
}

each_backend!(browser_accepts_invitation);
