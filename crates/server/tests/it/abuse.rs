//! Brute force and abuse, on both databases: the per-account password lockout (Orgo logins,
//! Zitadel's current-password check), the per-address limit over every kind of proof (with and
//! without a trusted `X-Forwarded-For`), the per-account lockout of codes (Zitadel email and
//! invitation codes, Bold, the email-verification page), and the request body limits — each
//! answered in the shape of the dialect that was asked, with `Retry-After` where waiting helps.

use reqwest::Method;
use reqwest::multipart::{Form, Part};
use serde_json::json;
use tonic::Code;
use zitadel::api::zitadel::user::v2 as zu;

use crate::support::*;
use crate::zitadel::{
    Call, add_user, assert_connect_error, assert_grpc_error, assert_rest_error, assert_web_error,
    call_err, call_ok, connect_json, connect_proto, fails_everywhere, grpc, grpc_web, person,
    set_password_call,
};

const PASSWORD: &str = "Right-Passw0rd-1";
const NEW_PASSWORD: &str = "Brand-New-Passw0rd";
const PROBLEM: &str = "application/problem+json; charset=utf-8";
const LOCKED_OUT: &str = "Too many failed attempts, please try again later.";

fn header<'a>(r: &'a Resp, name: &str) -> &'a str {
    r.headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
}

/// `POST /api/v1/login-check`, optionally with an `X-Forwarded-For` header.
async fn orgo_login(app: &TestApp, name: &str, password: &str, forwarded: Option<&str>) -> Resp {
    let mut req = app
        .client
        .post(format!("{}/api/v1/login-check", app.base))
        .header("content-type", "application/json")
        .body(json!({"username": name, "password": password}).to_string());
    if let Some(f) = forwarded {
        req = req.header("x-forwarded-for", f);
    }
    TestApp::read(req.send().await.unwrap()).await
}

/// An Orgo problem+json error with its status and detail.
#[track_caller]
fn assert_problem(r: &Resp, status: u16, detail: &str) {
    assert_eq!(r.status, status, "{}", r.text);
    assert_eq!(header(r, "content-type"), PROBLEM, "{}", r.text);
    assert_eq!(r.body["type"], format!("/errors/{status}"), "{}", r.text);
    assert_eq!(r.body["title"], "An error occurred");
    assert_eq!(r.body["status"], status);
    assert_eq!(r.body["detail"], detail, "{}", r.text);
    assert_eq!(r.body["hydra:description"], detail);
}

/// A 429 refusal of the Orgo login with `Retry-After: secs`.
#[track_caller]
fn assert_orgo_locked(r: &Resp, secs: u64) {
    assert_problem(r, 429, LOCKED_OUT);
    assert_eq!(header(r, "retry-after"), secs.to_string());
}

#[track_caller]
fn assert_logged_in(r: &Resp) {
    assert_eq!(r.status, 200, "{}", r.text);
    assert!(r.body["token"].is_string(), "{}", r.text);
}

/// A wrong code of the same length as `code`.
fn wrong_code(code: &str) -> &'static str {
    if code == "AAAAAA" { "BBBBBB" } else { "AAAAAA" }
}

fn advance(app: &TestApp, secs: i64) {
    app.clock.advance(chrono::Duration::seconds(secs));
}

// ---------------------------------------------------------------------------------------------
// Per-account password lockout.

