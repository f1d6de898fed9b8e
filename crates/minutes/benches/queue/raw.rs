//! Raw-client baselines, measured in the same run on the same servers with the same eight
//! claimers: what PostgreSQL, Redis Streams and RabbitMQ do with no `minutes` code in between.
//! - PostgreSQL: two trivial round trips per job (a claim and a completion) on the worker pool;
//!   and, to show what the database itself costs, a bare `SKIP LOCKED` queue on a scratch table
//!   (one claiming `UPDATE … RETURNING` and one completing `UPDATE` per row, each a commit);
//! - Redis: `XADD` a backlog, then eight consumers (a connection each) `XREADGROUP COUNT 1` +
//!   `XACK` until it is drained; latency: paced `XADD`s read by consumers in `XREADGROUP BLOCK`;
//! - RabbitMQ (lapin): persistent publishes with confirms to a durable quorum queue, then eight
//!   consumers on one channel (the backend's layout) with the backend's prefetch, acking each;
//!   latency: paced publishes to the consuming eight.
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::StreamExt;
use lapin::options::{
    BasicAckOptions, BasicConsumeOptions, BasicPublishOptions, BasicQosOptions,
    ConfirmSelectOptions, QueueDeclareOptions, QueueDeleteOptions,
};
use lapin::types::{AMQPValue, FieldTable};
use lapin::{BasicProperties, Connection, ConnectionProperties};
use redis::streams::{StreamReadOptions, StreamReadReply};
use redis::AsyncCommands;
use tokio::task::JoinSet;

use super::real::CLAIMERS;

/// Messages (or job-equivalents) per second, and paced delivery latencies in ms.
pub struct Raw {
    pub per_sec: f64,
    pub latencies_ms: Vec<f64>,
}

impl Raw {
    /// Takes the latencies back from the (finished) consumers.
    fn new(per_sec: f64, latencies: Arc<Mutex<Vec<f64>>>) -> anyhow::Result<Raw> {
        let latencies_ms = Arc::try_unwrap(latencies)
            .map_err(|_| anyhow::anyhow!("consumers still hold the latencies"))?
            .into_inner()
            .unwrap_or_else(|e| e.into_inner());
        Ok(Raw {
            per_sec,
            latencies_ms,
        })
    }
}

fn now_micros() -> i64 {
    chrono::Utc::now().timestamp_micros()
}

/// Two trivial round trips per job on `store`'s pool; returns job-equivalents per second.
pub async fn postgres(store: Arc<dyn minutes::store::Store>, jobs: usize) -> anyhow::Result<f64> {
    let started = Instant::now();
    let mut set = JoinSet::new();
    for _ in 0..CLAIMERS {
        let store = store.clone();
        set.spawn(async move {
            for _ in 0..2 * jobs / CLAIMERS {
                store.ping().await?;
            }
            anyhow::Ok(())
        });
    }
    while let Some(r) = set.join_next().await {
        r??;
    }
    Ok(jobs as f64 / started.elapsed().as_secs_f64())
}

/// A bare `FOR UPDATE SKIP LOCKED` queue of `jobs` rows on a scratch table, drained by eight
/// claimers on their own pool; returns rows per second.
pub async fn postgres_skip_locked(url: &str, jobs: usize) -> anyhow::Result<f64> {
    let pool = sqlx::postgres::PgPoolOptions::new()
        .max_connections(CLAIMERS as u32)
        .connect(url)
        .await?;
    let table = format!("bench_raw_{}", uuid::Uuid::new_v4().simple());
    sqlx::query(&format!(
        "CREATE TABLE {table} (id BIGINT PRIMARY KEY, state TEXT NOT NULL)"
    ))
    .execute(&pool)
    .await?;
    sqlx::query(&format!(
        "CREATE INDEX {table}_queued ON {table} (id) WHERE state = 'queued'"
    ))
    .execute(&pool)
    .await?;
    sqlx::query(&format!(
        "INSERT INTO {table} SELECT g, 'queued' FROM generate_series(1, $1) g"
    ))
    .bind(jobs as i64)
    .execute(&pool)
    .await?;
    let claim = format!(
        "UPDATE {table} SET state = 'running' WHERE id = (SELECT id FROM {table} \
         WHERE state = 'queued' ORDER BY id LIMIT 1 FOR UPDATE SKIP LOCKED) RETURNING id"
    );
    let complete = format!("UPDATE {table} SET state = 'done' WHERE id = $1");
    let started = Instant::now();
    let mut set = JoinSet::new();
    for _ in 0..CLAIMERS {
        let (pool, claim, complete) = (pool.clone(), claim.clone(), complete.clone());
        set.spawn(async move {
            while let Some(id) = sqlx::query_scalar::<_, i64>(&claim)
                .fetch_optional(&pool)
                .await?
            {
                sqlx::query(&complete).bind(id).execute(&pool).await?;
            }
            anyhow::Ok(())
        });
    }
    while let Some(r) = set.join_next().await {
        r??;
    }
    let rate = jobs as f64 / started.elapsed().as_secs_f64();
    sqlx::query(&format!("DROP TABLE {table}"))
        .execute(&pool)
        .await?;
    pool.close().await;
    Ok(rate)
}

