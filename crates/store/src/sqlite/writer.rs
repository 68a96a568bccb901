//! The single writer: one connection writes, and queued change sets commit together (group
//! commit). A change set that fails is rolled back alone (`commit_batch`); every caller is
//! answered only after the transaction holding its change has committed. The writer also keeps
//! the search index (`index_upkeep`) and the WAL's length (`restart_wal_if_long`).
//!
//! The write connection sits behind a mutex ([`Shared`]). A change set that comes alone (no
//! other on its way, none queued, no group committed lately) and finds the connection free
//! commits right away on the caller's own thread ([`Handle::commit`]), as the bare `UPDATE`
//! server of the benchmark does; otherwise it is queued for the writer thread ([`run`]), which
//! commits whatever has queued in one transaction and also does the work left for idle moments
//! (re-indexing noted users, merging the search index, restarting the WAL).

use std::cell::Cell;
use std::ffi::c_int;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, Sender, SyncSender, TryRecvError};
use std::sync::{Arc, Mutex, MutexGuard, TryLockError};
use std::time::{Duration, Instant};

use std::sync::LazyLock;

use rusqlite::{Connection, OptionalExtension, params};
use tokio::sync::oneshot;
use usher_core::error::{Error, Result};
use usher_core::ports::{Change, ChangeSet, OutboxRecord};
use usher_core::types::Timestamp;

use super::rows::map_err;
use crate::sql::{INSERT_USER, UPDATE_USER};

pub(super) enum Job {
    Commit {
        changes: ChangeSet,
        reply: oneshot::Sender<Result<()>>,
    },
    /// See `Store::claim_outbox`.
    Claim {
        now: Timestamp,
        lease_until: Timestamp,
        limit: u32,
        reply: oneshot::Sender<Result<Vec<OutboxRecord>>>,
    },
}

/// What the writer thread receives.
pub(super) enum Msg {
    Job(Job),
    /// A commit on a caller's thread left work for an idle moment while the writer thread
    /// slept without a deadline (see [`Writer::wake_due`]).
    Wake,
}

/// Changes in one change set from which it commits in a transaction of its own.
const LARGE_CHANGE_SET: usize = 64;

impl Job {
    fn is_large(&self) -> bool {
        matches!(self, Job::Commit { changes, .. } if changes.changes.len() >= LARGE_CHANGE_SET)
    }
}

/// What a job produced, before its transaction committed.
enum Outcome {
    Committed(Result<()>),
    Claimed(Result<Vec<OutboxRecord>>),
}

impl Outcome {
    fn is_ok(&self) -> bool {
        match self {
            Outcome::Committed(r) => r.is_ok(),
            Outcome::Claimed(r) => r.is_ok(),
        }
    }
}

/// How long after the writer thread committed a group of change sets they all go to it (see
/// [`Handle::commit`]).
const GROUPS_RECENT: Duration = Duration::from_millis(20);

/// Change sets committed in one transaction, at most.
const MAX_BATCH: usize = 512;

/// WAL frames (pages of 4 KiB) after which the writer makes the WAL start over: 65,536 frames,
/// 270 MB with their headers, under the 300 MiB `journal_size_limit` trims the WAL file back to
/// (see `WRITER_PRAGMAS`), so that under load the file is reused as it is, never truncated and
/// regrown (the checkpoint thread empties it once writes pause).
///
/// SQLite starts the WAL over only in a write transaction that begins when every frame has been
/// copied into the database and no reader still reads an older snapshot. The checkpoint thread's
/// passive checkpoints can never give the first: by the time one ends, the writer has committed
/// again. Under a write load that never pauses the WAL therefore grew without end (1.7 GB after
/// 15 s of updates), every frame was written to a part of the file the file system had to
/// allocate and zero first (a third of the writer's time in the kernel's `memset`), and the
/// checkpoint thread's `RESTART` checkpoint, which had to catch the writer between two
/// transactions, waited out its busy timeout instead. So past this size the writer itself copies
/// what the checkpoint thread has not yet copied (a passive checkpoint on its own connection,
/// between two transactions, so nothing new arrives meanwhile); its next transaction starts the
/// WAL over, unless a reader still holds an older snapshot, in which case the next commit tries
/// again.
///
/// That checkpoint's fsync holds up every write queued behind it (25–35 ms here), so the WAL is
/// let grow this long: with 16,384 frames it happened four times a second under updates at
/// 32 connections and was the p99 of the updates (31 ms). It is always the writer thread's
/// work, never a caller's.
pub(super) const WAL_RESTART_FRAMES: c_int = 65_536;

thread_local! {
    /// Frames in the WAL after this thread's last commit on a connection with the hook
    /// (SQLite's WAL hook runs on the committing thread); -1 when no commit has reported since
    /// [`Writer::tracked`] reset it.
    static WAL_FRAMES: Cell<c_int> = const { Cell::new(-1) };
}

fn note_wal_frames(_: &rusqlite::hooks::Wal, frames: c_int) -> rusqlite::Result<()> {
    WAL_FRAMES.set(frames);
    Ok(())
}

/// The write connection and what the writer keeps track of beside it.
pub(super) struct Writer {
    conn: Connection,
    /// Wakes the checkpoint thread after commits.
    committed: SyncSender<()>,
    /// Whether the search index has segments to merge.
    merge_due: bool,
    /// Since when users noted in `users_search_dirty` have waited to be re-indexed.
    pending_since: Option<Instant>,
    /// Frames in the WAL after the last commit.
    wal_frames: c_int,
    /// The writer thread waits for a message without a deadline.
    asleep: bool,
}

/// What the store and the writer thread share.
pub(super) struct Shared {
    writer: Mutex<Writer>,
    /// Messages sent to the writer thread that it has not taken yet.
    queued: AtomicUsize,
    /// Change sets between [`Handle::commit`] and their answer's arrival.
    in_flight: AtomicUsize,
    /// When the writer thread last committed a group of two or more jobs, in nanoseconds since
    /// `epoch`.
    last_group: AtomicU64,
    epoch: Instant,
    /// Change sets committed on their caller's thread.
    #[cfg(test)]
    inline_commits: AtomicUsize,
}

impl Shared {
    /// The writer on `conn`, after re-indexing the users noted but not re-indexed (written by
    /// another program without this writer): before the store takes its first change set, which
    /// may commit on its caller's thread.
    pub(super) fn new(conn: Connection, committed: SyncSender<()>) -> Arc<Self> {
        conn.wal_hook(Some(note_wal_frames));
        let mut writer = Writer {
            conn,
            committed,
            merge_due: true,
            pending_since: None,
            wal_frames: 0,
            asleep: false,
        };
        writer.tracked(|conn| alone(conn, "re-indexing noted users", reindex_search));
        Arc::new(Self {
            writer: Mutex::new(writer),
            queued: AtomicUsize::new(0),
            in_flight: AtomicUsize::new(0),
            last_group: AtomicU64::new(0),
            epoch: Instant::now(),
            #[cfg(test)]
            inline_commits: AtomicUsize::new(0),
        })
    }

