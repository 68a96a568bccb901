//! The Orgo dialect (`/api`, API Platform 3.4 conventions; spec/orgo.md, seed 004): the User item
//! in seed 004's key order, email changes confirmed by mail (a real SMTP server) through the API
//! and through the page, Hydra collections, content negotiation, problem+json errors, merge-patch,
//! the discovery documents checked against real items and by a real JSON-LD processor (the npm
//! `jsonld` package, `scripts/jsonld/expand.js`), logins with their lockout, new passwords, and
//! users' API tokens.

use std::collections::BTreeSet;
use std::path::PathBuf;

use reqwest::Method;
use serde_json::{Map, Value, json};

use crate::delivery::eventually;
use crate::sinks::SmtpSink;
use crate::support::*;

const LD: &str = "application/ld+json";
const MERGE: &str = "application/merge-patch+json";
const LD_UTF8: &str = "application/ld+json; charset=utf-8";
const JSON_UTF8: &str = "application/json; charset=utf-8";
const PROBLEM: &str = "application/problem+json; charset=utf-8";
const ERROR_LINK: &str =
    "<http://www.w3.org/ns/hydra/error>; rel=\"http://www.w3.org/ns/json-ld#error\"";
const HYDRA: &str = "http://www.w3.org/ns/hydra/core#";

const GOOD_PASSWORD: &str = "correct horse battery staple 42";
const OTHER_PASSWORD: &str = "tulip marmalade violin 1987";
const THIRD_PASSWORD: &str = "seven quiet lanterns drifting";

/// Symfony's constraint codes (the `code` of a violation).
const NOT_BLANK: &str = "c1051bb4-d103-4f74-8988-acbcafc7fdc3";
const INVALID_EMAIL: &str = "bd79c0ab-ddba-46cc-a703-a7a4b08de310";
const TOO_SHORT: &str = "9ff3fdc4-b214-49db-8718-39c315e33d45";
const INVALID_TYPE: &str = "ba785a8c-82cb-4283-967c-3cf342181b40";
const NOT_UNIQUE: &str = "23bd9dbf-6b9b-41cd-a99e-4844bcf3077f";
const INVALID_PHONE: &str = "ca23f4ca-38f4-4325-9bcc-eb570a4abe7f";
const INVALID_DATETIME: &str = "1a9da513-2640-4f84-9b6a-4d99dcddc628";
const COMMON_PASSWORD: &str = "d9bcdbfe-a9d6-4bfa-a8ff-da5fd93e0f6d";
/// Symfony's UserPassword::INVALID_PASSWORD_ERROR.
const WRONG_PASSWORD: &str = "2d2a8bb4-ddc8-45e4-9b0f-8670d3a3e290";

/// The keys of seed 004's example answer of `PATCH /api/v1/users/{id}/new-email`, in its order.
const SEED_004_KEYS: &[&str] = &[
    "@context",
    "@id",
    "@type",
    "id",
    "firstName",
    "lastName",
    "email",
    "newEmailRequested",
    "isGuest",
    "resignPending",
    "resignApproved",
    "dateBirth",
    "age",
    "fullName",
    "roles",
    "customFieldValues",
    "logo",
    "phoneNumber",
    "isFollowGeneralUnit",
    "roleGroups",
    "isSupporter",
    "hasDigestDaily",
    "identity",
    "adhesion",
    "postalCode",
    "address",
    "phoneLocalNumber",
    "pushNotificationTokens",
    "permissions",
    "customPermissions",
    "privacy",
    "apiToken",
    "notificationSettings",
    "professionOrganisation",
    "professionOrganisationRole",
    "hasDigestWeekly",
    "companyIdentifier",
    "companyName",
    "companyAddress",
    "companyRegNo",
    "mfaEnabled",
];

/// The members seed 004 marks writable (and usher stores), with a value of their type.
fn writable_values() -> Vec<(&'static str, Value)> {
    vec![
        ("firstName", json!("Wanda")),
        ("lastName", json!("Writer")),
        ("email", json!("wanda@write.example")),
        ("isGuest", json!(true)),
        ("dateBirth", json!("1984-02-29T00:00:00+00:00")),
        ("roles", json!(["ROLE_USER", "ROLE_EDITOR"])),
        ("logo", json!("https://cdn.example/wanda.png")),
        ("phoneNumber", json!("+41446681800")),
        ("isFollowGeneralUnit", json!(false)),
        ("roleGroups", json!(["board", "treasury"])),
        ("isSupporter", json!(true)),
        ("hasDigestDaily", json!(true)),
        ("postalCode", json!("8001")),
        ("address", json!("Bahnhofstrasse 1, Zürich")),
        ("phoneLocalNumber", json!("044 668 18 00")),
        (
            "privacy",
            json!({"age": true, "name": false, "email": true, "phone": true, "social": false, "image": false, "town": false, "profession": false}),
        ),
        (
            "notificationSettings",
            json!({"prefTheme": "dark", "prefWelcomeRead": true, "pPrivacyRead": false}),
        ),
        ("professionOrganisation", json!("Guild of Writers")),
        ("professionOrganisationRole", json!("Scribe")),
        ("hasDigestWeekly", json!(true)),
        ("companyIdentifier", json!("CHE-123.456.789")),
        ("companyName", json!("Writers AG")),
        ("companyAddress", json!("Limmatquai 2, Zürich")),
        ("companyRegNo", json!("CH-020.3.123.456-7")),
    ]
}

/// The item's keys (without `apiToken`, which is never shown).
fn item_keys() -> Vec<&'static str> {
    SEED_004_KEYS
        .iter()
        .copied()
        .filter(|k| *k != "apiToken")
        .collect()
}

/// The item's properties (no `@` keys).
fn property_names() -> Vec<&'static str> {
    item_keys()
        .into_iter()
        .filter(|k| !k.starts_with('@'))
        .collect()
}

// ---------- requests ----------

#[derive(Clone, Copy)]
enum Cred<'a> {
    None,
    Bearer(&'a str),
    ApiToken(&'a str),
}

async fn call(
    app: &TestApp,
    method: Method,
    path: &str,
    cred: Cred<'_>,
    accept: Option<&str>,
    body: Option<(&str, String)>,
) -> Resp {
    let mut req = app.client.request(method, format!("{}{}", app.base, path));
    match cred {
        Cred::None => {}
        Cred::Bearer(t) => req = req.bearer_auth(t),
        Cred::ApiToken(t) => req = req.header("api-token", t),
    }
    if let Some(a) = accept {
        req = req.header("accept", a);
    }
    if let Some((ct, b)) = body {
        if !ct.is_empty() {
            req = req.header("content-type", ct);
        }
        req = req.body(b);
    }
    TestApp::read(req.send().await.unwrap()).await
}

async fn get(app: &TestApp, path: &str, token: &str) -> Resp {
    call(app, Method::GET, path, Cred::Bearer(token), None, None).await
}

async fn get_as(app: &TestApp, path: &str, cred: Cred<'_>, accept: &str) -> Resp {
    call(app, Method::GET, path, cred, Some(accept), None).await
}

async fn merge(app: &TestApp, path: &str, token: &str, body: Value) -> Resp {
    merge_as(app, path, Cred::Bearer(token), body).await
}

async fn merge_as(app: &TestApp, path: &str, cred: Cred<'_>, body: Value) -> Resp {
    call(
        app,
        Method::PATCH,
        path,
        cred,
        None,
        Some((MERGE, body.to_string())),
    )
    .await
}

async fn post_ld(app: &TestApp, path: &str, token: &str, body: Value) -> Resp {
    post_ld_as(app, path, Cred::Bearer(token), body).await
}

async fn post_ld_as(app: &TestApp, path: &str, cred: Cred<'_>, body: Value) -> Resp {
    call(
        app,
        Method::POST,
        path,
        cred,
        None,
        Some((LD, body.to_string())),
    )
    .await
}

async fn delete(app: &TestApp, path: &str, cred: Cred<'_>) -> Resp {
    call(app, Method::DELETE, path, cred, None, None).await
}

/// `POST /api/v1/login-check` (or `/api/v1/login`).
async fn login_at(app: &TestApp, route: &str, username: &str, password: &str) -> Resp {
    call(
        app,
        Method::POST,
        route,
        Cred::None,
        None,
        Some((
            "application/json",
            json!({"username": username, "password": password}).to_string(),
        )),
    )
    .await
}

async fn login(app: &TestApp, username: &str, password: &str) -> Resp {
    login_at(app, "/api/v1/login-check", username, password).await
}

/// A successful login's `(token, refresh_token)`.
async fn login_ok(app: &TestApp, username: &str, password: &str) -> (String, String) {
    let r = login(app, username, password).await;
    r.expect(200);
    assert_eq!(keys(&r.body), ["token", "refresh_token"], "{}", r.text);
    assert_docs_link(&r);
    (
        r.body["token"].as_str().unwrap().to_owned(),
        r.body["refresh_token"].as_str().unwrap().to_owned(),
    )
}

/// Creates a user through `POST /api/v1/users`; returns its id.
async fn new_user(app: &TestApp, admin: &str, body: Value) -> i64 {
    let r = post_ld(app, "/api/v1/users", admin, body).await;
    r.expect(201);
    r.body["id"].as_i64().unwrap()
}

/// Sets a user's password as its admin (`PATCH …/new-password` without `currentPassword`).
async fn set_password(app: &TestApp, admin: &str, id: i64, password: &str) {
    merge(
        app,
        &format!("/api/v1/users/{id}/new-password"),
        admin,
        json!({"newPassword": password}),
    )
    .await
    .expect(200);
}

// ---------- assertions ----------

fn keys(v: &Value) -> Vec<&str> {
    v.as_object()
        .map(|m| m.keys().map(String::as_str).collect())
        .unwrap_or_default()
}

fn header<'a>(r: &'a Resp, name: &str) -> &'a str {
    r.headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
}

fn links(r: &Resp) -> Vec<String> {
    r.headers
        .get_all("link")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .map(str::to_owned)
        .collect()
}

fn docs_link(public_url: &str) -> String {
    format!(
        "<{public_url}/api/docs.jsonld>; rel=\"http://www.w3.org/ns/hydra/core#apiDocumentation\""
    )
}

/// Every answer of the dialect links its Hydra documentation.
#[track_caller]
fn assert_docs_link(r: &Resp) {
    assert!(
        links(r).contains(&docs_link(PUBLIC_URL)),
        "no documentation Link in {:?}",
        links(r)
    );
}

/// An API Platform problem+json error with exactly its seven members.
#[track_caller]
fn assert_problem(r: &Resp, status: u16, detail: &str) {
    assert_eq!(r.status, status, "body: {}", r.text);
    assert_eq!(header(r, "content-type"), PROBLEM, "{}", r.text);
    assert!(links(r).iter().any(|l| l == ERROR_LINK), "{:?}", links(r));
    assert_docs_link(r);
    assert_eq!(
        keys(&r.body),
        [
            "type",
            "title",
            "detail",
            "status",
            "description",
            "hydra:title",
            "hydra:description"
        ],
        "{}",
        r.text
    );
    assert_eq!(r.body["type"], format!("/errors/{status}"));
    assert_eq!(r.body["title"], "An error occurred");
    assert_eq!(r.body["detail"], detail, "{}", r.text);
    assert_eq!(r.body["status"], status);
    assert_eq!(r.body["description"], detail);
    assert_eq!(r.body["hydra:title"], "An error occurred");
    assert_eq!(r.body["hydra:description"], detail);
}

/// A 422 `ConstraintViolationList` with exactly these violations (path, message, code), in order.
#[track_caller]
fn assert_violations(r: &Resp, expected: &[(&str, &str, Option<&str>)]) {
    assert_eq!(r.status, 422, "body: {}", r.text);
    assert_eq!(header(r, "content-type"), PROBLEM, "{}", r.text);
    assert!(links(r).iter().any(|l| l == ERROR_LINK), "{:?}", links(r));
    assert_eq!(
        keys(&r.body),
        [
            "@id",
            "@type",
            "status",
            "title",
            "detail",
            "violations",
            "type",
            "description",
            "hydra:title",
            "hydra:description"
        ],
        "{}",
        r.text
    );
    assert_eq!(r.body["@type"], "ConstraintViolationList");
    assert_eq!(r.body["status"], 422);
    assert_eq!(r.body["title"], "An error occurred");
    let want: Vec<Value> = expected
        .iter()
        .map(
            |(path, message, code)| json!({"propertyPath": path, "message": message, "code": code}),
        )
        .collect();
    assert_eq!(r.body["violations"], Value::Array(want), "{}", r.text);
    let detail = expected
        .iter()
        .map(|(path, message, _)| format!("{path}: {message}"))
        .collect::<Vec<_>>()
        .join("\n");
    assert_eq!(r.body["detail"], detail.as_str());
    assert_eq!(r.body["description"], detail.as_str());
    assert_eq!(r.body["hydra:description"], detail.as_str());
    // API Platform 3.4's ValidationException::getId(): the one code, or the codes by position
    // (`0=<code>;1=<code>`) for several.
    let codes: Vec<&str> = expected
        .iter()
        .map(|(path, _, code)| code.unwrap_or_else(|| panic!("{path}: every violation has a code")))
        .collect();
    let want = match codes.as_slice() {
        [one] => (*one).to_owned(),
        many => many
            .iter()
            .enumerate()
            .map(|(i, c)| format!("{i}={c}"))
            .collect::<Vec<_>>()
            .join(";"),
    };
    assert_eq!(
        r.body["@id"],
        format!("/validation_errors/{want}"),
        "{}",
        r.text
    );
    assert_eq!(r.body["type"], r.body["@id"]);
}

/// A full JSON-LD User item: its headers, seed 004's keys in order, its IRI.
#[track_caller]
fn assert_item(r: &Resp, status: u16, id: i64) {
    assert_eq!(r.status, status, "body: {}", r.text);
    assert_eq!(header(r, "content-type"), LD_UTF8);
    assert_eq!(header(r, "accept-patch"), MERGE);
    assert_docs_link(r);
    assert!(
        r.text.starts_with(&format!(
            "{{\"@context\":\"/api/contexts/User\",\"@id\":\"/api/v1/users/{id}\",\"@type\":\"User\",\"id\":{id},"
        )),
        "{}",
        r.text
    );
    assert_eq!(keys(&r.body), item_keys(), "{}", r.text);
    assert_eq!(r.body["@context"], "/api/contexts/User");
    assert_eq!(r.body["@id"], format!("/api/v1/users/{id}"));
    assert_eq!(r.body["@type"], "User");
    assert_eq!(r.body["id"], id);
    assert!(!r.text.contains("apiToken"));
}

