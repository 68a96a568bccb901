//! Bulk import: rows are matched to existing users by external id, then email, and created or
//! updated. The dialect streams rows in batches; each batch commits in one transaction.

use std::collections::{HashMap, HashSet};

use super::Services;
use crate::error::{Conflict, Entity, Error, Result};
use crate::model::*;
use crate::ports::*;
use crate::principal::Principal;
use crate::rights;
use crate::types::*;

/// One parsed row; `None` leaves a field unchanged on update.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ImportRow {
    /// The row's number in the file (for error reports).
    pub line: u64,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub email: Option<Email>,
    pub phone: Option<Phone>,
    pub external_id: Option<String>,
    pub description: Option<String>,
    pub remarks: Option<String>,
    pub super_user: Option<bool>,
    /// A hash in a format usher verifies (checked with `check_importable` by the caller), stored
    /// as given and upgraded to argon2id at the user's next successful login.
    pub password_hash: Option<String>,
}

#[derive(Debug)]
pub struct RowError {
    pub line: u64,
    pub error: Error,
}

#[derive(Debug, Default)]
pub struct ImportOutcome {
    pub created: u64,
    pub updated: u64,
    pub errors: Vec<RowError>,
}

/// User ids taken from the store a few at a time, so that rows which turn out to be updates do
/// not use ids up.
struct IdPool {
    buf: Vec<i64>,
}

impl IdPool {
    async fn next(&mut self, s: &Services) -> Result<i64> {
        if self.buf.is_empty() {
            self.buf = s.store().allocate_ids(IdKind::User, 64).await?;
            self.buf.reverse();
        }
        self.buf
            .pop()
            .ok_or_else(|| Error::internal(crate::error::Message("no ids allocated".into())))
    }
}

/// What a batch knows of the users its rows may touch: stored, or as planned by earlier rows.
#[derive(Default)]
struct Known {
    users: HashMap<UserId, User>,
    by_external: HashMap<String, UserId>,
    by_email: HashMap<String, UserId>,
    /// Lower-cased usernames in use (stored, or given to users created by this batch).
    taken_usernames: HashSet<String>,
}

impl Known {
    fn remember(&mut self, u: User) {
        if let Some(x) = &u.external_id {
            // With duplicate external ids in the store, the oldest user is the match.
            self.by_external
                .entry(x.clone())
                .and_modify(|id| *id = (*id).min(u.id))
                .or_insert(u.id);
        }
        if let Some(e) = &u.email {
            self.by_email.insert(e.normalized(), u.id);
        }
        self.users.insert(u.id, u);
    }

    fn forget(&mut self, u: &User) {
        if let Some(x) = &u.external_id
            && self.by_external.get(x) == Some(&u.id)
        {
            self.by_external.remove(x);
        }
        if let Some(e) = &u.email {
            self.by_email.remove(&e.normalized());
        }
    }
}

/// A row turned into the change it makes.
struct Planned {
    line: u64,
    created: bool,
    changes: Vec<Change>,
    /// Changes an existing user's `superUser` or password: cached credentials must go.
    super_user_changed: bool,
}

impl Services {
    /// Checks that the caller may import into `org` (an admin of it).
    pub async fn authorize_import(&self, p: &Principal, org: Option<OrgId>) -> Result<OrgId> {
        let org = super::org_or_callers(p, org)?;
        rights::may_administer_org(p, org, Entity::Organization)?;
        self.store()
            .organization(org)
            .await?
            .ok_or(Error::NotFound(Entity::Organization))?;
        Ok(org)
    }

    /// Imports one batch of rows (already authorized with [`Services::authorize_import`]).
    ///
    /// The users the rows may match are read with one query per batch; later rows of the batch
    /// see what earlier rows planned, so two rows about one user chain their changes.
    pub async fn import_batch(
        &self,
        p: &Principal,
        org: OrgId,
        rows: Vec<ImportRow>,
        outcome: &mut ImportOutcome,
    ) -> Result<()> {
        if rows.is_empty() {
            return Ok(());
        }
        let external_ids: Vec<String> = rows.iter().filter_map(|r| r.external_id.clone()).collect();
        let emails: Vec<String> = rows
            .iter()
            .filter_map(|r| r.email.as_ref().map(Email::normalized))
            .collect();
        let mut known = Known::default();
        for u in self
            .store()
            .users_by_keys(org, &external_ids, &emails)
            .await?
        {
            known.remember(u);
        }
        known.taken_usernames = self
            .store()
            .taken_usernames(&emails)
            .await?
            .into_iter()
            .collect();

        let mut pending: Vec<Planned> = Vec::with_capacity(rows.len());
        let mut ids = IdPool { buf: Vec::new() };
        for row in rows {
            let line = row.line;
            match self.plan_row(p, org, row, &mut known, &mut ids).await {
                Ok(Some(planned)) => pending.push(planned),
                Ok(None) => {}
                Err(error) => outcome.errors.push(RowError { line, error }),
            }
        }
        self.flush(pending, outcome).await
    }

