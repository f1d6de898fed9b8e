//! transcribe: ASR (primary → fallback) on the normalized audio; segments mapped to their parts.
use serde_json::{json, Value};

use super::prepare_audio::normalized_key;
use super::{StageCtx, StageError, StageOutput};
use crate::domain::cost::Usage;
use crate::domain::stage::Stage;
use crate::domain::transcript::{segment_id, Segment, Transcript};
use crate::providers::{AsrSegment, ProgressFn, TranscribeRequest};
use crate::store::{NewCost, NewTranscriptRevision};
use minutes_audio::{PartSpan, Timeline};

pub(super) async fn run(ctx: &StageCtx<'_>) -> Result<StageOutput, StageError> {
    let task = &ctx.task;
    let prepared = ctx
        .step_result(Stage::PrepareAudio)
        .await?
        .ok_or_else(|| StageError::internal("transcribe", "prepare_audio has no result"))?;
    let duration = prepared["duration"].as_f64().unwrap_or(0.0);
    let scratch = ctx.scratch()?;
    let wav = scratch.path().join("normalized.wav");
    ctx.app
        .objects
        .download_to(&normalized_key(&task.tenant_id, &task.id), &wav)
        .await
        .map_err(|e| StageError::internal("fetching normalized audio", e))?;
    let (progress, reporter) = progress_reporter(ctx);
    let request = TranscribeRequest {
        progress: Some(progress),
        audio_wav: wav,
        duration_secs: duration,
        language: task.asr_language.clone(),
        hotwords: task.hotwords.0.clone(),
        audio_key: Some(normalized_key(&task.tenant_id, &task.id)),
        hotword_table: super::hotword_sync::task_table(ctx.app, task).await?,
        checkpoint: Some(super::checkpoint::StepCheckpoint::for_step(
            ctx.app.store.clone(),
            ctx.lease.clone(),
            &task.tenant_id,
            &task.id,
            Stage::Transcribe.name(),
        )),
    };
    let mut output = ctx
        .app
        .asr
        .transcribe(&request)
        .await
        .map_err(|e| StageError::provider("asr", &e))?;
    // Whatever the engine still holds, reports stop here; completing the stage sets progress.
    reporter.abort();
    let diarization = diarize_if_unlabelled(ctx, &mut output.segments, &request.audio_wav).await;
    let segments = to_segments(&output.segments, &prepared["parts"]);
    if segments.is_empty() {
        return Err(StageError::permanent(
            "transcription_empty",
            "no speech was recognized in the recording",
        ));
    }
    let language = output
        .language
        .clone()
        .unwrap_or_else(|| task.asr_language.clone());
    let transcript = Transcript::new(segments, duration, language, output.provider.clone());
    Ok(StageOutput {
        result: json!({
            "provider": output.provider,
            "segments": transcript.segments.len(),
            "speakers": transcript.speakers(),
            "fallback_errors": output.fallback_errors,
            "diarization": diarization,
        }),
        transcript: Some(NewTranscriptRevision {
            segments: serde_json::to_value(&transcript.segments)
                .map_err(|e| StageError::internal("segments", e))?,
            full_text: transcript.full_text.clone(),
            duration: transcript.duration,
            language: transcript.language.clone(),
            provider: transcript.provider.clone(),
            author: "system".into(),
            reason: format!("asr:{}", output.provider),
        }),
        costs: vec![NewCost::priced(
            &ctx.app.config.pricing,
            "transcribe",
            &output.provider,
            "",
            Usage::AudioSeconds(duration),
            json!({"language": task.asr_language}),
        )],
        ..Default::default()
    })
}

/// The transcribe stage spans progress 0–40 %; ASR engines that work window by window report
/// through this, and the task's progress moves (at most every 2 s, fenced by the lease) so a
/// two-hour meeting shows movement instead of sitting at 0 % for an hour.
fn progress_reporter(ctx: &StageCtx<'_>) -> (ProgressFn, tokio::task::JoinHandle<()>) {
    const ASR_SHARE: f64 = 35.0;
    let (tx, mut rx) = tokio::sync::watch::channel(0.0f64);
    let store = ctx.app.store.clone();
    let lease = ctx.lease.clone();
    let (tenant_id, task_id) = (ctx.task.tenant_id.clone(), ctx.task.id.clone());
    let handle = tokio::spawn(async move {
        while rx.changed().await.is_ok() {
            let done = *rx.borrow_and_update();
            let progress = (done.clamp(0.0, 1.0) * ASR_SHARE * 10.0).round() / 10.0;
            if let Err(e) = store
                .report_progress(&lease, &tenant_id, &task_id, progress)
                .await
            {
                tracing::debug!(error = %e, "progress report dropped");
            }
            tokio::time::sleep(std::time::Duration::from_secs(2)).await;
        }
    });
    let report = ProgressFn(std::sync::Arc::new(move |done: f64| {
        let _ = tx.send(done);
    }));
    (report, handle)
}

