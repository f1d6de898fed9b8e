//! `minutes backup create|list|verify|restore|prune`.
//!
//! A backup is a consistent logical snapshot of every data table (one read-only transaction:
//! repeatable read on PostgreSQL, one WAL snapshot on SQLite, so the service keeps running and
//! writing) in one archive (`archive.rs`), plus the object store's content in the destination's
//! content-addressed pool (`objects.rs`). The rows are stored by the table catalog, not as a
//! dialect dump, so an archive restores into either kind of database; each table's row count
//! and digest in the manifest prove the restore (checked inside the restoring transaction,
//! which rolls back on any difference).
pub mod archive;
pub mod crypt;
pub mod destination;
pub mod objects;
mod prune;
pub mod retention;
pub mod status;

pub use prune::{created_at, prune, Pruned};

use std::collections::HashMap;
use std::io::{BufRead, BufWriter, Write};
use std::path::Path;
use std::time::Instant;

use anyhow::{bail, Context};

use self::archive::{Manifest, ObjectEntry, TableEntry};
use self::crypt::BackupKey;
use self::destination::{Destination, ARCHIVES};
use super::progress::Progress;
use crate::crypto::FieldCipher;
use crate::storage::ObjectStorage;
use crate::store::catalog::{self, Table};
use crate::store::rows::{Row, TableDigest, Value};
use crate::store::{Migrator, SealedFieldStore, SearchStore, SqlStore};

/// Rows per batch read from the database and per batch restored.
const BATCH: i64 = 2_000;

/// What `create` did.
#[derive(Debug, Clone)]
pub struct Created {
    /// Where the archive is (as `restore` takes it).
    pub archive: String,
    pub manifest: Manifest,
    pub archive_bytes: u64,
    pub objects: objects::ObjectsCopied,
    pub seconds: f64,
}

/// The newest migration this binary knows.
async fn head_level(store: &SqlStore) -> anyhow::Result<i64> {
    Ok(Migrator::new(store)
        .status()
        .await?
        .iter()
        .map(|m| m.version)
        .max()
        .unwrap_or(0))
}

/// Takes a backup of `store` and `objects` into `dest`.
pub async fn create(
    store: &SqlStore,
    objects_store: &ObjectStorage,
    dest: &Destination,
    key: Option<&BackupKey>,
    progress: bool,
) -> anyhow::Result<Created> {
    let started = Instant::now();
    let created_at = chrono::Utc::now();
    let id = format!("minutes-{}", created_at.format("%Y%m%dT%H%M%S%.3fZ"));
    let work = tempfile::tempdir().context("creating a temporary directory for the archive")?;

    let mut snapshot = store.snapshot().await?;
    let migration = snapshot.migration_level().await?;
    let head = head_level(store).await?;
    if migration != head {
        bail!("the database is at migration {migration} and this binary's schema is {head}: run `minutes migrate up` first");
    }
    let mut tables = Vec::new();
    for table in catalog::data_tables() {
        let bar = Progress::rows(progress, table.name);
        let (rows, digest) = dump_table(&mut snapshot, table, work.path(), &bar)
            .await
            .with_context(|| format!("reading {}", table.name))?;
        bar.finish(rows);
        tables.push(TableEntry {
            name: table.name.to_string(),
            rows,
            digest: digest.hex(),
        });
    }
    snapshot.finish().await?;

    let previous: HashMap<String, ObjectEntry> = match newest(dest).await? {
        Some(prev_id) => match read_manifest(dest, &prev_id, key).await {
            Ok(m) => m.objects.into_iter().map(|o| (o.key.clone(), o)).collect(),
            // Not fatal: every object is hashed again, and content already pooled is not copied.
            Err(e) => {
                tracing::warn!(error = %e, archive = %prev_id, "the previous backup's manifest is unreadable; hashing every object");
                HashMap::new()
            }
        },
        None => HashMap::new(),
    };
    let bar = Progress::bytes(progress, "objects", 0);
    let (objects, copied) = objects::back_up(objects_store, dest, &previous, key, &bar).await?;
    bar.finish(objects.iter().map(|o| o.size).sum());

    let manifest = Manifest {
        format: archive::FORMAT,
        id: id.clone(),
        created_at,
        created_by: format!("minutes {}", env!("CARGO_PKG_VERSION")),
        database: store.kind().to_string(),
        migration,
        encrypted: key.is_some(),
        sealed_with: sealed_key_ids(store.field_cipher()),
        tables,
        objects,
    };
    let local = work.path().join(archive::file_name(&id, key.is_some()));
    let archive_bytes = {
        let (m, dir, out, key) = (
            manifest.clone(),
            work.path().to_path_buf(),
            local.clone(),
            key.cloned(),
        );
        tokio::task::spawn_blocking(move || archive::write(&out, &m, &dir, key.as_ref()))
            .await
            .context("writing the archive")??
    };
    let path = dest.archive_path(&id, key.is_some());
    dest.storage
        .put_file(&dest.key(&path), &local)
        .await
        .with_context(|| format!("storing the archive in {}", dest.display))?;
    status::forget().await;
    Ok(Created {
        archive: dest.show(&path),
        manifest,
        archive_bytes,
        objects: copied,
        seconds: started.elapsed().as_secs_f64(),
    })
}

