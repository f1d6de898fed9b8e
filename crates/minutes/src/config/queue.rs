//! `queue` and `schedules`: job state in the database, delivery through the configured backend,
//! stage timeouts, pruning, and the cron schedules of periodic jobs.
use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::secret::redact_url;
use super::ConfigError;
use crate::domain::job::{kind_names, JobKind};

/// How workers learn that a job is due (`src/queue/delivery/`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum QueueBackend {
    /// NOTIFY/LISTEN (PostgreSQL) or an in-process signal (SQLite), and polling.
    Database,
    /// A Redis stream per queue with consumer groups.
    Redis,
    /// A durable quorum queue per named queue on RabbitMQ.
    Rabbitmq,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QueueConfig {
    pub backend: QueueBackend,
    /// `redis://`, `rediss://`, `redis+sentinel://` or `redis+cluster://` (docs/CONFIG.md).
    #[serde(serialize_with = "redact_url")]
    pub redis_url: String,
    /// A file holding `redis_url` (a mounted secret); read when `redis_url` is empty.
    pub redis_url_file: String,
    /// `amqp://user:password@host:5672/vhost`.
    #[serde(serialize_with = "redact_url")]
    pub amqp_url: String,
    /// A file holding `amqp_url`; read when `amqp_url` is empty.
    pub amqp_url_file: String,
    /// Prefix of broker-side names (streams, exchanges, queues), so installs can share a broker.
    pub broker_prefix: String,
    pub poll_interval_ms: u64,
    /// Under a broker backend, how often an idle worker still polls the database (the safety
    /// net for announcements lost between commit and publish).
    pub safety_poll_ms: u64,
    /// How often the relay looks for due jobs not yet announced (broker backends).
    pub relay_interval_ms: u64,
    /// Jobs a worker takes per round trip when the queue is deep (never more than free slots).
    pub batch: usize,
    pub lease_secs: u64,
    pub heartbeat_secs: u64,
    /// A worker whose heartbeat is this many intervals old is marked `lost`.
    pub lost_after_heartbeats: u32,
    pub max_attempts: u32,
    /// Per job kind overrides of `max_attempts` (e.g. `transcribe: 8`).
    #[serde(default)]
    pub max_attempts_by_kind: BTreeMap<String, u32>,
    pub backoff_base_secs: u64,
    pub backoff_max_secs: u64,
    pub concurrency: usize,
    pub shutdown_grace_secs: u64,
    /// Finished (`done`, `cancelled`) jobs are deleted after this many days; dead jobs stay
    /// until an operator requeues or discards them.
    pub keep_finished_days: u32,
    /// Rows deleted per statement by the pruning job.
    pub prune_batch: u32,
    pub timeouts: TimeoutsConfig,
}

/// A job's time limit: `base_secs + per_audio_second × audio duration`, within
/// `[min_secs, max_secs]`. A job past it is cancelled and counted as a failed, retryable attempt.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JobTimeout {
    pub base_secs: u64,
    #[serde(default)]
    pub per_audio_second: f64,
    pub min_secs: u64,
    pub max_secs: u64,
}

impl JobTimeout {
    pub fn for_audio(&self, audio_secs: Option<f64>) -> std::time::Duration {
        let audio = audio_secs
            .filter(|d| d.is_finite() && *d > 0.0)
            .unwrap_or(0.0);
        let secs = self.base_secs as f64 + self.per_audio_second * audio;
        let secs = secs.clamp(
            self.min_secs as f64,
            self.max_secs.max(self.min_secs) as f64,
        );
        std::time::Duration::from_secs_f64(secs)
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TimeoutsConfig {
    pub default: JobTimeout,
    /// Per job kind (wire name) overrides of `default`.
    #[serde(default)]
    pub by_kind: BTreeMap<String, JobTimeout>,
}

impl TimeoutsConfig {
    pub fn for_kind(&self, kind: JobKind) -> &JobTimeout {
        self.by_kind.get(kind.wire_name()).unwrap_or(&self.default)
    }
}

/// Cron expressions (5 fields, UTC; `""` turns a schedule off) of the periodic jobs. Exactly one
/// run per fire time across any number of workers; the next run is armed whatever the last
/// one's outcome.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SchedulesConfig {
    /// Trash and audio retention, search backfill.
    pub retention: String,
    /// Deletes finished jobs past `queue.keep_finished_days`, and stopped or lost workers.
    pub prune_jobs: String,
    /// `minutes backup create --prune` into `backup.to`; empty = not scheduled.
    #[serde(default)]
    pub backup: String,
}

impl SchedulesConfig {
    /// Every enabled schedule: (job kind, cron expression).
    pub fn entries(&self) -> Vec<(JobKind, &str)> {
        [
            (JobKind::Retention, self.retention.as_str()),
            (JobKind::PruneJobs, self.prune_jobs.as_str()),
            (JobKind::Backup, self.backup.as_str()),
        ]
        .into_iter()
        .filter(|(_, cron)| !cron.trim().is_empty())
        .collect()
    }
}

impl QueueConfig {
    /// The Redis URL from `redis_url` or `redis_url_file`.
    pub fn redis_url(&self) -> Result<Option<String>, ConfigError> {
        url_or_file(
            &self.redis_url,
            &self.redis_url_file,
            "queue.redis_url_file",
        )
    }

