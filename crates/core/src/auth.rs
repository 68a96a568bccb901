//! Turning a presented secret into a [`Principal`], with a cache so that a warm credential costs
//! no database round trip.
//!
//! Revocation: every change on this instance that can alter a principal (a key deleted, a user
//! deleted, a user's super-user flag changed) clears the cache at once. Other instances sharing a
//! PostgreSQL database see such a change within [`AuthCache::TTL`].

use std::sync::Arc;
use std::time::Duration;

use moka::sync::Cache;

use crate::clock::SharedClock;
use crate::error::{Error, Result};
use crate::model::{ApiKey, KeyKind, UserState};
use crate::ports::Store;
use crate::ports::{Change, ChangeSet};
use crate::principal::{Principal, Role};
use crate::secrets::hash_secret;

#[derive(Clone)]
pub struct AuthCache {
    by_hash: Cache<String, Principal>,
}

impl AuthCache {
    /// How long another instance's revocation may take to be seen here.
    pub const TTL: Duration = Duration::from_secs(10);

    pub fn new() -> Self {
        Self {
            by_hash: Cache::builder()
                .max_capacity(100_000)
                .time_to_live(Self::TTL)
                .build(),
        }
    }

    /// Forget every cached principal (after a change that may alter one).
    pub fn clear(&self) {
        self.by_hash.invalidate_all();
    }
}

impl Default for AuthCache {
    fn default() -> Self {
        Self::new()
    }
}

/// Authenticates secrets against the store.
#[derive(Clone)]
pub struct Authenticator {
    store: Arc<dyn Store>,
    clock: SharedClock,
    cache: AuthCache,
}

impl Authenticator {
    pub fn new(store: Arc<dyn Store>, clock: SharedClock, cache: AuthCache) -> Self {
        Self {
            store,
            clock,
            cache,
        }
    }

    pub fn cache(&self) -> &AuthCache {
        &self.cache
    }

    /// The principal for a secret, or [`Error::Unauthenticated`].
    pub async fn authenticate(&self, secret: &str) -> Result<Principal> {
        if secret.is_empty() || secret.len() > 512 {
            return Err(Error::Unauthenticated);
        }
        let hash = hash_secret(secret);
        let principal = match self.cache.by_hash.get(&hash) {
            Some(p) => p,
            None => {
                let key = self
                    .store
                    .api_key_by_secret_hash(&hash)
                    .await?
                    .ok_or(Error::Unauthenticated)?;
                // Refresh tokens only buy a new pair; revoked keys are dead.
                if key.kind == KeyKind::Refresh || key.revoked_at.is_some() {
                    return Err(Error::Unauthenticated);
                }
                let p = self.principal_for(&key).await?;
                self.cache.by_hash.insert(hash, p.clone());
                self.touch(&key);
                p
            }
        };
        if let Some(exp) = principal.expires_at
            && exp <= self.clock.now()
        {
            return Err(Error::Unauthenticated);
        }
        Ok(principal)
    }

    /// Records, off the request's path, that a key was used (at most once per cache lifetime).
    fn touch(&self, key: &ApiKey) {
        let mut cs = ChangeSet::new();
        cs.push(Change::TouchApiKey {
            id: key.id,
            at: self.clock.now(),
        });
        let store = self.store.clone();
        tokio::spawn(async move {
            if let Err(e) = store.commit(cs).await {
                tracing::debug!(error = %e, "could not record a key's last use");
            }
        });
    }

    async fn principal_for(&self, key: &ApiKey) -> Result<Principal> {
        let role = if key.instance_admin {
            Role::InstanceAdmin
        } else {
            match (key.org_id, key.user_id) {
                (_, Some(user_id)) => {
                    let user = self
                        .store
                        .user(user_id)
                        .await?
                        .ok_or(Error::Unauthenticated)?;
                    // A deactivated or locked user's credentials do not work.
                    if matches!(user.state, UserState::Inactive | UserState::Locked) {
                        return Err(Error::Unauthenticated);
                    }
                    Role::User {
                        id: user.id,
                        org: user.org_id,
                        super_user: user.super_user,
                    }
                }
                (Some(org), None) => Role::OrgAdmin { org },
                (None, None) => return Err(Error::Unauthenticated),
            }
        };
        Ok(Principal {
            key_id: Some(key.id),
            role,
            read_only: key.read_only,
            expires_at: key.expires_at,
        })
    }
}
