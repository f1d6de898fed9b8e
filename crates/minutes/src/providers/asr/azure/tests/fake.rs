//! A local server speaking the fast transcription protocol (multipart `audio` + `definition`,
//! the key header, Azure's error bodies), an in-memory checkpoint, WAV builders and the adapter
//! set-up the tests share.
use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use axum::extract::{Multipart, State};
use axum::http::{HeaderMap as AxHeaders, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Router;
use secrecy::SecretString;
use serde_json::Value;

use super::super::*;
use crate::providers::http::test_support::serve;
use crate::providers::keys::ManualProviderClock;
use crate::providers::{Checkpoint, JobCheckpoint};

pub(crate) const KEY: &str = "azure-test-key-1";

/// One request as the server saw it.
#[derive(Debug, Clone)]
pub(crate) struct Seen {
    pub(crate) path: String,
    pub(crate) api_version: Option<String>,
    pub(crate) key: Option<String>,
    pub(crate) definition: Value,
    pub(crate) audio: Vec<u8>,
}

impl Seen {
    /// Samples in the uploaded WAV.
    pub(crate) fn samples(&self) -> u64 {
        (self.audio.len() as u64).saturating_sub(44) / 2
    }
}

type Responder = dyn Fn(usize, &Seen) -> Response + Send + Sync;

#[derive(Clone)]
struct FakeState {
    seen: Arc<Mutex<Vec<Seen>>>,
    respond: Arc<Responder>,
}

pub(crate) struct Fake {
    pub(crate) base: String,
    seen: Arc<Mutex<Vec<Seen>>>,
}

impl Fake {
    pub(crate) fn seen(&self) -> Vec<Seen> {
        self.seen.lock().expect("lock").clone()
    }
}

/// A server answering request `n` (0-based) with `respond(n, request)`.
pub(crate) async fn fake(
    respond: impl Fn(usize, &Seen) -> Response + Send + Sync + 'static,
) -> Fake {
    let state = FakeState {
        seen: Arc::default(),
        respond: Arc::new(respond),
    };
    let router = Router::new()
        .route("/speechtotext/transcriptions:transcribe", post(transcribe))
        .layer(axum::extract::DefaultBodyLimit::max(64 * 1024 * 1024))
        .with_state(state.clone());
    Fake {
        base: serve(router).await,
        seen: state.seen,
    }
}

async fn transcribe(
    State(state): State<FakeState>,
    uri: Uri,
    headers: AxHeaders,
    mut form: Multipart,
) -> Response {
    let mut seen = Seen {
        path: uri.path().to_string(),
        api_version: uri.query().and_then(|q| {
            q.split('&')
                .find_map(|kv| kv.strip_prefix("api-version="))
                .map(str::to_string)
        }),
        key: headers
            .get("Ocp-Apim-Subscription-Key")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string),
        definition: Value::Null,
        audio: Vec::new(),
    };
    // The whole body is read before answering, as the real service does: answering early
    // would turn an error status into a broken upload on the client side.
    while let Some(field) = form.next_field().await.expect("multipart field") {
        let name = field.name().unwrap_or_default().to_string();
        let bytes = field.bytes().await.expect("field bytes");
        match name.as_str() {
            "audio" => seen.audio = bytes.to_vec(),
            "definition" => {
                seen.definition = serde_json::from_slice(&bytes).expect("definition is JSON")
            }
            other => panic!("unexpected form field {other}"),
        }
    }
    let index = {
        let mut all = state.seen.lock().expect("lock");
        all.push(seen.clone());
        all.len() - 1
    };
    (state.respond)(index, &seen)
}

pub(crate) fn ok(body: Value) -> Response {
    (StatusCode::OK, axum::Json(body)).into_response()
}

pub(crate) fn status(code: u16, headers: &[(&'static str, &'static str)], body: &str) -> Response {
    let mut resp = (
        StatusCode::from_u16(code).expect("status"),
        body.to_string(),
    )
        .into_response();
    for (k, v) in headers {
        resp.headers_mut()
            .insert(*k, v.parse().expect("header value"));
    }
    resp
}

