//! The calls of `zitadel.user.v2.UserService` usher serves, each from its owned request message
//! to its owned response message. The Connect/gRPC/gRPC-Web handlers and the REST gateway both
//! call these, so every protocol behaves the same.

use axum::http::HeaderMap;
use usher_core::error::{FieldError, Validator};
use usher_core::model::{Channel, CodePurpose, UserState};
use usher_core::ports::{Direction, TextField, TextOp, UserFilter, UserSort};
use usher_core::principal::Principal;
use usher_core::service::{
    CodeDelivery, ContactVerification, EmailInput, HumanUpdate, InviteDelivery, NewHuman,
    PasswordProof, PhoneInput, ResetMedium, StateChange, UserListQuery,
};
use usher_core::types::{OrgId, UserId};
use usher_zitadel_proto::buffa::EnumValue;
use usher_zitadel_proto::connectrpc::ErrorCode;
use usher_zitadel_proto::zitadel::object::v2 as obj;
use usher_zitadel_proto::zitadel::user::v2 as z;
use usher_zitadel_proto::zitadel::user::v2::__buffa::oneof as oneofs;

use super::convert::{self, wire};
use super::error::ZError;
use crate::AppState;

type R<T> = Result<T, ZError>;

/// Deepest nesting of and/or/not queries accepted.
const MAX_QUERY_DEPTH: usize = 16;
/// Most queries one ListUsers takes, counting every `SearchQuery` (and/or/not too). Each is a
/// condition the database evaluates with a parameter or a few, and a statement takes at most
/// 32,766 parameters on SQLite; a 1 MiB request could hold 50,000 queries. (decision)
const MAX_QUERIES: usize = 1000;
/// Default and largest page of ListUsers.
const DEFAULT_LIMIT: u64 = 100;
const MAX_LIMIT: u64 = 1000;

fn finish(v: Validator) -> R<()> {
    v.finish().map_err(ZError::from)
}

fn org_header(headers: &HeaderMap) -> Option<&str> {
    headers
        .get("x-zitadel-orgid")
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|s| !s.is_empty())
}

fn text_op(m: EnumValue<obj::TextQueryMethod>) -> R<TextOp> {
    Ok(match m.as_known() {
        Some(obj::TextQueryMethod::TEXT_QUERY_METHOD_EQUALS) => TextOp::Equals,
        Some(obj::TextQueryMethod::TEXT_QUERY_METHOD_EQUALS_IGNORE_CASE) => {
            TextOp::EqualsIgnoreCase
        }
        Some(obj::TextQueryMethod::TEXT_QUERY_METHOD_STARTS_WITH) => TextOp::StartsWith,
        Some(obj::TextQueryMethod::TEXT_QUERY_METHOD_STARTS_WITH_IGNORE_CASE) => {
            TextOp::StartsWithIgnoreCase
        }
        Some(obj::TextQueryMethod::TEXT_QUERY_METHOD_CONTAINS) => TextOp::Contains,
        Some(obj::TextQueryMethod::TEXT_QUERY_METHOD_CONTAINS_IGNORE_CASE) => {
            TextOp::ContainsIgnoreCase
        }
        Some(obj::TextQueryMethod::TEXT_QUERY_METHOD_ENDS_WITH) => TextOp::EndsWith,
        Some(obj::TextQueryMethod::TEXT_QUERY_METHOD_ENDS_WITH_IGNORE_CASE) => {
            TextOp::EndsWithIgnoreCase
        }
        None => {
            return Err(ZError::invalid(
                "queries.method",
                "unknown text query method",
            ));
        }
    })
}

fn text(field: TextField, value: &str, method: EnumValue<obj::TextQueryMethod>) -> R<UserFilter> {
    if value.chars().count() > 200 {
        return Err(ZError::invalid(
            "queries",
            "a query value has at most 200 characters",
        ));
    }
    Ok(UserFilter::Text {
        field,
        op: text_op(method)?,
        value: value.to_owned(),
    })
}

/// How many `SearchQuery` messages made `f`.
fn queries_in(f: &UserFilter) -> usize {
    match f {
        UserFilter::And(parts) | UserFilter::Or(parts) => {
            1 + parts.iter().map(queries_in).sum::<usize>()
        }
        UserFilter::Not(inner) => 1 + queries_in(inner),
        _ => 1,
    }
}

