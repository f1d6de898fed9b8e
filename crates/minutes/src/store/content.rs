//! Transcript revisions, speaker mappings, artifact versions and prompt templates.
use async_trait::async_trait;
use chrono::Utc;
use sqlx::types::Json;

use super::sql::{insert_job, on_pool, scoped, scoped_tx, Scope, SqlStore};
use super::*;

const ARTIFACT_COLUMNS: &str =
    "id, task_id, artifact_type, version, content, prompt_instance, metadata, \
    transcript_revision, speaker_mapping_version, template_id, model, prompt_hash, prompt_tokens, \
    completion_tokens, created_by, created_at, display_name";

/// Inserts the next version of an artifact inside the caller's transaction. The version is
/// computed in the same statement, and `UNIQUE (task_id, artifact_type, version)` rejects a race.
macro_rules! insert_artifact_row {
    ($tx:expr, $a:expr, $now:expr) => {{
        let a: &$crate::store::NewArtifact = $a;
        // Serialises version allocation per task: the task row stays locked until commit, so two
        // concurrent generations never compute the same next version (PostgreSQL; SQLite has a
        // single writer anyway).
        sqlx::query("UPDATE tasks SET updated_at = updated_at WHERE id = $1")
            .bind(&a.task_id)
            .execute(&mut *$tx)
            .await?;
        sqlx::query(
            "INSERT INTO artifacts (id, task_id, tenant_id, artifact_type, version, content, prompt_instance, \
             metadata, transcript_revision, speaker_mapping_version, template_id, model, prompt_hash, \
             prompt_tokens, completion_tokens, created_by, created_at, display_name) \
             SELECT $1, $2, $3, $4, COALESCE(MAX(version), 0) + 1, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17 \
             FROM artifacts WHERE task_id = $2 AND artifact_type = $4",
        )
        .bind(&a.id).bind(&a.task_id).bind(&a.tenant_id).bind(&a.artifact_type)
        .bind(sqlx::types::Json(&a.content)).bind(sqlx::types::Json(&a.prompt_instance))
        .bind(sqlx::types::Json(&a.metadata)).bind(a.transcript_revision).bind(a.speaker_mapping_version)
        .bind(&a.template_id).bind(&a.model).bind(&a.prompt_hash).bind(a.prompt_tokens)
        .bind(a.completion_tokens).bind(&a.created_by).bind($now).bind(&a.display_name)
        .execute(&mut *$tx)
        .await?;
        super::search::index_artifact!($tx, a, $now);
    }};
}
pub(super) use insert_artifact_row;

/// Marks the task's content as modified (edits, renames) inside the caller's transaction.
macro_rules! touch_content {
    ($tx:expr, $tenant:expr, $task:expr, $now:expr) => {
        sqlx::query("UPDATE tasks SET last_content_modified_at = $3, updated_at = $3 WHERE id = $1 AND tenant_id = $2")
            .bind($task)
            .bind($tenant)
            .bind($now)
            .execute(&mut *$tx)
            .await?
    };
}

#[async_trait]
impl ContentStore for SqlStore {
    async fn latest_transcript(
        &self,
        tenant_id: &str,
        task_id: &str,
    ) -> StoreResult<Option<TranscriptRevisionRecord>> {
        Ok(
            on_pool!(self, pool => scoped!(pool, Scope::Tenant(tenant_id), tx => sqlx::query_as::<_, TranscriptRevisionRecord>(
            "SELECT revision, segments, full_text, duration, language, provider, author, reason, created_at \
             FROM transcript_revisions WHERE task_id = $1 AND tenant_id = $2 ORDER BY revision DESC LIMIT 1")
            .bind(task_id).bind(tenant_id).fetch_optional(&mut *tx).await?)),
        )
    }

