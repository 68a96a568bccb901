//! Credentials and contact details of a person: profile, email and phone with their
//! verification, passwords (set, imported, proved, reset, checked with lockout), account state,
//! and invitation codes. Zitadel's UserService is the main caller; the rules are usher's.

use base64ct::Encoding as _;
use serde_json::{Map, Value};

use super::users::CreateExtras;
use super::{CodeDelivery, Created, MAX_RETRIES, NewUser, Patch, Services};
use crate::error::{Entity, Error, Field, FieldError, Result};
use crate::model::*;
use crate::password::{HashError, Verified, check_importable, check_policy};
use crate::ports::*;
use crate::principal::Principal;
use crate::rights::{self, ChangeScope, Relation};
use crate::secrets::{hash_code, new_token};
use crate::types::*;

/// Consecutive wrong passwords after which an account waits before the next try.
pub const LOCKOUT_AFTER: i32 = 10;
/// The first wait; it doubles with each further failure, up to [`LOCKOUT_MAX_SECS`].
pub const LOCKOUT_FIRST_SECS: i64 = 60;
pub const LOCKOUT_MAX_SECS: i64 = 15 * 60;

/// A profile as Zitadel sets it: given and family name required.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ProfileInput {
    pub given_name: String,
    pub family_name: String,
    /// The optional fields: absent keeps the value, present and empty clears it (proto3
    /// `optional` presence), else sets it. A new user gets only what is set.
    pub nick_name: Patch<String>,
    pub display_name: Patch<String>,
    pub preferred_language: Patch<String>,
    pub gender: Option<Gender>,
}

/// What to do about verifying a new or current email address or phone number.
#[derive(Debug, Clone, PartialEq)]
pub enum ContactVerification {
    /// Make a code and send it or return it.
    Code(CodeDelivery),
    /// The caller vouches for it (admins only).
    Verified,
}

impl Default for ContactVerification {
    fn default() -> Self {
        ContactVerification::Code(CodeDelivery::Send { url_template: None })
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct EmailInput {
    pub email: Email,
    pub verification: ContactVerification,
}

#[derive(Debug, Clone, PartialEq)]
pub struct PhoneInput {
    pub phone: Phone,
    pub verification: ContactVerification,
}

/// A new password, plain or as an imported hash.
#[derive(Debug, Clone, PartialEq)]
pub enum PasswordInput {
    Plain {
        password: String,
        change_required: bool,
    },
    Hashed {
        hash: String,
        change_required: bool,
    },
}

impl PasswordInput {
    fn change_required(&self) -> bool {
        match self {
            PasswordInput::Plain {
                change_required, ..
            }
            | PasswordInput::Hashed {
                change_required, ..
            } => *change_required,
        }
    }
}

/// How a user proves it may change its own password.
#[derive(Debug, Clone, PartialEq)]
pub enum PasswordProof {
    Current(String),
    /// A password-reset code.
    Code(String),
}

/// A person's update: every part optional.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct HumanUpdate {
    pub username: Option<String>,
    pub profile: Option<ProfileInput>,
    pub email: Option<EmailInput>,
    pub phone: Option<PhoneInput>,
    pub password: Option<(PasswordInput, Option<PasswordProof>)>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct HumanUpdated {
    pub user: User,
    pub email_code: Option<String>,
    pub phone_code: Option<String>,
}

/// A new person (Zitadel AddHumanUser).
#[derive(Debug, Clone, PartialEq)]
pub struct NewHuman {
    pub org: Option<OrgId>,
    pub username: Option<String>,
    pub profile: ProfileInput,
    pub email: EmailInput,
    pub phone: Option<PhoneInput>,
    pub password: Option<PasswordInput>,
    /// Free key/value metadata (kept in the user's attributes).
    pub metadata: Vec<(String, Vec<u8>)>,
}

/// Account state changes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StateChange {
    Deactivate,
    Reactivate,
    Lock,
    Unlock,
}

/// How a password-reset code reaches the person.
#[derive(Debug, Clone, PartialEq)]
pub enum ResetMedium {
    Send {
        channel: Channel,
        url_template: Option<UrlTemplate>,
    },
    Return,
}

/// How an invitation code reaches the person.
#[derive(Debug, Clone, PartialEq)]
pub enum InviteDelivery {
    Send { url_template: Option<UrlTemplate> },
    Return,
}

/// Attribute key under which usher keeps Zitadel user metadata (values base64, as on the wire).
pub const METADATA_ATTRIBUTE: &str = "zitadel.metadata";

fn invalid(field: Field, code: &'static str, message: impl Into<String>) -> Error {
    Error::Invalid(vec![FieldError::new(field, code, message)])
}

fn precondition(code: &'static str, message: &str) -> Error {
    Error::FailedPrecondition {
        code,
        message: message.to_owned(),
    }
}

fn hash_error(e: HashError) -> Error {
    match e {
        HashError::Unsupported { .. } => invalid(Field::Password, e.code(), e.message()),
        HashError::Internal(_) => Error::internal(e),
    }
}

fn audit_event(
    user: &User,
    event: &str,
    p: &Principal,
    fields: Vec<String>,
    now: Timestamp,
) -> Change {
    Change::Audit(AuditEvent {
        org_id: Some(user.org_id),
        subject_type: "user".to_owned(),
        subject_id: user.id.0,
        sequence: Some(user.sequence),
        event_type: event.to_owned(),
        actor: p.actor(),
        fields,
        created_at: now,
    })
}

/// The state a user returns to when unlocked or reactivated.
fn settled_state(user: &User) -> UserState {
    if user.password_hash.is_some() {
        UserState::Active
    } else {
        UserState::Initial
    }
}

impl Services {
    /// Checks a new password's policy or an imported hash's format, and hashes a plain one.
    /// Done before anything is loaded, so a bad password fails the call first.
    pub(crate) async fn prepare_password(&self, input: &PasswordInput) -> Result<String> {
        match input {
            PasswordInput::Plain { password, .. } => {
                check_policy(password)
                    .map_err(|e| invalid(Field::Password, e.code(), e.message()))?;
                self.hasher().hash(password).await.map_err(hash_error)
            }
            PasswordInput::Hashed { hash, .. } => {
                check_importable(hash).map_err(hash_error)?;
                Ok(hash.clone())
            }
        }
    }

