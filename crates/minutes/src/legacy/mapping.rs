//! Pure translations of the original system's values into ours: timestamps, task states,
//! JSON-in-text columns, artifact content shapes, transcript segments.
use chrono::{DateTime, Duration, NaiveDateTime, Utc};
use serde_json::{json, Map, Value};

use crate::domain::transcript::{segment_id, Segment};

/// When the original switched its defaults from UTC to UTC+08:00 wall-clock time (commit
/// `2aee771e`, deployed 2026-01-21 15:47:10 UTC). Only databases with the v3 columns were
/// written by that code, so only theirs hold local times.
const LOCAL_SWITCH: &str = "2026-01-21 15:47:10";

/// How to read the naive timestamps of one database.
#[derive(Debug, Clone, Copy)]
pub struct Clock {
    /// Rows written after the switch hold UTC+08:00 wall-clock time.
    pub local_after_switch: bool,
}

impl Clock {
    /// A timestamp as the original stored it, in UTC. ORM values (six fraction digits) written
    /// after the switch are local time; `CURRENT_TIMESTAMP` values (no fraction) are always UTC.
    /// A local value is at least eight hours past the switch, a UTC one before it.
    pub fn parse(&self, text: &str) -> Option<DateTime<Utc>> {
        let text = text.trim();
        let naive = ["%Y-%m-%d %H:%M:%S%.f", "%Y-%m-%dT%H:%M:%S%.f"]
            .iter()
            .find_map(|f| NaiveDateTime::parse_from_str(text, f).ok())?;
        let orm = text.len() > 20 && text.as_bytes()[19] == b'.';
        let switch = NaiveDateTime::parse_from_str(LOCAL_SWITCH, "%Y-%m-%d %H:%M:%S").ok()?;
        let naive = if self.local_after_switch && orm && naive >= switch {
            naive - Duration::hours(8)
        } else {
            naive
        };
        Some(naive.and_utc())
    }
}

/// Our state for an original task state, and why it changed when it did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MappedState {
    pub state: &'static str,
    /// Set when the task cannot continue here: the error code it fails with.
    pub error_code: Option<&'static str>,
}

/// The original's states, with ours. Tasks the original left waiting or mid-pipeline have no
/// job here and their audio was not brought over, so they fail with a code that says so
/// instead of pretending to be in progress forever.
pub const STATE_MAP: [(&str, &str); 13] = [
    ("pending", "failed"),
    ("queued", "failed"),
    ("running", "failed"),
    ("transcribing", "failed"),
    ("identifying", "failed"),
    ("correcting", "failed"),
    ("summarizing", "failed"),
    ("success", "success"),
    ("partial_success", "partial_success"),
    ("failed", "failed"),
    ("cancelled", "cancelled"),
    ("confirmed", "archived"),
    ("archived", "archived"),
];

pub fn map_state(original: &str) -> Option<MappedState> {
    let original = original.trim().to_ascii_lowercase();
    let state = STATE_MAP.iter().find(|(o, _)| *o == original)?.1;
    let error_code = match original.as_str() {
        "pending" => Some("legacy_never_started"),
        "queued" | "running" | "transcribing" | "identifying" | "correcting" | "summarizing" => {
            Some("legacy_interrupted")
        }
        _ => None,
    };
    Some(MappedState { state, error_code })
}

/// A JSON-in-text value decoded the way the original's readers did: `json.loads` repeated
/// while the result is a string that parses (content was sometimes encoded twice).
pub fn decode_json(text: &str) -> (Value, usize) {
    let mut value = Value::String(text.to_string());
    let mut depth = 0;
    while let Value::String(s) = &value {
        match serde_json::from_str::<Value>(s) {
            Ok(next) => {
                value = next;
                depth += 1;
            }
            Err(_) => break,
        }
    }
    (value, depth)
}

/// A JSON column's value: text is decoded, anything else taken as it is.
pub fn json_cell(v: &Value) -> Value {
    match v {
        Value::String(s) => decode_json(s).0,
        other => other.clone(),
    }
}

/// What an original artifact row was.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ArtifactKind {
    Content,
    /// A failed generation the original saved as a version.
    Failed,
    /// A generation that never finished (`processing`).
    Interrupted,
}

pub fn classify_artifact(state: Option<&str>, decoded: &Value) -> ArtifactKind {
    let has = |k: &str| decoded.get(k).is_some();
    if state == Some("failed") || has("error") || (has("error_code") && has("error_message")) {
        ArtifactKind::Failed
    } else if state == Some("processing") || decoded.get("status") == Some(&json!("generating")) {
        ArtifactKind::Interrupted
    } else {
        ArtifactKind::Content
    }
}

/// Our content object for a decoded original content value. Markdown (the later pipeline's
/// `{"content": md, "metadata": {title, summary}}`, `{"meeting_minutes": md}`, a bare string)
/// becomes our hand-edit shape `{"markdown": …}`, which every view renders; structured objects
/// are kept as written; a list holding one object is that object.
pub fn artifact_content(decoded: Value) -> Value {
    match decoded {
        Value::String(md) => json!({ "markdown": md }),
        Value::Array(mut items) if items.len() == 1 && items[0].is_object() => {
            artifact_content(items.remove(0))
        }
        Value::Array(items) => json!({ "items": items }),
        Value::Object(o) => {
            let markdown = ["content", "meeting_minutes", "markdown"]
                .iter()
                .find_map(|k| o.get(*k).and_then(Value::as_str).map(str::to_string));
            match markdown {
                Some(md) if o.len() <= 2 => {
                    let mut out = Map::new();
                    out.insert("markdown".into(), json!(md));
                    let meta = o.get("metadata").cloned().unwrap_or(Value::Null);
                    for key in ["title", "summary"] {
                        if let Some(v) = meta.get(key).filter(|v| !v.is_null()) {
                            out.insert(key.into(), v.clone());
                        }
                    }
                    Value::Object(out)
                }
                _ => Value::Object(o),
            }
        }
        other => json!({ "value": other }),
    }
}

