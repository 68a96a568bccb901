//! Bold wire shapes (apidoc.boldsmartlock.com: `POST_v2_users`, `PUT_v2_users_x`,
//! `PUT_v2_users_x_invitation`, `GET_v1_user-groups`) and their translation into core inputs.

use serde::{Deserialize, Serialize};
use usher_core::error::{Field, Validator};
use usher_core::model::{Invitation, Organization, User, UserGroup};
use usher_core::service::Patch;
use usher_core::types::{
    self, Email, Language, ParseError, Phone, RemovalPeriod, Timestamp, limits,
};
use utoipa::{IntoParams, ToSchema};

use crate::common::nullable::Nullable;

// ---------- values ----------

/// An optional value parsed from text; empty text means none.
fn opt_parsed<T>(
    v: &mut Validator,
    field: Field,
    value: Option<String>,
    parse: impl FnOnce(&str) -> Result<T, ParseError>,
) -> Option<T> {
    let value = value.filter(|s| !s.is_empty())?;
    v.check(field, parse(&value))
}

/// A partial update parsed from text: `null` or `""` clears it, absent keeps it.
fn patch_parsed<T>(
    v: &mut Validator,
    field: Field,
    value: Nullable<String>,
    parse: impl FnOnce(&str) -> Result<T, ParseError>,
) -> Patch<T> {
    match value {
        Nullable::Absent => Patch::Keep,
        Nullable::Null => Patch::Clear,
        Nullable::Value(s) if s.is_empty() => Patch::Clear,
        Nullable::Value(s) => v.check(field, parse(&s)).map_or(Patch::Keep, Patch::Set),
    }
}

pub fn opt_text(
    v: &mut Validator,
    field: Field,
    value: Option<String>,
    max: usize,
) -> Option<String> {
    opt_parsed(v, field, value, |s| types::text(s, max))
}

pub fn patch_text(
    v: &mut Validator,
    field: Field,
    value: Nullable<String>,
    max: usize,
) -> Patch<String> {
    patch_parsed(v, field, value, |s| types::text(s, max))
}

pub fn opt_email(v: &mut Validator, field: Field, value: Option<String>) -> Option<Email> {
    opt_parsed(v, field, value, Email::parse)
}

pub fn patch_email(v: &mut Validator, field: Field, value: Nullable<String>) -> Patch<Email> {
    patch_parsed(v, field, value, Email::parse)
}

pub fn opt_phone(v: &mut Validator, field: Field, value: Option<String>) -> Option<Phone> {
    opt_parsed(v, field, value, Phone::parse_e164)
}

pub fn patch_phone(v: &mut Validator, field: Field, value: Nullable<String>) -> Patch<Phone> {
    patch_parsed(v, field, value, Phone::parse_e164)
}

pub fn opt_language(v: &mut Validator, field: Field, value: Option<String>) -> Option<Language> {
    v.check(field, Language::parse(&value?))
}

pub fn opt_time(v: &mut Validator, field: Field, value: Option<String>) -> Option<Timestamp> {
    v.check(field, Timestamp::parse(&value?))
}

pub fn opt_period(v: &mut Validator, field: Field, value: Option<String>) -> Option<RemovalPeriod> {
    v.check(field, RemovalPeriod::parse(&value?))
}

/// `autoRemoveAfter`: `null` clears it (an empty string is not a period).
pub fn patch_period(
    v: &mut Validator,
    field: Field,
    value: Nullable<String>,
) -> Patch<RemovalPeriod> {
    match value {
        Nullable::Absent => Patch::Keep,
        Nullable::Null => Patch::Clear,
        Nullable::Value(s) => v
            .check(field, RemovalPeriod::parse(&s))
            .map_or(Patch::Keep, Patch::Set),
    }
}

pub const NAME_MAX: usize = limits::NAME;
pub const TEXT_MAX: usize = limits::SHORT_TEXT;
pub const LONG_MAX: usize = limits::LONG_TEXT;

// ---------- requests ----------

