//! The small web pages people open from usher's messages: accept an invitation (set a password),
//! verify an email address, confirm an email change. Server-rendered in the recipient's language,
//! no scripts, no external assets, CSRF-protected forms (a SameSite=Strict cookie that must match a
//! hidden field), and a CSP that allows only their own stylesheet and form. A used or expired link
//! shows a clear page and answers 410.

use axum::Form;
use axum::extract::rejection::FormRejection;
use axum::extract::{Path, Query, State};
use axum::http::header::{
    ACCEPT_LANGUAGE, CACHE_CONTROL, CONTENT_SECURITY_POLICY, CONTENT_TYPE, COOKIE, SET_COOKIE,
};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};
use usher_core::error::{Entity, Error, Field};
use usher_core::model::CodePurpose;
use usher_core::types::{Language, UserId};
use usher_templates::{Page, STYLESHEET, negotiate};

use crate::AppState;
use crate::common::routes::{Kind, Routes, get};

/// Pages may load their own stylesheet and post their own forms; nothing else.
const PAGE_CSP: &str = "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; \
    frame-ancestors 'none'; base-uri 'none'";
const CSRF_COOKIE: &str = "usher_csrf";

pub fn routes() -> Routes {
    Routes::new(Kind::Html)
        .route("/pages/style.css", get(stylesheet))
        .route("/invite/{token}", get(invite_form).post(invite_submit))
        .route("/verify-email", get(verify_form).post(verify_submit))
        .route(
            "/confirm-email/{token}",
            get(confirm_form).post(confirm_submit),
        )
}

async fn stylesheet() -> Response {
    let mut res = STYLESHEET.into_response();
    res.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/css; charset=utf-8"),
    );
    res.headers_mut().insert(
        CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=3600"),
    );
    res
}

/// A rendered page with its status and, for forms, the CSRF cookie.
/// The path of the public URL (`https://example.org/usher` → `/usher`, none → ``): behind a
/// proxy that serves usher under a path, the pages' own links (form actions, the stylesheet)
/// must carry it, as the links in messages do.
fn base_path(state: &AppState) -> String {
    url::Url::parse(&state.services.config().public_url)
        .map(|u| u.path().trim_end_matches('/').to_owned())
        .unwrap_or_default()
}

fn page(
    state: &AppState,
    status: StatusCode,
    which: Page,
    lang: Language,
    mut ctx: Value,
    csrf: Option<&str>,
) -> Response {
    if let Some(m) = ctx.as_object_mut() {
        m.insert("base".to_owned(), Value::String(base_path(state)));
    }
    let html = match state.templates.render_page(which, lang, &ctx) {
        Ok(h) => h,
        Err(e) => {
            tracing::error!(error = %e, "page template failed");
            return (StatusCode::INTERNAL_SERVER_ERROR, "Internal error").into_response();
        }
    };
    let mut res = (status, html).into_response();
    let h = res.headers_mut();
    h.insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    h.insert(CONTENT_SECURITY_POLICY, HeaderValue::from_static(PAGE_CSP));
    h.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    if let Some(token) = csrf {
        let secure = if state.services.config().public_url.starts_with("https://") {
            "; Secure"
        } else {
            ""
        };
        let cookie = format!("{CSRF_COOKIE}={token}; Path=/; HttpOnly; SameSite=Strict{secure}");
        if let Ok(v) = HeaderValue::from_str(&cookie) {
            h.insert(SET_COOKIE, v);
        }
    }
    res
}

fn accept_language(headers: &HeaderMap) -> Option<&str> {
    headers.get(ACCEPT_LANGUAGE).and_then(|v| v.to_str().ok())
}

fn new_csrf() -> String {
    usher_core::secrets::new_secret().replace('-', "")
}

