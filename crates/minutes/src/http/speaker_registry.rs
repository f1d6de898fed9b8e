//! `/speakers`: the tenant's speakers registry for voiceprint identification. Enrolling needs
//! the person's consent record and a sample of their speech (validated here: real audio,
//! 16 kHz mono after normalization, 3–60 s of speech); the engine runs in the
//! `enroll_voiceprint` job (202, state `enrolling` → `active` | `failed`). `DELETE` is erasure:
//! the embeddings, the name and the consent subject and wording go at once, a remote
//! provider's feature through the `erase_voiceprint` job.
//!
//! Roles: any member of the tenant may enroll (with the consent record) and read the registry,
//! which names the tenant's meetings; erasure is for the member who enrolled the speaker and
//! for tenant admins. Other tenants' entries answer 404.
use axum::extract::State;
use axum::http::StatusCode;
use serde::Deserialize;
use serde_json::{json, Value};

use super::auth::Caller;
use super::error::{ApiError, ApiResult};
use super::extract::{Json, Multipart, Path, Query};
use super::views::ts;
use super::AppState;
use crate::domain::ids;
use crate::domain::voiceprint::{parse_name, state, Consent, ConsentInput};
use crate::pipeline::voiceprints::{enroll_job, erase_job, is_local_provider, sample_key};
use crate::store::SpeakerRecord;

/// Bytes needed to recognize every accepted container by its magic bytes.
const SNIFF_BYTES: usize = 64;

/// An entry as `caller` sees it: who enrolled the speaker is shown to that member and to
/// tenant admins only (the registry is the tenant's, the enrolling is a member's own act).
fn view(s: &SpeakerRecord, caller: &Caller) -> Value {
    let creator =
        (s.created_by == caller.user_id || caller.role == "admin").then_some(&s.created_by);
    json!({
        "speaker_id": s.id, "name": s.name, "state": s.state, "provider": s.provider,
        "error": s.error, "sample_seconds": s.sample_seconds,
        "consent": {
            "subject": s.consent_subject, "text": s.consent_text, "reference": s.consent_reference,
            "method": s.consent_method, "version": s.consent_version,
            "consented_at": ts(&s.consented_at),
        },
        "created_by": creator, "created_at": ts(&s.created_at), "updated_at": ts(&s.updated_at),
    })
}

/// The text fields and the sample of the enrollment form.
#[derive(Default)]
struct Form {
    name: Option<String>,
    consent: ConsentInput,
    sample: Option<Vec<u8>>,
}

fn form_error(e: axum::extract::multipart::MultipartError) -> ApiError {
    if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
        return ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "input_too_large",
            e.body_text(),
        );
    }
    ApiError::bad_request("invalid_multipart", e.body_text())
}

async fn read_form(mut multipart: Multipart, max_sample: u64) -> ApiResult<Form> {
    let mut form = Form::default();
    while let Some(field) = multipart.next_field().await.map_err(form_error)? {
        let name = field.name().unwrap_or("").to_string();
        let bytes = field.bytes().await.map_err(form_error)?;
        if name == "file" {
            if bytes.len() as u64 > max_sample {
                return Err(ApiError::new(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "input_too_large",
                    format!("the sample exceeds {max_sample} bytes"),
                ));
            }
            form.sample = Some(bytes.to_vec());
            continue;
        }
        let text = String::from_utf8(bytes.to_vec()).map_err(|_| {
            ApiError::bad_request("invalid_multipart", format!("field `{name}` is not UTF-8"))
        })?;
        if text.contains('\0') {
            return Err(ApiError::bad_request(
                "invalid_multipart",
                format!("field `{name}` contains a NUL character"),
            ));
        }
        let c = &mut form.consent;
        match name.as_str() {
            "name" => form.name = Some(text),
            "consent_given" => c.given = Some(text),
            "consent_subject" => c.subject = Some(text),
            "consent_text" => c.text = Some(text),
            "consent_reference" => c.reference = Some(text),
            "consent_method" => c.method = Some(text),
            "consent_version" => c.version = Some(text),
            "consented_at" => c.given_at = Some(text),
            _ => {}
        }
    }
    Ok(form)
}

/// A sample that decoded and was normalized to 16 kHz mono s16, with its seconds of speech.
struct Sample {
    wav: std::path::PathBuf,
    speech_secs: f64,
    _dir: tempfile::TempDir,
}

fn unprocessable(code: &'static str, detail: impl Into<String>) -> ApiError {
    ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, code, detail)
}

