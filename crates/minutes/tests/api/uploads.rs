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
        if ext == "wav" {
            // Declared by the header, read by the upload's decoder probe.
            let duration = body["duration"].as_f64().unwrap();
            assert!((50.0..70.0).contains(&duration), "{duration}");
        }
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
    // FLAC magic followed by garbage: the upload's decoder probe refuses it outright.
    let garbage = |n: u32| (0..n).map(|i| (i.wrapping_mul(2_654_435_761) >> 7) as u8);
    let mut flac = b"fLaC".to_vec();
    flac.extend(garbage(50_000));
    let (code, body) = t.upload_bytes(&token, "broken.flac", flac).await;
    assert_eq!(code, StatusCode::UNSUPPORTED_MEDIA_TYPE, "{body}");
    // An MP4 longer than the probe window may keep its index at its end, so a broken one
    // gets through the upload; the task then fails on it by name.
    let mut bytes = b"\0\0\0\x20ftypisom\0\0\x02\0isomiso2avc1mp41".to_vec();
    bytes.extend(garbage(1_200_000));
    let (code, body) = t.upload_bytes(&token, "broken.m4a", bytes).await;
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
        message.contains("file 2") && message.contains("broken.m4a"),
        "{message}"
    );
    assert_eq!(t.asr.calls.load(std::sync::atomic::Ordering::SeqCst), 0);
}

/// A 16 kHz mono 16-bit WAV header whose RIFF and data sizes claim about 4 GB.
fn wav_claiming_4_gb(body_bytes: usize) -> Vec<u8> {
    let mut b = Vec::new();
    b.extend_from_slice(b"RIFF");
    b.extend_from_slice(&0xFFFF_FFF0u32.to_le_bytes());
    b.extend_from_slice(b"WAVEfmt ");
    b.extend_from_slice(&16u32.to_le_bytes());
    b.extend_from_slice(&1u16.to_le_bytes()); // PCM
    b.extend_from_slice(&1u16.to_le_bytes()); // mono
    b.extend_from_slice(&16_000u32.to_le_bytes());
    b.extend_from_slice(&32_000u32.to_le_bytes());
    b.extend_from_slice(&2u16.to_le_bytes());
    b.extend_from_slice(&16u16.to_le_bytes());
    b.extend_from_slice(b"data");
    b.extend_from_slice(&0xFFFF_FFC0u32.to_le_bytes());
    b.resize(b.len() + body_bytes, 0);
    b
}

