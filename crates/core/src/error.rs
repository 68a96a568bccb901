//! The one closed error type of the core. Every dialect renders it with an exhaustive `match`.

use std::fmt;
use std::time::Duration;

use crate::types::ParseError;

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What kind of thing was not found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Entity {
    User,
    UserGroup,
    Organization,
    ApiKey,
    Invitation,
    /// A one-time code (verification link).
    Code,
    /// An email-change confirmation link.
    EmailChange,
}

/// A domain field, named the same in every dialect's mind but rendered in each one's words.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Field {
    Organization,
    Username,
    FirstName,
    LastName,
    NickName,
    DisplayName,
    PreferredLanguage,
    Email,
    Phone,
    SuperUser,
    ExternalId,
    ClientId,
    Description,
    Remarks,
    AutoRemoveAfter,
    AuthOrganizationId,
    InvitationLanguage,
    InvitationExpiration,
    InvitationSendEmail,
    InvitationSendSms,
    InvitationEmail,
    InvitationPhone,
    UserGroup,
    GroupName,
    Name,
    Expiration,
    User,
    Password,
    Code,
    Token,
    /// A name only the dialect knows (already in its own words).
    Wire(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    pub field: Field,
    /// Stable machine-readable reason (`invalid_phone`, `required`, `too_long` …).
    pub code: &'static str,
    pub message: String,
}

impl FieldError {
    pub fn new(field: Field, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            field,
            code,
            message: message.into(),
        }
    }

    pub fn from_parse(field: Field, e: ParseError) -> Self {
        Self {
            field,
            code: e.code,
            message: e.message,
        }
    }

    pub fn required(field: Field) -> Self {
        Self::new(field, "required", "A value is required")
    }
}

/// What already exists.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Conflict {
    /// A user with this email address exists in the organization.
    UserEmail,
    /// A user with no email and this phone number exists in the organization.
    UserPhone,
    /// The username is taken in the instance.
    Username,
    /// A user with this external id exists in the organization.
    UserExternalId,
    /// An API key with this secret exists.
    ApiKeySecret,
    /// Anything else unique (named by the constraint).
    Other,
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{0:?} not found")]
    NotFound(Entity),
    #[error("already exists: {what:?}")]
    AlreadyExists {
        what: Conflict,
        /// The id of the existing user, when the conflict is about a user.
        existing: Option<i64>,
    },
    #[error("invalid input: {}", fmt_fields(.0))]
    Invalid(Vec<FieldError>),
    #[error("unauthenticated")]
    Unauthenticated,
    #[error("permission denied: {0}")]
    PermissionDenied(&'static str),
    #[error("failed precondition {code}: {message}")]
    FailedPrecondition { code: &'static str, message: String },
    #[error("rate limited, retry after {retry_after:?}")]
    RateLimited { retry_after: Duration },
    #[error("unavailable: {0}")]
    Unavailable(String),
    /// A link or token that existed but is used up or expired.
    #[error("{0:?} is gone (used or expired)")]
    Gone(Entity),
    /// A concurrent change won; the service retries, clients never see this.
    #[error("concurrent modification")]
    Conflict,
    #[error("internal error: {0}")]
    Internal(#[source] Box<dyn std::error::Error + Send + Sync>),
}

fn fmt_fields(fields: &[FieldError]) -> String {
    fields
        .iter()
        .map(|f| format!("{:?}: {}", f.field, f.message))
        .collect::<Vec<_>>()
        .join("; ")
}

impl Error {
    pub fn internal(e: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> Self {
        Error::Internal(e.into())
    }

    pub fn invalid(field: Field, code: &'static str, message: impl Into<String>) -> Self {
        Error::Invalid(vec![FieldError::new(field, code, message)])
    }
}

/// An internal cause with only a message.
#[derive(Debug)]
pub struct Message(pub String);

impl fmt::Display for Message {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Message {}

/// Collects field errors so that every bad field is reported at once.
#[derive(Debug, Default)]
pub struct Validator {
    errors: Vec<FieldError>,
}

impl Validator {
    pub fn new() -> Self {
        Self::default()
    }

    /// Keeps the value or records the error under `field`.
    pub fn check<T>(&mut self, field: Field, r: std::result::Result<T, ParseError>) -> Option<T> {
        match r {
            Ok(v) => Some(v),
            Err(e) => {
                self.errors.push(FieldError::from_parse(field, e));
                None
            }
        }
    }

    pub fn push(&mut self, e: FieldError) {
        self.errors.push(e);
    }

    pub fn is_ok(&self) -> bool {
        self.errors.is_empty()
    }

    pub fn finish(self) -> Result<()> {
        if self.errors.is_empty() {
            Ok(())
        } else {
            Err(Error::Invalid(self.errors))
        }
    }
}
