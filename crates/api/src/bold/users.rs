//! `/v2/users`: create, read, list, update, delete, and the invitation update.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::Deserialize;
use usher_core::error::{Field, FieldError, Validator};
use usher_core::ports::{Direction, TextField, TextOp, UserFilter, UserSort};
use usher_core::service::{
    GroupJoin, InvitationRequest, InvitationUpdate, NewUser, UserListQuery, UserPatch,
};
use usher_core::types::{GroupId, OrgId, UserId};

use super::error::{BoldError, field_name};
use super::extract::{Auth, BoldJson, BoldPath, BoldQuery};
use super::wire::*;
use crate::AppState;

fn group_join(q: GroupParams) -> Result<Option<GroupJoin>, BoldError> {
    match (q.user_group_id, q.group_admin) {
        (Some(g), admin) => Ok(Some(GroupJoin {
            group: GroupId(g),
            admin: admin.unwrap_or(false),
        })),
        (None, Some(true)) => Err(BoldError::invalid(
            "Missing value: userGroupId (required with groupAdmin)",
        )),
        (None, _) => Ok(None),
    }
}

pub(super) fn new_user(
    body: CreateUserBody,
    group: Option<GroupJoin>,
) -> Result<NewUser, BoldError> {
    let mut v = Validator::new();
    let invitation = body.invitation.map(|i| InvitationRequest {
        language: opt_language(&mut v, Field::InvitationLanguage, i.language),
        expiration: opt_time(&mut v, Field::InvitationExpiration, i.expiration),
        send_email: i.send_email.unwrap_or(false),
        send_sms: i.send_sms.unwrap_or(false),
    });
    let input = NewUser {
        org: body.organization_id.map(OrgId),
        first_name: opt_text(&mut v, Field::FirstName, body.first_name, NAME_MAX),
        last_name: opt_text(&mut v, Field::LastName, body.last_name, NAME_MAX),
        email: opt_email(&mut v, Field::Email, body.email_address),
        email_verify: body.email_address_verify.unwrap_or(false),
        phone: opt_phone(&mut v, Field::Phone, body.phone_number),
        phone_verify: body.phone_number_verify.unwrap_or(false),
        description: opt_text(&mut v, Field::Description, body.description, LONG_MAX),
        remarks: opt_text(&mut v, Field::Remarks, body.remarks, LONG_MAX),
        super_user: body.super_user.unwrap_or(false),
        external_id: opt_text(&mut v, Field::ExternalId, body.external_id, TEXT_MAX),
        client_id: body.client_id,
        auto_remove_after: opt_period(&mut v, Field::AutoRemoveAfter, body.auto_remove_after),
        auto_email_match: body.auto_email_match.unwrap_or(false),
        require_email_match: body.require_email_match.unwrap_or(false),
        email_match_credential_filter: body.email_match_credential_filter.unwrap_or(false),
        auth_organization_id: opt_text(
            &mut v,
            Field::AuthOrganizationId,
            body.auth_organization_id,
            TEXT_MAX,
        ),
        invitation,
        group,
        ..NewUser::default()
    };
    v.finish()?;
    Ok(input)
}

/// `POST /v2/users` → 201 `{"userId", "invitation"?, "token"?}`.
pub(super) async fn create(
    State(state): State<AppState>,
    Auth(p): Auth,
    BoldQuery(q): BoldQuery<GroupParams>,
    BoldJson(body): BoldJson<CreateUserBody>,
) -> Result<(StatusCode, Json<CreatedUser>), BoldError> {
    let input = new_user(body, group_join(q)?)?;
    let created = state.services.create_user(&p, input).await?;
    let public_url = &state.services.config().public_url;
    let (invitation, token) = match created.invitation {
        Some(i) => (
            Some(CreatedInvitation {
                url: i.url(public_url),
                expiration: i.expires_at.rfc3339(),
            }),
            Some(i.token),
        ),
        None => (None, None),
    };
    Ok((
        StatusCode::CREATED,
        Json(CreatedUser {
            user_id: created.user.id.0,
            invitation,
            token,
        }),
    ))
}

