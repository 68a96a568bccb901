//! API Platform 3.4 errors in RFC 7807 mode: `application/problem+json` with the Hydra error
//! `Link`, and 422 `ConstraintViolationList`s reporting every bad field at once with Symfony's
//! stable constraint codes.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use usher_core::error::{Conflict, Entity, Error, Field, FieldError};

/// Symfony's constraint error codes (the `code` of a violation).
pub mod codes {
    pub const NOT_BLANK: &str = "c1051bb4-d103-4f74-8988-acbcafc7fdc3";
    pub const INVALID_EMAIL: &str = "bd79c0ab-ddba-46cc-a703-a7a4b08de310";
    pub const TOO_LONG: &str = "d94b19cc-114f-4f44-9cc4-4138e80a87b9";
    pub const TOO_SHORT: &str = "9ff3fdc4-b214-49db-8718-39c315e33d45";
    pub const INVALID_TYPE: &str = "ba785a8c-82cb-4283-967c-3cf342181b40";
    pub const NOT_UNIQUE: &str = "23bd9dbf-6b9b-41cd-a99e-4844bcf3077f";
    pub const NO_SUCH_CHOICE: &str = "8e179f1b-97aa-4560-a02f-2a8b42e49df7";
    pub const INVALID_PHONE: &str = "ca23f4ca-38f4-4325-9bcc-eb570a4abe7f";
    pub const INVALID_DATETIME: &str = "1a9da513-2640-4f84-9b6a-4d99dcddc628";
    /// NotCompromisedPassword: usher's common-password list plays its part.
    pub const COMMON_PASSWORD: &str = "d9bcdbfe-a9d6-4bfa-a8ff-da5fd93e0f6d";
    /// UserPassword::INVALID_PASSWORD_ERROR (a wrong current password).
    pub const WRONG_PASSWORD: &str = "2d2a8bb4-ddc8-45e4-9b0f-8670d3a3e290";
}

#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Violation {
    pub property_path: String,
    pub message: String,
    /// Every constraint usher reports has a Symfony code.
    pub code: &'static str,
}

impl Violation {
    pub fn new(path: &str, message: impl Into<String>, code: &'static str) -> Self {
        Self {
            property_path: path.to_owned(),
            message: message.into(),
            code,
        }
    }
}

#[derive(Debug, Clone)]
pub enum OrgoError {
    Problem {
        status: StatusCode,
        detail: String,
        retry_after: Option<u64>,
    },
    Violations(Vec<Violation>),
}

#[derive(Serialize)]
struct Problem<'a> {
    #[serde(rename = "type")]
    type_: String,
    title: &'static str,
    detail: &'a str,
    status: u16,
    description: &'a str,
    #[serde(rename = "hydra:title")]
    hydra_title: &'static str,
    #[serde(rename = "hydra:description")]
    hydra_description: &'a str,
}

#[derive(Serialize)]
struct ViolationList<'a> {
    #[serde(rename = "@id")]
    id: String,
    #[serde(rename = "@type")]
    kind: &'static str,
    status: u16,
    title: &'static str,
    detail: &'a str,
    violations: &'a [Violation],
    #[serde(rename = "type")]
    type_: String,
    description: &'a str,
    #[serde(rename = "hydra:title")]
    hydra_title: &'static str,
    #[serde(rename = "hydra:description")]
    hydra_description: &'a str,
}

const TITLE: &str = "An error occurred";

/// The id of a violation list, as API Platform 3.4's `ValidationException::getId()` makes it: the
/// one violation's code, or for several `CompositeIdentifierParser::stringify` of the codes by
/// position (`0=<code>;1=<code>`).
fn list_id(list: &[Violation]) -> String {
    match list {
        [one] => one.code.to_owned(),
        _ => list
            .iter()
            .enumerate()
            .map(|(i, v)| format!("{i}={}", v.code))
            .collect::<Vec<_>>()
            .join(";"),
    }
}

impl OrgoError {
    pub fn status(status: StatusCode, detail: impl Into<String>) -> Self {
        OrgoError::Problem {
            status,
            detail: detail.into(),
            retry_after: None,
        }
    }

    pub fn bad_request(detail: impl Into<String>) -> Self {
        Self::status(StatusCode::BAD_REQUEST, detail)
    }

    pub fn not_found() -> Self {
        Self::status(StatusCode::NOT_FOUND, "Not Found")
    }

    pub fn one(path: &str, message: impl Into<String>, code: &'static str) -> Self {
        OrgoError::Violations(vec![Violation::new(path, message, code)])
    }
}

