//! Personal fields at the store boundary: sealed on write and opened on read with the store's
//! `FieldCipher` (`crypto::Column` says which values), and the batches that bring every sealed
//! column under the active key (`minutes admin rotate-key`).
use async_trait::async_trait;
use serde_json::Value;
use sqlx::types::Json;

use super::sql::{is_postgres, on_pool, scoped, scoped_tx, Scope, SqlStore};
use super::*;
use crate::crypto::{Column, FieldCipher, ResealCount};

impl SqlStore {
    /// This store with `cipher` sealing and opening personal fields (`App::build` sets it).
    pub fn with_field_cipher(mut self, cipher: FieldCipher) -> SqlStore {
        self.fields = cipher;
        self
    }

    pub fn field_cipher(&self) -> &FieldCipher {
        &self.fields
    }

    /// Rows as the application sees them: personal fields opened.
    pub(super) fn opened<T: Sealed>(&self, rows: T) -> StoreResult<T> {
        Ok(rows.open_with(&self.fields)?)
    }

    /// Rows of one task whose fields are bound to the task id (mappings, step results).
    pub(super) fn opened_in_task<T: SealedInTask>(&self, task_id: &str, rows: T) -> StoreResult<T> {
        Ok(rows.open_in_task(&self.fields, task_id)?)
    }

    pub(super) fn sealed_mapping(&self, task_id: &str, mapping: &Value) -> StoreResult<Value> {
        Ok(self
            .fields
            .seal_json(Column::SpeakerMapping, task_id, mapping)?)
    }

    pub(super) fn sealed_step_result(&self, task_id: &str, result: &Value) -> StoreResult<Value> {
        Ok(self.fields.seal_json(Column::StepResult, task_id, result)?)
    }

    pub(super) fn sealed_artifact(&self, a: &NewArtifact) -> StoreResult<NewArtifact> {
        Ok(NewArtifact {
            content: self
                .fields
                .seal_json(Column::ArtifactContent, &a.id, &a.content)?,
            metadata: self
                .fields
                .seal_json(Column::ArtifactMetadata, &a.id, &a.metadata)?,
            ..a.clone()
        })
    }

    pub(super) fn sealed_metadata(
        &self,
        artifact_id: &str,
        metadata: &Value,
    ) -> StoreResult<Value> {
        Ok(self
            .fields
            .seal_json(Column::ArtifactMetadata, artifact_id, metadata)?)
    }

    /// The responsible person's id and name, sealed for the task row.
    pub(super) fn sealed_person(
        &self,
        task_id: &str,
        c: &Confirmation,
    ) -> StoreResult<(String, String)> {
        Ok((
            self.fields
                .seal_text(Column::TaskConfirmedBy, task_id, &c.confirmed_by)?,
            self.fields
                .seal_text(Column::TaskConfirmedByName, task_id, &c.confirmed_by_name)?,
        ))
    }
}

/// A row type with personal fields bound to its own id.
pub(super) trait Sealed: Sized {
    fn open_with(self, c: &FieldCipher) -> Result<Self, crate::crypto::CryptoError>;
}

/// A row type with personal fields bound to its task's id.
pub(super) trait SealedInTask: Sized {
    fn open_in_task(
        self,
        c: &FieldCipher,
        task_id: &str,
    ) -> Result<Self, crate::crypto::CryptoError>;
}

impl Sealed for TaskRecord {
    fn open_with(mut self, c: &FieldCipher) -> Result<Self, crate::crypto::CryptoError> {
        if let Some(v) = &self.confirmed_by {
            self.confirmed_by = Some(c.open_text(Column::TaskConfirmedBy, &self.id, v)?);
        }
        if let Some(v) = &self.confirmed_by_name {
            self.confirmed_by_name = Some(c.open_text(Column::TaskConfirmedByName, &self.id, v)?);
        }
        Ok(self)
    }
}

impl Sealed for ArtifactRecord {
    fn open_with(mut self, c: &FieldCipher) -> Result<Self, crate::crypto::CryptoError> {
        self.content = Json(c.open_json(Column::ArtifactContent, &self.id, self.content.0)?);
        self.metadata = Json(c.open_json(Column::ArtifactMetadata, &self.id, self.metadata.0)?);
        Ok(self)
    }
}

impl SealedInTask for SpeakerMappingRecord {
    fn open_in_task(
        mut self,
        c: &FieldCipher,
        task_id: &str,
    ) -> Result<Self, crate::crypto::CryptoError> {
        self.mapping = Json(c.open_json(Column::SpeakerMapping, task_id, self.mapping.0)?);
        Ok(self)
    }
}

