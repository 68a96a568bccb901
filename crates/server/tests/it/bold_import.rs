//! `PUT /v2/users?organizationId=n`: bulk import of a CSV file in a multipart upload.

use std::fmt::Write as _;
use std::time::Instant;

use reqwest::Method;
use reqwest::multipart::{Form, Part};
use serde_json::{Value, json};
use usher_core::ports::UserFilter;
use usher_core::types::OrgId;

use crate::support::*;

/// The eight columns the import knows.
const HEADER: &str =
    "firstName,lastName,emailAddress,phoneNumber,externalId,description,remarks,superUser";

/// A multipart form with the CSV as the file part `file` (`users.csv`).
fn csv_form(csv: impl Into<Vec<u8>>) -> Form {
    let part = Part::bytes(csv.into())
        .file_name("users.csv")
        .mime_str("text/csv")
        .expect("mime");
    Form::new().part("file", part)
}

/// Sends a multipart form to `path`.
async fn send_form(app: &TestApp, path: &str, token: &str, form: Form) -> Resp {
    let res = app
        .client
        .request(Method::PUT, format!("{}{}", app.base, path))
        .bearer_auth(token)
        .multipart(form)
        .send()
        .await
        .expect("request");
    TestApp::read(res).await
}

/// `PUT /v2/users?organizationId={org}` with `csv` as the uploaded file.
async fn import(app: &TestApp, org: i64, token: &str, csv: &str) -> Resp {
    send_form(
        app,
        &format!("/v2/users?organizationId={org}"),
        token,
        csv_form(csv.to_owned()),
    )
    .await
}

async fn count(app: &TestApp, org: i64) -> u64 {
    app.services()
        .store()
        .count_users(&UserFilter::Org(OrgId(org)))
        .await
        .expect("count users")
}

/// The one user of `org` with this external id, through the list's `externalId=` filter.
async fn by_external_id(app: &TestApp, token: &str, org: i64, external_id: &str) -> Value {
    let r = app
        .get(
            &format!("/v2/users?organizationId={org}&externalId={external_id}"),
            token,
        )
        .await;
    r.expect(200);
    let list = r.body.as_array().expect("array");
    assert_eq!(
        list.len(),
        1,
        "one user with externalId {external_id}: {}",
        r.text
    );
    list[0].clone()
}

/// Users of `org` whose names, email or phone match `search`, by id.
async fn search(app: &TestApp, token: &str, org: i64, search: &str) -> Vec<Value> {
    let r = app
        .get(
            &format!("/v2/users?organizationId={org}&search={search}&size=100"),
            token,
        )
        .await;
    r.expect(200);
    r.body.as_array().expect("array").clone()
}

/// A new organization and an admin key for it.
async fn org_with_admin(app: &TestApp, name: &str) -> (i64, String) {
    let org = app.create_org(name).await;
    let key = app.key(org, None, false).await;
    (org, key)
}