/// `GET /v2/users/{id}`.
pub(super) async fn get_one(
    State(state): State<AppState>,
    Auth(p): Auth,
    BoldPath(id): BoldPath<i64>,
) -> Result<Json<UserOut>, BoldError> {
    let view = state.services.get_user(&p, UserId(id)).await?;
    Ok(Json(UserOut::new(
        view.user,
        view.invitation,
        &state.services.config().public_url,
    )))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(rename_all = "camelCase")]
#[into_params(parameter_in = Query)]
pub(crate) struct ListParams {
    /// Only this organization's users (default: every organization the caller sees).
    organization_id: Option<i64>,
    /// Matches names, email address and phone number, case-insensitively.
    search: Option<String>,
    /// Only members of this user group.
    user_group_id: Option<i64>,
    /// Only the user with this external id.
    external_id: Option<String>,
    /// `firstName`, `lastName`, `emailAddress` or `dateCreated`.
    sort_by: Option<String>,
    /// `Asc` (default) or `Desc`.
    sort_direction: Option<String>,
    /// Rows to skip (default 0).
    offset: Option<i64>,
    /// Rows per page: 1 to 100 (default 50).
    size: Option<i64>,
}

/// Paging and sort parameters shared by the Bold lists.
pub(super) fn paging(
    offset: Option<i64>,
    size: Option<i64>,
    direction: Option<&str>,
) -> Result<(u64, u64, Direction), BoldError> {
    let mut v = Validator::new();
    let offset = offset.unwrap_or(0);
    if offset < 0 {
        v.push(FieldError::new(
            Field::Wire("offset".into()),
            "out_of_range",
            "must be 0 or more",
        ));
    }
    let size = size.unwrap_or(50);
    if !(1..=100).contains(&size) {
        v.push(FieldError::new(
            Field::Wire("size".into()),
            "out_of_range",
            "must be 1 to 100",
        ));
    }
    let direction = match direction {
        None | Some("Asc") => Direction::Asc,
        Some("Desc") => Direction::Desc,
        Some(_) => {
            v.push(FieldError::new(
                Field::Wire("sortDirection".into()),
                "invalid_type",
                "Asc or Desc",
            ));
            Direction::Asc
        }
    };
    v.finish()?;
    Ok((offset as u64, size as u64, direction))
}

/// `GET /v2/users` → a plain array (Bold lists have no envelope).
pub(super) async fn list(
    State(state): State<AppState>,
    Auth(p): Auth,
    BoldQuery(q): BoldQuery<ListParams>,
) -> Result<Json<Vec<UserOut>>, BoldError> {
    let (offset, limit, direction) = paging(q.offset, q.size, q.sort_direction.as_deref())?;
    let sort = match q.sort_by.as_deref() {
        None | Some("id") => UserSort::Id,
        Some("firstName") => UserSort::FirstName,
        Some("lastName") => UserSort::LastName,
        Some("emailAddress") => UserSort::Email,
        Some("dateCreated") => UserSort::CreatedAt,
        Some(_) => return Err(BoldError::invalid("Invalid value: sortBy")),
    };
    let mut filter = UserFilter::All;
    if let Some(s) = q.search.filter(|s| !s.is_empty()) {
        filter = filter.and(UserFilter::Search(s));
    }
    if let Some(g) = q.user_group_id {
        filter = filter.and(UserFilter::InGroup(GroupId(g)));
    }
    if let Some(x) = q.external_id {
        filter = filter.and(UserFilter::Text {
            field: TextField::ExternalId,
            op: TextOp::Equals,
            value: x,
        });
    }
    let list = state
        .services
        .list_users(
            &p,
            UserListQuery {
                org: q.organization_id.map(OrgId),
                filter,
                sort,
                direction,
                then_by: Vec::new(),
                offset,
                limit,
                with_invitations: true,
                with_total: false,
            },
        )
        .await?;
    let public_url = &state.services.config().public_url;
    Ok(Json(
        list.users
            .into_iter()
            .map(|v| UserOut::new(v.user, v.invitation, public_url))
            .collect(),
    ))
}

