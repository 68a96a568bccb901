//! usher's messages (email and SMS) and web pages, in nine languages.
//!
//! Everything is compiled in: the minijinja templates under `templates/`, the translation
//! catalogues under `i18n/` (one TOML file per language, English as the fallback) and the pages'
//! stylesheet under `static/`. [`Templates`] renders them:
//!
//! - [`Templates::render_message`] turns an outbox message (template name, channel, language and
//!   the JSON params the core wrote) into a subject, a plain-text part and, for email, an HTML
//!   part;
//! - [`Templates::render_page`] renders one of the HTML [`Page`]s the server shows to people;
//! - [`Templates::text`] gives one translated UI string, such as an error shown on a page.
//!
//! Inside the templates, `t("key", name=value, …)` is the translated string with its
//! `{placeholders}` filled; in `.html` templates it escapes the text and wraps each value in
//! `<bdi>` so that names and addresses read correctly inside right-to-left text. The filters
//! `datetime` ("20 March 2026, 11:53 UTC", in the page's language) and `datetime_short`
//! ("2026-03-20 11:53 UTC", for SMS) format RFC 3339 times; both only depend on their input.

mod i18n;
mod negotiate;

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Arc;

use chrono::{DateTime, Datelike, Timelike, Utc};
use minijinja::value::{Kwargs, Value};
use minijinja::{AutoEscape, Environment, Error, ErrorKind, State, escape_formatter};

pub use negotiate::negotiate;
pub use usher_core::model::Channel;
pub use usher_core::types::Language;

use i18n::{Catalog, interpolate};

/// The stylesheet served at `/pages/style.css`. Pages link to it and carry no styles of their
/// own, so that their content security policy can be `style-src 'self'`.
pub const STYLESHEET: &str = include_str!("../static/style.css");

/// The message templates: name and the channels each is written for.
const MESSAGES: [(&str, &[Channel]); 5] = [
    ("invitation", &[Channel::Email, Channel::Sms]),
    ("email_verification", &[Channel::Email]),
    ("phone_verification", &[Channel::Sms]),
    ("email_change", &[Channel::Email]),
    ("password_reset", &[Channel::Email, Channel::Sms]),
];

macro_rules! sources {
    ($($name:literal),* $(,)?) => {
        [$(($name, include_str!(concat!("../templates/", $name)))),*]
    };
}

/// Every template, by name. A name ending in `.html` is HTML-escaped.
const TEMPLATE_SOURCES: [(&str, &str); 27] = sources![
    "email/layout.html",
    "email/layout.txt",
    "email/parts.html",
    "messages/invitation.subject.txt",
    "messages/invitation.email.txt",
    "messages/invitation.email.html",
    "messages/invitation.sms.txt",
    "messages/email_verification.subject.txt",
    "messages/email_verification.email.txt",
    "messages/email_verification.email.html",
    "messages/phone_verification.sms.txt",
    "messages/email_change.subject.txt",
    "messages/email_change.email.txt",
    "messages/email_change.email.html",
    "messages/password_reset.subject.txt",
    "messages/password_reset.email.txt",
    "messages/password_reset.email.html",
    "messages/password_reset.sms.txt",
    "pages/layout.html",
    "pages/invite_form.html",
    "pages/invite_done.html",
    "pages/verify_email_form.html",
    "pages/verify_email_done.html",
    "pages/confirm_email_form.html",
    "pages/confirm_email_done.html",
    "pages/link_gone.html",
    "pages/bad_request.html",
];

/// A rendered outbox message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rendered {
    /// The email subject; empty for SMS.
    pub subject: String,
    /// The SMS body, or the plain-text part of an email.
    pub text: String,
    /// The HTML part of an email; `None` for SMS.
    pub html: Option<String>,
}

/// A template could not be rendered: an unknown template or channel, params that are not a
/// JSON object, or a fault in a template.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct TemplateError(String);

impl TemplateError {
    fn new(message: impl Into<String>) -> Self {
        TemplateError(message.into())
    }
}

