//! The durable job queue: lease-based claims, heartbeats, fencing, retries and dead letters.
use async_trait::async_trait;
use chrono::Utc;
use sqlx::types::Json;

use super::content::insert_artifact_row;
use super::sql::{insert_job, on_pool, scoped, scoped_tx, skip_locked, Scope, SqlStore};
use super::tasks::{fence, insert_costs};
use super::*;

pub(super) const JOB_COLUMNS: &str =
    "id, queue, kind, task_id, state, attempts, max_attempts, run_at_ms, locked_by, \
    locked_until_ms, lease_gen, errors, tenant_id, priority, created_at, updated_at, finished_at";

/// What a claim sets and returns; the `WHERE` picks the rows.
const CLAIM_SET: &str = "UPDATE jobs SET state = 'running', locked_by = $1, locked_until_ms = $2, \
    claimed_due_ms = run_at_ms, run_at_ms = $2, lease_gen = lease_gen + 1, attempts = attempts + 1, updated_at = $3";
const CLAIM_RETURNING: &str =
    "RETURNING id, queue, kind, task_id, tenant_id, payload, attempts, max_attempts, lease_gen, \
    priority, claimed_due_ms";

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
        let (errors, attempt, worker): (
            sqlx::types::Json<Vec<$crate::store::AttemptError>>,
            i64,
            Option<String>,
        ) = sqlx::query_as("SELECT errors, attempts, locked_by FROM jobs WHERE id = $1")
            .bind(&$lease.job_id)
            .fetch_one(&mut *$tx)
            .await?;
        let mut errors = errors.0;
        let text: String = $error;
        let (code, detail) = text.split_once(": ").unwrap_or((text.as_str(), ""));
        errors.push($crate::store::AttemptError {
            attempt: Some(attempt),
            at: Some($now),
            worker,
            code: code.to_string(),
            detail: detail.to_string(),
        });
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
        Ok(self
            .claim_jobs(queues, worker_id, lease_ms, now_ms, 1)
            .await?
            .pop())
    }

    async fn claim_jobs(
        &self,
        queues: &[String],
        worker_id: &str,
        lease_ms: i64,
        now_ms: i64,
        limit: i64,
    ) -> StoreResult<Vec<ClaimedJob>> {
        if queues.is_empty() || limit < 1 {
            return Ok(Vec::new());
        }
        let now = Utc::now();
        // Cross-tenant: a worker serves every tenant's jobs on its queues.
        on_pool!(self, pool => {
            // A running job's run_at_ms is its lease expiry: once passed, the job belongs to a dead
            // worker and is claimable again; the bumped lease_gen fences off that worker's late writes.
            let sql = format!(
                "{CLAIM_SET} WHERE id IN (SELECT id FROM jobs WHERE state IN ('queued', 'running') \
                 AND run_at_ms <= $4 AND queue IN ({}) ORDER BY priority DESC, run_at_ms, id LIMIT $5 {}) \
                 {CLAIM_RETURNING}",
                placeholders(6, queues.len()),
                skip_locked(pool)
            );
            let mut q = sqlx::query_as::<_, ClaimedJob>(&sql)
                .bind(worker_id).bind(now_ms + lease_ms).bind(now).bind(now_ms).bind(limit);
            for queue in queues {
                q = q.bind(queue);
            }
            let mut jobs = scoped!(pool, Scope::System, tx => q.fetch_all(&mut *tx).await?);
            jobs.sort_by_key(|j: &ClaimedJob| std::cmp::Reverse(j.priority));
            Ok(jobs)
        })
    }

    async fn claim_jobs_by_ids(
        &self,
        job_ids: &[String],
        queues: &[String],
        worker_id: &str,
        lease_ms: i64,
        now_ms: i64,
    ) -> StoreResult<Vec<ClaimedJob>> {
        if queues.is_empty() || job_ids.is_empty() {
            return Ok(Vec::new());
        }
        let now = Utc::now();
        // Cross-tenant like the claim. Two workers given the same id: the second update waits
        // for the first and then finds the lease live (run_at_ms in the future), so it gets none.
        on_pool!(self, pool => {
            let sql = format!(
                "{CLAIM_SET} WHERE id IN ({}) AND state IN ('queued', 'running') AND run_at_ms <= $4 \
                 AND queue IN ({}) {CLAIM_RETURNING}",
                placeholders(5, job_ids.len()),
                placeholders(5 + job_ids.len(), queues.len()),
            );
            let mut q = sqlx::query_as::<_, ClaimedJob>(&sql)
                .bind(worker_id).bind(now_ms + lease_ms).bind(now).bind(now_ms);
            for id in job_ids {
                q = q.bind(id);
            }
            for queue in queues {
                q = q.bind(queue);
            }
            let mut jobs = scoped!(pool, Scope::System, tx => q.fetch_all(&mut *tx).await?);
            jobs.sort_by_key(|j: &ClaimedJob| std::cmp::Reverse(j.priority));
            Ok(jobs)
        })
    }

    async fn take_unannounced(&self, now_ms: i64, limit: i64) -> StoreResult<Vec<DueJob>> {
        // Cross-tenant: the relay announces every tenant's jobs. The predicate repeats the
        // `jobs_unannounced` partial index's, so only rows awaiting an announcement are read.
        on_pool!(self, pool => {
            let sql = format!(
                "UPDATE jobs SET announced_ms = run_at_ms WHERE id IN (SELECT id FROM jobs \
                 WHERE state IN ('queued', 'running') AND (announced_ms IS NULL OR announced_ms <> run_at_ms) \
                 AND run_at_ms <= $1 ORDER BY run_at_ms LIMIT $2 {}) RETURNING id, queue, run_at_ms",
                skip_locked(pool)
            );
            Ok(scoped!(pool, Scope::System, tx => sqlx::query_as::<_, DueJob>(&sql)
                .bind(now_ms).bind(limit).fetch_all(&mut *tx).await?))
        })
    }

    async fn unannounce(&self, jobs: &[DueJob]) -> StoreResult<()> {
        on_pool!(self, pool => {
            let mut tx = scoped_tx!(pool, Scope::System);
            for job in jobs {
                sqlx::query("UPDATE jobs SET announced_ms = NULL WHERE id = $1 AND announced_ms = $2")
                    .bind(&job.id).bind(job.run_at_ms).execute(&mut *tx).await?;
            }
            tx.commit().await?;
        });
        Ok(())
    }

    async fn queue_depths(&self, now_ms: i64) -> StoreResult<Vec<QueueDepth>> {
        // Cross-tenant: the queues are shared. Both reads stay inside partial indexes
        // (`jobs_claim`, `jobs_dead`): finished rows, however many, are never read.
        let (open, dead) = on_pool!(self, pool => scoped!(pool, Scope::System, tx => {
            let open = sqlx::query_as::<_, (String, i64, i64, i64, Option<i64>)>(
                "SELECT queue, \
                   SUM(CASE WHEN run_at_ms <= $1 THEN 1 ELSE 0 END), \
                   SUM(CASE WHEN state = 'queued' AND run_at_ms > $1 THEN 1 ELSE 0 END), \
                   SUM(CASE WHEN state = 'running' AND run_at_ms > $1 THEN 1 ELSE 0 END), \
                   MIN(CASE WHEN run_at_ms <= $1 THEN run_at_ms END) \
                 FROM jobs WHERE state IN ('queued', 'running') GROUP BY queue")
                .bind(now_ms).fetch_all(&mut *tx).await?;
            let dead = sqlx::query_as::<_, (String, i64)>(
                "SELECT queue, COUNT(*) FROM jobs WHERE state = 'dead' GROUP BY queue")
                .fetch_all(&mut *tx).await?;
            (open, dead)
        }));
        Ok(crate::domain::job::queues()
            .into_iter()
            .map(|queue| {
                let o = open.iter().find(|o| o.0 == queue);
                QueueDepth {
                    queue: queue.to_string(),
                    due: o.map_or(0, |o| o.1),
                    scheduled: o.map_or(0, |o| o.2),
                    running: o.map_or(0, |o| o.3),
                    dead: dead.iter().find(|d| d.0 == queue).map_or(0, |d| d.1),
                    oldest_due_ms: o.and_then(|o| o.4),
                }
            })
            .collect())
    }

    async fn prune_finished_jobs(
        &self,
        before: chrono::DateTime<Utc>,
        limit: i64,
    ) -> StoreResult<u64> {
        // Cross-tenant maintenance; oldest first through the `jobs_finished` partial index.
        Ok(
            on_pool!(self, pool => scoped!(pool, Scope::System, tx => sqlx::query(
            "DELETE FROM jobs WHERE id IN (SELECT id FROM jobs WHERE state IN ('done', 'cancelled') \
             AND finished_at < $1 ORDER BY finished_at LIMIT $2)")
            .bind(before).bind(limit).execute(&mut *tx).await?.rows_affected())),
        )
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
        if self.completer.complete(lease.clone()).await? {
            Ok(())
        } else {
            Err(StoreError::Fenced)
        }
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
            "SELECT state, COUNT(*) FROM jobs WHERE state IN ('queued', 'running', 'dead') \
             GROUP BY state ORDER BY state")
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
