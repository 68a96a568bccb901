//! The store contract: every test runs against both backends — a real SQLite file in a
//! temporary directory and a fresh PostgreSQL database — and must behave the same on each.
//!
//! Each contract test is an `async fn name(store: Arc<dyn Store>)`; `contract!(name)` turns it
//! into `name::sqlite` and `name::postgres`. When PostgreSQL is unreachable outside CI, the
//! PostgreSQL variant returns early after the loud warning of `fresh_pg_database` (in CI it
//! fails).

// A failed unwrap is how a contract test reports a store error.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeSet;
use std::sync::Arc;

use serde_json::json;
use tempfile::TempDir;
use usher_core::error::{Conflict, Error};
use usher_core::model::*;
use usher_core::ports::*;
use usher_core::types::*;
use usher_store::{PgStore, SqliteStore, StoreOptions};

// ---------------------------------------------------------------------------------------------
// Harness
// ---------------------------------------------------------------------------------------------

fn sqlite_path(dir: &TempDir) -> String {
    dir.path().join("usher.db").display().to_string()
}

fn open_sqlite(dir: &TempDir) -> Arc<dyn Store> {
    Arc::new(SqliteStore::open(&sqlite_path(dir), true).expect("open SQLite store"))
}

/// A store on a fresh PostgreSQL database, with its URL; `None` when PostgreSQL is unreachable
/// (outside CI).
async fn open_pg() -> Option<(Arc<dyn Store>, String)> {
    let url = usher_store::testing::fresh_pg_database("usher_store").await?;
    let store = PgStore::open(&url, &StoreOptions::default())
        .await
        .expect("open PostgreSQL store");
    Some((Arc::new(store), url))
}

/// `contract!(name)`: runs `async fn name(store: Arc<dyn Store>)` on both backends.
macro_rules! contract {
    ($name:ident) => {
        mod $name {
            use super::*;

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                let dir = TempDir::new().expect("temporary directory");
                let store = open_sqlite(&dir);
                assert_eq!(store.backend(), "sqlite");
                super::$name(store).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                let Some((store, _url)) = open_pg().await else {
                    return;
                };
                assert_eq!(store.backend(), "postgres");
                super::$name(store).await;
            }
        }
    };
}

// ---------------------------------------------------------------------------------------------
// Fixtures
// ---------------------------------------------------------------------------------------------

/// 2023-11-14T22:13:20Z plus `n` nanoseconds: every timestamp has a nanosecond part.
fn at(n: i64) -> Timestamp {
    Timestamp::from_nanos(1_700_000_000_000_000_000 + n)
}

const SECOND: i64 = 1_000_000_000;
const DAY: i64 = 86_400 * SECOND;

fn email(s: &str) -> Email {
    Email::parse(s).expect("valid email")
}

fn phone(s: &str) -> Phone {
    Phone::parse_e164(s).expect("valid phone")
}

fn uuid() -> String {
    uuid::Uuid::new_v4().to_string()
}

async fn commit(store: &Arc<dyn Store>, changes: Vec<Change>) -> Result<(), Error> {
    store.commit(ChangeSet { changes }).await
}

async fn commit_ok(store: &Arc<dyn Store>, changes: Vec<Change>) {
    commit(store, changes).await.expect("commit");
}

/// Commits `user` (its sequence already advanced) over the stored version at `expected`.
async fn commit_update(store: &Arc<dyn Store>, user: &User, expected: i64) {
    commit_ok(
        store,
        vec![Change::UpdateUser {
            user: user.clone(),
            expected_sequence: expected,
        }],
    )
    .await;
}

async fn id(store: &Arc<dyn Store>, kind: IdKind) -> i64 {
    store.allocate_ids(kind, 1).await.expect("allocate id")[0]
}

async fn new_org(store: &Arc<dyn Store>, name: &str) -> Organization {
    let org = Organization {
        id: OrgId(id(store, IdKind::Organization).await),
        name: name.to_owned(),
        created_at: at(1),
        modified_at: at(2),
    };
    commit_ok(store, vec![Change::InsertOrganization(org.clone())]).await;
    org
}

/// A user with a fresh id, shaped by `f` (not yet stored).
async fn user_draft(store: &Arc<dyn Store>, org: OrgId, f: impl FnOnce(&mut User)) -> User {
    let mut u = User::new(UserId(id(store, IdKind::User).await), org, at(10));
    f(&mut u);
    u
}

/// A stored user shaped by `f`.
async fn new_user(store: &Arc<dyn Store>, org: OrgId, f: impl FnOnce(&mut User)) -> User {
    let u = user_draft(store, org, f).await;
    commit_ok(store, vec![Change::InsertUser(u.clone())]).await;
    u
}

/// Every field of a user set to a non-default value.
fn full_user(id: UserId, org: OrgId) -> User {
    let attributes = json!({
        "department": "R&D",
        "level": 3,
        "ratio": 0.25,
        "big": 9_007_199_254_740_993_i64,
        "active": true,
        "none": null,
        "tags": ["a", "b", {"c": [1, 2.5, "x"]}],
        "nested": {"deep": {"city": "Zürich ✓", "empty": {}, "list": []}}
    });
    User {
        id,
        org_id: org,
        username: format!("Ada.Lovelace.{id}@Example.com"),
        first_name: Some("Ada".into()),
        last_name: Some("Lovelace".into()),
        nick_name: Some("ada".into()),
        display_name: Some("Countess Ada".into()),
        preferred_language: Some("en-GB".into()),
        gender: Gender::Female,
        email: Some(email(&format!("Ada.Lovelace.{id}@Example.com"))),
        email_verified: true,
        email_verify_requested: true,
        new_email_requested: Some(email("ada@new.example.org")),
        phone: Some(phone("+41791234567")),
        phone_verified: true,
        phone_verify_requested: true,
        password_hash: Some("$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA".into()),
        password_change_required: true,
        state: UserState::Locked,
        super_user: true,
        roles: vec!["ROLE_USER".into(), "ROLE_AUDITOR".into()],
        external_id: Some(format!("ext-{id}")),
        client_id: Some(4_200_000_000_123),
        description: Some("multi\nline\ttext".into()),
        remarks: Some("ünïcödé ✓ 'quoted' \"double\" \\ back".into()),
        auto_remove_after: Some(RemovalPeriod::Month),
        auto_remove_date: Some(at(30 * DAY + 123_456_789)),
        auto_email_match: true,
        require_email_match: true,
        email_match_credential_filter: true,
        auth_organization_id: Some("auth-org-1".into()),
        attributes: attributes.as_object().expect("object").clone(),
        sequence: 7,
        created_at: at(123_456_789),
        modified_at: at(987_654_321),
        password_changed_at: Some(at(555_000_111)),
        failed_password_attempts: 3,
        password_locked_until: Some(at(999_000_000_123)),
    }
}

fn query(filter: UserFilter) -> UserQuery {
    UserQuery {
        filter,
        sort: UserSort::Id,
        direction: Direction::Asc,
        then_by: Vec::new(),
        offset: 0,
        limit: 1000,
    }
}

fn ids_of(users: &[User]) -> Vec<UserId> {
    users.iter().map(|u| u.id).collect()
}

/// `users()` (by id) and `count_users()` both select exactly `expected`.
async fn assert_selects(store: &Arc<dyn Store>, filter: UserFilter, expected: &[&User]) {
    let mut want: Vec<UserId> = expected.iter().map(|u| u.id).collect();
    want.sort();
    let got = store.users(&query(filter.clone())).await.expect("users");
    assert_eq!(ids_of(&got), want, "users() for {filter:?}");
    for u in &got {
        let e = expected
            .iter()
            .find(|e| e.id == u.id)
            .expect("expected user");
        assert_eq!(u, *e, "users() row for {filter:?}");
    }
    let n = store.count_users(&filter).await.expect("count_users");
    assert_eq!(n, want.len() as u64, "count_users() for {filter:?}");
}

fn text(field: TextField, op: TextOp, value: &str) -> UserFilter {
    UserFilter::Text {
        field,
        op,
        value: value.to_owned(),
    }
}

fn audit(
    org: Option<OrgId>,
    subject_type: &str,
    subject_id: i64,
    event: &str,
    n: i64,
) -> AuditEvent {
    AuditEvent {
        org_id: org,
        subject_type: subject_type.to_owned(),
        subject_id,
        sequence: Some(n),
        event_type: event.to_owned(),
        actor: Actor::ApiKey(ApiKeyId(77)),
        fields: vec!["email".into(), "firstName".into()],
        created_at: at(n),
    }
}

fn invitation(user: UserId, n: i64) -> Invitation {
    Invitation {
        user_id: user,
        token: uuid(),
        expires_at: at(7 * DAY + n),
        language: Language::De,
        email: Some(email("Invitee@Example.com")),
        phone: Some(phone("+31850607337")),
        sent_email: true,
        sent_sms: false,
        accepted_at: None,
        created_at: at(n),
        url_template: Some(
            UrlTemplate::parse("https://app.example/invite?u={{.UserID}}&c={{ .Code }}").unwrap(),
        ),
    }
}

fn group(id: i64, org: OrgId, name: &str, description: Option<&str>) -> UserGroup {
    UserGroup {
        id: GroupId(id),
        org_id: org,
        name: name.to_owned(),
        description: description.map(str::to_owned),
        remarks: Some(format!("remarks of {name}")),
        external_id: Some(format!("grp-{id}")),
        created_at: at(id),
        modified_at: at(id + 1),
    }
}

async fn new_group(
    store: &Arc<dyn Store>,
    org: OrgId,
    name: &str,
    description: Option<&str>,
) -> UserGroup {
    let g = group(id(store, IdKind::UserGroup).await, org, name, description);
    commit_ok(store, vec![Change::InsertGroup(g.clone())]).await;
    g
}

async fn new_key(
    store: &Arc<dyn Store>,
    org: Option<OrgId>,
    user: Option<UserId>,
    instance_admin: bool,
    secret_hash: &str,
) -> ApiKey {
    let id = id(store, IdKind::ApiKey).await;
    let key = ApiKey {
        id: ApiKeyId(id),
        name: format!("key {id}"),
        org_id: org,
        user_id: user,
        read_only: user.is_some(),
        instance_admin,
        expires_at: if instance_admin {
            None
        } else {
            Some(at(365 * DAY + id))
        },
        created_at: at(id),
        kind: KeyKind::ApiKey,
        revoked_at: None,
        last_used_at: None,
    };
    commit_ok(
        store,
        vec![Change::InsertApiKey {
            key: key.clone(),
            secret_hash: secret_hash.to_owned(),
        }],
    )
    .await;
    key
}

fn code(user: UserId, purpose: CodePurpose, hash: &str, attempts: i32) -> OneTimeCode {
    OneTimeCode {
        user_id: user,
        purpose,
        code_hash: hash.to_owned(),
        target: Some("target@example.com".into()),
        expires_at: at(600 * SECOND + i64::from(attempts)),
        attempts,
        created_at: at(i64::from(attempts)),
    }
}

fn outbox_message(user: Option<UserId>, channel: Channel, n: i64) -> OutboxMessage {
    OutboxMessage {
        id: uuid(),
        channel,
        template: "invitation".into(),
        language: Language::Fr,
        recipient: match channel {
            Channel::Email => "anna@example.com".into(),
            Channel::Sms => "+41791234567".into(),
        },
        user_id: user,
        org_id: None,
        params: json!({
            "firstName": "Anna",
            "link": "https://usher.example.com/invite/abc?x=1&y=2",
            "code": "012345",
            "expiresInDays": 7,
            "nested": {"list": [1, 2.5, null, true, "ü"]}
        }),
        created_at: at(n),
    }
}

/// No audit event was written for user `id`.
async fn assert_no_audit(store: &Arc<dyn Store>, id: i64) {
    assert!(store.audit_events("user", id).await.unwrap().is_empty());
}

fn assert_already_exists(r: Result<(), Error>, what: Conflict) {
    match r {
        Err(Error::AlreadyExists { what: w, .. }) => assert_eq!(w, what),
        other => panic!("expected AlreadyExists({what:?}), got {other:?}"),
    }
}

// ---------------------------------------------------------------------------------------------
// Organizations and ids
// ---------------------------------------------------------------------------------------------

async fn organizations_and_ids(store: Arc<dyn Store>) {
    store.ping().await.unwrap();
    assert!(store.organizations().await.unwrap().is_empty());

    for kind in [
        IdKind::Organization,
        IdKind::User,
        IdKind::UserGroup,
        IdKind::ApiKey,
    ] {
        let a = store.allocate_ids(kind, 3).await.unwrap();
        let b = store.allocate_ids(kind, 2).await.unwrap();
        let c = store.allocate_ids(kind, 1).await.unwrap();
        assert_eq!((a.len(), b.len(), c.len()), (3, 2, 1), "{kind:?}");
        let all: Vec<i64> = a.iter().chain(&b).chain(&c).copied().collect();
        assert!(
            all.windows(2).all(|w| w[0] < w[1]),
            "{kind:?} ids increase: {all:?}"
        );
        assert!(all[0] > 0, "{kind:?} ids are positive");
        assert!(store.allocate_ids(kind, 0).await.unwrap().is_empty());
    }

    // Concurrent allocations never hand out the same id.
    let mut tasks = Vec::new();
    for _ in 0..8 {
        let s = store.clone();
        tasks.push(tokio::spawn(async move {
            s.allocate_ids(IdKind::User, 5).await.unwrap()
        }));
    }
    let mut seen = BTreeSet::new();
    for t in tasks {
        for i in t.await.unwrap() {
            assert!(seen.insert(i), "id {i} allocated twice");
        }
    }

    let a = new_org(&store, "Acme").await;
    let b = new_org(&store, "Bolt ✓").await;
    assert!(a.id < b.id);
    assert_eq!(store.organization(a.id).await.unwrap(), Some(a.clone()));
    assert_eq!(store.organization(b.id).await.unwrap(), Some(b.clone()));
    assert_eq!(
        store.organization(OrgId(b.id.0 + 1000)).await.unwrap(),
        None
    );
    assert_eq!(
        store.organizations().await.unwrap(),
        vec![a.clone(), b.clone()]
    );

    // The primary key holds.
    let dup = Organization {
        name: "again".into(),
        ..a.clone()
    };
    assert!(
        commit(&store, vec![Change::InsertOrganization(dup)])
            .await
            .is_err()
    );
    assert_eq!(store.organizations().await.unwrap(), vec![a, b]);
}
contract!(organizations_and_ids);

