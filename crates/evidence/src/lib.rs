//! Evidence an office can hand to an inspector, verifiable offline with only the CA certificate:
//!
//! - [`Receipt`]: a relay-signed statement about one state of one message (`stored`,
//!   `downloaded`, `imported`, `rejected`, `expired`), carried as a [`SignedReceipt`] file;
//! - the per-office hash-chained audit log ([`AuditEntry`]) and its [`AuditExport`] with a signed
//!   checkpoint, so alteration, removal (inside or at the end), reordering and insertion are all
//!   detected by [`verify_audit_export`];
//! - the 送信証明書 ([`TransmissionCertificate`]): one message's summary and its receipt chain;
//! - printable A4 Japanese HTML pages for both ([`html`]).
//!
//! The relay signs with a [`ReceiptSigner`] (its Ed25519 receipt key and the CA-issued relay
//! certificate carrying `renkeiRelay`). Every signed object embeds the relay certificate, so a
//! verifier needs nothing but the CA certificate.
//!
//! ```
//! use renkei_evidence::{verify_receipt, Receipt, ReceiptEvent, ReceiptSigner};
//! use renkei_pki::testpki::TestPki;
//!
//! let pki = TestPki::generate();
//! let signer = ReceiptSigner::new(&pki.relay_key_pkcs8, &pki.relay_cert.pem).unwrap();
//! let receipt = Receipt {
//!     v: 1,
//!     message_id: "01936f3c-7a80-7000-8000-000000000001".parse().unwrap(),
//!     event: ReceiptEvent::Stored,
//!     at: renkei_evidence::rfc3339_jst(renkei_pki::now_millis()),
//!     digest: "ab".repeat(32),
//!     length: 12345,
//!     sender: "0300000100".parse().unwrap(),
//!     recipient: "0300000005".parse().unwrap(),
//!     file_seq: "20191025200201".parse().unwrap(),
//!     files: vec!["UPPLAN_201912_0300000100_43_0300000005_11_20191025200201.CSV".into()],
//!     reason: None,
//! };
//! let signed = signer.sign(&receipt).unwrap();
//! let json = serde_json::to_string(&signed).unwrap();
//!
//! // Years later, offline:
//! let parsed: renkei_evidence::SignedReceipt = serde_json::from_str(&json).unwrap();
//! assert_eq!(verify_receipt(&parsed, pki.ca.ca_cert_pem()).unwrap(), receipt);
//! ```

mod audit;
mod document;
pub mod html;
mod receipt;
mod transmission;

pub use audit::{
    verify_audit_export, AuditCheckpoint, AuditEntry, AuditExport, AuditHead, AuditProblem,
    ProblemKind, SignedCheckpoint, VerifyReport, AUDIT_EXPORT_TYPE, GENESIS_HASH,
};
pub use document::{Document, Verified};
pub use receipt::{verify_receipt, Receipt, ReceiptEvent, SignedReceipt, RECEIPT_TYPE};
pub use transmission::{
    MessageSummary, TransmissionCertificate, TransmissionReport, TRANSMISSION_CERTIFICATE_TYPE,
};

/// The PKI crate, re-exported for verifiers (CA certificate handling, test fixtures).
pub use renkei_pki as pki;

use base64::Engine;
use renkei_pki::{PkiError, RelayCert};
use ring::signature::Ed25519KeyPair;
use zeroize::Zeroizing;

/// Why evidence does not verify or cannot be produced.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EvidenceError {
    #[error("ファイルの形式が不正です（{0}）/ malformed evidence ({0})")]
    Malformed(String),
    #[error("種類が違います（{found:?}、期待値 {expected:?}）/ wrong type {found:?}, expected {expected:?}")]
    WrongType {
        expected: &'static str,
        found: String,
    },
    #[error("中継サーバの証明書を確認できません: {0} / relay certificate rejected")]
    RelayCert(#[source] PkiError),
    #[error(
        "署名が正しくありません（改ざんの可能性）/ signature does not verify (possibly tampered)"
    )]
    BadSignature,
    #[error("内容が一致しません（{0}）/ inconsistent evidence ({0})")]
    Mismatch(String),
    #[error("署名鍵を使用できません（{0}）/ unusable signing key ({0})")]
    Key(String),
}

/// Domain separation for the three kinds of relay signatures.
pub(crate) const RECEIPT_SIG_CONTEXT: &[u8] = b"renkei-receipt-v1\n";
pub(crate) const AUDIT_SIG_CONTEXT: &[u8] = b"renkei-audit-entry-v1\n";
pub(crate) const CHECKPOINT_SIG_CONTEXT: &[u8] = b"renkei-audit-checkpoint-v1\n";

pub(crate) fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

pub(crate) fn unb64(s: &str) -> Result<Vec<u8>, EvidenceError> {
    base64::engine::general_purpose::STANDARD
        .decode(s)
        .map_err(|_| EvidenceError::Malformed("signature is not base64".into()))
}

pub(crate) fn context_message(context: &[u8], body: &[u8]) -> Vec<u8> {
    let mut m = Vec::with_capacity(context.len() + body.len());
    m.extend_from_slice(context);
    m.extend_from_slice(body);
    m
}