/// A `SearchQuery` tree to the store's filter tree.
pub(super) fn search_query(q: &z::SearchQuery, depth: usize) -> R<UserFilter> {
    use oneofs::search_query::Query;
    if depth > MAX_QUERY_DEPTH {
        return Err(ZError::invalid(
            "queries",
            format!("queries nest at most {MAX_QUERY_DEPTH} deep"),
        ));
    }
    let Some(query) = &q.query else {
        return Err(ZError::invalid("queries", "an empty query"));
    };
    let many = |qs: &[z::SearchQuery]| -> R<Vec<UserFilter>> {
        qs.iter().map(|q| search_query(q, depth + 1)).collect()
    };
    Ok(match query {
        Query::UserNameQuery(q) => text(TextField::Username, &q.user_name, q.method)?,
        Query::LoginNameQuery(q) => text(TextField::Username, &q.login_name, q.method)?,
        Query::FirstNameQuery(q) => text(TextField::FirstName, &q.first_name, q.method)?,
        Query::LastNameQuery(q) => text(TextField::LastName, &q.last_name, q.method)?,
        Query::NickNameQuery(q) => text(TextField::NickName, &q.nick_name, q.method)?,
        Query::DisplayNameQuery(q) => text(TextField::DisplayName, &q.display_name, q.method)?,
        Query::EmailQuery(q) => text(TextField::Email, &q.email_address, q.method)?,
        Query::PhoneQuery(q) => text(TextField::Phone, &q.number, q.method)?,
        Query::StateQuery(q) => match q.state.as_known() {
            Some(z::UserState::USER_STATE_ACTIVE) => UserFilter::State(UserState::Active),
            Some(z::UserState::USER_STATE_INACTIVE) => UserFilter::State(UserState::Inactive),
            Some(z::UserState::USER_STATE_LOCKED) => UserFilter::State(UserState::Locked),
            Some(z::UserState::USER_STATE_INITIAL) => UserFilter::State(UserState::Initial),
            // Deleted users are gone; unspecified matches none, as a state no user has.
            Some(z::UserState::USER_STATE_DELETED | z::UserState::USER_STATE_UNSPECIFIED) => {
                UserFilter::None
            }
            None => {
                return Err(ZError::invalid(
                    "queries.stateQuery.state",
                    "unknown user state",
                ));
            }
        },
        Query::TypeQuery(q) => match q.r#type.as_known() {
            // Every usher user is a human.
            Some(z::Type::TYPE_HUMAN) => UserFilter::All,
            Some(z::Type::TYPE_MACHINE | z::Type::TYPE_UNSPECIFIED) => UserFilter::None,
            None => {
                return Err(ZError::invalid(
                    "queries.typeQuery.type",
                    "unknown user type",
                ));
            }
        },
        Query::InUserIdsQuery(q) => UserFilter::Ids(
            q.user_ids
                .iter()
                .filter_map(|id| id.parse::<i64>().ok())
                .map(UserId)
                .collect(),
        ),
        Query::InUserEmailsQuery(q) => UserFilter::Emails(q.user_emails.clone()),
        Query::OrganizationIdQuery(q) => match q.organization_id.parse::<i64>() {
            Ok(org) => UserFilter::Org(OrgId(org)),
            Err(_) => UserFilter::None,
        },
        Query::OrQuery(q) => UserFilter::Or(many(&q.queries)?),
        Query::AndQuery(q) => UserFilter::And(many(&q.queries)?),
        Query::NotQuery(q) => match q.query.as_option() {
            Some(inner) => UserFilter::Not(Box::new(search_query(inner, depth + 1)?)),
            None => {
                return Err(ZError::invalid(
                    "queries.notQuery.query",
                    "a query is required",
                ));
            }
        },
    })
}

