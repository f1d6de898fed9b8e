//! Task endpoints: create, list, get, status (+ long-poll), rename, delete, cancel, retry, history.
use std::collections::HashMap;
use std::time::Duration;

use axum::extract::State;

use super::extract::{Json, Path, Query};
use axum::http::StatusCode;
use serde::Deserialize;
use serde_json::{json, Value};

use super::auth::Caller;
use super::error::{ApiError, ApiResult};
use super::views::{task_status, ts};
use super::AppState;
use crate::domain::artifact::ArtifactType;
use crate::domain::ids;
use crate::domain::stage::Stage;
use crate::domain::task::{TaskState, ASR_LANGUAGES, OUTPUT_LANGUAGES};
use crate::domain::templates::resolve_parameters;
use crate::pipeline::prompt::find_template;
use crate::pipeline::stage_job;
use crate::store::{NewTask, NewTaskFile, StoreError, TaskFilter, TaskRecord};

const MAX_FILES: usize = 20;

#[derive(Debug, Default, Deserialize)]
pub struct PromptInstance {
    pub template_id: Option<String>,
    pub language: Option<String>,
    #[serde(default)]
    pub parameters: serde_json::Map<String, Value>,
    /// The prompt as the user edited it in the original frontend; used instead of the body.
    pub prompt_text: Option<String>,
    pub custom_instructions: Option<String>,
}

const MAX_PROMPT_CHARS: usize = 20_000;

impl PromptInstance {
    /// Checks the free-text parts and returns them as stored on a task or generation job.
    pub fn texts(&self) -> ApiResult<Value> {
        let mut out = json!({});
        for (key, text) in [
            ("prompt_text", &self.prompt_text),
            ("custom_instructions", &self.custom_instructions),
        ] {
            let Some(text) = text.as_deref().filter(|t| !t.trim().is_empty()) else {
                continue;
            };
            if text.chars().count() > MAX_PROMPT_CHARS {
                return Err(ApiError::field(
                    &format!("prompt_instance.{key}"),
                    format!("at most {MAX_PROMPT_CHARS} characters"),
                ));
            }
            out[key] = json!(text);
        }
        Ok(out)
    }
}

/// An entry of `audio_files`: the key `POST /upload` returned, or the original's
/// `{file_path, speaker_id}` object.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum AudioFileRef {
    Key(String),
    File { file_path: String },
}

impl AudioFileRef {
    /// The object key; a playback URL's signed query (from a task view) is not part of it.
    fn key(&self) -> String {
        let raw = match self {
            AudioFileRef::Key(k) => k,
            AudioFileRef::File { file_path } => file_path,
        };
        crate::auth::media_urls::object_key(raw)
    }
}

#[derive(Debug, Deserialize)]
pub struct CreateTask {
    audio_files: Vec<AudioFileRef>,
    file_order: Option<Vec<usize>>,
    meeting_type: String,
    #[serde(default = "default_asr_language")]
    asr_language: String,
    #[serde(default = "default_output_language")]
    output_language: String,
    prompt_instance: Option<PromptInstance>,
    #[serde(default)]
    skip_speaker_recognition: bool,
    name: Option<String>,
    meeting_date: Option<String>,
    meeting_time: Option<String>,
    /// A hotword set to use instead of the automatic user > tenant > global resolution.
    hotword_set_id: Option<String>,
}

fn default_asr_language() -> String {
    "zh-CN+en-US".into()
}

fn default_output_language() -> String {
    "zh-CN".into()
}

fn field_error(errors: &mut Vec<Value>, loc: &str, msg: impl Into<String>) {
    errors.push(json!({"loc": ["body", loc], "msg": msg.into(), "type": "value_error"}));
}