/// Ten wrong passwords lock the account: the tenth still gets its 401, then even the right
/// password is refused with 429, Orgo's problem+json and `Retry-After` counting down on the clock;
/// after the wait the right password logs in.
async fn orgo_login_locks_the_account(app: TestApp) {
    let admin = app.org_admin().await;
    add_user(
        &app,
        &admin,
        person("Lou", "Locke", "lou@example.com", Some(PASSWORD)),
    )
    .await;
    for i in 0..10 {
        let r = orgo_login(&app, "lou@example.com", "wrong", None).await;
        assert_eq!(r.status, 401, "failure {i}: {}", r.text);
        assert_eq!(
            r.body,
            json!({"code": 401, "message": "Invalid credentials."})
        );
    }
    let r = orgo_login(&app, "lou@example.com", PASSWORD, None).await;
    assert_orgo_locked(&r, 60);
    advance(&app, 59);
    let r = orgo_login(&app, "lou@example.com", PASSWORD, None).await;
    assert_orgo_locked(&r, 1);
    advance(&app, 2);
    assert_logged_in(&orgo_login(&app, "lou@example.com", PASSWORD, None).await);
}

/// Zitadel's password check (`SetPassword` / `UpdateHumanUser` with `currentPassword`): ten wrong
/// current passwords, then the right one is `resource_exhausted` / `AUTH-RATE-LIMITED` on every
/// protocol, with `Retry-After` on Connect and REST; after the wait it works.
async fn zitadel_password_check_locks_the_account(app: TestApp) {
    let admin = app.org_admin().await;
    let id = add_user(
        &app,
        &admin,
        person("Cy", "Press", "cy@example.com", Some(PASSWORD)),
    )
    .await;
    let wrong = set_password_call(&id, NEW_PASSWORD, Some("wrong-password-xx"));
    for _ in 0..10 {
        call_err(
            &app,
            &admin,
            "SetPassword",
            wrong.json.clone(),
            Code::InvalidArgument,
            "INVALID-WRONG-PASSWORD",
        )
        .await;
    }
    let right = set_password_call(&id, NEW_PASSWORD, Some(PASSWORD));
    let m = fails_everywhere(
        &app,
        Some(&admin),
        &right,
        Code::ResourceExhausted,
        "AUTH-RATE-LIMITED",
    )
    .await;
    assert_eq!(
        m,
        "Too many attempts; try again in 60 s (AUTH-RATE-LIMITED)"
    );
    let r = connect_json(&app, "SetPassword", Some(&admin), &right.json, true).await;
    assert_connect_error(&r, Code::ResourceExhausted, "AUTH-RATE-LIMITED");
    assert_eq!(header(&r, "retry-after"), "60");
    advance(&app, 30);
    let (m, path, body) = &right.rest;
    let r = app.send(m.clone(), path, Some(&admin), body.as_ref()).await;
    assert_rest_error(&r, Code::ResourceExhausted, "AUTH-RATE-LIMITED");
    assert_eq!(header(&r, "retry-after"), "30");
    advance(&app, 31);
    call_ok(&app, &admin, "SetPassword", right.json.clone()).await;
}

// ---------------------------------------------------------------------------------------------
// Per-address limit.

/// Users named `{n}@example.com`, each with the password.
async fn users(app: &TestApp, admin: &str, names: &[&str]) {
    for n in names {
        add_user(
            app,
            admin,
            person(n, "Doe", &format!("{n}@example.com"), Some(PASSWORD)),
        )
        .await;
    }
}

/// 29 failed logins from one address, spread so that no account and no name is locked (9 wrong
/// passwords for each of the three `accounts`, two unknown names), each sent with `forwarded`.
async fn twenty_nine_failures(app: &TestApp, accounts: [&str; 3], forwarded: Option<&str>) {
    for n in accounts {
        for _ in 0..9 {
            let r = orgo_login(app, &format!("{n}@example.com"), "wrong", forwarded).await;
            assert_eq!(r.status, 401, "{}", r.text);
        }
    }
    for i in 0..2 {
        let n = format!("ghost-{}-{i}@example.com", accounts[0]);
        let r = orgo_login(app, &n, "wrong", forwarded).await;
        assert_eq!(r.status, 401, "{}", r.text);
    }
}

/// A page fetched with `Accept-Language`.
async fn page(app: &TestApp, path: &str, lang: &str) -> Resp {
    let res = app
        .client
        .get(format!("{}{path}", app.base))
        .header("accept-language", lang)
        .send()
        .await
        .unwrap();
    TestApp::read(res).await
}

