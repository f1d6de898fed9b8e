//! The adapter against a local server that speaks the documented `generateContent` protocol:
//! it checks the key header and the request shape the way the API does, and answers from a
//! script.
use std::collections::VecDeque;
use std::sync::Mutex;

use axum::extract::State;
use axum::http::{HeaderMap as AxHeaders, StatusCode as AxStatus, Uri};
use axum::response::{IntoResponse, Response};
use axum::Router;

use super::*;
use crate::domain::artifact::ArtifactType;
use crate::providers::http::test_support::serve;
use crate::providers::keys::{KeyState, ManualProviderClock};

const T0: i64 = 1_700_000_000_000;
const MODEL_PATH: &str = "/v1beta/models/gemini-2.5-flash:generateContent";

/// One request as the server saw it.
#[derive(Debug, Clone)]
struct Seen {
    path: String,
    query: Option<String>,
    key: Option<String>,
    authorization: Option<String>,
    body: Value,
}

#[derive(Default)]
struct Server {
    /// Keys the server accepts; anything else gets the documented invalid-key answer.
    valid_keys: Vec<String>,
    /// Answers in order; the last one repeats.
    script: VecDeque<(u16, String)>,
    seen: Vec<Seen>,
}

type Shared = Arc<Mutex<Server>>;

fn google_error(code: u16, status: &str, message: &str, details: Value) -> String {
    json!({"error": {"code": code, "message": message, "status": status, "details": details}})
        .to_string()
}

async fn handle(
    State(server): State<Shared>,
    uri: Uri,
    headers: AxHeaders,
    body: String,
) -> Response {
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    };
    let key = header("x-goog-api-key");
    let json_body: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
    let mut s = server.lock().expect("lock");
    s.seen.push(Seen {
        path: uri.path().to_string(),
        query: uri.query().map(str::to_string),
        key: key.clone(),
        authorization: header("authorization"),
        body: json_body.clone(),
    });
    let reply = |status: u16, body: String| {
        (
            AxStatus::from_u16(status).expect("status"),
            [("content-type", "application/json")],
            body,
        )
            .into_response()
    };
    if uri.path() != MODEL_PATH {
        return reply(
            404,
            google_error(
                404,
                "NOT_FOUND",
                "models/x is not found for API version v1beta",
                json!([]),
            ),
        );
    }
    // What the real API checks before generating anything.
    if !key.as_ref().is_some_and(|k| s.valid_keys.contains(k)) {
        return reply(
            400,
            google_error(
                400,
                "INVALID_ARGUMENT",
                "API key not valid. Please pass a valid API key.",
                json!([{"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "API_KEY_INVALID",
                        "domain": "googleapis.com", "metadata": {"service": "generativelanguage.googleapis.com"}}]),
            ),
        );
    }
    let config = &json_body["generationConfig"];
    let schema_text = config["responseSchema"].to_string();
    if config["responseMimeType"] != "application/json"
        || !config["responseSchema"].is_object()
        || schema_text.contains("additionalProperties")
        || json_body["contents"][0]["parts"][0]["text"]
            .as_str()
            .is_none()
    {
        return reply(
            400,
            google_error(
                400,
                "INVALID_ARGUMENT",
                "Invalid JSON payload received.",
                json!([]),
            ),
        );
    }
    let (status, answer) = if s.script.len() > 1 {
        s.script.pop_front().expect("scripted")
    } else {
        s.script.front().cloned().expect("scripted")
    };
    reply(status, answer)
}

async fn server(valid_keys: &[&str], script: Vec<(u16, String)>) -> (String, Shared) {
    let shared: Shared = Arc::new(Mutex::new(Server {
        valid_keys: valid_keys.iter().map(|k| k.to_string()).collect(),
        script: script.into(),
        seen: Vec::new(),
    }));
    let router = Router::new().fallback(handle).with_state(shared.clone());
    (serve(router).await, shared)
}

fn settings(base: &str, keys: &[&str]) -> GeminiSettings {
    GeminiSettings {
        base_url: format!("{base}/v1beta"),
        api_key: keys.first().map(|k| SecretString::from(k.to_string())),
        api_keys: (keys.len() > 1).then(|| SecretString::from(keys[1..].join(","))),
        api_keys_file: None,
        model: "gemini-2.5-flash".into(),
        temperature: 0.2,
        max_output_tokens: Some(8192),
        thinking_budget: None,
        safety_threshold: None,
        timeout_secs: 5,
    }
}

