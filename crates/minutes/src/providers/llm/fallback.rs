//! A language-model chain (`llm.provider` then `llm.fallback`): the next model writes the
//! artifact when the one before it fails — content blocked by a safety filter, unavailable,
//! rate-limited past its retries, out of quota. Every hand-over is logged and counted.
use std::sync::Arc;

use async_trait::async_trait;

use crate::providers::chain::Failures;
use crate::providers::{GenerateOutput, GenerateRequest, LanguageModel, ProviderError};
use crate::telemetry::metrics::Metrics;

pub struct FallbackLlm {
    chain: Vec<Arc<dyn LanguageModel>>,
    name: String,
    metrics: Option<Arc<Metrics>>,
}

impl FallbackLlm {
    /// Needs at least one model; the first is the primary.
    pub fn new(chain: Vec<Arc<dyn LanguageModel>>) -> Self {
        let names: Vec<&str> = chain.iter().map(|p| p.name()).collect();
        let name = format!("fallback[{}]", names.join(","));
        Self {
            chain,
            name,
            metrics: None,
        }
    }

    /// Counts each hand-over in `minutes_provider_fallbacks_total{chain="llm"}`.
    pub fn with_metrics(mut self, metrics: Arc<Metrics>) -> Self {
        self.metrics = Some(metrics);
        self
    }
}

impl std::fmt::Debug for FallbackLlm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FallbackLlm")
            .field("name", &self.name)
            .finish()
    }
}

#[async_trait]
impl LanguageModel for FallbackLlm {
    fn name(&self) -> &str {
        &self.name
    }

    fn primary_name(&self) -> &str {
        self.chain.first().map(|m| m.name()).unwrap_or("")
    }

    /// The primary's model: what the artifact is expected to come from.
    fn model(&self) -> &str {
        self.chain.first().map(|m| m.model()).unwrap_or("")
    }

    /// Chunk when any model of the chain needs it: the same parts must fit the fallback too.
    fn needs_chunking(&self) -> bool {
        self.chain.iter().any(|m| m.needs_chunking())
    }

    async fn generate(&self, req: &GenerateRequest) -> Result<GenerateOutput, ProviderError> {
        let mut failures = Failures::default();
        for (i, model) in self.chain.iter().enumerate() {
            match model.generate(req).await {
                Ok(mut out) => {
                    out.fallback_errors = failures.before(std::mem::take(&mut out.fallback_errors));
                    return Ok(out);
                }
                Err(err) => failures.hand_over(
                    "llm",
                    self.metrics.as_deref(),
                    model.name(),
                    self.chain.get(i + 1).map(|m| m.name()),
                    err,
                ),
            }
        }
        Err(failures.into_error())
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use serde_json::json;

    use super::*;
    use crate::providers::TokenUsage;

    /// Answers from a script: an error, or a JSON object under its own name.
    struct Scripted {
        name: &'static str,
        fail: Option<fn(&str) -> ProviderError>,
        calls: AtomicUsize,
    }

    impl Scripted {
        fn new(name: &'static str, fail: Option<fn(&str) -> ProviderError>) -> Arc<Self> {
            Arc::new(Self {
                name,
                fail,
                calls: AtomicUsize::new(0),
            })
        }
    }

    #[async_trait]
    impl LanguageModel for Scripted {
        fn name(&self) -> &str {
            self.name
        }
        fn model(&self) -> &str {
            "m"
        }
        async fn generate(&self, _: &GenerateRequest) -> Result<GenerateOutput, ProviderError> {
            self.calls.fetch_add(1, Ordering::SeqCst);
            if let Some(fail) = self.fail {
                return Err(fail(self.name));
            }
            Ok(GenerateOutput {
                content: json!({"by": self.name}),
                provider: self.name.to_string(),
                model: "m".into(),
                usage: TokenUsage {
                    prompt_tokens: 10,
                    completion_tokens: 5,
                },
                fallback_errors: Vec::new(),
            })
        }
    }

    fn blocked(p: &str) -> ProviderError {
        ProviderError::ContentBlocked {
            provider: p.into(),
            detail: "finishReason SAFETY".into(),
        }
    }

    fn unavailable(p: &str) -> ProviderError {
        ProviderError::Unavailable {
            provider: p.into(),
            detail: "503".into(),
        }
    }

    #[tokio::test]
    async fn blocked_content_is_written_by_the_fallback_and_the_hand_over_is_counted() {
        let metrics = Arc::new(Metrics::new());
        let (gemini, openai) = (
            Scripted::new("gemini", Some(blocked)),
            Scripted::new("openai-chat", None),
        );
        let chain =
            FallbackLlm::new(vec![gemini.clone(), openai.clone()]).with_metrics(metrics.clone());
        let out = chain.generate(&GenerateRequest::default()).await.unwrap();
        assert_eq!(out.content, json!({"by": "openai-chat"}));
        assert_eq!(
            out.provider, "openai-chat",
            "billed to the model that answered"
        );
        assert_eq!(out.fallback_errors.len(), 1);
        assert!(
            out.fallback_errors[0].contains("blocked"),
            "{:?}",
            out.fallback_errors
        );
        assert_eq!(
            metrics.fallback_count("llm", "gemini", "openai-chat", "content_blocked"),
            1
        );
        assert_eq!(openai.calls.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn when_every_model_fails_both_errors_are_kept() {
        let chain = FallbackLlm::new(vec![
            Scripted::new("gemini", Some(blocked)),
            Scripted::new("openai-chat", Some(unavailable)),
        ]);
        let err = chain
            .generate(&GenerateRequest::default())
            .await
            .unwrap_err();
        let ProviderError::AllFailed(errors) = &err else {
            panic!("expected AllFailed, got {err:?}");
        };
        let codes: Vec<&str> = errors.iter().map(ProviderError::code).collect();
        assert_eq!(codes, ["content_blocked", "provider_unavailable"]);
        // One of them may pass later, so the job retries.
        assert!(err.is_retryable());
    }

    #[tokio::test]
    async fn a_healthy_primary_never_calls_the_fallback() {
        let openai = Scripted::new("openai-chat", None);
        let chain = FallbackLlm::new(vec![Scripted::new("gemini", None), openai.clone()]);
        let out = chain.generate(&GenerateRequest::default()).await.unwrap();
        assert_eq!(out.provider, "gemini");
        assert!(out.fallback_errors.is_empty());
        assert_eq!(openai.calls.load(Ordering::SeqCst), 0);
    }
}
