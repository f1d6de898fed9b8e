//! Meeting audio in, 16 kHz mono out: sniffing, decoding, resampling, joining and slicing.
//!
//! Every accepted upload (WAV, MP3, M4A/AAC, Ogg Vorbis, Ogg Opus, FLAC) is recognized by its
//! content, decoded in a streaming fashion with bounded memory, downmixed, resampled to
//! [`TARGET_SAMPLE_RATE`] and written as 16-bit mono WAV for the speech engines.

mod concat;
mod decode;
mod error;
mod mp4;
mod ogg;
mod opus;
mod pipeline;
mod resample;
mod sniff;
mod source;
pub mod vad;
mod wav;

use std::path::Path;

pub use concat::{concat_to_wav, PartSpan, Timeline};
pub use error::AudioError;
pub use sniff::{sniff, Container};
pub use wav::{read_wav_f32, slice_wav, WavSamples};

/// The sample rate of everything this crate produces.
pub const TARGET_SAMPLE_RATE: u32 = 16_000;

/// Bounds on what an upload may decode to.
#[derive(Debug, Clone)]
pub struct Limits {
    pub max_duration_secs: f64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_duration_secs: 6.0 * 3600.0,
        }
    }
}

/// What a file is, as far as its headers and first packet tell.
#[derive(Debug, Clone)]
pub struct ProbeInfo {
    pub container: Container,
    /// Short codec name: "pcm_s16le", "mp3", "aac", "vorbis", "opus", "flac", ...
    pub codec: String,
    /// The rate the codec decodes at (48000 for Opus).
    pub sample_rate: u32,
    pub channels: u16,
    /// From the headers, so only a hint; None when they do not say.
    pub duration_secs: Option<f64>,
}

/// Identifies `path` by content and decodes its first audio to prove it is really decodable.
pub fn probe(path: &Path) -> Result<ProbeInfo, AudioError> {
    source::guarded(|| source::open(path)).map(|(info, _)| info)
}

/// Streams `path` decoded, downmixed to mono and resampled to 16 kHz, in chunks, to `sink`
/// (f32 in [-1, 1]). Memory stays bounded whatever the file's length. Returns the samples
/// emitted, exactly round(decoded_frames * 16000 / rate). Fails with [`AudioError::TooLong`] as
/// soon as the decoded audio exceeds `limits.max_duration_secs`, counting decoded samples
/// rather than trusting header durations.
pub fn decode_16k_mono(
    path: &Path,
    limits: &Limits,
    sink: &mut dyn FnMut(&[f32]) -> Result<(), AudioError>,
) -> Result<u64, AudioError> {
    let (_, src) = source::guarded(|| source::open(path))?;
    pipeline::run(
        src,
        limits.max_duration_secs,
        limits.max_duration_secs,
        sink,
    )
}

/// Normalizes one file to a 16 kHz mono s16 WAV at `out`; returns the sample count. On error
/// `out` is removed.
pub fn normalize_to_wav(input: &Path, out: &Path, limits: &Limits) -> Result<u64, AudioError> {
    let result = (|| {
        let mut writer = wav::WavWriter::create(out)?;
        decode_16k_mono(input, limits, &mut |s| writer.write(s))?;
        writer.finish()
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(out);
    }
    result
}
