//! The rights model of PRODUCT.md ("Rights") end to end over the Bold routes, one test per rule:
//! what a principal cannot see is 404, what it sees but may not change is 403, and a credential
//! that is missing, unknown, revoked or expired is 401.

// Test code: a panic is the failure report (the workspace allows unwrap in `#[test]`s only).

use reqwest::Method;
use serde_json::{Value, json};

use crate::support::*;

/// The ids of a Bold list, in order.
fn ids(r: &Resp) -> Vec<i64> {
    r.expect(200);
    r.body
        .as_array()
        .unwrap_or_else(|| panic!("not an array: {}", r.text))
        .iter()
        .map(|x| x["id"].as_i64().expect("id"))
        .collect()
}

/// Asserts a Bold error with the request named in the failure message.
#[track_caller]
fn refused(r: &Resp, status: u16, code: &str, what: &str) {
    assert_eq!(
        (r.status, r.body["code"].as_str()),
        (status, Some(code)),
        "{what}: {}",
        r.text
    );
    r.bold_error(status, code);
}

/// A request with arbitrary headers (and no bearer token unless given among them).
async fn send_with(
    app: &TestApp,
    method: Method,
    path: &str,
    headers: &[(&str, &str)],
    body: Option<Value>,
) -> Resp {
    let mut req = app.client.request(method, format!("{}{}", app.base, path));
    for (name, value) in headers {
        req = req.header(*name, *value);
    }
    if let Some(b) = body {
        req = req
            .header("content-type", "application/json")
            .body(b.to_string());
    }
    TestApp::read(req.send().await.expect("request")).await
}

/// `POST /v1/user-groups?organizationId=` → the new id (a bare number).
async fn create_group(app: &TestApp, token: &str, org: i64, name: &str) -> i64 {
    let r = app
        .post(
            &format!("/v1/user-groups?organizationId={org}"),
            token,
            json!({"name": name}),
        )
        .await;
    r.expect(200);
    r.text.parse().expect("bare number")
}

async fn add_member(app: &TestApp, token: &str, group: i64, user: i64, admin: bool) {
    let r = app
        .post(
            &format!("/v1/user-groups/{group}/users/{user}?groupAdmin={admin}"),
            token,
            json!({}),
        )
        .await;
    r.expect(200);
    assert_eq!(r.body, json!({}));
}

/// `(id, groupAdmin)` of a group's members, as the instance admin sees them.
async fn members(app: &TestApp, group: i64) -> Vec<(i64, bool)> {
    let r = app
        .get(
            &format!("/v1/user-groups/{group}?includeUsers=true"),
            &app.admin,
        )
        .await;
    r.expect(200);
    r.body["users"]
        .as_array()
        .expect("users")
        .iter()
        .map(|u| {
            (
                u["id"].as_i64().expect("id"),
                u["groupAdmin"].as_bool().expect("groupAdmin"),
            )
        })
        .collect()
}

/// `POST /v1/api-keys` as `by` → `(id, token)`.
async fn new_key(app: &TestApp, by: &str, body: Value) -> (i64, String) {
    let r = app.post("/v1/api-keys", by, body).await;
    r.expect(201);
    (
        r.body["id"].as_i64().expect("key id"),
        r.body["token"].as_str().expect("token").to_owned(),
    )
}

fn key_ids(r: &Resp) -> Vec<i64> {
    ids(r)
}

async fn user_field(app: &TestApp, id: i64, field: &str) -> Value {
    let r = app.get(&format!("/v2/users/{id}"), &app.admin).await;
    r.expect(200);
    r.body[field].clone()
}

