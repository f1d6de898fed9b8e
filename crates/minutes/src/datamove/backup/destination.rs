//! Where backups go: a local directory or an S3-compatible bucket with a prefix, both seen
//! through the service's own object storage client. Layout under the root:
//! `archives/<id>.tar.zst[.enc]` and `objects/<sha256[..2]>/<sha256>[.enc]`.
use std::path::{Path, PathBuf};

use anyhow::{bail, Context};

use crate::config::Config;
use crate::storage::ObjectStorage;

pub const ARCHIVES: &str = "archives";
pub const OBJECTS: &str = "objects";

#[derive(Clone)]
pub struct Destination {
    pub storage: ObjectStorage,
    /// Key prefix inside the bucket (empty for a directory); no leading or trailing slash.
    prefix: String,
    /// How people name it (`/var/backups/minutes`, `s3://bucket/prefix`).
    pub display: String,
    /// The directory, for a local destination (archives are read from it directly).
    pub local: Option<PathBuf>,
}

impl Destination {
    /// `dir` or `s3://bucket[/prefix]`; the bucket is reached with `storage.s3`'s endpoint and
    /// credentials (the bucket name from the URL replaces the configured one).
    pub fn parse(config: &Config, to: &str) -> anyhow::Result<Destination> {
        if let Some(rest) = to.strip_prefix("s3://") {
            let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
            if bucket.is_empty() {
                bail!("{to}: the bucket name is missing (s3://bucket/prefix)");
            }
            let prefix = prefix.trim_matches('/').to_string();
            if prefix.split('/').any(|p| p == "." || p == "..") {
                bail!("{to}: the prefix may not contain . or .. segments");
            }
            let mut options = config.storage.s3.options().context(
                "an s3:// backup destination uses storage.s3's endpoint and credentials",
            )?;
            options.bucket = bucket.to_string();
            let storage = ObjectStorage::s3(options)
                .with_context(|| format!("opening the backup bucket {bucket}"))?;
            return Ok(Destination {
                storage,
                prefix,
                display: to.trim_end_matches('/').to_string(),
                local: None,
            });
        }
        Destination::directory(Path::new(to))
    }

    pub fn directory(dir: &Path) -> anyhow::Result<Destination> {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("creating the backup directory {}", dir.display()))?;
        let storage = ObjectStorage::local(dir)
            .with_context(|| format!("opening the backup directory {}", dir.display()))?;
        Ok(Destination {
            storage,
            prefix: String::new(),
            display: dir.display().to_string(),
            local: Some(dir.to_path_buf()),
        })
    }

    /// The destination and archive id of `archive` (a path or URL ending in
    /// `archives/<id>.tar.zst[.enc]`, as `backup create` prints it).
    pub fn of_archive(config: &Config, archive: &str) -> anyhow::Result<(Destination, String)> {
        let trimmed = archive.trim_end_matches('/');
        let (root, name) = trimmed
            .rsplit_once('/')
            .ok_or_else(|| anyhow::anyhow!("{archive}: expected …/archives/<id>.tar.zst"))?;
        let root = root
            .strip_suffix(ARCHIVES)
            .map(|r| r.trim_end_matches('/'))
            .ok_or_else(|| {
                anyhow::anyhow!("{archive}: the archive is not in an archives/ folder")
            })?;
        let id = super::archive::id_of(name)
            .ok_or_else(|| anyhow::anyhow!("{archive}: not a minutes backup archive name"))?
            .to_string();
        let root = if root.is_empty() { "." } else { root };
        Ok((Destination::parse(config, root)?, id))
    }

    /// The store key of `path` under this destination.
    pub fn key(&self, path: &str) -> String {
        if self.prefix.is_empty() {
            path.to_string()
        } else {
            format!("{}/{path}", self.prefix)
        }
    }

    /// Keys under `folder`, as paths relative to the root.
    pub async fn list(&self, folder: &str) -> anyhow::Result<Vec<crate::storage::ObjectInfo>> {
        let full = self.key(folder);
        let mut listed = match self.storage.list(&full).await {
            Ok(l) => l,
            Err(crate::storage::StorageError::Backend(object_store::Error::NotFound {
                ..
            })) => Vec::new(),
            Err(e) => return Err(e).with_context(|| format!("listing {}", self.display)),
        };
        let strip = if self.prefix.is_empty() {
            String::new()
        } else {
            format!("{}/", self.prefix)
        };
        for o in &mut listed {
            if let Some(rest) = o.key.strip_prefix(&strip) {
                o.key = rest.to_string();
            }
        }
        Ok(listed)
    }

    pub fn archive_path(&self, id: &str, encrypted: bool) -> String {
        format!("{ARCHIVES}/{}", super::archive::file_name(id, encrypted))
    }

    /// Where people find an archive (what `create` prints and `restore` takes).
    pub fn show(&self, path: &str) -> String {
        format!("{}/{path}", self.display)
    }
}
