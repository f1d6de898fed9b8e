//! API-key pools: several keys per provider, each with a health state and a circuit breaker,
//! picked least-recently-used among the usable ones; [`KeyPool::call`] drives one provider call
//! through the pool with bounded retries.
mod clock;
mod retry;
mod source;

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use secrecy::SecretString;
use serde::Serialize;

#[cfg(test)]
pub use clock::ManualProviderClock;
pub use clock::{ProviderClock, SystemProviderClock};
pub use source::{collect_keys, KeyPoolSettings};

/// Why a key is resting although its breaker is closed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum RestReason {
    RateLimited,
    QuotaExceeded,
}

#[derive(Debug, Clone)]
struct Slot {
    /// Consecutive failures since the last success.
    failures: u32,
    /// Set while the breaker is open; once passed, the breaker is half-open.
    open_until_ms: Option<i64>,
    /// A half-open trial request is in flight (only one at a time).
    probing: bool,
    rest: Option<(i64, RestReason)>,
    /// Selection order stamp: 0 = never used.
    last_used: u64,
    last_used_at_ms: Option<i64>,
}

impl Slot {
    fn new() -> Slot {
        Slot {
            failures: 0,
            open_until_ms: None,
            probing: false,
            rest: None,
            last_used: 0,
            last_used_at_ms: None,
        }
    }

    fn resting_until(&self, now: i64) -> Option<i64> {
        self.rest
            .map(|(until, _)| until)
            .filter(|until| *until > now)
    }

    fn open_until(&self, now: i64) -> Option<i64> {
        self.open_until_ms.filter(|until| *until > now)
    }

    fn half_open(&self, now: i64) -> bool {
        self.open_until_ms.is_some_and(|until| until <= now)
    }

    fn usable(&self, now: i64) -> bool {
        self.resting_until(now).is_none()
            && self.open_until(now).is_none()
            && !(self.half_open(now) && self.probing)
    }

    /// When this key can be used again, if it is out for a known time.
    fn usable_from(&self, now: i64) -> Option<i64> {
        match (self.resting_until(now), self.open_until(now)) {
            (Some(a), Some(b)) => Some(a.max(b)),
            (a, b) => a.or(b),
        }
    }

    fn status(&self, index: usize, now: i64) -> KeyStatus {
        let (state, until) = if let Some(until) = self.open_until(now) {
            (KeyState::Open, Some(until))
        } else if let Some((until, reason)) = self.rest.filter(|(u, _)| *u > now) {
            let state = match reason {
                RestReason::RateLimited => KeyState::RateLimited,
                RestReason::QuotaExceeded => KeyState::QuotaExceeded,
            };
            (state, Some(until))
        } else if self.half_open(now) {
            (KeyState::HalfOpen, None)
        } else {
            (KeyState::Active, None)
        };
        KeyStatus {
            key_index: index,
            state,
            until: until.and_then(chrono::DateTime::from_timestamp_millis),
            consecutive_failures: self.failures,
            last_used_at: self
                .last_used_at_ms
                .and_then(chrono::DateTime::from_timestamp_millis),
        }
    }
}

/// A key's health as reported by `GET /ready`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum KeyState {
    Active,
    /// Resting after a 429 until `until`.
    RateLimited,
    /// The provider said this key's quota or credit is used up; resting until `until`.
    QuotaExceeded,
    /// The breaker opened after consecutive failures; a trial request is let through at `until`.
    Open,
    /// The next request through this key is the trial that closes or reopens the breaker.
    HalfOpen,
}

impl KeyState {
    pub fn as_str(self) -> &'static str {
        match self {
            KeyState::Active => "active",
            KeyState::RateLimited => "rate_limited",
            KeyState::QuotaExceeded => "quota_exceeded",
            KeyState::Open => "open",
            KeyState::HalfOpen => "half_open",
        }
    }
}

/// One key's state, identified by its position in the configuration (never by the key).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct KeyStatus {
    pub key_index: usize,
    pub state: KeyState,
    pub until: Option<chrono::DateTime<chrono::Utc>>,
    pub consecutive_failures: u32,
    pub last_used_at: Option<chrono::DateTime<chrono::Utc>>,
}

/// No key can be used now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Exhausted {
    /// Until the first key becomes usable again, when that is known.
    pub retry_after: Option<Duration>,
    /// Every key not excluded by the caller is usable in principle: the caller excluded them all.
    pub only_excluded: bool,
    /// One phrase per key, e.g. `key 1 rate_limited for 12s`.
    pub detail: String,
}