/// A one-phrase result.
pub(crate) fn phrase_body(
    offset_ms: u64,
    duration_ms: u64,
    text: &str,
    speaker: Option<u32>,
) -> Value {
    let mut phrase = serde_json::json!({
        "offsetMilliseconds": offset_ms, "durationMilliseconds": duration_ms, "text": text,
        "words": [{"text": text, "offsetMilliseconds": offset_ms, "durationMilliseconds": duration_ms}],
        "locale": "en-US", "confidence": 0.9
    });
    if let Some(s) = speaker {
        phrase["speaker"] = s.into();
    }
    serde_json::json!({
        "durationMilliseconds": offset_ms + duration_ms,
        "combinedPhrases": [{"text": text}],
        "phrases": [phrase]
    })
}

pub(crate) fn settings(base: &str) -> AzureAsrSettings {
    AzureAsrSettings {
        endpoint: Some(base.to_string()),
        api_key: Some(SecretString::from(KEY)),
        ..AzureAsrSettings::default()
    }
}

/// An adapter whose retry waits pass on a manual clock; speakers are matched with `model`
/// (CAM++), or on fbank statistics without one.
pub(crate) fn adapter(
    settings: AzureAsrSettings,
    model: Option<std::path::PathBuf>,
) -> (AzureAsr, Arc<ManualProviderClock>) {
    let clock = Arc::new(ManualProviderClock::at(1_700_000_000_000));
    let asr = AzureAsr::new(
        settings,
        &EgressPolicy::default(),
        KeyPoolSettings::default(),
        clock.clone(),
        model,
    )
    .expect("adapter");
    (asr, clock)
}

pub(crate) fn request(wav: &Path, language: &str, hotwords: &[&str]) -> TranscribeRequest {
    TranscribeRequest {
        audio_wav: wav.to_path_buf(),
        language: language.into(),
        hotwords: hotwords.iter().map(|s| s.to_string()).collect(),
        ..Default::default()
    }
}

/// Writes 16 kHz mono s16 `samples` as a WAV.
pub(crate) fn write_wav(path: &Path, samples: &[i16]) {
    let mut bytes = chunking::wav_header((samples.len() * 2) as u32).to_vec();
    samples
        .iter()
        .for_each(|s| bytes.extend_from_slice(&s.to_le_bytes()));
    std::fs::write(path, bytes).expect("write wav");
}

/// `secs` of a 220 Hz tone.
pub(crate) fn tone(secs: f64) -> Vec<i16> {
    let n = (secs * 16_000.0) as usize;
    (0..n)
        .map(|i| {
            let t = i as f64 / 16_000.0;
            (8000.0 * (2.0 * std::f64::consts::PI * 220.0 * t).sin()) as i16
        })
        .collect()
}

/// A step's checkpoint in memory.
#[derive(Default)]
pub(crate) struct MemCheckpoint {
    map: Mutex<HashMap<String, Value>>,
}

impl MemCheckpoint {
    pub(crate) fn state(&self) -> Option<Value> {
        self.map.lock().expect("lock").get("azure").cloned()
    }
}

#[async_trait]
impl JobCheckpoint for MemCheckpoint {
    async fn load(&self, provider: &str) -> Result<Option<Value>, ProviderError> {
        Ok(self.map.lock().expect("lock").get(provider).cloned())
    }

    async fn save(&self, provider: &str, state: Option<&Value>) -> Result<(), ProviderError> {
        let mut map = self.map.lock().expect("lock");
        match state {
            Some(s) => map.insert(provider.to_string(), s.clone()),
            None => map.remove(provider),
        };
        Ok(())
    }
}

pub(crate) fn checkpoint(mem: &Arc<MemCheckpoint>) -> Checkpoint {
    Checkpoint(mem.clone())
}
