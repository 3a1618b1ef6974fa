//! 送信証明書: one message's summary with its chain of relay-signed receipts.

use renkei_ids::{FileSeq, OfficeNumber};
use serde::{Deserialize, Serialize};

use crate::{verify_receipt, EvidenceError, Receipt, ReceiptEvent, SignedReceipt};

/// `type` of a transmission certificate file.
pub const TRANSMISSION_CERTIFICATE_TYPE: &str = "renkei-transmission-certificate";

/// What the certificate is about (every receipt must agree with it).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MessageSummary {
    pub message_id: uuid::Uuid,
    pub sender: OfficeNumber,
    pub recipient: OfficeNumber,
    pub file_seq: FileSeq,
    pub files: Vec<String>,
    /// SHA-256 of the envelope, lowercase hex.
    pub digest: String,
    pub length: u64,
}

pub(crate) fn summary_of(r: &Receipt) -> MessageSummary {
    MessageSummary::of(r)
}

impl MessageSummary {
    fn of(r: &Receipt) -> Self {
        Self {
            message_id: r.message_id,
            sender: r.sender.clone(),
            recipient: r.recipient.clone(),
            file_seq: r.file_seq.clone(),
            files: r.files.clone(),
            digest: r.digest.clone(),
            length: r.length,
        }
    }
}

/// `{ "type": "renkei-transmission-certificate", message, receipts }`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TransmissionCertificate {
    #[serde(rename = "type")]
    pub kind: String,
    pub message: MessageSummary,
    /// Oldest first; the first is `stored`.
    pub receipts: Vec<SignedReceipt>,
}

/// The verified story of one message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TransmissionReport {
    pub message: MessageSummary,
    /// `(event, at)` oldest first.
    pub events: Vec<(ReceiptEvent, String)>,
    /// `imported`, `rejected` or `expired`, if reached.
    pub final_event: Option<ReceiptEvent>,
    /// The rejection or expiry reason, if any.
    pub reason: Option<String>,
}

impl TransmissionReport {
    /// The recipient downloaded the message (a `downloaded` receipt exists).
    pub fn delivered(&self) -> bool {
        self.events
            .iter()
            .any(|(e, _)| *e == ReceiptEvent::Downloaded)
    }
}

impl TransmissionCertificate {
    /// Assemble from a message's receipts (oldest first). The summary is taken from the first.
    pub fn from_receipts(receipts: Vec<SignedReceipt>) -> Result<Self, EvidenceError> {
        let first = receipts.first().ok_or_else(|| {
            EvidenceError::Malformed("a transmission certificate needs receipts".into())
        })?;
        Ok(Self {
            kind: TRANSMISSION_CERTIFICATE_TYPE.to_owned(),
            message: MessageSummary::of(&first.receipt),
            receipts,
        })
    }

    /// Verify every receipt with the CA certificate, that each names this message exactly,
    /// that the first is `stored`, times never go backwards, and at most one final state comes
    /// last.
    pub fn verify(&self, ca_cert_pem: &str) -> Result<TransmissionReport, EvidenceError> {
        if self.kind != TRANSMISSION_CERTIFICATE_TYPE {
            return Err(EvidenceError::WrongType {
                expected: TRANSMISSION_CERTIFICATE_TYPE,
                found: self.kind.clone(),
            });
        }
        if self.receipts.is_empty() {
            return Err(EvidenceError::Malformed("no receipts".into()));
        }
        let mut events = Vec::with_capacity(self.receipts.len());
        let mut last_at = i64::MIN;
        let mut final_event = None;
        let mut reason = None;
        for (i, signed) in self.receipts.iter().enumerate() {
            let r = verify_receipt(signed, ca_cert_pem)?;
            if MessageSummary::of(&r) != self.message {
                return Err(EvidenceError::Mismatch(format!(
                    "receipt {} is about another message",
                    i + 1
                )));
            }
            if (i == 0) != (r.event == ReceiptEvent::Stored) {
                return Err(EvidenceError::Mismatch(
                    "the first receipt, and only it, must be `stored`".into(),
                ));
            }
            if final_event.is_some() {
                return Err(EvidenceError::Mismatch(
                    "a receipt follows the final state".into(),
                ));
            }
            let at = r.at_millis()?;
            if at < last_at {
                return Err(EvidenceError::Mismatch(format!(
                    "receipt {} is dated before the previous one",
                    i + 1
                )));
            }
            last_at = at;
            if r.event.is_final() {
                final_event = Some(r.event);
                reason = r.reason.clone();
            }
            events.push((r.event, r.at));
        }
        Ok(TransmissionReport {
            message: self.message.clone(),
            events,
            final_event,
            reason,
        })
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::receipt::tests::receipt;
    use crate::{rfc3339_jst, ReceiptSigner};
    use renkei_pki::testpki::TestPki;

    pub(crate) fn story(pki: &TestPki, events: &[ReceiptEvent]) -> TransmissionCertificate {
        let signer = ReceiptSigner::new(&pki.relay_key_pkcs8, &pki.relay_cert.pem).unwrap();
        let now = renkei_pki::now_millis();
        let receipts = events
            .iter()
            .enumerate()
            .map(|(i, e)| {
                signer
                    .sign(&receipt(*e, &rfc3339_jst(now + 60_000 * i as i64)))
                    .unwrap()
            })
            .collect();
        TransmissionCertificate::from_receipts(receipts).unwrap()
    }

    #[test]
    fn full_story_verifies() {
        use ReceiptEvent::*;
        let pki = TestPki::generate();
        let c = story(&pki, &[Stored, Downloaded, Imported]);
        let text = serde_json::to_string(&c).unwrap();
        let back: TransmissionCertificate = serde_json::from_str(&text).unwrap();
        let r = back.verify(pki.ca.ca_cert_pem()).unwrap();
        assert_eq!(r.final_event, Some(Imported));
        assert!(r.delivered());
        assert_eq!(r.events.len(), 3);
    }

    #[test]
    fn inconsistent_stories_fail() {
        use ReceiptEvent::*;
        let pki = TestPki::generate();
        let ca = pki.ca.ca_cert_pem();
        assert!(story(&pki, &[Downloaded]).verify(ca).is_err());
        assert!(story(&pki, &[Stored, Imported, Downloaded])
            .verify(ca)
            .is_err());
        assert!(story(&pki, &[Stored, Stored]).verify(ca).is_err());
        // Reordered receipts go back in time.
        let mut c = story(&pki, &[Stored, Downloaded, Downloaded]);
        c.receipts.swap(1, 2);
        c.receipts[1].receipt.at = c.receipts[2].receipt.at.clone();
        assert!(c.verify(ca).is_err());
        // The summary claims another digest.
        let mut c = story(&pki, &[Stored]);
        c.message.digest = "cd".repeat(32);
        assert!(matches!(c.verify(ca), Err(EvidenceError::Mismatch(_))));
        // A tampered receipt inside.
        let mut c = story(&pki, &[Stored, Downloaded]);
        c.receipts[1].receipt.recipient = "0300000013".parse().unwrap();
        c.message.recipient = c.receipts[1].receipt.recipient.clone();
        assert!(c.verify(ca).is_err());
        // Wrong CA.
        assert!(story(&pki, &[Stored])
            .verify(pki.rogue_ca.ca_cert_pem())
            .is_err());
    }
}
