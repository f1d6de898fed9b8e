-- Initial schema (SQLite). Keep in step with ../postgres/0001_init.up.sql.
CREATE TABLE tenants (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    created_at TEXT NOT NULL
);

CREATE TABLE users (
    id TEXT PRIMARY KEY,
    tenant_id TEXT NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    username TEXT NOT NULL UNIQUE,
    role TEXT NOT NULL DEFAULT 'member' CHECK (role IN ('admin', 'member')),
    is_active BOOLEAN NOT NULL DEFAULT TRUE,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    last_login_at TEXT
);
CREATE INDEX users_tenant ON users(tenant_id);

CREATE TABLE folders (
    id TEXT PRIMARY KEY,
    tenant_id TEXT NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    owner_user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    name TEXT NOT NULL CHECK (length(name) BETWEEN 1 AND 256),
    parent_id TEXT REFERENCES folders(id) ON DELETE CASCADE,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    UNIQUE (tenant_id, owner_user_id, name)
);

CREATE TABLE uploads (
    object_key TEXT PRIMARY KEY,
    tenant_id TEXT NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    original_filename TEXT NOT NULL,
    container TEXT NOT NULL,
    size_bytes BIGINT NOT NULL CHECK (size_bytes > 0),
    sha256 TEXT NOT NULL,
    duration_secs DOUBLE PRECISION,
    created_at TEXT NOT NULL
);
CREATE INDEX uploads_owner ON uploads(tenant_id, user_id);

CREATE TABLE tasks (
    id TEXT PRIMARY KEY,
    tenant_id TEXT NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    name TEXT CHECK (name IS NULL OR length(name) BETWEEN 1 AND 255),
    meeting_type TEXT NOT NULL,
    asr_language TEXT NOT NULL,
    output_language TEXT NOT NULL,
    skip_speaker_recognition BOOLEAN NOT NULL DEFAULT FALSE,
    hotword_set_id TEXT,
    prompt_instance TEXT NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('pending', 'queued', 'running', 'transcribing', 'identifying',
        'correcting', 'summarizing', 'success', 'partial_success', 'failed', 'cancelled', 'archived')),
    progress DOUBLE PRECISION NOT NULL DEFAULT 0 CHECK (progress BETWEEN 0 AND 100),
    estimated_time BIGINT,
    audio_duration DOUBLE PRECISION,
    error_code TEXT,
    error_message TEXT,
    error_detail TEXT,
    retryable BOOLEAN,
    failed_stage TEXT,
    folder_id TEXT REFERENCES folders(id) ON DELETE SET NULL,
    is_deleted BOOLEAN NOT NULL DEFAULT FALSE,
    deleted_at TEXT,
    is_confirmed BOOLEAN NOT NULL DEFAULT FALSE,
    confirmed_by TEXT,
    confirmed_by_name TEXT,
    confirmed_at TEXT,
    confirmation_items TEXT,
    meeting_date TEXT,
    meeting_time TEXT,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    completed_at TEXT,
    last_content_modified_at TEXT NOT NULL
);
CREATE INDEX tasks_tenant_user_created ON tasks(tenant_id, user_id, created_at);
CREATE INDEX tasks_state_created ON tasks(state, created_at);
CREATE INDEX tasks_folder ON tasks(folder_id);
CREATE INDEX tasks_deleted ON tasks(is_deleted, deleted_at);
CREATE INDEX tasks_content_modified ON tasks(last_content_modified_at);

CREATE TABLE task_files (
    task_id TEXT NOT NULL REFERENCES tasks(id) ON DELETE CASCADE,
    file_order INTEGER NOT NULL CHECK (file_order >= 0),
    tenant_id TEXT NOT NULL,
    object_key TEXT NOT NULL,
    original_filename TEXT NOT NULL,
    sha256 TEXT NOT NULL,
    size_bytes BIGINT NOT NULL,
    duration_secs DOUBLE PRECISION,
    offset_secs DOUBLE PRECISION,
    PRIMARY KEY (task_id, file_order)
);

CREATE TABLE task_steps (
    task_id TEXT NOT NULL REFERENCES tasks(id) ON DELETE CASCADE,
    step TEXT NOT NULL CHECK (step IN ('prepare_audio', 'transcribe', 'identify_speakers',
        'correct_speakers', 'generate_artifact')),
    tenant_id TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('pending', 'running', 'success', 'failed', 'skipped')),
    attempts INTEGER NOT NULL DEFAULT 0,
    result TEXT,
    error TEXT,
    provider_job_id TEXT,
    started_at TEXT,
    completed_at TEXT,
    updated_at TEXT NOT NULL,
    PRIMARY KEY (task_id, step)
);

CREATE TABLE task_events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    task_id TEXT NOT NULL REFERENCES tasks(id) ON DELETE CASCADE,
    tenant_id TEXT NOT NULL,
    from_state TEXT,
    to_state TEXT NOT NULL,
    reason TEXT NOT NULL,
    detail TEXT,
    created_at TEXT NOT NULL
);
CREATE INDEX task_events_task ON task_events(task_id, id);

CREATE TABLE transcript_revisions (
    task_id TEXT NOT NULL REFERENCES tasks(id) ON DELETE CASCADE,
    revision INTEGER NOT NULL CHECK (revision >= 1),
    tenant_id TEXT NOT NULL,
    segments TEXT NOT NULL,
    full_text TEXT NOT NULL,
    duration DOUBLE PRECISION NOT NULL,
    language TEXT NOT NULL,
    provider TEXT NOT NULL,
    author TEXT NOT NULL,
    reason TEXT NOT NULL,
    created_at TEXT NOT NULL,
    PRIMARY KEY (task_id, revision)
);

