//! Rate limits: per user and route class, 429 with Retry-After; shared through a real Redis.
use axum::body::Body;
use axum::http::{header, Method, Request, StatusCode};
use tower::ServiceExt;

use crate::helpers::{data_file, TestApp, TestOptions};

fn limited(
    per_minute: u32,
    upload: u32,
    login: u32,
    redis: Option<(String, String)>,
) -> TestOptions {
    TestOptions {
        configure: Box::new(move |c| {
            c.rate_limit.per_minute = per_minute;
            c.rate_limit.upload_per_minute = upload;
            c.rate_limit.login_per_minute = login;
            if let Some((url, prefix)) = redis {
                c.rate_limit.redis_url = url;
                c.rate_limit.key_prefix = prefix;
            }
        }),
        ..Default::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_user_and_route_class_has_its_own_budget() {
    let t = TestApp::with(limited(5, 2, 3, None)).await;
    let alice = t.login("rl_alice").await;
    let bob = t.login("rl_bob").await;
    for i in 0..5 {
        let (code, _) = t.get("/api/v1/tasks", &alice).await;
        assert_eq!(code, StatusCode::OK, "request {i}");
    }
    let req = Request::builder()
        .uri("/api/v1/tasks")
        .header(header::AUTHORIZATION, format!("Bearer {alice}"))
        .body(Body::empty())
        .unwrap();
    let response = t.router.clone().oneshot(req).await.unwrap();
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    let retry: u64 = response.headers()[header::RETRY_AFTER]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=12).contains(&retry), "Retry-After {retry}");
    let (code, body) = t.get("/api/v1/tasks", &alice).await;
    assert_eq!(code, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(body["code"], "rate_limited");
    assert_eq!(body["retryable"], true);
    let (code, _) = t.get("/api/v1/tasks", &bob).await;
    assert_eq!(code, StatusCode::OK, "another user's budget is untouched");

    // Uploads have their own, smaller budget.
    let bytes = std::fs::read(data_file("parts/zh02_incident_review.part1.wav")).unwrap();
    for _ in 0..2 {
        let (code, _) = t.upload_bytes(&bob, "a.wav", bytes.clone()).await;
        assert_eq!(code, StatusCode::CREATED);
    }
    let (code, _) = t.upload_bytes(&bob, "a.wav", bytes).await;
    assert_eq!(code, StatusCode::TOO_MANY_REQUESTS);
    let (code, _) = t.get("/api/v1/tasks", &bob).await;
    assert_eq!(code, StatusCode::OK, "the API budget is separate");

    // Logins are limited per username.
    let login = |name: &str| {
        let body = Body::from(serde_json::json!({"username": name}).to_string());
        t.request(
            axum::http::Method::POST,
            "/api/v1/auth/dev/login",
            None,
            body,
            Some("application/json"),
        )
    };
    assert_eq!(login("rl_carol").await.0, StatusCode::OK);
    assert_eq!(login("rl_carol").await.0, StatusCode::OK);
    assert_eq!(login("rl_carol").await.0, StatusCode::OK);
    assert_eq!(login("rl_carol").await.0, StatusCode::TOO_MANY_REQUESTS);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_instances_share_one_budget_through_redis() {
    // The shared Redis on loopback (scripts/test-services.sh starts it); never skipped.
    let url = std::env::var("MINUTES_TEST_REDIS_URL")
        .ok()
        .filter(|u| !u.is_empty())
        .unwrap_or_else(|| "redis://127.0.0.1:6379".into());
    let prefix = format!("minutes:test:{}:", uuid::Uuid::new_v4().simple());
    let a = TestApp::with(limited(4, 4, 100, Some((url.clone(), prefix.clone())))).await;
    let b = TestApp::with(limited(4, 4, 100, Some((url, prefix)))).await;
    // Same secret and same user on both instances, as behind a load balancer.
    let token = a.login("rl_shared").await;
    b.login("rl_shared").await;
    assert_eq!(a.get("/api/v1/tasks", &token).await.0, StatusCode::OK);
    assert_eq!(b.get("/api/v1/tasks", &token).await.0, StatusCode::OK);
    assert_eq!(a.get("/api/v1/tasks", &token).await.0, StatusCode::OK);
    assert_eq!(b.get("/api/v1/tasks", &token).await.0, StatusCode::OK);
    let (code, body) = a.get("/api/v1/tasks", &token).await;
    assert_eq!(code, StatusCode::TOO_MANY_REQUESTS, "{body}");
    assert_eq!(
        b.get("/api/v1/tasks", &token).await.0,
        StatusCode::TOO_MANY_REQUESTS
    );
    let (_, ready) = a
        .request(Method::GET, "/ready", None, axum::body::Body::empty(), None)
        .await;
    assert_eq!(ready["dependencies"]["rate_limit"], "healthy", "{ready}");
    assert_eq!(ready["dependencies"]["rate_limit_backend"], "redis");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_default_budget_is_60_a_minute_and_forwarded_headers_do_not_reset_it() {
    let t = TestApp::with(TestOptions {
        configure: Box::new(|c| {
            c.rate_limit.enabled = true;
            c.rate_limit.per_minute = 60;
        }),
        ..Default::default()
    })
    .await;
    let token = t.login("rl_sixty").await;
    let get = |forwarded: Option<String>| {
        let mut req = Request::builder()
            .uri("/api/v1/tasks")
            .header(header::AUTHORIZATION, format!("Bearer {token}"));
        if let Some(ip) = forwarded {
            req = req
                .header("x-forwarded-for", ip.clone())
                .header("x-real-ip", ip);
        }
        t.router.clone().oneshot(req.body(Body::empty()).unwrap())
    };
    for i in 0..60 {
        // Every request claims another client address; the budget is the token's subject's.
        let response = get(Some(format!("10.0.{}.{}", i / 250, i % 250 + 1)))
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK, "request {}", i + 1);
    }
    let response = get(Some("203.0.113.9".into())).await.unwrap();
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS, "the 61st");
    let retry: u64 = response.headers()[header::RETRY_AFTER]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(
        (1..=2).contains(&retry),
        "one token refills in 1 s: {retry}"
    );
    assert_eq!(
        get(None).await.unwrap().status(),
        StatusCode::TOO_MANY_REQUESTS
    );
}
