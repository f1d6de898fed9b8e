//! Prometheus metrics of one process (`GET /metrics`). Counters and histograms are updated
//! where things happen (HTTP middleware, the worker's `settle`, the fallback chains, completed
//! stages' cost records); gauges that describe shared state (queue depth, provider keys) are
//! read from their source at scrape time, so every process reports the same truth.
use std::time::Duration;

use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;

use crate::providers::keys::KeyPool;

type Labels = Vec<(&'static str, String)>;
type HistogramFamily = Family<Labels, Histogram, fn() -> Histogram>;

fn request_histogram() -> Histogram {
    // 5 ms … ~41 s: API calls are fast, long-polls and synchronous generation are not.
    Histogram::new(exponential_buckets(0.005, 2.0, 14))
}

fn job_histogram() -> Histogram {
    // 50 ms … ~7 h: a correction step is instant, a two-hour meeting's ASR is not.
    Histogram::new(exponential_buckets(0.05, 2.0, 20))
}

fn pickup_histogram() -> Histogram {
    // 1 ms … ~65 s: from due (or lease expiry) to claimed.
    Histogram::new(exponential_buckets(0.001, 2.0, 17))
}

/// The shared queue's state, read from the database at scrape time.
#[derive(Debug, Default)]
pub struct QueueSnapshot {
    /// Jobs per unfinished state and `dead`.
    pub states: Vec<(String, i64)>,
    pub depths: Vec<crate::store::QueueDepth>,
    /// Workers per registry state (`active`, `lost`, `stopped`).
    pub workers: Vec<(String, i64)>,
    pub now_ms: i64,
    /// The newest archive in `backup.to` (`None`: none, or the destination cannot be listed).
    pub backup: Option<BackupSnapshot>,
}

/// What the backup destination holds, for the stale-backup alert.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct BackupSnapshot {
    /// When the newest archive was written (Unix seconds).
    pub last_success_unix: f64,
    pub last_size_bytes: u64,
    pub archives: u64,
}

fn fallback_labels(chain: &str, from: &str, to: &str, code: &str) -> Labels {
    vec![
        ("chain", chain.to_string()),
        ("from", from.to_string()),
        ("to", to.to_string()),
        ("code", code.to_string()),
    ]
}

/// Every metric this process exports. One instance lives on `App`; cheap to share.
pub struct Metrics {
    registry: Registry,
    http_requests: Family<Labels, Counter>,
    http_duration: HistogramFamily,
    jobs: Family<Labels, Counter>,
    job_duration: HistogramFamily,
    fallbacks: Family<Labels, Counter>,
    cost_micros: Family<Labels, Counter>,
    queue_jobs: Family<Labels, Gauge>,
    queue_depth: Family<Labels, Gauge>,
    queue_oldest_age: Family<Labels, Gauge<f64, std::sync::atomic::AtomicU64>>,
    workers: Family<Labels, Gauge>,
    job_pickup: HistogramFamily,
    announced: Family<Labels, Counter>,
    provider_keys: Family<Labels, Gauge>,
    backup_last_success: Gauge<f64, std::sync::atomic::AtomicU64>,
    backup_last_size: Gauge,
    backup_archives: Gauge,
    scrape: std::sync::Mutex<()>,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Metrics")
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

/// How a job attempt ended, as the worker settled it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JobOutcome {
    Succeeded,
    /// Failed and requeued for another attempt.
    Retried,
    /// Failed for good (permanent error or attempts used up): the job is dead.
    Failed,
    /// The lease was lost: another worker owns the job now.
    Fenced,
}

impl JobOutcome {
    fn as_str(self) -> &'static str {
        match self {
            JobOutcome::Succeeded => "succeeded",
            JobOutcome::Retried => "retried",
            JobOutcome::Failed => "failed",
            JobOutcome::Fenced => "fenced",
        }
    }
}

