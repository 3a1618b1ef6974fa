//! Blobs in an S3-compatible bucket (AWS S3, MinIO, Ceph RGW, moto …) through `object_store`.
//!
//! Envelopes are small (the relay caps them, 20 MB by default), so a put reads the stream into
//! memory while verifying it and then issues one PUT: S3 makes an object visible atomically
//! and only after it is durably stored, so a cut-off upload never appears under its key.

use std::sync::Arc;

use async_trait::async_trait;
use bytes::{Bytes, BytesMut};
use futures::StreamExt;
use object_store::aws::{AmazonS3, AmazonS3Builder};
use object_store::path::Path;
use object_store::{ObjectStore, PutPayload};

use crate::{
    check_key, BlobEntry, BlobError, BlobPage, BlobRead, BlobStore, ByteStream, Expected, Verifier,
};

/// Where the bucket is.
#[derive(Clone, PartialEq, Eq)]
pub struct S3Config {
    /// Bucket name.
    pub bucket: String,
    /// Endpoint URL (`http://127.0.0.1:9000`); None for AWS itself.
    pub endpoint: Option<String>,
    /// Region (`us-east-1` when unsure).
    pub region: String,
    /// Access key id.
    pub access_key_id: String,
    /// Secret access key.
    pub secret_access_key: String,
    /// Allow plain HTTP (only for a loopback or otherwise protected endpoint).
    pub allow_http: bool,
    /// Key prefix inside the bucket (e.g. `renkei/`), may be empty.
    pub prefix: String,
}

impl std::fmt::Debug for S3Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("S3Config")
            .field("bucket", &self.bucket)
            .field("endpoint", &self.endpoint)
            .field("region", &self.region)
            .field("access_key_id", &self.access_key_id)
            .field("secret_access_key", &"<redacted>")
            .field("allow_http", &self.allow_http)
            .field("prefix", &self.prefix)
            .finish()
    }
}

impl S3Config {
    /// Parse `s3://bucket[/prefix]?endpoint=…&region=…&access_key_id=…&secret_access_key=…&allow_http=true`.
    /// Missing credentials come from `AWS_ACCESS_KEY_ID` / `AWS_SECRET_ACCESS_KEY`; `allow_http`
    /// defaults to true only for an `http://` endpoint on a loopback address.
    pub fn from_url(url: &str) -> Result<Self, BlobError> {
        let parsed =
            url::Url::parse(url).map_err(|e| BlobError::Config(format!("bad S3 URL: {e}")))?;
        if parsed.scheme() != "s3" {
            return Err(BlobError::Config(format!(
                "not an s3:// URL: {}",
                parsed.scheme()
            )));
        }
        let bucket = parsed
            .host_str()
            .filter(|b| !b.is_empty())
            .ok_or_else(|| BlobError::Config("S3 URL names no bucket".into()))?;
        let mut cfg = S3Config {
            bucket: bucket.to_owned(),
            endpoint: None,
            region: "us-east-1".into(),
            access_key_id: std::env::var("AWS_ACCESS_KEY_ID").unwrap_or_default(),
            secret_access_key: std::env::var("AWS_SECRET_ACCESS_KEY").unwrap_or_default(),
            allow_http: false,
            prefix: parsed.path().trim_start_matches('/').to_owned(),
        };
        let mut allow_http = None;
        for (k, v) in parsed.query_pairs() {
            match &*k {
                "endpoint" => cfg.endpoint = Some(v.into_owned()),
                "region" => cfg.region = v.into_owned(),
                "access_key_id" => cfg.access_key_id = v.into_owned(),
                "secret_access_key" => cfg.secret_access_key = v.into_owned(),
                "allow_http" => allow_http = Some(v == "true" || v == "1"),
                other => {
                    return Err(BlobError::Config(format!(
                        "unknown S3 URL parameter {other:?}"
                    )))
                }
            }
        }
        let loopback_http = cfg.endpoint.as_deref().is_some_and(|e| {
            e.starts_with("http://127.")
                || e.starts_with("http://localhost")
                || e.starts_with("http://[::1]")
        });
        cfg.allow_http = allow_http.unwrap_or(loopback_http);
        if cfg.access_key_id.is_empty() || cfg.secret_access_key.is_empty() {
            return Err(BlobError::Config(
                "S3 credentials missing: set access_key_id/secret_access_key in the URL or AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY"
                    .into(),
            ));
        }
        Ok(cfg)
    }
}

/// A blob store in an S3-compatible bucket.
#[derive(Debug, Clone)]
pub struct S3BlobStore {
    store: Arc<AmazonS3>,
    prefix: String,
}

