//! Streaming conversion of mono audio at any rate to 16 kHz, with an exact output length.

use rubato::{FftFixedInOut, Resampler};

use crate::{AudioError, TARGET_SAMPLE_RATE};

/// Rates outside this range are not audio we could sensibly resample.
const MIN_RATE: u32 = 1_000;
const MAX_RATE: u32 = 768_000;

/// Output length for `frames` input frames at `rate`: round(frames * 16000 / rate).
pub(crate) fn output_len(frames: u64, rate: u32) -> u64 {
    let num = u128::from(frames) * u128::from(TARGET_SAMPLE_RATE) * 2 + u128::from(rate);
    u64::try_from(num / (u128::from(rate) * 2)).unwrap_or(u64::MAX)
}

fn gcd(a: u32, b: u32) -> u32 {
    if b == 0 {
        a
    } else {
        gcd(b, a % b)
    }
}

/// Resamples a mono stream pushed in arbitrary pieces; 16 kHz input passes through untouched.
pub(crate) struct To16k {
    rate: u32,
    frames_in: u64,
    emitted: u64,
    fft: Option<FftStage>,
}

struct FftStage {
    resampler: FftFixedInOut<f32>,
    chunk_in: usize,
    pending: Vec<f32>,
    out: Vec<f32>,
    /// Output frames still to drop: the filter's group delay, so output sample 0 is input time 0.
    skip: usize,
}

pub(crate) type Sink<'a> = dyn FnMut(&[f32]) -> Result<(), AudioError> + 'a;

impl To16k {
    pub(crate) fn new(rate: u32) -> Result<Self, AudioError> {
        if !(MIN_RATE..=MAX_RATE).contains(&rate) {
            return Err(AudioError::Unsupported(format!("sample rate {rate} Hz")));
        }
        let fft = if rate == TARGET_SAMPLE_RATE {
            None
        } else {
            // FFT blocks must hold whole periods of the rate ratio; an even count of them keeps
            // the filter centre on a whole output sample, so the delay compensation is exact.
            let period_in = (rate / gcd(rate, TARGET_SAMPLE_RATE)) as usize;
            // ~40 ms blocks: measured fastest on 1 h of 44.1 kHz input (FFT cost vs. per-call
            // overhead), with a filter long enough for a steep anti-aliasing cut.
            let target = (rate / 25) as usize;
            let periods = target.div_ceil(period_in).max(1).next_multiple_of(2);
            let chunk_in = periods * period_in;
            let resampler =
                FftFixedInOut::<f32>::new(rate as usize, TARGET_SAMPLE_RATE as usize, chunk_in, 1)
                    .map_err(|e| AudioError::Unsupported(format!("resampler: {e}")))?;
            let chunk_in = resampler.input_frames_next();
            let out = vec![0.0; resampler.output_frames_max()];
            let skip = resampler.output_delay();
            Some(FftStage {
                resampler,
                chunk_in,
                pending: Vec::with_capacity(chunk_in),
                out,
                skip,
            })
        };
        Ok(To16k {
            rate,
            frames_in: 0,
            emitted: 0,
            fft,
        })
    }

    /// Feeds more input; whatever output is ready goes to `sink`.
    pub(crate) fn push(
        &mut self,
        mut input: &[f32],
        sink: &mut Sink<'_>,
    ) -> Result<(), AudioError> {
        self.frames_in += input.len() as u64;
        let Some(st) = self.fft.as_mut() else {
            self.emitted += input.len() as u64;
            return sink(input);
        };
        while !input.is_empty() {
            if st.pending.is_empty() && input.len() >= st.chunk_in {
                // Whole chunks straight from the caller's buffer: no copy.
                let (chunk, rest) = input.split_at(st.chunk_in);
                self.emitted += st.run(chunk, u64::MAX, sink)?;
                input = rest;
                continue;
            }
            let take = (st.chunk_in - st.pending.len()).min(input.len());
            st.pending.extend_from_slice(&input[..take]);
            input = &input[take..];
            if st.pending.len() == st.chunk_in {
                let pending = std::mem::take(&mut st.pending);
                self.emitted += st.run(&pending, u64::MAX, sink)?;
                st.pending = pending;
                st.pending.clear();
            }
        }
        Ok(())
    }

