//! Store contract: the same assertions on SQLite and (with MINUTES_TEST_POSTGRES_URL) PostgreSQL.
use std::collections::HashSet;
use std::sync::Arc;

use serde_json::json;

use crate::helpers::{create_app_schema, postgres_url, TestApp};
use minutes::domain::ids;
use minutes::queue::Clock;
use minutes::store::sql::ConnectOptions;
use minutes::store::{Migrator, NewArtifact, NewJob, SqlStore, Store};

fn noop_job(priority: i64, run_at_ms: i64) -> NewJob {
    NewJob {
        id: ids::job_id(),
        queue: "maintenance".into(),
        kind: minutes::domain::job::JobKind::Noop.wire_name().into(),
        task_id: None,
        tenant_id: None,
        payload: json!({}),
        priority,
        max_attempts: 3,
        run_at_ms,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn migrations_go_up_down_and_up_again() {
    let dir = tempfile::tempdir().unwrap();
    let schema = format!("m_{}", uuid::Uuid::new_v4().simple());
    // On PostgreSQL the migrations run as the (non-superuser) app role that owns the schema.
    let url = match postgres_url() {
        Some(admin) => create_app_schema(&admin, &schema).await,
        None => format!("sqlite://{}", dir.path().join("m.db").display()),
    };
    let store = SqlStore::connect(&ConnectOptions {
        url: url.clone(),
        max_connections: 2,
        pg_schema: postgres_url().map(|_| schema.clone()),
    })
    .await
    .unwrap();
    let m = Migrator::new(&store);
    assert!(m.status().await.unwrap().iter().all(|s| !s.applied));
    m.up().await.unwrap();
    assert!(m.status().await.unwrap().iter().all(|s| s.applied));
    store.ping().await.expect("tables exist after up");
    let mut applied: Vec<i64> = m
        .status()
        .await
        .unwrap()
        .iter()
        .map(|s| s.version)
        .collect();
    assert_eq!(applied.first(), Some(&1));
    assert!(applied.windows(2).all(|w| w[0] < w[1]), "{applied:?}");
    // Down reverts one migration at a time, newest first; the base schema goes last.
    while let Some(latest) = applied.pop() {
        assert_eq!(m.down().await.unwrap(), Some(latest));
        let still_applied = m
            .status()
            .await
            .unwrap()
            .iter()
            .filter(|s| s.applied)
            .count();
        assert_eq!(still_applied, applied.len());
        if applied.is_empty() {
            assert!(
                store.ping().await.is_err(),
                "tables are gone after the last down"
            );
        } else {
            store.ping().await.expect("the base schema is still there");
        }
    }
    assert_eq!(m.down().await.unwrap(), None);
    m.up().await.unwrap();
    store.ping().await.unwrap();
    store.close().await;
    if let Some(admin) = postgres_url() {
        SqlStore::drop_pg_schema(&admin, &schema).await.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_claimers_never_take_the_same_job() {
    let t = TestApp::new().await;
    let now = t.clock.now_ms();
    for _ in 0..120 {
        t.app.store.enqueue(&noop_job(0, now)).await.unwrap();
    }
    let queues = vec!["maintenance".to_string()];
    let mut handles = Vec::new();
    for w in 0..8 {
        let store = t.app.store.clone();
        let queues = queues.clone();
        handles.push(tokio::spawn(async move {
            let mut mine = Vec::new();
            while let Some(job) = store
                .claim_job(&queues, &format!("w{w}"), 60_000, now)
                .await
                .unwrap()
            {
                store.complete_job(&job.lease()).await.unwrap();
                mine.push(job.id);
            }
            mine
        }));
    }
    let mut all = Vec::new();
    for h in handles {
        all.extend(h.await.unwrap());
    }
    let distinct: HashSet<_> = all.iter().collect();
    assert_eq!(all.len(), 120, "every job was claimed");
    assert_eq!(distinct.len(), 120, "no job was claimed twice");
    assert_eq!(t.app.store.count_unfinished_jobs(&queues).await.unwrap(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn claims_follow_priority_and_due_time() {
    let t = TestApp::new().await;
    let now = t.clock.now_ms();
    let later = noop_job(100, now + 60_000);
    let low = noop_job(0, now);
    let high = noop_job(5, now);
    for j in [&later, &low, &high] {
        t.app.store.enqueue(j).await.unwrap();
    }
    let queues = vec!["maintenance".to_string()];
    let first = t
        .app
        .store
        .claim_job(&queues, "w", 1000, now)
        .await
        .unwrap()
        .unwrap();
    let second = t
        .app
        .store
        .claim_job(&queues, "w", 1000, now)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (first.id.as_str(), second.id.as_str()),
        (high.id.as_str(), low.id.as_str())
    );
    assert!(
        t.app
            .store
            .claim_job(&queues, "w", 1000, now)
            .await
            .unwrap()
            .is_none(),
        "not due yet"
    );
    assert!(
        t.app
            .store
            .claim_job(&["asr".to_string()], "w", 1000, now + 60_000)
            .await
            .unwrap()
            .is_none(),
        "other queue"
    );
    assert_eq!(
        t.app.store.next_due_ms(&queues).await.unwrap(),
        Some(now + 1000)
    );
    for j in [&first, &second] {
        t.app.store.complete_job(&j.lease()).await.unwrap();
    }
    t.clock.advance_ms(60_000);
    assert_eq!(t.run_jobs_until_idle().await, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_artifact_inserts_get_distinct_consecutive_versions() {
    let t = TestApp::new().await;
    let token = t.login("ver").await;
    let task_id = t.create_two_part_task(&token).await;
    t.run_jobs_until_idle().await;
    let store: Arc<dyn minutes::store::Store> = t.app.store.clone();
    let mut handles = Vec::new();
    for _ in 0..8 {
        let store = store.clone();
        let task_id = task_id.clone();
        handles.push(tokio::spawn(async move {
            store
                .insert_artifact(&NewArtifact {
                    id: ids::artifact_id(),
                    task_id,
                    tenant_id: "tenant_ver".into(),
                    artifact_type: "summary_notes".into(),
                    content: json!({"title": "t", "summary": "s", "sections": []}),
                    prompt_instance: json!({}),
                    metadata: json!({}),
                    transcript_revision: 1,
                    speaker_mapping_version: None,
                    template_id: "summary_notes".into(),
                    model: "m".into(),
                    prompt_hash: "h".into(),
                    prompt_tokens: 0,
                    completion_tokens: 0,
                    created_by: "user_ver".into(),
                    display_name: None,
                })
                .await
                .unwrap()
                .version
        }));
    }
    let mut versions = Vec::new();
    for h in handles {
        versions.push(h.await.unwrap());
    }
    versions.sort_unstable();
    assert_eq!(versions, (1..=8).collect::<Vec<i64>>());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn progress_reports_move_forward_only_and_are_fenced_by_the_lease() {
    let t = TestApp::new().await;
    let token = t.login("progress").await;
    let task_id = t.create_two_part_task(&token).await;
    let job = t
        .app
        .store
        .claim_job(&["audio".to_string()], "w1", 60_000, t.clock.now_ms())
        .await
        .unwrap()
        .expect("the task's first job");
    let tenant = job.tenant_id.clone().expect("task jobs carry their tenant");
    let store = &t.app.store;
    store
        .report_progress(&job.lease(), &tenant, &task_id, 12.5)
        .await
        .unwrap();
    store
        .report_progress(&job.lease(), &tenant, &task_id, 5.0)
        .await
        .unwrap();
    assert_eq!(t.task_status(&token, &task_id).await["progress"], 12.5);
    // Another tenant's id matches nothing.
    assert!(store
        .report_progress(&job.lease(), "other-tenant", &task_id, 30.0)
        .await
        .is_err());
    store.release_job(&job.lease()).await.unwrap();
    let stale = store
        .report_progress(&job.lease(), &tenant, &task_id, 20.0)
        .await;
    assert!(
        matches!(stale, Err(minutes::store::StoreError::Fenced)),
        "{stale:?}"
    );
    assert_eq!(t.task_status(&token, &task_id).await["progress"], 12.5);
    t.run_jobs_until_idle().await;
}
