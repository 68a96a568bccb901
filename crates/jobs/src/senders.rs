//! The ways a message leaves usher: SMTP (lettre), an HTTP webhook for SMS, or the log.

use std::time::Duration;

use async_trait::async_trait;
use lettre::message::{Mailbox, MultiPart, header};
use lettre::transport::smtp::authentication::Credentials;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use serde_json::json;

/// Installs ring as the process-wide rustls provider (HTTPS webhooks need one); idempotent.
pub fn install_crypto_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// An email ready to send.
#[derive(Debug, Clone)]
pub struct OutgoingEmail {
    /// The stable outbox id: becomes the Message-ID.
    pub id: String,
    pub to: String,
    pub subject: String,
    pub text: String,
    pub html: Option<String>,
}

/// An SMS ready to send.
#[derive(Debug, Clone)]
pub struct OutgoingSms {
    pub id: String,
    pub to: String,
    pub body: String,
}

/// Why a send failed, and whether trying again can help.
#[derive(Debug, Clone)]
pub struct SendError {
    pub permanent: bool,
    pub message: String,
}

impl SendError {
    pub fn transient(message: impl Into<String>) -> Self {
        Self {
            permanent: false,
            message: message.into(),
        }
    }

    pub fn permanent(message: impl Into<String>) -> Self {
        Self {
            permanent: true,
            message: message.into(),
        }
    }
}

#[async_trait]
pub trait EmailSender: Send + Sync {
    async fn send(&self, email: &OutgoingEmail) -> Result<(), SendError>;
}

#[async_trait]
pub trait SmsSender: Send + Sync {
    async fn send(&self, sms: &OutgoingSms) -> Result<(), SendError>;
}

/// TLS on the SMTP connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SmtpTls {
    None,
    StartTls,
    Tls,
}

/// `smtp://[user:pass@]host[:port][?tls=none|starttls|tls]` (also `smtps://` = `tls=tls`).
/// Without `tls=`, STARTTLS is required; ports default to 25 (none), 587 (starttls), 465 (tls).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SmtpUrl {
    pub host: String,
    pub port: u16,
    pub tls: SmtpTls,
    pub credentials: Option<(String, String)>,
}

impl SmtpUrl {
    pub fn parse(text: &str) -> Result<Self, String> {
        let url = url::Url::parse(text).map_err(|e| format!("invalid SMTP URL: {e}"))?;
        let mut tls = match url.scheme() {
            "smtp" => SmtpTls::StartTls,
            "smtps" => SmtpTls::Tls,
            other => {
                return Err(format!(
                    "invalid SMTP URL: scheme {other:?} (smtp:// or smtps://)"
                ));
            }
        };
        for (k, v) in url.query_pairs() {
            match (k.as_ref(), v.as_ref()) {
                ("tls", "none") => tls = SmtpTls::None,
                ("tls", "starttls") => tls = SmtpTls::StartTls,
                ("tls", "tls") => tls = SmtpTls::Tls,
                ("tls", other) => {
                    return Err(format!(
                        "invalid SMTP URL: tls={other} (none, starttls or tls)"
                    ));
                }
                (other, _) => return Err(format!("invalid SMTP URL: unknown parameter {other:?}")),
            }
        }
        let host = url
            .host_str()
            .filter(|h| !h.is_empty())
            .ok_or("invalid SMTP URL: no host")?
            .to_owned();
        let port = url.port().unwrap_or(match tls {
            SmtpTls::None => 25,
            SmtpTls::StartTls => 587,
            SmtpTls::Tls => 465,
        });
        let credentials = if url.username().is_empty() {
            None
        } else {
            let decode = |s: &str| {
                url::form_urlencoded::parse(s.as_bytes())
                    .map(|(k, _)| k.into_owned())
                    .collect::<String>()
            };
            Some((decode(url.username()), decode(url.password().unwrap_or(""))))
        };
        Ok(Self {
            host,
            port,
            tls,
            credentials,
        })
    }
}

/// Email over SMTP.
pub struct SmtpSender {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
    /// Right-hand side of Message-IDs.
    domain: String,
}

impl SmtpSender {
    pub fn new(url: &SmtpUrl, from: &str) -> Result<Self, String> {
        let from: Mailbox = from
            .parse()
            .map_err(|e| format!("invalid sender address {from:?}: {e}"))?;
        let builder = match url.tls {
            SmtpTls::None => AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&url.host),
            SmtpTls::StartTls => AsyncSmtpTransport::<Tokio1Executor>::starttls_relay(&url.host)
                .map_err(|e| format!("SMTP TLS setup: {e}"))?,
            SmtpTls::Tls => AsyncSmtpTransport::<Tokio1Executor>::relay(&url.host)
                .map_err(|e| format!("SMTP TLS setup: {e}"))?,
        };
        let mut builder = builder
            .port(url.port)
            .timeout(Some(Duration::from_secs(30)));
        if let Some((user, pass)) = &url.credentials {
            builder = builder.credentials(Credentials::new(user.clone(), pass.clone()));
        }
        let domain = from.email.domain().to_owned();
        Ok(Self {
            transport: builder.build(),
            from,
            domain,
        })
    }
}

