//! Energy-based voice activity detection and the cutting of speech into decoder windows.
//!
//! Frame energies are computed in one streaming pass (10 ms frames, a few bytes per frame even
//! for a 6 h meeting). The speech threshold adapts to each recording: it sits between the noise
//! floor and the speech level, so quiet rooms and noisy ones both work without tuning.
use crate::{AudioError, WavSamples, TARGET_SAMPLE_RATE};

/// Seconds per energy frame.
pub const FRAME_SECS: f64 = 0.01;
const FRAME: usize = (TARGET_SAMPLE_RATE as usize) / 100;

#[derive(Debug, Clone, Copy)]
pub struct VadOptions {
    /// Speech shorter than this is a click, not a word.
    pub min_speech_secs: f64,
    /// Pauses shorter than this stay inside one region.
    pub min_silence_secs: f64,
    /// Added on both sides of every region so word onsets and tails are not cut.
    pub pad_secs: f64,
    /// Minimum threshold margin over the noise floor, in dB.
    pub min_margin_db: f32,
}

impl Default for VadOptions {
    fn default() -> Self {
        Self {
            min_speech_secs: 0.25,
            min_silence_secs: 0.3,
            pad_secs: 0.1,
            min_margin_db: 6.0,
        }
    }
}

/// Energy (dB) of every 10 ms frame, read window by window.
pub fn frame_energies(wav: &mut WavSamples) -> Result<Vec<f32>, AudioError> {
    let total = wav.len();
    let mut out = Vec::with_capacity((total / FRAME as u64 + 1) as usize);
    let block = FRAME * 6000; // one minute per read
    let mut pos = 0u64;
    while pos < total {
        let samples = wav.read(pos, block)?;
        out.extend(energies_of(&samples));
        pos += samples.len() as u64;
        if samples.is_empty() {
            break;
        }
    }
    Ok(out)
}

/// Energy (dB) of every 10 ms frame of samples already in memory.
pub fn energies_of(samples: &[f32]) -> impl Iterator<Item = f32> + '_ {
    samples.chunks(FRAME).map(energy_db)
}

pub fn energy_db(frame: &[f32]) -> f32 {
    let power = frame.iter().map(|x| x * x).sum::<f32>() / frame.len().max(1) as f32;
    10.0 * (power + 1e-10).log10()
}

/// Speech regions `(start, end)` in seconds.
pub fn speech_regions(energies: &[f32], opts: &VadOptions) -> Vec<(f64, f64)> {
    if energies.is_empty() {
        return Vec::new();
    }
    let mut sorted = energies.to_vec();
    sorted.sort_by(f32::total_cmp);
    let pct = |p: f64| sorted[((sorted.len() - 1) as f64 * p) as usize];
    let (floor, level) = (pct(0.1), pct(0.95));
    if level - floor < opts.min_margin_db {
        // No frame stands out from the rest: either all silence or all steady noise.
        return Vec::new();
    }
    let threshold = floor + opts.min_margin_db.max(0.3 * (level - floor));
    let min_silence = (opts.min_silence_secs / FRAME_SECS).round() as usize;
    let min_speech = (opts.min_speech_secs / FRAME_SECS).round() as usize;
    let mut regions: Vec<(usize, usize)> = Vec::new();
    let mut current: Option<(usize, usize)> = None;
    for (i, e) in energies.iter().enumerate() {
        if *e < threshold {
            continue;
        }
        current = match current {
            Some((s, last)) if i - last <= min_silence => Some((s, i)),
            Some(done) => {
                regions.push(done);
                Some((i, i))
            }
            None => Some((i, i)),
        };
    }
    regions.extend(current);
    let total = energies.len() as f64 * FRAME_SECS;
    let mut out: Vec<(f64, f64)> = Vec::new();
    for (s, e) in regions.into_iter().filter(|(s, e)| e + 1 - s >= min_speech) {
        let start = (s as f64 * FRAME_SECS - opts.pad_secs).max(0.0);
        let end = ((e + 1) as f64 * FRAME_SECS + opts.pad_secs).min(total);
        match out.last_mut() {
            Some(last) if start <= last.1 => last.1 = end,
            _ => out.push((start, end)),
        }
    }
    out
}

