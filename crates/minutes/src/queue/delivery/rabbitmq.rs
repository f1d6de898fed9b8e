//! RabbitMQ delivery (`queue.backend: rabbitmq`), on lapin.
//!
//! Topology, declared idempotently on every (re)connection under `queue.broker_prefix` `<p>`:
//! - `<p>.jobs`, a durable direct exchange; each named queue `q` is a durable **quorum** queue
//!   `<p>.q` bound to it with routing key `q`, so a worker started with `--queues asr` consumes
//!   only `<p>.asr` and never sees another queue's ids;
//! - `<p>.dlx`, a durable fanout exchange, and `<p>.dead`, the durable quorum queue bound to it.
//!   Every job queue names `<p>.dlx` as its dead-letter exchange and has an `x-delivery-limit`
//!   ([`DELIVERY_LIMIT`]), so a message that is returned too often (its consumer keeps dying)
//!   or that [`Delivery::reject`] turns down ends in `<p>.dead` instead of circling forever.
//!   Dead letters here are diagnostics only: the `jobs` row stays the truth, and the relay
//!   announces the job again when it is due again.
//!
//! Messages are persistent, the body is the job id, and the `queue` header names the queue.
//! `announce` publishes on a channel in confirm mode and returns only once the broker confirmed
//! every message (a nack, a return or a timeout is an error; the relay retries, the row keeps the
//! job). Workers consume with manual acks; the prefetch (`queue.batch`) bounds the unacked
//! deliveries per consumed queue (quorum queues have no channel-global QoS).
//!
//! **Acks come at the end of a job**, once its state is settled in the store. RabbitMQ closes
//! a channel whose delivery stays unacked longer than its `consumer_timeout` (30 minutes by
//! default in 3.10, a node-wide setting in `rabbitmq.conf`; 3.10 has no per-queue override), and
//! that would requeue every delivery of the worker mid-job. Set `consumer_timeout` above the
//! longest job timeout (`queue.timeouts`, `max_secs` of transcription) — docs/OPERATIONS.md.
//!
//! One connection carries three channels: control (declares, `check`), publish (confirms) and
//! consume (every consumer of this process). Delivery tags belong to the consume channel, so a
//! [`Receipt::Amqp`] names the connection *generation* it came from. When the connection or any
//! channel drops (broker restart, forced close, a channel error), the next `announce`/`receive`/
//! `check` opens a new generation — connection, channels, topology, and consumers again as
//! `receive` asks for them — with exponential backoff between failed attempts. Receipts of an
//! older generation are void: the broker requeued those deliveries when the old connection
//! closed, so acking them is a no-op and the redelivery is harmless (its claim finds the job
//! already settled or leased, and it is acked).
//!
//! Queue arguments are fixed at declaration: a queue that already exists with other arguments
//! (e.g. a classic queue of the same name) fails the declare with `PRECONDITION_FAILED`, which
//! every call then reports until an operator deletes that queue.
use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use futures::StreamExt;
use lapin::options::{
    BasicAckOptions, BasicConsumeOptions, BasicNackOptions, BasicPublishOptions, BasicQosOptions,
    ConfirmSelectOptions, ExchangeDeclareOptions, QueueBindOptions, QueueDeclareOptions,
};
use lapin::types::{AMQPValue, FieldTable, ShortString};
use lapin::{
    BasicProperties, Channel, Confirmation, Connection, ConnectionProperties, ExchangeKind,
};
use tokio::sync::Notify;
use tokio::task::JoinHandle;
use tokio::time::Instant;

use super::{Announcement, Delivered, Delivery, DeliveryError, Receipt};

const BACKEND: &str = "rabbitmq";

/// Deliveries of one message (first delivery included) after which the quorum queue
/// dead-letters it instead of delivering it again. In RabbitMQ 3.10 a delivery returned because
/// its consumer's channel closed counts too, so this is also "workers that died holding it".
pub const DELIVERY_LIMIT: i64 = 10;
/// `<prefix>.dead` keeps at most this many dead letters (the oldest are dropped first).
pub const DEAD_LETTERS_KEPT: i64 = 100_000;
/// The header carrying the (unprefixed) queue name.
pub const QUEUE_HEADER: &str = "queue";