/// Deletes what the delivery backend declared under `prefix`: the Redis keys `{prefix}…`, or
/// the RabbitMQ queues `<prefix>.<queue>`, `<prefix>.dead` and exchanges `<prefix>.jobs`,
/// `<prefix>.dlx` (the names of src/queue/delivery/).
pub async fn forget_topology(backend: &super::real::Backend, prefix: &str) -> anyhow::Result<()> {
    match backend {
        super::real::Backend::Database => {}
        super::real::Backend::Redis(url) => {
            let mut conn = redis::Client::open(url.as_str())?
                .get_multiplexed_async_connection()
                .await?;
            let keys: Vec<String> = conn.keys(format!("{{{prefix}}}*")).await?;
            if !keys.is_empty() {
                let _: () = conn.del(keys).await?;
            }
        }
        super::real::Backend::Rabbitmq(url) => {
            let conn = Connection::connect(url, ConnectionProperties::default()).await?;
            let channel = conn.create_channel().await?;
            let queues = minutes::domain::job::queues().into_iter().chain(["dead"]);
            for q in queues {
                channel
                    .queue_delete(
                        format!("{prefix}.{q}").into(),
                        QueueDeleteOptions::default(),
                    )
                    .await?;
            }
            for x in ["jobs", "dlx"] {
                channel
                    .exchange_delete(
                        format!("{prefix}.{x}").into(),
                        lapin::options::ExchangeDeleteOptions::default(),
                    )
                    .await?;
            }
            conn.close(200, "bench done".into()).await?;
        }
    }
    Ok(())
}

const GROUP: &str = "raw";

pub async fn redis(url: &str, jobs: usize, paced: usize, per_sec: u32) -> anyhow::Result<Raw> {
    let client = redis::Client::open(url)?;
    let key = format!("bench-raw-{}", uuid::Uuid::new_v4().simple());
    let mut conn = client.get_multiplexed_async_connection().await?;
    let _: () = redis::cmd("XGROUP")
        .arg("CREATE")
        .arg(&key)
        .arg(GROUP)
        .arg("$")
        .arg("MKSTREAM")
        .query_async(&mut conn)
        .await?;
    for chunk in (0..jobs).collect::<Vec<_>>().chunks(1000) {
        let mut pipe = redis::pipe();
        for i in chunk {
            pipe.cmd("XADD")
                .arg(&key)
                .arg("*")
                .arg("job")
                .arg(*i)
                .ignore();
        }
        let _: () = pipe.query_async(&mut conn).await?;
    }
    let drained = consume_redis(&client, &key, jobs, None).await?;
    let rate = jobs as f64 / drained.as_secs_f64();

    let latencies = Arc::new(Mutex::new(Vec::with_capacity(paced)));
    let consumers = {
        let (client, key, latencies) = (client.clone(), key.clone(), latencies.clone());
        tokio::spawn(async move { consume_redis(&client, &key, paced, Some(latencies)).await })
    };
    // Let the consumers block in XREADGROUP first, as idle workers do.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let mut tick = tokio::time::interval(Duration::from_secs_f64(1.0 / f64::from(per_sec)));
    for _ in 0..paced {
        tick.tick().await;
        let _: String = conn.xadd(&key, "*", &[("t", now_micros())]).await?;
    }
    consumers.await??;
    let _: () = conn.del(&key).await?;
    Raw::new(rate, latencies)
}

/// Eight consumers read and ack until `n` entries are acked; returns how long that took.
/// With `latencies`, each entry's `t` field (µs) is turned into a delivery latency.
async fn consume_redis(
    client: &redis::Client,
    key: &str,
    n: usize,
    latencies: Option<Arc<Mutex<Vec<f64>>>>,
) -> anyhow::Result<Duration> {
    let acked = Arc::new(AtomicUsize::new(0));
    let last = Arc::new(Mutex::new(None::<Instant>));
    let started = Instant::now();
    let mut set = JoinSet::new();
    for c in 0..CLAIMERS {
        let mut conn = client.get_multiplexed_async_connection().await?;
        let (key, acked, last, latencies) = (
            key.to_string(),
            acked.clone(),
            last.clone(),
            latencies.clone(),
        );
        set.spawn(async move {
            let opts = StreamReadOptions::default()
                .group(GROUP, format!("c{c}"))
                .count(1)
                .block(100);
            while acked.load(Ordering::SeqCst) < n {
                let reply: Option<StreamReadReply> =
                    conn.xread_options(&[&key], &[">"], &opts).await?;
                for entry in reply.into_iter().flat_map(|r| r.keys).flat_map(|k| k.ids) {
                    if let (Some(l), Some(t)) = (&latencies, entry.get::<i64>("t")) {
                        let ms = (now_micros() - t) as f64 / 1000.0;
                        l.lock().unwrap_or_else(|e| e.into_inner()).push(ms);
                    }
                    let _: i64 = conn.xack(&key, GROUP, &[&entry.id]).await?;
                    if acked.fetch_add(1, Ordering::SeqCst) + 1 == n {
                        *last.lock().unwrap_or_else(|e| e.into_inner()) = Some(Instant::now());
                    }
                }
            }
            anyhow::Ok(())
        });
    }
    while let Some(r) = set.join_next().await {
        r??;
    }
    let end = last
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .unwrap_or_else(Instant::now);
    Ok(end - started)
}