    /// Checks a password against the user's, counting failures: after [`LOCKOUT_AFTER`] in a row
    /// the account waits (60 s, doubling to 15 min) before the next try. A right password resets
    /// the count and, when stored in an older format, is re-hashed with argon2id.
    pub async fn check_password(&self, user: &User, password: &str) -> Result<bool> {
        self.guard_proof(None)?;
        let now = self.now();
        if let Some(until) = user.password_locked_until
            && until > now
        {
            let secs = (until.0 - now.0).num_seconds().max(1);
            return Err(Error::RateLimited {
                retry_after: std::time::Duration::from_secs(secs as u64),
            });
        }
        let Some(stored) = user.password_hash.as_deref() else {
            // Same work, same answer as a wrong password.
            self.hasher().verify_dummy(password).await;
            self.proof_failed(None);
            self.record_password_check(user, false, None).await?;
            return Ok(false);
        };
        match self.hasher().verify(password, stored).await {
            Ok(Verified::Valid { needs_rehash }) => {
                let rehash = if needs_rehash {
                    Some(self.hasher().hash(password).await.map_err(hash_error)?)
                } else {
                    None
                };
                if user.failed_password_attempts > 0
                    || user.password_locked_until.is_some()
                    || rehash.is_some()
                {
                    self.record_password_check(user, true, rehash).await?;
                }
                Ok(true)
            }
            Ok(Verified::Invalid) => {
                self.proof_failed(None);
                self.record_password_check(user, false, None).await?;
                Ok(false)
            }
            Err(e) => Err(Error::internal(e)),
        }
    }

    async fn record_password_check(
        &self,
        user: &User,
        ok: bool,
        rehash: Option<String>,
    ) -> Result<()> {
        let (failed, locked_until) = if ok {
            (0, None)
        } else {
            let failed = user.failed_password_attempts.saturating_add(1);
            let locked = (failed >= LOCKOUT_AFTER).then(|| {
                let doublings = u32::try_from(failed - LOCKOUT_AFTER)
                    .unwrap_or(u32::MAX)
                    .min(10);
                let secs = (LOCKOUT_FIRST_SECS << doublings).min(LOCKOUT_MAX_SECS);
                self.now().plus(chrono::Duration::seconds(secs))
            });
            (failed, locked)
        };
        let mut cs = ChangeSet::new();
        cs.push(Change::PasswordCheck {
            user: user.id,
            failed_attempts: failed,
            locked_until,
            rehash,
        });
        self.commit(cs).await
    }

