//! `Timestamp::parse` (ISO 8601 / RFC 3339 with a zone: Bold `expiration`, Orgo dates), Orgo's
//! `dateBirth` (`YYYY-MM-DD` and date-times without an offset too) and `RemovalPeriod::after` on
//! whatever parsed.
//! Invariants: a parsed instant prints as RFC 3339 that parses back to the same instant; the
//! nanosecond form round-trips inside its range; adding a period never goes backwards.
#![no_main]

use libfuzzer_sys::fuzz_target;
use usher_core::types::{RemovalPeriod, Timestamp};

fn check(t: Timestamp) {
    let printed = t.rfc3339();
    assert_eq!(Timestamp::parse(&printed), Ok(t), "{printed}");
    let n = t.nanos();
    if n != i64::MAX {
        assert_eq!(Timestamp::from_nanos(n), t);
    }
    for p in [
        RemovalPeriod::Week,
        RemovalPeriod::Month,
        RemovalPeriod::Year,
    ] {
        assert!(p.after(t) >= t);
    }
}

fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(t) = Timestamp::parse(s) {
        check(t);
    }
    if let Some(t) = usher_api::orgo::fuzzing::parse_date(s) {
        check(t);
    }
});
