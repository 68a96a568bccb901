//! Every Bold JSON request body (users, invitations, groups, members, organizations, API keys,
//! verification codes): the object check, the typed parse with its field-naming errors, and the
//! translation into the core input (text limits, email, phone, language, date-time, period).
//! The first byte picks the body. Invariant: a refused body is a 4xx, never a 5xx.
#![no_main]

use libfuzzer_sys::fuzz_target;
use usher_api::bold::fuzzing::body;

fuzz_target!(|data: &[u8]| {
    let Some((&which, bytes)) = data.split_first() else {
        return;
    };
    if let Err(e) = body(usize::from(which), bytes) {
        assert!(e.status.is_client_error(), "{} {}", e.status, e.message);
    }
});