    /// A password-reset code of the user, checked like any code (single use, expiring, dead after
    /// five wrong tries); consumed by the caller's change set.
    async fn check_reset_code(&self, user: &User, code: &str) -> Result<()> {
        let wrong = || {
            invalid(
                Field::Code,
                "invalid_code",
                "The code is wrong or has expired",
            )
        };
        self.guard_proof(Some(reset_account(user.id)))?;
        let Some(row) = self
            .store()
            .code(user.id, CodePurpose::PasswordReset)
            .await?
        else {
            self.proof_failed(Some(reset_account(user.id)));
            return Err(wrong());
        };
        let mut cs = ChangeSet::new();
        if row.expires_at <= self.now() || row.attempts >= super::verification::MAX_CODE_ATTEMPTS {
            cs.push(Change::DeleteCode {
                user: user.id,
                purpose: CodePurpose::PasswordReset,
            });
            self.commit(cs).await?;
            self.proof_failed(Some(reset_account(user.id)));
            return Err(wrong());
        }
        if row.code_hash != hash_code(code) {
            cs.push(Change::CodeAttempt {
                user: user.id,
                purpose: CodePurpose::PasswordReset,
            });
            self.commit(cs).await?;
            self.proof_failed(Some(reset_account(user.id)));
            return Err(wrong());
        }
        self.code_succeeded(reset_account(user.id));
        Ok(())
    }

    /// Adds a person: profile, email (with its verification), optional phone, optional password
    /// or imported hash, metadata. With a password the user is active at once.
    pub async fn add_human(&self, p: &Principal, input: NewHuman) -> Result<Created> {
        let password = match &input.password {
            Some(pw) => Some((self.prepare_password(pw).await?, pw.change_required())),
            None => None,
        };
        let mut attributes = Map::new();
        if !input.metadata.is_empty() {
            let meta: Map<String, Value> = input
                .metadata
                .iter()
                .map(|(k, v)| (k.clone(), Value::String(base64ct::Base64::encode_string(v))))
                .collect();
            attributes.insert(METADATA_ATTRIBUTE.to_owned(), Value::Object(meta));
        }
        let (email_verified, email_code) = match &input.email.verification {
            ContactVerification::Verified => (true, None),
            ContactVerification::Code(d) => (false, Some(d.clone())),
        };
        let (phone_verified, phone_code) = match input.phone.as_ref().map(|ph| &ph.verification) {
            Some(ContactVerification::Verified) => (true, None),
            Some(ContactVerification::Code(d)) => (false, Some(d.clone())),
            None => (false, None),
        };
        // Visibility before permission: an organization the caller cannot see is not found,
        // whatever else the request asks for.
        if let Some(org) = input.org
            && !p.can_see_org(org)
        {
            return Err(Error::NotFound(Entity::Organization));
        }
        // Then the organization itself: an instance admin that names none is an invalid
        // request, not a caller without the right to vouch for contact details.
        let org = super::org_or_callers(p, input.org)?;
        if (email_verified || phone_verified) && !p.is_admin_of(org) {
            return Err(Error::PermissionDenied(
                "only an admin may mark contact details verified",
            ));
        }
        let profile = input.profile;
        let new = NewUser {
            org: input.org,
            username: input.username,
            first_name: Some(profile.given_name),
            last_name: Some(profile.family_name),
            nick_name: profile.nick_name.into_set(),
            display_name: profile.display_name.into_set(),
            preferred_language: profile.preferred_language.into_set(),
            gender: profile.gender,
            email: Some(input.email.email),
            email_verified,
            phone: input.phone.map(|ph| ph.phone),
            phone_verified,
            attributes,
            ..NewUser::default()
        };
        self.create(
            p,
            new,
            CreateExtras {
                email_code,
                phone_code,
                password,
            },
        )
        .await
    }

