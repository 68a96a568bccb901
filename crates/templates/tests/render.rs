//! Every message template and every page, in all nine languages: snapshots of what people get,
//! and the properties that must hold whatever the wording.
#![allow(clippy::unwrap_used)]

use serde_json::{Value, json};
use usher_templates::{Channel, Language, Page, Rendered, STYLESHEET, Templates};

/// Every (template, channel) the delivery worker may ask for.
const MESSAGES: [(&str, Channel); 7] = [
    ("invitation", Channel::Email),
    ("invitation", Channel::Sms),
    ("email_verification", Channel::Email),
    ("phone_verification", Channel::Sms),
    ("email_change", Channel::Email),
    ("password_reset", Channel::Email),
    ("password_reset", Channel::Sms),
];

const URL_INVITE: &str = "https://users.example.org/invite/0b6f4a8e-5d1c-4b7a-9e3f-2c8d7a6b5e41";
const URL_VERIFY: &str = "https://users.example.org/verify-email?userId=1024&code=K7P2QX";
const URL_CONFIRM: &str =
    "https://users.example.org/confirm-email?token=4f3c2b1a-0d9e-4c8b-a7f6-e5d4c3b2a190";
const URL_RESET: &str = "https://portal.example.org/reset?user=1024&code=K7P2QX";

/// The params the core writes, as in `usher_core::service::messages`.
fn params(template: &str) -> Value {
    match template {
        "invitation" => json!({
            "userId": "1024", "firstName": "Anna", "lastName": "Novak",
            "organization": "Example Clinic", "url": URL_INVITE,
            "expiresAt": "2026-03-20T11:53:02Z",
        }),
        "email_verification" => json!({
            "userId": "1024", "orgId": "1", "firstName": "Anna", "lastName": "Novak",
            "code": "K7P2QX", "url": URL_VERIFY, "expiresAt": "2026-03-17T10:38:37.991821898Z",
        }),
        "phone_verification" => json!({
            "userId": "1024", "firstName": "Anna", "code": "K7P2QX",
            "expiresAt": "2026-03-17T10:38:37Z",
        }),
        "email_change" => json!({
            "userId": "1024", "firstName": "Anna", "newEmail": "anna.novak@example.net",
            "url": URL_CONFIRM, "expiresAt": "2026-03-18T09:38:37Z",
        }),
        "password_reset" => json!({
            "userId": "1024", "firstName": "Anna", "code": "K7P2QX", "url": URL_RESET,
            "expiresAt": "2026-03-17T10:38:37Z",
        }),
        other => panic!("no params for {other}"),
    }
}

fn page_ctx(page: Page) -> Value {
    match page {
        Page::InviteForm => json!({
            "action": "/invite/0b6f4a8e-5d1c-4b7a-9e3f-2c8d7a6b5e41", "csrf": "c5rf-t0ken",
            "email_required": true, "first_name": "Anna", "organization": "Example Clinic",
            "error": "The two passwords do not match.",
        }),
        Page::VerifyEmailForm => json!({
            "action": "/verify-email", "csrf": "c5rf-t0ken", "user_id": "1024", "code": "K7P2QX",
            "email": "anna@example.org",
        }),
        Page::VerifyEmailDone => json!({ "email": "anna@example.org" }),
        Page::ConfirmEmailForm => json!({
            "action": "/confirm-email/4f3c2b1a", "csrf": "c5rf-t0ken",
            "email": "anna@example.org", "new_email": "anna.novak@example.net",
        }),
        Page::ConfirmEmailDone => json!({ "new_email": "anna.novak@example.net" }),
        Page::BadRequest => json!({ "error": "This form has expired." }),
        Page::InviteDone | Page::LinkGone => json!({}),
    }
}

fn show(r: &Rendered) -> String {
    let mut out = String::new();
    if !r.subject.is_empty() {
        out.push_str(&format!("subject: {}\n\n", r.subject));
    }
    out.push_str("----- text -----\n");
    out.push_str(&r.text);
    if let Some(html) = &r.html {
        out.push_str("\n----- html -----\n");
        out.push_str(html);
    }
    out
}

fn channel_name(channel: Channel) -> &'static str {
    channel.as_str()
}

