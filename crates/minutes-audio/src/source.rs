//! Opens any accepted file as a stream of mono samples at its native rate.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::Path;

use crate::sniff::{sniff, Container, SNIFF_LEN};
use crate::{decode, opus, AudioError, ProbeInfo};

/// Decoded, downmixed mono audio at the file's own sample rate.
pub(crate) trait MonoSource: Send {
    fn sample_rate(&self) -> u32;
    /// Appends the next decoded samples to `out`; false once the stream has ended.
    fn next(&mut self, out: &mut Vec<f32>) -> Result<bool, AudioError>;
}

/// Sniffs, opens and decodes the first audio, so a returned source is known to be decodable.
pub(crate) fn open(path: &Path) -> Result<(ProbeInfo, Box<dyn MonoSource>), AudioError> {
    let mut file = File::open(path)?;
    let mut head = Vec::with_capacity(SNIFF_LEN);
    (&mut file).take(SNIFF_LEN as u64).read_to_end(&mut head)?;
    let container = sniff(&head).ok_or(AudioError::NotAudio)?;
    // Both readers start from the beginning of the file again.
    file.seek(SeekFrom::Start(0))?;
    if container == Container::Ogg && opus::is_opus(&head) {
        return opus::open(file);
    }
    decode::open(file, container)
}

/// Averages interleaved frames of `channels` samples into `out`.
pub(crate) fn downmix_interleaved(pcm: &[f32], channels: usize, out: &mut Vec<f32>) {
    match channels {
        0 => {}
        1 => out.extend_from_slice(pcm),
        2 => out.extend(pcm.chunks_exact(2).map(|f| (f[0] + f[1]) * 0.5)),
        n => {
            let scale = 1.0 / n as f32;
            out.extend(pcm.chunks_exact(n).map(|f| f.iter().sum::<f32>() * scale));
        }
    }
}

/// Runs decoder code so that a panic inside a third-party decoder becomes `Corrupt`, not a crash.
pub(crate) fn guarded<T>(f: impl FnOnce() -> Result<T, AudioError>) -> Result<T, AudioError> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).unwrap_or_else(|panic| {
        let msg = panic
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| panic.downcast_ref::<String>().cloned())
            .unwrap_or_default();
        Err(AudioError::corrupt(format!("decoder failed: {msg}")))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn downmix() {
        let mut out = Vec::new();
        downmix_interleaved(&[1.0, 0.0, 0.5, 0.5], 2, &mut out);
        assert_eq!(out, [0.5, 0.5]);
        out.clear();
        downmix_interleaved(&[0.3, 0.3, 0.3, 0.6, 0.0, 0.0], 3, &mut out);
        assert!((out[0] - 0.3).abs() < 1e-6 && (out[1] - 0.2).abs() < 1e-6);
    }

    #[test]
    fn guarded_turns_panics_into_errors() {
        let r: Result<(), _> = guarded(|| panic!("boom"));
        assert!(matches!(r, Err(AudioError::Corrupt(m)) if m.contains("boom")));
    }
}
