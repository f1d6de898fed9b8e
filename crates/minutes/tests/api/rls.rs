//! PostgreSQL row-level security (migration 0006): a query that forgets its tenant filter still
//! sees nothing of another tenant, writes cannot cross tenants, and the startup check names a
//! connection that would bypass it. PostgreSQL only: skipped without MINUTES_TEST_POSTGRES_URL.
use std::collections::BTreeSet;
use std::str::FromStr;

use axum::http::{Method, StatusCode};
use serde_json::json;
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};

use crate::helpers::{pg_app_url, postgres_url, TestApp, PG_APP_ROLE};
use minutes::app::check_database_role;
use minutes::config::Profile;
use minutes::domain::ids;
use minutes::store::sql::ConnectOptions;
use minutes::store::{DatabaseRole, SqlStore};

/// Every tenant-owned table and its tenant column.
const TABLES: &[(&str, &str)] = &[
    ("tenants", "id"),
    ("users", "tenant_id"),
    ("folders", "tenant_id"),
    ("uploads", "tenant_id"),
    ("tasks", "tenant_id"),
    ("task_files", "tenant_id"),
    ("task_steps", "tenant_id"),
    ("task_events", "tenant_id"),
    ("transcript_revisions", "tenant_id"),
    ("speaker_mappings", "tenant_id"),
    ("artifacts", "tenant_id"),
    ("search_documents", "tenant_id"),
    ("jobs", "tenant_id"),
    ("audit_logs", "tenant_id"),
    ("cost_records", "tenant_id"),
    ("api_keys", "tenant_id"),
    ("refresh_tokens", "tenant_id"),
    ("prompt_templates", "tenant_id"),
    ("hotword_sets", "tenant_id"),
    ("speakers", "tenant_id"),
    ("voiceprint_features", "tenant_id"),
];

/// Tables where both tenants of the test certainly have rows.
const BOTH_TENANTS: &[&str] = &[
    "tenants",
    "users",
    "folders",
    "uploads",
    "tasks",
    "task_files",
    "task_steps",
    "task_events",
    "transcript_revisions",
    "artifacts",
    "search_documents",
    "jobs",
    "audit_logs",
    "api_keys",
    "refresh_tokens",
    "prompt_templates",
    "hotword_sets",
];

/// Global rows (no tenant) that every tenant reads.
const GLOBAL_READABLE: &[&str] = &["prompt_templates", "hotword_sets"];

/// What a raw transaction sets before its statement.
#[derive(Clone, Copy)]
enum Setting<'a> {
    Nothing,
    Tenant(&'a str),
    System,
}

/// A raw connection as the app role (the one the test app uses), in the test's schema. One
/// connection, so every transaction below reuses it: a scope must not outlive its transaction.
async fn raw_pool(t: &TestApp) -> PgPool {
    let schema = t.pg_schema().expect("a PostgreSQL test");
    let options = PgConnectOptions::from_str(&t.app.config.database.url)
        .unwrap()
        .options([("search_path", schema)]);
    assert_eq!(options.get_username(), PG_APP_ROLE);
    PgPoolOptions::new()
        .max_connections(1)
        .connect_with(options)
        .await
        .unwrap()
}

