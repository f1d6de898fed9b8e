//! Speech-to-text on Volcano Engine's BigModel file recognition (豆包大模型录音文件识别标准版,
//! v3 `auc/bigmodel` submit + query). The provider downloads the audio itself from a
//! presigned object-store URL; we submit, then poll with exponential backoff until a deadline
//! proportional to the audio's length. The request id is checkpointed on the task's step
//! before it is submitted, so a restarted worker resumes polling the same job (and a retried
//! submit reuses the id) instead of paying for a second recognition.
mod client;
mod protocol;

use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use secrecy::SecretString;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use self::client::{Answer, Client};
use self::protocol::{Status, SubmitBody};
use crate::egress::EgressPolicy;
use crate::providers::hotword_tables::{read_secret, VolcanoHotwordSettings};
use crate::providers::http::{check_base_url, serialize_redacted};
use crate::providers::keys::{KeyPool, KeyPoolSettings, ProviderClock};
use crate::providers::{AsrOutput, ProviderError, SpeechToText, TranscribeRequest};
use crate::storage::{ObjectStorage, StorageError};

fn default_submit_url() -> String {
    "https://openspeech.bytedance.com/api/v3/auc/bigmodel/submit".into()
}
fn default_query_url() -> String {
    "https://openspeech.bytedance.com/api/v3/auc/bigmodel/query".into()
}
fn default_resource_id() -> String {
    "volc.bigasr.auc".into()
}
fn default_uid() -> String {
    "minutes".into()
}
fn yes() -> bool {
    true
}
fn default_request_timeout_secs() -> u64 {
    30
}
fn default_poll_initial_ms() -> u64 {
    2000
}
fn default_poll_multiplier() -> f64 {
    1.5
}
fn default_poll_max_ms() -> u64 {
    30_000
}
fn default_min_wait_secs() -> u64 {
    600
}
fn default_wait_per_audio_second() -> f64 {
    3.0
}
fn default_max_poll_errors() -> u32 {
    5
}
fn default_audio_url_ttl_secs() -> u64 {
    6 * 3600
}

fn string_or_number<'de, D: serde::Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Id {
        Text(String),
        Unsigned(u64),
        Signed(i64),
    }
    Ok(match Id::deserialize(d)? {
        Id::Text(s) => s,
        Id::Unsigned(n) => n.to_string(),
        Id::Signed(n) => n.to_string(),
    })
}

/// `asr.volcano`: the BigModel file-recognition endpoint, credentials and polling.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct VolcanoAsrSettings {
    #[serde(default = "default_submit_url")]
    pub submit_url: String,
    #[serde(default = "default_query_url")]
    pub query_url: String,
    /// `volc.bigasr.auc` (model 1.0) or `volc.seedasr.auc` (model 2.0).
    #[serde(default = "default_resource_id")]
    pub resource_id: String,
    /// The application's APP ID (`X-Api-App-Key`). Digits, so the env layer may read it as a
    /// number: both are accepted.
    #[serde(default, deserialize_with = "string_or_number")]
    pub app_id: String,
    /// The application's Access Token (`X-Api-Access-Key`).
    #[serde(default, serialize_with = "serialize_redacted")]
    pub access_token: Option<SecretString>,
    #[serde(default)]
    pub access_token_file: Option<PathBuf>,
    /// `user.uid` of every request (no personal data is sent).
    #[serde(default = "default_uid")]
    pub uid: String,
    /// Disfluency smoothing (语义顺滑).
    #[serde(default = "yes")]
    pub enable_ddc: bool,
    /// Per HTTP request (submit or one query), not the whole recognition.
    #[serde(default = "default_request_timeout_secs")]
    pub request_timeout_secs: u64,
    #[serde(default = "default_poll_initial_ms")]
    pub poll_initial_ms: u64,
    #[serde(default = "default_poll_multiplier")]
    pub poll_multiplier: f64,
    #[serde(default = "default_poll_max_ms")]
    pub poll_max_ms: u64,
    /// The recognition may take max(min_wait_secs, wait_per_audio_second × audio seconds).
    #[serde(default = "default_min_wait_secs")]
    pub min_wait_secs: u64,
    #[serde(default = "default_wait_per_audio_second")]
    pub wait_per_audio_second: f64,
    /// Consecutive failed queries (5xx, 429, timeouts) before the attempt gives up; the job
    /// queue retries later and resumes the same recognition.
    #[serde(default = "default_max_poll_errors")]
    pub max_poll_errors: u32,
    /// Lifetime of the presigned audio URL; the provider may start downloading late.
    #[serde(default = "default_audio_url_ttl_secs")]
    pub audio_url_ttl_secs: u64,
    /// Send the task's hotwords in `corpus.context` when no boosting table applies.
    #[serde(default = "yes")]
    pub inline_hotwords: bool,
    /// A boosting table for tasks whose hotword set has none (managed out of band).
    #[serde(default)]
    pub boosting_table_id: Option<String>,
    #[serde(default)]
    pub boosting_table_name: Option<String>,
    /// Passed through as `request.sensitive_words_filter` (the page's JSON object).
    #[serde(default)]
    pub sensitive_words_filter: Option<Value>,
    /// When the filter masks words with `*`, fail with `content_blocked` so the fallback
    /// provider transcribes the meeting instead.
    #[serde(default)]
    pub fallback_on_masked: bool,
    #[serde(default)]
    pub hotword_tables: VolcanoHotwordSettings,
}

