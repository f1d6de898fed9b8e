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
    /// Seals personal fields on write and opens them on read (`store/sealed.rs`); plaintext
    /// until `with_field_cipher` gives it the keyring.
    pub(super) fields: crate::crypto::FieldCipher,
    /// Batches concurrent job completions into one statement (`store/completer.rs`).
    pub(super) completer: Arc<super::completer::Completer>,
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

/// Which rows a transaction may touch under PostgreSQL row-level security
/// (`migrations/postgres/0006_rls.up.sql`). Every store method that reads or writes a
/// tenant-owned table runs in a transaction opened by `scoped_tx!`/`scoped!` with one of these.
#[derive(Debug, Clone, Copy)]
pub(super) enum Scope<'a> {
    /// One tenant's rows (plus, for reading, the global templates and hotword sets).
    Tenant(&'a str),
    /// Every tenant's rows. Only for the paths that are cross-tenant by nature (the queue,
    /// retention sweeps, identity-provider provisioning, API-key lookup, global rows);
    /// `docs/ARCHITECTURE.md` lists them.
    System,
}

impl<'a> Scope<'a> {
    /// The values of `app.tenant_id` and `app.scope` for this scope.
    pub(super) fn settings(self) -> (&'a str, &'static str) {
        match self {
            Scope::Tenant(tenant) => (tenant, "tenant"),
            Scope::System => ("", "system"),
        }
    }
}

/// Sets the scope for the current transaction only (`is_local`), so a pooled connection never
/// carries it into the next transaction.
pub(super) const SET_SCOPE: &str =
    "SELECT set_config('app.tenant_id', $1, true), set_config('app.scope', $2, true)";

impl Scope<'_> {
    /// `BEGIN` and the scope's settings as one simple query: one round trip instead of two on
    /// every transaction. Only for values that are plain tokens (every id this service mints),
    /// so nothing needs quoting; anything else takes the bound `SET_SCOPE` path.
    pub(super) fn begin_sql(self) -> Option<String> {
        let (tenant, scope) = self.settings();
        let plain = |v: &str| {
            v.len() <= 128
                && v.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
        };
        plain(tenant).then(|| {
            format!(
                "BEGIN; SELECT set_config('app.tenant_id', '{tenant}', true), \
                 set_config('app.scope', '{scope}', true)"
            )
        })
    }
}

/// Begins a transaction on `$pool` limited to `$scope` (a `Scope`): on PostgreSQL its first
/// statement sets the settings the row-level security policies read; SQLite has no policies.
macro_rules! scoped_tx {
    ($pool:expr, $scope:expr) => {{
        let scope: $crate::store::sql::Scope<'_> = $scope;
        if !$crate::store::sql::is_postgres($pool) {
            $pool.begin().await?
        } else if let Some(begin) = scope.begin_sql() {
            $pool.begin_with(begin).await?
        } else {
            let mut tx = $pool.begin().await?;
            let (tenant, scope) = scope.settings();
            sqlx::query($crate::store::sql::SET_SCOPE)
                .bind(tenant)
                .bind(scope)
                .execute(&mut *tx)
                .await?;
            tx
        }
    }};
}
pub(super) use scoped_tx;

/// Evaluates `$body` with `$tx` bound to a transaction limited to `$scope`, then commits; an
/// early return through `?` rolls back. For methods that are one statement (or a few reads).
macro_rules! scoped {
    ($pool:expr, $scope:expr, $tx:ident => $body:expr) => {{
        let mut $tx = $crate::store::sql::scoped_tx!($pool, $scope);
        let out = $body;
        $tx.commit().await?;
        out
    }};
}
pub(super) use scoped;

/// The PostgreSQL login role's attributes that matter for row-level security.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct DatabaseRole {
    pub name: String,
    pub superuser: bool,
    pub bypass_rls: bool,
}

impl DatabaseRole {
    /// Superusers and `BYPASSRLS` roles are never bound by policies, even `FORCE`d ones.
    pub fn bypasses_rls(&self) -> bool {
        self.superuser || self.bypass_rls
    }
}

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
        Ok(SqlStore {
            completer: Arc::new(super::completer::Completer::start(pool.clone())),
            pool,
            jobs_signal,
            fields: crate::crypto::FieldCipher::plaintext(),
        })
    }

    pub fn jobs_signal(&self) -> Arc<Notify> {
        self.jobs_signal.clone()
    }

    pub async fn close(&self) {
        on_pool!(self, pool => pool.close().await)
    }

    /// The PostgreSQL role the pool logs in as, with the attributes that would let it ignore
    /// row-level security; `None` on SQLite, which has no policies.
    pub async fn database_role(&self) -> StoreResult<Option<DatabaseRole>> {
        match &self.pool {
            Pool::Sqlite(_) => Ok(None),
            Pool::Postgres(pool) => Ok(Some(
                sqlx::query_as::<_, DatabaseRole>(
                    "SELECT rolname AS name, rolsuper AS superuser, rolbypassrls AS bypass_rls \
                     FROM pg_roles WHERE rolname = current_user",
                )
                .fetch_one(pool)
                .await?,
            )),
        }
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

#[cfg(test)]
mod tests {
    use super::Scope;

    #[test]
    fn only_plain_token_scopes_are_inlined_into_the_begin() {
        let system = Scope::System.begin_sql().unwrap();
        assert!(system.starts_with("BEGIN; SELECT set_config('app.tenant_id', '', true)"));
        assert!(system.contains("set_config('app.scope', 'system', true)"));
        let tenant = Scope::Tenant("tenant_01HX-a").begin_sql().unwrap();
        assert!(tenant.contains("'tenant_01HX-a'") && tenant.contains("'tenant'"));
        for odd in ["a'b", "a;b", "a\\b", "ténant", "a b"] {
            assert_eq!(
                Scope::Tenant(odd).begin_sql(),
                None,
                "{odd} takes the bound path"
            );
        }
        assert_eq!(Scope::Tenant(&"x".repeat(129)).begin_sql(), None);
    }
}
