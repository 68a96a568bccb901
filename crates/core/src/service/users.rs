//! Creating, reading, listing, updating and deleting users.

use serde_json::{Map, Value};

use super::{MAX_RETRIES, Services};
use crate::error::{Conflict, Entity, Error, Field, FieldError, Result, Validator};
use crate::model::*;
use crate::ports::*;
use crate::principal::{Principal, Role};
use crate::rights::{self, ChangeScope};
use crate::secrets::new_token;
use crate::types::*;

/// A partial update of one field: leave it, clear it, or set it.
#[derive(Debug, Clone, PartialEq, Default)]
pub enum Patch<T> {
    #[default]
    Keep,
    Clear,
    Set(T),
}

impl<T: PartialEq + Clone> Patch<T> {
    /// Applies the patch; true when the value changed.
    pub(crate) fn apply(&self, current: &mut Option<T>) -> bool {
        let next = match self {
            Patch::Keep => return false,
            Patch::Clear => None,
            Patch::Set(v) => Some(v.clone()),
        };
        if *current == next {
            false
        } else {
            *current = next;
            true
        }
    }

    /// The value a new record gets: set, or none.
    pub fn into_set(self) -> Option<T> {
        match self {
            Patch::Set(v) => Some(v),
            Patch::Keep | Patch::Clear => None,
        }
    }

    pub fn is_keep(&self) -> bool {
        matches!(self, Patch::Keep)
    }
}

/// How a verification code reaches the person.
#[derive(Debug, Clone, PartialEq)]
pub enum CodeDelivery {
    /// By email or SMS; an email's link from the template, else usher's own page.
    Send { url_template: Option<UrlTemplate> },
    /// Back to the caller, who delivers it itself.
    Return,
}

/// Join a group (Bold's `userGroupId` + `groupAdmin` query parameters).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GroupJoin {
    pub group: GroupId,
    pub admin: bool,
}

/// Make an invitation while creating a user.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct InvitationRequest {
    pub language: Option<Language>,
    pub expiration: Option<Timestamp>,
    pub send_email: bool,
    pub send_sms: bool,
}

/// Everything a new user may start with. Parsed values only.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct NewUser {
    /// Defaults to the caller's organization.
    pub org: Option<OrgId>,
    /// Defaults to the email address, else `user-{id}`.
    pub username: Option<String>,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub nick_name: Option<String>,
    pub display_name: Option<String>,
    pub preferred_language: Option<String>,
    pub gender: Option<Gender>,
    pub email: Option<Email>,
    pub email_verified: bool,
    /// Send a verification link to the address.
    pub email_verify: bool,
    pub phone: Option<Phone>,
    pub phone_verified: bool,
    /// Send a verification code by SMS.
    pub phone_verify: bool,
    pub super_user: bool,
    pub external_id: Option<String>,
    pub client_id: Option<i64>,
    pub description: Option<String>,
    pub remarks: Option<String>,
    pub auto_remove_after: Option<RemovalPeriod>,
    pub auto_email_match: bool,
    pub require_email_match: bool,
    pub email_match_credential_filter: bool,
    pub auth_organization_id: Option<String>,
    pub attributes: Map<String, Value>,
    /// Defaults to `["ROLE_USER"]`.
    pub roles: Option<Vec<String>>,
    pub invitation: Option<InvitationRequest>,
    pub group: Option<GroupJoin>,
}

/// A partial update; `Keep` / `None` leave a field as it is.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct UserPatch {
    pub username: Option<String>,
    pub first_name: Patch<String>,
    pub last_name: Patch<String>,
    pub nick_name: Patch<String>,
    pub display_name: Patch<String>,
    pub preferred_language: Patch<String>,
    pub gender: Option<Gender>,
    pub email: Patch<Email>,
    /// `Some(true)`: (re)send a verification link unless the address is verified.
    pub email_verify: Option<bool>,
    pub phone: Patch<Phone>,
    pub phone_verify: Option<bool>,
    pub super_user: Option<bool>,
    pub external_id: Patch<String>,
    pub client_id: Patch<i64>,
    pub description: Patch<String>,
    pub remarks: Patch<String>,
    pub auto_remove_after: Patch<RemovalPeriod>,
    pub auto_email_match: Option<bool>,
    pub require_email_match: Option<bool>,
    pub email_match_credential_filter: Option<bool>,
    pub auth_organization_id: Patch<String>,
    /// RFC 7396 merge into the attributes: `null` removes a key.
    pub attributes: Option<Map<String, Value>>,
    /// Replaces the roles (admins only).
    pub roles: Option<Vec<String>>,
    pub group: Option<GroupJoin>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Created {
    pub user: User,
    pub invitation: Option<Invitation>,
    /// Codes asked to be returned instead of sent.
    pub email_code: Option<String>,
    pub phone_code: Option<String>,
}