impl From<Error> for TemplateError {
    fn from(e: Error) -> Self {
        let mut message = e.to_string();
        if let Some(name) = e.name() {
            let _ = write!(message, " (in {name})");
        }
        TemplateError(message)
    }
}

/// The pages usher shows to people in a browser.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Page {
    /// Set a password (and, if asked, type the invited email address) to accept an invitation.
    InviteForm,
    /// The invitation was accepted.
    InviteDone,
    /// Confirm the verification of an email address (one button).
    VerifyEmailForm,
    /// The email address was verified.
    VerifyEmailDone,
    /// Confirm a change of email address (one button).
    ConfirmEmailForm,
    /// The email address was changed.
    ConfirmEmailDone,
    /// The link has expired or was already used (served with 410).
    LinkGone,
    /// Something is wrong with the request, such as a failed CSRF check.
    BadRequest,
}

impl Page {
    /// Every page.
    pub const ALL: [Page; 8] = [
        Page::InviteForm,
        Page::InviteDone,
        Page::VerifyEmailForm,
        Page::VerifyEmailDone,
        Page::ConfirmEmailForm,
        Page::ConfirmEmailDone,
        Page::LinkGone,
        Page::BadRequest,
    ];

    /// A short name (`invite_form`, …): the template's file name and its translation keys.
    pub fn as_str(self) -> &'static str {
        match self {
            Page::InviteForm => "invite_form",
            Page::InviteDone => "invite_done",
            Page::VerifyEmailForm => "verify_email_form",
            Page::VerifyEmailDone => "verify_email_done",
            Page::ConfirmEmailForm => "confirm_email_form",
            Page::ConfirmEmailDone => "confirm_email_done",
            Page::LinkGone => "link_gone",
            Page::BadRequest => "bad_request",
        }
    }

    fn title_key(self) -> &'static str {
        match self {
            Page::InviteForm => "page.invite.title",
            Page::InviteDone => "page.invite_done.title",
            Page::VerifyEmailForm => "page.verify_email.title",
            Page::VerifyEmailDone => "page.verify_email_done.title",
            Page::ConfirmEmailForm => "page.confirm_email.title",
            Page::ConfirmEmailDone => "page.confirm_email_done.title",
            Page::LinkGone => "page.link_gone.title",
            Page::BadRequest => "page.bad_request.title",
        }
    }
}

/// All templates and translations, ready to render. Cheap to share (`Arc` it or clone it).
#[derive(Clone)]
pub struct Templates {
    env: Environment<'static>,
    catalog: Arc<Catalog>,
    /// Templates or catalogues that failed to load (empty unless a file is broken; a test
    /// keeps it so). Rendering a template that failed reports an error instead of panicking.
    problems: Vec<String>,
}

impl std::fmt::Debug for Templates {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Templates")
            .field("templates", &TEMPLATE_SOURCES.len())
            .field("problems", &self.problems)
            .finish_non_exhaustive()
    }
}

impl Default for Templates {
    fn default() -> Self {
        Templates::new()
    }
}

impl Templates {
    /// Loads the compiled-in templates and translations. Never panics.
    pub fn new() -> Self {
        let (catalog, mut problems) = Catalog::load();
        let catalog = Arc::new(catalog);
        let mut env = Environment::new();
        let syntax = env
            .syntax()
            .to_builder()
            .trim_blocks(true)
            .lstrip_blocks(true)
            .build();
        match syntax {
            Ok(syntax) => env.set_syntax(syntax),
            Err(e) => problems.push(format!("syntax: {e}")),
        }
        env.set_auto_escape_callback(|name| {
            if name.ends_with(".html") {
                AutoEscape::Html
            } else {
                AutoEscape::None
            }
        });
        env.set_formatter(format_value);
        {
            let catalog = Arc::clone(&catalog);
            env.add_function("t", move |state: &State, key: &str, kwargs: Kwargs| {
                translate(&catalog, state, key, &kwargs)
            });
        }
        {
            let catalog = Arc::clone(&catalog);
            env.add_filter("datetime", move |state: &State, value: Value| {
                format_datetime(&catalog, language_of(state), &value)
            });
        }
        env.add_filter("datetime_short", |value: Value| {
            format_datetime_short(&value)
        });
        for (name, source) in TEMPLATE_SOURCES {
            if let Err(e) = env.add_template(name, source) {
                problems.push(format!("{name}: {e}"));
            }
        }
        Templates {
            env,
            catalog,
            problems,
        }
    }

