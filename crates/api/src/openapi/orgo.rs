//! The Orgo dialect's operations (API Platform conventions under `/api`): documentation-only
//! functions whose `#[utoipa::path]` attributes describe the routes of `crate::orgo::routes`.
//! `OrgoUser` and the Hydra collection are derived from the wire structs (`orgo/item.rs`,
//! `orgo/collection.rs`); the writable User (`OrgoUserWrite`) is that schema restricted to the
//! properties the Hydra documentation (`orgo::docs::USER_PROPERTIES`) marks writeable.

#![allow(
    dead_code,
    reason = "documentation-only functions: utoipa reads their attributes, nobody calls them"
)]

use std::borrow::Cow;
use std::collections::BTreeMap;

use serde::Serialize;
use utoipa::openapi::schema::Schema;
use utoipa::openapi::{ContentBuilder, Ref, RefOr, ResponseBuilder, response::Response};
use utoipa::{IntoResponses, OpenApi, PartialSchema, ToSchema};

use crate::orgo::docs::{TOKEN_PROPERTIES, USER_PROPERTIES};
use crate::orgo::schema::*;

/// An API Platform 3.4 error (RFC 7807, `application/problem+json`).
#[derive(Serialize, ToSchema)]
#[schema(
    as = OrgoProblem,
    example = json!({"type": "/errors/404", "title": "An error occurred", "detail": "Not Found",
        "status": 404, "description": "Not Found", "hydra:title": "An error occurred",
        "hydra:description": "Not Found"})
)]
pub struct Problem {
    /// `/errors/<status>`.
    #[serde(rename = "type")]
    type_: String,
    title: String,
    detail: String,
    status: u16,
    description: String,
    #[serde(rename = "hydra:title")]
    hydra_title: String,
    #[serde(rename = "hydra:description")]
    hydra_description: String,
}

/// One bad field of a 422.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = OrgoConstraintViolation)]
pub struct Violation {
    property_path: String,
    message: String,
    /// Symfony's stable constraint code (a UUID).
    code: String,
}

/// A validation failure (422): every bad field at once.
#[derive(Serialize, ToSchema)]
#[schema(as = OrgoConstraintViolationList)]
pub struct ConstraintViolationList {
    /// `/validation_errors/<code>` for one violation, `/validation_errors/0=<code>;1=<code>…`
    /// for several (API Platform 3.4's composite form).
    #[serde(rename = "@id")]
    id: String,
    /// `ConstraintViolationList`.
    #[serde(rename = "@type")]
    kind: String,
    status: u16,
    title: String,
    /// `<propertyPath>: <message>`, one line per violation.
    detail: String,
    violations: Vec<Violation>,
    #[serde(rename = "type")]
    type_: String,
    description: String,
    #[serde(rename = "hydra:title")]
    hydra_title: String,
    #[serde(rename = "hydra:description")]
    hydra_description: String,
}

/// A UserApiToken item (the raw `token` only in the create answer). Mirrors `orgo::auth`'s
/// `TokenItem`; a test holds its properties to `orgo::docs::TOKEN_PROPERTIES`.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = OrgoUserApiToken)]
pub struct UserApiToken {
    /// `/api/contexts/UserApiToken` (JSON-LD, standalone items only).
    #[serde(rename = "@context")]
    context: Option<String>,
    /// `/api/v1/user-api-tokens/{id}` (JSON-LD only).
    #[serde(rename = "@id")]
    iri: Option<String>,
    /// `UserApiToken` (JSON-LD only).
    #[serde(rename = "@type")]
    kind: Option<String>,
    id: i64,
    name: String,
    expires_at: Option<String>,
    last_used_at: Option<String>,
    is_active: bool,
    is_read_only: bool,
    date_created: String,
    /// The secret for the `Api-Token` header: in the create answer only.
    #[schema(nullable = false)]
    token: Option<String>,
}

/// The writable properties of a User, for `POST` (`email` required) and merge-patch `PATCH`.
pub struct UserWrite<const CREATE: bool>;

impl<const CREATE: bool> PartialSchema for UserWrite<CREATE> {
    fn schema() -> RefOr<Schema> {
        let mut schema = UserItem::schema();
        if let RefOr::T(Schema::Object(o)) = &mut schema {
            o.properties.retain(|name, _| {
                USER_PROPERTIES
                    .iter()
                    .any(|p| p.writeable && p.name == name.as_str())
            });
            o.required = if CREATE {
                vec!["email".to_owned()]
            } else {
                Vec::new()
            };
            o.description = Some(if CREATE {
                "A new User: its writable properties.".to_owned()
            } else {
                "An RFC 7396 merge patch of a User: absent = unchanged, `null` = cleared, objects \
                 merge."
                    .to_owned()
            });
        }
        schema
    }
}

