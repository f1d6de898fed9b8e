//! `Worker`: bounded-concurrency job loop with leases, heartbeats, fencing, time limits, batch
//! claims and graceful shutdown. Deliveries (`queue/delivery/`) say which jobs are due; the
//! claim itself is always the store's fenced update, and the database poll is the safety net.
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use super::backoff::backoff_ms;
use super::delivery::Delivered;
use crate::app::App;
use crate::domain::job::JobKind;
use crate::pipeline::{self, JobError, StageError};
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
            queues: crate::domain::job::queues()
                .iter()
                .map(|q| q.to_string())
                .collect(),
            concurrency,
        }
    }

    fn serves(&self, queue: &str) -> bool {
        self.queues.iter().any(|q| q == queue)
    }
}

pub struct Worker {
    app: Arc<App>,
    opts: WorkerOptions,
}

/// A claimed job and the delivery that announced it (none when found by the database poll).
type Claim = (ClaimedJob, Option<Delivered>);

impl Worker {
    pub fn new(app: Arc<App>, opts: WorkerOptions) -> Worker {
        Worker { app, opts }
    }

    /// Runs until `shutdown` fires; then stops claiming, lets running jobs finish within the
    /// configured grace period and hands the rest back to the queue (never marking them failed).
    pub async fn run(self, shutdown: CancellationToken) {
        let app = self.app.clone();
        let q = &app.config.queue;
        let grace = Duration::from_secs(q.shutdown_grace_secs);
        let slots = Arc::new(Semaphore::new(self.opts.concurrency));
        let running_count = Arc::new(AtomicUsize::new(0));
        let abort = CancellationToken::new();
        let background = CancellationToken::new();
        let mut running = JoinSet::new();
        tracing::info!(worker.id = %self.opts.worker_id, queues = ?self.opts.queues,
            concurrency = self.opts.concurrency, delivery = app.delivery.backend(), "worker started");
        let mut helpers = JoinSet::new();
        helpers.spawn(super::fleet::run(
            app.clone(),
            self.opts.clone(),
            running_count.clone(),
            background.clone(),
        ));
        helpers.spawn(super::relay::run(app.clone(), background.clone()));
        if self.opts.serves("maintenance") {
            helpers.spawn(scheduler(app.clone(), background.clone()));
        }
        let mut poller = Poller::new(&app);
        loop {
            while running.try_join_next().is_some() {}
            let first = tokio::select! {
                _ = shutdown.cancelled() => break,
                p = slots.clone().acquire_owned() => match p { Ok(p) => p, Err(_) => break },
            };
            let mut held = vec![first];
            if poller.backlog && self.opts.concurrency > 1 {
                fill_slots(&slots, &mut held, (self.opts.concurrency / 2).min(q.batch)).await;
            }
            let want = (held.len() + slots.available_permits()).min(q.batch);
            let claims = tokio::select! {
                _ = shutdown.cancelled() => break,
                c = next_claims(&app, &self.opts, &mut poller, want) => c,
            };
            let mut permits = held.into_iter().chain(std::iter::from_fn(|| {
                slots.clone().try_acquire_owned().ok()
            }));
            for (job, delivered) in claims {
                let Some(permit) = permits.next() else {
                    // Cannot happen (claims ≤ free slots); hand the job back rather than overrun.
                    let _ = app.store.release_job(&job.lease()).await;
                    continue;
                };
                running.spawn(run_with_permit(
                    app.clone(),
                    job,
                    delivered,
                    abort.child_token(),
                    permit,
                    running_count.clone(),
                ));
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
        background.cancel();
        while helpers.join_next().await.is_some() {}
        tracing::info!("worker stopped");
    }
}

/// How long a worker with a backlog waits for more of its slots to free before claiming.
const FILL_WINDOW: Duration = Duration::from_millis(2);

/// With a deep queue, slots freed one by one would each cost a claim statement of their own;
/// waiting up to `FILL_WINDOW` for `target` free slots turns them into one batch claim. Short
/// jobs finish in waves, so the wait is usually far shorter; a long job costs one slot 2 ms.
async fn fill_slots(slots: &Arc<Semaphore>, held: &mut Vec<OwnedSemaphorePermit>, target: usize) {
    let _ = tokio::time::timeout(FILL_WINDOW, async {
        while held.len() < target {
            match slots.clone().acquire_owned().await {
                Ok(p) => held.push(p),
                Err(_) => return,
            }
        }
    })
    .await;
}

/// When the worker next polls the database: at once while the last poll came back full,
/// otherwise every `poll_interval_ms` (database backend) or `safety_poll_ms` (brokers).
struct Poller {
    every: Duration,
    due: Instant,
    more: bool,
    /// The last round filled every slot it asked for (deliveries or poll): jobs are waiting.
    backlog: bool,
    database: bool,
}

impl Poller {
    fn new(app: &App) -> Poller {
        let q = &app.config.queue;
        let database = !app.delivery.needs_relay();
        let every = Duration::from_millis(if database {
            q.poll_interval_ms
        } else {
            q.safety_poll_ms
        });
        Poller {
            every,
            due: Instant::now(),
            more: true,
            backlog: false,
            database,
        }
    }

    fn wait(&self) -> Duration {
        if self.more {
            Duration::ZERO
        } else {
            self.due.saturating_duration_since(Instant::now())
        }
    }

    fn should_poll(&self, delivered: usize) -> bool {
        self.more || Instant::now() >= self.due || (self.database && delivered == 0)
    }
}

/// Waits for deliveries, claims them by id, and tops up from the database when it is time.
async fn next_claims(
    app: &Arc<App>,
    opts: &WorkerOptions,
    poller: &mut Poller,
    want: usize,
) -> Vec<Claim> {
    let lease_ms = (app.config.queue.lease_secs * 1000) as i64;
    let delivered = match app
        .delivery
        .receive(
            &opts.worker_id,
            &opts.queues,
            want,
            // Zero while the queue is known to be deep: every backend then returns at once
            // (a sleep here would cap a worker at one claim per timer tick).
            poller.wait(),
        )
        .await
    {
        Ok(d) => d,
        Err(e) => {
            tracing::warn!(error = %e, "receiving deliveries failed; polling the database meanwhile");
            tokio::time::sleep(Duration::from_millis(app.config.queue.poll_interval_ms)).await;
            poller.due = Instant::now();
            Vec::new()
        }
    };
    let got = delivered.len();
    let mut claims = Vec::with_capacity(want);
    if !delivered.is_empty() {
        let ids: Vec<String> = delivered.iter().map(|d| d.job_id.clone()).collect();
        let now = app.clock.now_ms();
        match app
            .store
            .claim_jobs_by_ids(&ids, &opts.queues, &opts.worker_id, lease_ms, now)
            .await
        {
            Ok(mut jobs) => {
                let mut unclaimable = Vec::new();
                for d in delivered {
                    match jobs.iter().position(|j| j.id == d.job_id) {
                        Some(i) => claims.push((jobs.swap_remove(i), Some(d))),
                        // Taken by the poll or another worker, finished, not due yet (a
                        // retry's relay announces it again when due), or a duplicate delivery
                        // in this batch: nothing to run for this delivery.
                        None => unclaimable.push(d),
                    }
                }
                // Settled beside the next round, not before it: under a backlog the safety
                // poll claims jobs whose deliveries then arrive here, and a round trip or two
                // per delivery in this loop would cap the worker at one job per round trip.
                if !unclaimable.is_empty() {
                    let app = app.clone();
                    tokio::spawn(async move {
                        futures::future::join_all(
                            unclaimable.iter().map(|d| settle_unclaimable(&app, d)),
                        )
                        .await;
                    });
                }
            }
            // Left unacked: the backend redelivers them (and the poll finds the jobs anyway).
            Err(e) => {
                tracing::warn!(jobs = ids.len(), error = %e, "claiming delivered jobs failed")
            }
        }
    }
    if claims.len() < want && poller.should_poll(got) {
        let room = (want - claims.len()) as i64;
        let now = app.clock.now_ms();
        match app
            .store
            .claim_jobs(&opts.queues, &opts.worker_id, lease_ms, now, room)
            .await
        {
            Ok(jobs) => {
                poller.more = jobs.len() as i64 == room;
                poller.due = Instant::now() + poller.every;
                claims.extend(jobs.into_iter().map(|j| (j, None)));
            }
            Err(e) => {
                tracing::warn!(error = %e, "claiming jobs failed; retrying after the poll interval");
                poller.more = false;
                poller.due = Instant::now() + poller.every;
            }
        }
    } else if got == 0 {
        poller.more = false;
    }
    poller.backlog = claims.len() >= want;
    for (job, _) in &claims {
        let due = job.claimed_due_ms.unwrap_or(app.clock.now_ms());
        let waited = (app.clock.now_ms() - due).max(0) as u64;
        app.metrics
            .job_claimed(&job.queue, Duration::from_millis(waited));
    }
    claims
}

/// A delivery whose job is not claimable is acked; one naming no job at all (another
/// install's message, a pruned job, a corrupt entry) goes to the backend's dead letters.
async fn settle_unclaimable(app: &App, d: &Delivered) {
    match app.store.get_job(&d.job_id).await {
        Ok(None) => {
            tracing::warn!(job.id = %d.job_id, queue = %d.queue, "a delivery names no job; dead-lettered at the broker");
            if let Err(e) = app.delivery.reject(d).await {
                tracing::warn!(job.id = %d.job_id, error = %e, "rejecting a delivery failed");
            }
        }
        _ => ack(app, d).await,
    }
}

async fn ack(app: &App, d: &Delivered) {
    if let Err(e) = app.delivery.ack(d).await {
        tracing::warn!(job.id = %d.job_id, error = %e, "acknowledging a delivery failed; it may be delivered again (harmless)");
    }
}

async fn run_with_permit(
    app: Arc<App>,
    job: ClaimedJob,
    delivered: Option<Delivered>,
    abort: CancellationToken,
    permit: OwnedSemaphorePermit,
    running: Arc<AtomicUsize>,
) {
    running.fetch_add(1, Ordering::Relaxed);
    let span = job_span(&job);
    run_claimed(app.clone(), job, abort).instrument(span).await;
    if let Some(d) = delivered {
        ack(&app, &d).await;
    }
    running.fetch_sub(1, Ordering::Relaxed);
    drop(permit);
}

/// The span every line a job logs carries: one task's story can be read across processes.
fn job_span(job: &ClaimedJob) -> tracing::Span {
    tracing::info_span!("job", job.id = %job.id, job.kind = %job.kind, job.attempt = job.attempts,
        task.id = job.task_id.as_deref().unwrap_or(""), tenant.id = job.tenant_id.as_deref().unwrap_or(""))
}

/// The job's time limit: its kind's `queue.timeouts`, grown with the task's audio duration.
async fn time_limit(app: &App, job: &ClaimedJob) -> Duration {
    let limits = &app.config.queue.timeouts;
    let limit = JobKind::parse(&job.kind).map_or(&limits.default, |k| limits.for_kind(k));
    let audio = match (&job.tenant_id, &job.task_id) {
        (Some(tenant), Some(task)) => app
            .store
            .get_task_in_tenant(tenant, task)
            .await
            .ok()
            .flatten()
            .and_then(|t| t.audio_duration),
        _ => None,
    };
    limit.for_audio(audio)
}

/// Runs one claimed job with a heartbeat and its time limit; on `abort` (shutdown past the
/// grace period) the job is released back to the queue untouched.
async fn run_claimed(app: Arc<App>, job: ClaimedJob, abort: CancellationToken) {
    let lease = job.lease();
    let lost = CancellationToken::new();
    let heartbeat =
        tokio::spawn(heartbeat_loop(app.clone(), lease.clone(), lost.clone()).in_current_span());
    let limit = time_limit(&app, &job).await;
    let started = Instant::now();
    let outcome = tokio::select! {
        r = pipeline::execute(&app, &job) => Some(r),
        _ = abort.cancelled() => None,
        _ = lost.cancelled() => Some(Err(JobError::Fenced)),
        // Dropping the job's future cancels it at its next await; the attempt counts as failed
        // and retryable, so a hung provider call or stage never holds its task forever.
        _ = tokio::time::sleep(limit) => Some(Err(JobError::Failed(StageError::transient(
            "job_timeout",
            format!("the job ran past its time limit of {} s (queue.timeouts)", limit.as_secs()),
        )))),
    };
    heartbeat.abort();
    match outcome {
        None => {
            if let Err(e) = app.store.release_job(&lease).await {
                tracing::warn!(error = %e, "could not release a job at shutdown; its lease will expire");
            } else {
                tracing::info!("job released back to the queue at shutdown");
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
            tracing::info!(
                elapsed_ms = elapsed.as_millis() as u64,
                attempt = job.attempts,
                "job done"
            );
            JobOutcome::Succeeded
        }
        Err(JobError::Fenced) => {
            tracing::warn!("lease lost (reclaimed or cancelled); result discarded");
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
            tracing::warn!(attempt = job.attempts, max_attempts = job.max_attempts,
                error.code = %err.code, error = %err.detail, will_retry = retry_at.is_some(), "job failed");
            if let Err(e) = pipeline::record_failure(app, job, &err, retry_at).await {
                tracing::warn!(error = %e, "could not record the failure; the lease will expire and the job rerun");
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

/// Extends the lease every `queue.heartbeat_secs`; a fenced heartbeat (the job was reclaimed or
/// cancelled) fires `lost`, which stops the job.
pub async fn heartbeat_loop(app: Arc<App>, lease: crate::store::Lease, lost: CancellationToken) {
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

/// Keeps the next run of every schedule enqueued (`queue/schedule.rs`): at start, at each fire
/// time, and at least every minute (so a config reload or a pruned row is noticed).
async fn scheduler(app: Arc<App>, shutdown: CancellationToken) {
    loop {
        let wait = match super::schedule::arm(&app).await {
            Ok(next) => next
                .map(|fire| (fire - app.clock.now_ms()).clamp(1_000, 60_000))
                .unwrap_or(60_000),
            Err(e) => {
                tracing::warn!(error = %e, "could not arm the scheduled jobs; retrying in a minute");
                60_000
            }
        };
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tokio::time::sleep(Duration::from_millis(wait as u64)) => {},
        }
    }
}

/// Runs due jobs one at a time until none is runnable now (tests and `minutes run`).
/// Returns how many jobs ran.
pub async fn drain(app: &Arc<App>, opts: &WorkerOptions) -> Result<usize, StoreError> {
    let lease_ms = (app.config.queue.lease_secs * 1000) as i64;
    let mut ran = 0;
    while let Some(job) = app
        .store
        .claim_job(&opts.queues, &opts.worker_id, lease_ms, app.clock.now_ms())
        .await?
    {
        let started = Instant::now();
        let span = job_span(&job);
        let result = pipeline::execute(app, &job).instrument(span.clone()).await;
        settle(app, &job, result, started.elapsed())
            .instrument(span)
            .await;
        ran += 1;
    }
    Ok(ran)
}
