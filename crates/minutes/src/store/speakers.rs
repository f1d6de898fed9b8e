//! The speakers registry (`speakers`) and the local engine's embeddings
//! (`voiceprint_features`): enrollment with its consent record, the jobs' fenced outcomes,
//! erasure, and the registry identification runs against. Names, feature ids, the consent
//! subject and wording and every embedding are sealed here (`crypto::Column`).
use async_trait::async_trait;
use base64::Engine;
use chrono::{DateTime, Utc};

use super::sql::{insert_job, on_pool, scoped, scoped_tx, Scope, SqlStore};
use super::tasks::fence;
use super::*;
use crate::crypto::{Column, CryptoError, FieldCipher};
use crate::domain::ids;
use crate::domain::voiceprint::{state, EnrolledSpeaker, StoredEmbedding, VoiceprintRegistry};

/// A registry entry. Personal values are `None` once erased.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct SpeakerRecord {
    pub id: String,
    pub tenant_id: String,
    pub name: Option<String>,
    /// The voiceprint engine that holds the feature (`Voiceprint::name`).
    pub provider: String,
    pub provider_feature_id: Option<String>,
    pub state: String,
    pub error: Option<String>,
    pub sample_seconds: Option<f64>,
    pub consent_subject: Option<String>,
    pub consent_text: Option<String>,
    pub consent_reference: Option<String>,
    pub consent_method: String,
    pub consent_version: String,
    pub consented_at: DateTime<Utc>,
    pub created_by: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub erased_at: Option<DateTime<Utc>>,
    pub erased_by: Option<String>,
}

/// How an enrollment job ended.
#[derive(Debug, Clone, PartialEq)]
pub enum EnrollmentOutcome {
    /// The provider holds the feature; local engines hand over their embeddings to store.
    Enrolled {
        feature_id: String,
        embeddings: Vec<StoredEmbedding>,
    },
    Failed {
        error: String,
    },
}

#[async_trait]
pub trait SpeakerStore: Send + Sync {
    /// Inserts the speaker (state `enrolling`) and its enrollment job in one transaction.
    async fn create_speaker(&self, speaker: &SpeakerRecord, job: &NewJob) -> StoreResult<()>;
    /// A speaker of the tenant in any state (erased ones are tombstones without names).
    async fn get_speaker(
        &self,
        tenant_id: &str,
        speaker_id: &str,
    ) -> StoreResult<Option<SpeakerRecord>>;
    /// The tenant's registry without erased entries, oldest first, and how many there are.
    async fn list_speakers(
        &self,
        tenant_id: &str,
        limit: i64,
        offset: i64,
    ) -> StoreResult<(Vec<SpeakerRecord>, i64)>;
    /// Records the enrollment's outcome (and the embeddings) and completes the job, fenced by
    /// the lease; `false` when the speaker is no longer enrolling (erased meanwhile), in which
    /// case nothing is stored and the job is completed all the same.
    async fn finish_enrollment(
        &self,
        lease: &Lease,
        tenant_id: &str,
        speaker_id: &str,
        outcome: &EnrollmentOutcome,
    ) -> StoreResult<bool>;
    /// Erasure in one transaction: the embeddings are deleted, the name and the consent
    /// subject and wording cleared; with `job` (a provider feature to delete) the entry is
    /// `erasing` and the job is enqueued, else it is `erased` at once. `NotFound` when the
    /// speaker is not the tenant's or already erased. Returns the new state.
    async fn erase_speaker(
        &self,
        tenant_id: &str,
        speaker_id: &str,
        erased_by: &str,
        job: Option<&NewJob>,
    ) -> StoreResult<&'static str>;
    /// The provider's feature is gone: `erased`, the feature id cleared, the job completed.
    async fn finish_erasure(
        &self,
        lease: &Lease,
        tenant_id: &str,
        speaker_id: &str,
    ) -> StoreResult<()>;
    /// The tenant's active speakers enrolled with `provider`, names and embeddings opened.
    async fn voiceprint_registry(
        &self,
        tenant_id: &str,
        provider: &str,
    ) -> StoreResult<VoiceprintRegistry>;
}

const COLUMNS: &str = "id, tenant_id, name, provider, provider_feature_id, state, error, \
    sample_seconds, consent_subject, consent_text, consent_reference, consent_method, \
    consent_version, consented_at, created_by, created_at, updated_at, erased_at, erased_by";

