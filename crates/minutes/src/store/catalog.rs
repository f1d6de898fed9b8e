//! The table catalog: every table of the schema at the head migration, in foreign-key order,
//! with each column's logical type. One description serves `minutes db copy`, `minutes backup`
//! (create, verify, restore) and the key-rotation walk, so a new table or column is handled by
//! all of them or fails the catalog test (`catalog_matches_both_live_schemas`), which compares
//! it with what the migrations build on SQLite and on PostgreSQL.
use super::SealedTable;

/// How a value is stored: SQLite keeps timestamps and JSON as text and booleans as 0/1;
/// PostgreSQL has `timestamptz`, `jsonb` and `boolean`. Moving data converts through these.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ColumnType {
    Text,
    Int,
    Real,
    Bool,
    Timestamp,
    Json,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Column {
    pub name: &'static str,
    pub ty: ColumnType,
    pub nullable: bool,
    /// Read as NULL when data moves: a value that only means something to the database it
    /// was written in (the broker announcement of a job, which the new home must redo).
    pub reset_on_move: bool,
}

/// What a table's rows are to a copy or a backup.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Copied, backed up, restored and verified.
    Data,
    /// Computed from data tables (the search index): rebuilt after a move, never copied.
    Derived,
    /// Describes running processes (the worker registry): neither copied nor restored.
    Transient,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Table {
    pub name: &'static str,
    pub role: Role,
    /// The primary key, in order.
    pub key: &'static [&'static str],
    /// A PostgreSQL identity column (SQLite AUTOINCREMENT): inserted with its value kept, and
    /// its sequence moved past the largest value afterwards.
    pub identity: Option<&'static str>,
    /// A column referencing this same table: rows are written parents first.
    pub parent: Option<&'static str>,
    /// The sealed-field walk of `minutes admin rotate-key` for this table.
    pub sealed: Option<SealedTable>,
    /// Which rows move (a SQL condition): finished jobs are history the pruner deletes.
    pub rows: Option<&'static str>,
    pub columns: &'static [Column],
}

impl Table {
    pub fn column(&self, name: &str) -> Option<&Column> {
        self.columns.iter().find(|c| c.name == name)
    }

    /// Positions of the key columns in `columns`.
    pub fn key_positions(&self) -> Vec<usize> {
        self.key
            .iter()
            .map(|k| {
                self.columns
                    .iter()
                    .position(|c| c.name == *k)
                    .expect("catalog key columns are columns")
            })
            .collect()
    }
}

const fn col(name: &'static str, ty: ColumnType, nullable: bool) -> Column {
    Column {
        name,
        ty,
        nullable,
        reset_on_move: false,
    }
}

const fn col_reset_on_move(name: &'static str, ty: ColumnType, nullable: bool) -> Column {
    Column {
        reset_on_move: true,
        ..col(name, ty, nullable)
    }
}

/// Tables that hold data (copied, backed up and restored), in foreign-key order.
pub fn data_tables() -> impl DoubleEndedIterator<Item = &'static Table> {
    TABLES.iter().filter(|t| t.role == Role::Data)
}

/// The tables with sealed personal fields, in catalog order: what `minutes admin rotate-key`
/// and `minutes backup verify` walk.
pub fn sealed_tables() -> impl Iterator<Item = SealedTable> {
    TABLES.iter().filter_map(|t| t.sealed)
}

pub fn table(name: &str) -> Option<&'static Table> {
    TABLES.iter().find(|t| t.name == name)
}

use ColumnType::{Bool, Int, Json, Real, Text, Timestamp};

