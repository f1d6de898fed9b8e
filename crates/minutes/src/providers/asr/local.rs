//! `asr.primary: local`: the embedded Whisper engine (crate `minutes-whisper`, cargo feature
//! `local-asr`). The model path is resolved when the service starts, so a missing model is a
//! startup error that says how to install it; the weights load on first use, so API-only
//! processes never hold them.
use std::sync::Arc;

use crate::config::Config;
use crate::providers::SpeechToText;

#[cfg(feature = "local-asr")]
pub use engine::LocalWhisper;

#[cfg(feature = "local-asr")]
pub fn build(config: &Config) -> anyhow::Result<Arc<dyn SpeechToText>> {
    use anyhow::Context;
    let dir = crate::models::resolve(
        std::path::Path::new(&config.models.dir),
        &config.asr.local.model,
        crate::models::ModelKind::WhisperCt2,
    )
    .context("asr.local.model")?;
    Ok(Arc::new(LocalWhisper::new(dir, config.asr.local.clone())))
}

#[cfg(not(feature = "local-asr"))]
pub fn build(_config: &Config) -> anyhow::Result<Arc<dyn SpeechToText>> {
    anyhow::bail!(
        "asr.primary is `local` but this binary was built without the embedded engine; \
         rebuild with `cargo build --release --features local-asr` (needs cmake and g++) \
         or set asr.primary to `openai` with asr.openai.base_url"
    )
}

#[cfg(feature = "local-asr")]
mod engine {
    use std::path::PathBuf;
    use std::sync::{Arc, OnceLock};

    use async_trait::async_trait;
    use minutes_whisper::{EngineOptions, TranscribeOptions, WhisperEngine};

    use crate::config::LocalAsrSettings;
    use crate::providers::{AsrOutput, AsrSegment, ProviderError, SpeechToText, TranscribeRequest};

    const NAME: &str = "local-whisper";

    pub struct LocalWhisper {
        inner: Arc<Inner>,
    }

    struct Inner {
        dir: PathBuf,
        settings: LocalAsrSettings,
        engine: OnceLock<Arc<WhisperEngine>>,
    }

    impl LocalWhisper {
        pub fn new(dir: PathBuf, settings: LocalAsrSettings) -> Self {
            Self {
                inner: Arc::new(Inner {
                    dir,
                    settings,
                    engine: OnceLock::new(),
                }),
            }
        }
    }

    impl Inner {
        fn engine(&self) -> Result<Arc<WhisperEngine>, ProviderError> {
            if let Some(engine) = self.engine.get() {
                return Ok(engine.clone());
            }
            let loaded = WhisperEngine::load(
                &self.dir,
                EngineOptions {
                    compute_type: self.settings.compute_type.clone(),
                    threads: self.settings.threads,
                    beam_size: self.settings.beam_size,
                    detect_language_windows: self.settings.detect_language_segments,
                },
            )
            .map_err(|e| ProviderError::Unavailable {
                provider: NAME.into(),
                detail: e.to_string(),
            })?;
            // Two first calls racing both load; one copy wins and the other is dropped.
            Ok(self.engine.get_or_init(|| Arc::new(loaded)).clone())
        }
    }

    /// The task's ASR language as a Whisper code; mixed zh+en meetings decode as `zh`, which
    /// keeps English words in Latin script.
    pub fn whisper_language(language: &str) -> Option<String> {
        let primary = language.split('+').next().unwrap_or(language);
        let code = primary
            .split(['-', '_'])
            .next()
            .unwrap_or(primary)
            .to_lowercase();
        (!code.is_empty() && code != "auto").then_some(code)
    }

    #[async_trait]
    impl SpeechToText for LocalWhisper {
        fn name(&self) -> &str {
            NAME
        }

        async fn transcribe(&self, req: &TranscribeRequest) -> Result<AsrOutput, ProviderError> {
            let inner = self.inner.clone();
            let wav = req.audio_wav.clone();
            let options = TranscribeOptions {
                language: whisper_language(&req.language),
                hotwords: req.hotwords.clone(),
            };
            let progress = req.progress.clone();
            let result = crate::telemetry::spawn_blocking(move || {
                let engine = inner.engine()?;
                engine
                    .transcribe_wav(&wav, &options, &mut |done| {
                        if let Some(p) = &progress {
                            p.report(done)
                        }
                    })
                    .map_err(|e| ProviderError::InvalidResponse {
                        provider: NAME.into(),
                        detail: e.to_string(),
                    })
            })
            .await
            .map_err(|e| ProviderError::Unavailable {
                provider: NAME.into(),
                detail: format!("the decoding thread stopped: {e}"),
            })??;
            Ok(AsrOutput {
                segments: result
                    .segments
                    .into_iter()
                    .map(|s| AsrSegment {
                        start: s.start,
                        end: s.end,
                        text: s.text,
                        speaker: None,
                        confidence: Some(s.avg_logprob.exp().clamp(0.0, 1.0)),
                    })
                    .collect(),
                language: Some(result.language),
                provider: NAME.into(),
                fallback_errors: Vec::new(),
            })
        }
    }

    #[cfg(test)]
    mod tests {
        #[test]
        fn task_languages_map_to_whisper_codes() {
            use super::whisper_language as w;
            assert_eq!(w("zh-CN").as_deref(), Some("zh"));
            assert_eq!(w("zh-CN+en-US").as_deref(), Some("zh"));
            assert_eq!(w("en-US").as_deref(), Some("en"));
            assert_eq!(w("ja-JP").as_deref(), Some("ja"));
            assert_eq!(w("auto"), None);
        }
    }
}