impl SealedInTask for StepRecord {
    fn open_in_task(
        mut self,
        c: &FieldCipher,
        task_id: &str,
    ) -> Result<Self, crate::crypto::CryptoError> {
        if let Some(result) = self.result.take() {
            self.result = Some(Json(c.open_json(Column::StepResult, task_id, result.0)?));
        }
        Ok(self)
    }
}

impl<T: Sealed> Sealed for Option<T> {
    fn open_with(self, c: &FieldCipher) -> Result<Self, crate::crypto::CryptoError> {
        self.map(|r| r.open_with(c)).transpose()
    }
}

impl<T: Sealed> Sealed for Vec<T> {
    fn open_with(self, c: &FieldCipher) -> Result<Self, crate::crypto::CryptoError> {
        self.into_iter().map(|r| r.open_with(c)).collect()
    }
}

impl<T: SealedInTask> SealedInTask for Option<T> {
    fn open_in_task(
        self,
        c: &FieldCipher,
        task_id: &str,
    ) -> Result<Self, crate::crypto::CryptoError> {
        self.map(|r| r.open_in_task(c, task_id)).transpose()
    }
}

impl<T: SealedInTask> SealedInTask for Vec<T> {
    fn open_in_task(
        self,
        c: &FieldCipher,
        task_id: &str,
    ) -> Result<Self, crate::crypto::CryptoError> {
        self.into_iter()
            .map(|r| r.open_in_task(c, task_id))
            .collect()
    }
}

/// A table with sealed columns (`store::catalog` names which table is which, and walks them in
/// its foreign-key order).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SealedTable {
    SpeakerMappings,
    Artifacts,
    Tasks,
    TaskSteps,
    Speakers,
    VoiceprintFeatures,
}

impl SealedTable {
    pub const ALL: [SealedTable; 6] = [
        SealedTable::SpeakerMappings,
        SealedTable::Artifacts,
        SealedTable::Tasks,
        SealedTable::TaskSteps,
        SealedTable::Speakers,
        SealedTable::VoiceprintFeatures,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            SealedTable::SpeakerMappings => "speaker_mappings",
            SealedTable::Artifacts => "artifacts",
            SealedTable::Tasks => "tasks",
            SealedTable::TaskSteps => "task_steps",
            SealedTable::Speakers => "speakers",
            SealedTable::VoiceprintFeatures => "voiceprint_features",
        }
    }

    /// `FROM … WHERE …` of the rows that can hold personal fields.
    fn rows(self) -> &'static str {
        match self {
            SealedTable::SpeakerMappings => "speaker_mappings WHERE TRUE",
            SealedTable::Artifacts => "artifacts WHERE TRUE",
            SealedTable::Tasks => {
                "tasks WHERE (confirmed_by IS NOT NULL OR confirmed_by_name IS NOT NULL)"
            }
            SealedTable::TaskSteps => "task_steps WHERE result IS NOT NULL",
            SealedTable::Speakers => {
                "speakers WHERE (name IS NOT NULL OR provider_feature_id IS NOT NULL \
                 OR consent_subject IS NOT NULL OR consent_text IS NOT NULL)"
            }
            SealedTable::VoiceprintFeatures => "voiceprint_features WHERE TRUE",
        }
    }
}

/// Where a batch stopped: the last row's key (a second part for two-column keys).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ResealCursor {
    pub key: String,
    pub sub: String,
}

/// What one batch did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ResealBatch {
    /// Rows read.
    pub rows: u64,
    /// Rows written back (some value was not under the active key).
    pub rewritten: u64,
    pub values: ResealCount,
    /// Where the next batch starts; `None` when the table is done.
    pub next: Option<ResealCursor>,
}

/// The queries of `minutes admin rotate-key`. Cross-tenant by nature (system scope).
#[async_trait]
pub trait SealedFieldStore: Send + Sync {
    /// Rows of `table` that can hold personal fields (for progress).
    async fn count_sealed_rows(&self, table: SealedTable) -> StoreResult<i64>;
    /// Brings up to `limit` rows of `table` after `after` (key order) under the active key, in
    /// one transaction that locks them, so a concurrent writer is never overwritten. Rows
    /// already current are not written, which makes a re-run cheap and an interrupted run
    /// resumable from any cursor (or from the start).
    async fn reseal_batch(
        &self,
        table: SealedTable,
        after: Option<&ResealCursor>,
        limit: i64,
    ) -> StoreResult<ResealBatch>;
}