/// Every table, parents before children.
pub static TABLES: &[Table] = &[
    Table {
        name: "tenants",
        role: Role::Data,
        key: &["id"],
        identity: None,
        parent: None,
        sealed: None,
        rows: None,
        columns: &[
            col("id", Text, false),
            col("name", Text, false),
            col("created_at", Timestamp, false),
        ],
    },
    Table {
        name: "users",
        role: Role::Data,
        key: &["id"],
        identity: None,
        parent: None,
        sealed: None,
        rows: None,
        columns: &[
            col("id", Text, false),
            col("tenant_id", Text, false),
            col("username", Text, false),
            col("role", Text, false),
            col("is_active", Bool, false),
            col("created_at", Timestamp, false),
            col("updated_at", Timestamp, false),
            col("last_login_at", Timestamp, true),
        ],
    },
    Table {
        name: "folders",
        role: Role::Data,
        key: &["id"],
        identity: None,
        parent: Some("parent_id"),
        sealed: None,
        rows: None,
        columns: &[
            col("id", Text, false),
            col("tenant_id", Text, false),
            col("owner_user_id", Text, false),
            col("name", Text, false),
            col("parent_id", Text, true),
            col("created_at", Timestamp, false),
            col("updated_at", Timestamp, false),
        ],
    },
    Table {
        name: "uploads",
        role: Role::Data,
        key: &["object_key"],
        identity: None,
        parent: None,
        sealed: None,
        rows: None,
        columns: &[
            col("object_key", Text, false),
            col("tenant_id", Text, false),
            col("user_id", Text, false),
            col("original_filename", Text, false),
            col("container", Text, false),
            col("size_bytes", Int, false),
            col("sha256", Text, false),
            col("duration_secs", Real, true),
            col("created_at", Timestamp, false),
        ],
    },
    Table {
        name: "tasks",
        role: Role::Data,
        key: &["id"],
        identity: None,
        parent: None,
        sealed: Some(SealedTable::Tasks),
        rows: None,
        columns: &[
            col("id", Text, false),
            col("tenant_id", Text, false),
            col("user_id", Text, false),
            col("name", Text, true),
            col("meeting_type", Text, false),
            col("asr_language", Text, false),
            col("output_language", Text, false),
            col("skip_speaker_recognition", Bool, false),
            col("hotword_set_id", Text, true),
            col("prompt_instance", Json, false),
            col("state", Text, false),
            col("progress", Real, false),
            col("estimated_time", Int, true),
            col("audio_duration", Real, true),
            col("error_code", Text, true),
            col("error_message", Text, true),
            col("error_detail", Text, true),
            col("retryable", Bool, true),
            col("failed_stage", Text, true),
            col("folder_id", Text, true),
            col("is_deleted", Bool, false),
            col("deleted_at", Timestamp, true),
            col("is_confirmed", Bool, false),
            col("confirmed_by", Text, true),
            col("confirmed_by_name", Text, true),
            col("confirmed_at", Timestamp, true),
            col("confirmation_items", Json, true),
            col("meeting_date", Text, true),
            col("meeting_time", Text, true),
            col("created_at", Timestamp, false),
            col("updated_at", Timestamp, false),
            col("completed_at", Timestamp, true),
            col("last_content_modified_at", Timestamp, false),
            col("hotwords", Json, false),
            col("audio_purged_at", Timestamp, true),
        ],
    },
    Table {
        name: "task_files",
        role: Role::Data,
        key: &["task_id", "file_order"],
        identity: None,
        parent: None,
        sealed: None,
        rows: None,
        columns: &[
            col("task_id", Text, false),
            col("file_order", Int, false),
            col("tenant_id", Text, false),
            col("object_key", Text, false),
            col("original_filename", Text, false),
            col("sha256", Text, false),
            col("size_bytes", Int, false),
            col("duration_secs", Real, true),
            col("offset_secs", Real, true),
        ],
    },
    Table {
        name: "task_steps",
        role: Role::Data,
        key: &["task_id", "step"],
        identity: None,
        parent: None,
        sealed: Some(SealedTable::TaskSteps),
        rows: None,
        columns: &[
            col("task_id", Text, false),
            col("step", Text, false),
            col("tenant_id", Text, false),
            col("status", Text, false),
            col("attempts", Int, false),
            col("result", Json, true),
            col("error", Text, true),
            col("provider_job_id", Text, true),
            col("started_at", Timestamp, true),
            col("completed_at", Timestamp, true),
            col("updated_at", Timestamp, false),
        ],
    },
    Table {
        name: "task_events",
        role: Role::Data,
        key: &["id"],
        identity: Some("id"),
        parent: None,
        sealed: None,
        rows: None,
        columns: &[
            col("id", Int, false),
            col("task_id", Text, false),
            col("tenant_id", Text, false),
            col("from_state", Text, true),
            col("to_state", Text, false),
            col("reason", Text, false),
            col("detail", Json, true),
            col("created_at", Timestamp, false),
        ],
    },
    Table {
        name: "transcript_revisions",
        role: Role::Data,
        key: &["task_id", "revision"],
        identity: None,
        parent: None,
        sealed: None,
        rows: None,
        columns: &[
            col("task_id", Text, false),
            col("revision", Int, false),
            col("tenant_id", Text, false),
            col("segments", Json, false),
            col("full_text", Text, false),
            col("duration", Real, false),
            col("language", Text, false),
            col("provider", Text, false),
            col("author", Text, false),
            col("reason", Text, false),
            col("created_at", Timestamp, false),
        ],
    },
    Table {
        name: "speaker_mappings",
        role: Role::Data,
        key: &["task_id", "version"],
        identity: None,
        parent: None,
        sealed: Some(SealedTable::SpeakerMappings),
        rows: None,
        columns: &[
            col("task_id", Text, false),
            col("version", Int, false),
            col("tenant_id", Text, false),
            col("mapping", Json, false),
            col("author", Text, false),
            col("reason", Text, false),
            col("created_at", Timestamp, false),
        ],
    },
    Table {
        name: "prompt_templates",
        role: Role::Data,
        key: &["id"],
        identity: None,
        parent: None,
        sealed: None,
        rows: None,
        columns: &[
            col("id", Text, false),
            col("tenant_id", Text, true),
            col("owner_user_id", Text, true),
            col("title", Text, false),
            col("description", Text, false),
            col("prompt_body", Text, false),
            col("artifact_type", Text, false),
            col("supported_languages", Json, false),
            col("parameter_schema", Json, false),
            col("is_system", Bool, false),
            col("scope", Text, false),
            col("version", Int, false),
            col("created_at", Timestamp, false),
            col("updated_at", Timestamp, false),
        ],
    },
    Table {
        name: "hotword_sets",
        role: Role::Data,
        key: &["id"],
        identity: None,
        parent: None,
        sealed: None,
        rows: None,
        columns: &[
            col("id", Text, false),
            col("tenant_id", Text, true),
            col("name", Text, false),
            col("provider", Text, false),
            col("provider_resource_id", Text, true),
            col("scope", Text, false),
            col("scope_id", Text, true),
            col("asr_language", Text, false),
            col("description", Text, false),
            col("words", Json, false),
            col("word_count", Int, false),
            col("word_size", Int, false),
            col("created_by", Text, true),
            col("created_at", Timestamp, false),
            col("updated_at", Timestamp, false),
            col("provider_sync_state", Text, true),
            col("provider_sync_error", Text, true),
            col("provider_synced_at", Timestamp, true),
        ],
    },
    Table {
        name: "artifacts",
        role: Role::Data,
        key: &["id"],
        identity: None,
        parent: None,
        sealed: Some(SealedTable::Artifacts),
        rows: None,
        columns: &[
            col("id", Text, false),
            col("task_id", Text, false),
            col("tenant_id", Text, false),
            col("artifact_type", Text, false),
            col("version", Int, false),
            col("content", Json, false),
            col("prompt_instance", Json, false),
            col("metadata", Json, false),
            col("transcript_revision", Int, false),
            col("speaker_mapping_version", Int, true),
            col("template_id", Text, false),
            col("model", Text, false),
            col("prompt_hash", Text, false),
            col("prompt_tokens", Int, false),
            col("completion_tokens", Int, false),
            col("created_by", Text, false),
            col("created_at", Timestamp, false),
            col("display_name", Text, true),
            col("deleted_at", Timestamp, true),
            col("deleted_by", Text, true),
        ],
    },
    Table {
        name: "jobs",
        role: Role::Data,
        key: &["id"],
        identity: None,
        parent: None,
        sealed: None,
        rows: Some("state NOT IN ('done', 'cancelled')"),
        columns: &[
            col("id", Text, false),
            col("queue", Text, false),
            col("kind", Text, false),
            col("task_id", Text, true),
            col("tenant_id", Text, true),
            col("payload", Json, false),
            col("state", Text, false),
            col("priority", Int, false),
            col("attempts", Int, false),
            col("max_attempts", Int, false),
            col("run_at_ms", Int, false),
            col("locked_by", Text, true),
            col("locked_until_ms", Int, true),
            col("lease_gen", Int, false),
            col("errors", Json, false),
            col("created_at", Timestamp, false),
            col("updated_at", Timestamp, false),
            col("finished_at", Timestamp, true),
            col_reset_on_move("announced_ms", Int, true),
            col("claimed_due_ms", Int, true),
        ],
    },
    Table {
        name: "audit_logs",
        role: Role::Data,
        key: &["id"],
        identity: Some("id"),
        parent: None,
        sealed: None,
        rows: None,
        columns: &[
            col("id", Int, false),
            col("tenant_id", Text, false),
            col("user_id", Text, true),
            col("action", Text, false),
            col("resource_type", Text, false),
            col("resource_id", Text, false),
            col("details", Json, false),
            col("created_at", Timestamp, false),
        ],
    },
    Table {
        name: "cost_records",
        role: Role::Data,
        key: &["id"],
        identity: Some("id"),
        parent: None,
        sealed: None,
        rows: None,
        columns: &[
            col("id", Int, false),
            col("tenant_id", Text, false),
            col("task_id", Text, true),
            col("provider", Text, false),
            col("api_type", Text, false),
            col("units", Real, false),
            col("unit", Text, false),
            col("amount_micros", Int, false),
            col("currency", Text, false),
            col("metadata", Json, false),
            col("created_at", Timestamp, false),
            col("stage", Text, false),
            col("model", Text, false),
            col("priced", Bool, false),
            col("job_id", Text, true),
            col("attempt", Int, false),
        ],
    },
    Table {
        name: "api_keys",
        role: Role::Data,
        key: &["id"],
        identity: None,
        parent: None,
        sealed: None,
        rows: None,
        columns: &[
            col("id", Text, false),
            col("tenant_id", Text, false),
            col("user_id", Text, false),
            col("name", Text, false),
            col("secret_hash", Text, false),
            col("scopes", Text, false),
            col("role", Text, false),
            col("created_at", Timestamp, false),
            col("expires_at", Timestamp, false),
            col("revoked_at", Timestamp, true),
            col("last_used_at", Timestamp, true),
        ],
    },
    Table {
        name: "speakers",
        role: Role::Data,
        key: &["id"],
        identity: None,
        parent: None,
        sealed: Some(SealedTable::Speakers),
        rows: None,
        columns: &[
            col("id", Text, false),
            col("tenant_id", Text, false),
            col("name", Text, true),
            col("provider", Text, false),
            col("provider_feature_id", Text, true),
            col("state", Text, false),
            col("error", Text, true),
            col("sample_seconds", Real, true),
            col("consent_subject", Text, true),
            col("consent_text", Text, true),
            col("consent_reference", Text, true),
            col("consent_method", Text, false),
            col("consent_version", Text, false),
            col("consented_at", Timestamp, false),
            col("created_by", Text, false),
            col("created_at", Timestamp, false),
            col("updated_at", Timestamp, false),
            col("erased_at", Timestamp, true),
            col("erased_by", Text, true),
        ],
    },
    Table {
        name: "voiceprint_features",
        role: Role::Data,
        key: &["id"],
        identity: None,
        parent: None,
        sealed: Some(SealedTable::VoiceprintFeatures),
        rows: None,
        columns: &[
            col("id", Text, false),
            col("speaker_id", Text, false),
            col("tenant_id", Text, false),
            col("model", Text, false),
            col("dimensions", Int, false),
            col("embedding", Text, false),
            col("speech_seconds", Real, false),
            col("created_at", Timestamp, false),
        ],
    },
    Table {
        name: "refresh_tokens",
        role: Role::Data,
        key: &["id"],
        identity: None,
        parent: None,
        sealed: None,
        rows: None,
        columns: &[
            col("id", Text, false),
            col("token_hash", Text, false),
            col("family_id", Text, false),
            col("tenant_id", Text, false),
            col("user_id", Text, false),
            col("created_at", Timestamp, false),
            col("expires_at", Timestamp, false),
            col("used_at", Timestamp, true),
            col("revoked_at", Timestamp, true),
        ],
    },
    Table {
        name: "search_documents",
        role: Role::Derived,
        key: &["id"],
        identity: Some("id"),
        parent: None,
        sealed: None,
        rows: None,
        columns: &[
            col("id", Int, false),
            col("tenant_id", Text, false),
            col("user_id", Text, false),
            col("task_id", Text, false),
            col("kind", Text, false),
            col("ref_id", Text, true),
            col("artifact_type", Text, true),
            col("version", Int, false),
            col("start_time", Real, true),
            col("text", Text, false),
            col("tokens", Text, false),
            col("created_at", Timestamp, false),
        ],
    },
    Table {
        name: "workers",
        role: Role::Transient,
        key: &["id"],
        identity: None,
        parent: None,
        sealed: None,
        rows: None,
        columns: &[
            col("id", Text, false),
            col("host", Text, false),
            col("pid", Int, false),
            col("version", Text, false),
            col("queues", Json, false),
            col("concurrency", Int, false),
            col("running", Int, false),
            col("delivery", Text, false),
            col("state", Text, false),
            col("started_at", Timestamp, false),
            col("last_seen_at", Timestamp, false),
            col("stopped_at", Timestamp, true),
        ],
    },
];

