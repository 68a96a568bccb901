//! The hash formats usher verifies as-is: what `hashedPassword` (Zitadel SetPassword, "Modular
//! Crypt Format") may be, and what a stored hash may be.
//!
//! | format | accepted form | limits |
//! |---|---|---|
//! | bcrypt | `$2a$`, `$2b$`, `$2y$` + 2-digit cost + 53 characters (60 in all) | cost 4..=16 |
//! | argon2i, argon2id | PHC: `$argon2id$v=19$m=…,t=…,p=…$<salt>$<hash>`, standard Base64 without padding; `v=16` and `v=19`; no `v=` means version 0x10 (as libargon2 reads it) | m ≤ 1 GiB, t ≤ 64, m·t ≤ 4 GiB, p ≤ 64 |
//! | scrypt | PHC as written by passlib and RustCrypto: `$scrypt$ln=…,r=…,p=…$<salt>$<hash>`, standard Base64 without padding, salt 8..=48 bytes, hash 10..=64 bytes | ln ≤ 20, r ≤ 32, p ≤ 16, 128·r·2^ln ≤ 1 GiB, 2^ln·r·p ≤ 2^23 |
//! | PBKDF2-SHA256, PBKDF2-SHA512 | passlib: `$pbkdf2-sha256$<rounds>$<salt>$<hash>` in passlib's "ab64" (standard Base64 with `.` for `+`, no padding); or RustCrypto PHC: `$pbkdf2-sha256$i=<rounds>[,l=<len>]$<salt>$<hash>` in standard Base64 without padding; a non-empty salt, hash 10..=64 bytes | rounds 1..=10,000,000 |
//! | sha256-crypt, sha512-crypt | `$5$` / `$6$`, optional `rounds=N$`, salt of 1..=16 characters, 43 / 86 hash characters | rounds 1,000..=10,000,000 |
//! | md5-crypt | `$1$` + salt of 0..=8 characters + `$` + 22 hash characters | (fixed cost) |
//!
//! Everything else is [`HashError::Unsupported`], as are argon2d, bcrypt `$2x$`, scrypt's `$7$`
//! form, yescrypt, DES crypt, `$apr1$`, LDAP `{SSHA}` schemes, Django's `pbkdf2_sha256$…` and
//! any string longer than 512 bytes. The limits keep one imported hash from holding a hashing
//! thread for more than a few seconds or taking more than 1 GiB of memory. As in every bcrypt
//! implementation, only the first 72 bytes of a password count for a bcrypt hash.
//!
//! Verification uses the RustCrypto crates (`argon2`, `scrypt`, `pbkdf2`, `sha-crypt`),
//! `bcrypt` and `md5crypt`; this module only parses and bounds the strings. Hashes are compared
//! in constant time.

use std::borrow::Cow;
use std::fmt;

use argon2::password_hash::phc::PasswordHash;
use base64ct::{Base64Pbkdf2, Base64Unpadded, Encoding};
use subtle::ConstantTimeEq;

use super::HashError;
use super::hasher::{CURRENT_M_KIB, CURRENT_OUTPUT_LEN, CURRENT_P, CURRENT_T};

/// Longest hash string accepted at all.
pub const MAX_HASH_LEN: usize = 512;
/// Highest bcrypt cost (2^16 rounds, a few seconds).
pub const MAX_BCRYPT_COST: u32 = 16;
/// Highest argon2 memory cost, in KiB (1 GiB).
pub const MAX_ARGON2_M_KIB: u32 = 1 << 20;
/// Highest argon2 number of passes.
pub const MAX_ARGON2_T: u32 = 64;
/// Highest argon2 memory × passes, in KiB (4 GiB of memory traffic).
pub const MAX_ARGON2_WORK_KIB: u64 = 1 << 22;
/// Highest argon2 parallelism (lanes).
pub const MAX_ARGON2_P: u32 = 64;
/// Highest scrypt log2(N).
pub const MAX_SCRYPT_LOG_N: u8 = 20;
/// Highest scrypt block size r.
pub const MAX_SCRYPT_R: u32 = 32;
/// Highest scrypt parallelism p.
pub const MAX_SCRYPT_P: u32 = 16;
/// Most memory an scrypt hash may need (128·r·N bytes).
pub const MAX_SCRYPT_MEMORY: u64 = 1 << 30;
/// Most work an scrypt hash may need (N·r·p).
pub const MAX_SCRYPT_WORK: u64 = 1 << 23;
/// Highest PBKDF2 iteration count.
pub const MAX_PBKDF2_ROUNDS: u32 = 10_000_000;
/// Highest sha256-crypt / sha512-crypt rounds.
pub const MAX_SHA_CRYPT_ROUNDS: u32 = 10_000_000;
/// Lowest sha-crypt rounds: glibc raises anything lower to this and writes it so.
const MIN_SHA_CRYPT_ROUNDS: u32 = 1_000;
/// Longest PBKDF2 salt (passlib's limit).
const MAX_PBKDF2_SALT: usize = 1024;
/// PBKDF2 output lengths accepted (RustCrypto's bounds; passlib writes 32 or 64).
const PBKDF2_OUTPUT: std::ops::RangeInclusive<usize> = 10..=64;

