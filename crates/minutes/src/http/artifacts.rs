//! Artifact reads: list, versions, detail, and the status of a generation (which has no
//! version until it succeeds).
use axum::extract::State;
use serde_json::{json, Map, Value};

use super::auth::Caller;
use super::error::{ApiError, ApiResult};
use super::extract::{Json, Path};
use super::tasks::owned_task;
use super::views::{artifact_detail, artifact_info, ts, ArtifactContext};
use super::AppState;
use crate::domain::artifact::ArtifactType;
use crate::domain::job::JobKind;
use crate::pipeline::generation_job_id;
use crate::store::ArtifactRecord;

pub async fn list(
    State(app): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    let task = owned_task(&app, &caller, &id).await?;
    let artifacts = app.store.list_artifacts(&task.tenant_id, &task.id).await?;
    let ctx = context(&app, &task.tenant_id, &task.id).await?;
    let mut by_type: Map<String, Value> = Map::new();
    for a in &artifacts {
        let entry = by_type
            .entry(a.artifact_type.clone())
            .or_insert_with(|| json!([]));
        if let Some(list) = entry.as_array_mut() {
            list.push(artifact_info(a, &ctx));
        }
    }
    Ok(Json(
        json!({"task_id": task.id, "artifacts_by_type": by_type, "total_count": artifacts.len()}),
    ))
}

pub(super) async fn context(
    app: &AppState,
    tenant_id: &str,
    task_id: &str,
) -> ApiResult<ArtifactContext> {
    Ok(ArtifactContext {
        latest_revision: app
            .store
            .latest_transcript(tenant_id, task_id)
            .await?
            .map(|r| r.revision),
        mappings: app.store.speaker_mappings(tenant_id, task_id).await?,
    })
}

pub(super) fn parse_type(s: &str) -> ApiResult<ArtifactType> {
    ArtifactType::parse(s).ok_or_else(|| {
        ApiError::bad_request(
            "invalid_artifact_type",
            "artifact_type must be meeting_minutes, action_items or summary_notes",
        )
    })
}

pub async fn versions(
    State(app): State<AppState>,
    caller: Caller,
    Path((id, artifact_type)): Path<(String, String)>,
) -> ApiResult<Json<Value>> {
    let artifact_type = parse_type(&artifact_type)?;
    let task = owned_task(&app, &caller, &id).await?;
    let ctx = context(&app, &task.tenant_id, &task.id).await?;
    let versions: Vec<Value> = app
        .store
        .list_artifacts(&task.tenant_id, &task.id)
        .await?
        .iter()
        .filter(|a| a.artifact_type == artifact_type.as_str())
        .map(|a| artifact_info(a, &ctx))
        .collect();
    Ok(Json(
        json!({"task_id": task.id, "artifact_type": artifact_type.as_str(),
                   "total_count": versions.len(), "versions": versions}),
    ))
}

/// The caller's artifact (in their tenant, of a task of theirs), else 404.
pub(super) async fn owned_artifact(
    app: &AppState,
    caller: &Caller,
    artifact_id: &str,
) -> ApiResult<ArtifactRecord> {
    let artifact = app
        .store
        .get_artifact(&caller.tenant_id, artifact_id)
        .await?
        .ok_or_else(|| ApiError::not_found("artifact"))?;
    owned_task(app, caller, &artifact.task_id)
        .await
        .map_err(|_| ApiError::not_found("artifact"))?;
    Ok(artifact)
}

/// `GET /artifacts/{artifact_id}`: scoped to the caller's tenant and their own tasks.
pub async fn detail(
    State(app): State<AppState>,
    caller: Caller,
    Path(artifact_id): Path<String>,
) -> ApiResult<Json<Value>> {
    let artifact = owned_artifact(&app, &caller, &artifact_id).await?;
    let ctx = context(&app, &caller.tenant_id, &artifact.task_id).await?;
    caller
        .audit(
            &app,
            "artifact.view",
            "artifact",
            &artifact.id,
            json!({"task_id": artifact.task_id}),
        )
        .await;
    Ok(Json(json!({"artifact": artifact_detail(&artifact, &ctx)})))
}

