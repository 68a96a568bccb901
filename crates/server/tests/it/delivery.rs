//! Messages that reach people: the outbox worker over a real SMTP conversation and a real SMS
//! webhook, retries, give-ups, leases, and the web pages behind the links.

use std::time::Duration;

use reqwest::Method;
use serde_json::{Value, json};
use usher_core::model::{Channel, CodePurpose};
use usher_core::principal::{Principal, Role};
use usher_core::types::{Email, OrgId, UserId};

use crate::sinks::{SmsSink, SmtpSink};
use crate::support::*;

/// Polls until `check` holds (at most 15 s).
pub async fn eventually<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    while !check().await {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

/// A page fetched like a browser would: its status, HTML, and the CSRF cookie and field.
pub struct FetchedPage {
    pub status: u16,
    pub html: String,
    pub cookie: Option<String>,
    pub csrf: Option<String>,
    pub headers: reqwest::header::HeaderMap,
}

impl TestApp {
    /// A link from a message points at the public URL; reach the same path on the test server.
    pub fn local(&self, link: &str) -> String {
        link.replacen(PUBLIC_URL, &self.base, 1)
    }

    pub async fn fetch_page(&self, link: &str) -> FetchedPage {
        let res = self
            .client
            .get(self.local(link))
            .header("accept-language", "en")
            .send()
            .await
            .unwrap();
        let status = res.status().as_u16();
        let headers = res.headers().clone();
        let cookie = headers
            .get_all("set-cookie")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .find(|c| c.starts_with("usher_csrf="))
            .map(|c| c.split(';').next().unwrap().to_owned());
        let html = res.text().await.unwrap();
        let csrf = html
            .split("name=\"csrf\" value=\"")
            .nth(1)
            .and_then(|rest| rest.split('"').next())
            .map(str::to_owned);
        FetchedPage {
            status,
            html,
            cookie,
            csrf,
            headers,
        }
    }

    /// Posts a form the way the page's browser would (with its CSRF cookie, if any).
    pub async fn post_form(
        &self,
        action_link: &str,
        cookie: Option<&str>,
        fields: &[(&str, &str)],
    ) -> FetchedPage {
        let mut req = self.client.post(self.local(action_link)).form(fields);
        if let Some(c) = cookie {
            req = req.header("cookie", c);
        }
        let res = req.send().await.unwrap();
        let status = res.status().as_u16();
        let headers = res.headers().clone();
        let html = res.text().await.unwrap();
        FetchedPage {
            status,
            html,
            cookie: None,
            csrf: None,
            headers,
        }
    }

    pub async fn outbox_of(&self, user: i64) -> Vec<usher_core::ports::OutboxRecord> {
        self.services()
            .store()
            .outbox(Some(UserId(user)))
            .await
            .unwrap()
    }
}

const GOOD_PASSWORD: &str = "correct horse battery staple 42";

async fn with_smtp(backend: Backend, sink: &SmtpSink) -> Option<TestApp> {
    let url = sink.url();
    TestApp::start_with(backend, |c| c.smtp_url = Some(url)).await
}

/// The invitation reaches the SMTP server in German; its link opens the page, the invitee sets a
/// password and is active and registered; the link is then gone.
async fn invitation_email_link_activates(backend: Backend) {
    let sink = SmtpSink::start().await;
    let Some(app) = with_smtp(backend, &sink).await else {
        return;
    };
    let admin = app.org_admin().await;
    let created = app
        .post(
            "/v2/users",
            &admin,
            json!({"firstName": "Jana", "emailAddress": "jana@example.com", "invitation": {"language": "de", "sendEmail": true}}),
        )
        .await;
    created.expect(201);
    let id = created.body["userId"].as_i64().unwrap();
    let token = created.body["token"].as_str().unwrap().to_owned();

    let mail = sink.wait_for(1).await.remove(0);
    assert_eq!(mail.to, ["jana@example.com"]);
    assert!(mail.from.contains("noreply@usher.test"), "{}", mail.from);
    let outbox = app.outbox_of(id).await;
    assert_eq!(
        mail.message_id(),
        format!("{}@usher.test", outbox[0].message.id)
    );
    assert!(!mail.subject().is_empty());
    assert!(mail.html().contains("lang=\"de\""), "{}", mail.html());
    let link = mail.link("/invite/");
    assert_eq!(link, format!("{PUBLIC_URL}/invite/{token}"));
    eventually("the message marked sent", || async {
        app.outbox_of(id).await[0].status == "sent"
    })
    .await;

    let form = app.fetch_page(&link).await;
    assert_eq!(form.status, 200);
    assert!(form.html.contains("<html lang=\"de\""), "{}", form.html);
    assert!(form.html.contains("type=\"password\""));
    assert_eq!(
        form.headers["content-security-policy"],
        "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    );
    assert_eq!(form.headers["x-frame-options"], "SAMEORIGIN");
    let cookie = form.cookie.clone().expect("a CSRF cookie");
    let csrf = form.csrf.clone().expect("a CSRF field");
    let done = app
        .post_form(
            &link,
            Some(&cookie),
            &[
                ("csrf", &csrf),
                ("password", GOOD_PASSWORD),
                ("password_confirm", GOOD_PASSWORD),
            ],
        )
        .await;
    assert_eq!(done.status, 200, "{}", done.html);

    let u = app.get(&format!("/v2/users/{id}"), &admin).await;
    assert_eq!(u.body["registered"], true);
    assert_eq!(u.body["invitation"], Value::Null);
    // The invitation was emailed to the user's own address: that proves the address.
    assert_eq!(u.body["emailAddressVerified"], true);
    let stored = app
        .services()
        .store()
        .user(UserId(id))
        .await
        .unwrap()
        .unwrap();
    assert!(
        stored
            .password_hash
            .as_deref()
            .unwrap()
            .starts_with("$argon2id$v=19$m=19456,t=2,p=1$")
    );

    // The audit event names every field the acceptance changed.
    let events = app
        .services()
        .store()
        .audit_events("user", id)
        .await
        .unwrap();
    let accepted = events
        .iter()
        .find(|e| e.event_type == "user.invitation.accepted")
        .expect("the acceptance event");
    assert_eq!(accepted.fields, ["state", "password", "email_verified"]);

    // A used link says so in the invitation's language, not the browser's.
    let used = app.fetch_page(&link).await;
    assert_eq!(used.status, 410);
    assert!(used.html.contains("<html lang=\"de\""), "{}", used.html);
    let again = app
        .post_form(
            &link,
            Some(&cookie),
            &[
                ("csrf", &csrf),
                ("password", GOOD_PASSWORD),
                ("password_confirm", GOOD_PASSWORD),
            ],
        )
        .await;
    assert_eq!(again.status, 410);
    // The API refuses the used invitation too.
    app.put(
        &format!("/v2/users/{id}/invitation"),
        &admin,
        json!({"sendEmail": true}),
    )
    .await
    .bold_error(400, "InvitationAlreadyAccepted");
}

/// The invitation form refuses bad input in the invitee's language and without a valid CSRF pair.
async fn invitation_form_errors(backend: Backend) {
    let Some(app) = TestApp::start(backend).await else {
        return;
    };
    let admin = app.org_admin().await;
    let r = app
        .post(
            "/v2/users",
            &admin,
            json!({"emailAddress": "m@example.com", "requireEmailMatch": true, "invitation": {"language": "fr"}}),
        )
        .await;
    let token = r.body["token"].as_str().unwrap().to_owned();
    let invitee = r.body_id();
    let link = format!("{PUBLIC_URL}/invite/{token}");
    let form = app.fetch_page(&link).await;
    assert_eq!(form.status, 200);
    assert!(
        form.html.contains("name=\"email\""),
        "the invited address is asked for"
    );
    let (cookie, csrf) = (form.cookie.unwrap(), form.csrf.unwrap());
    let post = |fields: Vec<(&'static str, String)>, cookie: Option<String>| {
        let app = &app;
        let link = link.clone();
        async move {
            let f: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
            app.post_form(&link, cookie.as_deref(), &f).await
        }
    };
    let fields = |password: &str, confirm: &str, email: &str| {
        vec![
            ("csrf", csrf.clone()),
            ("password", password.to_owned()),
            ("password_confirm", confirm.to_owned()),
            ("email", email.to_owned()),
        ]
    };
    // No CSRF cookie: refused.
    let r = post(fields(GOOD_PASSWORD, GOOD_PASSWORD, "m@example.com"), None).await;
    assert_eq!(r.status, 400);
    let r = post(
        fields(GOOD_PASSWORD, GOOD_PASSWORD, "m@example.com"),
        Some("usher_csrf=forged".into()),
    )
    .await;
    assert_eq!(r.status, 400);
    for (password, confirm, email) in [
        (GOOD_PASSWORD, "something else entirely", "m@example.com"),
        ("short", "short", "m@example.com"),
        ("password123", "password123", "m@example.com"),
        (GOOD_PASSWORD, GOOD_PASSWORD, "other@example.com"),
    ] {
        let r = post(fields(password, confirm, email), Some(cookie.clone())).await;
        assert_eq!(r.status, 422, "{password} / {email}: {}", r.html);
        assert!(r.html.contains("role=\"alert\""), "{}", r.html);
        assert!(r.html.contains("<html lang=\"fr\""));
    }
    let u = app
        .services()
        .store()
        .user(UserId(invitee))
        .await
        .unwrap()
        .unwrap();
    assert!(!u.registered());
    let r = post(
        fields(GOOD_PASSWORD, GOOD_PASSWORD, "M@Example.com"),
        Some(cookie.clone()),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.html);

    // An expired invitation is gone.
    let r = app
        .post(
            "/v2/users",
            &admin,
            json!({"firstName": "Late", "invitation": {}}),
        )
        .await;
    let late = format!("{PUBLIC_URL}/invite/{}", r.body["token"].as_str().unwrap());
    app.clock.advance(chrono::Duration::hours(73));
    let page = app.fetch_page(&late).await;
    assert_eq!(page.status, 410);
    assert!(page.html.contains("<h1"));
    assert_eq!(
        app.fetch_page(&format!("{PUBLIC_URL}/invite/not-a-token"))
            .await
            .status,
        410
    );
}

trait BodyId {
    fn body_id(&self) -> i64;
}

impl BodyId for Resp {
    fn body_id(&self) -> i64 {
        self.body["userId"].as_i64().unwrap()
    }
}

/// SMS go to the webhook with the message id and bearer token; the code verifies the number; five
/// wrong tries kill a code.
async fn sms_webhook_and_phone_codes(backend: Backend) {
    let sms = SmsSink::start().await;
    let url = sms.url();
    let Some(app) = TestApp::start_with(backend, |c| {
        c.sms_webhook_url = Some(url);
        c.sms_webhook_token = Some("hook-secret".into());
    })
    .await
    else {
        return;
    };
    let admin = app.org_admin().await;
    let id = app
        .create_user(
            &admin,
            json!({"firstName": "Pia", "phoneNumber": "+41791234567", "phoneNumberVerify": true}),
        )
        .await;
    let call = sms.wait_for(1).await.remove(0);
    assert_eq!(call.authorization.as_deref(), Some("Bearer hook-secret"));
    assert_eq!(call.body["to"], "+41791234567");
    let outbox = app.outbox_of(id).await;
    assert_eq!(call.body["messageId"], outbox[0].message.id.as_str());
    let text = call.body["body"].as_str().unwrap().to_owned();
    let code = outbox[0].message.params["code"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(text.contains(&code), "{text}");

    let path = format!("/v1/users/{id}/phone/verify");
    let r = app.post(&path, &admin, json!({"code": "WRONG1"})).await;
    r.bold_error(400, "InvalidInput");
    assert_eq!(r.body["message"], "Invalid code: code");
    app.post(&path, &admin, json!({}))
        .await
        .bold_error(400, "InvalidInput");
    let r = app
        .post(&path, &admin, json!({"code": code.to_lowercase()}))
        .await;
    r.expect(200);
    assert_eq!(r.text, "{}");
    assert_eq!(
        app.get(&format!("/v2/users/{id}"), &admin).await.body["phoneNumberVerified"],
        true
    );
    // Single use.
    app.post(&path, &admin, json!({"code": code}))
        .await
        .bold_error(400, "InvalidInput");

    // Five wrong tries kill the code and make the account wait 60 s before the next try; after
    // the wait the right code no longer works.
    let id2 = app
        .create_user(
            &admin,
            json!({"phoneNumber": "+41791234568", "phoneNumberVerify": true}),
        )
        .await;
    sms.wait_for(2).await;
    let code2 = app.outbox_of(id2).await[0].message.params["code"]
        .as_str()
        .unwrap()
        .to_owned();
    for _ in 0..5 {
        app.post(
            &format!("/v1/users/{id2}/phone/verify"),
            &admin,
            json!({"code": "ZZZZZZ"}),
        )
        .await
        .expect(400);
    }
    let r = app
        .post(
            &format!("/v1/users/{id2}/phone/verify"),
            &admin,
            json!({"code": code2}),
        )
        .await;
    r.bold_error(429, "TooManyRequests");
    assert_eq!(r.headers["retry-after"], "60");
    app.clock.advance(chrono::Duration::seconds(61));
    app.post(
        &format!("/v1/users/{id2}/phone/verify"),
        &admin,
        json!({"code": code2}),
    )
    .await
    .bold_error(400, "InvalidInput");
    assert_eq!(
        app.get(&format!("/v2/users/{id2}"), &admin).await.body["phoneNumberVerified"],
        false
    );

    // An expired code does not verify.
    app.put(
        &format!("/v2/users/{id2}"),
        &admin,
        json!({"phoneNumberVerify": true}),
    )
    .await
    .expect(200);
    sms.wait_for(3).await;
    let code3 = app.outbox_of(id2).await.last().unwrap().message.params["code"]
        .as_str()
        .unwrap()
        .to_owned();
    app.clock.advance(chrono::Duration::minutes(61));
    app.post(
        &format!("/v1/users/{id2}/phone/verify"),
        &admin,
        json!({"code": code3}),
    )
    .await
    .expect(400);

    // A webhook that refuses (4xx) fails the message for good.
    sms.answer(400);
    let id4 = app
        .create_user(
            &admin,
            json!({"phoneNumber": "+41791234569", "phoneNumberVerify": true}),
        )
        .await;
    eventually("the refused SMS marked failed", || async {
        app.outbox_of(id4).await[0].status == "failed"
    })
    .await;
    assert_eq!(
        app.outbox_of(id4).await[0].last_error.as_deref(),
        Some("SMS webhook answered 400 Bad Request")
    );
    // Other organizations' users are not found.
    let other = app.key(app.create_org("other").await, None, false).await;
    app.post(&path, &other, json!({"code": "AAAAAA"}))
        .await
        .bold_error(404, "UserNotFound");
}

/// The verification link opens a page whose button verifies the address.
async fn email_verification_link(backend: Backend) {
    let sink = SmtpSink::start().await;
    let Some(app) = with_smtp(backend, &sink).await else {
        return;
    };
    let admin = app.org_admin().await;
    let id = app
        .create_user(&admin, json!({"firstName": "Ola", "emailAddress": "ola@example.com", "emailAddressVerify": true}))
        .await;
    let mail = sink.wait_for(1).await.remove(0);
    let link = mail.link("/verify-email");
    // Without the code, the page shows nobody's address: a wrong or missing code is the same
    // "link gone" page as an unknown user.
    for other in [
        format!("{PUBLIC_URL}/verify-email?userId={id}&code=WRONG1"),
        format!("{PUBLIC_URL}/verify-email?userId={id}&code="),
        format!("{PUBLIC_URL}/verify-email?userId={id}"),
        format!("{PUBLIC_URL}/verify-email?userId=999&code=WRONG1"),
    ] {
        let page = app.fetch_page(&other).await;
        assert_eq!(page.status, 410, "{other}: {}", page.html);
        assert!(!page.html.contains("ola@"), "{other}: {}", page.html);
    }
    let page = app.fetch_page(&link).await;
    assert_eq!(page.status, 200, "{}", page.html);
    assert!(page.html.contains("ola@example.com"));
    let code = app.outbox_of(id).await[0].message.params["code"]
        .as_str()
        .unwrap()
        .to_owned();
    let (cookie, csrf) = (page.cookie.unwrap(), page.csrf.unwrap());
    let done = app
        .post_form(
            &format!("{PUBLIC_URL}/verify-email"),
            Some(&cookie),
            &[
                ("csrf", &csrf),
                ("userId", &id.to_string()),
                ("code", &code),
            ],
        )
        .await;
    assert_eq!(done.status, 200, "{}", done.html);
    assert_eq!(
        app.get(&format!("/v2/users/{id}"), &admin).await.body["emailAddressVerified"],
        true
    );
    assert_eq!(app.fetch_page(&link).await.status, 410);
    assert_eq!(
        app.fetch_page(&format!("{PUBLIC_URL}/verify-email?userId=abc&code=x"))
            .await
            .status,
        410
    );
}

/// With the SMTP server down the worker retries with backoff and delivers once it is back —
/// exactly once.
async fn smtp_down_then_back(backend: Backend) {
    let sink = SmtpSink::start().await;
    let addr = sink.addr;
    sink.stop();
    let Some(app) = with_smtp(backend, &sink).await else {
        return;
    };
    let admin = app.org_admin().await;
    let id = app
        .create_user(
            &admin,
            json!({"emailAddress": "r@example.com", "invitation": {"sendEmail": true}}),
        )
        .await;
    eventually("a failed first attempt", || async {
        let o = app.outbox_of(id).await;
        o[0].attempts == 1 && o[0].last_error.is_some()
    })
    .await;
    let o = app.outbox_of(id).await.remove(0);
    assert_eq!(o.status, "pending");
    assert_eq!(
        o.next_attempt_at,
        start_time().plus(chrono::Duration::seconds(10))
    );

    let back = SmtpSink::restart(addr, &sink).await;
    // Not due yet: nothing is sent before the backoff has passed on the clock.
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(back.messages().is_empty());
    app.clock.advance(chrono::Duration::seconds(10));
    app.services().outbox_signal().notify_one();
    let got = back.wait_for(1).await;
    assert_eq!(got[0].to, ["r@example.com"]);
    eventually("sent", || async {
        app.outbox_of(id).await[0].status == "sent"
    })
    .await;
    let o = app.outbox_of(id).await.remove(0);
    assert_eq!(o.attempts, 2);
    assert_eq!(o.last_error, None);
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(back.messages().len(), 1, "delivered exactly once");
}

/// After the last attempt a message is failed, visible to admins and counted in /metrics.
async fn gives_up_and_reports(backend: Backend) {
    let sink = SmtpSink::start().await;
    sink.stop();
    let url = sink.url();
    let Some(app) = TestApp::start_with(backend, |c| {
        c.smtp_url = Some(url);
        c.delivery_max_attempts = 2;
    })
    .await
    else {
        return;
    };
    let admin = app.org_admin().await;
    let id = app
        .create_user(
            &admin,
            json!({"emailAddress": "f@example.com", "invitation": {"sendEmail": true}}),
        )
        .await;
    eventually("attempt 1 recorded as failed", || async {
        let o = app.outbox_of(id).await;
        o[0].attempts == 1 && o[0].last_error.is_some()
    })
    .await;
    app.clock.advance(chrono::Duration::seconds(10));
    app.services().outbox_signal().notify_one();
    eventually("failed", || async {
        app.outbox_of(id).await[0].status == "failed"
    })
    .await;

    let r = app.get("/v1/outbox?status=failed", &admin).await;
    r.expect(200);
    let list = r.body.as_array().unwrap();
    assert_eq!(list.len(), 1);
    assert_eq!(list[0]["userId"], id);
    assert_eq!(list[0]["status"], "failed");
    assert_eq!(list[0]["attempts"], 2);
    assert_eq!(list[0]["template"], "invitation");
    assert!(
        list[0]["lastError"].as_str().unwrap().starts_with("SMTP"),
        "{}",
        list[0]
    );
    assert!(
        !r.text.contains("/invite/"),
        "the queue view never shows message contents"
    );
    app.get("/v1/outbox?status=bogus", &admin)
        .await
        .bold_error(400, "InvalidInput");
    let other = app.key(app.create_org("other").await, None, false).await;
    assert_eq!(
        app.get("/v1/outbox?status=failed", &other).await.body,
        json!([])
    );
    let user_key = app.key(1, Some(id), false).await;
    app.get("/v1/outbox", &user_key)
        .await
        .bold_error(403, "InsufficientRights");

    let m = app.send(Method::GET, "/metrics", None, None).await;
    m.expect(200);
    assert!(
        m.text
            .contains("usher_outbox_messages{status=\"failed\"} 1"),
        "{}",
        m.text
    );
    assert!(
        m.text
            .contains("usher_outbox_deliveries_total{channel=\"email\",result=\"failed\"} 1"),
        "{}",
        m.text
    );
    assert!(
        m.text
            .contains("usher_outbox_deliveries_total{channel=\"email\",result=\"retry\"} 1"),
        "{}",
        m.text
    );
}

/// A message claimed by a worker that died is delivered by another once the lease lapses, and a
/// message written just before a crash is delivered after the restart: nothing is lost, nothing
/// is sent twice.
async fn claimed_messages_survive_a_dead_worker(backend: Backend) {
    let sink = SmtpSink::start().await;
    let Some(mut app) = with_smtp(backend, &sink).await else {
        return;
    };
    let admin = app.org_admin().await;
    let services = app.services().clone();
    app.stop().await;
    // Two messages written while no worker runs; a worker claims one and dies.
    let p = Principal {
        key_id: None,
        role: Role::OrgAdmin { org: OrgId(1) },
        read_only: false,
        expires_at: None,
    };
    for (n, email) in ["a@example.com", "b@example.com"].iter().enumerate() {
        let input = usher_core::service::NewUser {
            email: Some(Email::parse(email).unwrap()),
            invitation: Some(usher_core::service::InvitationRequest {
                send_email: true,
                ..Default::default()
            }),
            ..Default::default()
        };
        let created = services.create_user(&p, input).await.unwrap();
        assert_eq!(created.user.id.0, n as i64 + 1);
    }
    let lease = chrono::Duration::minutes(5);
    let claimed = services
        .store()
        .claim_outbox(start_time(), start_time().plus(lease), 1)
        .await
        .unwrap();
    assert_eq!(claimed.len(), 1);
    let dead_workers = claimed[0].message.recipient.clone();
    let other = if dead_workers == "a@example.com" {
        "b@example.com"
    } else {
        "a@example.com"
    };

    // Restart on the same database.
    let cfg = {
        let mut c = config(&app.db, &app.admin);
        c.smtp_url = Some(sink.url());
        c
    };
    let running = usher_server::start(&cfg, app.clock.clone()).await.unwrap();
    let got = sink.wait_for(1).await;
    assert_eq!(
        got[0].to,
        [other],
        "the unclaimed message goes out after the restart"
    );
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(
        sink.messages().len(),
        1,
        "the claimed one waits for its lease"
    );
    app.clock.advance(lease);
    running.services.outbox_signal().notify_one();
    let got = sink.wait_for(2).await;
    assert_eq!(got[1].to, [dead_workers]);
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(sink.messages().len(), 2, "each delivered once");
    let records = running.services.store().outbox(None).await.unwrap();
    assert!(records.iter().all(|r| r.status == "sent"), "{records:?}");
    let _ = admin;
    running.shutdown().await;
}

/// Messages of a user deleted before delivery are cancelled, not sent.
async fn deleted_users_messages_are_cancelled(backend: Backend) {
    let sink = SmtpSink::start().await;
    let addr = sink.addr;
    sink.stop();
    let Some(app) = with_smtp(backend, &sink).await else {
        return;
    };
    let admin = app.org_admin().await;
    let id = app
        .create_user(
            &admin,
            json!({"emailAddress": "d@example.com", "invitation": {"sendEmail": true}}),
        )
        .await;
    eventually("attempt 1 recorded as failed", || async {
        let o = app.outbox_of(id).await;
        o[0].attempts == 1 && o[0].last_error.is_some()
    })
    .await;
    app.delete(&format!("/v2/users/{id}"), &admin)
        .await
        .expect(200);
    let back = SmtpSink::restart(addr, &sink).await;
    app.clock.advance(chrono::Duration::seconds(10));
    app.services().outbox_signal().notify_one();
    eventually("cancelled", || async {
        app.outbox_of(id).await[0].status == "cancelled"
    })
    .await;
    assert!(back.messages().is_empty());
}

/// A user's own email change: a confirmation link to the current address, a page that confirms,
/// the new address in place (unverified) and its verification sent to it.
async fn email_change_confirmation(backend: Backend) {
    let sink = SmtpSink::start().await;
    let Some(app) = with_smtp(backend, &sink).await else {
        return;
    };
    let admin = app.org_admin().await;
    let id = app
        .create_user(
            &admin,
            json!({"firstName": "Eva", "emailAddress": "eva@old.example"}),
        )
        .await;
    let me = Principal {
        key_id: None,
        role: Role::User {
            id: UserId(id),
            org: OrgId(1),
            super_user: false,
        },
        read_only: false,
        expires_at: None,
    };
    let pending = app
        .services()
        .request_email_change(&me, UserId(id), Email::parse("eva@new.example").unwrap())
        .await
        .unwrap();
    assert_eq!(pending.email.as_ref().unwrap().as_str(), "eva@old.example");
    assert_eq!(
        pending.new_email_requested.as_ref().unwrap().as_str(),
        "eva@new.example"
    );
    let mail = sink.wait_for(1).await.remove(0);
    assert_eq!(mail.to, ["eva@old.example"]);
    let link = mail.link("/confirm-email/");
    assert!(mail.text().contains("eva@new.example"));

    let page = app.fetch_page(&link).await;
    assert_eq!(page.status, 200, "{}", page.html);
    assert!(page.html.contains("eva@new.example"));
    let done = app
        .post_form(
            &link,
            Some(&page.cookie.unwrap()),
            &[("csrf", &page.csrf.unwrap())],
        )
        .await;
    assert_eq!(done.status, 200, "{}", done.html);
    let u = app.get(&format!("/v2/users/{id}"), &admin).await;
    assert_eq!(u.body["emailAddress"], "eva@new.example");
    assert_eq!(u.body["emailAddressVerified"], false);
    let second = sink.wait_for(2).await.remove(1);
    assert_eq!(second.to, ["eva@new.example"]);
    assert!(
        second
            .link("/verify-email")
            .contains(&format!("userId={id}"))
    );
    assert_eq!(
        app.fetch_page(&link).await.status,
        410,
        "a confirmation link works once"
    );
    let codes = app.services().store().codes(UserId(id)).await.unwrap();
    assert_eq!(
        codes.iter().map(|c| c.purpose).collect::<Vec<_>>(),
        [CodePurpose::EmailVerification]
    );
    let _ = Channel::Email;
}

/// Served under a path (`--public-url https://usher.test/usher` behind a proxy that strips it):
/// the pages' form actions and stylesheet carry the path, as the links in messages do.
async fn pages_under_a_path(backend: Backend) {
    let Some(app) = TestApp::start_with(backend, |c| {
        c.public_url = format!("{PUBLIC_URL}/usher/");
    })
    .await
    else {
        return;
    };
    let admin = app.org_admin().await;
    let created = app
        .post(
            "/v2/users",
            &admin,
            json!({"firstName": "Pat", "emailAddress": "pat@example.com", "invitation": {}}),
        )
        .await;
    created.expect(201);
    let token = created.body["token"].as_str().unwrap().to_owned();
    assert_eq!(
        created.body["invitation"]["url"],
        format!("{PUBLIC_URL}/usher/invite/{token}")
    );
    // What the proxy passes on: the path without its prefix.
    let form = app
        .fetch_page(&format!("{}/invite/{token}", app.base))
        .await;
    assert_eq!(form.status, 200, "{}", form.html);
    assert!(
        form.html
            .contains(&format!("action=\"/usher/invite/{token}\"")),
        "{}",
        form.html
    );
    assert!(
        form.html.contains("href=\"/usher/pages/style.css\""),
        "{}",
        form.html
    );
    let gone = app
        .fetch_page(&format!("{}/invite/no-such-token", app.base))
        .await;
    assert_eq!(gone.status, 410);
    assert!(gone.html.contains("href=\"/usher/pages/style.css\""));
}

each_backend!(
    pages_under_a_path,
    invitation_email_link_activates,
    invitation_form_errors,
    sms_webhook_and_phone_codes,
    email_verification_link,
    smtp_down_then_back,
    gives_up_and_reports,
    claimed_messages_survive_a_dead_worker,
    deleted_users_messages_are_cancelled,
    email_change_confirmation,
);
