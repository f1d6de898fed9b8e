//! Delivery: how a worker learns that a job is due. The database `jobs` row stays the source of
//! job *state* (lease, lease generation, attempts, backoff, dead); a backend only carries job
//! ids. A worker that receives an id claims it with the same fenced update as a database claim,
//! so a duplicate or stale delivery is harmless: it finds the job not claimable and is acked.
//!
//! The row is the outbox: the relay (`queue/relay.rs`) announces due rows whose current due
//! time has not been announced (new jobs, delayed retries, expired leases), so a broker outage
//! or a crash between commit and publish loses nothing, and the database poll stays the safety
//! net under every backend. One file per backend; `App` picks one from `queue.backend`.
pub mod database;
pub mod rabbitmq;
pub mod redis;

use std::time::Duration;

use async_trait::async_trait;

/// A due job, as the relay announces it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Announcement {
    pub job_id: String,
    pub queue: String,
}

/// What the backend needs to settle one delivery. Each backend matches its own variant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Receipt {
    /// The database backend delivers nothing to settle.
    None,
    /// A Redis Streams entry: the stream key and the entry id (XACK).
    Stream { stream: String, entry_id: String },
    /// A RabbitMQ delivery: the tag on the channel of that connection generation (a tag from
    /// an older channel is void: the broker already requeued it when the channel closed).
    Amqp { generation: u64, delivery_tag: u64 },
}

/// One delivered job id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivered {
    pub job_id: String,
    pub queue: String,
    pub receipt: Receipt,
}

#[derive(Debug, thiserror::Error)]
#[error("{backend}: {detail}")]
pub struct DeliveryError {
    pub backend: &'static str,
    pub detail: String,
}

impl DeliveryError {
    pub fn new(backend: &'static str, detail: impl std::fmt::Display) -> DeliveryError {
        DeliveryError {
            backend,
            detail: detail.to_string(),
        }
    }
}

#[async_trait]
pub trait Delivery: Send + Sync {
    /// `database`, `redis` or `rabbitmq` (config value, metrics label, `/ready` name).
    fn backend(&self) -> &'static str;

    /// Whether the relay must publish announcements (false for the database: the committed row
    /// and its NOTIFY are the announcement).
    fn needs_relay(&self) -> bool {
        true
    }

    /// Publishes that these jobs are due; durable at the broker when this returns `Ok`
    /// (publisher confirms, XADD replies). At least once: duplicates are harmless.
    async fn announce(&self, due: &[Announcement]) -> Result<(), DeliveryError>;

    /// Waits at most `wait` for up to `max` deliveries from `queues` for `consumer` (the
    /// worker id); a zero `wait` takes what is already there and returns at once (never "block
    /// forever"). An empty result means nothing arrived: the caller then polls the database.
    async fn receive(
        &self,
        consumer: &str,
        queues: &[String],
        max: usize,
        wait: Duration,
    ) -> Result<Vec<Delivered>, DeliveryError>;

    /// Settles a delivery once the job's state is settled in the store (finished, retried,
    /// dead, released), or once its claim found the job not claimable.
    async fn ack(&self, delivered: &Delivered) -> Result<(), DeliveryError>;

    /// A delivery that names no job this service can read goes to the backend's dead letters
    /// (RabbitMQ dead-letter exchange, Redis dead stream) instead of being redelivered forever.
    async fn reject(&self, delivered: &Delivered) -> Result<(), DeliveryError>;

    /// One round trip to the backend, for `/ready`.
    async fn check(&self) -> Result<(), DeliveryError>;
}
