//! The Redis Streams delivery backend and the Redis connection factory under it, against real
//! servers: the shared Redis on 127.0.0.1:6379 (`MINUTES_TEST_REDIS_URL`) for the contract, and
//! servers the tests start themselves (`redis-server` on free loopback ports) for a restart, a
//! Sentinel failover and a Cluster. A missing Redis or `redis-server` fails these tests.
mod cluster;
mod restart;
mod sentinel;
mod servers;

use std::collections::HashSet;
use std::time::{Duration, Instant};

use minutes::queue::delivery::redis::{RedisDelivery, GROUP};
use minutes::queue::delivery::{Announcement, Delivered, Delivery, Receipt};
use minutes::redis_client::RedisClient;

const LOCAL_REDIS: &str = "redis://127.0.0.1:6379";

fn local_url() -> String {
    std::env::var("MINUTES_TEST_REDIS_URL")
        .ok()
        .filter(|u| !u.is_empty())
        .unwrap_or_else(|| LOCAL_REDIS.to_string())
}

fn unique_prefix() -> String {
    format!("minutes-test-{}", uuid::Uuid::new_v4().simple())
}

async fn client(url: &str) -> RedisClient {
    RedisClient::connect(url)
        .await
        .unwrap_or_else(|e| panic!("Redis must be running for these tests: {e}"))
}

async fn delivery(client: &RedisClient, prefix: &str, claim_idle: Duration) -> RedisDelivery {
    RedisDelivery::connect(client.clone(), prefix, claim_idle)
        .await
        .unwrap()
}

fn due(queue: &str, ids: &[&str]) -> Vec<Announcement> {
    ids.iter()
        .map(|id| Announcement {
            job_id: id.to_string(),
            queue: queue.to_string(),
        })
        .collect()
}

fn queues(names: &[&str]) -> Vec<String> {
    names.iter().map(|q| q.to_string()).collect()
}

fn job_ids(got: &[Delivered]) -> Vec<String> {
    let mut ids: Vec<String> = got.iter().map(|d| d.job_id.clone()).collect();
    ids.sort();
    ids
}

/// Receives until `n` deliveries arrived, failing after `within`.
async fn receive_n(
    d: &RedisDelivery,
    consumer: &str,
    names: &[&str],
    n: usize,
    within: Duration,
) -> Vec<Delivered> {
    let deadline = Instant::now() + within;
    let mut got = Vec::new();
    while got.len() < n {
        assert!(
            Instant::now() < deadline,
            "only {} of {n} deliveries within {within:?}: {got:?}",
            got.len()
        );
        let batch = d
            .receive(
                consumer,
                &queues(names),
                n - got.len(),
                Duration::from_millis(200),
            )
            .await
            .unwrap();
        got.extend(batch);
    }
    got
}

/// Announces and receives one job, retrying both while Redis recovers (`within` bounds it).
async fn deliver_when_back(d: &RedisDelivery, queue: &str, job: &str, within: Duration) {
    let deadline = Instant::now() + within;
    let mut last_error = String::new();
    while Instant::now() < deadline {
        match d.announce(&due(queue, &[job])).await {
            Ok(()) => break,
            Err(e) => last_error = e.to_string(),
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        Instant::now() < deadline,
        "announce kept failing: {last_error}"
    );
    loop {
        match d
            .receive("after", &queues(&[queue]), 10, Duration::from_millis(200))
            .await
        {
            Ok(got) if !got.is_empty() => {
                assert!(got.iter().all(|g| g.job_id == job), "{got:?}");
                for g in &got {
                    d.ack(g).await.unwrap();
                }
                return;
            }
            Ok(_) => {}
            Err(e) => last_error = e.to_string(),
        }
        assert!(
            Instant::now() < deadline,
            "{job} not delivered within {within:?}: {last_error}"
        );
    }
}

fn entry_id(d: &Delivered) -> String {
    match &d.receipt {
        Receipt::Stream { entry_id, .. } => entry_id.clone(),
        other => panic!("not a stream receipt: {other:?}"),
    }
}

/// Deletes the test's keys on the shared Redis, pass or fail.
pub(crate) struct Cleanup {
    pub(crate) url: String,
    pub(crate) prefix: String,
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        let Ok(client) = redis::Client::open(self.url.as_str()) else {
            return;
        };
        let Ok(mut conn) = client.get_connection() else {
            return;
        };
        let keys: Vec<String> = redis::cmd("KEYS")
            .arg(format!("{{{}}}:*", self.prefix))
            .query(&mut conn)
            .unwrap_or_default();
        if !keys.is_empty() {
            let _: redis::RedisResult<()> = redis::cmd("DEL").arg(keys).query(&mut conn);
        }
    }
}

