//! Whisper's log-mel front end: 25 ms periodic-Hann STFT every 10 ms on 30 s of zero-padded
//! audio, Slaney-normalised mel filters, log10 clamped to 8 below the peak and scaled to ~[-1, 1].
//! The model was trained on exactly these features, so every constant here is Whisper's own.
use std::f32::consts::PI;
use std::sync::Arc;

use rustfft::num_complex::Complex;
use rustfft::{Fft, FftPlanner};

pub const SAMPLE_RATE: usize = 16_000;
pub const N_FFT: usize = 400;
pub const HOP: usize = 160;
/// One decoder window: 30 s of audio, 3000 feature frames.
pub const CHUNK_SAMPLES: usize = 30 * SAMPLE_RATE;
pub const CHUNK_FRAMES: usize = CHUNK_SAMPLES / HOP;

pub struct MelFrontend {
    n_mels: usize,
    /// Row-major `n_mels × (N_FFT/2 + 1)`.
    filters: Vec<f32>,
    window: Vec<f32>,
    fft: Arc<dyn Fft<f32>>,
}

impl MelFrontend {
    pub fn new(n_mels: usize) -> Self {
        let window = (0..N_FFT)
            .map(|i| 0.5 - 0.5 * (2.0 * PI * i as f32 / N_FFT as f32).cos())
            .collect();
        Self {
            n_mels,
            filters: slaney_filters(n_mels),
            window,
            fft: FftPlanner::new().plan_fft_forward(N_FFT),
        }
    }

    pub fn n_mels(&self) -> usize {
        self.n_mels
    }

    /// Features of up to 30 s of 16 kHz audio (longer input is cut), zero-padded to a full
    /// window: `n_mels × CHUNK_FRAMES`, row-major, as the encoder expects.
    pub fn features(&self, audio: &[f32]) -> Vec<f32> {
        let bins = N_FFT / 2 + 1;
        let audio = &audio[..audio.len().min(CHUNK_SAMPLES)];
        let padded = reflect_pad(audio, N_FFT / 2);
        let mut power = vec![0f32; CHUNK_FRAMES * bins];
        let mut buf = vec![Complex::new(0f32, 0f32); N_FFT];
        let mut scratch = vec![Complex::new(0f32, 0f32); self.fft.get_inplace_scratch_len()];
        // Frames past the end of the real audio see only zeros; their power stays 0.
        let live_frames = (audio.len() + N_FFT / 2).div_ceil(HOP).min(CHUNK_FRAMES);
        for frame in 0..live_frames {
            let start = frame * HOP;
            for (i, slot) in buf.iter_mut().enumerate() {
                let x = padded.get(start + i).copied().unwrap_or(0.0);
                *slot = Complex::new(x * self.window[i], 0.0);
            }
            self.fft.process_with_scratch(&mut buf, &mut scratch);
            let row = &mut power[frame * bins..(frame + 1) * bins];
            for (p, c) in row.iter_mut().zip(&buf) {
                *p = c.norm_sqr();
            }
        }
        let mut mel = vec![0f32; self.n_mels * CHUNK_FRAMES];
        for m in 0..self.n_mels {
            let filter = &self.filters[m * bins..(m + 1) * bins];
            let first = filter.iter().position(|w| *w > 0.0).unwrap_or(0);
            let last = filter.iter().rposition(|w| *w > 0.0).unwrap_or(0);
            for frame in 0..CHUNK_FRAMES {
                let row = &power[frame * bins..(frame + 1) * bins];
                let e: f32 = (first..=last).map(|k| filter[k] * row[k]).sum();
                mel[m * CHUNK_FRAMES + frame] = e.max(1e-10).log10();
            }
        }
        let peak = mel.iter().copied().fold(f32::NEG_INFINITY, f32::max);
        for v in &mut mel {
            *v = (v.max(peak - 8.0) + 4.0) / 4.0;
        }
        mel
    }
}

