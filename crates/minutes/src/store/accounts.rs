//! Tenants, users, uploads, the audit log and the cost ledger.
use async_trait::async_trait;
use chrono::Utc;
use sqlx::types::Json;

use super::sql::{on_pool, scoped, scoped_tx, Scope, SqlStore};
use super::*;
use crate::domain::ids;

#[async_trait]
impl AccountStore for SqlStore {
    async fn upsert_dev_user(&self, username: &str) -> StoreResult<User> {
        let now = Utc::now();
        // An existing user by name first: users imported from the original system keep their
        // ids (`user_gsuc_71859` for `huangtao`), which the name does not derive. Usernames are
        // unique, and dev login refuses the `idp:` names of identity-provider users.
        let existing = on_pool!(self, pool => scoped!(pool, Scope::System, tx => {
            let user = sqlx::query_as::<_, User>(
                "SELECT id, tenant_id, username, role, is_active FROM users WHERE username = $1")
                .bind(username).fetch_optional(&mut *tx).await?;
            if let Some(u) = &user {
                sqlx::query("UPDATE users SET last_login_at = $2 WHERE id = $1")
                    .bind(&u.id).bind(now).execute(&mut *tx).await?;
            }
            user
        }));
        if let Some(user) = existing {
            if !user.is_active {
                return Err(StoreError::Conflict(format!(
                    "user `{username}` is inactive"
                )));
            }
            return Ok(user);
        }
        let user_id = ids::user_id_for(username);
        let tenant_id = ids::tenant_id_for(username);
        // The user and tenant ids derive from the username, so this stays inside one tenant.
        Ok(on_pool!(self, pool => {
            let mut tx = scoped_tx!(pool, Scope::Tenant(&tenant_id));
            sqlx::query("INSERT INTO tenants (id, name, created_at) VALUES ($1, $2, $3) ON CONFLICT (id) DO NOTHING")
                .bind(&tenant_id).bind(username).bind(now).execute(&mut *tx).await?;
            sqlx::query(
                "INSERT INTO users (id, tenant_id, username, role, is_active, created_at, updated_at, last_login_at) \
                 VALUES ($1, $2, $3, 'admin', TRUE, $4, $4, $4) \
                 ON CONFLICT (id) DO UPDATE SET last_login_at = excluded.last_login_at \
                 WHERE users.username = excluded.username")
                .bind(&user_id).bind(&tenant_id).bind(username).bind(now).execute(&mut *tx).await?;
            let user = sqlx::query_as::<_, User>(
                "SELECT id, tenant_id, username, role, is_active FROM users WHERE id = $1")
                .bind(&user_id).fetch_optional(&mut *tx).await?;
            // Another name owns this id (a name spelling out another's hashed id, or an
            // identity-provider user, whose row row-level security may hide): never log in as them.
            let Some(user) = user.filter(|u| u.username == username) else {
                return Err(StoreError::Conflict(format!("user id `{user_id}` belongs to another user")));
            };
            tx.commit().await?;
            user
        }))
    }

    async fn get_user(&self, user_id: &str) -> StoreResult<Option<User>> {
        // Cross-tenant: an identity lookup by its global id, before any tenant is known.
        Ok(
            on_pool!(self, pool => scoped!(pool, Scope::System, tx => sqlx::query_as::<_, User>(
            "SELECT id, tenant_id, username, role, is_active FROM users WHERE id = $1")
            .bind(user_id).fetch_optional(&mut *tx).await?)),
        )
    }

    async fn insert_upload(&self, u: &Upload) -> StoreResult<()> {
        on_pool!(self, pool => scoped!(pool, Scope::Tenant(&u.tenant_id), tx => sqlx::query(
            "INSERT INTO uploads (object_key, tenant_id, user_id, original_filename, container, size_bytes, sha256, \
             duration_secs, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)")
            .bind(&u.object_key).bind(&u.tenant_id).bind(&u.user_id).bind(&u.original_filename)
            .bind(&u.container).bind(u.size_bytes).bind(&u.sha256).bind(u.duration_secs).bind(u.created_at)
            .execute(&mut *tx).await.map(|_| ())?));
        Ok(())
    }

