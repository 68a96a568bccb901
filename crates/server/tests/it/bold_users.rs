//! `/v2/users`: every status of every route, on both databases.

use reqwest::Method;
use serde_json::{Value, json};
use usher_core::types::UserId;

use crate::support::*;

fn is_uuid_v4(s: &str) -> bool {
    uuid::Uuid::parse_str(s).is_ok_and(|u| u.get_version_num() == 4)
        && s == s.to_lowercase()
        && s.len() == 36
}

async fn create_answers_201_with_invitation_and_token(app: TestApp) {
    let admin = app.org_admin().await;
    let r = app
        .post(
            "/v2/users",
            &admin,
            json!({"firstName": "Ann", "lastName": "Lee", "emailAddress": "ann@example.com",
                   "invitation": {"language": "nl", "sendEmail": true}}),
        )
        .await;
    r.expect(201);
    let body = r.body.as_object().unwrap();
    assert_eq!(
        body.keys().collect::<Vec<_>>(),
        ["userId", "invitation", "token"]
    );
    let token = r.body["token"].as_str().unwrap();
    assert!(is_uuid_v4(token), "{token}");
    assert_eq!(
        r.body["invitation"]["url"],
        format!("{PUBLIC_URL}/invite/{token}")
    );
    // Default lifetime: 72 hours from now (the injected clock).
    let expected = start_time().plus(chrono::Duration::hours(72)).rfc3339();
    assert_eq!(r.body["invitation"]["expiration"], expected);
    assert_eq!(r.body["invitation"].as_object().unwrap().len(), 2);

    let id = r.body["userId"].as_i64().unwrap();
    let u = app.get(&format!("/v2/users/{id}"), &admin).await;
    u.expect(200);
    assert_eq!(
        u.body,
        json!({
            "id": id, "organizationId": 1, "firstName": "Ann", "lastName": "Lee",
            "emailAddress": "ann@example.com", "emailAddressVerify": false,
            "emailAddressVerified": false, "phoneNumber": null, "phoneNumberVerify": false,
            "phoneNumberVerified": false, "superUser": false, "description": null, "remarks": null,
            "externalId": null, "clientId": null, "autoRemoveAfter": null, "autoRemoveDate": null,
            "autoEmailMatch": false, "requireEmailMatch": false, "authOrganizationId": null,
            "emailMatchCredentialFilter": false, "registered": false,
            "dateCreated": start_time().rfc3339(), "dateModified": start_time().rfc3339(),
            "invitation": {"token": token, "url": format!("{PUBLIC_URL}/invite/{token}"),
                           "expiration": expected, "language": "nl"}
        })
    );
    // The key order is the documented one.
    let keys: Vec<&str> = u
        .body
        .as_object()
        .unwrap()
        .keys()
        .map(|k| k.as_str())
        .collect();
    assert_eq!(
        keys,
        [
            "id",
            "organizationId",
            "firstName",
            "lastName",
            "emailAddress",
            "emailAddressVerify",
            "emailAddressVerified",
            "phoneNumber",
            "phoneNumberVerify",
            "phoneNumberVerified",
            "superUser",
            "description",
            "remarks",
            "externalId",
            "clientId",
            "autoRemoveAfter",
            "autoRemoveDate",
            "autoEmailMatch",
            "requireEmailMatch",
            "authOrganizationId",
            "emailMatchCredentialFilter",
            "registered",
            "dateCreated",
            "dateModified",
            "invitation"
        ]
    );

    // The invitation email is in the outbox, committed with the user.
    let outbox = app
        .services()
        .store()
        .outbox(Some(UserId(id)))
        .await
        .unwrap();
    assert_eq!(outbox.len(), 1);
    assert_eq!(outbox[0].message.template, "invitation");
    assert_eq!(outbox[0].message.language.as_str(), "nl");
    assert_eq!(outbox[0].message.recipient, "ann@example.com");
    assert_eq!(
        outbox[0].message.params["url"],
        format!("{PUBLIC_URL}/invite/{token}")
    );

    // Without an invitation the answer is only the id.
    let r = app
        .post("/v2/users", &admin, json!({"firstName": "Bob"}))
        .await;
    r.expect(201);
    assert_eq!(r.body, json!({"userId": id + 1}));
    assert!(
        app.services()
            .store()
            .outbox(Some(UserId(id + 1)))
            .await
            .unwrap()
            .is_empty()
    );
}