    /// Applies a person's update, in order: username, profile, email, phone, password; all in
    /// one transaction. Nothing actually different → nothing is written and the current user
    /// comes back.
    pub async fn update_human(
        &self,
        p: &Principal,
        id: UserId,
        update: HumanUpdate,
    ) -> Result<HumanUpdated> {
        // Validation that needs no user comes first: the password policy or hash format.
        let prepared = match &update.password {
            Some((pw, _)) => Some(self.prepare_password(pw).await?),
            None => None,
        };
        let _turn = self.user_turn(id).await;
        for _ in 0..MAX_RETRIES {
            let (current, rel) = self.visible_user(p, id).await?;
            let now = self.now();
            let mut next = current.clone();
            let mut fields: Vec<String> = Vec::new();
            let mut scope = ChangeScope::default();
            let mut cs = ChangeSet::new();

            if let Some(u) = &update.username
                && *u != next.username
            {
                next.username = u.clone();
                fields.push("username".into());
                scope.other = true;
            }
            if let Some(pr) = &update.profile {
                let mut set = |slot: &mut Option<String>, value: Option<String>, name: &str| {
                    if *slot != value {
                        *slot = value;
                        fields.push(name.to_owned());
                        scope.own_profile = true;
                    }
                };
                set(
                    &mut next.first_name,
                    Some(pr.given_name.clone()),
                    "first_name",
                );
                set(
                    &mut next.last_name,
                    Some(pr.family_name.clone()),
                    "last_name",
                );
                for (patch, slot, name) in [
                    (&pr.nick_name, &mut next.nick_name, "nick_name"),
                    (&pr.display_name, &mut next.display_name, "display_name"),
                    (
                        &pr.preferred_language,
                        &mut next.preferred_language,
                        "preferred_language",
                    ),
                ] {
                    if patch.apply(slot) {
                        fields.push(name.to_owned());
                        scope.own_profile = true;
                    }
                }
                if let Some(g) = pr.gender
                    && g != next.gender
                {
                    next.gender = g;
                    fields.push("gender".into());
                    scope.own_profile = true;
                }
            }
            let mut email_delivery = None;
            if let Some(e) = &update.email {
                let same = next.email.as_ref().map(Email::normalized) == Some(e.email.normalized());
                if !same || next.email.as_ref() != Some(&e.email) {
                    next.email = Some(e.email.clone());
                    fields.push("email".into());
                }
                if !same {
                    next.email_verified = false;
                    scope.email = true;
                    // A pending change the user asked for earlier is overtaken: its link dies.
                    if next.new_email_requested.take().is_some() {
                        fields.push("new_email_requested".into());
                        cs.push(Change::DeleteCode {
                            user: id,
                            purpose: CodePurpose::EmailChange,
                        });
                    }
                    match &e.verification {
                        ContactVerification::Verified => {
                            next.email_verified = true;
                            scope.verified_flag = true;
                        }
                        ContactVerification::Code(d) => {
                            next.email_verify_requested = true;
                            email_delivery = Some(d.clone());
                        }
                    }
                } else if e.verification == ContactVerification::Verified && !next.email_verified {
                    next.email_verified = true;
                    fields.push("email_verified".into());
                    scope.verified_flag = true;
                }
            }
            let mut phone_delivery = None;
            if let Some(ph) = &update.phone {
                if next.phone.as_ref() != Some(&ph.phone) {
                    next.phone = Some(ph.phone.clone());
                    next.phone_verified = false;
                    fields.push("phone".into());
                    scope.other = true;
                    match &ph.verification {
                        ContactVerification::Verified => {
                            next.phone_verified = true;
                            scope.verified_flag = true;
                        }
                        ContactVerification::Code(d) => {
                            next.phone_verify_requested = true;
                            phone_delivery = Some(d.clone());
                        }
                    }
                } else if ph.verification == ContactVerification::Verified && !next.phone_verified {
                    next.phone_verified = true;
                    fields.push("phone_verified".into());
                    scope.verified_flag = true;
                }
            }
            if let (Some((pw, proof)), Some(hash)) = (&update.password, &prepared) {
                scope.password = true;
                self.authorize_password_change(rel, &current, pw, proof.as_ref(), &mut cs)
                    .await?;
                next.password_hash = Some(hash.clone());
                next.password_change_required = pw.change_required();
                next.password_changed_at = Some(now);
                next.failed_password_attempts = 0;
                next.password_locked_until = None;
                if next.state == UserState::Initial {
                    next.state = UserState::Active;
                }
                fields.push("password".into());
                // A new password ends the user's login sessions (API tokens stay).
                cs.push(Change::DeleteSessions(current.id));
            }
            rights::may_update(p, rel, scope)?;
            if fields.is_empty() {
                return Ok(HumanUpdated {
                    user: current,
                    email_code: None,
                    phone_code: None,
                });
            }
            next.sequence = current.sequence + 1;
            next.modified_at = now;
            let email_code =
                email_delivery.and_then(|d| self.push_code(&mut cs, &next, Channel::Email, &d));
            let phone_code =
                phone_delivery.and_then(|d| self.push_code(&mut cs, &next, Channel::Sms, &d));
            if let Some(inv) = self.invitation_following(&current, &next).await? {
                cs.push(Change::PutInvitation(inv));
                fields.push("invitation".into());
            }
            let mut all = ChangeSet::new();
            all.push(Change::UpdateUser {
                user: next.clone(),
                expected_sequence: current.sequence,
            });
            all.changes.extend(cs.changes);
            all.push(audit_event(&next, "user.updated", p, fields, now));
            match self.commit(all).await {
                Ok(()) => {
                    if scope.password {
                        // The deleted sessions must stop working at once, cached or not.
                        self.auth().cache().clear();
                    }
                    return Ok(HumanUpdated {
                        user: next,
                        email_code,
                        phone_code,
                    });
                }
                Err(Error::Conflict) => continue,
                Err(e) => return Err(self.with_existing(e, next.org_id, &next).await),
            }
        }
        Err(Error::Unavailable(
            "too many concurrent changes to this user; try again".to_owned(),
        ))
    }

