DROP TABLE workers;
DROP INDEX jobs_dead;
DROP INDEX jobs_finished;
DROP INDEX jobs_unannounced;
ALTER TABLE jobs DROP COLUMN claimed_due_ms;
ALTER TABLE jobs DROP COLUMN announced_ms;
