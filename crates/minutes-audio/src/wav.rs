//! The 16 kHz mono s16 WAV files this crate writes, and reading them back.

use std::fs::File;
use std::io::{self, BufReader, BufWriter, Read, Seek, SeekFrom, Write};
use std::path::Path;

use crate::{AudioError, TARGET_SAMPLE_RATE};

const HEADER_LEN: usize = 44;
/// Largest sample count whose byte size still fits the u32 RIFF size fields.
const MAX_SAMPLES: u64 = (u32::MAX as u64 - HEADER_LEN as u64) / 2;

/// The canonical 44-byte header for `samples` 16 kHz mono s16 samples.
pub(crate) fn header(samples: u32) -> [u8; HEADER_LEN] {
    let data_len = samples.saturating_mul(2);
    let mut h = [0u8; HEADER_LEN];
    h[0..4].copy_from_slice(b"RIFF");
    h[4..8].copy_from_slice(&data_len.saturating_add(36).to_le_bytes());
    h[8..12].copy_from_slice(b"WAVE");
    h[12..16].copy_from_slice(b"fmt ");
    h[16..20].copy_from_slice(&16u32.to_le_bytes());
    h[20..22].copy_from_slice(&1u16.to_le_bytes()); // PCM
    h[22..24].copy_from_slice(&1u16.to_le_bytes()); // mono
    h[24..28].copy_from_slice(&TARGET_SAMPLE_RATE.to_le_bytes());
    h[28..32].copy_from_slice(&(TARGET_SAMPLE_RATE * 2).to_le_bytes());
    h[32..34].copy_from_slice(&2u16.to_le_bytes());
    h[34..36].copy_from_slice(&16u16.to_le_bytes());
    h[36..40].copy_from_slice(b"data");
    h[40..44].copy_from_slice(&data_len.to_le_bytes());
    h
}

#[inline]
pub(crate) fn f32_to_s16(x: f32) -> i16 {
    // `as` saturates, and NaN becomes 0, so no clamp is needed beyond the scale.
    (x * 32768.0).round() as i16
}

/// Appends f32 samples as s16le to `out`, reusing its allocation.
pub(crate) fn encode_s16le(samples: &[f32], out: &mut Vec<u8>) {
    out.clear();
    out.reserve(samples.len() * 2);
    for &s in samples {
        out.extend_from_slice(&f32_to_s16(s).to_le_bytes());
    }
}

/// Streams samples into a WAV file; the sizes in the header are patched by `finish`.
pub(crate) struct WavWriter {
    out: BufWriter<File>,
    samples: u64,
    scratch: Vec<u8>,
}

impl WavWriter {
    pub(crate) fn create(path: &Path) -> Result<Self, AudioError> {
        let mut out = BufWriter::with_capacity(1 << 16, File::create(path)?);
        out.write_all(&header(0))?;
        Ok(WavWriter {
            out,
            samples: 0,
            scratch: Vec::new(),
        })
    }

    pub(crate) fn write(&mut self, samples: &[f32]) -> Result<(), AudioError> {
        self.samples += samples.len() as u64;
        if self.samples > MAX_SAMPLES {
            let limit_secs = MAX_SAMPLES as f64 / f64::from(TARGET_SAMPLE_RATE);
            return Err(AudioError::TooLong { limit_secs });
        }
        encode_s16le(samples, &mut self.scratch);
        self.out.write_all(&self.scratch)?;
        Ok(())
    }

    pub(crate) fn samples(&self) -> u64 {
        self.samples
    }

    pub(crate) fn finish(mut self) -> Result<u64, AudioError> {
        let n = u32::try_from(self.samples).unwrap_or(u32::MAX);
        self.out.seek(SeekFrom::Start(0))?;
        self.out.write_all(&header(n))?;
        self.out.flush()?;
        Ok(self.samples)
    }
}

/// Where the samples of one of our WAV files are.
struct DataChunk {
    offset: u64,
    samples: u64,
}

