-- Nothing to undo on SQLite (see 0006_rls.up.sql).
SELECT 1;