    /// A user changing its own password proves it; an admin may set one without proof. The
    /// same password as now is refused. A used reset code is consumed by `cs`.
    async fn authorize_password_change(
        &self,
        rel: Relation,
        current: &User,
        new: &PasswordInput,
        proof: Option<&PasswordProof>,
        cs: &mut ChangeSet,
    ) -> Result<()> {
        match proof {
            Some(PasswordProof::Current(pw)) => {
                if !self.check_password(current, pw).await? {
                    return Err(invalid(
                        Field::Password,
                        "wrong_password",
                        "The current password is wrong",
                    ));
                }
            }
            Some(PasswordProof::Code(code)) => {
                self.check_reset_code(current, code).await?;
                cs.push(Change::DeleteCode {
                    user: current.id,
                    purpose: CodePurpose::PasswordReset,
                });
            }
            None => {
                let admin = rel.admin || (rel.group_admin && !rel.itself);
                if !admin {
                    return Err(Error::PermissionDenied(
                        "changing one's own password needs the current password or a reset code",
                    ));
                }
            }
        }
        let same = match (new, current.password_hash.as_deref()) {
            (PasswordInput::Plain { password, .. }, Some(stored)) => {
                matches!(
                    self.hasher().verify(password, stored).await,
                    Ok(Verified::Valid { .. })
                )
            }
            (PasswordInput::Hashed { hash, .. }, Some(stored)) => hash == stored,
            (_, None) => false,
        };
        if same {
            return Err(precondition(
                "password_unchanged",
                "The new password is the same as the current one",
            ));
        }
        Ok(())
    }

    /// Makes (or remakes) a verification code for the user's current email address or phone
    /// number. `resend` needs a code to exist already.
    pub async fn send_contact_code(
        &self,
        p: &Principal,
        id: UserId,
        channel: Channel,
        delivery: CodeDelivery,
        resend: bool,
    ) -> Result<(User, Option<String>)> {
        let _turn = self.user_turn(id).await;
        for _ in 0..MAX_RETRIES {
            let (user, rel) = self.visible_user(p, id).await?;
            rights::may_update(
                p,
                rel,
                ChangeScope {
                    email: true,
                    ..ChangeScope::default()
                },
            )?;
            let (has, verified, purpose) = match channel {
                Channel::Email => (
                    user.email.is_some(),
                    user.email_verified,
                    CodePurpose::EmailVerification,
                ),
                Channel::Sms => (
                    user.phone.is_some(),
                    user.phone_verified,
                    CodePurpose::PhoneVerification,
                ),
            };
            if !has {
                return Err(precondition(
                    "no_contact",
                    "The user has no such contact to verify",
                ));
            }
            if verified {
                return Err(precondition(
                    "already_verified",
                    "The contact is already verified",
                ));
            }
            if resend && self.store().code(id, purpose).await?.is_none() {
                return Err(precondition("no_code", "There is no code to resend"));
            }
            let now = self.now();
            let mut next = user.clone();
            next.sequence += 1;
            next.modified_at = now;
            let mut cs = ChangeSet::new();
            cs.push(Change::UpdateUser {
                user: next.clone(),
                expected_sequence: user.sequence,
            });
            let code = self.push_code(&mut cs, &next, channel, &delivery);
            cs.push(audit_event(
                &next,
                "user.verification.code_sent",
                p,
                vec![channel.as_str().to_owned()],
                now,
            ));
            match self.commit(cs).await {
                Ok(()) => return Ok((next, code)),
                Err(Error::Conflict) => continue,
                Err(e) => return Err(e),
            }
        }
        Err(Error::Unavailable(
            "too many concurrent changes to this user; try again".to_owned(),
        ))
    }