    async fn latest_speaker_mapping(
        &self,
        tenant_id: &str,
        task_id: &str,
    ) -> StoreResult<Option<SpeakerMappingRecord>> {
        self.opened_in_task(
            task_id,
            on_pool!(self, pool => scoped!(pool, Scope::Tenant(tenant_id), tx => sqlx::query_as::<_, SpeakerMappingRecord>(
            "SELECT version, mapping, author, created_at FROM speaker_mappings \
             WHERE task_id = $1 AND tenant_id = $2 ORDER BY version DESC LIMIT 1")
            .bind(task_id).bind(tenant_id).fetch_optional(&mut *tx).await?)),
        )
    }

    async fn transcript_revision(
        &self,
        tenant_id: &str,
        task_id: &str,
        revision: i64,
    ) -> StoreResult<Option<TranscriptRevisionRecord>> {
        Ok(
            on_pool!(self, pool => scoped!(pool, Scope::Tenant(tenant_id), tx => sqlx::query_as::<_, TranscriptRevisionRecord>(
            "SELECT revision, segments, full_text, duration, language, provider, author, reason, created_at \
             FROM transcript_revisions WHERE task_id = $1 AND tenant_id = $2 AND revision = $3")
            .bind(task_id).bind(tenant_id).bind(revision).fetch_optional(&mut *tx).await?)),
        )
    }

    async fn transcript_revisions(
        &self,
        tenant_id: &str,
        task_id: &str,
    ) -> StoreResult<Vec<TranscriptRevisionRecord>> {
        Ok(
            on_pool!(self, pool => scoped!(pool, Scope::Tenant(tenant_id), tx => sqlx::query_as::<_, TranscriptRevisionRecord>(
            "SELECT revision, segments, full_text, duration, language, provider, author, reason, created_at \
             FROM transcript_revisions WHERE task_id = $1 AND tenant_id = $2 ORDER BY revision")
            .bind(task_id).bind(tenant_id).fetch_all(&mut *tx).await?)),
        )
    }

    async fn speaker_mappings(
        &self,
        tenant_id: &str,
        task_id: &str,
    ) -> StoreResult<Vec<SpeakerMappingRecord>> {
        self.opened_in_task(
            task_id,
            on_pool!(self, pool => scoped!(pool, Scope::Tenant(tenant_id), tx => sqlx::query_as::<_, SpeakerMappingRecord>(
            "SELECT version, mapping, author, created_at FROM speaker_mappings \
             WHERE task_id = $1 AND tenant_id = $2 ORDER BY version")
            .bind(task_id).bind(tenant_id).fetch_all(&mut *tx).await?)),
        )
    }

    async fn add_transcript_revision(
        &self,
        tenant_id: &str,
        task_id: &str,
        t: &NewTranscriptRevision,
        renamed: Option<&NewSpeakerMapping>,
        jobs: &[NewJob],
    ) -> StoreResult<i64> {
        let now = Utc::now();
        let renamed = match renamed {
            Some(m) => Some((self.sealed_mapping(task_id, &m.mapping)?, m)),
            None => None,
        };
        let revision = on_pool!(self, pool => {
            let mut tx = scoped_tx!(pool, Scope::Tenant(tenant_id));
            let revision: i64 = sqlx::query_scalar(
                "INSERT INTO transcript_revisions (task_id, revision, tenant_id, segments, full_text, duration, \
                 language, provider, author, reason, created_at) \
                 SELECT $1, COALESCE(MAX(revision), 0) + 1, $2, $3, $4, $5, $6, $7, $8, $9, $10 \
                 FROM transcript_revisions WHERE task_id = $1 RETURNING revision")
                .bind(task_id).bind(tenant_id).bind(Json(&t.segments)).bind(&t.full_text).bind(t.duration)
                .bind(&t.language).bind(&t.provider).bind(&t.author).bind(&t.reason).bind(now)
                .fetch_one(&mut *tx).await?;
            if let Some((mapping, m)) = &renamed {
                sqlx::query(
                    "INSERT INTO speaker_mappings (task_id, version, tenant_id, mapping, author, reason, created_at) \
                     SELECT $1, COALESCE(MAX(version), 0) + 1, $2, $3, $4, $5, $6 \
                     FROM speaker_mappings WHERE task_id = $1")
                    .bind(task_id).bind(tenant_id).bind(Json(mapping)).bind(&m.author).bind(&m.reason).bind(now)
                    .execute(&mut *tx).await?;
            }
            touch_content!(tx, tenant_id, task_id, now);
            super::search::index_transcript!(tx, task_id, t, now);
            for job in jobs {
                insert_job!(pool, tx, job, now);
            }
            tx.commit().await?;
            revision
        });
        if !jobs.is_empty() {
            self.jobs_signal.notify_waiters();
        }
        Ok(revision)
    }

