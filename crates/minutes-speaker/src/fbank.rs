//! Kaldi-compatible 80-bin log-mel filterbank features, as CAM++ was trained on.
//!
//! The numbers match `torchaudio.compliance.kaldi.fbank(wave, num_mel_bins=80, dither=0)` with
//! every other option at its default: 25 ms frames every 10 ms, `snip_edges` (no partial frames),
//! DC offset removed per frame, pre-emphasis 0.97, Povey window, 512-point FFT, power spectrum,
//! triangular mel filters from 20 Hz to Nyquist, natural log floored at `f32::EPSILON`.
//! Samples are floats in [-1, 1] and are *not* rescaled to the int16 range: 3D-Speaker feeds
//! `torchaudio.load` output straight in, and the per-utterance mean normalization that follows
//! cancels any constant gain anyway (except on floored, i.e. digitally silent, frames).

use std::sync::{Arc, OnceLock};

use realfft::{RealFftPlanner, RealToComplex};

/// Mel bins per frame.
pub const NUM_MEL_BINS: usize = 80;
/// Samples per analysis frame (25 ms at 16 kHz).
pub const FRAME_LENGTH: usize = 400;
/// Samples between frame starts (10 ms at 16 kHz).
pub const FRAME_SHIFT: usize = 160;
/// The only sample rate the features (and the model) are defined for.
pub const SAMPLE_RATE: u32 = 16_000;

const FFT_SIZE: usize = 512;
const PREEMPHASIS: f32 = 0.97;
const LOW_FREQ_HZ: f64 = 20.0;

/// One feature frame: 80 log-mel energies.
pub type Frame = [f32; NUM_MEL_BINS];

/// Kaldi fbank of 16 kHz mono samples in [-1, 1]; one frame per 10 ms, none if shorter than 25 ms.
pub fn kaldi_fbank(samples_16k: &[f32]) -> Vec<Frame> {
    static EXTRACTOR: OnceLock<FbankExtractor> = OnceLock::new();
    EXTRACTOR
        .get_or_init(FbankExtractor::new)
        .compute(samples_16k)
}

/// Number of frames [`kaldi_fbank`] yields for `num_samples` samples.
pub fn num_frames(num_samples: usize) -> usize {
    if num_samples < FRAME_LENGTH {
        0
    } else {
        1 + (num_samples - FRAME_LENGTH) / FRAME_SHIFT
    }
}

/// Subtracts the per-bin mean over all frames (3D-Speaker's `mean_nor`), in place.
pub fn mean_normalize(frames: &mut [Frame]) {
    if frames.is_empty() {
        return;
    }
    let mut sums = [0f64; NUM_MEL_BINS];
    for frame in frames.iter() {
        for (sum, v) in sums.iter_mut().zip(frame) {
            *sum += f64::from(*v);
        }
    }
    let n = frames.len() as f64;
    let means = sums.map(|s| (s / n) as f32);
    for frame in frames.iter_mut() {
        for (v, m) in frame.iter_mut().zip(&means) {
            *v -= m;
        }
    }
}

/// A triangular mel filter: weights for the FFT bins `first_bin..first_bin + weights.len()`.
struct MelFilter {
    first_bin: usize,
    weights: Vec<f32>,
}

/// Precomputed window, mel filters and FFT plan, shared by every call.
struct FbankExtractor {
    window: Vec<f32>,
    filters: Vec<MelFilter>,
    fft: Arc<dyn RealToComplex<f32>>,
}

impl FbankExtractor {
    fn new() -> Self {
        FbankExtractor {
            window: povey_window(FRAME_LENGTH),
            filters: mel_filters(),
            fft: RealFftPlanner::<f32>::new().plan_fft_forward(FFT_SIZE),
        }
    }

    fn compute(&self, samples: &[f32]) -> Vec<Frame> {
        let count = num_frames(samples.len());
        let mut input = self.fft.make_input_vec();
        let mut spectrum = self.fft.make_output_vec();
        let mut scratch = self.fft.make_scratch_vec();
        let mut power = vec![0f32; spectrum.len()];
        let mut frames = Vec::with_capacity(count);
        for index in 0..count {
            let start = index * FRAME_SHIFT;
            self.prepare_frame(&samples[start..start + FRAME_LENGTH], &mut input);
            // The buffers have the sizes the plan asked for, so this cannot fail.
            if self
                .fft
                .process_with_scratch(&mut input, &mut spectrum, &mut scratch)
                .is_err()
            {
                unreachable!("FFT buffers were sized by the plan");
            }
            for (p, c) in power.iter_mut().zip(&spectrum) {
                *p = c.norm_sqr();
            }
            frames.push(self.log_mel(&power));
        }
        frames
    }

