//! `/api/v1/users`, its item operations, `new-email`, `new-password` and `/api/v1/me`.

use axum::extract::{RawQuery, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value};
use url::form_urlencoded;
use usher_core::error::{Field, FieldError, Validator};
use usher_core::model::{ROLE_USER, User, UserState};
use usher_core::ports::{Direction, TextField, TextOp, UserFilter, UserSort};
use usher_core::rights::{self, ChangeScope};
use usher_core::service::{
    HumanUpdate, NewUser, PasswordInput, PasswordProof, Patch, UserListQuery, UserPatch,
};
use usher_core::types::{Email, UserId, limits};

use super::collection::{self, Collection, Paging};
use super::item::{self, Framing, ROLE_ADMIN_TENANT};
use super::{
    BodyKind, Format, Negotiated, OrgoAuth, OrgoError, OrgoPath, RawBody, path_id, read_body,
    respond,
};
use crate::AppState;

fn item_response(state: &AppState, format: Format, status: StatusCode, user: &User) -> Response {
    let now = state.services.clock().now();
    let framing = if format == Format::JsonLd {
        Framing::Item
    } else {
        Framing::Plain
    };
    let mut res = respond(format, status, &item::render(user, framing, now));
    let h = res.headers_mut();
    h.insert(
        header::HeaderName::from_static("accept-patch"),
        HeaderValue::from_static("application/merge-patch+json"),
    );
    if let Ok(v) = HeaderValue::from_str(&item::iri(user.id.0)) {
        h.insert(header::CONTENT_LOCATION, v);
    }
    res
}

fn pairs(query: Option<String>) -> Vec<(String, String)> {
    query
        .map(|q| form_urlencoded::parse(q.as_bytes()).into_owned().collect())
        .unwrap_or_default()
}

fn status_filter(value: &str) -> Result<UserFilter, OrgoError> {
    Ok(UserFilter::State(
        match value.to_ascii_lowercase().as_str() {
            "initial" => UserState::Initial,
            "active" => UserState::Active,
            "inactive" => UserState::Inactive,
            "locked" => UserState::Locked,
            _ => {
                return Err(OrgoError::bad_request(format!(
                    "Invalid status \"{value}\": one of initial, active, inactive, locked"
                )));
            }
        },
    ))
}

/// A query parameter as PHP reads it into `$_GET`: the last plain value, or an array whose
/// entries keep their keys (`name[]` appends at the next integer key, `name[k]` sets key `k`, in
/// place when it is there already).
enum PhpParam {
    Plain(String),
    Array(Vec<(PhpKey, String)>),
}

#[derive(PartialEq)]
enum PhpKey {
    Int(i64),
    Str(String),
}

impl PhpKey {
    /// PHP's array key of `k`: an integer when `k` is one written canonically (`0`, `12`, `-3`,
    /// not `01` or `+1`), else the string.
    fn of(k: &str) -> PhpKey {
        let digits = k.strip_prefix('-').unwrap_or(k);
        let canonical = !digits.is_empty()
            && digits.bytes().all(|b| b.is_ascii_digit())
            && (digits == "0" || !digits.starts_with('0'))
            && k != "-0";
        match k.parse() {
            Ok(n) if canonical => PhpKey::Int(n),
            _ => PhpKey::Str(k.to_owned()),
        }
    }
}

