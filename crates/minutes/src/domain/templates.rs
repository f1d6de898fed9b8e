//! Prompt-template rules: which placeholders a body may use, the parameter schema's shape, and
//! checking a prompt instance's parameters against it (defaults filled in).
use serde_json::{json, Map, Value};

/// Placeholders the pipeline fills itself.
pub const BUILTIN_PLACEHOLDERS: [&str; 4] =
    ["transcript", "speakers", "output_language", "meeting_type"];

/// The original system's universal parameter: every one of its templates declared it and its
/// clients send it with any template, so every template accepts it (a string, default empty).
pub const MEETING_DESCRIPTION: &str = "meeting_description";

/// The original frontend's "blank template": no stored row, the user's prompt text is the body.
pub const BLANK_TEMPLATE_ID: &str = "__blank__";

/// The blank template's body when the user gave no prompt text (the original's default).
pub const BLANK_TEMPLATE_BODY: &str = "请根据以下会议转写内容生成会议纪要：\n\n{transcript}";

/// A body without `{transcript}` gets the transcript appended (the original did the same), so
/// a template written as plain instructions still sees the meeting.
pub fn with_transcript_placeholder(body: &str) -> String {
    if placeholders(body).iter().any(|p| p == "transcript") {
        body.to_string()
    } else {
        format!(
            "{}\n\nTranscript (one line per segment: [segment id] speaker: text):\n{{transcript}}",
            body.trim_end()
        )
    }
}
const TYPES: [&str; 4] = ["string", "integer", "number", "boolean"];

/// A field error in FastAPI's shape: `{loc, msg, type}`.
pub fn field_error(loc: &[&str], msg: impl Into<String>) -> Value {
    json!({"loc": loc, "msg": msg.into(), "type": "value_error"})
}

/// `{name}` placeholders used in a template body.
pub fn placeholders(body: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = body;
    while let Some(open) = rest.find('{') {
        let after = &rest[open + 1..];
        match after.find('}') {
            Some(close) => {
                let name = &after[..close];
                if !name.is_empty()
                    && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
                    && !out.iter().any(|n| n == name)
                {
                    out.push(name.to_string());
                }
                rest = &after[close + 1..];
            }
            None => break,
        }
    }
    out
}

fn type_matches(kind: &str, v: &Value) -> bool {
    match kind {
        "string" => v.is_string(),
        "integer" => v.is_i64() || v.is_u64(),
        "number" => v.is_number(),
        "boolean" => v.is_boolean(),
        _ => false,
    }
}

/// Checks a new or edited template: the body uses only known placeholders (`{transcript}` is
/// optional: it is appended when missing); every parameter has a valid type and a default of
/// that type.
pub fn check_template(body: &str, schema: &Value) -> Vec<Value> {
    let mut errors = Vec::new();
    let Some(params) = schema.as_object() else {
        return vec![field_error(
            &["body", "parameter_schema"],
            "must be an object of name → {type, required, default, description}",
        )];
    };
    for (name, spec) in params {
        let kind = spec["type"].as_str().unwrap_or("");
        if !TYPES.contains(&kind) {
            errors.push(field_error(
                &["body", "parameter_schema", name, "type"],
                format!("one of {}", TYPES.join(", ")),
            ));
        } else if let Some(default) = spec.get("default").filter(|d| !d.is_null()) {
            if !type_matches(kind, default) {
                errors.push(field_error(
                    &["body", "parameter_schema", name, "default"],
                    format!("must be of type {kind}"),
                ));
            }
        }
        if BUILTIN_PLACEHOLDERS.contains(&name.as_str()) {
            errors.push(field_error(
                &["body", "parameter_schema", name],
                "is filled by the pipeline; choose another name",
            ));
        }
    }
    for p in placeholders(body) {
        if !BUILTIN_PLACEHOLDERS.contains(&p.as_str())
            && p != MEETING_DESCRIPTION
            && !params.contains_key(&p)
        {
            errors.push(field_error(
                &["body", "prompt_body"],
                format!("placeholder {{{p}}} is neither built in nor a declared parameter"),
            ));
        }
    }
    errors
}

