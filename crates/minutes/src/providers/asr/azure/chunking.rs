//! Cutting a meeting longer than one request allows into chunks: each cut sits in the quietest
//! stretch shortly before the limit (a pause, not the middle of a word), and each chunk is
//! written as a WAV of its own, read from the meeting a minute at a time.
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;

use minutes_audio::{vad, AudioError, WavSamples};
use serde::{Deserialize, Serialize};

pub const SAMPLE_RATE: u64 = 16_000;
/// 10 ms energy frames (`vad::FRAME_SECS`), in samples.
const FRAME_SAMPLES: u64 = SAMPLE_RATE / 100;
/// The cut is searched in the last quarter of a chunk, at most this far back from its limit.
const MAX_SEARCH_SECS: f64 = 60.0;
/// Frames averaged to judge a stretch quiet: a 300 ms pause, not a stop consonant.
const QUIET_FRAMES: usize = 30;
/// Samples read per block while copying a chunk (one minute).
const COPY_BLOCK: usize = 60 * SAMPLE_RATE as usize;
const WAV_HEADER_LEN: u64 = 44;

/// A span of the meeting in samples, `[start, end)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Chunk {
    pub start: u64,
    pub end: u64,
}

impl Chunk {
    pub fn start_secs(&self) -> f64 {
        self.start as f64 / SAMPLE_RATE as f64
    }

    pub fn secs(&self) -> f64 {
        (self.end - self.start) as f64 / SAMPLE_RATE as f64
    }
}

/// The chunks of the meeting WAV at `path`, each at most `max_secs` long. Audio that fits in
/// one request is one chunk, planned without reading the samples.
pub fn plan(path: &Path, max_secs: u64) -> Result<Vec<Chunk>, AudioError> {
    let mut wav = WavSamples::open(path)?;
    let total = wav.len();
    if total <= max_secs * SAMPLE_RATE {
        return Ok(vec![Chunk {
            start: 0,
            end: total,
        }]);
    }
    let energies = vad::frame_energies(&mut wav)?;
    Ok(plan_from_energies(&energies, total, max_secs))
}

/// [`plan`] over precomputed 10 ms frame energies (dB) of a meeting of `total` samples.
pub fn plan_from_energies(energies: &[f32], total: u64, max_secs: u64) -> Vec<Chunk> {
    let max = max_secs.max(1) * SAMPLE_RATE;
    let search = ((max_secs as f64 / 4.0).min(MAX_SEARCH_SECS) * SAMPLE_RATE as f64) as u64;
    let mut chunks = Vec::new();
    let mut start = 0u64;
    while total - start > max {
        let limit = start + max;
        let cut = quietest_frame(energies, limit - search, limit)
            .map(|frame| frame as u64 * FRAME_SAMPLES)
            .filter(|&at| at > start && at <= limit)
            .unwrap_or(limit);
        chunks.push(Chunk { start, end: cut });
        start = cut;
    }
    chunks.push(Chunk { start, end: total });
    chunks
}

/// The frame in `[from, to]` samples whose surrounding 300 ms is quietest on average; the
/// latest one wins a tie so chunks stay as long as allowed.
fn quietest_frame(energies: &[f32], from: u64, to: u64) -> Option<usize> {
    let first = (from / FRAME_SAMPLES) as usize;
    let last = ((to / FRAME_SAMPLES) as usize).min(energies.len().checked_sub(1)?);
    if first > last {
        return None;
    }
    let half = QUIET_FRAMES / 2;
    let mut prefix = Vec::with_capacity(energies.len() + 1);
    prefix.push(0f64);
    for e in energies {
        prefix.push(prefix.last().copied().unwrap_or(0.0) + f64::from(*e));
    }
    let mean = |i: usize| {
        let a = i.saturating_sub(half);
        let b = (i + half).min(energies.len());
        (prefix[b] - prefix[a]) / (b - a).max(1) as f64
    };
    (first..=last).min_by(|&a, &b| mean(a).total_cmp(&mean(b)).then(b.cmp(&a)))
}

/// Writes `chunk` of the meeting at `src` as a 16 kHz mono s16 WAV at `dest`; returns its size.
pub fn write_chunk(src: &Path, chunk: Chunk, dest: &Path) -> Result<u64, AudioError> {
    let mut wav = WavSamples::open(src)?;
    let end = chunk.end.min(wav.len());
    let samples = end.saturating_sub(chunk.start);
    let data_len = u32::try_from(samples * 2).map_err(|_| AudioError::TooLong {
        limit_secs: f64::from(u32::MAX / 2) / SAMPLE_RATE as f64,
    })?;
    let mut out = BufWriter::new(File::create(dest)?);
    out.write_all(&wav_header(data_len))?;
    let mut pos = chunk.start;
    while pos < end {
        let block = wav.read(pos, COPY_BLOCK.min((end - pos) as usize))?;
        if block.is_empty() {
            break;
        }
        for sample in &block {
            // Exact: the reader decoded these from s16 as x / 32768.
            let value = (sample * 32768.0).round().clamp(-32768.0, 32767.0) as i16;
            out.write_all(&value.to_le_bytes())?;
        }
        pos += block.len() as u64;
    }
    out.flush()?;
    Ok(WAV_HEADER_LEN + u64::from(data_len))
}

