//! `GET /tasks/{id}/transcript`: the latest revision with segment ids, parts and speaker names.
use axum::extract::State;

use super::extract::{Json, Path};
use serde_json::{json, Map, Value};

use super::auth::Caller;
use super::error::{ApiError, ApiResult};
use super::tasks::owned_task;
use super::views::ts;
use super::AppState;
use crate::domain::task::TaskState;

pub async fn get(
    State(app): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    let task = owned_task(&app, &caller, &id).await?;
    if !TaskState::parse(&task.state).is_some_and(TaskState::has_results) {
        return Err(ApiError::bad_request(
            "task_not_ready",
            format!(
                "the task is {}; the transcript is available once it succeeds",
                task.state
            ),
        ));
    }
    let revision = app
        .store
        .latest_transcript(&task.tenant_id, &task.id)
        .await?
        .ok_or_else(|| ApiError::not_found("transcript"))?;
    let mapping = app
        .store
        .latest_speaker_mapping(&task.tenant_id, &task.id)
        .await?;
    let names: Map<String, Value> = mapping
        .as_ref()
        .and_then(|m| m.mapping.0.as_object())
        .map(|o| {
            o.iter()
                .map(|(label, v)| (label.clone(), v["name"].clone()))
                .collect()
        })
        .unwrap_or_default();
    Ok(Json(json!({
        "task_id": task.id,
        "revision": revision.revision,
        "segments": revision.segments.0,
        "full_text": revision.full_text,
        "duration": revision.duration,
        "language": revision.language,
        "provider": revision.provider,
        "speaker_mapping": names,
        "speaker_mapping_version": mapping.as_ref().map(|m| m.version),
        "created_at": ts(&revision.created_at),
    })))
}