fn token_from_link(link: &str) -> String {
    link.rsplit("/confirm-email/").next().unwrap().to_owned()
}

// ---------- 1. seed 004: new-email ----------

/// Seed 004 as an organization admin: the change is immediate and the answer is the full User,
/// in the seed's key order, with API Platform's headers.
async fn seed_004_admin_changes_email(app: TestApp) {
    let admin = app.org_admin().await;
    let id = new_user(
        &app,
        &admin,
        json!({"email": "ann@old.example", "firstName": "Ann", "lastName": "Lee"}),
    )
    .await;
    let r = merge(
        &app,
        &format!("/api/v1/users/{id}/new-email"),
        &admin,
        json!({"newEmailRequested": "ann@new.example"}),
    )
    .await;
    assert_item(&r, 200, id);
    assert_eq!(r.body["email"], "ann@new.example");
    assert_eq!(r.body["newEmailRequested"], Value::Null);
    assert_eq!(r.body["firstName"], "Ann");
    assert_eq!(r.body["fullName"], "Ann Lee");
    assert_eq!(r.body["roles"], json!(["ROLE_USER"]));
    // Values usher has no data for: null, [] or false (isFollowGeneralUnit defaults to true).
    for k in [
        "resignPending",
        "resignApproved",
        "dateBirth",
        "age",
        "logo",
        "phoneNumber",
        "identity",
        "adhesion",
        "postalCode",
        "address",
        "phoneLocalNumber",
        "privacy",
        "notificationSettings",
        "professionOrganisation",
        "professionOrganisationRole",
        "companyIdentifier",
        "companyName",
        "companyAddress",
        "companyRegNo",
    ] {
        assert_eq!(r.body[k], Value::Null, "{k}");
    }
    for k in [
        "customFieldValues",
        "roleGroups",
        "pushNotificationTokens",
        "permissions",
        "customPermissions",
    ] {
        assert_eq!(r.body[k], json!([]), "{k}");
    }
    for k in [
        "isGuest",
        "isSupporter",
        "hasDigestDaily",
        "hasDigestWeekly",
        "mfaEnabled",
    ] {
        assert_eq!(r.body[k], false, "{k}");
    }
    assert_eq!(r.body["isFollowGeneralUnit"], true);
    // The alias `email` works too; the Bold view agrees.
    let r = merge(
        &app,
        &format!("/api/v1/users/{id}/new-email"),
        &admin,
        json!({"email": "ann@third.example"}),
    )
    .await;
    assert_item(&r, 200, id);
    assert_eq!(r.body["email"], "ann@third.example");
    let bold = app.get(&format!("/v2/users/{id}"), &admin).await;
    assert_eq!(bold.body["emailAddress"], "ann@third.example");
    // Plain JSON: the same object without the `@` keys.
    let r = call(
        &app,
        Method::PATCH,
        &format!("/api/v1/users/{id}/new-email"),
        Cred::Bearer(&admin),
        Some("application/json"),
        Some((MERGE, json!({"newEmail": "ann@fourth.example"}).to_string())),
    )
    .await;
    r.expect(200);
    assert_eq!(header(&r, "content-type"), JSON_UTF8);
    assert_eq!(keys(&r.body), property_names());
    assert_eq!(r.body["email"], "ann@fourth.example");
    // A taken address is a violation, for an admin too; an invalid one as well; no member at all
    // is a blank one.
    new_user(&app, &admin, json!({"email": "taken@example.com"})).await;
    let r = merge(
        &app,
        &format!("/api/v1/users/{id}/new-email"),
        &admin,
        json!({"newEmailRequested": "Taken@Example.com"}),
    )
    .await;
    assert_violations(
        &r,
        &[(
            "newEmailRequested",
            "This value is already used.",
            Some(NOT_UNIQUE),
        )],
    );
    let r = merge(
        &app,
        &format!("/api/v1/users/{id}/new-email"),
        &admin,
        json!({"newEmailRequested": "not an address"}),
    )
    .await;
    assert_violations(
        &r,
        &[(
            "newEmailRequested",
            "This value is not a valid email address.",
            Some(INVALID_EMAIL),
        )],
    );
    let r = merge(
        &app,
        &format!("/api/v1/users/{id}/new-email"),
        &admin,
        json!({}),
    )
    .await;
    assert_violations(
        &r,
        &[(
            "newEmailRequested",
            "This value should not be blank.",
            Some(NOT_BLANK),
        )],
    );
    // Seed 004 takes a merge patch only.
    let r = patch_as_plain_json(&app, &format!("/api/v1/users/{id}/new-email"), &admin).await;
    assert_problem(
        &r,
        415,
        "The content-type \"application/json\" is not supported. Supported MIME types are \"application/merge-patch+json\".",
    );
}

async fn patch_as_plain_json(app: &TestApp, path: &str, token: &str) -> Resp {
    call(
        app,
        Method::PATCH,
        path,
        Cred::Bearer(token),
        None,
        Some((
            "application/json",
            json!({"newEmailRequested": "x@example.com"}).to_string(),
        )),
    )
    .await
}

async fn with_smtp(backend: Backend, sink: &SmtpSink) -> Option<TestApp> {
    let url = sink.url();
    TestApp::start_with(backend, |c| c.smtp_url = Some(url)).await
}

/// A user's own change (with a key bound to the user): `newEmailRequested` waits, the
/// confirmation goes to the CURRENT address over SMTP, and `POST …/new-email/confirm` moves the
/// address and sends the new one its verification.
async fn own_email_change_confirmed_by_api(backend: Backend) {
    let sink = SmtpSink::start().await;
    let Some(app) = with_smtp(backend, &sink).await else {
        return;
    };
    let admin = app.org_admin().await;
    let id = new_user(
        &app,
        &admin,
        json!({"email": "bea@old.example", "firstName": "Bea"}),
    )
    .await;
    let other = new_user(&app, &admin, json!({"email": "taken@example.com"})).await;
    let own = app.key(1, Some(id), false).await;
    let path = format!("/api/v1/users/{id}/new-email");

    // Someone else's address cannot be asked for.
    let r = merge(
        &app,
        &path,
        &own,
        json!({"newEmailRequested": "taken@example.com"}),
    )
    .await;
    assert_violations(
        &r,
        &[(
            "newEmailRequested",
            "This value is already used.",
            Some(NOT_UNIQUE),
        )],
    );
    // Another user's new-email is not the user's to change.
    let r = merge(
        &app,
        &format!("/api/v1/users/{other}/new-email"),
        &own,
        json!({"newEmailRequested": "x@example.com"}),
    )
    .await;
    assert_eq!(r.status, 404, "{}", r.text);

    let r = merge(
        &app,
        &path,
        &own,
        json!({"newEmailRequested": "bea@new.example"}),
    )
    .await;
    assert_item(&r, 200, id);
    assert_eq!(r.body["email"], "bea@old.example");
    assert_eq!(r.body["newEmailRequested"], "bea@new.example");
    let me = get(&app, "/api/v1/me", &own).await;
    assert_item(&me, 200, id);
    assert_eq!(me.body["newEmailRequested"], "bea@new.example");

    let mail = sink.wait_for(1).await.remove(0);
    assert_eq!(mail.to, ["bea@old.example"]);
    assert!(mail.text().contains("bea@new.example"), "{}", mail.text());
    let link = mail.link("/confirm-email/");
    assert!(
        link.starts_with(&format!("{PUBLIC_URL}/confirm-email/")),
        "{link}"
    );
    let token = token_from_link(&link);

    // The token belongs to this user only; a wrong one is gone.
    let confirm = |user: i64, token: String| {
        let app = &app;
        let own = own.clone();
        async move {
            post_ld(
                app,
                &format!("/api/v1/users/{user}/new-email/confirm"),
                &own,
                json!({"token": token}),
            )
            .await
        }
    };
    assert_eq!(confirm(other, token.clone()).await.status, 404);
    assert_problem(
        &confirm(id, "no-such-token".into()).await,
        410,
        "The link has expired or was already used.",
    );
    let r = post_ld(
        &app,
        &format!("/api/v1/users/{id}/new-email/confirm"),
        &own,
        json!({}),
    )
    .await;
    assert_violations(
        &r,
        &[("token", "This value should not be blank.", Some(NOT_BLANK))],
    );

    // The token is not enough: the caller must be one who may change the user. A read-only
    // credential (the user's own or an admin's) is 403, another organization's admin 404, and
    // none of them uses the link up.
    let own_ro = app.key(1, Some(id), true).await;
    let admin_ro = app.key(1, None, true).await;
    let org2 = app.create_org("elsewhere").await;
    let admin2 = app.key(org2, None, false).await;
    let confirm_path = format!("/api/v1/users/{id}/new-email/confirm");
    for ro in [&own_ro, &admin_ro] {
        for cred in [Cred::Bearer(ro), Cred::ApiToken(ro)] {
            let r = post_ld_as(&app, &confirm_path, cred, json!({"token": token})).await;
            assert_problem(&r, 403, "Access Denied.");
        }
    }
    let r = post_ld(&app, &confirm_path, &admin2, json!({"token": token})).await;
    assert_problem(&r, 404, "Not Found");
    assert_eq!(
        get(&app, "/api/v1/me", &own).await.body["email"],
        "bea@old.example"
    );

    let r = confirm(id, token.clone()).await;
    assert_item(&r, 200, id);
    assert_eq!(r.body["email"], "bea@new.example");
    assert_eq!(r.body["newEmailRequested"], Value::Null);
    let second = sink.wait_for(2).await.remove(1);
    assert_eq!(second.to, ["bea@new.example"]);
    assert!(
        second
            .link("/verify-email")
            .contains(&format!("userId={id}")),
        "{}",
        second.text()
    );
    let bold = app.get(&format!("/v2/users/{id}"), &admin).await;
    assert_eq!(bold.body["emailAddress"], "bea@new.example");
    assert_eq!(bold.body["emailAddressVerified"], false);
    // A link works once.
    assert_eq!(confirm(id, token).await.status, 410);
    assert_eq!(app.fetch_page(&link).await.status, 410);
    assert_eq!(sink.messages().len(), 2);
}

/// A user's own change with a login token, confirmed on the HTML page (CSRF cookie and field);
/// `{"newEmailRequested": null}` cancels a pending change and its link is then gone.
async fn own_email_change_confirmed_on_page(backend: Backend) {
    let sink = SmtpSink::start().await;
    let Some(app) = with_smtp(backend, &sink).await else {
        return;
    };
    let admin = app.org_admin().await;
    let id = new_user(
        &app,
        &admin,
        json!({"email": "cy@old.example", "firstName": "Cy"}),
    )
    .await;
    set_password(&app, &admin, id, GOOD_PASSWORD).await;
    let (token, _) = login_ok(&app, "cy@old.example", GOOD_PASSWORD).await;
    let path = format!("/api/v1/users/{id}/new-email");

    let r = merge(
        &app,
        &path,
        &token,
        json!({"newEmailRequested": "cy@first.example"}),
    )
    .await;
    assert_item(&r, 200, id);
    assert_eq!(r.body["newEmailRequested"], "cy@first.example");
    let first = sink.wait_for(1).await.remove(0);
    assert_eq!(first.to, ["cy@old.example"]);
    let first_link = first.link("/confirm-email/");

    // Cancelled: nothing pending, the address unchanged, the link gone.
    let r = merge(&app, &path, &token, json!({"newEmailRequested": null})).await;
    assert_item(&r, 200, id);
    assert_eq!(r.body["email"], "cy@old.example");
    assert_eq!(r.body["newEmailRequested"], Value::Null);
    assert_eq!(app.fetch_page(&first_link).await.status, 410);

    let r = merge(
        &app,
        &path,
        &token,
        json!({"newEmailRequested": "cy@new.example"}),
    )
    .await;
    assert_item(&r, 200, id);
    let second = sink.wait_for(2).await.remove(1);
    assert_eq!(second.to, ["cy@old.example"]);
    let link = second.link("/confirm-email/");
    assert_ne!(link, first_link);

    let page = app.fetch_page(&link).await;
    assert_eq!(page.status, 200, "{}", page.html);
    assert!(page.html.contains("cy@new.example"), "{}", page.html);
    // Without the CSRF cookie the form is refused and nothing changes.
    let refused = app
        .post_form(&link, None, &[("csrf", page.csrf.as_deref().unwrap())])
        .await;
    assert_eq!(refused.status, 400);
    assert_eq!(
        get(&app, "/api/v1/me", &token).await.body["email"],
        "cy@old.example"
    );
    let done = app
        .post_form(
            &link,
            Some(page.cookie.as_deref().unwrap()),
            &[("csrf", page.csrf.as_deref().unwrap())],
        )
        .await;
    assert_eq!(done.status, 200, "{}", done.html);

    let me = get(&app, "/api/v1/me", &token).await;
    assert_item(&me, 200, id);
    assert_eq!(me.body["email"], "cy@new.example");
    assert_eq!(me.body["newEmailRequested"], Value::Null);
    let third = sink.wait_for(3).await.remove(2);
    assert_eq!(third.to, ["cy@new.example"]);
    assert!(
        third
            .link("/verify-email")
            .contains(&format!("userId={id}"))
    );
    assert_eq!(app.fetch_page(&link).await.status, 410);
    // The new address is the login name now.
    login_ok(&app, "cy@new.example", GOOD_PASSWORD).await;
}

// ---------- 2. conventions ----------