/// Little-endian f32 bytes, base64: the plaintext of a sealed embedding.
pub(super) fn encode_embedding(v: &[f32]) -> String {
    let bytes: Vec<u8> = v.iter().flat_map(|x| x.to_le_bytes()).collect();
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

pub(super) fn decode_embedding(text: &str) -> Result<Vec<f32>, CryptoError> {
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(text)
        .ok()
        .filter(|b| b.len() % 4 == 0)
        .ok_or_else(|| CryptoError::Malformed {
            column: Column::VoiceprintEmbedding.name().into(),
        })?;
    Ok(bytes
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect())
}

fn seal_opt(
    c: &FieldCipher,
    column: Column,
    row: &str,
    v: &Option<String>,
) -> Result<Option<String>, CryptoError> {
    v.as_deref()
        .map(|v| c.seal_text(column, row, v))
        .transpose()
}

fn open_opt(
    c: &FieldCipher,
    column: Column,
    row: &str,
    v: Option<String>,
) -> Result<Option<String>, CryptoError> {
    v.map(|v| c.open_text(column, row, &v)).transpose()
}

impl super::sealed::Sealed for SpeakerRecord {
    fn open_with(mut self, c: &FieldCipher) -> Result<Self, CryptoError> {
        let id = self.id.clone();
        self.name = open_opt(c, Column::SpeakerName, &id, self.name)?;
        self.provider_feature_id =
            open_opt(c, Column::SpeakerFeatureId, &id, self.provider_feature_id)?;
        self.consent_subject =
            open_opt(c, Column::SpeakerConsentSubject, &id, self.consent_subject)?;
        self.consent_text = open_opt(c, Column::SpeakerConsentText, &id, self.consent_text)?;
        Ok(self)
    }
}

#[async_trait]
impl SpeakerStore for SqlStore {
    async fn create_speaker(&self, s: &SpeakerRecord, job: &NewJob) -> StoreResult<()> {
        let c = &self.fields;
        let name = seal_opt(c, Column::SpeakerName, &s.id, &s.name)?;
        let feature = seal_opt(c, Column::SpeakerFeatureId, &s.id, &s.provider_feature_id)?;
        let subject = seal_opt(c, Column::SpeakerConsentSubject, &s.id, &s.consent_subject)?;
        let text = seal_opt(c, Column::SpeakerConsentText, &s.id, &s.consent_text)?;
        let now = Utc::now();
        on_pool!(self, pool => {
            let mut tx = scoped_tx!(pool, Scope::Tenant(&s.tenant_id));
            sqlx::query(&format!(
                "INSERT INTO speakers ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, \
                 $11, $12, $13, $14, $15, $16, $17, $18, $19)"))
                .bind(&s.id).bind(&s.tenant_id).bind(&name).bind(&s.provider).bind(&feature)
                .bind(&s.state).bind(&s.error).bind(s.sample_seconds).bind(&subject).bind(&text)
                .bind(&s.consent_reference).bind(&s.consent_method).bind(&s.consent_version)
                .bind(s.consented_at).bind(&s.created_by).bind(s.created_at).bind(s.updated_at)
                .bind(s.erased_at).bind(&s.erased_by)
                .execute(&mut *tx).await?;
            insert_job!(pool, tx, job, now);
            tx.commit().await?;
        });
        self.jobs_signal.notify_waiters();
        Ok(())
    }

    async fn get_speaker(
        &self,
        tenant_id: &str,
        speaker_id: &str,
    ) -> StoreResult<Option<SpeakerRecord>> {
        let sql = format!("SELECT {COLUMNS} FROM speakers WHERE tenant_id = $1 AND id = $2");
        let row = on_pool!(self, pool => scoped!(pool, Scope::Tenant(tenant_id), tx =>
            sqlx::query_as::<_, SpeakerRecord>(&sql)
                .bind(tenant_id).bind(speaker_id).fetch_optional(&mut *tx).await?));
        self.opened(row)
    }

    async fn list_speakers(
        &self,
        tenant_id: &str,
        limit: i64,
        offset: i64,
    ) -> StoreResult<(Vec<SpeakerRecord>, i64)> {
        let visible = "tenant_id = $1 AND state NOT IN ('erasing', 'erased')";
        let sql = format!(
            "SELECT {COLUMNS} FROM speakers WHERE {visible} \
             ORDER BY created_at, id LIMIT $2 OFFSET $3"
        );
        let count = format!("SELECT COUNT(*) FROM speakers WHERE {visible}");
        let (rows, total) = on_pool!(self, pool => scoped!(pool, Scope::Tenant(tenant_id), tx => {
            let rows = sqlx::query_as::<_, SpeakerRecord>(&sql)
                .bind(tenant_id).bind(limit).bind(offset).fetch_all(&mut *tx).await?;
            let total: i64 = sqlx::query_scalar(&count).bind(tenant_id).fetch_one(&mut *tx).await?;
            (rows, total)
        }));
        Ok((self.opened(rows)?, total))
    }

    async fn finish_enrollment(
        &self,
        lease: &Lease,
        tenant_id: &str,
        speaker_id: &str,
        outcome: &EnrollmentOutcome,
    ) -> StoreResult<bool> {
        let c = &self.fields;
        let now = Utc::now();
        // Sealed before the transaction: each row binds its own id.
        let mut rows = Vec::new();
        let mut feature = None;
        if let EnrollmentOutcome::Enrolled {
            feature_id,
            embeddings,
        } = outcome
        {
            feature = Some(c.seal_text(Column::SpeakerFeatureId, speaker_id, feature_id)?);
            for e in embeddings {
                let id = ids::new_id("vpf");
                let sealed = c.seal_text(
                    Column::VoiceprintEmbedding,
                    &id,
                    &encode_embedding(&e.vector),
                )?;
                rows.push((id, e, sealed));
            }
        }
        let enrolling = state::ENROLLING;
        let updated = on_pool!(self, pool => {
            let mut tx = scoped_tx!(pool, Scope::Tenant(tenant_id));
            fence!(tx, lease, now);
            let where_ = "WHERE id = $1 AND tenant_id = $2 AND state = $3";
            let n = match outcome {
                EnrollmentOutcome::Enrolled { .. } => sqlx::query(&format!(
                    "UPDATE speakers SET state = 'active', provider_feature_id = $4, error = NULL, \
                     updated_at = $5 {where_}"))
                    .bind(speaker_id).bind(tenant_id).bind(enrolling).bind(&feature).bind(now)
                    .execute(&mut *tx).await?.rows_affected(),
                EnrollmentOutcome::Failed { error } => sqlx::query(&format!(
                    "UPDATE speakers SET state = 'failed', error = $4, updated_at = $5 {where_}"))
                    .bind(speaker_id).bind(tenant_id).bind(enrolling).bind(error).bind(now)
                    .execute(&mut *tx).await?.rows_affected(),
            };
            if n == 1 {
                for (id, e, sealed) in &rows {
                    sqlx::query(
                        "INSERT INTO voiceprint_features (id, speaker_id, tenant_id, model, dimensions, \
                         embedding, speech_seconds, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)")
                        .bind(id).bind(speaker_id).bind(tenant_id).bind(&e.model)
                        .bind(e.vector.len() as i32).bind(sealed).bind(e.speech_secs).bind(now)
                        .execute(&mut *tx).await?;
                }
            }
            sqlx::query("UPDATE jobs SET state = 'done', locked_by = NULL, locked_until_ms = NULL, \
                         finished_at = $2, updated_at = $2 WHERE id = $1")
                .bind(&lease.job_id).bind(now).execute(&mut *tx).await?;
            tx.commit().await?;
            n == 1
        });
        Ok(updated)
    }

    async fn erase_speaker(
        &self,
        tenant_id: &str,
        speaker_id: &str,
        erased_by: &str,
        job: Option<&NewJob>,
    ) -> StoreResult<&'static str> {
        let now = Utc::now();
        let next = if job.is_some() {
            state::ERASING
        } else {
            state::ERASED
        };
        let found = on_pool!(self, pool => {
            let mut tx = scoped_tx!(pool, Scope::Tenant(tenant_id));
            // With a job the feature id stays (sealed) until the provider has deleted it.
            let n = sqlx::query(
                "UPDATE speakers SET state = $3, name = NULL, consent_subject = NULL, \
                 consent_text = NULL, error = NULL, erased_at = $4, erased_by = $5, updated_at = $4, \
                 provider_feature_id = CASE WHEN $3 = 'erased' THEN NULL ELSE provider_feature_id END \
                 WHERE id = $1 AND tenant_id = $2 AND state NOT IN ('erasing', 'erased')")
                .bind(speaker_id).bind(tenant_id).bind(next).bind(now).bind(erased_by)
                .execute(&mut *tx).await?.rows_affected();
            if n == 1 {
                sqlx::query("DELETE FROM voiceprint_features WHERE speaker_id = $1 AND tenant_id = $2")
                    .bind(speaker_id).bind(tenant_id).execute(&mut *tx).await?;
                if let Some(job) = job {
                    insert_job!(pool, tx, job, now);
                }
            }
            tx.commit().await?;
            n == 1
        });
        if !found {
            return Err(StoreError::NotFound);
        }
        if job.is_some() {
            self.jobs_signal.notify_waiters();
        }
        Ok(next)
    }

    async fn finish_erasure(
        &self,
        lease: &Lease,
        tenant_id: &str,
        speaker_id: &str,
    ) -> StoreResult<()> {
        let now = Utc::now();
        on_pool!(self, pool => {
            let mut tx = scoped_tx!(pool, Scope::Tenant(tenant_id));
            fence!(tx, lease, now);
            sqlx::query(
                "UPDATE speakers SET state = 'erased', provider_feature_id = NULL, updated_at = $3 \
                 WHERE id = $1 AND tenant_id = $2 AND state = 'erasing'")
                .bind(speaker_id).bind(tenant_id).bind(now).execute(&mut *tx).await?;
            sqlx::query("UPDATE jobs SET state = 'done', locked_by = NULL, locked_until_ms = NULL, \
                         finished_at = $2, updated_at = $2 WHERE id = $1")
                .bind(&lease.job_id).bind(now).execute(&mut *tx).await?;
            tx.commit().await?;
        });
        Ok(())
    }

    async fn voiceprint_registry(
        &self,
        tenant_id: &str,
        provider: &str,
    ) -> StoreResult<VoiceprintRegistry> {
        type SpeakerRow = (String, Option<String>, Option<String>);
        type FeatureRow = (String, String, String, String, f64);
        let (speakers, features): (Vec<SpeakerRow>, Vec<FeatureRow>) = on_pool!(self, pool => scoped!(pool, Scope::Tenant(tenant_id), tx => {
            let speakers = sqlx::query_as(
                "SELECT id, name, provider_feature_id FROM speakers \
                 WHERE tenant_id = $1 AND provider = $2 AND state = 'active' ORDER BY created_at, id")
                .bind(tenant_id).bind(provider).fetch_all(&mut *tx).await?;
            let features = sqlx::query_as(
                "SELECT f.id, f.speaker_id, f.model, f.embedding, f.speech_seconds \
                 FROM voiceprint_features f JOIN speakers s ON s.id = f.speaker_id \
                 WHERE f.tenant_id = $1 AND s.tenant_id = $1 AND s.provider = $2 \
                 AND s.state = 'active' ORDER BY f.created_at, f.id")
                .bind(tenant_id).bind(provider).fetch_all(&mut *tx).await?;
            (speakers, features)
        }));
        let c = &self.fields;
        let mut registry = VoiceprintRegistry {
            tenant_id: tenant_id.to_string(),
            speakers: Vec::with_capacity(speakers.len()),
        };
        for (id, name, feature) in speakers {
            registry.speakers.push(EnrolledSpeaker {
                name: open_opt(c, Column::SpeakerName, &id, name)?.unwrap_or_default(),
                feature_id: open_opt(c, Column::SpeakerFeatureId, &id, feature)?,
                speaker_id: id,
                embeddings: Vec::new(),
            });
        }
        for (id, speaker_id, model, sealed, speech_secs) in features {
            let text = c.open_text(Column::VoiceprintEmbedding, &id, &sealed)?;
            if let Some(s) = registry
                .speakers
                .iter_mut()
                .find(|s| s.speaker_id == speaker_id)
            {
                s.embeddings.push(StoredEmbedding {
                    model,
                    vector: decode_embedding(&text)?,
                    speech_secs,
                });
            }
        }
        Ok(registry)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embeddings_round_trip_through_their_text_form() {
        let v = vec![0.25f32, -1.0, 3.5e-7, f32::MAX];
        assert_eq!(decode_embedding(&encode_embedding(&v)).unwrap(), v);
        assert!(decode_embedding("not base64!").is_err());
        assert!(decode_embedding("AAA=").is_err());
    }
}