/// The query's parameters by name, in the order first given, with PHP's reading of repeats and
/// brackets (one level: `a[b][c]` is key `b][c`, which no filter uses).
fn php_params(pairs: &[(String, String)]) -> Vec<(String, PhpParam)> {
    let mut out: Vec<(String, PhpParam)> = Vec::new();
    for (k, v) in pairs {
        let (name, key) = match k.find('[') {
            Some(i) if i > 0 && k.ends_with(']') => (&k[..i], Some(&k[i + 1..k.len() - 1])),
            _ => (k.as_str(), None),
        };
        let at = match out.iter().position(|(n, _)| n == name) {
            Some(at) => at,
            None => {
                out.push((name.to_owned(), PhpParam::Array(Vec::new())));
                out.len() - 1
            }
        };
        let param = &mut out[at].1;
        let Some(key) = key else {
            *param = PhpParam::Plain(v.clone());
            continue;
        };
        if let PhpParam::Plain(_) = param {
            *param = PhpParam::Array(Vec::new());
        }
        let PhpParam::Array(entries) = param else {
            continue;
        };
        let key = if key.is_empty() {
            let next = entries
                .iter()
                .filter_map(|(k, _)| match k {
                    PhpKey::Int(n) => Some(n.saturating_add(1)),
                    PhpKey::Str(_) => None,
                })
                .max()
                .unwrap_or(0)
                .max(0);
            PhpKey::Int(next)
        } else {
            PhpKey::of(key)
        };
        match entries.iter_mut().find(|(k, _)| *k == key) {
            Some((_, old)) => old.clone_from(v),
            None => entries.push((key, v.clone())),
        }
    }
    out
}

/// The values a search filter takes from a parameter (API Platform's `normalizeValues`): a plain
/// value, or the entries of an array with integer keys.
fn filter_values(param: &PhpParam) -> Vec<&str> {
    match param {
        PhpParam::Plain(v) => vec![v.as_str()],
        PhpParam::Array(entries) => entries
            .iter()
            .filter(|(k, _)| matches!(k, PhpKey::Int(_)))
            .map(|(_, v)| v.as_str())
            .collect(),
    }
}

/// One of `filters`, or any of them.
fn any_of(mut filters: Vec<UserFilter>) -> UserFilter {
    if filters.len() == 1 {
        filters.remove(0)
    } else {
        UserFilter::Or(filters)
    }
}

/// The filter and sort keys of a users collection query, read as PHP and API Platform read them
/// ([`php_params`]):
/// - `email`, `firstName` and `lastName` match a part of the field, case-insensitively; the array
///   form (`email[]=a&email[]=b`, or `email[0]=…`) matches any of its values, and entries with
///   other keys are dropped (an array with none filters nothing).
/// - `roles` holds a role, or (as an array) any of several.
/// - `keyword` matches a part of the first name, last name or email (not the phone number).
/// - `status` is one state.
/// - `order[field]=asc|desc` sort in the order the fields were first given, each with its last
///   direction; an unknown field or direction is skipped.
///
/// A plain parameter given twice keeps its last value.
fn list_query(
    params: &[(String, String)],
) -> Result<(UserFilter, Vec<(UserSort, Direction)>), OrgoError> {
    let mut filter = UserFilter::All;
    let mut sorts = Vec::new();
    for (name, param) in php_params(params) {
        let text_field = match name.as_str() {
            "email" => Some(TextField::Email),
            "firstName" => Some(TextField::FirstName),
            "lastName" => Some(TextField::LastName),
            _ => None,
        };
        if let Some(field) = text_field {
            let values = filter_values(&param);
            if !values.is_empty() {
                filter = filter.and(any_of(values.iter().map(|v| contains(field, v)).collect()));
            }
            continue;
        }
        match (name.as_str(), &param) {
            ("roles", _) => {
                let values = filter_values(&param);
                if !values.is_empty() {
                    filter = filter.and(any_of(
                        values
                            .iter()
                            .map(|v| UserFilter::Role((*v).to_owned()))
                            .collect(),
                    ));
                }
            }
            ("keyword", PhpParam::Plain(v)) => {
                filter = filter
                    .and(UserFilter::Search(v.clone()))
                    .and(UserFilter::Or(
                        [TextField::FirstName, TextField::LastName, TextField::Email]
                            .into_iter()
                            .map(|field| contains(field, v))
                            .collect(),
                    ))
            }
            ("status", PhpParam::Plain(v)) => filter = filter.and(status_filter(v)?),
            ("order", PhpParam::Array(entries)) => {
                for (key, direction) in entries {
                    let PhpKey::Str(column) = key else { continue };
                    let column = match column.as_str() {
                        "firstName" => UserSort::FirstName,
                        "lastName" => UserSort::LastName,
                        "email" => UserSort::Email,
                        "id" => UserSort::Id,
                        _ => continue,
                    };
                    let direction = match direction.to_ascii_lowercase().as_str() {
                        "asc" => Direction::Asc,
                        "desc" => Direction::Desc,
                        _ => continue,
                    };
                    sorts.push((column, direction));
                }
            }
            _ => {}
        }
    }
    Ok((filter, sorts))
}

