//! GCRA in Redis: one atomic script per request, with Redis's own clock, so every API instance
//! shares the budget and clock skew between instances does not matter.
//!
//! One key per script call, so it runs unchanged on a Redis Cluster (the key picks the slot).
use async_trait::async_trait;

use crate::redis_client::{RedisClient, RedisConnection};

use super::{Decision, LimiterError, RateLimiter, Rule};

const SCRIPT: &str = r#"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local emission = tonumber(ARGV[1])
local tolerance = tonumber(ARGV[2])
local tat = tonumber(redis.call('GET', KEYS[1]) or now)
if tat < now then tat = now end
local allow_at = tat - tolerance
if allow_at > now then
  return {0, allow_at - now}
end
local next_tat = tat + emission
redis.call('SET', KEYS[1], next_tat, 'PX', next_tat - now + 1000)
return {1, 0}
"#;

pub struct RedisLimiter {
    conn: RedisConnection,
    prefix: String,
    script: redis::Script,
}

impl RedisLimiter {
    /// Uses the client's shared connection (the script never blocks).
    pub fn new(client: &RedisClient, prefix: &str) -> RedisLimiter {
        RedisLimiter {
            conn: client.connection(),
            prefix: prefix.to_string(),
            script: redis::Script::new(SCRIPT),
        }
    }

    /// Connects (one round trip, so a wrong URL stops the start) and builds the limiter.
    pub async fn connect(url: &str, prefix: &str) -> Result<RedisLimiter, LimiterError> {
        let client = RedisClient::connect(url)
            .await
            .map_err(|e| LimiterError(e.to_string()))?;
        Ok(RedisLimiter::new(&client, prefix))
    }
}

#[async_trait]
impl RateLimiter for RedisLimiter {
    fn backend(&self) -> &'static str {
        "redis"
    }

    async fn ping(&self) -> Result<(), LimiterError> {
        let mut conn = self.conn.clone();
        redis::cmd("PING")
            .query_async::<String>(&mut conn)
            .await
            .map(|_| ())
            .map_err(|e| LimiterError(e.to_string()))
    }

    async fn check(&self, key: &str, rule: Rule) -> Result<Decision, LimiterError> {
        let mut conn = self.conn.clone();
        let (allowed, retry_after): (i64, i64) = self
            .script
            .key(format!("{}{key}", self.prefix))
            .arg(rule.emission_ms())
            .arg(rule.tolerance_ms())
            .invoke_async(&mut conn)
            .await
            .map_err(|e| LimiterError(e.to_string()))?;
        Ok(if allowed == 1 {
            Decision::Allowed
        } else {
            Decision::Limited {
                retry_after_ms: retry_after,
            }
        })
    }
}
