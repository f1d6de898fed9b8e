//! Status classification, Retry-After parsing, key schemes and body caps against local servers.
use axum::http::header::RETRY_AFTER;
use axum::routing::get;
use axum::Router;
use chrono::TimeZone;
use reqwest::header::HeaderValue;

use super::*;

fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
    let mut h = HeaderMap::new();
    for (k, v) in pairs {
        h.insert(*k, HeaderValue::from_static(v));
    }
    h
}

fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(1994, 11, 6, 8, 49, 0)
        .single()
        .expect("valid date")
}

#[test]
fn retry_after_accepts_seconds_dates_and_ms() {
    assert_eq!(
        parse_retry_after(&headers(&[("retry-after", "7")]), now()),
        Some(Duration::from_secs(7))
    );
    assert_eq!(
        parse_retry_after(
            &headers(&[("retry-after", "Sun, 06 Nov 1994 08:49:37 GMT")]),
            now()
        ),
        Some(Duration::from_secs(37))
    );
    assert_eq!(
        parse_retry_after(
            &headers(&[("retry-after", "Sunday, 06-Nov-94 08:49:40 GMT")]),
            now()
        ),
        Some(Duration::from_secs(40))
    );
    assert_eq!(
        parse_retry_after(
            &headers(&[("retry-after", "Sun Nov  6 08:49:50 1994")]),
            now()
        ),
        Some(Duration::from_secs(50))
    );
    // A date already past means "retry now", not a negative wait.
    assert_eq!(
        parse_retry_after(
            &headers(&[("retry-after", "Sun, 06 Nov 1994 08:00:00 GMT")]),
            now()
        ),
        Some(Duration::ZERO)
    );
    assert_eq!(
        parse_retry_after(
            &headers(&[("retry-after", "20"), ("retry-after-ms", "1500")]),
            now()
        ),
        Some(Duration::from_millis(1500))
    );
    assert_eq!(
        parse_retry_after(&headers(&[("retry-after", "soon")]), now()),
        None
    );
    assert_eq!(
        parse_retry_after(&headers(&[("retry-after", "-3")]), now()),
        None
    );
    assert_eq!(parse_retry_after(&HeaderMap::new(), now()), None);
}

#[test]
fn statuses_map_to_error_classes() {
    let class = |code: u16| {
        let status = StatusCode::from_u16(code).expect("valid status");
        classify_status(
            "p",
            status,
            &HeaderMap::new(),
            b"{\"error\":\"nope\"}",
            None,
        )
        .code()
    };
    assert_eq!(class(429), "rate_limited");
    assert_eq!(class(401), "provider_auth_failed");
    assert_eq!(class(403), "provider_auth_failed");
    for code in [400, 404, 413, 415, 422] {
        assert_eq!(class(code), "provider_rejected", "{code}");
    }
    for code in [408, 500, 502, 503, 504] {
        assert_eq!(class(code), "provider_unavailable", "{code}");
    }
    assert_eq!(class(302), "provider_invalid_response");
}

#[test]
fn exhausted_credit_is_quota_not_a_rate_limit() {
    let err = classify_status(
        "p",
        StatusCode::TOO_MANY_REQUESTS,
        &headers(&[("retry-after", "20")]),
        br#"{"error": {"message": "You exceeded your current quota", "type": "insufficient_quota", "code": "insufficient_quota"}}"#,
        None,
    );
    assert!(
        matches!(&err, ProviderError::QuotaExceeded { retry_after: Some(d), .. } if *d == Duration::from_secs(20)),
        "{err:?}"
    );
}

#[tokio::test]
async fn keys_travel_the_providers_way() {
    let router = Router::new().route(
        "/echo",
        axum::routing::post(|h: axum::http::HeaderMap| async move {
            let get = |n: &str| {
                h.get(n)
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("-")
                    .to_string()
            };
            format!("{}|{}", get("authorization"), get("x-goog-api-key"))
        }),
    );
    let base = test_support::serve(router).await;
    let url = format!("{base}/echo");
    let key = SecretString::from("k-123".to_string());
    let bearer = ProviderHttp::new("p", Duration::from_secs(5)).expect("client");
    let body = bearer
        .send(bearer.post(&url, Some(&key)), Some(&key))
        .await
        .expect("ok");
    assert_eq!(&body[..], b"Bearer k-123|-");
    let header = bearer
        .clone()
        .with_scheme(KeyScheme::Header("x-goog-api-key"));
    let body = header
        .send(header.post(&url, Some(&key)), Some(&key))
        .await
        .expect("ok");
    assert_eq!(&body[..], b"-|k-123");
    let body = header
        .send(header.post(&url, None), None)
        .await
        .expect("ok");
    assert_eq!(&body[..], b"-|-");
}

