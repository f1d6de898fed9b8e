//! Identity only from the token; other tenants' resources answer 404 on every task route.
use axum::body::Body;
use axum::http::{Method, StatusCode};
use serde_json::json;

use crate::helpers::{data_file, TestApp};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_or_bad_tokens_get_401_with_the_error_body() {
    let t = TestApp::new().await;
    let (code, body) = t
        .request(Method::GET, "/api/v1/tasks", None, Body::empty(), None)
        .await;
    assert_eq!(code, StatusCode::UNAUTHORIZED);
    assert_eq!(body["code"], "not_authenticated");
    assert_eq!(body["retryable"], false);
    assert!(body["detail"].is_string());
    let (code, _) = t.get("/api/v1/tasks", "not-a-jwt").await;
    assert_eq!(code, StatusCode::UNAUTHORIZED);
    // A token signed with another secret is refused.
    let other = jsonwebtoken::encode(
        &jsonwebtoken::Header::default(),
        &json!({"sub": "user_x", "tid": "tenant_x", "role": "admin", "iss": "minutes", "iat": 0, "exp": 4_000_000_000i64}),
        &jsonwebtoken::EncodingKey::from_secret(b"some-other-secret-some-other-secret"),
    )
    .unwrap();
    let (code, _) = t.get("/api/v1/tasks", &other).await;
    assert_eq!(code, StatusCode::UNAUTHORIZED);
    // An expired token is refused.
    let expired = jsonwebtoken::encode(
        &jsonwebtoken::Header::default(),
        &json!({"sub": "user_x", "tid": "tenant_x", "role": "admin", "iss": "minutes", "iat": 0, "exp": 1000}),
        &jsonwebtoken::EncodingKey::from_secret(crate::helpers::JWT_SECRET.as_bytes()),
    )
    .unwrap();
    let (code, _) = t.get("/api/v1/tasks", &expired).await;
    assert_eq!(code, StatusCode::UNAUTHORIZED);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dev_login_is_refused_when_disabled() {
    let t = TestApp::with(crate::helpers::TestOptions {
        configure: Box::new(|c| c.auth.dev_login = false),
        ..Default::default()
    })
    .await;
    let (code, body) = t
        .request(
            Method::POST,
            "/api/v1/auth/dev/login",
            None,
            Body::from(r#"{"username":"x"}"#),
            Some("application/json"),
        )
        .await;
    assert_eq!(code, StatusCode::FORBIDDEN, "{body}");
    assert_eq!(body["code"], "dev_login_disabled");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn other_tenants_get_404_everywhere_and_cannot_use_foreign_uploads() {
    let t = TestApp::new().await;
    let alice = t.login("alice").await;
    let mallory = t.login("mallory").await;
    let task_id = t.create_two_part_task(&alice).await;
    t.run_jobs_until_idle().await;
    let (_, artifacts) = t
        .get(&format!("/api/v1/tasks/{task_id}/artifacts"), &alice)
        .await;
    let artifact_id = artifacts["artifacts_by_type"]["meeting_minutes"][0]["artifact_id"]
        .as_str()
        .unwrap()
        .to_string();

    let gets = [
        format!("/api/v1/tasks/{task_id}"),
        format!("/api/v1/tasks/{task_id}/status"),
        format!("/api/v1/tasks/{task_id}/history"),
        format!("/api/v1/tasks/{task_id}/transcript"),
        format!("/api/v1/tasks/{task_id}/artifacts"),
        format!("/api/v1/tasks/{task_id}/artifacts/meeting_minutes/versions"),
        format!("/api/v1/tasks/{task_id}/artifacts/{artifact_id}"),
        format!("/api/v1/artifacts/{artifact_id}"),
    ];
    for uri in &gets {
        let (code, body) = t.get(uri, &mallory).await;
        assert_eq!(code, StatusCode::NOT_FOUND, "GET {uri}: {body}");
        assert_eq!(body["code"], "not_found");
    }
    for uri in [
        format!("/api/v1/tasks/{task_id}/cancel"),
        format!("/api/v1/tasks/{task_id}/retry"),
        format!("/api/v1/tasks/{task_id}/artifacts/meeting_minutes/generate?wait=0"),
        format!("/api/v1/tasks/{task_id}/regenerate?wait=0"),
    ] {
        let (code, body) = t.post_json(&uri, &mallory, &json!({})).await;
        assert_eq!(code, StatusCode::NOT_FOUND, "POST {uri}: {body}");
    }
    let (code, _) = t
        .send_json(
            Method::PATCH,
            &format!("/api/v1/tasks/{task_id}/rename"),
            &mallory,
            &json!({"name": "x"}),
        )
        .await;
    assert_eq!(code, StatusCode::NOT_FOUND);
    let (code, _) = t
        .request(
            Method::DELETE,
            &format!("/api/v1/tasks/{task_id}"),
            Some(&mallory),
            Body::empty(),
            None,
        )
        .await;
    assert_eq!(code, StatusCode::NOT_FOUND);
    let (_, list) = t.get("/api/v1/tasks", &mallory).await;
    assert_eq!(list, json!([]));

    // Alice's upload keys are useless to Mallory: not creatable, not deletable.
    let key = t
        .upload(&alice, &data_file("en01_sprint_planning.flac"))
        .await;
    let (code, body) = t
        .post_json(
            "/api/v1/tasks",
            &mallory,
            &json!({"audio_files": [key], "meeting_type": "x"}),
        )
        .await;
    assert_eq!(code, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(body["code"], "input_missing_file");
    let (code, _) = t
        .request(
            Method::DELETE,
            &format!("/api/v1/upload/{key}"),
            Some(&mallory),
            Body::empty(),
            None,
        )
        .await;
    assert_eq!(code, StatusCode::NOT_FOUND);
    // Server paths and URLs are never accepted as audio.
    for path in [
        "/etc/passwd",
        "https://example.com/a.mp3",
        "../objects/uploads/user_alice/x.wav",
    ] {
        let (code, _) = t
            .post_json(
                "/api/v1/tasks",
                &mallory,
                &json!({"audio_files": [path], "meeting_type": "x"}),
            )
            .await;
        assert_eq!(code, StatusCode::BAD_REQUEST, "{path}");
    }
    // Alice still sees everything.
    let (code, _) = t
        .get(&format!("/api/v1/tasks/{task_id}/transcript"), &alice)
        .await;
    assert_eq!(code, StatusCode::OK);
    let (code, _) = t
        .request(
            Method::DELETE,
            &format!("/api/v1/upload/{key}"),
            Some(&alice),
            Body::empty(),
            None,
        )
        .await;
    assert_eq!(code, StatusCode::NO_CONTENT);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn task_creation_validates_every_field() {
    let t = TestApp::new().await;
    let token = t.login("val").await;
    let key = t
        .upload(&token, &data_file("en01_sprint_planning.wav"))
        .await;
    let cases = [
        (
            json!({"audio_files": [], "meeting_type": "x"}),
            "audio_files",
        ),
        (
            json!({"audio_files": [key], "file_order": [1], "meeting_type": "x"}),
            "file_order",
        ),
        (
            json!({"audio_files": [key, key], "file_order": [0, 0], "meeting_type": "x"}),
            "file_order",
        ),
        (
            json!({"audio_files": [key], "meeting_type": ""}),
            "meeting_type",
        ),
        (
            json!({"audio_files": [key], "meeting_type": "x", "asr_language": "fr-FR"}),
            "asr_language",
        ),
        (
            json!({"audio_files": [key], "meeting_type": "x", "output_language": "xx"}),
            "output_language",
        ),
    ];
    for (body, field) in cases {
        let (code, err) = t.post_json("/api/v1/tasks", &token, &body).await;
        assert_eq!(code, StatusCode::UNPROCESSABLE_ENTITY, "{body}: {err}");
        assert_eq!(err["errors"][0]["loc"][1], field, "{err}");
    }
    let (code, err) = t
        .post_json("/api/v1/tasks", &token, &json!({"audio_files": [key], "meeting_type": "x", "prompt_instance": {"template_id": "nope"}}))
        .await;
    assert_eq!(code, StatusCode::NOT_FOUND, "{err}");
    let long = "x".repeat(20_001);
    let (code, err) = t
        .post_json("/api/v1/tasks", &token, &json!({"audio_files": [key], "meeting_type": "x", "prompt_instance": {"template_id": "action_items", "prompt_text": long}}))
        .await;
    assert_eq!(code, StatusCode::UNPROCESSABLE_ENTITY, "{err}");
    assert!(err.to_string().contains("prompt_text"), "{err}");
    // Malformed bodies and parameters get the same error shape as everything else.
    let (code, err) = t
        .request(
            Method::POST,
            "/api/v1/tasks",
            Some(&token),
            Body::from("{not json"),
            Some("application/json"),
        )
        .await;
    assert_eq!(code, StatusCode::UNPROCESSABLE_ENTITY, "{err}");
    assert_eq!(err["code"], "invalid_json");
    assert_eq!(err["errors"][0]["type"], "json_invalid");
    assert_eq!(err["retryable"], false);
    let (code, err) = t
        .post_json("/api/v1/tasks", &token, &json!({"audio_files": [key]}))
        .await;
    assert_eq!(code, StatusCode::UNPROCESSABLE_ENTITY, "{err}");
    assert_eq!(err["code"], "validation_error");
    assert!(
        err["detail"].as_str().unwrap().contains("meeting_type"),
        "{err}"
    );
    let (code, err) = t.get("/api/v1/tasks?limit=lots", &token).await;
    assert_eq!(code, StatusCode::BAD_REQUEST, "{err}");
    assert_eq!(err["code"], "invalid_query");
    let (_, list) = t.get("/api/v1/tasks", &token).await;
    assert_eq!(list, json!([]), "nothing was created");
}
