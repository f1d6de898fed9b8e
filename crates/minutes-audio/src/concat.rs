//! Several uploads of one meeting joined into one WAV, and mapping times back to the parts.

use std::path::{Path, PathBuf};

use crate::pipeline;
use crate::source;
use crate::wav::WavWriter;
use crate::{AudioError, Limits, TARGET_SAMPLE_RATE};

/// Where one input sits on the joined timeline.
#[derive(Debug, Clone, PartialEq)]
pub struct PartSpan {
    pub part_index: usize,
    pub offset_secs: f64,
    pub duration_secs: f64,
    pub samples: u64,
}

/// The parts of a joined recording, in order.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Timeline {
    pub parts: Vec<PartSpan>,
}

impl Timeline {
    pub fn total_secs(&self) -> f64 {
        let samples: u64 = self.parts.iter().map(|p| p.samples).sum();
        samples as f64 / f64::from(TARGET_SAMPLE_RATE)
    }

    /// Maps a time on the joined timeline to (part_index, time within that part). A time on a
    /// boundary belongs to the part that starts there. Times past the end map to the end of the
    /// last part and times before 0 to the start of the first, so the result is always a real
    /// position in a real part; None only for an empty timeline or NaN.
    pub fn locate(&self, t: f64) -> Option<(usize, f64)> {
        if t.is_nan() {
            return None;
        }
        let idx = self.parts.partition_point(|p| p.offset_secs <= t).max(1) - 1;
        let part = self.parts.get(idx)?;
        Some((
            part.part_index,
            (t - part.offset_secs).clamp(0.0, part.duration_secs),
        ))
    }
}

/// Decodes `inputs` in order into one 16 kHz mono s16 WAV at `out`. Offsets come from exact
/// sample counts, so they do not drift however many parts there are.
pub fn concat_to_wav(
    inputs: &[PathBuf],
    out: &Path,
    limits: &Limits,
) -> Result<Timeline, AudioError> {
    let result = concat(inputs, out, limits);
    if result.is_err() {
        // A half-written file must not be mistaken for a result.
        let _ = std::fs::remove_file(out);
    }
    result
}

fn concat(inputs: &[PathBuf], out: &Path, limits: &Limits) -> Result<Timeline, AudioError> {
    let rate = f64::from(TARGET_SAMPLE_RATE);
    let mut writer = WavWriter::create(out)?;
    let mut timeline = Timeline::default();
    for (index, input) in inputs.iter().enumerate() {
        let before = writer.samples();
        let remaining = limits.max_duration_secs - before as f64 / rate;
        let part = |e| match e {
            // Only the joined total has a limit; no single part is to blame.
            AudioError::TooLong { .. } => AudioError::TooLong {
                limit_secs: limits.max_duration_secs,
            },
            e => AudioError::Part {
                index,
                source: Box::new(e),
            },
        };
        let (_, src) = source::guarded(|| source::open(input)).map_err(part)?;
        // A failing output file is our problem, not the part's: keep that error apart.
        let mut write_error = None;
        let mut sink = |s: &[f32]| {
            writer.write(s).map_err(|e| {
                write_error = Some(e);
                AudioError::corrupt("output write failed")
            })
        };
        let decoded = pipeline::run(src, remaining, limits.max_duration_secs, &mut sink);
        if let Some(e) = write_error {
            return Err(e);
        }
        let samples = decoded.map_err(part)?;
        timeline.parts.push(PartSpan {
            part_index: index,
            offset_secs: before as f64 / rate,
            duration_secs: samples as f64 / rate,
            samples,
        });
    }
    writer.finish()?;
    Ok(timeline)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn timeline(lens: &[u64]) -> Timeline {
        let mut off = 0;
        let parts = lens
            .iter()
            .enumerate()
            .map(|(i, &n)| {
                let p = PartSpan {
                    part_index: i,
                    offset_secs: off as f64 / 16_000.0,
                    duration_secs: n as f64 / 16_000.0,
                    samples: n,
                };
                off += n;
                p
            })
            .collect();
        Timeline { parts }
    }

    #[test]
    fn locate_maps_boundaries() {
        let t = timeline(&[16_000, 32_000, 8_000]);
        assert_eq!(t.total_secs(), 3.5);
        assert_eq!(t.locate(0.0), Some((0, 0.0)));
        assert_eq!(t.locate(0.5), Some((0, 0.5)));
        assert_eq!(t.locate(1.0), Some((1, 0.0)));
        let (i, within) = t.locate(2.999).unwrap();
        assert!(i == 1 && (within - 1.999).abs() < 1e-9);
        assert_eq!(t.locate(3.0), Some((2, 0.0)));
        assert_eq!(t.locate(10.0), Some((2, 0.5)));
        assert_eq!(t.locate(-1.0), Some((0, 0.0)));
        assert_eq!(t.locate(f64::NAN), None);
        assert_eq!(Timeline::default().locate(1.0), None);
    }
}
