//! Object storage for uploads and intermediate audio, over the `object_store` crate: a local
//! directory (`local.rs`, the embedded default) or an S3-compatible bucket (`s3.rs`), chosen by
//! `storage.backend` in the composition root. Callers see one `ObjectStorage` either way.
mod local;
mod s3;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use bytes::Bytes;
use futures::stream::BoxStream;
use futures::StreamExt;
use object_store::path::Path as ObjectPath;
use object_store::{GetOptions, GetRange, ObjectStore, PutPayload, WriteMultipart};
use sha2::{Digest, Sha256};
use tokio::io::AsyncWriteExt;

pub use s3::S3Options;

/// Parts of a streaming upload; S3 needs at least 5 MiB for every part but the last.
const PART_SIZE: usize = 8 * 1024 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    #[error("object not found: {0}")]
    NotFound(String),
    #[error("object store error: {0}")]
    Backend(#[from] object_store::Error),
    #[error("i/o error: {0}")]
    Io(#[from] std::io::Error),
    #[error("invalid object key")]
    InvalidKey,
    /// The store cannot hand out URLs (the embedded local directory store).
    #[error("this object store cannot create presigned URLs")]
    PresignUnsupported,
}

impl StorageError {
    /// A read's error: a missing object names its key.
    fn of(key: &str, e: object_store::Error) -> StorageError {
        match e {
            object_store::Error::NotFound { .. } => StorageError::NotFound(key.to_string()),
            other => StorageError::Backend(other),
        }
    }
}

/// Creates time-limited GET URLs for objects, so a provider that downloads the audio itself
/// (Volcano) can fetch it without credentials. S3-compatible stores presign; the local
/// directory store has no URL to give and no signer.
#[async_trait::async_trait]
pub trait UrlSigner: Send + Sync {
    async fn signed_get_url(
        &self,
        key: &str,
        expires_in: std::time::Duration,
    ) -> Result<String, StorageError>;
}

/// What a finished streaming upload wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Written {
    pub size_bytes: u64,
    pub sha256: String,
}

/// A streaming writer: chunks go to the store as they arrive; nothing is kept in memory.
pub struct ObjectWriter {
    upload: WriteMultipart,
    hasher: Sha256,
    size: u64,
}

impl ObjectWriter {
    pub fn write(&mut self, chunk: &[u8]) {
        self.hasher.update(chunk);
        self.size += chunk.len() as u64;
        self.upload.write(chunk);
    }

    pub fn size(&self) -> u64 {
        self.size
    }

    pub async fn finish(self) -> Result<Written, StorageError> {
        self.upload.finish().await?;
        Ok(Written {
            size_bytes: self.size,
            sha256: hex::encode(self.hasher.finalize()),
        })
    }

    /// Discards a partial upload: no temp file, half object or pending multipart upload is
    /// left behind.
    pub async fn abort(self) {
        if let Err(e) = self.upload.abort().await {
            tracing::warn!(error = %e, "could not abort a partial upload");
        }
    }
}

/// One listed object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectInfo {
    pub key: String,
    pub size: u64,
    pub modified: chrono::DateTime<chrono::Utc>,
    pub e_tag: Option<String>,
}

#[derive(Clone)]
pub struct ObjectStorage {
    inner: Arc<dyn ObjectStore>,
    signer: Option<Arc<dyn UrlSigner>>,
}

impl ObjectStorage {
    /// Presigns GET URLs through `signer` (the store's own, or a test double).
    pub fn with_signer(mut self, signer: Arc<dyn UrlSigner>) -> ObjectStorage {
        self.signer = Some(signer);
        self
    }

    /// Whether [`ObjectStorage::presigned_get`] can work.
    pub fn can_presign(&self) -> bool {
        self.signer.is_some()
    }

    /// A URL anyone holding it can GET `key` with until `expires_in` has passed.
    pub async fn presigned_get(
        &self,
        key: &str,
        expires_in: std::time::Duration,
    ) -> Result<String, StorageError> {
        object_path(key)?;
        match &self.signer {
            Some(signer) => signer.signed_get_url(key, expires_in).await,
            None => Err(StorageError::PresignUnsupported),
        }
    }

    pub async fn writer(&self, key: &str) -> Result<ObjectWriter, StorageError> {
        let upload = self.inner.put_multipart(&object_path(key)?).await?;
        Ok(ObjectWriter {
            upload: WriteMultipart::new_with_chunk_size(upload, PART_SIZE),
            hasher: Sha256::new(),
            size: 0,
        })
    }

    pub async fn put(&self, key: &str, data: Bytes) -> Result<(), StorageError> {
        self.inner
            .put(&object_path(key)?, PutPayload::from(data))
            .await?;
        Ok(())
    }