pub(super) fn sort(column: EnumValue<z::UserFieldName>) -> R<UserSort> {
    Ok(match column.as_known() {
        Some(
            z::UserFieldName::USER_FIELD_NAME_UNSPECIFIED | z::UserFieldName::USER_FIELD_NAME_TYPE,
        ) => UserSort::Id,
        Some(z::UserFieldName::USER_FIELD_NAME_USER_NAME) => UserSort::Username,
        Some(z::UserFieldName::USER_FIELD_NAME_FIRST_NAME) => UserSort::FirstName,
        Some(z::UserFieldName::USER_FIELD_NAME_LAST_NAME) => UserSort::LastName,
        Some(z::UserFieldName::USER_FIELD_NAME_NICK_NAME) => UserSort::NickName,
        Some(z::UserFieldName::USER_FIELD_NAME_DISPLAY_NAME) => UserSort::DisplayName,
        Some(z::UserFieldName::USER_FIELD_NAME_EMAIL) => UserSort::Email,
        Some(z::UserFieldName::USER_FIELD_NAME_STATE) => UserSort::State,
        Some(z::UserFieldName::USER_FIELD_NAME_CREATION_DATE) => UserSort::CreatedAt,
        None => return Err(ZError::invalid("sortingColumn", "unknown user field")),
    })
}

/// The `email` part of AddHumanUser / UpdateHumanUser.
pub(super) fn email_input(v: &mut Validator, e: &z::SetHumanEmail) -> Option<EmailInput> {
    use oneofs::set_human_email::Verification as V;
    let email = convert::email(v, "email.email", &e.email);
    let verification = match &e.verification {
        Some(V::SendCode(s)) => {
            convert::email_verification(v, "email.", Some(s.url_template.as_deref()), false, None)
        }
        Some(V::ReturnCode(_)) => convert::email_verification(v, "email.", None, true, None),
        Some(V::IsVerified(b)) => convert::email_verification(v, "email.", None, false, Some(*b)),
        None => ContactVerification::default(),
    };
    Some(EmailInput {
        email: email?,
        verification,
    })
}

/// The `phone` part of AddHumanUser / UpdateHumanUser.
pub(super) fn phone_input(v: &mut Validator, p: &z::SetHumanPhone) -> Option<PhoneInput> {
    use oneofs::set_human_phone::Verification as V;
    let phone = convert::phone(v, "phone.phone", &p.phone);
    let verification = match &p.verification {
        Some(V::SendCode(_)) => convert::phone_verification(v, "phone.", true, false, None),
        Some(V::ReturnCode(_)) => convert::phone_verification(v, "phone.", false, true, None),
        Some(V::IsVerified(b)) => convert::phone_verification(v, "phone.", false, false, Some(*b)),
        None => ContactVerification::default(),
    };
    Some(PhoneInput {
        phone: phone?,
        verification,
    })
}

fn send_or_return(
    send: bool,
    ret: bool,
    template: Option<usher_core::types::UrlTemplate>,
) -> CodeDelivery {
    if ret && !send {
        CodeDelivery::Return
    } else {
        CodeDelivery::Send {
            url_template: template,
        }
    }
}

/// Serves the calls for one application state.
#[derive(Clone)]
pub struct Calls {
    pub state: AppState,
}

impl Calls {
    fn services(&self) -> &usher_core::service::Services {
        &self.state.services
    }

