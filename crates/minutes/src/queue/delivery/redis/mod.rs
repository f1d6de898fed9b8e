//! Redis Streams delivery (`queue.backend: redis`), through the one connection factory
//! (`crate::redis_client`), so it runs on a single node, behind Sentinel, or on a Cluster.
//!
//! Keys, under `queue.broker_prefix` `<p>`, all carrying the hash tag `{<p>}` so that on a
//! Cluster they share one slot (one `XREADGROUP` can then block on several queues, and a
//! pipeline may touch several streams):
//! - `{<p>}:jobs:<queue>`, a stream per named queue; each entry carries `job` (the job id) and
//!   `queue`; `XADD … MAXLEN ~` keeps a runaway backlog bounded (the `jobs` rows remain the
//!   truth, and the relay announces again what is still due);
//! - one consumer group, [`GROUP`], on every queue stream (created with `MKSTREAM` from id `0`,
//!   `BUSYGROUP` ignored), consumers named by worker id;
//! - `{<p>}:dead`, the dead letters: deliveries a worker rejected (or entries naming no job),
//!   with the reason. Diagnostics only, like RabbitMQ's dead queue.
//!
//! `receive` first takes over entries that another consumer received and left unacknowledged
//! for longer than `claim_idle` (`XAUTOCLAIM`: that consumer died mid-job), then reads new
//! entries with `XREADGROUP … BLOCK` on a connection of its own (a blocked read on the shared
//! multiplexed connection would stall every other command). `ack` is `XACK` + `XDEL` and comes
//! only once the job's state is settled in the store, so a worker killed mid-job leaves its
//! entry pending for the next `XAUTOCLAIM`.
//!
//! Redis restarts without persistence lose streams and groups: a `NOGROUP` reply makes the
//! delivery create the groups again and retry, and the relay re-announces what is due.
use std::collections::{HashMap, HashSet};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use redis::{RedisError, RedisResult, Value};

use super::{Announcement, Delivered, Delivery, DeliveryError, Receipt};
use crate::redis_client::{RedisClient, RedisConnection};

mod parse;

const BACKEND: &str = "redis";

/// The consumer group every worker of one install reads through.
pub const GROUP: &str = "workers";

/// Approximate cap on a queue stream (`XADD MAXLEN ~`). Acked entries are deleted, so a
/// stream only grows this long when nothing consumes it; the rows keep every job regardless.
const STREAM_MAXLEN: usize = 100_000;
const DEAD_MAXLEN: usize = 100_000;

/// How long past its `BLOCK` time a blocking read may take before the connection is presumed
/// dead and replaced.
const READ_GRACE: Duration = Duration::from_secs(3);

/// Idle blocking-read connections kept for reuse.
const MAX_IDLE_READERS: usize = 32;

/// A consumer idle this long with nothing pending is removed from the group (worker ids are
/// per process, so every restart adds one).
const FORGET_CONSUMER_AFTER: Duration = Duration::from_secs(24 * 3600);
const PRUNE_CONSUMERS_EVERY: Duration = Duration::from_secs(3600);

const REJECTED: &str = "rejected by a worker: the entry names no job this service can read";
const NO_JOB_FIELD: &str = "the entry carries no job id";

pub struct RedisDelivery {
    client: RedisClient,
    conn: RedisConnection,
    prefix: String,
    claim_idle: Duration,
    /// Streams whose group is known to exist (forgotten on `NOGROUP`).
    grouped: Mutex<HashSet<String>>,
    readers: Mutex<Vec<RedisConnection>>,
    sweeps: Mutex<HashMap<String, Sweep>>,
}

/// The `XAUTOCLAIM` pass over one stream's pending entries.
struct Sweep {
    next_at: Instant,
    cursor: String,
    consumers_pruned_at: Option<Instant>,
}

impl RedisDelivery {
    /// `prefix` is `queue.broker_prefix`; `claim_idle` is how long a received, unacknowledged
    /// entry waits before another consumer may take it over (use the job lease: a live worker
    /// acks or its lease expires first). One round trip, so a wrong URL stops the start.
    pub async fn connect(
        client: RedisClient,
        prefix: &str,
        claim_idle: Duration,
    ) -> Result<RedisDelivery, DeliveryError> {
        let delivery = RedisDelivery::new(client, prefix, claim_idle)?;
        delivery.check().await?;
        Ok(delivery)
    }