async fn create_with_every_field(app: TestApp) {
    let admin = app.org_admin().await;
    let id = app
        .create_user(
            &admin,
            json!({
                "organizationId": 1, "firstName": "Cara", "lastName": "Diaz",
                "phoneNumber": "+31850607337", "phoneNumberVerify": false,
                "emailAddress": "Cara@Example.com", "emailAddressVerify": false,
                "description": "desc", "remarks": "rem", "superUser": true, "externalId": "ext-1",
                "clientId": 77, "autoRemoveAfter": "MONTH", "autoEmailMatch": true,
                "requireEmailMatch": true, "authOrganizationId": "auth-9",
                "emailMatchCredentialFilter": true,
                "invitation": {"language": "ar", "expiration": "2026-03-20T13:53:02+02:00", "sendSms": true},
                "someUnknownField": {"ignored": true}
            }),
        )
        .await;
    let u = app.get(&format!("/v2/users/{id}"), &admin).await;
    let b = &u.body;
    assert_eq!(b["phoneNumber"], "+31850607337");
    assert_eq!(b["emailAddress"], "Cara@Example.com");
    assert_eq!(b["superUser"], true);
    assert_eq!(b["externalId"], "ext-1");
    assert_eq!(b["clientId"], 77);
    assert_eq!(b["autoRemoveAfter"], "MONTH");
    assert_eq!(b["autoRemoveDate"], "2026-04-17T09:38:37.991821898Z");
    assert_eq!(b["autoEmailMatch"], true);
    assert_eq!(b["requireEmailMatch"], true);
    assert_eq!(b["authOrganizationId"], "auth-9");
    assert_eq!(b["emailMatchCredentialFilter"], true);
    assert_eq!(b["invitation"]["language"], "ar");
    assert_eq!(b["invitation"]["expiration"], "2026-03-20T11:53:02Z");
    let outbox = app
        .services()
        .store()
        .outbox(Some(UserId(id)))
        .await
        .unwrap();
    assert_eq!(outbox.len(), 1);
    assert_eq!(outbox[0].message.channel, usher_core::model::Channel::Sms);
    assert_eq!(outbox[0].message.recipient, "+31850607337");
}

async fn create_sends_verifications_when_asked(app: TestApp) {
    let admin = app.org_admin().await;
    let id = app
        .create_user(
            &admin,
            json!({"emailAddress": "v@example.com", "emailAddressVerify": true,
                   "phoneNumber": "+41791234567", "phoneNumberVerify": true}),
        )
        .await;
    let outbox = app
        .services()
        .store()
        .outbox(Some(UserId(id)))
        .await
        .unwrap();
    let mut templates: Vec<&str> = outbox.iter().map(|m| m.message.template.as_str()).collect();
    templates.sort();
    assert_eq!(templates, ["email_verification", "phone_verification"]);
    let email = outbox
        .iter()
        .find(|m| m.message.template == "email_verification")
        .unwrap();
    let code = email.message.params["code"].as_str().unwrap();
    assert_eq!(code.len(), 6);
    assert!(
        code.bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit()),
        "{code}"
    );
    assert_eq!(
        email.message.params["url"],
        format!("{PUBLIC_URL}/verify-email?userId={id}&code={code}")
    );
    // Codes are stored only as hashes, and expire after an hour.
    let codes = app.services().store().codes(UserId(id)).await.unwrap();
    assert_eq!(codes.len(), 2);
    for c in &codes {
        assert_ne!(c.code_hash, code);
        assert_eq!(c.code_hash.len(), 64);
        assert_eq!(c.expires_at, start_time().plus(chrono::Duration::hours(1)));
    }
    let u = app.get(&format!("/v2/users/{id}"), &admin).await;
    assert_eq!(u.body["emailAddressVerify"], true);
    assert_eq!(u.body["phoneNumberVerify"], true);
    assert_eq!(u.body["emailAddressVerified"], false);
}

