//! The worker registry loop: a worker registers at start, heartbeats every
//! `queue.heartbeat_secs` with how many jobs it runs, marks workers silent for
//! `queue.lost_after_heartbeats` intervals as `lost`, and deregisters on a clean stop.
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use tokio_util::sync::CancellationToken;

use super::WorkerOptions;
use crate::app::App;
use crate::store::{NewWorker, StoreError};

fn registration(app: &App, opts: &WorkerOptions) -> NewWorker {
    NewWorker {
        id: opts.worker_id.clone(),
        host: hostname(),
        pid: i64::from(std::process::id()),
        version: env!("CARGO_PKG_VERSION").to_string(),
        queues: opts.queues.clone(),
        concurrency: opts.concurrency as i64,
        delivery: app.delivery.backend().to_string(),
    }
}

fn hostname() -> String {
    std::env::var("HOSTNAME")
        .ok()
        .filter(|h| !h.is_empty())
        .or_else(|| {
            std::fs::read_to_string("/etc/hostname")
                .ok()
                .map(|h| h.trim().to_string())
        })
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "unknown".into())
}

/// Registers, then heartbeats until `shutdown`; deregisters when stopped.
pub async fn run(
    app: Arc<App>,
    opts: WorkerOptions,
    running: Arc<AtomicUsize>,
    shutdown: CancellationToken,
) {
    let me = registration(&app, &opts);
    if let Err(e) = app.store.register_worker(&me).await {
        tracing::warn!(error = %e, "could not register the worker; heartbeats will retry");
    }
    let every = Duration::from_secs(app.config.queue.heartbeat_secs);
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => break,
            _ = tokio::time::sleep(every) => {},
        }
        beat(&app, &me, running.load(Ordering::Relaxed) as i64).await;
    }
    if let Err(e) = app.store.stop_worker(&me.id).await {
        tracing::warn!(error = %e, "could not mark the worker stopped; it will show as lost");
    }
}

/// One heartbeat: refresh this worker's row (re-registering if it was pruned) and mark
/// silent workers lost.
pub async fn beat(app: &App, me: &NewWorker, running: i64) {
    match app.store.worker_heartbeat(&me.id, running).await {
        Ok(()) => {}
        Err(StoreError::NotFound) => {
            if let Err(e) = app.store.register_worker(me).await {
                tracing::warn!(error = %e, "worker re-registration failed");
            }
        }
        Err(e) => tracing::warn!(error = %e, "worker heartbeat failed; will try again"),
    }
    let q = &app.config.queue;
    let silence = q.heartbeat_secs * u64::from(q.lost_after_heartbeats);
    let cutoff = Utc::now() - chrono::Duration::seconds(silence as i64);
    match app.store.mark_lost_workers(cutoff).await {
        Ok(lost) => {
            for id in lost {
                tracing::warn!(worker.id = %id, silent_secs = silence, "worker marked lost: no heartbeat");
            }
        }
        Err(e) => tracing::warn!(error = %e, "could not check for lost workers"),
    }
}
