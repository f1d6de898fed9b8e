-- The speakers registry: people enrolled for voiceprint identification, per tenant, each with
-- the record of their consent. The application seals the personal values before they reach
-- these columns (store/speakers.rs, crypto::Column): `name`, `provider_feature_id`,
-- `consent_subject`, `consent_text`, and every `voiceprint_features.embedding`.
-- Erasure keeps a tombstone (ids, provider, consent method/version/time, who and when) with
-- every personal value NULL and the embeddings deleted.
CREATE TABLE speakers (
    id TEXT PRIMARY KEY,
    tenant_id TEXT NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    name TEXT,
    -- The voiceprint engine that holds the feature (`local-campplus`, `iflytek`).
    provider TEXT NOT NULL,
    provider_feature_id TEXT,
    state TEXT NOT NULL CHECK (state IN ('enrolling', 'active', 'failed', 'erasing', 'erased')),
    error TEXT,
    -- Seconds of speech in the enrollment sample.
    sample_seconds DOUBLE PRECISION,
    consent_subject TEXT,
    consent_text TEXT,
    consent_reference TEXT,
    consent_method TEXT NOT NULL CHECK (consent_method IN ('written', 'electronic', 'verbal_recorded')),
    consent_version TEXT NOT NULL,
    consented_at TIMESTAMPTZ NOT NULL,
    created_by TEXT NOT NULL,
    created_at TIMESTAMPTZ NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL,
    erased_at TIMESTAMPTZ,
    erased_by TEXT
);
CREATE INDEX speakers_tenant ON speakers(tenant_id, state, created_at);

-- Embeddings of the local engine (biometric data): one row per enrollment sample, sealed.
CREATE TABLE voiceprint_features (
    id TEXT PRIMARY KEY,
    speaker_id TEXT NOT NULL REFERENCES speakers(id) ON DELETE CASCADE,
    tenant_id TEXT NOT NULL,
    -- The embedding engine (`campplus`): vectors of different engines are never compared.
    model TEXT NOT NULL,
    dimensions INTEGER NOT NULL,
    embedding TEXT NOT NULL,
    speech_seconds DOUBLE PRECISION NOT NULL,
    created_at TIMESTAMPTZ NOT NULL
);
CREATE INDEX voiceprint_features_speaker ON voiceprint_features(tenant_id, speaker_id);

ALTER TABLE speakers ENABLE ROW LEVEL SECURITY;
ALTER TABLE speakers FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON speakers
    USING (tenant_id = minutes_rls_tenant() OR minutes_rls_system())
    WITH CHECK (tenant_id = minutes_rls_tenant() OR minutes_rls_system());

ALTER TABLE voiceprint_features ENABLE ROW LEVEL SECURITY;
ALTER TABLE voiceprint_features FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON voiceprint_features
    USING (tenant_id = minutes_rls_tenant() OR minutes_rls_system())
    WITH CHECK (tenant_id = minutes_rls_tenant() OR minutes_rls_system());
