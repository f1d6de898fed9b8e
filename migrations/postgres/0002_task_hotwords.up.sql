-- The hotwords resolved for a task at creation (user > tenant > global sets), used by ASR.
ALTER TABLE tasks ADD COLUMN hotwords JSONB NOT NULL DEFAULT '[]'::jsonb;
CREATE INDEX hotword_sets_tenant ON hotword_sets(tenant_id, scope);
