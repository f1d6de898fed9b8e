//! The real code path, as a deployment runs it: an "API" `App` that enqueues no-op jobs and runs
//! the outbox relay (as `minutes serve` does), and a "worker" `App` whose `Worker` loops (eight
//! slots in all: eight workers of concurrency 1, or one of concurrency 8 that pulls batches)
//! receive deliveries, claim by id with the fenced update, complete and ack. The two `App`s share nothing but PostgreSQL and
//! the broker: wake-ups travel by NOTIFY/LISTEN or the broker, as between processes.
//!
//! The measurements read the `jobs` rows themselves (`finished_at`, `claimed_due_ms`): they are
//! instrumentation of the benchmark, not application queries.
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use minutes::app::{App, Overrides};
use minutes::config::{
    AsrProviderKind, Config, DiarizationProviderKind, LlmProviderKind, QueueBackend,
    VoiceprintProviderKind,
};
use minutes::domain::ids;
use minutes::domain::job::{Job, JobKind};
use minutes::queue::{Worker, WorkerOptions};
use sqlx::postgres::PgPool;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

pub const CLAIMERS: usize = 8;

/// How the eight claim slots are spread over `Worker` loops.
#[derive(Debug, Clone, Copy)]
pub struct Layout {
    pub workers: usize,
    pub concurrency: usize,
}

/// Eight single-slot workers (eight consumers), and one eight-slot worker (batch pulls).
pub const LAYOUTS: [Layout; 2] = [
    Layout {
        workers: CLAIMERS,
        concurrency: 1,
    },
    Layout {
        workers: 1,
        concurrency: CLAIMERS,
    },
];

/// The broker under the delivery seam, with its URL.
#[derive(Debug, Clone)]
pub enum Backend {
    Database,
    Redis(String),
    Rabbitmq(String),
}

impl Backend {
    pub fn name(&self) -> &'static str {
        match self {
            Backend::Database => "database",
            Backend::Redis(_) => "redis",
            Backend::Rabbitmq(_) => "rabbitmq",
        }
    }
}

pub struct Deployment {
    pub api: Arc<App>,
    pub worker: Arc<App>,
    pub prefix: String,
    layout: Layout,
    probe: PgPool,
    api_relay: CancellationToken,
    workers: Option<(CancellationToken, JoinSet<()>)>,
}

fn config(
    backend: &Backend,
    layout: Layout,
    pg_url: &str,
    dir: &Path,
    prefix: &str,
) -> anyhow::Result<Config> {
    let mut c = Config::load(None)?;
    c.data_dir = dir.to_path_buf();
    c.database.url = pg_url.to_string();
    // Eight workers, their heartbeats and relays, on one pool.
    c.database.max_connections = (CLAIMERS + 8) as u32;
    c.queue.backend = match backend {
        Backend::Database => QueueBackend::Database,
        Backend::Redis(url) => {
            c.queue.redis_url = url.clone();
            QueueBackend::Redis
        }
        Backend::Rabbitmq(url) => {
            c.queue.amqp_url = url.clone();
            QueueBackend::Rabbitmq
        }
    };
    c.queue.broker_prefix = prefix.to_string();
    // Sizes the RabbitMQ prefetch (concurrency + batch), as `minutes worker --concurrency` does.
    c.queue.concurrency = layout.concurrency;
    // Only the bench's jobs in the queue: no retention or pruning runs.
    c.schedules.retention = String::new();
    c.schedules.prune_jobs = String::new();
    // Engines are built but never called by no-op jobs; none of these loads a model.
    c.asr.primary = AsrProviderKind::Openai;
    c.llm.provider = LlmProviderKind::Local;
    c.diarization.provider = DiarizationProviderKind::None;
    c.voiceprint.provider = VoiceprintProviderKind::None;
    c.rate_limit.enabled = false;
    Ok(c)
}

impl Deployment {
    pub async fn start(
        backend: &Backend,
        layout: Layout,
        pg_url: &str,
        schema: &str,
        dir: &Path,
    ) -> anyhow::Result<Deployment> {
        let prefix = format!("bench-{}", &uuid::Uuid::new_v4().simple().to_string()[..12]);
        let config = config(backend, layout, pg_url, dir, &prefix)?;
        let overrides = || Overrides {
            pg_schema: Some(schema.to_string()),
            ..Default::default()
        };
        let api = Arc::new(App::build_with(&config, overrides()).await?);
        let worker = Arc::new(App::build_with(&config, overrides()).await?);
        let api_relay = CancellationToken::new();
        tokio::spawn(minutes::queue::relay::run(api.clone(), api_relay.clone()));
        let probe = sqlx::postgres::PgPoolOptions::new()
            .max_connections(2)
            .connect(&with_search_path(pg_url, schema)?)
            .await?;
        Ok(Deployment {
            api,
            worker,
            prefix,
            layout,
            probe,
            api_relay,
            workers: None,
        })
    }