// ---------------------------------------------------------------------------------------------
// Users
// ---------------------------------------------------------------------------------------------

async fn user_round_trip(store: Arc<dyn Store>) {
    let org = new_org(&store, "o").await;
    let full = full_user(UserId(id(&store, IdKind::User).await), org.id);
    let minimal = User::new(UserId(id(&store, IdKind::User).await), org.id, at(5));
    commit_ok(
        &store,
        vec![
            Change::InsertUser(full.clone()),
            Change::InsertUser(minimal.clone()),
        ],
    )
    .await;

    assert_eq!(store.user(full.id).await.unwrap(), Some(full.clone()));
    assert_eq!(store.user(minimal.id).await.unwrap(), Some(minimal.clone()));
    assert_eq!(store.user(UserId(minimal.id.0 + 1000)).await.unwrap(), None);

    // By username, case-insensitively.
    let lower = full.username.to_lowercase();
    assert_eq!(
        store.user_by_username(&lower).await.unwrap(),
        Some(full.clone())
    );
    assert_eq!(
        store
            .user_by_username(&full.username.to_uppercase())
            .await
            .unwrap(),
        Some(full.clone())
    );
    assert_eq!(
        store.user_by_username(&minimal.username).await.unwrap(),
        Some(minimal.clone())
    );
    assert_eq!(store.user_by_username("nobody").await.unwrap(), None);

    // The list call reads the same row.
    let listed = store.users(&query(UserFilter::Org(org.id))).await.unwrap();
    assert_eq!(listed, vec![full.clone(), minimal.clone()]);
}
contract!(user_round_trip);

async fn update_user_with_sequence(store: Arc<dyn Store>) {
    let org = new_org(&store, "o").await;
    let u = new_user(&store, org.id, |u| u.first_name = Some("Old".into())).await;

    let mut v2 = full_user(u.id, org.id);
    v2.sequence = 2;
    v2.created_at = u.created_at;
    commit_ok(
        &store,
        vec![Change::UpdateUser {
            user: v2.clone(),
            expected_sequence: 1,
        }],
    )
    .await;
    assert_eq!(store.user(u.id).await.unwrap(), Some(v2.clone()));

    // A stale sequence changes nothing, not even the other changes of the set — in either order
    // (the services put the update first, which PostgreSQL runs as one statement).
    let mut stale = v2.clone();
    stale.first_name = Some("Lost".into());
    stale.sequence = 3;
    let update = Change::UpdateUser {
        user: stale,
        expected_sequence: 1,
    };
    let event = Change::Audit(audit(Some(org.id), "user", u.id.0, "user.updated", 3));
    for changes in [vec![event.clone(), update.clone()], vec![update, event]] {
        let r = commit(&store, changes).await;
        assert!(matches!(r, Err(Error::Conflict)), "{r:?}");
        assert_eq!(store.user(u.id).await.unwrap(), Some(v2.clone()));
        assert!(store.audit_events("user", u.id.0).await.unwrap().is_empty());
    }

    // Updating a user that does not exist is a conflict as well.
    let ghost = User::new(UserId(u.id.0 + 1000), org.id, at(0));
    let r = commit(
        &store,
        vec![Change::UpdateUser {
            user: ghost.clone(),
            expected_sequence: 1,
        }],
    )
    .await;
    assert!(matches!(r, Err(Error::Conflict)), "{r:?}");
    assert_eq!(store.user(ghost.id).await.unwrap(), None);

    // The right sequence again; clearing fields writes NULLs.
    let mut v3 = User::new(u.id, org.id, u.created_at);
    v3.sequence = 3;
    v3.modified_at = at(999);
    let event = audit(Some(org.id), "user", u.id.0, "user.updated", 3);
    commit_ok(
        &store,
        vec![
            Change::UpdateUser {
                user: v3.clone(),
                expected_sequence: 2,
            },
            Change::Audit(event.clone()),
        ],
    )
    .await;
    assert_eq!(store.user(u.id).await.unwrap(), Some(v3));
    assert_eq!(
        store.audit_events("user", u.id.0).await.unwrap(),
        vec![event]
    );
}
contract!(update_user_with_sequence);

async fn unique_constraints(store: Arc<dyn Store>) {
    let a = new_org(&store, "a").await;
    let b = new_org(&store, "b").await;

    let jane = new_user(&store, a.id, |u| {
        u.username = "jane".into();
        u.email = Some(email("Jane.Doe@Example.com"));
        u.phone = Some(phone("+41791234567"));
    })
    .await;

    // Same email, other case, same organization.
    let dup = user_draft(&store, a.id, |u| {
        u.email = Some(email("jane.doe@EXAMPLE.com"))
    })
    .await;
    assert_already_exists(
        commit(&store, vec![Change::InsertUser(dup.clone())]).await,
        Conflict::UserEmail,
    );
    assert_eq!(store.user(dup.id).await.unwrap(), None);

    // The same address in another organization is fine.
    let other_org = new_user(&store, b.id, |u| {
        u.email = Some(email("Jane.Doe@Example.com"))
    })
    .await;
    assert_eq!(
        store.user(other_org.id).await.unwrap(),
        Some(other_org.clone())
    );

    // The same phone twice without email: refused; with an email (or beside one) it is fine.
    let p1 = new_user(&store, a.id, |u| u.phone = Some(phone("+31850607337"))).await;
    let p2 = user_draft(&store, a.id, |u| u.phone = Some(phone("+31850607337"))).await;
    assert_already_exists(
        commit(&store, vec![Change::InsertUser(p2.clone())]).await,
        Conflict::UserPhone,
    );
    assert_eq!(store.user(p2.id).await.unwrap(), None);
    let p3 = new_user(&store, a.id, |u| {
        u.phone = Some(phone("+31850607337"));
        u.email = Some(email("p3@example.com"));
    })
    .await;
    let p4 = new_user(&store, b.id, |u| u.phone = Some(phone("+31850607337"))).await;
    // Jane has an email, so her phone is free for a user without one.
    let p5 = new_user(&store, a.id, |u| u.phone = Some(phone("+41791234567"))).await;

    // Usernames are unique in the instance, ignoring case.
    let taken = user_draft(&store, b.id, |u| u.username = "JANE".into()).await;
    assert_already_exists(
        commit(&store, vec![Change::InsertUser(taken.clone())]).await,
        Conflict::Username,
    );
    assert_eq!(store.user(taken.id).await.unwrap(), None);

    // An update that takes another user's email is refused and changes nothing, with or without
    // its audit event.
    let mut grab = p3.clone();
    grab.email = Some(email("JANE.DOE@example.com"));
    grab.sequence = 2;
    assert_already_exists(
        commit(
            &store,
            vec![Change::UpdateUser {
                user: grab.clone(),
                expected_sequence: 1,
            }],
        )
        .await,
        Conflict::UserEmail,
    );
    assert_already_exists(
        commit(
            &store,
            vec![
                Change::UpdateUser {
                    user: grab,
                    expected_sequence: 1,
                },
                Change::Audit(audit(Some(p3.org_id), "user", p3.id.0, "user.updated", 2)),
            ],
        )
        .await,
        Conflict::UserEmail,
    );
    assert_eq!(store.user(p3.id).await.unwrap(), Some(p3.clone()));
    assert_no_audit(&store, p3.id.0).await;

    assert_selects(
        &store,
        UserFilter::All,
        &[&jane, &other_org, &p1, &p3, &p4, &p5],
    )
    .await;
}
contract!(unique_constraints);

// ---------------------------------------------------------------------------------------------
// Atomicity
// ---------------------------------------------------------------------------------------------

async fn change_sets_are_atomic(store: Arc<dyn Store>) {
    let org = new_org(&store, "o").await;
    let first = new_user(&store, org.id, |u| {
        u.email = Some(email("first@example.com"))
    })
    .await;

    // Everything before the failing last change is undone.
    let fresh = user_draft(&store, org.id, |u| {
        u.email = Some(email("fresh@example.com"))
    })
    .await;
    let clash = user_draft(&store, org.id, |u| {
        u.email = Some(email("FIRST@example.com"))
    })
    .await;
    let group_id = id(&store, IdKind::UserGroup).await;
    let msg = outbox_message(Some(fresh.id), Channel::Email, 1);
    let r = commit(
        &store,
        vec![
            Change::InsertUser(fresh.clone()),
            Change::Audit(audit(Some(org.id), "user", fresh.id.0, "user.created", 1)),
            Change::PutInvitation(invitation(fresh.id, 1)),
            Change::InsertGroup(group(group_id, org.id, "G", None)),
            Change::PutMember {
                group: GroupId(group_id),
                user: fresh.id,
                group_admin: true,
            },
            Change::PutCode(code(fresh.id, CodePurpose::EmailVerification, "h", 0)),
            Change::Outbox(msg),
            Change::InsertUser(clash.clone()),
        ],
    )
    .await;
    assert_already_exists(r, Conflict::UserEmail);
    assert_eq!(store.user(fresh.id).await.unwrap(), None);
    assert_eq!(store.user(clash.id).await.unwrap(), None);
    assert_no_audit(&store, fresh.id.0).await;
    assert_eq!(store.invitation(fresh.id).await.unwrap(), None);
    assert_eq!(store.group(GroupId(group_id)).await.unwrap(), None);
    assert!(store.codes(fresh.id).await.unwrap().is_empty());
    assert!(store.outbox(None).await.unwrap().is_empty());
    assert_selects(&store, UserFilter::All, &[&first]).await;

    // A reference to a missing row fails the whole set too.
    let lonely = user_draft(&store, org.id, |_| {}).await;
    let r = commit(
        &store,
        vec![
            Change::InsertUser(lonely.clone()),
            Change::PutMember {
                group: GroupId(group_id + 1000),
                user: lonely.id,
                group_admin: false,
            },
        ],
    )
    .await;
    assert!(r.is_err(), "{r:?}");
    assert_eq!(store.user(lonely.id).await.unwrap(), None);

    // The store is still usable and the same changes go through once the clash is gone.
    commit_ok(
        &store,
        vec![
            Change::InsertUser(fresh.clone()),
            Change::Audit(audit(Some(org.id), "user", fresh.id.0, "user.created", 1)),
        ],
    )
    .await;
    assert_eq!(store.user(fresh.id).await.unwrap(), Some(fresh.clone()));
    assert_eq!(
        store.audit_events("user", fresh.id.0).await.unwrap().len(),
        1
    );
    store.commit(ChangeSet::new()).await.unwrap();
}
contract!(change_sets_are_atomic);

