//! `voiceprint.provider: local`: CAM++ speaker embeddings on the CPU (crate `minutes-speaker`).
//! Enrollment embeds 3 s windows of the sample's speech and keeps their centroid (the service
//! stores it, sealed); identification embeds each 3–6 s sample of a diarized label, scores it
//! against the centroids of the tenant's registry (top 2), applies the gap-rescue decision
//! and lets the label's samples vote.
use std::path::PathBuf;
use std::sync::{Arc, OnceLock};

use async_trait::async_trait;
use minutes_audio::vad;
use minutes_speaker::identify::top_k;
use minutes_speaker::{centroid, CamPlus};

use super::{named_matches, SampleVerdict, ScoreThresholds};
use crate::providers::{
    Enrollment, ProviderError, SpeakerMatch, SpeakerSample, StoredEmbedding, Voiceprint,
    VoiceprintRegistry,
};

/// Recorded on the registry entries this engine enrolls.
pub const NAME: &str = "local-campplus";
/// The embedding space of stored vectors; others are never compared with these.
pub const MODEL: &str = "campplus";
const RATE: usize = 16_000;
/// Enrollment windows: long enough for a stable embedding, short enough to average several.
const WINDOW_SECS: f64 = 3.0;
const HOP_SECS: f64 = 1.5;
/// Enrollment needs at least this much speech (the API asks for 3 s, a job rechecks).
const MIN_ENROLL_SECS: f64 = 1.5;
/// Shorter identification samples are not scored (CAM++ is unreliable below about 1 s).
const MIN_PROBE_SECS: f64 = 1.0;

#[derive(Debug, Clone)]
pub struct LocalVoiceprintSettings {
    /// The CAM++ state dict (`minutes models install campplus-zh-en`).
    pub model: PathBuf,
    pub thresholds: ScoreThresholds,
}

pub struct LocalVoiceprint {
    inner: Arc<Inner>,
}

struct Inner {
    settings: LocalVoiceprintSettings,
    engine: OnceLock<Arc<CamPlus>>,
}

impl LocalVoiceprint {
    /// The model is loaded on first use (about 0.5 s).
    pub fn new(settings: LocalVoiceprintSettings) -> Self {
        Self {
            inner: Arc::new(Inner {
                settings,
                engine: OnceLock::new(),
            }),
        }
    }

    async fn blocking<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Inner) -> Result<T, ProviderError> + Send + 'static,
    ) -> Result<T, ProviderError> {
        let inner = self.inner.clone();
        crate::telemetry::spawn_blocking(move || f(&inner))
            .await
            .map_err(|e| ProviderError::Unavailable {
                provider: NAME.into(),
                detail: format!("the voiceprint thread stopped: {e}"),
            })?
    }
}

fn rejected(detail: impl Into<String>) -> ProviderError {
    ProviderError::Rejected {
        provider: NAME.into(),
        detail: detail.into(),
    }
}

impl Inner {
    fn engine(&self) -> Result<Arc<CamPlus>, ProviderError> {
        if let Some(engine) = self.engine.get() {
            return Ok(engine.clone());
        }
        let path = &self.settings.model;
        let loaded = CamPlus::load(path).map_err(|e| ProviderError::Unavailable {
            provider: NAME.into(),
            detail: format!("loading {}: {e}", path.display()),
        })?;
        Ok(self.engine.get_or_init(|| Arc::new(loaded)).clone())
    }

    fn embed(&self, clips: &[&[f32]]) -> Result<Vec<Vec<f32>>, ProviderError> {
        self.engine()?
            .embed_batch(clips)
            .map_err(|e| rejected(e.to_string()))
    }

    fn enroll(&self, wav: &[u8]) -> Result<Enrollment, ProviderError> {
        let speech = speech_only(&wav_samples(wav)?);
        let secs = speech.len() as f64 / RATE as f64;
        if secs < MIN_ENROLL_SECS {
            return Err(rejected(format!(
                "the enrollment sample holds {secs:.1} s of speech, at least {MIN_ENROLL_SECS} s are needed"
            )));
        }
        let windows = windows(speech.len(), WINDOW_SECS, HOP_SECS);
        let clips: Vec<&[f32]> = windows.iter().map(|&(a, b)| &speech[a..b]).collect();
        let embeddings = self.embed(&clips)?;
        let vector = centroid(embeddings.iter().map(Vec::as_slice))
            .ok_or_else(|| rejected("no speech windows to embed"))?;
        Ok(Enrollment {
            feature_id: crate::domain::ids::new_id("vpf"),
            embeddings: vec![StoredEmbedding {
                model: MODEL.into(),
                vector,
                speech_secs: secs,
            }],
        })
    }