async fn create_rejects_each_bad_field(app: TestApp) {
    let admin = app.org_admin().await;
    let cases: Vec<(Value, &str)> = vec![
        (
            json!({"firstName": "A", "phoneNumber": "0612345678"}),
            "Invalid phone number: phoneNumber",
        ),
        (
            json!({"firstName": "A", "phoneNumber": "+3185060733"}),
            "Invalid phone number: phoneNumber",
        ),
        (
            json!({"emailAddress": "charlie-example.com"}),
            "Invalid email address: emailAddress",
        ),
        (
            json!({"firstName": "A", "invitation": {"language": "pt"}}),
            "Invalid language: invitation.language",
        ),
        (
            json!({"firstName": "A", "invitation": {"expiration": "2026-06-23T13:53:02"}}),
            "Invalid date/time: invitation.expiration",
        ),
        (
            json!({"firstName": "A", "autoRemoveAfter": "DAY"}),
            "Invalid period: autoRemoveAfter",
        ),
        (
            json!({"firstName": "x".repeat(201)}),
            "Value too long: firstName",
        ),
        (
            json!({"firstName": "A", "superUser": "yes"}),
            "Invalid value: superUser",
        ),
        (
            json!({"firstName": "A", "organizationId": "one"}),
            "Invalid value: organizationId",
        ),
        (
            json!({"firstName": "A", "invitation": {"sendEmail": 1}}),
            "Invalid value: invitation.sendEmail",
        ),
        (json!({"description": "nobody"}), "Missing value: firstName"),
        // A first name, an email address or a phone number (spec/bold.md): a last name alone or
        // a first name of spaces is nobody.
        (json!({"lastName": "X"}), "Missing value: firstName"),
        (
            json!({"firstName": "  ", "emailAddress": ""}),
            "Missing value: firstName",
        ),
        // Past the last instant the store keeps (2262-04-11T23:47:16.854775807Z).
        (
            json!({"firstName": "A", "invitation": {"expiration": "2300-01-01T00:00:00Z"}}),
            "Invalid date/time: invitation.expiration",
        ),
        (
            json!({"firstName": "A", "invitation": {"sendEmail": true}}),
            "An invitation sent by email needs an email address: invitation.sendEmail",
        ),
        (
            json!({"firstName": "A", "invitation": {"sendSms": true}}),
            "An invitation sent by SMS needs a phone number: invitation.sendSms",
        ),
        (
            json!({"firstName": "A", "invitation": {"expiration": "2020-01-01T00:00:00Z"}}),
            "The expiration must be in the future: invitation.expiration",
        ),
        (
            json!({"emailAddress": "bad", "phoneNumber": "bad"}),
            "Invalid email address: emailAddress; Invalid phone number: phoneNumber",
        ),
    ];
    for (body, message) in cases {
        let r = app.post("/v2/users", &admin, body.clone()).await;
        r.bold_error(400, "InvalidInput");
        assert_eq!(r.body["message"], message, "for {body}");
    }
    for (raw, message) in [
        ("{not json", "Invalid JSON body"),
        ("[1, 2]", "The body must be a JSON object"),
        ("", "A JSON body is required"),
        ("{\"firstName\": \"A\"} trailing", "Invalid JSON body"),
    ] {
        let r = app
            .raw(
                Method::POST,
                "/v2/users",
                Some(&admin),
                Some("application/json"),
                raw,
            )
            .await;
        r.bold_error(400, "InvalidInput");
        assert_eq!(r.body["message"], message, "for {raw:?}");
    }
    // An instance-admin key must name the organization.
    let r = app
        .post("/v2/users", &app.admin, json!({"firstName": "A"}))
        .await;
    r.bold_error(400, "InvalidInput");
    assert_eq!(r.body["message"], "Missing value: organizationId");
    let r = app
        .post(
            "/v2/users",
            &app.admin,
            json!({"firstName": "A", "organizationId": 99}),
        )
        .await;
    r.bold_error(404, "OrganizationNotFound");
    let r = app
        .post(
            "/v2/users?userGroupId=abc",
            &admin,
            json!({"firstName": "A"}),
        )
        .await;
    r.bold_error(400, "InvalidInput");
    let r = app
        .post(
            "/v2/users?groupAdmin=true",
            &admin,
            json!({"firstName": "A"}),
        )
        .await;
    r.bold_error(400, "InvalidInput");
    let r = app
        .post(
            "/v2/users?userGroupId=42",
            &admin,
            json!({"firstName": "A"}),
        )
        .await;
    r.bold_error(404, "UserGroupNotFound");
    // Nothing of the refused requests was written.
    let users = app.get("/v2/users", &admin).await;
    assert_eq!(users.body, json!([]));
}

async fn duplicates_are_409_with_the_existing_id(app: TestApp) {
    let admin = app.org_admin().await;
    let first = app
        .create_user(
            &admin,
            json!({"firstName": "A", "emailAddress": "dup@example.com"}),
        )
        .await;
    let r = app
        .post(
            "/v2/users",
            &admin,
            json!({"firstName": "B", "emailAddress": "DUP@example.COM"}),
        )
        .await;
    r.bold_error(409, "AlreadyExists");
    assert_eq!(r.body["userId"], first);
    assert_eq!(r.body["message"], "User or user-invite already exists");

    let phone = app
        .create_user(
            &admin,
            json!({"firstName": "P", "phoneNumber": "+41791234567"}),
        )
        .await;
    let r = app
        .post(
            "/v2/users",
            &admin,
            json!({"firstName": "Q", "phoneNumber": "+41791234567"}),
        )
        .await;
    r.bold_error(409, "AlreadyExists");
    assert_eq!(r.body["userId"], phone);
    // With an email address, the phone number is no longer the identity.
    app.create_user(
        &admin,
        json!({"phoneNumber": "+41791234567", "emailAddress": "q@example.com"}),
    )
    .await;

    // The same address in another organization is a different user.
    let org = app.create_org("other").await;
    let other_admin = app.key(org, None, false).await;
    let other = app
        .create_user(&other_admin, json!({"emailAddress": "dup@example.com"}))
        .await;
    assert_ne!(other, first);

    // Changing an address to a taken one is a 409 too.
    let r = app
        .put(
            &format!("/v2/users/{phone}"),
            &admin,
            json!({"emailAddress": "dup@example.com"}),
        )
        .await;
    r.bold_error(409, "AlreadyExists");
    assert_eq!(r.body["userId"], first);
}

