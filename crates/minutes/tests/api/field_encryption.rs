//! Field-level encryption: personal fields are ciphertext in the database and clear text in the
//! API; `rotate-key` moves every value to a new key (and encrypts legacy plaintext) while the
//! old key can then be removed.
use std::str::FromStr;
use std::sync::Arc;

use axum::http::{Method, StatusCode};
use serde_json::{json, Value};
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::sqlite::SqlitePool;

use crate::engines::{minutes_json, ScriptedVoiceprint};
use crate::helpers::{test_config, TestApp, TestOptions};
use minutes::cli::admin::rotate_keys;
use minutes::config::Profile;
use minutes::crypto::{read_key_file, KeyEntry, DEFAULT_KEY_FILE};

/// The database read and written around the store, as an operator (or an attacker with a dump)
/// would see it.
enum Raw {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

impl Raw {
    async fn open(t: &TestApp) -> Raw {
        let url = &t.app.config.database.url;
        match t.pg_schema() {
            None => Raw::Sqlite(SqlitePool::connect(url).await.unwrap()),
            Some(schema) => {
                let options = PgConnectOptions::from_str(url)
                    .unwrap()
                    .options([("search_path", schema)]);
                Raw::Postgres(
                    PgPoolOptions::new()
                        .max_connections(1)
                        .connect_with(options)
                        .await
                        .unwrap(),
                )
            }
        }
    }

    /// The one text column of every row `sql` returns (row-level security: system scope).
    async fn texts(&self, sql: &str) -> Vec<String> {
        match self {
            Raw::Sqlite(pool) => sqlx::query_scalar(sql).fetch_all(pool).await.unwrap(),
            Raw::Postgres(pool) => {
                let mut tx = pool.begin().await.unwrap();
                sqlx::query("SELECT set_config('app.scope', 'system', true)")
                    .execute(&mut *tx)
                    .await
                    .unwrap();
                let rows = sqlx::query_scalar(sql).fetch_all(&mut *tx).await.unwrap();
                tx.commit().await.unwrap();
                rows
            }
        }
    }

    async fn execute(&self, sql: &str) {
        match self {
            Raw::Sqlite(pool) => {
                sqlx::query(sql).execute(pool).await.unwrap();
            }
            Raw::Postgres(pool) => {
                let mut tx = pool.begin().await.unwrap();
                sqlx::query("SELECT set_config('app.scope', 'system', true)")
                    .execute(&mut *tx)
                    .await
                    .unwrap();
                sqlx::query(sql).execute(&mut *tx).await.unwrap();
                tx.commit().await.unwrap();
            }
        }
    }

    async fn close(self) {
        match self {
            Raw::Sqlite(pool) => pool.close().await,
            Raw::Postgres(pool) => pool.close().await,
        }
    }

    /// Every stored value that can hold personal data, one string per row and column.
    async fn personal_columns(&self, task_id: &str) -> Vec<String> {
        let mut all = Vec::new();
        for sql in [
            format!("SELECT CAST(mapping AS TEXT) FROM speaker_mappings WHERE task_id = '{task_id}'"),
            format!("SELECT CAST(content AS TEXT) FROM artifacts WHERE task_id = '{task_id}'"),
            format!("SELECT CAST(metadata AS TEXT) FROM artifacts WHERE task_id = '{task_id}'"),
            format!(
                "SELECT COALESCE(CAST(result AS TEXT), '') FROM task_steps WHERE task_id = '{task_id}'"
            ),
            format!("SELECT COALESCE(confirmed_by, '') FROM tasks WHERE id = '{task_id}'"),
            format!("SELECT COALESCE(confirmed_by_name, '') FROM tasks WHERE id = '{task_id}'"),
        ] {
            all.extend(self.texts(&sql).await);
        }
        all
    }

