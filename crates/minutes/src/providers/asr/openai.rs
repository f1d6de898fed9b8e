//! Speech-to-text over the OpenAI-compatible `POST {base_url}/audio/transcriptions` endpoint.
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use reqwest::multipart::{Form, Part};
use secrecy::SecretString;
use serde::{Deserialize, Serialize};

use crate::egress::EgressPolicy;
use crate::providers::http::{check_base_url, endpoint, serialize_redacted, ProviderHttp};
use crate::providers::keys::{
    collect_keys, KeyPool, KeyPoolSettings, ProviderClock, SystemProviderClock,
};
use crate::providers::{AsrOutput, AsrSegment, ProviderError, SpeechToText, TranscribeRequest};

/// Whisper reads at most 224 prompt tokens and silently drops the rest; ~200 words keeps the
/// hotword list inside that window.
const MAX_PROMPT_WORDS: usize = 200;

fn default_model() -> String {
    "whisper-1".to_string()
}

fn default_timeout_secs() -> u64 {
    // Whisper on CPU can take longer than real time for a multi-hour meeting.
    1800
}

/// Settings for one OpenAI-compatible transcription server (OpenAI, faster-whisper servers, …).
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct OpenAiAsrSettings {
    /// API root including the version, e.g. `http://host:8000/v1`.
    pub base_url: String,
    #[serde(default, serialize_with = "serialize_redacted")]
    pub api_key: Option<SecretString>,
    /// More keys for the key pool, separated by commas, spaces or newlines.
    #[serde(default, serialize_with = "serialize_redacted")]
    pub api_keys: Option<SecretString>,
    /// A file with one key per line (a mounted secret).
    #[serde(default)]
    pub api_keys_file: Option<PathBuf>,
    #[serde(default = "default_model")]
    pub model: String,
    #[serde(default = "default_timeout_secs")]
    pub timeout_secs: u64,
}

/// `SpeechToText` backed by an OpenAI-compatible `/audio/transcriptions` endpoint.
#[derive(Debug, Clone)]
pub struct OpenAiAsr {
    name: String,
    http: ProviderHttp,
    keys: Arc<KeyPool>,
    url: String,
    model: String,
}

impl OpenAiAsr {
    pub const DEFAULT_NAME: &'static str = "openai-asr";

    /// An adapter under the embedded default egress policy (https, or loopback).
    pub fn new(settings: OpenAiAsrSettings) -> Result<Self, ProviderError> {
        Self::with_egress(settings, &EgressPolicy::default())
    }

    pub fn with_egress(
        settings: OpenAiAsrSettings,
        egress: &EgressPolicy,
    ) -> Result<Self, ProviderError> {
        Self::with_pool(
            settings,
            egress,
            KeyPoolSettings::default(),
            Arc::new(SystemProviderClock),
        )
    }

    /// An adapter whose keys (`api_key`, `api_keys`, `api_keys_file`; none for servers without
    /// authentication) form a pool with the given breaker and retry settings.
    pub fn with_pool(
        settings: OpenAiAsrSettings,
        egress: &EgressPolicy,
        pool: KeyPoolSettings,
        clock: Arc<dyn ProviderClock>,
    ) -> Result<Self, ProviderError> {
        let name = Self::DEFAULT_NAME.to_string();
        check_base_url(&name, &settings.base_url, egress)?;
        let timeout = Duration::from_secs(settings.timeout_secs.max(1));
        let http = ProviderHttp::with_egress(&name, timeout, egress)?;
        let keys = collect_keys(
            &name,
            settings.api_key.as_ref(),
            settings.api_keys.as_ref(),
            settings.api_keys_file.as_deref(),
        )?;
        Ok(Self {
            url: endpoint(settings.base_url.trim(), "audio/transcriptions"),
            keys: Arc::new(KeyPool::new(&name, keys, pool, clock)),
            name,
            http,
            model: settings.model,
        })
    }

