//! Queue throughput on PostgreSQL: no-op jobs claimed and completed by 8 concurrent claimers,
//! against a baseline of trivial round trips over the same pool in the same run.
//!
//!   MINUTES_BENCH_POSTGRES_URL=postgres://postgres@127.0.0.1:5432/test cargo bench -p minutes --bench queue
use std::sync::Arc;
use std::time::Instant;

use minutes::domain::ids;
use minutes::store::sql::ConnectOptions;
use minutes::store::{JobStore, Migrator, NewJob, SqlStore, Store};

const JOBS: usize = 20_000;
const CLAIMERS: usize = 8;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let url = std::env::var("MINUTES_BENCH_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into());
    let schema = format!("bench_{}", uuid::Uuid::new_v4().simple());
    SqlStore::create_pg_schema(&url, &schema).await?;
    let store = SqlStore::connect(&ConnectOptions {
        url: url.clone(),
        max_connections: (CLAIMERS + 2) as u32,
        pg_schema: Some(schema.clone()),
    })
    .await?;
    Migrator::new(&store).up().await?;
    let result = run(Arc::new(store.clone())).await;
    store.close().await;
    SqlStore::drop_pg_schema(&url, &schema).await?;
    result
}

async fn run(store: Arc<SqlStore>) -> anyhow::Result<()> {
    let now = chrono::Utc::now().timestamp_millis();
    let t = Instant::now();
    let mut enqueuers = Vec::new();
    for _ in 0..CLAIMERS {
        let store = store.clone();
        enqueuers.push(tokio::spawn(async move {
            for _ in 0..JOBS / CLAIMERS {
                let job = NewJob {
                    id: ids::job_id(),
                    queue: "maintenance".into(),
                    kind: minutes::domain::job::JobKind::Noop.wire_name().into(),
                    task_id: None,
                    tenant_id: None,
                    payload: serde_json::json!({}),
                    priority: 0,
                    max_attempts: 3,
                    run_at_ms: now,
                };
                store.enqueue(&job).await?;
            }
            anyhow::Ok(())
        }));
    }
    for e in enqueuers {
        e.await??;
    }
    let enqueue_rate = JOBS as f64 / t.elapsed().as_secs_f64();

    // Baseline: the same number of trivial round trips (2 per job: claim + complete).
    let t = Instant::now();
    let mut pings = Vec::new();
    for _ in 0..CLAIMERS {
        let store = store.clone();
        pings.push(tokio::spawn(async move {
            for _ in 0..(2 * JOBS / CLAIMERS) {
                store.ping().await?;
            }
            anyhow::Ok(())
        }));
    }
    for p in pings {
        p.await??;
    }
    let baseline = JOBS as f64 / t.elapsed().as_secs_f64();

    let queues = vec!["maintenance".to_string()];
    let t = Instant::now();
    let mut claimers = Vec::new();
    for w in 0..CLAIMERS {
        let store = store.clone();
        let queues = queues.clone();
        claimers.push(tokio::spawn(async move {
            let mut n = 0usize;
            while let Some(job) = store
                .claim_job(&queues, &format!("bench{w}"), 60_000, now)
                .await?
            {
                store.complete_job(&job.lease()).await?;
                n += 1;
            }
            anyhow::Ok(n)
        }));
    }
    let mut done = 0;
    for c in claimers {
        done += c.await??;
    }
    let elapsed = t.elapsed().as_secs_f64();
    anyhow::ensure!(done == JOBS, "claimed {done} of {JOBS}");
    let rate = done as f64 / elapsed;
    println!("queue bench (PostgreSQL, {CLAIMERS} concurrent claimers, {JOBS} no-op jobs)");
    println!("  enqueue:                     {enqueue_rate:>9.0} jobs/s");
    println!("  claim+complete:              {rate:>9.0} jobs/s");
    println!("  baseline (2 trivial queries):{baseline:>9.0} per s");
    println!("  ratio queue/baseline:        {:>9.2}", rate / baseline);
    Ok(())
}
