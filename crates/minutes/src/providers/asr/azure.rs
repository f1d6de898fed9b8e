//! Speech-to-text on Azure AI Speech fast transcription, REST API version `2025-10-15`
//! (`POST {endpoint}/speechtotext/transcriptions:transcribe?api-version=2025-10-15`), as
//! documented by "Use the fast transcription API with Azure AI Speech" (learn.microsoft.com,
//! speech-service/fast-transcription-create), the REST reference "Transcriptions - Transcribe",
//! "Improve recognition accuracy with phrase list" and "Speech service quotas and limits".
//! 2025-10-15 rather than 2024-11-15 because the phrase list (our hotwords) needs it.
//!
//! The call is synchronous: the WAV goes up in the request and the transcript comes back.
//! Audio longer than `max_chunk_secs` (every documented version allows under 2 hours per
//! request) is cut in pauses and sent chunk by chunk; phrase times are shifted onto the
//! meeting's timeline and, because Azure numbers speakers per request, the speakers of every
//! chunk are matched to the meeting's speakers by voice (CAM++ embeddings, `reconcile.rs`).
//! Finished chunks are checkpointed on the task's step, so a retry after a failed chunk does
//! not pay for the earlier ones again. Azure never refuses content: profanity is at most
//! masked (`profanityFilterMode`, default `None` here), so this adapter never reports
//! `ContentBlocked`.
mod chunking;
mod client;
mod protocol;
mod reconcile;
mod settings;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use async_trait::async_trait;
use minutes_audio::AudioError;
use minutes_speaker::{CamPlus, Embedder, FbankStatsEmbedder, SpeakerError};
use serde::Deserialize;
use serde_json::json;

pub use self::settings::{AzureAsrSettings, ProfanityFilterMode};

use self::chunking::Chunk;
use self::client::Client;
use self::protocol::{Definition, Diarization, Phrase};
use self::reconcile::SpeakerSpan;
use crate::egress::EgressPolicy;
use crate::providers::http::{body_excerpt, check_base_url};
use crate::providers::keys::{collect_keys, KeyPool, KeyPoolSettings, ProviderClock};
use crate::providers::{AsrOutput, AsrSegment, ProviderError, SpeechToText, TranscribeRequest};

/// The checkpointed state of a chunked transcription: the plan and every finished chunk.
#[derive(Debug, Deserialize)]
struct Progress {
    chunks: Vec<Chunk>,
    done: Vec<Option<Vec<Phrase>>>,
}

/// The embedding engine for speaker reconciliation, loaded on first use.
struct Voices {
    model: Option<PathBuf>,
    engine: OnceLock<Arc<dyn Embedder>>,
}

impl Voices {
    fn engine(&self) -> Result<Arc<dyn Embedder>, SpeakerError> {
        if let Some(engine) = self.engine.get() {
            return Ok(engine.clone());
        }
        let loaded: Arc<dyn Embedder> = match &self.model {
            Some(path) => match CamPlus::load(path) {
                Ok(model) => Arc::new(model),
                Err(SpeakerError::ModelMissing { path }) => {
                    tracing::warn!(path = %path.display(),
                        "Azure speaker reconciliation runs DEGRADED on fbank statistics: the CAM++ \
                         model file is gone");
                    Arc::new(FbankStatsEmbedder)
                }
                Err(e) => return Err(e),
            },
            None => Arc::new(FbankStatsEmbedder),
        };
        Ok(self.engine.get_or_init(|| loaded).clone())
    }
}

/// `SpeechToText` on Azure AI Speech fast transcription.
pub struct AzureAsr {
    name: String,
    client: Client,
    keys: Arc<KeyPool>,
    settings: AzureAsrSettings,
    voices: Arc<Voices>,
}

impl std::fmt::Debug for AzureAsr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AzureAsr")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

impl AzureAsr {
    pub const DEFAULT_NAME: &'static str = "azure";