impl ToSchema for UserWrite<true> {
    fn name() -> Cow<'static, str> {
        Cow::Borrowed("OrgoUserWrite")
    }
}

impl ToSchema for UserWrite<false> {
    fn name() -> Cow<'static, str> {
        Cow::Borrowed("OrgoUserPatch")
    }
}

/// `GET /api`.
#[derive(Serialize, ToSchema)]
#[schema(as = OrgoEntrypoint, example = json!({"@context": "/api/contexts/Entrypoint",
    "@id": "/api", "@type": "Entrypoint", "user": "/api/v1/users"}))]
pub struct Entrypoint {
    #[serde(rename = "@context")]
    context: Option<String>,
    #[serde(rename = "@id")]
    id: Option<String>,
    #[serde(rename = "@type")]
    kind: Option<String>,
    /// The users collection.
    user: String,
}

#[derive(Serialize, ToSchema)]
#[schema(as = OrgoLogin)]
pub struct Login {
    /// Email address or username.
    username: String,
    password: String,
}

#[derive(Serialize, ToSchema)]
#[schema(as = OrgoTokenPair)]
pub struct TokenPair {
    /// The access token (`Authorization: Bearer …`).
    token: String,
    /// For `POST /api/v1/token/refresh`; used once.
    refresh_token: String,
}

#[derive(Serialize, ToSchema)]
#[schema(as = OrgoRefresh)]
pub struct Refresh {
    refresh_token: String,
}

/// Failed login or refresh, in LexikJWT's shape.
#[derive(Serialize, ToSchema)]
#[schema(as = OrgoLoginFailure, example = json!({"code": 401, "message": "Invalid credentials."}))]
pub struct LoginFailure {
    code: u16,
    message: String,
}

/// `PATCH …/new-email`: `newEmailRequested` (aliases `email`, `newEmail`); `null` cancels.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = OrgoNewEmail)]
pub struct NewEmail {
    new_email_requested: Option<String>,
    #[schema(nullable = false)]
    email: Option<String>,
    #[schema(nullable = false)]
    new_email: Option<String>,
}

/// `POST …/new-email/confirm`.
#[derive(Serialize, ToSchema)]
#[schema(as = OrgoConfirmToken)]
pub struct ConfirmToken {
    /// The token of the confirmation message.
    token: String,
}

/// `PATCH …/new-password`: `currentPassword` is required when users change their own.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = OrgoNewPassword)]
pub struct NewPassword {
    new_password: String,
    #[schema(nullable = false)]
    current_password: Option<String>,
}

/// `POST /api/v1/user-api-tokens`.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = OrgoUserApiTokenWrite)]
pub struct TokenWrite {
    name: String,
    expires_at: Option<String>,
    #[schema(nullable = false)]
    is_read_only: Option<bool>,
}

fn problem(description: &str, schema: &str) -> RefOr<Response> {
    ResponseBuilder::new()
        .description(description)
        .content(
            "application/problem+json",
            ContentBuilder::new()
                .schema(Some(Ref::from_schema_name(schema)))
                .build(),
        )
        .build()
        .into()
}

/// 401 (no or a bad credential), 403 (not allowed, or a read-only token writing), 406.
pub struct AuthErrors;

impl IntoResponses for AuthErrors {
    fn responses() -> BTreeMap<String, RefOr<Response>> {
        BTreeMap::from([
            (
                "401".into(),
                problem(
                    "\"JWT Token not found\", \"Invalid JWT Token\" or \"Invalid API token\"",
                    "OrgoProblem",
                ),
            ),
            ("403".into(), problem("\"Access Denied.\"", "OrgoProblem")),
            (
                "406".into(),
                problem("The `Accept` asks for an unsupported format", "OrgoProblem"),
            ),
        ])
    }
}

/// 404: another organization's resource, or no such id.
pub struct NotFound;

impl IntoResponses for NotFound {
    fn responses() -> BTreeMap<String, RefOr<Response>> {
        BTreeMap::from([("404".into(), problem("Not Found", "OrgoProblem"))])
    }
}

/// 400, 415, 422: a body that is not JSON, of an unsupported type, or invalid.
pub struct BodyErrors;

impl IntoResponses for BodyErrors {
    fn responses() -> BTreeMap<String, RefOr<Response>> {
        BTreeMap::from([
            ("400".into(), problem("\"Syntax error\"", "OrgoProblem")),
            (
                "415".into(),
                problem("Unsupported `Content-Type`", "OrgoProblem"),
            ),
            (
                "422".into(),
                problem(
                    "Validation failed: one violation per bad field",
                    "OrgoConstraintViolationList",
                ),
            ),
        ])
    }
}