async fn update_is_partial(app: TestApp) {
    let admin = app.org_admin().await;
    let id = app
        .create_user(
            &admin,
            json!({"firstName": "Ann", "lastName": "Lee", "emailAddress": "ann@example.com",
                   "phoneNumber": "+31850607337", "description": "d", "externalId": "x1"}),
        )
        .await;
    let path = format!("/v2/users/{id}");
    let events_before = app
        .services()
        .store()
        .audit_events("user", id)
        .await
        .unwrap()
        .len();

    // Nothing different: 200 with the id, nothing written.
    let r = app
        .put(&path, &admin, json!({"firstName": "Ann", "unknown": 1}))
        .await;
    r.expect(200);
    assert_eq!(r.text, id.to_string());
    assert_eq!(
        app.services()
            .store()
            .audit_events("user", id)
            .await
            .unwrap()
            .len(),
        events_before
    );

    app.clock.advance(chrono::Duration::minutes(5));
    let r = app
        .put(
            &path,
            &admin,
            json!({"lastName": null, "description": "", "remarks": "r", "clientId": 9,
                   "autoRemoveAfter": "WEEK", "superUser": true, "authOrganizationId": "a"}),
        )
        .await;
    r.expect(200);
    let u = app.get(&path, &admin).await.body;
    assert_eq!(u["firstName"], "Ann");
    assert_eq!(u["lastName"], Value::Null);
    assert_eq!(u["description"], Value::Null);
    assert_eq!(u["remarks"], "r");
    assert_eq!(u["clientId"], 9);
    assert_eq!(u["externalId"], "x1");
    assert_eq!(u["superUser"], true);
    assert_eq!(u["authOrganizationId"], "a");
    let now = start_time().plus(chrono::Duration::minutes(5));
    assert_eq!(
        u["autoRemoveDate"],
        now.plus(chrono::Duration::weeks(1)).rfc3339()
    );
    assert_eq!(u["dateModified"], now.rfc3339());
    assert_eq!(u["dateCreated"], start_time().rfc3339());

    let events = app
        .services()
        .store()
        .audit_events("user", id)
        .await
        .unwrap();
    let last = events.last().unwrap();
    assert_eq!(last.event_type, "user.updated");
    assert_eq!(last.sequence, Some(2));
    assert!(
        last.fields.contains(&"last_name".to_owned())
            && last.fields.contains(&"super_user".to_owned())
    );

    // null clears the removal period and its date; a new address is unverified.
    let r = app
        .put(
            &path,
            &admin,
            json!({"autoRemoveAfter": null, "emailAddress": "new@example.com"}),
        )
        .await;
    r.expect(200);
    let u = app.get(&path, &admin).await.body;
    assert_eq!(u["autoRemoveAfter"], Value::Null);
    assert_eq!(u["autoRemoveDate"], Value::Null);
    assert_eq!(u["emailAddress"], "new@example.com");
    assert_eq!(u["emailAddressVerified"], false);

    // Asking for verification sends a link.
    let r = app
        .put(&path, &admin, json!({"emailAddressVerify": true}))
        .await;
    r.expect(200);
    let outbox = app
        .services()
        .store()
        .outbox(Some(UserId(id)))
        .await
        .unwrap();
    assert_eq!(
        outbox.last().unwrap().message.template,
        "email_verification"
    );
    assert_eq!(outbox.last().unwrap().message.recipient, "new@example.com");
}

