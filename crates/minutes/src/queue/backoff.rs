//! Exponential backoff with full jitter, capped, honouring a provider's retry hint.
use rand::Rng;

/// Delay before attempt `attempt + 1` (attempt counts from 1): base·2^(attempt−1), capped at
/// `max_ms`, then jittered into [50 %, 100 %] so a burst of failures does not retry in lockstep.
pub fn backoff_ms(attempt: i64, base_ms: i64, max_ms: i64, retry_after_ms: Option<i64>) -> i64 {
    let exp = (attempt.clamp(1, 30) - 1) as u32;
    let ceiling = base_ms.saturating_mul(1i64 << exp).min(max_ms).max(1);
    let jittered = rand::thread_rng().gen_range(ceiling / 2..=ceiling);
    jittered.max(retry_after_ms.unwrap_or(0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grows_exponentially_within_jitter_and_cap() {
        for attempt in 1..=4 {
            let ceiling = 1000 * (1 << (attempt - 1));
            for _ in 0..50 {
                let d = backoff_ms(attempt, 1000, 60_000, None);
                assert!(d >= ceiling / 2 && d <= ceiling, "attempt {attempt}: {d}");
            }
        }
        assert!(backoff_ms(20, 1000, 60_000, None) <= 60_000);
        assert_eq!(backoff_ms(1, 1000, 60_000, Some(90_000)), 90_000);
    }
}
