//! Periodic maintenance jobs, scheduled by cron (`schedules`, `queue/schedule.rs`):
//! `retention` purges trash past `retention.trash_days` (rows and objects), deletes audio past
//! its retention (text is kept) and backfills the search index; `prune_jobs` deletes finished
//! jobs past `queue.keep_finished_days` and long-gone workers; `backup` takes a backup into
//! `backup.to` and applies `backup.retention` (`datamove::backup`).
use chrono::{Duration, Utc};
use serde_json::json;

use super::{JobError, StageError};
use crate::app::App;
use crate::domain::retention::{audio_due_at, AudioRules};
use crate::store::{AuditEntry, ClaimedJob};

/// Tasks handled per run; the next run continues where this one stopped.
const BATCH: i64 = 500;

/// Statements per pruning run: a huge backlog is worked off over several runs, never in one
/// long transaction.
const PRUNE_ROUNDS: usize = 200;

/// Stopped and lost workers stay listed this long.
const KEEP_WORKERS_DAYS: i64 = 7;

pub(super) async fn prune(app: &App, job: &ClaimedJob) -> Result<(), JobError> {
    let q = &app.config.queue;
    let before = Utc::now() - Duration::days(q.keep_finished_days.into());
    let mut jobs = 0;
    for _ in 0..PRUNE_ROUNDS {
        let n = app
            .store
            .prune_finished_jobs(before, q.prune_batch.into())
            .await?;
        jobs += n;
        if n < u64::from(q.prune_batch) {
            break;
        }
    }
    let workers = app
        .store
        .prune_workers(Utc::now() - Duration::days(KEEP_WORKERS_DAYS))
        .await?;
    tracing::info!(
        jobs_pruned = jobs,
        workers_pruned = workers,
        "job pruning finished"
    );
    app.store.complete_job(&job.lease()).await?;
    Ok(())
}

pub(super) async fn backup(app: &App, job: &ClaimedJob) -> Result<(), JobError> {
    use crate::datamove::backup::{self, destination::Destination};
    let b = &app.config.backup;
    let outcome = async {
        let dest = Destination::parse(&app.config, &b.to)?;
        let key = backup::key_from(std::env::var("MINUTES_BACKUP_KEY").ok(), &b.key_file)?;
        let created = backup::create(&app.sql, &app.objects, &dest, key.as_ref(), false).await?;
        let pruned = backup::prune(&dest, &b.retention, key.as_ref(), Utc::now()).await?;
        anyhow::Ok((created, pruned))
    }
    .await;
    match outcome {
        Ok((created, pruned)) => {
            tracing::info!(archive = %created.archive, bytes = created.archive_bytes,
                objects_copied = created.objects.copied, seconds = created.seconds,
                pruned = pruned.deleted.len(), "backup finished");
            app.store.complete_job(&job.lease()).await?;
            Ok(())
        }
        // Retried with backoff like any job; a run that keeps failing ends as a dead letter,
        // and `minutes_backup_last_success_timestamp_seconds` goes stale for the alert.
        Err(e) => Err(JobError::Failed(StageError::transient(
            "backup_failed",
            format!("{e:#}"),
        ))),
    }
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
