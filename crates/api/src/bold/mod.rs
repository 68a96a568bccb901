//! The Bold dialect: `/v2/users` and friends (apidoc.boldsmartlock.com). Bold owns the root of
//! `/v2/users`; see `spec/bold.md` for how it shares paths with the Zitadel REST gateway.

mod error;
mod extract;
/// Entry points for the fuzz targets in `fuzz/` (not an API).
#[doc(hidden)]
pub mod fuzzing;
mod groups;
mod import;
mod orgs;
mod users;
mod verify;
mod wire;

pub use error::BoldError;

/// The wire types the OpenAPI document describes (`crate::openapi::bold`).
pub(crate) mod schema {
    pub(crate) use super::groups::{
        GroupAdminParam, GroupBody, IncludeUsers, ListParams as GroupListParams, MemberBody,
        OrgParam,
    };
    pub(crate) use super::import::{ImportParams, RowProblem};
    pub(crate) use super::orgs::{CreatedKey, KeyBody, KeyOut, OrgBody};
    pub(crate) use super::users::ListParams as UserListParams;
    pub(crate) use super::verify::{CodeBody, OutboxOut, OutboxParams};
    pub(crate) use super::wire::*;
}

use axum::extract::DefaultBodyLimit;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use crate::Limits;
use crate::common::routes::{Kind, Routes, delete, get, post, put};

pub fn routes(limits: &Limits) -> Routes {
    Routes::new(Kind::Rest)
        .route(
            "/v2/users",
            get(users::list)
                .post(users::create)
                .merge(put(import::import).layer(DefaultBodyLimit::max(limits.import_body))),
        )
        .route(
            "/v2/users/{id}",
            get(users::get_one).put(users::update).delete(users::delete),
        )
        .route("/v2/users/{id}/invitation", put(users::update_invitation))
        .route("/v1/user-groups", get(groups::list).post(groups::create))
        .route(
            "/v1/user-groups/{id}",
            get(groups::get_one)
                .put(groups::update)
                .delete(groups::delete),
        )
        .route(
            "/v1/user-groups/{id}/users",
            post(groups::add_many).delete(groups::remove_many),
        )
        .route(
            "/v1/user-groups/{id}/users/{user_id}",
            post(groups::add_one).delete(groups::remove_one),
        )
        .route("/v1/organization", get(orgs::own))
        .route("/v1/organizations", get(orgs::list).post(orgs::create))
        .route("/v1/organizations/{id}", get(orgs::get_one))
        .route("/v1/api-keys", get(orgs::list_keys).post(orgs::create_key))
        .route("/v1/api-keys/{id}", delete(orgs::delete_key))
        .route("/v1/users/{id}/email/verify", post(verify::verify_email))
        .route("/v1/users/{id}/phone/verify", post(verify::verify_phone))
        .route("/v1/outbox", get(verify::outbox))
}

/// Unknown routes.
pub async fn not_found() -> BoldError {
    BoldError::new(StatusCode::NOT_FOUND, "NotFound", "Not found")
}

/// A known route with another method.
pub async fn method_not_allowed() -> BoldError {
    BoldError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "MethodNotAllowed",
        "Method not allowed",
    )
}

/// A handler panicked: answer like any internal error (the panic is logged by the layer).
pub fn panic_response(_: Box<dyn std::any::Any + Send + 'static>) -> Response {
    BoldError::new(
        StatusCode::INTERNAL_SERVER_ERROR,
        "InternalError",
        "Internal error",
    )
    .into_response()
}
