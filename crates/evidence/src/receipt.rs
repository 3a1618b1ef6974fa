//! Relay-signed receipts (docs/ARCHITECTURE.md, "Receipts").

use renkei_ids::{FileSeq, OfficeNumber};
use serde::{Deserialize, Serialize};

use crate::{
    parse_rfc3339_millis, verify_relay_sig, EvidenceError, ReceiptSigner, RECEIPT_SIG_CONTEXT,
};

/// `type` of a receipt file.
pub const RECEIPT_TYPE: &str = "renkei-receipt";

/// The state a receipt attests.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ReceiptEvent {
    Stored,
    Downloaded,
    Imported,
    Rejected,
    Expired,
}

impl ReceiptEvent {
    pub fn as_str(self) -> &'static str {
        match self {
            ReceiptEvent::Stored => "stored",
            ReceiptEvent::Downloaded => "downloaded",
            ReceiptEvent::Imported => "imported",
            ReceiptEvent::Rejected => "rejected",
            ReceiptEvent::Expired => "expired",
        }
    }

    /// Japanese label for screens and printed certificates.
    pub fn label_ja(self) -> &'static str {
        match self {
            ReceiptEvent::Stored => "送信受付（中継サーバに保管）",
            ReceiptEvent::Downloaded => "受信者がダウンロード",
            ReceiptEvent::Imported => "受信者が取込完了",
            ReceiptEvent::Rejected => "受信者が取込拒否",
            ReceiptEvent::Expired => "保管期限切れ（未受信）",
        }
    }

    /// Whether this is one of the final states (`imported`, `rejected`, `expired`).
    pub fn is_final(self) -> bool {
        matches!(
            self,
            ReceiptEvent::Imported | ReceiptEvent::Rejected | ReceiptEvent::Expired
        )
    }
}

/// One message state. Field order is the canonical order; [`Receipt::canonical_json`] is what
/// the relay signs (after the context `"renkei-receipt-v1\n"`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Receipt {
    pub v: u32,
    pub message_id: uuid::Uuid,
    pub event: ReceiptEvent,
    /// RFC 3339 ([`crate::rfc3339_jst`] writes Japan time).
    pub at: String,
    /// SHA-256 of the envelope, lowercase hex.
    pub digest: String,
    /// Envelope length in bytes.
    pub length: u64,
    pub sender: OfficeNumber,
    pub recipient: OfficeNumber,
    pub file_seq: FileSeq,
    pub files: Vec<String>,
    /// Why, for `rejected` (the recipient's reason) and `expired`; `null` otherwise.
    pub reason: Option<String>,
}

impl Receipt {
    /// Compact JSON, keys in declaration order, no whitespace.
    pub fn canonical_json(&self) -> Result<Vec<u8>, EvidenceError> {
        serde_json::to_vec(self).map_err(|e| EvidenceError::Malformed(e.to_string()))
    }

    /// `at` as Unix milliseconds.
    pub fn at_millis(&self) -> Result<i64, EvidenceError> {
        parse_rfc3339_millis(&self.at)
    }

    fn validate(&self) -> Result<(), EvidenceError> {
        if self.v != 1 {
            return Err(EvidenceError::Malformed(format!(
                "unsupported receipt version {}",
                self.v
            )));
        }
        if self.digest.len() != 64
            || !self
                .digest
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        {
            return Err(EvidenceError::Malformed(
                "digest is not 64 lowercase hex digits".into(),
            ));
        }
        self.at_millis()?;
        Ok(())
    }
}

/// A receipt file: `{ "type": "renkei-receipt", receipt, signature, relay_cert }`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignedReceipt {
    #[serde(rename = "type")]
    pub kind: String,
    pub receipt: Receipt,
    /// Ed25519 signature, standard base64.
    pub signature: String,
    /// The relay's receipt certificate, PEM.
    pub relay_cert: String,
}

impl ReceiptSigner {
    /// Sign a receipt.
    pub fn sign(&self, receipt: &Receipt) -> Result<SignedReceipt, EvidenceError> {
        receipt.validate()?;
        let body = receipt.canonical_json()?;
        Ok(SignedReceipt {
            kind: RECEIPT_TYPE.to_owned(),
            receipt: receipt.clone(),
            signature: self.sign_raw(RECEIPT_SIG_CONTEXT, &body),
            relay_cert: self.relay_cert_pem().to_owned(),
        })
    }
}

