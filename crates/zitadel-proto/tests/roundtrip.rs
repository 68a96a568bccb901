//! Proves the wire format of the generated types: binary round trip, proto3 JSON names and value
//! forms, lenient JSON input, and the field numbers (by decoding hand-built bytes).

#![allow(clippy::unwrap_used, reason = "tests fail loudly on unexpected values")]

use buffa::Message;
use buffa_types::google::protobuf::Timestamp;
use usher_zitadel_proto::zitadel::object::v2::__buffa::oneof::organization;
use usher_zitadel_proto::zitadel::object::v2::TextQueryMethod;
use usher_zitadel_proto::zitadel::user::v2::__buffa::oneof::{
    add_human_user_request, search_query, set_human_email, set_human_phone, set_password,
};
use usher_zitadel_proto::zitadel::user::v2::{
    AddHumanUserRequest, EmailQuery, Gender, HashedPassword, ListUsersRequest, Password,
    ResendPhoneCodeRequest, SendEmailVerificationCode, SetHumanEmail, SetHumanProfile, SetPassword,
    UpdateHumanUserRequest, UpdateHumanUserResponse,
};
use usher_zitadel_proto::zitadel::v1::ErrorDetail;

fn update_request() -> UpdateHumanUserRequest {
    UpdateHumanUserRequest {
        user_id: "u1".into(),
        username: Some("ada".into()),
        profile: SetHumanProfile {
            given_name: "Ada".into(),
            family_name: "Lovelace".into(),
            nick_name: Some("countess".into()),
            gender: Some(Gender::GENDER_FEMALE.into()),
            ..Default::default()
        }
        .into(),
        email: SetHumanEmail {
            email: "ada@example.com".into(),
            verification: Some(set_human_email::Verification::SendCode(Box::new(
                SendEmailVerificationCode {
                    url_template: Some("https://x.test/verify?code={{.Code}}".into()),
                    ..Default::default()
                },
            ))),
            ..Default::default()
        }
        .into(),
        password: SetPassword {
            password_type: Some(set_password::PasswordType::HashedPassword(Box::new(
                HashedPassword {
                    hash: "$2y$10$abcdefghijklmnopqrstuu".into(),
                    change_required: true,
                    ..Default::default()
                },
            ))),
            verification: Some(set_password::Verification::CurrentPassword("old".into())),
            ..Default::default()
        }
        .into(),
        ..Default::default()
    }
}

#[test]
fn binary_round_trip() {
    let req = update_request();
    let bytes = req.encode_to_vec();
    let back = UpdateHumanUserRequest::decode_from_slice(&bytes).unwrap();
    assert_eq!(back, req);
    // `phone` was not set and stays unset (presence is tracked for `optional` message fields).
    assert!(back.phone.is_unset());
}

#[test]
fn json_uses_lower_camel_case_enum_names_and_string_uint64() {
    let json = serde_json::to_value(update_request()).unwrap();
    assert_eq!(
        json,
        serde_json::json!({
            "userId": "u1",
            "username": "ada",
            "profile": {
                "givenName": "Ada",
                "familyName": "Lovelace",
                "nickName": "countess",
                "gender": "GENDER_FEMALE"
            },
            "email": {
                "email": "ada@example.com",
                "sendCode": {"urlTemplate": "https://x.test/verify?code={{.Code}}"}
            },
            "password": {
                "hashedPassword": {"hash": "$2y$10$abcdefghijklmnopqrstuu", "changeRequired": true},
                "currentPassword": "old"
            }
        })
    );

    let at = |secs, nanos| chrono::DateTime::from_timestamp(secs, nanos).unwrap();
    let resp = UpdateHumanUserResponse {
        details: usher_zitadel_proto::details(
            7,
            at(1_700_000_000, 5_000_000),
            "org1",
            at(1_600_000_000, 0),
        )
        .into(),
        email_code: Some("ABC123".into()),
        ..Default::default()
    };
    assert_eq!(
        resp.details.as_option().unwrap().change_date.as_option(),
        Some(&Timestamp::from_unix(1_700_000_000, 5_000_000))
    );
    assert_eq!(
        serde_json::to_value(&resp).unwrap(),
        serde_json::json!({
            "details": {
                "sequence": "7",
                "changeDate": "2023-11-14T22:13:20.005Z",
                "resourceOwner": "org1",
                "creationDate": "2020-09-13T12:26:40Z"
            },
            "emailCode": "ABC123"
        })
    );
    // Empty messages chosen in a oneof render as `{}`; unset fields are omitted.
    let resend = ResendPhoneCodeRequest {
        user_id: "u1".into(),
        verification: Some(
            usher_zitadel_proto::zitadel::user::v2::__buffa::oneof::resend_phone_code_request::Verification::ReturnCode(
                Box::default(),
            ),
        ),
        ..Default::default()
    };
    assert_eq!(
        serde_json::to_value(&resend).unwrap(),
        serde_json::json!({"userId": "u1", "returnCode": {}})
    );
}