/// Runs the diarizer when the ASR returned no speakers. Speaker separation improves the
/// transcript but is not required for one: a failure is recorded and the meeting keeps a single
/// speaker rather than failing.
async fn diarize_if_unlabelled(
    ctx: &StageCtx<'_>,
    segments: &mut Vec<AsrSegment>,
    wav: &std::path::Path,
) -> Value {
    let Some(diarizer) = ctx.app.diarizer.clone() else {
        return Value::Null;
    };
    if segments.iter().any(|s| s.speaker.is_some()) {
        return json!({"skipped": "the ASR provider labelled speakers"});
    }
    match diarizer.diarize(wav).await {
        Ok(turns) => {
            super::diarize::label_segments(segments, &turns);
            let mut labels: Vec<&str> = turns.iter().map(|t| t.label.as_str()).collect();
            labels.sort_unstable();
            labels.dedup();
            json!({"provider": diarizer.name(), "turns": turns.len(), "speakers": labels.len()})
        }
        Err(e) => {
            tracing::warn!(task_id = %ctx.task.id, error = %e, "diarization failed; one speaker kept");
            json!({"provider": diarizer.name(), "error": e.to_string()})
        }
    }
}

/// Gives segments stable ids, a speaker label, and their source part and time within it.
fn to_segments(raw: &[AsrSegment], parts: &Value) -> Vec<Segment> {
    let timeline = timeline_from(parts);
    raw.iter()
        .filter(|s| !s.text.trim().is_empty())
        .enumerate()
        .map(|(i, s)| {
            let located = timeline.locate(s.start.max(0.0));
            Segment {
                id: segment_id(i),
                start_time: s.start.max(0.0),
                end_time: s.end.max(s.start).max(0.0),
                speaker: s.speaker.clone().unwrap_or_else(|| "Speaker 1".to_string()),
                text: s.text.trim().to_string(),
                confidence: s.confidence,
                part_index: located.map(|(part, _)| part),
                part_time: located.map(|(_, time)| time),
            }
        })
        .collect()
}

/// The joined timeline recorded by prepare_audio.
fn timeline_from(parts: &Value) -> Timeline {
    let parts = parts.as_array().map(Vec::as_slice).unwrap_or_default();
    Timeline {
        parts: parts
            .iter()
            .enumerate()
            .map(|(i, p)| PartSpan {
                part_index: i,
                offset_secs: p["offset_secs"].as_f64().unwrap_or(0.0),
                duration_secs: p["duration_secs"].as_f64().unwrap_or(0.0),
                samples: p["samples"].as_u64().unwrap_or(0),
            })
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segments_are_mapped_to_their_parts() {
        let parts = json!([
            {"offset_secs": 0.0, "duration_secs": 20.0},
            {"offset_secs": 20.0, "duration_secs": 25.0},
        ]);
        let raw = vec![
            AsrSegment {
                start: 1.0,
                end: 5.0,
                text: " hello ".into(),
                speaker: None,
                confidence: Some(0.9),
            },
            AsrSegment {
                start: 6.0,
                end: 7.0,
                text: "  ".into(),
                speaker: None,
                confidence: None,
            },
            AsrSegment {
                start: 22.5,
                end: 30.0,
                text: "world".into(),
                speaker: Some("S2".into()),
                confidence: None,
            },
        ];
        let segs = to_segments(&raw, &parts);
        assert_eq!(segs.len(), 2);
        assert_eq!(segs[0].id, "seg_0001");
        assert_eq!(segs[0].text, "hello");
        assert_eq!(segs[0].part_index, Some(0));
        assert_eq!(segs[1].id, "seg_0002");
        assert_eq!(segs[1].part_index, Some(1));
        assert!((segs[1].part_time.unwrap() - 2.5).abs() < 1e-9);
        assert_eq!(segs[1].speaker, "S2");
    }
}
