//! `minutes import legacy`: each synthetic database of the original system imports to what its
//! `.expected.json` says, reads back through the normal API as the imported users, and a
//! second import (or a dry run) writes nothing.
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::PathBuf;

use axum::http::StatusCode;
use serde_json::Value;

use crate::helpers::TestApp;

fn legacy_file(name: &str) -> PathBuf {
    let base = std::env::var("MINUTES_TEST_LEGACY_DATA")
        .map(PathBuf::from)
        .unwrap_or_else(|_| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data/legacy")
        });
    let path = base.join(name);
    assert!(
        path.exists(),
        "{} is missing (set MINUTES_TEST_LEGACY_DATA)",
        path.display()
    );
    path
}

/// Our state for the original's, as docs/OPERATIONS.md tabulates it (written out here so a
/// change to the importer's table has to be a deliberate change to this one too).
fn our_state(original: &str) -> &'static str {
    match original {
        "success" => "success",
        "partial_success" => "partial_success",
        "cancelled" => "cancelled",
        "confirmed" | "archived" => "archived",
        "failed" | "pending" | "queued" | "running" | "transcribing" | "identifying"
        | "correcting" | "summarizing" => "failed",
        other => panic!("unexpected original state {other}"),
    }
}

async fn scalar(app: &TestApp, sql: &str) -> i64 {
    app.raw_texts(sql).await[0]
        .as_deref()
        .unwrap()
        .parse()
        .unwrap()
}

/// Rows of a query whose columns are concatenated with `|`.
async fn rows(app: &TestApp, sql: &str) -> BTreeMap<String, Vec<String>> {
    app.raw_texts(sql)
        .await
        .into_iter()
        .map(|r| {
            let parts: Vec<String> = r.unwrap().split('|').map(str::to_string).collect();
            (parts[0].clone(), parts[1..].to_vec())
        })
        .collect()
}

