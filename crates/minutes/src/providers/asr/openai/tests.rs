use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::extract::{Multipart, State};
use axum::http::{HeaderMap as AxHeaders, StatusCode};
use axum::response::IntoResponse;
use axum::routing::post;
use axum::Router;

use super::*;
use crate::providers::http::test_support::serve;
use crate::providers::keys::{KeyState, ManualProviderClock};

/// What the fake server saw: multipart fields by name, the file's metadata, the auth header.
#[derive(Debug, Default)]
struct Seen {
    fields: HashMap<String, Vec<u8>>,
    file_name: Option<String>,
    file_type: Option<String>,
    auth: Option<String>,
}

type Shared = Arc<Mutex<Seen>>;

async fn record(seen: &Shared, headers: &AxHeaders, mut mp: Multipart) {
    let mut out = Seen {
        auth: headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string),
        ..Seen::default()
    };
    while let Some(field) = mp.next_field().await.expect("multipart field") {
        let name = field.name().unwrap_or_default().to_string();
        if name == "file" {
            out.file_name = field.file_name().map(str::to_string);
            out.file_type = field.content_type().map(str::to_string);
        }
        let bytes = field.bytes().await.expect("field bytes");
        out.fields.insert(name, bytes.to_vec());
    }
    *seen.lock().expect("lock") = out;
}

/// A server whose transcription handler records the request and replies with `status`/`body`.
async fn fake(
    status: StatusCode,
    extra: Vec<(&'static str, &'static str)>,
    body: &'static str,
) -> (String, Shared) {
    let seen: Shared = Arc::default();
    let handler = move |State(seen): State<Shared>, headers: AxHeaders, mp: Multipart| {
        let extra = extra.clone();
        async move {
            record(&seen, &headers, mp).await;
            let mut resp = (status, body).into_response();
            for (k, v) in extra {
                resp.headers_mut()
                    .insert(k, v.parse().expect("header value"));
            }
            resp
        }
    };
    let router = Router::new()
        .route("/v1/audio/transcriptions", post(handler))
        .layer(axum::extract::DefaultBodyLimit::max(64 * 1024 * 1024))
        .with_state(seen.clone());
    (serve(router).await, seen)
}

fn settings(base: &str) -> OpenAiAsrSettings {
    OpenAiAsrSettings {
        base_url: format!("{base}/v1"),
        api_key: Some(SecretString::from("sk-test-key")),
        api_keys: None,
        api_keys_file: None,
        model: "whisper-large-v3".into(),
        timeout_secs: 5,
    }
}

/// An adapter whose retry waits pass on a manual clock instead of in real time.
fn manual(settings: OpenAiAsrSettings) -> (OpenAiAsr, Arc<ManualProviderClock>) {
    let clock = Arc::new(ManualProviderClock::at(1_700_000_000_000));
    let asr = OpenAiAsr::with_pool(
        settings,
        &EgressPolicy::default(),
        KeyPoolSettings::default(),
        clock.clone(),
    )
    .expect("adapter");
    (asr, clock)
}

/// A WAV-named file with non-repeating bytes so truncation or reordering would show.
fn audio(len: usize) -> (tempfile::TempDir, std::path::PathBuf, Vec<u8>) {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("meeting.wav");
    let bytes: Vec<u8> = (0..len).map(|i| (i * 31 % 251) as u8).collect();
    std::fs::write(&path, &bytes).expect("write wav");
    (dir, path, bytes)
}

fn request(path: &std::path::Path, language: &str, hotwords: &[&str]) -> TranscribeRequest {
    TranscribeRequest {
        progress: None,
        audio_wav: path.to_path_buf(),
        duration_secs: 42.0,
        language: language.into(),
        hotwords: hotwords.iter().map(|s| s.to_string()).collect(),
        ..Default::default()
    }
}