#[utoipa::path(get, path = "/api", tag = "Orgo", summary = "The API entrypoint",
    responses((status = 200, description = "The entrypoint",
        content((Entrypoint = "application/ld+json"), (Entrypoint = "application/json")))))]
fn entrypoint() {}

#[utoipa::path(get, path = "/api/", tag = "Orgo",
    summary = "The API entrypoint (with a trailing slash)",
    responses((status = 200, description = "The entrypoint, as at `/api`",
        content((Entrypoint = "application/ld+json"), (Entrypoint = "application/json")))))]
fn entrypoint_slash() {}

#[utoipa::path(get, path = "/api/contexts/{name}", tag = "Orgo", summary = "A JSON-LD context",
    params(("name" = String, Path, description = "`User`, `UserApiToken` or `Entrypoint`")),
    responses(
        (status = 200, description = "The context", body = Value,
            content_type = "application/ld+json"),
        NotFound))]
fn context() {}

#[utoipa::path(get, path = "/api/docs.jsonld", tag = "Orgo",
    summary = "The Hydra API documentation",
    responses((status = 200, description = "`hydra:ApiDocumentation`", body = Value,
        content_type = "application/ld+json")))]
fn hydra_documentation() {}

#[utoipa::path(get, path = "/api/docs.json", tag = "Orgo",
    summary = "This OpenAPI document",
    description = "OpenAPI 3.1 of every route usher serves, all dialects.",
    responses((status = 200, description = "OpenAPI 3.1", body = Value,
        content_type = "application/vnd.openapi+json")))]
fn openapi() {}

#[utoipa::path(get, path = "/api/docs", tag = "Orgo", summary = "The API documentation",
    description = "This OpenAPI document with `Accept: application/vnd.openapi+json`, else the \
        Hydra documentation.",
    responses((status = 200, description = "OpenAPI 3.1 or Hydra", content(
        (Value = "application/vnd.openapi+json"), (Value = "application/ld+json")))))]
fn docs() {}

#[utoipa::path(get, path = "/api/v1/users", tag = "Orgo", summary = "List users",
    description = "The organization's users (admins): a Hydra collection in JSON-LD, a bare \
        array in JSON. Page links keep the other parameters.",
    params(
        ("email" = Option<String>, Query, description = "Email contains (case-insensitive)"),
        ("firstName" = Option<String>, Query, description = "Given name contains"),
        ("lastName" = Option<String>, Query, description = "Family name contains"),
        ("keyword" = Option<String>, Query, description = "Names or email contain"),
        ("roles" = Option<String>, Query, description = "Has this role"),
        ("status" = Option<String>, Query,
            description = "`initial`, `active`, `inactive` or `locked`"),
        ("order[firstName]" = Option<String>, Query, description = "`asc` or `desc`"),
        ("order[lastName]" = Option<String>, Query, description = "`asc` or `desc`"),
        ("order[email]" = Option<String>, Query, description = "`asc` or `desc`"),
        ("order[id]" = Option<String>, Query, description = "`asc` (default) or `desc`"),
        ("page" = Option<u64>, Query, description = "1-based page (default 1)"),
        ("itemsPerPage" = Option<u64>, Query, description = "1 to 100 (default 30)"),
        ("pagination" = Option<bool>, Query,
            description = "`false` is refused (400): users are always paginated"),
    ),
    responses(
        (status = 200, description = "The users", content(
            (Collection<UserItem> = "application/ld+json"), (Vec<UserItem> = "application/json"))),
        (status = 400, description = "Bad paging or filter", body = Problem,
            content_type = "application/problem+json"),
        AuthErrors),
    security(("bearer" = []), ("apiToken" = [])))]
fn list_users() {}

#[utoipa::path(post, path = "/api/v1/users", tag = "Orgo", summary = "Create a user (admins)",
    request_body(content(
        (UserWrite<true> = "application/ld+json"), (UserWrite<true> = "application/json"))),
    responses(
        (status = 201, description = "Created; `Location` and `Content-Location` name it",
            content((UserItem = "application/ld+json"), (UserItem = "application/json"))),
        BodyErrors, AuthErrors),
    security(("bearer" = []), ("apiToken" = [])))]
fn create_user() {}

#[utoipa::path(get, path = "/api/v1/users/{id}", tag = "Orgo", summary = "Get a user",
    params(("id" = i64, Path, description = "The user's id")),
    responses(
        (status = 200, description = "The user (`Accept-Patch: application/merge-patch+json`)",
            content((UserItem = "application/ld+json"), (UserItem = "application/json"))),
        NotFound, AuthErrors),
    security(("bearer" = []), ("apiToken" = [])))]
