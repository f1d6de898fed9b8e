//! Writing rows imported from the original system with their original ids kept.
//!
//! The normal write paths mint ids and version numbers; an import must keep the original's so
//! links keep working, hence these inserts. Personal fields are sealed exactly as the normal
//! paths seal them (`store/sealed.rs`), and every insert is `ON CONFLICT DO NOTHING` and says
//! whether it wrote, so a second import of the same file writes nothing. An import is an
//! operator's cross-tenant tool: it runs in the system scope.
use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::types::Json;

use super::sql::{on_pool, scoped, scoped_tx, Scope, SqlStore};
use super::{NewArtifact, NewTranscriptRevision, SpeakerRecord, StoreResult};
use crate::crypto::Column;

/// A user of the original with its tenant (the original had no tenants table).
#[derive(Debug, Clone)]
pub struct LegacyAccount {
    pub tenant_id: String,
    pub tenant_name: String,
    pub user_id: String,
    pub username: String,
    pub role: String,
    pub is_active: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub last_login_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone)]
pub struct LegacyFolder {
    pub id: String,
    pub tenant_id: String,
    pub owner_user_id: String,
    pub name: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, Clone)]
pub struct LegacyTemplate {
    pub id: String,
    pub tenant_id: Option<String>,
    pub owner_user_id: Option<String>,
    pub title: String,
    pub description: String,
    pub prompt_body: String,
    pub artifact_type: String,
    pub supported_languages: Value,
    pub parameter_schema: Value,
    pub is_system: bool,
    pub scope: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// A hotword set whose words stayed at the provider: stored with no words and a sync state
/// of `failed` whose error says the word list is needed.
#[derive(Debug, Clone)]
pub struct LegacyHotwordSet {
    pub id: String,
    pub tenant_id: Option<String>,
    pub name: String,
    pub provider: String,
    pub provider_resource_id: Option<String>,
    pub scope: String,
    pub scope_id: Option<String>,
    pub asr_language: String,
    pub description: String,
    pub sync_error: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, Clone)]
pub struct LegacyTask {
    pub id: String,
    pub tenant_id: String,
    pub user_id: String,
    pub name: Option<String>,
    pub meeting_type: String,
    pub asr_language: String,
    pub output_language: String,
    pub skip_speaker_recognition: bool,
    pub hotword_set_id: Option<String>,
    pub prompt_instance: Value,
    pub state: String,
    pub progress: f64,
    pub estimated_time: Option<i64>,
    pub audio_duration: Option<f64>,
    pub error_code: Option<String>,
    pub error_message: Option<String>,
    pub error_detail: Option<String>,
    pub retryable: Option<bool>,
    pub folder_id: Option<String>,
    pub is_deleted: bool,
    pub deleted_at: Option<DateTime<Utc>>,
    pub is_confirmed: bool,
    pub confirmed_by: Option<String>,
    pub confirmed_by_name: Option<String>,
    pub confirmed_at: Option<DateTime<Utc>>,
    pub confirmation_items: Option<Value>,
    pub meeting_date: Option<String>,
    pub meeting_time: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub completed_at: Option<DateTime<Utc>>,
    pub last_content_modified_at: DateTime<Utc>,
    /// `(file_order, object key or URL as stored, original file name)`.
    pub files: Vec<(i64, String, String)>,
    pub transcript: Option<(NewTranscriptRevision, DateTime<Utc>)>,
    /// The speaker mapping (`{label: {name, speaker_id, confidence, source}}`) and its time.
    pub mapping: Option<(Value, DateTime<Utc>)>,
    /// Content versions with the version number each keeps, and their creation time.
    pub artifacts: Vec<(NewArtifact, i64, DateTime<Utc>)>,
    pub events: Vec<LegacyEvent>,
}

/// A history entry of an imported task (the import itself, failed generation attempts).
#[derive(Debug, Clone)]
pub struct LegacyEvent {
    pub from_state: Option<String>,
    pub to_state: String,
    pub reason: String,
    pub detail: Value,
    pub created_at: DateTime<Utc>,
}

/// What the target database already holds, to tell new rows from ones a previous import wrote.
#[derive(Debug, Clone, Default)]
pub struct LegacyExisting {
    pub tenants: HashSet<String>,
    /// user id → username.
    pub users: HashMap<String, String>,
    pub folders: HashSet<String>,
    pub templates: HashSet<String>,
    pub hotword_sets: HashSet<String>,
    pub speakers: HashSet<String>,
    pub tasks: HashSet<String>,
    /// Original audit-log ids already imported (`details.legacy_log_id`).
    pub audit_logs: HashSet<String>,
}

