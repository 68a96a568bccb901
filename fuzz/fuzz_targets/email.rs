//! `Email::parse` (every dialect, CSV import). Invariants: a parsed address is trimmed, at most
//! 254 bytes, free of whitespace and control characters, parses again to itself, and its
//! normalized form is lower-case.
#![no_main]

use libfuzzer_sys::fuzz_target;
use usher_core::types::Email;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(e) = Email::parse(text) else {
        return;
    };
    let s = e.as_str();
    assert_eq!(s, text.trim());
    assert!(!s.is_empty() && s.len() <= Email::MAX_LEN);
    assert!(
        !s.chars().any(|c| c.is_whitespace() || c.is_control()),
        "{s:?}"
    );
    assert!(s.contains('@'));
    assert_eq!(Email::parse(&e.to_string()).as_ref(), Ok(&e));
    assert_eq!(e.normalized(), e.normalized().to_lowercase());
});