const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Longest wait for the broker to confirm one `announce` (a memory or disk alarm blocks
/// publishers: the relay gets an error and retries instead of hanging).
const CONFIRM_TIMEOUT: Duration = Duration::from_secs(30);
const CLOSE_TIMEOUT: Duration = Duration::from_secs(2);
const FIRST_RETRY: Duration = Duration::from_millis(200);
const MAX_RETRY: Duration = Duration::from_secs(5);

pub struct RabbitDelivery {
    /// Holds the password: never logged (`shown_url` is).
    url: String,
    shown_url: String,
    names: Names,
    /// Queues declared on every connection; others are declared when first used.
    queues: Vec<String>,
    prefetch: u16,
    current: Mutex<Option<Arc<Live>>>,
    /// Serializes reconnection; holds the backoff.
    reconnect: tokio::sync::Mutex<Backoff>,
    /// Per consumer (worker id): deliveries received and not yet handed out. Outlives
    /// generations; entries of an older generation are dropped when taken.
    inboxes: Mutex<HashMap<String, Arc<Inbox>>>,
}

/// Connects, declares the topology for `queues` and returns the backend. `prefetch` is the most
/// unacked deliveries per consumed queue (`queue.batch`; 0 is taken as 1). Fails when the broker
/// is unreachable or refuses the credentials or a declaration.
pub async fn connect(
    url: &str,
    prefix: &str,
    queues: &[&str],
    prefetch: u16,
) -> Result<RabbitDelivery, DeliveryError> {
    let delivery = RabbitDelivery::lazy(url, prefix, queues, prefetch);
    delivery.live().await?;
    Ok(delivery)
}

impl RabbitDelivery {
    /// Like [`connect`] without connecting: the first call connects. For a process that must
    /// start while the broker is down (it polls the database meanwhile).
    pub fn lazy(url: &str, prefix: &str, queues: &[&str], prefetch: u16) -> RabbitDelivery {
        RabbitDelivery {
            url: url.to_string(),
            shown_url: crate::config::redact_dsn(url),
            names: Names {
                prefix: prefix.to_string(),
            },
            queues: queues.iter().map(|q| q.to_string()).collect(),
            prefetch: prefetch.max(1),
            current: Mutex::new(None),
            reconnect: tokio::sync::Mutex::new(Backoff::default()),
            inboxes: Mutex::new(HashMap::new()),
        }
    }
}

impl RabbitDelivery {
    /// The generation of the open connection (0 when none is open). Increases on reconnect.
    pub fn generation(&self) -> u64 {
        self.current_live().map_or(0, |live| live.generation)
    }

    /// Closes the connection: the broker requeues every unacked delivery at once (for another
    /// worker) instead of when the TCP connection times out. The next call reconnects.
    pub async fn close(&self) {
        let live = self.lock_current().take();
        if let Some(live) = live {
            live.close("closed by minutes").await;
        }
    }

    fn lock_current(&self) -> std::sync::MutexGuard<'_, Option<Arc<Live>>> {
        self.current.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn current_live(&self) -> Option<Arc<Live>> {
        self.lock_current().clone()
    }

    fn inbox(&self, consumer: &str) -> Arc<Inbox> {
        let mut inboxes = self.inboxes.lock().unwrap_or_else(|e| e.into_inner());
        inboxes.entry(consumer.to_string()).or_default().clone()
    }

    fn error(&self, what: &str, e: impl std::fmt::Display) -> DeliveryError {
        DeliveryError::new(
            BACKEND,
            format!("{what}: {}", scrub(&e.to_string(), &self.url)),
        )
    }

    /// The open generation, or a new one if it dropped (at most one attempt per backoff step).
    async fn live(&self) -> Result<Arc<Live>, DeliveryError> {
        if let Some(live) = self.current_live().filter(|l| l.healthy()) {
            return Ok(live);
        }
        let mut backoff = self.reconnect.lock().await;
        // Another caller may have reconnected while this one waited for the lock.
        if let Some(live) = self.current_live().filter(|l| l.healthy()) {
            return Ok(live);
        }
        let stale = self.lock_current().take();
        if let Some(stale) = stale {
            tracing::warn!(
                url = %self.shown_url,
                generation = stale.generation,
                "RabbitMQ connection lost; reconnecting"
            );
            stale.close("reconnecting").await;
        }
        if let Some(at) = backoff.retry_at {
            let now = Instant::now();
            if now < at {
                return Err(DeliveryError::new(
                    BACKEND,
                    format!(
                        "{} unreachable; next reconnect attempt in {} ms",
                        self.shown_url,
                        (at - now).as_millis()
                    ),
                ));
            }
        }
        backoff.generation += 1;
        let generation = backoff.generation;
        let opened = tokio::time::timeout(CONNECT_TIMEOUT, self.open(generation)).await;
        let opened = match opened {
            Ok(Ok(live)) => Ok(live),
            Ok(Err(e)) => Err(self.error(&format!("connecting to {}", self.shown_url), e)),
            Err(_) => Err(DeliveryError::new(
                BACKEND,
                format!(
                    "connecting to {}: timed out after {CONNECT_TIMEOUT:?}",
                    self.shown_url
                ),
            )),
        };
        match opened {
            Ok(live) => {
                let live = Arc::new(live);
                *self.lock_current() = Some(live.clone());
                backoff.succeeded();
                tracing::info!(url = %self.shown_url, generation, "connected to RabbitMQ");
                Ok(live)
            }
            Err(e) => {
                let delay = backoff.failed();
                tracing::warn!(error = %e, retry_in_ms = delay.as_millis() as u64, "RabbitMQ connection failed");
                Err(e)
            }
        }
    }

    async fn open(&self, generation: u64) -> Result<Live, lapin::Error> {
        let name = format!(
            "minutes {} pid {} generation {generation}",
            self.names.prefix,
            std::process::id()
        );
        let properties = ConnectionProperties::default().with_connection_name(name.into());
        let connection = Connection::connect(&self.url, properties).await?;
        let control = connection.create_channel().await?;
        let publish = connection.create_channel().await?;
        publish
            .confirm_select(ConfirmSelectOptions::default())
            .await?;
        let consume = connection.create_channel().await?;
        consume
            .basic_qos(self.prefetch, BasicQosOptions { global: false })
            .await?;
        let live = Live {
            generation,
            names: self.names.clone(),
            connection,
            control,
            publish,
            consume,
            broken: Arc::new(AtomicBool::new(false)),
            declared: Mutex::new(HashSet::new()),
            consuming: tokio::sync::Mutex::new(HashSet::new()),
            feeders: Mutex::new(Vec::new()),
        };
        live.declare_base().await?;
        for queue in &self.queues {
            live.declare_queue(queue).await?;
        }
        Ok(live)
    }

    /// The generation a receipt belongs to, if it is still the open one.
    fn live_for(&self, delivered: &Delivered) -> Result<Option<(Arc<Live>, u64)>, DeliveryError> {
        let Receipt::Amqp {
            generation,
            delivery_tag,
        } = delivered.receipt
        else {
            return Err(DeliveryError::new(
                BACKEND,
                format!("job {}: not a RabbitMQ receipt", delivered.job_id),
            ));
        };
        match self.current_live() {
            Some(live) if live.generation == generation => Ok(Some((live, delivery_tag))),
            _ => {
                // The broker requeued it when that connection closed.
                tracing::debug!(
                    job_id = %delivered.job_id,
                    generation,
                    "receipt of a closed RabbitMQ connection; nothing to settle"
                );
                Ok(None)
            }
        }
    }
}

impl Drop for RabbitDelivery {
    fn drop(&mut self) {
        // Dropping the last handles of the connection (feeders included) closes it, so the
        // broker requeues what this process held.
        self.lock_current().take();
    }
}

#[async_trait]
impl Delivery for RabbitDelivery {
    fn backend(&self) -> &'static str {
        BACKEND
    }

    async fn announce(&self, due: &[Announcement]) -> Result<(), DeliveryError> {
        if due.is_empty() {
            return Ok(());
        }
        let live = self.live().await?;
        let mut queues: Vec<&str> = due.iter().map(|a| a.queue.as_str()).collect();
        queues.sort_unstable();
        queues.dedup();
        for queue in queues {
            live.declare_queue(queue)
                .await
                .map_err(|e| self.error(&format!("declaring queue {queue}"), e))?;
        }
        let exchange: ShortString = live.names.jobs_exchange().into();
        let mut confirms = Vec::with_capacity(due.len());
        for a in due {
            let mut headers = FieldTable::default();
            headers.insert(
                QUEUE_HEADER.into(),
                AMQPValue::LongString(a.queue.as_str().into()),
            );
            let properties = BasicProperties::default()
                .with_delivery_mode(2)
                .with_message_id(a.job_id.as_str().into())
                .with_headers(headers);
            let confirm = live
                .publish
                .basic_publish(
                    exchange.clone(),
                    a.queue.as_str().into(),
                    // Mandatory: a message no queue takes is returned, not silently dropped.
                    BasicPublishOptions {
                        mandatory: true,
                        ..BasicPublishOptions::default()
                    },
                    a.job_id.as_bytes(),
                    properties,
                )
                .await
                .map_err(|e| self.error("publishing", e))?;
            confirms.push((a, confirm));
        }
        let settle = async {
            for (a, confirm) in confirms {
                let confirmation = confirm
                    .await
                    .map_err(|e| self.error(&format!("confirm of job {}", a.job_id), e))?;
                match confirmation {
                    Confirmation::Ack(None) => {}
                    Confirmation::Ack(Some(returned)) => {
                        // Its queue vanished (deleted by hand): declare it again next time.
                        live.forget_queue(&a.queue);
                        return Err(DeliveryError::new(
                            BACKEND,
                            format!(
                                "job {} returned by the broker ({} {}): no queue {}",
                                a.job_id,
                                returned.reply_code,
                                returned.reply_text,
                                live.names.queue(&a.queue)
                            ),
                        ));
                    }
                    Confirmation::Nack(_) => {
                        return Err(DeliveryError::new(
                            BACKEND,
                            format!("the broker refused (nack) job {}", a.job_id),
                        ));
                    }
                    Confirmation::NotRequested => {
                        return Err(DeliveryError::new(
                            BACKEND,
                            "publisher confirms are off on the publish channel",
                        ));
                    }
                }
            }
            Ok(())
        };
        match tokio::time::timeout(CONFIRM_TIMEOUT, settle).await {
            Ok(result) => result,
            Err(_) => Err(DeliveryError::new(
                BACKEND,
                format!(
                    "no publisher confirm within {CONFIRM_TIMEOUT:?} (is the broker blocking publishers?)"
                ),
            )),
        }
    }

    async fn receive(
        &self,
        consumer: &str,
        queues: &[String],
        max: usize,
        wait: Duration,
    ) -> Result<Vec<Delivered>, DeliveryError> {
        if max == 0 || queues.is_empty() {
            return Ok(Vec::new());
        }
        let live = self.live().await?;
        let inbox = self.inbox(consumer);
        for queue in queues {
            live.ensure_consumer(consumer, queue, &inbox)
                .await
                .map_err(|e| self.error(&format!("consuming {queue}"), e))?;
        }
        let deadline = Instant::now() + wait;
        loop {
            // The open generation, which may be newer than `live` if another call reconnected.
            let taken = inbox.take(queues, max, self.generation().max(live.generation));
            if !taken.is_empty() {
                return Ok(taken);
            }
            if !live.healthy() {
                return Err(DeliveryError::new(
                    BACKEND,
                    "connection lost; the next call reconnects",
                ));
            }
            if tokio::time::timeout_at(deadline, inbox.ready.notified())
                .await
                .is_err()
            {
                return Ok(Vec::new());
            }
        }
    }

    async fn ack(&self, delivered: &Delivered) -> Result<(), DeliveryError> {
        let Some((live, tag)) = self.live_for(delivered)? else {
            return Ok(());
        };
        live.consume
            .basic_ack(tag, BasicAckOptions::default())
            .await
            .map_err(|e| self.error(&format!("ack of job {}", delivered.job_id), e))
    }

    async fn reject(&self, delivered: &Delivered) -> Result<(), DeliveryError> {
        let Some((live, tag)) = self.live_for(delivered)? else {
            return Ok(());
        };
        live.consume
            .basic_nack(
                tag,
                BasicNackOptions {
                    multiple: false,
                    requeue: false,
                },
            )
            .await
            .map_err(|e| self.error(&format!("reject of job {}", delivered.job_id), e))
    }

    async fn check(&self) -> Result<(), DeliveryError> {
        let live = self.live().await?;
        // A passive declare is a full round trip that changes nothing.
        live.control
            .exchange_declare(
                live.names.jobs_exchange().into(),
                ExchangeKind::Direct,
                ExchangeDeclareOptions {
                    passive: true,
                    ..ExchangeDeclareOptions::default()
                },
                FieldTable::default(),
            )
            .await
            .map_err(|e| self.error("check", e))
    }
}