/// The field-encryption keys a restore needs to read the personal fields (none are in the
/// archive: a backup is often kept where the keys must not be).
fn sealed_key_ids(fields: &FieldCipher) -> Vec<String> {
    fields
        .keyring()
        .map(|k| k.kids().map(str::to_string).collect())
        .unwrap_or_default()
}

/// Writes one table as `<name>.jsonl` and returns its row count and digest.
async fn dump_table(
    snapshot: &mut crate::store::rows::Snapshot,
    table: &'static Table,
    dir: &Path,
    bar: &Progress,
) -> anyhow::Result<(u64, TableDigest)> {
    let path = dir.join(format!("{}.jsonl", table.name));
    let mut out = BufWriter::new(std::fs::File::create(&path)?);
    let names: Vec<&str> = table.columns.iter().map(|c| c.name).collect();
    serde_json::to_writer(&mut out, &serde_json::json!({ "columns": names }))?;
    out.write_all(b"\n")?;
    let mut digest = TableDigest::default();
    let mut failed: Option<std::io::Error> = None;
    snapshot
        .each_row(table, BATCH, |row| {
            digest.add(row);
            bar.advance(1);
            if failed.is_none() {
                let values: Vec<serde_json::Value> = row.iter().map(Value::to_json).collect();
                let line = serde_json::to_vec(&values).map_err(std::io::Error::other);
                if let Err(e) = line.and_then(|l| {
                    out.write_all(&l)?;
                    out.write_all(b"\n")
                }) {
                    failed = Some(e);
                }
            }
            Ok(())
        })
        .await?;
    if let Some(e) = failed {
        return Err(e).context("writing the table file");
    }
    out.flush()?;
    Ok((digest.rows, digest))
}

/// Archive ids in `dest`, oldest first.
pub async fn archives(dest: &Destination) -> anyhow::Result<Vec<(String, u64, bool)>> {
    let mut out: Vec<(String, u64, bool)> = dest
        .list(ARCHIVES)
        .await?
        .into_iter()
        .filter_map(|o| {
            let name = o.key.rsplit('/').next()?.to_string();
            let id = archive::id_of(&name)?.to_string();
            Some((id, o.size, name.ends_with(".enc")))
        })
        .collect();
    out.sort();
    Ok(out)
}

async fn newest(dest: &Destination) -> anyhow::Result<Option<String>> {
    Ok(archives(dest).await?.pop().map(|(id, _, _)| id))
}