/// The 429 page: HTML in `lang` with the `error.rate_limited` text and `Retry-After`.
#[track_caller]
fn assert_rate_limited_page(r: &Resp, lang: &str, text: &str, retry_after: &str) {
    assert_eq!(r.status, 429, "{}", r.text);
    assert_eq!(header(r, "content-type"), "text/html; charset=utf-8");
    assert_eq!(header(r, "retry-after"), retry_after);
    assert!(r.text.contains(&format!("lang=\"{lang}\"")), "{}", r.text);
    assert!(r.text.contains(text), "{}", r.text);
}

/// Thirty failed proofs of any kind from one address (wrong passwords of several accounts,
/// unknown names, a dead invitation link) make every proof from it wait — a fresh account's right
/// password on Orgo, Zitadel's password check, the invitation page (in the language asked);
/// `X-Forwarded-For` changes nothing unless trusted. The wait ends on the clock.
async fn address_limit_spans_accounts(app: TestApp) {
    let admin = app.org_admin().await;
    users(&app, &admin, &["ann", "bob", "cat", "fresh"]).await;
    let fresh = add_user(
        &app,
        &admin,
        person("Fay", "Fresh", "fay@example.com", Some(PASSWORD)),
    )
    .await;
    twenty_nine_failures(&app, ["ann", "bob", "cat"], None).await;
    // The thirtieth: a link to an invitation that does not exist.
    let dead_link = format!("/invite/{}", uuid::Uuid::new_v4());
    assert_eq!(page(&app, &dead_link, "de").await.status, 410);

    let r = orgo_login(&app, "fresh@example.com", PASSWORD, None).await;
    assert_orgo_locked(&r, 60);
    // Without --trust-forwarded-for the header is the client's word, and ignored.
    let r = orgo_login(&app, "fresh@example.com", PASSWORD, Some("203.0.113.9")).await;
    assert_orgo_locked(&r, 60);
    // Zitadel's password check of another account.
    let right = set_password_call(&fresh, NEW_PASSWORD, Some(PASSWORD));
    let r = connect_json(&app, "SetPassword", Some(&admin), &right.json, true).await;
    assert_connect_error(&r, Code::ResourceExhausted, "AUTH-RATE-LIMITED");
    assert_eq!(header(&r, "retry-after"), "60");
    // The invitation page, in the language asked.
    let r = page(&app, &dead_link, "de").await;
    assert_rate_limited_page(&r, "de", "Zu viele Versuche.", "60");
    let r = page(&app, &format!("/invite/{}", uuid::Uuid::new_v4()), "fr").await;
    assert_rate_limited_page(&r, "fr", "Trop de tentatives.", "60");

    advance(&app, 61);
    assert_logged_in(&orgo_login(&app, "fresh@example.com", PASSWORD, None).await);
    call_ok(&app, &admin, "SetPassword", right.json.clone()).await;
}