#[test]
fn json_input_accepts_snake_case_names_and_enum_integers() {
    let req: UpdateHumanUserRequest = serde_json::from_str(
        r#"{
            "user_id": "u1",
            "profile": {"given_name": "Ada", "family_name": "Lovelace", "gender": 1},
            "email": {"email": "ada@example.com", "send_code": {"url_template": "t"}},
            "password": {"password": {"password": "pw", "change_required": true}, "verification_code": "c"}
        }"#,
    )
    .unwrap();
    assert_eq!(req.user_id, "u1");
    let profile = req.profile.as_option().unwrap();
    assert_eq!(profile.given_name, "Ada");
    assert_eq!(profile.gender, Some(Gender::GENDER_FEMALE.into()));
    let email = req.email.as_option().unwrap();
    let Some(set_human_email::Verification::SendCode(send)) = &email.verification else {
        panic!("sendCode expected, got {:?}", email.verification)
    };
    assert_eq!(send.url_template.as_deref(), Some("t"));
    let password = req.password.as_option().unwrap();
    assert_eq!(
        password.password_type,
        Some(set_password::PasswordType::Password(Box::new(Password {
            password: "pw".into(),
            change_required: true,
            ..Default::default()
        })))
    );
    assert_eq!(
        password.verification,
        Some(set_password::Verification::VerificationCode("c".into()))
    );

    // Enum names and the `uint64`-as-string form are accepted in, too.
    let list: ListUsersRequest = serde_json::from_str(
        r#"{"query": {"offset": "10", "limit": 5, "asc": true},
            "sortingColumn": "USER_FIELD_NAME_EMAIL",
            "queries": [{"emailQuery": {"emailAddress": "a@b", "method": "TEXT_QUERY_METHOD_CONTAINS_IGNORE_CASE"}}]}"#,
    )
    .unwrap();
    assert_eq!(list.query.as_option().unwrap().offset, 10);
    assert_eq!(
        list.queries[0].query,
        Some(search_query::Query::EmailQuery(Box::new(EmailQuery {
            email_address: "a@b".into(),
            method: TextQueryMethod::TEXT_QUERY_METHOD_CONTAINS_IGNORE_CASE.into(),
            ..Default::default()
        })))
    );
}

#[test]
fn json_two_members_of_one_oneof_are_rejected() {
    let err = serde_json::from_str::<UpdateHumanUserRequest>(
        r#"{"userId": "u1", "email": {"email": "a@b", "sendCode": {}, "returnCode": {}}}"#,
    )
    .unwrap_err();
    assert!(err.to_string().contains("oneof"), "{err}");
    // Also when the two members are spelled differently (camelCase + snake_case).
    let err = serde_json::from_str::<UpdateHumanUserRequest>(
        r#"{"userId": "u1", "phone": {"phone": "+41", "isVerified": true, "return_code": {}}}"#,
    )
    .unwrap_err();
    assert!(err.to_string().contains("oneof"), "{err}");
}

#[test]
fn json_unknown_fields_are_ignored() {
    let req: UpdateHumanUserRequest = serde_json::from_str(
        r#"{"userId": "u1", "bogus": {"x": 1}, "profile": {"givenName": "A", "familyName": "B", "extra": 1}}"#,
    )
    .unwrap();
    assert_eq!(req.user_id, "u1");
    assert_eq!(req.profile.as_option().unwrap().family_name, "B");
}

#[test]
fn field_numbers_match_the_listing() {
    // AddHumanUserRequest: organization (11) = Organization { org_id (1) = "o1" },
    // phone (10) = SetHumanPhone { phone (1) = "+41", is_verified (4) = true },
    // hashed_password (8) = HashedPassword { hash (1) = "h" }, totp_secret (12) = "s".
    let bytes: &[u8] = &[
        0x5a, 0x04, 0x0a, 0x02, b'o', b'1', // field 11, length-delimited
        0x52, 0x07, 0x0a, 0x03, b'+', b'4', b'1', 0x20, 0x01, // field 10
        0x42, 0x03, 0x0a, 0x01, b'h', // field 8
        0x62, 0x01, b's', // field 12
    ];
    let req = AddHumanUserRequest::decode_from_slice(bytes).unwrap();
    assert_eq!(
        req.organization.as_option().unwrap().org,
        Some(organization::Org::OrgId("o1".into()))
    );
    let phone = req.phone.as_option().unwrap();
    assert_eq!(phone.phone, "+41");
    assert_eq!(
        phone.verification,
        Some(set_human_phone::Verification::IsVerified(true))
    );
    let Some(add_human_user_request::PasswordType::HashedPassword(hashed)) = &req.password_type
    else {
        panic!("hashedPassword expected, got {:?}", req.password_type)
    };
    assert_eq!(hashed.hash, "h");
    assert_eq!(req.totp_secret.as_deref(), Some("s"));
    assert!(req.profile.is_unset() && req.email.is_unset());
    // The encoder writes the same fields back, ordered by field number (8, 10, 11, 12).
    let by_number = [&bytes[15..20], &bytes[6..15], &bytes[..6], &bytes[20..]].concat();
    assert_eq!(req.encode_to_vec(), by_number);

    // ResendPhoneCodeRequest numbers its oneof 3 and 4: return_code (4) = {}.
    let req = ResendPhoneCodeRequest::decode_from_slice(&[0x0a, 0x01, b'u', 0x22, 0x00]).unwrap();
    assert!(matches!(
        req.verification,
        Some(usher_zitadel_proto::zitadel::user::v2::__buffa::oneof::resend_phone_code_request::Verification::ReturnCode(_))
    ));

    // zitadel.v1.ErrorDetail { id = 1; message = 2 }.
    let detail = ErrorDetail {
        id: "USER-abc12".into(),
        message: "User could not be found".into(),
        ..Default::default()
    };
    let mut expected = vec![0x0a, 10];
    expected.extend_from_slice(b"USER-abc12");
    expected.extend_from_slice(&[0x12, 23]);
    expected.extend_from_slice(b"User could not be found");
    assert_eq!(detail.encode_to_vec(), expected);
}