/// The archive file of `id` on local disk (downloaded into `work` when the destination is a
/// bucket).
async fn fetch_archive(
    dest: &Destination,
    id: &str,
    work: &Path,
) -> anyhow::Result<(std::path::PathBuf, bool)> {
    let found = archives(dest)
        .await?
        .into_iter()
        .find(|(a, _, _)| a == id)
        .ok_or_else(|| anyhow::anyhow!("no archive {id} in {}", dest.display))?;
    let encrypted = found.2;
    let path = dest.archive_path(id, encrypted);
    if let Some(dir) = &dest.local {
        return Ok((dir.join(&path), encrypted));
    }
    let local = work.join(archive::file_name(id, encrypted));
    dest.storage
        .download_to(&dest.key(&path), &local)
        .await
        .with_context(|| format!("downloading {}", dest.show(&path)))?;
    Ok((local, encrypted))
}

pub async fn read_manifest(
    dest: &Destination,
    id: &str,
    key: Option<&BackupKey>,
) -> anyhow::Result<Manifest> {
    let work = tempfile::tempdir()?;
    let (file, _) = fetch_archive(dest, id, work.path()).await?;
    let key = key.cloned();
    tokio::task::spawn_blocking(move || archive::read_manifest(&file, key.as_ref())).await?
}

/// An archive unpacked and checked against its own manifest: every table file parses, every
/// row has the catalog's types, and each table's count and digest match.
struct Unpacked {
    manifest: Manifest,
    dir: tempfile::TempDir,
}

async fn unpack(dest: &Destination, id: &str, key: Option<&BackupKey>) -> anyhow::Result<Unpacked> {
    let dir = tempfile::tempdir()?;
    let (file, encrypted) = fetch_archive(dest, id, dir.path()).await?;
    if encrypted && key.is_none() {
        bail!("{id} is encrypted: set the backup key (MINUTES_BACKUP_KEY or backup.key_file)");
    }
    let (out, k) = (dir.path().to_path_buf(), key.cloned());
    let manifest = tokio::task::spawn_blocking(move || -> anyhow::Result<Manifest> {
        let manifest = archive::extract(&file, &out, k.as_ref())?;
        for entry in &manifest.tables {
            let table = catalog::table(&entry.name)
                .filter(|t| t.role == catalog::Role::Data)
                .ok_or_else(|| anyhow::anyhow!("the archive holds table {}, which this binary does not know", entry.name))?;
            let mut digest = TableDigest::default();
            read_rows(&out, table, |rows| {
                for r in &rows {
                    digest.add(r);
                }
                Ok(())
            })
            .map_err(|e| anyhow::anyhow!("the archive's {} table is damaged ({e:#}); nothing was changed", entry.name))?;
            if digest.rows != entry.rows || digest.hex() != entry.digest {
                bail!(
                    "the archive's {} rows do not match its manifest ({} rows read, {} listed): the archive is damaged; nothing was changed",
                    entry.name, digest.rows, entry.rows
                );
            }
        }
        Ok(manifest)
    })
    .await??;
    for table in catalog::data_tables() {
        if !manifest.tables.iter().any(|t| t.name == table.name) {
            bail!(
                "the archive has no {} table: it was written for another schema",
                table.name
            );
        }
    }
    Ok(Unpacked { manifest, dir })
}

/// Reads `<table>.jsonl` in batches of rows in the catalog's column order.
fn read_rows(
    dir: &Path,
    table: &Table,
    mut batch: impl FnMut(Vec<Row>) -> anyhow::Result<()>,
) -> anyhow::Result<()> {
    let path = dir.join(format!("{}.jsonl", table.name));
    let file = std::io::BufReader::new(std::fs::File::open(&path)?);
    let mut lines = file.lines();
    let header: serde_json::Value = serde_json::from_str(
        &lines
            .next()
            .ok_or_else(|| anyhow::anyhow!("{}: empty table file", table.name))??,
    )?;
    let names: Vec<String> = serde_json::from_value(header["columns"].clone())
        .with_context(|| format!("{}: no column list", table.name))?;
    let expected: Vec<&str> = table.columns.iter().map(|c| c.name).collect();
    if names != expected {
        bail!(
            "the archive's {} columns are {names:?}; this binary's are {expected:?}",
            table.name
        );
    }
    let mut rows = Vec::new();
    for (n, line) in lines.enumerate() {
        let values: Vec<serde_json::Value> = serde_json::from_str(&line?)
            .with_context(|| format!("{} row {}", table.name, n + 1))?;
        if values.len() != table.columns.len() {
            bail!("{} row {} has {} values", table.name, n + 1, values.len());
        }
        let row = values
            .into_iter()
            .zip(table.columns)
            .map(|(v, c)| Value::from_json(c.ty, v))
            .collect::<Result<Row, String>>()
            .map_err(|e| anyhow::anyhow!("{} row {}: {e}", table.name, n + 1))?;
        rows.push(row);
        if rows.len() == BATCH as usize {
            batch(std::mem::take(&mut rows))?;
        }
    }
    if !rows.is_empty() {
        batch(rows)?;
    }
    Ok(())
}

