//! Dead letters and the job views of tenant admins and operators: list and inspect jobs of
//! every kind, requeue dead ones, discard them.
//!
//! Every method takes the caller's tenant: `Some(tenant)` runs in that tenant's scope and only
//! ever sees its rows (so jobs that belong to no tenant — retention, pruning — are invisible to
//! tenant admins); `None` is the system scope of platform operators and the CLI.
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::types::Json;

use super::jobs::JOB_COLUMNS;
use super::sql::{on_pool, scoped, scoped_tx, Scope, SqlStore, JOBS_CHANNEL};
use super::tasks::reopen_task;
use super::*;
use crate::domain::job::JobKind;

/// Every state a job row can be in.
pub const JOB_STATES: [&str; 5] = ["queued", "running", "done", "dead", "cancelled"];
/// The most jobs one page lists.
pub const MAX_JOB_PAGE: i64 = 500;
/// The most jobs one requeue or discard touches (a filter selects at most this many).
pub const MAX_JOB_BATCH: usize = 500;

/// Which jobs a listing (or a requeue by filter) selects; `None` fields select everything.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct JobFilter {
    /// One of `JOB_STATES`.
    pub state: Option<String>,
    pub queue: Option<String>,
    pub kind: Option<String>,
    pub task_id: Option<String>,
}

/// Where the next page starts: pages are newest first by `(created_at, id)`, so rows that
/// arrive while an operator pages through never shift the pages already read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobCursor {
    pub created_at: DateTime<Utc>,
    pub id: String,
}

impl JobCursor {
    /// The cursor of the page that follows `job`.
    pub fn after(job: &JobRecord) -> JobCursor {
        JobCursor {
            created_at: job.created_at,
            id: job.id.clone(),
        }
    }

    /// `<microseconds>.<job id>`: URL-safe, exact at the database's precision.
    pub fn encode(&self) -> String {
        format!("{}.{}", self.created_at.timestamp_micros(), self.id)
    }

    /// `None` for anything `encode` did not make.
    pub fn decode(text: &str) -> Option<JobCursor> {
        let (micros, id) = text.split_once('.')?;
        let valid_id = !id.is_empty()
            && id.len() <= 128
            && id
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | ':'));
        if !valid_id || !micros.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        Some(JobCursor {
            created_at: DateTime::from_timestamp_micros(micros.parse().ok()?)?,
            id: id.to_string(),
        })
    }
}

/// One page of jobs, newest first, and where the next one starts (`None`: this was the last).
#[derive(Debug, Clone, PartialEq)]
pub struct JobPage {
    pub jobs: Vec<JobRecord>,
    pub next: Option<JobCursor>,
}

/// A job with its payload (what the worker will be handed), for inspection.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct JobDetail {
    #[sqlx(flatten)]
    pub job: JobRecord,
    pub payload: Json<Value>,
}

/// Which dead jobs a requeue takes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JobSelection {
    /// These ids (at most `MAX_JOB_BATCH`; the caller checks).
    Ids(Vec<String>),
    /// The dead jobs matching the filter (its `state` is ignored), oldest death first, at most
    /// `MAX_JOB_BATCH`.
    Dead(JobFilter),
}

/// What a requeue or discard did to one job.
#[derive(Debug, Clone, PartialEq)]
pub struct JobAction {
    pub job_id: String,
    pub outcome: JobOutcome,
}

#[derive(Debug, Clone, PartialEq)]
pub enum JobOutcome {
    /// Done: the job as it is now; for a pipeline stage, whether its failed task went back to
    /// `queued`.
    Done {
        job: Box<JobRecord>,
        task_reopened: bool,
    },
    /// No such job in the caller's scope.
    NotFound,
    /// Only dead jobs are requeued or discarded.
    NotDead { state: String },
    /// A dead pipeline stage whose task is no longer failed by that stage (a retry, another
    /// stage or a cancellation has moved it on): running it again would race the task's
    /// current pipeline. `POST /tasks/{id}/retry` is the way back for such a task.
    TaskMoved { task_id: String, state: String },
}

