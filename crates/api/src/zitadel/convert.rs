//! Wire values of `zitadel.user.v2` to domain inputs (validated, every bad field reported at once)
//! and domain results to wire messages.

use chrono::{DateTime, Utc};
use usher_core::error::{Field, FieldError, Validator};
use usher_core::model::{Gender as DGender, User, UserState};
use usher_core::service::{CodeDelivery, ContactVerification, PasswordInput, Patch, ProfileInput};
use usher_core::types::{Email, Phone, UrlTemplate, UserId};
use usher_zitadel_proto::buffa::EnumValue;
use usher_zitadel_proto::buffa_types::google::protobuf::Timestamp as PTimestamp;
use usher_zitadel_proto::connectrpc::ErrorCode;
use usher_zitadel_proto::zitadel::object::v2::Details;
use usher_zitadel_proto::zitadel::user::v2 as z;

use super::error::ZError;

/// Numbers without `+` are read in this region (spec: CH unless configured).
pub const DEFAULT_PHONE_REGION: &str = "CH";

pub fn wire(name: &str) -> Field {
    Field::Wire(name.to_owned())
}

/// 1..=max characters.
pub fn required_text(v: &mut Validator, field: &str, value: &str, max: usize) -> Option<String> {
    let n = value.chars().count();
    if n == 0 {
        v.push(FieldError::new(
            wire(field),
            "required",
            "must not be empty",
        ));
        None
    } else if n > max {
        v.push(FieldError::new(
            wire(field),
            "too_long",
            format!("at most {max} characters"),
        ));
        None
    } else if value.chars().any(|c| c.is_control()) {
        v.push(FieldError::new(
            wire(field),
            "invalid_text",
            "control characters are not allowed",
        ));
        None
    } else {
        Some(value.to_owned())
    }
}

/// Absent, or 1..=max characters (an empty string counts as absent for optional proto3 fields
/// that a client may send as "").
pub fn optional_text(
    v: &mut Validator,
    field: &str,
    value: Option<&str>,
    max: usize,
) -> Option<String> {
    match value {
        None => None,
        Some("") => None,
        Some(s) => required_text(v, field, s, max),
    }
}

/// A proto3 `optional` profile string: absent keeps the value, `""` clears it (presence is
/// explicit in binary and JSON alike: a field sent as `""` is present), else 1..=max characters.
pub fn text_patch(
    v: &mut Validator,
    field: &str,
    value: Option<&str>,
    max: usize,
) -> Patch<String> {
    match value {
        None => Patch::Keep,
        Some("") => Patch::Clear,
        Some(s) => required_text(v, field, s, max).map_or(Patch::Keep, Patch::Set),
    }
}

/// A BCP 47-looking tag of at most 10 characters (`de`, `de-CH`, `zh-Hant`); absent keeps, `""`
/// clears, as [`text_patch`].
pub fn language_tag(v: &mut Validator, field: &str, value: Option<&str>) -> Patch<String> {
    let value = match value {
        None => return Patch::Keep,
        Some("") => return Patch::Clear,
        Some(s) => s,
    };
    let ok = value.len() <= 10
        && value.split('-').enumerate().all(|(i, part)| {
            let len_ok = if i == 0 {
                (2..=8).contains(&part.len())
            } else {
                (1..=8).contains(&part.len())
            };
            len_ok
                && part.chars().all(|c| c.is_ascii_alphanumeric())
                && (i > 0 || part.chars().all(|c| c.is_ascii_alphabetic()))
        });
    if ok {
        Patch::Set(value.to_owned())
    } else {
        v.push(FieldError::new(
            wire(field),
            "invalid_language",
            "a BCP 47 language tag of at most 10 characters expected",
        ));
        Patch::Keep
    }
}

pub fn email(v: &mut Validator, field: &str, value: &str) -> Option<Email> {
    if value.chars().count() > 200 {
        v.push(FieldError::new(
            wire(field),
            "too_long",
            "at most 200 characters",
        ));
        return None;
    }
    v.check(wire(field), Email::parse(value))
}

