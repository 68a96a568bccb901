//! The REST gateway of `zitadel.user.v2.UserService` (the `google.api.http` mapping of each call):
//! the request message minus the path's `userId` as a proto3 JSON body, the response message as
//! proto3 JSON, errors as `{"code", "message", "details"}`.

use std::future::Future;

use axum::body::Bytes;
use axum::extract::rejection::PathRejection;
use axum::extract::{FromRequest, FromRequestParts, Path, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde::de::DeserializeOwned;
use usher_core::principal::Principal;
use usher_core::service::StateChange;
use usher_zitadel_proto::connectrpc::ErrorCode;
use usher_zitadel_proto::zitadel::user::v2::*;

use super::body_limit::json_shape_error;
use super::calls::Calls;
use super::error::ZError;
use crate::AppState;
use crate::common::auth::authenticate;
use crate::common::routes::{Endpoints, Kind, Routes, delete, get, on, post, put};

fn json_response<T: Serialize>(value: &T) -> Response {
    match serde_json::to_vec(value) {
        Ok(body) => {
            let mut res = body.into_response();
            res.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            );
            res
        }
        Err(e) => ZError::from(usher_core::Error::internal(e)).into_rest(),
    }
}

/// The request body; one over the JSON body limit is `resource_exhausted` in the gateway's shape.
struct ZBody(Bytes);

impl FromRequest<AppState> for ZBody {
    type Rejection = Response;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, Self::Rejection> {
        Bytes::from_request(req, state)
            .await
            .map(ZBody)
            .map_err(|e| {
                if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
                    let mut res = ZError::too_large(state.limits.json_body).into_rest();
                    res.extensions_mut()
                        .insert(crate::common::layers::BodyLeftUnread);
                    res
                } else {
                    ZError::invalid("body", "could not read the request body").into_rest()
                }
            })
    }
}

/// Authenticates, parses the body (empty = `{}`), sets the path's id, runs the call, renders.
async fn run<Req, Resp, F, Fut>(
    state: AppState,
    headers: HeaderMap,
    body: Bytes,
    set_id: impl FnOnce(&mut Req),
    call: F,
) -> Response
where
    Req: DeserializeOwned + Default + usher_zitadel_proto::buffa::MessageName,
    Resp: Serialize,
    F: FnOnce(Calls, Principal, HeaderMap, Req) -> Fut,
    Fut: Future<Output = Result<Resp, ZError>>,
{
    let p = match authenticate(&state, &headers).await {
        Ok(p) => p,
        Err(e) => return ZError::from(e).into_rest(),
    };
    let mut req: Req = if body.iter().all(u8::is_ascii_whitespace) {
        Req::default()
    } else if let Some(why) = json_shape_error(Req::FULL_NAME, &body) {
        return ZError::undecodable(why).into_rest();
    } else {
        match serde_json::from_slice(&body) {
            Ok(r) => r,
            Err(e) => return ZError::undecodable(e).into_rest(),
        }
    };
    set_id(&mut req);
    match call(Calls { state }, p, headers, req).await {
        Ok(resp) => json_response(&resp),
        Err(e) => e.into_rest(),
    }
}

/// The `{id}` of a gateway path. One that is not UTF-8 once decoded (`%ff`) names no user: the
/// gateway's 404 for an unknown user, not axum's plain-text 400.
struct PathId(String);

impl<S: Send + Sync> FromRequestParts<S> for PathId {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Response> {
        match Path::<String>::from_request_parts(parts, state).await {
            Ok(Path(id)) => Ok(PathId(id)),
            Err(PathRejection::FailedToDeserializePathParams(_)) => Err(ZError::from(
                usher_core::Error::NotFound(usher_core::error::Entity::User),
            )
            .into_rest()),
            // A route without the parameter its handler reads: a programming error.
            Err(e) => Err(ZError::from(usher_core::Error::internal(e)).into_rest()),
        }
    }
}

/// A route whose path carries `{id}` → the request's `user_id`.
macro_rules! with_id {
    ($name:ident, $req:ty, $call:ident) => {
        async fn $name(
            State(state): State<AppState>,
            PathId(id): PathId,
            headers: HeaderMap,
            ZBody(body): ZBody,
        ) -> Response {
            run(
                state,
                headers,
                body,
                |r: &mut $req| r.user_id = id,
                |c, p, _h, r| async move { c.$call(&p, r).await },
            )
            .await
        }
    };
}