/// Dead letters and job introspection for tenant admins (`Some(tenant)`) and operators (`None`).
#[async_trait]
pub trait JobAdminStore: Send + Sync {
    /// A page of jobs matching `filter`, newest first, after `after`; `limit` is capped to
    /// `1..=MAX_JOB_PAGE`.
    async fn list_jobs(
        &self,
        tenant: Option<&str>,
        filter: &JobFilter,
        after: Option<&JobCursor>,
        limit: i64,
    ) -> StoreResult<JobPage>;
    /// One job with its payload and every attempt's error.
    async fn job_detail(
        &self,
        tenant: Option<&str>,
        job_id: &str,
    ) -> StoreResult<Option<JobDetail>>;
    /// Puts dead jobs back in their queue, due at `now_ms`, with their full attempt budget
    /// (their errors are kept); a dead stage job's failed task goes back to `queued` the way
    /// `retry_task` puts it. One transaction; idle workers are woken.
    async fn requeue_dead_jobs(
        &self,
        tenant: Option<&str>,
        selection: &JobSelection,
        now_ms: i64,
    ) -> StoreResult<Vec<JobAction>>;
    /// Gives dead jobs up for good (`cancelled`, so job pruning removes them in time). The task
    /// or speaker a job was for is left as it is. One transaction.
    async fn discard_dead_jobs(
        &self,
        tenant: Option<&str>,
        job_ids: &[String],
    ) -> StoreResult<Vec<JobAction>>;
    /// Dead jobs per queue in the scope (queues without any are left out).
    async fn dead_job_counts(&self, tenant: Option<&str>) -> StoreResult<Vec<(String, i64)>>;
}

fn scope(tenant: Option<&str>) -> Scope<'_> {
    tenant.map_or(Scope::System, Scope::Tenant)
}

/// `state = '<state>' AND ` for a known state: written out rather than bound, so PostgreSQL
/// can answer `dead` from the `jobs_dead` partial index instead of reading finished rows.
fn state_predicate(state: Option<&str>) -> StoreResult<String> {
    match state {
        None => Ok(String::new()),
        Some(s) => match JOB_STATES.iter().find(|known| **known == s) {
            Some(known) => Ok(format!("state = '{known}' AND ")),
            None => Err(StoreError::Conflict(format!("unknown job state `{s}`"))),
        },
    }
}

/// The selection's ids; a filter is resolved by a read of its own before the writing
/// transaction (each write re-checks that its job is still dead).
async fn selected_ids(
    store: &SqlStore,
    tenant: Option<&str>,
    selection: &JobSelection,
) -> StoreResult<Vec<String>> {
    let f = match selection {
        JobSelection::Ids(ids) => return Ok(ids.clone()),
        JobSelection::Dead(f) => f,
    };
    let limit = MAX_JOB_BATCH as i64;
    Ok(
        on_pool!(store, pool => scoped!(pool, scope(tenant), tx => sqlx::query_scalar::<_, String>(
        "SELECT id FROM jobs WHERE state = 'dead' AND ($1 IS NULL OR tenant_id = $1) \
         AND ($2 IS NULL OR queue = $2) AND ($3 IS NULL OR kind = $3) AND ($4 IS NULL OR task_id = $4) \
         ORDER BY finished_at, id LIMIT $5")
        .bind(tenant).bind(&f.queue).bind(&f.kind).bind(&f.task_id).bind(limit)
        .fetch_all(&mut *tx).await?)),
    )
}

/// Why a job that the dead-only update did not touch was left alone.
macro_rules! untouched {
    ($tx:expr, $id:expr, $tenant:expr) => {{
        let state: Option<String> = sqlx::query_scalar(
            "SELECT state FROM jobs WHERE id = $1 AND ($2 IS NULL OR tenant_id = $2)",
        )
        .bind($id)
        .bind($tenant)
        .fetch_optional(&mut *$tx)
        .await?;
        match state {
            None => JobOutcome::NotFound,
            Some(state) => JobOutcome::NotDead { state },
        }
    }};
}

/// The job row as it is now, inside the caller's transaction.
macro_rules! job_row {
    ($tx:expr, $id:expr) => {{
        let sql = format!("SELECT {JOB_COLUMNS} FROM jobs WHERE id = $1");
        sqlx::query_as::<_, JobRecord>(&sql)
            .bind($id)
            .fetch_one(&mut *$tx)
            .await?
    }};
}

