//! API keys: long-lived credentials, stored only as a hash, shown once.

use super::Services;
use crate::error::{Entity, Error, Field, FieldError, Result};
use crate::model::*;
use crate::ports::*;
use crate::principal::Principal;
use crate::rights;
use crate::secrets::{hash_secret, new_secret};
use crate::types::*;

#[derive(Debug, Clone, PartialEq, Default)]
pub struct KeyDraft {
    pub name: String,
    /// Defaults to the caller's organization.
    pub org: Option<OrgId>,
    pub read_only: bool,
    pub expiration: Option<Timestamp>,
    /// The key acts as this user; else as an admin of the organization.
    pub user: Option<UserId>,
    /// An instance-admin key (only instance admins may make one).
    pub instance_admin: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub struct NewKey {
    pub key: ApiKey,
    /// Shown once; only its hash is stored.
    pub secret: String,
}

impl Services {
    pub async fn create_key(&self, p: &Principal, draft: KeyDraft) -> Result<NewKey> {
        self.create_key_with_secret(p, draft, new_secret()).await
    }

    /// Like [`Services::create_key`] with a given secret (the bootstrap token).
    pub async fn create_key_with_secret(
        &self,
        p: &Principal,
        draft: KeyDraft,
        secret: String,
    ) -> Result<NewKey> {
        let now = self.now();
        if draft.name.trim().is_empty() {
            return Err(Error::Invalid(vec![FieldError::required(Field::Name)]));
        }
        if let Some(exp) = draft.expiration
            && exp <= now
        {
            return Err(Error::Invalid(vec![FieldError::new(
                Field::Expiration,
                "in_the_past",
                "The expiration must be in the future",
            )]));
        }
        let org = if draft.instance_admin {
            if p.read_only || !p.is_instance_admin() {
                return Err(Error::PermissionDenied(
                    "only an instance admin may make instance-admin keys",
                ));
            }
            None
        } else {
            let org = super::org_or_callers(p, draft.org)?;
            rights::may_administer_org(p, org, Entity::Organization)?;
            self.store()
                .organization(org)
                .await?
                .ok_or(Error::NotFound(Entity::Organization))?;
            if let Some(uid) = draft.user {
                let user = self.store().user(uid).await?;
                if user.is_none_or(|u| u.org_id != org) {
                    return Err(Error::NotFound(Entity::User));
                }
            }
            Some(org)
        };
        let id = ApiKeyId(self.store().allocate_ids(IdKind::ApiKey, 1).await?[0]);
        let key = ApiKey {
            id,
            name: draft.name,
            org_id: org,
            user_id: if draft.instance_admin {
                None
            } else {
                draft.user
            },
            read_only: draft.read_only,
            instance_admin: draft.instance_admin,
            expires_at: draft.expiration,
            created_at: now,
            kind: KeyKind::ApiKey,
            revoked_at: None,
            last_used_at: None,
        };
        let mut cs = ChangeSet::new();
        cs.push(Change::InsertApiKey {
            key: key.clone(),
            secret_hash: hash_secret(&secret),
        });
        cs.push(Change::Audit(AuditEvent {
            org_id: org,
            subject_type: "api_key".to_owned(),
            subject_id: id.0,
            sequence: None,
            event_type: "api_key.created".to_owned(),
            actor: p.actor(),
            fields: vec!["api_key".to_owned()],
            created_at: now,
        }));
        self.commit(cs).await?;
        Ok(NewKey { key, secret })
    }

    /// Instance admins see every key; organization admins their organization's.
    pub async fn list_keys(&self, p: &Principal) -> Result<Vec<ApiKey>> {
        match p.org() {
            None => self.store().api_keys(None).await,
            Some(org) if p.is_admin_of(org) => self.store().api_keys(Some(org)).await,
            Some(_) => Err(Error::PermissionDenied(
                "only an organization admin may list API keys",
            )),
        }
    }

    pub async fn delete_key(&self, p: &Principal, id: ApiKeyId) -> Result<()> {
        let key = self
            .store()
            .api_key(id)
            .await?
            .ok_or(Error::NotFound(Entity::ApiKey))?;
        let visible = match (p.org(), key.org_id) {
            (None, _) => true,
            (Some(own), Some(org)) => own == org,
            (Some(_), None) => false,
        };
        if !visible {
            return Err(Error::NotFound(Entity::ApiKey));
        }
        match key.org_id {
            Some(org) => rights::may_administer_org(p, org, Entity::ApiKey)?,
            None if p.read_only => return Err(Error::PermissionDenied("read-only credential")),
            None => {}
        }
        let mut cs = ChangeSet::new();
        cs.push(Change::DeleteApiKey(id));
        cs.push(Change::Audit(AuditEvent {
            org_id: key.org_id,
            subject_type: "api_key".to_owned(),
            subject_id: id.0,
            sequence: None,
            event_type: "api_key.deleted".to_owned(),
            actor: p.actor(),
            fields: Vec::new(),
            created_at: self.now(),
        }));
        self.commit(cs).await?;
        self.auth().cache().clear();
        Ok(())
    }
}