    /// What else may carry names: the search index, history and the audit log.
    async fn side_tables(&self, task_id: &str) -> Vec<String> {
        let mut all = Vec::new();
        for sql in [
            format!("SELECT text FROM search_documents WHERE task_id = '{task_id}' AND kind = 'artifact'"),
            format!("SELECT reason FROM task_events WHERE task_id = '{task_id}'"),
            format!("SELECT CAST(details AS TEXT) FROM audit_logs WHERE resource_id = '{task_id}'"),
        ] {
            all.extend(self.texts(&sql).await);
        }
        all
    }
}

/// The key ids of the sealed values in `texts` (`enc1:<kid>:…`).
fn kids(texts: &[String]) -> Vec<String> {
    let mut out: Vec<String> = texts
        .iter()
        .flat_map(|t| t.match_indices("enc1:").map(move |(i, _)| &t[i + 5..]))
        .filter_map(|rest| rest.split(':').next().map(str::to_string))
        .collect();
    out.sort();
    out.dedup();
    out
}

fn assert_no_names(texts: &[String], names: &[&str]) {
    for text in texts {
        for name in names {
            assert!(
                !text.contains(name),
                "`{name}` in clear in the database: {text}"
            );
        }
    }
}

async fn api_view(t: &TestApp, token: &str, task_id: &str) -> (Value, Value, Value) {
    let (code, transcript) = t
        .get(&format!("/api/v1/tasks/{task_id}/transcript"), token)
        .await;
    assert_eq!(code, StatusCode::OK, "{transcript}");
    let (_, versions) = t
        .get(
            &format!("/api/v1/tasks/{task_id}/artifacts/meeting_minutes/versions"),
            token,
        )
        .await;
    let id = versions["versions"][0]["artifact_id"].as_str().unwrap();
    let (code, detail) = t.get(&format!("/api/v1/artifacts/{id}"), token).await;
    assert_eq!(code, StatusCode::OK, "{detail}");
    let (code, export) = t
        .get(
            &format!("/api/v1/tasks/{task_id}/export?format=json"),
            token,
        )
        .await;
    assert_eq!(code, StatusCode::OK, "{export}");
    (
        transcript["speaker_mapping"].clone(),
        detail["artifact"]["content_object"].clone(),
        export,
    )
}

async fn assert_api_in_clear(t: &TestApp, token: &str, task_id: &str) {
    let (names, minutes, export) = api_view(t, token, task_id).await;
    assert_eq!(
        names,
        json!({"Speaker 1": "Priya Sharma", "Speaker 2": "张伟"})
    );
    assert_eq!(
        minutes["participants"],
        json!(["Priya Sharma", "Speaker 2"])
    );
    assert_eq!(minutes["action_items"][0]["owner"], "张伟");
    assert_eq!(minutes["responsible_person"], "陈静");
    assert!(minutes["watermark"].as_str().unwrap().contains("陈静"));
    let export = export.to_string();
    assert!(
        export.contains("Priya Sharma") && export.contains("陈静"),
        "{export}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn personal_fields_are_ciphertext_at_rest_and_rotate_to_a_new_key() {
    let mut t = TestApp::with(TestOptions {
        voiceprint: Some(Arc::new(ScriptedVoiceprint { fail: false })),
        ..Default::default()
    })
    .await;
    let key_file = t.dir.path().join(DEFAULT_KEY_FILE);
    let first = read_key_file(&key_file).expect("a key was generated in the data dir");
    assert_eq!(first.len(), 1);
    let k1 = first[0].kid.clone();

    let token = t.login("fe").await;
    let task_id = t.create_two_part_task(&token).await;
    t.run_jobs_until_idle().await;
    assert_eq!(t.task_status(&token, &task_id).await["state"], "success");
    let (code, body) = t
        .send_json(
            Method::PATCH,
            &format!("/api/v1/tasks/{task_id}/speakers"),
            &token,
            &json!({"speaker_mapping": {"Speaker 1": "Priya Sharma"}, "regenerate_artifacts": false}),
        )
        .await;
    assert_eq!(code, StatusCode::OK, "{body}");
    let items = json!({"key_conclusions": true, "responsible_persons": true});
    let (code, body) = t
        .post_json(
            &format!("/api/v1/tasks/{task_id}/confirm"),
            &token,
            &json!({"confirmation_items": items, "responsible_person": {"id": "u_42", "name": "陈静"}}),
        )
        .await;
    assert_eq!(code, StatusCode::OK, "{body}");
    assert_eq!(body["confirmed_by_name"], "陈静");

    // At rest: names, voiceprint ids and the responsible person are ciphertext under k1.
    let names = ["Priya", "张伟", "f_zw", "陈静", "u_42"];
    let raw = Raw::open(&t).await;
    let stored = raw.personal_columns(&task_id).await;
    assert_no_names(&stored, &names);
    assert_eq!(kids(&stored), vec![k1.clone()]);
    assert_no_names(&raw.side_tables(&task_id).await, &names);
    assert_api_in_clear(&t, &token, &task_id).await;

    // Values from before encryption still read, and the rotation encrypts them.
    let minutes_id = raw
        .texts(&format!(
            "SELECT id FROM artifacts WHERE task_id = '{task_id}' AND artifact_type = 'meeting_minutes'"
        ))
        .await
        .remove(0);
    let legacy = minutes_json("Incident review #1").to_string();
    raw.execute(&format!(
        "UPDATE artifacts SET content = '{legacy}' WHERE id = '{minutes_id}'"
    ))
    .await;
    raw.execute(&format!(
        "UPDATE search_documents SET text = '张伟 修复连接池', tokens = '张伟 修复 连接池' WHERE ref_id = '{minutes_id}'"
    ))
    .await;
    raw.execute(&format!(
        "UPDATE tasks SET confirmed_by_name = 'Legacy Li' WHERE id = '{task_id}'"
    ))
    .await;
    let (_, minutes, _) = api_view(&t, &token, &task_id).await;
    assert_eq!(minutes["action_items"][0]["owner"], "张伟");
    let tenant = raw
        .texts(&format!(
            "SELECT tenant_id FROM tasks WHERE id = '{task_id}'"
        ))
        .await
        .remove(0);
    let task = t
        .app
        .store
        .get_task_in_tenant(&tenant, &task_id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(task.confirmed_by_name.as_deref(), Some("Legacy Li"));

    // A new key becomes active: both keys read, new writes use it.
    let k2 = KeyEntry::generate("k2").unwrap();
    let text = std::fs::read_to_string(&key_file).unwrap();
    std::fs::write(&key_file, format!("{text}{}\n", k2.to_line())).unwrap();
    t.reopen(|_| {}).await;
    assert_eq!(t.app.sql.field_cipher().active_kid(), Some("k2"));
    assert_api_in_clear_except_legacy(&t, &token, &task_id).await;

    // Batches of two rows: several transactions per table.
    let summary = rotate_keys(&t.app.sql, 2, false).await.unwrap();
    assert_eq!(summary.active_kid, "k2");
    let values = summary.values();
    assert!(values.rotated >= 6, "{summary}");
    // The legacy artifact content (owner, two participants) and the responsible person's name.
    assert!(values.encrypted >= 4, "{summary}");
    assert!(summary.tables.iter().any(|t| t.batches > 1), "{summary:?}");
    let stored = raw.personal_columns(&task_id).await;
    assert_eq!(kids(&stored), vec!["k2".to_string()]);
    assert_no_names(&stored, &["Legacy Li"]);
    assert_no_names(&stored, &names);
    assert_no_names(&raw.side_tables(&task_id).await, &names);
    let task = t
        .app
        .store
        .get_task_in_tenant(&tenant, &task_id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(task.confirmed_by_name.as_deref(), Some("Legacy Li"));

    // Idempotent: a second run only reads.
    let again = rotate_keys(&t.app.sql, 500, false).await.unwrap();
    assert_eq!(again.values(), Default::default(), "{again}");
    assert!(again.tables.iter().all(|t| t.rewritten == 0), "{again}");

    // The old key can go.
    std::fs::write(&key_file, format!("{}\n", k2.to_line())).unwrap();
    t.reopen(|_| {}).await;
    assert_api_in_clear_except_legacy(&t, &token, &task_id).await;
    let task = t
        .app
        .store
        .get_task_in_tenant(&tenant, &task_id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(task.confirmed_by_name.as_deref(), Some("Legacy Li"));
    raw.close().await;
}

/// As `assert_api_in_clear`, for the rows the test rewrote as legacy plaintext.
async fn assert_api_in_clear_except_legacy(t: &TestApp, token: &str, task_id: &str) {
    let (names, minutes, _) = api_view(t, token, task_id).await;
    assert_eq!(
        names,
        json!({"Speaker 1": "Priya Sharma", "Speaker 2": "张伟"})
    );
    assert_eq!(
        minutes["participants"],
        json!(["Priya Sharma", "Speaker 2"])
    );
    assert_eq!(minutes["action_items"][0]["owner"], "张伟");
    assert_eq!(minutes["responsible_person"], "陈静");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn production_needs_a_configured_key_and_never_generates_one() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = test_config(dir.path());
    config.profile = Profile::Production;
    let err = minutes::app::field_cipher(&config).unwrap_err().to_string();
    assert!(
        err.contains("MINUTES_FIELD_KEYS") && err.contains("encryption.key_file"),
        "{err}"
    );
    assert!(!dir.path().join(DEFAULT_KEY_FILE).exists());
    let file = dir.path().join("keys");
    std::fs::write(&file, KeyEntry::generate("prod1").unwrap().to_line()).unwrap();
    config.encryption.key_file = file.display().to_string();
    let cipher = minutes::app::field_cipher(&config).unwrap();
    assert_eq!(cipher.active_kid(), Some("prod1"));
    config.encryption.active_key = "other".into();
    assert!(minutes::app::field_cipher(&config).is_err());
}