/// No credential, an unknown one, or a malformed `Authorization` header: 401 `InvalidToken` on
/// every route, and nothing changes. `Api-Token: <secret>` is accepted like a bearer token.
async fn missing_or_unknown_token_is_401(app: TestApp) {
    let admin = app.org_admin().await;
    let u = app
        .create_user(
            &admin,
            json!({"firstName": "Ann", "emailAddress": "ann@example.com"}),
        )
        .await;
    let g = create_group(&app, &admin, 1, "Staff").await;
    let x = json!({"firstName": "X"});
    let routes: Vec<(Method, String, Option<Value>)> = vec![
        (Method::GET, "/v2/users".into(), None),
        (Method::GET, format!("/v2/users/{u}"), None),
        (Method::POST, "/v2/users".into(), Some(x.clone())),
        (Method::PUT, format!("/v2/users/{u}"), Some(x.clone())),
        (Method::DELETE, format!("/v2/users/{u}"), None),
        (
            Method::PUT,
            format!("/v2/users/{u}/invitation"),
            Some(json!({"sendEmail": true})),
        ),
        (Method::GET, "/v1/user-groups".into(), None),
        (Method::GET, format!("/v1/user-groups/{g}"), None),
        (
            Method::POST,
            "/v1/user-groups?organizationId=1".into(),
            Some(json!({"name": "X"})),
        ),
        (
            Method::PUT,
            format!("/v1/user-groups/{g}"),
            Some(json!({"name": "X"})),
        ),
        (Method::DELETE, format!("/v1/user-groups/{g}"), None),
        (
            Method::POST,
            format!("/v1/user-groups/{g}/users/{u}"),
            Some(json!({})),
        ),
        (
            Method::DELETE,
            format!("/v1/user-groups/{g}/users"),
            Some(json!([u])),
        ),
        (Method::GET, "/v1/organization".into(), None),
        (Method::GET, "/v1/organizations".into(), None),
        (Method::GET, "/v1/organizations/1".into(), None),
        (
            Method::POST,
            "/v1/organizations".into(),
            Some(json!({"name": "X"})),
        ),
        (Method::GET, "/v1/api-keys".into(), None),
        (
            Method::POST,
            "/v1/api-keys".into(),
            Some(json!({"name": "X"})),
        ),
        (Method::DELETE, "/v1/api-keys/1".into(), None),
    ];
    let unknown = uuid::Uuid::new_v4().to_string();
    let basic = format!("Basic {}", app.admin);
    let empty_bearer = "Bearer ".to_owned();
    let no_scheme = app.admin.clone();
    let unknown_api_token = unknown.clone();
    for (method, path, body) in &routes {
        for token in [None, Some(unknown.as_str())] {
            let r = app.send(method.clone(), path, token, body.as_ref()).await;
            refused(
                &r,
                401,
                "InvalidToken",
                &format!("{method} {path} with {token:?}"),
            );
            assert_eq!(r.body["message"], "Invalid authentication token");
        }
        for (name, value) in [
            ("authorization", basic.as_str()),
            ("authorization", empty_bearer.as_str()),
            ("authorization", no_scheme.as_str()),
            ("api-token", unknown_api_token.as_str()),
        ] {
            let r = send_with(&app, method.clone(), path, &[(name, value)], body.clone()).await;
            refused(
                &r,
                401,
                "InvalidToken",
                &format!("{method} {path} with {name}: {value}"),
            );
        }
    }

    // Nothing was changed by any of those.
    let r = app.get(&format!("/v2/users/{u}"), &admin).await;
    r.expect(200);
    assert_eq!(r.body["firstName"], "Ann");
    assert_eq!(ids(&app.get("/v2/users", &admin).await), [u]);
    let r = app.get(&format!("/v1/user-groups/{g}"), &admin).await;
    r.expect(200);
    assert_eq!(r.body["name"], "Staff");
    assert_eq!(ids(&app.get("/v1/organizations", &app.admin).await), [1]);
    assert!(
        app.services()
            .store()
            .outbox(Some(usher_core::types::UserId(u)))
            .await
            .unwrap()
            .is_empty()
    );

    // `Api-Token: <secret>` reads and writes like `Authorization: Bearer <secret>`.
    let r = send_with(
        &app,
        Method::GET,
        &format!("/v2/users/{u}"),
        &[("Api-Token", &admin)],
        None,
    )
    .await;
    r.expect(200);
    assert_eq!(r.body["id"], u);
    assert_eq!(r.body["firstName"], "Ann");
    let r = send_with(
        &app,
        Method::PUT,
        &format!("/v2/users/{u}"),
        &[("Api-Token", &admin)],
        Some(json!({"firstName": "Anna"})),
    )
    .await;
    r.expect(200);
    assert_eq!(r.text, u.to_string());
    assert_eq!(user_field(&app, u, "firstName").await, "Anna");
    let r = send_with(
        &app,
        Method::GET,
        "/v1/organizations",
        &[("api-token", &app.admin)],
        None,
    )
    .await;
    assert_eq!(ids(&r), [1]);
    // A lowercase scheme is fine too.
    let lower = format!("bearer {admin}");
    let r = send_with(
        &app,
        Method::GET,
        &format!("/v2/users/{u}"),
        &[("authorization", &lower)],
        None,
    )
    .await;
    r.expect(200);
    assert_eq!(r.body["id"], u);
}