/// The API keys of one provider (or one keyless slot for servers without authentication).
pub struct KeyPool {
    provider: String,
    keys: Vec<Option<SecretString>>,
    settings: KeyPoolSettings,
    clock: Arc<dyn ProviderClock>,
    state: Mutex<PoolState>,
}

struct PoolState {
    slots: Vec<Slot>,
    stamp: u64,
}

impl std::fmt::Debug for KeyPool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyPool")
            .field("provider", &self.provider)
            .field("keys", &self.keys.len())
            .finish_non_exhaustive()
    }
}

impl KeyPool {
    /// A pool over `keys`; no keys gives one keyless slot, so a local server without
    /// authentication still gets a breaker and retries.
    pub fn new(
        provider: &str,
        keys: Vec<SecretString>,
        settings: KeyPoolSettings,
        clock: Arc<dyn ProviderClock>,
    ) -> KeyPool {
        let keys: Vec<Option<SecretString>> = if keys.is_empty() {
            vec![None]
        } else {
            keys.into_iter().map(Some).collect()
        };
        KeyPool {
            provider: provider.to_string(),
            state: Mutex::new(PoolState {
                slots: vec![Slot::new(); keys.len()],
                stamp: 0,
            }),
            keys,
            settings,
            clock,
        }
    }

    pub fn provider(&self) -> &str {
        &self.provider
    }

    /// Renames the provider (adapters renamed after construction).
    pub fn set_provider(&mut self, provider: &str) {
        self.provider = provider.to_string();
    }

    /// Whether the pool holds real keys (false for the single keyless slot).
    pub fn has_keys(&self) -> bool {
        self.keys.iter().any(Option::is_some)
    }

    pub fn settings(&self) -> &KeyPoolSettings {
        &self.settings
    }

    pub fn clock(&self) -> &Arc<dyn ProviderClock> {
        &self.clock
    }

    fn lock(&self) -> MutexGuard<'_, PoolState> {
        // A panic while holding the lock cannot leave a slot half-written (every update is a
        // few plain assignments), so a poisoned lock is still consistent.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Every key's state now.
    pub fn status(&self) -> Vec<KeyStatus> {
        let now = self.clock.now_ms();
        self.lock()
            .slots
            .iter()
            .enumerate()
            .map(|(i, slot)| slot.status(i, now))
            .collect()
    }