#[test]
fn message_snapshots() {
    let templates = Templates::new();
    for (template, channel) in MESSAGES {
        for lang in Language::ALL {
            let rendered = templates
                .render_message(template, channel, lang, &params(template))
                .unwrap();
            insta::assert_snapshot!(
                format!("message_{template}_{}_{lang}", channel_name(channel)),
                show(&rendered)
            );
        }
    }
}

#[test]
fn page_snapshots() {
    let templates = Templates::new();
    for page in Page::ALL {
        for lang in Language::ALL {
            // The handlers pass errors already translated.
            let mut ctx = page_ctx(page);
            if page == Page::InviteForm {
                ctx["error"] = json!(templates.text(lang, "error.password_mismatch"));
            }
            if page == Page::BadRequest {
                ctx["error"] = json!(templates.text(lang, "error.csrf"));
            }
            let html = templates.render_page(page, lang, &ctx).unwrap();
            insta::assert_snapshot!(format!("page_{}_{lang}", page.as_str()), html);
        }
    }
}

#[test]
fn stylesheet_snapshot() {
    insta::assert_snapshot!("stylesheet", STYLESHEET);
}

fn all_messages(
    templates: &Templates,
    params_of: impl Fn(&str) -> Value,
) -> Vec<(String, Rendered)> {
    let mut out = Vec::new();
    for (template, channel) in MESSAGES {
        for lang in Language::ALL {
            let r = templates
                .render_message(template, channel, lang, &params_of(template))
                .unwrap_or_else(|e| panic!("{template} {channel:?} {lang}: {e}"));
            out.push((format!("{template} {} {lang}", channel.as_str()), r));
        }
    }
    out
}

#[test]
fn emails_have_subject_text_and_a_complete_html_document() {
    let templates = Templates::new();
    for (what, r) in all_messages(&templates, params) {
        if what.contains(" sms ") {
            assert!(r.subject.is_empty(), "{what}");
            assert!(r.html.is_none(), "{what}");
            assert!(!r.text.contains('\n'), "{what}: one line");
            continue;
        }
        assert!(!r.subject.trim().is_empty(), "{what}");
        assert!(!r.subject.contains('\n'), "{what}");
        let html = r.html.as_deref().unwrap();
        let lang = what.rsplit(' ').next().unwrap();
        let dir = if lang == "ar" { "rtl" } else { "ltr" };
        assert!(html.starts_with("<!doctype html>\n"), "{what}");
        assert!(
            html.contains(&format!("<html lang=\"{lang}\" dir=\"{dir}\">")),
            "{what}"
        );
        assert!(html.contains("<meta charset=\"utf-8\">"), "{what}");
        assert!(html.trim_end().ends_with("</html>"), "{what}");
        assert!(html.contains("Anna"), "{what}: greets by first name");
        assert!(r.text.contains("Anna"), "{what}: greets by first name");
    }
}

#[test]
fn the_link_is_a_button_and_raw_text_and_the_code_is_shown() {
    let templates = Templates::new();
    for (what, r) in all_messages(&templates, params) {
        let template = what.split(' ').next().unwrap();
        let p = params(template);
        if let Some(code) = p["code"].as_str() {
            assert!(r.text.contains(code), "{what}: code in text");
            if let Some(html) = &r.html {
                assert!(
                    html.contains(&format!(">{code}</span>")),
                    "{what}: code shown"
                );
            }
        }
        if let Some(url) = p["url"].as_str() {
            if what.contains(" sms ") && template != "invitation" {
                continue; // the password-reset SMS carries the code only
            }
            assert!(r.text.contains(url), "{what}: URL in text");
            if let Some(html) = &r.html {
                let escaped = url.replace('&', "&amp;");
                assert!(
                    html.contains(&format!("<a href=\"{escaped}\" style=")),
                    "{what}: button"
                );
                assert!(html.contains(&format!(">{escaped}</a>")), "{what}: raw URL");
            }
        }
    }
}

#[test]
fn arabic_is_right_to_left() {
    let templates = Templates::new();
    let r = templates
        .render_message(
            "invitation",
            Channel::Email,
            Language::Ar,
            &params("invitation"),
        )
        .unwrap();
    assert!(r.html.unwrap().contains("<html lang=\"ar\" dir=\"rtl\">"));
    for page in Page::ALL {
        let html = templates
            .render_page(page, Language::Ar, &page_ctx(page))
            .unwrap();
        assert!(html.contains("<html lang=\"ar\" dir=\"rtl\">"), "{page:?}");
        let html = templates
            .render_page(page, Language::De, &page_ctx(page))
            .unwrap();
        assert!(html.contains("<html lang=\"de\" dir=\"ltr\">"), "{page:?}");
    }
}