/// Broker-side names under the prefix.
#[derive(Debug, Clone)]
struct Names {
    prefix: String,
}

impl Names {
    fn jobs_exchange(&self) -> String {
        format!("{}.jobs", self.prefix)
    }
    fn dead_exchange(&self) -> String {
        format!("{}.dlx", self.prefix)
    }
    fn dead_queue(&self) -> String {
        format!("{}.dead", self.prefix)
    }
    fn queue(&self, queue: &str) -> String {
        format!("{}.{queue}", self.prefix)
    }
}

/// One connection generation.
struct Live {
    generation: u64,
    names: Names,
    connection: Connection,
    control: Channel,
    publish: Channel,
    consume: Channel,
    /// Set by a feeder whose consumer stopped (channel closed, queue deleted, broker cancel).
    broken: Arc<AtomicBool>,
    /// Queues whose declare and binding succeeded on this connection.
    declared: Mutex<HashSet<String>>,
    /// (consumer, queue) pairs consuming on this connection.
    consuming: tokio::sync::Mutex<HashSet<(String, String)>>,
    feeders: Mutex<Vec<JoinHandle<()>>>,
}

impl Live {
    fn healthy(&self) -> bool {
        !self.broken.load(Ordering::Acquire)
            && self.connection.status().connected()
            && self.control.status().connected()
            && self.publish.status().connected()
            && self.consume.status().connected()
    }

