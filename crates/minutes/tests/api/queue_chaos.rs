//! Chaos (issue 14): real deployments — `minutes serve` and separate `minutes worker` processes
//! on PostgreSQL, per delivery backend — whose workers are `kill -9`ed mid-stage 20 times in a
//! row, whose Redis or RabbitMQ is restarted mid-run, and whose PostgreSQL is stopped for 10 s.
//! Every task must end `success` with exactly one version of its artifact, every stage completed
//! exactly once, nothing lost. Leases are short (3 s, heartbeats every second) so reclaims are
//! quick. Speech-to-text is a loopback OpenAI-compatible stub with a fixed delay
//! (`asr_stub.rs`): a kill lands inside a transcription deterministically and the suite leaves
//! the two cores to the processes under test; everything else in the pipeline is the real thing.
//!
//! Needs PostgreSQL (`MINUTES_TEST_POSTGRES_URL`, else 127.0.0.1:5432/test), the shared Redis and
//! RabbitMQ (`MINUTES_TEST_REDIS_URL`, `MINUTES_TEST_AMQP_URL`), and `redis-server`, RabbitMQ and
//! the PostgreSQL server binaries for the servers the outage tests start; any missing one fails.
//! The tests take turns (one nextest group, .config/nextest.toml).
mod asr_stub;
mod checks;
mod db;
mod deployment;
mod kills;
mod restarts;
mod services;

use std::time::Duration;

use deployment::{unique_prefix, Broker};

/// Short shared meetings (about a minute each), in three containers the workers decode.
const MEETINGS: [&str; 3] = [
    "en01_sprint_planning.opus",
    "en02_customer_escalation.mp3",
    "en03_budget_review.ogg",
];
/// How long a transcription call takes: long enough to be killed in (the test polls every
/// 20 ms), short enough that a reclaimed transcription finishes before the next kill is due.
const ASR_DELAY: Duration = Duration::from_millis(1000);

fn shared_redis_url() -> String {
    std::env::var("MINUTES_TEST_REDIS_URL")
        .ok()
        .filter(|u| !u.is_empty())
        .unwrap_or_else(|| "redis://127.0.0.1:6379".into())
}

fn shared_amqp_url() -> String {
    std::env::var("MINUTES_TEST_AMQP_URL")
        .ok()
        .filter(|u| !u.is_empty())
        .unwrap_or_else(|| "amqp://guest:guest@127.0.0.1:5672/%2f".into())
}

/// Deletes what a test declared on a shared broker under its prefix, pass or fail.
struct BrokerCleanup(Broker);

impl Drop for BrokerCleanup {
    fn drop(&mut self) {
        let broker = self.0.clone();
        // Drop runs inside the test's runtime: a thread with its own runtime may block.
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            rt.block_on(clean(broker));
        })
        .join();
    }
}

async fn clean(broker: Broker) {
    match broker {
        Broker::Database => {}
        Broker::Redis { url, prefix } => {
            let Ok(client) = redis::Client::open(url) else {
                return;
            };
            let Ok(mut conn) = client.get_multiplexed_async_connection().await else {
                return;
            };
            let keys: Vec<String> = redis::cmd("KEYS")
                .arg(format!("*{prefix}*"))
                .query_async(&mut conn)
                .await
                .unwrap_or_default();
            if !keys.is_empty() {
                let _: Result<(), _> = redis::cmd("DEL").arg(keys).query_async(&mut conn).await;
            }
        }
        Broker::Rabbitmq { prefix, .. } => {
            crate::queue_rabbitmq::delete_topology(&prefix, &minutes::domain::job::queues()).await;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn database_backend_workers_killed_mid_stage_twenty_times() {
    kills::twenty_kills(Broker::Database).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_backend_workers_killed_mid_stage_twenty_times() {
    let broker = Broker::Redis {
        url: shared_redis_url(),
        prefix: unique_prefix(),
    };
    let _cleanup = BrokerCleanup(broker.clone());
    kills::twenty_kills(broker).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rabbitmq_backend_workers_killed_mid_stage_twenty_times() {
    let broker = Broker::Rabbitmq {
        url: shared_amqp_url(),
        prefix: unique_prefix(),
    };
    let _cleanup = BrokerCleanup(broker.clone());
    kills::twenty_kills(broker).await;
}