/// A hash format usher verifies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum HashFormat {
    Bcrypt,
    Argon2i,
    Argon2id,
    Scrypt,
    Pbkdf2Sha256,
    Pbkdf2Sha512,
    Sha256Crypt,
    Sha512Crypt,
    Md5Crypt,
}

impl HashFormat {
    pub const ALL: [HashFormat; 9] = [
        HashFormat::Bcrypt,
        HashFormat::Argon2i,
        HashFormat::Argon2id,
        HashFormat::Scrypt,
        HashFormat::Pbkdf2Sha256,
        HashFormat::Pbkdf2Sha512,
        HashFormat::Sha256Crypt,
        HashFormat::Sha512Crypt,
        HashFormat::Md5Crypt,
    ];

    /// Stable lowercase name.
    pub fn name(self) -> &'static str {
        match self {
            HashFormat::Bcrypt => "bcrypt",
            HashFormat::Argon2i => "argon2i",
            HashFormat::Argon2id => "argon2id",
            HashFormat::Scrypt => "scrypt",
            HashFormat::Pbkdf2Sha256 => "pbkdf2-sha256",
            HashFormat::Pbkdf2Sha512 => "pbkdf2-sha512",
            HashFormat::Sha256Crypt => "sha256-crypt",
            HashFormat::Sha512Crypt => "sha512-crypt",
            HashFormat::Md5Crypt => "md5-crypt",
        }
    }
}