#[test]
fn rejected_detail_is_short_and_never_holds_the_key() {
    let body = format!(
        "Incorrect API key provided: sk-secret-123. {}",
        "x".repeat(5000)
    );
    let err = classify_status(
        "p",
        StatusCode::BAD_REQUEST,
        &HeaderMap::new(),
        body.as_bytes(),
        Some("sk-secret-123"),
    );
    let ProviderError::Rejected { detail, .. } = &err else {
        panic!("expected Rejected, got {err:?}");
    };
    assert!(!detail.contains("sk-secret-123"), "{detail}");
    assert!(detail.contains("[redacted]"), "{detail}");
    assert!(detail.chars().count() < 400, "{}", detail.len());
}

#[test]
fn endpoint_joins_with_one_slash() {
    assert_eq!(
        endpoint("http://h:8000/v1/", "/audio/transcriptions"),
        "http://h:8000/v1/audio/transcriptions"
    );
    assert_eq!(
        endpoint("http://h/v1", "chat/completions"),
        "http://h/v1/chat/completions"
    );
}

#[tokio::test]
async fn oversized_bodies_are_refused() {
    let base =
        test_support::serve(Router::new().route("/big", get(|| async { "y".repeat(4096) }))).await;
    let http = ProviderHttp::new("p", Duration::from_secs(5)).expect("client");
    let mut resp = http
        .client
        .get(format!("{base}/big"))
        .send()
        .await
        .expect("send");
    let err = read_body_capped("p", http.timeout, &mut resp, 1024)
        .await
        .expect_err("must fail");
    assert!(
        matches!(err, ProviderError::InvalidResponse { .. }),
        "{err:?}"
    );

    let mut resp = http
        .client
        .get(format!("{base}/big"))
        .send()
        .await
        .expect("send");
    let body = read_body_capped("p", http.timeout, &mut resp, 4096)
        .await
        .expect("fits");
    assert_eq!(body.len(), 4096);
}

#[tokio::test]
async fn rate_limit_status_carries_the_retry_hint() {
    let router = Router::new().route(
        "/x",
        axum::routing::post(|| async {
            (
                StatusCode::TOO_MANY_REQUESTS,
                [(RETRY_AFTER, "7")],
                "slow down",
            )
        }),
    );
    let base = test_support::serve(router).await;
    let http = ProviderHttp::new("p", Duration::from_secs(5)).expect("client");
    let err = http
        .send(http.post(&format!("{base}/x"), None), None)
        .await
        .expect_err("must fail");
    assert_eq!(
        err,
        ProviderError::RateLimited {
            provider: "p".into(),
            retry_after: Some(Duration::from_secs(7))
        }
    );
}

#[tokio::test]
async fn refused_connections_are_unavailable() {
    // Bind then drop to get a loopback port that nothing listens on.
    let port = {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        l.local_addr().expect("addr").port()
    };
    let http = ProviderHttp::new("p", Duration::from_secs(5)).expect("client");
    let err = http
        .send(http.post(&format!("http://127.0.0.1:{port}/x"), None), None)
        .await
        .expect_err("must fail");
    let ProviderError::Unavailable { detail, .. } = &err else {
        panic!("expected Unavailable, got {err:?}");
    };
    assert!(detail.contains("connect"), "{detail}");
}

#[test]
fn settings_serializer_hides_the_key() {
    #[derive(serde::Serialize)]
    struct S {
        #[serde(serialize_with = "serialize_redacted")]
        key: Option<SecretString>,
    }
    let json = serde_json::to_string(&S {
        key: Some(SecretString::from("sk-live-abc")),
    })
    .expect("serialize");
    assert_eq!(json, r#"{"key":"[redacted]"}"#);
}
