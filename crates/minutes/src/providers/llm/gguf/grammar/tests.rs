use serde_json::json;

use super::gbnf;
use crate::domain::artifact::ArtifactType;

#[test]
fn every_supported_keyword_becomes_compact_json() {
    let schema = json!({
        "type": "object",
        "additionalProperties": false,
        "description": "annotations are ignored",
        "properties": {
            "tags": {"type": "array", "items": {"type": "string"}},
            "name": {"type": "string"},
            "count": {"type": "integer"},
            "score": {"type": "number"},
            "ok": {"type": "boolean"},
            "kind": {"enum": ["a", "b\"c"]},
            "note": {"type": ["string", "null"]},
            "extra": {"type": "string"}
        },
        "required": ["name", "count", "score", "ok", "kind", "note", "tags"]
    });
    let expected = [
        r#"root ::= "{\"name\":" string ",\"count\":" integer ",\"score\":" number ",\"ok\":" boolean ",\"kind\":" ("\"a\"" | "\"b\\\"c\"") ",\"note\":" (string | null) ",\"tags\":" tags ",\"extra\":" string "}""#,
        r#"tags ::= "[" (string ("," string)*)? "]""#,
        r#"string ::= "\"" [^"\\\x7F\x00-\x20] char* "\"""#,
        r#"char ::= [^"\\\x7F\x00-\x1F] | "\\" (["\\/bfnrt] | "u" [0-9a-fA-F]{4})"#,
        r#"number ::= "-"? ("0" | [1-9] [0-9]{0,15}) ("." [0-9]{1,16})? ([eE] [-+]? [0-9]{1,3})?"#,
        r#"integer ::= "-"? ("0" | [1-9] [0-9]{0,15})"#,
        r#"boolean ::= "true" | "false""#,
        r#"null ::= "null""#,
    ];
    // `extra` is optional: written after the required keys, in the properties' order.
    assert_eq!(gbnf(&schema).unwrap(), expected.join("\n") + "\n");
}

#[test]
fn nested_objects_become_named_rules_shared_when_equal() {
    let item =
        json!({"type": "object", "properties": {"t": {"type": "string"}}, "required": ["t"]});
    let schema = json!({
        "type": "object",
        "properties": {"a": {"type": "array", "items": item}, "b": {"type": "array", "items": item},
                       "root": {"type": "object", "properties": {}}},
        "required": ["a", "b", "root"]
    });
    let g = gbnf(&schema).unwrap();
    assert!(
        g.starts_with(r#"root ::= "{\"a\":" a ",\"b\":" a ",\"root\":" root-2 "}""#),
        "{g}"
    );
    assert!(
        g.contains("\na-item ::= \"{\\\"t\\\":\" string \"}\"\n"),
        "{g}"
    );
    assert!(
        g.contains("\na ::= \"[\" (a-item (\",\" a-item)*)? \"]\"\n"),
        "{g}"
    );
    assert!(g.contains("\nroot-2 ::= \"{}\"\n"), "{g}");
    assert!(
        !g.contains("\nb ::="),
        "the equal array rule is reused: {g}"
    );
}

#[test]
fn keys_are_escaped_and_rule_names_sanitised() {
    let schema = json!({
        "type": "object",
        "properties": {"say \"hi\"\\": {"type": "object", "properties": {"n": {"type": "null"}}},
                       "会议": {"type": "array", "items": {"type": "boolean"}}},
        "required": ["say \"hi\"\\", "会议"]
    });
    let g = gbnf(&schema).unwrap();
    assert!(
        g.starts_with(r#"root ::= "{\"say \\\"hi\\\"\\\\\":" say--hi-- ",\"会议\":" value "}""#),
        "{g}"
    );
}

#[test]
fn every_artifact_schema_converts_with_its_keys_in_order() {
    for ty in ArtifactType::ALL {
        let schema = ty.json_schema();
        let g = gbnf(&schema).unwrap_or_else(|e| panic!("{}: {e}", ty.as_str()));
        let root = g.lines().next().unwrap();
        let mut at = 0;
        for key in schema["required"].as_array().unwrap() {
            let lit = format!("\\\"{}\\\":", key.as_str().unwrap());
            let found = root[at..]
                .find(&lit)
                .unwrap_or_else(|| panic!("{key} in order: {root}"));
            at += found + lit.len();
        }
    }
}

#[test]
fn what_the_grammar_would_not_enforce_is_refused() {
    let cases = [
        (
            json!({"type": "array", "items": {"type": "string"}}),
            "root schema must have `type: object`",
        ),
        (
            json!({"type": "object", "properties": {"a": {"type": "string", "pattern": "x"}}}),
            "keyword `pattern`",
        ),
        (
            json!({"type": "object", "properties": {"a": {"type": "string", "items": {}}}}),
            "keyword `items`",
        ),
        (
            json!({"type": "object", "minProperties": 1}),
            "keyword `minProperties`",
        ),
        (
            json!({"type": "object", "properties": {"a": {"type": "date"}}}),
            "unsupported type `date`",
        ),
        (
            json!({"type": "object", "properties": {"a": {}}}),
            "neither `type` nor `enum`",
        ),
        (
            json!({"type": "object", "properties": {"a": {"type": "array"}}}),
            "needs `items`",
        ),
        (
            json!({"type": "object", "properties": {}, "required": ["a"]}),
            "required `a` is not among",
        ),
        (
            json!({"type": "object", "properties": {"a": {"enum": []}}}),
            "non-empty array",
        ),
        (
            json!({"type": "object", "properties": {"a": {"type": 3}}}),
            "`type` must be",
        ),
    ];
    for (schema, expected) in cases {
        let err = gbnf(&schema).unwrap_err();
        assert!(err.contains(expected), "{schema}: {err}");
    }
}
