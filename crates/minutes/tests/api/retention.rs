//! The retention job: trash past its retention is purged with its objects; audio past its
//! retention is deleted while transcripts and minutes stay.
use axum::http::{Method, StatusCode};
use serde_json::json;

use crate::helpers::{files_under, TestApp, TestOptions};
use minutes::domain::job::JobKind;
use minutes::queue::Clock;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retention_purges_trash_and_old_audio_but_keeps_text() {
    let t = TestApp::with(TestOptions {
        configure: Box::new(|c| {
            c.retention.trash_days = 0;
            c.retention.audio_days = 0;
            c.retention.audio_extended_days = 0;
            c.retention.audio_max_days = 0;
        }),
        ..Default::default()
    })
    .await;
    let token = t.login("ret").await;
    let trashed = t.create_two_part_task(&token).await;
    let kept = t.create_two_part_task(&token).await;
    t.run_jobs_until_idle().await;
    let (code, _) = t
        .send_json(
            Method::PATCH,
            &format!("/api/v1/sessions/{trashed}/delete"),
            &token,
            &json!({}),
        )
        .await;
    assert_eq!(code, StatusCode::OK);
    let objects = t.dir.path().join("objects");
    assert_eq!(
        files_under(&objects.join("uploads")).len(),
        4,
        "two parts per task"
    );
    assert_eq!(
        files_under(&objects.join("work")).len(),
        2,
        "one normalized file per task"
    );

    assert!(
        minutes::queue::schedule::enqueue_run(&t.app, JobKind::Retention, t.clock.now_ms())
            .await
            .unwrap()
    );
    assert!(
        !minutes::queue::schedule::enqueue_run(&t.app, JobKind::Retention, t.clock.now_ms())
            .await
            .unwrap(),
        "one run per fire time"
    );
    assert_eq!(t.run_jobs_until_idle().await, 1);

    assert!(
        files_under(&objects).is_empty(),
        "every object is gone: {:?}",
        files_under(&objects)
    );
    let (_, trash) = t.get("/api/v1/trash/sessions", &token).await;
    assert_eq!(trash["total"], 0, "the trashed task was purged");
    let (code, task) = t.get(&format!("/api/v1/tasks/{kept}"), &token).await;
    assert_eq!(code, StatusCode::OK);
    assert!(task["audio_purged_at"].is_string(), "{task}");
    let (code, transcript) = t
        .get(&format!("/api/v1/tasks/{kept}/transcript"), &token)
        .await;
    assert_eq!(code, StatusCode::OK, "text is kept");
    assert_eq!(transcript["segments"].as_array().unwrap().len(), 2);
    let (_, artifacts) = t
        .get(&format!("/api/v1/tasks/{kept}/artifacts"), &token)
        .await;
    assert_eq!(artifacts["total_count"], 1);
    let audit = t
        .app
        .store
        .audit_log("tenant_ret", &minutes::store::AuditFilter::latest(100))
        .await
        .unwrap();
    assert!(audit
        .iter()
        .any(|a| a.action == "task.purge" && a.resource_id == trashed));
    assert!(audit
        .iter()
        .any(|a| a.action == "audio.purge" && a.resource_id == kept));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn default_retention_keeps_recent_audio() {
    let t = TestApp::new().await;
    let token = t.login("recent").await;
    let task_id = t.create_two_part_task(&token).await;
    t.run_jobs_until_idle().await;
    minutes::queue::schedule::enqueue_run(&t.app, JobKind::Retention, t.clock.now_ms())
        .await
        .unwrap();
    assert_eq!(t.run_jobs_until_idle().await, 1);
    let (_, task) = t.get(&format!("/api/v1/tasks/{task_id}"), &token).await;
    assert!(task["audio_purged_at"].is_null());
    assert_eq!(files_under(&t.dir.path().join("objects/uploads")).len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_maintenance_run_backfills_the_search_index_for_older_tasks() {
    let t = TestApp::new().await;
    let token = t.login("backfill").await;
    t.create_two_part_task(&token).await;
    t.run_jobs_until_idle().await;

    assert!(search_hits(&t, &token).await >= 1);
    // Recreate the index tables empty, as for tasks created before the index existed.
    let migrator = minutes::store::Migrator::new(&t.app.sql);
    let versions: Vec<i64> = migrator
        .status()
        .await
        .unwrap()
        .iter()
        .map(|s| s.version)
        .collect();
    while migrator
        .status()
        .await
        .unwrap()
        .iter()
        .any(|s| s.applied && s.version >= 3)
    {
        migrator.down().await.unwrap();
    }
    migrator.up().await.unwrap();
    assert!(
        migrator.status().await.unwrap().iter().all(|s| s.applied),
        "{versions:?}"
    );
    assert_eq!(
        search_hits(&t, &token).await,
        0,
        "nothing indexed after the tables were recreated"
    );

    minutes::queue::schedule::enqueue_run(&t.app, JobKind::Retention, t.clock.now_ms())
        .await
        .unwrap();
    assert_eq!(t.run_jobs_until_idle().await, 1);
    assert!(
        search_hits(&t, &token).await >= 2,
        "segment and minutes are indexed again"
    );
}

async fn search_hits(t: &TestApp, token: &str) -> usize {
    let (_, found) = t
        .get("/api/v1/search?q=%E8%BF%9E%E6%8E%A5%E6%B1%A0", token)
        .await;
    found["results"].as_array().map(Vec::len).unwrap_or(0)
}
