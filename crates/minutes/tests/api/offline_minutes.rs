//! `llm.provider = local`: the whole pipeline with the offline extractive generator built from
//! configuration (the ASR is an OpenAI-compatible transcription server on a local port).
use std::sync::{Arc, Mutex};

use axum::extract::{Multipart, State};
use axum::http::StatusCode;
use axum::routing::post;
use axum::{Json, Router};
use serde_json::{json, Value};

use minutes::config::LlmProviderKind;
use minutes::domain::artifact::{validate_content, ArtifactType};

use crate::helpers::{data_file, TestApp, TestOptions};

type Segments = Arc<Mutex<Vec<(f64, f64, String)>>>;

/// Answers every transcription with the scripted segments (Whisper's verbose_json shape).
async fn transcriptions(State(segments): State<Segments>, mut form: Multipart) -> Json<Value> {
    while form.next_field().await.unwrap().is_some() {}
    let segments = segments.lock().unwrap().clone();
    let text: Vec<&str> = segments.iter().map(|(_, _, t)| t.as_str()).collect();
    Json(json!({
        "task": "transcribe", "duration": 63.6, "text": text.join(" "),
        "segments": segments.iter().enumerate().map(|(i, (start, end, text))| json!({
            "id": i, "start": start, "end": end, "text": text, "avg_logprob": -0.1, "no_speech_prob": 0.01
        })).collect::<Vec<_>>()
    }))
}

/// A task run end to end with `llm.provider = local`; returns the app, a token and the task id.
async fn run_offline(
    segments: &[&str],
    output_language: &str,
    max_transcript_chars: usize,
) -> (TestApp, String, String) {
    let scripted: Vec<(f64, f64, String)> = segments
        .iter()
        .enumerate()
        .map(|(i, t)| (i as f64 * 5.0, i as f64 * 5.0 + 4.5, t.to_string()))
        .collect();
    let server = Router::new()
        .route("/v1/audio/transcriptions", post(transcriptions))
        .with_state(Arc::new(Mutex::new(scripted)));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}/v1", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, server).await.unwrap() });

    let t = TestApp::with(TestOptions {
        engines_from_config: true,
        configure: Box::new(move |c| {
            c.asr.openai.base_url = base;
            c.llm.provider = LlmProviderKind::Local;
            c.llm.max_transcript_chars = max_transcript_chars;
        }),
        ..Default::default()
    })
    .await;
    let token = t.login("offline").await;
    let key = t
        .upload(&token, &data_file("en01_sprint_planning.mp3"))
        .await;
    let (code, created) = t
        .post_json(
            "/api/v1/tasks",
            &token,
            &json!({"audio_files": [key], "meeting_type": "sprint", "asr_language": "en-US",
                    "output_language": output_language}),
        )
        .await;
    assert_eq!(code, StatusCode::CREATED, "{created}");
    let task_id = created["task_id"].as_str().unwrap().to_string();
    assert_eq!(t.run_jobs_until_idle().await, 5);
    let status = t.task_status(&token, &task_id).await;
    assert_eq!(status["state"], "success", "{status}");
    (t, token, task_id)
}

