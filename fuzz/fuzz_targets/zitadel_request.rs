//! The `zitadel.user.v2.UserService` request messages: binary protobuf (Connect, gRPC,
//! gRPC-Web), proto3 JSON (Connect JSON, the REST gateway) and gRPC-Web text's base64 chunks,
//! then the checks each call makes before the service (user ids, profile, email, phone, URL
//! templates, passwords, search-query trees, sorting).
//! The first byte picks the message and the encoding. Invariants: a decoded binary message
//! re-encodes to itself; a refused request is never an internal error.
#![no_main]

use libfuzzer_sys::fuzz_target;
use usher_api::zitadel::fuzzing::{grpc_web_text, request};
use usher_zitadel_proto::connectrpc::ErrorCode;

fuzz_target!(|data: &[u8]| {
    let Some((&sel, bytes)) = data.split_first() else {
        return;
    };
    let which = usize::from(sel & 0x3f);
    let decoded;
    let bytes = match sel >> 6 {
        0 => bytes,
        2 => match grpc_web_text(bytes) {
            Some(b) => {
                decoded = b;
                &decoded[..]
            }
            None => return,
        },
        _ => {
            if let Err(e) = request(which, true, bytes) {
                assert!(
                    !matches!(e.code, ErrorCode::Internal | ErrorCode::Unknown),
                    "{e:?}"
                );
            }
            return;
        }
    };
    if let Err(e) = request(which, false, bytes) {
        assert!(
            !matches!(e.code, ErrorCode::Internal | ErrorCode::Unknown),
            "{e:?}"
        );
    }
});