/// A read-only key reads everything its organization admin could, and every write is 403
/// `InsufficientRights` without changing anything.
async fn read_only_key_never_writes(app: TestApp) {
    let admin = app.org_admin().await;
    let u1 = app
        .create_user(
            &admin,
            json!({"firstName": "Ann", "emailAddress": "ann@example.com"}),
        )
        .await;
    let u2 = app
        .create_user(
            &admin,
            json!({"firstName": "Bob", "emailAddress": "bob@example.com"}),
        )
        .await;
    let g = create_group(&app, &admin, 1, "Staff").await;
    add_member(&app, &admin, g, u1, false).await;
    let (other_key, _) = new_key(&app, &admin, json!({"name": "other"})).await;
    let ro = app.key(1, None, true).await;

    // Reads work.
    let r = app.get(&format!("/v2/users/{u1}"), &ro).await;
    r.expect(200);
    assert_eq!(r.body["firstName"], "Ann");
    assert_eq!(ids(&app.get("/v2/users", &ro).await), [u1, u2]);
    let r = app
        .get(&format!("/v1/user-groups/{g}?includeUsers=true"), &ro)
        .await;
    r.expect(200);
    assert_eq!(r.body["users"][0]["id"], u1);
    assert_eq!(ids(&app.get("/v1/user-groups", &ro).await), [g]);
    let r = app.get("/v1/organization", &ro).await;
    r.expect(200);
    assert_eq!(r.body["id"], 1);
    assert_eq!(ids(&app.get("/v1/organizations", &ro).await), [1]);
    let r = app.get("/v1/api-keys", &ro).await;
    assert!(key_ids(&r).contains(&other_key), "{}", r.text);

    // Every write is 403.
    let writes: Vec<(Method, String, Option<Value>)> = vec![
        (
            Method::POST,
            "/v2/users".into(),
            Some(json!({"firstName": "Carl"})),
        ),
        (
            Method::POST,
            format!("/v2/users?userGroupId={g}&groupAdmin=false"),
            Some(json!({"firstName": "Carl"})),
        ),
        (
            Method::PUT,
            format!("/v2/users/{u1}"),
            Some(json!({"firstName": "Changed"})),
        ),
        // Even a change that changes nothing.
        (
            Method::PUT,
            format!("/v2/users/{u1}"),
            Some(json!({"firstName": "Ann"})),
        ),
        (
            Method::PUT,
            format!("/v2/users/{u2}?userGroupId={g}&groupAdmin=true"),
            Some(json!({})),
        ),
        (Method::DELETE, format!("/v2/users/{u1}"), None),
        (
            Method::PUT,
            format!("/v2/users/{u1}/invitation"),
            Some(json!({"sendEmail": true})),
        ),
        (
            Method::POST,
            "/v1/user-groups?organizationId=1".into(),
            Some(json!({"name": "New"})),
        ),
        (
            Method::POST,
            "/v1/user-groups".into(),
            Some(json!({"name": "New"})),
        ),
        (
            Method::PUT,
            format!("/v1/user-groups/{g}"),
            Some(json!({"name": "Renamed"})),
        ),
        (Method::DELETE, format!("/v1/user-groups/{g}"), None),
        (
            Method::POST,
            format!("/v1/user-groups/{g}/users/{u2}?groupAdmin=true"),
            Some(json!({})),
        ),
        (
            Method::POST,
            format!("/v1/user-groups/{g}/users"),
            Some(json!([{"userId": u2, "groupAdmin": false}])),
        ),
        (
            Method::DELETE,
            format!("/v1/user-groups/{g}/users/{u1}"),
            None,
        ),
        (
            Method::DELETE,
            format!("/v1/user-groups/{g}/users"),
            Some(json!([u1])),
        ),
        (
            Method::POST,
            "/v1/api-keys".into(),
            Some(json!({"name": "escalate"})),
        ),
        (
            Method::POST,
            "/v1/api-keys".into(),
            Some(json!({"name": "escalate", "organizationId": 1, "readOnly": false})),
        ),
        (Method::DELETE, format!("/v1/api-keys/{other_key}"), None),
        (
            Method::POST,
            "/v1/organizations".into(),
            Some(json!({"name": "Nope"})),
        ),
    ];
    for (method, path, body) in &writes {
        let r = app
            .send(method.clone(), path, Some(&ro), body.as_ref())
            .await;
        refused(
            &r,
            403,
            "InsufficientRights",
            &format!("read-only {method} {path}"),
        );
        assert_eq!(r.body["message"], "Insufficient rights");
    }
    // The CSV import is a write too.
    let form = reqwest::multipart::Form::new().part(
        "file",
        reqwest::multipart::Part::text("firstName,emailAddress\nZed,zed@example.com\n")
            .file_name("users.csv")
            .mime_str("text/csv")
            .unwrap(),
    );
    let res = app
        .client
        .put(format!("{}/v2/users?organizationId=1", app.base))
        .bearer_auth(&ro)
        .multipart(form)
        .send()
        .await
        .unwrap();
    refused(
        &TestApp::read(res).await,
        403,
        "InsufficientRights",
        "read-only import",
    );

    // A read-only key bound to a user may not even edit its own names.
    let ro_self = app.key(1, Some(u2), true).await;
    let r = app.get(&format!("/v2/users/{u2}"), &ro_self).await;
    r.expect(200);
    assert_eq!(r.body["firstName"], "Bob");
    let r = app
        .put(
            &format!("/v2/users/{u2}"),
            &ro_self,
            json!({"firstName": "Robert"}),
        )
        .await;
    refused(&r, 403, "InsufficientRights", "read-only self edit");

    // Nothing changed.
    let r = app.get(&format!("/v2/users/{u1}"), &admin).await;
    assert_eq!(r.body["firstName"], "Ann");
    assert_eq!(r.body["invitation"], Value::Null);
    assert_eq!(user_field(&app, u2, "firstName").await, "Bob");
    assert_eq!(ids(&app.get("/v2/users", &admin).await), [u1, u2]);
    assert_eq!(members(&app, g).await, [(u1, false)]);
    let r = app.get(&format!("/v1/user-groups/{g}"), &admin).await;
    assert_eq!(r.body["name"], "Staff");
    assert_eq!(ids(&app.get("/v1/user-groups", &admin).await), [g]);
    let r = app.get("/v1/api-keys", &admin).await;
    assert!(key_ids(&r).contains(&other_key), "{}", r.text);
    assert_eq!(ids(&app.get("/v1/organizations", &app.admin).await), [1]);
    assert!(
        app.services()
            .store()
            .outbox(Some(usher_core::types::UserId(u1)))
            .await
            .unwrap()
            .is_empty()
    );
}