async fn segment_ids(t: &TestApp, token: &str, task_id: &str) -> Vec<String> {
    let (_, transcript) = t
        .get(&format!("/api/v1/tasks/{task_id}/transcript"), token)
        .await;
    transcript["segments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["id"].as_str().unwrap().to_string())
        .collect()
}

async fn latest(t: &TestApp, token: &str, task_id: &str, artifact_type: &str) -> Value {
    let (_, artifacts) = t
        .get(&format!("/api/v1/tasks/{task_id}/artifacts"), token)
        .await;
    let id = artifacts["artifacts_by_type"][artifact_type][0]["artifact_id"]
        .as_str()
        .unwrap_or_else(|| panic!("no {artifact_type}: {artifacts}"))
        .to_string();
    let (code, detail) = t.get(&format!("/api/v1/artifacts/{id}"), token).await;
    assert_eq!(code, StatusCode::OK, "{detail}");
    detail["artifact"].clone()
}

/// Every cited id is one of the transcript's; returns how many citations there were.
fn assert_cites_known(items: &Value, ids: &[String]) -> usize {
    let mut n = 0;
    for item in items.as_array().unwrap() {
        for id in item["segment_ids"].as_array().unwrap() {
            assert!(ids.iter().any(|x| x == id), "{id} is not a segment id");
            n += 1;
        }
    }
    n
}

const SPRINT: &[&str] = &[
    "Good morning everyone, let's plan the sprint.",
    "The staging cluster keeps running out of memory and it is blocking the release.",
    "We decided to move staging to Kubernetes next sprint.",
    "Marcus will upgrade Postgres by Friday.",
    "Priya, can you send the migration plan by Wednesday?",
    "Are we sure the vendor contract covers the extra Kubernetes nodes?",
    "I'll write the rollback runbook next week.",
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn offline_generator_writes_schema_valid_minutes_that_cite_segments() {
    let (t, token, task_id) = run_offline(SPRINT, "en-US", 48_000).await;
    let ids = segment_ids(&t, &token, &task_id).await;
    assert_eq!(ids.len(), SPRINT.len());

    let artifact = latest(&t, &token, &task_id, "meeting_minutes").await;
    let content = &artifact["content_object"];
    let valid = validate_content(ArtifactType::MeetingMinutes, content, &ids).unwrap();
    assert!(valid.dropped_citations.is_empty(), "{content:#}");
    assert_eq!(artifact["lineage"]["model"], "extractive-v1");
    assert_eq!(artifact["lineage"]["prompt_tokens"], 0);
    assert_eq!(artifact["metadata"]["llm_provider"], "local");
    assert!(content["title"]
        .as_str()
        .unwrap()
        .starts_with("Sprint meeting"));

    let actions = &content["action_items"];
    assert_eq!(actions.as_array().unwrap().len(), 3, "{content:#}");
    assert_eq!(assert_cites_known(actions, &ids), 3);
    assert_eq!(actions[0]["owner"], "Marcus");
    assert_eq!(actions[0]["task"], "Upgrade Postgres");
    assert_eq!(actions[0]["due"], "Friday");
    assert_eq!(actions[0]["segment_ids"], json!([ids[3]]));
    assert_eq!(actions[1]["owner"], "Priya");
    assert_eq!(actions[1]["due"], "Wednesday");
    // Whisper has no diarization: every segment is "Speaker 1", who said "I'll …".
    assert_eq!(actions[2]["owner"], "Speaker 1");
    assert_eq!(actions[2]["due"], "next week");
    assert_eq!(assert_cites_known(&content["decisions"], &ids), 1);
    assert_eq!(content["decisions"][0]["segment_ids"], json!([ids[2]]));
    assert_eq!(content["open_questions"].as_array().unwrap().len(), 1);

    // The other artifact types through the API, same engine.
    for kind in ["action_items", "summary_notes"] {
        let (code, queued) = t
            .post_json(
                &format!("/api/v1/tasks/{task_id}/artifacts/{kind}/generate?wait=0"),
                &token,
                &json!({}),
            )
            .await;
        assert_eq!(code, StatusCode::ACCEPTED, "{queued}");
        assert_eq!(t.run_jobs_until_idle().await, 1);
        let artifact = latest(&t, &token, &task_id, kind).await;
        let parsed = ArtifactType::parse(kind).unwrap();
        validate_content(parsed, &artifact["content_object"], &ids).unwrap();
        if kind == "action_items" {
            assert_eq!(artifact["content_object"]["items"], *actions);
        } else {
            assert!(artifact["content_object"]["sections"]
                .as_array()
                .unwrap()
                .iter()
                .any(|s| s["heading"] == "Action items"));
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn offline_generator_takes_a_long_chinese_meeting_in_one_call() {
    let mut segments = vec![
        "今天我们复盘一下订单服务昨晚的故障。",
        "Redis 连接池耗尽，导致订单接口超时。",
        "我们决定把连接池上限从五十调整到两百。",
        "监控告警由李娜负责，下周一之前补齐。",
        "我担心大促期间流量还会翻倍，存在容量风险。",
    ];
    // Past the prompt budget: an LLM would be map-reduced, the extractive engine is not.
    segments.extend(std::iter::repeat_n(
        "订单服务的连接池监控和订单接口告警都要覆盖到每一个核心链路。",
        40,
    ));
    segments.push("张伟负责周五前把连接池配置改完上线。");
    let (t, token, task_id) = run_offline(&segments, "zh-CN", 1000).await;
    let ids = segment_ids(&t, &token, &task_id).await;
    let artifact = latest(&t, &token, &task_id, "meeting_minutes").await;
    let content = &artifact["content_object"];
    validate_content(ArtifactType::MeetingMinutes, content, &ids).unwrap();
    assert_eq!(
        artifact["metadata"]["generation"]["strategy"], "single",
        "{}",
        artifact["metadata"]
    );
    assert!(content["title"].as_str().unwrap().starts_with("迭代会议"));
    let actions = content["action_items"].as_array().unwrap();
    assert_eq!(actions.len(), 2, "{content:#}");
    assert_eq!(actions[0]["owner"], "李娜");
    assert_eq!(actions[0]["due"], "下周一");
    assert_eq!(actions[0]["segment_ids"], json!([ids[3]]));
    assert_eq!(actions[1]["owner"], "张伟");
    assert_eq!(actions[1]["due"], "周五");
    assert_eq!(actions[1]["segment_ids"], json!([ids.last().unwrap()]));
    assert_eq!(content["decisions"][0]["segment_ids"], json!([ids[2]]));
    // The repeated sentence is one key point or summary sentence, not forty.
    let points = content["key_points"].as_array().unwrap();
    let mut unique = points.clone();
    unique.dedup();
    assert_eq!(&unique, points);
    let summary = content["summary"].as_str().unwrap();
    assert!(summary.matches("核心链路").count() <= 1, "{summary}");
}
