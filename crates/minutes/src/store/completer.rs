//! Group commit for job completions: concurrent `complete_job` calls share one fenced `UPDATE`
//! (and one commit) instead of a transaction each. Nothing waits to fill a batch: the first
//! completion goes out at once, and whatever arrives while a statement runs rides the next one,
//! so an idle worker pays no latency and a busy one pays one commit per batch. Each caller still
//! gets its own answer (done, or fenced), as with a statement of its own.
use chrono::Utc;
use tokio::sync::{mpsc, oneshot};

use super::sql::{on_pool, scoped, Pool, Scope};
use super::{Lease, StoreError, StoreResult};

/// Completions per statement (two parameters each, under every driver's limit).
const MAX_BATCH: usize = 128;

type Request = (Lease, oneshot::Sender<StoreResult<bool>>);

pub(super) struct Completer {
    requests: mpsc::UnboundedSender<Request>,
}

impl Completer {
    /// Starts the completing task on `pool`; it ends when the last `SqlStore` clone is dropped.
    pub(super) fn start(pool: Pool) -> Completer {
        let (requests, inbox) = mpsc::unbounded_channel();
        tokio::spawn(run(pool, inbox));
        Completer { requests }
    }

    /// Marks the job done if `lease` still holds it: true when it did, false when fenced.
    pub(super) async fn complete(&self, lease: Lease) -> StoreResult<bool> {
        let (answer, reply) = oneshot::channel();
        let gone = || StoreError::Conflict("the store is shutting down".into());
        self.requests.send((lease, answer)).map_err(|_| gone())?;
        reply.await.map_err(|_| gone())?
    }
}

async fn run(pool: Pool, mut inbox: mpsc::UnboundedReceiver<Request>) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    while inbox.recv_many(&mut batch, MAX_BATCH).await > 0 {
        let leases: Vec<Lease> = batch.iter().map(|(l, _)| l.clone()).collect();
        match complete_many(&pool, &leases).await {
            Ok(done) => {
                for (lease, answer) in batch.drain(..) {
                    let _ = answer.send(Ok(done.contains(&(lease.job_id, lease.lease_gen))));
                }
            }
            // One statement for all failed (a dropped connection, a busy SQLite): each
            // completion is tried alone, so every caller gets its own outcome or error.
            Err(_) => {
                for (lease, answer) in batch.drain(..) {
                    let one = complete_many(&pool, std::slice::from_ref(&lease)).await;
                    let _ = answer.send(one.map(|done| !done.is_empty()));
                }
            }
        }
    }
}

/// One fenced `UPDATE` for all `leases`; returns the (job id, lease generation) pairs it
/// completed. A job whose lease moved on (reclaimed, cancelled) is not among them.
async fn complete_many(pool: &Pool, leases: &[Lease]) -> StoreResult<Vec<(String, i64)>> {
    let now = Utc::now();
    let held = (0..leases.len())
        .map(|i| format!("(id = ${} AND lease_gen = ${})", 2 + 2 * i, 3 + 2 * i))
        .collect::<Vec<_>>()
        .join(" OR ");
    // Touches only the job rows, by id and lease generation: system scope, like the claim.
    let sql = format!(
        "UPDATE jobs SET state = 'done', locked_by = NULL, locked_until_ms = NULL, \
         finished_at = $1, updated_at = $1 WHERE state = 'running' AND ({held}) \
         RETURNING id, lease_gen"
    );
    let store = Pooled { pool };
    Ok(on_pool!(store, pool => {
        let mut q = sqlx::query_as::<_, (String, i64)>(&sql).bind(now);
        for lease in leases {
            q = q.bind(&lease.job_id).bind(lease.lease_gen);
        }
        scoped!(pool, Scope::System, tx => q.fetch_all(&mut *tx).await?)
    }))
}

/// Lets `on_pool!` (which reads a store's `pool`) run on the bare pool this task holds.
struct Pooled<'a> {
    pool: &'a Pool,
}
