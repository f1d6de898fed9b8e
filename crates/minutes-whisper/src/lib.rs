//! Offline speech-to-text: Whisper models in CTranslate2 format, run int8 on the CPU.
//!
//! The front end is ours (Whisper's exact log-mel, energy VAD windows of 5–30 s); CTranslate2
//! only runs the encoder/decoder through its low-level `generate`. Hotwords and per-language
//! instructions reach the decoder through the previous-text prompt.
mod engine;
pub mod mel;
pub mod quality;
pub mod tokens;

pub use engine::{EngineOptions, Segment, TranscribeOptions, Transcription, WhisperEngine};

#[derive(Debug, thiserror::Error)]
pub enum WhisperError {
    #[error("whisper model: {0}")]
    Model(String),
    #[error("whisper decoding: {0}")]
    Decode(String),
    #[error(transparent)]
    Audio(#[from] minutes_audio::AudioError),
}
