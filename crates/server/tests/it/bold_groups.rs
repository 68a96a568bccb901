//! `/v1/user-groups` (bold.md, "User groups"): every route, its answers and its errors.

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

/// `POST /v1/user-groups?organizationId=` → the new id, checked to be a bare number.
async fn create_group(app: &TestApp, token: &str, org: i64, body: Value) -> i64 {
    let r = app
        .post(
            &format!("/v1/user-groups?organizationId={org}"),
            token,
            body,
        )
        .await;
    r.expect(200);
    let id: i64 = r
        .text
        .parse()
        .unwrap_or_else(|_| panic!("bare number: {}", r.text));
    assert_eq!(r.body, json!(id));
    id
}

/// `(id, groupAdmin)` of the members, from `includeUsers=true`.
async fn members(app: &TestApp, token: &str, group: i64) -> Vec<(i64, bool)> {
    let r = app
        .get(&format!("/v1/user-groups/{group}?includeUsers=true"), token)
        .await;
    r.expect(200);
    r.body["users"]
        .as_array()
        .unwrap_or_else(|| panic!("users: {}", r.text))
        .iter()
        .map(|u| {
            (
                u["id"].as_i64().expect("id"),
                u["groupAdmin"].as_bool().expect("groupAdmin"),
            )
        })
        .collect()
}

async fn user(app: &TestApp, token: &str, first: &str) -> i64 {
    app.create_user(
        token,
        json!({"firstName": first, "emailAddress": format!("{}@example.com", first.to_lowercase())}),
    )
    .await
}

/// Create answers the bare id; get answers the documented object, with `users` only on request.
async fn create_and_get(app: TestApp) {
    let admin = app.org_admin().await;
    let r = app
        .post(
            "/v1/user-groups?organizationId=1",
            &admin,
            json!({"name": "Staff", "description": "All staff", "remarks": "Floor 2",
                   "externalId": {"value": "ext-1"}}),
        )
        .await;
    r.expect(200);
    assert_eq!(r.text, "1");
    assert_eq!(r.headers["content-type"], "application/json");
    let now = start_time().rfc3339();

    let r = app.get("/v1/user-groups/1", &admin).await;
    r.expect(200);
    assert_eq!(
        r.body,
        json!({
            "id": 1,
            "organizationId": 1,
            "name": "Staff",
            "description": "All staff",
            "remarks": "Floor 2",
            "dateCreated": now,
            "dateModified": now,
            "externalId": {"value": "ext-1"},
        })
    );
    let r2 = app
        .get("/v1/user-groups/1?includeUsers=false", &admin)
        .await;
    assert_eq!(r2.body, r.body);
    let r = app.get("/v1/user-groups/1?includeUsers=true", &admin).await;
    r.expect(200);
    assert_eq!(r.body["users"], json!([]));
    assert_eq!(r.body["name"], "Staff");

    // Only a name: the rest are null. The organization defaults to the caller's.
    let r = app
        .post("/v1/user-groups", &admin, json!({"name": "Bare"}))
        .await;
    r.expect(200);
    assert_eq!(r.text, "2");
    let r = app.get("/v1/user-groups/2", &admin).await;
    assert_eq!(
        r.body,
        json!({
            "id": 2,
            "organizationId": 1,
            "name": "Bare",
            "description": null,
            "remarks": null,
            "dateCreated": now,
            "dateModified": now,
            "externalId": null,
        })
    );

    // Some clients send the external id as a plain string.
    let id = create_group(
        &app,
        &admin,
        1,
        json!({"name": "Text id", "externalId": "ext-2"}),
    )
    .await;
    let r = app.get(&format!("/v1/user-groups/{id}"), &admin).await;
    assert_eq!(r.body["externalId"], json!({"value": "ext-2"}));

    // The instance admin names the organization.
    let b = app.create_org("B").await;
    let id = create_group(&app, &app.admin, b, json!({"name": "In B"})).await;
    let r = app.get(&format!("/v1/user-groups/{id}"), &app.admin).await;
    assert_eq!(r.body["organizationId"], b);
}