/// The 30 s window padded by `pad` samples of reflection on the left and of reflection (or
/// zeros, past the real audio) on the right, like `torch.stft(center=True)` over padded audio.
fn reflect_pad(audio: &[f32], pad: usize) -> Vec<f32> {
    let mut full = audio.to_vec();
    full.resize(CHUNK_SAMPLES, 0.0);
    let mut out = Vec::with_capacity(full.len() + 2 * pad);
    out.extend((1..=pad).rev().map(|i| full[i]));
    out.extend_from_slice(&full);
    let n = full.len();
    out.extend((0..pad).map(|i| full[n - 2 - i]));
    out
}

fn hz_to_mel(hz: f64) -> f64 {
    const F_SP: f64 = 200.0 / 3.0;
    const MIN_LOG_HZ: f64 = 1000.0;
    let min_log_mel = MIN_LOG_HZ / F_SP;
    let logstep = 6.4f64.ln() / 27.0;
    if hz >= MIN_LOG_HZ {
        min_log_mel + (hz / MIN_LOG_HZ).ln() / logstep
    } else {
        hz / F_SP
    }
}

fn mel_to_hz(mel: f64) -> f64 {
    const F_SP: f64 = 200.0 / 3.0;
    const MIN_LOG_HZ: f64 = 1000.0;
    let min_log_mel = MIN_LOG_HZ / F_SP;
    let logstep = 6.4f64.ln() / 27.0;
    if mel >= min_log_mel {
        MIN_LOG_HZ * (logstep * (mel - min_log_mel)).exp()
    } else {
        F_SP * mel
    }
}

/// librosa's `filters.mel(sr=16000, n_fft=400, n_mels, htk=False, norm="slaney")`.
fn slaney_filters(n_mels: usize) -> Vec<f32> {
    let bins = N_FFT / 2 + 1;
    let (lo, hi) = (hz_to_mel(0.0), hz_to_mel(SAMPLE_RATE as f64 / 2.0));
    let points: Vec<f64> = (0..n_mels + 2)
        .map(|i| mel_to_hz(lo + (hi - lo) * i as f64 / (n_mels + 1) as f64))
        .collect();
    let mut out = vec![0f32; n_mels * bins];
    for m in 0..n_mels {
        let (left, centre, right) = (points[m], points[m + 1], points[m + 2]);
        let norm = 2.0 / (right - left);
        for k in 0..bins {
            let f = k as f64 * SAMPLE_RATE as f64 / N_FFT as f64;
            let rise = (f - left) / (centre - left);
            let fall = (right - f) / (right - centre);
            out[m * bins + k] = (rise.min(fall).max(0.0) * norm) as f32;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slaney_scale_is_linear_below_1khz_and_round_trips() {
        assert!((hz_to_mel(1000.0) - 15.0).abs() < 1e-9);
        for hz in [0.0, 300.0, 999.0, 1000.0, 4000.0, 8000.0] {
            assert!((mel_to_hz(hz_to_mel(hz)) - hz).abs() < 1e-6, "{hz}");
        }
    }

    #[test]
    fn a_tone_lights_the_filter_around_its_frequency() {
        let frontend = MelFrontend::new(80);
        let tone: Vec<f32> = (0..SAMPLE_RATE)
            .map(|i| (2.0 * PI * 440.0 * i as f32 / SAMPLE_RATE as f32).sin() * 0.5)
            .collect();
        let mel = frontend.features(&tone);
        assert_eq!(mel.len(), 80 * CHUNK_FRAMES);
        let frame = 50;
        let loudest = (0..80)
            .max_by(|a, b| mel[a * CHUNK_FRAMES + frame].total_cmp(&mel[b * CHUNK_FRAMES + frame]))
            .unwrap();
        // 440 Hz falls in the 7th–8th Slaney band (bands are ~66.7 Hz wide below 1 kHz).
        let centre = |m: usize| mel_to_hz(hz_to_mel(8000.0) * (m + 1) as f64 / 81.0);
        assert!((centre(loudest) - 440.0).abs() < 70.0, "band {loudest}");
        // After the tone ends (1 s), the padding is at the floor: peak − 8 → (p − 8 + 4) / 4.
        let peak = mel.iter().copied().fold(f32::MIN, f32::max);
        let tail = mel[CHUNK_FRAMES - 1];
        assert!(
            (tail - (peak - 2.0)).abs() < 1e-5,
            "tail {tail} peak {peak}"
        );
    }
}
