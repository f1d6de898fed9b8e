//! Time for key pools and in-call retries: read the time and wait, so tests can do both instantly.
use std::time::Duration;

use async_trait::async_trait;

/// Milliseconds since the epoch and a way to wait. `App` bridges its own clock into this so key
/// states follow the same time as the queue; tests use [`ManualProviderClock`].
#[async_trait]
pub trait ProviderClock: Send + Sync {
    fn now_ms(&self) -> i64;
    async fn sleep(&self, duration: Duration);
}

/// Wall time and a real `tokio` sleep.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemProviderClock;

#[async_trait]
impl ProviderClock for SystemProviderClock {
    fn now_ms(&self) -> i64 {
        chrono::Utc::now().timestamp_millis()
    }

    async fn sleep(&self, duration: Duration) {
        tokio::time::sleep(duration).await
    }
}

/// A clock that moves only when told to; `sleep` returns at once, records the requested wait and
/// moves the time forward by it.
#[cfg(test)]
#[derive(Debug)]
pub struct ManualProviderClock {
    now: std::sync::atomic::AtomicI64,
    slept: std::sync::Mutex<Vec<Duration>>,
}

#[cfg(test)]
impl ManualProviderClock {
    pub fn at(now_ms: i64) -> ManualProviderClock {
        ManualProviderClock {
            now: std::sync::atomic::AtomicI64::new(now_ms),
            slept: std::sync::Mutex::default(),
        }
    }

    pub fn advance(&self, by: Duration) {
        self.now.fetch_add(
            i64::try_from(by.as_millis()).unwrap_or(i64::MAX),
            std::sync::atomic::Ordering::SeqCst,
        );
    }

    /// Every wait requested through `sleep`, in order.
    pub fn slept(&self) -> Vec<Duration> {
        self.slept.lock().map(|s| s.clone()).unwrap_or_default()
    }
}

#[cfg(test)]
#[async_trait]
impl ProviderClock for ManualProviderClock {
    fn now_ms(&self) -> i64 {
        self.now.load(std::sync::atomic::Ordering::SeqCst)
    }

    async fn sleep(&self, duration: Duration) {
        if let Ok(mut slept) = self.slept.lock() {
            slept.push(duration);
        }
        self.advance(duration);
    }
}
