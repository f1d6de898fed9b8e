//! Artifact endpoints: list, versions, detail, and generate/regenerate (a job on the `llm` queue;
//! the handler waits for it briefly so the original synchronous contract keeps working).
use std::time::Duration;

use axum::extract::State;

use super::extract::{Json, Path, Query};
use axum::http::StatusCode;
use bytes::Bytes;
use serde::Deserialize;
use serde_json::{json, Map, Value};

use super::auth::Caller;
use super::error::{ApiError, ApiResult};
use super::tasks::{owned_task, PromptInstance};
use super::views::{artifact_detail, artifact_info, ArtifactContext};
use super::AppState;
use crate::domain::artifact::ArtifactType;
use crate::domain::task::TaskState;
use crate::domain::templates::resolve_parameters;
use crate::pipeline::regenerate_job;

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

fn parse_type(s: &str) -> ApiResult<ArtifactType> {
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

/// `GET /artifacts/{artifact_id}`: scoped to the caller's tenant and their own tasks.
pub async fn detail(
    State(app): State<AppState>,
    caller: Caller,
    Path(artifact_id): Path<String>,
) -> ApiResult<Json<Value>> {
    let artifact = app
        .store
        .get_artifact(&caller.tenant_id, &artifact_id)
        .await?
        .ok_or_else(|| ApiError::not_found("artifact"))?;
    owned_task(&app, &caller, &artifact.task_id)
        .await
        .map_err(|_| ApiError::not_found("artifact"))?;
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

/// `GET /tasks/{id}/artifacts/{artifact_id}`: same response, 404 if it belongs to another task.
pub async fn task_detail(
    State(app): State<AppState>,
    caller: Caller,
    Path((id, artifact_id)): Path<(String, String)>,
) -> ApiResult<Json<Value>> {
    let task = owned_task(&app, &caller, &id).await?;
    let artifact = app
        .store
        .get_artifact(&task.tenant_id, &artifact_id)
        .await?
        .filter(|a| a.task_id == task.id)
        .ok_or_else(|| ApiError::not_found("artifact"))?;
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

#[derive(Debug, Deserialize, Default)]
pub struct GenerateBody {
    prompt_instance: Option<PromptInstance>,
    artifact_type: Option<String>,
}

#[derive(Debug, Deserialize)]
pub struct GenerateQuery {
    /// Seconds to wait for the generation job (default 120, max 300); 0 answers 202 at once.
    wait: Option<u64>,
}

pub async fn generate(
    State(app): State<AppState>,
    caller: Caller,
    Path((id, artifact_type)): Path<(String, String)>,
    Query(q): Query<GenerateQuery>,
    body: Bytes,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let body = optional_body(&body)?;
    start_generation(app, caller, id, parse_type(&artifact_type)?, body, q.wait).await
}

/// `POST /tasks/{id}/regenerate`: the alias from R30; the type comes from the body.
pub async fn regenerate_alias(
    State(app): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    Query(q): Query<GenerateQuery>,
    body: Bytes,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let body = optional_body(&body)?;
    let artifact_type = parse_type(body.artifact_type.as_deref().unwrap_or("meeting_minutes"))?;
    start_generation(app, caller, id, artifact_type, body, q.wait).await
}

/// The original clients post these without a body; an empty body means the defaults.
fn optional_body(bytes: &[u8]) -> ApiResult<GenerateBody> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(GenerateBody::default());
    }
    super::extract::parse_json(bytes)
}

async fn start_generation(
    app: AppState,
    caller: Caller,
    task_id: String,
    artifact_type: ArtifactType,
    body: GenerateBody,
    wait: Option<u64>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let task = owned_task(&app, &caller, &task_id).await?;
    if !matches!(
        TaskState::parse(&task.state),
        Some(TaskState::Success | TaskState::PartialSuccess)
    ) {
        return Err(ApiError::bad_request(
            "invalid_state",
            format!(
                "the task is {}; artifacts can be generated once it succeeds",
                task.state
            ),
        ));
    }
    let prompt_instance = match body.prompt_instance {
        Some(p) => {
            let template_id = p
                .template_id
                .clone()
                .filter(|t| !t.is_empty())
                .unwrap_or_else(|| {
                    if artifact_type == ArtifactType::MeetingMinutes {
                        app.config.pipeline.default_template.clone()
                    } else {
                        artifact_type.as_str().to_string()
                    }
                });
            let template = app
                .store
                .get_template(&caller.owner(), &template_id)
                .await?
                .ok_or_else(|| ApiError::not_found(&format!("prompt template `{template_id}`")))?;
            if template.artifact_type != artifact_type.as_str() {
                return Err(ApiError::field(
                    "prompt_instance.template_id",
                    format!(
                        "template `{template_id}` produces {}, not {}",
                        template.artifact_type,
                        artifact_type.as_str()
                    ),
                ));
            }
            let parameters = resolve_parameters(&template.parameter_schema.0, &p.parameters)
                .map_err(ApiError::validation)?;
            json!({"template_id": template_id, "language": p.language, "parameters": parameters})
        }
        None if artifact_type == ArtifactType::MeetingMinutes => task.prompt_instance.0.clone(),
        None => json!({"template_id": null, "language": task.output_language, "parameters": {}}),
    };
    let (job, artifact_id) =
        regenerate_job(&app, &task, artifact_type, prompt_instance, &caller.user_id);
    app.store.enqueue(&job).await?;
    caller.audit(&app, "artifact.generate", "task", &task.id,
        json!({"artifact_type": artifact_type.as_str(), "artifact_id": artifact_id, "job_id": job.id})).await;
    let wait = Duration::from_secs(wait.unwrap_or(120).min(300));
    let deadline = tokio::time::Instant::now() + wait;
    loop {
        if let Some(artifact) = app
            .store
            .get_artifact(&task.tenant_id, &artifact_id)
            .await?
        {
            return Ok((
                StatusCode::CREATED,
                Json(json!({
                    "success": true, "artifact_id": artifact.id, "version": artifact.version,
                    "content": context(&app, &task.tenant_id, &task.id).await?.content(&artifact), "message": format!("{} v{} generated", artifact_type.as_str(), artifact.version),
                })),
            ));
        }
        let record = app.store.get_job(&job.id).await?;
        // Every key of the language model is resting: the job waits for them in the queue, and
        // the caller learns now (503 + Retry-After) instead of after the whole wait.
        if let Some(resting) = record
            .as_ref()
            .filter(|j| j.state == "queued" && last_error_code(j) == "llm_quota_exceeded")
        {
            let secs = (resting.run_at_ms - app.clock.now_ms()).max(1000) / 1000;
            // Not `retryable`: the generation stays queued and runs when a key recovers, so a
            // resubmission would only produce a second version. The ids let the caller poll.
            let mut err = ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "llm_quota_exceeded",
                format!(
                    "every API key of the language model is rate-limited or out of quota; the \
                     generation stays queued and runs in about {secs} s (poll artifact {artifact_id})"
                ),
            );
            err.retry_after_secs = Some(u64::try_from(secs).unwrap_or(1));
            err.errors =
                Some(json!({"job_id": job.id, "artifact_id": artifact_id, "status": "queued"}));
            return Err(err);
        }
        if let Some(dead) = record.filter(|j| j.state == "dead") {
            // Only the stable error code leaves the server; provider details stay in the job record.
            let code = last_error_code(&dead);
            if code == "llm_quota_exceeded" {
                return Err(ApiError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "llm_quota_exceeded",
                    "every API key of the language model stayed rate-limited or out of quota; \
                     no version was created",
                )
                .retryable());
            }
            return Err(ApiError::new(
                StatusCode::BAD_GATEWAY,
                "generation_failed",
                format!("generation failed ({code}); no version was created"),
            )
            .retryable());
        }
        if tokio::time::Instant::now() >= deadline {
            return Ok((
                StatusCode::ACCEPTED,
                Json(json!({
                    "success": true, "job_id": job.id, "artifact_id": artifact_id, "status": "queued",
                    "message": "generation queued; the artifact appears under this id when it is done",
                })),
            ));
        }
        let _ = tokio::time::timeout(Duration::from_millis(250), app.jobs_signal.notified()).await;
    }
}

/// The stable code of a job's latest failure (`llm_quota_exceeded`); errors are stored as
/// `code: detail`.
fn last_error_code(job: &crate::store::JobRecord) -> &str {
    job.errors
        .0
        .last()
        .and_then(|e| e.split(':').next())
        .unwrap_or_default()
}
