//! `usher`: the user-management server and its admin commands.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};
use usher_core::principal::Principal;
use usher_core::service::{CoreConfig, KeyDraft, Services};
use usher_core::types::{OrgId, UserId};
use usher_server::config::{Config, FileConfig, Overrides};

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(
    name = "usher",
    version,
    about = "A self-hosted user-management server speaking the Bold, Zitadel and Orgo APIs"
)]
struct Cli {
    /// A TOML configuration file (keys as the flags, with underscores).
    #[arg(long, env = "USHER_CONFIG", global = true)]
    config: Option<PathBuf>,
    /// Database: sqlite://<path> (default sqlite://usher-data/usher.db) or postgres://…
    #[arg(long, env = "USHER_DATABASE_URL", global = true)]
    database_url: Option<String>,
    /// Log filter (tracing EnvFilter syntax), default `info`.
    #[arg(long, env = "USHER_LOG", global = true)]
    log: Option<String>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the server.
    Serve(Box<ServeArgs>),
    /// Apply pending database migrations and exit.
    Migrate,
    /// Administration without going through the API.
    Admin {
        #[command(subcommand)]
        command: AdminCommand,
    },
    /// Exit 0 when the server at --listen answers /readyz (for container health checks).
    Healthcheck {
        /// Address of the server (default: the configured listen address).
        #[arg(long, env = "USHER_LISTEN")]
        listen: Option<String>,
    },
}

#[derive(Args)]
struct ServeArgs {
    /// host:port to listen on (default 127.0.0.1:8080).
    #[arg(long, env = "USHER_LISTEN")]
    listen: Option<String>,
    /// Base URL of links in messages (default http://<listen>).
    #[arg(long, env = "USHER_PUBLIC_URL")]
    public_url: Option<String>,
    /// With no instance-admin key yet, create one with exactly this secret.
    #[arg(long, env = "USHER_BOOTSTRAP_TOKEN", hide_env_values = true)]
    bootstrap_token: Option<String>,
    /// Seconds between auto-removal sweeps (default 60).
    #[arg(long, env = "USHER_SWEEP_INTERVAL")]
    sweep_interval: Option<u64>,
    /// PostgreSQL connections per instance (default 16).
    #[arg(long, env = "USHER_PG_POOL_SIZE")]
    pg_pool_size: Option<usize>,
    /// Largest JSON request body in bytes (default 1 MiB).
    #[arg(long, env = "USHER_MAX_JSON_BODY")]
    max_json_body: Option<usize>,
    /// Largest bulk-import upload in bytes (default 1 GiB).
    #[arg(long, env = "USHER_MAX_IMPORT_BODY")]
    max_import_body: Option<usize>,
    /// smtp://[user:pass@]host:port?tls=none|starttls|tls (default: messages go to the log).
    #[arg(long, env = "USHER_SMTP_URL", hide_env_values = true)]
    smtp_url: Option<String>,
    /// Sender of emails (default `usher <noreply@{public host}>`).
    #[arg(long, env = "USHER_MAIL_FROM")]
    mail_from: Option<String>,
    /// SMS webhook URL: POST {"to", "body", "messageId"} (default: SMS go to the log).
    #[arg(long, env = "USHER_SMS_WEBHOOK_URL")]
    sms_webhook_url: Option<String>,
    /// Bearer token sent to the SMS webhook.
    #[arg(long, env = "USHER_SMS_WEBHOOK_TOKEN", hide_env_values = true)]
    sms_webhook_token: Option<String>,
    /// Delivery attempts before a message is marked failed (default 8).
    #[arg(long, env = "USHER_DELIVERY_MAX_ATTEMPTS")]
    delivery_max_attempts: Option<i32>,
    /// Seconds before the second delivery attempt; doubles each time, at most an hour (default 10).
    #[arg(long, env = "USHER_DELIVERY_RETRY_SECS")]
    delivery_retry_secs: Option<u64>,
    /// Longest wait between looks at the outbox, in milliseconds (default 5000).
    #[arg(long, env = "USHER_DELIVERY_POLL_MS")]
    delivery_poll_ms: Option<u64>,
    /// Behind a reverse proxy: count brute-force limits per the last X-Forwarded-For address.
    #[arg(long, env = "USHER_TRUST_FORWARDED_FOR")]
    trust_forwarded_for: Option<bool>,
}

#[derive(Subcommand)]
enum AdminCommand {
    /// Create an organization; prints its id.
    CreateOrg {
        #[arg(long)]
        name: String,
    },
    /// Create an API key; prints its secret once. Without --org: an instance-admin key.
    CreateKey {
        /// Organization the key administers (or whose user it acts as).
        #[arg(long)]
        org: Option<i64>,
        /// The key may only read.
        #[arg(long)]
        read_only: bool,
        /// Act as this user instead of as an organization admin.
        #[arg(long)]
        user: Option<i64>,
        #[arg(long, default_value = "cli")]
        name: String,
    },
}