/// Create without a usable name, without an organization (instance admin), or into an unknown
/// organization.
async fn create_errors(app: TestApp) {
    let admin = app.org_admin().await;
    for body in [
        json!({}),
        json!({"description": "no name"}),
        json!({"name": null}),
        json!({"name": ""}),
        json!({"name": "   "}),
    ] {
        let r = app
            .post("/v1/user-groups?organizationId=1", &admin, body.clone())
            .await;
        r.bold_error(400, "InvalidInput");
        assert!(
            r.body["message"].as_str().unwrap().ends_with(": name"),
            "{body}: {}",
            r.text
        );
    }
    let r = app
        .post("/v1/user-groups?organizationId=1", &admin, json!({}))
        .await;
    assert_eq!(r.body["message"], "Missing value: name");
    let r = app
        .post(
            "/v1/user-groups?organizationId=1",
            &admin,
            json!({"name": 5}),
        )
        .await;
    r.bold_error(400, "InvalidInput");
    assert_eq!(r.body["message"], "Invalid value: name");
    let r = app
        .post(
            "/v1/user-groups?organizationId=x",
            &admin,
            json!({"name": "X"}),
        )
        .await;
    r.bold_error(400, "InvalidInput");
    let r = app
        .post("/v1/user-groups?organizationId=1", &admin, json!(["X"]))
        .await;
    r.bold_error(400, "InvalidInput");
    let r = app
        .raw(
            Method::POST,
            "/v1/user-groups?organizationId=1",
            Some(&admin),
            Some("application/json"),
            "{\"name\": ",
        )
        .await;
    r.bold_error(400, "InvalidInput");
    // The instance admin has no organization of its own.
    let r = app
        .post("/v1/user-groups", &app.admin, json!({"name": "X"}))
        .await;
    r.bold_error(400, "InvalidInput");
    assert_eq!(r.body["message"], "Missing value: organizationId");
    let r = app
        .post(
            "/v1/user-groups?organizationId=99",
            &app.admin,
            json!({"name": "X"}),
        )
        .await;
    r.bold_error(404, "OrganizationNotFound");
    // Nothing was made.
    assert_eq!(
        ids(&app.get("/v1/user-groups", &app.admin).await),
        Vec::<i64>::new()
    );
}

