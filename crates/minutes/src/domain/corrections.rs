//! Human corrections of a transcript: segment edits, free-text corrections, and the diff between
//! two revisions. Pure functions; the store keeps every revision.
use std::collections::HashMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::speakers::label_for;
use super::transcript::Segment;

/// One edited segment: new text and/or a different speaker label.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct SegmentEdit {
    pub id: String,
    pub text: Option<String>,
    pub speaker: Option<String>,
}

/// A segment as the original frontend saves it: the whole list, no ids, speakers by the
/// names it shows.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct SegmentInput {
    pub id: Option<String>,
    pub text: Option<String>,
    pub speaker: Option<String>,
    pub start_time: Option<f64>,
    pub end_time: Option<f64>,
    pub confidence: Option<f64>,
}

/// The outcome of saving a whole segment list: the new segments, and labels renamed because
/// every one of their segments now carries the same new name.
#[derive(Debug, Clone, PartialEq)]
pub struct WholeList {
    pub segments: Vec<Segment>,
    pub renamed: Vec<(String, String)>,
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum CorrectionError {
    #[error("segment `{0}` does not exist in the current revision")]
    UnknownSegment(String),
    #[error("segment `{0}` would be empty")]
    EmptyText(String),
    #[error("segment `{0}` is edited twice")]
    Duplicate(String),
    #[error("the edit changes nothing")]
    NoChange,
    #[error("segment {0} needs a start_time and end_time with 0 ≤ start ≤ end")]
    BadTimes(usize),
}

/// Applies edits to `segments`, returning the new list; every edit must name an existing segment.
pub fn apply_edits(
    segments: &[Segment],
    edits: &[SegmentEdit],
) -> Result<Vec<Segment>, CorrectionError> {
    let mut seen = std::collections::HashSet::new();
    for e in edits {
        if !seen.insert(e.id.as_str()) {
            return Err(CorrectionError::Duplicate(e.id.clone()));
        }
    }
    let by_id: HashMap<&str, &SegmentEdit> = edits.iter().map(|e| (e.id.as_str(), e)).collect();
    if let Some(missing) = edits
        .iter()
        .find(|e| !segments.iter().any(|s| s.id == e.id))
    {
        return Err(CorrectionError::UnknownSegment(missing.id.clone()));
    }
    let mut out = segments.to_vec();
    for s in &mut out {
        let Some(edit) = by_id.get(s.id.as_str()) else {
            continue;
        };
        if let Some(text) = &edit.text {
            let text = text.trim();
            if text.is_empty() {
                return Err(CorrectionError::EmptyText(s.id.clone()));
            }
            s.text = text.to_string();
        }
        if let Some(speaker) = &edit.speaker {
            let speaker = speaker.trim();
            if speaker.is_empty() {
                return Err(CorrectionError::EmptyText(s.id.clone()));
            }
            s.speaker = speaker.to_string();
        }
    }
    if out == segments {
        return Err(CorrectionError::NoChange);
    }
    Ok(out)
}

/// Replaces the segment list with `incoming` (the original frontend's save). A list of the
/// same length keeps each position's id and part; a different one is numbered afresh. A
/// speaker value is resolved to a label by [`label_for`]; a new name given to every segment of
/// one label renames that label, a new name on some of them becomes a label of its own.
pub fn apply_whole_list(
    current: &[Segment],
    incoming: &[SegmentInput],
    mapping: &Value,
) -> Result<WholeList, CorrectionError> {
    let same_shape = incoming.len() == current.len();
    let mut out = Vec::with_capacity(incoming.len());
    // (position, label it had, new name) for names no label has.
    let mut unknown: Vec<(usize, Option<String>, String)> = Vec::new();
    for (i, s) in incoming.iter().enumerate() {
        let before = same_shape.then(|| &current[i]);
        let id = before.map_or_else(|| format!("seg_{:04}", i + 1), |b| b.id.clone());
        let text = s.text.as_deref().unwrap_or_default().trim().to_string();
        if text.is_empty() {
            return Err(CorrectionError::EmptyText(id));
        }
        let start = s.start_time.or(before.map(|b| b.start_time));
        let end = s.end_time.or(before.map(|b| b.end_time));
        let (Some(start), Some(end)) = (start, end) else {
            return Err(CorrectionError::BadTimes(i));
        };
        if !(start.is_finite() && end.is_finite() && 0.0 <= start && start <= end) {
            return Err(CorrectionError::BadTimes(i));
        }
        let old_label = before.map(|b| b.speaker.clone());
        let spoken = s
            .speaker
            .as_deref()
            .map(str::trim)
            .filter(|v| !v.is_empty());
        let speaker = match spoken {
            None => old_label.clone().unwrap_or_else(|| "Speaker 1".into()),
            Some(v) => match label_for(mapping, v) {
                Some(label) => label,
                None => {
                    unknown.push((i, old_label.clone(), v.to_string()));
                    v.to_string()
                }
            },
        };
        out.push(Segment {
            id,
            start_time: start,
            end_time: end,
            speaker,
            text,
            confidence: s.confidence.or(before.and_then(|b| b.confidence)),
            part_index: before.and_then(|b| b.part_index),
            part_time: before.and_then(|b| b.part_time),
        });
    }
    let mut renamed: Vec<(String, String)> = Vec::new();
    for (_, label, name) in &unknown {
        let Some(label) = label else { continue };
        if renamed.iter().any(|(l, _)| l == label) {
            continue;
        }
        let all_of_label: Vec<usize> = (0..current.len().min(out.len()))
            .filter(|&j| &current[j].speaker == label)
            .collect();
        let every_one = all_of_label
            .iter()
            .all(|&j| unknown.iter().any(|(k, _, n)| *k == j && n == name));
        if every_one && same_shape {
            renamed.push((label.clone(), name.clone()));
        }
    }
    for (label, name) in &renamed {
        for (j, seg) in out.iter_mut().enumerate() {
            if &current[j].speaker == label && &seg.speaker == name {
                seg.speaker = label.clone();
            }
        }
    }
    Ok(WholeList {
        segments: out,
        renamed,
    })
}

/// A free-text correction (the original API's `corrected_text`): when it has one non-empty line
/// per segment, each line replaces its segment's text; otherwise the segments stay and only the
/// revision's full text changes (the prompt then uses the full text).
pub fn apply_full_text(segments: &[Segment], corrected: &str) -> Vec<Segment> {
    let lines: Vec<&str> = corrected
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    if lines.len() != segments.len() {
        return segments.to_vec();
    }
    segments
        .iter()
        .zip(lines)
        .map(|(s, line)| Segment {
            text: line.to_string(),
            ..s.clone()
        })
        .collect()
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SegmentChange {
    pub id: String,
    pub field: &'static str,
    pub before: String,
    pub after: String,
}

/// Field-level differences between two revisions, matched by segment id.
pub fn diff(before: &[Segment], after: &[Segment]) -> Vec<SegmentChange> {
    let old: HashMap<&str, &Segment> = before.iter().map(|s| (s.id.as_str(), s)).collect();
    let mut out = Vec::new();
    for s in after {
        match old.get(s.id.as_str()) {
            Some(o) => {
                for (field, a, b) in [
                    ("text", &o.text, &s.text),
                    ("speaker", &o.speaker, &s.speaker),
                ] {
                    if a != b {
                        out.push(SegmentChange {
                            id: s.id.clone(),
                            field,
                            before: a.clone(),
                            after: b.clone(),
                        });
                    }
                }
            }
            None => out.push(SegmentChange {
                id: s.id.clone(),
                field: "added",
                before: String::new(),
                after: s.text.clone(),
            }),
        }
    }
    for s in before {
        if !after.iter().any(|a| a.id == s.id) {
            out.push(SegmentChange {
                id: s.id.clone(),
                field: "removed",
                before: s.text.clone(),
                after: String::new(),
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seg(id: &str, speaker: &str, text: &str) -> Segment {
        Segment {
            id: id.into(),
            start_time: 0.0,
            end_time: 1.0,
            speaker: speaker.into(),
            text: text.into(),
            confidence: None,
            part_index: None,
            part_time: None,
        }
    }

    #[test]
    fn edits_change_only_the_named_segments() {
        let segs = vec![seg("seg_0001", "A", "helo"), seg("seg_0002", "B", "world")];
        let edits = vec![SegmentEdit {
            id: "seg_0001".into(),
            text: Some(" hello ".into()),
            speaker: Some("C".into()),
        }];
        let out = apply_edits(&segs, &edits).unwrap();
        assert_eq!(out[0].text, "hello");
        assert_eq!(out[0].speaker, "C");
        assert_eq!(out[1], segs[1]);
        let d = diff(&segs, &out);
        assert_eq!(d.len(), 2);
        assert_eq!(
            (d[0].field, d[0].before.as_str(), d[0].after.as_str()),
            ("text", "helo", "hello")
        );
        assert_eq!(d[1].field, "speaker");
    }

    #[test]
    fn bad_edits_are_refused() {
        let segs = vec![seg("seg_0001", "A", "x")];
        let e = |id: &str, text: &str| SegmentEdit {
            id: id.into(),
            text: Some(text.into()),
            speaker: None,
        };
        assert_eq!(
            apply_edits(&segs, &[e("seg_9", "y")]),
            Err(CorrectionError::UnknownSegment("seg_9".into()))
        );
        assert_eq!(
            apply_edits(&segs, &[e("seg_0001", "  ")]),
            Err(CorrectionError::EmptyText("seg_0001".into()))
        );
        assert_eq!(
            apply_edits(&segs, &[e("seg_0001", "x")]),
            Err(CorrectionError::NoChange)
        );
        assert_eq!(
            apply_edits(&segs, &[e("seg_0001", "y"), e("seg_0001", "z")]),
            Err(CorrectionError::Duplicate("seg_0001".into()))
        );
    }

    fn input(speaker: &str, text: &str) -> SegmentInput {
        SegmentInput {
            id: None,
            text: Some(text.into()),
            speaker: Some(speaker.into()),
            start_time: Some(0.0),
            end_time: Some(1.0),
            confidence: None,
        }
    }

    #[test]
    fn a_whole_list_renames_a_speaker_when_all_their_segments_get_the_name() {
        let segs = vec![
            seg("seg_0001", "Speaker 1", "a"),
            seg("seg_0002", "Speaker 2", "b"),
            seg("seg_0003", "Speaker 1", "c"),
        ];
        let mapping =
            serde_json::json!({"Speaker 1": {"name": "Speaker 1"}, "Speaker 2": {"name": "Lin"}});
        let incoming = vec![input("Ada", "a"), input("Lin", "b!"), input("Ada", "c")];
        let out = apply_whole_list(&segs, &incoming, &mapping).unwrap();
        assert_eq!(
            out.renamed,
            vec![("Speaker 1".to_string(), "Ada".to_string())]
        );
        let speakers: Vec<&str> = out.segments.iter().map(|s| s.speaker.as_str()).collect();
        assert_eq!(speakers, ["Speaker 1", "Speaker 2", "Speaker 1"]);
        assert_eq!(out.segments[1].text, "b!");
        assert_eq!(out.segments[1].id, "seg_0002");
    }

    #[test]
    fn a_new_name_on_some_segments_becomes_its_own_label() {
        let segs = vec![seg("seg_0001", "S1", "a"), seg("seg_0002", "S1", "b")];
        let mapping = serde_json::json!({"S1": {"name": "Ada"}});
        let out =
            apply_whole_list(&segs, &[input("Ada", "a"), input("Bob", "b")], &mapping).unwrap();
        assert!(out.renamed.is_empty());
        assert_eq!(out.segments[0].speaker, "S1");
        assert_eq!(out.segments[1].speaker, "Bob");
        let bad = SegmentInput {
            start_time: Some(2.0),
            end_time: Some(1.0),
            ..input("Ada", "a")
        };
        assert_eq!(
            apply_whole_list(&segs, &[bad], &mapping),
            Err(CorrectionError::BadTimes(0))
        );
        assert!(matches!(
            apply_whole_list(&segs, &[input("Ada", " "), input("Ada", "b")], &mapping),
            Err(CorrectionError::EmptyText(_))
        ));
    }

    #[test]
    fn full_text_maps_lines_to_segments_when_counts_match() {
        let segs = vec![seg("seg_0001", "A", "a"), seg("seg_0002", "B", "b")];
        let out = apply_full_text(&segs, "first\n\nsecond\n");
        assert_eq!(out[0].text, "first");
        assert_eq!(out[1].text, "second");
        assert_eq!(apply_full_text(&segs, "one blob of text"), segs);
    }
}
