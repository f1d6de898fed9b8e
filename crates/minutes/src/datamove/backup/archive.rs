//! One backup archive: a tar of `manifest.json` (first, so listing reads only it) and one
//! `tables/<name>.jsonl` per data table (a header line with the column names, then one JSON
//! array per row), zstd-compressed and optionally encrypted (`crypt.rs`). Objects are not in
//! the archive: they live once each in the destination's content-addressed pool
//! (`objects.rs`), which is what makes a backup of unchanged objects incremental.
use std::fs::File;
use std::io::{BufReader, BufWriter, Read, Write};
use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use serde::{Deserialize, Serialize};

use super::crypt::{BackupKey, DecryptReader, EncryptWriter};

/// Archive format version; a reader refuses newer formats.
pub const FORMAT: u32 = 1;
pub const MANIFEST: &str = "manifest.json";
/// What an encrypted archive starts with (`crypt.rs`).
const ENCRYPTED_MAGIC: &[u8] = b"MINUTES-BACKUP-XC1\n";

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Manifest {
    pub format: u32,
    /// `minutes-<UTC time>` (also the archive's file name without extension).
    pub id: String,
    pub created_at: chrono::DateTime<chrono::Utc>,
    /// `minutes <version>` of the binary that wrote it.
    pub created_by: String,
    /// `sqlite` or `postgres`: where the rows came from (a restore may go to either).
    pub database: String,
    /// The newest applied migration: a restore needs a binary whose head is this level.
    pub migration: i64,
    pub encrypted: bool,
    /// Personal fields in the rows are sealed with these field-encryption key ids (empty: the
    /// fields are plaintext). Those keys are not in the archive.
    pub sealed_with: Vec<String>,
    pub tables: Vec<TableEntry>,
    pub objects: Vec<ObjectEntry>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct TableEntry {
    pub name: String,
    pub rows: u64,
    /// `store::rows::TableDigest` in hex.
    pub digest: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct ObjectEntry {
    pub key: String,
    pub size: u64,
    pub sha256: String,
    /// The object store's last-modified time and entity tag when it was hashed: a later backup
    /// that sees the same key, size, time and tag reuses the hash without reading the object.
    pub modified: chrono::DateTime<chrono::Utc>,
    pub e_tag: Option<String>,
}

impl Manifest {
    pub fn object_bytes(&self) -> u64 {
        self.objects.iter().map(|o| o.size).sum()
    }

    pub fn rows(&self) -> u64 {
        self.tables.iter().map(|t| t.rows).sum()
    }
}

/// The archive's file name for `id`.
pub fn file_name(id: &str, encrypted: bool) -> String {
    if encrypted {
        format!("{id}.tar.zst.enc")
    } else {
        format!("{id}.tar.zst")
    }
}

/// The id of an archive file name, if it is one.
pub fn id_of(name: &str) -> Option<&str> {
    name.strip_suffix(".tar.zst.enc")
        .or_else(|| name.strip_suffix(".tar.zst"))
        .filter(|id| id.starts_with("minutes-"))
}

/// Writes `manifest` and the table files in `tables` (named `<table>.jsonl`) as one archive.
/// Blocking: run it off the async runtime.
pub fn write(
    out: &Path,
    manifest: &Manifest,
    tables: &Path,
    key: Option<&BackupKey>,
) -> anyhow::Result<u64> {
    let file =
        BufWriter::new(File::create(out).with_context(|| format!("creating {}", out.display()))?);
    match key {
        Some(key) => {
            let enc = EncryptWriter::new(file, key)?;
            let enc = write_tar(enc, manifest, tables)?;
            enc.finish()?.flush()?;
        }
        None => write_tar(file, manifest, tables)?.flush()?,
    }
    Ok(std::fs::metadata(out)?.len())
}

fn write_tar<W: Write>(inner: W, manifest: &Manifest, tables: &Path) -> anyhow::Result<W> {
    let mut zstd = zstd::Encoder::new(inner, 3)?;
    // A frame checksum: a flipped bit anywhere fails decompression, not only the row digests.
    zstd.include_checksum(true)?;
    let mut tar = tar::Builder::new(zstd);
    let json = serde_json::to_vec_pretty(manifest)?;
    let mut header = tar::Header::new_gnu();
    header.set_size(json.len() as u64);
    header.set_mode(0o600);
    header.set_mtime(manifest.created_at.timestamp().max(0) as u64);
    header.set_cksum();
    tar.append_data(&mut header, MANIFEST, json.as_slice())?;
    for t in &manifest.tables {
        let path = tables.join(format!("{}.jsonl", t.name));
        let mut f = File::open(&path).with_context(|| format!("reading {}", path.display()))?;
        tar.append_file(format!("tables/{}.jsonl", t.name), &mut f)?;
    }
    Ok(tar.into_inner()?.finish()?)
}

fn open(path: &Path, key: Option<&BackupKey>) -> anyhow::Result<Box<dyn Read>> {
    let mut file = BufReader::new(
        File::open(path).with_context(|| format!("opening the archive {}", path.display()))?,
    );
    let mut magic = vec![0u8; ENCRYPTED_MAGIC.len()];
    let n = read_up_to(&mut file, &mut magic)?;
    let encrypted = n == magic.len() && magic == ENCRYPTED_MAGIC;
    let head = std::io::Cursor::new(magic[..n].to_vec());
    let raw = head.chain(file);
    let plain: Box<dyn Read> = match (encrypted, key) {
        (true, Some(key)) => Box::new(DecryptReader::new(raw, key)),
        (true, None) => bail!(
            "the archive is encrypted: set the backup key (MINUTES_BACKUP_KEY or backup.key_file)"
        ),
        (false, _) => Box::new(raw),
    };
    Ok(Box::new(zstd::Decoder::new(plain)?))
}

fn read_up_to(r: &mut impl Read, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..])? {
            0 => break,
            k => n += k,
        }
    }
    Ok(n)
}

