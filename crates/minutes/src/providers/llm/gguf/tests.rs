//! Settings in every build; with the feature, the grammar converter and, given a model in
//! `MINUTES_TEST_GGUF` (scripts/fetch-gguf-test-model.sh), the engine itself.
use super::GgufSettings;

#[test]
fn settings_have_defaults_and_refuse_unknown_keys() {
    let s: GgufSettings = serde_yaml::from_str("model: /m/x.gguf").unwrap();
    assert_eq!(
        s,
        GgufSettings {
            model: "/m/x.gguf".into(),
            ..GgufSettings::default()
        }
    );
    assert_eq!(
        (s.context_tokens, s.max_output_tokens, s.threads),
        (8192, 2048, 0)
    );
    let err = serde_yaml::from_str::<GgufSettings>("model: x\nn_ctx: 2048").unwrap_err();
    assert!(err.to_string().contains("n_ctx"), "{err}");
}

#[test]
fn settings_check_names_the_key_to_fix() {
    let ok = GgufSettings {
        model: "/m/x.gguf".into(),
        ..GgufSettings::default()
    };
    assert_eq!(ok.check(), Ok(()));
    let cases = [
        (GgufSettings::default(), "llm.gguf.model is empty"),
        (
            GgufSettings {
                context_tokens: 256,
                ..ok.clone()
            },
            "context_tokens",
        ),
        (
            GgufSettings {
                max_output_tokens: 8192,
                ..ok.clone()
            },
            "max_output_tokens",
        ),
        (
            GgufSettings {
                temperature: -1.0,
                ..ok.clone()
            },
            "temperature",
        ),
    ];
    for (settings, expected) in cases {
        let err = settings.check().unwrap_err();
        assert!(err.contains(expected), "{err}");
    }
}

#[cfg(not(feature = "local-llm-gguf"))]
#[test]
fn without_the_feature_the_provider_stops_the_start() {
    let Err(err) = super::build(&GgufSettings::default()) else {
        panic!("built a gguf engine without the feature");
    };
    assert_eq!(
        err.to_string(),
        "llm.provider: gguf needs a build with `--features local-llm-gguf`"
    );
}

#[cfg(feature = "local-llm-gguf")]
mod grammar {
    use serde_json::json;

    use super::super::grammar::gbnf;
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
            g.starts_with(
                r#"root ::= "{\"say \\\"hi\\\"\\\\\":" say--hi--- ",\"会议\":" value "}""#
            ),
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
}

#[cfg(feature = "local-llm-gguf")]
mod engine {
    use std::path::PathBuf;
    use std::time::Instant;

    use serde_json::{json, Map, Value};

    use super::super::grammar::gbnf;
    use super::super::GgufLlm;
    use super::GgufSettings;
    use crate::domain::artifact::{validate_content, ArtifactType};
    use crate::pipeline::prompt::{builtin_templates, render, SYSTEM_PROMPT};
    use crate::providers::{GenerateRequest, LanguageModel, ProviderError, SourceLine};

    /// The model from `MINUTES_TEST_GGUF`; `None` (the test passes, saying so) when unset.
    fn test_model() -> Option<PathBuf> {
        let Some(path) = std::env::var_os("MINUTES_TEST_GGUF") else {
            eprintln!("skipped: set MINUTES_TEST_GGUF=$(scripts/fetch-gguf-test-model.sh)");
            return None;
        };
        let path = PathBuf::from(path);
        assert!(
            path.is_file(),
            "MINUTES_TEST_GGUF={} is not a file: run scripts/fetch-gguf-test-model.sh",
            path.display()
        );
        Some(path)
    }

    fn settings(model: &str) -> GgufSettings {
        GgufSettings {
            model: model.into(),
            context_tokens: 4096,
            max_output_tokens: 1024,
            // Two threads on a busy 2-core machine are 10-20x slower than one (docs/OPERATIONS.md).
            threads: 1,
            ..GgufSettings::default()
        }
    }

    fn load_error(settings: GgufSettings) -> String {
        match GgufLlm::load(settings) {
            Ok(_) => panic!("loaded"),
            Err(ProviderError::Rejected { detail, .. }) => detail,
            Err(other) => panic!("not a configuration error: {other}"),
        }
    }

