-- Refresh tokens of dev-login sessions. Only a SHA-256 of the token is stored. A refresh marks
-- its token used and inserts the next one of the same family (one family per login); a used
-- token presented again revokes the whole family.
CREATE TABLE refresh_tokens (
    id TEXT PRIMARY KEY,
    token_hash TEXT NOT NULL UNIQUE,
    family_id TEXT NOT NULL,
    tenant_id TEXT NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    created_at TIMESTAMPTZ NOT NULL,
    expires_at TIMESTAMPTZ NOT NULL,
    used_at TIMESTAMPTZ,
    revoked_at TIMESTAMPTZ
);
CREATE INDEX refresh_tokens_family ON refresh_tokens(family_id);
CREATE INDEX refresh_tokens_owner ON refresh_tokens(tenant_id, user_id);

-- Row-level security as in 0006_rls. A refresh finds its row by the token's hash before the
-- tenant is known, so the store does that lookup (and the rotation) in the system scope, like
-- the API-key lookup; issuing at login runs in the user's tenant.
ALTER TABLE refresh_tokens ENABLE ROW LEVEL SECURITY;
ALTER TABLE refresh_tokens FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON refresh_tokens
    USING (tenant_id = minutes_rls_tenant() OR minutes_rls_system())
    WITH CHECK (tenant_id = minutes_rls_tenant() OR minutes_rls_system());