    async fn add_speaker_mapping(
        &self,
        tenant_id: &str,
        task_id: &str,
        m: &NewSpeakerMapping,
        jobs: &[NewJob],
    ) -> StoreResult<i64> {
        let now = Utc::now();
        let mapping = self.sealed_mapping(task_id, &m.mapping)?;
        let version = on_pool!(self, pool => {
            let mut tx = scoped_tx!(pool, Scope::Tenant(tenant_id));
            let version: i64 = sqlx::query_scalar(
                "INSERT INTO speaker_mappings (task_id, version, tenant_id, mapping, author, reason, created_at) \
                 SELECT $1, COALESCE(MAX(version), 0) + 1, $2, $3, $4, $5, $6 \
                 FROM speaker_mappings WHERE task_id = $1 RETURNING version")
                .bind(task_id).bind(tenant_id).bind(Json(&mapping)).bind(&m.author).bind(&m.reason).bind(now)
                .fetch_one(&mut *tx).await?;
            touch_content!(tx, tenant_id, task_id, now);
            for job in jobs {
                insert_job!(pool, tx, job, now);
            }
            tx.commit().await?;
            version
        });
        if !jobs.is_empty() {
            self.jobs_signal.notify_waiters();
        }
        Ok(version)
    }

    async fn list_artifacts(
        &self,
        tenant_id: &str,
        task_id: &str,
    ) -> StoreResult<Vec<ArtifactRecord>> {
        let sql = format!(
            "SELECT {ARTIFACT_COLUMNS} FROM artifacts WHERE task_id = $1 AND tenant_id = $2 \
             AND deleted_at IS NULL ORDER BY artifact_type, version DESC"
        );
        self.opened(
            on_pool!(self, pool => scoped!(pool, Scope::Tenant(tenant_id), tx => sqlx::query_as::<_, ArtifactRecord>(&sql)
            .bind(task_id).bind(tenant_id).fetch_all(&mut *tx).await?)),
        )
    }

    async fn get_artifact(
        &self,
        tenant_id: &str,
        artifact_id: &str,
    ) -> StoreResult<Option<ArtifactRecord>> {
        let sql =
            format!("SELECT {ARTIFACT_COLUMNS} FROM artifacts WHERE id = $1 AND tenant_id = $2 AND deleted_at IS NULL");
        self.opened(
            on_pool!(self, pool => scoped!(pool, Scope::Tenant(tenant_id), tx => sqlx::query_as::<_, ArtifactRecord>(&sql)
            .bind(artifact_id).bind(tenant_id).fetch_optional(&mut *tx).await?)),
        )
    }

    async fn insert_artifact(&self, artifact: &NewArtifact) -> StoreResult<ArtifactRecord> {
        let now = Utc::now();
        let artifact = &self.sealed_artifact(artifact)?;
        // Two concurrent generations may compute the same next version; the loser retries.
        for _ in 0..5 {
            let inserted: Result<(), StoreError> = on_pool!(self, pool => async {
                let mut tx = scoped_tx!(pool, Scope::Tenant(&artifact.tenant_id));
                insert_artifact_row!(tx, artifact, now);
                tx.commit().await?;
                Ok(())
            }.await);
            match inserted {
                Ok(()) => {
                    return self
                        .get_artifact(&artifact.tenant_id, &artifact.id)
                        .await?
                        .ok_or(StoreError::NotFound)
                }
                Err(StoreError::Database(sqlx::Error::Database(e))) if e.is_unique_violation() => {
                    continue
                }
                Err(e) => return Err(e),
            }
        }
        Err(StoreError::Conflict("artifact version contention".into()))
    }