    /// Streams `local` into the store under `key`.
    pub async fn put_file(&self, key: &str, local: &Path) -> Result<Written, StorageError> {
        let mut file = tokio::fs::File::open(local).await?;
        let mut writer = self.writer(key).await?;
        let mut buf = vec![0u8; 1 << 20];
        loop {
            let n = tokio::io::AsyncReadExt::read(&mut file, &mut buf).await?;
            if n == 0 {
                break;
            }
            writer.write(&buf[..n]);
        }
        writer.finish().await
    }

    /// Streams the object to a local file (the decoders and engines need a path).
    pub async fn download_to(&self, key: &str, dest: &Path) -> Result<PathBuf, StorageError> {
        let result = self
            .inner
            .get(&object_path(key)?)
            .await
            .map_err(|e| StorageError::of(key, e))?;
        let mut stream = result.into_stream();
        let mut file = tokio::fs::File::create(dest).await?;
        while let Some(chunk) = stream.next().await {
            file.write_all(&chunk?).await?;
        }
        file.flush().await?;
        Ok(dest.to_path_buf())
    }

    /// The object's size in bytes (`NotFound` when it is gone).
    pub async fn size(&self, key: &str) -> Result<u64, StorageError> {
        match self.inner.head(&object_path(key)?).await {
            Ok(meta) => Ok(meta.size),
            Err(object_store::Error::NotFound { .. }) => {
                Err(StorageError::NotFound(key.to_string()))
            }
            Err(e) => Err(e.into()),
        }
    }

    /// Bytes `range` of the object as a stream of chunks (media playback: nothing is buffered
    /// beyond the chunk being sent).
    pub async fn read_range(
        &self,
        key: &str,
        range: std::ops::Range<u64>,
    ) -> Result<BoxStream<'static, Result<Bytes, StorageError>>, StorageError> {
        let options = GetOptions {
            range: Some(GetRange::Bounded(range)),
            ..GetOptions::default()
        };
        let result = self
            .inner
            .get_opts(&object_path(key)?, options)
            .await
            .map_err(|e| StorageError::of(key, e))?;
        Ok(result
            .into_stream()
            .map(|c| c.map_err(StorageError::from))
            .boxed())
    }

    /// The whole object as a stream of chunks.
    pub async fn read_stream(
        &self,
        key: &str,
    ) -> Result<BoxStream<'static, Result<Bytes, StorageError>>, StorageError> {
        let result = self
            .inner
            .get(&object_path(key)?)
            .await
            .map_err(|e| StorageError::of(key, e))?;
        Ok(result
            .into_stream()
            .map(|c| c.map_err(StorageError::from))
            .boxed())
    }

    /// Every object under `prefix` (a folder: `uploads` lists `uploads/…`; empty: all), with
    /// its size and last change, in no particular order.
    pub async fn list(&self, prefix: &str) -> Result<Vec<ObjectInfo>, StorageError> {
        let prefix = if prefix.is_empty() {
            None
        } else {
            Some(object_path(prefix)?)
        };
        let mut out = Vec::new();
        let mut listing = self.inner.list(prefix.as_ref());
        while let Some(meta) = listing.next().await {
            let meta = meta?;
            out.push(ObjectInfo {
                key: meta.location.to_string(),
                size: meta.size,
                modified: meta.last_modified,
                e_tag: meta.e_tag,
            });
        }
        Ok(out)
    }

    pub async fn exists(&self, key: &str) -> Result<bool, StorageError> {
        match self.inner.head(&object_path(key)?).await {
            Ok(_) => Ok(true),
            Err(object_store::Error::NotFound { .. }) => Ok(false),
            Err(e) => Err(e.into()),
        }
    }

    /// Moves `from` to `to` (a rename on a directory; copy and delete on S3).
    pub async fn rename(&self, from: &str, to: &str) -> Result<(), StorageError> {
        self.inner
            .rename(&object_path(from)?, &object_path(to)?)
            .await?;
        Ok(())
    }

    pub async fn delete(&self, key: &str) -> Result<(), StorageError> {
        match self.inner.delete(&object_path(key)?).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }
}

/// The store path of `key`. Keys are generated by the server; still, never let one escape the
/// local root or name a different object than it spells.
fn object_path(key: &str) -> Result<ObjectPath, StorageError> {
    if key.is_empty()
        || key
            .split('/')
            .any(|p| p.is_empty() || p == "." || p == "..")
    {
        return Err(StorageError::InvalidKey);
    }
    ObjectPath::parse(key).map_err(|_| StorageError::InvalidKey)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn storage_keys_cannot_escape_or_be_ambiguous() {
        for bad in ["", "/a", "a/", "a//b", "a/../b", "./a", ".."] {
            assert!(
                matches!(object_path(bad), Err(StorageError::InvalidKey)),
                "{bad:?} should be refused"
            );
        }
        let path = object_path("uploads/t-1/part 1.wav").expect("a generated key");
        assert_eq!(path.as_ref(), "uploads/t-1/part 1.wav");
    }
}
