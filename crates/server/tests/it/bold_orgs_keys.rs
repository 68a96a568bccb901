//! `/v1/organization`, `/v1/organizations` and `/v1/api-keys` (bold.md, "Organizations" and
//! "API keys").

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

/// `POST /v1/api-keys` as `by` → `(id, token)`.
async fn new_key(app: &TestApp, by: &str, body: Value) -> (i64, String) {
    let r = app.post("/v1/api-keys", by, body).await;
    r.expect(201);
    (
        r.body["id"].as_i64().expect("key id"),
        r.body["token"].as_str().expect("token").to_owned(),
    )
}

/// Lowercase, hyphenated UUID v4 text, like `b5850315-ddba-4d87-ad09-57f42c10636f`.
#[track_caller]
fn assert_uuid_v4(token: &str) {
    let parsed = uuid::Uuid::parse_str(token).unwrap_or_else(|_| panic!("not a UUID: {token}"));
    assert_eq!(parsed.get_version_num(), 4, "{token}");
    assert_eq!(
        parsed.hyphenated().to_string(),
        token,
        "not lowercase hyphenated"
    );
    assert_eq!(token.len(), 36);
}

/// The instance admin creates organizations: 201 `{"id"}`; a name is required.
async fn create_organization(app: TestApp) {
    let r = app
        .post("/v1/organizations", &app.admin, json!({"name": "Acme"}))
        .await;
    r.expect(201);
    assert_eq!(r.text, r#"{"id":2}"#);
    let now = start_time().rfc3339();
    let r = app.get("/v1/organizations/2", &app.admin).await;
    r.expect(200);
    assert_eq!(
        r.body,
        json!({"id": 2, "name": "Acme", "dateCreated": now, "dateModified": now})
    );
    let r = app
        .post(
            "/v1/organizations",
            &app.admin,
            json!({"name": "Beta", "extra": true}),
        )
        .await;
    r.expect(201);
    assert_eq!(r.body, json!({"id": 3}));

    for body in [
        json!({}),
        json!({"name": null}),
        json!({"name": ""}),
        json!({"name": "  "}),
    ] {
        let r = app
            .post("/v1/organizations", &app.admin, body.clone())
            .await;
        assert_eq!(r.status, 400, "{body}: {}", r.text);
        r.bold_error(400, "InvalidInput");
        assert_eq!(r.body["message"], "Missing value: name", "{body}");
    }
    let r = app
        .post("/v1/organizations", &app.admin, json!({"name": 7}))
        .await;
    r.bold_error(400, "InvalidInput");
    assert_eq!(r.body["message"], "Invalid value: name");
    let r = app
        .raw(
            Method::POST,
            "/v1/organizations",
            Some(&app.admin),
            Some("application/json"),
            "name=Acme",
        )
        .await;
    r.bold_error(400, "InvalidInput");
    let r = app
        .send(Method::POST, "/v1/organizations", Some(&app.admin), None)
        .await;
    r.bold_error(400, "InvalidInput");
    assert_eq!(
        ids(&app.get("/v1/organizations", &app.admin).await),
        [1, 2, 3]
    );
}

/// `GET /v1/organizations`: all for the instance admin, only its own for an organization admin;
/// `GET /v1/organizations/{id}`: its own 200, any other 404.
async fn list_and_get_organizations(app: TestApp) {
    let acme = app.create_org("Acme").await;
    let beta = app.create_org("Beta").await;
    let now = start_time().rfc3339();
    let r = app.get("/v1/organizations", &app.admin).await;
    r.expect(200);
    assert_eq!(
        r.body,
        json!([
            {"id": 1, "name": "default", "dateCreated": now, "dateModified": now},
            {"id": acme, "name": "Acme", "dateCreated": now, "dateModified": now},
            {"id": beta, "name": "Beta", "dateCreated": now, "dateModified": now},
        ])
    );
    let admin_acme = app.key(acme, None, false).await;
    let admin_default = app.org_admin().await;
    let r = app.get("/v1/organizations", &admin_acme).await;
    assert_eq!(
        r.body,
        json!([{"id": acme, "name": "Acme", "dateCreated": now, "dateModified": now}])
    );
    assert_eq!(
        ids(&app.get("/v1/organizations", &admin_default).await),
        [1]
    );

    let r = app
        .get(&format!("/v1/organizations/{acme}"), &admin_acme)
        .await;
    r.expect(200);
    assert_eq!(
        r.body,
        json!({"id": acme, "name": "Acme", "dateCreated": now, "dateModified": now})
    );
    for other in [1, beta, 999] {
        let r = app
            .get(&format!("/v1/organizations/{other}"), &admin_acme)
            .await;
        assert_eq!(r.status, 404, "{other}: {}", r.text);
        r.bold_error(404, "OrganizationNotFound");
        assert_eq!(r.body["message"], "Organization not found");
    }
    for id in [1, acme, beta] {
        let r = app
            .get(&format!("/v1/organizations/{id}"), &app.admin)
            .await;
        r.expect(200);
        assert_eq!(r.body["id"], id);
    }
    app.get("/v1/organizations/999", &app.admin)
        .await
        .bold_error(404, "OrganizationNotFound");
    app.get("/v1/organizations/abc", &app.admin)
        .await
        .bold_error(400, "InvalidInput");
    // A user's key sees its own organization too.
    let u = app
        .create_user(&admin_acme, json!({"firstName": "Ann"}))
        .await;
    let user_key = app.key(acme, Some(u), false).await;
    assert_eq!(ids(&app.get("/v1/organizations", &user_key).await), [acme]);
    app.get(&format!("/v1/organizations/{acme}"), &user_key)
        .await
        .expect(200);
    app.get("/v1/organizations/1", &user_key)
        .await
        .bold_error(404, "OrganizationNotFound");
}

/// `GET /v1/organization`: the caller's own organization; none for the instance admin.
async fn own_organization(app: TestApp) {
    let now = start_time().rfc3339();
    let admin = app.org_admin().await;
    let r = app.get("/v1/organization", &admin).await;
    r.expect(200);
    assert_eq!(
        r.body,
        json!({"id": 1, "name": "default", "dateCreated": now, "dateModified": now})
    );
    let acme = app.create_org("Acme").await;
    let admin_acme = app.key(acme, None, true).await;
    let r = app.get("/v1/organization", &admin_acme).await;
    r.expect(200);
    assert_eq!(r.body["id"], acme);
    assert_eq!(r.body["name"], "Acme");
    let u = app.create_user(&admin, json!({"firstName": "Ann"})).await;
    let user_key = app.key(1, Some(u), false).await;
    let r = app.get("/v1/organization", &user_key).await;
    r.expect(200);
    assert_eq!(r.body["id"], 1);

    let r = app.get("/v1/organization", &app.admin).await;
    r.bold_error(404, "OrganizationNotFound");
    assert_eq!(r.body["message"], "Organization not found");
}

/// `POST /v1/api-keys` → 201 `{"id", "token"}`, the token lowercase UUID v4 text that works at
/// once.
async fn create_api_key(app: TestApp) {
    let r = app
        .post(
            "/v1/api-keys",
            &app.admin,
            json!({"name": "ops", "organizationId": 1}),
        )
        .await;
    r.expect(201);
    let obj = r.body.as_object().expect("object");
    assert_eq!(
        obj.keys().collect::<Vec<_>>(),
        ["id", "token"],
        "{}",
        r.text
    );
    let id = r.body["id"].as_i64().unwrap();
    let token = r.body["token"].as_str().unwrap().to_owned();
    assert_uuid_v4(&token);
    assert_ne!(token, app.admin);
    let r = app.get("/v1/organization", &token).await;
    r.expect(200);
    assert_eq!(r.body["id"], 1);
    // It acts as an organization admin.
    let u = app
        .create_user(&token, json!({"firstName": "Ann", "superUser": true}))
        .await;
    assert_eq!(ids(&app.get("/v2/users", &token).await), [u]);

    // An organization admin makes keys in its own organization (the default).
    let (id2, token2) = new_key(&app, &token, json!({"name": "second"})).await;
    assert_uuid_v4(&token2);
    assert_ne!(token2, token);
    assert!(id2 > id);
    let r = app.get("/v1/api-keys", &app.admin).await;
    let k2 = r
        .body
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["id"] == id2)
        .unwrap();
    assert_eq!(k2["organizationId"], 1);
    assert_eq!(k2["name"], "second");
    assert_eq!(k2["readOnly"], false);
    assert_eq!(k2["userId"], Value::Null);
    // A key bound to a user of the organization, read-only.
    let (id3, token3) = new_key(
        &app,
        &token,
        json!({"name": "ann", "userId": u, "readOnly": true}),
    )
    .await;
    assert_uuid_v4(&token3);
    let r = app.get("/v1/api-keys", &app.admin).await;
    let k3 = r
        .body
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["id"] == id3)
        .unwrap();
    assert_eq!(k3["userId"], u);
    assert_eq!(k3["readOnly"], true);
    let r = app.get(&format!("/v2/users/{u}"), &token3).await;
    r.expect(200);
    assert_eq!(r.body["firstName"], "Ann");

    // With an expiration, given with a zone: kept as that instant.
    let (id4, _) = new_key(
        &app,
        &app.admin,
        json!({"name": "temp", "organizationId": 1, "expiration": "2026-04-16T11:38:37+02:00"}),
    )
    .await;
    let r = app.get("/v1/api-keys", &app.admin).await;
    let k4 = r
        .body
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["id"] == id4)
        .unwrap();
    assert_eq!(k4["expiration"], "2026-04-16T09:38:37Z");
    // Other ISO 8601 forms a Java client sends: no seconds, an offset without a colon.
    let (id5, _) = new_key(
        &app,
        &app.admin,
        json!({"name": "java", "organizationId": 1, "expiration": "2026-04-16T11:38+0200"}),
    )
    .await;
    let r = app.get("/v1/api-keys", &app.admin).await;
    let k5 = r
        .body
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["id"] == id5)
        .unwrap();
    assert_eq!(k5["expiration"], "2026-04-16T09:38:00Z");

    // A key needs a name, as an organization does.
    let before = ids(&app.get("/v1/api-keys", &app.admin).await);
    for body in [
        json!({"organizationId": 1}),
        json!({"name": null, "organizationId": 1}),
        json!({"name": "", "organizationId": 1}),
        json!({"name": "  ", "organizationId": 1}),
    ] {
        let r = app.post("/v1/api-keys", &app.admin, body.clone()).await;
        r.bold_error(400, "InvalidInput");
        assert_eq!(r.body["message"], "Missing value: name", "{body}");
    }
    assert_eq!(ids(&app.get("/v1/api-keys", &app.admin).await), before);
}

