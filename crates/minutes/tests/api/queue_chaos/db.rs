//! The deployment's database as the test sees it: a fresh schema owned by the application role
//! (the processes connect as that role, under row-level security), and an administrator pool on
//! the same schema for the test's own reads of `jobs`, `workers` and `task_steps`. Reading the
//! tables directly is the point: the API does not show lease generations or which worker holds a
//! job, and polling them is how the test waits for a job to be mid-stage instead of sleeping.
use crate::processes::SchemaGuard;
use std::collections::BTreeMap;
use std::time::Duration;

use sqlx::postgres::{PgPool, PgPoolOptions};

use crate::helpers::create_app_schema;

/// Used when `MINUTES_TEST_POSTGRES_URL` is not set: the chaos suite always needs PostgreSQL
/// (several processes share one database), and fails when it is not there.
const LOCAL_POSTGRES: &str = "postgres://postgres@127.0.0.1:5432/test";

pub struct Db {
    /// What every `minutes` process gets as `database.url`.
    pub app_url: String,
    pool: PgPool,
    // Last: dropped after the pool.
    _schema: SchemaGuard,
}

/// A running stage job and the lease it was claimed with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Leased {
    pub job_id: String,
    pub kind: String,
    pub lease_gen: i64,
}

fn with_search_path(url: &str, schema: &str) -> String {
    let mut url = url::Url::parse(url).expect("a PostgreSQL URL");
    url.query_pairs_mut()
        .append_pair("options[search_path]", schema);
    url.to_string()
}

impl Db {
    /// A schema on the shared server (`MINUTES_TEST_POSTGRES_URL`, else 127.0.0.1:5432/test).
    pub async fn shared() -> Db {
        let admin = crate::helpers::postgres_url().unwrap_or_else(|| LOCAL_POSTGRES.to_string());
        Db::on(&admin).await
    }

    /// A schema on the server `admin_url` names (a superuser, e.g. of a private cluster).
    pub async fn on(admin_url: &str) -> Db {
        let schema = format!("chaos_{}", uuid::Uuid::new_v4().simple());
        let app_url = create_app_schema(admin_url, &schema).await;
        let pool = PgPoolOptions::new()
            .max_connections(2)
            .acquire_timeout(Duration::from_secs(3))
            .connect_lazy(&with_search_path(admin_url, &schema))
            .expect("the administrator URL parses");
        Db {
            app_url: with_search_path(&app_url, &schema),
            pool,
            _schema: SchemaGuard {
                admin_url: admin_url.to_string(),
                name: schema,
            },
        }
    }

    /// The stage job `pid`'s worker runs (transcription first), if any.
    pub async fn running_stage_of(&self, pid: u32) -> sqlx::Result<Vec<Leased>> {
        let rows: Vec<(String, String, i64)> = sqlx::query_as(
            "SELECT j.id, j.kind, j.lease_gen FROM jobs j JOIN workers w ON w.id = j.locked_by \
             WHERE j.state = 'running' AND w.pid = $1 AND j.task_id IS NOT NULL \
             ORDER BY j.kind = 'transcribe' DESC, j.id",
        )
        .bind(i64::from(pid))
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .into_iter()
            .map(|(job_id, kind, lease_gen)| Leased {
                job_id,
                kind,
                lease_gen,
            })
            .collect())
    }

    /// Whether `job` is still held by the lease it was seen with (so the kill interrupted it).
    pub async fn still_leased(&self, job: &Leased) -> bool {
        let row: Option<(String, i64)> =
            sqlx::query_as("SELECT state, lease_gen FROM jobs WHERE id = $1")
                .bind(&job.job_id)
                .fetch_optional(&self.pool)
                .await
                .expect("reading a job");
        row == Some(("running".to_string(), job.lease_gen))
    }

    /// Stage jobs running (under any worker) and finished.
    pub async fn running_and_done(&self) -> sqlx::Result<(i64, i64)> {
        sqlx::query_as(
            "SELECT COUNT(*) FILTER (WHERE state = 'running'), COUNT(*) FILTER (WHERE state = 'done') \
             FROM jobs WHERE task_id IS NOT NULL",
        )
        .fetch_one(&self.pool)
        .await
    }

    /// Every task's state.
    pub async fn task_states(&self) -> sqlx::Result<BTreeMap<String, String>> {
        let rows: Vec<(String, String)> = sqlx::query_as("SELECT id, state FROM tasks")
            .fetch_all(&self.pool)
            .await?;
        Ok(rows.into_iter().collect())
    }

    /// Jobs created after `since` (the moment a broker or the database went away).
    pub async fn jobs_created_since(
        &self,
        since: chrono::DateTime<chrono::Utc>,
    ) -> sqlx::Result<i64> {
        sqlx::query_scalar(
            "SELECT COUNT(*) FROM jobs WHERE created_at > $1 AND task_id IS NOT NULL",
        )
        .bind(since)
        .fetch_one(&self.pool)
        .await
    }

    /// Every stage job of the tasks: (task, kind, state, lease generation, attempts).
    pub async fn stage_jobs(&self) -> Vec<(String, String, String, i64, i64)> {
        sqlx::query_as(
            "SELECT task_id, kind, state, lease_gen, attempts FROM jobs WHERE task_id IS NOT NULL \
             ORDER BY task_id, kind",
        )
        .fetch_all(&self.pool)
        .await
        .expect("reading the jobs")
    }

    /// Every step record: (task, step, status).
    pub async fn steps(&self) -> Vec<(String, String, String)> {
        sqlx::query_as("SELECT task_id, step, status FROM task_steps ORDER BY task_id, step")
            .fetch_all(&self.pool)
            .await
            .expect("reading the task steps")
    }

    /// Transcript revisions per task (the pipeline writes exactly one).
    pub async fn transcript_revisions(&self) -> BTreeMap<String, i64> {
        let rows: Vec<(String, i64)> =
            sqlx::query_as("SELECT task_id, COUNT(*) FROM transcript_revisions GROUP BY task_id")
                .fetch_all(&self.pool)
                .await
                .expect("reading the transcript revisions");
        rows.into_iter().collect()
    }
}
