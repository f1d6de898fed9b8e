//! Per-user request budgets, per-tenant quotas and retention periods.
use serde::{Deserialize, Serialize};

use super::secret;

/// Request budgets per authenticated user (GCRA); shared through Redis when `redis_url` is set.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RateLimitConfig {
    pub enabled: bool,
    pub per_minute: u32,
    pub upload_per_minute: u32,
    pub login_per_minute: u32,
    #[serde(serialize_with = "secret::redact_url")]
    pub redis_url: String,
    pub key_prefix: String,
}

/// Per-tenant limits, checked before work is accepted (0 = unlimited). The top-level numbers
/// apply to every tenant; `tenants.<id>` overrides any of them for one tenant.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QuotaConfig {
    pub audio_minutes_per_month: u64,
    pub concurrent_pipelines: u64,
    pub llm_tokens_per_month: u64,
    pub storage_bytes: u64,
    /// Share of a quota from which `GET /quota` warns.
    pub warn_at: f64,
    #[serde(default)]
    pub tenants: std::collections::BTreeMap<String, QuotaOverride>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QuotaLimits {
    pub audio_minutes_per_month: u64,
    pub concurrent_pipelines: u64,
    pub llm_tokens_per_month: u64,
    pub storage_bytes: u64,
}

/// One tenant's limits where they differ from the defaults.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QuotaOverride {
    pub audio_minutes_per_month: Option<u64>,
    pub concurrent_pipelines: Option<u64>,
    pub llm_tokens_per_month: Option<u64>,
    pub storage_bytes: Option<u64>,
}

impl QuotaConfig {
    /// The limits that apply to `tenant_id`.
    pub fn limits_for(&self, tenant_id: &str) -> QuotaLimits {
        let d = QuotaLimits {
            audio_minutes_per_month: self.audio_minutes_per_month,
            concurrent_pipelines: self.concurrent_pipelines,
            llm_tokens_per_month: self.llm_tokens_per_month,
            storage_bytes: self.storage_bytes,
        };
        match self.tenants.get(tenant_id) {
            None => d,
            Some(o) => QuotaLimits {
                audio_minutes_per_month: o
                    .audio_minutes_per_month
                    .unwrap_or(d.audio_minutes_per_month),
                concurrent_pipelines: o.concurrent_pipelines.unwrap_or(d.concurrent_pipelines),
                llm_tokens_per_month: o.llm_tokens_per_month.unwrap_or(d.llm_tokens_per_month),
                storage_bytes: o.storage_bytes.unwrap_or(d.storage_bytes),
            },
        }
    }
}

/// How long trash and audio are kept (text is kept); enforced by the hourly retention job.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RetentionConfig {
    pub trash_days: u32,
    /// Audio of confirmed, uncorrected tasks is kept this long after completion.
    pub audio_days: u32,
    /// Audio of confirmed tasks that were corrected is kept this long after confirmation.
    pub audio_extended_days: u32,
    /// Hard maximum for any audio (unconfirmed tasks keep theirs until then).
    pub audio_max_days: u32,
}
