//! identify_speakers (optional): voiceprint 1:N on a few samples per diarized label.
use serde_json::json;

use super::prepare_audio::normalized_key;
use super::{StageCtx, StageError, StageOutput};
use crate::domain::transcript::Segment;
use crate::providers::SpeakerSample;
use crate::store::StepOutcome;

/// Samples per label and their length bounds (seconds): enough for a vote, short enough to be cheap.
const SAMPLES_PER_LABEL: usize = 3;
const MIN_SAMPLE_SECS: f64 = 3.0;
const MAX_SAMPLE_SECS: f64 = 6.0;

pub(super) async fn run(ctx: &StageCtx<'_>) -> Result<StageOutput, StageError> {
    let Some(voiceprint) = ctx.app.voiceprint.clone() else {
        return Ok(skipped("no voiceprint provider is configured"));
    };
    if ctx.task.skip_speaker_recognition {
        return Ok(skipped("skipped by the task's skip_speaker_recognition"));
    }
    let transcript = ctx
        .app
        .store
        .latest_transcript(&ctx.task.tenant_id, &ctx.task.id)
        .await?
        .ok_or_else(|| StageError::internal("identify", "no transcript"))?;
    let segments: Vec<Segment> = serde_json::from_value(transcript.segments.0)
        .map_err(|e| StageError::internal("segments", e))?;
    let scratch = ctx.scratch()?;
    let wav = scratch.path().join("normalized.wav");
    ctx.app
        .objects
        .download_to(&normalized_key(&ctx.task.tenant_id, &ctx.task.id), &wav)
        .await
        .map_err(|e| StageError::internal("fetching normalized audio", e))?;
    let picks = pick_samples(&segments);
    let samples = tokio::task::spawn_blocking(move || {
        picks
            .into_iter()
            .map(|(label, start, end)| {
                minutes_audio::slice_wav(&wav, start, end).map(|wav| SpeakerSample { label, wav })
            })
            .collect::<Result<Vec<_>, _>>()
    })
    .await
    .map_err(|e| StageError::internal("audio worker thread", e))?
    .map_err(|e| StageError::internal("cutting voiceprint samples", e))?;
    match voiceprint.identify(&samples).await {
        Ok(matches) => Ok(StageOutput {
            result: json!({ "provider": voiceprint.name(), "matches": matches }),
            ..Default::default()
        }),
        // Optional stage: keep the diarization labels and finish as partial_success.
        Err(e) => Ok(StageOutput {
            outcome: Some(StepOutcome::FailedOptional),
            result: json!({ "provider": voiceprint.name(), "matches": [] }),
            error: Some(format!(
                "{}: {e}",
                StageError::provider("voiceprint", &e).code
            )),
            ..Default::default()
        }),
    }
}

fn skipped(reason: &str) -> StageOutput {
    StageOutput {
        outcome: Some(StepOutcome::Skipped),
        result: json!({ "skipped": reason, "matches": [] }),
        ..Default::default()
    }
}

/// The longest turns of each label, trimmed to at most `MAX_SAMPLE_SECS`.
fn pick_samples(segments: &[Segment]) -> Vec<(String, f64, f64)> {
    let mut labels: Vec<&str> = segments.iter().map(|s| s.speaker.as_str()).collect();
    labels.sort_unstable();
    labels.dedup();
    let mut out = Vec::new();
    for label in labels {
        let mut turns: Vec<&Segment> = segments
            .iter()
            .filter(|s| s.speaker == label && s.end_time - s.start_time >= MIN_SAMPLE_SECS)
            .collect();
        turns.sort_by(|a, b| (b.end_time - b.start_time).total_cmp(&(a.end_time - a.start_time)));
        for s in turns.into_iter().take(SAMPLES_PER_LABEL) {
            out.push((
                label.to_string(),
                s.start_time,
                s.end_time.min(s.start_time + MAX_SAMPLE_SECS),
            ));
        }
    }
    out
}