    /// Renames the provider, e.g. to tell two OpenAI-compatible servers apart in a fallback chain.
    pub fn with_name(mut self, name: impl Into<String>) -> Self {
        self.name = name.into();
        self.http.set_provider(&self.name);
        if let Some(pool) = Arc::get_mut(&mut self.keys) {
            pool.set_provider(&self.name);
        }
        self
    }

    /// The key pool, for health reporting.
    pub fn key_pool(&self) -> Arc<KeyPool> {
        self.keys.clone()
    }

    async fn form(&self, req: &TranscribeRequest) -> Result<Form, ProviderError> {
        // A missing or unreadable WAV is our bug, not the provider's, and retrying cannot fix it.
        let local = |e: std::io::Error| ProviderError::Rejected {
            provider: self.name.clone(),
            detail: format!("cannot read {}: {e}", req.audio_wav.display()),
        };
        let file = tokio::fs::File::open(&req.audio_wav).await.map_err(local)?;
        let len = file.metadata().await.map_err(local)?.len();
        // Streamed from disk: a six-hour 16 kHz WAV is ~700 MB and must not be held in memory.
        let audio = Part::stream_with_length(file, len)
            .file_name("audio.wav")
            .mime_str("audio/wav")
            .map_err(|e| ProviderError::Rejected {
                provider: self.name.clone(),
                detail: format!("cannot build upload: {e}"),
            })?;
        let mut form = Form::new()
            .part("file", audio)
            .text("model", self.model.clone())
            .text("response_format", "verbose_json")
            .text("timestamp_granularities[]", "segment")
            .text("temperature", "0");
        if let Some(lang) = iso639_1(&req.language) {
            form = form.text("language", lang);
        }
        if let Some(prompt) = hotword_prompt(&req.hotwords) {
            form = form.text("prompt", prompt);
        }
        Ok(form)
    }
}

#[async_trait]
impl SpeechToText for OpenAiAsr {
    fn name(&self) -> &str {
        &self.name
    }

    async fn transcribe(&self, req: &TranscribeRequest) -> Result<AsrOutput, ProviderError> {
        // The form streams the WAV from disk, so every attempt builds its own.
        let body = self
            .keys
            .call(|key| async move {
                let form = self.form(req).await?;
                self.http
                    .send(
                        self.http.post(&self.url, key.as_ref()).multipart(form),
                        key.as_ref(),
                    )
                    .await
            })
            .await?;
        let parsed: VerboseTranscription = serde_json::from_slice(&body).map_err(|e| {
            self.invalid(format!(
                "not a verbose_json transcription ({e}): {}",
                crate::providers::http::body_excerpt(&body, None)
            ))
        })?;
        self.to_output(parsed, req.duration_secs)
    }
}

impl OpenAiAsr {
    fn invalid(&self, detail: String) -> ProviderError {
        ProviderError::InvalidResponse {
            provider: self.name.clone(),
            detail,
        }
    }

    fn to_output(
        &self,
        parsed: VerboseTranscription,
        duration_hint: f64,
    ) -> Result<AsrOutput, ProviderError> {
        let mut segments = Vec::with_capacity(parsed.segments.len());
        for seg in parsed.segments {
            if !(seg.start.is_finite() && seg.end.is_finite()) || seg.start < 0.0 {
                return Err(self.invalid(format!(
                    "segment {:?} has bad times {}..{}",
                    seg.id, seg.start, seg.end
                )));
            }
            let text = seg.text.trim();
            // Whisper emits whitespace-only segments over silence; they carry nothing to attribute.
            if text.is_empty() {
                continue;
            }
            segments.push(AsrSegment {
                start: seg.start,
                // Some servers round `end` below `start` on tiny segments; never produce a negative span.
                end: seg.end.max(seg.start),
                text: text.to_string(),
                speaker: None,
                confidence: seg
                    .avg_logprob
                    .map(f64::exp)
                    .filter(|c| !c.is_nan())
                    .map(|c| c.clamp(0.0, 1.0)),
            });
        }
        let text = parsed.text.trim();
        if segments.is_empty() && !text.is_empty() {
            // Servers that ignore `verbose_json` answer `{"text": …}`: keep the words, span the file.
            let end = parsed
                .duration
                .filter(|d| d.is_finite() && *d > 0.0)
                .unwrap_or(duration_hint.max(0.0));
            segments.push(AsrSegment {
                start: 0.0,
                end,
                text: text.to_string(),
                speaker: None,
                confidence: None,
            });
        }
        Ok(AsrOutput {
            segments,
            language: parsed.language.as_deref().and_then(normalize_language),
            provider: self.name.clone(),
            fallback_errors: Vec::new(),
        })
    }
}