fn adapter(settings: GeminiSettings) -> (Gemini, Arc<ManualProviderClock>) {
    let clock = Arc::new(ManualProviderClock::at(T0));
    let gemini = Gemini::with_pool(
        settings,
        &EgressPolicy::default(),
        KeyPoolSettings::default(),
        clock.clone(),
    )
    .expect("adapter");
    (gemini, clock)
}

fn request() -> GenerateRequest {
    GenerateRequest {
        system: "You write meeting minutes.".into(),
        user: "[seg_0001] Alice: we ship on Friday.".into(),
        schema_name: "action_items".into(),
        schema: ArtifactType::ActionItems.json_schema(),
        ..Default::default()
    }
}

const ITEMS: &str =
    r#"{"items":[{"segment_ids":["seg_0001"],"owner":"Alice","task":"Ship","due":null}]}"#;

/// A 200 answer with one candidate.
fn answer(text: &str, finish: &str) -> String {
    json!({
        "candidates": [{
            "content": {"role": "model", "parts": [{"text": text}]},
            "finishReason": finish,
            "index": 0,
            "safetyRatings": [{"category": "HARM_CATEGORY_HARASSMENT", "probability": "NEGLIGIBLE"}]
        }],
        "usageMetadata": {"promptTokenCount": 120, "candidatesTokenCount": 45, "thoughtsTokenCount": 10, "totalTokenCount": 175},
        "modelVersion": "gemini-2.5-flash-001",
        "responseId": "abc"
    })
    .to_string()
}

