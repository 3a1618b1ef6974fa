//! The relay's signatures — receipts, audit entries, export checkpoints — made by
//! `renkei-evidence`'s [`ReceiptSigner`], so that what the relay writes is exactly what
//! `renkei verify` checks offline.
//!
//! Handlers depend on the small [`Notary`] trait (which also seals audit entries inside the
//! store's transaction through [`AuditSealer`]); [`EvidenceNotary`] is its implementation.

use renkei_api::{ReceiptBody, SignedCheckpoint, SignedReceipt};
use renkei_evidence::{AuditEntry, AuditHead, EvidenceError, Receipt, ReceiptSigner};
use renkei_ids::OfficeNumber;
use renkei_store::{AuditRecord, AuditSealer, Millis};

/// Formats storage milliseconds as RFC 3339 in Japan time (the form every signed object uses).
pub fn rfc3339(ms: Millis) -> String {
    renkei_evidence::rfc3339_jst(ms)
}

/// Signs what the relay certifies.
pub trait Notary: AuditSealer + Send + Sync + 'static {
    /// Sign a receipt; returns the canonical JSON that was signed and the signed receipt.
    fn sign_receipt(&self, body: &ReceiptBody) -> Result<(String, SignedReceipt), NotaryError>;
    /// The signed checkpoint closing an export of an office's entries from seq 1 to `last`
    /// (`None`: the office has none).
    fn checkpoint(
        &self,
        office: &OfficeNumber,
        last: Option<&AuditRecord>,
        exported_at: Millis,
    ) -> Result<SignedCheckpoint, NotaryError>;
    /// PEM of the relay's receipt-signing certificate.
    fn relay_cert_pem(&self) -> &str;
}

/// Errors of the notary.
#[derive(Debug, thiserror::Error)]
pub enum NotaryError {
    /// Key or certificate unusable, or an object that cannot be signed.
    #[error(transparent)]
    Evidence(#[from] EvidenceError),
    /// A stored object does not convert (a bug or tampering).
    #[error("cannot convert evidence: {0}")]
    Convert(String),
}

/// The notary over the relay's Ed25519 receipt key and its CA-issued `renkeiRelay` certificate.
#[derive(Debug)]
pub struct EvidenceNotary {
    signer: ReceiptSigner,
}

impl EvidenceNotary {
    /// Load the key (PKCS#8 DER) and its certificate; fails if they do not belong together.
    pub fn new(key_pkcs8: &[u8], cert_pem: &str) -> Result<Self, NotaryError> {
        Ok(Self {
            signer: ReceiptSigner::new(key_pkcs8, cert_pem)?,
        })
    }
}

fn convert<T: serde::Serialize, U: serde::de::DeserializeOwned>(v: &T) -> Result<U, NotaryError> {
    serde_json::to_value(v)
        .and_then(serde_json::from_value)
        .map_err(|e| NotaryError::Convert(e.to_string()))
}

fn detail_value(detail: &str) -> serde_json::Value {
    serde_json::from_str(detail).unwrap_or_else(|_| serde_json::Value::String(detail.to_owned()))
}

/// The evidence form of a stored entry.
pub(crate) fn entry_of(r: &AuditRecord) -> AuditEntry {
    AuditEntry {
        office: r.office.clone(),
        seq: r.seq,
        at: rfc3339(r.at),
        kind: r.kind.clone(),
        actor: r.actor.clone(),
        detail: detail_value(&r.detail),
        prev_hash: r.prev_hash.clone(),
        hash: r.hash.clone(),
        sig: r.sig.clone(),
    }
}

/// SHA-256 (hex) of a stored audit entry's canonical form (`hash` and `sig` ignored).
pub fn audit_hash(r: &AuditRecord) -> String {
    entry_of(r).compute_hash()
}

impl AuditSealer for EvidenceNotary {
    fn seal(&self, r: &AuditRecord) -> (String, String) {
        let head = (r.seq > 1).then(|| AuditHead {
            seq: r.seq - 1,
            hash: r.prev_hash.clone(),
        });
        match self.signer.next_audit_entry(
            &r.office,
            head.as_ref(),
            r.at,
            &r.kind,
            &r.actor,
            detail_value(&r.detail),
        ) {
            Ok(e) => (e.hash, e.sig),
            // Only a sequence overflow fails here; an entry that cannot be signed is still
            // chained, and the verifier reports its signature.
            Err(err) => {
                tracing::error!(error = %err, "cannot sign audit entry");
                (audit_hash(r), String::new())
            }
        }
    }
}

impl Notary for EvidenceNotary {
    fn sign_receipt(&self, body: &ReceiptBody) -> Result<(String, SignedReceipt), NotaryError> {
        let receipt: Receipt = convert(body)?;
        let signed = self.signer.sign(&receipt)?;
        let canonical = String::from_utf8(receipt.canonical_json()?)
            .map_err(|e| NotaryError::Convert(e.to_string()))?;
        Ok((canonical, convert(&signed)?))
    }

    fn checkpoint(
        &self,
        office: &OfficeNumber,
        last: Option<&AuditRecord>,
        exported_at: Millis,
    ) -> Result<SignedCheckpoint, NotaryError> {
        let head = last.map(|r| entry_of(r).head()).unwrap_or(AuditHead {
            seq: 0,
            hash: renkei_evidence::GENESIS_HASH.to_owned(),
        });
        convert(&self.signer.sign_checkpoint(office, &head, exported_at)?)
    }

    fn relay_cert_pem(&self) -> &str {
        self.signer.relay_cert_pem()
    }
}