fn contains(field: TextField, value: &str) -> UserFilter {
    UserFilter::Text {
        field,
        op: TextOp::ContainsIgnoreCase,
        value: value.to_owned(),
    }
}

/// `GET /api/v1/users`: a Hydra collection of the organization's users.
pub(super) async fn list(
    State(state): State<AppState>,
    OrgoAuth(p): OrgoAuth,
    Negotiated(format): Negotiated,
    RawQuery(query): RawQuery,
) -> Result<Response, OrgoError> {
    let org = p.org();
    if !org.is_none_or(|o| p.is_admin_of(o)) {
        return Err(OrgoError::status(StatusCode::FORBIDDEN, "Access Denied."));
    }
    let pairs = pairs(query);
    let paging = Paging::from_query(&pairs)?;
    let (filter, sorts) = list_query(&paging.others)?;
    let mut sorts = sorts.into_iter();
    let (sort, direction) = sorts.next().unwrap_or((UserSort::Id, Direction::Asc));
    let list = state
        .services
        .list_users(
            &p,
            UserListQuery {
                org: None,
                filter,
                sort,
                direction,
                then_by: sorts.collect(),
                offset: paging.offset(),
                limit: paging.per_page,
                with_invitations: false,
                with_total: true,
            },
        )
        .await?;
    let now = state.services.clock().now();
    let total = list.total.unwrap_or(0);
    Ok(match format {
        Format::Json => {
            let items: Vec<_> = list
                .users
                .iter()
                .map(|v| item::render(&v.user, Framing::Plain, now))
                .collect();
            respond(format, StatusCode::OK, &items)
        }
        Format::JsonLd => respond(
            format,
            StatusCode::OK,
            &Collection {
                context: "/api/contexts/User",
                id: "/api/v1/users",
                kind: "hydra:Collection",
                total,
                member: list
                    .users
                    .iter()
                    .map(|v| item::render(&v.user, Framing::Member, now))
                    .collect(),
                view: collection::view("/api/v1/users", &paging, total),
                search: Some(collection::users_search()),
            },
        ),
    })
}

/// The writable members of a User body, checked all at once.
pub(super) struct UserInput {
    first_name: Option<Option<String>>,
    last_name: Option<Option<String>>,
    email: Option<Option<Email>>,
    phone: Option<Option<usher_core::types::Phone>>,
    roles: Option<Vec<String>>,
    attributes: Map<String, Value>,
}

/// The members of a create (`creating`: email required) or merge-patch body. A user always has
/// an email (Orgo's `NotBlank`), so `"email": null` is refused like `""`, not a deletion.
pub(super) fn user_input(
    body: &Map<String, Value>,
    creating: bool,
) -> Result<UserInput, OrgoError> {
    let mut v = Validator::new();
    let first_name = item::nullable_text(&mut v, body, "firstName", limits::SHORT_TEXT);
    let last_name = item::nullable_text(&mut v, body, "lastName", limits::SHORT_TEXT);
    let email = match item::email_member(&mut v, body, "email") {
        Some(None) => {
            v.push(FieldError::new(
                Field::Wire("email".into()),
                "required",
                "blank",
            ));
            None
        }
        None if creating && !body.contains_key("email") => {
            v.push(FieldError::new(
                Field::Wire("email".into()),
                "required",
                "blank",
            ));
            None
        }
        e => e,
    };
    let input = UserInput {
        first_name,
        last_name,
        email,
        phone: item::phone_member(&mut v, body, "phoneNumber"),
        roles: item::roles_member(&mut v, body),
        attributes: item::attribute_patch(&mut v, body),
    };
    v.finish()?;
    Ok(input)
}

fn patch_of<T>(v: Option<Option<T>>) -> Patch<T> {
    match v {
        None => Patch::Keep,
        Some(None) => Patch::Clear,
        Some(Some(x)) => Patch::Set(x),
    }
}