#[async_trait]
impl EmailSender for SmtpSender {
    async fn send(&self, email: &OutgoingEmail) -> Result<(), SendError> {
        let to: Mailbox = email
            .to
            .parse()
            .map_err(|e| SendError::permanent(format!("invalid recipient {}: {e}", email.to)))?;
        let builder = Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(email.subject.clone())
            .message_id(Some(format!("<{}@{}>", email.id, self.domain)));
        let message = match &email.html {
            Some(html) => builder.multipart(MultiPart::alternative_plain_html(
                email.text.clone(),
                html.clone(),
            )),
            None => builder
                .header(header::ContentType::TEXT_PLAIN)
                .body(email.text.clone()),
        }
        .map_err(|e| SendError::permanent(format!("cannot build the message: {e}")))?;
        self.transport.send(message).await.map(|_| ()).map_err(|e| {
            if e.is_permanent() {
                SendError::permanent(format!("SMTP: {e}"))
            } else {
                SendError::transient(format!("SMTP: {e}"))
            }
        })
    }
}

/// SMS through an HTTP webhook: `POST {url}` with `{"to", "body", "messageId"}`; any 2xx means
/// delivered.
pub struct WebhookSmsSender {
    client: reqwest::Client,
    url: String,
    token: Option<String>,
}

impl WebhookSmsSender {
    pub fn new(url: &str, token: Option<String>) -> Result<Self, String> {
        let parsed = url::Url::parse(url).map_err(|e| format!("invalid SMS webhook URL: {e}"))?;
        if !matches!(parsed.scheme(), "http" | "https") {
            return Err("invalid SMS webhook URL: http:// or https:// expected".to_owned());
        }
        install_crypto_provider();
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(15))
            .build()
            .map_err(|e| format!("HTTP client: {e}"))?;
        Ok(Self {
            client,
            url: url.to_owned(),
            token,
        })
    }
}

#[async_trait]
impl SmsSender for WebhookSmsSender {
    async fn send(&self, sms: &OutgoingSms) -> Result<(), SendError> {
        let mut req = self.client.post(&self.url).json(&json!({
            "to": sms.to,
            "body": sms.body,
            "messageId": sms.id,
        }));
        if let Some(t) = &self.token {
            req = req.bearer_auth(t);
        }
        let res = req
            .send()
            .await
            .map_err(|e| SendError::transient(format!("SMS webhook: {e}")))?;
        let status = res.status();
        if status.is_success() {
            Ok(())
        } else if status.is_client_error() && status.as_u16() != 408 && status.as_u16() != 429 {
            Err(SendError::permanent(format!(
                "SMS webhook answered {status}"
            )))
        } else {
            Err(SendError::transient(format!(
                "SMS webhook answered {status}"
            )))
        }
    }
}

/// Writes every message, link included, to the log: the default when nothing is configured, so
/// the embedded default works out of the box.
pub struct LogSender;

#[async_trait]
impl EmailSender for LogSender {
    async fn send(&self, email: &OutgoingEmail) -> Result<(), SendError> {
        tracing::info!(
            target: "usher::outbox",
            message_id = %email.id,
            to = %email.to,
            subject = %email.subject,
            "email (no SMTP server configured; USHER_SMTP_URL):\n{}",
            email.text
        );
        Ok(())
    }
}

#[async_trait]
impl SmsSender for LogSender {
    async fn send(&self, sms: &OutgoingSms) -> Result<(), SendError> {
        tracing::info!(
            target: "usher::outbox",
            message_id = %sms.id,
            to = %sms.to,
            "SMS (no SMS webhook configured; USHER_SMS_WEBHOOK_URL): {}",
            sms.body
        );
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn smtp_urls() {
        let u = SmtpUrl::parse("smtp://user:p%40ss@mail.example:587?tls=starttls").unwrap();
        assert_eq!(u.host, "mail.example");
        assert_eq!(u.port, 587);
        assert_eq!(u.tls, SmtpTls::StartTls);
        assert_eq!(u.credentials, Some(("user".to_owned(), "p@ss".to_owned())));
        let u = SmtpUrl::parse("smtp://127.0.0.1:2525?tls=none").unwrap();
        assert_eq!((u.port, u.tls, u.credentials), (2525, SmtpTls::None, None));
        assert_eq!(SmtpUrl::parse("smtps://mail.example").unwrap().port, 465);
        assert_eq!(
            SmtpUrl::parse("smtp://mail.example?tls=tls").unwrap().tls,
            SmtpTls::Tls
        );
        assert_eq!(SmtpUrl::parse("smtp://mail.example").unwrap().port, 587);
        for bad in [
            "http://x",
            "smtp://x?tls=maybe",
            "smtp://x?foo=1",
            "smtp://",
            "nonsense",
        ] {
            assert!(SmtpUrl::parse(bad).is_err(), "{bad}");
        }
    }
}
