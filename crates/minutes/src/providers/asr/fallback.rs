//! A speech-to-text chain that tries providers in order until one succeeds.
use std::sync::Arc;

use async_trait::async_trait;

use crate::providers::chain::Failures;
use crate::providers::{AsrOutput, ProviderError, SpeechToText, TranscribeRequest};
use crate::telemetry::metrics::Metrics;

/// Tries each provider in order. Every error class falls back — even Auth and Rejected, because
/// the next provider has its own credentials and its own limits on what it accepts.
#[derive(Clone)]
pub struct FallbackAsr {
    chain: Vec<Arc<dyn SpeechToText>>,
    name: String,
    metrics: Option<Arc<Metrics>>,
}

impl FallbackAsr {
    /// An empty chain is allowed but every call then fails with `AllFailed([])`.
    pub fn new(chain: Vec<Arc<dyn SpeechToText>>) -> Self {
        let names: Vec<&str> = chain.iter().map(|p| p.name()).collect();
        let name = format!("fallback[{}]", names.join(","));
        Self {
            chain,
            name,
            metrics: None,
        }
    }

    /// Counts each hand-over in `minutes_provider_fallbacks_total{chain="asr"}`.
    pub fn with_metrics(mut self, metrics: Arc<Metrics>) -> Self {
        self.metrics = Some(metrics);
        self
    }

    pub fn chain(&self) -> &[Arc<dyn SpeechToText>] {
        &self.chain
    }
}

impl std::fmt::Debug for FallbackAsr {
    // `dyn SpeechToText` has no Debug; the provider names are what matters when debugging.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FallbackAsr")
            .field("name", &self.name)
            .finish()
    }
}

#[async_trait]
impl SpeechToText for FallbackAsr {
    fn name(&self) -> &str {
        &self.name
    }

    fn primary_name(&self) -> &str {
        self.chain.first().map(|p| p.name()).unwrap_or("")
    }

    async fn transcribe(&self, req: &TranscribeRequest) -> Result<AsrOutput, ProviderError> {
        let mut failures = Failures::default();
        for (i, provider) in self.chain.iter().enumerate() {
            match provider.transcribe(req).await {
                Ok(mut out) => {
                    out.fallback_errors = failures.before(std::mem::take(&mut out.fallback_errors));
                    return Ok(out);
                }
                Err(err) => failures.hand_over(
                    "asr",
                    self.metrics.as_deref(),
                    provider.name(),
                    self.chain.get(i + 1).map(|p| p.name()),
                    err,
                ),
            }
        }
        Err(failures.into_error())
    }
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    use super::*;
    use crate::providers::AsrSegment;

    /// A provider that answers with a fixed result and counts its calls.
    struct Scripted {
        name: &'static str,
        result: Result<AsrOutput, ProviderError>,
        calls: AtomicUsize,
    }

    impl Scripted {
        fn ok(name: &'static str) -> Arc<Self> {
            Arc::new(Self {
                name,
                result: Ok(AsrOutput {
                    segments: vec![AsrSegment {
                        start: 0.0,
                        end: 1.0,
                        text: format!("from {name}"),
                        speaker: None,
                        confidence: None,
                    }],
                    language: Some("en".into()),
                    provider: name.into(),
                    fallback_errors: vec![],
                }),
                calls: AtomicUsize::new(0),
            })
        }

        fn err(name: &'static str, err: ProviderError) -> Arc<Self> {
            Arc::new(Self {
                name,
                result: Err(err),
                calls: AtomicUsize::new(0),
            })
        }
    }

    #[async_trait]
    impl SpeechToText for Scripted {
        fn name(&self) -> &str {
            self.name
        }

        async fn transcribe(&self, _req: &TranscribeRequest) -> Result<AsrOutput, ProviderError> {
            self.calls.fetch_add(1, Ordering::SeqCst);
            self.result.clone()
        }
    }