impl Default for VolcanoAsrSettings {
    fn default() -> Self {
        VolcanoAsrSettings {
            submit_url: default_submit_url(),
            query_url: default_query_url(),
            resource_id: default_resource_id(),
            app_id: String::new(),
            access_token: None,
            access_token_file: None,
            uid: default_uid(),
            enable_ddc: true,
            request_timeout_secs: default_request_timeout_secs(),
            poll_initial_ms: default_poll_initial_ms(),
            poll_multiplier: default_poll_multiplier(),
            poll_max_ms: default_poll_max_ms(),
            min_wait_secs: default_min_wait_secs(),
            wait_per_audio_second: default_wait_per_audio_second(),
            max_poll_errors: default_max_poll_errors(),
            audio_url_ttl_secs: default_audio_url_ttl_secs(),
            inline_hotwords: true,
            boosting_table_id: None,
            boosting_table_name: None,
            sensitive_words_filter: None,
            fallback_on_masked: false,
            hotword_tables: VolcanoHotwordSettings::default(),
        }
    }
}

impl VolcanoAsrSettings {
    /// How long a recognition of `audio_secs` may take before we stop waiting.
    pub fn wait_budget(&self, audio_secs: f64) -> Duration {
        let proportional = Duration::try_from_secs_f64(
            (audio_secs.max(0.0) * self.wait_per_audio_second.max(0.0)).min(1e9),
        )
        .unwrap_or_default();
        proportional.max(Duration::from_secs(self.min_wait_secs))
    }

    /// The filter as a JSON object: written as a map in YAML, or as a JSON string (the form
    /// an environment variable takes).
    fn filter(&self) -> Result<Option<Value>, String> {
        match &self.sensitive_words_filter {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(text)) => serde_json::from_str::<Value>(text)
                .map(Some)
                .map_err(|e| format!("asr.volcano.sensitive_words_filter is not JSON: {e}")),
            Some(v @ Value::Object(_)) => Ok(Some(v.clone())),
            Some(_) => Err("asr.volcano.sensitive_words_filter must be an object".into()),
        }
    }

    /// Whether the configured filter replaces words with `*` (the masking we can detect).
    fn masks_with_asterisks(&self) -> bool {
        self.filter().ok().flatten().is_some_and(|f| {
            f.get("system_reserved_filter").and_then(Value::as_bool) == Some(true)
                || f.get("filter_with_signed")
                    .and_then(Value::as_array)
                    .is_some_and(|a| !a.is_empty())
        })
    }
}

/// The checkpointed state of one recognition job.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct JobState {
    request_id: String,
    /// False between saving the id and the provider accepting the submit.
    submitted: bool,
    created_at_ms: i64,
    #[serde(default)]
    submitted_at_ms: Option<i64>,
    #[serde(default)]
    logid: Option<String>,
}

