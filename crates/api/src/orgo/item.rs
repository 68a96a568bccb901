//! The `User` resource of Orgo (seed 004): every key in the seed's order, `null` or the empty value
//! where usher has no data; writable profile fields kept in the user's attributes under `orgo`.

use serde::Serialize;
use serde_json::{Map, Value};
use usher_core::error::{Field, FieldError, Validator};
use usher_core::model::User;
use usher_core::types::{Email, Phone, Timestamp, limits};

/// The attribute key under which usher keeps Orgo's profile fields.
pub const ATTRIBUTES: &str = "orgo";

pub const ROLE_ADMIN_TENANT: &str = "ROLE_ADMIN_TENANT";

/// Fields kept in the attributes, with their JSON type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Bool,
    Text,
    DateTime,
    Strings,
    Object,
}

/// The writable profile fields usher stores for Orgo (not part of the shared user model).
pub const ATTRIBUTE_FIELDS: &[(&str, Kind)] = &[
    ("isGuest", Kind::Bool),
    ("dateBirth", Kind::DateTime),
    ("logo", Kind::Text),
    ("isFollowGeneralUnit", Kind::Bool),
    ("roleGroups", Kind::Strings),
    ("isSupporter", Kind::Bool),
    ("hasDigestDaily", Kind::Bool),
    ("postalCode", Kind::Text),
    ("address", Kind::Text),
    ("phoneLocalNumber", Kind::Text),
    ("privacy", Kind::Object),
    ("notificationSettings", Kind::Object),
    ("professionOrganisation", Kind::Text),
    ("professionOrganisationRole", Kind::Text),
    ("hasDigestWeekly", Kind::Bool),
    ("companyIdentifier", Kind::Text),
    ("companyName", Kind::Text),
    ("companyAddress", Kind::Text),
    ("companyRegNo", Kind::Text),
];

/// A User as API Platform serializes it (JSON-LD; without the `@` keys for plain JSON).
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = OrgoUser)]
pub struct UserItem {
    #[serde(rename = "@context", skip_serializing_if = "Option::is_none")]
    pub context: Option<&'static str>,
    #[serde(rename = "@id", skip_serializing_if = "Option::is_none")]
    pub iri: Option<String>,
    #[serde(rename = "@type", skip_serializing_if = "Option::is_none")]
    pub kind: Option<&'static str>,
    pub id: i64,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub email: Option<String>,
    pub new_email_requested: Option<String>,
    pub is_guest: bool,
    pub resign_pending: Option<i64>,
    pub resign_approved: Option<i64>,
    pub date_birth: Option<String>,
    pub age: Option<i64>,
    pub full_name: String,
    pub roles: Vec<String>,
    pub custom_field_values: Vec<Value>,
    pub logo: Option<String>,
    pub phone_number: Option<String>,
    pub is_follow_general_unit: bool,
    pub role_groups: Vec<Value>,
    pub is_supporter: bool,
    pub has_digest_daily: bool,
    pub identity: Option<Value>,
    pub adhesion: Option<Value>,
    pub postal_code: Option<String>,
    pub address: Option<String>,
    pub phone_local_number: Option<String>,
    pub push_notification_tokens: Vec<Value>,
    pub permissions: Vec<Value>,
    pub custom_permissions: Vec<Value>,
    pub privacy: Option<Value>,
    pub notification_settings: Option<Value>,
    pub profession_organisation: Option<String>,
    pub profession_organisation_role: Option<String>,
    pub has_digest_weekly: bool,
    pub company_identifier: Option<String>,
    pub company_name: Option<String>,
    pub company_address: Option<String>,
    pub company_reg_no: Option<String>,
    pub mfa_enabled: bool,
}

/// How much JSON-LD framing an item gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    /// A standalone item: `@context`, `@id`, `@type`.
    Item,
    /// A collection member: `@id`, `@type`.
    Member,
    /// Plain JSON: none.
    Plain,
}

pub fn iri(id: i64) -> String {
    format!("/api/v1/users/{id}")
}

