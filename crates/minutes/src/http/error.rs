//! `ApiError`: the one error type handlers return, rendered as `{detail, code, retryable}`.
//! 5xx details are logged once here and never sent to the client.
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};

use crate::store::StoreError;

#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub detail: String,
    pub retryable: bool,
    /// Field-level validation errors (422).
    pub errors: Option<Value>,
    pub retry_after_secs: Option<u64>,
    /// Logged, never returned.
    pub internal: Option<String>,
}

pub type ApiResult<T> = Result<T, ApiError>;

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, detail: impl Into<String>) -> ApiError {
        ApiError {
            status,
            code,
            detail: detail.into(),
            retryable: false,
            errors: None,
            retry_after_secs: None,
            internal: None,
        }
    }

    pub fn bad_request(code: &'static str, detail: impl Into<String>) -> ApiError {
        Self::new(StatusCode::BAD_REQUEST, code, detail)
    }

    pub fn not_found(what: &str) -> ApiError {
        Self::new(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("{what} not found"),
        )
    }

    pub fn unauthorized(detail: impl Into<String>) -> ApiError {
        Self::new(StatusCode::UNAUTHORIZED, "not_authenticated", detail)
    }

    pub fn validation(errors: Vec<Value>) -> ApiError {
        let summary = errors
            .iter()
            .filter_map(|e| e["msg"].as_str().map(|m| format!("{}: {m}", e["loc"])))
            .collect::<Vec<_>>()
            .join("; ");
        ApiError {
            errors: Some(Value::Array(errors)),
            ..Self::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "validation_error",
                summary,
            )
        }
    }

    /// A 422 for one body field; a dotted name (`prompt_instance.prompt_text`) is its path.
    pub fn field(loc: &str, msg: impl Into<String>) -> ApiError {
        let path: Vec<&str> = std::iter::once("body").chain(loc.split('.')).collect();
        Self::validation(vec![
            json!({"loc": path, "msg": msg.into(), "type": "value_error"}),
        ])
    }

    pub fn internal(e: impl std::fmt::Display) -> ApiError {
        ApiError {
            internal: Some(e.to_string()),
            retryable: true,
            ..Self::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal_error",
                "internal server error",
            )
        }
    }

    pub fn retryable(mut self) -> ApiError {
        self.retryable = true;
        self
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound => ApiError::not_found("resource"),
            StoreError::InvalidState { state, action } => ApiError::bad_request(
                "invalid_state",
                format!("the task is {state}: {action} is not allowed in this state"),
            ),
            StoreError::Conflict(msg) => ApiError::new(StatusCode::CONFLICT, "conflict", msg),
            other => ApiError::internal(other),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if self.status.is_server_error() {
            tracing::error!(
                status = self.status.as_u16(),
                code = self.code,
                error = self.internal.as_deref().unwrap_or(&self.detail),
                "request failed"
            );
        }
        let mut body =
            json!({"detail": self.detail, "code": self.code, "retryable": self.retryable});
        if let Some(errors) = self.errors {
            body["errors"] = errors;
        }
        let mut response = (self.status, Json(body)).into_response();
        if let Some(secs) = self.retry_after_secs {
            if let Ok(v) = HeaderValue::from_str(&secs.to_string()) {
                response.headers_mut().insert(header::RETRY_AFTER, v);
            }
        }
        response
    }
}
