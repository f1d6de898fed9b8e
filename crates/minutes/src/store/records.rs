//! Row types read from and written to the store.
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sqlx::types::Json;

use super::{AttemptError, NewCost};

/// Whose resources a query may see: identity and tenant always come from the credential.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Owner {
    pub tenant_id: String,
    pub user_id: String,
}

#[derive(Debug, Clone, PartialEq, sqlx::FromRow, Serialize)]
pub struct User {
    pub id: String,
    pub tenant_id: String,
    pub username: String,
    pub role: String,
    pub is_active: bool,
}

#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct Upload {
    pub object_key: String,
    pub tenant_id: String,
    pub user_id: String,
    pub original_filename: String,
    pub container: String,
    pub size_bytes: i64,
    pub sha256: String,
    pub duration_secs: Option<f64>,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Clone)]
pub struct AuditEntry {
    pub tenant_id: String,
    pub user_id: Option<String>,
    pub action: String,
    pub resource_type: String,
    pub resource_id: String,
    pub details: Value,
}

/// Optional filters of an audit query; `limit` is required.
#[derive(Debug, Clone, Default)]
pub struct AuditFilter {
    pub action: Option<String>,
    pub resource_type: Option<String>,
    pub resource_id: Option<String>,
    pub user_id: Option<String>,
    pub from: Option<DateTime<Utc>>,
    pub to: Option<DateTime<Utc>>,
    pub limit: i64,
    pub offset: i64,
}

impl AuditFilter {
    pub fn latest(limit: i64) -> AuditFilter {
        AuditFilter {
            limit,
            ..Default::default()
        }
    }
}

#[derive(Debug, Clone, PartialEq, sqlx::FromRow, Serialize)]
pub struct AuditRecord {
    pub user_id: Option<String>,
    pub action: String,
    pub resource_type: String,
    pub resource_id: String,
    pub details: Json<Value>,
    pub created_at: DateTime<Utc>,
}

/// What the object key of a signed media URL names in a tenant.
#[derive(Debug, Clone, PartialEq)]
pub enum MediaObject {
    /// A stored upload: its container and size say how to serve it.
    Stored(Upload),
    /// Audio of a task that the retention sweep has deleted.
    Purged,
}

#[derive(Debug, Clone)]
pub struct NewTask {
    pub id: String,
    pub tenant_id: String,
    pub user_id: String,
    pub name: Option<String>,
    pub meeting_type: String,
    pub asr_language: String,
    pub output_language: String,
    pub skip_speaker_recognition: bool,
    pub hotword_set_id: Option<String>,
    pub prompt_instance: Value,
    pub folder_id: Option<String>,
    pub meeting_date: Option<String>,
    pub meeting_time: Option<String>,
    /// Resolved from the applicable hotword sets at creation.
    pub hotwords: Vec<String>,
}

#[derive(Debug, Clone)]
pub struct NewTaskFile {
    pub file_order: i64,
    pub object_key: String,
    pub original_filename: String,
    pub sha256: String,
    pub size_bytes: i64,
}

#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct TaskRecord {
    pub id: String,
    pub tenant_id: String,
    pub user_id: String,
    pub name: Option<String>,
    pub meeting_type: String,
    pub asr_language: String,
    pub output_language: String,
    pub skip_speaker_recognition: bool,
    pub hotword_set_id: Option<String>,
    pub prompt_instance: Json<Value>,
    pub state: String,
    pub progress: f64,
    pub estimated_time: Option<i64>,
    pub audio_duration: Option<f64>,
    pub error_code: Option<String>,
    pub error_message: Option<String>,
    pub error_detail: Option<String>,
    pub retryable: Option<bool>,
    pub failed_stage: Option<String>,
    pub folder_id: Option<String>,
    pub is_deleted: bool,
    pub deleted_at: Option<DateTime<Utc>>,
    pub is_confirmed: bool,
    pub confirmed_by: Option<String>,
    pub confirmed_by_name: Option<String>,
    pub confirmed_at: Option<DateTime<Utc>>,
    pub confirmation_items: Option<Json<Value>>,
    pub meeting_date: Option<String>,
    pub meeting_time: Option<String>,
    pub hotwords: Json<Vec<String>>,
    /// Set when the retention job deleted the audio (the text stays).
    pub audio_purged_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub completed_at: Option<DateTime<Utc>>,
    pub last_content_modified_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Default)]
pub struct TaskFilter {
    pub state: Option<String>,
    /// `Some(None)` = tasks in no folder (the root); `None` = any folder.
    pub folder_id: Option<Option<String>>,
    pub include_deleted: bool,
    pub limit: i64,
    pub offset: i64,
}

#[derive(Debug, Clone, PartialEq, sqlx::FromRow, Serialize)]
pub struct TaskFileRecord {
    pub file_order: i64,
    pub object_key: String,
    pub original_filename: String,
    pub sha256: String,
    pub size_bytes: i64,
    pub duration_secs: Option<f64>,
    pub offset_secs: Option<f64>,
}