/// A date-time the way API Platform writes one: `2026-01-15T10:30:00+00:00`.
pub fn api_date(t: Timestamp) -> String {
    t.0.format("%Y-%m-%dT%H:%M:%S+00:00").to_string()
}

fn attrs(u: &User) -> Map<String, Value> {
    match u.attributes.get(ATTRIBUTES) {
        Some(Value::Object(m)) => m.clone(),
        _ => Map::new(),
    }
}

fn text(m: &Map<String, Value>, k: &str) -> Option<String> {
    m.get(k).and_then(Value::as_str).map(str::to_owned)
}

fn flag(m: &Map<String, Value>, k: &str, default: bool) -> bool {
    m.get(k).and_then(Value::as_bool).unwrap_or(default)
}

/// The roles a user has, in Orgo's words: its stored roles, with `ROLE_ADMIN_TENANT` for an
/// organization admin.
pub fn roles(u: &User) -> Vec<String> {
    let mut roles = u.roles.clone();
    if roles.is_empty() {
        roles.push(usher_core::model::ROLE_USER.to_owned());
    }
    if u.super_user && !roles.iter().any(|r| r == ROLE_ADMIN_TENANT) {
        roles.push(ROLE_ADMIN_TENANT.to_owned());
    }
    roles
}

/// Whole years from `birth` to `now`.
fn age(birth: Timestamp, now: Timestamp) -> Option<i64> {
    use chrono::Datelike;
    let (b, n) = (birth.0.date_naive(), now.0.date_naive());
    let mut years = i64::from(n.year() - b.year());
    if (n.month(), n.day()) < (b.month(), b.day()) {
        years -= 1;
    }
    (years >= 0).then_some(years)
}

pub fn render(u: &User, framing: Framing, now: Timestamp) -> UserItem {
    let m = attrs(u);
    let birth = text(&m, "dateBirth").and_then(|s| Timestamp::parse(&s).ok());
    let (context, iri_, kind) = match framing {
        Framing::Item => (Some("/api/contexts/User"), Some(iri(u.id.0)), Some("User")),
        Framing::Member => (None, Some(iri(u.id.0)), Some("User")),
        Framing::Plain => (None, None, None),
    };
    UserItem {
        context,
        iri: iri_,
        kind,
        id: u.id.0,
        first_name: u.first_name.clone(),
        last_name: u.last_name.clone(),
        email: u.email.as_ref().map(|e| e.as_str().to_owned()),
        new_email_requested: u
            .new_email_requested
            .as_ref()
            .map(|e| e.as_str().to_owned()),
        is_guest: flag(&m, "isGuest", false),
        resign_pending: None,
        resign_approved: None,
        date_birth: birth.map(api_date),
        age: birth.and_then(|b| age(b, now)),
        full_name: u.full_name().unwrap_or_default(),
        roles: roles(u),
        custom_field_values: Vec::new(),
        logo: text(&m, "logo"),
        phone_number: u.phone.as_ref().map(|p| p.as_str().to_owned()),
        is_follow_general_unit: flag(&m, "isFollowGeneralUnit", true),
        role_groups: m
            .get("roleGroups")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default(),
        is_supporter: flag(&m, "isSupporter", false),
        has_digest_daily: flag(&m, "hasDigestDaily", false),
        identity: None,
        adhesion: None,
        postal_code: text(&m, "postalCode"),
        address: text(&m, "address"),
        phone_local_number: text(&m, "phoneLocalNumber"),
        push_notification_tokens: Vec::new(),
        permissions: Vec::new(),
        custom_permissions: Vec::new(),
        privacy: m.get("privacy").filter(|v| v.is_object()).cloned(),
        notification_settings: m
            .get("notificationSettings")
            .filter(|v| v.is_object())
            .cloned(),
        profession_organisation: text(&m, "professionOrganisation"),
        profession_organisation_role: text(&m, "professionOrganisationRole"),
        has_digest_weekly: flag(&m, "hasDigestWeekly", false),
        company_identifier: text(&m, "companyIdentifier"),
        company_name: text(&m, "companyName"),
        company_address: text(&m, "companyAddress"),
        company_reg_no: text(&m, "companyRegNo"),
        mfa_enabled: false,
    }
}

