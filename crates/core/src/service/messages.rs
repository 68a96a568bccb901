//! The outbox messages and one-time codes that flows create. Rendering into text happens in the
//! delivery worker; a message here carries the template name and the values it needs.

use serde_json::json;

use super::Services;
use crate::model::*;
use crate::secrets::{hash_code, new_code, new_message_id};
use crate::types::*;

impl Services {
    /// The language to write to a user in: its preferred language if usher speaks it, else English.
    pub(crate) fn language_of(user: &User) -> Language {
        user.preferred_language
            .as_deref()
            .and_then(Language::from_tag)
            .unwrap_or(Language::En)
    }

    fn message(
        &self,
        channel: Channel,
        template: &str,
        language: Language,
        recipient: &str,
        user: &User,
        params: serde_json::Value,
    ) -> OutboxMessage {
        OutboxMessage {
            id: new_message_id(),
            channel,
            template: template.to_owned(),
            language,
            recipient: recipient.to_owned(),
            user_id: Some(user.id),
            org_id: Some(user.org_id),
            params,
            created_at: self.now(),
        }
    }

    /// A fresh one-time code for `purpose`, its stored row, and the code itself.
    pub(crate) fn code_row(
        &self,
        user: &User,
        purpose: CodePurpose,
        target: Option<String>,
    ) -> (OneTimeCode, String) {
        let now = self.now();
        let code = new_code(self.config().code_length);
        let row = OneTimeCode {
            user_id: user.id,
            purpose,
            code_hash: hash_code(&code),
            target,
            expires_at: now.plus(self.config().code_ttl),
            attempts: 0,
            created_at: now,
        };
        (row, code)
    }

    /// A link to usher's own page, or the caller's template filled in.
    fn link(
        &self,
        user: &User,
        code: &str,
        template: Option<&UrlTemplate>,
        own: impl FnOnce() -> String,
    ) -> String {
        match template {
            Some(t) => t.render(&user.id.to_string(), code, &user.org_id.to_string()),
            None => own(),
        }
    }

    /// A code for the user's current email address and the message that carries its link (from
    /// `template`, else usher's `/verify-email` page).
    pub(crate) fn email_verification(
        &self,
        user: &User,
        email: &Email,
        template: Option<&UrlTemplate>,
    ) -> (OneTimeCode, OutboxMessage, String) {
        let (row, code) = self.code_row(
            user,
            CodePurpose::EmailVerification,
            Some(email.normalized()),
        );
        let url = self.link(user, &code, template, || {
            format!(
                "{}/verify-email?userId={}&code={}",
                self.config().public_url,
                user.id,
                code
            )
        });
        let msg = self.message(
            Channel::Email,
            "email_verification",
            Self::language_of(user),
            email.as_str(),
            user,
            json!({
                "userId": user.id.to_string(),
                "orgId": user.org_id.to_string(),
                "firstName": user.first_name,
                "lastName": user.last_name,
                "code": code,
                "url": url,
                "expiresAt": row.expires_at.rfc3339(),
            }),
        );
        (row, msg, code)
    }

    /// An SMS code for the user's current phone number.
    pub(crate) fn phone_verification(
        &self,
        user: &User,
        phone: &Phone,
    ) -> (OneTimeCode, OutboxMessage, String) {
        let (row, code) = self.code_row(
            user,
            CodePurpose::PhoneVerification,
            Some(phone.as_str().to_owned()),
        );
        let msg = self.message(
            Channel::Sms,
            "phone_verification",
            Self::language_of(user),
            phone.as_str(),
            user,
            json!({
                "userId": user.id.to_string(),
                "firstName": user.first_name,
                "code": code,
                "expiresAt": row.expires_at.rfc3339(),
            }),
        );
        (row, msg, code)
    }

    /// A password-reset code, and the message carrying it by `channel` when it is to be sent.
    pub(crate) fn password_reset_message(
        &self,
        user: &User,
        channel: Channel,
        template: Option<&UrlTemplate>,
    ) -> Result<(OneTimeCode, OutboxMessage, String), crate::Error> {
        let (row, code) = self.code_row(user, CodePurpose::PasswordReset, None);
        let recipient = match channel {
            Channel::Email => user.email.as_ref().map(|e| e.as_str().to_owned()),
            Channel::Sms => user.phone.as_ref().map(|p| p.as_str().to_owned()),
        }
        .ok_or_else(|| crate::Error::FailedPrecondition {
            code: "no_contact",
            message: match channel {
                Channel::Email => "The user has no email address to send the code to".to_owned(),
                Channel::Sms => "The user has no phone number to send the code to".to_owned(),
            },
        })?;
        let url = template.map(|t| t.render(&user.id.to_string(), &code, &user.org_id.to_string()));
        let msg = self.message(
            channel,
            "password_reset",
            Self::language_of(user),
            &recipient,
            user,
            json!({
                "userId": user.id.to_string(),
                "firstName": user.first_name,
                "code": code,
                "url": url,
                "expiresAt": row.expires_at.rfc3339(),
            }),
        );
        Ok((row, msg, code))
    }

    /// The confirmation link of an email change, sent to the current address.
    pub(crate) fn email_change_message(
        &self,
        user: &User,
        current: &Email,
        new_email: &Email,
        token: &str,
        expires_at: Timestamp,
    ) -> OutboxMessage {
        let url = format!("{}/confirm-email/{}", self.config().public_url, token);
        self.message(
            Channel::Email,
            "email_change",
            Self::language_of(user),
            current.as_str(),
            user,
            json!({
                "userId": user.id.to_string(),
                "firstName": user.first_name,
                "newEmail": new_email.as_str(),
                "url": url,
                "expiresAt": expires_at.rfc3339(),
            }),
        )
    }

    /// The invitation by email and/or SMS, as asked; its link is made from the invitation's
    /// template when it has one, else usher's invitation page.
    pub(crate) fn invitation_messages(
        &self,
        user: &User,
        inv: &Invitation,
        org_name: &str,
        send_email: bool,
        send_sms: bool,
    ) -> Vec<OutboxMessage> {
        let url = self.link(user, &inv.token, inv.url_template.as_ref(), || {
            inv.url(&self.config().public_url)
        });
        let params = json!({
            "userId": user.id.to_string(),
            "firstName": user.first_name,
            "lastName": user.last_name,
            "organization": org_name,
            "url": url,
            "expiresAt": inv.expires_at.rfc3339(),
        });
        let mut out = Vec::new();
        if send_email && let Some(email) = inv.email.as_ref() {
            out.push(self.message(
                Channel::Email,
                "invitation",
                inv.language,
                email.as_str(),
                user,
                params.clone(),
            ));
        }
        if send_sms && let Some(phone) = inv.phone.as_ref() {
            out.push(self.message(
                Channel::Sms,
                "invitation",
                inv.language,
                phone.as_str(),
                user,
                params,
            ));
        }
        out
    }
}