/// 25,000 rows (three import transactions of 10,000) with every column answer `[]`, and every row
/// is a user that reads back intact; a last row about the first user, two transactions later,
/// updates that user instead of making another.
async fn rows_across_batches(app: TestApp) {
    const ROWS: usize = 25_000;
    let (org, admin) = org_with_admin(&app, "bulk").await;
    let mut csv = String::with_capacity(ROWS * 128);
    csv.push_str(HEADER);
    csv.push('\n');
    for i in 0..ROWS {
        let super_user = if i % 1000 == 7 { "true" } else { "false" };
        writeln!(
            csv,
            "First{i},Last{i},user{i}@example.com,+316{:08},ext-{i},Imported row {i},batch one,{super_user}",
            10_000_000 + i
        )
        .expect("write");
    }
    csv.push_str(
        "First0,Last0,user0@example.com,+31610000000,ext-0,Imported row 0,batch three,false\n",
    );

    let started = Instant::now();
    let r = import(&app, org, &admin, &csv).await;
    let took = started.elapsed();
    eprintln!(
        "bold_import::rows_across_batches on {:?}: {ROWS} rows imported in {took:?}",
        app.backend()
    );
    r.expect(200);
    assert_eq!(r.body, json!([]));
    assert_eq!(r.text, "[]");
    assert_eq!(count(&app, org).await, ROWS as u64);
    // Nothing leaked into the default organization.
    assert_eq!(count(&app, 1).await, 0);

    for i in [0usize, 4321, 7007, 12_345, ROWS - 1] {
        let listed = by_external_id(&app, &admin, org, &format!("ext-{i}")).await;
        let id = listed["id"].as_i64().expect("id");
        let r = app.get(&format!("/v2/users/{id}"), &admin).await;
        r.expect(200);
        assert_eq!(r.body, listed, "GET and the list show the same user");
        let u = &r.body;
        assert_eq!(u["organizationId"], org);
        assert_eq!(u["firstName"], format!("First{i}"));
        assert_eq!(u["lastName"], format!("Last{i}"));
        assert_eq!(u["emailAddress"], format!("user{i}@example.com"));
        assert_eq!(u["emailAddressVerified"], false);
        assert_eq!(u["phoneNumber"], format!("+316{:08}", 10_000_000 + i));
        assert_eq!(u["phoneNumberVerified"], false);
        assert_eq!(u["externalId"], format!("ext-{i}"));
        assert_eq!(u["description"], format!("Imported row {i}"));
        assert_eq!(
            u["remarks"],
            if i == 0 { "batch three" } else { "batch one" }
        );
        assert_eq!(u["superUser"], i % 1000 == 7);
        assert_eq!(u["registered"], false);
        assert_eq!(u["invitation"], Value::Null);
        assert_eq!(u["autoRemoveDate"], Value::Null);
        assert_eq!(u["dateCreated"], start_time().rfc3339());
    }
}

/// A bad row comes back in the 200 array with its line; the other rows of the file go in.
async fn row_problems_are_reported_and_the_rest_imported(app: TestApp) {
    let (org, admin) = org_with_admin(&app, "acme").await;
    let csv = "firstName,lastName,emailAddress\n\
               Alice,Smith,alice@example.com\n\
               Charlie,Brown,charlie-example.com\n\
               Bob,Jones,bob@example.com\n";
    let r = import(&app, org, &admin, csv).await;
    r.expect(200);
    assert_eq!(
        r.body,
        json!([{"message": "Invalid email address charlie-example.com", "row": 3}])
    );
    assert_eq!(
        r.text,
        r#"[{"message":"Invalid email address charlie-example.com","row":3}]"#
    );
    assert_eq!(count(&app, org).await, 2);
    let alice = search(&app, &admin, org, "alice").await;
    assert_eq!(alice.len(), 1);
    assert_eq!(alice[0]["firstName"], "Alice");
    assert_eq!(alice[0]["emailAddress"], "alice@example.com");
    let bob = search(&app, &admin, org, "bob@example.com").await;
    assert_eq!(bob.len(), 1);
    assert_eq!(bob[0]["lastName"], "Jones");
    assert_eq!(
        search(&app, &admin, org, "charlie").await,
        Vec::<Value>::new()
    );

    // Several problems in one file, each with its own line, in file order.
    let csv = "firstName,emailAddress,phoneNumber\n\
               Dana,dana@example.com,12345\n\
               Eve,eve@example.com,+31850607337\n\
               ,,\n\
               Fay,fay@,\n";
    let r = import(&app, org, &admin, csv).await;
    r.expect(200);
    assert_eq!(
        r.body,
        json!([
            {"message": "Invalid phone number 12345", "row": 2},
            {"message": "Invalid email address fay@", "row": 5},
        ])
    );
    assert_eq!(count(&app, org).await, 3);
    assert_eq!(
        search(&app, &admin, org, "eve").await[0]["phoneNumber"],
        "+31850607337"
    );
}

