//! The embedded store: SQLite through rusqlite.
//!
//! One write connection commits change sets: on the caller's thread when nothing else is
//! queued, else in groups on the writer thread (see `writer`); reads run on a small pool of read-only connections. WAL mode with
//! `synchronous=NORMAL` is durable across process crashes. Ids are allocated in memory, caught up
//! with the table maxima at every allocation so that rows written by `usher admin …` beside a
//! running server are not reused. One server process owns the file: run several instances on
//! PostgreSQL.

mod rows;
mod writer;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, LazyLock, Mutex, mpsc};

use async_trait::async_trait;
use rusqlite::{Connection, OpenFlags, OptionalExtension, params, params_from_iter};
use usher_core::error::{Error, Result};
use usher_core::model::*;
use usher_core::ports::*;
use usher_core::types::*;

use crate::OpenError;
use crate::sql::{self, Dialect, Param};
use rows::map_err;

mod embedded {
    refinery::embed_migrations!("migrations/sqlite");
}

const PRAGMAS: &str = "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; \
    PRAGMA foreign_keys = ON; PRAGMA busy_timeout = 5000;";

/// On the write connection only: no automatic checkpoints (the checkpoint thread runs them), a
/// WAL file trimmed back to 300 MiB after it restarts, a page cache of up to 32 MiB (filled
/// only as pages are used) so that a bulk import's index pages stay in memory between batches,
/// and statement journals in memory. Every change set runs in a savepoint (see `writer.rs`), so
/// each page it touches is first saved to the statement journal; in a temporary file that was a
/// file created, written and deleted per group commit — half of a bulk import's time was the
/// kernel's, writing and evicting those files. In memory the journal holds at most the pages of
/// one transaction.
const WRITER_PRAGMAS: &str = "PRAGMA wal_autocheckpoint = 0; PRAGMA journal_size_limit = 314572800; \
    PRAGMA cache_size = -32768; PRAGMA temp_store = MEMORY;";

/// The users of organization `?1` with one of the external ids in the JSON array `?2` or one of
/// the (lower-case) email addresses in `?3`: two index look-ups joined by UNION. Written as one
/// `OR`, SQLite's planner (which has no statistics here) scanned the organization's users through
/// `users_org_created_at_idx` for every import batch, so a bulk import grew quadratic in the
/// table's size.
static USERS_BY_KEYS: LazyLock<String> = LazyLock::new(|| {
    format!(
        "SELECT {c} FROM users WHERE organization_id = ?1 \
         AND external_id IN (SELECT value FROM json_each(?2)) \
         UNION SELECT {c} FROM users WHERE organization_id = ?1 \
         AND email_lower IN (SELECT value FROM json_each(?3)) ORDER BY id",
        c = sql::USER_COLUMNS
    )
});

