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

use serde_json::Value;

use crate::app::App;
use crate::domain::ids;
use crate::domain::job::{Job, JobKind, JobPayloadError, Regenerate};
use crate::domain::stage::Stage;
use crate::store::{
    ClaimedJob, Lease, NewArtifact, NewCost, NewJob, NewSpeakerMapping, NewTranscriptRevision,
    StageCompletion, StageFailure, StageStart, StepOutcome, StoreError, TaskRecord,
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

/// The row for `job`: its kind's queue and configured attempts, due now.
pub fn new_job(app: &App, id: String, tenant_id: Option<&str>, job: &Job, priority: i64) -> NewJob {
    let kind = job.kind();
    NewJob {
        id,
        queue: kind.queue().to_string(),
        kind: kind.wire_name().to_string(),
        task_id: job.task_id().map(str::to_string),
        tenant_id: tenant_id.map(str::to_string),
        payload: job.payload(),
        priority,
        max_attempts: app.config.max_attempts_for(kind.wire_name()),
        run_at_ms: app.clock.now_ms(),
    }
}

/// The job for `stage` of `task_id`.
pub fn stage_job(app: &App, stage: Stage, tenant_id: &str, task_id: &str) -> NewJob {
    new_job(
        app,
        ids::job_id(),
        Some(tenant_id),
        &Job::stage(stage, task_id),
        0,
    )
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
    let job = Job::Regenerate(Regenerate {
        task_id: task.id.clone(),
        artifact_type: artifact_type.as_str().to_string(),
        artifact_id: artifact_id.clone(),
        prompt_instance,
        requested_by: requested_by.to_string(),
        display_name: display_name.map(str::to_string),
    });
    // User-requested work goes before background pipeline stages.
    let row = new_job(
        app,
        generation_job_id(&artifact_id),
        Some(&task.tenant_id),
        &job,
        10,
    );
    (row, artifact_id)
}

/// The id of the job that generates `artifact_id`: derived from it, so the artifact's status
/// can be answered before the version exists (a failed generation creates none).
pub fn generation_job_id(artifact_id: &str) -> String {
    let suffix = artifact_id.strip_prefix("artifact_").unwrap_or(artifact_id);
    format!("job_{suffix}")
}

/// Reads a claimed job's typed payload. A payload from a newer release is retryable (a
/// worker of that release will take it); a malformed one is permanent.
pub fn decode(job: &ClaimedJob) -> Result<Job, StageError> {
    Job::decode(&job.kind, &job.payload.0).map_err(|e| match e {
        JobPayloadError::Newer(_) => StageError::transient("job_payload_newer", e.to_string()),
        other => StageError::permanent("bad_job", other.to_string()),
    })
}

/// Runs one claimed job to completion (success is recorded inside).
pub async fn execute(app: &App, job: &ClaimedJob) -> Result<(), JobError> {
    match decode(job)? {
        Job::Stage { stage, task } => run_stage(app, job, stage, &task.task_id).await,
        Job::Regenerate(p) => generate::regenerate(app, job, &p).await,
        Job::SyncHotwordTable(p) => hotword_sync::run(app, job, &p).await,
        Job::EnrollVoiceprint(p) => voiceprints::enroll(app, job, &p).await,
        Job::EraseVoiceprint(p) => voiceprints::erase(app, job, &p).await,
        Job::Retention(_) => maintenance::run(app, job).await,
        Job::PruneJobs(_) => maintenance::prune(app, job).await,
        Job::Backup(_) => maintenance::backup(app, job).await,
        Job::Noop => Ok(app.store.complete_job(&job.lease()).await?),
    }
}

async fn run_stage(
    app: &App,
    job: &ClaimedJob,
    stage: Stage,
    task_id: &str,
) -> Result<(), JobError> {
    let lease = job.lease();
    let task = job_task_record(app, job, task_id).await?;
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
async fn job_task_record(
    app: &App,
    job: &ClaimedJob,
    task_id: &str,
) -> Result<TaskRecord, JobError> {
    let Some(tenant_id) = job.tenant_id.as_deref() else {
        return Err(StageError::permanent("bad_job", "a task's job carries no tenant").into());
    };
    app.store
        .get_task_in_tenant(tenant_id, task_id)
        .await?
        .ok_or_else(|| {
            JobError::Failed(StageError::permanent(
                "task_missing",
                "the task no longer exists",
            ))
        })
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
    let stage = JobKind::parse(&job.kind).and_then(JobKind::stage);
    match (stage, job.tenant_id.clone(), job.task_id.clone()) {
        (Some(stage), Some(tenant_id), Some(task_id)) => {
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