    /// Flushes the tail with silence and trims, so the total is exactly `output_len`.
    pub(crate) fn finish(mut self, sink: &mut Sink<'_>) -> Result<u64, AudioError> {
        let want = output_len(self.frames_in, self.rate);
        if let Some(st) = self.fft.as_mut() {
            let mut pending = std::mem::take(&mut st.pending);
            while self.emitted < want {
                pending.resize(st.chunk_in, 0.0);
                self.emitted += st.run(&pending, want - self.emitted, sink)?;
                pending.clear();
            }
        }
        Ok(self.emitted)
    }
}

impl FftStage {
    /// Resamples one full chunk and emits at most `cap` frames after the delay; returns how many.
    fn run(&mut self, chunk: &[f32], cap: u64, sink: &mut Sink<'_>) -> Result<u64, AudioError> {
        let (_, n) = self
            .resampler
            .process_into_buffer(&[chunk], &mut [&mut self.out[..]], None)
            .map_err(|e| AudioError::corrupt(format!("resampler: {e}")))?;
        let skip = self.skip.min(n);
        self.skip -= skip;
        let ready = &self.out[skip..n];
        let ready = &ready[..ready.len().min(usize::try_from(cap).unwrap_or(usize::MAX))];
        if !ready.is_empty() {
            sink(ready)?;
        }
        Ok(ready.len() as u64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resample(rate: u32, input: &[f32], piece: usize) -> Vec<f32> {
        let mut out = Vec::new();
        let mut sink = |s: &[f32]| {
            out.extend_from_slice(s);
            Ok(())
        };
        let mut rs = To16k::new(rate).unwrap();
        for p in input.chunks(piece) {
            rs.push(p, &mut sink).unwrap();
        }
        let n = rs.finish(&mut sink).unwrap();
        assert_eq!(n as usize, out.len());
        out
    }

    fn tone(rate: u32, hz: f64, n: usize) -> Vec<f32> {
        (0..n)
            .map(|i| {
                (2.0 * std::f64::consts::PI * hz * i as f64 / f64::from(rate)).sin() as f32 * 0.5
            })
            .collect()
    }

    #[test]
    fn exact_lengths() {
        assert_eq!(output_len(44_100, 44_100), 16_000);
        assert_eq!(output_len(3, 48_000), 1);
        assert_eq!(output_len(1, 48_000), 0);
        assert_eq!(output_len(2, 48_000), 1); // 0.667 rounds up
        for rate in [8_000, 11_025, 22_050, 44_100, 48_000, 96_000, 44_056] {
            for n in [0usize, 1, 7, 1_000, 44_101, 100_003] {
                let out = resample(rate, &vec![0.1; n], 997);
                assert_eq!(
                    out.len() as u64,
                    output_len(n as u64, rate),
                    "rate {rate} n {n}"
                );
            }
        }
    }

    #[test]
    fn passthrough_at_16k() {
        let input = tone(16_000, 440.0, 10_000);
        assert_eq!(resample(16_000, &input, 333), input);
    }

    #[test]
    fn no_delay_shift() {
        // A 1 kHz tone resampled from 44.1 kHz must line up with the same tone generated at 16 kHz.
        for rate in [44_100, 48_000, 22_050, 8_000] {
            let input = tone(rate, 1000.0, rate as usize);
            let out = resample(rate, &input, 4096);
            let want = tone(16_000, 1000.0, 16_000);
            let mid = &out[2_000..14_000];
            let err = mid
                .iter()
                .zip(&want[2_000..14_000])
                .map(|(a, b)| (a - b).abs())
                .fold(0.0, f32::max);
            assert!(err < 0.01, "rate {rate}: max error {err}");
        }
    }

    #[test]
    fn rejects_silly_rates() {
        assert!(To16k::new(0).is_err());
        assert!(To16k::new(5_000_000).is_err());
    }
}
