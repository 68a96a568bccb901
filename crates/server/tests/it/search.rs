//! User searches and lists with terms no stored user can match (a NUL character), lists longer
//! than a statement's parameters, and the display name the Zitadel dialect shows, on both
//! databases.

use serde_json::{Value, json};

use crate::support::*;
use crate::zitadel::{add_user, call_ok, person};

/// The ids of a ListUsers answer, in order.
fn listed(body: &Value) -> Vec<String> {
    body["result"]
        .as_array()
        .map(|r| {
            r.iter()
                .map(|u| u["userId"].as_str().unwrap().to_owned())
                .collect()
        })
        .unwrap_or_default()
}

/// The ids of a Bold user list, in order.
fn bold_ids(body: &Value) -> Vec<i64> {
    body.as_array()
        .unwrap()
        .iter()
        .map(|u| u["id"].as_i64().unwrap())
        .collect()
}

/// A NUL character in a search term or a query value: no stored text holds one, so nothing
/// matches, on every path, and the answer is a 200 (SQLite cut the term at the NUL, so
/// `search=%00` listed everyone and a longer term failed as an unterminated FTS5 phrase;
/// PostgreSQL refused the parameter: both were 500s).
async fn nul_characters_match_nobody(app: TestApp) {
    let admin = app.org_admin().await;
    let ann = app
        .create_user(
            &admin,
            json!({"firstName": "Ann", "lastName": "Lee", "emailAddress": "ann@example.com"}),
        )
        .await;
    let bob = app
        .create_user(
            &admin,
            json!({"firstName": "Bob", "lastName": "Ray", "emailAddress": "bob@example.com"}),
        )
        .await;

    // Bold: the search box, long and short terms, and the group search.
    for term in ["a%00b", "ann%00", "%00", "%00%00%00", "abc%00def"] {
        let r = app.get(&format!("/v2/users?search={term}"), &admin).await;
        r.expect(200);
        assert_eq!(r.body, json!([]), "search={term}");
    }
    let r = app.get("/v2/users?search=ann", &admin).await;
    r.expect(200);
    assert_eq!(bold_ids(&r.body), [ann]);
    let r = app.get("/v2/users?externalId=x%00", &admin).await;
    assert_eq!(r.expect(200).body, json!([]));
    app.post(
        "/v1/user-groups",
        &admin,
        json!({"name": "Team", "organizationId": 1}),
    )
    .await
    .expect(200);
    let r = app
        .get("/v1/user-groups?organizationId=1&search=%00", &admin)
        .await;
    assert_eq!(r.expect(200).body, json!([]));

    // Zitadel: text queries, a list of emails with one such entry, and the negation.
    let all = vec![ann.to_string(), bob.to_string()];
    for query in [
        json!({"userNameQuery": {"userName": "a\u{0}b"}}),
        json!({"emailQuery": {"emailAddress": "ann\u{0}", "method": "TEXT_QUERY_METHOD_CONTAINS"}}),
        json!({"firstNameQuery": {"firstName": "\u{0}", "method": "TEXT_QUERY_METHOD_STARTS_WITH_IGNORE_CASE"}}),
        json!({"phoneQuery": {"number": "\u{0}\u{0}\u{0}"}}),
    ] {
        let b = call_ok(
            &app,
            &admin,
            "ListUsers",
            json!({"queries": [query], "query": {"asc": true}}),
        )
        .await;
        assert_eq!(listed(&b), Vec::<String>::new(), "{query}");
        let not = json!({"queries": [{"notQuery": {"query": query}}], "query": {"asc": true}});
        let b = call_ok(&app, &admin, "ListUsers", not).await;
        assert_eq!(listed(&b), all, "not {query}");
    }
    let b = call_ok(
        &app,
        &admin,
        "ListUsers",
        json!({"queries": [{"inUserEmailsQuery": {"userEmails": ["a\u{0}b", "ann@example.com"]}}]}),
    )
    .await;
    assert_eq!(listed(&b), [ann.to_string()]);

    // Orgo: the keyword filter.
    let r = TestApp::read(
        app.client
            .get(format!("{}/api/v1/users?keyword=%00", app.base))
            .header("api-token", &admin)
            .send()
            .await
            .unwrap(),
    )
    .await;
    r.expect(200);
    assert_eq!(r.body["hydra:totalItems"], 0, "{}", r.text);

    // Orgo: a login name is looked up as typed; one with a NUL is nobody's (a 401, like any
    // unknown name; PostgreSQL answered 500).
    let r = TestApp::read(
        app.client
            .post(format!("{}/api/v1/login-check", app.base))
            .json(&json!({"username": "ann\u{0}@example.com", "password": "whatever it is"}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(r.status, 401, "{}", r.text);
}

/// `inUserIdsQuery` and `inUserEmailsQuery` longer than a statement's parameters (32,766 on
/// SQLite, 65,535 on PostgreSQL; a 500 before) and many lists in one `orQuery` find exactly
/// the users named.
async fn long_id_and_email_lists(app: TestApp) {
    let admin = app.org_admin().await;
    let mut ids = Vec::new();
    for (n, (given, family)) in [("Ann", "Lee"), ("Bob", "Ray"), ("Cy", "Dee")]
        .iter()
        .enumerate()
    {
        let email = format!("u{n}@example.com");
        ids.push(add_user(&app, &admin, person(given, family, &email, None)).await);
    }
    let others = ids[2].clone();

    // 70,000 ids (about 600 KiB of JSON) of which two exist.
    let mut long: Vec<String> = (1_000_000..1_070_000).map(|i: i64| i.to_string()).collect();
    long.insert(35_000, ids[1].clone());
    long.push(ids[0].clone());
    let b = call_ok(
        &app,
        &admin,
        "ListUsers",
        json!({"queries": [{"inUserIdsQuery": {"userIds": long}}], "query": {"asc": true}}),
    )
    .await;
    assert_eq!(listed(&b), [ids[0].clone(), ids[1].clone()]);
    assert_eq!(b["details"]["totalResult"], "2");

    // 40,000 addresses of which one exists (in another case than stored).
    let mut emails: Vec<String> = (0..40_000).map(|i| format!("x{i}@example.org")).collect();
    emails.push("U1@Example.com".to_owned());
    let b = call_ok(
        &app,
        &admin,
        "ListUsers",
        json!({"queries": [{"inUserEmailsQuery": {"userEmails": emails}}]}),
    )
    .await;
    assert_eq!(listed(&b), [ids[1].clone()]);

    // 40 lists of 1,000 ids in one orQuery, the last naming the third user.
    let mut lists: Vec<Value> = (0..40)
        .map(|k| {
            let l: Vec<String> = (0..1000)
                .map(|i| (2_000_000 + k * 1000 + i).to_string())
                .collect();
            json!({"inUserIdsQuery": {"userIds": l}})
        })
        .collect();
    lists.push(json!({"inUserIdsQuery": {"userIds": [others]}}));
    let b = call_ok(
        &app,
        &admin,
        "ListUsers",
        json!({"queries": [{"orQuery": {"queries": lists}}]}),
    )
    .await;
    assert_eq!(listed(&b), [ids[2].clone()]);

    // 999 queries in one orQuery, 1,000 queries in all (a chain of 999 was deeper than
    // SQLite's 1,000-deep limit on expressions), the last naming the first user.
    let mut many: Vec<Value> = (0..998)
        .map(|i| json!({"userNameQuery": {"userName": format!("nobody{i}")}}))
        .collect();
    many.push(json!({"inUserIdsQuery": {"userIds": [ids[0]]}}));
    let b = call_ok(
        &app,
        &admin,
        "ListUsers",
        json!({"queries": [{"orQuery": {"queries": many.clone()}}]}),
    )
    .await;
    assert_eq!(listed(&b), [ids[0].clone()]);
    // And as 1,000 top-level queries (a conjunction): nobody is all of them.
    many.push(json!({"userNameQuery": {"userName": ""}}));
    let b = call_ok(&app, &admin, "ListUsers", json!({"queries": many.clone()})).await;
    assert_eq!(listed(&b), Vec::<String>::new());
    // More is a 400: every query is a condition the database evaluates, and a request of
    // 1 MiB could hold 50,000 of them, more than a statement takes parameters.
    many.push(json!({"userNameQuery": {"userName": ""}}));
    let msg = crate::zitadel::call_err(
        &app,
        &admin,
        "ListUsers",
        json!({"queries": many}),
        tonic::Code::InvalidArgument,
        "INVALID-ARGUMENT",
    )
    .await;
    assert!(msg.contains("at most 1000 queries"), "{msg}");
}

/// `displayNameQuery` and sorting by `USER_FIELD_NAME_DISPLAY_NAME` use the display name the
/// dialect shows: the stored one, else "given family" (they used the stored column alone, which
/// is empty unless set).
async fn display_name_queries_use_the_shown_name(app: TestApp) {
    let admin = app.org_admin().await;
    let g3 = add_user(&app, &admin, person("G3", "F7", "g3@example.com", None)).await;
    let mut bob = person("Zed", "Zulu", "bob@example.com", None);
    bob["profile"]["displayName"] = json!("Bob Builder");
    let bob = add_user(&app, &admin, bob).await;
    let amy = add_user(&app, &admin, person("Amy", "Zee", "amy@example.com", None)).await;

    let shown = call_ok(&app, &admin, "GetUserByID", json!({"userId": g3})).await;
    assert_eq!(shown["user"]["human"]["profile"]["displayName"], "G3 F7");

    for (query, expect) in [
        (json!({"displayName": "G3 F7"}), vec![g3.clone()]),
        (
            json!({"displayName": "g3 f7", "method": "TEXT_QUERY_METHOD_EQUALS_IGNORE_CASE"}),
            vec![g3.clone()],
        ),
        (
            json!({"displayName": "Bob", "method": "TEXT_QUERY_METHOD_STARTS_WITH"}),
            vec![bob.clone()],
        ),
        (
            json!({"displayName": "zee", "method": "TEXT_QUERY_METHOD_ENDS_WITH_IGNORE_CASE"}),
            vec![amy.clone()],
        ),
    ] {
        let b = call_ok(
            &app,
            &admin,
            "ListUsers",
            json!({"queries": [{"displayNameQuery": query}]}),
        )
        .await;
        assert_eq!(listed(&b), expect, "{query}");
    }

    let b = call_ok(
        &app,
        &admin,
        "ListUsers",
        json!({"sortingColumn": "USER_FIELD_NAME_DISPLAY_NAME", "query": {"asc": true}}),
    )
    .await;
    // "Amy Zee" < "Bob Builder" < "G3 F7".
    assert_eq!(listed(&b), [amy.clone(), bob.clone(), g3.clone()]);
    let b = call_ok(
        &app,
        &admin,
        "ListUsers",
        json!({"sortingColumn": "USER_FIELD_NAME_DISPLAY_NAME", "query": {"asc": false}}),
    )
    .await;
    assert_eq!(listed(&b), [g3, bob, amy]);
}

both_backends!(
    nul_characters_match_nobody,
    long_id_and_email_lists,
    display_name_queries_use_the_shown_name,
);