    #[test]
    fn a_missing_or_foreign_file_is_a_configuration_error_naming_it() {
        let detail = load_error(settings("/nonexistent/model.gguf"));
        assert!(
            detail.starts_with("llm.gguf.model: cannot read /nonexistent/model.gguf"),
            "{detail}"
        );
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("weights.gguf");
        std::fs::write(&path, b"PK\x03\x04 a zip, not a model").unwrap();
        let detail = load_error(settings(path.to_str().unwrap()));
        assert!(detail.contains("is not a GGUF file"), "{detail}");
        assert!(detail.contains(path.to_str().unwrap()), "{detail}");
        // The right magic but nothing after it: llama.cpp itself refuses it.
        std::fs::write(&path, b"GGUF\x03\x00\x00\x00").unwrap();
        let detail = load_error(settings(path.to_str().unwrap()));
        assert!(detail.contains("llama.cpp could not load"), "{detail}");
    }

    fn request(ty: ArtifactType, lines: &[(&str, &str, &str)]) -> GenerateRequest {
        let template = builtin_templates()
            .unwrap()
            .into_iter()
            .find(|t| t.id == ty.as_str())
            .unwrap();
        let transcript: Vec<String> = lines
            .iter()
            .map(|(id, who, text)| format!("[{id}] {who}: {text}"))
            .collect();
        let values: Map<String, Value> = serde_json::from_value(json!({
            "meeting_type": "sprint", "output_language": "en-US", "meeting_description": "",
            "speakers": "Alice, Bob", "transcript": transcript.join("\n")
        }))
        .unwrap();
        GenerateRequest {
            system: SYSTEM_PROMPT.into(),
            user: render(&template.prompt_body, &values),
            schema_name: ty.as_str().into(),
            schema: ty.json_schema(),
            transcript: lines
                .iter()
                .map(|(id, who, text)| SourceLine {
                    segment_id: Some(id.to_string()),
                    speaker: who.to_string(),
                    text: text.to_string(),
                })
                .collect(),
            output_language: Some("en-US".into()),
            meeting_type: Some("sprint".into()),
        }
    }

    #[tokio::test]
    async fn the_test_model_writes_schema_valid_minutes_and_counts_tokens() {
        let Some(path) = test_model() else { return };
        let started = Instant::now();
        let llm = GgufLlm::load(settings(path.to_str().unwrap())).unwrap();
        eprintln!("model loaded in {:?}", started.elapsed());
        let lines = [
            (
                "seg_0001",
                "Alice",
                "Let's ship the billing page on Friday.",
            ),
            (
                "seg_0002",
                "Bob",
                "Agreed. I will fix the invoice rounding bug by Thursday.",
            ),
            (
                "seg_0003",
                "Alice",
                "The payment provider may rate-limit us during the launch.",
            ),
        ];
        let started = Instant::now();
        let out = llm
            .generate(&request(ArtifactType::MeetingMinutes, &lines))
            .await
            .unwrap();
        eprintln!(
            "generated in {:?}: {:?}\n{}",
            started.elapsed(),
            out.usage,
            out.content
        );
        let ids: Vec<String> = lines.iter().map(|l| l.0.to_string()).collect();
        validate_content(ArtifactType::MeetingMinutes, &out.content, &ids).unwrap();
        assert_eq!(
            (out.provider.as_str(), out.model.as_str()),
            ("gguf", llm.model())
        );
        assert!(out.usage.prompt_tokens > 100, "{:?}", out.usage);
        assert!(out.usage.completion_tokens > 10, "{:?}", out.usage);
        assert!(llm.needs_chunking());
    }

    #[test]
    fn llama_cpp_parses_every_artifact_grammar_and_holds_to_it() {
        let Some(path) = test_model() else { return };
        let llm = GgufLlm::load(settings(path.to_str().unwrap())).unwrap();
        for ty in ArtifactType::ALL {
            let g = gbnf(&ty.json_schema()).unwrap();
            assert_eq!(llm.grammar_accepts(&g, "{"), Ok(true), "{}", ty.as_str());
        }
        let g = gbnf(&ArtifactType::ActionItems.json_schema()).unwrap();
        let accepts = |text: &str| llm.grammar_accepts(&g, text).unwrap();
        assert!(accepts(r#"{"items":[]}"#));
        // Keys in the schema's `required` order (a JSON map's: alphabetical).
        assert!(accepts(
            r#"{"items":[{"due":null,"owner":"Bob","segment_ids":["seg_0002"],"task":"Fix \"it\" 修复"}]}"#
        ));
        assert!(!accepts(r#"{ "items":[]}"#), "whitespace between tokens");
        assert!(!accepts(r#"{"items":[{"owner":"","#), "an empty string");
        assert!(!accepts(r#"{"things":[]}"#), "an unknown key");
    }
}
