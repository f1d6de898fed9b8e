//! The one error type every fallible function of this crate returns.

use std::path::PathBuf;

/// Why a model could not be loaded or an embedding could not be computed.
#[derive(Debug, thiserror::Error)]
pub enum SpeakerError {
    /// The model file is absent: callers fall back to [`crate::FbankStatsEmbedder`].
    #[error(
        "speaker model not found at {path} (see crates/minutes-speaker/scripts/fetch-model.sh)"
    )]
    ModelMissing { path: PathBuf },
    /// The file exists but is not the CAM++ state dict this crate expects.
    #[error("invalid speaker model {path}: {reason}")]
    ModelInvalid { path: PathBuf, reason: String },
    /// The clip is shorter than one 25 ms analysis frame, so it has no features.
    #[error("audio too short for a speaker embedding: {samples} samples")]
    TooShort { samples: usize },
    /// A [`crate::diarize::SampleSource`] could not deliver the samples (an I/O error).
    #[error("reading the audio failed: {0}")]
    Source(String),
    /// A tensor operation failed during inference (a bug or an out-of-memory condition).
    #[error("speaker model inference failed: {0}")]
    Inference(#[from] candle_core::Error),
}
