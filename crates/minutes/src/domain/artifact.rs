//! Artifact types, their content schemas (JSON Schema for the LLM, typed structs for validation)
//! and the citation check that drops segment ids the transcript does not have.
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

pub const SCHEMA_VERSION: u32 = 1;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ArtifactType {
    MeetingMinutes,
    ActionItems,
    SummaryNotes,
}

impl ArtifactType {
    pub const ALL: [ArtifactType; 3] = [
        ArtifactType::MeetingMinutes,
        ArtifactType::ActionItems,
        ArtifactType::SummaryNotes,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ArtifactType::MeetingMinutes => "meeting_minutes",
            ArtifactType::ActionItems => "action_items",
            ArtifactType::SummaryNotes => "summary_notes",
        }
    }

    pub fn parse(s: &str) -> Option<ArtifactType> {
        Self::ALL.into_iter().find(|t| t.as_str() == s)
    }

    /// The JSON Schema handed to the model as its structured-output contract.
    pub fn json_schema(self) -> Value {
        let cited = |extra: Value| {
            let mut props = json!({"segment_ids": {"type": "array", "items": {"type": "string"}}});
            if let (Some(p), Some(e)) = (props.as_object_mut(), extra.as_object()) {
                p.extend(e.clone());
            }
            let required: Vec<String> = props
                .as_object()
                .map(|o| o.keys().cloned().collect())
                .unwrap_or_default();
            json!({"type": "object", "additionalProperties": false, "properties": props, "required": required})
        };
        let action_item = cited(json!({
            "owner": {"type": ["string", "null"]},
            "task": {"type": "string"},
            "due": {"type": ["string", "null"]}
        }));
        let strings = json!({"type": "array", "items": {"type": "string"}});
        match self {
            ArtifactType::MeetingMinutes => json!({
                "type": "object",
                "additionalProperties": false,
                "properties": {
                    "title": {"type": "string"},
                    "date": {"type": ["string", "null"]},
                    "participants": strings,
                    "summary": {"type": "string"},
                    "key_points": strings,
                    "decisions": {"type": "array", "items": cited(json!({"text": {"type": "string"}}))},
                    "action_items": {"type": "array", "items": action_item},
                    "risks": strings,
                    "open_questions": strings
                },
                "required": ["title", "date", "participants", "summary", "key_points", "decisions",
                             "action_items", "risks", "open_questions"]
            }),
            ArtifactType::ActionItems => json!({
                "type": "object",
                "additionalProperties": false,
                "properties": {"items": {"type": "array", "items": action_item}},
                "required": ["items"]
            }),
            ArtifactType::SummaryNotes => json!({
                "type": "object",
                "additionalProperties": false,
                "properties": {
                    "title": {"type": "string"},
                    "summary": {"type": "string"},
                    "sections": {"type": "array", "items": {
                        "type": "object",
                        "additionalProperties": false,
                        "properties": {"heading": {"type": "string"}, "bullets": strings},
                        "required": ["heading", "bullets"]
                    }}
                },
                "required": ["title", "summary", "sections"]
            }),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Decision {
    pub text: String,
    #[serde(default)]
    pub segment_ids: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ActionItem {
    #[serde(default)]
    pub owner: Option<String>,
    pub task: String,
    #[serde(default)]
    pub due: Option<String>,
    #[serde(default)]
    pub segment_ids: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MeetingMinutes {
    pub title: String,
    #[serde(default)]
    pub date: Option<String>,
    #[serde(default)]
    pub participants: Vec<String>,
    pub summary: String,
    #[serde(default)]
    pub key_points: Vec<String>,
    #[serde(default)]
    pub decisions: Vec<Decision>,
    #[serde(default)]
    pub action_items: Vec<ActionItem>,
    #[serde(default)]
    pub risks: Vec<String>,
    #[serde(default)]
    pub open_questions: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ActionItems {
    pub items: Vec<ActionItem>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NoteSection {
    pub heading: String,
    #[serde(default)]
    pub bullets: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SummaryNotes {
    pub title: String,
    pub summary: String,
    #[serde(default)]
    pub sections: Vec<NoteSection>,
}

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum ContentError {
    #[error("the model's answer does not match the {artifact_type} schema: {reason}")]
    Schema {
        artifact_type: &'static str,
        reason: String,
    },
}

/// A validated artifact body plus the citations that had to be dropped.
#[derive(Debug, Clone, PartialEq)]
pub struct ValidatedContent {
    pub content: Value,
    pub dropped_citations: Vec<String>,
}

/// Validates `raw` against the type's schema and removes citations of segment ids that the
/// transcript does not contain (never inventing one).
pub fn validate_content(
    artifact_type: ArtifactType,
    raw: &Value,
    known_segment_ids: &[String],
) -> Result<ValidatedContent, ContentError> {
    let schema_err = |reason: String| ContentError::Schema {
        artifact_type: artifact_type.as_str(),
        reason,
    };
    let mut dropped = Vec::new();
    let mut keep = |ids: &mut Vec<String>| {
        ids.retain(|id| {
            let ok = known_segment_ids.contains(id);
            if !ok {
                dropped.push(id.clone());
            }
            ok
        })
    };
    let content = match artifact_type {
        ArtifactType::MeetingMinutes => {
            let mut m: MeetingMinutes =
                serde_json::from_value(raw.clone()).map_err(|e| schema_err(e.to_string()))?;
            if m.title.trim().is_empty() || m.summary.trim().is_empty() {
                return Err(schema_err("title and summary must not be empty".into()));
            }
            m.decisions
                .iter_mut()
                .for_each(|d| keep(&mut d.segment_ids));
            m.action_items
                .iter_mut()
                .for_each(|a| keep(&mut a.segment_ids));
            serde_json::to_value(m)
        }
        ArtifactType::ActionItems => {
            let mut a: ActionItems =
                serde_json::from_value(raw.clone()).map_err(|e| schema_err(e.to_string()))?;
            a.items.iter_mut().for_each(|i| keep(&mut i.segment_ids));
            serde_json::to_value(a)
        }
        ArtifactType::SummaryNotes => {
            let n: SummaryNotes =
                serde_json::from_value(raw.clone()).map_err(|e| schema_err(e.to_string()))?;
            if n.title.trim().is_empty() || n.summary.trim().is_empty() {
                return Err(schema_err("title and summary must not be empty".into()));
            }
            serde_json::to_value(n)
        }
    }
    .map_err(|e| schema_err(e.to_string()))?;
    Ok(ValidatedContent {
        content,
        dropped_citations: dropped,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids() -> Vec<String> {
        vec!["seg_0001".into(), "seg_0002".into()]
    }

    #[test]
    fn valid_minutes_pass_and_bad_citations_are_dropped() {
        let raw = json!({
            "title": "Sprint planning", "date": null, "participants": ["Priya"],
            "summary": "We planned.", "key_points": ["k8s"],
            "decisions": [{"text": "Move staging", "segment_ids": ["seg_0001", "seg_9999"]}],
            "action_items": [{"owner": "Marcus", "task": "Upgrade PG", "due": null, "segment_ids": ["seg_0002"]}],
            "risks": [], "open_questions": []
        });
        let v = validate_content(ArtifactType::MeetingMinutes, &raw, &ids()).unwrap();
        assert_eq!(v.dropped_citations, vec!["seg_9999".to_string()]);
        assert_eq!(
            v.content["decisions"][0]["segment_ids"],
            json!(["seg_0001"])
        );
        let md =
            super::super::render::minutes_markdown(&serde_json::from_value(v.content).unwrap());
        assert!(md.contains("# Sprint planning") && md.contains("Upgrade PG — Marcus"));
    }

    #[test]
    fn wrong_shapes_are_rejected() {
        let err = validate_content(ArtifactType::MeetingMinutes, &json!({"title": 3}), &ids());
        assert!(matches!(err, Err(ContentError::Schema { .. })));
        let empty = json!({"title": " ", "summary": "x"});
        assert!(validate_content(ArtifactType::SummaryNotes, &empty, &ids()).is_err());
        assert!(
            validate_content(ArtifactType::ActionItems, &json!({"items": [{}]}), &ids()).is_err()
        );
    }

    #[test]
    fn schemas_require_every_property() {
        for t in ArtifactType::ALL {
            let s = t.json_schema();
            let props = s["properties"].as_object().unwrap().len();
            assert_eq!(s["required"].as_array().unwrap().len(), props, "{t:?}");
        }
    }
}