/// Where the original audit-log id is kept in an imported entry's details.
pub const LEGACY_LOG_ID_KEY: &str = "legacy_log_id";

impl SqlStore {
    pub async fn legacy_existing(&self) -> StoreResult<LegacyExisting> {
        let like = format!("%\"{LEGACY_LOG_ID_KEY}\"%");
        Ok(on_pool!(self, pool => scoped!(pool, Scope::System, tx => {
            let mut out = LegacyExisting::default();
            for (sql, set) in [
                ("SELECT id FROM tenants", &mut out.tenants),
                ("SELECT id FROM folders", &mut out.folders),
                ("SELECT id FROM prompt_templates", &mut out.templates),
                ("SELECT id FROM hotword_sets", &mut out.hotword_sets),
                ("SELECT id FROM speakers", &mut out.speakers),
                ("SELECT id FROM tasks", &mut out.tasks),
            ] {
                let rows: Vec<String> = sqlx::query_scalar(sql).fetch_all(&mut *tx).await?;
                set.extend(rows);
            }
            let users: Vec<(String, String)> = sqlx::query_as("SELECT id, username FROM users")
                .fetch_all(&mut *tx).await?;
            out.users.extend(users);
            let details: Vec<String> = sqlx::query_scalar(
                "SELECT CAST(details AS TEXT) FROM audit_logs WHERE CAST(details AS TEXT) LIKE $1")
                .bind(&like).fetch_all(&mut *tx).await?;
            out.audit_logs.extend(details.iter().filter_map(|d| {
                serde_json::from_str::<Value>(d).ok()?[LEGACY_LOG_ID_KEY].as_str().map(str::to_string)
            }));
            out
        })))
    }

    /// The tenant (if new) and the user; false when the user id was already there.
    pub async fn legacy_insert_account(&self, a: &LegacyAccount) -> StoreResult<bool> {
        Ok(on_pool!(self, pool => scoped!(pool, Scope::System, tx => {
            sqlx::query("INSERT INTO tenants (id, name, created_at) VALUES ($1, $2, $3) ON CONFLICT (id) DO NOTHING")
                .bind(&a.tenant_id).bind(&a.tenant_name).bind(a.created_at).execute(&mut *tx).await?;
            sqlx::query(
                "INSERT INTO users (id, tenant_id, username, role, is_active, created_at, updated_at, last_login_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT DO NOTHING")
                .bind(&a.user_id).bind(&a.tenant_id).bind(&a.username).bind(&a.role).bind(a.is_active)
                .bind(a.created_at).bind(a.updated_at).bind(a.last_login_at)
                .execute(&mut *tx).await?.rows_affected() == 1
        })))
    }

    pub async fn legacy_insert_folder(&self, f: &LegacyFolder) -> StoreResult<bool> {
        Ok(
            on_pool!(self, pool => scoped!(pool, Scope::System, tx => sqlx::query(
            "INSERT INTO folders (id, tenant_id, owner_user_id, name, parent_id, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, NULL, $5, $6) ON CONFLICT DO NOTHING")
            .bind(&f.id).bind(&f.tenant_id).bind(&f.owner_user_id).bind(&f.name)
            .bind(f.created_at).bind(f.updated_at)
            .execute(&mut *tx).await?.rows_affected() == 1)),
        )
    }

    pub async fn legacy_insert_template(&self, t: &LegacyTemplate) -> StoreResult<bool> {
        Ok(
            on_pool!(self, pool => scoped!(pool, Scope::System, tx => sqlx::query(
            "INSERT INTO prompt_templates (id, tenant_id, owner_user_id, title, description, prompt_body, \
             artifact_type, supported_languages, parameter_schema, is_system, scope, version, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, 1, $12, $13) ON CONFLICT (id) DO NOTHING")
            .bind(&t.id).bind(&t.tenant_id).bind(&t.owner_user_id).bind(&t.title).bind(&t.description)
            .bind(&t.prompt_body).bind(&t.artifact_type).bind(Json(&t.supported_languages))
            .bind(Json(&t.parameter_schema)).bind(t.is_system).bind(&t.scope)
            .bind(t.created_at).bind(t.updated_at)
            .execute(&mut *tx).await?.rows_affected() == 1)),
        )
    }