async fn check_variant(name: &str) {
    let db = legacy_file(&format!("{name}.db"));
    let expected: Value = serde_json::from_slice(
        &std::fs::read(legacy_file(&format!("{name}.expected.json"))).unwrap(),
    )
    .unwrap();
    let imported = &expected["imported"];
    let app = TestApp::new().await;
    let store = &app.app.sql;

    // A dry run reports the import and writes nothing.
    let dry = minutes::legacy::import(store, &db, true, &|_, _| {})
        .await
        .unwrap();
    assert_eq!(dry.imported("tasks"), imported["tasks"].as_u64().unwrap());
    assert_eq!(
        scalar(&app, "SELECT CAST(COUNT(*) AS TEXT) FROM tasks").await,
        0
    );
    assert_eq!(
        scalar(&app, "SELECT CAST(COUNT(*) AS TEXT) FROM users").await,
        0
    );

    let report = minutes::legacy::import(store, &db, false, &|_, _| {})
        .await
        .unwrap();
    assert_eq!(
        report.variant,
        expected["variant_detected"].as_str().unwrap()
    );
    for (ours, theirs) in [
        ("users", "users"),
        ("tenants", "tenants"),
        ("folders", "folders"),
        ("tasks", "tasks"),
        ("tasks_deleted", "tasks_deleted"),
        ("tasks_confirmed", "tasks_confirmed"),
        ("transcripts", "transcripts"),
        ("segments", "segments"),
        ("speaker_mappings", "speaker_mappings"),
        ("speakers", "speakers"),
        ("prompt_templates", "prompt_templates"),
        ("hotword_sets", "hotword_sets"),
        (
            "hotword_sets_needing_word_list",
            "hotword_sets_needing_word_list",
        ),
        ("artifacts", "artifacts"),
        ("artifacts_ok", "artifacts_ok"),
        ("artifacts_failed", "artifacts_failed"),
        ("artifacts_interrupted", "artifacts_interrupted"),
        ("audit_logs", "audit_logs"),
    ] {
        assert_eq!(
            report.imported(ours),
            imported[theirs].as_u64().unwrap(),
            "{name}: {ours}"
        );
    }
    assert_eq!(
        report.imported("audio_references_url"),
        imported["audio_references"]["url"].as_u64().unwrap()
    );
    assert_eq!(
        report.imported("audio_references_local"),
        imported["audio_references"]["local"].as_u64().unwrap()
    );
    assert_eq!(
        report.audio_not_fetched.len() as u64,
        imported["audio_references"]["url"].as_u64().unwrap()
            + imported["audio_references"]["local"].as_u64().unwrap()
    );
    // Every skipped row is reported with the expected reason, and only those.
    let skipped: BTreeSet<(String, String, String)> = report
        .skipped
        .iter()
        .map(|s| (s.table.clone(), s.key.to_string(), s.reason.clone()))
        .collect();
    let want: BTreeSet<(String, String, String)> = expected["skipped"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["table"].as_str().unwrap().into(),
                s["key"].to_string(),
                s["reason"].as_str().unwrap().into(),
            )
        })
        .collect();
    assert_eq!(skipped, want, "{name}: skipped rows");
    let fixups: BTreeSet<(String, String, String)> = report
        .fixups
        .iter()
        .map(|f| (f.table.clone(), f.key.clone(), f.reason.clone()))
        .collect();
    for f in expected["fixups"].as_array().unwrap() {
        let key = (
            f["table"].as_str().unwrap().into(),
            f["key"].as_str().unwrap().into(),
            f["reason"].as_str().unwrap().into(),
        );
        assert!(fixups.contains(&key), "{name}: fixup {key:?} not reported");
    }

    // What the database holds.
    assert_eq!(
        scalar(&app, "SELECT CAST(COUNT(*) AS TEXT) FROM tasks").await,
        imported["tasks"].as_i64().unwrap()
    );
    assert_eq!(
        scalar(&app, "SELECT CAST(COUNT(*) AS TEXT) FROM artifacts").await,
        imported["artifacts_ok"].as_i64().unwrap()
    );
    assert_eq!(
        scalar(
            &app,
            "SELECT CAST(COUNT(*) AS TEXT) FROM transcript_revisions"
        )
        .await,
        imported["transcripts"].as_i64().unwrap()
    );
    assert_eq!(
        scalar(
            &app,
            "SELECT CAST(COUNT(*) AS TEXT) FROM hotword_sets WHERE provider_sync_state = 'failed' \
                      AND provider_sync_error LIKE 'legacy_word_list_missing%'"
        )
        .await,
        imported["hotword_sets_needing_word_list"].as_i64().unwrap()
    );
    assert_eq!(
        scalar(&app, "SELECT CAST(COUNT(*) AS TEXT) FROM task_events WHERE reason LIKE 'generate_artifact failed%'").await,
        imported["artifacts_failed"].as_i64().unwrap()
    );
    let stored = rows(&app, "SELECT id || '|' || state || '|' || user_id || '|' || tenant_id || '|' || \
        CASE WHEN is_deleted THEN '1' ELSE '0' END || '|' || CASE WHEN is_confirmed THEN '1' ELSE '0' END || '|' || \
        COALESCE(folder_id, '') || '|' || COALESCE(hotword_set_id, '') FROM tasks").await;
    let tasks = expected["tasks"].as_object().unwrap();
    for (id, t) in tasks {
        let row = &stored[id];
        let flag = |k: &str| if t[k].as_bool().unwrap() { "1" } else { "0" };
        let s = |k: &str| t[k].as_str().unwrap_or_default().to_string();
        assert_eq!(
            row,
            &vec![
                our_state(t["state"].as_str().unwrap()).to_string(),
                s("owner"),
                s("tenant"),
                flag("deleted").into(),
                flag("confirmed").into(),
                s("folder_id"),
                s("hotword_set_id")
            ],
            "{name}: task {id}"
        );
    }

    // Through the API, as each owner after a dev login with the original username.
    let usernames = rows(&app, "SELECT id || '|' || username FROM users").await;
    let mut tokens: HashMap<String, String> = HashMap::new();
    let mut checked_transcripts = 0;
    for (id, t) in tasks {
        if t["deleted"].as_bool().unwrap() {
            continue;
        }
        let owner = t["owner"].as_str().unwrap();
        if !tokens.contains_key(owner) {
            tokens.insert(owner.into(), app.login(&usernames[owner][0]).await);
        }
        let token = &tokens[owner];
        let (status, task) = app.get(&format!("/api/v1/tasks/{id}"), token).await;
        assert_eq!(status, StatusCode::OK, "{name}: {id}: {task}");
        assert_eq!(task["user_id"], owner, "dev login finds the imported user");
        assert_eq!(task["state"], our_state(t["state"].as_str().unwrap()));
        assert_eq!(task["meeting_type"], t["meeting_type"]);
        // The references are stored as the original had them, in `file_order` order (the
        // original joined `audio_files[file_order[i]]`); the API serves them as signed
        // playback URLs of those keys (the audio itself is not here).
        let files = app
            .app
            .store
            .task_files(t["tenant"].as_str().unwrap(), id)
            .await
            .unwrap();
        let mut keys: Vec<&str> = files.iter().map(|f| f.object_key.as_str()).collect();
        let mut stored: Vec<&str> = t["audio_files"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s.as_str().unwrap())
            .collect();
        keys.sort_unstable();
        stored.sort_unstable();
        assert_eq!(keys, stored, "{name}: {id}");
        assert_eq!(task["audio_files"].as_array().unwrap().len(), stored.len());
        assert_eq!(task["is_confirmed"], t["confirmed"]);
        assert!(
            task["created_at"]
                .as_str()
                .unwrap()
                .starts_with(&t["created_at_utc"].as_str().unwrap()[..19]),
            "{name}: {id}: created_at {} vs {}",
            task["created_at"],
            t["created_at_utc"]
        );
        if let Some(tr) = t["transcript"].as_object() {
            let tenant = t["tenant"].as_str().unwrap();
            // Through the store (sealed names opened) for every task, through the API where
            // it serves transcripts (tasks with results).
            let stored = app
                .app
                .store
                .latest_transcript(tenant, id)
                .await
                .unwrap()
                .unwrap();
            assert_eq!(
                stored.segments.0.as_array().unwrap().len() as u64,
                tr["segments"].as_u64().unwrap()
            );
            let mapping = app
                .app
                .store
                .latest_speaker_mapping(tenant, id)
                .await
                .unwrap();
            for (label, speaker) in t["speakers"].as_object().unwrap() {
                let names = &mapping.as_ref().unwrap().mapping.0;
                assert_eq!(names[label]["name"], *speaker, "{name}: {id}: {label}");
            }
            let (status, body) = app
                .get(&format!("/api/v1/tasks/{id}/transcript"), token)
                .await;
            if ["success", "partial_success", "archived"]
                .contains(&our_state(t["state"].as_str().unwrap()))
            {
                assert_eq!(status, StatusCode::OK, "{body}");
                assert_eq!(
                    body["segments"].as_array().unwrap().len() as u64,
                    tr["segments"].as_u64().unwrap()
                );
                assert_eq!(body["language"], tr["language"]);
                for (label, speaker) in t["speakers"].as_object().unwrap() {
                    assert_eq!(
                        body["speaker_mapping"][label], *speaker,
                        "{name}: {id}: {label}"
                    );
                }
                checked_transcripts += 1;
            } else {
                assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
            }
        }
        let (status, list) = app
            .get(&format!("/api/v1/tasks/{id}/artifacts"), token)
            .await;
        assert_eq!(status, StatusCode::OK, "{list}");
        let content_rows: u64 = t["artifacts"]
            .as_object()
            .unwrap()
            .values()
            .map(|a| {
                a["rows"].as_u64().unwrap()
                    - a["failed"].as_array().unwrap().len() as u64
                    - a["interrupted"].as_array().unwrap().len() as u64
            })
            .sum();
        assert_eq!(
            list["total_count"].as_u64().unwrap(),
            content_rows,
            "{name}: {id}: {list}"
        );
        for versions in list["artifacts_by_type"].as_object().unwrap().values() {
            let artifact_id = versions[0]["artifact_id"].as_str().unwrap();
            let (status, detail) = app
                .get(
                    &format!("/api/v1/tasks/{id}/artifacts/{artifact_id}"),
                    token,
                )
                .await;
            assert_eq!(status, StatusCode::OK, "{detail}");
            let content: Value =
                serde_json::from_str(detail["artifact"]["content"].as_str().unwrap()).unwrap();
            assert!(content.is_object(), "{name}: {artifact_id}: {content}");
        }
    }
    assert!(checked_transcripts > 0);
    let first = &expected["spot"]["first_transcribed_task"];
    let first_id = first["task_id"].as_str().unwrap();
    let tenant = tasks[first_id]["tenant"].as_str().unwrap();
    let transcript = app
        .app
        .store
        .latest_transcript(tenant, first_id)
        .await
        .unwrap()
        .unwrap();
    let segments = transcript.segments.0.as_array().unwrap();
    assert_eq!(segments[0]["text"], first["first_segment"]["text"]);
    assert_eq!(
        segments[0]["start_time"],
        first["first_segment"]["start_time"]
    );
    assert_eq!(segments[0]["speaker"], first["first_segment"]["speaker"]);
    assert_eq!(segments.last().unwrap()["end_time"], first["last_end_time"]);
    assert_eq!(transcript.duration, first["duration"].as_f64().unwrap());

    // Again: nothing new, nothing doubled.
    let legacy_audit =
        "SELECT CAST(COUNT(*) AS TEXT) FROM audit_logs WHERE action = 'legacy_import.id_mapped' \
        OR CAST(details AS TEXT) LIKE '%legacy_log_id%'";
    let audit_before = scalar(&app, legacy_audit).await;
    assert!(audit_before >= imported["audit_logs"].as_i64().unwrap());
    let events_before = scalar(&app, "SELECT CAST(COUNT(*) AS TEXT) FROM task_events").await;
    let again = minutes::legacy::import(store, &db, false, &|_, _| {})
        .await
        .unwrap();
    assert_eq!(
        again.total_imported(),
        0,
        "{name}: second run imported {:?}",
        again.counts
    );
    assert_eq!(
        again.counts["tasks"].already_present,
        imported["tasks"].as_u64().unwrap()
    );
    assert_eq!(
        scalar(&app, "SELECT CAST(COUNT(*) AS TEXT) FROM artifacts").await,
        imported["artifacts_ok"].as_i64().unwrap()
    );
    assert_eq!(scalar(&app, legacy_audit).await, audit_before);
    assert_eq!(
        scalar(&app, "SELECT CAST(COUNT(*) AS TEXT) FROM task_events").await,
        events_before
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn v1_imports_as_expected() {
    check_variant("original-v1").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn v2_imports_as_expected() {
    check_variant("original-v2").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn v2_messy_imports_as_expected() {
    check_variant("original-v2-messy").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn v3_imports_as_expected() {
    check_variant("original-v3").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn v3_fresh_imports_as_expected() {
    check_variant("original-v3-fresh").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn personal_fields_are_sealed_and_speakers_resolve_through_the_speakers_table() {
    let app = TestApp::new().await;
    let expected: Value =
        serde_json::from_slice(&std::fs::read(legacy_file("original-v3.expected.json")).unwrap())
            .unwrap();
    minutes::legacy::import(
        &app.app.sql,
        &legacy_file("original-v3.db"),
        false,
        &|_, _| {},
    )
    .await
    .unwrap();
    let confirmed = &expected["spot"]["confirmed_task"];
    let task_id = confirmed["task_id"].as_str().unwrap();
    // What a database dump shows: the responsible person only sealed.
    let name = app
        .raw_texts(&format!(
            "SELECT confirmed_by_name FROM tasks WHERE id = '{task_id}'"
        ))
        .await;
    let sealed = name[0].as_deref().unwrap();
    assert!(sealed.starts_with("enc1:"), "{sealed}");
    assert!(!sealed.contains(confirmed["confirmed_by_name"].as_str().unwrap()));
    let spot = &expected["spot"]["speaker_resolved_by_speakers_table"];
    let task = spot["task_id"].as_str().unwrap();
    let owner = expected["tasks"][task]["owner"].as_str().unwrap();
    let username = app
        .raw_texts(&format!("SELECT username FROM users WHERE id = '{owner}'"))
        .await;
    let token = app.login(username[0].as_deref().unwrap()).await;
    let (_, body) = app
        .get(&format!("/api/v1/tasks/{task}/transcript"), &token)
        .await;
    assert_eq!(
        body["speaker_mapping"][spot["speaker_label"].as_str().unwrap()],
        spot["resolved"]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dev_login_finds_imported_users_by_name_and_unsafe_ids_are_mapped() {
    let app = TestApp::new().await;
    let report = minutes::legacy::import(
        &app.app.sql,
        &legacy_file("original-v2-messy.db"),
        false,
        &|_, _| {},
    )
    .await
    .unwrap();
    // A username spelling out another user's id signs in as its own user, not that one.
    let token = app.login("user_wangfang").await;
    let (status, tasks) = app.get("/api/v1/tasks", &token).await;
    assert_eq!(status, StatusCode::OK, "{tasks}");
    assert!(
        tasks
            .as_array()
            .unwrap()
            .iter()
            .all(|t| t["user_id"] == "user_user_wangfang"),
        "{tasks}"
    );
    let real = app.login("wangfang").await;
    let (_, theirs) = app.get("/api/v1/tasks", &real).await;
    assert!(!theirs.as_array().unwrap().is_empty());
    assert!(theirs
        .as_array()
        .unwrap()
        .iter()
        .all(|t| t["user_id"] == "user_wangfang"));
    // The inactive user with a non-ASCII id: a safe id, recorded for redirects, no login.
    let fix = report
        .fixups
        .iter()
        .find(|f| f.key == "user_测试账号" && f.reason == "unsafe_id")
        .expect("the unsafe id is reported");
    let mapped = fix.result.as_str().unwrap();
    assert!(mapped.is_ascii() && mapped.starts_with("user_"), "{mapped}");
    let refs = app
        .raw_texts("SELECT resource_id FROM audit_logs WHERE action = 'legacy_import.id_mapped'")
        .await;
    assert!(refs.contains(&Some(mapped.to_string())), "{refs:?}");
    let (status, _) = app
        .request(
            axum::http::Method::POST,
            "/api/v1/auth/dev/login",
            None,
            axum::body::Body::from(serde_json::json!({"username": "测试账号"}).to_string()),
            Some("application/json"),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_task_whose_owner_is_gone_keeps_its_owner_as_an_inactive_user() {
    let app = TestApp::new().await;
    let copy = app.dir.path().join("orphaned-owner.db");
    std::fs::copy(legacy_file("original-v1.db"), &copy).unwrap();
    let pool = sqlx::SqlitePool::connect(&format!("sqlite://{}", copy.display()))
        .await
        .unwrap();
    let task_id: String = sqlx::query_scalar("SELECT task_id FROM tasks ORDER BY rowid LIMIT 1")
        .fetch_one(&pool)
        .await
        .unwrap();
    sqlx::query(
        "UPDATE tasks SET user_id = 'user_ghost', tenant_id = 'tenant_ghost' WHERE task_id = $1",
    )
    .bind(&task_id)
    .execute(&pool)
    .await
    .unwrap();
    let users: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM users")
        .fetch_one(&pool)
        .await
        .unwrap();
    pool.close().await;
    let report = minutes::legacy::import(&app.app.sql, &copy, false, &|_, _| {})
        .await
        .unwrap();
    assert!(report
        .fixups
        .iter()
        .any(|f| f.key == task_id && f.reason == "unknown_owner"));
    assert_eq!(
        report.imported("users"),
        users as u64,
        "the users table's rows only"
    );
    assert_eq!(report.imported("users_for_unknown_owners"), 1);
    let owner = app
        .raw_texts(&format!("SELECT user_id FROM tasks WHERE id = '{task_id}'"))
        .await;
    assert_eq!(owner, vec![Some("user_ghost".to_string())]);
    let (status, _) = app
        .request(
            axum::http::Method::POST,
            "/api/v1/auth/dev/login",
            None,
            axum::body::Body::from(serde_json::json!({"username": "user_ghost"}).to_string()),
            Some("application/json"),
        )
        .await;
    assert_eq!(
        status,
        StatusCode::CONFLICT,
        "a placeholder owner cannot sign in"
    );
}
