//! Rows to domain values and back, for PostgreSQL.

use serde_json::Value;
use tokio_postgres::Row;
use tokio_postgres::types::{Json, ToSql};
use usher_core::error::{Conflict, Error};
use usher_core::model::*;
use usher_core::ports::OutboxRecord;
use usher_core::types::*;

fn ts(n: i64) -> Timestamp {
    Timestamp::from_nanos(n)
}

/// A user whose columns start at index `o` of the row.
pub(super) fn user(r: &Row, o: usize) -> User {
    let roles: Value = r.get(o + 20);
    let attributes: Value = r.get(o + 31);
    User {
        id: UserId(r.get(o)),
        org_id: OrgId(r.get(o + 1)),
        username: r.get(o + 2),
        first_name: r.get(o + 3),
        last_name: r.get(o + 4),
        nick_name: r.get(o + 5),
        display_name: r.get(o + 6),
        preferred_language: r.get(o + 7),
        gender: Gender::from_db(r.get(o + 8)),
        email: r.get::<_, Option<String>>(o + 9).map(Email::from_trusted),
        email_verified: r.get(o + 10),
        email_verify_requested: r.get(o + 11),
        new_email_requested: r.get::<_, Option<String>>(o + 12).map(Email::from_trusted),
        phone: r.get::<_, Option<String>>(o + 13).map(Phone::from_trusted),
        phone_verified: r.get(o + 14),
        phone_verify_requested: r.get(o + 15),
        password_hash: r.get(o + 16),
        password_change_required: r.get(o + 17),
        state: UserState::from_db(r.get(o + 18)),
        super_user: r.get(o + 19),
        roles: serde_json::from_value(roles).unwrap_or_default(),
        external_id: r.get(o + 21),
        client_id: r.get(o + 22),
        description: r.get(o + 23),
        remarks: r.get(o + 24),
        auto_remove_after: r
            .get::<_, Option<&str>>(o + 25)
            .and_then(|s| RemovalPeriod::parse(s).ok()),
        auto_remove_date: r.get::<_, Option<i64>>(o + 26).map(ts),
        auto_email_match: r.get(o + 27),
        require_email_match: r.get(o + 28),
        email_match_credential_filter: r.get(o + 29),
        auth_organization_id: r.get(o + 30),
        attributes: match attributes {
            Value::Object(m) => m,
            _ => Default::default(),
        },
        sequence: r.get(o + 32),
        created_at: ts(r.get(o + 33)),
        modified_at: ts(r.get(o + 34)),
        password_changed_at: r.get::<_, Option<i64>>(o + 35).map(ts),
        failed_password_attempts: r.get(o + 36),
        password_locked_until: r.get::<_, Option<i64>>(o + 37).map(ts),
    }
}

/// Parameters of `INSERT_USER` / `UPDATE_USER`, in order.
pub(super) fn user_params(u: &User) -> Vec<Box<dyn ToSql + Sync + Send>> {
    vec![
        Box::new(u.id.0),
        Box::new(u.org_id.0),
        Box::new(u.username.clone()),
        Box::new(u.first_name.clone()),
        Box::new(u.last_name.clone()),
        Box::new(u.nick_name.clone()),
        Box::new(u.display_name.clone()),
        Box::new(u.preferred_language.clone()),
        Box::new(u.gender.as_str()),
        Box::new(u.email.as_ref().map(|e| e.as_str().to_owned())),
        Box::new(u.email_verified),
        Box::new(u.email_verify_requested),
        Box::new(
            u.new_email_requested
                .as_ref()
                .map(|e| e.as_str().to_owned()),
        ),
        Box::new(u.phone.as_ref().map(|p| p.as_str().to_owned())),
        Box::new(u.phone_verified),
        Box::new(u.phone_verify_requested),
        Box::new(u.password_hash.clone()),
        Box::new(u.password_change_required),
        Box::new(u.state.as_str()),
        Box::new(u.super_user),
        Box::new(Json(serde_json::to_value(&u.roles).unwrap_or(Value::Null))),
        Box::new(u.external_id.clone()),
        Box::new(u.client_id),
        Box::new(u.description.clone()),
        Box::new(u.remarks.clone()),
        Box::new(u.auto_remove_after.map(|p| p.as_str())),
        Box::new(u.auto_remove_date.map(|t| t.nanos())),
        Box::new(u.auto_email_match),
        Box::new(u.require_email_match),
        Box::new(u.email_match_credential_filter),
        Box::new(u.auth_organization_id.clone()),
        Box::new(Json(Value::Object(u.attributes.clone()))),
        Box::new(u.sequence),
        Box::new(u.created_at.nanos()),
        Box::new(u.modified_at.nanos()),
        Box::new(u.email.as_ref().map(|e| e.normalized())),
        Box::new(u.password_changed_at.map(|t| t.nanos())),
        Box::new(u.failed_password_attempts),
        Box::new(u.password_locked_until.map(|t| t.nanos())),
    ]
}

pub(super) use crate::sql::INVITATION_COLUMNS;

pub(super) fn invitation(r: &Row) -> Invitation {
    invitation_offset(r, 0)
}

