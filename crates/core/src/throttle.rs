//! Lockouts after repeated failures, counted in memory per key (an account, an unknown login
//! name, a client address).
//!
//! After `after` failures in a row a key waits `first` before its next try, doubling with each
//! further failure up to `max`. A success resets an account's count; an address's count is only
//! forgotten after `idle` without failures, so an attacker cannot clear it with its own logins.
//! Counts live in this process (each instance of a cluster counts on its own); the lockout of
//! passwords is stored with the user instead (see `Services::check_password`).

use std::future::Future;
use std::net::IpAddr;
use std::time::Duration;

use crate::error::{Error, Result};
use crate::types::Timestamp;

/// How a throttle counts.
#[derive(Debug, Clone, Copy)]
pub struct Policy {
    /// Failures in a row before the first wait.
    pub after: u32,
    /// The first wait.
    pub first: Duration,
    /// The longest wait.
    pub max: Duration,
    /// A key without failures for this long starts again from zero.
    pub idle: Duration,
}

impl Policy {
    /// Passwords and unknown login names: 10 failures, then 60 s doubling to 15 min.
    pub const LOGIN: Policy = Policy {
        after: 10,
        first: Duration::from_secs(60),
        max: Duration::from_secs(15 * 60),
        idle: Duration::from_secs(30 * 60),
    };
    /// Verification, reset and invitation codes of one account: 5 failures, then 60 s doubling to
    /// 15 min (each code also dies after 5 wrong tries).
    pub const CODES: Policy = Policy {
        after: 5,
        first: Duration::from_secs(60),
        max: Duration::from_secs(15 * 60),
        idle: Duration::from_secs(30 * 60),
    };
    /// One client address, over every kind of proof: 30 failures, then 60 s doubling to 15 min.
    pub const ADDRESS: Policy = Policy {
        after: 30,
        first: Duration::from_secs(60),
        max: Duration::from_secs(15 * 60),
        idle: Duration::from_secs(15 * 60),
    };

    /// The wait after `failures` failures in a row, if any.
    pub fn wait(&self, failures: u32) -> Option<Duration> {
        if failures < self.after {
            return None;
        }
        let doublings = (failures - self.after).min(16);
        Some(self.first.saturating_mul(1 << doublings).min(self.max))
    }
}

#[derive(Debug, Clone, Copy)]
struct Entry {
    failures: u32,
    locked_until: Option<Timestamp>,
}

/// Failure counts per key.
pub struct Throttle {
    policy: Policy,
    entries: moka::sync::Cache<String, Entry>,
}

impl std::fmt::Debug for Throttle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Throttle")
            .field("policy", &self.policy)
            .field("keys", &self.entries.entry_count())
            .finish()
    }
}

fn retry_after(until: Timestamp, now: Timestamp) -> Error {
    let secs = (until.0 - now.0).num_seconds().max(1);
    Error::RateLimited {
        retry_after: Duration::from_secs(u64::try_from(secs).unwrap_or(1)),
    }
}

impl Throttle {
    pub fn new(policy: Policy) -> Self {
        Self {
            policy,
            entries: moka::sync::Cache::builder()
                .max_capacity(200_000)
                .time_to_idle(policy.idle)
                .build(),
        }
    }

    pub fn policy(&self) -> Policy {
        self.policy
    }

    /// [`Error::RateLimited`] while `key` waits.
    pub fn check(&self, key: &str, now: Timestamp) -> Result<()> {
        match self.entries.get(key).and_then(|e| e.locked_until) {
            Some(until) if until > now => Err(retry_after(until, now)),
            _ => Ok(()),
        }
    }

    /// Counts a failure of `key`; [`Error::RateLimited`] when this failure starts a wait.
    pub fn fail(&self, key: &str, now: Timestamp) -> Result<()> {
        let policy = self.policy;
        let entry = self
            .entries
            .entry(key.to_owned())
            .and_upsert_with(|old| {
                let failures = old.map_or(0, |e| e.into_value().failures).saturating_add(1);
                let locked_until = policy.wait(failures).map(|w| {
                    now.plus(chrono::Duration::from_std(w).unwrap_or(chrono::Duration::MAX))
                });
                Entry {
                    failures,
                    locked_until,
                }
            })
            .into_value();
        match entry.locked_until {
            Some(until) if until > now => Err(retry_after(until, now)),
            _ => Ok(()),
        }
    }

    /// Forgets `key`'s failures (after a success).
    pub fn reset(&self, key: &str) {
        self.entries.invalidate(key);
    }

    /// Failures counted for `key` (for tests and metrics).
    pub fn failures(&self, key: &str) -> u32 {
        self.entries.get(key).map_or(0, |e| e.failures)
    }
}

tokio::task_local! {
    static CLIENT_ADDRESS: IpAddr;
}

/// Runs `f` as a request from `addr`: proof checks inside count failures against that address.
pub async fn with_client_address<F: Future>(addr: IpAddr, f: F) -> F::Output {
    CLIENT_ADDRESS.scope(addr, f).await
}

/// The address of the request being served, when the transport set one.
pub fn client_address() -> Option<IpAddr> {
    CLIENT_ADDRESS.try_with(|a| *a).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(secs: i64) -> Timestamp {
        Timestamp(chrono::DateTime::from_timestamp(1_700_000_000 + secs, 0).expect("time"))
    }

    #[test]
    fn waits_double_up_to_the_limit() {
        let p = Policy::LOGIN;
        assert_eq!(p.wait(9), None);
        assert_eq!(p.wait(10), Some(Duration::from_secs(60)));
        assert_eq!(p.wait(11), Some(Duration::from_secs(120)));
        assert_eq!(p.wait(14), Some(Duration::from_secs(900)));
        assert_eq!(p.wait(1000), Some(Duration::from_secs(900)));
    }

    #[test]
    fn locks_after_the_count_and_resets() {
        let t = Throttle::new(Policy::CODES);
        for _ in 0..4 {
            assert!(t.fail("u1", at(0)).is_ok());
        }
        assert!(t.check("u1", at(0)).is_ok());
        let Err(Error::RateLimited { retry_after }) = t.fail("u1", at(0)) else {
            panic!("the fifth failure locks");
        };
        assert_eq!(retry_after, Duration::from_secs(60));
        let Err(Error::RateLimited { retry_after }) = t.check("u1", at(20)) else {
            panic!("still locked");
        };
        assert_eq!(retry_after, Duration::from_secs(40));
        assert!(t.check("u1", at(61)).is_ok());
        assert!(t.check("u2", at(0)).is_ok(), "other keys are free");
        // The next failure after the wait doubles it.
        let Err(Error::RateLimited { retry_after }) = t.fail("u1", at(61)) else {
            panic!("locked again");
        };
        assert_eq!(retry_after, Duration::from_secs(120));
        t.reset("u1");
        assert_eq!(t.failures("u1"), 0);
        assert!(t.check("u1", at(62)).is_ok());
    }

    #[tokio::test]
    async fn the_address_is_scoped_to_the_request() {
        assert_eq!(client_address(), None);
        let addr: IpAddr = "192.0.2.7".parse().expect("ip");
        let seen = with_client_address(addr, async { client_address() }).await;
        assert_eq!(seen, Some(addr));
        assert_eq!(client_address(), None);
    }
}
