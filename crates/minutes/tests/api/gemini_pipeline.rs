//! Gemini and the provider key pools through the whole service: engines built from
//! configuration against local servers speaking the documented protocols, `/ready`'s key
//! states, and the synchronous generate endpoint when every key rests.
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::{Multipart, State};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::IntoResponse;
use axum::routing::post;
use axum::{Json, Router};
use minutes::config::LlmProviderKind;
use minutes::providers::ProviderError;
use secrecy::SecretString;
use serde_json::{json, Value};

use crate::helpers::{data_file, TestApp, TestOptions};

#[derive(Default)]
struct Seen {
    /// The `x-goog-api-key` of every generateContent request, in order.
    keys: Vec<String>,
    bodies: Vec<Value>,
}

async fn transcriptions(mut form: Multipart) -> Json<Value> {
    while form.next_field().await.unwrap().is_some() {}
    Json(json!({
        "task": "transcribe", "language": "english", "duration": 63.6,
        "text": "Good morning. Let's plan the sprint.",
        "segments": [
            {"id": 0, "start": 0.5, "end": 11.0, "text": " Good morning.", "avg_logprob": -0.1},
            {"id": 1, "start": 11.5, "end": 20.0, "text": " Let's plan the sprint.", "avg_logprob": -0.2}
        ]
    }))
}

