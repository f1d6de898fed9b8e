//! The queue contract through the whole worker, once per delivery backend: real pipelines on
//! several workers end `success` with exactly one version each and every stage run once; the
//! outbox relay carries broker deliveries; a job announced but never published (a crash between
//! commit and publish) and a broker that is down both still finish through the database poll.
//! The database backend runs on SQLite, or PostgreSQL under `MINUTES_TEST_POSTGRES_URL`; the
//! brokers are the real Redis and RabbitMQ on this machine (`MINUTES_TEST_REDIS_URL`,
//! `MINUTES_TEST_AMQP_URL` override the loopback defaults; a missing server fails the test).
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::helpers::{TestApp, TestOptions};
use minutes::config::QueueBackend;
use minutes::queue::{Worker, WorkerOptions};

fn redis_url() -> String {
    std::env::var("MINUTES_TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into())
}

fn amqp_url() -> String {
    std::env::var("MINUTES_TEST_AMQP_URL")
        .unwrap_or_else(|_| "amqp://guest:guest@127.0.0.1:5672/%2f".into())
}

/// A test app on `backend` with its own broker names. `safety_poll_ms` is how often idle
/// workers poll the database under a broker: long, the broker alone must deliver.
async fn app_on(backend: QueueBackend, broken_broker: bool, safety_poll_ms: u64) -> TestApp {
    let prefix = format!("minutes-test-{}", uuid::Uuid::new_v4().simple());
    TestApp::with(TestOptions {
        configure: Box::new(move |c| {
            c.queue.backend = backend;
            c.queue.broker_prefix = prefix;
            c.queue.redis_url = if broken_broker {
                "redis://127.0.0.1:1".into()
            } else {
                redis_url()
            };
            c.queue.amqp_url = if broken_broker {
                "amqp://guest:guest@127.0.0.1:1/%2f".into()
            } else {
                amqp_url()
            };
            c.queue.safety_poll_ms = safety_poll_ms;
            c.queue.poll_interval_ms = 200;
        }),
        ..Default::default()
    })
    .await
}

/// Deletes the test's Redis keys when dropped, pass or fail.
fn redis_keys(t: &TestApp) -> crate::queue_redis::Cleanup {
    crate::queue_redis::Cleanup {
        url: redis_url(),
        prefix: t.app.config.queue.broker_prefix.clone(),
    }
}

/// Deletes what the test declared at the broker.
async fn clean_broker(t: &TestApp) {
    let prefix = &t.app.config.queue.broker_prefix;
    match t.app.config.queue.backend {
        QueueBackend::Rabbitmq => {
            crate::queue_rabbitmq::delete_topology(prefix, &minutes::domain::job::queues()).await
        }
        // Its keys go with the guard from `redis_keys`.
        QueueBackend::Redis | QueueBackend::Database => {}
    }
}

fn worker(
    t: &TestApp,
    id: &str,
    queues: &[&str],
    shutdown: &CancellationToken,
) -> tokio::task::JoinHandle<()> {
    let opts = WorkerOptions {
        worker_id: id.to_string(),
        queues: queues.iter().map(|q| q.to_string()).collect(),
        concurrency: 2,
    };
    tokio::spawn(Worker::new(t.app.clone(), opts).run(shutdown.clone()))
}

async fn wait_for_success(t: &TestApp, token: &str, task_id: &str) -> serde_json::Value {
    let mut status = serde_json::Value::Null;
    for _ in 0..60 {
        status = t
            .get(&format!("/api/v1/tasks/{task_id}/status?wait=2"), token)
            .await
            .1;
        if status["state"] == "success" || status["state"] == "failed" {
            break;
        }
    }
    status
}

/// Three tasks on two specialised workers (one takes audio and ASR, the other the rest).
async fn pipelines_finish_once_each(backend: QueueBackend) {
    // A minute between safety polls: the tasks finish in seconds only if the broker delivers.
    let t = app_on(backend, false, 60_000).await;
    let _keys = redis_keys(&t);
    let shutdown = CancellationToken::new();
    let a = worker(&t, "worker_front", &["audio", "asr"], &shutdown);
    let b = worker(
        &t,
        "worker_back",
        &["voiceprint", "llm", "maintenance"],
        &shutdown,
    );
    let token = t.login("backends").await;
    let mut tasks = Vec::new();
    for _ in 0..3 {
        tasks.push(t.create_two_part_task(&token).await);
    }
    for task_id in &tasks {
        let status = wait_for_success(&t, &token, task_id).await;
        assert_eq!(status["state"], "success", "{backend:?}: {status}");
        let (_, versions) = t
            .get(
                &format!("/api/v1/tasks/{task_id}/artifacts/meeting_minutes/versions"),
                &token,
            )
            .await;
        assert_eq!(versions["total_count"], 1, "{backend:?}");
        let jobs = t.app.store.jobs_for_task(task_id).await.unwrap();
        assert_eq!(jobs.len(), 5, "one job per stage: {jobs:?}");
        assert!(
            jobs.iter().all(|j| j.state == "done" && j.attempts == 1),
            "{backend:?}: every stage ran once: {jobs:?}"
        );
    }
    shutdown.cancel();
    a.await.unwrap();
    b.await.unwrap();
    let announced = t.app.metrics.announced_count(t.app.delivery.backend());
    match backend {
        QueueBackend::Database => assert_eq!(announced, 0, "the database needs no relay"),
        _ => assert!(
            announced >= 15,
            "{backend:?}: the relay announced {announced} jobs"
        ),
    }
    let workers = t.app.store.list_workers().await.unwrap();
    let expected = format!("{backend:?}").to_lowercase();
    for id in ["worker_front", "worker_back"] {
        let w = workers.iter().find(|w| w.id == id).expect("registered");
        assert_eq!(
            (w.state.as_str(), w.delivery.as_str()),
            ("stopped", expected.as_str())
        );
    }
    clean_broker(&t).await;
}

/// Marks a new job announced without publishing it, as a relay that crashed after its commit
/// would leave it; the safety poll must still run it.
async fn a_lost_announcement_still_runs(backend: QueueBackend) {
    let t = app_on(backend, false, 300).await;
    let _keys = redis_keys(&t);
    let job = minutes::store::NewJob {
        id: minutes::domain::ids::job_id(),
        queue: "maintenance".into(),
        kind: "noop".into(),
        task_id: None,
        tenant_id: None,
        payload: minutes::domain::job::Job::Noop.payload(),
        priority: 0,
        max_attempts: 3,
        run_at_ms: minutes::queue::Clock::now_ms(&*t.clock),
    };
    t.app.store.enqueue(&job).await.unwrap();
    let taken = t
        .app
        .store
        .take_unannounced(minutes::queue::Clock::now_ms(&*t.clock), 10)
        .await
        .unwrap();
    assert_eq!(taken.len(), 1, "marked announced, never published");
    let shutdown = CancellationToken::new();
    let w = worker(&t, "worker_poll", &["maintenance"], &shutdown);
    let store = t.app.store.clone();
    let id = job.id.clone();
    let mut done = false;
    for _ in 0..100 {
        if store.get_job(&id).await.unwrap().unwrap().state == "done" {
            done = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    shutdown.cancel();
    w.await.unwrap();
    clean_broker(&t).await;
    assert!(
        done,
        "{backend:?}: the database poll ran the unpublished job"
    );
}

/// With the broker unreachable from the start, pipelines still finish through the poll.
async fn a_broker_outage_slows_but_loses_nothing(backend: QueueBackend) {
    let t = app_on(backend, true, 300).await;
    let (code, ready) = t
        .request(
            axum::http::Method::GET,
            "/ready",
            None,
            axum::body::Body::empty(),
            None,
        )
        .await;
    assert_eq!(code, axum::http::StatusCode::OK, "{ready}");
    assert_eq!(ready["dependencies"]["queue"], "unhealthy", "{ready}");
    let shutdown = CancellationToken::new();
    let w = worker(
        &t,
        "worker_outage",
        &["audio", "asr", "voiceprint", "llm", "maintenance"],
        &shutdown,
    );
    let token = t.login("outage").await;
    let task_id = t.create_two_part_task(&token).await;
    let status = wait_for_success(&t, &token, &task_id).await;
    shutdown.cancel();
    w.await.unwrap();
    assert_eq!(status["state"], "success", "{backend:?}: {status}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn database_backend_runs_pipelines_once_each() {
    pipelines_finish_once_each(QueueBackend::Database).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_backend_runs_pipelines_once_each() {
    pipelines_finish_once_each(QueueBackend::Redis).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rabbitmq_backend_runs_pipelines_once_each() {
    pipelines_finish_once_each(QueueBackend::Rabbitmq).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_backend_runs_a_job_whose_announcement_was_lost() {
    a_lost_announcement_still_runs(QueueBackend::Redis).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rabbitmq_backend_runs_a_job_whose_announcement_was_lost() {
    a_lost_announcement_still_runs(QueueBackend::Rabbitmq).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_backend_outage_loses_nothing() {
    a_broker_outage_slows_but_loses_nothing(QueueBackend::Redis).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rabbitmq_backend_outage_loses_nothing() {
    a_broker_outage_slows_but_loses_nothing(QueueBackend::Rabbitmq).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_backend_dead_letters_a_delivery_that_names_no_job() {
    let t = app_on(QueueBackend::Redis, false, 60_000).await;
    let _keys = redis_keys(&t);
    let stray = minutes::queue::delivery::Announcement {
        job_id: "job_that_never_existed".into(),
        queue: "maintenance".into(),
    };
    t.app.delivery.announce(&[stray]).await.unwrap();
    let shutdown = CancellationToken::new();
    let w = worker(&t, "worker_stray", &["maintenance"], &shutdown);
    let client = redis::Client::open(redis_url()).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    let dead_key = format!("{{{}}}:dead", t.app.config.queue.broker_prefix);
    let mut dead: Vec<(String, Vec<(String, String)>)> = Vec::new();
    for _ in 0..100 {
        dead = redis::cmd("XRANGE")
            .arg(&dead_key)
            .arg("-")
            .arg("+")
            .query_async(&mut conn)
            .await
            .unwrap();
        if !dead.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    shutdown.cancel();
    w.await.unwrap();
    let fields = &dead.first().expect("dead-lettered").1;
    assert!(
        fields
            .iter()
            .any(|(k, v)| k == "job" && v == "job_that_never_existed"),
        "{fields:?}"
    );
}
