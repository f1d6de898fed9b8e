-- Row-level security (PostgreSQL only): defence in depth behind the `tenant_id` filter every
-- query already has. The application opens every transaction with
--   SELECT set_config('app.tenant_id', <tenant>, true), set_config('app.scope', 'tenant', true)
-- or, on the few cross-tenant paths (job claiming, retention sweeps, login, API-key lookup,
-- built-in template seeding), with app.scope = 'system' (store/sql.rs, `Scope`). Both settings
-- are transaction-local, so nothing leaks to the next user of a pooled connection; with
-- neither set, every policy below matches no row.
--
-- FORCE makes the policies bind the table owner too (the role that ran the migrations may be
-- the one the application connects as). Superusers and BYPASSRLS roles are never bound, so
-- the application refuses to start as one in the production profile (app.rs).
-- Foreign-key checks and ON DELETE actions are not subject to row-level security.

-- The tenant of the current transaction; NULL when none is set (or set to '').
CREATE FUNCTION minutes_rls_tenant() RETURNS TEXT LANGUAGE sql STABLE
    AS $$ SELECT NULLIF(current_setting('app.tenant_id', true), '') $$;

-- True only when the code asked for the system scope explicitly, never by default.
CREATE FUNCTION minutes_rls_system() RETURNS BOOLEAN LANGUAGE sql STABLE
    AS $$ SELECT COALESCE(current_setting('app.scope', true) = 'system', FALSE) $$;

-- Tenants: a tenant sees its own row.
ALTER TABLE tenants ENABLE ROW LEVEL SECURITY;
ALTER TABLE tenants FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON tenants
    USING (id = minutes_rls_tenant() OR minutes_rls_system())
    WITH CHECK (id = minutes_rls_tenant() OR minutes_rls_system());

ALTER TABLE tasks ENABLE ROW LEVEL SECURITY;
ALTER TABLE tasks FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON tasks
    USING (tenant_id = minutes_rls_tenant() OR minutes_rls_system())
    WITH CHECK (tenant_id = minutes_rls_tenant() OR minutes_rls_system());

ALTER TABLE task_files ENABLE ROW LEVEL SECURITY;
ALTER TABLE task_files FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON task_files
    USING (tenant_id = minutes_rls_tenant() OR minutes_rls_system())
    WITH CHECK (tenant_id = minutes_rls_tenant() OR minutes_rls_system());

ALTER TABLE task_steps ENABLE ROW LEVEL SECURITY;
ALTER TABLE task_steps FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON task_steps
    USING (tenant_id = minutes_rls_tenant() OR minutes_rls_system())
    WITH CHECK (tenant_id = minutes_rls_tenant() OR minutes_rls_system());

ALTER TABLE task_events ENABLE ROW LEVEL SECURITY;
ALTER TABLE task_events FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON task_events
    USING (tenant_id = minutes_rls_tenant() OR minutes_rls_system())
    WITH CHECK (tenant_id = minutes_rls_tenant() OR minutes_rls_system());

ALTER TABLE transcript_revisions ENABLE ROW LEVEL SECURITY;
ALTER TABLE transcript_revisions FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON transcript_revisions
    USING (tenant_id = minutes_rls_tenant() OR minutes_rls_system())
    WITH CHECK (tenant_id = minutes_rls_tenant() OR minutes_rls_system());

ALTER TABLE speaker_mappings ENABLE ROW LEVEL SECURITY;
ALTER TABLE speaker_mappings FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON speaker_mappings
    USING (tenant_id = minutes_rls_tenant() OR minutes_rls_system())
    WITH CHECK (tenant_id = minutes_rls_tenant() OR minutes_rls_system());

ALTER TABLE artifacts ENABLE ROW LEVEL SECURITY;
ALTER TABLE artifacts FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON artifacts
    USING (tenant_id = minutes_rls_tenant() OR minutes_rls_system())
    WITH CHECK (tenant_id = minutes_rls_tenant() OR minutes_rls_system());

