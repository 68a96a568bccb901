//! The ports the core needs from the outside world. Stores implement [`Store`]; each backend is
//! free to use what is fastest for it, as long as [`Store::commit`] is atomic.

use async_trait::async_trait;

use crate::error::Result;
use crate::model::*;
use crate::types::*;

/// Which id space to allocate from. Ids are allocated before the change that uses them, so
/// every row of one change (user, audit event, outbox message) can name the new id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IdKind {
    Organization,
    User,
    UserGroup,
    ApiKey,
}

/// One write. A [`ChangeSet`] of them commits atomically or not at all.
#[derive(Debug, Clone)]
pub enum Change {
    InsertOrganization(Organization),
    InsertUser(User),
    /// Writes the whole row; fails with [`crate::Error::Conflict`] unless the stored sequence is
    /// still `expected_sequence` (optimistic concurrency).
    UpdateUser {
        user: User,
        expected_sequence: i64,
    },
    /// Removes the user with its memberships, invitation, codes and credentials.
    DeleteUser(UserId),
    /// Inserts or replaces the user's invitation.
    PutInvitation(Invitation),
    DeleteInvitation(UserId),
    InsertGroup(UserGroup),
    UpdateGroup(UserGroup),
    DeleteGroup(GroupId),
    PutMember {
        group: GroupId,
        user: UserId,
        group_admin: bool,
    },
    RemoveMember {
        group: GroupId,
        user: UserId,
    },
    InsertApiKey {
        key: ApiKey,
        secret_hash: String,
    },
    DeleteApiKey(ApiKeyId),
    RevokeApiKey {
        id: ApiKeyId,
        at: Timestamp,
    },
    /// Records that a key authenticated a call.
    TouchApiKey {
        id: ApiKeyId,
        at: Timestamp,
    },
    /// Ends every login session (access and refresh tokens) of the user.
    DeleteSessions(UserId),
    /// Replaces any earlier code of the same user and purpose.
    PutCode(OneTimeCode),
    /// The outcome of a password check: the failure counter, the lockout, and (after a right
    /// password in an old format) the argon2id re-hash. Not a change of the user: no sequence.
    PasswordCheck {
        user: UserId,
        failed_attempts: i32,
        locked_until: Option<Timestamp>,
        rehash: Option<String>,
    },
    /// One more wrong attempt at a code.
    CodeAttempt {
        user: UserId,
        purpose: CodePurpose,
    },
    /// A code was used (or given up).
    DeleteCode {
        user: UserId,
        purpose: CodePurpose,
    },
    /// Delivered.
    OutboxSent {
        id: String,
        at: Timestamp,
    },
    /// Not delivered this time; try again at `next_attempt_at`.
    OutboxRetry {
        id: String,
        next_attempt_at: Timestamp,
        error: String,
    },
    /// Given up after the last attempt.
    OutboxFailed {
        id: String,
        error: String,
    },
    /// Not sent because it no longer applies (its user was deleted).
    OutboxCancelled {
        id: String,
        reason: String,
    },
    Audit(AuditEvent),
    Outbox(OutboxMessage),
}

#[derive(Debug, Clone, Default)]
pub struct ChangeSet {
    pub changes: Vec<Change>,
}

impl ChangeSet {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn push(&mut self, c: Change) -> &mut Self {
        self.changes.push(c);
        self
    }

    pub fn is_empty(&self) -> bool {
        self.changes.is_empty()
    }
}

