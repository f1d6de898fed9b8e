//! Layered configuration: embedded defaults → optional YAML file → `MINUTES__SECTION__KEY` env.
//! Secrets are `SecretString`s: they never print, and `config print` redacts them.
mod secret;
mod security;

use std::path::{Path, PathBuf};

use figment::providers::{Env, Format, Yaml};
use figment::Figment;
use secrecy::SecretString;
use serde::{Deserialize, Serialize};

use crate::providers::asr::openai::OpenAiAsrSettings;
use crate::providers::asr::volcano::VolcanoAsrSettings;
use crate::providers::keys::KeyPoolSettings;
use crate::providers::llm::gemini::GeminiSettings;
use crate::providers::llm::openai::OpenAiChatSettings;

pub use secret::{redact, redact_dsn};
pub use security::{ApiKeyConfig, IdpConfig, NetworkConfig, StaticKey};

const DEFAULTS: &str = include_str!("defaults.yaml");

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Profile {
    Development,
    Test,
    Production,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    pub profile: Profile,
    /// Root for the SQLite file, uploaded objects and models unless overridden.
    pub data_dir: PathBuf,
    pub server: ServerConfig,
    pub database: DatabaseConfig,
    pub storage: StorageConfig,
    pub auth: AuthConfig,
    pub queue: QueueConfig,
    pub audio: AudioConfig,
    pub asr: AsrConfig,
    pub llm: LlmConfig,
    /// Circuit breakers and retries of every provider's API-key pool.
    pub provider_keys: KeyPoolSettings,
    pub voiceprint: VoiceprintConfig,
    pub diarization: DiarizationConfig,
    pub models: ModelsConfig,
    pub pipeline: PipelineConfig,
    pub retention: RetentionConfig,
    pub rate_limit: RateLimitConfig,
    pub quotas: QuotaConfig,
    pub network: NetworkConfig,
    pub encryption: EncryptionConfig,
    pub log: LogConfig,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerConfig {
    pub bind: String,
    pub max_upload_bytes: u64,
    /// Largest JSON body (or non-upload request body) accepted.
    pub max_body_bytes: usize,
    pub request_timeout_secs: u64,
    /// Browser origins allowed to call the API (`https://app.example.com`); empty = none.
    pub cors_origins: Vec<String>,
    /// A connection must deliver a request's headers within this time (slowloris).
    pub header_read_timeout_secs: u64,
    /// Longest pause between two chunks of a request body (slow uploads).
    pub body_read_timeout_secs: u64,
    /// Deepest nesting of arrays and objects accepted in a JSON body.
    pub max_json_depth: usize,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DatabaseConfig {
    /// `sqlite://…` or `postgres://…`; empty means `sqlite://{data_dir}/minutes.db`.
    #[serde(serialize_with = "secret::redact_url")]
    pub url: String,
    pub max_connections: u32,
    /// `null` = migrate on start in development and test, never in production.
    pub migrate_on_start: Option<bool>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StorageConfig {
    /// Local object-store root; empty means `{data_dir}/objects`.
    pub root: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuthConfig {
    pub dev_login: bool,
    #[serde(default, serialize_with = "secret::redact")]
    pub jwt_secret: Option<SecretString>,
    /// A file holding the JWT secret (e.g. a mounted Docker/Kubernetes secret).
    #[serde(default)]
    pub jwt_secret_file: Option<PathBuf>,
    pub jwt_ttl_secs: u64,
    pub issuer: String,
    /// User ids of platform operators (may manage global hotword sets).
    #[serde(default)]
    pub operators: Vec<String>,
    pub idp: IdpConfig,
    pub api_keys: ApiKeyConfig,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QueueConfig {
    pub poll_interval_ms: u64,
    pub lease_secs: u64,
    pub heartbeat_secs: u64,
    pub max_attempts: u32,
    /// Per job kind overrides of `max_attempts` (e.g. `transcribe: 8`).
    #[serde(default)]
    pub max_attempts_by_kind: std::collections::BTreeMap<String, u32>,
    pub backoff_base_secs: u64,
    pub backoff_max_secs: u64,
    pub concurrency: usize,
    pub shutdown_grace_secs: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AudioConfig {
    pub max_duration_secs: f64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AsrProviderKind {
    Openai,
    /// Embedded Whisper on CTranslate2 (needs the `local-asr` cargo feature and a model).
    Local,
    /// Volcano Engine BigModel file recognition (needs an object store that presigns URLs).
    Volcano,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AsrConfig {
    pub primary: AsrProviderKind,
    pub fallback: Option<AsrProviderKind>,
    pub openai: OpenAiAsrSettings,
    pub local: LocalAsrSettings,
    #[serde(default)]
    pub volcano: VolcanoAsrSettings,
}

impl AsrConfig {
    /// Whether Volcano is in the chain (primary or fallback).
    pub fn uses_volcano(&self) -> bool {
        self.primary == AsrProviderKind::Volcano || self.fallback == Some(AsrProviderKind::Volcano)
    }
}

/// The embedded Whisper engine (`asr.primary: local`, cargo feature `local-asr`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LocalAsrSettings {
    /// A catalog name (`whisper-base`, `whisper-tiny-en`) or a CTranslate2 Whisper directory.
    pub model: String,
    /// CTranslate2 compute type: int8, int8_float32, float32 …
    pub compute_type: String,
    /// Intra-op threads (0 = one per core).
    pub threads: usize,
    pub beam_size: usize,
    /// Segments sampled for language detection when the task's language is `auto`.
    pub detect_language_segments: usize,
}

/// Where installed offline models live (`minutes models install`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelsConfig {
    /// Empty means `$MINUTES_MODELS_DIR`, else `{data_dir}/models`.
    pub dir: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LlmProviderKind {
    Openai,
    /// Google's Gemini API.
    Gemini,
    /// The offline extractive generator (no model; rule- and rank-based minutes).
    Local,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LlmConfig {
    pub provider: LlmProviderKind,
    /// Transcripts longer than this (characters of prompt lines) are summarised map-reduce.
    pub max_transcript_chars: usize,
    pub openai: OpenAiChatSettings,
    pub gemini: GeminiSettings,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum VoiceprintProviderKind {
    /// No voiceprint engine: the identify stage records itself as skipped.
    None,
    /// CAM++ embeddings on the CPU, kept (sealed) in the database.
    Local,
    /// iFlyTek's 声纹识别 WebAPI (a feature group per tenant at the provider).
    Iflytek,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DiarizationProviderKind {
    /// Transcripts from engines without speaker labels keep one speaker.
    None,
    /// CAM++ embeddings + clustering (fbank statistics when the model is not installed).
    Local,
}

/// Speaker separation for ASR engines that return no speakers (the local Whisper).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DiarizationConfig {
    pub provider: DiarizationProviderKind,
    /// A catalog name (`campplus-zh-en`) or the path of a CAM++ state dict.
    pub model: String,
    /// Cosine-distance threshold for merging clusters; null = the engine's measured default.
    pub threshold: Option<f32>,
    /// Upper bound on speakers when known; null = estimated from the threshold.
    pub max_speakers: Option<usize>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VoiceprintConfig {
    pub provider: VoiceprintProviderKind,
    /// Samples (3–6 s each) cut per diarized label for identification; they vote.
    pub samples_per_label: usize,
    pub enrollment: VoiceprintEnrollmentConfig,
    pub local: LocalVoiceprintConfig,
    pub iflytek: crate::providers::voiceprint::IflytekVoiceprintSettings,
}

/// What `POST /speakers` accepts as an enrollment sample.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VoiceprintEnrollmentConfig {
    pub max_sample_bytes: u64,
    /// Seconds of speech (after the energy VAD) the sample must hold.
    pub min_speech_secs: f64,
    pub max_speech_secs: f64,
}

/// `voiceprint.provider: local`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LocalVoiceprintConfig {
    /// A catalog name (`campplus-zh-en`) or the path of a CAM++ state dict.
    pub model: String,
    pub thresholds: crate::providers::voiceprint::ScoreThresholds,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PipelineConfig {
    pub default_template: String,
}

/// Request budgets per authenticated user (GCRA); shared through Redis when `redis_url` is set.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RateLimitConfig {
    pub enabled: bool,
    pub per_minute: u32,
    pub upload_per_minute: u32,
    pub login_per_minute: u32,
    #[serde(serialize_with = "secret::redact_url")]
    pub redis_url: String,
    pub key_prefix: String,
}

/// Per-tenant limits, checked before work is accepted (0 = unlimited). The top-level numbers
/// apply to every tenant; `tenants.<id>` overrides any of them for one tenant.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QuotaConfig {
    pub audio_minutes_per_month: u64,
    pub concurrent_pipelines: u64,
    pub llm_tokens_per_month: u64,
    pub storage_bytes: u64,
    /// Share of a quota from which `GET /quota` warns.
    pub warn_at: f64,
    #[serde(default)]
    pub tenants: std::collections::BTreeMap<String, QuotaOverride>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QuotaLimits {
    pub audio_minutes_per_month: u64,
    pub concurrent_pipelines: u64,
    pub llm_tokens_per_month: u64,
    pub storage_bytes: u64,
}

/// One tenant's limits where they differ from the defaults.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QuotaOverride {
    pub audio_minutes_per_month: Option<u64>,
    pub concurrent_pipelines: Option<u64>,
    pub llm_tokens_per_month: Option<u64>,
    pub storage_bytes: Option<u64>,
}

impl QuotaConfig {
    /// The limits that apply to `tenant_id`.
    pub fn limits_for(&self, tenant_id: &str) -> QuotaLimits {
        let d = QuotaLimits {
            audio_minutes_per_month: self.audio_minutes_per_month,
            concurrent_pipelines: self.concurrent_pipelines,
            llm_tokens_per_month: self.llm_tokens_per_month,
            storage_bytes: self.storage_bytes,
        };
        match self.tenants.get(tenant_id) {
            None => d,
            Some(o) => QuotaLimits {
                audio_minutes_per_month: o
                    .audio_minutes_per_month
                    .unwrap_or(d.audio_minutes_per_month),
                concurrent_pipelines: o.concurrent_pipelines.unwrap_or(d.concurrent_pipelines),
                llm_tokens_per_month: o.llm_tokens_per_month.unwrap_or(d.llm_tokens_per_month),
                storage_bytes: o.storage_bytes.unwrap_or(d.storage_bytes),
            },
        }
    }
}

/// How long trash and audio are kept (text is kept); enforced by the hourly retention job.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RetentionConfig {
    pub trash_days: u32,
    /// Audio of confirmed, uncorrected tasks is kept this long after completion.
    pub audio_days: u32,
    /// Audio of confirmed tasks that were corrected is kept this long after confirmation.
    pub audio_extended_days: u32,
    /// Hard maximum for any audio (unconfirmed tasks keep theirs until then).
    pub audio_max_days: u32,
    pub interval_minutes: u32,
}

/// Field-level encryption of personal data. The keys themselves are never configuration: they
/// come from `MINUTES_FIELD_KEYS` and/or `key_file` (see docs/CONFIG.md).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EncryptionConfig {
    /// A file of `kid:base64` key lines. Empty = `{data_dir}/field-encryption.keys`, created on
    /// first start outside the production profile (production needs a key configured).
    pub key_file: String,
    /// The key id that seals new values; empty = the last key given.
    pub active_key: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LogFormat {
    Pretty,
    Json,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogConfig {
    pub format: LogFormat,
    pub filter: String,
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("invalid configuration: {0}")]
    Parse(String),
    #[error("invalid configuration: {key}: {reason}")]
    Invalid { key: &'static str, reason: String },
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
}

impl Config {
    /// Loads defaults, then `file` (if any), then the process environment.
    pub fn load(file: Option<&Path>) -> Result<Config, ConfigError> {
        Self::load_from(file, Env::prefixed("MINUTES__").split("__"))
    }

    fn load_from(file: Option<&Path>, env: Env) -> Result<Config, ConfigError> {
        let mut figment = Figment::from(Yaml::string(DEFAULTS));
        if let Some(path) = file {
            if !path.exists() {
                return Err(ConfigError::Read {
                    path: path.to_path_buf(),
                    source: std::io::Error::from(std::io::ErrorKind::NotFound),
                });
            }
            figment = figment.merge(Yaml::file(path));
        }
        let mut config: Config = figment
            .merge(env)
            .extract()
            .map_err(|e| ConfigError::Parse(e.to_string()))?;
        if let (Profile::Production, Some(path)) = (config.profile, file) {
            let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
                path: path.to_path_buf(),
                source,
            })?;
            let yaml: serde_yaml::Value =
                serde_yaml::from_str(&text).map_err(|e| ConfigError::Parse(e.to_string()))?;
            let found = security::secrets_in_file(&yaml);
            if !found.is_empty() {
                return Err(ConfigError::Invalid {
                    key: "profile",
                    reason: format!(
                        "production refuses secrets in {}: {} (set them with MINUTES__… \
                         environment variables or *_file settings)",
                        path.display(),
                        found.join(", ")
                    ),
                });
            }
        }
        config.resolve()?;
        Ok(config)
    }

    fn validate_voiceprint(&self) -> Result<(), ConfigError> {
        let v = &self.voiceprint;
        v.local
            .thresholds
            .validate()
            .map_err(|reason| ConfigError::Invalid {
                key: "voiceprint.local.thresholds",
                reason,
            })?;
        v.iflytek
            .thresholds
            .validate()
            .map_err(|reason| ConfigError::Invalid {
                key: "voiceprint.iflytek.thresholds",
                reason,
            })?;
        if v.iflytek.max_qps.is_nan() || v.iflytek.max_qps <= 0.0 {
            return Err(ConfigError::Invalid {
                key: "voiceprint.iflytek.max_qps",
                reason: "must be above 0".into(),
            });
        }
        let e = &v.enrollment;
        if !(e.min_speech_secs > 0.0 && e.min_speech_secs < e.max_speech_secs) {
            return Err(ConfigError::Invalid {
                key: "voiceprint.enrollment",
                reason: "needs 0 < min_speech_secs < max_speech_secs".into(),
            });
        }
        if !(1..=20).contains(&v.samples_per_label) {
            return Err(ConfigError::Invalid {
                key: "voiceprint.samples_per_label",
                reason: "between 1 and 20".into(),
            });
        }
        Ok(())
    }

    /// Fills derived defaults and rejects combinations that cannot work.
    fn resolve(&mut self) -> Result<(), ConfigError> {
        if self.database.url.trim().is_empty() {
            self.database.url = format!("sqlite://{}", self.data_dir.join("minutes.db").display());
        }
        if self.storage.root.trim().is_empty() {
            self.storage.root = self.data_dir.join("objects").display().to_string();
        }
        if self.models.dir.trim().is_empty() {
            // The issue-facing name MINUTES_MODELS_DIR wins over the data-dir default.
            self.models.dir = std::env::var("MINUTES_MODELS_DIR")
                .ok()
                .filter(|d| !d.trim().is_empty())
                .unwrap_or_else(|| self.data_dir.join("models").display().to_string());
        }
        if let Some(path) = self.auth.jwt_secret_file.clone() {
            let text = std::fs::read_to_string(&path)
                .map_err(|source| ConfigError::Read { path, source })?;
            self.auth.jwt_secret = Some(SecretString::from(text.trim().to_string()));
        }
        let url = &self.database.url;
        if !(url.starts_with("sqlite:")
            || url.starts_with("postgres://")
            || url.starts_with("postgresql://"))
        {
            return Err(ConfigError::Invalid {
                key: "database.url",
                reason: "must start with sqlite:, postgres:// or postgresql://".into(),
            });
        }
        if let Some(bad) = self.server.cors_origins.iter().find(|o| {
            *o == "*"
                || !(o.starts_with("http://") || o.starts_with("https://"))
                || o.ends_with('/')
        }) {
            return Err(ConfigError::Invalid {
                key: "server.cors_origins",
                reason: format!("`{bad}`: list exact origins like https://app.example.com (no `*`, no trailing slash)"),
            });
        }
        if self.server.bind.parse::<std::net::SocketAddr>().is_err() {
            return Err(ConfigError::Invalid {
                key: "server.bind",
                reason: format!(
                    "`{}` is not host:port (e.g. 127.0.0.1:8000)",
                    self.server.bind
                ),
            });
        }
        self.validate_voiceprint()?;
        self.auth.idp.resolve()?;
        self.auth.api_keys.validate()?;
        self.network.validate()?;
        if self.server.header_read_timeout_secs == 0
            || self.server.body_read_timeout_secs == 0
            || self.server.max_json_depth == 0
        {
            return Err(ConfigError::Invalid {
                key: "server",
                reason: "header_read_timeout_secs, body_read_timeout_secs and max_json_depth must be at least 1".into(),
            });
        }
        if self.profile == Profile::Production && self.auth.dev_login {
            return Err(ConfigError::Invalid {
                key: "auth.dev_login",
                reason: "dev login cannot be enabled in the production profile".into(),
            });
        }
        if self.auth.dev_login && self.jwt_secret_len() < 32 {
            return Err(ConfigError::Invalid {
                key: "auth.jwt_secret",
                reason: "dev login needs a JWT secret of at least 32 bytes (MINUTES__AUTH__JWT_SECRET or auth.jwt_secret_file)".into(),
            });
        }
        let q = &self.queue;
        if q.concurrency == 0 || q.lease_secs == 0 || q.max_attempts == 0 {
            return Err(ConfigError::Invalid {
                key: "queue",
                reason: "concurrency, lease_secs and max_attempts must be at least 1".into(),
            });
        }
        let l = &self.rate_limit;
        if l.per_minute == 0 || l.upload_per_minute == 0 || l.login_per_minute == 0 {
            return Err(ConfigError::Invalid {
                key: "rate_limit",
                reason: "limits must be at least 1 request per minute (set enabled: false to turn them off)".into(),
            });
        }
        let r = &self.retention;
        if r.interval_minutes == 0
            || r.audio_max_days < r.audio_days
            || r.audio_max_days < r.audio_extended_days
        {
            return Err(ConfigError::Invalid {
                key: "retention",
                reason: "interval_minutes must be at least 1 and audio_max_days the largest audio period".into(),
            });
        }
        let kinds = crate::domain::stage::job_kinds();
        for (kind, attempts) in &q.max_attempts_by_kind {
            if !kinds.contains(&kind.as_str()) || *attempts == 0 {
                return Err(ConfigError::Invalid {
                    key: "queue.max_attempts_by_kind",
                    reason: format!(
                        "`{kind}: {attempts}`: kinds are {} and attempts at least 1",
                        kinds.join(", ")
                    ),
                });
            }
        }
        if q.heartbeat_secs == 0 || q.heartbeat_secs >= q.lease_secs {
            return Err(ConfigError::Invalid {
                key: "queue.heartbeat_secs",
                reason: "must be at least 1 and shorter than queue.lease_secs".into(),
            });
        }
        if let Some(reason) = self.provider_keys.problem() {
            return Err(ConfigError::Invalid {
                key: "provider_keys",
                reason: reason.into(),
            });
        }
        if self.audio.max_duration_secs.is_nan() || self.audio.max_duration_secs <= 0.0 {
            return Err(ConfigError::Invalid {
                key: "audio.max_duration_secs",
                reason: "must be positive".into(),
            });
        }
        Ok(())
    }

    fn jwt_secret_len(&self) -> usize {
        use secrecy::ExposeSecret;
        self.auth
            .jwt_secret
            .as_ref()
            .map(|s| s.expose_secret().len())
            .unwrap_or(0)
    }

    /// Attempts allowed for a job kind before it is dead.
    pub fn max_attempts_for(&self, kind: &str) -> i64 {
        let q = &self.queue;
        i64::from(*q.max_attempts_by_kind.get(kind).unwrap_or(&q.max_attempts))
    }

    pub fn is_sqlite(&self) -> bool {
        self.database.url.starts_with("sqlite:")
    }

    pub fn migrate_on_start(&self) -> bool {
        self.database
            .migrate_on_start
            .unwrap_or(self.profile != Profile::Production)
    }

    /// The configuration as YAML with every secret and DSN password redacted.
    pub fn to_redacted_yaml(&self) -> String {
        serde_yaml::to_string(self).unwrap_or_else(|e| format!("# cannot render config: {e}\n"))
    }
}

#[cfg(test)]
mod tests;