async fn begin(pool: &PgPool, setting: Setting<'_>) -> sqlx::Transaction<'static, sqlx::Postgres> {
    let mut tx = pool.begin().await.unwrap();
    let (tenant, scope) = match setting {
        Setting::Nothing => return tx,
        Setting::Tenant(tenant) => (tenant, "tenant"),
        Setting::System => ("", "system"),
    };
    sqlx::query("SELECT set_config('app.tenant_id', $1, true), set_config('app.scope', $2, true)")
        .bind(tenant)
        .bind(scope)
        .execute(&mut *tx)
        .await
        .unwrap();
    tx
}

/// The tenants (`""` for rows of none) of every row of `table`, by a query with NO tenant filter.
async fn tenants_in(
    pool: &PgPool,
    setting: Setting<'_>,
    table: &str,
    column: &str,
) -> BTreeSet<String> {
    let mut tx = begin(pool, setting).await;
    let rows: Vec<String> = sqlx::query_scalar(&format!(
        "SELECT DISTINCT COALESCE({column}, '') FROM {table}"
    ))
    .fetch_all(&mut *tx)
    .await
    .unwrap();
    tx.commit().await.unwrap();
    rows.into_iter().collect()
}

/// Two tenants with a finished task, a folder, an API key, a private template and a tenant
/// hotword set each, plus a global hotword set made by an operator.
async fn two_tenants(t: &TestApp) -> (String, String) {
    for user in ["rls_a", "rls_b"] {
        let token = t.login(user).await;
        t.create_two_part_task(&token).await;
        let (code, body) = t
            .post_json("/api/v1/folders", &token, &json!({"name": "board"}))
            .await;
        assert_eq!(code, StatusCode::CREATED, "{body}");
        let (code, body) = t
            .post_json("/api/v1/api-keys", &token, &json!({"name": "reporting"}))
            .await;
        assert_eq!(code, StatusCode::CREATED, "{body}");
        let (code, body) = t
            .post_json(
                "/api/v1/prompt-templates",
                &token,
                &json!({"title": "mine", "prompt_body": "{transcript}", "artifact_type": "summary_notes"}),
            )
            .await;
        assert_eq!(code, StatusCode::CREATED, "{body}");
        let scope = if user == "rls_a" { "global" } else { "tenant" };
        let (code, body) = t
            .multipart(
                Method::POST,
                "/api/v1/hotword-sets",
                &token,
                &[
                    ("name", None, b"terms"),
                    ("scope", None, scope.as_bytes()),
                    ("asr_language", None, b"zh-CN"),
                    (
                        "hotwords_file",
                        Some("words.txt"),
                        "订单服务\n连接池\n".as_bytes(),
                    ),
                ],
            )
            .await;
        assert_eq!(code, StatusCode::CREATED, "{body}");
    }
    // Tenant A's second set is its own (the first was global).
    let token = t.login("rls_a").await;
    let (code, body) = t
        .multipart(
            Method::POST,
            "/api/v1/hotword-sets",
            &token,
            &[
                ("name", None, b"mine"),
                ("scope", None, b"user"),
                ("asr_language", None, b"zh-CN"),
                ("hotwords_file", Some("words.txt"), "复盘\n".as_bytes()),
            ],
        )
        .await;
    assert_eq!(code, StatusCode::CREATED, "{body}");
    t.run_jobs_until_idle().await;
    (ids::tenant_id_for("rls_a"), ids::tenant_id_for("rls_b"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_query_without_a_tenant_filter_sees_only_the_scoped_tenant() {
    if postgres_url().is_none() {
        return;
    }
    let t = TestApp::with(crate::helpers::TestOptions {
        configure: Box::new(|c| c.auth.operators = vec![ids::user_id_for("rls_a")]),
        ..Default::default()
    })
    .await;
    let (a, b) = two_tenants(&t).await;
    let pool = raw_pool(&t).await;
    for &(table, column) in TABLES {
        let all = tenants_in(&pool, Setting::System, table, column).await;
        if BOTH_TENANTS.contains(&table) {
            assert!(all.contains(&a) && all.contains(&b), "{table}: {all:?}");
        }
        // (a) Scoped to A: A's rows (and the global ones where those are shared), never B's.
        let mut expected: BTreeSet<String> = all.iter().filter(|t| **t == a).cloned().collect();
        if GLOBAL_READABLE.contains(&table) && all.contains("") {
            expected.insert(String::new());
        }
        let seen = tenants_in(&pool, Setting::Tenant(&a), table, column).await;
        assert_eq!(seen, expected, "{table} scoped to {a}");
        // (b) Nothing set (and right after a scoped transaction on the same connection): no rows.
        let seen = tenants_in(&pool, Setting::Nothing, table, column).await;
        assert!(seen.is_empty(), "{table} without a scope: {seen:?}");
        let seen = tenants_in(&pool, Setting::Tenant(""), table, column).await;
        assert!(seen.is_empty(), "{table} with an empty tenant: {seen:?}");
    }
    pool.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_cannot_cross_tenants_or_touch_global_rows() {
    if postgres_url().is_none() {
        return;
    }
    let t = TestApp::with(crate::helpers::TestOptions {
        configure: Box::new(|c| c.auth.operators = vec![ids::user_id_for("rls_a")]),
        ..Default::default()
    })
    .await;
    let (a, b) = two_tenants(&t).await;
    let pool = raw_pool(&t).await;
    let refused = |e: sqlx::Error| {
        let message = e.to_string();
        assert!(message.contains("row-level security"), "{message}");
    };

    // (c) An INSERT for B while scoped to A fails WITH CHECK.
    let mut tx = begin(&pool, Setting::Tenant(&a)).await;
    let insert = sqlx::query(
        "INSERT INTO audit_logs (tenant_id, action, resource_type, resource_id, details, created_at) \
         VALUES ($1, 'rls.probe', 'task', 'x', '{}', now())",
    )
    .bind(&b)
    .execute(&mut *tx)
    .await;
    refused(insert.unwrap_err());
    drop(tx);

    // Moving A's task to B is refused too; B's tasks are not even visible to update.
    let mut tx = begin(&pool, Setting::Tenant(&a)).await;
    refused(
        sqlx::query("UPDATE tasks SET tenant_id = $1")
            .bind(&b)
            .execute(&mut *tx)
            .await
            .unwrap_err(),
    );
    drop(tx);
    let mut tx = begin(&pool, Setting::Tenant(&a)).await;
    let touched = sqlx::query("UPDATE tasks SET name = 'renamed' WHERE tenant_id = $1")
        .bind(&b)
        .execute(&mut *tx)
        .await
        .unwrap()
        .rows_affected();
    assert_eq!(touched, 0, "B's tasks are invisible to A");
    let deleted = sqlx::query("DELETE FROM artifacts")
        .execute(&mut *tx)
        .await
        .unwrap()
        .rows_affected();
    assert!(deleted > 0, "A's own artifacts are deletable");
    tx.rollback().await.unwrap();

    // Global rows: every tenant reads them, none writes them outside the system scope.
    let mut tx = begin(&pool, Setting::Tenant(&a)).await;
    for table in GLOBAL_READABLE {
        let sql = format!("UPDATE {table} SET updated_at = now() WHERE scope = 'global'");
        let rows = sqlx::query(&sql).execute(&mut *tx).await.unwrap();
        assert_eq!(
            rows.rows_affected(),
            0,
            "{table}: global rows are read-only to a tenant"
        );
    }
    refused(
        sqlx::query(
            "INSERT INTO prompt_templates (id, tenant_id, owner_user_id, title, prompt_body, artifact_type, \
             supported_languages, parameter_schema, scope, created_at, updated_at) \
             VALUES ('tpl_rls', NULL, NULL, 'x', '{transcript}', 'summary_notes', '[]', '{}', 'global', now(), now())",
        )
        .execute(&mut *tx)
        .await
        .unwrap_err(),
    );
    drop(tx);
    let mut tx = begin(&pool, Setting::System).await;
    let rows = sqlx::query("UPDATE hotword_sets SET updated_at = now() WHERE scope = 'global'")
        .execute(&mut *tx)
        .await
        .unwrap();
    assert!(
        rows.rows_affected() >= 1,
        "the system scope writes global rows"
    );
    tx.rollback().await.unwrap();

    // Nothing set: writes find no rows and inserts are refused.
    let mut tx = begin(&pool, Setting::Nothing).await;
    let rows = sqlx::query("DELETE FROM tasks")
        .execute(&mut *tx)
        .await
        .unwrap();
    assert_eq!(rows.rows_affected(), 0);
    refused(
        sqlx::query(
            "INSERT INTO audit_logs (tenant_id, action, resource_type, resource_id, details, created_at) \
             VALUES ($1, 'rls.probe', 'task', 'x', '{}', now())",
        )
        .bind(&a)
        .execute(&mut *tx)
        .await
        .unwrap_err(),
    );
    drop(tx);
    pool.close().await;
}

/// A table that carries tenant data but has no forced policy would silently fall outside the
/// isolation: every table with a `tenant_id` column (and `tenants`) must have one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_table_with_a_tenant_column_has_forced_row_level_security() {
    if postgres_url().is_none() {
        return;
    }
    let t = TestApp::new().await;
    let pool = raw_pool(&t).await;
    let tables: Vec<(String, bool, bool, i64)> = sqlx::query_as(
        "SELECT c.relname::text, c.relrowsecurity, c.relforcerowsecurity, \
         (SELECT COUNT(*) FROM pg_policy p WHERE p.polrelid = c.oid) \
         FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
         WHERE n.nspname = current_schema() AND c.relkind = 'r' \
         AND (c.relname = 'tenants' OR EXISTS (SELECT 1 FROM pg_attribute a \
              WHERE a.attrelid = c.oid AND a.attname = 'tenant_id' AND NOT a.attisdropped)) \
         ORDER BY 1",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    let names: Vec<&str> = tables.iter().map(|(n, ..)| n.as_str()).collect();
    for (table, _) in TABLES {
        assert!(names.contains(table), "{table} missing from {names:?}");
    }
    for (table, enabled, forced, policies) in &tables {
        assert!(
            *enabled && *forced && *policies > 0,
            "{table}: row-level security enabled {enabled}, forced {forced}, {policies} policies"
        );
    }
    pool.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_startup_check_reports_a_role_that_bypasses_row_level_security() {
    // Without a database: SQLite has nothing to check; a BYPASSRLS role is named as such.
    check_database_role(Profile::Production, None).unwrap();
    let bypass = DatabaseRole {
        name: "etl".into(),
        superuser: false,
        bypass_rls: true,
    };
    let err = check_database_role(Profile::Production, Some(&bypass)).unwrap_err();
    assert!(err.to_string().contains("`etl` has BYPASSRLS"), "{err}");

    let Some(admin) = postgres_url() else {
        return;
    };
    let connect = |url: String| async move {
        SqlStore::connect(&ConnectOptions {
            url,
            max_connections: 2,
            pg_schema: None,
        })
        .await
        .unwrap()
    };
    // The test administrator is a superuser: refused in production, a warning elsewhere.
    let store = connect(admin.clone()).await;
    let role = store
        .database_role()
        .await
        .unwrap()
        .expect("a PostgreSQL role");
    assert!(role.superuser && role.bypasses_rls(), "{role:?}");
    let err = check_database_role(Profile::Production, Some(&role))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("is a superuser") && err.contains("NOSUPERUSER NOBYPASSRLS"),
        "{err}"
    );
    check_database_role(Profile::Development, Some(&role)).unwrap();
    store.close().await;

    // The app role of the test suite passes in production.
    let store = connect(pg_app_url(&admin).await).await;
    let role = store
        .database_role()
        .await
        .unwrap()
        .expect("a PostgreSQL role");
    assert_eq!(
        role,
        DatabaseRole {
            name: PG_APP_ROLE.into(),
            superuser: false,
            bypass_rls: false
        }
    );
    check_database_role(Profile::Production, Some(&role)).unwrap();
    store.close().await;
}
