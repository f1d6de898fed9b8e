-- The cost ledger prices every row (integer millionths of the price table's currency; the old
-- `cost_minor` was never filled) and says which step, model and job attempt it bills. A job
-- completes once (its lease fences the completion), and the unique index keeps a second
-- completion of the same job from billing the same usage twice.
ALTER TABLE cost_records RENAME COLUMN cost_minor TO amount_micros;
ALTER TABLE cost_records ADD COLUMN stage TEXT NOT NULL DEFAULT '';
ALTER TABLE cost_records ADD COLUMN model TEXT NOT NULL DEFAULT '';
ALTER TABLE cost_records ADD COLUMN priced BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE cost_records ADD COLUMN job_id TEXT;
ALTER TABLE cost_records ADD COLUMN attempt INTEGER NOT NULL DEFAULT 1;
CREATE UNIQUE INDEX cost_records_once_per_job
    ON cost_records(job_id, api_type, provider, model) WHERE job_id IS NOT NULL;
