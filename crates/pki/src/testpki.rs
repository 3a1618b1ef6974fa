//! A complete test PKI, generated at run time (never hand-made PEMs): two valid offices, an
//! expired, a not-yet-valid and a revoked certificate, one issued by a rogue CA, a request naming
//! another office, a CRL, the relay's receipt certificate and a TLS server certificate.
//!
//! Enabled by the `testpki` feature; `examples/gen_test_pki.rs` writes the same set to a directory.

use std::path::Path;

use renkei_ids::OfficeNumber;
use zeroize::Zeroizing;

use crate::{
    now_millis, Ca, CertType, DeviceKeys, EnrollmentRequest, IssuedCert, RevocationReason,
    RevokedEntry, ServerCert, DAY_MS,
};

/// 居宅介護支援事業所 (sender in most tests).
pub const OFFICE_A: &str = "0300000100";
/// 訪問介護事業所 (recipient in most tests).
pub const OFFICE_B: &str = "0300000005";

/// One office identity: its number, name, device keys and certificate.
#[derive(Debug)]
pub struct TestOffice {
    pub office: OfficeNumber,
    pub name: String,
    pub keys: DeviceKeys,
    pub cert: IssuedCert,
}

/// Everything a test needs. All certificates except `wrong_ca` are issued by `ca`.
#[derive(Debug)]
pub struct TestPki {
    pub ca: Ca,
    /// Office A, 請求委任事業所用ケアプラン証明書, valid now.
    pub office_a: TestOffice,
    /// Office B, 介護保険証明書, valid now.
    pub office_b: TestOffice,
    /// Office A, expired ten days ago.
    pub expired: TestOffice,
    /// Office A, valid from ten days in the future.
    pub not_yet_valid: TestOffice,
    /// Office A, valid dates but listed in `crl_pem` and `revoked_serials`.
    pub revoked: TestOffice,
    /// Office A, issued by `rogue_ca` (same CA name, different key).
    pub wrong_ca: TestOffice,
    pub rogue_ca: Ca,
    /// An enrollment request whose CSR names office B; enrolling it as office A must fail.
    pub other_office_request: EnrollmentRequest,
    pub revoked_serials: Vec<String>,
    pub crl_pem: String,
    /// The relay's receipt-signing key (Ed25519 PKCS#8) and certificate.
    pub relay_key_pkcs8: Zeroizing<Vec<u8>>,
    pub relay_cert: IssuedCert,
    /// TLS server certificate for `localhost` and `127.0.0.1`.
    pub server: ServerCert,
}

fn office(ca: &Ca, number: &str, name: &str, kind: CertType, nb: i64, na: i64) -> TestOffice {
    let office: OfficeNumber = number.parse().expect("test office number is valid");
    let keys = DeviceKeys::generate().expect("key generation");
    let req = keys
        .enrollment_request(&office, name)
        .expect("enrollment request");
    let cert = ca
        .issue_office_cert(&req, &office, name, kind, nb, na)
        .expect("issue");
    TestOffice {
        office,
        name: name.to_owned(),
        keys,
        cert,
    }
}

impl TestPki {
    /// Generate a fresh PKI (about 20 ms). Panics only if key generation itself fails.
    pub fn generate() -> Self {
        let now = now_millis();
        let ca = Ca::generate("Renkei Test CA").expect("CA");
        let rogue_ca = Ca::generate("Renkei Test CA").expect("rogue CA");
        let (nb, na) = (now - DAY_MS, now + 365 * DAY_MS);
        let office_a = office(
            &ca,
            OFFICE_A,
            "れんけい居宅介護支援事業所",
            CertType::Careplan,
            nb,
            na,
        );
        let office_b = office(&ca, OFFICE_B, "れんけい訪問介護", CertType::Kaigo, nb, na);
        let name = "れんけい居宅介護支援事業所";
        let expired = office(
            &ca,
            OFFICE_A,
            name,
            CertType::Careplan,
            now - 400 * DAY_MS,
            now - 10 * DAY_MS,
        );
        let not_yet_valid = office(
            &ca,
            OFFICE_A,
            name,
            CertType::Careplan,
            now + 10 * DAY_MS,
            now + 400 * DAY_MS,
        );
        let revoked = office(&ca, OFFICE_A, name, CertType::Careplan, nb, na);
        let wrong_ca = office(&rogue_ca, OFFICE_A, name, CertType::Careplan, nb, na);
        let other: OfficeNumber = OFFICE_B.parse().expect("valid");
        let other_office_request = DeviceKeys::generate()
            .expect("keys")
            .enrollment_request(&other, "れんけい訪問介護")
            .expect("request");
        let revoked_serials = vec![revoked.cert.serial_hex.clone()];
        let crl_pem = ca
            .sign_crl(&[RevokedEntry {
                serial_hex: revoked.cert.serial_hex.clone(),
                revoked_at: now - DAY_MS,
                reason: RevocationReason::KeyCompromise,
            }])
            .expect("CRL");
        let relay_key_pkcs8 = crate::generate_ed25519_pkcs8().expect("relay key");
        let relay_pk = crate::ed25519_public_key(&relay_key_pkcs8).expect("relay public key");
        let relay_cert = ca
            .issue_relay_cert(&relay_pk, "Renkei Test Relay")
            .expect("relay cert");
        let server = ca
            .issue_server_cert(&["localhost".into(), "127.0.0.1".into()])
            .expect("server cert");
        Self {
            ca,
            office_a,
            office_b,
            expired,
            not_yet_valid,
            revoked,
            wrong_ca,
            rogue_ca,
            other_office_request,
            revoked_serials,
            crl_pem,
            relay_key_pkcs8,
            relay_cert,
            server,
        }
    }