    fn now_nanos(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_nanos()).unwrap_or(u64::MAX)
    }

    /// Notes that the writer thread is committing a group of two or more jobs now.
    fn note_group(&self) {
        self.last_group
            .store(self.now_nanos().max(1), Ordering::Relaxed);
    }

    /// Whether the writer thread committed a group of two or more jobs in the last
    /// [`GROUPS_RECENT`].
    fn grouping(&self) -> bool {
        let last = self.last_group.load(Ordering::Relaxed);
        last != 0 && self.now_nanos().saturating_sub(last) < GROUPS_RECENT.as_nanos() as u64
    }

    /// The writer, waiting for it. A caller that panicked while holding it may have left a
    /// transaction open: that is rolled back (nothing of it was acknowledged).
    fn lock(&self) -> MutexGuard<'_, Writer> {
        match self.writer.lock() {
            Ok(w) => w,
            Err(poisoned) => {
                self.writer.clear_poison();
                let w = poisoned.into_inner();
                if !w.conn.is_autocommit() {
                    let _ = w.conn.execute_batch("ROLLBACK");
                }
                w
            }
        }
    }
}

/// The store's side of the writer.
pub(super) struct Handle {
    pub(super) shared: Arc<Shared>,
    pub(super) messages: Sender<Msg>,
}

fn stopped() -> Error {
    Error::Unavailable("the database writer has stopped".to_owned())
}

impl Handle {
    fn send(&self, msg: Msg) -> Result<()> {
        self.shared.queued.fetch_add(1, Ordering::SeqCst);
        self.messages.send(msg).map_err(|_| {
            self.shared.queued.fetch_sub(1, Ordering::SeqCst);
            stopped()
        })
    }

    /// Commits `changes`: on this thread when it is the only change set on its way and the
    /// writer is free, else through the writer thread, with whatever else has queued.
    ///
    /// On this thread a commit skips two hand-offs between threads (to the writer thread and,
    /// with the answer, back), which at one client updating users one after another were as
    /// long as the commit itself. The caller's thread is a runtime thread, held for the
    /// commit's length as it is for a read. Large change sets (a bulk import's batches) always
    /// go to the writer thread, and so does every change set that starts while another is on
    /// its way (queued, committing, or its answer not yet arrived), or while the writer thread
    /// has lately been committing groups: under load change sets queue and commit in groups.
    /// Without the last rule, change sets arriving at 8 connections just after a group committed
    /// took the free writer for transactions of their own, and Bold updates at 8 connections
    /// fell by about a tenth in A/B runs.
    pub(super) async fn commit(&self, changes: ChangeSet) -> Result<()> {
        let (reply, answer) = oneshot::channel();
        let on_its_way = InFlight::enter(&self.shared);
        if let Some(job) = self.commit_here(Job::Commit { changes, reply }, on_its_way.alone) {
            self.send(Msg::Job(job))?;
        }
        answer.await.map_err(|_| stopped())?
    }

    /// Commits `job` on this thread if it is small, `alone`, nothing is queued and the writer is
    /// free; else gives it back.
    fn commit_here(&self, job: Job, alone: bool) -> Option<Job> {
        if !alone
            || job.is_large()
            || self.shared.queued.load(Ordering::SeqCst) > 0
            || self.shared.grouping()
        {
            return Some(job);
        }
        let mut w = match self.shared.writer.try_lock() {
            Ok(w) => w,
            Err(TryLockError::WouldBlock | TryLockError::Poisoned(_)) => return Some(job),
        };
        w.commit_jobs(vec![job]);
        let wake = w.wake_due();
        drop(w);
        #[cfg(test)]
        self.shared.inline_commits.fetch_add(1, Ordering::SeqCst);
        if wake {
            // The commit is done; a writer thread that has stopped changes nothing.
            let _ = self.send(Msg::Wake);
        }
        None
    }

    pub(super) async fn claim(
        &self,
        now: Timestamp,
        lease_until: Timestamp,
        limit: u32,
    ) -> Result<Vec<OutboxRecord>> {
        let (reply, answer) = oneshot::channel();
        self.send(Msg::Job(Job::Claim {
            now,
            lease_until,
            limit,
            reply,
        }))?;
        answer.await.map_err(|_| stopped())?
    }
}

/// A change set on its way, counted in [`Shared::in_flight`] until dropped (also when the
/// caller goes away before the answer).
struct InFlight<'a> {
    shared: &'a Shared,
    /// No other change set was on its way when this one started.
    alone: bool,
}

impl<'a> InFlight<'a> {
    fn enter(shared: &'a Shared) -> Self {
        let alone = shared.in_flight.fetch_add(1, Ordering::SeqCst) == 0;
        Self { shared, alone }
    }
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.shared.in_flight.fetch_sub(1, Ordering::SeqCst);
    }
}

/// What the writer thread does next when nothing is queued.
enum Idle {
    /// It did a step of idle work; look again.
    Worked,
    /// Wait for a message at most this long, then look again.
    Wait(Duration),
    /// Wait for a message.
    Sleep,
}

impl Writer {
    /// Runs `f`, which may commit, and records the WAL's length if it did.
    fn tracked<T>(&mut self, f: impl FnOnce(&mut Connection) -> T) -> T {
        WAL_FRAMES.set(-1);
        let r = f(&mut self.conn);
        let frames = WAL_FRAMES.replace(-1);
        if frames >= 0 {
            self.wal_frames = frames;
        }
        r
    }

    /// Commits the jobs (see [`commit_batch`]) and answers each.
    fn commit_jobs(&mut self, batch: Vec<Job>) {
        let (results, upkeep) = self.tracked(|conn| commit_batch(conn, &batch));
        match upkeep {
            Upkeep::Indexed => {
                self.merge_due = true;
                self.pending_since = None;
            }
            Upkeep::Pending => {
                self.pending_since.get_or_insert_with(Instant::now);
            }
            Upkeep::Clean => self.pending_since = None,
            Upkeep::RolledBack => {}
        }
        // Wake the checkpointer (a signal is already pending when this fails).
        let _ = self.committed.try_send(());
        for (job, result) in batch.into_iter().zip(results) {
            // The caller may have gone away (request cancelled); its change is committed anyway.
            match (job, result) {
                (Job::Commit { reply, .. }, Outcome::Committed(r)) => {
                    let _ = reply.send(r);
                }
                (Job::Claim { reply, .. }, Outcome::Claimed(r)) => {
                    let _ = reply.send(r);
                }
                (Job::Commit { reply, .. }, Outcome::Claimed(_)) => {
                    let _ = reply.send(Err(Error::internal(usher_core::error::Message(
                        "job mix-up".into(),
                    ))));
                }
                (Job::Claim { reply, .. }, Outcome::Committed(_)) => {
                    let _ = reply.send(Err(Error::internal(usher_core::error::Message(
                        "job mix-up".into(),
                    ))));
                }
            }
        }
    }

    /// Whether a commit on a caller's thread left work for an idle moment that the writer
    /// thread, asleep without a deadline, would not get to: then it has to be woken (once).
    fn wake_due(&mut self) -> bool {
        let due =
            self.pending_since.is_some() || self.merge_due || self.wal_frames >= WAL_RESTART_FRAMES;
        let wake = due && self.asleep;
        if wake {
            self.asleep = false;
        }
        wake
    }

