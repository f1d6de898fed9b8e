//! Tasks, files, steps, history, and the fenced stage transitions the pipeline makes.
use async_trait::async_trait;
use chrono::Utc;
use sqlx::types::Json;

use super::jobs::record_job_failure;
use super::sql::{insert_event, insert_job, on_pool, scoped, scoped_tx, Scope, SqlStore};
use super::*;
use crate::domain::task::{estimate_remaining_secs, TaskState};

pub(super) const TASK_COLUMNS: &str = "id, tenant_id, user_id, name, meeting_type, asr_language, \
    output_language, skip_speaker_recognition, hotword_set_id, prompt_instance, state, progress, \
    estimated_time, audio_duration, error_code, error_message, error_detail, retryable, failed_stage, \
    folder_id, is_deleted, deleted_at, is_confirmed, confirmed_by, confirmed_by_name, confirmed_at, \
    confirmation_items, meeting_date, meeting_time, hotwords, audio_purged_at, created_at, updated_at, \
    completed_at, last_content_modified_at";

const ACTIVE_STATES: &str =
    "('pending', 'queued', 'running', 'transcribing', 'identifying', 'correcting', 'summarizing')";

/// Takes the job's row lock and proves the lease is still ours; every fenced write starts here.
macro_rules! fence {
    ($conn:expr, $lease:expr, $now:expr) => {{
        let r = sqlx::query(
            "UPDATE jobs SET updated_at = $3 WHERE id = $1 AND lease_gen = $2 AND state = 'running'",
        )
        .bind(&$lease.job_id)
        .bind($lease.lease_gen)
        .bind($now)
        .execute(&mut *$conn)
        .await?;
        if r.rows_affected() != 1 {
            return Err(StoreError::Fenced);
        }
    }};
}
pub(super) use fence;

/// Appends priced usage rows to the cost ledger inside the caller's transaction. A row whose
/// job already billed the same usage is skipped (`cost_records_once_per_job`), so a completion
/// that somehow ran twice cannot bill twice.
macro_rules! insert_costs {
    ($tx:expr, $tenant:expr, $task:expr, $costs:expr, $now:expr) => {
        for c in $costs {
            sqlx::query(
                "INSERT INTO cost_records (tenant_id, task_id, provider, api_type, units, unit, amount_micros, \
                 currency, metadata, created_at, stage, model, priced, job_id, attempt) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15) \
                 ON CONFLICT (job_id, api_type, provider, model) WHERE job_id IS NOT NULL DO NOTHING",
            )
            .bind($tenant).bind($task).bind(&c.provider).bind(c.usage.api_type()).bind(c.usage.units())
            .bind(c.usage.unit()).bind(c.amount.0).bind(&c.currency).bind(sqlx::types::Json(&c.metadata))
            .bind($now).bind(c.stage).bind(&c.model).bind(c.priced).bind(&c.job_id).bind(c.attempt)
            .execute(&mut *$tx)
            .await?;
        }
    };
}
pub(super) use insert_costs;

/// Puts a `failed` or `cancelled` task back to `queued` (its error cleared) with a history
/// entry, inside the caller's transaction; the caller enqueues (or requeues) the job that
/// resumes it. `from` is the state the caller read: a task that has moved on since is left
/// alone. Evaluates to whether the task was reopened. `retry_task` and the dead-letter requeue
/// (`store/job_admin.rs`) share it, so both put a task back the same way.
macro_rules! reopen_task {
    ($tx:expr, tenant = $tenant:expr, task = $task:expr, from = $from:expr, reason = $reason:expr, now = $now:expr) => {{
        let rows = sqlx::query(
            "UPDATE tasks SET state = 'queued', error_code = NULL, error_message = NULL, error_detail = NULL, \
             retryable = NULL, failed_stage = NULL, completed_at = NULL, updated_at = $3 \
             WHERE id = $1 AND tenant_id = $2 AND state = $4 AND state IN ('failed', 'cancelled')")
            .bind($task).bind($tenant).bind($now).bind($from)
            .execute(&mut *$tx).await?.rows_affected();
        if rows == 1 {
            $crate::store::sql::insert_event!(&mut *$tx, tenant = $tenant, task = $task, from = Some($from),
                to = "queued", reason = $reason,
                detail = None::<sqlx::types::Json<serde_json::Value>>, now = $now);
        }
        rows == 1
    }};
}
pub(super) use reopen_task;

