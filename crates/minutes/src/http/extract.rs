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

/// Parses a JSON body into `T`. Every refusal is a 422 whose `errors` name the place the way
/// FastAPI does (`loc: ["body", "prompt_instance", "template_id"]`, pydantic's `type` names),
/// so clients of the original API read them unchanged: malformed JSON is `json_invalid` at the
/// character offset, a missing field `missing`, a wrong type `string_type`, `int_parsing`, …
/// Text with NUL characters is refused before it gets near the database: PostgreSQL's `text`
/// and `jsonb` cannot hold U+0000, so it would fail there as a 500.
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let value: Value = serde_json::from_slice(bytes).map_err(|e| {
        let at = char_offset(bytes, e.line(), e.column());
        ApiError {
            code: "invalid_json",
            ..ApiError::validation(vec![
                json!({"loc": ["body", at], "msg": e.to_string(), "type": "json_invalid"}),
            ])
        }
    })?;
    if let Some(path) = nul_path(&value) {
        let mut loc = vec![json!("body")];
        loc.extend(path);
        return Err(ApiError::validation(vec![
            json!({"loc": loc, "msg": NUL_TEXT, "type": "value_error"}),
        ]));
    }
    serde_path_to_error::deserialize(value)
        .map_err(|e| ApiError::validation(vec![field_error(e.path(), &e.inner().to_string())]))
}

/// One `{loc, msg, type}` from serde's message (`missing field `x``, `invalid type: string
/// "a", expected u32`, …) and the path where it stopped. For a missing or unknown field the
/// path ends at the object, so the field's name is appended from the message.
fn field_error(path: &serde_path_to_error::Path, msg: &str) -> Value {
    use serde_path_to_error::Segment;
    let mut loc = vec![json!("body")];
    loc.extend(path.iter().filter_map(|s| match s {
        Segment::Seq { index } => Some(json!(index)),
        Segment::Map { key } => Some(json!(key)),
        Segment::Enum { variant } => Some(json!(variant)),
        Segment::Unknown => None,
    }));
    let quoted = || msg.split('`').nth(1).map(str::to_string);
    let kind = if let Some(field) = msg.strip_prefix("missing field ").and(quoted()) {
        loc.push(json!(field));
        "missing"
    } else if let Some(field) = msg.strip_prefix("unknown field ").and(quoted()) {
        loc.push(json!(field));
        "extra_forbidden"
    } else if let Some(rest) = msg.strip_prefix("invalid type: ") {
        // The found value is printed first and may itself contain ", expected ".
        match rest.rsplit_once(", expected ") {
            Some((found, expected)) => type_error(expected, found.starts_with("string ")),
            None => "value_error",
        }
    } else if msg.starts_with("unknown variant ") {
        "enum"
    } else {
        "value_error"
    };
    let msg = if kind == "missing" {
        "field required"
    } else {
        msg
    };
    json!({"loc": loc, "msg": msg, "type": kind})
}

/// pydantic's name for "expected <what serde expected>"; `*_parsing` when a string came instead
/// (pydantic's name for text that does not parse as the type).
fn type_error(expected: &str, found_string: bool) -> &'static str {
    const INTEGERS: [&str; 12] = [
        "i8", "i16", "i32", "i64", "i128", "isize", "u8", "u16", "u32", "u64", "u128", "usize",
    ];
    let pick = |parsing, wrong| if found_string { parsing } else { wrong };
    match expected {
        e if e.contains("string") => "string_type",
        "a boolean" => pick("bool_parsing", "bool_type"),
        "f32" | "f64" => pick("float_parsing", "float_type"),
        e if INTEGERS.contains(&e) || e.starts_with("a nonzero ") || e.contains("integer") => {
            pick("int_parsing", "int_type")
        }
        e if e == "a sequence" || e.starts_with("a tuple") || e.contains("array") => "list_type",
        e if e == "a map" || e.starts_with("struct ") => "dict_type",
        _ => "value_error",
    }
}

/// The 0-based character offset of serde's 1-based line and column (the column counts bytes),
/// as FastAPI reports where JSON decoding stopped.
fn char_offset(bytes: &[u8], line: usize, column: usize) -> usize {
    let line_start: usize = bytes
        .split_inclusive(|b| *b == b'\n')
        .take(line.saturating_sub(1))
        .map(<[u8]>::len)
        .sum();
    let end = (line_start + column.saturating_sub(1)).min(bytes.len());
    String::from_utf8_lossy(&bytes[..end]).chars().count()
}

const NUL_TEXT: &str = "text must not contain NUL (U+0000) characters";

