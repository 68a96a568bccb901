//! Secrets, codes and their hashes. Credentials and one-time codes are stored only as SHA-256
//! hashes; the secret itself is shown once.

use sha2::{Digest, Sha256};

/// A new credential secret in lowercase UUID v4 text form (122 random bits), the shape Bold
/// clients expect (`b5850315-ddba-4d87-ad09-57f42c10636f`).
pub fn new_secret() -> String {
    uuid::Uuid::new_v4().hyphenated().to_string()
}

/// A new invitation token (UUID v4 text).
pub fn new_token() -> String {
    new_secret()
}

/// A stable message id for the outbox.
pub fn new_message_id() -> String {
    new_secret()
}

/// Hex SHA-256 of a secret: the only form in which credentials and codes are stored.
pub fn hash_secret(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

const CODE_ALPHABET: &[u8; 36] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";

/// A one-time code of `len` characters from `A-Z0-9`, uniformly drawn from the OS CSPRNG.
pub fn new_code(len: usize) -> String {
    let mut out = String::with_capacity(len);
    let mut buf = [0u8; 32];
    while out.len() < len {
        // The OS random source failing is not recoverable; a code must never be predictable.
        getrandom::fill(&mut buf).expect("the operating system's random source failed");
        for &b in &buf {
            // 252 = 7 * 36: rejection sampling keeps every character equally likely.
            if b < 252 && out.len() < len {
                out.push(CODE_ALPHABET[(b % 36) as usize] as char);
            }
        }
    }
    out
}

/// Codes compare case-insensitively (people type them).
pub fn hash_code(code: &str) -> String {
    hash_secret(&code.trim().to_ascii_uppercase())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn secrets_look_like_uuids_and_differ() {
        let a = new_secret();
        assert_eq!(a.len(), 36);
        assert_eq!(uuid::Uuid::parse_str(&a).unwrap().get_version_num(), 4);
        assert_eq!(a, a.to_lowercase());
        assert_ne!(a, new_secret());
    }

    #[test]
    fn hashes_are_sha256_hex() {
        assert_eq!(
            hash_secret("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn codes_use_the_alphabet() {
        let mut seen = HashSet::new();
        for _ in 0..200 {
            let c = new_code(6);
            assert_eq!(c.len(), 6);
            assert!(c.bytes().all(|b| CODE_ALPHABET.contains(&b)), "{c}");
            seen.insert(c);
        }
        assert!(seen.len() > 190, "codes repeat too often");
        assert_eq!(hash_code(" ab12cd "), hash_code("AB12CD"));
    }
}
