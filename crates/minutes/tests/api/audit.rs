//! The audit log: content actions are recorded with the request id; admins query and export it.
use axum::body::Body;
use axum::http::{header, Method, Request, StatusCode};
use http_body_util::BodyExt;
use serde_json::json;
use tower::ServiceExt;

use crate::helpers::{TestApp, JWT_SECRET};

fn member_token(tenant: &str) -> String {
    let claims = json!({"sub": format!("user_member_of_{tenant}"), "tid": tenant, "role": "member",
                        "iss": "minutes", "iat": chrono::Utc::now().timestamp(), "exp": chrono::Utc::now().timestamp() + 600});
    jsonwebtoken::encode(
        &jsonwebtoken::Header::default(),
        &claims,
        &jsonwebtoken::EncodingKey::from_secret(JWT_SECRET.as_bytes()),
    )
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn content_actions_are_audited_with_request_ids_and_exported_for_admins() {
    let t = TestApp::new().await;
    let token = t.login("aud").await;
    let task_id = t.create_two_part_task(&token).await;
    t.run_jobs_until_idle().await;

    // The client's request id is echoed and recorded.
    let req = Request::builder()
        .uri(format!("/api/v1/tasks/{task_id}/transcript"))
        .header(header::AUTHORIZATION, format!("Bearer {token}"))
        .header("x-request-id", "req-42")
        .body(Body::empty())
        .unwrap();
    let response = t.router.clone().oneshot(req).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["x-request-id"], "req-42");
    // Without one, the server makes one.
    let req = Request::builder()
        .uri("/api/v1/health")
        .body(Body::empty())
        .unwrap();
    let response = t.router.clone().oneshot(req).await.unwrap();
    assert!(response
        .headers()
        .get("x-request-id")
        .is_some_and(|v| v.len() >= 32));

    let (code, log) = t
        .get("/api/v1/admin/audit?action=transcript.view", &token)
        .await;
    assert_eq!(code, StatusCode::OK, "{log}");
    assert_eq!(log["total"], 1);
    assert_eq!(log["entries"][0]["request_id"], "req-42");
    assert_eq!(log["entries"][0]["user_id"], "user_aud");
    assert_eq!(log["entries"][0]["resource_id"], task_id.as_str());

    let (code, headers, csv) = t.get_raw("/api/v1/admin/audit?format=csv", &token).await;
    assert_eq!(code, StatusCode::OK);
    assert!(headers[header::CONTENT_TYPE]
        .to_str()
        .unwrap()
        .starts_with("text/csv"));
    let csv = String::from_utf8(csv).unwrap();
    let mut lines = csv.lines();
    assert_eq!(
        lines.next(),
        Some("created_at,user_id,action,resource_type,resource_id,request_id,details")
    );
    assert!(csv.contains(",task.create,task,"), "{csv}");
    assert!(
        csv.contains("\"{\"\""),
        "JSON details are quoted CSV: {csv}"
    );

    let (_, _, jsonl) = t
        .get_raw(
            "/api/v1/admin/audit?format=jsonl&resource_type=upload",
            &token,
        )
        .await;
    let rows: Vec<serde_json::Value> = String::from_utf8(jsonl)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(rows.len(), 2, "two uploads");
    assert!(rows.iter().all(|r| r["action"] == "upload.create"));
    let future = (chrono::Utc::now() + chrono::Duration::hours(1))
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let (_, later) = t
        .get(&format!("/api/v1/admin/audit?from={future}"), &token)
        .await;
    assert_eq!(later["total"], 0);

    // Members cannot read it; other tenants see only their own.
    let (code, _) = t
        .get("/api/v1/admin/audit", &member_token("tenant_aud"))
        .await;
    assert_eq!(code, StatusCode::FORBIDDEN);
    let other = t.login("aud_other").await;
    let (_, theirs) = t.get("/api/v1/admin/audit", &other).await;
    assert_eq!(theirs["total"], 0);
    let (code, err) = t.get("/api/v1/admin/audit?format=xml", &token).await;
    assert_eq!(code, StatusCode::BAD_REQUEST, "{err}");

    let raw = Request::builder()
        .method(Method::GET)
        .uri("/api/v1/admin/audit?limit=1")
        .header(header::AUTHORIZATION, format!("Bearer {token}"))
        .body(Body::empty())
        .unwrap();
    let body = t
        .router
        .clone()
        .oneshot(raw)
        .await
        .unwrap()
        .into_body()
        .collect()
        .await
        .unwrap()
        .to_bytes();
    let one: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(one["total"], 1, "limit applies");
}