async fn update_errors(app: TestApp) {
    let admin = app.org_admin().await;
    let id = app.create_user(&admin, json!({"firstName": "A"})).await;
    let path = format!("/v2/users/{id}");
    for (body, message) in [
        (
            json!({"phoneNumber": "+1"}),
            "Invalid phone number: phoneNumber",
        ),
        (
            json!({"emailAddress": "nope"}),
            "Invalid email address: emailAddress",
        ),
        (
            json!({"autoRemoveAfter": "week"}),
            "Invalid period: autoRemoveAfter",
        ),
        (json!({"clientId": "x"}), "Invalid value: clientId"),
        (json!({"firstName": 5}), "Invalid value: firstName"),
        (
            json!({"lastName": "y".repeat(201)}),
            "Value too long: lastName",
        ),
    ] {
        let r = app.put(&path, &admin, body).await;
        r.bold_error(400, "InvalidInput");
        assert_eq!(r.body["message"], message);
    }
    app.put("/v2/users/999", &admin, json!({"firstName": "X"}))
        .await
        .bold_error(404, "UserNotFound");
    app.put("/v2/users/abc", &admin, json!({"firstName": "X"}))
        .await
        .bold_error(400, "InvalidInput");
    let r = app
        .send(Method::PUT, &path, None, Some(&json!({"firstName": "X"})))
        .await;
    r.bold_error(401, "InvalidToken");
    let r = app
        .send(
            Method::PUT,
            &path,
            Some("b5850315-ddba-4d87-ad09-57f42c10636f"),
            Some(&json!({})),
        )
        .await;
    r.bold_error(401, "InvalidToken");
    // The user is untouched by all of it.
    assert_eq!(app.get(&path, &admin).await.body["firstName"], "A");

    // The create rule holds for updates: a first name, email address or phone number stays.
    for body in [
        json!({"firstName": null}),
        json!({"firstName": ""}),
        json!({"firstName": "   ", "lastName": "Only"}),
        json!({"firstName": null, "emailAddress": null, "phoneNumber": ""}),
    ] {
        let r = app.put(&path, &admin, body.clone()).await;
        r.bold_error(400, "InvalidInput");
        assert_eq!(r.body["message"], "Missing value: firstName", "{body}");
    }
    assert_eq!(app.get(&path, &admin).await.body["firstName"], "A");
    // Another of the three may take the first name's place, in the same request or before.
    app.put(
        &path,
        &admin,
        json!({"firstName": null, "phoneNumber": "+31850607337"}),
    )
    .await
    .expect(200);
    let r = app.get(&path, &admin).await;
    assert_eq!(r.body["firstName"], Value::Null);
    assert_eq!(r.body["phoneNumber"], "+31850607337");
    let r = app.put(&path, &admin, json!({"phoneNumber": null})).await;
    r.bold_error(400, "InvalidInput");
    app.put(
        &path,
        &admin,
        json!({"emailAddress": "a@example.com", "phoneNumber": null}),
    )
    .await
    .expect(200);
    let r = app.get(&path, &admin).await;
    assert_eq!(r.body["phoneNumber"], Value::Null);
    assert_eq!(r.body["emailAddress"], "a@example.com");
}