    pub async fn legacy_insert_hotword_set(&self, h: &LegacyHotwordSet) -> StoreResult<bool> {
        Ok(
            on_pool!(self, pool => scoped!(pool, Scope::System, tx => sqlx::query(
            "INSERT INTO hotword_sets (id, tenant_id, name, provider, provider_resource_id, scope, scope_id, \
             asr_language, description, words, word_count, word_size, created_by, created_at, updated_at, \
             provider_sync_state, provider_sync_error) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, 0, 0, NULL, $11, $12, 'failed', $13) \
             ON CONFLICT (id) DO NOTHING")
            .bind(&h.id).bind(&h.tenant_id).bind(&h.name).bind(&h.provider).bind(&h.provider_resource_id)
            .bind(&h.scope).bind(&h.scope_id).bind(&h.asr_language).bind(&h.description)
            .bind(Json(Vec::<String>::new())).bind(h.created_at).bind(h.updated_at).bind(&h.sync_error)
            .execute(&mut *tx).await?.rows_affected() == 1)),
        )
    }

    /// A registry speaker, its name and provider feature id sealed as `create_speaker` seals them.
    pub async fn legacy_insert_speaker(&self, s: &SpeakerRecord) -> StoreResult<bool> {
        let seal = |column, v: &Option<String>| {
            v.as_ref()
                .map(|v| self.fields.seal_text(column, &s.id, v))
                .transpose()
        };
        let name = seal(Column::SpeakerName, &s.name)?;
        let feature = seal(Column::SpeakerFeatureId, &s.provider_feature_id)?;
        Ok(
            on_pool!(self, pool => scoped!(pool, Scope::System, tx => sqlx::query(
            "INSERT INTO speakers (id, tenant_id, name, provider, provider_feature_id, state, error, sample_seconds, \
             consent_subject, consent_text, consent_reference, consent_method, consent_version, consented_at, \
             created_by, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, NULL, NULL, NULL, $8, $9, $10, $11, $12, $13, $14) \
             ON CONFLICT (id) DO NOTHING")
            .bind(&s.id).bind(&s.tenant_id).bind(&name).bind(&s.provider).bind(&feature).bind(&s.state)
            .bind(&s.error).bind(&s.consent_reference).bind(&s.consent_method).bind(&s.consent_version)
            .bind(s.consented_at).bind(&s.created_by).bind(s.created_at).bind(s.updated_at)
            .execute(&mut *tx).await?.rows_affected() == 1)),
        )
    }

    /// An audit entry with its original time; `entry.details` carries the original log id.
    pub async fn legacy_insert_audit(
        &self,
        entry: &super::AuditEntry,
        created_at: DateTime<Utc>,
    ) -> StoreResult<()> {
        on_pool!(self, pool => scoped!(pool, Scope::System, tx => sqlx::query(
            "INSERT INTO audit_logs (tenant_id, user_id, action, resource_type, resource_id, details, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7)")
            .bind(&entry.tenant_id).bind(&entry.user_id).bind(&entry.action).bind(&entry.resource_type)
            .bind(&entry.resource_id).bind(Json(&entry.details)).bind(created_at)
            .execute(&mut *tx).await.map(|_| ())?));
        Ok(())
    }

