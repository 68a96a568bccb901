//! The outbox worker: claims due messages, renders them in their language, sends them, and
//! records the outcome. A message is committed with the change that caused it, so it cannot be
//! lost; a claim is a lease, so a worker that dies mid-send lets another retry the message once
//! the lease lapses (at-least-once, with the stable message id to recognise a repeat).

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;
use tokio::task::JoinHandle;
use usher_core::model::Channel;
use usher_core::ports::{Change, ChangeSet, OutboxRecord};
use usher_core::service::Services;
use usher_templates::Templates;

use crate::metrics::Metrics;
use crate::senders::{EmailSender, OutgoingEmail, OutgoingSms, SendError, SmsSender};

#[derive(Debug, Clone)]
pub struct WorkerConfig {
    /// Attempts before a message is marked failed.
    pub max_attempts: i32,
    /// Wait before the second attempt; doubles each time.
    pub base_backoff: Duration,
    pub max_backoff: Duration,
    /// How long a claim hides a message from other workers.
    pub lease: Duration,
    /// Messages claimed at once.
    pub batch: u32,
    /// Longest sleep between looks at the queue (commits wake the worker sooner).
    pub poll_interval: Duration,
}

impl Default for WorkerConfig {
    fn default() -> Self {
        Self {
            max_attempts: 8,
            base_backoff: Duration::from_secs(10),
            max_backoff: Duration::from_secs(3600),
            lease: Duration::from_secs(300),
            batch: 32,
            poll_interval: Duration::from_secs(5),
        }
    }
}

impl WorkerConfig {
    /// Wait after the `attempt`-th failed attempt (1-based).
    pub fn backoff(&self, attempt: i32) -> Duration {
        let exp = u32::try_from(attempt.saturating_sub(1))
            .unwrap_or(0)
            .min(30);
        self.base_backoff
            .saturating_mul(1 << exp)
            .min(self.max_backoff)
    }
}

fn chrono(d: Duration) -> chrono::Duration {
    chrono::Duration::from_std(d).unwrap_or(chrono::Duration::MAX)
}

pub struct Worker {
    services: Services,
    templates: Arc<Templates>,
    email: Arc<dyn EmailSender>,
    sms: Arc<dyn SmsSender>,
    config: WorkerConfig,
    metrics: Arc<Metrics>,
}

/// What became of one message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Sent,
    Retry,
    Failed,
    Cancelled,
}

impl Outcome {
    fn as_str(self) -> &'static str {
        match self {
            Outcome::Sent => "sent",
            Outcome::Retry => "retry",
            Outcome::Failed => "failed",
            Outcome::Cancelled => "cancelled",
        }
    }
}

impl Worker {
    pub fn new(
        services: Services,
        templates: Arc<Templates>,
        email: Arc<dyn EmailSender>,
        sms: Arc<dyn SmsSender>,
        config: WorkerConfig,
        metrics: Arc<Metrics>,
    ) -> Self {
        Self {
            services,
            templates,
            email,
            sms,
            config,
            metrics,
        }
    }

    /// Claims one batch and delivers it; returns how many messages were handled.
    pub async fn run_once(&self) -> usher_core::Result<usize> {
        let now = self.services.clock().now();
        let lease_until = now.plus(chrono(self.config.lease));
        let claimed = self
            .services
            .store()
            .claim_outbox(now, lease_until, self.config.batch)
            .await?;
        let n = claimed.len();
        futures::future::join_all(claimed.into_iter().map(|r| self.deliver(r))).await;
        Ok(n)
    }