/// Verify a receipt with only the CA certificate: type, relay certificate (issued by the CA,
/// `renkeiRelay`, valid at the receipt's `at`), and the signature over the canonical JSON.
pub fn verify_receipt(signed: &SignedReceipt, ca_cert_pem: &str) -> Result<Receipt, EvidenceError> {
    if signed.kind != RECEIPT_TYPE {
        return Err(EvidenceError::WrongType {
            expected: RECEIPT_TYPE,
            found: signed.kind.clone(),
        });
    }
    signed.receipt.validate()?;
    let body = signed.receipt.canonical_json()?;
    verify_relay_sig(
        &signed.relay_cert,
        ca_cert_pem,
        Some(signed.receipt.at_millis()?),
        RECEIPT_SIG_CONTEXT,
        &body,
        &signed.signature,
    )?;
    Ok(signed.receipt.clone())
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use renkei_pki::testpki::TestPki;

    pub(crate) fn receipt(event: ReceiptEvent, at: &str) -> Receipt {
        Receipt {
            v: 1,
            message_id: "01936f3c-7a80-7000-8000-000000000001".parse().unwrap(),
            event,
            at: at.into(),
            digest: "ab".repeat(32),
            length: 12345,
            sender: "0300000100".parse().unwrap(),
            recipient: "0300000005".parse().unwrap(),
            file_seq: "20191025200201".parse().unwrap(),
            files: vec!["UPPLAN_201912_0300000100_43_0300000005_11_20191025200201.CSV".into()],
            reason: None,
        }
    }

    fn at_now() -> String {
        crate::rfc3339_jst(renkei_pki::now_millis())
    }

    #[test]
    fn canonical_form_is_fixed() {
        let r = receipt(ReceiptEvent::Stored, "2026-11-25T09:00:01+09:00");
        let s = String::from_utf8(r.canonical_json().unwrap()).unwrap();
        assert_eq!(
            s,
            "{\"v\":1,\"message_id\":\"01936f3c-7a80-7000-8000-000000000001\",\"event\":\"stored\",\
             \"at\":\"2026-11-25T09:00:01+09:00\",\"digest\":\"".to_owned()
                + &"ab".repeat(32)
                + "\",\"length\":12345,\"sender\":\"0300000100\",\"recipient\":\"0300000005\",\
                   \"file_seq\":\"20191025200201\",\"files\":[\"UPPLAN_201912_0300000100_43_0300000005_11_20191025200201.CSV\"],\
                   \"reason\":null}"
        );
    }

    #[test]
    fn sign_verify_and_tamper() {
        let pki = TestPki::generate();
        let ca = pki.ca.ca_cert_pem();
        let signer = ReceiptSigner::new(&pki.relay_key_pkcs8, &pki.relay_cert.pem).unwrap();
        let r = receipt(ReceiptEvent::Downloaded, &at_now());
        let signed = signer.sign(&r).unwrap();
        // Through JSON text and back, as a file would travel.
        let text = serde_json::to_string_pretty(&signed).unwrap();
        let back: SignedReceipt = serde_json::from_str(&text).unwrap();
        assert_eq!(verify_receipt(&back, ca).unwrap(), r);

        let mut t = signed.clone();
        t.receipt.length += 1;
        assert!(matches!(
            verify_receipt(&t, ca),
            Err(EvidenceError::BadSignature)
        ));
        let mut t = signed.clone();
        t.receipt.event = ReceiptEvent::Imported;
        assert!(matches!(
            verify_receipt(&t, ca),
            Err(EvidenceError::BadSignature)
        ));
        let mut t = signed.clone();
        t.kind = "renkei-audit-export".into();
        assert!(matches!(
            verify_receipt(&t, ca),
            Err(EvidenceError::WrongType { .. })
        ));
        assert!(matches!(
            verify_receipt(&signed, pki.rogue_ca.ca_cert_pem()),
            Err(EvidenceError::RelayCert(_))
        ));
        // An office certificate cannot stand in for the relay certificate.
        let mut t = signed.clone();
        t.relay_cert = pki.office_a.cert.pem.clone();
        assert!(matches!(
            verify_receipt(&t, ca),
            Err(EvidenceError::RelayCert(_))
        ));
        // Unknown fields are refused (nothing unsigned rides along).
        let mut v: serde_json::Value = serde_json::from_str(&text).unwrap();
        v["receipt"]["note"] = "x".into();
        assert!(serde_json::from_value::<SignedReceipt>(v).is_err());
        // A receipt dated outside the relay certificate's validity is refused.
        let old = signer
            .sign(&receipt(ReceiptEvent::Stored, "2001-01-01T00:00:00+09:00"))
            .unwrap();
        assert!(matches!(
            verify_receipt(&old, ca),
            Err(EvidenceError::RelayCert(_))
        ));
    }

    #[test]
    fn signer_checks_key_matches_cert() {
        let pki = TestPki::generate();
        let other = renkei_pki::generate_ed25519_pkcs8().unwrap();
        assert!(matches!(
            ReceiptSigner::new(&other, &pki.relay_cert.pem),
            Err(EvidenceError::Key(_))
        ));
        assert!(
            ReceiptSigner::new(pki.office_a.keys.signing_pkcs8(), &pki.office_a.cert.pem).is_err()
        );
    }
}
