//! Row types of the queue's own bookkeeping: attempt history, queue depth, relay rows and
//! the worker registry.
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sqlx::types::Json;

/// One failed attempt in `jobs.errors`. Rows written before attempts were recorded as objects
/// hold `"code: detail"` strings; those read with no attempt number, time or worker.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AttemptError {
    pub attempt: Option<i64>,
    pub at: Option<DateTime<Utc>>,
    pub worker: Option<String>,
    pub code: String,
    pub detail: String,
}

impl<'de> Deserialize<'de> for AttemptError {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        struct Full {
            attempt: Option<i64>,
            at: Option<DateTime<Utc>>,
            worker: Option<String>,
            code: String,
            #[serde(default)]
            detail: String,
        }
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Wire {
            Text(String),
            Full(Full),
        }
        Ok(match Wire::deserialize(d)? {
            Wire::Text(text) => {
                let (code, detail) = text.split_once(": ").unwrap_or((text.as_str(), ""));
                AttemptError {
                    attempt: None,
                    at: None,
                    worker: None,
                    code: code.to_string(),
                    detail: detail.to_string(),
                }
            }
            Wire::Full(f) => AttemptError {
                attempt: f.attempt,
                at: f.at,
                worker: f.worker,
                code: f.code,
                detail: f.detail,
            },
        })
    }
}

/// Jobs per queue for `/queue/status` and the metrics: due now, scheduled later, running,
/// dead, and how long the oldest due job has waited.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct QueueDepth {
    pub queue: String,
    pub due: i64,
    pub scheduled: i64,
    pub running: i64,
    pub dead: i64,
    /// `run_at_ms` of the oldest due job (none due: `None`).
    pub oldest_due_ms: Option<i64>,
}

/// A due job the relay announces to the broker, with the due time it announced.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct DueJob {
    pub id: String,
    pub queue: String,
    pub run_at_ms: i64,
}

/// A worker process as it registers itself (`workers`).
#[derive(Debug, Clone, PartialEq)]
pub struct NewWorker {
    pub id: String,
    pub host: String,
    pub pid: i64,
    pub version: String,
    pub queues: Vec<String>,
    pub concurrency: i64,
    pub delivery: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, sqlx::FromRow)]
pub struct WorkerRecord {
    pub id: String,
    pub host: String,
    pub pid: i64,
    pub version: String,
    pub queues: Json<Vec<String>>,
    pub concurrency: i64,
    pub running: i64,
    pub delivery: String,
    /// `active`, `stopped` (shut down cleanly) or `lost` (heartbeats stopped).
    pub state: String,
    pub started_at: DateTime<Utc>,
    pub last_seen_at: DateTime<Utc>,
    pub stopped_at: Option<DateTime<Utc>>,
}
