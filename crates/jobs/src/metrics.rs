//! Prometheus metrics of usher (served at `GET /metrics`).

use std::sync::Mutex;

use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

type Labels = Vec<(String, String)>;

pub struct Metrics {
    registry: Mutex<Registry>,
    deliveries: Family<Labels, Counter>,
    outbox: Family<Labels, Gauge>,
}

impl Metrics {
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("usher");
        let deliveries = Family::<Labels, Counter>::default();
        registry.register(
            "outbox_deliveries",
            "Delivery attempts of outbox messages, by channel and result (sent, retry, failed, cancelled)",
            deliveries.clone(),
        );
        let outbox = Family::<Labels, Gauge>::default();
        registry.register(
            "outbox_messages",
            "Outbox messages by status (pending, sent, failed, cancelled), read from the database at scrape time",
            outbox.clone(),
        );
        Self {
            registry: Mutex::new(registry),
            deliveries,
            outbox,
        }
    }

    pub fn record_delivery(&self, channel: &str, result: &str) {
        self.deliveries
            .get_or_create(&vec![
                ("channel".to_owned(), channel.to_owned()),
                ("result".to_owned(), result.to_owned()),
            ])
            .inc();
    }

    /// Sets the per-status gauges (every known status, zero when absent).
    pub fn set_outbox_counts(&self, counts: &[(String, u64)]) {
        for status in ["pending", "sent", "failed", "cancelled"] {
            let n = counts
                .iter()
                .find(|(s, _)| s == status)
                .map_or(0, |(_, n)| *n);
            self.outbox
                .get_or_create(&vec![("status".to_owned(), status.to_owned())])
                .set(i64::try_from(n).unwrap_or(i64::MAX));
        }
    }

    /// The OpenMetrics text exposition.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        let registry = self.registry.lock().unwrap_or_else(|p| p.into_inner());
        if encode(&mut out, &registry).is_err() {
            out.clear();
        }
        out
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}
