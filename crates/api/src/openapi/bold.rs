//! The Bold dialect's operations: documentation-only functions whose `#[utoipa::path]` attributes
//! describe the routes of `crate::bold::routes`; the schemas are derived from the wire types
//! (`bold/wire.rs` and the handlers' query and body structs).

#![allow(
    dead_code,
    reason = "documentation-only functions: utoipa reads their attributes, nobody calls them"
)]

use std::collections::BTreeMap;

use serde::Serialize;
use utoipa::openapi::{ContentBuilder, Ref, RefOr, ResponseBuilder, response::Response};
use utoipa::{IntoResponses, OpenApi, ToSchema};

use crate::bold::schema::*;

/// Bold's error body: four keys that repeat each other (and, on a 409 of `POST /v2/users`, the
/// existing user's id).
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(
    as = BoldError,
    example = json!({"message": "Invalid phone number: phoneNumber", "code": "InvalidInput",
        "errorMessage": "Invalid phone number: phoneNumber", "errorCode": "InvalidInput"})
)]
pub struct BoldErrorBody {
    /// The existing user (409 of `POST /v2/users` only).
    #[schema(nullable = false)]
    user_id: Option<i64>,
    message: String,
    /// `InvalidInput`, `InvalidToken`, `InsufficientRights`, `UserNotFound`,
    /// `UserGroupNotFound`, `AlreadyExists`, `TooManyRequests` …
    code: String,
    error_message: String,
    error_code: String,
}

/// The `multipart/form-data` body of the bulk import: one CSV file.
#[derive(ToSchema)]
pub struct ImportUpload {
    /// CSV with a header row naming user fields (`firstName, lastName, emailAddress,
    /// phoneNumber, externalId, description, remarks, superUser`).
    #[schema(content_media_type = "text/csv")]
    file: String,
}

fn error(description: &str) -> RefOr<Response> {
    ResponseBuilder::new()
        .description(description)
        .content(
            "application/json",
            ContentBuilder::new()
                .schema(Some(Ref::from_schema_name("BoldError")))
                .build(),
        )
        .build()
        .into()
}

/// 400, 401, 403, 404 and 429: every Bold operation may answer them (404: an unknown
/// `organizationId`, or the named resource).
pub struct Errors;

impl IntoResponses for Errors {
    fn responses() -> BTreeMap<String, RefOr<Response>> {
        BTreeMap::from([
            ("400".into(), error("Invalid input")),
            ("401".into(), error("Invalid authentication token")),
            ("403".into(), error("Insufficient rights")),
            (
                "404".into(),
                error("Not found (`OrganizationNotFound`, `UserNotFound` …)"),
            ),
            ("429".into(), error("Too many requests (see `Retry-After`)")),
        ])
    }
}

/// 404: the named resource is not visible to the caller.
pub struct NotFound;

impl IntoResponses for NotFound {
    fn responses() -> BTreeMap<String, RefOr<Response>> {
        BTreeMap::from([(
            "404".into(),
            error("Not found (`UserNotFound`, `UserGroupNotFound` …)"),
        )])
    }
}

#[utoipa::path(get, path = "/v2/users", tag = "Bold", summary = "List users",
    description = "A plain JSON array of user objects (Bold lists have no envelope).",
    params(UserListParams),
    responses((status = 200, description = "All ok", body = Vec<UserOut>), Errors),
    security(("bearer" = [])))]
fn list_users() {}

#[utoipa::path(post, path = "/v2/users", tag = "Bold", summary = "Create a user",
    description = "`firstName`, `emailAddress` or `phoneNumber` must be present; `organizationId` \
        defaults to the caller's organization. `invitation` and `token` are in the answer only \
        when an invitation was made.",
    params(GroupParams),
    request_body = CreateUserBody,
    responses(
        (status = 201, description = "Created", body = CreatedUser),
        (status = 409, description = "User or user-invite already exists (`userId` names it)",
            body = BoldErrorBody),
        Errors),
    security(("bearer" = [])))]
fn create_user() {}

#[utoipa::path(put, path = "/v2/users", tag = "Bold", summary = "Bulk import users (CSV)",
    description = "Valid rows are created or, matched by `externalId` then email, updated; the \
        answer lists the problems of the other rows (empty when every row was fine).",
    params(ImportParams),
    request_body(content = inline(ImportUpload), content_type = "multipart/form-data"),
    responses(
        (status = 200, description = "All ok: the row problems", body = Vec<RowProblem>,
            example = json!([{"message": "Invalid email address charlie-example.com", "row": 3}])),
        (status = 413, description = "Upload too large", body = BoldErrorBody),
        Errors),
    security(("bearer" = [])))]
