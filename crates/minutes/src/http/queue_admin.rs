//! The queue as operators and tenant admins see it: `/queue/status` (depth per queue, workers,
//! schedules), `/admin/workers` (the fleet) and the dead letters under `/admin/jobs` (list,
//! inspect with every attempt's error, requeue one or many, discard).
//!
//! Who may do what:
//! * platform operators: every tenant's jobs and the jobs of no tenant (retention, pruning);
//! * tenant admins: their own tenant's jobs only — another tenant's job, and a job of no tenant,
//!   is "not found" (404), so ids cannot be probed. In `/queue/status` they get the global depth,
//!   running and age numbers (counts of shared queues, no tenant's data) but dead counts of their
//!   own tenant only (`scope: tenant`);
//! * `/admin/workers` (hosts, pids, versions of the platform's processes) is for operators only;
//! * members: 403.
//!
//! Every requeue and discard is audited, in the job's tenant (so its admins see what the platform
//! did to their jobs) or, for a job of no tenant, in the acting operator's.
use axum::extract::State;
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::{json, Value};

use super::auth::{write_audit, Caller};
use super::error::{ApiError, ApiResult};
use super::extract::{Json, Path, Query};
use super::views::ts;
use super::AppState;
use crate::domain::job::{kind_names, queues};
use crate::store::{
    AttemptError, JobAction, JobCursor, JobDetail, JobFilter, JobOutcome, JobRecord, JobSelection,
    WorkerRecord, JOB_STATES, MAX_JOB_BATCH, MAX_JOB_PAGE,
};

const DEFAULT_PAGE: i64 = 50;

/// The jobs the caller may touch: `Some(tenant)` for a tenant admin, `None` (all) for an operator.
fn reach(app: &AppState, caller: &Caller) -> ApiResult<Option<String>> {
    if caller.is_operator(app) {
        Ok(None)
    } else if caller.role == "admin" {
        Ok(Some(caller.tenant_id.clone()))
    } else {
        Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            "the job queue is for tenant admins and platform operators",
        ))
    }
}

fn query_error(field: &str, msg: impl Into<String>) -> ApiError {
    ApiError::validation(vec![
        json!({"loc": ["query", field], "msg": msg.into(), "type": "value_error"}),
    ])
}

fn ms_ts(ms: i64) -> Option<String> {
    DateTime::<Utc>::from_timestamp_millis(ms).map(|t| ts(&t))
}

fn attempt_view(e: &AttemptError) -> Value {
    json!({
        "attempt": e.attempt, "at": e.at.as_ref().map(ts), "worker": e.worker,
        "code": e.code, "detail": e.detail,
    })
}

/// A job in a listing: where it stands and its latest error (also `minutes jobs list --json`).
pub fn job_view(j: &JobRecord) -> Value {
    json!({
        "job_id": j.id, "kind": j.kind, "queue": j.queue, "state": j.state,
        "tenant_id": j.tenant_id, "task_id": j.task_id, "priority": j.priority,
        "attempts": j.attempts, "max_attempts": j.max_attempts,
        // A queued job's run_at_ms is its due time; a running job's is its lease expiry.
        "due_at": (j.state == "queued").then(|| ms_ts(j.run_at_ms)).flatten(),
        "locked_by": j.locked_by,
        "lease_expires_at": j.locked_until_ms.and_then(ms_ts),
        "created_at": ts(&j.created_at), "updated_at": ts(&j.updated_at),
        "finished_at": j.finished_at.as_ref().map(ts),
        "last_error": j.errors.0.last().map(attempt_view),
    })
}

