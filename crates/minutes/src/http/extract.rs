//! Extractors whose rejections use the API error body (`{detail, code, retryable}`) instead of
//! axum's plain-text ones.
use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::{header, HeaderMap, StatusCode};
use serde::de::DeserializeOwned;
use serde_json::json;

use super::error::ApiError;
use super::AppState;

/// A JSON body, read up to `server.max_body_bytes` (413 beyond) and refused past
/// `server.max_json_depth` levels of nesting (400) before it is parsed, so a small body of
/// `[[[[…` cannot make the parser recurse deeply.
pub struct Json<T>(pub T);

impl<T: DeserializeOwned> FromRequest<AppState> for Json<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, app: &AppState) -> Result<Self, ApiError> {
        if !is_json(req.headers()) {
            return Err(ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                "send the body as application/json",
            ));
        }
        let limit = app.config.server.max_body_bytes;
        let declared = req
            .headers()
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        if declared.is_some_and(|n| n > limit as u64) {
            return Err(too_large(limit));
        }
        let bytes = axum::body::to_bytes(req.into_body(), limit)
            .await
            .map_err(|e| body_error(e, limit))?;
        let max_depth = app.config.server.max_json_depth;
        if nesting_exceeds(&bytes, max_depth) {
            return Err(ApiError::bad_request(
                "json_too_deep",
                format!("JSON nested deeper than {max_depth} levels"),
            ));
        }
        serde_json::from_slice(&bytes).map(Json).map_err(|e| {
            let detail = format!("invalid JSON body: {e}");
            if e.classify() == serde_json::error::Category::Data {
                ApiError::validation(vec![
                    json!({"loc": ["body"], "msg": detail, "type": "value_error"}),
                ])
            } else {
                ApiError::bad_request("invalid_json", detail)
            }
        })
    }
}

fn is_json(headers: &HeaderMap) -> bool {
    let Some(ct) = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
    else {
        return false;
    };
    let essence = ct
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    essence == "application/json"
        || (essence.starts_with("application/") && essence.ends_with("+json"))
}

fn too_large(limit: usize) -> ApiError {
    ApiError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        "payload_too_large",
        format!("the body is larger than {limit} bytes"),
    )
}

/// Over the size limit → 413; the client stalled (body read timeout) → 408; else 400.
fn body_error(e: axum::Error, limit: usize) -> ApiError {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(&e);
    while let Some(err) = source {
        if err.is::<http_body_util::LengthLimitError>() {
            return too_large(limit);
        }
        if err.is::<tower_http::timeout::TimeoutError>() {
            return ApiError::new(
                StatusCode::REQUEST_TIMEOUT,
                "request_timeout",
                "the request body stalled",
            );
        }
        source = err.source();
    }
    ApiError::bad_request("invalid_body", format!("cannot read the body: {e}"))
}

/// Whether arrays/objects nest deeper than `max` (strings, including escaped quotes, skipped).
pub fn nesting_exceeds(json: &[u8], max: usize) -> bool {
    let (mut depth, mut in_string, mut escaped) = (0usize, false, false);
    for &b in json {
        if in_string {
            match b {
                _ if escaped => escaped = false,
                b'\\' => escaped = true,
                b'"' => in_string = false,
                _ => {}
            }
            continue;
        }
        match b {
            b'"' => in_string = true,
            b'[' | b'{' => {
                depth += 1;
                if depth > max {
                    return true;
                }
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    false
}

#[derive(FromRequestParts)]
#[from_request(via(axum::extract::Query), rejection(ApiError))]
pub struct Query<T>(pub T);

#[derive(FromRequestParts)]
#[from_request(via(axum::extract::Path), rejection(ApiError))]
pub struct Path<T>(pub T);

impl From<QueryRejection> for ApiError {
    fn from(r: QueryRejection) -> Self {
        ApiError::new(StatusCode::BAD_REQUEST, "invalid_query", r.body_text())
    }
}

impl From<PathRejection> for ApiError {
    fn from(r: PathRejection) -> Self {
        ApiError::new(StatusCode::BAD_REQUEST, "invalid_path", r.body_text())
    }
}

impl<T: serde::Serialize> axum::response::IntoResponse for Json<T> {
    fn into_response(self) -> axum::response::Response {
        axum::Json(self.0).into_response()
    }
}

#[cfg(test)]
mod tests {
    use super::nesting_exceeds;

    #[test]
    fn nesting_is_counted_outside_strings_only() {
        let deep = format!("{}{}", "[".repeat(33), "]".repeat(33));
        assert!(nesting_exceeds(deep.as_bytes(), 32));
        assert!(!nesting_exceeds(deep.as_bytes(), 33));
        assert!(!nesting_exceeds(
            br#"{"a": "[[[[[[[[[[", "b": "\"[[[["}"#,
            1
        ));
        assert!(nesting_exceeds(br#"{"a": {"b": 1}}"#, 1));
        assert!(!nesting_exceeds(br#"{"a": 1, "b": [1, 2]}"#, 2));
    }
}
