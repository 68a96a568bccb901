//! usher's stores. [`open`] picks the backend from the database URL:
//! `sqlite://path/to/file.db` (the embedded default) or `postgres://…`.

mod postgres;
mod sql;
mod sqlite;

use std::sync::Arc;

use usher_core::ports::Store;

pub use postgres::PgStore;
pub use sqlite::SqliteStore;

#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    #[error("unsupported database URL {0:?}: use sqlite://<path> or postgres://…")]
    UnsupportedUrl(String),
    #[error("cannot open the SQLite database {path}: {source}")]
    Sqlite {
        path: String,
        source: rusqlite::Error,
    },
    #[error("cannot create the directory for {path}: {source}")]
    Directory {
        path: String,
        source: std::io::Error,
    },
    #[error("cannot connect to PostgreSQL: {0}")]
    Postgres(String),
    #[error("migrations failed: {0}")]
    Migration(String),
}

/// Tuning that is not part of the URL.
#[derive(Debug, Clone)]
pub struct StoreOptions {
    /// PostgreSQL connections in the pool.
    pub pg_pool_size: usize,
    /// Run pending migrations on open.
    pub migrate: bool,
}

impl Default for StoreOptions {
    fn default() -> Self {
        Self {
            pg_pool_size: 16,
            migrate: true,
        }
    }
}

/// Which backend a URL names.
pub enum Location {
    Sqlite(String),
    Postgres(String),
}

pub fn parse_url(url: &str) -> Result<Location, OpenError> {
    if let Some(path) = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))
    {
        if path.is_empty() {
            return Err(OpenError::UnsupportedUrl(url.to_owned()));
        }
        // sqlite://usher-data/usher.db is relative; sqlite:///var/lib/usher.db is absolute.
        let path = path.split('?').next().unwrap_or(path);
        return Ok(Location::Sqlite(path.to_owned()));
    }
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        return Ok(Location::Postgres(url.to_owned()));
    }
    Err(OpenError::UnsupportedUrl(url.to_owned()))
}

/// Opens (and by default migrates) the store a URL names.
pub async fn open(url: &str, opts: &StoreOptions) -> Result<Arc<dyn Store>, OpenError> {
    Ok(match parse_url(url)? {
        Location::Sqlite(path) => Arc::new(SqliteStore::open(&path, opts.migrate)?),
        Location::Postgres(url) => Arc::new(PgStore::open(&url, opts).await?),
    })
}

#[cfg(feature = "testing")]
pub mod testing;
