//! Blobs in a local directory.
//!
//! Layout: `<root>/objects/<first two key chars>/<key>` for finished blobs and
//! `<root>/tmp/<uuid>.part` while writing. A blob reaches `objects/` only by `rename` after its
//! content was verified and `sync_all`'d, and the rename itself is made durable by fsyncing the
//! directory, so after a crash a key either names the whole verified payload or nothing.
//! Leftover `.part` files of a crash are removed at open.

use std::path::{Path, PathBuf};

use async_trait::async_trait;
use futures::StreamExt;
use tokio::io::AsyncWriteExt;

use crate::{check_key, BlobError, BlobRead, BlobStore, ByteStream, Expected, Verifier};

/// A blob store in a local directory.
#[derive(Debug, Clone)]
pub struct LocalBlobStore {
    root: PathBuf,
}

/// Removes a temp file unless disarmed: a put that fails or whose future is dropped (the client
/// went away) leaves no `.part` file behind.
struct TempGuard {
    path: Option<PathBuf>,
}

impl Drop for TempGuard {
    fn drop(&mut self) {
        if let Some(p) = self.path.take() {
            let _ = std::fs::remove_file(p);
        }
    }
}

async fn fsync_dir(dir: &Path) -> Result<(), BlobError> {
    let d = tokio::fs::File::open(dir)
        .await
        .map_err(|e| BlobError::from_io("open directory for fsync", e))?;
    d.sync_all()
        .await
        .map_err(|e| BlobError::from_io("fsync directory", e))
}

impl LocalBlobStore {
    /// Open (creating) the store at `root`, removing temp files left by a crash.
    pub async fn open(root: impl Into<PathBuf>) -> Result<Self, BlobError> {
        let root = root.into();
        for sub in ["objects", "tmp"] {
            tokio::fs::create_dir_all(root.join(sub))
                .await
                .map_err(|e| {
                    BlobError::from_io(&format!("create {}", root.join(sub).display()), e)
                })?;
        }
        let mut rd = tokio::fs::read_dir(root.join("tmp"))
            .await
            .map_err(|e| BlobError::from_io("read tmp", e))?;
        while let Some(entry) = rd
            .next_entry()
            .await
            .map_err(|e| BlobError::from_io("read tmp", e))?
        {
            if entry.file_name().to_string_lossy().ends_with(".part") {
                tracing::info!(path = %entry.path().display(), "removing unfinished upload left by a crash");
                tokio::fs::remove_file(entry.path())
                    .await
                    .map_err(|e| BlobError::from_io("remove temp", e))?;
            }
        }
        Ok(Self { root })
    }

    /// The directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    fn path_of(&self, key: &str) -> Result<PathBuf, BlobError> {
        check_key(key)?;
        let fan = &key[..key.len().min(2)];
        Ok(self.root.join("objects").join(fan).join(key))
    }

    /// Number of unfinished uploads in `tmp/` (for tests and monitoring).
    pub async fn temp_files(&self) -> Result<usize, BlobError> {
        let mut n = 0;
        let mut rd = tokio::fs::read_dir(self.root.join("tmp"))
            .await
            .map_err(|e| BlobError::from_io("read tmp", e))?;
        while rd
            .next_entry()
            .await
            .map_err(|e| BlobError::from_io("read tmp", e))?
            .is_some()
        {
            n += 1;
        }
        Ok(n)
    }
}

#[async_trait]
impl BlobStore for LocalBlobStore {
    async fn put(
        &self,
        key: &str,
        mut body: ByteStream,
        expected: Expected,
    ) -> Result<(), BlobError> {
        let dest = self.path_of(key)?;
        let tmp = self
            .root
            .join("tmp")
            .join(format!("{}.part", uuid::Uuid::new_v4()));
        let mut guard = TempGuard {
            path: Some(tmp.clone()),
        };
        let mut file = tokio::fs::File::create(&tmp)
            .await
            .map_err(|e| BlobError::from_io("create temp file", e))?;
        let mut verifier = Verifier::new(expected);
        while let Some(chunk) = body.next().await {
            let chunk = chunk.map_err(|e| BlobError::Body(e.to_string()))?;
            verifier.update(&chunk)?;
            file.write_all(&chunk)
                .await
                .map_err(|e| BlobError::from_io("write temp file", e))?;
        }
        verifier.finish()?;
        file.flush()
            .await
            .map_err(|e| BlobError::from_io("flush temp file", e))?;
        // The content must be on disk before the name points at it; otherwise a crash after the
        // rename could leave a complete-looking name over a short file.
        file.sync_all()
            .await
            .map_err(|e| BlobError::from_io("fsync temp file", e))?;
        drop(file);
        let parent = dest.parent().expect("objects/<fan>/<key> has a parent");
        if !tokio::fs::try_exists(parent).await.unwrap_or(false) {
            tokio::fs::create_dir_all(parent)
                .await
                .map_err(|e| BlobError::from_io("create fan-out directory", e))?;
            // Make the new fan-out directory's entry durable in objects/.
            fsync_dir(&self.root.join("objects")).await?;
        }
        tokio::fs::rename(&tmp, &dest)
            .await
            .map_err(|e| BlobError::from_io("rename into place", e))?;
        guard.path = None;
        // The rename lives in the directory: fsync it so the name survives a power cut.
        fsync_dir(parent).await?;
        Ok(())
    }

    async fn get(&self, key: &str) -> Result<BlobRead, BlobError> {
        let path = self.path_of(key)?;
        let file = match tokio::fs::File::open(&path).await {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(BlobError::NotFound(key.to_owned()))
            }
            Err(e) => return Err(BlobError::from_io("open blob", e)),
        };
        let length = file
            .metadata()
            .await
            .map_err(|e| BlobError::from_io("stat blob", e))?
            .len();
        let stream = tokio_util::io::ReaderStream::with_capacity(file, 64 * 1024)
            .map(|r| r.map_err(|e| BlobError::from_io("read blob", e)))
            .boxed();
        Ok(BlobRead { length, stream })
    }

    async fn delete(&self, key: &str) -> Result<bool, BlobError> {
        let path = self.path_of(key)?;
        match tokio::fs::remove_file(&path).await {
            Ok(()) => {
                if let Some(parent) = path.parent() {
                    fsync_dir(parent).await?;
                }
                Ok(true)
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
            Err(e) => Err(BlobError::from_io("delete blob", e)),
        }
    }

    async fn exists(&self, key: &str) -> Result<bool, BlobError> {
        let path = self.path_of(key)?;
        tokio::fs::try_exists(&path)
            .await
            .map_err(|e| BlobError::from_io("stat blob", e))
    }
}
