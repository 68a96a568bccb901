//! `/v1/user-groups`.

use axum::Json;
use axum::extract::State;
use serde::Deserialize;
use usher_core::error::{Field, FieldError, Validator};
use usher_core::model::GroupMember;
use usher_core::ports::GroupQuery;
use usher_core::service::{GroupDraft, GroupWithMembers, MemberChange, Patch};
use usher_core::types::{GroupId, OrgId, UserId};

use super::error::BoldError;
use super::extract::{Auth, BoldJson, BoldJsonArray, BoldPath, BoldQuery};
use super::users::paging;
use super::wire::*;
use crate::AppState;
use crate::common::nullable::Nullable;

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(rename_all = "camelCase")]
#[into_params(parameter_in = Query)]
pub(crate) struct IncludeUsers {
    /// Add the members (`users`, each with `groupAdmin`).
    include_users: Option<bool>,
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(rename_all = "camelCase")]
#[into_params(parameter_in = Query)]
pub(crate) struct ListParams {
    /// Add the members of each group.
    include_users: Option<bool>,
    /// Matches the group name, case-insensitively.
    search: Option<String>,
    /// Only this organization's groups.
    organization_id: Option<i64>,
    /// `name`, the only sort (anything else is a 400).
    sort_by: Option<String>,
    /// `Asc` (default) or `Desc`.
    sort_direction: Option<String>,
    /// Rows to skip (default 0).
    offset: Option<i64>,
    /// Rows per page: 1 to 100 (default 50).
    size: Option<i64>,
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(rename_all = "camelCase")]
#[into_params(parameter_in = Query)]
pub(crate) struct OrgParam {
    /// The organization (default: the caller's).
    organization_id: Option<i64>,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct GroupBody {
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    name: Nullable<String>,
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    description: Nullable<String>,
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    remarks: Nullable<String>,
    #[serde(default)]
    #[schema(value_type = Option<ExternalIdIn>)]
    external_id: Nullable<ExternalIdIn>,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct MemberBody {
    user_id: i64,
    #[serde(default)]
    group_admin: bool,
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(rename_all = "camelCase")]
#[into_params(parameter_in = Query)]
pub(crate) struct GroupAdminParam {
    /// Make the user an admin of the group (default false).
    group_admin: Option<bool>,
}

fn render(g: GroupWithMembers, public_url: &str) -> GroupOut {
    let mut invitations: std::collections::HashMap<_, _> =
        g.invitations.into_iter().map(|i| (i.user_id, i)).collect();
    let users = g.members.map(|members| {
        members
            .into_iter()
            .map(|GroupMember { user, group_admin }| {
                let invitation = invitations.remove(&user.id);
                let mut u = UserOut::new(user, invitation, public_url);
                u.group_admin = Some(group_admin);
                u
            })
            .collect()
    });
    GroupOut::new(g.group, users)
}

pub(super) fn draft(body: GroupBody) -> Result<GroupDraft, BoldError> {
    let mut v = Validator::new();
    let name = match body.name {
        Nullable::Value(n) => v.check(Field::GroupName, usher_core::types::text(&n, NAME_MAX)),
        Nullable::Null => {
            v.push(FieldError::required(Field::GroupName));
            None
        }
        Nullable::Absent => None,
    };
    let d = GroupDraft {
        name,
        description: patch_text(&mut v, Field::Description, body.description, LONG_MAX),
        remarks: patch_text(&mut v, Field::Remarks, body.remarks, LONG_MAX),
        external_id: match body.external_id {
            Nullable::Absent => Patch::Keep,
            Nullable::Null => Patch::Clear,
            Nullable::Value(x) => match x.into_value().filter(|s| !s.is_empty()) {
                None => Patch::Clear,
                Some(s) => v
                    .check(Field::ExternalId, usher_core::types::text(&s, TEXT_MAX))
                    .map_or(Patch::Keep, Patch::Set),
            },
        },
    };
    v.finish()?;
    Ok(d)
}

/// `GET /v1/user-groups` → plain array.
pub(super) async fn list(
    State(state): State<AppState>,
    Auth(p): Auth,
    BoldQuery(q): BoldQuery<ListParams>,
) -> Result<Json<Vec<GroupOut>>, BoldError> {
    let (offset, limit, direction) = paging(q.offset, q.size, q.sort_direction.as_deref())?;
    if q.sort_by.as_deref().is_some_and(|s| s != "name") {
        return Err(BoldError::invalid("Invalid value: sortBy"));
    }
    let query = GroupQuery {
        org: q.organization_id.map(OrgId),
        member: None,
        search: q.search.filter(|s| !s.is_empty()),
        direction,
        offset,
        limit,
    };
    let include = q.include_users.unwrap_or(false);
    let groups = state.services.list_groups(&p, query, include).await?;
    let public_url = &state.services.config().public_url;
    Ok(Json(
        groups.into_iter().map(|g| render(g, public_url)).collect(),
    ))
}

/// `GET /v1/user-groups/{id}`.
pub(super) async fn get_one(
    State(state): State<AppState>,
    Auth(p): Auth,
    BoldPath(id): BoldPath<i64>,
    BoldQuery(q): BoldQuery<IncludeUsers>,
) -> Result<Json<GroupOut>, BoldError> {
    let g = state
        .services
        .get_group(&p, GroupId(id), q.include_users.unwrap_or(false))
        .await?;
    Ok(Json(render(g, &state.services.config().public_url)))
}

/// `POST /v1/user-groups?organizationId=` → the new id as a bare number.
pub(super) async fn create(
    State(state): State<AppState>,
    Auth(p): Auth,
    BoldQuery(q): BoldQuery<OrgParam>,
    BoldJson(body): BoldJson<GroupBody>,
) -> Result<Json<i64>, BoldError> {
    let g = state
        .services
        .create_group(&p, q.organization_id.map(OrgId), draft(body)?)
        .await?;
    Ok(Json(g.id.0))
}

/// `PUT /v1/user-groups/{id}` → the id as a bare number.
pub(super) async fn update(
    State(state): State<AppState>,
    Auth(p): Auth,
    BoldPath(id): BoldPath<i64>,
    BoldJson(body): BoldJson<GroupBody>,
) -> Result<Json<i64>, BoldError> {
    let g = state
        .services
        .update_group(&p, GroupId(id), draft(body)?)
        .await?;
    Ok(Json(g.id.0))
}

/// `DELETE /v1/user-groups/{id}` → `{}`.
pub(super) async fn delete(
    State(state): State<AppState>,
    Auth(p): Auth,
    BoldPath(id): BoldPath<i64>,
) -> Result<Json<Empty>, BoldError> {
    state.services.delete_group(&p, GroupId(id)).await?;
    Ok(Json(Empty {}))
}

/// `POST /v1/user-groups/{id}/users/{userId}?groupAdmin=` → `{}`.
pub(super) async fn add_one(
    State(state): State<AppState>,
    Auth(p): Auth,
    BoldPath((id, user)): BoldPath<(i64, i64)>,
    BoldQuery(q): BoldQuery<GroupAdminParam>,
) -> Result<Json<Empty>, BoldError> {
    let change = MemberChange {
        user: UserId(user),
        group_admin: q.group_admin.unwrap_or(false),
    };
    state
        .services
        .add_members(&p, GroupId(id), vec![change])
        .await?;
    Ok(Json(Empty {}))
}

/// `POST /v1/user-groups/{id}/users` with `[{"userId", "groupAdmin"}]` → `{}`.
pub(super) async fn add_many(
    State(state): State<AppState>,
    Auth(p): Auth,
    BoldPath(id): BoldPath<i64>,
    BoldJsonArray(body): BoldJsonArray<Vec<MemberBody>>,
) -> Result<Json<Empty>, BoldError> {
    let changes = body
        .into_iter()
        .map(|m| MemberChange {
            user: UserId(m.user_id),
            group_admin: m.group_admin,
        })
        .collect();
    state.services.add_members(&p, GroupId(id), changes).await?;
    Ok(Json(Empty {}))
}

/// `DELETE /v1/user-groups/{id}/users/{userId}` → `{}`.
pub(super) async fn remove_one(
    State(state): State<AppState>,
    Auth(p): Auth,
    BoldPath((id, user)): BoldPath<(i64, i64)>,
) -> Result<Json<Empty>, BoldError> {
    state
        .services
        .remove_members(&p, GroupId(id), vec![UserId(user)])
        .await?;
    Ok(Json(Empty {}))
}

/// `DELETE /v1/user-groups/{id}/users` with `[userId, …]` → `{}`.
pub(super) async fn remove_many(
    State(state): State<AppState>,
    Auth(p): Auth,
    BoldPath(id): BoldPath<i64>,
    BoldJsonArray(body): BoldJsonArray<Vec<i64>>,
) -> Result<Json<Empty>, BoldError> {
    state
        .services
        .remove_members(&p, GroupId(id), body.into_iter().map(UserId).collect())
        .await?;
    Ok(Json(Empty {}))
}
