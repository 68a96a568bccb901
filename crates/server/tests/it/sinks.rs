//! Real peers for delivery tests: an SMTP server (a real SMTP conversation over TCP with usher's
//! lettre client) and an HTTP server that receives the SMS webhook.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use serde_json::Value;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Notify;
use tokio::task::JoinHandle;

/// One message as the SMTP server received it.
#[derive(Debug, Clone)]
pub struct Received {
    pub from: String,
    pub to: Vec<String>,
    pub data: Vec<u8>,
}

impl Received {
    pub fn parsed(&self) -> mail_parser::Message<'_> {
        mail_parser::MessageParser::default()
            .parse(&self.data)
            .expect("a parseable email")
    }

    pub fn subject(&self) -> String {
        self.parsed().subject().unwrap_or_default().to_owned()
    }

    pub fn message_id(&self) -> String {
        self.parsed().message_id().unwrap_or_default().to_owned()
    }

    pub fn text(&self) -> String {
        self.parsed()
            .body_text(0)
            .map(|t| t.into_owned())
            .unwrap_or_default()
    }

    pub fn html(&self) -> String {
        self.parsed()
            .body_html(0)
            .map(|t| t.into_owned())
            .unwrap_or_default()
    }

    /// The first `http(s)://…` link in the text part that contains `needle`.
    pub fn link(&self, needle: &str) -> String {
        self.text()
            .split_whitespace()
            .map(|w| {
                w.trim_matches(|c: char| {
                    matches!(c, '<' | '>' | '(' | ')' | '"' | '\'' | ',' | '.')
                })
            })
            .find(|w| (w.starts_with("http://") || w.starts_with("https://")) && w.contains(needle))
            .unwrap_or_else(|| panic!("no link with {needle:?} in:\n{}", self.text()))
            .to_owned()
    }
}

#[derive(Default)]
struct Inbox {
    messages: Mutex<Vec<Received>>,
    arrived: Notify,
}

/// A minimal SMTP server: enough of RFC 5321 for a real client (EHLO/HELO, MAIL, RCPT, DATA with
/// dot-unstuffing, RSET, NOOP, QUIT).
pub struct SmtpSink {
    pub addr: SocketAddr,
    inbox: Arc<Inbox>,
    task: JoinHandle<()>,
}

impl SmtpSink {
    pub async fn start() -> Self {
        Self::listen(
            TcpListener::bind("127.0.0.1:0").await.expect("bind"),
            Arc::default(),
        )
    }

    /// Starts again on an address an earlier sink used, keeping what it received.
    pub async fn restart(addr: SocketAddr, previous: &SmtpSink) -> Self {
        let listener = loop {
            match TcpListener::bind(addr).await {
                Ok(l) => break l,
                Err(_) => tokio::time::sleep(Duration::from_millis(20)).await,
            }
        };
        Self::listen(listener, previous.inbox.clone())
    }

    fn listen(listener: TcpListener, inbox: Arc<Inbox>) -> Self {
        let addr = listener.local_addr().expect("addr");
        let inbox2 = inbox.clone();
        let task = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let inbox = inbox2.clone();
                tokio::spawn(async move {
                    let _ = session(stream, inbox).await;
                });
            }
        });
        SmtpSink { addr, inbox, task }
    }

    /// Stops listening (connections are refused until a restart).
    pub fn stop(&self) {
        self.task.abort();
    }

    pub fn url(&self) -> String {
        format!("smtp://{}?tls=none", self.addr)
    }

    pub fn messages(&self) -> Vec<Received> {
        self.inbox.messages.lock().unwrap().clone()
    }

    /// Waits until `n` messages have arrived (at most 15 s).
    pub async fn wait_for(&self, n: usize) -> Vec<Received> {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
        loop {
            let notified = self.inbox.arrived.notified();
            let got = self.messages();
            if got.len() >= n {
                return got;
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                panic!(
                    "expected {n} emails, got {}: {:?}",
                    got.len(),
                    got.iter().map(Received::subject).collect::<Vec<_>>()
                );
            }
        }
    }
}