/// The `verbose_json` transcription body; every field is optional because compatible servers
/// differ in what they fill in.
#[derive(Debug, Deserialize)]
struct VerboseTranscription {
    #[serde(default)]
    text: String,
    #[serde(default)]
    language: Option<String>,
    #[serde(default)]
    duration: Option<f64>,
    #[serde(default, deserialize_with = "null_as_empty")]
    segments: Vec<VerboseSegment>,
}

#[derive(Debug, Deserialize)]
struct VerboseSegment {
    #[serde(default)]
    id: Option<serde_json::Value>,
    start: f64,
    end: f64,
    #[serde(default)]
    text: String,
    #[serde(default)]
    avg_logprob: Option<f64>,
    // `no_speech_prob` is ignored: the server already drops segments it judges silent.
}

/// Some servers send `"segments": null` for empty audio.
fn null_as_empty<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<VerboseSegment>, D::Error> {
    Ok(Option::<Vec<VerboseSegment>>::deserialize(d)?.unwrap_or_default())
}

/// ISO-639-1 code for a task language (`zh-CN` → `zh`); `None` for mixed (`zh-CN+en-US`) or
/// unspecified languages so the server detects the language itself.
pub fn iso639_1(language: &str) -> Option<String> {
    let language = language.trim();
    if language.is_empty() || language.contains('+') || language.eq_ignore_ascii_case("auto") {
        return None;
    }
    let primary = language.split(['-', '_']).next()?.to_ascii_lowercase();
    (primary.len() == 2 && primary.chars().all(|c| c.is_ascii_alphabetic())).then_some(primary)
}

/// Whisper reports full English names (`chinese`); the rest of the service speaks ISO-639-1.
fn normalize_language(language: &str) -> Option<String> {
    let lower = language.trim().to_ascii_lowercase();
    let code = match lower.as_str() {
        "" => return None,
        "chinese" | "mandarin" => "zh",
        "english" => "en",
        "japanese" => "ja",
        "korean" => "ko",
        other => other,
    };
    Some(code.to_string())
}

/// The `prompt` that biases Whisper toward the hotwords: de-duplicated, comma-joined and cut at
/// whole hotwords before [`MAX_PROMPT_WORDS`].
pub fn hotword_prompt(hotwords: &[String]) -> Option<String> {
    let mut picked: Vec<&str> = Vec::new();
    let mut words = 0;
    for hw in hotwords.iter().map(|h| h.trim()).filter(|h| !h.is_empty()) {
        if picked.contains(&hw) {
            continue;
        }
        let cost = prompt_words(hw);
        if words + cost > MAX_PROMPT_WORDS {
            break;
        }
        words += cost;
        picked.push(hw);
    }
    (!picked.is_empty()).then(|| picked.join(", "))
}

/// Word count for the prompt budget; CJK text has no spaces, so each of its characters counts as
/// a word (roughly one token each).
fn prompt_words(text: &str) -> usize {
    text.split_whitespace()
        .map(|w| {
            let wide = w.chars().filter(|c| !c.is_ascii()).count();
            if wide > 0 {
                wide + usize::from(w.chars().any(|c| c.is_ascii_alphanumeric()))
            } else {
                1
            }
        })
        .sum()
}

#[cfg(test)]
mod tests;
