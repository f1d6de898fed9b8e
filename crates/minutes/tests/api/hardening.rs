//! Input and browser hardening: security headers, CORS allow-list, body size limits.
use axum::body::Body;
use axum::http::{header, Method, Request, StatusCode};
use serde_json::json;
use tower::ServiceExt;

use crate::helpers::{TestApp, TestOptions};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_answers_carry_security_headers_and_cors_follows_the_allow_list() {
    let t = TestApp::with(TestOptions {
        configure: Box::new(|c| {
            c.server.cors_origins = vec!["https://app.example.com".into()];
            c.server.max_body_bytes = 2_000;
        }),
        ..Default::default()
    })
    .await;
    let token = t.login("hard").await;
    let (_, headers, _) = t.get_raw("/api/v1/tasks", &token).await;
    assert_eq!(headers[header::X_CONTENT_TYPE_OPTIONS], "nosniff");
    assert_eq!(headers[header::X_FRAME_OPTIONS], "DENY");
    assert_eq!(headers[header::REFERRER_POLICY], "no-referrer");
    assert!(headers[header::CONTENT_SECURITY_POLICY]
        .to_str()
        .unwrap()
        .contains("default-src 'none'"));

    let preflight = |origin: &'static str| {
        Request::builder()
            .method(Method::OPTIONS)
            .uri("/api/v1/tasks")
            .header(header::ORIGIN, origin)
            .header(header::ACCESS_CONTROL_REQUEST_METHOD, "POST")
            .header(
                header::ACCESS_CONTROL_REQUEST_HEADERS,
                "authorization,content-type",
            )
            .body(Body::empty())
            .unwrap()
    };
    let ok = t
        .router
        .clone()
        .oneshot(preflight("https://app.example.com"))
        .await
        .unwrap();
    assert_eq!(
        ok.headers()[header::ACCESS_CONTROL_ALLOW_ORIGIN],
        "https://app.example.com"
    );
    assert_eq!(
        ok.headers()[header::ACCESS_CONTROL_ALLOW_CREDENTIALS],
        "true"
    );
    let evil = t
        .router
        .clone()
        .oneshot(preflight("https://evil.example.net"))
        .await
        .unwrap();
    assert!(evil
        .headers()
        .get(header::ACCESS_CONTROL_ALLOW_ORIGIN)
        .is_none());

    // Bodies over the limit are refused before parsing.
    let big = json!({"audio_files": ["x"], "meeting_type": "y".repeat(5_000)});
    let (code, body) = t.post_json("/api/v1/tasks", &token, &big).await;
    assert_eq!(code, StatusCode::PAYLOAD_TOO_LARGE, "{body}");
    assert_eq!(body["retryable"], false);
}