    pub async fn add_human_user(
        &self,
        p: &Principal,
        headers: &HeaderMap,
        req: z::AddHumanUserRequest,
    ) -> R<z::AddHumanUserResponse> {
        use usher_zitadel_proto::zitadel::object::v2::__buffa::oneof::organization::Org;
        let mut v = Validator::new();
        if req.user_id.as_deref().is_some_and(|s| !s.is_empty()) {
            v.push(FieldError::new(
                wire("userId"),
                "unsupported",
                "usher assigns user ids itself; leave userId empty",
            ));
        }
        if !req.idp_links.is_empty() {
            v.push(FieldError::new(
                wire("idpLinks"),
                "unsupported",
                "identity provider links are not supported",
            ));
        }
        if req.totp_secret.as_deref().is_some_and(|s| !s.is_empty()) {
            v.push(FieldError::new(
                wire("totpSecret"),
                "unsupported",
                "TOTP is not supported",
            ));
        }
        let username = convert::optional_text(&mut v, "username", req.username.as_deref(), 200);
        let profile = match req.profile.as_option() {
            Some(pr) => convert::profile(&mut v, pr),
            None => {
                v.push(FieldError::new(wire("profile"), "required", "is required"));
                None
            }
        };
        let email = match req.email.as_option() {
            Some(e) => email_input(&mut v, e),
            None => {
                v.push(FieldError::new(wire("email"), "required", "is required"));
                None
            }
        };
        let phone = req
            .phone
            .as_option()
            .filter(|ph| !ph.phone.is_empty())
            .and_then(|ph| phone_input(&mut v, ph));
        let password = match &req.password_type {
            Some(oneofs::add_human_user_request::PasswordType::Password(pw)) => convert::password(
                &mut v,
                "password.password",
                &pw.password,
                pw.change_required,
            ),
            Some(oneofs::add_human_user_request::PasswordType::HashedPassword(h)) => {
                convert::hashed_password(&mut v, "hashedPassword.hash", &h.hash, h.change_required)
            }
            None => None,
        };
        let mut metadata = Vec::new();
        for m in &req.metadata {
            if m.key.is_empty() || m.key.chars().count() > 200 || m.value.len() > 500_000 {
                v.push(FieldError::new(
                    wire("metadata"),
                    "invalid_length",
                    "keys have 1 to 200 characters, values at most 500000 bytes",
                ));
            } else if m.key.chars().any(char::is_control) {
                // PostgreSQL cannot keep NUL in the attributes' JSON; no key needs a control.
                v.push(FieldError::new(
                    wire("metadata"),
                    "invalid_text",
                    "control characters are not allowed in keys",
                ));
            } else {
                metadata.push((m.key.clone(), m.value.clone()));
            }
        }
        // The organization: the body's, else the x-zitadel-orgid header's, else the caller's.
        let org = match req.organization.as_option().and_then(|o| o.org.as_ref()) {
            Some(Org::OrgId(id)) => Some(id.clone()),
            Some(Org::OrgDomain(domain)) => Some(self.org_by_domain(p, domain).await?),
            None => org_header(headers).map(str::to_owned),
        };
        let org = match org {
            Some(id) => Some(OrgId(id.parse::<i64>().map_err(|_| {
                ZError::new(
                    ErrorCode::NotFound,
                    "ORG-NOTFOUND",
                    "Organization could not be found",
                )
            })?)),
            None => None,
        };
        finish(v)?;
        let (Some(profile), Some(email)) = (profile, email) else {
            return Err(ZError::invalid("profile", "is required"));
        };
        let created = self
            .services()
            .add_human(
                p,
                NewHuman {
                    org,
                    username,
                    profile,
                    email,
                    phone,
                    password,
                    metadata,
                },
            )
            .await?;
        Ok(z::AddHumanUserResponse {
            user_id: created.user.id.to_string(),
            details: convert::details(&created.user).into(),
            email_code: created.email_code,
            phone_code: created.phone_code,
            ..Default::default()
        })
    }

    /// `organization.orgDomain`: usher has no domains; it matches an organization's name.
    async fn org_by_domain(&self, p: &Principal, domain: &str) -> R<String> {
        let orgs = self.services().list_organizations(p).await?;
        orgs.into_iter()
            .find(|o| o.name.eq_ignore_ascii_case(domain))
            .map(|o| o.id.to_string())
            .ok_or_else(|| {
                ZError::new(
                    ErrorCode::NotFound,
                    "ORG-NOTFOUND",
                    "Organization could not be found",
                )
            })
    }

    pub async fn get_user_by_id(
        &self,
        p: &Principal,
        req: z::GetUserByIDRequest,
    ) -> R<z::GetUserByIDResponse> {
        let id = convert::user_id(&req.user_id)?;
        let view = self.services().get_user(p, id).await?;
        Ok(z::GetUserByIDResponse {
            details: convert::details(&view.user).into(),
            user: convert::user(&view.user).into(),
            ..Default::default()
        })
    }