/// Stored roles and the super-user flag from Orgo roles (`ROLE_ADMIN_TENANT` = organization admin).
fn split_roles(roles: Vec<String>) -> (Vec<String>, bool) {
    let admin = roles.iter().any(|r| r == ROLE_ADMIN_TENANT);
    let mut stored: Vec<String> = roles
        .into_iter()
        .filter(|r| r != ROLE_ADMIN_TENANT)
        .collect();
    if !stored.iter().any(|r| r == ROLE_USER) {
        stored.insert(0, ROLE_USER.to_owned());
    }
    (stored, admin)
}

/// `POST /api/v1/users` (organization admins): 201 with `Location` and `Content-Location`.
pub(super) async fn create(
    State(state): State<AppState>,
    OrgoAuth(p): OrgoAuth,
    Negotiated(format): Negotiated,
    RawBody(headers, bytes): RawBody,
) -> Result<Response, OrgoError> {
    let body = read_body(BodyKind::Create, &headers, &bytes).await?;
    let input = user_input(&body, true)?;
    if p.org().is_none() && p.read_only {
        return Err(OrgoError::status(StatusCode::FORBIDDEN, "Access Denied."));
    }
    if p.org().is_none() {
        // Orgo's body names no organization: the caller's is the user's (decision, docs/orgo.md).
        return Err(OrgoError::bad_request(
            "An instance-admin credential has no organization to create the user in: use an \
             organization admin's credential, or Bold or Zitadel, which name the organization.",
        ));
    }
    let Some(Some(email)) = input.email else {
        // user_input has refused a create body without an email already.
        return Err(OrgoError::one(
            "email",
            "This value should not be blank.",
            super::error::codes::NOT_BLANK,
        ));
    };
    let (roles, super_user) = match input.roles {
        Some(r) => {
            let (r, su) = split_roles(r);
            (Some(r), su)
        }
        None => (None, false),
    };
    let mut attributes = Map::new();
    let mut orgo = Map::new();
    for (k, v) in input.attributes {
        if !v.is_null() {
            orgo.insert(k, v);
        }
    }
    if !orgo.is_empty() {
        attributes.insert(item::ATTRIBUTES.to_owned(), Value::Object(orgo));
    }
    let created = state
        .services
        .create_user(
            &p,
            NewUser {
                first_name: input.first_name.flatten(),
                last_name: input.last_name.flatten(),
                email: Some(email),
                phone: input.phone.flatten(),
                super_user,
                roles,
                attributes,
                ..NewUser::default()
            },
        )
        .await?;
    let mut res = item_response(&state, format, StatusCode::CREATED, &created.user);
    if let Ok(v) = HeaderValue::from_str(&item::iri(created.user.id.0)) {
        res.headers_mut().insert(header::LOCATION, v);
    }
    Ok(res)
}

/// `GET /api/v1/users/{id}` (the user itself, or an admin).
pub(super) async fn get_one(
    State(state): State<AppState>,
    OrgoAuth(p): OrgoAuth,
    Negotiated(format): Negotiated,
    OrgoPath(id): OrgoPath<String>,
) -> Result<Response, OrgoError> {
    let id = path_id(&id)?;
    let (user, rel) = state.services.visible_user(&p, UserId(id)).await?;
    if !(rel.admin || rel.itself || rel.group_admin) {
        return Err(OrgoError::not_found());
    }
    Ok(item_response(&state, format, StatusCode::OK, &user))
}

/// `GET /api/v1/me`.
pub(super) async fn me(
    State(state): State<AppState>,
    OrgoAuth(p): OrgoAuth,
    Negotiated(format): Negotiated,
) -> Result<Response, OrgoError> {
    let Some(me) = p.user() else {
        return Err(OrgoError::not_found());
    };
    let view = state.services.get_user(&p, me).await?;
    Ok(item_response(&state, format, StatusCode::OK, &view.user))
}