/// Where the first text with a NUL character is (empty: the body itself), if any.
fn nul_path(v: &Value) -> Option<Vec<Value>> {
    let within = |key: Value, v: &Value| {
        nul_path(v).map(|mut path| {
            path.insert(0, key);
            path
        })
    };
    match v {
        Value::String(s) => s.contains('\0').then(Vec::new),
        Value::Array(items) => items
            .iter()
            .enumerate()
            .find_map(|(i, item)| within(json!(i), item)),
        Value::Object(map) => map.iter().find_map(|(k, v)| {
            if k.contains('\0') {
                Some(vec![json!(k)])
            } else {
                within(json!(k), v)
            }
        }),
        _ => None,
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
        use super::{has_encoded_nul, nul_path};
        use serde_json::json;
        assert_eq!(
            nul_path(&json!({"a": ["x", "b\u{0}"]})),
            Some(vec![json!("a"), json!(1)])
        );
        assert_eq!(nul_path(&json!({"k\u{0}": 1})), Some(vec![json!("k\u{0}")]));
        assert_eq!(nul_path(&json!("\u{0}")), Some(vec![]));
        assert_eq!(nul_path(&json!({"a": ["x", 0, null]})), None);
        assert!(has_encoded_nul("/api/v1/tasks/a%00b"));
        assert!(!has_encoded_nul("q=%100&r=%0A"));
    }

    /// The `errors` entry of a refused body.
    fn refusal<T: serde::de::DeserializeOwned>(body: &str) -> serde_json::Value {
        let e = super::parse_json::<T>(body.as_bytes())
            .err()
            .expect("refused");
        assert_eq!(e.status, axum::http::StatusCode::UNPROCESSABLE_ENTITY);
        e.errors.expect("errors")[0].clone()
    }

    #[test]
    fn body_errors_name_the_field_and_pydantic_type() {
        use serde_json::json;
        #[derive(Debug, serde::Deserialize)]
        #[allow(dead_code)]
        struct Inner {
            template_id: String,
            weights: Vec<u32>,
        }
        #[derive(Debug, serde::Deserialize)]
        #[allow(dead_code)]
        struct Outer {
            name: String,
            count: Option<i64>,
            ratio: Option<f64>,
            flag: Option<bool>,
            tags: Option<Vec<String>>,
            inner: Option<Inner>,
        }
        let at = |body: &str| {
            let e = refusal::<Outer>(body);
            (e["loc"].clone(), e["type"].as_str().unwrap().to_string())
        };
        assert_eq!(at(r#"{}"#), (json!(["body", "name"]), "missing".into()));
        assert_eq!(
            at(r#"{"name": 5}"#),
            (json!(["body", "name"]), "string_type".into())
        );
        assert_eq!(
            at(r#"{"name": null}"#),
            (json!(["body", "name"]), "string_type".into())
        );
        let typed = [
            (r#""many""#, "count", "int_parsing"),
            ("[1]", "count", "int_type"),
            (r#""x""#, "ratio", "float_parsing"),
            ("{}", "ratio", "float_type"),
            (r#""yes""#, "flag", "bool_parsing"),
            ("1", "flag", "bool_type"),
            (r#""a, expected b""#, "tags", "list_type"),
            // (An array would be read as the struct's fields in order: a length error.)
            (r#""x""#, "inner", "dict_type"),
        ];
        for (value, field, kind) in typed {
            let body = format!(r#"{{"name": "n", "{field}": {value}}}"#);
            assert_eq!(at(&body), (json!(["body", field]), kind.into()), "{body}");
        }
        assert_eq!(
            at(r#"{"name": "n", "inner": {"weights": []}}"#),
            (json!(["body", "inner", "template_id"]), "missing".into())
        );
        assert_eq!(
            at(r#"{"name": "n", "inner": {"template_id": "t", "weights": [1, "2"]}}"#),
            (json!(["body", "inner", "weights", 1]), "int_parsing".into())
        );
        let missing = refusal::<Outer>("{}");
        assert_eq!(missing["msg"], "field required");
    }

    #[test]
    fn malformed_json_is_json_invalid_at_the_character_offset() {
        let e = super::parse_json::<serde_json::Value>("{\n  \"名\": ,}".as_bytes())
            .expect_err("refused");
        assert_eq!(e.status, axum::http::StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(e.code, "invalid_json");
        let error = &e.errors.expect("errors")[0];
        assert_eq!(error["type"], "json_invalid");
        // `{`, newline, two spaces, `"名"`, `:` and a space come before the comma.
        assert_eq!(error["loc"], serde_json::json!(["body", 9]), "{error}");
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