async fn list_filters_sorts_and_pages(app: TestApp) {
    let admin = app.org_admin().await;
    let names = [
        ("Zoe", "Adams", "zoe@example.com"),
        ("amy", "Brown", "amy@test.org"),
        ("Bob", "Clark", "bob@example.com"),
    ];
    let mut ids = Vec::new();
    for (i, (f, l, e)) in names.iter().enumerate() {
        ids.push(
            app.create_user(&admin, json!({"firstName": f, "lastName": l, "emailAddress": e, "externalId": format!("e{i}")}))
                .await,
        );
        app.clock.advance(chrono::Duration::seconds(1));
    }
    let only = app
        .create_user(&admin, json!({"phoneNumber": "+41791234567"}))
        .await;
    let other_org = app.create_org("other").await;
    let other = app.key(other_org, None, false).await;
    app.create_user(
        &other,
        json!({"firstName": "Zoe", "emailAddress": "zoe@example.com"}),
    )
    .await;

    let list_ids = |r: &Resp| -> Vec<i64> {
        r.body
            .as_array()
            .unwrap()
            .iter()
            .map(|u| u["id"].as_i64().unwrap())
            .collect()
    };
    let r = app.get("/v2/users", &admin).await;
    r.expect(200);
    assert_eq!(list_ids(&r), [ids[0], ids[1], ids[2], only]);
    assert_eq!(
        list_ids(&app.get("/v2/users?search=EXAMPLE", &admin).await),
        [ids[0], ids[2]]
    );
    assert_eq!(
        list_ids(&app.get("/v2/users?search=clark", &admin).await),
        [ids[2]]
    );
    assert_eq!(
        list_ids(&app.get("/v2/users?search=%2B4179", &admin).await),
        [only]
    );
    assert_eq!(
        list_ids(&app.get("/v2/users?search=%25", &admin).await),
        Vec::<i64>::new()
    );
    assert_eq!(
        list_ids(&app.get("/v2/users?externalId=e1", &admin).await),
        [ids[1]]
    );
    assert_eq!(
        list_ids(
            &app.get("/v2/users?sortBy=lastName&sortDirection=Desc", &admin)
                .await
        ),
        [ids[2], ids[1], ids[0], only]
    );
    assert_eq!(
        list_ids(&app.get("/v2/users?sortBy=emailAddress", &admin).await),
        [ids[1], ids[2], ids[0], only]
    );
    assert_eq!(
        list_ids(
            &app.get(
                "/v2/users?sortBy=dateCreated&sortDirection=Desc&size=2",
                &admin
            )
            .await
        ),
        [only, ids[2]]
    );
    assert_eq!(
        list_ids(&app.get("/v2/users?offset=1&size=2", &admin).await),
        [ids[1], ids[2]]
    );
    assert_eq!(
        list_ids(&app.get("/v2/users?offset=10", &admin).await),
        Vec::<i64>::new()
    );
    // The instance admin sees everyone, or one organization.
    assert_eq!(list_ids(&app.get("/v2/users", &app.admin).await).len(), 5);
    assert_eq!(
        list_ids(
            &app.get(&format!("/v2/users?organizationId={other_org}"), &app.admin)
                .await
        )
        .len(),
        1
    );

    let g = app
        .post("/v1/user-groups", &admin, json!({"name": "G"}))
        .await
        .text
        .parse::<i64>()
        .unwrap();
    app.post(
        &format!("/v1/user-groups/{g}/users/{}", ids[1]),
        &admin,
        json!({}),
    )
    .await
    .expect(200);
    assert_eq!(
        list_ids(&app.get(&format!("/v2/users?userGroupId={g}"), &admin).await),
        [ids[1]]
    );

    for q in [
        "size=101",
        "size=0",
        "offset=-1",
        "sortDirection=asc",
        "sortBy=phone",
        "size=x",
    ] {
        app.get(&format!("/v2/users?{q}"), &admin)
            .await
            .bold_error(400, "InvalidInput");
    }
    app.get(&format!("/v2/users?organizationId={other_org}"), &admin)
        .await
        .bold_error(404, "OrganizationNotFound");
}

async fn delete_removes_user_keeps_audit(app: TestApp) {
    let admin = app.org_admin().await;
    let id = app
        .create_user(
            &admin,
            json!({"emailAddress": "gone@example.com", "invitation": {"sendEmail": true}}),
        )
        .await;
    let token = app.get(&format!("/v2/users/{id}"), &admin).await.body["invitation"]["token"]
        .as_str()
        .unwrap()
        .to_owned();
    let r = app.delete(&format!("/v2/users/{id}"), &admin).await;
    r.expect(200);
    assert_eq!(r.text, "{}");
    app.get(&format!("/v2/users/{id}"), &admin)
        .await
        .bold_error(404, "UserNotFound");
    app.delete(&format!("/v2/users/{id}"), &admin)
        .await
        .bold_error(404, "UserNotFound");
    assert!(
        app.services()
            .store()
            .invitation_by_token(&token)
            .await
            .unwrap()
            .is_none()
    );
    let events = app
        .services()
        .store()
        .audit_events("user", id)
        .await
        .unwrap();
    let types: Vec<&str> = events.iter().map(|e| e.event_type.as_str()).collect();
    assert_eq!(types, ["user.created", "user.deleted"]);
    // The address is free again.
    app.create_user(&admin, json!({"emailAddress": "gone@example.com"}))
        .await;
}