    async fn close(&self, why: &str) {
        self.abort_feeders();
        if self.connection.status().connected() {
            let _ =
                tokio::time::timeout(CLOSE_TIMEOUT, self.connection.close(200, why.into())).await;
        }
    }

    fn abort_feeders(&self) {
        let feeders = std::mem::take(&mut *self.feeders.lock().unwrap_or_else(|e| e.into_inner()));
        for feeder in feeders {
            feeder.abort();
        }
    }

    async fn declare_base(&self) -> Result<(), lapin::Error> {
        self.declare_exchange(self.names.jobs_exchange(), ExchangeKind::Direct)
            .await?;
        // Fanout: every dead letter lands in `<p>.dead` whatever its routing key.
        self.declare_exchange(self.names.dead_exchange(), ExchangeKind::Fanout)
            .await?;
        let mut arguments = quorum();
        arguments.insert(
            "x-max-length".into(),
            AMQPValue::LongLongInt(DEAD_LETTERS_KEPT),
        );
        self.declare_bound_queue(
            self.names.dead_queue(),
            arguments,
            self.names.dead_exchange(),
            "",
        )
        .await
    }

    async fn declare_queue(&self, queue: &str) -> Result<(), lapin::Error> {
        if self.lock_declared().contains(queue) {
            return Ok(());
        }
        let mut arguments = quorum();
        arguments.insert(
            "x-dead-letter-exchange".into(),
            AMQPValue::LongString(self.names.dead_exchange().into()),
        );
        arguments.insert(
            "x-delivery-limit".into(),
            AMQPValue::LongLongInt(DELIVERY_LIMIT),
        );
        self.declare_bound_queue(
            self.names.queue(queue),
            arguments,
            self.names.jobs_exchange(),
            queue,
        )
        .await?;
        self.lock_declared().insert(queue.to_string());
        Ok(())
    }

