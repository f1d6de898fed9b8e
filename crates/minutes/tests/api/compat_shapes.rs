//! Drop-in compatibility with the original frontend and scripts: CORS for the status poll's
//! headers, `/health` dependencies and the `/api/v1/` root, FastAPI-style 422 `loc`s for JSON
//! bodies, dev login with any name (and safe ids), and template timestamps.
use axum::body::Body;
use axum::http::{header, Method, Request, StatusCode};
use serde_json::{json, Value};
use tower::ServiceExt;

use crate::helpers::{TestApp, TestOptions};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_status_polls_preflight_is_allowed_for_configured_origins() {
    let t = TestApp::with(TestOptions {
        configure: Box::new(|c| c.server.cors_origins = vec!["http://localhost:5173".into()]),
        ..Default::default()
    })
    .await;
    let preflight = |origin: &str, headers: &str| {
        Request::builder()
            .method(Method::OPTIONS)
            .uri("/api/v1/tasks/task_0123456789abcdef/status")
            .header(header::ORIGIN, origin)
            .header(header::ACCESS_CONTROL_REQUEST_METHOD, "GET")
            .header(header::ACCESS_CONTROL_REQUEST_HEADERS, headers)
            .body(Body::empty())
            .unwrap()
    };
    let ok = t
        .router
        .clone()
        .oneshot(preflight(
            "http://localhost:5173",
            "authorization, cache-control, pragma",
        ))
        .await
        .unwrap();
    assert!(ok.status().is_success(), "{}", ok.status());
    assert_eq!(
        ok.headers()[header::ACCESS_CONTROL_ALLOW_ORIGIN],
        "http://localhost:5173"
    );
    let allowed = ok.headers()[header::ACCESS_CONTROL_ALLOW_HEADERS]
        .to_str()
        .unwrap()
        .to_ascii_lowercase();
    for name in [
        "authorization",
        "content-type",
        "cache-control",
        "pragma",
        "x-api-key",
        "last-event-id",
        "range",
    ] {
        assert!(allowed.contains(name), "{name} not in {allowed}");
    }
    let evil = t
        .router
        .clone()
        .oneshot(preflight("https://evil.example.net", "cache-control"))
        .await
        .unwrap();
    assert!(evil
        .headers()
        .get(header::ACCESS_CONTROL_ALLOW_ORIGIN)
        .is_none());
}

