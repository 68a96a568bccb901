//! First start: the `default` organization and an instance-admin key.

use super::{KeyDraft, Services};
use crate::error::{Conflict, Error, Result};
use crate::model::DEFAULT_ORGANIZATION;
use crate::ports::IdKind;
use crate::principal::Principal;
use crate::types::OrgId;

/// The `default` organization's id.
const DEFAULT_ORGANIZATION_ID: OrgId = OrgId(1);

/// What the first start made.
#[derive(Debug, Clone, PartialEq)]
pub struct Bootstrapped {
    /// The `default` organization was created.
    pub created_default_org: bool,
    /// A new instance-admin secret to print once (none when the bootstrap token was used or a
    /// key already existed).
    pub new_admin_secret: Option<String>,
    /// The bootstrap token was turned into the instance-admin key.
    pub used_bootstrap_token: bool,
}

impl Services {
    /// Idempotent: on an empty database makes the `default` organization, and the instance-admin
    /// key from `bootstrap_token` or a new one.
    pub async fn bootstrap(&self, bootstrap_token: Option<&str>) -> Result<Bootstrapped> {
        let system = Principal::system();
        let mut out = Bootstrapped {
            created_default_org: self.ensure_default_organization().await?,
            new_admin_secret: None,
            used_bootstrap_token: false,
        };
        if !self.store().instance_admin_key_exists().await? {
            let draft = KeyDraft {
                name: "instance admin (bootstrap)".to_owned(),
                instance_admin: true,
                ..KeyDraft::default()
            };
            match bootstrap_token.filter(|t| !t.is_empty()) {
                Some(token) => {
                    match self
                        .create_key_with_secret(&system, draft, token.to_owned())
                        .await
                    {
                        Ok(_) => out.used_bootstrap_token = true,
                        // Another instance starting on the same empty database at the same
                        // moment made the key from the same token first.
                        Err(Error::AlreadyExists {
                            what: Conflict::ApiKeySecret,
                            ..
                        }) if self.store().instance_admin_key_exists().await? => {}
                        Err(e) => return Err(e),
                    }
                }
                None => {
                    let k = self.create_key(&system, draft).await?;
                    out.new_admin_secret = Some(k.secret);
                }
            }
        }
        Ok(out)
    }
}

impl Services {
    /// Makes the `default` organization when there is none; true when it did.
    ///
    /// Instances starting together on an empty database all find none. The `default`
    /// organization therefore always gets id 1: one insert wins and the others meet its primary
    /// key and use it (rather than each making a `default` of its own). The id is allocated too,
    /// so that the id sequence never hands out 1 again.
    pub async fn ensure_default_organization(&self) -> Result<bool> {
        if !self.store().organizations().await?.is_empty() {
            return Ok(false);
        }
        self.store().allocate_ids(IdKind::Organization, 1).await?;
        match self
            .insert_organization(
                &Principal::system(),
                DEFAULT_ORGANIZATION_ID,
                DEFAULT_ORGANIZATION.to_owned(),
            )
            .await
        {
            Ok(_) => Ok(true),
            Err(Error::AlreadyExists { .. })
                if self
                    .store()
                    .organization(DEFAULT_ORGANIZATION_ID)
                    .await?
                    .is_some() =>
            {
                Ok(false)
            }
            Err(e) => Err(e),
        }
    }
}
