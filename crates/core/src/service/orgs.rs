//! Organizations.

use super::Services;
use crate::error::{Entity, Error, Field, FieldError, Result};
use crate::model::*;
use crate::ports::*;
use crate::principal::Principal;
use crate::types::*;

impl Services {
    /// Instance admins only.
    pub async fn create_organization(&self, p: &Principal, name: String) -> Result<Organization> {
        if name.trim().is_empty() {
            return Err(Error::Invalid(vec![FieldError::required(Field::Name)]));
        }
        if p.read_only || !p.is_instance_admin() {
            return Err(Error::PermissionDenied(
                "only an instance admin may create organizations",
            ));
        }
        let id = OrgId(self.store().allocate_ids(IdKind::Organization, 1).await?[0]);
        self.insert_organization(p, id, name).await
    }

    /// Writes a new organization with its audit event (no checks).
    pub(crate) async fn insert_organization(
        &self,
        p: &Principal,
        id: OrgId,
        name: String,
    ) -> Result<Organization> {
        let now = self.now();
        let org = Organization {
            id,
            name,
            created_at: now,
            modified_at: now,
        };
        let mut cs = ChangeSet::new();
        cs.push(Change::InsertOrganization(org.clone()));
        cs.push(Change::Audit(AuditEvent {
            org_id: Some(id),
            subject_type: "organization".to_owned(),
            subject_id: id.0,
            sequence: None,
            event_type: "organization.created".to_owned(),
            actor: p.actor(),
            fields: vec!["name".to_owned()],
            created_at: now,
        }));
        self.commit(cs).await?;
        Ok(org)
    }

    /// An organization the caller belongs to (or any, for an instance admin).
    pub async fn get_organization(&self, p: &Principal, id: OrgId) -> Result<Organization> {
        if !p.can_see_org(id) {
            return Err(Error::NotFound(Entity::Organization));
        }
        self.store()
            .organization(id)
            .await?
            .ok_or(Error::NotFound(Entity::Organization))
    }

    /// The caller's own organization; not found for a principal with none.
    pub async fn own_organization(&self, p: &Principal) -> Result<Organization> {
        let id = p.org().ok_or(Error::NotFound(Entity::Organization))?;
        self.get_organization(p, id).await
    }

    pub async fn list_organizations(&self, p: &Principal) -> Result<Vec<Organization>> {
        match p.org() {
            None => self.store().organizations().await,
            Some(own) => Ok(self.store().organization(own).await?.into_iter().collect()),
        }
    }
}