/// The list: a plain array sorted by name, with search, includeUsers, sortDirection and paging.
async fn list(app: TestApp) {
    let admin = app.org_admin().await;
    let gamma = create_group(&app, &admin, 1, json!({"name": "Gamma"})).await;
    let alpha = create_group(
        &app,
        &admin,
        1,
        json!({"name": "Alpha", "description": "first"}),
    )
    .await;
    let beta = create_group(
        &app,
        &admin,
        1,
        json!({"name": "Beta", "description": "Second ALPHA"}),
    )
    .await;
    let delta = create_group(&app, &admin, 1, json!({"name": "Delta"})).await;
    let b = app.create_org("B").await;
    let in_b = create_group(&app, &app.admin, b, json!({"name": "Alpha B"})).await;
    let ann = user(&app, &admin, "Ann").await;
    let bob = user(&app, &admin, "Bob").await;
    let r = app
        .post(
            &format!("/v1/user-groups/{alpha}/users"),
            &admin,
            json!([{"userId": ann, "groupAdmin": true}, {"userId": bob, "groupAdmin": false}]),
        )
        .await;
    r.expect(200);

    let r = app.get("/v1/user-groups", &admin).await;
    assert_eq!(ids(&r), [alpha, beta, delta, gamma]);
    assert!(r.body.is_array());
    let first = &r.body[0];
    assert_eq!(first["name"], "Alpha");
    assert_eq!(first["description"], "first");
    assert_eq!(first["organizationId"], 1);
    assert!(first.get("users").is_none(), "{}", r.text);

    // Search: name or description, case-insensitive.
    assert_eq!(
        ids(&app.get("/v1/user-groups?search=alpha", &admin).await),
        [alpha, beta]
    );
    assert_eq!(
        ids(&app.get("/v1/user-groups?search=ELT", &admin).await),
        [delta]
    );
    assert_eq!(
        ids(&app.get("/v1/user-groups?search=zzz", &admin).await),
        Vec::<i64>::new()
    );
    assert_eq!(
        ids(&app.get("/v1/user-groups?search=", &admin).await),
        [alpha, beta, delta, gamma]
    );

    // Sort direction and paging.
    assert_eq!(
        ids(&app
            .get("/v1/user-groups?sortBy=name&sortDirection=Desc", &admin)
            .await),
        [gamma, delta, beta, alpha]
    );
    assert_eq!(
        ids(&app.get("/v1/user-groups?sortDirection=Asc", &admin).await),
        [alpha, beta, delta, gamma]
    );
    assert_eq!(
        ids(&app.get("/v1/user-groups?offset=1&size=2", &admin).await),
        [beta, delta]
    );
    assert_eq!(
        ids(&app
            .get("/v1/user-groups?offset=1&size=2&sortDirection=Desc", &admin)
            .await),
        [delta, beta]
    );
    assert_eq!(
        ids(&app.get("/v1/user-groups?offset=4", &admin).await),
        Vec::<i64>::new()
    );
    assert_eq!(
        ids(&app.get("/v1/user-groups?size=100", &admin).await).len(),
        4
    );
    assert_eq!(
        ids(&app.get("/v1/user-groups?size=1", &admin).await),
        [alpha]
    );

    // includeUsers: every group carries its members, each with groupAdmin.
    let r = app.get("/v1/user-groups?includeUsers=true", &admin).await;
    assert_eq!(ids(&r), [alpha, beta, delta, gamma]);
    let users = r.body[0]["users"].as_array().unwrap();
    assert_eq!(users.len(), 2);
    assert_eq!(
        (&users[0]["id"], &users[0]["groupAdmin"]),
        (&json!(ann), &json!(true))
    );
    assert_eq!(
        (&users[1]["id"], &users[1]["groupAdmin"]),
        (&json!(bob), &json!(false))
    );
    assert_eq!(users[0]["firstName"], "Ann");
    assert_eq!(users[0]["emailAddress"], "ann@example.com");
    assert_eq!(users[0]["organizationId"], 1);
    for g in 1..4 {
        assert_eq!(r.body[g]["users"], json!([]), "{}", r.text);
    }

    // Organizations: the org admin sees its own; the instance admin all, or one.
    assert_eq!(
        ids(&app.get("/v1/user-groups?organizationId=1", &admin).await),
        [alpha, beta, delta, gamma]
    );
    assert_eq!(
        ids(&app.get("/v1/user-groups", &app.admin).await),
        [alpha, in_b, beta, delta, gamma]
    );
    assert_eq!(
        ids(&app
            .get(&format!("/v1/user-groups?organizationId={b}"), &app.admin)
            .await),
        [in_b]
    );
    app.get(&format!("/v1/user-groups?organizationId={b}"), &admin)
        .await
        .bold_error(404, "OrganizationNotFound");

    // Bad parameters.
    for q in [
        "size=101",
        "size=0",
        "size=-1",
        "offset=-1",
        "size=abc",
        "sortDirection=asc",
        "sortDirection=Up",
        "sortBy=id",
        "includeUsers=maybe",
        "organizationId=abc",
    ] {
        let r = app.get(&format!("/v1/user-groups?{q}"), &admin).await;
        assert_eq!(r.status, 400, "{q}: {}", r.text);
        r.bold_error(400, "InvalidInput");
    }
    let r = app.get("/v1/user-groups?size=101", &admin).await;
    assert!(
        r.body["message"].as_str().unwrap().contains("size"),
        "{}",
        r.text
    );
}

