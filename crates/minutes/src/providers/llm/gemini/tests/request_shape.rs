//! What a request carries: the key header (never the URL or a bearer token), the system
//! instruction, the converted response schema and the optional generation settings.
use super::*;

#[tokio::test]
async fn generates_with_the_key_header_system_instruction_and_response_schema() {
    let (base, shared) = server(&["AIza-good"], vec![(200, answer(ITEMS, "STOP"))]).await;
    let (gemini, clock) = adapter(settings(&base, &["AIza-good"]));
    let out = gemini.generate(&request()).await.expect("answer");
    assert_eq!(
        out.content,
        serde_json::from_str::<Value>(ITEMS).expect("json")
    );
    assert_eq!(out.model, "gemini-2.5-flash-001");
    assert_eq!(
        out.usage,
        TokenUsage {
            prompt_tokens: 120,
            completion_tokens: 55
        }
    );
    assert_eq!(gemini.model(), "gemini-2.5-flash");
    assert!(clock.slept().is_empty());

    let s = shared.lock().expect("lock");
    assert_eq!(s.seen.len(), 1);
    let seen = &s.seen[0];
    assert_eq!(seen.path, MODEL_PATH);
    assert_eq!(seen.key.as_deref(), Some("AIza-good"));
    // The key travels only in its header: never in the URL, never as a bearer token.
    assert_eq!(seen.query, None);
    assert_eq!(seen.authorization, None);
    let b = &seen.body;
    assert_eq!(
        b["systemInstruction"],
        json!({"parts": [{"text": "You write meeting minutes."}]})
    );
    assert_eq!(
        b["contents"],
        json!([{"role": "user", "parts": [{"text": "[seg_0001] Alice: we ship on Friday."}]}])
    );
    let config = &b["generationConfig"];
    assert_eq!(config["responseMimeType"], "application/json");
    assert_eq!(config["maxOutputTokens"], 8192);
    assert_eq!(config["candidateCount"], 1);
    assert!((config["temperature"].as_f64().unwrap_or(-1.0) - 0.2).abs() < 1e-6);
    assert_eq!(
        config["responseSchema"],
        to_response_schema(&ArtifactType::ActionItems.json_schema()).expect("converts")
    );
    assert_eq!(config["responseSchema"]["type"], "OBJECT");
    assert!(b.get("safetySettings").is_none());
    assert!(config.get("thinkingConfig").is_none());
}

#[tokio::test]
async fn optional_settings_reach_the_request() {
    let (base, shared) = server(&["k"], vec![(200, answer(ITEMS, "STOP"))]).await;
    let mut s = settings(&base, &["k"]);
    s.model = "models/gemini-2.5-flash".into();
    s.max_output_tokens = None;
    s.thinking_budget = Some(0);
    s.safety_threshold = Some("BLOCK_ONLY_HIGH".into());
    let (gemini, _) = adapter(s);
    let mut req = request();
    req.system = " ".into();
    gemini.generate(&req).await.expect("answer");
    let server = shared.lock().expect("lock");
    let b = &server.seen[0].body;
    assert_eq!(
        server.seen[0].path, MODEL_PATH,
        "the models/ prefix is not doubled"
    );
    assert!(b.get("systemInstruction").is_none(), "{b}");
    assert!(b["generationConfig"].get("maxOutputTokens").is_none());
    assert_eq!(
        b["generationConfig"]["thinkingConfig"],
        json!({"thinkingBudget": 0})
    );
    let safety = b["safetySettings"].as_array().expect("safety settings");
    assert_eq!(safety.len(), 4);
    assert!(safety.iter().all(|s| s["threshold"] == "BLOCK_ONLY_HIGH"));
}
