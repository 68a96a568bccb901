//! argon2id hashing and verification of stored hashes on a bounded blocking pool.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use argon2::password_hash::phc::PasswordHash;
use argon2::{Algorithm, Argon2, Params, PasswordHasher, Version};
use tokio::sync::Semaphore;
use zeroize::Zeroizing;

use super::HashError;
use super::formats;
use super::policy::MAX_CHARS;

/// argon2id memory cost of new hashes, in KiB (19 MiB, OWASP's first recommendation).
pub const CURRENT_M_KIB: u32 = 19 * 1024;
/// argon2id passes of new hashes.
pub const CURRENT_T: u32 = 2;
/// argon2id lanes of new hashes.
pub const CURRENT_P: u32 = 1;
/// argon2id output length of new hashes, in bytes.
pub(crate) const CURRENT_OUTPUT_LEN: usize = 32;

/// A verification input longer than this (the most a policy-valid password can take in UTF-8) is
/// wrong without any work.
const MAX_PASSWORD_BYTES: usize = MAX_CHARS * 4;

/// A well-formed argon2id hash at the current parameters that no password matches in practice
/// (its salt and output are arbitrary bytes): [`Hasher::verify_dummy`] spends on it exactly the
/// work of a real verification.
const DUMMY_HASH: &str = "$argon2id$v=19$m=19456,t=2,p=1$dXNoZXItZHVtbXktc2FsdA$\
                          dXNoZXIgbmV2ZXIgbWF0Y2hlcyB0aGlzIGhhc2ggISE";

/// The outcome of a verification.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verified {
    /// The password does not match.
    Invalid,
    /// The password matches. `needs_rehash`: the stored hash is not argon2id (version 0x13) with
    /// exactly the current parameters (m = 19456 KiB, t = 2, p = 1, 32-byte output); the caller
    /// should store a fresh [`Hasher::hash`] of the password.
    Valid { needs_rehash: bool },
}

impl Verified {
    pub fn is_valid(&self) -> bool {
        matches!(self, Verified::Valid { .. })
    }
}

/// Hashes and verifies passwords on tokio's blocking threads, at most `max_parallel` at once.
///
/// A job holds its permit until the computation has really finished, even when the caller's
/// future is dropped half-way (a client that hangs up cannot free a slot while the CPU is still
/// busy). Waiting callers queue in FIFO order. Cheap to clone; clones share the bound.
#[derive(Clone)]
pub struct Hasher {
    permits: Arc<Semaphore>,
    max_parallel: usize,
    stats: Arc<Stats>,
}

#[derive(Default)]
struct Stats {
    running: AtomicUsize,
    peak: AtomicUsize,
}

/// Counts one running job for as long as it lives.
struct Running<'a>(&'a Stats);

impl<'a> Running<'a> {
    fn enter(stats: &'a Stats) -> Self {
        let now = stats.running.fetch_add(1, Ordering::SeqCst) + 1;
        stats.peak.fetch_max(now, Ordering::SeqCst);
        Running(stats)
    }
}

impl Drop for Running<'_> {
    fn drop(&mut self) {
        self.0.running.fetch_sub(1, Ordering::SeqCst);
    }
}

impl std::fmt::Debug for Hasher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Hasher")
            .field("max_parallel", &self.max_parallel)
            .field("running", &self.running())
            .finish()
    }
}

impl Default for Hasher {
    /// One job per available CPU.
    fn default() -> Self {
        Self::new(std::thread::available_parallelism().map_or(1, |n| n.get()))
    }
}

impl Hasher {
    /// At most `max_parallel` hash computations at once (0 counts as 1). One per CPU is a good
    /// value: more only queues work in the OS scheduler instead of here.
    pub fn new(max_parallel: usize) -> Self {
        let max_parallel = max_parallel.max(1);
        Self {
            permits: Arc::new(Semaphore::new(max_parallel)),
            max_parallel,
            stats: Arc::default(),
        }
    }

    pub fn max_parallel(&self) -> usize {
        self.max_parallel
    }

    /// Computations running right now.
    pub fn running(&self) -> usize {
        self.stats.running.load(Ordering::SeqCst)
    }

    /// The most computations that ever ran at once (never more than `max_parallel`).
    pub fn peak_running(&self) -> usize {
        self.stats.peak.load(Ordering::SeqCst)
    }

    /// Hashes a new password with argon2id at the current parameters and a random 16-byte salt,
    /// as a PHC string (`$argon2id$v=19$m=19456,t=2,p=1$<salt>$<hash>`). Does not check the
    /// policy: call [`super::check_policy`] first.
    pub async fn hash(&self, password: &str) -> Result<String, HashError> {
        let password = Zeroizing::new(password.as_bytes().to_vec());
        self.run(move || hash_now(&password)).await?
    }