    async fn rename_artifact(
        &self,
        tenant_id: &str,
        artifact_id: &str,
        display_name: &str,
    ) -> StoreResult<bool> {
        let now = Utc::now();
        Ok(on_pool!(self, pool => {
            let mut tx = scoped_tx!(pool, Scope::Tenant(tenant_id));
            let task: Option<(String,)> = sqlx::query_as(
                "UPDATE artifacts SET display_name = $3 WHERE id = $1 AND tenant_id = $2 \
                 AND deleted_at IS NULL RETURNING task_id",
            )
            .bind(artifact_id).bind(tenant_id).bind(display_name)
            .fetch_optional(&mut *tx).await?;
            if let Some((task_id,)) = &task {
                touch_content!(tx, tenant_id, task_id, now);
            }
            tx.commit().await?;
            task.is_some()
        }))
    }

    async fn delete_artifact(
        &self,
        tenant_id: &str,
        artifact_id: &str,
        deleted_by: &str,
    ) -> StoreResult<bool> {
        let now = Utc::now();
        let sql = format!(
            "SELECT {ARTIFACT_COLUMNS} FROM artifacts WHERE task_id = $1 AND artifact_type = $2 \
             AND deleted_at IS NULL ORDER BY version DESC LIMIT 1"
        );
        Ok(on_pool!(self, pool => {
            let mut tx = scoped_tx!(pool, Scope::Tenant(tenant_id));
            let hidden: Option<(String, String)> = sqlx::query_as(
                "UPDATE artifacts SET deleted_at = $3, deleted_by = $4 WHERE id = $1 AND tenant_id = $2 \
                 AND deleted_at IS NULL RETURNING task_id, artifact_type",
            )
            .bind(artifact_id).bind(tenant_id).bind(now).bind(deleted_by)
            .fetch_optional(&mut *tx).await?;
            if let Some((task_id, artifact_type)) = &hidden {
                touch_content!(tx, tenant_id, task_id, now);
                sqlx::query("DELETE FROM search_documents WHERE kind = 'artifact' AND ref_id = $1")
                    .bind(artifact_id).execute(&mut *tx).await?;
                let newest: Option<ArtifactRecord> = sqlx::query_as(&sql)
                    .bind(task_id).bind(artifact_type).fetch_optional(&mut *tx).await?;
                if let Some(a) = newest {
                    // Stored (sealed) content, as the insert indexed it.
                    let a = NewArtifact::from_record(&a, tenant_id);
                    super::search::index_artifact!(tx, &a, now);
                }
            }
            tx.commit().await?;
            hidden.is_some()
        }))
    }

    async fn replace_artifact_content(&self, artifact: &NewArtifact) -> StoreResult<()> {
        let now = Utc::now();
        let a = &self.sealed_artifact(artifact)?;
        on_pool!(self, pool => {
            let mut tx = scoped_tx!(pool, Scope::Tenant(&a.tenant_id));
            let changed = sqlx::query(
                "UPDATE artifacts SET content = $3, metadata = $4 WHERE id = $1 AND tenant_id = $2 \
                 AND deleted_at IS NULL",
            )
            .bind(&a.id).bind(&a.tenant_id).bind(Json(&a.content)).bind(Json(&a.metadata))
            .execute(&mut *tx).await?.rows_affected();
            if changed == 0 {
                return Err(StoreError::NotFound);
            }
            touch_content!(tx, &a.tenant_id, &a.task_id, now);
            super::search::index_artifact!(tx, a, now);
            tx.commit().await?;
        });
        Ok(())
    }
}
