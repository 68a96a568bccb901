//! Rows to domain values and back, for SQLite.

use rusqlite::Row;
use serde_json::{Map, Value};
use usher_core::error::{Conflict, Error};
use usher_core::model::*;
use usher_core::types::*;

pub(super) fn ts(n: i64) -> Timestamp {
    Timestamp::from_nanos(n)
}

pub(super) fn user(r: &Row<'_>) -> rusqlite::Result<User> {
    user_offset(r, 0)
}

/// A user whose columns start at index `o` of the row.
pub(super) fn user_offset(r: &Row<'_>, o: usize) -> rusqlite::Result<User> {
    let roles: String = r.get(o + 20)?;
    let attributes: String = r.get(o + 31)?;
    Ok(User {
        id: UserId(r.get(o)?),
        org_id: OrgId(r.get(o + 1)?),
        username: r.get(o + 2)?,
        first_name: r.get(o + 3)?,
        last_name: r.get(o + 4)?,
        nick_name: r.get(o + 5)?,
        display_name: r.get(o + 6)?,
        preferred_language: r.get(o + 7)?,
        gender: Gender::from_db(&r.get::<_, String>(o + 8)?),
        email: r.get::<_, Option<String>>(o + 9)?.map(Email::from_trusted),
        email_verified: r.get(o + 10)?,
        email_verify_requested: r.get(o + 11)?,
        new_email_requested: r.get::<_, Option<String>>(o + 12)?.map(Email::from_trusted),
        phone: r.get::<_, Option<String>>(o + 13)?.map(Phone::from_trusted),
        phone_verified: r.get(o + 14)?,
        phone_verify_requested: r.get(o + 15)?,
        password_hash: r.get(o + 16)?,
        password_change_required: r.get(o + 17)?,
        state: UserState::from_db(&r.get::<_, String>(o + 18)?),
        super_user: r.get(o + 19)?,
        roles: serde_json::from_str(&roles).unwrap_or_default(),
        external_id: r.get(o + 21)?,
        client_id: r.get(o + 22)?,
        description: r.get(o + 23)?,
        remarks: r.get(o + 24)?,
        auto_remove_after: r
            .get::<_, Option<String>>(o + 25)?
            .and_then(|s| RemovalPeriod::parse(&s).ok()),
        auto_remove_date: r.get::<_, Option<i64>>(o + 26)?.map(ts),
        auto_email_match: r.get(o + 27)?,
        require_email_match: r.get(o + 28)?,
        email_match_credential_filter: r.get(o + 29)?,
        auth_organization_id: r.get(o + 30)?,
        attributes: serde_json::from_str::<Map<String, Value>>(&attributes).unwrap_or_default(),
        sequence: r.get(o + 32)?,
        created_at: ts(r.get(o + 33)?),
        modified_at: ts(r.get(o + 34)?),
        password_changed_at: r.get::<_, Option<i64>>(o + 35)?.map(ts),
        failed_password_attempts: r.get(o + 36)?,
        password_locked_until: r.get::<_, Option<i64>>(o + 37)?.map(ts),
    })
}

pub(super) use crate::sql::INVITATION_COLUMNS;

pub(super) fn invitation(r: &Row<'_>) -> rusqlite::Result<Invitation> {
    invitation_offset(r, 0)
}

/// An invitation whose columns start at index `o` of the row.
pub(super) fn invitation_offset(r: &Row<'_>, o: usize) -> rusqlite::Result<Invitation> {
    Ok(Invitation {
        user_id: UserId(r.get(o)?),
        token: r.get(o + 1)?,
        expires_at: ts(r.get(o + 2)?),
        language: Language::parse(&r.get::<_, String>(o + 3)?).unwrap_or(Language::En),
        email: r.get::<_, Option<String>>(o + 4)?.map(Email::from_trusted),
        phone: r.get::<_, Option<String>>(o + 5)?.map(Phone::from_trusted),
        sent_email: r.get(o + 6)?,
        sent_sms: r.get(o + 7)?,
        accepted_at: r.get::<_, Option<i64>>(o + 8)?.map(ts),
        created_at: ts(r.get(o + 9)?),
        // Checked when it was stored; one that no longer parses links to usher's own page.
        url_template: r
            .get::<_, Option<String>>(o + 10)?
            .and_then(|t| UrlTemplate::parse(&t).ok()),
    })
}

/// A user and, when the joined columns are not NULL, its invitation.
pub(super) fn user_with_invitation(r: &Row<'_>) -> rusqlite::Result<(User, Option<Invitation>)> {
    let user = user_offset(r, 0)?;
    let o = crate::sql::USER_COLUMN_COUNT;
    let invitation = match r.get::<_, Option<i64>>(o)? {
        Some(_) => Some(invitation_offset(r, o)?),
        None => None,
    };
    Ok((user, invitation))
}

pub(super) fn group(r: &Row<'_>) -> rusqlite::Result<UserGroup> {
    Ok(UserGroup {
        id: GroupId(r.get(0)?),
        org_id: OrgId(r.get(1)?),
        name: r.get(2)?,
        description: r.get(3)?,
        remarks: r.get(4)?,
        external_id: r.get(5)?,
        created_at: ts(r.get(6)?),
        modified_at: ts(r.get(7)?),
    })
}