/// An organization admin cannot see into another organization: its users, groups and the
/// organization itself are 404, exactly like ids that do not exist, and its lists never show
/// them.
async fn other_organizations_are_not_found(app: TestApp) {
    let admin_a = app.org_admin().await;
    let b = app.create_org("B").await;
    let admin_b = app.key(b, None, false).await;
    let ua = app
        .create_user(
            &admin_a,
            json!({"firstName": "Ann", "emailAddress": "ann@example.com"}),
        )
        .await;
    let ub = app
        .create_user(
            &admin_b,
            json!({"firstName": "Bea", "emailAddress": "bea@example.com"}),
        )
        .await;
    let ga = create_group(&app, &admin_a, 1, "A staff").await;
    let gb = create_group(&app, &admin_b, b, "B staff").await;
    add_member(&app, &admin_b, gb, ub, true).await;
    let (key_b, _) = new_key(&app, &admin_b, json!({"name": "b key"})).await;

    let cases: Vec<(Method, String, Option<Value>, &str)> = vec![
        (Method::GET, format!("/v2/users/{ub}"), None, "UserNotFound"),
        (
            Method::PUT,
            format!("/v2/users/{ub}"),
            Some(json!({"firstName": "X"})),
            "UserNotFound",
        ),
        (
            Method::PUT,
            format!("/v2/users/{ub}"),
            Some(json!({"superUser": true})),
            "UserNotFound",
        ),
        (
            Method::DELETE,
            format!("/v2/users/{ub}"),
            None,
            "UserNotFound",
        ),
        (
            Method::PUT,
            format!("/v2/users/{ub}/invitation"),
            Some(json!({"sendEmail": true})),
            "UserNotFound",
        ),
        (
            Method::POST,
            format!("/v1/user-groups/{ga}/users/{ub}"),
            Some(json!({})),
            "UserNotFound",
        ),
        (
            Method::POST,
            format!("/v1/user-groups/{ga}/users"),
            Some(json!([{"userId": ub, "groupAdmin": false}])),
            "UserNotFound",
        ),
        (
            Method::GET,
            format!("/v1/user-groups/{gb}"),
            None,
            "UserGroupNotFound",
        ),
        (
            Method::PUT,
            format!("/v1/user-groups/{gb}"),
            Some(json!({"name": "X"})),
            "UserGroupNotFound",
        ),
        (
            Method::DELETE,
            format!("/v1/user-groups/{gb}"),
            None,
            "UserGroupNotFound",
        ),
        (
            Method::POST,
            format!("/v1/user-groups/{gb}/users/{ua}"),
            Some(json!({})),
            "UserGroupNotFound",
        ),
        (
            Method::DELETE,
            format!("/v1/user-groups/{gb}/users/{ub}"),
            None,
            "UserGroupNotFound",
        ),
        (
            Method::POST,
            format!("/v2/users?userGroupId={gb}&groupAdmin=false"),
            Some(json!({"firstName": "X"})),
            "UserGroupNotFound",
        ),
        (
            Method::GET,
            format!("/v1/organizations/{b}"),
            None,
            "OrganizationNotFound",
        ),
        (
            Method::POST,
            "/v2/users".into(),
            Some(json!({"organizationId": b, "firstName": "X"})),
            "OrganizationNotFound",
        ),
        (
            Method::GET,
            format!("/v2/users?organizationId={b}"),
            None,
            "OrganizationNotFound",
        ),
        (
            Method::GET,
            format!("/v1/user-groups?organizationId={b}"),
            None,
            "OrganizationNotFound",
        ),
        (
            Method::POST,
            format!("/v1/user-groups?organizationId={b}"),
            Some(json!({"name": "X"})),
            "OrganizationNotFound",
        ),
        (
            Method::POST,
            "/v1/api-keys".into(),
            Some(json!({"name": "X", "organizationId": b})),
            "OrganizationNotFound",
        ),
        (
            Method::DELETE,
            format!("/v1/api-keys/{key_b}"),
            None,
            "ApiKeyNotFound",
        ),
    ];
    for (method, path, body, code) in &cases {
        let r = app
            .send(method.clone(), path, Some(&admin_a), body.as_ref())
            .await;
        refused(&r, 404, code, &format!("org A admin {method} {path}"));
    }

    // Another organization's id answers exactly like an id that does not exist.
    let elsewhere = app.get(&format!("/v2/users/{ub}"), &admin_a).await;
    let nowhere = app.get("/v2/users/999", &admin_a).await;
    assert_eq!(elsewhere.text, nowhere.text);
    let elsewhere = app.get(&format!("/v1/user-groups/{gb}"), &admin_a).await;
    let nowhere = app.get("/v1/user-groups/999", &admin_a).await;
    assert_eq!(elsewhere.text, nowhere.text);
    let elsewhere = app.get(&format!("/v1/organizations/{b}"), &admin_a).await;
    let nowhere = app.get("/v1/organizations/999", &admin_a).await;
    assert_eq!(elsewhere.text, nowhere.text);

    // Lists never include the other organization.
    assert_eq!(ids(&app.get("/v2/users", &admin_a).await), [ua]);
    assert_eq!(
        ids(&app.get("/v2/users?search=bea", &admin_a).await),
        Vec::<i64>::new()
    );
    assert_eq!(
        ids(&app
            .get(&format!("/v2/users?userGroupId={gb}"), &admin_a)
            .await),
        Vec::<i64>::new()
    );
    assert_eq!(
        ids(&app.get("/v2/users?organizationId=1", &admin_a).await),
        [ua]
    );
    assert_eq!(ids(&app.get("/v1/user-groups", &admin_a).await), [ga]);
    assert_eq!(
        ids(&app.get("/v1/user-groups?search=staff", &admin_a).await),
        [ga]
    );
    assert_eq!(ids(&app.get("/v1/organizations", &admin_a).await), [1]);
    let keys_a = key_ids(&app.get("/v1/api-keys", &admin_a).await);
    assert!(!keys_a.contains(&key_b), "{keys_a:?}");

    // The other organization's own admin sees its things, unchanged; the instance admin sees all.
    let r = app.get(&format!("/v2/users/{ub}"), &admin_b).await;
    r.expect(200);
    assert_eq!(r.body["firstName"], "Bea");
    assert_eq!(r.body["organizationId"], b);
    assert_eq!(ids(&app.get("/v2/users", &admin_b).await), [ub]);
    assert_eq!(members(&app, gb).await, [(ub, true)]);
    assert_eq!(members(&app, ga).await, []);
    let r = app.get(&format!("/v1/user-groups/{gb}"), &admin_b).await;
    assert_eq!(r.body["name"], "B staff");
    assert!(key_ids(&app.get("/v1/api-keys", &admin_b).await).contains(&key_b));
    assert_eq!(ids(&app.get("/v2/users", &app.admin).await), [ua, ub]);
    assert_eq!(ids(&app.get("/v1/organizations", &app.admin).await), [1, b]);
}

