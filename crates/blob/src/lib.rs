//! Payload storage for the relay: envelopes (ciphertext only) keyed by message id.
//!
//! A [`BlobStore`] accepts a payload only whole and verified: [`BlobStore::put`] consumes a
//! stream, checks its SHA-256 and length against what the sender announced, and makes the blob
//! visible under its key only once it is durable. A stream that ends early, errors (the client
//! disconnected) or is dropped half-way leaves nothing behind under the key.
//!
//! Two implementations, chosen by URL with [`open_blob_store`]:
//! - [`LocalBlobStore`] (`file:///var/lib/renkei/blobs` or a plain path): temp file → write →
//!   `sync_all` → rename → fsync the directory;
//! - [`S3BlobStore`] (`s3://bucket?endpoint=http://127.0.0.1:9000&region=us-east-1`): any
//!   S3-compatible service; the payload is verified in memory and written with one PUT, which
//!   S3 makes visible atomically.
//!
//! ```
//! # tokio::runtime::Runtime::new().unwrap().block_on(async {
//! use renkei_blob::{open_blob_store, Expected};
//! let dir = tempfile::tempdir().unwrap();
//! let store = open_blob_store(dir.path().to_str().unwrap()).await.unwrap();
//! let body = bytes::Bytes::from_static(b"RKE1...");
//! store.put_bytes("msg-1", body.clone(), Expected::of(&body)).await.unwrap();
//! assert_eq!(store.get_bytes("msg-1").await.unwrap(), body);
//! # });
//! ```

mod local;
mod s3;
#[cfg(feature = "testsuite")]
pub mod testsuite;

use std::sync::Arc;

use async_trait::async_trait;
use bytes::Bytes;
use futures::stream::BoxStream;
use futures::StreamExt;
use sha2::{Digest, Sha256};

pub use local::LocalBlobStore;
pub use s3::{S3BlobStore, S3Config};

/// Errors of blob stores.
#[derive(Debug, thiserror::Error)]
pub enum BlobError {
    /// No blob under that key.
    #[error("blob not found: {0}")]
    NotFound(String),
    /// The key is not 1–128 characters of `[A-Za-z0-9_-]`.
    #[error("invalid blob key {0:?}")]
    InvalidKey(String),
    /// The payload's length differs from the announced one (includes a stream cut short).
    #[error("length mismatch: expected {expected} bytes, got {actual}")]
    LengthMismatch {
        /// Announced.
        expected: u64,
        /// Received (so far, when the stream was longer than announced).
        actual: u64,
    },
    /// The payload's SHA-256 differs from the announced one.
    #[error("digest mismatch: expected {expected}, got {actual}")]
    DigestMismatch {
        /// Announced (hex).
        expected: String,
        /// Computed (hex).
        actual: String,
    },
    /// The incoming stream failed (typically: the client disconnected mid-upload).
    #[error("payload stream failed: {0}")]
    Body(String),
    /// The disk or bucket is full.
    #[error("storage full: {0}")]
    StorageFull(String),
    /// The storage failed or is unreachable; the operation may be retried.
    #[error("storage unavailable: {0}")]
    Unavailable(String),
    /// A bad store URL or configuration.
    #[error("blob store configuration: {0}")]
    Config(String),
}

impl BlobError {
    /// Map an I/O error, recognising a full disk.
    pub fn from_io(context: &str, e: std::io::Error) -> Self {
        if e.kind() == std::io::ErrorKind::StorageFull || e.raw_os_error() == Some(28) {
            BlobError::StorageFull(format!("{context}: {e}"))
        } else if e.kind() == std::io::ErrorKind::NotFound {
            BlobError::NotFound(context.to_owned())
        } else {
            BlobError::Unavailable(format!("{context}: {e}"))
        }
    }
}

/// What the sender announced about a payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Expected {
    /// SHA-256.
    pub sha256: [u8; 32],
    /// Length in bytes.
    pub length: u64,
}

impl Expected {
    /// The expectation that `bytes` meets (for callers that hold the whole payload).
    pub fn of(bytes: &[u8]) -> Self {
        Self {
            sha256: Sha256::digest(bytes).into(),
            length: bytes.len() as u64,
        }
    }
}

/// An incoming payload.
pub type ByteStream = BoxStream<'static, Result<Bytes, std::io::Error>>;

/// A stored payload being read.
pub struct BlobRead {
    /// Length in bytes.
    pub length: u64,
    /// The bytes.
    pub stream: BoxStream<'static, Result<Bytes, BlobError>>,
}

impl std::fmt::Debug for BlobRead {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BlobRead")
            .field("length", &self.length)
            .finish_non_exhaustive()
    }
}

/// One stored blob, as listed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlobEntry {
    /// Its key.
    pub key: String,
    /// When it was last written.
    pub modified: std::time::SystemTime,
}

/// One page of a listing: the blobs after the cursor and, if more may follow, the cursor for
/// the next page.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BlobPage {
    /// Blobs of this page (at most the requested limit).
    pub items: Vec<BlobEntry>,
    /// Pass this as `cursor` for the next page; `None` when the listing is complete.
    pub next: Option<String>,
}