impl Metrics {
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("minutes");
        let http_requests = Family::<Labels, Counter>::default();
        registry.register(
            "http_requests",
            "HTTP requests answered, by method, route template and status",
            http_requests.clone(),
        );
        let http_duration = HistogramFamily::new_with_constructor(request_histogram);
        registry.register(
            "http_request_duration_seconds",
            "Time to answer an HTTP request, by method and route template",
            http_duration.clone(),
        );
        let jobs = Family::<Labels, Counter>::default();
        registry.register(
            "jobs",
            "Job attempts settled by this process, by kind and outcome",
            jobs.clone(),
        );
        let job_duration = HistogramFamily::new_with_constructor(job_histogram);
        registry.register(
            "job_duration_seconds",
            "Wall time of a job attempt, by kind",
            job_duration.clone(),
        );
        let fallbacks = Family::<Labels, Counter>::default();
        registry.register(
            "provider_fallbacks",
            "Calls handed to the next provider of a chain, by chain kind, failing provider, next provider and error code",
            fallbacks.clone(),
        );
        let cost_micros = Family::<Labels, Counter>::default();
        registry.register(
            "provider_cost_micros",
            "Provider cost recorded by completed steps, in millionths of the price-table currency",
            cost_micros.clone(),
        );
        let queue_jobs = Family::<Labels, Gauge>::default();
        registry.register(
            "queue_jobs",
            "Jobs in the shared queue by state (read at scrape time)",
            queue_jobs.clone(),
        );
        let queue_depth = Family::<Labels, Gauge>::default();
        registry.register(
            "queue_depth",
            "Jobs due now (waiting for a worker) per queue (read at scrape time)",
            queue_depth.clone(),
        );
        let queue_oldest_age =
            Family::<Labels, Gauge<f64, std::sync::atomic::AtomicU64>>::default();
        registry.register(
            "queue_oldest_age_seconds",
            "How long the oldest due job of each queue has waited (read at scrape time)",
            queue_oldest_age.clone(),
        );
        let workers = Family::<Labels, Gauge>::default();
        registry.register(
            "workers",
            "Registered workers by state: active, lost, stopped (read at scrape time)",
            workers.clone(),
        );
        let job_pickup = HistogramFamily::new_with_constructor(pickup_histogram);
        registry.register(
            "job_pickup_seconds",
            "Claim latency: from a job being due (or its lease expiring) to a worker claiming it, by queue",
            job_pickup.clone(),
        );
        let announced = Family::<Labels, Counter>::default();
        registry.register(
            "jobs_announced",
            "Due jobs this process's relay published to the broker, by backend",
            announced.clone(),
        );
        let provider_keys = Family::<Labels, Gauge>::default();
        registry.register(
            "provider_keys",
            "API keys of each provider by health state (read at scrape time)",
            provider_keys.clone(),
        );
        let backup_last_success = Gauge::<f64, std::sync::atomic::AtomicU64>::default();
        registry.register(
            "backup_last_success_timestamp_seconds",
            "When the newest archive in backup.to was written (0: none, or unlistable)",
            backup_last_success.clone(),
        );
        let backup_last_size = Gauge::default();
        registry.register(
            "backup_last_size_bytes",
            "Size of the newest backup archive (objects are pooled beside it)",
            backup_last_size.clone(),
        );
        let backup_archives = Gauge::default();
        registry.register(
            "backup_archives",
            "Backup archives in backup.to",
            backup_archives.clone(),
        );
        Self {
            registry,
            http_requests,
            http_duration,
            jobs,
            job_duration,
            fallbacks,
            cost_micros,
            queue_jobs,
            queue_depth,
            queue_oldest_age,
            workers,
            job_pickup,
            announced,
            provider_keys,
            backup_last_success,
            backup_last_size,
            backup_archives,
            scrape: std::sync::Mutex::new(()),
        }
    }

    pub fn http_request(&self, method: &str, route: &str, status: u16, elapsed: Duration) {
        self.http_requests
            .get_or_create(&vec![
                ("method", method.to_string()),
                ("route", route.to_string()),
                ("status", status.to_string()),
            ])
            .inc();
        self.http_duration
            .get_or_create(&vec![
                ("method", method.to_string()),
                ("route", route.to_string()),
            ])
            .observe(elapsed.as_secs_f64());
    }

    pub fn job_settled(&self, kind: &str, outcome: JobOutcome, elapsed: Duration) {
        self.jobs
            .get_or_create(&vec![
                ("kind", kind.to_string()),
                ("outcome", outcome.as_str().to_string()),
            ])
            .inc();
        self.job_duration
            .get_or_create(&vec![("kind", kind.to_string())])
            .observe(elapsed.as_secs_f64());
    }

    pub fn jobs_announced(&self, backend: &str, n: u64) {
        self.announced
            .get_or_create(&vec![("backend", backend.to_string())])
            .inc_by(n);
    }

    /// Jobs this process's relay announced on `backend` so far.
    pub fn announced_count(&self, backend: &str) -> u64 {
        self.announced
            .get(&vec![("backend", backend.to_string())])
            .map_or(0, |c| c.get())
    }

    /// A claim, `latency` after the job became claimable.
    pub fn job_claimed(&self, queue: &str, latency: Duration) {
        self.job_pickup
            .get_or_create(&vec![("queue", queue.to_string())])
            .observe(latency.as_secs_f64());
    }

    /// `chain` is `asr` or `llm`; `code` the failing provider's error code.
    pub fn fallback(&self, chain: &str, from: &str, to: &str, code: &str) {
        self.fallbacks
            .get_or_create(&fallback_labels(chain, from, to, code))
            .inc();
    }

    pub fn cost(&self, provider: &str, api_type: &str, micros: i64) {
        self.cost_micros
            .get_or_create(&vec![
                ("provider", provider.to_string()),
                ("api_type", api_type.to_string()),
            ])
            .inc_by(micros.max(0) as u64);
    }

    /// The hand-overs counted so far for these labels (0 when none: reading creates no series).
    pub fn fallback_count(&self, chain: &str, from: &str, to: &str, code: &str) -> u64 {
        self.fallbacks
            .get(&fallback_labels(chain, from, to, code))
            .map_or(0, |c| c.get())
    }

    /// Renders the text exposition after refreshing the scrape-time gauges.
    pub fn render(&self, queue: &QueueSnapshot, pools: &[std::sync::Arc<KeyPool>]) -> String {
        // One scrape at a time: another's clear-and-refill must not show in this one's gauges.
        let _scrape = self.scrape.lock().unwrap_or_else(|e| e.into_inner());
        self.queue_jobs.clear();
        for (state, count) in &queue.states {
            self.queue_jobs
                .get_or_create(&vec![("state", state.clone())])
                .set(*count);
        }
        self.queue_depth.clear();
        self.queue_oldest_age.clear();
        for d in &queue.depths {
            let labels = vec![("queue", d.queue.clone())];
            self.queue_depth.get_or_create(&labels).set(d.due);
            let age = d
                .oldest_due_ms
                .map_or(0.0, |due| (queue.now_ms - due).max(0) as f64 / 1000.0);
            self.queue_oldest_age.get_or_create(&labels).set(age);
        }
        self.workers.clear();
        for (state, count) in &queue.workers {
            self.workers
                .get_or_create(&vec![("state", state.clone())])
                .set(*count);
        }
        self.provider_keys.clear();
        for pool in pools {
            for key in pool.status() {
                self.provider_keys
                    .get_or_create(&vec![
                        ("provider", pool.provider().to_string()),
                        ("state", key.state.as_str().to_string()),
                    ])
                    .inc();
            }
        }
        let b = queue.backup.unwrap_or_default();
        self.backup_last_success.set(b.last_success_unix);
        self.backup_last_size.set(b.last_size_bytes as i64);
        self.backup_archives.set(b.archives as i64);
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = encode(&mut out, &self.registry);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_and_scrape_gauges_render_in_the_text_format() {
        let m = Metrics::new();
        m.http_request("GET", "/api/v1/tasks/{id}", 200, Duration::from_millis(12));
        m.job_settled("transcribe", JobOutcome::Retried, Duration::from_secs(3));
        m.fallback("llm", "gemini", "openai", "content_blocked");
        m.fallback("llm", "gemini", "openai", "content_blocked");
        m.cost("volcano", "asr", 1_500);
        m.job_claimed("asr", Duration::from_millis(40));
        let snapshot = QueueSnapshot {
            states: vec![("queued".into(), 4), ("dead".into(), 1)],
            depths: vec![crate::store::QueueDepth {
                queue: "asr".into(),
                due: 3,
                scheduled: 1,
                running: 0,
                dead: 1,
                oldest_due_ms: Some(10_000),
            }],
            workers: vec![("active".into(), 2)],
            now_ms: 12_500,
            backup: Some(BackupSnapshot {
                last_success_unix: 1_796_700_000.5,
                last_size_bytes: 4096,
                archives: 3,
            }),
        };
        let text = m.render(&snapshot, &[]);
        for line in [
            r#"minutes_http_requests_total{method="GET",route="/api/v1/tasks/{id}",status="200"} 1"#,
            r#"minutes_jobs_total{kind="transcribe",outcome="retried"} 1"#,
            r#"minutes_provider_fallbacks_total{chain="llm",from="gemini",to="openai",code="content_blocked"} 2"#,
            r#"minutes_provider_cost_micros_total{provider="volcano",api_type="asr"} 1500"#,
            r#"minutes_queue_jobs{state="queued"} 4"#,
            r#"minutes_queue_jobs{state="dead"} 1"#,
            r#"minutes_queue_depth{queue="asr"} 3"#,
            r#"minutes_queue_oldest_age_seconds{queue="asr"} 2.5"#,
            r#"minutes_workers{state="active"} 2"#,
            r#"minutes_job_pickup_seconds_count{queue="asr"} 1"#,
            "minutes_backup_last_success_timestamp_seconds 1796700000.5",
            "minutes_backup_last_size_bytes 4096",
            "minutes_backup_archives 3",
        ] {
            assert!(text.contains(line), "missing `{line}` in:\n{text}");
        }
        assert!(text.contains("minutes_job_duration_seconds_bucket"));
        assert!(text.ends_with("# EOF\n"));
        // Gauges describe the present: a state that emptied is not reported with a stale value.
        let text = m.render(
            &QueueSnapshot {
                states: vec![("queued".into(), 0)],
                ..Default::default()
            },
            &[],
        );
        assert!(
            !text.contains(r#"minutes_queue_jobs{state="dead"}"#),
            "{text}"
        );
        // No backup known: the alert's timestamp reads 0, i.e. infinitely stale.
        assert!(
            text.contains("minutes_backup_last_success_timestamp_seconds 0"),
            "{text}"
        );
    }
}