/// Update answers the bare id and changes only what was sent.
async fn update(app: TestApp) {
    let admin = app.org_admin().await;
    let g = create_group(
        &app,
        &admin,
        1,
        json!({"name": "Staff", "description": "d", "remarks": "r", "externalId": {"value": "x"}}),
    )
    .await;
    let created = start_time().rfc3339();
    app.clock.advance(chrono::Duration::minutes(5));
    let later = start_time().plus(chrono::Duration::minutes(5)).rfc3339();

    let r = app
        .put(
            &format!("/v1/user-groups/{g}"),
            &admin,
            json!({"name": "People"}),
        )
        .await;
    r.expect(200);
    assert_eq!(r.text, g.to_string());
    let r = app.get(&format!("/v1/user-groups/{g}"), &admin).await;
    assert_eq!(
        r.body,
        json!({
            "id": g,
            "organizationId": 1,
            "name": "People",
            "description": "d",
            "remarks": "r",
            "dateCreated": created,
            "dateModified": later,
            "externalId": {"value": "x"},
        })
    );

    let r = app
        .put(
            &format!("/v1/user-groups/{g}"),
            &admin,
            json!({"description": "new d", "remarks": null}),
        )
        .await;
    r.expect(200);
    assert_eq!(r.text, g.to_string());
    let r = app.get(&format!("/v1/user-groups/{g}"), &admin).await;
    assert_eq!(r.body["name"], "People");
    assert_eq!(r.body["description"], "new d");
    assert_eq!(r.body["remarks"], Value::Null);

    // An empty body changes nothing.
    let before = app.get(&format!("/v1/user-groups/{g}"), &admin).await.body;
    app.clock.advance(chrono::Duration::minutes(5));
    let r = app
        .put(&format!("/v1/user-groups/{g}"), &admin, json!({}))
        .await;
    r.expect(200);
    assert_eq!(r.text, g.to_string());
    assert_eq!(
        app.get(&format!("/v1/user-groups/{g}"), &admin).await.body,
        before
    );

    // The name cannot be removed.
    for body in [json!({"name": null}), json!({"name": ""})] {
        let r = app
            .put(&format!("/v1/user-groups/{g}"), &admin, body.clone())
            .await;
        r.bold_error(400, "InvalidInput");
        assert_eq!(r.body["message"], "Missing value: name", "{body}");
    }
    let r = app
        .put(
            &format!("/v1/user-groups/{g}"),
            &admin,
            json!({"description": 3}),
        )
        .await;
    r.bold_error(400, "InvalidInput");
    assert_eq!(r.body["message"], "Invalid value: description");
    assert_eq!(
        app.get(&format!("/v1/user-groups/{g}"), &admin).await.body,
        before
    );
}

/// Delete answers `{}`; the group is gone, its users stay.
async fn delete_keeps_users(app: TestApp) {
    let admin = app.org_admin().await;
    let g = create_group(&app, &admin, 1, json!({"name": "Doomed"})).await;
    let other = create_group(&app, &admin, 1, json!({"name": "Other"})).await;
    let ann = user(&app, &admin, "Ann").await;
    let bob = user(&app, &admin, "Bob").await;
    let r = app
        .post(
            &format!("/v1/user-groups/{g}/users"),
            &admin,
            json!([{"userId": ann, "groupAdmin": true}, {"userId": bob}]),
        )
        .await;
    r.expect(200);
    let r = app
        .post(
            &format!("/v1/user-groups/{other}/users/{ann}"),
            &admin,
            json!({}),
        )
        .await;
    r.expect(200);

    let r = app.delete(&format!("/v1/user-groups/{g}"), &admin).await;
    r.expect(200);
    assert_eq!(r.text, "{}");
    app.get(&format!("/v1/user-groups/{g}"), &admin)
        .await
        .bold_error(404, "UserGroupNotFound");
    app.delete(&format!("/v1/user-groups/{g}"), &admin)
        .await
        .bold_error(404, "UserGroupNotFound");
    assert_eq!(ids(&app.get("/v1/user-groups", &admin).await), [other]);

    let r = app.get(&format!("/v2/users/{ann}"), &admin).await;
    r.expect(200);
    assert_eq!(r.body["firstName"], "Ann");
    app.get(&format!("/v2/users/{bob}"), &admin)
        .await
        .expect(200);
    assert_eq!(ids(&app.get("/v2/users", &admin).await), [ann, bob]);
    assert_eq!(members(&app, &admin, other).await, [(ann, false)]);
    // No membership of the deleted group lingers.
    assert_eq!(
        ids(&app.get(&format!("/v2/users?userGroupId={g}"), &admin).await),
        Vec::<i64>::new()
    );
}