pub async fn status(State(app): State<AppState>, caller: Caller) -> ApiResult<Json<Value>> {
    let tenant = reach(&app, &caller)?;
    let now_ms = app.clock.now_ms();
    let depths = app.store.queue_depths(now_ms).await?;
    let tenant_dead = match &tenant {
        Some(t) => Some(app.store.dead_job_counts(Some(t)).await?),
        None => None,
    };
    let workers = app.store.list_workers().await?;
    let schedules = crate::queue::schedule::status(&app).await?;
    let age = |oldest: Option<i64>| {
        // Sidekiq's latency convention: 0 when nothing is waiting.
        oldest.map_or(0.0, |ms| (now_ms - ms).max(0) as f64 / 1000.0)
    };
    let mut totals = (0i64, 0i64, 0i64, 0i64, 0.0f64);
    let mut out = Vec::with_capacity(depths.len());
    for d in &depths {
        let dead = match &tenant_dead {
            Some(counts) => counts
                .iter()
                .find(|(q, _)| *q == d.queue)
                .map_or(0, |c| c.1),
            None => d.dead,
        };
        let oldest = age(d.oldest_due_ms);
        totals = (
            totals.0 + d.due,
            totals.1 + d.scheduled,
            totals.2 + d.running,
            totals.3 + dead,
            totals.4.max(oldest),
        );
        out.push(json!({
            "queue": d.queue, "depth": d.due, "scheduled": d.scheduled, "running": d.running,
            "dead": dead, "oldest_age_seconds": oldest,
        }));
    }
    let count = |state: &str| workers.iter().filter(|w| w.state == state).count();
    Ok(Json(json!({
        "queues": out,
        "totals": {"depth": totals.0, "scheduled": totals.1, "running": totals.2, "dead": totals.3,
                   "oldest_age_seconds": totals.4},
        "workers": {"active": count("active"), "lost": count("lost")},
        "delivery": serde_json::to_value(app.config.queue.backend).map_err(ApiError::internal)?,
        "schedules": serde_json::to_value(&schedules).map_err(ApiError::internal)?,
        // Whose dead jobs `dead` counts.
        "scope": if tenant.is_some() { "tenant" } else { "platform" },
        "generated_at": ms_ts(now_ms),
    })))
}

fn worker_view(w: &WorkerRecord) -> Value {
    json!({
        "id": w.id, "host": w.host, "pid": w.pid, "version": w.version, "queues": w.queues.0,
        "concurrency": w.concurrency, "running": w.running, "delivery": w.delivery,
        "state": w.state, "started_at": ts(&w.started_at), "last_seen_at": ts(&w.last_seen_at),
        "stopped_at": w.stopped_at.as_ref().map(ts),
    })
}

pub async fn workers(State(app): State<AppState>, caller: Caller) -> ApiResult<Json<Value>> {
    if !caller.is_operator(&app) {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            "the worker fleet is for platform operators",
        ));
    }
    let workers = app.store.list_workers().await?;
    let count = |state: &str| workers.iter().filter(|w| w.state == state).count();
    Ok(Json(json!({
        "workers": workers.iter().map(worker_view).collect::<Vec<_>>(),
        "total": workers.len(),
        "active": count("active"),
        "lost": count("lost"),
        "stopped": count("stopped"),
    })))
}

#[derive(Debug, Deserialize)]
pub struct JobsQuery {
    state: Option<String>,
    queue: Option<String>,
    kind: Option<String>,
    task_id: Option<String>,
    /// Operators: one tenant's jobs. Tenant admins: their own tenant or nothing.
    tenant: Option<String>,
    limit: Option<i64>,
    cursor: Option<String>,
}

/// Checks `queue` and `kind` against the job kinds (`loc` says where they came from).
fn check_queue_and_kind(
    queue: Option<&str>,
    kind: Option<&str>,
    error: impl Fn(&str, String) -> ApiError,
) -> ApiResult<()> {
    if let Some(q) = queue.filter(|q| !queues().contains(q)) {
        return Err(error(
            "queue",
            format!("unknown queue `{q}`: one of {}", queues().join(", ")),
        ));
    }
    if let Some(k) = kind.filter(|k| !kind_names().contains(k)) {
        return Err(error(
            "kind",
            format!("unknown job kind `{k}`: one of {}", kind_names().join(", ")),
        ));
    }
    Ok(())
}

