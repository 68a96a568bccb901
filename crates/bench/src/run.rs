//! One benchmark run: for each backend, seed users through the bulk import, restart usher on the
//! seeded database, then at each concurrency drive the reference servers on the same database
//! and, right after them, every scenario of usher, so that each ratio compares measurements
//! taken within a minute or two of each other.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::Full;
use hyper::Request;
use tokio::process::{Child, Command};
use usher_zitadel_proto::zitadel::user::v2 as z;

use crate::load::{self, HttpClient, Stats};

pub const TOKEN: &str = "bench-admin-token-0123456789abcdef";

#[derive(Debug, Clone)]
pub struct Settings {
    pub usher: PathBuf,
    pub users: u64,
    pub warmup: Duration,
    pub duration: Duration,
    pub concurrency: Vec<usize>,
    pub pg_url: String,
    pub work_dir: PathBuf,
    /// Only these scenarios (all when empty).
    pub scenarios: Vec<String>,
}

/// Everything one backend's run measured.
#[derive(Debug, Clone, Default)]
pub struct BackendResult {
    pub backend: String,
    pub import_secs: f64,
    pub start_to_ready_ms: f64,
    pub rss_idle_mib: f64,
    pub rss_load_mib: f64,
    /// (scenario, concurrency, stats) for usher.
    pub usher: Vec<(String, usize, Stats)>,
    /// (scenario, concurrency, stats) for the reference server.
    pub reference: Vec<(String, usize, Stats)>,
    /// Reads measured while password hashing saturates the CPU.
    pub reads_under_hashing: Option<Stats>,
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap_or(18500)
}

fn rss_mib(pid: u32) -> f64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .map(str::to_owned)
        })
        .and_then(|l| {
            l.split_whitespace()
                .nth(1)
                .and_then(|kb| kb.parse::<f64>().ok())
        })
        .map_or(0.0, |kb| kb / 1024.0)
}