#[derive(Debug, Clone, PartialEq, sqlx::FromRow, Serialize)]
pub struct TaskEvent {
    pub id: i64,
    pub from_state: Option<String>,
    pub to_state: String,
    pub reason: String,
    pub detail: Option<Json<Value>>,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, sqlx::FromRow, Serialize)]
pub struct StepRecord {
    pub step: String,
    pub status: String,
    pub attempts: i64,
    pub result: Option<Json<Value>>,
    pub error: Option<String>,
    pub provider_job_id: Option<String>,
    pub started_at: Option<DateTime<Utc>>,
    pub completed_at: Option<DateTime<Utc>>,
}

/// A job's claim: every write a worker makes for the job is checked against it (fencing).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lease {
    pub job_id: String,
    pub lease_gen: i64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct NewJob {
    pub id: String,
    pub queue: String,
    pub kind: String,
    pub task_id: Option<String>,
    pub tenant_id: Option<String>,
    pub payload: Value,
    pub priority: i64,
    pub max_attempts: i64,
    pub run_at_ms: i64,
}

#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct ClaimedJob {
    pub id: String,
    pub queue: String,
    pub kind: String,
    pub task_id: Option<String>,
    pub tenant_id: Option<String>,
    pub payload: Json<Value>,
    pub attempts: i64,
    pub max_attempts: i64,
    pub lease_gen: i64,
    pub priority: i64,
    /// When the job became claimable (its due time, or its previous lease's expiry).
    pub claimed_due_ms: Option<i64>,
}

impl ClaimedJob {
    pub fn lease(&self) -> Lease {
        Lease {
            job_id: self.id.clone(),
            lease_gen: self.lease_gen,
        }
    }
}

#[derive(Debug, Clone, PartialEq, sqlx::FromRow, Serialize)]
pub struct JobRecord {
    pub id: String,
    pub queue: String,
    pub kind: String,
    pub task_id: Option<String>,
    pub state: String,
    pub attempts: i64,
    pub max_attempts: i64,
    pub run_at_ms: i64,
    pub locked_by: Option<String>,
    pub locked_until_ms: Option<i64>,
    pub lease_gen: i64,
    /// Every failed attempt's error, oldest first.
    pub errors: Json<Vec<AttemptError>>,
    pub tenant_id: Option<String>,
    pub priority: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone)]
pub struct StageStart {
    pub tenant_id: String,
    pub task_id: String,
    pub step: &'static str,
    pub state: &'static str,
    pub progress: f64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StepOutcome {
    Success,
    Skipped,
    /// An optional stage failed; the pipeline continues and ends `partial_success`.
    FailedOptional,
}

impl StepOutcome {
    pub fn as_str(self) -> &'static str {
        match self {
            StepOutcome::Success => "success",
            StepOutcome::Skipped => "skipped",
            StepOutcome::FailedOptional => "failed",
        }
    }
}

/// Everything a finished stage writes, applied in one transaction.
#[derive(Debug, Clone)]
pub struct StageCompletion {
    pub tenant_id: String,
    pub task_id: String,
    pub step: &'static str,
    pub outcome: StepOutcome,
    pub result: Value,
    pub error: Option<String>,
    pub provider_job_id: Option<String>,
    pub audio_duration: Option<f64>,
    /// `(file_order, duration_secs, offset_secs)` of each part on the joined timeline.
    pub file_offsets: Vec<(i64, f64, f64)>,
    pub transcript: Option<NewTranscriptRevision>,
    pub speaker_mapping: Option<NewSpeakerMapping>,
    pub artifact: Option<NewArtifact>,
    pub costs: Vec<NewCost>,
    /// Final state (`success`/`partial_success`) when this was the last stage.
    pub final_state: Option<&'static str>,
    pub progress: f64,
    pub next_job: Option<NewJob>,
}

#[derive(Debug, Clone)]
pub struct StageFailure {
    pub tenant_id: String,
    pub task_id: String,
    pub step: &'static str,
    pub error_code: String,
    pub error_message: String,
    pub error_detail: String,
    pub retryable: bool,
    /// Requeue the job at this time; `None` = no attempts left or permanent: the task fails.
    pub retry_at_ms: Option<i64>,
}

#[derive(Debug, Clone)]
pub struct NewTranscriptRevision {
    pub segments: Value,
    pub full_text: String,
    pub duration: f64,
    pub language: String,
    pub provider: String,
    pub author: String,
    pub reason: String,
}

#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct TranscriptRevisionRecord {
    pub revision: i64,
    pub segments: Json<Value>,
    pub full_text: String,
    pub duration: f64,
    pub language: String,
    pub provider: String,
    pub author: String,
    pub reason: String,
    pub created_at: DateTime<Utc>,
}

