//! Wiring: configuration → store → services → HTTP server and background jobs. `main.rs` is a
//! thin CLI over [`start`]; the integration tests start the same server in-process.

pub mod config;

use std::net::SocketAddr;
use std::sync::Arc;

use axum::serve::ListenerExt;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use usher_api::{AppState, Limits};
use usher_core::clock::SharedClock;
use usher_core::service::{Bootstrapped, CoreConfig, Services};
use usher_jobs::senders::{
    EmailSender, LogSender, SmsSender, SmtpSender, SmtpUrl, WebhookSmsSender,
};
use usher_jobs::{Metrics, Worker, WorkerConfig};
use usher_store::StoreOptions;
use usher_templates::Templates;

pub use config::Config;

/// A running server.
pub struct Running {
    pub addr: SocketAddr,
    pub services: Services,
    pub bootstrapped: Bootstrapped,
    shutdown: watch::Sender<bool>,
    server: JoinHandle<std::io::Result<()>>,
    sweeper: JoinHandle<()>,
    delivery: JoinHandle<()>,
}

impl Running {
    /// Asks the server to stop (in-flight requests finish) and waits for it.
    pub async fn shutdown(self) {
        let _ = self.shutdown.send(true);
        self.wait().await;
    }

    /// Waits until the server has stopped.
    pub async fn wait(self) {
        match self.server.await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => tracing::error!(error = %e, "server error"),
            Err(e) => tracing::error!(error = %e, "server task failed"),
        }
        let _ = self.shutdown.send(true);
        let _ = self.sweeper.await;
        let _ = self.delivery.await;
    }

    /// A sender that stops the server when `true` is sent (for signal handlers).
    pub fn stopper(&self) -> watch::Sender<bool> {
        self.shutdown.clone()
    }
}

/// Opens the store, bootstraps an empty database, binds the listener and starts serving.
pub async fn start(config: &Config, clock: SharedClock) -> Result<Running, String> {
    usher_jobs::senders::install_crypto_provider();
    let opts = StoreOptions {
        pg_pool_size: config.pg_pool_size,
        migrate: true,
    };
    let store = usher_store::open(&config.database_url, &opts)
        .await
        .map_err(|e| e.to_string())?;
    let core = CoreConfig {
        public_url: config.public_url.clone(),
        ..CoreConfig::default()
    };
    let services = Services::new(store, clock, core);
    let bootstrapped = services
        .bootstrap(config.bootstrap_token.as_deref())
        .await
        .map_err(|e| format!("bootstrap failed: {e}"))?;
    let limits = Limits {
        json_body: config.max_json_body,
        import_body: config.max_import_body,
        trust_forwarded_for: config.trust_forwarded_for,
        ..Limits::default()
    };
    let templates = Arc::new(Templates::new());
    let metrics = Arc::new(Metrics::new());
    let (email, sms) = senders(config)?;
    let worker = Worker::new(
        services.clone(),
        templates.clone(),
        email,
        sms,
        WorkerConfig {
            max_attempts: config.delivery_max_attempts,
            base_backoff: config.delivery_retry,
            poll_interval: config.delivery_poll,
            ..WorkerConfig::default()
        },
        metrics.clone(),
    );
    let app = usher_api::router(AppState {
        services: services.clone(),
        limits,
        templates,
        metrics,
    });
    let listener = TcpListener::bind(config.listen)
        .await
        .map_err(|e| format!("cannot listen on {}: {e}", config.listen))?;
    let addr = listener.local_addr().map_err(|e| e.to_string())?;
    let (shutdown, rx) = watch::channel(false);
    let mut stop = rx.clone();
    let server = tokio::spawn(
        axum::serve(
            // Without TCP_NODELAY the frames of an HTTP/2 answer (headers, data, trailers) wait
            // for the client's delayed ACK: ~40 ms per gRPC call.
            listener.tap_io(|tcp| {
                if let Err(e) = tcp.set_nodelay(true) {
                    tracing::debug!(error = %e, "cannot set TCP_NODELAY");
                }
            }),
            app.into_make_service_with_connect_info::<std::net::SocketAddr>(),
        )
        .with_graceful_shutdown(async move {
            while !*stop.borrow() {
                if stop.changed().await.is_err() {
                    break;
                }
            }
        })
        .into_future(),
    );
    let sweeper = usher_jobs::spawn_sweeper(services.clone(), config.sweep_interval, rx.clone());
    let delivery = worker.spawn(rx);
    Ok(Running {
        addr,
        services,
        bootstrapped,
        shutdown,
        server,
        sweeper,
        delivery,
    })
}

type Senders = (Arc<dyn EmailSender>, Arc<dyn SmsSender>);

/// The email and SMS senders the configuration asks for; the log when none is configured.
fn senders(config: &Config) -> Result<Senders, String> {
    let email: Arc<dyn EmailSender> = match &config.smtp_url {
        Some(url) => Arc::new(SmtpSender::new(&SmtpUrl::parse(url)?, &config.mail_from)?),
        None => Arc::new(LogSender),
    };
    let sms: Arc<dyn SmsSender> = match &config.sms_webhook_url {
        Some(url) => Arc::new(WebhookSmsSender::new(
            url,
            config.sms_webhook_token.clone(),
        )?),
        None => Arc::new(LogSender),
    };
    Ok((email, sms))
}

/// The system clock, shared.
pub fn system_clock() -> SharedClock {
    Arc::new(usher_core::clock::SystemClock)
}