/// Copies committed pages from the WAL into the database after commits, off the writer's path.
///
/// SQLite's own automatic checkpoint runs inside the commit that crosses 1,000 WAL pages, so that
/// writer (and every request waiting on it) waits for the copy and its fsync. Here a `PASSIVE`
/// checkpoint runs at most every 50 ms while commits happen, beside the writer. A passive
/// checkpoint cannot make the WAL start over while the writer keeps committing; the writer does
/// that itself when the WAL has grown long (see `writer::WAL_RESTART_FRAMES`), with little left
/// to copy thanks to this thread. Once no commit has come for [`QUIET`], a `TRUNCATE` checkpoint
/// empties the WAL file, so that the disk space a burst of writes took is given back. Ends,
/// after a last checkpoint, when the writer has stopped.
fn checkpointer(conn: Connection, commits: mpsc::Receiver<()>) {
    let checkpoint = |mode: &str| {
        conn.query_row(&format!("PRAGMA wal_checkpoint({mode})"), [], |r| {
            r.get::<_, i64>(0)
        })
    };
    let mut truncated = true;
    loop {
        let signal = if truncated {
            commits
                .recv()
                .map_err(|_| mpsc::RecvTimeoutError::Disconnected)
        } else {
            commits.recv_timeout(QUIET)
        };
        match signal {
            Ok(()) => {
                std::thread::sleep(std::time::Duration::from_millis(50));
                while commits.try_recv().is_ok() {}
                if let Err(e) = checkpoint("PASSIVE") {
                    tracing::warn!(error = %e, "sqlite checkpoint failed");
                }
                truncated = false;
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {
                // Busy (a reader or the writer came back) is not an error: the next quiet
                // moment tries again.
                match checkpoint("TRUNCATE") {
                    Ok(0) => truncated = true,
                    Ok(_) => {}
                    Err(e) => tracing::warn!(error = %e, "sqlite truncate checkpoint failed"),
                }
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => break,
        }
    }
    let _ = checkpoint("PASSIVE");
}

/// Time without commits after which the checkpoint thread empties the WAL file.
const QUIET: std::time::Duration = std::time::Duration::from_secs(1);

/// Replaces SQLite's built-in `lower()`, which folds ASCII letters only, with Rust's Unicode
/// `to_lowercase` on every connection of the store. The queries and the unique index on
/// `lower(username)` compare it with values the core lower-cases in Rust (usernames, searches,
/// `email_lower`), so `Ärger` and `ärger` must be the same name, as they are on PostgreSQL.
///
/// The index `users_username_key` is computed with this function, so write to the database only
/// through usher (a plain `sqlite3` shell would compute a different key for non-ASCII names).
fn register_functions(conn: &Connection) -> rusqlite::Result<()> {
    use rusqlite::functions::FunctionFlags;
    use rusqlite::types::{Value, ValueRef};
    conn.create_scalar_function(
        "lower",
        1,
        FunctionFlags::SQLITE_UTF8
            | FunctionFlags::SQLITE_DETERMINISTIC
            | FunctionFlags::SQLITE_INNOCUOUS,
        |ctx| {
            Ok(match ctx.get_raw(0) {
                ValueRef::Null => Value::Null,
                ValueRef::Integer(i) => Value::Text(i.to_string()),
                ValueRef::Real(f) => Value::Text(f.to_string()),
                ValueRef::Text(t) | ValueRef::Blob(t) => {
                    Value::Text(String::from_utf8_lossy(t).to_lowercase())
                }
            })
        },
    )
}

/// Idle read connections kept open.
const MAX_IDLE_READERS: usize = 16;

struct Readers {
    path: PathBuf,
    idle: Mutex<Vec<Connection>>,
}

impl Readers {
    fn open(&self) -> rusqlite::Result<Connection> {
        let conn = Connection::open_with_flags(
            &self.path,
            OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )?;
        register_functions(&conn)?;
        conn.execute_batch("PRAGMA busy_timeout = 5000; PRAGMA query_only = ON;")?;
        Ok(conn)
    }

    /// Runs `f` on an idle read connection (opening one if none is idle).
    fn with<T>(&self, f: impl FnOnce(&Connection) -> rusqlite::Result<T>) -> Result<T> {
        let idle = self.idle.lock().unwrap_or_else(|p| p.into_inner()).pop();
        let conn = match idle {
            Some(c) => c,
            None => self.open().map_err(map_err)?,
        };
        let r = f(&conn);
        let mut idle = self.idle.lock().unwrap_or_else(|p| p.into_inner());
        if idle.len() < MAX_IDLE_READERS {
            idle.push(conn);
        }
        r.map_err(map_err)
    }
}

pub struct SqliteStore {
    writer: writer::Handle,
    readers: Arc<Readers>,
    /// Lists and counts running at once (see [`SqliteStore::heavy`]).
    heavy_permits: Arc<tokio::sync::Semaphore>,
    next_ids: [AtomicI64; 4],
}

fn id_slot(kind: IdKind) -> usize {
    match kind {
        IdKind::Organization => 0,
        IdKind::User => 1,
        IdKind::UserGroup => 2,
        IdKind::ApiKey => 3,
    }
}

fn bind(p: &Param) -> rusqlite::types::Value {
    match p {
        Param::I64(i) => rusqlite::types::Value::Integer(*i),
        Param::Text(s) => rusqlite::types::Value::Text(s.clone()),
        Param::Bool(b) => rusqlite::types::Value::Integer(i64::from(*b)),
        // SQLite has no arrays; `in_list` never binds one here, and JSON is what it would read.
        Param::I64s(_) | Param::Texts(_) => rusqlite::types::Value::Text(p.to_json().to_string()),
    }
}

impl SqliteStore {
    /// Opens (creating file and directory if needed) and, if `migrate`, brings the schema up to date.
    pub fn open(path: &str, migrate: bool) -> Result<Self, OpenError> {
        let path = PathBuf::from(path);
        if let Some(dir) = path.parent()
            && !dir.as_os_str().is_empty()
        {
            std::fs::create_dir_all(dir).map_err(|source| OpenError::Directory {
                path: path.display().to_string(),
                source,
            })?;
        }
        let sqlite_err = |source| OpenError::Sqlite {
            path: path.display().to_string(),
            source,
        };
        let mut conn = Connection::open(&path).map_err(sqlite_err)?;
        register_functions(&conn).map_err(sqlite_err)?;
        conn.execute_batch(PRAGMAS).map_err(sqlite_err)?;
        if migrate {
            Self::migrate_conn(&mut conn)?;
        }
        let next_ids = Self::id_maxima(&conn).map_err(sqlite_err)?;
        // Checkpoints run on their own thread and connection, so a commit never waits for one.
        conn.execute_batch(WRITER_PRAGMAS).map_err(sqlite_err)?;
        conn.set_prepared_statement_cache_capacity(256);
        let checkpoints = Connection::open(&path).map_err(sqlite_err)?;
        checkpoints.execute_batch(PRAGMAS).map_err(sqlite_err)?;
        let (committed, commits) = mpsc::sync_channel(1);
        std::thread::Builder::new()
            .name("usher-sqlite-checkpoint".to_owned())
            .spawn(move || checkpointer(checkpoints, commits))
            .map_err(|e| {
                OpenError::Migration(format!("cannot start the checkpoint thread: {e}"))
            })?;
        let shared = writer::Shared::new(conn, committed);
        let (messages, received) = mpsc::channel();
        let thread_shared = Arc::clone(&shared);
        std::thread::Builder::new()
            .name("usher-sqlite-writer".to_owned())
            .spawn(move || writer::run(thread_shared, received))
            .map_err(|e| OpenError::Migration(format!("cannot start the writer thread: {e}")))?;
        Ok(Self {
            writer: writer::Handle { shared, messages },
            readers: Arc::new(Readers {
                path,
                idle: Mutex::new(Vec::new()),
            }),
            heavy_permits: Arc::new(tokio::sync::Semaphore::new(
                std::thread::available_parallelism().map_or(2, |n| n.get()) * 2,
            )),
            next_ids,
        })
    }

    /// Applies pending migrations to the database at `path`.
    pub fn migrate(path: &Path) -> Result<(), OpenError> {
        let sqlite_err = |source| OpenError::Sqlite {
            path: path.display().to_string(),
            source,
        };
        if let Some(dir) = path.parent()
            && !dir.as_os_str().is_empty()
        {
            std::fs::create_dir_all(dir).map_err(|source| OpenError::Directory {
                path: path.display().to_string(),
                source,
            })?;
        }
        let mut conn = Connection::open(path).map_err(sqlite_err)?;
        register_functions(&conn).map_err(sqlite_err)?;
        conn.execute_batch(PRAGMAS).map_err(sqlite_err)?;
        Self::migrate_conn(&mut conn)
    }

    fn migrate_conn(conn: &mut Connection) -> Result<(), OpenError> {
        embedded::migrations::runner()
            .run(conn)
            .map(|_| ())
            .map_err(|e| OpenError::Migration(e.to_string()))
    }

    fn id_maxima(conn: &Connection) -> rusqlite::Result<[AtomicI64; 4]> {
        let max = |table: &str| -> rusqlite::Result<i64> {
            conn.query_row(
                &format!("SELECT COALESCE(MAX(id), 0) FROM {table}"),
                [],
                |r| r.get(0),
            )
        };
        Ok([
            AtomicI64::new(max("organizations")?),
            AtomicI64::new(max("users")?),
            AtomicI64::new(max("user_groups")?),
            AtomicI64::new(max("api_keys")?),
        ])
    }

    /// Runs a read that may take a while (lists, counts) off the async threads.
    async fn heavy<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Connection) -> rusqlite::Result<T> + Send + 'static,
    ) -> Result<T> {
        // Waiting here costs nothing; running more at once than there are CPUs only adds
        // blocking threads, each with its own allocator heap and a cold connection.
        let permit = self
            .heavy_permits
            .clone()
            .acquire_owned()
            .await
            .map_err(Error::internal)?;
        let readers = self.readers.clone();
        tokio::task::spawn_blocking(move || {
            let _permit = permit;
            readers.with(f)
        })
        .await
        .map_err(Error::internal)?
    }

    /// The trigram-index phrase for `filter`'s search term when the index holds fewer than
    /// [`sql::SEARCH_INDEX_MAX`] users for it (then the index drives the query; otherwise the
    /// sort index is walked and each row tested, which finds a page of a common term sooner).
    fn selective_search(
        conn: &Connection,
        filter: &UserFilter,
    ) -> rusqlite::Result<Option<String>> {
        let Some(phrase) = sql::required_search(filter).and_then(sql::search_phrase) else {
            return Ok(None);
        };
        let n: i64 = conn
            .prepare_cached(sql::SEARCH_PROBE)?
            .query_row([&phrase], |r| r.get(0))?;
        Ok((n < sql::SEARCH_INDEX_MAX).then_some(phrase))
    }

    fn users_by_sql(conn: &Connection, s: &sql::Sql) -> rusqlite::Result<Vec<User>> {
        let mut st = conn.prepare_cached(&s.text)?;
        let rows = st.query_map(params_from_iter(s.params.iter().map(bind)), rows::user)?;
        rows.collect()
    }
}

