//! Entry points for the fuzz targets in `fuzz/` (not an API): the decoding of the
//! `zitadel.user.v2.UserService` request messages (binary protobuf as Connect/gRPC/gRPC-Web send
//! it, proto3 JSON as Connect and the REST gateway send it, gRPC-Web text's base64) and the checks
//! that turn them into core inputs.

use usher_core::error::Validator;
use usher_zitadel_proto::buffa::Message;
use usher_zitadel_proto::zitadel::user::v2 as z;
use usher_zitadel_proto::zitadel::user::v2::__buffa::oneof as oneofs;

use super::calls::{email_input, phone_input, search_query, sort};
use super::convert;
use super::error::ZError;

/// The request messages, in the order [`request`] takes them.
pub const REQUESTS: &[&str] = &[
    "AddHumanUserRequest",
    "UpdateHumanUserRequest",
    "ListUsersRequest",
    "GetUserByIDRequest",
    "SetEmailRequest",
    "SetPhoneRequest",
    "VerifyEmailRequest",
    "SetPasswordRequest",
    "DeleteUserRequest",
    "CreateInviteCodeRequest",
];

/// A decoded message must encode and decode back to itself.
fn decode<M: Message + serde::de::DeserializeOwned>(json: bool, bytes: &[u8]) -> Option<M> {
    if json {
        serde_json::from_slice::<M>(bytes).ok()
    } else {
        let m = M::decode_from_slice(bytes).ok()?;
        let again = M::decode_from_slice(&m.encode_to_vec()).expect("re-encoded message decodes");
        assert!(again == m, "protobuf round trip changed the message");
        Some(m)
    }
}

/// Request number `which` (modulo [`REQUESTS`]) decoded from `bytes` (proto3 JSON when `json`),
/// then checked as its call checks it before the service: `Ok(false)` when it did not decode,
/// `Err` with the call's error when a check refused it.
pub fn request(which: usize, json: bool, bytes: &[u8]) -> Result<bool, ZError> {
    let mut v = Validator::new();
    match which % REQUESTS.len() {
        0 => {
            let Some(r) = decode::<z::AddHumanUserRequest>(json, bytes) else {
                return Ok(false);
            };
            convert::optional_text(&mut v, "username", r.username.as_deref(), 200);
            if let Some(p) = r.profile.as_option() {
                convert::profile(&mut v, p);
            }
            if let Some(e) = r.email.as_option() {
                email_input(&mut v, e);
            }
            if let Some(p) = r.phone.as_option() {
                phone_input(&mut v, p);
            }
            use oneofs::add_human_user_request::PasswordType;
            match &r.password_type {
                Some(PasswordType::Password(p)) => {
                    convert::password(&mut v, "password", &p.password, p.change_required);
                }
                Some(PasswordType::HashedPassword(h)) => {
                    convert::hashed_password(&mut v, "hash", &h.hash, h.change_required);
                }
                None => {}
            }
        }
        1 => {
            let Some(r) = decode::<z::UpdateHumanUserRequest>(json, bytes) else {
                return Ok(false);
            };
            convert::user_id(&r.user_id)?;
            if let Some(p) = r.profile.as_option() {
                convert::profile(&mut v, p);
            }
            if let Some(e) = r.email.as_option() {
                email_input(&mut v, e);
            }
            if let Some(p) = r.phone.as_option() {
                phone_input(&mut v, p);
            }
        }
        2 => {
            let Some(r) = decode::<z::ListUsersRequest>(json, bytes) else {
                return Ok(false);
            };
            sort(r.sorting_column)?;
            for q in &r.queries {
                search_query(q, 1)?;
            }
        }
        3 => {
            let Some(r) = decode::<z::GetUserByIDRequest>(json, bytes) else {
                return Ok(false);
            };
            convert::user_id(&r.user_id)?;
        }
        4 => {
            let Some(r) = decode::<z::SetEmailRequest>(json, bytes) else {
                return Ok(false);
            };
            convert::user_id(&r.user_id)?;
            convert::email(&mut v, "email", &r.email);
            use oneofs::set_email_request::Verification as V;
            if let Some(V::SendCode(s)) = &r.verification {
                convert::url_template(&mut v, "sendCode.urlTemplate", s.url_template.as_deref());
            }
        }
        5 => {
            let Some(r) = decode::<z::SetPhoneRequest>(json, bytes) else {
                return Ok(false);
            };
            convert::user_id(&r.user_id)?;
            convert::phone(&mut v, "phone", &r.phone);
        }
        6 => {
            let Some(r) = decode::<z::VerifyEmailRequest>(json, bytes) else {
                return Ok(false);
            };
            convert::user_id(&r.user_id)?;
            convert::required_text(&mut v, "verificationCode", &r.verification_code, 20);
        }
        7 => {
            let Some(r) = decode::<z::SetPasswordRequest>(json, bytes) else {
                return Ok(false);
            };
            convert::user_id(&r.user_id)?;
        }
        8 => {
            let Some(r) = decode::<z::DeleteUserRequest>(json, bytes) else {
                return Ok(false);
            };
            convert::user_id(&r.user_id)?;
        }
        _ => {
            let Some(r) = decode::<z::CreateInviteCodeRequest>(json, bytes) else {
                return Ok(false);
            };
            convert::user_id(&r.user_id)?;
            use oneofs::create_invite_code_request::Verification as V;
            if let Some(V::SendCode(s)) = &r.verification {
                convert::url_template(&mut v, "sendCode.urlTemplate", s.url_template.as_deref());
            }
        }
    }
    v.finish().map_err(ZError::from)?;
    Ok(true)
}

/// The body of a `application/grpc-web-text` request: base64, possibly in padded chunks.
pub fn grpc_web_text(text: &[u8]) -> Option<Vec<u8>> {
    super::grpc_web_text::decode_chunks(text)
}
