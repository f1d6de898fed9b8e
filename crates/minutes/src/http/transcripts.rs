//! `GET /tasks/{id}/transcript[?revision=N]`: a revision with segment ids, parts and speaker names.
//! `segments[].speaker` is the name shown now (the original rewrote segments with the names and
//! its frontend renders that field); the diarization label stays in `speaker_label`.
use axum::extract::State;
use serde::Deserialize;
use serde_json::{json, Map, Value};

use super::auth::Caller;
use super::corrections::require_results;
use super::error::{ApiError, ApiResult};
use super::extract::{Json, Path, Query};
use super::tasks::owned_task;
use super::views::ts;
use super::AppState;
use crate::domain::speakers::names;

#[derive(Debug, Deserialize)]
pub struct TranscriptQuery {
    revision: Option<i64>,
}

pub async fn get(
    State(app): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    Query(q): Query<TranscriptQuery>,
) -> ApiResult<Json<Value>> {
    let task = owned_task(&app, &caller, &id).await?;
    require_results(&task, "reading the transcript")?;
    let revision = match q.revision {
        Some(n) => {
            app.store
                .transcript_revision(&task.tenant_id, &task.id, n)
                .await?
        }
        None => {
            app.store
                .latest_transcript(&task.tenant_id, &task.id)
                .await?
        }
    }
    .ok_or_else(|| ApiError::not_found("transcript"))?;
    caller
        .audit(
            &app,
            "transcript.view",
            "task",
            &task.id,
            json!({"revision": revision.revision}),
        )
        .await;
    let latest = app
        .store
        .latest_transcript(&task.tenant_id, &task.id)
        .await?
        .map(|r| r.revision);
    let mapping = app
        .store
        .latest_speaker_mapping(&task.tenant_id, &task.id)
        .await?;
    let speaker_names: Map<String, Value> = mapping
        .as_ref()
        .map(|m| {
            names(&m.mapping.0)
                .into_iter()
                .map(|(label, name)| (label, json!(name)))
                .collect()
        })
        .unwrap_or_default();
    Ok(Json(json!({
        "task_id": task.id,
        "revision": revision.revision,
        "latest_revision": latest,
        "author": revision.author,
        "reason": revision.reason,
        "segments": named_segments(&revision.segments.0, &speaker_names),
        "full_text": revision.full_text,
        "duration": revision.duration,
        "language": revision.language,
        "provider": revision.provider,
        "speaker_mapping": speaker_names,
        "speaker_mapping_version": mapping.as_ref().map(|m| m.version),
        "created_at": ts(&revision.created_at),
    })))
}

/// The segments with `speaker` set to the current name and the label kept as `speaker_label`.
fn named_segments(segments: &Value, names: &Map<String, Value>) -> Value {
    let Some(list) = segments.as_array() else {
        return segments.clone();
    };
    Value::Array(
        list.iter()
            .map(|seg| {
                let mut seg = seg.clone();
                let label = seg["speaker"].clone();
                if let Some(name) = label.as_str().and_then(|l| names.get(l)) {
                    seg["speaker"] = name.clone();
                }
                seg["speaker_label"] = label;
                seg
            })
            .collect(),
    )
}