with_id!(update_human_user, UpdateHumanUserRequest, update_human_user);
with_id!(get_user_by_id, GetUserByIDRequest, get_user_by_id);
with_id!(delete_user, DeleteUserRequest, delete_user);
with_id!(set_email, SetEmailRequest, set_email);
with_id!(resend_email_code, ResendEmailCodeRequest, resend_email_code);
with_id!(send_email_code, SendEmailCodeRequest, send_email_code);
with_id!(verify_email, VerifyEmailRequest, verify_email);
with_id!(set_phone, SetPhoneRequest, set_phone);
with_id!(remove_phone, RemovePhoneRequest, remove_phone);
with_id!(resend_phone_code, ResendPhoneCodeRequest, resend_phone_code);
with_id!(verify_phone, VerifyPhoneRequest, verify_phone);
with_id!(set_password, SetPasswordRequest, set_password);
with_id!(password_reset, PasswordResetRequest, password_reset);
with_id!(
    create_invite_code,
    CreateInviteCodeRequest,
    create_invite_code
);
with_id!(
    resend_invite_code,
    ResendInviteCodeRequest,
    resend_invite_code
);
with_id!(
    verify_invite_code,
    VerifyInviteCodeRequest,
    verify_invite_code
);

/// Answers 201 Created, as upstream's gateway does (`http_response: {success_code: 201}` on
/// AddHumanUser in Zitadel's `user_service.proto`); every other call answers 200.
async fn add_human_user(
    State(state): State<AppState>,
    headers: HeaderMap,
    ZBody(body): ZBody,
) -> Response {
    let mut res = run(
        state,
        headers,
        body,
        |_: &mut AddHumanUserRequest| {},
        |c, p, h, r| async move { c.add_human_user(&p, &h, r).await },
    )
    .await;
    if res.status() == StatusCode::OK {
        *res.status_mut() = StatusCode::CREATED;
    }
    res
}

async fn list_users(
    State(state): State<AppState>,
    headers: HeaderMap,
    ZBody(body): ZBody,
) -> Response {
    run(
        state,
        headers,
        body,
        |_: &mut ListUsersRequest| {},
        |c, p, _h, r| async move { c.list_users(&p, r).await },
    )
    .await
}

/// State changes: the body is the request message (only `userId`, from the path).
macro_rules! state_change {
    ($name:ident, $req:ty, $resp:ident, $change:expr) => {
        async fn $name(
            State(state): State<AppState>,
            PathId(id): PathId,
            headers: HeaderMap,
            ZBody(body): ZBody,
        ) -> Response {
            run(
                state,
                headers,
                body,
                |r: &mut $req| r.user_id = id,
                |c, p, _h, r: $req| async move {
                    let d = c.change_state(&p, &r.user_id, $change).await?;
                    Ok($resp {
                        details: d.into(),
                        ..Default::default()
                    })
                },
            )
            .await
        }
    };
}

state_change!(
    deactivate_user,
    DeactivateUserRequest,
    DeactivateUserResponse,
    StateChange::Deactivate
);
state_change!(
    reactivate_user,
    ReactivateUserRequest,
    ReactivateUserResponse,
    StateChange::Reactivate
);
state_change!(
    lock_user,
    LockUserRequest,
    LockUserResponse,
    StateChange::Lock
);
state_change!(
    unlock_user,
    UnlockUserRequest,
    UnlockUserResponse,
    StateChange::Unlock
);

/// The REST paths of the calls usher does not serve: `unimplemented` (501), after authentication.
pub(super) const UNSERVED: &[(&str, &str, &str)] = &[
    ("POST", "/v2/users/{id}/passkeys", "RegisterPasskey"),
    (
        "POST",
        "/v2/users/{id}/passkeys/{passkey_id}",
        "VerifyPasskeyRegistration",
    ),
    (
        "POST",
        "/v2/users/{id}/passkeys/registration_link",
        "CreatePasskeyRegistrationLink",
    ),
    ("POST", "/v2/users/{id}/passkeys/_search", "ListPasskeys"),
    (
        "DELETE",
        "/v2/users/{id}/passkeys/{passkey_id}",
        "RemovePasskey",
    ),
    ("POST", "/v2/users/{id}/u2f", "RegisterU2F"),
    (
        "POST",
        "/v2/users/{id}/u2f/{u2f_id}",
        "VerifyU2FRegistration",
    ),
    ("DELETE", "/v2/users/{id}/u2f/{u2f_id}", "RemoveU2F"),
    ("POST", "/v2/users/{id}/totp", "RegisterTOTP"),
    (
        "POST",
        "/v2/users/{id}/totp/verify",
        "VerifyTOTPRegistration",
    ),
    ("DELETE", "/v2/users/{id}/totp", "RemoveTOTP"),
    ("POST", "/v2/users/{id}/otp_sms", "AddOTPSMS"),
    ("DELETE", "/v2/users/{id}/otp_sms", "RemoveOTPSMS"),
    ("POST", "/v2/users/{id}/otp_email", "AddOTPEmail"),
    ("DELETE", "/v2/users/{id}/otp_email", "RemoveOTPEmail"),
    ("POST", "/v2/idp_intents", "StartIdentityProviderIntent"),
    (
        "POST",
        "/v2/idp_intents/{intent_id}",
        "RetrieveIdentityProviderIntent",
    ),
    ("POST", "/v2/users/{id}/links", "AddIDPLink"),
    ("POST", "/v2/users/{id}/links/_search", "ListIDPLinks"),
    (
        "DELETE",
        "/v2/users/{id}/links/{idp_id}/{linked_user_id}",
        "RemoveIDPLink",
    ),
    (
        "GET",
        "/v2/users/{id}/authentication_methods",
        "ListAuthenticationMethodTypes",
    ),
    (
        "POST",
        "/v2/users/{id}/authentication_factors/_search",
        "ListAuthenticationFactors",
    ),
    (
        "POST",
        "/v2/users/{id}/mfa_init_skipped",
        "HumanMFAInitSkipped",
    ),
    ("POST", "/v2/users/{id}/metadata", "SetUserMetadata"),
    ("POST", "/v2/users/{id}/metadata/search", "ListUserMetadata"),
    ("DELETE", "/v2/users/{id}/metadata", "DeleteUserMetadata"),
];