/// `GET /v1/api-keys` never shows a secret (nor its hash), and an organization admin sees only
/// its organization's keys.
async fn list_api_keys(app: TestApp) {
    let acme = app.create_org("Acme").await;
    let (k1, t1) = new_key(
        &app,
        &app.admin,
        json!({"name": "one", "organizationId": 1}),
    )
    .await;
    let (k2, t2) = new_key(
        &app,
        &app.admin,
        json!({"name": "two", "organizationId": 1, "readOnly": true}),
    )
    .await;
    let (k3, t3) = new_key(
        &app,
        &app.admin,
        json!({"name": "acme", "organizationId": acme}),
    )
    .await;
    let secrets = [app.admin.clone(), t1.clone(), t2.clone(), t3.clone()];

    let all = app.get("/v1/api-keys", &app.admin).await;
    let listed = ids(&all);
    for k in [k1, k2, k3] {
        assert!(listed.contains(&k), "{k} in {}", all.text);
    }
    // The bootstrap key is listed too, as instance admin.
    let boot = all
        .body
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["instanceAdmin"] == true)
        .unwrap_or_else(|| panic!("no instance admin key: {}", all.text));
    assert_eq!(boot["organizationId"], Value::Null);
    assert_eq!(listed.len(), 4, "{}", all.text);

    let of_default = app.get("/v1/api-keys", &t1).await;
    assert_eq!(ids(&of_default), [k1, k2]);
    let k = &of_default.body[1];
    assert_eq!(
        k,
        &json!({
            "id": k2,
            "name": "two",
            "organizationId": 1,
            "userId": null,
            "readOnly": true,
            "instanceAdmin": false,
            "expiration": null,
            "dateCreated": start_time().rfc3339(),
        })
    );
    let of_acme = app.get("/v1/api-keys", &t3).await;
    assert_eq!(ids(&of_acme), [k3]);
    // A read-only admin may list.
    assert_eq!(ids(&app.get("/v1/api-keys", &t2).await), [k1, k2]);

    for r in [&all, &of_default, &of_acme] {
        for s in &secrets {
            assert!(!r.text.contains(s.as_str()), "secret in {}", r.text);
            let hash = usher_core::secrets::hash_secret(s);
            assert!(!r.text.contains(&hash), "hash in {}", r.text);
            assert!(!r.text.to_lowercase().contains("token"), "{}", r.text);
            assert!(!r.text.to_lowercase().contains("secret"), "{}", r.text);
        }
    }
}