    /// Renders an outbox message. `template` is one of `invitation`, `email_verification`,
    /// `phone_verification`, `email_change`, `password_reset`; each is written for the channels
    /// it is sent by (invitation and password_reset by email and SMS, phone_verification by SMS,
    /// the others by email). An unknown template, a channel the template is not written for or
    /// params that are neither a JSON object nor null are errors. Optional params may be null,
    /// empty or missing.
    pub fn render_message(
        &self,
        template: &str,
        channel: Channel,
        lang: Language,
        params: &serde_json::Value,
    ) -> Result<Rendered, TemplateError> {
        let Some((name, channels)) = MESSAGES.iter().find(|(name, _)| *name == template) else {
            return Err(TemplateError::new(format!(
                "unknown message template {template:?}"
            )));
        };
        if !channels.contains(&channel) {
            return Err(TemplateError::new(format!(
                "the message template {name} is not written for {}",
                channel.as_str()
            )));
        }
        let mut ctx = context(lang, params)?;
        match channel {
            Channel::Sms => {
                let text = self.render(&format!("messages/{name}.sms.txt"), &ctx)?;
                Ok(Rendered {
                    subject: String::new(),
                    text: one_line(&text),
                    html: None,
                })
            }
            Channel::Email => {
                let subject =
                    one_line(&self.render(&format!("messages/{name}.subject.txt"), &ctx)?);
                ctx.insert("subject".to_owned(), Value::from(subject.as_str()));
                let text = tidy_text(&self.render(&format!("messages/{name}.email.txt"), &ctx)?);
                let html = tidy_html(&self.render(&format!("messages/{name}.email.html"), &ctx)?);
                Ok(Rendered {
                    subject,
                    text,
                    html: Some(html),
                })
            }
        }
    }

    /// Renders a full HTML page. `ctx` is a JSON object (see the page templates for the keys
    /// each page reads: `action`, `csrf`, `error`, `email_required`, `first_name`,
    /// `organization`, `email`, `new_email`, `user_id`, `code`); missing keys render as absent.
    pub fn render_page(
        &self,
        page: Page,
        lang: Language,
        ctx: &serde_json::Value,
    ) -> Result<String, TemplateError> {
        let mut ctx = context(lang, ctx)?;
        ctx.insert(
            "title".to_owned(),
            Value::from(self.text(lang, page.title_key())),
        );
        let html = self.render(&format!("pages/{}.html", page.as_str()), &ctx)?;
        Ok(tidy_html(&html))
    }

    /// One translated UI string by key, such as `error.password_too_short`; English when the
    /// language lacks it, the key itself when no language has it.
    pub fn text(&self, lang: Language, key: &str) -> String {
        self.catalog.text(lang, key)
    }

    fn render(&self, name: &str, ctx: &BTreeMap<String, Value>) -> Result<String, TemplateError> {
        let template = self.env.get_template(name).map_err(|e| {
            let mut err = TemplateError::from(e);
            if !self.problems.is_empty() {
                let _ = write!(err.0, "; load problems: {}", self.problems.join("; "));
            }
            err
        })?;
        Ok(template.render(Value::from(ctx.clone()))?)
    }
}

/// The text direction of a language.
fn direction(lang: Language) -> &'static str {
    match lang {
        Language::Ar => "rtl",
        _ => "ltr",
    }
}

