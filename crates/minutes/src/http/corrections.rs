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
use crate::domain::corrections::{
    apply_edits, apply_full_text, apply_whole_list, diff, SegmentEdit, SegmentInput,
};
use crate::domain::speakers::label_for;
use crate::domain::task::TaskState;
use crate::domain::transcript::{join_text, Segment};
use crate::pipeline::regenerate_job;
use crate::store::{
    NewJob, NewSpeakerMapping, NewTranscriptRevision, TaskRecord, TranscriptRevisionRecord,
};

#[derive(Debug, Deserialize)]
pub struct CorrectTranscript {
    /// The original API: the whole corrected text.
    corrected_text: Option<String>,
    /// Segment-level edits (`{id, text?, speaker?}`) or, without ids, the whole list as the
    /// original frontend saves it.
    segments: Option<Vec<SegmentInput>>,
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
            // The latest version's prompt instance and name, so a regeneration repeats the
            // user's choices.
            let latest = artifacts.iter().find(|a| a.artifact_type == t.as_str());
            let prompt = latest
                .map(|a| a.prompt_instance.0.clone())
                .unwrap_or_else(|| task.prompt_instance.0.clone());
            let name = latest.and_then(|a| a.display_name.as_deref());
            regenerate_job(app, task, t, prompt, &caller.user_id, name)
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
    let mapping = app
        .store
        .latest_speaker_mapping(&task.tenant_id, &task.id)
        .await?;
    let labels = mapping
        .as_ref()
        .map(|m| m.mapping.0.clone())
        .unwrap_or_else(|| json!({}));
    let mut renamed = Vec::new();
    // `segments` win over `corrected_text`: the original frontend sends both, the text being
    // the same lines rendered.
    let (new_segments, full_text) = match (&body.segments, &body.corrected_text) {
        (Some(list), _) if !list.is_empty() && list.iter().all(|s| s.id.is_some()) => {
            let edits: Vec<SegmentEdit> = list
                .iter()
                .map(|s| SegmentEdit {
                    id: s.id.clone().unwrap_or_default(),
                    text: s.text.clone(),
                    // Clients show names: a name means its label; a new name is a new label.
                    speaker: s
                        .speaker
                        .as_deref()
                        .map(|v| label_for(&labels, v).unwrap_or_else(|| v.trim().to_string())),
                })
                .collect();
            let out = apply_edits(&segments, &edits)
                .map_err(|e| ApiError::field("segments", e.to_string()))?;
            let text = join_text(&out);
            (out, text)
        }
        (Some(list), _) if !list.is_empty() && list.iter().all(|s| s.id.is_none()) => {
            let out = apply_whole_list(&segments, list, &labels)
                .map_err(|e| ApiError::field("segments", e.to_string()))?;
            renamed = out.renamed;
            let text = join_text(&out.segments);
            (out.segments, text)
        }
        (Some(list), _) if !list.is_empty() => {
            return Err(ApiError::field(
                "segments",
                "give every segment an `id` (edits) or none (the whole list)",
            ))
        }
        (_, Some(text)) if !text.trim().is_empty() => {
            let out = apply_full_text(&segments, text);
            let full = if out == segments {
                text.trim().to_string()
            } else {
                join_text(&out)
            };
            (out, full)
        }
        (_, Some(_)) => return Err(ApiError::field("corrected_text", "must not be empty")),
        _ => {
            return Err(ApiError::field(
                "segments",
                "send either `segments` edits or `corrected_text`",
            ))
        }
    };
    let renamed_mapping = (!renamed.is_empty()).then(|| {
        let mut m = labels.clone();
        for (label, name) in &renamed {
            m[label.as_str()]["name"] = json!(name);
            m[label.as_str()]["source"] = json!("manual");
        }
        NewSpeakerMapping {
            mapping: m,
            author: caller.user_id.clone(),
            reason: "rename (transcript edit)".into(),
        }
    });
    if full_text == current.full_text && new_segments == segments && renamed.is_empty() {
        // The original frontend saves again after every save: an unchanged save is a no-op.
        return Ok(Json(json!({
            "success": true, "message": "the transcript is unchanged",
            "revision": current.revision, "changes": [], "regenerated_artifacts": [], "jobs": [],
        })));
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
        .add_transcript_revision(
            &task.tenant_id,
            &task.id,
            &revision,
            renamed_mapping.as_ref(),
            &job_rows,
        )
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