/// A second upload of the same people updates them (matched by externalId, then by email).
async fn reimport_updates_instead_of_duplicating(app: TestApp) {
    let (org, admin) = org_with_admin(&app, "acme").await;
    let first = "firstName,lastName,emailAddress,externalId\n\
                 Ann,Archer,ann@example.com,x-1\n\
                 Ben,Baker,ben@example.com,x-2\n\
                 Cid,Cook,cid@example.com,\n";
    let r = import(&app, org, &admin, first).await;
    r.expect(200);
    assert_eq!(r.body, json!([]));
    assert_eq!(count(&app, org).await, 3);
    let ann = by_external_id(&app, &admin, org, "x-1").await;
    let ben = by_external_id(&app, &admin, org, "x-2").await;
    let cid = search(&app, &admin, org, "cid@example.com").await;
    assert_eq!(cid.len(), 1);
    let cid = cid[0].clone();

    // The same file again changes nothing and duplicates nobody.
    let r = import(&app, org, &admin, first).await;
    r.expect(200);
    assert_eq!(r.body, json!([]));
    assert_eq!(count(&app, org).await, 3);
    let again = app.get(&format!("/v2/users/{}", ann["id"]), &admin).await;
    assert_eq!(
        again.body, ann,
        "an unchanged row leaves the user untouched"
    );

    // Ann renamed (matched by externalId), Ben's email changed (matched by externalId), Cid
    // renamed (matched by email, case-insensitively) and given an externalId.
    app.clock.advance(chrono::Duration::minutes(5));
    let second = "firstName,lastName,emailAddress,externalId\n\
                  Anna,Archer,ann@example.com,x-1\n\
                  Ben,Baker,ben.baker@example.com,x-2\n\
                  Cyd,Cook,CID@example.com,x-3\n";
    let r = import(&app, org, &admin, second).await;
    r.expect(200);
    assert_eq!(r.body, json!([]));
    assert_eq!(count(&app, org).await, 3);

    let ann2 = app.get(&format!("/v2/users/{}", ann["id"]), &admin).await;
    ann2.expect(200);
    assert_eq!(ann2.body["firstName"], "Anna");
    assert_eq!(ann2.body["lastName"], "Archer");
    assert_eq!(ann2.body["emailAddress"], "ann@example.com");
    assert_eq!(ann2.body["dateCreated"], ann["dateCreated"]);
    let later = start_time().plus(chrono::Duration::minutes(5)).rfc3339();
    assert_eq!(ann2.body["dateModified"], later);

    let ben2 = by_external_id(&app, &admin, org, "x-2").await;
    assert_eq!(ben2["id"], ben["id"]);
    assert_eq!(ben2["emailAddress"], "ben.baker@example.com");

    let cid2 = by_external_id(&app, &admin, org, "x-3").await;
    assert_eq!(cid2["id"], cid["id"]);
    assert_eq!(cid2["firstName"], "Cyd");
    assert_eq!(cid2["emailAddress"], "CID@example.com");
}

/// A row whose externalId names user A but whose email is user B's is refused with B's id.
async fn external_id_and_email_of_different_users(app: TestApp) {
    let (org, admin) = org_with_admin(&app, "acme").await;
    let r = import(
        &app,
        org,
        &admin,
        "firstName,emailAddress,externalId\nAnn,ann@example.com,a-1\nBen,ben@example.com,b-1\n",
    )
    .await;
    r.expect(200);
    assert_eq!(r.body, json!([]));
    let ann = by_external_id(&app, &admin, org, "a-1").await;
    let ben = by_external_id(&app, &admin, org, "b-1").await;
    let ben_id = ben["id"].as_i64().expect("id");

    let csv = "firstName,emailAddress,externalId\n\
               Cleo,cleo@example.com,c-1\n\
               Ann,ben@example.com,a-1\n\
               Dirk,dirk@example.com,d-1\n";
    let r = import(&app, org, &admin, csv).await;
    r.expect(200);
    assert_eq!(
        r.body,
        json!([{"message": "User or user-invite already exists", "row": 3, "userId": ben_id}])
    );
    assert_eq!(count(&app, org).await, 4);
    assert_eq!(
        by_external_id(&app, &admin, org, "c-1").await["firstName"],
        "Cleo"
    );
    assert_eq!(
        by_external_id(&app, &admin, org, "d-1").await["firstName"],
        "Dirk"
    );
    // Neither user was changed.
    let ann_now = app.get(&format!("/v2/users/{}", ann["id"]), &admin).await;
    assert_eq!(ann_now.body, ann);
    let ben_now = app.get(&format!("/v2/users/{ben_id}"), &admin).await;
    assert_eq!(ben_now.body, ben);
}