    /// The AMQP URL from `amqp_url` or `amqp_url_file`.
    pub fn amqp_url(&self) -> Result<Option<String>, ConfigError> {
        url_or_file(&self.amqp_url, &self.amqp_url_file, "queue.amqp_url_file")
    }

    pub(super) fn validate(&self, schedules: &SchedulesConfig) -> Result<(), ConfigError> {
        let invalid = |key: &'static str, reason: String| Err(ConfigError::Invalid { key, reason });
        if self.concurrency == 0 || self.lease_secs == 0 || self.max_attempts == 0 {
            return invalid(
                "queue",
                "concurrency, lease_secs and max_attempts must be at least 1".into(),
            );
        }
        if self.batch == 0 || self.lost_after_heartbeats == 0 || self.prune_batch == 0 {
            return invalid(
                "queue",
                "batch, lost_after_heartbeats and prune_batch must be at least 1".into(),
            );
        }
        let kinds = kind_names();
        for (kind, attempts) in &self.max_attempts_by_kind {
            if !kinds.contains(&kind.as_str()) || *attempts == 0 {
                return invalid(
                    "queue.max_attempts_by_kind",
                    format!(
                        "`{kind}: {attempts}`: kinds are {} and attempts at least 1",
                        kinds.join(", ")
                    ),
                );
            }
        }
        for (kind, t) in &self.timeouts.by_kind {
            if !kinds.contains(&kind.as_str()) {
                return invalid(
                    "queue.timeouts.by_kind",
                    format!("`{kind}`: kinds are {}", kinds.join(", ")),
                );
            }
            check_timeout(t)?;
        }
        check_timeout(&self.timeouts.default)?;
        if self.heartbeat_secs == 0 || self.heartbeat_secs >= self.lease_secs {
            return invalid(
                "queue.heartbeat_secs",
                "must be at least 1 and shorter than queue.lease_secs".into(),
            );
        }
        match self.backend {
            QueueBackend::Redis if self.redis_url()?.is_none() => invalid(
                "queue.redis_url",
                "queue.backend redis needs queue.redis_url (MINUTES__QUEUE__REDIS_URL) or queue.redis_url_file".into(),
            ),
            QueueBackend::Rabbitmq if self.amqp_url()?.is_none() => invalid(
                "queue.amqp_url",
                "queue.backend rabbitmq needs queue.amqp_url (MINUTES__QUEUE__AMQP_URL) or queue.amqp_url_file".into(),
            ),
            _ => Ok(()),
        }?;
        for (kind, cron) in schedules.entries() {
            if let Err(e) = crate::queue::schedule::parse_cron(cron) {
                return invalid(
                    "schedules",
                    format!(
                        "`{}: {cron}` is not a cron expression: {e}",
                        kind.wire_name()
                    ),
                );
            }
        }
        Ok(())
    }
}

fn check_timeout(t: &JobTimeout) -> Result<(), ConfigError> {
    if t.min_secs == 0
        || t.max_secs < t.min_secs
        || !t.per_audio_second.is_finite()
        || t.per_audio_second < 0.0
    {
        return Err(ConfigError::Invalid {
            key: "queue.timeouts",
            reason: "min_secs must be at least 1, max_secs at least min_secs, per_audio_second a non-negative number".into(),
        });
    }
    Ok(())
}

fn url_or_file(url: &str, file: &str, key: &'static str) -> Result<Option<String>, ConfigError> {
    if !url.trim().is_empty() {
        return Ok(Some(url.trim().to_string()));
    }
    if file.trim().is_empty() {
        return Ok(None);
    }
    let text =
        std::fs::read_to_string(Path::new(file.trim())).map_err(|e| ConfigError::Invalid {
            key,
            reason: format!("cannot read {file}: {e}"),
        })?;
    Ok(Some(text.trim().to_string()).filter(|u| !u.is_empty()))
}