const VERBOSE: &str = r#"{
    "task": "transcribe", "language": "chinese", "duration": 12.5,
    "text": "大家好 let's start",
    "segments": [
        {"id": 0, "seek": 0, "start": 0.0, "end": 4.2, "text": " 大家好", "avg_logprob": -0.1, "no_speech_prob": 0.01},
        {"id": 1, "seek": 0, "start": 4.2, "end": 12.5, "text": " let's start ", "no_speech_prob": 0.02},
        {"id": 2, "seek": 0, "start": 12.5, "end": 12.5, "text": "  "}
    ]
}"#;

#[tokio::test]
async fn transcribes_segments_and_sends_the_documented_fields() {
    let (base, seen) = fake(StatusCode::OK, vec![], VERBOSE).await;
    // 300 KB so the upload spans many chunks of the streamed body.
    let (_dir, path, bytes) = audio(300_000);
    let asr = OpenAiAsr::new(settings(&base)).expect("adapter");
    let out = asr
        .transcribe(&request(&path, "zh-CN", &["Kubernetes", "张伟", "OKR"]))
        .await
        .expect("transcription");

    assert_eq!(out.provider, "openai-asr");
    assert_eq!(out.language.as_deref(), Some("zh"));
    assert!(out.fallback_errors.is_empty());
    assert_eq!(out.segments.len(), 2, "{:?}", out.segments);
    assert_eq!(out.segments[0].text, "大家好");
    assert_eq!((out.segments[0].start, out.segments[0].end), (0.0, 4.2));
    let conf = out.segments[0]
        .confidence
        .expect("confidence from avg_logprob");
    assert!((conf - (-0.1f64).exp()).abs() < 1e-9, "{conf}");
    assert_eq!(out.segments[1].text, "let's start");
    assert_eq!(out.segments[1].confidence, None);
    assert!(out.segments.iter().all(|s| s.speaker.is_none()));

    let seen = seen.lock().expect("lock");
    let field =
        |n: &str| String::from_utf8(seen.fields.get(n).cloned().unwrap_or_default()).expect("utf8");
    assert_eq!(field("model"), "whisper-large-v3");
    assert_eq!(field("response_format"), "verbose_json");
    assert_eq!(field("timestamp_granularities[]"), "segment");
    assert_eq!(field("temperature"), "0");
    assert_eq!(field("language"), "zh");
    assert_eq!(field("prompt"), "Kubernetes, 张伟, OKR");
    assert_eq!(
        seen.fields.get("file"),
        Some(&bytes),
        "file bytes arrived intact"
    );
    assert_eq!(seen.file_name.as_deref(), Some("audio.wav"));
    assert_eq!(seen.file_type.as_deref(), Some("audio/wav"));
    assert_eq!(seen.auth.as_deref(), Some("Bearer sk-test-key"));
}

#[tokio::test]
async fn mixed_language_lets_the_server_detect() {
    let (base, seen) = fake(StatusCode::OK, vec![], VERBOSE).await;
    let (_dir, path, _) = audio(1000);
    let mut s = settings(&base);
    s.api_key = None;
    let asr = OpenAiAsr::new(s).expect("adapter");
    asr.transcribe(&request(&path, "zh-CN+en-US", &[]))
        .await
        .expect("ok");
    let seen = seen.lock().expect("lock");
    assert!(
        !seen.fields.contains_key("language"),
        "{:?}",
        seen.fields.keys()
    );
    assert!(!seen.fields.contains_key("prompt"));
    assert_eq!(seen.auth, None);
}

#[test]
fn task_languages_map_to_iso639_1() {
    assert_eq!(iso639_1("zh-CN").as_deref(), Some("zh"));
    assert_eq!(iso639_1("en-US").as_deref(), Some("en"));
    assert_eq!(iso639_1("ja-JP").as_deref(), Some("ja"));
    assert_eq!(iso639_1("ko-KR").as_deref(), Some("ko"));
    assert_eq!(iso639_1("zh-CN+en-US"), None);
    assert_eq!(iso639_1(""), None);
}