    fn req() -> TranscribeRequest {
        TranscribeRequest {
            progress: None,
            audio_wav: PathBuf::from("/tmp/x.wav"),
            duration_secs: 1.0,
            language: "en-US".into(),
            hotwords: vec![],
            ..Default::default()
        }
    }

    fn rate_limited(provider: &str) -> ProviderError {
        ProviderError::RateLimited {
            provider: provider.into(),
            retry_after: Some(Duration::from_secs(7)),
        }
    }

    #[tokio::test]
    async fn primary_failure_falls_back_to_secondary() {
        let primary = Scripted::err("primary", rate_limited("primary"));
        let secondary = Scripted::ok("secondary");
        let chain = FallbackAsr::new(vec![primary.clone(), secondary.clone()]);
        assert_eq!(chain.name(), "fallback[primary,secondary]");

        let out = chain.transcribe(&req()).await.expect("secondary succeeds");
        assert_eq!(out.provider, "secondary");
        assert_eq!(out.segments[0].text, "from secondary");
        assert_eq!(
            out.fallback_errors,
            vec![rate_limited("primary").to_string()]
        );
        assert_eq!(primary.calls.load(Ordering::SeqCst), 1);
        assert_eq!(secondary.calls.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn success_on_primary_skips_the_rest() {
        let primary = Scripted::ok("primary");
        let secondary = Scripted::ok("secondary");
        let out = FallbackAsr::new(vec![primary.clone(), secondary.clone()])
            .transcribe(&req())
            .await
            .expect("ok");
        assert_eq!(out.provider, "primary");
        assert!(out.fallback_errors.is_empty());
        assert_eq!(secondary.calls.load(Ordering::SeqCst), 0);
    }

    #[tokio::test]
    async fn auth_and_rejected_also_fall_back() {
        let auth = Scripted::err(
            "a",
            ProviderError::Auth {
                provider: "a".into(),
                detail: "bad key".into(),
            },
        );
        let rejected = Scripted::err(
            "b",
            ProviderError::Rejected {
                provider: "b".into(),
                detail: "too large".into(),
            },
        );
        let out = FallbackAsr::new(vec![auth, rejected, Scripted::ok("c")])
            .transcribe(&req())
            .await
            .expect("third succeeds");
        assert_eq!(out.provider, "c");
        assert_eq!(out.fallback_errors.len(), 2);
        assert!(out.fallback_errors[0].contains("bad key"));
        assert!(out.fallback_errors[1].contains("too large"));
    }

    #[tokio::test]
    async fn all_failing_reports_every_error() {
        let second = ProviderError::Unavailable {
            provider: "secondary".into(),
            detail: "HTTP 503".into(),
        };
        let err = FallbackAsr::new(vec![
            Scripted::err("primary", rate_limited("primary")),
            Scripted::err("secondary", second.clone()),
        ])
        .transcribe(&req())
        .await
        .expect_err("both fail");
        assert_eq!(
            err,
            ProviderError::AllFailed(vec![rate_limited("primary"), second])
        );
        // The caller still sees the rate-limit hint and a retryable class.
        assert!(err.is_retryable());
        assert_eq!(err.retry_after(), Some(Duration::from_secs(7)));
    }

    #[tokio::test]
    async fn nested_chains_flatten_their_errors() {
        let inner = FallbackAsr::new(vec![Scripted::err("a", rate_limited("a"))]);
        let err = FallbackAsr::new(vec![Arc::new(inner), Scripted::err("b", rate_limited("b"))])
            .transcribe(&req())
            .await
            .expect_err("all fail");
        assert_eq!(
            err,
            ProviderError::AllFailed(vec![rate_limited("a"), rate_limited("b")])
        );
    }

    #[tokio::test]
    async fn empty_chain_fails() {
        let err = FallbackAsr::new(vec![])
            .transcribe(&req())
            .await
            .expect_err("nothing to try");
        assert_eq!(err, ProviderError::AllFailed(vec![]));
    }
}
