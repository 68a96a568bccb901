//! The password policy: length and a list of common passwords, nothing else.
//!
//! - Length is counted in Unicode scalar values (Rust `char`s), on the password exactly as given:
//!   no trimming, no Unicode normalization, no case folding. "é" typed as one precomposed
//!   character counts 1, typed as "e" + combining accent counts 2. Whitespace counts.
//! - At least [`MIN_CHARS`] and at most [`MAX_CHARS`]; no composition rules (no "one digit, one
//!   symbol"), and the password is never truncated: every character is hashed.
//! - A password equal to an entry of the common-password list, compared case-insensitively
//!   (Unicode lowercase of the password against the lowercase list), is refused. The list is
//!   compiled into the binary from `crates/core/data/common-passwords.txt` (see
//!   `scripts/update-common-passwords` for its source and license) and loaded into a hash set on
//!   first use.

use std::collections::HashSet;
use std::sync::LazyLock;

use zeroize::Zeroizing;

/// Fewest characters (Unicode scalar values) a password may have.
pub const MIN_CHARS: usize = 8;
/// Most characters (Unicode scalar values) a password may have.
pub const MAX_CHARS: usize = 1024;

/// The raw list: comment lines start with `#`, then one lowercase password per line.
const COMMON_PASSWORDS_FILE: &str = include_str!("../../data/common-passwords.txt");

static COMMON_PASSWORDS: LazyLock<HashSet<&'static str>> = LazyLock::new(|| {
    COMMON_PASSWORDS_FILE
        .lines()
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .collect()
});

/// Why a password is refused. Messages never repeat the password.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum PolicyError {
    /// Fewer than [`MIN_CHARS`] characters.
    #[error("password too short")]
    TooShort,
    /// More than [`MAX_CHARS`] characters.
    #[error("password too long")]
    TooLong,
    /// On the list of common passwords.
    #[error("password too common")]
    Common,
}

impl PolicyError {
    /// Stable machine-readable code.
    pub fn code(&self) -> &'static str {
        match self {
            PolicyError::TooShort => "password_too_short",
            PolicyError::TooLong => "password_too_long",
            PolicyError::Common => "password_common",
        }
    }

    /// A sentence for people, in English.
    pub fn message(&self) -> &'static str {
        match self {
            PolicyError::TooShort => "The password must be at least 8 characters long",
            PolicyError::TooLong => "The password must be at most 1024 characters long",
            PolicyError::Common => {
                "This password is one of the most commonly used passwords; choose another one"
            }
        }
    }
}

/// Checks a new password against the policy (see the module documentation). The checks run in
/// the order length, then commonness.
pub fn check_policy(password: &str) -> Result<(), PolicyError> {
    // Counting stops just past the maximum, so a huge input costs no more than a long password.
    let chars = password.chars().take(MAX_CHARS + 1).count();
    if chars < MIN_CHARS {
        return Err(PolicyError::TooShort);
    }
    if chars > MAX_CHARS {
        return Err(PolicyError::TooLong);
    }
    if is_common(password) {
        return Err(PolicyError::Common);
    }
    Ok(())
}

/// Whether the password, lowercased, is on the common-password list.
pub fn is_common(password: &str) -> bool {
    let lower = Zeroizing::new(password.to_lowercase());
    COMMON_PASSWORDS.contains(lower.as_str())
}