/// Adding and removing members, one at a time and in bulk; re-adding changes the admin flag.
async fn members_add_and_remove(app: TestApp) {
    let admin = app.org_admin().await;
    let g = create_group(&app, &admin, 1, json!({"name": "Team"})).await;
    let ann = user(&app, &admin, "Ann").await;
    let bob = user(&app, &admin, "Bob").await;
    let cid = user(&app, &admin, "Cid").await;
    let dee = user(&app, &admin, "Dee").await;

    let r = app
        .post(
            &format!("/v1/user-groups/{g}/users/{ann}?groupAdmin=true"),
            &admin,
            json!({}),
        )
        .await;
    r.expect(200);
    assert_eq!(r.text, "{}");
    let r = app
        .send(
            Method::POST,
            &format!("/v1/user-groups/{g}/users/{bob}"),
            Some(&admin),
            None,
        )
        .await;
    r.expect(200);
    assert_eq!(r.text, "{}");
    assert_eq!(members(&app, &admin, g).await, [(ann, true), (bob, false)]);

    // The member objects are full user objects plus groupAdmin.
    let r = app
        .get(&format!("/v1/user-groups/{g}?includeUsers=true"), &admin)
        .await;
    let u = &r.body["users"][0];
    let alone = app.get(&format!("/v2/users/{ann}"), &admin).await.body;
    let mut expected = alone.as_object().unwrap().clone();
    expected.insert("groupAdmin".into(), json!(true));
    assert_eq!(u, &Value::Object(expected));

    // Bulk add; re-adding changes the admin flag (both ways).
    let r = app
        .post(
            &format!("/v1/user-groups/{g}/users"),
            &admin,
            json!([
                {"userId": cid, "groupAdmin": true},
                {"userId": dee, "groupAdmin": false},
                {"userId": ann, "groupAdmin": false},
            ]),
        )
        .await;
    r.expect(200);
    assert_eq!(r.text, "{}");
    assert_eq!(
        members(&app, &admin, g).await,
        [(ann, false), (bob, false), (cid, true), (dee, false)]
    );
    let r = app
        .post(
            &format!("/v1/user-groups/{g}/users/{bob}?groupAdmin=true"),
            &admin,
            json!({}),
        )
        .await;
    r.expect(200);
    let r = app
        .post(
            &format!("/v1/user-groups/{g}/users/{cid}?groupAdmin=false"),
            &admin,
            json!({}),
        )
        .await;
    r.expect(200);
    // Without groupAdmin in a bulk entry: a plain member.
    let r = app
        .post(
            &format!("/v1/user-groups/{g}/users"),
            &admin,
            json!([{"userId": dee}]),
        )
        .await;
    r.expect(200);
    assert_eq!(
        members(&app, &admin, g).await,
        [(ann, false), (bob, true), (cid, false), (dee, false)]
    );
    // An empty list is fine and changes nothing.
    let r = app
        .post(&format!("/v1/user-groups/{g}/users"), &admin, json!([]))
        .await;
    r.expect(200);
    assert_eq!(r.text, "{}");

    // Remove one, remove several; a non-member is ignored.
    let r = app
        .delete(&format!("/v1/user-groups/{g}/users/{bob}"), &admin)
        .await;
    r.expect(200);
    assert_eq!(r.text, "{}");
    assert_eq!(
        members(&app, &admin, g).await,
        [(ann, false), (cid, false), (dee, false)]
    );
    let r = app
        .delete(&format!("/v1/user-groups/{g}/users/{bob}"), &admin)
        .await;
    r.expect(200);
    assert_eq!(r.text, "{}");
    let r = app
        .send(
            Method::DELETE,
            &format!("/v1/user-groups/{g}/users"),
            Some(&admin),
            Some(&json!([ann, dee, bob])),
        )
        .await;
    r.expect(200);
    assert_eq!(r.text, "{}");
    assert_eq!(members(&app, &admin, g).await, [(cid, false)]);
    // Removing from a group does not touch the user.
    assert_eq!(
        ids(&app.get("/v2/users", &admin).await),
        [ann, bob, cid, dee]
    );

    // Unknown users: 404, and a bulk add is all or nothing.
    app.post(&format!("/v1/user-groups/{g}/users/999"), &admin, json!({}))
        .await
        .bold_error(404, "UserNotFound");
    app.post(
        &format!("/v1/user-groups/{g}/users"),
        &admin,
        json!([{"userId": ann, "groupAdmin": true}, {"userId": 999, "groupAdmin": false}]),
    )
    .await
    .bold_error(404, "UserNotFound");
    assert_eq!(members(&app, &admin, g).await, [(cid, false)]);

    // Bad bodies and parameters.
    for (method, path, body) in [
        (
            Method::POST,
            format!("/v1/user-groups/{g}/users"),
            json!({"userId": ann}),
        ),
        (
            Method::POST,
            format!("/v1/user-groups/{g}/users"),
            json!([{"groupAdmin": true}]),
        ),
        (
            Method::POST,
            format!("/v1/user-groups/{g}/users"),
            json!([{"userId": "ann"}]),
        ),
        (
            Method::POST,
            format!("/v1/user-groups/{g}/users"),
            json!([ann]),
        ),
        (
            Method::DELETE,
            format!("/v1/user-groups/{g}/users"),
            json!({"ids": [ann]}),
        ),
        (
            Method::DELETE,
            format!("/v1/user-groups/{g}/users"),
            json!(["x"]),
        ),
        (
            Method::POST,
            format!("/v1/user-groups/{g}/users/{ann}?groupAdmin=yes"),
            json!({}),
        ),
    ] {
        let r = app
            .send(method.clone(), &path, Some(&admin), Some(&body))
            .await;
        assert_eq!(r.status, 400, "{method} {path} {body}: {}", r.text);
        r.bold_error(400, "InvalidInput");
    }
    assert_eq!(members(&app, &admin, g).await, [(cid, false)]);
}