    async fn deliver(&self, r: OutboxRecord) -> Outcome {
        let m = &r.message;
        let outcome = match self.gone_user(&r).await {
            Ok(true) => Err((
                Outcome::Cancelled,
                "the user was deleted before delivery".to_owned(),
            )),
            Ok(false) => self.send(&r).await.map_err(|e| {
                if e.permanent || r.attempts >= self.config.max_attempts {
                    (Outcome::Failed, e.message)
                } else {
                    (Outcome::Retry, e.message)
                }
            }),
            // The lease will lapse and the message come back.
            Err(e) => Err((Outcome::Retry, format!("lookup failed: {e}"))),
        };
        let now = self.services.clock().now();
        let (change, result) = match outcome {
            Ok(()) => (
                Change::OutboxSent {
                    id: m.id.clone(),
                    at: now,
                },
                Outcome::Sent,
            ),
            Err((Outcome::Retry, error)) => {
                let next = now.plus(chrono(self.config.backoff(r.attempts)));
                tracing::warn!(message_id = %m.id, attempt = r.attempts, %error, next_attempt = %next, "delivery failed; will retry");
                (
                    Change::OutboxRetry {
                        id: m.id.clone(),
                        next_attempt_at: next,
                        error,
                    },
                    Outcome::Retry,
                )
            }
            Err((Outcome::Cancelled, reason)) => (
                Change::OutboxCancelled {
                    id: m.id.clone(),
                    reason,
                },
                Outcome::Cancelled,
            ),
            Err((_, error)) => {
                tracing::error!(message_id = %m.id, attempt = r.attempts, %error, "delivery failed for good");
                (
                    Change::OutboxFailed {
                        id: m.id.clone(),
                        error,
                    },
                    Outcome::Failed,
                )
            }
        };
        let mut cs = ChangeSet::new();
        cs.push(change);
        if let Err(e) = self.services.store().commit(cs).await {
            // Not recorded: the lease lapses and the message is tried again (at least once).
            tracing::error!(message_id = %m.id, error = %e, "could not record the delivery outcome");
        }
        self.metrics
            .record_delivery(m.channel.as_str(), result.as_str());
        result
    }

    async fn gone_user(&self, r: &OutboxRecord) -> usher_core::Result<bool> {
        match r.message.user_id {
            Some(id) => Ok(self.services.store().user(id).await?.is_none()),
            None => Ok(false),
        }
    }

    async fn send(&self, r: &OutboxRecord) -> Result<(), SendError> {
        let m = &r.message;
        let rendered = self
            .templates
            .render_message(&m.template, m.channel, m.language, &m.params)
            .map_err(|e| SendError::permanent(format!("template: {e}")))?;
        match m.channel {
            Channel::Email => {
                self.email
                    .send(&OutgoingEmail {
                        id: m.id.clone(),
                        to: m.recipient.clone(),
                        subject: rendered.subject,
                        text: rendered.text,
                        html: rendered.html,
                    })
                    .await
            }
            Channel::Sms => {
                self.sms
                    .send(&OutgoingSms {
                        id: m.id.clone(),
                        to: m.recipient.clone(),
                        body: rendered.text,
                    })
                    .await
            }
        }
    }

    /// Runs until `shutdown` turns true: works through the queue, then sleeps until a commit
    /// writes a message or the poll interval passes.
    pub fn spawn(self, mut shutdown: watch::Receiver<bool>) -> JoinHandle<()> {
        let signal = self.services.outbox_signal();
        tokio::spawn(async move {
            loop {
                if *shutdown.borrow() {
                    break;
                }
                let handled = match self.run_once().await {
                    Ok(n) => n,
                    Err(e) => {
                        tracing::warn!(error = %e, "outbox worker could not claim messages");
                        0
                    }
                };
                if handled as u32 >= self.config.batch {
                    continue;
                }
                tokio::select! {
                    () = signal.notified() => {}
                    () = tokio::time::sleep(self.config.poll_interval) => {}
                    changed = shutdown.changed() => {
                        if changed.is_err() {
                            break;
                        }
                    }
                }
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_the_cap() {
        let c = WorkerConfig {
            base_backoff: Duration::from_secs(10),
            max_backoff: Duration::from_secs(100),
            ..WorkerConfig::default()
        };
        let waits: Vec<u64> = (1..=6).map(|a| c.backoff(a).as_secs()).collect();
        assert_eq!(waits, [10, 20, 40, 80, 100, 100]);
        assert_eq!(c.backoff(0).as_secs(), 10);
        assert_eq!(c.backoff(i32::MAX).as_secs(), 100);
    }
}
