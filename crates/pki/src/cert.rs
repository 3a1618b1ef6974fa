//! Parsing and verifying certificates issued by the Renkei CA: office certificates (with the
//! `renkeiOffice` extension) and the relay's receipt-signing certificate (`renkeiRelay`).

use renkei_ids::OfficeNumber;
use x509_parser::certificate::X509Certificate;
use x509_parser::prelude::FromDer;

use crate::{pem_to_der, serial_hex_from_bytes, sha256_hex, CertType, PkiError};
use crate::{OID_RENKEI_OFFICE, OID_RENKEI_RELAY};

/// Ed25519 algorithm identifier (RFC 8410), for SubjectPublicKeyInfo.
const OID_ED25519: &[u64] = &[1, 3, 101, 112];

/// DER of the `renkeiOffice` extension value.
pub(crate) fn encode_office_ext(
    office: &OfficeNumber,
    cert_type: CertType,
    key: &[u8; 32],
) -> Vec<u8> {
    yasna::construct_der(|w| {
        w.write_sequence(|w| {
            w.next().write_printable_string(office.as_str());
            w.next().write_enum(cert_type as i64);
            w.next().write_bytes(key);
        })
    })
}

fn decode_office_ext(value: &[u8]) -> Result<(OfficeNumber, CertType, [u8; 32]), PkiError> {
    let bad = |m: &str| PkiError::Parse(format!("renkeiOffice extension: {m}"));
    let (office, kind, key) = yasna::parse_der(value, |r| {
        r.read_sequence(|r| {
            let office = r.next().read_printable_string()?;
            let kind = r.next().read_enum()?;
            let key = r.next().read_bytes()?;
            Ok((office, kind, key))
        })
    })
    .map_err(|e| bad(&e.to_string()))?;
    let office: OfficeNumber = office.parse().map_err(|_| bad("office number"))?;
    let kind = CertType::from_enum(kind).ok_or_else(|| bad("certType"))?;
    let key: [u8; 32] = key
        .as_slice()
        .try_into()
        .map_err(|_| bad("encryptionKey length"))?;
    Ok((office, kind, key))
}

fn oid_is(oid: &x509_parser::der_parser::oid::Oid<'_>, arcs: &[u64]) -> bool {
    oid.iter().is_some_and(|it| it.eq(arcs.iter().copied()))
}

/// Fields common to every certificate we parse.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Common {
    der: Vec<u8>,
    serial_hex: String,
    not_before: i64,
    not_after: i64,
    spki_sha256_hex: String,
    ed25519_public: [u8; 32],
    subject_cn: Option<String>,
    subject_o: Option<String>,
}

fn parse_x509(der: &[u8]) -> Result<X509Certificate<'_>, PkiError> {
    let (rest, cert) =
        X509Certificate::from_der(der).map_err(|e| PkiError::Parse(format!("X.509: {e}")))?;
    if !rest.is_empty() {
        return Err(PkiError::Parse("trailing bytes after certificate".into()));
    }
    Ok(cert)
}

fn first_attr(name: &x509_parser::x509::X509Name<'_>, oid: &[u64]) -> Option<String> {
    name.iter_attributes()
        .find(|a| oid_is(a.attr_type(), oid))
        .and_then(|a| a.as_str().ok().map(str::to_owned))
}

fn common(cert: &X509Certificate<'_>, der: &[u8]) -> Result<Common, PkiError> {
    let spki = cert.public_key();
    if !oid_is(&spki.algorithm.algorithm, OID_ED25519) {
        return Err(PkiError::UnsupportedKey(
            "certificate key is not Ed25519".into(),
        ));
    }
    let ed25519_public: [u8; 32] = spki
        .subject_public_key
        .data
        .as_ref()
        .try_into()
        .map_err(|_| PkiError::Parse("Ed25519 key length".into()))?;
    let validity = cert.validity();
    Ok(Common {
        der: der.to_vec(),
        serial_hex: serial_hex_from_bytes(cert.raw_serial()),
        not_before: validity.not_before.timestamp().saturating_mul(1000),
        not_after: validity.not_after.timestamp().saturating_mul(1000),
        spki_sha256_hex: sha256_hex(spki.raw),
        ed25519_public,
        subject_cn: first_attr(cert.subject(), &[2, 5, 4, 3]),
        subject_o: first_attr(cert.subject(), &[2, 5, 4, 10]),
    })
}

