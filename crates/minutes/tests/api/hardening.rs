//! Input and browser hardening: security headers, CORS allow-list, body size and JSON depth
//! limits, clamped pagination, and header/body read timeouts over a real TCP connection.
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::http::{header, Method, Request, StatusCode};
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_bodies_are_limited_in_depth_and_size_with_the_error_body() {
    let t = TestApp::new().await;
    let token = t.login("depth").await;
    let nested = |levels: usize| {
        format!(
            r#"{{"name": {}1{}}}"#,
            "[".repeat(levels),
            "]".repeat(levels)
        )
    };
    let post = |body: String| {
        t.request(
            Method::POST,
            "/api/v1/folders",
            Some(&token),
            Body::from(body),
            Some("application/json"),
        )
    };
    let (code, body) = post(nested(40)).await;
    assert_eq!(code, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(body["code"], "json_too_deep");
    assert_eq!(body["retryable"], false);
    assert!(body["detail"].as_str().unwrap().contains("32"));
    // Under the limit the body parses (and fails validation as an ordinary wrong type).
    let (code, body) = post(nested(20)).await;
    assert_eq!(code, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    // Brackets inside strings are data, not nesting.
    let (code, body) = post(json!({"name": "[".repeat(100)}).to_string()).await;
    assert_eq!(code, StatusCode::CREATED, "{body}");
    // A declared length over the limit is refused before reading; so is a wrong content type.
    let req = Request::builder()
        .method(Method::POST)
        .uri("/api/v1/folders")
        .header(header::AUTHORIZATION, format!("Bearer {token}"))
        .header(header::CONTENT_TYPE, "application/json")
        .header(header::CONTENT_LENGTH, "999999999")
        .body(Body::from("{}"))
        .unwrap();
    let response = t.router.clone().oneshot(req).await.unwrap();
    assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);
    let (code, body) = t
        .request(
            Method::POST,
            "/api/v1/folders",
            Some(&token),
            Body::from(r#"{"name": "x"}"#),
            Some("text/plain"),
        )
        .await;
    assert_eq!(code, StatusCode::UNSUPPORTED_MEDIA_TYPE, "{body}");
    assert_eq!(body["code"], "unsupported_media_type");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn list_parameters_are_clamped_not_trusted() {
    let t = TestApp::new().await;
    let token = t.login("pages").await;
    for uri in [
        "/api/v1/tasks?limit=1000000000&offset=9000000000000",
        "/api/v1/tasks?limit=-5&offset=-7",
        "/api/v1/hotword-sets?limit=1000000000&offset=-1",
        "/api/v1/admin/audit?limit=99999999&offset=-3",
    ] {
        let (code, body) = t.get(uri, &token).await;
        assert_eq!(code, StatusCode::OK, "{uri}: {body}");
    }
    let (code, body) = t.get("/api/v1/search?q=x&limit=1000", &token).await;
    assert_eq!(code, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
}

/// Serves `t`'s router on a loopback port with the configured header timeout.
async fn serve_tcp(t: &TestApp) -> std::net::SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let timeout = Duration::from_secs(t.app.config.server.header_read_timeout_secs);
    tokio::spawn(minutes::http::serve(
        listener,
        t.router.clone(),
        timeout,
        std::future::pending(),
    ));
    addr
}

/// Sends `bytes` and reads until the server closes the connection (or `limit` passes); returns
/// what was read and how long the server kept the connection open.
async fn send_and_wait_for_close(
    addr: std::net::SocketAddr,
    bytes: &[u8],
    limit: Duration,
) -> (String, Duration) {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    let started = Instant::now();
    // The server may close before all of a huge request is written; that is fine.
    let _ = stream.write_all(bytes).await;
    let mut answer = Vec::new();
    let read = tokio::time::timeout(limit, async {
        let mut buf = [0u8; 4096];
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => answer.extend_from_slice(&buf[..n]),
            }
        }
    })
    .await;
    assert!(
        read.is_ok(),
        "the server kept the connection open past {limit:?}"
    );
    (
        String::from_utf8_lossy(&answer).into_owned(),
        started.elapsed(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_clients_are_cut_off_by_the_read_timeouts() {
    let t = TestApp::with(TestOptions {
        configure: Box::new(|c| {
            c.server.header_read_timeout_secs = 1;
            c.server.body_read_timeout_secs = 1;
        }),
        ..Default::default()
    })
    .await;
    let addr = serve_tcp(&t).await;
    // A complete request is answered normally over the same server.
    let (answer, _) = send_and_wait_for_close(
        addr,
        b"GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        Duration::from_secs(10),
    )
    .await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    // Headers that never finish (slowloris), and a connection that sends nothing at all.
    for partial in [
        &b"GET /api/v1/tasks HTTP/1.1\r\nHost: x\r\nX-Slow: "[..],
        &b""[..],
    ] {
        let (_, open) = send_and_wait_for_close(addr, partial, Duration::from_secs(10)).await;
        assert!(open < Duration::from_secs(5), "open for {open:?}");
    }
    // A body that stops arriving: 408 with the error body, then the connection closes.
    let (answer, open) = send_and_wait_for_close(
        addr,
        b"POST /api/v1/auth/dev/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"username\":",
        Duration::from_secs(10),
    )
    .await;
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(answer.contains("request_timeout"), "{answer}");
    assert!(open < Duration::from_secs(5), "open for {open:?}");
    // A 1 MB header is refused by the parser (431), never a server error.
    let mut huge = b"GET /api/v1/tasks HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ".to_vec();
    huge.extend(std::iter::repeat_n(b'A', 1 << 20));
    huge.extend_from_slice(b"\r\n\r\n");
    let (answer, _) = send_and_wait_for_close(addr, &huge, Duration::from_secs(10)).await;
    assert!(
        answer.is_empty()
            || answer.starts_with("HTTP/1.1 431")
            || answer.starts_with("HTTP/1.1 400"),
        "{answer}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_routes_and_methods_answer_with_the_error_body() {
    let t = TestApp::new().await;
    let token = t.login("hard_routes").await;
    let (code, body) = t
        .request(
            Method::PUT,
            "/api/v1/tasks",
            Some(&token),
            Body::empty(),
            None,
        )
        .await;
    assert_eq!(code, StatusCode::METHOD_NOT_ALLOWED, "{body}");
    assert_eq!(body["code"], "method_not_allowed");
    assert_eq!(body["retryable"], false);
    let (code, body) = t
        .request(
            Method::GET,
            "/api/v1/no-such-thing",
            Some(&token),
            Body::empty(),
            None,
        )
        .await;
    assert_eq!(code, StatusCode::NOT_FOUND, "{body}");
    assert_eq!(body["code"], "not_found");
    let (code, body) = t
        .request(Method::GET, "/elsewhere", None, Body::empty(), None)
        .await;
    assert_eq!(code, StatusCode::NOT_FOUND, "{body}");
    assert_eq!(body["code"], "not_found");
}