    pub async fn list_users(
        &self,
        p: &Principal,
        req: z::ListUsersRequest,
    ) -> R<z::ListUsersResponse> {
        let q = req.query.as_option().cloned().unwrap_or_default();
        let limit = match u64::from(q.limit) {
            0 => DEFAULT_LIMIT,
            n if n > MAX_LIMIT => {
                return Err(ZError::invalid(
                    "query.limit",
                    format!("at most {MAX_LIMIT}"),
                ));
            }
            n => n,
        };
        let queries: Vec<UserFilter> = req
            .queries
            .iter()
            .map(|q| search_query(q, 1))
            .collect::<R<_>>()?;
        if queries.iter().map(queries_in).sum::<usize>() > MAX_QUERIES {
            return Err(ZError::invalid(
                "queries",
                format!("at most {MAX_QUERIES} queries, nested ones included"),
            ));
        }
        let filter = UserFilter::And(queries);
        let list = self
            .services()
            .list_users(
                p,
                UserListQuery {
                    org: None,
                    filter,
                    sort: sort(req.sorting_column)?,
                    direction: if q.asc {
                        Direction::Asc
                    } else {
                        Direction::Desc
                    },
                    then_by: Vec::new(),
                    offset: q.offset,
                    limit,
                    with_invitations: false,
                    with_total: true,
                },
            )
            .await?;
        Ok(z::ListUsersResponse {
            details: obj::ListDetails {
                total_result: list.total.unwrap_or(0),
                processed_sequence: 0,
                timestamp: convert::timestamp(self.services().clock().now()).into(),
                ..Default::default()
            }
            .into(),
            sorting_column: req.sorting_column,
            result: list.users.iter().map(|v| convert::user(&v.user)).collect(),
            ..Default::default()
        })
    }

    pub async fn update_human_user(
        &self,
        p: &Principal,
        req: z::UpdateHumanUserRequest,
    ) -> R<z::UpdateHumanUserResponse> {
        use oneofs::set_password::{PasswordType, Verification};
        let mut v = Validator::new();
        let id = convert::user_id(&req.user_id);
        let username = match req.username.as_deref() {
            Some(u) => convert::required_text(&mut v, "username", u, 200),
            None => None,
        };
        let profile = req
            .profile
            .as_option()
            .and_then(|pr| convert::profile(&mut v, pr));
        let email = req.email.as_option().and_then(|e| email_input(&mut v, e));
        // An empty number is no phone, as in AddHumanUser (UpdateHumanUser never removes one).
        let phone = req
            .phone
            .as_option()
            .filter(|ph| !ph.phone.is_empty())
            .and_then(|ph| phone_input(&mut v, ph));
        let password = match req.password.as_option() {
            None => None,
            Some(sp) => {
                let new = match &sp.password_type {
                    Some(PasswordType::Password(pw)) => convert::password(
                        &mut v,
                        "password.password.password",
                        &pw.password,
                        pw.change_required,
                    ),
                    Some(PasswordType::HashedPassword(h)) => convert::hashed_password(
                        &mut v,
                        "password.hashedPassword.hash",
                        &h.hash,
                        h.change_required,
                    ),
                    None => {
                        v.push(FieldError::new(
                            wire("password"),
                            "required",
                            "a password or hashedPassword is required",
                        ));
                        None
                    }
                };
                let proof = match &sp.verification {
                    Some(Verification::CurrentPassword(c)) => {
                        convert::required_text(&mut v, "password.currentPassword", c, 200)
                            .map(PasswordProof::Current)
                    }
                    Some(Verification::VerificationCode(c)) => {
                        convert::required_text(&mut v, "password.verificationCode", c, 20)
                            .map(PasswordProof::Code)
                    }
                    None => None,
                };
                new.map(|n| (n, proof))
            }
        };
        finish(v)?;
        let updated = self
            .services()
            .update_human(
                p,
                id?,
                HumanUpdate {
                    username,
                    profile,
                    email,
                    phone,
                    password,
                },
            )
            .await?;
        Ok(z::UpdateHumanUserResponse {
            details: convert::details(&updated.user).into(),
            email_code: updated.email_code,
            phone_code: updated.phone_code,
            ..Default::default()
        })
    }

    async fn set_contact(
        &self,
        p: &Principal,
        id: &str,
        update: HumanUpdate,
    ) -> R<(usher_core::model::User, Option<String>, Option<String>)> {
        let id = convert::user_id(id)?;
        let u = self.services().update_human(p, id, update).await?;
        Ok((u.user, u.email_code, u.phone_code))
    }

