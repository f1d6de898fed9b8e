//! `asr.volcano`: endpoints, credentials, polling and hotword options, with the documented
//! defaults.
use std::path::PathBuf;
use std::time::Duration;

use secrecy::SecretString;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::providers::hotword_tables::VolcanoHotwordSettings;
use crate::providers::http::serialize_redacted;

fn default_submit_url() -> String {
    "https://openspeech.bytedance.com/api/v3/auc/bigmodel/submit".into()
}
fn default_query_url() -> String {
    "https://openspeech.bytedance.com/api/v3/auc/bigmodel/query".into()
}
fn default_resource_id() -> String {
    "volc.bigasr.auc".into()
}
fn default_uid() -> String {
    "minutes".into()
}
fn yes() -> bool {
    true
}
fn default_request_timeout_secs() -> u64 {
    30
}
fn default_poll_initial_ms() -> u64 {
    2000
}
fn default_poll_multiplier() -> f64 {
    1.5
}
fn default_poll_max_ms() -> u64 {
    30_000
}
fn default_min_wait_secs() -> u64 {
    600
}
fn default_wait_per_audio_second() -> f64 {
    3.0
}
fn default_max_poll_errors() -> u32 {
    5
}
fn default_audio_url_ttl_secs() -> u64 {
    6 * 3600
}

fn string_or_number<'de, D: serde::Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Id {
        Text(String),
        Unsigned(u64),
        Signed(i64),
    }
    Ok(match Id::deserialize(d)? {
        Id::Text(s) => s,
        Id::Unsigned(n) => n.to_string(),
        Id::Signed(n) => n.to_string(),
    })
}

/// `asr.volcano`: the BigModel file-recognition endpoint, credentials and polling.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct VolcanoAsrSettings {
    #[serde(default = "default_submit_url")]
    pub submit_url: String,
    #[serde(default = "default_query_url")]
    pub query_url: String,
    /// `volc.bigasr.auc` (model 1.0) or `volc.seedasr.auc` (model 2.0).
    #[serde(default = "default_resource_id")]
    pub resource_id: String,
    /// The application's APP ID (`X-Api-App-Key`). Digits, so the env layer may read it as a
    /// number: both are accepted.
    #[serde(default, deserialize_with = "string_or_number")]
    pub app_id: String,
    /// The application's Access Token (`X-Api-Access-Key`).
    #[serde(default, serialize_with = "serialize_redacted")]
    pub access_token: Option<SecretString>,
    #[serde(default)]
    pub access_token_file: Option<PathBuf>,
    /// `user.uid` of every request (no personal data is sent).
    #[serde(default = "default_uid")]
    pub uid: String,
    /// Disfluency smoothing (语义顺滑).
    #[serde(default = "yes")]
    pub enable_ddc: bool,
    /// Per HTTP request (submit or one query), not the whole recognition.
    #[serde(default = "default_request_timeout_secs")]
    pub request_timeout_secs: u64,
    #[serde(default = "default_poll_initial_ms")]
    pub poll_initial_ms: u64,
    #[serde(default = "default_poll_multiplier")]
    pub poll_multiplier: f64,
    #[serde(default = "default_poll_max_ms")]
    pub poll_max_ms: u64,
    /// The recognition may take max(min_wait_secs, wait_per_audio_second × audio seconds).
    #[serde(default = "default_min_wait_secs")]
    pub min_wait_secs: u64,
    #[serde(default = "default_wait_per_audio_second")]
    pub wait_per_audio_second: f64,
    /// Consecutive failed queries (5xx, 429, timeouts) before the attempt gives up; the job
    /// queue retries later and resumes the same recognition.
    #[serde(default = "default_max_poll_errors")]
    pub max_poll_errors: u32,
    /// Lifetime of the presigned audio URL; the provider may start downloading late.
    #[serde(default = "default_audio_url_ttl_secs")]
    pub audio_url_ttl_secs: u64,
    /// Send the task's hotwords in `corpus.context` when no boosting table applies.
    #[serde(default = "yes")]
    pub inline_hotwords: bool,
    /// A boosting table for tasks whose hotword set has none (managed out of band).
    #[serde(default)]
    pub boosting_table_id: Option<String>,
    #[serde(default)]
    pub boosting_table_name: Option<String>,
    /// Passed through as `request.sensitive_words_filter` (the page's JSON object).
    #[serde(default)]
    pub sensitive_words_filter: Option<Value>,
    /// When the filter masks words with `*`, fail with `content_blocked` so the fallback
    /// provider transcribes the meeting instead.
    #[serde(default)]
    pub fallback_on_masked: bool,
    #[serde(default)]
    pub hotword_tables: VolcanoHotwordSettings,
}

impl Default for VolcanoAsrSettings {
    fn default() -> Self {
        VolcanoAsrSettings {
            submit_url: default_submit_url(),
            query_url: default_query_url(),
            resource_id: default_resource_id(),
            app_id: String::new(),
            access_token: None,
            access_token_file: None,
            uid: default_uid(),
            enable_ddc: true,
            request_timeout_secs: default_request_timeout_secs(),
            poll_initial_ms: default_poll_initial_ms(),
            poll_multiplier: default_poll_multiplier(),
            poll_max_ms: default_poll_max_ms(),
            min_wait_secs: default_min_wait_secs(),
            wait_per_audio_second: default_wait_per_audio_second(),
            max_poll_errors: default_max_poll_errors(),
            audio_url_ttl_secs: default_audio_url_ttl_secs(),
            inline_hotwords: true,
            boosting_table_id: None,
            boosting_table_name: None,
            sensitive_words_filter: None,
            fallback_on_masked: false,
            hotword_tables: VolcanoHotwordSettings::default(),
        }
    }
}

impl VolcanoAsrSettings {
    /// How long a recognition of `audio_secs` may take before we stop waiting.
    pub fn wait_budget(&self, audio_secs: f64) -> Duration {
        let proportional = Duration::try_from_secs_f64(
            (audio_secs.max(0.0) * self.wait_per_audio_second.max(0.0)).min(1e9),
        )
        .unwrap_or_default();
        proportional.max(Duration::from_secs(self.min_wait_secs))
    }

    /// The filter as a JSON object: written as a map in YAML, or as a JSON string (the form
    /// an environment variable takes).
    pub(super) fn filter(&self) -> Result<Option<Value>, String> {
        match &self.sensitive_words_filter {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(text)) => serde_json::from_str::<Value>(text)
                .map(Some)
                .map_err(|e| format!("asr.volcano.sensitive_words_filter is not JSON: {e}")),
            Some(v @ Value::Object(_)) => Ok(Some(v.clone())),
            Some(_) => Err("asr.volcano.sensitive_words_filter must be an object".into()),
        }
    }

    /// Whether the configured filter replaces words with `*` (the masking we can detect).
    pub(super) fn masks_with_asterisks(&self) -> bool {
        self.filter().ok().flatten().is_some_and(|f| {
            f.get("system_reserved_filter").and_then(Value::as_bool) == Some(true)
                || f.get("filter_with_signed")
                    .and_then(Value::as_array)
                    .is_some_and(|a| !a.is_empty())
        })
    }
}
