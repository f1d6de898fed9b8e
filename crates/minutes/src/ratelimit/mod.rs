//! Request rate limits (GCRA): a budget per authenticated subject and route class, in-process for
//! one instance or in Redis so several API instances share one budget.
mod memory;
mod redis;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

pub use memory::MemoryLimiter;
pub use redis::RedisLimiter;

/// `limit` requests per `period_ms`, allowing bursts of up to `burst` at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rule {
    pub limit: u32,
    pub period_ms: u64,
    pub burst: u32,
}

impl Rule {
    pub fn per_minute(limit: u32) -> Rule {
        Rule {
            limit,
            period_ms: 60_000,
            burst: limit,
        }
    }

    /// Time between two requests at the sustained rate.
    fn emission_ms(&self) -> i64 {
        (self.period_ms / u64::from(self.limit.max(1))) as i64
    }

    /// How far ahead of now the theoretical arrival time may run.
    fn tolerance_ms(&self) -> i64 {
        self.emission_ms() * i64::from(self.burst.max(1) - 1)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    Allowed,
    /// Rejected; try again after this many milliseconds.
    Limited {
        retry_after_ms: i64,
    },
}

#[derive(Debug, thiserror::Error)]
#[error("rate limiter unavailable: {0}")]
pub struct LimiterError(pub String);

#[async_trait]
pub trait RateLimiter: Send + Sync {
    async fn check(&self, key: &str, rule: Rule) -> Result<Decision, LimiterError>;

    /// `redis` for the shared limiter, `memory` for the in-process one (`/ready`).
    fn backend(&self) -> &'static str;

    /// One round trip to the shared store, for `/ready`; the in-process limiter is always up.
    async fn ping(&self) -> Result<(), LimiterError> {
        Ok(())
    }
}

/// One GCRA step: given the stored theoretical arrival time, decide and return the new one.
pub(crate) fn gcra(stored_tat: Option<i64>, now_ms: i64, rule: Rule) -> (Decision, Option<i64>) {
    let tat = stored_tat.unwrap_or(now_ms).max(now_ms);
    let allow_at = tat - rule.tolerance_ms();
    if allow_at > now_ms {
        return (
            Decision::Limited {
                retry_after_ms: allow_at - now_ms,
            },
            None,
        );
    }
    (Decision::Allowed, Some(tat + rule.emission_ms()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_is_allowed_then_one_request_per_emission_interval() {
        let rule = Rule::per_minute(60);
        let mut tat = None;
        for i in 0..60 {
            let (d, next) = gcra(tat, 0, rule);
            assert_eq!(d, Decision::Allowed, "request {i}");
            tat = next;
        }
        let (d, _) = gcra(tat, 0, rule);
        assert_eq!(
            d,
            Decision::Limited {
                retry_after_ms: 1000
            }
        );
        assert_eq!(
            gcra(tat, 999, rule).0,
            Decision::Limited { retry_after_ms: 1 }
        );
        assert_eq!(gcra(tat, 1000, rule).0, Decision::Allowed);
    }
}
