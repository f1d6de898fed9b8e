//! The embedded default: the committed `jobs` row is the message. Enqueues wake waiting
//! workers through the store's signal (an in-process `Notify` on SQLite, fed by `LISTEN` on
//! PostgreSQL); `receive` only waits for that wake-up and the worker then claims from the table.
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use tokio::sync::Notify;

use super::{Announcement, Delivered, Delivery, DeliveryError};

pub struct DatabaseDelivery {
    /// Holds a permit when a wake-up arrived while no worker was waiting, so an enqueue between
    /// a worker's empty claim and its next wait is never missed.
    wake: Arc<Notify>,
    forward: tokio::task::JoinHandle<()>,
}

impl DatabaseDelivery {
    pub fn new(jobs_signal: Arc<Notify>) -> DatabaseDelivery {
        let wake = Arc::new(Notify::new());
        let forward = tokio::spawn(forward(jobs_signal, wake.clone()));
        DatabaseDelivery { wake, forward }
    }
}

impl Drop for DatabaseDelivery {
    fn drop(&mut self) {
        self.forward.abort();
    }
}

/// Turns the store's broadcast wake-ups (`notify_waiters`, lost when nobody waits) into a
/// stored permit (`notify_one`).
async fn forward(signal: Arc<Notify>, wake: Arc<Notify>) {
    let mut next = Box::pin(signal.notified());
    next.as_mut().enable();
    loop {
        next.as_mut().await;
        next = Box::pin(signal.notified());
        next.as_mut().enable();
        wake.notify_one();
    }
}

#[async_trait]
impl Delivery for DatabaseDelivery {
    fn backend(&self) -> &'static str {
        "database"
    }

    fn needs_relay(&self) -> bool {
        false
    }

    async fn announce(&self, _due: &[Announcement]) -> Result<(), DeliveryError> {
        Ok(())
    }

    async fn receive(
        &self,
        _consumer: &str,
        _queues: &[String],
        _max: usize,
        wait: Duration,
    ) -> Result<Vec<Delivered>, DeliveryError> {
        let _ = tokio::time::timeout(wait, self.wake.notified()).await;
        Ok(Vec::new())
    }

    async fn ack(&self, _delivered: &Delivered) -> Result<(), DeliveryError> {
        Ok(())
    }

    async fn reject(&self, _delivered: &Delivered) -> Result<(), DeliveryError> {
        Ok(())
    }

    async fn check(&self) -> Result<(), DeliveryError> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Instant;

    #[tokio::test]
    async fn a_wake_up_sent_while_nobody_waits_is_kept_for_the_next_wait() {
        let signal = Arc::new(Notify::new());
        let d = DatabaseDelivery::new(signal.clone());
        tokio::task::yield_now().await;
        signal.notify_waiters();
        tokio::task::yield_now().await;
        let started = Instant::now();
        d.receive("w", &[], 1, Duration::from_secs(5))
            .await
            .unwrap();
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "the stored wake-up was used"
        );
        let started = Instant::now();
        d.receive("w", &[], 1, Duration::from_millis(200))
            .await
            .unwrap();
        assert!(
            started.elapsed() >= Duration::from_millis(150),
            "no wake-up, so it waited"
        );
    }
}