CREATE TABLE speaker_mappings (
    task_id TEXT NOT NULL REFERENCES tasks(id) ON DELETE CASCADE,
    version INTEGER NOT NULL CHECK (version >= 1),
    tenant_id TEXT NOT NULL,
    mapping TEXT NOT NULL,
    author TEXT NOT NULL,
    reason TEXT NOT NULL,
    created_at TEXT NOT NULL,
    PRIMARY KEY (task_id, version)
);

CREATE TABLE prompt_templates (
    id TEXT PRIMARY KEY,
    tenant_id TEXT REFERENCES tenants(id) ON DELETE CASCADE,
    owner_user_id TEXT REFERENCES users(id) ON DELETE CASCADE,
    title TEXT NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    prompt_body TEXT NOT NULL,
    artifact_type TEXT NOT NULL CHECK (artifact_type IN ('meeting_minutes', 'action_items', 'summary_notes')),
    supported_languages TEXT NOT NULL,
    parameter_schema TEXT NOT NULL,
    is_system BOOLEAN NOT NULL DEFAULT FALSE,
    scope TEXT NOT NULL CHECK (scope IN ('global', 'private')),
    version INTEGER NOT NULL DEFAULT 1,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    CHECK ((scope = 'global') = (owner_user_id IS NULL))
);
CREATE INDEX prompt_templates_scope ON prompt_templates(scope, artifact_type);

CREATE TABLE hotword_sets (
    id TEXT PRIMARY KEY,
    tenant_id TEXT REFERENCES tenants(id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    provider TEXT NOT NULL,
    provider_resource_id TEXT,
    scope TEXT NOT NULL CHECK (scope IN ('global', 'tenant', 'user')),
    scope_id TEXT,
    asr_language TEXT NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    words TEXT NOT NULL,
    word_count INTEGER NOT NULL DEFAULT 0,
    word_size INTEGER NOT NULL DEFAULT 0,
    created_by TEXT,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE INDEX hotword_sets_scope ON hotword_sets(scope, scope_id);

CREATE TABLE artifacts (
    id TEXT PRIMARY KEY,
    task_id TEXT NOT NULL REFERENCES tasks(id) ON DELETE CASCADE,
    tenant_id TEXT NOT NULL,
    artifact_type TEXT NOT NULL CHECK (artifact_type IN ('meeting_minutes', 'action_items', 'summary_notes')),
    version INTEGER NOT NULL CHECK (version >= 1),
    content TEXT NOT NULL,
    prompt_instance TEXT NOT NULL,
    metadata TEXT NOT NULL,
    transcript_revision INTEGER NOT NULL,
    speaker_mapping_version INTEGER,
    template_id TEXT NOT NULL,
    model TEXT NOT NULL,
    prompt_hash TEXT NOT NULL,
    prompt_tokens BIGINT NOT NULL DEFAULT 0,
    completion_tokens BIGINT NOT NULL DEFAULT 0,
    created_by TEXT NOT NULL,
    created_at TEXT NOT NULL,
    UNIQUE (task_id, artifact_type, version)
);

CREATE TABLE jobs (
    id TEXT PRIMARY KEY,
    queue TEXT NOT NULL CHECK (queue IN ('audio', 'asr', 'voiceprint', 'llm', 'maintenance')),
    kind TEXT NOT NULL,
    task_id TEXT REFERENCES tasks(id) ON DELETE CASCADE,
    tenant_id TEXT,
    payload TEXT NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('queued', 'running', 'done', 'dead', 'cancelled')),
    priority INTEGER NOT NULL DEFAULT 0,
    attempts INTEGER NOT NULL DEFAULT 0,
    max_attempts INTEGER NOT NULL CHECK (max_attempts >= 1),
    -- When the job can next be claimed: its due time, or while running its lease expiry.
    run_at_ms BIGINT NOT NULL,
    locked_by TEXT,
    locked_until_ms BIGINT,
    lease_gen BIGINT NOT NULL DEFAULT 0,
    errors TEXT NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    finished_at TEXT
);
-- Claimable rows only: queued jobs become due at run_at_ms; running jobs carry their lease
-- expiry in run_at_ms, so an expired lease is claimable through the same index.
CREATE INDEX jobs_claim ON jobs(queue, priority DESC, run_at_ms, id) WHERE state IN ('queued', 'running');
CREATE INDEX jobs_task ON jobs(task_id);

CREATE TABLE audit_logs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    tenant_id TEXT NOT NULL,
    user_id TEXT,
    action TEXT NOT NULL,
    resource_type TEXT NOT NULL,
    resource_id TEXT NOT NULL,
    details TEXT NOT NULL,
    created_at TEXT NOT NULL
);
CREATE INDEX audit_logs_tenant_created ON audit_logs(tenant_id, created_at);
CREATE INDEX audit_logs_resource ON audit_logs(resource_type, resource_id);

CREATE TABLE cost_records (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    tenant_id TEXT NOT NULL,
    task_id TEXT REFERENCES tasks(id) ON DELETE SET NULL,
    provider TEXT NOT NULL,
    api_type TEXT NOT NULL CHECK (api_type IN ('asr', 'voiceprint', 'llm')),
    units DOUBLE PRECISION NOT NULL,
    unit TEXT NOT NULL,
    cost_minor BIGINT NOT NULL DEFAULT 0,
    currency TEXT NOT NULL DEFAULT 'CNY',
    metadata TEXT NOT NULL,
    created_at TEXT NOT NULL
);
CREATE INDEX cost_records_tenant_created ON cost_records(tenant_id, created_at);
CREATE INDEX cost_records_task ON cost_records(task_id);
