//! Prompt templates: seeded globals and private templates owned by one user.
use async_trait::async_trait;
use chrono::Utc;
use sqlx::types::Json;

use super::sql::{on_pool, scoped, scoped_tx, Scope, SqlStore};
use super::*;

const COLUMNS: &str =
    "id, title, description, prompt_body, artifact_type, supported_languages, parameter_schema, \
    is_system, scope, version, owner_user_id, created_at, updated_at";

/// Visible to an owner: every global template and their own private ones.
const VISIBLE: &str = "(scope = 'global' OR (tenant_id = $1 AND owner_user_id = $2))";

#[async_trait]
impl TemplateStore for SqlStore {
    async fn get_template(
        &self,
        owner: &Owner,
        template_id: &str,
    ) -> StoreResult<Option<TemplateRecord>> {
        let sql = format!("SELECT {COLUMNS} FROM prompt_templates WHERE {VISIBLE} AND id = $3");
        Ok(
            on_pool!(self, pool => scoped!(pool, Scope::Tenant(&owner.tenant_id), tx => sqlx::query_as::<_, TemplateRecord>(&sql)
            .bind(&owner.tenant_id).bind(&owner.user_id).bind(template_id).fetch_optional(&mut *tx).await?)),
        )
    }

    async fn list_templates(
        &self,
        owner: &Owner,
        scope: Option<&str>,
        artifact_type: Option<&str>,
    ) -> StoreResult<Vec<TemplateRecord>> {
        let sql = format!(
            "SELECT {COLUMNS} FROM prompt_templates WHERE {VISIBLE} AND ($3 IS NULL OR scope = $3) \
             AND ($4 IS NULL OR artifact_type = $4) ORDER BY scope, artifact_type, id"
        );
        Ok(
            on_pool!(self, pool => scoped!(pool, Scope::Tenant(&owner.tenant_id), tx => sqlx::query_as::<_, TemplateRecord>(&sql)
            .bind(&owner.tenant_id).bind(&owner.user_id).bind(scope).bind(artifact_type)
            .fetch_all(&mut *tx).await?)),
        )
    }

    async fn create_template(&self, owner: &Owner, t: &TemplateRecord) -> StoreResult<()> {
        let now = Utc::now();
        on_pool!(self, pool => scoped!(pool, Scope::Tenant(&owner.tenant_id), tx => sqlx::query(
            "INSERT INTO prompt_templates (id, tenant_id, owner_user_id, title, description, prompt_body, artifact_type, \
             supported_languages, parameter_schema, is_system, scope, version, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, FALSE, 'private', 1, $10, $10)")
            .bind(&t.id).bind(&owner.tenant_id).bind(&owner.user_id).bind(&t.title).bind(&t.description)
            .bind(&t.prompt_body).bind(&t.artifact_type).bind(Json(&t.supported_languages.0))
            .bind(Json(&t.parameter_schema.0)).bind(now)
            .execute(&mut *tx).await.map(|_| ())?));
        Ok(())
    }

    async fn update_template(&self, owner: &Owner, t: &TemplateRecord) -> StoreResult<()> {
        let now = Utc::now();
        let rows = on_pool!(self, pool => scoped!(pool, Scope::Tenant(&owner.tenant_id), tx => sqlx::query(
            "UPDATE prompt_templates SET title = $4, description = $5, prompt_body = $6, artifact_type = $7, \
             supported_languages = $8, parameter_schema = $9, version = version + 1, updated_at = $10 \
             WHERE id = $3 AND tenant_id = $1 AND owner_user_id = $2 AND scope = 'private'")
            .bind(&owner.tenant_id).bind(&owner.user_id).bind(&t.id).bind(&t.title).bind(&t.description)
            .bind(&t.prompt_body).bind(&t.artifact_type).bind(Json(&t.supported_languages.0))
            .bind(Json(&t.parameter_schema.0)).bind(now)
            .execute(&mut *tx).await?.rows_affected()));
        if rows == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }

    async fn delete_template(&self, owner: &Owner, template_id: &str) -> StoreResult<()> {
        on_pool!(self, pool => {
            let mut tx = scoped_tx!(pool, Scope::Tenant(&owner.tenant_id));
            // Tasks still running, or waiting for a (re)generation, would lose their template.
            let in_use: i64 = sqlx::query_scalar(
                "SELECT COUNT(*) FROM jobs j JOIN tasks t ON t.id = j.task_id \
                 WHERE t.tenant_id = $1 AND j.state IN ('queued', 'running') \
                 AND (CAST(t.prompt_instance AS TEXT) LIKE $2 OR CAST(j.payload AS TEXT) LIKE $2)")
                .bind(&owner.tenant_id).bind(format!("%\"{template_id}\"%"))
                .fetch_one(&mut *tx).await?;
            if in_use > 0 {
                return Err(StoreError::Conflict(format!("template `{template_id}` is used by a task in progress")));
            }
            let rows = sqlx::query(
                "DELETE FROM prompt_templates WHERE id = $3 AND tenant_id = $1 AND owner_user_id = $2 AND scope = 'private'")
                .bind(&owner.tenant_id).bind(&owner.user_id).bind(template_id)
                .execute(&mut *tx).await?.rows_affected();
            if rows == 0 {
                return Err(StoreError::NotFound);
            }
            tx.commit().await?;
        });
        Ok(())
    }

    async fn seed_templates(&self, templates: &[TemplateRecord]) -> StoreResult<()> {
        let now = Utc::now();
        // System scope: global templates belong to no tenant, and only this writes them.
        on_pool!(self, pool => {
            let mut tx = scoped_tx!(pool, Scope::System);
            for t in templates {
                // Only newer built-in versions overwrite, so an upgrade refreshes them and a
                // downgrade or restart leaves them alone.
                sqlx::query(
                    "INSERT INTO prompt_templates (id, tenant_id, owner_user_id, title, description, prompt_body, \
                     artifact_type, supported_languages, parameter_schema, is_system, scope, version, created_at, updated_at) \
                     VALUES ($1, NULL, NULL, $2, $3, $4, $5, $6, $7, TRUE, 'global', $8, $9, $9) \
                     ON CONFLICT (id) DO UPDATE SET title = excluded.title, description = excluded.description, \
                     prompt_body = excluded.prompt_body, artifact_type = excluded.artifact_type, \
                     supported_languages = excluded.supported_languages, parameter_schema = excluded.parameter_schema, \
                     version = excluded.version, updated_at = excluded.updated_at \
                     WHERE prompt_templates.version < excluded.version")
                    .bind(&t.id).bind(&t.title).bind(&t.description).bind(&t.prompt_body).bind(&t.artifact_type)
                    .bind(Json(&t.supported_languages.0)).bind(Json(&t.parameter_schema.0)).bind(t.version).bind(now)
                    .execute(&mut *tx).await?;
            }
            tx.commit().await?;
        });
        Ok(())
    }
}
