//! Persistence. All SQL lives under this module. One `SqlStore` serves SQLite and PostgreSQL
//! with shared `$N` SQL; dialect differences are spelled out where they occur.
mod accounts;
mod api_keys;
pub mod catalog;
mod completer;
mod content;
mod cost_records;
mod folders;
mod hotwords;
mod job_admin;
mod jobs;
mod legacy_import;
pub mod legacy_source;
mod migrate;
mod provider_jobs;
mod queue_records;
mod records;
mod refresh_tokens;
mod retention;
pub mod rows;
mod sealed;
mod search;
mod speakers;
pub mod sql;
mod tasks;
mod templates;
mod workers;

use async_trait::async_trait;

pub use api_keys::{ApiKeyAuth, ApiKeyRecord, ApiKeyStore};
pub use cost_records::*;
pub use job_admin::{
    JobAction, JobAdminStore, JobCursor, JobDetail, JobFilter, JobOutcome, JobPage, JobSelection,
    JOB_STATES, MAX_JOB_BATCH, MAX_JOB_PAGE,
};
pub use legacy_import::{
    LegacyAccount, LegacyEvent, LegacyExisting, LegacyFolder, LegacyHotwordSet, LegacyTask,
    LegacyTemplate, LEGACY_LOG_ID_KEY,
};
pub use migrate::{MigrationStatus, Migrator};
pub use provider_jobs::{HotwordSyncOutcome, HotwordSyncRecord, ProviderJobStore};
pub use queue_records::*;
pub use records::*;
pub use refresh_tokens::{RefreshTokenRow, RefreshTokenStore, Rotation};
pub use sealed::{ResealBatch, ResealCursor, SealedFieldStore, SealedTable};
pub use search::SearchHit;
pub use speakers::{EnrollmentOutcome, SpeakerRecord, SpeakerStore};
pub use sql::{DatabaseRole, SqlStore};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("not found")]
    NotFound,
    /// The caller's lease on a job is gone: another worker reclaimed it, or the task was cancelled.
    #[error("lease lost: the job was reclaimed or cancelled")]
    Fenced,
    #[error("the task is {state}: {action} is not allowed")]
    InvalidState { state: String, action: &'static str },
    #[error("conflict: {0}")]
    Conflict(String),
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    #[error("migration error: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// A personal field could not be opened (a missing key, or a damaged value).
    #[error("field encryption: {0}")]
    Crypto(#[from] crate::crypto::CryptoError),
}

pub type StoreResult<T> = Result<T, StoreError>;

/// Tenants, users, uploads, audit and cost ledger.
#[async_trait]
pub trait AccountStore: Send + Sync {
    async fn upsert_dev_user(&self, username: &str) -> StoreResult<User>;
    async fn get_user(&self, user_id: &str) -> StoreResult<Option<User>>;
    async fn insert_upload(&self, upload: &Upload) -> StoreResult<()>;
    async fn uploads_by_keys(&self, owner: &Owner, keys: &[String]) -> StoreResult<Vec<Upload>>;
    /// Deletes an upload row the owner made; `Conflict` when a task still uses it.
    async fn delete_upload(&self, owner: &Owner, key: &str) -> StoreResult<()>;
    async fn insert_audit(&self, entry: &AuditEntry) -> StoreResult<()>;
    /// The tenant's audit entries matching `filter`, oldest first.
    async fn audit_log(
        &self,
        tenant_id: &str,
        filter: &AuditFilter,
    ) -> StoreResult<Vec<AuditRecord>>;
    /// What `key` names in the tenant: its upload row, or the audio of a purged task.
    async fn media_object(&self, tenant_id: &str, key: &str) -> StoreResult<Option<MediaObject>>;
    /// The owner's bill: one row per task of theirs (and currency) the ledger billed, most
    /// recently billed first.
    async fn task_bills(
        &self,
        owner: &Owner,
        limit: i64,
        offset: i64,
    ) -> StoreResult<Vec<TaskBill>>;
    /// The ledger rows of one task, oldest first.
    async fn cost_records(&self, tenant_id: &str, task_id: &str) -> StoreResult<Vec<CostRecord>>;
    /// The tenant's ledger rows created in `[from, to)`: a page (newest first), the row count
    /// and the totals per provider, model and unit over the whole range.
    async fn cost_history(&self, tenant_id: &str, range: &CostRange) -> StoreResult<CostHistory>;
    /// The tenant's usage: active pipelines and stored upload bytes now, audio and LLM tokens
    /// since `period_start`.
    async fn tenant_usage(
        &self,
        tenant_id: &str,
        period_start: chrono::DateTime<chrono::Utc>,
    ) -> StoreResult<TenantUsage>;
}

/// Tasks, their files, steps and history, and the atomic stage transitions of the pipeline.
#[async_trait]
pub trait TaskStore: Send + Sync {
    /// Inserts the task (state `queued`), its files, the history entry and the first job at once.
    async fn create_task(
        &self,
        task: &NewTask,
        files: &[NewTaskFile],
        first_job: &NewJob,
    ) -> StoreResult<TaskRecord>;
    async fn get_task(&self, owner: &Owner, task_id: &str) -> StoreResult<Option<TaskRecord>>;
    /// For pipeline jobs: the task of the job's tenant.
    async fn get_task_in_tenant(
        &self,
        tenant_id: &str,
        task_id: &str,
    ) -> StoreResult<Option<TaskRecord>>;
    async fn list_tasks(&self, owner: &Owner, filter: &TaskFilter) -> StoreResult<Vec<TaskRecord>>;
    async fn rename_task(&self, owner: &Owner, task_id: &str, name: &str) -> StoreResult<()>;
    async fn delete_task(&self, owner: &Owner, task_id: &str) -> StoreResult<()>;
    async fn task_files(&self, tenant_id: &str, task_id: &str) -> StoreResult<Vec<TaskFileRecord>>;
    async fn task_events(&self, tenant_id: &str, task_id: &str) -> StoreResult<Vec<TaskEvent>>;
    async fn task_steps(&self, tenant_id: &str, task_id: &str) -> StoreResult<Vec<StepRecord>>;
    /// Cancels an active task and its pending/running jobs; returns the previous state.
    async fn cancel_task(&self, owner: &Owner, task_id: &str, reason: &str) -> StoreResult<String>;
    /// Confirms a finished task: `archived`, the confirmation fields, a history entry, and the
    /// watermark in the metadata of each artifact type's latest version, in one transaction.
    async fn confirm_task(
        &self,
        owner: &Owner,
        task_id: &str,
        confirmation: &Confirmation,
    ) -> StoreResult<TaskRecord>;
    /// Requeues a failed or cancelled task with `job` (its first unfinished stage).
    async fn retry_task(&self, owner: &Owner, task_id: &str, job: &NewJob) -> StoreResult<String>;
    /// Marks a stage running under the job's lease (state, progress, step attempt, history).
    async fn start_stage(&self, lease: &Lease, start: &StageStart) -> StoreResult<()>;
    /// Moves a running task's progress (and ETA) forward within its stage, under the lease.
    async fn report_progress(
        &self,
        lease: &Lease,
        tenant_id: &str,
        task_id: &str,
        progress: f64,
    ) -> StoreResult<()>;
    /// Records a finished stage, its outputs and the next job in one transaction, fenced by the lease.
    async fn finish_stage(
        &self,
        lease: &Lease,
        done: &StageCompletion,
    ) -> StoreResult<Option<ArtifactRecord>>;
    /// Records a failed attempt. `retry_at_ms` requeues the job; `None` kills it and fails the task.
    async fn fail_stage(&self, lease: &Lease, failure: &StageFailure) -> StoreResult<()>;
}

/// The durable job queue on the database.
#[async_trait]
pub trait JobStore: Send + Sync {
    async fn enqueue(&self, job: &NewJob) -> StoreResult<()>;
    /// Enqueues unless a job with the same id exists (deduplicated schedules); true if inserted.
    async fn enqueue_once(&self, job: &NewJob) -> StoreResult<bool>;
    /// Claims the next runnable job (queued and due, or running with an expired lease).
    async fn claim_job(
        &self,
        queues: &[String],
        worker_id: &str,
        lease_ms: i64,
        now_ms: i64,
    ) -> StoreResult<Option<ClaimedJob>>;
    /// Claims up to `limit` runnable jobs in one round trip (highest priority, oldest first).
    async fn claim_jobs(
        &self,
        queues: &[String],
        worker_id: &str,
        lease_ms: i64,
        now_ms: i64,
        limit: i64,
    ) -> StoreResult<Vec<ClaimedJob>>;
    /// Claims delivered jobs by id with the same fenced update, in one statement; a job that
    /// is not runnable now (already claimed, finished, not yet due, or not on these queues) is
    /// left out of the result.
    async fn claim_jobs_by_ids(
        &self,
        job_ids: &[String],
        queues: &[String],
        worker_id: &str,
        lease_ms: i64,
        now_ms: i64,
    ) -> StoreResult<Vec<ClaimedJob>>;
    /// `claim_jobs_by_ids` for one job.
    async fn claim_job_by_id(
        &self,
        job_id: &str,
        queues: &[String],
        worker_id: &str,
        lease_ms: i64,
        now_ms: i64,
    ) -> StoreResult<Option<ClaimedJob>> {
        let ids = [job_id.to_string()];
        Ok(self
            .claim_jobs_by_ids(&ids, queues, worker_id, lease_ms, now_ms)
            .await?
            .pop())
    }
    /// The relay's outbox read: up to `limit` due jobs whose current due time has not been
    /// announced, marked announced in the same statement (skipping rows another relay holds).
    async fn take_unannounced(&self, now_ms: i64, limit: i64) -> StoreResult<Vec<DueJob>>;
    /// Undoes `take_unannounced` for jobs whose publish failed, so the next relay round retries.
    async fn unannounce(&self, jobs: &[DueJob]) -> StoreResult<()>;
    /// Per-queue depth; reads only unfinished and dead rows (partial indexes), never done ones.
    async fn queue_depths(&self, now_ms: i64) -> StoreResult<Vec<QueueDepth>>;
    /// Deletes up to `limit` done or cancelled jobs finished before `before`; returns how many.
    async fn prune_finished_jobs(
        &self,
        before: chrono::DateTime<chrono::Utc>,
        limit: i64,
    ) -> StoreResult<u64>;
    async fn heartbeat(&self, lease: &Lease, locked_until_ms: i64) -> StoreResult<()>;
    /// Marks a job done (fenced). Concurrent completions share one statement (`store/completer.rs`).
    async fn complete_job(&self, lease: &Lease) -> StoreResult<()>;
    /// Completes a (re)generation job and stores its artifact version and costs atomically.
    async fn complete_job_with_artifact(
        &self,
        lease: &Lease,
        artifact: &NewArtifact,
        costs: &[NewCost],
    ) -> StoreResult<ArtifactRecord>;
    /// Retries (with `retry_at_ms`) or kills a job that is not a pipeline stage.
    async fn fail_job(
        &self,
        lease: &Lease,
        error: &str,
        retry_at_ms: Option<i64>,
    ) -> StoreResult<()>;
    /// Hands a job back untouched (graceful shutdown): the attempt is not counted.
    async fn release_job(&self, lease: &Lease) -> StoreResult<()>;
    async fn get_job(&self, job_id: &str) -> StoreResult<Option<JobRecord>>;
    async fn jobs_for_task(&self, task_id: &str) -> StoreResult<Vec<JobRecord>>;
    /// Jobs of every queue and tenant per unfinished state and `dead` (metrics).
    async fn job_counts(&self) -> StoreResult<Vec<(String, i64)>>;
    /// Jobs that are queued or running (whatever their due time) on the given queues.
    async fn count_unfinished_jobs(&self, queues: &[String]) -> StoreResult<i64>;
    /// Earliest `run_at_ms` of queued jobs, to sleep exactly until the next one is due.
    async fn next_due_ms(&self, queues: &[String]) -> StoreResult<Option<i64>>;
}

/// The worker registry: heartbeats, lost workers, the fleet view.
#[async_trait]
pub trait WorkerStore: Send + Sync {
    /// Registers (or re-registers) a worker as `active`.
    async fn register_worker(&self, worker: &NewWorker) -> StoreResult<()>;
    /// Records a heartbeat with the number of jobs running; revives a worker marked `lost`.
    async fn worker_heartbeat(&self, worker_id: &str, running: i64) -> StoreResult<()>;
    /// Marks `active` workers last seen before `cutoff` as `lost`; returns their ids.
    async fn mark_lost_workers(
        &self,
        cutoff: chrono::DateTime<chrono::Utc>,
    ) -> StoreResult<Vec<String>>;
    /// A clean shutdown.
    async fn stop_worker(&self, worker_id: &str) -> StoreResult<()>;
    /// Every worker, active first, then most recently seen.
    async fn list_workers(&self) -> StoreResult<Vec<WorkerRecord>>;
    /// Deletes stopped and lost workers last seen before `before`.
    async fn prune_workers(&self, before: chrono::DateTime<chrono::Utc>) -> StoreResult<u64>;
}

/// Transcripts, speaker mappings, artifacts and prompt templates.
#[async_trait]
pub trait ContentStore: Send + Sync {
    async fn latest_transcript(
        &self,
        tenant_id: &str,
        task_id: &str,
    ) -> StoreResult<Option<TranscriptRevisionRecord>>;
    async fn latest_speaker_mapping(
        &self,
        tenant_id: &str,
        task_id: &str,
    ) -> StoreResult<Option<SpeakerMappingRecord>>;
    async fn transcript_revision(
        &self,
        tenant_id: &str,
        task_id: &str,
        revision: i64,
    ) -> StoreResult<Option<TranscriptRevisionRecord>>;
    /// Every revision of the task's transcript, oldest first.
    async fn transcript_revisions(
        &self,
        tenant_id: &str,
        task_id: &str,
    ) -> StoreResult<Vec<TranscriptRevisionRecord>>;
    /// Every version of the task's speaker mapping, oldest first.
    async fn speaker_mappings(
        &self,
        tenant_id: &str,
        task_id: &str,
    ) -> StoreResult<Vec<SpeakerMappingRecord>>;
    /// Stores the next transcript revision, marks the task's content modified and enqueues
    /// `jobs` (regenerations) and, when the edit renamed speakers, the new speaker mapping, all
    /// in one transaction; returns the new revision number.
    async fn add_transcript_revision(
        &self,
        tenant_id: &str,
        task_id: &str,
        revision: &NewTranscriptRevision,
        renamed: Option<&NewSpeakerMapping>,
        jobs: &[NewJob],
    ) -> StoreResult<i64>;
    /// Stores the next speaker-mapping version (and `jobs`) in one transaction; returns the version.
    async fn add_speaker_mapping(
        &self,
        tenant_id: &str,
        task_id: &str,
        mapping: &NewSpeakerMapping,
        jobs: &[NewJob],
    ) -> StoreResult<i64>;
    async fn list_artifacts(
        &self,
        tenant_id: &str,
        task_id: &str,
    ) -> StoreResult<Vec<ArtifactRecord>>;
    async fn get_artifact(
        &self,
        tenant_id: &str,
        artifact_id: &str,
    ) -> StoreResult<Option<ArtifactRecord>>;
    /// Inserts the next version of `(task_id, artifact_type)`; the unique key makes races safe.
    async fn insert_artifact(&self, artifact: &NewArtifact) -> StoreResult<ArtifactRecord>;
    /// Sets a version's display name; false when there is no such (undeleted) version.
    async fn rename_artifact(
        &self,
        tenant_id: &str,
        artifact_id: &str,
        display_name: &str,
    ) -> StoreResult<bool>;
    /// Hides a version (soft delete); the search index moves to the type's newest remaining
    /// version. False when there is no such (undeleted) version.
    async fn delete_artifact(
        &self,
        tenant_id: &str,
        artifact_id: &str,
        deleted_by: &str,
    ) -> StoreResult<bool>;
    /// Replaces the content of an unconfirmed hand-edited version while its author keeps typing
    /// (one edit session is one version, not one per autosave).
    async fn replace_artifact_content(&self, artifact: &NewArtifact) -> StoreResult<()>;
}

/// Hotword sets. Who may change which scope is decided by the HTTP layer (operators: global).
#[async_trait]
pub trait HotwordStore: Send + Sync {
    async fn create_hotword_set(&self, set: &HotwordSetRecord) -> StoreResult<()>;
    /// A set visible to `owner`: global, their tenant's, or their own.
    async fn get_hotword_set(
        &self,
        owner: &Owner,
        id: &str,
    ) -> StoreResult<Option<HotwordSetRecord>>;
    /// Visible sets, newest first, and how many there are.
    async fn list_hotword_sets(
        &self,
        owner: &Owner,
        scope: Option<&str>,
        limit: i64,
        offset: i64,
    ) -> StoreResult<(Vec<HotwordSetRecord>, i64)>;
    /// Changes `set` (as read through `get_hotword_set`); a global one in the system scope.
    async fn update_hotword_set(&self, owner: &Owner, set: &HotwordSetRecord) -> StoreResult<()>;
    /// Deletes `set` (as read through `get_hotword_set`); a global one in the system scope.
    async fn delete_hotword_set(&self, owner: &Owner, set: &HotwordSetRecord) -> StoreResult<()>;
    /// Every set that applies to `owner`'s tasks (global, tenant, user).
    async fn applicable_hotword_sets(&self, owner: &Owner) -> StoreResult<Vec<HotwordSetRecord>>;
}

/// The retention job's queries: audio past its retention, trash past its retention.
#[async_trait]
pub trait RetentionStore: Send + Sync {
    /// Finished tasks created before `created_before` whose audio is still kept, oldest first.
    async fn audio_retention_candidates(
        &self,
        created_before: chrono::DateTime<chrono::Utc>,
        limit: i64,
    ) -> StoreResult<Vec<AudioCandidate>>;
    /// `(tenant_id, task_id)` of soft-deleted tasks deleted before `deleted_before`.
    async fn expired_trash(
        &self,
        deleted_before: chrono::DateTime<chrono::Utc>,
        limit: i64,
    ) -> StoreResult<Vec<(String, String)>>;
    /// Upload object keys that only this task uses (safe to delete with it).
    async fn exclusive_upload_keys(
        &self,
        tenant_id: &str,
        task_id: &str,
    ) -> StoreResult<Vec<String>>;
    /// Records that the task's audio is gone and drops the upload rows of `keys`.
    async fn mark_audio_purged(
        &self,
        tenant_id: &str,
        task_id: &str,
        keys: &[String],
        at: chrono::DateTime<chrono::Utc>,
    ) -> StoreResult<()>;
    /// Deletes the task (and everything it produced) and the upload rows of `keys`.
    async fn purge_task(&self, tenant_id: &str, task_id: &str, keys: &[String]) -> StoreResult<()>;
}

/// Prompt templates: built-in global ones and private ones owned by a user.
#[async_trait]
pub trait TemplateStore: Send + Sync {
    /// A global template, or a private one of `owner`.
    async fn get_template(
        &self,
        owner: &Owner,
        template_id: &str,
    ) -> StoreResult<Option<TemplateRecord>>;
    /// Global templates and the owner's private ones, optionally filtered.
    async fn list_templates(
        &self,
        owner: &Owner,
        scope: Option<&str>,
        artifact_type: Option<&str>,
    ) -> StoreResult<Vec<TemplateRecord>>;
    async fn create_template(&self, owner: &Owner, template: &TemplateRecord) -> StoreResult<()>;
    /// Replaces a private template of `owner` (its version goes up by one).
    async fn update_template(&self, owner: &Owner, template: &TemplateRecord) -> StoreResult<()>;
    /// Deletes a private template of `owner`; `Conflict` while an active task uses it.
    async fn delete_template(&self, owner: &Owner, template_id: &str) -> StoreResult<()>;
    /// Inserts or updates the built-in global templates (run at start).
    async fn seed_templates(&self, templates: &[TemplateRecord]) -> StoreResult<()>;
}

/// Folders, the task ↔ folder assignment, the trash (soft delete) and batch operations.
/// Every method is scoped to one owner (tenant + user): other owners' rows are never touched
/// and look exactly like missing ones.
#[async_trait]
pub trait FolderStore: Send + Sync {
    /// The owner's folders, sorted by name (code-point order, the same on both backends).
    async fn list_folders(&self, owner: &Owner) -> StoreResult<Vec<FolderRecord>>;
    /// Inserts a folder; `Conflict` when the owner already has one with this name (the
    /// `UNIQUE (tenant_id, owner_user_id, name)` constraint decides, so races are safe).
    async fn create_folder(
        &self,
        owner: &Owner,
        folder_id: &str,
        name: &str,
    ) -> StoreResult<FolderRecord>;
    /// Renames an owned folder; `NotFound`, or `Conflict` on a duplicate name.
    async fn rename_folder(
        &self,
        owner: &Owner,
        folder_id: &str,
        name: &str,
    ) -> StoreResult<FolderRecord>;
    /// Deletes an owned folder and moves its tasks (trashed ones included) to the root in one
    /// transaction; returns how many tasks moved. `NotFound` when the folder is not the owner's.
    async fn delete_folder(&self, owner: &Owner, folder_id: &str) -> StoreResult<u64>;
    /// An owned task whether or not it is in the trash (for restore and permanent delete).
    async fn get_task_including_deleted(
        &self,
        owner: &Owner,
        task_id: &str,
    ) -> StoreResult<Option<TaskRecord>>;
    /// Moves the owned tasks that are not in the trash into `folder_id` (`None` = the root), in
    /// one transaction; other ids are skipped. Returns the ids that moved, in request order.
    /// `NotFound` when `folder_id` is not one of the owner's folders.
    async fn move_tasks(
        &self,
        owner: &Owner,
        task_ids: &[String],
        folder_id: Option<&str>,
    ) -> StoreResult<Vec<String>>;
    /// Moves the owned tasks that are not in the trash to it (`is_deleted`, `deleted_at`), in
    /// one transaction; other ids are skipped. Returns the ids that were trashed.
    async fn trash_tasks(&self, owner: &Owner, task_ids: &[String]) -> StoreResult<Vec<String>>;
    /// Takes the owned tasks that are in the trash out of it, in one transaction; other ids are
    /// skipped. Returns the ids that were restored.
    async fn restore_tasks(&self, owner: &Owner, task_ids: &[String]) -> StoreResult<Vec<String>>;
    /// The owner's trashed tasks, most recently deleted first.
    async fn list_trash(&self, owner: &Owner) -> StoreResult<Vec<TaskRecord>>;
}

/// Full-text search over the latest transcript revision and artifact versions of tasks. The
/// index is written by the content writers themselves, in their transactions.
#[async_trait]
pub trait SearchStore: Send + Sync {
    /// The owner's documents (tasks in the trash excluded) containing every one of the
    /// space-separated `query_tokens` (`domain::search_text::query_tokens`), best first.
    async fn search(
        &self,
        owner: &Owner,
        query_tokens: &str,
        limit: i64,
    ) -> StoreResult<Vec<SearchHit>>;
    /// Indexes up to `limit` tasks that have a transcript but no search documents (tasks from
    /// before the index existed); returns how many it indexed.
    async fn backfill_search(&self, limit: i64) -> StoreResult<usize>;
}

/// Everything the application needs from persistence.
#[async_trait]
pub trait Store:
    AccountStore
    + ApiKeyStore
    + RefreshTokenStore
    + TaskStore
    + JobStore
    + JobAdminStore
    + WorkerStore
    + ContentStore
    + FolderStore
    + TemplateStore
    + HotwordStore
    + ProviderJobStore
    + RetentionStore
    + SearchStore
    + SpeakerStore
{
    /// `sqlite` or `postgres`.
    fn backend(&self) -> &'static str;
    /// A round trip to the migrated database, for readiness checks.
    async fn ping(&self) -> StoreResult<()>;
}