/// A user who is `groupAdmin` in a group: creates users into it, reads and edits its members,
/// resends their invitations; may not grant `superUser`, delete users, change memberships or
/// groups, or see anyone outside its groups.
async fn group_admin_rights(app: TestApp) {
    let admin = app.org_admin().await;
    let boss = app
        .create_user(
            &admin,
            json!({"firstName": "Boss", "emailAddress": "boss@example.com"}),
        )
        .await;
    let member = app
        .create_user(
            &admin,
            json!({"firstName": "Mia", "emailAddress": "mia@example.com"}),
        )
        .await;
    let outsider = app
        .create_user(
            &admin,
            json!({"firstName": "Otto", "emailAddress": "otto@example.com"}),
        )
        .await;
    // In a group where the boss is only a member: no rights over its other members.
    let peer = app
        .create_user(
            &admin,
            json!({"firstName": "Pia", "emailAddress": "pia@example.com"}),
        )
        .await;
    let g = create_group(&app, &admin, 1, "Team").await;
    let h = create_group(&app, &admin, 1, "Other team").await;
    add_member(&app, &admin, g, boss, true).await;
    add_member(&app, &admin, g, member, false).await;
    add_member(&app, &admin, h, boss, false).await;
    add_member(&app, &admin, h, peer, false).await;
    let (_, ga) = new_key(
        &app,
        &app.admin,
        json!({"name": "boss", "organizationId": 1, "userId": boss}),
    )
    .await;

    // Create into its group.
    let r = app
        .post(
            &format!("/v2/users?userGroupId={g}&groupAdmin=false"),
            &ga,
            json!({"firstName": "Neo", "emailAddress": "neo@example.com"}),
        )
        .await;
    r.expect(201);
    let neo = r.body["userId"].as_i64().unwrap();
    assert_eq!(
        members(&app, g).await,
        [(boss, true), (member, false), (neo, false)]
    );
    let r = app.get(&format!("/v2/users/{neo}"), &ga).await;
    r.expect(200);
    assert_eq!(r.body["firstName"], "Neo");
    assert_eq!(r.body["superUser"], false);

    // Not without a group, not into a group it does not administer, never as super user.
    let refusals: Vec<(String, Value)> = vec![
        ("/v2/users".into(), json!({"firstName": "Nobody"})),
        (
            format!("/v2/users?userGroupId={h}&groupAdmin=false"),
            json!({"firstName": "Nobody"}),
        ),
        (
            format!("/v2/users?userGroupId={g}&groupAdmin=false"),
            json!({"firstName": "Nobody", "superUser": true}),
        ),
    ];
    for (path, body) in &refusals {
        let r = app.post(path, &ga, body.clone()).await;
        refused(
            &r,
            403,
            "InsufficientRights",
            &format!("group admin POST {path}"),
        );
    }

    // Read and edit members (including fields beyond the names).
    let r = app.get(&format!("/v2/users/{member}"), &ga).await;
    r.expect(200);
    assert_eq!(r.body["firstName"], "Mia");
    let r = app
        .put(
            &format!("/v2/users/{member}"),
            &ga,
            json!({"firstName": "Mira", "description": "edited by the group admin"}),
        )
        .await;
    r.expect(200);
    assert_eq!(r.text, member.to_string());
    let r = app.get(&format!("/v2/users/{member}"), &admin).await;
    assert_eq!(r.body["firstName"], "Mira");
    assert_eq!(r.body["description"], "edited by the group admin");

    // Never superUser, never delete.
    let r = app
        .put(
            &format!("/v2/users/{member}"),
            &ga,
            json!({"superUser": true}),
        )
        .await;
    refused(
        &r,
        403,
        "InsufficientRights",
        "group admin grants superUser",
    );
    let r = app
        .put(
            &format!("/v2/users/{member}"),
            &ga,
            json!({"firstName": "Sneaky", "superUser": true}),
        )
        .await;
    refused(
        &r,
        403,
        "InsufficientRights",
        "group admin grants superUser with a name",
    );
    let r = app.delete(&format!("/v2/users/{member}"), &ga).await;
    refused(
        &r,
        403,
        "InsufficientRights",
        "group admin deletes a member",
    );
    let r = app.get(&format!("/v2/users/{member}"), &admin).await;
    r.expect(200);
    assert_eq!(r.body["superUser"], false);
    assert_eq!(r.body["firstName"], "Mira");

    // Resend a member's invitation.
    let r = app
        .put(
            &format!("/v2/users/{member}/invitation"),
            &ga,
            json!({"sendEmail": true}),
        )
        .await;
    r.expect(200);
    assert_eq!(r.body, json!({"id": member}));
    let outbox = app
        .services()
        .store()
        .outbox(Some(usher_core::types::UserId(member)))
        .await
        .unwrap();
    assert_eq!(outbox.len(), 1, "{outbox:?}");
    assert_eq!(outbox[0].message.template, "invitation");
    assert_eq!(outbox[0].message.recipient, "mia@example.com");

    // Anyone outside its groups is not found; being a plain member of a group gives nothing.
    for other in [outsider, peer] {
        let cases: Vec<(Method, String, Option<Value>)> = vec![
            (Method::GET, format!("/v2/users/{other}"), None),
            (
                Method::PUT,
                format!("/v2/users/{other}"),
                Some(json!({"firstName": "X"})),
            ),
            (
                Method::PUT,
                format!("/v2/users/{other}?userGroupId={g}&groupAdmin=false"),
                Some(json!({})),
            ),
            (Method::DELETE, format!("/v2/users/{other}"), None),
            (
                Method::PUT,
                format!("/v2/users/{other}/invitation"),
                Some(json!({"sendEmail": true})),
            ),
        ];
        for (method, path, body) in &cases {
            let r = app
                .send(method.clone(), path, Some(&ga), body.as_ref())
                .await;
            refused(
                &r,
                404,
                "UserNotFound",
                &format!("group admin {method} {path}"),
            );
        }
    }

    // Memberships and groups are for organization admins.
    let cases: Vec<(Method, String, Option<Value>)> = vec![
        (
            Method::PUT,
            format!("/v2/users/{member}?userGroupId={g}&groupAdmin=true"),
            Some(json!({})),
        ),
        (
            Method::POST,
            format!("/v1/user-groups/{g}/users/{outsider}?groupAdmin=false"),
            Some(json!({})),
        ),
        (
            Method::POST,
            format!("/v1/user-groups/{g}/users/{member}?groupAdmin=true"),
            Some(json!({})),
        ),
        (
            Method::POST,
            format!("/v1/user-groups/{g}/users"),
            Some(json!([{"userId": outsider, "groupAdmin": false}])),
        ),
        (
            Method::DELETE,
            format!("/v1/user-groups/{g}/users/{member}"),
            None,
        ),
        (
            Method::DELETE,
            format!("/v1/user-groups/{g}/users"),
            Some(json!([member])),
        ),
        (
            Method::POST,
            "/v1/user-groups".into(),
            Some(json!({"name": "Mine"})),
        ),
        (
            Method::PUT,
            format!("/v1/user-groups/{g}"),
            Some(json!({"name": "Renamed"})),
        ),
        (Method::DELETE, format!("/v1/user-groups/{g}"), None),
        (
            Method::POST,
            "/v1/api-keys".into(),
            Some(json!({"name": "k"})),
        ),
        (Method::GET, "/v1/api-keys".into(), None),
    ];
    for (method, path, body) in &cases {
        let r = app
            .send(method.clone(), path, Some(&ga), body.as_ref())
            .await;
        refused(
            &r,
            403,
            "InsufficientRights",
            &format!("group admin {method} {path}"),
        );
    }
    assert_eq!(
        members(&app, g).await,
        [(boss, true), (member, false), (neo, false)]
    );
    assert_eq!(members(&app, h).await, [(boss, false), (peer, false)]);
    let r = app.get(&format!("/v1/user-groups/{g}"), &admin).await;
    assert_eq!(r.body["name"], "Team");

    // It sees its groups and, as users, itself and the members of the groups it administers.
    let r = app.get(&format!("/v1/user-groups/{g}"), &ga).await;
    r.expect(200);
    assert_eq!(r.body["name"], "Team");
    assert_eq!(ids(&app.get("/v1/user-groups", &ga).await), [h, g]);
    assert_eq!(ids(&app.get("/v2/users", &ga).await), [boss, member, neo]);
    // A group's member list shows only the users it can see: all of the group it administers,
    // only itself in the group where it is a plain member (not the peer it gets 404 for).
    let member_ids = |r: &Resp| -> Vec<i64> {
        r.expect(200);
        r.body["users"]
            .as_array()
            .unwrap_or_else(|| panic!("users: {}", r.text))
            .iter()
            .map(|u| u["id"].as_i64().unwrap())
            .collect()
    };
    let r = app
        .get(&format!("/v1/user-groups/{g}?includeUsers=true"), &ga)
        .await;
    assert_eq!(member_ids(&r), [boss, member, neo]);
    let r = app
        .get(&format!("/v1/user-groups/{h}?includeUsers=true"), &ga)
        .await;
    assert_eq!(member_ids(&r), [boss]);
    assert!(!r.text.contains("pia@example.com"), "{}", r.text);
    let r = app.get("/v1/user-groups?includeUsers=true", &ga).await;
    assert_eq!(ids(&r), [h, g]);
    let lists: Vec<Vec<i64>> = r
        .body
        .as_array()
        .unwrap()
        .iter()
        .map(|g| {
            g["users"]
                .as_array()
                .unwrap()
                .iter()
                .map(|u| u["id"].as_i64().unwrap())
                .collect()
        })
        .collect();
    assert_eq!(lists, [vec![boss], vec![boss, member, neo]]);
    assert!(!r.text.contains("pia@example.com"), "{}", r.text);
    assert_eq!(members(&app, h).await, [(boss, false), (peer, false)]);
    // A group it is not in does not exist for it.
    let far = create_group(&app, &admin, 1, "Far away").await;
    add_member(&app, &admin, far, outsider, false).await;
    let r = app.get(&format!("/v1/user-groups/{far}"), &ga).await;
    refused(
        &r,
        404,
        "UserGroupNotFound",
        "group admin reads a group it is not in",
    );
}

