//! JSON Schema → `responseSchema` conversion, and refusing schemas it cannot express.
use super::*;

/// Every keyword of a converted schema, anywhere in it.
fn keywords(schema: &Value, out: &mut Vec<String>) {
    if let Some(obj) = schema.as_object() {
        for (k, v) in obj {
            out.push(k.clone());
            match k.as_str() {
                "properties" => v
                    .as_object()
                    .into_iter()
                    .flatten()
                    .for_each(|(_, p)| keywords(p, out)),
                "items" => keywords(v, out),
                _ => {}
            }
        }
    }
}

#[test]
fn every_artifact_schema_converts_to_the_documented_subset() {
    let allowed = [
        "type",
        "format",
        "description",
        "nullable",
        "enum",
        "properties",
        "required",
        "propertyOrdering",
        "items",
        "minItems",
        "maxItems",
    ];
    for artifact in ArtifactType::ALL {
        let converted = to_response_schema(&artifact.json_schema()).expect("converts");
        let mut found = Vec::new();
        keywords(&converted, &mut found);
        for k in &found {
            assert!(
                allowed.contains(&k.as_str()),
                "{artifact:?}: `{k}` in {converted}"
            );
        }
        assert_eq!(converted["type"], "OBJECT");
    }
}

#[test]
fn meeting_minutes_keeps_required_nullable_and_order() {
    let source = ArtifactType::MeetingMinutes.json_schema();
    let s = to_response_schema(&source).expect("converts");
    assert_eq!(s["required"], source["required"]);
    assert_eq!(
        s["propertyOrdering"], source["required"],
        "the schema's order, not alphabetical"
    );
    assert_eq!(
        s["properties"]["date"],
        json!({"type": "STRING", "nullable": true})
    );
    assert_eq!(
        s["properties"]["participants"],
        json!({"type": "ARRAY", "items": {"type": "STRING"}})
    );
    let item = &s["properties"]["action_items"]["items"];
    assert_eq!(item["type"], "OBJECT");
    assert_eq!(
        item["properties"]["owner"],
        json!({"type": "STRING", "nullable": true})
    );
    assert_eq!(item["properties"]["task"], json!({"type": "STRING"}));
    let required: Vec<&str> = item["required"]
        .as_array()
        .expect("required")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    for field in ["segment_ids", "owner", "task", "due"] {
        assert!(required.contains(&field), "{field}");
    }
}

#[test]
fn refs_unions_enums_and_bounds_are_translated() {
    let source = json!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "type": "object",
        "title": "ignored",
        "properties": {
            "owner": {"$ref": "#/$defs/person", "description": "who"},
            "priority": {"enum": ["high", "low", null]},
            "kind": {"const": "decision"},
            "due": {"anyOf": [{"type": "string", "format": "date-time"}, {"type": "null"}]},
            "count": {"type": "integer", "format": "int64", "minimum": 0},
            "score": {"type": "number", "format": "percent"},
            "tags": {"type": "array", "items": {"type": "string", "maxLength": 20}, "minItems": 1, "maxItems": 5, "uniqueItems": true}
        },
        "required": ["owner", "missing"],
        "additionalProperties": false,
        "$defs": {"person": {"type": "object", "properties": {"name": {"type": "string"}}, "required": ["name"]}}
    });
    let s = to_response_schema(&source).expect("converts");
    assert_eq!(s["required"], json!(["owner"]), "unknown names are dropped");
    assert_eq!(
        s["properties"]["owner"]["properties"]["name"],
        json!({"type": "STRING"})
    );
    assert_eq!(s["properties"]["owner"]["description"], "who");
    assert_eq!(
        s["properties"]["priority"],
        json!({"type": "STRING", "format": "enum", "enum": ["high", "low"], "nullable": true})
    );
    assert_eq!(
        s["properties"]["kind"],
        json!({"type": "STRING", "format": "enum", "enum": ["decision"]})
    );
    assert_eq!(
        s["properties"]["due"],
        json!({"type": "STRING", "format": "date-time", "nullable": true})
    );
    assert_eq!(
        s["properties"]["count"],
        json!({"type": "INTEGER", "format": "int64"})
    );
    assert_eq!(
        s["properties"]["score"],
        json!({"type": "NUMBER"}),
        "unknown formats fall away"
    );
    assert_eq!(
        s["properties"]["tags"],
        json!({"type": "ARRAY", "items": {"type": "STRING"}, "minItems": "1", "maxItems": "5"})
    );
    assert!(!s.to_string().contains("additionalProperties"));
}

#[test]
fn schemas_without_a_responseschema_form_are_refused() {
    let cases = [
        (json!({"type": ["string", "integer"]}), "/"),
        (
            json!({"anyOf": [{"type": "string"}, {"type": "integer"}]}),
            "/",
        ),
        (json!({"type": "object", "properties": {}}), "/"),
        (
            json!({"type": "object", "properties": {"m": {"type": "object", "additionalProperties": {"type": "string"}}}}),
            "/properties/m",
        ),
        (json!({"type": "array"}), "/"),
        (
            json!({"type": "object", "properties": {"n": {"$ref": "#"}}}),
            "/properties/n",
        ),
        (json!({"type": "string", "enum": [1, 2]}), "/"),
        (json!({"type": "string", "x-custom": true}), "/"),
        (json!({"$ref": "https://example.com/schema.json"}), "/"),
        (json!({"not": {"type": "string"}}), "/"),
    ];
    for (schema, path) in cases {
        let err = to_response_schema(&schema).expect_err("refused");
        assert!(err.path.starts_with(path), "{schema}: {err}");
    }
}

#[tokio::test]
async fn an_unconvertible_schema_fails_before_any_request() {
    let (base, shared) = server(&["k"], vec![(200, answer(ITEMS, "STOP"))]).await;
    let mut req = request();
    req.schema = json!({"type": "object", "properties": {"m": {"type": ["string", "number"]}}});
    let err = adapter(settings(&base, &["k"]))
        .0
        .generate(&req)
        .await
        .expect_err("refused");
    assert!(
        matches!(&err, ProviderError::Rejected { detail, .. } if detail.contains("/properties/m")),
        "{err:?}"
    );
    assert!(shared.lock().expect("lock").seen.is_empty());
}