/// `DELETE /v1/api-keys/{id}` → `{}`, then 404; keys of other organizations are not found.
async fn delete_api_key(app: TestApp) {
    let acme = app.create_org("Acme").await;
    let admin = app.org_admin().await;
    let (k1, t1) = new_key(&app, &admin, json!({"name": "one"})).await;
    let (k_acme, t_acme) = new_key(
        &app,
        &app.admin,
        json!({"name": "acme", "organizationId": acme}),
    )
    .await;

    let r = app.delete(&format!("/v1/api-keys/{k1}"), &admin).await;
    r.expect(200);
    assert_eq!(r.text, "{}");
    let r = app.delete(&format!("/v1/api-keys/{k1}"), &admin).await;
    r.bold_error(404, "ApiKeyNotFound");
    assert_eq!(r.body["message"], "API key not found");
    app.get("/v1/organization", &t1)
        .await
        .bold_error(401, "InvalidToken");
    app.delete("/v1/api-keys/999", &admin)
        .await
        .bold_error(404, "ApiKeyNotFound");
    app.delete("/v1/api-keys/abc", &admin)
        .await
        .bold_error(400, "InvalidInput");

    // Another organization's key, and the instance-admin key, are not found for an org admin.
    app.delete(&format!("/v1/api-keys/{k_acme}"), &admin)
        .await
        .bold_error(404, "ApiKeyNotFound");
    let boot = app
        .get("/v1/api-keys", &app.admin)
        .await
        .body
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["instanceAdmin"] == true)
        .unwrap()["id"]
        .as_i64()
        .unwrap();
    app.delete(&format!("/v1/api-keys/{boot}"), &admin)
        .await
        .bold_error(404, "ApiKeyNotFound");
    app.get("/v1/organizations", &app.admin).await.expect(200);
    app.get("/v1/organization", &t_acme).await.expect(200);

    // The instance admin deletes any key; a key may delete itself.
    let r = app
        .delete(&format!("/v1/api-keys/{k_acme}"), &app.admin)
        .await;
    r.expect(200);
    assert_eq!(r.body, json!({}));
    app.get("/v1/organization", &t_acme)
        .await
        .bold_error(401, "InvalidToken");
    let (k_self, t_self) = new_key(&app, &admin, json!({"name": "self"})).await;
    let r = app.delete(&format!("/v1/api-keys/{k_self}"), &t_self).await;
    r.expect(200);
    app.get("/v1/organization", &t_self)
        .await
        .bold_error(401, "InvalidToken");
    let left = ids(&app.get("/v1/api-keys", &app.admin).await);
    assert!(!left.contains(&k1) && !left.contains(&k_acme) && !left.contains(&k_self));
    assert!(left.contains(&boot));
}