    pub async fn set_email(
        &self,
        p: &Principal,
        req: z::SetEmailRequest,
    ) -> R<z::SetEmailResponse> {
        use oneofs::set_email_request::Verification as V;
        let mut v = Validator::new();
        let email = convert::email(&mut v, "email", &req.email);
        let verification = match &req.verification {
            Some(V::SendCode(s)) => convert::email_verification(
                &mut v,
                "",
                Some(s.url_template.as_deref()),
                false,
                None,
            ),
            Some(V::ReturnCode(_)) => convert::email_verification(&mut v, "", None, true, None),
            Some(V::IsVerified(b)) => {
                convert::email_verification(&mut v, "", None, false, Some(*b))
            }
            None => ContactVerification::default(),
        };
        finish(v)?;
        let Some(email) = email else {
            return Err(ZError::invalid("email", "is required"));
        };
        let (user, code, _) = self
            .set_contact(
                &p.clone(),
                &req.user_id,
                HumanUpdate {
                    email: Some(EmailInput {
                        email,
                        verification,
                    }),
                    ..Default::default()
                },
            )
            .await?;
        Ok(z::SetEmailResponse {
            details: convert::details(&user).into(),
            verification_code: code,
            ..Default::default()
        })
    }

    async fn code(
        &self,
        p: &Principal,
        id: &str,
        channel: Channel,
        delivery: CodeDelivery,
        resend: bool,
    ) -> R<(usher_core::model::User, Option<String>)> {
        let id = convert::user_id(id)?;
        Ok(self
            .services()
            .send_contact_code(p, id, channel, delivery, resend)
            .await?)
    }

    pub async fn resend_email_code(
        &self,
        p: &Principal,
        req: z::ResendEmailCodeRequest,
    ) -> R<z::ResendEmailCodeResponse> {
        use oneofs::resend_email_code_request::Verification as V;
        let mut v = Validator::new();
        let delivery = match &req.verification {
            Some(V::SendCode(s)) => send_or_return(
                true,
                false,
                convert::url_template(&mut v, "sendCode.urlTemplate", s.url_template.as_deref()),
            ),
            Some(V::ReturnCode(_)) => CodeDelivery::Return,
            None => CodeDelivery::Send { url_template: None },
        };
        finish(v)?;
        let (user, code) = self
            .code(p, &req.user_id, Channel::Email, delivery, true)
            .await?;
        Ok(z::ResendEmailCodeResponse {
            details: convert::details(&user).into(),
            verification_code: code,
            ..Default::default()
        })
    }

    pub async fn send_email_code(
        &self,
        p: &Principal,
        req: z::SendEmailCodeRequest,
    ) -> R<z::SendEmailCodeResponse> {
        use oneofs::send_email_code_request::Verification as V;
        let mut v = Validator::new();
        let delivery = match &req.verification {
            Some(V::SendCode(s)) => send_or_return(
                true,
                false,
                convert::url_template(&mut v, "sendCode.urlTemplate", s.url_template.as_deref()),
            ),
            Some(V::ReturnCode(_)) => CodeDelivery::Return,
            None => CodeDelivery::Send { url_template: None },
        };
        finish(v)?;
        let (user, code) = self
            .code(p, &req.user_id, Channel::Email, delivery, false)
            .await?;
        Ok(z::SendEmailCodeResponse {
            details: convert::details(&user).into(),
            verification_code: code,
            ..Default::default()
        })
    }

    async fn verify(
        &self,
        p: &Principal,
        id: &str,
        purpose: CodePurpose,
        code: &str,
    ) -> R<usher_core::model::User> {
        let mut v = Validator::new();
        convert::required_text(&mut v, "verificationCode", code, 20);
        finish(v)?;
        let id = convert::user_id(id)?;
        Ok(self
            .services()
            .verify_code_as(p, id, purpose, code)
            .await?
            .user)
    }

    pub async fn verify_email(
        &self,
        p: &Principal,
        req: z::VerifyEmailRequest,
    ) -> R<z::VerifyEmailResponse> {
        let user = self
            .verify(
                p,
                &req.user_id,
                CodePurpose::EmailVerification,
                &req.verification_code,
            )
            .await?;
        Ok(z::VerifyEmailResponse {
            details: convert::details(&user).into(),
            ..Default::default()
        })
    }