const NASTY: &str = "<script>alert(\"x\")</script>&'";

#[test]
fn html_is_escaped() {
    let templates = Templates::new();
    let nasty = |template: &str| {
        let mut p = params(template);
        for key in ["firstName", "lastName", "organization", "newEmail", "code"] {
            if p.get(key).is_some() {
                p[key] = json!(NASTY);
            }
        }
        p
    };
    for (what, r) in all_messages(&templates, nasty) {
        if let Some(html) = &r.html {
            assert!(!html.contains("<script"), "{what}");
            assert!(
                html.contains("&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;&amp;&#39;"),
                "{what}"
            );
        }
        if !what.contains(" sms ") {
            // The plain-text part is not HTML: the name appears as written.
            assert!(r.text.contains(NASTY), "{what}");
        }
    }
    let ctx = json!({
        "action": "/x?a=1&b=\"2\"", "csrf": NASTY, "error": NASTY, "email_required": true,
        "first_name": NASTY, "organization": NASTY, "email": NASTY, "new_email": NASTY,
        "user_id": NASTY, "code": NASTY,
    });
    for page in Page::ALL {
        for lang in Language::ALL {
            let html = templates.render_page(page, lang, &ctx).unwrap();
            assert!(!html.contains("<script"), "{page:?} {lang}");
            assert!(!html.contains("\"2\""), "{page:?} {lang}");
        }
    }
}

#[test]
fn missing_optional_params_render_gracefully() {
    let templates = Templates::new();
    let bare = |template: &str| {
        let mut p = params(template);
        let map = p.as_object_mut().unwrap();
        map.insert("firstName".into(), Value::Null);
        map.remove("lastName");
        if template == "password_reset" {
            map.remove("url");
        }
        if template == "invitation" {
            map.insert("organization".into(), json!("  "));
        }
        p
    };
    for (what, r) in all_messages(&templates, bare) {
        let plain = format!("{}\n{}", r.subject, r.text);
        let all = format!("{plain}\n{}", r.html.unwrap_or_default());
        for bad in ["{", "}}", "  ,", " ,", "()"] {
            assert!(!all.contains(bad), "{what}: {bad:?} in\n{all}");
        }
        assert!(!has_empty_word(&plain), "{what}:\n{plain}");
        assert!(
            !has_empty_word(&all.replace("text-decoration:none", "")),
            "{what}"
        );
        assert!(!all.contains("Anna"), "{what}");
    }
    // Only the neutral greeting, and no link part, in a code-only password reset.
    let r = templates
        .render_message(
            "password_reset",
            Channel::Email,
            Language::En,
            &bare("password_reset"),
        )
        .unwrap();
    assert!(r.text.starts_with("Hello,\n"), "{}", r.text);
    assert!(!r.text.contains("http"));
    assert!(!r.html.unwrap().contains("<a href"));
    // Pages with an empty context.
    for page in Page::ALL {
        for lang in Language::ALL {
            let html = templates.render_page(page, lang, &json!({})).unwrap();
            for bad in ["{", "role=\"alert\""] {
                assert!(!html.contains(bad), "{page:?} {lang}: {bad:?}");
            }
            assert!(!has_empty_word(&html), "{page:?} {lang}");
        }
    }
}

/// Whether the text has a word that an absent value prints as in some template engine.
fn has_empty_word(text: &str) -> bool {
    text.split(|c: char| !c.is_alphanumeric())
        .any(|word| ["None", "none", "null", "undefined", "nil", "NaN"].contains(&word))
}

#[test]
fn sms_are_short_and_carry_the_code_or_link() {
    let templates = Templates::new();
    for (template, channel) in MESSAGES {
        if channel != Channel::Sms {
            continue;
        }
        let p = params(template);
        for lang in Language::ALL {
            let r = templates
                .render_message(template, channel, lang, &p)
                .unwrap();
            match template {
                "invitation" => assert!(r.text.ends_with(URL_INVITE), "{lang}: {}", r.text),
                _ => assert!(r.text.contains("K7P2QX"), "{lang}: {}", r.text),
            }
            assert!(
                r.text.chars().count() <= 200,
                "{template} {lang}: {}",
                r.text
            );
        }
        let english = templates
            .render_message(template, channel, Language::En, &p)
            .unwrap();
        assert!(
            english.text.is_ascii() && english.text.len() <= 160,
            "{template}: {} ({} chars)",
            english.text,
            english.text.len()
        );
    }
}