fn rate_limited(delay: &str) -> String {
    google_error(
        429,
        "RESOURCE_EXHAUSTED",
        "You exceeded your current quota, please check your plan and billing details.",
        json!([
            {"@type": "type.googleapis.com/google.rpc.QuotaFailure", "violations": [
                {"quotaMetric": "generativelanguage.googleapis.com/generate_content_free_tier_requests",
                 "quotaId": "GenerateRequestsPerMinutePerProjectPerModel-FreeTier"}]},
            {"@type": "type.googleapis.com/google.rpc.Help", "links": [{"description": "Learn more", "url": "https://ai.google.dev/gemini-api/docs/rate-limits"}]},
            {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": delay}
        ]),
    )
}

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

#[tokio::test]
async fn safety_stops_and_blocked_prompts_are_content_blocked() {
    let safety = json!({
        "candidates": [{"finishReason": "SAFETY", "index": 0, "safetyRatings": [
            {"category": "HARM_CATEGORY_HARASSMENT", "probability": "HIGH", "blocked": true},
            {"category": "HARM_CATEGORY_HATE_SPEECH", "probability": "NEGLIGIBLE"}]}],
        "usageMetadata": {"promptTokenCount": 120, "totalTokenCount": 120}
    });
    let prompt_blocked = json!({
        "promptFeedback": {"blockReason": "PROHIBITED_CONTENT"},
        "usageMetadata": {"promptTokenCount": 120, "totalTokenCount": 120}
    });
    for (body, expect) in [
        (safety.to_string(), "SAFETY: HARM_CATEGORY_HARASSMENT"),
        (
            prompt_blocked.to_string(),
            "prompt blocked (PROHIBITED_CONTENT)",
        ),
        (answer("", "RECITATION"), "RECITATION"),
    ] {
        let (base, shared) = server(&["k"], vec![(200, body)]).await;
        let err = adapter(settings(&base, &["k"]))
            .0
            .generate(&request())
            .await
            .expect_err("blocked");
        assert!(
            matches!(&err, ProviderError::ContentBlocked { detail, .. } if detail.contains(expect)),
            "{expect}: {err:?}"
        );
        assert!(!err.is_retryable(), "a fallback runs instead of a retry");
        assert_eq!(shared.lock().expect("lock").seen.len(), 1, "no retry");
    }
}

#[tokio::test]
async fn max_tokens_is_a_permanent_truncation() {
    let (base, shared) = server(
        &["k"],
        vec![(200, answer(r#"{"items":[{"segm"#, "MAX_TOKENS"))],
    )
    .await;
    let err = adapter(settings(&base, &["k"]))
        .0
        .generate(&request())
        .await
        .expect_err("truncated");
    assert!(
        matches!(&err, ProviderError::Rejected { detail, .. } if detail.contains("MAX_TOKENS") && detail.contains("max_output_tokens")),
        "{err:?}"
    );
    assert!(!err.is_retryable());
    assert_eq!(shared.lock().expect("lock").seen.len(), 1);
}

#[tokio::test]
async fn malformed_answers_are_invalid_responses() {
    let no_text = json!({"candidates": [{"content": {"parts": []}, "finishReason": "STOP"}]});
    for body in [
        "<html>502 Bad Gateway</html>".to_string(),
        answer("Sure! Here are the minutes: ...", "STOP"),
        answer(r#"["not", "an", "object"]"#, "STOP"),
        answer(ITEMS, "OTHER"),
        no_text.to_string(),
        json!({"candidates": []}).to_string(),
    ] {
        let (base, shared) = server(&["k"], vec![(200, body.clone())]).await;
        let err = adapter(settings(&base, &["k"]))
            .0
            .generate(&request())
            .await
            .expect_err("malformed");
        assert!(
            matches!(err, ProviderError::InvalidResponse { .. }),
            "{body}: {err:?}"
        );
        assert_eq!(shared.lock().expect("lock").seen.len(), 1, "{body}");
    }
}

#[tokio::test]
async fn thought_parts_and_code_fences_are_not_part_of_the_answer() {
    let body = json!({
        "candidates": [{"content": {"role": "model", "parts": [
            {"text": "Let me think about the owners…", "thought": true},
            {"text": "```json\n{\"items\": []"},
            {"text": "}\n```"}
        ]}, "finishReason": "STOP"}]
    });
    let (base, _) = server(&["k"], vec![(200, body.to_string())]).await;
    let out = adapter(settings(&base, &["k"]))
        .0
        .generate(&request())
        .await
        .expect("answer");
    assert_eq!(out.content, json!({"items": []}));
    assert_eq!(
        out.model, "gemini-2.5-flash",
        "no modelVersion: the configured model"
    );
    assert_eq!(out.usage, TokenUsage::default());
}

#[tokio::test]
async fn a_rate_limit_waits_for_the_retry_info_delay_then_succeeds() {
    let (base, shared) = server(
        &["k"],
        vec![(429, rate_limited("12s")), (200, answer(ITEMS, "STOP"))],
    )
    .await;
    let (gemini, clock) = adapter(settings(&base, &["k"]));
    let out = gemini.generate(&request()).await.expect("second attempt");
    assert_eq!(out.usage.prompt_tokens, 120);
    assert_eq!(
        clock.slept(),
        [Duration::from_secs(12)],
        "the RetryInfo hint"
    );
    assert_eq!(shared.lock().expect("lock").seen.len(), 2);
    assert_eq!(gemini.key_pool().status()[0].state, KeyState::Active);
}

#[tokio::test]
async fn a_server_error_is_retried_after_a_backoff() {
    let (base, shared) = server(
        &["k"],
        vec![
            (
                500,
                google_error(
                    500,
                    "INTERNAL",
                    "An internal error has occurred.",
                    json!([]),
                ),
            ),
            (200, answer(ITEMS, "STOP")),
        ],
    )
    .await;
    let (gemini, clock) = adapter(settings(&base, &["k"]));
    gemini.generate(&request()).await.expect("second attempt");
    let slept = clock.slept();
    assert_eq!(slept.len(), 1);
    assert!((500..=1000).contains(&slept[0].as_millis()), "{slept:?}");
    assert_eq!(shared.lock().expect("lock").seen.len(), 2);
}

#[tokio::test]
async fn unavailable_three_times_gives_up_to_the_queue() {
    let (base, shared) = server(
        &["k"],
        vec![(
            503,
            google_error(
                503,
                "UNAVAILABLE",
                "The model is overloaded. Please try again later.",
                json!([]),
            ),
        )],
    )
    .await;
    let (gemini, _) = adapter(settings(&base, &["k"]));
    let err = gemini.generate(&request()).await.expect_err("still down");
    assert!(
        matches!(&err, ProviderError::Unavailable { detail, .. } if detail.contains("UNAVAILABLE") && detail.contains("overloaded")),
        "{err:?}"
    );
    assert!(err.is_retryable());
    assert_eq!(shared.lock().expect("lock").seen.len(), 3);
    assert_eq!(gemini.key_pool().status()[0].consecutive_failures, 3);
}

#[tokio::test]
async fn permission_denied_is_a_permanent_auth_error() {
    let (base, shared) = server(
        &["AIza-no-access"],
        vec![(
            403,
            google_error(
                403,
                "PERMISSION_DENIED",
                "Method doesn't allow unregistered callers.",
                json!([]),
            ),
        )],
    )
    .await;
    let (gemini, clock) = adapter(settings(&base, &["AIza-no-access"]));
    let err = gemini.generate(&request()).await.expect_err("denied");
    let ProviderError::Auth { detail, .. } = &err else {
        panic!("expected Auth, got {err:?}");
    };
    assert!(detail.contains("PERMISSION_DENIED"), "{detail}");
    assert!(!detail.contains("AIza-no-access"), "{detail}");
    assert!(!err.is_retryable());
    assert_eq!(shared.lock().expect("lock").seen.len(), 1);
    assert!(clock.slept().is_empty());
}

#[tokio::test]
async fn an_invalid_key_is_skipped_for_the_next_one() {
    let (base, shared) = server(&["AIza-good"], vec![(200, answer(ITEMS, "STOP"))]).await;
    let (gemini, _) = adapter(settings(&base, &["AIza-revoked", "AIza-good"]));
    gemini.generate(&request()).await.expect("second key");
    let keys: Vec<Option<String>> = shared
        .lock()
        .expect("lock")
        .seen
        .iter()
        .map(|s| s.key.clone())
        .collect();
    assert_eq!(
        keys,
        [
            Some("AIza-revoked".to_string()),
            Some("AIza-good".to_string())
        ]
    );
    let status = gemini.key_pool().status();
    assert_eq!(status[0].consecutive_failures, 1);
    assert_eq!(status[1].consecutive_failures, 0);
}

#[tokio::test]
async fn a_rate_limited_key_rotates_to_the_second_and_rests_for_its_hint() {
    // Only the second key is accepted by the server's quota: the first gets 429 with 40 s.
    let (base, shared) = server(
        &["k1", "k2"],
        vec![(429, rate_limited("40s")), (200, answer(ITEMS, "STOP"))],
    )
    .await;
    let (gemini, clock) = adapter(settings(&base, &["k1", "k2"]));
    gemini.generate(&request()).await.expect("second key");
    let keys: Vec<Option<String>> = shared
        .lock()
        .expect("lock")
        .seen
        .iter()
        .map(|s| s.key.clone())
        .collect();
    assert_eq!(keys, [Some("k1".to_string()), Some("k2".to_string())]);
    assert!(clock.slept().is_empty());
    let status = gemini.key_pool().status();
    assert_eq!(status[0].state, KeyState::RateLimited);
    assert_eq!(
        status[0].until.map(|t| t.timestamp_millis()),
        Some(T0 + 40_000)
    );
}

#[tokio::test]
async fn all_keys_rate_limited_is_quota_exceeded() {
    let (base, shared) = server(&["k1", "k2"], vec![(429, rate_limited("3600s"))]).await;
    let (gemini, _) = adapter(settings(&base, &["k1", "k2"]));
    let err = gemini.generate(&request()).await.expect_err("exhausted");
    assert!(
        matches!(&err, ProviderError::QuotaExceeded { retry_after: Some(d), .. } if *d == Duration::from_secs(3600)),
        "{err:?}"
    );
    assert_eq!(err.code(), "quota_exceeded");
    assert_eq!(shared.lock().expect("lock").seen.len(), 2);
}

#[tokio::test]
async fn a_per_day_quota_rests_the_key_as_quota_exceeded() {
    let per_day = google_error(
        429,
        "RESOURCE_EXHAUSTED",
        "You exceeded your current quota.",
        json!([{"@type": "type.googleapis.com/google.rpc.QuotaFailure", "violations": [
            {"quotaId": "GenerateRequestsPerDayPerProjectPerModel-FreeTier"}]}]),
    );
    let (base, _) = server(
        &["k1", "k2"],
        vec![(429, per_day), (200, answer(ITEMS, "STOP"))],
    )
    .await;
    let (gemini, _) = adapter(settings(&base, &["k1", "k2"]));
    gemini.generate(&request()).await.expect("second key");
    let status = gemini.key_pool().status();
    assert_eq!(status[0].state, KeyState::QuotaExceeded);
    // No hint: rests for provider_keys.half_open_after_secs.
    assert_eq!(
        status[0].until.map(|t| t.timestamp_millis()),
        Some(T0 + 300_000)
    );
}

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

mod schema_conversion {
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
}
