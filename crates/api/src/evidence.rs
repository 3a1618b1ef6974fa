//! Evidence as it travels: signed receipts and audit exports.
//!
//! These mirror the canonical forms of `renkei-evidence` field for field and in the same order;
//! verification happens there (the client converts and verifies, offline if need be).

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// The statement a receipt makes (see docs/ARCHITECTURE.md, "Receipts").
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ReceiptBody {
    /// Format version, 1.
    pub v: u32,
    /// Message id (UUID).
    pub message_id: String,
    /// `stored`, `downloaded`, `imported`, `rejected` or `expired`.
    pub event: String,
    /// When the event happened (RFC 3339).
    pub at: String,
    /// Lower-case hex SHA-256 of the envelope.
    pub digest: String,
    /// Envelope length in bytes.
    pub length: u64,
    /// Sender office number.
    pub sender: String,
    /// Recipient office number.
    pub recipient: String,
    /// ファイル連番.
    pub file_seq: String,
    /// File names.
    pub files: Vec<String>,
    /// Rejection reasons (JSON text) for `rejected`, otherwise null.
    pub reason: Option<String>,
}

/// A receipt with the relay's signature and certificate: a file a sender can keep and verify
/// offline with the CA certificate alone (`renkei-evidence` `verify_receipt`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct SignedReceipt {
    /// Always `renkei-receipt`.
    #[serde(rename = "type")]
    pub kind: String,
    /// The statement.
    pub receipt: ReceiptBody,
    /// Ed25519 signature over `"renkei-receipt-v1\n"` and the canonical JSON of `receipt`,
    /// base64.
    pub signature: String,
    /// PEM of the relay's receipt-signing certificate.
    pub relay_cert: String,
}

/// One audit entry as exported.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct AuditEntryView {
    /// Office number the trail belongs to.
    pub office: String,
    /// 1-based sequence number within the office's trail.
    pub seq: u64,
    /// When (RFC 3339).
    pub at: String,
    /// Event kind, e.g. `send`, `download`, `ack`, `login`, `login_failed`.
    pub kind: String,
    /// Who: a personal user ID, a KJ ID, `relay` or an operator.
    pub actor: String,
    /// Event details (message id, digest, counterpart office, reason …).
    #[schema(value_type = Object)]
    pub detail: serde_json::Value,
    /// Hash of the previous entry (hex; 64 zeros for the first).
    pub prev_hash: String,
    /// SHA-256 of the canonical entry without `hash` and `sig` (hex).
    pub hash: String,
    /// Relay signature over `"renkei-audit-entry-v1\n"` and the 32 hash bytes (base64).
    pub sig: String,
}

/// Where the chain ended at export time.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct AuditCheckpoint {
    /// Office number.
    pub office: String,
    /// Last sequence number.
    pub last_seq: u64,
    /// Hash of the last entry.
    pub last_hash: String,
    /// Export time (RFC 3339).
    pub exported_at: String,
}

/// A checkpoint with the relay's signature over its canonical JSON.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct SignedCheckpoint {
    /// The checkpoint.
    pub checkpoint: AuditCheckpoint,
    /// Signature (base64).
    pub sig: String,
}

/// The export of an office's audit trail, closed by a signed checkpoint so that removing
/// entries at the end is detected too (`renkei-evidence` `verify_audit_export`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct AuditExport {
    /// Always `renkei-audit-export`.
    #[serde(rename = "type")]
    pub kind: String,
    /// Office number.
    pub office: String,
    /// Every entry, in sequence order.
    pub entries: Vec<AuditEntryView>,
    /// Signed checkpoint over the last entry.
    pub checkpoint: SignedCheckpoint,
    /// PEM of the relay's signing certificate.
    pub relay_cert: String,
}
