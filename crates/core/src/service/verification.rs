//! Flows that end with someone proving something: accepting an invitation (setting a password),
//! verifying an address or number with a code, confirming an email change; and the admins' view
//! of the delivery queue.

use super::{CodeAccount, MAX_RETRIES, Services};
use crate::error::{Entity, Error, Field, FieldError, Result};
use crate::model::*;
use crate::password::check_policy;
use crate::ports::*;
use crate::principal::Principal;
use crate::secrets::{hash_code, hash_secret, new_secret};
use crate::types::*;

/// Wrong attempts after which a code is dead.
pub const MAX_CODE_ATTEMPTS: i32 = 5;

/// What a verification proved.
#[derive(Debug, Clone, PartialEq)]
pub struct Verified {
    pub user: User,
}

fn wrong_code() -> Error {
    Error::Invalid(vec![FieldError::new(
        Field::Code,
        "invalid_code",
        "The code is wrong or has expired",
    )])
}

fn audit(user: &User, event: &str, actor: Actor, fields: &[&str], now: Timestamp) -> Change {
    Change::Audit(AuditEvent {
        org_id: Some(user.org_id),
        subject_type: "user".to_owned(),
        subject_id: user.id.0,
        sequence: Some(user.sequence),
        event_type: event.to_owned(),
        actor,
        fields: fields.iter().map(|f| (*f).to_owned()).collect(),
        created_at: now,
    })
}

impl Services {
    /// The invitation behind a link, if it can still be accepted (else [`Error::Gone`]).
    pub async fn open_invitation(&self, token: &str) -> Result<(Invitation, User)> {
        self.guard_proof(None)?;
        let result = self.open_invitation_unguarded(token).await;
        if matches!(result, Err(Error::Gone(_))) {
            self.proof_failed(None);
        }
        result
    }

    async fn open_invitation_unguarded(&self, token: &str) -> Result<(Invitation, User)> {
        let gone = Error::Gone(Entity::Invitation);
        if UuidToken::parse(token).is_err() {
            return Err(gone);
        }
        let Some(inv) = self.store().invitation_by_token(token).await? else {
            return Err(gone);
        };
        if inv.accepted_at.is_some() || inv.is_expired(self.now()) {
            return Err(gone);
        }
        let user = self
            .store()
            .user(inv.user_id)
            .await?
            .ok_or(Error::Gone(Entity::Invitation))?;
        if user.registered() {
            return Err(Error::Gone(Entity::Invitation));
        }
        Ok((inv, user))
    }