/// Parse a CA certificate PEM and return its DER, checking it is a CA (basicConstraints cA).
pub fn parse_ca_cert(ca_cert_pem: &str) -> Result<Vec<u8>, PkiError> {
    let der = pem_to_der(ca_cert_pem, "CERTIFICATE")?;
    let cert = parse_x509(&der)?;
    if !cert.is_ca() {
        return Err(PkiError::Parse(
            "the given CA certificate is not a CA".into(),
        ));
    }
    Ok(der)
}

/// Signature and issuer name check of `der` against the CA certificate.
fn verify_issued_by(der: &[u8], ca_cert_pem: &str) -> Result<(), PkiError> {
    let ca_der = parse_ca_cert(ca_cert_pem)?;
    let ca = parse_x509(&ca_der)?;
    let cert = parse_x509(der)?;
    if cert.issuer().as_raw() != ca.subject().as_raw() {
        return Err(PkiError::WrongCa);
    }
    cert.verify_signature(Some(ca.public_key()))
        .map_err(|_| PkiError::WrongCa)
}

fn check_time(c: &Common, at: i64) -> Result<(), PkiError> {
    if at < c.not_before {
        return Err(PkiError::NotYetValid {
            not_before: c.not_before,
        });
    }
    if at > c.not_after {
        return Err(PkiError::Expired {
            not_after: c.not_after,
        });
    }
    Ok(())
}

/// A parsed office certificate. Parsing checks shape only; call [`verify`](Self::verify) before
/// trusting it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OfficeCert {
    common: Common,
    office: OfficeNumber,
    cert_type: CertType,
    encryption_key: [u8; 32],
}

impl OfficeCert {
    /// Parse a PEM `CERTIFICATE`.
    pub fn parse_pem(pem: &str) -> Result<Self, PkiError> {
        Self::parse_der(&pem_to_der(pem, "CERTIFICATE")?)
    }

    /// Parse DER. Fails with [`PkiError::NotOfficeCert`] when the `renkeiOffice` extension is
    /// missing or the subject CN disagrees with it.
    pub fn parse_der(der: &[u8]) -> Result<Self, PkiError> {
        let cert = parse_x509(der)?;
        let mut exts = cert
            .extensions()
            .iter()
            .filter(|e| oid_is(&e.oid, OID_RENKEI_OFFICE));
        let ext = exts.next().ok_or(PkiError::NotOfficeCert)?;
        if exts.next().is_some() {
            return Err(PkiError::Parse("duplicate renkeiOffice extension".into()));
        }
        let (office, cert_type, encryption_key) = decode_office_ext(ext.value)?;
        let common = common(&cert, der)?;
        if common.subject_cn.as_deref() != Some(office.as_str()) {
            return Err(PkiError::NotOfficeCert);
        }
        Ok(Self {
            common,
            office,
            cert_type,
            encryption_key,
        })
    }

    /// 介護保険事業所番号 (from the CA-signed extension).
    pub fn office(&self) -> &OfficeNumber {
        &self.office
    }
    /// 事業所名 from the subject `O`, if present.
    pub fn office_name(&self) -> Option<&str> {
        self.common.subject_o.as_deref()
    }
    pub fn cert_type(&self) -> CertType {
        self.cert_type
    }
    /// X25519 public key for HPKE.
    pub fn encryption_key(&self) -> &[u8; 32] {
        &self.encryption_key
    }
    /// Raw Ed25519 public key (envelope signatures, TLS).
    pub fn signing_key(&self) -> &[u8; 32] {
        &self.common.ed25519_public
    }
    /// Serial number, lowercase hex without leading zero bytes.
    pub fn serial_hex(&self) -> &str {
        &self.common.serial_hex
    }
    /// Unix milliseconds.
    pub fn not_before(&self) -> i64 {
        self.common.not_before
    }
    /// Unix milliseconds.
    pub fn not_after(&self) -> i64 {
        self.common.not_after
    }
    /// SHA-256 of the SubjectPublicKeyInfo DER, lowercase hex.
    pub fn spki_sha256_hex(&self) -> &str {
        &self.common.spki_sha256_hex
    }
    pub fn der(&self) -> &[u8] {
        &self.common.der
    }

    /// Verify an Ed25519 signature made with this certificate's key.
    pub fn verify_signature(&self, message: &[u8], sig: &[u8]) -> bool {
        crate::verify_ed25519(&self.common.ed25519_public, message, sig)
    }