/// Collections: `hydra:totalItems` even when empty, members with `@id`/`@type` and no
/// `@context`, `hydra:view` only when needed with page links keeping the other parameters first,
/// the search template, filters, ordering, plain JSON.
async fn collections(app: TestApp) {
    let admin = app.org_admin().await;
    let empty = get(&app, "/api/v1/users", &admin).await;
    empty.expect(200);
    assert_eq!(header(&empty, "content-type"), LD_UTF8);
    assert_docs_link(&empty);
    assert_eq!(
        keys(&empty.body),
        [
            "@context",
            "@id",
            "@type",
            "hydra:totalItems",
            "hydra:member",
            "hydra:search"
        ],
        "{}",
        empty.text
    );
    assert_eq!(empty.body["@context"], "/api/contexts/User");
    assert_eq!(empty.body["@id"], "/api/v1/users");
    assert_eq!(empty.body["@type"], "hydra:Collection");
    assert_eq!(empty.body["hydra:totalItems"], 0);
    assert_eq!(empty.body["hydra:member"], json!([]));
    let search = &empty.body["hydra:search"];
    assert_eq!(
        *search,
        json!({
            "@type": "hydra:IriTemplate",
            "hydra:template": "/api/v1/users{?email,firstName,lastName,keyword,roles,status,order[firstName],order[lastName],order[email],order[id]}",
            "hydra:variableRepresentation": "BasicRepresentation",
            "hydra:mapping": [
                {"@type": "IriTemplateMapping", "variable": "email", "property": "email", "required": false},
                {"@type": "IriTemplateMapping", "variable": "firstName", "property": "firstName", "required": false},
                {"@type": "IriTemplateMapping", "variable": "lastName", "property": "lastName", "required": false},
                {"@type": "IriTemplateMapping", "variable": "keyword", "property": "keyword", "required": false},
                {"@type": "IriTemplateMapping", "variable": "roles", "property": "roles", "required": false},
                {"@type": "IriTemplateMapping", "variable": "status", "property": "status", "required": false},
                {"@type": "IriTemplateMapping", "variable": "order[firstName]", "property": "firstName", "required": false},
                {"@type": "IriTemplateMapping", "variable": "order[lastName]", "property": "lastName", "required": false},
                {"@type": "IriTemplateMapping", "variable": "order[email]", "property": "email", "required": false},
                {"@type": "IriTemplateMapping", "variable": "order[id]", "property": "id", "required": false},
            ],
        })
    );
    // Empty, but a page was asked for: the view, with no previous or next.
    let r = get(&app, "/api/v1/users?page=1", &admin).await;
    assert_eq!(r.body["hydra:totalItems"], 0);
    assert_eq!(
        r.body["hydra:view"],
        json!({"@id": "/api/v1/users?page=1", "@type": "hydra:PartialCollectionView",
               "hydra:first": "/api/v1/users?page=1", "hydra:last": "/api/v1/users?page=1"})
    );

    let people = [
        ("Alice", "Smith", "alice@example.com"),
        ("Bob", "Smith", "bob@example.com"),
        ("Carol", "Jones", "carol@corp.test"),
        ("Dave", "Smithers", "dave@corp.test"),
        ("Eve", "Brown", "eve@example.com"),
    ];
    let mut ids = Vec::new();
    for (first, last, email) in people {
        ids.push(
            new_user(
                &app,
                &admin,
                json!({"firstName": first, "lastName": last, "email": email}),
            )
            .await,
        );
    }
    let (alice, bob, carol, dave, eve) = (ids[0], ids[1], ids[2], ids[3], ids[4]);
    merge(
        &app,
        &format!("/api/v1/users/{bob}"),
        &admin,
        json!({"roles": ["ROLE_USER", "ROLE_EDITOR"]}),
    )
    .await
    .expect(200);
    merge(
        &app,
        &format!("/api/v1/users/{dave}"),
        &admin,
        json!({"roles": ["ROLE_ADMIN_TENANT"]}),
    )
    .await
    .expect(200);
    set_password(&app, &admin, alice, GOOD_PASSWORD).await;

    let all = get(&app, "/api/v1/users", &admin).await;
    assert_eq!(all.body["hydra:totalItems"], 5);
    assert!(all.body.get("hydra:view").is_none(), "{}", all.text);
    let members = all.body["hydra:member"].as_array().unwrap();
    assert_eq!(members.len(), 5);
    for (m, id) in members.iter().zip(&ids) {
        let mut want: Vec<&str> = item_keys();
        want.retain(|k| *k != "@context");
        assert_eq!(keys(m), want);
        assert_eq!(m["@id"], format!("/api/v1/users/{id}"));
        assert_eq!(m["@type"], "User");
    }
    // A member is the item without its @context.
    let item = get(&app, &format!("/api/v1/users/{alice}"), &admin).await;
    let mut without_context = item.body.as_object().unwrap().clone();
    without_context.shift_remove("@context");
    assert_eq!(members[0], Value::Object(without_context));

    let ids_of = |r: &Resp| -> Vec<i64> {
        r.body["hydra:member"]
            .as_array()
            .unwrap_or_else(|| panic!("{}", r.text))
            .iter()
            .map(|m| m["id"].as_i64().unwrap())
            .collect()
    };
    // Pages: the first has no previous, the last no next, a middle one both.
    let r = get(&app, "/api/v1/users?itemsPerPage=2", &admin).await;
    assert_eq!(ids_of(&r), [alice, bob]);
    assert_eq!(r.body["hydra:totalItems"], 5);
    assert_eq!(
        r.body["hydra:view"],
        json!({"@id": "/api/v1/users?itemsPerPage=2&page=1", "@type": "hydra:PartialCollectionView",
               "hydra:first": "/api/v1/users?itemsPerPage=2&page=1",
               "hydra:last": "/api/v1/users?itemsPerPage=2&page=3",
               "hydra:next": "/api/v1/users?itemsPerPage=2&page=2"})
    );
    let r = get(&app, "/api/v1/users?page=2&itemsPerPage=2", &admin).await;
    assert_eq!(ids_of(&r), [carol, dave]);
    assert_eq!(
        r.body["hydra:view"],
        json!({"@id": "/api/v1/users?itemsPerPage=2&page=2", "@type": "hydra:PartialCollectionView",
               "hydra:first": "/api/v1/users?itemsPerPage=2&page=1",
               "hydra:last": "/api/v1/users?itemsPerPage=2&page=3",
               "hydra:previous": "/api/v1/users?itemsPerPage=2&page=1",
               "hydra:next": "/api/v1/users?itemsPerPage=2&page=3"})
    );
    // Filtered: the other parameters first, in the order given, `page` last.
    let r = get(
        &app,
        "/api/v1/users?email=example.com&itemsPerPage=2&page=2",
        &admin,
    )
    .await;
    assert_eq!(ids_of(&r), [eve]);
    assert_eq!(r.body["hydra:totalItems"], 3);
    assert_eq!(
        r.body["hydra:view"],
        json!({"@id": "/api/v1/users?email=example.com&itemsPerPage=2&page=2", "@type": "hydra:PartialCollectionView",
               "hydra:first": "/api/v1/users?email=example.com&itemsPerPage=2&page=1",
               "hydra:last": "/api/v1/users?email=example.com&itemsPerPage=2&page=2",
               "hydra:previous": "/api/v1/users?email=example.com&itemsPerPage=2&page=1"})
    );
    let r = get(
        &app,
        "/api/v1/users?page=2&email=example.com&itemsPerPage=2",
        &admin,
    )
    .await;
    assert_eq!(
        r.body["hydra:view"]["@id"],
        "/api/v1/users?email=example.com&itemsPerPage=2&page=2"
    );
    // Past the end: no members, but the totals and the links back.
    let r = get(&app, "/api/v1/users?itemsPerPage=2&page=9", &admin).await;
    assert_eq!(ids_of(&r), Vec::<i64>::new());
    assert_eq!(r.body["hydra:totalItems"], 5);
    assert_eq!(
        r.body["hydra:view"]["hydra:last"],
        "/api/v1/users?itemsPerPage=2&page=3"
    );
    assert!(r.body["hydra:view"].get("hydra:next").is_none());

    // Filters.
    let filtered = |q: &'static str| {
        let app = &app;
        let admin = admin.clone();
        async move {
            let r = get(app, &format!("/api/v1/users?{q}"), &admin).await;
            r.expect(200);
            r
        }
    };
    assert_eq!(ids_of(&filtered("firstName=ali").await), [alice]);
    assert_eq!(
        ids_of(&filtered("lastName=SMITH").await),
        [alice, bob, dave]
    );
    assert_eq!(
        ids_of(&filtered("lastName=smith&firstName=bob").await),
        [bob]
    );
    assert_eq!(ids_of(&filtered("email=corp.test").await), [carol, dave]);
    assert_eq!(ids_of(&filtered("keyword=corp").await), [carol, dave]);
    assert_eq!(ids_of(&filtered("keyword=jones").await), [carol]);
    assert_eq!(ids_of(&filtered("keyword=eve").await), [eve]);
    assert_eq!(ids_of(&filtered("roles=ROLE_EDITOR").await), [bob]);
    assert_eq!(ids_of(&filtered("roles[]=ROLE_EDITOR").await), [bob]);
    assert_eq!(ids_of(&filtered("roles=ROLE_ADMIN_TENANT").await), [dave]);
    assert_eq!(ids_of(&filtered("roles=ROLE_USER").await), ids);
    assert_eq!(ids_of(&filtered("status=active").await), [alice]);
    assert_eq!(
        ids_of(&filtered("status=initial").await),
        [bob, carol, dave, eve]
    );
    assert_eq!(ids_of(&filtered("email=nobody").await), Vec::<i64>::new());
    let r = filtered("email=nobody").await;
    assert_eq!(r.body["hydra:totalItems"], 0);
    assert!(r.body.get("hydra:view").is_none());
    let r = get(&app, "/api/v1/users?status=sleeping", &admin).await;
    assert_eq!(r.status, 400, "{}", r.text);
    assert_eq!(header(&r, "content-type"), PROBLEM);
    // Ordering.
    assert_eq!(
        ids_of(&filtered("order[email]=desc").await),
        [eve, dave, carol, bob, alice]
    );
    assert_eq!(
        ids_of(&filtered("order[lastName]=asc&order[firstName]=asc").await),
        [eve, carol, alice, bob, dave]
    );
    assert_eq!(
        ids_of(&filtered("order[firstName]=desc").await),
        [eve, dave, carol, bob, alice]
    );
    assert_eq!(
        ids_of(&filtered("order[id]=desc&itemsPerPage=2").await),
        [eve, dave]
    );
    assert_eq!(ids_of(&filtered("order[id]=asc").await), ids);
    // Several orders apply in turn, as PHP reads them: one given twice keeps its first place and
    // takes its last direction; an unknown field or direction is skipped.
    assert_eq!(
        ids_of(&filtered("order[lastName]=asc&order[firstName]=desc").await),
        [eve, carol, bob, alice, dave]
    );
    assert_eq!(
        ids_of(&filtered("order[lastName]=desc&order[firstName]=asc&order[lastName]=asc").await),
        [eve, carol, alice, bob, dave]
    );
    assert_eq!(
        ids_of(&filtered("order[nope]=asc&order[firstName]=sideways&order[email]=desc").await),
        [eve, dave, carol, bob, alice]
    );
    assert_eq!(
        ids_of(&filtered("order[lastName]=desc&order[id]=asc&order[firstName]=desc").await),
        [dave, alice, bob, carol, eve]
    );
    // Array filters match any of their values; a plain parameter given twice keeps the last.
    assert_eq!(
        ids_of(&filtered("email[]=alice&email[]=carol").await),
        [alice, carol]
    );
    assert_eq!(
        ids_of(&filtered("firstName[0]=bob&firstName[1]=eve").await),
        [bob, eve]
    );
    assert_eq!(ids_of(&filtered("email=alice&email=carol").await), [carol]);
    assert_eq!(
        ids_of(&filtered("email[]=alice&email=carol").await),
        [carol]
    );
    assert_eq!(
        ids_of(&filtered("email=carol&email[]=alice").await),
        [alice]
    );
    assert_eq!(
        ids_of(&filtered("email[]=alice&email[]=corp&lastName=smith").await),
        [alice, dave]
    );
    assert_eq!(ids_of(&filtered("email[x]=alice").await), ids);
    // PHP's array rules: a string key (`x`, or `01`, which is not written as an integer) is
    // dropped and turns a plain value before it into an array too; a repeated index overwrites.
    assert_eq!(ids_of(&filtered("email=carol&email[x]=alice").await), ids);
    assert_eq!(ids_of(&filtered("email[01]=alice").await), ids);
    assert_eq!(ids_of(&filtered("email[0]=bob&email[0]=eve").await), [eve]);
    assert_eq!(
        ids_of(&filtered("email[1]=bob&email[]=eve&email[0]=carol").await),
        [bob, carol, eve]
    );
    // The other filters: the last of a repeated plain value; roles as an array: any of them.
    assert_eq!(
        ids_of(&filtered("status=active&status=initial").await),
        [bob, carol, dave, eve]
    );
    assert_eq!(
        ids_of(&filtered("keyword=alice&keyword=carol").await),
        [carol]
    );
    assert_eq!(
        ids_of(&filtered("roles=ROLE_EDITOR&roles=ROLE_ADMIN_TENANT").await),
        [dave]
    );
    assert_eq!(
        ids_of(&filtered("roles[]=ROLE_EDITOR&roles[]=ROLE_ADMIN_TENANT").await),
        [bob, dave]
    );
    // `keyword` looks at names and email, not the phone number.
    merge(
        &app,
        &format!("/api/v1/users/{alice}"),
        &admin,
        json!({"phoneNumber": "+31850607337"}),
    )
    .await
    .expect(200);
    assert_eq!(ids_of(&filtered("keyword=0607").await), Vec::<i64>::new());
    assert_eq!(ids_of(&filtered("keyword=ALICE").await), [alice]);
    // `page` is read as PHP's `(int)` reads it: leading digits, and beyond 64 bits the last
    // possible page, which is empty.
    assert_eq!(
        ids_of(&filtered("page=2abc&itemsPerPage=2").await),
        [carol, dave]
    );
    assert_eq!(
        ids_of(&filtered("page=0&itemsPerPage=9&page=2&itemsPerPage=2x").await),
        [carol, dave]
    );
    assert_eq!(ids_of(&filtered("page=0.3e1&itemsPerPage=2").await), [eve]);
    let r = filtered("page=99999999999999999999").await;
    assert_eq!(ids_of(&r), Vec::<i64>::new());
    assert_eq!(r.body["hydra:totalItems"], 5);
    // Pagination cannot be turned off.
    let r = get(&app, "/api/v1/users?pagination=false", &admin).await;
    assert_problem(&r, 400, "Pagination cannot be disabled for this resource.");
    let r = get(&app, "/api/v1/users?page=0", &admin).await;
    assert_problem(&r, 400, "Page should not be less than 1");

    // Plain JSON: a bare array of items without `@` keys.
    let r = get_as(
        &app,
        "/api/v1/users?itemsPerPage=2",
        Cred::Bearer(&admin),
        "application/json",
    )
    .await;
    r.expect(200);
    assert_eq!(header(&r, "content-type"), JSON_UTF8);
    let arr = r.body.as_array().unwrap_or_else(|| panic!("{}", r.text));
    assert_eq!(arr.len(), 2);
    for m in arr {
        assert_eq!(keys(m), property_names());
    }
    assert_eq!(arr[0]["id"], alice);
    let r = get_as(
        &app,
        &format!("/api/v1/users/{alice}"),
        Cred::Bearer(&admin),
        "application/json",
    )
    .await;
    r.expect(200);
    assert_eq!(header(&r, "content-type"), JSON_UTF8);
    assert_eq!(keys(&r.body), property_names());
    // `*/*` and a weighted list pick JSON-LD or JSON.
    let r = get_as(&app, "/api/v1/users", Cred::Bearer(&admin), "*/*").await;
    assert_eq!(header(&r, "content-type"), LD_UTF8);
    let r = get_as(
        &app,
        "/api/v1/users",
        Cred::Bearer(&admin),
        "text/html, application/json;q=0.9, application/ld+json;q=0.5",
    )
    .await;
    assert_eq!(header(&r, "content-type"), JSON_UTF8);
}

