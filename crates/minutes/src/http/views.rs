//! JSON shapes of the original API (task detail, status, artifact info), built from store rows.
use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{json, Value};

use crate::domain::artifact::ActionItem;
use crate::domain::artifact::ArtifactType;
use crate::domain::render::{action_line, artifact_markdown};
use crate::domain::speakers::{rename_in_content, renames};
use crate::store::{ArtifactRecord, SpeakerMappingRecord, TaskFileRecord, TaskRecord};

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
        "audio_purged_at": opt_ts(&t.audio_purged_at),
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

/// What an artifact view needs beyond the row: the latest transcript revision (for `stale`)
/// and the task's speaker-mapping versions (to re-render names without a model call).
pub struct ArtifactContext {
    pub latest_revision: Option<i64>,
    pub mappings: Vec<SpeakerMappingRecord>,
}

impl ArtifactContext {
    /// The content as the user should see it now: names as currently mapped, and the
    /// confirmation watermark embedded when this version was confirmed.
    pub fn content(&self, a: &ArtifactRecord) -> Value {
        let generated_with = self
            .mappings
            .iter()
            .find(|m| Some(m.version) == a.speaker_mapping_version);
        let mut content = match (generated_with, self.mappings.last()) {
            (Some(then), Some(now)) if then.version != now.version => {
                rename_in_content(&a.content.0, &renames(&then.mapping.0, &now.mapping.0))
            }
            _ => a.content.0.clone(),
        };
        if let Some(watermark) = a.metadata.0.get("watermark").filter(|w| w.is_object()) {
            content["watermark"] = watermark["text"].clone();
            if a.artifact_type == "meeting_minutes" {
                content["responsible_person"] = watermark["confirmed_by_name"].clone();
            }
        }
        content
    }

    /// A newer transcript revision exists than the one this version was made from.
    pub fn stale(&self, a: &ArtifactRecord) -> bool {
        self.latest_revision
            .is_some_and(|latest| latest > a.transcript_revision)
    }
}

/// The content as the original clients read it: the rendered Markdown under `content` (what
/// the original's models wrote and its frontend renders first), and for minutes the
/// original `MeetingMinutes` field types — `action_items` as strings and a `created_at` — with
/// our structured action items kept under `action_item_details`.
pub fn original_content(
    content: &Value,
    markdown: Option<&str>,
    created_at: &DateTime<Utc>,
) -> Value {
    let mut out = match content {
        Value::Object(o) => Value::Object(o.clone()),
        other => json!({"value": other}),
    };
    // A hand edit is Markdown only.
    if let Some(md) = out.as_object_mut().and_then(|o| o.remove("markdown")) {
        out["content"] = md;
        return out;
    }
    let items = out
        .get("action_items")
        .or_else(|| out.get("items"))
        .and_then(Value::as_array)
        .filter(|items| items.iter().any(Value::is_object))
        .cloned();
    if let Some(items) = items {
        let lines: Vec<String> = items
            .iter()
            .filter_map(|i| serde_json::from_value::<ActionItem>(i.clone()).ok())
            .map(|i| action_line(&i))
            .collect();
        out["action_item_details"] = Value::Array(items);
        out["action_items"] = json!(lines);
    }
    if out.get("created_at").is_none() {
        out["created_at"] = json!(ts(created_at));
    }
    if let Some(md) = markdown {
        out["content"] = json!(md);
    }
    out
}

pub fn artifact_info(a: &ArtifactRecord, ctx: &ArtifactContext) -> Value {
    json!({
        "artifact_id": a.id,
        "task_id": a.task_id,
        "artifact_type": a.artifact_type,
        "version": a.version,
        "prompt_instance": a.prompt_instance.0,
        "created_at": ts(&a.created_at),
        "created_by": a.created_by,
        "display_name": a.display_name,
        // Stored versions are finished; a generation in progress has no version yet and is
        // answered by `GET /artifacts/{id}/status`.
        "state": "success",
        "stale": ctx.stale(a),
        "confirmed": a.metadata.0.get("confirmed").and_then(Value::as_bool).unwrap_or(false),
    })
}

/// The detail shape: `content` stays a JSON *string* (the original frontend parses it) of the
/// original's shape ([`original_content`]); `content_object` carries our structured content
/// for new clients.
pub fn artifact_detail(a: &ArtifactRecord, ctx: &ArtifactContext) -> Value {
    let content = ctx.content(a);
    let markdown =
        ArtifactType::parse(&a.artifact_type).and_then(|t| artifact_markdown(t, &content));
    let mut v = artifact_info(a, ctx);
    v["content"] =
        json!(original_content(&content, markdown.as_deref(), &a.created_at).to_string());
    v["markdown"] = json!(markdown);
    v["content_object"] = content;
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