/// E.164, or a national number read in [`DEFAULT_PHONE_REGION`].
pub fn phone(v: &mut Validator, field: &str, value: &str) -> Option<Phone> {
    if value.is_empty() || value.chars().count() > 200 {
        v.push(FieldError::new(
            wire(field),
            "invalid_phone",
            "a phone number of 1 to 200 characters expected",
        ));
        return None;
    }
    v.check(
        wire(field),
        Phone::parse_with_region(value, Some(DEFAULT_PHONE_REGION)),
    )
}

pub fn url_template(v: &mut Validator, field: &str, value: Option<&str>) -> Option<UrlTemplate> {
    v.check(wire(field), UrlTemplate::parse(value?))
}

pub fn gender(
    v: &mut Validator,
    field: &str,
    value: Option<EnumValue<z::Gender>>,
) -> Option<DGender> {
    match value.map(|g| g.as_known()) {
        None => None,
        Some(Some(z::Gender::GENDER_UNSPECIFIED)) => Some(DGender::Unspecified),
        Some(Some(z::Gender::GENDER_FEMALE)) => Some(DGender::Female),
        Some(Some(z::Gender::GENDER_MALE)) => Some(DGender::Male),
        Some(Some(z::Gender::GENDER_DIVERSE)) => Some(DGender::Diverse),
        Some(None) => {
            v.push(FieldError::new(
                wire(field),
                "invalid_enum",
                "unknown gender",
            ));
            None
        }
    }
}

pub fn profile(v: &mut Validator, p: &z::SetHumanProfile) -> Option<ProfileInput> {
    let given = required_text(v, "profile.givenName", &p.given_name, 200);
    let family = required_text(v, "profile.familyName", &p.family_name, 200);
    let nick = text_patch(v, "profile.nickName", p.nick_name.as_deref(), 200);
    let display = text_patch(v, "profile.displayName", p.display_name.as_deref(), 200);
    let lang = language_tag(
        v,
        "profile.preferredLanguage",
        p.preferred_language.as_deref(),
    );
    let gender = gender(v, "profile.gender", p.gender);
    Some(ProfileInput {
        given_name: given?,
        family_name: family?,
        nick_name: nick,
        display_name: display,
        preferred_language: lang,
        gender,
    })
}

/// The three-way `verification` oneof of an email: send (with an optional URL template), return,
/// or vouched for (`isVerified: true`; `false` means the default, send).
pub fn email_verification(
    v: &mut Validator,
    prefix: &str,
    send: Option<Option<&str>>,
    ret: bool,
    is_verified: Option<bool>,
) -> ContactVerification {
    if ret {
        return ContactVerification::Code(CodeDelivery::Return);
    }
    if is_verified == Some(true) {
        return ContactVerification::Verified;
    }
    let template = send
        .flatten()
        .and_then(|t| url_template(v, &format!("{prefix}sendCode.urlTemplate"), Some(t)));
    ContactVerification::Code(CodeDelivery::Send {
        url_template: template,
    })
}

/// The phone `verification` oneof: `isVerified` may only be true.
pub fn phone_verification(
    v: &mut Validator,
    prefix: &str,
    send: bool,
    ret: bool,
    is_verified: Option<bool>,
) -> ContactVerification {
    let _ = send;
    if ret {
        return ContactVerification::Code(CodeDelivery::Return);
    }
    match is_verified {
        Some(true) => ContactVerification::Verified,
        Some(false) => {
            v.push(FieldError::new(
                wire(&format!("{prefix}isVerified")),
                "invalid_value",
                "may only be true",
            ));
            ContactVerification::default()
        }
        None => ContactVerification::default(),
    }
}

pub fn password(
    v: &mut Validator,
    field: &str,
    password: &str,
    change_required: bool,
) -> Option<PasswordInput> {
    let n = password.chars().count();
    if n == 0 || n > 200 {
        v.push(FieldError::new(
            wire(field),
            "invalid_length",
            "1 to 200 characters expected",
        ));
        return None;
    }
    Some(PasswordInput::Plain {
        password: password.to_owned(),
        change_required,
    })
}