/// MPEG-1 Layer III, 128 kbit/s, 44.1 kHz, mono frames of silence whose first frame carries a
/// Xing tag declaring 100 hours of frames.
fn mp3_claiming_100_hours(frames: usize) -> Vec<u8> {
    const FRAME_LEN: usize = 417; // 144 * 128000 / 44100
    let header = [0xFF, 0xFB, 0x90, 0xC0];
    let declared_frames = (100.0 * 3600.0 * 44_100.0 / 1152.0) as u32;
    let mut out = Vec::new();
    for i in 0..frames {
        let mut frame = vec![0u8; FRAME_LEN];
        frame[..4].copy_from_slice(&header);
        if i == 0 {
            // After the 17 bytes of mono side information.
            frame[21..25].copy_from_slice(b"Xing");
            frame[25..29].copy_from_slice(&1u32.to_be_bytes()); // frame count present
            frame[29..33].copy_from_slice(&declared_frames.to_be_bytes());
        }
        out.extend_from_slice(&frame);
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_uploads_are_refused_and_leave_nothing_behind() {
    let t = TestApp::with(TestOptions {
        configure: Box::new(|c| c.server.max_upload_bytes = 300_000),
        ..Default::default()
    })
    .await;
    let token = t.login("hostile").await;
    let uploads = t.dir.path().join("objects/uploads");
    let mut elf = b"\x7fELF\x02\x01\x01\0".to_vec();
    elf.resize(4096, 0);
    let mut zip = b"PK\x03\x04\x14\0\0\0\x08\0".to_vec();
    zip.resize(4096, 7);
    let pdf = b"%PDF-1.7\n1 0 obj << /Type /Catalog >> endobj\ntrailer\n%%EOF\n".to_vec();
    for (name, bytes, status, codes) in [
        (
            "song.mp3",
            elf,
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            &["input_unsupported_format"][..],
        ),
        (
            "song.mp3",
            pdf,
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            &["input_unsupported_format"],
        ),
        (
            "song.mp3",
            zip,
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            &["input_unsupported_format"],
        ),
        (
            "huge.wav",
            wav_claiming_4_gb(2048),
            StatusCode::UNPROCESSABLE_ENTITY,
            &["input_too_long", "input_corrupted"],
        ),
        (
            "long.mp3",
            mp3_claiming_100_hours(40),
            StatusCode::UNPROCESSABLE_ENTITY,
            &["input_too_long"],
        ),
    ] {
        let (code, body) = t.upload_bytes(&token, name, bytes).await;
        assert_eq!(code, status, "{name}: {body}");
        assert!(
            codes.contains(&body["code"].as_str().unwrap_or_default()),
            "{name}: {body}"
        );
        assert!(
            files_under(&uploads).is_empty(),
            "{name} left a file behind"
        );
    }

    // Exactly at the limit is accepted; one byte more is cut off and nothing remains.
    let wav = std::fs::read(data_file("parts/zh02_incident_review.part1.wav")).unwrap();
    let mut at_limit = wav[..300_000].to_vec();
    // A cut WAV keeps its header's size; make it honest so only the length is under test.
    let data_len = (at_limit.len() - 44) as u32;
    at_limit[40..44].copy_from_slice(&data_len.to_le_bytes());
    let (code, body) = t.upload_bytes(&token, "limit.wav", at_limit.clone()).await;
    assert_eq!(code, StatusCode::CREATED, "{body}");
    let key = body["file_path"].as_str().unwrap().to_string();
    let mut over = at_limit;
    over.push(0);
    let (code, body) = t.upload_bytes(&token, "limit+1.wav", over).await;
    assert_eq!(code, StatusCode::PAYLOAD_TOO_LARGE, "{body}");
    assert_eq!(files_under(&uploads).len(), 1, "only the accepted upload");

    // Hostile names cannot steer where a file goes: the key is the server's, the name is
    // metadata without path parts, direction overrides or unbounded length.
    let small = wav[..100_000].to_vec();
    let long_name = format!("{}.wav", "a".repeat(10_000));
    for name in [
        "../../x.wav",
        "..%2f..%2fx.wav",
        "evil\u{202E}vaw.exe",
        long_name.as_str(),
    ] {
        let (code, body) = t.upload_bytes(&token, name, small.clone()).await;
        assert_eq!(code, StatusCode::CREATED, "{name:.40}: {body}");
        let stored = body["file_path"].as_str().unwrap();
        assert!(stored.starts_with("uploads/user_hostile/"), "{stored}");
        assert!(!stored.contains(".."), "{stored}");
        let original = body["original_filename"].as_str().unwrap();
        assert!(
            !original.contains('/') && !original.contains('\u{202E}'),
            "{original:.40}"
        );
        assert!(original.chars().count() <= 200, "{}", original.len());
    }
    // A NUL in the name is refused by the multipart parser or stripped; never stored raw.
    let (code, body) = t.upload_bytes(&token, "a\0b.wav", small).await;
    if code == StatusCode::CREATED {
        assert_eq!(body["original_filename"], "ab.wav");
    } else {
        assert_eq!(code, StatusCode::BAD_REQUEST, "{body}");
    }
    for file in files_under(&t.dir.path().join("objects")) {
        assert!(
            file.starts_with(&uploads),
            "stored outside uploads: {file:?}"
        );
    }
    assert!(files_under(&uploads).iter().any(|f| f
        .to_string_lossy()
        .ends_with(key.rsplit('/').next().unwrap())));
}
