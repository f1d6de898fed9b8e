//! One connection generation: its channels, the topology it declared and its consumers'
//! feeders.
use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use futures::StreamExt;
use lapin::options::{
    BasicConsumeOptions, BasicNackOptions, ExchangeDeclareOptions, QueueBindOptions,
    QueueDeclareOptions,
};
use lapin::types::{AMQPValue, FieldTable};
use lapin::{Channel, Connection, ExchangeKind};
use tokio::task::JoinHandle;

use crate::queue::delivery::{Delivered, Receipt};

use super::inbox::Inbox;
use super::{CLOSE_TIMEOUT, DEAD_LETTERS_KEPT, DELIVERY_LIMIT};

/// Broker-side names under the prefix.
#[derive(Debug, Clone)]
pub(super) struct Names {
    pub(super) prefix: String,
}

impl Names {
    pub(super) fn jobs_exchange(&self) -> String {
        format!("{}.jobs", self.prefix)
    }
    pub(super) fn dead_exchange(&self) -> String {
        format!("{}.dlx", self.prefix)
    }
    pub(super) fn dead_queue(&self) -> String {
        format!("{}.dead", self.prefix)
    }
    pub(super) fn queue(&self, queue: &str) -> String {
        format!("{}.{queue}", self.prefix)
    }
}

/// One connection generation.
pub(super) struct Live {
    pub(super) generation: u64,
    pub(super) names: Names,
    pub(super) connection: Connection,
    pub(super) control: Channel,
    pub(super) publish: Channel,
    pub(super) consume: Channel,
    /// Set by a feeder whose consumer stopped (channel closed, queue deleted, broker cancel).
    pub(super) broken: Arc<AtomicBool>,
    /// Queues whose declare and binding succeeded on this connection.
    pub(super) declared: Mutex<HashSet<String>>,
    /// (consumer, queue) pairs consuming on this connection.
    pub(super) consuming: tokio::sync::Mutex<HashSet<(String, String)>>,
    pub(super) feeders: Mutex<Vec<JoinHandle<()>>>,
}

impl Live {
    pub(super) fn healthy(&self) -> bool {
        !self.broken.load(Ordering::Acquire)
            && self.connection.status().connected()
            && self.control.status().connected()
            && self.publish.status().connected()
            && self.consume.status().connected()
    }

    pub(super) async fn close(&self, why: &str) {
        self.abort_feeders();
        if self.connection.status().connected() {
            let _ =
                tokio::time::timeout(CLOSE_TIMEOUT, self.connection.close(200, why.into())).await;
        }
    }

    pub(super) fn abort_feeders(&self) {
        let feeders = std::mem::take(&mut *self.feeders.lock().unwrap_or_else(|e| e.into_inner()));
        for feeder in feeders {
            feeder.abort();
        }
    }

    pub(super) async fn declare_base(&self) -> Result<(), lapin::Error> {
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

    pub(super) async fn declare_queue(&self, queue: &str) -> Result<(), lapin::Error> {
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

    pub(super) async fn declare_exchange(
        &self,
        name: String,
        kind: ExchangeKind,
    ) -> Result<(), lapin::Error> {
        let durable = ExchangeDeclareOptions {
            durable: true,
            ..ExchangeDeclareOptions::default()
        };
        self.control
            .exchange_declare(name.into(), kind, durable, FieldTable::default())
            .await
    }

    /// A durable queue with `arguments`, bound to `exchange` under `routing_key`.
    pub(super) async fn declare_bound_queue(
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

    pub(super) fn forget_queue(&self, queue: &str) {
        self.lock_declared().remove(queue);
    }

    pub(super) fn lock_declared(&self) -> std::sync::MutexGuard<'_, HashSet<String>> {
        self.declared.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Starts consuming `queue` for `consumer` unless it already does on this connection.
    pub(super) async fn ensure_consumer(
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

pub(super) fn quorum() -> FieldTable {
    let mut arguments = FieldTable::default();
    arguments.insert(
        "x-queue-type".into(),
        AMQPValue::LongString("quorum".into()),
    );
    arguments
}

/// Moves one consumer's deliveries into its inbox until the consumer stops.
pub(super) async fn feed(
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
