//! The worker registry: each worker upserts its row at start and on every heartbeat; a row
//! whose heartbeats stopped is marked `lost` by whichever live worker notices first.
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::types::Json;

use super::sql::{on_pool, scoped, Scope, SqlStore};
use super::*;

const WORKER_COLUMNS: &str = "id, host, pid, version, queues, concurrency, running, delivery, \
    state, started_at, last_seen_at, stopped_at";

// Workers are not tenant data: every method runs in the system scope.
#[async_trait]
impl WorkerStore for SqlStore {
    async fn register_worker(&self, w: &NewWorker) -> StoreResult<()> {
        let now = Utc::now();
        on_pool!(self, pool => scoped!(pool, Scope::System, tx => sqlx::query(
            "INSERT INTO workers (id, host, pid, version, queues, concurrency, running, delivery, state, \
             started_at, last_seen_at) VALUES ($1, $2, $3, $4, $5, $6, 0, $7, 'active', $8, $8) \
             ON CONFLICT (id) DO UPDATE SET state = 'active', last_seen_at = $8, stopped_at = NULL")
            .bind(&w.id).bind(&w.host).bind(w.pid).bind(&w.version).bind(Json(&w.queues))
            .bind(w.concurrency).bind(&w.delivery).bind(now)
            .execute(&mut *tx).await?.rows_affected()));
        Ok(())
    }

    async fn worker_heartbeat(&self, worker_id: &str, running: i64) -> StoreResult<()> {
        let now = Utc::now();
        let rows = on_pool!(self, pool => scoped!(pool, Scope::System, tx => sqlx::query(
            "UPDATE workers SET last_seen_at = $2, running = $3, state = 'active' \
             WHERE id = $1 AND state <> 'stopped'")
            .bind(worker_id).bind(now).bind(running)
            .execute(&mut *tx).await?.rows_affected()));
        if rows != 1 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }

    async fn mark_lost_workers(&self, cutoff: DateTime<Utc>) -> StoreResult<Vec<String>> {
        Ok(
            on_pool!(self, pool => scoped!(pool, Scope::System, tx => sqlx::query_scalar::<_, String>(
            "UPDATE workers SET state = 'lost', running = 0 WHERE state = 'active' AND last_seen_at < $1 \
             RETURNING id")
            .bind(cutoff).fetch_all(&mut *tx).await?)),
        )
    }

    async fn stop_worker(&self, worker_id: &str) -> StoreResult<()> {
        let now = Utc::now();
        on_pool!(self, pool => scoped!(pool, Scope::System, tx => sqlx::query(
            "UPDATE workers SET state = 'stopped', running = 0, last_seen_at = $2, stopped_at = $2 WHERE id = $1")
            .bind(worker_id).bind(now).execute(&mut *tx).await?.rows_affected()));
        Ok(())
    }

    async fn list_workers(&self) -> StoreResult<Vec<WorkerRecord>> {
        let sql = format!(
            "SELECT {WORKER_COLUMNS} FROM workers ORDER BY CASE state WHEN 'active' THEN 0 \
             WHEN 'lost' THEN 1 ELSE 2 END, last_seen_at DESC, id LIMIT 1000"
        );
        Ok(on_pool!(self, pool => scoped!(pool, Scope::System, tx =>
            sqlx::query_as::<_, WorkerRecord>(&sql).fetch_all(&mut *tx).await?)))
    }

    async fn prune_workers(&self, before: DateTime<Utc>) -> StoreResult<u64> {
        Ok(
            on_pool!(self, pool => scoped!(pool, Scope::System, tx => sqlx::query(
            "DELETE FROM workers WHERE state <> 'active' AND last_seen_at < $1")
            .bind(before).execute(&mut *tx).await?.rows_affected())),
        )
    }
}