pub(super) fn organization(r: &Row<'_>) -> rusqlite::Result<Organization> {
    Ok(Organization {
        id: OrgId(r.get(0)?),
        name: r.get(1)?,
        created_at: ts(r.get(2)?),
        modified_at: ts(r.get(3)?),
    })
}

pub(super) const API_KEY_COLUMNS: &str = "id, name, organization_id, user_id, read_only, instance_admin, expires_at, created_at, \
    kind, revoked_at, last_used_at";

pub(super) fn api_key(r: &Row<'_>) -> rusqlite::Result<ApiKey> {
    Ok(ApiKey {
        id: ApiKeyId(r.get(0)?),
        name: r.get(1)?,
        org_id: r.get::<_, Option<i64>>(2)?.map(OrgId),
        user_id: r.get::<_, Option<i64>>(3)?.map(UserId),
        read_only: r.get(4)?,
        instance_admin: r.get(5)?,
        expires_at: r.get::<_, Option<i64>>(6)?.map(ts),
        created_at: ts(r.get(7)?),
        kind: KeyKind::from_db(&r.get::<_, String>(8)?),
        revoked_at: r.get::<_, Option<i64>>(9)?.map(ts),
        last_used_at: r.get::<_, Option<i64>>(10)?.map(ts),
    })
}

pub(super) const CODE_COLUMNS: &str =
    "user_id, purpose, code_hash, target, expires_at, attempts, created_at";

pub(super) fn code(r: &Row<'_>) -> rusqlite::Result<OneTimeCode> {
    Ok(OneTimeCode {
        user_id: UserId(r.get(0)?),
        purpose: purpose(&r.get::<_, String>(1)?),
        code_hash: r.get(2)?,
        target: r.get(3)?,
        expires_at: ts(r.get(4)?),
        attempts: r.get(5)?,
        created_at: ts(r.get(6)?),
    })
}

pub(crate) const OUTBOX_COLUMNS: &str = "id, channel, template, language, recipient, user_id, \
    params, created_at, status, attempts, next_attempt_at, last_error, sent_at, organization_id";

pub(super) fn outbox(r: &Row<'_>) -> rusqlite::Result<usher_core::ports::OutboxRecord> {
    let params: String = r.get(6)?;
    Ok(usher_core::ports::OutboxRecord {
        message: OutboxMessage {
            id: r.get(0)?,
            channel: channel(&r.get::<_, String>(1)?),
            template: r.get(2)?,
            language: Language::parse(&r.get::<_, String>(3)?).unwrap_or(Language::En),
            recipient: r.get(4)?,
            user_id: r.get::<_, Option<i64>>(5)?.map(UserId),
            org_id: r.get::<_, Option<i64>>(13)?.map(OrgId),
            params: serde_json::from_str(&params).unwrap_or_default(),
            created_at: ts(r.get(7)?),
        },
        status: r.get(8)?,
        attempts: r.get(9)?,
        next_attempt_at: ts(r.get(10)?),
        last_error: r.get(11)?,
        sent_at: r.get::<_, Option<i64>>(12)?.map(ts),
    })
}

pub(super) fn purpose(s: &str) -> CodePurpose {
    match s {
        "phone_verification" => CodePurpose::PhoneVerification,
        "password_reset" => CodePurpose::PasswordReset,
        "email_change" => CodePurpose::EmailChange,
        _ => CodePurpose::EmailVerification,
    }
}

pub(super) fn channel(s: &str) -> Channel {
    if s == "sms" {
        Channel::Sms
    } else {
        Channel::Email
    }
}

/// Maps a SQLite error to the core's: unique violations by index, the rest internal.
pub(super) fn map_err(e: rusqlite::Error) -> Error {
    if let rusqlite::Error::SqliteFailure(f, msg) = &e
        && f.code == rusqlite::ErrorCode::ConstraintViolation
    {
        let msg = msg.as_deref().unwrap_or_default();
        if msg.starts_with("UNIQUE") || msg.contains("_key") {
            return Error::AlreadyExists {
                what: conflict_of(msg),
                existing: None,
            };
        }
        if msg.starts_with("FOREIGN KEY") {
            return Error::Conflict;
        }
    }
    Error::internal(e)
}

/// Names the conflict from SQLite's message (`UNIQUE constraint failed: users.email_lower …` or
/// `… index 'users_username_key'`).
fn conflict_of(msg: &str) -> Conflict {
    if msg.contains("users.email_lower") || msg.contains("users_org_email_key") {
        Conflict::UserEmail
    } else if msg.contains("users.phone") || msg.contains("users_org_phone_no_email_key") {
        Conflict::UserPhone
    } else if msg.contains("users_username_key") {
        Conflict::Username
    } else if msg.contains("api_keys.secret_hash") || msg.contains("api_keys_secret_hash_key") {
        Conflict::ApiKeySecret
    } else {
        Conflict::Other
    }
}