/// `itemsPerPage`: 30 by default, at most 100.
async fn items_per_page_limits(app: TestApp) {
    let admin = app.org_admin().await;
    for i in 0..101 {
        new_user(
            &app,
            &admin,
            json!({"email": format!("u{i:03}@example.com")}),
        )
        .await;
    }
    let r = get(&app, "/api/v1/users", &admin).await;
    assert_eq!(r.body["hydra:totalItems"], 101);
    assert_eq!(r.body["hydra:member"].as_array().unwrap().len(), 30);
    assert_eq!(
        r.body["hydra:view"],
        json!({"@id": "/api/v1/users?page=1", "@type": "hydra:PartialCollectionView",
               "hydra:first": "/api/v1/users?page=1", "hydra:last": "/api/v1/users?page=4",
               "hydra:next": "/api/v1/users?page=2"})
    );
    let r = get(&app, "/api/v1/users?page=4", &admin).await;
    assert_eq!(r.body["hydra:member"].as_array().unwrap().len(), 11);
    let r = get(&app, "/api/v1/users?itemsPerPage=1000", &admin).await;
    assert_eq!(r.body["hydra:member"].as_array().unwrap().len(), 100);
    assert_eq!(
        r.body["hydra:view"]["hydra:last"],
        "/api/v1/users?itemsPerPage=1000&page=2"
    );
    let r = get(&app, "/api/v1/users?itemsPerPage=100&page=2", &admin).await;
    assert_eq!(r.body["hydra:member"].as_array().unwrap().len(), 1);
    // A number too large for 64 bits is capped too (PHP's `(int)` saturates), not a 400.
    let r = get(
        &app,
        "/api/v1/users?itemsPerPage=99999999999999999999",
        &admin,
    )
    .await;
    r.expect(200);
    assert_eq!(r.body["hydra:member"].as_array().unwrap().len(), 100);
    assert_eq!(
        r.body["hydra:view"]["hydra:last"],
        "/api/v1/users?itemsPerPage=99999999999999999999&page=2"
    );
    // Past the end: no members, `previous` is the page before the asked one.
    let r = get(&app, "/api/v1/users?page=7", &admin).await;
    r.expect(200);
    assert_eq!(r.body["hydra:member"], json!([]));
    assert_eq!(
        r.body["hydra:view"],
        json!({"@id": "/api/v1/users?page=7", "@type": "hydra:PartialCollectionView",
               "hydra:first": "/api/v1/users?page=1", "hydra:last": "/api/v1/users?page=4",
               "hydra:previous": "/api/v1/users?page=6"})
    );
}

/// Negotiation (406), body types (415), syntax (400), problem+json, 404s, 401s, 403s, and
/// another organization's users as 404.
async fn errors_and_negotiation(app: TestApp) {
    let admin = app.org_admin().await;
    let id = new_user(&app, &admin, json!({"email": "nia@example.com"})).await;
    let item = format!("/api/v1/users/{id}");

    let r = get_as(&app, &item, Cred::Bearer(&admin), "text/plain").await;
    assert_problem(
        &r,
        406,
        "Requested format \"text/plain\" is not supported. Supported MIME types are \"application/ld+json\", \"application/json\".",
    );
    let r = get_as(&app, "/api/v1/users", Cred::Bearer(&admin), "text/plain").await;
    assert_eq!(r.status, 406);

    for (ct, shown) in [("text/plain", "text/plain"), ("", "")] {
        let r = call(
            &app,
            Method::POST,
            "/api/v1/users",
            Cred::Bearer(&admin),
            None,
            Some((ct, json!({"email": "x@example.com"}).to_string())),
        )
        .await;
        assert_problem(
            &r,
            415,
            &format!(
                "The content-type \"{shown}\" is not supported. Supported MIME types are \"application/ld+json\", \"application/json\"."
            ),
        );
    }
    // POST takes plain JSON too.
    let r = call(
        &app,
        Method::POST,
        "/api/v1/users",
        Cred::Bearer(&admin),
        None,
        Some((
            "application/json",
            json!({"email": "plain@example.com"}).to_string(),
        )),
    )
    .await;
    r.expect(201);
    for ct in ["application/json", "application/ld+json", "text/plain"] {
        let r = call(
            &app,
            Method::PATCH,
            &item,
            Cred::Bearer(&admin),
            None,
            Some((ct, json!({"firstName": "Nia"}).to_string())),
        )
        .await;
        assert_problem(
            &r,
            415,
            &format!(
                "The content-type \"{ct}\" is not supported. Supported MIME types are \"application/merge-patch+json\"."
            ),
        );
    }
    // Not JSON.
    let r = call(
        &app,
        Method::POST,
        "/api/v1/users",
        Cred::Bearer(&admin),
        None,
        Some((LD, "{\"email\": ".to_owned())),
    )
    .await;
    assert_problem(&r, 400, "Syntax error");
    let r = call(
        &app,
        Method::PATCH,
        &item,
        Cred::Bearer(&admin),
        None,
        Some((MERGE, "firstName=Nia".to_owned())),
    )
    .await;
    assert_problem(&r, 400, "Syntax error");

    // 404: unknown ids, ids that are not ids, unknown routes.
    for path in [
        "/api/v1/users/999999",
        "/api/v1/users/abc",
        "/api/v1/users/0",
        "/api/v1/nothing",
        "/api/nothing/at/all",
    ] {
        let r = get(&app, path, &admin).await;
        assert_problem(&r, 404, "Not Found");
    }
    // A method the route does not have.
    let r = call(
        &app,
        Method::PUT,
        &item,
        Cred::Bearer(&admin),
        None,
        Some((LD, "{}".to_owned())),
    )
    .await;
    assert_problem(&r, 405, "Method Not Allowed");
    let r = merge(&app, "/api/v1/users/999999", &admin, json!({})).await;
    assert_problem(&r, 404, "Not Found");
    let r = delete(&app, "/api/v1/users/999999", Cred::Bearer(&admin)).await;
    assert_problem(&r, 404, "Not Found");

    // 401 in API Platform's words.
    let r = call(&app, Method::GET, &item, Cred::None, None, None).await;
    assert_problem(&r, 401, "JWT Token not found");
    let r = get(&app, &item, "not-a-token").await;
    assert_problem(&r, 401, "Invalid JWT Token");
    let r = call(
        &app,
        Method::GET,
        &item,
        Cred::ApiToken("not-a-token"),
        None,
        None,
    )
    .await;
    assert_problem(&r, 401, "Invalid API token");
    // An admin key works as Api-Token too.
    let r = call(&app, Method::GET, &item, Cred::ApiToken(&admin), None, None).await;
    assert_item(&r, 200, id);

    // 403: a plain user listing users; read-only credentials writing.
    let own = app.key(1, Some(id), false).await;
    let r = get(&app, "/api/v1/users", &own).await;
    assert_problem(&r, 403, "Access Denied.");
    let r = merge(&app, &item, &own, json!({"firstName": "Self"})).await;
    assert_problem(&r, 403, "Access Denied.");
    let r = delete(&app, &item, Cred::Bearer(&own)).await;
    assert_problem(&r, 403, "Access Denied.");
    let r = get(&app, &item, &own).await;
    assert_item(&r, 200, id);
    let read_only = app.key(1, None, true).await;
    assert_eq!(get(&app, "/api/v1/users", &read_only).await.status, 200);
    assert_item(&get(&app, &item, &read_only).await, 200, id);
    let r = post_ld(
        &app,
        "/api/v1/users",
        &read_only,
        json!({"email": "ro@example.com"}),
    )
    .await;
    assert_problem(&r, 403, "Access Denied.");
    let r = merge(&app, &item, &read_only, json!({"firstName": "RO"})).await;
    assert_problem(&r, 403, "Access Denied.");
    let r = merge(
        &app,
        &format!("{item}/new-email"),
        &read_only,
        json!({"newEmailRequested": "ro@example.com"}),
    )
    .await;
    assert_problem(&r, 403, "Access Denied.");
    let r = merge(
        &app,
        &format!("{item}/new-password"),
        &read_only,
        json!({"newPassword": GOOD_PASSWORD}),
    )
    .await;
    assert_problem(&r, 403, "Access Denied.");
    let r = delete(&app, &item, Cred::Bearer(&read_only)).await;
    assert_problem(&r, 403, "Access Denied.");
    assert_item(&get(&app, &item, &admin).await, 200, id);

    // Another organization's users do not exist for this one — never 403.
    let org2 = app.create_org("elsewhere").await;
    let admin2 = app.key(org2, None, false).await;
    let stranger = new_user(&app, &admin2, json!({"email": "stranger@example.com"})).await;
    let theirs = format!("/api/v1/users/{stranger}");
    assert_problem(&get(&app, &theirs, &admin).await, 404, "Not Found");
    assert_problem(&get(&app, &theirs, &read_only).await, 404, "Not Found");
    assert_problem(&get(&app, &theirs, &own).await, 404, "Not Found");
    assert_problem(
        &merge(&app, &theirs, &admin, json!({"firstName": "X"})).await,
        404,
        "Not Found",
    );
    assert_problem(
        &merge(&app, &theirs, &read_only, json!({"firstName": "X"})).await,
        404,
        "Not Found",
    );
    assert_problem(
        &merge(
            &app,
            &format!("{theirs}/new-email"),
            &own,
            json!({"newEmailRequested": "x@example.com"}),
        )
        .await,
        404,
        "Not Found",
    );
    assert_problem(
        &merge(
            &app,
            &format!("{theirs}/new-password"),
            &admin,
            json!({"newPassword": GOOD_PASSWORD}),
        )
        .await,
        404,
        "Not Found",
    );
    assert_problem(
        &delete(&app, &theirs, Cred::Bearer(&admin)).await,
        404,
        "Not Found",
    );
    let list = get(&app, "/api/v1/users", &admin).await;
    assert!(!list.text.contains("stranger@example.com"), "{}", list.text);
    assert_item(&get(&app, &theirs, &admin2).await, 200, stranger);

    // Errors keep the problem shape whatever the Accept.
    let r = get_as(
        &app,
        "/api/v1/users/999999",
        Cred::Bearer(&admin),
        "application/json",
    )
    .await;
    assert_problem(&r, 404, "Not Found");
}

/// 422: every bad member reported at once, with Symfony's codes, the same every time.
async fn violations_all_at_once(app: TestApp) {
    let admin = app.org_admin().await;
    let bad = json!({
        "firstName": 5,
        "lastName": "x".repeat(300),
        "email": "not-an-email",
        "phoneNumber": "call me",
        "roles": "ROLE_USER",
        "isGuest": "yes",
        "dateBirth": "yesterday",
        "privacy": [1],
    });
    let expected: &[(&str, &str, Option<&str>)] = &[
        (
            "firstName",
            "This value should be of type string.",
            Some(INVALID_TYPE),
        ),
        (
            "lastName",
            "This value is too long. It should have 255 characters or less.",
            Some("d94b19cc-114f-4f44-9cc4-4138e80a87b9"),
        ),
        (
            "email",
            "This value is not a valid email address.",
            Some(INVALID_EMAIL),
        ),
        (
            "phoneNumber",
            "This value is not a valid phone number.",
            Some(INVALID_PHONE),
        ),
        (
            "roles",
            "This value should be of type array.",
            Some(INVALID_TYPE),
        ),
        (
            "isGuest",
            "This value should be of type bool.",
            Some(INVALID_TYPE),
        ),
        (
            "dateBirth",
            "This value is not a valid datetime.",
            Some(INVALID_DATETIME),
        ),
        (
            "privacy",
            "This value should be of type object.",
            Some(INVALID_TYPE),
        ),
    ];
    let first = post_ld(&app, "/api/v1/users", &admin, bad.clone()).await;
    assert_violations(&first, expected);
    let again = post_ld(&app, "/api/v1/users", &admin, bad.clone()).await;
    assert_eq!(again.text, first.text, "stable answers");
    // The same on PATCH.
    let id = new_user(&app, &admin, json!({"email": "vio@example.com"})).await;
    let mut patch = bad.as_object().unwrap().clone();
    patch.remove("lastName");
    let r = merge(
        &app,
        &format!("/api/v1/users/{id}"),
        &admin,
        Value::Object(patch),
    )
    .await;
    let mut expected_patch = expected.to_vec();
    expected_patch.remove(1);
    assert_violations(&r, &expected_patch);
    // Nothing was written.
    let u = get(&app, &format!("/api/v1/users/{id}"), &admin).await;
    assert_eq!(u.body["email"], "vio@example.com");
    assert_eq!(u.body["isGuest"], false);
    // A missing email on create; a taken one.
    let r = post_ld(&app, "/api/v1/users", &admin, json!({"firstName": "No"})).await;
    assert_violations(
        &r,
        &[("email", "This value should not be blank.", Some(NOT_BLANK))],
    );
    let r = post_ld(
        &app,
        "/api/v1/users",
        &admin,
        json!({"email": "VIO@example.com"}),
    )
    .await;
    assert_violations(
        &r,
        &[("email", "This value is already used.", Some(NOT_UNIQUE))],
    );
    let other = new_user(&app, &admin, json!({"email": "other@example.com"})).await;
    let r = merge(
        &app,
        &format!("/api/v1/users/{other}"),
        &admin,
        json!({"email": "vio@example.com"}),
    )
    .await;
    assert_violations(
        &r,
        &[("email", "This value is already used.", Some(NOT_UNIQUE))],
    );
}

