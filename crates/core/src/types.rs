//! Values parsed once at the edge. Each type can only hold a valid value: a dialect turns wire
//! text into these with `parse`, and a failure becomes a field-level validation error.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Months, SecondsFormat, Timelike, Utc};
use serde::{Deserialize, Serialize};

macro_rules! id_type {
    ($(#[$meta:meta])* $name:ident) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(pub i64);

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }
    };
}

id_type!(
    /// One id space for users across all dialects.
    UserId
);
id_type!(OrgId);
id_type!(GroupId);
id_type!(ApiKeyId);

/// Why a value did not parse; the dialect adds the field name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError {
    /// Stable, machine-readable reason, e.g. `invalid_phone`.
    pub code: &'static str,
    /// English description with the rejected value where it is safe to echo.
    pub message: String,
}

impl ParseError {
    fn new(code: &'static str, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
        }
    }
}

/// An instant, stored with nanosecond precision and shown in UTC.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(pub DateTime<Utc>);

impl Timestamp {
    /// ISO 8601 / RFC 3339 with a zone: `2022-06-23T13:53:02+02:00`,
    /// `2026-03-17T09:38:37.991821898Z`. A time without a zone is refused.
    ///
    /// A leap second (`:60`) is read as the start of the next second, as the store reads it back
    /// (nanoseconds since the epoch count none; found by fuzzing). An instant the store cannot
    /// keep is refused: it stores nanoseconds since the epoch in 64 bits, from
    /// 1677-09-21T00:12:43.145224192Z to 2262-04-11T23:47:16.854775807Z. (An expiration in the
    /// year 2300 was answered as given and then read back as 2262.)
    ///
    /// Besides RFC 3339, the other ISO 8601 forms Java's `ISO_OFFSET_DATE_TIME` reads (what a
    /// Bold client built on Jackson sends): no seconds (`2022-06-23T13:53+02:00`), an offset
    /// without a colon or without minutes (`+0200`, `+02`), and a comma before the fraction
    /// (`13:53:02,5Z`).
    pub fn parse(text: &str) -> Result<Self, ParseError> {
        let trimmed = text.trim();
        match DateTime::parse_from_rfc3339(trimmed) {
            Ok(t) => Self::checked(t.with_timezone(&Utc), text),
            Err(_) => match iso_8601_as_rfc3339(trimmed) {
                Some(rfc) => match DateTime::parse_from_rfc3339(&rfc) {
                    Ok(t) => Self::checked(t.with_timezone(&Utc), text),
                    Err(_) => Err(Self::unreadable(text)),
                },
                None => Err(Self::unreadable(text)),
            },
        }
    }

    fn unreadable(text: &str) -> ParseError {
        ParseError::new(
            "invalid_datetime",
            format!("Invalid date/time (ISO 8601 with a timezone expected) {text}"),
        )
    }

    /// A leap second moved to the next second, and the store's range checked.
    fn checked(t: DateTime<Utc>, text: &str) -> Result<Self, ParseError> {
        let bad = || Self::unreadable(text);
        let t = match t.nanosecond().checked_sub(1_000_000_000) {
            Some(n) => t
                .with_nanosecond(n)
                .and_then(|t| t.checked_add_signed(chrono::Duration::seconds(1)))
                .ok_or_else(bad)?,
            None => t,
        };
        if t.timestamp_nanos_opt().is_none() {
            return Err(ParseError::new(
                "invalid_datetime",
                format!(
                    "Invalid date/time (from 1677-09-21T00:12:43.145224192Z to \
                     2262-04-11T23:47:16.854775807Z) {text}"
                ),
            ));
        }
        Ok(Timestamp(t))
    }

    pub fn from_nanos(nanos: i64) -> Self {
        Timestamp(DateTime::from_timestamp_nanos(nanos))
    }

    /// Nanoseconds since the epoch; representable until the year 2262.
    pub fn nanos(self) -> i64 {
        self.0.timestamp_nanos_opt().unwrap_or(i64::MAX)
    }

    pub fn rfc3339(self) -> String {
        self.0.to_rfc3339_opts(SecondsFormat::AutoSi, true)
    }