    /// Removes the user's phone number.
    pub async fn remove_phone(&self, p: &Principal, id: UserId) -> Result<User> {
        let _turn = self.user_turn(id).await;
        for _ in 0..MAX_RETRIES {
            let (user, rel) = self.visible_user(p, id).await?;
            rights::may_update(
                p,
                rel,
                ChangeScope {
                    other: true,
                    ..ChangeScope::default()
                },
            )?;
            if user.phone.is_none() {
                return Err(precondition("no_phone", "The user has no phone number"));
            }
            // The phone may not be the last of first name, email and phone (a Bold user made
            // with a phone number alone).
            if !super::users::names_someone(user.first_name.as_deref(), user.email.is_some(), false)
            {
                return Err(Error::Invalid(vec![super::users::no_one_named()]));
            }
            let now = self.now();
            let mut next = user.clone();
            next.phone = None;
            next.phone_verified = false;
            next.phone_verify_requested = false;
            next.sequence += 1;
            next.modified_at = now;
            let mut cs = ChangeSet::new();
            cs.push(Change::UpdateUser {
                user: next.clone(),
                expected_sequence: user.sequence,
            });
            cs.push(Change::DeleteCode {
                user: id,
                purpose: CodePurpose::PhoneVerification,
            });
            let mut fields = vec!["phone".to_owned()];
            if let Some(inv) = self.invitation_following(&user, &next).await? {
                cs.push(Change::PutInvitation(inv));
                fields.push("invitation".into());
            }
            cs.push(audit_event(&next, "user.updated", p, fields, now));
            match self.commit(cs).await {
                Ok(()) => return Ok(next),
                Err(Error::Conflict) => continue,
                Err(e) => return Err(e),
            }
        }
        Err(Error::Unavailable(
            "too many concurrent changes to this user; try again".to_owned(),
        ))
    }

    /// Starts a password reset: a code sent by email or SMS, or returned.
    pub async fn password_reset(
        &self,
        p: &Principal,
        id: UserId,
        medium: ResetMedium,
    ) -> Result<(User, Option<String>)> {
        let _turn = self.user_turn(id).await;
        for _ in 0..MAX_RETRIES {
            let (user, rel) = self.visible_user(p, id).await?;
            if p.read_only {
                return Err(Error::PermissionDenied("read-only credential"));
            }
            if !(rel.admin || rel.group_admin || rel.itself) {
                return Err(Error::PermissionDenied("insufficient rights"));
            }
            let now = self.now();
            let (row, msg, code) = match &medium {
                ResetMedium::Send {
                    channel,
                    url_template,
                } => {
                    let (row, msg, code) =
                        self.password_reset_message(&user, *channel, url_template.as_ref())?;
                    (row, Some(msg), code)
                }
                ResetMedium::Return => {
                    let (row, code) = self.code_row(&user, CodePurpose::PasswordReset, None);
                    (row, None, code)
                }
            };
            let mut next = user.clone();
            next.sequence += 1;
            next.modified_at = now;
            let mut cs = ChangeSet::new();
            cs.push(Change::UpdateUser {
                user: next.clone(),
                expected_sequence: user.sequence,
            });
            cs.push(Change::PutCode(row));
            let returned = match msg {
                Some(m) => {
                    cs.push(Change::Outbox(m));
                    None
                }
                None => Some(code),
            };
            cs.push(audit_event(
                &next,
                "user.password.reset_requested",
                p,
                Vec::new(),
                now,
            ));
            match self.commit(cs).await {
                Ok(()) => return Ok((next, returned)),
                Err(Error::Conflict) => continue,
                Err(e) => return Err(e),
            }
        }
        Err(Error::Unavailable(
            "too many concurrent changes to this user; try again".to_owned(),
        ))
    }

