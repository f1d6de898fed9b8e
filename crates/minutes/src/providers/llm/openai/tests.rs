use std::sync::{Arc, Mutex};

use axum::extract::State;
use axum::http::{HeaderMap as AxHeaders, StatusCode};
use axum::response::IntoResponse;
use axum::routing::post;
use axum::{Json, Router};

use super::*;
use crate::providers::http::test_support::serve;
use crate::providers::keys::{KeyState, ManualProviderClock};

/// The last request the fake server received: headers and JSON body.
#[derive(Debug, Default)]
struct Seen {
    auth: Option<String>,
    body: Value,
}

type Shared = Arc<Mutex<Seen>>;

/// A chat server that records the request and answers `status` with `answer` (JSON or text).
async fn fake(
    status: StatusCode,
    extra: Vec<(&'static str, &'static str)>,
    answer: String,
) -> (String, Shared) {
    let seen: Shared = Arc::default();
    let handler = move |State(seen): State<Shared>, headers: AxHeaders, Json(body): Json<Value>| {
        let extra = extra.clone();
        let answer = answer.clone();
        async move {
            *seen.lock().expect("lock") = Seen {
                auth: headers
                    .get("authorization")
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_string),
                body,
            };
            let mut resp = (status, [("content-type", "application/json")], answer).into_response();
            for (k, v) in extra {
                resp.headers_mut()
                    .insert(k, v.parse().expect("header value"));
            }
            resp
        }
    };
    let router = Router::new()
        .route("/v1/chat/completions", post(handler))
        .with_state(seen.clone());
    (serve(router).await, seen)
}

/// A chat-completions answer whose message content is `content`.
fn completion(content: &str, finish: &str) -> String {
    json!({
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "model": "gpt-4o-mini-2024-07-18",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": content, "refusal": null}, "finish_reason": finish}],
        "usage": {"prompt_tokens": 120, "completion_tokens": 45, "total_tokens": 165}
    })
    .to_string()
}

fn settings(base: &str) -> OpenAiChatSettings {
    OpenAiChatSettings {
        base_url: format!("{base}/v1"),
        api_key: Some(SecretString::from("sk-chat-key")),
        api_keys: None,
        api_keys_file: None,
        model: "gpt-4o-mini".into(),
        temperature: 0.2,
        max_tokens: Some(2048),
        timeout_secs: 5,
        json_schema_mode: true,
    }
}

fn request() -> GenerateRequest {
    GenerateRequest {
        system: "You write meeting minutes.".into(),
        user: "Transcript: ...".into(),
        schema_name: "meeting_minutes".into(),
        schema: json!({
            "type": "object",
            "properties": {"title": {"type": "string"}},
            "required": ["title"],
            "additionalProperties": false
        }),
        ..Default::default()
    }
}

async fn generate(answer: String) -> Result<GenerateOutput, ProviderError> {
    let (base, _) = fake(StatusCode::OK, vec![], answer).await;
    OpenAiChat::new(settings(&base))
        .expect("adapter")
        .generate(&request())
        .await
}

/// An adapter whose retry waits pass on a manual clock instead of in real time.
fn manual(settings: OpenAiChatSettings) -> (OpenAiChat, Arc<ManualProviderClock>) {
    let clock = Arc::new(ManualProviderClock::at(1_700_000_000_000));
    let chat = OpenAiChat::with_pool(
        settings,
        &EgressPolicy::default(),
        KeyPoolSettings::default(),
        clock.clone(),
    )
    .expect("adapter");
    (chat, clock)
}

