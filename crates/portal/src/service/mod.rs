//! [`PortalService`]: the enrollment flow as a library API. The HTML handlers call it, and so does
//! the server's `demo` bootstrap; every method is usable without HTTP.

mod accounts;
mod apply;
mod certs;

use std::path::PathBuf;
use std::sync::Arc;

use renkei_ids::OfficeNumber;
use renkei_ledger::LedgerPolicy;
use renkei_pki::Ca;
use renkei_store::{AuditDraft, AuditSealer, Millis, Store};

pub use accounts::{BulkResult, LoginOutcome, NewOffice, OperatorLogin, RegistrationNotice};
pub use apply::{ApplicationForm, ApplicationOutcome, ClientBuild};
pub use certs::{renewal_warning, CertStatus, EnrollRequestJson, IssuedCertificate};

/// Deployment choices of the portal.
#[derive(Debug, Clone)]
pub struct PortalConfig {
    /// How many devices (installations) may hold an active binding per office number (1: the
    /// national rule "one PC per office").
    pub max_devices: u32,
    /// Consecutive failed logins before a lockout.
    pub lockout_threshold: u32,
    /// Lockout duration.
    pub lockout_ms: Millis,
    /// Browser session lifetime.
    pub session_ttl_ms: Millis,
    /// A directory with client builds, one sub-directory per OS (`windows`, `linux`, `macos`);
    /// `None` serves the running binary for its own OS.
    pub client_builds_dir: Option<PathBuf>,
    /// Fee rules.
    pub ledger: LedgerPolicy,
    /// Mark cookies `Secure` (true behind TLS; tests over plain HTTP set false).
    pub secure_cookies: bool,
}

impl Default for PortalConfig {
    fn default() -> Self {
        Self {
            max_devices: 1,
            lockout_threshold: 5,
            lockout_ms: 15 * 60 * 1000,
            session_ttl_ms: 30 * 60 * 1000,
            client_builds_dir: None,
            ledger: LedgerPolicy::national(),
            secure_cookies: true,
        }
    }
}

/// The enrollment portal's operations.
#[derive(Clone)]
pub struct PortalService {
    pub(crate) store: Arc<dyn Store>,
    pub(crate) ca: Arc<Ca>,
    pub(crate) sealer: Arc<dyn AuditSealer>,
    pub(crate) config: Arc<PortalConfig>,
}

impl std::fmt::Debug for PortalService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PortalService")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl PortalService {
    /// A portal over `store`, issuing with `ca`, writing audit entries sealed by `sealer` (the
    /// relay's, so that portal events join the same per-office chain).
    pub fn new(
        store: Arc<dyn Store>,
        ca: Arc<Ca>,
        sealer: Arc<dyn AuditSealer>,
        config: PortalConfig,
    ) -> Self {
        Self {
            store,
            ca,
            sealer,
            config: Arc::new(config),
        }
    }

    /// The configuration.
    pub fn config(&self) -> &PortalConfig {
        &self.config
    }

    /// The store.
    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    /// The CA certificate (PEM).
    pub fn ca_certificate_pem(&self) -> &str {
        self.ca.ca_cert_pem()
    }

    /// Append one entry to an office's audit trail. A failure to audit is logged, not raised:
    /// the step it records has already committed.
    pub(crate) async fn audit(
        &self,
        office: &OfficeNumber,
        at: Millis,
        kind: &str,
        actor: &str,
        detail: serde_json::Value,
    ) {
        let draft = AuditDraft {
            office: office.clone(),
            at,
            kind: kind.to_owned(),
            actor: actor.to_owned(),
            detail: detail.to_string(),
        };
        if let Err(e) = self.store.append_audit(&[draft], &self.sealer).await {
            tracing::error!(office = %office, kind, error = %e, "portal audit entry could not be written");
        }
    }

    /// Record a refusal: in the office's audit trail when the office is known, otherwise in the
    /// log (there is no trail to put it in).
    pub(crate) async fn refused(
        &self,
        office: Option<&OfficeNumber>,
        at: Millis,
        kind: &str,
        actor: &str,
        err: &crate::PortalError,
    ) {
        match office {
            Some(o) => {
                self.audit(
                    o,
                    at,
                    kind,
                    actor,
                    serde_json::json!({"refused": err.code(), "message": err.to_string()}),
                )
                .await
            }
            None => tracing::warn!(
                kind,
                actor,
                refused = err.code(),
                "portal refusal without a known office"
            ),
        }
    }
}