async fn public_get(t: &TestApp, uri: &str) -> (StatusCode, Value) {
    t.request(Method::GET, uri, None, Body::empty(), None).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_reports_the_database_and_the_root_answers_with_and_without_a_slash() {
    let t = TestApp::new().await;
    let (code, root) = public_get(&t, "/api/v1").await;
    assert_eq!(code, StatusCode::OK, "{root}");
    assert_eq!(root["docs"], "/docs");
    let (code, slashed) = public_get(&t, "/api/v1/").await;
    assert_eq!(code, StatusCode::OK, "{slashed}");
    assert_eq!(slashed, root);

    for uri in ["/api/v1/health", "/health"] {
        let (code, health) = public_get(&t, uri).await;
        assert_eq!(code, StatusCode::OK, "{uri}: {health}");
        assert_eq!(health["status"], "healthy");
        assert_eq!(health["dependencies"], json!({"database": "healthy"}));
        assert!(health["timestamp"].is_string() && health["version"].is_string());
    }
    // A database that is gone is reported, and liveness still answers 200.
    t.app.sql.close().await;
    let (code, health) = public_get(&t, "/api/v1/health").await;
    assert_eq!(code, StatusCode::OK, "{health}");
    assert_eq!(health["status"], "healthy");
    assert_eq!(health["dependencies"]["database"], "unhealthy");
}

/// A POST of raw `body` text as JSON.
async fn post_text(t: &TestApp, uri: &str, token: &str, body: &str) -> (StatusCode, Value) {
    t.request(
        Method::POST,
        uri,
        Some(token),
        Body::from(body.to_string()),
        Some("application/json"),
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn body_errors_carry_fastapi_locations_and_types() {
    let t = TestApp::new().await;
    let token = t.login("loc").await;
    let first_error = |(code, body): (StatusCode, Value)| {
        assert_eq!(code, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        assert!(body["detail"].is_string(), "{body}");
        assert_eq!(body["retryable"], false, "{body}");
        (
            body["errors"][0]["loc"].clone(),
            body["errors"][0]["type"].clone(),
        )
    };
    // Missing.
    let missing = first_error(t.post_json("/api/v1/folders", &token, &json!({})).await);
    assert_eq!(missing, (json!(["body", "name"]), json!("missing")));
    // Mistyped.
    let mistyped = first_error(
        t.post_json("/api/v1/folders", &token, &json!({"name": 5}))
            .await,
    );
    assert_eq!(mistyped, (json!(["body", "name"]), json!("string_type")));
    let (_, err) = t
        .post_json(
            "/api/v1/tasks/estimate",
            &token,
            &json!({"audio_duration": "long"}),
        )
        .await;
    assert_eq!(err["errors"][0]["loc"], json!(["body", "audio_duration"]));
    assert_eq!(err["errors"][0]["type"], "float_parsing");
    // Nested.
    let nested = first_error(
        t.post_json(
            "/api/v1/tasks",
            &token,
            &json!({"audio_files": ["uploads/x"], "meeting_type": "m",
                    "prompt_instance": {"template_id": ["tpl"]}}),
        )
        .await,
    );
    assert_eq!(
        nested,
        (
            json!(["body", "prompt_instance", "template_id"]),
            json!("string_type")
        )
    );
    // Invalid JSON: where decoding stopped, as a character offset.
    let (code, err) = post_text(&t, "/api/v1/folders", &token, r#"{"name": "文件夹",}"#).await;
    assert_eq!(code, StatusCode::UNPROCESSABLE_ENTITY, "{err}");
    assert_eq!(err["code"], "invalid_json");
    assert_eq!(err["errors"][0]["type"], "json_invalid");
    // The offset of the `}` after the trailing comma, as Python's `json` reports it.
    assert_eq!(err["errors"][0]["loc"], json!(["body", 15]), "{err}");
    let (_, list) = t.get("/api/v1/folders", &token).await;
    assert_eq!(list["total"], 0, "nothing was created: {list}");
}

async fn dev_login(t: &TestApp, username: &str) -> (StatusCode, Value) {
    t.request(
        Method::POST,
        "/api/v1/auth/dev/login",
        None,
        Body::from(json!({"username": username}).to_string()),
        Some("application/json"),
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dev_login_takes_any_name_and_derives_safe_stable_ids() {
    let t = TestApp::new().await;
    let safe = |id: &str| {
        id.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
    };
    let mut seen = std::collections::BTreeSet::new();
    for name in ["张三", "test.user", "a b", "../etc", "plain_name-1"] {
        let (code, first) = dev_login(&t, name).await;
        assert_eq!(code, StatusCode::OK, "{name}: {first}");
        let (user, tenant) = (
            first["user_id"].as_str().unwrap().to_string(),
            first["tenant_id"].as_str().unwrap().to_string(),
        );
        assert!(safe(&user) && safe(&tenant), "{name}: {user} {tenant}");
        assert!(user.starts_with("user_") && tenant.starts_with("tenant_"));
        assert!(seen.insert(user.clone()), "{name}: {user} is not distinct");
        // Stable: the same name (surrounding spaces trimmed) is the same user.
        let (_, again) = dev_login(&t, &format!("  {name} ")).await;
        assert_eq!(again["user_id"], first["user_id"], "{name}");
        assert_eq!(again["tenant_id"], first["tenant_id"], "{name}");
        // The session works, and the name as typed is the user row's name.
        let token = first["access_token"].as_str().unwrap();
        assert_eq!(t.get("/api/v1/tasks", token).await.0, StatusCode::OK);
        let row = t.app.store.get_user(&user).await.unwrap().unwrap();
        assert_eq!(row.username, name);
    }
    // Today's ids for plain names are unchanged.
    let (_, plain) = dev_login(&t, "plain_name-1").await;
    assert_eq!(plain["user_id"], "user_plain_name-1");
    assert_eq!(plain["tenant_id"], "tenant_plain_name-1");

    // A name spelling out another name's derived id does not become that user.
    let (_, zhang) = dev_login(&t, "张三").await;
    let hex = zhang["user_id"]
        .as_str()
        .unwrap()
        .trim_start_matches("user_");
    let (code, err) = dev_login(&t, hex).await;
    assert_eq!(code, StatusCode::CONFLICT, "{err}");

    let long = "名".repeat(64);
    assert_eq!(dev_login(&t, &long).await.0, StatusCode::OK);
    for bad in [
        "名".repeat(65),
        "a\u{0}b".into(),
        "tab\there".into(),
        "line\nbreak".into(),
        "   ".into(),
        "idp:alice".into(),
    ] {
        let (code, err) = dev_login(&t, &bad).await;
        assert_eq!(code, StatusCode::UNPROCESSABLE_ENTITY, "{bad:?}: {err}");
        assert_eq!(
            err["errors"][0]["loc"],
            json!(["body", "username"]),
            "{err}"
        );
    }
    let (code, err) = t
        .request(
            Method::POST,
            "/api/v1/auth/dev/login",
            None,
            Body::from("{}"),
            Some("application/json"),
        )
        .await;
    assert_eq!(code, StatusCode::UNPROCESSABLE_ENTITY, "{err}");
    assert_eq!(err["errors"][0]["type"], "missing");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn templates_carry_created_at_and_string_texts() {
    let t = TestApp::new().await;
    let token = t.login("tpl_times").await;
    let (code, created) = t
        .post_json(
            "/api/v1/prompt-templates",
            &token,
            &json!({"title": "Mine", "description": null, "artifact_type": "meeting_minutes",
                    "prompt_body": "Summarise {transcript}", "parameter_schema": {}}),
        )
        .await;
    assert_eq!(code, StatusCode::CREATED, "{created}");
    let (_, list) = t.get("/api/v1/prompt-templates", &token).await;
    let templates = list["templates"].as_array().unwrap();
    assert!(templates.iter().any(|t| t["scope"] == "global"), "{list}");
    assert!(templates.iter().any(|t| t["scope"] == "private"), "{list}");
    for template in templates {
        let at = template["created_at"].as_str().unwrap_or_default();
        assert!(
            chrono::DateTime::parse_from_rfc3339(at).is_ok(),
            "{template}"
        );
        assert!(template["title"].is_string(), "{template}");
        assert!(template["description"].is_string(), "{template}");
    }
    let id = created["template_id"].as_str().unwrap();
    let (_, one) = t
        .get(&format!("/api/v1/prompt-templates/{id}"), &token)
        .await;
    assert_eq!(one["template"]["description"], "");
    assert!(one["template"]["created_at"].is_string(), "{one}");
}
