//! JSON shapes of the original API (task detail, status, artifact info), built from store rows.
use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{json, Value};

use crate::store::{ArtifactRecord, TaskFileRecord, TaskRecord};

pub fn ts(t: &DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

fn opt_ts(t: &Option<DateTime<Utc>>) -> Value {
    t.as_ref().map(|t| json!(ts(t))).unwrap_or(Value::Null)
}

pub fn task_detail(t: &TaskRecord, files: &[TaskFileRecord]) -> Value {
    json!({
        "task_id": t.id,
        "user_id": t.user_id,
        "tenant_id": t.tenant_id,
        "name": t.name,
        "meeting_type": t.meeting_type,
        "audio_files": files.iter().map(|f| &f.object_key).collect::<Vec<_>>(),
        "file_order": (0..files.len()).collect::<Vec<_>>(),
        "original_filenames": files.iter().map(|f| &f.original_filename).collect::<Vec<_>>(),
        "files": files,
        "asr_language": t.asr_language,
        "output_language": t.output_language,
        "skip_speaker_recognition": t.skip_speaker_recognition,
        "prompt_instance": t.prompt_instance.0,
        "state": t.state,
        "progress": t.progress,
        "estimated_time": t.estimated_time,
        "duration": t.audio_duration,
        "audio_duration": t.audio_duration,
        "error_details": t.error_message,
        "error_code": t.error_code,
        "error_message": t.error_message,
        "retryable": t.retryable,
        "failed_stage": t.failed_stage,
        "folder_id": t.folder_id,
        "is_deleted": t.is_deleted,
        "deleted_at": opt_ts(&t.deleted_at),
        "is_confirmed": t.is_confirmed,
        "meeting_date": t.meeting_date,
        "meeting_time": t.meeting_time,
        "created_at": ts(&t.created_at),
        "updated_at": ts(&t.updated_at),
        "completed_at": opt_ts(&t.completed_at),
        "last_content_modified_at": ts(&t.last_content_modified_at),
    })
}

pub fn task_status(t: &TaskRecord) -> Value {
    json!({
        "task_id": t.id,
        "state": t.state,
        "progress": t.progress,
        "estimated_time": t.estimated_time,
        "error_details": t.error_message,
        "error_code": t.error_code,
        "error_message": t.error_message,
        "retryable": t.retryable,
        "failed_stage": t.failed_stage,
        "audio_duration": t.audio_duration,
        "asr_language": t.asr_language,
        "updated_at": ts(&t.updated_at),
    })
}

pub fn artifact_info(a: &ArtifactRecord) -> Value {
    json!({
        "artifact_id": a.id,
        "task_id": a.task_id,
        "artifact_type": a.artifact_type,
        "version": a.version,
        "prompt_instance": a.prompt_instance.0,
        "created_at": ts(&a.created_at),
        "created_by": a.created_by,
    })
}

/// The detail shape: `content` stays a JSON *string* (the original frontend parses it);
/// `content_object` carries the same object for new clients.
pub fn artifact_detail(a: &ArtifactRecord) -> Value {
    let mut v = artifact_info(a);
    v["content"] = json!(a.content.0.to_string());
    v["content_object"] = a.content.0.clone();
    v["metadata"] = a.metadata.0.clone();
    v["lineage"] = json!({
        "transcript_revision": a.transcript_revision,
        "speaker_mapping_version": a.speaker_mapping_version,
        "template_id": a.template_id,
        "model": a.model,
        "prompt_hash": a.prompt_hash,
        "prompt_tokens": a.prompt_tokens,
        "completion_tokens": a.completion_tokens,
    });
    v
}
