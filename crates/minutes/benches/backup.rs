//! Backup, restore and `db copy` at size: a database of 10,000 tasks (each with two files, a
//! transcript of 20 segments, minutes, five events) and 1 GiB of objects, on SQLite and on
//! PostgreSQL, beside the native tools measured in the same run (`sqlite3 .backup` or
//! `pg_dump -Fc`, plus `cp -r` of the objects), as ratios.
//!
//!   cargo bench -p minutes --bench backup -- [sqlite|postgres|all]     (default all)
//!
//! `MINUTES_BENCH_TASKS` (10000), `MINUTES_BENCH_OBJECT_MB` (1024), `MINUTES_BENCH_POSTGRES_URL`
//! (postgres://postgres@127.0.0.1:5432/test). `scripts/bench-backup.sh` runs it in release.
// A benchmark run: any failure aborts it with the error, which is what `unwrap` does.
#![allow(clippy::unwrap_used)]
use std::path::Path;
use std::process::Command;
use std::time::Instant;

use minutes::datamove::backup::{self, destination::Destination};
use minutes::datamove::copy::{copy, CopyOptions};
use minutes::storage::ObjectStorage;
use minutes::store::catalog::{self, ColumnType, Table};
use minutes::store::rows::{Row, Value};
use minutes::store::sql::ConnectOptions;
use minutes::store::{Migrator, SqlStore};
use serde_json::json;

fn env_or(key: &str, default: &str) -> String {
    std::env::var(key)
        .ok()
        .filter(|v| !v.is_empty())
        .unwrap_or_else(|| default.to_string())
}

/// A row of `table` with `values` and type defaults for every other NOT NULL column.
fn row(table: &Table, values: &[(&str, Value)]) -> Row {
    let now = chrono::Utc::now();
    table
        .columns
        .iter()
        .map(|c| {
            if let Some((_, v)) = values.iter().find(|(n, _)| *n == c.name) {
                return v.clone();
            }
            if c.nullable {
                return Value::Null;
            }
            match c.ty {
                ColumnType::Text => Value::Text(String::new()),
                ColumnType::Int => Value::Int(0),
                ColumnType::Real => Value::Real(0.0),
                ColumnType::Bool => Value::Bool(false),
                ColumnType::Timestamp => Value::Timestamp(now),
                ColumnType::Json => Value::Json(json!({})),
            }
        })
        .collect()
}

fn text(s: impl Into<String>) -> Value {
    Value::Text(s.into())
}

