//! Human corrections of a transcript: segment edits, free-text corrections, and the diff between
//! two revisions. Pure functions; the store keeps every revision.
use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use super::transcript::Segment;

/// One edited segment: new text and/or a different speaker label.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct SegmentEdit {
    pub id: String,
    pub text: Option<String>,
    pub speaker: Option<String>,
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

    #[test]
    fn full_text_maps_lines_to_segments_when_counts_match() {
        let segs = vec![seg("seg_0001", "A", "a"), seg("seg_0002", "B", "b")];
        let out = apply_full_text(&segs, "first\n\nsecond\n");
        assert_eq!(out[0].text, "first");
        assert_eq!(out[1].text, "second");
        assert_eq!(apply_full_text(&segs, "one blob of text"), segs);
    }
}