    /// Checks the settings and the keys (`api_key`, `api_keys`, `api_keys_file`: at least one).
    /// `speaker_model` is the CAM++ state dict for matching speakers across chunks; without it
    /// the matching runs degraded on fbank statistics, and says so.
    pub fn new(
        settings: AzureAsrSettings,
        egress: &EgressPolicy,
        pool: KeyPoolSettings,
        clock: Arc<dyn ProviderClock>,
        speaker_model: Option<PathBuf>,
    ) -> Result<AzureAsr, ProviderError> {
        let name = Self::DEFAULT_NAME.to_string();
        let rejected = |detail: String| ProviderError::Rejected {
            provider: name.clone(),
            detail,
        };
        if let Some(problem) = settings.problem() {
            return Err(rejected(problem));
        }
        let base = settings.base_url().map_err(&rejected)?;
        check_base_url(&name, &base, egress)?;
        let keys = collect_keys(
            &name,
            settings.api_key.as_ref(),
            settings.api_keys.as_ref(),
            settings.api_keys_file.as_deref(),
        )?;
        if keys.is_empty() {
            return Err(rejected(
                "asr.azure has no key: set MINUTES__ASR__AZURE__API_KEY (or api_keys, \
                 api_keys_file)"
                    .into(),
            ));
        }
        if speaker_model.is_none() {
            tracing::warn!(
                "Azure speaker reconciliation across chunks runs DEGRADED on fbank statistics: \
                 the CAM++ model is not installed (`minutes models install campplus-zh-en`)"
            );
        }
        let timeout = Duration::from_secs(settings.request_timeout_secs.max(1));
        Ok(AzureAsr {
            client: Client::new(&name, &base, timeout, egress)?,
            keys: Arc::new(KeyPool::new(&name, keys, pool, clock)),
            name,
            settings,
            voices: Arc::new(Voices {
                model: speaker_model,
                engine: OnceLock::new(),
            }),
        })
    }

    /// The key pool, for health reporting.
    pub fn key_pool(&self) -> Arc<KeyPool> {
        self.keys.clone()
    }

    fn rejected(&self, detail: String) -> ProviderError {
        ProviderError::Rejected {
            provider: self.name.clone(),
            detail,
        }
    }

    /// The `definition` JSON for a task's language and hotwords.
    fn definition(&self, locales: &[String], hotwords: &[String]) -> Result<String, ProviderError> {
        let (phrase_list, dropped) = protocol::phrase_list(hotwords);
        if dropped > 0 {
            tracing::warn!(provider = %self.name, dropped, limit = protocol::MAX_PHRASES,
                "hotwords beyond the phrase-list limit are not sent");
        }
        let models = self
            .settings
            .custom_models
            .iter()
            .filter(|(locale, _)| locales.contains(locale))
            .map(|(locale, uri)| (locale.clone(), uri.trim().to_string()))
            .collect();
        let definition = Definition {
            locales: locales.to_vec(),
            diarization: Diarization {
                enabled: true,
                max_speakers: self.settings.max_speakers,
            },
            phrase_list,
            profanity_filter_mode: self.settings.profanity_filter_mode.wire(),
            models,
        };
        serde_json::to_string(&definition).map_err(|e| self.rejected(format!("definition: {e}")))
    }

    /// Chunks of the meeting, planned on a blocking thread (long audio is read once for the
    /// pauses).
    async fn plan(&self, wav: &Path) -> Result<Vec<Chunk>, ProviderError> {
        let (path, max) = (wav.to_path_buf(), self.settings.max_chunk_secs);
        let planned = crate::telemetry::spawn_blocking(move || chunking::plan(&path, max))
            .await
            .map_err(|e| self.unavailable(format!("the chunk planner stopped: {e}")))?;
        planned.map_err(|e| self.audio_error(format!("cannot read {}", wav.display()), e))
    }

    /// A failure on our own audio: I/O (a full disk, a vanished file) may pass, anything else
    /// (a corrupt or foreign WAV) will not.
    fn audio_error(&self, what: String, e: AudioError) -> ProviderError {
        let detail = format!("{what}: {e}");
        match e {
            AudioError::Io(_) => self.unavailable(detail),
            _ => self.rejected(detail),
        }
    }

    fn unavailable(&self, detail: String) -> ProviderError {
        ProviderError::Unavailable {
            provider: self.name.clone(),
            detail,
        }
    }

