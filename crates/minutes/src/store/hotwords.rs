//! Hotword sets, scoped global / tenant / user.
use async_trait::async_trait;
use chrono::Utc;
use sqlx::types::Json;

use super::sql::{on_pool, scoped, Scope, SqlStore};
use super::*;

const COLUMNS: &str =
    "id, tenant_id, name, provider, provider_resource_id, scope, scope_id, asr_language, \
    description, words, word_count, word_size, created_by, created_at, updated_at";

/// Sets an owner can see (and that apply to their tasks).
const VISIBLE: &str = "(scope = 'global' OR (scope = 'tenant' AND tenant_id = $1) \
    OR (scope = 'user' AND tenant_id = $1 AND scope_id = $2))";

/// Global sets belong to no tenant and are written only in the system scope (the HTTP layer
/// lets only platform operators change them); every other set in its tenant's scope.
fn write_scope<'a>(set: &HotwordSetRecord, owner_tenant: &'a str) -> Scope<'a> {
    if set.scope == "global" {
        Scope::System
    } else {
        Scope::Tenant(owner_tenant)
    }
}

#[async_trait]
impl HotwordStore for SqlStore {
    async fn create_hotword_set(&self, s: &HotwordSetRecord) -> StoreResult<()> {
        let scope = write_scope(s, s.tenant_id.as_deref().unwrap_or_default());
        on_pool!(self, pool => scoped!(pool, scope, tx => sqlx::query(
            "INSERT INTO hotword_sets (id, tenant_id, name, provider, provider_resource_id, scope, scope_id, asr_language, \
             description, words, word_count, word_size, created_by, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $14)")
            .bind(&s.id).bind(&s.tenant_id).bind(&s.name).bind(&s.provider).bind(&s.provider_resource_id)
            .bind(&s.scope).bind(&s.scope_id).bind(&s.asr_language).bind(&s.description).bind(Json(&s.words.0))
            .bind(s.word_count).bind(s.word_size).bind(&s.created_by).bind(s.created_at)
            .execute(&mut *tx).await.map(|_| ())?));
        Ok(())
    }

    async fn get_hotword_set(
        &self,
        owner: &Owner,
        id: &str,
    ) -> StoreResult<Option<HotwordSetRecord>> {
        let sql = format!("SELECT {COLUMNS} FROM hotword_sets WHERE {VISIBLE} AND id = $3");
        Ok(
            on_pool!(self, pool => scoped!(pool, Scope::Tenant(&owner.tenant_id), tx => sqlx::query_as::<_, HotwordSetRecord>(&sql)
            .bind(&owner.tenant_id).bind(&owner.user_id).bind(id).fetch_optional(&mut *tx).await?)),
        )
    }

    async fn list_hotword_sets(
        &self,
        owner: &Owner,
        scope: Option<&str>,
        limit: i64,
        offset: i64,
    ) -> StoreResult<(Vec<HotwordSetRecord>, i64)> {
        let sql = format!(
            "SELECT {COLUMNS} FROM hotword_sets WHERE {VISIBLE} AND ($3 IS NULL OR scope = $3) \
             ORDER BY created_at DESC, id LIMIT $4 OFFSET $5"
        );
        let count = format!(
            "SELECT COUNT(*) FROM hotword_sets WHERE {VISIBLE} AND ($3 IS NULL OR scope = $3)"
        );
        Ok(
            on_pool!(self, pool => scoped!(pool, Scope::Tenant(&owner.tenant_id), tx => {
                let rows = sqlx::query_as::<_, HotwordSetRecord>(&sql)
                    .bind(&owner.tenant_id).bind(&owner.user_id).bind(scope).bind(limit).bind(offset)
                    .fetch_all(&mut *tx).await?;
                let total: i64 = sqlx::query_scalar(&count)
                    .bind(&owner.tenant_id).bind(&owner.user_id).bind(scope).fetch_one(&mut *tx).await?;
                (rows, total)
            })),
        )
    }

    async fn update_hotword_set(&self, owner: &Owner, s: &HotwordSetRecord) -> StoreResult<()> {
        let now = Utc::now();
        let sql = format!(
            "UPDATE hotword_sets SET name = $4, description = $5, words = $6, word_count = $7, word_size = $8, \
             updated_at = $9 WHERE {VISIBLE} AND id = $3"
        );
        let rows = on_pool!(self, pool => scoped!(pool, write_scope(s, &owner.tenant_id), tx => sqlx::query(&sql)
            .bind(&owner.tenant_id).bind(&owner.user_id).bind(&s.id).bind(&s.name).bind(&s.description)
            .bind(Json(&s.words.0)).bind(s.word_count).bind(s.word_size).bind(now)
            .execute(&mut *tx).await?.rows_affected()));
        if rows == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }

    async fn delete_hotword_set(&self, owner: &Owner, set: &HotwordSetRecord) -> StoreResult<()> {
        let sql = format!("DELETE FROM hotword_sets WHERE {VISIBLE} AND id = $3");
        let rows = on_pool!(self, pool => scoped!(pool, write_scope(set, &owner.tenant_id), tx => sqlx::query(&sql)
            .bind(&owner.tenant_id).bind(&owner.user_id).bind(&set.id).execute(&mut *tx).await?.rows_affected()));
        if rows == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }

    async fn applicable_hotword_sets(&self, owner: &Owner) -> StoreResult<Vec<HotwordSetRecord>> {
        let sql =
            format!("SELECT {COLUMNS} FROM hotword_sets WHERE {VISIBLE} ORDER BY created_at, id");
        Ok(
            on_pool!(self, pool => scoped!(pool, Scope::Tenant(&owner.tenant_id), tx => sqlx::query_as::<_, HotwordSetRecord>(&sql)
            .bind(&owner.tenant_id).bind(&owner.user_id).fetch_all(&mut *tx).await?)),
        )
    }
}