pub async fn list(
    State(app): State<AppState>,
    caller: Caller,
    Query(q): Query<JobsQuery>,
) -> ApiResult<Json<Value>> {
    let mut tenant = reach(&app, &caller)?;
    if let Some(wanted) = q.tenant.as_deref() {
        match &tenant {
            None => tenant = Some(wanted.to_string()),
            Some(own) if own == wanted => {}
            Some(_) => {
                return Err(ApiError::new(
                    StatusCode::FORBIDDEN,
                    "forbidden",
                    "only platform operators read another tenant's jobs",
                ))
            }
        }
    }
    if let Some(s) = q.state.as_deref().filter(|s| !JOB_STATES.contains(s)) {
        return Err(query_error(
            "state",
            format!("unknown job state `{s}`: one of {}", JOB_STATES.join(", ")),
        ));
    }
    check_queue_and_kind(q.queue.as_deref(), q.kind.as_deref(), |f, m| {
        query_error(f, m)
    })?;
    if q.task_id.as_deref() == Some("") {
        return Err(query_error("task_id", "must not be empty"));
    }
    let limit = q.limit.unwrap_or(DEFAULT_PAGE);
    if !(1..=MAX_JOB_PAGE).contains(&limit) {
        return Err(query_error(
            "limit",
            format!("between 1 and {MAX_JOB_PAGE}"),
        ));
    }
    let after = match q.cursor.as_deref() {
        None => None,
        Some(c) => Some(JobCursor::decode(c).ok_or_else(|| {
            query_error(
                "cursor",
                "not a cursor this endpoint returned as next_cursor",
            )
        })?),
    };
    let filter = JobFilter {
        state: q.state,
        queue: q.queue,
        kind: q.kind,
        task_id: q.task_id,
    };
    let page = app
        .store
        .list_jobs(tenant.as_deref(), &filter, after.as_ref(), limit)
        .await?;
    Ok(Json(json!({
        "jobs": page.jobs.iter().map(job_view).collect::<Vec<_>>(),
        "next_cursor": page.next.map(|c| c.encode()),
        "limit": limit,
    })))
}

pub async fn get(
    State(app): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    let tenant = reach(&app, &caller)?;
    let detail = app
        .store
        .job_detail(tenant.as_deref(), &id)
        .await?
        .ok_or_else(|| ApiError::not_found("job"))?;
    Ok(Json(json!({"job": job_detail_view(&detail)})))
}

/// A job with its payload and every failed attempt, oldest first (also `minutes jobs show --json`).
pub fn job_detail_view(detail: &JobDetail) -> Value {
    let mut view = job_view(&detail.job);
    view["lease_gen"] = json!(detail.job.lease_gen);
    view["payload"] = detail.payload.0.clone();
    view["errors"] = json!(detail
        .job
        .errors
        .0
        .iter()
        .map(attempt_view)
        .collect::<Vec<_>>());
    view
}

/// Records one requeued or discarded job, in its tenant (or the operator's, for a job of none).
async fn audit(app: &AppState, caller: &Caller, action: &str, job: &JobRecord, extra: Value) {
    let mut details = json!({
        "kind": job.kind, "queue": job.queue, "task_id": job.task_id, "tenant_id": job.tenant_id,
        "operator": caller.is_operator(app),
    });
    if let Some(map) = details.as_object_mut() {
        if let Value::Object(more) = extra {
            map.extend(more);
        }
        if let Some(id) = &caller.request_id {
            map.insert("request_id".into(), json!(id));
        }
    }
    let tenant = job.tenant_id.as_deref().unwrap_or(&caller.tenant_id);
    write_audit(
        app,
        tenant,
        Some(&caller.user_id),
        action,
        "job",
        &job.id,
        details,
    )
    .await;
}

/// The answer for the one job an action named: the job, or why nothing was done.
fn single(mut actions: Vec<JobAction>, verb: &str) -> ApiResult<(JobRecord, bool)> {
    let action = actions.pop().ok_or_else(|| ApiError::not_found("job"))?;
    match action.outcome {
        JobOutcome::Done { job, task_reopened } => Ok((*job, task_reopened)),
        JobOutcome::NotFound => Err(ApiError::not_found("job")),
        JobOutcome::NotDead { state } => Err(ApiError::new(
            StatusCode::CONFLICT,
            "job_not_dead",
            format!("the job is {state}: only dead jobs can be {verb}"),
        )),
        JobOutcome::TaskMoved { task_id, state } => Err(ApiError::new(
            StatusCode::CONFLICT,
            "task_moved_on",
            format!(
                "task {task_id} is {state}, no longer failed by this stage: retry the task \
                 (POST /tasks/{task_id}/retry) instead"
            ),
        )),
    }
}