/// Finds the data chunk and checks the format is 16 kHz mono s16 PCM.
fn locate_data(file: &mut File) -> Result<DataChunk, AudioError> {
    let file_len = file.metadata()?.len();
    let mut r = BufReader::new(&mut *file);
    let mut riff = [0u8; 12];
    read_or_corrupt(&mut r, &mut riff)?;
    if &riff[0..4] != b"RIFF" || &riff[8..12] != b"WAVE" {
        return Err(AudioError::NotAudio);
    }
    let mut pos = 12u64;
    let mut format_ok = false;
    loop {
        let mut ch = [0u8; 8];
        read_or_corrupt(&mut r, &mut ch)?;
        pos += 8;
        let len = u64::from(u32::from_le_bytes([ch[4], ch[5], ch[6], ch[7]]));
        match &ch[0..4] {
            b"fmt " => {
                if len < 16 {
                    return Err(AudioError::corrupt("WAV fmt chunk too short"));
                }
                let mut fmt = [0u8; 16];
                read_or_corrupt(&mut r, &mut fmt)?;
                let tag = u16::from_le_bytes([fmt[0], fmt[1]]);
                let channels = u16::from_le_bytes([fmt[2], fmt[3]]);
                let rate = u32::from_le_bytes([fmt[4], fmt[5], fmt[6], fmt[7]]);
                let bits = u16::from_le_bytes([fmt[14], fmt[15]]);
                // 0xFFFE (extensible) is accepted because other tools write 16-bit mono that way.
                format_ok = (tag == 1 || tag == 0xFFFE)
                    && channels == 1
                    && rate == TARGET_SAMPLE_RATE
                    && bits == 16;
                if !format_ok {
                    return Err(AudioError::Unsupported(format!(
                        "expected 16 kHz mono 16-bit PCM WAV, got format {tag:#x}, {channels} ch, {rate} Hz, {bits} bit"
                    )));
                }
                skip(&mut r, len + (len & 1) - 16)?;
            }
            b"data" => {
                if !format_ok {
                    return Err(AudioError::corrupt("WAV data chunk before fmt chunk"));
                }
                let avail = file_len.saturating_sub(pos);
                // Streaming writers leave the size at 0 or u32::MAX: take what is there.
                let len = if len == 0 || len == u64::from(u32::MAX) {
                    avail
                } else {
                    len.min(avail)
                };
                return Ok(DataChunk {
                    offset: pos,
                    samples: len / 2,
                });
            }
            _ => skip(&mut r, len + (len & 1))?,
        }
        pos += len + (len & 1);
    }
}

fn read_or_corrupt(r: &mut impl Read, buf: &mut [u8]) -> Result<(), AudioError> {
    r.read_exact(buf).map_err(|e| match e.kind() {
        io::ErrorKind::UnexpectedEof => AudioError::corrupt("WAV file is truncated"),
        _ => AudioError::Io(e),
    })
}

fn skip(r: &mut BufReader<&mut File>, n: u64) -> Result<(), AudioError> {
    let skipped = io::copy(&mut r.by_ref().take(n), &mut io::sink())?;
    if skipped < n {
        return Err(AudioError::corrupt("WAV file ends inside a chunk"));
    }
    Ok(())
}

/// Converts s16le bytes to f32 in [-1, 1).
fn decode_s16le(bytes: &[u8], out: &mut Vec<f32>) {
    out.extend(
        bytes
            .chunks_exact(2)
            .map(|b| f32::from(i16::from_le_bytes([b[0], b[1]])) / 32768.0),
    );
}

/// Reads [start, end) seconds of a 16 kHz mono s16 WAV and returns that slice as a complete WAV.
pub fn slice_wav(path: &Path, start_secs: f64, end_secs: f64) -> Result<Vec<u8>, AudioError> {
    let mut file = File::open(path)?;
    let data = locate_data(&mut file)?;
    let rate = f64::from(TARGET_SAMPLE_RATE);
    let to_sample = |t: f64| (t * rate).round().clamp(0.0, data.samples as f64) as u64;
    let (a, b) = (to_sample(start_secs), to_sample(end_secs));
    if start_secs.is_nan() || end_secs.is_nan() || b <= a {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!(
                "empty slice [{start_secs}, {end_secs}) s of a {:.3} s file",
                data.samples as f64 / rate
            ),
        )
        .into());
    }
    let n = b - a;
    let n32 = u32::try_from(n).map_err(|_| AudioError::TooLong {
        limit_secs: MAX_SAMPLES as f64 / rate,
    })?;
    let mut bytes = Vec::with_capacity(HEADER_LEN + n as usize * 2);
    bytes.extend_from_slice(&header(n32));
    file.seek(SeekFrom::Start(data.offset + a * 2))?;
    let read = file.take(n * 2).read_to_end(&mut bytes)?;
    if (read as u64) < n * 2 {
        return Err(AudioError::corrupt("WAV file shorter than its header says"));
    }
    Ok(bytes)
}

/// Random access to the samples of a 16 kHz mono s16 WAV without loading the whole file:
/// long meetings are read window by window.
pub struct WavSamples {
    file: File,
    data: DataChunk,
}

impl WavSamples {
    pub fn open(path: &Path) -> Result<Self, AudioError> {
        let mut file = File::open(path)?;
        let data = locate_data(&mut file)?;
        Ok(Self { file, data })
    }