#[test]
fn unknown_templates_and_wrong_channels_are_errors() {
    let templates = Templates::new();
    let p = params("invitation");
    let err = templates
        .render_message("welcome", Channel::Email, Language::En, &p)
        .unwrap_err();
    assert!(err.to_string().contains("welcome"), "{err}");
    for bad in ["", "../pages/layout", "layout", "invitation.sms"] {
        assert!(
            templates
                .render_message(bad, Channel::Sms, Language::En, &p)
                .is_err()
        );
    }
    assert!(
        templates
            .render_message("phone_verification", Channel::Email, Language::En, &p)
            .is_err()
    );
    assert!(
        templates
            .render_message("email_change", Channel::Sms, Language::En, &p)
            .is_err()
    );
    assert!(
        templates
            .render_message("invitation", Channel::Email, Language::En, &json!([1, 2]))
            .is_err()
    );
    assert!(
        templates
            .render_page(Page::LinkGone, Language::En, &json!("x"))
            .is_err()
    );
}

#[test]
fn expiry_is_written_out_in_each_language() {
    let templates = Templates::new();
    let p = params("invitation");
    let expect = [
        (Language::En, "20 March 2026, 11:53 UTC"),
        (Language::De, "20. März 2026, 11:53 Uhr UTC"),
        (Language::Es, "20 de marzo de 2026, 11:53 UTC"),
        (Language::Fr, "20 mars 2026 à 11:53 UTC"),
        (Language::It, "20 marzo 2026, ore 11:53 UTC"),
        (Language::Nl, "20 maart 2026 om 11:53 uur UTC"),
        (Language::Pl, "20 marca 2026, godz. 11:53 UTC"),
        (Language::Cs, "20. března 2026 v 11:53 UTC"),
        (Language::Ar, "20 مارس 2026، الساعة 11:53 UTC"),
    ];
    for (lang, date) in expect {
        let r = templates
            .render_message("invitation", Channel::Email, lang, &p)
            .unwrap();
        assert!(r.text.contains(date), "{lang}: {}", r.text);
        let sms = templates
            .render_message("invitation", Channel::Sms, lang, &p)
            .unwrap();
        assert!(
            sms.text.contains("2026-03-20 11:53 UTC"),
            "{lang}: {}",
            sms.text
        );
    }
}

#[test]
fn pages_are_accessible_and_self_contained() {
    let templates = Templates::new();
    for page in Page::ALL {
        for lang in Language::ALL {
            let html = templates.render_page(page, lang, &page_ctx(page)).unwrap();
            let what = format!("{page:?} {lang}");
            assert!(html.starts_with("<!doctype html>\n"), "{what}");
            assert!(html.contains("<meta charset=\"utf-8\">"), "{what}");
            assert!(html.contains("<meta name=\"viewport\""), "{what}");
            assert!(
                html.contains("<link rel=\"stylesheet\" href=\"/pages/style.css\">"),
                "{what}"
            );
            assert_eq!(html.matches("<main>").count(), 1, "{what}");
            assert_eq!(html.matches("<h1>").count(), 1, "{what}");
            let title = templates.text(lang, title_key(page));
            assert!(html.contains(&format!("<title>{title}</title>")), "{what}");
            assert!(html.contains(&format!("<h1>{title}</h1>")), "{what}");
            for banned in [
                "<script",
                "style=",
                "<style",
                "http://",
                "https://",
                "javascript:",
            ] {
                assert!(!html.contains(banned), "{what}: {banned}");
            }
            // Every visible input has a label.
            for input in html.split("<input").skip(1) {
                let tag = &input[..input.find('>').unwrap()];
                if tag.contains("type=\"hidden\"") {
                    continue;
                }
                let id = tag
                    .split("id=\"")
                    .nth(1)
                    .unwrap()
                    .split('"')
                    .next()
                    .unwrap();
                assert!(
                    html.contains(&format!("<label for=\"{id}\">")),
                    "{what}: {id}"
                );
            }
            if let Some(error) = page_ctx(page)["error"].as_str() {
                assert!(
                    html.contains(&format!(
                        "<p class=\"alert\" role=\"alert\" id=\"error\">{error}</p>"
                    )),
                    "{what}"
                );
            }
        }
    }
}

