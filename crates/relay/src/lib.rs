//! The Renkei relay: `/api/v1` over mutual TLS, storing and forwarding end-to-end encrypted
//! 送信単位 between care offices, with signed receipts, a hash-chained audit trail per office,
//! retention and an office directory.
//!
//! The pieces:
//! - [`RelayConfig`]: limits and policies (envelope size, retention, session lifetimes, device
//!   policy, login lockout);
//! - [`RelayState`]: the metadata [`Store`], the [`BlobStore`], the [`Notary`] that signs
//!   receipts and audit entries, and the CA certificate; relay nodes keep nothing else, so any
//!   number of them can share one database and one blob store;
//! - [`router`]: the axum application (every route is also in the generated OpenAPI document,
//!   [`openapi`]);
//! - [`serve`]: the TLS accept loop (HTTP/1.1 and HTTP/2) that hands each request the client
//!   certificate as a [`PeerCertificate`] extension;
//! - [`run_retention`]: expiry of unread messages and the purge past the delete horizon.
//!
//! ```no_run
//! # async fn demo(state: renkei_relay::RelayState, tls: std::sync::Arc<rustls::ServerConfig>) {
//! let app = renkei_relay::router(state);
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:8443").await.unwrap();
//! renkei_relay::serve(listener, tls, app, std::future::pending()).await.unwrap();
//! # }
//! ```

mod auth;
mod commit;
mod directory;
mod error;
mod extract;
mod handlers;
mod history;
mod notary;
mod openapi;
mod retention;
mod signal;
mod tls;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use renkei_blob::BlobStore;
use renkei_pki::{OfficeCert, PkiError};
use renkei_store::{MessageWrite, MessageWritten, Millis, SharedSealer, Store, StoreResult};
use sha2::{Digest, Sha256};

use crate::commit::GroupCommitter;

pub use auth::{DeviceCert, OfficeSession};
pub use error::{ApiError, ApiResult};
pub use history::{seed_imported, SeedError};
pub use notary::{audit_hash, rfc3339, EvidenceNotary, Notary, NotaryError};
pub use openapi::{openapi, openapi_json};
pub use retention::{run_retention, RetentionReport};
pub use tls::{serve, PeerCertificate};

/// Limits and policies of one deployment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RelayConfig {
    /// Largest accepted envelope in bytes (default 20 MB).
    pub max_envelope_bytes: u64,
    /// Days until a message not acknowledged (unread, or downloaded without an ack) expires
    /// (default 30).
    pub unread_retention_days: u32,
    /// Days after which a message and its blob are deleted in any state (default 180; at least
    /// `unread_retention_days`).
    pub delete_after_days: u32,
    /// Days before expiry when listings flag a message as `expiring_soon` (default 7).
    pub reminder_days: u32,
    /// Lifetime of an office session (default 30 minutes).
    pub session_ttl: Duration,
    /// Lifetime of a stage-1 token (default 5 minutes).
    pub stage1_ttl: Duration,
    /// Require the client certificate's key to be an active device binding of its office
    /// (released by 端末変更), not only an unrevoked certificate (default true).
    pub require_device_binding: bool,
    /// Failed logins before an account is locked (default 5).
    pub max_failed_logins: u32,
    /// How long a lock lasts (default 15 minutes).
    pub lockout: Duration,
    /// Age after which a payload no message row refers to is deleted by the retention job
    /// (default 1 hour: far longer than any send takes between storing the payload and
    /// committing its row).
    pub orphan_grace: Duration,
    /// Uploads received at the same time; more wait for a free slot (default 64). Bounds the
    /// memory held by envelopes being checked.
    pub max_concurrent_uploads: u32,
    /// How often a waiting inbox listing (`wait=N`) re-reads the store besides being woken by
    /// sends (through this node directly, through others by the store's inbox events): the
    /// longest a lost wake-up delays a message (default 2 s).
    pub inbox_recheck: Duration,
}

impl Default for RelayConfig {
    fn default() -> Self {
        Self {
            max_envelope_bytes: 20 * 1024 * 1024,
            unread_retention_days: 30,
            delete_after_days: 180,
            reminder_days: 7,
            session_ttl: Duration::from_secs(30 * 60),
            stage1_ttl: Duration::from_secs(5 * 60),
            require_device_binding: true,
            max_failed_logins: 5,
            lockout: Duration::from_secs(15 * 60),
            orphan_grace: Duration::from_secs(60 * 60),
            max_concurrent_uploads: 64,
            inbox_recheck: Duration::from_secs(2),
        }
    }
}