    /// Verifies a password against a stored hash of any supported format (see
    /// [`super::formats`]). A stored hash in no supported format is an error, not `Invalid`.
    pub async fn verify(&self, password: &str, stored: &str) -> Result<Verified, HashError> {
        let parsed = formats::parse(stored)?;
        if password.len() > MAX_PASSWORD_BYTES {
            // No policy-valid password is this long; don't spend CPU on it.
            return Ok(Verified::Invalid);
        }
        let needs_rehash = parsed.needs_rehash();
        let password = Zeroizing::new(password.as_bytes().to_vec());
        let stored = stored.to_owned();
        let ok = self
            .run(move || parsed.verify(&password, &stored))
            .await??;
        Ok(if ok {
            Verified::Valid { needs_rehash }
        } else {
            Verified::Invalid
        })
    }

    /// Spends the work of verifying a current argon2id hash and throws the answer away: for a
    /// login of an unknown user, so that it takes as long as a wrong password.
    pub async fn verify_dummy(&self, password: &str) {
        // The outcome is the same whatever happens: the login fails.
        let _ = self.verify(password, DUMMY_HASH).await;
    }

    /// Runs `job` on a blocking thread once a permit is free; the permit goes with the job.
    async fn run<T, F>(&self, job: F) -> Result<T, HashError>
    where
        T: Send + 'static,
        F: FnOnce() -> T + Send + 'static,
    {
        let permit = self
            .permits
            .clone()
            .acquire_owned()
            .await
            .map_err(|_| HashError::internal("the hashing pool is closed"))?;
        let stats = self.stats.clone();
        tokio::task::spawn_blocking(move || {
            let _permit = permit;
            let _running = Running::enter(&stats);
            job()
        })
        .await
        .map_err(|e| {
            if e.is_panic() {
                HashError::internal("a password hashing job panicked")
            } else {
                HashError::internal("a password hashing job was cancelled")
            }
        })
    }
}

/// The argon2id instance for new hashes.
pub(crate) fn current_argon2() -> Result<Argon2<'static>, HashError> {
    let params = Params::new(
        CURRENT_M_KIB,
        CURRENT_T,
        CURRENT_P,
        Some(CURRENT_OUTPUT_LEN),
    )
    .map_err(|_| HashError::internal("invalid argon2 parameters"))?;
    Ok(Argon2::new(Algorithm::Argon2id, Version::V0x13, params))
}

fn hash_now(password: &[u8]) -> Result<String, HashError> {
    let hash: PasswordHash = current_argon2()?
        .hash_password(password)
        .map_err(|_| HashError::internal("argon2id hashing failed"))?;
    Ok(hash.to_string())
}