/// What some dialects set on a new user beyond [`NewUser`].
#[derive(Debug, Clone, PartialEq, Default)]
pub(crate) struct CreateExtras {
    pub email_code: Option<CodeDelivery>,
    pub phone_code: Option<CodeDelivery>,
    /// An already checked and hashed password.
    pub password: Option<(String, bool)>,
}

/// A user with its live invitation, as dialects render it.
#[derive(Debug, Clone, PartialEq)]
pub struct UserView {
    pub user: User,
    pub invitation: Option<Invitation>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct UserListQuery {
    /// Only this organization (must be visible to the caller).
    pub org: Option<OrgId>,
    pub filter: UserFilter,
    pub sort: UserSort,
    pub direction: Direction,
    /// Further sort keys after `sort` (see [`UserQuery::then_by`]).
    pub then_by: Vec<(UserSort, Direction)>,
    pub offset: u64,
    pub limit: u64,
    pub with_invitations: bool,
    pub with_total: bool,
}

impl Default for UserListQuery {
    fn default() -> Self {
        Self {
            org: None,
            filter: UserFilter::All,
            sort: UserSort::Id,
            direction: Direction::Asc,
            then_by: Vec::new(),
            offset: 0,
            limit: 50,
            with_invitations: false,
            with_total: false,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct UserList {
    pub users: Vec<UserView>,
    /// The number of matches without paging, when asked for.
    pub total: Option<u64>,
}

fn audit(
    user: &User,
    event_type: &str,
    p: &Principal,
    fields: Vec<String>,
    now: Timestamp,
) -> Change {
    Change::Audit(AuditEvent {
        org_id: Some(user.org_id),
        subject_type: "user".to_owned(),
        subject_id: user.id.0,
        sequence: Some(user.sequence),
        event_type: event_type.to_owned(),
        actor: p.actor(),
        fields,
        created_at: now,
    })
}

/// Bold's rule (spec/bold.md): a user has a first name, an email address or a phone number; a
/// last name alone, or a first name of spaces, names nobody.
pub(super) fn names_someone(first_name: Option<&str>, email: bool, phone: bool) -> bool {
    first_name.is_some_and(|f| !f.trim().is_empty()) || email || phone
}

pub(super) fn no_one_named() -> FieldError {
    FieldError::new(
        Field::FirstName,
        "required",
        "A first name, email address or phone number is required",
    )
}

/// RFC 7396 merge patch of `patch` into `target`; true when something changed.
pub fn merge_attributes(target: &mut Map<String, Value>, patch: &Map<String, Value>) -> bool {
    let mut changed = false;
    for (k, v) in patch {
        if v.is_null() {
            changed |= target.remove(k).is_some();
        } else if let (Some(Value::Object(cur)), Value::Object(p)) = (target.get_mut(k), v) {
            changed |= merge_attributes(cur, p);
        } else if target.get(k) != Some(v) {
            let mut v = v.clone();
            if let Value::Object(m) = &mut v {
                strip_nulls(m);
            }
            target.insert(k.clone(), v);
            changed = true;
        }
    }
    changed
}

fn strip_nulls(m: &mut Map<String, Value>) {
    m.retain(|_, v| !v.is_null());
    for v in m.values_mut() {
        if let Value::Object(inner) = v {
            strip_nulls(inner);
        }
    }
}

impl Services {
    /// The existing user that a new one with this email (or, with no email, this phone) would
    /// duplicate.
    async fn duplicate_of(
        &self,
        org: OrgId,
        email: Option<&Email>,
        phone: Option<&Phone>,
    ) -> Result<Option<(Conflict, UserId)>> {
        if let Some(email) = email {
            let norm = email.normalized();
            return Ok(self
                .store()
                .find_user(org, UserKey::Email(&norm))
                .await?
                .map(|id| (Conflict::UserEmail, id)));
        }
        if let Some(phone) = phone {
            return Ok(self
                .store()
                .find_user(org, UserKey::PhoneWithoutEmail(phone.as_str()))
                .await?
                .map(|id| (Conflict::UserPhone, id)));
        }
        Ok(None)
    }

    /// Turns a unique violation on a user's email or phone into a conflict naming the existing user.
    pub(crate) async fn with_existing(&self, err: Error, org: OrgId, user: &User) -> Error {
        match err {
            Error::AlreadyExists {
                what: what @ (Conflict::UserEmail | Conflict::UserPhone),
                ..
            } => {
                let existing = match self
                    .duplicate_of(org, user.email.as_ref(), user.phone.as_ref())
                    .await
                {
                    Ok(found) => found.map(|(_, id)| id.0),
                    Err(e) => return e,
                };
                Error::AlreadyExists { what, existing }
            }
            other => other,
        }
    }

    /// The group a user joins: it must exist, be visible, and be in the user's organization.
    async fn group_for_join(
        &self,
        p: &Principal,
        org: OrgId,
        join: GroupJoin,
    ) -> Result<UserGroup> {
        // Admins see their organization's groups, users only the groups they are in.
        let group = self.visible_group(p, join.group).await?;
        if group.org_id != org {
            return Err(Error::FailedPrecondition {
                code: "group_other_organization",
                message: "Group and user do not belong to the same account".to_owned(),
            });
        }
        Ok(group)
    }

    pub async fn create_user(&self, p: &Principal, input: NewUser) -> Result<Created> {
        self.create(p, input, CreateExtras::default()).await
    }

    pub(crate) async fn create(
        &self,
        p: &Principal,
        input: NewUser,
        extras: CreateExtras,
    ) -> Result<Created> {
        let now = self.now();
        let org = super::org_or_callers(p, input.org)?;
        let mut v = Validator::new();
        // Bold's rule (spec/bold.md): a first name, an email address or a phone number; a last
        // name alone, or a first name of spaces, names nobody.
        if !names_someone(
            input.first_name.as_deref(),
            input.email.is_some(),
            input.phone.is_some(),
        ) {
            v.push(no_one_named());
        }
        if let Some(inv) = &input.invitation {
            if inv.send_email && input.email.is_none() {
                v.push(FieldError::new(
                    Field::InvitationSendEmail,
                    "email_required",
                    "An invitation sent by email needs an email address",
                ));
            }
            if inv.send_sms && input.phone.is_none() {
                v.push(FieldError::new(
                    Field::InvitationSendSms,
                    "phone_required",
                    "An invitation sent by SMS needs a phone number",
                ));
            }
            if let Some(exp) = inv.expiration
                && exp <= now
            {
                v.push(FieldError::new(
                    Field::InvitationExpiration,
                    "in_the_past",
                    "The expiration must be in the future",
                ));
            }
        }
        v.finish()?;

        if !p.can_see_org(org) {
            return Err(Error::NotFound(Entity::Organization));
        }
        let organization = self
            .store()
            .organization(org)
            .await?
            .ok_or(Error::NotFound(Entity::Organization))?;
        rights::may_create_user(
            self.store(),
            p,
            org,
            input.group.map(|g| g.group),
            input.super_user,
        )
        .await?;
        if let Some(join) = input.group {
            self.group_for_join(p, org, join).await?;
        }
        if let Some((what, id)) = self
            .duplicate_of(org, input.email.as_ref(), input.phone.as_ref())
            .await?
        {
            return Err(Error::AlreadyExists {
                what,
                existing: Some(id.0),
            });
        }
        let id = UserId(self.store().allocate_ids(IdKind::User, 1).await?[0]);

        let mut user = User::new(id, org, now);
        let explicit_username = input.username.is_some();
        user.username = match (&input.username, &input.email) {
            (Some(u), _) => u.clone(),
            (None, Some(e)) if self.store().user_by_username(e.as_str()).await?.is_none() => {
                e.as_str().to_owned()
            }
            _ => format!("user-{id}"),
        };
        user.first_name = input.first_name;
        user.last_name = input.last_name;
        user.nick_name = input.nick_name;
        user.display_name = input.display_name;
        user.preferred_language = input.preferred_language.or_else(|| {
            input
                .invitation
                .as_ref()
                .and_then(|i| i.language)
                .map(|l| l.as_str().to_owned())
        });
        user.gender = input.gender.unwrap_or(Gender::Unspecified);
        user.email = input.email;
        user.email_verified = input.email_verified && user.email.is_some();
        user.email_verify_requested = input.email_verify;
        user.phone = input.phone;
        user.phone_verified = input.phone_verified && user.phone.is_some();
        user.phone_verify_requested = input.phone_verify;
        user.super_user = input.super_user;
        user.external_id = input.external_id;
        user.client_id = input.client_id;
        user.description = input.description;
        user.remarks = input.remarks;
        user.auto_remove_after = input.auto_remove_after;
        user.auto_remove_date = input.auto_remove_after.map(|p| p.after(now));
        user.auto_email_match = input.auto_email_match;
        user.require_email_match = input.require_email_match;
        user.email_match_credential_filter = input.email_match_credential_filter;
        user.auth_organization_id = input.auth_organization_id;
        user.attributes = input.attributes;
        if let Some(roles) = input.roles {
            user.roles = roles;
        }
        user.email_verify_requested |= extras.email_code.is_some();
        user.phone_verify_requested |= extras.phone_code.is_some();
        if let Some((hash, change_required)) = &extras.password {
            user.password_hash = Some(hash.clone());
            user.password_change_required = *change_required;
            user.password_changed_at = Some(now);
            user.state = UserState::Active;
        }

        let mut cs = ChangeSet::new();
        cs.push(Change::InsertUser(user.clone()));
        if let Some(join) = input.group {
            cs.push(Change::PutMember {
                group: join.group,
                user: id,
                group_admin: join.admin,
            });
        }
        let invitation = input.invitation.as_ref().map(|req| Invitation {
            user_id: id,
            token: new_token(),
            expires_at: req
                .expiration
                .unwrap_or_else(|| now.plus(self.config().invitation_ttl)),
            language: req.language.unwrap_or(Language::En),
            email: user.email.clone(),
            phone: user.phone.clone(),
            sent_email: req.send_email,
            sent_sms: req.send_sms,
            accepted_at: None,
            created_at: now,
            url_template: None,
        });
        cs.push(audit(
            &user,
            "user.created",
            p,
            vec!["user".to_owned()],
            now,
        ));
        if let (Some(inv), Some(req)) = (&invitation, &input.invitation) {
            cs.push(Change::PutInvitation(inv.clone()));
            for m in self.invitation_messages(
                &user,
                inv,
                &organization.name,
                req.send_email,
                req.send_sms,
            ) {
                cs.push(Change::Outbox(m));
            }
        }
        self.push_verifications(&mut cs, &user, input.email_verify, input.phone_verify);
        let email_code = extras
            .email_code
            .as_ref()
            .and_then(|d| self.push_code(&mut cs, &user, Channel::Email, d));
        let phone_code = extras
            .phone_code
            .as_ref()
            .and_then(|d| self.push_code(&mut cs, &user, Channel::Sms, d));
        let created = |user: User, invitation: Option<Invitation>| Created {
            user,
            invitation,
            email_code: email_code.clone(),
            phone_code: phone_code.clone(),
        };

        match self.commit(cs.clone()).await {
            Ok(()) => Ok(created(user, invitation)),
            Err(Error::AlreadyExists {
                what: Conflict::Username,
                ..
            }) if !explicit_username => {
                // The address is another organization's username: fall back to `user-{id}`.
                let fallback = format!("user-{id}");
                for c in &mut cs.changes {
                    if let Change::InsertUser(u) = c {
                        u.username = fallback.clone();
                    }
                }
                user.username = fallback;
                match self.commit(cs).await {
                    Ok(()) => Ok(created(user, invitation)),
                    Err(e) => Err(self.with_existing(e, org, &user).await),
                }
            }
            Err(e) => Err(self.with_existing(e, org, &user).await),
        }
    }

    /// Codes and messages for the verifications asked for, for unverified contacts.
    fn push_verifications(&self, cs: &mut ChangeSet, user: &User, email: bool, phone: bool) {
        let send = CodeDelivery::Send { url_template: None };
        if email {
            self.push_code(cs, user, Channel::Email, &send);
        }
        if phone {
            self.push_code(cs, user, Channel::Sms, &send);
        }
    }

    /// A verification code for the user's unverified email address (`Email`) or phone number
    /// (`Sms`): sent, or returned to the caller. `None` when there is nothing to verify.
    pub(crate) fn push_code(
        &self,
        cs: &mut ChangeSet,
        user: &User,
        channel: Channel,
        delivery: &CodeDelivery,
    ) -> Option<String> {
        let (row, msg, code) = match channel {
            Channel::Email if !user.email_verified => {
                let template = match delivery {
                    CodeDelivery::Send { url_template } => url_template.as_ref(),
                    CodeDelivery::Return => None,
                };
                self.email_verification(user, user.email.as_ref()?, template)
            }
            Channel::Sms if !user.phone_verified => {
                self.phone_verification(user, user.phone.as_ref()?)
            }
            _ => return None,
        };
        cs.push(Change::PutCode(row));
        match delivery {
            CodeDelivery::Send { .. } => {
                cs.push(Change::Outbox(msg));
                None
            }
            CodeDelivery::Return => Some(code),
        }
    }

    /// A visible user, or not found.
    pub async fn visible_user(
        &self,
        p: &Principal,
        id: UserId,
    ) -> Result<(User, rights::Relation)> {
        let user = self
            .store()
            .user(id)
            .await?
            .ok_or(Error::NotFound(Entity::User))?;
        let rel = rights::see_user(self.store(), p, &user).await?;
        Ok((user, rel))
    }

    pub async fn get_user(&self, p: &Principal, id: UserId) -> Result<UserView> {
        let (user, invitation) = self
            .store()
            .user_with_invitation(id)
            .await?
            .ok_or(Error::NotFound(Entity::User))?;
        rights::see_user(self.store(), p, &user).await?;
        Ok(UserView { user, invitation })
    }

    /// The users the caller may see, narrowed by the query.
    pub async fn list_users(&self, p: &Principal, q: UserListQuery) -> Result<UserList> {
        let visible = match p.role {
            Role::InstanceAdmin => UserFilter::All,
            Role::OrgAdmin { org }
            | Role::User {
                org,
                super_user: true,
                ..
            } => UserFilter::Org(org),
            Role::User {
                id,
                org,
                super_user: false,
            } => UserFilter::And(vec![
                UserFilter::Org(org),
                UserFilter::VisibleToGroupAdmin(id),
            ]),
        };
        let mut filter = visible.and(q.filter);
        if let Some(org) = q.org {
            if !p.can_see_org(org) || self.store().organization(org).await?.is_none() {
                return Err(Error::NotFound(Entity::Organization));
            }
            filter = filter.and(UserFilter::Org(org));
        }
        let query = UserQuery {
            filter,
            sort: q.sort,
            direction: q.direction,
            then_by: q.then_by,
            offset: q.offset,
            limit: q.limit,
        };
        let users = self.store().users(&query).await?;
        let total = if q.with_total {
            Some(self.store().count_users(&query.filter).await?)
        } else {
            None
        };
        let mut invitations = if q.with_invitations && !users.is_empty() {
            let ids: Vec<UserId> = users.iter().map(|u| u.id).collect();
            self.store().invitations(&ids).await?
        } else {
            Vec::new()
        };
        let users = users
            .into_iter()
            .map(|user| {
                let invitation = invitations
                    .iter()
                    .position(|i| i.user_id == user.id)
                    .map(|pos| invitations.swap_remove(pos));
                UserView { user, invitation }
            })
            .collect();
        Ok(UserList { users, total })
    }

    /// Applies a partial update. Nothing actually different → nothing is written and the current
    /// user comes back.
    pub async fn update_user(&self, p: &Principal, id: UserId, patch: UserPatch) -> Result<User> {
        let _turn = self.user_turn(id).await;
        for _ in 0..MAX_RETRIES {
            let (current, rel) = self.visible_user(p, id).await?;
            let now = self.now();
            let mut next = current.clone();
            let mut fields: Vec<String> = Vec::new();
            let mut scope = ChangeScope::default();
            let mut mark = |changed: bool, name: &str, flag: &mut bool| {
                if changed {
                    fields.push(name.to_owned());
                    *flag = true;
                }
            };

            let mut own = false;
            let mut other = false;
            let mut email_scope = false;
            mark(
                patch.first_name.apply(&mut next.first_name),
                "first_name",
                &mut own,
            );
            mark(
                patch.last_name.apply(&mut next.last_name),
                "last_name",
                &mut own,
            );
            mark(
                patch.nick_name.apply(&mut next.nick_name),
                "nick_name",
                &mut own,
            );
            mark(
                patch.display_name.apply(&mut next.display_name),
                "display_name",
                &mut own,
            );
            mark(
                patch.preferred_language.apply(&mut next.preferred_language),
                "preferred_language",
                &mut own,
            );
            if let Some(g) = patch.gender {
                mark(g != next.gender, "gender", &mut own);
                next.gender = g;
            }
            if let Some(u) = &patch.username {
                mark(*u != next.username, "username", &mut other);
                next.username = u.clone();
            }
            let old_email = next.email.as_ref().map(|e| e.normalized());
            if patch.email.apply(&mut next.email) {
                // Confirmed when a verification link goes to the new address; else an admin's change.
                if patch.email_verify == Some(true) && next.email.is_some() {
                    mark(true, "email", &mut email_scope);
                } else {
                    mark(true, "email", &mut other);
                }
                if next.email.as_ref().map(|e| e.normalized()) != old_email {
                    next.email_verified = false;
                    // A pending change the user asked for earlier is overtaken: its link dies
                    // (its code is deleted below).
                    // (Part of the email change, whose scope is marked above.)
                    let overtaken = next.new_email_requested.take().is_some();
                    mark(overtaken, "new_email_requested", &mut false);
                }
            }
            if let Some(req) = patch.email_verify {
                mark(req != next.email_verify_requested, "email_verify", &mut own);
                next.email_verify_requested = req;
            }
            if patch.phone.apply(&mut next.phone) {
                mark(true, "phone", &mut other);
                next.phone_verified = false;
            }
            if let Some(req) = patch.phone_verify {
                mark(req != next.phone_verify_requested, "phone_verify", &mut own);
                next.phone_verify_requested = req;
            }
            let mut su = false;
            if let Some(s) = patch.super_user {
                mark(s != next.super_user, "super_user", &mut su);
                next.super_user = s;
            }
            mark(
                patch.external_id.apply(&mut next.external_id),
                "external_id",
                &mut other,
            );
            mark(
                patch.client_id.apply(&mut next.client_id),
                "client_id",
                &mut other,
            );
            mark(
                patch.description.apply(&mut next.description),
                "description",
                &mut other,
            );
            mark(
                patch.remarks.apply(&mut next.remarks),
                "remarks",
                &mut other,
            );
            if patch.auto_remove_after.apply(&mut next.auto_remove_after) {
                mark(true, "auto_remove_after", &mut other);
                next.auto_remove_date = next.auto_remove_after.map(|p| p.after(now));
            }
            for (value, slot, name) in [
                (
                    patch.auto_email_match,
                    &mut next.auto_email_match,
                    "auto_email_match",
                ),
                (
                    patch.require_email_match,
                    &mut next.require_email_match,
                    "require_email_match",
                ),
                (
                    patch.email_match_credential_filter,
                    &mut next.email_match_credential_filter,
                    "email_match_credential_filter",
                ),
            ] {
                if let Some(b) = value {
                    mark(b != *slot, name, &mut other);
                    *slot = b;
                }
            }
            mark(
                patch
                    .auth_organization_id
                    .apply(&mut next.auth_organization_id),
                "auth_organization_id",
                &mut other,
            );
            if let Some(roles) = &patch.roles {
                mark(*roles != next.roles, "roles", &mut su);
                next.roles = roles.clone();
            }
            if let Some(attrs) = &patch.attributes {
                mark(
                    merge_attributes(&mut next.attributes, attrs),
                    "attributes",
                    &mut other,
                );
            }

            let mut membership = None;
            if let Some(join) = patch.group {
                self.group_for_join(p, current.org_id, join).await?;
                if self.store().membership(join.group, id).await? != Some(join.admin) {
                    membership = Some(join);
                    scope.membership = true;
                }
            }
            scope.own_profile = own;
            scope.other = other;
            scope.email = email_scope;
            scope.super_user = su;
            rights::may_update(p, rel, scope)?;
            // The create rule holds after a change too: the last of first name, email and phone
            // cannot be taken away (a user that never had one may still change other fields).
            let identifying = ["first_name", "email", "phone"];
            if fields.iter().any(|f| identifying.contains(&f.as_str()))
                && !names_someone(
                    next.first_name.as_deref(),
                    next.email.is_some(),
                    next.phone.is_some(),
                )
            {
                return Err(Error::Invalid(vec![no_one_named()]));
            }

            let send_email = patch.email_verify == Some(true);
            let send_phone = patch.phone_verify == Some(true);
            let mut verifications = ChangeSet::new();
            if send_email || send_phone {
                next.sequence = current.sequence + 1;
                self.push_verifications(&mut verifications, &next, send_email, send_phone);
            }
            if fields.is_empty() && membership.is_none() && verifications.is_empty() {
                return Ok(current);
            }
            if !verifications.is_empty() && fields.is_empty() {
                fields.push("verification_sent".to_owned());
            }
            next.sequence = current.sequence + 1;
            next.modified_at = now;

            let mut cs = ChangeSet::new();
            cs.push(Change::UpdateUser {
                user: next.clone(),
                expected_sequence: current.sequence,
            });
            if let Some(inv) = self.invitation_following(&current, &next).await? {
                cs.push(Change::PutInvitation(inv));
                fields.push("invitation".to_owned());
            }
            if current.new_email_requested.is_some() && next.new_email_requested.is_none() {
                cs.push(Change::DeleteCode {
                    user: id,
                    purpose: CodePurpose::EmailChange,
                });
            }
            if let Some(join) = membership {
                cs.push(Change::PutMember {
                    group: join.group,
                    user: id,
                    group_admin: join.admin,
                });
                fields.push("membership".to_owned());
            }
            cs.push(audit(&next, "user.updated", p, fields, now));
            cs.changes.extend(verifications.changes);
            match self.commit(cs).await {
                Ok(()) => {
                    if su {
                        self.auth().cache().clear();
                    }
                    return Ok(next);
                }
                Err(Error::Conflict) => continue,
                Err(e) => return Err(self.with_existing(e, next.org_id, &next).await),
            }
        }
        Err(Error::Unavailable(
            "too many concurrent changes to this user; try again".to_owned(),
        ))
    }

    /// Removes the user with its credentials, codes, memberships and invitation; its audit
    /// events stay.
    pub async fn delete_user(&self, p: &Principal, id: UserId) -> Result<()> {
        let (user, rel) = self.visible_user(p, id).await?;
        rights::may_delete(p, rel)?;
        self.remove_user(p, &user).await
    }

    pub(crate) async fn remove_user(&self, p: &Principal, user: &User) -> Result<()> {
        let now = self.now();
        let mut gone = user.clone();
        gone.sequence += 1;
        let mut cs = ChangeSet::new();
        cs.push(Change::DeleteUser(user.id));
        cs.push(audit(&gone, "user.deleted", p, Vec::new(), now));
        self.commit(cs).await?;
        self.auth().cache().clear();
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn patch_apply() {
        let mut v = Some("a".to_owned());
        assert!(!Patch::Keep.apply(&mut v));
        assert!(!Patch::Set("a".to_owned()).apply(&mut v));
        assert!(Patch::Set("b".to_owned()).apply(&mut v));
        assert_eq!(v.as_deref(), Some("b"));
        assert!(Patch::<String>::Clear.apply(&mut v));
        assert_eq!(v, None);
        assert!(!Patch::<String>::Clear.apply(&mut v));
    }

    #[test]
    fn attribute_merge_follows_rfc7396() {
        let mut target = json!({"a": 1, "o": {"x": 1, "y": 2}})
            .as_object()
            .unwrap()
            .clone();
        let patch = json!({"a": null, "o": {"y": null, "z": 3}, "n": {"k": null, "j": 1}});
        assert!(merge_attributes(&mut target, patch.as_object().unwrap()));
        assert_eq!(
            Value::Object(target.clone()),
            json!({"o": {"x": 1, "z": 3}, "n": {"j": 1}})
        );
        let same = json!({"o": {"x": 1}});
        assert!(!merge_attributes(&mut target, same.as_object().unwrap()));
    }
}