/// Fills `store` with `tasks` tasks over ten users.
async fn fill(store: &SqlStore, tasks: usize) {
    let t = |name| catalog::table(name).unwrap();
    let mut loader = store.loader().await.unwrap();
    for u in 0..10 {
        loader
            .insert(
                t("tenants"),
                vec![row(
                    t("tenants"),
                    &[
                        ("id", text(format!("tenant_{u}"))),
                        ("name", text(format!("Tenant {u}"))),
                    ],
                )],
            )
            .await
            .unwrap();
        loader
            .insert(
                t("users"),
                vec![row(
                    t("users"),
                    &[
                        ("id", text(format!("user_{u}"))),
                        ("tenant_id", text(format!("tenant_{u}"))),
                        ("username", text(format!("user{u}"))),
                        ("role", text("member")),
                        ("is_active", Value::Bool(true)),
                    ],
                )],
            )
            .await
            .unwrap();
    }
    loader.commit().await.unwrap();
    let segments: Vec<serde_json::Value> = (0..20)
        .map(|i| json!({"id": format!("seg_{i:04}"), "speaker": format!("Speaker {}", i % 3 + 1), "start_time": i as f64 * 6.0, "end_time": i as f64 * 6.0 + 5.5, "text": format!("Segment {i}: we discussed the quarterly roadmap, the incident follow-ups and who owns the next steps."), "confidence": 0.91})).collect();
    let full_text: String = segments
        .iter()
        .map(|s| s["text"].as_str().unwrap())
        .collect::<Vec<_>>()
        .join(" ");
    for chunk in (0..tasks).collect::<Vec<_>>().chunks(500) {
        let mut batch: Vec<(&'static Table, Vec<Row>)> = [
            "tasks",
            "task_files",
            "task_events",
            "transcript_revisions",
            "artifacts",
        ]
        .iter()
        .map(|n| (t(n), Vec::new()))
        .collect();
        for &i in chunk {
            let (task, tenant, user) = (
                format!("task_{i:06}"),
                format!("tenant_{}", i % 10),
                format!("user_{}", i % 10),
            );
            batch[0].1.push(row(
                t("tasks"),
                &[
                    ("id", text(&task)),
                    ("tenant_id", text(&tenant)),
                    ("user_id", text(&user)),
                    ("meeting_type", text("weekly_sync")),
                    ("asr_language", text("en-US")),
                    ("output_language", text("en-US")),
                    (
                        "prompt_instance",
                        Value::Json(json!({"template_id": "meeting_minutes", "parameters": {}})),
                    ),
                    ("state", text("success")),
                    ("progress", Value::Real(100.0)),
                    ("hotwords", Value::Json(json!([]))),
                ],
            ));
            for f in 0..2 {
                batch[1].1.push(row(
                    t("task_files"),
                    &[
                        ("task_id", text(&task)),
                        ("file_order", Value::Int(f)),
                        ("tenant_id", text(&tenant)),
                        ("object_key", text(format!("uploads/{user}/{task}-{f}.wav"))),
                        ("original_filename", text(format!("part{f}.wav"))),
                        ("sha256", text("0".repeat(64))),
                        ("size_bytes", Value::Int(1_000_000)),
                    ],
                ));
            }
            for e in 0..5 {
                batch[2].1.push(row(
                    t("task_events"),
                    &[
                        ("id", Value::Int((i * 5 + e) as i64 + 1)),
                        ("task_id", text(&task)),
                        ("tenant_id", text(&tenant)),
                        ("to_state", text("running")),
                        ("reason", text("bench")),
                    ],
                ));
            }
            batch[3].1.push(row(
                t("transcript_revisions"),
                &[
                    ("task_id", text(&task)),
                    ("revision", Value::Int(1)),
                    ("tenant_id", text(&tenant)),
                    ("segments", Value::Json(json!(segments))),
                    ("full_text", text(&full_text)),
                    ("duration", Value::Real(120.0)),
                    ("language", text("en")),
                    ("provider", text("bench")),
                    ("author", text("system")),
                    ("reason", text("asr")),
                ],
            ));
            batch[4].1.push(row(t("artifacts"), &[
                ("id", text(format!("artifact_{i:06}"))), ("task_id", text(&task)), ("tenant_id", text(&tenant)),
                ("artifact_type", text("meeting_minutes")), ("version", Value::Int(1)),
                ("content", Value::Json(json!({"title": "Weekly sync", "summary": full_text, "action_items": [{"owner": "Ana", "task": "Ship it"}]}))),
                ("prompt_instance", Value::Json(json!({"template_id": "meeting_minutes"}))), ("metadata", Value::Json(json!({}))),
                ("transcript_revision", Value::Int(1)), ("template_id", text("meeting_minutes")), ("model", text("bench")),
                ("prompt_hash", text("x")), ("created_by", text("system")),
            ]));
        }
        let mut loader = store.loader().await.unwrap();
        for (table, rows) in batch {
            loader.insert(table, rows).await.unwrap();
        }
        loader.commit().await.unwrap();
    }
}

/// `mb` MiB of incompressible objects in 8 MiB files.
fn write_objects(dir: &Path, mb: usize) {
    use rand::RngCore;
    let mut rng = rand::thread_rng();
    let mut buf = vec![0u8; 8 << 20];
    for i in 0..mb.div_ceil(8) {
        let path = dir.join(format!("uploads/user_{}/object-{i:04}.wav", i % 10));
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        rng.fill_bytes(&mut buf);
        std::fs::write(path, &buf).unwrap();
    }
}