/// The form's token matches the cookie set with the form.
fn csrf_ok(headers: &HeaderMap, form_token: &str) -> bool {
    let Some(cookies) = headers.get(COOKIE).and_then(|v| v.to_str().ok()) else {
        return false;
    };
    cookies
        .split(';')
        .filter_map(|c| c.trim().split_once('='))
        .any(|(name, value)| {
            name == CSRF_COOKIE
                && !value.is_empty()
                && constant_time_eq(value.as_bytes(), form_token.as_bytes())
        })
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn gone(state: &AppState, lang: Language) -> Response {
    page(
        state,
        StatusCode::GONE,
        Page::LinkGone,
        lang,
        json!({}),
        None,
    )
}

fn trouble(state: &AppState, lang: Language, e: &Error) -> Response {
    if let Error::RateLimited { retry_after } = e {
        let error = state.templates.text(lang, "error.rate_limited");
        let mut res = page(
            state,
            StatusCode::TOO_MANY_REQUESTS,
            Page::BadRequest,
            lang,
            json!({"error": error}),
            None,
        );
        res.headers_mut().insert(
            axum::http::header::RETRY_AFTER,
            retry_after.as_secs().max(1).into(),
        );
        return res;
    }
    let status = match e {
        Error::Unavailable(_) | Error::Conflict => StatusCode::SERVICE_UNAVAILABLE,
        Error::Internal(cause) => {
            tracing::error!(error = %cause, "page request failed");
            StatusCode::INTERNAL_SERVER_ERROR
        }
        _ => StatusCode::BAD_REQUEST,
    };
    let error = state.templates.text(lang, "error.generic");
    page(
        state,
        status,
        Page::BadRequest,
        lang,
        json!({"error": error}),
        None,
    )
}

// ---------- invitation ----------

async fn invite_form(
    State(state): State<AppState>,
    Path(token): Path<String>,
    headers: HeaderMap,
) -> Response {
    let fallback = negotiate(None, accept_language(&headers));
    match state.services.open_invitation(&token).await {
        Ok((inv, user)) => {
            let csrf = new_csrf();
            let ctx = invite_ctx(&state, &token, &csrf, &user, None).await;
            page(
                &state,
                StatusCode::OK,
                Page::InviteForm,
                inv.language,
                ctx,
                Some(&csrf),
            )
        }
        Err(Error::Gone(_) | Error::NotFound(_)) => gone(
            &state,
            gone_invitation_language(&state, &token, fallback).await,
        ),
        Err(e) => trouble(&state, fallback, &e),
    }
}

/// The language of the "link gone" page of an invitation link: the invitation's own when the
/// token names one (used or expired), else `fallback` (the browser's).
async fn gone_invitation_language(state: &AppState, token: &str, fallback: Language) -> Language {
    match state.services.store().invitation_by_token(token).await {
        Ok(Some(inv)) => inv.language,
        _ => fallback,
    }
}

async fn invite_ctx(
    state: &AppState,
    token: &str,
    csrf: &str,
    user: &usher_core::model::User,
    error: Option<String>,
) -> Value {
    let organization = state
        .services
        .store()
        .organization(user.org_id)
        .await
        .ok()
        .flatten()
        .map(|o| o.name);
    json!({
        "action": format!("{}/invite/{token}", base_path(state)),
        "csrf": csrf,
        "email_required": user.require_email_match,
        "first_name": user.first_name,
        "organization": organization,
        "error": error,
    })
}

#[derive(Debug, Deserialize)]
struct InviteForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    password_confirm: String,
    email: Option<String>,
}

async fn invite_submit(
    State(state): State<AppState>,
    Path(token): Path<String>,
    headers: HeaderMap,
    form: Result<Form<InviteForm>, FormRejection>,
) -> Response {
    let fallback = negotiate(None, accept_language(&headers));
    let (inv, user) = match state.services.open_invitation(&token).await {
        Ok(found) => found,
        Err(Error::Gone(_) | Error::NotFound(_)) => {
            return gone(
                &state,
                gone_invitation_language(&state, &token, fallback).await,
            );
        }
        Err(e) => return trouble(&state, fallback, &e),
    };
    let lang = inv.language;
    let again = |error_key: &str, status: StatusCode| {
        let state = state.clone();
        let user = user.clone();
        let token = token.clone();
        let message = state.templates.text(lang, error_key);
        async move {
            let csrf = new_csrf();
            let ctx = invite_ctx(&state, &token, &csrf, &user, Some(message)).await;
            page(&state, status, Page::InviteForm, lang, ctx, Some(&csrf))
        }
    };
    let Ok(Form(form)) = form else {
        return again("error.generic", StatusCode::BAD_REQUEST).await;
    };
    if !csrf_ok(&headers, &form.csrf) {
        return again("error.csrf", StatusCode::BAD_REQUEST).await;
    }
    if form.password != form.password_confirm {
        return again("error.password_mismatch", StatusCode::UNPROCESSABLE_ENTITY).await;
    }
    match state
        .services
        .accept_invitation(&token, &form.password, form.email.as_deref())
        .await
    {
        Ok(user) => {
            let ctx = json!({"first_name": user.first_name});
            page(&state, StatusCode::OK, Page::InviteDone, lang, ctx, None)
        }
        Err(Error::Gone(_)) => gone(&state, lang),
        Err(Error::Invalid(fields)) => {
            let key = match fields.first() {
                Some(f) if f.field == Field::Email => "error.email_mismatch".to_owned(),
                Some(f) if f.field == Field::Password => format!("error.{}", f.code),
                _ => "error.generic".to_owned(),
            };
            again(&key, StatusCode::UNPROCESSABLE_ENTITY).await
        }
        Err(e) => trouble(&state, lang, &e),
    }
}