/// `?groupAdmin=&userGroupId=` on create and update.
#[derive(Debug, Deserialize, Default, IntoParams)]
#[serde(rename_all = "camelCase")]
#[into_params(parameter_in = Query)]
pub struct GroupParams {
    /// Make the user an admin of `userGroupId` (requires `userGroupId`).
    pub group_admin: Option<bool>,
    /// A user group of the organization the user joins.
    pub user_group_id: Option<i64>,
}

/// `POST /v2/users` body.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CreateUserBody {
    pub organization_id: Option<i64>,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub phone_number: Option<String>,
    pub phone_number_verify: Option<bool>,
    pub email_address: Option<String>,
    pub email_address_verify: Option<bool>,
    pub description: Option<String>,
    pub remarks: Option<String>,
    pub super_user: Option<bool>,
    pub external_id: Option<String>,
    pub client_id: Option<i64>,
    pub invitation: Option<InvitationBody>,
    pub auto_remove_after: Option<String>,
    pub auto_email_match: Option<bool>,
    pub require_email_match: Option<bool>,
    pub auth_organization_id: Option<String>,
    pub email_match_credential_filter: Option<bool>,
}

/// The `invitation` object of `POST /v2/users`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct InvitationBody {
    pub language: Option<String>,
    pub expiration: Option<String>,
    pub send_email: Option<bool>,
    pub send_sms: Option<bool>,
}

/// `PUT /v2/users/{id}` body (seed 001): every field optional; `null` clears.
#[derive(Debug, Deserialize, Default, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct UpdateUserBody {
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    pub first_name: Nullable<String>,
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    pub last_name: Nullable<String>,
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    pub phone_number: Nullable<String>,
    pub phone_number_verify: Option<bool>,
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    pub email_address: Nullable<String>,
    pub email_address_verify: Option<bool>,
    pub super_user: Option<bool>,
    #[serde(default)]
    #[schema(value_type = Option<i64>)]
    pub client_id: Nullable<i64>,
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    pub external_id: Nullable<String>,
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    pub description: Nullable<String>,
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    pub remarks: Nullable<String>,
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    pub auto_remove_after: Nullable<String>,
    pub auto_email_match: Option<bool>,
    pub require_email_match: Option<bool>,
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    pub auth_organization_id: Nullable<String>,
    pub email_match_credential_filter: Option<bool>,
}

/// `PUT /v2/users/{id}/invitation` body (seeds 000, 002).
#[derive(Debug, Deserialize, Default, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct UpdateInvitationBody {
    pub language: Option<String>,
    pub expiration: Option<String>,
    pub email_address: Option<String>,
    pub send_email: Option<bool>,
    pub phone_number: Option<String>,
    pub send_sms: Option<bool>,
}

// ---------- responses ----------

/// The invitation inside a user object.
#[derive(Debug, Serialize, ToSchema)]
pub struct InvitationOut {
    pub token: String,
    pub url: String,
    pub expiration: String,
    pub language: &'static str,
}

/// A user, as Bold shows one inside a group or a share; absent values are `null`.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct UserOut {
    pub id: i64,
    pub organization_id: i64,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub email_address: Option<String>,
    pub email_address_verify: bool,
    pub email_address_verified: bool,
    pub phone_number: Option<String>,
    pub phone_number_verify: bool,
    pub phone_number_verified: bool,
    pub super_user: bool,
    pub description: Option<String>,
    pub remarks: Option<String>,
    pub external_id: Option<String>,
    pub client_id: Option<i64>,
    pub auto_remove_after: Option<&'static str>,
    pub auto_remove_date: Option<String>,
    pub auto_email_match: bool,
    pub require_email_match: bool,
    pub auth_organization_id: Option<String>,
    pub email_match_credential_filter: bool,
    pub registered: bool,
    pub date_created: String,
    pub date_modified: String,
    pub invitation: Option<InvitationOut>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub group_admin: Option<bool>,
}