/// 404 for a group that does not exist, 400 for an id that is not a number, on every route.
async fn unknown_and_malformed_ids(app: TestApp) {
    let admin = app.org_admin().await;
    let ann = user(&app, &admin, "Ann").await;
    let routes = |g: &str, u: &str| -> Vec<(Method, String, Option<Value>)> {
        vec![
            (Method::GET, format!("/v1/user-groups/{g}"), None),
            (
                Method::GET,
                format!("/v1/user-groups/{g}?includeUsers=true"),
                None,
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
                Method::POST,
                format!("/v1/user-groups/{g}/users"),
                Some(json!([{"userId": ann, "groupAdmin": false}])),
            ),
            (
                Method::DELETE,
                format!("/v1/user-groups/{g}/users/{u}"),
                None,
            ),
            (
                Method::DELETE,
                format!("/v1/user-groups/{g}/users"),
                Some(json!([ann])),
            ),
        ]
    };
    for (method, path, body) in routes("4242", &ann.to_string()) {
        let r = app
            .send(method.clone(), &path, Some(&admin), body.as_ref())
            .await;
        assert_eq!(r.status, 404, "{method} {path}: {}", r.text);
        r.bold_error(404, "UserGroupNotFound");
        assert_eq!(r.body["message"], "User group not found");
    }
    for (method, path, body) in routes("abc", &ann.to_string()) {
        let r = app
            .send(method.clone(), &path, Some(&admin), body.as_ref())
            .await;
        assert_eq!(r.status, 400, "{method} {path}: {}", r.text);
        r.bold_error(400, "InvalidInput");
    }
    let g = create_group(&app, &admin, 1, json!({"name": "Real"})).await;
    for (method, path, body) in [
        (
            Method::POST,
            format!("/v1/user-groups/{g}/users/abc"),
            Some(json!({})),
        ),
        (
            Method::DELETE,
            format!("/v1/user-groups/{g}/users/abc"),
            None,
        ),
        (Method::GET, "/v1/user-groups/1.5".to_owned(), None),
    ] {
        let r = app
            .send(method.clone(), &path, Some(&admin), body.as_ref())
            .await;
        assert_eq!(r.status, 400, "{method} {path}: {}", r.text);
        r.bold_error(400, "InvalidInput");
    }
    assert_eq!(members(&app, &admin, g).await, []);
}