fn type_error(v: &mut Validator, field: &str, kind: &str) {
    v.push(FieldError::new(
        Field::Wire(field.to_owned()),
        "invalid_type",
        format!("This value should be of type {kind}."),
    ));
}

/// Whether a NUL character is anywhere in `value`, keys included: no stored text holds one
/// (PostgreSQL keeps none in text or jsonb).
fn holds_nul(value: &Value) -> bool {
    match value {
        Value::String(s) => s.contains('\0'),
        Value::Array(items) => items.iter().any(holds_nul),
        Value::Object(m) => m.iter().any(|(k, v)| k.contains('\0') || holds_nul(v)),
        Value::Null | Value::Bool(_) | Value::Number(_) => false,
    }
}

/// Checks the attribute fields of a body and returns their merge patch (`null` clears).
pub fn attribute_patch(v: &mut Validator, body: &Map<String, Value>) -> Map<String, Value> {
    let mut patch = Map::new();
    for (name, kind) in ATTRIBUTE_FIELDS {
        let Some(value) = body.get(*name) else {
            continue;
        };
        if value.is_null() {
            patch.insert((*name).to_owned(), Value::Null);
            continue;
        }
        let ok = match kind {
            Kind::Bool => value.is_boolean(),
            Kind::Text => match value.as_str() {
                Some(s) if s.chars().count() > limits::SHORT_TEXT => {
                    v.push(FieldError::new(
                        Field::Wire((*name).to_owned()),
                        "too_long",
                        format!(
                            "This value is too long. It should have {} characters or less.",
                            limits::SHORT_TEXT
                        ),
                    ));
                    continue;
                }
                Some(_) => true,
                None => false,
            },
            Kind::DateTime => match value.as_str() {
                Some(s) => match parse_date(s) {
                    Some(t) => {
                        patch.insert((*name).to_owned(), Value::String(t.rfc3339()));
                        continue;
                    }
                    None => {
                        v.push(FieldError::new(
                            Field::Wire((*name).to_owned()),
                            "invalid_datetime",
                            "invalid date",
                        ));
                        continue;
                    }
                },
                None => false,
            },
            Kind::Strings => value
                .as_array()
                .is_some_and(|a| a.iter().all(Value::is_string)),
            Kind::Object => value.is_object(),
        };
        if ok && holds_nul(value) {
            v.push(FieldError::new(
                Field::Wire((*name).to_owned()),
                "invalid_text",
                "This value is not valid.",
            ));
        } else if ok {
            patch.insert((*name).to_owned(), value.clone());
        } else {
            let expected = match kind {
                Kind::Bool => "bool",
                Kind::Text | Kind::DateTime => "string",
                Kind::Strings => "array",
                Kind::Object => "object",
            };
            type_error(v, name, expected);
        }
    }
    patch
}

/// A birth date: RFC 3339; a plain `YYYY-MM-DD` (midnight UTC); or a local date and time without
/// an offset, `YYYY-MM-DD[T ]HH:MM[:SS[.fraction]]` (what HTML `datetime-local` sends, and what
/// PHP's `DateTimeImmutable` behind API Platform accepts), read as UTC.
pub(super) fn parse_date(s: &str) -> Option<Timestamp> {
    if let Ok(t) = Timestamp::parse(s) {
        return Some(t);
    }
    // Four-digit years only, as in RFC 3339: chrono's `%Y` also takes `+22000` or `-1`, whose
    // RFC 3339 form could not be read back (found by fuzzing).
    let b = s.as_bytes();
    if b.len() < 10 || !b[..4].iter().all(u8::is_ascii_digit) || b[4] != b'-' {
        return None;
    }
    if b.len() == 10 {
        // Midnight UTC, read as any date-time is (the store's range included).
        return Timestamp::parse(&format!("{s}T00:00:00Z")).ok();
    }
    // Without an offset: given the `Z` of UTC, the same strict RFC 3339 reading (two-digit fields,
    // leap seconds, the year range) as any other date.
    if !matches!(b[10], b'T' | b't' | b' ') {
        return None;
    }
    let time = &s[11..];
    if !time
        .bytes()
        .all(|c| c.is_ascii_digit() || c == b':' || c == b'.')
    {
        return None;
    }
    let seconds = if time.len() == 5 { ":00" } else { "" };
    Timestamp::parse(&format!("{}T{time}{seconds}Z", &s[..10])).ok()
}

