DROP INDEX hotword_sets_tenant;
ALTER TABLE tasks DROP COLUMN hotwords;