    async fn declare_exchange(&self, name: String, kind: ExchangeKind) -> Result<(), lapin::Error> {
        let durable = ExchangeDeclareOptions {
            durable: true,
            ..ExchangeDeclareOptions::default()
        };
        self.control
            .exchange_declare(name.into(), kind, durable, FieldTable::default())
            .await
    }

    /// A durable queue with `arguments`, bound to `exchange` under `routing_key`.
    async fn declare_bound_queue(
        &self,
        name: String,
        arguments: FieldTable,
        exchange: String,
        routing_key: &str,
    ) -> Result<(), lapin::Error> {
        self.control
            .queue_declare(
                name.as_str().into(),
                QueueDeclareOptions::durable(),
                arguments,
            )
            .await?;
        self.control
            .queue_bind(
                name.into(),
                exchange.into(),
                routing_key.into(),
                QueueBindOptions::default(),
                FieldTable::default(),
            )
            .await
    }

    fn forget_queue(&self, queue: &str) {
        self.lock_declared().remove(queue);
    }

    fn lock_declared(&self) -> std::sync::MutexGuard<'_, HashSet<String>> {
        self.declared.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Starts consuming `queue` for `consumer` unless it already does on this connection.
    async fn ensure_consumer(
        &self,
        consumer: &str,
        queue: &str,
        inbox: &Arc<Inbox>,
    ) -> Result<(), lapin::Error> {
        let mut consuming = self.consuming.lock().await;
        let key = (consumer.to_string(), queue.to_string());
        if consuming.contains(&key) {
            return Ok(());
        }
        self.declare_queue(queue).await?;
        let stream = self
            .consume
            .basic_consume(
                self.names.queue(queue).into(),
                format!("{consumer}/{queue}").into(),
                BasicConsumeOptions::default(),
                FieldTable::default(),
            )
            .await?;
        let feeder = tokio::spawn(feed(
            stream,
            self.generation,
            queue.to_string(),
            inbox.clone(),
            self.broken.clone(),
        ));
        self.feeders
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(feeder);
        consuming.insert(key);
        Ok(())
    }
}

