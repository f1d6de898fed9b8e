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
use std::collections::{HashMap, HashSet};
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use lapin::options::{
    BasicAckOptions, BasicNackOptions, BasicPublishOptions, BasicQosOptions, ConfirmSelectOptions,
    ExchangeDeclareOptions,
};
use lapin::types::{AMQPValue, FieldTable, ShortString};
use lapin::{BasicProperties, Confirmation, Connection, ConnectionProperties, ExchangeKind};
use tokio::time::Instant;

use super::{Announcement, Delivered, Delivery, DeliveryError, Receipt};
use crate::reconnect::Backoff;
use inbox::Inbox;
use live::{Live, Names};

mod inbox;
mod live;

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
    /// Serializes reconnection; holds the pacing and the last generation opened.
    reconnect: tokio::sync::Mutex<Reconnect>,
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
            reconnect: tokio::sync::Mutex::new(Reconnect {
                backoff: Backoff::new(FIRST_RETRY, MAX_RETRY),
                generation: 0,
            }),
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
        let mut reconnect = self.reconnect.lock().await;
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
        if let Some((wait, why)) = reconnect.backoff.blocked(std::time::Instant::now()) {
            return Err(DeliveryError::new(
                BACKEND,
                format!(
                    "{} unreachable; next reconnect attempt in {} ms (last error: {why})",
                    self.shown_url,
                    wait.as_millis()
                ),
            ));
        }
        reconnect.generation += 1;
        let generation = reconnect.generation;
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
                reconnect.backoff.succeeded();
                tracing::info!(url = %self.shown_url, generation, "connected to RabbitMQ");
                Ok(live)
            }
            Err(e) => {
                let delay = reconnect
                    .backoff
                    .failed(std::time::Instant::now(), e.to_string());
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

/// Connection attempts: their pacing, and the generation the next connection gets.
struct Reconnect {
    backoff: Backoff,
    generation: u64,
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
    fn scrub_removes_the_password_in_both_spellings() {
        let url = "amqp://minutes:p%40ss@broker:5672/%2f";
        assert_eq!(
            scrub("bad login p%40ss / p@ss", url),
            "bad login [redacted] / [redacted]"
        );
        assert_eq!(scrub("refused", "amqp://broker"), "refused");
    }
}