fn import_users() {}

#[utoipa::path(get, path = "/v2/users/{id}", tag = "Bold", summary = "Get a user",
    params(("id" = i64, Path, description = "The user's id")),
    responses((status = 200, description = "All ok", body = UserOut), NotFound, Errors),
    security(("bearer" = [])))]
fn get_user() {}

#[utoipa::path(put, path = "/v2/users/{id}", tag = "Bold", summary = "Update a user",
    description = "A partial update: absent fields are unchanged, `null` clears a text field. \
        Answers the user's id as a bare number.",
    params(("id" = i64, Path, description = "The user's id"), GroupParams),
    request_body = UpdateUserBody,
    responses((status = 200, description = "All ok: the user's id", body = i64,
        content_type = "application/json", example = 4),
        NotFound, Errors),
    security(("bearer" = [])))]
fn update_user() {}

#[utoipa::path(delete, path = "/v2/users/{id}", tag = "Bold", summary = "Delete a user",
    params(("id" = i64, Path, description = "The user's id")),
    responses((status = 200, description = "All ok", body = Empty), NotFound, Errors),
    security(("bearer" = [])))]
fn delete_user() {}

#[utoipa::path(put, path = "/v2/users/{id}/invitation", tag = "Bold",
    summary = "Update a user's invitation",
    description = "A user with no invitation gets one; `sendEmail` / `sendSms` (re)send it; an \
        expired invitation gets a new token. An accepted invitation answers 400 \
        `InvitationAlreadyAccepted`.",
    params(("id" = i64, Path, description = "The user's id")),
    request_body = UpdateInvitationBody,
    responses((status = 200, description = "All ok", body = IdOut, example = json!({"id": 5})),
        NotFound, Errors),
    security(("bearer" = [])))]
fn update_invitation() {}

#[utoipa::path(get, path = "/v1/user-groups", tag = "Bold", summary = "List user groups",
    params(GroupListParams),
    responses((status = 200, description = "All ok", body = Vec<GroupOut>), Errors),
    security(("bearer" = [])))]
fn list_groups() {}

#[utoipa::path(post, path = "/v1/user-groups", tag = "Bold", summary = "Create a user group",
    params(OrgParam),
    request_body = GroupBody,
    responses((status = 200, description = "All ok: the new group's id", body = i64,
        content_type = "application/json"), Errors),
    security(("bearer" = [])))]
fn create_group() {}

#[utoipa::path(get, path = "/v1/user-groups/{id}", tag = "Bold", summary = "Get a user group",
    params(("id" = i64, Path, description = "The group's id"), IncludeUsers),
    responses((status = 200, description = "All ok", body = GroupOut), NotFound, Errors),
    security(("bearer" = [])))]
fn get_group() {}

#[utoipa::path(put, path = "/v1/user-groups/{id}", tag = "Bold", summary = "Update a user group",
    params(("id" = i64, Path, description = "The group's id")),
    request_body = GroupBody,
    responses((status = 200, description = "All ok: the group's id", body = i64,
        content_type = "application/json"), NotFound,
        Errors),
    security(("bearer" = [])))]
fn update_group() {}

#[utoipa::path(delete, path = "/v1/user-groups/{id}", tag = "Bold", summary = "Delete a user group",
    params(("id" = i64, Path, description = "The group's id")),
    responses((status = 200, description = "All ok", body = Empty), NotFound, Errors),
    security(("bearer" = [])))]
fn delete_group() {}

#[utoipa::path(post, path = "/v1/user-groups/{id}/users", tag = "Bold",
    summary = "Add users to a user group",
    description = "Re-adding a member changes its admin flag.",
    params(("id" = i64, Path, description = "The group's id")),
    request_body = Vec<MemberBody>,
    responses((status = 200, description = "All ok", body = Empty), NotFound, Errors),
    security(("bearer" = [])))]
fn add_members() {}

#[utoipa::path(delete, path = "/v1/user-groups/{id}/users", tag = "Bold",
    summary = "Remove users from a user group",
    params(("id" = i64, Path, description = "The group's id")),
    request_body(content = Vec<i64>, description = "The users' ids"),
    responses((status = 200, description = "All ok", body = Empty), NotFound, Errors),
    security(("bearer" = [])))]
fn remove_members() {}

#[utoipa::path(post, path = "/v1/user-groups/{id}/users/{user_id}", tag = "Bold",
    summary = "Add a user to a user group",
    description = "400 \"Group and user do not belong to the same account\" across organizations.",
    params(("id" = i64, Path, description = "The group's id"),
        ("user_id" = i64, Path, description = "The user's id"), GroupAdminParam),
    responses((status = 200, description = "All ok", body = Empty), NotFound, Errors),
    security(("bearer" = [])))]