    /// DC removal, pre-emphasis, window and zero padding, in Kaldi's order.
    fn prepare_frame(&self, raw: &[f32], out: &mut [f32]) {
        let mean = raw.iter().map(|&v| f64::from(v)).sum::<f64>() / raw.len() as f64;
        let mean = mean as f32;
        // Kaldi treats the sample before the frame as a copy of its first sample.
        let mut previous = raw[0] - mean;
        for (i, (&v, w)) in raw.iter().zip(&self.window).enumerate() {
            let centered = v - mean;
            let emphasized = centered - PREEMPHASIS * previous;
            previous = centered;
            out[i] = emphasized * w;
        }
        out[raw.len()..].fill(0.0);
    }

    fn log_mel(&self, power: &[f32]) -> Frame {
        let mut frame = [0f32; NUM_MEL_BINS];
        for (out, filter) in frame.iter_mut().zip(&self.filters) {
            let bins = &power[filter.first_bin..filter.first_bin + filter.weights.len()];
            let energy: f32 = bins.iter().zip(&filter.weights).map(|(p, w)| p * w).sum();
            *out = energy.max(f32::EPSILON).ln();
        }
        frame
    }
}

/// Kaldi's "povey" window: a symmetric Hann window raised to the power 0.85.
fn povey_window(len: usize) -> Vec<f32> {
    let denom = (len - 1) as f64;
    (0..len)
        .map(|n| {
            let hann = 0.5 - 0.5 * (2.0 * std::f64::consts::PI * n as f64 / denom).cos();
            hann.powf(0.85) as f32
        })
        .collect()
}

fn mel_scale(hz: f64) -> f64 {
    1127.0 * (1.0 + hz / 700.0).ln()
}

/// Kaldi's triangular filters, equally spaced on the mel scale from 20 Hz to Nyquist.
/// The Nyquist FFT bin is never weighted, as in Kaldi.
fn mel_filters() -> Vec<MelFilter> {
    let nyquist = f64::from(SAMPLE_RATE) / 2.0;
    let bin_hz = f64::from(SAMPLE_RATE) / FFT_SIZE as f64;
    let mel_low = mel_scale(LOW_FREQ_HZ);
    let mel_delta = (mel_scale(nyquist) - mel_low) / (NUM_MEL_BINS + 1) as f64;
    (0..NUM_MEL_BINS)
        .map(|m| {
            let left = mel_low + m as f64 * mel_delta;
            let center = left + mel_delta;
            let right = center + mel_delta;
            let weights: Vec<(usize, f32)> = (0..FFT_SIZE / 2)
                .filter_map(|bin| {
                    let mel = mel_scale(bin as f64 * bin_hz);
                    let up = (mel - left) / (center - left);
                    let down = (right - mel) / (right - center);
                    let w = up.min(down);
                    (w > 0.0).then_some((bin, w as f32))
                })
                .collect();
            let first_bin = weights.first().map_or(0, |&(bin, _)| bin);
            MelFilter {
                first_bin,
                weights: weights.into_iter().map(|(_, w)| w).collect(),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frame_count_follows_snip_edges() {
        assert_eq!(num_frames(399), 0);
        assert_eq!(num_frames(400), 1);
        assert_eq!(num_frames(559), 1);
        assert_eq!(num_frames(560), 2);
        assert_eq!(kaldi_fbank(&vec![0.1; 16_000]).len(), 98);
    }

    #[test]
    fn silence_is_floored_not_nan() {
        let frames = kaldi_fbank(&[0.0; 800]);
        assert!(frames.iter().flatten().all(|&v| v == f32::EPSILON.ln()));
    }

    #[test]
    fn a_tone_peaks_in_the_matching_mel_bin() {
        let tone: Vec<f32> = (0..4000)
            .map(|i| (2.0 * std::f32::consts::PI * 1000.0 * i as f32 / 16_000.0).sin() * 0.5)
            .collect();
        let frame = kaldi_fbank(&tone)[10];
        let peak = (0..NUM_MEL_BINS)
            .max_by(|&a, &b| frame[a].total_cmp(&frame[b]))
            .unwrap_or(0);
        // 1 kHz is mel 1000.0; filter m is centred at 31.76 + 34.67 * (m + 1) mel.
        assert!((26..=27).contains(&peak), "peak bin {peak}");
    }

    #[test]
    fn mean_normalization_zeroes_every_bin_mean() {
        let noise: Vec<f32> = (0..8000)
            .map(|i| ((i * 7919) % 200) as f32 / 400.0 - 0.25)
            .collect();
        let mut frames = kaldi_fbank(&noise);
        mean_normalize(&mut frames);
        for bin in 0..NUM_MEL_BINS {
            let mean: f32 = frames.iter().map(|f| f[bin]).sum::<f32>() / frames.len() as f32;
            assert!(mean.abs() < 1e-4);
        }
    }
}
