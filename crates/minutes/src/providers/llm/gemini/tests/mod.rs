//! The adapter against a local server that speaks the documented `generateContent` protocol:
//! it checks the key header and the request shape the way the API does, and answers from a
//! script. This file holds that server and the shared helpers; the tests are grouped by theme:
//! `request_shape.rs`, `answers.rs`, `retries.rs`, `key_rotation.rs`, `configuration.rs` and
//! `schema_conversion.rs`.
use std::collections::VecDeque;
use std::sync::Mutex;

use axum::extract::State;
use axum::http::{HeaderMap as AxHeaders, StatusCode as AxStatus, Uri};
use axum::response::{IntoResponse, Response};
use axum::Router;

use super::*;
use crate::domain::artifact::ArtifactType;
use crate::providers::http::test_support::serve;
use crate::providers::keys::ManualProviderClock;

mod answers;
mod configuration;
mod key_rotation;
mod request_shape;
mod retries;
mod schema_conversion;

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
