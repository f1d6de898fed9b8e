//! What the ASR and LLM fallback chains share: how a failed link hands over to the next one
//! (logged, counted, its error kept) and how the winner's answer carries the earlier errors.
use crate::providers::ProviderError;
use crate::telemetry::metrics::Metrics;

/// The failures of a chain so far, as leaf errors (nested chains are flattened).
#[derive(Debug, Default)]
pub(crate) struct Failures {
    errors: Vec<ProviderError>,
}

impl Failures {
    /// Records that `provider` failed with `err`; `next` is who tries now (none: the end).
    /// `chain` names the chain in logs and in `minutes_provider_fallbacks_total`.
    pub(crate) fn hand_over(
        &mut self,
        chain: &'static str,
        metrics: Option<&Metrics>,
        provider: &str,
        next: Option<&str>,
        err: ProviderError,
    ) {
        match next {
            Some(next) => {
                tracing::warn!(chain, provider, next_provider = next, error = %err,
                    code = err.code(), "provider failed; falling back to {next}");
                if let Some(m) = metrics {
                    m.fallback(chain, provider, next, err.code());
                }
            }
            None => tracing::warn!(chain, provider, error = %err, code = err.code(),
                "provider failed; no provider left to fall back to"),
        }
        match err {
            ProviderError::AllFailed(inner) => self.errors.extend(inner),
            other => self.errors.push(other),
        }
    }

    /// The winner's own fallback errors, after the ones of the links that failed before it.
    pub(crate) fn before(&self, winners: Vec<String>) -> Vec<String> {
        self.errors
            .iter()
            .map(ToString::to_string)
            .chain(winners)
            .collect()
    }

    pub(crate) fn into_error(self) -> ProviderError {
        ProviderError::AllFailed(self.errors)
    }
}