// ---------- email verification ----------

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct VerifyLink {
    user_id: Option<String>,
    code: Option<String>,
}

/// The user id of a verification link.
fn link_user(link: &VerifyLink) -> Result<UserId, Error> {
    let id = link
        .user_id
        .as_deref()
        .and_then(|s| s.parse::<i64>().ok())
        .ok_or(Error::Gone(Entity::Code))?;
    if link.code.as_deref().is_none_or(str::is_empty) {
        return Err(Error::Gone(Entity::Code));
    }
    Ok(UserId(id))
}

/// The user behind a submitted verification form, if it still has a pending email code (the
/// code itself is checked by `verify_code`, which counts a wrong one).
async fn pending_verification(
    state: &AppState,
    link: &VerifyLink,
) -> Result<usher_core::model::User, Error> {
    let id = link_user(link)?;
    let user = state
        .services
        .store()
        .user(id)
        .await?
        .ok_or(Error::Gone(Entity::Code))?;
    let code = state
        .services
        .store()
        .code(user.id, CodePurpose::EmailVerification)
        .await?;
    match code {
        Some(c) if c.expires_at > state.services.clock().now() => Ok(user),
        _ => Err(Error::Gone(Entity::Code)),
    }
}

fn user_language(user: &usher_core::model::User, headers: &HeaderMap) -> Language {
    negotiate(
        user.preferred_language
            .as_deref()
            .and_then(Language::from_tag),
        accept_language(headers),
    )
}