/// Sniffs (415 when it is not audio), decodes and normalizes the sample with minutes-audio and
/// counts its speech with the energy VAD (422 outside the configured bounds). CPU work, off the
/// async threads; no engine is involved.
async fn check_sample(app: &AppState, bytes: Vec<u8>) -> ApiResult<Sample> {
    let head = &bytes[..bytes.len().min(SNIFF_BYTES)];
    if bytes.is_empty() {
        return Err(ApiError::field("file", "the sample is empty"));
    }
    if minutes_audio::sniff(head).is_none() {
        return Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "input_unsupported_format",
            "not a supported audio file (wav, mp3, m4a/aac, ogg/vorbis, opus, flac)",
        ));
    }
    let limits = app.config.voiceprint.enrollment.clone();
    let base = app.config.data_dir.join("work");
    let checked = crate::telemetry::spawn_blocking(move || -> ApiResult<Sample> {
        std::fs::create_dir_all(&base).map_err(ApiError::internal)?;
        let dir = tempfile::Builder::new()
            .prefix("enroll-")
            .tempdir_in(&base)
            .map_err(ApiError::internal)?;
        let input = dir.path().join("input");
        std::fs::write(&input, &bytes).map_err(ApiError::internal)?;
        let wav = dir.path().join("sample.wav");
        // Room for pauses around the speech, but no hour-long file decoded to find 60 s.
        let max_secs = limits.max_speech_secs * 3.0 + 30.0;
        let audio_limits = minutes_audio::Limits {
            max_duration_secs: max_secs,
        };
        match minutes_audio::normalize_to_wav(&input, &wav, &audio_limits) {
            Ok(_) => {}
            Err(minutes_audio::AudioError::TooLong { .. }) => {
                return Err(unprocessable(
                    "sample_too_long",
                    format!(
                        "the sample is longer than {max_secs:.0} s; send {:.0}–{:.0} s of speech",
                        limits.min_speech_secs, limits.max_speech_secs
                    ),
                ))
            }
            Err(minutes_audio::AudioError::Io(e)) => return Err(ApiError::internal(e)),
            Err(e) => return Err(unprocessable("input_undecodable", e.to_string())),
        }
        let samples = minutes_audio::read_wav_f32(&wav).map_err(ApiError::internal)?;
        let speech_secs = speech_seconds(&samples);
        if speech_secs < limits.min_speech_secs {
            return Err(unprocessable(
                "sample_too_short",
                format!(
                    "the sample holds {speech_secs:.1} s of speech; at least {:.0} s are needed",
                    limits.min_speech_secs
                ),
            ));
        }
        if speech_secs > limits.max_speech_secs {
            return Err(unprocessable(
                "sample_too_long",
                format!(
                    "the sample holds {speech_secs:.1} s of speech; at most {:.0} s are accepted",
                    limits.max_speech_secs
                ),
            ));
        }
        Ok(Sample {
            wav,
            speech_secs,
            _dir: dir,
        })
    })
    .await
    .map_err(ApiError::internal)??;
    Ok(checked)
}

/// Seconds of speech the energy VAD finds (the measure enrollment uses too).
fn speech_seconds(samples: &[f32]) -> f64 {
    use minutes_audio::vad;
    let energies: Vec<f32> = vad::energies_of(samples).collect();
    vad::speech_regions(&energies, &vad::VadOptions::default())
        .iter()
        .map(|(a, b)| b - a)
        .sum()
}

