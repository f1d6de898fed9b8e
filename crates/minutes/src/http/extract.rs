//! Extractors whose rejections use the API error body (`{detail, code, retryable}`) instead of
//! axum's plain-text ones (JSON, multipart, query, path).
use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, StatusCode};
use serde::de::DeserializeOwned;
use serde_json::{json, Value};

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
        parse_json(&bytes).map(Json)
    }
}

/// Parses a JSON body: malformed → 400 `invalid_json`, the wrong shape → 422. Text with NUL
/// characters is refused (422) before it gets near the database: PostgreSQL's `text` and
/// `jsonb` cannot hold U+0000, so it would fail there as a 500.
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let invalid = |detail: String| {
        ApiError::validation(vec![
            json!({"loc": ["body"], "msg": detail, "type": "value_error"}),
        ])
    };
    let value: Value = serde_json::from_slice(bytes).map_err(|e| {
        let detail = format!("invalid JSON body: {e}");
        if e.classify() == serde_json::error::Category::Data {
            invalid(detail)
        } else {
            ApiError::bad_request("invalid_json", detail)
        }
    })?;
    if contains_nul(&value) {
        return Err(invalid(NUL_TEXT.into()));
    }
    serde_json::from_value(value).map_err(|e| invalid(format!("invalid JSON body: {e}")))
}

const NUL_TEXT: &str = "text must not contain NUL (U+0000) characters";

fn contains_nul(v: &Value) -> bool {
    match v {
        Value::String(s) => s.contains('\0'),
        Value::Array(items) => items.iter().any(contains_nul),
        Value::Object(map) => map.iter().any(|(k, v)| k.contains('\0') || contains_nul(v)),
        _ => false,
    }
}

/// A percent-encoded NUL in a path or query (the only way one reaches us: raw NUL bytes are not
/// valid in a URI).
fn has_encoded_nul(s: &str) -> bool {
    s.as_bytes()
        .windows(3)
        .any(|w| w[0] == b'%' && w[1] == b'0' && w[2] == b'0')
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

/// A multipart body (read with `next_field`, as axum's); a request that is not
/// `multipart/form-data` with a boundary gets the API error body, not axum's plain text.
pub struct Multipart(pub axum::extract::Multipart);

impl FromRequest<AppState> for Multipart {
    type Rejection = ApiError;

    async fn from_request(req: Request, app: &AppState) -> Result<Self, ApiError> {
        axum::extract::Multipart::from_request(req, app)
            .await
            .map(Multipart)
            .map_err(|r| ApiError::new(r.status(), "invalid_multipart", r.body_text()))
    }
}

impl std::ops::Deref for Multipart {
    type Target = axum::extract::Multipart;
    fn deref(&self) -> &Self::Target {
        &self.0
    }
}

impl std::ops::DerefMut for Multipart {
    fn deref_mut(&mut self) -> &mut Self::Target {
        &mut self.0
    }
}

/// Query parameters (no NUL characters: see `parse_json`).
pub struct Query<T>(pub T);

impl<T: DeserializeOwned> FromRequestParts<AppState> for Query<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, app: &AppState) -> Result<Self, ApiError> {
        if has_encoded_nul(parts.uri.query().unwrap_or("")) {
            return Err(ApiError::bad_request("invalid_query", NUL_TEXT));
        }
        let axum::extract::Query(value) =
            axum::extract::Query::<T>::from_request_parts(parts, app).await?;
        Ok(Query(value))
    }
}

/// Path parameters (no NUL characters: see `parse_json`).
pub struct Path<T>(pub T);

impl<T: DeserializeOwned + Send> FromRequestParts<AppState> for Path<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, app: &AppState) -> Result<Self, ApiError> {
        if has_encoded_nul(parts.uri.path()) {
            return Err(ApiError::bad_request("invalid_path", NUL_TEXT));
        }
        let axum::extract::Path(value) =
            axum::extract::Path::<T>::from_request_parts(parts, app).await?;
        Ok(Path(value))
    }
}

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

/// A list request's page: `limit` 1..=1000 (100 when absent), `offset` ≥ 0.
pub fn page(limit: Option<i64>, offset: Option<i64>) -> (i64, i64) {
    (
        limit.unwrap_or(100).clamp(1, 1000),
        offset.unwrap_or(0).max(0),
    )
}

#[cfg(test)]
mod tests {
    use super::nesting_exceeds;

    #[test]
    fn nul_characters_are_found_in_text_keys_and_encoded_urls() {
        use super::{contains_nul, has_encoded_nul};
        assert!(contains_nul(&serde_json::json!({"a": ["x", "b\u{0}"]})));
        assert!(contains_nul(&serde_json::json!({"k\u{0}": 1})));
        assert!(!contains_nul(&serde_json::json!({"a": ["x", 0, null]})));
        assert!(has_encoded_nul("/api/v1/tasks/a%00b"));
        assert!(!has_encoded_nul("q=%100&r=%0A"));
    }

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
