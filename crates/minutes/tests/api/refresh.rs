//! `POST /auth/refresh`: dev login's refresh tokens rotate, a reused one revokes its family,
//! concurrent refreshes of one token let exactly one through, expired and disabled are refused.
use axum::body::Body;
use axum::http::{header, Method, Request, StatusCode};
use serde_json::{json, Value};
use tower::ServiceExt;

use crate::helpers::{TestApp, TestOptions};

async fn login(t: &TestApp, username: &str) -> Value {
    let (code, body) = t
        .request(
            Method::POST,
            "/api/v1/auth/dev/login",
            None,
            Body::from(json!({"username": username}).to_string()),
            Some("application/json"),
        )
        .await;
    assert_eq!(code, StatusCode::OK, "{body}");
    body
}

async fn refresh(t: &TestApp, token: &Value) -> (StatusCode, Value) {
    t.request(
        Method::POST,
        "/api/v1/auth/refresh",
        None,
        Body::from(json!({"refresh_token": token}).to_string()),
        Some("application/json"),
    )
    .await
}

async fn refused(t: &TestApp, token: &Value) {
    let (code, body) = refresh(t, token).await;
    assert_eq!(code, StatusCode::UNAUTHORIZED, "{body}");
    assert_eq!(body["code"], "not_authenticated");
}

