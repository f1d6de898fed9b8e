//! The pipeline with engines built from configuration: OpenAI-compatible ASR and chat servers
//! (local axum servers speaking the documented protocol) and a real recording.
use std::sync::{Arc, Mutex};

use axum::extract::{Multipart, State};
use axum::routing::post;
use axum::{Json, Router};
use serde_json::{json, Value};

use crate::helpers::{data_file, TestApp, TestOptions};

#[derive(Default)]
struct Seen {
    audio_bytes: usize,
    model: Option<String>,
    language: Option<String>,
    chat_requests: Vec<Value>,
}

async fn transcriptions(State(seen): State<Arc<Mutex<Seen>>>, mut form: Multipart) -> Json<Value> {
    while let Some(field) = form.next_field().await.unwrap() {
        let name = field.name().unwrap_or("").to_string();
        let bytes = field.bytes().await.unwrap();
        let mut s = seen.lock().unwrap();
        match name.as_str() {
            "file" => s.audio_bytes = bytes.len(),
            "model" => s.model = Some(String::from_utf8_lossy(&bytes).into()),
            "language" => s.language = Some(String::from_utf8_lossy(&bytes).into()),
            _ => {}
        }
    }
    Json(json!({
        "task": "transcribe", "language": "english", "duration": 63.6,
        "text": "Good morning. Let's plan the sprint.",
        "segments": [
            {"id": 0, "start": 0.5, "end": 11.0, "text": " Good morning.", "avg_logprob": -0.1, "no_speech_prob": 0.01},
            {"id": 1, "start": 11.5, "end": 20.0, "text": " Let's plan the sprint.", "avg_logprob": -0.2, "no_speech_prob": 0.02}
        ]
    }))
}

async fn chat(State(seen): State<Arc<Mutex<Seen>>>, Json(body): Json<Value>) -> Json<Value> {
    seen.lock().unwrap().chat_requests.push(body);
    let minutes = json!({
        "title": "Sprint planning", "date": null, "participants": ["Speaker 1"],
        "summary": "The team planned the sprint.", "key_points": ["Kubernetes staging"],
        "decisions": [{"text": "Move staging", "segment_ids": ["seg_0002"]}],
        "action_items": [], "risks": [], "open_questions": []
    });
    Json(json!({
        "id": "chatcmpl-1", "object": "chat.completion", "model": "qwen2.5-7b-instruct",
        "choices": [{"index": 0, "finish_reason": "stop",
                     "message": {"role": "assistant", "content": minutes.to_string()}}],
        "usage": {"prompt_tokens": 321, "completion_tokens": 89, "total_tokens": 410}
    }))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn configured_openai_compatible_servers_produce_minutes_from_a_real_mp3() {
    let seen = Arc::new(Mutex::new(Seen::default()));
    let server = Router::new()
        .route("/v1/audio/transcriptions", post(transcriptions))
        .route("/v1/chat/completions", post(chat))
        .with_state(seen.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}/v1", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, server).await.unwrap() });

    let asr_base = base.clone();
    let t = TestApp::with(TestOptions {
        engines_from_config: true,
        configure: Box::new(move |c| {
            c.asr.openai.base_url = asr_base.clone();
            c.asr.openai.model = "Systran/faster-whisper-small".into();
            c.llm.openai.base_url = asr_base;
            c.llm.openai.model = "qwen2.5-7b-instruct".into();
        }),
        ..Default::default()
    })
    .await;
    let token = t.login("oai").await;
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
    let duration = status["audio_duration"].as_f64().unwrap();
    assert!(
        (duration - 63.6).abs() < 0.2,
        "decoded mp3 duration {duration}"
    );

    {
        let s = seen.lock().unwrap();
        // 16 kHz mono s16 WAV of the whole meeting: 44-byte header + 2 bytes per sample.
        let expected = 44 + (duration * 16_000.0) as usize * 2;
        assert!(
            s.audio_bytes.abs_diff(expected) < 3200,
            "normalized wav sent: {} vs {expected}",
            s.audio_bytes
        );
        assert_eq!(s.model.as_deref(), Some("Systran/faster-whisper-small"));
        assert_eq!(s.language.as_deref(), Some("en"));
        let chat = &s.chat_requests[0];
        assert_eq!(chat["response_format"]["type"], "json_schema");
        assert_eq!(
            chat["response_format"]["json_schema"]["name"],
            "meeting_minutes"
        );
        assert!(chat["messages"][1]["content"]
            .as_str()
            .unwrap()
            .contains("[seg_0002] Speaker 1: Let's plan the sprint."));
    }
    let (_, transcript) = t
        .get(&format!("/api/v1/tasks/{task_id}/transcript"), &token)
        .await;
    assert_eq!(transcript["segments"][0]["text"], "Good morning.");
    assert_eq!(transcript["language"], "en");
    let (_, artifacts) = t
        .get(&format!("/api/v1/tasks/{task_id}/artifacts"), &token)
        .await;
    let id = artifacts["artifacts_by_type"]["meeting_minutes"][0]["artifact_id"]
        .as_str()
        .unwrap();
    let (_, detail) = t.get(&format!("/api/v1/artifacts/{id}"), &token).await;
    assert_eq!(
        detail["artifact"]["content_object"]["title"],
        "Sprint planning"
    );
    assert_eq!(
        detail["artifact"]["lineage"]["model"],
        "qwen2.5-7b-instruct"
    );
    assert_eq!(detail["artifact"]["lineage"]["prompt_tokens"], 321);
}
