//! Uploads: every accepted format, content sniffing (not extensions), size limits.
use axum::body::Body;
use axum::http::{header, Method, Request, StatusCode};
use tower::ServiceExt;

use crate::helpers::{data_file, files_under, TestApp, TestOptions};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_supported_format_is_accepted_and_recognized_by_content() {
    let t = TestApp::new().await;
    let token = t.login("up").await;
    for (ext, format) in [
        ("wav", "wav"),
        ("mp3", "mp3"),
        ("m4a", "mp4"),
        ("ogg", "ogg"),
        ("opus", "ogg"),
        ("flac", "flac"),
    ] {
        let bytes = std::fs::read(data_file(&format!("en02_customer_escalation.{ext}"))).unwrap();
        let size = bytes.len() as u64;
        // The name lies; the content decides.
        let (code, body) = t.upload_bytes(&token, "recording.txt", bytes).await;
        assert_eq!(code, StatusCode::CREATED, "{ext}: {body}");
        assert_eq!(body["format"], format, "{ext}");
        assert_eq!(body["file_size"], size);
        assert_eq!(body["sha256"].as_str().unwrap().len(), 64);
        let key = body["file_path"].as_str().unwrap();
        assert!(key.starts_with("uploads/user_up/"), "{key}");
        assert!(!key.contains("recording"), "keys are opaque: {key}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn non_audio_is_refused_with_415_and_nothing_is_stored() {
    let t = TestApp::new().await;
    let token = t.login("bad").await;
    let png = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR".to_vec();
    for (name, bytes) in [
        (
            "notes.mp3",
            b"hello, this is plain text pretending to be audio".to_vec(),
        ),
        ("image.wav", png),
        (
            "random.ogg",
            (0..4096u32)
                .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
                .collect(),
        ),
    ] {
        let (code, body) = t.upload_bytes(&token, name, bytes).await;
        assert_eq!(code, StatusCode::UNSUPPORTED_MEDIA_TYPE, "{name}: {body}");
        assert_eq!(body["code"], "input_unsupported_format");
    }
    let (code, body) = t.upload_bytes(&token, "empty.wav", Vec::new()).await;
    assert_eq!(code, StatusCode::BAD_REQUEST, "{body}");
    let uploads_dir = t.dir.path().join("objects/uploads");
    let stored = files_under(&uploads_dir);
    assert!(
        stored.is_empty(),
        "refused uploads leave nothing behind: {stored:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn uploads_over_the_limit_get_413_declared_or_streamed() {
    let t = TestApp::with(TestOptions {
        configure: Box::new(|c| c.server.max_upload_bytes = 200_000),
        ..Default::default()
    })
    .await;
    let token = t.login("big").await;
    // Declared too large: refused before the body is read.
    let req = Request::builder()
        .method(Method::POST)
        .uri("/api/v1/upload")
        .header(header::AUTHORIZATION, format!("Bearer {token}"))
        .header(header::CONTENT_TYPE, "multipart/form-data; boundary=x")
        .header(header::CONTENT_LENGTH, "900000000")
        .body(Body::from("--x--"))
        .unwrap();
    let response = t.router.clone().oneshot(req).await.unwrap();
    assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);
    // Streamed past the limit (a real WAV of ~2 MB): cut off, and no partial object remains.
    let bytes = std::fs::read(data_file("en02_customer_escalation.wav")).unwrap();
    let (code, body) = t.upload_bytes(&token, "long.wav", bytes).await;
    assert_eq!(code, StatusCode::PAYLOAD_TOO_LARGE, "{body}");
    assert_eq!(body["code"], "input_too_large");
    assert!(files_under(&t.dir.path().join("objects/uploads")).is_empty());
    // Within the limit still works.
    let small = std::fs::read(data_file("parts/zh02_incident_review.part1.wav")).unwrap()
        [..150_000]
        .to_vec();
    let (code, body) = t.upload_bytes(&token, "small.wav", small).await;
    assert_eq!(code, StatusCode::CREATED, "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_corrupt_part_fails_the_task_naming_the_part_and_not_retrying() {
    let t = TestApp::new().await;
    let token = t.login("corrupt").await;
    let good = t
        .upload(&token, &data_file("parts/zh02_incident_review.part1.wav"))
        .await;
    // FLAC magic followed by garbage: passes sniffing, cannot be decoded.
    let mut bytes = b"fLaC".to_vec();
    bytes.extend((0..50_000u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 7) as u8));
    let (code, body) = t.upload_bytes(&token, "broken.flac", bytes).await;
    assert_eq!(code, StatusCode::CREATED, "{body}");
    let bad = body["file_path"].as_str().unwrap().to_string();
    let (code, task) = t
        .post_json(
            "/api/v1/tasks",
            &token,
            &serde_json::json!({"audio_files": [good, bad], "meeting_type": "x"}),
        )
        .await;
    assert_eq!(code, StatusCode::CREATED);
    let task_id = task["task_id"].as_str().unwrap();
    assert_eq!(
        t.run_jobs_until_idle().await,
        1,
        "a permanent error is not retried"
    );
    let status = t.task_status(&token, task_id).await;
    assert_eq!(status["state"], "failed", "{status}");
    assert_eq!(status["error_code"], "input_corrupted");
    assert_eq!(status["retryable"], false);
    assert_eq!(status["failed_stage"], "prepare_audio");
    let message = status["error_message"].as_str().unwrap();
    assert!(
        message.contains("file 2") && message.contains("broken.flac"),
        "{message}"
    );
    assert_eq!(t.asr.calls.load(std::sync::atomic::Ordering::SeqCst), 0);
}
