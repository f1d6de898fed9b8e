//! Prompt-template rules: which placeholders a body may use, the parameter schema's shape, and
//! checking a prompt instance's parameters against it (defaults filled in).
use serde_json::{json, Map, Value};

/// Placeholders the pipeline fills itself.
pub const BUILTIN_PLACEHOLDERS: [&str; 4] =
    ["transcript", "speakers", "output_language", "meeting_type"];
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

/// Checks a new or edited template: the body uses `{transcript}` and only known placeholders;
/// every parameter has a valid type and a default of that type.
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
    let used = placeholders(body);
    if !used.iter().any(|p| p == "transcript") {
        errors.push(field_error(
            &["body", "prompt_body"],
            "must contain the {transcript} placeholder",
        ));
    }
    for p in used {
        if !BUILTIN_PLACEHOLDERS.contains(&p.as_str()) && !params.contains_key(&p) {
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
    fn templates_must_use_transcript_and_declared_placeholders() {
        assert!(check_template("{topic} {max_items}: {transcript}", &schema()).is_empty());
        let errors = check_template("{topic} {unknown}", &schema());
        let text = serde_json::to_string(&errors).unwrap();
        assert!(
            text.contains("{transcript}") && text.contains("{unknown}"),
            "{text}"
        );
        let bad = json!({"x": {"type": "date"}, "y": {"type": "integer", "default": "five"}, "transcript": {"type": "string"}});
        assert_eq!(check_template("{transcript}", &bad).len(), 3);
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