async fn invitation_update(app: TestApp) {
    let admin = app.org_admin().await;
    let id = app
        .create_user(
            &admin,
            json!({"firstName": "I", "emailAddress": "i@example.com"}),
        )
        .await;
    let path = format!("/v2/users/{id}/invitation");
    // A user with no invitation gets one.
    let r = app.put(&path, &admin, json!({"language": "fr"})).await;
    r.expect(200);
    assert_eq!(r.body, json!({"id": id}));
    let inv = app.get(&format!("/v2/users/{id}"), &admin).await.body["invitation"].clone();
    assert_eq!(inv["language"], "fr");
    let first_token = inv["token"].as_str().unwrap().to_owned();
    assert!(
        app.services()
            .store()
            .outbox(Some(UserId(id)))
            .await
            .unwrap()
            .is_empty()
    );

    // Changing it keeps the token; a phone number and sendSms send an SMS.
    let r = app
        .put(&path, &admin, json!({"expiration": "2026-04-01T00:00:00+01:00", "phoneNumber": "+41791234567", "sendSms": true}))
        .await;
    r.expect(200);
    let inv = app.get(&format!("/v2/users/{id}"), &admin).await.body["invitation"].clone();
    assert_eq!(inv["token"], first_token.as_str());
    assert_eq!(inv["expiration"], "2026-03-31T23:00:00Z");
    let outbox = app
        .services()
        .store()
        .outbox(Some(UserId(id)))
        .await
        .unwrap();
    assert_eq!(outbox.len(), 1);
    assert_eq!(outbox[0].message.recipient, "+41791234567");
    assert_eq!(outbox[0].message.language.as_str(), "fr");

    // An expired invitation gets a fresh token.
    app.clock.advance(chrono::Duration::days(30));
    app.put(&path, &admin, json!({"sendEmail": true}))
        .await
        .expect(200);
    let inv = app.get(&format!("/v2/users/{id}"), &admin).await.body["invitation"].clone();
    assert_ne!(inv["token"], first_token.as_str());
    let outbox = app
        .services()
        .store()
        .outbox(Some(UserId(id)))
        .await
        .unwrap();
    assert_eq!(outbox.len(), 2);
    assert_eq!(outbox[1].message.params["url"], inv["url"]);

    for (body, message) in [
        (json!({"language": "xx"}), "Invalid language: language"),
        (
            json!({"expiration": "soon"}),
            "Invalid date/time: expiration",
        ),
        (
            json!({"expiration": "2020-01-01T00:00:00Z"}),
            "The expiration must be in the future: expiration",
        ),
        (
            json!({"phoneNumber": "12"}),
            "Invalid phone number: phoneNumber",
        ),
        (
            json!({"emailAddress": "x"}),
            "Invalid email address: emailAddress",
        ),
        (json!({"sendEmail": "yes"}), "Invalid value: sendEmail"),
    ] {
        let r = app.put(&path, &admin, body).await;
        r.bold_error(400, "InvalidInput");
        assert_eq!(r.body["message"], message);
    }
    let no_contact = app.create_user(&admin, json!({"firstName": "N"})).await;
    let r = app
        .put(
            &format!("/v2/users/{no_contact}/invitation"),
            &admin,
            json!({"sendEmail": true}),
        )
        .await;
    r.bold_error(400, "InvalidInput");
    assert_eq!(
        r.body["message"],
        "The user has no email address to send the invitation to: sendEmail"
    );
    app.put("/v2/users/999/invitation", &admin, json!({}))
        .await
        .bold_error(404, "UserNotFound");

    // An accepted user's invitation cannot be changed.
    let mut user = app
        .services()
        .store()
        .user(UserId(id))
        .await
        .unwrap()
        .unwrap();
    let seq = user.sequence;
    user.state = usher_core::model::UserState::Active;
    user.sequence += 1;
    let mut cs = usher_core::ports::ChangeSet::new();
    cs.push(usher_core::ports::Change::UpdateUser {
        user,
        expected_sequence: seq,
    });
    app.services().store().commit(cs).await.unwrap();
    let r = app.put(&path, &admin, json!({"sendEmail": true})).await;
    r.bold_error(400, "InvitationAlreadyAccepted");
    assert_eq!(
        app.get(&format!("/v2/users/{id}"), &admin).await.body["registered"],
        true
    );
}