/// The template context: the params' keys (null and blank values left out, so that templates
/// see them as absent), with `lang` and `dir` added.
fn context(
    lang: Language,
    params: &serde_json::Value,
) -> Result<BTreeMap<String, Value>, TemplateError> {
    let mut ctx = match params {
        serde_json::Value::Object(map) => object_entries(map),
        serde_json::Value::Null => BTreeMap::new(),
        _ => {
            return Err(TemplateError::new("template params must be a JSON object"));
        }
    };
    ctx.insert("lang".to_owned(), Value::from(lang.as_str()));
    ctx.insert("dir".to_owned(), Value::from(direction(lang)));
    Ok(ctx)
}

fn object_entries(map: &serde_json::Map<String, serde_json::Value>) -> BTreeMap<String, Value> {
    map.iter()
        .filter_map(|(key, value)| match value {
            serde_json::Value::Null => None,
            serde_json::Value::String(s) if s.trim().is_empty() => None,
            serde_json::Value::String(s) => Some((key.clone(), Value::from(s.trim()))),
            other => Some((key.clone(), to_value(other))),
        })
        .collect()
}

fn to_value(value: &serde_json::Value) -> Value {
    match value {
        serde_json::Value::Null => Value::from(()),
        serde_json::Value::Bool(b) => Value::from(*b),
        serde_json::Value::Number(n) => {
            if let Some(i) = n.as_i64() {
                Value::from(i)
            } else if let Some(u) = n.as_u64() {
                Value::from(u)
            } else {
                Value::from(n.as_f64().unwrap_or_default())
            }
        }
        serde_json::Value::String(s) => Value::from(s.as_str()),
        serde_json::Value::Array(items) => {
            Value::from(items.iter().map(to_value).collect::<Vec<_>>())
        }
        serde_json::Value::Object(map) => Value::from(object_entries(map)),
    }
}

/// Prints values: nothing for none or undefined (never "none"), HTML-escaped in `.html`
/// templates (the five significant characters only, so URLs stay readable).
fn format_value(
    out: &mut minijinja::Output,
    state: &mut State,
    value: &Value,
) -> Result<(), Error> {
    if value.is_none() || value.is_undefined() {
        return Ok(());
    }
    if matches!(state.auto_escape(), AutoEscape::Html) && !value.is_safe() {
        let text = value.to_string();
        return out
            .write_str(&escape_html(&text))
            .map_err(|_| Error::new(ErrorKind::WriteFailure, "cannot write"));
    }
    escape_formatter(out, state, value)
}