#[async_trait]
impl Store for SqliteStore {
    fn backend(&self) -> &'static str {
        "sqlite"
    }

    async fn ping(&self) -> Result<()> {
        self.readers
            .with(|c| c.query_row("SELECT 1", [], |r| r.get::<_, i64>(0)))
            .map(|_| ())
    }

    async fn allocate_ids(&self, kind: IdKind, n: usize) -> Result<Vec<i64>> {
        // Catch up with rows another process wrote (`usher admin …` next to a running server);
        // reading the largest rowid is a single index step.
        let table = match kind {
            IdKind::Organization => "SELECT COALESCE(MAX(id), 0) FROM organizations",
            IdKind::User => "SELECT COALESCE(MAX(id), 0) FROM users",
            IdKind::UserGroup => "SELECT COALESCE(MAX(id), 0) FROM user_groups",
            IdKind::ApiKey => "SELECT COALESCE(MAX(id), 0) FROM api_keys",
        };
        let stored: i64 = self
            .readers
            .with(|c| c.prepare_cached(table)?.query_row([], |r| r.get(0)))?;
        let counter = &self.next_ids[id_slot(kind)];
        counter.fetch_max(stored, Ordering::SeqCst);
        let n = n as i64;
        let first = counter.fetch_add(n, Ordering::SeqCst) + 1;
        Ok((first..first + n).collect())
    }

    async fn commit(&self, changes: ChangeSet) -> Result<()> {
        if changes.is_empty() {
            return Ok(());
        }
        self.writer.commit(changes).await
    }

    async fn organization(&self, id: OrgId) -> Result<Option<Organization>> {
        self.readers.with(|c| {
            c.prepare_cached(
                "SELECT id, name, created_at, modified_at FROM organizations WHERE id = ?1",
            )?
            .query_row(params![id.0], rows::organization)
            .optional()
        })
    }

    async fn organizations(&self) -> Result<Vec<Organization>> {
        self.readers.with(|c| {
            let mut st = c.prepare_cached(
                "SELECT id, name, created_at, modified_at FROM organizations ORDER BY id",
            )?;
            let rows = st.query_map([], rows::organization)?;
            rows.collect()
        })
    }

    async fn user(&self, id: UserId) -> Result<Option<User>> {
        self.readers.with(|c| {
            c.prepare_cached(&format!(
                "SELECT {} FROM users WHERE id = ?1",
                sql::USER_COLUMNS
            ))?
            .query_row(params![id.0], rows::user)
            .optional()
        })
    }

    async fn user_with_invitation(&self, id: UserId) -> Result<Option<(User, Option<Invitation>)>> {
        self.readers.with(|c| {
            c.prepare_cached(&sql::USER_WITH_INVITATION)?
                .query_row(params![id.0], rows::user_with_invitation)
                .optional()
        })
    }

    async fn user_by_username(&self, username: &str) -> Result<Option<User>> {
        let username = username.to_lowercase();
        self.readers.with(move |c| {
            c.prepare_cached(&format!(
                "SELECT {} FROM users WHERE lower(username) = ?1",
                sql::USER_COLUMNS
            ))?
            .query_row(params![username], rows::user)
            .optional()
        })
    }

    async fn find_user(&self, org: OrgId, key: UserKey<'_>) -> Result<Option<UserId>> {
        let (q, v) = match key {
            UserKey::Email(e) => (
                "SELECT id FROM users WHERE organization_id = ?1 AND email_lower = ?2",
                e,
            ),
            UserKey::PhoneWithoutEmail(p) => (
                "SELECT id FROM users WHERE organization_id = ?1 AND phone = ?2 AND email_lower IS NULL",
                p,
            ),
            UserKey::ExternalId(x) => (
                "SELECT id FROM users WHERE organization_id = ?1 AND external_id = ?2 ORDER BY id LIMIT 1",
                x,
            ),
        };
        self.readers.with(|c| {
            c.prepare_cached(q)?
                .query_row(params![org.0, v], |r| r.get(0))
                .optional()
                .map(|o| o.map(UserId))
        })
    }

    async fn users(&self, q: &UserQuery) -> Result<Vec<User>> {
        let q = q.clone();
        self.heavy(move |c| {
            let phrase = Self::selective_search(c, &q.filter)?;
            let s = sql::users_query(Dialect::Sqlite, &q, phrase.as_deref());
            Self::users_by_sql(c, &s)
        })
        .await
    }

    async fn users_by_keys(
        &self,
        org: OrgId,
        external_ids: &[String],
        emails: &[String],
    ) -> Result<Vec<User>> {
        if external_ids.is_empty() && emails.is_empty() {
            return Ok(Vec::new());
        }
        let xs = serde_json::to_string(external_ids).map_err(Error::internal)?;
        let es = serde_json::to_string(emails).map_err(Error::internal)?;
        self.heavy(move |c| {
            let mut st = c.prepare_cached(&USERS_BY_KEYS)?;
            let rows = st.query_map(params![org.0, xs, es], rows::user)?;
            rows.collect()
        })
        .await
    }

    async fn taken_usernames(&self, names: &[String]) -> Result<Vec<String>> {
        if names.is_empty() {
            return Ok(Vec::new());
        }
        let lowered: Vec<String> = names.iter().map(|n| n.to_lowercase()).collect();
        let ns = serde_json::to_string(&lowered).map_err(Error::internal)?;
        self.heavy(move |c| {
            let mut st = c.prepare_cached(
                "SELECT lower(username) FROM users WHERE lower(username) IN (SELECT value FROM json_each(?1))",
            )?;
            let rows = st.query_map(params![ns], |r| r.get(0))?;
            rows.collect()
        })
        .await
    }

    async fn count_users(&self, filter: &UserFilter) -> Result<u64> {
        let filter = filter.clone();
        self.heavy(move |c| {
            let phrase = Self::selective_search(c, &filter)?;
            let s = sql::users_count(Dialect::Sqlite, &filter, phrase.as_deref());
            c.prepare_cached(&s.text)?
                .query_row(params_from_iter(s.params.iter().map(bind)), |r| {
                    r.get::<_, i64>(0)
                })
                .map(|n| n.max(0) as u64)
        })
        .await
    }

    async fn invitation(&self, user: UserId) -> Result<Option<Invitation>> {
        self.readers.with(|c| {
            c.prepare_cached(&format!(
                "SELECT {} FROM invitations WHERE user_id = ?1",
                rows::INVITATION_COLUMNS
            ))?
            .query_row(params![user.0], rows::invitation)
            .optional()
        })
    }

    async fn invitations(&self, users: &[UserId]) -> Result<Vec<Invitation>> {
        if users.is_empty() {
            return Ok(Vec::new());
        }
        // One JSON array, not a parameter per user: a group's members can be more users than a
        // statement takes parameters (32,766).
        let ids =
            serde_json::Value::from(users.iter().map(|u| u.0).collect::<Vec<i64>>()).to_string();
        self.heavy(move |c| {
            let mut st = c.prepare_cached(&format!(
                "SELECT {} FROM invitations WHERE user_id IN (SELECT value FROM json_each(?1))",
                rows::INVITATION_COLUMNS,
            ))?;
            let rows = st.query_map(params![ids], rows::invitation)?;
            rows.collect()
        })
        .await
    }

    async fn invitation_by_token(&self, token: &str) -> Result<Option<Invitation>> {
        self.readers.with(|c| {
            c.prepare_cached(&format!(
                "SELECT {} FROM invitations WHERE token = ?1",
                rows::INVITATION_COLUMNS
            ))?
            .query_row(params![token], rows::invitation)
            .optional()
        })
    }

    async fn group(&self, id: GroupId) -> Result<Option<UserGroup>> {
        self.readers.with(|c| {
            c.prepare_cached(
                "SELECT id, organization_id, name, description, remarks, external_id, created_at, \
                 modified_at FROM user_groups WHERE id = ?1",
            )?
            .query_row(params![id.0], rows::group)
            .optional()
        })
    }

    async fn groups(&self, q: &GroupQuery) -> Result<Vec<UserGroup>> {
        let s = sql::groups_query(Dialect::Sqlite, q);
        self.heavy(move |c| {
            let mut st = c.prepare_cached(&s.text)?;
            let rows = st.query_map(params_from_iter(s.params.iter().map(bind)), rows::group)?;
            rows.collect()
        })
        .await
    }

    async fn group_members(&self, groups: &[GroupId]) -> Result<Vec<(GroupId, GroupMember)>> {
        if groups.is_empty() {
            return Ok(Vec::new());
        }
        let ids: Vec<i64> = groups.iter().map(|g| g.0).collect();
        self.heavy(move |c| {
            let placeholders: Vec<String> = (1..=ids.len()).map(|i| format!("?{i}")).collect();
            let mut st = c.prepare(&format!(
                "SELECT m.group_id, m.group_admin, {} FROM user_group_members m \
                 JOIN users u ON u.id = m.user_id WHERE m.group_id IN ({}) ORDER BY m.group_id, u.id",
                sql::user_columns_aliased(),
                placeholders.join(", ")
            ))?;
            let rows = st.query_map(params_from_iter(ids.iter()), |r| {
                let group = GroupId(r.get(0)?);
                let admin: bool = r.get(1)?;
                let user = rows::user_offset(r, 2)?;
                Ok((group, GroupMember { user, group_admin: admin }))
            })?;
            rows.collect()
        })
        .await
    }

    async fn membership(&self, group: GroupId, user: UserId) -> Result<Option<bool>> {
        self.readers.with(|c| {
            c.prepare_cached(
                "SELECT group_admin FROM user_group_members WHERE group_id = ?1 AND user_id = ?2",
            )?
            .query_row(params![group.0, user.0], |r| r.get(0))
            .optional()
        })
    }

    async fn groups_administered_by(&self, user: UserId) -> Result<Vec<GroupId>> {
        self.readers.with(|c| {
            let mut st = c.prepare_cached(
                "SELECT group_id FROM user_group_members WHERE user_id = ?1 AND group_admin = 1 ORDER BY group_id",
            )?;
            let rows = st.query_map(params![user.0], |r| r.get(0).map(GroupId))?;
            rows.collect()
        })
    }

    async fn is_group_admin_of(&self, admin: UserId, member: UserId) -> Result<bool> {
        self.readers.with(|c| {
            c.prepare_cached(
                "SELECT EXISTS (SELECT 1 FROM user_group_members a JOIN user_group_members m \
                 ON m.group_id = a.group_id WHERE a.user_id = ?1 AND a.group_admin = 1 AND m.user_id = ?2)",
            )?
            .query_row(params![admin.0, member.0], |r| r.get(0))
        })
    }

    async fn api_key_by_secret_hash(&self, secret_hash: &str) -> Result<Option<ApiKey>> {
        self.readers.with(|c| {
            c.prepare_cached(&format!(
                "SELECT {} FROM api_keys WHERE secret_hash = ?1",
                rows::API_KEY_COLUMNS
            ))?
            .query_row(params![secret_hash], rows::api_key)
            .optional()
        })
    }

    async fn api_key(&self, id: ApiKeyId) -> Result<Option<ApiKey>> {
        self.readers.with(|c| {
            c.prepare_cached(&format!(
                "SELECT {} FROM api_keys WHERE id = ?1",
                rows::API_KEY_COLUMNS
            ))?
            .query_row(params![id.0], rows::api_key)
            .optional()
        })
    }

    async fn api_keys(&self, org: Option<OrgId>) -> Result<Vec<ApiKey>> {
        self.readers.with(|c| {
            let mut st = c.prepare_cached(&format!(
                "SELECT {} FROM api_keys WHERE kind = 'api_key' AND (?1 IS NULL OR organization_id = ?1) ORDER BY id",
                rows::API_KEY_COLUMNS
            ))?;
            let rows = st.query_map(params![org.map(|o| o.0)], rows::api_key)?;
            rows.collect()
        })
    }

    async fn user_api_keys(&self, users: &[UserId]) -> Result<Vec<ApiKey>> {
        if users.is_empty() {
            return Ok(Vec::new());
        }
        let ids = serde_json::to_string(&users.iter().map(|u| u.0).collect::<Vec<_>>())
            .map_err(Error::internal)?;
        self.readers.with(move |c| {
            let mut st = c.prepare_cached(&format!(
                "SELECT {} FROM api_keys WHERE kind = 'api_key' AND user_id IN (SELECT value FROM json_each(?1)) ORDER BY id",
                rows::API_KEY_COLUMNS
            ))?;
            let rows = st.query_map(params![ids], rows::api_key)?;
            rows.collect()
        })
    }

    async fn users_with_email(&self, email_lower: &str) -> Result<Vec<UserId>> {
        self.readers.with(|c| {
            let mut st =
                c.prepare_cached("SELECT id FROM users WHERE email_lower = ?1 ORDER BY id")?;
            let rows = st.query_map(params![email_lower], |r| r.get(0).map(UserId))?;
            rows.collect()
        })
    }

    async fn instance_admin_key_exists(&self) -> Result<bool> {
        self.readers.with(|c| {
            c.query_row(
                "SELECT EXISTS (SELECT 1 FROM api_keys WHERE instance_admin = 1)",
                [],
                |r| r.get(0),
            )
        })
    }

    async fn codes(&self, user: UserId) -> Result<Vec<OneTimeCode>> {
        self.readers.with(|c| {
            let mut st = c.prepare_cached(&format!(
                "SELECT {} FROM one_time_codes WHERE user_id = ?1 ORDER BY purpose",
                rows::CODE_COLUMNS
            ))?;
            let rows = st.query_map(params![user.0], rows::code)?;
            rows.collect()
        })
    }

    async fn users_due_for_removal(&self, now: Timestamp, limit: u32) -> Result<Vec<UserId>> {
        self.readers.with(|c| {
            let mut st = c.prepare_cached(
                "SELECT id FROM users WHERE auto_remove_date IS NOT NULL AND auto_remove_date <= ?1 \
                 ORDER BY auto_remove_date LIMIT ?2",
            )?;
            let rows = st.query_map(params![now.nanos(), limit], |r| r.get(0).map(UserId))?;
            rows.collect()
        })
    }

    async fn audit_events(&self, subject_type: &str, subject_id: i64) -> Result<Vec<AuditEvent>> {
        self.readers.with(|c| {
            let mut st = c.prepare_cached(
                "SELECT organization_id, subject_type, subject_id, sequence, event_type, actor, \
                 fields, created_at FROM audit_events WHERE subject_type = ?1 AND subject_id = ?2 ORDER BY id",
            )?;
            let rows = st.query_map(params![subject_type, subject_id], |r| {
                let fields: String = r.get(6)?;
                Ok(AuditEvent {
                    org_id: r.get::<_, Option<i64>>(0)?.map(OrgId),
                    subject_type: r.get(1)?,
                    subject_id: r.get(2)?,
                    sequence: r.get(3)?,
                    event_type: r.get(4)?,
                    actor: Actor::from_text(&r.get::<_, String>(5)?),
                    fields: serde_json::from_str(&fields).unwrap_or_default(),
                    created_at: rows::ts(r.get(7)?),
                })
            })?;
            rows.collect()
        })
    }

    async fn outbox(&self, user: Option<UserId>) -> Result<Vec<OutboxRecord>> {
        self.readers.with(|c| {
            let mut st = c.prepare_cached(&format!(
                "SELECT {} FROM outbox_messages WHERE ?1 IS NULL OR user_id = ?1 ORDER BY created_at, id",
                rows::OUTBOX_COLUMNS
            ))?;
            let rows = st.query_map(params![user.map(|u| u.0)], rows::outbox)?;
            rows.collect()
        })
    }

    async fn outbox_list(&self, q: &OutboxQuery) -> Result<Vec<OutboxRecord>> {
        let (status, org) = (q.status.clone(), q.org.map(|o| o.0));
        let (limit, offset) = (
            q.limit.min(i64::MAX as u64) as i64,
            q.offset.min(i64::MAX as u64) as i64,
        );
        self.heavy(move |c| {
            let mut st = c.prepare_cached(&format!(
                "SELECT {} FROM outbox_messages WHERE (?1 IS NULL OR status = ?1) \
                 AND (?2 IS NULL OR organization_id = ?2) ORDER BY created_at, id LIMIT ?3 OFFSET ?4",
                rows::OUTBOX_COLUMNS
            ))?;
            let rows = st.query_map(params![status, org, limit, offset], rows::outbox)?;
            rows.collect()
        })
        .await
    }

    async fn outbox_counts(&self) -> Result<Vec<(String, u64)>> {
        self.heavy(|c| {
            let mut st = c.prepare_cached(
                "SELECT status, COUNT(*) FROM outbox_messages GROUP BY status ORDER BY status",
            )?;
            let rows = st.query_map([], |r| Ok((r.get(0)?, r.get::<_, i64>(1)?.max(0) as u64)))?;
            rows.collect()
        })
        .await
    }

    async fn claim_outbox(
        &self,
        now: Timestamp,
        lease_until: Timestamp,
        limit: u32,
    ) -> Result<Vec<OutboxRecord>> {
        self.writer.claim(now, lease_until, limit).await
    }

    async fn code(&self, user: UserId, purpose: CodePurpose) -> Result<Option<OneTimeCode>> {
        self.readers.with(|c| {
            c.prepare_cached(&format!(
                "SELECT {} FROM one_time_codes WHERE user_id = ?1 AND purpose = ?2",
                rows::CODE_COLUMNS
            ))?
            .query_row(params![user.0, purpose.as_str()], rows::code)
            .optional()
        })
    }

    async fn code_by_hash(
        &self,
        purpose: CodePurpose,
        code_hash: &str,
    ) -> Result<Option<OneTimeCode>> {
        self.readers.with(|c| {
            c.prepare_cached(&format!(
                "SELECT {} FROM one_time_codes WHERE code_hash = ?1 AND purpose = ?2",
                rows::CODE_COLUMNS
            ))?
            .query_row(params![code_hash, purpose.as_str()], rows::code)
            .optional()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The bulk import's per-batch look-up must seek the two key indexes, whatever the table
    /// holds; a plan that walks the organization's users makes an import quadratic.
    #[test]
    fn users_by_keys_seeks_the_key_indexes() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("plan.db");
        drop(SqliteStore::open(path.to_str().unwrap(), true).unwrap());
        let conn = Connection::open(&path).unwrap();
        let mut st = conn
            .prepare(&format!("EXPLAIN QUERY PLAN {}", *USERS_BY_KEYS))
            .unwrap();
        let plan: Vec<String> = st
            .query_map(params![1, "[\"x\"]", "[\"a@b.c\"]"], |r| r.get(3))
            .unwrap()
            .collect::<rusqlite::Result<_>>()
            .unwrap();
        let plan = plan.join("\n");
        assert!(
            plan.contains("users_org_external_id_idx (organization_id=? AND external_id=?)"),
            "{plan}"
        );
        assert!(
            plan.contains("users_org_email_key (organization_id=? AND email_lower=?)"),
            "{plan}"
        );
        assert!(!plan.contains("users_org_created_at_idx"), "{plan}");
        assert!(!plan.contains("SCAN users"), "{plan}");
    }
}
