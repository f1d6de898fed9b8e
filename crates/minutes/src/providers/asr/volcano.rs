//! Speech-to-text on Volcano Engine's BigModel file recognition (豆包大模型录音文件识别标准版,
//! v3 `auc/bigmodel` submit + query). The provider downloads the audio itself from a
//! presigned object-store URL; we submit, then poll with exponential backoff until a deadline
//! proportional to the audio's length. The request id is checkpointed on the task's step
//! before it is submitted, so a restarted worker resumes polling the same job (and a retried
//! submit reuses the id) instead of paying for a second recognition.
mod client;
mod protocol;
mod settings;

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use secrecy::SecretString;
use serde::{Deserialize, Serialize};

pub use self::settings::VolcanoAsrSettings;

use self::client::{Answer, Client};
use self::protocol::{Status, SubmitBody};
use crate::egress::EgressPolicy;
use crate::providers::hotword_tables::read_secret;
use crate::providers::http::check_base_url;
use crate::providers::keys::{KeyPool, KeyPoolSettings, ProviderClock};
use crate::providers::{AsrOutput, ProviderError, SpeechToText, TranscribeRequest};
use crate::storage::{ObjectStorage, StorageError};

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
                 store (the local directory at storage.root) cannot presign one: set \
                 storage.backend: s3 (an S3-compatible bucket Volcano can reach), or use another \
                 asr.primary/asr.fallback"
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
