//! The durable job queue: lease-based claims, heartbeats, fencing, retries and dead letters.
use async_trait::async_trait;
use chrono::Utc;
use sqlx::types::Json;

use super::content::insert_artifact_row;
use super::sql::{insert_job, on_pool, scoped, scoped_tx, skip_locked, Scope, SqlStore};
use super::tasks::{fence, insert_costs};
use super::*;

const JOB_COLUMNS: &str =
    "id, queue, kind, task_id, state, attempts, max_attempts, run_at_ms, locked_by, \
    locked_until_ms, lease_gen, errors";

/// A job's tenant, or the system scope for jobs that belong to none (maintenance).
fn job_scope(job: &NewJob) -> Scope<'_> {
    job.tenant_id
        .as_deref()
        .map_or(Scope::System, Scope::Tenant)
}

fn placeholders(start: usize, n: usize) -> String {
    (start..start + n)
        .map(|i| format!("${i}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Puts a failed job back in the queue at `retry_at_ms`, or kills it (`None`), appending the
/// attempt's error to its history; inside the caller's fenced transaction.
macro_rules! record_job_failure {
    ($tx:expr, $lease:expr, $error:expr, $retry_at_ms:expr, $now:expr) => {{
        let (errors,): (sqlx::types::Json<Vec<String>>,) =
            sqlx::query_as("SELECT errors FROM jobs WHERE id = $1")
                .bind(&$lease.job_id)
                .fetch_one(&mut *$tx)
                .await?;
        let mut errors = errors.0;
        errors.push($error);
        let retry_at_ms: Option<i64> = $retry_at_ms;
        sqlx::query(
            "UPDATE jobs SET state = $2, errors = $3, run_at_ms = COALESCE($4, run_at_ms), \
             locked_by = NULL, locked_until_ms = NULL, finished_at = $5 WHERE id = $1",
        )
        .bind(&$lease.job_id)
        .bind(if retry_at_ms.is_some() {
            "queued"
        } else {
            "dead"
        })
        .bind(sqlx::types::Json(&errors))
        .bind(retry_at_ms)
        .bind(retry_at_ms.is_none().then_some($now))
        .execute(&mut *$tx)
        .await?;
    }};
}
pub(super) use record_job_failure;

#[async_trait]
impl JobStore for SqlStore {
    async fn enqueue(&self, job: &NewJob) -> StoreResult<()> {
        let now = Utc::now();
        on_pool!(self, pool => {
            let mut tx = scoped_tx!(pool, job_scope(job));
            insert_job!(pool, tx, job, now);
            tx.commit().await?;
        });
        self.jobs_signal.notify_waiters();
        Ok(())
    }

    async fn enqueue_once(&self, job: &NewJob) -> StoreResult<bool> {
        let now = Utc::now();
        let inserted = on_pool!(self, pool => scoped!(pool, job_scope(job), tx => sqlx::query(
            "INSERT INTO jobs (id, queue, kind, task_id, tenant_id, payload, state, priority, attempts, \
             max_attempts, run_at_ms, lease_gen, errors, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, 'queued', $7, 0, $8, $9, 0, $10, $11, $11) ON CONFLICT (id) DO NOTHING")
            .bind(&job.id).bind(&job.queue).bind(&job.kind).bind(&job.task_id).bind(&job.tenant_id)
            .bind(Json(&job.payload)).bind(job.priority).bind(job.max_attempts).bind(job.run_at_ms)
            .bind(Json(Vec::<String>::new())).bind(now)
            .execute(&mut *tx).await?.rows_affected() == 1));
        Ok(inserted)
    }

    async fn claim_job(
        &self,
        queues: &[String],
        worker_id: &str,
        lease_ms: i64,
        now_ms: i64,
    ) -> StoreResult<Option<ClaimedJob>> {
        if queues.is_empty() {
            return Ok(None);
        }
        let now = Utc::now();
        // Cross-tenant: a worker serves every tenant's jobs on its queues.
        on_pool!(self, pool => {
            // A running job's run_at_ms is its lease expiry: once passed, the job belongs to a dead
            // worker and is claimable again; the bumped lease_gen fences off that worker's late writes.
            let sql = format!(
                "UPDATE jobs SET state = 'running', locked_by = $1, locked_until_ms = $2, run_at_ms = $2, \
                 lease_gen = lease_gen + 1, attempts = attempts + 1, updated_at = $3 \
                 WHERE id = (SELECT id FROM jobs WHERE state IN ('queued', 'running') AND run_at_ms <= $4 \
                   AND queue IN ({}) ORDER BY priority DESC, run_at_ms, id LIMIT 1 {}) \
                 RETURNING id, queue, kind, task_id, tenant_id, payload, attempts, max_attempts, lease_gen",
                placeholders(5, queues.len()),
                skip_locked(pool)
            );
            let mut q = sqlx::query_as::<_, ClaimedJob>(&sql)
                .bind(worker_id).bind(now_ms + lease_ms).bind(now).bind(now_ms);
            for queue in queues {
                q = q.bind(queue);
            }
            Ok(scoped!(pool, Scope::System, tx => q.fetch_optional(&mut *tx).await?))
        })
    }

    // heartbeat, complete_job, fail_job and release_job only touch the job row, by id and
    // lease generation (the lease does not carry the tenant): system scope, like the claim.
    async fn heartbeat(&self, lease: &Lease, locked_until_ms: i64) -> StoreResult<()> {
        let rows = on_pool!(self, pool => scoped!(pool, Scope::System, tx => sqlx::query(
            "UPDATE jobs SET locked_until_ms = $3, run_at_ms = $3 WHERE id = $1 AND lease_gen = $2 AND state = 'running'")
            .bind(&lease.job_id).bind(lease.lease_gen).bind(locked_until_ms)
            .execute(&mut *tx).await?.rows_affected()));
        if rows != 1 {
            return Err(StoreError::Fenced);
        }
        Ok(())
    }

    async fn complete_job(&self, lease: &Lease) -> StoreResult<()> {
        let now = Utc::now();
        let rows = on_pool!(self, pool => scoped!(pool, Scope::System, tx => sqlx::query(
            "UPDATE jobs SET state = 'done', locked_by = NULL, locked_until_ms = NULL, finished_at = $3, updated_at = $3 \
             WHERE id = $1 AND lease_gen = $2 AND state = 'running'")
            .bind(&lease.job_id).bind(lease.lease_gen).bind(now)
            .execute(&mut *tx).await?.rows_affected()));
        if rows != 1 {
            return Err(StoreError::Fenced);
        }
        Ok(())
    }

    async fn complete_job_with_artifact(
        &self,
        lease: &Lease,
        a: &NewArtifact,
        costs: &[NewCost],
    ) -> StoreResult<ArtifactRecord> {
        let now = Utc::now();
        let a = &self.sealed_artifact(a)?;
        on_pool!(self, pool => {
            let mut tx = scoped_tx!(pool, Scope::Tenant(&a.tenant_id));
            fence!(tx, lease, now);
            sqlx::query("UPDATE jobs SET state = 'done', locked_by = NULL, locked_until_ms = NULL, finished_at = $2 \
                         WHERE id = $1")
                .bind(&lease.job_id).bind(now).execute(&mut *tx).await?;
            insert_artifact_row!(tx, a, now);
            insert_costs!(tx, &a.tenant_id, &a.task_id, costs, now);
            tx.commit().await?;
        });
        self.get_artifact(&a.tenant_id, &a.id)
            .await?
            .ok_or(StoreError::NotFound)
    }

    async fn fail_job(
        &self,
        lease: &Lease,
        error: &str,
        retry_at_ms: Option<i64>,
    ) -> StoreResult<()> {
        let now = Utc::now();
        on_pool!(self, pool => {
            let mut tx = scoped_tx!(pool, Scope::System);
            fence!(tx, lease, now);
            record_job_failure!(tx, lease, error.to_string(), retry_at_ms, now);
            tx.commit().await?;
        });
        Ok(())
    }

    async fn release_job(&self, lease: &Lease) -> StoreResult<()> {
        let now = Utc::now();
        let rows = on_pool!(self, pool => scoped!(pool, Scope::System, tx => sqlx::query(
            "UPDATE jobs SET state = 'queued', locked_by = NULL, locked_until_ms = NULL, run_at_ms = 0, \
             attempts = CASE WHEN attempts > 0 THEN attempts - 1 ELSE 0 END, updated_at = $3 \
             WHERE id = $1 AND lease_gen = $2 AND state = 'running'")
            .bind(&lease.job_id).bind(lease.lease_gen).bind(now)
            .execute(&mut *tx).await?.rows_affected()));
        if rows != 1 {
            return Err(StoreError::Fenced);
        }
        self.jobs_signal.notify_waiters();
        Ok(())
    }

    async fn get_job(&self, job_id: &str) -> StoreResult<Option<JobRecord>> {
        // Cross-tenant: queue introspection by job id (operators, tests, and the generate
        // endpoint waiting on the job it just enqueued).
        let sql = format!("SELECT {JOB_COLUMNS} FROM jobs WHERE id = $1");
        Ok(on_pool!(self, pool => scoped!(pool, Scope::System, tx =>
            sqlx::query_as::<_, JobRecord>(&sql).bind(job_id).fetch_optional(&mut *tx).await?)))
    }

    async fn jobs_for_task(&self, task_id: &str) -> StoreResult<Vec<JobRecord>> {
        let sql =
            format!("SELECT {JOB_COLUMNS} FROM jobs WHERE task_id = $1 ORDER BY created_at, id");
        // Cross-tenant: queue introspection, like `get_job`.
        Ok(on_pool!(self, pool => scoped!(pool, Scope::System, tx =>
            sqlx::query_as::<_, JobRecord>(&sql).bind(task_id).fetch_all(&mut *tx).await?)))
    }

    async fn job_counts(&self) -> StoreResult<Vec<(String, i64)>> {
        // Cross-tenant: the queue is shared, and a metric is about the whole of it.
        Ok(
            on_pool!(self, pool => scoped!(pool, Scope::System, tx => sqlx::query_as::<_, (String, i64)>(
            "SELECT state, COUNT(*) FROM jobs GROUP BY state ORDER BY state")
            .fetch_all(&mut *tx).await?)),
        )
    }

    async fn count_unfinished_jobs(&self, queues: &[String]) -> StoreResult<i64> {
        if queues.is_empty() {
            return Ok(0);
        }
        // Cross-tenant, like the claim: the worker's idle and shutdown checks see whole queues.
        let sql = format!(
            "SELECT COUNT(*) FROM jobs WHERE state IN ('queued', 'running') AND queue IN ({})",
            placeholders(1, queues.len())
        );
        on_pool!(self, pool => {
            let mut q = sqlx::query_scalar::<_, i64>(&sql);
            for queue in queues {
                q = q.bind(queue);
            }
            Ok(scoped!(pool, Scope::System, tx => q.fetch_one(&mut *tx).await?))
        })
    }

    async fn next_due_ms(&self, queues: &[String]) -> StoreResult<Option<i64>> {
        if queues.is_empty() {
            return Ok(None);
        }
        let sql = format!(
            "SELECT MIN(run_at_ms) FROM jobs \
             WHERE state IN ('queued', 'running') AND queue IN ({})",
            placeholders(1, queues.len())
        );
        on_pool!(self, pool => {
            let mut q = sqlx::query_scalar::<_, Option<i64>>(&sql);
            for queue in queues {
                q = q.bind(queue);
            }
            Ok(scoped!(pool, Scope::System, tx => q.fetch_one(&mut *tx).await?))
        })
    }
}