/// Many change sets committed at once (on SQLite they share the writer's transactions): the
/// failing ones leave nothing behind and do not disturb the others.
async fn concurrent_commits_are_isolated(store: Arc<dyn Store>) {
    let org = new_org(&store, "o").await;
    let taken = new_user(&store, org.id, |u| {
        u.email = Some(email("taken@example.com"))
    })
    .await;

    let mut good = Vec::new();
    let mut bad = Vec::new();
    let mut tasks = Vec::new();
    for i in 0..24 {
        let s = store.clone();
        let ok = i % 2 == 0;
        let u = user_draft(&store, org.id, |u| {
            u.email = Some(email(&if ok {
                format!("u{i}@example.com")
            } else {
                "Taken@Example.com".into()
            }));
        })
        .await;
        let other = user_draft(&store, org.id, |_| {}).await;
        let changes = vec![
            Change::InsertUser(other.clone()),
            Change::Audit(audit(Some(org.id), "user", u.id.0, "user.created", i)),
            Change::InsertUser(u.clone()),
        ];
        if ok {
            good.push((u, other));
        } else {
            bad.push((u, other));
        }
        tasks.push(tokio::spawn(async move {
            (ok, s.commit(ChangeSet { changes }).await)
        }));
    }
    for t in tasks {
        let (ok, r) = t.await.unwrap();
        if ok {
            r.expect("the good change set commits");
        } else {
            assert_already_exists(r, Conflict::UserEmail);
        }
    }
    for (u, other) in &good {
        assert_eq!(store.user(u.id).await.unwrap().as_ref(), Some(u));
        assert_eq!(store.user(other.id).await.unwrap().as_ref(), Some(other));
        assert_eq!(store.audit_events("user", u.id.0).await.unwrap().len(), 1);
    }
    for (u, other) in &bad {
        assert_eq!(store.user(u.id).await.unwrap(), None);
        assert_eq!(store.user(other.id).await.unwrap(), None);
        assert!(store.audit_events("user", u.id.0).await.unwrap().is_empty());
    }
    assert_eq!(
        store.count_users(&UserFilter::All).await.unwrap(),
        1 + 2 * good.len() as u64
    );
    assert_eq!(store.user(taken.id).await.unwrap(), Some(taken.clone()));
    // The search index holds what committed and nothing of what was refused.
    assert_selects(&store, UserFilter::Search("taken@".into()), &[&taken]).await;
    for (u, _) in &good {
        let address = u.email.as_ref().unwrap().as_str().to_owned();
        assert_selects(&store, UserFilter::Search(address), &[u]).await;
    }

    // Concurrent updates of one user with the same expected sequence: exactly one wins.
    let target = new_user(&store, org.id, |_| {}).await;
    let mut tasks = Vec::new();
    for i in 0..8 {
        let s = store.clone();
        let mut v = target.clone();
        v.first_name = Some(format!("writer {i}"));
        v.sequence = 2;
        tasks.push(tokio::spawn(async move {
            (
                v.clone(),
                s.commit(ChangeSet {
                    changes: vec![Change::UpdateUser {
                        user: v,
                        expected_sequence: 1,
                    }],
                })
                .await,
            )
        }));
    }
    let mut winners = Vec::new();
    for t in tasks {
        match t.await.unwrap() {
            (v, Ok(())) => winners.push(v),
            (_, Err(Error::Conflict)) => {}
            (_, Err(e)) => panic!("unexpected error {e:?}"),
        }
    }
    assert_eq!(winners.len(), 1, "exactly one concurrent update wins");
    let winner = winners.remove(0);
    assert_eq!(store.user(target.id).await.unwrap().as_ref(), Some(&winner));
    let name = winner.first_name.clone().unwrap();
    assert_selects(&store, UserFilter::Search(name), &[&winner]).await;
    assert_selects(&store, UserFilter::Search("writer".into()), &[&winner]).await;
}
contract!(concurrent_commits_are_isolated);

// ---------------------------------------------------------------------------------------------
// Lookups and lists
// ---------------------------------------------------------------------------------------------

async fn find_user_by_key(store: Arc<dyn Store>) {
    let a = new_org(&store, "a").await;
    let b = new_org(&store, "b").await;
    let with_email = new_user(&store, a.id, |u| {
        u.email = Some(email("Mixed.Case@Example.com"));
        u.phone = Some(phone("+41791234567"));
        u.external_id = Some("EXT-1".into());
    })
    .await;
    let phone_only = new_user(&store, a.id, |u| {
        u.phone = Some(phone("+31850607337"));
        u.external_id = Some("EXT-2".into());
    })
    .await;
    let in_b = new_user(&store, b.id, |u| {
        u.email = Some(email("mixed.case@example.com"));
        u.external_id = Some("EXT-1".into());
    })
    .await;

    let find = |org: OrgId, key: UserKey<'static>| {
        let s = store.clone();
        async move { s.find_user(org, key).await.unwrap() }
    };
    assert_eq!(
        find(a.id, UserKey::Email("mixed.case@example.com")).await,
        Some(with_email.id)
    );
    assert_eq!(
        find(b.id, UserKey::Email("mixed.case@example.com")).await,
        Some(in_b.id)
    );
    assert_eq!(find(a.id, UserKey::Email("other@example.com")).await, None);

    assert_eq!(
        find(a.id, UserKey::PhoneWithoutEmail("+31850607337")).await,
        Some(phone_only.id)
    );
    // This user has an email address, so the phone alone does not find them.
    assert_eq!(
        find(a.id, UserKey::PhoneWithoutEmail("+41791234567")).await,
        None
    );
    assert_eq!(
        find(b.id, UserKey::PhoneWithoutEmail("+31850607337")).await,
        None
    );

    assert_eq!(
        find(a.id, UserKey::ExternalId("EXT-1")).await,
        Some(with_email.id)
    );
    assert_eq!(
        find(a.id, UserKey::ExternalId("EXT-2")).await,
        Some(phone_only.id)
    );
    assert_eq!(
        find(b.id, UserKey::ExternalId("EXT-1")).await,
        Some(in_b.id)
    );
    assert_eq!(find(a.id, UserKey::ExternalId("ext-1")).await, None);
    assert_eq!(find(b.id, UserKey::ExternalId("EXT-2")).await, None);
}
contract!(find_user_by_key);

/// The users of the list tests, in organization `a` unless said otherwise.
struct People {
    anna: User,
    bob: User,
    zeta: User,
    adams: User,
    carl: User,
    anna_b: User,
    g: UserGroup,
    h: UserGroup,
}

async fn people(store: &Arc<dyn Store>) -> (OrgId, OrgId, People) {
    let a = new_org(store, "a").await.id;
    let b = new_org(store, "b").await.id;
    let anna = new_user(store, a, |u| {
        u.username = "anna".into();
        u.first_name = Some("Anna".into());
        u.last_name = Some("Meier".into());
        u.nick_name = Some("annie".into());
        u.display_name = Some("Anna M.".into());
        u.email = Some(email("anna.meier@example.com"));
        u.phone = Some(phone("+41791234567"));
        u.external_id = Some("E-1".into());
        u.state = UserState::Active;
        u.roles = vec![ROLE_USER.into(), "ROLE_AUDITOR".into()];
    })
    .await;
    let bob = new_user(store, a, |u| {
        u.username = "Bob".into();
        u.first_name = Some("Bob".into());
        u.last_name = Some("50%_Off".into());
        u.email = Some(email("Bob@Example.org"));
        u.super_user = true;
    })
    .await;
    let zeta = new_user(store, a, |u| {
        u.last_name = Some("Zeta".into());
        u.phone = Some(phone("+31850607337"));
        u.state = UserState::Locked;
    })
    .await;
    let adams = new_user(store, a, |u| {
        u.username = "aadams".into();
        u.first_name = Some("Anna".into());
        u.last_name = Some("Adams".into());
        u.email = Some(email("a.adams@example.net"));
    })
    .await;
    let carl = new_user(store, a, |u| {
        u.username = "carl".into();
        u.first_name = Some("Carl".into());
        u.last_name = Some("50xxOff".into());
        u.email = Some(email("carl@example.com"));
    })
    .await;
    let anna_b = new_user(store, b, |u| {
        u.username = "anna-b".into();
        u.first_name = Some("Anna".into());
        u.email = Some(email("anna@b.example"));
    })
    .await;
    // g: anna administers zeta; h: adams administers carl.
    let g = new_group(store, a, "G", None).await;
    let h = new_group(store, a, "H", None).await;
    commit_ok(
        store,
        vec![
            Change::PutMember {
                group: g.id,
                user: anna.id,
                group_admin: true,
            },
            Change::PutMember {
                group: g.id,
                user: zeta.id,
                group_admin: false,
            },
            Change::PutMember {
                group: h.id,
                user: adams.id,
                group_admin: true,
            },
            Change::PutMember {
                group: h.id,
                user: carl.id,
                group_admin: false,
            },
        ],
    )
    .await;
    (
        a,
        b,
        People {
            anna,
            bob,
            zeta,
            adams,
            carl,
            anna_b,
            g,
            h,
        },
    )
}

async fn user_filters(store: Arc<dyn Store>) {
    use TextField as F;
    use TextOp as O;
    use UserFilter as U;
    let (a, b, p) = people(&store).await;
    let People {
        anna,
        bob,
        zeta,
        adams,
        carl,
        anna_b,
        g,
        h,
    } = &p;
    let org_a = |f: UserFilter| U::And(vec![U::Org(a), f]);

    assert_selects(&store, U::All, &[anna, bob, zeta, adams, carl, anna_b]).await;
    assert_selects(&store, U::None, &[]).await;
    assert_selects(&store, U::Org(a), &[anna, bob, zeta, adams, carl]).await;
    assert_selects(&store, U::Org(b), &[anna_b]).await;
    assert_selects(&store, U::Id(bob.id), &[bob]).await;
    assert_selects(
        &store,
        U::Ids(vec![bob.id, carl.id, UserId(999_999)]),
        &[bob, carl],
    )
    .await;
    assert_selects(&store, U::Ids(vec![]), &[]).await;

    // Search: names, email and phone, ignoring case; LIKE metacharacters are literal.
    assert_selects(&store, U::Search("ANNA".into()), &[anna, adams, anna_b]).await;
    assert_selects(&store, org_a(U::Search("aNNa".into())), &[anna, adams]).await;
    assert_selects(&store, U::Search("meier".into()), &[anna]).await;
    assert_selects(&store, U::Search("EXAMPLE.ORG".into()), &[bob]).await;
    assert_selects(
        &store,
        U::Search("@example.".into()),
        &[anna, bob, adams, carl],
    )
    .await;
    assert_selects(&store, U::Search("7912".into()), &[anna]).await;
    assert_selects(&store, U::Search("+3185".into()), &[zeta]).await;
    assert_selects(&store, U::Search("50%".into()), &[bob]).await;
    assert_selects(&store, U::Search("%".into()), &[bob]).await;
    assert_selects(&store, U::Search("_".into()), &[bob]).await;
    assert_selects(&store, U::Search("%_o".into()), &[bob]).await;
    assert_selects(&store, U::Search("50%off".into()), &[]).await;
    assert_selects(&store, U::Search("x_o".into()), &[]).await;
    assert_selects(&store, U::Search("a%a".into()), &[]).await;
    assert_selects(&store, U::Search("\\".into()), &[]).await;
    assert_selects(&store, U::Search("annie".into()), &[]).await; // nick names are not searched
    assert_selects(
        &store,
        U::Search(String::new()),
        &[anna, bob, zeta, adams, carl, anna_b],
    )
    .await;

    // Text with every operator; the plain ones are case-sensitive.
    assert_selects(
        &store,
        org_a(text(F::FirstName, O::Equals, "Anna")),
        &[anna, adams],
    )
    .await;
    assert_selects(&store, text(F::FirstName, O::Equals, "anna"), &[]).await;
    assert_selects(
        &store,
        text(F::FirstName, O::EqualsIgnoreCase, "aNNA"),
        &[anna, adams, anna_b],
    )
    .await;
    assert_selects(&store, text(F::FirstName, O::Equals, "Ann"), &[]).await;
    assert_selects(&store, text(F::LastName, O::StartsWith, "Me"), &[anna]).await;
    assert_selects(&store, text(F::LastName, O::StartsWith, "me"), &[]).await;
    assert_selects(
        &store,
        text(F::LastName, O::StartsWithIgnoreCase, "mE"),
        &[anna],
    )
    .await;
    assert_selects(&store, text(F::LastName, O::StartsWith, "50%"), &[bob]).await;
    assert_selects(
        &store,
        text(F::LastName, O::StartsWithIgnoreCase, "50%"),
        &[bob],
    )
    .await;
    assert_selects(
        &store,
        text(F::LastName, O::StartsWithIgnoreCase, "50_"),
        &[],
    )
    .await;
    assert_selects(&store, text(F::Email, O::Contains, "Example"), &[bob]).await;
    assert_selects(
        &store,
        text(F::Email, O::Contains, "example"),
        &[anna, adams, carl, anna_b],
    )
    .await;
    assert_selects(
        &store,
        text(F::Email, O::ContainsIgnoreCase, "EXAMPLE"),
        &[anna, bob, adams, carl, anna_b],
    )
    .await;
    assert_selects(&store, text(F::LastName, O::Contains, "%_"), &[bob]).await;
    assert_selects(
        &store,
        text(F::LastName, O::ContainsIgnoreCase, "%_o"),
        &[bob],
    )
    .await;
    assert_selects(
        &store,
        text(F::LastName, O::ContainsIgnoreCase, "_"),
        &[bob],
    )
    .await;
    assert_selects(&store, text(F::Email, O::EndsWith, ".org"), &[bob]).await;
    assert_selects(&store, text(F::Email, O::EndsWith, ".ORG"), &[]).await;
    assert_selects(
        &store,
        text(F::Email, O::EndsWithIgnoreCase, ".ORG"),
        &[bob],
    )
    .await;
    assert_selects(&store, text(F::LastName, O::EndsWith, "Off"), &[bob, carl]).await;
    assert_selects(
        &store,
        text(F::LastName, O::EndsWithIgnoreCase, "%_OFF"),
        &[bob],
    )
    .await;
    assert_selects(&store, text(F::Username, O::Equals, "Bob"), &[bob]).await;
    assert_selects(
        &store,
        text(F::Username, O::EqualsIgnoreCase, "BOB"),
        &[bob],
    )
    .await;
    assert_selects(&store, text(F::NickName, O::Equals, "annie"), &[anna]).await;
    assert_selects(
        &store,
        text(F::DisplayName, O::ContainsIgnoreCase, "anna m"),
        &[anna],
    )
    .await;
    assert_selects(&store, text(F::Phone, O::StartsWith, "+41"), &[anna]).await;
    assert_selects(&store, text(F::Phone, O::EndsWith, "337"), &[zeta]).await;
    assert_selects(&store, text(F::ExternalId, O::Equals, "E-1"), &[anna]).await;
    assert_selects(
        &store,
        text(F::ExternalId, O::EqualsIgnoreCase, "e-1"),
        &[anna],
    )
    .await;
    // An empty prefix, suffix or part matches every present value, never a missing one.
    assert_selects(
        &store,
        text(F::FirstName, O::StartsWith, ""),
        &[anna, bob, adams, carl, anna_b],
    )
    .await;
    assert_selects(
        &store,
        text(F::FirstName, O::EndsWith, ""),
        &[anna, bob, adams, carl, anna_b],
    )
    .await;
    assert_selects(&store, text(F::Phone, O::Contains, ""), &[anna, zeta]).await;
    assert_selects(
        &store,
        text(F::Phone, O::ContainsIgnoreCase, ""),
        &[anna, zeta],
    )
    .await;

    // Nesting; a negated text condition includes users without the field.
    assert_selects(
        &store,
        org_a(U::Not(Box::new(text(F::FirstName, O::Equals, "Anna")))),
        &[bob, zeta, carl],
    )
    .await;
    assert_selects(
        &store,
        U::And(vec![
            U::Org(a),
            U::Or(vec![
                text(F::FirstName, O::Equals, "Carl"),
                U::Search("meier".into()),
                U::State(UserState::Locked),
            ]),
            U::Not(Box::new(U::State(UserState::Locked))),
        ]),
        &[anna, carl],
    )
    .await;
    assert_selects(
        &store,
        org_a(U::Not(Box::new(U::Or(vec![
            U::Id(anna.id),
            U::Ids(vec![bob.id, zeta.id]),
        ])))),
        &[adams, carl],
    )
    .await;
    assert_selects(
        &store,
        U::Or(vec![
            U::And(vec![U::Org(b), U::Search("anna".into())]),
            U::And(vec![U::Org(a), U::SuperUser(true)]),
        ]),
        &[bob, anna_b],
    )
    .await;
    assert_selects(
        &store,
        U::Not(Box::new(U::Not(Box::new(U::Org(b))))),
        &[anna_b],
    )
    .await;
    assert_selects(
        &store,
        U::And(vec![]),
        &[anna, bob, zeta, adams, carl, anna_b],
    )
    .await;
    assert_selects(&store, U::Or(vec![]), &[]).await;
    assert_selects(
        &store,
        U::Not(Box::new(U::Or(vec![]))),
        &[anna, bob, zeta, adams, carl, anna_b],
    )
    .await;
    assert_selects(
        &store,
        U::Org(a).and(U::All).and(U::SuperUser(true)),
        &[bob],
    )
    .await;

    // State, super user and roles.
    assert_selects(&store, U::State(UserState::Active), &[anna]).await;
    assert_selects(&store, U::State(UserState::Locked), &[zeta]).await;
    assert_selects(
        &store,
        org_a(U::State(UserState::Initial)),
        &[bob, adams, carl],
    )
    .await;
    assert_selects(&store, U::SuperUser(true), &[bob]).await;
    assert_selects(
        &store,
        org_a(U::SuperUser(false)),
        &[anna, zeta, adams, carl],
    )
    .await;
    assert_selects(&store, U::Role("ROLE_ADMIN_TENANT".into()), &[bob]).await;
    assert_selects(
        &store,
        org_a(U::Not(Box::new(U::Role("ROLE_ADMIN_TENANT".into())))),
        &[anna, zeta, adams, carl],
    )
    .await;
    assert_selects(
        &store,
        U::Role(ROLE_USER.into()),
        &[anna, bob, zeta, adams, carl, anna_b],
    )
    .await;
    assert_selects(&store, U::Role("ROLE_AUDITOR".into()), &[anna]).await;
    assert_selects(&store, U::Role("ROLE_NOBODY".into()), &[]).await;

    // Groups.
    assert_selects(&store, U::InGroup(g.id), &[anna, zeta]).await;
    assert_selects(&store, U::InGroup(h.id), &[adams, carl]).await;
    assert_selects(&store, U::InGroup(GroupId(999_999)), &[]).await;
    assert_selects(&store, U::VisibleToGroupAdmin(anna.id), &[anna, zeta]).await;
    assert_selects(&store, U::VisibleToGroupAdmin(adams.id), &[adams, carl]).await;
    // A plain member sees only themself; so does a user in no group.
    assert_selects(&store, U::VisibleToGroupAdmin(zeta.id), &[zeta]).await;
    assert_selects(&store, U::VisibleToGroupAdmin(bob.id), &[bob]).await;
    assert_selects(
        &store,
        U::And(vec![
            U::VisibleToGroupAdmin(anna.id),
            U::Not(Box::new(U::Id(anna.id))),
        ]),
        &[zeta],
    )
    .await;
}
contract!(user_filters);