pub fn hashed_password(
    v: &mut Validator,
    field: &str,
    hash: &str,
    change_required: bool,
) -> Option<PasswordInput> {
    let n = hash.chars().count();
    if n == 0 || n > 200 {
        v.push(FieldError::new(
            wire(field),
            "invalid_length",
            "1 to 200 characters expected",
        ));
        return None;
    }
    Some(PasswordInput::Hashed {
        hash: hash.to_owned(),
        change_required,
    })
}

/// A `user_id` path or body value: 1..200 characters; one that cannot be an usher id (digits) names
/// no user.
pub fn user_id(value: &str) -> Result<UserId, ZError> {
    if value.is_empty() || value.chars().count() > 200 {
        return Err(ZError::invalid("userId", "1 to 200 characters expected"));
    }
    value
        .parse::<i64>()
        .ok()
        .filter(|n| *n > 0)
        .map(UserId)
        .ok_or_else(|| {
            ZError::new(
                ErrorCode::NotFound,
                "USER-NOTFOUND",
                "User could not be found",
            )
        })
}

pub fn timestamp(t: usher_core::types::Timestamp) -> PTimestamp {
    PTimestamp::from(t.0)
}

/// `zitadel.object.v2.Details` of a user as it is now.
pub fn details(u: &User) -> Details {
    usher_zitadel_proto::details(
        u64::try_from(u.sequence).unwrap_or(0),
        u.modified_at.0,
        u.org_id.to_string(),
        u.created_at.0,
    )
}

pub fn details_at(
    sequence: i64,
    changed: DateTime<Utc>,
    org: String,
    created: DateTime<Utc>,
) -> Details {
    usher_zitadel_proto::details(u64::try_from(sequence).unwrap_or(0), changed, org, created)
}

pub fn state(s: UserState) -> z::UserState {
    match s {
        UserState::Initial => z::UserState::USER_STATE_INITIAL,
        UserState::Active => z::UserState::USER_STATE_ACTIVE,
        UserState::Inactive => z::UserState::USER_STATE_INACTIVE,
        UserState::Locked => z::UserState::USER_STATE_LOCKED,
    }
}

fn wire_gender(g: DGender) -> z::Gender {
    match g {
        DGender::Unspecified => z::Gender::GENDER_UNSPECIFIED,
        DGender::Female => z::Gender::GENDER_FEMALE,
        DGender::Male => z::Gender::GENDER_MALE,
        DGender::Diverse => z::Gender::GENDER_DIVERSE,
    }
}

/// A user as `zitadel.user.v2.User` (always a human).
pub fn user(u: &User) -> z::User {
    let login_names = vec![u.username.clone()];
    let display = u.display_name.clone().or_else(|| u.full_name());
    let human = z::HumanUser {
        user_id: u.id.to_string(),
        state: state(u.state).into(),
        username: u.username.clone(),
        login_names: login_names.clone(),
        preferred_login_name: u.username.clone(),
        profile: z::HumanProfile {
            given_name: u.first_name.clone().unwrap_or_default(),
            family_name: u.last_name.clone().unwrap_or_default(),
            nick_name: u.nick_name.clone(),
            display_name: display,
            preferred_language: u.preferred_language.clone(),
            gender: Some(wire_gender(u.gender).into()),
            ..Default::default()
        }
        .into(),
        email: z::HumanEmail {
            email: u
                .email
                .as_ref()
                .map(|e| e.as_str().to_owned())
                .unwrap_or_default(),
            is_verified: u.email_verified,
            ..Default::default()
        }
        .into(),
        phone: z::HumanPhone {
            phone: u
                .phone
                .as_ref()
                .map(|p| p.as_str().to_owned())
                .unwrap_or_default(),
            is_verified: u.phone_verified,
            ..Default::default()
        }
        .into(),
        password_change_required: u.password_change_required,
        password_changed: match u.password_changed_at {
            Some(t) => timestamp(t).into(),
            None => Default::default(),
        },
        ..Default::default()
    };
    z::User {
        user_id: u.id.to_string(),
        details: details(u).into(),
        state: state(u.state).into(),
        username: u.username.clone(),
        login_names,
        preferred_login_name: u.username.clone(),
        r#type: Some(z::__buffa::oneof::user::Type::Human(Box::new(human))),
        ..Default::default()
    }
}
