-- Full-text search (PostgreSQL). Keep in step with ../sqlite/0003_search.up.sql.
-- One row per transcript segment (latest revision) and per artifact type (latest version) of a
-- task. `tokens` is the text segmented in Rust (jieba for Chinese, lower-cased words), space
-- separated; the application rewrites a task's rows in the same transaction as the content.
-- The 'simple' configuration only lower-cases: no stemming or stop words to undo the segmentation.
CREATE TABLE search_documents (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    tenant_id TEXT NOT NULL,
    user_id TEXT NOT NULL,
    task_id TEXT NOT NULL REFERENCES tasks(id) ON DELETE CASCADE,
    kind TEXT NOT NULL CHECK (kind IN ('transcript', 'artifact')),
    -- The segment id (transcript; NULL for a free-text revision body) or the artifact id.
    ref_id TEXT,
    artifact_type TEXT CHECK ((kind = 'artifact') = (artifact_type IS NOT NULL)),
    -- The transcript revision or the artifact version the text comes from.
    version BIGINT NOT NULL,
    start_time DOUBLE PRECISION,
    text TEXT NOT NULL,
    tokens TEXT NOT NULL,
    tsv TSVECTOR GENERATED ALWAYS AS (to_tsvector('simple', tokens)) STORED,
    created_at TIMESTAMPTZ NOT NULL
);
CREATE INDEX search_documents_task ON search_documents(task_id, kind, artifact_type);
CREATE INDEX search_documents_owner ON search_documents(tenant_id, user_id);
CREATE INDEX search_documents_tsv ON search_documents USING GIN (tsv);
