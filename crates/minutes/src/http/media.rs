//! Audio playback for the browser. Task views list `audio_files` as signed relative paths
//! (`uploads/…key…?tenant=…&expires=…&sig=…`, `auth/media_urls.rs`), which the original frontend
//! prefixes with its base URL and hands to an `<audio>` element — no `Authorization` header. They
//! are served by `GET /uploads/{*key}` at the application root, with single HTTP ranges (206) so
//! the player can seek; the signature is the only credential.
use axum::body::Body;
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde_json::{json, Value};

use super::error::{ApiError, ApiResult};
use super::extract::Path;
use super::{views, AppState};
use crate::app::App;
use crate::auth::media_urls::{self, MediaGrant};
use crate::storage::StorageError;
use crate::store::{MediaObject, TaskFileRecord, TaskRecord, Upload};

/// The expiry is rounded up to this fraction of the lifetime, so a task view read again soon
/// after hands out the same URL (a changed `<audio src>` reloads the player and stops playback).
const EXPIRY_STEPS: i64 = 6;

/// The signed playback path of `key` of `tenant_id`, valid for at least
/// `server.media_url_ttl_secs`.
pub(super) fn playback_path(app: &App, tenant_id: &str, key: &str) -> String {
    let ttl = app.config.server.media_url_ttl_secs as i64;
    let step = (ttl / EXPIRY_STEPS).max(1);
    let earliest = app.clock.now_ms() / 1000 + ttl;
    let grant = MediaGrant {
        key: key.to_string(),
        tenant_id: tenant_id.to_string(),
        expires_at: (earliest + step - 1) / step * step,
    };
    media_urls::sign(&app.url_signing, &grant)
}

/// The task detail as served over HTTP: `audio_files` are playback paths; the plain object keys
/// stay in `files[].object_key` for API clients.
pub(super) fn task_detail(app: &App, t: &TaskRecord, files: &[TaskFileRecord]) -> Value {
    let mut v = views::task_detail(t, files);
    v["audio_files"] = json!(files
        .iter()
        .map(|f| playback_path(app, &t.tenant_id, &f.object_key))
        .collect::<Vec<_>>());
    v
}

/// What a `Range` header asks of an object of `len` bytes (RFC 9110 §14).
#[derive(Debug, PartialEq, Eq)]
enum Wanted {
    /// No range, one that is malformed (ignored, as the RFC says), or several (answered whole).
    Whole,
    /// Bytes `first..=last`.
    Part(u64, u64),
    Unsatisfiable,
}

fn wanted(range: Option<&str>, len: u64) -> Wanted {
    let Some(spec) = range
        .map(str::trim)
        .filter(|r| r.get(..6).is_some_and(|u| u.eq_ignore_ascii_case("bytes=")))
        .map(|r| r[6..].trim())
    else {
        return Wanted::Whole;
    };
    let Some((first, last)) = spec.split_once('-').filter(|_| !spec.contains(',')) else {
        return Wanted::Whole;
    };
    let number = |s: &str| {
        let s = s.trim();
        (!s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()))
            .then(|| s.parse::<u64>().ok())
            .flatten()
    };
    match (first.trim().is_empty(), last.trim().is_empty()) {
        (true, true) => Wanted::Whole,
        // The last n bytes.
        (true, false) => match number(last) {
            None => Wanted::Whole,
            Some(0) => Wanted::Unsatisfiable,
            Some(_) if len == 0 => Wanted::Unsatisfiable,
            Some(n) => Wanted::Part(len - n.min(len), len - 1),
        },
        (false, open) => {
            let Some(start) = number(first) else {
                return Wanted::Whole;
            };
            let end = if open {
                None
            } else {
                match number(last) {
                    Some(end) if end >= start => Some(end),
                    _ => return Wanted::Whole,
                }
            };
            if start >= len {
                return Wanted::Unsatisfiable;
            }
            Wanted::Part(start, end.map_or(len - 1, |e| e.min(len - 1)))
        }
    }
}

/// The media type of an upload, by its sniffed container (the file name only breaks ties the
/// container does not name: Opus and WebM).
fn content_type(upload: &Upload) -> &'static str {
    let ext = upload
        .original_filename
        .rsplit_once('.')
        .map(|(_, e)| e.to_ascii_lowercase())
        .unwrap_or_default();
    match (upload.container.as_str(), ext.as_str()) {
        ("wav", _) => "audio/wav",
        ("mp3", _) => "audio/mpeg",
        ("mp4" | "m4a", _) => "audio/mp4",
        ("ogg" | "opus", _) => "audio/ogg",
        ("webm", _) | (_, "webm") => "audio/webm",
        ("flac", _) => "audio/flac",
        (_, "opus" | "ogg") => "audio/ogg",
        _ => "application/octet-stream",
    }
}

fn invalid(reason: &str) -> ApiError {
    tracing::info!(reason, "media URL refused");
    ApiError::unauthorized("invalid or expired media URL")
}

fn not_found(e: StorageError) -> ApiError {
    match e {
        StorageError::NotFound(_) | StorageError::InvalidKey => ApiError::not_found("media"),
        other => ApiError::internal(other),
    }
}

fn header_value(v: impl ToString) -> HeaderValue {
    HeaderValue::from_str(&v.to_string()).expect("numbers and ASCII types are header values")
}