/// What `restore` did.
#[derive(Debug, Clone)]
pub struct Restored {
    pub manifest: Manifest,
    pub object_bytes_written: u64,
    pub reindexed: usize,
    pub seconds: f64,
    /// Of `seconds`: copying the objects back, and rebuilding the search index.
    pub object_seconds: f64,
    pub reindex_seconds: f64,
}

/// Restores archive `id` of `dest` into `store` and `objects_store`.
///
/// Order: the archive is unpacked and checked whole; every object's pooled copy must exist;
/// then objects are streamed back (hash-checked); then all rows are written in ONE transaction
/// whose per-table digests must equal the manifest's before it commits. A damaged archive
/// therefore changes nothing, and a failure at the database step leaves only objects that are
/// the backup's own content.
pub async fn restore(
    store: &SqlStore,
    objects_store: &ObjectStorage,
    dest: &Destination,
    id: &str,
    key: Option<&BackupKey>,
    force: bool,
    progress: bool,
) -> anyhow::Result<Restored> {
    let started = Instant::now();
    let unpacked = unpack(dest, id, key).await?;
    let manifest = &unpacked.manifest;
    Migrator::new(store).up().await?;
    let head = head_level(store).await?;
    if manifest.migration != head {
        bail!(
            "the archive is at migration {} and this binary's schema is {head}: restore it with the binary that wrote it ({}), then upgrade",
            manifest.migration, manifest.created_by
        );
    }
    super::copy::check_schema(store, "target").await?;
    let mut loader = store.loader().await?;
    let existing = loader.user_rows().await?;
    if existing > 0 && !force {
        bail!(
            "the target database already holds {existing} rows; restoring would replace them: pass --force to overwrite it"
        );
    }
    // The write transaction is held from here: nothing else can write while objects go back.
    objects::present(dest, &manifest.objects, key).await?;
    let bar = Progress::bytes(progress, "objects", manifest.object_bytes());
    let objects_started = Instant::now();
    let object_bytes_written =
        objects::restore(dest, &manifest.objects, objects_store, key, &bar).await?;
    bar.finish(manifest.object_bytes());
    let object_seconds = objects_started.elapsed().as_secs_f64();

    // Also empties the derived search index, which is rebuilt from the restored rows.
    loader.clear().await?;
    for table in catalog::data_tables() {
        let bar = Progress::rows(progress, table.name);
        let mut batches: Vec<Vec<Row>> = Vec::new();
        // A self-referencing table is written whole so parents land first.
        let mut whole: Vec<Row> = Vec::new();
        read_rows(unpacked.dir.path(), table, |rows| {
            if table.parent.is_some() {
                whole.extend(rows);
            } else {
                batches.push(rows);
            }
            Ok(())
        })?;
        if table.parent.is_some() {
            batches.push(whole);
        }
        let mut n = 0;
        for rows in batches {
            n += rows.len() as u64;
            bar.advance(rows.len() as u64);
            loader
                .insert(table, rows)
                .await
                .with_context(|| format!("restoring {}", table.name))?;
        }
        bar.finish(n);
    }
    let written = loader.digests().await?;
    for (name, digest) in &written {
        let listed = manifest
            .tables
            .iter()
            .find(|t| t.name == *name)
            .expect("every data table was checked in the manifest");
        if digest.rows != listed.rows || digest.hex() != listed.digest {
            bail!(
                "restored {name} does not match the archive ({} rows written, {} listed); rolled back, nothing was changed in the database",
                digest.rows,
                listed.rows
            );
        }
    }
    loader.commit().await?;
    let reindex = Instant::now();
    let mut reindexed = 0;
    loop {
        let n = store.backfill_search(200).await.with_context(|| {
            format!(
                "the rows are restored, but rebuilding the search index needs their sealed fields to \
                 open, and they do not open with the configured field-encryption keys (the backup \
                 was sealed with {}): configure those keys and run `minutes backup restore --force` again",
                manifest.sealed_with.join(", ")
            )
        })?;
        reindexed += n;
        if n == 0 {
            break;
        }
    }
    Ok(Restored {
        manifest: unpacked.manifest.clone(),
        object_bytes_written,
        reindexed,
        seconds: started.elapsed().as_secs_f64(),
        object_seconds,
        reindex_seconds: reindex.elapsed().as_secs_f64(),
    })
}