fn du(dir: &Path) -> u64 {
    fn walk(p: &Path) -> u64 {
        std::fs::read_dir(p).map_or(0, |d| {
            d.flatten()
                .map(|e| {
                    let m = e.metadata().unwrap();
                    if m.is_dir() {
                        walk(&e.path())
                    } else {
                        m.len()
                    }
                })
                .sum()
        })
    }
    walk(dir)
}

fn timed(label: &str, mut cmd: Command) -> f64 {
    let started = Instant::now();
    let status = cmd.status().unwrap_or_else(|e| panic!("{label}: {e}"));
    assert!(status.success(), "{label} failed");
    started.elapsed().as_secs_f64()
}

async fn bench(kind: &str, tasks: usize, object_mb: usize) {
    let work = tempfile::tempdir().unwrap();
    let pg = env_or(
        "MINUTES_BENCH_POSTGRES_URL",
        "postgres://postgres@127.0.0.1:5432/test",
    );
    let schema = format!("bench_backup_{}", uuid::Uuid::new_v4().simple());
    let options = |name: &str, kind: &str| match kind {
        "postgres" => ConnectOptions {
            url: pg.clone(),
            max_connections: 4,
            pg_schema: Some(format!("{schema}_{name}")),
        },
        _ => ConnectOptions {
            url: format!(
                "sqlite://{}",
                work.path().join(format!("{name}.db")).display()
            ),
            max_connections: 4,
            pg_schema: None,
        },
    };
    if kind == "postgres" {
        for name in ["source", "restored", "copied"] {
            psql(&pg, &format!("CREATE SCHEMA {schema}_{name}"));
        }
    }
    let source = SqlStore::connect(&options("source", kind)).await.unwrap();
    Migrator::new(&source).up().await.unwrap();
    let started = Instant::now();
    fill(&source, tasks).await;
    let objects_dir = work.path().join("objects");
    std::fs::create_dir_all(&objects_dir).unwrap();
    write_objects(&objects_dir, object_mb);
    let objects = ObjectStorage::local(&objects_dir).unwrap();
    let mut snap = source.snapshot().await.unwrap();
    let rows: u64 = snap
        .digests()
        .await
        .unwrap()
        .iter()
        .map(|(_, d)| d.rows)
        .sum();
    snap.finish().await.unwrap();
    println!("backup bench: {kind}, {tasks} tasks ({rows} rows), {object_mb} MiB of objects (filled in {:.1} s)", started.elapsed().as_secs_f64());

    let dest = Destination::directory(&work.path().join("backups")).unwrap();
    let created = backup::create(&source, &objects, &dest, None, false)
        .await
        .unwrap();
    let again = backup::create(&source, &objects, &dest, None, false)
        .await
        .unwrap();
    assert_eq!(again.objects.copied, 0);

    let restored_store = SqlStore::connect(&options("restored", kind)).await.unwrap();
    let restored_objects_dir = work.path().join("restored-objects");
    std::fs::create_dir_all(&restored_objects_dir).unwrap();
    let restored_objects = ObjectStorage::local(&restored_objects_dir).unwrap();
    let t = Instant::now();
    let restored = backup::restore(
        &restored_store,
        &restored_objects,
        &dest,
        &created.manifest.id,
        None,
        false,
        false,
    )
    .await
    .unwrap();
    let restore_secs = t.elapsed().as_secs_f64();

    // Baselines: the native database dump and a plain copy of the object directory.
    let native = work.path().join("native.dump");
    let (native_label, native_secs) = match kind {
        "postgres" => {
            let mut c = Command::new("pg_dump");
            c.args(["-Fc", "-n", &format!("{schema}_source"), "-f"])
                .arg(&native)
                .arg(&pg);
            ("pg_dump -Fc", timed("pg_dump", c))
        }
        _ => {
            let mut c = Command::new("sqlite3");
            c.arg(work.path().join("source.db"))
                .arg(format!(".backup '{}'", native.display()));
            ("sqlite3 .backup", timed("sqlite3", c))
        }
    };
    let mut cp = Command::new("cp");
    cp.arg("-r")
        .arg(&objects_dir)
        .arg(work.path().join("objects-copy"));
    let cp_secs = timed("cp -r", cp);
    let baseline = native_secs + cp_secs;
    let native_bytes = std::fs::metadata(&native).unwrap().len();

    let ratio = |s: f64| s / baseline;
    println!("  backup create (full):      {:>7.2} s  archive {:>6.2} MiB + objects {:>6.1} MiB   ×{:.2} of {native_label} + cp -r ({baseline:.2} s; dump {:.1} MiB)",
        created.seconds, created.archive_bytes as f64 / 1048576.0, du(&work.path().join("backups/objects")) as f64 / 1048576.0, ratio(created.seconds), native_bytes as f64 / 1048576.0);
    println!("  backup create (unchanged): {:>7.2} s  archive {:>6.2} MiB, 0 objects copied          ×{:.2}", again.seconds, again.archive_bytes as f64 / 1048576.0, ratio(again.seconds));
    println!(
        "  restore into an empty db:  {:>7.2} s  ×{:.2} (objects {:.2} s, rows {:.2} s with the checksums checked in the transaction, search rebuild {:.2} s)",
        restore_secs,
        ratio(restore_secs),
        restored.object_seconds,
        restore_secs - restored.object_seconds - restored.reindex_seconds,
        restored.reindex_seconds
    );

    // db copy into the other kind.
    let other = if kind == "postgres" {
        "sqlite"
    } else {
        "postgres"
    };
    if other == "postgres" {
        psql(&pg, &format!("CREATE SCHEMA {schema}_copied"));
    }
    let report = copy(CopyOptions {
        from: options("source", kind),
        to: options("copied", other),
        batch: 1_000,
        state_file: Some(work.path().join("copy.json")),
        fields: minutes::crypto::FieldCipher::plaintext(),
        progress: false,
        max_batches: None,
    })
    .await
    .unwrap();
    let rows_secs = report.seconds - report.reindex_seconds;
    println!("  db copy {kind} → {other}:   {:>7.2} s  {:.0} rows/s overall; rows and verification {:.2} s ({:.0} rows/s), search rebuilt for {} tasks in {:.2} s",
        report.seconds, report.rows_written() as f64 / report.seconds, rows_secs, report.rows_written() as f64 / rows_secs, report.reindexed, report.reindex_seconds);
    source.close().await;
    restored_store.close().await;
    psql(&pg, &format!("DROP SCHEMA IF EXISTS {schema}_source CASCADE; DROP SCHEMA IF EXISTS {schema}_restored CASCADE; DROP SCHEMA IF EXISTS {schema}_copied CASCADE"));
}

fn psql(url: &str, sql: &str) {
    let status = Command::new("psql")
        .args([url, "-qc", sql])
        .status()
        .expect("psql");
    assert!(status.success(), "{sql}");
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let which = std::env::args()
        .skip(1)
        .find(|a| !a.starts_with('-'))
        .unwrap_or_else(|| "all".into());
    let tasks: usize = env_or("MINUTES_BENCH_TASKS", "10000").parse().unwrap();
    let object_mb: usize = env_or("MINUTES_BENCH_OBJECT_MB", "1024").parse().unwrap();
    let kinds: Vec<&str> = match which.as_str() {
        "all" => vec!["sqlite", "postgres"],
        "sqlite" => vec!["sqlite"],
        "postgres" => vec!["postgres"],
        other => panic!("usage: backup [sqlite|postgres|all], not {other}"),
    };
    for kind in kinds {
        bench(kind, tasks, object_mb).await;
    }
}
