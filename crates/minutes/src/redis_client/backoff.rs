//! Reconnect pacing shared by every connection of one client: after a failed connect, further
//! attempts wait an exponentially growing, jittered delay, so a Redis outage is not met with a
//! connect storm from every worker, and the first attempt after recovery is never far off.
use std::time::{Duration, Instant};

use rand::Rng;

const FIRST: Duration = Duration::from_millis(50);
/// Short enough that a failover (seconds) is noticed promptly once it completes.
const CEILING: Duration = Duration::from_secs(2);

#[derive(Debug, Default)]
pub(crate) struct Backoff {
    failures: u32,
    retry_at: Option<Instant>,
    last_error: String,
}

impl Backoff {
    /// While a retry is not yet due: how long until it is, and why the last attempt failed.
    pub fn blocked(&self, now: Instant) -> Option<(Duration, &str)> {
        let at = self.retry_at?;
        (at > now).then(|| (at - now, self.last_error.as_str()))
    }

    pub fn failed(&mut self, now: Instant, error: String) {
        self.failures = self.failures.saturating_add(1);
        let ceiling = delay_ceiling(self.failures);
        // Full jitter in the upper half: instances that lost Redis together spread out.
        let delay = ceiling.mul_f64(rand::thread_rng().gen_range(0.5..=1.0));
        self.retry_at = Some(now + delay);
        self.last_error = error;
    }

    pub fn succeeded(&mut self) {
        *self = Backoff::default();
    }
}

fn delay_ceiling(failures: u32) -> Duration {
    let doublings = failures.saturating_sub(1).min(16);
    FIRST.saturating_mul(1 << doublings).min(CEILING)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_double_up_to_the_ceiling() {
        assert_eq!(delay_ceiling(1), Duration::from_millis(50));
        assert_eq!(delay_ceiling(2), Duration::from_millis(100));
        assert_eq!(delay_ceiling(4), Duration::from_millis(400));
        assert_eq!(delay_ceiling(7), CEILING);
        assert_eq!(delay_ceiling(u32::MAX), CEILING);
    }

    #[test]
    fn a_failure_blocks_until_its_delay_and_a_success_clears_it() {
        let now = Instant::now();
        let mut b = Backoff::default();
        assert!(b.blocked(now).is_none());
        b.failed(now, "refused".into());
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
