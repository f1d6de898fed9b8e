//! The object pool of a backup destination: every object once, named by the SHA-256 of its
//! content (`objects/ab/abcdef…`, `.enc` when encrypted). A backup copies only content the
//! pool does not hold yet, and hashes only objects whose key, size, time or tag changed since
//! the previous backup; a restore streams each object back and checks its hash on the way.
use std::collections::HashMap;

use anyhow::{bail, Context};
use futures::StreamExt;
use sha2::{Digest, Sha256};

use super::archive::ObjectEntry;
use super::crypt::{BackupKey, Opener, Sealer};
use super::destination::{Destination, OBJECTS};
use crate::storage::{ObjectInfo, ObjectStorage};

pub fn pool_path(sha256: &str, encrypted: bool) -> String {
    let ext = if encrypted { ".enc" } else { "" };
    // Archives are checked to hold hex SHA-256 values; a damaged manifest read for pruning
    // only must not panic here.
    let fan = sha256.get(..2).unwrap_or("00");
    format!("{OBJECTS}/{fan}/{sha256}{ext}")
}

/// What backing up the objects did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ObjectsCopied {
    /// Objects whose content was copied into the pool.
    pub copied: u64,
    pub copied_bytes: u64,
    /// Objects read to hash them (new or changed since the previous backup).
    pub hashed: u64,
}

/// Brings every object of `source` into the pool; returns the manifest entries.
pub async fn back_up(
    source: &ObjectStorage,
    dest: &Destination,
    previous: &HashMap<String, ObjectEntry>,
    key: Option<&BackupKey>,
    progress: &super::super::progress::Progress,
) -> anyhow::Result<(Vec<ObjectEntry>, ObjectsCopied)> {
    let listed = source.list("").await.context("listing the object store")?;
    let pooled: std::collections::HashSet<String> = dest
        .list(OBJECTS)
        .await?
        .into_iter()
        .map(|o| o.key)
        .collect();
    let mut entries = Vec::with_capacity(listed.len());
    let mut stats = ObjectsCopied::default();
    for object in listed {
        let known = previous.get(&object.key).filter(|p| {
            p.size == object.size && p.modified == object.modified && p.e_tag == object.e_tag
        });
        let sha256 = match known {
            Some(p) if pooled.contains(&pool_path(&p.sha256, key.is_some())) => p.sha256.clone(),
            _ => {
                stats.hashed += 1;
                let (sha, copied) = copy_in(source, dest, &object, &pooled, key).await?;
                if copied {
                    stats.copied += 1;
                    stats.copied_bytes += object.size;
                }
                sha
            }
        };
        progress.advance(object.size);
        entries.push(ObjectEntry {
            key: object.key,
            size: object.size,
            sha256,
            modified: object.modified,
            e_tag: object.e_tag,
        });
    }
    entries.sort_by(|a, b| a.key.cmp(&b.key));
    Ok((entries, stats))
}

/// Streams one object into the pool under a temporary name while hashing it, then moves it to
/// its content name (or drops it when the pool already has that content).
async fn copy_in(
    source: &ObjectStorage,
    dest: &Destination,
    object: &ObjectInfo,
    pooled: &std::collections::HashSet<String>,
    key: Option<&BackupKey>,
) -> anyhow::Result<(String, bool)> {
    let incoming = dest.key(&format!(
        "{OBJECTS}/incoming/{}",
        uuid::Uuid::new_v4().simple()
    ));
    let mut stream = source
        .read_stream(&object.key)
        .await
        .with_context(|| format!("reading {}", object.key))?;
    let mut writer = dest.storage.writer(&incoming).await?;
    let mut hasher = Sha256::new();
    let mut sealer = key.map(|k| {
        let (s, header) = Sealer::new(k);
        writer.write(&header);
        s
    });
    let mut size = 0u64;
    while let Some(chunk) = stream.next().await {
        let chunk = match chunk {
            Ok(c) => c,
            Err(e) => {
                writer.abort().await;
                return Err(e).with_context(|| format!("reading {}", object.key));
            }
        };
        hasher.update(&chunk);
        size += chunk.len() as u64;
        match sealer.as_mut() {
            Some(s) => writer.write(&s.update(&chunk)?),
            None => writer.write(&chunk),
        }
    }
    if let Some(s) = sealer {
        writer.write(&s.finish()?);
    }
    writer.finish().await?;
    if size != object.size {
        dest.storage.delete(&incoming).await?;
        bail!(
            "{} changed while it was copied ({} bytes listed, {size} read): run the backup again",
            object.key,
            object.size
        );
    }
    let sha = hex::encode(hasher.finalize());
    let path = pool_path(&sha, key.is_some());
    if pooled.contains(&path) {
        dest.storage.delete(&incoming).await?;
        return Ok((sha, false));
    }
    dest.storage
        .rename(&incoming, &dest.key(&path))
        .await
        .with_context(|| format!("storing {}", object.key))?;
    Ok((sha, true))
}

