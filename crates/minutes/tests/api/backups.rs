//! `minutes backup`: a backup taken while the service writes restores, after a wipe, to the
//! same per-table checksums and the same objects; a damaged archive is refused before anything
//! changes; encrypted archives need their key; an unchanged backup copies no object again;
//! pruning keeps what the policy says and the objects those archives need.
use std::collections::BTreeMap;
use std::path::Path;

use axum::http::StatusCode;
use sha2::{Digest, Sha256};

use crate::data_copy::empty_database;
use crate::helpers::{files_under, TestApp};
use minutes::datamove::backup::{
    self, crypt::BackupKey, destination::Destination, retention::Retention,
};
use minutes::queue::Clock;
use minutes::storage::ObjectStorage;
use minutes::store::SqlStore;

/// sha256 of every file under `dir`, by relative path.
fn hashes(dir: &Path) -> BTreeMap<String, String> {
    files_under(dir)
        .into_iter()
        .map(|f| {
            let rel = f.strip_prefix(dir).unwrap().display().to_string();
            (rel, hex::encode(Sha256::digest(std::fs::read(&f).unwrap())))
        })
        .collect()
}

async fn digests(store: &SqlStore) -> Vec<(String, u64, String)> {
    let mut snap = store.snapshot().await.unwrap();
    let d = snap.digests().await.unwrap();
    snap.finish().await.unwrap();
    d.into_iter()
        .map(|(n, d)| (n.to_string(), d.rows, d.hex()))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backup_taken_while_writing_restores_after_a_wipe_to_the_same_rows_and_objects() {
    let t = TestApp::new().await;
    let (token, task_id) = t.finished_task("backup-alice").await;
    let dest_dir = tempfile::tempdir().unwrap();
    let dest = Destination::directory(dest_dir.path()).unwrap();

    // The service keeps writing while the backup runs.
    let writer = {
        let router = t.router.clone();
        let token = token.clone();
        tokio::spawn(async move {
            for i in 0..40 {
                let response = tower::ServiceExt::oneshot(
                    router.clone(),
                    axum::http::Request::post("/api/v1/folders")
                        .header("authorization", format!("Bearer {token}"))
                        .header("content-type", "application/json")
                        .body(axum::body::Body::from(format!(
                            r#"{{"name":"during {i}"}}"#
                        )))
                        .unwrap(),
                )
                .await
                .unwrap();
                assert_eq!(response.status(), StatusCode::CREATED);
            }
        })
    };
    let created = backup::create(&t.app.sql, &t.app.objects, &dest, None, false)
        .await
        .unwrap();
    writer.await.unwrap();
    let m = &created.manifest;
    assert!(created.archive.ends_with(".tar.zst"), "{}", created.archive);
    assert!(Path::new(&created.archive).exists());
    assert_eq!(m.database, t.app.sql.kind());
    assert!(m.objects.len() >= 2, "both uploaded parts: {:?}", m.objects);
    assert_eq!(created.objects.copied as usize, m.objects.len());
    let tasks = m.tables.iter().find(|e| e.name == "tasks").unwrap();
    assert_eq!(tasks.rows, 1);
    assert_eq!(
        m.sealed_with.is_empty(),
        !t.app.sql.field_cipher().is_enabled()
    );
    let source_objects = hashes(Path::new(&t.app.config.storage.root));

    // Wipe: a new empty database of the same kind and an empty object directory.
    let work = tempfile::tempdir().unwrap();
    let target = SqlStore::connect(&empty_database(work.path(), "restored").await)
        .await
        .unwrap()
        .with_field_cipher(t.app.sql.field_cipher().clone());
    let objects_dir = work.path().join("objects");
    std::fs::create_dir_all(&objects_dir).unwrap();
    let target_objects = ObjectStorage::local(&objects_dir).unwrap();
    let id = m.id.clone();
    let restored = backup::restore(&target, &target_objects, &dest, &id, None, false, false)
        .await
        .unwrap();
    assert_eq!(restored.reindexed, 1);
    let restored_digests = digests(&target).await;
    let manifest_digests: Vec<(String, u64, String)> = m
        .tables
        .iter()
        .map(|e| (e.name.clone(), e.rows, e.digest.clone()))
        .collect();
    assert_eq!(restored_digests, manifest_digests);
    // Every object the backup saw is back, byte for byte.
    let back = hashes(&objects_dir);
    for o in &m.objects {
        assert_eq!(back.get(&o.key), source_objects.get(&o.key), "{}", o.key);
        assert_eq!(back[&o.key], o.sha256);
    }
    // The folders written during the backup are either all in it or not: the snapshot is one
    // instant, so its folder count is whatever had committed then, and the restore has it.
    let folders = m.tables.iter().find(|e| e.name == "folders").unwrap().rows;
    assert!(folders <= 40);

    // A non-empty target is refused without --force, and replaced with it.
    let err = backup::restore(&target, &target_objects, &dest, &id, None, false, false)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("--force"), "{err}");
    backup::restore(&target, &target_objects, &dest, &id, None, true, false)
        .await
        .unwrap();
    assert_eq!(digests(&target).await, manifest_digests);

    // `verify` restores into scratch space and checks everything.
    let verified = backup::verify(&dest, &id, None, t.app.sql.field_cipher().clone(), false)
        .await
        .unwrap();
    assert_eq!(verified.object_bytes, m.object_bytes());
    if t.app.sql.field_cipher().is_enabled() {
        assert!(verified.sealed_rows > 0);
    }
    // ...and fails when the keys that sealed the fields are not the configured ones.
    if t.app.sql.field_cipher().is_enabled() {
        let other = minutes::crypto::FieldCipher::new(
            minutes::crypto::Keyring::new(
                vec![minutes::crypto::KeyEntry::generate("other").unwrap()],
                None,
            )
            .unwrap(),
        );
        let err = backup::verify(&dest, &id, None, other, false)
            .await
            .unwrap_err();
        assert!(
            format!("{err:#}").contains("do not open with the configured field-encryption keys"),
            "{err:#}"
        );
    }

    // The restored database serves the task through the normal API.
    let (status, _) = t
        .get(&format!("/api/v1/tasks/{task_id}/transcript"), &token)
        .await;
    assert_eq!(status, StatusCode::OK);
    target.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn damaged_or_truncated_archives_are_refused_and_change_nothing() {
    let t = TestApp::new().await;
    t.finished_task("backup-damage").await;
    let dest_dir = tempfile::tempdir().unwrap();
    let dest = Destination::directory(dest_dir.path()).unwrap();
    let created = backup::create(&t.app.sql, &t.app.objects, &dest, None, false)
        .await
        .unwrap();
    let path = std::path::PathBuf::from(&created.archive);
    let good = std::fs::read(&path).unwrap();
    let before = digests(&t.app.sql).await;
    let objects_before = hashes(Path::new(&t.app.config.storage.root));
    let mut flipped = good.clone();
    let middle = flipped.len() / 2;
    flipped[middle] ^= 0x55;
    for (what, bytes) in [
        ("flipped", flipped),
        ("truncated", good[..good.len() * 2 / 3].to_vec()),
    ] {
        std::fs::write(&path, &bytes).unwrap();
        let err = backup::restore(
            &t.app.sql,
            &t.app.objects,
            &dest,
            &created.manifest.id,
            None,
            true,
            false,
        )
        .await
        .unwrap_err();
        let msg = format!("{err:#}");
        assert!(
            msg.contains("damaged") || msg.contains("truncated"),
            "{what}: {msg}"
        );
        assert_eq!(
            digests(&t.app.sql).await,
            before,
            "{what}: the database is unchanged"
        );
        assert_eq!(
            hashes(Path::new(&t.app.config.storage.root)),
            objects_before
        );
        assert!(backup::verify(
            &dest,
            &created.manifest.id,
            None,
            t.app.sql.field_cipher().clone(),
            false
        )
        .await
        .is_err());
    }
    // A damaged pooled object fails verify with the object's name.
    std::fs::write(&path, &good).unwrap();
    let o = &created.manifest.objects[0];
    let pooled = dest_dir
        .path()
        .join(backup::objects::pool_path(&o.sha256, false));
    let mut content = std::fs::read(&pooled).unwrap();
    content[0] ^= 1;
    std::fs::write(&pooled, content).unwrap();
    let err = backup::verify(
        &dest,
        &created.manifest.id,
        None,
        t.app.sql.field_cipher().clone(),
        false,
    )
    .await
    .unwrap_err();
    assert!(format!("{err:#}").contains(&o.key), "{err:#}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn encrypted_backups_need_their_key_and_unchanged_objects_are_not_copied_again() {
    let t = TestApp::new().await;
    t.finished_task("backup-crypt").await;
    let dest_dir = tempfile::tempdir().unwrap();
    let dest = Destination::directory(dest_dir.path()).unwrap();
    let key = BackupKey::generate();
    let first = backup::create(&t.app.sql, &t.app.objects, &dest, Some(&key), false)
        .await
        .unwrap();
    assert!(first.archive.ends_with(".tar.zst.enc"));
    assert!(first.manifest.encrypted);
    // Nothing readable in the archive or the pool without the key.
    let raw = std::fs::read(&first.archive).unwrap();
    assert!(!raw.windows(8).any(|w| w == b"manifest"));
    let o = &first.manifest.objects[0];
    let pooled = std::fs::read(
        dest_dir
            .path()
            .join(backup::objects::pool_path(&o.sha256, true)),
    )
    .unwrap();
    let plain = std::fs::read(Path::new(&t.app.config.storage.root).join(&o.key)).unwrap();
    assert_ne!(&pooled[pooled.len() - 64..], &plain[plain.len() - 64..]);
    let err = backup::verify(
        &dest,
        &first.manifest.id,
        None,
        t.app.sql.field_cipher().clone(),
        false,
    )
    .await
    .unwrap_err();
    assert!(format!("{err:#}").contains("MINUTES_BACKUP_KEY"), "{err:#}");
    let err = backup::verify(
        &dest,
        &first.manifest.id,
        Some(&BackupKey::generate()),
        t.app.sql.field_cipher().clone(),
        false,
    )
    .await
    .unwrap_err();
    assert!(format!("{err:#}").contains("decrypt"), "{err:#}");
    backup::verify(
        &dest,
        &first.manifest.id,
        Some(&key),
        t.app.sql.field_cipher().clone(),
        false,
    )
    .await
    .unwrap();

    // Nothing changed: the second backup hashes and copies no object.
    let second = backup::create(&t.app.sql, &t.app.objects, &dest, Some(&key), false)
        .await
        .unwrap();
    assert_eq!(second.objects, backup::objects::ObjectsCopied::default());
    assert_eq!(second.manifest.objects, first.manifest.objects);
    assert_ne!(second.manifest.id, first.manifest.id);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prune_keeps_the_policy_and_the_objects_kept_archives_need() {
    let t = TestApp::new().await;
    let (token, _) = t.finished_task("backup-prune").await;
    let dest_dir = tempfile::tempdir().unwrap();
    let dest = Destination::directory(dest_dir.path()).unwrap();
    let first = backup::create(&t.app.sql, &t.app.objects, &dest, None, false)
        .await
        .unwrap();
    // An old archive (copied under an old name) that references an object nobody else has.
    let archives = dest_dir.path().join("archives");
    let old_id = "minutes-20250101T030000.000Z";
    std::fs::copy(&first.archive, archives.join(format!("{old_id}.tar.zst"))).unwrap();
    let orphan = dest_dir.path().join("objects/ff/ff00");
    std::fs::create_dir_all(orphan.parent().unwrap()).unwrap();
    std::fs::write(&orphan, b"nobody references this").unwrap();
    // A second task makes the newest archive reference more objects.
    t.create_two_part_task(&token).await;
    t.run_jobs_until_idle().await;
    let newest = backup::create(&t.app.sql, &t.app.objects, &dest, None, false)
        .await
        .unwrap();
    assert!(newest.manifest.objects.len() > first.manifest.objects.len());

    // The default policy keeps the old one (the newest of its month, one of the last 12 months
    // with a backup) and today's newest; the earlier backup of today goes.
    let pruned = backup::prune(&dest, &Retention::default(), None, chrono::Utc::now())
        .await
        .unwrap();
    assert_eq!(pruned.deleted, vec![first.manifest.id.clone()]);
    assert_eq!(
        pruned.kept,
        vec![old_id.to_string(), newest.manifest.id.clone()]
    );
    assert_eq!(pruned.objects_deleted, 1, "only the orphan");
    assert!(!orphan.exists());
    // A policy of one month keeps only the newest.
    let one = Retention {
        daily: 1,
        weekly: 1,
        monthly: 1,
        min_days: 0,
    };
    let pruned = backup::prune(&dest, &one, None, chrono::Utc::now())
        .await
        .unwrap();
    assert_eq!(pruned.deleted, vec![old_id.to_string()]);
    assert_eq!(
        pruned.objects_deleted, 0,
        "the old archive's objects are the newest's too"
    );
    for o in &newest.manifest.objects {
        assert!(dest_dir
            .path()
            .join(backup::objects::pool_path(&o.sha256, false))
            .exists());
    }
    let listed: Vec<String> = backup::archives(&dest)
        .await
        .unwrap()
        .into_iter()
        .map(|a| a.0)
        .collect();
    assert_eq!(listed, vec![newest.manifest.id.clone()]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_scheduled_backup_job_writes_an_archive_prunes_and_feeds_the_stale_backup_metric() {
    let dest_dir = tempfile::tempdir().unwrap();
    let to = dest_dir.path().join("scheduled").display().to_string();
    let t = TestApp::with(crate::helpers::TestOptions {
        configure: Box::new(move |c| c.backup.to = to),
        ..Default::default()
    })
    .await;
    t.finished_task("backup-cron").await;
    // Before any backup, the metric is 0: an alert on its age fires.
    let (_, _, body) = t.get_raw("/metrics", "").await;
    let text = String::from_utf8(body).unwrap();
    assert!(
        text.contains("minutes_backup_last_success_timestamp_seconds 0"),
        "{text}"
    );

    let now = t.clock.now_ms();
    assert!(minutes::queue::schedule::enqueue_run(
        &t.app,
        minutes::domain::job::JobKind::Backup,
        now
    )
    .await
    .unwrap());
    assert_eq!(t.run_jobs_until_idle().await, 1);
    let dest = Destination::directory(&dest_dir.path().join("scheduled")).unwrap();
    let archives = backup::archives(&dest).await.unwrap();
    assert_eq!(archives.len(), 1, "{archives:?}");
    let m = backup::read_manifest(&dest, &archives[0].0, None)
        .await
        .unwrap();
    assert_eq!(m.tables.iter().find(|e| e.name == "tasks").unwrap().rows, 1);
    // Writing a backup drops the metric's one-minute cache in this process.
    let (_, _, body) = t.get_raw("/metrics", "").await;
    let text = String::from_utf8(body).unwrap();
    assert!(text.contains("minutes_backup_archives 1"), "{text}");
    assert!(
        !text.contains("minutes_backup_last_success_timestamp_seconds 0\n"),
        "{text}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_archive_of_the_embedded_default_restores_into_the_database_under_test() {
    // The source is SQLite whatever the suite runs against; the target is PostgreSQL in the
    // PostgreSQL pass: the move from a laptop to production through a backup.
    let t = TestApp::with(crate::helpers::TestOptions {
        configure: Box::new(|c| {
            c.database.url = format!("sqlite://{}", c.data_dir.join("laptop.db").display());
        }),
        ..Default::default()
    })
    .await;
    assert_eq!(t.app.sql.kind(), "sqlite");
    t.finished_task("backup-move").await;
    let dest_dir = tempfile::tempdir().unwrap();
    let dest = Destination::directory(dest_dir.path()).unwrap();
    let created = backup::create(&t.app.sql, &t.app.objects, &dest, None, false)
        .await
        .unwrap();
    let work = tempfile::tempdir().unwrap();
    let target = SqlStore::connect(&empty_database(work.path(), "moved").await)
        .await
        .unwrap()
        .with_field_cipher(t.app.sql.field_cipher().clone());
    let objects_dir = work.path().join("objects");
    std::fs::create_dir_all(&objects_dir).unwrap();
    let restored = backup::restore(
        &target,
        &ObjectStorage::local(&objects_dir).unwrap(),
        &dest,
        &created.manifest.id,
        None,
        false,
        false,
    )
    .await
    .unwrap();
    assert_eq!(restored.reindexed, 1);
    let manifest_digests: Vec<(String, u64, String)> = created
        .manifest
        .tables
        .iter()
        .map(|e| (e.name.clone(), e.rows, e.digest.clone()))
        .collect();
    assert_eq!(digests(&target).await, manifest_digests);
    target.close().await;
}