fn map_os(context: &str, e: object_store::Error) -> BlobError {
    match e {
        object_store::Error::NotFound { .. } => BlobError::NotFound(context.to_owned()),
        other => {
            let text = other.to_string();
            if text.contains("StorageFull") {
                BlobError::StorageFull(format!("{context}: {text}"))
            } else {
                BlobError::Unavailable(format!("{context}: {text}"))
            }
        }
    }
}

impl S3BlobStore {
    /// Build the client (no request is made until the first operation).
    pub fn open(cfg: S3Config) -> Result<Self, BlobError> {
        let mut b = AmazonS3Builder::new()
            .with_bucket_name(&cfg.bucket)
            .with_region(&cfg.region)
            .with_access_key_id(&cfg.access_key_id)
            .with_secret_access_key(&cfg.secret_access_key)
            .with_allow_http(cfg.allow_http);
        if let Some(ep) = &cfg.endpoint {
            b = b.with_endpoint(ep).with_virtual_hosted_style_request(false);
        }
        let store = b.build().map_err(|e| BlobError::Config(e.to_string()))?;
        let mut prefix = cfg.prefix;
        if !prefix.is_empty() && !prefix.ends_with('/') {
            prefix.push('/');
        }
        Ok(Self {
            store: Arc::new(store),
            prefix,
        })
    }

    fn path_of(&self, key: &str) -> Result<Path, BlobError> {
        check_key(key)?;
        Ok(Path::from(format!("{}{key}", self.prefix)))
    }
}

#[async_trait]
impl BlobStore for S3BlobStore {
    async fn put(
        &self,
        key: &str,
        mut body: ByteStream,
        expected: Expected,
    ) -> Result<(), BlobError> {
        let path = self.path_of(key)?;
        let mut verifier = Verifier::new(expected);
        let mut buf =
            BytesMut::with_capacity(usize::try_from(expected.length.min(64 << 20)).unwrap_or(0));
        while let Some(chunk) = body.next().await {
            let chunk = chunk.map_err(|e| BlobError::Body(e.to_string()))?;
            verifier.update(&chunk)?;
            buf.extend_from_slice(&chunk);
        }
        verifier.finish()?;
        self.store
            .put(&path, PutPayload::from(buf.freeze()))
            .await
            .map_err(|e| map_os(&format!("put {key}"), e))?;
        Ok(())
    }

    async fn get(&self, key: &str) -> Result<BlobRead, BlobError> {
        let path = self.path_of(key)?;
        let res = self.store.get(&path).await.map_err(|e| map_os(key, e))?;
        let length = res.meta.size;
        let owned_key = key.to_owned();
        let stream = res
            .into_stream()
            .map(move |r: Result<Bytes, _>| r.map_err(|e| map_os(&owned_key, e)))
            .boxed();
        Ok(BlobRead { length, stream })
    }

    async fn delete(&self, key: &str) -> Result<bool, BlobError> {
        let existed = self.exists(key).await?;
        let path = self.path_of(key)?;
        match self.store.delete(&path).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(existed),
            Err(e) => Err(map_os(key, e)),
        }
    }

    async fn exists(&self, key: &str) -> Result<bool, BlobError> {
        let path = self.path_of(key)?;
        match self.store.head(&path).await {
            Ok(_) => Ok(true),
            Err(object_store::Error::NotFound { .. }) => Ok(false),
            Err(e) => Err(map_os(key, e)),
        }
    }

    async fn list(&self, cursor: Option<&str>, limit: usize) -> Result<BlobPage, BlobError> {
        let limit = limit.max(1);
        let prefix = (!self.prefix.is_empty()).then(|| Path::from(self.prefix.as_str()));
        let mut stream = match cursor {
            Some(after) => {
                let offset = self.path_of(after)?;
                self.store.list_with_offset(prefix.as_ref(), &offset)
            }
            None => self.store.list(prefix.as_ref()),
        };
        let mut items = Vec::new();
        while let Some(meta) = stream.next().await {
            let meta = meta.map_err(|e| map_os("list", e))?;
            let full = meta.location.as_ref();
            let key = full.strip_prefix(self.prefix.as_str()).unwrap_or(full);
            // Only blob keys: other objects under the prefix are not ours to report.
            if check_key(key).is_err() {
                continue;
            }
            items.push(BlobEntry {
                key: key.to_owned(),
                modified: meta.last_modified.into(),
            });
            if items.len() == limit {
                break;
            }
        }
        let next = (items.len() == limit).then(|| items[limit - 1].key.clone());
        Ok(BlobPage { items, next })
    }
}