fn get_user() {}

#[utoipa::path(patch, path = "/api/v1/users/{id}", tag = "Orgo", summary = "Update a user (admins)",
    params(("id" = i64, Path, description = "The user's id")),
    request_body(content = UserWrite<false>, content_type = "application/merge-patch+json"),
    responses(
        (status = 200, description = "The updated user",
            content((UserItem = "application/ld+json"), (UserItem = "application/json"))),
        NotFound, BodyErrors, AuthErrors),
    security(("bearer" = []), ("apiToken" = [])))]
fn patch_user() {}

#[utoipa::path(delete, path = "/api/v1/users/{id}", tag = "Orgo", summary = "Delete a user (admins)",
    params(("id" = i64, Path, description = "The user's id")),
    responses((status = 204, description = "Deleted"), NotFound, AuthErrors),
    security(("bearer" = []), ("apiToken" = [])))]
fn delete_user() {}

#[utoipa::path(patch, path = "/api/v1/users/{id}/new-email", tag = "Orgo",
    summary = "Change a user's email address",
    description = "An admin's change is immediate; a user's own request is kept in \
        `newEmailRequested` and confirmed from a message to the current address.",
    params(("id" = i64, Path, description = "The user's id")),
    request_body(content = NewEmail, content_type = "application/merge-patch+json"),
    responses(
        (status = 200, description = "The user",
            content((UserItem = "application/ld+json"), (UserItem = "application/json"))),
        NotFound, BodyErrors, AuthErrors),
    security(("bearer" = []), ("apiToken" = [])))]
fn new_email() {}

#[utoipa::path(post, path = "/api/v1/users/{id}/new-email/confirm", tag = "Orgo",
    summary = "Confirm a pending email change",
    params(("id" = i64, Path, description = "The user's id")),
    request_body(content((ConfirmToken = "application/ld+json"), (ConfirmToken = "application/json"))),
    responses(
        (status = 200, description = "The user, with the new address",
            content((UserItem = "application/ld+json"), (UserItem = "application/json"))),
        (status = 410, description = "No pending change, or the token is used or expired",
            body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "Too many failed attempts (`Retry-After`)", body = Problem,
            content_type = "application/problem+json"),
        NotFound, BodyErrors, AuthErrors),
    security(("bearer" = []), ("apiToken" = [])))]
fn confirm_new_email() {}

#[utoipa::path(patch, path = "/api/v1/users/{id}/new-password", tag = "Orgo",
    summary = "Change a user's password",
    params(("id" = i64, Path, description = "The user's id")),
    request_body(content = NewPassword, content_type = "application/merge-patch+json"),
    responses(
        (status = 200, description = "The user",
            content((UserItem = "application/ld+json"), (UserItem = "application/json"))),
        (status = 429, description = "Too many wrong current passwords (`Retry-After`)",
            body = Problem, content_type = "application/problem+json"),
        NotFound, BodyErrors, AuthErrors),
    security(("bearer" = []), ("apiToken" = [])))]
fn new_password() {}

#[utoipa::path(get, path = "/api/v1/me", tag = "Orgo", summary = "The caller's own user",
    responses(
        (status = 200, description = "The user",
            content((UserItem = "application/ld+json"), (UserItem = "application/json"))),
        (status = 404, description = "The credential belongs to no user (an organization key)",
            body = Problem, content_type = "application/problem+json"),
        AuthErrors),
    security(("bearer" = []), ("apiToken" = [])))]
fn me() {}

#[utoipa::path(post, path = "/api/v1/login-check", tag = "Orgo", summary = "Log in",
    request_body = Login,
    responses(
        (status = 200, description = "The token pair", body = TokenPair),
        (status = 400, description = "No username or password", body = Problem,
            content_type = "application/problem+json"),
        (status = 413, description = "Request Entity Too Large", body = Problem,
            content_type = "application/problem+json"),
        (status = 415, description = "Not JSON", body = Problem,
            content_type = "application/problem+json"),
        (status = 401, description = "\"Invalid credentials.\"", body = LoginFailure),
        (status = 429, description = "Too many failed attempts (`Retry-After`)", body = Problem,
            content_type = "application/problem+json")))]
fn login_check() {}

