//! The small enumerations and tokens: `Language::parse` / `Language::from_tag` (invitation
//! language, `Accept-Language`), `RemovalPeriod::parse` (`autoRemoveAfter`), `UuidToken::parse`
//! (invitation and verification tokens) and `types::text` (free-text limits).
//! Invariants: each parses its own display form back to itself.
#![no_main]

use libfuzzer_sys::fuzz_target;
use usher_core::types::{Language, RemovalPeriod, UuidToken, text};

fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(l) = Language::parse(s) {
        assert_eq!(l.as_str(), s);
        assert_eq!(Language::parse(&l.to_string()), Ok(l));
    }
    if let Some(l) = Language::from_tag(s) {
        assert!(Language::ALL.contains(&l));
        assert_eq!(Language::from_tag(l.as_str()), Some(l));
    }
    if let Ok(p) = RemovalPeriod::parse(s) {
        assert_eq!(p.as_str(), s);
    }
    if let Ok(t) = UuidToken::parse(s) {
        assert_eq!(t.as_str().len(), 36);
        assert_eq!(t.as_str(), s.to_ascii_lowercase());
        assert_eq!(UuidToken::parse(t.as_str()), Ok(t.clone()));
    }
    for max in [0, 1, 200, 255, 4000] {
        if let Ok(t) = text(s, max) {
            assert!(t.chars().count() <= max);
            assert_eq!(t, s);
        }
    }
});
