-- Production workers (issue 14): the jobs row as an outbox for broker delivery, a worker
-- registry with heartbeats, and indexes so pruning and metrics never scan finished jobs.

-- The due time (run_at_ms) the relay last announced to the broker. A row is due for an
-- announcement whenever its current due time has not been announced: a new job, a delayed
-- retry that became due, or a running job whose lease expired (its run_at_ms is the expiry).
ALTER TABLE jobs ADD COLUMN announced_ms BIGINT;
-- The due time a claim took the job at (its run_at_ms before the claim), for pickup latency.
ALTER TABLE jobs ADD COLUMN claimed_due_ms BIGINT;
CREATE INDEX jobs_unannounced ON jobs(run_at_ms)
    WHERE state IN ('queued', 'running') AND (announced_ms IS NULL OR announced_ms <> run_at_ms);
-- Pruning deletes finished rows oldest first; dead rows are the operator's dead letters.
CREATE INDEX jobs_finished ON jobs(finished_at) WHERE state IN ('done', 'cancelled');
CREATE INDEX jobs_dead ON jobs(finished_at, id) WHERE state = 'dead';

-- Workers, not tenant data (no tenant_id, no row-level security).
CREATE TABLE workers (
    id TEXT PRIMARY KEY,
    host TEXT NOT NULL,
    pid BIGINT NOT NULL,
    version TEXT NOT NULL,
    queues TEXT NOT NULL,
    concurrency BIGINT NOT NULL,
    running BIGINT NOT NULL DEFAULT 0,
    delivery TEXT NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('active', 'stopped', 'lost')),
    started_at TEXT NOT NULL,
    last_seen_at TEXT NOT NULL,
    stopped_at TEXT
);
CREATE INDEX workers_state ON workers(state, last_seen_at);