#[async_trait]
impl JobAdminStore for SqlStore {
    async fn list_jobs(
        &self,
        tenant: Option<&str>,
        f: &JobFilter,
        after: Option<&JobCursor>,
        limit: i64,
    ) -> StoreResult<JobPage> {
        let limit = limit.clamp(1, MAX_JOB_PAGE);
        let sql = format!(
            "SELECT {JOB_COLUMNS} FROM jobs WHERE {}($1 IS NULL OR tenant_id = $1) \
             AND ($2 IS NULL OR queue = $2) AND ($3 IS NULL OR kind = $3) AND ($4 IS NULL OR task_id = $4) \
             AND ($5 IS NULL OR created_at < $5 OR (created_at = $5 AND id < $6)) \
             ORDER BY created_at DESC, id DESC LIMIT $7",
            state_predicate(f.state.as_deref())?
        );
        // One row more than the page says whether another page follows.
        let mut jobs = on_pool!(self, pool => scoped!(pool, scope(tenant), tx => sqlx::query_as::<_, JobRecord>(&sql)
            .bind(tenant).bind(&f.queue).bind(&f.kind).bind(&f.task_id)
            .bind(after.map(|c| c.created_at)).bind(after.map(|c| c.id.as_str())).bind(limit + 1)
            .fetch_all(&mut *tx).await?));
        let more = jobs.len() as i64 > limit;
        jobs.truncate(limit as usize);
        let next = more.then(|| jobs.last().map(JobCursor::after)).flatten();
        Ok(JobPage { jobs, next })
    }

    async fn job_detail(
        &self,
        tenant: Option<&str>,
        job_id: &str,
    ) -> StoreResult<Option<JobDetail>> {
        let sql = format!(
            "SELECT {JOB_COLUMNS}, payload FROM jobs WHERE id = $1 AND ($2 IS NULL OR tenant_id = $2)"
        );
        Ok(
            on_pool!(self, pool => scoped!(pool, scope(tenant), tx => sqlx::query_as::<_, JobDetail>(&sql)
            .bind(job_id).bind(tenant).fetch_optional(&mut *tx).await?)),
        )
    }

    async fn requeue_dead_jobs(
        &self,
        tenant: Option<&str>,
        selection: &JobSelection,
        now_ms: i64,
    ) -> StoreResult<Vec<JobAction>> {
        let ids = selected_ids(self, tenant, selection).await?;
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let now = Utc::now();
        let actions = on_pool!(self, pool => {
            let mut tx = scoped_tx!(pool, scope(tenant));
            let mut actions = Vec::with_capacity(ids.len());
            for id in &ids {
                // The first statement writes, so the row (PostgreSQL) or the database (SQLite)
                // is ours until commit: a concurrent requeue or discard finds the job not dead.
                let dead: Option<(String, Option<String>, Option<String>)> = sqlx::query_as(
                    "UPDATE jobs SET updated_at = $3 WHERE id = $1 AND state = 'dead' \
                     AND ($2 IS NULL OR tenant_id = $2) RETURNING kind, task_id, tenant_id")
                    .bind(id).bind(tenant).bind(now).fetch_optional(&mut *tx).await?;
                let Some((kind, task_id, job_tenant)) = dead else {
                    actions.push(JobAction { job_id: id.clone(), outcome: untouched!(tx, id, tenant) });
                    continue;
                };
                let stage_task = JobKind::parse(&kind)
                    .and_then(JobKind::stage)
                    .and(task_id.zip(job_tenant));
                let mut task_reopened = false;
                if let Some((task_id, job_tenant)) = stage_task {
                    let task: Option<(String, Option<String>)> = sqlx::query_as(
                        "SELECT state, failed_stage FROM tasks WHERE id = $1 AND tenant_id = $2 AND is_deleted = FALSE")
                        .bind(&task_id).bind(&job_tenant).fetch_optional(&mut *tx).await?;
                    let failed_here = task
                        .as_ref()
                        .is_some_and(|(state, stage)| state == "failed" && stage.as_deref() == Some(kind.as_str()));
                    if !failed_here {
                        let state = task.map_or_else(|| "deleted".to_string(), |(state, _)| state);
                        actions.push(JobAction { job_id: id.clone(), outcome: JobOutcome::TaskMoved { task_id, state } });
                        continue;
                    }
                    task_reopened = reopen_task!(tx, tenant = &job_tenant, task = &task_id, from = "failed",
                        reason = format!("dead {kind} job requeued"), now = now);
                }
                let queue: String = sqlx::query_scalar(
                    "UPDATE jobs SET state = 'queued', attempts = 0, run_at_ms = $2, locked_by = NULL, \
                     locked_until_ms = NULL, finished_at = NULL, announced_ms = NULL, updated_at = $3 \
                     WHERE id = $1 RETURNING queue")
                    .bind(id).bind(now_ms).bind(now).fetch_one(&mut *tx).await?;
                // Like `insert_job!`: listening workers (of any process) wake at commit.
                if super::sql::is_postgres(pool) {
                    sqlx::query("SELECT pg_notify($1, $2)")
                        .bind(JOBS_CHANNEL).bind(&queue).execute(&mut *tx).await?;
                }
                let job = Box::new(job_row!(tx, id));
                actions.push(JobAction { job_id: id.clone(), outcome: JobOutcome::Done { job, task_reopened } });
            }
            tx.commit().await?;
            actions
        });
        if actions
            .iter()
            .any(|a| matches!(a.outcome, JobOutcome::Done { .. }))
        {
            self.jobs_signal.notify_waiters();
        }
        Ok(actions)
    }