async fn user_sorting_and_paging(store: Arc<dyn Store>) {
    let (a, _b, p) = people(&store).await;
    let People {
        anna,
        bob,
        zeta,
        adams,
        carl,
        ..
    } = &p;
    let list = |sort: UserSort, direction: Direction, offset: u64, limit: u64| {
        let s = store.clone();
        async move {
            ids_of(
                &s.users(&UserQuery {
                    filter: UserFilter::Org(a),
                    sort,
                    direction,
                    then_by: Vec::new(),
                    offset,
                    limit,
                })
                .await
                .unwrap(),
            )
        }
    };
    let all = u64::MAX;
    use Direction::{Asc, Desc};

    // Missing first names sort last both ways; equal names break ties by id in the same direction.
    assert_eq!(
        list(UserSort::FirstName, Asc, 0, all).await,
        vec![anna.id, adams.id, bob.id, carl.id, zeta.id]
    );
    assert_eq!(
        list(UserSort::FirstName, Desc, 0, all).await,
        vec![carl.id, bob.id, adams.id, anna.id, zeta.id]
    );
    assert_eq!(
        list(UserSort::FirstName, Asc, 1, 2).await,
        vec![adams.id, bob.id]
    );
    assert_eq!(
        list(UserSort::FirstName, Desc, 3, 10).await,
        vec![anna.id, zeta.id]
    );
    assert_eq!(list(UserSort::FirstName, Asc, 4, 10).await, vec![zeta.id]);
    assert_eq!(list(UserSort::FirstName, Asc, 5, 10).await, vec![]);
    assert_eq!(list(UserSort::FirstName, Asc, 0, 0).await, vec![]);

    assert_eq!(
        list(UserSort::Id, Asc, 0, all).await,
        vec![anna.id, bob.id, zeta.id, adams.id, carl.id]
    );
    assert_eq!(
        list(UserSort::Id, Desc, 1, 3).await,
        vec![adams.id, zeta.id, bob.id]
    );
    // Last names: "50%_Off" < "50xxOff" < "Adams" < "Meier" < "Zeta".
    assert_eq!(
        list(UserSort::LastName, Asc, 0, all).await,
        vec![bob.id, carl.id, adams.id, anna.id, zeta.id]
    );
    // Emails compare lower-cased; zeta has none.
    assert_eq!(
        list(UserSort::Email, Asc, 0, all).await,
        vec![adams.id, anna.id, bob.id, carl.id, zeta.id]
    );
    assert_eq!(
        list(UserSort::Email, Desc, 0, all).await,
        vec![carl.id, bob.id, anna.id, adams.id, zeta.id]
    );
    assert_eq!(
        list(UserSort::NickName, Asc, 0, all).await,
        vec![anna.id, bob.id, zeta.id, adams.id, carl.id]
    );
    assert_eq!(
        list(UserSort::State, Asc, 0, 2).await,
        vec![anna.id, bob.id]
    );
    assert_eq!(
        list(UserSort::CreatedAt, Desc, 0, all).await,
        vec![carl.id, adams.id, zeta.id, bob.id, anna.id]
    );

    // Paging by offset walks the whole list exactly once.
    let mut paged = Vec::new();
    for page in 0..4 {
        paged.extend(list(UserSort::FirstName, Desc, page * 2, 2).await);
    }
    assert_eq!(paged, list(UserSort::FirstName, Desc, 0, all).await);
    assert_eq!(store.count_users(&UserFilter::Org(a)).await.unwrap(), 5);
}
contract!(user_sorting_and_paging);

// ---------------------------------------------------------------------------------------------
// Invitations
// ---------------------------------------------------------------------------------------------

async fn invitations(store: Arc<dyn Store>) {
    let org = new_org(&store, "o").await;
    let u = new_user(&store, org.id, |_| {}).await;
    let v = new_user(&store, org.id, |_| {}).await;
    let w = new_user(&store, org.id, |_| {}).await;

    assert_eq!(store.invitation(u.id).await.unwrap(), None);
    assert_eq!(
        store.user_with_invitation(u.id).await.unwrap(),
        Some((u.clone(), None))
    );
    let first = invitation(u.id, 100);
    commit_ok(&store, vec![Change::PutInvitation(first.clone())]).await;
    assert_eq!(store.invitation(u.id).await.unwrap(), Some(first.clone()));
    // Read together: the same user and invitation as read apart.
    assert_eq!(
        store.user_with_invitation(u.id).await.unwrap(),
        Some((u.clone(), Some(first.clone())))
    );
    assert_eq!(
        store
            .user_with_invitation(UserId(u.id.0 + 1_000_000))
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        store.invitation_by_token(&first.token).await.unwrap(),
        Some(first.clone())
    );

    // Putting again replaces the invitation (new token, everything else too).
    let second = Invitation {
        user_id: u.id,
        token: uuid(),
        expires_at: at(14 * DAY + 5),
        language: Language::Cs,
        email: None,
        phone: None,
        sent_email: false,
        sent_sms: true,
        accepted_at: Some(at(3 * DAY + 999_999_999)),
        created_at: at(200),
        url_template: None,
    };
    commit_ok(&store, vec![Change::PutInvitation(second.clone())]).await;
    assert_eq!(store.invitation(u.id).await.unwrap(), Some(second.clone()));
    assert_eq!(store.invitation_by_token(&first.token).await.unwrap(), None);
    assert_eq!(
        store.invitation_by_token(&second.token).await.unwrap(),
        Some(second.clone())
    );

    let other = invitation(v.id, 300);
    commit_ok(&store, vec![Change::PutInvitation(other.clone())]).await;
    let mut many = store
        .invitations(&[u.id, v.id, w.id, UserId(999_999)])
        .await
        .unwrap();
    many.sort_by_key(|i| i.user_id);
    assert_eq!(many, vec![second.clone(), other.clone()]);
    assert_eq!(
        store.invitations(&[v.id]).await.unwrap(),
        vec![other.clone()]
    );
    assert!(store.invitations(&[]).await.unwrap().is_empty());
    assert!(store.invitations(&[w.id]).await.unwrap().is_empty());

    // Tokens are unique; an invitation needs its user.
    let stolen = Invitation {
        token: other.token.clone(),
        ..invitation(w.id, 400)
    };
    let r = commit(&store, vec![Change::PutInvitation(stolen)]).await;
    assert!(matches!(r, Err(Error::AlreadyExists { .. })), "{r:?}");
    assert_eq!(store.invitation(w.id).await.unwrap(), None);
    let r = commit(
        &store,
        vec![Change::PutInvitation(invitation(UserId(999_999), 1))],
    )
    .await;
    assert!(r.is_err(), "{r:?}");

    commit_ok(&store, vec![Change::DeleteInvitation(u.id)]).await;
    assert_eq!(store.invitation(u.id).await.unwrap(), None);
    assert_eq!(
        store.invitation_by_token(&second.token).await.unwrap(),
        None
    );
    assert_eq!(store.invitation(v.id).await.unwrap(), Some(other.clone()));
    // Deleting what is not there is not an error.
    commit_ok(&store, vec![Change::DeleteInvitation(u.id)]).await;
    // The user is untouched.
    assert_eq!(store.user(u.id).await.unwrap(), Some(u));
}
contract!(invitations);

// ---------------------------------------------------------------------------------------------
// Groups
// ---------------------------------------------------------------------------------------------