/// A user looked up by a unique key within an organization.
#[derive(Debug, Clone, Copy)]
pub enum UserKey<'a> {
    /// Lower-cased address.
    Email(&'a str),
    /// E.164; only users without an email address match (the uniqueness rule of Bold).
    PhoneWithoutEmail(&'a str),
    ExternalId(&'a str),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TextField {
    Username,
    FirstName,
    LastName,
    NickName,
    DisplayName,
    Email,
    Phone,
    ExternalId,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TextOp {
    Equals,
    EqualsIgnoreCase,
    StartsWith,
    StartsWithIgnoreCase,
    Contains,
    ContainsIgnoreCase,
    EndsWith,
    EndsWithIgnoreCase,
}

/// A filter tree over users, shared by every dialect's list call.
#[derive(Debug, Clone, PartialEq)]
pub enum UserFilter {
    All,
    None,
    And(Vec<UserFilter>),
    Or(Vec<UserFilter>),
    Not(Box<UserFilter>),
    Org(OrgId),
    Id(UserId),
    Ids(Vec<UserId>),
    /// Member of this group.
    InGroup(GroupId),
    /// Member of a group that this user administers (or the user itself).
    VisibleToGroupAdmin(UserId),
    Text {
        field: TextField,
        op: TextOp,
        value: String,
    },
    /// Case-insensitive substring of first name, last name, email or phone.
    Search(String),
    /// Email address among these (compared case-insensitively).
    Emails(Vec<String>),
    State(UserState),
    SuperUser(bool),
    /// The user has this role (Orgo roles; `ROLE_ADMIN_TENANT` is derived from super user).
    Role(String),
}

impl UserFilter {
    pub fn and(self, other: UserFilter) -> UserFilter {
        match (self, other) {
            (UserFilter::All, o) | (o, UserFilter::All) => o,
            (UserFilter::And(mut a), o) => {
                a.push(o);
                UserFilter::And(a)
            }
            (s, o) => UserFilter::And(vec![s, o]),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UserSort {
    Id,
    Username,
    FirstName,
    LastName,
    NickName,
    DisplayName,
    Email,
    State,
    CreatedAt,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Direction {
    #[default]
    Asc,
    Desc,
}

#[derive(Debug, Clone, PartialEq)]
pub struct UserQuery {
    pub filter: UserFilter,
    pub sort: UserSort,
    pub direction: Direction,
    /// Further sort keys, applied in order among users equal on `sort` (Orgo's several
    /// `order[…]` parameters). Ties left after all of them break by id.
    pub then_by: Vec<(UserSort, Direction)>,
    pub offset: u64,
    pub limit: u64,
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct GroupQuery {
    pub org: Option<OrgId>,
    /// Only groups this user belongs to (any role).
    pub member: Option<UserId>,
    /// Case-insensitive substring of the name or description.
    pub search: Option<String>,
    pub direction: Direction,
    pub offset: u64,
    pub limit: u64,
}

/// An outbox row with its delivery state.
#[derive(Debug, Clone, PartialEq)]
pub struct OutboxRecord {
    pub message: OutboxMessage,
    /// `pending`, `sent`, `failed`.
    pub status: String,
    /// Delivery attempts started (claims).
    pub attempts: i32,
    /// When it is due (or, while claimed, when the claim lapses).
    pub next_attempt_at: Timestamp,
    pub last_error: Option<String>,
    pub sent_at: Option<Timestamp>,
}

/// Which outbox rows to list.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct OutboxQuery {
    pub status: Option<String>,
    pub org: Option<OrgId>,
    pub offset: u64,
    pub limit: u64,
}

#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// `sqlite` or `postgres`.
    fn backend(&self) -> &'static str;

    /// The database answers.
    async fn ping(&self) -> Result<()>;

    async fn allocate_ids(&self, kind: IdKind, n: usize) -> Result<Vec<i64>>;

    /// Applies every change atomically, in order.
    async fn commit(&self, changes: ChangeSet) -> Result<()>;

    async fn organization(&self, id: OrgId) -> Result<Option<Organization>>;
    async fn organizations(&self) -> Result<Vec<Organization>>;

    async fn user(&self, id: UserId) -> Result<Option<User>>;
    /// A user with its invitation, read together (one query where the store can).
    async fn user_with_invitation(&self, id: UserId) -> Result<Option<(User, Option<Invitation>)>> {
        let Some(user) = self.user(id).await? else {
            return Ok(None);
        };
        let invitation = self.invitation(id).await?;
        Ok(Some((user, invitation)))
    }
    async fn user_by_username(&self, username: &str) -> Result<Option<User>>;
    async fn find_user(&self, org: OrgId, key: UserKey<'_>) -> Result<Option<UserId>>;
    async fn users(&self, q: &UserQuery) -> Result<Vec<User>>;
    /// Users of `org` with one of these external ids or (lower-cased) email addresses.
    async fn users_by_keys(
        &self,
        org: OrgId,
        external_ids: &[String],
        emails: &[String],
    ) -> Result<Vec<User>>;
    /// The lower-cased forms of those of `names` that are some user's username.
    async fn taken_usernames(&self, names: &[String]) -> Result<Vec<String>>;
    async fn count_users(&self, filter: &UserFilter) -> Result<u64>;

    async fn invitation(&self, user: UserId) -> Result<Option<Invitation>>;
    async fn invitations(&self, users: &[UserId]) -> Result<Vec<Invitation>>;
    async fn invitation_by_token(&self, token: &str) -> Result<Option<Invitation>>;

    async fn group(&self, id: GroupId) -> Result<Option<UserGroup>>;
    async fn groups(&self, q: &GroupQuery) -> Result<Vec<UserGroup>>;
    /// The members of these groups, with their per-member admin flag.
    async fn group_members(&self, groups: &[GroupId]) -> Result<Vec<(GroupId, GroupMember)>>;
    /// `Some(group_admin)` when the user is in the group.
    async fn membership(&self, group: GroupId, user: UserId) -> Result<Option<bool>>;
    async fn groups_administered_by(&self, user: UserId) -> Result<Vec<GroupId>>;
    /// Is `member` in a group that `admin` administers?
    async fn is_group_admin_of(&self, admin: UserId, member: UserId) -> Result<bool>;

    async fn api_key_by_secret_hash(&self, secret_hash: &str) -> Result<Option<ApiKey>>;
    async fn api_key(&self, id: ApiKeyId) -> Result<Option<ApiKey>>;
    /// Long-lived API keys (not login sessions), of one organization or all.
    async fn api_keys(&self, org: Option<OrgId>) -> Result<Vec<ApiKey>>;
    /// Long-lived API keys bound to these users.
    async fn user_api_keys(&self, users: &[UserId]) -> Result<Vec<ApiKey>>;
    /// Users of any organization with this (lower-cased) email address.
    async fn users_with_email(&self, email_lower: &str) -> Result<Vec<UserId>>;
    async fn instance_admin_key_exists(&self) -> Result<bool>;

    async fn codes(&self, user: UserId) -> Result<Vec<OneTimeCode>>;

    /// Users whose auto-removal date is at or before `now`.
    async fn users_due_for_removal(&self, now: Timestamp, limit: u32) -> Result<Vec<UserId>>;

    async fn audit_events(&self, subject_type: &str, subject_id: i64) -> Result<Vec<AuditEvent>>;
    async fn outbox(&self, user: Option<UserId>) -> Result<Vec<OutboxRecord>>;
    async fn outbox_list(&self, q: &OutboxQuery) -> Result<Vec<OutboxRecord>>;
    /// Rows per status.
    async fn outbox_counts(&self) -> Result<Vec<(String, u64)>>;
    /// Claims up to `limit` pending messages due at `now`: each gets one more attempt and is
    /// hidden from other claims until `lease_until` (so a worker that dies mid-send lets another
    /// retry it after the lease). Safe with several workers (on PostgreSQL `SKIP LOCKED`).
    async fn claim_outbox(
        &self,
        now: Timestamp,
        lease_until: Timestamp,
        limit: u32,
    ) -> Result<Vec<OutboxRecord>>;

    async fn code(&self, user: UserId, purpose: CodePurpose) -> Result<Option<OneTimeCode>>;
    async fn code_by_hash(
        &self,
        purpose: CodePurpose,
        code_hash: &str,
    ) -> Result<Option<OneTimeCode>>;
}
