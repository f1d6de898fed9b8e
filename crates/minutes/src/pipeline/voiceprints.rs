//! The speakers registry's jobs on the `voiceprint` queue: `enroll_voiceprint` (the engine
//! turns the stored sample into a feature; the sample is deleted afterwards, whatever the
//! outcome) and `erase_voiceprint` (deletes an erased speaker's feature at a remote provider).
//! Handlers only validate, store and enqueue: the engine is called here.

use super::{JobError, StageError};
use crate::app::App;
use crate::domain::ids;
use crate::domain::job::{Job, SpeakerRef};
use crate::domain::voiceprint::state;
use crate::providers::{ProviderError, Voiceprint};
use crate::store::{ClaimedJob, EnrollmentOutcome, NewJob};

/// Where a speaker's enrollment sample (normalized 16 kHz mono WAV) waits for its job.
pub fn sample_key(tenant_id: &str, speaker_id: &str) -> String {
    format!("voiceprints/{tenant_id}/{speaker_id}/sample.wav")
}

/// Whether `provider` keeps its features in this service's database (nothing to delete
/// remotely on erasure).
pub fn is_local_provider(provider: &str) -> bool {
    provider == crate::providers::voiceprint::local::NAME
}

fn job(app: &App, job: Job, tenant_id: &str) -> NewJob {
    // A person waits on an enrollment or an erasure; pipeline stages can wait.
    super::new_job(app, ids::job_id(), Some(tenant_id), &job, 10)
}

pub fn enroll_job(app: &App, tenant_id: &str, speaker_id: &str) -> NewJob {
    let speaker = SpeakerRef {
        speaker_id: speaker_id.to_string(),
    };
    job(app, Job::EnrollVoiceprint(speaker), tenant_id)
}

pub fn erase_job(app: &App, tenant_id: &str, speaker_id: &str) -> NewJob {
    let speaker = SpeakerRef {
        speaker_id: speaker_id.to_string(),
    };
    job(app, Job::EraseVoiceprint(speaker), tenant_id)
}

fn target(job: &ClaimedJob, p: &SpeakerRef) -> Result<(String, String), JobError> {
    match job.tenant_id.clone() {
        Some(tenant) => Ok((tenant, p.speaker_id.clone())),
        None => Err(StageError::permanent("bad_job", "the job names no tenant").into()),
    }
}

/// The configured engine if it is the one `provider` names.
fn engine_for(app: &App, provider: &str) -> Option<std::sync::Arc<dyn Voiceprint>> {
    app.voiceprint.clone().filter(|v| v.name() == provider)
}

pub(super) async fn enroll(app: &App, job: &ClaimedJob, p: &SpeakerRef) -> Result<(), JobError> {
    let lease = job.lease();
    let (tenant_id, speaker_id) = target(job, p)?;
    let key = sample_key(&tenant_id, &speaker_id);
    let speaker = app.store.get_speaker(&tenant_id, &speaker_id).await?;
    let Some(speaker) = speaker.filter(|s| s.state == state::ENROLLING) else {
        // Erased (or gone) before its enrollment ran.
        let _ = app.objects.delete(&key).await;
        return Ok(app.store.complete_job(&lease).await?);
    };
    let outcome = match engine_for(app, &speaker.provider) {
        None => EnrollmentOutcome::Failed {
            error: format!(
                "the voiceprint engine `{}` is no longer configured",
                speaker.provider
            ),
        },
        Some(engine) => match read_sample(app, &key).await? {
            None => EnrollmentOutcome::Failed {
                error: "the enrollment sample is missing".into(),
            },
            Some(wav) => match engine.enroll(&tenant_id, &speaker_id, &wav).await {
                Ok(e) => EnrollmentOutcome::Enrolled {
                    feature_id: e.feature_id,
                    embeddings: e.embeddings,
                },
                Err(e) if e.is_retryable() && job.attempts < job.max_attempts => {
                    return Err(failed(&e));
                }
                Err(e) => {
                    tracing::warn!(speaker_id, error = %e, "voiceprint enrollment failed");
                    EnrollmentOutcome::Failed {
                        error: e.to_string(),
                    }
                }
            },
        },
    };
    let kept = app
        .store
        .finish_enrollment(&lease, &tenant_id, &speaker_id, &outcome)
        .await?;
    if let (false, EnrollmentOutcome::Enrolled { feature_id, .. }) = (kept, &outcome) {
        // Erased while enrolling: do not leave the feature behind at the provider.
        if let Some(engine) = engine_for(app, &speaker.provider) {
            if let Err(e) = engine.delete(&tenant_id, feature_id).await {
                tracing::warn!(speaker_id, error = %e, "could not delete the feature of an erased speaker");
            }
        }
    }
    // The raw sample is biometric data too: it lives only as long as its job.
    if let Err(e) = app.objects.delete(&key).await {
        tracing::warn!(speaker_id, error = %e, "could not delete an enrollment sample");
    }
    Ok(())
}

pub(super) async fn erase(app: &App, job: &ClaimedJob, p: &SpeakerRef) -> Result<(), JobError> {
    let lease = job.lease();
    let (tenant_id, speaker_id) = target(job, p)?;
    let speaker = app.store.get_speaker(&tenant_id, &speaker_id).await?;
    let Some(speaker) = speaker.filter(|s| s.state == state::ERASING) else {
        return Ok(app.store.complete_job(&lease).await?);
    };
    if let Some(feature_id) = &speaker.provider_feature_id {
        let Some(engine) = engine_for(app, &speaker.provider) else {
            // Kept `erasing` with the sealed id, so an operator can finish it once the engine
            // is configured again (`minutes` re-queues dead jobs).
            return Err(StageError::permanent(
                "voiceprint_engine_missing",
                format!(
                    "the feature is held by `{}`, which is not configured",
                    speaker.provider
                ),
            )
            .into());
        };
        engine
            .delete(&tenant_id, feature_id)
            .await
            .map_err(|e| failed(&e))?;
    }
    app.store
        .finish_erasure(&lease, &tenant_id, &speaker_id)
        .await?;
    Ok(())
}

fn failed(e: &ProviderError) -> JobError {
    JobError::Failed(StageError::provider("voiceprint", e))
}

async fn read_sample(app: &App, key: &str) -> Result<Option<Vec<u8>>, JobError> {
    let dir = app.config.data_dir.join("work");
    std::fs::create_dir_all(&dir).map_err(|e| StageError::internal("scratch directory", e))?;
    let scratch = tempfile::Builder::new()
        .prefix("voiceprint-")
        .tempdir_in(dir)
        .map_err(|e| StageError::internal("scratch directory", e))?;
    let path = scratch.path().join("sample.wav");
    match app.objects.download_to(key, &path).await {
        Ok(_) => Ok(Some(tokio::fs::read(&path).await.map_err(|e| {
            StageError::internal("reading the enrollment sample", e)
        })?)),
        Err(crate::storage::StorageError::NotFound(_)) => Ok(None),
        Err(e) => Err(StageError::internal("fetching the enrollment sample", e).into()),
    }
}