    async fn uploads_by_keys(&self, owner: &Owner, keys: &[String]) -> StoreResult<Vec<Upload>> {
        Ok(
            on_pool!(self, pool => scoped!(pool, Scope::Tenant(&owner.tenant_id), tx => {
                let mut out = Vec::with_capacity(keys.len());
                for key in keys {
                    let found = sqlx::query_as::<_, Upload>(
                        "SELECT object_key, tenant_id, user_id, original_filename, container, size_bytes, sha256, \
                         duration_secs, created_at FROM uploads WHERE object_key = $1 AND tenant_id = $2 AND user_id = $3")
                        .bind(key).bind(&owner.tenant_id).bind(&owner.user_id).fetch_optional(&mut *tx).await?;
                    out.extend(found);
                }
                out
            })),
        )
    }

    async fn media_object(&self, tenant_id: &str, key: &str) -> StoreResult<Option<MediaObject>> {
        Ok(
            on_pool!(self, pool => scoped!(pool, Scope::Tenant(tenant_id), tx => {
                let upload = sqlx::query_as::<_, Upload>(
                    "SELECT object_key, tenant_id, user_id, original_filename, container, size_bytes, sha256, \
                     duration_secs, created_at FROM uploads WHERE object_key = $1 AND tenant_id = $2")
                    .bind(key).bind(tenant_id).fetch_optional(&mut *tx).await?;
                match upload {
                    Some(u) => Some(MediaObject::Stored(u)),
                    // The retention sweep deletes the upload rows but keeps the tasks' file rows.
                    None => {
                        let purged: i64 = sqlx::query_scalar(
                            "SELECT COUNT(*) FROM task_files f JOIN tasks t ON t.id = f.task_id AND t.tenant_id = f.tenant_id \
                             WHERE f.object_key = $1 AND f.tenant_id = $2 AND t.audio_purged_at IS NOT NULL")
                            .bind(key).bind(tenant_id).fetch_one(&mut *tx).await?;
                        (purged > 0).then_some(MediaObject::Purged)
                    }
                }
            })),
        )
    }

    async fn task_bills(
        &self,
        owner: &Owner,
        limit: i64,
        offset: i64,
    ) -> StoreResult<Vec<TaskBill>> {
        // The page is chosen per (task, currency) first, then broken down per api type. Ledger
        // rows of a deleted task lost their task id and with it their owner: they are not listed.
        let sql = "WITH bills AS (\
               SELECT c.task_id, c.currency, MAX(c.created_at) AS last_billed_at FROM cost_records c \
               JOIN tasks t ON t.id = c.task_id AND t.tenant_id = c.tenant_id \
               WHERE c.tenant_id = $1 AND t.user_id = $2 GROUP BY c.task_id, c.currency \
               ORDER BY last_billed_at DESC, c.task_id DESC, c.currency LIMIT $3 OFFSET $4) \
             SELECT b.task_id, t.name, t.meeting_type, b.currency, b.last_billed_at, c.api_type, \
               CAST(SUM(c.amount_micros) AS BIGINT) AS amount_micros, COUNT(*) AS calls FROM bills b \
             JOIN tasks t ON t.id = b.task_id AND t.tenant_id = $1 AND t.user_id = $2 \
             JOIN cost_records c ON c.task_id = b.task_id AND c.currency = b.currency AND c.tenant_id = $1 \
             GROUP BY b.task_id, t.name, t.meeting_type, b.currency, b.last_billed_at, c.api_type \
             ORDER BY b.last_billed_at DESC, b.task_id DESC, b.currency, c.api_type";
        type Row = (
            String,
            Option<String>,
            String,
            String,
            chrono::DateTime<Utc>,
            String,
            i64,
            i64,
        );
        let rows: Vec<Row> = on_pool!(self, pool => scoped!(pool, Scope::Tenant(&owner.tenant_id), tx => sqlx::query_as::<_, Row>(sql)
            .bind(&owner.tenant_id).bind(&owner.user_id).bind(limit).bind(offset)
            .fetch_all(&mut *tx).await?));
        let mut bills: Vec<TaskBill> = Vec::new();
        for (task_id, task_name, meeting_type, currency, last_billed_at, api_type, amount, calls) in
            rows
        {
            let part = BillPart {
                api_type,
                amount_micros: amount,
                calls,
            };
            match bills.last_mut() {
                Some(b) if b.task_id == task_id && b.currency == currency => {
                    b.amount_micros += amount;
                    b.breakdown.push(part);
                }
                _ => bills.push(TaskBill {
                    task_id,
                    task_name,
                    meeting_type,
                    currency,
                    amount_micros: amount,
                    last_billed_at,
                    breakdown: vec![part],
                }),
            }
        }
        Ok(bills)
    }

