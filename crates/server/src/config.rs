//! Configuration, layered: built-in defaults, then a TOML file, then `USHER_*` environment
//! variables, then command-line flags (each later one wins).

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use serde::Deserialize;

/// Everything `usher serve` needs, after layering.
#[derive(Debug, Clone)]
pub struct Config {
    pub listen: SocketAddr,
    pub database_url: String,
    /// Base of links in messages; defaults to `http://{listen}`.
    pub public_url: String,
    pub bootstrap_token: Option<String>,
    pub log: String,
    pub sweep_interval: Duration,
    pub pg_pool_size: usize,
    pub max_json_body: usize,
    pub max_import_body: usize,
    /// `smtp://[user:pass@]host:port?tls=none|starttls|tls`; none = messages go to the log.
    pub smtp_url: Option<String>,
    /// Sender of emails; defaults to `usher <noreply@{public host}>`.
    pub mail_from: String,
    /// SMS webhook; none = SMS go to the log.
    pub sms_webhook_url: Option<String>,
    pub sms_webhook_token: Option<String>,
    /// Delivery attempts before a message is marked failed.
    pub delivery_max_attempts: i32,
    /// Wait before the second delivery attempt (doubles each time, at most an hour).
    pub delivery_retry: Duration,
    /// Longest wait between looks at the outbox.
    pub delivery_poll: Duration,
    /// Take the client address for brute-force limits from the last `X-Forwarded-For` entry
    /// (only behind a reverse proxy that sets it).
    pub trust_forwarded_for: bool,
}

pub const DEFAULT_LISTEN: &str = "127.0.0.1:8080";
pub const DEFAULT_DATABASE_URL: &str = "sqlite://usher-data/usher.db";
pub const DEFAULT_LOG: &str = "info";

/// The keys a TOML file may set (the same names as the flags, with underscores).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    pub listen: Option<String>,
    pub database_url: Option<String>,
    pub public_url: Option<String>,
    pub bootstrap_token: Option<String>,
    pub log: Option<String>,
    pub sweep_interval_secs: Option<u64>,
    pub pg_pool_size: Option<usize>,
    pub max_json_body: Option<usize>,
    pub max_import_body: Option<usize>,
    pub smtp_url: Option<String>,
    pub mail_from: Option<String>,
    pub sms_webhook_url: Option<String>,
    pub sms_webhook_token: Option<String>,
    pub delivery_max_attempts: Option<i32>,
    pub delivery_retry_secs: Option<u64>,
    pub delivery_poll_ms: Option<u64>,
    pub trust_forwarded_for: Option<bool>,
}

impl FileConfig {
    pub fn load(path: &Path) -> Result<Self, String> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        toml::from_str(&text)
            .map_err(|e| format!("invalid configuration file {}: {e}", path.display()))
    }
}

/// Values from flags or the environment (clap reads both); `None` falls through to the file.
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    pub listen: Option<String>,
    pub database_url: Option<String>,
    pub public_url: Option<String>,
    pub bootstrap_token: Option<String>,
    pub log: Option<String>,
    pub sweep_interval_secs: Option<u64>,
    pub pg_pool_size: Option<usize>,
    pub max_json_body: Option<usize>,
    pub max_import_body: Option<usize>,
    pub smtp_url: Option<String>,
    pub mail_from: Option<String>,
    pub sms_webhook_url: Option<String>,
    pub sms_webhook_token: Option<String>,
    pub delivery_max_attempts: Option<i32>,
    pub delivery_retry_secs: Option<u64>,
    pub delivery_poll_ms: Option<u64>,
    pub trust_forwarded_for: Option<bool>,
}

/// `usher <noreply@host>` for the public URL's host (`localhost` when it is an address).
fn default_from(public_url: &str) -> String {
    let host = public_url
        .split("://")
        .nth(1)
        .unwrap_or("")
        .split(['/', ':'])
        .next()
        .unwrap_or("");
    let host = if host.is_empty() || host.parse::<std::net::IpAddr>().is_ok() || !host.contains('.')
    {
        "localhost"
    } else {
        host
    };
    format!("usher <noreply@{host}>")
}

