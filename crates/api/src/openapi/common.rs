//! The routes every dialect shares (`common::health`) and the HTML pages (`pages`): documentation-
//! only functions. The pages are not REST: they are documented as `text/html` operations (tag
//! `Pages`) so that the document lists every route the server answers.

#![allow(
    dead_code,
    reason = "documentation-only functions: utoipa reads their attributes, nobody calls them"
)]

use serde::Serialize;
use utoipa::{OpenApi, ToSchema};

/// `{"status": …}`.
#[derive(Serialize, ToSchema)]
pub struct Status {
    /// `ok`, `ready` or `unavailable`.
    status: String,
}

#[utoipa::path(get, path = "/healthz", tag = "Common", summary = "Liveness: the process answers",
    responses((status = 200, description = "Alive", body = Status,
        example = json!({"status": "ok"}))))]
fn healthz() {}

#[utoipa::path(get, path = "/readyz", tag = "Common",
    summary = "Readiness: the database answers",
    responses(
        (status = 200, description = "Ready", body = Status,
            example = json!({"status": "ready"})),
        (status = 503, description = "The database does not answer", body = Status,
            example = json!({"status": "unavailable"}))))]
fn readyz() {}

#[utoipa::path(get, path = "/metrics", tag = "Common", summary = "Prometheus metrics",
    description = "OpenMetrics text; the outbox gauges are read from the database per scrape.",
    responses((status = 200, description = "The metrics", body = String,
        content_type = "application/openmetrics-text; version=1.0.0; charset=utf-8")))]
fn metrics() {}

/// The form of the invitation page.
#[derive(Serialize, ToSchema)]
pub struct InviteForm {
    /// Must equal the `usher_csrf` cookie the form page set.
    csrf: String,
    password: String,
    password_confirm: String,
    /// Required when the invitation demands an email match.
    email: Option<String>,
}

/// The form of the email verification page.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct VerifyForm {
    csrf: String,
    user_id: Option<String>,
    code: Option<String>,
}

/// The form of the email-change confirmation page.
#[derive(Serialize, ToSchema)]
pub struct ConfirmForm {
    csrf: String,
}

#[utoipa::path(get, path = "/pages/style.css", tag = "Pages", summary = "The pages' stylesheet",
    responses((status = 200, description = "CSS", body = String,
        content_type = "text/css; charset=utf-8")))]
fn stylesheet() {}

#[utoipa::path(get, path = "/invite/{token}", tag = "Pages",
    summary = "Invitation page: set a password",
    description = "An HTML form, in the language of `Accept-Language`.",
    params(("token" = String, Path, description = "The invitation's token")),
    responses(
        (status = 200, description = "The form", body = String, content_type = "text/html"),
        (status = 410, description = "Used or expired link", body = String,
            content_type = "text/html"),
        (status = 429, description = "Too many failed attempts (`Retry-After`)", body = String,
            content_type = "text/html")))]
fn invite_form() {}

#[utoipa::path(post, path = "/invite/{token}", tag = "Pages", summary = "Accept an invitation",
    params(("token" = String, Path, description = "The invitation's token")),
    request_body(content = inline(InviteForm), content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 200, description = "Done", body = String, content_type = "text/html"),
        (status = 400, description = "Bad form or CSRF check failed", body = String,
            content_type = "text/html"),
        (status = 410, description = "Used or expired link", body = String,
            content_type = "text/html"),
        (status = 429, description = "Too many failed attempts (`Retry-After`)", body = String,
            content_type = "text/html"),
        (status = 422, description = "The password was refused", body = String,
            content_type = "text/html")))]
fn invite_submit() {}

#[utoipa::path(get, path = "/verify-email", tag = "Pages", summary = "Email verification page",
    params(
        ("userId" = Option<String>, Query, description = "The user"),
        ("code" = Option<String>, Query, description = "The verification code")),
    responses(
        (status = 200, description = "The form, for the user's live code", body = String,
            content_type = "text/html"),
        (status = 410, description = "Used, expired or wrong link (a wrong code is a counted try)",
            body = String, content_type = "text/html"),
        (status = 429, description = "Too many failed attempts (`Retry-After`)", body = String,
            content_type = "text/html")))]
fn verify_form() {}

#[utoipa::path(post, path = "/verify-email", tag = "Pages", summary = "Verify an email address",
    request_body(content = inline(VerifyForm), content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 200, description = "Verified", body = String, content_type = "text/html"),
        (status = 400, description = "Bad form or CSRF check failed", body = String,
            content_type = "text/html"),
        (status = 410, description = "Used or expired link", body = String,
            content_type = "text/html"),
        (status = 429, description = "Too many failed attempts (`Retry-After`)", body = String,
            content_type = "text/html")))]
fn verify_submit() {}

#[utoipa::path(get, path = "/confirm-email/{token}", tag = "Pages",
    summary = "Email change confirmation page",
    params(("token" = String, Path, description = "The confirmation token")),
    responses(
        (status = 200, description = "The form", body = String, content_type = "text/html"),
        (status = 410, description = "Used or expired link", body = String,
            content_type = "text/html"),
        (status = 429, description = "Too many failed attempts (`Retry-After`)", body = String,
            content_type = "text/html")))]
fn confirm_form() {}

#[utoipa::path(post, path = "/confirm-email/{token}", tag = "Pages",
    summary = "Confirm an email change",
    params(("token" = String, Path, description = "The confirmation token")),
    request_body(content = inline(ConfirmForm), content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 200, description = "Confirmed", body = String, content_type = "text/html"),
        (status = 400, description = "Bad form or CSRF check failed", body = String,
            content_type = "text/html"),
        (status = 409, description = "The address was taken meanwhile", body = String,
            content_type = "text/html"),
        (status = 410, description = "Used or expired link", body = String,
            content_type = "text/html"),
        (status = 429, description = "Too many failed attempts (`Retry-After`)", body = String,
            content_type = "text/html")))]
fn confirm_submit() {}

#[derive(OpenApi)]
#[openapi(paths(healthz, readyz, metrics))]
pub struct Doc;

#[derive(OpenApi)]
#[openapi(paths(
    stylesheet,
    invite_form,
    invite_submit,
    verify_form,
    verify_submit,
    confirm_form,
    confirm_submit,
))]
pub struct Pages;