    async fn discard_dead_jobs(
        &self,
        tenant: Option<&str>,
        job_ids: &[String],
    ) -> StoreResult<Vec<JobAction>> {
        if job_ids.is_empty() {
            return Ok(Vec::new());
        }
        let now = Utc::now();
        Ok(on_pool!(self, pool => {
            let mut tx = scoped_tx!(pool, scope(tenant));
            let mut actions = Vec::with_capacity(job_ids.len());
            for id in job_ids {
                let rows = sqlx::query(
                    "UPDATE jobs SET state = 'cancelled', locked_by = NULL, locked_until_ms = NULL, \
                     finished_at = $3, updated_at = $3 WHERE id = $1 AND state = 'dead' \
                     AND ($2 IS NULL OR tenant_id = $2)")
                    .bind(id).bind(tenant).bind(now).execute(&mut *tx).await?.rows_affected();
                let outcome = if rows == 1 {
                    JobOutcome::Done { job: Box::new(job_row!(tx, id)), task_reopened: false }
                } else {
                    untouched!(tx, id, tenant)
                };
                actions.push(JobAction { job_id: id.clone(), outcome });
            }
            tx.commit().await?;
            actions
        }))
    }

    async fn dead_job_counts(&self, tenant: Option<&str>) -> StoreResult<Vec<(String, i64)>> {
        // Inside the `jobs_dead` partial index: finished rows are never read.
        Ok(
            on_pool!(self, pool => scoped!(pool, scope(tenant), tx => sqlx::query_as::<_, (String, i64)>(
            "SELECT queue, COUNT(*) FROM jobs WHERE state = 'dead' AND ($1 IS NULL OR tenant_id = $1) \
             GROUP BY queue ORDER BY queue")
            .bind(tenant).fetch_all(&mut *tx).await?)),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_refuse_anything_else() {
        let c = JobCursor {
            created_at: DateTime::from_timestamp_micros(1_717_000_000_123_456).unwrap(),
            id: "job_01HZX".into(),
        };
        assert_eq!(JobCursor::decode(&c.encode()), Some(c));
        for bad in [
            "",
            "123",
            ".job_1",
            "12a.job_1",
            "-5.job_1",
            "1.job 1",
            "1.job'1",
        ] {
            assert_eq!(JobCursor::decode(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn only_known_states_are_written_into_the_query() {
        assert_eq!(
            state_predicate(Some("dead")).unwrap(),
            "state = 'dead' AND "
        );
        assert_eq!(state_predicate(None).unwrap(), "");
        assert!(state_predicate(Some("dead' OR 1=1 --")).is_err());
    }
}
