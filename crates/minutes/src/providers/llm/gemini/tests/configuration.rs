//! Construction checks, settings defaults and redaction, and protobuf duration parsing.
use super::*;

#[test]
fn construction_needs_a_key_and_a_plain_model_id() {
    let err = Gemini::new(settings("https://generativelanguage.googleapis.com", &[]))
        .expect_err("no key");
    assert!(
        matches!(&err, ProviderError::Auth { detail, .. } if detail.contains("MINUTES__LLM__GEMINI__API_KEY")),
        "{err:?}"
    );
    for model in ["../files", "gemini?alt=sse", ""] {
        let mut s = settings("https://generativelanguage.googleapis.com", &["k"]);
        s.model = model.into();
        assert!(
            matches!(Gemini::new(s), Err(ProviderError::Rejected { .. })),
            "{model}"
        );
    }
    let mut s = settings("https://generativelanguage.googleapis.com", &["k"]);
    s.safety_threshold = Some("BLOCK_EVERYTHING".into());
    assert!(matches!(
        Gemini::new(s),
        Err(ProviderError::Rejected { .. })
    ));
    // Plain http to a public host is refused by the egress policy.
    assert!(Gemini::new(settings("http://generativelanguage.googleapis.com", &["k"])).is_err());
}

#[test]
fn settings_defaults_and_redaction() {
    let s: GeminiSettings =
        serde_json::from_str(r#"{"api_key": "AIza-secret", "api_keys": "AIza-a,AIza-b"}"#)
            .expect("parse");
    assert_eq!(
        s.base_url,
        "https://generativelanguage.googleapis.com/v1beta"
    );
    assert_eq!(s.model, "gemini-2.5-flash");
    assert_eq!(s.timeout_secs, 300);
    assert_eq!(s.max_output_tokens, None);
    let json = serde_json::to_string(&s).expect("serialize");
    assert!(!json.contains("AIza"), "{json}");
    assert!(!format!("{s:?}").contains("AIza-secret"));
    assert!(serde_json::from_str::<GeminiSettings>(r#"{"modle": "x"}"#).is_err());
}

#[test]
fn proto_durations_parse() {
    assert_eq!(parse_proto_duration("12s"), Some(Duration::from_secs(12)));
    assert_eq!(
        parse_proto_duration("0.250s"),
        Some(Duration::from_millis(250))
    );
    assert_eq!(parse_proto_duration("12"), None);
    assert_eq!(parse_proto_duration("-1s"), None);
}
