//! usher's benchmark. `usher-bench run` seeds each backend through the bulk import, measures usher
//! and then the reference servers on the same database under the same load, and writes the figures
//! to `BENCHMARKS.md` and the charts to `docs/bench/`. `ref-sqlite` and `ref-postgres` are the
//! reference servers themselves (started by `run` as child processes, like usher).

mod load;
mod refs;
mod report;
mod run;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "usher-bench",
    about = "usher's benchmark against the thinnest reference servers"
)]
struct Cli {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Debug, Subcommand)]
enum Cmd {
    /// Runs the whole benchmark and writes the report.
    Run {
        /// The usher binary to measure (build it with `cargo build --release` first).
        #[arg(long, default_value = "target/release/usher")]
        usher: PathBuf,
        /// Users seeded through the bulk import before measuring.
        #[arg(long, default_value_t = 100_000)]
        users: u64,
        /// Seconds of warm-up before each measurement.
        #[arg(long, default_value_t = 2)]
        warmup: u64,
        /// Seconds each measurement lasts.
        #[arg(long, default_value_t = 10)]
        duration: u64,
        /// Concurrent connections, comma-separated.
        #[arg(long, value_delimiter = ',', default_value = "1,8,32")]
        concurrency: Vec<usize>,
        /// Backends to measure, comma-separated (`sqlite`, `postgres`).
        #[arg(long, value_delimiter = ',', default_value = "sqlite,postgres")]
        backends: Vec<String>,
        /// A PostgreSQL URL with the right to create databases (`usher_bench` is recreated).
        #[arg(long, default_value = "postgres://postgres@127.0.0.1:5432/postgres")]
        pg_url: String,
        /// Where the databases and logs go.
        #[arg(long, default_value = "target/bench")]
        work_dir: PathBuf,
        /// The report to write.
        #[arg(long, default_value = "BENCHMARKS.md")]
        out: PathBuf,
        /// Where the charts go.
        #[arg(long, default_value = "docs/bench")]
        charts: PathBuf,
        /// Only these scenarios, comma-separated (for profiling; the report needs them all).
        #[arg(long, value_delimiter = ',')]
        scenarios: Vec<String>,
    },
    /// GETs one URL for a while (for profiling a single path).
    Load {
        #[arg(long)]
        url: String,
        #[arg(long, default_value_t = 32)]
        concurrency: usize,
        #[arg(long, default_value_t = 5)]
        duration: u64,
        /// Sent as `Authorization: Bearer …`.
        #[arg(long)]
        token: Option<String>,
    },
    /// The SQLite reference: one `UPDATE` or `SELECT` per request through rusqlite.
    RefSqlite {
        #[arg(long)]
        db: String,
        #[arg(long)]
        listen: SocketAddr,
    },
    /// The PostgreSQL reference: one prepared `UPDATE` or `SELECT` per request via tokio-postgres.
    RefPostgres {
        #[arg(long)]
        url: String,
        #[arg(long)]
        listen: SocketAddr,
        #[arg(long, default_value_t = 16)]
        pool: usize,
    },
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("usher-bench: cannot start the runtime: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async move {
        match cli.command {
            Cmd::Run {
                usher,
                users,
                warmup,
                duration,
                concurrency,
                backends,
                pg_url,
                work_dir,
                out,
                charts,
                scenarios,
            } => {
                std::fs::create_dir_all(&work_dir)
                    .map_err(|e| format!("{}: {e}", work_dir.display()))?;
                let usher = std::fs::canonicalize(&usher)
                    .map_err(|e| format!("{}: {e}", usher.display()))?;
                let work_dir = std::fs::canonicalize(&work_dir)
                    .map_err(|e| format!("{}: {e}", work_dir.display()))?;
                let settings = run::Settings {
                    usher,
                    users,
                    warmup: Duration::from_secs(warmup),
                    duration: Duration::from_secs(duration),
                    concurrency,
                    pg_url,
                    work_dir,
                    scenarios,
                };
                let mut results = Vec::new();
                for backend in &backends {
                    results.push(run::run_backend(&settings, backend).await?);
                }
                report::write(&settings, &results, &out, &charts)?;
                eprintln!("wrote {} and charts in {}", out.display(), charts.display());
                Ok(())
            }
            Cmd::Load {
                url,
                concurrency,
                duration,
                token,
            } => {
                let stats =
                    run::load_url(url, concurrency, Duration::from_secs(duration), token).await;
                println!(
                    "{:.0} req/s  p50 {:.2} ms  p99 {:.2} ms  errors {}",
                    stats.rps, stats.p50_ms, stats.p99_ms, stats.errors
                );
                Ok(())
            }
            Cmd::RefSqlite { db, listen } => refs::serve_sqlite(db, listen).await,
            Cmd::RefPostgres { url, listen, pool } => refs::serve_postgres(url, listen, pool).await,
        }
    });
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("usher-bench: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}