/// Parses and verifies in the calling thread (tests and benchmarks only).
#[cfg(test)]
pub(crate) fn verify_blocking(password: &str, stored: &str) -> Result<Verified, HashError> {
    let parsed = formats::parse(stored)?;
    let needs_rehash = parsed.needs_rehash();
    Ok(if parsed.verify(password.as_bytes(), stored)? {
        Verified::Valid { needs_rehash }
    } else {
        Verified::Invalid
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::password::HashFormat;
    use std::time::Duration;

    #[tokio::test]
    async fn hash_round_trip_and_no_rehash_for_current_hashes() {
        let hasher = Hasher::new(2);
        let pw = "correct horse battery staple ü€𝄞";
        let h = hasher.hash(pw).await.unwrap();
        assert!(h.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{h}");
        // 16-byte salt (22 B64 characters), 32-byte output (43).
        let parts: Vec<&str> = h.split('$').collect();
        assert_eq!(parts.len(), 6);
        assert_eq!(parts[4].len(), 22);
        assert_eq!(parts[5].len(), 43);
        assert_eq!(
            crate::password::check_importable(&h),
            Ok(HashFormat::Argon2id)
        );

        assert_eq!(
            hasher.verify(pw, &h).await,
            Ok(Verified::Valid {
                needs_rehash: false
            })
        );
        assert_eq!(
            hasher.verify("correct horse battery staplE ü€𝄞", &h).await,
            Ok(Verified::Invalid)
        );
        assert_eq!(hasher.verify("", &h).await, Ok(Verified::Invalid));
        // Salts are random.
        assert_ne!(hasher.hash(pw).await.unwrap(), h);
    }

    #[tokio::test]
    async fn other_argon2_parameters_need_a_rehash() {
        let hasher = Hasher::new(1);
        // Same password, argon2id but cheaper parameters: valid, but to be re-hashed.
        let params = Params::new(8 * 1024, 1, 1, Some(32)).unwrap();
        let weak = Argon2::new(Algorithm::Argon2id, Version::V0x13, params);
        let h: PasswordHash = weak.hash_password(b"tr0ub4dor&3-but-longer").unwrap();
        let h = h.to_string();
        assert_eq!(
            hasher.verify("tr0ub4dor&3-but-longer", &h).await,
            Ok(Verified::Valid { needs_rehash: true })
        );
        assert_eq!(
            hasher.verify("tr0ub4dor&3-but-longer!", &h).await,
            Ok(Verified::Invalid)
        );
    }

    #[tokio::test]
    async fn unsupported_stored_hashes_are_errors_not_mismatches() {
        let hasher = Hasher::new(1);
        for stored in [
            "",
            "plaintext",
            "$argon2d$v=19$m=4096,t=3,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNo",
        ] {
            let e = hasher
                .verify("whatever-password", stored)
                .await
                .unwrap_err();
            assert_eq!(e.code(), "password_hash_not_supported");
            assert_eq!(e.message(), "password hash not supported");
        }
    }

    #[tokio::test]
    async fn dummy_verification_runs_and_never_matches() {
        let hasher = Hasher::new(1);
        assert_eq!(
            formats::parse(DUMMY_HASH).map(|p| p.format()),
            Ok(HashFormat::Argon2id)
        );
        assert_eq!(
            hasher.verify("anything-at-all", DUMMY_HASH).await,
            Ok(Verified::Invalid)
        );
        hasher.verify_dummy("anything-at-all").await;
        assert_eq!(hasher.peak_running(), 1);
    }

    #[tokio::test]
    async fn absurdly_long_inputs_are_wrong_at_once() {
        let hasher = Hasher::new(1);
        let h = hasher.hash("a-fine-password").await.unwrap();
        let huge = "x".repeat(MAX_PASSWORD_BYTES + 1);
        assert_eq!(hasher.verify(&huge, &h).await, Ok(Verified::Invalid));
    }

    #[test]
    fn zero_parallelism_means_one() {
        assert_eq!(Hasher::new(0).max_parallel(), 1);
        assert!(Hasher::default().max_parallel() >= 1);
        let dbg = format!("{:?}", Hasher::new(3));
        assert!(dbg.contains("max_parallel: 3"), "{dbg}");
    }

    /// With one permit taken from outside, a hash waits: it neither runs nor finishes until the
    /// permit comes back. Measured on the semaphore and the running counter, not on time.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_hash_waits_for_a_free_permit() {
        let hasher = Hasher::new(1);
        let held = hasher.permits.clone().acquire_owned().await.unwrap();
        let h2 = hasher.clone();
        let task = tokio::spawn(async move { h2.hash("waiting-password").await });
        for _ in 0..20 {
            tokio::time::sleep(Duration::from_millis(5)).await;
            assert_eq!(hasher.running(), 0);
            assert!(!task.is_finished());
        }
        drop(held);
        let h = task.await.unwrap().unwrap();
        assert!(h.starts_with("$argon2id$"));
        assert_eq!(hasher.peak_running(), 1);
        assert_eq!(hasher.permits.available_permits(), 1);
    }

    /// Two real hashes at once with max_parallel 1: while one runs the semaphore has no permit
    /// left, and the running counter never goes past 1.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn two_hashes_do_not_run_at_once() {
        let hasher = Hasher::new(1);
        let (a, b) = tokio::join!(
            tokio::spawn({
                let h = hasher.clone();
                async move { h.hash("first-password").await }
            }),
            tokio::spawn({
                let h = hasher.clone();
                async move { h.hash("second-password").await }
            }),
        );
        assert!(a.unwrap().is_ok() && b.unwrap().is_ok());
        assert_eq!(hasher.peak_running(), 1);
        assert_eq!(hasher.running(), 0);
        assert_eq!(hasher.permits.available_permits(), 1);
    }

    /// Many jobs, a bound of 2: inside every job the semaphore shows no spare permit beyond the
    /// bound, and at most 2 run at once; all of them finish. Jobs sleep so that, without the
    /// bound, they would overlap.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_bound_holds_under_load_and_survives_cancellation() {
        let hasher = Hasher::new(2);
        let mut tasks = Vec::new();
        for _ in 0..8 {
            let h = hasher.clone();
            tasks.push(tokio::spawn(async move {
                let permits = h.permits.clone();
                let stats = h.stats.clone();
                h.run(move || {
                    let running = stats.running.load(Ordering::SeqCst);
                    std::thread::sleep(Duration::from_millis(10));
                    (permits.available_permits(), running)
                })
                .await
            }));
        }
        // A caller that gives up: its job still holds its permit until it is done.
        let h = hasher.clone();
        let abandoned = tokio::spawn(async move {
            h.run(|| std::thread::sleep(Duration::from_millis(30)))
                .await
        });
        abandoned.abort();
        for t in tasks {
            let (free, running) = t.await.unwrap().unwrap();
            assert!(free <= 1, "{free}");
            assert!((1..=2).contains(&running), "{running}");
        }
        assert!(hasher.peak_running() <= 2, "{}", hasher.peak_running());
        // Every permit comes back once the abandoned job (if it started) is done.
        for _ in 0..400 {
            if hasher.permits.available_permits() == 2 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        assert_eq!(hasher.permits.available_permits(), 2);
        assert_eq!(hasher.running(), 0);
    }

    #[test]
    fn verify_blocking_agrees() {
        let h = "$argon2id$v=19$m=19456,t=2,p=1$B5RF6m96HFTEY40DWNburw$4p9tSyabkRxezdsRV+2pkTew9Gvw8pyGNRcAKkPbPrU";
        assert_eq!(
            verify_blocking("pässwörd € 𝄞 ünïcödé", h),
            Ok(Verified::Valid {
                needs_rehash: false
            })
        );
    }
}
