//! Audio playback for the original frontend's `<audio>` element: task views list signed relative
//! paths, `GET /uploads/…` at the application root plays them without an `Authorization` header,
//! with byte ranges for seeking, and a path that was not signed for that key, tenant and time
//! plays nothing.
use axum::body::Body;
use axum::http::{header, HeaderMap, Method, Request, StatusCode};
use http_body_util::BodyExt;
use serde_json::{json, Value};
use tower::ServiceExt;

use crate::helpers::TestApp;
use minutes::store::Owner;

fn opus_fixture() -> std::path::PathBuf {
    std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/audio/zh01_head.opus")
}

/// A request as the media element sends it: no credential, maybe a `Range`.
async fn play(
    t: &TestApp,
    method: Method,
    path: &str,
    range: Option<&str>,
) -> (StatusCode, HeaderMap, Vec<u8>) {
    let mut req = Request::builder().method(method).uri(format!("/{path}"));
    if let Some(r) = range {
        req = req.header(header::RANGE, r);
    }
    let response = t
        .router
        .clone()
        .oneshot(req.body(Body::empty()).unwrap())
        .await
        .unwrap();
    let (parts, body) = response.into_parts();
    let bytes = body.collect().await.unwrap().to_bytes().to_vec();
    (parts.status, parts.headers, bytes)
}

fn header_of(h: &HeaderMap, name: header::HeaderName) -> &str {
    h.get(&name)
        .unwrap_or_else(|| panic!("no {name} in {h:?}"))
        .to_str()
        .unwrap()
}

/// Uploads the Opus fixture and makes a task of it: (object key, task id).
async fn task_of_fixture(t: &TestApp, token: &str) -> (String, String) {
    let key = t.upload(token, &opus_fixture()).await;
    let task = create_task(t, token, &key).await;
    (key, task)
}

async fn create_task(t: &TestApp, token: &str, audio_file: &str) -> String {
    let (code, body) = t
        .post_json(
            "/api/v1/tasks",
            token,
            &json!({"audio_files": [audio_file], "meeting_type": "media", "asr_language": "zh-CN",
                    "output_language": "zh-CN"}),
        )
        .await;
    assert_eq!(code, StatusCode::CREATED, "{body}");
    let task = body["task_id"].as_str().unwrap().to_string();
    // Only the views matter here: stop the pipeline so no job is left behind.
    let (code, body) = t
        .request(
            Method::POST,
            &format!("/api/v1/tasks/{task}/cancel"),
            Some(token),
            Body::empty(),
            None,
        )
        .await;
    assert_eq!(code, StatusCode::OK, "{body}");
    task
}

async fn playback_path(t: &TestApp, token: &str, task: &str) -> String {
    let (code, detail) = t.get(&format!("/api/v1/tasks/{task}"), token).await;
    assert_eq!(code, StatusCode::OK, "{detail}");
    detail["audio_files"][0].as_str().unwrap().to_string()
}