/// Validates `given` against the schema and fills defaults; unknown names and wrong types are errors.
pub fn resolve_parameters(
    schema: &Value,
    given: &Map<String, Value>,
) -> Result<Map<String, Value>, Vec<Value>> {
    let params = schema.as_object().cloned().unwrap_or_default();
    let mut errors = Vec::new();
    let mut out = Map::new();
    for (name, value) in given {
        match params.get(name) {
            None if name == MEETING_DESCRIPTION && value.is_string() => {
                out.insert(name.clone(), value.clone());
            }
            None => errors.push(field_error(
                &["body", "prompt_instance", "parameters", name],
                "is not a parameter of this template",
            )),
            Some(spec) if !type_matches(spec["type"].as_str().unwrap_or("string"), value) => errors
                .push(field_error(
                    &["body", "prompt_instance", "parameters", name],
                    format!(
                        "must be of type {}",
                        spec["type"].as_str().unwrap_or("string")
                    ),
                )),
            Some(_) => {
                out.insert(name.clone(), value.clone());
            }
        }
    }
    for (name, spec) in &params {
        if out.contains_key(name) || given.contains_key(name) {
            continue;
        }
        match spec.get("default").filter(|d| !d.is_null()) {
            Some(default) => {
                out.insert(name.clone(), default.clone());
            }
            None if spec["required"].as_bool().unwrap_or(false) => errors.push(field_error(
                &["body", "prompt_instance", "parameters", name],
                "is required",
            )),
            None => {
                out.insert(name.clone(), json!(""));
            }
        }
    }
    if errors.is_empty() {
        Ok(out)
    } else {
        Err(errors)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn schema() -> Value {
        json!({
            "topic": {"type": "string", "required": true, "description": "what it was about"},
            "max_items": {"type": "integer", "required": false, "default": 5}
        })
    }

    #[test]
    fn templates_may_only_use_declared_placeholders() {
        assert!(check_template("{topic} {max_items}: {transcript}", &schema()).is_empty());
        assert!(check_template("Summarise {meeting_description}", &schema()).is_empty());
        let errors = check_template("{topic} {unknown}", &schema());
        let text = serde_json::to_string(&errors).unwrap();
        assert!(
            text.contains("{unknown}") && !text.contains("{transcript}"),
            "{text}"
        );
        let bad = json!({"x": {"type": "date"}, "y": {"type": "integer", "default": "five"}, "transcript": {"type": "string"}});
        assert_eq!(check_template("{transcript}", &bad).len(), 3);
    }

    #[test]
    fn a_body_without_the_transcript_gets_it_appended() {
        let plain = with_transcript_placeholder("请总结要点");
        assert!(plain.starts_with("请总结要点") && plain.ends_with("{transcript}"));
        let kept = "Minutes:\n{transcript}\nThanks";
        assert_eq!(with_transcript_placeholder(kept), kept);
    }

    #[test]
    fn every_template_accepts_the_meeting_description() {
        let given = json!({"topic": "x", "meeting_description": "周会"});
        let ok = resolve_parameters(&schema(), given.as_object().unwrap()).unwrap();
        assert_eq!(ok["meeting_description"], "周会");
        let wrong = json!({"topic": "x", "meeting_description": 3});
        assert!(resolve_parameters(&schema(), wrong.as_object().unwrap()).is_err());
    }

    #[test]
    fn parameters_are_checked_and_defaults_filled() {
        let ok =
            resolve_parameters(&schema(), json!({"topic": "budget"}).as_object().unwrap()).unwrap();
        assert_eq!(ok["max_items"], 5);
        let errors = resolve_parameters(
            &schema(),
            json!({"max_items": "9", "other": 1}).as_object().unwrap(),
        )
        .unwrap_err();
        let text = serde_json::to_string(&errors).unwrap();
        assert!(
            text.contains("must be of type integer")
                && text.contains("not a parameter")
                && text.contains("is required"),
            "{text}"
        );
    }
}