    /// Copies the WAL into the database when it has grown past [`WAL_RESTART_FRAMES`], so that
    /// the next transaction starts it over; false when that failed.
    fn restart_wal_if_long(&mut self) -> bool {
        if self.wal_frames < WAL_RESTART_FRAMES {
            return true;
        }
        // Busy (the checkpoint thread holds the checkpoint lock) is not an error here: the
        // writer tries again after its next commit or a little later.
        match self
            .conn
            .query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |r| r.get::<_, i64>(0))
        {
            Ok(_) => {
                self.wal_frames = 0;
                true
            }
            Err(e) => {
                tracing::warn!(error = %e, "sqlite checkpoint before a WAL restart failed");
                false
            }
        }
    }

    /// One step of the work left for idle moments, or how long to wait for a message: re-index
    /// the noted users once they have waited [`PENDING_AGE`]; start the WAL over once it is
    /// long; merge the search index's segments a step at a time.
    ///
    /// The WAL comes before everything that waits: with one client updating users one after
    /// another, every change set commits on its caller's thread and some users are always noted,
    /// so a writer thread that only waited for them to age never got to the WAL, which grew
    /// without end.
    fn idle_step(&mut self) -> Idle {
        let waited = self.pending_since.map(|t| t.elapsed());
        if waited.is_some_and(|w| w >= PENDING_AGE) {
            if self.tracked(|conn| reindex_alone(conn)) {
                self.merge_due = true;
                self.pending_since = None;
            } else {
                self.pending_since = Some(Instant::now());
            }
            return Idle::Worked;
        }
        let wal_long = self.wal_frames >= WAL_RESTART_FRAMES;
        if wal_long && self.restart_wal_if_long() {
            return Idle::Worked;
        }
        if self.merge_due {
            self.merge_due = self.tracked(|conn| merge_search_alone(conn, IDLE_MERGE_PAGES));
            return Idle::Worked;
        }
        match waited {
            Some(w) => Idle::Wait(PENDING_AGE - w),
            // The checkpoint failed (busy): try again a little later.
            None if wal_long => Idle::Wait(PENDING_AGE),
            None => {
                self.asleep = true;
                Idle::Sleep
            }
        }
    }
}

/// The writer thread: commits what is queued, in groups, and does the idle work; ends when the
/// store is dropped, after re-indexing what is left noted.
pub(super) fn run(shared: Arc<Shared>, messages: Receiver<Msg>) {
    let take = |msg: Msg| -> Option<Job> {
        shared.queued.fetch_sub(1, Ordering::SeqCst);
        match msg {
            Msg::Job(job) => Some(job),
            Msg::Wake => None,
        }
    };
    let mut held: Option<Job> = None;
    'run: loop {
        // With nothing queued: the idle work, until a job arrives or nothing is left to do.
        let first = loop {
            if let Some(job) = held.take() {
                break job;
            }
            match messages.try_recv() {
                Ok(msg) => {
                    held = take(msg);
                    continue;
                }
                Err(TryRecvError::Disconnected) => break 'run,
                Err(TryRecvError::Empty) => {}
            }
            let next = shared.lock().idle_step();
            let msg = match next {
                Idle::Worked => continue,
                Idle::Wait(d) => match messages.recv_timeout(d) {
                    Ok(msg) => msg,
                    Err(RecvTimeoutError::Timeout) => continue,
                    Err(RecvTimeoutError::Disconnected) => break 'run,
                },
                Idle::Sleep => match messages.recv() {
                    Ok(msg) => msg,
                    Err(_) => break 'run,
                },
            };
            held = take(msg);
        };
        let mut batch = vec![first];
        // A large change set (a bulk import's batch) commits alone; see `commit_batch`.
        while batch.len() < MAX_BATCH && !batch[0].is_large() {
            match messages.try_recv() {
                Ok(msg) => match take(msg) {
                    Some(job) if job.is_large() => {
                        held = Some(job);
                        break;
                    }
                    Some(job) => batch.push(job),
                    None => {}
                },
                Err(TryRecvError::Empty | TryRecvError::Disconnected) => break,
            }
        }
        if batch.len() > 1 {
            shared.note_group();
        }
        let mut w = shared.lock();
        w.asleep = false;
        w.commit_jobs(batch);
        w.restart_wal_if_long();
    }
    // Left noted, the users would be re-indexed when the store next opens; do it now.
    let mut w = shared.lock();
    if w.pending_since.is_some() {
        w.tracked(|conn| reindex_alone(conn));
    }
    tracing::debug!("sqlite writer stopped");
}

fn failed(job: &Job, e: Error) -> Outcome {
    match job {
        Job::Commit { .. } => Outcome::Committed(Err(e)),
        Job::Claim { .. } => Outcome::Claimed(Err(e)),
    }
}

fn unavailable(msg: &str) -> Error {
    Error::Unavailable(msg.to_owned())
}

/// Commits the jobs in one transaction.
///
/// First every job runs straight in the transaction, without savepoints: a savepoint per job
/// would let a failing one roll back alone, but every job would pay for it (two statements, and
/// a copy of each page it touches first). Change sets rarely fail (a stale sequence, a taken
/// username); when one does, the transaction is rolled back and the batch runs again in
/// [`commit_in_savepoints`], where only the failing ones are refused.
fn commit_batch(conn: &mut Connection, batch: &[Job]) -> (Vec<Outcome>, Upkeep) {
    if let Err(e) = conn.execute_batch("BEGIN IMMEDIATE") {
        let msg = e.to_string();
        let failures = batch.iter().map(|j| failed(j, unavailable(&msg))).collect();
        return (failures, Upkeep::RolledBack);
    }
    let mut results = Vec::with_capacity(batch.len());
    for job in batch {
        let outcome = run_job(conn, job);
        if !outcome.is_ok() {
            let _ = conn.execute_batch("ROLLBACK");
            if let [_] = batch {
                return (vec![outcome], Upkeep::RolledBack);
            }
            return commit_in_savepoints(conn, batch);
        }
        results.push(outcome);
    }
    finish(conn, batch, results)
}

/// Commits the jobs in one transaction, each in a savepoint of its own, so that a failing one is
/// rolled back alone. Only after a job failed in [`commit_batch`], and never for a job alone:
/// SQLite truncates the in-memory statement journal after every
/// statement by walking it from its start, and inside a savepoint the journal holds every page
/// the change set has touched so far, so a change set of n statements (a bulk import's batch)
/// would cost n².
fn commit_in_savepoints(conn: &mut Connection, batch: &[Job]) -> (Vec<Outcome>, Upkeep) {
    if let Err(e) = conn.execute_batch("BEGIN IMMEDIATE") {
        let msg = e.to_string();
        let failures = batch.iter().map(|j| failed(j, unavailable(&msg))).collect();
        return (failures, Upkeep::RolledBack);
    }
    let mut results = Vec::with_capacity(batch.len());
    for job in batch {
        if let Err(e) = conn
            .prepare_cached("SAVEPOINT cs")
            .and_then(|mut st| st.execute([]))
        {
            results.push(failed(job, map_err(e)));
            continue;
        }
        let outcome = run_job(conn, job);
        if outcome.is_ok() {
            match conn
                .prepare_cached("RELEASE cs")
                .and_then(|mut st| st.execute([]))
            {
                Ok(_) => results.push(outcome),
                Err(e) => results.push(failed(job, map_err(e))),
            }
        } else {
            let _ = conn.execute_batch("ROLLBACK TO cs; RELEASE cs");
            results.push(outcome);
        }
    }
    finish(conn, batch, results)
}

