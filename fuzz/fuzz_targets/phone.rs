//! `Phone::parse_e164` (Bold, CSV import) and `Phone::parse_with_region` (Zitadel, Orgo).
//! Invariants: a parsed number is strict E.164 and parses again to itself.
#![no_main]

use libfuzzer_sys::fuzz_target;
use usher_core::types::Phone;

fn check(p: &Phone) {
    let s = p.as_str();
    assert!(s.starts_with('+') && s.len() <= 16, "{s}");
    assert!(s[1..].bytes().all(|b| b.is_ascii_digit()), "{s}");
    let again = Phone::parse_e164(s).unwrap_or_else(|e| panic!("{s} does not parse again: {e:?}"));
    assert_eq!(&again, p);
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(p) = Phone::parse_e164(text) {
        assert_eq!(p.as_str(), text, "strict E.164 is kept as given");
        check(&p);
    }
    for region in [None, Some("CH"), Some("DE"), Some("US"), Some("NL")] {
        if let Ok(p) = Phone::parse_with_region(text, region) {
            check(&p);
        }
    }
    // The first two characters as a region code of their own.
    if text.len() >= 2 && text.is_char_boundary(2) {
        let (region, rest) = text.split_at(2);
        if let Ok(p) = Phone::parse_with_region(rest, Some(region)) {
            check(&p);
        }
    }
});