fn damaged(path: &Path, e: impl std::fmt::Display) -> anyhow::Error {
    anyhow::anyhow!(
        "the archive {} is damaged or truncated ({e}); nothing was changed",
        path.display()
    )
}

/// Reads only the manifest (the first entry).
pub fn read_manifest(path: &Path, key: Option<&BackupKey>) -> anyhow::Result<Manifest> {
    let mut tar = tar::Archive::new(open(path, key)?);
    let mut entries = tar.entries().map_err(|e| damaged(path, e))?;
    let first = entries
        .next()
        .ok_or_else(|| damaged(path, "no entries"))?
        .map_err(|e| damaged(path, e))?;
    parse_manifest(path, first)
}

fn parse_manifest(path: &Path, entry: impl Read) -> anyhow::Result<Manifest> {
    let manifest: Manifest =
        serde_json::from_reader(entry).map_err(|e| damaged(path, format!("manifest: {e}")))?;
    if manifest.format > FORMAT {
        bail!(
            "the archive is format {} and this binary reads up to {FORMAT}: restore it with a newer minutes",
            manifest.format
        );
    }
    Ok(manifest)
}

/// Unpacks the archive into `dir` (`<table>.jsonl` files) and returns its manifest. Only the
/// manifest and the table files the manifest lists are accepted; any other entry, a missing
/// table or a decompression or decryption error fails the whole read.
pub fn extract(path: &Path, dir: &Path, key: Option<&BackupKey>) -> anyhow::Result<Manifest> {
    let mut tar = tar::Archive::new(open(path, key)?);
    let mut manifest: Option<Manifest> = None;
    let mut seen: Vec<String> = Vec::new();
    for entry in tar.entries().map_err(|e| damaged(path, e))? {
        let mut entry = entry.map_err(|e| damaged(path, e))?;
        let name = entry
            .path()
            .map_err(|e| damaged(path, e))?
            .to_string_lossy()
            .into_owned();
        if manifest.is_none() {
            if name != MANIFEST {
                return Err(damaged(path, format!("{name} before the manifest")));
            }
            manifest = Some(parse_manifest(path, &mut entry)?);
            continue;
        }
        let m = manifest.as_ref().expect("read first");
        let table = name
            .strip_prefix("tables/")
            .and_then(|n| n.strip_suffix(".jsonl"))
            // Only catalog tables the manifest lists, once each: the name becomes a file name.
            .filter(|t| {
                crate::store::catalog::table(t).is_some()
                    && m.tables.iter().any(|e| e.name == *t)
                    && !seen.iter().any(|s| s == t)
            })
            .ok_or_else(|| damaged(path, format!("unexpected entry {name}")))?
            .to_string();
        // The name is one of the manifest's table names, checked above: no path escapes.
        let out: PathBuf = dir.join(format!("{table}.jsonl"));
        let mut file = File::create(&out)?;
        std::io::copy(&mut entry, &mut file).map_err(|e| damaged(path, e))?;
        seen.push(table);
    }
    let manifest = manifest.ok_or_else(|| damaged(path, "no manifest"))?;
    // Object hashes name files in the pool: anything but a SHA-256 in hex is damage.
    if let Some(bad) = manifest.objects.iter().find(|o| {
        o.sha256.len() != 64
            || !o
                .sha256
                .bytes()
                .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
    }) {
        return Err(damaged(
            path,
            format!("object {} has no valid sha256", bad.key),
        ));
    }
    for t in &manifest.tables {
        if !seen.contains(&t.name) {
            return Err(damaged(path, format!("table {} is missing", t.name)));
        }
    }
    Ok(manifest)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn manifest(tables: &[&str], sha256: &str) -> Manifest {
        Manifest {
            format: FORMAT,
            id: "minutes-20261208T000000.000Z".into(),
            created_at: chrono::Utc::now(),
            created_by: "test".into(),
            database: "sqlite".into(),
            migration: 1,
            encrypted: false,
            sealed_with: Vec::new(),
            tables: tables
                .iter()
                .map(|t| TableEntry {
                    name: t.to_string(),
                    rows: 0,
                    digest: String::new(),
                })
                .collect(),
            objects: vec![ObjectEntry {
                key: "uploads/a.wav".into(),
                size: 1,
                sha256: sha256.into(),
                modified: chrono::Utc::now(),
                e_tag: None,
            }],
        }
    }

    fn round_trip(tables: &[&str], sha256: &str) -> anyhow::Result<Manifest> {
        let dir = tempfile::tempdir()?;
        let src = dir.path().join("a/b");
        std::fs::create_dir_all(&src)?;
        for t in tables {
            std::fs::write(src.join(format!("{t}.jsonl")), "{\"columns\":[]}\n")?;
        }
        let file = dir.path().join("x.tar.zst");
        write(&file, &manifest(tables, sha256), &src, None)?;
        let out = dir.path().join("out/c");
        std::fs::create_dir_all(&out)?;
        extract(&file, &out, None)
    }

    #[test]
    fn table_names_outside_the_catalog_and_bad_hashes_are_refused_before_any_file_is_written() {
        let good = "a".repeat(64);
        assert!(round_trip(&["tenants"], &good).is_ok());
        let err = round_trip(&["not_a_catalog_table"], &good).unwrap_err();
        assert!(err.to_string().contains("unexpected entry"), "{err}");
        let err = round_trip(&["tenants"], "../x").unwrap_err();
        assert!(err.to_string().contains("valid sha256"), "{err}");
    }
}