    /// A task with everything it owns, in one transaction: it is there completely or not at
    /// all, so an interrupted import resumes cleanly. False when the task id already exists.
    pub async fn legacy_insert_task(&self, t: &LegacyTask) -> StoreResult<bool> {
        let seal = |column, v: &Option<String>| {
            v.as_ref()
                .map(|v| self.fields.seal_text(column, &t.id, v))
                .transpose()
        };
        let confirmed_by = seal(Column::TaskConfirmedBy, &t.confirmed_by)?;
        let confirmed_by_name = seal(Column::TaskConfirmedByName, &t.confirmed_by_name)?;
        let mapping = t
            .mapping
            .as_ref()
            .map(|(m, at)| Ok::<_, super::StoreError>((self.sealed_mapping(&t.id, m)?, *at)))
            .transpose()?;
        let artifacts = t
            .artifacts
            .iter()
            .map(|(a, v, at)| Ok((self.sealed_artifact(a)?, *v, *at)))
            .collect::<StoreResult<Vec<_>>>()?;
        // The search index gets each type's newest version, as the normal writers leave it
        // (sealed, like theirs: personal strings never reach the index in the clear).
        let mut newest: HashMap<&str, (i64, &NewArtifact)> = HashMap::new();
        for (a, version, _) in &artifacts {
            let entry = newest
                .entry(a.artifact_type.as_str())
                .or_insert((*version, a));
            if *version >= entry.0 {
                *entry = (*version, a);
            }
        }
        let now = Utc::now();
        Ok(on_pool!(self, pool => {
            let mut tx = scoped_tx!(pool, Scope::System);
            let inserted = sqlx::query(
                "INSERT INTO tasks (id, tenant_id, user_id, name, meeting_type, asr_language, output_language, \
                 skip_speaker_recognition, hotword_set_id, prompt_instance, state, progress, estimated_time, \
                 audio_duration, error_code, error_message, error_detail, retryable, failed_stage, folder_id, \
                 is_deleted, deleted_at, is_confirmed, confirmed_by, confirmed_by_name, confirmed_at, \
                 confirmation_items, meeting_date, meeting_time, created_at, updated_at, completed_at, \
                 last_content_modified_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, NULL, \
                 $19, $20, $21, $22, $23, $24, $25, $26, $27, $28, $29, $30, $31, $32) ON CONFLICT (id) DO NOTHING")
                .bind(&t.id).bind(&t.tenant_id).bind(&t.user_id).bind(&t.name).bind(&t.meeting_type)
                .bind(&t.asr_language).bind(&t.output_language).bind(t.skip_speaker_recognition)
                .bind(&t.hotword_set_id).bind(Json(&t.prompt_instance)).bind(&t.state).bind(t.progress)
                .bind(t.estimated_time).bind(t.audio_duration).bind(&t.error_code).bind(&t.error_message)
                .bind(&t.error_detail).bind(t.retryable).bind(&t.folder_id).bind(t.is_deleted).bind(t.deleted_at)
                .bind(t.is_confirmed).bind(&confirmed_by).bind(&confirmed_by_name).bind(t.confirmed_at)
                .bind(t.confirmation_items.as_ref().map(Json)).bind(&t.meeting_date).bind(&t.meeting_time)
                .bind(t.created_at).bind(t.updated_at).bind(t.completed_at).bind(t.last_content_modified_at)
                .execute(&mut *tx).await?.rows_affected() == 1;
            if inserted {
                for (order, key, filename) in &t.files {
                    // The audio is not fetched: no checksum or size is known.
                    sqlx::query(
                        "INSERT INTO task_files (task_id, file_order, tenant_id, object_key, original_filename, sha256, size_bytes) \
                         VALUES ($1, $2, $3, $4, $5, '', 0)")
                        .bind(&t.id).bind(order).bind(&t.tenant_id).bind(key).bind(filename)
                        .execute(&mut *tx).await?;
                }
                for e in &t.events {
                    sqlx::query(
                        "INSERT INTO task_events (task_id, tenant_id, from_state, to_state, reason, detail, created_at) \
                         VALUES ($1, $2, $3, $4, $5, $6, $7)")
                        .bind(&t.id).bind(&t.tenant_id).bind(&e.from_state).bind(&e.to_state).bind(&e.reason)
                        .bind(Json(&e.detail)).bind(e.created_at).execute(&mut *tx).await?;
                }
                if let Some((rev, at)) = &t.transcript {
                    sqlx::query(
                        "INSERT INTO transcript_revisions (task_id, revision, tenant_id, segments, full_text, duration, \
                         language, provider, author, reason, created_at) VALUES ($1, 1, $2, $3, $4, $5, $6, $7, $8, $9, $10)")
                        .bind(&t.id).bind(&t.tenant_id).bind(Json(&rev.segments)).bind(&rev.full_text)
                        .bind(rev.duration).bind(&rev.language).bind(&rev.provider).bind(&rev.author)
                        .bind(&rev.reason).bind(at).execute(&mut *tx).await?;
                    super::search::index_transcript!(tx, &t.id, rev, now);
                }
                if let Some((m, at)) = &mapping {
                    sqlx::query(
                        "INSERT INTO speaker_mappings (task_id, version, tenant_id, mapping, author, reason, created_at) \
                         VALUES ($1, 1, $2, $3, 'legacy-import', 'imported from the original system', $4)")
                        .bind(&t.id).bind(&t.tenant_id).bind(Json(m)).bind(at).execute(&mut *tx).await?;
                }
                for (a, version, at) in &artifacts {
                    sqlx::query(
                        "INSERT INTO artifacts (id, task_id, tenant_id, artifact_type, version, content, prompt_instance, \
                         metadata, transcript_revision, speaker_mapping_version, template_id, model, prompt_hash, \
                         prompt_tokens, completion_tokens, created_by, created_at, display_name) \
                         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18)")
                        .bind(&a.id).bind(&a.task_id).bind(&a.tenant_id).bind(&a.artifact_type).bind(version)
                        .bind(Json(&a.content)).bind(Json(&a.prompt_instance)).bind(Json(&a.metadata))
                        .bind(a.transcript_revision).bind(a.speaker_mapping_version).bind(&a.template_id)
                        .bind(&a.model).bind(&a.prompt_hash).bind(a.prompt_tokens).bind(a.completion_tokens)
                        .bind(&a.created_by).bind(at).bind(&a.display_name).execute(&mut *tx).await?;
                }
                for (_, a) in newest.values() {
                    super::search::index_artifact!(tx, *a, now);
                }
                tx.commit().await?;
            }
            inserted
        }))
    }
}
