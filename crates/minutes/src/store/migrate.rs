//! Reversible migrations from `migrations/sqlite` and `migrations/postgres`, embedded at build time.
use sqlx::migrate::Migrate;

use super::sql::{Pool, SqlStore};
use super::StoreResult;

static SQLITE: sqlx::migrate::Migrator = sqlx::migrate!("../../migrations/sqlite");
static POSTGRES: sqlx::migrate::Migrator = sqlx::migrate!("../../migrations/postgres");

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MigrationStatus {
    pub version: i64,
    pub description: String,
    pub applied: bool,
}

/// `minutes migrate up|down|status` against the store's database.
pub struct Migrator<'a> {
    store: &'a SqlStore,
}

impl<'a> Migrator<'a> {
    pub fn new(store: &'a SqlStore) -> Self {
        Migrator { store }
    }

    pub async fn up(&self) -> StoreResult<()> {
        match &self.store.pool {
            Pool::Sqlite(p) => SQLITE.run(p).await?,
            Pool::Postgres(p) => POSTGRES.run(p).await?,
        }
        Ok(())
    }

    /// Applies pending migrations up to and including `version` (the upgrade tests step
    /// through every level with data).
    pub async fn up_to(&self, version: i64) -> StoreResult<()> {
        let subset = |m: &sqlx::migrate::Migrator| sqlx::migrate::Migrator {
            migrations: m
                .migrations
                .iter()
                .filter(|x| x.version <= version)
                .cloned()
                .collect(),
            ..sqlx::migrate::Migrator::DEFAULT
        };
        match &self.store.pool {
            Pool::Sqlite(p) => subset(&SQLITE).run(p).await?,
            Pool::Postgres(p) => subset(&POSTGRES).run(p).await?,
        }
        Ok(())
    }

    /// Reverts the most recent applied migration; returns its version, if any.
    pub async fn down(&self) -> StoreResult<Option<i64>> {
        let applied: Vec<i64> = self
            .status()
            .await?
            .into_iter()
            .filter(|m| m.applied)
            .map(|m| m.version)
            .collect();
        let Some(&latest) = applied.last() else {
            return Ok(None);
        };
        let target = applied.iter().rev().nth(1).copied().unwrap_or(0);
        match &self.store.pool {
            Pool::Sqlite(p) => SQLITE.undo(p, target).await?,
            Pool::Postgres(p) => POSTGRES.undo(p, target).await?,
        }
        Ok(Some(latest))
    }

    pub async fn status(&self) -> StoreResult<Vec<MigrationStatus>> {
        let (migrator, applied): (&sqlx::migrate::Migrator, Vec<i64>) = match &self.store.pool {
            Pool::Sqlite(p) => {
                let mut conn = p.acquire().await?;
                conn.ensure_migrations_table().await?;
                (
                    &SQLITE,
                    conn.list_applied_migrations()
                        .await?
                        .iter()
                        .map(|m| m.version)
                        .collect(),
                )
            }
            Pool::Postgres(p) => {
                let mut conn = p.acquire().await?;
                conn.ensure_migrations_table().await?;
                (
                    &POSTGRES,
                    conn.list_applied_migrations()
                        .await?
                        .iter()
                        .map(|m| m.version)
                        .collect(),
                )
            }
        };
        Ok(migrator
            .iter()
            .filter(|m| m.migration_type.is_up_migration())
            .map(|m| MigrationStatus {
                version: m.version,
                description: m.description.to_string(),
                applied: applied.contains(&m.version),
            })
            .collect())
    }
}
