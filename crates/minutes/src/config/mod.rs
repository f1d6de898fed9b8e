//! Layered configuration: embedded defaults → optional YAML file → `MINUTES__SECTION__KEY` env.
//! Secrets are `SecretString`s: they never print, and `config print` redacts them.
mod engines;
mod limits;
mod pricing;
mod queue;
mod secret;
mod security;
mod storage;

use std::path::{Path, PathBuf};

use figment::providers::{Env, Format, Yaml};
use figment::Figment;
use secrecy::SecretString;
use serde::{Deserialize, Serialize};

use crate::providers::keys::KeyPoolSettings;

pub use engines::*;
pub use limits::*;
pub use pricing::{EstimateAssumptions, Micros, PricingConfig, TokenPrice};
pub use queue::{JobTimeout, QueueBackend, QueueConfig, SchedulesConfig, TimeoutsConfig};
pub use secret::{redact, redact_dsn};
pub use security::{ApiKeyConfig, IdpConfig, NetworkConfig, StaticKey};
pub use storage::{S3StorageConfig, StorageBackend, StorageConfig};

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
    pub schedules: SchedulesConfig,
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
    /// Provider price tables for the cost ledger and estimates.
    pub pricing: PricingConfig,
    pub metrics: MetricsConfig,
    pub network: NetworkConfig,
    pub encryption: EncryptionConfig,
    pub backup: BackupConfig,
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
    /// Longest an SSE progress stream stays open before it sends `timeout` and closes.
    pub sse_max_stream_secs: u64,
    /// Lifetime of a stream ticket (`POST /sse/tickets`), the query credential of `EventSource`.
    pub sse_ticket_ttl_secs: u64,
    /// Lifetime of the signed playback URLs in task views (`audio_files`, `GET /uploads/…`).
    pub media_url_ttl_secs: u64,
    /// HMAC key of signed URLs and stream tickets (≥ 32 bytes); none = a random key per
    /// process, so tickets only work on the instance that issued them.
    #[serde(default, serialize_with = "secret::redact")]
    pub url_signing_secret: Option<SecretString>,
    /// A file holding `url_signing_secret`; wins over it.
    #[serde(default)]
    pub url_signing_secret_file: Option<PathBuf>,
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
pub struct AuthConfig {
    pub dev_login: bool,
    #[serde(default, serialize_with = "secret::redact")]
    pub jwt_secret: Option<SecretString>,
    /// A file holding the JWT secret (e.g. a mounted Docker/Kubernetes secret).
    #[serde(default)]
    pub jwt_secret_file: Option<PathBuf>,
    pub jwt_ttl_secs: u64,
    /// Lifetime of a dev-login refresh token; every refresh issues a new one with this lifetime.
    pub dev_refresh_ttl_secs: u64,
    pub issuer: String,
    /// User ids of platform operators (may manage global hotword sets).
    #[serde(default)]
    pub operators: Vec<String>,
    pub idp: IdpConfig,
    pub api_keys: ApiKeyConfig,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AudioConfig {
    pub max_duration_secs: f64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PipelineConfig {
    pub default_template: String,
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

/// Backups (`minutes backup`, and the scheduled run `schedules.backup`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BackupConfig {
    /// A directory or `s3://bucket/prefix` (the bucket reached with `storage.s3`'s endpoint
    /// and credentials). Empty = `{data_dir}/backups`.
    pub to: String,
    /// A file holding the 32-byte archive key (64 hex characters); `MINUTES_BACKUP_KEY` wins.
    /// Neither set: archives are not encrypted.
    pub key_file: String,
    pub retention: crate::datamove::backup::retention::Retention,
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

/// `GET /metrics` (Prometheus text format).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MetricsConfig {
    pub enabled: bool,
    /// A file holding the bearer token scrapers must send; none = the endpoint is open (it
    /// carries counts and provider names, no personal data). Required in production.
    #[serde(default)]
    pub token_file: Option<PathBuf>,
    #[serde(skip)]
    pub token: Option<SecretString>,
    /// Where `minutes worker` serves `/metrics` and `/health` (host:port); none = nowhere.
    /// `minutes serve` always serves them with the API.
    #[serde(default)]
    pub worker_bind: Option<String>,
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

    /// Fills derived defaults and rejects combinations that cannot work.
    fn resolve(&mut self) -> Result<(), ConfigError> {
        if self.database.url.trim().is_empty() {
            self.database.url = format!("sqlite://{}", self.data_dir.join("minutes.db").display());
        }
        if self.backup.to.trim().is_empty() {
            self.backup.to = self.data_dir.join("backups").display().to_string();
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
        if let Some(path) = self.server.url_signing_secret_file.clone() {
            let text = std::fs::read_to_string(&path)
                .map_err(|source| ConfigError::Read { path, source })?;
            self.server.url_signing_secret = Some(SecretString::from(text.trim().to_string()));
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
                reason: format!(
                    "`{bad}`: list exact origins like https://app.example.com (no `*`, no trailing slash)"
                ),
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
        self.voiceprint.validate()?;
        self.pricing.validate()?;
        self.storage.validate(self.profile, &self.asr)?;
        if let Some(path) = self.metrics.token_file.clone() {
            let text = std::fs::read_to_string(&path)
                .map_err(|source| ConfigError::Read { path, source })?;
            self.metrics.token = Some(SecretString::from(text.trim().to_string()));
        }
        if let Some(token) = std::env::var("MINUTES_METRICS_TOKEN")
            .ok()
            .filter(|t| !t.trim().is_empty())
        {
            self.metrics.token = Some(SecretString::from(token.trim().to_string()));
        }
        if let Some(bind) = &self.metrics.worker_bind {
            if bind.parse::<std::net::SocketAddr>().is_err() {
                return Err(ConfigError::Invalid {
                    key: "metrics.worker_bind",
                    reason: format!("`{bind}` is not host:port (e.g. 0.0.0.0:9100)"),
                });
            }
        }
        self.auth.idp.resolve()?;
        self.auth.api_keys.validate()?;
        self.network.validate()?;
        self.check_streams()?;
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
        self.queue.validate(&self.schedules)?;
        let l = &self.rate_limit;
        if l.per_minute == 0 || l.upload_per_minute == 0 || l.login_per_minute == 0 {
            return Err(ConfigError::Invalid {
                key: "rate_limit",
                reason: "limits must be at least 1 request per minute (set enabled: false to turn them off)".into(),
            });
        }
        let r = &self.retention;
        if r.audio_max_days < r.audio_days || r.audio_max_days < r.audio_extended_days {
            return Err(ConfigError::Invalid {
                key: "retention",
                reason: "audio_max_days must be the largest audio period".into(),
            });
        }
        if let Some(reason) = self.provider_keys.problem() {
            return Err(ConfigError::Invalid {
                key: "provider_keys",
                reason: reason.into(),
            });
        }
        // Last: the other checks name a more basic mistake first.
        if self.profile == Profile::Production
            && self.metrics.enabled
            && self.metrics.token.is_none()
        {
            return Err(ConfigError::Invalid {
                key: "metrics.token_file",
                reason: "production serves /metrics only to scrapers with a token (MINUTES_METRICS_TOKEN or metrics.token_file), or set metrics.enabled: false".into(),
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

    /// SSE streams, their tickets and the URL-signing key.
    fn check_streams(&self) -> Result<(), ConfigError> {
        use secrecy::ExposeSecret;
        let s = &self.server;
        if s.sse_max_stream_secs == 0 || !(1..=3600).contains(&s.sse_ticket_ttl_secs) {
            return Err(ConfigError::Invalid {
                key: "server",
                reason: "sse_max_stream_secs must be at least 1 and sse_ticket_ttl_secs 1–3600"
                    .into(),
            });
        }
        if !(60..=7 * 24 * 3600).contains(&s.media_url_ttl_secs) {
            return Err(ConfigError::Invalid {
                key: "server.media_url_ttl_secs",
                reason: "60 seconds to 7 days (604800)".into(),
            });
        }
        if s.url_signing_secret
            .as_ref()
            .is_some_and(|k| k.expose_secret().len() < 32)
        {
            return Err(ConfigError::Invalid {
                key: "server.url_signing_secret",
                reason: "at least 32 bytes (MINUTES__SERVER__URL_SIGNING_SECRET or server.url_signing_secret_file)".into(),
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
