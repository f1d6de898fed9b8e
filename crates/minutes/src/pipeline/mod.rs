//! The meeting pipeline as stage jobs: prepare_audio → transcribe → identify_speakers →
//! correct_speakers → generate_artifact. Each stage checks its step record first (idempotency),
//! runs, and records its outputs together with the next stage's job in one transaction.
mod checkpoint;
mod correct;
mod diarize;
mod error;
mod generate;
pub mod hotword_sync;
mod identify;
pub mod maintenance;
mod prepare_audio;
pub mod prompt;
mod summarize;
mod transcribe;
pub mod voiceprints;

use std::path::PathBuf;

use serde_json::{json, Value};

use crate::app::App;
use crate::domain::ids;
use crate::domain::stage::Stage;
use crate::store::{
    ClaimedJob, Lease, NewArtifact, NewCost, NewJob, NewSpeakerMapping, NewTranscriptRevision,
    StageCompletion, StageFailure, StageStart, StepOutcome, StoreError, TaskRecord,
};

pub use crate::domain::stage::{
    ENROLL_VOICEPRINT_JOB, ERASE_VOICEPRINT_JOB, HOTWORD_SYNC_JOB, NOOP_JOB, REGENERATE_JOB,
    RETENTION_JOB,
};
pub use error::{JobError, StageError};
pub use prepare_audio::normalized_key;

/// What a stage produced, before it is written.
#[derive(Debug, Default)]
pub(crate) struct StageOutput {
    pub outcome: Option<StepOutcome>,
    pub result: Value,
    pub error: Option<String>,
    pub audio_duration: Option<f64>,
    pub file_offsets: Vec<(i64, f64, f64)>,
    pub transcript: Option<NewTranscriptRevision>,
    pub speaker_mapping: Option<NewSpeakerMapping>,
    pub artifact: Option<NewArtifact>,
    pub costs: Vec<NewCost>,
    pub final_state: Option<&'static str>,
}

/// Everything a stage body gets.
pub(crate) struct StageCtx<'a> {
    pub app: &'a App,
    pub task: TaskRecord,
    /// The running job's lease: writes made mid-stage are fenced by it.
    pub lease: Lease,
}

impl StageCtx<'_> {
    /// A scratch directory for this job, removed when dropped.
    pub fn scratch(&self) -> Result<tempfile::TempDir, StageError> {
        let base: PathBuf = self.app.config.data_dir.join("work");
        std::fs::create_dir_all(&base).map_err(|e| StageError::internal("scratch directory", e))?;
        tempfile::Builder::new()
            .prefix(&format!("{}-", self.task.id))
            .tempdir_in(base)
            .map_err(|e| StageError::internal("scratch directory", e))
    }

    pub async fn step_result(&self, stage: Stage) -> Result<Option<Value>, StageError> {
        let steps = self
            .app
            .store
            .task_steps(&self.task.tenant_id, &self.task.id)
            .await?;
        Ok(steps
            .into_iter()
            .find(|s| s.step == stage.name() && (s.status == "success" || s.status == "skipped"))
            .and_then(|s| s.result.map(|r| r.0)))
    }
}

/// The job for `stage` of `task_id`.
pub fn stage_job(app: &App, stage: Stage, tenant_id: &str, task_id: &str) -> NewJob {
    NewJob {
        id: ids::job_id(),
        queue: stage.queue().to_string(),
        kind: stage.name().to_string(),
        task_id: Some(task_id.to_string()),
        tenant_id: Some(tenant_id.to_string()),
        payload: json!({ "task_id": task_id }),
        priority: 0,
        max_attempts: app.config.max_attempts_for(stage.name()),
        run_at_ms: app.clock.now_ms(),
    }
}

/// A (re)generation job for one artifact type of a finished task, and the id its version will get.
pub fn regenerate_job(
    app: &App,
    task: &TaskRecord,
    artifact_type: crate::domain::artifact::ArtifactType,
    prompt_instance: Value,
    requested_by: &str,
    display_name: Option<&str>,
) -> (NewJob, String) {
    let artifact_id = ids::artifact_id();
    let job = NewJob {
        id: generation_job_id(&artifact_id),
        queue: Stage::GenerateArtifact.queue().to_string(),
        kind: REGENERATE_JOB.to_string(),
        task_id: Some(task.id.clone()),
        tenant_id: Some(task.tenant_id.clone()),
        payload: json!({
            "task_id": task.id, "artifact_type": artifact_type.as_str(), "artifact_id": artifact_id,
            "prompt_instance": prompt_instance, "requested_by": requested_by,
            "display_name": display_name,
        }),
        // User-requested work goes before background pipeline stages.
        priority: 10,
        max_attempts: app.config.max_attempts_for(REGENERATE_JOB),
        run_at_ms: app.clock.now_ms(),
    };
    (job, artifact_id)
}

/// The id of the job that generates `artifact_id`: derived from it, so the artifact's status
/// can be answered before the version exists (a failed generation creates none).
pub fn generation_job_id(artifact_id: &str) -> String {
    let suffix = artifact_id.strip_prefix("artifact_").unwrap_or(artifact_id);
    format!("job_{suffix}")
}