#[utoipa::path(post, path = "/api/v1/login", tag = "Orgo", summary = "Log in (alias of login-check)",
    request_body = Login,
    responses(
        (status = 200, description = "The token pair", body = TokenPair),
        (status = 400, description = "No username or password", body = Problem,
            content_type = "application/problem+json"),
        (status = 413, description = "Request Entity Too Large", body = Problem,
            content_type = "application/problem+json"),
        (status = 415, description = "Not JSON", body = Problem,
            content_type = "application/problem+json"),
        (status = 401, description = "\"Invalid credentials.\"", body = LoginFailure),
        (status = 429, description = "Too many failed attempts (`Retry-After`)", body = Problem,
            content_type = "application/problem+json")))]
fn login() {}

#[utoipa::path(post, path = "/api/v1/token/refresh", tag = "Orgo",
    summary = "A new token pair for a refresh token (used once)",
    request_body = Refresh,
    responses(
        (status = 200, description = "The token pair", body = TokenPair),
        (status = 400, description = "No refresh token", body = Problem,
            content_type = "application/problem+json"),
        (status = 413, description = "Request Entity Too Large", body = Problem,
            content_type = "application/problem+json"),
        (status = 415, description = "Not JSON", body = Problem,
            content_type = "application/problem+json"),
        (status = 401, description = "\"JWT Refresh Token Not Found\"", body = LoginFailure),
        (status = 429, description = "Too many attempts (`Retry-After`)", body = Problem,
            content_type = "application/problem+json")))]
fn refresh() {}

#[utoipa::path(get, path = "/api/v1/user-api-tokens", tag = "Orgo",
    summary = "The caller's API tokens",
    responses(
        (status = 200, description = "The tokens (never their secrets)", content(
            (Collection<UserApiToken> = "application/ld+json"),
            (Vec<UserApiToken> = "application/json"))),
        AuthErrors),
    security(("bearer" = []), ("apiToken" = [])))]
fn list_tokens() {}

#[utoipa::path(post, path = "/api/v1/user-api-tokens", tag = "Orgo",
    summary = "Create an API token",
    request_body(content(
        (TokenWrite = "application/ld+json"), (TokenWrite = "application/json"))),
    responses(
        (status = 201, description = "Created; `token` is the secret, shown this once",
            content((UserApiToken = "application/ld+json"), (UserApiToken = "application/json"))),
        BodyErrors, AuthErrors),
    security(("bearer" = []), ("apiToken" = [])))]
fn create_token() {}

#[utoipa::path(get, path = "/api/v1/user-api-tokens/{id}", tag = "Orgo",
    summary = "Get an API token",
    params(("id" = i64, Path, description = "The token's id")),
    responses(
        (status = 200, description = "The token",
            content((UserApiToken = "application/ld+json"), (UserApiToken = "application/json"))),
        NotFound, AuthErrors),
    security(("bearer" = []), ("apiToken" = [])))]
fn get_token() {}

#[utoipa::path(delete, path = "/api/v1/user-api-tokens/{id}", tag = "Orgo",
    summary = "Delete an API token",
    params(("id" = i64, Path, description = "The token's id")),
    responses((status = 204, description = "Deleted"), NotFound, AuthErrors),
    security(("bearer" = []), ("apiToken" = [])))]
fn delete_token() {}

#[utoipa::path(patch, path = "/api/v1/user-api-tokens/{id}/revoke", tag = "Orgo",
    summary = "Revoke an API token",
    description = "The body, if any, must be a merge patch; it is ignored.",
    params(("id" = i64, Path, description = "The token's id")),
    responses(
        (status = 200, description = "The token, inactive",
            content((UserApiToken = "application/ld+json"), (UserApiToken = "application/json"))),
        NotFound, BodyErrors, AuthErrors),
    security(("bearer" = []), ("apiToken" = [])))]
fn revoke_token() {}

#[derive(OpenApi)]
#[openapi(
    paths(
        entrypoint,
        entrypoint_slash,
        context,
        hydra_documentation,
        openapi,
        docs,
        list_users,
        create_user,
        get_user,
        patch_user,
        delete_user,
        new_email,
        confirm_new_email,
        new_password,
        me,
        login_check,
        login,
        refresh,
        list_tokens,
        create_token,
        get_token,
        delete_token,
        revoke_token,
    ),
    components(schemas(Problem, ConstraintViolationList))
)]
pub struct Doc;

/// The token schema's properties, for the test that holds them to the Hydra documentation.
pub fn token_properties() -> Vec<String> {
    match UserApiToken::schema() {
        RefOr::T(Schema::Object(o)) => o.properties.keys().cloned().collect(),
        _ => Vec::new(),
    }
}

/// The Hydra documentation's token properties.
pub fn hydra_token_properties() -> Vec<String> {
    TOKEN_PROPERTIES.iter().map(|p| p.name.to_owned()).collect()
}