/// A key bound to a user that is neither super user nor group admin: reads and renames itself,
/// nothing else.
async fn plain_user_rights(app: TestApp) {
    let admin = app.org_admin().await;
    let me = app
        .create_user(
            &admin,
            json!({"firstName": "Una", "lastName": "User", "emailAddress": "una@example.com"}),
        )
        .await;
    let other = app
        .create_user(
            &admin,
            json!({"firstName": "Olga", "emailAddress": "olga@example.com"}),
        )
        .await;
    let key = app.key(1, Some(me), false).await;

    let r = app.get(&format!("/v2/users/{me}"), &key).await;
    r.expect(200);
    assert_eq!(r.body["id"], me);
    assert_eq!(r.body["firstName"], "Una");

    let r = app
        .put(
            &format!("/v2/users/{me}"),
            &key,
            json!({"firstName": "Unity", "lastName": "Self"}),
        )
        .await;
    r.expect(200);
    assert_eq!(r.text, me.to_string());
    let r = app.get(&format!("/v2/users/{me}"), &admin).await;
    assert_eq!(
        (&r.body["firstName"], &r.body["lastName"]),
        (&json!("Unity"), &json!("Self"))
    );

    for body in [
        json!({"externalId": "x-1"}),
        json!({"description": "mine"}),
        json!({"remarks": "mine"}),
        json!({"phoneNumber": "+31850607337"}),
        json!({"emailAddress": "una.new@example.com"}),
        json!({"superUser": true}),
        json!({"firstName": "Una", "superUser": true}),
    ] {
        let r = app
            .put(&format!("/v2/users/{me}"), &key, body.clone())
            .await;
        refused(&r, 403, "InsufficientRights", &format!("self edit {body}"));
    }
    let r = app.delete(&format!("/v2/users/{me}"), &key).await;
    refused(&r, 403, "InsufficientRights", "self delete");
    let r = app
        .put(
            &format!("/v2/users/{me}/invitation"),
            &key,
            json!({"sendEmail": true}),
        )
        .await;
    refused(&r, 403, "InsufficientRights", "self invitation");

    let r = app.get(&format!("/v2/users/{me}"), &admin).await;
    r.expect(200);
    assert_eq!(r.body["firstName"], "Unity");
    assert_eq!(r.body["externalId"], Value::Null);
    assert_eq!(r.body["description"], Value::Null);
    assert_eq!(r.body["phoneNumber"], Value::Null);
    assert_eq!(r.body["emailAddress"], "una@example.com");
    assert_eq!(r.body["superUser"], false);

    // Others of its organization are not found.
    for (method, path, body) in [
        (Method::GET, format!("/v2/users/{other}"), None),
        (
            Method::PUT,
            format!("/v2/users/{other}"),
            Some(json!({"firstName": "X"})),
        ),
        (Method::DELETE, format!("/v2/users/{other}"), None),
        (
            Method::PUT,
            format!("/v2/users/{other}/invitation"),
            Some(json!({"sendEmail": true})),
        ),
    ] {
        let r = app
            .send(method.clone(), &path, Some(&key), body.as_ref())
            .await;
        refused(&r, 404, "UserNotFound", &format!("user {method} {path}"));
    }
    assert_eq!(user_field(&app, other, "firstName").await, "Olga");

    // Lists show only itself, also inside a group it belongs to; organization administration is
    // forbidden.
    assert_eq!(ids(&app.get("/v2/users", &key).await), [me]);
    let g = create_group(&app, &admin, 1, "Everyone").await;
    add_member(&app, &admin, g, other, true).await;
    add_member(&app, &admin, g, me, false).await;
    let r = app
        .get(&format!("/v1/user-groups/{g}?includeUsers=true"), &key)
        .await;
    r.expect(200);
    assert_eq!(r.body["users"].as_array().unwrap().len(), 1, "{}", r.text);
    assert_eq!(r.body["users"][0]["id"], me);
    assert_eq!(r.body["users"][0]["groupAdmin"], false);
    assert!(!r.text.contains("olga@example.com"), "{}", r.text);
    let r = app.get("/v1/user-groups?includeUsers=true", &key).await;
    assert_eq!(ids(&r), [g]);
    assert_eq!(
        r.body[0]["users"].as_array().unwrap().len(),
        1,
        "{}",
        r.text
    );
    assert_eq!(r.body[0]["users"][0]["id"], me);
    assert_eq!(
        ids(&app.get(&format!("/v2/users?userGroupId={g}"), &key).await),
        [me]
    );
    // A group it is not in does not exist for it.
    let not_mine = create_group(&app, &admin, 1, "Not mine").await;
    add_member(&app, &admin, not_mine, other, false).await;
    let r = app.get(&format!("/v1/user-groups/{not_mine}"), &key).await;
    refused(
        &r,
        404,
        "UserGroupNotFound",
        "user reads a group it is not in",
    );
    assert_eq!(ids(&app.get("/v1/user-groups", &key).await), [g]);
    assert_eq!(
        ids(&app.get("/v2/users?search=olga", &key).await),
        Vec::<i64>::new()
    );
    let r = app.get("/v1/organization", &key).await;
    r.expect(200);
    assert_eq!(r.body["id"], 1);
    for (method, path, body) in [
        (Method::POST, "/v2/users", Some(json!({"firstName": "New"}))),
        (
            Method::POST,
            "/v1/user-groups",
            Some(json!({"name": "Mine"})),
        ),
        (Method::GET, "/v1/api-keys", None),
        (Method::POST, "/v1/api-keys", Some(json!({"name": "k"}))),
    ] {
        let r = app
            .send(method.clone(), path, Some(&key), body.as_ref())
            .await;
        refused(
            &r,
            403,
            "InsufficientRights",
            &format!("user {method} {path}"),
        );
    }
}

