//! Which engine does each pipeline step (ASR, LLM, voiceprints, diarization) and where offline
//! models live.
use serde::{Deserialize, Serialize};

use super::ConfigError;
use crate::providers::asr::azure::AzureAsrSettings;
use crate::providers::asr::openai::OpenAiAsrSettings;
use crate::providers::asr::volcano::VolcanoAsrSettings;
use crate::providers::llm::gemini::GeminiSettings;
use crate::providers::llm::gguf::GgufSettings;
use crate::providers::llm::openai::OpenAiChatSettings;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AsrProviderKind {
    Openai,
    /// Embedded Whisper on CTranslate2 (needs the `local-asr` cargo feature and a model).
    Local,
    /// Volcano Engine BigModel file recognition (needs an object store that presigns URLs).
    Volcano,
    /// Azure AI Speech fast transcription (long audio chunked, speakers matched by voice).
    Azure,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AsrConfig {
    pub primary: AsrProviderKind,
    pub fallback: Option<AsrProviderKind>,
    pub openai: OpenAiAsrSettings,
    pub local: LocalAsrSettings,
    #[serde(default)]
    pub volcano: VolcanoAsrSettings,
    #[serde(default)]
    pub azure: AzureAsrSettings,
}

impl AsrConfig {
    /// Whether Volcano is in the chain (primary or fallback).
    pub fn uses_volcano(&self) -> bool {
        self.primary == AsrProviderKind::Volcano || self.fallback == Some(AsrProviderKind::Volcano)
    }
}

/// The embedded Whisper engine (`asr.primary: local`, cargo feature `local-asr`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LocalAsrSettings {
    /// A catalog name (`whisper-base`, `whisper-tiny-en`) or a CTranslate2 Whisper directory.
    pub model: String,
    /// CTranslate2 compute type: int8, int8_float32, float32 …
    pub compute_type: String,
    /// Intra-op threads (0 = one per core).
    pub threads: usize,
    pub beam_size: usize,
    /// Segments sampled for language detection when the task's language is `auto`.
    pub detect_language_segments: usize,
}

/// Where installed offline models live (`minutes models install`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelsConfig {
    /// Empty means `$MINUTES_MODELS_DIR`, else `{data_dir}/models`.
    pub dir: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LlmProviderKind {
    Openai,
    /// Google's Gemini API.
    Gemini,
    /// The offline extractive generator (no model; rule- and rank-based minutes).
    Local,
    /// A user-supplied GGUF model on llama.cpp, in-process (needs the `local-llm-gguf` cargo
    /// feature; builds without it refuse to start with this provider).
    Gguf,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LlmConfig {
    pub provider: LlmProviderKind,
    /// Writes the artifact when `provider` fails (blocked content, outage, exhausted retries or
    /// quota); null = no fallback.
    #[serde(default)]
    pub fallback: Option<LlmProviderKind>,
    /// Transcripts longer than this (characters of prompt lines) are summarised map-reduce.
    pub max_transcript_chars: usize,
    pub openai: OpenAiChatSettings,
    pub gemini: GeminiSettings,
    #[serde(default)]
    pub gguf: GgufSettings,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum VoiceprintProviderKind {
    /// No voiceprint engine: the identify stage records itself as skipped.
    None,
    /// CAM++ embeddings on the CPU, kept (sealed) in the database.
    Local,
    /// iFlyTek's 声纹识别 WebAPI (a feature group per tenant at the provider).
    Iflytek,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DiarizationProviderKind {
    /// Transcripts from engines without speaker labels keep one speaker.
    None,
    /// CAM++ embeddings + clustering (fbank statistics when the model is not installed).
    Local,
}

/// Speaker separation for ASR engines that return no speakers (the local Whisper).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DiarizationConfig {
    pub provider: DiarizationProviderKind,
    /// A catalog name (`campplus-zh-en`) or the path of a CAM++ state dict.
    pub model: String,
    /// Cosine-distance threshold for merging clusters; null = the engine's measured default.
    pub threshold: Option<f32>,
    /// Upper bound on speakers when known; null = estimated from the threshold.
    pub max_speakers: Option<usize>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VoiceprintConfig {
    pub provider: VoiceprintProviderKind,
    /// Samples (3–6 s each) cut per diarized label for identification; they vote.
    pub samples_per_label: usize,
    pub enrollment: VoiceprintEnrollmentConfig,
    pub local: LocalVoiceprintConfig,
    pub iflytek: crate::providers::voiceprint::IflytekVoiceprintSettings,
}

/// What `POST /speakers` accepts as an enrollment sample.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VoiceprintEnrollmentConfig {
    pub max_sample_bytes: u64,
    /// Seconds of speech (after the energy VAD) the sample must hold.
    pub min_speech_secs: f64,
    pub max_speech_secs: f64,
}

/// `voiceprint.provider: local`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LocalVoiceprintConfig {
    /// A catalog name (`campplus-zh-en`) or the path of a CAM++ state dict.
    pub model: String,
    pub thresholds: crate::providers::voiceprint::ScoreThresholds,
}

impl VoiceprintConfig {
    pub(super) fn validate(&self) -> Result<(), ConfigError> {
        let v = self;
        v.local
            .thresholds
            .validate()
            .map_err(|reason| ConfigError::Invalid {
                key: "voiceprint.local.thresholds",
                reason,
            })?;
        v.iflytek
            .thresholds
            .validate()
            .map_err(|reason| ConfigError::Invalid {
                key: "voiceprint.iflytek.thresholds",
                reason,
            })?;
        if v.iflytek.max_qps.is_nan() || v.iflytek.max_qps <= 0.0 {
            return Err(ConfigError::Invalid {
                key: "voiceprint.iflytek.max_qps",
                reason: "must be above 0".into(),
            });
        }
        let e = &v.enrollment;
        if !(e.min_speech_secs > 0.0 && e.min_speech_secs < e.max_speech_secs) {
            return Err(ConfigError::Invalid {
                key: "voiceprint.enrollment",
                reason: "needs 0 < min_speech_secs < max_speech_secs".into(),
            });
        }
        if !(1..=20).contains(&v.samples_per_label) {
            return Err(ConfigError::Invalid {
                key: "voiceprint.samples_per_label",
                reason: "between 1 and 20".into(),
            });
        }
        Ok(())
    }
}
