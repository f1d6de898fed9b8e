//! Search: Chinese and English queries over transcripts and minutes, kept in step with
//! corrections and regenerations, scoped to the caller, blind to the trash.
use axum::body::Body;
use axum::http::{Method, StatusCode};
use serde_json::{json, Value};

use minutes::store::Owner;

use crate::helpers::TestApp;

/// `q` percent-encoded (the URI must be ASCII).
fn search_url(q: &str, extra: &str) -> String {
    let encoded: String = q
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect();
    format!("/api/v1/search?q={encoded}{extra}")
}

async fn search(t: &TestApp, token: &str, q: &str) -> Value {
    let (code, body) = t.get(&search_url(q, ""), token).await;
    assert_eq!(code, StatusCode::OK, "{body}");
    assert_eq!(body["total"], body["results"].as_array().unwrap().len());
    body
}

fn of_kind<'a>(body: &'a Value, kind: &str) -> Vec<&'a Value> {
    body["results"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["kind"] == kind)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chinese_and_english_queries_find_segments_and_minutes() {
    let t = TestApp::new().await;
    let (token, task_id) = t.finished_task("searcher").await;

    let body = search(&t, &token, "连接池").await;
    assert_eq!(body["query"], "连接池");
    let segments = of_kind(&body, "transcript");
    assert_eq!(segments.len(), 1, "{body}");
    let hit = segments[0];
    assert_eq!(hit["task_id"], task_id);
    assert_eq!(hit["segment_id"], "seg_0002");
    assert_eq!(hit["start_time"], 13.0);
    assert_eq!(hit["snippet"], "Redis 连接池耗尽，张伟负责周五前修复。");
    assert!(hit["created_at"].as_str().unwrap().ends_with('Z'));
    assert!(hit.get("artifact_id").is_none());
    let minutes = of_kind(&body, "artifact");
    assert_eq!(minutes.len(), 1, "the minutes mention 连接池: {body}");
    assert_eq!(minutes[0]["artifact_type"], "meeting_minutes");
    assert!(minutes[0]["artifact_id"].as_str().unwrap().len() > 4);
    assert_eq!(minutes[0]["start_time"], Value::Null);
    assert!(minutes[0]["snippet"].as_str().unwrap().contains("连接池"));
    let (_, artifacts) = t
        .get(&format!("/api/v1/tasks/{task_id}/artifacts"), &token)
        .await;
    assert!(artifacts
        .to_string()
        .contains(minutes[0]["artifact_id"].as_str().unwrap()));

    // Case does not matter; the segment is found by its English word too.
    for q in ["redis", "REDIS", "Redis 连接池"] {
        let body = search(&t, &token, q).await;
        let segments = of_kind(&body, "transcript");
        assert_eq!(segments.len(), 1, "{q}: {body}");
        assert_eq!(segments[0]["segment_id"], "seg_0002");
    }
    // A shorter word inside a longer one, and a Chinese query over the first segment.
    assert_eq!(
        of_kind(&search(&t, &token, "连接").await, "transcript").len(),
        1
    );
    let body = search(&t, &token, "订单服务的故障").await;
    let segments = of_kind(&body, "transcript");
    assert_eq!(segments[0]["segment_id"], "seg_0001", "{body}");
    assert_eq!(segments[0]["start_time"], 0.5);
    // English over the minutes (title "Incident review #1").
    let body = search(&t, &token, "incident review").await;
    let minutes = of_kind(&body, "artifact");
    assert_eq!(minutes.len(), 1, "{body}");
    assert!(minutes[0]["snippet"]
        .as_str()
        .unwrap()
        .contains("Incident review"));
    // Every word must occur; unknown words find nothing; limit caps the results.
    assert_eq!(search(&t, &token, "redis kubernetes").await["total"], 0);
    assert_eq!(search(&t, &token, "不存在的词语").await["total"], 0);
    let (code, body) = t.get(&search_url("连接池", "&limit=1"), &token).await;
    assert_eq!(code, StatusCode::OK);
    assert_eq!(body["total"], 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn corrections_and_regenerations_keep_the_index_current() {
    let t = TestApp::new().await;
    let (token, task_id) = t.finished_task("corrector").await;
    assert_eq!(
        of_kind(&search(&t, &token, "雪崩").await, "transcript").len(),
        0
    );

    let edit = json!({"segments": [{"id": "seg_0002", "text": "缓存雪崩导致数据库过载，张伟负责周五前修复。"}],
                      "regenerate_artifacts": false});
    let (code, saved) = t
        .send_json(
            Method::PUT,
            &format!("/api/v1/tasks/{task_id}/transcript"),
            &token,
            &edit,
        )
        .await;
    assert_eq!(code, StatusCode::OK, "{saved}");

    let body = search(&t, &token, "雪崩").await;
    let segments = of_kind(&body, "transcript");
    assert_eq!(segments.len(), 1, "{body}");
    assert_eq!(segments[0]["segment_id"], "seg_0002");
    assert_eq!(segments[0]["start_time"], 13.0);
    assert!(segments[0]["snippet"]
        .as_str()
        .unwrap()
        .contains("缓存雪崩"));
    // The old wording is gone from the transcript; the minutes (not regenerated) still have it.
    let body = search(&t, &token, "连接池").await;
    assert!(of_kind(&body, "transcript").is_empty(), "{body}");
    assert_eq!(of_kind(&body, "artifact").len(), 1);
    assert!(of_kind(&search(&t, &token, "redis").await, "transcript").is_empty());
    // Untouched segments stay findable.
    assert_eq!(
        of_kind(&search(&t, &token, "复盘").await, "transcript").len(),
        1
    );

    // A free-text body that does not map onto the segments is searchable as a whole.
    let blob = json!({"corrected_text": "整场会议的人工校对全文：消息队列积压。", "regenerate_artifacts": false});
    let (code, saved) = t
        .send_json(
            Method::PUT,
            &format!("/api/v1/tasks/{task_id}/transcript"),
            &token,
            &blob,
        )
        .await;
    assert_eq!(code, StatusCode::OK, "{saved}");
    let body = search(&t, &token, "消息队列").await;
    let segments = of_kind(&body, "transcript");
    assert_eq!(segments.len(), 1, "{body}");
    assert_eq!(segments[0]["segment_id"], Value::Null);
    assert_eq!(segments[0]["start_time"], Value::Null);

    // A regenerated version replaces the previous one in the index.
    let (code, queued) = t
        .post_json(
            &format!("/api/v1/tasks/{task_id}/artifacts/meeting_minutes/generate?wait=0"),
            &token,
            &json!({}),
        )
        .await;
    assert_eq!(code, StatusCode::ACCEPTED, "{queued}");
    assert_eq!(t.run_jobs_until_idle().await, 1);
    let body = search(&t, &token, "incident review").await;
    let minutes = of_kind(&body, "artifact");
    assert_eq!(minutes.len(), 1, "one document per artifact type: {body}");
    assert!(minutes[0]["snippet"]
        .as_str()
        .unwrap()
        .contains("Incident review #2"));
    assert_eq!(minutes[0]["artifact_id"], queued["artifact_id"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn search_is_scoped_to_the_caller_and_skips_the_trash() {
    let t = TestApp::new().await;
    let (alice, task_id) = t.finished_task("alice-search").await;
    let bob = t.login("bob-search").await;
    assert_eq!(search(&t, &bob, "连接池").await["total"], 0);
    assert!(
        search(&t, &alice, "连接池").await["total"]
            .as_u64()
            .unwrap()
            >= 2
    );

    // Another user of the same tenant sees nothing either (store level: dev logins get a tenant each).
    let task = t
        .app
        .store
        .get_task_in_tenant(
            &minutes::domain::ids::tenant_id_for("alice-search"),
            &task_id,
        )
        .await
        .unwrap()
        .unwrap();
    let other = Owner {
        tenant_id: task.tenant_id.clone(),
        user_id: "someone-else".into(),
    };
    assert!(t
        .app
        .store
        .search(&other, "连接池", 10)
        .await
        .unwrap()
        .is_empty());
    let owner = Owner {
        tenant_id: task.tenant_id.clone(),
        user_id: task.user_id.clone(),
    };
    assert!(!t
        .app
        .store
        .search(&owner, "连接池", 10)
        .await
        .unwrap()
        .is_empty());

    // The trash hides a task from search; restoring brings it back.
    let trash = |action: &str| format!("/api/v1/sessions/{task_id}/{action}");
    let (code, body) = t
        .send_json(Method::PATCH, &trash("delete"), &alice, &json!({}))
        .await;
    assert_eq!(code, StatusCode::OK, "{body}");
    assert_eq!(search(&t, &alice, "连接池").await["total"], 0);
    let (code, _) = t
        .send_json(Method::PATCH, &trash("restore"), &alice, &json!({}))
        .await;
    assert_eq!(code, StatusCode::OK);
    assert!(
        search(&t, &alice, "连接池").await["total"]
            .as_u64()
            .unwrap()
            >= 2
    );

    // A permanent delete removes the documents with the task (and keeps the index consistent).
    let (code, _) = t
        .request(
            Method::DELETE,
            &format!("/api/v1/sessions/{task_id}"),
            Some(&alice),
            Body::empty(),
            None,
        )
        .await;
    assert!(code.is_success());
    assert_eq!(search(&t, &alice, "连接池").await["total"], 0);
    let (_, again) = t.finished_task("alice-search").await;
    let body = search(&t, &alice, "连接池").await;
    assert!(body["results"]
        .as_array()
        .unwrap()
        .iter()
        .all(|r| r["task_id"] == again));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queries_are_validated() {
    let t = TestApp::new().await;
    let token = t.login("validator").await;
    for url in [
        "/api/v1/search".to_string(),
        search_url("", ""),
        search_url("   ", ""),
        search_url(&"长".repeat(201), ""),
        search_url("redis", "&limit=0"),
        search_url("redis", "&limit=101"),
    ] {
        let (code, body) = t.get(&url, &token).await;
        assert_eq!(code, StatusCode::UNPROCESSABLE_ENTITY, "{url}: {body}");
        assert_eq!(body["code"], "validation_error");
    }
    let (code, _) = t.get(&search_url(&"长".repeat(200), ""), &token).await;
    assert_eq!(code, StatusCode::OK);
    // Punctuation only: nothing to match, not an error.
    let body = search(&t, &token, "？！…").await;
    assert_eq!(body["total"], 0);
    let (code, _) = t
        .request(
            Method::GET,
            &search_url("redis", ""),
            None,
            Body::empty(),
            None,
        )
        .await;
    assert_eq!(code, StatusCode::UNAUTHORIZED);
}