#[async_trait]
impl SealedFieldStore for SqlStore {
    async fn count_sealed_rows(&self, table: SealedTable) -> StoreResult<i64> {
        let sql = format!("SELECT COUNT(*) FROM {}", table.rows());
        Ok(on_pool!(self, pool => scoped!(pool, Scope::System, tx =>
            sqlx::query_scalar::<_, i64>(&sql).fetch_one(&mut *tx).await?)))
    }

    async fn reseal_batch(
        &self,
        table: SealedTable,
        after: Option<&ResealCursor>,
        limit: i64,
    ) -> StoreResult<ResealBatch> {
        if !self.fields.is_enabled() {
            return Err(crate::crypto::CryptoError::NoKey.into());
        }
        let start = after.cloned().unwrap_or_default();
        let c = &self.fields;
        let mut batch = ResealBatch::default();
        on_pool!(self, pool => {
            // PostgreSQL: row locks (FOR UPDATE); SQLite: the write lock from the start, so the
            // rows cannot change between the read and the write.
            let mut tx = if is_postgres(pool) {
                scoped_tx!(pool, Scope::System)
            } else {
                pool.begin_with("BEGIN IMMEDIATE").await?
            };
            let lock = if is_postgres(pool) { "FOR UPDATE" } else { "" };
            let rows = table.rows();
            match table {
                SealedTable::SpeakerMappings => {
                    let version: i64 = start.sub.parse().unwrap_or(i64::MIN);
                    let sql = format!(
                        "SELECT task_id, version, mapping FROM {rows} \
                         AND (task_id > $1 OR (task_id = $1 AND version > $2)) \
                         ORDER BY task_id, version LIMIT $3 {lock}");
                    let found: Vec<(String, i64, Json<Value>)> = sqlx::query_as(&sql)
                        .bind(&start.key).bind(version).bind(limit).fetch_all(&mut *tx).await?;
                    for (task_id, version, mut mapping) in found {
                        batch.rows += 1;
                        let n = c.reseal_json(Column::SpeakerMapping, &task_id, &mut mapping.0)?;
                        if n.changed() {
                            sqlx::query("UPDATE speaker_mappings SET mapping = $3 WHERE task_id = $1 AND version = $2")
                                .bind(&task_id).bind(version).bind(&mapping).execute(&mut *tx).await?;
                            batch.rewritten += 1;
                            batch.values.add(n);
                        }
                        batch.next = Some(ResealCursor { key: task_id, sub: version.to_string() });
                    }
                }
                SealedTable::Artifacts => {
                    let sql = format!(
                        "SELECT id, content, metadata FROM {rows} AND id > $1 ORDER BY id LIMIT $2 {lock}");
                    let found: Vec<(String, Json<Value>, Json<Value>)> = sqlx::query_as(&sql)
                        .bind(&start.key).bind(limit).fetch_all(&mut *tx).await?;
                    for (id, mut content, mut metadata) in found {
                        batch.rows += 1;
                        let plain = c.open_json(Column::ArtifactContent, &id, content.0.clone())?;
                        let mut n = c.reseal_json(Column::ArtifactContent, &id, &mut content.0)?;
                        let legacy_content = n.encrypted > 0;
                        n.add(c.reseal_json(Column::ArtifactMetadata, &id, &mut metadata.0)?);
                        if n.changed() {
                            sqlx::query("UPDATE artifacts SET content = $2, metadata = $3 WHERE id = $1")
                                .bind(&id).bind(&content).bind(&metadata).execute(&mut *tx).await?;
                            batch.rewritten += 1;
                            batch.values.add(n);
                        }
                        if legacy_content {
                            // Indexed before encryption: the document may hold the names.
                            let doc = super::search::artifact_document(&plain);
                            sqlx::query("UPDATE search_documents SET text = $2, tokens = $3 \
                                         WHERE kind = 'artifact' AND ref_id = $1")
                                .bind(&id).bind(&doc.text).bind(&doc.tokens).execute(&mut *tx).await?;
                        }
                        batch.next = Some(ResealCursor { key: id, sub: String::new() });
                    }
                }
                SealedTable::Tasks => {
                    let sql = format!(
                        "SELECT id, confirmed_by, confirmed_by_name FROM {rows} AND id > $1 \
                         ORDER BY id LIMIT $2 {lock}");
                    let found: Vec<(String, Option<String>, Option<String>)> = sqlx::query_as(&sql)
                        .bind(&start.key).bind(limit).fetch_all(&mut *tx).await?;
                    for (id, mut by, mut name) in found {
                        batch.rows += 1;
                        let mut n = ResealCount::default();
                        if let Some(v) = by.as_mut() {
                            n.add(c.reseal_text(Column::TaskConfirmedBy, &id, v)?);
                        }
                        if let Some(v) = name.as_mut() {
                            n.add(c.reseal_text(Column::TaskConfirmedByName, &id, v)?);
                        }
                        if n.changed() {
                            sqlx::query("UPDATE tasks SET confirmed_by = $2, confirmed_by_name = $3 WHERE id = $1")
                                .bind(&id).bind(&by).bind(&name).execute(&mut *tx).await?;
                            batch.rewritten += 1;
                            batch.values.add(n);
                        }
                        batch.next = Some(ResealCursor { key: id, sub: String::new() });
                    }
                }
                SealedTable::TaskSteps => {
                    let sql = format!(
                        "SELECT task_id, step, result FROM {rows} \
                         AND (task_id > $1 OR (task_id = $1 AND step > $2)) \
                         ORDER BY task_id, step LIMIT $3 {lock}");
                    let found: Vec<(String, String, Json<Value>)> = sqlx::query_as(&sql)
                        .bind(&start.key).bind(&start.sub).bind(limit).fetch_all(&mut *tx).await?;
                    for (task_id, step, mut result) in found {
                        batch.rows += 1;
                        let n = c.reseal_json(Column::StepResult, &task_id, &mut result.0)?;
                        if n.changed() {
                            sqlx::query("UPDATE task_steps SET result = $3 WHERE task_id = $1 AND step = $2")
                                .bind(&task_id).bind(&step).bind(&result).execute(&mut *tx).await?;
                            batch.rewritten += 1;
                            batch.values.add(n);
                        }
                        batch.next = Some(ResealCursor { key: task_id, sub: step });
                    }
                }
                SealedTable::Speakers => {
                    let sql = format!(
                        "SELECT id, name, provider_feature_id, consent_subject, consent_text FROM {rows} \
                         AND id > $1 ORDER BY id LIMIT $2 {lock}");
                    type Row = (String, Option<String>, Option<String>, Option<String>, Option<String>);
                    let found: Vec<Row> = sqlx::query_as(&sql)
                        .bind(&start.key).bind(limit).fetch_all(&mut *tx).await?;
                    for (id, mut name, mut feature, mut subject, mut text) in found {
                        batch.rows += 1;
                        let mut n = ResealCount::default();
                        for (column, value) in [
                            (Column::SpeakerName, &mut name),
                            (Column::SpeakerFeatureId, &mut feature),
                            (Column::SpeakerConsentSubject, &mut subject),
                            (Column::SpeakerConsentText, &mut text),
                        ] {
                            if let Some(v) = value.as_mut() {
                                n.add(c.reseal_text(column, &id, v)?);
                            }
                        }
                        if n.changed() {
                            sqlx::query("UPDATE speakers SET name = $2, provider_feature_id = $3, \
                                         consent_subject = $4, consent_text = $5 WHERE id = $1")
                                .bind(&id).bind(&name).bind(&feature).bind(&subject).bind(&text)
                                .execute(&mut *tx).await?;
                            batch.rewritten += 1;
                            batch.values.add(n);
                        }
                        batch.next = Some(ResealCursor { key: id, sub: String::new() });
                    }
                }
                SealedTable::VoiceprintFeatures => {
                    let sql = format!(
                        "SELECT id, embedding FROM {rows} AND id > $1 ORDER BY id LIMIT $2 {lock}");
                    let found: Vec<(String, String)> = sqlx::query_as(&sql)
                        .bind(&start.key).bind(limit).fetch_all(&mut *tx).await?;
                    for (id, mut embedding) in found {
                        batch.rows += 1;
                        let n = c.reseal_text(Column::VoiceprintEmbedding, &id, &mut embedding)?;
                        if n.changed() {
                            sqlx::query("UPDATE voiceprint_features SET embedding = $2 WHERE id = $1")
                                .bind(&id).bind(&embedding).execute(&mut *tx).await?;
                            batch.rewritten += 1;
                            batch.values.add(n);
                        }
                        batch.next = Some(ResealCursor { key: id, sub: String::new() });
                    }
                }
            }
            tx.commit().await?;
        });
        if batch.rows < u64::try_from(limit).unwrap_or(0) {
            batch.next = None;
        }
        Ok(batch)
    }
}