/// The parts in meeting order: position i holds `audio_files[file_order[i]]`.
fn ordered_files(req: &CreateTask, errors: &mut Vec<Value>) -> Vec<String> {
    let n = req.audio_files.len();
    if n == 0 || n > MAX_FILES {
        field_error(
            errors,
            "audio_files",
            format!("between 1 and {MAX_FILES} files are required"),
        );
        return Vec::new();
    }
    let order = req.file_order.clone().unwrap_or_else(|| (0..n).collect());
    let mut seen = vec![false; n];
    let is_permutation = order.len() == n
        && order
            .iter()
            .all(|&i| i < n && !std::mem::replace(&mut seen[i], true));
    if !is_permutation {
        field_error(
            errors,
            "file_order",
            format!("must be a permutation of 0..{n} with one entry per audio file"),
        );
        return Vec::new();
    }
    order.iter().map(|&i| req.audio_files[i].key()).collect()
}

pub async fn create(
    State(app): State<AppState>,
    caller: Caller,
    Json(req): Json<CreateTask>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let mut errors = Vec::new();
    let keys = ordered_files(&req, &mut errors);
    let meeting_type = req.meeting_type.trim();
    if meeting_type.is_empty() || meeting_type.len() > 64 {
        field_error(&mut errors, "meeting_type", "1–64 characters");
    }
    if !ASR_LANGUAGES.contains(&req.asr_language.as_str()) {
        field_error(
            &mut errors,
            "asr_language",
            format!("one of {}", ASR_LANGUAGES.join(", ")),
        );
    }
    if !OUTPUT_LANGUAGES.contains(&req.output_language.as_str()) {
        field_error(
            &mut errors,
            "output_language",
            format!("one of {}", OUTPUT_LANGUAGES.join(", ")),
        );
    }
    if let Some(name) = &req.name {
        if name.trim().is_empty() || name.chars().count() > 255 {
            field_error(&mut errors, "name", "1–255 characters");
        }
    }
    if !errors.is_empty() {
        return Err(ApiError::validation(errors));
    }
    super::quota::check(&app, &caller, super::quota::Need::Pipeline).await?;
    // Only objects the caller uploaded: no server paths, no URLs, nobody else's keys.
    let uploads = app.store.uploads_by_keys(&caller.owner(), &keys).await?;
    let by_key: HashMap<&str, &crate::store::Upload> =
        uploads.iter().map(|u| (u.object_key.as_str(), u)).collect();
    let mut files = Vec::with_capacity(keys.len());
    for (order, key) in keys.iter().enumerate() {
        let upload = by_key.get(key.as_str()).ok_or_else(|| {
            ApiError::bad_request(
                "input_missing_file",
                format!("`{key}` is not one of your uploads; upload it with POST /upload first"),
            )
        })?;
        files.push(NewTaskFile {
            file_order: order as i64,
            object_key: upload.object_key.clone(),
            original_filename: upload.original_filename.clone(),
            sha256: upload.sha256.clone(),
            size_bytes: upload.size_bytes,
        });
    }
    let prompt = req.prompt_instance.unwrap_or_default();
    let template_id = prompt
        .template_id
        .clone()
        .filter(|t| !t.is_empty())
        .unwrap_or_else(|| app.config.pipeline.default_template.clone());
    // The task's first artifact is of the template's type (the blank template writes minutes).
    let template = find_template(
        app.store.as_ref(),
        &caller.owner(),
        &template_id,
        ArtifactType::MeetingMinutes,
    )
    .await?
    .ok_or_else(|| ApiError::not_found(&format!("prompt template `{template_id}`")))?;
    let parameters = resolve_parameters(&template.parameter_schema.0, &prompt.parameters)
        .map_err(ApiError::validation)?;
    let mut prompt_instance = prompt.texts()?;
    prompt_instance["template_id"] = json!(template_id);
    prompt_instance["artifact_type"] = json!(template.artifact_type);
    prompt_instance["language"] = json!(prompt
        .language
        .clone()
        .unwrap_or_else(|| req.output_language.clone()));
    prompt_instance["parameters"] = json!(parameters);
    let hotwords = super::hotwords::resolve_for_task(
        &app,
        &caller.owner(),
        req.hotword_set_id.as_deref(),
        &req.asr_language,
    )
    .await?;
    let task_id = ids::task_id();
    let task = NewTask {
        id: task_id.clone(),
        tenant_id: caller.tenant_id.clone(),
        user_id: caller.user_id.clone(),
        name: req.name.map(|n| n.trim().to_string()),
        meeting_type: meeting_type.to_string(),
        asr_language: req.asr_language,
        output_language: req.output_language.clone(),
        skip_speaker_recognition: req.skip_speaker_recognition,
        hotword_set_id: req.hotword_set_id,
        prompt_instance,
        folder_id: None,
        meeting_date: req.meeting_date,
        meeting_time: req.meeting_time,
        hotwords,
    };
    let job = stage_job(&app, Stage::PrepareAudio, &caller.tenant_id, &task_id);
    let created = app.store.create_task(&task, &files, &job).await?;
    caller
        .audit(
            &app,
            "task.create",
            "task",
            &created.id,
            json!({"files": keys}),
        )
        .await;
    Ok((
        StatusCode::CREATED,
        Json(
            json!({"success": true, "task_id": created.id, "state": created.state, "message": "task created and queued"}),
        ),
    ))
}

