//! correct_speakers: turn voiceprint matches into the task's speaker mapping (label → identity).
use serde_json::{json, Map, Value};

use super::{StageCtx, StageError, StageOutput};
use crate::domain::stage::Stage;
use crate::domain::transcript::Segment;
use crate::providers::SpeakerMatch;
use crate::store::NewSpeakerMapping;

pub(super) async fn run(ctx: &StageCtx<'_>) -> Result<StageOutput, StageError> {
    let transcript = ctx
        .app
        .store
        .latest_transcript(&ctx.task.tenant_id, &ctx.task.id)
        .await?
        .ok_or_else(|| StageError::internal("correct", "no transcript"))?;
    let segments: Vec<Segment> = serde_json::from_value(transcript.segments.0)
        .map_err(|e| StageError::internal("segments", e))?;
    let matches: Vec<SpeakerMatch> = ctx
        .step_result(Stage::IdentifySpeakers)
        .await?
        .and_then(|r| serde_json::from_value(r["matches"].clone()).ok())
        .unwrap_or_default();
    let mapping = build_mapping(&segments, &matches);
    let named = mapping
        .values()
        .filter(|v| v["source"] == "voiceprint")
        .count();
    Ok(StageOutput {
        result: json!({ "speakers": mapping.len(), "identified": named }),
        speaker_mapping: Some(NewSpeakerMapping {
            mapping: Value::Object(mapping),
            author: "system".into(),
            reason: "pipeline".into(),
        }),
        ..Default::default()
    })
}

/// Every label gets an entry; the most confident match per label names it, others keep the label.
fn build_mapping(segments: &[Segment], matches: &[SpeakerMatch]) -> Map<String, Value> {
    let mut mapping = Map::new();
    for s in segments {
        if mapping.contains_key(&s.speaker) {
            continue;
        }
        let best = matches
            .iter()
            .filter(|m| m.label == s.speaker)
            .max_by(|a, b| a.confidence.total_cmp(&b.confidence));
        let entry = match best {
            Some(m) => {
                json!({"name": m.name, "speaker_id": m.speaker_id, "confidence": m.confidence, "source": "voiceprint"})
            }
            None => {
                json!({"name": s.speaker, "speaker_id": null, "confidence": null, "source": "label"})
            }
        };
        mapping.insert(s.speaker.clone(), entry);
    }
    mapping
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seg(speaker: &str) -> Segment {
        Segment {
            id: "seg_0001".into(),
            start_time: 0.0,
            end_time: 1.0,
            speaker: speaker.into(),
            text: "x".into(),
            confidence: None,
            part_index: None,
            part_time: None,
        }
    }

    #[test]
    fn best_match_names_a_label_and_others_keep_theirs() {
        let matches = vec![
            SpeakerMatch {
                label: "A".into(),
                name: "Priya".into(),
                speaker_id: Some("f1".into()),
                confidence: 0.7,
            },
            SpeakerMatch {
                label: "A".into(),
                name: "Marcus".into(),
                speaker_id: Some("f2".into()),
                confidence: 0.6,
            },
        ];
        let m = build_mapping(&[seg("A"), seg("B"), seg("A")], &matches);
        assert_eq!(m.len(), 2);
        assert_eq!(m["A"]["name"], "Priya");
        assert_eq!(m["B"]["name"], "B");
        assert_eq!(m["B"]["source"], "label");
    }
}
