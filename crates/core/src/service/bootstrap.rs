//! First start: the `default` organization and an instance-admin key.

use super::{KeyDraft, Services};
use crate::error::Result;
use crate::model::DEFAULT_ORGANIZATION;
use crate::principal::Principal;

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
                    self.create_key_with_secret(&system, draft, token.to_owned())
                        .await?;
                    out.used_bootstrap_token = true;
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
    pub async fn ensure_default_organization(&self) -> Result<bool> {
        if self.store().organizations().await?.is_empty() {
            self.create_organization(&Principal::system(), DEFAULT_ORGANIZATION.to_owned())
                .await?;
            return Ok(true);
        }
        Ok(false)
    }
}
