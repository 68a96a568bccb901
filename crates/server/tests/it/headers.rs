//! The seeds' examples replayed, with the twelve CORS/security headers on every kind of response.

use reqwest::Method;
use serde_json::json;

use crate::support::*;

/// The exact headers of seeds 000, 001, 002.
const SEED_HEADERS: [(&str, &str); 12] = [
    (
        "Access-Control-Expose-Headers",
        "authorization, content-type",
    ),
    (
        "Access-Control-Allow-Headers",
        "authorization, content-type",
    ),
    (
        "Access-Control-Allow-Methods",
        "GET, POST, DELETE, OPTIONS, PUT",
    ),
    ("Access-Control-Allow-Origin", "*"),
    (
        "Strict-Transport-Security",
        "max-age=31536000; includeSubDomains",
    ),
    ("X-Frame-Options", "SAMEORIGIN"),
    ("X-Content-Type-Options", "nosniff"),
    ("X-XSS-Protection", "1; mode=block"),
    (
        "Content-Security-Policy",
        "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'",
    ),
    ("Referrer-Policy", "no-referrer"),
    ("Feature-Policy", "self"),
    ("Permissions-policy", "interest-cohort=()"),
];

#[track_caller]
pub fn assert_seed_headers(r: &Resp) {
    for (name, value) in SEED_HEADERS {
        let got = r
            .headers
            .get(name)
            .unwrap_or_else(|| panic!("missing header {name} (status {})", r.status));
        assert_eq!(got.to_str().unwrap(), value, "header {name}");
        assert_eq!(
            r.headers.get_all(name).iter().count(),
            1,
            "header {name} repeated"
        );
    }
}

/// Five users in the default organization, ids 1..=5.
async fn five_users(app: &TestApp, admin: &str) {
    for i in 1..=5 {
        let id = app
            .create_user(admin, json!({"firstName": format!("User{i}"), "emailAddress": format!("user{i}@example.com")}))
            .await;
        assert_eq!(id, i);
    }
}

/// Seed 001: `PUT /v2/users/4 {"firstName": "Caroline"}` → 200, body `4`.
async fn seed_update_user(app: TestApp) {
    let admin = app.org_admin().await;
    five_users(&app, &admin).await;
    let r = app
        .put("/v2/users/4", &admin, json!({"firstName": "Caroline"}))
        .await;
    r.expect(200);
    assert_eq!(r.text, "4");
    assert_seed_headers(&r);
    assert_eq!(r.headers["content-type"], "application/json");
    let u = app.get("/v2/users/4", &admin).await;
    assert_eq!(u.body["firstName"], "Caroline");
    assert_eq!(u.body["emailAddress"], "user4@example.com");
    // Seed 001's third example: group membership through the query, empty body.
    let g = app
        .post(
            "/v1/user-groups?organizationId=1",
            &admin,
            json!({"name": "Staff"}),
        )
        .await;
    g.expect(200);
    let gid = g.text.parse::<i64>().unwrap();
    let r = app
        .put(
            &format!("/v2/users/5?userGroupId={gid}&groupAdmin=true"),
            &admin,
            json!({}),
        )
        .await;
    r.expect(200);
    assert_eq!(r.text, "5");
    assert_seed_headers(&r);
    let g = app
        .get(&format!("/v1/user-groups/{gid}?includeUsers=true"), &admin)
        .await;
    assert_eq!(g.body["users"][0]["id"], 5);
    assert_eq!(g.body["users"][0]["groupAdmin"], true);
}