/// Merge-patch semantics, writable attribute fields round-tripping, derived `age` and
/// `fullName`, POST's 201 headers, DELETE's empty 204, and `ROLE_ADMIN_TENANT` making an
/// organization admin (as the Bold dialect sees it).
async fn merge_patch_and_fields(app: TestApp) {
    let admin = app.org_admin().await;
    let r = post_ld(
        &app,
        "/api/v1/users",
        &admin,
        json!({
            "email": "pat@example.com", "firstName": "Pat", "lastName": "Doe",
            "dateBirth": "1990-05-20", "postalCode": "75001", "address": "1 rue de Rivoli",
            "companyName": "ACME", "isGuest": true, "privacy": {"age": true, "name": false},
            "phoneNumber": "+33612345678",
        }),
    )
    .await;
    let id = r.body["id"]
        .as_i64()
        .unwrap_or_else(|| panic!("{}", r.text));
    assert_item(&r, 201, id);
    let iri = format!("/api/v1/users/{id}");
    assert_eq!(header(&r, "location"), iri);
    assert_eq!(header(&r, "content-location"), iri);
    assert_eq!(r.body["dateBirth"], "1990-05-20T00:00:00+00:00");
    // The clock says 2026-03-17: not yet 36.
    assert_eq!(r.body["age"], 35);
    assert_eq!(r.body["fullName"], "Pat Doe");
    assert_eq!(r.body["phoneNumber"], "+33612345678");
    assert_eq!(r.body["privacy"], json!({"age": true, "name": false}));
    assert_eq!(r.body["isGuest"], true);
    assert_eq!(r.body["roles"], json!(["ROLE_USER"]));
    let got = get(&app, &iri, &admin).await;
    assert_item(&got, 200, id);
    // (Compared as values: PostgreSQL's jsonb may reorder the keys inside `privacy`.)
    assert_eq!(got.body, r.body, "GET answers what POST answered");
    // Item GETs say where they live.
    assert_eq!(header(&got, "content-location"), iri);
    // An instance-admin credential has no organization to put a user in; nothing is created.
    let r = post_ld(
        &app,
        "/api/v1/users",
        &app.admin,
        json!({"email": "inst@example.com"}),
    )
    .await;
    assert_problem(
        &r,
        400,
        "An instance-admin credential has no organization to create the user in: use an \
         organization admin's credential, or Bold or Zitadel, which name the organization.",
    );
    let r = get(&app, "/api/v1/users?email=inst@", &app.admin).await;
    assert_eq!(r.body["hydra:totalItems"], 0, "{}", r.text);

    // A date and time without an offset (HTML `datetime-local`) is read as UTC.
    for (given, shown) in [
        ("1990-01-01T00:00:00", "1990-01-01T00:00:00+00:00"),
        ("1990-01-02 06:30:00", "1990-01-02T06:30:00+00:00"),
        ("1990-05-20T00:00", "1990-05-20T00:00:00+00:00"),
    ] {
        let r = merge(&app, &iri, &admin, json!({"dateBirth": given})).await;
        assert_item(&r, 200, id);
        assert_eq!(r.body["dateBirth"], shown, "{given}");
        assert_eq!(
            get(&app, &iri, &admin).await.body["dateBirth"],
            shown,
            "{given}"
        );
    }

    // Absent: unchanged; null: cleared; objects: merged (and a null inside removes the key).
    let r = merge(
        &app,
        &iri,
        &admin,
        json!({"lastName": null, "postalCode": null, "companyName": "Globex",
               "privacy": {"name": true, "email": false, "age": null}}),
    )
    .await;
    assert_item(&r, 200, id);
    assert_eq!(r.body["firstName"], "Pat");
    assert_eq!(r.body["lastName"], Value::Null);
    assert_eq!(r.body["fullName"], "Pat");
    assert_eq!(r.body["postalCode"], Value::Null);
    assert_eq!(r.body["address"], "1 rue de Rivoli");
    assert_eq!(r.body["companyName"], "Globex");
    assert_eq!(r.body["isGuest"], true);
    assert_eq!(r.body["email"], "pat@example.com");
    assert_eq!(r.body["privacy"], json!({"name": true, "email": false}));
    assert_eq!(r.body["age"], 35);
    // The derived age follows the clock.
    app.clock.advance(chrono::Duration::days(70));
    assert_eq!(get(&app, &iri, &admin).await.body["age"], 36);
    // An empty patch changes nothing.
    let before = get(&app, &iri, &admin).await;
    let r = merge(&app, &iri, &admin, json!({})).await;
    assert_eq!(r.body, before.body);

    // Every member the documentation calls writable round-trips; the others are ignored.
    let mut patch = Map::new();
    for (k, v) in writable_values() {
        patch.insert(k.to_owned(), v);
    }
    let r = merge(&app, &iri, &admin, Value::Object(patch)).await;
    assert_item(&r, 200, id);
    for (k, v) in writable_values() {
        assert_eq!(r.body[k], v, "{k} round-trips: {}", r.text);
    }
    assert_eq!(r.body["fullName"], "Wanda Writer");
    assert_eq!(r.body["age"], 42, "born 1984-02-29, now 2026-05-26");
    let stored = get(&app, &iri, &admin).await;
    assert_eq!(stored.body, r.body);
    let read_only_members = json!({
        "id": 4242, "fullName": "Someone Else", "age": 7, "newEmailRequested": "x@example.com",
        "resignPending": 1, "resignApproved": 1, "customFieldValues": [{"value": "x"}],
        "identity": {"status": "x"}, "adhesion": {"status": "x"},
        "pushNotificationTokens": [{"deviceId": "x"}], "permissions": ["x"],
        "customPermissions": ["x"], "mfaEnabled": true, "apiToken": "secret",
    });
    let r = merge(&app, &iri, &admin, read_only_members).await;
    assert_item(&r, 200, id);
    assert_eq!(r.body, stored.body, "read-only members are ignored");
    // Clearing every nullable writable member.
    let mut nulls = Map::new();
    for (k, _) in writable_values() {
        if !matches!(k, "email" | "roles") {
            nulls.insert(k.to_owned(), Value::Null);
        }
    }
    let r = merge(&app, &iri, &admin, Value::Object(nulls)).await;
    assert_item(&r, 200, id);
    for (k, _) in writable_values() {
        let want = match k {
            "email" => json!("wanda@write.example"),
            "roles" => json!(["ROLE_USER", "ROLE_EDITOR"]),
            "isGuest" | "isSupporter" | "hasDigestDaily" | "hasDigestWeekly" => json!(false),
            "isFollowGeneralUnit" => json!(true),
            "roleGroups" => json!([]),
            _ => Value::Null,
        };
        assert_eq!(r.body[k], want, "{k} cleared");
    }
    assert_eq!(r.body["fullName"], "");

    // ROLE_ADMIN_TENANT: an organization admin, in every dialect.
    let own = app.key(1, Some(id), false).await;
    assert_eq!(get(&app, "/api/v1/users", &own).await.status, 403);
    let r = merge(
        &app,
        &iri,
        &admin,
        json!({"roles": ["ROLE_USER", "ROLE_ADMIN_TENANT"]}),
    )
    .await;
    assert_eq!(r.body["roles"], json!(["ROLE_USER", "ROLE_ADMIN_TENANT"]));
    assert_eq!(
        app.get(&format!("/v2/users/{id}"), &admin).await.body["superUser"],
        true
    );
    assert_eq!(get(&app, "/api/v1/users", &own).await.status, 200);
    let r = merge(&app, &iri, &admin, json!({"roles": ["ROLE_USER"]})).await;
    assert_eq!(r.body["roles"], json!(["ROLE_USER"]));
    assert_eq!(
        app.get(&format!("/v2/users/{id}"), &admin).await.body["superUser"],
        false
    );
    assert_eq!(get(&app, "/api/v1/users", &own).await.status, 403);
    // Created as an admin.
    let r = post_ld(
        &app,
        "/api/v1/users",
        &admin,
        json!({"email": "boss@example.com", "roles": ["ROLE_ADMIN_TENANT"]}),
    )
    .await;
    r.expect(201);
    assert_eq!(r.body["roles"], json!(["ROLE_USER", "ROLE_ADMIN_TENANT"]));
    let boss = r.body["id"].as_i64().unwrap();
    assert_eq!(
        app.get(&format!("/v2/users/{boss}"), &admin).await.body["superUser"],
        true
    );

    // DELETE: 204 with an empty body; then the user is gone.
    let r = delete(&app, &iri, Cred::Bearer(&admin)).await;
    assert_eq!(r.status, 204);
    assert_eq!(r.text, "");
    assert_docs_link(&r);
    assert_problem(&get(&app, &iri, &admin).await, 404, "Not Found");
    assert_eq!(
        app.get(&format!("/v2/users/{id}"), &admin).await.status,
        404
    );
}

/// An empty string is not an address: `{"email": ""}` on PATCH and `{"newEmailRequested": ""}` on
/// new-email are NotBlank (as a missing `email` on POST), and neither deletes the address nor
/// cancels a pending change.
async fn empty_email_is_blank(app: TestApp) {
    let admin = app.org_admin().await;
    let id = new_user(&app, &admin, json!({"email": "eve@example.com"})).await;
    let item = format!("/api/v1/users/{id}");
    let blank = |path: &'static str| [(path, "This value should not be blank.", Some(NOT_BLANK))];

    let r = post_ld(&app, "/api/v1/users", &admin, json!({"email": ""})).await;
    assert_violations(&r, &blank("email"));
    let r = merge(&app, &item, &admin, json!({"email": ""})).await;
    assert_violations(&r, &blank("email"));
    // A user always has an email: null does not delete it, and none on create is blank too,
    // reported with the other bad fields.
    let r = merge(&app, &item, &admin, json!({"email": null})).await;
    assert_violations(&r, &blank("email"));
    let r = post_ld(&app, "/api/v1/users", &admin, json!({"email": null})).await;
    assert_violations(&r, &blank("email"));
    let r = post_ld(&app, "/api/v1/users", &admin, json!({"privacy": "str"})).await;
    assert_violations(
        &r,
        &[
            ("email", "This value should not be blank.", Some(NOT_BLANK)),
            (
                "privacy",
                "This value should be of type object.",
                Some(INVALID_TYPE),
            ),
        ],
    );
    // All at once with the other bad fields.
    let r = merge(&app, &item, &admin, json!({"email": "", "privacy": "str"})).await;
    assert_violations(
        &r,
        &[
            ("email", "This value should not be blank.", Some(NOT_BLANK)),
            (
                "privacy",
                "This value should be of type object.",
                Some(INVALID_TYPE),
            ),
        ],
    );
    assert_eq!(
        get(&app, &item, &admin).await.body["email"],
        "eve@example.com"
    );

    let new_email = format!("/api/v1/users/{id}/new-email");
    for key in ["newEmailRequested", "email", "newEmail"] {
        let r = merge(&app, &new_email, &admin, json!({ key: "" })).await;
        assert_violations(&r, &blank("newEmailRequested"));
    }
    // A user's pending change is not cancelled by "" (only by null).
    let own = app.key(1, Some(id), false).await;
    let r = merge(
        &app,
        &new_email,
        &own,
        json!({"newEmailRequested": "eve@new.example"}),
    )
    .await;
    assert_item(&r, 200, id);
    assert_eq!(r.body["newEmailRequested"], "eve@new.example");
    let r = merge(&app, &new_email, &own, json!({"newEmailRequested": ""})).await;
    assert_violations(&r, &blank("newEmailRequested"));
    let me = get(&app, "/api/v1/me", &own).await;
    assert_eq!(me.body["email"], "eve@example.com");
    assert_eq!(me.body["newEmailRequested"], "eve@new.example");
    let r = merge(&app, &new_email, &own, json!({"newEmailRequested": null})).await;
    assert_item(&r, 200, id);
    assert_eq!(r.body["newEmailRequested"], Value::Null);

    // An admin's change of the address overtakes one the user asked for: its link dies.
    let r = merge(
        &app,
        &new_email,
        &own,
        json!({"newEmailRequested": "eve@mine.example"}),
    )
    .await;
    assert_eq!(r.body["newEmailRequested"], "eve@mine.example");
    let sent = app.outbox_of(id).await;
    let change = sent
        .iter()
        .rev()
        .find(|m| m.message.template == "email_change")
        .expect("the confirmation message");
    let token = token_from_link(change.message.params["url"].as_str().unwrap());
    let r = merge(&app, &item, &admin, json!({"email": "eve@admin.example"})).await;
    assert_item(&r, 200, id);
    assert_eq!(r.body["newEmailRequested"], Value::Null);
    let r = post_ld(
        &app,
        &format!("/api/v1/users/{id}/new-email/confirm"),
        &admin,
        json!({"token": token}),
    )
    .await;
    assert_eq!(r.status, 410, "{}", r.text);
    assert_eq!(
        get(&app, &item, &admin).await.body["email"],
        "eve@admin.example"
    );
}

/// `/api/` (trailing slash) is the entrypoint too, as in API Platform, in the dialect's shape
/// (not Bold's 404); another method is the dialect's 405.
async fn entrypoint_with_trailing_slash(app: TestApp) {
    let r = call(&app, Method::GET, "/api/", Cred::None, None, None).await;
    r.expect(200);
    assert_eq!(header(&r, "content-type"), LD_UTF8);
    assert_docs_link(&r);
    assert!(
        header(&r, "access-control-allow-methods").contains("PATCH"),
        "{:?}",
        r.headers
    );
    assert_eq!(
        r.text,
        r#"{"@context":"/api/contexts/Entrypoint","@id":"/api","@type":"Entrypoint","user":"/api/v1/users"}"#
    );
    let r = get_as(&app, "/api/", Cred::None, "application/json").await;
    assert_eq!(r.body, json!({"user": "/api/v1/users"}));
    assert_problem(
        &get_as(&app, "/api/", Cred::None, "text/plain").await,
        406,
        "Requested format \"text/plain\" is not supported. Supported MIME types are \"application/ld+json\", \"application/json\".",
    );
    let r = call(
        &app,
        Method::POST,
        "/api/",
        Cred::None,
        None,
        Some((LD, "{}".to_owned())),
    )
    .await;
    assert_problem(&r, 405, "Method Not Allowed");
    assert!(header(&r, "allow").contains("GET"), "{:?}", r.headers);
}

