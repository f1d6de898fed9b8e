//! `diarization.provider: local`: energy VAD → 1.5 s windows → CAM++ embeddings (crate
//! `minutes-speaker`) → agglomerative clustering → speaker turns. Without the CAM++ model it
//! still separates clearly different voices with fbank statistics, and says so in the logs.
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use async_trait::async_trait;
use minutes_audio::vad;
use minutes_audio::WavSamples;
use minutes_speaker::diarize::{diarize_source, DiarizeOptions, SampleSource};
use minutes_speaker::SpeakerError;
use minutes_speaker::{CamPlus, Embedder, FbankStatsEmbedder};

use crate::providers::{Diarizer, ProviderError, SpeakerTurn};

const NAME: &str = "local-campplus";

#[derive(Debug, Clone, Default)]
pub struct LocalDiarizerSettings {
    /// The CAM++ weights, or `None` to run degraded on fbank statistics.
    pub model: Option<PathBuf>,
    /// Cosine-distance threshold; `None` takes the engine's measured default.
    pub threshold: Option<f32>,
    pub max_speakers: Option<usize>,
}

pub struct LocalDiarizer {
    inner: Arc<Inner>,
}

struct Inner {
    settings: LocalDiarizerSettings,
    engine: OnceLock<Arc<dyn Embedder>>,
}

impl LocalDiarizer {
    pub fn new(settings: LocalDiarizerSettings) -> Self {
        if settings.model.is_none() {
            tracing::warn!(
                "diarization runs DEGRADED on fbank statistics: the CAM++ model is not installed \
                 (`minutes models install campplus-zh-en`)"
            );
        }
        Self {
            inner: Arc::new(Inner {
                settings,
                engine: OnceLock::new(),
            }),
        }
    }
}

impl Inner {
    fn engine(&self) -> Result<Arc<dyn Embedder>, ProviderError> {
        if let Some(engine) = self.engine.get() {
            return Ok(engine.clone());
        }
        let loaded: Arc<dyn Embedder> = match &self.settings.model {
            Some(path) => {
                Arc::new(CamPlus::load(path).map_err(|e| ProviderError::Unavailable {
                    provider: NAME.into(),
                    detail: format!("loading {}: {e}", path.display()),
                })?)
            }
            None => Arc::new(FbankStatsEmbedder),
        };
        Ok(self.engine.get_or_init(|| loaded).clone())
    }

    fn diarize(&self, wav: &Path) -> Result<Vec<SpeakerTurn>, ProviderError> {
        let failed = |e: &dyn std::fmt::Display| ProviderError::InvalidResponse {
            provider: NAME.into(),
            detail: e.to_string(),
        };
        // Two passes over the file, a minute and then a window at a time: a two-hour meeting
        // would be 460 MB of samples in memory.
        let mut source = WavSource(WavSamples::open(wav).map_err(|e| failed(&e))?);
        let energies = vad::frame_energies(&mut source.0).map_err(|e| failed(&e))?;
        let speech = vad::speech_regions(&energies, &vad::VadOptions::default());
        let opts = DiarizeOptions {
            threshold: self.settings.threshold,
            max_speakers: self.settings.max_speakers,
            ..DiarizeOptions::default()
        };
        let engine = self.engine()?;
        let turns =
            diarize_source(&mut source, &speech, engine.as_ref(), &opts).map_err(|e| failed(&e))?;
        Ok(turns
            .into_iter()
            .map(|t| SpeakerTurn {
                start: t.start,
                end: t.end,
                label: format!("spk{}", t.label),
            })
            .collect())
    }
}

/// The normalized meeting WAV, read window by window.
struct WavSource(WavSamples);

impl SampleSource for WavSource {
    fn sample_count(&self) -> usize {
        self.0.len() as usize
    }

    fn read(&mut self, start: usize, end: usize) -> Result<Vec<f32>, SpeakerError> {
        self.0
            .read(start as u64, end.saturating_sub(start))
            .map_err(|e| SpeakerError::Source(e.to_string()))
    }
}

#[async_trait]
impl Diarizer for LocalDiarizer {
    fn name(&self) -> &str {
        NAME
    }

    async fn diarize(&self, audio_wav: &Path) -> Result<Vec<SpeakerTurn>, ProviderError> {
        let inner = self.inner.clone();
        let wav = audio_wav.to_path_buf();
        crate::telemetry::spawn_blocking(move || inner.diarize(&wav))
            .await
            .map_err(|e| ProviderError::Unavailable {
                provider: NAME.into(),
                detail: format!("the diarization thread stopped: {e}"),
            })?
    }
}
