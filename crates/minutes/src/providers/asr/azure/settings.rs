//! `asr.azure`: the Speech resource's endpoint, keys, chunking and speaker reconciliation, with
//! the documented defaults.
use std::collections::BTreeMap;
use std::path::PathBuf;

use secrecy::SecretString;
use serde::{Deserialize, Serialize};

use crate::providers::http::serialize_redacted;

/// Every documented version of the fast transcription limits allows less than two hours of
/// audio per request (the newest how-to page allows five; the REST reference and the SDKs built
/// on 2025-10-15 still say two).
pub const MAX_REQUEST_SECS: u64 = 7200;
/// Shorter chunks would multiply requests and leave too little speech per chunk to tell the
/// speakers apart when their labels are reconciled.
pub const MIN_CHUNK_SECS: u64 = 10;

fn default_request_timeout_secs() -> u64 {
    // A 100-minute chunk is ~190 MB to upload; the service answers "faster than real time".
    900
}
fn default_max_chunk_secs() -> u64 {
    // The strictest documented size limit is 200 MB per file; our 16 kHz mono s16 WAV is
    // 32 000 bytes a second, so 6 000 s (192 MB) stays under it and under the 2-hour limit.
    6000
}
fn default_max_speakers() -> u32 {
    10
}
fn default_speaker_model() -> String {
    "campplus-zh-en".into()
}

/// `profanityFilterMode`: what Azure does with profanity. It never refuses a transcript, so no
/// mode is a content-blocking signal; `none` keeps the words as spoken (minutes quote people).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ProfanityFilterMode {
    #[default]
    None,
    Masked,
    Removed,
    Tags,
}

impl ProfanityFilterMode {
    /// The value the `definition` JSON takes.
    pub fn wire(self) -> &'static str {
        match self {
            ProfanityFilterMode::None => "None",
            ProfanityFilterMode::Masked => "Masked",
            ProfanityFilterMode::Removed => "Removed",
            ProfanityFilterMode::Tags => "Tags",
        }
    }
}

/// `asr.azure`: Azure AI Speech fast transcription.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct AzureAsrSettings {
    /// The Speech resource's endpoint, e.g. `https://my-speech.cognitiveservices.azure.com`
    /// (custom-domain resources); takes precedence over `region`.
    #[serde(default)]
    pub endpoint: Option<String>,
    /// The resource's region (`eastus`, `westeurope`, …): the endpoint is then
    /// `https://{region}.api.cognitive.microsoft.com`.
    #[serde(default)]
    pub region: Option<String>,
    /// A resource key (`Ocp-Apim-Subscription-Key`); from MINUTES__ASR__AZURE__API_KEY.
    #[serde(default, serialize_with = "serialize_redacted")]
    pub api_key: Option<SecretString>,
    /// More keys for the key pool, separated by commas, spaces or newlines.
    #[serde(default, serialize_with = "serialize_redacted")]
    pub api_keys: Option<SecretString>,
    /// A file with one key per line (a mounted secret).
    #[serde(default)]
    pub api_keys_file: Option<PathBuf>,
    /// Per request (one chunk's upload and transcription).
    #[serde(default = "default_request_timeout_secs")]
    pub request_timeout_secs: u64,
    /// Longer audio is cut (in a pause) into chunks of at most this many seconds.
    #[serde(default = "default_max_chunk_secs")]
    pub max_chunk_secs: u64,
    /// `diarization.maxSpeakers`: a hint, 2–35.
    #[serde(default = "default_max_speakers")]
    pub max_speakers: u32,
    #[serde(default)]
    pub profanity_filter_mode: ProfanityFilterMode,
    /// Custom speech models by locale (`en-US: https://…/speechtotext/models/{id}`), sent as
    /// the definition's `models` for the locales a task asks for.
    #[serde(default)]
    pub custom_models: BTreeMap<String, String>,
    /// The CAM++ model (catalog name or path) that matches speakers across chunks; without it
    /// the matching runs degraded on fbank statistics.
    #[serde(default = "default_speaker_model")]
    pub speaker_model: String,
    /// Cosine similarity at or above which a chunk's speaker is taken to be a speaker already
    /// heard; null = the measured default of the embedding engine (CAM++ 0.80, fbank 0.90).
    #[serde(default)]
    pub reconcile_threshold: Option<f32>,
}

impl Default for AzureAsrSettings {
    fn default() -> Self {
        AzureAsrSettings {
            endpoint: None,
            region: None,
            api_key: None,
            api_keys: None,
            api_keys_file: None,
            request_timeout_secs: default_request_timeout_secs(),
            max_chunk_secs: default_max_chunk_secs(),
            max_speakers: default_max_speakers(),
            profanity_filter_mode: ProfanityFilterMode::default(),
            custom_models: BTreeMap::new(),
            speaker_model: default_speaker_model(),
            reconcile_threshold: None,
        }
    }
}

impl AzureAsrSettings {
    /// The resource's base URL, or why the settings cannot work.
    pub fn base_url(&self) -> Result<String, String> {
        let filled = |v: &Option<String>| {
            v.as_deref()
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_string)
        };
        if let Some(endpoint) = filled(&self.endpoint) {
            return Ok(endpoint.trim_end_matches('/').to_string());
        }
        let Some(region) = filled(&self.region) else {
            return Err("asr.azure needs endpoint or region (MINUTES__ASR__AZURE__REGION)".into());
        };
        // The region becomes a host name: only what Azure region names are made of.
        if !region
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
        {
            return Err(format!(
                "asr.azure.region {region:?} is not an Azure region name (e.g. eastus)"
            ));
        }
        Ok(format!("https://{region}.api.cognitive.microsoft.com"))
    }

    /// Why these settings cannot work, if they cannot (besides the URL and the keys).
    pub fn problem(&self) -> Option<String> {
        if !(MIN_CHUNK_SECS..MAX_REQUEST_SECS).contains(&self.max_chunk_secs) {
            return Some(format!(
                "asr.azure.max_chunk_secs must be at least {MIN_CHUNK_SECS} and under \
                 {MAX_REQUEST_SECS} (the per-request audio limit)"
            ));
        }
        if !(2..=35).contains(&self.max_speakers) {
            return Some("asr.azure.max_speakers must be between 2 and 35".into());
        }
        if self
            .reconcile_threshold
            .is_some_and(|t| !(t > 0.0 && t < 1.0))
        {
            return Some("asr.azure.reconcile_threshold must be between 0 and 1".into());
        }
        if let Some((locale, _)) = self
            .custom_models
            .iter()
            .find(|(_, uri)| !uri.trim().starts_with("https://"))
        {
            return Some(format!(
                "asr.azure.custom_models.{locale} must be the model's https URI"
            ));
        }
        None
    }
}