pub async fn requeue(
    State(app): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    let tenant = reach(&app, &caller)?;
    let actions = app
        .store
        .requeue_dead_jobs(
            tenant.as_deref(),
            &JobSelection::Ids(vec![id]),
            app.clock.now_ms(),
        )
        .await?;
    let (job, task_reopened) = single(actions, "requeued")?;
    audit(
        &app,
        &caller,
        "job.requeue",
        &job,
        json!({"task_reopened": task_reopened}),
    )
    .await;
    Ok(Json(json!({
        "success": true, "job": job_view(&job), "task_reopened": task_reopened,
        "message": "job requeued with its full attempt budget",
    })))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BulkRequeue {
    job_ids: Option<Vec<String>>,
    /// With no `job_ids`: `dead` selects the dead jobs matching the other fields.
    state: Option<String>,
    kind: Option<String>,
    queue: Option<String>,
    task_id: Option<String>,
}

fn body_error(field: &str, msg: String) -> ApiError {
    ApiError::field(field, msg)
}

fn selection(b: BulkRequeue) -> ApiResult<JobSelection> {
    match b.job_ids {
        Some(ids) => {
            if b.state.is_some() || b.kind.is_some() || b.queue.is_some() || b.task_id.is_some() {
                return Err(body_error(
                    "job_ids",
                    "give either job_ids or a filter (state, kind, queue, task_id), not both"
                        .into(),
                ));
            }
            if ids.is_empty() || ids.len() > MAX_JOB_BATCH || ids.iter().any(String::is_empty) {
                return Err(body_error(
                    "job_ids",
                    format!("between 1 and {MAX_JOB_BATCH} non-empty job ids"),
                ));
            }
            let mut unique = ids;
            let mut seen = std::collections::HashSet::new();
            unique.retain(|id| seen.insert(id.clone()));
            Ok(JobSelection::Ids(unique))
        }
        None => {
            match b.state.as_deref() {
                Some("dead") => {}
                Some(other) => {
                    return Err(body_error(
                        "state",
                        format!("only dead jobs are requeued, not `{other}`"),
                    ))
                }
                None => {
                    return Err(body_error(
                        "job_ids",
                        "give job_ids, or state: dead (with kind, queue or task_id to narrow it)"
                            .into(),
                    ))
                }
            }
            check_queue_and_kind(b.queue.as_deref(), b.kind.as_deref(), body_error)?;
            if b.task_id.as_deref() == Some("") {
                return Err(body_error("task_id", "must not be empty".into()));
            }
            Ok(JobSelection::Dead(JobFilter {
                state: Some("dead".into()),
                queue: b.queue,
                kind: b.kind,
                task_id: b.task_id,
            }))
        }
    }
}

fn outcome_view(a: &JobAction) -> Value {
    match &a.outcome {
        JobOutcome::Done { job, task_reopened } => json!({
            "job_id": a.job_id, "outcome": "requeued", "kind": job.kind, "queue": job.queue,
            "task_reopened": task_reopened,
        }),
        JobOutcome::NotFound => json!({"job_id": a.job_id, "outcome": "not_found"}),
        JobOutcome::NotDead { state } => {
            json!({"job_id": a.job_id, "outcome": "not_dead", "state": state})
        }
        JobOutcome::TaskMoved { task_id, state } => json!({
            "job_id": a.job_id, "outcome": "task_moved_on", "task_id": task_id, "state": state,
        }),
    }
}

/// Requeues the listed dead jobs, or the dead jobs matching a filter (at most `MAX_JOB_BATCH`
/// at a time: `capped` says to call again). Ids outside the caller's reach are `not_found`.
pub async fn requeue_many(
    State(app): State<AppState>,
    caller: Caller,
    Json(body): Json<BulkRequeue>,
) -> ApiResult<Json<Value>> {
    let tenant = reach(&app, &caller)?;
    let selection = selection(body)?;
    let by_filter = matches!(selection, JobSelection::Dead(_));
    let actions = app
        .store
        .requeue_dead_jobs(tenant.as_deref(), &selection, app.clock.now_ms())
        .await?;
    let mut requeued = 0;
    for a in &actions {
        if let JobOutcome::Done { job, task_reopened } = &a.outcome {
            requeued += 1;
            audit(
                &app,
                &caller,
                "job.requeue",
                job,
                json!({"task_reopened": task_reopened, "batch": true}),
            )
            .await;
        }
    }
    Ok(Json(json!({
        "success": true,
        "requeued": requeued,
        "skipped": actions.len() - requeued,
        "capped": by_filter && actions.len() >= MAX_JOB_BATCH,
        "results": actions.iter().map(outcome_view).collect::<Vec<_>>(),
        "message": format!("{requeued} job(s) requeued"),
    })))
}

pub async fn discard(
    State(app): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    let tenant = reach(&app, &caller)?;
    let actions = app
        .store
        .discard_dead_jobs(tenant.as_deref(), &[id])
        .await?;
    let (job, _) = single(actions, "discarded")?;
    audit(&app, &caller, "job.discard", &job, json!({})).await;
    Ok(Json(json!({
        "success": true, "job": job_view(&job),
        "message": "job discarded: it will not run again",
    })))
}