/// `PATCH /api/v1/users/{id}` (organization admins), RFC 7396 merge patch.
pub(super) async fn patch(
    State(state): State<AppState>,
    OrgoAuth(p): OrgoAuth,
    Negotiated(format): Negotiated,
    OrgoPath(id): OrgoPath<String>,
    RawBody(headers, bytes): RawBody,
) -> Result<Response, OrgoError> {
    let id = UserId(path_id(&id)?);
    let (user, rel) = state.services.visible_user(&p, id).await?;
    if !rel.admin {
        return Err(OrgoError::status(StatusCode::FORBIDDEN, "Access Denied."));
    }
    let body = read_body(BodyKind::MergePatch, &headers, &bytes).await?;
    let input = user_input(&body, false)?;
    let (roles, super_user) = match input.roles {
        Some(r) => {
            let (r, su) = split_roles(r);
            (Some(r), Some(su))
        }
        None => (None, None),
    };
    let attributes = (!input.attributes.is_empty()).then(|| {
        let mut m = Map::new();
        m.insert(item::ATTRIBUTES.to_owned(), Value::Object(input.attributes));
        m
    });
    let email_changes = matches!(&input.email, Some(Some(e)) if user.email.as_ref() != Some(e));
    let updated = state
        .services
        .update_user(
            &p,
            id,
            UserPatch {
                first_name: patch_of(input.first_name),
                last_name: patch_of(input.last_name),
                email: patch_of(input.email),
                // An admin's email change is immediate; the new address gets a verification.
                email_verify: email_changes.then_some(true),
                phone: patch_of(input.phone),
                super_user,
                roles,
                attributes,
                ..UserPatch::default()
            },
        )
        .await?;
    Ok(item_response(&state, format, StatusCode::OK, &updated))
}