    /// Finished chunks from the step's checkpoint when it was made for the same plan.
    async fn resume(
        &self,
        req: &TranscribeRequest,
        plan: &[Chunk],
    ) -> Result<Vec<Option<Vec<Phrase>>>, ProviderError> {
        let fresh = vec![None; plan.len()];
        let Some(cp) = req.checkpoint.as_ref().filter(|_| plan.len() > 1) else {
            return Ok(fresh);
        };
        let Some(saved) = cp.0.load(&self.name).await? else {
            return Ok(fresh);
        };
        match serde_json::from_value::<Progress>(saved) {
            Ok(p) if p.chunks == plan && p.done.len() == plan.len() => {
                let done = p.done.iter().filter(|d| d.is_some()).count();
                tracing::info!(provider = %self.name, done, chunks = plan.len(),
                    "resuming a chunked transcription");
                Ok(p.done)
            }
            Ok(_) => Ok(fresh),
            Err(e) => {
                tracing::warn!(provider = %self.name, error = %e, "ignoring an unreadable checkpoint");
                Ok(fresh)
            }
        }
    }

    /// Saves the plan and the chunks finished so far on the step.
    async fn save_progress(
        &self,
        req: &TranscribeRequest,
        plan: &[Chunk],
        done: &[Option<Vec<Phrase>>],
    ) -> Result<(), ProviderError> {
        match &req.checkpoint {
            Some(cp) => {
                let state = json!({"chunks": plan, "done": done});
                cp.0.save(&self.name, Some(&state)).await
            }
            None => Ok(()),
        }
    }

    /// Forgets the progress of a finished transcription.
    async fn clear_progress(&self, req: &TranscribeRequest) -> Result<(), ProviderError> {
        match &req.checkpoint {
            Some(cp) => cp.0.save(&self.name, None).await,
            None => Ok(()),
        }
    }

    /// One chunk through the key pool: the whole file when it is the only chunk, otherwise a
    /// WAV of the chunk in `scratch`.
    async fn transcribe_chunk(
        &self,
        wav: &Path,
        chunk: Chunk,
        scratch: Option<&Path>,
        definition: &str,
    ) -> Result<Vec<Phrase>, ProviderError> {
        let path = match scratch {
            None => wav.to_path_buf(),
            Some(dir) => {
                let dest = dir.join(format!("chunk-{}.wav", chunk.start));
                let (src, to) = (wav.to_path_buf(), dest.clone());
                crate::telemetry::spawn_blocking(move || chunking::write_chunk(&src, chunk, &to))
                    .await
                    .map_err(|e| self.unavailable(format!("the chunk writer stopped: {e}")))?
                    .map_err(|e| self.audio_error("cannot cut a chunk of the audio".into(), e))?;
                dest
            }
        };
        let body = self
            .keys
            .call(|key| {
                let path = &path;
                async move { self.client.transcribe(key.as_ref(), path, definition).await }
            })
            .await;
        if scratch.is_some() {
            // Best effort: the scratch directory goes away at the end of the call anyway.
            let _ = tokio::fs::remove_file(&path).await;
        }
        let body = body?;
        protocol::parse(&body, chunk.secs()).map_err(|e| ProviderError::InvalidResponse {
            provider: self.name.clone(),
            detail: format!(
                "not a fast transcription result ({e}): {}",
                body_excerpt(&body, None)
            ),
        })
    }

    /// `Speaker N` for every (chunk, Azure speaker), numbered by first appearance in the
    /// meeting; across several chunks the speakers are matched by voice first.
    async fn speaker_names(
        &self,
        wav: &Path,
        plan: &[Chunk],
        chunks: &[Vec<Phrase>],
    ) -> Result<HashMap<(usize, u32), String>, ProviderError> {
        let spans: Vec<SpeakerSpan> = plan
            .iter()
            .zip(chunks)
            .enumerate()
            .flat_map(|(i, (chunk, phrases))| {
                phrases.iter().filter_map(move |p| {
                    p.speaker.map(|speaker| SpeakerSpan {
                        chunk: i,
                        speaker,
                        start: chunk.start_secs() + p.start,
                        end: chunk.start_secs() + p.end,
                    })
                })
            })
            .collect();
        let chunked = plan.len() > 1;
        let global: HashMap<(usize, u32), usize> = if chunked && !spans.is_empty() {
            let (voices, path, spans) = (self.voices.clone(), wav.to_path_buf(), spans.clone());
            let threshold = self.settings.reconcile_threshold;
            let matched = crate::telemetry::spawn_blocking(move || {
                let engine = voices.engine()?;
                tracing::info!(engine = engine.name(), "matching speakers across chunks");
                let threshold = threshold.unwrap_or_else(|| reconcile::default_threshold(&*engine));
                reconcile::reconcile(&path, &spans, &*engine, threshold)
            })
            .await
            .map_err(|e| self.unavailable(format!("speaker matching stopped: {e}")))?;
            // Nothing was paid for here and the chunks stay checkpointed: a retry is cheap.
            matched.map_err(|e| self.unavailable(format!("speaker matching failed: {e}")))?
        } else {
            spans
                .iter()
                .map(|s| ((s.chunk, s.speaker), s.speaker as usize))
                .collect()
        };
        let mut order: Vec<&SpeakerSpan> = spans.iter().collect();
        order.sort_by(|a, b| a.start.total_cmp(&b.start));
        let mut names: HashMap<usize, String> = HashMap::new();
        let mut out = HashMap::new();
        for span in order {
            let key = (span.chunk, span.speaker);
            let Some(&g) = global.get(&key) else { continue };
            let next = names.len() + 1;
            let name = names
                .entry(g)
                .or_insert_with(|| format!("Speaker {next}"))
                .clone();
            out.entry(key).or_insert(name);
        }
        Ok(out)
    }
}