/// The first column of `sql`'s rows, read around the store; none of them is null.
async fn raw(t: &TestApp, sql: &str) -> Vec<String> {
    t.raw_texts(sql)
        .await
        .into_iter()
        .map(|v| v.expect("a non-null column"))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refresh_token_buys_a_working_access_token_and_the_next_refresh_token() {
    let t = TestApp::new().await;
    let session = login(&t, "rf_alice").await;
    let first = session["refresh_token"].as_str().unwrap();
    assert!(first.starts_with("mr_") && first.len() == 67, "{first}");
    assert_eq!(session["refresh_expires_in"], 30 * 24 * 3600);
    // Only the hash is stored.
    let stored = raw(&t, "SELECT token_hash FROM refresh_tokens").await;
    assert_eq!(stored.len(), 1);
    assert!(!stored[0].contains(&first[3..]) && stored[0].len() == 64);

    let (code, next) = refresh(&t, &session["refresh_token"]).await;
    assert_eq!(code, StatusCode::OK, "{next}");
    assert_eq!(next["token_type"], "bearer");
    assert_eq!(next["user_id"], session["user_id"]);
    assert_eq!(next["tenant_id"], session["tenant_id"]);
    assert_eq!(next["expires_in"], session["expires_in"]);
    assert_eq!(next["refresh_expires_in"], session["refresh_expires_in"]);
    assert_ne!(next["refresh_token"], session["refresh_token"]);
    let access = next["access_token"].as_str().unwrap();
    let (code, tasks) = t.get("/api/v1/tasks", access).await;
    assert_eq!(code, StatusCode::OK, "{tasks}");

    // The chain goes on with each new token.
    let (code, third) = refresh(&t, &next["refresh_token"]).await;
    assert_eq!(code, StatusCode::OK, "{third}");
    let (_, audit) = t
        .get("/api/v1/admin/audit?action=auth.refresh", access)
        .await;
    assert_eq!(
        audit["entries"].as_array().map(Vec::len),
        Some(2),
        "{audit}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_used_token_presented_again_revokes_its_whole_family() {
    let t = TestApp::new().await;
    let session = login(&t, "rf_reuse").await;
    let (code, second) = refresh(&t, &session["refresh_token"]).await;
    assert_eq!(code, StatusCode::OK, "{second}");
    // The first token again (a copy someone kept): refused, and the family's live token dies too.
    refused(&t, &session["refresh_token"]).await;
    refused(&t, &second["refresh_token"]).await;
    // Another login is another family, untouched.
    let other = login(&t, "rf_reuse").await;
    let (code, body) = refresh(&t, &other["refresh_token"]).await;
    assert_eq!(code, StatusCode::OK, "{body}");
    let admin = body["access_token"].as_str().unwrap();
    let (_, audit) = t
        .get("/api/v1/admin/audit?action=auth.refresh_reuse", admin)
        .await;
    let entries = audit["entries"].as_array().unwrap();
    assert_eq!(entries.len(), 1, "{audit}");
    assert_eq!(entries[0]["user_id"], session["user_id"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn of_two_concurrent_refreshes_of_one_token_exactly_one_succeeds() {
    let t = TestApp::new().await;
    for round in 0..5 {
        let session = login(&t, &format!("rf_race{round}")).await;
        let send = || {
            let req = Request::builder()
                .method(Method::POST)
                .uri("/api/v1/auth/refresh")
                .header(header::CONTENT_TYPE, "application/json")
                .body(Body::from(
                    json!({"refresh_token": session["refresh_token"]}).to_string(),
                ))
                .unwrap();
            let router = t.router.clone();
            tokio::spawn(async move { router.oneshot(req).await.unwrap() })
        };
        let (a, b) = tokio::join!(send(), send());
        let mut codes = [a.unwrap().status(), b.unwrap().status()];
        codes.sort();
        assert_eq!(
            codes,
            [StatusCode::OK, StatusCode::UNAUTHORIZED],
            "round {round}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expired_malformed_and_unknown_tokens_are_refused() {
    let t = TestApp::new().await;
    let session = login(&t, "rf_expired").await;
    t.clock.advance_ms(30 * 24 * 3600 * 1000 + 1000);
    refused(&t, &session["refresh_token"]).await;
    for bad in [
        json!("mr_short"),
        json!(format!("mr_{}", "0".repeat(64))),
        json!(""),
    ] {
        refused(&t, &bad).await;
    }
    let (code, _) = t
        .request(
            Method::POST,
            "/api/v1/auth/refresh",
            None,
            Body::from("{}"),
            Some("application/json"),
        )
        .await;
    assert_eq!(code, StatusCode::UNPROCESSABLE_ENTITY);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_disabled_user_cannot_refresh_and_keeps_the_token_unused() {
    let t = TestApp::new().await;
    let session = login(&t, "rf_disabled").await;
    let user = session["user_id"].as_str().unwrap();
    let sql = |active: bool| {
        format!("UPDATE users SET is_active = {active} WHERE id = '{user}' RETURNING id")
    };
    assert_eq!(raw(&t, &sql(false)).await, [user]);
    refused(&t, &session["refresh_token"]).await;
    // Refused without being used up: once re-enabled it still works, and is not a "reuse".
    assert_eq!(raw(&t, &sql(true)).await, [user]);
    let (code, body) = refresh(&t, &session["refresh_token"]).await;
    assert_eq!(code, StatusCode::OK, "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refresh_is_not_found_without_dev_login() {
    let t = TestApp::with(TestOptions {
        configure: Box::new(|c| c.auth.dev_login = false),
        ..Default::default()
    })
    .await;
    let (code, body) = refresh(&t, &json!(format!("mr_{}", "0".repeat(64)))).await;
    assert_eq!(code, StatusCode::NOT_FOUND, "{body}");
    assert_eq!(body["code"], "not_found");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refreshes_spend_the_users_login_budget() {
    let t = TestApp::with(TestOptions {
        configure: Box::new(|c| c.rate_limit.login_per_minute = 2),
        ..Default::default()
    })
    .await;
    let session = login(&t, "rf_limited").await;
    let mut token = session["refresh_token"].clone();
    for _ in 0..2 {
        let (code, body) = refresh(&t, &token).await;
        assert_eq!(code, StatusCode::OK, "{body}");
        token = body["refresh_token"].clone();
    }
    let (code, body) = refresh(&t, &token).await;
    assert_eq!(code, StatusCode::TOO_MANY_REQUESTS, "{body}");
    // The limit answered before the rotation: the token is still unused, not reused.
    let used = raw(
        &t,
        "SELECT id FROM refresh_tokens WHERE used_at IS NULL AND revoked_at IS NULL",
    )
    .await;
    assert_eq!(used.len(), 1);
}
