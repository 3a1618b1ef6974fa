//! The device keystore: the office's private keys, its certificate and (optionally) the four
//! login credentials, in one file encrypted with a passphrase.
//!
//! File layout (`RKS1`):
//!
//! ```text
//! magic "RKS1" | m_cost u32 BE | t_cost u32 BE | p_cost u32 BE | salt 16 | nonce 12 | ciphertext
//! ```
//!
//! The key is Argon2id(passphrase, salt, params); the ciphertext is ChaCha20-Poly1305 of the
//! JSON contents with the 44-byte header as associated data, so changing the parameters or the
//! salt in the file is detected like any other tampering. Nothing secret is ever written
//! unencrypted; the file is replaced atomically and is `0600` on Unix.

use std::path::Path;

use argon2::{Algorithm, Argon2, Params, Version};
use base64::Engine;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{ChaCha20Poly1305, Key, Nonce};
use rand_core::{OsRng, RngCore};
use renkei_ids::{KjUserId, OfficeNumber, PersonalUserId};
use renkei_pki::DeviceKeys;
use serde::{Deserialize, Serialize};
use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

use crate::atomic::write_atomic;
use crate::ClientError;

const MAGIC: &[u8; 4] = b"RKS1";
const HEADER_LEN: usize = 4 + 12 + 16 + 12;
/// Shortest passphrase accepted when a keystore is created.
pub const MIN_PASSPHRASE_CHARS: usize = 8;

/// Argon2id cost parameters (OWASP's recommendation: 19 MiB, 2 passes, 1 lane).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KdfParams {
    /// Memory in KiB.
    pub m_cost: u32,
    /// Passes.
    pub t_cost: u32,
    /// Lanes.
    pub p_cost: u32,
}

impl Default for KdfParams {
    fn default() -> Self {
        Self {
            m_cost: 19 * 1024,
            t_cost: 2,
            p_cost: 1,
        }
    }
}

/// The login credentials of the two-stage login, remembered so that daily use is one unlock.
#[derive(Clone, Serialize, Deserialize, Zeroize, ZeroizeOnDrop)]
pub struct Credentials {
    /// 個人ユーザID (c…).
    #[zeroize(skip)]
    pub user_id: PersonalUserId,
    /// Its password.
    pub user_password: String,
    /// 介護電子請求用ユーザID (KJ…).
    #[zeroize(skip)]
    pub kj_id: KjUserId,
    /// Its password.
    pub kj_password: String,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("user_id", &self.user_id)
            .field("kj_id", &self.kj_id)
            .finish_non_exhaustive()
    }
}

#[derive(Serialize, Deserialize)]
struct Contents {
    v: u32,
    /// `DeviceKeys::export`, base64.
    device_keys: String,
    office: Option<OfficeNumber>,
    certificate_pem: Option<String>,
    /// Earlier certificates of the same device keys (renewals), oldest first: messages sealed
    /// for them while the renewal was under way must still open.
    #[serde(default)]
    previous_certificates: Vec<String>,
    credentials: Option<Credentials>,
}

impl Drop for Contents {
    fn drop(&mut self) {
        self.device_keys.zeroize();
    }
}

/// An unlocked keystore. Dropping it wipes the derived key and the secrets in memory.
pub struct Keystore {
    keys: DeviceKeys,
    office: Option<OfficeNumber>,
    certificate_pem: Option<String>,
    previous_certificates: Vec<String>,
    credentials: Option<Credentials>,
    params: KdfParams,
    salt: [u8; 16],
    key: Zeroizing<[u8; 32]>,
}

impl std::fmt::Debug for Keystore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Keystore")
            .field("keys", &self.keys)
            .field("office", &self.office)
            .field("enrolled", &self.certificate_pem.is_some())
            .field("credentials", &self.credentials)
            .finish_non_exhaustive()
    }
}