    fn identify(
        &self,
        registry: &VoiceprintRegistry,
        samples: &[SpeakerSample],
    ) -> Result<Vec<SpeakerMatch>, ProviderError> {
        // One centroid per enrolled speaker, over every embedding of this engine's space.
        let enrolled: Vec<(String, Vec<f32>)> = registry
            .speakers
            .iter()
            .filter_map(|s| {
                let own = s.embeddings.iter().filter(|e| e.model == MODEL);
                centroid(own.map(|e| e.vector.as_slice())).map(|c| (s.speaker_id.clone(), c))
            })
            .collect();
        if enrolled.is_empty() {
            return Ok(Vec::new());
        }
        let mut probes = Vec::new();
        let mut verdicts = Vec::new();
        for sample in samples {
            let audio = wav_samples(&sample.wav)?;
            if (audio.len() as f64) < MIN_PROBE_SECS * RATE as f64 {
                // Too short to score: it abstains, and counts against a majority.
                verdicts.push(SampleVerdict {
                    label: sample.label.clone(),
                    accepted: None,
                });
                continue;
            }
            probes.push((sample.label.clone(), audio));
        }
        let clips: Vec<&[f32]> = probes.iter().map(|(_, a)| a.as_slice()).collect();
        let thresholds = self.settings.thresholds;
        for ((label, _), probe) in probes.iter().zip(self.embed(&clips)?) {
            let top = top_k(&probe, &enrolled, 2);
            let (best, runner_up) = (top.first(), top.get(1).map(|c| c.score));
            let accepted = best
                .filter(|b| thresholds.accepts(b.score, runner_up))
                .map(|b| (b.name.to_string(), b.score));
            tracing::debug!(
                label,
                top1 = best.map(|b| b.score),
                top2 = runner_up,
                accepted = accepted.is_some(),
                "voiceprint sample scored"
            );
            verdicts.push(SampleVerdict {
                label: label.clone(),
                accepted,
            });
        }
        Ok(named_matches(&verdicts, registry))
    }
}

#[async_trait]
impl Voiceprint for LocalVoiceprint {
    fn name(&self) -> &str {
        NAME
    }

    async fn identify(
        &self,
        registry: &VoiceprintRegistry,
        samples: &[SpeakerSample],
    ) -> Result<Vec<SpeakerMatch>, ProviderError> {
        if registry.speakers.is_empty() || samples.is_empty() {
            return Ok(Vec::new());
        }
        let (registry, samples) = (registry.clone(), samples.to_vec());
        self.blocking(move |inner| inner.identify(&registry, &samples))
            .await
    }

    async fn enroll(
        &self,
        _tenant_id: &str,
        _speaker_id: &str,
        wav: &[u8],
    ) -> Result<Enrollment, ProviderError> {
        let wav = wav.to_vec();
        self.blocking(move |inner| inner.enroll(&wav)).await
    }

    /// The embeddings live in the service's database; the store deletes them with the entry.
    async fn delete(&self, _tenant_id: &str, _feature_id: &str) -> Result<(), ProviderError> {
        Ok(())
    }
}