/// Behind a trusted proxy each `X-Forwarded-For` address (its last entry) is counted on its own:
/// thirty failures from one lock it out, another address and the proxy's own are unaffected.
async fn forwarded_addresses_count_separately(backend: Backend) {
    let Some(app) = TestApp::start_with(backend, |c| c.trust_forwarded_for = true).await else {
        return;
    };
    let admin = app.org_admin().await;
    users(
        &app,
        &admin,
        &["ann", "bob", "cat", "dan", "eve", "fox", "fresh"],
    )
    .await;
    let attacker = Some("203.0.113.1");
    twenty_nine_failures(&app, ["ann", "bob", "cat"], attacker).await;
    let r = orgo_login(&app, "ghost3@example.com", "wrong", attacker).await;
    assert_eq!(r.status, 401, "{}", r.text);

    let r = orgo_login(&app, "fresh@example.com", PASSWORD, attacker).await;
    assert_orgo_locked(&r, 60);
    // The last entry is the one the proxy saw; earlier ones are the client's word.
    let r = orgo_login(
        &app,
        "fresh@example.com",
        PASSWORD,
        Some("198.51.100.7, 203.0.113.1"),
    )
    .await;
    assert_orgo_locked(&r, 60);
    assert_logged_in(
        &orgo_login(
            &app,
            "fresh@example.com",
            PASSWORD,
            Some("203.0.113.1, 198.51.100.7"),
        )
        .await,
    );
    assert_logged_in(&orgo_login(&app, "fresh@example.com", PASSWORD, Some("203.0.113.2")).await);
    // The connection's own address (the proxy's, here 127.0.0.1) has no failures.
    assert_logged_in(&orgo_login(&app, "fresh@example.com", PASSWORD, None).await);
    // Each address's count is its own: 29 failures from another one do not lock it.
    twenty_nine_failures(&app, ["dan", "eve", "fox"], Some("203.0.113.2")).await;
    assert_logged_in(&orgo_login(&app, "fresh@example.com", PASSWORD, Some("203.0.113.2")).await);
}

// ---------------------------------------------------------------------------------------------
// Per-account code lockout.

fn verify_email_call(id: &str, code: &str) -> Call<zu::VerifyEmailRequest> {
    Call {
        method: "VerifyEmail",
        json: json!({"userId": id, "verificationCode": code}),
        proto: zu::VerifyEmailRequest {
            user_id: id.to_owned(),
            verification_code: code.to_owned(),
        },
        rest: (
            Method::POST,
            format!("/v2/users/{id}/email/verify"),
            Some(json!({"verificationCode": code})),
        ),
    }
}

/// Five wrong email codes (Connect and REST) lock the account's codes: the right one is then
/// `resource_exhausted` on every protocol with `Retry-After`; after the wait the code is dead
/// (five wrong tries). Invitation codes lock the same way, and after the wait the right one works.
async fn zitadel_codes_lock_the_account(app: TestApp) {
    let admin = app.org_admin().await;
    let id = add_user(&app, &admin, person("Eve", "Code", "eve@example.com", None)).await;
    let b = call_ok(
        &app,
        &admin,
        "SetEmail",
        json!({"userId": id, "email": "eve@example.net", "returnCode": {}}),
    )
    .await;
    let code = b["verificationCode"].as_str().unwrap().to_owned();
    let wrong = verify_email_call(&id, wrong_code(&code));
    for _ in 0..4 {
        call_err(
            &app,
            &admin,
            "VerifyEmail",
            wrong.json.clone(),
            Code::InvalidArgument,
            "INVALID-CODE",
        )
        .await;
    }
    let (m, path, body) = &wrong.rest;
    let r = app.send(m.clone(), path, Some(&admin), body.as_ref()).await;
    assert_rest_error(&r, Code::InvalidArgument, "INVALID-CODE");

    let right = verify_email_call(&id, &code);
    fails_everywhere(
        &app,
        Some(&admin),
        &right,
        Code::ResourceExhausted,
        "AUTH-RATE-LIMITED",
    )
    .await;
    let r = connect_json(&app, "VerifyEmail", Some(&admin), &right.json, true).await;
    assert_connect_error(&r, Code::ResourceExhausted, "AUTH-RATE-LIMITED");
    assert_eq!(header(&r, "retry-after"), "60");
    let (m, path, body) = &right.rest;
    let r = app.send(m.clone(), path, Some(&admin), body.as_ref()).await;
    assert_rest_error(&r, Code::ResourceExhausted, "AUTH-RATE-LIMITED");
    assert_eq!(header(&r, "retry-after"), "60");
    advance(&app, 61);
    call_err(
        &app,
        &admin,
        "VerifyEmail",
        right.json.clone(),
        Code::InvalidArgument,
        "INVALID-CODE",
    )
    .await;

    // Invitation codes.
    let inv = add_user(
        &app,
        &admin,
        json!({"profile": {"givenName": "Ian", "familyName": "Vite"},
               "email": {"email": "ian@example.com", "returnCode": {}}}),
    )
    .await;
    let b = call_ok(
        &app,
        &admin,
        "CreateInviteCode",
        json!({"userId": inv, "returnCode": {}}),
    )
    .await;
    let invite = b["inviteCode"].as_str().unwrap().to_owned();
    for _ in 0..5 {
        call_err(
            &app,
            &admin,
            "VerifyInviteCode",
            json!({"userId": inv, "verificationCode": "not-the-code"}),
            Code::InvalidArgument,
            "INVALID-CODE",
        )
        .await;
    }
    let right = json!({"userId": inv, "verificationCode": invite});
    let r = connect_json(&app, "VerifyInviteCode", Some(&admin), &right, true).await;
    assert_connect_error(&r, Code::ResourceExhausted, "AUTH-RATE-LIMITED");
    assert_eq!(header(&r, "retry-after"), "60");
    let r = app
        .post(
            &format!("/v2/users/{inv}/invite_code/verify"),
            &admin,
            json!({"verificationCode": invite}),
        )
        .await;
    assert_rest_error(&r, Code::ResourceExhausted, "AUTH-RATE-LIMITED");
    assert_eq!(header(&r, "retry-after"), "60");
    let s = grpc::<zu::VerifyInviteCodeRequest, ()>(
        &app,
        "VerifyInviteCode",
        Some(&admin),
        &[],
        zu::VerifyInviteCodeRequest {
            user_id: inv.clone(),
            verification_code: invite.clone(),
        },
    )
    .await
    .expect_err("locked");
    assert_grpc_error(&s, Code::ResourceExhausted, "AUTH-RATE-LIMITED");
    advance(&app, 61);
    call_ok(&app, &admin, "VerifyInviteCode", right).await;
}