fn load(cli: &Cli, serve: Option<&ServeArgs>) -> Result<Config, String> {
    let file = match &cli.config {
        Some(path) => FileConfig::load(path)?,
        None => FileConfig::default(),
    };
    let listen_env = std::env::var("USHER_LISTEN").ok();
    let o = Overrides {
        listen: serve.and_then(|s| s.listen.clone()).or(listen_env),
        database_url: cli.database_url.clone(),
        public_url: serve.and_then(|s| s.public_url.clone()),
        bootstrap_token: serve.and_then(|s| s.bootstrap_token.clone()),
        log: cli.log.clone(),
        sweep_interval_secs: serve.and_then(|s| s.sweep_interval),
        pg_pool_size: serve.and_then(|s| s.pg_pool_size),
        max_json_body: serve.and_then(|s| s.max_json_body),
        max_import_body: serve.and_then(|s| s.max_import_body),
        trust_forwarded_for: serve.and_then(|s| s.trust_forwarded_for),
        smtp_url: serve.and_then(|s| s.smtp_url.clone()),
        mail_from: serve.and_then(|s| s.mail_from.clone()),
        sms_webhook_url: serve.and_then(|s| s.sms_webhook_url.clone()),
        sms_webhook_token: serve.and_then(|s| s.sms_webhook_token.clone()),
        delivery_max_attempts: serve.and_then(|s| s.delivery_max_attempts),
        delivery_retry_secs: serve.and_then(|s| s.delivery_retry_secs),
        delivery_poll_ms: serve.and_then(|s| s.delivery_poll_ms),
    };
    Config::layer(file, o)
}

/// Logs go to stdout for `serve`; the other commands log to stderr, so that their stdout is
/// only their result (an id, a secret) and can be captured by scripts.
fn init_logging(filter: &str, to_stderr: bool) {
    let filter = tracing_subscriber::EnvFilter::try_new(filter)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let fmt = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false);
    if to_stderr {
        fmt.with_writer(std::io::stderr).init();
    } else {
        fmt.init();
    }
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
}

async fn serve(config: Config) -> Result<(), String> {
    let running = usher_server::start(&config, usher_server::system_clock()).await?;
    let b = &running.bootstrapped;
    if b.created_default_org {
        tracing::info!("created the organization \"default\"");
    }
    if let Some(secret) = &b.new_admin_secret {
        // Printed once, to stdout, never logged.
        println!();
        println!("==> usher created an instance-admin API key. It is shown only this once:");
        println!();
        println!("    {secret}");
        println!();
        println!("    Use it as:  Authorization: Bearer {secret}");
        println!();
    }
    if b.used_bootstrap_token {
        tracing::info!("created the instance-admin key from USHER_BOOTSTRAP_TOKEN");
    }
    tracing::info!(
        addr = %running.addr,
        database = running.services.store().backend(),
        public_url = %config.public_url,
        "usher is listening on http://{}",
        running.addr
    );
    let stop = running.stopper();
    tokio::spawn(async move {
        shutdown_signal().await;
        tracing::info!("shutting down");
        let _ = stop.send(true);
    });
    running.wait().await;
    Ok(())
}

async fn admin_services(config: &Config) -> Result<Services, String> {
    let store = usher_store::open(
        &config.database_url,
        &usher_store::StoreOptions {
            pg_pool_size: 2,
            migrate: true,
        },
    )
    .await
    .map_err(|e| e.to_string())?;
    let core = CoreConfig {
        public_url: config.public_url.clone(),
        ..CoreConfig::default()
    };
    Ok(Services::new(store, usher_server::system_clock(), core))
}

async fn healthcheck(listen: &str) -> Result<(), String> {
    use http_body_util::Empty;
    use hyper_util::client::legacy::Client;
    use hyper_util::rt::TokioExecutor;

    let client = Client::builder(TokioExecutor::new()).build_http::<Empty<axum::body::Bytes>>();
    let uri: axum::http::Uri = format!("http://{listen}/readyz")
        .parse()
        .map_err(|e| format!("invalid address {listen}: {e}"))?;
    let res = tokio::time::timeout(std::time::Duration::from_secs(5), client.get(uri))
        .await
        .map_err(|_| "timed out".to_owned())?
        .map_err(|e| e.to_string())?;
    if res.status().is_success() {
        Ok(())
    } else {
        Err(format!("not ready: {}", res.status()))
    }
}

async fn run(cli: Cli) -> Result<(), String> {
    match &cli.command {
        Command::Serve(args) => {
            let config = load(&cli, Some(args))?;
            init_logging(&config.log, false);
            serve(config).await
        }
        Command::Migrate => {
            let config = load(&cli, None)?;
            init_logging(&config.log, true);
            usher_store::open(
                &config.database_url,
                &usher_store::StoreOptions {
                    pg_pool_size: 1,
                    migrate: true,
                },
            )
            .await
            .map_err(|e| e.to_string())?;
            println!("migrations applied to {}", config.database_url);
            Ok(())
        }
        Command::Admin { command } => {
            let config = load(&cli, None)?;
            init_logging(cli.log.as_deref().unwrap_or("warn"), true);
            let services = admin_services(&config).await?;
            let system = Principal::system();
            services
                .ensure_default_organization()
                .await
                .map_err(|e| e.to_string())?;
            match command {
                AdminCommand::CreateOrg { name } => {
                    let org = services
                        .create_organization(&system, name.clone())
                        .await
                        .map_err(|e| e.to_string())?;
                    println!("{}", org.id);
                }
                AdminCommand::CreateKey {
                    org,
                    read_only,
                    user,
                    name,
                } => {
                    let draft = KeyDraft {
                        name: name.clone(),
                        org: org.map(OrgId),
                        read_only: *read_only,
                        expiration: None,
                        user: user.map(UserId),
                        instance_admin: org.is_none() && user.is_none(),
                    };
                    let key = services
                        .create_key(&system, draft)
                        .await
                        .map_err(|e| e.to_string())?;
                    println!("{}", key.secret);
                }
            }
            Ok(())
        }
        Command::Healthcheck { listen } => {
            let config = load(&cli, None)?;
            let addr = listen.clone().unwrap_or_else(|| config.listen.to_string());
            healthcheck(&addr).await
        }
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("usher: {e}");
            ExitCode::FAILURE
        }
    }
}