#[derive(Debug, Deserialize)]
pub struct ListQuery {
    limit: Option<i64>,
    offset: Option<i64>,
    state: Option<String>,
    folder_id: Option<String>,
    #[serde(default)]
    include_deleted: bool,
}

pub async fn list(
    State(app): State<AppState>,
    caller: Caller,
    Query(q): Query<ListQuery>,
) -> ApiResult<Json<Value>> {
    if let Some(state) = &q.state {
        if TaskState::parse(state).is_none() {
            return Err(ApiError::bad_request(
                "invalid_state_filter",
                format!("unknown state `{state}`"),
            ));
        }
    }
    let (limit, offset) = super::extract::page(q.limit, q.offset);
    let filter = TaskFilter {
        state: q.state,
        // "" selects the root (tasks in no folder), as in the original.
        folder_id: q
            .folder_id
            .map(|f| if f.is_empty() { None } else { Some(f) }),
        include_deleted: q.include_deleted,
        limit,
        offset,
    };
    let tasks = app.store.list_tasks(&caller.owner(), &filter).await?;
    let mut out = Vec::with_capacity(tasks.len());
    for t in &tasks {
        let files = app.store.task_files(&t.tenant_id, &t.id).await?;
        out.push(super::media::task_detail(&app, t, &files));
    }
    Ok(Json(Value::Array(out)))
}

pub(super) async fn owned_task(
    app: &AppState,
    caller: &Caller,
    task_id: &str,
) -> ApiResult<TaskRecord> {
    app.store
        .get_task(&caller.owner(), task_id)
        .await?
        .ok_or_else(|| ApiError::not_found("task"))
}

/// Deletes the task for good: its rows (jobs, steps, transcripts and artifacts cascade) and its
/// normalized audio. A worker still running one of its jobs is fenced off at its next write.
pub(super) async fn purge_task(
    app: &AppState,
    caller: &Caller,
    task: &TaskRecord,
) -> ApiResult<()> {
    app.store
        .delete_task(&caller.owner(), &task.id)
        .await
        .map_err(not_found_task)?;
    let _ = app
        .objects
        .delete(&crate::pipeline::normalized_key(&task.tenant_id, &task.id))
        .await;
    Ok(())
}

pub async fn get(
    State(app): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    let task = owned_task(&app, &caller, &id).await?;
    let files = app.store.task_files(&task.tenant_id, &task.id).await?;
    Ok(Json(super::media::task_detail(&app, &task, &files)))
}

#[derive(Debug, Deserialize)]
pub struct StatusQuery {
    /// Long-poll: wait up to this many seconds (max 60) for the state or progress to change.
    wait: Option<u64>,
}

pub async fn status(
    State(app): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    Query(q): Query<StatusQuery>,
) -> ApiResult<Json<Value>> {
    let first = owned_task(&app, &caller, &id).await?;
    let wait = Duration::from_secs(q.wait.unwrap_or(0).min(60));
    let deadline = tokio::time::Instant::now() + wait;
    let mut task = first.clone();
    // Workers may run in other processes, so watch the row; 250 ms keeps it cheap and prompt.
    while tokio::time::Instant::now() < deadline
        && task.state == first.state
        && task.progress == first.progress
    {
        let notified = app.jobs_signal.notified();
        let _ = tokio::time::timeout(Duration::from_millis(250), notified).await;
        task = owned_task(&app, &caller, &id).await?;
    }
    Ok(Json(task_status(&task)))
}