fn derive(
    passphrase: &str,
    salt: &[u8; 16],
    p: KdfParams,
) -> Result<Zeroizing<[u8; 32]>, ClientError> {
    let params = Params::new(p.m_cost, p.t_cost, p.p_cost, Some(32))
        .map_err(|e| ClientError::KeystoreCorrupt(format!("argon2 parameters: {e}")))?;
    let mut key = Zeroizing::new([0u8; 32]);
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
        .hash_password_into(passphrase.as_bytes(), salt, &mut key[..])
        .map_err(|e| ClientError::KeystoreCorrupt(format!("argon2: {e}")))?;
    Ok(key)
}

impl Keystore {
    /// A new keystore for freshly generated device keys, locked with `passphrase`.
    pub fn new(keys: DeviceKeys, passphrase: &str, params: KdfParams) -> Result<Self, ClientError> {
        if passphrase.chars().count() < MIN_PASSPHRASE_CHARS {
            return Err(ClientError::bad_input(
                format!("パスフレーズは{MIN_PASSPHRASE_CHARS}文字以上にしてください"),
                format!("the passphrase must have at least {MIN_PASSPHRASE_CHARS} characters"),
            ));
        }
        let mut salt = [0u8; 16];
        OsRng.fill_bytes(&mut salt);
        let key = derive(passphrase, &salt, params)?;
        Ok(Self {
            keys,
            office: None,
            certificate_pem: None,
            previous_certificates: Vec::new(),
            credentials: None,
            params,
            salt,
            key,
        })
    }

    /// Open the keystore at `path`. A wrong passphrase is [`ClientError::WrongPassphrase`]; a
    /// damaged file is [`ClientError::KeystoreCorrupt`] (the two cannot always be told apart:
    /// an authenticated cipher only says "does not open", so damage inside the ciphertext reads
    /// as a wrong passphrase).
    pub fn open(path: &Path, passphrase: &str) -> Result<Self, ClientError> {
        let bytes = std::fs::read(path).map_err(|e| ClientError::io(path, e))?;
        Self::decrypt(&bytes, passphrase)
    }

    fn decrypt(bytes: &[u8], passphrase: &str) -> Result<Self, ClientError> {
        if bytes.len() < HEADER_LEN + 16 || &bytes[..4] != MAGIC {
            return Err(ClientError::KeystoreCorrupt("not an RKS1 keystore".into()));
        }
        let u32_at =
            |i: usize| u32::from_be_bytes([bytes[i], bytes[i + 1], bytes[i + 2], bytes[i + 3]]);
        let params = KdfParams {
            m_cost: u32_at(4),
            t_cost: u32_at(8),
            p_cost: u32_at(12),
        };
        // Refuse absurd costs rather than allocating gigabytes for a damaged header.
        if params.m_cost > 4 * 1024 * 1024 || params.t_cost > 64 || params.p_cost > 16 {
            return Err(ClientError::KeystoreCorrupt(
                "argon2 parameters out of range".into(),
            ));
        }
        let mut salt = [0u8; 16];
        salt.copy_from_slice(&bytes[16..32]);
        let nonce = Nonce::from_slice(&bytes[32..44]);
        let key = derive(passphrase, &salt, params)?;
        let cipher = ChaCha20Poly1305::new(Key::from_slice(&key[..]));
        let plain = Zeroizing::new(
            cipher
                .decrypt(
                    nonce,
                    Payload {
                        msg: &bytes[HEADER_LEN..],
                        aad: &bytes[..HEADER_LEN],
                    },
                )
                .map_err(|_| ClientError::WrongPassphrase)?,
        );
        let contents: Contents = serde_json::from_slice(&plain)
            .map_err(|e| ClientError::KeystoreCorrupt(format!("contents: {e}")))?;
        if contents.v != 1 {
            return Err(ClientError::KeystoreCorrupt(format!(
                "version {}",
                contents.v
            )));
        }
        let raw = Zeroizing::new(
            base64::engine::general_purpose::STANDARD
                .decode(&contents.device_keys)
                .map_err(|e| ClientError::KeystoreCorrupt(format!("device keys: {e}")))?,
        );
        let keys = DeviceKeys::import(&raw)?;
        Ok(Self {
            keys,
            office: contents.office.clone(),
            certificate_pem: contents.certificate_pem.clone(),
            previous_certificates: contents.previous_certificates.clone(),
            credentials: contents.credentials.clone(),
            params,
            salt,
            key,
        })
    }

