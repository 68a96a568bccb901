//! Passwords: the policy for new ones, argon2id hashing on a bounded blocking pool, and
//! verification of every hash format usher accepts on import.
//!
//! - [`check_policy`]: 8 to 1024 characters, not a common password (see [`policy`]).
//! - [`Hasher`]: hashes new passwords with argon2id (OWASP: m = 19 MiB, t = 2, p = 1, 16-byte
//!   random salt, PHC string) and verifies stored hashes of any supported format. All of that
//!   work runs on tokio's blocking threads, at most `max_parallel` at a time, so it can never
//!   starve the threads that serve other requests.
//! - [`check_importable`]: whether an imported hash (Zitadel `hashedPassword`) is in a format
//!   usher verifies as-is; see [`formats`] for the exact formats and limits.
//!
//! Passwords are never logged, and neither are hashes: no error or `Debug` output here contains
//! either. Copies of a password made for hashing are zeroized when dropped.

pub mod formats;
mod hasher;
pub mod policy;

use std::borrow::Cow;

pub use formats::{HashFormat, check_importable};
pub use hasher::{CURRENT_M_KIB, CURRENT_P, CURRENT_T, Hasher, Verified};
pub use policy::{MAX_CHARS, MIN_CHARS, PolicyError, check_policy};

/// The message of [`HashError::Unsupported`] as the APIs show it (Zitadel: InvalidArgument).
pub const UNSUPPORTED_MESSAGE: &str = "password hash not supported";

/// A hashing or verification failure. Never contains a password or a hash.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HashError {
    /// The hash is not in a format usher verifies, or its cost parameters are beyond the limits
    /// usher accepts. `reason` says which, in English, for logs and error details.
    #[error("password hash not supported: {reason}")]
    Unsupported { reason: Cow<'static, str> },
    /// Hashing itself failed (the OS random source, a crypto library error, a panicked worker).
    #[error("password hashing failed: {0}")]
    Internal(Cow<'static, str>),
}

impl HashError {
    pub(crate) fn unsupported(reason: impl Into<Cow<'static, str>>) -> Self {
        HashError::Unsupported {
            reason: reason.into(),
        }
    }

    pub(crate) fn internal(what: impl Into<Cow<'static, str>>) -> Self {
        HashError::Internal(what.into())
    }

    /// Stable machine-readable code.
    pub fn code(&self) -> &'static str {
        match self {
            HashError::Unsupported { .. } => "password_hash_not_supported",
            HashError::Internal(_) => "password_hashing_failed",
        }
    }

    /// The sentence an API shows: [`UNSUPPORTED_MESSAGE`] for an unsupported hash.
    pub fn message(&self) -> &'static str {
        match self {
            HashError::Unsupported { .. } => UNSUPPORTED_MESSAGE,
            HashError::Internal(_) => "password hashing failed",
        }
    }
}