/// A column as the live database declares it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LiveColumn {
    pub table: String,
    pub column: String,
    /// SQLite's declared type or PostgreSQL's `data_type`, lower case.
    pub declared: String,
    pub nullable: bool,
}

/// Whether a declared type stores a catalog type: SQLite declares timestamps and JSON as TEXT.
fn declares(kind: &str, declared: &str, ty: ColumnType) -> bool {
    match (kind, ty) {
        ("sqlite", Text | Timestamp | Json) => declared == "text",
        ("sqlite", Int) => declared == "integer" || declared == "bigint",
        ("sqlite", Real) => declared == "real" || declared == "double precision",
        ("sqlite", Bool) => declared == "boolean",
        (_, Text) => declared == "text",
        (_, Int) => declared == "integer" || declared == "bigint",
        (_, Real) => declared == "double precision" || declared == "real",
        (_, Bool) => declared == "boolean",
        (_, Timestamp) => declared == "timestamp with time zone",
        (_, Json) => declared == "jsonb",
    }
}

/// Every difference between the catalog and a live schema at the head migration (`kind` is
/// `sqlite` or `postgres`); empty when they agree on tables, column order, types and NULLs.
pub fn differences(kind: &str, live: &[LiveColumn]) -> Vec<String> {
    let mut out = Vec::new();
    let mut live_tables: Vec<&str> = live.iter().map(|c| c.table.as_str()).collect();
    live_tables.dedup();
    for name in &live_tables {
        if table(name).is_none() {
            out.push(format!("{kind}: table {name} is not in the catalog"));
        }
    }
    for t in TABLES {
        let columns: Vec<&LiveColumn> = live.iter().filter(|c| c.table == t.name).collect();
        if columns.is_empty() {
            out.push(format!("{kind}: catalog table {} does not exist", t.name));
            continue;
        }
        let live_names: Vec<&str> = columns.iter().map(|c| c.column.as_str()).collect();
        let catalog_names: Vec<&str> = t.columns.iter().map(|c| c.name).collect();
        if live_names != catalog_names {
            out.push(format!(
                "{kind}: {} has columns {live_names:?}; the catalog says {catalog_names:?}",
                t.name
            ));
            continue;
        }
        for (l, c) in columns.iter().zip(t.columns) {
            if !declares(kind, &l.declared, c.ty) {
                out.push(format!(
                    "{kind}: {}.{} is {}; the catalog says {:?}",
                    t.name, c.name, l.declared, c.ty
                ));
            }
            // A primary-key column is NOT NULL in effect even where SQLite does not say so.
            if l.nullable != c.nullable && !(l.nullable && t.key.contains(&c.name)) {
                out.push(format!(
                    "{kind}: {}.{} nullable is {}; the catalog says {}",
                    t.name, c.name, l.nullable, c.nullable
                ));
            }
        }
    }
    out
}
