//! The outbox relay of broker backends: announces due jobs whose current due time has not been
//! announced (new jobs, delayed retries that came due, expired leases). It marks rows announced
//! in the same statement that reads them (skipping rows another relay holds, so several relays
//! split the work), publishes, and un-marks them if the publish failed. A crash between marking
//! and publishing loses nothing either: the database poll of every worker is the safety net.
use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use super::delivery::Announcement;
use crate::app::App;

/// Rows announced per round.
const ROUND: i64 = 500;

/// Runs until `shutdown`; a no-op for the database backend.
pub async fn run(app: Arc<App>, shutdown: CancellationToken) {
    if !app.delivery.needs_relay() {
        return;
    }
    let every = Duration::from_millis(app.config.queue.relay_interval_ms.max(10));
    let signal = app.jobs_signal.clone();
    tracing::info!(backend = app.delivery.backend(), "job relay started");
    loop {
        let notified = signal.notified();
        tokio::pin!(notified);
        notified.as_mut().enable();
        let full = match round(&app).await {
            Ok(n) => n == ROUND as usize,
            Err(e) => {
                tracing::warn!(error = %e, "announcing due jobs failed; the next round retries (workers also poll the database)");
                false
            }
        };
        if full {
            continue;
        }
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = &mut notified => {},
            _ = tokio::time::sleep(every) => {},
        }
    }
}

/// One relay round; returns how many jobs it announced.
pub async fn round(app: &App) -> anyhow::Result<usize> {
    let due = app
        .store
        .take_unannounced(app.clock.now_ms(), ROUND)
        .await?;
    if due.is_empty() {
        return Ok(0);
    }
    let announcements: Vec<Announcement> = due
        .iter()
        .map(|d| Announcement {
            job_id: d.id.clone(),
            queue: d.queue.clone(),
        })
        .collect();
    if let Err(e) = app.delivery.announce(&announcements).await {
        app.store.unannounce(&due).await?;
        return Err(e.into());
    }
    app.metrics
        .jobs_announced(app.delivery.backend(), due.len() as u64);
    Ok(due.len())
}
