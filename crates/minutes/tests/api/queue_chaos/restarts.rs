//! Outages mid-run: the Redis server killed and started again (empty) on the same port, the
//! RabbitMQ node's application stopped and started, PostgreSQL stopped for 10 s. Each uses a
//! server of its own (`services.rs`) so the outage disturbs no other test. Two workers run the
//! pipelines; the outage starts once a stage has finished and another is running. A broker
//! stays down at least `BROKER_DOWN`, and a task is created meanwhile (its jobs cannot be
//! announced: the outbox must not lose them); one more task is created after every restart.
//! Every process must ride the outage out, and every task end `success`, each stage completed
//! once; after a broker restart the workers must be back on the broker, not only polling.
use std::time::{Duration, Instant};

use super::checks;
use super::db::Db;
use super::deployment::{unique_prefix, Broker, Deployment};
use super::services::{PgCluster, RabbitNode, RedisServer};
use super::{ASR_DELAY, MEETINGS};

const WORKERS: usize = 2;
const FINISH_WITHIN: Duration = Duration::from_secs(120);
/// How long PostgreSQL stays down (the "stop PostgreSQL for 10 s").
const POSTGRES_DOWN: Duration = Duration::from_secs(10);
/// The shortest broker outage: long enough for every process to notice it (failed receives
/// and publishes, reconnect attempts with backoff), besides the job enqueued meanwhile.
const BROKER_DOWN: Duration = Duration::from_secs(3);
/// How long the workers may take to be back on a restarted broker.
const BACK_WITHIN: Duration = Duration::from_secs(30);

/// Starts the deployment's workers and tasks; returns the user's token and the task ids.
async fn start_pipelines(d: &mut Deployment) -> (String, Vec<String>) {
    let token = d.login(&format!("chaos_{}", d.broker.name())).await;
    let mut tasks = Vec::new();
    for m in MEETINGS {
        tasks.push(d.create_task(&token, m).await);
    }
    for _ in 0..WORKERS {
        d.start_worker();
    }
    (token, tasks)
}

/// Polls until a stage job has finished and another one is running.
async fn wait_mid_run(d: &mut Deployment) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let (running, done) = d.db.running_and_done().await.expect("reading the jobs");
        if running > 0 && done > 0 {
            return;
        }
        d.assert_all_alive("the wait for the pipelines to get going");
        assert!(
            Instant::now() < deadline,
            "no stage ran within 60 s{}",
            d.logs(30)
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Keeps a broker outage going for at least `BROKER_DOWN` and until a stage job was enqueued
/// after `since` (while the broker was away), watching the processes.
async fn ride_broker_outage(
    d: &mut Deployment,
    since: chrono::DateTime<chrono::Utc>,
    during: &str,
) {
    let started = Instant::now();
    let deadline = started + Duration::from_secs(30);
    while started.elapsed() < BROKER_DOWN
        || d.db
            .jobs_created_since(since)
            .await
            .expect("reading the jobs")
            == 0
    {
        d.assert_all_alive(during);
        assert!(
            Instant::now() < deadline,
            "no job was enqueued during {during}{}",
            d.logs(30)
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn finish_and_check(
    d: &mut Deployment,
    token: &str,
    tasks: &[String],
    what: &str,
) -> checks::Summary {
    let took = d.wait_all_finished(FINISH_WITHIN).await;
    d.assert_all_alive(what);
    let summary = checks::every_task_exactly_once(d, token, tasks).await;
    eprintln!(
        "chaos {what}: all {} tasks finished {:.1} s after it ({} extra claims, {} ASR calls)",
        tasks.len(),
        took.as_secs_f64(),
        summary.extra_claims,
        summary.asr_calls
    );
    summary
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_killed_and_restarted_mid_run_loses_nothing() {
    let mut redis = RedisServer::start();
    let prefix = unique_prefix();
    let broker = Broker::Redis {
        url: redis.url(),
        prefix: prefix.clone(),
    };
    let mut d = Deployment::start(Db::shared().await, broker, ASR_DELAY).await;
    let (token, mut tasks) = start_pipelines(&mut d).await;
    wait_mid_run(&mut d).await;
    let down_at = chrono::Utc::now();
    redis.kill();
    tasks.push(d.create_task(&token, MEETINGS[0]).await);
    ride_broker_outage(&mut d, down_at, "the Redis outage").await;
    redis.restart();
    tasks.push(d.create_task(&token, MEETINGS[1]).await);
    finish_and_check(&mut d, &token, &tasks, "Redis restart").await;
    // The streams and group were created again on the empty server: deliveries went through
    // Redis after the restart, not only through the database poll.
    let back = Instant::now();
    while redis.keys_containing(&prefix).is_empty() {
        assert!(
            back.elapsed() < BACK_WITHIN,
            "no key of prefix {prefix} on the restarted Redis{}",
            d.logs(30)
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rabbitmq_stopped_and_started_mid_run_loses_nothing() {
    let rabbit = RabbitNode::start();
    let prefix = unique_prefix();
    let broker = Broker::Rabbitmq {
        url: rabbit.url(),
        prefix: prefix.clone(),
    };
    let mut d = Deployment::start(Db::shared().await, broker, ASR_DELAY).await;
    let (token, mut tasks) = start_pipelines(&mut d).await;
    wait_mid_run(&mut d).await;
    let down_at = chrono::Utc::now();
    rabbit.ctl(&["stop_app"]);
    tasks.push(d.create_task(&token, MEETINGS[0]).await);
    ride_broker_outage(&mut d, down_at, "the RabbitMQ outage").await;
    rabbit.ctl(&["start_app"]);
    tasks.push(d.create_task(&token, MEETINGS[1]).await);
    finish_and_check(&mut d, &token, &tasks, "RabbitMQ restart").await;
    // Both workers consume again (they reconnected, rather than only polling the database).
    let back = Instant::now();
    loop {
        let queues = rabbit.queue_consumers();
        let consumed = queues
            .iter()
            .any(|(name, consumers)| name.starts_with(&prefix) && *consumers >= WORKERS as u64);
        if consumed {
            break;
        }
        assert!(
            back.elapsed() < BACK_WITHIN,
            "no queue of prefix {prefix} has {WORKERS} consumers {BACK_WITHIN:?} after the restart: {queues:?}{}",
            d.logs(30)
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_stopped_for_ten_seconds_mid_run_loses_nothing() {
    let pg = PgCluster::start();
    let db = Db::on(&pg.admin_url()).await;
    let mut d = Deployment::start(db, Broker::Database, ASR_DELAY).await;
    let (token, mut tasks) = start_pipelines(&mut d).await;
    wait_mid_run(&mut d).await;
    pg.stop();
    let stopped = Instant::now();
    // The outage itself has a length, not a condition: the processes are watched throughout.
    while stopped.elapsed() < POSTGRES_DOWN {
        d.assert_all_alive("the PostgreSQL outage");
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    pg.up();
    tasks.push(d.create_task(&token, MEETINGS[1]).await);
    finish_and_check(&mut d, &token, &tasks, "PostgreSQL stop").await;
}