    /// One no-op job, due now, as the API enqueues it.
    async fn enqueue_one(api: &App) -> anyhow::Result<String> {
        let id = ids::job_id();
        let row = minutes::pipeline::new_job(api, id.clone(), None, &Job::Noop, 0);
        debug_assert_eq!(row.kind, JobKind::Noop.wire_name());
        api.store.enqueue(&row).await?;
        Ok(id)
    }

    /// Enqueues `n` jobs from `CLAIMERS` concurrent producers; returns jobs/s.
    pub async fn enqueue(&self, n: usize) -> anyhow::Result<f64> {
        let started = Instant::now();
        let mut producers = JoinSet::new();
        for _ in 0..CLAIMERS {
            let api = self.api.clone();
            producers.spawn(async move {
                for _ in 0..n / CLAIMERS {
                    Self::enqueue_one(&api).await?;
                }
                anyhow::Ok(())
            });
        }
        while let Some(p) = producers.join_next().await {
            p??;
        }
        Ok((n / CLAIMERS * CLAIMERS) as f64 / started.elapsed().as_secs_f64())
    }

    /// Waits until the relay announced every due job (broker backends); returns how long it took.
    pub async fn wait_announced(&self, within: Duration) -> anyhow::Result<Duration> {
        let started = Instant::now();
        loop {
            let left: i64 = sqlx::query_scalar(
                "SELECT COUNT(*) FROM jobs WHERE state IN ('queued', 'running') \
                 AND (announced_ms IS NULL OR announced_ms <> run_at_ms)",
            )
            .fetch_one(&self.probe)
            .await?;
            if left == 0 {
                return Ok(started.elapsed());
            }
            anyhow::ensure!(
                started.elapsed() < within,
                "{left} jobs still unannounced after {within:?}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Starts the worker loops of the layout.
    pub fn start_workers(&mut self) {
        let stop = CancellationToken::new();
        let mut set = JoinSet::new();
        for i in 0..self.layout.workers {
            let opts = WorkerOptions {
                worker_id: format!("{}-w{i}", self.prefix),
                queues: vec![JobKind::Noop.queue().to_string()],
                concurrency: self.layout.concurrency,
            };
            set.spawn(Worker::new(self.worker.clone(), opts).run(stop.clone()));
        }
        self.workers = Some((stop, set));
    }

    pub async fn stop_workers(&mut self) {
        if let Some((stop, mut set)) = self.workers.take() {
            stop.cancel();
            while set.join_next().await.is_some() {}
        }
    }

    /// Waits until `n` jobs are done; returns the moment (epoch seconds) the last one finished.
    pub async fn wait_done(&self, n: usize, within: Duration) -> anyhow::Result<f64> {
        let started = Instant::now();
        loop {
            let (done, last): (i64, Option<f64>) = sqlx::query_as(
                "SELECT COUNT(*), EXTRACT(EPOCH FROM MAX(finished_at))::float8 FROM jobs \
                 WHERE state = 'done'",
            )
            .fetch_one(&self.probe)
            .await?;
            if done as usize >= n {
                return Ok(last.unwrap_or_default());
            }
            anyhow::ensure!(
                started.elapsed() < within,
                "only {done} of {n} jobs done after {within:?}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Enqueues `n` jobs at `per_sec` while the workers idle; returns due → done of each, in ms.
    pub async fn paced(&self, n: usize, per_sec: u32) -> anyhow::Result<Vec<f64>> {
        let mut tick = tokio::time::interval(Duration::from_secs_f64(1.0 / f64::from(per_sec)));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut ids = Vec::with_capacity(n);
        let before: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM jobs WHERE state = 'done'")
            .fetch_one(&self.probe)
            .await?;
        for _ in 0..n {
            tick.tick().await;
            ids.push(Self::enqueue_one(&self.api).await?);
        }
        self.wait_done(before as usize + n, Duration::from_secs(120))
            .await?;
        let latencies: Vec<f64> = sqlx::query_scalar(
            "SELECT (EXTRACT(EPOCH FROM finished_at) * 1000.0 - claimed_due_ms)::float8 FROM jobs \
             WHERE id = ANY($1)",
        )
        .bind(&ids)
        .fetch_all(&self.probe)
        .await?;
        anyhow::ensure!(
            latencies.len() == n,
            "{} of {n} paced jobs found",
            latencies.len()
        );
        Ok(latencies)
    }

    pub async fn close(mut self) {
        self.stop_workers().await;
        self.api_relay.cancel();
        self.probe.close().await;
        self.api.sql.close().await;
        self.worker.sql.close().await;
    }
}

pub fn with_search_path(url: &str, schema: &str) -> anyhow::Result<String> {
    let mut url = url::Url::parse(url)?;
    url.query_pairs_mut()
        .append_pair("options[search_path]", schema);
    Ok(url.to_string())
}