    /// Like `connect` without the round trip: a worker starts while Redis is down and
    /// connects on first use (the database poll delivers meanwhile).
    pub fn new(
        client: RedisClient,
        prefix: &str,
        claim_idle: Duration,
    ) -> Result<RedisDelivery, DeliveryError> {
        if prefix.is_empty() || prefix.contains(['{', '}']) {
            return Err(DeliveryError::new(
                BACKEND,
                format!("queue.broker_prefix `{prefix}` must be non-empty and free of braces (it is the Cluster hash tag)"),
            ));
        }
        if claim_idle < Duration::from_millis(1) {
            return Err(DeliveryError::new(
                BACKEND,
                "claim_idle must be at least 1 ms",
            ));
        }
        Ok(RedisDelivery {
            conn: client.connection(),
            client,
            prefix: prefix.to_string(),
            claim_idle,
            grouped: Mutex::new(HashSet::new()),
            readers: Mutex::new(Vec::new()),
            sweeps: Mutex::new(HashMap::new()),
        })
    }

    /// The stream of one named queue.
    pub fn stream_key(&self, queue: &str) -> String {
        format!("{{{}}}:jobs:{queue}", self.prefix)
    }

    /// The dead-letter stream (fields `job`, `queue`, `stream`, `entry`, `reason`, `at_ms`).
    pub fn dead_stream_key(&self) -> String {
        format!("{{{}}}:dead", self.prefix)
    }

    fn queue_of(&self, stream: &str) -> String {
        let head = format!("{{{}}}:jobs:", self.prefix);
        stream.strip_prefix(&head).unwrap_or(stream).to_string()
    }

    fn error(&self, what: &str, e: RedisError) -> DeliveryError {
        DeliveryError::new(
            BACKEND,
            format!("{what} at {}: {e}", self.client.redacted_url()),
        )
    }

    fn conn(&self) -> RedisConnection {
        self.conn.clone()
    }

    async fn ensure_groups(&self, streams: &[String]) -> RedisResult<()> {
        let missing: Vec<String> = {
            let grouped = lock(&self.grouped);
            streams
                .iter()
                .filter(|s| !grouped.contains(*s))
                .cloned()
                .collect()
        };
        for stream in missing {
            // From `0`: entries added before the group existed (after a restart that lost
            // it, the relay may announce first) are delivered too.
            let created = redis::cmd("XGROUP")
                .arg("CREATE")
                .arg(&stream)
                .arg(GROUP)
                .arg("0")
                .arg("MKSTREAM")
                .query_async::<()>(&mut self.conn())
                .await;
            match created {
                Ok(()) => {}
                Err(e) if e.code() == Some("BUSYGROUP") => {}
                Err(e) => return Err(e),
            }
            lock(&self.grouped).insert(stream);
        }
        Ok(())
    }

    fn forget_groups(&self, streams: &[String]) {
        let mut grouped = lock(&self.grouped);
        for s in streams {
            grouped.remove(s);
        }
    }

    /// The stream's sweep cursor if a pass is due now.
    fn sweep_due(&self, stream: &str, now: Instant) -> Option<String> {
        let sweeps = lock(&self.sweeps);
        match sweeps.get(stream) {
            Some(s) if s.next_at > now => None,
            Some(s) => Some(s.cursor.clone()),
            None => Some("0-0".to_string()),
        }
    }

    /// Records where the pass got to: a finished pass (`0-0`) rests for a while, an unfinished
    /// one continues on the next `receive`.
    fn sweep_done(&self, stream: &str, cursor: String, now: Instant) -> bool {
        let rest = (self.claim_idle / 2).clamp(Duration::from_millis(10), Duration::from_secs(5));
        let mut sweeps = lock(&self.sweeps);
        let s = sweeps.entry(stream.to_string()).or_insert(Sweep {
            next_at: now,
            cursor: "0-0".into(),
            consumers_pruned_at: None,
        });
        s.next_at = if cursor == "0-0" { now + rest } else { now };
        s.cursor = cursor;
        let prune = s
            .consumers_pruned_at
            .is_none_or(|at| now.duration_since(at) >= PRUNE_CONSUMERS_EVERY);
        if prune {
            s.consumers_pruned_at = Some(now);
        }
        prune
    }

    /// Takes over entries idle past `claim_idle` from consumers that stopped acking.
    async fn reclaim(
        &self,
        consumer: &str,
        streams: &[String],
        max: usize,
        out: &mut Vec<Delivered>,
    ) -> RedisResult<()> {
        let now = Instant::now();
        for stream in streams {
            if out.len() >= max {
                break;
            }
            let Some(cursor) = self.sweep_due(stream, now) else {
                continue;
            };
            let reply: Value = redis::cmd("XAUTOCLAIM")
                .arg(stream)
                .arg(GROUP)
                .arg(consumer)
                .arg(self.claim_idle.as_millis() as u64)
                .arg(&cursor)
                .arg("COUNT")
                .arg(max - out.len())
                .query_async(&mut self.conn())
                .await?;
            let (next, entries) = parse::autoclaim(reply)?;
            for entry in entries {
                self.accept(stream, entry, out).await?;
            }
            if self.sweep_done(stream, next, now) {
                self.prune_consumers(stream).await?;
            }
        }
        Ok(())
    }

