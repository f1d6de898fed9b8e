//! Upgrades with data: a database filled with rows at every migration level
//! (`fixtures/migrations/<level>.sql`, one file per migration, the same SQL on both databases)
//! migrates up to head with every row kept, and down to nothing and up again, on SQLite and (with
//! MINUTES_TEST_POSTGRES_URL) PostgreSQL; the data reaches head identical on both.
use std::path::PathBuf;

use crate::data_copy::empty_database;
use crate::helpers::postgres_url;
use minutes::store::sql::ConnectOptions;
use minutes::store::{Migrator, SqlStore, Store};

fn fixture(level: i64) -> Option<String> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join(format!("tests/api/fixtures/migrations/{level:04}.sql"));
    std::fs::read_to_string(path).ok()
}

/// Runs a fixture as the application role would write rows (PostgreSQL: in the system scope).
async fn execute(opts: &ConnectOptions, sql: &str) {
    use sqlx::Connection;
    if let Some(schema) = &opts.pg_schema {
        let mut conn = sqlx::PgConnection::connect(&opts.url).await.unwrap();
        let prologue = format!(
            "SET search_path TO \"{schema}\"; SELECT set_config('app.scope', 'system', false);"
        );
        sqlx::raw_sql(&prologue).execute(&mut conn).await.unwrap();
        sqlx::raw_sql(sql)
            .execute(&mut conn)
            .await
            .unwrap_or_else(|e| panic!("{e}\n{sql}"));
        conn.close().await.unwrap();
    } else {
        let mut conn = sqlx::SqliteConnection::connect(&opts.url).await.unwrap();
        sqlx::raw_sql(sql)
            .execute(&mut conn)
            .await
            .unwrap_or_else(|e| panic!("{e}\n{sql}"));
        conn.close().await.unwrap();
    }
}

/// Fills the database level by level, migrates to head, and returns every table's digest there.
async fn upgrade_with_data(opts: &ConnectOptions) -> Vec<(String, u64, String)> {
    let store = SqlStore::connect(opts).await.unwrap();
    let m = Migrator::new(&store);
    let levels: Vec<i64> = m
        .status()
        .await
        .unwrap()
        .iter()
        .map(|s| s.version)
        .collect();
    assert!(levels.len() >= 12, "{levels:?}");
    for &level in &levels {
        m.up_to(level).await.unwrap();
        let applied = m.status().await.unwrap();
        assert!(applied.iter().all(|s| s.applied == (s.version <= level)));
        let sql = fixture(level).unwrap_or_else(|| {
            panic!("tests/api/fixtures/migrations/{level:04}.sql is missing: every migration comes with rows valid at its level")
        });
        execute(opts, &sql).await;
    }
    m.up().await.unwrap();
    let mut snap = store.snapshot().await.unwrap();
    let digests: Vec<(String, u64, String)> = snap
        .digests()
        .await
        .unwrap()
        .into_iter()
        .map(|(n, d)| (n.to_string(), d.rows, d.hex()))
        .collect();
    snap.finish().await.unwrap();
    let rows = |t: &str| digests.iter().find(|d| d.0 == t).unwrap().1;
    // Every level's rows are still there at head (jobs: the dead and the queued one).
    for (table, n) in [
        ("tenants", 1),
        ("folders", 2),
        ("tasks", 2),
        ("task_events", 2),
        ("artifacts", 2),
        ("cost_records", 2),
        ("api_keys", 1),
        ("speakers", 1),
        ("voiceprint_features", 1),
        ("refresh_tokens", 1),
        ("jobs", 2),
    ] {
        assert_eq!(rows(table), n, "{table}");
    }
    // Down to nothing with the data in place, one migration at a time, then up again.
    let mut reverted = 0;
    while m.down().await.unwrap().is_some() {
        reverted += 1;
    }
    assert_eq!(reverted, levels.len());
    assert!(m.status().await.unwrap().iter().all(|s| !s.applied));
    m.up().await.unwrap();
    store.ping().await.unwrap();
    store.close().await;
    digests
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rows_written_at_every_migration_level_survive_the_upgrade_and_the_way_down() {
    let dir = tempfile::tempdir().unwrap();
    let sqlite = ConnectOptions {
        url: format!("sqlite://{}", dir.path().join("levels.db").display()),
        max_connections: 2,
        pg_schema: None,
    };
    let on_sqlite = upgrade_with_data(&sqlite).await;
    if postgres_url().is_some() {
        let pg = empty_database(dir.path(), "unused").await;
        let on_postgres = upgrade_with_data(&pg).await;
        // The same rows, migrated by each database's own scripts, are the same data at head.
        assert_eq!(on_postgres, on_sqlite);
    }
}