    pub fn plus(self, d: chrono::Duration) -> Self {
        Timestamp(self.0 + d)
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.rfc3339())
    }
}

/// The ISO 8601 extended forms with a zone that RFC 3339 lacks, rewritten as RFC 3339 (which is
/// then read strictly): `YYYY-MM-DDTHH:MM[:SS[(.|,)fraction]]` followed by `Z`, `±HH`, `±HHMM`
/// or `±HH:MM`. Anything else is `None`.
fn iso_8601_as_rfc3339(s: &str) -> Option<String> {
    let b = s.as_bytes();
    if b.len() < 17 || !b[..10].is_ascii() || !matches!(b[10], b'T' | b't') {
        return None;
    }
    let (date, rest) = (&s[..10], &s[11..]);
    let (time, offset) = match rest.strip_suffix(['Z', 'z']) {
        Some(time) => (time, "+00:00".to_owned()),
        None => {
            let at = rest.rfind(['+', '-'])?;
            let (time, offset) = rest.split_at(at);
            let (sign, digits) = offset.split_at(1);
            let d = digits.as_bytes();
            let offset = match d.len() {
                2 if d.iter().all(u8::is_ascii_digit) => format!("{sign}{digits}:00"),
                4 if d.iter().all(u8::is_ascii_digit) => {
                    format!("{sign}{}:{}", &digits[..2], &digits[2..])
                }
                5 if d[2] == b':' => offset.to_owned(),
                _ => return None,
            };
            (time, offset)
        }
    };
    let time = time.replacen(',', ".", 1);
    let time = if time.len() == 5 {
        format!("{time}:00")
    } else {
        time
    };
    Some(format!("{date}T{time}{offset}"))
}

/// An email address, kept as given; compared case-insensitively.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Email(String);

impl Email {
    pub const MAX_LEN: usize = 254;