/// Uploads that are wrong as a whole, and callers that may not import.
async fn refused_uploads_and_callers(app: TestApp) {
    let (org, admin) = org_with_admin(&app, "acme").await;
    let (other, _) = org_with_admin(&app, "other").await;
    let path = format!("/v2/users?organizationId={org}");

    let r = import(&app, org, &admin, "firstName,x\nAnn,1\n").await;
    r.bold_error(400, "InvalidInput");
    assert_eq!(r.body["message"], "Unknown column: x");

    // Not multipart at all.
    let r = app.put(&path, &admin, json!([{"firstName": "Ann"}])).await;
    r.bold_error(400, "InvalidInput");
    assert_eq!(
        r.body["message"],
        "A multipart/form-data body with one CSV file is expected"
    );
    let r = app
        .raw(
            Method::PUT,
            &path,
            Some(&admin),
            Some("text/csv"),
            "firstName\nAnn\n",
        )
        .await;
    r.bold_error(400, "InvalidInput");

    // Multipart without a file.
    let form = Form::new().text("note", "no file here");
    let r = send_form(&app, &path, &admin, form).await;
    r.bold_error(400, "InvalidInput");
    assert_eq!(
        r.body["message"],
        "Missing value: file (a CSV file is expected)"
    );
    assert_eq!(count(&app, org).await, 0);

    // A group admin and a plain user may not import.
    let gadmin = app
        .create_user(
            &admin,
            json!({"organizationId": org, "firstName": "Gus", "emailAddress": "gus@example.com"}),
        )
        .await;
    let plain = app
        .create_user(
            &admin,
            json!({"organizationId": org, "firstName": "Pam", "emailAddress": "pam@example.com"}),
        )
        .await;
    let g = app
        .post(
            &format!("/v1/user-groups?organizationId={org}"),
            &admin,
            json!({"name": "Staff"}),
        )
        .await;
    g.expect(200);
    let gid: i64 = g.text.parse().expect("group id");
    app.post(
        &format!("/v1/user-groups/{gid}/users/{gadmin}?groupAdmin=true"),
        &admin,
        json!({}),
    )
    .await
    .expect(200);
    app.post(
        &format!("/v1/user-groups/{gid}/users/{plain}?groupAdmin=false"),
        &admin,
        json!({}),
    )
    .await
    .expect(200);
    let gadmin_key = app.key(org, Some(gadmin), false).await;
    let plain_key = app.key(org, Some(plain), false).await;
    let csv = "firstName\nZed\n";
    for key in [&gadmin_key, &plain_key] {
        let r = import(&app, org, key, csv).await;
        r.bold_error(403, "InsufficientRights");
        assert_eq!(r.body["message"], "Insufficient rights");
    }
    // Without organizationId they import into their own organization: still forbidden.
    let r = send_form(&app, "/v2/users", &gadmin_key, csv_form(csv)).await;
    r.bold_error(403, "InsufficientRights");
    // A read-only admin key may not write.
    let ro = app.key(org, None, true).await;
    import(&app, org, &ro, csv)
        .await
        .bold_error(403, "InsufficientRights");

    // Another organization is not even visible to this org admin.
    let r = import(&app, other, &admin, csv).await;
    r.bold_error(404, "OrganizationNotFound");
    assert_eq!(r.body["message"], "Organization not found");
    assert_eq!(count(&app, other).await, 0);

    // The instance admin must say which organization; an unknown one is 404.
    let r = send_form(&app, "/v2/users", &app.admin, csv_form(csv)).await;
    r.bold_error(400, "InvalidInput");
    import(&app, 999_999, &app.admin, csv)
        .await
        .bold_error(404, "OrganizationNotFound");
    // No credential at all.
    let r = app
        .client
        .put(format!("{}{path}", app.base))
        .multipart(csv_form(csv))
        .send()
        .await
        .expect("request");
    TestApp::read(r).await.bold_error(401, "InvalidToken");
    assert_eq!(count(&app, org).await, 2, "only Gus and Pam");

    // The org admin importing without organizationId lands in its own organization, and the
    // instance admin can import into any organization by id.
    let r = send_form(&app, "/v2/users", &admin, csv_form(csv)).await;
    r.expect(200);
    assert_eq!(r.body, json!([]));
    let r = import(&app, other, &app.admin, csv).await;
    r.expect(200);
    assert_eq!(r.body, json!([]));
    assert_eq!(count(&app, org).await, 3);
    assert_eq!(count(&app, other).await, 1);
}