/// The samples of a 16 kHz mono 16-bit PCM WAV held in memory.
pub fn wav_samples(wav: &[u8]) -> Result<Vec<f32>, ProviderError> {
    if wav.len() < 12 || &wav[..4] != b"RIFF" || &wav[8..12] != b"WAVE" {
        return Err(rejected("the sample is not a WAV file"));
    }
    let mut pos = 12;
    let mut format_ok = false;
    while pos + 8 <= wav.len() {
        let id = &wav[pos..pos + 4];
        let len = u32::from_le_bytes([wav[pos + 4], wav[pos + 5], wav[pos + 6], wav[pos + 7]]);
        let body = pos + 8;
        let end = body.saturating_add(len as usize).min(wav.len());
        match id {
            b"fmt " if end - body >= 16 => {
                let f = &wav[body..end];
                let format = u16::from_le_bytes([f[0], f[1]]);
                let channels = u16::from_le_bytes([f[2], f[3]]);
                let rate = u32::from_le_bytes([f[4], f[5], f[6], f[7]]);
                let bits = u16::from_le_bytes([f[14], f[15]]);
                format_ok = format == 1 && channels == 1 && rate == RATE as u32 && bits == 16;
                if !format_ok {
                    return Err(rejected(format!(
                        "the sample must be 16 kHz mono 16-bit PCM (format {format}, {channels} channels, {rate} Hz, {bits} bits)"
                    )));
                }
            }
            b"data" if format_ok => {
                return Ok(wav[body..end]
                    .chunks_exact(2)
                    .map(|b| f32::from(i16::from_le_bytes([b[0], b[1]])) / 32768.0)
                    .collect());
            }
            _ => {}
        }
        // Chunks are padded to an even length.
        pos = body.saturating_add(len as usize + (len as usize & 1));
    }
    Err(rejected("the WAV sample has no 16 kHz mono PCM data"))
}

/// The speech of a clip with its pauses removed (energy VAD).
fn speech_only(samples: &[f32]) -> Vec<f32> {
    let energies: Vec<f32> = vad::energies_of(samples).collect();
    let regions = vad::speech_regions(&energies, &vad::VadOptions::default());
    let mut out = Vec::with_capacity(samples.len());
    for (start, end) in regions {
        let a = ((start * RATE as f64) as usize).min(samples.len());
        let b = ((end * RATE as f64) as usize).min(samples.len());
        out.extend_from_slice(&samples[a..b]);
    }
    out
}

/// Speech seconds of a clip, as enrollment counts them (for validating uploads).
pub fn speech_seconds(samples: &[f32]) -> f64 {
    speech_only(samples).len() as f64 / RATE as f64
}

/// `[start, end)` sample ranges of `window` seconds every `hop` seconds over `len` samples; the
/// last window ends at the end; one window of everything when it is shorter than a window.
fn windows(len: usize, window: f64, hop: f64) -> Vec<(usize, usize)> {
    let (w, h) = (
        (window * RATE as f64) as usize,
        (hop * RATE as f64) as usize,
    );
    if len <= w {
        return vec![(0, len)];
    }
    let mut out: Vec<(usize, usize)> = (0..=len - w)
        .step_by(h.max(1))
        .map(|a| (a, a + w))
        .collect();
    if out.last().is_some_and(|&(_, b)| b < len) {
        out.push((len - w, len));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wav(samples: &[i16]) -> Vec<u8> {
        let data = (samples.len() * 2) as u32;
        let mut w = Vec::new();
        w.extend_from_slice(b"RIFF");
        w.extend_from_slice(&(36 + data).to_le_bytes());
        w.extend_from_slice(b"WAVEfmt ");
        w.extend_from_slice(&16u32.to_le_bytes());
        w.extend_from_slice(&1u16.to_le_bytes());
        w.extend_from_slice(&1u16.to_le_bytes());
        w.extend_from_slice(&16_000u32.to_le_bytes());
        w.extend_from_slice(&32_000u32.to_le_bytes());
        w.extend_from_slice(&2u16.to_le_bytes());
        w.extend_from_slice(&16u16.to_le_bytes());
        w.extend_from_slice(b"data");
        w.extend_from_slice(&data.to_le_bytes());
        for s in samples {
            w.extend_from_slice(&s.to_le_bytes());
        }
        w
    }

    #[test]
    fn reads_16k_mono_pcm_and_refuses_anything_else() {
        let samples = wav_samples(&wav(&[0, 16384, -32768])).unwrap();
        assert_eq!(samples, vec![0.0, 0.5, -1.0]);
        let mut stereo = wav(&[0, 0]);
        stereo[22] = 2;
        assert!(wav_samples(&stereo).is_err());
        assert!(wav_samples(b"ID3 not a wav").is_err());
    }

    #[test]
    fn enrollment_windows_cover_the_speech_and_end_at_its_end() {
        assert_eq!(windows(16_000, 3.0, 1.5), vec![(0, 16_000)]);
        let w = windows(16_000 * 7, 3.0, 1.5);
        assert_eq!(w.first(), Some(&(0, 48_000)));
        assert_eq!(w.last(), Some(&(64_000, 112_000)));
        assert!(w.iter().all(|(a, b)| b - a == 48_000));
    }
}
