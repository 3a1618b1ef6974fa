//! The Renkei certificate authority: issues office, relay and TLS server certificates and signs
//! revocation lists. Its private key lives in one PEM file (mode 0600) next to its certificate.

use std::path::Path;

use rcgen::{
    CertificateParams, CustomExtension, DnType, ExtendedKeyUsagePurpose, IsCa, KeyPair,
    KeyUsagePurpose, SerialNumber, SignatureAlgorithm,
};
use renkei_ids::OfficeNumber;
use ring::rand::SecureRandom;
use x509_parser::certificate::X509Certificate;
use x509_parser::certification_request::X509CertificationRequest;
use x509_parser::prelude::FromDer;
use zeroize::Zeroizing;

use crate::cert::encode_office_ext;
use crate::crl::RevokedEntry;
use crate::keys::{office_dn, verify_proof};
use crate::{
    millis_to_datetime, now_millis, pem_to_der, serial_hex_from_bytes, sha256_hex, CertType,
    EnrollmentRequest, PkiError, DAY_MS, OID_RENKEI_OFFICE, OID_RENKEI_RELAY,
};

/// Validity of a new CA.
const CA_VALIDITY_DAYS: i64 = 3650;
/// Validity of relay receipt-signing certificates from [`Ca::issue_relay_cert`].
const RELAY_VALIDITY_DAYS: i64 = 5 * 365;
/// Validity of TLS server certificates from [`Ca::issue_server_cert`].
const SERVER_VALIDITY_DAYS: i64 = 397;
/// Validity of a CRL (`nextUpdate - thisUpdate`).
const CRL_VALIDITY_DAYS: i64 = 7;
/// Backdating of `not_before`, for clock skew.
const BACKDATE_MS: i64 = 5 * 60 * 1000;

/// A certificate the CA has just issued.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IssuedCert {
    pub pem: String,
    pub der: Vec<u8>,
    /// Lowercase hex, no leading zero bytes (the form CRLs and the database use).
    pub serial_hex: String,
    /// SHA-256 of the SubjectPublicKeyInfo DER, lowercase hex.
    pub spki_sha256_hex: String,
    /// Unix milliseconds (whole seconds, as X.509 stores them).
    pub not_before: i64,
    pub not_after: i64,
}

/// A TLS server certificate and its freshly generated private key (ECDSA P-256, PKCS#8 PEM).
pub struct ServerCert {
    pub cert: IssuedCert,
    pub key_pem: Zeroizing<String>,
}

impl std::fmt::Debug for ServerCert {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerCert")
            .field("cert", &self.cert)
            .finish_non_exhaustive()
    }
}

/// Public key taken from a CSR or given raw, for rcgen.
struct RawPublicKey {
    raw: Vec<u8>,
    alg: &'static SignatureAlgorithm,
}

impl rcgen::PublicKeyData for RawPublicKey {
    fn der_bytes(&self) -> &[u8] {
        &self.raw
    }
    fn algorithm(&self) -> &SignatureAlgorithm {
        self.alg
    }
}

/// The Renkei CA (ECDSA P-256 key, so that any TLS stack and browser accepts its chain).
pub struct Ca {
    cert_pem: String,
    cert_der: Vec<u8>,
    key: KeyPair,
    /// rcgen's view of the CA for signing (same subject, key and key identifier).
    issuer: rcgen::Certificate,
}

impl std::fmt::Debug for Ca {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ca")
            .field("cert_sha256", &sha256_hex(&self.cert_der))
            .finish_non_exhaustive()
    }
}

fn random_serial() -> Result<Vec<u8>, PkiError> {
    let mut b = [0u8; 16];
    ring::rand::SystemRandom::new()
        .fill(&mut b)
        .map_err(|_| PkiError::Rng)?;
    // Keep the full 16 bytes in the canonical hex form (no leading zero byte).
    if b[0] == 0 {
        b[0] = 1;
    }
    Ok(b.to_vec())
}

fn issued_from_der(der: &[u8]) -> Result<IssuedCert, PkiError> {
    let (_, x) = X509Certificate::from_der(der).map_err(|e| PkiError::Parse(e.to_string()))?;
    let v = x.validity();
    Ok(IssuedCert {
        pem: der_to_pem("CERTIFICATE", der),
        der: der.to_vec(),
        serial_hex: serial_hex_from_bytes(x.raw_serial()),
        spki_sha256_hex: sha256_hex(x.public_key().raw),
        not_before: v.not_before.timestamp() * 1000,
        not_after: v.not_after.timestamp() * 1000,
    })
}

