//! Orgo's `/api/v1/users` bodies: `POST` (JSON-LD or JSON) and `PATCH` (merge-patch JSON) with
//! their content type, through the 415/400/422 checks of every member (names, email, phone,
//! roles, the typed attribute fields with their dates); and `Accept` negotiation (406).
//! Input: a selector byte, then the header value up to the first newline, then the body.
//! Invariant: a refused request is a 4xx, never a 5xx.
#![no_main]

use libfuzzer_sys::fuzz_target;
use usher_api::orgo::fuzzing::{negotiate, user_body};

const TYPES: &[&str] = &[
    "application/ld+json",
    "application/json",
    "application/merge-patch+json",
    "application/json; charset=utf-8",
];

fuzz_target!(|data: &[u8]| {
    let Some((&sel, rest)) = data.split_first() else {
        return;
    };
    let (header, body) = match rest.iter().position(|&b| b == b'\n') {
        Some(i) => (&rest[..i], &rest[i + 1..]),
        None => (&rest[..0], rest),
    };
    let header = String::from_utf8_lossy(header);
    if let Err(status) = negotiate(&header) {
        assert_eq!(status.as_u16(), 406);
    }
    let content_type = if sel & 0x80 != 0 {
        header.as_ref()
    } else {
        TYPES[usize::from(sel) % TYPES.len()]
    };
    if let Err(status) = user_body(sel & 1 == 1, content_type, body) {
        assert!(status.is_client_error(), "{status}");
    }
});