ALTER TABLE search_documents ENABLE ROW LEVEL SECURITY;
ALTER TABLE search_documents FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON search_documents
    USING (tenant_id = minutes_rls_tenant() OR minutes_rls_system())
    WITH CHECK (tenant_id = minutes_rls_tenant() OR minutes_rls_system());

ALTER TABLE uploads ENABLE ROW LEVEL SECURITY;
ALTER TABLE uploads FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON uploads
    USING (tenant_id = minutes_rls_tenant() OR minutes_rls_system())
    WITH CHECK (tenant_id = minutes_rls_tenant() OR minutes_rls_system());

ALTER TABLE folders ENABLE ROW LEVEL SECURITY;
ALTER TABLE folders FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON folders
    USING (tenant_id = minutes_rls_tenant() OR minutes_rls_system())
    WITH CHECK (tenant_id = minutes_rls_tenant() OR minutes_rls_system());

ALTER TABLE users ENABLE ROW LEVEL SECURITY;
ALTER TABLE users FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON users
    USING (tenant_id = minutes_rls_tenant() OR minutes_rls_system())
    WITH CHECK (tenant_id = minutes_rls_tenant() OR minutes_rls_system());

ALTER TABLE api_keys ENABLE ROW LEVEL SECURITY;
ALTER TABLE api_keys FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON api_keys
    USING (tenant_id = minutes_rls_tenant() OR minutes_rls_system())
    WITH CHECK (tenant_id = minutes_rls_tenant() OR minutes_rls_system());

ALTER TABLE audit_logs ENABLE ROW LEVEL SECURITY;
ALTER TABLE audit_logs FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON audit_logs
    USING (tenant_id = minutes_rls_tenant() OR minutes_rls_system())
    WITH CHECK (tenant_id = minutes_rls_tenant() OR minutes_rls_system());

ALTER TABLE cost_records ENABLE ROW LEVEL SECURITY;
ALTER TABLE cost_records FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON cost_records
    USING (tenant_id = minutes_rls_tenant() OR minutes_rls_system())
    WITH CHECK (tenant_id = minutes_rls_tenant() OR minutes_rls_system());

-- Jobs without a tenant (maintenance) are only visible in the system scope.
ALTER TABLE jobs ENABLE ROW LEVEL SECURITY;
ALTER TABLE jobs FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON jobs
    USING (tenant_id = minutes_rls_tenant() OR minutes_rls_system())
    WITH CHECK (tenant_id = minutes_rls_tenant() OR minutes_rls_system());

-- prompt_templates: global rows (tenant_id NULL) are read by every tenant and written only in the
-- system scope; a tenant writes its own non-global rows.
ALTER TABLE prompt_templates ENABLE ROW LEVEL SECURITY;
ALTER TABLE prompt_templates FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON prompt_templates
    USING ((tenant_id = minutes_rls_tenant() AND scope <> 'global') OR minutes_rls_system())
    WITH CHECK ((tenant_id = minutes_rls_tenant() AND scope <> 'global') OR minutes_rls_system());
CREATE POLICY global_rows_readable ON prompt_templates FOR SELECT
    USING (scope = 'global' AND minutes_rls_tenant() IS NOT NULL);

-- hotword_sets: global rows (tenant_id NULL) are read by every tenant and written only in the
-- system scope; a tenant writes its own non-global rows.
ALTER TABLE hotword_sets ENABLE ROW LEVEL SECURITY;
ALTER TABLE hotword_sets FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON hotword_sets
    USING ((tenant_id = minutes_rls_tenant() AND scope <> 'global') OR minutes_rls_system())
    WITH CHECK ((tenant_id = minutes_rls_tenant() AND scope <> 'global') OR minutes_rls_system());
CREATE POLICY global_rows_readable ON hotword_sets FOR SELECT
    USING (scope = 'global' AND minutes_rls_tenant() IS NOT NULL);
