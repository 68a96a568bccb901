//! The load generator: N workers for a fixed time, each with its own connection, recording every
//! latency in an HDR histogram. HTTP/1.1 through hyper; gRPC and Connect through connectrpc's
//! client.

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use hdrhistogram::Histogram;
use http_body_util::{BodyExt, Full};
use hyper::Request;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;

/// What one measurement found.
#[derive(Debug, Clone, Copy, Default)]
pub struct Stats {
    pub requests: u64,
    pub errors: u64,
    pub rps: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
}

/// A small, fast, seedable random source (xorshift64*).
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    pub fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// Uniform in `1..=n`.
    pub fn id(&mut self, n: u64) -> u64 {
        self.next() % n.max(1) + 1
    }
}

fn summarize(hist: &Histogram<u64>, requests: u64, errors: u64, elapsed: Duration) -> Stats {
    Stats {
        requests,
        errors,
        rps: requests as f64 / elapsed.as_secs_f64(),
        p50_ms: hist.value_at_quantile(0.50) as f64 / 1000.0,
        p99_ms: hist.value_at_quantile(0.99) as f64 / 1000.0,
    }
}

/// Runs `concurrency` workers calling `call` until `duration` has passed (after `warmup`).
/// `call(worker_rng)` returns whether the call succeeded.
pub async fn drive<F, Fut>(
    concurrency: usize,
    warmup: Duration,
    duration: Duration,
    call: F,
) -> Stats
where
    F: Fn(Rng) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = (Rng, bool)> + Send + 'static,
{
    let call = Arc::new(call);
    let start = Instant::now();
    let measure_from = start + warmup;
    let end = measure_from + duration;
    let mut tasks = Vec::with_capacity(concurrency);
    for w in 0..concurrency {
        let call = call.clone();
        tasks.push(tokio::spawn(async move {
            let mut hist =
                Histogram::<u64>::new_with_bounds(1, 60_000_000, 3).expect("histogram bounds");
            let (mut ok, mut err) = (0u64, 0u64);
            let mut rng = Rng::new(w as u64 + 1);
            loop {
                let t0 = Instant::now();
                if t0 >= end {
                    break;
                }
                let (next, success) = call(rng).await;
                rng = next;
                let t1 = Instant::now();
                if t0 >= measure_from {
                    let _ = hist.record(t1.duration_since(t0).as_micros().max(1) as u64);
                    if success {
                        ok += 1;
                    } else {
                        err += 1;
                    }
                }
            }
            (hist, ok, err)
        }));
    }
    let mut total = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3).expect("histogram bounds");
    let (mut ok, mut err) = (0, 0);
    for t in tasks {
        if let Ok((h, o, e)) = t.await {
            let _ = total.add(h);
            ok += o;
            err += e;
        }
    }
    summarize(&total, ok + err, err, duration)
}

pub type HttpClient = Client<HttpConnector, Full<Bytes>>;

pub fn http_client(concurrency: usize) -> HttpClient {
    let mut connector = HttpConnector::new();
    connector.set_nodelay(true);
    Client::builder(TokioExecutor::new())
        .pool_max_idle_per_host(concurrency.max(1))
        .build(connector)
}

static ERRORS_SHOWN: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);

/// Prints the first few failures of the run, so that errors in the report have a cause.
pub fn show_error(what: &str) {
    if ERRORS_SHOWN.fetch_add(1, std::sync::atomic::Ordering::Relaxed) < 8 {
        eprintln!("   (error) {what}");
    }
}

/// Sends one HTTP request and reads the whole answer; true for a 2xx.
pub async fn send(client: &HttpClient, req: Request<Full<Bytes>>) -> bool {
    let target = format!("{} {}", req.method(), req.uri());
    match client.request(req).await {
        Ok(res) => {
            let status = res.status();
            let body = res
                .into_body()
                .collect()
                .await
                .map(|b| b.to_bytes())
                .unwrap_or_default();
            if !status.is_success() {
                show_error(&format!(
                    "{target}: {status} {}",
                    String::from_utf8_lossy(&body[..body.len().min(200)])
                ));
            }
            status.is_success()
        }
        Err(e) => {
            show_error(&format!("{target}: {e}"));
            false
        }
    }
}