fn method(m: &str) -> Method {
    Method::from_bytes(m.as_bytes()).unwrap_or(Method::POST)
}

/// Every route of the gateway except those the Bold dialect owns at the root
/// (`POST /v2/users`, `GET /v2/users/{id}`, `DELETE /v2/users/{id}`).
pub fn shared_routes() -> Routes {
    let mut r = Routes::new(Kind::Rest)
        .route("/v2/users/human", post(add_human_user))
        .route("/v2/users/human/{id}", put(update_human_user))
        .route("/v2/users/{id}/email", post(set_email))
        .route("/v2/users/{id}/email/resend", post(resend_email_code))
        .route("/v2/users/{id}/email/send", post(send_email_code))
        .route("/v2/users/{id}/email/verify", post(verify_email))
        .route(
            "/v2/users/{id}/phone",
            post(set_phone).merge(delete(remove_phone)),
        )
        .route("/v2/users/{id}/phone/resend", post(resend_phone_code))
        .route("/v2/users/{id}/phone/verify", post(verify_phone))
        .route("/v2/users/{id}/password", post(set_password))
        .route("/v2/users/{id}/password_reset", post(password_reset))
        .route("/v2/users/{id}/deactivate", post(deactivate_user))
        .route("/v2/users/{id}/reactivate", post(reactivate_user))
        .route("/v2/users/{id}/lock", post(lock_user))
        .route("/v2/users/{id}/unlock", post(unlock_user))
        .route("/v2/users/{id}/invite_code", post(create_invite_code))
        .route(
            "/v2/users/{id}/invite_code/resend",
            post(resend_invite_code),
        )
        .route(
            "/v2/users/{id}/invite_code/verify",
            post(verify_invite_code),
        );
    let mut by_path: Vec<(&str, Vec<(&str, &str)>)> = Vec::new();
    for (m, path, call) in UNSERVED {
        match by_path.iter_mut().find(|(p, _)| p == path) {
            Some((_, v)) => v.push((m, call)),
            None => by_path.push((path, vec![(m, call)])),
        }
    }
    for (path, calls) in by_path {
        let mut mr: Option<Endpoints> = None;
        for (m, call) in calls {
            let call = call.to_owned();
            let handler = on(
                method(m),
                move |State(state): State<AppState>, headers: HeaderMap| {
                    let call = call.clone();
                    async move {
                        match authenticate(&state, &headers).await {
                            Ok(_) => ZError::unimplemented(&call).into_rest(),
                            Err(e) => ZError::from(e).into_rest(),
                        }
                    }
                },
            );
            mr = Some(match mr {
                Some(existing) => existing.merge(handler),
                None => handler,
            });
        }
        if let Some(mr) = mr {
            r = r.route(path, mr);
        }
    }
    // Kept when the application sets its own fallback later (axum fills only defaults), so a
    // Zitadel path at the root answers a wrong method in the gateway's shape, not Bold's.
    r.method_not_allowed_fallback(method_not_allowed)
}

/// The complete gateway (mounted under the `/zitadel` prefix).
pub fn full_routes() -> Routes {
    shared_routes()
        .route("/v2/users", post(list_users))
        .route("/v2/users/{id}", get(get_user_by_id).delete(delete_user))
        .method_not_allowed_fallback(method_not_allowed)
        .fallback(not_found)
}

/// A path of the gateway no route matches: grpc-gateway's `NotFound` (5, HTTP 404).
pub async fn not_found() -> Response {
    ZError::new(ErrorCode::NotFound, "NOT-FOUND", "Not found").into_rest()
}

/// A gateway path with another method: grpc-gateway's routing error, `Unimplemented` (12) with
/// HTTP 405 (its `DefaultRoutingErrorHandler`), not the 501 that code maps to elsewhere.
pub async fn method_not_allowed() -> Response {
    let mut res = ZError::new(
        ErrorCode::Unimplemented,
        "METHOD-NOT-ALLOWED",
        "Method Not Allowed",
    )
    .into_rest();
    *res.status_mut() = StatusCode::METHOD_NOT_ALLOWED;
    res
}