async fn groups_and_members(store: Arc<dyn Store>) {
    let a = new_org(&store, "a").await.id;
    let b = new_org(&store, "b").await.id;
    let alpha = new_group(&store, a, "Alpha", Some("First TEAM")).await;
    let beta = new_group(&store, a, "Beta", Some("second 100%")).await;
    let gamma = new_group(&store, a, "Gamma", None).await;
    let alpha_b = new_group(&store, b, "Alpha B", Some("other org")).await;

    let full = full_user(UserId(id(&store, IdKind::User).await), a);
    commit_ok(&store, vec![Change::InsertUser(full.clone())]).await;
    let plain = new_user(&store, a, |u| u.first_name = Some("Plain".into())).await;
    let outsider = new_user(&store, a, |_| {}).await;

    assert_eq!(store.group(alpha.id).await.unwrap(), Some(alpha.clone()));
    assert_eq!(store.group(GroupId(999_999)).await.unwrap(), None);

    let groups = |q: GroupQuery| {
        let s = store.clone();
        async move { s.groups(&q).await.unwrap() }
    };
    let all = |org: Option<OrgId>| GroupQuery {
        org,
        limit: 100,
        ..GroupQuery::default()
    };
    assert_eq!(
        groups(all(Some(a))).await,
        vec![alpha.clone(), beta.clone(), gamma.clone()]
    );
    assert_eq!(
        groups(all(None)).await,
        vec![alpha.clone(), alpha_b.clone(), beta.clone(), gamma.clone()]
    );
    assert_eq!(groups(all(Some(b))).await, vec![alpha_b.clone()]);
    assert_eq!(
        groups(GroupQuery {
            direction: Direction::Desc,
            ..all(Some(a))
        })
        .await,
        vec![gamma.clone(), beta.clone(), alpha.clone()]
    );
    assert_eq!(
        groups(GroupQuery {
            offset: 1,
            limit: 1,
            ..all(Some(a))
        })
        .await,
        vec![beta.clone()]
    );
    assert_eq!(
        groups(GroupQuery {
            offset: 3,
            ..all(Some(a))
        })
        .await,
        vec![]
    );
    assert_eq!(
        groups(GroupQuery {
            limit: 0,
            ..all(Some(a))
        })
        .await,
        vec![]
    );
    // Search: name or description, ignoring case, metacharacters literal.
    assert_eq!(
        groups(GroupQuery {
            search: Some("team".into()),
            ..all(None)
        })
        .await,
        vec![alpha.clone()]
    );
    assert_eq!(
        groups(GroupQuery {
            search: Some("ALP".into()),
            ..all(None)
        })
        .await,
        vec![alpha.clone(), alpha_b.clone()]
    );
    assert_eq!(
        groups(GroupQuery {
            search: Some("ALP".into()),
            ..all(Some(b))
        })
        .await,
        vec![alpha_b.clone()]
    );
    assert_eq!(
        groups(GroupQuery {
            search: Some("0%".into()),
            ..all(None)
        })
        .await,
        vec![beta.clone()]
    );
    assert_eq!(
        groups(GroupQuery {
            search: Some("a%a".into()),
            ..all(None)
        })
        .await,
        vec![]
    );
    assert_eq!(
        groups(GroupQuery {
            search: Some("_".into()),
            ..all(None)
        })
        .await,
        vec![]
    );

    // Members: put, upsert the admin flag, read back.
    commit_ok(
        &store,
        vec![
            Change::PutMember {
                group: alpha.id,
                user: full.id,
                group_admin: false,
            },
            Change::PutMember {
                group: alpha.id,
                user: plain.id,
                group_admin: true,
            },
            Change::PutMember {
                group: beta.id,
                user: full.id,
                group_admin: false,
            },
        ],
    )
    .await;
    assert_eq!(
        store.membership(alpha.id, full.id).await.unwrap(),
        Some(false)
    );
    assert_eq!(
        store.membership(alpha.id, plain.id).await.unwrap(),
        Some(true)
    );
    assert_eq!(store.membership(alpha.id, outsider.id).await.unwrap(), None);
    assert_eq!(store.membership(gamma.id, full.id).await.unwrap(), None);
    commit_ok(
        &store,
        vec![Change::PutMember {
            group: alpha.id,
            user: full.id,
            group_admin: true,
        }],
    )
    .await;
    assert_eq!(
        store.membership(alpha.id, full.id).await.unwrap(),
        Some(true)
    );
    commit_ok(
        &store,
        vec![Change::PutMember {
            group: alpha.id,
            user: plain.id,
            group_admin: false,
        }],
    )
    .await;
    assert_eq!(
        store.membership(alpha.id, plain.id).await.unwrap(),
        Some(false)
    );

    assert_eq!(
        store.groups_administered_by(full.id).await.unwrap(),
        vec![alpha.id]
    );
    assert_eq!(
        store.groups_administered_by(plain.id).await.unwrap(),
        vec![]
    );
    commit_ok(
        &store,
        vec![Change::PutMember {
            group: beta.id,
            user: full.id,
            group_admin: true,
        }],
    )
    .await;
    assert_eq!(
        store.groups_administered_by(full.id).await.unwrap(),
        vec![alpha.id, beta.id]
    );

    assert!(store.is_group_admin_of(full.id, plain.id).await.unwrap());
    assert!(store.is_group_admin_of(full.id, full.id).await.unwrap());
    assert!(!store.is_group_admin_of(plain.id, full.id).await.unwrap());
    assert!(!store.is_group_admin_of(full.id, outsider.id).await.unwrap());
    assert!(
        !store
            .is_group_admin_of(outsider.id, plain.id)
            .await
            .unwrap()
    );

    // group_members reads whole users (every column) with their flag.
    let members = store
        .group_members(&[alpha.id, beta.id, gamma.id])
        .await
        .unwrap();
    assert_eq!(
        members,
        vec![
            (
                alpha.id,
                GroupMember {
                    user: full.clone(),
                    group_admin: true
                }
            ),
            (
                alpha.id,
                GroupMember {
                    user: plain.clone(),
                    group_admin: false
                }
            ),
            (
                beta.id,
                GroupMember {
                    user: full.clone(),
                    group_admin: true
                }
            ),
        ]
    );
    assert_eq!(store.group_members(&[beta.id]).await.unwrap().len(), 1);
    assert!(store.group_members(&[]).await.unwrap().is_empty());
    assert!(store.group_members(&[gamma.id]).await.unwrap().is_empty());

    assert_eq!(
        groups(GroupQuery {
            member: Some(full.id),
            ..all(None)
        })
        .await,
        vec![alpha.clone(), beta.clone()]
    );
    assert_eq!(
        groups(GroupQuery {
            member: Some(plain.id),
            ..all(Some(a))
        })
        .await,
        vec![alpha.clone()]
    );
    assert_eq!(
        groups(GroupQuery {
            member: Some(outsider.id),
            ..all(None)
        })
        .await,
        vec![]
    );
    assert_eq!(
        groups(GroupQuery {
            member: Some(full.id),
            search: Some("second".into()),
            ..all(Some(a))
        })
        .await,
        vec![beta.clone()]
    );

    // Membership needs both ends.
    let r = commit(
        &store,
        vec![Change::PutMember {
            group: GroupId(999_999),
            user: full.id,
            group_admin: false,
        }],
    )
    .await;
    assert!(r.is_err(), "{r:?}");
    let r = commit(
        &store,
        vec![Change::PutMember {
            group: gamma.id,
            user: UserId(999_999),
            group_admin: false,
        }],
    )
    .await;
    assert!(r.is_err(), "{r:?}");

    // Remove one member.
    commit_ok(
        &store,
        vec![Change::RemoveMember {
            group: alpha.id,
            user: plain.id,
        }],
    )
    .await;
    assert_eq!(store.membership(alpha.id, plain.id).await.unwrap(), None);
    assert!(!store.is_group_admin_of(full.id, plain.id).await.unwrap());
    assert_eq!(store.user(plain.id).await.unwrap(), Some(plain.clone()));
    commit_ok(
        &store,
        vec![Change::RemoveMember {
            group: alpha.id,
            user: plain.id,
        }],
    )
    .await;

    // Update: name, description, remarks, external id, modified time; not the organization or
    // creation time.
    let renamed = UserGroup {
        name: "Aleph".into(),
        description: None,
        remarks: Some("new remarks".into()),
        external_id: None,
        modified_at: at(5 * DAY + 1),
        ..alpha.clone()
    };
    commit_ok(&store, vec![Change::UpdateGroup(renamed.clone())]).await;
    assert_eq!(store.group(alpha.id).await.unwrap(), Some(renamed.clone()));
    assert_eq!(
        groups(all(Some(a))).await,
        vec![renamed.clone(), beta.clone(), gamma.clone()]
    );

    // Delete: the group and its memberships go, the users stay.
    commit_ok(&store, vec![Change::DeleteGroup(beta.id)]).await;
    assert_eq!(store.group(beta.id).await.unwrap(), None);
    assert_eq!(store.membership(beta.id, full.id).await.unwrap(), None);
    assert!(store.group_members(&[beta.id]).await.unwrap().is_empty());
    assert_eq!(
        store.groups_administered_by(full.id).await.unwrap(),
        vec![alpha.id]
    );
    assert_eq!(
        groups(GroupQuery {
            member: Some(full.id),
            ..all(None)
        })
        .await,
        vec![renamed.clone()]
    );
    assert_eq!(store.user(full.id).await.unwrap(), Some(full.clone()));
    assert_eq!(groups(all(Some(a))).await, vec![renamed, gamma]);
}
contract!(groups_and_members);

// ---------------------------------------------------------------------------------------------
// API keys and codes
// ---------------------------------------------------------------------------------------------

async fn api_keys(store: Arc<dyn Store>) {
    let a = new_org(&store, "a").await.id;
    let b = new_org(&store, "b").await.id;
    let u = new_user(&store, a, |_| {}).await;

    assert!(!store.instance_admin_key_exists().await.unwrap());
    assert!(store.api_keys(None).await.unwrap().is_empty());

    let org_key = new_key(&store, Some(a), None, false, "hash-org-a").await;
    let user_key = new_key(&store, Some(a), Some(u.id), false, "hash-user").await;
    assert!(!store.instance_admin_key_exists().await.unwrap());
    let admin_key = new_key(&store, None, None, true, "hash-admin").await;
    let b_key = new_key(&store, Some(b), None, false, "hash-org-b").await;
    assert!(store.instance_admin_key_exists().await.unwrap());

    assert_eq!(
        store.api_key_by_secret_hash("hash-user").await.unwrap(),
        Some(user_key.clone())
    );
    assert_eq!(
        store.api_key_by_secret_hash("hash-admin").await.unwrap(),
        Some(admin_key.clone())
    );
    assert_eq!(
        store.api_key_by_secret_hash("HASH-USER").await.unwrap(),
        None
    );
    assert_eq!(store.api_key_by_secret_hash("").await.unwrap(), None);
    assert_eq!(
        store.api_key(org_key.id).await.unwrap(),
        Some(org_key.clone())
    );
    assert_eq!(store.api_key(ApiKeyId(999_999)).await.unwrap(), None);
    assert_eq!(
        store.api_keys(Some(a)).await.unwrap(),
        vec![org_key.clone(), user_key.clone()]
    );
    assert_eq!(store.api_keys(Some(b)).await.unwrap(), vec![b_key.clone()]);
    assert_eq!(
        store.api_keys(None).await.unwrap(),
        vec![
            org_key.clone(),
            user_key.clone(),
            admin_key.clone(),
            b_key.clone()
        ]
    );

    // Secrets are unique.
    let clash = ApiKey {
        id: ApiKeyId(id(&store, IdKind::ApiKey).await),
        ..org_key.clone()
    };
    assert_already_exists(
        commit(
            &store,
            vec![Change::InsertApiKey {
                key: clash.clone(),
                secret_hash: "hash-user".into(),
            }],
        )
        .await,
        Conflict::ApiKeySecret,
    );
    assert_eq!(store.api_key(clash.id).await.unwrap(), None);

    commit_ok(&store, vec![Change::DeleteApiKey(admin_key.id)]).await;
    assert_eq!(store.api_key(admin_key.id).await.unwrap(), None);
    assert_eq!(
        store.api_key_by_secret_hash("hash-admin").await.unwrap(),
        None
    );
    assert!(!store.instance_admin_key_exists().await.unwrap());
    commit_ok(&store, vec![Change::DeleteApiKey(admin_key.id)]).await;
    assert_eq!(
        store.api_keys(None).await.unwrap(),
        vec![org_key, user_key, b_key]
    );
}
contract!(api_keys);

async fn one_time_codes(store: Arc<dyn Store>) {
    let org = new_org(&store, "o").await.id;
    let u = new_user(&store, org, |_| {}).await;
    let v = new_user(&store, org, |_| {}).await;
    assert!(store.codes(u.id).await.unwrap().is_empty());

    let reset = code(u.id, CodePurpose::PasswordReset, "reset-1", 0);
    let verify = code(u.id, CodePurpose::EmailVerification, "verify-1", 0);
    let phone_code = OneTimeCode {
        target: None,
        ..code(v.id, CodePurpose::PhoneVerification, "phone-1", 1)
    };
    commit_ok(
        &store,
        vec![
            Change::PutCode(reset.clone()),
            Change::PutCode(verify.clone()),
            Change::PutCode(phone_code.clone()),
        ],
    )
    .await;
    // Ordered by purpose name.
    assert_eq!(
        store.codes(u.id).await.unwrap(),
        vec![verify.clone(), reset.clone()]
    );
    assert_eq!(store.codes(v.id).await.unwrap(), vec![phone_code.clone()]);

    // One code per user and purpose: a new one replaces the old.
    let verify2 = OneTimeCode {
        target: None,
        ..code(u.id, CodePurpose::EmailVerification, "verify-2", 3)
    };
    let change = code(u.id, CodePurpose::EmailChange, "change-1", 0);
    commit_ok(
        &store,
        vec![
            Change::PutCode(verify2.clone()),
            Change::PutCode(change.clone()),
        ],
    )
    .await;
    assert_eq!(
        store.codes(u.id).await.unwrap(),
        vec![change, verify2, reset]
    );
    assert_eq!(store.codes(v.id).await.unwrap(), vec![phone_code]);
    assert!(store.codes(UserId(999_999)).await.unwrap().is_empty());

    let r = commit(
        &store,
        vec![Change::PutCode(code(
            UserId(999_999),
            CodePurpose::PasswordReset,
            "x",
            0,
        ))],
    )
    .await;
    assert!(r.is_err(), "{r:?}");
}
contract!(one_time_codes);

// ---------------------------------------------------------------------------------------------
// Deleting users, removal, audit and outbox
// ---------------------------------------------------------------------------------------------

