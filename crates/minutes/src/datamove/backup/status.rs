//! The newest backup in `backup.to`, for `/metrics` (the stale-backup alert). Listing a bucket
//! on every scrape would cost a request each time, so the answer is kept for a minute.
use std::time::{Duration, Instant};

use tokio::sync::Mutex;

use super::destination::Destination;
use crate::config::Config;
use crate::telemetry::metrics::BackupSnapshot;

const FRESH_FOR: Duration = Duration::from_secs(60);

/// (destination, when read, what it held): one entry per process is enough, keyed so that a
/// changed destination is read afresh.
static CACHE: Mutex<Option<(String, Instant, Option<BackupSnapshot>)>> = Mutex::const_new(None);

/// What `backup.to` holds now (at most a minute old); `None` when it holds no archive or cannot
/// be listed (logged), which the alert treats as stale.
pub async fn newest(config: &Config) -> Option<BackupSnapshot> {
    let to = config.backup.to.clone();
    let mut cache = CACHE.lock().await;
    if let Some((dest, at, snapshot)) = cache.as_ref() {
        if *dest == to && at.elapsed() < FRESH_FOR {
            return *snapshot;
        }
    }
    let snapshot = match read(config, &to).await {
        Ok(s) => s,
        Err(e) => {
            tracing::warn!(error = %format!("{e:#}"), "listing the backup destination for /metrics failed");
            None
        }
    };
    *cache = Some((to, Instant::now(), snapshot));
    snapshot
}

async fn read(config: &Config, to: &str) -> anyhow::Result<Option<BackupSnapshot>> {
    let dest = Destination::parse(config, to)?;
    let all = super::archives(&dest).await?;
    let count = all.len() as u64;
    Ok(all.last().and_then(|(id, size, _)| {
        super::created_at(id).map(|t| BackupSnapshot {
            last_success_unix: t.timestamp_millis() as f64 / 1000.0,
            last_size_bytes: *size,
            archives: count,
        })
    }))
}

/// Drops the cached answer: this process just wrote a backup (another process's shows within
/// a minute).
pub async fn forget() {
    *CACHE.lock().await = None;
}
