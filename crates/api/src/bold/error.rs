//! The Bold error body: four keys that repeat each other, from the documented 400 examples
//! (apidoc.boldsmartlock.com): `{"message", "code", "errorMessage", "errorCode"}`.

use axum::Json;
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use usher_core::error::{Conflict, Entity, Error, Field, FieldError};

#[derive(Debug)]
pub struct BoldError {
    pub status: StatusCode,
    pub code: String,
    pub message: String,
    /// The existing user of a 409.
    pub user_id: Option<i64>,
    pub retry_after: Option<u64>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Body<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    user_id: Option<i64>,
    message: &'a str,
    code: &'a str,
    error_message: &'a str,
    error_code: &'a str,
}

impl BoldError {
    pub fn new(status: StatusCode, code: &str, message: impl Into<String>) -> Self {
        Self {
            status,
            code: code.to_owned(),
            message: message.into(),
            user_id: None,
            retry_after: None,
        }
    }

    pub fn invalid(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "InvalidInput", message)
    }
}

impl IntoResponse for BoldError {
    fn into_response(self) -> Response {
        let body = Body {
            user_id: self.user_id,
            message: &self.message,
            code: &self.code,
            error_message: &self.message,
            error_code: &self.code,
        };
        let mut res = (self.status, Json(body)).into_response();
        if let Some(s) = self.retry_after
            && let Ok(v) = HeaderValue::from_str(&s.to_string())
        {
            res.headers_mut().insert("retry-after", v);
        }
        res
    }
}

/// A domain field in Bold's words.
pub fn field_name(f: &Field) -> &str {
    match f {
        Field::Organization => "organizationId",
        Field::Username => "username",
        Field::FirstName => "firstName",
        Field::LastName => "lastName",
        Field::NickName => "nickName",
        Field::DisplayName => "displayName",
        Field::PreferredLanguage => "language",
        Field::Email => "emailAddress",
        Field::Phone => "phoneNumber",
        Field::SuperUser => "superUser",
        Field::ExternalId => "externalId",
        Field::ClientId => "clientId",
        Field::Description => "description",
        Field::Remarks => "remarks",
        Field::AutoRemoveAfter => "autoRemoveAfter",
        Field::AuthOrganizationId => "authOrganizationId",
        Field::InvitationLanguage => "invitation.language",
        Field::InvitationExpiration => "invitation.expiration",
        Field::InvitationSendEmail => "invitation.sendEmail",
        Field::InvitationSendSms => "invitation.sendSms",
        Field::InvitationEmail => "invitation.emailAddress",
        Field::InvitationPhone => "invitation.phoneNumber",
        Field::UserGroup => "userGroupId",
        Field::GroupName => "name",
        Field::Name => "name",
        Field::Expiration => "expiration",
        Field::User => "userId",
        Field::Password => "password",
        Field::Code => "code",
        Field::Token => "token",
        Field::Wire(name) => name,
    }
}

/// A short description per reason, so the message reads `Invalid phone number: phoneNumber`.
fn reason(e: &FieldError) -> &str {
    match e.code {
        "invalid_phone" => "Invalid phone number",
        "invalid_email" => "Invalid email address",
        "invalid_language" => "Invalid language",
        "invalid_datetime" => "Invalid date/time",
        "invalid_period" => "Invalid period",
        "invalid_token" => "Invalid token",
        "invalid_text" => "Invalid text",
        "too_long" => "Value too long",
        "invalid_type" => "Invalid value",
        "out_of_range" => "Value out of range",
        "required" => "Missing value",
        "invalid_code" => "Invalid code",
        _ => &e.message,
    }
}

/// `Invalid phone number: phoneNumber; Missing value: name`, with a field-name mapper for routes
/// whose body nests differently.
pub fn describe(fields: &[FieldError], name: impl Fn(&Field) -> String) -> String {
    fields
        .iter()
        .map(|e| format!("{}: {}", reason(e), name(&e.field)))
        .collect::<Vec<_>>()
        .join("; ")
}

fn camel(code: &str) -> String {
    code.split('_')
        .map(|w| {
            let mut c = w.chars();
            match c.next() {
                Some(f) => f.to_ascii_uppercase().to_string() + c.as_str(),
                None => String::new(),
            }
        })
        .collect()
}