/// A path segment that is not UTF-8 once decoded (`%ff`) names no resource: the dialect's
/// problem+json 404 with its Link headers on every `{id}` route and on `/api/contexts/{name}`,
/// not axum's plain-text 400.
async fn undecodable_path_segments(app: TestApp) {
    let admin = app.org_admin().await;
    let cred = Cred::Bearer(&admin);
    let merge_body = || Some((MERGE, json!({}).to_string()));
    let cases = vec![
        (Method::GET, "/api/v1/users/%ff", None),
        (Method::PATCH, "/api/v1/users/%ff", merge_body()),
        (Method::DELETE, "/api/v1/users/%ff", None),
        (Method::PATCH, "/api/v1/users/%ff/new-email", merge_body()),
        (
            Method::POST,
            "/api/v1/users/%ff/new-email/confirm",
            Some((LD, json!({"token": "x"}).to_string())),
        ),
        (
            Method::PATCH,
            "/api/v1/users/%ff/new-password",
            merge_body(),
        ),
        (Method::GET, "/api/v1/user-api-tokens/%ff", None),
        (Method::DELETE, "/api/v1/user-api-tokens/%ff", None),
        (
            Method::PATCH,
            "/api/v1/user-api-tokens/%ff/revoke",
            merge_body(),
        ),
        (Method::GET, "/api/contexts/%ff", None),
        (Method::GET, "/api/contexts/%C3%28", None),
    ];
    for (method, path, body) in cases {
        let r = call(&app, method.clone(), path, cred, None, body).await;
        assert_eq!(r.status, 404, "{method} {path}: {}", r.text);
        assert_problem(&r, 404, "Not Found");
    }
}

// ---------- 3. discovery ----------

fn doc_class<'a>(doc: &'a Value, id: &str) -> &'a Value {
    doc["hydra:supportedClass"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["@id"] == id)
        .unwrap_or_else(|| panic!("no class {id} in the documentation"))
}

/// A documented operation: method, title, returns, and expects when it takes a body.
#[track_caller]
fn assert_operation(op: &Value, classes: &BTreeSet<String>) {
    let types: Vec<&str> = match &op["@type"] {
        Value::String(s) => vec![s.as_str()],
        Value::Array(a) => a.iter().filter_map(Value::as_str).collect(),
        other => panic!("operation @type {other}"),
    };
    assert!(types.contains(&"hydra:Operation"), "{op}");
    let method = op["hydra:method"].as_str().unwrap();
    assert!(["GET", "POST", "PATCH", "DELETE"].contains(&method), "{op}");
    assert!(
        !op["hydra:title"].as_str().unwrap_or_default().is_empty(),
        "{op}"
    );
    let returns = op["returns"].as_str().unwrap_or_else(|| panic!("{op}"));
    let mut refs = vec![returns];
    if matches!(method, "POST" | "PATCH") {
        refs.push(op["expects"].as_str().unwrap_or_else(|| panic!("{op}")));
    }
    for r in refs {
        if r.starts_with('#') {
            assert!(classes.contains(r), "{r} is not a documented class: {op}");
        }
    }
}

/// `GET /api`, the contexts, and the Hydra documentation, which describes the User resource
/// completely: one supported property per member of a real item.
async fn discovery(app: TestApp) {
    let admin = app.org_admin().await;
    let id = new_user(&app, &admin, json!({"email": "dora@example.com"})).await;
    let item = get(&app, &format!("/api/v1/users/{id}"), &admin).await;
    let real_properties: Vec<&str> = keys(&item.body)
        .into_iter()
        .filter(|k| !k.starts_with('@'))
        .collect();
    assert_eq!(real_properties, property_names());
    let vocab = format!("{PUBLIC_URL}/api/docs.jsonld#");

    // The entrypoint (no credential needed).
    let r = call(&app, Method::GET, "/api", Cred::None, None, None).await;
    r.expect(200);
    assert_eq!(header(&r, "content-type"), LD_UTF8);
    assert_docs_link(&r);
    assert_eq!(
        r.text,
        r#"{"@context":"/api/contexts/Entrypoint","@id":"/api","@type":"Entrypoint","user":"/api/v1/users"}"#
    );
    let r = get_as(&app, "/api", Cred::None, "application/json").await;
    assert_eq!(r.body, json!({"user": "/api/v1/users"}));
    assert_eq!(
        get_as(&app, "/api", Cred::None, "text/plain").await.status,
        406
    );

    // The contexts: @vocab, the hydra prefix, one term per property.
    let r = call(
        &app,
        Method::GET,
        "/api/contexts/User",
        Cred::None,
        None,
        None,
    )
    .await;
    r.expect(200);
    assert_eq!(header(&r, "content-type"), LD_UTF8);
    assert_docs_link(&r);
    assert_eq!(keys(&r.body), ["@context"]);
    let ctx = r.body["@context"].as_object().unwrap();
    assert_eq!(ctx["@vocab"], vocab.as_str());
    assert_eq!(ctx["hydra"], HYDRA);
    let terms: Vec<&str> = ctx
        .keys()
        .map(String::as_str)
        .filter(|k| !matches!(*k, "@vocab" | "hydra"))
        .collect();
    assert_eq!(
        terms.iter().copied().collect::<BTreeSet<_>>(),
        property_names().into_iter().collect::<BTreeSet<_>>(),
        "one term per property"
    );
    for p in property_names() {
        let iri = format!("User/{p}");
        match &ctx[p] {
            Value::String(s) => assert_eq!(*s, iri),
            Value::Object(o) => {
                assert_eq!(o["@id"], iri.as_str());
                assert_eq!(o["@type"], "@id");
            }
            other => panic!("term {p}: {other}"),
        }
    }
    let r = call(
        &app,
        Method::GET,
        "/api/contexts/Entrypoint",
        Cred::None,
        None,
        None,
    )
    .await;
    r.expect(200);
    assert_eq!(
        r.body,
        json!({"@context": {"@vocab": vocab, "hydra": HYDRA, "user": {"@id": "Entrypoint/user", "@type": "@id"}}})
    );
    let r = call(
        &app,
        Method::GET,
        "/api/contexts/UserApiToken",
        Cred::None,
        None,
        None,
    )
    .await;
    r.expect(200);
    assert_eq!(r.body["@context"]["isReadOnly"], "UserApiToken/isReadOnly");
    let r = call(
        &app,
        Method::GET,
        "/api/contexts/Nothing",
        Cred::None,
        None,
        None,
    )
    .await;
    assert_problem(&r, 404, "Not Found");

    // The Hydra documentation.
    let r = call(
        &app,
        Method::GET,
        "/api/docs.jsonld",
        Cred::None,
        None,
        None,
    )
    .await;
    r.expect(200);
    assert_eq!(header(&r, "content-type"), LD_UTF8);
    assert_docs_link(&r);
    let doc = &r.body;
    assert_eq!(doc["@id"], "/api/docs.jsonld");
    assert_eq!(doc["@type"], "hydra:ApiDocumentation");
    assert_eq!(doc["hydra:entrypoint"], "/api");
    let ctx = &doc["@context"];
    assert_eq!(ctx["@vocab"], vocab.as_str());
    assert_eq!(ctx["hydra"], HYDRA);
    assert_eq!(ctx["rdf"], "http://www.w3.org/1999/02/22-rdf-syntax-ns#");
    assert_eq!(ctx["rdfs"], "http://www.w3.org/2000/01/rdf-schema#");
    assert_eq!(ctx["xmls"], "http://www.w3.org/2001/XMLSchema#");
    assert_eq!(ctx["domain"], json!({"@id": "rdfs:domain", "@type": "@id"}));
    assert_eq!(ctx["range"], json!({"@id": "rdfs:range", "@type": "@id"}));
    assert_eq!(
        ctx["expects"],
        json!({"@id": "hydra:expects", "@type": "@id"})
    );
    assert_eq!(
        ctx["returns"],
        json!({"@id": "hydra:returns", "@type": "@id"})
    );
    let classes: BTreeSet<String> = doc["hydra:supportedClass"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["@id"].as_str().unwrap().to_owned())
        .collect();
    for c in ["#User", "#Entrypoint", "#ConstraintViolationList"] {
        assert!(classes.contains(c), "{c} in {classes:?}");
    }

    let user = doc_class(doc, "#User");
    assert_eq!(user["@type"], "hydra:Class");
    assert_eq!(user["hydra:title"], "User");
    let props = user["hydra:supportedProperty"].as_array().unwrap();
    let titles: Vec<&str> = props
        .iter()
        .map(|p| p["hydra:title"].as_str().unwrap())
        .collect();
    assert_eq!(titles, real_properties, "one supported property per member");
    let writable: BTreeSet<&str> = writable_values().into_iter().map(|(k, _)| k).collect();
    for p in props {
        let name = p["hydra:title"].as_str().unwrap();
        assert_eq!(p["@type"], "hydra:SupportedProperty", "{p}");
        let prop = &p["hydra:property"];
        assert_eq!(prop["@id"], format!("#User/{name}"), "{p}");
        let kind = prop["@type"].as_str().unwrap();
        assert!(matches!(kind, "rdf:Property" | "hydra:Link"), "{p}");
        assert_eq!(prop["domain"], "#User", "{p}");
        let range = prop["range"].as_str().unwrap_or_else(|| panic!("{p}"));
        assert!(
            range.starts_with("xmls:") || range.starts_with("hydra:") || classes.contains(range),
            "the range of {name} ({range}) is neither a datatype nor a documented class"
        );
        assert_eq!(p["hydra:required"], name == "email", "{p}");
        assert_eq!(p["hydra:readable"], true, "{p}");
        assert_eq!(
            p["hydra:writeable"],
            writable.contains(name),
            "{name}: writeable as documented"
        );
    }
    let range_of = |name: &str| {
        props.iter().find(|p| p["hydra:title"] == name).unwrap()["hydra:property"]["range"].clone()
    };
    assert_eq!(range_of("id"), "xmls:integer");
    assert_eq!(range_of("age"), "xmls:integer");
    assert_eq!(range_of("firstName"), "xmls:string");
    assert_eq!(range_of("dateBirth"), "xmls:dateTime");
    assert_eq!(range_of("isGuest"), "xmls:boolean");
    assert_eq!(range_of("mfaEnabled"), "xmls:boolean");

    let ops = user["hydra:supportedOperation"].as_array().unwrap();
    let methods: BTreeSet<&str> = ops
        .iter()
        .map(|o| o["hydra:method"].as_str().unwrap())
        .collect();
    assert_eq!(methods, BTreeSet::from(["GET", "PATCH", "DELETE"]));
    for op in ops {
        assert_operation(op, &classes);
    }
    let get_op = ops.iter().find(|o| o["hydra:method"] == "GET").unwrap();
    assert_eq!(get_op["returns"], "#User");
    let patch_op = ops.iter().find(|o| o["hydra:method"] == "PATCH").unwrap();
    assert_eq!(patch_op["expects"], "#User");
    assert_eq!(patch_op["returns"], "#User");

    // The entrypoint class: the users collection, with its GET and POST.
    let entry = doc_class(doc, "#Entrypoint");
    let link = entry["hydra:supportedProperty"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["hydra:property"]["@id"] == "#Entrypoint/user")
        .expect("#Entrypoint/user");
    assert_eq!(link["hydra:property"]["@type"], "hydra:Link");
    assert_eq!(link["hydra:property"]["domain"], "#Entrypoint");
    let coll_ops = link["hydra:property"]["hydra:supportedOperation"]
        .as_array()
        .unwrap();
    for op in coll_ops {
        assert_operation(op, &classes);
    }
    let list_op = coll_ops
        .iter()
        .find(|o| o["hydra:method"] == "GET")
        .unwrap();
    assert_eq!(list_op["returns"], "hydra:Collection");
    let create_op = coll_ops
        .iter()
        .find(|o| o["hydra:method"] == "POST")
        .unwrap();
    assert_eq!(create_op["expects"], "#User");
    assert_eq!(create_op["returns"], "#User");
    let entry_ops = match &entry["hydra:supportedOperation"] {
        Value::Array(a) => a.clone(),
        one => vec![one.clone()],
    };
    for op in &entry_ops {
        assert_operation(op, &classes);
        assert_eq!(op["returns"], "#Entrypoint");
    }
    // Every class's operations are complete.
    for c in doc["hydra:supportedClass"].as_array().unwrap() {
        if let Some(ops) = c["hydra:supportedOperation"].as_array() {
            for op in ops {
                assert_operation(op, &classes);
            }
        }
    }
}

// ---------- 4. a real JSON-LD processor ----------

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

fn jsonld_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../scripts/jsonld")
}

/// Whether `node` and the installed `jsonld` package are there; says so loudly when not (and
/// fails in CI).
async fn jsonld_available() -> bool {
    let node = tokio::process::Command::new("node")
        .arg("--version")
        .output()
        .await
        .is_ok_and(|o| o.status.success());
    let installed = jsonld_dir()
        .join("node_modules/jsonld/package.json")
        .exists();
    if node && installed {
        return true;
    }
    let why = if node {
        "scripts/jsonld/node_modules is missing (npm ci --prefix scripts/jsonld)"
    } else {
        "node is not installed"
    };
    assert!(
        !in_ci(),
        "the JSON-LD processor test needs node and the npm `jsonld` package in CI: {why}"
    );
    eprintln!("\n!!! {why}: the JSON-LD processor test did NOT run (run scripts/test).\n");
    false
}