/// How many passwords the compiled-in list holds.
pub fn common_password_count() -> usize {
    COMMON_PASSWORDS.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn length_boundaries_count_characters() {
        // Made-up strings that are on no list.
        assert_eq!(check_policy("Zq7#kWp"), Err(PolicyError::TooShort)); // 7
        assert_eq!(check_policy("Zq7#kWpx"), Ok(())); // 8
        assert_eq!(check_policy(""), Err(PolicyError::TooShort));
        let base = "Zq7#kWp-";
        let at_max = base.repeat(MAX_CHARS / base.len());
        assert_eq!(at_max.chars().count(), 1024);
        assert_eq!(check_policy(&at_max), Ok(()));
        assert_eq!(
            check_policy(&format!("{at_max}x")),
            Err(PolicyError::TooLong)
        ); // 1025
        assert_eq!(
            check_policy(&"x".repeat(1_000_000)),
            Err(PolicyError::TooLong)
        );
    }

    #[test]
    fn multibyte_characters_count_once() {
        // 7 characters but 21 bytes: too short, however many bytes.
        let seven = "日本語のパスワ";
        assert_eq!(seven.len(), 21);
        assert_eq!(check_policy(seven), Err(PolicyError::TooShort));
        // 8 characters, 4-byte ones included.
        assert_eq!(check_policy("𝄞𝄞𝄞𝄞ünï€"), Ok(()));
        // 1024 four-byte characters are fine, 1025 are not.
        assert_eq!(check_policy(&"𝄞".repeat(1024)), Ok(()));
        assert_eq!(check_policy(&"𝄞".repeat(1025)), Err(PolicyError::TooLong));
    }

    #[test]
    fn no_trimming_and_no_normalization() {
        // Spaces count: 7 visible characters and a space is 8.
        assert_eq!(check_policy(" Zq7#kWp"), Ok(()));
        assert_eq!(check_policy("Zq7#kWp "), Ok(()));
        // "e" + U+0301 COMBINING ACUTE ACCENT counts two characters; precomposed "é" counts one.
        assert_eq!(check_policy("cafe\u{301}Zq7"), Ok(())); // 8 scalar values
        assert_eq!(check_policy("caf\u{e9}Zq7"), Err(PolicyError::TooShort)); // 7
        // A common password with a space around it is another password.
        assert_eq!(check_policy("password"), Err(PolicyError::Common));
        assert_eq!(check_policy(" password"), Ok(()));
    }

    #[test]
    fn common_passwords_are_refused_in_any_case() {
        for p in [
            "password",
            "PASSWORD",
            "PassWord",
            "iloveyou",
            "ILoveYou",
            "sunshine",
            "qwertyuiop",
            "1qaz2wsx",
        ] {
            assert_eq!(check_policy(p), Err(PolicyError::Common), "{p}");
        }
        // Entries from deep in the list too (the list is in frequency order).
        let deep: Vec<&str> = COMMON_PASSWORDS_FILE
            .lines()
            .filter(|l| !l.starts_with('#'))
            .collect();
        let last = deep.last().copied().unwrap_or_default();
        assert_eq!(check_policy(last), Err(PolicyError::Common), "{last}");
        assert_eq!(
            check_policy(&last.to_uppercase()),
            Err(PolicyError::Common),
            "{last}"
        );
    }

    #[test]
    fn the_list_is_big_and_clean() {
        assert!(
            common_password_count() >= 10_000,
            "{}",
            common_password_count()
        );
        for p in COMMON_PASSWORDS.iter() {
            assert_eq!(*p, p.to_lowercase(), "entries are lowercase");
            assert_eq!(*p, p.trim(), "entries have no surrounding space");
            // Entries shorter than the minimum could never match; the file leaves them out.
            assert!(p.chars().count() >= MIN_CHARS, "{p}");
        }
    }

    #[test]
    fn long_passphrases_are_fine() {
        assert_eq!(check_policy("correct horse battery staple"), Ok(()));
        assert_eq!(
            check_policy("Het is een lange zin met spaties, en dat is prima: geen regels!"),
            Ok(())
        );
    }

    #[test]
    fn codes_and_messages_are_stable() {
        assert_eq!(PolicyError::TooShort.code(), "password_too_short");
        assert_eq!(PolicyError::TooLong.code(), "password_too_long");
        assert_eq!(PolicyError::Common.code(), "password_common");
        for e in [
            PolicyError::TooShort,
            PolicyError::TooLong,
            PolicyError::Common,
        ] {
            assert!(!e.message().is_empty());
        }
    }
}