/// Groups speech regions into decoder windows of at most `max_secs` (Whisper sees 30 s at a
/// time). A window closes at a long pause once it holds `min_secs`, so the decoder gets whole
/// sentences; a region longer than `max_secs` is cut at its quietest frame.
pub fn windows(
    regions: &[(f64, f64)],
    energies: &[f32],
    min_secs: f64,
    max_secs: f64,
    pause_secs: f64,
) -> Vec<(f64, f64)> {
    let mut pieces = Vec::new();
    for &(s, e) in regions {
        split_long(s, e, energies, max_secs, &mut pieces);
    }
    let mut out: Vec<(f64, f64)> = Vec::new();
    for (s, e) in pieces {
        match out.last_mut() {
            Some(w) if e - w.0 <= max_secs && !(w.1 - w.0 >= min_secs && s - w.1 >= pause_secs) => {
                w.1 = e
            }
            _ => out.push((s, e)),
        }
    }
    out
}

fn split_long(mut s: f64, e: f64, energies: &[f32], max_secs: f64, out: &mut Vec<(f64, f64)>) {
    while e - s > max_secs {
        // Search the last third of the allowed span for the quietest 10 ms.
        let lo = ((s + max_secs * 2.0 / 3.0) / FRAME_SECS) as usize;
        let hi = (((s + max_secs) / FRAME_SECS) as usize).min(energies.len().saturating_sub(1));
        let cut = (lo..=hi.max(lo))
            .filter(|i| *i < energies.len())
            .min_by(|a, b| energies[*a].total_cmp(&energies[*b]))
            .map(|i| i as f64 * FRAME_SECS)
            .unwrap_or(s + max_secs)
            .clamp(s + 1.0, s + max_secs);
        out.push((s, cut));
        s = cut;
    }
    out.push((s, e));
}

#[cfg(test)]
mod tests {
    use super::*;

    fn energies(pattern: &[(f64, f32)]) -> Vec<f32> {
        pattern
            .iter()
            .flat_map(|(secs, db)| std::iter::repeat_n(*db, (secs / FRAME_SECS) as usize))
            .collect()
    }

    #[test]
    fn finds_speech_between_silences_and_bridges_short_pauses() {
        let e = energies(&[
            (1.0, -90.0),
            (2.0, -20.0),
            (0.2, -90.0),
            (1.0, -22.0),
            (2.0, -90.0),
        ]);
        let r = speech_regions(&e, &VadOptions::default());
        assert_eq!(r.len(), 1, "{r:?}");
        assert!(
            (r[0].0 - 0.9).abs() < 0.02 && (r[0].1 - 4.3).abs() < 0.02,
            "{r:?}"
        );
        let e = energies(&[
            (1.0, -60.0),
            (2.0, -20.0),
            (1.0, -60.0),
            (1.0, -22.0),
            (1.0, -60.0),
        ]);
        assert_eq!(speech_regions(&e, &VadOptions::default()).len(), 2);
    }

    #[test]
    fn silence_and_steady_noise_have_no_speech() {
        assert!(speech_regions(&energies(&[(5.0, -90.0)]), &VadOptions::default()).is_empty());
        assert!(speech_regions(&energies(&[(5.0, -30.0)]), &VadOptions::default()).is_empty());
    }

    #[test]
    fn windows_respect_the_maximum_and_cut_long_speech_at_the_quietest_point() {
        let mut e = energies(&[(70.0, -20.0)]);
        e[2500] = -50.0; // quietest point at 25 s
        let w = windows(&[(0.0, 70.0)], &e, 5.0, 30.0, 1.0);
        assert!(w.iter().all(|(s, e)| e - s <= 30.0 + 1e-9), "{w:?}");
        assert!((w[0].1 - 25.0).abs() < 1e-9, "{w:?}");
        assert!((w.last().unwrap().1 - 70.0).abs() < 1e-9);
        // Short regions join until a long pause after the minimum.
        let r = [(0.0, 3.0), (3.5, 6.0), (8.0, 10.0), (10.2, 12.0)];
        let w = windows(&r, &e, 5.0, 30.0, 1.0);
        assert_eq!(w, vec![(0.0, 6.0), (8.0, 12.0)]);
    }
}