/// Streams a pooled object through `sink` in plaintext and checks its size and hash.
async fn read_pooled(
    dest: &Destination,
    entry: &ObjectEntry,
    key: Option<&BackupKey>,
    mut sink: impl FnMut(&[u8]),
) -> anyhow::Result<()> {
    let path = dest.key(&pool_path(&entry.sha256, key.is_some()));
    let mut stream = dest
        .storage
        .read_stream(&path)
        .await
        .with_context(|| format!("the backup's copy of {} ({path}) is missing", entry.key))?;
    let mut opener = key.map(Opener::new);
    let mut hasher = Sha256::new();
    let mut size = 0u64;
    let mut feed = |plain: &[u8], hasher: &mut Sha256| {
        hasher.update(plain);
        size += plain.len() as u64;
        sink(plain);
    };
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.with_context(|| format!("reading {path}"))?;
        match opener.as_mut() {
            Some(o) => {
                let plain = o
                    .update(&chunk)
                    .with_context(|| format!("decrypting {path}"))?;
                feed(&plain, &mut hasher);
            }
            None => feed(&chunk, &mut hasher),
        }
    }
    if let Some(o) = opener {
        let plain = o.finish().with_context(|| format!("decrypting {path}"))?;
        feed(&plain, &mut hasher);
    }
    let sha = hex::encode(hasher.finalize());
    if size != entry.size || sha != entry.sha256 {
        bail!(
            "the backup's copy of {} is damaged ({size} bytes with sha256 {sha}; the manifest says {} bytes, {})",
            entry.key,
            entry.size,
            entry.sha256
        );
    }
    Ok(())
}

/// Hashes every object of the manifest in the pool (verify).
pub async fn check(
    dest: &Destination,
    entries: &[ObjectEntry],
    key: Option<&BackupKey>,
) -> anyhow::Result<u64> {
    let mut bytes = 0;
    for e in entries {
        read_pooled(dest, e, key, |_| {}).await?;
        bytes += e.size;
    }
    Ok(bytes)
}

/// Every object of the manifest exists in the pool with a plausible size (before a restore
/// writes anything).
pub async fn present(
    dest: &Destination,
    entries: &[ObjectEntry],
    key: Option<&BackupKey>,
) -> anyhow::Result<()> {
    let pooled: HashMap<String, u64> = dest
        .list(OBJECTS)
        .await?
        .into_iter()
        .map(|o| (o.key, o.size))
        .collect();
    for e in entries {
        let path = pool_path(&e.sha256, key.is_some());
        let Some(&stored) = pooled.get(&path) else {
            bail!(
                "the backup's copy of {} ({path}) is missing; nothing was changed",
                e.key
            );
        };
        // Encryption adds a header and a tag per 64 KiB chunk; plain copies are exact.
        let plausible = if key.is_some() {
            stored >= e.size
        } else {
            stored == e.size
        };
        if !plausible {
            bail!(
                "the backup's copy of {} ({path}) has {stored} bytes for {} bytes of content; nothing was changed",
                e.key,
                e.size
            );
        }
    }
    Ok(())
}

/// Writes every object of the manifest into `target`, checking each hash on the way; an object
/// the target already holds with the same size is left as it is. Returns the bytes written.
pub async fn restore(
    dest: &Destination,
    entries: &[ObjectEntry],
    target: &ObjectStorage,
    key: Option<&BackupKey>,
    progress: &super::super::progress::Progress,
) -> anyhow::Result<u64> {
    let mut written = 0;
    for e in entries {
        if matches!(target.size(&e.key).await, Ok(size) if size == e.size) {
            progress.advance(e.size);
            continue;
        }
        let mut writer = target.writer(&e.key).await?;
        let result = read_pooled(dest, e, key, |plain| writer.write(plain)).await;
        match result {
            Ok(()) => {
                writer.finish().await?;
                written += e.size;
            }
            Err(err) => {
                writer.abort().await;
                return Err(err);
            }
        }
        progress.advance(e.size);
    }
    Ok(written)
}
