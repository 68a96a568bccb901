//! Core errors in Zitadel's words: one gRPC code, a stable id and an English message, rendered
//! per protocol — `grpc-status-details-bin` (gRPC, gRPC-Web) and the Connect JSON `details` through
//! connectrpc, and the REST gateway's `{"code", "message", "details": [{"@type", "id", "message"}]}`.

use axum::Json;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use usher_core::error::{Conflict, Entity, Error, Field, FieldError};
use usher_zitadel_proto::connectrpc::{ConnectError, ErrorCode};
use usher_zitadel_proto::zitadel_error;

/// grpc-gateway's error body (google.rpc.Status in proto3 JSON).
#[derive(Serialize)]
struct RestError {
    code: u32,
    message: String,
    details: [RestDetail; 1],
}

#[derive(Serialize)]
struct RestDetail {
    #[serde(rename = "@type")]
    type_url: &'static str,
    id: String,
    message: String,
}

/// An error ready for any of the four protocols.
#[derive(Debug, Clone)]
pub struct ZError {
    pub code: ErrorCode,
    /// Stable short id (`USER-NOTFOUND`), also the `zitadel.v1.ErrorDetail.id`.
    pub id: String,
    pub message: String,
    /// Seconds to wait before trying again (`resource_exhausted` after too many failures): sent as
    /// the `Retry-After` header on every protocol.
    pub retry_after: Option<u64>,
}

impl ZError {
    pub fn new(code: ErrorCode, id: &str, message: impl Into<String>) -> Self {
        Self {
            code,
            id: id.to_owned(),
            message: message.into(),
            retry_after: None,
        }
    }

    fn retry_after_headers(&self) -> axum::http::HeaderMap {
        let mut headers = axum::http::HeaderMap::new();
        if let Some(secs) = self.retry_after {
            headers.insert(axum::http::header::RETRY_AFTER, secs.into());
        }
        headers
    }

    pub fn invalid(field: &str, message: impl Into<String>) -> Self {
        let message = message.into();
        Self::new(
            ErrorCode::InvalidArgument,
            "INVALID-ARGUMENT",
            format!("{field}: {message}"),
        )
    }

    /// A body that does not decode as the call's message: the id and wording connectrpc's own
    /// decode errors get (see `error_details`), on every protocol.
    pub fn undecodable(why: impl std::fmt::Display) -> Self {
        Self::new(
            ErrorCode::InvalidArgument,
            "INVALID-REQUEST",
            format!("failed to decode JSON: {why}"),
        )
    }

    /// A request body over the limit: `resource_exhausted`, like grpc-go, connect-go and
    /// grpc-gateway answer a message that is too large.
    pub fn too_large(limit: usize) -> Self {
        Self::new(
            ErrorCode::ResourceExhausted,
            "REQUEST-TOO-LARGE",
            format!("The request body is larger than {limit} bytes"),
        )
    }

    pub fn unimplemented(call: &str) -> Self {
        Self::new(
            ErrorCode::Unimplemented,
            "UNIMPLEMENTED",
            format!("zitadel.user.v2.UserService.{call} is not implemented"),
        )
    }

    pub fn into_connect(self) -> ConnectError {
        let headers = self.retry_after_headers();
        let err = zitadel_error(self.code, &self.id, &self.message);
        if headers.is_empty() {
            err
        } else {
            err.with_headers(headers)
        }
    }

    /// The REST gateway's error body: `{"code", "message", "details": [{"@type", "id", "message"}]}`.
    pub fn into_rest(self) -> Response {
        let status = self.code.http_status();
        let headers = self.retry_after_headers();
        let body = RestError {
            code: self.code.grpc_code(),
            message: format!("{} ({})", self.message, self.id),
            details: [RestDetail {
                type_url: "type.googleapis.com/zitadel.v1.ErrorDetail",
                id: self.id,
                message: self.message,
            }],
        };
        (status, headers, Json(body)).into_response()
    }
}