/// What `POST /tasks/{id}/confirm` records.
#[derive(Debug, Clone)]
pub struct Confirmation {
    pub confirmed_at: DateTime<Utc>,
    pub confirmed_by: String,
    pub confirmed_by_name: String,
    pub items: Value,
    /// Written into each confirmed artifact's metadata as `watermark`.
    pub watermark: Value,
}

#[derive(Debug, Clone)]
pub struct NewSpeakerMapping {
    pub mapping: Value,
    pub author: String,
    pub reason: String,
}

#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct SpeakerMappingRecord {
    pub version: i64,
    pub mapping: Json<Value>,
    pub author: String,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Clone)]
pub struct NewArtifact {
    pub id: String,
    pub task_id: String,
    pub tenant_id: String,
    pub artifact_type: String,
    pub content: Value,
    pub prompt_instance: Value,
    pub metadata: Value,
    pub transcript_revision: i64,
    pub speaker_mapping_version: Option<i64>,
    pub template_id: String,
    pub model: String,
    pub prompt_hash: String,
    pub prompt_tokens: i64,
    pub completion_tokens: i64,
    pub created_by: String,
    /// The version's name in the original frontend's tabs (generation's `name`, renames).
    pub display_name: Option<String>,
}

impl NewArtifact {
    /// The row as stored, for re-indexing it.
    pub fn from_record(a: &ArtifactRecord, tenant_id: &str) -> NewArtifact {
        NewArtifact {
            id: a.id.clone(),
            task_id: a.task_id.clone(),
            tenant_id: tenant_id.to_string(),
            artifact_type: a.artifact_type.clone(),
            content: a.content.0.clone(),
            prompt_instance: a.prompt_instance.0.clone(),
            metadata: a.metadata.0.clone(),
            transcript_revision: a.transcript_revision,
            speaker_mapping_version: a.speaker_mapping_version,
            template_id: a.template_id.clone(),
            model: a.model.clone(),
            prompt_hash: a.prompt_hash.clone(),
            prompt_tokens: a.prompt_tokens,
            completion_tokens: a.completion_tokens,
            created_by: a.created_by.clone(),
            display_name: a.display_name.clone(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct ArtifactRecord {
    pub id: String,
    pub task_id: String,
    pub artifact_type: String,
    pub version: i64,
    pub content: Json<Value>,
    pub prompt_instance: Json<Value>,
    pub metadata: Json<Value>,
    pub transcript_revision: i64,
    pub speaker_mapping_version: Option<i64>,
    pub template_id: String,
    pub model: String,
    pub prompt_hash: String,
    pub prompt_tokens: i64,
    pub completion_tokens: i64,
    pub created_by: String,
    pub created_at: DateTime<Utc>,
    pub display_name: Option<String>,
}

#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct TemplateRecord {
    pub id: String,
    pub title: String,
    pub description: String,
    pub prompt_body: String,
    pub artifact_type: String,
    pub supported_languages: Json<Vec<String>>,
    pub parameter_schema: Json<Value>,
    pub is_system: bool,
    pub scope: String,
    pub version: i64,
    /// `None` for global templates.
    pub owner_user_id: Option<String>,
    /// Set by the database; ignored on writes. For a global template, when it was first seeded.
    pub created_at: Option<DateTime<Utc>>,
    /// Set by the database; ignored on writes.
    pub updated_at: Option<DateTime<Utc>>,
}

/// A folder of one owner. Folders are flat: `parent_id` is always `None` for now.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct FolderRecord {
    pub id: String,
    pub tenant_id: String,
    pub owner_user_id: String,
    pub name: String,
    pub parent_id: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// A named hotword list with a scope: `global`, `tenant` (scope_id = tenant) or `user` (scope_id = user).
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct HotwordSetRecord {
    pub id: String,
    pub tenant_id: Option<String>,
    pub name: String,
    pub provider: String,
    pub provider_resource_id: Option<String>,
    pub scope: String,
    pub scope_id: Option<String>,
    pub asr_language: String,
    pub description: String,
    pub words: Json<Vec<crate::domain::hotwords::Hotword>>,
    pub word_count: i64,
    pub word_size: i64,
    pub created_by: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// A finished task whose audio the retention rules may delete.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct AudioCandidate {
    pub tenant_id: String,
    pub task_id: String,
    pub is_confirmed: bool,
    pub created_at: DateTime<Utc>,
    pub completed_at: Option<DateTime<Utc>>,
    pub confirmed_at: Option<DateTime<Utc>>,
    /// Transcript revisions: more than one means the task was corrected by hand.
    pub revisions: i64,
}

/// What a tenant has used: now (pipelines, storage) and since the start of the month.
#[derive(Debug, Clone, Copy, PartialEq, sqlx::FromRow, Serialize)]
pub struct TenantUsage {
    pub active_pipelines: i64,
    pub audio_seconds: f64,
    pub llm_tokens: f64,
    pub storage_bytes: i64,
}