/// Re-indexes, in the trigram index `users_search`, the users the triggers noted in
/// `users_search_dirty` (see migration V6), and empties the note; whether there were any. One
/// statement for all of them, so FTS5 writes one index segment for them all.
fn reindex_search(conn: &Connection) -> rusqlite::Result<bool> {
    let dirty: bool = conn
        .prepare_cached("SELECT EXISTS (SELECT 1 FROM users_search_dirty)")?
        .query_row([], |r| r.get(0))?;
    if !dirty {
        return Ok(false);
    }
    conn.prepare_cached(
        "DELETE FROM users_search WHERE rowid IN (SELECT d.id FROM users_search_dirty d \
         WHERE NOT EXISTS (SELECT 1 FROM users u WHERE u.id = d.id))",
    )?
    .execute([])?;
    conn.prepare_cached(
        "INSERT OR REPLACE INTO users_search (rowid, doc) \
         SELECT u.id, coalesce(u.first_name, '') || char(10) || coalesce(u.last_name, '') \
                || char(10) || coalesce(u.email_lower, '') || char(10) || coalesce(u.phone, '') \
         FROM users_search_dirty d JOIN users u ON u.id = d.id",
    )?
    .execute([])?;
    conn.prepare_cached("DELETE FROM users_search_dirty")?
        .execute([])?;
    Ok(true)
}

/// Pages of the search index's segments merged in a transaction that re-indexed users.
const COMMIT_MERGE_PAGES: i64 = 16;
/// Pages merged per step while the writer has nothing else to do.
const IDLE_MERGE_PAGES: i64 = 64;

/// Merges up to about `pages` pages of the search index's segments (FTS5's `merge` command);
/// whether there was anything to merge.
///
/// Every transaction that re-indexes users adds a segment to `users_search`, and FTS5 keeps
/// their number down by merging them. Left to FTS5 (`automerge`), that merge work ran inside the
/// commit in lumps: 10–50 ms of one transaction in three, which every request waiting on it
/// waited for. Migration V6 turns `automerge` off; instead each such commit merges a few pages
/// ([`COMMIT_MERGE_PAGES`]) and the writer merges more while idle ([`IDLE_MERGE_PAGES`] per
/// step, in transactions of their own). FTS5's `crisismerge` (a level of 16 segments is merged
/// at once) still bounds the number of segments should the steps fall behind.
fn merge_search(conn: &Connection, pages: i64) -> rusqlite::Result<bool> {
    let before = conn.total_changes();
    conn.prepare_cached("INSERT INTO users_search (users_search, rank) VALUES ('merge', ?1)")?
        .execute([pages])?;
    // The command itself counts as one change; more means segments were merged.
    Ok(conn.total_changes() - before > 1)
}

/// Noted users from which a transaction re-indexes them before it commits. Below it they wait
/// for a later transaction, or for [`PENDING_AGE`] to pass with the writer idle.
///
/// Re-indexing has a cost per transaction besides its cost per user: FTS5 writes a new segment
/// (a handful of pages into the WAL), and every segment has to be merged later. With a
/// transaction per update (one client updating users one after another) re-indexing and merging
/// were about two fifths of the writer's work. Meanwhile a search still finds exactly what has committed:
/// it takes the noted users as candidates besides what the index finds and checks every
/// candidate against its row (`from_users` in sql.rs), so this bounds only how many extra
/// candidates a search tests.
const PENDING_MAX: i64 = 256;
/// How long noted users wait, at most while the writer is idle, to be re-indexed.
const PENDING_AGE: Duration = Duration::from_millis(100);

/// What a transaction did about the search index.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Upkeep {
    /// It committed with no users noted.
    Clean,
    /// It committed and left users noted (fewer than [`PENDING_MAX`]).
    Pending,
    /// It committed after re-indexing the noted users: the index has a new segment to merge.
    Indexed,
    /// It was rolled back: whatever was noted before still is.
    RolledBack,
}

/// Re-indexes the noted users when they are [`PENDING_MAX`] or more, or when `large` (a bulk
/// import's batch, which then merges whatever its segment makes mergeable, as FTS5's automerge
/// did, instead of leaving the work to idle moments and a restarted server's page cache);
/// otherwise leaves them noted.
fn index_upkeep(conn: &Connection, large: bool) -> rusqlite::Result<Upkeep> {
    let noted: i64 = conn
        .prepare_cached("SELECT count(*) FROM users_search_dirty")?
        .query_row([], |r| r.get(0))?;
    if noted == 0 {
        return Ok(Upkeep::Clean);
    }
    if noted < PENDING_MAX && !large {
        return Ok(Upkeep::Pending);
    }
    reindex_search(conn)?;
    if large {
        while merge_search(conn, IDLE_MERGE_PAGES)? {}
    } else {
        merge_search(conn, COMMIT_MERGE_PAGES)?;
    }
    Ok(Upkeep::Indexed)
}

/// `work` in a transaction of its own: its result when it committed; rolled back, with a warning
/// naming `what`, when it failed.
fn alone<T>(
    conn: &Connection,
    what: &str,
    work: impl FnOnce(&Connection) -> rusqlite::Result<T>,
) -> Option<T> {
    let step = conn
        .execute_batch("BEGIN IMMEDIATE")
        .and_then(|()| work(conn))
        .and_then(|t| conn.execute_batch("COMMIT").map(|()| t));
    match step {
        Ok(t) => Some(t),
        Err(e) => {
            let _ = conn.execute_batch("ROLLBACK");
            tracing::warn!(error = %e, "sqlite: {what} failed");
            None
        }
    }
}

/// [`reindex_search`] and a [`merge_search`] step in a transaction of its own (the writer idle
/// with users noted); whether it committed.
fn reindex_alone(conn: &Connection) -> bool {
    alone(conn, "re-indexing the search index", |conn| {
        reindex_search(conn)?;
        merge_search(conn, COMMIT_MERGE_PAGES)
    })
    .is_some()
}

/// [`merge_search`] in a transaction of its own; whether to go on.
fn merge_search_alone(conn: &Connection, pages: i64) -> bool {
    alone(conn, "merging the search index", |conn| {
        merge_search(conn, pages)
    })
    .unwrap_or(false)
}

/// [`index_upkeep`], then `COMMIT`; on failure the transaction is rolled back and every job of
/// the batch fails.
fn finish(conn: &Connection, batch: &[Job], results: Vec<Outcome>) -> (Vec<Outcome>, Upkeep) {
    let large = batch.iter().any(Job::is_large);
    let r =
        index_upkeep(conn, large).and_then(|upkeep| conn.execute_batch("COMMIT").map(|()| upkeep));
    match r {
        Ok(upkeep) => (results, upkeep),
        Err(e) => {
            let _ = conn.execute_batch("ROLLBACK");
            let msg = e.to_string();
            tracing::error!(error = %msg, "sqlite commit failed");
            let failures = batch.iter().map(|j| failed(j, unavailable(&msg))).collect();
            (failures, Upkeep::RolledBack)
        }
    }
}

fn run_job(conn: &Connection, job: &Job) -> Outcome {
    match job {
        Job::Commit { changes, .. } => Outcome::Committed(apply(conn, changes)),
        Job::Claim {
            now,
            lease_until,
            limit,
            ..
        } => Outcome::Claimed(claim(conn, *now, *lease_until, *limit).map_err(map_err)),
    }
}

