//! Built-in prompt templates and prompt rendering with lineage (hash of what the model saw).
use serde::Deserialize;
use serde_json::{json, Map, Value};
use sha2::{Digest, Sha256};
use sqlx::types::Json;

use crate::domain::artifact::ArtifactType;
use crate::domain::templates::{
    with_transcript_placeholder, BLANK_TEMPLATE_BODY, BLANK_TEMPLATE_ID,
};
use crate::store::{Owner, Store, StoreResult, TemplateRecord};

pub const SYSTEM_PROMPT: &str = "You are a meticulous meeting secretary. Answer with one JSON object that \
follows the given schema exactly. Use only facts stated in the transcript, attribute statements to the \
speakers shown, and cite segment ids exactly as written in the transcript.";

const BUILTIN: &str = include_str!("builtin_templates.yaml");

#[derive(Deserialize)]
struct Builtin {
    id: String,
    version: i64,
    artifact_type: String,
    title: String,
    description: String,
    languages: Vec<String>,
    body: String,
}

/// The global templates seeded at start (from `builtin_templates.yaml`).
pub fn builtin_templates() -> Result<Vec<TemplateRecord>, serde_yaml::Error> {
    let params = json!({
        "meeting_description": {"type": "string", "required": false, "default": "",
                                "description": "What the meeting was about, in a sentence or two"}
    });
    let entries: Vec<Builtin> = serde_yaml::from_str(BUILTIN)?;
    Ok(entries
        .into_iter()
        .map(|b| TemplateRecord {
            id: b.id,
            title: b.title,
            description: b.description,
            prompt_body: b.body.trim_end().to_string(),
            artifact_type: b.artifact_type,
            supported_languages: Json(b.languages),
            parameter_schema: Json(params.clone()),
            is_system: true,
            scope: "global".into(),
            version: b.version,
            owner_user_id: None,
            created_at: None,
            updated_at: None,
        })
        .collect())
}

/// The template a prompt instance names: a stored one the owner may use, or the original
/// frontend's blank template (`__blank__`, no row: the user's prompt text is the body) for
/// `artifact_type`.
pub async fn find_template(
    store: &dyn Store,
    owner: &Owner,
    template_id: &str,
    artifact_type: ArtifactType,
) -> StoreResult<Option<TemplateRecord>> {
    if template_id != BLANK_TEMPLATE_ID {
        return store.get_template(owner, template_id).await;
    }
    Ok(Some(TemplateRecord {
        id: BLANK_TEMPLATE_ID.into(),
        title: "Blank template".into(),
        description: String::new(),
        prompt_body: BLANK_TEMPLATE_BODY.into(),
        artifact_type: artifact_type.as_str().into(),
        supported_languages: Json(vec![]),
        parameter_schema: Json(json!({})),
        is_system: false,
        scope: "private".into(),
        version: 1,
        owner_user_id: None,
        created_at: None,
        updated_at: None,
    }))
}

/// What the model is asked: the user's edited prompt text when there is one (the original
/// frontend sends the text it showed, edited or not), else the template's body; then the
/// user's extra instructions; the transcript appended when the body does not place it.
pub fn effective_body(template: &TemplateRecord, prompt_instance: &Value) -> String {
    let mut body = prompt_instance["prompt_text"]
        .as_str()
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .unwrap_or(&template.prompt_body)
        .to_string();
    if let Some(extra) = prompt_instance["custom_instructions"]
        .as_str()
        .map(str::trim)
        .filter(|t| !t.is_empty())
    {
        body.push_str("\n\n");
        body.push_str(extra);
    }
    with_transcript_placeholder(&body)
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
    use crate::domain::artifact::ArtifactType;

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
    fn edited_prompt_text_replaces_the_body_and_keeps_the_transcript() {
        let t = builtin_templates().unwrap().remove(0);
        let body = effective_body(
            &t,
            &json!({"prompt_text": "  只列出决议  ", "custom_instructions": "用表格"}),
        );
        assert!(body.starts_with("只列出决议\n\n用表格"), "{body}");
        assert!(body.ends_with("{transcript}"));
        assert_eq!(
            effective_body(&t, &json!({"prompt_text": " "})),
            t.prompt_body
        );
    }

    #[test]
    fn the_original_template_ids_are_seeded() {
        let t = builtin_templates().unwrap();
        for (id, kind) in [
            ("tpl_standard_minutes", "meeting_minutes"),
            ("tpl_action_items", "action_items"),
            ("tpl_summary_notes", "summary_notes"),
            ("tpl_technical_minutes", "meeting_minutes"),
        ] {
            assert!(
                t.iter().any(|x| x.id == id && x.artifact_type == kind),
                "{id}"
            );
        }
    }

    #[test]
    fn builtins_parse_cover_every_type_and_pass_the_template_rules() {
        let t = builtin_templates().unwrap();
        for a in ArtifactType::ALL {
            assert!(t
                .iter()
                .any(|x| x.id == a.as_str() && x.artifact_type == a.as_str()));
        }
        for x in &t {
            assert!(ArtifactType::parse(&x.artifact_type).is_some(), "{}", x.id);
            let errors =
                crate::domain::templates::check_template(&x.prompt_body, &x.parameter_schema.0);
            assert!(errors.is_empty(), "{}: {errors:?}", x.id);
        }
        let ids: std::collections::HashSet<_> = t.iter().map(|x| &x.id).collect();
        assert_eq!(ids.len(), t.len(), "ids are unique");
    }
}