/// `generateContent`: the first key is over its per-minute quota, the second answers.
async fn generate_content(
    State(seen): State<Arc<Mutex<Seen>>>,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> axum::response::Response {
    let key = headers
        .get("x-goog-api-key")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    {
        let mut s = seen.lock().unwrap();
        s.keys.push(key.clone());
        s.bodies.push(body);
    }
    if key == "AIza-limited" {
        let error = json!({"error": {"code": 429, "status": "RESOURCE_EXHAUSTED",
            "message": "You exceeded your current quota.",
            "details": [{"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "60s"}]}});
        return (StatusCode::TOO_MANY_REQUESTS, Json(error)).into_response();
    }
    let minutes = json!({
        "title": "Sprint planning", "date": null, "participants": ["Speaker 1"],
        "summary": "The team planned the sprint.", "key_points": ["Kubernetes staging"],
        "decisions": [{"text": "Move staging", "segment_ids": ["seg_0002"]}],
        "action_items": [], "risks": [], "open_questions": []
    });
    Json(json!({
        "candidates": [{"content": {"role": "model", "parts": [{"text": minutes.to_string()}]},
                        "finishReason": "STOP", "index": 0}],
        "usageMetadata": {"promptTokenCount": 321, "candidatesTokenCount": 80, "thoughtsTokenCount": 9, "totalTokenCount": 410},
        "modelVersion": "gemini-2.5-flash-001"
    }))
    .into_response()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn configured_gemini_writes_minutes_past_a_rate_limited_key() {
    let seen = Arc::new(Mutex::new(Seen::default()));
    let server = Router::new()
        .route("/v1/audio/transcriptions", post(transcriptions))
        .route(
            "/v1beta/models/gemini-2.5-flash:generateContent",
            post(generate_content),
        )
        .with_state(seen.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, server).await.unwrap() });

    let url = base.clone();
    let t = TestApp::with(TestOptions {
        engines_from_config: true,
        configure: Box::new(move |c| {
            c.asr.openai.base_url = format!("{url}/v1");
            c.llm.provider = LlmProviderKind::Gemini;
            c.llm.gemini.base_url = format!("{url}/v1beta");
            c.llm.gemini.api_keys = Some(SecretString::from("AIza-limited,AIza-ok".to_string()));
        }),
        ..Default::default()
    })
    .await;
    let token = t.login("gem").await;
    let key = t
        .upload(&token, &data_file("en01_sprint_planning.mp3"))
        .await;
    let (_, created) = t
        .post_json("/api/v1/tasks", &token, &json!({"audio_files": [key], "meeting_type": "sprint", "asr_language": "en-US", "output_language": "en-US"}))
        .await;
    let task_id = created["task_id"].as_str().unwrap();
    assert_eq!(t.run_jobs_until_idle().await, 5);
    let status = t.task_status(&token, task_id).await;
    assert_eq!(status["state"], "success", "{status}");

    {
        let s = seen.lock().unwrap();
        assert_eq!(
            s.keys,
            ["AIza-limited", "AIza-ok"],
            "rotated without failing the job"
        );
        let body = &s.bodies[1];
        assert_eq!(
            body["generationConfig"]["responseMimeType"],
            "application/json"
        );
        assert_eq!(body["generationConfig"]["responseSchema"]["type"], "OBJECT");
        assert!(body["systemInstruction"]["parts"][0]["text"].is_string());
        assert!(body["contents"][0]["parts"][0]["text"]
            .as_str()
            .unwrap()
            .contains("[seg_0002] Speaker 1: Let's plan the sprint."));
    }
    let (_, artifacts) = t
        .get(&format!("/api/v1/tasks/{task_id}/artifacts"), &token)
        .await;
    let id = artifacts["artifacts_by_type"]["meeting_minutes"][0]["artifact_id"]
        .as_str()
        .unwrap();
    let (_, detail) = t.get(&format!("/api/v1/artifacts/{id}"), &token).await;
    let artifact = &detail["artifact"];
    assert_eq!(artifact["content_object"]["title"], "Sprint planning");
    assert_eq!(artifact["lineage"]["model"], "gemini-2.5-flash-001");
    assert_eq!(artifact["lineage"]["prompt_tokens"], 321);

    // `/ready` shows every key by position and state, never the key itself.
    let (code, ready) = t
        .request(Method::GET, "/ready", None, axum::body::Body::empty(), None)
        .await;
    assert_eq!(code, StatusCode::OK, "{ready}");
    assert!(!ready.to_string().contains("AIza"), "{ready}");
    let providers = ready["providers"].as_array().unwrap();
    let gemini: Vec<&Value> = providers
        .iter()
        .filter(|p| p["provider"] == "gemini")
        .collect();
    assert_eq!(gemini.len(), 2, "{ready}");
    assert_eq!(gemini[0]["key_index"], 0);
    assert_eq!(gemini[0]["state"], "rate_limited");
    assert!(gemini[0]["until"].is_string(), "{ready}");
    assert_eq!(gemini[1]["key_index"], 1);
    assert_eq!(gemini[1]["state"], "active");
    assert!(gemini[1]["until"].is_null());
    // The keyless ASR server has one slot of its own.
    assert!(
        providers
            .iter()
            .any(|p| p["provider"] == "openai-asr" && p["state"] == "active"),
        "{ready}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn generate_answers_503_while_every_llm_key_rests_and_runs_later() {
    let t = TestApp::new().await;
    let token = t.login("rest").await;
    let task_id = t.create_two_part_task(&token).await;
    t.run_jobs_until_idle().await;
    t.llm
        .failures
        .lock()
        .unwrap()
        .push_back(ProviderError::QuotaExceeded {
            provider: "scripted".into(),
            retry_after: Some(Duration::from_secs(90)),
            detail: "every API key is resting: key 0 rate_limited for 90s".into(),
        });
    let url = format!("/api/v1/tasks/{task_id}/artifacts/meeting_minutes/generate?wait=30");
    let empty = json!({});
    let waiting = t.post_json(&url, &token, &empty);
    let ((code, body), _) = tokio::join!(waiting, t.run_jobs_once_enqueued());
    assert_eq!(code, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert_eq!(body["code"], "llm_quota_exceeded");
    assert_eq!(
        body["retryable"], false,
        "resubmitting would make a second version"
    );
    assert!(
        !body["detail"].as_str().unwrap().contains("key 0"),
        "{body}"
    );
    let artifact_id = body["errors"]["artifact_id"].as_str().unwrap().to_string();
    assert_eq!(body["errors"]["status"], "queued");
    assert_eq!(t.task_status(&token, &task_id).await["state"], "success");

    // Once the keys have rested, the queued generation runs and the version appears.
    t.clock.advance_ms(10 * 60 * 1000);
    t.run_jobs_until_idle().await;
    let (code, detail) = t
        .get(&format!("/api/v1/artifacts/{artifact_id}"), &token)
        .await;
    assert_eq!(code, StatusCode::OK, "{detail}");
    assert_eq!(detail["artifact"]["version"], 2);
}