fn claim(
    conn: &Connection,
    now: Timestamp,
    lease_until: Timestamp,
    limit: u32,
) -> rusqlite::Result<Vec<OutboxRecord>> {
    let mut st = conn.prepare_cached(&format!(
        "UPDATE outbox_messages SET next_attempt_at = ?2, attempts = attempts + 1 \
         WHERE id IN (SELECT id FROM outbox_messages WHERE status = 'pending' \
         AND next_attempt_at <= ?1 ORDER BY next_attempt_at, created_at, id LIMIT ?3) \
         RETURNING {}",
        super::rows::OUTBOX_COLUMNS
    ))?;
    let rows = st.query_map(
        params![now.nanos(), lease_until.nanos(), limit],
        super::rows::outbox,
    )?;
    let mut claimed = rows.collect::<rusqlite::Result<Vec<_>>>()?;
    // RETURNING has no defined order; hand them out oldest first.
    claimed.sort_by(|a, b| {
        (a.message.created_at, &a.message.id).cmp(&(b.message.created_at, &b.message.id))
    });
    Ok(claimed)
}

fn b(v: bool) -> i64 {
    i64::from(v)
}

fn apply(conn: &Connection, changes: &ChangeSet) -> Result<()> {
    for c in &changes.changes {
        apply_one(conn, c).map_err(|e| match e {
            Step::Db(e) => map_err(e),
            Step::Core(e) => e,
        })?;
    }
    Ok(())
}

enum Step {
    Db(rusqlite::Error),
    Core(Error),
}

impl From<rusqlite::Error> for Step {
    fn from(e: rusqlite::Error) -> Self {
        Step::Db(e)
    }
}

fn user_params(u: &usher_core::model::User) -> Vec<Box<dyn rusqlite::ToSql + '_>> {
    vec![
        Box::new(u.id.0),
        Box::new(u.org_id.0),
        Box::new(u.username.as_str()),
        Box::new(u.first_name.as_deref()),
        Box::new(u.last_name.as_deref()),
        Box::new(u.nick_name.as_deref()),
        Box::new(u.display_name.as_deref()),
        Box::new(u.preferred_language.as_deref()),
        Box::new(u.gender.as_str()),
        Box::new(u.email.as_ref().map(|e| e.as_str())),
        Box::new(b(u.email_verified)),
        Box::new(b(u.email_verify_requested)),
        Box::new(u.new_email_requested.as_ref().map(|e| e.as_str())),
        Box::new(u.phone.as_ref().map(|p| p.as_str())),
        Box::new(b(u.phone_verified)),
        Box::new(b(u.phone_verify_requested)),
        Box::new(u.password_hash.as_deref()),
        Box::new(b(u.password_change_required)),
        Box::new(u.state.as_str()),
        Box::new(b(u.super_user)),
        Box::new(serde_json::to_string(&u.roles).unwrap_or_else(|_| "[]".to_owned())),
        Box::new(u.external_id.as_deref()),
        Box::new(u.client_id),
        Box::new(u.description.as_deref()),
        Box::new(u.remarks.as_deref()),
        Box::new(u.auto_remove_after.map(|p| p.as_str())),
        Box::new(u.auto_remove_date.map(|t| t.nanos())),
        Box::new(b(u.auto_email_match)),
        Box::new(b(u.require_email_match)),
        Box::new(b(u.email_match_credential_filter)),
        Box::new(u.auth_organization_id.as_deref()),
        Box::new(serde_json::Value::Object(u.attributes.clone()).to_string()),
        Box::new(u.sequence),
        Box::new(u.created_at.nanos()),
        Box::new(u.modified_at.nanos()),
        Box::new(u.email.as_ref().map(|e| e.normalized())),
        Box::new(u.password_changed_at.map(|t| t.nanos())),
        Box::new(u.failed_password_attempts),
        Box::new(u.password_locked_until.map(|t| t.nanos())),
    ]
}

/// The `SET` columns of [`UPDATE_USER`], in parameter order (`?2` … `?39`).
static UPDATE_COLUMNS: LazyLock<Vec<&'static str>> = LazyLock::new(|| {
    let set = UPDATE_USER
        .split(" SET ")
        .nth(1)
        .and_then(|rest| rest.split(" WHERE ").next())
        .unwrap_or("");
    set.split(',')
        .filter_map(|a| a.split('=').next())
        .map(str::trim)
        .collect()
});

/// The stored values of those columns, to compare with the new ones.
static CURRENT_USER_VALUES: LazyLock<String> = LazyLock::new(|| {
    format!(
        "SELECT {} FROM users WHERE id = ?1",
        UPDATE_COLUMNS.join(", ")
    )
});

/// Updates a user where the sequence is still the expected one, writing only the columns whose
/// value changed: SQLite maintains an index only when the `UPDATE` names one of its columns, so a
/// new first name touches the row and one index rather than all of them.
fn update_user(
    conn: &Connection,
    user: &usher_core::model::User,
    expected_sequence: i64,
) -> std::result::Result<(), Step> {
    use rusqlite::types::{Value, ValueRef};
    let mut p = user_params(user);
    p.push(Box::new(expected_sequence));
    let current: Option<Vec<Value>> = conn
        .prepare_cached(&CURRENT_USER_VALUES)?
        .query_row(params![user.id.0], |r| {
            (0..UPDATE_COLUMNS.len())
                .map(|i| r.get::<_, Value>(i))
                .collect()
        })
        .optional()?;
    let Some(current) = current else {
        return Err(Step::Core(Error::Conflict));
    };
    let mut set = String::new();
    for (i, (column, stored)) in UPDATE_COLUMNS.iter().zip(&current).enumerate() {
        // Parameter `?{i + 2}` is `p[i + 1]`.
        let out = p[i + 1].to_sql()?;
        let new = match &out {
            rusqlite::types::ToSqlOutput::Borrowed(v) => *v,
            rusqlite::types::ToSqlOutput::Owned(v) => ValueRef::from(v),
            _ => return Err(Step::Db(rusqlite::Error::InvalidQuery)),
        };
        if new != ValueRef::from(stored) {
            if !set.is_empty() {
                set.push_str(", ");
            }
            set.push_str(&format!("{column} = ?{}", i + 2));
        }
    }
    if set.is_empty() {
        // Nothing changed (not even the sequence): only check the sequence.
        set.push_str("sequence = sequence");
    }
    let sql = format!("UPDATE users SET {set} WHERE id = ?1 AND sequence = ?40");
    let n = conn
        .prepare_cached(&sql)?
        .execute(rusqlite::params_from_iter(p.iter().map(|b| b.as_ref())))?;
    if n == 0 {
        return Err(Step::Core(Error::Conflict));
    }
    Ok(())
}