fn title_key(page: Page) -> &'static str {
    match page {
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

#[test]
fn forms_post_what_the_handlers_read() {
    let templates = Templates::new();
    let invite = templates
        .render_page(Page::InviteForm, Language::En, &page_ctx(Page::InviteForm))
        .unwrap();
    assert!(invite.contains(
        "<form method=\"post\" action=\"/invite/0b6f4a8e-5d1c-4b7a-9e3f-2c8d7a6b5e41\">"
    ));
    assert!(invite.contains("<input type=\"hidden\" name=\"csrf\" value=\"c5rf-t0ken\">"));
    for field in ["password", "password_confirm"] {
        assert!(invite.contains(&format!(
            "<input type=\"password\" id=\"{field}\" name=\"{field}\" autocomplete=\"new-password\" minlength=\"8\" maxlength=\"1024\" required"
        )));
    }
    assert!(invite.contains("type=\"email\" id=\"email\" name=\"email\" autocomplete=\"email\""));
    // The fields come in order: email, password, repeat, then the button.
    let at = |s: &str| invite.find(s).unwrap();
    assert!(at("id=\"email\"") < at("id=\"password\""));
    assert!(at("id=\"password\"") < at("id=\"password_confirm\""));
    assert!(at("id=\"password_confirm\"") < at("<button type=\"submit\">"));
    assert!(invite.contains("Example Clinic"));
    assert!(invite.contains("Welcome, <bdi>Anna</bdi>."));

    let mut ctx = page_ctx(Page::InviteForm);
    ctx["email_required"] = json!(false);
    let no_email = templates
        .render_page(Page::InviteForm, Language::En, &ctx)
        .unwrap();
    assert!(!no_email.contains("name=\"email\""));

    let verify = templates
        .render_page(
            Page::VerifyEmailForm,
            Language::En,
            &page_ctx(Page::VerifyEmailForm),
        )
        .unwrap();
    for (name, value) in [
        ("csrf", "c5rf-t0ken"),
        ("userId", "1024"),
        ("code", "K7P2QX"),
    ] {
        assert!(
            verify.contains(&format!(
                "<input type=\"hidden\" name=\"{name}\" value=\"{value}\">"
            )),
            "{name}"
        );
    }
    assert!(verify.contains("<bdi>anna@example.org</bdi>"));
    // A numeric user id is posted back as it is.
    let mut ctx = page_ctx(Page::VerifyEmailForm);
    ctx["user_id"] = json!(1024);
    let numeric = templates
        .render_page(Page::VerifyEmailForm, Language::En, &ctx)
        .unwrap();
    assert!(numeric.contains("name=\"userId\" value=\"1024\""));

    let confirm = templates
        .render_page(
            Page::ConfirmEmailForm,
            Language::En,
            &page_ctx(Page::ConfirmEmailForm),
        )
        .unwrap();
    assert!(confirm.contains("<bdi>anna.novak@example.net</bdi>"));
    assert!(confirm.contains("<input type=\"hidden\" name=\"csrf\" value=\"c5rf-t0ken\">"));
}

#[test]
fn ui_strings_for_the_handlers() {
    let templates = Templates::new();
    let keys = [
        "error.password_too_short",
        "error.password_too_long",
        "error.password_common",
        "error.password_mismatch",
        "error.email_mismatch",
        "error.csrf",
        "error.generic",
    ];
    for key in keys {
        let english = templates.text(Language::En, key);
        assert_ne!(english, key);
        for lang in Language::ALL {
            let text = templates.text(lang, key);
            assert_ne!(text, key, "{lang}");
            if lang != Language::En {
                assert_ne!(text, english, "{lang} {key} is not translated");
            }
        }
    }
    assert_eq!(templates.text(Language::Fr, "no.such.key"), "no.such.key");
    assert_eq!(
        templates.text(Language::En, "error.password_too_short"),
        "The password must be at least 8 characters long."
    );
}

#[test]
fn stylesheet_is_self_contained_and_has_focus_styles() {
    assert!(STYLESHEET.contains(":focus-visible"));
    assert!(STYLESHEET.contains("margin-inline"));
    for banned in ["@import", "url(", "http"] {
        assert!(!STYLESHEET.contains(banned), "{banned}");
    }
    assert!(STYLESHEET.len() < 8000);
}