/// A form posted with the page's CSRF cookie and `Accept-Language`.
async fn post_page(
    app: &TestApp,
    path: &str,
    cookie: &str,
    lang: &str,
    fields: &[(&str, &str)],
) -> Resp {
    let res = app
        .client
        .post(format!("{}{path}", app.base))
        .header("cookie", cookie)
        .header("accept-language", lang)
        .form(fields)
        .send()
        .await
        .unwrap();
    TestApp::read(res).await
}

/// The email-verification page: five wrong codes, then the right one answers the 429 page in the
/// language asked, with `Retry-After`; Bold refuses the same account's code with its four-key
/// 429. After the wait the code is dead (five wrong tries).
async fn verification_page_locks_the_account(app: TestApp) {
    let admin = app.org_admin().await;
    let id = app
        .create_user(
            &admin,
            json!({"firstName": "Zoé", "emailAddress": "zoe@example.com", "emailAddressVerify": true}),
        )
        .await;
    let code = app.outbox_of(id).await[0].message.params["code"]
        .as_str()
        .unwrap()
        .to_owned();
    let wrong = wrong_code(&code);
    let form = app
        .fetch_page(&format!(
            "{PUBLIC_URL}/verify-email?userId={id}&code={code}"
        ))
        .await;
    assert_eq!(form.status, 200, "{}", form.html);
    let (cookie, csrf) = (form.cookie.unwrap(), form.csrf.unwrap());
    let id_text = id.to_string();
    let submit = |code: String| {
        let (app, cookie, csrf, id_text) = (&app, &cookie, &csrf, &id_text);
        async move {
            post_page(
                app,
                "/verify-email",
                cookie,
                "fr",
                &[("csrf", csrf), ("userId", id_text), ("code", &code)],
            )
            .await
        }
    };
    for _ in 0..5 {
        let r = submit(wrong.to_owned()).await;
        assert_eq!(r.status, 410, "{}", r.text);
    }
    let r = submit(code.clone()).await;
    assert_rate_limited_page(&r, "fr", "Trop de tentatives.", "60");
    let r = app
        .post(
            &format!("/v1/users/{id}/email/verify"),
            &admin,
            json!({"code": code}),
        )
        .await;
    r.bold_error(429, "TooManyRequests");
    assert_eq!(header(&r, "retry-after"), "60");
    advance(&app, 61);
    assert_eq!(submit(code.clone()).await.status, 410);
    assert_eq!(
        app.get(&format!("/v2/users/{id}"), &admin).await.body["emailAddressVerified"],
        false
    );
}