    async fn delete_upload(&self, owner: &Owner, key: &str) -> StoreResult<()> {
        on_pool!(self, pool => {
            let mut tx = scoped_tx!(pool, Scope::Tenant(&owner.tenant_id));
            let used: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM task_files WHERE object_key = $1 AND tenant_id = $2")
                .bind(key).bind(&owner.tenant_id).fetch_one(&mut *tx).await?;
            if used > 0 {
                return Err(StoreError::Conflict("the upload is used by a task; delete the task first".into()));
            }
            let rows = sqlx::query("DELETE FROM uploads WHERE object_key = $1 AND tenant_id = $2 AND user_id = $3")
                .bind(key).bind(&owner.tenant_id).bind(&owner.user_id)
                .execute(&mut *tx).await?.rows_affected();
            if rows == 0 {
                return Err(StoreError::NotFound);
            }
            tx.commit().await?;
        });
        Ok(())
    }

    async fn insert_audit(&self, e: &AuditEntry) -> StoreResult<()> {
        let now = Utc::now();
        on_pool!(self, pool => scoped!(pool, Scope::Tenant(&e.tenant_id), tx => sqlx::query(
            "INSERT INTO audit_logs (tenant_id, user_id, action, resource_type, resource_id, details, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7)")
            .bind(&e.tenant_id).bind(&e.user_id).bind(&e.action).bind(&e.resource_type).bind(&e.resource_id)
            .bind(Json(&e.details)).bind(now).execute(&mut *tx).await.map(|_| ())?));
        Ok(())
    }

    async fn audit_log(&self, tenant_id: &str, f: &AuditFilter) -> StoreResult<Vec<AuditRecord>> {
        Ok(
            on_pool!(self, pool => scoped!(pool, Scope::Tenant(tenant_id), tx => sqlx::query_as::<_, AuditRecord>(
            "SELECT user_id, action, resource_type, resource_id, details, created_at FROM audit_logs \
             WHERE tenant_id = $1 AND ($2 IS NULL OR action = $2) AND ($3 IS NULL OR resource_type = $3) \
             AND ($4 IS NULL OR resource_id = $4) AND ($5 IS NULL OR user_id = $5) \
             AND ($6 IS NULL OR created_at >= $6) AND ($7 IS NULL OR created_at < $7) \
             ORDER BY id LIMIT $8 OFFSET $9")
            .bind(tenant_id).bind(&f.action).bind(&f.resource_type).bind(&f.resource_id).bind(&f.user_id)
            .bind(f.from).bind(f.to).bind(f.limit).bind(f.offset)
            .fetch_all(&mut *tx).await?)),
        )
    }

