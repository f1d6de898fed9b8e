//! `diarization.provider: local`: energy VAD → 1.5 s windows → CAM++ embeddings (crate
//! `minutes-speaker`) → agglomerative clustering → speaker turns. Without the CAM++ model it
//! still separates clearly different voices with fbank statistics, and says so in the logs.
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use async_trait::async_trait;
use minutes_audio::vad;
use minutes_speaker::diarize::{diarize, DiarizeOptions};
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
        // The embedder needs every sample anyway; the energies come from the same read.
        let samples = minutes_audio::read_wav_f32(wav).map_err(|e| failed(&e))?;
        let energies: Vec<f32> = vad::energies_of(&samples).collect();
        let speech = vad::speech_regions(&energies, &vad::VadOptions::default());
        let opts = DiarizeOptions {
            threshold: self.settings.threshold,
            max_speakers: self.settings.max_speakers,
            ..DiarizeOptions::default()
        };
        let engine = self.engine()?;
        let turns = diarize(&samples, &speech, engine.as_ref(), &opts).map_err(|e| failed(&e))?;
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

#[async_trait]
impl Diarizer for LocalDiarizer {
    fn name(&self) -> &str {
        NAME
    }

    async fn diarize(&self, audio_wav: &Path) -> Result<Vec<SpeakerTurn>, ProviderError> {
        let inner = self.inner.clone();
        let wav = audio_wav.to_path_buf();
        tokio::task::spawn_blocking(move || inner.diarize(&wav))
            .await
            .map_err(|e| ProviderError::Unavailable {
                provider: NAME.into(),
                detail: format!("the diarization thread stopped: {e}"),
            })?
    }
}