impl SqlStore {
    /// The owner's task; one in the trash only with `include_deleted`.
    pub(super) async fn find_task(
        &self,
        owner: &Owner,
        task_id: &str,
        include_deleted: bool,
    ) -> StoreResult<Option<TaskRecord>> {
        let sql = format!(
            "SELECT {TASK_COLUMNS} FROM tasks WHERE id = $1 AND tenant_id = $2 AND user_id = $3 \
             AND ($4 OR is_deleted = FALSE)"
        );
        self.opened(on_pool!(self, pool => scoped!(pool, Scope::Tenant(&owner.tenant_id), tx => sqlx::query_as::<_, TaskRecord>(&sql)
            .bind(task_id).bind(&owner.tenant_id).bind(&owner.user_id).bind(include_deleted)
            .fetch_optional(&mut *tx).await?)))
    }
}

#[async_trait]
impl TaskStore for SqlStore {
    async fn create_task(
        &self,
        t: &NewTask,
        files: &[NewTaskFile],
        first_job: &NewJob,
    ) -> StoreResult<TaskRecord> {
        let now = Utc::now();
        on_pool!(self, pool => {
            let mut tx = scoped_tx!(pool, Scope::Tenant(&t.tenant_id));
            sqlx::query(
                "INSERT INTO tasks (id, tenant_id, user_id, name, meeting_type, asr_language, output_language, \
                 skip_speaker_recognition, hotword_set_id, prompt_instance, state, progress, folder_id, \
                 meeting_date, meeting_time, created_at, updated_at, last_content_modified_at, hotwords) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, 'queued', 0, $11, $12, $13, $14, $14, $14, $15)",
            )
            .bind(&t.id).bind(&t.tenant_id).bind(&t.user_id).bind(&t.name).bind(&t.meeting_type)
            .bind(&t.asr_language).bind(&t.output_language).bind(t.skip_speaker_recognition)
            .bind(&t.hotword_set_id).bind(Json(&t.prompt_instance)).bind(&t.folder_id)
            .bind(&t.meeting_date).bind(&t.meeting_time).bind(now).bind(Json(&t.hotwords))
            .execute(&mut *tx).await?;
            for f in files {
                sqlx::query(
                    "INSERT INTO task_files (task_id, file_order, tenant_id, object_key, original_filename, sha256, size_bytes) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7)",
                )
                .bind(&t.id).bind(f.file_order).bind(&t.tenant_id).bind(&f.object_key)
                .bind(&f.original_filename).bind(&f.sha256).bind(f.size_bytes)
                .execute(&mut *tx).await?;
            }
            insert_event!(&mut *tx, tenant = &t.tenant_id, task = &t.id, from = Some("pending"), to = "queued",
                reason = "task created", detail = None::<Json<serde_json::Value>>, now = now);
            insert_job!(pool, tx, first_job, now);
            tx.commit().await?;
        });
        self.jobs_signal.notify_waiters();
        self.get_task_in_tenant(&t.tenant_id, &t.id)
            .await?
            .ok_or(StoreError::NotFound)
    }

    /// Tasks in the trash are not found here: only the trash endpoints see them.
    async fn get_task(&self, owner: &Owner, task_id: &str) -> StoreResult<Option<TaskRecord>> {
        self.find_task(owner, task_id, false).await
    }

    async fn get_task_in_tenant(
        &self,
        tenant_id: &str,
        task_id: &str,
    ) -> StoreResult<Option<TaskRecord>> {
        let sql = format!("SELECT {TASK_COLUMNS} FROM tasks WHERE id = $1 AND tenant_id = $2");
        self.opened(on_pool!(self, pool => scoped!(pool, Scope::Tenant(tenant_id), tx => sqlx::query_as::<_, TaskRecord>(&sql)
            .bind(task_id).bind(tenant_id).fetch_optional(&mut *tx).await?)))
    }