impl IntoResponse for OrgoError {
    fn into_response(self) -> Response {
        let (status, body, retry) = match &self {
            OrgoError::Problem {
                status,
                detail,
                retry_after,
            } => {
                let body = serde_json::to_vec(&Problem {
                    type_: format!("/errors/{}", status.as_u16()),
                    title: TITLE,
                    detail,
                    status: status.as_u16(),
                    description: detail,
                    hydra_title: TITLE,
                    hydra_description: detail,
                });
                (*status, body, *retry_after)
            }
            OrgoError::Violations(list) => {
                let detail = list
                    .iter()
                    .map(|v| format!("{}: {}", v.property_path, v.message))
                    .collect::<Vec<_>>()
                    .join("\n");
                let id = format!("/validation_errors/{}", list_id(list));
                let body = serde_json::to_vec(&ViolationList {
                    id: id.clone(),
                    kind: "ConstraintViolationList",
                    status: 422,
                    title: TITLE,
                    detail: &detail,
                    violations: list,
                    type_: id,
                    description: &detail,
                    hydra_title: TITLE,
                    hydra_description: &detail,
                });
                (StatusCode::UNPROCESSABLE_ENTITY, body, None)
            }
        };
        let mut res = (status, body.unwrap_or_default()).into_response();
        let h = res.headers_mut();
        h.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json; charset=utf-8"),
        );
        h.insert(
            header::LINK,
            HeaderValue::from_static(
                "<http://www.w3.org/ns/hydra/error>; rel=\"http://www.w3.org/ns/json-ld#error\"",
            ),
        );
        if let Some(s) = retry
            && let Ok(v) = HeaderValue::from_str(&s.to_string())
        {
            h.insert(header::RETRY_AFTER, v);
        }
        res
    }
}

/// A domain field in Orgo's words.
pub fn field_name(f: &Field) -> &str {
    match f {
        Field::Organization => "organization",
        Field::Username => "username",
        Field::FirstName => "firstName",
        Field::LastName => "lastName",
        Field::NickName => "nickName",
        Field::DisplayName => "fullName",
        Field::PreferredLanguage => "language",
        Field::Email => "email",
        Field::Phone => "phoneNumber",
        Field::SuperUser => "roles",
        Field::ExternalId => "externalId",
        Field::ClientId => "clientId",
        Field::Description => "description",
        Field::Remarks => "remarks",
        Field::AutoRemoveAfter => "autoRemoveAfter",
        Field::AuthOrganizationId => "authOrganizationId",
        Field::InvitationLanguage
        | Field::InvitationExpiration
        | Field::InvitationSendEmail
        | Field::InvitationSendSms
        | Field::InvitationEmail
        | Field::InvitationPhone => "invitation",
        Field::UserGroup => "userGroup",
        Field::GroupName | Field::Name => "name",
        Field::Expiration => "expiresAt",
        Field::User => "user",
        Field::Password => "newPassword",
        Field::Code => "code",
        Field::Token => "token",
        Field::Wire(name) => name,
    }
}

fn violation_of(e: &FieldError) -> Violation {
    let path = field_name(&e.field);
    let (code, message) = match e.code {
        "required" => (
            codes::NOT_BLANK,
            "This value should not be blank.".to_owned(),
        ),
        "invalid_email" => (
            codes::INVALID_EMAIL,
            "This value is not a valid email address.".to_owned(),
        ),
        "invalid_phone" => (
            codes::INVALID_PHONE,
            "This value is not a valid phone number.".to_owned(),
        ),
        "invalid_datetime" => (
            codes::INVALID_DATETIME,
            "This value is not a valid datetime.".to_owned(),
        ),
        "invalid_choice" => (
            codes::NO_SUCH_CHOICE,
            "The value you selected is not a valid choice.".to_owned(),
        ),
        "too_long" | "password_too_long" => (codes::TOO_LONG, e.message.clone()),
        "password_too_short" => (codes::TOO_SHORT, e.message.clone()),
        "password_common" => (
            codes::COMMON_PASSWORD,
            "This password is too common, it must not be used. Please use another password."
                .to_owned(),
        ),
        "wrong_password" => (
            codes::WRONG_PASSWORD,
            "This value should be the user's current password.".to_owned(),
        ),
        _ => (codes::INVALID_TYPE, e.message.clone()),
    };
    Violation {
        property_path: path.to_owned(),
        message,
        code,
    }
}