/// What `verify` checked.
#[derive(Debug, Clone)]
pub struct Verified {
    pub manifest: Manifest,
    pub object_bytes: u64,
    /// Rows with sealed fields, every one opened with the configured keys in the scratch copy.
    pub sealed_rows: u64,
    pub seconds: f64,
}

/// Restores archive `id` into a scratch SQLite database and object directory and checks
/// everything the manifest says: row counts and digests (inside the restore), every object's
/// hash, and that every sealed personal field opens with the configured keys.
pub async fn verify(
    dest: &Destination,
    id: &str,
    key: Option<&BackupKey>,
    fields: FieldCipher,
    progress: bool,
) -> anyhow::Result<Verified> {
    let started = Instant::now();
    let scratch = tempfile::tempdir()?;
    let store = SqlStore::connect(&crate::store::sql::ConnectOptions {
        url: format!("sqlite://{}", scratch.path().join("verify.db").display()),
        max_connections: 2,
        pg_schema: None,
    })
    .await?
    .with_field_cipher(fields);
    let objects_dir = scratch.path().join("objects");
    std::fs::create_dir_all(&objects_dir)?;
    let scratch_objects = ObjectStorage::local(&objects_dir)?;
    // Restoring the objects hashes each one on the way into the scratch directory.
    let restored = restore(&store, &scratch_objects, dest, id, key, false, progress).await?;
    let mut sealed_rows = 0u64;
    for table in catalog::sealed_tables() {
        let mut after = None;
        loop {
            let batch = store.reseal_batch(table, after.as_ref(), 500).await.map_err(|e| {
                anyhow::anyhow!(
                    "sealed fields in {} do not open with the configured field-encryption keys ({e}): \
                     this backup is unreadable without the keys it was sealed with ({})",
                    table.as_str(),
                    restored.manifest.sealed_with.join(", ")
                )
            })?;
            sealed_rows += batch.rows;
            match batch.next {
                Some(next) => after = Some(next),
                None => break,
            }
        }
    }
    store.close().await;
    Ok(Verified {
        object_bytes: restored.manifest.object_bytes(),
        manifest: restored.manifest,
        sealed_rows,
        seconds: started.elapsed().as_secs_f64(),
    })
}

/// The backup key from `MINUTES_BACKUP_KEY` or the configured key file, if either is set.
pub fn key_from(env: Option<String>, key_file: &str) -> anyhow::Result<Option<BackupKey>> {
    if let Some(text) = env.filter(|v| !v.trim().is_empty()) {
        return BackupKey::parse(&text)
            .map(Some)
            .map_err(|e| anyhow::anyhow!("MINUTES_BACKUP_KEY: {e}"));
    }
    let file = key_file.trim();
    if file.is_empty() {
        return Ok(None);
    }
    let text = std::fs::read_to_string(file)
        .with_context(|| format!("reading the backup key file {file}"))?;
    BackupKey::parse(&text)
        .map(Some)
        .map_err(|e| anyhow::anyhow!("{file}: {e}"))
}