async fn delete_user_cascades(store: Arc<dyn Store>) {
    let org = new_org(&store, "o").await.id;
    let doomed = new_user(&store, org, |u| {
        u.email = Some(email("doomed@example.com"));
        u.external_id = Some("X-1".into());
    })
    .await;
    let keeper = new_user(&store, org, |_| {}).await;
    let g = new_group(&store, org, "G", None).await;
    let inv = invitation(doomed.id, 1);
    let keeper_inv = invitation(keeper.id, 2);
    let event = audit(Some(org), "user", doomed.id.0, "user.created", 1);
    let msg = outbox_message(Some(doomed.id), Channel::Email, 1);
    commit_ok(
        &store,
        vec![
            Change::PutInvitation(inv.clone()),
            Change::PutInvitation(keeper_inv.clone()),
            Change::PutMember {
                group: g.id,
                user: doomed.id,
                group_admin: true,
            },
            Change::PutMember {
                group: g.id,
                user: keeper.id,
                group_admin: false,
            },
            Change::PutCode(code(doomed.id, CodePurpose::PasswordReset, "c", 0)),
            Change::PutCode(code(keeper.id, CodePurpose::PasswordReset, "k", 0)),
            Change::Audit(event.clone()),
            Change::Outbox(msg.clone()),
        ],
    )
    .await;
    let doomed_key = new_key(&store, Some(org), Some(doomed.id), false, "doomed-key").await;
    let org_key = new_key(&store, Some(org), None, false, "org-key").await;

    let deleted = audit(Some(org), "user", doomed.id.0, "user.deleted", 2);
    commit_ok(
        &store,
        vec![
            Change::DeleteUser(doomed.id),
            Change::Audit(deleted.clone()),
        ],
    )
    .await;

    assert_eq!(store.user(doomed.id).await.unwrap(), None);
    assert_eq!(
        store.user_by_username(&doomed.username).await.unwrap(),
        None
    );
    assert_eq!(
        store
            .find_user(org, UserKey::Email("doomed@example.com"))
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        store
            .find_user(org, UserKey::ExternalId("X-1"))
            .await
            .unwrap(),
        None
    );
    assert_eq!(store.invitation(doomed.id).await.unwrap(), None);
    assert_eq!(store.invitation_by_token(&inv.token).await.unwrap(), None);
    assert_eq!(store.membership(g.id, doomed.id).await.unwrap(), None);
    assert!(!store.is_group_admin_of(doomed.id, keeper.id).await.unwrap());
    assert!(
        store
            .groups_administered_by(doomed.id)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        store.group_members(&[g.id]).await.unwrap(),
        vec![(
            g.id,
            GroupMember {
                user: keeper.clone(),
                group_admin: false
            }
        )]
    );
    assert!(store.codes(doomed.id).await.unwrap().is_empty());
    assert_eq!(store.api_key(doomed_key.id).await.unwrap(), None);
    assert_eq!(
        store.api_key_by_secret_hash("doomed-key").await.unwrap(),
        None
    );
    // What is not the user's stays: the audit trail, queued messages, the other user's rows.
    assert_eq!(
        store.audit_events("user", doomed.id.0).await.unwrap(),
        vec![event, deleted]
    );
    assert_eq!(store.outbox(Some(doomed.id)).await.unwrap().len(), 1);
    assert_eq!(store.user(keeper.id).await.unwrap(), Some(keeper.clone()));
    assert_eq!(store.invitation(keeper.id).await.unwrap(), Some(keeper_inv));
    assert_eq!(store.codes(keeper.id).await.unwrap().len(), 1);
    assert_eq!(store.api_key(org_key.id).await.unwrap(), Some(org_key));
    assert_eq!(store.group(g.id).await.unwrap(), Some(g));

    // The address and username are free again.
    let again = new_user(&store, org, |u| {
        u.username = doomed.username.clone();
        u.email = Some(email("DOOMED@example.com"));
    })
    .await;
    assert_eq!(
        store
            .find_user(org, UserKey::Email("doomed@example.com"))
            .await
            .unwrap(),
        Some(again.id)
    );
    // Deleting a user that is gone is not an error.
    commit_ok(&store, vec![Change::DeleteUser(doomed.id)]).await;
}
contract!(delete_user_cascades);

async fn users_due_for_removal(store: Arc<dyn Store>) {
    let org = new_org(&store, "o").await.id;
    let now = at(100 * DAY + 500);
    let day_ago = new_user(&store, org, |u| {
        u.auto_remove_date = Some(Timestamp::from_nanos(now.nanos() - DAY))
    })
    .await;
    let exactly_now = new_user(&store, org, |u| u.auto_remove_date = Some(now)).await;
    let _later = new_user(&store, org, |u| {
        u.auto_remove_date = Some(Timestamp::from_nanos(now.nanos() + 1))
    })
    .await;
    let _never = new_user(&store, org, |_| {}).await;
    let two_days_ago = new_user(&store, org, |u| {
        u.auto_remove_after = Some(RemovalPeriod::Week);
        u.auto_remove_date = Some(Timestamp::from_nanos(now.nanos() - 2 * DAY));
    })
    .await;

    assert_eq!(
        store.users_due_for_removal(now, 10).await.unwrap(),
        vec![two_days_ago.id, day_ago.id, exactly_now.id]
    );
    assert_eq!(
        store.users_due_for_removal(now, 2).await.unwrap(),
        vec![two_days_ago.id, day_ago.id]
    );
    assert_eq!(store.users_due_for_removal(now, 0).await.unwrap(), vec![]);
    assert_eq!(
        store
            .users_due_for_removal(Timestamp::from_nanos(now.nanos() - 1), 10)
            .await
            .unwrap(),
        vec![two_days_ago.id, day_ago.id]
    );
    assert_eq!(
        store
            .users_due_for_removal(Timestamp::from_nanos(now.nanos() - 3 * DAY), 10)
            .await
            .unwrap(),
        vec![]
    );

    // Once removed, a user is no longer due.
    commit_ok(&store, vec![Change::DeleteUser(two_days_ago.id)]).await;
    assert_eq!(
        store.users_due_for_removal(now, 10).await.unwrap(),
        vec![day_ago.id, exactly_now.id]
    );
}
contract!(users_due_for_removal);

async fn audit_and_outbox(store: Arc<dyn Store>) {
    let org = new_org(&store, "o").await.id;
    let u = new_user(&store, org, |_| {}).await;

    let created = audit(Some(org), "user", u.id.0, "user.created", 1);
    let updated = AuditEvent {
        org_id: None,
        sequence: None,
        actor: Actor::System,
        fields: vec![],
        ..audit(None, "user", u.id.0, "user.updated", 2)
    };
    let group_event = audit(Some(org), "user_group", u.id.0, "user_group.created", 3);
    commit_ok(
        &store,
        vec![
            Change::Audit(created.clone()),
            Change::Audit(updated.clone()),
        ],
    )
    .await;
    commit_ok(&store, vec![Change::Audit(group_event.clone())]).await;
    // In insertion order, per subject.
    assert_eq!(
        store.audit_events("user", u.id.0).await.unwrap(),
        vec![created, updated]
    );
    assert_eq!(
        store.audit_events("user_group", u.id.0).await.unwrap(),
        vec![group_event]
    );
    assert_no_audit(&store, u.id.0 + 1).await;
    assert!(
        store
            .audit_events("organization", u.id.0)
            .await
            .unwrap()
            .is_empty()
    );

    let later = outbox_message(Some(u.id), Channel::Email, 50);
    let earlier = OutboxMessage {
        template: "phone_verification".into(),
        language: Language::Ar,
        params: json!({"code": "123456", "deep": {"a": [{"b": null}]}, "n": -1.5}),
        ..outbox_message(Some(u.id), Channel::Sms, 10)
    };
    let system = OutboxMessage {
        params: json!({}),
        ..outbox_message(None, Channel::Email, 30)
    };
    commit_ok(
        &store,
        vec![
            Change::Outbox(later.clone()),
            Change::Outbox(earlier.clone()),
        ],
    )
    .await;
    commit_ok(&store, vec![Change::Outbox(system.clone())]).await;

    let record = |m: &OutboxMessage| OutboxRecord {
        message: m.clone(),
        status: "pending".into(),
        attempts: 0,
        next_attempt_at: m.created_at,
        last_error: None,
        sent_at: None,
    };
    // Ordered by creation time.
    assert_eq!(
        store.outbox(Some(u.id)).await.unwrap(),
        vec![record(&earlier), record(&later)]
    );
    assert_eq!(
        store.outbox(None).await.unwrap(),
        vec![record(&earlier), record(&system), record(&later)]
    );
    assert!(
        store
            .outbox(Some(UserId(u.id.0 + 1)))
            .await
            .unwrap()
            .is_empty()
    );

    // Message ids are unique.
    let dup = OutboxMessage {
        recipient: "x@example.com".into(),
        ..later.clone()
    };
    let r = commit(&store, vec![Change::Outbox(dup)]).await;
    assert!(matches!(r, Err(Error::AlreadyExists { .. })), "{r:?}");
    assert_eq!(store.outbox(None).await.unwrap().len(), 3);
}
contract!(audit_and_outbox);

/// Case-insensitive matching is Unicode-aware on both backends, as Rust's `to_lowercase` is for
/// the values the core normalizes.
async fn unicode_case(store: Arc<dyn Store>) {
    let org = new_org(&store, "o").await.id;
    let u = new_user(&store, org, |u| {
        u.username = "Ärger.Ødegaard".into();
        u.first_name = Some("ÉLODIE".into());
        u.last_name = Some("MÜLLER-Łukasz".into());
        u.email = Some(email("Jürgen@Example.com"));
    })
    .await;
    let _other = new_user(&store, org, |u| u.last_name = Some("Muller".into())).await;

    assert_eq!(
        store.user_by_username("ärger.ødegaard").await.unwrap(),
        Some(u.clone())
    );
    assert_eq!(
        store.user_by_username("ÄRGER.ØDEGAARD").await.unwrap(),
        Some(u.clone())
    );
    assert_selects(&store, UserFilter::Search("müller".into()), &[&u]).await;
    assert_selects(&store, UserFilter::Search("élodie".into()), &[&u]).await;
    assert_selects(&store, UserFilter::Search("łukasz".into()), &[&u]).await;
    assert_selects(&store, UserFilter::Search("JÜRGEN".into()), &[&u]).await;
    assert_selects(
        &store,
        text(TextField::FirstName, TextOp::EqualsIgnoreCase, "élodie"),
        &[&u],
    )
    .await;
    assert_selects(
        &store,
        text(TextField::LastName, TextOp::StartsWithIgnoreCase, "mü"),
        &[&u],
    )
    .await;
    assert_selects(
        &store,
        text(TextField::LastName, TextOp::StartsWith, "mü"),
        &[],
    )
    .await;
    assert_selects(
        &store,
        text(TextField::Username, TextOp::EndsWithIgnoreCase, "ØDEGAARD"),
        &[&u],
    )
    .await;
    assert_eq!(
        store
            .find_user(org, UserKey::Email("jürgen@example.com"))
            .await
            .unwrap(),
        Some(u.id)
    );

    let taken = user_draft(&store, org, |u| u.username = "ärger.ødegaard".into()).await;
    assert_already_exists(
        commit(&store, vec![Change::InsertUser(taken)]).await,
        Conflict::Username,
    );

    let groups = store
        .groups(&GroupQuery {
            search: Some("ÜBER".into()),
            limit: 10,
            ..GroupQuery::default()
        })
        .await
        .unwrap();
    assert!(groups.is_empty());
    let g = new_group(&store, org, "Gruppe über alles", Some("ÉQUIPE")).await;
    for search in ["ÜBER", "équipe"] {
        let found = store
            .groups(&GroupQuery {
                search: Some(search.into()),
                limit: 10,
                ..GroupQuery::default()
            })
            .await
            .unwrap();
        assert_eq!(found, vec![g.clone()], "{search}");
    }
}
contract!(unicode_case);

// ---------------------------------------------------------------------------------------------
// Persistence
// ---------------------------------------------------------------------------------------------

/// What `persisted` writes and reads back.
struct Written {
    org: Organization,
    user: User,
    group: UserGroup,
    key: ApiKey,
    invitation: Invitation,
}

async fn write_some(store: &Arc<dyn Store>) -> Written {
    let org = new_org(store, "persisted").await;
    let user = full_user(UserId(id(store, IdKind::User).await), org.id);
    let group = group(id(store, IdKind::UserGroup).await, org.id, "G", Some("d"));
    let invitation = invitation(user.id, 5);
    commit_ok(
        store,
        vec![
            Change::InsertUser(user.clone()),
            Change::InsertGroup(group.clone()),
            Change::PutMember {
                group: group.id,
                user: user.id,
                group_admin: true,
            },
            Change::PutInvitation(invitation.clone()),
        ],
    )
    .await;
    let key = new_key(store, Some(org.id), Some(user.id), false, "persisted-hash").await;
    Written {
        org,
        user,
        group,
        key,
        invitation,
    }
}

async fn read_back(store: &Arc<dyn Store>, w: &Written) {
    assert_eq!(store.organizations().await.unwrap(), vec![w.org.clone()]);
    assert_eq!(store.user(w.user.id).await.unwrap(), Some(w.user.clone()));
    assert_eq!(
        store.group(w.group.id).await.unwrap(),
        Some(w.group.clone())
    );
    assert_eq!(
        store.membership(w.group.id, w.user.id).await.unwrap(),
        Some(true)
    );
    assert_eq!(
        store
            .api_key_by_secret_hash("persisted-hash")
            .await
            .unwrap(),
        Some(w.key.clone())
    );
    assert_eq!(
        store
            .invitation_by_token(&w.invitation.token)
            .await
            .unwrap(),
        Some(w.invitation.clone())
    );

    // New ids continue after the stored ones.
    assert!(id(store, IdKind::Organization).await > w.org.id.0);
    assert!(id(store, IdKind::User).await > w.user.id.0);
    assert!(id(store, IdKind::UserGroup).await > w.group.id.0);
    assert!(id(store, IdKind::ApiKey).await > w.key.id.0);
    let next = new_user(store, w.org.id, |_| {}).await;
    assert_eq!(store.count_users(&UserFilter::All).await.unwrap(), 2);
    assert_eq!(store.user(next.id).await.unwrap(), Some(next));
}

