//! The one error type every public function of this crate returns.

/// Why audio could not be read, decoded or written.
#[derive(Debug, thiserror::Error)]
pub enum AudioError {
    /// The bytes match none of the containers we accept.
    #[error("not a supported audio file (wav, mp3, m4a/aac, ogg/vorbis, opus, flac)")]
    NotAudio,
    /// The container is recognized but its codec (or layout) is not.
    #[error("unsupported audio codec: {0}")]
    Unsupported(String),
    /// The file claims to be audio but cannot be decoded.
    #[error("corrupt audio file: {0}")]
    Corrupt(String),
    /// Decoding went past the duration limit.
    #[error("audio is longer than the limit of {limit_secs} s")]
    TooLong { limit_secs: f64 },
    /// One input of a multi-file job failed; `index` is its position in the input list.
    #[error("part {index}: {source}")]
    Part {
        index: usize,
        #[source]
        source: Box<AudioError>,
    },
    #[error("i/o error: {0}")]
    Io(#[from] std::io::Error),
}

impl AudioError {
    pub(crate) fn corrupt(msg: impl Into<String>) -> Self {
        AudioError::Corrupt(msg.into())
    }
}