enum Polled {
    Done(Answer),
    Silent,
}

/// `SpeechToText` on Volcano's BigModel file recognition.
pub struct VolcanoAsr {
    name: String,
    client: Client,
    keys: Arc<KeyPool>,
    /// The pool's one token: a job must be queried with the credentials it was submitted with.
    token: SecretString,
    settings: VolcanoAsrSettings,
    objects: ObjectStorage,
    clock: Arc<dyn ProviderClock>,
}

impl std::fmt::Debug for VolcanoAsr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VolcanoAsr")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

impl VolcanoAsr {
    pub const DEFAULT_NAME: &'static str = "volcano";

    /// Checks the settings and that `objects` can presign (the provider fetches the audio by
    /// URL; the local directory store cannot give one, so that combination fails here, at
    /// startup).
    pub fn new(
        settings: VolcanoAsrSettings,
        egress: &EgressPolicy,
        objects: ObjectStorage,
        pool: KeyPoolSettings,
        clock: Arc<dyn ProviderClock>,
    ) -> Result<VolcanoAsr, ProviderError> {
        let name = Self::DEFAULT_NAME.to_string();
        let rejected = |detail: String| ProviderError::Rejected {
            provider: name.clone(),
            detail,
        };
        if settings.app_id.trim().is_empty() {
            return Err(rejected(
                "asr.volcano.app_id is not set (MINUTES__ASR__VOLCANO__APP_ID)".into(),
            ));
        }
        let token = read_secret(
            settings.access_token.as_ref(),
            settings.access_token_file.as_deref(),
        )
        .map_err(&rejected)?
        .ok_or_else(|| {
            rejected(
                "asr.volcano.access_token is not set (MINUTES__ASR__VOLCANO__ACCESS_TOKEN or \
                 asr.volcano.access_token_file)"
                    .into(),
            )
        })?;
        if !objects.can_presign() {
            return Err(rejected(
                "Volcano downloads the audio from a presigned URL, and the configured object \
                 store (the local directory at storage.root) cannot presign one: use an \
                 S3-compatible object store, or another asr.primary/asr.fallback"
                    .into(),
            ));
        }
        if !(settings.poll_multiplier >= 1.0 && settings.poll_multiplier.is_finite())
            || settings.poll_initial_ms == 0
            || settings.poll_max_ms < settings.poll_initial_ms
        {
            return Err(rejected(
                "asr.volcano polling needs poll_initial_ms ≥ 1, poll_max_ms ≥ poll_initial_ms \
                 and poll_multiplier ≥ 1"
                    .into(),
            ));
        }
        settings.filter().map_err(&rejected)?;
        check_base_url(&name, &settings.submit_url, egress)?;
        check_base_url(&name, &settings.query_url, egress)?;
        let client = Client::new(
            &name,
            &settings.submit_url,
            &settings.query_url,
            &settings.app_id,
            &settings.resource_id,
            Duration::from_secs(settings.request_timeout_secs.max(1)),
            egress,
        )?;
        Ok(VolcanoAsr {
            keys: Arc::new(KeyPool::new(
                &name,
                vec![token.clone()],
                pool,
                clock.clone(),
            )),
            token,
            name,
            client,
            settings,
            objects,
            clock,
        })
    }

    /// The key pool (one access token), for health reporting.
    pub fn key_pool(&self) -> Arc<KeyPool> {
        self.keys.clone()
    }

    async fn load_job(&self, req: &TranscribeRequest) -> Result<Option<JobState>, ProviderError> {
        let Some(cp) = &req.checkpoint else {
            return Ok(None);
        };
        let Some(state) = cp.0.load(&self.name).await? else {
            return Ok(None);
        };
        match serde_json::from_value::<JobState>(state) {
            Ok(job) => Ok(Some(job)),
            Err(e) => {
                tracing::warn!(provider = %self.name, error = %e, "ignoring an unreadable checkpoint");
                Ok(None)
            }
        }
    }