/// `DELETE /api/v1/users/{id}` → 204.
pub(super) async fn delete(
    State(state): State<AppState>,
    OrgoAuth(p): OrgoAuth,
    OrgoPath(id): OrgoPath<String>,
) -> Result<Response, OrgoError> {
    let id = path_id(&id)?;
    state.services.delete_user(&p, UserId(id)).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// `PATCH /api/v1/users/{id}/new-email` (seed 004): `{"newEmailRequested": "…"}` (or `email`,
/// `newEmail`); an admin's change is immediate, a user's own waits for the confirmation mailed to
/// its current address; `null` cancels a pending change.
pub(super) async fn new_email(
    State(state): State<AppState>,
    OrgoAuth(p): OrgoAuth,
    Negotiated(format): Negotiated,
    OrgoPath(id): OrgoPath<String>,
    RawBody(headers, bytes): RawBody,
) -> Result<Response, OrgoError> {
    let id = UserId(path_id(&id)?);
    state.services.visible_user(&p, id).await?;
    let body = read_body(BodyKind::MergePatch, &headers, &bytes).await?;
    let key = ["newEmailRequested", "email", "newEmail"]
        .into_iter()
        .find(|k| body.contains_key(*k));
    let Some(key) = key else {
        return Err(OrgoError::one(
            "newEmailRequested",
            "This value should not be blank.",
            super::error::codes::NOT_BLANK,
        ));
    };
    let mut v = Validator::new();
    let value = item::email_member(&mut v, &body, key);
    if !v.is_ok() {
        v.finish().map_err(|e| match e {
            usher_core::Error::Invalid(mut fields) => {
                for f in &mut fields {
                    f.field = Field::Wire("newEmailRequested".into());
                }
                OrgoError::from(usher_core::Error::Invalid(fields))
            }
            other => other.into(),
        })?;
    }
    let user = match value.flatten() {
        None => state.services.cancel_email_change(&p, id).await?,
        Some(email) => state
            .services
            .request_email_change(&p, id, email)
            .await
            .map_err(|e| match e {
                usher_core::Error::AlreadyExists { .. } => OrgoError::one(
                    "newEmailRequested",
                    "This value is already used.",
                    super::error::codes::NOT_UNIQUE,
                ),
                other => other.into(),
            })?,
    };
    Ok(item_response(&state, format, StatusCode::OK, &user))
}

/// `POST /api/v1/users/{id}/new-email/confirm` `{"token"}` (**decision**): confirms the change.
/// The token proves the mailbox, not the caller: the caller must also be one who may change the
/// user's email (the user itself, its admins); a user it cannot see is 404, a read-only credential
/// 403, as on every other write.
pub(super) async fn confirm_new_email(
    State(state): State<AppState>,
    OrgoAuth(p): OrgoAuth,
    Negotiated(format): Negotiated,
    OrgoPath(id): OrgoPath<String>,
    RawBody(headers, bytes): RawBody,
) -> Result<Response, OrgoError> {
    let id = path_id(&id)?;
    let (_, rel) = state.services.visible_user(&p, UserId(id)).await?;
    rights::may_update(
        &p,
        rel,
        ChangeScope {
            email: true,
            ..ChangeScope::default()
        },
    )?;
    let body = read_body(BodyKind::Create, &headers, &bytes).await?;
    let Some(token) = body
        .get("token")
        .and_then(Value::as_str)
        .filter(|t| !t.is_empty())
    else {
        return Err(OrgoError::one(
            "token",
            "This value should not be blank.",
            super::error::codes::NOT_BLANK,
        ));
    };
    let user = state
        .services
        .confirm_email_change(token, Some(UserId(id)))
        .await?;
    Ok(item_response(&state, format, StatusCode::OK, &user))
}

/// `PATCH /api/v1/users/{id}/new-password` `{"newPassword", "currentPassword"}`:
/// `currentPassword` is required for the caller's own password (also an admin's), not when an
/// admin sets someone else's.
pub(super) async fn new_password(
    State(state): State<AppState>,
    OrgoAuth(p): OrgoAuth,
    Negotiated(format): Negotiated,
    OrgoPath(id): OrgoPath<String>,
    RawBody(headers, bytes): RawBody,
) -> Result<Response, OrgoError> {
    let id = UserId(path_id(&id)?);
    let (_, rel) = state.services.visible_user(&p, id).await?;
    let body = read_body(BodyKind::MergePatch, &headers, &bytes).await?;
    let mut v = Validator::new();
    let new = match body.get("newPassword") {
        Some(Value::String(s)) if !s.is_empty() => Some(s.clone()),
        Some(Value::String(_)) | Some(Value::Null) | None => {
            v.push(FieldError::new(
                Field::Wire("newPassword".into()),
                "required",
                "blank",
            ));
            None
        }
        Some(_) => {
            v.push(FieldError::new(
                Field::Wire("newPassword".into()),
                "invalid_type",
                "This value should be of type string.",
            ));
            None
        }
    };
    let current = match body.get("currentPassword") {
        Some(Value::String(s)) if !s.is_empty() => Some(s.clone()),
        Some(Value::String(_)) | Some(Value::Null) | None => None,
        Some(_) => {
            v.push(FieldError::new(
                Field::Wire("currentPassword".into()),
                "invalid_type",
                "This value should be of type string.",
            ));
            None
        }
    };
    // Changing one's own password takes the current one, admin or not: a session token alone
    // must not be enough to take over the account.
    if rel.itself && current.is_none() {
        v.push(FieldError::new(
            Field::Wire("currentPassword".into()),
            "required",
            "blank",
        ));
    }
    v.finish()?;
    let Some(new) = new else {
        return Err(OrgoError::bad_request("newPassword is required"));
    };
    let updated = state
        .services
        .update_human(
            &p,
            id,
            HumanUpdate {
                password: Some((
                    PasswordInput::Plain {
                        password: new,
                        change_required: false,
                    },
                    current.map(PasswordProof::Current),
                )),
                ..HumanUpdate::default()
            },
        )
        .await
        .map_err(|e| match e {
            usher_core::Error::Invalid(mut fields) => {
                for f in &mut fields {
                    if f.code == "wrong_password" {
                        f.field = Field::Wire("currentPassword".into());
                    } else if f.field == Field::Password {
                        f.field = Field::Wire("newPassword".into());
                    }
                }
                OrgoError::from(usher_core::Error::Invalid(fields))
            }
            usher_core::Error::FailedPrecondition { message, .. } => {
                OrgoError::one("newPassword", message, super::error::codes::INVALID_TYPE)
            }
            other => other.into(),
        })?;
    Ok(item_response(&state, format, StatusCode::OK, &updated.user))
}