    /// Deactivates, reactivates, locks or unlocks an account (admins). An inactive or locked
    /// user's own credentials stop working at once.
    pub async fn change_state(
        &self,
        p: &Principal,
        id: UserId,
        change: StateChange,
    ) -> Result<User> {
        let _turn = self.user_turn(id).await;
        for _ in 0..MAX_RETRIES {
            let (user, rel) = self.visible_user(p, id).await?;
            rights::may_update(
                p,
                rel,
                ChangeScope {
                    other: true,
                    ..ChangeScope::default()
                },
            )?;
            let to = match (change, user.state) {
                (StateChange::Deactivate, UserState::Inactive) => {
                    return Err(precondition(
                        "already_inactive",
                        "The user is already deactivated",
                    ));
                }
                (StateChange::Deactivate, UserState::Initial) => {
                    return Err(precondition(
                        "initial",
                        "The user is still in its initial state",
                    ));
                }
                (StateChange::Deactivate, _) => UserState::Inactive,
                (StateChange::Reactivate, UserState::Inactive) => settled_state(&user),
                (StateChange::Reactivate, _) => {
                    return Err(precondition("not_inactive", "The user is not deactivated"));
                }
                (StateChange::Lock, UserState::Locked) => {
                    return Err(precondition("already_locked", "The user is already locked"));
                }
                (StateChange::Lock, _) => UserState::Locked,
                (StateChange::Unlock, UserState::Locked) => settled_state(&user),
                (StateChange::Unlock, _) => {
                    return Err(precondition("not_locked", "The user is not locked"));
                }
            };
            let now = self.now();
            let mut next = user.clone();
            next.state = to;
            if change == StateChange::Unlock {
                next.failed_password_attempts = 0;
                next.password_locked_until = None;
            }
            next.sequence += 1;
            next.modified_at = now;
            let mut cs = ChangeSet::new();
            cs.push(Change::UpdateUser {
                user: next.clone(),
                expected_sequence: user.sequence,
            });
            cs.push(audit_event(
                &next,
                "user.state.changed",
                p,
                vec![to.as_str().to_lowercase()],
                now,
            ));
            match self.commit(cs).await {
                Ok(()) => {
                    self.auth().cache().clear();
                    return Ok(next);
                }
                Err(Error::Conflict) => continue,
                Err(e) => return Err(e),
            }
        }
        Err(Error::Unavailable(
            "too many concurrent changes to this user; try again".to_owned(),
        ))
    }

    /// Makes a new invitation code for a user who has not signed up yet: emailed (its link from
    /// the template, else usher's invitation page) or returned.
    pub async fn create_invite_code(
        &self,
        p: &Principal,
        id: UserId,
        delivery: InviteDelivery,
    ) -> Result<(User, Option<String>)> {
        let _turn = self.user_turn(id).await;
        for _ in 0..MAX_RETRIES {
            let (user, rel) = self.visible_user(p, id).await?;
            rights::may_invite(p, rel)?;
            if user.registered() {
                return Err(precondition(
                    "already_registered",
                    "The user has already signed up",
                ));
            }
            if matches!(delivery, InviteDelivery::Send { .. }) && user.email.is_none() {
                return Err(precondition(
                    "no_email",
                    "The user has no email address to send the code to",
                ));
            }
            let now = self.now();
            let inv = Invitation {
                user_id: id,
                token: new_token(),
                expires_at: now.plus(self.config().invitation_ttl),
                language: Services::language_of(&user),
                email: user.email.clone(),
                phone: user.phone.clone(),
                sent_email: matches!(delivery, InviteDelivery::Send { .. }),
                sent_sms: false,
                accepted_at: None,
                created_at: now,
                url_template: match &delivery {
                    InviteDelivery::Send { url_template } => url_template.clone(),
                    InviteDelivery::Return => None,
                },
            };
            let mut next = user.clone();
            next.sequence += 1;
            next.modified_at = now;
            let mut cs = ChangeSet::new();
            cs.push(Change::UpdateUser {
                user: next.clone(),
                expected_sequence: user.sequence,
            });
            cs.push(Change::PutInvitation(inv.clone()));
            let returned = match &delivery {
                InviteDelivery::Send { .. } => {
                    let org = self
                        .store()
                        .organization(user.org_id)
                        .await?
                        .ok_or(Error::NotFound(Entity::Organization))?;
                    // The link follows the invitation's template (kept for resends).
                    for m in self.invitation_messages(&next, &inv, &org.name, true, false) {
                        cs.push(Change::Outbox(m));
                    }
                    None
                }
                InviteDelivery::Return => Some(inv.token.clone()),
            };
            cs.push(audit_event(
                &next,
                "user.invitation.created",
                p,
                Vec::new(),
                now,
            ));
            match self.commit(cs).await {
                Ok(()) => return Ok((next, returned)),
                Err(Error::Conflict) => continue,
                Err(e) => return Err(e),
            }
        }
        Err(Error::Unavailable(
            "too many concurrent changes to this user; try again".to_owned(),
        ))
    }