/// Format Unix milliseconds as RFC 3339 in Japan time (`2026-11-25T09:00:00.123+09:00`;
/// milliseconds omitted when zero).
pub fn rfc3339_jst(ms: i64) -> String {
    let utc = time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    let jst = time::UtcOffset::from_whole_seconds(9 * 3600).unwrap_or(time::UtcOffset::UTC);
    let t = utc.to_offset(jst);
    let ms_part = t.millisecond();
    let frac = if ms_part == 0 {
        String::new()
    } else {
        format!(".{ms_part:03}")
    };
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}{frac}+09:00",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    )
}

/// Parse RFC 3339 into Unix milliseconds.
pub fn parse_rfc3339_millis(s: &str) -> Result<i64, EvidenceError> {
    let t = time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339)
        .map_err(|_| EvidenceError::Malformed(format!("{s:?} is not an RFC 3339 time")))?;
    Ok((t.unix_timestamp_nanos() / 1_000_000) as i64)
}

/// Japanese display form of an RFC 3339 time (`2026年11月25日 09:00:01`, Japan time).
pub fn display_jst(rfc3339: &str) -> String {
    match parse_rfc3339_millis(rfc3339) {
        Ok(ms) => {
            let s = rfc3339_jst(ms);
            format!("{}年{}月{}日 {}", &s[0..4], &s[5..7], &s[8..10], &s[11..19])
        }
        Err(_) => rfc3339.to_owned(),
    }
}

/// The relay's signing identity: Ed25519 receipt key plus its CA-issued certificate.
pub struct ReceiptSigner {
    key: Ed25519KeyPair,
    _pkcs8: Zeroizing<Vec<u8>>,
    cert_pem: String,
}

impl std::fmt::Debug for ReceiptSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReceiptSigner").finish_non_exhaustive()
    }
}

impl ReceiptSigner {
    /// `relay_key_pkcs8`: Ed25519 PKCS#8 DER; `relay_cert_pem`: its certificate with the
    /// `renkeiRelay` extension. Fails if the certificate is not a relay certificate or is for
    /// another key.
    pub fn new(relay_key_pkcs8: &[u8], relay_cert_pem: &str) -> Result<Self, EvidenceError> {
        let key = Ed25519KeyPair::from_pkcs8_maybe_unchecked(relay_key_pkcs8)
            .map_err(|e| EvidenceError::Key(e.to_string()))?;
        let cert = RelayCert::parse_pem(relay_cert_pem).map_err(EvidenceError::RelayCert)?;
        use ring::signature::KeyPair as _;
        if key.public_key().as_ref() != cert.signing_key() {
            return Err(EvidenceError::Key(
                "key does not match the relay certificate".into(),
            ));
        }
        Ok(Self {
            key,
            _pkcs8: Zeroizing::new(relay_key_pkcs8.to_vec()),
            cert_pem: relay_cert_pem.to_owned(),
        })
    }

    /// The relay certificate PEM embedded in everything this signer produces.
    pub fn relay_cert_pem(&self) -> &str {
        &self.cert_pem
    }

    pub(crate) fn sign_raw(&self, context: &[u8], body: &[u8]) -> String {
        b64(self.key.sign(&context_message(context, body)).as_ref())
    }
}

/// Parse the embedded relay certificate, check it chains to the CA and was valid at `at_ms`,
/// and verify `sig_b64` over `context || body`.
pub(crate) fn verify_relay_sig(
    relay_cert_pem: &str,
    ca_cert_pem: &str,
    at_ms: Option<i64>,
    context: &[u8],
    body: &[u8],
    sig_b64: &str,
) -> Result<RelayCert, EvidenceError> {
    let cert = RelayCert::parse_pem(relay_cert_pem).map_err(EvidenceError::RelayCert)?;
    cert.verify_chain(ca_cert_pem)
        .map_err(EvidenceError::RelayCert)?;
    if let Some(at) = at_ms {
        cert.check_valid_at(at).map_err(EvidenceError::RelayCert)?;
    }
    let sig = unb64(sig_b64)?;
    if !cert.verify_signature(&context_message(context, body), &sig) {
        return Err(EvidenceError::BadSignature);
    }
    Ok(cert)
}

/// Read the `type` member of an evidence JSON document (to dispatch in `renkei verify`).
pub fn evidence_type(json: &serde_json::Value) -> Option<&str> {
    json.get("type").and_then(|t| t.as_str())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times() {
        assert_eq!(rfc3339_jst(0), "1970-01-01T09:00:00+09:00");
        assert_eq!(rfc3339_jst(1_500), "1970-01-01T09:00:01.500+09:00");
        assert_eq!(
            parse_rfc3339_millis(&rfc3339_jst(1_764_028_800_123)).unwrap(),
            1_764_028_800_123
        );
        assert_eq!(
            display_jst("1970-01-01T00:00:00Z"),
            "1970年01月01日 09:00:00"
        );
        assert!(parse_rfc3339_millis("yesterday").is_err());
    }
}