    /// Takes the least-recently-used usable key not in `excluded`.
    pub fn acquire(&self, excluded: &[usize]) -> Result<KeyLease<'_>, Exhausted> {
        let now = self.clock.now_ms();
        let mut state = self.lock();
        let pick = state
            .slots
            .iter()
            .enumerate()
            .filter(|(i, slot)| !excluded.contains(i) && slot.usable(now))
            .min_by_key(|(i, slot)| (slot.last_used, *i))
            .map(|(i, _)| i);
        let Some(index) = pick else {
            return Err(self.exhausted(&state.slots, excluded, now));
        };
        state.stamp += 1;
        let stamp = state.stamp;
        let slot = &mut state.slots[index];
        slot.last_used = stamp;
        slot.last_used_at_ms = Some(now);
        if slot.half_open(now) {
            slot.probing = true;
        }
        Ok(KeyLease {
            pool: self,
            index,
            settled: false,
        })
    }

    /// Why no key is usable now, or `None` when one is.
    pub fn exhaustion(&self, excluded: &[usize]) -> Option<Exhausted> {
        let now = self.clock.now_ms();
        let state = self.lock();
        let any = state
            .slots
            .iter()
            .enumerate()
            .any(|(i, slot)| !excluded.contains(&i) && slot.usable(now));
        (!any).then(|| self.exhausted(&state.slots, excluded, now))
    }

    fn exhausted(&self, slots: &[Slot], excluded: &[usize], now: i64) -> Exhausted {
        let candidates: Vec<(usize, &Slot)> = slots
            .iter()
            .enumerate()
            .filter(|(i, _)| !excluded.contains(i))
            .collect();
        let retry_after = candidates
            .iter()
            .filter_map(|(_, slot)| slot.usable_from(now))
            .min()
            .map(|at| Duration::from_millis(u64::try_from(at - now).unwrap_or(0)));
        let detail = slots
            .iter()
            .enumerate()
            .map(|(i, slot)| {
                if excluded.contains(&i) {
                    return format!("key {i} refused in this call");
                }
                let status = slot.status(i, now);
                match slot.usable_from(now) {
                    Some(at) => format!(
                        "key {i} {} for {}s",
                        status.state.as_str(),
                        (at - now + 999) / 1000
                    ),
                    None => format!("key {i} {} (trial in flight)", status.state.as_str()),
                }
            })
            .collect::<Vec<_>>()
            .join(", ");
        Exhausted {
            retry_after,
            only_excluded: candidates.is_empty(),
            detail,
        }
    }

    fn settle(&self, index: usize, outcome: Outcome) {
        let now = self.clock.now_ms();
        let threshold = self.settings.failure_threshold.max(1);
        let open_for = duration_ms(self.settings.half_open_after());
        let mut state = self.lock();
        let Some(slot) = state.slots.get_mut(index) else {
            return;
        };
        let was_probing = std::mem::take(&mut slot.probing);
        match outcome {
            Outcome::Abandoned => {}
            // A 429 or a quota answer proves the key authenticates and the service is up.
            Outcome::Success | Outcome::Rest(..) => {
                if slot.open_until_ms.is_some() {
                    tracing::info!(provider = %self.provider, key.index = index, "API key breaker closed");
                }
                slot.failures = 0;
                slot.open_until_ms = None;
                if let Outcome::Rest(reason, hint) = outcome {
                    let default = match reason {
                        RestReason::RateLimited => self.settings.rate_limited_for(),
                        RestReason::QuotaExceeded => self.settings.half_open_after(),
                    };
                    let until = now + duration_ms(hint.unwrap_or(default));
                    let later = slot.rest.filter(|(u, _)| *u > until);
                    slot.rest = Some(later.unwrap_or((until, reason)));
                    tracing::warn!(provider = %self.provider, key.index = index,
                        reason = ?reason, rest_ms = until - now, "API key resting");
                }
            }
            Outcome::Failure => {
                slot.failures = slot.failures.saturating_add(1);
                // A failed trial reopens at once; a closed breaker opens at the threshold.
                if was_probing || slot.half_open(now) || slot.failures >= threshold {
                    slot.open_until_ms = Some(now + open_for);
                    tracing::warn!(provider = %self.provider, key.index = index,
                        failures = slot.failures, open_ms = open_for, "API key breaker open");
                }
            }
        }
    }
}

fn duration_ms(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX / 2)
}

enum Outcome {
    Success,
    Failure,
    Rest(RestReason, Option<Duration>),
    Abandoned,
}

/// One key taken from the pool for one request; report how it went. Dropping it unreported
/// (a cancelled call) only ends a half-open trial, without judging the key.
pub struct KeyLease<'a> {
    pool: &'a KeyPool,
    index: usize,
    settled: bool,
}

impl KeyLease<'_> {
    pub fn index(&self) -> usize {
        self.index
    }

    /// The key; `None` for a keyless pool.
    pub fn secret(&self) -> Option<&SecretString> {
        self.pool.keys.get(self.index).and_then(Option::as_ref)
    }

    fn finish(mut self, outcome: Outcome) {
        self.settled = true;
        self.pool.settle(self.index, outcome);
    }

    /// The request worked (or failed for reasons that are not the key's).
    pub fn success(self) {
        self.finish(Outcome::Success)
    }

    /// A failure that counts toward the breaker: 5xx, timeout, refused credentials.
    pub fn failure(self) {
        self.finish(Outcome::Failure)
    }

    /// A 429: the key rests for the hint, or `provider_keys.rate_limited_secs`.
    pub fn rate_limited(self, retry_after: Option<Duration>) {
        self.finish(Outcome::Rest(RestReason::RateLimited, retry_after))
    }

    /// The key's quota or credit is used up: it rests for the hint, or
    /// `provider_keys.half_open_after_secs`.
    pub fn quota_exceeded(self, retry_after: Option<Duration>) {
        self.finish(Outcome::Rest(RestReason::QuotaExceeded, retry_after))
    }
}

impl Drop for KeyLease<'_> {
    fn drop(&mut self) {
        if !self.settled {
            self.pool.settle(self.index, Outcome::Abandoned);
        }
    }
}

#[cfg(test)]
mod tests;