/// A payload store. Keys are 1–128 characters of `[A-Za-z0-9_-]` (a UUID fits).
#[async_trait]
pub trait BlobStore: Send + Sync + std::fmt::Debug + 'static {
    /// Store `body` under `key` if and only if it matches `expected`; the blob is durable and
    /// visible when this returns `Ok`. On any error nothing is visible under `key` (unless an
    /// earlier successful put stored it).
    async fn put(&self, key: &str, body: ByteStream, expected: Expected) -> Result<(), BlobError>;

    /// Read a blob.
    async fn get(&self, key: &str) -> Result<BlobRead, BlobError>;

    /// Delete a blob; deleting a missing blob is not an error. Returns whether it existed.
    async fn delete(&self, key: &str) -> Result<bool, BlobError>;

    /// Whether a blob exists.
    async fn exists(&self, key: &str) -> Result<bool, BlobError>;

    /// List stored blobs page by page (for the relay's orphan sweep), starting after `cursor`
    /// (an opaque value from an earlier page; `None` starts at the beginning). Each blob is
    /// listed once in a complete walk; blobs written during the walk may or may not appear.
    async fn list(&self, cursor: Option<&str>, limit: usize) -> Result<BlobPage, BlobError>;

    /// [`put`](Self::put) from memory.
    async fn put_bytes(&self, key: &str, body: Bytes, expected: Expected) -> Result<(), BlobError> {
        self.put(
            key,
            futures::stream::once(async move { Ok(body) }).boxed(),
            expected,
        )
        .await
    }

    /// [`get`](Self::get) into memory.
    async fn get_bytes(&self, key: &str) -> Result<Bytes, BlobError> {
        let mut read = self.get(key).await?;
        let mut buf = Vec::with_capacity(usize::try_from(read.length).unwrap_or(0));
        while let Some(chunk) = read.stream.next().await {
            buf.extend_from_slice(&chunk?);
        }
        Ok(Bytes::from(buf))
    }
}

/// Check a key's shape (also keeps keys from escaping the local store's directory).
pub fn check_key(key: &str) -> Result<(), BlobError> {
    let ok = !key.is_empty()
        && key.len() <= 128
        && key
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if ok {
        Ok(())
    } else {
        Err(BlobError::InvalidKey(key.to_owned()))
    }
}

/// Incremental verification of a payload against its [`Expected`] values.
pub(crate) struct Verifier {
    expected: Expected,
    hasher: Sha256,
    seen: u64,
}

impl Verifier {
    pub(crate) fn new(expected: Expected) -> Self {
        Self {
            expected,
            hasher: Sha256::new(),
            seen: 0,
        }
    }

    /// Account for a chunk; fails as soon as the payload is longer than announced.
    pub(crate) fn update(&mut self, chunk: &[u8]) -> Result<(), BlobError> {
        self.seen += chunk.len() as u64;
        if self.seen > self.expected.length {
            return Err(BlobError::LengthMismatch {
                expected: self.expected.length,
                actual: self.seen,
            });
        }
        self.hasher.update(chunk);
        Ok(())
    }

    /// Check length and digest at the end.
    pub(crate) fn finish(self) -> Result<(), BlobError> {
        if self.seen != self.expected.length {
            return Err(BlobError::LengthMismatch {
                expected: self.expected.length,
                actual: self.seen,
            });
        }
        let actual: [u8; 32] = self.hasher.finalize().into();
        if actual != self.expected.sha256 {
            return Err(BlobError::DigestMismatch {
                expected: hex::encode(self.expected.sha256),
                actual: hex::encode(actual),
            });
        }
        Ok(())
    }
}

/// Open the store a URL names: `file:///abs/dir` or a plain path for [`LocalBlobStore`],
/// `s3://bucket?endpoint=…&region=…&access_key_id=…&secret_access_key=…&allow_http=true` for
/// [`S3BlobStore`] (credentials default to `AWS_ACCESS_KEY_ID` / `AWS_SECRET_ACCESS_KEY`).
pub async fn open_blob_store(url: &str) -> Result<Arc<dyn BlobStore>, BlobError> {
    if url.starts_with("s3://") {
        Ok(Arc::new(S3BlobStore::open(S3Config::from_url(url)?)?))
    } else if let Some(rest) = url.strip_prefix("file://") {
        let parsed = url::Url::parse(url)
            .map_err(|e| BlobError::Config(format!("bad file URL {url}: {e}")))?;
        let path = parsed.to_file_path().map_err(|_| {
            BlobError::Config(format!(
                "file URL {url} is not an absolute local path ({rest})"
            ))
        })?;
        Ok(Arc::new(LocalBlobStore::open(path).await?))
    } else if url.contains("://") {
        Err(BlobError::Config(format!(
            "unsupported blob store URL {url}: use file:// or s3://"
        )))
    } else {
        Ok(Arc::new(LocalBlobStore::open(url).await?))
    }
}