impl Drop for Live {
    fn drop(&mut self) {
        self.abort_feeders();
    }
}

fn quorum() -> FieldTable {
    let mut arguments = FieldTable::default();
    arguments.insert(
        "x-queue-type".into(),
        AMQPValue::LongString("quorum".into()),
    );
    arguments
}

/// Moves one consumer's deliveries into its inbox until the consumer stops.
async fn feed(
    mut stream: lapin::Consumer,
    generation: u64,
    queue: String,
    inbox: Arc<Inbox>,
    broken: Arc<AtomicBool>,
) {
    while let Some(next) = stream.next().await {
        let delivery = match next {
            Ok(delivery) => delivery,
            Err(e) => {
                tracing::warn!(%queue, generation, error = %e, "RabbitMQ consumer failed");
                break;
            }
        };
        match String::from_utf8(delivery.data) {
            Ok(job_id) if !job_id.trim().is_empty() => inbox.push(Delivered {
                job_id,
                queue: queue.clone(),
                receipt: Receipt::Amqp {
                    generation,
                    delivery_tag: delivery.delivery_tag,
                },
            }),
            // Names no job: straight to the dead letters, never to a worker.
            _ => {
                tracing::warn!(%queue, "RabbitMQ message without a job id; dead-lettered");
                let _ = delivery
                    .acker
                    .nack(BasicNackOptions {
                        multiple: false,
                        requeue: false,
                    })
                    .await;
            }
        }
    }
    broken.store(true, Ordering::Release);
    inbox.ready.notify_one();
}

/// Deliveries of one consumer waiting for `receive`.
#[derive(Default)]
struct Inbox {
    items: Mutex<VecDeque<Delivered>>,
    /// Holds a permit when a delivery arrived while nobody waited.
    ready: Notify,
}