    async fn list_tasks(&self, owner: &Owner, f: &TaskFilter) -> StoreResult<Vec<TaskRecord>> {
        // Optional filters are expressed in SQL so the statement text stays fixed.
        let sql = format!(
            "SELECT {TASK_COLUMNS} FROM tasks WHERE tenant_id = $1 AND user_id = $2 \
             AND ($3 IS NULL OR state = $3) \
             AND ($4 = 0 OR ($5 IS NULL AND folder_id IS NULL) OR folder_id = $5) \
             AND ($6 OR is_deleted = FALSE) \
             ORDER BY created_at DESC, id DESC LIMIT $7 OFFSET $8"
        );
        let (folder_filter, folder) = match &f.folder_id {
            None => (0i64, None),
            Some(folder) => (1i64, folder.clone()),
        };
        self.opened(on_pool!(self, pool => scoped!(pool, Scope::Tenant(&owner.tenant_id), tx => sqlx::query_as::<_, TaskRecord>(&sql)
            .bind(&owner.tenant_id).bind(&owner.user_id).bind(&f.state).bind(folder_filter)
            .bind(folder).bind(f.include_deleted).bind(f.limit).bind(f.offset)
            .fetch_all(&mut *tx).await?)))
    }

    async fn rename_task(&self, owner: &Owner, task_id: &str, name: &str) -> StoreResult<()> {
        let now = Utc::now();
        let rows = on_pool!(self, pool => scoped!(pool, Scope::Tenant(&owner.tenant_id), tx => sqlx::query(
            "UPDATE tasks SET name = $4, updated_at = $5 WHERE id = $1 AND tenant_id = $2 AND user_id = $3 \
             AND is_deleted = FALSE")
            .bind(task_id).bind(&owner.tenant_id).bind(&owner.user_id).bind(name).bind(now)
            .execute(&mut *tx).await?.rows_affected()));
        if rows == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }

    async fn delete_task(&self, owner: &Owner, task_id: &str) -> StoreResult<()> {
        let rows = on_pool!(self, pool => scoped!(pool, Scope::Tenant(&owner.tenant_id), tx => sqlx::query(
            "DELETE FROM tasks WHERE id = $1 AND tenant_id = $2 AND user_id = $3")
            .bind(task_id).bind(&owner.tenant_id).bind(&owner.user_id)
            .execute(&mut *tx).await?.rows_affected()));
        if rows == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }

    async fn task_files(&self, tenant_id: &str, task_id: &str) -> StoreResult<Vec<TaskFileRecord>> {
        Ok(
            on_pool!(self, pool => scoped!(pool, Scope::Tenant(tenant_id), tx => sqlx::query_as::<_, TaskFileRecord>(
            "SELECT file_order, object_key, original_filename, sha256, size_bytes, duration_secs, offset_secs \
             FROM task_files WHERE task_id = $1 AND tenant_id = $2 ORDER BY file_order")
            .bind(task_id).bind(tenant_id).fetch_all(&mut *tx).await?)),
        )
    }

    async fn task_events(&self, tenant_id: &str, task_id: &str) -> StoreResult<Vec<TaskEvent>> {
        Ok(
            on_pool!(self, pool => scoped!(pool, Scope::Tenant(tenant_id), tx => sqlx::query_as::<_, TaskEvent>(
            "SELECT id, from_state, to_state, reason, detail, created_at FROM task_events \
             WHERE task_id = $1 AND tenant_id = $2 ORDER BY id")
            .bind(task_id).bind(tenant_id).fetch_all(&mut *tx).await?)),
        )
    }

    async fn task_steps(&self, tenant_id: &str, task_id: &str) -> StoreResult<Vec<StepRecord>> {
        self.opened_in_task(task_id, on_pool!(self, pool => scoped!(pool, Scope::Tenant(tenant_id), tx => sqlx::query_as::<_, StepRecord>(
            "SELECT step, status, attempts, result, error, provider_job_id, started_at, completed_at \
             FROM task_steps WHERE task_id = $1 AND tenant_id = $2")
            .bind(task_id).bind(tenant_id).fetch_all(&mut *tx).await?)))
    }