pub(super) fn user_patch(
    body: UpdateUserBody,
    group: Option<GroupJoin>,
) -> Result<UserPatch, BoldError> {
    let mut v = Validator::new();
    let patch = UserPatch {
        first_name: patch_text(&mut v, Field::FirstName, body.first_name, NAME_MAX),
        last_name: patch_text(&mut v, Field::LastName, body.last_name, NAME_MAX),
        phone: patch_phone(&mut v, Field::Phone, body.phone_number),
        phone_verify: body.phone_number_verify,
        email: patch_email(&mut v, Field::Email, body.email_address),
        email_verify: body.email_address_verify,
        super_user: body.super_user,
        client_id: match body.client_id {
            crate::common::nullable::Nullable::Absent => usher_core::service::Patch::Keep,
            crate::common::nullable::Nullable::Null => usher_core::service::Patch::Clear,
            crate::common::nullable::Nullable::Value(c) => usher_core::service::Patch::Set(c),
        },
        external_id: patch_text(&mut v, Field::ExternalId, body.external_id, TEXT_MAX),
        description: patch_text(&mut v, Field::Description, body.description, LONG_MAX),
        remarks: patch_text(&mut v, Field::Remarks, body.remarks, LONG_MAX),
        auto_remove_after: patch_period(&mut v, Field::AutoRemoveAfter, body.auto_remove_after),
        auto_email_match: body.auto_email_match,
        require_email_match: body.require_email_match,
        auth_organization_id: patch_text(
            &mut v,
            Field::AuthOrganizationId,
            body.auth_organization_id,
            TEXT_MAX,
        ),
        email_match_credential_filter: body.email_match_credential_filter,
        group,
        ..UserPatch::default()
    };
    v.finish()?;
    Ok(patch)
}

/// `PUT /v2/users/{id}` → 200 with the id as a bare number (seed 001).
pub(super) async fn update(
    State(state): State<AppState>,
    Auth(p): Auth,
    BoldPath(id): BoldPath<i64>,
    BoldQuery(q): BoldQuery<GroupParams>,
    BoldJson(body): BoldJson<UpdateUserBody>,
) -> Result<Json<i64>, BoldError> {
    let patch = user_patch(body, group_join(q)?)?;
    let user = state.services.update_user(&p, UserId(id), patch).await?;
    Ok(Json(user.id.0))
}

/// `DELETE /v2/users/{id}` → 200 `{}`.
pub(super) async fn delete(
    State(state): State<AppState>,
    Auth(p): Auth,
    BoldPath(id): BoldPath<i64>,
) -> Result<Json<Empty>, BoldError> {
    state.services.delete_user(&p, UserId(id)).await?;
    Ok(Json(Empty {}))
}

/// Field names of the invitation route, whose body is the invitation itself.
fn invitation_field(f: &Field) -> String {
    match f {
        Field::InvitationLanguage => "language".to_owned(),
        Field::InvitationExpiration => "expiration".to_owned(),
        Field::InvitationSendEmail => "sendEmail".to_owned(),
        Field::InvitationSendSms => "sendSms".to_owned(),
        Field::InvitationEmail => "emailAddress".to_owned(),
        Field::InvitationPhone => "phoneNumber".to_owned(),
        other => field_name(other).to_owned(),
    }
}

/// The body of `PUT /v2/users/{id}/invitation` as the core input.
pub(super) fn invitation_update(body: UpdateInvitationBody) -> Result<InvitationUpdate, BoldError> {
    let mut v = Validator::new();
    let req = InvitationUpdate {
        language: opt_language(&mut v, Field::InvitationLanguage, body.language),
        expiration: opt_time(&mut v, Field::InvitationExpiration, body.expiration),
        email: opt_email(&mut v, Field::InvitationEmail, body.email_address),
        phone: opt_phone(&mut v, Field::InvitationPhone, body.phone_number),
        send_email: body.send_email.unwrap_or(false),
        send_sms: body.send_sms.unwrap_or(false),
    };
    v.finish()
        .map_err(|e| BoldError::from_core(e, invitation_field))?;
    Ok(req)
}

/// `PUT /v2/users/{id}/invitation` → 200 `{"id": n}` (seeds 000, 002).
pub(super) async fn update_invitation(
    State(state): State<AppState>,
    Auth(p): Auth,
    BoldPath(id): BoldPath<i64>,
    BoldJson(body): BoldJson<UpdateInvitationBody>,
) -> Result<Json<IdOut>, BoldError> {
    let req = invitation_update(body)?;
    state
        .services
        .update_invitation(&p, UserId(id), req)
        .await
        .map_err(|e| BoldError::from_core(e, invitation_field))?;
    Ok(Json(IdOut { id }))
}
