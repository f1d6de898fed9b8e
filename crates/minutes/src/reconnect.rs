//! Reconnect pacing for broker connections (the Redis client, the RabbitMQ delivery): after a
//! failed connect, further attempts wait an exponentially growing, jittered delay, so an outage
//! is not met with a connect storm from every worker, and the first attempt after recovery is
//! never far off.
use std::time::{Duration, Instant};

use rand::Rng;

#[derive(Debug)]
pub(crate) struct Backoff {
    first: Duration,
    ceiling: Duration,
    failures: u32,
    retry_at: Option<Instant>,
    last_error: String,
}

impl Backoff {
    /// Waits `first` after the first failure, doubling up to `ceiling`.
    pub fn new(first: Duration, ceiling: Duration) -> Backoff {
        Backoff {
            first,
            ceiling,
            failures: 0,
            retry_at: None,
            last_error: String::new(),
        }
    }

    /// While a retry is not yet due: how long until it is, and why the last attempt failed.
    pub fn blocked(&self, now: Instant) -> Option<(Duration, &str)> {
        let at = self.retry_at?;
        (at > now).then(|| (at - now, self.last_error.as_str()))
    }

    /// Records a failed attempt; returns how long until the next one may go.
    pub fn failed(&mut self, now: Instant, error: String) -> Duration {
        self.failures = self.failures.saturating_add(1);
        let ceiling = self.delay_ceiling(self.failures);
        // Full jitter in the upper half: instances that lost the broker together spread out.
        let delay = ceiling.mul_f64(rand::thread_rng().gen_range(0.5..=1.0));
        self.retry_at = Some(now + delay);
        self.last_error = error;
        delay
    }

    pub fn succeeded(&mut self) {
        *self = Backoff::new(self.first, self.ceiling);
    }

    fn delay_ceiling(&self, failures: u32) -> Duration {
        let doublings = failures.saturating_sub(1).min(16);
        self.first.saturating_mul(1 << doublings).min(self.ceiling)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FIRST: Duration = Duration::from_millis(50);
    const CEILING: Duration = Duration::from_secs(2);

    #[test]
    fn delays_double_up_to_the_ceiling() {
        let b = Backoff::new(FIRST, CEILING);
        assert_eq!(b.delay_ceiling(1), Duration::from_millis(50));
        assert_eq!(b.delay_ceiling(2), Duration::from_millis(100));
        assert_eq!(b.delay_ceiling(4), Duration::from_millis(400));
        assert_eq!(b.delay_ceiling(7), CEILING);
        assert_eq!(b.delay_ceiling(u32::MAX), CEILING);
    }

    #[test]
    fn a_failure_blocks_until_its_delay_and_a_success_clears_it() {
        let now = Instant::now();
        let mut b = Backoff::new(FIRST, CEILING);
        assert!(b.blocked(now).is_none());
        let delay = b.failed(now, "refused".into());
        assert!(delay <= FIRST && delay >= FIRST / 2, "{delay:?}");
        let (wait, why) = b.blocked(now).unwrap();
        assert!(wait <= FIRST && wait >= FIRST / 2, "{wait:?}");
        assert_eq!(why, "refused");
        assert!(b.blocked(now + FIRST).is_none());
        b.failed(now, "refused".into());
        assert!(b
            .blocked(now + FIRST / 2 + Duration::from_millis(1))
            .is_some());
        b.succeeded();
        assert!(b.blocked(now).is_none());
    }
}
