//! Transcript segments on the joined timeline, with each segment's source part.
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Segment {
    /// Stable id within a transcript (`seg_0001`…); artifacts cite these.
    pub id: String,
    pub start_time: f64,
    pub end_time: f64,
    pub speaker: String,
    pub text: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub confidence: Option<f64>,
    /// Which uploaded part the segment starts in, and its time within that part.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub part_index: Option<usize>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub part_time: Option<f64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Transcript {
    pub segments: Vec<Segment>,
    pub full_text: String,
    pub duration: f64,
    pub language: String,
    pub provider: String,
}

impl Transcript {
    pub fn new(segments: Vec<Segment>, duration: f64, language: String, provider: String) -> Self {
        let full_text = join_text(&segments);
        Transcript {
            segments,
            full_text,
            duration,
            language,
            provider,
        }
    }

    /// Distinct speaker labels in order of first appearance.
    pub fn speakers(&self) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for s in &self.segments {
            if !out.contains(&s.speaker) {
                out.push(s.speaker.clone());
            }
        }
        out
    }

    /// `[id] speaker: text` lines: the form the LLM sees, so it can cite segment ids.
    pub fn as_prompt_lines(&self) -> String {
        self.segments
            .iter()
            .map(|s| format!("[{}] {}: {}", s.id, s.speaker, s.text))
            .collect::<Vec<_>>()
            .join("\n")
    }
}

pub fn segment_id(index: usize) -> String {
    format!("seg_{:04}", index + 1)
}

/// The full text of segments: their trimmed texts joined by spaces.
pub fn join_text(segments: &[Segment]) -> String {
    segments
        .iter()
        .map(|s| s.text.trim())
        .filter(|t| !t.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}
