//! `POST /upload` (streamed to the object store, sniffed, size-limited) and `DELETE /upload/{key}`.
use axum::extract::State;

use super::extract::{Multipart, Path};
use axum::http::{header, HeaderMap, StatusCode};
use axum::Json;
use serde_json::{json, Value};

use super::auth::Caller;
use super::error::{ApiError, ApiResult};
use super::AppState;
use crate::domain::ids;
use crate::storage::{ObjectWriter, Written};
use crate::store::{Owner, Upload};
use minutes_audio::Container;

/// Bytes needed to recognize every accepted container by its magic bytes.
const SNIFF_BYTES: usize = 64;
/// The head of an upload the decoder probe reads: headers and the first packets of every
/// accepted format fit (MP4 with its index at the end is the exception, see `probe_head`).
const PROBE_BYTES: usize = 1 << 20;

fn too_large(limit: u64) -> ApiError {
    ApiError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        "input_too_large",
        format!("the file exceeds the upload limit of {limit} bytes"),
    )
}

/// The server-generated, opaque key of a new upload: `uploads/{user}/{16 hex}.{ext}`.
pub(crate) fn new_upload_key(user_id: &str, container: Container) -> String {
    format!(
        "uploads/{user_id}/{}.{}",
        &ids::new_id("f")[2..],
        extension(container)
    )
}

/// The row describing an upload that was just stored.
pub(crate) fn upload_row(
    owner: &Owner,
    key: &str,
    original: &str,
    container: Container,
    written: &Written,
) -> Upload {
    Upload {
        object_key: key.to_string(),
        tenant_id: owner.tenant_id.clone(),
        user_id: owner.user_id.clone(),
        original_filename: original.to_string(),
        container: format!("{container:?}").to_lowercase(),
        size_bytes: written.size_bytes as i64,
        sha256: written.sha256.clone(),
        duration_secs: None,
        created_at: chrono::Utc::now(),
    }
}

fn extension(c: Container) -> &'static str {
    match c {
        Container::Wav => "wav",
        Container::Mp3 => "mp3",
        Container::Mp4 => "m4a",
        Container::Ogg => "ogg",
        Container::Flac => "flac",
    }
}

pub async fn upload(
    State(app): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    mut multipart: Multipart,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let limit = app.config.server.max_upload_bytes;
    // Refuse before reading a byte when the client already says the body is too big.
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|len| len > limit + 64 * 1024) {
        return Err(too_large(limit));
    }
    super::quota::check(&app, &caller, super::quota::Need::Storage).await?;
    while let Some(mut field) = multipart.next_field().await.map_err(multipart_error)? {
        if field.name() != Some("file") {
            continue;
        }
        let original = sanitize_filename(field.file_name().unwrap_or("audio"));
        let mut head: Vec<u8> = Vec::with_capacity(SNIFF_BYTES);
        let mut pending = Vec::new();
        while head.len() < SNIFF_BYTES {
            match field.chunk().await.map_err(multipart_error)? {
                Some(chunk) => {
                    let take = (SNIFF_BYTES - head.len()).min(chunk.len());
                    head.extend_from_slice(&chunk[..take]);
                    pending.push(chunk);
                }
                None => break,
            }
        }
        if head.is_empty() {
            return Err(ApiError::bad_request(
                "input_missing_file",
                "the uploaded file is empty",
            ));
        }
        let container = minutes_audio::sniff(&head).ok_or_else(|| {
            ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "input_unsupported_format",
                "not a supported audio file (wav, mp3, m4a/aac, ogg/vorbis, opus, flac)",
            )
        })?;
        let key = new_upload_key(&caller.user_id, container);
        let mut writer = app.objects.writer(&key).await.map_err(ApiError::internal)?;
        let mut probe = Vec::with_capacity(PROBE_BYTES.min(limit as usize));
        let copied = copy_field(&mut writer, pending, &mut field, limit, &mut probe).await;
        if let Err(e) = copied {
            writer.abort().await;
            return Err(e);
        }
        let written = writer.finish().await.map_err(ApiError::internal)?;
        let max_secs = app.config.audio.max_duration_secs;
        let duration = match probe_head(probe, container, written.size_bytes, max_secs).await {
            Ok(duration) => duration,
            Err(e) => {
                let _ = app.objects.delete(&key).await;
                return Err(e);
            }
        };
        let upload = upload_row(&caller.owner(), &key, &original, container, &written);
        if let Err(e) = app.store.insert_upload(&upload).await {
            let _ = app.objects.delete(&key).await;
            return Err(e.into());
        }
        caller
            .audit(
                &app,
                "upload.create",
                "upload",
                &key,
                json!({"size_bytes": written.size_bytes, "sha256": written.sha256}),
            )
            .await;
        return Ok((
            StatusCode::CREATED,
            Json(json!({
                "success": true,
                "file_path": key,
                "file_size": written.size_bytes,
                "sha256": written.sha256,
                "original_filename": original,
                "format": upload.container,
                "duration": duration,
                "message": "uploaded",
            })),
        ));
    }
    Err(ApiError::field(
        "file",
        "a multipart field named `file` is required",
    ))
}

