//! Generating a new artifact version: a job on the `llm` queue. The original frontend expects
//! an immediate answer (`state: processing` + the artifact id, then it polls
//! `/artifacts/{id}/status`); `?wait=N` keeps the synchronous answer for scripts.
use std::time::Duration;

use axum::extract::State;
use axum::http::StatusCode;
use bytes::Bytes;
use serde::Deserialize;
use serde_json::{json, Value};

use super::artifacts::{context, parse_type};
use super::auth::Caller;
use super::error::{ApiError, ApiResult};
use super::extract::{Json, Path, Query};
use super::tasks::{owned_task, PromptInstance};
use super::AppState;
use crate::domain::artifact::ArtifactType;
use crate::domain::task::TaskState;
use crate::domain::templates::resolve_parameters;
use crate::pipeline::prompt::find_template;
use crate::pipeline::regenerate_job;

#[derive(Debug, Deserialize, Default)]
pub struct GenerateBody {
    prompt_instance: Option<PromptInstance>,
    artifact_type: Option<String>,
    /// The new version's display name (the original frontend's tab label).
    name: Option<String>,
}

#[derive(Debug, Deserialize)]
pub struct GenerateQuery {
    /// Seconds to wait for the generation job (max 300). Without it (or 0) the answer is
    /// immediate: 202 with `state: processing`.
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
    let display_name = match body.name.as_deref().map(str::trim) {
        Some(n) if n.chars().count() > 256 => {
            return Err(ApiError::field("name", "at most 256 characters"))
        }
        Some(n) if !n.is_empty() => Some(n.to_string()),
        _ => None,
    };
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
            // Any template may be used for any type: its text instructs the model, the type's
            // schema shapes the answer (the original did not tie the two either).
            let template = find_template(
                app.store.as_ref(),
                &caller.owner(),
                &template_id,
                artifact_type,
            )
            .await?
            .ok_or_else(|| ApiError::not_found(&format!("prompt template `{template_id}`")))?;
            let parameters = resolve_parameters(&template.parameter_schema.0, &p.parameters)
                .map_err(ApiError::validation)?;
            let mut stored = p.texts()?;
            stored["template_id"] = json!(template_id);
            stored["language"] = json!(p.language);
            stored["parameters"] = json!(parameters);
            stored
        }
        None if artifact_type == ArtifactType::MeetingMinutes => task.prompt_instance.0.clone(),
        None => json!({"template_id": null, "language": task.output_language, "parameters": {}}),
    };
    let (job, artifact_id) = regenerate_job(
        &app,
        &task,
        artifact_type,
        prompt_instance,
        &caller.user_id,
        display_name.as_deref(),
    );
    app.store.enqueue(&job).await?;
    caller.audit(&app, "artifact.generate", "task", &task.id,
        json!({"artifact_type": artifact_type.as_str(), "artifact_id": artifact_id, "job_id": job.id})).await;
    let Some(wait) = wait.filter(|w| *w > 0) else {
        return Ok((
            StatusCode::ACCEPTED,
            Json(json!({
                "success": true, "artifact_id": artifact_id, "job_id": job.id,
                "artifact_type": artifact_type.as_str(), "display_name": display_name,
                "state": "processing", "status": "queued",
                "message": "generation started; poll GET /artifacts/{artifact_id}/status",
            })),
        ));
    };
    let wait = Duration::from_secs(wait.min(300));
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
                    "display_name": artifact.display_name, "state": "success",
                    "content": context(&app, &task.tenant_id, &task.id).await?.content(&artifact),
                    "message": format!("{} v{} generated", artifact_type.as_str(), artifact.version),
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
                    "state": "processing", "display_name": display_name,
                    "message": "generation queued; the artifact appears under this id when it is done",
                })),
            ));
        }
        let _ = tokio::time::timeout(Duration::from_millis(250), app.jobs_signal.notified()).await;
    }
}

/// The stable code of a job's latest failure (`llm_quota_exceeded`).
pub(super) fn last_error_code(job: &crate::store::JobRecord) -> &str {
    job.errors.0.last().map_or("", |e| e.code.as_str())
}