    /// Encrypt and write the keystore to `path` (atomically, fresh nonce).
    pub fn save(&self, path: &Path) -> Result<(), ClientError> {
        write_atomic(path, &self.encrypt()?)
    }

    fn encrypt(&self) -> Result<Vec<u8>, ClientError> {
        let contents = Contents {
            v: 1,
            device_keys: base64::engine::general_purpose::STANDARD.encode(&self.keys.export()[..]),
            office: self.office.clone(),
            certificate_pem: self.certificate_pem.clone(),
            previous_certificates: self.previous_certificates.clone(),
            credentials: self.credentials.clone(),
        };
        let plain = Zeroizing::new(
            serde_json::to_vec(&contents)
                .map_err(|e| ClientError::KeystoreCorrupt(e.to_string()))?,
        );
        let mut out = Vec::with_capacity(HEADER_LEN + plain.len() + 16);
        out.extend_from_slice(MAGIC);
        for v in [self.params.m_cost, self.params.t_cost, self.params.p_cost] {
            out.extend_from_slice(&v.to_be_bytes());
        }
        out.extend_from_slice(&self.salt);
        let mut nonce = [0u8; 12];
        OsRng.fill_bytes(&mut nonce);
        out.extend_from_slice(&nonce);
        let cipher = ChaCha20Poly1305::new(Key::from_slice(&self.key[..]));
        let ct = cipher
            .encrypt(
                Nonce::from_slice(&nonce),
                Payload {
                    msg: &plain,
                    aad: &out[..HEADER_LEN],
                },
            )
            .map_err(|_| ClientError::KeystoreCorrupt("encryption failed".into()))?;
        out.extend_from_slice(&ct);
        Ok(out)
    }

    /// Re-lock with a new passphrase (new salt); call [`save`](Self::save) afterwards.
    pub fn change_passphrase(&mut self, new_passphrase: &str) -> Result<(), ClientError> {
        let fresh = Keystore::new(
            DeviceKeys::import(&self.keys.export())?,
            new_passphrase,
            self.params,
        )?;
        self.salt = fresh.salt;
        self.key = fresh.key.clone();
        Ok(())
    }

    /// The device's keys.
    pub fn device_keys(&self) -> &DeviceKeys {
        &self.keys
    }

    /// Replace the device keys (a new enrollment after 端末変更); forgets the old certificate.
    pub fn replace_keys(&mut self, keys: DeviceKeys) {
        self.keys = keys;
        self.certificate_pem = None;
        self.previous_certificates.clear();
        self.office = None;
    }

    /// The office this device is enrolled for.
    pub fn office(&self) -> Option<&OfficeNumber> {
        self.office.as_ref()
    }

    /// The office certificate (PEM), once enrolled.
    pub fn certificate_pem(&self) -> Option<&str> {
        self.certificate_pem.as_deref()
    }

    /// Store the issued certificate. A different certificate held before for the same keys
    /// and office (a renewal) is kept as a previous one.
    pub fn set_certificate(&mut self, office: OfficeNumber, pem: String) {
        if self.office.as_ref() != Some(&office) {
            self.previous_certificates.clear();
        } else if let Some(old) = self.certificate_pem.take() {
            if old != pem && !self.previous_certificates.contains(&old) {
                self.previous_certificates.push(old);
            }
        }
        self.office = Some(office);
        self.certificate_pem = Some(pem);
    }

    /// Earlier certificates of these device keys (renewals), oldest first.
    pub fn previous_certificates(&self) -> &[String] {
        &self.previous_certificates
    }

    /// Remembered credentials, if any.
    pub fn credentials(&self) -> Option<&Credentials> {
        self.credentials.as_ref()
    }

