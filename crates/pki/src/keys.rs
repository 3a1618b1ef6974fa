//! Device key pairs (generated on the office's device) and the enrollment request.

use hpke::kem::X25519HkdfSha256;
use hpke::{Deserializable, Kem, Serializable};
use rand_core::OsRng;
use renkei_ids::OfficeNumber;
use ring::signature::{self, Ed25519KeyPair, KeyPair as _};
use zeroize::{Zeroize, Zeroizing};

use crate::PkiError;

/// Domain separation prefix of the encryption-key proof.
pub const ENC_KEY_PROOF_CONTEXT: &[u8] = b"renkei-enc-key-v1";

/// Magic and version of [`DeviceKeys::export`].
const EXPORT_MAGIC: &[u8; 4] = b"RKK1";

/// A new Ed25519 key as PKCS#8 (v2) DER, zeroized on drop.
pub fn generate_ed25519_pkcs8() -> Result<Zeroizing<Vec<u8>>, PkiError> {
    let rng = ring::rand::SystemRandom::new();
    let doc = Ed25519KeyPair::generate_pkcs8(&rng).map_err(|_| PkiError::Rng)?;
    Ok(Zeroizing::new(doc.as_ref().to_vec()))
}

/// The raw 32-byte Ed25519 public key of a PKCS#8 private key.
pub fn ed25519_public_key(pkcs8: &[u8]) -> Result<[u8; 32], PkiError> {
    let kp = Ed25519KeyPair::from_pkcs8_maybe_unchecked(pkcs8)
        .map_err(|e| PkiError::UnsupportedKey(format!("Ed25519 PKCS#8: {e}")))?;
    let mut out = [0u8; 32];
    out.copy_from_slice(kp.public_key().as_ref());
    Ok(out)
}

/// Verify an Ed25519 signature with a raw 32-byte public key.
pub fn verify_ed25519(public_key: &[u8], message: &[u8], sig: &[u8]) -> bool {
    signature::UnparsedPublicKey::new(&signature::ED25519, public_key)
        .verify(message, sig)
        .is_ok()
}

fn proof_message(office: &OfficeNumber, x25519_public: &[u8; 32]) -> Vec<u8> {
    let mut m = Vec::with_capacity(ENC_KEY_PROOF_CONTEXT.len() + 10 + 32);
    m.extend_from_slice(ENC_KEY_PROOF_CONTEXT);
    m.extend_from_slice(office.as_str().as_bytes());
    m.extend_from_slice(x25519_public);
    m
}

/// Check the proof `Ed25519(signing key, "renkei-enc-key-v1" || office || x25519_public)`.
pub(crate) fn verify_proof(
    ed25519_public: &[u8],
    office: &OfficeNumber,
    x25519_public: &[u8; 32],
    proof: &[u8],
) -> bool {
    verify_ed25519(ed25519_public, &proof_message(office, x25519_public), proof)
}

/// The keys of one office installation: an Ed25519 signing key and an X25519 encryption key.
/// Secrets are zeroized on drop; `Debug` prints only public keys.
pub struct DeviceKeys {
    signing_pkcs8: Zeroizing<Vec<u8>>,
    signing: Ed25519KeyPair,
    enc_secret: Zeroizing<[u8; 32]>,
    enc_public: [u8; 32],
}

impl std::fmt::Debug for DeviceKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DeviceKeys")
            .field("signing_public", &hex::encode(self.signing_public_key()))
            .field("encryption_public", &hex::encode(self.enc_public))
            .finish_non_exhaustive()
    }
}

/// What a device sends to the portal to obtain an office certificate.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct EnrollmentRequest {
    /// PKCS#10 CSR signed by the Ed25519 key, subject `CN=<office>, O=<name>, C=JP`.
    pub csr_pem: String,
    /// X25519 public key to be carried in the certificate.
    pub encryption_key: [u8; 32],
    /// Ed25519 signature over `"renkei-enc-key-v1" || office || encryption_key`.
    pub proof: Vec<u8>,
}

impl DeviceKeys {
    /// Generate fresh keys from the operating system's random source.
    pub fn generate() -> Result<Self, PkiError> {
        let pkcs8 = generate_ed25519_pkcs8()?;
        let (sk, _pk) = X25519HkdfSha256::gen_keypair(&mut OsRng);
        let mut secret = Zeroizing::new([0u8; 32]);
        let mut bytes = sk.to_bytes();
        secret.copy_from_slice(&bytes);
        bytes.zeroize();
        Self::from_parts(&pkcs8, &secret[..])
    }

    /// Rebuild from a PKCS#8 Ed25519 key and a 32-byte X25519 secret.
    pub fn from_parts(signing_pkcs8: &[u8], encryption_secret: &[u8]) -> Result<Self, PkiError> {
        let signing = Ed25519KeyPair::from_pkcs8_maybe_unchecked(signing_pkcs8)
            .map_err(|e| PkiError::UnsupportedKey(format!("Ed25519 PKCS#8: {e}")))?;
        let sk = <X25519HkdfSha256 as Kem>::PrivateKey::from_bytes(encryption_secret)
            .map_err(|e| PkiError::UnsupportedKey(format!("X25519 secret: {e:?}")))?;
        let pk = X25519HkdfSha256::sk_to_pk(&sk);
        let mut enc_public = [0u8; 32];
        enc_public.copy_from_slice(&pk.to_bytes());
        let mut enc_secret = Zeroizing::new([0u8; 32]);
        enc_secret.copy_from_slice(encryption_secret);
        Ok(Self {
            signing_pkcs8: Zeroizing::new(signing_pkcs8.to_vec()),
            signing,
            enc_secret,
            enc_public,
        })
    }