/// Streams the field to the object store, keeping its first `PROBE_BYTES` in `probe`.
async fn copy_field(
    writer: &mut ObjectWriter,
    pending: Vec<bytes::Bytes>,
    field: &mut axum::extract::multipart::Field<'_>,
    limit: u64,
    probe: &mut Vec<u8>,
) -> ApiResult<()> {
    let mut write = |chunk: &[u8]| {
        let keep = (PROBE_BYTES - probe.len()).min(chunk.len());
        probe.extend_from_slice(&chunk[..keep]);
        writer.write(chunk);
        writer.size()
    };
    let mut size = 0;
    for chunk in pending {
        size = write(&chunk);
    }
    loop {
        if size > limit {
            return Err(too_large(limit));
        }
        match field.chunk().await.map_err(multipart_error)? {
            Some(chunk) => size = write(&chunk),
            None => return Ok(()),
        }
    }
}

/// The decoder probe: the head must decode as the format its magic bytes name, and what its
/// headers declare must be plausible (no 4 GB WAV of 2 KB, no 100-hour MP3). Returns the
/// declared duration when the headers state one.
async fn probe_head(
    head: Vec<u8>,
    container: Container,
    size: u64,
    max_secs: f64,
) -> ApiResult<Option<f64>> {
    let whole = size as usize <= head.len();
    let probed = crate::telemetry::spawn_blocking(move || {
        let mut file = tempfile::NamedTempFile::new()?;
        std::io::Write::write_all(&mut file, &head)?;
        Ok::<_, std::io::Error>(minutes_audio::probe(file.path()))
    })
    .await
    .map_err(ApiError::internal)?
    .map_err(ApiError::internal)?;
    let info = match probed {
        Ok(info) => info,
        // An MP4 longer than the probe window may keep its index at the end: the prepare
        // stage decodes the whole file and names it if it is broken.
        Err(_) if container == Container::Mp4 && !whole => return Ok(None),
        Err(e) => {
            return Err(ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "input_unsupported_format",
                format!("the file looks like {container:?} but does not decode: {e}"),
            ))
        }
    };
    let Some(declared) = info.duration_secs else {
        return Ok(None);
    };
    if declared > max_secs {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "input_too_long",
            format!(
                "the file's headers declare {declared:.0} s of audio, over the {max_secs:.0} s limit"
            ),
        ));
    }
    // Uncompressed audio needs at least a byte per sample. A recording cut short (a crashed
    // recorder) still decodes what it holds; a header declaring many times the bytes received
    // is forged.
    let min_bytes = declared * f64::from(info.sample_rate) * f64::from(info.channels);
    if info.codec.starts_with("pcm") && min_bytes > size as f64 * 4.0 + f64::from(1u32 << 20) {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "input_corrupted",
            format!(
                "the WAV header declares {declared:.0} s of audio but the file holds only {size} bytes"
            ),
        ));
    }
    Ok(Some(declared))
}

fn multipart_error(e: axum::extract::multipart::MultipartError) -> ApiError {
    if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
        return ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "input_too_large",
            e.body_text(),
        );
    }
    ApiError::bad_request("invalid_multipart", e.body_text())
}

/// Keeps the original name as metadata only: no path parts, no control characters, bounded length.
fn sanitize_filename(name: &str) -> String {
    let base = name.rsplit(['/', '\\']).next().unwrap_or("audio");
    let clean: String = base
        .chars()
        .filter(|c| !c.is_control() && !is_bidi_control(*c))
        .take(200)
        .collect();
    if clean.trim().is_empty() {
        "audio".into()
    } else {
        clean
    }
}

/// Direction overrides make `evil\u{202E}3pm.exe` display as `evilexe.mp3`.
fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{200E}' | '\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

pub async fn delete_upload(
    State(app): State<AppState>,
    caller: Caller,
    Path(key): Path<String>,
) -> ApiResult<StatusCode> {
    let owner = caller.owner();
    // Ownership first: another user's key is simply not found. (The store answers "used by a
    // task" before it looks at the owner, which would tell others that the key is in use.)
    if app
        .store
        .uploads_by_keys(&owner, std::slice::from_ref(&key))
        .await?
        .is_empty()
    {
        return Err(ApiError::not_found("upload"));
    }
    app.store
        .delete_upload(&owner, &key)
        .await
        .map_err(|e| match e {
            crate::store::StoreError::NotFound => ApiError::not_found("upload"),
            other => other.into(),
        })?;
    app.objects.delete(&key).await.map_err(ApiError::internal)?;
    caller
        .audit(&app, "upload.delete", "upload", &key, json!({}))
        .await;
    Ok(StatusCode::NO_CONTENT)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filenames_lose_paths_and_control_characters() {
        assert_eq!(sanitize_filename("../../etc/passwd"), "passwd");
        assert_eq!(sanitize_filename("C:\\x\\meeting.mp3"), "meeting.mp3");
        assert_eq!(sanitize_filename("a\u{0}b\nc.wav"), "abc.wav");
        assert_eq!(sanitize_filename("/"), "audio");
        assert_eq!(sanitize_filename("evil\u{202E}vaw.exe"), "evilvaw.exe");
        assert_eq!(sanitize_filename(&"a".repeat(10_000)).len(), 200);
    }
}
