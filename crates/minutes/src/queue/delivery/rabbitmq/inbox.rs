//! Deliveries of one consumer, buffered between the broker and `receive`.
use std::collections::VecDeque;
use std::sync::Mutex;

use tokio::sync::Notify;

use crate::queue::delivery::{Delivered, Receipt};

/// Deliveries of one consumer waiting for `receive`.
#[derive(Default)]
pub(super) struct Inbox {
    pub(super) items: Mutex<VecDeque<Delivered>>,
    /// Holds a permit when a delivery arrived while nobody waited.
    pub(super) ready: Notify,
}

impl Inbox {
    pub(super) fn push(&self, delivered: Delivered) {
        self.items
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push_back(delivered);
        self.ready.notify_one();
    }

    /// Up to `max` deliveries of `queues`, oldest first; deliveries of generations before
    /// `open` are dropped (the broker requeued them when their connection closed).
    pub(super) fn take(&self, queues: &[String], max: usize, open: u64) -> Vec<Delivered> {
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