async fn wait_ready(client: &HttpClient, base: &str, within: Duration) -> Result<Duration, String> {
    let start = Instant::now();
    loop {
        let req = Request::get(format!("{base}/readyz"))
            .body(Full::new(Bytes::new()))
            .map_err(|e| e.to_string())?;
        // Refused connections are expected until the server listens: no error sampling here.
        if let Ok(res) = client.request(req).await
            && res.status().is_success()
        {
            return Ok(start.elapsed());
        }
        if start.elapsed() > within {
            return Err(format!("{base} not ready within {within:?}"));
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

struct Server {
    child: Child,
    base: String,
    addr: SocketAddr,
}

impl Server {
    fn pid(&self) -> u32 {
        self.child.id().unwrap_or(0)
    }

    async fn stop(mut self) {
        if let Some(pid) = self.child.id() {
            let _ = std::process::Command::new("kill")
                .arg("-TERM")
                .arg(pid.to_string())
                .status();
        }
        let _ = tokio::time::timeout(Duration::from_secs(30), self.child.wait()).await;
        let _ = self.child.kill().await;
    }
}

async fn start_usher(s: &Settings, database_url: &str) -> Result<(Server, Duration), String> {
    let port = free_port();
    let addr: SocketAddr = format!("127.0.0.1:{port}")
        .parse()
        .map_err(|e| format!("{e}"))?;
    let started = Instant::now();
    let child = Command::new(&s.usher)
        .args([
            "serve",
            "--listen",
            &addr.to_string(),
            "--bootstrap-token",
            TOKEN,
            "--log",
            "error",
        ])
        .env("USHER_DATABASE_URL", database_url)
        .env_remove("USHER_SMTP_URL")
        .current_dir(&s.work_dir)
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| format!("cannot start {}: {e}", s.usher.display()))?;
    let base = format!("http://{addr}");
    let client = load::http_client(1);
    wait_ready(&client, &base, Duration::from_secs(60)).await?;
    Ok((Server { child, base, addr }, started.elapsed()))
}

async fn start_reference(
    backend: &str,
    database_url: &str,
    sqlite_path: &Path,
) -> Result<Server, String> {
    let port = free_port();
    let addr: SocketAddr = format!("127.0.0.1:{port}")
        .parse()
        .map_err(|e| format!("{e}"))?;
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let mut cmd = Command::new(exe);
    match backend {
        "sqlite" => cmd.args([
            "ref-sqlite",
            "--db",
            &sqlite_path.display().to_string(),
            "--listen",
            &addr.to_string(),
        ]),
        _ => cmd.args([
            "ref-postgres",
            "--url",
            database_url,
            "--listen",
            &addr.to_string(),
        ]),
    };
    let child = cmd
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| e.to_string())?;
    let base = format!("http://{addr}");
    let client = load::http_client(1);
    // The reference has no /readyz: wait for it to answer anything.
    let start = Instant::now();
    loop {
        let req = Request::get(format!("{base}/users/1"))
            .body(Full::new(Bytes::new()))
            .map_err(|e| e.to_string())?;
        if client.request(req).await.is_ok() {
            break;
        }
        if start.elapsed() > Duration::from_secs(30) {
            return Err("reference server did not start".into());
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    Ok(Server { child, base, addr })
}

/// A bcrypt hash of "correct horse battery staple" made by python bcrypt 5.0.0 (one of the
/// password vectors in `crates/core/src/password/testdata/vectors.txt`).
const PREHASHED: &str = "$2b$10$DvRtqccYQXvaNF9YMKtS1ey5O6Tq0QJjDO.epnBbbpDbR12T0OuzG";

async fn import(client: &HttpClient, base: &str, users: u64) -> Result<f64, String> {
    let boundary = "usherbenchboundary7MA4YWxkTrZu0gW";
    let mut body = Vec::with_capacity(users as usize * 110 + 512);
    body.extend_from_slice(
        format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"users.csv\"\r\nContent-Type: text/csv\r\n\r\n"
        )
        .as_bytes(),
    );
    body.extend_from_slice(b"firstName,lastName,emailAddress,externalId,passwordHash\n");
    for i in 1..=users {
        body.extend_from_slice(
            format!(
                "{},{},user{i}@bench.example,ext-{i},{PREHASHED}\n",
                first_name(i),
                last_name(i)
            )
            .as_bytes(),
        );
    }
    body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    let req = Request::put(format!("{base}/v2/users?organizationId=1"))
        .header("authorization", format!("Bearer {TOKEN}"))
        .header(
            "content-type",
            format!("multipart/form-data; boundary={boundary}"),
        )
        .body(Full::new(Bytes::from(body)))
        .map_err(|e| e.to_string())?;
    let start = Instant::now();
    let res = client.request(req).await.map_err(|e| e.to_string())?;
    let status = res.status();
    let answer = http_body_util::BodyExt::collect(res.into_body())
        .await
        .map_err(|e| e.to_string())?
        .to_bytes();
    if !status.is_success() || answer.as_ref() != b"[]" {
        return Err(format!(
            "import failed: {status} {}",
            String::from_utf8_lossy(&answer[..answer.len().min(300)])
        ));
    }
    Ok(start.elapsed().as_secs_f64())
}

fn authed(
    method: &str,
    uri: String,
    body: Option<String>,
    content_type: &str,
) -> Request<Full<Bytes>> {
    let builder = Request::builder()
        .method(method)
        .uri(uri)
        .header("authorization", format!("Bearer {TOKEN}"));
    let builder = if body.is_some() {
        builder.header("content-type", content_type)
    } else {
        builder
    };
    builder
        .body(Full::new(body.map(Bytes::from).unwrap_or_default()))
        .expect("a valid request")
}

/// The HTTP scenarios, by name: how one request is made from a random id.
/// Two-letter syllables the seeded names are made of.
const SYLLABLES: [&str; 50] = [
    "ka", "ro", "mi", "ta", "ne", "lo", "vi", "su", "da", "be", "ri", "mo", "na", "te", "zu", "la",
    "pe", "go", "fi", "ha", "jo", "ke", "lu", "ma", "ni", "po", "ra", "se", "ti", "vo", "wa", "ye",
    "bo", "ce", "du", "el", "fa", "gi", "hu", "ir", "ja", "ko", "li", "mu", "no", "or", "pi", "qu",
    "sa", "to",
];

/// `syllables` syllables chosen by `h`, capitalized.
fn name_of(mut h: u64, syllables: usize) -> String {
    let mut name = String::with_capacity(syllables * 2);
    for _ in 0..syllables {
        name.push_str(SYLLABLES[(h % 50) as usize]);
        h /= 50;
    }
    let mut chars = name.chars();
    chars.next().map_or_else(String::new, |c| {
        c.to_ascii_uppercase().to_string() + chars.as_str()
    })
}

/// The last name of seeded user `n`: four syllables, different for each n below 6,250,000
/// (the multiplier is prime to 50⁴), so that the directory looks like people, not like one
/// prefix: a search for a few letters of a name matches a few hundredths of a percent of users.
pub fn last_name(n: u64) -> String {
    name_of(n.wrapping_mul(2_654_435_761) % 6_250_000, 4)
}

/// The first name of seeded user `n`: three syllables.
pub fn first_name(n: u64) -> String {
    name_of(n.wrapping_mul(40_503) % 125_000, 3)
}

/// Numbers the new passwords of `password_change`, so that none repeats in a run.
static PASSWORDS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

pub const SCENARIOS: &[&str] = &[
    "bold_update",
    "zitadel_connect_update",
    "zitadel_grpc_update",
    "get_user",
    "list_page",
    "password_change",
];

async fn run_http_scenario(
    s: &Settings,
    ids: &Arc<Vec<Seeded>>,
    base: &str,
    name: &str,
    c: usize,
) -> Stats {
    let client = load::http_client(c);
    let base = Arc::new(base.to_owned());
    let users = s.users;
    let ids = ids.clone();
    let name = name.to_owned();
    load::drive(c, s.warmup, s.duration, move |mut rng| {
        let client = client.clone();
        let base = base.clone();
        let name = name.clone();
        let ids = ids.clone();
        async move {
            let Seeded { id, seed } = ids[(rng.next() % ids.len() as u64) as usize];
            let req = match name.as_str() {
                "bold_update" => authed("PUT", format!("{base}/v2/users/{id}"), Some(format!("{{\"firstName\":\"F{}\"}}", rng.next() % 1_000_000)), "application/json"),
                "zitadel_connect_update" => authed(
                    "POST",
                    format!("{base}/zitadel.user.v2.UserService/UpdateHumanUser"),
                    Some(format!(
                        "{{\"userId\":\"{id}\",\"profile\":{{\"givenName\":\"G{}\",\"familyName\":\"{}\"}}}}",
                        rng.next() % 1_000_000,
                        last_name(seed)
                    )),
                    "application/json",
                ),
                "get_user" => authed("GET", format!("{base}/v2/users/{id}"), None, ""),
                "list_page" => authed(
                    "GET",
                    format!(
                        "{base}/v2/users?search={}&sortBy=lastName&size=100",
                        &last_name(rng.id(users))[..4]
                    ),
                    None,
                    "",
                ),
                "password_change" => authed(
                    "POST",
                    format!("{base}/zitadel.user.v2.UserService/SetPassword"),
                    Some(format!(
                        "{{\"userId\":\"{id}\",\"newPassword\":{{\"password\":\"bench passphrase {}\"}}}}",
                        // Never a user's current password, whichever run set it.
                        PASSWORDS.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
                    )),
                    "application/json",
                ),
                "ref_update" => authed("PUT", format!("{base}/users/{id}"), Some(format!("{{\"firstName\":\"F{}\"}}", rng.next() % 1_000_000)), "application/json"),
                "ref_select" => authed("GET", format!("{base}/users/{id}"), None, ""),
                _ => authed("GET", format!("{base}/healthz"), None, ""),
            };
            let ok = load::send(&client, req).await;
            (rng, ok)
        }
    })
    .await
}

async fn run_grpc_scenario(
    s: &Settings,
    ids: &Arc<Vec<Seeded>>,
    addr: SocketAddr,
    c: usize,
) -> Result<Stats, String> {
    use connectrpc::Protocol;
    use connectrpc::client::{ClientConfig, Http2Connection};
    let uri: hyper::Uri = format!("http://{addr}")
        .parse()
        .map_err(|e| format!("{e}"))?;
    let conn = Http2Connection::connect_plaintext(uri.clone())
        .await
        .map_err(|e| format!("{e:?}"))?
        .shared(1024);
    let config = ClientConfig::new(uri)
        .with_protocol(Protocol::Grpc)
        .with_default_header("authorization", format!("Bearer {TOKEN}"));
    let client = z::UserServiceClient::new(conn, config);
    let ids = ids.clone();
    Ok(load::drive(c, s.warmup, s.duration, move |mut rng| {
        let client = client.clone();
        let ids = ids.clone();
        async move {
            let Seeded { id, seed } = ids[(rng.next() % ids.len() as u64) as usize];
            let req = z::UpdateHumanUserRequest {
                user_id: id.to_string(),
                profile: z::SetHumanProfile {
                    given_name: format!("G{}", rng.next() % 1_000_000),
                    family_name: last_name(seed),
                    ..Default::default()
                }
                .into(),
                ..Default::default()
            };
            let ok = match client.update_human_user(req).await {
                Ok(_) => true,
                Err(e) => {
                    load::show_error(&format!("gRPC UpdateHumanUser: {e:?}"));
                    false
                }
            };
            (rng, ok)
        }
    })
    .await)
}

/// A client on `url`, its connection driven by a task of its own.
async fn pg_connect(url: &str) -> Result<tokio_postgres::Client, String> {
    let (client, conn) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .map_err(|e| e.to_string())?;
    tokio::spawn(async move {
        let _ = conn.await;
    });
    Ok(client)
}

async fn create_pg_database(admin_url: &str, name: &str) -> Result<String, String> {
    let client = pg_connect(admin_url).await?;
    client
        .execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"), &[])
        .await
        .map_err(|e| e.to_string())?;
    client
        .execute(&format!("CREATE DATABASE {name}"), &[])
        .await
        .map_err(|e| e.to_string())?;
    let base = admin_url.rsplit_once('/').map_or(admin_url, |(b, _)| b);
    Ok(format!("{base}/{name}"))
}

/// A seeded user: its id, and the `n` of its CSV row (`ext-<n>`), which its names were made from.
#[derive(Clone, Copy, Debug)]
struct Seeded {
    id: i64,
    seed: u64,
}

/// The seeded users. The import gives ids in the order its batches commit, not in the CSV's
/// order, so a user's names are found from its external id: a Zitadel update must send the
/// user's own family name (the call sets both names), or it would change two names where the
/// Bold update and the reference change one.
async fn user_ids(
    backend: &str,
    database_url: &str,
    sqlite_path: &Path,
) -> Result<Vec<Seeded>, String> {
    const QUERY: &str = "SELECT id, CAST(substr(external_id, 5) AS BIGINT) FROM users \
         WHERE organization_id = 1 AND external_id LIKE 'ext-%' ORDER BY id";
    let seeded = |id: i64, seed: i64| Seeded {
        id,
        seed: seed as u64,
    };
    if backend == "sqlite" {
        let conn = rusqlite::Connection::open(sqlite_path).map_err(|e| e.to_string())?;
        let mut st = conn.prepare(QUERY).map_err(|e| e.to_string())?;
        let ids = st
            .query_map([], |r| Ok(seeded(r.get::<_, i64>(0)?, r.get::<_, i64>(1)?)))
            .map_err(|e| e.to_string())?;
        ids.collect::<Result<Vec<_>, _>>()
            .map_err(|e| e.to_string())
    } else {
        let client = pg_connect(database_url).await?;
        let rows = client.query(QUERY, &[]).await.map_err(|e| e.to_string())?;
        Ok(rows
            .iter()
            .map(|r| seeded(r.get::<_, i64>(0), r.get::<_, i64>(1)))
            .collect())
    }
}

/// Lets the database finish what the import left it to do before anything is measured, so the
/// first measurement (a reference's, at one connection) does not pay for it: on PostgreSQL the
/// vacuum and statistics autovacuum would start on a freshly loaded table (and the trigram
/// index's pending entries it flushes) and a checkpoint; on SQLite a checkpoint that empties the
/// WAL.
async fn settle(backend: &str, database_url: &str, sqlite_path: &Path) -> Result<(), String> {
    if backend == "sqlite" {
        let conn = rusqlite::Connection::open(sqlite_path).map_err(|e| e.to_string())?;
        conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))
            .map_err(|e| e.to_string())
    } else {
        let client = pg_connect(database_url).await?;
        // Two calls: VACUUM cannot run inside the transaction a multi-statement batch makes.
        for statement in ["VACUUM ANALYZE", "CHECKPOINT"] {
            client.batch_execute(statement).await.map_err(|e| {
                let why = e
                    .as_db_error()
                    .map_or(e.to_string(), |d| d.message().to_owned());
                format!("{statement}: {why}")
            })?;
        }
        Ok(())
    }
}