/// A domain field in Zitadel's (proto3 JSON) words.
pub fn field_name(f: &Field) -> &str {
    match f {
        Field::Organization => "organization",
        Field::Username => "username",
        Field::FirstName => "profile.givenName",
        Field::LastName => "profile.familyName",
        Field::NickName => "profile.nickName",
        Field::DisplayName => "profile.displayName",
        Field::PreferredLanguage => "profile.preferredLanguage",
        Field::Email => "email.email",
        Field::Phone => "phone.phone",
        Field::SuperUser => "superUser",
        Field::ExternalId => "externalId",
        Field::ClientId => "clientId",
        Field::Description => "description",
        Field::Remarks => "remarks",
        Field::AutoRemoveAfter => "autoRemoveAfter",
        Field::AuthOrganizationId => "authOrganizationId",
        Field::InvitationLanguage => "invitation.language",
        Field::InvitationExpiration => "invitation.expiration",
        Field::InvitationSendEmail => "sendCode",
        Field::InvitationSendSms => "sendCode",
        Field::InvitationEmail => "email",
        Field::InvitationPhone => "phone",
        Field::UserGroup => "userGroupId",
        Field::GroupName => "name",
        Field::Name => "name",
        Field::Expiration => "expiration",
        Field::User => "userId",
        Field::Password => "password",
        Field::Code => "verificationCode",
        Field::Token => "token",
        Field::Wire(name) => name,
    }
}

fn describe(fields: &[FieldError]) -> String {
    match fields {
        [one] => match &one.field {
            // The spec's exact text for an unsupported imported hash.
            Field::Password if one.code == "password_hash_not_supported" => one.message.clone(),
            f => format!("{}: {}", field_name(f), one.message),
        },
        many => many
            .iter()
            .map(|e| format!("{}: {}", field_name(&e.field), e.message))
            .collect::<Vec<_>>()
            .join("; "),
    }
}

fn upper(code: &str) -> String {
    code.to_ascii_uppercase().replace('_', "-")
}