    pub async fn set_phone(
        &self,
        p: &Principal,
        req: z::SetPhoneRequest,
    ) -> R<z::SetPhoneResponse> {
        use oneofs::set_phone_request::Verification as V;
        let mut v = Validator::new();
        let phone = convert::phone(&mut v, "phone", &req.phone);
        let verification = match &req.verification {
            Some(V::SendCode(_)) => convert::phone_verification(&mut v, "", true, false, None),
            Some(V::ReturnCode(_)) => convert::phone_verification(&mut v, "", false, true, None),
            Some(V::IsVerified(b)) => {
                convert::phone_verification(&mut v, "", false, false, Some(*b))
            }
            None => ContactVerification::default(),
        };
        finish(v)?;
        let Some(phone) = phone else {
            return Err(ZError::invalid("phone", "is required"));
        };
        let (user, _, code) = self
            .set_contact(
                p,
                &req.user_id,
                HumanUpdate {
                    phone: Some(PhoneInput {
                        phone,
                        verification,
                    }),
                    ..Default::default()
                },
            )
            .await?;
        Ok(z::SetPhoneResponse {
            details: convert::details(&user).into(),
            verification_code: code,
            ..Default::default()
        })
    }

    pub async fn remove_phone(
        &self,
        p: &Principal,
        req: z::RemovePhoneRequest,
    ) -> R<z::RemovePhoneResponse> {
        let id = convert::user_id(&req.user_id)?;
        let user = self.services().remove_phone(p, id).await?;
        Ok(z::RemovePhoneResponse {
            details: convert::details(&user).into(),
            ..Default::default()
        })
    }

    pub async fn resend_phone_code(
        &self,
        p: &Principal,
        req: z::ResendPhoneCodeRequest,
    ) -> R<z::ResendPhoneCodeResponse> {
        use oneofs::resend_phone_code_request::Verification as V;
        let delivery = match &req.verification {
            Some(V::ReturnCode(_)) => CodeDelivery::Return,
            Some(V::SendCode(_)) | None => CodeDelivery::Send { url_template: None },
        };
        let (user, code) = self
            .code(p, &req.user_id, Channel::Sms, delivery, true)
            .await?;
        Ok(z::ResendPhoneCodeResponse {
            details: convert::details(&user).into(),
            verification_code: code,
            ..Default::default()
        })
    }

    pub async fn verify_phone(
        &self,
        p: &Principal,
        req: z::VerifyPhoneRequest,
    ) -> R<z::VerifyPhoneResponse> {
        let user = self
            .verify(
                p,
                &req.user_id,
                CodePurpose::PhoneVerification,
                &req.verification_code,
            )
            .await?;
        Ok(z::VerifyPhoneResponse {
            details: convert::details(&user).into(),
            ..Default::default()
        })
    }

    pub async fn set_password(
        &self,
        p: &Principal,
        req: z::SetPasswordRequest,
    ) -> R<z::SetPasswordResponse> {
        use oneofs::set_password_request::Verification;
        let mut v = Validator::new();
        let new = match req.new_password.as_option() {
            Some(pw) => convert::password(
                &mut v,
                "newPassword.password",
                &pw.password,
                pw.change_required,
            ),
            None => {
                v.push(FieldError::new(
                    wire("newPassword"),
                    "required",
                    "is required",
                ));
                None
            }
        };
        let proof = match &req.verification {
            Some(Verification::CurrentPassword(c)) => {
                convert::required_text(&mut v, "currentPassword", c, 200)
                    .map(PasswordProof::Current)
            }
            Some(Verification::VerificationCode(c)) => {
                convert::required_text(&mut v, "verificationCode", c, 20).map(PasswordProof::Code)
            }
            None => None,
        };
        finish(v)?;
        let Some(new) = new else {
            return Err(ZError::invalid("newPassword", "is required"));
        };
        let (user, _, _) = self
            .set_contact(
                p,
                &req.user_id,
                HumanUpdate {
                    password: Some((new, proof)),
                    ..Default::default()
                },
            )
            .await?;
        Ok(z::SetPasswordResponse {
            details: convert::details(&user).into(),
            ..Default::default()
        })
    }