impl UserOut {
    pub fn new(u: User, invitation: Option<Invitation>, public_url: &str) -> Self {
        let registered = u.registered();
        UserOut {
            id: u.id.0,
            organization_id: u.org_id.0,
            first_name: u.first_name,
            last_name: u.last_name,
            email_address: u.email.map(|e| e.as_str().to_owned()),
            email_address_verify: u.email_verify_requested,
            email_address_verified: u.email_verified,
            phone_number: u.phone.map(|p| p.as_str().to_owned()),
            phone_number_verify: u.phone_verify_requested,
            phone_number_verified: u.phone_verified,
            super_user: u.super_user,
            description: u.description,
            remarks: u.remarks,
            external_id: u.external_id,
            client_id: u.client_id,
            auto_remove_after: u.auto_remove_after.map(|p| p.as_str()),
            auto_remove_date: u.auto_remove_date.map(|t| t.rfc3339()),
            auto_email_match: u.auto_email_match,
            require_email_match: u.require_email_match,
            auth_organization_id: u.auth_organization_id,
            email_match_credential_filter: u.email_match_credential_filter,
            registered,
            date_created: u.created_at.rfc3339(),
            date_modified: u.modified_at.rfc3339(),
            invitation: invitation
                .filter(|i| i.accepted_at.is_none())
                .map(|i| InvitationOut {
                    url: i.url(public_url),
                    token: i.token,
                    expiration: i.expires_at.rfc3339(),
                    language: i.language.as_str(),
                }),
            group_admin: None,
        }
    }
}

/// `{"url", "expiration"}` in the create answer.
#[derive(Debug, Serialize, ToSchema)]
pub struct CreatedInvitation {
    pub url: String,
    pub expiration: String,
}

/// `POST /v2/users` answer: `token` sits beside `invitation`, both only when one was made.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CreatedUser {
    pub user_id: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub invitation: Option<CreatedInvitation>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
}

/// `{"value": "..."}`: a group's external id is an object in Bold.
#[derive(Debug, Serialize, Deserialize, Clone, PartialEq, ToSchema)]
pub struct ExternalIdValue {
    pub value: Option<String>,
}

/// A group's external id as sent: the documented object, or a plain string some clients send.
#[derive(Debug, Deserialize, Clone, PartialEq, ToSchema)]
#[serde(untagged)]
pub enum ExternalIdIn {
    Object(ExternalIdValue),
    Text(String),
}

impl ExternalIdIn {
    pub fn into_value(self) -> Option<String> {
        match self {
            ExternalIdIn::Object(o) => o.value,
            ExternalIdIn::Text(s) => Some(s),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct GroupOut {
    pub id: i64,
    pub organization_id: i64,
    pub name: String,
    pub description: Option<String>,
    pub remarks: Option<String>,
    pub date_created: String,
    pub date_modified: String,
    pub external_id: Option<ExternalIdValue>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub users: Option<Vec<UserOut>>,
}

impl GroupOut {
    pub fn new(g: UserGroup, users: Option<Vec<UserOut>>) -> Self {
        GroupOut {
            id: g.id.0,
            organization_id: g.org_id.0,
            name: g.name,
            description: g.description,
            remarks: g.remarks,
            date_created: g.created_at.rfc3339(),
            date_modified: g.modified_at.rfc3339(),
            external_id: g.external_id.map(|v| ExternalIdValue { value: Some(v) }),
            users,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct OrganizationOut {
    pub id: i64,
    pub name: String,
    pub date_created: String,
    pub date_modified: String,
}

impl From<Organization> for OrganizationOut {
    fn from(o: Organization) -> Self {
        OrganizationOut {
            id: o.id.0,
            name: o.name,
            date_created: o.created_at.rfc3339(),
            date_modified: o.modified_at.rfc3339(),
        }
    }
}

/// `{"id": n}`.
#[derive(Debug, Serialize, ToSchema)]
pub struct IdOut {
    pub id: i64,
}

/// `{}`.
#[derive(Debug, Serialize, ToSchema)]
pub struct Empty {}
