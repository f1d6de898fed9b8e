//! Where a provider's API keys come from (`api_key`, `api_keys`, `api_keys_file`) and the
//! `provider_keys` settings shared by every pool.
use std::path::Path;
use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};

use crate::providers::ProviderError;

/// `provider_keys`: circuit breakers and in-call retries for every provider with a key pool.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct KeyPoolSettings {
    /// Consecutive failures (5xx, timeouts, refused credentials) that open a key's breaker.
    pub failure_threshold: u32,
    /// How long an open breaker keeps its key out before one trial request is let through.
    pub half_open_after_secs: u64,
    /// How long a rate-limited key rests when the 429 carried no retry hint.
    pub rate_limited_secs: u64,
    /// HTTP requests one call may make, across keys, before giving up to the job queue.
    pub max_attempts: u32,
    /// First backoff after a 5xx; doubled per attempt, jittered to 50–100 %.
    pub backoff_base_ms: u64,
    /// Longest wait one call sits through (a retry hint, a backoff, every key resting); anything
    /// longer is returned as an error so the job queue reschedules the job instead.
    pub max_retry_wait_secs: u64,
}

impl Default for KeyPoolSettings {
    fn default() -> Self {
        KeyPoolSettings {
            failure_threshold: 5,
            half_open_after_secs: 300,
            rate_limited_secs: 60,
            max_attempts: 3,
            backoff_base_ms: 1000,
            max_retry_wait_secs: 30,
        }
    }
}

impl KeyPoolSettings {
    /// Why these settings cannot work, if they cannot.
    pub fn problem(&self) -> Option<&'static str> {
        if self.failure_threshold == 0 || self.max_attempts == 0 {
            return Some("failure_threshold and max_attempts must be at least 1");
        }
        if self.half_open_after_secs == 0 || self.rate_limited_secs == 0 {
            return Some("half_open_after_secs and rate_limited_secs must be at least 1");
        }
        None
    }

    pub fn half_open_after(&self) -> Duration {
        Duration::from_secs(self.half_open_after_secs)
    }

    pub fn rate_limited_for(&self) -> Duration {
        Duration::from_secs(self.rate_limited_secs)
    }

    pub fn max_retry_wait(&self) -> Duration {
        Duration::from_secs(self.max_retry_wait_secs)
    }
}

/// The keys of one provider, in configuration order without duplicates: `api_key`, then
/// `api_keys` (separated by commas, spaces or newlines), then `api_keys_file` (one key per line,
/// `#` starts a comment line). Empty values count as unset.
pub fn collect_keys(
    provider: &str,
    api_key: Option<&SecretString>,
    api_keys: Option<&SecretString>,
    api_keys_file: Option<&Path>,
) -> Result<Vec<SecretString>, ProviderError> {
    let mut out: Vec<SecretString> = Vec::new();
    let mut push = |key: &str| {
        let key = key.trim();
        if !key.is_empty() && !out.iter().any(|k| k.expose_secret() == key) {
            out.push(SecretString::from(key.to_string()));
        }
    };
    if let Some(key) = api_key {
        push(key.expose_secret());
    }
    if let Some(keys) = api_keys {
        keys.expose_secret()
            .split(|c: char| c == ',' || c.is_whitespace())
            .for_each(&mut push);
    }
    if let Some(path) = api_keys_file {
        // The error names the file, never its content.
        let text = std::fs::read_to_string(path).map_err(|e| ProviderError::Rejected {
            provider: provider.to_string(),
            detail: format!("cannot read api_keys_file {}: {e}", path.display()),
        })?;
        text.lines()
            .map(str::trim)
            .filter(|line| !line.starts_with('#'))
            .for_each(&mut push);
    }
    Ok(out)
}