/// An optional string member: absent → `None`, `null` → `Some(None)`, a string → `Some(Some)`.
pub fn nullable_text(
    v: &mut Validator,
    body: &Map<String, Value>,
    name: &str,
    max: usize,
) -> Option<Option<String>> {
    match body.get(name)? {
        Value::Null => Some(None),
        Value::String(s) if s.is_empty() => Some(None),
        Value::String(s) if s.chars().count() > max => {
            v.push(FieldError::new(
                Field::Wire(name.to_owned()),
                "too_long",
                format!("This value is too long. It should have {max} characters or less."),
            ));
            None
        }
        // Control characters other than line breaks and tabs, as everywhere in usher (a NUL
        // was stored on SQLite and a 500 on PostgreSQL).
        Value::String(s) if usher_core::types::text(s, max).is_err() => {
            v.push(FieldError::new(
                Field::Wire(name.to_owned()),
                "invalid_text",
                "This value is not valid.",
            ));
            None
        }
        Value::String(s) => Some(Some(s.clone())),
        _ => {
            type_error(v, name, "string");
            None
        }
    }
}

/// An email member: absent → `None`, `null` → `Some(None)` (cleared), an address → `Some(Some)`.
/// An empty string is no address and does not clear one: NotBlank, as for a missing `email` on
/// POST.
pub fn email_member(
    v: &mut Validator,
    body: &Map<String, Value>,
    name: &str,
) -> Option<Option<Email>> {
    if body.get(name).and_then(Value::as_str) == Some("") {
        v.push(FieldError::new(
            Field::Wire(name.to_owned()),
            "required",
            "blank",
        ));
        return None;
    }
    match nullable_text(v, body, name, Email::MAX_LEN)? {
        None => Some(None),
        Some(s) => match Email::parse(&s) {
            Ok(e) => Some(Some(e)),
            Err(_) => {
                v.push(FieldError::new(
                    Field::Wire(name.to_owned()),
                    "invalid_email",
                    "invalid email",
                ));
                None
            }
        },
    }
}

pub fn phone_member(
    v: &mut Validator,
    body: &Map<String, Value>,
    name: &str,
) -> Option<Option<Phone>> {
    match nullable_text(v, body, name, 64)? {
        None => Some(None),
        Some(s) => match Phone::parse_with_region(&s, None) {
            Ok(p) => Some(Some(p)),
            Err(_) => {
                v.push(FieldError::new(
                    Field::Wire(name.to_owned()),
                    "invalid_phone",
                    "invalid phone",
                ));
                None
            }
        },
    }
}