    /// Whether `serial_hex` is one this PKI revoked (for `OfficeCert::verify`).
    pub fn is_revoked(&self, serial_hex: &str) -> bool {
        self.revoked_serials.iter().any(|s| s == serial_hex)
    }

    /// Write every artefact to `dir` (created if missing). Office keys are written as
    /// [`DeviceKeys::export`] bytes (`*.keys`), other keys as PKCS#8 PEM.
    pub fn write_to(&self, dir: &Path) -> Result<(), crate::PkiError> {
        std::fs::create_dir_all(dir).map_err(|source| crate::PkiError::Io {
            path: dir.display().to_string(),
            source,
        })?;
        let w = |name: &str, bytes: &[u8]| {
            let path = dir.join(name);
            std::fs::write(&path, bytes).map_err(|source| crate::PkiError::Io {
                path: path.display().to_string(),
                source,
            })
        };
        self.ca.save(&dir.join("ca.pem"), &dir.join("ca.key"))?;
        self.rogue_ca
            .save(&dir.join("rogue-ca.pem"), &dir.join("rogue-ca.key"))?;
        for (stem, o) in [
            ("office-a", &self.office_a),
            ("office-b", &self.office_b),
            ("office-a-expired", &self.expired),
            ("office-a-not-yet-valid", &self.not_yet_valid),
            ("office-a-revoked", &self.revoked),
            ("office-a-wrong-ca", &self.wrong_ca),
        ] {
            w(&format!("{stem}.pem"), o.cert.pem.as_bytes())?;
            w(&format!("{stem}.keys"), &o.keys.export())?;
        }
        w(
            "other-office.csr",
            self.other_office_request.csr_pem.as_bytes(),
        )?;
        w("crl.pem", self.crl_pem.as_bytes())?;
        w("relay.pem", self.relay_cert.pem.as_bytes())?;
        w(
            "relay.key",
            crate::ca::der_to_pem("PRIVATE KEY", &self.relay_key_pkcs8).as_bytes(),
        )?;
        w("server.pem", self.server.cert.pem.as_bytes())?;
        w("server.key", self.server.key_pem.as_bytes())?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{OfficeCert, PkiError};

    #[test]
    fn every_case_fails_the_way_it_should() {
        let pki = TestPki::generate();
        let ca = pki.ca.ca_cert_pem();
        let now = now_millis();
        let check = |o: &TestOffice| {
            OfficeCert::parse_pem(&o.cert.pem)
                .unwrap()
                .verify(ca, now, |s| pki.is_revoked(s))
        };
        check(&pki.office_a).unwrap();
        check(&pki.office_b).unwrap();
        assert!(matches!(check(&pki.expired), Err(PkiError::Expired { .. })));
        assert!(matches!(
            check(&pki.not_yet_valid),
            Err(PkiError::NotYetValid { .. })
        ));
        assert!(matches!(check(&pki.revoked), Err(PkiError::Revoked { .. })));
        assert!(matches!(check(&pki.wrong_ca), Err(PkiError::WrongCa)));
        let crl = crate::parse_crl(&pki.crl_pem, ca).unwrap();
        assert!(crl.is_revoked(&pki.revoked.cert.serial_hex));
        assert!(!crl.is_revoked(&pki.office_a.cert.serial_hex));
        let (nb, na) = CertType::Careplan.default_validity(now);
        let a: OfficeNumber = OFFICE_A.parse().unwrap();
        let err = pki
            .ca
            .issue_office_cert(
                &pki.other_office_request,
                &a,
                "x",
                CertType::Careplan,
                nb,
                na,
            )
            .unwrap_err();
        assert!(matches!(err, PkiError::OfficeMismatch { .. }));
        let b = OfficeCert::parse_pem(&pki.office_b.cert.pem).unwrap();
        assert!(matches!(
            b.ensure_office(&a),
            Err(PkiError::OfficeMismatch { .. })
        ));

        let dir = tempfile::tempdir().unwrap();
        pki.write_to(dir.path()).unwrap();
        let keys =
            DeviceKeys::import(&std::fs::read(dir.path().join("office-a.keys")).unwrap()).unwrap();
        assert_eq!(
            keys.signing_public_key(),
            pki.office_a.keys.signing_public_key()
        );
        crate::Ca::load(&dir.path().join("ca.pem"), &dir.path().join("ca.key")).unwrap();
    }
}
