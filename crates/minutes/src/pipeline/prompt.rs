//! Built-in prompt templates and prompt rendering with lineage (hash of what the model saw).
use serde_json::{json, Map, Value};
use sha2::{Digest, Sha256};
use sqlx::types::Json;

use crate::domain::artifact::ArtifactType;
use crate::store::TemplateRecord;

/// Bump when a built-in template's text changes, so upgrades refresh the seeded rows.
const BUILTIN_VERSION: i64 = 1;

const MINUTES_BODY: &str =
    "Write the meeting minutes of this {meeting_type} meeting in {output_language}.\n\
Meeting description: {meeting_description}\n\
Speakers: {speakers}\n\
Give a title, the participants, a faithful summary, key points, decisions, action items \
(owner, task, due date if one was said) and risks or open questions. Cite the ids of the \
transcript segments that support each decision and action item. Do not invent facts.\n\n\
Transcript (one line per segment: [segment id] speaker: text):\n{transcript}";

const ACTION_ITEMS_BODY: &str = "List every action item agreed in this meeting, in {output_language}, \
with its owner, the task, the due date if one was said, and the ids of the segments where it was agreed.\n\
Speakers: {speakers}\n\nTranscript:\n{transcript}";

const SUMMARY_BODY: &str = "Write concise summary notes of this meeting in {output_language}: a title, \
a short summary and a few sections of bullet points.\nSpeakers: {speakers}\n\nTranscript:\n{transcript}";

pub const SYSTEM_PROMPT: &str = "You are a meticulous meeting secretary. Answer with one JSON object that \
follows the given schema exactly. Use only facts stated in the transcript, attribute statements to the \
speakers shown, and cite segment ids exactly as written in the transcript.";

/// The global templates seeded at start; ids match the artifact type they produce.
pub fn builtin_templates() -> Vec<TemplateRecord> {
    let params = json!({
        "meeting_description": {"type": "string", "required": false, "default": "",
                                "description": "What the meeting was about, in a sentence or two"}
    });
    [
        (
            ArtifactType::MeetingMinutes,
            "Meeting minutes",
            MINUTES_BODY,
        ),
        (ArtifactType::ActionItems, "Action items", ACTION_ITEMS_BODY),
        (ArtifactType::SummaryNotes, "Summary notes", SUMMARY_BODY),
    ]
    .into_iter()
    .map(|(t, title, body)| TemplateRecord {
        id: t.as_str().to_string(),
        title: title.to_string(),
        description: format!("Built-in {} template", t.as_str()),
        prompt_body: body.to_string(),
        artifact_type: t.as_str().to_string(),
        supported_languages: Json(vec!["zh-CN".into(), "en-US".into()]),
        parameter_schema: Json(params.clone()),
        is_system: true,
        scope: "global".into(),
        version: BUILTIN_VERSION,
    })
    .collect()
}

/// Fills `{name}` placeholders from `values`; unknown placeholders are left as written.
pub fn render(body: &str, values: &Map<String, Value>) -> String {
    let mut out = String::with_capacity(body.len() * 2);
    let mut rest = body;
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        let after = &rest[open + 1..];
        match after.find('}') {
            Some(close) if is_name(&after[..close]) => {
                let name = &after[..close];
                match values.get(name) {
                    Some(Value::String(s)) => out.push_str(s),
                    Some(other) => out.push_str(&other.to_string()),
                    None => out.push_str(&rest[open..open + close + 2]),
                }
                rest = &after[close + 1..];
            }
            _ => {
                out.push('{');
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

fn is_name(s: &str) -> bool {
    !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

pub fn prompt_hash(system: &str, user: &str, schema: &Value) -> String {
    let mut h = Sha256::new();
    h.update(system.as_bytes());
    h.update([0]);
    h.update(user.as_bytes());
    h.update([0]);
    h.update(schema.to_string().as_bytes());
    hex::encode(h.finalize())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn render_fills_known_names_and_keeps_the_rest() {
        let mut v = Map::new();
        v.insert("a".into(), json!("X"));
        v.insert("n".into(), json!(3));
        assert_eq!(
            render("{a}-{n}-{b}-{not a name}-{", &v),
            "X-3-{b}-{not a name}-{"
        );
        assert_eq!(render("{{a}}", &v), "{X}");
    }

    #[test]
    fn builtins_cover_every_artifact_type() {
        let t = builtin_templates();
        for a in ArtifactType::ALL {
            assert!(t
                .iter()
                .any(|x| x.id == a.as_str() && x.prompt_body.contains("{transcript}")));
        }
    }
}