/// The 44-byte header of a 16 kHz mono 16-bit PCM WAV holding `data_len` bytes of samples.
pub fn wav_header(data_len: u32) -> [u8; 44] {
    let mut h = [0u8; 44];
    let rate = SAMPLE_RATE as u32;
    h[0..4].copy_from_slice(b"RIFF");
    h[4..8].copy_from_slice(&(36 + data_len).to_le_bytes());
    h[8..12].copy_from_slice(b"WAVE");
    h[12..16].copy_from_slice(b"fmt ");
    h[16..20].copy_from_slice(&16u32.to_le_bytes());
    h[20..22].copy_from_slice(&1u16.to_le_bytes()); // PCM
    h[22..24].copy_from_slice(&1u16.to_le_bytes()); // mono
    h[24..28].copy_from_slice(&rate.to_le_bytes());
    h[28..32].copy_from_slice(&(rate * 2).to_le_bytes());
    h[32..34].copy_from_slice(&2u16.to_le_bytes());
    h[34..36].copy_from_slice(&16u16.to_le_bytes());
    h[36..40].copy_from_slice(b"data");
    h[40..44].copy_from_slice(&data_len.to_le_bytes());
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 10 ms frames: loud everywhere except quiet stretches (second, length).
    fn energies(total_secs: f64, quiet: &[(f64, f64)]) -> Vec<f32> {
        let frames = (total_secs * 100.0) as usize;
        (0..frames)
            .map(|i| {
                let t = i as f64 / 100.0;
                if quiet.iter().any(|&(s, len)| t >= s && t < s + len) {
                    -70.0
                } else {
                    -20.0
                }
            })
            .collect()
    }

    #[test]
    fn audio_within_the_limit_is_one_chunk() {
        let e = energies(50.0, &[]);
        assert_eq!(
            plan_from_energies(&e, 50 * SAMPLE_RATE, 60),
            vec![Chunk {
                start: 0,
                end: 50 * SAMPLE_RATE
            }]
        );
    }

    #[test]
    fn cuts_land_in_the_pause_before_the_limit() {
        // 100 s, chunks of at most 40 s: the search covers the last 10 s before each limit.
        let e = energies(100.0, &[(33.0, 1.0), (36.0, 0.2), (70.0, 1.0)]);
        let total = 100 * SAMPLE_RATE;
        let chunks = plan_from_energies(&e, total, 40);
        assert_eq!(chunks.len(), 3, "{chunks:?}");
        // The 1 s pause wins over the 0.2 s one (too short to be quiet over 300 ms).
        let first_cut = chunks[0].end as f64 / SAMPLE_RATE as f64;
        assert!((33.0..34.0).contains(&first_cut), "{first_cut}");
        let second_cut = chunks[1].end as f64 / SAMPLE_RATE as f64;
        assert!((70.0..71.0).contains(&second_cut), "{second_cut}");
        assert_eq!(chunks[2].end, total);
        for pair in chunks.windows(2) {
            assert_eq!(pair[0].end, pair[1].start, "contiguous");
        }
        assert!(chunks.iter().all(|c| c.end - c.start <= 40 * SAMPLE_RATE));
    }

    #[test]
    fn without_a_pause_the_cut_is_at_the_limit() {
        let e = energies(90.0, &[]);
        let chunks = plan_from_energies(&e, 90 * SAMPLE_RATE, 40);
        assert_eq!(chunks[0].end, 40 * SAMPLE_RATE);
        assert_eq!(chunks[1].end, 80 * SAMPLE_RATE);
        assert_eq!(chunks.len(), 3);
    }

    #[test]
    fn chunk_files_hold_exactly_their_samples() {
        let dir = tempfile::tempdir().expect("tempdir");
        let src = dir.path().join("meeting.wav");
        let samples: Vec<i16> = (0..48_000)
            .map(|i| ((i * 37) % 65_536 - 32_768) as i16)
            .collect();
        let mut bytes = wav_header((samples.len() * 2) as u32).to_vec();
        samples
            .iter()
            .for_each(|s| bytes.extend_from_slice(&s.to_le_bytes()));
        std::fs::write(&src, &bytes).expect("write");
        let dest = dir.path().join("chunk.wav");
        let chunk = Chunk {
            start: 16_000,
            end: 40_000,
        };
        let len = write_chunk(&src, chunk, &dest).expect("chunk");
        let written = std::fs::read(&dest).expect("read");
        assert_eq!(len, written.len() as u64);
        assert_eq!(&written[..44], &wav_header(48_000));
        assert_eq!(&written[44..], &bytes[44 + 32_000..44 + 80_000]);
    }
}