/// `GET /uploads/{*key}` (and `HEAD`): the object named by a signed playback path.
pub async fn serve(
    State(app): State<AppState>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    Path(rest): Path<String>,
) -> ApiResult<Response> {
    let key = format!("uploads/{rest}");
    let now = app.clock.now_ms() / 1000;
    let grant = media_urls::verify(&app.url_signing, &key, uri.query(), now).map_err(invalid)?;
    let upload = match app.store.media_object(&grant.tenant_id, &key).await? {
        Some(MediaObject::Stored(upload)) => upload,
        Some(MediaObject::Purged) => {
            return Err(ApiError::new(
                StatusCode::GONE,
                "audio_purged",
                "the audio was deleted by the retention policy",
            ))
        }
        None => return Err(ApiError::not_found("media")),
    };
    // The grant outlives nothing but its uploader's account.
    let active = app
        .store
        .get_user(&upload.user_id)
        .await?
        .is_some_and(|u| u.is_active && u.tenant_id == grant.tenant_id);
    if !active {
        return Err(ApiError::not_found("media"));
    }
    let len = app.objects.size(&key).await.map_err(not_found)?;
    let etag = format!("\"{}\"", upload.sha256);
    // A range is only served of the version the client already has (If-Range).
    let same_version = headers
        .get(header::IF_RANGE)
        .is_none_or(|v| v.as_bytes() == etag.as_bytes());
    let range = headers
        .get(header::RANGE)
        .and_then(|v| v.to_str().ok())
        .filter(|_| same_version);
    let (status, first, last) = match wanted(range, len) {
        Wanted::Whole => (StatusCode::OK, 0, len.saturating_sub(1)),
        Wanted::Part(first, last) => (StatusCode::PARTIAL_CONTENT, first, last),
        Wanted::Unsatisfiable => {
            let refusal = ApiError::new(
                StatusCode::RANGE_NOT_SATISFIABLE,
                "range_not_satisfiable",
                format!("the object has {len} bytes"),
            );
            let unit = header_value(format!("bytes */{len}"));
            return Ok(([(header::CONTENT_RANGE, unit)], refusal).into_response());
        }
    };
    let length = if len == 0 { 0 } else { last - first + 1 };
    let body = if method == Method::HEAD || length == 0 {
        Body::empty()
    } else {
        let chunks = app
            .objects
            .read_range(&key, first..last + 1)
            .await
            .map_err(not_found)?;
        Body::from_stream(chunks)
    };
    let mut response = (status, body).into_response();
    let h = response.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(content_type(&upload)),
    );
    h.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    h.insert(header::CONTENT_LENGTH, header_value(length));
    h.insert(header::ETAG, header_value(&etag));
    // Cached by the browser only, and no longer than the URL is good for.
    let max_age = (grant.expires_at - now).max(0);
    h.insert(
        header::CACHE_CONTROL,
        header_value(format!("private, max-age={max_age}")),
    );
    if status == StatusCode::PARTIAL_CONTENT {
        h.insert(
            header::CONTENT_RANGE,
            header_value(format!("bytes {first}-{last}/{len}")),
        );
    }
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn single_ranges_are_served_and_the_rest_is_whole_or_unsatisfiable() {
        let r = |h: &str| wanted(Some(h), 100);
        assert_eq!(wanted(None, 100), Wanted::Whole);
        assert_eq!(r("bytes=10-19"), Wanted::Part(10, 19));
        assert_eq!(r("Bytes=10-19"), Wanted::Part(10, 19));
        assert_eq!(r("bytes=90-"), Wanted::Part(90, 99));
        assert_eq!(r("bytes=90-500"), Wanted::Part(90, 99));
        assert_eq!(r("bytes=-10"), Wanted::Part(90, 99));
        assert_eq!(r("bytes=-500"), Wanted::Part(0, 99));
        assert_eq!(r("bytes=100-"), Wanted::Unsatisfiable);
        assert_eq!(r("bytes=100-200"), Wanted::Unsatisfiable);
        assert_eq!(r("bytes=-0"), Wanted::Unsatisfiable);
        for ignored in [
            "bytes=0-1,5-6",
            "bytes=20-10",
            "bytes=x-",
            "bytes=-",
            "items=0-1",
            "bytes=1",
            "bytes=99999999999999999999999-",
        ] {
            assert_eq!(r(ignored), Wanted::Whole, "{ignored}");
        }
    }

    #[test]
    fn the_media_type_follows_the_sniffed_container() {
        let upload = |container: &str, name: &str| Upload {
            object_key: "uploads/u/k".into(),
            tenant_id: "t".into(),
            user_id: "u".into(),
            original_filename: name.into(),
            container: container.into(),
            size_bytes: 1,
            sha256: "0".into(),
            duration_secs: None,
            created_at: chrono::Utc::now(),
        };
        for (container, name, expected) in [
            ("wav", "a.mp3", "audio/wav"),
            ("mp3", "a", "audio/mpeg"),
            ("mp4", "a.m4a", "audio/mp4"),
            ("ogg", "a.opus", "audio/ogg"),
            ("flac", "a.flac", "audio/flac"),
            ("webm", "a", "audio/webm"),
            ("unknown", "a.OPUS", "audio/ogg"),
            ("unknown", "a.webm", "audio/webm"),
            ("unknown", "a.bin", "application/octet-stream"),
        ] {
            assert_eq!(
                content_type(&upload(container, name)),
                expected,
                "{container} {name}"
            );
        }
    }
}
