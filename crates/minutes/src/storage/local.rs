//! The embedded default: objects as files under one local directory. It has no URL to give,
//! so it cannot presign (a provider that downloads the audio itself needs `s3`).
use std::path::Path;
use std::sync::Arc;

use object_store::local::LocalFileSystem;

use super::{ObjectStorage, StorageError};

impl ObjectStorage {
    /// A local directory store rooted at `root` (created if missing).
    pub fn local(root: &Path) -> Result<ObjectStorage, StorageError> {
        std::fs::create_dir_all(root)?;
        let fs = LocalFileSystem::new_with_prefix(root)?;
        Ok(ObjectStorage {
            inner: Arc::new(fs),
            signer: None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn local_storage_round_trips_a_stream_reads_ranges_and_cannot_presign() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = ObjectStorage::local(&dir.path().join("objects")).expect("store");
        let mut writer = store.writer("uploads/a/b.wav").await.expect("writer");
        writer.write(b"hello ");
        writer.write(b"world");
        let written = writer.finish().await.expect("finish");
        assert_eq!(written.size_bytes, 11);
        assert_eq!(
            written.sha256,
            "b94d27b9934d3e08a52e52d7da7dabfac484efe37a5380ee9088f7ace2efcde9"
        );
        let dest = dir.path().join("copy");
        store
            .download_to("uploads/a/b.wav", &dest)
            .await
            .expect("download");
        assert_eq!(std::fs::read(&dest).expect("read"), b"hello world");
        assert_eq!(store.size("uploads/a/b.wav").await.expect("size"), 11);
        let mut part = Vec::new();
        let mut chunks = store
            .read_range("uploads/a/b.wav", 3..8)
            .await
            .expect("range");
        while let Some(chunk) = futures::StreamExt::next(&mut chunks).await {
            part.extend_from_slice(&chunk.expect("chunk"));
        }
        assert_eq!(part, b"lo wo");
        assert!(!store.can_presign());
        let err = store
            .presigned_get("uploads/a/b.wav", std::time::Duration::from_secs(60))
            .await
            .expect_err("no URL for a directory");
        assert!(matches!(err, StorageError::PresignUnsupported), "{err}");
        store.delete("uploads/a/b.wav").await.expect("delete");
        assert!(!store.exists("uploads/a/b.wav").await.expect("head"));
        let missing = store.download_to("uploads/a/b.wav", &dest).await;
        assert!(matches!(missing, Err(StorageError::NotFound(_))));
        let gone = store.size("uploads/a/b.wav").await;
        assert!(matches!(gone, Err(StorageError::NotFound(_))));
        let gone = store.read_range("uploads/a/b.wav", 0..1).await;
        assert!(matches!(gone, Err(StorageError::NotFound(_))));
    }
}
