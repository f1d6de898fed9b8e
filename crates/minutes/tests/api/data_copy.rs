//! `minutes db copy` and the table catalog: the catalog matches what the migrations build; a
//! database filled by real pipeline runs copies (SQLite to PostgreSQL when
//! MINUTES_TEST_POSTGRES_URL is set, else to a second SQLite file) so that the API on the copy
//! serves the same tasks, transcripts, artifacts and search results; an interrupted copy resumes
//! and a second run writes nothing.
use std::sync::Arc;

use axum::http::StatusCode;
use serde_json::Value;

use crate::helpers::{create_app_schema, postgres_url, TestApp, TestOptions};
use minutes::app::{App, Overrides};
use minutes::datamove::copy::{copy, CopyOptions};
use minutes::store::catalog;
use minutes::store::sql::ConnectOptions;
use minutes::store::{Migrator, SqlStore};

/// An empty database of the kind under test: PostgreSQL (a fresh schema) when the suite runs
/// against it, else a SQLite file in `dir`.
pub async fn empty_database(dir: &std::path::Path, name: &str) -> ConnectOptions {
    match postgres_url() {
        Some(admin) => {
            let schema = format!("c_{}", uuid::Uuid::new_v4().simple());
            ConnectOptions {
                url: create_app_schema(&admin, &schema).await,
                max_connections: 4,
                pg_schema: Some(schema),
            }
        }
        None => ConnectOptions {
            url: format!("sqlite://{}", dir.join(format!("{name}.db")).display()),
            max_connections: 4,
            pg_schema: None,
        },
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_catalog_matches_the_schema_the_migrations_build() {
    let dir = tempfile::tempdir().unwrap();
    let mut targets = vec![ConnectOptions {
        url: format!("sqlite://{}", dir.path().join("c.db").display()),
        max_connections: 2,
        pg_schema: None,
    }];
    if postgres_url().is_some() {
        targets.push(empty_database(dir.path(), "unused").await);
    }
    for opts in targets {
        let store = SqlStore::connect(&opts).await.unwrap();
        Migrator::new(&store).up().await.unwrap();
        let live = store.live_columns().await.unwrap();
        assert!(live.len() > 200, "{} columns", live.len());
        let differences = catalog::differences(store.kind(), &live);
        assert!(differences.is_empty(), "{differences:#?}");
        // The check can fail: a column the catalog does not know is reported.
        let mut extra = live.clone();
        extra.push(catalog::LiveColumn {
            table: "tasks".into(),
            column: "zz_new".into(),
            declared: "text".into(),
            nullable: true,
        });
        extra.sort_by(|a, b| a.table.cmp(&b.table));
        assert!(!catalog::differences(store.kind(), &extra).is_empty());
        store.close().await;
    }
    // The key-rotation walk covers exactly the catalog's sealed tables, in catalog order.
    let sealed: Vec<_> = catalog::TABLES.iter().filter_map(|t| t.sealed).collect();
    let mut walk = minutes::store::SealedTable::ALL.to_vec();
    walk.sort_by_key(|s| sealed.iter().position(|x| x == s));
    assert_eq!(sealed, walk);
    for s in minutes::store::SealedTable::ALL {
        assert_eq!(catalog::table(s.as_str()).unwrap().sealed, Some(s));
    }
}

/// What a user sees of a task through the API (timestamps included: they must survive).
async fn visible(t_router: &axum::Router, token: &str, task_id: &str) -> Vec<Value> {
    let mut out = Vec::new();
    for uri in [
        format!("/api/v1/tasks/{task_id}"),
        format!("/api/v1/tasks/{task_id}/transcript"),
        format!("/api/v1/tasks/{task_id}/artifacts"),
        "/api/v1/search?q=redis".to_string(),
        "/api/v1/tasks".to_string(),
        "/api/v1/folders".to_string(),
    ] {
        let response = tower::ServiceExt::oneshot(
            t_router.clone(),
            axum::http::Request::get(&uri)
                .header("authorization", format!("Bearer {token}"))
                .body(axum::body::Body::empty())
                .unwrap(),
        )
        .await
        .unwrap();
        assert_eq!(response.status(), StatusCode::OK, "{uri}");
        let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .unwrap();
        let mut body: Value = serde_json::from_slice(&bytes).unwrap();
        // A search hit's time is when it was indexed: the copy rebuilds the index.
        if let Some(hits) = body.get_mut("results").and_then(Value::as_array_mut) {
            for hit in hits {
                hit.as_object_mut().unwrap().remove("created_at");
            }
        }
        out.push(body);
    }
    out
}

/// Every response equal, naming the first one that is not.
fn same(after: Vec<Value>, before: Vec<Value>) {
    assert_eq!(after.len(), before.len());
    for (a, b) in after.iter().zip(&before) {
        assert_eq!(a, b, "on the copy:\n{a:#}\nbefore:\n{b:#}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pipeline_filled_sqlite_database_copies_resumes_and_serves_the_same_api() {
    // The source is the embedded default (SQLite), whatever database the suite runs against.
    let src = TestApp::with(TestOptions {
        configure: Box::new(|c| {
            c.database.url = format!("sqlite://{}", c.data_dir.join("source.db").display());
        }),
        ..TestOptions::default()
    })
    .await;
    assert_eq!(src.app.sql.kind(), "sqlite");
    let (token, task_id) = src.finished_task("copy-alice").await;
    let (token_b, task_b) = src.finished_task("copy-bob").await;
    // Nested folders: the copy must write parents before children.
    let (s, parent) = src
        .post_json(
            "/api/v1/folders",
            &token,
            &serde_json::json!({"name": "2026"}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{parent}");
    let parent_id = parent["id"]
        .as_str()
        .or(parent["folder_id"].as_str())
        .unwrap()
        .to_string();
    let (s, child) = src
        .post_json(
            "/api/v1/folders",
            &token,
            &serde_json::json!({"name": "Q4", "parent_id": parent_id}),
        )
        .await;
    assert!(s.is_success(), "{child}");
    let before_a = visible(&src.router, &token, &task_id).await;
    let before_b = visible(&src.router, &token_b, &task_b).await;

    let work = tempfile::tempdir().unwrap();
    let to = empty_database(work.path(), "target").await;
    let from = ConnectOptions {
        url: src.app.config.database.url.clone(),
        max_connections: 4,
        pg_schema: None,
    };
    let state_file = work.path().join("copy.state.json");
    let options = |max_batches| CopyOptions {
        from: from.clone(),
        to: to.clone(),
        batch: 2,
        state_file: Some(state_file.clone()),
        fields: src.app.sql.field_cipher().clone(),
        progress: false,
        max_batches,
    };

    // Interrupted after five batches: part of the data is there, nothing verified yet.
    let first = copy(options(Some(5))).await.unwrap();
    assert!(first.paused);
    assert!(
        first.rows_written() > 0 && first.rows_written() <= 10,
        "five batches of two rows at most: {first:?}"
    );
    let partial: Value =
        serde_json::from_str(&std::fs::read_to_string(&state_file).unwrap()).unwrap();
    assert_eq!(partial["done"], false);

    // The next run continues from the checkpoint and verifies the whole copy.
    let second = copy(options(None)).await.unwrap();
    assert!(!second.paused && !second.already_done);
    let source_rows: u64 = second.verified.iter().map(|(_, n)| n).sum();
    assert_eq!(
        first.rows_written() + second.rows_written(),
        source_rows,
        "every row written once: {first:?} {second:?}"
    );
    assert_eq!(second.reindexed, 2, "both tasks' search documents rebuilt");
    let tasks = second
        .verified
        .iter()
        .find(|(t, _)| *t == "tasks")
        .unwrap()
        .1;
    assert_eq!(tasks, 2);

    // A third run writes nothing and still verifies.
    let third = copy(options(None)).await.unwrap();
    assert!(third.already_done);
    assert_eq!(third.rows_written(), 0);

    // The API on the copy (same objects, same signing secret) serves the same content.
    let mut config = src.app.config.clone();
    config.database.url = to.url.clone();
    let copied = Arc::new(
        App::build_with(
            &config,
            Overrides {
                engines: None,
                clock: None,
                pg_schema: to.pg_schema.clone(),
                url_signer: None,
            },
        )
        .await
        .unwrap(),
    );
    assert_eq!(
        copied.sql.kind(),
        if postgres_url().is_some() {
            "postgres"
        } else {
            "sqlite"
        }
    );
    let router = minutes::http::router(copied.clone());
    same(visible(&router, &token, &task_id).await, before_a);
    same(visible(&router, &token_b, &task_b).await, before_b);
    // New rows on the copy get new ids: creating a folder writes an audit row, whose identity
    // sequence must have moved past the copied ids (else a duplicate key fails the request).
    let response = tower::ServiceExt::oneshot(
        router.clone(),
        axum::http::Request::post("/api/v1/folders")
            .header("authorization", format!("Bearer {token}"))
            .header("content-type", "application/json")
            .body(axum::body::Body::from(r#"{"name":"after the move"}"#))
            .unwrap(),
    )
    .await
    .unwrap();
    assert_eq!(response.status(), StatusCode::CREATED);
    copied.sql.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn copy_refuses_a_target_with_data_and_reports_differences() {
    let src = TestApp::new().await;
    src.finished_task("copy-refuse").await;
    let work = tempfile::tempdir().unwrap();
    let from = ConnectOptions {
        url: src.app.config.database.url.clone(),
        max_connections: 2,
        pg_schema: src.pg_schema().map(str::to_string),
    };
    let err = copy(CopyOptions {
        from: from.clone(),
        to: from.clone(),
        batch: 100,
        state_file: Some(work.path().join("s.json")),
        fields: src.app.sql.field_cipher().clone(),
        progress: false,
        max_batches: None,
    })
    .await
    .unwrap_err();
    assert!(err.to_string().contains("same database"), "{err}");
    // Into a database that already holds someone's data: refused before anything is written.
    let other = TestApp::with(TestOptions {
        configure: Box::new(|c| {
            c.database.url = format!("sqlite://{}", c.data_dir.join("other.db").display());
        }),
        ..TestOptions::default()
    })
    .await;
    other.finished_task("someone-else").await;
    let err = copy(CopyOptions {
        from,
        to: ConnectOptions {
            url: other.app.config.database.url.clone(),
            max_connections: 2,
            pg_schema: None,
        },
        batch: 100,
        state_file: Some(work.path().join("t.json")),
        fields: src.app.sql.field_cipher().clone(),
        progress: false,
        max_batches: None,
    })
    .await
    .unwrap_err();
    assert!(format!("{err:#}").contains("already holds"), "{err:#}");
}