/// The caller's task and one of its artifacts, else 404 (also for another task's artifact).
pub(super) async fn task_artifact(
    app: &AppState,
    caller: &Caller,
    task_id: &str,
    artifact_id: &str,
) -> ApiResult<(crate::store::TaskRecord, ArtifactRecord)> {
    let task = owned_task(app, caller, task_id).await?;
    let artifact = app
        .store
        .get_artifact(&task.tenant_id, artifact_id)
        .await?
        .filter(|a| a.task_id == task.id)
        .ok_or_else(|| ApiError::not_found("artifact"))?;
    Ok((task, artifact))
}

/// `GET /tasks/{id}/artifacts/{artifact_id}`: same response, 404 if it belongs to another task.
pub async fn task_detail(
    State(app): State<AppState>,
    caller: Caller,
    Path((id, artifact_id)): Path<(String, String)>,
) -> ApiResult<Json<Value>> {
    let (_, artifact) = task_artifact(&app, &caller, &id, &artifact_id).await?;
    let ctx = context(&app, &caller.tenant_id, &artifact.task_id).await?;
    caller
        .audit(
            &app,
            "artifact.view",
            "artifact",
            &artifact.id,
            json!({"task_id": artifact.task_id}),
        )
        .await;
    Ok(Json(json!({"artifact": artifact_detail(&artifact, &ctx)})))
}

/// `GET /artifacts/{artifact_id}/status`: `processing` while its generation job is queued or
/// running, `success` once the version exists, `failed` (with the error) when the job gave up.
pub async fn status(
    State(app): State<AppState>,
    caller: Caller,
    Path(artifact_id): Path<String>,
) -> ApiResult<Json<Value>> {
    if let Some(a) = app
        .store
        .get_artifact(&caller.tenant_id, &artifact_id)
        .await?
    {
        owned_task(&app, &caller, &a.task_id)
            .await
            .map_err(|_| ApiError::not_found("artifact"))?;
        return Ok(Json(json!({
            "artifact_id": a.id, "state": "success", "created_at": ts(&a.created_at),
            "version": a.version, "task_id": a.task_id,
        })));
    }
    let job = app
        .store
        .get_job(&generation_job_id(&artifact_id))
        .await?
        .filter(|j| j.kind == JobKind::RegenerateArtifact.wire_name())
        .ok_or_else(|| ApiError::not_found("artifact"))?;
    let task_id = job.task_id.clone().unwrap_or_default();
    owned_task(&app, &caller, &task_id)
        .await
        .map_err(|_| ApiError::not_found("artifact"))?;
    // The job is the caller's: its task is (the task lookup is tenant- and owner-scoped).
    let body = match job.state.as_str() {
        "queued" | "running" => json!({"artifact_id": artifact_id, "state": "processing",
            "task_id": task_id, "job_id": job.id}),
        // Done without a version: the version was deleted since.
        "done" => return Err(ApiError::not_found("artifact")),
        _ => {
            let code = super::artifact_generation::last_error_code(&job);
            json!({"artifact_id": artifact_id, "state": "failed", "task_id": task_id, "job_id": job.id,
                "error": {"code": code, "message": failure_message(code, &job.state),
                          "hint": "no version was created; generate again when the cause is fixed"}})
        }
    };
    Ok(Json(body))
}

fn failure_message(code: &str, state: &str) -> String {
    match (state, code) {
        ("cancelled", _) => "the generation was cancelled".into(),
        (_, "llm_quota_exceeded") => {
            "every API key of the language model stayed rate-limited or out of quota".into()
        }
        (_, "") => "generation failed".into(),
        (_, code) => format!("generation failed ({code})"),
    }
}
