//! Folders, moving tasks between them, the trash (soft delete) and the batch operations.
//!
//! Batches run in one transaction whose statements are all writes: on SQLite a deferred
//! transaction that reads first and writes later can fail with `SQLITE_BUSY` when another
//! connection committed in between, so ownership checks live in the `WHERE` clauses.
use async_trait::async_trait;
use chrono::Utc;

use super::sql::{on_pool, scoped, scoped_tx, Scope, SqlStore};
use super::*;

const FOLDER_COLUMNS: &str =
    "id, tenant_id, owner_user_id, name, parent_id, created_at, updated_at";

/// `Conflict` for a unique violation (a duplicate folder name), the error unchanged otherwise.
fn duplicate_name(e: sqlx::Error) -> StoreError {
    match e {
        sqlx::Error::Database(d) if d.is_unique_violation() => {
            StoreError::Conflict("you already have a folder with this name".into())
        }
        other => StoreError::Database(other),
    }
}

/// The ids once each, in request order: a repeated id must not be counted twice.
fn distinct(ids: &[String]) -> Vec<&str> {
    let mut seen = std::collections::HashSet::new();
    ids.iter()
        .map(String::as_str)
        .filter(|id| seen.insert(*id))
        .collect()
}

#[async_trait]
impl FolderStore for SqlStore {
    async fn list_folders(&self, owner: &Owner) -> StoreResult<Vec<FolderRecord>> {
        let sql = format!(
            "SELECT {FOLDER_COLUMNS} FROM folders WHERE tenant_id = $1 AND owner_user_id = $2"
        );
        let mut folders = on_pool!(self, pool => scoped!(pool, Scope::Tenant(&owner.tenant_id), tx =>
            sqlx::query_as::<_, FolderRecord>(&sql)
            .bind(&owner.tenant_id).bind(&owner.user_id).fetch_all(&mut *tx).await?));
        // Sorted here, not by ORDER BY: PostgreSQL would use the database's locale collation.
        folders.sort_by(|a, b| a.name.cmp(&b.name).then_with(|| a.id.cmp(&b.id)));
        Ok(folders)
    }

    async fn create_folder(
        &self,
        owner: &Owner,
        folder_id: &str,
        name: &str,
    ) -> StoreResult<FolderRecord> {
        let now = Utc::now();
        let sql = format!(
            "INSERT INTO folders (id, tenant_id, owner_user_id, name, parent_id, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, NULL, $5, $5) RETURNING {FOLDER_COLUMNS}"
        );
        Ok(
            on_pool!(self, pool => scoped!(pool, Scope::Tenant(&owner.tenant_id), tx =>
            sqlx::query_as::<_, FolderRecord>(&sql)
            .bind(folder_id).bind(&owner.tenant_id).bind(&owner.user_id).bind(name).bind(now)
            .fetch_one(&mut *tx).await.map_err(duplicate_name)?)),
        )
    }

    async fn rename_folder(
        &self,
        owner: &Owner,
        folder_id: &str,
        name: &str,
    ) -> StoreResult<FolderRecord> {
        let now = Utc::now();
        let sql = format!(
            "UPDATE folders SET name = $4, updated_at = $5 \
             WHERE id = $1 AND tenant_id = $2 AND owner_user_id = $3 RETURNING {FOLDER_COLUMNS}"
        );
        let folder = on_pool!(self, pool => scoped!(pool, Scope::Tenant(&owner.tenant_id), tx =>
            sqlx::query_as::<_, FolderRecord>(&sql)
            .bind(folder_id).bind(&owner.tenant_id).bind(&owner.user_id).bind(name).bind(now)
            .fetch_optional(&mut *tx).await.map_err(duplicate_name)?));
        folder.ok_or(StoreError::NotFound)
    }

    async fn delete_folder(&self, owner: &Owner, folder_id: &str) -> StoreResult<u64> {
        let now = Utc::now();
        on_pool!(self, pool => {
            let mut tx = scoped_tx!(pool, Scope::Tenant(&owner.tenant_id));
            // Tasks go to the root explicitly (not only through ON DELETE SET NULL) so the count
            // is known and `updated_at` moves; `last_content_modified_at` stays.
            let moved = sqlx::query(
                "UPDATE tasks SET folder_id = NULL, updated_at = $4 \
                 WHERE folder_id = $1 AND tenant_id = $2 AND user_id = $3")
                .bind(folder_id).bind(&owner.tenant_id).bind(&owner.user_id).bind(now)
                .execute(&mut *tx).await?.rows_affected();
            let deleted = sqlx::query(
                "DELETE FROM folders WHERE id = $1 AND tenant_id = $2 AND owner_user_id = $3")
                .bind(folder_id).bind(&owner.tenant_id).bind(&owner.user_id)
                .execute(&mut *tx).await?.rows_affected();
            if deleted == 0 {
                // Dropping `tx` rolls back (nothing can have moved: the folder is not the owner's).
                return Err(StoreError::NotFound);
            }
            tx.commit().await?;
            Ok(moved)
        })
    }