    /// Number of samples in the file.
    pub fn len(&self) -> u64 {
        self.data.samples
    }

    pub fn is_empty(&self) -> bool {
        self.data.samples == 0
    }

    /// Samples `[start, start + n)` as f32 in [-1, 1); clipped to the end of the file.
    pub fn read(&mut self, start: u64, n: usize) -> Result<Vec<f32>, AudioError> {
        let start = start.min(self.data.samples);
        let n = (n as u64).min(self.data.samples - start) as usize;
        self.file
            .seek(SeekFrom::Start(self.data.offset + start * 2))?;
        let mut bytes = vec![0u8; n * 2];
        read_or_corrupt(&mut self.file, &mut bytes)?;
        let mut out = Vec::with_capacity(n);
        decode_s16le(&bytes, &mut out);
        Ok(out)
    }
}

/// Reads a whole 16 kHz mono s16 WAV (as written by this crate) into f32 samples.
pub fn read_wav_f32(path: &Path) -> Result<Vec<f32>, AudioError> {
    let mut file = File::open(path)?;
    let data = locate_data(&mut file)?;
    file.seek(SeekFrom::Start(data.offset))?;
    let mut out = Vec::with_capacity(data.samples as usize);
    let mut reader = BufReader::with_capacity(1 << 16, file);
    let mut buf = vec![0u8; 1 << 16];
    let mut remaining = data.samples * 2;
    while remaining > 0 {
        let n = remaining.min(buf.len() as u64) as usize;
        read_or_corrupt(&mut reader, &mut buf[..n])?;
        decode_s16le(&buf[..n], &mut out);
        remaining -= n as u64;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write_tone(path: &Path, n: usize) -> Vec<f32> {
        let samples: Vec<f32> = (0..n).map(|i| ((i as f32) * 0.01).sin() * 0.5).collect();
        let mut w = WavWriter::create(path).unwrap();
        for chunk in samples.chunks(1000) {
            w.write(chunk).unwrap();
        }
        assert_eq!(w.finish().unwrap(), n as u64);
        samples
    }

    #[test]
    fn header_layout() {
        let h = header(16_000);
        assert_eq!(&h[0..4], b"RIFF");
        assert_eq!(u32::from_le_bytes([h[4], h[5], h[6], h[7]]), 36 + 32_000);
        assert_eq!(u32::from_le_bytes([h[40], h[41], h[42], h[43]]), 32_000);
    }

    #[test]
    fn s16_conversion_saturates_and_roundtrips() {
        assert_eq!(f32_to_s16(1.0), i16::MAX);
        assert_eq!(f32_to_s16(-1.0), i16::MIN);
        assert_eq!(f32_to_s16(3.0), i16::MAX);
        assert_eq!(f32_to_s16(f32::NAN), 0);
        for v in [-32768i16, -1, 0, 1, 12345, 32767] {
            assert_eq!(f32_to_s16(f32::from(v) / 32768.0), v);
        }
    }

    #[test]
    fn write_read_slice() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.wav");
        let samples = write_tone(&path, 48_001);
        let back = read_wav_f32(&path).unwrap();
        assert_eq!(back.len(), samples.len());
        assert!(back
            .iter()
            .zip(&samples)
            .all(|(a, b)| (a - b).abs() < 1.0 / 32768.0));

        let bytes = slice_wav(&path, 1.0, 2.5).unwrap();
        assert_eq!(bytes.len(), 44 + 24_000 * 2);
        assert_eq!(&bytes[..44], &header(24_000));
        let first = i16::from_le_bytes([bytes[44], bytes[45]]);
        assert_eq!(first, f32_to_s16(samples[16_000]));

        // Clamped to the file; empty and inverted ranges are errors.
        let tail = slice_wav(&path, 2.0, 99.0).unwrap();
        assert_eq!(tail.len(), 44 + (48_001 - 32_000) * 2);
        assert!(slice_wav(&path, 5.0, 6.0).is_err());
        assert!(slice_wav(&path, 2.0, 1.0).is_err());
        assert!(slice_wav(&path, f64::NAN, 1.0).is_err());
    }

    #[test]
    fn rejects_other_formats() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.wav");
        let mut h = header(10);
        h[22] = 2; // stereo
        std::fs::write(&path, h).unwrap();
        assert!(matches!(
            read_wav_f32(&path),
            Err(AudioError::Unsupported(_))
        ));
        std::fs::write(&path, b"not a wav at all").unwrap();
        assert!(matches!(read_wav_f32(&path), Err(AudioError::NotAudio)));
        std::fs::write(&path, &header(10)[..20]).unwrap();
        assert!(matches!(read_wav_f32(&path), Err(AudioError::Corrupt(_))));
    }
}