    async fn save_job(
        &self,
        req: &TranscribeRequest,
        job: Option<&JobState>,
    ) -> Result<(), ProviderError> {
        let Some(cp) = &req.checkpoint else {
            return Ok(());
        };
        let value = job
            .map(serde_json::to_value)
            .transpose()
            .map_err(|e| self.invalid(format!("checkpoint: {e}")))?;
        cp.0.save(&self.name, value.as_ref()).await
    }

    fn invalid(&self, detail: String) -> ProviderError {
        ProviderError::InvalidResponse {
            provider: self.name.clone(),
            detail,
        }
    }

    async fn submit_body(&self, req: &TranscribeRequest) -> Result<SubmitBody, ProviderError> {
        let key = req
            .audio_key
            .as_deref()
            .ok_or_else(|| ProviderError::Rejected {
                provider: self.name.clone(),
                detail: "the audio is not in the object store, so there is no URL to give Volcano"
                    .into(),
            })?;
        let ttl = Duration::from_secs(self.settings.audio_url_ttl_secs.max(60));
        let url = self
            .objects
            .presigned_get(key, ttl)
            .await
            .map_err(|e| match e {
                StorageError::Backend(_) | StorageError::Io(_) => ProviderError::Unavailable {
                    provider: self.name.clone(),
                    detail: format!("presigning the audio URL: {e}"),
                },
                other => ProviderError::Rejected {
                    provider: self.name.clone(),
                    detail: format!("presigning the audio URL: {other}"),
                },
            })?;
        let s = &self.settings;
        // The task's own table holds its words; otherwise the words go inline, next to the
        // configured global table if there is one.
        let own = req
            .hotword_table
            .as_ref()
            .filter(|t| t.provider == self.name)
            .map(|t| (Some(t.id.clone()), t.name.clone()));
        let context = match &own {
            None if s.inline_hotwords => protocol::context_hotwords(&req.hotwords),
            _ => None,
        };
        let (boosting_table_id, boosting_table_name) =
            own.unwrap_or_else(|| (s.boosting_table_id.clone(), s.boosting_table_name.clone()));
        Ok(SubmitBody {
            user: protocol::User { uid: s.uid.clone() },
            audio: protocol::Audio {
                url,
                // The normalized meeting audio: 16 kHz mono 16-bit PCM in WAV.
                format: "wav",
                codec: "raw",
                rate: 16_000,
                bits: 16,
                channel: 1,
                language: protocol::language(&req.language),
            },
            request: protocol::RequestOptions {
                model_name: "bigmodel",
                enable_itn: true,
                enable_punc: true,
                enable_ddc: s.enable_ddc,
                enable_speaker_info: true,
                show_utterances: true,
                corpus: protocol::Corpus {
                    boosting_table_id,
                    boosting_table_name,
                    context,
                },
                sensitive_words_filter: s.filter().ok().flatten().map(|f| f.to_string()),
            },
        })
    }

    /// Submits `job` (saved beforehand), reusing its request id on every try. `resumed`: an
    /// earlier attempt may already have reached the provider.
    async fn submit(
        &self,
        req: &TranscribeRequest,
        mut job: JobState,
        resumed: bool,
    ) -> Result<JobState, ProviderError> {
        let body = self.submit_body(req).await?;
        let tries = AtomicU32::new(u32::from(resumed));
        let request_id = job.request_id.clone();
        let outcome = self
            .keys
            .call(|key| {
                let (body, request_id, tries) = (&body, &request_id, &tries);
                async move {
                    let key = key.ok_or_else(|| self.invalid("no access token".into()))?;
                    let earlier = tries.fetch_add(1, Ordering::SeqCst) > 0;
                    let answer = self.client.submit(&key, request_id, body).await;
                    match answer {
                        Ok(a) => match a.status {
                            Status::Done => Ok(Some(a.logid)),
                            // "Duplicate request" shares this code with invalid parameters:
                            // after an earlier try it may mean our own submit went through.
                            Status::Failed(ProviderError::Rejected { .. })
                                if earlier
                                    && a.api_code == Some(protocol::code::INVALID_PARAMS) =>
                            {
                                Ok(None)
                            }
                            Status::Failed(e) => Err(e),
                            other => Err(self.invalid(format!(
                                "submit answered {other:?} instead of accepting the job"
                            ))),
                        },
                        Err(e) => Err(e),
                    }
                }
            })
            .await;
        let logid = match outcome {
            Ok(Some(logid)) => logid,
            Ok(None) => match self.probe_duplicate(&request_id).await {
                Ok(logid) => logid,
                Err(e) => {
                    // Not ours after all: the request itself is refused; start afresh later.
                    if !e.is_retryable() {
                        self.save_job(req, None).await?;
                    }
                    return Err(e);
                }
            },
            Err(e) => {
                if !e.is_retryable() {
                    // This id will never run; a later attempt starts afresh.
                    self.save_job(req, None).await?;
                }
                return Err(e);
            }
        };
        job.submitted = true;
        job.submitted_at_ms = Some(self.clock.now_ms());
        job.logid = logid;
        self.save_job(req, Some(&job)).await?;
        tracing::info!(provider = %self.name, request_id = %job.request_id,
            logid = job.logid.as_deref().unwrap_or(""), "recognition submitted");
        Ok(job)
    }