pub(crate) fn der_to_pem(label: &str, der: &[u8]) -> String {
    use base64::Engine;
    let b64 = base64::engine::general_purpose::STANDARD.encode(der);
    let mut out = format!("-----BEGIN {label}-----\n");
    for chunk in b64.as_bytes().chunks(64) {
        out.push_str(std::str::from_utf8(chunk).unwrap_or_default());
        out.push('\n');
    }
    out.push_str(&format!("-----END {label}-----\n"));
    out
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> PkiError + '_ {
    move |source| PkiError::Io {
        path: path.display().to_string(),
        source,
    }
}

impl Ca {
    /// A new CA named `name` (subject `CN=<name>, O=Renkei, C=JP`), valid ten years from now.
    pub fn generate(name: &str) -> Result<Self, PkiError> {
        let now = now_millis();
        Self::generate_with_validity(name, now - BACKDATE_MS, now + CA_VALIDITY_DAYS * DAY_MS)
    }

    /// A new CA with explicit validity (Unix ms).
    pub fn generate_with_validity(
        name: &str,
        not_before: i64,
        not_after: i64,
    ) -> Result<Self, PkiError> {
        let key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)?;
        let mut params = CertificateParams::default();
        let mut dn = rcgen::DistinguishedName::new();
        dn.push(DnType::CommonName, name);
        dn.push(DnType::OrganizationName, "Renkei");
        dn.push(DnType::CountryName, "JP");
        params.distinguished_name = dn;
        params.is_ca = IsCa::Ca(rcgen::BasicConstraints::Constrained(0));
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        params.serial_number = Some(SerialNumber::from_slice(&random_serial()?));
        params.not_before = millis_to_datetime(not_before)?;
        params.not_after = millis_to_datetime(not_after)?;
        let cert = params.self_signed(&key)?;
        let cert_pem = cert.pem();
        let cert_der = cert.der().to_vec();
        Ok(Self {
            cert_pem,
            cert_der,
            key,
            issuer: cert,
        })
    }

    /// Load from the CA certificate PEM and its private key PEM (PKCS#8).
    pub fn from_pem(cert_pem: &str, key_pem: &str) -> Result<Self, PkiError> {
        let cert_der = crate::parse_ca_cert(cert_pem)?;
        let key =
            KeyPair::from_pem(key_pem).map_err(|e| PkiError::Parse(format!("CA key: {e}")))?;
        let (_, x) =
            X509Certificate::from_der(&cert_der).map_err(|e| PkiError::Parse(e.to_string()))?;
        if x.public_key().raw != key.public_key_der().as_slice() {
            return Err(PkiError::Parse(
                "CA key does not match the CA certificate".into(),
            ));
        }
        let params = CertificateParams::from_ca_cert_der(&cert_der.clone().into())?;
        let issuer = params.self_signed(&key)?;
        Ok(Self {
            cert_pem: crate::ca::der_to_pem("CERTIFICATE", &cert_der),
            cert_der,
            key,
            issuer,
        })
    }

    /// Load from two files (see [`save`](Self::save)).
    pub fn load(cert_path: &Path, key_path: &Path) -> Result<Self, PkiError> {
        let cert = std::fs::read_to_string(cert_path).map_err(io_err(cert_path))?;
        let key = Zeroizing::new(std::fs::read_to_string(key_path).map_err(io_err(key_path))?);
        Self::from_pem(&cert, &key)
    }

    /// Write the certificate (0644) and the private key (0600, written with that mode from the
    /// start so it is never readable by others). Existing files are replaced.
    pub fn save(&self, cert_path: &Path, key_path: &Path) -> Result<(), PkiError> {
        use std::io::Write;
        std::fs::write(cert_path, &self.cert_pem).map_err(io_err(cert_path))?;
        let key_pem = Zeroizing::new(self.key.serialize_pem());
        let mut opts = std::fs::OpenOptions::new();
        opts.write(true).create(true).truncate(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
            opts.mode(0o600);
            // An existing file keeps its mode on open; tighten it first.
            if key_path.exists() {
                std::fs::set_permissions(key_path, std::fs::Permissions::from_mode(0o600))
                    .map_err(io_err(key_path))?;
            }
        }
        let mut f = opts.open(key_path).map_err(io_err(key_path))?;
        f.write_all(key_pem.as_bytes()).map_err(io_err(key_path))?;
        f.sync_all().map_err(io_err(key_path))?;
        Ok(())
    }

    pub fn ca_cert_pem(&self) -> &str {
        &self.cert_pem
    }

    pub fn ca_cert_der(&self) -> &[u8] {
        &self.cert_der
    }

    /// Issue an office certificate from an enrollment request.
    ///
    /// Checks: the CSR parses and its self-signature verifies; its key is Ed25519; its subject CN
    /// names `office` ([`PkiError::OfficeMismatch`] otherwise); the encryption-key proof verifies
    /// with the CSR key. Everything else in the CSR (other names, requested extensions) is
    /// ignored: the profile comes from the CA alone.
    pub fn issue_office_cert(
        &self,
        request: &EnrollmentRequest,
        office: &OfficeNumber,
        office_name: &str,
        profile: CertType,
        not_before: i64,
        not_after: i64,
    ) -> Result<IssuedCert, PkiError> {
        let csr_der = pem_to_der(&request.csr_pem, "CERTIFICATE REQUEST")
            .map_err(|e| PkiError::BadCsr(e.to_string()))?;
        let (rest, csr) = X509CertificationRequest::from_der(&csr_der)
            .map_err(|e| PkiError::BadCsr(format!("parse: {e}")))?;
        if !rest.is_empty() {
            return Err(PkiError::BadCsr("trailing bytes".into()));
        }
        csr.verify_signature()
            .map_err(|_| PkiError::BadCsr("self-signature does not verify".into()))?;
        let info = &csr.certification_request_info;
        let spki = &info.subject_pki;
        let is_ed25519 = spki
            .algorithm
            .algorithm
            .iter()
            .is_some_and(|it| it.eq([1u64, 3, 101, 112]));
        if !is_ed25519 || spki.subject_public_key.data.len() != 32 {
            return Err(PkiError::UnsupportedKey(
                "office keys must be Ed25519".into(),
            ));
        }
        let cn = info
            .subject
            .iter_common_name()
            .next()
            .and_then(|a| a.as_str().ok())
            .ok_or_else(|| PkiError::BadCsr("subject has no CN".into()))?;
        if cn != office.as_str() {
            return Err(match cn.parse::<OfficeNumber>() {
                Ok(found) => PkiError::OfficeMismatch {
                    expected: office.clone(),
                    found,
                },
                Err(_) => PkiError::BadCsr(format!("subject CN {cn:?} is not an office number")),
            });
        }
        let public = spki.subject_public_key.data.to_vec();
        if request.encryption_key == [0u8; 32] {
            return Err(PkiError::UnsupportedKey("X25519 key is all zeros".into()));
        }
        if !verify_proof(&public, office, &request.encryption_key, &request.proof) {
            return Err(PkiError::BadProof);
        }

        let mut params = CertificateParams::default();
        params.distinguished_name = office_dn(office, office_name);
        params.serial_number = Some(SerialNumber::from_slice(&random_serial()?));
        params.not_before = millis_to_datetime(not_before)?;
        params.not_after = millis_to_datetime(not_after)?;
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        params.use_authority_key_identifier_extension = true;
        params.custom_extensions = vec![CustomExtension::from_oid_content(
            OID_RENKEI_OFFICE,
            encode_office_ext(office, profile, &request.encryption_key),
        )];
        let key = RawPublicKey {
            raw: public,
            alg: &rcgen::PKCS_ED25519,
        };
        let cert = params.signed_by(&key, &self.issuer, &self.key)?;
        issued_from_der(cert.der())
    }

    /// Issue the relay's receipt-signing certificate for an Ed25519 public key, valid five years.
    pub fn issue_relay_cert(
        &self,
        relay_public_key: &[u8; 32],
        relay_name: &str,
    ) -> Result<IssuedCert, PkiError> {
        let now = now_millis();
        self.issue_relay_cert_with_validity(
            relay_public_key,
            relay_name,
            now - BACKDATE_MS,
            now + RELAY_VALIDITY_DAYS * DAY_MS,
        )
    }

    /// [`issue_relay_cert`](Self::issue_relay_cert) with explicit validity (Unix ms).
    pub fn issue_relay_cert_with_validity(
        &self,
        relay_public_key: &[u8; 32],
        relay_name: &str,
        not_before: i64,
        not_after: i64,
    ) -> Result<IssuedCert, PkiError> {
        let mut params = CertificateParams::default();
        let mut dn = rcgen::DistinguishedName::new();
        dn.push(DnType::CommonName, relay_name);
        dn.push(DnType::OrganizationName, "Renkei");
        dn.push(DnType::CountryName, "JP");
        params.distinguished_name = dn;
        params.serial_number = Some(SerialNumber::from_slice(&random_serial()?));
        params.not_before = millis_to_datetime(not_before)?;
        params.not_after = millis_to_datetime(not_after)?;
        params.key_usages = vec![
            KeyUsagePurpose::DigitalSignature,
            KeyUsagePurpose::ContentCommitment,
        ];
        params.use_authority_key_identifier_extension = true;
        params.custom_extensions = vec![CustomExtension::from_oid_content(
            OID_RENKEI_RELAY,
            vec![0x05, 0x00],
        )];
        let key = RawPublicKey {
            raw: relay_public_key.to_vec(),
            alg: &rcgen::PKCS_ED25519,
        };
        let cert = params.signed_by(&key, &self.issuer, &self.key)?;
        issued_from_der(cert.der())
    }

    /// Issue a TLS server certificate for DNS names and/or IP addresses (`"localhost"`,
    /// `"127.0.0.1"`), with a new ECDSA P-256 key; valid 397 days.
    pub fn issue_server_cert(&self, subject_alt_names: &[String]) -> Result<ServerCert, PkiError> {
        if subject_alt_names.is_empty() {
            return Err(PkiError::Generate(
                "a server certificate needs at least one name".into(),
            ));
        }
        let key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)?;
        let mut params = CertificateParams::new(subject_alt_names.to_vec())?;
        let mut dn = rcgen::DistinguishedName::new();
        dn.push(DnType::CommonName, subject_alt_names[0].as_str());
        dn.push(DnType::OrganizationName, "Renkei");
        params.distinguished_name = dn;
        let now = now_millis();
        params.serial_number = Some(SerialNumber::from_slice(&random_serial()?));
        params.not_before = millis_to_datetime(now - BACKDATE_MS)?;
        params.not_after = millis_to_datetime(now + SERVER_VALIDITY_DAYS * DAY_MS)?;
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        params.use_authority_key_identifier_extension = true;
        let cert = params.signed_by(&key, &self.issuer, &self.key)?;
        Ok(ServerCert {
            cert: issued_from_der(cert.der())?,
            key_pem: Zeroizing::new(key.serialize_pem()),
        })
    }

    /// Sign a CRL listing `revoked`, valid seven days from now. Returns PEM (`X509 CRL`).
    pub fn sign_crl(&self, revoked: &[RevokedEntry]) -> Result<String, PkiError> {
        let now = now_millis();
        self.sign_crl_at(revoked, now, now + CRL_VALIDITY_DAYS * DAY_MS)
    }

    /// [`sign_crl`](Self::sign_crl) with explicit `thisUpdate`/`nextUpdate` (Unix ms). The CRL
    /// number is `this_update` (monotonic as long as the clock is).
    pub fn sign_crl_at(
        &self,
        revoked: &[RevokedEntry],
        this_update: i64,
        next_update: i64,
    ) -> Result<String, PkiError> {
        let mut revoked_certs = Vec::with_capacity(revoked.len());
        for r in revoked {
            let serial = hex::decode(&r.serial_hex)
                .map_err(|_| PkiError::BadCrl(format!("serial {:?} is not hex", r.serial_hex)))?;
            revoked_certs.push(rcgen::RevokedCertParams {
                serial_number: SerialNumber::from_slice(&serial),
                revocation_time: millis_to_datetime(r.revoked_at)?,
                reason_code: Some(r.reason.to_rcgen()),
                invalidity_date: None,
            });
        }
        let params = rcgen::CertificateRevocationListParams {
            this_update: millis_to_datetime(this_update)?,
            next_update: millis_to_datetime(next_update)?,
            crl_number: SerialNumber::from(this_update.max(0) as u64),
            issuing_distribution_point: None,
            revoked_certs,
            key_identifier_method: rcgen::KeyIdMethod::Sha256,
        };
        Ok(params.signed_by(&self.issuer, &self.key)?.pem()?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{DeviceKeys, OfficeCert, RelayCert};

    #[test]
    fn save_load_issue_verify() {
        let dir = tempfile::tempdir().unwrap();
        let ca = Ca::generate("Renkei Test CA").unwrap();
        let (c, k) = (dir.path().join("ca.pem"), dir.path().join("ca.key"));
        ca.save(&c, &k).unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(
                std::fs::metadata(&k).unwrap().permissions().mode() & 0o777,
                0o600
            );
        }
        let loaded = Ca::load(&c, &k).unwrap();
        assert_eq!(loaded.ca_cert_pem(), ca.ca_cert_pem());

        // A certificate issued by the reloaded CA verifies against the original certificate.
        let office: OfficeNumber = "0300000100".parse().unwrap();
        let keys = DeviceKeys::generate().unwrap();
        let req = keys.enrollment_request(&office, "テスト居宅").unwrap();
        let now = now_millis();
        let issued = loaded
            .issue_office_cert(
                &req,
                &office,
                "テスト居宅",
                CertType::Kaigo,
                now - 1000,
                now + DAY_MS,
            )
            .unwrap();
        let cert = OfficeCert::parse_pem(&issued.pem).unwrap();
        cert.verify(ca.ca_cert_pem(), now, |_| false).unwrap();
        assert_eq!(cert.serial_hex(), issued.serial_hex);
        assert_eq!(cert.serial_hex().len(), 32);
        assert_eq!(cert.spki_sha256_hex(), issued.spki_sha256_hex);
        assert_eq!(cert.cert_type(), CertType::Kaigo);
        assert_eq!(cert.office_name(), Some("テスト居宅"));
        assert_eq!(cert.signing_key(), &keys.signing_public_key());
        assert!(matches!(
            RelayCert::parse_pem(&issued.pem),
            Err(PkiError::NotRelayCert)
        ));

        // Mismatched key file is refused.
        let other = Ca::generate("Other").unwrap();
        std::fs::write(&c, other.ca_cert_pem()).unwrap();
        assert!(Ca::load(&c, &k).is_err());
    }

    #[test]
    fn refuses_bad_requests() {
        let ca = Ca::generate("Renkei Test CA").unwrap();
        let office: OfficeNumber = "0300000100".parse().unwrap();
        let other: OfficeNumber = "0300000005".parse().unwrap();
        let keys = DeviceKeys::generate().unwrap();
        let (nb, na) = CertType::Careplan.default_validity(now_millis());

        let req = keys.enrollment_request(&other, "別事業所").unwrap();
        let err = ca
            .issue_office_cert(&req, &office, "x", CertType::Careplan, nb, na)
            .unwrap_err();
        assert!(matches!(err, PkiError::OfficeMismatch { .. }), "{err}");

        let mut req = keys.enrollment_request(&office, "x").unwrap();
        req.encryption_key[0] ^= 1;
        let err = ca
            .issue_office_cert(&req, &office, "x", CertType::Careplan, nb, na)
            .unwrap_err();
        assert!(matches!(err, PkiError::BadProof), "{err}");

        let mut req = keys.enrollment_request(&office, "x").unwrap();
        req.csr_pem = req.csr_pem.replace('A', "B");
        assert!(ca
            .issue_office_cert(&req, &office, "x", CertType::Careplan, nb, na)
            .is_err());

        // A proof made by another key does not verify with the CSR key.
        let mut req = keys.enrollment_request(&office, "x").unwrap();
        req.proof = DeviceKeys::generate()
            .unwrap()
            .enrollment_request(&office, "x")
            .unwrap()
            .proof;
        assert!(ca
            .issue_office_cert(&req, &office, "x", CertType::Careplan, nb, na)
            .is_err());
    }

    #[test]
    fn relay_and_server_certs() {
        let ca = Ca::generate("Renkei Test CA").unwrap();
        let pkcs8 = crate::generate_ed25519_pkcs8().unwrap();
        let pk = crate::ed25519_public_key(&pkcs8).unwrap();
        let issued = ca.issue_relay_cert(&pk, "relay-1").unwrap();
        let relay = RelayCert::parse_pem(&issued.pem).unwrap();
        relay.verify_chain(ca.ca_cert_pem()).unwrap();
        relay.check_valid_at(now_millis()).unwrap();
        assert_eq!(relay.signing_key(), &pk);
        assert_eq!(relay.name(), Some("relay-1"));
        assert!(matches!(
            OfficeCert::parse_pem(&issued.pem),
            Err(PkiError::NotOfficeCert)
        ));
        let other = Ca::generate("Renkei Test CA").unwrap();
        assert!(matches!(
            relay.verify_chain(other.ca_cert_pem()),
            Err(PkiError::WrongCa)
        ));

        let server = ca
            .issue_server_cert(&["localhost".into(), "127.0.0.1".into()])
            .unwrap();
        assert!(server.key_pem.contains("PRIVATE KEY"));
        assert!(ca.issue_server_cert(&[]).is_err());
    }
}
