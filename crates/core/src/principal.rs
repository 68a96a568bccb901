//! Who is calling. Every credential acts as exactly one principal.

use crate::model::Actor;
use crate::types::*;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Role {
    /// The bootstrap key and keys like it: everything, everywhere.
    InstanceAdmin,
    /// A key bound to an organization but to no user.
    OrgAdmin { org: OrgId },
    /// A key or session of a user; `super_user` makes it an admin of its organization.
    User {
        id: UserId,
        org: OrgId,
        super_user: bool,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    /// The credential; `None` for usher itself (CLI, background jobs).
    pub key_id: Option<ApiKeyId>,
    pub role: Role,
    pub read_only: bool,
    pub expires_at: Option<Timestamp>,
}

impl Principal {
    /// usher acting on its own behalf (bootstrap, CLI, sweeps).
    pub fn system() -> Self {
        Principal {
            key_id: None,
            role: Role::InstanceAdmin,
            read_only: false,
            expires_at: None,
        }
    }

    pub fn actor(&self) -> Actor {
        match self.key_id {
            Some(id) => Actor::ApiKey(id),
            None => Actor::System,
        }
    }

    /// The organization the principal belongs to (none for an instance admin).
    pub fn org(&self) -> Option<OrgId> {
        match self.role {
            Role::InstanceAdmin => None,
            Role::OrgAdmin { org } | Role::User { org, .. } => Some(org),
        }
    }

    /// The user the principal acts as, if any.
    pub fn user(&self) -> Option<UserId> {
        match self.role {
            Role::User { id, .. } => Some(id),
            _ => None,
        }
    }

    pub fn is_instance_admin(&self) -> bool {
        self.role == Role::InstanceAdmin
    }

    /// May do everything inside `org`.
    pub fn is_admin_of(&self, org: OrgId) -> bool {
        match self.role {
            Role::InstanceAdmin => true,
            Role::OrgAdmin { org: o } => o == org,
            Role::User {
                org: o, super_user, ..
            } => super_user && o == org,
        }
    }

    /// Can see inside `org` at all (its own organization, or everything for instance admins).
    pub fn can_see_org(&self, org: OrgId) -> bool {
        match self.org() {
            None => true,
            Some(o) => o == org,
        }
    }
}
