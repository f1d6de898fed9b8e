-- Full-text search (SQLite). Keep in step with ../postgres/0003_search.up.sql.
-- One row per transcript segment (latest revision) and per artifact type (latest version) of a
-- task. `tokens` is the text segmented in Rust (jieba for Chinese, lower-cased words), space
-- separated; the application rewrites a task's rows in the same transaction as the content.
CREATE TABLE search_documents (
    -- AUTOINCREMENT: rowids are never reused, so the FTS index can never point at a newer row.
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    tenant_id TEXT NOT NULL,
    user_id TEXT NOT NULL,
    task_id TEXT NOT NULL REFERENCES tasks(id) ON DELETE CASCADE,
    kind TEXT NOT NULL CHECK (kind IN ('transcript', 'artifact')),
    -- The segment id (transcript; NULL for a free-text revision body) or the artifact id.
    ref_id TEXT,
    artifact_type TEXT CHECK ((kind = 'artifact') = (artifact_type IS NOT NULL)),
    -- The transcript revision or the artifact version the text comes from.
    version INTEGER NOT NULL,
    start_time DOUBLE PRECISION,
    text TEXT NOT NULL,
    tokens TEXT NOT NULL,
    created_at TEXT NOT NULL
);
CREATE INDEX search_documents_task ON search_documents(task_id, kind, artifact_type);
CREATE INDEX search_documents_owner ON search_documents(tenant_id, user_id);

-- External-content FTS5 index over `tokens`; the triggers keep it in step with every insert and
-- delete, including the cascade when a task is deleted.
CREATE VIRTUAL TABLE search_fts USING fts5(
    tokens,
    content = 'search_documents',
    content_rowid = 'id',
    tokenize = 'unicode61 remove_diacritics 0'
);
CREATE TRIGGER search_documents_ai AFTER INSERT ON search_documents BEGIN
    INSERT INTO search_fts (rowid, tokens) VALUES (new.id, new.tokens);
END;
CREATE TRIGGER search_documents_ad AFTER DELETE ON search_documents BEGIN
    INSERT INTO search_fts (search_fts, rowid, tokens) VALUES ('delete', old.id, old.tokens);
END;
CREATE TRIGGER search_documents_au AFTER UPDATE ON search_documents BEGIN
    INSERT INTO search_fts (search_fts, rowid, tokens) VALUES ('delete', old.id, old.tokens);
    INSERT INTO search_fts (rowid, tokens) VALUES (new.id, new.tokens);
END;