/// A configuration that cannot work.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// Messages would be deleted before they expire.
    #[error("delete_after_days ({delete}) must be at least unread_retention_days ({unread})")]
    RetentionOrder {
        /// Delete horizon.
        delete: u32,
        /// Unread expiry.
        unread: u32,
    },
    /// A zero limit.
    #[error("{0} must be greater than zero")]
    Zero(&'static str),
}

impl RelayConfig {
    /// Check the configuration.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.delete_after_days < self.unread_retention_days {
            return Err(ConfigError::RetentionOrder {
                delete: self.delete_after_days,
                unread: self.unread_retention_days,
            });
        }
        if self.max_envelope_bytes == 0 {
            return Err(ConfigError::Zero("max_envelope_bytes"));
        }
        if self.unread_retention_days == 0 {
            return Err(ConfigError::Zero("unread_retention_days"));
        }
        if self.max_concurrent_uploads == 0 {
            return Err(ConfigError::Zero("max_concurrent_uploads"));
        }
        if self.inbox_recheck.is_zero() {
            return Err(ConfigError::Zero("inbox_recheck"));
        }
        if self.session_ttl.is_zero() || self.stage1_ttl.is_zero() {
            return Err(ConfigError::Zero("session lifetimes"));
        }
        Ok(())
    }
}

/// Milliseconds in a day.
pub const DAY_MS: Millis = 24 * 60 * 60 * 1000;

type Clock = Arc<dyn Fn() -> Millis + Send + Sync>;

/// Everything a request handler needs; cheap to clone.
#[derive(Clone)]
pub struct RelayState {
    inner: Arc<Inner>,
}

struct Inner {
    store: Arc<dyn Store>,
    blobs: Arc<dyn BlobStore>,
    notary: Arc<dyn Notary>,
    ca_cert_pem: String,
    config: RelayConfig,
    clock: Clock,
    /// Started on first use (inside the runtime that serves requests).
    committer: std::sync::OnceLock<GroupCommitter>,
    /// Client certificates whose CA signature was verified, by SHA-256 of their DER.
    verified_certs: std::sync::Mutex<HashMap<[u8; 32], Arc<OfficeCert>>>,
    /// Slots for uploads being received ([`RelayConfig::max_concurrent_uploads`]).
    uploads: tokio::sync::Semaphore,
    /// Wakes inbox listings waiting on this node.
    inbox_signals: signal::InboxSignals,
    /// Started on the first waiting listing: forwards the store's inbox events (sends through
    /// other nodes) to `inbox_signals`.
    inbox_listener: std::sync::OnceLock<()>,
}

/// Bound of the verified-certificate cache (one entry per device; cleared when full).
const VERIFIED_CERTS_MAX: usize = 100_000;

impl std::fmt::Debug for RelayState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RelayState")
            .field("config", &self.inner.config)
            .finish_non_exhaustive()
    }
}

impl RelayState {
    /// Assemble the state; fails on an inconsistent configuration.
    pub fn new(
        store: Arc<dyn Store>,
        blobs: Arc<dyn BlobStore>,
        notary: Arc<dyn Notary>,
        ca_cert_pem: String,
        config: RelayConfig,
    ) -> Result<Self, ConfigError> {
        Self::with_clock(
            store,
            blobs,
            notary,
            ca_cert_pem,
            config,
            Arc::new(renkei_store::now_millis),
        )
    }

    /// Like [`new`](Self::new) with an explicit clock (tests move time forward).
    pub fn with_clock(
        store: Arc<dyn Store>,
        blobs: Arc<dyn BlobStore>,
        notary: Arc<dyn Notary>,
        ca_cert_pem: String,
        config: RelayConfig,
        clock: Arc<dyn Fn() -> Millis + Send + Sync>,
    ) -> Result<Self, ConfigError> {
        config.validate()?;
        Ok(Self {
            inner: Arc::new(Inner {
                store,
                blobs,
                notary,
                ca_cert_pem,
                clock,
                committer: std::sync::OnceLock::new(),
                verified_certs: std::sync::Mutex::new(HashMap::new()),
                inbox_signals: signal::InboxSignals::default(),
                inbox_listener: std::sync::OnceLock::new(),
                uploads: tokio::sync::Semaphore::new(
                    usize::try_from(config.max_concurrent_uploads).unwrap_or(usize::MAX),
                ),
                config,
            }),
        })
    }