impl Config {
    pub fn layer(file: FileConfig, o: Overrides) -> Result<Self, String> {
        let listen_text = o
            .listen
            .or(file.listen)
            .unwrap_or_else(|| DEFAULT_LISTEN.to_owned());
        let listen: SocketAddr = listen_text.parse().map_err(|_| {
            format!(
                "invalid listen address {listen_text:?} (expected host:port, e.g. 127.0.0.1:8080)"
            )
        })?;
        let public_url = o
            .public_url
            .or(file.public_url)
            .unwrap_or_else(|| format!("http://{listen}"))
            .trim_end_matches('/')
            .to_owned();
        if !(public_url.starts_with("http://") || public_url.starts_with("https://")) {
            return Err(format!(
                "invalid public URL {public_url:?} (expected http:// or https://)"
            ));
        }
        let mail_from_default = default_from(&public_url);
        Ok(Config {
            listen,
            database_url: o
                .database_url
                .or(file.database_url)
                .unwrap_or_else(|| DEFAULT_DATABASE_URL.to_owned()),
            public_url,
            bootstrap_token: o
                .bootstrap_token
                .or(file.bootstrap_token)
                .filter(|t| !t.is_empty()),
            log: o.log.or(file.log).unwrap_or_else(|| DEFAULT_LOG.to_owned()),
            sweep_interval: Duration::from_secs(
                o.sweep_interval_secs
                    .or(file.sweep_interval_secs)
                    .unwrap_or(60)
                    .max(1),
            ),
            pg_pool_size: o.pg_pool_size.or(file.pg_pool_size).unwrap_or(16).max(1),
            max_json_body: o
                .max_json_body
                .or(file.max_json_body)
                .unwrap_or(1024 * 1024),
            max_import_body: o
                .max_import_body
                .or(file.max_import_body)
                .unwrap_or(1024 * 1024 * 1024),
            smtp_url: o.smtp_url.or(file.smtp_url).filter(|u| !u.is_empty()),
            mail_from: o.mail_from.or(file.mail_from).unwrap_or(mail_from_default),
            sms_webhook_url: o
                .sms_webhook_url
                .or(file.sms_webhook_url)
                .filter(|u| !u.is_empty()),
            sms_webhook_token: o
                .sms_webhook_token
                .or(file.sms_webhook_token)
                .filter(|t| !t.is_empty()),
            delivery_max_attempts: o
                .delivery_max_attempts
                .or(file.delivery_max_attempts)
                .unwrap_or(8)
                .max(1),
            delivery_retry: Duration::from_secs(
                o.delivery_retry_secs
                    .or(file.delivery_retry_secs)
                    .unwrap_or(10)
                    .max(1),
            ),
            delivery_poll: Duration::from_millis(
                o.delivery_poll_ms
                    .or(file.delivery_poll_ms)
                    .unwrap_or(5000)
                    .max(10),
            ),
            trust_forwarded_for: o
                .trust_forwarded_for
                .or(file.trust_forwarded_for)
                .unwrap_or(false),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_then_file_then_overrides() {
        let c = Config::layer(FileConfig::default(), Overrides::default()).unwrap();
        assert_eq!(c.listen.to_string(), DEFAULT_LISTEN);
        assert_eq!(c.database_url, DEFAULT_DATABASE_URL);
        assert_eq!(c.public_url, "http://127.0.0.1:8080");
        let file: FileConfig = toml::from_str(
            "listen = \"0.0.0.0:9000\"\npublic_url = \"https://id.example/\"\nlog = \"debug\"",
        )
        .unwrap();
        let c = Config::layer(file.clone(), Overrides::default()).unwrap();
        assert_eq!(c.listen.to_string(), "0.0.0.0:9000");
        assert_eq!(c.public_url, "https://id.example");
        let c = Config::layer(
            file,
            Overrides {
                log: Some("warn".into()),
                ..Overrides::default()
            },
        )
        .unwrap();
        assert_eq!(c.log, "warn");
        assert!(toml::from_str::<FileConfig>("nope = 1").is_err());
        assert_eq!(
            default_from("https://id.example.com/x"),
            "usher <noreply@id.example.com>"
        );
        assert_eq!(
            default_from("http://127.0.0.1:8080"),
            "usher <noreply@localhost>"
        );
        assert!(
            Config::layer(
                FileConfig::default(),
                Overrides {
                    listen: Some("x".into()),
                    ..Default::default()
                }
            )
            .is_err()
        );
    }
}