/// With `requireEmailMatch` the invited address typed on the invitation page is a secret like a
/// code: five wrong addresses, then even the right one answers the 429 page (in the language
/// asked, with `Retry-After`), and Zitadel's `VerifyInviteCode` for the same user waits too (one
/// count for the invitation). After the wait the right address accepts the invitation.
async fn invitation_email_guesses_are_counted(app: TestApp) {
    let admin = app.org_admin().await;
    let r = app
        .post(
            "/v2/users",
            &admin,
            json!({"emailAddress": "mia@example.com", "requireEmailMatch": true, "invitation": {"language": "fr"}}),
        )
        .await;
    r.expect(201);
    let token = r.body["token"].as_str().unwrap().to_owned();
    let id = r.body["userId"].as_i64().unwrap();
    let form = app
        .fetch_page(&format!("{PUBLIC_URL}/invite/{token}"))
        .await;
    assert_eq!(form.status, 200, "{}", form.html);
    let (cookie, csrf) = (form.cookie.unwrap(), form.csrf.unwrap());
    let path = format!("/invite/{token}");
    let submit = |email: &'static str| {
        let (app, cookie, csrf, path) = (&app, &cookie, &csrf, &path);
        async move {
            post_page(
                app,
                path,
                cookie,
                "fr",
                &[
                    ("csrf", csrf),
                    ("password", NEW_PASSWORD),
                    ("password_confirm", NEW_PASSWORD),
                    ("email", email),
                ],
            )
            .await
        }
    };
    for guess in [
        "a@example.com",
        "b@example.com",
        "c@example.com",
        "d@example.com",
        "e@example.com",
    ] {
        let r = submit(guess).await;
        assert_eq!(r.status, 422, "{guess}: {}", r.text);
    }
    let r = submit("mia@example.com").await;
    assert_rate_limited_page(&r, "fr", "Trop de tentatives.", "60");
    let r = connect_json(
        &app,
        "VerifyInviteCode",
        Some(&admin),
        &json!({"userId": id.to_string(), "verificationCode": token}),
        true,
    )
    .await;
    assert_connect_error(&r, Code::ResourceExhausted, "AUTH-RATE-LIMITED");
    let u = app.get(&format!("/v2/users/{id}"), &admin).await;
    assert_eq!(u.body["registered"], false, "{}", u.text);
    advance(&app, 61);
    let r = submit("mia@example.com").await;
    assert_eq!(r.status, 200, "{}", r.text);
    let u = app.get(&format!("/v2/users/{id}"), &admin).await;
    assert_eq!(u.body["registered"], true, "{}", u.text);
}