    async fn get_task_including_deleted(
        &self,
        owner: &Owner,
        task_id: &str,
    ) -> StoreResult<Option<TaskRecord>> {
        self.find_task(owner, task_id, true).await
    }

    async fn move_tasks(
        &self,
        owner: &Owner,
        task_ids: &[String],
        folder_id: Option<&str>,
    ) -> StoreResult<Vec<String>> {
        let now = Utc::now();
        on_pool!(self, pool => {
            let mut tx = scoped_tx!(pool, Scope::Tenant(&owner.tenant_id));
            let mut moved = Vec::new();
            for id in distinct(task_ids) {
                // The folder check is part of the statement, so a missing folder moves nothing
                // (rather than failing the foreign key).
                let rows = sqlx::query(
                    "UPDATE tasks SET folder_id = $4, updated_at = $5 \
                     WHERE id = $1 AND tenant_id = $2 AND user_id = $3 AND is_deleted = FALSE \
                     AND ($4 IS NULL OR EXISTS (SELECT 1 FROM folders f \
                          WHERE f.id = $4 AND f.tenant_id = $2 AND f.owner_user_id = $3))")
                    .bind(id).bind(&owner.tenant_id).bind(&owner.user_id).bind(folder_id).bind(now)
                    .execute(&mut *tx).await?.rows_affected();
                if rows == 1 {
                    moved.push(id.to_string());
                }
            }
            if let Some(folder_id) = folder_id {
                let owned: i64 = sqlx::query_scalar(
                    "SELECT COUNT(*) FROM folders WHERE id = $1 AND tenant_id = $2 AND owner_user_id = $3")
                    .bind(folder_id).bind(&owner.tenant_id).bind(&owner.user_id)
                    .fetch_one(&mut *tx).await?;
                if owned == 0 {
                    return Err(StoreError::NotFound);
                }
            }
            tx.commit().await?;
            Ok(moved)
        })
    }

    async fn trash_tasks(&self, owner: &Owner, task_ids: &[String]) -> StoreResult<Vec<String>> {
        self.set_trashed(owner, task_ids, true).await
    }

    async fn restore_tasks(&self, owner: &Owner, task_ids: &[String]) -> StoreResult<Vec<String>> {
        self.set_trashed(owner, task_ids, false).await
    }

    async fn list_trash(&self, owner: &Owner) -> StoreResult<Vec<TaskRecord>> {
        let sql = format!(
            "SELECT {} FROM tasks WHERE tenant_id = $1 AND user_id = $2 AND is_deleted = TRUE \
             ORDER BY deleted_at DESC, id DESC",
            super::tasks::TASK_COLUMNS
        );
        self.opened(
            on_pool!(self, pool => scoped!(pool, Scope::Tenant(&owner.tenant_id), tx =>
            sqlx::query_as::<_, TaskRecord>(&sql)
            .bind(&owner.tenant_id).bind(&owner.user_id).fetch_all(&mut *tx).await?)),
        )
    }
}

impl SqlStore {
    /// Moves tasks into (`trashed`) or out of the trash in one transaction; returns the ids that
    /// changed (others' tasks and tasks already in the target state are skipped).
    async fn set_trashed(
        &self,
        owner: &Owner,
        task_ids: &[String],
        trashed: bool,
    ) -> StoreResult<Vec<String>> {
        let now = Utc::now();
        let deleted_at = trashed.then_some(now);
        on_pool!(self, pool => {
            let mut tx = scoped_tx!(pool, Scope::Tenant(&owner.tenant_id));
            let mut changed = Vec::new();
            for id in distinct(task_ids) {
                let rows = sqlx::query(
                    "UPDATE tasks SET is_deleted = $4, deleted_at = $5, updated_at = $6 \
                     WHERE id = $1 AND tenant_id = $2 AND user_id = $3 AND is_deleted = $7")
                    .bind(id).bind(&owner.tenant_id).bind(&owner.user_id).bind(trashed).bind(deleted_at)
                    .bind(now).bind(!trashed)
                    .execute(&mut *tx).await?.rows_affected();
                if rows == 1 {
                    changed.push(id.to_string());
                }
            }
            tx.commit().await?;
            Ok(changed)
        })
    }
}