    /// The metadata store.
    pub fn store(&self) -> &dyn Store {
        self.inner.store.as_ref()
    }
    /// The blob store.
    pub fn blobs(&self) -> &dyn BlobStore {
        self.inner.blobs.as_ref()
    }
    /// The signer.
    pub fn notary(&self) -> &dyn Notary {
        self.inner.notary.as_ref()
    }
    /// The signer as the store's audit sealer (the same object).
    pub fn sealer(&self) -> SharedSealer {
        self.inner.notary.clone()
    }
    /// PEM of the Renkei CA certificate.
    pub fn ca_cert_pem(&self) -> &str {
        &self.inner.ca_cert_pem
    }
    /// Wait for an upload slot; held while the envelope is received and checked.
    pub(crate) async fn upload_slot(&self) -> tokio::sync::SemaphorePermit<'_> {
        self.inner
            .uploads
            .acquire()
            .await
            .expect("the upload semaphore is never closed")
    }

    /// Wake-ups of waiting inbox listings.
    pub(crate) fn inbox_signals(&self) -> &signal::InboxSignals {
        &self.inner.inbox_signals
    }

    /// Start forwarding the store's inbox events (sends through other nodes) to the signals,
    /// once per node; called by waiting listings, so a node nobody waits on never listens.
    pub(crate) fn listen_to_store_events(&self) {
        self.inner.inbox_listener.get_or_init(|| {
            tokio::spawn(signal::forward_store_events(Arc::downgrade(&self.inner)));
        });
    }

    /// End every waiting inbox listing now (each answers what it has) and every later one at
    /// once: call when the node begins to shut down, so that draining connections does not
    /// wait for long polls.
    pub fn end_inbox_waits(&self) {
        self.inner.inbox_signals.close();
    }

    /// The configuration.
    pub fn config(&self) -> &RelayConfig {
        &self.inner.config
    }
    /// Now, by the state's clock.
    pub fn now(&self) -> Millis {
        (self.inner.clock)()
    }

    /// Parse an office certificate and verify that the CA signed it, remembering the answer:
    /// that a given DER carries the CA's signature never changes, so each device's certificate
    /// costs one signature check per node, not one per request. Everything that can change —
    /// the database record, revocation, validity period, device binding — is still checked on
    /// every request by the caller.
    pub(crate) fn verified_office_cert(&self, der: &[u8]) -> Result<Arc<OfficeCert>, PkiError> {
        let key: [u8; 32] = Sha256::digest(der).into();
        if let Some(c) = self
            .inner
            .verified_certs
            .lock()
            .ok()
            .and_then(|m| m.get(&key).cloned())
        {
            return Ok(c);
        }
        let cert = OfficeCert::parse_der(der)?;
        cert.verify_chain(self.ca_cert_pem())?;
        let cert = Arc::new(cert);
        if let Ok(mut m) = self.inner.verified_certs.lock() {
            if m.len() >= VERIFIED_CERTS_MAX {
                m.clear();
            }
            m.insert(key, cert.clone());
        }
        Ok(cert)
    }

    /// Apply one message write durably: through the node's group committer when the store
    /// gains from batching (SQLite), directly otherwise. Returns after the commit.
    pub(crate) async fn write(&self, write: MessageWrite) -> StoreResult<MessageWritten> {
        let inner = &self.inner;
        if inner.store.prefers_group_commit() {
            let committer = inner
                .committer
                .get_or_init(|| GroupCommitter::start(inner.store.clone(), inner.notary.clone()));
            match committer.submit(write).await {
                Ok(done) => return done,
                // The writer task is gone (its runtime ended): write directly.
                Err(write) => return single(inner, write).await,
            }
        }
        single(inner, write).await
    }
}

async fn single(inner: &Inner, write: MessageWrite) -> StoreResult<MessageWritten> {
    inner
        .store
        .write_batch(
            std::slice::from_ref(&write),
            &(inner.notary.clone() as SharedSealer),
        )
        .await
        .pop()
        .unwrap_or_else(|| {
            Err(renkei_store::StoreError::Unavailable(
                "the store answered no write".into(),
            ))
        })
}

/// The `/api/v1` application with its state.
pub fn router(state: RelayState) -> axum::Router {
    openapi::build(state)
}