/// Bad key requests: an expiration without a timezone or in the past, a user of another
/// organization, unknown organizations and users.
async fn api_key_validation(app: TestApp) {
    let acme = app.create_org("Acme").await;
    let admin = app.org_admin().await;
    let admin_acme = app.key(acme, None, false).await;
    let u_acme = app
        .create_user(&admin_acme, json!({"firstName": "Ann"}))
        .await;
    let before = ids(&app.get("/v1/api-keys", &app.admin).await);

    for exp in [
        "2026-03-18T10:00:00",
        "2026-03-18",
        "tomorrow",
        "2026-03-18 10:00:00",
    ] {
        let r = app
            .post(
                "/v1/api-keys",
                &admin,
                json!({"name": "k", "expiration": exp}),
            )
            .await;
        assert_eq!(r.status, 400, "{exp}: {}", r.text);
        r.bold_error(400, "InvalidInput");
        assert!(
            r.body["message"]
                .as_str()
                .unwrap()
                .ends_with(": expiration"),
            "{}",
            r.text
        );
    }
    let past = start_time().plus(chrono::Duration::hours(-1)).rfc3339();
    let r = app
        .post(
            "/v1/api-keys",
            &admin,
            json!({"name": "k", "expiration": past}),
        )
        .await;
    r.bold_error(400, "InvalidInput");
    assert!(
        r.body["message"].as_str().unwrap().contains("expiration"),
        "{}",
        r.text
    );

    // A user of another organization, or of none.
    let r = app
        .post(
            "/v1/api-keys",
            &admin,
            json!({"name": "k", "userId": u_acme}),
        )
        .await;
    r.bold_error(404, "UserNotFound");
    let r = app
        .post(
            "/v1/api-keys",
            &app.admin,
            json!({"name": "k", "organizationId": 1, "userId": u_acme}),
        )
        .await;
    r.bold_error(404, "UserNotFound");
    let r = app
        .post("/v1/api-keys", &admin, json!({"name": "k", "userId": 999}))
        .await;
    r.bold_error(404, "UserNotFound");
    // Organizations: unknown, other, or missing for the instance admin.
    let r = app
        .post(
            "/v1/api-keys",
            &app.admin,
            json!({"name": "k", "organizationId": 999}),
        )
        .await;
    r.bold_error(404, "OrganizationNotFound");
    let r = app
        .post(
            "/v1/api-keys",
            &admin,
            json!({"name": "k", "organizationId": acme}),
        )
        .await;
    r.bold_error(404, "OrganizationNotFound");
    let r = app
        .post("/v1/api-keys", &app.admin, json!({"name": "k"}))
        .await;
    r.bold_error(400, "InvalidInput");
    assert_eq!(r.body["message"], "Missing value: organizationId");
    // Wrong types.
    for body in [
        json!({"name": "k", "readOnly": "yes"}),
        json!({"name": "k", "organizationId": "1"}),
        json!({"name": "k", "userId": "1"}),
        json!({"name": 1}),
        json!(["k"]),
    ] {
        let r = app.post("/v1/api-keys", &admin, body.clone()).await;
        assert_eq!(r.status, 400, "{body}: {}", r.text);
        r.bold_error(400, "InvalidInput");
    }
    // None of those made a key.
    assert_eq!(ids(&app.get("/v1/api-keys", &app.admin).await), before);
}

both_backends!(
    create_organization,
    list_and_get_organizations,
    own_organization,
    create_api_key,
    list_api_keys,
    delete_api_key,
    api_key_validation,
);