impl From<Error> for OrgoError {
    fn from(e: Error) -> Self {
        match e {
            Error::NotFound(
                Entity::User
                | Entity::UserGroup
                | Entity::Organization
                | Entity::ApiKey
                | Entity::Invitation
                | Entity::Code
                | Entity::EmailChange,
            ) => OrgoError::not_found(),
            Error::AlreadyExists { what, .. } => {
                let path = match what {
                    Conflict::UserEmail => "email",
                    Conflict::UserPhone => "phoneNumber",
                    Conflict::Username => "username",
                    Conflict::UserExternalId => "externalId",
                    Conflict::ApiKeySecret | Conflict::Other => "id",
                };
                OrgoError::one(path, "This value is already used.", codes::NOT_UNIQUE)
            }
            Error::Invalid(fields) => {
                OrgoError::Violations(fields.iter().map(violation_of).collect())
            }
            Error::Unauthenticated => {
                OrgoError::status(StatusCode::UNAUTHORIZED, "Invalid JWT Token")
            }
            Error::PermissionDenied(_) => {
                OrgoError::status(StatusCode::FORBIDDEN, "Access Denied.")
            }
            Error::FailedPrecondition { message, .. } => OrgoError::bad_request(message),
            Error::RateLimited { retry_after } => OrgoError::Problem {
                status: StatusCode::TOO_MANY_REQUESTS,
                detail: "Too many failed attempts, please try again later.".to_owned(),
                retry_after: Some(retry_after.as_secs().max(1)),
            },
            Error::Unavailable(why) => {
                tracing::warn!(reason = %why, "service unavailable");
                OrgoError::Problem {
                    status: StatusCode::SERVICE_UNAVAILABLE,
                    detail: "Service Unavailable".to_owned(),
                    retry_after: Some(1),
                }
            }
            Error::Gone(_) => OrgoError::status(
                StatusCode::GONE,
                "The link has expired or was already used.",
            ),
            Error::Conflict => OrgoError::status(
                StatusCode::CONFLICT,
                "The resource was changed concurrently.",
            ),
            Error::Internal(cause) => {
                tracing::error!(error = %cause, cause = ?cause, "internal error");
                OrgoError::status(StatusCode::INTERNAL_SERVER_ERROR, "Internal Server Error")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn status(e: Error) -> u16 {
        match OrgoError::from(e) {
            OrgoError::Problem { status, .. } => status.as_u16(),
            OrgoError::Violations(_) => 422,
        }
    }

    #[test]
    fn statuses() {
        assert_eq!(status(Error::NotFound(Entity::User)), 404);
        assert_eq!(status(Error::Unauthenticated), 401);
        assert_eq!(status(Error::PermissionDenied("x")), 403);
        assert_eq!(
            status(Error::invalid(Field::Email, "invalid_email", "x")),
            422
        );
        assert_eq!(
            status(Error::AlreadyExists {
                what: Conflict::UserEmail,
                existing: None
            }),
            422
        );
        assert_eq!(
            status(Error::RateLimited {
                retry_after: Duration::from_secs(2)
            }),
            429
        );
        assert_eq!(
            status(Error::FailedPrecondition {
                code: "x",
                message: "m".into()
            }),
            400
        );
        assert_eq!(status(Error::Gone(Entity::EmailChange)), 410);
        // Unavailable asks the client to come back, and says when.
        let res = OrgoError::from(Error::Unavailable("x".into())).into_response();
        assert_eq!(res.status(), 503);
        assert_eq!(res.headers()["retry-after"], "1");
    }

    fn body_of(e: OrgoError) -> serde_json::Value {
        let res = e.into_response();
        let bytes = futures::executor::block_on(axum::body::to_bytes(res.into_body(), 1 << 20))
            .expect("body");
        serde_json::from_slice(&bytes).expect("json")
    }

    /// API Platform 3.4's `ValidationException::getId()`: the code of one violation; for several,
    /// `CompositeIdentifierParser::stringify` of the codes by position.
    #[test]
    fn violation_list_ids() {
        let one = body_of(OrgoError::one("email", "m", codes::NOT_BLANK));
        let id = format!("/validation_errors/{}", codes::NOT_BLANK);
        assert_eq!(
            (&one["@id"], &one["type"]),
            (&id.clone().into(), &id.into())
        );
        let two = body_of(OrgoError::Violations(vec![
            Violation::new("privacy", "m", codes::INVALID_TYPE),
            Violation::new("roleGroups", "m", codes::INVALID_TYPE),
            Violation::new("email", "m", codes::NOT_BLANK),
        ]));
        let id = format!(
            "/validation_errors/0={t};1={t};2={b}",
            t = codes::INVALID_TYPE,
            b = codes::NOT_BLANK
        );
        assert_eq!(two["@id"], id.as_str());
        assert_eq!(two["type"], id.as_str());
    }

    /// Symfony's UserPassword has a code (`INVALID_PASSWORD_ERROR`): never `null`.
    #[test]
    fn wrong_password_has_symfony_code() {
        let e = OrgoError::from(Error::invalid(
            Field::Wire("currentPassword".into()),
            "wrong_password",
            "x",
        ));
        let body = body_of(e);
        assert_eq!(
            body["violations"][0]["code"],
            "2d2a8bb4-ddc8-45e4-9b0f-8670d3a3e290"
        );
        assert_eq!(
            body["@id"],
            "/validation_errors/2d2a8bb4-ddc8-45e4-9b0f-8670d3a3e290"
        );
    }
}
