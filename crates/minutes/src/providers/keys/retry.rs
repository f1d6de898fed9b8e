//! One provider call through a key pool: rotation, breaker bookkeeping and bounded retries.
use std::future::Future;
use std::time::Duration;

use rand::Rng;
use secrecy::SecretString;

use super::{Exhausted, KeyPool};
use crate::providers::ProviderError;

/// What to do after a failed request.
enum Next {
    /// Try again (another key, or the same after the wait) if attempts and the wait allow it.
    Retry(Duration),
    /// Return the error now.
    Stop,
}

impl KeyPool {
    /// Runs `op` with a key from the pool until it succeeds, fails for good, or the attempt and
    /// wait budgets of `provider_keys` run out.
    ///
    /// * 429 → the key rests for the hint; the next key is tried at once.
    /// * the key's quota is used up (`QuotaExceeded` from `op`) → the key rests; next key.
    /// * refused credentials → counted against the key, which is skipped for the rest of the
    ///   call; the other keys are tried.
    /// * 5xx → counted against the key; retried after a jittered exponential backoff.
    /// * timeouts → counted, not retried here (the request already took its whole timeout; the
    ///   job queue retries later).
    /// * rejected requests, blocked content, unusable answers → the key worked; returned as is.
    ///
    /// When no key is usable and the first one recovers within `max_retry_wait_secs`, the call
    /// waits for it; otherwise it fails with `QuotaExceeded` (keyless pools: with the last
    /// error), whose `retry_after` tells the job queue when to come back. Never silently.
    pub async fn call<T, F, Fut>(&self, mut op: F) -> Result<T, ProviderError>
    where
        F: FnMut(Option<SecretString>) -> Fut,
        Fut: Future<Output = Result<T, ProviderError>>,
    {
        let s = self.settings();
        let max_wait = s.max_retry_wait();
        let mut attempts = 0u32;
        let mut waits = 0u32;
        let mut refused: Vec<usize> = Vec::new();
        let mut last: Option<ProviderError> = None;
        loop {
            let lease = match self.acquire(&refused) {
                Ok(lease) => lease,
                Err(ex) => {
                    if ex.only_excluded {
                        return Err(last.unwrap_or_else(|| self.exhausted_error(ex)));
                    }
                    match ex.retry_after {
                        Some(wait)
                            if wait <= max_wait
                                && attempts < s.max_attempts
                                && waits < s.max_attempts =>
                        {
                            waits += 1;
                            tracing::debug!(provider = %self.provider(), wait_ms = wait.as_millis() as u64,
                                "every key is resting; waiting for the first to recover");
                            self.clock().sleep(wait).await;
                            continue;
                        }
                        _ => {}
                    }
                    return Err(match last {
                        Some(err) if !self.has_keys() => err,
                        _ => self.exhausted_error(ex),
                    });
                }
            };
            attempts += 1;
            let index = lease.index();
            let err = match op(lease.secret().cloned()).await {
                Ok(value) => {
                    lease.success();
                    return Ok(value);
                }
                Err(err) => err,
            };
            let next = match &err {
                ProviderError::RateLimited { retry_after, .. } => {
                    lease.rate_limited(*retry_after);
                    Next::Retry(Duration::ZERO)
                }
                ProviderError::QuotaExceeded { retry_after, .. } => {
                    lease.quota_exceeded(*retry_after);
                    Next::Retry(Duration::ZERO)
                }
                ProviderError::Auth { .. } => {
                    lease.failure();
                    refused.push(index);
                    Next::Retry(Duration::ZERO)
                }
                ProviderError::Unavailable { .. } => {
                    lease.failure();
                    Next::Retry(
                        self.backoff(attempts)
                            .max(err.retry_after().unwrap_or_default()),
                    )
                }
                ProviderError::Timeout { .. } | ProviderError::AllFailed(_) => {
                    lease.failure();
                    Next::Stop
                }
                ProviderError::Rejected { .. }
                | ProviderError::ContentBlocked { .. }
                | ProviderError::InvalidResponse { .. } => {
                    lease.success();
                    Next::Stop
                }
            };
            match next {
                Next::Retry(wait) if attempts < s.max_attempts && wait <= max_wait => {
                    tracing::debug!(provider = %self.provider(), key.index = index, attempt = attempts,
                        wait_ms = wait.as_millis() as u64, error = %err, "provider call failed; retrying");
                    if !wait.is_zero() {
                        self.clock().sleep(wait).await;
                    }
                    last = Some(err);
                }
                Next::Retry(_) if self.has_keys() => {
                    // Out of budget: if the pool ran dry on the way, say so rather than report
                    // the last key's answer.
                    return Err(match self.exhaustion(&refused) {
                        Some(ex) if !ex.only_excluded => self.exhausted_error(ex),
                        _ => err,
                    });
                }
                _ => return Err(err),
            }
        }
    }

    /// `backoff_base_ms · 2^(attempt−1)`, jittered to 50–100 % so workers do not retry in step.
    fn backoff(&self, attempt: u32) -> Duration {
        let base = self.settings().backoff_base_ms.max(1);
        let full = base.saturating_mul(1u64 << attempt.saturating_sub(1).min(20));
        let jittered = rand::thread_rng().gen_range(full / 2..=full);
        Duration::from_millis(jittered)
    }

    fn exhausted_error(&self, ex: Exhausted) -> ProviderError {
        if !self.has_keys() {
            // A server without keys has nothing to exhaust: its breaker is open.
            return ProviderError::Unavailable {
                provider: self.provider().to_string(),
                detail: format!(
                    "circuit breaker open after repeated failures ({})",
                    ex.detail
                ),
            };
        }
        ProviderError::QuotaExceeded {
            provider: self.provider().to_string(),
            retry_after: ex.retry_after,
            detail: format!("every API key is resting: {}", ex.detail),
        }
    }
}