#[test]
fn hotword_prompt_stays_within_budget() {
    let many: Vec<String> = (0..500).map(|i| format!("term{i}")).collect();
    let prompt = hotword_prompt(&many).expect("prompt");
    assert_eq!(prompt.split(", ").count(), MAX_PROMPT_WORDS);
    assert!(prompt.starts_with("term0, term1, "));
    // CJK has no spaces: "项目代号7" costs 4 characters + 1 for the ASCII part = 5 words.
    let cjk: Vec<String> = (0..100)
        .map(|i| format!("项目代号{}", i % 10))
        .chain((0..100).map(|i| format!("会议{i:03}")))
        .collect();
    let prompt = hotword_prompt(&cjk).expect("prompt");
    assert_eq!(
        prompt.split(", ").count(),
        10 + (MAX_PROMPT_WORDS - 50) / 3,
        "{prompt}"
    );
    let dupes = vec![
        "A".to_string(),
        " A ".to_string(),
        String::new(),
        "B".to_string(),
    ];
    assert_eq!(hotword_prompt(&dupes).as_deref(), Some("A, B"));
    assert_eq!(hotword_prompt(&[]), None);
}

#[tokio::test]
async fn text_only_answer_becomes_one_segment() {
    let (base, _) = fake(StatusCode::OK, vec![], r#"{"text": " hello world "}"#).await;
    let (_dir, path, _) = audio(1000);
    let out = OpenAiAsr::new(settings(&base))
        .expect("adapter")
        .transcribe(&request(&path, "en-US", &[]))
        .await
        .expect("ok");
    assert_eq!(
        out.segments,
        vec![AsrSegment {
            start: 0.0,
            end: 42.0,
            text: "hello world".into(),
            speaker: None,
            confidence: None
        }]
    );

    let (base, _) = fake(
        StatusCode::OK,
        vec![],
        r#"{"text": "hi", "duration": 3.5, "segments": []}"#,
    )
    .await;
    let out = OpenAiAsr::new(settings(&base))
        .expect("adapter")
        .transcribe(&request(&path, "en-US", &[]))
        .await
        .expect("ok");
    assert_eq!(out.segments.len(), 1);
    assert_eq!(out.segments[0].end, 3.5);
}

async fn error_for(
    status: StatusCode,
    extra: Vec<(&'static str, &'static str)>,
    body: &'static str,
) -> ProviderError {
    let (base, _) = fake(status, extra, body).await;
    let (_dir, path, _) = audio(1000);
    manual(settings(&base))
        .0
        .transcribe(&request(&path, "en-US", &[]))
        .await
        .expect_err("must fail")
}

#[tokio::test]
async fn rate_limit_carries_retry_after() {
    let err = error_for(
        StatusCode::TOO_MANY_REQUESTS,
        vec![("retry-after", "7")],
        "{}",
    )
    .await;
    assert_eq!(
        err,
        ProviderError::QuotaExceeded {
            provider: "openai-asr".into(),
            retry_after: Some(Duration::from_secs(7)),
            detail: "every API key is resting: key 0 rate_limited for 7s".into(),
        }
    );
}

#[tokio::test]
async fn server_error_is_unavailable() {
    let err = error_for(StatusCode::INTERNAL_SERVER_ERROR, vec![], "boom").await;
    assert!(
        matches!(&err, ProviderError::Unavailable { detail, .. } if detail.contains("boom")),
        "{err:?}"
    );
}

#[tokio::test]
async fn unauthorized_is_auth() {
    let err = error_for(
        StatusCode::UNAUTHORIZED,
        vec![],
        r#"{"error":{"message":"Incorrect API key provided: sk-test-key"}}"#,
    )
    .await;
    let ProviderError::Auth { detail, .. } = &err else {
        panic!("expected Auth, got {err:?}");
    };
    assert!(!detail.contains("sk-test-key"), "{detail}");
}

#[tokio::test]
async fn garbage_body_is_invalid_response() {
    let err = error_for(StatusCode::OK, vec![], "<html>proxy error</html>").await;
    assert!(
        matches!(err, ProviderError::InvalidResponse { .. }),
        "{err:?}"
    );
    let err = error_for(StatusCode::OK, vec![], r#"{"segments":[{"start":"x"}]}"#).await;
    assert!(
        matches!(err, ProviderError::InvalidResponse { .. }),
        "{err:?}"
    );
}

#[tokio::test]
async fn stalled_server_times_out() {
    let router = Router::new().route(
        "/v1/audio/transcriptions",
        post(|| async {
            std::future::pending::<()>().await;
            "unreachable"
        }),
    );
    let base = serve(router).await;
    let (_dir, path, _) = audio(1000);
    let mut s = settings(&base);
    s.timeout_secs = 1;
    let err = OpenAiAsr::new(s)
        .expect("adapter")
        .transcribe(&request(&path, "en-US", &[]))
        .await
        .expect_err("must time out");
    assert_eq!(
        err,
        ProviderError::Timeout {
            provider: "openai-asr".into(),
            after: Duration::from_secs(1)
        }
    );
}

#[tokio::test]
async fn missing_audio_is_rejected_without_a_request() {
    let asr = OpenAiAsr::new(settings("http://127.0.0.1:9")).expect("adapter");
    let err = asr
        .transcribe(&request(
            std::path::Path::new("/nonexistent/audio.wav"),
            "en-US",
            &[],
        ))
        .await
        .expect_err("must fail");
    assert!(matches!(err, ProviderError::Rejected { .. }), "{err:?}");
}

#[test]
fn settings_defaults_and_redaction() {
    let s: OpenAiAsrSettings =
        serde_json::from_str(r#"{"base_url": "http://h/v1", "api_key": "sk-zzz"}"#).expect("parse");
    assert_eq!(s.model, "whisper-1");
    assert_eq!(s.timeout_secs, 1800);
    assert!(!format!("{s:?}").contains("sk-zzz"));
    let json = serde_json::to_string(&s).expect("serialize");
    assert!(
        !json.contains("sk-zzz") && json.contains("[redacted]"),
        "{json}"
    );
    assert!(
        serde_json::from_str::<OpenAiAsrSettings>(r#"{"base_url": "x", "modle": "y"}"#).is_err()
    );
}

#[tokio::test]
async fn a_rate_limited_key_hands_over_to_the_next_one() {
    // The server limits the first key and serves the second.
    let seen: Arc<Mutex<Vec<String>>> = Arc::default();
    // The upload is read before answering, as real servers do: answering early and closing
    // the connection would turn the 429 into a transport error on the client side.
    let handler = |State(seen): State<Arc<Mutex<Vec<String>>>>,
                   headers: AxHeaders,
                   _upload: axum::body::Bytes| async move {
        let auth = headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string();
        seen.lock().expect("lock").push(auth.clone());
        if auth == "Bearer sk-first" {
            (StatusCode::TOO_MANY_REQUESTS, [("retry-after", "40")], "{}").into_response()
        } else {
            (StatusCode::OK, VERBOSE).into_response()
        }
    };
    let router = Router::new()
        .route("/v1/audio/transcriptions", post(handler))
        .layer(axum::extract::DefaultBodyLimit::max(64 * 1024 * 1024))
        .with_state(seen.clone());
    let base = serve(router).await;
    let mut s = settings(&base);
    s.api_key = Some(SecretString::from("sk-first"));
    s.api_keys = Some(SecretString::from("sk-second"));
    let (asr, clock) = manual(s);
    let (_dir, path, _) = audio(1000);
    let out = asr
        .transcribe(&request(&path, "en-US", &[]))
        .await
        .expect("second key answers");
    assert_eq!(out.segments.len(), 2);
    assert_eq!(
        *seen.lock().expect("lock"),
        vec![
            "Bearer sk-first".to_string(),
            "Bearer sk-second".to_string()
        ]
    );
    assert!(clock.slept().is_empty(), "rotation must not wait");
    let status = asr.key_pool().status();
    assert_eq!(status[0].state, KeyState::RateLimited);
    assert_eq!(
        status[0].until.map(|t| t.timestamp_millis()),
        Some(clock.now_ms() + 40_000)
    );
    assert_eq!(status[1].state, KeyState::Active);
}
