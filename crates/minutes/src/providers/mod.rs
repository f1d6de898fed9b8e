//! External engines behind traits: speech-to-text, voiceprint identification, language models.
//! Only pipeline jobs call these; `App::build` picks implementations from config.
pub mod asr;
mod chain;
pub mod diarization;
pub mod error;
pub mod hotword_tables;
pub mod http;
pub mod keys;
pub mod llm;
pub mod voiceprint;

use std::path::{Path, PathBuf};

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use serde_json::Value;

pub use crate::domain::voiceprint::{EnrolledSpeaker, StoredEmbedding, VoiceprintRegistry};
pub use error::ProviderError;

/// What an ASR engine is given: one normalized 16 kHz mono s16 WAV of the whole meeting.
#[derive(Debug, Clone, Default)]
pub struct TranscribeRequest {
    pub audio_wav: PathBuf,
    pub duration_secs: f64,
    /// The task's ASR language (`zh-CN`, `en-US`, `zh-CN+en-US`, `ja-JP`, `ko-KR`).
    pub language: String,
    pub hotwords: Vec<String>,
    /// Told the fraction done as an engine that works window by window advances.
    pub progress: Option<ProgressFn>,
    /// The object-store key of `audio_wav`, for providers that download the audio themselves
    /// through a presigned URL (Volcano) instead of receiving it in the request.
    pub audio_key: Option<String>,
    /// A provider-side hotword table bound to the task (a Volcano boosting table).
    pub hotword_table: Option<HotwordTable>,
    /// Durable state of the provider's remote job, for providers that submit and poll.
    pub checkpoint: Option<Checkpoint>,
}

/// A hotword table kept at a provider (created by the `sync_hotword_table` job).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HotwordTable {
    /// The provider the table lives at (`volcano`); other providers ignore it.
    pub provider: String,
    pub id: String,
    pub name: Option<String>,
}

/// Where a provider that submits a job and polls for its result keeps the job handle (e.g. a
/// Volcano request id), so a restarted worker resumes polling instead of submitting (and
/// paying) again. The pipeline stores it on the task's step, fenced by the job's lease.
#[async_trait]
pub trait JobCheckpoint: Send + Sync {
    /// The state `provider` saved for this step, if any.
    async fn load(&self, provider: &str) -> Result<Option<Value>, ProviderError>;
    /// Saves `state` for `provider`, or forgets it (`None`).
    async fn save(&self, provider: &str, state: Option<&Value>) -> Result<(), ProviderError>;
}

/// A shareable [`JobCheckpoint`].
#[derive(Clone)]
pub struct Checkpoint(pub std::sync::Arc<dyn JobCheckpoint>);

impl std::fmt::Debug for Checkpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Checkpoint")
    }
}

/// A progress callback that can cross into the engine's blocking thread.
#[derive(Clone)]
pub struct ProgressFn(pub std::sync::Arc<dyn Fn(f64) + Send + Sync>);

impl ProgressFn {
    pub fn report(&self, fraction_done: f64) {
        (self.0)(fraction_done)
    }
}

impl std::fmt::Debug for ProgressFn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ProgressFn")
    }
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
    /// The engine a task is expected to run on (a chain's first): what estimates price.
    fn primary_name(&self) -> &str {
        self.name()
    }
    async fn transcribe(&self, req: &TranscribeRequest) -> Result<AsrOutput, ProviderError>;
}

/// One speaker's turn found by diarization, in seconds on the meeting timeline.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SpeakerTurn {
    pub start: f64,
    pub end: f64,
    pub label: String,
}

/// Who spoke when, for ASR engines that return no speakers (the embedded Whisper).
#[async_trait]
pub trait Diarizer: Send + Sync {
    fn name(&self) -> &str;
    /// Turns over a normalized 16 kHz mono WAV of the whole meeting, in time order.
    async fn diarize(&self, audio_wav: &Path) -> Result<Vec<SpeakerTurn>, ProviderError>;
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

/// What an enrollment left at the provider.
#[derive(Debug, Clone, PartialEq)]
pub struct Enrollment {
    /// The provider's id of the speaker's feature (what `delete` takes).
    pub feature_id: String,
    /// Embeddings the service keeps itself (local engines); empty when the provider keeps
    /// the feature (remote engines).
    pub embeddings: Vec<StoredEmbedding>,
}

/// A voiceprint engine: enrolls named speakers of a tenant's registry and identifies
/// diarized speakers against it (1:N, top-k ≥ 2 with the gap-rescue decision).
#[async_trait]
pub trait Voiceprint: Send + Sync {
    /// Also recorded on every registry entry enrolled with this engine: identification only
    /// uses entries of the engine that enrolled them.
    fn name(&self) -> &str;
    /// Identifies the speakers behind the samples against the tenant's `registry`; labels
    /// without a confident match are omitted.
    async fn identify(
        &self,
        registry: &VoiceprintRegistry,
        samples: &[SpeakerSample],
    ) -> Result<Vec<SpeakerMatch>, ProviderError>;
    /// Enrolls `speaker_id` of `tenant_id` from a 16 kHz mono s16 WAV of their speech.
    async fn enroll(
        &self,
        tenant_id: &str,
        speaker_id: &str,
        wav: &[u8],
    ) -> Result<Enrollment, ProviderError> {
        let _ = (tenant_id, speaker_id, wav);
        Err(ProviderError::Rejected {
            provider: self.name().to_string(),
            detail: "this voiceprint engine does not enroll speakers".into(),
        })
    }
    /// Deletes a feature `enroll` made; deleting one that is already gone succeeds.
    async fn delete(&self, tenant_id: &str, feature_id: &str) -> Result<(), ProviderError> {
        let _ = (tenant_id, feature_id);
        Ok(())
    }
}

/// One transcript line a prompt was built from, in structured form (for engines that read the
/// meeting itself instead of the prompt, like the offline extractive generator).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SourceLine {
    /// `seg_0001`; `None` for lines of a free-text correction that no longer maps onto segments.
    pub segment_id: Option<String>,
    /// The speaker's display name (the speaker mapping applied); empty when unknown.
    pub speaker: String,
    pub text: String,
}

#[derive(Debug, Clone, Default)]
pub struct GenerateRequest {
    pub system: String,
    pub user: String,
    /// Name and JSON Schema of the structured output the answer must follow.
    pub schema_name: String,
    pub schema: Value,
    /// The transcript lines `user` was rendered from (empty for the merge steps of map-reduce).
    pub transcript: Vec<SourceLine>,
    /// The meeting's output language (`zh-CN`, `en-US`) and type (`sprint`), when known.
    pub output_language: Option<String>,
    pub meeting_type: Option<String>,
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
    /// The provider that answered (after any fallback): what the call is billed to.
    pub provider: String,
    pub model: String,
    pub usage: TokenUsage,
    /// Errors of providers tried before the one that answered.
    pub fallback_errors: Vec<String>,
}

#[async_trait]
pub trait LanguageModel: Send + Sync {
    fn name(&self) -> &str;
    /// The model a task is expected to use (a chain's first): what estimates price.
    fn primary_name(&self) -> &str {
        self.name()
    }
    fn model(&self) -> &str;
    /// Whether a transcript beyond `llm.max_transcript_chars` must be cut into parts and
    /// map-reduced. Engines that read `GenerateRequest::transcript` take it whole in one call.
    fn needs_chunking(&self) -> bool {
        true
    }
    async fn generate(&self, req: &GenerateRequest) -> Result<GenerateOutput, ProviderError>;
}