    /// After "duplicate or invalid" on a resubmit: the job exists if a query knows it.
    async fn probe_duplicate(&self, request_id: &str) -> Result<Option<String>, ProviderError> {
        let answer = self.client.query(&self.token, request_id).await?;
        match answer.status {
            Status::Done | Status::Pending | Status::Silent => Ok(answer.logid),
            Status::Failed(e) => Err(e),
        }
    }

    /// Polls until the job ends or its deadline passes.
    async fn poll(
        &self,
        req: &TranscribeRequest,
        job: &JobState,
        resumed: bool,
    ) -> Result<Polled, ProviderError> {
        let s = &self.settings;
        let budget = s.wait_budget(req.duration_secs);
        let started = job.submitted_at_ms.unwrap_or(job.created_at_ms);
        let deadline =
            started.saturating_add(i64::try_from(budget.as_millis()).unwrap_or(i64::MAX));
        // The original system's ETA rule: a quarter of the audio's length.
        let expected_ms = (req.duration_secs.max(60.0) * 250.0) as i64;
        let mut delay = if resumed {
            Duration::ZERO
        } else {
            Duration::from_millis(s.poll_initial_ms)
        };
        let mut errors = 0u32;
        loop {
            let now = self.clock.now_ms();
            let left = deadline.saturating_sub(now);
            if left <= 0 {
                return Err(ProviderError::Timeout {
                    provider: self.name.clone(),
                    after: budget,
                });
            }
            let wait = delay.min(Duration::from_millis(left.unsigned_abs()));
            if !wait.is_zero() {
                self.clock.sleep(wait).await;
            }
            let answer = self.client.query(&self.token, &job.request_id).await;
            let mut hint = None;
            let failure = match answer {
                Ok(a) => match &a.status {
                    Status::Done => return Ok(Polled::Done(a)),
                    Status::Silent => return Ok(Polled::Silent),
                    Status::Pending => {
                        errors = 0;
                        if let Some(progress) = &req.progress {
                            let elapsed = self.clock.now_ms().saturating_sub(started) as f64;
                            progress.report((elapsed / expected_ms as f64).min(0.95));
                        }
                        None
                    }
                    Status::Failed(e) => Some(e.clone()),
                },
                Err(e) => Some(e),
            };
            if let Some(e) = failure {
                let transient = matches!(
                    e,
                    ProviderError::Unavailable { .. }
                        | ProviderError::RateLimited { .. }
                        | ProviderError::Timeout { .. }
                        | ProviderError::InvalidResponse { .. }
                );
                errors += 1;
                if !transient || errors >= s.max_poll_errors.max(1) {
                    return Err(e);
                }
                tracing::debug!(provider = %self.name, request_id = %job.request_id, error = %e,
                    consecutive = errors, "query failed; polling on");
                hint = e.retry_after();
            }
            delay = if delay.is_zero() {
                Duration::from_millis(s.poll_initial_ms)
            } else {
                // Whole milliseconds: the schedule stays exact however long it runs.
                let next = (delay.as_millis() as f64 * s.poll_multiplier).round() as u64;
                Duration::from_millis(next.min(s.poll_max_ms))
            };
            // A rate limit's hint wins over the schedule (it may exceed poll_max_ms).
            delay = delay.max(hint.unwrap_or_default());
        }
    }