pub async fn run_backend(s: &Settings, backend: &str) -> Result<BackendResult, String> {
    eprintln!("== {backend}: seeding {} users", s.users);
    let sqlite_path = s.work_dir.join(format!("{backend}.db"));
    let database_url = match backend {
        "sqlite" => {
            for suffix in ["", "-wal", "-shm"] {
                let _ = std::fs::remove_file(format!("{}{suffix}", sqlite_path.display()));
            }
            format!("sqlite://{}", sqlite_path.display())
        }
        _ => create_pg_database(&s.pg_url, "usher_bench").await?,
    };
    let mut result = BackendResult {
        backend: backend.to_owned(),
        ..BackendResult::default()
    };
    let client = load::http_client(1);

    let (server, _) = start_usher(s, &database_url).await?;
    result.import_secs = import(&client, &server.base, s.users).await?;
    eprintln!("   import: {:.1} s", result.import_secs);
    server.stop().await;
    let ids = Arc::new(user_ids(backend, &database_url, &sqlite_path).await?);
    if ids.len() as u64 != s.users {
        return Err(format!(
            "expected {} users after the import, found {}",
            s.users,
            ids.len()
        ));
    }
    settle(backend, &database_url, &sqlite_path).await?;

    // Start to ready on the existing, seeded database.
    let (server, ready) = start_usher(s, &database_url).await?;
    result.start_to_ready_ms = ready.as_secs_f64() * 1000.0;
    tokio::time::sleep(Duration::from_secs(1)).await;
    result.rss_idle_mib = rss_mib(server.pid());
    eprintln!(
        "   start to ready {:.0} ms, idle RSS {:.1} MiB",
        result.start_to_ready_ms, result.rss_idle_mib
    );

    // Peak RSS of whichever usher process is running (usher is restarted per concurrency).
    let pid = Arc::new(std::sync::atomic::AtomicU32::new(server.pid()));
    let peak = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let sampler = {
        let (peak, pid) = (peak.clone(), pid.clone());
        tokio::spawn(async move {
            loop {
                let running = pid.load(std::sync::atomic::Ordering::Relaxed);
                if running != 0 {
                    let kib = (rss_mib(running) * 1024.0) as u64;
                    peak.fetch_max(kib, std::sync::atomic::Ordering::Relaxed);
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        })
    };
    let mut server = Some(server);
    for &c in &s.concurrency {
        // The references first, at this concurrency, with usher stopped: measured minutes apart
        // (all of usher, then all of the references), a machine whose speed drifts made ratios
        // over 100 %; and two servers on one SQLite file would disturb each other (usher's
        // checkpoint thread blocks writers while it empties the WAL).
        if let Some(running) = server.take() {
            pid.store(0, std::sync::atomic::Ordering::Relaxed);
            running.stop().await;
        }
        let reference = start_reference(backend, &database_url, &sqlite_path).await?;
        for name in ["ref_update", "ref_select"] {
            let stats = run_http_scenario(s, &ids, &reference.base, name, c).await;
            eprintln!(
                "   ref   {name:<24} c={c:<3} {:>9.0} req/s  p50 {:>7.2} ms  p99 {:>7.2} ms  errors {}",
                stats.rps, stats.p50_ms, stats.p99_ms, stats.errors
            );
            result.reference.push((name.to_owned(), c, stats));
        }
        reference.stop().await;
        let (running, _) = start_usher(s, &database_url).await?;
        pid.store(running.pid(), std::sync::atomic::Ordering::Relaxed);
        for name in SCENARIOS {
            if !s.scenarios.is_empty() && !s.scenarios.iter().any(|x| x == name) {
                continue;
            }
            let stats = if *name == "zitadel_grpc_update" {
                run_grpc_scenario(s, &ids, running.addr, c).await?
            } else {
                run_http_scenario(s, &ids, &running.base, name, c).await
            };
            eprintln!(
                "   usher {name:<24} c={c:<3} {:>9.0} req/s  p50 {:>7.2} ms  p99 {:>7.2} ms  errors {}  RSS now {:.0} MiB",
                stats.rps,
                stats.p50_ms,
                stats.p99_ms,
                stats.errors,
                rss_mib(running.pid())
            );
            result.usher.push(((*name).to_owned(), c, stats));
        }
        server = Some(running);
    }
    let server = match server {
        Some(running) => running,
        None => {
            let (running, _) = start_usher(s, &database_url).await?;
            pid.store(running.pid(), std::sync::atomic::Ordering::Relaxed);
            running
        }
    };
    // Reads while password hashing saturates the CPU.
    let (reads, _) = tokio::join!(
        run_http_scenario(s, &ids, &server.base, "get_user", 8),
        run_http_scenario(s, &ids, &server.base, "password_change", 8),
    );
    eprintln!(
        "   usher get_user while hashing: p99 {:.2} ms",
        reads.p99_ms
    );
    result.reads_under_hashing = Some(reads);
    sampler.abort();
    result.rss_load_mib = peak.load(std::sync::atomic::Ordering::Relaxed) as f64 / 1024.0;
    server.stop().await;
    Ok(result)
}

/// GETs `url` from `c` workers for `duration` (the `load` command).
pub async fn load_url(url: String, c: usize, duration: Duration, token: Option<String>) -> Stats {
    let client = load::http_client(c);
    let url = Arc::new(url);
    let token = Arc::new(token);
    load::drive(c, Duration::from_secs(1), duration, move |rng| {
        let client = client.clone();
        let url = url.clone();
        let token = token.clone();
        async move {
            let mut b = Request::get(url.as_str());
            if let Some(t) = token.as_ref() {
                b = b.header("authorization", format!("Bearer {t}"));
            }
            let ok = load::send(
                &client,
                b.body(Full::new(Bytes::new())).expect("a valid request"),
            )
            .await;
            (rng, ok)
        }
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seeded_names_differ_and_a_search_fragment_matches_a_few() {
        let n = 100_000;
        let names: std::collections::HashSet<String> = (1..=n).map(last_name).collect();
        assert_eq!(names.len(), n as usize);
        assert_eq!(last_name(1).len(), 8);
        assert!(last_name(1).starts_with(|c: char| c.is_ascii_uppercase()));
        let fragment = last_name(4242)[..4].to_lowercase();
        let hits = names
            .iter()
            .filter(|name| name.to_lowercase().contains(&fragment))
            .count();
        assert!((50..1_000).contains(&hits), "{fragment}: {hits}");
    }
}