#[async_trait]
impl SpeechToText for AzureAsr {
    fn name(&self) -> &str {
        &self.name
    }

    async fn transcribe(&self, req: &TranscribeRequest) -> Result<AsrOutput, ProviderError> {
        let locales = protocol::locales(&req.language).map_err(|e| self.rejected(e))?;
        let definition = self.definition(&locales, &req.hotwords)?;
        let plan = self.plan(&req.audio_wav).await?;
        let total = plan.last().map_or(0, |c| c.end);
        let mut done = self.resume(req, &plan).await?;
        let scratch =
            if plan.len() > 1 {
                Some(tempfile::tempdir().map_err(|e| {
                    self.unavailable(format!("cannot make a scratch directory: {e}"))
                })?)
            } else {
                None
            };
        if total > 0 {
            tracing::info!(provider = %self.name, chunks = plan.len(),
                audio_secs = total as f64 / chunking::SAMPLE_RATE as f64, "transcribing");
        }
        for (i, chunk) in plan.iter().enumerate() {
            if done[i].is_some() || total == 0 {
                continue;
            }
            let phrases = self
                .transcribe_chunk(
                    &req.audio_wav,
                    *chunk,
                    scratch.as_ref().map(|d| d.path()),
                    &definition,
                )
                .await?;
            done[i] = Some(phrases);
            if plan.len() > 1 {
                self.save_progress(req, &plan, &done).await?;
            }
            if let Some(progress) = &req.progress {
                // The last tenth is left for matching the speakers.
                progress.report(0.9 * chunk.end as f64 / total as f64);
            }
        }
        let chunks: Vec<Vec<Phrase>> = done.into_iter().map(Option::unwrap_or_default).collect();
        let names = self.speaker_names(&req.audio_wav, &plan, &chunks).await?;
        let mut segments = Vec::new();
        let mut locale_secs: HashMap<&str, f64> = HashMap::new();
        for (i, (chunk, phrases)) in plan.iter().zip(&chunks).enumerate() {
            let offset = chunk.start_secs();
            for p in phrases {
                if let Some(locale) = &p.locale {
                    *locale_secs.entry(locale).or_default() += p.end - p.start;
                }
                segments.push(AsrSegment {
                    start: offset + p.start,
                    end: offset + p.end.max(p.start),
                    text: p.text.clone(),
                    speaker: p.speaker.and_then(|s| names.get(&(i, s)).cloned()),
                    confidence: p.confidence.map(|c| c.clamp(0.0, 1.0)),
                });
            }
        }
        segments.sort_by(|a, b| a.start.total_cmp(&b.start));
        if plan.len() > 1 {
            self.clear_progress(req).await?;
        }
        // With explicit locales the task's language stands; for `auto`, what Azure heard most.
        let language = locales
            .is_empty()
            .then(|| {
                locale_secs
                    .into_iter()
                    .max_by(|a, b| a.1.total_cmp(&b.1))
                    .map(|(locale, _)| locale.to_string())
            })
            .flatten();
        Ok(AsrOutput {
            segments,
            language,
            provider: self.name.clone(),
            fallback_errors: Vec::new(),
        })
    }
}

#[cfg(test)]
pub(crate) mod tests;
