//! External engines behind traits: speech-to-text, voiceprint identification, language models.
//! Only pipeline jobs call these; `App::build` picks implementations from config.
pub mod asr;
pub mod error;
pub mod http;
pub mod llm;
pub mod voiceprint;

use std::path::PathBuf;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use serde_json::Value;

pub use error::ProviderError;

/// What an ASR engine is given: one normalized 16 kHz mono s16 WAV of the whole meeting.
#[derive(Debug, Clone)]
pub struct TranscribeRequest {
    pub audio_wav: PathBuf,
    pub duration_secs: f64,
    /// The task's ASR language (`zh-CN`, `en-US`, `zh-CN+en-US`, `ja-JP`, `ko-KR`).
    pub language: String,
    pub hotwords: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AsrSegment {
    pub start: f64,
    pub end: f64,
    pub text: String,
    /// Diarization label when the engine provides one.
    pub speaker: Option<String>,
    pub confidence: Option<f64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AsrOutput {
    pub segments: Vec<AsrSegment>,
    pub language: Option<String>,
    /// Name of the provider that produced the result (after any fallback).
    pub provider: String,
    /// Errors of providers tried before the one that succeeded.
    #[serde(default)]
    pub fallback_errors: Vec<String>,
}

#[async_trait]
pub trait SpeechToText: Send + Sync {
    fn name(&self) -> &str;
    async fn transcribe(&self, req: &TranscribeRequest) -> Result<AsrOutput, ProviderError>;
}

/// A few seconds of one diarized speaker, cut from the normalized meeting audio.
#[derive(Debug, Clone)]
pub struct SpeakerSample {
    pub label: String,
    pub wav: Vec<u8>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SpeakerMatch {
    pub label: String,
    pub name: String,
    pub speaker_id: Option<String>,
    pub confidence: f64,
}

#[async_trait]
pub trait Voiceprint: Send + Sync {
    fn name(&self) -> &str;
    /// Identifies the speakers behind the samples; labels without a confident match are omitted.
    async fn identify(&self, samples: &[SpeakerSample])
        -> Result<Vec<SpeakerMatch>, ProviderError>;
}

#[derive(Debug, Clone)]
pub struct GenerateRequest {
    pub system: String,
    pub user: String,
    /// Name and JSON Schema of the structured output the answer must follow.
    pub schema_name: String,
    pub schema: Value,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenUsage {
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct GenerateOutput {
    /// The parsed JSON object the model returned (not yet validated against the artifact schema).
    pub content: Value,
    pub model: String,
    pub usage: TokenUsage,
}

#[async_trait]
pub trait LanguageModel: Send + Sync {
    fn name(&self) -> &str;
    fn model(&self) -> &str;
    async fn generate(&self, req: &GenerateRequest) -> Result<GenerateOutput, ProviderError>;
}
