//! What the retention job needs: finished tasks whose audio may go, trash past its retention,
//! and the upload objects only one task uses.
use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::sql::{on_pool, scoped, scoped_tx, Scope, SqlStore};
use super::*;

#[async_trait]
impl RetentionStore for SqlStore {
    async fn audio_retention_candidates(
        &self,
        created_before: DateTime<Utc>,
        limit: i64,
    ) -> StoreResult<Vec<AudioCandidate>> {
        // Cross-tenant: the retention sweep looks at every tenant's tasks.
        Ok(
            on_pool!(self, pool => scoped!(pool, Scope::System, tx => sqlx::query_as::<_, AudioCandidate>(
            "SELECT t.tenant_id, t.id AS task_id, t.is_confirmed, t.created_at, t.completed_at, t.confirmed_at, \
             (SELECT COUNT(*) FROM transcript_revisions r WHERE r.task_id = t.id) AS revisions \
             FROM tasks t WHERE t.audio_purged_at IS NULL AND t.created_at < $1 \
             AND t.state NOT IN ('pending', 'queued', 'running', 'transcribing', 'identifying', 'correcting', 'summarizing') \
             ORDER BY t.created_at LIMIT $2")
            .bind(created_before).bind(limit).fetch_all(&mut *tx).await?)),
        )
    }

    async fn expired_trash(
        &self,
        deleted_before: DateTime<Utc>,
        limit: i64,
    ) -> StoreResult<Vec<(String, String)>> {
        Ok(
            // Cross-tenant: the retention sweep looks at every tenant's trash.
            on_pool!(self, pool => scoped!(pool, Scope::System, tx => sqlx::query_as::<_, (String, String)>(
            "SELECT tenant_id, id FROM tasks WHERE is_deleted = TRUE AND deleted_at < $1 ORDER BY deleted_at LIMIT $2")
            .bind(deleted_before).bind(limit).fetch_all(&mut *tx).await?)),
        )
    }

    async fn exclusive_upload_keys(
        &self,
        tenant_id: &str,
        task_id: &str,
    ) -> StoreResult<Vec<String>> {
        Ok(
            on_pool!(self, pool => scoped!(pool, Scope::Tenant(tenant_id), tx => sqlx::query_scalar::<_, String>(
            "SELECT f.object_key FROM task_files f WHERE f.task_id = $1 AND f.tenant_id = $2 \
             AND NOT EXISTS (SELECT 1 FROM task_files o WHERE o.object_key = f.object_key AND o.task_id <> f.task_id)")
            .bind(task_id).bind(tenant_id).fetch_all(&mut *tx).await?)),
        )
    }

    async fn mark_audio_purged(
        &self,
        tenant_id: &str,
        task_id: &str,
        keys: &[String],
        at: DateTime<Utc>,
    ) -> StoreResult<()> {
        on_pool!(self, pool => {
            let mut tx = scoped_tx!(pool, Scope::Tenant(tenant_id));
            for key in keys {
                sqlx::query("DELETE FROM uploads WHERE object_key = $1 AND tenant_id = $2")
                    .bind(key).bind(tenant_id).execute(&mut *tx).await?;
            }
            sqlx::query("UPDATE tasks SET audio_purged_at = $3 WHERE id = $1 AND tenant_id = $2")
                .bind(task_id).bind(tenant_id).bind(at).execute(&mut *tx).await?;
            tx.commit().await?;
        });
        Ok(())
    }

    async fn purge_task(&self, tenant_id: &str, task_id: &str, keys: &[String]) -> StoreResult<()> {
        on_pool!(self, pool => {
            let mut tx = scoped_tx!(pool, Scope::Tenant(tenant_id));
            sqlx::query("DELETE FROM tasks WHERE id = $1 AND tenant_id = $2")
                .bind(task_id).bind(tenant_id).execute(&mut *tx).await?;
            for key in keys {
                sqlx::query("DELETE FROM uploads WHERE object_key = $1 AND tenant_id = $2")
                    .bind(key).bind(tenant_id).execute(&mut *tx).await?;
            }
            tx.commit().await?;
        });
        Ok(())
    }
}
