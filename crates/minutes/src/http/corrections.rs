//! Transcript corrections: every edit is a new revision (never an overwrite), with history,
//! diffs and optional regeneration of the artifacts as jobs.
use axum::extract::State;
use serde::Deserialize;
use serde_json::{json, Value};

use super::auth::Caller;
use super::error::{ApiError, ApiResult};
use super::extract::{Json, Path, Query};
use super::tasks::owned_task;
use super::views::ts;
use super::AppState;
use crate::domain::artifact::ArtifactType;
use crate::domain::corrections::{apply_edits, apply_full_text, diff, SegmentEdit};
use crate::domain::task::TaskState;
use crate::domain::transcript::{join_text, Segment};
use crate::pipeline::regenerate_job;
use crate::store::{NewJob, NewTranscriptRevision, TaskRecord, TranscriptRevisionRecord};

#[derive(Debug, Deserialize)]
pub struct CorrectTranscript {
    /// The original API: the whole corrected text.
    corrected_text: Option<String>,
    /// Segment-level edits.
    segments: Option<Vec<SegmentEdit>>,
    #[serde(default = "default_true")]
    regenerate_artifacts: bool,
    reason: Option<String>,
}

fn default_true() -> bool {
    true
}

pub(super) fn require_results(task: &TaskRecord, action: &str) -> ApiResult<()> {
    if TaskState::parse(&task.state).is_some_and(TaskState::has_results) {
        return Ok(());
    }
    Err(ApiError::bad_request(
        "invalid_state",
        format!("the task is {}; {action} needs a finished task", task.state),
    ))
}

pub(super) fn segments_of(revision: &TranscriptRevisionRecord) -> ApiResult<Vec<Segment>> {
    serde_json::from_value(revision.segments.0.clone()).map_err(ApiError::internal)
}

/// One regeneration job per artifact type the task has, so every view follows the new content.
pub(super) async fn regeneration_jobs(
    app: &AppState,
    task: &TaskRecord,
    caller: &Caller,
) -> ApiResult<Vec<(NewJob, String)>> {
    let artifacts = app.store.list_artifacts(&task.tenant_id, &task.id).await?;
    let mut types: Vec<ArtifactType> = artifacts
        .iter()
        .filter_map(|a| ArtifactType::parse(&a.artifact_type))
        .collect();
    types.dedup();
    if types.is_empty() {
        types.push(ArtifactType::MeetingMinutes);
    }
    Ok(types
        .into_iter()
        .map(|t| {
            // The latest version's prompt instance, so a regeneration repeats the user's choices.
            let prompt = artifacts
                .iter()
                .find(|a| a.artifact_type == t.as_str())
                .map(|a| a.prompt_instance.0.clone())
                .unwrap_or_else(|| task.prompt_instance.0.clone());
            regenerate_job(app, task, t, prompt, &caller.user_id)
        })
        .collect())
}

pub async fn correct(
    State(app): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    Json(body): Json<CorrectTranscript>,
) -> ApiResult<Json<Value>> {
    let task = owned_task(&app, &caller, &id).await?;
    require_results(&task, "correcting the transcript")?;
    let current = app
        .store
        .latest_transcript(&task.tenant_id, &task.id)
        .await?
        .ok_or_else(|| ApiError::not_found("transcript"))?;
    let segments = segments_of(&current)?;
    let (new_segments, full_text) = match (&body.segments, &body.corrected_text) {
        (Some(edits), None) => {
            let out = apply_edits(&segments, edits)
                .map_err(|e| ApiError::field("segments", e.to_string()))?;
            let text = join_text(&out);
            (out, text)
        }
        (None, Some(text)) if !text.trim().is_empty() => {
            let out = apply_full_text(&segments, text);
            let full = if out == segments {
                text.trim().to_string()
            } else {
                join_text(&out)
            };
            (out, full)
        }
        (None, Some(_)) => return Err(ApiError::field("corrected_text", "must not be empty")),
        _ => {
            return Err(ApiError::field(
                "segments",
                "send either `segments` edits or `corrected_text`",
            ))
        }
    };
    if full_text == current.full_text && new_segments == segments {
        return Err(ApiError::field(
            "segments",
            "the correction changes nothing",
        ));
    }
    let jobs = if body.regenerate_artifacts {
        regeneration_jobs(&app, &task, &caller).await?
    } else {
        Vec::new()
    };
    let revision = NewTranscriptRevision {
        segments: serde_json::to_value(&new_segments).map_err(ApiError::internal)?,
        full_text,
        duration: current.duration,
        language: current.language.clone(),
        provider: current.provider.clone(),
        author: caller.user_id.clone(),
        reason: body
            .reason
            .clone()
            .unwrap_or_else(|| "manual correction".into()),
    };
    let job_rows: Vec<NewJob> = jobs.iter().map(|(j, _)| j.clone()).collect();
    let number = app
        .store
        .add_transcript_revision(&task.tenant_id, &task.id, &revision, &job_rows)
        .await?;
    let changes = diff(&segments, &new_segments);
    caller
        .audit(
            &app,
            "transcript.correct",
            "task",
            &task.id,
            json!({"revision": number, "changes": changes.len()}),
        )
        .await;
    Ok(Json(json!({
        "success": true,
        "message": format!("transcript revision {number} saved"),
        "revision": number,
        "changes": changes,
        "regenerated_artifacts": jobs.iter().map(|(_, a)| a).collect::<Vec<_>>(),
        "jobs": jobs.iter().map(|(j, _)| &j.id).collect::<Vec<_>>(),
    })))
}

pub async fn revisions(
    State(app): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    let task = owned_task(&app, &caller, &id).await?;
    let all = app
        .store
        .transcript_revisions(&task.tenant_id, &task.id)
        .await?;
    let items: Vec<Value> = all
        .iter()
        .map(|r| json!({
            "revision": r.revision, "author": r.author, "reason": r.reason, "created_at": ts(&r.created_at),
            "segment_count": r.segments.0.as_array().map(Vec::len).unwrap_or(0),
        }))
        .collect();
    Ok(Json(
        json!({"task_id": task.id, "revisions": items, "total": all.len()}),
    ))
}

#[derive(Debug, Deserialize)]
pub struct DiffQuery {
    from: i64,
    to: Option<i64>,
}

pub async fn revision_diff(
    State(app): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    Query(q): Query<DiffQuery>,
) -> ApiResult<Json<Value>> {
    let task = owned_task(&app, &caller, &id).await?;
    let load = |n: i64| {
        let app = app.clone();
        let task = task.clone();
        async move {
            app.store
                .transcript_revision(&task.tenant_id, &task.id, n)
                .await?
                .ok_or_else(|| ApiError::not_found(&format!("revision {n}")))
        }
    };
    let before = load(q.from).await?;
    let after = match q.to {
        Some(n) => load(n).await?,
        None => app
            .store
            .latest_transcript(&task.tenant_id, &task.id)
            .await?
            .ok_or_else(|| ApiError::not_found("transcript"))?,
    };
    let changes = diff(&segments_of(&before)?, &segments_of(&after)?);
    Ok(Json(json!({
        "task_id": task.id, "from": before.revision, "to": after.revision,
        "full_text_changed": before.full_text != after.full_text, "changes": changes,
    })))
}
