//! The domain model: one model, rendered three ways by the dialects.

use serde_json::{Map, Value};

use crate::types::*;

#[derive(Debug, Clone, PartialEq)]
pub struct Organization {
    pub id: OrgId,
    pub name: String,
    pub created_at: Timestamp,
    pub modified_at: Timestamp,
}

/// The name of the organization made on first start.
pub const DEFAULT_ORGANIZATION: &str = "default";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UserState {
    /// Invited or created, no password set and no invitation accepted yet.
    Initial,
    Active,
    Inactive,
    Locked,
}

impl UserState {
    pub fn as_str(self) -> &'static str {
        match self {
            UserState::Initial => "INITIAL",
            UserState::Active => "ACTIVE",
            UserState::Inactive => "INACTIVE",
            UserState::Locked => "LOCKED",
        }
    }

    pub fn from_db(s: &str) -> Self {
        match s {
            "ACTIVE" => UserState::Active,
            "INACTIVE" => UserState::Inactive,
            "LOCKED" => UserState::Locked,
            _ => UserState::Initial,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Gender {
    Unspecified,
    Female,
    Male,
    Diverse,
}

impl Gender {
    pub fn as_str(self) -> &'static str {
        match self {
            Gender::Unspecified => "UNSPECIFIED",
            Gender::Female => "FEMALE",
            Gender::Male => "MALE",
            Gender::Diverse => "DIVERSE",
        }
    }

    pub fn from_db(s: &str) -> Self {
        match s {
            "FEMALE" => Gender::Female,
            "MALE" => Gender::Male,
            "DIVERSE" => Gender::Diverse,
            _ => Gender::Unspecified,
        }
    }
}

/// The default role of every user, in the Orgo dialect's words.
pub const ROLE_USER: &str = "ROLE_USER";

#[derive(Debug, Clone, PartialEq)]
pub struct User {
    pub id: UserId,
    pub org_id: OrgId,
    /// Unique in the instance; defaults to the email address, else `user-{id}`.
    pub username: String,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub nick_name: Option<String>,
    pub display_name: Option<String>,
    /// A BCP 47 tag as given (Bold's invitation language is one of the nine).
    pub preferred_language: Option<String>,
    pub gender: Gender,
    pub email: Option<Email>,
    pub email_verified: bool,
    /// Bold `emailAddressVerify`: a verification was asked for.
    pub email_verify_requested: bool,
    /// Orgo `newEmailRequested`: an address waiting for confirmation.
    pub new_email_requested: Option<Email>,
    pub phone: Option<Phone>,
    pub phone_verified: bool,
    pub phone_verify_requested: bool,
    /// Never rendered.
    pub password_hash: Option<String>,
    pub password_change_required: bool,
    pub state: UserState,
    pub super_user: bool,
    pub roles: Vec<String>,
    pub external_id: Option<String>,
    pub client_id: Option<i64>,
    pub description: Option<String>,
    pub remarks: Option<String>,
    pub auto_remove_after: Option<RemovalPeriod>,
    pub auto_remove_date: Option<Timestamp>,
    pub auto_email_match: bool,
    pub require_email_match: bool,
    pub email_match_credential_filter: bool,
    pub auth_organization_id: Option<String>,
    /// Extra profile attributes; each dialect owns its keys.
    pub attributes: Map<String, Value>,
    /// +1 on every change that writes.
    pub sequence: i64,
    pub created_at: Timestamp,
    pub modified_at: Timestamp,
    /// When the password was last set.
    pub password_changed_at: Option<Timestamp>,
    /// Consecutive wrong passwords (reset by a right one).
    pub failed_password_attempts: i32,
    /// No password check before this time (after repeated failures).
    pub password_locked_until: Option<Timestamp>,
}

impl User {
    /// A fresh user with everything empty, in state INITIAL, at sequence 1.
    pub fn new(id: UserId, org_id: OrgId, now: Timestamp) -> Self {
        User {
            id,
            org_id,
            username: format!("user-{id}"),
            first_name: None,
            last_name: None,
            nick_name: None,
            display_name: None,
            preferred_language: None,
            gender: Gender::Unspecified,
            email: None,
            email_verified: false,
            email_verify_requested: false,
            new_email_requested: None,
            phone: None,
            phone_verified: false,
            phone_verify_requested: false,
            password_hash: None,
            password_change_required: false,
            state: UserState::Initial,
            super_user: false,
            roles: vec![ROLE_USER.to_owned()],
            external_id: None,
            client_id: None,
            description: None,
            remarks: None,
            auto_remove_after: None,
            auto_remove_date: None,
            auto_email_match: false,
            require_email_match: false,
            email_match_credential_filter: false,
            auth_organization_id: None,
            attributes: Map::new(),
            sequence: 1,
            created_at: now,
            modified_at: now,
            password_changed_at: None,
            failed_password_attempts: 0,
            password_locked_until: None,
        }
    }

    /// "given family", or whichever is present.
    pub fn full_name(&self) -> Option<String> {
        match (&self.first_name, &self.last_name) {
            (Some(f), Some(l)) => Some(format!("{f} {l}")),
            (Some(f), None) => Some(f.clone()),
            (None, Some(l)) => Some(l.clone()),
            (None, None) => None,
        }
    }

    /// Registered = past INITIAL (invitation accepted or password set).
    pub fn registered(&self) -> bool {
        self.state != UserState::Initial
    }
}

/// At most one live invitation per user.
#[derive(Debug, Clone, PartialEq)]
pub struct Invitation {
    pub user_id: UserId,
    /// UUID v4 text; appears in the invitation URL.
    pub token: String,
    pub expires_at: Timestamp,
    pub language: Language,
    pub email: Option<Email>,
    pub phone: Option<Phone>,
    pub sent_email: bool,
    pub sent_sms: bool,
    pub accepted_at: Option<Timestamp>,
    pub created_at: Timestamp,
    /// The link template of a Zitadel `CreateInviteCode` `sendCode`: the invitation's messages,
    /// resends included, link there instead of usher's invitation page.
    pub url_template: Option<UrlTemplate>,
}

impl Invitation {
    pub fn is_expired(&self, now: Timestamp) -> bool {
        self.expires_at <= now
    }

    /// `{public_url}/invite/{token}`.
    pub fn url(&self, public_url: &str) -> String {
        format!("{}/invite/{}", public_url.trim_end_matches('/'), self.token)
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct UserGroup {
    pub id: GroupId,
    pub org_id: OrgId,
    pub name: String,
    pub description: Option<String>,
    pub remarks: Option<String>,
    pub external_id: Option<String>,
    pub created_at: Timestamp,
    pub modified_at: Timestamp,
}

#[derive(Debug, Clone, PartialEq)]
pub struct GroupMember {
    pub user: User,
    pub group_admin: bool,
}

/// What a credential is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyKind {
    /// A long-lived key made by an admin, the CLI, or a user for itself.
    ApiKey,
    /// The short-lived token of a password login.
    Access,
    /// Exchanges for a new access/refresh pair, once; never authenticates a call.
    Refresh,
}

impl KeyKind {
    pub fn as_str(self) -> &'static str {
        match self {
            KeyKind::ApiKey => "api_key",
            KeyKind::Access => "access",
            KeyKind::Refresh => "refresh",
        }
    }

    pub fn from_db(s: &str) -> Self {
        match s {
            "access" => KeyKind::Access,
            "refresh" => KeyKind::Refresh,
            _ => KeyKind::ApiKey,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct ApiKey {
    pub id: ApiKeyId,
    pub name: String,
    /// `None` only for instance-admin keys.
    pub org_id: Option<OrgId>,
    /// The user this key acts as; `None` = an organization admin of `org_id`.
    pub user_id: Option<UserId>,
    pub read_only: bool,
    pub instance_admin: bool,
    pub expires_at: Option<Timestamp>,
    pub created_at: Timestamp,
    pub kind: KeyKind,
    /// Revoked keys stay listed, inactive.
    pub revoked_at: Option<Timestamp>,
    /// Roughly when it last authenticated a call (updated at most once per cache lifetime).
    pub last_used_at: Option<Timestamp>,
}

/// What a one-time code is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CodePurpose {
    EmailVerification,
    PhoneVerification,
    PasswordReset,
    EmailChange,
}

impl CodePurpose {
    pub fn as_str(self) -> &'static str {
        match self {
            CodePurpose::EmailVerification => "email_verification",
            CodePurpose::PhoneVerification => "phone_verification",
            CodePurpose::PasswordReset => "password_reset",
            CodePurpose::EmailChange => "email_change",
        }
    }
}

/// A one-time code; only its hash is stored.
#[derive(Debug, Clone, PartialEq)]
pub struct OneTimeCode {
    pub user_id: UserId,
    pub purpose: CodePurpose,
    pub code_hash: String,
    /// What the code confirms, e.g. the address being verified.
    pub target: Option<String>,
    pub expires_at: Timestamp,
    pub attempts: i32,
    pub created_at: Timestamp,
}

/// Who made a change, for the audit log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Actor {
    /// A credential (API key or session), by id.
    ApiKey(ApiKeyId),
    /// usher itself (auto-removal, bootstrap, CLI).
    System,
}

impl Actor {
    pub fn as_text(&self) -> String {
        match self {
            Actor::ApiKey(id) => format!("api-key:{id}"),
            Actor::System => "system".to_owned(),
        }
    }

    pub fn from_text(text: &str) -> Self {
        match text.strip_prefix("api-key:").and_then(|id| id.parse().ok()) {
            Some(id) => Actor::ApiKey(ApiKeyId(id)),
            None => Actor::System,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct AuditEvent {
    pub org_id: Option<OrgId>,
    /// `user`, `user_group`, `organization`, `api_key`.
    pub subject_type: String,
    pub subject_id: i64,
    /// The user's sequence after the change (users only).
    pub sequence: Option<i64>,
    /// e.g. `user.created`, `user.updated`, `user.deleted`.
    pub event_type: String,
    pub actor: Actor,
    /// Names of the fields changed; never values, never secrets.
    pub fields: Vec<String>,
    pub created_at: Timestamp,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Channel {
    Email,
    Sms,
}

impl Channel {
    pub fn as_str(self) -> &'static str {
        match self {
            Channel::Email => "email",
            Channel::Sms => "sms",
        }
    }
}

/// An email or SMS, written in the same transaction as the change that causes it and
/// delivered later by the outbox worker.
#[derive(Debug, Clone, PartialEq)]
pub struct OutboxMessage {
    /// Stable id (UUID): the email Message-ID and the SMS webhook's messageId.
    pub id: String,
    pub channel: Channel,
    /// `invitation`, `email_verification`, `phone_verification`, `email_change`, `password_reset`.
    pub template: String,
    pub language: Language,
    pub recipient: String,
    pub user_id: Option<UserId>,
    /// The organization the message belongs to (for admins' views); `None` for instance-wide ones.
    pub org_id: Option<OrgId>,
    /// The values the template needs (names, link, code).
    pub params: Value,
    pub created_at: Timestamp,
}
