//! Speaker labels for ASR segments from diarization turns: each segment takes the speaker it
//! overlaps most (the nearest turn when it overlaps none), and labels are renumbered
//! `Speaker 1…N` in order of first appearance so the transcript reads naturally.
use std::collections::HashMap;

use crate::providers::{AsrSegment, SpeakerTurn};

pub fn label_segments(segments: &mut [AsrSegment], turns: &[SpeakerTurn]) {
    if turns.is_empty() {
        return;
    }
    let mut names: HashMap<String, String> = HashMap::new();
    for seg in segments.iter_mut() {
        let overlap = |t: &SpeakerTurn| (seg.end.min(t.end) - seg.start.max(t.start)).max(0.0);
        let mut by_label: Vec<(&str, f64)> = Vec::new();
        for t in turns {
            let o = overlap(t);
            if o <= 0.0 {
                continue;
            }
            match by_label.iter_mut().find(|(l, _)| *l == t.label) {
                Some(entry) => entry.1 += o,
                None => by_label.push((&t.label, o)),
            }
        }
        let raw = match by_label.into_iter().max_by(|a, b| a.1.total_cmp(&b.1)) {
            Some((label, _)) => label.to_string(),
            None => {
                let mid = (seg.start + seg.end) / 2.0;
                let distance = |t: &SpeakerTurn| {
                    if mid < t.start {
                        t.start - mid
                    } else {
                        (mid - t.end).max(0.0)
                    }
                };
                turns
                    .iter()
                    .min_by(|a, b| distance(a).total_cmp(&distance(b)))
                    .map(|t| t.label.clone())
                    .unwrap_or_default()
            }
        };
        let next = names.len() + 1;
        let name = names
            .entry(raw)
            .or_insert_with(|| format!("Speaker {next}"))
            .clone();
        seg.speaker = Some(name);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seg(start: f64, end: f64) -> AsrSegment {
        AsrSegment {
            start,
            end,
            text: "x".into(),
            speaker: None,
            confidence: None,
        }
    }

    fn turn(start: f64, end: f64, label: &str) -> SpeakerTurn {
        SpeakerTurn {
            start,
            end,
            label: label.into(),
        }
    }

    #[test]
    fn segments_take_the_most_overlapping_speaker_numbered_by_appearance() {
        let turns = [
            turn(0.0, 4.0, "b"),
            turn(4.0, 9.0, "a"),
            turn(9.0, 12.0, "b"),
        ];
        let mut segs = vec![
            seg(0.5, 3.5),
            seg(3.0, 8.0),
            seg(9.5, 11.0),
            seg(20.0, 21.0),
        ];
        label_segments(&mut segs, &turns);
        let labels: Vec<_> = segs.iter().map(|s| s.speaker.clone().unwrap()).collect();
        // seg 2 overlaps b for 1 s and a for 4 s; seg 4 overlaps nothing and takes the nearest turn.
        assert_eq!(labels, ["Speaker 1", "Speaker 2", "Speaker 1", "Speaker 1"]);
    }

    #[test]
    fn no_turns_leaves_segments_untouched() {
        let mut segs = vec![seg(0.0, 1.0)];
        label_segments(&mut segs, &[]);
        assert_eq!(segs[0].speaker, None);
    }
}
