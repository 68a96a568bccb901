//! `check_importable`: the imported password-hash formats (CSV `passwordHash`, Zitadel
//! `hashedPassword`): argon2, bcrypt, scrypt, PBKDF2, sha-crypt, md5-crypt and their PHC and
//! modular-crypt encodings.
#![no_main]

use libfuzzer_sys::fuzz_target;
use usher_core::password::check_importable;

fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(format) = check_importable(s) {
        assert!(!format.name().is_empty());
        assert_eq!(check_importable(s).ok(), Some(format));
    }
});
