//! The services: every use case of usher, shared by all dialects. Each call checks rights,
//! keeps the invariants and commits its rows, audit events and outbox messages in one
//! transaction.

mod bootstrap;
mod groups;
mod import;
mod invitations;
mod keys;
mod messages;
mod orgs;
mod sweep;
mod users;

use std::sync::Arc;

pub use bootstrap::Bootstrapped;
pub use groups::{GroupDraft, GroupWithMembers, MemberChange};
pub use import::{ImportOutcome, ImportRow, RowError};
pub use invitations::InvitationUpdate;
pub use keys::{KeyDraft, NewKey};
pub use users::{
    Created, GroupJoin, InvitationRequest, NewUser, Patch, UserList, UserListQuery, UserPatch,
    UserView,
};

use crate::auth::{AuthCache, Authenticator};
use crate::clock::SharedClock;
use crate::ports::Store;

/// Settings the core needs.
#[derive(Debug, Clone)]
pub struct CoreConfig {
    /// Base of links in messages and invitation URLs, without a trailing slash.
    pub public_url: String,
    /// Invitation lifetime when none is given.
    pub invitation_ttl: chrono::Duration,
    /// Lifetime of verification and reset codes.
    pub code_ttl: chrono::Duration,
    /// Lifetime of email-change confirmation links.
    pub email_change_ttl: chrono::Duration,
    /// Characters in a one-time code.
    pub code_length: usize,
}

impl Default for CoreConfig {
    fn default() -> Self {
        Self {
            public_url: "http://127.0.0.1:8080".to_owned(),
            invitation_ttl: chrono::Duration::hours(72),
            code_ttl: chrono::Duration::hours(1),
            email_change_ttl: chrono::Duration::hours(24),
            code_length: 6,
        }
    }
}

struct Inner {
    store: Arc<dyn Store>,
    clock: SharedClock,
    auth: Authenticator,
    config: CoreConfig,
}

/// Every use case, cheap to clone.
#[derive(Clone)]
pub struct Services {
    inner: Arc<Inner>,
}

/// The organization a call names, else the caller's own; an instance admin has none and must name
/// one.
fn org_or_callers(
    p: &crate::principal::Principal,
    org: Option<crate::types::OrgId>,
) -> crate::Result<crate::types::OrgId> {
    org.or(p.org()).ok_or_else(|| {
        crate::Error::Invalid(vec![crate::FieldError::new(
            crate::Field::Organization,
            "required",
            "An organization is required for an instance-admin credential",
        )])
    })
}

/// How often an optimistic read-modify-write is retried when a concurrent change wins.
const MAX_RETRIES: usize = 8;

impl Services {
    pub fn new(store: Arc<dyn Store>, clock: SharedClock, config: CoreConfig) -> Self {
        let auth = Authenticator::new(store.clone(), clock.clone(), AuthCache::new());
        Self {
            inner: Arc::new(Inner {
                store,
                clock,
                auth,
                config,
            }),
        }
    }

    pub fn store(&self) -> &dyn Store {
        self.inner.store.as_ref()
    }

    pub fn clock(&self) -> &SharedClock {
        &self.inner.clock
    }

    pub fn auth(&self) -> &Authenticator {
        &self.inner.auth
    }

    pub fn config(&self) -> &CoreConfig {
        &self.inner.config
    }

    fn now(&self) -> crate::types::Timestamp {
        self.inner.clock.now()
    }
}