    /// Issued by the CA (issuer name and signature); no time or revocation check.
    pub fn verify_chain(&self, ca_cert_pem: &str) -> Result<(), PkiError> {
        verify_issued_by(&self.common.der, ca_cert_pem)
    }

    /// Within `[not_before, not_after]` at `at` (Unix ms).
    pub fn check_valid_at(&self, at: i64) -> Result<(), PkiError> {
        check_time(&self.common, at)
    }

    /// Full check: chain to the CA, valid at `now`, and `is_revoked(serial_hex)` false.
    pub fn verify(
        &self,
        ca_cert_pem: &str,
        now: i64,
        is_revoked: impl Fn(&str) -> bool,
    ) -> Result<(), PkiError> {
        self.verify_chain(ca_cert_pem)?;
        self.check_valid_at(now)?;
        if is_revoked(&self.common.serial_hex) {
            return Err(PkiError::Revoked {
                serial_hex: self.common.serial_hex.clone(),
            });
        }
        Ok(())
    }

    /// [`PkiError::OfficeMismatch`] unless the certificate belongs to `expected`.
    pub fn ensure_office(&self, expected: &OfficeNumber) -> Result<(), PkiError> {
        if &self.office != expected {
            return Err(PkiError::OfficeMismatch {
                expected: expected.clone(),
                found: self.office.clone(),
            });
        }
        Ok(())
    }
}

/// The relay's receipt-signing certificate (extension `renkeiRelay`, Ed25519 key, no TLS use).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RelayCert {
    common: Common,
}

impl RelayCert {
    pub fn parse_pem(pem: &str) -> Result<Self, PkiError> {
        Self::parse_der(&pem_to_der(pem, "CERTIFICATE")?)
    }

    pub fn parse_der(der: &[u8]) -> Result<Self, PkiError> {
        let cert = parse_x509(der)?;
        if !cert
            .extensions()
            .iter()
            .any(|e| oid_is(&e.oid, OID_RENKEI_RELAY))
        {
            return Err(PkiError::NotRelayCert);
        }
        Ok(Self {
            common: common(&cert, der)?,
        })
    }

    /// Subject CN (the relay's name).
    pub fn name(&self) -> Option<&str> {
        self.common.subject_cn.as_deref()
    }
    pub fn signing_key(&self) -> &[u8; 32] {
        &self.common.ed25519_public
    }
    pub fn serial_hex(&self) -> &str {
        &self.common.serial_hex
    }
    pub fn not_before(&self) -> i64 {
        self.common.not_before
    }
    pub fn not_after(&self) -> i64 {
        self.common.not_after
    }
    pub fn der(&self) -> &[u8] {
        &self.common.der
    }

    pub fn verify_signature(&self, message: &[u8], sig: &[u8]) -> bool {
        crate::verify_ed25519(&self.common.ed25519_public, message, sig)
    }

    pub fn verify_chain(&self, ca_cert_pem: &str) -> Result<(), PkiError> {
        verify_issued_by(&self.common.der, ca_cert_pem)
    }

    pub fn check_valid_at(&self, at: i64) -> Result<(), PkiError> {
        check_time(&self.common, at)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn office_ext_round_trip_and_rejects_garbage() {
        let office: OfficeNumber = "0300000100".parse().unwrap();
        let der = encode_office_ext(&office, CertType::Kaigo, &[9u8; 32]);
        let (o, t, k) = decode_office_ext(&der).unwrap();
        assert_eq!((o, t, k), (office, CertType::Kaigo, [9u8; 32]));
        for n in 0..der.len() {
            assert!(decode_office_ext(&der[..n]).is_err());
        }
        let mut bad = der.clone();
        let last = bad.len() - 33; // the OCTET STRING length byte precedes 32 key bytes
        bad[last] = 31;
        assert!(decode_office_ext(&bad).is_err());
    }

    #[test]
    fn garbage_certificates_are_errors() {
        assert!(OfficeCert::parse_der(b"").is_err());
        assert!(OfficeCert::parse_der(&[0x30, 0x82, 0xff, 0xff]).is_err());
        assert!(OfficeCert::parse_pem("not pem").is_err());
        assert!(RelayCert::parse_der(&[0x30, 0x00]).is_err());
    }
}
