//! identify_speakers (optional): voiceprint 1:N against the tenant's speakers registry, on a
//! few 3–6 s samples per diarized label that vote.
use serde_json::json;

use super::prepare_audio::normalized_key;
use super::{StageCtx, StageError, StageOutput};
use crate::domain::cost::Usage;
use crate::domain::transcript::Segment;
use crate::providers::SpeakerSample;
use crate::store::{NewCost, StepOutcome};

/// Sample length bounds (seconds): long enough for a stable voiceprint, short enough to be cheap.
const MIN_SAMPLE_SECS: f64 = 3.0;
const MAX_SAMPLE_SECS: f64 = 6.0;
/// Cut off both ends of a turn: diarization and ASR boundaries are approximate, and the
/// neighbouring speaker's voice there would blur the sample.
const EDGE_SECS: f64 = 0.2;

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
    let registry = ctx
        .app
        .store
        .voiceprint_registry(&ctx.task.tenant_id, voiceprint.name())
        .await?;
    let picks = pick_samples(&segments, ctx.app.config.voiceprint.samples_per_label);
    let samples = crate::telemetry::spawn_blocking(move || {
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
    match voiceprint.identify(&registry, &samples).await {
        Ok(matches) => Ok(StageOutput {
            result: json!({ "provider": voiceprint.name(), "matches": matches }),
            // One 1:N search per sample (iFlyTek bills per call; the local engine prices at 0).
            costs: vec![NewCost::priced(
                &ctx.app.config.pricing,
                "identify_speakers",
                voiceprint.name(),
                "",
                Usage::Calls(samples.len() as u64),
                json!({"labels": matches.len()}),
            )],
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

/// Up to `per_label` samples of each label: its turns (edges trimmed) cut into pieces of at
/// most `MAX_SAMPLE_SECS`, pieces shorter than `MIN_SAMPLE_SECS` dropped, longest first, so a
/// long monologue gives several samples to vote with.
fn pick_samples(segments: &[Segment], per_label: usize) -> Vec<(String, f64, f64)> {
    let mut labels: Vec<&str> = segments.iter().map(|s| s.speaker.as_str()).collect();
    labels.sort_unstable();
    labels.dedup();
    let mut out = Vec::new();
    for label in labels {
        let mut pieces: Vec<(f64, f64)> = Vec::new();
        for s in segments.iter().filter(|s| s.speaker == label) {
            let (mut start, end) = (s.start_time + EDGE_SECS, s.end_time - EDGE_SECS);
            while end - start >= MIN_SAMPLE_SECS {
                let piece_end = end.min(start + MAX_SAMPLE_SECS);
                pieces.push((start, piece_end));
                start = piece_end;
            }
        }
        // Longest first; equal lengths in time order (a stable sort keeps it).
        pieces.sort_by(|a, b| (b.1 - b.0).total_cmp(&(a.1 - a.0)));
        for (start, end) in pieces.into_iter().take(per_label) {
            out.push((label.to_string(), start, end));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seg(speaker: &str, start: f64, end: f64) -> Segment {
        Segment {
            id: "seg_0001".into(),
            start_time: start,
            end_time: end,
            speaker: speaker.into(),
            text: "x".into(),
            confidence: None,
            part_index: None,
            part_time: None,
        }
    }

    #[test]
    fn long_turns_give_several_samples_and_short_ones_none() {
        let picks = pick_samples(
            &[
                seg("A", 0.0, 14.0),
                seg("B", 14.0, 17.0),
                seg("B", 20.0, 23.6),
                seg("A", 30.0, 34.0),
            ],
            3,
        );
        let a: Vec<(f64, f64)> = picks
            .iter()
            .filter(|p| p.0 == "A")
            .map(|p| (p.1, p.2))
            .collect();
        // 0.2–13.8 → 0.2–6.2, 6.2–12.2 (12.2–13.8 is too short); 30.2–33.8.
        assert_eq!(a.len(), 3);
        assert!(a
            .iter()
            .all(|(s, e)| e - s >= MIN_SAMPLE_SECS && e - s <= MAX_SAMPLE_SECS + 1e-9));
        assert!((a[0].0 - 0.2).abs() < 1e-9 && (a[0].1 - 6.2).abs() < 1e-9);
        // B: 14.2–16.8 is 2.6 s (dropped), 20.2–23.4 is 3.2 s.
        let b: Vec<_> = picks.iter().filter(|p| p.0 == "B").collect();
        assert_eq!(b.len(), 1);
        assert!((b[0].1 - 20.2).abs() < 1e-9);
        assert_eq!(pick_samples(&[seg("A", 0.0, 40.0)], 2).len(), 2);
    }
}