impl Drop for SmtpSink {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn session(stream: TcpStream, inbox: Arc<Inbox>) -> std::io::Result<()> {
    let (read, mut write) = stream.into_split();
    let mut lines = BufReader::new(read);
    write.write_all(b"220 sink.test ESMTP ready\r\n").await?;
    let (mut from, mut to) = (String::new(), Vec::new());
    let mut line = String::new();
    loop {
        line.clear();
        if lines.read_line(&mut line).await? == 0 {
            return Ok(());
        }
        let cmd = line.trim_end().to_owned();
        let upper = cmd.to_ascii_uppercase();
        if upper.starts_with("EHLO") {
            write
                .write_all(b"250-sink.test\r\n250-8BITMIME\r\n250 SMTPUTF8\r\n")
                .await?;
        } else if upper.starts_with("HELO") {
            write.write_all(b"250 sink.test\r\n").await?;
        } else if upper.starts_with("MAIL FROM:") {
            from = cmd[10..].trim().to_owned();
            to.clear();
            write.write_all(b"250 OK\r\n").await?;
        } else if upper.starts_with("RCPT TO:") {
            to.push(cmd[8..].trim().trim_matches(['<', '>']).to_owned());
            write.write_all(b"250 OK\r\n").await?;
        } else if upper == "DATA" {
            write.write_all(b"354 end with <CRLF>.<CRLF>\r\n").await?;
            let mut data = Vec::new();
            loop {
                let mut l = String::new();
                if lines.read_line(&mut l).await? == 0 {
                    return Ok(());
                }
                if l == ".\r\n" || l == ".\n" {
                    break;
                }
                let l = l.strip_prefix('.').unwrap_or(&l);
                data.extend_from_slice(l.as_bytes());
            }
            inbox.messages.lock().unwrap().push(Received {
                from: from.clone(),
                to: to.clone(),
                data,
            });
            inbox.arrived.notify_waiters();
            write.write_all(b"250 OK queued\r\n").await?;
        } else if upper == "RSET" || upper == "NOOP" {
            write.write_all(b"250 OK\r\n").await?;
        } else if upper == "QUIT" {
            write.write_all(b"221 bye\r\n").await?;
            return Ok(());
        } else {
            write.write_all(b"502 not implemented\r\n").await?;
        }
    }
}

/// One SMS webhook call.
#[derive(Debug, Clone)]
pub struct SmsCall {
    pub authorization: Option<String>,
    pub body: Value,
}

#[derive(Default)]
struct SmsInbox {
    calls: Mutex<Vec<SmsCall>>,
    arrived: Notify,
    /// Status to answer (200 unless a test says otherwise).
    status: Mutex<Option<u16>>,
}

/// An HTTP server receiving the SMS webhook.
pub struct SmsSink {
    pub addr: SocketAddr,
    inbox: Arc<SmsInbox>,
    task: JoinHandle<()>,
}

async fn receive(
    State(inbox): State<Arc<SmsInbox>>,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> StatusCode {
    let authorization = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    inbox.calls.lock().unwrap().push(SmsCall {
        authorization,
        body,
    });
    inbox.arrived.notify_waiters();
    let status = inbox.status.lock().unwrap().unwrap_or(200);
    StatusCode::from_u16(status).unwrap()
}

impl SmsSink {
    pub async fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let inbox = Arc::new(SmsInbox::default());
        let app = axum::Router::new()
            .route("/sms", post(receive))
            .with_state(inbox.clone());
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        SmsSink { addr, inbox, task }
    }

    pub fn url(&self) -> String {
        format!("http://{}/sms", self.addr)
    }

    pub fn answer(&self, status: u16) {
        *self.inbox.status.lock().unwrap() = Some(status);
    }

    pub fn calls(&self) -> Vec<SmsCall> {
        self.inbox.calls.lock().unwrap().clone()
    }

    pub async fn wait_for(&self, n: usize) -> Vec<SmsCall> {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
        loop {
            let notified = self.inbox.arrived.notified();
            let got = self.calls();
            if got.len() >= n {
                return got;
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                panic!("expected {n} SMS, got {}", got.len());
            }
        }
    }
}

impl Drop for SmsSink {
    fn drop(&mut self) {
        self.task.abort();
    }
}