impl fmt::Display for HashFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Whether `hash` is in a format usher verifies, within its limits (see the module
/// documentation). Cheap: parses only, computes nothing.
pub fn check_importable(hash: &str) -> Result<HashFormat, HashError> {
    parse(hash).map(|p| p.format())
}

/// A parsed, bounded hash, ready to verify.
pub(crate) struct Parsed {
    format: HashFormat,
    kind: Kind,
}

enum Kind {
    /// Verified by the `bcrypt` crate from the string.
    Bcrypt,
    Argon2 {
        salt: Vec<u8>,
        expected: Vec<u8>,
        algorithm: argon2::Algorithm,
        version: argon2::Version,
        params: argon2::Params,
    },
    Scrypt {
        salt: Vec<u8>,
        expected: Vec<u8>,
        params: scrypt::Params,
    },
    Pbkdf2 {
        rounds: u32,
        salt: Vec<u8>,
        expected: Vec<u8>,
    },
    /// Verified by the `sha-crypt` crate from the string.
    ShaCrypt,
    Md5Crypt {
        salt: String,
    },
}

impl Parsed {
    pub(crate) fn format(&self) -> HashFormat {
        self.format
    }

    /// Whether a valid password should be re-hashed: anything but argon2id v19 at exactly the
    /// current parameters.
    pub(crate) fn needs_rehash(&self) -> bool {
        match &self.kind {
            Kind::Argon2 {
                algorithm,
                version,
                params,
                ..
            } => {
                !(*algorithm == argon2::Algorithm::Argon2id
                    && *version == argon2::Version::V0x13
                    && params.m_cost() == CURRENT_M_KIB
                    && params.t_cost() == CURRENT_T
                    && params.p_cost() == CURRENT_P
                    && params.output_len() == Some(CURRENT_OUTPUT_LEN)
                    && params.keyid().is_empty()
                    && params.data().is_empty())
            }
            _ => true,
        }
    }

    /// Computes the hash of `password` and compares it with `stored` (the string this was parsed
    /// from) in constant time. CPU-heavy: call on a blocking thread.
    pub(crate) fn verify(&self, password: &[u8], stored: &str) -> Result<bool, HashError> {
        match &self.kind {
            Kind::Bcrypt => bcrypt::verify(password, stored)
                .map_err(|_| HashError::internal("bcrypt verification failed")),
            Kind::Argon2 {
                salt,
                expected,
                algorithm,
                version,
                params,
            } => {
                let mut out = zeroed(expected.len());
                argon2::Argon2::new(*algorithm, *version, params.clone())
                    .hash_password_into(password, salt, &mut out)
                    .map_err(|_| HashError::internal("argon2 verification failed"))?;
                Ok(bool::from(out.ct_eq(expected)))
            }
            Kind::Scrypt {
                salt,
                expected,
                params,
            } => {
                let mut out = zeroed(expected.len());
                scrypt::scrypt(password, salt, params, &mut out)
                    .map_err(|_| HashError::internal("scrypt verification failed"))?;
                Ok(bool::from(out.ct_eq(expected)))
            }
            Kind::Pbkdf2 {
                rounds,
                salt,
                expected,
            } => {
                let mut out = zeroed(expected.len());
                if self.format == HashFormat::Pbkdf2Sha512 {
                    pbkdf2::pbkdf2_hmac::<pbkdf2::sha2::Sha512>(password, salt, *rounds, &mut out);
                } else {
                    pbkdf2::pbkdf2_hmac::<pbkdf2::sha2::Sha256>(password, salt, *rounds, &mut out);
                }
                Ok(bool::from(out.ct_eq(expected)))
            }
            Kind::ShaCrypt => {
                use sha_crypt::{PasswordVerifier, ShaCrypt, password_hash::Error};
                // The algorithm comes from the string's `$5$` / `$6$`.
                match ShaCrypt::SHA512.verify_password(password, stored) {
                    Ok(()) => Ok(true),
                    Err(Error::PasswordInvalid) => Ok(false),
                    Err(_) => Err(HashError::internal("sha-crypt verification failed")),
                }
            }
            Kind::Md5Crypt { salt } => {
                let computed =
                    zeroize::Zeroizing::new(md5crypt::md5crypt(password, salt.as_bytes()));
                Ok(bool::from(computed.as_slice().ct_eq(stored.as_bytes())))
            }
        }
    }
}

fn zeroed(len: usize) -> zeroize::Zeroizing<Vec<u8>> {
    zeroize::Zeroizing::new(vec![0u8; len])
}

fn unsupported(reason: impl Into<Cow<'static, str>>) -> HashError {
    HashError::unsupported(reason)
}

/// Parses and bounds a hash string. Error reasons never repeat the string.
pub(crate) fn parse(s: &str) -> Result<Parsed, HashError> {
    if s.is_empty() {
        return Err(unsupported("the hash is empty"));
    }
    if s.len() > MAX_HASH_LEN {
        return Err(unsupported("the hash is longer than any supported format"));
    }
    let Some(rest) = s.strip_prefix('$') else {
        return Err(unsupported(
            "not a Modular Crypt Format hash (those start with `$`)",
        ));
    };
    let id = rest.split('$').next().unwrap_or_default();
    match id {
        "2a" | "2b" | "2y" => parse_bcrypt(s),
        "2x" => Err(unsupported(
            "bcrypt `$2x$` (the variant for hashes made by the buggy pre-2011 crypt_blowfish) is not supported",
        )),
        "argon2i" | "argon2id" => parse_argon2(s),
        "argon2d" => Err(unsupported(
            "argon2d is not supported (argon2i and argon2id are)",
        )),
        "scrypt" => parse_scrypt(s),
        "7" => Err(unsupported(
            "scrypt in the `$7$` form is not supported (the PHC form `$scrypt$ln=…,r=…,p=…$…` is)",
        )),
        "pbkdf2-sha256" => parse_pbkdf2(s, HashFormat::Pbkdf2Sha256),
        "pbkdf2-sha512" => parse_pbkdf2(s, HashFormat::Pbkdf2Sha512),
        "5" => parse_sha_crypt(s, HashFormat::Sha256Crypt),
        "6" => parse_sha_crypt(s, HashFormat::Sha512Crypt),
        "1" => parse_md5_crypt(s),
        _ => Err(unsupported("unknown hash format")),
    }
}

/// The alphabet of crypt(3)'s Base64 (bcrypt uses the same characters in another order).
fn is_crypt64(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'.' || c == b'/'
}

fn parse_bcrypt(s: &str) -> Result<Parsed, HashError> {
    let b = s.as_bytes();
    if b.len() != 60 {
        return Err(unsupported("a bcrypt hash has exactly 60 characters"));
    }
    if b[6] != b'$' || !b[4].is_ascii_digit() || !b[5].is_ascii_digit() {
        return Err(unsupported(
            "malformed bcrypt hash: expected `$2b$<2-digit cost>$`",
        ));
    }
    let cost = u32::from(b[4] - b'0') * 10 + u32::from(b[5] - b'0');
    if !(4..=MAX_BCRYPT_COST).contains(&cost) {
        return Err(unsupported(format!(
            "bcrypt cost {cost} is outside the supported range 4..={MAX_BCRYPT_COST}"
        )));
    }
    if !b[7..].iter().all(|&c| is_crypt64(c)) {
        return Err(unsupported(
            "malformed bcrypt hash: bad salt or hash characters",
        ));
    }
    Ok(Parsed {
        format: HashFormat::Bcrypt,
        kind: Kind::Bcrypt,
    })
}

fn parse_argon2(s: &str) -> Result<Parsed, HashError> {
    let hash = PasswordHash::new(s).map_err(|_| unsupported("malformed argon2 PHC string"))?;
    let (format, algorithm) = match hash.algorithm.as_str() {
        "argon2id" => (HashFormat::Argon2id, argon2::Algorithm::Argon2id),
        "argon2i" => (HashFormat::Argon2i, argon2::Algorithm::Argon2i),
        _ => return Err(unsupported("unknown argon2 variant")),
    };
    let version = match hash.version {
        // libargon2 reads a hash without `v=` as version 1.0 (its encoding before 1.3).
        None | Some(0x10) => argon2::Version::V0x10,
        Some(0x13) => argon2::Version::V0x13,
        Some(_) => {
            return Err(unsupported(
                "unknown argon2 version (16 and 19 are supported)",
            ));
        }
    };
    let (Some(salt), Some(expected)) = (&hash.salt, &hash.hash) else {
        return Err(unsupported("an argon2 hash needs a salt and a hash"));
    };
    let params =
        argon2::Params::try_from(&hash).map_err(|_| unsupported("invalid argon2 parameters"))?;
    let (m, t, p) = (params.m_cost(), params.t_cost(), params.p_cost());
    if m > MAX_ARGON2_M_KIB {
        return Err(unsupported(format!(
            "argon2 memory m={m} KiB is above the limit of {MAX_ARGON2_M_KIB} KiB (1 GiB)"
        )));
    }
    if t > MAX_ARGON2_T {
        return Err(unsupported(format!(
            "argon2 passes t={t} is above the limit of {MAX_ARGON2_T}"
        )));
    }
    if u64::from(m) * u64::from(t) > MAX_ARGON2_WORK_KIB {
        return Err(unsupported(format!(
            "argon2 work m·t={} KiB is above the limit of {MAX_ARGON2_WORK_KIB} KiB",
            u64::from(m) * u64::from(t)
        )));
    }
    if p > MAX_ARGON2_P {
        return Err(unsupported(format!(
            "argon2 parallelism p={p} is above the limit of {MAX_ARGON2_P}"
        )));
    }
    Ok(Parsed {
        format,
        kind: Kind::Argon2 {
            salt: salt.as_ref().to_vec(),
            expected: expected.as_bytes().to_vec(),
            algorithm,
            version,
            params,
        },
    })
}

fn parse_scrypt(s: &str) -> Result<Parsed, HashError> {
    let hash = PasswordHash::new(s).map_err(|_| {
        unsupported(
            "malformed scrypt PHC string (standard Base64 without padding, salt 8..=48 bytes)",
        )
    })?;
    if hash.version.is_some() {
        return Err(unsupported("scrypt hashes have no version field"));
    }
    let (Some(salt), Some(expected)) = (&hash.salt, &hash.hash) else {
        return Err(unsupported("an scrypt hash needs a salt and a hash"));
    };
    let params =
        scrypt::Params::try_from(&hash).map_err(|_| unsupported("invalid scrypt parameters"))?;
    let (log_n, r, p) = (params.log_n(), params.r(), params.p());
    if log_n > MAX_SCRYPT_LOG_N {
        return Err(unsupported(format!(
            "scrypt ln={log_n} is above the limit of {MAX_SCRYPT_LOG_N}"
        )));
    }
    if r > MAX_SCRYPT_R || p > MAX_SCRYPT_P {
        return Err(unsupported(format!(
            "scrypt r={r}, p={p} are above the limits r ≤ {MAX_SCRYPT_R}, p ≤ {MAX_SCRYPT_P}"
        )));
    }
    let n = 1u64 << log_n;
    if 128 * u64::from(r) * n > MAX_SCRYPT_MEMORY {
        return Err(unsupported(
            "scrypt memory 128·r·N is above the limit of 1 GiB",
        ));
    }
    if n * u64::from(r) * u64::from(p) > MAX_SCRYPT_WORK {
        return Err(unsupported("scrypt work N·r·p is above the limit of 2^23"));
    }
    Ok(Parsed {
        format: HashFormat::Scrypt,
        kind: Kind::Scrypt {
            salt: salt.as_ref().to_vec(),
            expected: expected.as_bytes().to_vec(),
            params,
        },
    })
}

fn parse_decimal(s: &str) -> Option<u32> {
    if s.is_empty() || s.len() > 10 || !s.bytes().all(|c| c.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

fn parse_pbkdf2(s: &str, format: HashFormat) -> Result<Parsed, HashError> {
    // `$pbkdf2-sha256$` `<params>` `$` `<salt>` `$` `<hash>`
    let fields: Vec<&str> = s.split('$').skip(2).collect();
    let [params, salt, hash] = fields[..] else {
        return Err(unsupported(
            "malformed PBKDF2 hash: expected `$pbkdf2-<digest>$<rounds>$<salt>$<hash>`",
        ));
    };
    // passlib writes a bare number of rounds and its "ab64"; the PHC form has `i=` and B64.
    let (rounds, length, passlib) = if let Some(rounds) = parse_decimal(params) {
        (rounds, None, true)
    } else {
        let mut rounds = None;
        let mut length = None;
        for pair in params.split(',') {
            match pair.split_once('=') {
                Some(("i", v)) if rounds.is_none() => rounds = parse_decimal(v),
                Some(("l", v)) if length.is_none() => length = parse_decimal(v),
                _ => {
                    return Err(unsupported(
                        "malformed PBKDF2 parameters (expected `i=<rounds>,l=<length>`)",
                    ));
                }
            }
        }
        let Some(rounds) = rounds else {
            return Err(unsupported("malformed PBKDF2 parameters: no rounds"));
        };
        (rounds, length, false)
    };
    if !(1..=MAX_PBKDF2_ROUNDS).contains(&rounds) {
        return Err(unsupported(format!(
            "PBKDF2 rounds {rounds} are outside the supported range 1..={MAX_PBKDF2_ROUNDS}"
        )));
    }
    let decode = |field: &str| {
        if passlib {
            Base64Pbkdf2::decode_vec(field)
        } else {
            Base64Unpadded::decode_vec(field)
        }
    };
    let bad_encoding = || {
        unsupported(if passlib {
            "malformed PBKDF2 hash: salt and hash must be passlib's ab64 (Base64 with `.` for `+`, no padding)"
        } else {
            "malformed PBKDF2 hash: salt and hash must be standard Base64 without padding"
        })
    };
    let salt = decode(salt).map_err(|_| bad_encoding())?;
    let expected = decode(hash).map_err(|_| bad_encoding())?;
    if salt.is_empty() || salt.len() > MAX_PBKDF2_SALT {
        return Err(unsupported("PBKDF2 salt must have 1..=1024 bytes"));
    }
    if !PBKDF2_OUTPUT.contains(&expected.len()) {
        return Err(unsupported("PBKDF2 hash must have 10..=64 bytes"));
    }
    if length.is_some_and(|l| l as usize != expected.len()) {
        return Err(unsupported("PBKDF2 `l=` does not match the hash length"));
    }
    Ok(Parsed {
        format,
        kind: Kind::Pbkdf2 {
            rounds,
            salt,
            expected,
        },
    })
}

fn parse_sha_crypt(s: &str, format: HashFormat) -> Result<Parsed, HashError> {
    // `$5$` [`rounds=N$`] `<salt>` `$` `<hash>`
    let fields: Vec<&str> = s.split('$').skip(2).collect();
    let (rounds, salt, hash) = match fields[..] {
        [r, salt, hash] if r.starts_with("rounds=") => (Some(&r["rounds=".len()..]), salt, hash),
        [salt, hash] => (None, salt, hash),
        _ => {
            return Err(unsupported(
                "malformed sha-crypt hash: expected `$5$[rounds=N$]<salt>$<hash>`",
            ));
        }
    };
    if let Some(rounds) = rounds {
        let Some(rounds) = parse_decimal(rounds) else {
            return Err(unsupported("malformed sha-crypt rounds"));
        };
        if !(MIN_SHA_CRYPT_ROUNDS..=MAX_SHA_CRYPT_ROUNDS).contains(&rounds) {
            return Err(unsupported(format!(
                "sha-crypt rounds {rounds} are outside the supported range \
                 {MIN_SHA_CRYPT_ROUNDS}..={MAX_SHA_CRYPT_ROUNDS}"
            )));
        }
    }
    // The characters the `sha-crypt` crate's parser takes (crypt(3) salts use `./0-9A-Za-z`).
    let salt_ok = |c: u8| is_crypt64(c) || matches!(c, b'+' | b'=' | b',' | b'-');
    if salt.is_empty() || salt.len() > 16 || !salt.bytes().all(salt_ok) {
        return Err(unsupported(
            "sha-crypt salt must have 1..=16 characters of `./0-9A-Za-z`",
        ));
    }
    let hash_len = if format == HashFormat::Sha256Crypt {
        43
    } else {
        86
    };
    if hash.len() != hash_len || !hash.bytes().all(is_crypt64) {
        return Err(unsupported(format!(
            "malformed sha-crypt hash: the hash part has {hash_len} characters of `./0-9A-Za-z`"
        )));
    }
    sha_crypt::PasswordHashRef::new(s).map_err(|_| unsupported("malformed sha-crypt hash"))?;
    Ok(Parsed {
        format,
        kind: Kind::ShaCrypt,
    })
}

fn parse_md5_crypt(s: &str) -> Result<Parsed, HashError> {
    // `$1$` `<salt: 0..=8>` `$` `<22 characters>`
    let fields: Vec<&str> = s.split('$').skip(2).collect();
    let [salt, hash] = fields[..] else {
        return Err(unsupported(
            "malformed md5-crypt hash: expected `$1$<salt>$<hash>`",
        ));
    };
    if salt.len() > 8 || !salt.bytes().all(|c| c.is_ascii_graphic() && c != b':') {
        return Err(unsupported(
            "md5-crypt salt must have at most 8 printable characters",
        ));
    }
    if hash.len() != 22 || !hash.bytes().all(is_crypt64) {
        return Err(unsupported(
            "malformed md5-crypt hash: the hash part has 22 characters of `./0-9A-Za-z`",
        ));
    }
    Ok(Parsed {
        format: HashFormat::Md5Crypt,
        kind: Kind::Md5Crypt {
            salt: salt.to_owned(),
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::password::{Hasher, Verified};

    /// `format \t tool \t password \t hash` lines from testdata/vectors.txt.
    fn vectors() -> Vec<[&'static str; 4]> {
        include_str!("testdata/vectors.txt")
            .lines()
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
            .map(|l| {
                let cols: Vec<&str> = l.split('\t').collect();
                assert_eq!(cols.len(), 4, "bad vector line: {l}");
                [cols[0], cols[1], cols[2], cols[3]]
            })
            .collect()
    }

    fn format_named(name: &str) -> HashFormat {
        HashFormat::ALL
            .into_iter()
            .find(|f| f.name() == name)
            .unwrap_or_else(|| panic!("no format {name}"))
    }

    /// Wrong passwords: one character changed at the start (so even bcrypt's 72-byte window
    /// sees it), one character added, and the empty password.
    fn wrong_passwords(pw: &str) -> Vec<String> {
        let mut first_changed: String = if pw.starts_with('x') {
            "y".into()
        } else {
            "x".into()
        };
        first_changed.extend(pw.chars().skip(1));
        let mut wrong = vec![first_changed, String::new()];
        if pw.len() < 72 {
            wrong.push(format!("{pw}!"));
        }
        wrong
    }

    /// Every vector made by an independent tool verifies with its password, fails with wrong
    /// ones, and is importable as its format; the unsupported ones are refused.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn independent_vectors_verify() {
        let hasher = Hasher::new(2);
        let all = vectors();
        let mut seen = std::collections::HashSet::new();
        let mut jobs = Vec::new();
        for [fmt, tool, pw, hash] in all.iter().copied() {
            if fmt == "unsupported" {
                let e = check_importable(hash).unwrap_err();
                assert!(matches!(e, HashError::Unsupported { .. }), "{tool}: {e}");
                assert!(hasher.verify(pw, hash).await.is_err(), "{tool}");
                continue;
            }
            let format = format_named(fmt);
            seen.insert(format);
            assert_eq!(check_importable(hash), Ok(format), "{tool}: {hash}");
            let current = hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$");
            let h = hasher.clone();
            jobs.push(tokio::spawn(async move {
                assert_eq!(
                    h.verify(pw, hash).await,
                    Ok(Verified::Valid {
                        needs_rehash: !current
                    }),
                    "{tool}: right password must verify: {hash}"
                );
                for wrong in wrong_passwords(pw) {
                    assert_eq!(
                        h.verify(&wrong, hash).await,
                        Ok(Verified::Invalid),
                        "{tool}: wrong password {wrong:?} must fail: {hash}"
                    );
                }
            }));
        }
        for j in jobs {
            j.await.unwrap();
        }
        // Every format has at least one independent vector.
        for f in HashFormat::ALL {
            assert!(seen.contains(&f), "no vector for {f}");
        }
        assert!(hasher.peak_running() <= 2);
    }

    #[test]
    fn bcrypt_uses_the_first_72_bytes_like_every_bcrypt() {
        let [_, _, pw, hash] = vectors()
            .into_iter()
            .find(|v| v[0] == "bcrypt" && v[2].len() == 72)
            .unwrap();
        let longer = format!("{pw}and-more");
        let parsed = parse(hash).unwrap();
        assert!(parsed.verify(longer.as_bytes(), hash).unwrap());
    }

    fn reason(hash: &str) -> String {
        match check_importable(hash) {
            Err(HashError::Unsupported { reason }) => reason.into_owned(),
            other => panic!("{hash} should be unsupported, got {other:?}"),
        }
    }

    #[test]
    fn absurd_costs_are_refused_with_a_reason() {
        // bcrypt: cost digits changed from a real vector (salt and hash stay well-formed).
        let bcrypt_hash = "$2b$10$DvRtqccYQXvaNF9YMKtS1ey5O6Tq0QJjDO.epnBbbpDbR12T0OuzG";
        assert_eq!(check_importable(bcrypt_hash), Ok(HashFormat::Bcrypt));
        assert_eq!(
            check_importable(&bcrypt_hash.replace("$10$", "$16$")),
            Ok(HashFormat::Bcrypt)
        );
        assert!(reason(&bcrypt_hash.replace("$10$", "$17$")).contains("bcrypt cost 17"));
        assert!(reason(&bcrypt_hash.replace("$10$", "$31$")).contains("bcrypt cost 31"));
        assert!(reason(&bcrypt_hash.replace("$10$", "$03$")).contains("bcrypt cost 3"));

        let argon = "$argon2id$v=19$m=65536,t=3,p=4$lJD02nT2Zb/0YzVCKdkz3A$9kfNFqyMLST+Q6W9gSiy0IQYx6Z6pSj9oCdHhYqylUA";
        assert_eq!(check_importable(argon), Ok(HashFormat::Argon2id));
        assert_eq!(
            check_importable(&argon.replace("m=65536", "m=1048576").replace("t=3", "t=4")),
            Ok(HashFormat::Argon2id)
        );
        assert!(reason(&argon.replace("m=65536", "m=1048577")).contains("argon2 memory"));
        assert!(reason(&argon.replace("m=65536", "m=4294967295")).contains("argon2 memory"));
        assert!(reason(&argon.replace("t=3", "t=65")).contains("argon2 passes"));
        assert!(
            reason(&argon.replace("m=65536", "m=1048576").replace("t=3", "t=5"))
                .contains("argon2 work")
        );
        assert!(reason(&argon.replace("p=4", "p=65")).contains("argon2 parallelism"));

        let scrypt_hash = "$scrypt$ln=16,r=8,p=1$5ryX0hrDWKv1vheCMAbg3A$mWPFZM22bwbAz4KEKLXQ3oDmKaAmN9eskuH9BZKU2TM";
        assert_eq!(check_importable(scrypt_hash), Ok(HashFormat::Scrypt));
        assert_eq!(
            check_importable(&scrypt_hash.replace("ln=16", "ln=20")),
            Ok(HashFormat::Scrypt)
        );
        assert!(reason(&scrypt_hash.replace("ln=16", "ln=21")).contains("scrypt ln=21"));
        assert!(reason(&scrypt_hash.replace("ln=16", "ln=63")).contains("scrypt"));
        assert!(reason(&scrypt_hash.replace("r=8", "r=33")).contains("r=33"));
        assert!(
            reason(&scrypt_hash.replace("ln=16", "ln=20").replace("r=8", "r=9")).contains("memory")
        );
        assert!(
            reason(&scrypt_hash.replace("ln=16", "ln=20").replace("p=1", "p=2")).contains("work")
        );

        let pbkdf2_hash = "$pbkdf2-sha256$29000$mHNOSanVujdGqNWaU2qtlQ$H8watjrDhWys6gY8273TloK3d2G9.kHKWEPBpk8iZBs";
        assert_eq!(check_importable(pbkdf2_hash), Ok(HashFormat::Pbkdf2Sha256));
        assert_eq!(
            check_importable(&pbkdf2_hash.replace("$29000$", "$10000000$")),
            Ok(HashFormat::Pbkdf2Sha256)
        );
        assert!(reason(&pbkdf2_hash.replace("$29000$", "$10000001$")).contains("PBKDF2 rounds"));
        assert!(reason(&pbkdf2_hash.replace("$29000$", "$4294967295$")).contains("PBKDF2 rounds"));
        assert!(reason(&pbkdf2_hash.replace("$29000$", "$99999999999$")).contains("PBKDF2"));
        assert!(reason(&pbkdf2_hash.replace("$29000$", "$0$")).contains("PBKDF2 rounds"));
        let phc = "$pbkdf2-sha256$i=10000,l=32$mxD7ruXqP/G8ZP/ZVu8IgQ$KxpUxaNtD+gyjPUlgolOE1Vc2YNyMYUAv2AzBGjrx10";
        assert_eq!(check_importable(phc), Ok(HashFormat::Pbkdf2Sha256));
        assert!(reason(&phc.replace("i=10000", "i=20000000")).contains("PBKDF2 rounds"));
        assert!(reason(&phc.replace("l=32", "l=31")).contains("l="));

        let sha = "$6$rounds=20000$7Ek9.JOVAK2TWZzx$xAFgijXK01tLHqwN9pPWBNRoc382SPYq4QdN7XKENWaqNtgJk1WAwT8qTvp9nW3.ksvpQIVn75qarmr2Ig1.d0";
        assert_eq!(check_importable(sha), Ok(HashFormat::Sha512Crypt));
        assert_eq!(
            check_importable(&sha.replace("=20000$", "=10000000$")),
            Ok(HashFormat::Sha512Crypt)
        );
        assert!(reason(&sha.replace("=20000$", "=10000001$")).contains("sha-crypt rounds"));
        assert!(reason(&sha.replace("=20000$", "=999999999$")).contains("sha-crypt rounds"));
        assert!(reason(&sha.replace("=20000$", "=999$")).contains("sha-crypt rounds"));
    }

    #[test]
    fn malformed_and_foreign_hashes_are_refused() {
        for h in [
            "",
            "password",
            " $2b$10$DvRtqccYQXvaNF9YMKtS1ey5O6Tq0QJjDO.epnBbbpDbR12T0OuzG",
            "$2b$10$DvRtqccYQXvaNF9YMKtS1ey5O6Tq0QJjDO.epnBbbpDbR12T0OuzG ",
            "$2b$10$DvRtqccYQXvaNF9YMKtS1ey5O6Tq0QJjDO.epnBbbpDbR12T0Ouz",
            "$2b$1a$DvRtqccYQXvaNF9YMKtS1ey5O6Tq0QJjDO.epnBbbpDbR12T0OuzG",
            "$2b$10$DvRtqccYQXvaNF9YMKtS1ey5O6Tq0QJjDO.epnBbbpDbR12T0Ou!G",
            "$2x$10$DvRtqccYQXvaNF9YMKtS1ey5O6Tq0QJjDO.epnBbbpDbR12T0OuzG",
            "$2$10$DvRtqccYQXvaNF9YMKtS1ey5O6Tq0QJjDO.epnBbbpDbR12T0OuzGx",
            "$argon2id$v=19$m=65536,t=3,p=4$lJD02nT2Zb/0YzVCKdkz3A",
            "$argon2id$v=18$m=65536,t=3,p=4$lJD02nT2Zb/0YzVCKdkz3A$9kfNFqyMLST+Q6W9gSiy0IQYx6Z6pSj9oCdHhYqylUA",
            "$argon2id$v=19$m=65536,t=3,p=4$lJD02nT2Zb/0YzVCKdkz3A==$9kfNFqyMLST+Q6W9gSiy0IQYx6Z6pSj9oCdHhYqylUA",
            "$scrypt$ln=16,r=8,p=1$5ryX0hrDWKv1vheCMAbg3A",
            "$scrypt$v=1$ln=16,r=8,p=1$5ryX0hrDWKv1vheCMAbg3A$mWPFZM22bwbAz4KEKLXQ3oDmKaAmN9eskuH9BZKU2TM",
            "$pbkdf2-sha256$29000$mHNOSanVujdGqNWaU2qtlQ",
            "$pbkdf2-sha256$$mHNOSanVujdGqNWaU2qtlQ$H8watjrDhWys6gY8273TloK3d2G9.kHKWEPBpk8iZBs",
            "$pbkdf2-sha256$29000$$H8watjrDhWys6gY8273TloK3d2G9.kHKWEPBpk8iZBs",
            "$pbkdf2-sha256$29000$mHNOSanVujdGqNWaU2qtlQ$H8watjrD",
            "$pbkdf2-sha256$x=1$mHNOSanVujdGqNWaU2qtlQ$H8watjrDhWys6gY8273TloK3d2G9.kHKWEPBpk8iZBs",
            "$pbkdf2-sha1$29000$mHNOSanVujdGqNWaU2qtlQ$H8watjrDhWys6gY8273TloK3d2G9",
            "$5$rounds=abc$salt$2b2twbZGEUFnt.vs1pJbATcHlUMSv5u3pUfUd0MYD26",
            "$5$$2b2twbZGEUFnt.vs1pJbATcHlUMSv5u3pUfUd0MYD26",
            "$5$0123456789abcdefg$2b2twbZGEUFnt.vs1pJbATcHlUMSv5u3pUfUd0MYD26",
            "$5$ab$2b2twbZGEUFnt.vs1pJbATcHlUMSv5u3pUfUd0MYD2",
            "$6$ab$2b2twbZGEUFnt.vs1pJbATcHlUMSv5u3pUfUd0MYD26",
            "$1$123456789$NDXkBKmpRY8Sur7ZnhDms1",
            "$1$MXJz7yaa$NDXkBKmpRY8Sur7ZnhDms",
            "$1$MXJz7yaa$NDXkBKmpRY8Sur7ZnhDms1$",
            "$apr1$M.I51nFa$WrpVFqloVNY0SVqKiYVh2.",
            "$y$j9T$GFKxkYWGNZ3SD5P3iEQQ6.$.YPAzShaMi9BAH615JaPiGnfTKZ6PTEerM/mF8jD7Y1",
            "$",
            "$$$",
        ] {
            assert!(
                matches!(check_importable(h), Err(HashError::Unsupported { .. })),
                "{h:?} should be unsupported"
            );
        }
        let long = format!("$2b$10${}", "a".repeat(600));
        assert!(reason(&long).contains("longer"));
    }

    #[test]
    fn reasons_never_repeat_the_hash() {
        let salt_and_hash = "DvRtqccYQXvaNF9YMKtS1ey5O6Tq0QJjDO.epnBbbpDbR12T0OuzG";
        for h in [
            format!("$2b$17${salt_and_hash}"),
            format!("$2x$10${salt_and_hash}"),
            format!("$zz${salt_and_hash}"),
        ] {
            let e = check_importable(&h).unwrap_err();
            assert!(!e.to_string().contains(salt_and_hash), "{e}");
            assert!(!format!("{e:?}").contains(salt_and_hash), "{e:?}");
        }
    }

    #[test]
    fn passlib_ab64_and_phc_b64_are_both_read() {
        // The same key in both encodings: passlib ab64 uses '.' where B64 uses '+'.
        let vs = vectors();
        let passlib = vs
            .iter()
            .find(|v| v[0] == "pbkdf2-sha256" && v[3].contains('.') && !v[3].contains("i="))
            .unwrap();
        let Kind::Pbkdf2 {
            rounds,
            salt,
            expected,
        } = parse(passlib[3]).unwrap().kind
        else {
            panic!("not pbkdf2");
        };
        let phc = format!(
            "$pbkdf2-sha256$i={rounds},l={}${}${}",
            expected.len(),
            Base64Unpadded::encode_string(&salt),
            Base64Unpadded::encode_string(&expected)
        );
        assert!(phc.contains('+'), "{phc}");
        let again = parse(&phc).unwrap();
        assert!(again.verify(passlib[2].as_bytes(), &phc).unwrap());
        assert!(!again.verify(b"not the password", &phc).unwrap());
        // The PHC form may leave out `l=` (the hash's own length counts).
        let no_l = phc.replacen(&format!(",l={}", expected.len()), "", 1);
        assert!(
            parse(&no_l)
                .unwrap()
                .verify(passlib[2].as_bytes(), &no_l)
                .unwrap()
        );
    }

    #[test]
    fn format_names_are_stable() {
        let names: Vec<&str> = HashFormat::ALL.iter().map(|f| f.name()).collect();
        assert_eq!(
            names,
            [
                "bcrypt",
                "argon2i",
                "argon2id",
                "scrypt",
                "pbkdf2-sha256",
                "pbkdf2-sha512",
                "sha256-crypt",
                "sha512-crypt",
                "md5-crypt"
            ]
        );
    }
}