fn apply_one(conn: &Connection, c: &Change) -> std::result::Result<(), Step> {
    match c {
        Change::InsertOrganization(o) => {
            conn.prepare_cached(
                "INSERT INTO organizations (id, name, created_at, modified_at) VALUES (?1, ?2, ?3, ?4)",
            )?
            .execute(params![o.id.0, o.name, o.created_at.nanos(), o.modified_at.nanos()])?;
        }
        Change::InsertUser(u) => {
            let p = user_params(u);
            conn.prepare_cached(INSERT_USER)?
                .execute(rusqlite::params_from_iter(p.iter().map(|b| b.as_ref())))?;
        }
        Change::UpdateUser {
            user,
            expected_sequence,
        } => update_user(conn, user, *expected_sequence)?,
        Change::DeleteUser(id) => {
            // Memberships, invitation, codes and keys go by ON DELETE CASCADE.
            conn.prepare_cached("DELETE FROM users WHERE id = ?1")?
                .execute(params![id.0])?;
        }
        Change::PutInvitation(i) => {
            conn.prepare_cached(
                "INSERT INTO invitations (user_id, token, expires_at, language, email, phone, \
                 sent_email, sent_sms, accepted_at, created_at, url_template) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11) \
                 ON CONFLICT (user_id) DO UPDATE SET token = excluded.token, \
                 expires_at = excluded.expires_at, language = excluded.language, \
                 email = excluded.email, phone = excluded.phone, sent_email = excluded.sent_email, \
                 sent_sms = excluded.sent_sms, accepted_at = excluded.accepted_at, \
                 created_at = excluded.created_at, url_template = excluded.url_template",
            )?
            .execute(params![
                i.user_id.0,
                i.token,
                i.expires_at.nanos(),
                i.language.as_str(),
                i.email.as_ref().map(|e| e.as_str()),
                i.phone.as_ref().map(|p| p.as_str()),
                b(i.sent_email),
                b(i.sent_sms),
                i.accepted_at.map(|t| t.nanos()),
                i.created_at.nanos(),
                i.url_template.as_ref().map(|t| t.as_str()),
            ])?;
        }
        Change::DeleteInvitation(id) => {
            conn.prepare_cached("DELETE FROM invitations WHERE user_id = ?1")?
                .execute(params![id.0])?;
        }
        Change::InsertGroup(g) => {
            conn.prepare_cached(
                "INSERT INTO user_groups (id, organization_id, name, description, remarks, \
                 external_id, created_at, modified_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            )?
            .execute(params![
                g.id.0,
                g.org_id.0,
                g.name,
                g.description,
                g.remarks,
                g.external_id,
                g.created_at.nanos(),
                g.modified_at.nanos()
            ])?;
        }
        Change::UpdateGroup(g) => {
            conn.prepare_cached(
                "UPDATE user_groups SET name = ?2, description = ?3, remarks = ?4, \
                 external_id = ?5, modified_at = ?6 WHERE id = ?1",
            )?
            .execute(params![
                g.id.0,
                g.name,
                g.description,
                g.remarks,
                g.external_id,
                g.modified_at.nanos()
            ])?;
        }
        Change::DeleteGroup(id) => {
            conn.prepare_cached("DELETE FROM user_groups WHERE id = ?1")?
                .execute(params![id.0])?;
        }
        Change::PutMember {
            group,
            user,
            group_admin,
        } => {
            conn.prepare_cached(
                "INSERT INTO user_group_members (group_id, user_id, group_admin) VALUES (?1, ?2, ?3) \
                 ON CONFLICT (group_id, user_id) DO UPDATE SET group_admin = excluded.group_admin",
            )?
            .execute(params![group.0, user.0, b(*group_admin)])?;
        }
        Change::RemoveMember { group, user } => {
            conn.prepare_cached(
                "DELETE FROM user_group_members WHERE group_id = ?1 AND user_id = ?2",
            )?
            .execute(params![group.0, user.0])?;
        }
        Change::InsertApiKey { key, secret_hash } => {
            conn.prepare_cached(
                "INSERT INTO api_keys (id, name, organization_id, user_id, secret_hash, read_only, \
                 instance_admin, expires_at, created_at, kind, revoked_at, last_used_at) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
            )?
            .execute(params![
                key.id.0,
                key.name,
                key.org_id.map(|o| o.0),
                key.user_id.map(|u| u.0),
                secret_hash,
                b(key.read_only),
                b(key.instance_admin),
                key.expires_at.map(|t| t.nanos()),
                key.created_at.nanos(),
                key.kind.as_str(),
                key.revoked_at.map(|t| t.nanos()),
                key.last_used_at.map(|t| t.nanos())
            ])?;
        }
        Change::RevokeApiKey { id, at } => {
            conn.prepare_cached(
                "UPDATE api_keys SET revoked_at = COALESCE(revoked_at, ?2) WHERE id = ?1",
            )?
            .execute(params![id.0, at.nanos()])?;
        }
        Change::TouchApiKey { id, at } => {
            conn.prepare_cached("UPDATE api_keys SET last_used_at = ?2 WHERE id = ?1")?
                .execute(params![id.0, at.nanos()])?;
        }
        Change::DeleteSessions(user) => {
            conn.prepare_cached(
                "DELETE FROM api_keys WHERE user_id = ?1 AND kind IN ('access', 'refresh')",
            )?
            .execute(params![user.0])?;
        }
        Change::DeleteApiKey(id) => {
            conn.prepare_cached("DELETE FROM api_keys WHERE id = ?1")?
                .execute(params![id.0])?;
        }
        Change::PutCode(c) => {
            conn.prepare_cached(
                "INSERT INTO one_time_codes (user_id, purpose, code_hash, target, expires_at, \
                 attempts, created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) \
                 ON CONFLICT (user_id, purpose) DO UPDATE SET code_hash = excluded.code_hash, \
                 target = excluded.target, expires_at = excluded.expires_at, \
                 attempts = excluded.attempts, created_at = excluded.created_at",
            )?
            .execute(params![
                c.user_id.0,
                c.purpose.as_str(),
                c.code_hash,
                c.target,
                c.expires_at.nanos(),
                c.attempts,
                c.created_at.nanos()
            ])?;
        }
        Change::Audit(a) => {
            conn.prepare_cached(
                "INSERT INTO audit_events (organization_id, subject_type, subject_id, sequence, \
                 event_type, actor, fields, created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            )?
            .execute(params![
                a.org_id.map(|o| o.0),
                a.subject_type,
                a.subject_id,
                a.sequence,
                a.event_type,
                a.actor.as_text(),
                serde_json::to_string(&a.fields).unwrap_or_else(|_| "[]".to_owned()),
                a.created_at.nanos()
            ])?;
        }
        Change::Outbox(m) => {
            conn.prepare_cached(
                "INSERT INTO outbox_messages (id, channel, template, language, recipient, user_id, \
                 params, status, attempts, next_attempt_at, created_at, organization_id) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, 'pending', 0, ?8, ?8, ?9)",
            )?
            .execute(params![
                m.id,
                m.channel.as_str(),
                m.template,
                m.language.as_str(),
                m.recipient,
                m.user_id.map(|u| u.0),
                m.params.to_string(),
                m.created_at.nanos(),
                m.org_id.map(|o| o.0)
            ])?;
        }
        Change::PasswordCheck {
            user,
            failed_attempts,
            locked_until,
            rehash,
        } => {
            conn.prepare_cached(
                "UPDATE users SET failed_password_attempts = ?2, password_locked_until = ?3, \
                 password_hash = COALESCE(?4, password_hash) WHERE id = ?1",
            )?
            .execute(params![
                user.0,
                failed_attempts,
                locked_until.map(|t| t.nanos()),
                rehash
            ])?;
        }
        Change::CodeAttempt { user, purpose } => {
            conn.prepare_cached(
                "UPDATE one_time_codes SET attempts = attempts + 1 WHERE user_id = ?1 AND purpose = ?2",
            )?
            .execute(params![user.0, purpose.as_str()])?;
        }
        Change::DeleteCode { user, purpose } => {
            conn.prepare_cached("DELETE FROM one_time_codes WHERE user_id = ?1 AND purpose = ?2")?
                .execute(params![user.0, purpose.as_str()])?;
        }
        Change::OutboxSent { id, at } => {
            conn.prepare_cached(
                "UPDATE outbox_messages SET status = 'sent', sent_at = ?2, last_error = NULL WHERE id = ?1",
            )?
            .execute(params![id, at.nanos()])?;
        }
        Change::OutboxRetry {
            id,
            next_attempt_at,
            error,
        } => {
            conn.prepare_cached(
                "UPDATE outbox_messages SET next_attempt_at = ?2, last_error = ?3 \
                 WHERE id = ?1 AND status = 'pending'",
            )?
            .execute(params![id, next_attempt_at.nanos(), error])?;
        }
        Change::OutboxCancelled { id, reason } => {
            conn.prepare_cached(
                "UPDATE outbox_messages SET status = 'cancelled', last_error = ?2 WHERE id = ?1",
            )?
            .execute(params![id, reason])?;
        }
        Change::OutboxFailed { id, error } => {
            conn.prepare_cached(
                "UPDATE outbox_messages SET status = 'failed', last_error = ?2 WHERE id = ?1",
            )?
            .execute(params![id, error])?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn update_columns_are_in_parameter_order() {
        assert_eq!(UPDATE_COLUMNS.len(), 38);
        for (i, c) in UPDATE_COLUMNS.iter().enumerate() {
            assert!(
                UPDATE_USER.contains(&format!("{c} = ?{},", i + 2))
                    || UPDATE_USER.contains(&format!("{c} = ?{} ", i + 2)),
                "{c} is not ?{}",
                i + 2
            );
        }
    }
}

#[cfg(test)]
mod batching {
    use super::*;
    use usher_core::model::{Actor, AuditEvent, User};
    use usher_core::types::{OrgId, UserId};

    fn audits(n: usize) -> ChangeSet {
        ChangeSet {
            changes: (0..n)
                .map(|i| {
                    Change::Audit(AuditEvent {
                        org_id: Some(OrgId(1)),
                        subject_type: "user".to_owned(),
                        subject_id: i as i64,
                        sequence: None,
                        event_type: "user.updated".to_owned(),
                        actor: Actor::System,
                        fields: vec![],
                        created_at: Timestamp::from_nanos(1),
                    })
                })
                .collect(),
        }
    }

    /// A migrated database file, and a write connection on it like the store's.
    fn database() -> (tempfile::TempDir, Connection) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("writer.db");
        // Migrated without opening a store, whose writer thread would go on beside the test.
        super::super::SqliteStore::migrate(&path).unwrap();
        let conn = Connection::open(&path).unwrap();
        conn.execute_batch(super::super::PRAGMAS).unwrap();
        conn.execute_batch(super::super::WRITER_PRAGMAS).unwrap();
        (dir, conn)
    }

    fn audit_rows(conn: &Connection) -> i64 {
        conn.query_row("SELECT count(*) FROM audit_events", [], |r| r.get(0))
            .unwrap()
    }

    /// A writer on `conn` as the store starts one, without its thread; and the checkpoint
    /// signals it sends.
    fn writer(conn: Connection) -> (Handle, std::sync::mpsc::Receiver<()>, Receiver<Msg>) {
        let (committed, commits) = std::sync::mpsc::sync_channel(16);
        let (messages, received) = std::sync::mpsc::channel();
        let handle = Handle {
            shared: Shared::new(conn, committed),
            messages,
        };
        (handle, commits, received)
    }

    /// Queues a commit for the writer thread; its answer.
    fn queue(handle: &Handle, changes: ChangeSet) -> oneshot::Receiver<Result<()>> {
        let (reply, answer) = oneshot::channel();
        handle
            .send(Msg::Job(Job::Commit { changes, reply }))
            .unwrap();
        answer
    }

    /// Queued small change sets share a transaction; a large one (an import batch) gets one of
    /// its own, so it runs without a savepoint.
    #[test]
    fn a_large_change_set_commits_alone() {
        let (_dir, conn) = database();
        let check = Connection::open(conn.path().unwrap()).unwrap();
        let before = audit_rows(&check);
        let (handle, commits, received) = writer(conn);
        let replies: Vec<_> = [1, 2, LARGE_CHANGE_SET, 1, 1]
            .into_iter()
            .map(|n| queue(&handle, audits(n)))
            .collect();
        let shared = Arc::clone(&handle.shared);
        drop(handle);
        run(shared, received);
        for answer in replies {
            answer.blocking_recv().unwrap().unwrap();
        }
        // [1, 2], [large], [1, 1]
        assert_eq!(commits.try_iter().count(), 3);
        assert_eq!(audit_rows(&check) - before, (LARGE_CHANGE_SET + 5) as i64);
    }

    /// A change set alone in its transaction that fails leaves nothing behind.
    #[test]
    fn a_failing_change_set_alone_is_rolled_back_whole() {
        let (_dir, mut conn) = database();
        let before = audit_rows(&conn);
        let mut changes = audits(3);
        changes.changes.push(Change::UpdateUser {
            user: User::new(UserId(424_242), OrgId(1), Timestamp::from_nanos(1)),
            expected_sequence: 7,
        });
        let (reply, _answer) = oneshot::channel();
        let (outcome, upkeep) = commit_batch(&mut conn, &[Job::Commit { changes, reply }]);
        assert!(!outcome[0].is_ok());
        assert_eq!(upkeep, Upkeep::RolledBack);
        assert!(conn.is_autocommit(), "the transaction is still open");
        assert_eq!(audit_rows(&conn), before);
    }

    /// `n` new users (ids from `first`) of organization 1, which `org` inserts first.
    fn new_users(org: bool, first: i64, n: i64) -> ChangeSet {
        let mut changes = Vec::new();
        if org {
            changes.push(Change::InsertOrganization(
                usher_core::model::Organization {
                    id: OrgId(1),
                    name: "o".to_owned(),
                    created_at: Timestamp::from_nanos(1),
                    modified_at: Timestamp::from_nanos(1),
                },
            ));
        }
        for id in first..first + n {
            let mut u = User::new(UserId(id), OrgId(1), Timestamp::from_nanos(1));
            u.first_name = Some(format!("Name{id}"));
            changes.push(Change::InsertUser(u));
        }
        ChangeSet { changes }
    }

    fn commit(conn: &mut Connection, changes: ChangeSet) -> Upkeep {
        let (reply, _answer) = oneshot::channel();
        let (outcome, upkeep) = commit_batch(conn, &[Job::Commit { changes, reply }]);
        assert!(outcome[0].is_ok());
        upkeep
    }

    fn noted(conn: &Connection) -> i64 {
        conn.query_row("SELECT count(*) FROM users_search_dirty", [], |r| r.get(0))
            .unwrap()
    }

    fn indexed(conn: &Connection) -> i64 {
        conn.query_row("SELECT count(*) FROM users_search", [], |r| r.get(0))
            .unwrap()
    }

    /// A commit leaves fewer than PENDING_MAX noted users noted, re-indexes them from
    /// PENDING_MAX on, and says which it did; a commit that touches no user says so too, so the
    /// writer merges only after a commit that re-indexed.
    #[test]
    fn the_search_index_is_kept_in_bursts() {
        let (_dir, mut conn) = database();
        assert_eq!(commit(&mut conn, audits(2)), Upkeep::Clean);
        assert_eq!(commit(&mut conn, new_users(true, 1, 10)), Upkeep::Pending);
        assert_eq!((noted(&conn), indexed(&conn)), (10, 0));
        // Still pending: nothing re-indexed, nothing to merge.
        assert_eq!(commit(&mut conn, audits(1)), Upkeep::Pending);
        // In change sets below LARGE_CHANGE_SET, up to one short of PENDING_MAX.
        let mut next = 11;
        while next < PENDING_MAX {
            let n = (PENDING_MAX - next).min(LARGE_CHANGE_SET as i64 - 1);
            assert_eq!(
                commit(&mut conn, new_users(false, next, n)),
                Upkeep::Pending
            );
            next += n;
        }
        assert_eq!(noted(&conn), PENDING_MAX - 1);
        assert_eq!(
            commit(&mut conn, new_users(false, 1000, 1)),
            Upkeep::Indexed
        );
        assert_eq!((noted(&conn), indexed(&conn)), (0, PENDING_MAX));
        assert_eq!(commit(&mut conn, audits(1)), Upkeep::Clean);
        // A large change set (a bulk import's batch) is re-indexed at once.
        let large = LARGE_CHANGE_SET as i64;
        assert_eq!(
            commit(&mut conn, new_users(false, 2000, large)),
            Upkeep::Indexed
        );
        assert_eq!((noted(&conn), indexed(&conn)), (0, PENDING_MAX + large));
    }

    /// The writer on its thread, as the store starts it.
    fn start(conn: Connection) -> (Handle, std::thread::JoinHandle<()>) {
        let (handle, _commits, received) = writer(conn);
        let shared = Arc::clone(&handle.shared);
        (handle, std::thread::spawn(move || run(shared, received)))
    }

    fn wait_until(what: &str, done: impl Fn() -> bool) {
        let waited = Instant::now();
        while !done() {
            assert!(waited.elapsed() < Duration::from_secs(5), "{what}");
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// Noted users left when the writer goes idle are re-indexed PENDING_AGE later, and when it
    /// stops.
    #[test]
    fn the_idle_writer_indexes_what_is_noted() {
        let (_dir, conn) = database();
        let check = Connection::open(conn.path().unwrap()).unwrap();
        let (handle, thread) = start(conn);
        queue(&handle, new_users(true, 1, 3))
            .blocking_recv()
            .unwrap()
            .unwrap();
        wait_until("not re-indexed", || noted(&check) == 0);
        assert_eq!(indexed(&check), 3);
        // And what a writer leaves noted when it stops is indexed before it goes.
        queue(&handle, new_users(false, 10, 2))
            .blocking_recv()
            .unwrap()
            .unwrap();
        drop(handle);
        thread.join().unwrap();
        assert_eq!((noted(&check), indexed(&check)), (0, 5));
    }

    /// With nothing queued and the writer free, a change set commits on its caller's thread,
    /// and the WAL's length and the users it leaves noted are still seen to: the writer thread,
    /// asleep, is woken to re-index them. A large change set, or one that finds the writer busy,
    /// goes to the writer thread (see the next test for the rest).
    #[test]
    fn a_commit_with_the_writer_free_runs_on_its_callers_thread() {
        let (_dir, conn) = database();
        let check = Connection::open(conn.path().unwrap()).unwrap();
        let (handle, thread) = start(conn);
        let shared = Arc::clone(&handle.shared);
        let inline = || shared.inline_commits.load(Ordering::SeqCst);
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        wait_until("the writer never slept", || shared.lock().asleep);
        let frames = shared.lock().wal_frames;
        runtime
            .block_on(handle.commit(new_users(true, 1, 3)))
            .unwrap();
        assert_eq!(inline(), 1);
        assert!(
            shared.lock().wal_frames > frames,
            "the WAL's length was not noted"
        );
        assert_eq!(noted(&check), 3);
        wait_until("the writer was not woken to re-index", || {
            noted(&check) == 0
        });
        assert_eq!(indexed(&check), 3);

        runtime
            .block_on(handle.commit(new_users(false, 10, LARGE_CHANGE_SET as i64)))
            .unwrap();
        assert_eq!(
            inline(),
            1,
            "a large change set committed on its caller's thread"
        );
        assert_eq!(indexed(&check), 3 + LARGE_CHANGE_SET as i64);

        drop(handle);
        thread.join().unwrap();
    }

    /// A change set that finds the writer busy, another change set on its way, or the writer
    /// thread lately committing groups, is queued too.
    #[test]
    fn a_commit_that_finds_the_writer_busy_or_a_queue_is_queued() {
        let (_dir, conn) = database();
        let (handle, _commits, received) = writer(conn);
        let handle = Arc::new(handle);
        let commit_on_a_thread = || {
            let handle = Arc::clone(&handle);
            std::thread::spawn(move || {
                tokio::runtime::Builder::new_current_thread()
                    .build()
                    .unwrap()
                    .block_on(handle.commit(audits(1)))
            })
        };
        // Takes the next queued change set, as the writer thread would.
        let queued = || match received.recv_timeout(Duration::from_secs(5)) {
            Ok(Msg::Job(job)) => {
                handle.shared.queued.fetch_sub(1, Ordering::SeqCst);
                job
            }
            Ok(Msg::Wake) => panic!("a wake, not the change set"),
            Err(e) => panic!("the change set was not queued: {e}"),
        };
        let busy = handle.shared.lock();
        let first = commit_on_a_thread();
        let job = queued();
        drop(busy);
        // The first is still on its way (no writer thread took it): the second queues too.
        let second = commit_on_a_thread();
        let job2 = queued();
        handle.shared.lock().commit_jobs(vec![job, job2]);
        first.join().unwrap().unwrap();
        second.join().unwrap().unwrap();
        // Nothing on its way and the writer free, but the writer thread has just committed a
        // group: the change set joins the next group.
        assert_eq!(handle.shared.in_flight.load(Ordering::SeqCst), 0);
        handle.shared.note_group();
        let third = commit_on_a_thread();
        let job3 = queued();
        handle.shared.lock().commit_jobs(vec![job3]);
        third.join().unwrap().unwrap();
        assert_eq!(handle.shared.inline_commits.load(Ordering::SeqCst), 0);
    }

    /// With users noted and waiting, and nothing to merge, a long WAL is still started over
    /// first (before, the writer only waited for the noted users to age).
    #[test]
    fn a_long_wal_is_seen_to_while_users_wait_to_be_indexed() {
        let (_dir, conn) = database();
        let (handle, _commits, _received) = writer(conn);
        let mut w = handle.shared.lock();
        w.pending_since = Some(Instant::now());
        w.merge_due = false;
        w.wal_frames = WAL_RESTART_FRAMES;
        assert!(matches!(w.idle_step(), Idle::Worked));
        assert_eq!(w.wal_frames, 0, "the WAL was not copied back");
        assert!(matches!(w.idle_step(), Idle::Wait(d) if d <= PENDING_AGE));
        assert!(w.pending_since.is_some());
        assert!(!w.asleep);
    }
}