fn assert_refused(code: StatusCode, body: &[u8], what: &str) {
    assert_eq!(code, StatusCode::UNAUTHORIZED, "{what}");
    let err: Value = serde_json::from_slice(body).unwrap();
    assert_eq!(err["code"], "not_authenticated", "{what}: {err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn task_views_list_signed_paths_that_play_and_seek_without_a_header() {
    let t = TestApp::new().await;
    let token = t.login("media_owner").await;
    let (key, task) = task_of_fixture(&t, &token).await;
    let original = std::fs::read(opus_fixture()).unwrap();
    let len = original.len();

    let (_, detail) = t.get(&format!("/api/v1/tasks/{task}"), &token).await;
    let path = detail["audio_files"][0].as_str().unwrap();
    assert!(
        path.starts_with(&format!("{key}?tenant=tenant_media_owner&expires="))
            && path.contains("&sig="),
        "a relative signed path on the upload's key: {path}"
    );
    assert_eq!(
        detail["files"][0]["object_key"], key,
        "the plain key stays for API clients"
    );
    let (_, list) = t.get("/api/v1/tasks", &token).await;
    assert_eq!(
        list[0]["audio_files"][0], path,
        "the list signs alike (and stably)"
    );

    let (code, h, body) = play(&t, Method::GET, path, None).await;
    assert_eq!(code, StatusCode::OK);
    assert_eq!(body, original, "the exact uploaded bytes");
    assert_eq!(header_of(&h, header::CONTENT_TYPE), "audio/ogg");
    assert_eq!(header_of(&h, header::ACCEPT_RANGES), "bytes");
    assert_eq!(header_of(&h, header::CONTENT_LENGTH), len.to_string());
    assert_eq!(header_of(&h, header::X_CONTENT_TYPE_OPTIONS), "nosniff");
    assert!(
        h.get("cross-origin-resource-policy").is_none(),
        "playable from the frontend's origin"
    );

    let (code, h, body) = play(&t, Method::GET, path, Some("bytes=10-19")).await;
    assert_eq!(code, StatusCode::PARTIAL_CONTENT);
    assert_eq!(body, original[10..20]);
    assert_eq!(
        header_of(&h, header::CONTENT_RANGE),
        format!("bytes 10-19/{len}")
    );
    assert_eq!(header_of(&h, header::CONTENT_LENGTH), "10");

    let (code, h, body) = play(&t, Method::GET, path, Some("bytes=-7")).await;
    assert_eq!(code, StatusCode::PARTIAL_CONTENT);
    assert_eq!(body, original[len - 7..]);
    assert_eq!(
        header_of(&h, header::CONTENT_RANGE),
        format!("bytes {}-{}/{len}", len - 7, len - 1)
    );

    let (code, h, body) = play(&t, Method::GET, path, Some(&format!("bytes={}-", len - 3))).await;
    assert_eq!(code, StatusCode::PARTIAL_CONTENT);
    assert_eq!(body, original[len - 3..]);
    assert_eq!(
        header_of(&h, header::CONTENT_RANGE),
        format!("bytes {}-{}/{len}", len - 3, len - 1)
    );

    let (code, h, body) = play(&t, Method::GET, path, Some(&format!("bytes={len}-"))).await;
    assert_eq!(code, StatusCode::RANGE_NOT_SATISFIABLE);
    assert_eq!(
        header_of(&h, header::CONTENT_RANGE),
        format!("bytes */{len}")
    );
    let err: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(err["code"], "range_not_satisfiable");

    let (code, _, body) = play(&t, Method::GET, path, Some("bytes=0-1,5-9")).await;
    assert_eq!(code, StatusCode::OK, "several ranges: the whole file");
    assert_eq!(body.len(), len);

    let (code, h, body) = play(&t, Method::HEAD, path, None).await;
    assert_eq!(code, StatusCode::OK);
    assert!(body.is_empty());
    assert_eq!(header_of(&h, header::CONTENT_LENGTH), len.to_string());

    // What a task view lists can be sent back to create another task.
    let again = create_task(&t, &token, path).await;
    let (_, detail) = t.get(&format!("/api/v1/tasks/{again}"), &token).await;
    assert_eq!(detail["files"][0]["object_key"], key);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tampered_foreign_unsigned_and_expired_paths_play_nothing() {
    let t = TestApp::new().await;
    let alice = t.login("media_alice").await;
    let (key, task) = task_of_fixture(&t, &alice).await;
    let path = playback_path(&t, &alice, &task).await;
    let query = path.split_once('?').unwrap().1.to_string();
    assert_eq!(play(&t, Method::GET, &path, None).await.0, StatusCode::OK);

    let (code, _, body) = play(&t, Method::GET, &key, None).await;
    assert_refused(code, &body, "the bare key (a guessed path)");

    let at = path.find("sig=").unwrap() + 4;
    let flipped = if &path[at..at + 1] == "A" { "B" } else { "A" };
    let tampered = format!("{}{flipped}{}", &path[..at], &path[at + 1..]);
    let (code, _, body) = play(&t, Method::GET, &tampered, None).await;
    assert_refused(code, &body, "a tampered signature");

    let longer = path.replace("&expires=", "&expires=9");
    let (code, _, body) = play(&t, Method::GET, &longer, None).await;
    assert_refused(code, &body, "a later expiry");

    // Another upload of the same user, with the first one's signature.
    let other_key = t.upload(&alice, &opus_fixture()).await;
    let (code, _, body) = play(&t, Method::GET, &format!("{other_key}?{query}"), None).await;
    assert_refused(code, &body, "another key with the same signature");

    // Another tenant's upload: neither alice's signature nor a tenant swapped in plays it.
    let bob = t.login("media_bob").await;
    let (bob_key, bob_task) = task_of_fixture(&t, &bob).await;
    let bob_path = playback_path(&t, &bob, &bob_task).await;
    assert_eq!(
        play(&t, Method::GET, &bob_path, None).await.0,
        StatusCode::OK
    );
    let (code, _, body) = play(&t, Method::GET, &format!("{bob_key}?{query}"), None).await;
    assert_refused(code, &body, "another tenant's key with alice's signature");
    let swapped = bob_path.replace("tenant=tenant_media_bob", "tenant=tenant_media_alice");
    let (code, _, body) = play(&t, Method::GET, &swapped, None).await;
    assert_refused(code, &body, "bob's path claimed for alice's tenant");
    // Bob is refused alice's audio through the API too.
    let (code, _) = t.get(&format!("/api/v1/tasks/{task}"), &bob).await;
    assert_eq!(code, StatusCode::NOT_FOUND);

    // A stored object that is gone answers 404; audio purged by retention 410.
    t.app.objects.delete(&other_key).await.unwrap();
    let other_task = create_task(&t, &alice, &other_key).await;
    let other_path = playback_path(&t, &alice, &other_task).await;
    assert_eq!(
        play(&t, Method::GET, &other_path, None).await.0,
        StatusCode::NOT_FOUND
    );
    t.app
        .store
        .mark_audio_purged(
            "tenant_media_alice",
            &other_task,
            std::slice::from_ref(&other_key),
            chrono::Utc::now(),
        )
        .await
        .unwrap();
    let (code, _, body) = play(&t, Method::GET, &other_path, None).await;
    assert_eq!(code, StatusCode::GONE);
    assert_eq!(
        serde_json::from_slice::<Value>(&body).unwrap()["code"],
        "audio_purged"
    );

    // Valid for at least `server.media_url_ttl_secs` on the application's clock, then refused.
    let ttl_ms = t.app.config.server.media_url_ttl_secs as i64 * 1000;
    t.clock.advance_ms(ttl_ms - 1000);
    assert_eq!(play(&t, Method::GET, &path, None).await.0, StatusCode::OK);
    t.clock.advance_ms(ttl_ms);
    let (code, _, body) = play(&t, Method::GET, &path, None).await;
    assert_refused(code, &body, "an expired path");
    let fresh = playback_path(&t, &alice, &task).await;
    assert_ne!(fresh, path, "a task view read later signs anew");
    assert_eq!(play(&t, Method::GET, &fresh, None).await.0, StatusCode::OK);
    // The upload itself is the owner's: still there for other tasks.
    let owner = Owner {
        tenant_id: "tenant_media_alice".into(),
        user_id: "user_media_alice".into(),
    };
    assert_eq!(
        t.app
            .store
            .uploads_by_keys(&owner, &[key])
            .await
            .unwrap()
            .len(),
        1
    );
}