    /// Accepts an invitation: checks the password policy (and, with `requireEmailMatch`, that the
    /// invitee typed the invited address), sets the password and activates the user. Accepting an
    /// invitation that was emailed to the user's address also proves that address.
    pub async fn accept_invitation(
        &self,
        token: &str,
        password: &str,
        email: Option<&str>,
    ) -> Result<User> {
        for _ in 0..MAX_RETRIES {
            let (mut inv, user) = self.open_invitation(token).await?;
            if user.require_email_match {
                // The typed address is a secret like a code: wrong guesses are counted.
                let account = super::invite_account(user.id);
                self.guard_proof(Some(account))?;
                let invited = inv
                    .email
                    .as_ref()
                    .or(user.email.as_ref())
                    .map(Email::normalized);
                let typed = email.map(|e| e.trim().to_lowercase());
                if invited.is_none() || typed != invited {
                    self.proof_failed(Some(account));
                    return Err(Error::Invalid(vec![FieldError::new(
                        Field::Email,
                        "email_mismatch",
                        "The email address does not match the invitation",
                    )]));
                }
            }
            check_policy(password).map_err(|e| {
                Error::Invalid(vec![FieldError::new(
                    Field::Password,
                    e.code(),
                    e.message(),
                )])
            })?;
            let hash = self
                .hasher()
                .hash(password)
                .await
                .map_err(Error::internal)?;
            let now = self.now();
            let mut next = user.clone();
            next.state = UserState::Active;
            next.password_hash = Some(hash);
            next.password_change_required = false;
            let emailed_to_own_address = inv.sent_email
                && inv.email.as_ref().map(Email::normalized)
                    == user.email.as_ref().map(Email::normalized)
                && user.email.is_some();
            if emailed_to_own_address {
                next.email_verified = true;
            }
            next.sequence += 1;
            next.modified_at = now;
            inv.accepted_at = Some(now);
            let mut cs = ChangeSet::new();
            cs.push(Change::UpdateUser {
                user: next.clone(),
                expected_sequence: user.sequence,
            });
            cs.push(Change::PutInvitation(inv));
            cs.push(audit(
                &next,
                "user.invitation.accepted",
                Actor::System,
                if emailed_to_own_address && !user.email_verified {
                    &["state", "password", "email_verified"]
                } else {
                    &["state", "password"]
                },
                now,
            ));
            match self.commit(cs).await {
                Ok(()) => {
                    if user.require_email_match {
                        self.code_succeeded(super::invite_account(user.id));
                    }
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

    /// Checks a verification code of the user's current email address or phone number and marks
    /// it verified. A code is single use, expires, and dies after [`MAX_CODE_ATTEMPTS`] wrong tries.
    pub async fn verify_code(
        &self,
        id: UserId,
        purpose: CodePurpose,
        code: &str,
    ) -> Result<Verified> {
        let account = CodeAccount(id, purpose.as_str());
        self.guard_proof(Some(account))?;
        let result = self.verify_code_unguarded(id, purpose, code).await;
        match &result {
            Ok(_) => self.code_succeeded(account),
            Err(Error::Invalid(_)) => self.proof_failed(Some(account)),
            Err(_) => {}
        }
        result
    }

    async fn verify_code_unguarded(
        &self,
        id: UserId,
        purpose: CodePurpose,
        code: &str,
    ) -> Result<Verified> {
        if !matches!(
            purpose,
            CodePurpose::EmailVerification | CodePurpose::PhoneVerification
        ) {
            return Err(wrong_code());
        }
        let _turn = self.user_turn(id).await;
        for _ in 0..MAX_RETRIES {
            let now = self.now();
            let row = self
                .store()
                .code(id, purpose)
                .await?
                .ok_or_else(wrong_code)?;
            if row.expires_at <= now || row.attempts >= MAX_CODE_ATTEMPTS {
                let mut cs = ChangeSet::new();
                cs.push(Change::DeleteCode { user: id, purpose });
                self.commit(cs).await?;
                return Err(wrong_code());
            }
            if row.code_hash != hash_code(code) {
                let mut cs = ChangeSet::new();
                cs.push(Change::CodeAttempt { user: id, purpose });
                self.commit(cs).await?;
                return Err(wrong_code());
            }
            let user = self
                .store()
                .user(id)
                .await?
                .ok_or(Error::NotFound(Entity::User))?;
            let mut next = user.clone();
            let current = match purpose {
                CodePurpose::EmailVerification => user.email.as_ref().map(Email::normalized),
                _ => user.phone.as_ref().map(|p| p.as_str().to_owned()),
            };
            if current.is_none() || current != row.target {
                // The address changed since the code was sent.
                let mut cs = ChangeSet::new();
                cs.push(Change::DeleteCode { user: id, purpose });
                self.commit(cs).await?;
                return Err(wrong_code());
            }
            let field = match purpose {
                CodePurpose::EmailVerification => {
                    next.email_verified = true;
                    "email_verified"
                }
                _ => {
                    next.phone_verified = true;
                    "phone_verified"
                }
            };
            next.sequence += 1;
            next.modified_at = now;
            let mut cs = ChangeSet::new();
            cs.push(Change::UpdateUser {
                user: next.clone(),
                expected_sequence: user.sequence,
            });
            cs.push(Change::DeleteCode { user: id, purpose });
            cs.push(audit(&next, "user.verified", Actor::System, &[field], now));
            match self.commit(cs).await {
                Ok(()) => return Ok(Verified { user: next }),
                Err(Error::Conflict) => continue,
                Err(e) => return Err(e),
            }
        }
        Err(Error::Unavailable(
            "too many concurrent changes to this user; try again".to_owned(),
        ))
    }

    /// [`Services::verify_code`] on behalf of a principal that must see the user (an admin
    /// relaying the code, or the user itself).
    pub async fn verify_code_as(
        &self,
        p: &Principal,
        id: UserId,
        purpose: CodePurpose,
        code: &str,
    ) -> Result<Verified> {
        self.visible_user(p, id).await?;
        if p.read_only {
            return Err(Error::PermissionDenied("read-only credential"));
        }
        self.verify_code(id, purpose, code).await
    }

    /// A user asks to change its own email address: the new one waits in `new_email_requested`
    /// and a confirmation link goes to the current address. An admin's change is immediate.
    pub async fn request_email_change(
        &self,
        p: &Principal,
        id: UserId,
        new_email: Email,
    ) -> Result<User> {
        let (user, rel) = self.visible_user(p, id).await?;
        if p.read_only {
            return Err(Error::PermissionDenied("read-only credential"));
        }
        if let Some(existing) = self
            .store()
            .find_user(user.org_id, UserKey::Email(&new_email.normalized()))
            .await?
            && existing != id
        {
            return Err(Error::AlreadyExists {
                what: crate::error::Conflict::UserEmail,
                existing: Some(existing.0),
            });
        }
        if rel.admin || rel.group_admin || user.email.is_none() {
            // Immediate (nobody to confirm with when there is no current address). Before this
            // call's own turn at the user (below): `update_user` takes it, and a turn is never
            // taken twice.
            let patch = super::UserPatch {
                email: super::Patch::Set(new_email),
                email_verify: Some(true),
                ..super::UserPatch::default()
            };
            return if rel.admin || rel.group_admin {
                self.update_user(p, id, patch).await
            } else {
                self.update_user(&Principal::system(), id, patch).await
            };
        }
        if !rel.itself {
            return Err(Error::PermissionDenied(
                "insufficient rights for this change",
            ));
        }
        let _turn = self.user_turn(id).await;
        for _ in 0..MAX_RETRIES {
            let user = self
                .store()
                .user(id)
                .await?
                .ok_or(Error::NotFound(Entity::User))?;
            let Some(current) = user.email.clone() else {
                return Err(Error::Conflict);
            };
            let now = self.now();
            let token = new_secret();
            let mut next = user.clone();
            next.new_email_requested = Some(new_email.clone());
            next.sequence += 1;
            next.modified_at = now;
            let code = OneTimeCode {
                user_id: id,
                purpose: CodePurpose::EmailChange,
                code_hash: hash_secret(&token),
                target: Some(new_email.normalized()),
                expires_at: now.plus(self.config().email_change_ttl),
                attempts: 0,
                created_at: now,
            };
            let msg =
                self.email_change_message(&next, &current, &new_email, &token, code.expires_at);
            let mut cs = ChangeSet::new();
            cs.push(Change::UpdateUser {
                user: next.clone(),
                expected_sequence: user.sequence,
            });
            cs.push(Change::PutCode(code));
            cs.push(Change::Outbox(msg));
            cs.push(audit(
                &next,
                "user.email_change.requested",
                p.actor(),
                &["new_email_requested"],
                now,
            ));
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

    /// Cancels a pending email change (the link stops working).
    pub async fn cancel_email_change(&self, p: &Principal, id: UserId) -> Result<User> {
        let _turn = self.user_turn(id).await;
        for _ in 0..MAX_RETRIES {
            let (user, rel) = self.visible_user(p, id).await?;
            if p.read_only {
                return Err(Error::PermissionDenied("read-only credential"));
            }
            if !(rel.admin || rel.group_admin || rel.itself) {
                return Err(Error::PermissionDenied(
                    "insufficient rights for this change",
                ));
            }
            if user.new_email_requested.is_none() {
                return Ok(user);
            }
            let now = self.now();
            let mut next = user.clone();
            next.new_email_requested = None;
            next.sequence += 1;
            next.modified_at = now;
            let mut cs = ChangeSet::new();
            cs.push(Change::UpdateUser {
                user: next.clone(),
                expected_sequence: user.sequence,
            });
            cs.push(Change::DeleteCode {
                user: id,
                purpose: CodePurpose::EmailChange,
            });
            cs.push(audit(
                &next,
                "user.email_change.cancelled",
                p.actor(),
                &["new_email_requested"],
                now,
            ));
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

    /// The pending change behind a confirmation link, if it can still be confirmed.
    pub async fn open_email_change(&self, token: &str) -> Result<(User, Email)> {
        self.guard_proof(None)?;
        let result = self.open_email_change_unguarded(token).await;
        if matches!(result, Err(Error::Gone(_))) {
            self.proof_failed(None);
        }
        result
    }

    async fn open_email_change_unguarded(&self, token: &str) -> Result<(User, Email)> {
        let gone = || Error::Gone(Entity::EmailChange);
        let row = self
            .store()
            .code_by_hash(CodePurpose::EmailChange, &hash_secret(token))
            .await?
            .ok_or_else(gone)?;
        if row.expires_at <= self.now() {
            return Err(gone());
        }
        let user = self.store().user(row.user_id).await?.ok_or_else(gone)?;
        let new = user.new_email_requested.clone().ok_or_else(gone)?;
        if Some(new.normalized()) != row.target {
            return Err(gone());
        }
        Ok((user, new))
    }

    /// The user behind an email-verification link (`/verify-email?userId=…&code=…`), for the page
    /// that shows the address and asks to confirm it: only when `code` is the user's live code
    /// for its current address. Anything else is `Gone`, the same for an unknown user, a wrong
    /// code and an expired one, so nobody's address is shown without the code. A wrong code is a
    /// wrong try like a submitted one: it spends one of the code's tries and counts against the
    /// user's email codes and the client address, so the page is no way to guess codes.
    pub async fn open_email_verification(&self, id: UserId, code: &str) -> Result<User> {
        let purpose = CodePurpose::EmailVerification;
        let account = CodeAccount(id, purpose.as_str());
        self.guard_proof(Some(account))?;
        let gone = || Error::Gone(Entity::Code);
        let now = self.now();
        let (Some(user), Some(row)) = (
            self.store().user(id).await?,
            self.store().code(id, purpose).await?,
        ) else {
            self.proof_failed(None);
            return Err(gone());
        };
        if row.expires_at <= now
            || row.attempts >= MAX_CODE_ATTEMPTS
            || user.email.as_ref().map(Email::normalized) != row.target
        {
            return Err(gone());
        }
        if row.code_hash != hash_code(code) {
            let mut cs = ChangeSet::new();
            cs.push(Change::CodeAttempt { user: id, purpose });
            self.commit(cs).await?;
            self.proof_failed(Some(account));
            return Err(gone());
        }
        Ok(user)
    }

    /// Confirms an email change from its link: the new address becomes the (unverified) email and
    /// its verification starts. With `of`, the change must be that user's (else `NotFound`, as a
    /// route naming the user answers for a token of someone else).
    pub async fn confirm_email_change(&self, token: &str, of: Option<UserId>) -> Result<User> {
        for _ in 0..MAX_RETRIES {
            let (user, new) = self.open_email_change(token).await?;
            if of.is_some_and(|id| id != user.id) {
                return Err(Error::NotFound(Entity::EmailChange));
            }
            if let Some(existing) = self
                .store()
                .find_user(user.org_id, UserKey::Email(&new.normalized()))
                .await?
                && existing != user.id
            {
                return Err(Error::AlreadyExists {
                    what: crate::error::Conflict::UserEmail,
                    existing: Some(existing.0),
                });
            }
            let now = self.now();
            let mut next = user.clone();
            next.email = Some(new.clone());
            next.email_verified = false;
            next.email_verify_requested = true;
            next.new_email_requested = None;
            next.sequence += 1;
            next.modified_at = now;
            let mut cs = ChangeSet::new();
            cs.push(Change::UpdateUser {
                user: next.clone(),
                expected_sequence: user.sequence,
            });
            cs.push(Change::DeleteCode {
                user: user.id,
                purpose: CodePurpose::EmailChange,
            });
            let (code, msg, _) = self.email_verification(&next, &new, None);
            cs.push(Change::PutCode(code));
            cs.push(Change::Outbox(msg));
            cs.push(audit(
                &next,
                "user.email_change.confirmed",
                Actor::System,
                if user.email_verified {
                    &["email", "new_email_requested", "email_verified"]
                } else {
                    &["email", "new_email_requested"]
                },
                now,
            ));
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

    /// The delivery queue as admins see it: instance admins everything, organization admins their
    /// organization's messages.
    pub async fn list_outbox(
        &self,
        p: &Principal,
        mut q: OutboxQuery,
    ) -> Result<Vec<OutboxRecord>> {
        match p.org() {
            None => {}
            Some(org) if p.is_admin_of(org) => q.org = Some(org),
            Some(_) => {
                return Err(Error::PermissionDenied(
                    "only an organization admin may list messages",
                ));
            }
        }
        if let Some(status) = &q.status
            && !matches!(status.as_str(), "pending" | "sent" | "failed" | "cancelled")
        {
            return Err(Error::Invalid(vec![FieldError::new(
                Field::Wire("status".to_owned()),
                "invalid_status",
                "One of pending, sent, failed, cancelled",
            )]));
        }
        self.store().outbox_list(&q).await
    }
}
