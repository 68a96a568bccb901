//! Background work that runs inside `usher serve`: the outbox delivery worker and the
//! auto-removal sweep.

pub mod delivery;
pub mod metrics;
pub mod senders;

use std::time::Duration;

use tokio::sync::watch;
use tokio::task::JoinHandle;
use usher_core::service::Services;

pub use delivery::{Worker, WorkerConfig};
pub use metrics::Metrics;

/// Runs the auto-removal sweep every `interval` until `shutdown` turns true. The sweep itself is
/// [`Services::sweep_auto_removals`], which reads the injected clock, so tests drive it directly.
pub fn spawn_sweeper(
    services: Services,
    interval: Duration,
    mut shutdown: watch::Receiver<bool>,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(interval.max(Duration::from_millis(10)));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = tick.tick() => {
                    match services.sweep_auto_removals().await {
                        Ok(0) => {}
                        Ok(n) => tracing::info!(removed = n, "auto-removal sweep"),
                        Err(e) => tracing::warn!(error = %e, "auto-removal sweep failed; will retry"),
                    }
                }
                changed = shutdown.changed() => {
                    if changed.is_err() || *shutdown.borrow() {
                        break;
                    }
                }
            }
        }
    })
}