    /// Serialise both secrets for a keystore: `"RKK1" || u32 BE pkcs8_len || pkcs8 || x25519`.
    /// The caller encrypts this (the client keystore does, with a passphrase).
    pub fn export(&self) -> Zeroizing<Vec<u8>> {
        let mut out = Zeroizing::new(Vec::with_capacity(4 + 4 + self.signing_pkcs8.len() + 32));
        out.extend_from_slice(EXPORT_MAGIC);
        out.extend_from_slice(&(self.signing_pkcs8.len() as u32).to_be_bytes());
        out.extend_from_slice(&self.signing_pkcs8);
        out.extend_from_slice(&self.enc_secret[..]);
        out
    }

    /// Inverse of [`export`](Self::export).
    pub fn import(bytes: &[u8]) -> Result<Self, PkiError> {
        let bad = || PkiError::Parse("device key export is malformed".into());
        let rest = bytes
            .strip_prefix(EXPORT_MAGIC.as_slice())
            .ok_or_else(bad)?;
        let (len, rest) = rest.split_first_chunk::<4>().ok_or_else(bad)?;
        let len = u32::from_be_bytes(*len) as usize;
        if rest.len() != len.checked_add(32).ok_or_else(bad)? {
            return Err(bad());
        }
        let (pkcs8, secret) = rest.split_at(len);
        Self::from_parts(pkcs8, secret)
    }

    /// The Ed25519 private key as PKCS#8 DER (for rustls client authentication).
    pub fn signing_pkcs8(&self) -> &[u8] {
        &self.signing_pkcs8
    }

    /// The X25519 secret (for HPKE open).
    pub fn encryption_secret(&self) -> &[u8; 32] {
        &self.enc_secret
    }

    /// Raw Ed25519 public key.
    pub fn signing_public_key(&self) -> [u8; 32] {
        let mut out = [0u8; 32];
        out.copy_from_slice(self.signing.public_key().as_ref());
        out
    }

    /// X25519 public key.
    pub fn encryption_public_key(&self) -> [u8; 32] {
        self.enc_public
    }

    /// Ed25519 signature over `message`.
    pub fn sign(&self, message: &[u8]) -> [u8; 64] {
        let mut out = [0u8; 64];
        out.copy_from_slice(self.signing.sign(message).as_ref());
        out
    }

    /// Build the enrollment request for `office`: CSR with subject
    /// `CN=<office>, O=<office_name>, C=JP`, the X25519 public key and the proof.
    pub fn enrollment_request(
        &self,
        office: &OfficeNumber,
        office_name: &str,
    ) -> Result<EnrollmentRequest, PkiError> {
        let key = rcgen::KeyPair::try_from(self.signing_pkcs8.as_slice())?;
        let mut params = rcgen::CertificateParams::default();
        params.distinguished_name = office_dn(office, office_name);
        let csr = params.serialize_request(&key)?;
        let proof = self.sign(&proof_message(office, &self.enc_public)).to_vec();
        Ok(EnrollmentRequest {
            csr_pem: csr.pem()?,
            encryption_key: self.enc_public,
            proof,
        })
    }
}

/// Subject of an office certificate.
pub(crate) fn office_dn(office: &OfficeNumber, office_name: &str) -> rcgen::DistinguishedName {
    let mut dn = rcgen::DistinguishedName::new();
    dn.push(rcgen::DnType::CommonName, office.as_str());
    dn.push(rcgen::DnType::OrganizationName, office_name);
    dn.push(rcgen::DnType::CountryName, "JP");
    dn
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn export_import_round_trip() {
        let k = DeviceKeys::generate().unwrap();
        let bytes = k.export();
        let k2 = DeviceKeys::import(&bytes).unwrap();
        assert_eq!(k.signing_public_key(), k2.signing_public_key());
        assert_eq!(k.encryption_public_key(), k2.encryption_public_key());
        assert_eq!(k.encryption_secret(), k2.encryption_secret());
        // Every truncation is an error, never a panic.
        for n in 0..bytes.len() {
            assert!(DeviceKeys::import(&bytes[..n]).is_err(), "prefix {n}");
        }
        let mut extra = bytes.to_vec();
        extra.push(0);
        assert!(DeviceKeys::import(&extra).is_err());
        assert!(!format!("{k:?}").contains(&hex::encode(k.encryption_secret())));
    }

    #[test]
    fn proof_binds_office_and_key() {
        let k = DeviceKeys::generate().unwrap();
        let office: OfficeNumber = "1310100010".parse().unwrap();
        let other: OfficeNumber = "1310100028".parse().unwrap();
        let req = k.enrollment_request(&office, "テスト事業所").unwrap();
        let pk = k.signing_public_key();
        assert!(verify_proof(&pk, &office, &req.encryption_key, &req.proof));
        assert!(!verify_proof(&pk, &other, &req.encryption_key, &req.proof));
        assert!(!verify_proof(&pk, &office, &[7u8; 32], &req.proof));
    }
}