impl BoldError {
    /// Renders a core error, naming fields with `name`.
    pub fn from_core(e: Error, name: impl Fn(&Field) -> String) -> Self {
        match e {
            Error::NotFound(entity) => {
                let (code, message) = match entity {
                    Entity::User => ("UserNotFound", "User not found"),
                    Entity::UserGroup => ("UserGroupNotFound", "User group not found"),
                    Entity::Organization => ("OrganizationNotFound", "Organization not found"),
                    Entity::ApiKey => ("ApiKeyNotFound", "API key not found"),
                    Entity::Invitation => ("InvitationNotFound", "Invitation not found"),
                    Entity::Code => ("CodeNotFound", "Code not found"),
                    Entity::EmailChange => ("EmailChangeNotFound", "Email change not found"),
                };
                Self::new(StatusCode::NOT_FOUND, code, message)
            }
            Error::Gone(entity) => {
                let (code, message) = match entity {
                    Entity::Invitation => (
                        "InvitationGone",
                        "The invitation has expired or was already used",
                    ),
                    Entity::Code => ("CodeGone", "The code has expired or was already used"),
                    Entity::EmailChange => (
                        "EmailChangeGone",
                        "The confirmation link has expired or was already used",
                    ),
                    Entity::User | Entity::UserGroup | Entity::Organization | Entity::ApiKey => {
                        ("Gone", "No longer available")
                    }
                };
                Self::new(StatusCode::GONE, code, message)
            }
            Error::AlreadyExists { what, existing } => {
                let message = match what {
                    Conflict::UserEmail | Conflict::UserPhone | Conflict::UserExternalId => {
                        "User or user-invite already exists"
                    }
                    Conflict::Username => "Username already taken",
                    Conflict::ApiKeySecret | Conflict::Other => "Already exists",
                };
                let mut err = Self::new(StatusCode::CONFLICT, "AlreadyExists", message);
                err.user_id = existing;
                err
            }
            Error::Invalid(fields) => Self::invalid(describe(&fields, name)),
            Error::Unauthenticated => Self::new(
                StatusCode::UNAUTHORIZED,
                "InvalidToken",
                "Invalid authentication token",
            ),
            Error::PermissionDenied(_) => Self::new(
                StatusCode::FORBIDDEN,
                "InsufficientRights",
                "Insufficient rights",
            ),
            Error::FailedPrecondition { code, message } => {
                Self::new(StatusCode::BAD_REQUEST, &camel(code), message)
            }
            Error::RateLimited { retry_after } => {
                let mut err = Self::new(
                    StatusCode::TOO_MANY_REQUESTS,
                    "TooManyRequests",
                    "Too many requests",
                );
                err.retry_after = Some(retry_after.as_secs().max(1));
                err
            }
            Error::Unavailable(why) => {
                tracing::warn!(reason = %why, "service unavailable");
                let mut err = Self::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "ServiceUnavailable",
                    "Service unavailable, try again",
                );
                err.retry_after = Some(1);
                err
            }
            Error::Conflict => Self::new(
                StatusCode::CONFLICT,
                "ConcurrentModification",
                "Changed concurrently, try again",
            ),
            Error::Internal(cause) => {
                tracing::error!(error = %cause, cause = ?cause, "internal error");
                Self::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "InternalError",
                    "Internal error",
                )
            }
        }
    }
}

impl From<Error> for BoldError {
    fn from(e: Error) -> Self {
        BoldError::from_core(e, |f| field_name(f).to_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn status(e: Error) -> (StatusCode, String) {
        let b = BoldError::from(e);
        (b.status, b.code)
    }

    #[test]
    fn one_status_per_core_error() {
        assert_eq!(
            status(Error::NotFound(Entity::User)),
            (StatusCode::NOT_FOUND, "UserNotFound".into())
        );
        assert_eq!(
            status(Error::NotFound(Entity::UserGroup)),
            (StatusCode::NOT_FOUND, "UserGroupNotFound".into())
        );
        assert_eq!(
            status(Error::AlreadyExists {
                what: Conflict::UserEmail,
                existing: Some(3)
            }),
            (StatusCode::CONFLICT, "AlreadyExists".into())
        );
        assert_eq!(
            status(Error::invalid(Field::Phone, "invalid_phone", "x")),
            (StatusCode::BAD_REQUEST, "InvalidInput".into())
        );
        assert_eq!(
            status(Error::Unauthenticated),
            (StatusCode::UNAUTHORIZED, "InvalidToken".into())
        );
        assert_eq!(
            status(Error::PermissionDenied("x")),
            (StatusCode::FORBIDDEN, "InsufficientRights".into())
        );
        assert_eq!(
            status(Error::FailedPrecondition {
                code: "invitation_already_accepted",
                message: "m".into()
            }),
            (StatusCode::BAD_REQUEST, "InvitationAlreadyAccepted".into())
        );
        assert_eq!(
            status(Error::RateLimited {
                retry_after: Duration::from_secs(3)
            }),
            (StatusCode::TOO_MANY_REQUESTS, "TooManyRequests".into())
        );
        assert_eq!(
            status(Error::Unavailable("x".into())),
            (StatusCode::SERVICE_UNAVAILABLE, "ServiceUnavailable".into())
        );
        // Both ask the client to come back later, and say when.
        assert_eq!(
            BoldError::from(Error::Unavailable("x".into())).retry_after,
            Some(1)
        );
        assert_eq!(
            status(Error::Conflict),
            (StatusCode::CONFLICT, "ConcurrentModification".into())
        );
        assert_eq!(
            status(Error::internal(usher_core::error::Message("boom".into()))),
            (StatusCode::INTERNAL_SERVER_ERROR, "InternalError".into())
        );
    }

    #[test]
    fn messages_name_the_field() {
        let b = BoldError::from(Error::Invalid(vec![
            FieldError::new(Field::Phone, "invalid_phone", "Invalid phone number +1"),
            FieldError::required(Field::GroupName),
        ]));
        assert_eq!(
            b.message,
            "Invalid phone number: phoneNumber; Missing value: name"
        );
    }
}
