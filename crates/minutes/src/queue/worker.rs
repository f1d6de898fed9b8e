//! `Worker`: bounded-concurrency job loop with leases, heartbeats, fencing and graceful shutdown.
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use super::backoff::backoff_ms;
use crate::app::App;
use crate::pipeline::{self, JobError};
use crate::store::{ClaimedJob, StoreError};
use crate::telemetry::metrics::JobOutcome;

#[derive(Debug, Clone)]
pub struct WorkerOptions {
    pub worker_id: String,
    pub queues: Vec<String>,
    pub concurrency: usize,
}

impl WorkerOptions {
    /// A worker for every queue (the embedded default).
    pub fn all_queues(concurrency: usize) -> WorkerOptions {
        WorkerOptions {
            worker_id: crate::domain::ids::new_id("worker"),
            queues: crate::domain::stage::QUEUES
                .iter()
                .map(|q| q.to_string())
                .collect(),
            concurrency,
        }
    }
}

pub struct Worker {
    app: Arc<App>,
    opts: WorkerOptions,
}

impl Worker {
    pub fn new(app: Arc<App>, opts: WorkerOptions) -> Worker {
        Worker { app, opts }
    }

    /// Runs until `shutdown` fires; then stops claiming, lets running jobs finish within the
    /// configured grace period and hands the rest back to the queue (never marking them failed).
    pub async fn run(self, shutdown: CancellationToken) {
        let q = &self.app.config.queue;
        let poll = Duration::from_millis(q.poll_interval_ms);
        let grace = Duration::from_secs(q.shutdown_grace_secs);
        let slots = Arc::new(Semaphore::new(self.opts.concurrency));
        let abort = CancellationToken::new();
        let mut running = JoinSet::new();
        let signal = self.app.jobs_signal.clone();
        tracing::info!(worker.id = %self.opts.worker_id, queues = ?self.opts.queues, concurrency = self.opts.concurrency, "worker started");
        if self.opts.queues.iter().any(|q| q == "maintenance") {
            if let Err(e) =
                crate::pipeline::maintenance::schedule(&self.app, self.app.clock.now_ms()).await
            {
                tracing::warn!(error = %e, "could not schedule the retention job; the next worker start will");
            }
        }
        loop {
            while running.try_join_next().is_some() {}
            let permit = tokio::select! {
                _ = shutdown.cancelled() => break,
                p = slots.clone().acquire_owned() => match p { Ok(p) => p, Err(_) => break },
            };
            // Register for wake-ups before looking, so an enqueue between the look and the wait is not missed.
            let notified = signal.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            match claim(&self.app, &self.opts).await {
                Ok(Some(job)) => {
                    let app = self.app.clone();
                    let abort = abort.child_token();
                    running.spawn(async move {
                        run_claimed(app, job, abort).await;
                        drop(permit);
                    });
                }
                Ok(None) => {
                    drop(permit);
                    tokio::select! {
                        _ = shutdown.cancelled() => break,
                        _ = &mut notified => {},
                        _ = tokio::time::sleep(poll) => {},
                    }
                }
                Err(e) => {
                    drop(permit);
                    tracing::warn!(error = %e, "claiming a job failed; retrying after the poll interval");
                    tokio::select! {
                        _ = shutdown.cancelled() => break,
                        _ = tokio::time::sleep(poll) => {},
                    }
                }
            }
        }
        tracing::info!(
            running = running.len(),
            grace_secs = grace.as_secs(),
            "worker draining"
        );
        let drained = tokio::time::timeout(grace, async {
            while running.join_next().await.is_some() {}
        })
        .await;
        if drained.is_err() {
            abort.cancel();
            while running.join_next().await.is_some() {}
        }
        tracing::info!("worker stopped");
    }
}

async fn claim(app: &App, opts: &WorkerOptions) -> Result<Option<ClaimedJob>, StoreError> {
    let lease_ms = (app.config.queue.lease_secs * 1000) as i64;
    app.store
        .claim_job(&opts.queues, &opts.worker_id, lease_ms, app.clock.now_ms())
        .await
}

