//! `SqlStore`: the connection pools and the one place that picks SQLite or PostgreSQL.
//!
//! Each store method's body is written once and compiled per backend by `on_pool!`, with
//! concrete pool types in each arm. That keeps one SQL text per query (`$N` placeholders
//! work on both) without the wall of higher-ranked trait bounds a generic `Database` impl needs.
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgListener, PgPool, PgPoolOptions};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use tokio::sync::Notify;

use super::{StoreError, StoreResult};

/// The PostgreSQL channel a commit that enqueues a job notifies.
pub(super) const JOBS_CHANNEL: &str = "minutes_jobs";

#[derive(Clone)]
pub(super) enum Pool {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

#[derive(Clone)]
pub struct SqlStore {
    pub(super) pool: Pool,
    /// Wakes idle workers when a job is enqueued (in-process on SQLite; fed by LISTEN on PostgreSQL).
    pub(super) jobs_signal: Arc<Notify>,
}

/// Runs `$body` with `$pool` bound to the concrete pool of the active backend.
macro_rules! on_pool {
    ($store:expr, $pool:ident => $body:expr) => {
        match &$store.pool {
            $crate::store::sql::Pool::Sqlite($pool) => $body,
            $crate::store::sql::Pool::Postgres($pool) => $body,
        }
    };
}
pub(super) use on_pool;

/// Connection settings the store needs; `schema` isolates PostgreSQL tests.
#[derive(Debug, Clone)]
pub struct ConnectOptions {
    pub url: String,
    pub max_connections: u32,
    pub pg_schema: Option<String>,
}

impl SqlStore {
    pub async fn connect(opts: &ConnectOptions) -> StoreResult<SqlStore> {
        let jobs_signal = Arc::new(Notify::new());
        let pool = if opts.url.starts_with("sqlite:") {
            let options = SqliteConnectOptions::from_str(&opts.url)?
                .create_if_missing(true)
                .journal_mode(SqliteJournalMode::Wal)
                .synchronous(SqliteSynchronous::Normal)
                .foreign_keys(true)
                .busy_timeout(Duration::from_secs(10));
            if let Some(parent) = options.get_filename().parent() {
                if !parent.as_os_str().is_empty() {
                    std::fs::create_dir_all(parent)
                        .map_err(|e| StoreError::Database(sqlx::Error::Io(e)))?;
                }
            }
            let pool = SqlitePoolOptions::new()
                .max_connections(opts.max_connections.max(1))
                .connect_with(options)
                .await?;
            Pool::Sqlite(pool)
        } else {
            let mut options = PgConnectOptions::from_str(&opts.url)?;
            if let Some(schema) = &opts.pg_schema {
                options = options.options([("search_path", schema.as_str())]);
            }
            let pool = PgPoolOptions::new()
                .max_connections(opts.max_connections.max(2))
                .acquire_timeout(Duration::from_secs(10))
                .connect_with(options)
                .await?;
            spawn_job_listener(&pool, jobs_signal.clone()).await?;
            Pool::Postgres(pool)
        };
        Ok(SqlStore { pool, jobs_signal })
    }

    pub fn jobs_signal(&self) -> Arc<Notify> {
        self.jobs_signal.clone()
    }

    pub async fn close(&self) {
        on_pool!(self, pool => pool.close().await)
    }

    /// Creates a PostgreSQL schema (for an isolated test database).
    pub async fn create_pg_schema(url: &str, schema: &str) -> StoreResult<()> {
        let pool = PgPoolOptions::new().max_connections(1).connect(url).await?;
        sqlx::query(&format!(
            "CREATE SCHEMA IF NOT EXISTS \"{}\"",
            sanitize_ident(schema)
        ))
        .execute(&pool)
        .await?;
        pool.close().await;
        Ok(())
    }