/// RFC 4180 quoting, blank lines and the superUser column.
async fn quoting_blank_lines_and_super_user(app: TestApp) {
    let (org, admin) = org_with_admin(&app, "acme").await;
    let csv = "firstName,lastName,emailAddress,description,remarks,superUser\n\
               \"Smith, Jr.\",Doe,q1@example.com,\"He said \"\"hi\"\", then left\",\"two\nlines\",true\n\
               \n\
               Ann,\"O'Neil\",q2@example.com,plain,,false\n\
               \n\
               Bob,Ray,q3@example.com,,,maybe\n\
               Cay,Fox,q4@example.com,,,TRUE\n\
               \n";
    let r = import(&app, org, &admin, csv).await;
    r.expect(200);
    assert_eq!(
        r.body,
        json!([{"message": "Invalid boolean maybe superUser", "row": 7}])
    );
    assert_eq!(count(&app, org).await, 3);

    let q1 = search(&app, &admin, org, "q1@example.com").await;
    assert_eq!(q1.len(), 1);
    assert_eq!(q1[0]["firstName"], "Smith, Jr.");
    assert_eq!(q1[0]["lastName"], "Doe");
    assert_eq!(q1[0]["description"], "He said \"hi\", then left");
    assert_eq!(q1[0]["remarks"], "two\nlines");
    assert_eq!(q1[0]["superUser"], true);

    let q2 = search(&app, &admin, org, "q2@example.com").await;
    assert_eq!(q2[0]["firstName"], "Ann");
    assert_eq!(q2[0]["lastName"], "O'Neil");
    assert_eq!(q2[0]["description"], "plain");
    assert_eq!(q2[0]["remarks"], Value::Null);
    assert_eq!(q2[0]["superUser"], false);

    assert_eq!(
        search(&app, &admin, org, "q3@example.com").await,
        Vec::<Value>::new()
    );
    let q4 = search(&app, &admin, org, "q4@example.com").await;
    assert_eq!(q4[0]["superUser"], true);

    // superUser "false" on a later import takes the flag away; an empty cell leaves it.
    let r = import(
        &app,
        org,
        &admin,
        "emailAddress,superUser\nq1@example.com,false\nq4@example.com,\n",
    )
    .await;
    r.expect(200);
    assert_eq!(r.body, json!([]));
    assert_eq!(
        search(&app, &admin, org, "q1@example.com").await[0]["superUser"],
        false
    );
    assert_eq!(
        search(&app, &admin, org, "q4@example.com").await[0]["superUser"],
        true
    );
    assert_eq!(count(&app, org).await, 3);
}

/// Windows line endings, a last line without a newline, and row numbers that are the lines a
/// text editor shows.
async fn crlf_files_and_row_numbers(app: TestApp) {
    let (org, admin) = org_with_admin(&app, "acme").await;
    let csv = "firstName , emailAddress\r\n\
               Ann,ann@example.com\r\n\
               Bob,bob-example.com\r\n\
               \r\n\
               \"Cay\r\nCaroline\",cay@\r\n\
               Eli , eli@example.com \r\n\
               Dee,dee@example.com";
    let r = import(&app, org, &admin, csv).await;
    r.expect(200);
    assert_eq!(
        r.body,
        json!([
            {"message": "Invalid email address bob-example.com", "row": 3},
            {"message": "Invalid email address cay@", "row": 5},
        ])
    );
    assert_eq!(count(&app, org).await, 3);
    let ann = search(&app, &admin, org, "ann@example.com").await;
    assert_eq!(ann[0]["firstName"], "Ann");
    let eli = search(&app, &admin, org, "eli@example.com").await;
    assert_eq!(eli[0]["firstName"], "Eli");
    assert_eq!(eli[0]["emailAddress"], "eli@example.com");
    let dee = search(&app, &admin, org, "dee@example.com").await;
    assert_eq!(dee[0]["firstName"], "Dee");
    assert_eq!(dee[0]["emailAddress"], "dee@example.com");

    // The description keeps its line break (as LF).
    let r = import(
        &app,
        org,
        &admin,
        "emailAddress,description\r\ndee@example.com,\"one\r\ntwo\"\r\n",
    )
    .await;
    assert_eq!(r.body, json!([]));
    assert_eq!(
        search(&app, &admin, org, "dee@example.com").await[0]["description"],
        "one\ntwo"
    );

    // Classic Mac line endings (CR only), as Excel's "Macintosh CSV" writes them.
    let csv =
        "firstName,emailAddress\rFay,fay@example.com\rGil,gil-example.com\r\rHal,hal@example.com\r";
    let r = import(&app, org, &admin, csv).await;
    r.expect(200);
    assert_eq!(
        r.body,
        json!([{"message": "Invalid email address gil-example.com", "row": 3}])
    );
    assert_eq!(count(&app, org).await, 5);
    assert_eq!(
        search(&app, &admin, org, "hal@example.com").await[0]["firstName"],
        "Hal"
    );
}