/// A user with `superUser` acts as its organization's admin; taking the flag away takes effect
/// on its very next request (the credential cache is cleared), giving it back restores it.
async fn super_user_flag_takes_effect_at_once(app: TestApp) {
    let admin = app.org_admin().await;
    let su = app
        .create_user(
            &admin,
            json!({"firstName": "Sue", "emailAddress": "sue@example.com", "superUser": true}),
        )
        .await;
    let other = app
        .create_user(
            &admin,
            json!({"firstName": "Olga", "emailAddress": "olga@example.com"}),
        )
        .await;
    let key = app.key(1, Some(su), false).await;

    // As organization admin (this also puts the principal in the cache).
    assert_eq!(ids(&app.get("/v2/users", &key).await), [su, other]);
    let r = app
        .put(
            &format!("/v2/users/{other}"),
            &key,
            json!({"description": "by sue"}),
        )
        .await;
    r.expect(200);
    assert_eq!(r.text, other.to_string());
    let g = create_group(&app, &key, 1, "Sue's").await;
    let created = app
        .create_user(&key, json!({"firstName": "Made by Sue"}))
        .await;
    let r = app.get("/v1/api-keys", &key).await;
    r.expect(200);

    // Demoted: the very next request has lost the rights.
    let r = app
        .put(
            &format!("/v2/users/{su}"),
            &admin,
            json!({"superUser": false}),
        )
        .await;
    r.expect(200);
    let r = app.get(&format!("/v2/users/{other}"), &key).await;
    refused(&r, 404, "UserNotFound", "demoted reads another user");
    assert_eq!(ids(&app.get("/v2/users", &key).await), [su]);
    let r = app
        .put(
            &format!("/v2/users/{other}"),
            &key,
            json!({"description": "again"}),
        )
        .await;
    refused(&r, 404, "UserNotFound", "demoted edits another user");
    let r = app.delete(&format!("/v2/users/{created}"), &key).await;
    refused(&r, 404, "UserNotFound", "demoted deletes");
    let r = app.post("/v2/users", &key, json!({"firstName": "X"})).await;
    refused(&r, 403, "InsufficientRights", "demoted creates");
    let r = app
        .put(&format!("/v1/user-groups/{g}"), &key, json!({"name": "X"}))
        .await;
    refused(&r, 404, "UserGroupNotFound", "demoted renames a group");
    let r = app.get("/v1/api-keys", &key).await;
    refused(&r, 403, "InsufficientRights", "demoted lists keys");
    // It cannot promote itself back.
    let r = app
        .put(&format!("/v2/users/{su}"), &key, json!({"superUser": true}))
        .await;
    refused(&r, 403, "InsufficientRights", "demoted promotes itself");
    assert_eq!(user_field(&app, su, "superUser").await, false);
    assert_eq!(user_field(&app, other, "description").await, "by sue");

    // Promoted again: the rights are back on the next request.
    let r = app
        .put(
            &format!("/v2/users/{su}"),
            &admin,
            json!({"superUser": true}),
        )
        .await;
    r.expect(200);
    let r = app.get(&format!("/v2/users/{other}"), &key).await;
    r.expect(200);
    assert_eq!(r.body["description"], "by sue");
    assert_eq!(ids(&app.get("/v2/users", &key).await), [su, other, created]);
    let r = app.delete(&format!("/v2/users/{created}"), &key).await;
    r.expect(200);
    assert_eq!(r.body, json!({}));
}

