//! Test helpers: a fresh PostgreSQL database per test.
//!
//! PostgreSQL is found at `USHER_TEST_PG_URL` (default `postgres://postgres@127.0.0.1:5432/postgres`).
//! When it cannot be reached, PostgreSQL tests are skipped with a loud message — unless `CI` is
//! set, where a missing PostgreSQL fails the test.

use std::sync::atomic::{AtomicUsize, Ordering};

use tokio::sync::OnceCell;
use tokio_postgres::NoTls;

static COUNTER: AtomicUsize = AtomicUsize::new(0);
static CLEANED: OnceCell<bool> = OnceCell::const_new();

pub fn pg_admin_url() -> String {
    std::env::var("USHER_TEST_PG_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned())
}

fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "false" && v != "0")
}

/// Replaces the database name in a PostgreSQL URL.
fn with_database(url: &str, db: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (url, None),
    };
    let scheme_end = base.find("://").map(|i| i + 3).unwrap_or(0);
    let base = match base[scheme_end..].find('/') {
        Some(i) => &base[..scheme_end + i],
        None => base,
    };
    match query {
        Some(q) => format!("{base}/{db}?{q}"),
        None => format!("{base}/{db}"),
    }
}

async fn admin() -> Result<tokio_postgres::Client, String> {
    let (client, conn) = tokio_postgres::connect(&pg_admin_url(), NoTls)
        .await
        .map_err(|e| e.to_string())?;
    tokio::spawn(async move {
        let _ = conn.await;
    });
    Ok(client)
}

/// Drops databases this prefix left behind in earlier runs whose process is gone.
async fn clean_stale(client: &tokio_postgres::Client, prefix: &str) {
    let Ok(rows) = client
        .query(
            "SELECT datname FROM pg_database WHERE datname LIKE $1",
            &[&format!("{prefix}\\_%")],
        )
        .await
    else {
        return;
    };
    for row in rows {
        let name: String = row.get(0);
        let pid = name
            .trim_start_matches(prefix)
            .trim_start_matches('_')
            .split('_')
            .next()
            .unwrap_or("");
        let alive = !pid.is_empty() && std::path::Path::new(&format!("/proc/{pid}")).exists();
        if !alive {
            let _ = client
                .execute(
                    &format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"),
                    &[],
                )
                .await;
        }
    }
}

/// A new, empty database named `{prefix}_{pid}_{n}`; `None` (after a loud warning) when
/// PostgreSQL is unreachable outside CI.
///
/// # Panics
/// In CI, when PostgreSQL cannot be reached.
pub async fn fresh_pg_database(prefix: &str) -> Option<String> {
    let client = match admin().await {
        Ok(c) => c,
        Err(e) => {
            if in_ci() {
                panic!(
                    "PostgreSQL is required in CI but unreachable at {}: {e}",
                    pg_admin_url()
                );
            }
            eprintln!(
                "\n!!! PostgreSQL unreachable at {} ({e}): this PostgreSQL test did NOT run.\n",
                pg_admin_url()
            );
            return None;
        }
    };
    CLEANED
        .get_or_init(|| async {
            clean_stale(&client, prefix).await;
            true
        })
        .await;
    let name = format!(
        "{prefix}_{}_{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    );
    client
        .execute(&format!("CREATE DATABASE \"{name}\""), &[])
        .await
        .unwrap_or_else(|e| panic!("cannot create test database {name}: {e}"));
    Some(with_database(&pg_admin_url(), &name))
}

#[cfg(test)]
mod tests {
    use super::with_database;

    #[test]
    fn database_name_is_replaced() {
        assert_eq!(
            with_database("postgres://u@h:5432/postgres", "x"),
            "postgres://u@h:5432/x"
        );
        assert_eq!(
            with_database("postgres://u@h/postgres?sslmode=disable", "x"),
            "postgres://u@h/x?sslmode=disable"
        );
        assert_eq!(with_database("postgres://u@h", "x"), "postgres://u@h/x");
    }
}
