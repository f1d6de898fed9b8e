//! Stage errors: a stable code, a user-facing message, a debug detail, and whether to retry.
use std::time::Duration;

use crate::providers::ProviderError;
use crate::store::StoreError;

#[derive(Debug, Clone, thiserror::Error)]
#[error("{code}: {detail}")]
pub struct StageError {
    pub code: String,
    /// Shown to users (task `error_message`).
    pub message: String,
    /// For operators (task `error_detail`, job error history).
    pub detail: String,
    pub retryable: bool,
    pub retry_after: Option<Duration>,
}

impl StageError {
    pub fn permanent(code: &str, message: impl Into<String>) -> StageError {
        let message = message.into();
        StageError {
            code: code.to_string(),
            detail: message.clone(),
            message,
            retryable: false,
            retry_after: None,
        }
    }

    pub fn transient(code: &str, message: impl Into<String>) -> StageError {
        StageError {
            retryable: true,
            ..StageError::permanent(code, message)
        }
    }

    pub fn internal(what: &str, e: impl std::fmt::Display) -> StageError {
        StageError {
            code: "internal_error".into(),
            message: "an internal error occurred; retry the task".into(),
            detail: format!("{what}: {e}"),
            retryable: true,
            retry_after: None,
        }
    }

    /// A provider failure in a stage, e.g. `asr` + RateLimited → `asr_rate_limited`, retryable.
    pub fn provider(stage: &str, e: &ProviderError) -> StageError {
        StageError {
            code: format!("{stage}_{}", e.code()),
            message: format!("{stage} provider failed: {e}"),
            detail: e.to_string(),
            retryable: e.is_retryable(),
            retry_after: e.retry_after(),
        }
    }
}

impl From<StoreError> for StageError {
    fn from(e: StoreError) -> Self {
        StageError::internal("database", e)
    }
}

/// How a job ended other than success.
#[derive(Debug, thiserror::Error)]
pub enum JobError {
    /// The lease was lost (reclaimed after expiry, or the task was cancelled): write nothing.
    #[error("lease lost")]
    Fenced,
    #[error(transparent)]
    Failed(StageError),
}

impl From<StageError> for JobError {
    fn from(e: StageError) -> Self {
        JobError::Failed(e)
    }
}

impl From<StoreError> for JobError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Fenced => JobError::Fenced,
            other => JobError::Failed(other.into()),
        }
    }
}
