//! The services: every use case of usher, shared by all dialects. Each call checks rights,
//! keeps the invariants and commits its rows, audit events and outbox messages in one
//! transaction.

mod bootstrap;
mod groups;
mod human;
mod import;
mod invitations;
mod keys;
mod messages;
mod orgs;
mod sessions;
mod sweep;
mod users;
mod verification;

use std::sync::Arc;

pub use bootstrap::Bootstrapped;
pub use groups::{GroupDraft, GroupWithMembers, MemberChange};
pub use human::{
    ContactVerification, EmailInput, HumanUpdate, HumanUpdated, InviteDelivery, METADATA_ATTRIBUTE,
    NewHuman, PasswordInput, PasswordProof, PhoneInput, ProfileInput, ResetMedium, StateChange,
};
pub use import::{ImportOutcome, ImportRow, RowError};
pub use invitations::InvitationUpdate;
pub use keys::{KeyDraft, NewKey};
pub use sessions::{ACCESS_TTL_SECS, REFRESH_TTL_DAYS, TokenPair, UserTokenDraft};
pub use users::{
    CodeDelivery, Created, GroupJoin, InvitationRequest, NewUser, Patch, UserList, UserListQuery,
    UserPatch, UserView,
};
pub use verification::Verified;

/// Entry points for the fuzz targets in `fuzz/` (not an API).
#[doc(hidden)]
pub mod fuzzing {
    pub use super::users::merge_attributes;
}

use tokio::sync::Notify;

use crate::auth::{AuthCache, Authenticator};
use crate::clock::SharedClock;
use crate::password::Hasher;
use crate::ports::Store;
use crate::ports::{Change, ChangeSet};

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
    /// Password hashes computed at once (each takes a core for ~20 ms).
    pub hash_parallelism: usize,
}

impl Default for CoreConfig {
    fn default() -> Self {
        Self {
            public_url: "http://127.0.0.1:8080".to_owned(),
            invitation_ttl: chrono::Duration::hours(72),
            code_ttl: chrono::Duration::hours(1),
            email_change_ttl: chrono::Duration::hours(24),
            code_length: 6,
            hash_parallelism: std::thread::available_parallelism().map_or(2, |n| n.get()),
        }
    }
}

use crate::throttle::{Policy, Throttle, client_address};

struct Inner {
    store: Arc<dyn Store>,
    clock: SharedClock,
    auth: Authenticator,
    config: CoreConfig,
    hasher: Hasher,
    /// Poked after every commit that wrote outbox messages, so the delivery worker wakes at once.
    outbox_signal: Arc<Notify>,
    /// Failed logins of unknown names (so they lock out like known ones).
    unknown_logins: Throttle,
    /// Wrong codes (verification, reset, invitation) per account.
    code_failures: Throttle,
    /// Failed proofs of any kind per client address.
    address_failures: Throttle,
    /// Turns at changing a user, one at a time per user (see [`Services::user_turn`]).
    user_turns: Box<[tokio::sync::Mutex<()>]>,
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

/// What wrong codes are counted against: a user's codes of one kind (`email_verification`,
/// `phone_verification`, `password_reset`, `invitation`). Kinds are counted apart, so that wrong
/// guesses at one (say, anonymous ones on the verification page) do not lock the others.
#[derive(Debug, Clone, Copy)]
pub(crate) struct CodeAccount(pub crate::types::UserId, pub &'static str);

/// Wrong invitation codes (Zitadel's `VerifyInviteCode`) and wrong addresses typed to accept an
/// invitation with `requireEmailMatch` are counted together, apart from a user's other codes.
pub(crate) fn invite_account(id: crate::types::UserId) -> CodeAccount {
    CodeAccount(id, "invitation")
}

impl CodeAccount {
    fn key(self) -> String {
        format!("{}:{}", self.0.0, self.1)
    }
}

/// How often an optimistic read-modify-write is retried when a concurrent change wins. Within
/// one process changes to one user take turns ([`Services::user_turn`]), so only another
/// instance on the same database makes one retry.
const MAX_RETRIES: usize = 8;

/// Locks behind [`Services::user_turn`]; a user's id picks one, so two users share a lock only
/// when their ids are equal modulo this.
const USER_TURNS: usize = 1024;

impl Services {
    pub fn new(store: Arc<dyn Store>, clock: SharedClock, config: CoreConfig) -> Self {
        let auth = Authenticator::new(store.clone(), clock.clone(), AuthCache::new());
        let hasher = Hasher::new(config.hash_parallelism);
        Self {
            inner: Arc::new(Inner {
                store,
                clock,
                auth,
                config,
                hasher,
                outbox_signal: Arc::new(Notify::new()),
                unknown_logins: Throttle::new(Policy::LOGIN),
                code_failures: Throttle::new(Policy::CODES),
                address_failures: Throttle::new(Policy::ADDRESS),
                user_turns: (0..USER_TURNS)
                    .map(|_| tokio::sync::Mutex::new(()))
                    .collect(),
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

    pub fn hasher(&self) -> &Hasher {
        &self.inner.hasher
    }

    /// Notified after each commit that wrote outbox messages.
    pub fn outbox_signal(&self) -> Arc<Notify> {
        self.inner.outbox_signal.clone()
    }

    /// Waits for this process's turn at a read-modify-write of user `id`, and holds it while the
    /// guard lives. Without it, concurrent changes to one user raced: each read the same
    /// version, one committed, and the others started over, up to [`MAX_RETRIES`] times, after
    /// which the request failed (503) although nothing was wrong with it. The lock is fair, so
    /// changes to one user commit in the order they arrived. Never held while taking another.
    pub(crate) async fn user_turn(
        &self,
        id: crate::types::UserId,
    ) -> tokio::sync::MutexGuard<'_, ()> {
        let turns = &self.inner.user_turns;
        turns[(id.0.unsigned_abs() % turns.len() as u64) as usize]
            .lock()
            .await
    }

    /// Failed proofs counted per client address (for tests and metrics).
    pub fn address_failures(&self) -> &Throttle {
        &self.inner.address_failures
    }

    /// [`crate::Error::RateLimited`] while the request's client address, or `code_account` (a
    /// user and the kind of code) for codes, waits after too many failed proofs.
    pub(crate) fn guard_proof(&self, code_account: Option<CodeAccount>) -> crate::Result<()> {
        let now = self.now();
        if let Some(addr) = client_address() {
            self.inner.address_failures.check(&addr.to_string(), now)?;
        }
        if let Some(account) = code_account {
            self.inner.code_failures.check(&account.key(), now)?;
        }
        Ok(())
    }

    /// Counts a failed proof against the client address and, for codes, the account. The failing
    /// request keeps its own answer; the next one waits.
    pub(crate) fn proof_failed(&self, code_account: Option<CodeAccount>) {
        let now = self.now();
        if let Some(addr) = client_address() {
            let _ = self.inner.address_failures.fail(&addr.to_string(), now);
        }
        if let Some(account) = code_account {
            let _ = self.inner.code_failures.fail(&account.key(), now);
        }
    }

    /// A right code: the account's count starts again.
    pub(crate) fn code_succeeded(&self, account: CodeAccount) {
        self.inner.code_failures.reset(&account.key());
    }

    /// Commits a change set; wakes the delivery worker when it wrote messages.
    pub(crate) async fn commit(&self, cs: ChangeSet) -> crate::Result<()> {
        let has_messages = cs.changes.iter().any(|c| matches!(c, Change::Outbox(_)));
        self.inner.store.commit(cs).await?;
        if has_messages {
            self.inner.outbox_signal.notify_one();
        }
        Ok(())
    }
}