    async fn read_new(
        &self,
        consumer: &str,
        streams: &[String],
        count: usize,
        block: Option<Duration>,
        out: &mut Vec<Delivered>,
    ) -> RedisResult<()> {
        let mut cmd = redis::cmd("XREADGROUP");
        cmd.arg("GROUP")
            .arg(GROUP)
            .arg(consumer)
            .arg("COUNT")
            .arg(count);
        if let Some(wait) = block {
            // `BLOCK 0` would wait forever.
            cmd.arg("BLOCK").arg((wait.as_millis() as u64).max(1));
        }
        cmd.arg("STREAMS").arg(streams);
        for _ in streams {
            cmd.arg(">");
        }
        let mut reader = self.take_reader();
        let limit = block.unwrap_or_default() + READ_GRACE;
        let reply = match tokio::time::timeout(limit, cmd.query_async::<Value>(&mut reader)).await {
            Ok(reply) => {
                self.return_reader(reader);
                reply?
            }
            Err(_) => {
                // Abandoned mid-command: its reply would confuse the next one.
                reader.reset();
                self.return_reader(reader);
                return Err(RedisError::from(std::io::Error::new(
                    std::io::ErrorKind::TimedOut,
                    format!("XREADGROUP got no reply within {} ms", limit.as_millis()),
                )));
            }
        };
        for (stream, entries) in parse::read(reply)? {
            for entry in entries {
                self.accept(&stream, entry, out).await?;
            }
        }
        Ok(())
    }

    fn take_reader(&self) -> RedisConnection {
        lock(&self.readers)
            .pop()
            .unwrap_or_else(|| self.client.dedicated())
    }

    fn return_reader(&self, reader: RedisConnection) {
        let mut readers = lock(&self.readers);
        if readers.len() < MAX_IDLE_READERS {
            readers.push(reader);
        }
    }

    /// An entry naming a job becomes a delivery; anything else goes to the dead letters at
    /// once rather than circling through consumers.
    async fn accept(
        &self,
        stream: &str,
        entry: parse::Entry,
        out: &mut Vec<Delivered>,
    ) -> RedisResult<()> {
        let queue = self.queue_of(stream);
        match entry.job {
            Some(job_id) if !job_id.is_empty() => out.push(Delivered {
                job_id,
                queue,
                receipt: Receipt::Stream {
                    stream: stream.to_string(),
                    entry_id: entry.id,
                },
            }),
            _ => {
                self.bury(stream, &entry.id, "", &queue, NO_JOB_FIELD)
                    .await?
            }
        }
        Ok(())
    }

    /// Copies an entry to the dead stream with the reason, then settles it.
    async fn bury(
        &self,
        stream: &str,
        entry_id: &str,
        job_id: &str,
        queue: &str,
        reason: &str,
    ) -> RedisResult<()> {
        let at_ms = chrono::Utc::now().timestamp_millis();
        let mut pipe = redis::pipe();
        pipe.cmd("XADD")
            .arg(self.dead_stream_key())
            .arg("MAXLEN")
            .arg("~")
            .arg(DEAD_MAXLEN)
            .arg("*")
            .arg("job")
            .arg(job_id)
            .arg("queue")
            .arg(queue)
            .arg("stream")
            .arg(stream)
            .arg("entry")
            .arg(entry_id)
            .arg("reason")
            .arg(reason)
            .arg("at_ms")
            .arg(at_ms)
            .ignore();
        settle(&mut pipe, stream, entry_id);
        pipe.query_async::<()>(&mut self.conn()).await
    }

    /// Removes consumers long idle with nothing pending (dead workers' names).
    async fn prune_consumers(&self, stream: &str) -> RedisResult<()> {
        let reply: Value = redis::cmd("XINFO")
            .arg("CONSUMERS")
            .arg(stream)
            .arg(GROUP)
            .query_async(&mut self.conn())
            .await?;
        for c in parse::consumers(reply)? {
            if c.pending == 0 && c.idle_ms >= FORGET_CONSUMER_AFTER.as_millis() as u64 {
                redis::cmd("XGROUP")
                    .arg("DELCONSUMER")
                    .arg(stream)
                    .arg(GROUP)
                    .arg(&c.name)
                    .query_async::<()>(&mut self.conn())
                    .await?;
            }
        }
        Ok(())
    }

