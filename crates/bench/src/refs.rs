//! The references: the thinnest possible servers doing the same database work as one usher
//! request — a bare axum handler running one single-row `UPDATE` or one primary-key `SELECT`
//! through the fastest driver for the database (rusqlite directly for SQLite, on the same file
//! with the same durability settings; tokio-postgres with prepared statements for PostgreSQL).

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::get;
use rusqlite::{Connection, OptionalExtension, params};

struct Sqlite {
    writer: Mutex<Connection>,
    readers: Mutex<Vec<Connection>>,
    path: String,
}

fn open(path: &str) -> rusqlite::Result<Connection> {
    let c = Connection::open(path)?;
    // The same durability as usher: WAL, synchronous=NORMAL.
    c.execute_batch(
        "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA busy_timeout = 5000;",
    )?;
    Ok(c)
}

fn first_name(body: &[u8]) -> Option<String> {
    let v: serde_json::Value = serde_json::from_slice(body).ok()?;
    v.get("firstName")?.as_str().map(str::to_owned)
}

async fn sqlite_update(
    State(s): State<Arc<Sqlite>>,
    Path(id): Path<i64>,
    body: Bytes,
) -> impl IntoResponse {
    let Some(name) = first_name(&body) else {
        return (StatusCode::BAD_REQUEST, String::new());
    };
    let w = s.writer.lock().unwrap_or_else(|p| p.into_inner());
    let mut st = match w.prepare_cached("UPDATE users SET first_name = ?1 WHERE id = ?2") {
        Ok(st) => st,
        Err(e) => return (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
    };
    match st.execute(params![name, id]) {
        Ok(1) => (StatusCode::OK, id.to_string()),
        Ok(_) => (StatusCode::NOT_FOUND, String::new()),
        Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
    }
}

async fn sqlite_select(State(s): State<Arc<Sqlite>>, Path(id): Path<i64>) -> impl IntoResponse {
    let idle = s.readers.lock().unwrap_or_else(|p| p.into_inner()).pop();
    let conn = match idle {
        Some(c) => c,
        None => match open(&s.path) {
            Ok(c) => c,
            Err(e) => return (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
        },
    };
    let row = conn
        .prepare_cached("SELECT id, first_name, last_name, email FROM users WHERE id = ?1")
        .and_then(|mut st| {
            st.query_row(params![id], |r| {
                Ok(serde_json::json!({
                    "id": r.get::<_, i64>(0)?,
                    "firstName": r.get::<_, Option<String>>(1)?,
                    "lastName": r.get::<_, Option<String>>(2)?,
                    "email": r.get::<_, Option<String>>(3)?,
                }))
            })
            .optional()
        });
    s.readers
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .push(conn);
    match row {
        Ok(Some(v)) => (StatusCode::OK, v.to_string()),
        Ok(None) => (StatusCode::NOT_FOUND, String::new()),
        Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
    }
}

pub async fn serve_sqlite(db: String, listen: SocketAddr) -> Result<(), String> {
    let state = Arc::new(Sqlite {
        writer: Mutex::new(open(&db).map_err(|e| e.to_string())?),
        readers: Mutex::new(Vec::new()),
        path: db,
    });
    let app = Router::new()
        .route("/users/{id}", get(sqlite_select).put(sqlite_update))
        .with_state(state);
    serve(app, listen).await
}

async fn pg_update(
    State(pool): State<deadpool_postgres::Pool>,
    Path(id): Path<i64>,
    body: Bytes,
) -> impl IntoResponse {
    let Some(name) = first_name(&body) else {
        return (StatusCode::BAD_REQUEST, String::new());
    };
    let result = async {
        let c = pool.get().await.map_err(|e| e.to_string())?;
        let st = c
            .prepare_cached("UPDATE users SET first_name = $1 WHERE id = $2")
            .await
            .map_err(|e| e.to_string())?;
        c.execute(&st, &[&name, &id])
            .await
            .map_err(|e| e.to_string())
    }
    .await;
    match result {
        Ok(1) => (StatusCode::OK, id.to_string()),
        Ok(_) => (StatusCode::NOT_FOUND, String::new()),
        Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, e),
    }
}

async fn pg_select(
    State(pool): State<deadpool_postgres::Pool>,
    Path(id): Path<i64>,
) -> impl IntoResponse {
    let result = async {
        let c = pool.get().await.map_err(|e| e.to_string())?;
        let st = c
            .prepare_cached("SELECT id, first_name, last_name, email FROM users WHERE id = $1")
            .await
            .map_err(|e| e.to_string())?;
        c.query_opt(&st, &[&id]).await.map_err(|e| e.to_string())
    }
    .await;
    match result {
        Ok(Some(r)) => (
            StatusCode::OK,
            serde_json::json!({
                "id": r.get::<_, i64>(0),
                "firstName": r.get::<_, Option<String>>(1),
                "lastName": r.get::<_, Option<String>>(2),
                "email": r.get::<_, Option<String>>(3),
            })
            .to_string(),
        ),
        Ok(None) => (StatusCode::NOT_FOUND, String::new()),
        Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, e),
    }
}

pub async fn serve_postgres(
    url: String,
    listen: SocketAddr,
    pool_size: usize,
) -> Result<(), String> {
    let cfg: tokio_postgres::Config = url
        .parse()
        .map_err(|e: tokio_postgres::Error| e.to_string())?;
    let mgr = deadpool_postgres::Manager::from_config(
        cfg,
        tokio_postgres::NoTls,
        deadpool_postgres::ManagerConfig {
            recycling_method: deadpool_postgres::RecyclingMethod::Fast,
        },
    );
    let pool = deadpool_postgres::Pool::builder(mgr)
        .max_size(pool_size)
        .build()
        .map_err(|e| e.to_string())?;
    let app = Router::new()
        .route("/users/{id}", get(pg_select).put(pg_update))
        .with_state(pool);
    serve(app, listen).await
}

async fn serve(app: Router, listen: SocketAddr) -> Result<(), String> {
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .map_err(|e| e.to_string())?;
    axum::serve(listener, app).await.map_err(|e| e.to_string())
}