    async fn cancel_task(&self, owner: &Owner, task_id: &str, reason: &str) -> StoreResult<String> {
        let task = self
            .get_task(owner, task_id)
            .await?
            .ok_or(StoreError::NotFound)?;
        let now = Utc::now();
        let updated = on_pool!(self, pool => {
            let mut tx = scoped_tx!(pool, Scope::Tenant(&owner.tenant_id));
            let sql = format!(
                "UPDATE tasks SET state = 'cancelled', updated_at = $3, completed_at = $3 \
                 WHERE id = $1 AND tenant_id = $2 AND state = $4 AND state IN {ACTIVE_STATES}");
            let rows = sqlx::query(&sql).bind(task_id).bind(&owner.tenant_id).bind(now).bind(&task.state)
                .execute(&mut *tx).await?.rows_affected();
            if rows == 1 {
                // Running jobs lose their lease: their late writes are fenced off.
                sqlx::query("UPDATE jobs SET state = 'cancelled', locked_by = NULL, locked_until_ms = NULL, \
                             updated_at = $2, finished_at = $2 WHERE task_id = $1 AND state IN ('queued', 'running')")
                    .bind(task_id).bind(now).execute(&mut *tx).await?;
                insert_event!(&mut *tx, tenant = &owner.tenant_id, task = task_id, from = Some(&task.state),
                    to = "cancelled", reason = reason, detail = None::<Json<serde_json::Value>>, now = now);
            }
            tx.commit().await?;
            rows == 1
        });
        if !updated {
            let current = self
                .get_task(owner, task_id)
                .await?
                .ok_or(StoreError::NotFound)?;
            return Err(StoreError::InvalidState {
                state: current.state,
                action: "cancel",
            });
        }
        Ok(task.state)
    }

    async fn confirm_task(
        &self,
        owner: &Owner,
        task_id: &str,
        c: &Confirmation,
    ) -> StoreResult<TaskRecord> {
        let task = self
            .get_task(owner, task_id)
            .await?
            .ok_or(StoreError::NotFound)?;
        let now = c.confirmed_at;
        let (confirmed_by, confirmed_by_name) = self.sealed_person(task_id, c)?;
        let updated = on_pool!(self, pool => {
            let mut tx = scoped_tx!(pool, Scope::Tenant(&owner.tenant_id));
            let rows = sqlx::query(
                "UPDATE tasks SET state = 'archived', is_confirmed = TRUE, confirmed_by = $3, confirmed_by_name = $4, \
                 confirmed_at = $5, confirmation_items = $6, updated_at = $5 \
                 WHERE id = $1 AND tenant_id = $2 AND state = $7 AND state IN ('success', 'partial_success') \
                 AND is_confirmed = FALSE")
                .bind(task_id).bind(&owner.tenant_id).bind(&confirmed_by).bind(&confirmed_by_name)
                .bind(now).bind(Json(&c.items)).bind(&task.state)
                .execute(&mut *tx).await?.rows_affected();
            if rows == 1 {
                // The latest version of each type is what the person confirmed.
                let latest: Vec<(String, Json<serde_json::Value>)> = sqlx::query_as(
                    "SELECT a.id, a.metadata FROM artifacts a WHERE a.task_id = $1 AND a.tenant_id = $2 \
                     AND a.version = (SELECT MAX(b.version) FROM artifacts b \
                                      WHERE b.task_id = a.task_id AND b.artifact_type = a.artifact_type)")
                    .bind(task_id).bind(&owner.tenant_id).fetch_all(&mut *tx).await?;
                for (id, metadata) in latest {
                    let mut metadata = metadata.0;
                    metadata["watermark"] = c.watermark.clone();
                    metadata["confirmed"] = serde_json::Value::Bool(true);
                    let metadata = self.sealed_metadata(&id, &metadata)?;
                    sqlx::query("UPDATE artifacts SET metadata = $2 WHERE id = $1")
                        .bind(&id).bind(Json(&metadata)).execute(&mut *tx).await?;
                }
                insert_event!(&mut *tx, tenant = &owner.tenant_id, task = task_id, from = Some(&task.state),
                    to = "archived", reason = "minutes confirmed",
                    detail = Some(Json(serde_json::json!({"confirmation_items": c.items}))), now = now);
            }
            tx.commit().await?;
            rows == 1
        });
        let current = self
            .get_task(owner, task_id)
            .await?
            .ok_or(StoreError::NotFound)?;
        if !updated {
            return Err(StoreError::InvalidState {
                state: current.state,
                action: "confirm",
            });
        }
        Ok(current)
    }