/// Wrong codes are counted per kind of code: five wrong ones on the verification page lock the
/// user's email verification, not its password reset, and a wrong code in the page's link is a
/// wrong try like a submitted one (the page is no way to guess codes for free).
async fn code_kinds_are_counted_apart(app: TestApp) {
    let admin = app.org_admin().await;
    let id = app
        .create_user(
            &admin,
            json!({"firstName": "Kai", "emailAddress": "kai@example.com", "emailAddressVerify": true}),
        )
        .await;
    let code = app.outbox_of(id).await[0].message.params["code"]
        .as_str()
        .unwrap()
        .to_owned();
    let wrong = wrong_code(&code);
    let r = app
        .post(
            &format!("/v2/users/{id}/password_reset"),
            &admin,
            json!({"returnCode": {}}),
        )
        .await;
    r.expect(200);
    let reset = r.body["verificationCode"].as_str().unwrap().to_owned();
    // Five wrong tries at the email code, by link.
    for _ in 0..5 {
        let page = app
            .fetch_page(&format!(
                "{PUBLIC_URL}/verify-email?userId={id}&code={wrong}"
            ))
            .await;
        assert_eq!(page.status, 410, "{}", page.html);
    }
    // The email code is locked (and dead: five wrong tries) ...
    let page = app
        .fetch_page(&format!(
            "{PUBLIC_URL}/verify-email?userId={id}&code={code}"
        ))
        .await;
    assert_eq!(page.status, 429, "{}", page.html);
    // ... the reset code is not.
    let r = app
        .post(
            &format!("/v2/users/{id}/password"),
            &admin,
            json!({"newPassword": {"password": "Kai-Reset-Passw0rd"}, "verificationCode": reset}),
        )
        .await;
    r.expect(200);
    advance(&app, 61);
    let page = app
        .fetch_page(&format!(
            "{PUBLIC_URL}/verify-email?userId={id}&code={code}"
        ))
        .await;
    assert_eq!(page.status, 410, "{}", page.html);
}

// ---------------------------------------------------------------------------------------------
// Request body limits.

/// 1.5 MiB: over the JSON limit (1 MiB), under connectrpc's own default (4 MiB).
const OVER: usize = 3 * 512 * 1024;

async fn user_count(app: &TestApp, admin: &str) -> usize {
    let r = app.get("/v2/users?size=100", admin).await;
    r.expect(200);
    r.body.as_array().unwrap().len()
}

/// A multipart import whose file comes after a text field of `padding` bytes.
async fn import_padded(app: &TestApp, admin: &str, padding: usize, csv: &str) -> Resp {
    let file = Part::bytes(csv.as_bytes().to_vec())
        .file_name("users.csv")
        .mime_str("text/csv")
        .unwrap();
    let form = Form::new()
        .text("padding", "x".repeat(padding))
        .part("file", file);
    let res = app
        .client
        .put(format!("{}/v2/users?organizationId=1", app.base))
        .bearer_auth(admin)
        .multipart(form)
        .send()
        .await
        .unwrap();
    TestApp::read(res).await
}