#[derive(Debug, Deserialize)]
pub struct Rename {
    name: String,
}

pub async fn rename(
    State(app): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    Json(body): Json<Rename>,
) -> ApiResult<Json<Value>> {
    let name = body.name.trim();
    if name.is_empty() || name.chars().count() > 255 {
        return Err(ApiError::field("name", "1–255 characters"));
    }
    app.store
        .rename_task(&caller.owner(), &id, name)
        .await
        .map_err(not_found_task)?;
    Ok(Json(json!({"success": true, "message": "task renamed"})))
}

pub async fn delete(
    State(app): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    let task = owned_task(&app, &caller, &id).await?;
    purge_task(&app, &caller, &task).await?;
    caller
        .audit(
            &app,
            "task.delete",
            "task",
            &id,
            json!({"state": task.state}),
        )
        .await;
    Ok(StatusCode::NO_CONTENT)
}

pub async fn cancel(
    State(app): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    let previous = app
        .store
        .cancel_task(&caller.owner(), &id, "cancelled by user")
        .await
        .map_err(not_found_task)?;
    caller
        .audit(
            &app,
            "task.cancel",
            "task",
            &id,
            json!({"previous_state": previous}),
        )
        .await;
    Ok(Json(
        json!({"success": true, "task_id": id, "previous_state": previous, "message": "task cancelled"}),
    ))
}

/// Resumes at the first stage that has not finished; finished stages are neither redone nor re-billed.
pub async fn retry(
    State(app): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    let task = owned_task(&app, &caller, &id).await?;
    super::quota::check(&app, &caller, super::quota::Need::Pipeline).await?;
    let steps = app.store.task_steps(&task.tenant_id, &task.id).await?;
    let finished = |s: Stage| {
        steps
            .iter()
            .any(|r| r.step == s.name() && matches!(r.status.as_str(), "success" | "skipped"))
    };
    let resume = Stage::ALL
        .into_iter()
        .find(|s| !finished(*s))
        .unwrap_or(Stage::GenerateArtifact);
    let job = stage_job(&app, resume, &task.tenant_id, &task.id);
    let previous = app
        .store
        .retry_task(&caller.owner(), &id, &job)
        .await
        .map_err(not_found_task)?;
    caller
        .audit(
            &app,
            "task.retry",
            "task",
            &id,
            json!({"resume_from": resume.name()}),
        )
        .await;
    Ok(Json(json!({
        "success": true, "task_id": id, "previous_state": previous, "state": "queued",
        "resume_from": resume.name(), "message": format!("task requeued from {}", resume.name()),
    })))
}

pub async fn history(
    State(app): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    let task = owned_task(&app, &caller, &id).await?;
    let events = app.store.task_events(&task.tenant_id, &task.id).await?;
    let steps = app.store.task_steps(&task.tenant_id, &task.id).await?;
    let entries: Vec<Value> = events
        .iter()
        .map(|e| {
            json!({
                "timestamp": ts(&e.created_at), "from_state": e.from_state, "state": e.to_state,
                "message": e.reason, "details": e.detail.as_ref().map(|d| d.0.clone()),
            })
        })
        .collect();
    let steps: Vec<Value> = steps
        .iter()
        .map(|s| json!({
            "step": s.step, "status": s.status, "attempts": s.attempts, "error": s.error,
            "started_at": s.started_at.as_ref().map(ts), "completed_at": s.completed_at.as_ref().map(ts),
        }))
        .collect();
    Ok(Json(
        json!({"task_id": task.id, "entries": entries, "steps": steps}),
    ))
}

fn not_found_task(e: StoreError) -> ApiError {
    match e {
        StoreError::NotFound => ApiError::not_found("task"),
        other => other.into(),
    }
}