    async fn retry_task(&self, owner: &Owner, task_id: &str, job: &NewJob) -> StoreResult<String> {
        let task = self
            .get_task(owner, task_id)
            .await?
            .ok_or(StoreError::NotFound)?;
        let now = Utc::now();
        let updated = on_pool!(self, pool => {
            let mut tx = scoped_tx!(pool, Scope::Tenant(&owner.tenant_id));
            let reopened = reopen_task!(tx, tenant = &owner.tenant_id, task = task_id, from = &task.state,
                reason = format!("retry from {}", job.kind), now = now);
            if reopened {
                insert_job!(pool, tx, job, now);
            }
            tx.commit().await?;
            reopened
        });
        if !updated {
            let current = self
                .get_task(owner, task_id)
                .await?
                .ok_or(StoreError::NotFound)?;
            return Err(StoreError::InvalidState {
                state: current.state,
                action: "retry",
            });
        }
        self.jobs_signal.notify_waiters();
        Ok(task.state)
    }

    async fn report_progress(
        &self,
        lease: &Lease,
        tenant_id: &str,
        task_id: &str,
        progress: f64,
    ) -> StoreResult<()> {
        let now = Utc::now();
        on_pool!(self, pool => {
            let mut tx = scoped_tx!(pool, Scope::Tenant(tenant_id));
            fence!(tx, lease, now);
            let duration: Option<Option<f64>> = sqlx::query_scalar(
                "SELECT audio_duration FROM tasks WHERE id = $1 AND tenant_id = $2")
                .bind(task_id).bind(tenant_id).fetch_optional(&mut *tx).await?;
            let Some(duration) = duration else { return Err(StoreError::NotFound) };
            // Only forward: a late report never moves a bar back.
            sqlx::query("UPDATE tasks SET progress = $3, estimated_time = $4, updated_at = $5 \
                         WHERE id = $1 AND tenant_id = $2 AND progress < $3")
                .bind(task_id).bind(tenant_id).bind(progress)
                .bind(estimate_remaining_secs(duration, progress)).bind(now)
                .execute(&mut *tx).await?;
            tx.commit().await?;
            Ok(())
        })
    }

    async fn start_stage(&self, lease: &Lease, s: &StageStart) -> StoreResult<()> {
        let now = Utc::now();
        on_pool!(self, pool => {
            let mut tx = scoped_tx!(pool, Scope::Tenant(&s.tenant_id));
            fence!(tx, lease, now);
            let current: Option<(String, Option<f64>)> = sqlx::query_as(
                "SELECT state, audio_duration FROM tasks WHERE id = $1 AND tenant_id = $2")
                .bind(&s.task_id).bind(&s.tenant_id).fetch_optional(&mut *tx).await?;
            let Some((state, duration)) = current else { return Err(StoreError::NotFound) };
            let from = TaskState::parse(&state);
            if !from.map(|f| f.is_active()).unwrap_or(false) {
                return Err(StoreError::Fenced);
            }
            let eta = estimate_remaining_secs(duration, s.progress);
            sqlx::query("UPDATE tasks SET state = $3, progress = $4, estimated_time = $5, updated_at = $6 \
                         WHERE id = $1 AND tenant_id = $2")
                .bind(&s.task_id).bind(&s.tenant_id).bind(s.state).bind(s.progress).bind(eta).bind(now)
                .execute(&mut *tx).await?;
            if state != s.state {
                insert_event!(&mut *tx, tenant = &s.tenant_id, task = &s.task_id, from = Some(&state), to = s.state,
                    reason = format!("{} started", s.step), detail = None::<Json<serde_json::Value>>, now = now);
            }
            sqlx::query(
                "INSERT INTO task_steps (task_id, step, tenant_id, status, attempts, started_at, updated_at) \
                 VALUES ($1, $2, $3, 'running', 1, $4, $4) \
                 ON CONFLICT (task_id, step) DO UPDATE SET status = 'running', attempts = task_steps.attempts + 1, \
                 started_at = excluded.started_at, updated_at = excluded.updated_at, error = NULL")
                .bind(&s.task_id).bind(s.step).bind(&s.tenant_id).bind(now)
                .execute(&mut *tx).await?;
            tx.commit().await?;
        });
        Ok(())
    }