fn add_member() {}

#[utoipa::path(delete, path = "/v1/user-groups/{id}/users/{user_id}", tag = "Bold",
    summary = "Remove a user from a user group",
    params(("id" = i64, Path, description = "The group's id"),
        ("user_id" = i64, Path, description = "The user's id")),
    responses((status = 200, description = "All ok", body = Empty), NotFound, Errors),
    security(("bearer" = [])))]
fn remove_member() {}

#[utoipa::path(get, path = "/v1/organization", tag = "Bold",
    summary = "The caller's organization",
    description = "404 for a principal with none (the instance admin).",
    responses((status = 200, description = "All ok", body = OrganizationOut), NotFound, Errors),
    security(("bearer" = [])))]
fn own_organization() {}

#[utoipa::path(get, path = "/v1/organizations", tag = "Bold", summary = "List organizations",
    description = "The instance admin sees all; others their own.",
    responses((status = 200, description = "All ok", body = Vec<OrganizationOut>), Errors),
    security(("bearer" = [])))]
fn list_organizations() {}

#[utoipa::path(post, path = "/v1/organizations", tag = "Bold",
    summary = "Create an organization (instance admin)",
    request_body = OrgBody,
    responses((status = 201, description = "Created", body = IdOut), Errors),
    security(("bearer" = [])))]
fn create_organization() {}

#[utoipa::path(get, path = "/v1/organizations/{id}", tag = "Bold", summary = "Get an organization",
    params(("id" = i64, Path, description = "The organization's id")),
    responses((status = 200, description = "All ok", body = OrganizationOut), NotFound, Errors),
    security(("bearer" = [])))]
fn get_organization() {}

#[utoipa::path(get, path = "/v1/api-keys", tag = "Bold", summary = "List API keys",
    description = "Never the secrets.",
    responses((status = 200, description = "All ok", body = Vec<KeyOut>), Errors),
    security(("bearer" = [])))]
fn list_api_keys() {}

#[utoipa::path(post, path = "/v1/api-keys", tag = "Bold", summary = "Create an API key",
    description = "The secret is in this answer only. A key acts as the user it is bound to, or \
        as an admin of its organization when bound to no user.",
    request_body = KeyBody,
    responses((status = 201, description = "Created", body = CreatedKey), Errors),
    security(("bearer" = [])))]
fn create_api_key() {}

#[utoipa::path(delete, path = "/v1/api-keys/{id}", tag = "Bold", summary = "Delete an API key",
    params(("id" = i64, Path, description = "The key's id")),
    responses((status = 200, description = "All ok", body = Empty), NotFound, Errors),
    security(("bearer" = [])))]
fn delete_api_key() {}

#[utoipa::path(post, path = "/v1/users/{id}/email/verify", tag = "Bold",
    summary = "Verify a user's email address with its code",
    params(("id" = i64, Path, description = "The user's id")),
    request_body = CodeBody,
    responses((status = 200, description = "All ok", body = Empty), NotFound, Errors),
    security(("bearer" = [])))]
fn verify_email() {}

#[utoipa::path(post, path = "/v1/users/{id}/phone/verify", tag = "Bold",
    summary = "Verify a user's phone number with its code",
    params(("id" = i64, Path, description = "The user's id")),
    request_body = CodeBody,
    responses((status = 200, description = "All ok", body = Empty), NotFound, Errors),
    security(("bearer" = [])))]
fn verify_phone() {}

#[utoipa::path(get, path = "/v1/outbox", tag = "Bold", summary = "The delivery queue (admins)",
    description = "Messages waiting, sent, failed or cancelled; never their text or codes.",
    params(OutboxParams),
    responses((status = 200, description = "All ok", body = Vec<OutboxOut>), Errors),
    security(("bearer" = [])))]
fn outbox() {}

#[derive(OpenApi)]
#[openapi(
    paths(
        list_users,
        create_user,
        import_users,
        get_user,
        update_user,
        delete_user,
        update_invitation,
        list_groups,
        create_group,
        get_group,
        update_group,
        delete_group,
        add_members,
        remove_members,
        add_member,
        remove_member,
        own_organization,
        list_organizations,
        create_organization,
        get_organization,
        list_api_keys,
        create_api_key,
        delete_api_key,
        verify_email,
        verify_phone,
        outbox,
    ),
    components(schemas(BoldErrorBody))
)]
pub struct Doc;
