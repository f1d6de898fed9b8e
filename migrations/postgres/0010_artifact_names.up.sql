-- The original frontend names artifact versions (`display_name`, set by generation's `name` and
-- by renames) and deletes versions; a deleted version is hidden, not removed, so the history of
-- what was generated and confirmed stays auditable.
ALTER TABLE artifacts ADD COLUMN display_name TEXT;
ALTER TABLE artifacts ADD COLUMN deleted_at TIMESTAMPTZ;
ALTER TABLE artifacts ADD COLUMN deleted_by TEXT;