/// The same through the CSV import: a row that sets `superUser` to false is an admin taking the
/// flag away, and the user's next request has lost the rights.
async fn super_user_removed_by_import_takes_effect_at_once(app: TestApp) {
    let admin = app.org_admin().await;
    let su = app
        .create_user(
            &admin,
            json!({"firstName": "Sue", "emailAddress": "sue@example.com", "superUser": true}),
        )
        .await;
    let other = app
        .create_user(
            &admin,
            json!({"firstName": "Olga", "emailAddress": "olga@example.com"}),
        )
        .await;
    let key = app.key(1, Some(su), false).await;
    assert_eq!(ids(&app.get("/v2/users", &key).await), [su, other]);

    let form = reqwest::multipart::Form::new().part(
        "file",
        reqwest::multipart::Part::text("emailAddress,superUser\nsue@example.com,false\n")
            .file_name("users.csv")
            .mime_str("text/csv")
            .unwrap(),
    );
    let res = app
        .client
        .put(format!("{}/v2/users?organizationId=1", app.base))
        .bearer_auth(&admin)
        .multipart(form)
        .send()
        .await
        .unwrap();
    let r = TestApp::read(res).await;
    r.expect(200);
    assert_eq!(r.body, json!([]));
    assert_eq!(user_field(&app, su, "superUser").await, false);

    let r = app.get(&format!("/v2/users/{other}"), &key).await;
    refused(
        &r,
        404,
        "UserNotFound",
        "demoted by import reads another user",
    );
    assert_eq!(ids(&app.get("/v2/users", &key).await), [su]);
}

/// Deleting a key, or the user a key is bound to, makes the key's next request 401 — even when
/// the key was just used (cached).
async fn revoked_credentials_are_401_at_once(app: TestApp) {
    let admin = app.org_admin().await;
    let (kid, key) = new_key(&app, &admin, json!({"name": "doomed"})).await;
    assert_eq!(ids(&app.get("/v2/users", &key).await), Vec::<i64>::new());
    let r = app.delete(&format!("/v1/api-keys/{kid}"), &admin).await;
    r.expect(200);
    assert_eq!(r.body, json!({}));
    let r = app.get("/v2/users", &key).await;
    refused(&r, 401, "InvalidToken", "deleted key");
    let r = app
        .post("/v2/users", &key, json!({"firstName": "Ghost"}))
        .await;
    refused(&r, 401, "InvalidToken", "deleted key writes");

    // A key bound to a user dies with the user.
    let u = app
        .create_user(
            &admin,
            json!({"firstName": "Ulla", "emailAddress": "ulla@example.com"}),
        )
        .await;
    let (ukid, ukey) = new_key(&app, &admin, json!({"name": "ulla", "userId": u})).await;
    let r = app.get(&format!("/v2/users/{u}"), &ukey).await;
    r.expect(200);
    assert_eq!(r.body["firstName"], "Ulla");
    let r = app.delete(&format!("/v2/users/{u}"), &admin).await;
    r.expect(200);
    assert_eq!(r.body, json!({}));
    let r = app.get(&format!("/v2/users/{u}"), &ukey).await;
    refused(&r, 401, "InvalidToken", "key of a deleted user");
    let r = app.get("/v1/organization", &ukey).await;
    refused(&r, 401, "InvalidToken", "key of a deleted user");
    // Its credentials went with it.
    let keys = key_ids(&app.get("/v1/api-keys", &admin).await);
    assert!(!keys.contains(&ukid), "{keys:?}");
    assert!(!keys.contains(&kid), "{keys:?}");
    // The admin key itself is untouched.
    assert_eq!(ids(&app.get("/v2/users", &admin).await), Vec::<i64>::new());
}

/// A key with an expiration works until then, and is 401 from that instant on.
async fn expired_key_is_401(app: TestApp) {
    let expiration = start_time().plus(chrono::Duration::hours(3));
    let (_, key) = new_key(
        &app,
        &app.admin,
        json!({"name": "temp", "organizationId": 1, "expiration": expiration.rfc3339()}),
    )
    .await;
    let r = app.get("/v1/organization", &key).await;
    r.expect(200);
    assert_eq!(r.body["id"], 1);

    app.clock.advance(chrono::Duration::hours(2));
    let r = app.get("/v1/organization", &key).await;
    r.expect(200);
    app.clock
        .advance(chrono::Duration::hours(1) - chrono::Duration::seconds(1));
    app.get("/v1/organization", &key).await.expect(200);

    app.clock.advance(chrono::Duration::seconds(1));
    let r = app.get("/v1/organization", &key).await;
    refused(&r, 401, "InvalidToken", "expired key");
    app.clock.advance(chrono::Duration::hours(24));
    let r = app
        .post("/v2/users", &key, json!({"firstName": "Late"}))
        .await;
    refused(&r, 401, "InvalidToken", "expired key writes");
    // Keys without an expiration are unaffected.
    assert_eq!(ids(&app.get("/v1/organizations", &app.admin).await), [1]);
    let admin = app.org_admin().await;
    assert_eq!(ids(&app.get("/v2/users", &admin).await), Vec::<i64>::new());
}

/// Only the instance admin creates organizations.
async fn only_instance_admin_creates_organizations(app: TestApp) {
    let admin = app.org_admin().await;
    let su = app
        .create_user(
            &admin,
            json!({"firstName": "Sue", "emailAddress": "sue@example.com", "superUser": true}),
        )
        .await;
    let su_key = app.key(1, Some(su), false).await;
    for token in [&admin, &su_key] {
        let r = app
            .post("/v1/organizations", token, json!({"name": "Mine"}))
            .await;
        refused(
            &r,
            403,
            "InsufficientRights",
            "organization by a non-instance admin",
        );
    }
    assert_eq!(ids(&app.get("/v1/organizations", &app.admin).await), [1]);
    let r = app
        .post("/v1/organizations", &app.admin, json!({"name": "Acme"}))
        .await;
    r.expect(201);
    assert_eq!(r.body, json!({"id": 2}));
    assert_eq!(ids(&app.get("/v1/organizations", &app.admin).await), [1, 2]);
    assert_eq!(ids(&app.get("/v1/organizations", &admin).await), [1]);
}

both_backends!(
    missing_or_unknown_token_is_401,
    read_only_key_never_writes,
    other_organizations_are_not_found,
    group_admin_rights,
    plain_user_rights,
    super_user_flag_takes_effect_at_once,
    super_user_removed_by_import_takes_effect_at_once,
    revoked_credentials_are_401_at_once,
    expired_key_is_401,
    only_instance_admin_creates_organizations,
);