mod persisted {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn sqlite() {
        let dir = TempDir::new().unwrap();
        let written = {
            let store = open_sqlite(&dir);
            write_some(&store).await
        };
        // The first store is gone; a new one on the same file sees everything.
        let store = open_sqlite(&dir);
        read_back(&store, &written).await;
        drop(store);
        // Opening without migrating works on a migrated file.
        let store: Arc<dyn Store> = Arc::new(SqliteStore::open(&sqlite_path(&dir), false).unwrap());
        assert_eq!(
            store.user(written.user.id).await.unwrap(),
            Some(written.user.clone())
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn postgres() {
        let Some((store, url)) = open_pg().await else {
            return;
        };
        let written = write_some(&store).await;
        drop(store);
        let store: Arc<dyn Store> =
            Arc::new(PgStore::open(&url, &StoreOptions::default()).await.unwrap());
        read_back(&store, &written).await;
    }
}

/// The delivery queue: claims hide a message until its lease lapses, retries and failures are
/// recorded, several claimers never get the same message twice.
async fn outbox_delivery_queue(store: Arc<dyn Store>) {
    let org = new_org(&store, "o").await.id;
    let mut msgs = Vec::new();
    for n in 0..6 {
        let m = OutboxMessage {
            org_id: Some(org),
            ..outbox_message(None, Channel::Email, 10 + n)
        };
        msgs.push(m.clone());
        commit_ok(&store, vec![Change::Outbox(m)]).await;
    }
    // Nothing is due before its time.
    assert!(
        store
            .claim_outbox(at(5), at(1_000), 10)
            .await
            .unwrap()
            .is_empty()
    );
    // Oldest first, limited, with one more attempt and the lease as next_attempt_at.
    let first = store.claim_outbox(at(100), at(1_000), 2).await.unwrap();
    let ids: Vec<&str> = first.iter().map(|r| r.message.id.as_str()).collect();
    assert_eq!(ids, [msgs[0].id.as_str(), msgs[1].id.as_str()]);
    assert!(
        first
            .iter()
            .all(|r| r.attempts == 1 && r.next_attempt_at == at(1_000))
    );
    assert_eq!(first[0].message, msgs[0]);
    // Claimed messages are invisible to the next claim until the lease lapses.
    let rest = store.claim_outbox(at(100), at(1_000), 10).await.unwrap();
    assert_eq!(rest.len(), 4);
    assert!(
        store
            .claim_outbox(at(999), at(2_000), 10)
            .await
            .unwrap()
            .is_empty()
    );

    commit_ok(
        &store,
        vec![Change::OutboxSent {
            id: msgs[0].id.clone(),
            at: at(150),
        }],
    )
    .await;
    commit_ok(
        &store,
        vec![Change::OutboxRetry {
            id: msgs[1].id.clone(),
            next_attempt_at: at(500),
            error: "421 busy".into(),
        }],
    )
    .await;
    commit_ok(
        &store,
        vec![Change::OutboxFailed {
            id: msgs[2].id.clone(),
            error: "550 no such user".into(),
        }],
    )
    .await;
    let again = store.claim_outbox(at(600), at(3_000), 10).await.unwrap();
    assert_eq!(again.len(), 1);
    assert_eq!(again[0].message.id, msgs[1].id);
    assert_eq!(again[0].attempts, 2);
    assert_eq!(again[0].last_error.as_deref(), Some("421 busy"));
    // A sent message never comes back, even after a late retry mark.
    commit_ok(
        &store,
        vec![Change::OutboxRetry {
            id: msgs[0].id.clone(),
            next_attempt_at: at(1),
            error: "late".into(),
        }],
    )
    .await;
    // After the lease lapses, unfinished claims (a worker that died) are due again.
    let lapsed = store.claim_outbox(at(1_000), at(4_000), 10).await.unwrap();
    let mut lapsed_ids: Vec<String> = lapsed.iter().map(|r| r.message.id.clone()).collect();
    lapsed_ids.sort();
    let mut want: Vec<String> = msgs[3..].iter().map(|m| m.id.clone()).collect();
    want.sort();
    assert_eq!(lapsed_ids, want);

    let all = store.outbox(None).await.unwrap();
    let by_id = |id: &str| all.iter().find(|r| r.message.id == id).unwrap().clone();
    assert_eq!(by_id(&msgs[0].id).status, "sent");
    assert_eq!(by_id(&msgs[0].id).sent_at, Some(at(150)));
    assert_eq!(by_id(&msgs[0].id).last_error, None);
    assert_eq!(by_id(&msgs[2].id).status, "failed");
    assert_eq!(
        by_id(&msgs[2].id).last_error.as_deref(),
        Some("550 no such user")
    );

    let failed = store
        .outbox_list(&OutboxQuery {
            status: Some("failed".into()),
            org: Some(org),
            offset: 0,
            limit: 10,
        })
        .await
        .unwrap();
    assert_eq!(failed.len(), 1);
    assert_eq!(failed[0].message.id, msgs[2].id);
    let other_org = store
        .outbox_list(&OutboxQuery {
            status: None,
            org: Some(OrgId(org.0 + 100)),
            offset: 0,
            limit: 10,
        })
        .await
        .unwrap();
    assert!(other_org.is_empty());
    let paged = store
        .outbox_list(&OutboxQuery {
            status: None,
            org: None,
            offset: 1,
            limit: 2,
        })
        .await
        .unwrap();
    assert_eq!(
        paged
            .iter()
            .map(|r| r.message.id.clone())
            .collect::<Vec<_>>(),
        [msgs[1].id.clone(), msgs[2].id.clone()]
    );
    let counts = store.outbox_counts().await.unwrap();
    assert_eq!(
        counts,
        [
            ("failed".to_owned(), 1),
            ("pending".to_owned(), 4),
            ("sent".to_owned(), 1)
        ]
    );

    // Concurrent claimers never share a message.
    for n in 0..40 {
        commit_ok(
            &store,
            vec![Change::Outbox(outbox_message(
                None,
                Channel::Sms,
                2_000 + n,
            ))],
        )
        .await;
    }
    let mut tasks = Vec::new();
    for _ in 0..8 {
        let s = store.clone();
        tasks.push(tokio::spawn(async move {
            s.claim_outbox(at(5_000), at(9_000), 7).await.unwrap()
        }));
    }
    let mut seen = std::collections::HashSet::new();
    let mut total = 0;
    for t in tasks {
        for r in t.await.unwrap() {
            total += 1;
            assert!(seen.insert(r.message.id), "a message was claimed twice");
        }
    }
    assert_eq!(total, 40 + 4, "every due message was claimed exactly once");
}
contract!(outbox_delivery_queue);

/// Codes: looked up by user and purpose or by hash; attempts count; deletion.
async fn code_lookups(store: Arc<dyn Store>) {
    let org = new_org(&store, "o").await.id;
    let u = new_user(&store, org, |_| {}).await;
    let c = OneTimeCode {
        user_id: u.id,
        purpose: CodePurpose::EmailChange,
        code_hash: "h1".into(),
        target: Some("new@example.com".into()),
        expires_at: at(100),
        attempts: 0,
        created_at: at(1),
    };
    commit_ok(&store, vec![Change::PutCode(c.clone())]).await;
    assert_eq!(
        store.code(u.id, CodePurpose::EmailChange).await.unwrap(),
        Some(c.clone())
    );
    assert_eq!(
        store.code(u.id, CodePurpose::PasswordReset).await.unwrap(),
        None
    );
    assert_eq!(
        store
            .code_by_hash(CodePurpose::EmailChange, "h1")
            .await
            .unwrap(),
        Some(c.clone())
    );
    assert_eq!(
        store
            .code_by_hash(CodePurpose::EmailVerification, "h1")
            .await
            .unwrap(),
        None
    );
    for _ in 0..3 {
        commit_ok(
            &store,
            vec![Change::CodeAttempt {
                user: u.id,
                purpose: CodePurpose::EmailChange,
            }],
        )
        .await;
    }
    assert_eq!(
        store
            .code(u.id, CodePurpose::EmailChange)
            .await
            .unwrap()
            .unwrap()
            .attempts,
        3
    );
    commit_ok(
        &store,
        vec![Change::DeleteCode {
            user: u.id,
            purpose: CodePurpose::EmailChange,
        }],
    )
    .await;
    assert_eq!(
        store.code(u.id, CodePurpose::EmailChange).await.unwrap(),
        None
    );
}
contract!(code_lookups);

/// Login sessions and user tokens: kinds, revocation, last use, per-user listing.
async fn credential_kinds(store: Arc<dyn Store>) {
    let org = new_org(&store, "o").await.id;
    let u = new_user(&store, org, |u| {
        u.email = Some(Email::from_trusted("K@example.com".into()))
    })
    .await;
    let api = new_key(&store, Some(org), Some(u.id), false, "h-api").await;
    let mut session = new_key(&store, Some(org), Some(u.id), false, "h-tmp").await;
    session.id = ApiKeyId(id(&store, IdKind::ApiKey).await);
    session.kind = KeyKind::Access;
    commit_ok(
        &store,
        vec![Change::InsertApiKey {
            key: session.clone(),
            secret_hash: "h-access".into(),
        }],
    )
    .await;
    let mut refresh = session.clone();
    refresh.id = ApiKeyId(id(&store, IdKind::ApiKey).await);
    refresh.kind = KeyKind::Refresh;
    commit_ok(
        &store,
        vec![Change::InsertApiKey {
            key: refresh.clone(),
            secret_hash: "h-refresh".into(),
        }],
    )
    .await;

    // Sessions are not listed as API keys.
    let listed: Vec<ApiKeyId> = store
        .api_keys(Some(org))
        .await
        .unwrap()
        .iter()
        .map(|k| k.id)
        .collect();
    assert!(
        listed.contains(&api.id) && !listed.contains(&session.id) && !listed.contains(&refresh.id)
    );
    let mine: Vec<ApiKeyId> = store
        .user_api_keys(&[u.id])
        .await
        .unwrap()
        .iter()
        .map(|k| k.id)
        .collect();
    assert!(mine.contains(&api.id) && !mine.contains(&session.id));
    assert_eq!(
        store
            .api_key_by_secret_hash("h-refresh")
            .await
            .unwrap()
            .unwrap()
            .kind,
        KeyKind::Refresh
    );

    commit_ok(
        &store,
        vec![Change::TouchApiKey {
            id: api.id,
            at: at(77),
        }],
    )
    .await;
    commit_ok(
        &store,
        vec![Change::RevokeApiKey {
            id: api.id,
            at: at(88),
        }],
    )
    .await;
    commit_ok(
        &store,
        vec![Change::RevokeApiKey {
            id: api.id,
            at: at(99),
        }],
    )
    .await;
    let k = store.api_key(api.id).await.unwrap().unwrap();
    assert_eq!(
        (k.last_used_at, k.revoked_at),
        (Some(at(77)), Some(at(88))),
        "the first revocation time stays"
    );

    commit_ok(&store, vec![Change::DeleteSessions(u.id)]).await;
    assert!(store.api_key(session.id).await.unwrap().is_none());
    assert!(store.api_key(refresh.id).await.unwrap().is_none());
    assert!(
        store.api_key(api.id).await.unwrap().is_some(),
        "API tokens survive the end of sessions"
    );

    assert_eq!(
        store.users_with_email("k@example.com").await.unwrap(),
        [u.id]
    );
    assert!(
        store
            .users_with_email("nobody@example.com")
            .await
            .unwrap()
            .is_empty()
    );
}
contract!(credential_kinds);

/// The search's trigram index (SQLite FTS5, PostgreSQL pg_trgm) follows inserts, updates and
/// deletes, and a common term (more matches than the index answers alone) and a rare one give the
/// same exact, sorted, paged results as the conditions themselves.
async fn search_index(store: Arc<dyn Store>) {
    let org = new_org(&store, "Search").await;
    let q = |filter: UserFilter, offset: u64, limit: u64| UserQuery {
        filter,
        sort: UserSort::LastName,
        direction: Direction::Asc,
        then_by: Vec::new(),
        offset,
        limit,
    };

    let quentin = new_user(&store, org.id, |u| {
        u.first_name = Some("Quentin".into());
        u.last_name = Some("Quargle".into());
    })
    .await;
    assert_selects(&store, UserFilter::Search("QUARG".into()), &[&quentin]).await;

    // An update moves the user's index entry; columns other than the four keep it.
    let mut renamed = quentin.clone();
    renamed.last_name = Some("Zebulon".into());
    renamed.sequence = quentin.sequence + 1;
    commit_update(&store, &renamed, quentin.sequence).await;
    assert_selects(&store, UserFilter::Search("quargle".into()), &[]).await;
    assert_selects(&store, UserFilter::Search("zebul".into()), &[&renamed]).await;
    let mut described = renamed.clone();
    described.description = Some("no name change".into());
    described.sequence = renamed.sequence + 1;
    commit_ok(
        &store,
        vec![Change::UpdateUser {
            user: described.clone(),
            expected_sequence: renamed.sequence,
        }],
    )
    .await;
    assert_selects(&store, UserFilter::Search("ZEBULON".into()), &[&described]).await;
    // The terms span no field boundary: "tin" + "Zeb" are in two fields.
    assert_selects(&store, UserFilter::Search("tinzeb".into()), &[]).await;
    commit_ok(&store, vec![Change::DeleteUser(described.id)]).await;
    assert_selects(&store, UserFilter::Search("zebulon".into()), &[]).await;

    // 5,100 users share "commonword" (more than the index answers alone); every 50th also has
    // "rareword". Both pages come back sorted by last name, then id, and paged.
    let mut changes = Vec::new();
    let mut common = Vec::new();
    for i in 0..5_100 {
        let u = user_draft(&store, org.id, |u| {
            u.first_name = Some(
                if i % 50 == 0 {
                    "Rareword"
                } else {
                    "Commonword"
                }
                .into(),
            );
            u.last_name = Some(format!("L{:05}", (i * 7919) % 5_100));
            u.email = Some(email(&format!("commonword{i}@example.com")));
        })
        .await;
        common.push(u.clone());
        changes.push(Change::InsertUser(u));
    }
    commit_ok(&store, changes).await;
    common.sort_by(|a, b| a.last_name.cmp(&b.last_name).then(a.id.cmp(&b.id)));
    let rare: Vec<UserId> = common
        .iter()
        .filter(|u| u.first_name.as_deref() == Some("Rareword"))
        .map(|u| u.id)
        .collect();
    let common: Vec<UserId> = common.iter().map(|u| u.id).collect();
    for (term, want) in [("COMMONWORD", &common), ("rarewor", &rare)] {
        let filter = UserFilter::Org(org.id).and(UserFilter::Search(term.into()));
        let page = store.users(&q(filter.clone(), 40, 30)).await.unwrap();
        assert_eq!(
            ids_of(&page),
            want[40..70.min(want.len())].to_vec(),
            "{term}"
        );
        let n = store.count_users(&filter).await.unwrap();
        assert_eq!(n, want.len() as u64, "{term}");
    }
}

contract!(search_index);

/// SQLite only: under write load that never pauses, with reads beside it, the WAL starts over
/// instead of growing without end. The writer does this itself past 65,536 frames (270 MB); a
/// passive checkpoint beside a busy writer never could, and before that the WAL reached 1.7 GB
/// after 15 s of updates. Once the writes stop, the WAL file is emptied.
mod sqlite_wal_starts_over {
    use super::*;