    async fn plan_row(
        &self,
        p: &Principal,
        org: OrgId,
        row: ImportRow,
        known: &mut Known,
        ids: &mut IdPool,
    ) -> Result<Option<Planned>> {
        let now = self.now();
        let by_external = row
            .external_id
            .as_ref()
            .and_then(|x| known.by_external.get(x).copied());
        let by_email = row
            .email
            .as_ref()
            .and_then(|e| known.by_email.get(&e.normalized()).copied());
        if let (Some(a), Some(b)) = (by_external, by_email)
            && a != b
        {
            return Err(Error::AlreadyExists {
                what: Conflict::UserEmail,
                existing: Some(b.0),
            });
        }
        let (before, created) = match by_external.or(by_email) {
            Some(id) => (known.users.get(&id).cloned().ok_or(Error::Conflict)?, false),
            None => {
                // The rule of a created user (`Services::create`).
                if !super::users::names_someone(
                    row.first_name.as_deref(),
                    row.email.is_some(),
                    row.phone.is_some(),
                ) {
                    return Err(Error::Invalid(vec![super::users::no_one_named()]));
                }
                if row.email.is_none()
                    && let Some(ph) = &row.phone
                    && let Some(existing) = self
                        .store()
                        .find_user(org, UserKey::PhoneWithoutEmail(ph.as_str()))
                        .await?
                {
                    return Err(Error::AlreadyExists {
                        what: Conflict::UserPhone,
                        existing: Some(existing.0),
                    });
                }
                let id = UserId(ids.next(self).await?);
                let mut u = User::new(id, org, now);
                if let Some(e) = &row.email
                    && known.taken_usernames.insert(e.as_str().to_lowercase())
                {
                    u.username = e.as_str().to_owned();
                }
                (u, true)
            }
        };
        let mut user = before.clone();
        if row.first_name.is_some() {
            user.first_name = row.first_name;
        }
        if row.last_name.is_some() {
            user.last_name = row.last_name;
        }
        if let Some(e) = row.email {
            if user.email.as_ref().map(Email::normalized) != Some(e.normalized()) {
                user.email_verified = false;
                // A pending change the user asked for is overtaken (its link no longer opens:
                // `open_email_change` wants this field to match the code).
                user.new_email_requested = None;
            }
            user.email = Some(e);
        }
        if let Some(ph) = row.phone {
            if user.phone.as_ref() != Some(&ph) {
                user.phone_verified = false;
            }
            user.phone = Some(ph);
        }
        if row.external_id.is_some() {
            user.external_id = row.external_id;
        }
        if row.description.is_some() {
            user.description = row.description;
        }
        if row.remarks.is_some() {
            user.remarks = row.remarks;
        }
        if let Some(su) = row.super_user {
            user.super_user = su;
        }
        let mut password_changed = false;
        if let Some(hash) = row.password_hash
            && user.password_hash.as_deref() != Some(hash.as_str())
        {
            user.password_hash = Some(hash);
            user.password_changed_at = Some(now);
            user.password_change_required = false;
            user.failed_password_attempts = 0;
            user.password_locked_until = None;
            if user.state == UserState::Initial {
                user.state = UserState::Active;
            }
            password_changed = true;
        }
        let change = if created {
            Change::InsertUser(user.clone())
        } else if user != before {
            user.sequence += 1;
            user.modified_at = now;
            Change::UpdateUser {
                user: user.clone(),
                expected_sequence: before.sequence,
            }
        } else {
            return Ok(None);
        };
        let audit = Change::Audit(AuditEvent {
            org_id: Some(org),
            subject_type: "user".to_owned(),
            subject_id: user.id.0,
            sequence: Some(user.sequence),
            event_type: if created {
                "user.imported"
            } else {
                "user.updated"
            }
            .to_owned(),
            actor: p.actor(),
            fields: vec!["import".to_owned()],
            created_at: now,
        });
        let super_user_changed =
            !created && (before.super_user != user.super_user || password_changed);
        let user_id = user.id;
        known.forget(&before);
        known.remember(user);
        let mut changes = vec![change, audit];
        if password_changed && !created {
            // As with any new password, the user's login sessions end (API tokens stay).
            changes.push(Change::DeleteSessions(user_id));
        }
        Ok(Some(Planned {
            line: row.line,
            created,
            changes,
            super_user_changed,
        }))
    }

    /// Commits planned rows, then forgets cached credentials if a row changed a `superUser`.
    async fn flush(&self, pending: Vec<Planned>, outcome: &mut ImportOutcome) -> Result<()> {
        let super_user_changed = pending.iter().any(|r| r.super_user_changed);
        let result = self.commit_planned(pending, outcome).await;
        if super_user_changed {
            // Like `update_user`: a changed `superUser` takes effect on the user's next request,
            // and the login sessions a new password ended stop working at once.
            self.auth().cache().clear();
        }
        result
    }

    /// Commits planned rows together; when that fails, row by row so one bad row does not sink
    /// the others.
    async fn commit_planned(
        &self,
        pending: Vec<Planned>,
        outcome: &mut ImportOutcome,
    ) -> Result<()> {
        if pending.is_empty() {
            return Ok(());
        }
        let all = ChangeSet {
            changes: pending
                .iter()
                .flat_map(|r| r.changes.iter().cloned())
                .collect(),
        };
        let count = |outcome: &mut ImportOutcome, r: &Planned| {
            if r.created {
                outcome.created += 1;
            } else if !r.changes.is_empty() {
                outcome.updated += 1;
            }
        };
        match self.commit(all).await {
            Ok(()) => {
                for r in &pending {
                    count(outcome, r);
                }
                Ok(())
            }
            Err(Error::AlreadyExists { .. } | Error::Conflict) => {
                for r in pending {
                    if r.changes.is_empty() {
                        continue;
                    }
                    match self
                        .store()
                        .commit(ChangeSet {
                            changes: r.changes.clone(),
                        })
                        .await
                    {
                        Ok(()) => count(outcome, &r),
                        Err(e @ (Error::AlreadyExists { .. } | Error::Conflict)) => {
                            let error = match e {
                                Error::Conflict => Error::FailedPrecondition {
                                    code: "concurrent_change",
                                    message: "The user was changed while importing".to_owned(),
                                },
                                e => e,
                            };
                            outcome.errors.push(RowError {
                                line: r.line,
                                error,
                            });
                        }
                        Err(e) => return Err(e),
                    }
                }
                Ok(())
            }
            Err(e) => Err(e),
        }
    }
}
