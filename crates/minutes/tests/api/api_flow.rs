//! The whole user journey through the API on the scripted engines.
use axum::http::{Method, StatusCode};
use serde_json::json;

use crate::helpers::TestApp;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upload_two_parts_run_pipeline_read_transcript_and_generate_a_second_version() {
    let t = TestApp::new().await;
    let token = t.login("alice").await;
    let task_id = t.create_two_part_task(&token).await;

    let status = t.task_status(&token, &task_id).await;
    assert_eq!(status["state"], "queued");
    assert_eq!(status["progress"], 0.0);

    let ran = t.run_jobs_until_idle().await;
    assert_eq!(ran, 5, "one job per stage");

    let status = t.task_status(&token, &task_id).await;
    assert_eq!(status["state"], "success", "{status}");
    assert_eq!(status["progress"], 100.0);
    assert_eq!(status["estimated_time"], 0);
    let duration = status["audio_duration"].as_f64().unwrap();
    assert!(
        (duration - (12.426 + 26.107)).abs() < 0.01,
        "joined duration {duration}"
    );

    // Parts keep their order (file_order put part 1 first) and offsets on the joined timeline.
    let (_, task) = t.get(&format!("/api/v1/tasks/{task_id}"), &token).await;
    let files = task["files"].as_array().unwrap();
    assert_eq!(
        files[0]["original_filename"],
        "zh02_incident_review.part1.wav"
    );
    assert_eq!(
        files[1]["offset_secs"]
            .as_f64()
            .map(|o| (o - 12.426).abs() < 0.002),
        Some(true),
        "{task}"
    );

    let (code, transcript) = t
        .get(&format!("/api/v1/tasks/{task_id}/transcript"), &token)
        .await;
    assert_eq!(code, StatusCode::OK, "{transcript}");
    let segs = transcript["segments"].as_array().unwrap();
    assert_eq!(segs.len(), 2);
    assert_eq!(segs[0]["id"], "seg_0001");
    assert_eq!(segs[1]["part_index"], 1);
    assert!((segs[1]["part_time"].as_f64().unwrap() - (13.0 - 12.426)).abs() < 0.002);
    assert_eq!(transcript["revision"], 1);
    assert_eq!(transcript["speaker_mapping"]["Speaker 2"], "Speaker 2");

    let (_, artifacts) = t
        .get(&format!("/api/v1/tasks/{task_id}/artifacts"), &token)
        .await;
    assert_eq!(artifacts["total_count"], 1);
    let v1 = &artifacts["artifacts_by_type"]["meeting_minutes"][0];
    assert_eq!(v1["version"], 1);
    let (_, detail) = t
        .get(
            &format!("/api/v1/artifacts/{}", v1["artifact_id"].as_str().unwrap()),
            &token,
        )
        .await;
    let content: serde_json::Value =
        serde_json::from_str(detail["artifact"]["content"].as_str().unwrap()).unwrap();
    // The original clients' shape: Markdown under `content`, action items as strings, our
    // structured items kept alongside.
    let ours = &detail["artifact"]["content_object"];
    assert_eq!(content["decisions"], ours["decisions"]);
    assert_eq!(content["action_item_details"], ours["action_items"]);
    assert!(
        content["action_items"]
            .as_array()
            .unwrap()
            .iter()
            .all(|i| i.is_string()),
        "{content}"
    );
    assert!(
        content["content"]
            .as_str()
            .unwrap()
            .starts_with(&format!("# {}", ours["title"].as_str().unwrap())),
        "{content}"
    );
    assert!(content["created_at"].is_string());
    // The made-up citation was dropped and reported, never kept.
    assert_eq!(content["decisions"][0]["segment_ids"], json!(["seg_0002"]));
    assert_eq!(
        detail["artifact"]["metadata"]["dropped_citations"],
        json!(["seg_9999"])
    );
    assert_eq!(detail["artifact"]["lineage"]["transcript_revision"], 1);
    assert_eq!(detail["artifact"]["lineage"]["prompt_tokens"], 100);
    assert!(t
        .llm
        .last_prompt
        .lock()
        .unwrap()
        .as_deref()
        .unwrap()
        .contains("[seg_0002] Speaker 2: Redis"));

    // Generate v2 through the API: queued as a job, then run.
    let (code, queued) = t
        .post_json(
            &format!("/api/v1/tasks/{task_id}/artifacts/meeting_minutes/generate?wait=0"),
            &token,
            &json!({}),
        )
        .await;
    assert_eq!(code, StatusCode::ACCEPTED, "{queued}");
    assert_eq!(t.run_jobs_until_idle().await, 1);
    let (_, versions) = t
        .get(
            &format!("/api/v1/tasks/{task_id}/artifacts/meeting_minutes/versions"),
            &token,
        )
        .await;
    assert_eq!(versions["total_count"], 2);
    assert_eq!(versions["versions"][0]["version"], 2);
    assert_eq!(
        versions["versions"][0]["artifact_id"],
        queued["artifact_id"]
    );
    let (code, same) = t
        .get(
            &format!(
                "/api/v1/tasks/{task_id}/artifacts/{}",
                queued["artifact_id"].as_str().unwrap()
            ),
            &token,
        )
        .await;
    assert_eq!(code, StatusCode::OK);
    assert_eq!(same["artifact"]["version"], 2);

    // History records every transition with a reason; costs were recorded once per provider call.
    let (_, history) = t
        .get(&format!("/api/v1/tasks/{task_id}/history"), &token)
        .await;
    let states: Vec<&str> = history["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["state"].as_str().unwrap())
        .collect();
    assert_eq!(
        states,
        [
            "queued",
            "running",
            "transcribing",
            "identifying",
            "correcting",
            "summarizing",
            "success"
        ]
    );
    let steps = history["steps"].as_array().unwrap();
    assert!(steps
        .iter()
        .any(|s| s["step"] == "identify_speakers" && s["status"] == "skipped"));
    let owner = minutes::store::Owner {
        tenant_id: "tenant_alice".into(),
        user_id: "user_alice".into(),
    };
    let task = t
        .app
        .store
        .get_task(&owner, &task_id)
        .await
        .unwrap()
        .unwrap();
    let costs = t
        .app
        .store
        .cost_records(&task.tenant_id, &task_id)
        .await
        .unwrap();
    assert_eq!(costs.iter().filter(|c| c.api_type == "asr").count(), 1);
    assert_eq!(costs.iter().filter(|c| c.api_type == "llm").count(), 2);

    // Rename and delete.
    let (code, _) = t
        .send_json(
            Method::PATCH,
            &format!("/api/v1/tasks/{task_id}/rename"),
            &token,
            &json!({"name": "复盘"}),
        )
        .await;
    assert_eq!(code, StatusCode::OK);
    let (_, list) = t.get("/api/v1/tasks?state=success", &token).await;
    assert_eq!(list[0]["name"], "复盘");
    let (code, _) = t
        .request(
            Method::DELETE,
            &format!("/api/v1/tasks/{task_id}"),
            Some(&token),
            axum::body::Body::empty(),
            None,
        )
        .await;
    assert_eq!(code, StatusCode::NO_CONTENT);
    let (code, _) = t.get(&format!("/api/v1/tasks/{task_id}"), &token).await;
    assert_eq!(code, StatusCode::NOT_FOUND);

    let audit = t
        .app
        .store
        .audit_log("tenant_alice", &minutes::store::AuditFilter::latest(100))
        .await
        .unwrap();
    let actions: Vec<&str> = audit.iter().map(|a| a.action.as_str()).collect();
    assert_eq!(
        actions,
        [
            "upload.create",
            "upload.create",
            "task.create",
            "transcript.view",
            "artifact.view",
            "artifact.generate",
            "artifact.view",
            "task.delete"
        ]
    );
    assert!(audit
        .iter()
        .all(|a| a.user_id.as_deref() == Some("user_alice")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn voiceprint_failure_ends_in_partial_success_with_minutes() {
    let t = TestApp::with(crate::helpers::TestOptions {
        voiceprint: Some(std::sync::Arc::new(crate::engines::ScriptedVoiceprint {
            fail: true,
        })),
        ..Default::default()
    })
    .await;
    let token = t.login("bob").await;
    let task_id = t.create_two_part_task(&token).await;
    t.run_jobs_until_idle().await;
    let status = t.task_status(&token, &task_id).await;
    assert_eq!(status["state"], "partial_success", "{status}");
    let (code, _) = t
        .get(&format!("/api/v1/tasks/{task_id}/transcript"), &token)
        .await;
    assert_eq!(code, StatusCode::OK);
    let (_, artifacts) = t
        .get(&format!("/api/v1/tasks/{task_id}/artifacts"), &token)
        .await;
    assert_eq!(artifacts["total_count"], 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn voiceprint_matches_name_speakers_in_the_mapping_and_the_prompt() {
    let t = TestApp::with(crate::helpers::TestOptions {
        voiceprint: Some(std::sync::Arc::new(crate::engines::ScriptedVoiceprint {
            fail: false,
        })),
        ..Default::default()
    })
    .await;
    let token = t.login("carol").await;
    let task_id = t.create_two_part_task(&token).await;
    t.run_jobs_until_idle().await;
    assert_eq!(t.task_status(&token, &task_id).await["state"], "success");
    let (_, transcript) = t
        .get(&format!("/api/v1/tasks/{task_id}/transcript"), &token)
        .await;
    assert_eq!(transcript["speaker_mapping"]["Speaker 2"], "张伟");
    assert_eq!(transcript["speaker_mapping"]["Speaker 1"], "Speaker 1");
    assert!(t
        .llm
        .last_prompt
        .lock()
        .unwrap()
        .as_deref()
        .unwrap()
        .contains("[seg_0002] 张伟:"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_long_poll_returns_when_the_state_changes() {
    let t = TestApp::new().await;
    let token = t.login("dave").await;
    let task_id = t.create_two_part_task(&token).await;
    let url = format!("/api/v1/tasks/{task_id}/status?wait=30");
    let poll = t.get(&url, &token);
    let run = async {
        t.run_jobs_until_idle().await;
    };
    let ((code, status), ()) = tokio::join!(poll, run);
    assert_eq!(code, StatusCode::OK);
    assert_ne!(
        status["state"], "queued",
        "the long-poll returned on a change: {status}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_documented_route_exists_and_health_answers() {
    let t = TestApp::new().await;
    for (method, path, _, authenticated) in minutes::http::openapi::ROUTES {
        let uri = format!(
            "/api/v1{}",
            path.replace("{file_path}", "uploads/x/y.wav")
                .replace(['{', '}'], "")
        );
        let uri = uri.trim_end_matches('/').to_string();
        let method = Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
        let (code, body) = t
            .request(method.clone(), &uri, None, axum::body::Body::empty(), None)
            .await;
        assert_ne!(
            code,
            StatusCode::NOT_FOUND,
            "{method} {uri} is documented but not routed"
        );
        assert_ne!(code, StatusCode::METHOD_NOT_ALLOWED, "{method} {uri}");
        if *authenticated {
            assert_eq!(
                code,
                StatusCode::UNAUTHORIZED,
                "{method} {uri} must require a token: {body}"
            );
            assert_eq!(body["code"], "not_authenticated");
        }
    }
    let (code, ready) = t
        .request(Method::GET, "/ready", None, axum::body::Body::empty(), None)
        .await;
    assert_eq!(code, StatusCode::OK, "{ready}");
    assert_eq!(ready["dependencies"]["database"], "healthy");
    assert_eq!(ready["dependencies"]["queue"], "healthy");
    assert_eq!(ready["dependencies"]["queue_backend"], "database");
    assert_eq!(ready["dependencies"]["rate_limit"], "healthy");
    assert_eq!(ready["dependencies"]["rate_limit_backend"], "memory");
    let (code, spec) = t
        .request(
            Method::GET,
            "/openapi.json",
            None,
            axum::body::Body::empty(),
            None,
        )
        .await;
    assert_eq!(code, StatusCode::OK);
    assert!(spec["paths"]["/api/v1/tasks/{id}/status"]["get"].is_object());
    let (code, _) = t
        .request(Method::GET, "/docs/", None, axum::body::Body::empty(), None)
        .await;
    assert_eq!(code, StatusCode::OK, "swagger UI is served offline");
}