pub async fn rabbitmq(
    url: &str,
    jobs: usize,
    paced: usize,
    per_sec: u32,
    prefetch: u16,
) -> anyhow::Result<Raw> {
    let conn = Arc::new(Connection::connect(url, ConnectionProperties::default()).await?);
    let queue = format!("bench-raw-{}", uuid::Uuid::new_v4().simple());
    let publish = conn.create_channel().await?;
    publish
        .confirm_select(ConfirmSelectOptions::default())
        .await?;
    let mut args = FieldTable::default();
    args.insert(
        "x-queue-type".into(),
        AMQPValue::LongString("quorum".into()),
    );
    publish
        .queue_declare(queue.as_str().into(), QueueDeclareOptions::durable(), args)
        .await?;
    let persistent = BasicProperties::default().with_delivery_mode(2);
    let mut confirms = Vec::with_capacity(jobs);
    for i in 0..jobs {
        let confirm = publish
            .basic_publish(
                "".into(),
                queue.as_str().into(),
                BasicPublishOptions::default(),
                format!("job_{i}").as_bytes(),
                persistent.clone(),
            )
            .await?;
        confirms.push(confirm);
    }
    for c in confirms {
        anyhow::ensure!(c.await?.is_ack(), "the broker nacked a publish");
    }
    let drained = consume_amqp(&conn, &queue, prefetch, jobs, None).await?;
    let rate = jobs as f64 / drained.as_secs_f64();

    let latencies = Arc::new(Mutex::new(Vec::with_capacity(paced)));
    let consumers = {
        let (conn, queue, latencies) = (conn.clone(), queue.clone(), latencies.clone());
        tokio::spawn(
            async move { consume_amqp(&conn, &queue, prefetch, paced, Some(latencies)).await },
        )
    };
    tokio::time::sleep(Duration::from_millis(200)).await;
    let mut tick = tokio::time::interval(Duration::from_secs_f64(1.0 / f64::from(per_sec)));
    let mut confirms = Vec::with_capacity(paced);
    for _ in 0..paced {
        tick.tick().await;
        let body = now_micros().to_le_bytes();
        confirms.push(
            publish
                .basic_publish(
                    "".into(),
                    queue.as_str().into(),
                    BasicPublishOptions::default(),
                    &body,
                    persistent.clone(),
                )
                .await?,
        );
    }
    for c in confirms {
        anyhow::ensure!(c.await?.is_ack(), "the broker nacked a publish");
    }
    consumers.await??;
    publish
        .queue_delete(queue.as_str().into(), QueueDeleteOptions::default())
        .await?;
    conn.close(200, "bench done".into()).await?;
    Raw::new(rate, latencies)
}

/// Eight consumers on one channel ack until `n` messages are acked; returns how long it took.
/// With `latencies`, each body (µs, little endian) is turned into a delivery latency.
async fn consume_amqp(
    conn: &Connection,
    queue: &str,
    prefetch: u16,
    n: usize,
    latencies: Option<Arc<Mutex<Vec<f64>>>>,
) -> anyhow::Result<Duration> {
    let channel = conn.create_channel().await?;
    channel
        .basic_qos(prefetch, BasicQosOptions { global: false })
        .await?;
    let acked = Arc::new(AtomicUsize::new(0));
    let all = Arc::new(tokio::sync::Notify::new());
    let started = Instant::now();
    let mut set = JoinSet::new();
    for c in 0..CLAIMERS {
        let mut consumer = channel
            .basic_consume(
                queue.into(),
                format!("raw-c{c}").into(),
                BasicConsumeOptions::default(),
                FieldTable::default(),
            )
            .await?;
        let (acked, all, latencies) = (acked.clone(), all.clone(), latencies.clone());
        set.spawn(async move {
            while let Some(delivery) = consumer.next().await {
                let delivery = delivery?;
                if let (Some(l), Ok(bytes)) = (&latencies, <[u8; 8]>::try_from(&delivery.data[..]))
                {
                    let ms = (now_micros() - i64::from_le_bytes(bytes)) as f64 / 1000.0;
                    l.lock().unwrap_or_else(|e| e.into_inner()).push(ms);
                }
                delivery.ack(BasicAckOptions::default()).await?;
                if acked.fetch_add(1, Ordering::SeqCst) + 1 >= n {
                    all.notify_one();
                }
            }
            anyhow::Ok(())
        });
    }
    all.notified().await;
    let took = started.elapsed();
    // The others wait for messages that will not come.
    set.abort_all();
    channel.close(200, "drained".into()).await?;
    Ok(took)
}
