//! State of work held at providers: the checkpoint of a remote recognition job on its task
//! step (`task_steps.provider_job_id`, a JSON object keyed by provider), and the sync state of
//! the provider-side table behind each hotword set.
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde_json::{Map, Value};
use sqlx::types::Json;

use super::sql::{insert_job, on_pool, scoped, scoped_tx, Scope, SqlStore};
use super::tasks::fence;
use super::*;

/// A hotword set as the table sync job needs it.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct HotwordSyncRecord {
    pub id: String,
    pub tenant_id: Option<String>,
    pub scope: String,
    pub provider: String,
    /// The provider's table id once created.
    pub provider_resource_id: Option<String>,
    pub words: Json<Vec<crate::domain::hotwords::Hotword>>,
    /// `pending`, `synced`, `failed`, or `None` when the set was never synced.
    pub provider_sync_state: Option<String>,
    pub provider_sync_error: Option<String>,
    pub provider_synced_at: Option<DateTime<Utc>>,
    pub updated_at: DateTime<Utc>,
}

/// How a sync job ended for its set.
#[derive(Debug, Clone, PartialEq)]
pub enum HotwordSyncOutcome {
    /// The provider holds the set's words in table `table_id`.
    Synced { provider: String, table_id: String },
    /// The table could not be made; the set keeps working through inline hotwords.
    Failed { error: String },
}

#[async_trait]
pub trait ProviderJobStore: Send + Sync {
    /// The checkpoint `provider` saved on a task's step, if any.
    async fn provider_checkpoint(
        &self,
        tenant_id: &str,
        task_id: &str,
        step: &str,
        provider: &str,
    ) -> StoreResult<Option<Value>>;
    /// Saves (`Some`) or removes `provider`'s checkpoint on the step, fenced by the lease.
    async fn save_provider_checkpoint(
        &self,
        lease: &Lease,
        tenant_id: &str,
        task_id: &str,
        step: &str,
        provider: &str,
        state: Option<&Value>,
    ) -> StoreResult<()>;
    /// A hotword set by id: a tenant's own, or a global one (`tenant_id` `None` = system scope).
    async fn hotword_sync_record(
        &self,
        tenant_id: Option<&str>,
        set_id: &str,
    ) -> StoreResult<Option<HotwordSyncRecord>>;
    /// Marks the set's table `pending` and enqueues `job` (its sync) in one transaction.
    async fn enqueue_hotword_sync(
        &self,
        tenant_id: Option<&str>,
        set_id: &str,
        job: &NewJob,
    ) -> StoreResult<()>;
    /// Records the outcome on the set and completes the job in one fenced transaction;
    /// `false` when the set no longer exists (the job is completed all the same).
    async fn finish_hotword_sync(
        &self,
        lease: &Lease,
        tenant_id: Option<&str>,
        set_id: &str,
        outcome: &HotwordSyncOutcome,
    ) -> StoreResult<bool>;
}

fn scope(tenant_id: Option<&str>) -> Scope<'_> {
    tenant_id.map_or(Scope::System, Scope::Tenant)
}

/// The step's checkpoints as a map; anything else in the column (a bare id from elsewhere)
/// is kept under `_`.
fn checkpoints(raw: Option<&str>) -> Map<String, Value> {
    match raw.map(serde_json::from_str::<Value>) {
        None => Map::new(),
        Some(Ok(Value::Object(map))) => map,
        Some(_) => {
            let mut map = Map::new();
            map.insert(
                "_".into(),
                Value::String(raw.unwrap_or_default().to_string()),
            );
            map
        }
    }
}

const SYNC_COLUMNS: &str = "id, tenant_id, scope, provider, provider_resource_id, words, \
    provider_sync_state, provider_sync_error, provider_synced_at, updated_at";

#[async_trait]
impl ProviderJobStore for SqlStore {
    async fn provider_checkpoint(
        &self,
        tenant_id: &str,
        task_id: &str,
        step: &str,
        provider: &str,
    ) -> StoreResult<Option<Value>> {
        let raw: Option<Option<String>> = on_pool!(self, pool => scoped!(pool, Scope::Tenant(tenant_id), tx =>
            sqlx::query_scalar("SELECT provider_job_id FROM task_steps \
                                WHERE task_id = $1 AND step = $2 AND tenant_id = $3")
                .bind(task_id).bind(step).bind(tenant_id).fetch_optional(&mut *tx).await?));
        Ok(checkpoints(raw.flatten().as_deref()).remove(provider))
    }