/// `scripts/jsonld/expand.js` on a URL: the contexts it loaded and the expanded document.
async fn expand(url: &str, bearer: Option<&str>) -> (Vec<String>, Value) {
    let mut cmd = tokio::process::Command::new("node");
    cmd.arg(jsonld_dir().join("expand.js")).arg(url);
    if let Some(t) = bearer {
        cmd.env("USHER_BEARER", t);
    }
    let out = cmd.output().await.unwrap();
    assert!(
        out.status.success(),
        "expand.js {url} failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    let loaded = v["loaded"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap().to_owned())
        .collect();
    (loaded, v["expanded"].clone())
}

/// Every key of an expanded document is a keyword or an absolute IRI.
#[track_caller]
fn assert_absolute_keys(v: &Value) {
    match v {
        Value::Object(m) => {
            for (k, v) in m {
                assert!(
                    k.starts_with('@') || k.starts_with("http://") || k.starts_with("https://"),
                    "a relative key {k:?} after expansion"
                );
                assert_absolute_keys(v);
            }
        }
        Value::Array(a) => a.iter().for_each(assert_absolute_keys),
        _ => {}
    }
}

/// The npm `jsonld` processor expands an item, a collection, the entrypoint and the
/// documentation to the absolute IRIs the documentation defines, loading only the server's own
/// contexts.
async fn jsonld_processor_expands(backend: Backend) {
    if !jsonld_available().await {
        return;
    }
    let port = free_port();
    let public = format!("http://127.0.0.1:{port}");
    let public2 = public.clone();
    let Some(app) = TestApp::start_with(backend, |c| {
        c.listen = format!("127.0.0.1:{port}").parse().unwrap();
        c.public_url = public2;
    })
    .await
    else {
        return;
    };
    assert_eq!(app.base, public);
    let admin = app.org_admin().await;
    let id = new_user(
        &app,
        &admin,
        json!({"email": "jo@example.com", "firstName": "Jo", "lastName": "Lind",
               "dateBirth": "2000-01-02", "privacy": {"age": true}, "roleGroups": ["board"]}),
    )
    .await;
    new_user(&app, &admin, json!({"email": "kim@example.com"})).await;
    let vocab = format!("{public}/api/docs.jsonld#");
    let user_term = |p: &str| format!("{vocab}User/{p}");
    let h = |p: &str| format!("{HYDRA}{p}");

    // The item.
    let item = get(&app, &format!("/api/v1/users/{id}"), &admin).await;
    let (loaded, exp) = expand(&format!("{public}/api/v1/users/{id}"), Some(&admin)).await;
    assert_eq!(loaded, [format!("{public}/api/contexts/User")]);
    assert_absolute_keys(&exp);
    let node = &exp.as_array().unwrap()[0];
    assert_eq!(exp.as_array().unwrap().len(), 1);
    assert_eq!(node["@id"], format!("{public}/api/v1/users/{id}"));
    assert_eq!(node["@type"], json!([format!("{vocab}User")]));
    assert_eq!(node[user_term("firstName")], json!([{"@value": "Jo"}]));
    assert_eq!(node[user_term("lastName")], json!([{"@value": "Lind"}]));
    assert_eq!(
        node[user_term("email")],
        json!([{"@value": "jo@example.com"}])
    );
    assert_eq!(node[user_term("id")], json!([{"@value": id}]));
    assert_eq!(node[user_term("isGuest")], json!([{"@value": false}]));
    assert_eq!(node[user_term("roles")], json!([{"@value": "ROLE_USER"}]));
    assert_eq!(
        node[user_term("dateBirth")],
        json!([{"@value": "2000-01-02T00:00:00+00:00"}])
    );
    assert_eq!(
        node[user_term("privacy")],
        json!([{ user_term("age"): [{"@value": true}] }])
    );
    // Every member with a value became a documented term; nulls vanish, empty lists stay empty.
    for (k, v) in item.body.as_object().unwrap() {
        if k.starts_with('@') {
            continue;
        }
        let expanded = node.get(user_term(k));
        match v {
            Value::Null => assert!(expanded.is_none(), "{k}: {node}"),
            Value::Array(a) if a.is_empty() => {
                assert!(expanded.is_none_or(|e| *e == json!([])), "{k}: {node}")
            }
            _ => assert!(
                expanded.is_some_and(|e| e.as_array().is_some_and(|a| !a.is_empty())),
                "{k} = {v} is missing after expansion: {node}"
            ),
        }
    }

    // The collection, with a view and the search template.
    let (loaded, exp) = expand(
        &format!("{public}/api/v1/users?itemsPerPage=1"),
        Some(&admin),
    )
    .await;
    assert_eq!(loaded, [format!("{public}/api/contexts/User")]);
    assert_absolute_keys(&exp);
    let coll = &exp[0];
    assert_eq!(coll["@id"], format!("{public}/api/v1/users"));
    assert_eq!(coll["@type"], json!([h("Collection")]));
    assert_eq!(coll[h("totalItems")], json!([{"@value": 2}]));
    let members = coll[h("member")].as_array().unwrap();
    assert_eq!(members.len(), 1);
    assert_eq!(members[0]["@id"], format!("{public}/api/v1/users/{id}"));
    assert_eq!(members[0]["@type"], json!([format!("{vocab}User")]));
    assert_eq!(
        members[0][user_term("firstName")],
        json!([{"@value": "Jo"}])
    );
    let view = &coll[h("view")][0];
    assert_eq!(
        view["@id"],
        format!("{public}/api/v1/users?itemsPerPage=1&page=1")
    );
    assert_eq!(view["@type"], json!([h("PartialCollectionView")]));
    assert!(view.get(h("first")).is_some() && view.get(h("next")).is_some());
    let search = &coll[h("search")][0];
    assert_eq!(search["@type"], json!([h("IriTemplate")]));
    assert!(search.get(h("template")).is_some() && search.get(h("mapping")).is_some());

    // The entrypoint: `user` is a link.
    let (loaded, exp) = expand(&format!("{public}/api"), None).await;
    assert_eq!(loaded, [format!("{public}/api/contexts/Entrypoint")]);
    assert_eq!(
        exp,
        json!([{
            "@id": format!("{public}/api"),
            "@type": [format!("{vocab}Entrypoint")],
            format!("{vocab}Entrypoint/user"): [{"@id": format!("{public}/api/v1/users")}],
        }])
    );

    // The documentation names the same IRIs the item expanded to.
    let (loaded, exp) = expand(&format!("{public}/api/docs.jsonld"), None).await;
    assert!(loaded.is_empty(), "{loaded:?}");
    assert_absolute_keys(&exp);
    let doc = &exp[0];
    assert_eq!(doc["@type"], json!([h("ApiDocumentation")]));
    let user_class = doc[h("supportedClass")]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["@id"] == format!("{vocab}User"))
        .expect("the User class, by the IRI items carry as @type");
    let documented: Vec<String> = user_class[h("supportedProperty")]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            let prop = &p[h("property")][0];
            assert_eq!(
                prop["http://www.w3.org/2000/01/rdf-schema#domain"],
                json!([{"@id": format!("{vocab}User")}])
            );
            let range = prop["http://www.w3.org/2000/01/rdf-schema#range"][0]["@id"]
                .as_str()
                .unwrap();
            assert!(range.starts_with("http"), "{range}");
            prop["@id"].as_str().unwrap().to_owned()
        })
        .collect();
    let expected: Vec<String> = property_names().into_iter().map(user_term).collect();
    assert_eq!(documented, expected);
}

// ---------- 5. login and lockout ----------

/// Logins by email or username on both routes, bearer use, refresh rotation, identical failures
/// for unknown users and wrong passwords, the lockout after 10 failures (known user and unknown
/// name), its end on the clock, the reset by a success, and inactive users refused.
async fn login_refresh_and_lockout(app: TestApp) {
    let admin = app.org_admin().await;
    let id = new_user(
        &app,
        &admin,
        json!({"email": "lou@example.com", "firstName": "Lou"}),
    )
    .await;
    // No password yet: like a wrong one.
    let r = login(&app, "lou@example.com", GOOD_PASSWORD).await;
    assert_eq!(r.status, 401);
    set_password(&app, &admin, id, GOOD_PASSWORD).await;

    let (token, refresh) = login_ok(&app, "lou@example.com", GOOD_PASSWORD).await;
    let me = get(&app, "/api/v1/me", &token).await;
    assert_item(&me, 200, id);
    assert_eq!(me.body["email"], "lou@example.com");
    assert_eq!(me.body["firstName"], "Lou");
    assert_item(
        &get(&app, &format!("/api/v1/users/{id}"), &token).await,
        200,
        id,
    );
    // `/api/v1/login`, the address in another case, and a username.
    let r = login_at(&app, "/api/v1/login", "LOU@Example.com", GOOD_PASSWORD).await;
    r.expect(200);
    app.put(
        &format!("/v2/users/human/{id}"),
        &admin,
        json!({"username": "lou"}),
    )
    .await
    .expect(200);
    let r = login_at(&app, "/api/v1/login", "lou", GOOD_PASSWORD).await;
    r.expect(200);
    assert_eq!(keys(&r.body), ["token", "refresh_token"]);
    assert_eq!(
        get(&app, "/api/v1/me", r.body["token"].as_str().unwrap())
            .await
            .body["id"],
        id
    );

    // Refresh: a new pair; the used refresh token is gone; a refresh token is no bearer.
    let refreshed = |rt: &str| {
        let app = &app;
        let body = json!({"refresh_token": rt}).to_string();
        async move {
            call(
                app,
                Method::POST,
                "/api/v1/token/refresh",
                Cred::None,
                None,
                Some(("application/json", body)),
            )
            .await
        }
    };
    let r = refreshed(&refresh).await;
    r.expect(200);
    assert_eq!(keys(&r.body), ["token", "refresh_token"]);
    let token2 = r.body["token"].as_str().unwrap().to_owned();
    let refresh2 = r.body["refresh_token"].as_str().unwrap().to_owned();
    assert_ne!(token2, token);
    assert_ne!(refresh2, refresh);
    assert_item(&get(&app, "/api/v1/me", &token2).await, 200, id);
    let r = refreshed(&refresh).await;
    assert_eq!(r.status, 401);
    assert_eq!(
        r.body,
        json!({"code": 401, "message": "JWT Refresh Token Not Found"})
    );
    assert_problem(
        &get(&app, "/api/v1/me", &refresh2).await,
        401,
        "Invalid JWT Token",
    );
    refreshed(&refresh2).await.expect(200);

    // Unknown users and wrong passwords: the same status and body.
    let unknown = login(&app, "nobody@example.com", GOOD_PASSWORD).await;
    let wrong = login(&app, "lou@example.com", "not the password").await;
    assert_eq!(unknown.status, 401);
    assert_eq!(wrong.status, 401);
    assert_eq!(unknown.text, wrong.text);
    assert_eq!(
        header(&unknown, "content-type"),
        header(&wrong, "content-type")
    );
    assert_eq!(
        wrong.body,
        json!({"code": 401, "message": "Invalid credentials."})
    );

    // Ten failures in a row (one already above), then even the right password waits.
    for _ in 0..9 {
        assert_eq!(login(&app, "lou@example.com", "wrong").await.status, 401);
    }
    let r = login(&app, "lou@example.com", GOOD_PASSWORD).await;
    assert_problem(&r, 429, "Too many failed attempts, please try again later.");
    assert_eq!(header(&r, "retry-after"), "60");
    // Other routes and names of the same account wait too.
    let r = login_at(&app, "/api/v1/login", "lou", GOOD_PASSWORD).await;
    assert_eq!(r.status, 429);
    // An unknown name is locked out the same way.
    for _ in 0..9 {
        assert_eq!(login(&app, "nobody@example.com", "x").await.status, 401);
    }
    let r = login(&app, "nobody@example.com", "x").await;
    assert_problem(&r, 429, "Too many failed attempts, please try again later.");
    assert_eq!(header(&r, "retry-after"), "60");
    // Time passes: the wait shrinks, then ends.
    app.clock.advance(chrono::Duration::seconds(45));
    let r = login(&app, "lou@example.com", GOOD_PASSWORD).await;
    assert_eq!(r.status, 429);
    assert_eq!(header(&r, "retry-after"), "15");
    app.clock.advance(chrono::Duration::seconds(16));
    assert_eq!(
        login(&app, "nobody@example.com", "x").await.status,
        401,
        "the unknown name's wait is over"
    );
    login_ok(&app, "lou@example.com", GOOD_PASSWORD).await;
    // The success reset the count: more failures start from zero. (Without the reset, the
    // first would lock again. Few of them: the client address has its own count, 30 failures.)
    for _ in 0..5 {
        assert_eq!(login(&app, "lou@example.com", "wrong").await.status, 401);
    }
    login_ok(&app, "lou@example.com", GOOD_PASSWORD).await;

    // An inactive user cannot log in (the same answer), and its tokens stop working.
    app.post(&format!("/v2/users/{id}/deactivate"), &admin, json!({}))
        .await
        .expect(200);
    let r = login(&app, "lou@example.com", GOOD_PASSWORD).await;
    assert_eq!(r.status, 401);
    assert_eq!(r.text, wrong.text);
    assert_problem(
        &get(&app, "/api/v1/me", &token2).await,
        401,
        "Invalid JWT Token",
    );
    assert_eq!(refreshed(&refresh2).await.status, 401);
    app.post(&format!("/v2/users/{id}/reactivate"), &admin, json!({}))
        .await
        .expect(200);
    login_ok(&app, "lou@example.com", GOOD_PASSWORD).await;

    // Malformed logins.
    let r = call(
        &app,
        Method::POST,
        "/api/v1/login-check",
        Cred::None,
        None,
        Some(("application/json", json!({"username": "lou"}).to_string())),
    )
    .await;
    assert_eq!(r.status, 400, "{}", r.text);
}

// ---------- 6. new-password ----------

