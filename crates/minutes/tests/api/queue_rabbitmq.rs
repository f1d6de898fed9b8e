//! The RabbitMQ delivery backend against the broker on this machine (`MINUTES_TEST_AMQP_URL`,
//! default guest/guest on 127.0.0.1:5672). A missing broker fails these tests. Each test owns a
//! unique `broker_prefix` and deletes its exchanges and queues at the end, pass or fail.
use std::collections::HashSet;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::FutureExt;
use lapin::options::{BasicGetOptions, ExchangeDeleteOptions, QueueDeleteOptions};
use lapin::types::AMQPValue;
use lapin::{Connection, ConnectionProperties};
use minutes::queue::delivery::rabbitmq::{self, RabbitDelivery, DELIVERY_LIMIT, QUEUE_HEADER};
use minutes::queue::delivery::{Announcement, Delivered, Delivery, Receipt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

mod recovery;

const BROKER_URL: &str = "amqp://guest:guest@127.0.0.1:5672/%2f";
const PREFETCH: u16 = 50;

fn broker_url() -> String {
    std::env::var("MINUTES_TEST_AMQP_URL")
        .ok()
        .filter(|u| !u.is_empty())
        .unwrap_or_else(|| BROKER_URL.to_string())
}

async fn connect_to(url: &str, prefix: &str, queues: &[&str]) -> RabbitDelivery {
    rabbitmq::connect(url, prefix, queues, PREFETCH)
        .await
        .unwrap_or_else(|e| {
            panic!("RabbitMQ must be running for these tests (rabbitmq-server -detached): {e}")
        })
}

async fn connect(prefix: &str, queues: &[&str]) -> RabbitDelivery {
    connect_to(&broker_url(), prefix, queues).await
}

/// Runs `test` with a fresh prefix, then deletes everything declared under it.
async fn with_prefix<F, Fut>(queues: &[&str], test: F)
where
    F: FnOnce(String) -> Fut,
    Fut: Future<Output = ()>,
{
    let prefix = format!("minutes-test-{}", uuid::Uuid::new_v4().simple());
    let outcome = AssertUnwindSafe(test(prefix.clone())).catch_unwind().await;
    delete_topology(&prefix, queues).await;
    if let Err(panic) = outcome {
        std::panic::resume_unwind(panic);
    }
}

async fn raw_connection() -> Connection {
    Connection::connect(&broker_url(), ConnectionProperties::default())
        .await
        .expect("RabbitMQ must be running for these tests")
}

pub(crate) async fn delete_topology(prefix: &str, queues: &[&str]) {
    let connection = raw_connection().await;
    let channel = connection.create_channel().await.unwrap();
    let names = queues
        .iter()
        .map(|q| format!("{prefix}.{q}"))
        .chain([format!("{prefix}.dead")]);
    for queue in names {
        channel
            .queue_delete(queue.into(), QueueDeleteOptions::default())
            .await
            .unwrap();
    }
    for exchange in [format!("{prefix}.jobs"), format!("{prefix}.dlx")] {
        channel
            .exchange_delete(exchange.into(), ExchangeDeleteOptions::default())
            .await
            .unwrap();
    }
    connection.close(200, "OK".into()).await.unwrap();
}

fn due(queue: &str, ids: &[String]) -> Vec<Announcement> {
    ids.iter()
        .map(|id| Announcement {
            job_id: id.clone(),
            queue: queue.to_string(),
        })
        .collect()
}

fn ids(tag: &str, n: usize) -> Vec<String> {
    (0..n).map(|i| format!("{tag}-{i}")).collect()
}

fn queues(names: &[&str]) -> Vec<String> {
    names.iter().map(|q| q.to_string()).collect()
}

/// Receives until `n` deliveries arrived; fails past `within`.
async fn receive_n(
    d: &RabbitDelivery,
    consumer: &str,
    from: &[&str],
    n: usize,
    within: Duration,
) -> Vec<Delivered> {
    let deadline = Instant::now() + within;
    let from = queues(from);
    let mut got = Vec::new();
    while got.len() < n {
        let left = deadline.saturating_duration_since(Instant::now());
        assert!(
            !left.is_zero(),
            "{consumer} got {} of {n} deliveries in {within:?}",
            got.len()
        );
        got.extend(
            d.receive(consumer, &from, n - got.len(), left)
                .await
                .unwrap(),
        );
    }
    got
}

/// Receives until every id of `expected` arrived, acking each. After a connection loss, an ack
/// sent just before it may never have reached the broker (AMQP acks are not confirmed), so
/// `lost_acks` may come back once more; any other id fails the test.
async fn receive_exactly(
    d: &RabbitDelivery,
    consumer: &str,
    from: &[&str],
    expected: &[&str],
    lost_acks: &[&str],
) -> Vec<Delivered> {
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut wanted: HashSet<&str> = expected.iter().copied().collect();
    let mut got = Vec::new();
    while !wanted.is_empty() {
        let left = deadline.saturating_duration_since(Instant::now());
        assert!(!left.is_zero(), "{consumer} still waits for {wanted:?}");
        for g in d.receive(consumer, &queues(from), 10, left).await.unwrap() {
            if wanted.remove(g.job_id.as_str()) {
                got.push(g);
            } else {
                assert!(lost_acks.contains(&g.job_id.as_str()), "unexpected {g:?}");
                eprintln!(
                    "{} redelivered: its ack was lost with the connection",
                    g.job_id
                );
                d.ack(&g).await.unwrap();
            }
        }
    }
    got
}

async fn assert_nothing_more(d: &RabbitDelivery, consumer: &str, from: &[&str]) {
    let extra = d
        .receive(consumer, &queues(from), 10, Duration::from_millis(400))
        .await
        .unwrap();
    assert!(
        extra.is_empty(),
        "{consumer} got unexpected deliveries: {extra:?}"
    );
}

fn generation_of(d: &Delivered) -> u64 {
    match d.receipt {
        Receipt::Amqp { generation, .. } => generation,
        ref other => panic!("not an AMQP receipt: {other:?}"),
    }
}

/// Polls `<prefix>.dead` (dead-lettering is asynchronous) for one message.
async fn get_dead_letter(prefix: &str) -> lapin::message::BasicGetMessage {
    let connection = raw_connection().await;
    let channel = connection.create_channel().await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let got = channel
            .basic_get(
                format!("{prefix}.dead").into(),
                BasicGetOptions { no_ack: true },
            )
            .await
            .unwrap();
        if let Some(message) = got {
            return message;
        }
        assert!(Instant::now() < deadline, "nothing reached {prefix}.dead");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn header_text(message: &lapin::message::Delivery, key: &str) -> Option<String> {
    let headers = message.properties.headers().as_ref()?;
    match headers.inner().get(key)? {
        AMQPValue::LongString(s) => Some(String::from_utf8_lossy(s.as_bytes()).into_owned()),
        AMQPValue::ShortString(s) => Some(s.as_str().to_string()),
        _ => None,
    }
}

async fn rabbitmqctl(args: &[&str]) -> String {
    let out = tokio::process::Command::new("rabbitmqctl")
        .args(args)
        .output()
        .await
        .expect("rabbitmqctl must be installed beside RabbitMQ for these tests");
    assert!(
        out.status.success(),
        "rabbitmqctl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn announced_ids_are_received_once_and_acked_ones_never_return() {
    with_prefix(&["asr"], |prefix| async move {
        let d = connect(&prefix, &["asr"]).await;
        d.check().await.unwrap();
        let sent = ids("job", 3);
        d.announce(&due("asr", &sent)).await.unwrap();
        let got = receive_n(&d, "w1", &["asr"], 3, Duration::from_secs(5)).await;
        let got_ids: Vec<String> = got.iter().map(|g| g.job_id.clone()).collect();
        assert_eq!(got_ids, sent, "one queue keeps announcement order");
        for g in &got {
            assert_eq!(g.queue, "asr");
            assert_eq!(generation_of(g), d.generation());
            d.ack(g).await.unwrap();
        }
        assert_nothing_more(&d, "w1", &["asr"]).await;
        // Acks are settled at the broker: a new connection gets nothing either.
        d.close().await;
        let other = connect(&prefix, &["asr"]).await;
        assert_nothing_more(&other, "w2", &["asr"]).await;

        // The declared topology: quorum queues with the dead-letter exchange and delivery limit.
        let listed = rabbitmqctl(&["list_queues", "name", "type", "arguments", "--quiet"]).await;
        let line = |name: String| {
            listed
                .lines()
                .find(|l| l.split_whitespace().next() == Some(name.as_str()))
                .unwrap_or_else(|| panic!("{name} not in {listed}"))
                .to_string()
        };
        let asr = line(format!("{prefix}.asr"));
        assert!(asr.contains("quorum"), "{asr}");
        assert!(asr.contains(&format!("{prefix}.dlx")), "{asr}");
        assert!(asr.contains("x-delivery-limit"), "{asr}");
        assert!(line(format!("{prefix}.dead")).contains("quorum"));
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_receives_only_the_queues_it_consumes() {
    with_prefix(&["asr", "llm"], |prefix| async move {
        let asr_worker = connect(&prefix, &["asr", "llm"]).await;
        let llm_worker = connect(&prefix, &["asr", "llm"]).await;
        let mut announced = due("asr", &ids("asr", 3));
        announced.extend(due("llm", &ids("llm", 3)));
        asr_worker.announce(&announced).await.unwrap();

        let got = receive_n(&asr_worker, "asr-w", &["asr"], 3, Duration::from_secs(5)).await;
        assert!(
            got.iter()
                .all(|g| g.queue == "asr" && g.job_id.starts_with("asr-")),
            "{got:?}"
        );
        // No llm id ever reaches the asr-only worker, not even after its asr work is done.
        for g in &got {
            asr_worker.ack(g).await.unwrap();
        }
        assert_nothing_more(&asr_worker, "asr-w", &["asr"]).await;

        let got = receive_n(&llm_worker, "llm-w", &["llm"], 3, Duration::from_secs(5)).await;
        let mut got_ids: Vec<String> = got.iter().map(|g| g.job_id.clone()).collect();
        got_ids.sort();
        assert_eq!(got_ids, ids("llm", 3));
        for g in &got {
            assert_eq!(g.queue, "llm");
            llm_worker.ack(g).await.unwrap();
        }
        assert_nothing_more(&llm_worker, "llm-w", &["asr", "llm"]).await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unacked_delivery_goes_to_another_worker_when_its_holder_goes_away() {
    with_prefix(&["asr"], |prefix| async move {
        let a = connect(&prefix, &["asr"]).await;
        let b = connect(&prefix, &["asr"]).await;
        a.announce(&due("asr", &ids("held", 1))).await.unwrap();
        let held = receive_n(&a, "a", &["asr"], 1, Duration::from_secs(5)).await;
        assert_eq!(held[0].job_id, "held-0");
        // While `a` holds it unacked, `b` gets nothing.
        assert_nothing_more(&b, "b", &["asr"]).await;

        // The holder dies (its process drops the connection): the broker hands it to `b`.
        drop(a);
        let again = receive_n(&b, "b", &["asr"], 1, Duration::from_secs(5)).await;
        assert_eq!(again[0].job_id, "held-0");

        // `b` closes without acking and comes back on the same handle: a new generation gets it
        // once more, and the old generation's receipt is void (acking it settles nothing).
        let first_generation = generation_of(&again[0]);
        b.close().await;
        let third = receive_n(&b, "b", &["asr"], 1, Duration::from_secs(5)).await;
        assert_eq!(third[0].job_id, "held-0");
        assert!(generation_of(&third[0]) > first_generation);
        b.ack(&again[0]).await.unwrap();
        b.ack(&third[0]).await.unwrap();
        assert_nothing_more(&b, "b", &["asr"]).await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rejected_delivery_lands_in_the_dead_queue() {
    with_prefix(&["asr"], |prefix| async move {
        let d = connect(&prefix, &["asr"]).await;
        d.announce(&due("asr", &ids("poison", 1))).await.unwrap();
        let got = receive_n(&d, "w", &["asr"], 1, Duration::from_secs(5)).await;
        d.reject(&got[0]).await.unwrap();

        let dead = get_dead_letter(&prefix).await;
        assert_eq!(dead.delivery.data, b"poison-0");
        assert_eq!(
            header_text(&dead.delivery, QUEUE_HEADER).as_deref(),
            Some("asr")
        );
        assert_eq!(
            header_text(&dead.delivery, "x-first-death-reason").as_deref(),
            Some("rejected")
        );
        assert_nothing_more(&d, "w", &["asr"]).await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_whose_holders_keep_dying_dead_letters_at_the_delivery_limit() {
    with_prefix(&["asr"], |prefix| async move {
        let d = connect(&prefix, &["asr"]).await;
        d.announce(&due("asr", &ids("crashy", 1))).await.unwrap();
        // Each round a worker takes it and dies (closes its connection unacked).
        let mut deliveries = 0;
        loop {
            let got = d
                .receive("w", &queues(&["asr"]), 1, Duration::from_millis(1_500))
                .await
                .unwrap();
            if got.is_empty() {
                break;
            }
            assert_eq!(got[0].job_id, "crashy-0");
            deliveries += 1;
            assert!(deliveries <= DELIVERY_LIMIT + 1, "never dead-lettered");
            d.close().await;
        }
        assert_eq!(
            deliveries,
            DELIVERY_LIMIT + 1,
            "the first delivery plus DELIVERY_LIMIT redeliveries"
        );
        let dead = get_dead_letter(&prefix).await;
        assert_eq!(dead.delivery.data, b"crashy-0");
        assert_eq!(
            header_text(&dead.delivery, "x-first-death-reason").as_deref(),
            Some("delivery_limit")
        );
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_confirmed_announcements_are_all_received_exactly_once() {
    with_prefix(&["bulk"], |prefix| async move {
        let d = connect(&prefix, &["bulk"]).await;
        let sent = ids("bulk", 1_000);
        let started = Instant::now();
        d.announce(&due("bulk", &sent)).await.unwrap();
        let announce_took = started.elapsed();

        let consumer = connect(&prefix, &["bulk"]).await;
        let mut seen = HashSet::new();
        let deadline = Instant::now() + Duration::from_secs(15);
        while seen.len() < sent.len() {
            assert!(Instant::now() < deadline, "received {} of 1000", seen.len());
            let batch = consumer
                .receive("w", &queues(&["bulk"]), 100, Duration::from_secs(2))
                .await
                .unwrap();
            assert!(batch.len() <= 100, "at most `max` per receive");
            for g in batch {
                consumer.ack(&g).await.unwrap();
                assert!(
                    seen.insert(g.job_id.clone()),
                    "{} delivered twice",
                    g.job_id
                );
            }
        }
        assert_eq!(seen, sent.iter().cloned().collect::<HashSet<_>>());
        assert_nothing_more(&consumer, "w", &["bulk"]).await;
        eprintln!("announce of 1000 confirmed in {announce_took:?}");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prefetch_bounds_the_unacked_ids_one_worker_holds() {
    with_prefix(&["asr"], |prefix| async move {
        let url = broker_url();
        let a = rabbitmq::connect(&url, &prefix, &["asr"], 5).await.unwrap();
        let b = rabbitmq::connect(&url, &prefix, &["asr"], 5).await.unwrap();
        // `a` consumes first, so the broker fills its prefetch before `b` exists.
        assert!(a
            .receive("a", &queues(&["asr"]), 8, Duration::from_millis(10))
            .await
            .unwrap()
            .is_empty());
        a.announce(&due("asr", &ids("p", 8))).await.unwrap();
        let held = receive_n(&a, "a", &["asr"], 5, Duration::from_secs(5)).await;
        // Asking for more returns nothing while its five stay unacked...
        assert_nothing_more(&a, "a", &["asr"]).await;
        // ...and the other worker gets the rest.
        let rest = receive_n(&b, "b", &["asr"], 3, Duration::from_secs(5)).await;
        let mut all: Vec<String> = held.iter().chain(&rest).map(|g| g.job_id.clone()).collect();
        all.sort();
        assert_eq!(all, ids("p", 8));
        // Acking frees `a`'s slots again.
        for g in &held {
            a.ack(g).await.unwrap();
        }
        for g in &rest {
            b.ack(g).await.unwrap();
        }
        a.announce(&due("asr", &ids("q", 1))).await.unwrap();
        let mut got = a
            .receive("a", &queues(&["asr"]), 1, Duration::from_millis(500))
            .await
            .unwrap();
        got.extend(
            b.receive("b", &queues(&["asr"]), 1, Duration::from_millis(500))
                .await
                .unwrap(),
        );
        assert_eq!(got.len(), 1, "{got:?}");
        assert_eq!(got[0].job_id, "q-0");
    })
    .await;
}
