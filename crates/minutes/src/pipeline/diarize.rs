//! Speaker labels for ASR segments from diarization turns. A segment that clearly holds two
//! speakers is first cut where the speaker changes (at the punctuation nearest that moment);
//! then each segment takes the speaker it overlaps most (the nearest turn when it overlaps
//! none), and labels are renumbered `Speaker 1…N` in order of first appearance so the
//! transcript reads naturally.
use std::collections::HashMap;

use crate::providers::{AsrSegment, SpeakerTurn};

/// Each side of a cut must hold at least this much of the other speaker's speech, seconds:
/// shorter overlaps are turn-boundary jitter, not a second speaker.
const MIN_SIDE_S: f64 = 1.0;
/// A cut moves to punctuation at most this share of the text away from the time-proportional
/// position; with no punctuation that close the segment stays whole.
const MAX_CUT_SHIFT: f64 = 0.25;

pub fn label_segments(segments: &mut Vec<AsrSegment>, turns: &[SpeakerTurn]) {
    if turns.is_empty() {
        return;
    }
    *segments = std::mem::take(segments)
        .into_iter()
        .flat_map(|seg| split_at_speaker_changes(seg, turns))
        .collect();
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

/// The segment cut at every speaker change inside it that leaves at least `MIN_SIDE_S` on both
/// sides and has punctuation near the proportional text position.
fn split_at_speaker_changes(seg: AsrSegment, turns: &[SpeakerTurn]) -> Vec<AsrSegment> {
    let changes = speaker_changes(&seg, turns);
    let mut out = Vec::new();
    let mut rest = seg;
    for at in changes {
        if at - rest.start < MIN_SIDE_S || rest.end - at < MIN_SIDE_S {
            continue;
        }
        let chars: Vec<char> = rest.text.chars().collect();
        let target = ((at - rest.start) / (rest.end - rest.start) * chars.len() as f64).round();
        let Some(cut) = punctuation_cut(&chars, target as usize) else {
            continue;
        };
        let head: String = chars[..cut].iter().collect::<String>().trim().to_string();
        let tail: String = chars[cut..].iter().collect::<String>().trim().to_string();
        if head.is_empty() || tail.is_empty() {
            continue;
        }
        out.push(AsrSegment {
            end: at,
            text: head,
            ..rest.clone()
        });
        rest = AsrSegment {
            start: at,
            text: tail,
            ..rest
        };
    }
    out.push(rest);
    out
}

/// Times inside the segment where the turn in effect changes to another label.
fn speaker_changes(seg: &AsrSegment, turns: &[SpeakerTurn]) -> Vec<f64> {
    let mut inside: Vec<&SpeakerTurn> = turns
        .iter()
        .filter(|t| t.end > seg.start && t.start < seg.end)
        .collect();
    inside.sort_by(|a, b| a.start.total_cmp(&b.start));
    inside
        .windows(2)
        .filter(|p| p[0].label != p[1].label)
        // In a silence between two turns, the change is placed at its middle.
        .map(|p| (p[0].end.min(p[1].start) + p[1].start) / 2.0)
        .filter(|&at| at > seg.start && at < seg.end)
        .collect()
}

/// The char index just after the punctuation nearest `target`, if one is close enough: a
/// sentence end when there is one in reach, else a clause break.
fn punctuation_cut(chars: &[char], target: usize) -> Option<usize> {
    let max_shift = (chars.len() as f64 * MAX_CUT_SHIFT).ceil() as usize;
    let nearest = |wanted: fn(char) -> bool| {
        (0..chars.len().saturating_sub(1))
            // ASCII marks only count before a space: "3.5" and "e.g." are not breaks.
            .filter(|&i| wanted(chars[i]) && (!chars[i].is_ascii() || chars[i + 1].is_whitespace()))
            .map(|i| i + 1)
            .filter(|&cut| cut.abs_diff(target) <= max_shift)
            .min_by_key(|&cut| cut.abs_diff(target))
    };
    nearest(is_sentence_end).or_else(|| nearest(is_clause_break))
}

fn is_sentence_end(c: char) -> bool {
    matches!(c, '.' | '!' | '?' | '。' | '！' | '？')
}

fn is_clause_break(c: char) -> bool {
    matches!(c, ';' | ',' | '；' | '，' | '、')
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

    fn text_seg(start: f64, end: f64, text: &str) -> AsrSegment {
        AsrSegment {
            text: text.into(),
            ..seg(start, end)
        }
    }

    #[test]
    fn a_segment_holding_two_speakers_is_cut_at_the_punctuation_nearest_the_change() {
        let turns = [turn(0.0, 4.1, "a"), turn(4.3, 10.0, "b")];
        let mut segs = vec![text_seg(
            0.0,
            10.0,
            "We ship on Friday, agreed. Yes, and I will write the release notes today.",
        )];
        label_segments(&mut segs, &turns);
        assert_eq!(segs.len(), 2, "{segs:?}");
        assert_eq!(segs[0].text, "We ship on Friday, agreed.");
        assert_eq!(
            segs[1].text,
            "Yes, and I will write the release notes today."
        );
        assert!((segs[0].end - 4.2).abs() < 1e-9 && (segs[1].start - 4.2).abs() < 1e-9);
        assert_eq!(segs[0].speaker.as_deref(), Some("Speaker 1"));
        assert_eq!(segs[1].speaker.as_deref(), Some("Speaker 2"));
    }

    #[test]
    fn chinese_segments_cut_at_chinese_punctuation() {
        let turns = [turn(0.0, 3.0, "a"), turn(3.0, 6.0, "b")];
        let mut segs = vec![text_seg(0.0, 6.0, "我们周五上线。好的，我来写文档。")];
        label_segments(&mut segs, &turns);
        let texts: Vec<&str> = segs.iter().map(|s| s.text.as_str()).collect();
        assert_eq!(texts, ["我们周五上线。", "好的，我来写文档。"]);
    }

    #[test]
    fn short_overlaps_and_unpunctuated_text_keep_the_segment_whole() {
        // 0.6 s of the next speaker: jitter, not a second speaker.
        let turns = [turn(0.0, 5.4, "a"), turn(5.4, 9.0, "b")];
        let mut segs = vec![text_seg(0.0, 6.0, "one sentence, then more words here")];
        label_segments(&mut segs, &turns);
        assert_eq!(segs.len(), 1);
        // A real change but no punctuation anywhere near it.
        let turns = [turn(0.0, 3.0, "a"), turn(3.0, 6.0, "b")];
        let mut segs = vec![text_seg(
            0.0,
            6.0,
            "words without any punctuation at all here",
        )];
        label_segments(&mut segs, &turns);
        assert_eq!(segs.len(), 1);
    }

    #[test]
    fn no_turns_leaves_segments_untouched() {
        let mut segs = vec![seg(0.0, 1.0)];
        label_segments(&mut segs, &[]);
        assert_eq!(segs[0].speaker, None);
    }
}
