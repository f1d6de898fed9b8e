//! Classified provider errors: callers branch on the class (retry, fall back, fail fast).
use std::time::Duration;

#[derive(Debug, Clone, thiserror::Error, PartialEq)]
pub enum ProviderError {
    #[error("{provider} rate-limited the request")]
    RateLimited {
        provider: String,
        retry_after: Option<Duration>,
    },
    #[error("{provider} is unavailable: {detail}")]
    Unavailable { provider: String, detail: String },
    #[error("{provider} timed out after {after:?}")]
    Timeout { provider: String, after: Duration },
    #[error("{provider} rejected the request: {detail}")]
    Rejected { provider: String, detail: String },
    #[error("{provider} blocked the content: {detail}")]
    ContentBlocked { provider: String, detail: String },
    #[error("{provider} refused the credentials: {detail}")]
    Auth { provider: String, detail: String },
    #[error("{provider} returned an unusable response: {detail}")]
    InvalidResponse { provider: String, detail: String },
    /// Every API key of the provider is rate-limited, out of quota or behind an open circuit
    /// breaker (or the provider said this key's quota is used up). Recovers on its own:
    /// `retry_after` is when the first key becomes usable again.
    #[error("{provider} has no usable API key: {detail}")]
    QuotaExceeded {
        provider: String,
        retry_after: Option<Duration>,
        detail: String,
    },
    #[error("no provider succeeded: {}", .0.iter().map(|e| e.to_string()).collect::<Vec<_>>().join("; "))]
    AllFailed(Vec<ProviderError>),
}

impl ProviderError {
    /// Whether trying the same call again later may succeed.
    pub fn is_retryable(&self) -> bool {
        match self {
            ProviderError::RateLimited { .. }
            | ProviderError::QuotaExceeded { .. }
            | ProviderError::Unavailable { .. }
            | ProviderError::Timeout { .. }
            | ProviderError::InvalidResponse { .. } => true,
            ProviderError::Rejected { .. }
            | ProviderError::ContentBlocked { .. }
            | ProviderError::Auth { .. } => false,
            ProviderError::AllFailed(errors) => errors.iter().any(ProviderError::is_retryable),
        }
    }

    /// The provider's own hint for when to retry, if it gave one.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            ProviderError::RateLimited { retry_after, .. }
            | ProviderError::QuotaExceeded { retry_after, .. } => *retry_after,
            ProviderError::AllFailed(errors) => errors.iter().filter_map(|e| e.retry_after()).min(),
            _ => None,
        }
    }

    /// Stable snake_case code stored on the task and returned to clients.
    pub fn code(&self) -> &'static str {
        match self {
            ProviderError::RateLimited { .. } => "rate_limited",
            ProviderError::QuotaExceeded { .. } => "quota_exceeded",
            ProviderError::Unavailable { .. } => "provider_unavailable",
            ProviderError::Timeout { .. } => "provider_timeout",
            ProviderError::Rejected { .. } => "provider_rejected",
            ProviderError::ContentBlocked { .. } => "content_blocked",
            ProviderError::Auth { .. } => "provider_auth_failed",
            ProviderError::InvalidResponse { .. } => "provider_invalid_response",
            ProviderError::AllFailed(errors) => errors
                .last()
                .map(|e| e.code())
                .unwrap_or("provider_unavailable"),
        }
    }
}