    pub fn parse(text: &str) -> Result<Self, ParseError> {
        let bad = || ParseError::new("invalid_email", format!("Invalid email address {text}"));
        let text_trimmed = text.trim();
        if text_trimmed.is_empty() || text_trimmed.len() > Self::MAX_LEN {
            return Err(bad());
        }
        let parsed = email_address::EmailAddress::from_str(text_trimmed).map_err(|_| bad())?;
        let domain = parsed.domain();
        // Deliverable addresses only: a dotted host name, no IP literals or quoted local parts.
        if !domain.contains('.')
            || domain.starts_with('[')
            || domain.ends_with('.')
            || parsed.local_part().starts_with('"')
            || text_trimmed
                .chars()
                .any(|c| c.is_whitespace() || c.is_control())
        {
            return Err(bad());
        }
        Ok(Email(text_trimmed.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The comparison key for uniqueness.
    pub fn normalized(&self) -> String {
        self.0.to_lowercase()
    }

    /// Rebuilds a value read back from the store (already validated when written).
    pub fn from_trusted(text: String) -> Self {
        Email(text)
    }
}

impl fmt::Display for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A phone number in E.164 form (`+31850607337`), valid for its country's numbering plan.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Phone(String);

impl Phone {
    /// Strict E.164: a `+`, the country code and the number, digits only.
    pub fn parse_e164(text: &str) -> Result<Self, ParseError> {
        let bad = || ParseError::new("invalid_phone", format!("Invalid phone number {text}"));
        if !Self::is_e164_form(text) {
            return Err(bad());
        }
        let phone = Self::parse_with_region(text, None).map_err(|_| bad())?;
        // Strict means kept as given: a number the numbering plan would rewrite (found by
        // fuzzing: `+35800871563`, a trunk prefix after the country code, became `+358871563`)
        // is not in E.164 form.
        if phone.0 != text {
            return Err(bad());
        }
        Ok(phone)
    }

    /// `+`, then 1 to 15 digits (E.164's limit, country code included), the first not `0`.
    fn is_e164_form(text: &str) -> bool {
        text.strip_prefix('+').is_some_and(|digits| {
            !digits.is_empty()
                && digits.len() <= 15
                && !digits.starts_with('0')
                && digits.bytes().all(|b| b.is_ascii_digit())
        })
    }

    /// Lenient form for dialects that accept national numbers: read in `region` (ISO 3166
    /// alpha-2) unless the text starts with `+`; spaces and punctuation are allowed.
    pub fn parse_with_region(text: &str, region: Option<&str>) -> Result<Self, ParseError> {
        let bad = || ParseError::new("invalid_phone", format!("Invalid phone number {text}"));
        if text.len() > 64 {
            return Err(bad());
        }
        let region = match region {
            Some(r) => Some(phonenumber::country::Id::from_str(r).map_err(|_| bad())?),
            None => None,
        };
        let number = phonenumber::parse(region, text).map_err(|_| bad())?;
        if !phonenumber::is_valid(&number) {
            return Err(bad());
        }
        let e164 = number.format().mode(phonenumber::Mode::E164).to_string();
        // A numbering plan may allow national numbers that are too long for E.164 as a whole
        // (found by fuzzing: +49 with 14 more digits); such a number could not be stored and
        // then be given back to the strict parser.
        if !Self::is_e164_form(&e164) {
            return Err(bad());
        }
        Ok(Phone(e164))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn from_trusted(text: String) -> Self {
        Phone(text)
    }
}

impl fmt::Display for Phone {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The nine languages usher writes messages and pages in (ISO 639-1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Language {
    Ar,
    De,
    En,
    Es,
    Fr,
    It,
    Nl,
    Pl,
    Cs,
}

impl Language {
    pub const ALL: [Language; 9] = [
        Language::Ar,
        Language::De,
        Language::En,
        Language::Es,
        Language::Fr,
        Language::It,
        Language::Nl,
        Language::Pl,
        Language::Cs,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Language::Ar => "ar",
            Language::De => "de",
            Language::En => "en",
            Language::Es => "es",
            Language::Fr => "fr",
            Language::It => "it",
            Language::Nl => "nl",
            Language::Pl => "pl",
            Language::Cs => "cs",
        }
    }

    /// Exactly one of the nine two-letter codes.
    pub fn parse(text: &str) -> Result<Self, ParseError> {
        Language::ALL
            .into_iter()
            .find(|l| l.as_str() == text)
            .ok_or_else(|| {
                ParseError::new(
                    "invalid_language",
                    format!(
                        "Invalid language {text} (one of ar, de, en, es, fr, it, nl, pl, cs expected)"
                    ),
                )
            })
    }

    /// The best of the nine for a BCP 47 tag such as `de-CH`; `None` when none fits.
    pub fn from_tag(tag: &str) -> Option<Self> {
        let primary = tag.split(['-', '_']).next()?.to_ascii_lowercase();
        Language::parse(&primary).ok()
    }
}

impl fmt::Display for Language {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// `autoRemoveAfter`: how long after it was set a user is removed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RemovalPeriod {
    Week,
    Month,
    Year,
}

impl RemovalPeriod {
    pub fn as_str(self) -> &'static str {
        match self {
            RemovalPeriod::Week => "WEEK",
            RemovalPeriod::Month => "MONTH",
            RemovalPeriod::Year => "YEAR",
        }
    }

    pub fn parse(text: &str) -> Result<Self, ParseError> {
        match text {
            "WEEK" => Ok(RemovalPeriod::Week),
            "MONTH" => Ok(RemovalPeriod::Month),
            "YEAR" => Ok(RemovalPeriod::Year),
            _ => Err(ParseError::new(
                "invalid_period",
                format!("Invalid period {text} (WEEK, MONTH or YEAR expected)"),
            )),
        }
    }

    /// Calendar arithmetic: a month after January 31st is the last day of February.
    pub fn after(self, from: Timestamp) -> Timestamp {
        let t = match self {
            RemovalPeriod::Week => from.0.checked_add_signed(chrono::Duration::weeks(1)),
            RemovalPeriod::Month => from.0.checked_add_months(Months::new(1)),
            RemovalPeriod::Year => from.0.checked_add_months(Months::new(12)),
        };
        Timestamp(t.unwrap_or(from.0))
    }
}

/// A token in lowercase UUID text form (`b5850315-ddba-4d87-ad09-57f42c10636f`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct UuidToken(String);

impl UuidToken {
    pub fn parse(text: &str) -> Result<Self, ParseError> {
        let bad = || ParseError::new("invalid_token", "Invalid token (UUID expected)".to_owned());
        if text.len() != 36 {
            return Err(bad());
        }
        let u = uuid::Uuid::try_parse(text).map_err(|_| bad())?;
        Ok(UuidToken(u.hyphenated().to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Free text with a length limit counted in characters; control characters other than line
/// breaks and tabs are refused.
pub fn text(value: &str, max_chars: usize) -> Result<String, ParseError> {
    if value.chars().count() > max_chars {
        return Err(ParseError::new(
            "too_long",
            format!("Too long (at most {max_chars} characters)"),
        ));
    }
    if value
        .chars()
        .any(|c| c.is_control() && c != '\n' && c != '\r' && c != '\t')
    {
        return Err(ParseError::new(
            "invalid_text",
            "Control characters are not allowed",
        ));
    }
    Ok(value.to_owned())
}

/// Limits for free-text fields.
pub mod limits {
    pub const NAME: usize = 200;
    pub const SHORT_TEXT: usize = 255;
    pub const LONG_TEXT: usize = 4000;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phones() {
        let ok = [
            "+31850607337",
            "+41791234567",
            "+12025550123",
            "+4915112345678",
        ];
        for p in ok {
            assert_eq!(Phone::parse_e164(p).unwrap().as_str(), p);
        }
        let bad = [
            "31850607337",
            "+3185060733",
            "+31 85 060 7337",
            "+999123",
            "",
            "+",
            "+0123456789",
            "+1234567890123456",
            "+31850607337x",
            "++31850607337",
        ];
        for p in bad {
            let e = Phone::parse_e164(p).unwrap_err();
            assert_eq!(e.code, "invalid_phone", "{p}");
        }
        assert_eq!(
            Phone::parse_with_region("079 123 45 67", Some("CH"))
                .unwrap()
                .as_str(),
            "+41791234567"
        );
        assert!(Phone::parse_with_region("079 123 45 67", Some("XX")).is_err());
    }

    /// Found by `fuzz/fuzz_targets/phone.rs`: the German plan allows a national number that makes
    /// 16 digits in E.164, which the strict parser (Bold, CSV import) refuses.
    #[test]
    fn lenient_phones_are_strict_e164() {
        for (text, region) in [
            ("VE285857530006073", Some("DE")),
            ("+49285857530006073", None),
        ] {
            assert!(Phone::parse_with_region(text, region).is_err(), "{text}");
        }
        let p = Phone::parse_with_region("0285 857530", Some("DE")).unwrap();
        assert_eq!(Phone::parse_e164(p.as_str()), Ok(p));
    }

    /// Found by `fuzz/fuzz_targets/phone.rs`: a strict number was silently rewritten into another
    /// one (the Finnish trunk prefix `0` after `+358` dropped); it is refused instead.
    #[test]
    fn strict_phones_are_kept_as_given_or_refused() {
        for text in ["+35800871563", "+3580871563"] {
            match Phone::parse_e164(text) {
                Ok(p) => assert_eq!(p.as_str(), text),
                Err(e) => assert_eq!(e.code, "invalid_phone"),
            }
        }
        assert!(Phone::parse_e164("+35800871563").is_err());
        assert_eq!(
            Phone::parse_e164("+358401234567").unwrap().as_str(),
            "+358401234567"
        );
    }

    #[test]
    fn emails() {
        for e in ["a@b.com", "A.B+tag@Example.COM", "x_y@sub.example.org"] {
            assert_eq!(Email::parse(e).unwrap().as_str(), e);
        }
        for e in [
            "charlie-example.com",
            "a@b",
            "a@b..com",
            "x@[1.2.3.4]",
            "\"a b\"@x.com",
            "",
            "a b@c.com",
            "a@b.com.",
        ] {
            assert!(Email::parse(e).is_err(), "{e}");
        }
        let long = format!("{}@example.com", "a".repeat(250));
        assert!(Email::parse(&long).is_err());
        assert_eq!(Email::parse("A@B.com").unwrap().normalized(), "a@b.com");
    }

    #[test]
    fn languages() {
        for l in Language::ALL {
            assert_eq!(Language::parse(l.as_str()).unwrap(), l);
        }
        for bad in ["EN", "english", "", "pt", "en-US"] {
            assert!(Language::parse(bad).is_err(), "{bad}");
        }
        assert_eq!(Language::from_tag("de-CH"), Some(Language::De));
        assert_eq!(Language::from_tag("pt-BR"), None);
    }

    #[test]
    fn timestamps() {
        let t = Timestamp::parse("2022-06-23T13:53:02+02:00").unwrap();
        assert_eq!(t.rfc3339(), "2022-06-23T11:53:02Z");
        let n = Timestamp::parse("2026-03-17T09:38:37.991821898Z").unwrap();
        assert_eq!(n.rfc3339(), "2026-03-17T09:38:37.991821898Z");
        assert_eq!(Timestamp::from_nanos(n.nanos()), n);
        for bad in [
            "2022-06-23T13:53:02",
            "2022-06-23",
            "yesterday",
            "2022-13-01T00:00:00Z",
            "",
            "2022-06-23T13:53",
            "2022-06-23T13:53:02+2",
            "2022-06-23T13:53:02+020",
            "2022-06-23T13:53:02+02:0",
            "2022-06-23T13:53:02+0a00",
            "2022-06-23T13:5+02:00",
            "2022-06-23T13:53:02,+02",
            "2022-06-23T13:53:02.5,5Z",
            "2022-06-23T13:53:02+25:00",
            "2022-06-23T13:53:02\u{e9}+02",
            "\u{e9}022-06-23T13:53:02+02",
            "2022-06-23 13:53+02:00",
        ] {
            assert!(Timestamp::parse(bad).is_err(), "{bad}");
        }
    }

    /// The ISO 8601 forms Java's `ISO_OFFSET_DATE_TIME` reads besides RFC 3339.
    #[test]
    fn iso_8601_forms() {
        for (given, instant) in [
            ("2022-06-23T13:53+02:00", "2022-06-23T11:53:00Z"),
            ("2022-06-23T13:53:02+0200", "2022-06-23T11:53:02Z"),
            ("2022-06-23T13:53:02-0530", "2022-06-23T19:23:02Z"),
            ("2022-06-23T13:53:02+02", "2022-06-23T11:53:02Z"),
            ("2022-06-23T13:53Z", "2022-06-23T13:53:00Z"),
            ("2022-06-23t13:53z", "2022-06-23T13:53:00Z"),
            ("2022-06-23T13:53:02,5Z", "2022-06-23T13:53:02.500Z"),
            (
                "2022-06-23T13:53:02.123456789-02",
                "2022-06-23T15:53:02.123456789Z",
            ),
            (" 2022-06-23T13:53+02 ", "2022-06-23T11:53:00Z"),
        ] {
            let t = Timestamp::parse(given).unwrap_or_else(|e| panic!("{given}: {e:?}"));
            assert_eq!(t.rfc3339(), instant, "{given}");
        }
        // The range check holds for these forms too, and names what was given.
        let e = Timestamp::parse("2262-04-12T00:00+0000").unwrap_err();
        assert!(
            e.message.ends_with(" 2262-04-12T00:00+0000"),
            "{}",
            e.message
        );
    }

    /// Found by `fuzz/fuzz_targets/datetime.rs`: a leap second changed when stored and read back,
    /// and offsets could move an instant out of the four-digit years RFC 3339 can write.
    #[test]
    fn timestamps_read_back_as_parsed() {
        let leap = Timestamp::parse("2026-01-17T09:38:60.903898Z").unwrap();
        assert_eq!(leap.rfc3339(), "2026-01-17T09:39:00.903898Z");
        assert_eq!(Timestamp::from_nanos(leap.nanos()), leap);
        for bad in [
            "9999-12-31T23:59:60Z",
            "9999-12-31T23:00:00-01:00",
            "0000-01-01T00:00:00+01:00",
        ] {
            assert!(Timestamp::parse(bad).is_err(), "{bad}");
        }
        // The store's range, to the nanosecond, and nothing past it.
        for (first, last) in [
            (
                "1677-09-21T00:12:43.145224192Z",
                "2262-04-11T23:47:16.854775807Z",
            ),
            (
                "1677-09-21T01:12:43.145224192+01:00",
                "2262-04-11T22:47:16.854775807-01:00",
            ),
        ] {
            let (first, last) = (
                Timestamp::parse(first).unwrap(),
                Timestamp::parse(last).unwrap(),
            );
            assert_eq!((first.nanos(), last.nanos()), (i64::MIN, i64::MAX));
            assert_eq!(Timestamp::from_nanos(last.nanos()), last);
            assert_eq!(Timestamp::parse(&last.rfc3339()), Ok(last));
        }
        for bad in [
            "1677-09-21T00:12:43.145224191Z",
            "2262-04-11T23:47:16.854775808Z",
            "2300-01-01T00:00:00Z",
            "9999-12-31T23:59:59.999999999Z",
            "0001-01-01T00:00:00Z",
        ] {
            let e = Timestamp::parse(bad).unwrap_err();
            assert_eq!(e.code, "invalid_datetime", "{bad}");
        }
    }

    #[test]
    fn periods() {
        let jan31 = Timestamp::parse("2025-01-31T10:00:00Z").unwrap();
        assert_eq!(
            RemovalPeriod::Month.after(jan31).rfc3339(),
            "2025-02-28T10:00:00Z"
        );
        assert_eq!(
            RemovalPeriod::Week.after(jan31).rfc3339(),
            "2025-02-07T10:00:00Z"
        );
        let leap = Timestamp::parse("2024-02-29T00:00:00Z").unwrap();
        assert_eq!(
            RemovalPeriod::Year.after(leap).rfc3339(),
            "2025-02-28T00:00:00Z"
        );
        assert!(RemovalPeriod::parse("week").is_err());
        assert_eq!(RemovalPeriod::parse("YEAR").unwrap(), RemovalPeriod::Year);
    }

    #[test]
    fn tokens() {
        let t = UuidToken::parse("B5850315-DDBA-4D87-AD09-57F42C10636F").unwrap();
        assert_eq!(t.as_str(), "b5850315-ddba-4d87-ad09-57f42c10636f");
        assert!(UuidToken::parse("b5850315ddba4d87ad0957f42c10636f").is_err());
        assert!(UuidToken::parse("not-a-token").is_err());
    }

    #[test]
    fn texts() {
        assert!(text("Caroline", limits::NAME).is_ok());
        assert!(text(&"x".repeat(201), limits::NAME).is_err());
        assert!(text("a\u{0}b", limits::NAME).is_err());
        assert!(text("line\nbreak", limits::LONG_TEXT).is_ok());
    }
}

/// A link template in Go `text/template` syntax, restricted to the three values usher fills in:
/// `{{.UserID}}`, `{{.Code}}` and `{{.OrgID}}` (spaces and `-` trim markers allowed, as Go allows
/// them). Anything else — another field, a function, a pipeline, an unclosed action — is refused,
/// so a template either renders exactly or is rejected before anything is written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UrlTemplate {
    /// The template as given, kept with an invitation for its resends.
    source: String,
    parts: Vec<TemplatePart>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum TemplatePart {
    Text(String),
    UserId,
    Code,
    OrgId,
}

impl UrlTemplate {
    pub const MAX_LEN: usize = 200;

    pub fn parse(text: &str) -> Result<Self, ParseError> {
        let bad = |why: &str| {
            ParseError::new(
                "invalid_url_template",
                format!("Invalid URL template: {why}"),
            )
        };
        if text.is_empty() || text.chars().count() > Self::MAX_LEN {
            return Err(bad("1 to 200 characters expected"));
        }
        // No link holds one, and PostgreSQL cannot store NUL in the outbox's JSON.
        if text.chars().any(char::is_control) {
            return Err(bad("control characters are not allowed"));
        }
        let mut parts = Vec::new();
        let mut rest = text;
        let mut trim_next = false;
        while let Some(open) = rest.find("{{") {
            let mut literal = rest[..open].to_owned();
            if trim_next {
                literal = literal.trim_start().to_owned();
            }
            let after = &rest[open + 2..];
            let close = after
                .find("}}")
                .ok_or_else(|| bad("an action is not closed"))?;
            let mut action = &after[..close];
            // `{{- x` trims the text before; `x -}}` trims the text after (Go needs the space).
            if let Some(a) = action.strip_prefix('-')
                && a.starts_with(|c: char| c.is_ascii_whitespace())
            {
                literal = literal.trim_end().to_owned();
                action = a;
            }
            trim_next = false;
            if let Some(a) = action.strip_suffix('-')
                && a.ends_with(|c: char| c.is_ascii_whitespace())
            {
                trim_next = true;
                action = a;
            }
            if !literal.is_empty() {
                parts.push(TemplatePart::Text(literal));
            }
            parts.push(match action.trim() {
                ".UserID" => TemplatePart::UserId,
                ".Code" => TemplatePart::Code,
                ".OrgID" => TemplatePart::OrgId,
                other => return Err(bad(&format!("only {{{{.UserID}}}}, {{{{.Code}}}} and {{{{.OrgID}}}} may be used, not {{{{{other}}}}}"))),
            });
            rest = &after[close + 2..];
        }
        let mut literal = rest.to_owned();
        if trim_next {
            literal = literal.trim_start().to_owned();
        }
        if !literal.is_empty() {
            parts.push(TemplatePart::Text(literal));
        }
        Ok(Self {
            source: text.to_owned(),
            parts,
        })
    }

    /// The template as it was given.
    pub fn as_str(&self) -> &str {
        &self.source
    }

    pub fn render(&self, user_id: &str, code: &str, org_id: &str) -> String {
        let mut out = String::new();
        for p in &self.parts {
            match p {
                TemplatePart::Text(t) => out.push_str(t),
                TemplatePart::UserId => out.push_str(user_id),
                TemplatePart::Code => out.push_str(code),
                TemplatePart::OrgId => out.push_str(org_id),
            }
        }
        out
    }
}

#[cfg(test)]
mod url_template_tests {
    use super::UrlTemplate;

    #[test]
    fn renders_the_three_values() {
        let t = UrlTemplate::parse(
            "https://example.com/email/verify?userID={{.UserID}}&code={{.Code}}&orgID={{.OrgID}}",
        )
        .unwrap();
        assert_eq!(
            t.render("7", "ABC123", "1"),
            "https://example.com/email/verify?userID=7&code=ABC123&orgID=1"
        );
        let t = UrlTemplate::parse("https://x.example/{{ .Code }}/a {{- .UserID -}} b").unwrap();
        assert_eq!(t.render("7", "C", "1"), "https://x.example/C/a7b");
        assert_eq!(
            UrlTemplate::parse("https://static.example/")
                .unwrap()
                .render("1", "2", "3"),
            "https://static.example/"
        );
    }

    #[test]
    fn refuses_everything_else() {
        for bad in [
            "",
            "https://x/{{.Email}}",
            "https://x/{{.Code | html}}",
            "https://x/{{printf \"%s\" .Code}}",
            "https://x/{{.Code",
            "https://x/{{}}",
            "https://x/{{.code}}",
            "https://x/{{-.Code}}",
            "{{range .}}x{{end}}",
        ] {
            assert!(UrlTemplate::parse(bad).is_err(), "{bad}");
        }
        assert!(UrlTemplate::parse(&"a".repeat(201)).is_err());
        assert!(UrlTemplate::parse(&"a".repeat(200)).is_ok());
    }

    #[test]
    fn refuses_control_characters() {
        for bad in [
            "https://x/\u{0}{{.Code}}",
            "https://x/{{.Code}}\u{0}",
            "https://x/{{\u{0}.Code}}",
            "https://x/\n{{.Code}}",
            "https://x/{{- .Code\t-}}",
            "https://x/\u{7f}",
            "https://x/\u{85}",
        ] {
            let e = UrlTemplate::parse(bad).expect_err(bad);
            assert_eq!(e.code, "invalid_url_template", "{bad:?}");
            assert!(e.message.contains("control characters"), "{bad:?}");
        }
    }
}
