//! `UrlTemplate::parse` (Zitadel `urlTemplate` of email/phone/invite codes) and `render`.
//! Invariants: a template that parsed renders with no action left (`{{`) and every value in
//! place, and is at most 200 characters of text plus the values.
#![no_main]

use libfuzzer_sys::fuzz_target;
use usher_core::types::UrlTemplate;

fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(t) = UrlTemplate::parse(s) else {
        return;
    };
    assert!(!s.is_empty() && s.chars().count() <= UrlTemplate::MAX_LEN);
    let out = t.render("7", "CODE", "1");
    assert!(!out.contains("{{"), "{s:?} rendered {out:?}");
    assert_eq!(t.render("7", "CODE", "1"), out);
    let empty = t.render("", "", "");
    assert!(empty.len() <= s.len(), "{s:?} rendered {empty:?}");
    if !s.contains("{{") {
        assert_eq!(out, s, "a template without actions is its text");
    }
    assert_eq!(UrlTemplate::parse(s), Ok(t));
});