pub async fn enroll(
    State(app): State<AppState>,
    caller: Caller,
    multipart: Multipart,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let Some(engine) = app.voiceprint.clone() else {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "voiceprint_not_configured",
            "voiceprint identification is off (voiceprint.provider: none)",
        ));
    };
    let form = read_form(multipart, app.config.voiceprint.enrollment.max_sample_bytes).await?;
    let now = chrono::Utc::now();
    let mut problems = Vec::new();
    let name = parse_name(form.name.as_deref())
        .map_err(|p| problems.push(p))
        .ok();
    let consent = Consent::parse(&form.consent, now)
        .map_err(|p| problems.extend(p))
        .ok();
    if form.sample.is_none() {
        problems.push((
            "file",
            "the speech sample (multipart field `file`) is required".into(),
        ));
    }
    let (Some(name), Some(consent), Some(bytes), true) =
        (name, consent, form.sample, problems.is_empty())
    else {
        return Err(ApiError::validation(
            problems
                .into_iter()
                .map(|(loc, msg)| json!({"loc": ["body", loc], "msg": msg, "type": "value_error"}))
                .collect(),
        ));
    };
    let sample = check_sample(&app, bytes).await?;
    let speaker = SpeakerRecord {
        id: ids::new_id("spk"),
        tenant_id: caller.tenant_id.clone(),
        name: Some(name),
        provider: engine.name().to_string(),
        provider_feature_id: None,
        state: state::ENROLLING.into(),
        error: None,
        sample_seconds: Some((sample.speech_secs * 10.0).round() / 10.0),
        consent_subject: Some(consent.subject),
        consent_text: consent.text,
        consent_reference: consent.reference,
        consent_method: consent.method,
        consent_version: consent.version,
        consented_at: consent.given_at,
        created_by: caller.user_id.clone(),
        created_at: now,
        updated_at: now,
        erased_at: None,
        erased_by: None,
    };
    let key = sample_key(&speaker.tenant_id, &speaker.id);
    app.objects
        .put_file(&key, &sample.wav)
        .await
        .map_err(ApiError::internal)?;
    let job = enroll_job(&app, &speaker.tenant_id, &speaker.id);
    if let Err(e) = app.store.create_speaker(&speaker, &job).await {
        let _ = app.objects.delete(&key).await;
        return Err(e.into());
    }
    // No names in the audit log: the entry is the proof of a consented enrollment.
    caller
        .audit(
            &app,
            "speakers.enroll",
            "speaker",
            &speaker.id,
            json!({
                "provider": speaker.provider, "sample_seconds": speaker.sample_seconds,
                "consent_method": speaker.consent_method, "consent_version": speaker.consent_version,
                "consented_at": ts(&speaker.consented_at),
            }),
        )
        .await;
    Ok((StatusCode::ACCEPTED, Json(view(&speaker, &caller))))
}

#[derive(Debug, Deserialize)]
pub struct ListQuery {
    limit: Option<i64>,
    offset: Option<i64>,
}

pub async fn list(
    State(app): State<AppState>,
    caller: Caller,
    Query(q): Query<ListQuery>,
) -> ApiResult<Json<Value>> {
    let (limit, offset) = super::extract::page(q.limit, q.offset);
    let (speakers, total) = app
        .store
        .list_speakers(&caller.tenant_id, limit, offset)
        .await?;
    Ok(Json(json!({
        "speakers": speakers.iter().map(|s| view(s, &caller)).collect::<Vec<_>>(),
        "total": total, "limit": limit, "offset": offset,
    })))
}

/// A registry entry of the caller's tenant that is not erased.
async fn visible(app: &AppState, caller: &Caller, id: &str) -> ApiResult<SpeakerRecord> {
    app.store
        .get_speaker(&caller.tenant_id, id)
        .await?
        .filter(|s| s.state != state::ERASED && s.state != state::ERASING)
        .ok_or_else(|| ApiError::not_found("speaker"))
}

pub async fn get(
    State(app): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    Ok(Json(view(&visible(&app, &caller, &id).await?, &caller)))
}

pub async fn erase(
    State(app): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let speaker = visible(&app, &caller, &id).await?;
    if speaker.created_by != caller.user_id && caller.role != "admin" {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            "only the member who enrolled this speaker or a tenant admin can erase it",
        ));
    }
    // A remote provider still holds a feature (or may be making one right now): its deletion
    // is a job. The local engine's embeddings are rows, deleted in the same transaction.
    let remote = !is_local_provider(&speaker.provider)
        && (speaker.provider_feature_id.is_some() || speaker.state == state::ENROLLING);
    let job = remote.then(|| erase_job(&app, &caller.tenant_id, &speaker.id));
    let new_state = app
        .store
        .erase_speaker(
            &caller.tenant_id,
            &speaker.id,
            &caller.user_id,
            job.as_ref(),
        )
        .await?;
    if let Err(e) = app
        .objects
        .delete(&sample_key(&caller.tenant_id, &speaker.id))
        .await
    {
        tracing::warn!(speaker_id = %speaker.id, error = %e, "could not delete an enrollment sample");
    }
    caller
        .audit(
            &app,
            "speakers.erase",
            "speaker",
            &speaker.id,
            json!({"provider": speaker.provider, "state": new_state}),
        )
        .await;
    let status = if new_state == state::ERASED {
        StatusCode::OK
    } else {
        StatusCode::ACCEPTED
    };
    Ok((
        status,
        Json(json!({"success": true, "speaker_id": speaker.id, "state": new_state})),
    ))
}