#[tokio::test]
async fn generates_with_a_strict_json_schema() {
    let (base, seen) = fake(
        StatusCode::OK,
        vec![],
        completion(r#"{"title": "Weekly sync"}"#, "stop"),
    )
    .await;
    let chat = OpenAiChat::new(settings(&base)).expect("adapter");
    let out = chat.generate(&request()).await.expect("answer");
    assert_eq!(out.content, json!({"title": "Weekly sync"}));
    assert_eq!(out.model, "gpt-4o-mini-2024-07-18");
    assert_eq!(
        out.usage,
        TokenUsage {
            prompt_tokens: 120,
            completion_tokens: 45
        }
    );
    assert_eq!(chat.model(), "gpt-4o-mini");

    let seen = seen.lock().expect("lock");
    assert_eq!(seen.auth.as_deref(), Some("Bearer sk-chat-key"));
    let b = &seen.body;
    assert_eq!(b["model"], "gpt-4o-mini");
    assert_eq!(b["max_tokens"], 2048);
    assert!(
        (b["temperature"].as_f64().unwrap_or(-1.0) - 0.2).abs() < 1e-6,
        "{b}"
    );
    assert_eq!(
        b["messages"][0],
        json!({"role": "system", "content": "You write meeting minutes."})
    );
    assert_eq!(
        b["messages"][1],
        json!({"role": "user", "content": "Transcript: ..."})
    );
    assert_eq!(
        b["response_format"],
        json!({"type": "json_schema", "json_schema": {"name": "meeting_minutes", "schema": request().schema, "strict": true}})
    );
}

#[tokio::test]
async fn json_object_mode_puts_the_schema_in_the_prompt() {
    let (base, seen) = fake(
        StatusCode::OK,
        vec![],
        completion(r#"{"title": "x"}"#, "stop"),
    )
    .await;
    let mut s = settings(&base);
    s.json_schema_mode = false;
    s.max_tokens = None;
    s.api_key = None;
    OpenAiChat::new(s)
        .expect("adapter")
        .generate(&request())
        .await
        .expect("answer");
    let seen = seen.lock().expect("lock");
    let b = &seen.body;
    assert_eq!(b["response_format"], json!({"type": "json_object"}));
    let system = b["messages"][0]["content"].as_str().unwrap_or_default();
    assert!(system.starts_with("You write meeting minutes."), "{system}");
    assert!(
        system.contains("JSON Schema") && system.contains("additionalProperties"),
        "{system}"
    );
    assert!(b.get("max_tokens").is_none(), "{b}");
    assert_eq!(seen.auth, None);
}

#[tokio::test]
async fn fenced_json_is_accepted() {
    let out = generate(completion("```json\n{\"title\": \"Fenced\"}\n```", "stop"))
        .await
        .expect("answer");
    assert_eq!(out.content, json!({"title": "Fenced"}));
    let out = generate(completion("```\n{\"title\": \"Bare\"}\n```\n", "stop"))
        .await
        .expect("answer");
    assert_eq!(out.content, json!({"title": "Bare"}));
}

#[tokio::test]
async fn content_filter_and_refusal_are_blocked() {
    let err = generate(completion("", "content_filter"))
        .await
        .expect_err("blocked");
    assert!(
        matches!(err, ProviderError::ContentBlocked { .. }),
        "{err:?}"
    );
    let refusal = json!({
        "model": "m",
        "choices": [{"message": {"role": "assistant", "content": null, "refusal": "I can't help with that."}, "finish_reason": "stop"}]
    });
    let err = generate(refusal.to_string()).await.expect_err("refused");
    assert!(
        matches!(&err, ProviderError::ContentBlocked { detail, .. } if detail.contains("can't help")),
        "{err:?}"
    );
}

#[tokio::test]
async fn truncated_answer_is_a_permanent_rejection() {
    let err = generate(completion(r#"{"title": "Wee"#, "length"))
        .await
        .expect_err("truncated");
    assert!(
        matches!(&err, ProviderError::Rejected { detail, .. } if detail.contains("truncated")),
        "{err:?}"
    );
    assert!(!err.is_retryable());
}

#[tokio::test]
async fn non_object_content_is_invalid() {
    for content in [r#"["a", "b"]"#, "42", "Sure! Here are the minutes."] {
        let err = generate(completion(content, "stop"))
            .await
            .expect_err("not an object");
        assert!(
            matches!(err, ProviderError::InvalidResponse { .. }),
            "{content}: {err:?}"
        );
    }
    let err = generate("not json at all".into())
        .await
        .expect_err("garbage");
    assert!(
        matches!(err, ProviderError::InvalidResponse { .. }),
        "{err:?}"
    );
    let err = generate(r#"{"choices": []}"#.into())
        .await
        .expect_err("no choices");
    assert!(
        matches!(err, ProviderError::InvalidResponse { .. }),
        "{err:?}"
    );
}

#[tokio::test]
async fn missing_model_and_usage_fall_back() {
    let answer = json!({"choices": [{"message": {"content": "{\"title\": \"t\"}"}, "finish_reason": "stop"}]});
    let out = generate(answer.to_string()).await.expect("answer");
    assert_eq!(out.model, "gpt-4o-mini");
    assert_eq!(out.usage, TokenUsage::default());
}

#[tokio::test]
async fn overloaded_server_is_unavailable() {
    let (base, _) = fake(
        StatusCode::SERVICE_UNAVAILABLE,
        vec![],
        r#"{"error": "overloaded"}"#.into(),
    )
    .await;
    let (chat, clock) = manual(settings(&base));
    let err = chat.generate(&request()).await.expect_err("503");
    assert!(
        matches!(&err, ProviderError::Unavailable { detail, .. } if detail.contains("503")),
        "{err:?}"
    );
    // Three attempts with two jittered exponential backoffs (1 s, then 2 s, at 50–100 %).
    let slept = clock.slept();
    assert_eq!(slept.len(), 2, "{slept:?}");
    assert!((500..=1000).contains(&slept[0].as_millis()), "{slept:?}");
    assert!((1000..=2000).contains(&slept[1].as_millis()), "{slept:?}");
    assert_eq!(chat.key_pool().status()[0].consecutive_failures, 3);
}

#[tokio::test]
async fn rate_limit_is_reported_with_its_hint() {
    let (base, _) = fake(
        StatusCode::TOO_MANY_REQUESTS,
        vec![("retry-after", "3"), ("retry-after-ms", "2500")],
        r#"{"error": {"message": "Rate limit reached"}}"#.into(),
    )
    .await;
    let (chat, clock) = manual(settings(&base));
    let err = chat.generate(&request()).await.expect_err("429");
    // The only key rested for the hint (retry-after-ms wins) between the three attempts…
    assert_eq!(clock.slept(), vec![Duration::from_millis(2500); 2]);
    // …and the pool, dry at the end, says when to come back.
    assert!(
        matches!(&err, ProviderError::QuotaExceeded { retry_after: Some(d), provider, .. }
            if *d == Duration::from_millis(2500) && provider == "openai-chat"),
        "{err:?}"
    );

    // A keyless server (a local model) has no pool to exhaust: the 429 itself is reported.
    let mut keyless = settings(&base);
    keyless.api_key = None;
    let err = manual(keyless)
        .0
        .generate(&request())
        .await
        .expect_err("429");
    assert_eq!(
        err,
        ProviderError::RateLimited {
            provider: "openai-chat".into(),
            retry_after: Some(Duration::from_millis(2500))
        }
    );
}

#[tokio::test]
async fn long_rate_limits_exhaust_the_pool_with_quota_exceeded() {
    let (base, seen) = fake(
        StatusCode::TOO_MANY_REQUESTS,
        vec![("retry-after", "120")],
        r#"{"error": {"message": "Rate limit reached"}}"#.into(),
    )
    .await;
    let mut s = settings(&base);
    s.api_keys = Some(SecretString::from("sk-two, sk-three"));
    let (chat, clock) = manual(s);
    let err = chat.generate(&request()).await.expect_err("exhausted");
    let ProviderError::QuotaExceeded {
        retry_after,
        detail,
        ..
    } = &err
    else {
        panic!("expected QuotaExceeded, got {err:?}");
    };
    assert_eq!(*retry_after, Some(Duration::from_secs(120)));
    assert!(detail.contains("key 2 rate_limited"), "{detail}");
    assert!(!detail.contains("sk-"), "{detail}");
    assert_eq!(err.code(), "quota_exceeded");
    assert!(err.is_retryable());
    // Each key was tried once; nobody waited two minutes inside the call.
    assert_eq!(
        seen.lock().expect("lock").auth.as_deref(),
        Some("Bearer sk-three")
    );
    assert!(clock.slept().is_empty());
    assert!(chat
        .key_pool()
        .status()
        .iter()
        .all(|k| k.state == KeyState::RateLimited));
}

#[tokio::test]
async fn insufficient_quota_rests_the_key_and_tries_the_next() {
    let handler = |headers: AxHeaders, _body: String| async move {
        let auth = headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default();
        if auth == "Bearer sk-chat-key" {
            (
                StatusCode::TOO_MANY_REQUESTS,
                r#"{"error": {"message": "You exceeded your current quota", "type": "insufficient_quota", "code": "insufficient_quota"}}"#.to_string(),
            )
        } else {
            (StatusCode::OK, completion(r#"{"title": "Paid"}"#, "stop"))
        }
    };
    let base = serve(Router::new().route("/v1/chat/completions", post(handler))).await;
    let mut s = settings(&base);
    s.api_keys = Some(SecretString::from("sk-backup"));
    let (chat, clock) = manual(s);
    let out = chat.generate(&request()).await.expect("backup key answers");
    assert_eq!(out.content, json!({"title": "Paid"}));
    let first = &chat.key_pool().status()[0];
    assert_eq!(first.state, KeyState::QuotaExceeded);
    // Without a hint the key rests for provider_keys.half_open_after_secs.
    assert_eq!(
        first.until.map(|t| t.timestamp_millis()),
        Some(clock.now_ms() + 300_000)
    );
}

#[tokio::test]
async fn stalled_server_times_out() {
    let router = Router::new().route(
        "/v1/chat/completions",
        post(|| async {
            std::future::pending::<()>().await;
            "unreachable"
        }),
    );
    let base = serve(router).await;
    let mut s = settings(&base);
    s.timeout_secs = 1;
    let err = OpenAiChat::new(s)
        .expect("adapter")
        .with_name("local-llm")
        .generate(&request())
        .await
        .expect_err("timeout");
    assert_eq!(
        err,
        ProviderError::Timeout {
            provider: "local-llm".into(),
            after: Duration::from_secs(1)
        }
    );
}

#[test]
fn settings_defaults_and_redaction() {
    let s: OpenAiChatSettings =
        serde_json::from_str(r#"{"base_url": "http://h/v1", "api_key": "sk-yyy"}"#).expect("parse");
    assert_eq!(s.model, "gpt-4o-mini");
    assert!((s.temperature - 0.2).abs() < f32::EPSILON);
    assert_eq!(s.max_tokens, None);
    assert_eq!(s.timeout_secs, 300);
    assert!(s.json_schema_mode);
    assert!(!format!("{s:?}").contains("sk-yyy"));
    let json = serde_json::to_string(&s).expect("serialize");
    assert!(
        !json.contains("sk-yyy") && json.contains("[redacted]"),
        "{json}"
    );
}

#[test]
fn code_fences_are_stripped() {
    assert_eq!(strip_code_fence("```json\n{}\n```"), "{}");
    assert_eq!(strip_code_fence("  {\"a\":1}  "), "{\"a\":1}");
    assert_eq!(strip_code_fence("```JSON\n{\"a\":1}"), "{\"a\":1}");
}