    /// Sends the user's invitation again by email (an expired one gets a fresh code).
    pub async fn resend_invite_code(&self, p: &Principal, id: UserId) -> Result<User> {
        let current = self.store().invitation(id).await?;
        let (user, rel) = self.visible_user(p, id).await?;
        rights::may_invite(p, rel)?;
        if current.is_none() {
            return Err(precondition(
                "no_invitation",
                "The user has no invitation code to resend",
            ));
        }
        if user.email.is_none() {
            return Err(precondition(
                "no_email",
                "The user has no email address to send the code to",
            ));
        }
        self.update_invitation(
            p,
            id,
            super::InvitationUpdate {
                send_email: true,
                ..super::InvitationUpdate::default()
            },
        )
        .await?;
        self.store()
            .user(id)
            .await?
            .ok_or(Error::NotFound(Entity::User))
    }

    /// Checks an invitation code: the invitation is accepted, the address it went to counts as
    /// verified, and the user is active.
    pub async fn verify_invite_code(&self, p: &Principal, id: UserId, code: &str) -> Result<User> {
        let _turn = self.user_turn(id).await;
        for _ in 0..MAX_RETRIES {
            let (user, _) = self.visible_user(p, id).await?;
            if p.read_only {
                return Err(Error::PermissionDenied("read-only credential"));
            }
            let wrong = || {
                invalid(
                    Field::Code,
                    "invalid_code",
                    "The code is wrong or has expired",
                )
            };
            self.guard_proof(Some(super::invite_account(id)))?;
            let now = self.now();
            let inv = match self.store().invitation(id).await? {
                Some(inv)
                    if inv.accepted_at.is_none()
                        && !inv.is_expired(now)
                        && inv.token == code.trim() =>
                {
                    inv
                }
                _ => {
                    self.proof_failed(Some(super::invite_account(id)));
                    return Err(wrong());
                }
            };
            let mut next = user.clone();
            if inv.email.as_ref().map(Email::normalized)
                == user.email.as_ref().map(Email::normalized)
                && user.email.is_some()
            {
                next.email_verified = true;
            }
            next.state = UserState::Active;
            next.sequence += 1;
            next.modified_at = now;
            let mut cs = ChangeSet::new();
            cs.push(Change::UpdateUser {
                user: next.clone(),
                expected_sequence: user.sequence,
            });
            cs.push(Change::PutInvitation(Invitation {
                accepted_at: Some(now),
                ..inv
            }));
            cs.push(audit_event(
                &next,
                "user.invitation.accepted",
                p,
                if next.email_verified && !user.email_verified {
                    vec!["state".into(), "email_verified".into()]
                } else {
                    vec!["state".into()]
                },
                now,
            ));
            match self.commit(cs).await {
                Ok(()) => {
                    self.code_succeeded(super::invite_account(id));
                    return Ok(next);
                }
                Err(Error::Conflict) => continue,
                Err(e) => return Err(e),
            }
        }
        Err(Error::Unavailable(
            "too many concurrent changes to this user; try again".to_owned(),
        ))
    }
}

/// Wrong password-reset codes are counted apart from a user's other codes.
fn reset_account(id: UserId) -> super::CodeAccount {
    super::CodeAccount(id, CodePurpose::PasswordReset.as_str())
}