/// An oversize body is 413 in Bold's four keys and Orgo's problem+json, `resource_exhausted` /
/// `REQUEST-TOO-LARGE` on every Zitadel protocol (its code for a message too large; 429 on
/// Connect and REST), and nothing is written. The import takes its own, larger limit.
async fn oversize_bodies(backend: Backend) {
    let Some(app) = TestApp::start_with(backend, |c| c.max_import_body = 4 * 1024 * 1024).await
    else {
        return;
    };
    let admin = app.org_admin().await;
    let id = app
        .create_user(
            &admin,
            json!({"firstName": "Ada", "emailAddress": "ada@example.com"}),
        )
        .await;
    let big = "x".repeat(OVER);
    let before = app.get(&format!("/v2/users/{id}"), &admin).await.body;

    // Bold.
    let r = app
        .post(
            "/v2/users",
            &admin,
            json!({"firstName": "A", "description": big}),
        )
        .await;
    r.bold_error(413, "PayloadTooLarge");
    let r = app
        .put(
            &format!("/v2/users/{id}"),
            &admin,
            json!({"description": big}),
        )
        .await;
    r.bold_error(413, "PayloadTooLarge");

    // Orgo.
    let r = app
        .raw(
            Method::POST,
            "/api/v1/users",
            Some(&admin),
            Some("application/ld+json"),
            json!({"email": "big@example.com", "firstName": big}).to_string(),
        )
        .await;
    assert_problem(&r, 413, "Request Entity Too Large");
    let r = orgo_login(&app, "ada@example.com", &big, None).await;
    assert_problem(&r, 413, "Request Entity Too Large");

    // Zitadel, each protocol.
    let add = json!({"profile": {"givenName": "Big", "familyName": "Body", "nickName": big},
                     "email": {"email": "big@example.com", "isVerified": true}});
    let r = connect_json(&app, "AddHumanUser", Some(&admin), &add, true).await;
    let message = assert_connect_error(&r, Code::ResourceExhausted, "REQUEST-TOO-LARGE");
    assert_eq!(
        message,
        "The request body is larger than 1048576 bytes (REQUEST-TOO-LARGE)"
    );
    let proto = zu::AddHumanUserRequest {
        profile: Some(zu::SetHumanProfile {
            given_name: "Big".into(),
            family_name: "Body".into(),
            nick_name: Some(big.clone()),
            ..Default::default()
        }),
        email: Some(zu::SetHumanEmail {
            email: "big@example.com".into(),
            verification: Some(zu::set_human_email::Verification::IsVerified(true)),
        }),
        ..Default::default()
    };
    let (status, ct, _) = connect_proto(&app, "AddHumanUser", Some(&admin), &proto).await;
    assert_eq!((status, ct.as_str()), (429, "application/json"));
    let s =
        grpc::<_, zu::AddHumanUserResponse>(&app, "AddHumanUser", Some(&admin), &[], proto.clone())
            .await
            .expect_err("too large");
    assert_eq!(
        assert_grpc_error(&s, Code::ResourceExhausted, "REQUEST-TOO-LARGE"),
        message
    );
    for text in [false, true] {
        let w = grpc_web(&app, "AddHumanUser", Some(&admin), &proto, text).await;
        assert_eq!(
            assert_web_error(&w, Code::ResourceExhausted, "REQUEST-TOO-LARGE"),
            message,
            "text: {text}"
        );
    }
    let mut rest = add.clone();
    rest["username"] = json!("big");
    let r = app.post("/v2/users/human", &admin, rest).await;
    assert_eq!(
        assert_rest_error(&r, Code::ResourceExhausted, "REQUEST-TOO-LARGE"),
        message
    );
    // The rest of the body is not read, so the HTTP/1 connection is not kept for another request.
    assert_eq!(header(&r, "connection"), "close");
    let r = app
        .post(
            &format!("/v2/users/{id}/email"),
            &admin,
            json!({"email": format!("{big}@example.com")}),
        )
        .await;
    assert_rest_error(&r, Code::ResourceExhausted, "REQUEST-TOO-LARGE");

    // Nothing was written.
    assert_eq!(user_count(&app, &admin).await, 1);
    assert_eq!(
        app.get(&format!("/v2/users/{id}"), &admin).await.body,
        before
    );

    // Under the limit the same calls work (the limit is not lower than it says).
    let small = "x".repeat(100);
    let mut add_small = add.clone();
    add_small["profile"]["nickName"] = json!(small);
    call_ok(&app, &admin, "AddHumanUser", add_small).await;
    assert_eq!(user_count(&app, &admin).await, 2);

    // The import: over the JSON limit is fine, over its own limit is 413 and writes nothing.
    let csv = "firstName,emailAddress\nImp,imp1@example.com\nOrt,imp2@example.com\n";
    let r = import_padded(&app, &admin, 5 * 1024 * 1024, csv).await;
    r.bold_error(413, "PayloadTooLarge");
    assert_eq!(user_count(&app, &admin).await, 2);
    let r = import_padded(&app, &admin, OVER, csv).await;
    r.expect(200);
    assert_eq!(r.body, json!([]));
    assert_eq!(user_count(&app, &admin).await, 4);
}

both_backends!(
    orgo_login_locks_the_account,
    zitadel_password_check_locks_the_account,
    address_limit_spans_accounts,
    zitadel_codes_lock_the_account,
    verification_page_locks_the_account,
    invitation_email_guesses_are_counted,
    code_kinds_are_counted_apart,
);

each_backend!(forwarded_addresses_count_separately, oversize_bodies);