    /// What the WAL file may reach: 65,536 frames of 4,120 bytes (270 MB) plus the last group
    /// commit's frames, under the 300 MiB `journal_size_limit`.
    const WAL_BOUND: u64 = 300 * 1024 * 1024;
    /// Renames of every user: about 800 MB of WAL frames in all.
    const ROUNDS: usize = 20;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn sqlite() {
        let dir = TempDir::new().unwrap();
        let store = open_sqlite(&dir);
        let wal = dir.path().join("usher.db-wal");
        let org = new_org(&store, "o").await.id;
        let mut users = Vec::new();
        for chunk in 0..4 {
            let mut changes = Vec::new();
            for i in 0..500 {
                let u = user_draft(&store, org, |u| {
                    u.first_name = Some(format!("First{chunk}x{i}"));
                    u.last_name = Some(format!("Last{i:04}"));
                    u.email = Some(email(&format!("u{chunk}x{i}@example.com")));
                })
                .await;
                changes.push(Change::InsertUser(u.clone()));
                users.push(u);
            }
            commit_ok(&store, changes).await;
        }
        let users = Arc::new(users);
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        // Readers hold snapshots all the time, as requests do.
        let mut readers = Vec::new();
        for r in 0..2 {
            let (store, users, stop) = (store.clone(), users.clone(), stop.clone());
            readers.push(tokio::spawn(async move {
                let mut n = r;
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    let u = &users[(n * 7) % users.len()];
                    assert!(store.user(u.id).await.unwrap().is_some());
                    n += 1;
                    tokio::task::yield_now().await;
                }
            }));
        }
        // Eight writers, each renaming its own users (every rename rewrites the user row, two
        // name-index entries and the search index), so that the writer always has work queued.
        let mut writers = Vec::new();
        for w in 0..8usize {
            let (store, users, wal) = (store.clone(), users.clone(), wal.clone());
            writers.push(tokio::spawn(async move {
                let mine: Vec<User> = users.iter().skip(w).step_by(8).cloned().collect();
                let mut current = mine;
                let mut largest = 0u64;
                for round in 0..ROUNDS {
                    for u in current.iter_mut() {
                        let mut next = u.clone();
                        next.first_name = Some(format!("Renamed{round}{}", u.id.0));
                        next.sequence += 1;
                        commit_update(&store, &next, u.sequence).await;
                        *u = next;
                        largest = largest.max(std::fs::metadata(&wal).map_or(0, |m| m.len()));
                    }
                }
                largest
            }));
        }
        let mut largest = 0;
        for w in writers {
            largest = largest.max(w.await.unwrap());
        }
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        for r in readers {
            r.await.unwrap();
        }
        assert!(
            largest <= WAL_BOUND,
            "the WAL grew to {largest} bytes (bound {WAL_BOUND})"
        );
        // Every rename is there.
        let renamed = store
            .count_users(&UserFilter::Search(format!("Renamed{}", ROUNDS - 1)))
            .await
            .unwrap();
        assert_eq!(renamed, users.len() as u64);
        // A second after the last write the checkpoint thread empties the WAL file.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        while std::fs::metadata(&wal).map_or(0, |m| m.len()) > 0 {
            assert!(
                std::time::Instant::now() < deadline,
                "the WAL file still holds {} bytes",
                std::fs::metadata(&wal).map_or(0, |m| m.len())
            );
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        // And the next write starts it again.
        let u = &users[0];
        let mut next = store.user(u.id).await.unwrap().unwrap();
        let expected = next.sequence;
        next.first_name = Some("After".into());
        next.sequence += 1;
        commit_update(&store, &next, expected).await;
        assert!(std::fs::metadata(&wal).unwrap().len() > 0);
        assert_eq!(store.user(u.id).await.unwrap(), Some(next));
    }
}

/// SQLite only: how many users wait in `users_search_dirty` to be re-indexed.
fn sqlite_noted(dir: &TempDir) -> i64 {
    let conn = rusqlite::Connection::open(sqlite_path(dir)).unwrap();
    conn.query_row("SELECT count(*) FROM users_search_dirty", [], |r| r.get(0))
        .unwrap()
}

/// SQLite only: waits (up to 5 s) for the idle writer to re-index the noted users.
async fn sqlite_wait_until_none_noted(dir: &TempDir) {
    for _ in 0..100 {
        if sqlite_noted(dir) == 0 {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("users still noted after 5 s: {}", sqlite_noted(dir));
}

/// SQLite only: the search index is brought up to date by the writer from the users the
/// triggers noted (migration V6). A change written by another program while no store was open
/// is indexed when the store opens (its writer starts by re-indexing what is noted).
mod sqlite_search_catches_up_on_open {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn sqlite() {
        let dir = TempDir::new().unwrap();
        let (kept, renamed, removed) = {
            let store = open_sqlite(&dir);
            let org = new_org(&store, "o").await.id;
            let mk = |name: &'static str| {
                let store = store.clone();
                async move { new_user(&store, org, |u| u.first_name = Some(name.into())).await }
            };
            let kept = mk("Keptname").await;
            let renamed = mk("Oldname").await;
            let removed = mk("Gonename").await;
            assert_selects(&store, UserFilter::Search("Oldname".into()), &[&renamed]).await;
            // Indexed once the writer has been idle for a moment.
            sqlite_wait_until_none_noted(&dir).await;
            (kept, renamed, removed)
        };
        {
            let conn = rusqlite::Connection::open(sqlite_path(&dir)).unwrap();
            conn.execute(
                "UPDATE users SET first_name = 'Newname' WHERE id = ?1",
                [renamed.id.0],
            )
            .unwrap();
            conn.execute("DELETE FROM users WHERE id = ?1", [removed.id.0])
                .unwrap();
            let noted: i64 = conn
                .query_row("SELECT count(*) FROM users_search_dirty", [], |r| r.get(0))
                .unwrap();
            assert_eq!(noted, 2);
        }
        let store = open_sqlite(&dir);
        let mut now = renamed.clone();
        now.first_name = Some("Newname".into());
        // The store re-indexes when it opens, before its first commit.
        let _ = new_org(&store, "p").await;
        let found = store
            .users(&query(UserFilter::Search("Newname".into())))
            .await
            .unwrap();
        assert_eq!(ids_of(&found), [renamed.id]);
        assert_eq!(
            store
                .count_users(&UserFilter::Search("Oldname".into()))
                .await
                .unwrap(),
            0
        );
        assert_eq!(
            store
                .count_users(&UserFilter::Search("Gonename".into()))
                .await
                .unwrap(),
            0
        );
        assert_selects(&store, UserFilter::Search("Keptname".into()), &[&kept]).await;
        let conn = rusqlite::Connection::open(sqlite_path(&dir)).unwrap();
        let noted: i64 = conn
            .query_row("SELECT count(*) FROM users_search_dirty", [], |r| r.get(0))
            .unwrap();
        assert_eq!(noted, 0);
    }
}

/// SQLite only: users noted for re-indexing (`users_search_dirty`) are found by what their rows
/// hold now even before the index has them, and the writer re-indexes them: at once in a commit
/// that finds 256 or more noted, otherwise once the writer has been idle for a moment.
mod sqlite_search_pending_notes {
    use super::*;

    /// The rowids the trigram index itself holds for `phrase`.
    fn indexed(dir: &TempDir, phrase: &str) -> Vec<i64> {
        let conn = rusqlite::Connection::open(sqlite_path(dir)).unwrap();
        let mut st = conn
            .prepare("SELECT rowid FROM users_search WHERE users_search MATCH ?1 ORDER BY rowid")
            .unwrap();
        st.query_map([phrase], |r| r.get(0))
            .unwrap()
            .collect::<rusqlite::Result<_>>()
            .unwrap()
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn sqlite() {
        let dir = TempDir::new().unwrap();
        let store = open_sqlite(&dir);
        let org = new_org(&store, "o").await.id;
        let mut users = Vec::new();
        for i in 0..300 {
            users.push(
                new_user(&store, org, |u| {
                    u.first_name = Some(format!("Firstname{i:03}"))
                })
                .await,
            );
        }
        sqlite_wait_until_none_noted(&dir).await;
        assert_eq!(indexed(&dir, "\"Firstname007\""), [users[7].id.0]);

        // Another program renames one user and deletes another: the index still has their old
        // entries, and the store's writer has not been told. A search checks the noted users
        // against their rows, so it already finds what the rows hold.
        {
            let conn = rusqlite::Connection::open(sqlite_path(&dir)).unwrap();
            conn.execute(
                "UPDATE users SET first_name = 'Renamedone' WHERE id = ?1",
                [users[1].id.0],
            )
            .unwrap();
            conn.execute("DELETE FROM users WHERE id = ?1", [users[2].id.0])
                .unwrap();
        }
        assert_eq!(sqlite_noted(&dir), 2);
        assert_eq!(indexed(&dir, "\"Renamedone\""), Vec::<i64>::new());
        assert_eq!(indexed(&dir, "\"Firstname001\""), [users[1].id.0]);
        let mut renamed = users[1].clone();
        renamed.first_name = Some("Renamedone".into());
        assert_selects(&store, UserFilter::Search("Renamedone".into()), &[&renamed]).await;
        assert_selects(&store, UserFilter::Search("Firstname001".into()), &[]).await;
        assert_selects(&store, UserFilter::Search("Firstname002".into()), &[]).await;
        let with_term = UserFilter::Org(org).and(UserFilter::Search("amedon".into()));
        assert_selects(&store, with_term, &[&renamed]).await;

        // The store's next commit learns of the notes; with the writer idle they are indexed.
        let _ = new_org(&store, "p").await;
        sqlite_wait_until_none_noted(&dir).await;
        assert_eq!(indexed(&dir, "\"Renamedone\""), [users[1].id.0]);
        assert_eq!(indexed(&dir, "\"Firstname001\""), Vec::<i64>::new());
        assert_eq!(indexed(&dir, "\"Firstname002\""), Vec::<i64>::new());
        assert_selects(&store, UserFilter::Search("Renamedone".into()), &[&renamed]).await;

        // 256 or more noted: the store's next commit indexes them before it answers.
        {
            let conn = rusqlite::Connection::open(sqlite_path(&dir)).unwrap();
            let n = conn
                .execute(
                    "UPDATE users SET last_name = 'Bulkname' WHERE first_name LIKE 'Firstname%'",
                    [],
                )
                .unwrap();
            assert_eq!(n, 298);
        }
        assert_eq!(sqlite_noted(&dir), 298);
        let _ = new_org(&store, "q").await;
        assert_eq!(sqlite_noted(&dir), 0);
        assert_eq!(indexed(&dir, "\"Bulkname\"").len(), 298);
        assert_eq!(
            store
                .count_users(&UserFilter::Search("Bulkname".into()))
                .await
                .unwrap(),
            298
        );
    }
}