    fn output(&self, answer: &Answer) -> Result<AsrOutput, ProviderError> {
        let body: protocol::QueryBody = if answer.body.iter().all(u8::is_ascii_whitespace) {
            return Err(self.invalid("the finished query answer has no body".into()));
        } else {
            serde_json::from_slice(&answer.body).map_err(|e| {
                self.invalid(format!(
                    "not a recognition result ({e}): {}",
                    crate::providers::http::body_excerpt(&answer.body, None)
                ))
            })?
        };
        let parsed = protocol::parse_result(&body, &self.name)?;
        if parsed.masked_tokens > 0 && self.settings.masks_with_asterisks() {
            if self.settings.fallback_on_masked {
                return Err(ProviderError::ContentBlocked {
                    provider: self.name.clone(),
                    detail: format!(
                        "sensitive_words_filter masked {} word(s) of the transcript",
                        parsed.masked_tokens
                    ),
                });
            }
            tracing::info!(provider = %self.name, masked = parsed.masked_tokens,
                "the sensitive-words filter masked words; keeping the transcript");
        }
        Ok(AsrOutput {
            segments: parsed.segments,
            language: None,
            provider: self.name.clone(),
            fallback_errors: Vec::new(),
        })
    }
}

#[async_trait]
impl SpeechToText for VolcanoAsr {
    fn name(&self) -> &str {
        &self.name
    }

    async fn transcribe(&self, req: &TranscribeRequest) -> Result<AsrOutput, ProviderError> {
        let mut saved = self.load_job(req).await?;
        let mut silent_resubmitted = false;
        loop {
            let (job, resumed) = match saved.take() {
                Some(job) if job.submitted => {
                    tracing::info!(provider = %self.name, request_id = %job.request_id,
                        "resuming a submitted recognition");
                    (job, true)
                }
                Some(job) => (self.submit(req, job, true).await?, false),
                None => {
                    let job = JobState {
                        request_id: uuid::Uuid::new_v4().to_string(),
                        submitted: false,
                        created_at_ms: self.clock.now_ms(),
                        submitted_at_ms: None,
                        logid: None,
                    };
                    // Saved before it is sent: a crash after the provider accepted it cannot
                    // lead to a second, paid submission under another id.
                    self.save_job(req, Some(&job)).await?;
                    (self.submit(req, job, false).await?, false)
                }
            };
            match self.poll(req, &job, resumed).await {
                Ok(Polled::Done(answer)) => {
                    let out = self.output(&answer);
                    if matches!(out, Err(ProviderError::ContentBlocked { .. })) {
                        self.save_job(req, None).await?;
                    }
                    return out;
                }
                // 静音音频: the page says to submit again rather than query again; a second
                // silent answer means there is no speech to recognize.
                Ok(Polled::Silent) if !silent_resubmitted => {
                    silent_resubmitted = true;
                    self.save_job(req, None).await?;
                    tracing::info!(provider = %self.name, request_id = %job.request_id,
                        "provider reported silent audio; submitting once more");
                }
                Ok(Polled::Silent) => {
                    return Ok(AsrOutput {
                        segments: Vec::new(),
                        language: None,
                        provider: self.name.clone(),
                        fallback_errors: Vec::new(),
                    })
                }
                Err(e) => {
                    // Timeouts past the deadline and permanent failures start afresh next
                    // time; transient query failures keep the id so a retry resumes it.
                    // Refused credentials keep the id: once they are fixed, a retry resumes.
                    let restart = matches!(e, ProviderError::Timeout { .. }) || !e.is_retryable();
                    if restart && !matches!(e, ProviderError::Auth { .. }) {
                        self.save_job(req, None).await?;
                    }
                    return Err(e);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests;