impl Inbox {
    fn push(&self, delivered: Delivered) {
        self.items
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push_back(delivered);
        self.ready.notify_one();
    }

    /// Up to `max` deliveries of `queues`, oldest first; deliveries of generations before
    /// `open` are dropped (the broker requeued them when their connection closed).
    fn take(&self, queues: &[String], max: usize, open: u64) -> Vec<Delivered> {
        let mut items = self.items.lock().unwrap_or_else(|e| e.into_inner());
        let mut taken = Vec::new();
        let mut kept = VecDeque::with_capacity(items.len());
        for d in items.drain(..) {
            let void = matches!(d.receipt, Receipt::Amqp { generation, .. } if generation < open);
            if void {
                continue;
            }
            if taken.len() < max && queues.contains(&d.queue) {
                taken.push(d);
            } else {
                kept.push_back(d);
            }
        }
        *items = kept;
        taken
    }
}

#[derive(Debug)]
struct Backoff {
    generation: u64,
    delay: Duration,
    retry_at: Option<Instant>,
}

impl Default for Backoff {
    fn default() -> Backoff {
        Backoff {
            generation: 0,
            delay: FIRST_RETRY,
            retry_at: None,
        }
    }
}

impl Backoff {
    fn succeeded(&mut self) {
        self.delay = FIRST_RETRY;
        self.retry_at = None;
    }

    /// Returns how long until the next attempt.
    fn failed(&mut self) -> Duration {
        let delay = self.delay;
        self.retry_at = Some(Instant::now() + delay);
        self.delay = (delay * 2).min(MAX_RETRY);
        delay
    }
}

/// Removes the URL's password from a message, should a lower layer have echoed it.
fn scrub(message: &str, url: &str) -> String {
    let Some(password) = url::Url::parse(url)
        .ok()
        .and_then(|u| u.password().map(str::to_string))
        .filter(|p| !p.is_empty())
    else {
        return message.to_string();
    };
    let decoded = percent_encoding::percent_decode_str(&password)
        .decode_utf8_lossy()
        .into_owned();
    message
        .replace(&password, "[redacted]")
        .replace(&decoded, "[redacted]")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn delivered(queue: &str, generation: u64, tag: u64) -> Delivered {
        Delivered {
            job_id: format!("job-{tag}"),
            queue: queue.to_string(),
            receipt: Receipt::Amqp {
                generation,
                delivery_tag: tag,
            },
        }
    }

    #[test]
    fn take_hands_out_only_the_asked_queues_and_drops_older_generations() {
        let inbox = Inbox::default();
        inbox.push(delivered("asr", 1, 1));
        inbox.push(delivered("asr", 2, 2));
        inbox.push(delivered("llm", 2, 3));
        inbox.push(delivered("asr", 2, 4));
        let taken = inbox.take(&["asr".to_string()], 1, 2);
        assert_eq!(taken, vec![delivered("asr", 2, 2)]);
        let taken = inbox.take(&["asr".to_string(), "llm".to_string()], 10, 2);
        assert_eq!(taken, vec![delivered("llm", 2, 3), delivered("asr", 2, 4)]);
        assert!(inbox.take(&["asr".to_string()], 10, 2).is_empty());
    }

    #[test]
    fn backoff_doubles_to_a_ceiling_and_resets_on_success() {
        let mut b = Backoff::default();
        assert_eq!(b.failed(), FIRST_RETRY);
        assert_eq!(b.failed(), FIRST_RETRY * 2);
        for _ in 0..10 {
            b.failed();
        }
        assert_eq!(b.failed(), MAX_RETRY);
        b.succeeded();
        assert!(b.retry_at.is_none());
        assert_eq!(b.failed(), FIRST_RETRY);
    }

    #[test]
    fn scrub_removes_the_password_in_both_spellings() {
        let url = "amqp://minutes:p%40ss@broker:5672/%2f";
        assert_eq!(
            scrub("bad login p%40ss / p@ss", url),
            "bad login [redacted] / [redacted]"
        );
        assert_eq!(scrub("refused", "amqp://broker"), "refused");
    }
}