/// Entries of `stream` delivered to the group and not yet acknowledged.
async fn pending(client: &RedisClient, stream: &str) -> u64 {
    // XPENDING's summary: [count, smallest id, greatest id, [[consumer, count], …]].
    let summary: Vec<redis::Value> = redis::cmd("XPENDING")
        .arg(stream)
        .arg(GROUP)
        .query_async(&mut client.connection())
        .await
        .unwrap();
    redis::from_redis_value(&summary[0]).unwrap()
}

/// The shared Redis under a prefix of the test's own, whose keys go when the test ends.
struct LocalRedis {
    client: RedisClient,
    prefix: String,
    _cleanup: Cleanup,
}

impl LocalRedis {
    async fn start() -> Self {
        let url = local_url();
        let prefix = unique_prefix();
        LocalRedis {
            client: client(&url).await,
            _cleanup: Cleanup {
                url,
                prefix: prefix.clone(),
            },
            prefix,
        }
    }

    async fn delivery(&self, claim_idle: Duration) -> RedisDelivery {
        delivery(&self.client, &self.prefix, claim_idle).await
    }
}

/// One read of at most 10 deliveries that waits at most `wait`.
async fn receive_once(
    d: &RedisDelivery,
    consumer: &str,
    names: &[&str],
    wait: Duration,
) -> Vec<Delivered> {
    d.receive(consumer, &queues(names), 10, wait).await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_announced_job_is_received_once_acked_and_then_gone() {
    let r = LocalRedis::start().await;
    let (c, prefix) = (&r.client, &r.prefix);
    let d = r.delivery(Duration::from_secs(30)).await;
    d.check().await.unwrap();
    assert!(d.needs_relay());
    assert_eq!(d.backend(), "redis");

    d.announce(&due("default", &["j1", "j2"])).await.unwrap();
    let got = receive_n(&d, "w1", &["default"], 2, Duration::from_secs(5)).await;
    assert_eq!(job_ids(&got), ["j1", "j2"]);
    for g in &got {
        assert_eq!(g.queue, "default");
        assert_eq!(
            g.receipt,
            Receipt::Stream {
                stream: d.stream_key("default"),
                entry_id: entry_id(g),
            }
        );
        d.ack(g).await.unwrap();
    }
    assert!(d
        .stream_key("default")
        .starts_with(&format!("{{{prefix}}}:")));

    // Acked means settled and deleted: nothing pending, nothing left in the stream.
    let mut conn = c.connection();
    assert_eq!(pending(c, &d.stream_key("default")).await, 0);
    let len: u64 = redis::cmd("XLEN")
        .arg(d.stream_key("default"))
        .query_async(&mut conn)
        .await
        .unwrap();
    assert_eq!(len, 0);
    let again = receive_once(&d, "w1", &["default"], Duration::from_millis(100)).await;
    assert!(again.is_empty(), "{again:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_consumer_receives_only_the_queues_it_asks_for_and_one_read_serves_several() {
    let r = LocalRedis::start().await;
    let d = r.delivery(Duration::from_secs(30)).await;
    d.announce(&due("asr", &["a1"])).await.unwrap();
    d.announce(&due("llm", &["l1"])).await.unwrap();

    let started = Instant::now();
    let none = receive_once(&d, "w", &["default"], Duration::from_millis(300)).await;
    assert!(none.is_empty(), "{none:?}");
    assert!(
        started.elapsed() >= Duration::from_millis(250),
        "the read blocked for its wait"
    );

    let asr = receive_n(&d, "w", &["asr"], 1, Duration::from_secs(5)).await;
    assert_eq!(job_ids(&asr), ["a1"]);
    assert_eq!(asr[0].queue, "asr");
    d.ack(&asr[0]).await.unwrap();

    // One read over two queues takes what waits on either.
    let both = receive_n(&d, "w", &["default", "llm"], 1, Duration::from_secs(5)).await;
    assert_eq!(job_ids(&both), ["l1"]);
    assert_eq!(both[0].queue, "llm");
    d.ack(&both[0]).await.unwrap();

    // And a read blocked on two queues wakes for an announcement on either.
    let started = Instant::now();
    let both_queues = queues(&["default", "llm"]);
    let (woken, ()) = tokio::join!(
        d.receive("w", &both_queues, 10, Duration::from_secs(10)),
        async {
            tokio::time::sleep(Duration::from_millis(200)).await;
            d.announce(&due("default", &["d1"])).await.unwrap();
        }
    );
    let woken = woken.unwrap();
    assert_eq!(job_ids(&woken), ["d1"]);
    assert_eq!(woken[0].queue, "default");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "woken, not timed out"
    );
    d.ack(&woken[0]).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_entry_left_unacked_by_a_dead_consumer_goes_to_another_after_claim_idle() {
    let r = LocalRedis::start().await;
    let claim_idle = Duration::from_millis(600);
    // Two processes' worth: the dead worker's delivery and a live one.
    let dead = r.delivery(claim_idle).await;
    let alive = r.delivery(claim_idle).await;
    dead.announce(&due("default", &["j-orphan"])).await.unwrap();
    let taken = receive_n(
        &dead,
        "dead-worker",
        &["default"],
        1,
        Duration::from_secs(5),
    )
    .await;
    let taken_at = Instant::now();
    drop(dead); // never acks

    let early = receive_once(
        &alive,
        "live-worker",
        &["default"],
        Duration::from_millis(100),
    )
    .await;
    assert!(early.is_empty(), "still within claim_idle: {early:?}");

    let again = receive_n(
        &alive,
        "live-worker",
        &["default"],
        1,
        Duration::from_secs(10),
    )
    .await;
    assert!(
        taken_at.elapsed() >= claim_idle - Duration::from_millis(100),
        "not before claim_idle"
    );
    assert_eq!(again[0].job_id, "j-orphan");
    assert_eq!(entry_id(&again[0]), entry_id(&taken[0]), "the same entry");
    alive.ack(&again[0]).await.unwrap();

    // Settled: nobody gets it a third time.
    tokio::time::sleep(claim_idle + Duration::from_millis(100)).await;
    let after = receive_once(
        &alive,
        "third-worker",
        &["default"],
        Duration::from_millis(100),
    )
    .await;
    assert!(after.is_empty(), "{after:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rejected_delivery_and_an_entry_without_a_job_land_in_the_dead_stream() {
    let r = LocalRedis::start().await;
    let d = r.delivery(Duration::from_secs(30)).await;
    d.announce(&due("default", &["poison"])).await.unwrap();
    let got = receive_n(&d, "w", &["default"], 1, Duration::from_secs(5)).await;
    d.reject(&got[0]).await.unwrap();

    // Someone else's writer put an entry without a job id on the stream.
    let mut conn = r.client.connection();
    let _: String = redis::cmd("XADD")
        .arg(d.stream_key("default"))
        .arg("*")
        .arg("garbage")
        .arg("1")
        .query_async(&mut conn)
        .await
        .unwrap();
    let none = receive_once(&d, "w", &["default"], Duration::from_millis(300)).await;
    assert!(
        none.is_empty(),
        "an entry without a job id is not delivered: {none:?}"
    );

    let dead: Vec<(String, Vec<(String, String)>)> = redis::cmd("XRANGE")
        .arg(d.dead_stream_key())
        .arg("-")
        .arg("+")
        .query_async(&mut conn)
        .await
        .unwrap();
    assert_eq!(dead.len(), 2, "{dead:?}");
    let field = |i: usize, name: &str| {
        dead[i]
            .1
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
            .unwrap_or_default()
    };
    assert_eq!(field(0, "job"), "poison");
    assert_eq!(field(0, "queue"), "default");
    assert_eq!(field(0, "entry"), entry_id(&got[0]));
    assert!(field(0, "reason").contains("rejected"), "{dead:?}");
    assert_eq!(field(1, "job"), "");
    assert!(field(1, "reason").contains("no job id"), "{dead:?}");

    // Both settled: nothing pending, nothing redelivered.
    assert_eq!(pending(&r.client, &d.stream_key("default")).await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_duplicate_announcement_is_two_deliveries_of_the_same_job() {
    let r = LocalRedis::start().await;
    let d = r.delivery(Duration::from_secs(30)).await;
    d.announce(&due("default", &["twice"])).await.unwrap();
    d.announce(&due("default", &["twice"])).await.unwrap();
    let got = receive_n(&d, "w", &["default"], 2, Duration::from_secs(5)).await;
    assert_eq!(job_ids(&got), ["twice", "twice"]);
    let entries: HashSet<String> = got.iter().map(entry_id).collect();
    assert_eq!(entries.len(), 2, "two distinct entries");
    for g in &got {
        d.ack(g).await.unwrap();
    }
    // Acking one twice is harmless too.
    d.ack(&got[0]).await.unwrap();
}

#[tokio::test]
async fn a_prefix_that_would_break_the_hash_tag_is_refused() {
    let c = client(&local_url()).await;
    for bad in ["", "a{b", "a}b"] {
        let e = RedisDelivery::connect(c.clone(), bad, Duration::from_secs(1))
            .await
            .err()
            .unwrap_or_else(|| panic!("`{bad}` accepted"));
        assert!(e.to_string().contains("broker_prefix"), "{e}");
    }
}