/// Seed 000/002: `PUT /v2/users/5/invitation {"sendEmail": true}` → 200, body `{"id": 5}`, and
/// the invitation email waits in the outbox.
async fn seed_update_invitation(app: TestApp) {
    let admin = app.org_admin().await;
    five_users(&app, &admin).await;
    let r = app
        .put("/v2/users/5/invitation", &admin, json!({"sendEmail": true}))
        .await;
    r.expect(200);
    assert_eq!(r.body, json!({"id": 5}));
    assert_eq!(r.text, r#"{"id":5}"#);
    assert_seed_headers(&r);

    let user = app.get("/v2/users/5", &admin).await;
    let token = user.body["invitation"]["token"]
        .as_str()
        .unwrap()
        .to_owned();
    let outbox = app
        .services()
        .store()
        .outbox(Some(usher_core::types::UserId(5)))
        .await
        .unwrap();
    assert_eq!(outbox.len(), 1, "{outbox:?}");
    let m = &outbox[0];
    // The delivery worker (logging, here) may already have sent it.
    assert!(m.status == "pending" || m.status == "sent", "{}", m.status);
    assert_eq!(m.message.template, "invitation");
    assert_eq!(m.message.channel, usher_core::model::Channel::Email);
    assert_eq!(m.message.recipient, "user5@example.com");
    assert_eq!(
        m.message.params["url"],
        format!("{PUBLIC_URL}/invite/{token}")
    );

    // Seed 002: `{"sendEmail": false}` answers the same shape and sends nothing more.
    let r = app
        .put(
            "/v2/users/2/invitation",
            &admin,
            json!({"sendEmail": false}),
        )
        .await;
    r.expect(200);
    assert_eq!(r.body, json!({"id": 2}));
    assert!(
        app.services()
            .store()
            .outbox(Some(usher_core::types::UserId(2)))
            .await
            .unwrap()
            .is_empty()
    );
}

/// Errors, unknown routes, wrong methods, preflights and health checks carry the headers too.
async fn headers_on_every_response(app: TestApp) {
    let admin = app.org_admin().await;
    let cases = [
        app.send(Method::GET, "/v2/users/1", None, None).await,
        app.get("/v2/users/999", &admin).await,
        app.get("/no/such/route", &admin).await,
        app.send(Method::PATCH, "/v2/users/1", Some(&admin), None)
            .await,
        app.raw(
            Method::POST,
            "/v2/users",
            Some(&admin),
            Some("application/json"),
            "{not json",
        )
        .await,
        app.send(Method::OPTIONS, "/v2/users/5/invitation", None, None)
            .await,
        app.send(Method::OPTIONS, "/anything", None, None).await,
        app.send(Method::GET, "/healthz", None, None).await,
    ];
    let statuses: Vec<u16> = cases.iter().map(|r| r.status).collect();
    assert_eq!(statuses, [401, 404, 404, 405, 400, 200, 200, 200]);
    for r in &cases {
        assert_seed_headers(r);
    }
    cases[0].bold_error(401, "InvalidToken");
    assert_eq!(cases[0].body["message"], "Invalid authentication token");
    cases[1].bold_error(404, "UserNotFound");
    assert_eq!(cases[1].body["message"], "User not found");
    cases[2].bold_error(404, "NotFound");
    cases[3].bold_error(405, "MethodNotAllowed");
    cases[4].bold_error(400, "InvalidInput");
    assert_eq!(cases[5].text, "");

    // Each response names its request: a new id when the client sent none (docs/bold.md), told
    // apart from every other, and the client's own id kept when it sent one.
    let ids: Vec<&str> = cases
        .iter()
        .map(|r| {
            let id = r.headers["x-request-id"].to_str().unwrap();
            uuid::Uuid::parse_str(id).unwrap_or_else(|e| panic!("x-request-id {id}: {e}"));
            id
        })
        .collect();
    let distinct: std::collections::HashSet<&&str> = ids.iter().collect();
    assert_eq!(distinct.len(), ids.len(), "{ids:?}");
    for method in [Method::GET, Method::OPTIONS] {
        let r = app
            .client
            .request(method.clone(), format!("{}/v2/users", app.base))
            .header("authorization", format!("Bearer {admin}"))
            .header("x-request-id", "trace-4711")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "{method}");
        assert_eq!(r.headers()["x-request-id"], "trace-4711", "{method}");
        assert_eq!(r.headers()["x-frame-options"], "SAMEORIGIN", "{method}");
    }
}

both_backends!(
    seed_update_user,
    seed_update_invitation,
    headers_on_every_response
);
