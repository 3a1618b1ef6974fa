//! Certificate revocation lists: signed by [`Ca::sign_crl`](crate::Ca::sign_crl), parsed and
//! checked by clients with only the CA certificate.

use std::collections::BTreeMap;

use x509_parser::prelude::FromDer;
use x509_parser::revocation_list::CertificateRevocationList;

use crate::{pem_to_der, serial_hex_from_bytes, PkiError};

/// Why a certificate was revoked (the RFC 5280 reasons Renkei uses).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RevocationReason {
    Unspecified,
    KeyCompromise,
    AffiliationChanged,
    Superseded,
    CessationOfOperation,
}

impl RevocationReason {
    pub(crate) fn to_rcgen(self) -> rcgen::RevocationReason {
        match self {
            RevocationReason::Unspecified => rcgen::RevocationReason::Unspecified,
            RevocationReason::KeyCompromise => rcgen::RevocationReason::KeyCompromise,
            RevocationReason::AffiliationChanged => rcgen::RevocationReason::AffiliationChanged,
            RevocationReason::Superseded => rcgen::RevocationReason::Superseded,
            RevocationReason::CessationOfOperation => rcgen::RevocationReason::CessationOfOperation,
        }
    }

    fn from_code(code: u8) -> Self {
        match code {
            1 => RevocationReason::KeyCompromise,
            3 => RevocationReason::AffiliationChanged,
            4 => RevocationReason::Superseded,
            5 => RevocationReason::CessationOfOperation,
            _ => RevocationReason::Unspecified,
        }
    }

    /// Japanese label for the portal and the client.
    pub fn name_ja(self) -> &'static str {
        match self {
            RevocationReason::Unspecified => "理由なし",
            RevocationReason::KeyCompromise => "鍵の危殆化",
            RevocationReason::AffiliationChanged => "所属の変更",
            RevocationReason::Superseded => "再発行",
            RevocationReason::CessationOfOperation => "廃止",
        }
    }
}

/// One revoked certificate.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct RevokedEntry {
    /// Lowercase hex as in [`IssuedCert::serial_hex`](crate::IssuedCert::serial_hex).
    pub serial_hex: String,
    /// Unix milliseconds.
    pub revoked_at: i64,
    pub reason: RevocationReason,
}

/// A verified CRL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Crl {
    /// Unix ms.
    pub this_update: i64,
    /// Unix ms, if present.
    pub next_update: Option<i64>,
    revoked: BTreeMap<String, RevokedEntry>,
}

impl Crl {
    /// Whether `serial_hex` (any case, leading zeros allowed) is listed.
    pub fn is_revoked(&self, serial_hex: &str) -> bool {
        self.entry(serial_hex).is_some()
    }

    pub fn entry(&self, serial_hex: &str) -> Option<&RevokedEntry> {
        let bytes = hex::decode(serial_hex).ok()?;
        self.revoked.get(&serial_hex_from_bytes(&bytes))
    }

    pub fn entries(&self) -> impl Iterator<Item = &RevokedEntry> {
        self.revoked.values()
    }

    /// Whether `now` is past `nextUpdate` (a stale CRL should be refreshed).
    pub fn is_stale(&self, now: i64) -> bool {
        self.next_update.is_some_and(|n| now > n)
    }
}

/// Parse a PEM CRL and verify its signature with the CA certificate.
pub fn parse_crl(crl_pem: &str, ca_cert_pem: &str) -> Result<Crl, PkiError> {
    let der = pem_to_der(crl_pem, "X509 CRL")?;
    let (rest, crl) =
        CertificateRevocationList::from_der(&der).map_err(|e| PkiError::BadCrl(e.to_string()))?;
    if !rest.is_empty() {
        return Err(PkiError::BadCrl("trailing bytes".into()));
    }
    let ca_der = crate::parse_ca_cert(ca_cert_pem)?;
    let (_, ca) = x509_parser::certificate::X509Certificate::from_der(&ca_der)
        .map_err(|e| PkiError::Parse(e.to_string()))?;
    if crl.issuer().as_raw() != ca.subject().as_raw() {
        return Err(PkiError::WrongCa);
    }
    crl.verify_signature(ca.public_key())
        .map_err(|_| PkiError::WrongCa)?;
    let mut revoked = BTreeMap::new();
    for r in crl.iter_revoked_certificates() {
        let serial_hex = serial_hex_from_bytes(r.raw_serial());
        let reason = r
            .reason_code()
            .map(|(_, c)| RevocationReason::from_code(c.0))
            .unwrap_or(RevocationReason::Unspecified);
        let revoked_at = r.revocation_date.timestamp().saturating_mul(1000);
        revoked.insert(
            serial_hex.clone(),
            RevokedEntry {
                serial_hex,
                revoked_at,
                reason,
            },
        );
    }
    Ok(Crl {
        this_update: crl.last_update().timestamp().saturating_mul(1000),
        next_update: crl
            .next_update()
            .map(|t| t.timestamp().saturating_mul(1000)),
        revoked,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Ca;

    #[test]
    fn crl_round_trip() {
        let ca = Ca::generate("Renkei Test CA").unwrap();
        let entries = vec![
            RevokedEntry {
                serial_hex: "8a01ff".into(),
                revoked_at: 1_700_000_000_000,
                reason: RevocationReason::KeyCompromise,
            },
            RevokedEntry {
                serial_hex: "0102".into(),
                revoked_at: 1_700_000_100_000,
                reason: RevocationReason::Superseded,
            },
        ];
        let pem = ca.sign_crl(&entries).unwrap();
        let crl = parse_crl(&pem, ca.ca_cert_pem()).unwrap();
        assert!(crl.is_revoked("8a01ff"));
        assert!(crl.is_revoked("008A01FF"));
        assert!(crl.is_revoked("0102"));
        assert!(!crl.is_revoked("0103"));
        assert!(!crl.is_revoked("zz"));
        assert_eq!(
            crl.entry("8a01ff").unwrap().reason,
            RevocationReason::KeyCompromise
        );
        assert_eq!(crl.entry("0102").unwrap().revoked_at, 1_700_000_100_000);
        assert!(!crl.is_stale(crl.this_update));

        let other = Ca::generate("Renkei Test CA").unwrap();
        assert!(matches!(
            parse_crl(&pem, other.ca_cert_pem()),
            Err(PkiError::WrongCa)
        ));
        assert!(parse_crl("garbage", ca.ca_cert_pem()).is_err());
    }
}
