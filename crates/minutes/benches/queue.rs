//! Queue throughput and pickup latency per delivery backend, through the real code path
//! (enqueue → relay/announce → receive → claim by id → complete → ack) with 8 claimers, each
//! beside its raw-client baseline measured in the same run (`queue/raw.rs`), as ratios.
//!
//!   cargo bench -p minutes --bench queue -- [database|redis|rabbitmq|all]   (default all)
//!
//! `MINUTES_BENCH_POSTGRES_URL` (default postgres://postgres@127.0.0.1:5432/test),
//! `MINUTES_BENCH_REDIS_URL` (redis://127.0.0.1:6379), `MINUTES_BENCH_AMQP_URL`
//! (amqp://guest:guest@127.0.0.1:5672/%2f). `scripts/bench-queue.sh` runs it in release.
//!
//! Per backend and layout (eight workers of concurrency 1, one worker of concurrency 8): 20,000
//! no-op jobs are enqueued (and, for a broker, announced by the relay) while no worker runs;
//! then the workers drain them (jobs/s = 20,000 / time until the
//! last `finished_at`). Pickup: with the workers idle, 2,000 jobs are enqueued at 200/s, and each
//! job's due time → `finished_at` is taken from its row (a no-op adds one UPDATE to the pickup).
#[path = "queue/raw.rs"]
mod raw;
#[path = "queue/real.rs"]
mod real;

use std::time::Duration;

use minutes::store::SqlStore;
use real::{Backend, Deployment, Layout, CLAIMERS, LAYOUTS};

const JOBS: usize = 20_000;
const PACED: usize = 2_000;
const PACED_PER_SEC: u32 = 200;

fn env_or(key: &str, default: &str) -> String {
    std::env::var(key)
        .ok()
        .filter(|v| !v.is_empty())
        .unwrap_or_else(|| default.to_string())
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = (p * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

fn p50_p99(mut ms: Vec<f64>) -> (f64, f64) {
    ms.sort_by(f64::total_cmp);
    (percentile(&ms, 0.50), percentile(&ms, 0.99))
}

struct Row {
    backend: &'static str,
    layout: Layout,
    enqueue: f64,
    announce: Option<f64>,
    real: f64,
    pickup: (f64, f64),
    raw_postgres: f64,
    raw_skip_locked: f64,
    raw_broker: Option<(f64, (f64, f64))>,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let pg = env_or(
        "MINUTES_BENCH_POSTGRES_URL",
        "postgres://postgres@127.0.0.1:5432/test",
    );
    let redis = env_or("MINUTES_BENCH_REDIS_URL", "redis://127.0.0.1:6379");
    let amqp = env_or(
        "MINUTES_BENCH_AMQP_URL",
        "amqp://guest:guest@127.0.0.1:5672/%2f",
    );
    // `cargo bench` passes `--bench`; the first other argument picks the backend.
    let which = std::env::args()
        .skip(1)
        .find(|a| !a.starts_with("--"))
        .unwrap_or_else(|| "all".into());
    let backends: Vec<Backend> = match which.as_str() {
        "database" => vec![Backend::Database],
        "redis" => vec![Backend::Redis(redis)],
        "rabbitmq" => vec![Backend::Rabbitmq(amqp)],
        "all" => vec![
            Backend::Database,
            Backend::Redis(redis),
            Backend::Rabbitmq(amqp),
        ],
        other => anyhow::bail!("unknown backend `{other}`: database, redis, rabbitmq or all"),
    };
    for backend in &backends {
        for layout in LAYOUTS {
            let schema = format!("bench_{}", uuid::Uuid::new_v4().simple());
            SqlStore::create_pg_schema(&pg, &schema).await?;
            let dir = tempfile::tempdir()?;
            let result = run(backend, layout, &pg, &schema, dir.path()).await;
            SqlStore::drop_pg_schema(&pg, &schema).await?;
            print_row(&result?);
        }
    }
    Ok(())
}

async fn run(
    backend: &Backend,
    layout: Layout,
    pg: &str,
    schema: &str,
    dir: &std::path::Path,
) -> anyhow::Result<Row> {
    let mut d = Deployment::start(backend, layout, pg, schema, dir).await?;
    let enqueue = d.enqueue(JOBS).await?;
    let announce = match backend {
        Backend::Database => None,
        _ => {
            // The relay has been announcing since the first enqueue; this is what was left.
            let left = d.wait_announced(Duration::from_secs(120)).await?;
            Some(left.as_secs_f64())
        }
    };
    let started = chrono::Utc::now().timestamp_micros() as f64 / 1e6;
    d.start_workers();
    let last = d.wait_done(JOBS, Duration::from_secs(300)).await?;
    let real = JOBS as f64 / (last - started);
    let pickup = p50_p99(d.paced(PACED, PACED_PER_SEC).await?);
    d.stop_workers().await;
    let raw_postgres = raw::postgres(d.worker.store.clone(), JOBS).await?;
    let raw_skip_locked =
        raw::postgres_skip_locked(&real::with_search_path(pg, schema)?, JOBS).await?;
    let prefetch = (d.worker.config.queue.concurrency + d.worker.config.queue.batch) as u16;
    let raw_broker = match backend {
        Backend::Database => None,
        Backend::Redis(url) => Some(raw::redis(url, JOBS, PACED, PACED_PER_SEC).await?),
        Backend::Rabbitmq(url) => {
            Some(raw::rabbitmq(url, JOBS, PACED, PACED_PER_SEC, prefetch).await?)
        }
    }
    .map(|r| (r.per_sec, p50_p99(r.latencies_ms)));
    let prefix = d.prefix.clone();
    d.close().await;
    raw::forget_topology(backend, &prefix).await?;
    Ok(Row {
        backend: backend.name(),
        layout,
        enqueue,
        announce,
        real,
        pickup,
        raw_postgres,
        raw_skip_locked,
        raw_broker,
    })
}

fn print_row(r: &Row) {
    println!(
        "queue bench: {} backend, {} worker(s) × concurrency {} ({CLAIMERS} claimers), {JOBS} no-op jobs",
        r.backend, r.layout.workers, r.layout.concurrency
    );
    println!(
        "  enqueue (8 producers):            {:>8.0} jobs/s",
        r.enqueue
    );
    if let Some(a) = r.announce {
        println!("  relay: announced the rest within  {a:>8.2} s of the last enqueue");
    }
    println!("  real path (claim, complete, ack): {:>8.0} jobs/s", r.real);
    println!(
        "  pickup due → done at {PACED_PER_SEC}/s:       p50 {:.1} ms, p99 {:.1} ms",
        r.pickup.0, r.pickup.1
    );
    println!(
        "  raw PostgreSQL (2 trivial queries): {:>6.0} jobs/s   ratio {:.2}",
        r.raw_postgres,
        r.real / r.raw_postgres
    );
    println!(
        "  raw SKIP LOCKED queue (2 commits):  {:>6.0} jobs/s   ratio {:.2}",
        r.raw_skip_locked,
        r.real / r.raw_skip_locked
    );
    if let Some((rate, (p50, p99))) = r.raw_broker {
        let what = if r.backend == "redis" {
            "XREADGROUP+XACK"
        } else {
            "lapin consume+ack"
        };
        println!(
            "  raw {what}:          {rate:>8.0} msgs/s   ratio {:.2}; paced delivery p50 {p50:.1} ms, p99 {p99:.1} ms",
            r.real / rate
        );
    }
}