impl From<Error> for ZError {
    fn from(e: Error) -> Self {
        match e {
            Error::NotFound(entity) => {
                let (id, message) = match entity {
                    Entity::User => ("USER-NOTFOUND", "User could not be found"),
                    Entity::Organization => ("ORG-NOTFOUND", "Organization could not be found"),
                    Entity::UserGroup => ("GROUP-NOTFOUND", "User group could not be found"),
                    Entity::ApiKey => ("KEY-NOTFOUND", "Key could not be found"),
                    Entity::Invitation => ("INVITE-NOTFOUND", "Invite code could not be found"),
                    Entity::Code => ("CODE-NOTFOUND", "Code could not be found"),
                    Entity::EmailChange => {
                        ("EMAIL-CHANGE-NOTFOUND", "Email change could not be found")
                    }
                };
                ZError::new(ErrorCode::NotFound, id, message)
            }
            Error::AlreadyExists { what, .. } => {
                let (id, message) = match what {
                    Conflict::UserEmail => {
                        ("USER-EMAIL-TAKEN", "The email address is already taken")
                    }
                    Conflict::UserPhone => {
                        ("USER-PHONE-TAKEN", "The phone number is already taken")
                    }
                    Conflict::Username => ("USER-USERNAME-TAKEN", "The username is already taken"),
                    Conflict::UserExternalId => {
                        ("USER-EXTERNALID-TAKEN", "The external id is already taken")
                    }
                    Conflict::ApiKeySecret | Conflict::Other => {
                        ("ALREADY-EXISTS", "Already exists")
                    }
                };
                ZError::new(ErrorCode::AlreadyExists, id, message)
            }
            Error::Invalid(fields) => {
                let id = fields.first().map_or_else(
                    || "INVALID-ARGUMENT".to_owned(),
                    |f| {
                        let code = upper(f.code);
                        if code.starts_with("INVALID-") {
                            code
                        } else {
                            format!("INVALID-{code}")
                        }
                    },
                );
                ZError::new(ErrorCode::InvalidArgument, &id, describe(&fields))
            }
            Error::Unauthenticated => ZError::new(
                ErrorCode::Unauthenticated,
                "AUTH-UNAUTHENTICATED",
                "Token is missing, invalid or expired",
            ),
            Error::PermissionDenied(why) => ZError::new(
                ErrorCode::PermissionDenied,
                "AUTH-PERMISSION-DENIED",
                format!("No permission: {why}"),
            ),
            Error::FailedPrecondition { code, message } => ZError::new(
                ErrorCode::FailedPrecondition,
                &format!("PRECONDITION-{}", upper(code)),
                message,
            ),
            Error::RateLimited { retry_after } => {
                let secs = retry_after.as_secs().max(1);
                ZError {
                    retry_after: Some(secs),
                    ..ZError::new(
                        ErrorCode::ResourceExhausted,
                        "AUTH-RATE-LIMITED",
                        format!("Too many attempts; try again in {secs} s"),
                    )
                }
            }
            Error::Unavailable(why) => {
                tracing::warn!(reason = %why, "service unavailable");
                ZError {
                    retry_after: Some(1),
                    ..ZError::new(
                        ErrorCode::Unavailable,
                        "UNAVAILABLE",
                        "Service unavailable, try again",
                    )
                }
            }
            Error::Gone(entity) => {
                let (id, message) = match entity {
                    Entity::Invitation => (
                        "INVITE-GONE",
                        "The invite code has expired or was already used",
                    ),
                    Entity::Code => ("CODE-GONE", "The code has expired or was already used"),
                    Entity::EmailChange => (
                        "EMAIL-CHANGE-GONE",
                        "The link has expired or was already used",
                    ),
                    Entity::User | Entity::UserGroup | Entity::Organization | Entity::ApiKey => {
                        ("GONE", "No longer available")
                    }
                };
                ZError::new(ErrorCode::FailedPrecondition, id, message)
            }
            Error::Conflict => ZError::new(
                ErrorCode::Aborted,
                "CONFLICT",
                "Changed concurrently, try again",
            ),
            Error::Internal(cause) => {
                tracing::error!(error = %cause, cause = ?cause, "internal error");
                ZError::new(ErrorCode::Internal, "INTERNAL", "Internal error")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn code(e: Error) -> (u32, u16) {
        let z = ZError::from(e);
        (z.code.grpc_code(), z.code.http_status().as_u16())
    }

    #[test]
    fn the_spec_table() {
        assert_eq!(code(Error::invalid(Field::Email, "x", "y")), (3, 400));
        assert_eq!(
            code(Error::FailedPrecondition {
                code: "x",
                message: "y".into()
            }),
            (9, 400)
        );
        assert_eq!(code(Error::Unauthenticated), (16, 401));
        assert_eq!(code(Error::PermissionDenied("x")), (7, 403));
        assert_eq!(code(Error::NotFound(Entity::User)), (5, 404));
        assert_eq!(
            code(Error::AlreadyExists {
                what: Conflict::Username,
                existing: None
            }),
            (6, 409)
        );
        assert_eq!(
            code(Error::RateLimited {
                retry_after: Duration::from_secs(1)
            }),
            (8, 429)
        );
        // Unavailable (a write that lost its retries) asks the client to come back in a second.
        let busy = ZError::from(Error::Unavailable("x".into()));
        assert_eq!((busy.code.grpc_code(), busy.retry_after), (14, Some(1)));
        let u = ZError::unimplemented("RegisterPasskey");
        assert_eq!(
            (u.code.grpc_code(), u.code.http_status().as_u16()),
            (12, 501)
        );
        assert_eq!(
            code(Error::internal(usher_core::error::Message("x".into()))),
            (13, 500)
        );
    }

    #[test]
    fn unsupported_hash_message_is_exact() {
        let z = ZError::from(Error::invalid(
            Field::Password,
            "password_hash_not_supported",
            "password hash not supported",
        ));
        assert_eq!(z.message, "password hash not supported");
        assert_eq!(z.id, "INVALID-PASSWORD-HASH-NOT-SUPPORTED");
    }
}