fn escape_html(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

fn language_of(state: &State) -> Language {
    state
        .lookup("lang")
        .and_then(|v| v.as_str().and_then(|s| Language::parse(s).ok()))
        .unwrap_or(Language::En)
}

fn plain(value: &Value) -> String {
    if value.is_none() || value.is_undefined() {
        String::new()
    } else {
        value.to_string()
    }
}

/// The template function `t(key, name=value, …)`.
fn translate(catalog: &Catalog, state: &State, key: &str, kwargs: &Kwargs) -> Result<Value, Error> {
    let mut values = BTreeMap::new();
    let names: Vec<String> = kwargs.args().map(str::to_owned).collect();
    for name in names {
        let value: Value = kwargs.get(&name)?;
        values.insert(name, plain(&value));
    }
    kwargs.assert_all_used()?;
    let text = catalog.text(language_of(state), key);
    if matches!(state.auto_escape(), AutoEscape::Html) {
        let html = interpolate(&escape_html(&text), |name| {
            values
                .get(name)
                .map(|v| format!("<bdi>{}</bdi>", escape_html(v)))
        });
        Ok(Value::from_safe_string(html))
    } else {
        Ok(Value::from(interpolate(&text, |name| {
            values.get(name).cloned()
        })))
    }
}

fn parse_time(value: &Value) -> Option<DateTime<Utc>> {
    let text = value.as_str()?;
    DateTime::parse_from_rfc3339(text.trim())
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

/// `2026-03-20T11:53:02Z` as "20 March 2026, 11:53 UTC", in the language's words. A value that
/// is not an RFC 3339 time is shown as it is.
fn format_datetime(catalog: &Catalog, lang: Language, value: &Value) -> String {
    let Some(t) = parse_time(value) else {
        return plain(value);
    };
    let month = catalog.text(lang, &format!("date.month_{}", t.month()));
    let pattern = catalog.text(lang, "date.format");
    interpolate(&pattern, |name| match name {
        "day" => Some(t.day().to_string()),
        "month" => Some(month.clone()),
        "year" => Some(t.year().to_string()),
        "time" => Some(format!("{:02}:{:02}", t.hour(), t.minute())),
        _ => None,
    })
}

/// `2026-03-20T11:53:02Z` as "2026-03-20 11:53 UTC" (for SMS, where space is short).
fn format_datetime_short(value: &Value) -> String {
    match parse_time(value) {
        Some(t) => format!(
            "{:04}-{:02}-{:02} {:02}:{:02} UTC",
            t.year(),
            t.month(),
            t.day(),
            t.hour(),
            t.minute()
        ),
        None => plain(value),
    }
}

/// Joins lines and collapses runs of whitespace (subjects and SMS are one line).
fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Trailing spaces removed, at most one blank line in a row, one final newline.
fn tidy_text(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut blank = true;
    for line in text.lines().map(str::trim_end) {
        if line.is_empty() {
            if !blank {
                out.push('\n');
            }
            blank = true;
        } else {
            out.push_str(line);
            out.push('\n');
            blank = false;
        }
    }
    while out.ends_with("\n\n") {
        out.pop();
    }
    out
}

/// Trailing spaces and blank lines removed, one final newline.
fn tidy_html(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for line in text.lines().map(str::trim_end).filter(|l| !l.is_empty()) {
        out.push_str(line);
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn everything_loads() {
        let templates = Templates::new();
        assert!(templates.problems.is_empty(), "{:?}", templates.problems);
        assert_eq!(
            templates.env.templates().count(),
            TEMPLATE_SOURCES.len(),
            "a template is missing"
        );
    }

    #[test]
    fn templates_are_shareable() {
        fn check<T: Send + Sync + Clone + std::fmt::Debug + 'static>() {}
        check::<Templates>();
    }

    #[test]
    fn dates() {
        let (catalog, _) = Catalog::load();
        let t = Value::from("2026-03-20T11:53:02Z");
        assert_eq!(
            format_datetime(&catalog, Language::En, &t),
            "20 March 2026, 11:53 UTC"
        );
        assert_eq!(
            format_datetime(&catalog, Language::De, &t),
            "20. März 2026, 11:53 Uhr UTC"
        );
        let offset = Value::from("2026-01-01T00:30:00+02:00");
        assert_eq!(
            format_datetime(&catalog, Language::Fr, &offset),
            "31 décembre 2025 à 22:30 UTC"
        );
        assert_eq!(format_datetime_short(&t), "2026-03-20 11:53 UTC");
        assert_eq!(
            format_datetime_short(&Value::from("soon")),
            "soon",
            "not a time: shown as is"
        );
        assert_eq!(format_datetime_short(&Value::UNDEFINED), "");
    }

    #[test]
    fn tidying() {
        assert_eq!(tidy_text("\n\na  \n\n\n\nb\n\n"), "a\n\nb\n");
        assert_eq!(one_line("  a\n b  c "), "a b c");
        assert_eq!(
            escape_html("<a href='x'>&\"</a>"),
            "&lt;a href=&#39;x&#39;&gt;&amp;&quot;&lt;/a&gt;"
        );
    }

    #[test]
    fn every_message_template_has_its_files() {
        let names: Vec<&str> = TEMPLATE_SOURCES.iter().map(|(n, _)| *n).collect();
        for (name, channels) in MESSAGES {
            for channel in channels {
                let files: &[&str] = match channel {
                    Channel::Email => &["subject.txt", "email.txt", "email.html"],
                    Channel::Sms => &["sms.txt"],
                };
                for file in files {
                    let path = format!("messages/{name}.{file}");
                    assert!(names.contains(&path.as_str()), "{path}");
                }
            }
        }
        for page in Page::ALL {
            let path = format!("pages/{}.html", page.as_str());
            assert!(names.contains(&path.as_str()), "{path}");
        }
    }
}