    async fn tenant_usage(
        &self,
        tenant_id: &str,
        period_start: chrono::DateTime<Utc>,
    ) -> StoreResult<TenantUsage> {
        Ok(
            on_pool!(self, pool => scoped!(pool, Scope::Tenant(tenant_id), tx => sqlx::query_as::<_, TenantUsage>(
            "SELECT \
               (SELECT COUNT(*) FROM tasks WHERE tenant_id = $1 AND state IN \
                  ('pending', 'queued', 'running', 'transcribing', 'identifying', 'correcting', 'summarizing')) AS active_pipelines, \
               (SELECT COALESCE(SUM(units), 0.0) FROM cost_records WHERE tenant_id = $1 AND api_type = 'asr' \
                  AND created_at >= $2) AS audio_seconds, \
               (SELECT COALESCE(SUM(units), 0.0) FROM cost_records WHERE tenant_id = $1 AND api_type = 'llm' \
                  AND created_at >= $2) AS llm_tokens, \
               (SELECT CAST(COALESCE(SUM(size_bytes), 0) AS BIGINT) FROM uploads WHERE tenant_id = $1) AS storage_bytes")
            .bind(tenant_id).bind(period_start).fetch_one(&mut *tx).await?)),
        )
    }

    async fn cost_records(&self, tenant_id: &str, task_id: &str) -> StoreResult<Vec<CostRecord>> {
        let sql = format!("SELECT {COST_COLUMNS} FROM cost_records WHERE tenant_id = $1 AND task_id = $2 ORDER BY id");
        Ok(
            on_pool!(self, pool => scoped!(pool, Scope::Tenant(tenant_id), tx => sqlx::query_as::<_, CostRecord>(&sql)
            .bind(tenant_id).bind(task_id).fetch_all(&mut *tx).await?)),
        )
    }

    async fn cost_history(&self, tenant_id: &str, range: &CostRange) -> StoreResult<CostHistory> {
        let page = format!(
            "SELECT {COST_COLUMNS} FROM cost_records WHERE tenant_id = $1 AND created_at >= $2 \
             AND created_at < $3 ORDER BY created_at DESC, id DESC LIMIT $4 OFFSET $5"
        );
        let range_filter =
            "FROM cost_records WHERE tenant_id = $1 AND created_at >= $2 AND created_at < $3";
        let count = format!("SELECT COUNT(*) {range_filter}");
        let totals = format!(
            "SELECT api_type, provider, model, unit, currency, CAST(SUM(units) AS DOUBLE PRECISION) AS units, \
             CAST(SUM(amount_micros) AS BIGINT) AS amount_micros, COUNT(*) AS calls {range_filter} \
             GROUP BY api_type, provider, model, unit, currency ORDER BY api_type, provider, model"
        );
        Ok(
            on_pool!(self, pool => scoped!(pool, Scope::Tenant(tenant_id), tx => {
                let rows = sqlx::query_as::<_, CostRecord>(&page)
                    .bind(tenant_id).bind(range.from).bind(range.to).bind(range.limit).bind(range.offset)
                    .fetch_all(&mut *tx).await?;
                let total_count = sqlx::query_scalar::<_, i64>(&count)
                    .bind(tenant_id).bind(range.from).bind(range.to)
                    .fetch_one(&mut *tx).await?;
                let totals = sqlx::query_as::<_, CostTotal>(&totals)
                    .bind(tenant_id).bind(range.from).bind(range.to)
                    .fetch_all(&mut *tx).await?;
                CostHistory { rows, total_count, totals }
            })),
        )
    }
}

/// The ledger columns, in `CostRecord`'s field order.
const COST_COLUMNS: &str =
    "id, task_id, stage, provider, model, api_type, units, unit, amount_micros, priced, \
    currency, job_id, CAST(attempt AS BIGINT) AS attempt, created_at";

#[async_trait]
impl Store for SqlStore {
    fn backend(&self) -> &'static str {
        match self.pool {
            super::sql::Pool::Sqlite(_) => "sqlite",
            super::sql::Pool::Postgres(_) => "postgres",
        }
    }

    async fn ping(&self) -> StoreResult<()> {
        // Touches a real table, so an unmigrated database is not reported ready. No scope: under
        // row-level security it sees no rows, which is all a ping needs.
        on_pool!(self, pool => sqlx::query("SELECT 1 FROM jobs LIMIT 1").execute(pool).await.map(|_| ())?);
        Ok(())
    }
}