async fn verify_form(
    State(state): State<AppState>,
    Query(link): Query<VerifyLink>,
    headers: HeaderMap,
) -> Response {
    let fallback = negotiate(None, accept_language(&headers));
    // The page shows the address: only to the holder of the code (core checks it).
    let opened = match link_user(&link) {
        Ok(id) => {
            state
                .services
                .open_email_verification(id, link.code.as_deref().unwrap_or_default())
                .await
        }
        Err(e) => Err(e),
    };
    match opened {
        Ok(user) => {
            let lang = user_language(&user, &headers);
            let csrf = new_csrf();
            let ctx = json!({
                "action": format!("{}/verify-email", base_path(&state)),
                "csrf": csrf,
                "user_id": user.id.to_string(),
                "code": link.code,
                "email": user.email.as_ref().map(|e| e.as_str().to_owned()),
                "first_name": user.first_name,
            });
            page(
                &state,
                StatusCode::OK,
                Page::VerifyEmailForm,
                lang,
                ctx,
                Some(&csrf),
            )
        }
        Err(Error::Gone(_)) => gone(&state, fallback),
        Err(e) => trouble(&state, fallback, &e),
    }
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct VerifyForm {
    #[serde(default)]
    csrf: String,
    user_id: Option<String>,
    code: Option<String>,
}

async fn verify_submit(
    State(state): State<AppState>,
    headers: HeaderMap,
    form: Result<Form<VerifyForm>, FormRejection>,
) -> Response {
    let fallback = negotiate(None, accept_language(&headers));
    let Ok(Form(form)) = form else {
        return page(
            &state,
            StatusCode::BAD_REQUEST,
            Page::BadRequest,
            fallback,
            json!({}),
            None,
        );
    };
    let link = VerifyLink {
        user_id: form.user_id,
        code: form.code,
    };
    let user = match pending_verification(&state, &link).await {
        Ok(u) => u,
        Err(Error::Gone(_)) => return gone(&state, fallback),
        Err(e) => return trouble(&state, fallback, &e),
    };
    let lang = user_language(&user, &headers);
    if !csrf_ok(&headers, &form.csrf) {
        let error = state.templates.text(lang, "error.csrf");
        return page(
            &state,
            StatusCode::BAD_REQUEST,
            Page::BadRequest,
            lang,
            json!({"error": error}),
            None,
        );
    }
    match state
        .services
        .verify_code(
            user.id,
            CodePurpose::EmailVerification,
            link.code.as_deref().unwrap_or(""),
        )
        .await
    {
        Ok(v) => {
            let ctx = json!({"email": v.user.email.as_ref().map(|e| e.as_str().to_owned()), "first_name": v.user.first_name});
            page(
                &state,
                StatusCode::OK,
                Page::VerifyEmailDone,
                lang,
                ctx,
                None,
            )
        }
        Err(Error::Invalid(_) | Error::Gone(_) | Error::NotFound(_)) => gone(&state, lang),
        Err(e) => trouble(&state, lang, &e),
    }
}

// ---------- email change ----------

async fn confirm_form(
    State(state): State<AppState>,
    Path(token): Path<String>,
    headers: HeaderMap,
) -> Response {
    let fallback = negotiate(None, accept_language(&headers));
    match state.services.open_email_change(&token).await {
        Ok((user, new)) => {
            let lang = user_language(&user, &headers);
            let csrf = new_csrf();
            let ctx = json!({
                "action": format!("{}/confirm-email/{token}", base_path(&state)),
                "csrf": csrf,
                "email": user.email.as_ref().map(|e| e.as_str().to_owned()),
                "new_email": new.as_str(),
                "first_name": user.first_name,
            });
            page(
                &state,
                StatusCode::OK,
                Page::ConfirmEmailForm,
                lang,
                ctx,
                Some(&csrf),
            )
        }
        Err(Error::Gone(_)) => gone(&state, fallback),
        Err(e) => trouble(&state, fallback, &e),
    }
}

#[derive(Debug, Deserialize)]
struct ConfirmForm {
    #[serde(default)]
    csrf: String,
}

async fn confirm_submit(
    State(state): State<AppState>,
    Path(token): Path<String>,
    headers: HeaderMap,
    form: Result<Form<ConfirmForm>, FormRejection>,
) -> Response {
    let fallback = negotiate(None, accept_language(&headers));
    let user = match state.services.open_email_change(&token).await {
        Ok((user, _)) => user,
        Err(Error::Gone(_)) => return gone(&state, fallback),
        Err(e) => return trouble(&state, fallback, &e),
    };
    let lang = user_language(&user, &headers);
    let csrf = form.map(|Form(f)| f.csrf).unwrap_or_default();
    if !csrf_ok(&headers, &csrf) {
        let error = state.templates.text(lang, "error.csrf");
        return page(
            &state,
            StatusCode::BAD_REQUEST,
            Page::BadRequest,
            lang,
            json!({"error": error}),
            None,
        );
    }
    match state.services.confirm_email_change(&token, None).await {
        Ok(user) => {
            let ctx = json!({"new_email": user.email.as_ref().map(|e| e.as_str().to_owned()), "first_name": user.first_name});
            page(
                &state,
                StatusCode::OK,
                Page::ConfirmEmailDone,
                lang,
                ctx,
                None,
            )
        }
        Err(Error::Gone(_)) => gone(&state, lang),
        Err(e @ Error::AlreadyExists { .. }) => {
            let _ = e;
            let error = state.templates.text(lang, "error.generic");
            page(
                &state,
                StatusCode::CONFLICT,
                Page::BadRequest,
                lang,
                json!({"error": error}),
                None,
            )
        }
        Err(e) => trouble(&state, lang, &e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csrf_cookie_must_match_the_field() {
        let mut h = HeaderMap::new();
        assert!(!csrf_ok(&h, "abc"));
        h.insert(COOKIE, HeaderValue::from_static("other=1; usher_csrf=abc"));
        assert!(csrf_ok(&h, "abc"));
        assert!(!csrf_ok(&h, "abd"));
        assert!(!csrf_ok(&h, ""));
        h.insert(COOKIE, HeaderValue::from_static("usher_csrf="));
        assert!(!csrf_ok(&h, ""));
    }
}