/// The user itself needs its current password, an admin does not; policy violations are 422 on
/// `newPassword`; the new password logs in and the old sessions end (API tokens stay).
async fn new_password(app: TestApp) {
    let admin = app.org_admin().await;
    let id = new_user(&app, &admin, json!({"email": "max@example.com"})).await;
    set_password(&app, &admin, id, GOOD_PASSWORD).await;
    let (token, refresh) = login_ok(&app, "max@example.com", GOOD_PASSWORD).await;
    let key = app.key(1, Some(id), false).await;
    let path = format!("/api/v1/users/{id}/new-password");
    // The token is in use (and cached) before the change.
    assert_item(&get(&app, "/api/v1/me", &token).await, 200, id);

    let r = merge(&app, &path, &token, json!({"newPassword": OTHER_PASSWORD})).await;
    assert_violations(
        &r,
        &[(
            "currentPassword",
            "This value should not be blank.",
            Some(NOT_BLANK),
        )],
    );
    let r = merge(&app, &path, &token, json!({})).await;
    assert_violations(
        &r,
        &[
            (
                "newPassword",
                "This value should not be blank.",
                Some(NOT_BLANK),
            ),
            (
                "currentPassword",
                "This value should not be blank.",
                Some(NOT_BLANK),
            ),
        ],
    );
    let r = merge(
        &app,
        &path,
        &token,
        json!({"newPassword": OTHER_PASSWORD, "currentPassword": "not it"}),
    )
    .await;
    assert_violations(
        &r,
        &[(
            "currentPassword",
            "This value should be the user's current password.",
            Some(WRONG_PASSWORD),
        )],
    );
    let r = merge(
        &app,
        &path,
        &token,
        json!({"newPassword": "12345678", "currentPassword": GOOD_PASSWORD}),
    )
    .await;
    assert_violations(
        &r,
        &[(
            "newPassword",
            "This password is too common, it must not be used. Please use another password.",
            Some(COMMON_PASSWORD),
        )],
    );
    let r = merge(
        &app,
        &path,
        &token,
        json!({"newPassword": "short", "currentPassword": GOOD_PASSWORD}),
    )
    .await;
    assert_eq!(r.status, 422, "{}", r.text);
    assert_eq!(r.body["violations"][0]["propertyPath"], "newPassword");
    assert_eq!(r.body["violations"][0]["code"], TOO_SHORT);
    // Nothing changed so far.
    assert_item(&get(&app, "/api/v1/me", &token).await, 200, id);

    let r = merge(
        &app,
        &path,
        &token,
        json!({"newPassword": OTHER_PASSWORD, "currentPassword": GOOD_PASSWORD}),
    )
    .await;
    assert_item(&r, 200, id);
    login_ok(&app, "max@example.com", OTHER_PASSWORD).await;
    assert_eq!(
        login(&app, "max@example.com", GOOD_PASSWORD).await.status,
        401
    );
    // The login sessions from before the change are over; the API key stays.
    assert_problem(
        &get(&app, "/api/v1/me", &token).await,
        401,
        "Invalid JWT Token",
    );
    let r = call(
        &app,
        Method::POST,
        "/api/v1/token/refresh",
        Cred::None,
        None,
        Some((
            "application/json",
            json!({"refresh_token": refresh}).to_string(),
        )),
    )
    .await;
    assert_eq!(r.status, 401);
    assert_item(&get(&app, "/api/v1/me", &key).await, 200, id);

    // An admin needs no current password.
    let r = merge(&app, &path, &admin, json!({"newPassword": THIRD_PASSWORD})).await;
    assert_item(&r, 200, id);
    login_ok(&app, "max@example.com", THIRD_PASSWORD).await;
    let r = merge(&app, &path, &admin, json!({"newPassword": "password1"})).await;
    assert_violations(
        &r,
        &[(
            "newPassword",
            "This password is too common, it must not be used. Please use another password.",
            Some(COMMON_PASSWORD),
        )],
    );
    // Another user of the organization cannot set it.
    let other = new_user(&app, &admin, json!({"email": "ola@example.com"})).await;
    let other_key = app.key(1, Some(other), false).await;
    let r = merge(
        &app,
        &path,
        &other_key,
        json!({"newPassword": OTHER_PASSWORD, "currentPassword": THIRD_PASSWORD}),
    )
    .await;
    assert_problem(&r, 404, "Not Found");
    login_ok(&app, "max@example.com", THIRD_PASSWORD).await;

    // An organization admin changing its OWN password needs the current one too: a stolen
    // session token must not be enough.
    let boss = new_user(
        &app,
        &admin,
        json!({"email": "boss@example.com", "roles": ["ROLE_USER", "ROLE_ADMIN_TENANT"]}),
    )
    .await;
    set_password(&app, &admin, boss, GOOD_PASSWORD).await;
    let (boss_token, _) = login_ok(&app, "boss@example.com", GOOD_PASSWORD).await;
    let boss_path = format!("/api/v1/users/{boss}/new-password");
    let r = merge(
        &app,
        &boss_path,
        &boss_token,
        json!({"newPassword": OTHER_PASSWORD}),
    )
    .await;
    assert_violations(
        &r,
        &[(
            "currentPassword",
            "This value should not be blank.",
            Some(NOT_BLANK),
        )],
    );
    login_ok(&app, "boss@example.com", GOOD_PASSWORD).await;
    // It still sets other users' passwords without theirs.
    let r = merge(
        &app,
        &path,
        &boss_token,
        json!({"newPassword": OTHER_PASSWORD}),
    )
    .await;
    assert_item(&r, 200, id);
    let r = merge(
        &app,
        &boss_path,
        &boss_token,
        json!({"newPassword": OTHER_PASSWORD, "currentPassword": GOOD_PASSWORD}),
    )
    .await;
    assert_item(&r, 200, boss);
    login_ok(&app, "boss@example.com", OTHER_PASSWORD).await;
}

// ---------- 7. user API tokens ----------

/// Create (the raw token once), list (never the token), use with `Api-Token`, revoke (inactive,
/// refused at once), delete; read-only tokens refused on writes.
async fn user_api_tokens(app: TestApp) {
    let admin = app.org_admin().await;
    let id = new_user(&app, &admin, json!({"email": "tia@example.com"})).await;
    set_password(&app, &admin, id, GOOD_PASSWORD).await;
    let (session, _) = login_ok(&app, "tia@example.com", GOOD_PASSWORD).await;

    let r = post_ld(
        &app,
        "/api/v1/user-api-tokens",
        &session,
        json!({"name": "ci", "expiresAt": "2026-12-31T00:00:00+00:00", "isReadOnly": false}),
    )
    .await;
    r.expect(201);
    assert_eq!(header(&r, "content-type"), LD_UTF8);
    assert_docs_link(&r);
    assert_eq!(
        keys(&r.body),
        [
            "@context",
            "@id",
            "@type",
            "id",
            "name",
            "expiresAt",
            "lastUsedAt",
            "isActive",
            "isReadOnly",
            "dateCreated",
            "token"
        ],
        "{}",
        r.text
    );
    let tid = r.body["id"].as_i64().unwrap();
    assert_eq!(r.body["@context"], "/api/contexts/UserApiToken");
    assert_eq!(r.body["@id"], format!("/api/v1/user-api-tokens/{tid}"));
    assert_eq!(r.body["@type"], "UserApiToken");
    assert_eq!(r.body["name"], "ci");
    assert_eq!(r.body["expiresAt"], "2026-12-31T00:00:00+00:00");
    assert_eq!(r.body["lastUsedAt"], Value::Null);
    assert_eq!(r.body["isActive"], true);
    assert_eq!(r.body["isReadOnly"], false);
    assert_eq!(r.body["dateCreated"], "2026-03-17T09:38:37+00:00");
    let secret = r.body["token"].as_str().unwrap().to_owned();
    assert!(secret.len() >= 32, "{secret}");

    let r = post_ld(
        &app,
        "/api/v1/user-api-tokens",
        &session,
        json!({"name": "reader", "isReadOnly": true}),
    )
    .await;
    r.expect(201);
    let ro_id = r.body["id"].as_i64().unwrap();
    let ro = r.body["token"].as_str().unwrap().to_owned();
    assert_eq!(r.body["expiresAt"], Value::Null);
    assert_eq!(r.body["isReadOnly"], true);
    // Bad drafts: every problem at once.
    let r = post_ld(
        &app,
        "/api/v1/user-api-tokens",
        &session,
        json!({"name": "", "expiresAt": "soon", "isReadOnly": "no"}),
    )
    .await;
    assert_violations(
        &r,
        &[
            ("name", "This value should not be blank.", Some(NOT_BLANK)),
            (
                "expiresAt",
                "This value is not a valid datetime.",
                Some(INVALID_DATETIME),
            ),
            (
                "isReadOnly",
                "This value should be of type bool.",
                Some(INVALID_TYPE),
            ),
        ],
    );

    // The token works as `Api-Token` (and as a bearer) and acts as the user.
    let me = call(
        &app,
        Method::GET,
        "/api/v1/me",
        Cred::ApiToken(&secret),
        None,
        None,
    )
    .await;
    assert_item(&me, 200, id);
    assert_item(&get(&app, "/api/v1/me", &secret).await, 200, id);

    // Listed, never with the secret.
    let list = get(&app, "/api/v1/user-api-tokens", &session).await;
    list.expect(200);
    assert_eq!(list.body["@type"], "hydra:Collection");
    assert_eq!(list.body["@id"], "/api/v1/user-api-tokens");
    assert_eq!(list.body["hydra:totalItems"], 2);
    assert!(!list.text.contains(&secret) && !list.text.contains(&ro));
    let members = list.body["hydra:member"].as_array().unwrap();
    for m in members {
        assert_eq!(
            keys(m),
            [
                "@id",
                "@type",
                "id",
                "name",
                "expiresAt",
                "lastUsedAt",
                "isActive",
                "isReadOnly",
                "dateCreated"
            ]
        );
    }
    // Its last use is recorded.
    eventually("lastUsedAt recorded", || async {
        let r = get(&app, &format!("/api/v1/user-api-tokens/{tid}"), &session).await;
        r.body["lastUsedAt"] == "2026-03-17T09:38:37+00:00"
    })
    .await;
    // The organization admin sees its users' tokens.
    let r = get(&app, "/api/v1/user-api-tokens", &admin).await;
    assert_eq!(r.body["hydra:totalItems"], 2);
    // Another user of the organization sees only its own (the key bound to it).
    let other = new_user(&app, &admin, json!({"email": "ugo@example.com"})).await;
    let other_key = app.key(1, Some(other), false).await;
    let r = get(&app, "/api/v1/user-api-tokens", &other_key).await;
    assert_eq!(r.body["hydra:totalItems"], 1, "{}", r.text);
    let theirs = r.body["hydra:member"][0]["id"].as_i64().unwrap();
    assert!(theirs != tid && theirs != ro_id, "{}", r.text);
    assert_problem(
        &get(&app, &format!("/api/v1/user-api-tokens/{tid}"), &other_key).await,
        404,
        "Not Found",
    );
    assert_problem(
        &merge(
            &app,
            &format!("/api/v1/user-api-tokens/{tid}/revoke"),
            &other_key,
            json!({}),
        )
        .await,
        404,
        "Not Found",
    );

    // A read-only token reads, and every write is 403.
    let ro_cred = Cred::ApiToken(&ro);
    assert_item(&get_as(&app, "/api/v1/me", ro_cred, LD).await, 200, id);
    for r in [
        merge_as(
            &app,
            &format!("/api/v1/users/{id}/new-email"),
            ro_cred,
            json!({"newEmailRequested": "tia@new.example"}),
        )
        .await,
        merge_as(
            &app,
            &format!("/api/v1/users/{id}/new-password"),
            ro_cred,
            json!({"newPassword": OTHER_PASSWORD, "currentPassword": GOOD_PASSWORD}),
        )
        .await,
        post_ld_as(
            &app,
            "/api/v1/user-api-tokens",
            ro_cred,
            json!({"name": "more"}),
        )
        .await,
        merge_as(
            &app,
            &format!("/api/v1/user-api-tokens/{tid}/revoke"),
            ro_cred,
            json!({}),
        )
        .await,
        delete(&app, &format!("/api/v1/user-api-tokens/{tid}"), ro_cred).await,
    ] {
        assert_problem(&r, 403, "Access Denied.");
    }
    assert_eq!(
        get(&app, "/api/v1/me", &session).await.body["newEmailRequested"],
        Value::Null
    );
    login_ok(&app, "tia@example.com", GOOD_PASSWORD).await;

    // Revoked: inactive, still listed, refused at once.
    let r = call(
        &app,
        Method::PATCH,
        &format!("/api/v1/user-api-tokens/{tid}/revoke"),
        Cred::Bearer(&session),
        None,
        None,
    )
    .await;
    r.expect(200);
    assert_eq!(r.body["@id"], format!("/api/v1/user-api-tokens/{tid}"));
    assert_eq!(r.body["isActive"], false);
    assert!(r.body.get("token").is_none());
    let refused = call(
        &app,
        Method::GET,
        "/api/v1/me",
        Cred::ApiToken(&secret),
        None,
        None,
    )
    .await;
    assert_problem(&refused, 401, "Invalid API token");
    let got = get(&app, &format!("/api/v1/user-api-tokens/{tid}"), &session).await;
    assert_eq!(got.body["isActive"], false);
    assert_eq!(
        get(&app, "/api/v1/user-api-tokens", &session).await.body["hydra:totalItems"],
        2
    );

    // Deleted: 204 with no body, gone from the list.
    let r = delete(
        &app,
        &format!("/api/v1/user-api-tokens/{tid}"),
        Cred::Bearer(&session),
    )
    .await;
    assert_eq!(r.status, 204);
    assert_eq!(r.text, "");
    assert_problem(
        &get(&app, &format!("/api/v1/user-api-tokens/{tid}"), &session).await,
        404,
        "Not Found",
    );
    let list = get(&app, "/api/v1/user-api-tokens", &session).await;
    assert_eq!(list.body["hydra:totalItems"], 1);
    assert_eq!(list.body["hydra:member"][0]["id"], ro_id);
    // Plain JSON: a bare array.
    let r = get_as(
        &app,
        "/api/v1/user-api-tokens",
        Cred::Bearer(&session),
        "application/json",
    )
    .await;
    assert_eq!(r.body.as_array().unwrap().len(), 1);
    assert!(r.body[0].get("@id").is_none());
    // The organization admin may delete its users' tokens.
    let r = delete(
        &app,
        &format!("/api/v1/user-api-tokens/{ro_id}"),
        Cred::Bearer(&admin),
    )
    .await;
    assert_eq!(r.status, 204);
    assert_problem(
        &get_as(&app, "/api/v1/me", ro_cred, LD).await,
        401,
        "Invalid API token",
    );
}

/// A NUL character in any member is a 422 and changes nothing: PostgreSQL keeps no NUL in text
/// or jsonb, and answered 500 for the attribute members, which were stored unchecked.
async fn nul_characters_are_refused(app: TestApp) {
    let admin = app.org_admin().await;
    let id = new_user(&app, &admin, json!({"email": "nul@example.com"})).await;
    let item = format!("/api/v1/users/{id}");
    let before = get(&app, &item, &admin).await.body;
    for body in [
        json!({"firstName": "a\u{0}b"}),
        json!({"companyName": "a\u{0}b"}),
        json!({"address": "\u{0}"}),
        json!({"roleGroups": ["ok", "a\u{0}"]}),
        json!({"privacy": {"k\u{0}": true}}),
        json!({"notificationSettings": {"k": {"deep": "v\u{0}"}}}),
    ] {
        let r = merge(&app, &item, &admin, body.clone()).await;
        assert_eq!(r.status, 422, "{body}: {}", r.text);
        let member = body.as_object().unwrap().keys().next().unwrap().clone();
        assert_eq!(
            r.body["violations"][0]["propertyPath"], member,
            "{}",
            r.text
        );
        let r = post_ld(
            &app,
            "/api/v1/users",
            &admin,
            json!({"email": "other@example.com", member.clone(): body[&member].clone()}),
        )
        .await;
        assert_eq!(r.status, 422, "POST {body}: {}", r.text);
    }
    assert_eq!(get(&app, &item, &admin).await.body, before);
}

both_backends!(
    nul_characters_are_refused,
    seed_004_admin_changes_email,
    collections,
    items_per_page_limits,
    errors_and_negotiation,
    undecodable_path_segments,
    empty_email_is_blank,
    entrypoint_with_trailing_slash,
    violations_all_at_once,
    merge_patch_and_fields,
    discovery,
    login_refresh_and_lockout,
    new_password,
    user_api_tokens,
);

each_backend!(
    own_email_change_confirmed_by_api,
    own_email_change_confirmed_on_page,
    jsonld_processor_expands,
);
