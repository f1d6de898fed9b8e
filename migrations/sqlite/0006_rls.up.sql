-- Row-level security exists on PostgreSQL only (../postgres/0006_rls.up.sql); on SQLite the
-- tenant filter of every query is the only line. This no-op keeps the version numbers in step.
SELECT 1;
