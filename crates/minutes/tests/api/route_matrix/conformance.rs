//! Every answer as `/openapi.json` documents it: the status (or the `default` error answer) and
//! a JSON body of the documented schema.
use std::sync::OnceLock;

use axum::http::StatusCode;
use serde_json::Value;

use super::cases::Case;

/// The answer is documented in `/openapi.json`: its status (or the `default` error answer), and
/// a JSON body that has the documented schema. (Non-JSON downloads are left to schemathesis.)
pub(super) fn conforms_to_the_document(
    c: &Case,
    code: StatusCode,
    body: &Value,
    label: &str,
    failures: &mut Vec<String>,
) {
    static DOCUMENT: OnceLock<Value> = OnceLock::new();
    let doc = DOCUMENT.get_or_init(minutes::http::openapi::document);
    let path = minutes::http::openapi::document_path(c.path);
    let responses = &doc["paths"][path.as_str()][c.method]["responses"];
    let answer = match responses.get(code.as_str()) {
        Some(a) => a,
        None if !code.is_success() => &responses["default"],
        None => {
            failures.push(format!("{label}: {code} is not a documented answer"));
            return;
        }
    };
    match answer["content"].as_object() {
        None if !body.is_null() => {
            failures.push(format!("{label}: documented without a body, got {body}"));
        }
        None => {}
        Some(_) if body.is_string() => {}
        Some(content) => {
            let Some(media) = content.get("application/json") else {
                failures.push(format!("{label}: a JSON answer documented as {content:?}"));
                return;
            };
            let mut errors = Vec::new();
            conforms(doc, &media["schema"], body, "$", &mut errors);
            for e in errors {
                failures.push(format!(
                    "{label}: the answer does not match the document: {e}"
                ));
            }
        }
    }
}

/// The part of JSON Schema the document uses: $ref, type (or a list of types), enum, required,
/// properties, additionalProperties (as a schema), items.
fn conforms(doc: &Value, schema: &Value, v: &Value, at: &str, errors: &mut Vec<String>) {
    if let Some(r) = schema.get("$ref").and_then(Value::as_str) {
        let name = r.rsplit('/').next().unwrap_or_default();
        return conforms(doc, &doc["components"]["schemas"][name], v, at, errors);
    }
    let types: Vec<&str> = match schema.get("type") {
        Some(Value::String(t)) => vec![t.as_str()],
        Some(Value::Array(ts)) => ts.iter().filter_map(Value::as_str).collect(),
        _ => vec![],
    };
    let typed = types.is_empty()
        || types.iter().any(|t| match *t {
            "string" => v.is_string(),
            "integer" => v.is_i64() || v.is_u64(),
            "number" => v.is_number(),
            "boolean" => v.is_boolean(),
            "null" => v.is_null(),
            "object" => v.is_object(),
            "array" => v.is_array(),
            _ => true,
        });
    if !typed {
        errors.push(format!("{at} = {v} is not {types:?}"));
        return;
    }
    if let Some(options) = schema.get("enum").and_then(Value::as_array) {
        if !options.contains(v) {
            errors.push(format!("{at} = {v} is not one of {options:?}"));
        }
    }
    if let Some(object) = v.as_object() {
        let required = schema.get("required").and_then(Value::as_array);
        for key in required.into_iter().flatten().filter_map(Value::as_str) {
            if !object.contains_key(key) {
                errors.push(format!("{at}.{key} is missing"));
            }
        }
        let properties = schema.get("properties").and_then(Value::as_object);
        for (key, value) in object {
            match properties.and_then(|p| p.get(key)) {
                Some(s) => conforms(doc, s, value, &format!("{at}.{key}"), errors),
                None => {
                    if let Some(extra) =
                        schema.get("additionalProperties").filter(|a| a.is_object())
                    {
                        conforms(doc, extra, value, &format!("{at}.{key}"), errors);
                    }
                }
            }
        }
    }
    if let (Some(items), Some(list)) = (schema.get("items"), v.as_array()) {
        for (i, item) in list.iter().enumerate() {
            conforms(doc, items, item, &format!("{at}[{i}]"), errors);
        }
    }
}
