//! The production queue's own parts on the database backend: batch and by-id claims, the
//! outbox relay's bookkeeping, time limits, the lease heartbeat loop, the worker registry,
//! cron schedules that re-arm after a failed run, and pruning.
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::helpers::{TestApp, TestOptions};
use crate::queue::{hanging_asr, transcribe_started};
use minutes::domain::ids;
use minutes::domain::job::{Job, JobKind};
use minutes::queue::{schedule, Clock, Worker, WorkerOptions};
use minutes::store::{JobRecord, NewJob};

fn noop(priority: i64, run_at_ms: i64) -> NewJob {
    NewJob {
        id: ids::job_id(),
        queue: "maintenance".into(),
        kind: JobKind::Noop.wire_name().into(),
        task_id: None,
        tenant_id: None,
        payload: Job::Noop.payload(),
        priority,
        max_attempts: 3,
        run_at_ms,
    }
}

fn maintenance() -> Vec<String> {
    vec!["maintenance".to_string()]
}

/// Polls `check` every 50 ms until it holds or `secs` pass.
async fn eventually<F, Fut>(secs: u64, mut check: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + Duration::from_secs(secs);
    while tokio::time::Instant::now() < deadline {
        if check().await {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    false
}

/// Polls the task's jobs like `eventually` until one of them satisfies `check`.
async fn eventually_a_job(
    t: &TestApp,
    task_id: &str,
    secs: u64,
    check: impl Fn(&JobRecord) -> bool,
) -> bool {
    let check = &check;
    eventually(secs, || async move {
        let jobs = t.app.store.jobs_for_task(task_id).await.unwrap();
        jobs.iter().any(check)
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batch_claims_take_the_highest_priority_first_and_by_id_claims_are_fenced() {
    let t = TestApp::new().await;
    let now = t.clock.now_ms();
    let mut ids = Vec::new();
    for p in [0, 5, 1, 9, 3] {
        let job = noop(p, now);
        ids.push((p, job.id.clone()));
        t.app.store.enqueue(&job).await.unwrap();
    }
    let later = noop(100, now + 60_000);
    t.app.store.enqueue(&later).await.unwrap();

    let batch = t
        .app
        .store
        .claim_jobs(&maintenance(), "w1", 30_000, now, 3)
        .await
        .unwrap();
    let priorities: Vec<i64> = batch.iter().map(|j| j.priority).collect();
    assert_eq!(
        priorities,
        vec![9, 5, 3],
        "a future job is never claimed early"
    );
    assert!(batch.iter().all(|j| j.claimed_due_ms == Some(now)));

    // By id: a job someone holds, a future job, and a job on another queue are not claimable.
    let held = &batch[0].id;
    let store = &t.app.store;
    assert!(store
        .claim_job_by_id(held, &maintenance(), "w2", 30_000, now)
        .await
        .unwrap()
        .is_none());
    assert!(store
        .claim_job_by_id(&later.id, &maintenance(), "w2", 30_000, now)
        .await
        .unwrap()
        .is_none());
    let free = &ids.iter().find(|(p, _)| *p == 0).unwrap().1;
    assert!(store
        .claim_job_by_id(free, &["asr".to_string()], "w2", 30_000, now)
        .await
        .unwrap()
        .is_none());
    let got = store
        .claim_job_by_id(free, &maintenance(), "w2", 30_000, now)
        .await
        .unwrap()
        .expect("a due, free job is claimed by id");
    assert_eq!(got.lease_gen, 1);
    // Its lease expires: claimable by id again, with a new fencing generation.
    let again = store
        .claim_job_by_id(free, &maintenance(), "w3", 30_000, now + 30_001)
        .await
        .unwrap()
        .expect("an expired lease is claimable by id");
    assert_eq!(again.lease_gen, 2);
    assert_eq!(again.claimed_due_ms, Some(now + 30_000));
    assert!(matches!(
        store.complete_job(&got.lease()).await,
        Err(minutes::store::StoreError::Fenced)
    ));
    for j in batch.iter().chain([&again]) {
        store.complete_job(&j.lease()).await.unwrap();
    }
    let mut t = t;
    t.allow_unrun_jobs();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delivered_ids_are_claimed_in_one_statement_and_concurrent_completions_keep_their_fences() {
    let mut t = TestApp::new().await;
    t.allow_unrun_jobs();
    let store = t.app.store.clone();
    let now = t.clock.now_ms();
    let mut due = Vec::new();
    for _ in 0..40 {
        let job = noop(0, now);
        due.push(job.id.clone());
        store.enqueue(&job).await.unwrap();
    }
    let later = noop(0, now + 60_000);
    store.enqueue(&later).await.unwrap();
    // Forty due ids, one future id, an unknown id and a duplicate: only the due ones, once.
    let mut asked = due.clone();
    asked.extend([later.id.clone(), "job_missing".into(), due[0].clone()]);
    let claimed = store
        .claim_jobs_by_ids(&asked, &maintenance(), "w1", 30_000, now)
        .await
        .unwrap();
    let mut got: Vec<String> = claimed.iter().map(|j| j.id.clone()).collect();
    got.sort();
    let mut want = due.clone();
    want.sort();
    assert_eq!(got, want, "every due id and nothing else");
    assert!(claimed.iter().all(|j| j.lease_gen == 1 && j.attempts == 1));
    // Another queue's worker gets none of them, and a second claim finds them held.
    assert!(store
        .claim_jobs_by_ids(&due, &["asr".to_string()], "w2", 30_000, now)
        .await
        .unwrap()
        .is_empty());
    assert!(store
        .claim_jobs_by_ids(&due, &maintenance(), "w2", 30_000, now)
        .await
        .unwrap()
        .is_empty());

    // The first ten leases expire and are reclaimed: their old holders are fenced off even when
    // their completions share a statement with the live ones.
    let stale: Vec<_> = claimed.iter().take(10).map(|j| j.lease()).collect();
    let stale_ids: Vec<String> = stale.iter().map(|l| l.job_id.clone()).collect();
    let reclaimed = store
        .claim_jobs_by_ids(&stale_ids, &maintenance(), "w3", 30_000, now + 30_001)
        .await
        .unwrap();
    assert_eq!(reclaimed.len(), 10);
    let mut completions = tokio::task::JoinSet::new();
    for lease in claimed
        .iter()
        .map(|j| j.lease())
        .chain(reclaimed.iter().map(|j| j.lease()))
    {
        let store = store.clone();
        completions.spawn(async move { (lease.clone(), store.complete_job(&lease).await) });
    }
    let (mut done, mut fenced) = (0, 0);
    while let Some(r) = completions.join_next().await {
        let (lease, result) = r.unwrap();
        match result {
            Ok(()) => {
                done += 1;
                assert!(!stale.contains(&lease), "a stale lease never completes");
            }
            Err(minutes::store::StoreError::Fenced) => {
                fenced += 1;
                assert!(stale.contains(&lease), "a live lease is never fenced");
            }
            Err(e) => panic!("completion failed: {e}"),
        }
    }
    assert_eq!((done, fenced), (40, 10));
    for id in &due {
        let job = store.get_job(id).await.unwrap().unwrap();
        assert_eq!(job.state, "done", "{id}");
    }
    assert_eq!(
        store.get_job(&later.id).await.unwrap().unwrap().state,
        "queued"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_outbox_announces_each_due_time_once_and_again_after_a_lease_expires() {
    let mut t = TestApp::new().await;
    t.allow_unrun_jobs();
    let store = t.app.store.clone();
    let now = t.clock.now_ms();
    let due = noop(0, now);
    let future = noop(0, now + 10_000);
    store.enqueue(&due).await.unwrap();
    store.enqueue(&future).await.unwrap();

    let first = store.take_unannounced(now, 100).await.unwrap();
    assert_eq!(
        first.iter().map(|d| &d.id).collect::<Vec<_>>(),
        vec![&due.id]
    );
    assert!(
        store.take_unannounced(now, 100).await.unwrap().is_empty(),
        "announced once"
    );
    // A failed publish is undone and retried.
    store.unannounce(&first).await.unwrap();
    assert_eq!(store.take_unannounced(now, 100).await.unwrap().len(), 1);

    // The delayed job is announced when it comes due.
    let later = store.take_unannounced(now + 10_000, 100).await.unwrap();
    assert_eq!(
        later.iter().map(|d| &d.id).collect::<Vec<_>>(),
        vec![&future.id]
    );

    // A claimed job whose worker dies is announced again once its lease expires.
    let claimed = store
        .claim_job_by_id(&due.id, &maintenance(), "w", 30_000, now + 10_000)
        .await
        .unwrap()
        .unwrap();
    assert!(store
        .take_unannounced(now + 20_000, 100)
        .await
        .unwrap()
        .iter()
        .all(|d| d.id != due.id));
    let expired = store.take_unannounced(now + 40_001, 100).await.unwrap();
    assert!(expired.iter().any(|d| d.id == claimed.id), "{expired:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hung_stage_times_out_counts_as_a_failed_attempt_and_the_retry_finishes() {
    let (entered, asr) = hanging_asr(Some(1));
    let t = TestApp::with(TestOptions {
        asr,
        configure: Box::new(|c| {
            let one_second = minutes::config::JobTimeout {
                base_secs: 1,
                per_audio_second: 0.0,
                min_secs: 1,
                max_secs: 1,
            };
            c.queue
                .timeouts
                .by_kind
                .insert("transcribe".into(), one_second);
        }),
        ..Default::default()
    })
    .await;
    let token = t.login("hung").await;
    let task_id = t.create_two_part_task(&token).await;
    let shutdown = CancellationToken::new();
    let worker = tokio::spawn(Worker::new(t.app.clone(), t.worker_options()).run(shutdown.clone()));
    transcribe_started(&entered).await;
    let timed_out = eventually_a_job(&t, &task_id, 20, |j| {
        j.kind == "transcribe" && j.state == "queued" && !j.errors.0.is_empty()
    })
    .await;
    assert!(
        timed_out,
        "the hung attempt was cut off and queued for a retry"
    );
    shutdown.cancel();
    worker.await.unwrap();
    let jobs = t.app.store.jobs_for_task(&task_id).await.unwrap();
    let transcribe = jobs.iter().find(|j| j.kind == "transcribe").unwrap();
    let attempt = &transcribe.errors.0[0];
    assert_eq!(attempt.code, "job_timeout");
    assert_eq!(attempt.attempt, Some(1));
    assert!(
        attempt.at.is_some() && attempt.worker.is_some(),
        "{attempt:?}"
    );
    assert!(
        transcribe.run_at_ms > t.clock.now_ms(),
        "retried after a backoff"
    );
    assert_eq!(
        t.task_status(&token, &task_id).await["state"],
        "transcribing"
    );
    // The engine hangs only once: past the backoff, the retry finishes the task.
    t.clock.advance_ms(120_000);
    let shutdown = CancellationToken::new();
    let worker = tokio::spawn(Worker::new(t.app.clone(), t.worker_options()).run(shutdown.clone()));
    let finished = eventually_a_job(&t, &task_id, 30, |j| {
        j.kind == "generate_artifact" && j.state == "done"
    })
    .await;
    shutdown.cancel();
    worker.await.unwrap();
    assert!(finished, "the retried pipeline finished");
    assert_eq!(t.task_status(&token, &task_id).await["state"], "success");
    let jobs = t.app.store.jobs_for_task(&task_id).await.unwrap();
    let transcribe = jobs.iter().find(|j| j.kind == "transcribe").unwrap();
    assert_eq!(
        (transcribe.state.as_str(), transcribe.attempts),
        ("done", 2)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_heartbeat_loop_keeps_a_long_job_leased_and_the_registry_tracks_the_worker() {
    let (entered, asr) = hanging_asr(None);
    let mut t = TestApp::with(TestOptions {
        asr,
        configure: Box::new(|c| {
            c.queue.lease_secs = 2;
            c.queue.heartbeat_secs = 1;
            c.queue.shutdown_grace_secs = 0;
        }),
        ..Default::default()
    })
    .await;
    t.allow_unrun_jobs();
    let token = t.login("beats").await;
    let task_id = t.create_two_part_task(&token).await;
    let opts = WorkerOptions {
        worker_id: "worker_beats".into(),
        ..WorkerOptions::all_queues(1)
    };
    let shutdown = CancellationToken::new();
    let worker = tokio::spawn(Worker::new(t.app.clone(), opts).run(shutdown.clone()));
    transcribe_started(&entered).await;
    let held = |t: &TestApp| {
        let store = t.app.store.clone();
        let id = task_id.clone();
        async move {
            let jobs = store.jobs_for_task(&id).await.unwrap();
            jobs.into_iter().find(|j| j.kind == "transcribe").unwrap()
        }
    };
    let start = held(&t).await;
    // The job runs far past its 2 s lease: the loop extends it (run_at_ms moves forward with
    // the manual clock held still, so only heartbeats can move it).
    t.clock.advance_ms(1_500);
    let extended = eventually_a_job(&t, &task_id, 10, |j| {
        j.kind == "transcribe" && j.run_at_ms >= t.clock.now_ms() + 1_000
    })
    .await;
    assert!(extended, "the heartbeat loop extended the lease");
    let now = held(&t).await;
    assert_eq!(
        now.lease_gen, start.lease_gen,
        "never reclaimed while beating"
    );
    assert_eq!(now.state, "running");

    let workers = t.app.store.list_workers().await.unwrap();
    let me = workers
        .iter()
        .find(|w| w.id == "worker_beats")
        .expect("registered");
    assert_eq!(me.state, "active");
    assert_eq!(me.delivery, "database");
    assert!(me.queues.0.contains(&"asr".to_string()));
    let store = t.app.store.clone();
    let running = eventually(10, || {
        let store = store.clone();
        async move {
            store
                .list_workers()
                .await
                .unwrap()
                .iter()
                .any(|w| w.id == "worker_beats" && w.running == 1)
        }
    })
    .await;
    assert!(running, "heartbeats report the running job");

    // Another worker whose heartbeats stopped is marked lost by the live one's next beat.
    t.app
        .store
        .register_worker(&minutes::store::NewWorker {
            id: "worker_gone".into(),
            host: "elsewhere".into(),
            pid: 1,
            version: "0".into(),
            queues: vec!["asr".into()],
            concurrency: 1,
            delivery: "database".into(),
        })
        .await
        .unwrap();
    let lost = t
        .app
        .store
        .mark_lost_workers(chrono::Utc::now() + chrono::Duration::seconds(1))
        .await
        .unwrap();
    assert!(lost.contains(&"worker_gone".to_string()));
    shutdown.cancel();
    worker.await.unwrap();
    let workers = t.app.store.list_workers().await.unwrap();
    let me = workers.iter().find(|w| w.id == "worker_beats").unwrap();
    assert_eq!(me.state, "stopped", "a clean stop deregisters");
    assert!(me.stopped_at.is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn schedules_make_one_run_per_fire_time_and_rearm_after_a_dead_run() {
    let mut t = TestApp::with(TestOptions {
        configure: Box::new(|c| {
            c.schedules.retention = "*/5 * * * *".into();
            c.schedules.prune_jobs = String::new();
        }),
        ..Default::default()
    })
    .await;
    t.allow_unrun_jobs();
    let store = t.app.store.clone();
    let first_fire = schedule::arm(&t.app).await.unwrap().expect("armed");
    assert_eq!(first_fire % 300_000, 0, "on a five-minute boundary");
    assert!(first_fire > t.clock.now_ms());
    // Any number of workers arming at once make one job.
    let again = futures::future::join_all((0..4).map(|_| schedule::arm(&t.app))).await;
    assert!(again
        .iter()
        .all(|r| r.as_ref().unwrap() == &Some(first_fire)));
    let id = schedule::run_id(JobKind::Retention, first_fire);
    assert_eq!(store.get_job(&id).await.unwrap().unwrap().state, "queued");

    // The run comes due and dies (every attempt fails).
    t.clock.advance_ms(first_fire + 1 - t.clock.now_ms());
    let run = store
        .claim_job_by_id(&id, &maintenance(), "w", 30_000, t.clock.now_ms())
        .await
        .unwrap()
        .unwrap();
    store
        .fail_job(&run.lease(), "internal_error: disk full", None)
        .await
        .unwrap();
    assert_eq!(store.get_job(&id).await.unwrap().unwrap().state, "dead");

    // Whatever that outcome, the next period is armed and runs.
    let next_fire = schedule::arm(&t.app).await.unwrap().unwrap();
    assert_eq!(next_fire, first_fire + 300_000);
    t.clock.advance_ms(next_fire - t.clock.now_ms());
    assert_eq!(t.run_jobs_until_idle().await, 1);
    let next = store
        .get_job(&schedule::run_id(JobKind::Retention, next_fire))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(next.state, "done");
    let status = schedule::status(&t.app).await.unwrap();
    assert_eq!(status.len(), 1, "the disabled schedule is not listed");
    assert_eq!(status[0].kind, "retention");
    assert_eq!(status[0].last_run.as_ref().unwrap().state, "done");
    assert_eq!(
        status[0].next_run_at.unwrap().timestamp_millis(),
        next_fire + 300_000
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pruning_deletes_old_finished_jobs_only_and_metrics_skip_them() {
    let t = TestApp::with(TestOptions {
        configure: Box::new(|c| {
            c.queue.keep_finished_days = 0;
            c.queue.prune_batch = 2;
        }),
        ..Default::default()
    })
    .await;
    let store = t.app.store.clone();
    let now = t.clock.now_ms();
    for _ in 0..5 {
        store.enqueue(&noop(0, now)).await.unwrap();
    }
    assert_eq!(t.run_jobs_until_idle().await, 5);
    let dead = noop(0, now);
    store.enqueue(&dead).await.unwrap();
    let j = store
        .claim_job(&maintenance(), "w", 30_000, now)
        .await
        .unwrap()
        .unwrap();
    store
        .fail_job(&j.lease(), "bad_job: broken", None)
        .await
        .unwrap();

    let counts = store.job_counts().await.unwrap();
    assert!(
        counts.iter().all(|(state, _)| state != "done"),
        "{counts:?}"
    );
    assert!(counts.contains(&("dead".to_string(), 1)));

    assert!(schedule::enqueue_run(&t.app, JobKind::PruneJobs, now)
        .await
        .unwrap());
    assert_eq!(t.run_jobs_until_idle().await, 1);
    let left: Vec<String> = t
        .raw_texts("SELECT state FROM jobs")
        .await
        .into_iter()
        .flatten()
        .collect();
    assert!(
        left.contains(&"dead".to_string()),
        "dead letters are kept: {left:?}"
    );
    // The five no-ops are gone; the pruning job itself finished after its own sweep.
    assert_eq!(left.iter().filter(|s| *s == "done").count(), 1, "{left:?}");
    let (code, _, body) = t.get_raw("/metrics", "").await;
    assert_eq!(code, axum::http::StatusCode::OK);
    let text = String::from_utf8(body).unwrap();
    assert!(
        text.contains(r#"minutes_queue_jobs{state="dead"} 1"#),
        "{text}"
    );
    assert!(
        text.contains(r#"minutes_queue_depth{queue="maintenance"} 0"#),
        "{text}"
    );
}