/// An invitation follows the user's contact: correcting the address makes a new link (the one
/// sent to the wrong address dies), a resend goes to the corrected address, and accepting proves
/// only an address the link was sent to. An email change the user asked for earlier is overtaken
/// by an admin's change: its link dies.
async fn invitation_follows_contact_changes(app: TestApp) {
    let admin = app.org_admin().await;
    let created = app
        .post(
            "/v2/users",
            &admin,
            json!({"firstName": "Eve", "emailAddress": "typo@wrong.example", "invitation": {"sendEmail": true}}),
        )
        .await;
    created.expect(201);
    let id = created.body["userId"].as_i64().unwrap();
    let first = created.body["token"].as_str().unwrap().to_owned();
    let path = format!("/v2/users/{id}");
    app.put(&path, &admin, json!({"emailAddress": "eve@right.example"}))
        .await
        .expect(200);
    let inv = app.get(&path, &admin).await.body["invitation"].clone();
    let second = inv["token"].as_str().unwrap().to_owned();
    assert_ne!(second, first, "{inv}");
    assert_eq!(
        app.fetch_page(&format!("{PUBLIC_URL}/invite/{first}"))
            .await
            .status,
        410
    );
    // The resend goes to the corrected address, with the new link.
    app.put(
        &format!("{path}/invitation"),
        &admin,
        json!({"sendEmail": true}),
    )
    .await
    .expect(200);
    let sent = app.outbox_of(id).await;
    let to: Vec<_> = sent
        .iter()
        .filter(|m| m.message.template == "invitation")
        .map(|m| {
            (
                m.message.recipient.as_str(),
                m.message.params["url"].clone(),
            )
        })
        .collect();
    assert_eq!(to.len(), 2, "{to:?}");
    let resent = json!(format!("{PUBLIC_URL}/invite/{second}"));
    assert!(to.contains(&("eve@right.example", resent)), "{to:?}");
    // Changing the invitation's own address, after it was sent, makes a new link too, which has
    // gone nowhere yet: accepting it proves nothing about the address.
    app.put(
        &format!("{path}/invitation"),
        &admin,
        json!({"emailAddress": "eve@other.example"}),
    )
    .await
    .expect(200);
    let third = app.get(&path, &admin).await.body["invitation"]["token"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_ne!(third, second);
    app.put(&path, &admin, json!({"emailAddress": "eve@other.example"}))
        .await
        .expect(200);
    let fourth = app.get(&path, &admin).await.body["invitation"]["token"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(fourth, third, "the invitation had that address already");
    let link = format!("{PUBLIC_URL}/invite/{third}");
    let form = app.fetch_page(&link).await;
    assert_eq!(form.status, 200, "{}", form.html);
    let done = app
        .post_form(
            &link,
            form.cookie.as_deref(),
            &[
                ("csrf", form.csrf.as_deref().unwrap()),
                ("password", "correct horse battery staple 42"),
                ("password_confirm", "correct horse battery staple 42"),
            ],
        )
        .await;
    assert_eq!(done.status, 200, "{}", done.html);
    let u = app.get(&path, &admin).await;
    assert_eq!(u.body["registered"], true);
    assert_eq!(u.body["emailAddressVerified"], false, "{}", u.text);
}

async fn oversized_bodies_are_413(app: TestApp) {
    let admin = app.org_admin().await;
    let big = format!(
        r#"{{"firstName": "A", "description": "{}"}}"#,
        "x".repeat(2 * 1024 * 1024)
    );
    let r = app
        .raw(
            Method::POST,
            "/v2/users",
            Some(&admin),
            Some("application/json"),
            big,
        )
        .await;
    r.bold_error(413, "PayloadTooLarge");
    crate::headers::assert_seed_headers(&r);
    // The rest of the body is never read: the connection closes, and the answer says so.
    assert_eq!(r.headers.get("connection").unwrap(), "close");
    assert_eq!(app.get("/v2/users", &admin).await.body, json!([]));
}

/// Many clients updating one user at once: every update is answered 200 and committed (one
/// audit event each, in order), none fails for having raced another (it was a 503 after eight
/// lost races).
async fn concurrent_updates_of_one_user_all_commit(app: TestApp) {
    let admin = app.org_admin().await;
    let id = app.create_user(&admin, json!({"firstName": "Ann"})).await;
    const CLIENTS: usize = 48;
    let mut set = tokio::task::JoinSet::new();
    for i in 0..CLIENTS {
        let client = app.client.clone();
        let url = format!("{}/v2/users/{id}", app.base);
        let admin = admin.clone();
        set.spawn(async move {
            let r = client
                .put(url)
                .bearer_auth(admin)
                .json(&json!({"firstName": format!("N{i}")}))
                .send()
                .await
                .unwrap();
            (r.status().as_u16(), r.text().await.unwrap())
        });
    }
    while let Some(r) = set.join_next().await {
        assert_eq!(r.unwrap(), (200, id.to_string()));
    }
    let events = app
        .services()
        .store()
        .audit_events("user", id)
        .await
        .unwrap();
    let updates: Vec<_> = events
        .iter()
        .filter(|e| e.event_type == "user.updated")
        .collect();
    assert_eq!(updates.len(), CLIENTS);
    let sequences: Vec<_> = updates.iter().map(|e| e.sequence.unwrap()).collect();
    assert_eq!(sequences, (2..2 + CLIENTS as i64).collect::<Vec<_>>());
}

both_backends!(
    concurrent_updates_of_one_user_all_commit,
    invitation_follows_contact_changes,
    oversized_bodies_are_413,
    create_answers_201_with_invitation_and_token,
    create_with_every_field,
    create_sends_verifications_when_asked,
    create_rejects_each_bad_field,
    duplicates_are_409_with_the_existing_id,
    update_is_partial,
    update_errors,
    list_filters_sorts_and_pages,
    delete_removes_user_keeps_audit,
    invitation_update,
);
