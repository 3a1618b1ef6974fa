//! Any evidence file, detected by its `type` member (what `renkei verify` reads).

use crate::{
    html, verify_audit_export, verify_receipt, AuditExport, EvidenceError, Receipt, SignedReceipt,
    TransmissionCertificate, TransmissionReport, VerifyReport, AUDIT_EXPORT_TYPE, RECEIPT_TYPE,
    TRANSMISSION_CERTIFICATE_TYPE,
};

/// A parsed evidence file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Document {
    Receipt(SignedReceipt),
    AuditExport(AuditExport),
    TransmissionCertificate(TransmissionCertificate),
}

/// The outcome of verifying a [`Document`] whose signatures and certificates check out.
/// An audit export may still list problems ([`Verified::is_valid`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verified {
    Receipt(Receipt),
    AuditExport(VerifyReport),
    TransmissionCertificate(TransmissionReport),
}

impl Verified {
    pub fn is_valid(&self) -> bool {
        match self {
            Verified::AuditExport(r) => r.is_valid(),
            Verified::Receipt(_) | Verified::TransmissionCertificate(_) => true,
        }
    }
}

impl Document {
    /// Parse JSON and dispatch on `type`. Unknown types and shapes are
    /// [`EvidenceError::Malformed`].
    pub fn parse(bytes: &[u8]) -> Result<Self, EvidenceError> {
        let value: serde_json::Value = serde_json::from_slice(bytes)
            .map_err(|e| EvidenceError::Malformed(format!("not JSON: {e}")))?;
        let shape = |e: serde_json::Error| EvidenceError::Malformed(e.to_string());
        match crate::evidence_type(&value) {
            Some(RECEIPT_TYPE) => Ok(Document::Receipt(
                serde_json::from_value(value).map_err(shape)?,
            )),
            Some(AUDIT_EXPORT_TYPE) => Ok(Document::AuditExport(
                serde_json::from_value(value).map_err(shape)?,
            )),
            Some(TRANSMISSION_CERTIFICATE_TYPE) => Ok(Document::TransmissionCertificate(
                serde_json::from_value(value).map_err(shape)?,
            )),
            Some(other) => Err(EvidenceError::Malformed(format!(
                "unknown evidence type {other:?}"
            ))),
            None => Err(EvidenceError::Malformed("no \"type\" member".into())),
        }
    }

    /// The `type` string.
    pub fn kind(&self) -> &'static str {
        match self {
            Document::Receipt(_) => RECEIPT_TYPE,
            Document::AuditExport(_) => AUDIT_EXPORT_TYPE,
            Document::TransmissionCertificate(_) => TRANSMISSION_CERTIFICATE_TYPE,
        }
    }

    /// Japanese name of the kind of document.
    pub fn kind_ja(&self) -> &'static str {
        match self {
            Document::Receipt(_) => "受領証",
            Document::AuditExport(_) => "操作記録",
            Document::TransmissionCertificate(_) => "送信証明書",
        }
    }

    /// Verify with only the CA certificate.
    pub fn verify(&self, ca_cert_pem: &str) -> Result<Verified, EvidenceError> {
        Ok(match self {
            Document::Receipt(r) => Verified::Receipt(verify_receipt(r, ca_cert_pem)?),
            Document::AuditExport(e) => Verified::AuditExport(verify_audit_export(e, ca_cert_pem)?),
            Document::TransmissionCertificate(c) => {
                Verified::TransmissionCertificate(c.verify(ca_cert_pem)?)
            }
        })
    }

    /// A printable page, if this kind has one (receipts are shown as a one-receipt
    /// transmission certificate).
    pub fn to_html(&self, ca_cert_pem: &str) -> String {
        match self {
            Document::AuditExport(e) => {
                html::audit_export_html(e, &verify_audit_export(e, ca_cert_pem))
            }
            Document::TransmissionCertificate(c) => {
                html::transmission_certificate_html(c, &c.verify(ca_cert_pem))
            }
            Document::Receipt(r) => {
                match TransmissionCertificate::from_receipts(vec![r.clone()]) {
                    Ok(c) => {
                        // A single receipt of a later state is not a full story; verify it alone.
                        let result = verify_receipt(r, ca_cert_pem).map(|rc| TransmissionReport {
                            message: c.message.clone(),
                            final_event: rc.event.is_final().then_some(rc.event),
                            reason: rc.reason.clone(),
                            events: vec![(rc.event, rc.at)],
                        });
                        html::transmission_certificate_html(&c, &result)
                    }
                    Err(e) => html::transmission_certificate_html(
                        &TransmissionCertificate {
                            kind: TRANSMISSION_CERTIFICATE_TYPE.into(),
                            message: crate::transmission::summary_of(&r.receipt),
                            receipts: vec![],
                        },
                        &Err(e),
                    ),
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ReceiptEvent::*;
    use renkei_pki::testpki::TestPki;

    #[test]
    fn dispatches_on_type() {
        let pki = TestPki::generate();
        let ca = pki.ca.ca_cert_pem();
        let cert = crate::transmission::tests::story(&pki, &[Stored, Downloaded]);
        let (_, audit) = crate::audit::tests::chain(&pki, 3);
        for (json, kind) in [
            (serde_json::to_vec(&cert.receipts[1]).unwrap(), RECEIPT_TYPE),
            (
                serde_json::to_vec(&cert).unwrap(),
                TRANSMISSION_CERTIFICATE_TYPE,
            ),
            (serde_json::to_vec(&audit).unwrap(), AUDIT_EXPORT_TYPE),
        ] {
            let doc = Document::parse(&json).unwrap();
            assert_eq!(doc.kind(), kind);
            assert!(doc.verify(ca).unwrap().is_valid());
            assert!(doc.to_html(ca).contains("検証済み"), "{kind}");
            assert!(doc.verify(pki.rogue_ca.ca_cert_pem()).is_err());
        }
        assert!(matches!(
            Document::parse(b"{\"type\":\"other\"}"),
            Err(EvidenceError::Malformed(_))
        ));
        assert!(matches!(
            Document::parse(b"[1]"),
            Err(EvidenceError::Malformed(_))
        ));
        assert!(matches!(
            Document::parse(b"\xff"),
            Err(EvidenceError::Malformed(_))
        ));
        assert!(matches!(
            Document::parse(b"{\"type\":\"renkei-receipt\"}"),
            Err(EvidenceError::Malformed(_))
        ));
    }
}
