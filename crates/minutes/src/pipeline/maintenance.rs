//! The periodic maintenance job: purges trash past `retention.trash_days` (rows and objects),
//! deletes audio past its retention (text is kept) and backfills the search index. Every worker serving the `maintenance` queue
//! schedules it; the job id is derived from the period, so there is one run per interval.
use chrono::{Duration, Utc};
use serde_json::json;

use super::{JobError, StageError};
use crate::app::App;
use crate::domain::retention::{audio_due_at, AudioRules};
use crate::domain::stage::RETENTION_JOB;
use crate::store::{AuditEntry, ClaimedJob, NewJob, StoreError};

/// Tasks handled per run; the next run continues where this one stopped.
const BATCH: i64 = 500;

/// Enqueues the run of the period containing `at_ms` (a no-op when it already exists).
pub async fn schedule(app: &App, at_ms: i64) -> Result<bool, StoreError> {
    let period_ms = i64::from(app.config.retention.interval_minutes) * 60_000;
    let period = at_ms / period_ms;
    app.store
        .enqueue_once(&NewJob {
            id: format!("job_retention_{period}"),
            queue: "maintenance".into(),
            kind: RETENTION_JOB.into(),
            task_id: None,
            tenant_id: None,
            payload: json!({"period": period}),
            priority: -10,
            max_attempts: 3,
            run_at_ms: period * period_ms,
        })
        .await
}

pub(super) async fn run(app: &App, job: &ClaimedJob) -> Result<(), JobError> {
    let now = Utc::now();
    let r = &app.config.retention;
    let mut trash = 0;
    for (tenant_id, task_id) in app
        .store
        .expired_trash(now - Duration::days(r.trash_days.into()), BATCH)
        .await?
    {
        let keys = app
            .store
            .exclusive_upload_keys(&tenant_id, &task_id)
            .await?;
        delete_objects(app, &tenant_id, &task_id, &keys).await?;
        app.store.purge_task(&tenant_id, &task_id, &keys).await?;
        audit(
            app,
            &tenant_id,
            "task.purge",
            &task_id,
            json!({"reason": "trash retention", "objects": keys.len()}),
        )
        .await;
        trash += 1;
    }
    let rules = AudioRules {
        audio_days: r.audio_days.into(),
        audio_extended_days: r.audio_extended_days.into(),
        audio_max_days: r.audio_max_days.into(),
    };
    let mut audio = 0;
    for c in app
        .store
        .audio_retention_candidates(now - Duration::days(r.audio_days.into()), BATCH)
        .await?
    {
        let due = audio_due_at(
            &rules,
            c.created_at,
            c.completed_at,
            c.confirmed_at.filter(|_| c.is_confirmed),
            c.revisions > 1,
        );
        if due > now {
            continue;
        }
        let keys = app
            .store
            .exclusive_upload_keys(&c.tenant_id, &c.task_id)
            .await?;
        delete_objects(app, &c.tenant_id, &c.task_id, &keys).await?;
        app.store
            .mark_audio_purged(&c.tenant_id, &c.task_id, &keys, now)
            .await?;
        audit(
            app,
            &c.tenant_id,
            "audio.purge",
            &c.task_id,
            json!({"reason": "audio retention", "objects": keys.len()}),
        )
        .await;
        audio += 1;
    }
    // Tasks from before the search index existed get indexed a batch at a time.
    let indexed = app.store.backfill_search(BATCH).await?;
    tracing::info!(
        trash_purged = trash,
        audio_purged = audio,
        search_backfilled = indexed,
        "retention run finished"
    );
    app.store.complete_job(&job.lease()).await?;
    let next = app.clock.now_ms() + i64::from(r.interval_minutes) * 60_000;
    schedule(app, next).await?;
    Ok(())
}

/// Objects go first: if this fails the rows stay and the next run tries again.
async fn delete_objects(
    app: &App,
    tenant_id: &str,
    task_id: &str,
    keys: &[String],
) -> Result<(), JobError> {
    for key in keys
        .iter()
        .cloned()
        .chain([super::normalized_key(tenant_id, task_id)])
    {
        app.objects
            .delete(&key)
            .await
            .map_err(|e| JobError::Failed(StageError::internal("deleting an object", e)))?;
    }
    Ok(())
}

async fn audit(
    app: &App,
    tenant_id: &str,
    action: &str,
    task_id: &str,
    details: serde_json::Value,
) {
    let entry = AuditEntry {
        tenant_id: tenant_id.to_string(),
        user_id: None,
        action: action.to_string(),
        resource_type: "task".into(),
        resource_id: task_id.to_string(),
        details,
    };
    if let Err(e) = app.store.insert_audit(&entry).await {
        tracing::warn!(error = %e, action, task_id, "could not write an audit entry");
    }
}