    async fn receive_once(
        &self,
        consumer: &str,
        streams: &[String],
        max: usize,
        wait: Duration,
        out: &mut Vec<Delivered>,
    ) -> RedisResult<()> {
        self.ensure_groups(streams).await?;
        self.reclaim(consumer, streams, max, out).await?;
        if out.len() >= max {
            return Ok(());
        }
        // Reclaimed work is handed out at once; only an empty hand waits for new entries.
        let block = out.is_empty().then_some(wait).filter(|w| !w.is_zero());
        self.read_new(consumer, streams, max - out.len(), block, out)
            .await
    }
}

/// `XACK` + `XDEL`: the entry leaves the group's pending list and the stream.
fn settle(pipe: &mut redis::Pipeline, stream: &str, entry_id: &str) {
    pipe.cmd("XACK")
        .arg(stream)
        .arg(GROUP)
        .arg(entry_id)
        .ignore();
    pipe.cmd("XDEL").arg(stream).arg(entry_id).ignore();
}

fn is_nogroup(e: &RedisError) -> bool {
    e.code() == Some("NOGROUP")
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // Every guarded value here is a cache that stays consistent between statements.
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

#[async_trait]
impl Delivery for RedisDelivery {
    fn backend(&self) -> &'static str {
        BACKEND
    }

    async fn announce(&self, due: &[Announcement]) -> Result<(), DeliveryError> {
        if due.is_empty() {
            return Ok(());
        }
        // One round trip; every stream shares the hash tag, so a Cluster takes it whole.
        let mut pipe = redis::pipe();
        for a in due {
            pipe.cmd("XADD")
                .arg(self.stream_key(&a.queue))
                .arg("MAXLEN")
                .arg("~")
                .arg(STREAM_MAXLEN)
                .arg("*")
                .arg("job")
                .arg(&a.job_id)
                .arg("queue")
                .arg(&a.queue)
                .ignore();
        }
        pipe.query_async::<()>(&mut self.conn())
            .await
            .map_err(|e| self.error("XADD", e))
    }

    async fn receive(
        &self,
        consumer: &str,
        queues: &[String],
        max: usize,
        wait: Duration,
    ) -> Result<Vec<Delivered>, DeliveryError> {
        if queues.is_empty() || max == 0 {
            tokio::time::sleep(wait).await;
            return Ok(Vec::new());
        }
        let mut streams: Vec<String> = queues.iter().map(|q| self.stream_key(q)).collect();
        streams.sort();
        streams.dedup();
        let mut out = Vec::new();
        let mut first = self
            .receive_once(consumer, &streams, max, wait, &mut out)
            .await;
        if first.as_ref().is_err_and(is_nogroup) {
            // Redis lost the group (a restart without persistence): create it and read again.
            self.forget_groups(&streams);
            first = self
                .receive_once(consumer, &streams, max, wait, &mut out)
                .await;
        }
        match first {
            Ok(()) => Ok(out),
            // What was already taken over is this consumer's now: hand it out, the error
            // shows again on the next call if it persists.
            Err(_) if !out.is_empty() => Ok(out),
            Err(e) => Err(self.error("receiving", e)),
        }
    }

    async fn ack(&self, delivered: &Delivered) -> Result<(), DeliveryError> {
        let (stream, entry_id) = receipt(delivered)?;
        let mut pipe = redis::pipe();
        settle(&mut pipe, stream, entry_id);
        match pipe.query_async::<()>(&mut self.conn()).await {
            // The group, and the pending entry with it, is gone: nothing left to settle.
            Err(e) if is_nogroup(&e) => Ok(()),
            other => other.map_err(|e| self.error("XACK", e)),
        }
    }

    async fn reject(&self, delivered: &Delivered) -> Result<(), DeliveryError> {
        let (stream, entry_id) = receipt(delivered)?;
        match self
            .bury(
                stream,
                entry_id,
                &delivered.job_id,
                &delivered.queue,
                REJECTED,
            )
            .await
        {
            Err(e) if is_nogroup(&e) => Ok(()),
            other => other.map_err(|e| self.error("dead-lettering", e)),
        }
    }

    async fn check(&self) -> Result<(), DeliveryError> {
        redis::cmd("PING")
            .query_async::<()>(&mut self.conn())
            .await
            .map_err(|e| self.error("PING", e))
    }
}

fn receipt(delivered: &Delivered) -> Result<(&str, &str), DeliveryError> {
    match &delivered.receipt {
        Receipt::Stream { stream, entry_id } => Ok((stream, entry_id)),
        other => Err(DeliveryError::new(
            BACKEND,
            format!("not a Redis Streams receipt: {other:?}"),
        )),
    }
}