    async fn finish_stage(
        &self,
        lease: &Lease,
        d: &StageCompletion,
    ) -> StoreResult<Option<ArtifactRecord>> {
        let now = Utc::now();
        // Personal fields are sealed before the transaction (they are bound to ids known here).
        let result = self.sealed_step_result(&d.task_id, &d.result)?;
        let mapping = match &d.speaker_mapping {
            Some(m) => Some(self.sealed_mapping(&d.task_id, &m.mapping)?),
            None => None,
        };
        let artifact = match &d.artifact {
            Some(a) => Some(self.sealed_artifact(a)?),
            None => None,
        };
        let artifact_id = on_pool!(self, pool => {
            let mut tx = scoped_tx!(pool, Scope::Tenant(&d.tenant_id));
            fence!(tx, lease, now);
            sqlx::query("UPDATE jobs SET state = 'done', locked_by = NULL, locked_until_ms = NULL, finished_at = $2 \
                         WHERE id = $1")
                .bind(&lease.job_id).bind(now).execute(&mut *tx).await?;
            sqlx::query(
                "INSERT INTO task_steps (task_id, step, tenant_id, status, attempts, result, error, provider_job_id, \
                 started_at, completed_at, updated_at) VALUES ($1, $2, $3, $4, 1, $5, $6, $7, $8, $8, $8) \
                 ON CONFLICT (task_id, step) DO UPDATE SET status = excluded.status, result = excluded.result, \
                 error = excluded.error, provider_job_id = COALESCE(excluded.provider_job_id, task_steps.provider_job_id), \
                 completed_at = excluded.completed_at, updated_at = excluded.updated_at")
                .bind(&d.task_id).bind(d.step).bind(&d.tenant_id).bind(d.outcome.as_str())
                .bind(Json(&result)).bind(&d.error).bind(&d.provider_job_id).bind(now)
                .execute(&mut *tx).await?;
            for (order, duration, offset) in &d.file_offsets {
                sqlx::query("UPDATE task_files SET duration_secs = $3, offset_secs = $4 \
                             WHERE task_id = $1 AND file_order = $2")
                    .bind(&d.task_id).bind(order).bind(duration).bind(offset)
                    .execute(&mut *tx).await?;
            }
            let (state, duration): (String, Option<f64>) = sqlx::query_as(
                "SELECT state, audio_duration FROM tasks WHERE id = $1 AND tenant_id = $2")
                .bind(&d.task_id).bind(&d.tenant_id).fetch_one(&mut *tx).await?;
            let duration = d.audio_duration.or(duration);
            let new_state = d.final_state.unwrap_or(state.as_str()).to_string();
            let completed_at = d.final_state.map(|_| now);
            sqlx::query("UPDATE tasks SET state = $3, progress = $4, audio_duration = $5, estimated_time = $6, \
                         updated_at = $7, completed_at = COALESCE($8, completed_at) WHERE id = $1 AND tenant_id = $2")
                .bind(&d.task_id).bind(&d.tenant_id).bind(&new_state).bind(d.progress).bind(duration)
                .bind(estimate_remaining_secs(duration, d.progress)).bind(now).bind(completed_at)
                .execute(&mut *tx).await?;
            if new_state != state {
                insert_event!(&mut *tx, tenant = &d.tenant_id, task = &d.task_id, from = Some(&state), to = &new_state,
                    reason = format!("{} finished", d.step), detail = None::<Json<serde_json::Value>>, now = now);
            }
            if d.outcome == StepOutcome::FailedOptional {
                insert_event!(&mut *tx, tenant = &d.tenant_id, task = &d.task_id, from = Some(&new_state), to = &new_state,
                    reason = format!("{} failed (optional, continuing)", d.step),
                    detail = Some(Json(serde_json::json!({"error": d.error}))), now = now);
            }
            if let Some(t) = &d.transcript {
                sqlx::query(
                    "INSERT INTO transcript_revisions (task_id, revision, tenant_id, segments, full_text, duration, \
                     language, provider, author, reason, created_at) \
                     SELECT $1, COALESCE(MAX(revision), 0) + 1, $2, $3, $4, $5, $6, $7, $8, $9, $10 \
                     FROM transcript_revisions WHERE task_id = $1")
                    .bind(&d.task_id).bind(&d.tenant_id).bind(Json(&t.segments)).bind(&t.full_text)
                    .bind(t.duration).bind(&t.language).bind(&t.provider).bind(&t.author).bind(&t.reason).bind(now)
                    .execute(&mut *tx).await?;
                super::search::index_transcript!(tx, &d.task_id, t, now);
            }
            if let (Some(m), Some(mapping)) = (&d.speaker_mapping, &mapping) {
                sqlx::query(
                    "INSERT INTO speaker_mappings (task_id, version, tenant_id, mapping, author, reason, created_at) \
                     SELECT $1, COALESCE(MAX(version), 0) + 1, $2, $3, $4, $5, $6 \
                     FROM speaker_mappings WHERE task_id = $1")
                    .bind(&d.task_id).bind(&d.tenant_id).bind(Json(mapping)).bind(&m.author).bind(&m.reason)
                    .bind(now).execute(&mut *tx).await?;
            }
            if let Some(a) = &artifact {
                super::content::insert_artifact_row!(tx, a, now);
            }
            insert_costs!(tx, &d.tenant_id, &d.task_id, &d.costs, now);
            if let Some(job) = &d.next_job {
                insert_job!(pool, tx, job, now);
            }
            tx.commit().await?;
            d.artifact.as_ref().map(|a| a.id.clone())
        });
        if d.next_job.is_some() {
            self.jobs_signal.notify_waiters();
        }
        match artifact_id {
            Some(id) => Ok(self.get_artifact(&d.tenant_id, &id).await?),
            None => Ok(None),
        }
    }