    /// Remember (or forget, with `None`) the login credentials.
    pub fn set_credentials(&mut self, credentials: Option<Credentials>) {
        self.credentials = credentials;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fast() -> KdfParams {
        KdfParams {
            m_cost: 256,
            t_cost: 1,
            p_cost: 1,
        }
    }

    fn creds() -> Credentials {
        Credentials {
            user_id: "c0000000001".parse().unwrap(),
            user_password: "user-secret-pw".into(),
            kj_id: "KJ000000000001".parse().unwrap(),
            kj_password: "kj-secret-pw".into(),
        }
    }

    #[test]
    fn round_trip_and_wrong_passphrase() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("keystore.rks");
        let keys = DeviceKeys::generate().unwrap();
        let public = keys.signing_public_key();
        let mut ks = Keystore::new(keys, "correct horse", fast()).unwrap();
        ks.set_certificate("1310100010".parse().unwrap(), "PEM".into());
        ks.set_credentials(Some(creds()));
        ks.save(&path).unwrap();

        let raw = std::fs::read(&path).unwrap();
        for secret in ["user-secret-pw", "kj-secret-pw", "c0000000001", "PEM"] {
            assert!(
                !raw.windows(secret.len()).any(|w| w == secret.as_bytes()),
                "{secret} in clear"
            );
        }

        let back = Keystore::open(&path, "correct horse").unwrap();
        assert_eq!(back.device_keys().signing_public_key(), public);
        assert_eq!(back.certificate_pem(), Some("PEM"));
        assert!(back.previous_certificates().is_empty());
        assert_eq!(back.credentials().unwrap().kj_password, "kj-secret-pw");
        assert!(!format!("{back:?}").contains("secret-pw"));

        assert!(matches!(
            Keystore::open(&path, "wrong horse"),
            Err(ClientError::WrongPassphrase)
        ));
    }

    #[test]
    fn tampering_and_garbage_are_errors_not_panics() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("k");
        Keystore::new(DeviceKeys::generate().unwrap(), "passphrase!", fast())
            .unwrap()
            .save(&path)
            .unwrap();
        let raw = std::fs::read(&path).unwrap();
        // Any flipped byte (header included: it is the AEAD's associated data) fails.
        for i in [0usize, 5, 13, 20, 40, 50, raw.len() - 1] {
            let mut bad = raw.clone();
            bad[i] ^= 1;
            assert!(Keystore::decrypt(&bad, "passphrase!").is_err(), "byte {i}");
        }
        for n in 0..HEADER_LEN + 20 {
            assert!(Keystore::decrypt(&raw[..n], "passphrase!").is_err());
        }
    }

    #[test]
    fn short_passphrase_refused_and_change_works() {
        assert!(matches!(
            Keystore::new(DeviceKeys::generate().unwrap(), "short", fast()),
            Err(ClientError::BadInput { .. })
        ));
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("k");
        let mut ks =
            Keystore::new(DeviceKeys::generate().unwrap(), "old passphrase", fast()).unwrap();
        ks.change_passphrase("new passphrase").unwrap();
        ks.save(&path).unwrap();
        assert!(Keystore::open(&path, "old passphrase").is_err());
        assert!(Keystore::open(&path, "new passphrase").is_ok());
    }

    #[test]
    fn renewal_keeps_previous_certificates_until_the_keys_change() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("keystore.rks");
        let office: OfficeNumber = "1310100010".parse().unwrap();
        let mut ks =
            Keystore::new(DeviceKeys::generate().unwrap(), "correct horse", fast()).unwrap();
        ks.set_certificate(office.clone(), "OLD".into());
        ks.set_certificate(office.clone(), "NEW".into());
        ks.set_certificate(office.clone(), "NEW".into());
        ks.save(&path).unwrap();
        let mut back = Keystore::open(&path, "correct horse").unwrap();
        assert_eq!(back.certificate_pem(), Some("NEW"));
        assert_eq!(back.previous_certificates(), ["OLD".to_owned()]);
        back.replace_keys(DeviceKeys::generate().unwrap());
        assert!(back.previous_certificates().is_empty());
    }
}
