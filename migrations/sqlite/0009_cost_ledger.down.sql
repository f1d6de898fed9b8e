DROP INDEX cost_records_once_per_job;
ALTER TABLE cost_records DROP COLUMN attempt;
ALTER TABLE cost_records DROP COLUMN job_id;
ALTER TABLE cost_records DROP COLUMN priced;
ALTER TABLE cost_records DROP COLUMN model;
ALTER TABLE cost_records DROP COLUMN stage;
ALTER TABLE cost_records RENAME COLUMN amount_micros TO cost_minor;
