//! API keys: shown once, stored hashed, scoped, expiring, revocable, audited, tenant-scoped.
use axum::body::Body;
use axum::http::{header, Method, Request, StatusCode};
use http_body_util::BodyExt;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use tower::ServiceExt;

use crate::helpers::{TestApp, JWT_SECRET};

async fn create_key(t: &TestApp, token: &str, body: Value) -> (StatusCode, Value) {
    t.post_json("/api/v1/api-keys", token, &body).await
}

async fn with_api_key_header(t: &TestApp, method: Method, uri: &str, key: &str) -> StatusCode {
    let req = Request::builder()
        .method(method)
        .uri(uri)
        .header("x-api-key", key)
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(r#"{"name": "via header"}"#))
        .unwrap();
    let response = t.router.clone().oneshot(req).await.unwrap();
    let status = response.status();
    let _ = response.into_body().collect().await;
    status
}

async fn delete(t: &TestApp, uri: &str, token: &str) -> StatusCode {
    t.request(Method::DELETE, uri, Some(token), Body::empty(), None)
        .await
        .0
}

async fn audit(t: &TestApp, admin: &str, action: &str) -> Vec<Value> {
    let (code, log) = t
        .get(&format!("/api/v1/admin/audit?action={action}"), admin)
        .await;
    assert_eq!(code, StatusCode::OK, "{log}");
    log["entries"].as_array().unwrap().clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_are_shown_once_stored_hashed_and_scoped() {
    let t = TestApp::new().await;
    let alice = t.login("keys_alice").await;
    let (code, read) = create_key(&t, &alice, json!({"name": "reporting"})).await;
    assert_eq!(code, StatusCode::CREATED, "{read}");
    let read_key = read["key"].as_str().unwrap().to_string();
    assert!(read_key.starts_with("mk_"), "{read_key}");
    assert_eq!(read["scopes"], json!(["read"]), "read is the default scope");
    let (code, write) = create_key(
        &t,
        &alice,
        json!({"name": "ingest", "scopes": ["read", "write"], "expires_in_days": 30}),
    )
    .await;
    assert_eq!(code, StatusCode::CREATED, "{write}");
    let write_key = write["key"].as_str().unwrap().to_string();

    // The list never shows a secret; the database holds only its SHA-256.
    let (code, list) = t.get("/api/v1/api-keys", &alice).await;
    assert_eq!(code, StatusCode::OK);
    assert_eq!(list["total"], 2);
    let text = list.to_string();
    assert!(!text.contains(&read_key[12..]) && !text.contains(&write_key[12..]));
    assert!(list["items"]
        .as_array()
        .unwrap()
        .iter()
        .all(|k| k.get("key").is_none()));
    let rows = t
        .app
        .store
        .list_api_keys("tenant_keys_alice", None)
        .await
        .unwrap();
    let row = rows.iter().find(|r| r.id == read["id"]).unwrap();
    assert_eq!(
        row.secret_hash,
        hex::encode(Sha256::digest(read_key.as_bytes()))
    );
    assert!(rows
        .iter()
        .all(|r| !r.secret_hash.contains(&read_key[3..19])));

    // Bearer and X-API-Key both work; a read key may not change anything.
    let (code, _) = t.get("/api/v1/tasks", &read_key).await;
    assert_eq!(code, StatusCode::OK);
    assert_eq!(
        with_api_key_header(&t, Method::GET, "/api/v1/folders", &read_key).await,
        StatusCode::OK
    );
    let (code, body) = t
        .post_json("/api/v1/folders", &read_key, &json!({"name": "nope"}))
        .await;
    assert_eq!(code, StatusCode::FORBIDDEN, "{body}");
    assert_eq!(body["code"], "insufficient_scope");
    assert_eq!(
        with_api_key_header(&t, Method::POST, "/api/v1/folders", &read_key).await,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        with_api_key_header(&t, Method::POST, "/api/v1/folders", &write_key).await,
        StatusCode::CREATED
    );
    // A key cannot mint or revoke keys; a key is never a platform operator.
    let (code, body) = create_key(&t, &write_key, json!({"name": "child"})).await;
    assert_eq!(code, StatusCode::FORBIDDEN, "{body}");
    assert_eq!(body["code"], "interactive_login_required");
    let uri = format!("/api/v1/api-keys/{}", read["id"].as_str().unwrap());
    assert_eq!(delete(&t, &uri, &write_key).await, StatusCode::FORBIDDEN);

    // Use is recorded (last used, audit); a wrong or malformed key is refused and audited.
    let (_, list) = t.get("/api/v1/api-keys", &alice).await;
    assert!(list["items"]
        .as_array()
        .unwrap()
        .iter()
        .all(|k| k["last_used_at"].is_string()));
    let uses = audit(&t, &alice, "api_key.use").await;
    assert_eq!(uses.len(), 2, "once per key per minute: {uses:?}");
    let mut wrong = read_key.clone();
    let last = wrong.pop().unwrap();
    wrong.push(if last == 'a' { 'b' } else { 'a' });
    for bad in [wrong.as_str(), "mk_123", "mk_zzzzzzzzzzzzzzzz_00"] {
        let (code, body) = t.get("/api/v1/tasks", bad).await;
        assert_eq!(code, StatusCode::UNAUTHORIZED, "{bad}: {body}");
        assert_eq!(body["code"], "not_authenticated");
    }
    let failures = audit(&t, &alice, "auth.failed").await;
    assert!(
        failures.iter().any(|f| f["details"]["reason"]
            .as_str()
            .unwrap()
            .contains("wrong secret")),
        "{failures:?}"
    );

    // Revoked keys stop working at once.
    assert_eq!(delete(&t, &uri, &alice).await, StatusCode::NO_CONTENT);
    let (code, _) = t.get("/api/v1/tasks", &read_key).await;
    assert_eq!(code, StatusCode::UNAUTHORIZED);
    let (_, list) = t.get("/api/v1/api-keys", &alice).await;
    let revoked = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["id"] == read["id"])
        .unwrap()
        .clone();
    assert_eq!(revoked["active"], false);
    assert!(revoked["revoked_at"].is_string());
    assert_eq!(audit(&t, &alice, "api_key.revoke").await.len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_expire_and_requests_are_validated() {
    let t = TestApp::new().await;
    let token = t.login("keys_exp").await;
    for (body, field) in [
        (json!({"name": ""}), "name"),
        (json!({"name": "x", "scopes": ["admin"]}), "scopes"),
        (json!({"name": "x", "scopes": []}), "scopes"),
        (
            json!({"name": "x", "expires_in_days": 0}),
            "expires_in_days",
        ),
        (
            json!({"name": "x", "expires_in_days": 100000}),
            "expires_in_days",
        ),
    ] {
        let (code, err) = create_key(&t, &token, body.clone()).await;
        assert_eq!(code, StatusCode::UNPROCESSABLE_ENTITY, "{body}: {err}");
        assert_eq!(err["errors"][0]["loc"][1], field);
    }
    let (_, created) = create_key(&t, &token, json!({"name": "short", "expires_in_days": 1})).await;
    let key = created["key"].as_str().unwrap().to_string();
    let (code, _) = t.get("/api/v1/tasks", &key).await;
    assert_eq!(code, StatusCode::OK);
    t.clock.advance_ms(25 * 3600 * 1000);
    let (code, _) = t.get("/api/v1/tasks", &key).await;
    assert_eq!(code, StatusCode::UNAUTHORIZED, "expired after a day");
}

/// A member of `tenant`, with a user row (keys reference their user).
async fn member_of(t: &TestApp, tenant: &str, user: &str) -> String {
    t.app
        .store
        .provision_user(tenant, user, "member")
        .await
        .unwrap();
    let now = chrono::Utc::now().timestamp();
    jsonwebtoken::encode(
        &jsonwebtoken::Header::default(),
        &json!({"sub": user, "tid": tenant, "role": "member", "iss": "minutes", "iat": now, "exp": now + 600}),
        &jsonwebtoken::EncodingKey::from_secret(JWT_SECRET.as_bytes()),
    )
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_follow_tenants_and_roles() {
    let t = TestApp::new().await;
    let admin = t.login("keys_org").await;
    let member = member_of(&t, "tenant_keys_org", "user_keys_member").await;
    let outsider = t.login("keys_outsider").await;
    let (_, admin_key) = create_key(&t, &admin, json!({"name": "admin's"})).await;
    let (_, member_key) = create_key(&t, &member, json!({"name": "member's"})).await;
    let admin_key_uri = format!("/api/v1/api-keys/{}", admin_key["id"].as_str().unwrap());
    let member_key_uri = format!("/api/v1/api-keys/{}", member_key["id"].as_str().unwrap());

    // Members see and revoke only their own keys; admins the tenant's; other tenants nothing.
    let (_, list) = t.get("/api/v1/api-keys", &member).await;
    assert_eq!(list["total"], 1);
    let (_, list) = t.get("/api/v1/api-keys", &admin).await;
    assert_eq!(list["total"], 2);
    let (_, list) = t.get("/api/v1/api-keys", &outsider).await;
    assert_eq!(list["total"], 0);
    assert_eq!(
        delete(&t, &admin_key_uri, &outsider).await,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        delete(&t, &admin_key_uri, &member).await,
        StatusCode::NOT_FOUND
    );

    // A key acts with its user's role: the member's key cannot read the audit log.
    let key = member_key["key"].as_str().unwrap();
    let (code, _) = t.get("/api/v1/admin/audit", key).await;
    assert_eq!(code, StatusCode::FORBIDDEN);
    let key = admin_key["key"].as_str().unwrap();
    let (code, _) = t.get("/api/v1/admin/audit", key).await;
    assert_eq!(code, StatusCode::OK);
    assert_eq!(
        delete(&t, &member_key_uri, &admin).await,
        StatusCode::NO_CONTENT
    );
    let (code, _) = t
        .get("/api/v1/tasks", member_key["key"].as_str().unwrap())
        .await;
    assert_eq!(code, StatusCode::UNAUTHORIZED);
}