/// Runs one claimed job with a heartbeat; on `abort` (shutdown past the grace period) the job
/// is released back to the queue untouched.
async fn run_claimed(app: Arc<App>, job: ClaimedJob, abort: CancellationToken) {
    let lease = job.lease();
    let lost = CancellationToken::new();
    let heartbeat = tokio::spawn(heartbeat_loop(app.clone(), lease.clone(), lost.clone()));
    let started = Instant::now();
    let outcome = tokio::select! {
        r = pipeline::execute(&app, &job) => Some(r),
        _ = abort.cancelled() => None,
        _ = lost.cancelled() => Some(Err(JobError::Fenced)),
    };
    heartbeat.abort();
    match outcome {
        None => {
            if let Err(e) = app.store.release_job(&lease).await {
                tracing::warn!(job.id = %job.id, error = %e, "could not release a job at shutdown; its lease will expire");
            } else {
                tracing::info!(job.id = %job.id, job.kind = %job.kind, "job released back to the queue at shutdown");
            }
        }
        Some(result) => settle(&app, &job, result, started.elapsed()).await,
    }
}

/// Applies a job's result: success is already recorded by the job; failures retry or die.
pub(crate) async fn settle(
    app: &App,
    job: &ClaimedJob,
    result: Result<(), JobError>,
    elapsed: Duration,
) {
    let outcome = match result {
        Ok(()) => {
            tracing::info!(job.id = %job.id, job.kind = %job.kind, attempt = job.attempts, "job done");
            JobOutcome::Succeeded
        }
        Err(JobError::Fenced) => {
            tracing::warn!(job.id = %job.id, job.kind = %job.kind, "lease lost (reclaimed or cancelled); result discarded");
            JobOutcome::Fenced
        }
        Err(JobError::Failed(err)) => {
            let q = &app.config.queue;
            let retry_at = (err.retryable && job.attempts < job.max_attempts).then(|| {
                let delay = backoff_ms(
                    job.attempts,
                    (q.backoff_base_secs * 1000) as i64,
                    (q.backoff_max_secs * 1000) as i64,
                    err.retry_after.map(|d| d.as_millis() as i64),
                );
                app.clock.now_ms() + delay
            });
            tracing::warn!(job.id = %job.id, job.kind = %job.kind, attempt = job.attempts,
                max_attempts = job.max_attempts, error.code = %err.code, error = %err.detail,
                will_retry = retry_at.is_some(), "job failed");
            if let Err(e) = pipeline::record_failure(app, job, &err, retry_at).await {
                tracing::warn!(job.id = %job.id, error = %e, "could not record the failure; the lease will expire and the job rerun");
            }
            if retry_at.is_some() {
                JobOutcome::Retried
            } else {
                JobOutcome::Failed
            }
        }
    };
    app.metrics.job_settled(&job.kind, outcome, elapsed);
}

async fn heartbeat_loop(app: Arc<App>, lease: crate::store::Lease, lost: CancellationToken) {
    let every = Duration::from_secs(app.config.queue.heartbeat_secs);
    let lease_ms = (app.config.queue.lease_secs * 1000) as i64;
    loop {
        tokio::time::sleep(every).await;
        match app
            .store
            .heartbeat(&lease, app.clock.now_ms() + lease_ms)
            .await
        {
            Ok(()) => {}
            Err(StoreError::Fenced) => {
                lost.cancel();
                return;
            }
            Err(e) => {
                tracing::warn!(job.id = %lease.job_id, error = %e, "heartbeat failed; will try again")
            }
        }
    }
}

/// Runs due jobs one at a time until none is runnable now (tests and `minutes run`).
/// Returns how many jobs ran.
pub async fn drain(app: &Arc<App>, opts: &WorkerOptions) -> Result<usize, StoreError> {
    let mut ran = 0;
    while let Some(job) = claim(app, opts).await? {
        let started = Instant::now();
        let result = pipeline::execute(app, &job).await;
        settle(app, &job, result, started.elapsed()).await;
        ran += 1;
    }
    Ok(ran)
}
