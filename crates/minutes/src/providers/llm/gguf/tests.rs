//! Settings in every build; with the feature and a model in `MINUTES_TEST_GGUF`
//! (scripts/fetch-gguf-test-model.sh), the engine itself. The grammar's tests: grammar/tests.rs.
use super::GgufSettings;

#[test]
fn settings_have_defaults_and_refuse_unknown_keys() {
    let s: GgufSettings = serde_yaml::from_str("model: /m/x.gguf").unwrap();
    let expected = (String::from("/m/x.gguf"), 8192, 0, 2048, 0.2);
    let got = (
        s.model,
        s.context_tokens,
        s.threads,
        s.max_output_tokens,
        s.temperature,
    );
    assert_eq!(got, expected);
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

    /// The model from `MINUTES_TEST_GGUF`. Building with the feature means testing the engine:
    /// without a model these tests fail and say how to fetch one, rather than pass untested.
    fn test_model() -> PathBuf {
        let path = std::env::var_os("MINUTES_TEST_GGUF")
            .map(PathBuf::from)
            .expect(
                "set MINUTES_TEST_GGUF=$(scripts/fetch-gguf-test-model.sh) to test the GGUF engine",
            );
        let shown = path.display();
        assert!(
            path.is_file(),
            "MINUTES_TEST_GGUF={shown} is not a file: run scripts/fetch-gguf-test-model.sh"
        );
        path
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
        let Err(ProviderError::Rejected { detail, .. }) = GgufLlm::load(settings) else {
            panic!("loaded, or not a configuration error");
        };
        detail
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
        let path = test_model();
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
    fn a_chat_template_frames_system_and_user() {
        let path = test_model();
        // The test model has no template of its own: try llama.cpp's built-in Gemma one.
        let mut llm = GgufLlm::load(settings(path.to_str().unwrap())).unwrap();
        let req = request(
            ArtifactType::MeetingMinutes,
            &[("seg_0001", "Bob", "I fix it.")],
        );
        let prompt = llm.prompt_with("gemma", &req).unwrap();
        assert!(prompt.contains("<start_of_turn>user\n"), "{prompt}");
        assert!(prompt.contains(SYSTEM_PROMPT) && prompt.contains("[seg_0001] Bob: I fix it."));
        assert!(prompt.ends_with("<start_of_turn>model\n"), "{prompt}");
    }

    #[test]
    fn llama_cpp_parses_every_artifact_grammar_and_holds_to_it() {
        let path = test_model();
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