    pub async fn drop_pg_schema(url: &str, schema: &str) -> StoreResult<()> {
        let pool = PgPoolOptions::new().max_connections(1).connect(url).await?;
        sqlx::query(&format!(
            "DROP SCHEMA IF EXISTS \"{}\" CASCADE",
            sanitize_ident(schema)
        ))
        .execute(&pool)
        .await?;
        pool.close().await;
        Ok(())
    }
}

fn sanitize_ident(s: &str) -> String {
    s.chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '_')
        .collect()
}

/// Forwards `NOTIFY minutes_jobs` to the in-process signal; workers still poll as a fallback,
/// so a dropped listener connection only costs latency, never work.
async fn spawn_job_listener(pool: &PgPool, signal: Arc<Notify>) -> StoreResult<()> {
    let mut listener = PgListener::connect_with(pool).await?;
    listener.listen(JOBS_CHANNEL).await?;
    let pool = pool.clone();
    tokio::spawn(async move {
        loop {
            match listener.recv().await {
                Ok(_) => signal.notify_waiters(),
                Err(_) if pool.is_closed() => return,
                Err(e) => {
                    tracing::warn!(error = %e, "job listener lost its connection; relying on polling");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
            }
        }
    });
    Ok(())
}

/// The few places where the SQL dialects differ.
pub(super) trait Dialect {
    /// Appended to the job-claim subquery: concurrent claimers skip rows others are claiming.
    const SKIP_LOCKED: &'static str;
    const IS_POSTGRES: bool;
}

impl Dialect for SqlitePool {
    // SQLite has one writer at a time, so the claiming UPDATE is already exclusive.
    const SKIP_LOCKED: &'static str = "";
    const IS_POSTGRES: bool = false;
}

impl Dialect for PgPool {
    const SKIP_LOCKED: &'static str = "FOR UPDATE SKIP LOCKED";
    const IS_POSTGRES: bool = true;
}

pub(super) fn is_postgres<P: Dialect>(_: &P) -> bool {
    P::IS_POSTGRES
}

pub(super) fn skip_locked<P: Dialect>(_: &P) -> &'static str {
    P::SKIP_LOCKED
}

/// Appends one history entry inside the caller's transaction.
macro_rules! insert_event {
    ($conn:expr, tenant = $tenant:expr, task = $task:expr, from = $from:expr, to = $to:expr, reason = $reason:expr, detail = $detail:expr, now = $now:expr) => {
        sqlx::query(
            "INSERT INTO task_events (task_id, tenant_id, from_state, to_state, reason, detail, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind($task)
        .bind($tenant)
        .bind($from)
        .bind($to)
        .bind($reason)
        .bind($detail)
        .bind($now)
        .execute($conn)
        .await?
    };
}
pub(super) use insert_event;

/// Inserts a job inside the caller's transaction and, on PostgreSQL, notifies idle workers at commit.
macro_rules! insert_job {
    ($pool:expr, $conn:expr, $job:expr, $now:expr) => {{
        let job: &$crate::store::NewJob = $job;
        sqlx::query(
            "INSERT INTO jobs (id, queue, kind, task_id, tenant_id, payload, state, priority, attempts, \
             max_attempts, run_at_ms, lease_gen, errors, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, 'queued', $7, 0, $8, $9, 0, $10, $11, $11)",
        )
        .bind(&job.id)
        .bind(&job.queue)
        .bind(&job.kind)
        .bind(&job.task_id)
        .bind(&job.tenant_id)
        .bind(sqlx::types::Json(&job.payload))
        .bind(job.priority)
        .bind(job.max_attempts)
        .bind(job.run_at_ms)
        .bind(sqlx::types::Json(Vec::<String>::new()))
        .bind($now)
        .execute(&mut *$conn)
        .await?;
        if $crate::store::sql::is_postgres($pool) {
            sqlx::query("SELECT pg_notify($1, $2)")
                .bind($crate::store::sql::JOBS_CHANNEL)
                .bind(&job.queue)
                .execute(&mut *$conn)
                .await?;
        }
    }};
}
pub(super) use insert_job;