/// An invitation whose columns start at index `o` of the row.
pub(super) fn invitation_offset(r: &Row, o: usize) -> Invitation {
    Invitation {
        user_id: UserId(r.get(o)),
        token: r.get(o + 1),
        expires_at: ts(r.get(o + 2)),
        language: Language::parse(r.get(o + 3)).unwrap_or(Language::En),
        email: r.get::<_, Option<String>>(o + 4).map(Email::from_trusted),
        phone: r.get::<_, Option<String>>(o + 5).map(Phone::from_trusted),
        sent_email: r.get(o + 6),
        sent_sms: r.get(o + 7),
        accepted_at: r.get::<_, Option<i64>>(o + 8).map(ts),
        created_at: ts(r.get(o + 9)),
        // Checked when it was stored; one that no longer parses links to usher's own page.
        url_template: r
            .get::<_, Option<String>>(o + 10)
            .and_then(|t| UrlTemplate::parse(&t).ok()),
    }
}

/// A user and, when the joined columns are not NULL, its invitation.
pub(super) fn user_with_invitation(r: &Row) -> (User, Option<Invitation>) {
    let o = crate::sql::USER_COLUMN_COUNT;
    let invitation = r
        .get::<_, Option<i64>>(o)
        .is_some()
        .then(|| invitation_offset(r, o));
    (user(r, 0), invitation)
}

pub(super) fn group(r: &Row) -> UserGroup {
    UserGroup {
        id: GroupId(r.get(0)),
        org_id: OrgId(r.get(1)),
        name: r.get(2),
        description: r.get(3),
        remarks: r.get(4),
        external_id: r.get(5),
        created_at: ts(r.get(6)),
        modified_at: ts(r.get(7)),
    }
}

pub(super) fn organization(r: &Row) -> Organization {
    Organization {
        id: OrgId(r.get(0)),
        name: r.get(1),
        created_at: ts(r.get(2)),
        modified_at: ts(r.get(3)),
    }
}

pub(super) const API_KEY_COLUMNS: &str = "id, name, organization_id, user_id, read_only, instance_admin, expires_at, created_at, \
    kind, revoked_at, last_used_at";

pub(super) fn api_key(r: &Row) -> ApiKey {
    ApiKey {
        id: ApiKeyId(r.get(0)),
        name: r.get(1),
        org_id: r.get::<_, Option<i64>>(2).map(OrgId),
        user_id: r.get::<_, Option<i64>>(3).map(UserId),
        read_only: r.get(4),
        instance_admin: r.get(5),
        expires_at: r.get::<_, Option<i64>>(6).map(ts),
        created_at: ts(r.get(7)),
        kind: KeyKind::from_db(r.get(8)),
        revoked_at: r.get::<_, Option<i64>>(9).map(ts),
        last_used_at: r.get::<_, Option<i64>>(10).map(ts),
    }
}

pub(super) fn code(r: &Row) -> OneTimeCode {
    let purpose = match r.get::<_, &str>(1) {
        "phone_verification" => CodePurpose::PhoneVerification,
        "password_reset" => CodePurpose::PasswordReset,
        "email_change" => CodePurpose::EmailChange,
        _ => CodePurpose::EmailVerification,
    };
    OneTimeCode {
        user_id: UserId(r.get(0)),
        purpose,
        code_hash: r.get(2),
        target: r.get(3),
        expires_at: ts(r.get(4)),
        attempts: r.get(5),
        created_at: ts(r.get(6)),
    }
}

pub(super) fn audit(r: &Row) -> AuditEvent {
    let fields: Value = r.get(6);
    AuditEvent {
        org_id: r.get::<_, Option<i64>>(0).map(OrgId),
        subject_type: r.get(1),
        subject_id: r.get(2),
        sequence: r.get(3),
        event_type: r.get(4),
        actor: Actor::from_text(r.get(5)),
        fields: serde_json::from_value(fields).unwrap_or_default(),
        created_at: ts(r.get(7)),
    }
}

pub(super) const CODE_COLUMNS: &str =
    "user_id, purpose, code_hash, target, expires_at, attempts, created_at";

pub(super) const OUTBOX_COLUMNS: &str = "id, channel, template, language, recipient, user_id, \
    params, created_at, status, attempts, next_attempt_at, last_error, sent_at, organization_id";

pub(super) fn outbox(r: &Row) -> OutboxRecord {
    OutboxRecord {
        message: OutboxMessage {
            id: r.get(0),
            channel: if r.get::<_, &str>(1) == "sms" {
                Channel::Sms
            } else {
                Channel::Email
            },
            template: r.get(2),
            language: Language::parse(r.get(3)).unwrap_or(Language::En),
            recipient: r.get(4),
            user_id: r.get::<_, Option<i64>>(5).map(UserId),
            org_id: r.get::<_, Option<i64>>(13).map(OrgId),
            params: r.get(6),
            created_at: ts(r.get(7)),
        },
        status: r.get(8),
        attempts: r.get(9),
        next_attempt_at: ts(r.get(10)),
        last_error: r.get(11),
        sent_at: r.get::<_, Option<i64>>(12).map(ts),
    }
}

/// Maps a PostgreSQL error to the core's: unique violations by constraint name, foreign-key
/// violations as a conflict, lost connections as unavailable, the rest internal.
pub(super) fn map_err(e: tokio_postgres::Error) -> Error {
    if let Some(db) = e.as_db_error() {
        let code = db.code().code();
        if code == "23505" {
            let what = match db.constraint().unwrap_or_default() {
                "users_org_email_key" => Conflict::UserEmail,
                "users_org_phone_no_email_key" => Conflict::UserPhone,
                "users_username_key" => Conflict::Username,
                "api_keys_secret_hash_key" => Conflict::ApiKeySecret,
                _ => Conflict::Other,
            };
            return Error::AlreadyExists {
                what,
                existing: None,
            };
        }
        if code == "23503" {
            return Error::Conflict;
        }
    }
    if e.is_closed() {
        return Error::Unavailable("the database connection was lost".to_owned());
    }
    Error::internal(e)
}