/// A user of one organization never joins a group of another: 400 "Group and user do not belong
/// to the same account", even for the instance admin, on every way of joining.
async fn group_and_user_of_different_organizations(app: TestApp) {
    let b = app.create_org("B").await;
    let admin_b = app.key(b, None, false).await;
    let admin_a = app.org_admin().await;
    let ga = create_group(&app, &admin_a, 1, json!({"name": "A team"})).await;
    let ua = user(&app, &admin_a, "Ann").await;
    let ub = user(&app, &admin_b, "Bea").await;
    const MESSAGE: &str = "Group and user do not belong to the same account";

    let cases: Vec<(Method, String, Value)> = vec![
        (
            Method::POST,
            format!("/v1/user-groups/{ga}/users/{ub}?groupAdmin=true"),
            json!({}),
        ),
        (
            Method::POST,
            format!("/v1/user-groups/{ga}/users"),
            json!([{"userId": ua, "groupAdmin": false}, {"userId": ub, "groupAdmin": false}]),
        ),
        (
            Method::PUT,
            format!("/v2/users/{ub}?userGroupId={ga}&groupAdmin=false"),
            json!({}),
        ),
        (
            Method::POST,
            format!("/v2/users?userGroupId={ga}&groupAdmin=false"),
            json!({"organizationId": b, "firstName": "Cleo"}),
        ),
    ];
    for (method, path, body) in &cases {
        let r = app
            .send(method.clone(), path, Some(&app.admin), Some(body))
            .await;
        assert_eq!(r.status, 400, "{method} {path}: {}", r.text);
        assert_eq!(r.body["message"], MESSAGE, "{method} {path}");
        assert_eq!(r.body["errorMessage"], MESSAGE);
        assert_eq!(r.body["code"], r.body["errorCode"]);
        assert!(r.body["code"].is_string());
    }
    // Nothing joined, nobody was created.
    assert_eq!(members(&app, &app.admin, ga).await, []);
    assert_eq!(ids(&app.get("/v2/users", &app.admin).await), [ua, ub]);
    // The same user of the right organization joins fine.
    let r = app
        .post(
            &format!("/v1/user-groups/{ga}/users/{ua}"),
            &app.admin,
            json!({}),
        )
        .await;
    r.expect(200);
    assert_eq!(members(&app, &app.admin, ga).await, [(ua, false)]);
}

/// A member listed in a group is the same user object as its own `GET /v2/users/{id}`,
/// invitation included (it was always `null` there).
async fn members_show_their_invitations(app: TestApp) {
    let admin = app.org_admin().await;
    let g = create_group(&app, &admin, 1, json!({"name": "Team"})).await;
    let invited = app
        .post(
            "/v2/users",
            &admin,
            json!({"firstName": "Ann", "emailAddress": "ann@example.com",
                   "invitation": {"language": "de"}}),
        )
        .await;
    invited.expect(201);
    let invited = invited.body["userId"].as_i64().unwrap();
    let plain = user(&app, &admin, "Bob").await;
    for id in [invited, plain] {
        app.post(
            &format!("/v1/user-groups/{g}/users/{id}"),
            &admin,
            json!({}),
        )
        .await
        .expect(200);
    }
    let own = |id: i64| {
        let app = &app;
        let admin = &admin;
        async move {
            let mut u = app.get(&format!("/v2/users/{id}"), admin).await.body;
            u["groupAdmin"] = json!(false);
            u
        }
    };
    let expected = json!([own(invited).await, own(plain).await]);
    assert!(expected[0]["invitation"]["token"].is_string(), "{expected}");
    assert_eq!(expected[1]["invitation"], json!(null));

    let r = app
        .get(&format!("/v1/user-groups/{g}?includeUsers=true"), &admin)
        .await;
    r.expect(200);
    assert_eq!(r.body["users"], expected);
    let r = app
        .get("/v1/user-groups?organizationId=1&includeUsers=true", &admin)
        .await;
    r.expect(200);
    assert_eq!(r.body[0]["users"], expected);
}

both_backends!(
    members_show_their_invitations,
    create_and_get,
    create_errors,
    list,
    update,
    delete_keeps_users,
    members_add_and_remove,
    unknown_and_malformed_ids,
    group_and_user_of_different_organizations,
);