    pub async fn password_reset(
        &self,
        p: &Principal,
        req: z::PasswordResetRequest,
    ) -> R<z::PasswordResetResponse> {
        use oneofs::password_reset_request::Medium;
        let mut v = Validator::new();
        let medium = match &req.medium {
            Some(Medium::ReturnCode(_)) => ResetMedium::Return,
            Some(Medium::SendLink(link)) => {
                let channel = match link.notification_type.as_known() {
                    Some(z::NotificationType::NOTIFICATION_TYPE_SMS) => Channel::Sms,
                    Some(
                        z::NotificationType::NOTIFICATION_TYPE_Email
                        | z::NotificationType::NOTIFICATION_TYPE_Unspecified,
                    ) => Channel::Email,
                    None => {
                        v.push(FieldError::new(
                            wire("sendLink.notificationType"),
                            "invalid_enum",
                            "unknown notification type",
                        ));
                        Channel::Email
                    }
                };
                let url_template = convert::url_template(
                    &mut v,
                    "sendLink.urlTemplate",
                    link.url_template.as_deref(),
                );
                ResetMedium::Send {
                    channel,
                    url_template,
                }
            }
            None => ResetMedium::Send {
                channel: Channel::Email,
                url_template: None,
            },
        };
        finish(v)?;
        let id = convert::user_id(&req.user_id)?;
        let (user, code) = self.services().password_reset(p, id, medium).await?;
        Ok(z::PasswordResetResponse {
            details: convert::details(&user).into(),
            verification_code: code,
            ..Default::default()
        })
    }

    pub async fn change_state(
        &self,
        p: &Principal,
        id: &str,
        change: StateChange,
    ) -> R<obj::Details> {
        let id = convert::user_id(id)?;
        let user = self.services().change_state(p, id, change).await?;
        Ok(convert::details(&user))
    }

    pub async fn delete_user(
        &self,
        p: &Principal,
        req: z::DeleteUserRequest,
    ) -> R<z::DeleteUserResponse> {
        let id = convert::user_id(&req.user_id)?;
        let view = self.services().get_user(p, id).await?;
        self.services().delete_user(p, id).await?;
        let u = view.user;
        Ok(z::DeleteUserResponse {
            details: convert::details_at(
                u.sequence + 1,
                self.services().clock().now().0,
                u.org_id.to_string(),
                u.created_at.0,
            )
            .into(),
            ..Default::default()
        })
    }

    pub async fn create_invite_code(
        &self,
        p: &Principal,
        req: z::CreateInviteCodeRequest,
    ) -> R<z::CreateInviteCodeResponse> {
        use oneofs::create_invite_code_request::Verification as V;
        let mut v = Validator::new();
        let delivery = match &req.verification {
            Some(V::ReturnCode(_)) => InviteDelivery::Return,
            Some(V::SendCode(s)) => {
                convert::optional_text(
                    &mut v,
                    "sendCode.applicationName",
                    s.application_name.as_deref(),
                    200,
                );
                InviteDelivery::Send {
                    url_template: convert::url_template(
                        &mut v,
                        "sendCode.urlTemplate",
                        s.url_template.as_deref(),
                    ),
                }
            }
            None => InviteDelivery::Send { url_template: None },
        };
        finish(v)?;
        let id = convert::user_id(&req.user_id)?;
        let (user, code) = self.services().create_invite_code(p, id, delivery).await?;
        Ok(z::CreateInviteCodeResponse {
            details: convert::details(&user).into(),
            invite_code: code,
            ..Default::default()
        })
    }

    pub async fn resend_invite_code(
        &self,
        p: &Principal,
        req: z::ResendInviteCodeRequest,
    ) -> R<z::ResendInviteCodeResponse> {
        let id = convert::user_id(&req.user_id)?;
        let user = self.services().resend_invite_code(p, id).await?;
        Ok(z::ResendInviteCodeResponse {
            details: convert::details(&user).into(),
            ..Default::default()
        })
    }

    pub async fn verify_invite_code(
        &self,
        p: &Principal,
        req: z::VerifyInviteCodeRequest,
    ) -> R<z::VerifyInviteCodeResponse> {
        let mut v = Validator::new();
        convert::required_text(&mut v, "verificationCode", &req.verification_code, 200);
        finish(v)?;
        let id = convert::user_id(&req.user_id)?;
        let user = self
            .services()
            .verify_invite_code(p, id, &req.verification_code)
            .await?;
        Ok(z::VerifyInviteCodeResponse {
            details: convert::details(&user).into(),
            ..Default::default()
        })
    }
}