    async fn save_provider_checkpoint(
        &self,
        lease: &Lease,
        tenant_id: &str,
        task_id: &str,
        step: &str,
        provider: &str,
        state: Option<&Value>,
    ) -> StoreResult<()> {
        let now = Utc::now();
        on_pool!(self, pool => {
            let mut tx = scoped_tx!(pool, Scope::Tenant(tenant_id));
            fence!(tx, lease, now);
            let raw: Option<Option<String>> = sqlx::query_scalar(
                "SELECT provider_job_id FROM task_steps WHERE task_id = $1 AND step = $2 AND tenant_id = $3")
                .bind(task_id).bind(step).bind(tenant_id).fetch_optional(&mut *tx).await?;
            // The stage's start created the row; without it there is no step to checkpoint.
            let Some(raw) = raw else { return Err(StoreError::NotFound) };
            let mut map = checkpoints(raw.as_deref());
            match state {
                Some(state) => { map.insert(provider.to_string(), state.clone()); }
                None => { map.remove(provider); }
            }
            let text = (!map.is_empty()).then(|| Value::Object(map).to_string());
            sqlx::query("UPDATE task_steps SET provider_job_id = $4, updated_at = $5 \
                         WHERE task_id = $1 AND step = $2 AND tenant_id = $3")
                .bind(task_id).bind(step).bind(tenant_id).bind(text).bind(now)
                .execute(&mut *tx).await?;
            tx.commit().await?;
        });
        Ok(())
    }

    async fn hotword_sync_record(
        &self,
        tenant_id: Option<&str>,
        set_id: &str,
    ) -> StoreResult<Option<HotwordSyncRecord>> {
        let sql = format!(
            "SELECT {SYNC_COLUMNS} FROM hotword_sets WHERE id = $1 \
             AND (scope = 'global' OR tenant_id = $2)"
        );
        Ok(on_pool!(self, pool => scoped!(pool, scope(tenant_id), tx =>
            sqlx::query_as::<_, HotwordSyncRecord>(&sql)
                .bind(set_id).bind(tenant_id).fetch_optional(&mut *tx).await?)))
    }

    async fn enqueue_hotword_sync(
        &self,
        tenant_id: Option<&str>,
        set_id: &str,
        job: &NewJob,
    ) -> StoreResult<()> {
        let now = Utc::now();
        let found = on_pool!(self, pool => {
            let mut tx = scoped_tx!(pool, scope(tenant_id));
            let rows = sqlx::query(
                "UPDATE hotword_sets SET provider_sync_state = 'pending', provider_sync_error = NULL \
                 WHERE id = $1 AND (tenant_id = $2 OR ($2 IS NULL AND scope = 'global'))")
                .bind(set_id).bind(tenant_id).execute(&mut *tx).await?.rows_affected();
            if rows == 1 {
                insert_job!(pool, tx, job, now);
            }
            tx.commit().await?;
            rows == 1
        });
        if !found {
            return Err(StoreError::NotFound);
        }
        self.jobs_signal.notify_waiters();
        Ok(())
    }

    async fn finish_hotword_sync(
        &self,
        lease: &Lease,
        tenant_id: Option<&str>,
        set_id: &str,
        outcome: &HotwordSyncOutcome,
    ) -> StoreResult<bool> {
        let now = Utc::now();
        let exists = on_pool!(self, pool => {
            let mut tx = scoped_tx!(pool, scope(tenant_id));
            fence!(tx, lease, now);
            let set = "WHERE id = $1 AND (tenant_id = $2 OR ($2 IS NULL AND scope = 'global'))";
            let rows = match outcome {
                HotwordSyncOutcome::Synced { provider, table_id } => sqlx::query(&format!(
                    "UPDATE hotword_sets SET provider = $3, provider_resource_id = $4, \
                     provider_sync_state = 'synced', provider_sync_error = NULL, provider_synced_at = $5 {set}"))
                    .bind(set_id).bind(tenant_id).bind(provider).bind(table_id).bind(now)
                    .execute(&mut *tx).await?.rows_affected(),
                HotwordSyncOutcome::Failed { error } => sqlx::query(&format!(
                    "UPDATE hotword_sets SET provider_sync_state = 'failed', provider_sync_error = $3 {set}"))
                    .bind(set_id).bind(tenant_id).bind(error)
                    .execute(&mut *tx).await?.rows_affected(),
            };
            sqlx::query("UPDATE jobs SET state = 'done', locked_by = NULL, locked_until_ms = NULL, \
                         finished_at = $2, updated_at = $2 WHERE id = $1")
                .bind(&lease.job_id).bind(now).execute(&mut *tx).await?;
            tx.commit().await?;
            rows == 1
        });
        Ok(exists)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checkpoint_column_reads_as_a_map() {
        assert!(checkpoints(None).is_empty());
        let map = checkpoints(Some(r#"{"volcano": {"request_id": "r1"}}"#));
        assert_eq!(map["volcano"]["request_id"], "r1");
        let legacy = checkpoints(Some("job-123"));
        assert_eq!(legacy["_"], "job-123");
    }
}