    async fn fail_stage(&self, lease: &Lease, f: &StageFailure) -> StoreResult<()> {
        let now = Utc::now();
        on_pool!(self, pool => {
            let mut tx = scoped_tx!(pool, Scope::Tenant(&f.tenant_id));
            fence!(tx, lease, now);
            record_job_failure!(tx, lease, format!("{}: {}", f.error_code, f.error_detail), f.retry_at_ms, now);
            sqlx::query("UPDATE task_steps SET status = 'failed', error = $3, updated_at = $4 \
                         WHERE task_id = $1 AND step = $2")
                .bind(&f.task_id).bind(f.step).bind(&f.error_detail).bind(now)
                .execute(&mut *tx).await?;
            let (state,): (String,) = sqlx::query_as("SELECT state FROM tasks WHERE id = $1 AND tenant_id = $2")
                .bind(&f.task_id).bind(&f.tenant_id).fetch_one(&mut *tx).await?;
            if f.retry_at_ms.is_some() {
                insert_event!(&mut *tx, tenant = &f.tenant_id, task = &f.task_id, from = Some(&state), to = &state,
                    reason = format!("{} attempt failed, retry scheduled", f.step),
                    detail = Some(Json(serde_json::json!({"error_code": f.error_code, "error": f.error_message}))),
                    now = now);
            } else {
                sqlx::query("UPDATE tasks SET state = 'failed', error_code = $3, error_message = $4, \
                             error_detail = $5, retryable = $6, failed_stage = $7, updated_at = $8, completed_at = $8 \
                             WHERE id = $1 AND tenant_id = $2")
                    .bind(&f.task_id).bind(&f.tenant_id).bind(&f.error_code).bind(&f.error_message)
                    .bind(&f.error_detail).bind(f.retryable).bind(f.step).bind(now)
                    .execute(&mut *tx).await?;
                insert_event!(&mut *tx, tenant = &f.tenant_id, task = &f.task_id, from = Some(&state), to = "failed",
                    reason = format!("{} failed: {}", f.step, f.error_message),
                    detail = Some(Json(serde_json::json!({"error_code": f.error_code, "retryable": f.retryable}))),
                    now = now);
            }
            tx.commit().await?;
        });
        Ok(())
    }
}