/// Runs one claimed job to completion (success is recorded inside).
pub async fn execute(app: &App, job: &ClaimedJob) -> Result<(), JobError> {
    if let Some(stage) = Stage::parse(&job.kind) {
        return run_stage(app, job, stage).await;
    }
    match job.kind.as_str() {
        REGENERATE_JOB => generate::regenerate(app, job).await,
        RETENTION_JOB => maintenance::run(app, job).await,
        HOTWORD_SYNC_JOB => hotword_sync::run(app, job).await,
        ENROLL_VOICEPRINT_JOB => voiceprints::enroll(app, job).await,
        ERASE_VOICEPRINT_JOB => voiceprints::erase(app, job).await,
        NOOP_JOB => Ok(app.store.complete_job(&job.lease()).await?),
        other => Err(JobError::Failed(StageError::permanent(
            "unknown_job",
            format!("no handler for job kind `{other}`"),
        ))),
    }
}

async fn run_stage(app: &App, job: &ClaimedJob, stage: Stage) -> Result<(), JobError> {
    let lease = job.lease();
    let task = job_task_record(app, job).await?;
    let (tenant_id, task_id) = (task.tenant_id.clone(), task.id.clone());
    let ctx = StageCtx {
        app,
        task,
        lease: lease.clone(),
    };
    // Idempotency: a stage that already succeeded is not run (or billed) again.
    let done = ctx.step_result(stage).await?;
    let output = match done {
        Some(result) => StageOutput {
            outcome: Some(StepOutcome::Success),
            result,
            ..Default::default()
        },
        None => {
            app.store
                .start_stage(
                    &lease,
                    &StageStart {
                        tenant_id: tenant_id.clone(),
                        task_id: task_id.clone(),
                        step: stage.name(),
                        state: stage.task_state().as_str(),
                        progress: stage.start_progress(),
                    },
                )
                .await?;
            match stage {
                Stage::PrepareAudio => prepare_audio::run(&ctx).await,
                Stage::Transcribe => transcribe::run(&ctx).await,
                Stage::IdentifySpeakers => identify::run(&ctx).await,
                Stage::CorrectSpeakers => correct::run(&ctx).await,
                Stage::GenerateArtifact => generate::run(&ctx).await,
            }
            .map_err(JobError::Failed)?
        }
    };
    let mut costs = output.costs;
    costs.iter_mut().for_each(|c| c.bill_to(job));
    let billed: Vec<NewCost> = costs.clone();
    let next_job = stage
        .next()
        .map(|next| stage_job(app, next, &tenant_id, &task_id));
    let progress = match (&output.final_state, stage.next()) {
        (Some(_), _) | (_, None) => 100.0,
        (None, Some(next)) => next.start_progress(),
    };
    app.store
        .finish_stage(
            &lease,
            &StageCompletion {
                tenant_id,
                task_id,
                step: stage.name(),
                outcome: output.outcome.unwrap_or(StepOutcome::Success),
                result: output.result,
                error: output.error,
                provider_job_id: None,
                audio_duration: output.audio_duration,
                file_offsets: output.file_offsets,
                transcript: output.transcript,
                speaker_mapping: output.speaker_mapping,
                artifact: output.artifact,
                costs,
                final_state: output.final_state,
                progress,
                next_job,
            },
        )
        .await?;
    count_costs(app, &billed);
    Ok(())
}

/// Adds a completed step's bill to `minutes_provider_cost_micros_total`.
pub(crate) fn count_costs(app: &App, costs: &[NewCost]) {
    for c in costs {
        app.metrics
            .cost(&c.provider, c.usage.api_type(), c.amount.0);
    }
}

/// The task a job works on, read in the job's tenant.
async fn job_task_record(app: &App, job: &ClaimedJob) -> Result<TaskRecord, JobError> {
    let (tenant_id, task_id) = job_task(job)?;
    app.store
        .get_task_in_tenant(&tenant_id, &task_id)
        .await?
        .ok_or_else(|| {
            JobError::Failed(StageError::permanent(
                "task_missing",
                "the task no longer exists",
            ))
        })
}

fn job_task(job: &ClaimedJob) -> Result<(String, String), JobError> {
    let task_id = job
        .payload
        .0
        .get("task_id")
        .and_then(Value::as_str)
        .map(str::to_string);
    match (job.tenant_id.clone(), task_id) {
        (Some(tenant), Some(task)) => Ok((tenant, task)),
        _ => Err(JobError::Failed(StageError::permanent(
            "bad_job",
            "job payload has no task",
        ))),
    }
}

/// Records a failed attempt: requeued at `retry_at_ms`, or dead (and the task failed for stages).
pub async fn record_failure(
    app: &App,
    job: &ClaimedJob,
    err: &StageError,
    retry_at_ms: Option<i64>,
) -> Result<(), StoreError> {
    let lease = job.lease();
    let error_text = format!("{}: {}", err.code, err.detail);
    match (Stage::parse(&job.kind), job_task(job)) {
        (Some(stage), Ok((tenant_id, task_id))) => {
            app.store
                .fail_stage(
                    &lease,
                    &StageFailure {
                        tenant_id,
                        task_id,
                        step: stage.name(),
                        error_code: err.code.clone(),
                        error_message: err.message.clone(),
                        error_detail: err.detail.clone(),
                        retryable: err.retryable,
                        retry_at_ms,
                    },
                )
                .await
        }
        _ => app.store.fail_job(&lease, &error_text, retry_at_ms).await,
    }
}