async fn stored_user(app: &TestApp, id: i64) -> usher_core::model::User {
    app.services()
        .store()
        .user(usher_core::types::UserId(id))
        .await
        .expect("read user")
        .expect("user")
}

/// `passwordHash` (a usher extension): a bcrypt hash made by another tool is stored as given, the
/// user can log in with its password, and the stored hash becomes argon2id at that login; an
/// unsupported hash is a row problem and that row is not imported.
async fn imported_password_hashes(app: TestApp) {
    let (org, admin) = org_with_admin(&app, "acme").await;
    // python bcrypt 5.0.0 (crates/core/src/password/testdata/vectors.txt).
    let bcrypt = "$2b$10$DvRtqccYQXvaNF9YMKtS1ey5O6Tq0QJjDO.epnBbbpDbR12T0OuzG";
    let csv = format!(
        "emailAddress,externalId,passwordHash\n\
         ivy@example.com,ivy,{bcrypt}\n\
         jon@example.com,jon,$apr1$abc$def\n"
    );
    let r = import(&app, org, &admin, &csv).await;
    r.expect(200);
    assert_eq!(
        r.body,
        json!([{"message": "password hash not supported: passwordHash", "row": 3}])
    );
    assert_eq!(count(&app, org).await, 1);
    let ivy = by_external_id(&app, &admin, org, "ivy").await;
    let id = ivy["id"].as_i64().expect("id");
    let before = stored_user(&app, id).await;
    assert_eq!(before.password_hash.as_deref(), Some(bcrypt));
    assert_eq!(before.state, usher_core::model::UserState::Active);

    let wrong = app
        .send(
            Method::POST,
            "/api/v1/login",
            None,
            Some(&json!({"username": "ivy@example.com", "password": "wrong horse"})),
        )
        .await;
    wrong.expect(401);
    let ok = app
        .send(
            Method::POST,
            "/api/v1/login",
            None,
            Some(
                &json!({"username": "ivy@example.com", "password": "correct horse battery staple"}),
            ),
        )
        .await;
    ok.expect(200);
    assert!(ok.body["token"].is_string(), "{}", ok.text);
    let after = stored_user(&app, id).await;
    let hash = after.password_hash.expect("hash");
    assert!(hash.starts_with("$argon2id$"), "{hash}");

    // A hash in the file replaces the stored one, even the upgraded hash of the same password.
    let r = import(
        &app,
        org,
        &admin,
        &format!("externalId,passwordHash\nivy,{bcrypt}\n"),
    )
    .await;
    assert_eq!(r.body, json!([]));
    assert_eq!(
        stored_user(&app, id).await.password_hash.as_deref(),
        Some(bcrypt)
    );
}

both_backends!(
    imported_password_hashes,
    rows_across_batches,
    crlf_files_and_row_numbers,
    row_problems_are_reported_and_the_rest_imported,
    reimport_updates_instead_of_duplicating,
    external_id_and_email_of_different_users,
    refused_uploads_and_callers,
    quoting_blank_lines_and_super_user,
);
