//! The durable queue under failure: crashed workers, stale completions, shutdown, concurrency.
use std::sync::atomic::Ordering;
use std::sync::Arc;

use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use crate::engines::ScriptedAsr;
use crate::helpers::{TestApp, TestOptions};
use minutes::pipeline::{execute, JobError};
use minutes::queue::{Clock, Worker};

use minutes::store::StoreError;

/// A scripted ASR whose transcribe calls hang (the first `hangs_left` of them; every one with
/// `None`) after signalling the returned `Notify`.
pub(crate) fn hanging_asr(hangs_left: Option<usize>) -> (Arc<Notify>, ScriptedAsr) {
    let entered = Arc::new(Notify::new());
    let asr = ScriptedAsr {
        hang: Some(entered.clone()),
        hangs_left: std::sync::Mutex::new(hangs_left),
        ..Default::default()
    };
    (entered, asr)
}

/// Waits (30 s at most) until a worker is inside a hanging transcribe.
pub(crate) async fn transcribe_started(entered: &Notify) {
    tokio::time::timeout(std::time::Duration::from_secs(30), entered.notified())
        .await
        .expect("transcribe started");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crashed_workers_lease_is_reclaimed_and_exactly_one_version_results() {
    let t = TestApp::new().await;
    let token = t.login("crash").await;
    let task_id = t.create_two_part_task(&token).await;
    let queues = t.worker_options().queues;
    let lease_ms = 30_000;

    // Worker A claims prepare_audio and "dies" (never finishes, never heartbeats).
    let a = t
        .app
        .store
        .claim_job(&queues, "worker_a", lease_ms, t.clock.now_ms())
        .await
        .unwrap()
        .unwrap();
    assert!(
        t.app
            .store
            .claim_job(&queues, "worker_b", lease_ms, t.clock.now_ms())
            .await
            .unwrap()
            .is_none(),
        "a live lease is not claimable"
    );

    // Once the lease expires, another worker reclaims it and the pipeline completes.
    t.clock.advance_ms(lease_ms + 1);
    assert_eq!(t.run_jobs_until_idle().await, 5);
    assert_eq!(t.task_status(&token, &task_id).await["state"], "success");

    // Worker A wakes up and tries to finish: fenced, nothing written.
    let late = execute(&t.app, &a).await;
    assert!(matches!(late, Err(JobError::Fenced)), "{late:?}");
    let jobs = t.app.store.jobs_for_task(&task_id).await.unwrap();
    let prepare = jobs.iter().find(|j| j.kind == "prepare_audio").unwrap();
    assert_eq!(
        prepare.lease_gen, 2,
        "reclaiming bumped the lease generation"
    );
    assert_eq!(prepare.attempts, 2, "the crash counted as an attempt");
    assert_eq!(
        jobs.iter().filter(|j| j.kind == "transcribe").count(),
        1,
        "no duplicate stage jobs"
    );
    let (_, versions) = t
        .get(
            &format!("/api/v1/tasks/{task_id}/artifacts/meeting_minutes/versions"),
            &token,
        )
        .await;
    assert_eq!(versions["total_count"], 1);
    assert_eq!(t.asr.calls.load(Ordering::SeqCst), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn heartbeats_extend_the_lease_and_stale_ones_are_fenced() {
    let t = TestApp::new().await;
    let token = t.login("beat").await;
    t.create_two_part_task(&token).await;
    let queues = t.worker_options().queues;
    let now = t.clock.now_ms();
    let job = t
        .app
        .store
        .claim_job(&queues, "w1", 30_000, now)
        .await
        .unwrap()
        .unwrap();
    t.app
        .store
        .heartbeat(&job.lease(), now + 90_000)
        .await
        .unwrap();
    t.clock.advance_ms(60_000);
    assert!(
        t.app
            .store
            .claim_job(&queues, "w2", 30_000, t.clock.now_ms())
            .await
            .unwrap()
            .is_none(),
        "the heartbeat kept the lease alive past its original expiry"
    );
    t.clock.advance_ms(31_000);
    let stolen = t
        .app
        .store
        .claim_job(&queues, "w2", 30_000, t.clock.now_ms())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stolen.id, job.id);
    let stale = t
        .app
        .store
        .heartbeat(&job.lease(), t.clock.now_ms() + 30_000)
        .await;
    assert!(matches!(stale, Err(StoreError::Fenced)));
    assert!(matches!(
        t.app.store.complete_job(&job.lease()).await,
        Err(StoreError::Fenced)
    ));
    assert!(matches!(
        t.app.store.release_job(&job.lease()).await,
        Err(StoreError::Fenced)
    ));
    t.app.store.release_job(&stolen.lease()).await.unwrap();
    t.run_jobs_until_idle().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn graceful_shutdown_releases_running_jobs_instead_of_failing_them() {
    let (entered, asr) = hanging_asr(None);
    let mut t = TestApp::with(TestOptions {
        asr,
        configure: Box::new(|c| c.queue.shutdown_grace_secs = 0),
        ..Default::default()
    })
    .await;
    let token = t.login("deploy").await;
    let task_id = t.create_two_part_task(&token).await;
    let shutdown = CancellationToken::new();
    let worker = tokio::spawn(Worker::new(t.app.clone(), t.worker_options()).run(shutdown.clone()));
    // Wait until the worker is inside transcribe, then deploy (SIGTERM).
    transcribe_started(&entered).await;
    shutdown.cancel();
    tokio::time::timeout(std::time::Duration::from_secs(30), worker)
        .await
        .expect("worker stops")
        .unwrap();

    let jobs = t.app.store.jobs_for_task(&task_id).await.unwrap();
    let transcribe = jobs.iter().find(|j| j.kind == "transcribe").unwrap();
    assert_eq!(transcribe.state, "queued", "handed back to the queue");
    assert_eq!(
        transcribe.attempts, 0,
        "a deploy does not use up an attempt"
    );
    assert!(transcribe.locked_by.is_none());
    let status = t.task_status(&token, &task_id).await;
    assert_eq!(status["state"], "transcribing", "not failed: {status}");
    t.allow_unrun_jobs();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_runs_the_pipeline_end_to_end_and_wakes_on_new_jobs() {
    let t = TestApp::new().await;
    let token = t.login("live").await;
    let shutdown = CancellationToken::new();
    let worker = tokio::spawn(
        Worker::new(t.app.clone(), minutes::queue::WorkerOptions::all_queues(2))
            .run(shutdown.clone()),
    );
    let task_id = t.create_two_part_task(&token).await;
    let (_, status) = t
        .get(&format!("/api/v1/tasks/{task_id}/status?wait=30"), &token)
        .await;
    let mut status = status;
    for _ in 0..20 {
        if status["state"] == "success" {
            break;
        }
        status = t
            .get(&format!("/api/v1/tasks/{task_id}/status?wait=30"), &token)
            .await
            .1;
    }
    assert_eq!(status["state"], "success", "{status}");
    shutdown.cancel();
    worker.await.unwrap();
}