/// `roles`: an array of `ROLE_*` strings.
pub fn roles_member(v: &mut Validator, body: &Map<String, Value>) -> Option<Vec<String>> {
    let value = body.get("roles")?;
    let Some(list) = value.as_array() else {
        type_error(v, "roles", "array");
        return None;
    };
    let mut out = Vec::new();
    for r in list {
        match r.as_str() {
            Some(s)
                if s.starts_with("ROLE_")
                    && s.len() <= 100
                    && s.bytes()
                        .all(|b| b.is_ascii_uppercase() || b == b'_' || b.is_ascii_digit()) =>
            {
                if !out.iter().any(|x: &String| x == s) {
                    out.push(s.to_owned());
                }
            }
            _ => {
                v.push(FieldError::new(
                    Field::Wire("roles".into()),
                    "invalid_choice",
                    "invalid role",
                ));
                return None;
            }
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ages_count_whole_years() {
        let b = Timestamp::parse("2000-06-15T00:00:00Z").unwrap();
        assert_eq!(
            age(b, Timestamp::parse("2026-06-14T23:00:00Z").unwrap()),
            Some(25)
        );
        assert_eq!(
            age(b, Timestamp::parse("2026-06-15T00:00:00Z").unwrap()),
            Some(26)
        );
        assert_eq!(
            age(Timestamp::parse("2030-01-01T00:00:00Z").unwrap(), b),
            None
        );
    }

    #[test]
    fn dates_in_api_platform_form() {
        assert_eq!(
            api_date(Timestamp::parse("2026-01-15T10:30:00Z").unwrap()),
            "2026-01-15T10:30:00+00:00"
        );
        assert_eq!(
            parse_date("1990-02-03").unwrap().rfc3339(),
            "1990-02-03T00:00:00Z"
        );
    }

    /// Found by `fuzz/fuzz_targets/datetime.rs`: a `dateBirth` whose year has more or fewer than
    /// four digits was stored in a form that `Timestamp::parse` cannot read back.
    #[test]
    fn dates_have_four_digit_years() {
        for bad in [
            "22000-02-02",
            "+22000-02-02",
            "-1-01-01",
            "-0001-01-01",
            "+999-01-01",
            "99-1-1",
            // Outside the instants the store keeps (1677-09-21 to 2262-04-11).
            "0001-01-01",
            "9999-12-31",
            "1677-09-20",
            "2262-04-12",
        ] {
            assert_eq!(parse_date(bad), None, "{bad}");
        }
        for good in ["1677-09-22", "2262-04-11", "2000-02-29"] {
            let t = parse_date(good).unwrap();
            assert_eq!(Timestamp::parse(&t.rfc3339()), Ok(t), "{good}");
        }
    }

    /// `""` is no address: NotBlank, not a way to clear the email (`null` is).
    #[test]
    fn empty_email_is_blank() {
        let body = |v: Value| {
            let mut m = Map::new();
            m.insert("email".into(), v);
            m
        };
        let mut v = Validator::new();
        assert_eq!(
            email_member(&mut v, &body(Value::Null), "email"),
            Some(None)
        );
        assert!(v.is_ok());
        assert_eq!(email_member(&mut v, &Map::new(), "email"), None);
        assert!(v.is_ok());
        assert_eq!(email_member(&mut v, &body("".into()), "email"), None);
        match v.finish() {
            Err(usher_core::Error::Invalid(fields)) => {
                assert_eq!(fields.len(), 1);
                assert_eq!(fields[0].code, "required");
                assert_eq!(fields[0].field, Field::Wire("email".into()));
            }
            other => panic!("{other:?}"),
        }
    }

    /// A date and time without an offset (HTML `datetime-local`, PHP's `DateTimeImmutable`) is
    /// read as UTC; the year still has four digits and the fields two.
    #[test]
    fn dates_without_offset_are_utc() {
        for (given, stored) in [
            ("1990-01-01T00:00:00", "1990-01-01T00:00:00Z"),
            ("1990-01-01 00:00:00", "1990-01-01T00:00:00Z"),
            ("1990-01-01t13:45:07", "1990-01-01T13:45:07Z"),
            ("1990-01-01T13:45", "1990-01-01T13:45:00Z"),
            ("1990-01-01 13:45:07.25", "1990-01-01T13:45:07.250Z"),
            ("1990-01-01T00:00:00+02:00", "1989-12-31T22:00:00Z"),
        ] {
            let t = parse_date(given).unwrap_or_else(|| panic!("{given}"));
            assert_eq!(t.rfc3339(), stored, "{given}");
            assert_eq!(Timestamp::parse(&t.rfc3339()), Ok(t), "{given}");
        }
        for bad in [
            "1990-01-01T",
            "1990-01-01 ",
            "1990-01-01T1:2:3",
            "1990-01-01T25:00:00",
            "1990-13-01T00:00:00",
            "1990-01-01X00:00:00",
            "1990-01-01T00:00:00 ",
            "1990-01-01T00:00:00+",
            "19900-01-01T00:00:00",
            "+1990-01-01T00:00:00",
            "1990-01-01T00:00:00é",
            "1990-01-01Té",
        ] {
            assert_eq!(parse_date(bad), None, "{bad}");
        }
    }
}
