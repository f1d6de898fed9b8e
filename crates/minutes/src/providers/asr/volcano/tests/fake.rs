//! The fake Volcano server (submit/query with the documented headers and status codes), the
//! test doubles (presigner, checkpoint) and the adapter set-up the tests share.
use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::State;
use axum::http::{HeaderMap as AxHeaders, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Router;
use serde_json::{json, Value};
use tokio::sync::Notify;

use super::super::*;
use crate::providers::http::test_support::serve;
use crate::providers::keys::ManualProviderClock;
use crate::providers::{Checkpoint, JobCheckpoint};
use crate::storage::UrlSigner;

pub(super) const APP_ID: &str = "123456789";
pub(super) const TOKEN: &str = "test-access-token";
pub(super) const AUDIO_KEY: &str = "t1/task_1/normalized.wav";

/// A scripted answer: HTTP status, `X-Api-Status-Code` (none = header missing), body, and an
/// optional `Retry-After`.
#[derive(Debug, Clone)]
pub(super) struct Scripted {
    pub(super) http: u16,
    pub(super) code: Option<i64>,
    pub(super) body: String,
    pub(super) retry_after: Option<&'static str>,
    /// Sleep this long (wall time) before answering.
    pub(super) delay: Duration,
    /// Record the submitted job before answering (the answer is "lost" but the job exists).
    pub(super) accept_anyway: bool,
}

impl Scripted {
    pub(super) fn status(http: u16, code: i64) -> Scripted {
        Scripted {
            http,
            code: Some(code),
            body: String::new(),
            retry_after: None,
            delay: Duration::ZERO,
            accept_anyway: false,
        }
    }
}

#[derive(Default)]
pub(super) struct Job {
    pub(super) body: Value,
    pub(super) queries: u32,
}

#[derive(Default)]
pub(super) struct FakeState {
    pub(super) jobs: HashMap<String, Job>,
    /// Every request id a submit carried, in order (accepted or not).
    pub(super) submit_ids: Vec<String>,
    pub(super) submits_accepted: usize,
    pub(super) queries: usize,
    pub(super) submit_script: VecDeque<Scripted>,
    pub(super) query_script: VecDeque<Scripted>,
    /// Queries answered "processing" before "done".
    pub(super) pending_polls: u32,
    /// What a finished query returns.
    pub(super) result: Value,
    /// Answer every finished query with this status instead (e.g. silent audio).
    pub(super) finished_code: Option<i64>,
    pub(super) finished_body: Option<String>,
}

#[derive(Clone)]
pub(super) struct Fake {
    pub(super) base: String,
    pub(super) state: Arc<Mutex<FakeState>>,
    /// Notified after every query, so a test can "crash" a worker mid-poll.
    pub(super) queried: Arc<Notify>,
}

pub(super) fn result_body() -> Value {
    json!({
        "audio_info": {"duration": 7_200_000},
        "result": {"text": "大家好。今天讨论火山引擎。", "utterances": [
            {"definite": true, "start_time": 0, "end_time": 1500, "text": "大家好。",
             "words": [{"text": "大", "start_time": 0, "end_time": 300}],
             "additions": {"speaker": "1"}},
            {"definite": true, "start_time": 1600, "end_time": 4200, "text": "今天讨论火山引擎。",
             "words": [{"text": "今", "start_time": 1600, "end_time": 1800}],
             "additions": {"speaker": "2"}}
        ]}
    })
}

pub(super) fn reply(s: &Scripted, logid: &str) -> Response {
    let mut resp = (
        StatusCode::from_u16(s.http).expect("status"),
        s.body.clone(),
    )
        .into_response();
    let h = resp.headers_mut();
    if let Some(code) = s.code {
        h.insert("X-Api-Status-Code", code.to_string().parse().expect("hv"));
        let msg = if code == protocol::code::OK {
            "OK"
        } else {
            "scripted"
        };
        h.insert("X-Api-Message", msg.parse().expect("hv"));
    }
    if let Some(ra) = s.retry_after {
        h.insert("Retry-After", ra.parse().expect("hv"));
    }
    h.insert("X-Tt-Logid", logid.parse().expect("hv"));
    resp
}

/// The documented auth headers; a wrong key gets what the gateway answers (401, 45000010).
pub(super) fn auth_failure(h: &AxHeaders, submit: bool) -> Option<Scripted> {
    let get = |n: &str| h.get(n).and_then(|v| v.to_str().ok()).unwrap_or("");
    let ok = get("X-Api-App-Key") == APP_ID
        && get("X-Api-Access-Key") == TOKEN
        && get("X-Api-Resource-Id") == "volc.bigasr.auc"
        && !get("X-Api-Request-Id").is_empty()
        && (!submit || get("X-Api-Sequence") == "-1");
    (!ok).then(|| Scripted {
        body: String::new(),
        ..Scripted::status(401, protocol::code::AUTH_INVALID)
    })
}

pub(super) async fn submit(
    State(fake): State<Fake>,
    h: AxHeaders,
    body: axum::body::Bytes,
) -> Response {
    if let Some(fail) = auth_failure(&h, true) {
        return reply(&fail, "log-auth");
    }
    let id = h
        .get("X-Api-Request-Id")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    let scripted = {
        let mut st = fake.state.lock().expect("lock");
        st.submit_ids.push(id.clone());
        st.submit_script.pop_front()
    };
    if let Some(s) = scripted {
        // The provider takes the job, then the answer is slow (or lost).
        if s.accept_anyway {
            accept(&fake, &id, &body);
        }
        tokio::time::sleep(s.delay).await;
        return reply(&s, "log-submit");
    }
    let duplicate = fake.state.lock().expect("lock").jobs.contains_key(&id);
    if duplicate {
        return reply(
            &Scripted::status(400, protocol::code::INVALID_PARAMS),
            "log-dup",
        );
    }
    accept(&fake, &id, &body);
    reply(&Scripted::status(200, protocol::code::OK), "log-submit")
}

pub(super) fn accept(fake: &Fake, id: &str, body: &[u8]) {
    let mut st = fake.state.lock().expect("lock");
    st.submits_accepted += 1;
    st.jobs.insert(
        id.to_string(),
        Job {
            body: serde_json::from_slice(body).expect("submit body is JSON"),
            queries: 0,
        },
    );
}

pub(super) async fn query(
    State(fake): State<Fake>,
    h: AxHeaders,
    body: axum::body::Bytes,
) -> Response {
    let resp = query_answer(&fake, &h, &body).await;
    fake.queried.notify_one();
    resp
}

pub(super) async fn query_answer(fake: &Fake, h: &AxHeaders, body: &[u8]) -> Response {
    if let Some(fail) = auth_failure(h, false) {
        return reply(&fail, "log-auth");
    }
    assert_eq!(body, b"{}", "the query body is an empty JSON object");
    let id = h
        .get("X-Api-Request-Id")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    let scripted = {
        let mut st = fake.state.lock().expect("lock");
        st.queries += 1;
        st.query_script.pop_front()
    };
    if let Some(s) = scripted {
        tokio::time::sleep(s.delay).await;
        return reply(&s, "log-query");
    }
    let mut st = fake.state.lock().expect("lock");
    let pending = st.pending_polls;
    let (finished_code, finished_body) = (st.finished_code, st.finished_body.clone());
    let result = st.result.to_string();
    let Some(job) = st.jobs.get_mut(&id) else {
        return reply(
            &Scripted::status(400, protocol::code::INVALID_PARAMS),
            "log-unknown",
        );
    };
    job.queries += 1;
    if job.queries <= pending {
        let code = if job.queries == 1 {
            protocol::code::QUEUED
        } else {
            protocol::code::PROCESSING
        };
        return reply(&Scripted::status(200, code), "log-query");
    }
    let code = finished_code.unwrap_or(protocol::code::OK);
    reply(
        &Scripted {
            body: finished_body.unwrap_or(result),
            ..Scripted::status(200, code)
        },
        "log-query",
    )
}

pub(super) async fn fake() -> Fake {
    let state = Arc::new(Mutex::new(FakeState {
        pending_polls: 2,
        result: result_body(),
        ..FakeState::default()
    }));
    let mut fake = Fake {
        base: String::new(),
        state,
        queried: Arc::new(Notify::new()),
    };
    let router = Router::new()
        .route("/api/v3/auc/bigmodel/submit", post(submit))
        .route("/api/v3/auc/bigmodel/query", post(query))
        .with_state(fake.clone());
    fake.base = serve(router).await;
    fake
}

impl Fake {
    pub(super) fn with<T>(&self, f: impl FnOnce(&mut FakeState) -> T) -> T {
        f(&mut self.state.lock().expect("lock"))
    }

    pub(super) fn submits(&self) -> usize {
        self.with(|s| s.submits_accepted)
    }

    pub(super) fn only_job_body(&self) -> Value {
        self.with(|s| {
            assert_eq!(s.jobs.len(), 1, "exactly one job");
            s.jobs
                .values()
                .next()
                .map(|j| j.body.clone())
                .unwrap_or_default()
        })
    }
}

/// Presigns like an S3-compatible store would, without one.
pub(super) struct FakeSigner;

#[async_trait]
impl UrlSigner for FakeSigner {
    async fn signed_get_url(
        &self,
        key: &str,
        expires_in: Duration,
    ) -> Result<String, StorageError> {
        Ok(format!(
            "https://objects.example/{key}?X-Expires={}&sig=test",
            expires_in.as_secs()
        ))
    }
}

/// An in-memory checkpoint that counts its saves.
#[derive(Default)]
pub(super) struct MemCheckpoint {
    pub(super) map: Mutex<HashMap<String, Value>>,
    pub(super) saves: AtomicUsize,
}

#[async_trait]
impl JobCheckpoint for MemCheckpoint {
    async fn load(&self, provider: &str) -> Result<Option<Value>, ProviderError> {
        Ok(self.map.lock().expect("lock").get(provider).cloned())
    }

    async fn save(&self, provider: &str, state: Option<&Value>) -> Result<(), ProviderError> {
        self.saves.fetch_add(1, Ordering::SeqCst);
        let mut map = self.map.lock().expect("lock");
        match state {
            Some(s) => map.insert(provider.to_string(), s.clone()),
            None => map.remove(provider),
        };
        Ok(())
    }
}

impl MemCheckpoint {
    pub(super) fn job(&self) -> Option<Value> {
        self.map.lock().expect("lock").get("volcano").cloned()
    }
}

pub(super) fn settings(fake: &Fake) -> VolcanoAsrSettings {
    VolcanoAsrSettings {
        submit_url: format!("{}/api/v3/auc/bigmodel/submit", fake.base),
        query_url: format!("{}/api/v3/auc/bigmodel/query", fake.base),
        app_id: APP_ID.into(),
        access_token: Some(SecretString::from(TOKEN)),
        request_timeout_secs: 5,
        ..VolcanoAsrSettings::default()
    }
}

pub(super) fn objects() -> (tempfile::TempDir, ObjectStorage) {
    let dir = tempfile::tempdir().expect("tempdir");
    let objects = ObjectStorage::local(dir.path())
        .expect("local store")
        .with_signer(Arc::new(FakeSigner));
    (dir, objects)
}

pub(super) struct Setup {
    pub(super) asr: VolcanoAsr,
    pub(super) clock: Arc<ManualProviderClock>,
    pub(super) _dir: tempfile::TempDir,
}

pub(super) fn adapter(s: VolcanoAsrSettings) -> Setup {
    let clock = Arc::new(ManualProviderClock::at(1_700_000_000_000));
    let (dir, objects) = objects();
    let asr = VolcanoAsr::new(
        s,
        &EgressPolicy::default(),
        objects,
        KeyPoolSettings::default(),
        clock.clone(),
    )
    .expect("adapter builds");
    Setup {
        asr,
        clock,
        _dir: dir,
    }
}

pub(super) fn request(checkpoint: &Arc<MemCheckpoint>, duration_secs: f64) -> TranscribeRequest {
    TranscribeRequest {
        duration_secs,
        language: "zh-CN".into(),
        hotwords: vec!["火山引擎".into(), "Grafana".into()],
        audio_key: Some(AUDIO_KEY.into()),
        checkpoint: Some(Checkpoint(checkpoint.clone())),
        ..TranscribeRequest::default()
    }
}

pub(super) fn sum(d: &[Duration]) -> Duration {
    d.iter().sum()
}
