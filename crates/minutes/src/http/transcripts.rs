//! `GET /tasks/{id}/transcript[?revision=N]`: a revision with segment ids, parts and speaker names.
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
        "segments": revision.segments.0,
        "full_text": revision.full_text,
        "duration": revision.duration,
        "language": revision.language,
        "provider": revision.provider,
        "speaker_mapping": speaker_names,
        "speaker_mapping_version": mapping.as_ref().map(|m| m.version),
        "created_at": ts(&revision.created_at),
    })))
}