/// Our segments for the original's segment list, every one kept in order (empty ones too).
pub fn segments(list: &Value) -> Vec<Segment> {
    list.as_array()
        .map(|items| {
            items
                .iter()
                .enumerate()
                .map(|(i, s)| Segment {
                    id: segment_id(i),
                    start_time: s["start_time"].as_f64().unwrap_or(0.0),
                    end_time: s["end_time"].as_f64().unwrap_or(0.0),
                    speaker: match &s["speaker"] {
                        Value::String(v) => v.clone(),
                        Value::Null => String::new(),
                        other => other.to_string(),
                    },
                    text: s["text"].as_str().unwrap_or_default().to_string(),
                    confidence: s["confidence"].as_f64(),
                    part_index: None,
                    part_time: None,
                })
                .collect()
        })
        .unwrap_or_default()
}

/// The file name a stored audio path or URL ends in (the original kept names only in v2+).
pub fn file_name(path: &str) -> String {
    let trimmed = path.split(['?', '#']).next().unwrap_or(path);
    trimmed
        .rsplit('/')
        .next()
        .filter(|n| !n.is_empty())
        .unwrap_or(path)
        .to_string()
}

pub fn is_url(path: &str) -> bool {
    path.starts_with("http://") || path.starts_with("https://")
}

/// At most `max` characters (our column checks count characters).
pub fn truncate_chars(s: &str, max: usize) -> String {
    s.chars().take(max).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn v3_local_times_are_shifted_and_raw_sql_times_are_not() {
        let v3 = Clock {
            local_after_switch: true,
        };
        let t = |s| v3.parse(s).unwrap().to_rfc3339();
        assert_eq!(
            t("2026-01-27 03:43:52.514185"),
            "2026-01-26T19:43:52.514185+00:00"
        );
        assert_eq!(
            t("2026-01-21 04:09:37.761166"),
            "2026-01-21T04:09:37.761166+00:00"
        );
        assert_eq!(t("2026-01-27 03:43:52"), "2026-01-27T03:43:52+00:00");
        let v2 = Clock {
            local_after_switch: false,
        };
        assert_eq!(
            v2.parse("2026-01-27 03:43:52.514185").unwrap().to_rfc3339(),
            "2026-01-27T03:43:52.514185+00:00"
        );
        assert!(v2.parse("yesterday").is_none());
    }

    #[test]
    fn states_map_and_stuck_ones_fail_with_a_reason() {
        assert_eq!(map_state("confirmed").unwrap().state, "archived");
        assert_eq!(map_state("success").unwrap().error_code, None);
        let stuck = map_state("transcribing").unwrap();
        assert_eq!(
            (stuck.state, stuck.error_code),
            ("failed", Some("legacy_interrupted"))
        );
        assert_eq!(
            map_state("pending").unwrap().error_code,
            Some("legacy_never_started")
        );
        assert!(map_state("exploded").is_none());
    }

    #[test]
    fn double_encoded_content_is_decoded_and_failures_are_recognised() {
        let inner = json!({"会议概要": "x"}).to_string();
        let (v, depth) = decode_json(&serde_json::to_string(&inner).unwrap());
        assert_eq!((v["会议概要"].as_str(), depth), (Some("x"), 2));
        let failed = json!({"error_code": "E", "error_message": "m", "hint": "h"});
        assert_eq!(
            classify_artifact(Some("success"), &failed),
            ArtifactKind::Failed
        );
        assert_eq!(
            classify_artifact(None, &json!({"error": "x", "placeholder": true})),
            ArtifactKind::Failed
        );
        assert_eq!(
            classify_artifact(None, &json!({"status": "generating"})),
            ArtifactKind::Interrupted
        );
        assert_eq!(
            classify_artifact(Some("processing"), &json!({})),
            ArtifactKind::Interrupted
        );
        assert_eq!(
            classify_artifact(None, &json!({"title": "t"})),
            ArtifactKind::Content
        );
    }

    #[test]
    fn markdown_shapes_become_markdown_content() {
        let md = artifact_content(
            json!({"content": "# T", "metadata": {"title": "T", "summary": null}}),
        );
        assert_eq!(md, json!({"markdown": "# T", "title": "T"}));
        assert_eq!(
            artifact_content(json!([{"meeting_minutes": "# M"}])),
            json!({"markdown": "# M"})
        );
        let structured = json!({"title": "t", "participants": ["a"], "summary": "s"});
        assert_eq!(artifact_content(structured.clone()), structured);
    }

    #[test]
    fn segments_keep_order_and_empty_text() {
        let s = segments(
            &json!([{"text": "", "start_time": 1.0, "end_time": 1.0, "speaker": "Speaker 1", "confidence": null},
                                 {"speaker": "S2", "text": "hi", "start_time": 2, "end_time": 3.5, "confidence": 0.5}]),
        );
        assert_eq!(s.len(), 2);
        assert_eq!((s[0].id.as_str(), s[0].text.as_str()), ("seg_0001", ""));
        assert_eq!((s[1].start_time, s[1].confidence), (2.0, Some(0.5)));
        assert_eq!(
            file_name("https://x.example/a/b%20c.m4a?sig=1"),
            "b%20c.m4a"
        );
    }
}
