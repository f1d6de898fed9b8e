//! In-process GCRA state: right for a single API instance.
use std::collections::HashMap;
use std::sync::Mutex;

use async_trait::async_trait;

use super::{gcra, Decision, LimiterError, RateLimiter, Rule};

#[derive(Default)]
pub struct MemoryLimiter {
    tats: Mutex<HashMap<String, i64>>,
}

#[async_trait]
impl RateLimiter for MemoryLimiter {
    fn backend(&self) -> &'static str {
        "memory"
    }

    async fn check(&self, key: &str, rule: Rule) -> Result<Decision, LimiterError> {
        let now = chrono::Utc::now().timestamp_millis();
        let mut tats = self
            .tats
            .lock()
            .map_err(|_| LimiterError("state lock poisoned".into()))?;
        // Entries whose arrival time has passed carry no information; drop them now and then.
        if tats.len() > 100_000 {
            tats.retain(|_, tat| *tat > now);
        }
        let (decision, next) = gcra(tats.get(key).copied(), now, rule);
        if let Some(next) = next {
            tats.insert(key.to_string(), next);
        }
        Ok(decision)
    }
}
