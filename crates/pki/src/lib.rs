//! The Renkei PKI: the CA, office key pairs, enrollment, certificate profiles, verification,
//! revocation lists and the rustls configurations built on them.
//!
//! How the pieces fit (see docs/ARCHITECTURE.md, "Keys and certificates"):
//!
//! - A device creates [`DeviceKeys`]: an Ed25519 signing key (the key of its office certificate,
//!   used for mutual TLS and envelope signatures) and an X25519 encryption key (HPKE).
//! - It sends an [`EnrollmentRequest`] (a PKCS#10 CSR, the X25519 public key and a proof that the
//!   signing key vouches for it). Private keys never leave the device.
//! - The portal's [`Ca`] checks the request and issues an office certificate whose `renkeiOffice`
//!   extension binds the office number, the certificate type ([`CertType`]) and the X25519 key.
//! - Anyone holding only the CA certificate parses an [`OfficeCert`] and
//!   [`verifies`](OfficeCert::verify) it (chain, validity, revocation via a [`Crl`] or the
//!   relay's database).
//! - [`tls::server_tls_config`] and [`tls::client_tls_config`] turn the same material into rustls
//!   configurations (ring provider; Ed25519 client certificates).
//!
//! Times are `i64` Unix milliseconds everywhere in this crate's API, like the storage layer.
//!
//! ```
//! use renkei_pki::{now_millis, Ca, CertType, DeviceKeys, OfficeCert};
//! use renkei_ids::OfficeNumber;
//!
//! let now = now_millis();
//! let ca = Ca::generate("Renkei Demo CA").unwrap();
//! let office: OfficeNumber = "1310100010".parse().unwrap();
//!
//! // On the device:
//! let keys = DeviceKeys::generate().unwrap();
//! let request = keys.enrollment_request(&office, "れんけい居宅介護支援事業所").unwrap();
//!
//! // In the portal:
//! let (not_before, not_after) = CertType::Careplan.default_validity(now);
//! let issued = ca
//!     .issue_office_cert(&request, &office, "れんけい居宅介護支援事業所", CertType::Careplan,
//!                        not_before, not_after)
//!     .unwrap();
//!
//! // Anywhere, with only the CA certificate:
//! let cert = OfficeCert::parse_pem(&issued.pem).unwrap();
//! cert.verify(ca.ca_cert_pem(), now, |_serial| false).unwrap();
//! assert_eq!(cert.office(), &office);
//! assert_eq!(cert.encryption_key(), &keys.encryption_public_key());
//! ```

mod ca;
mod cert;
mod crl;
mod keys;
pub mod tls;

#[cfg(feature = "testpki")]
pub mod testpki;

pub use ca::{Ca, IssuedCert, ServerCert};
pub use cert::{parse_ca_cert, OfficeCert, RelayCert};
pub use crl::{parse_crl, Crl, RevocationReason, RevokedEntry};
pub use keys::{
    ed25519_public_key, generate_ed25519_pkcs8, verify_ed25519, DeviceKeys, EnrollmentRequest,
    ENC_KEY_PROOF_CONTEXT,
};
pub use tls::ClientAuth;

use renkei_ids::OfficeNumber;
use serde::{Deserialize, Serialize};

/// OID arc of this implementation (`59999` is a placeholder private enterprise number; it only
/// has to stay stable).
pub const OID_RENKEI_OFFICE: &[u64] = &[1, 3, 6, 1, 4, 1, 59999, 1, 1];
/// OID of the `renkeiRelay` extension marking the relay's receipt-signing certificate.
pub const OID_RENKEI_RELAY: &[u64] = &[1, 3, 6, 1, 4, 1, 59999, 1, 2];

/// Milliseconds in one day.
pub const DAY_MS: i64 = 86_400_000;

/// Days before `not_after` at which clients and the portal warn about renewal.
pub const RENEWAL_WARNING_DAYS: [i64; 3] = [60, 30, 7];

/// Why a PKI operation failed. Callers match on the variant; the message is Japanese first,
/// English beside it.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PkiError {
    #[error("証明書・鍵を読み取れません（{0}）/ cannot parse certificate or key ({0})")]
    Parse(String),
    #[error("Renkei認証局が発行した証明書ではありません（署名が一致しません）/ not issued by the Renkei CA (signature does not verify)")]
    WrongCa,
    #[error("証明書の有効期限が切れています / certificate expired (not after {not_after} ms)")]
    Expired { not_after: i64 },
    #[error("証明書の有効期間がまだ始まっていません / certificate not yet valid (not before {not_before} ms)")]
    NotYetValid { not_before: i64 },
    #[error("証明書は失効しています（シリアル {serial_hex}）/ certificate revoked (serial {serial_hex})")]
    Revoked { serial_hex: String },
    #[error("事業所証明書ではありません / not a Renkei office certificate")]
    NotOfficeCert,
    #[error(
        "中継サーバの受領証署名用証明書ではありません / not a Renkei relay receipt certificate"
    )]
    NotRelayCert,
    #[error("証明書の事業所番号 {found} は {expected} と一致しません / certificate is for office {found}, expected {expected}")]
    OfficeMismatch {
        expected: OfficeNumber,
        found: OfficeNumber,
    },
    #[error("証明書署名要求（CSR）が不正です（{0}）/ invalid certificate signing request ({0})")]
    BadCsr(String),
    #[error("暗号化鍵の証明（proof）が署名鍵で検証できません / encryption-key proof does not verify with the signing key")]
    BadProof,
    #[error("対応していない鍵の種類です（{0}）/ unsupported key type ({0})")]
    UnsupportedKey(String),
    #[error("失効リスト（CRL）が不正です（{0}）/ invalid certificate revocation list ({0})")]
    BadCrl(String),
    #[error("証明書の生成に失敗しました（{0}）/ certificate generation failed ({0})")]
    Generate(String),
    #[error("TLS設定を作成できません（{0}）/ cannot build TLS configuration ({0})")]
    Tls(String),
    #[error("乱数生成に失敗しました / random number generator failed")]
    Rng,
    #[error(
        "ファイル {path} を読み書きできません（{source}）/ cannot read or write {path} ({source})"
    )]
    Io {
        path: String,
        source: std::io::Error,
    },
}

impl From<rcgen::Error> for PkiError {
    fn from(e: rcgen::Error) -> Self {
        PkiError::Generate(e.to_string())
    }
}

/// The two certificate types the care plan data linkage accepts.
///
/// Default validity (both 3 years, 1095 days): the paid 介護保険証明書 is sold for three years
/// (¥13,200); 国保連 pages state that 電子請求受付システム certificates are "valid for 3 years
/// from issue" (e.g. 山梨県国保連, ymnkokuho.or.jp). No public statement of the validity of the
/// free 請求委任事業所用ケアプラン証明書 was found; it uses the same 3 years until a deployment
/// configures otherwise (validity is an explicit argument of [`Ca::issue_office_cert`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CertType {
    /// 請求委任事業所用ケアプラン証明書 (free).
    Careplan = 1,
    /// 介護保険証明書 (paid).
    Kaigo = 2,
}

impl CertType {
    /// Stable lowercase name (`careplan`, `kaigo`), as in JSON and the database.
    pub fn as_str(self) -> &'static str {
        match self {
            CertType::Careplan => "careplan",
            CertType::Kaigo => "kaigo",
        }
    }

    /// Japanese name shown to users.
    pub fn name_ja(self) -> &'static str {
        match self {
            CertType::Careplan => "請求委任事業所用ケアプラン証明書",
            CertType::Kaigo => "介護保険証明書",
        }
    }

    /// Default validity in days (see the type's documentation for the source).
    pub fn default_validity_days(self) -> i64 {
        match self {
            CertType::Careplan => 3 * 365,
            CertType::Kaigo => 3 * 365,
        }
    }

    /// `(not_before, not_after)` in Unix milliseconds for a certificate issued at `now`.
    /// `not_before` is backdated five minutes to tolerate small clock differences.
    pub fn default_validity(self, now: i64) -> (i64, i64) {
        (
            now - 5 * 60 * 1000,
            now + self.default_validity_days() * DAY_MS,
        )
    }

    fn from_enum(v: i64) -> Option<Self> {
        match v {
            1 => Some(CertType::Careplan),
            2 => Some(CertType::Kaigo),
            _ => None,
        }
    }
}

impl std::str::FromStr for CertType {
    type Err = PkiError;
    fn from_str(s: &str) -> Result<Self, PkiError> {
        match s {
            "careplan" => Ok(CertType::Careplan),
            "kaigo" => Ok(CertType::Kaigo),
            other => Err(PkiError::Parse(format!(
                "unknown certificate type {other:?}"
            ))),
        }
    }
}

impl std::fmt::Display for CertType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The current time in Unix milliseconds.
pub fn now_millis() -> i64 {
    let now = time::OffsetDateTime::now_utc();
    (now.unix_timestamp_nanos() / 1_000_000) as i64
}

/// Unix milliseconds to an `OffsetDateTime` (UTC). Out-of-range values are an error.
pub fn millis_to_datetime(ms: i64) -> Result<time::OffsetDateTime, PkiError> {
    time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .map_err(|e| PkiError::Parse(format!("time out of range: {e}")))
}

/// Lowercase hex SHA-256.
pub(crate) fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(bytes))
}

/// Canonical serial number text: lowercase hex of the minimal big-endian unsigned value.
pub(crate) fn serial_hex_from_bytes(bytes: &[u8]) -> String {
    let first = bytes.iter().position(|b| *b != 0).unwrap_or(bytes.len());
    let s = hex::encode(&bytes[first..]);
    if s.is_empty() {
        "00".to_owned()
    } else {
        s
    }
}

/// Decode PEM of the given label into DER. Rejects other labels.
pub(crate) fn pem_to_der(pem: &str, want: &str) -> Result<Vec<u8>, PkiError> {
    let mut reader = std::io::BufReader::new(pem.as_bytes());
    for item in rustls_pemfile::read_all(&mut reader) {
        let item = item.map_err(|e| PkiError::Parse(format!("PEM: {e}")))?;
        use rustls_pemfile::Item;
        let der: Option<Vec<u8>> = match (&item, want) {
            (Item::X509Certificate(d), "CERTIFICATE") => Some(d.as_ref().to_vec()),
            (Item::Crl(d), "X509 CRL") => Some(d.as_ref().to_vec()),
            (Item::Csr(d), "CERTIFICATE REQUEST") => Some(d.as_ref().to_vec()),
            (Item::Pkcs8Key(d), "PRIVATE KEY") => Some(d.secret_pkcs8_der().to_vec()),
            _ => None,
        };
        if let Some(der) = der {
            return Ok(der);
        }
    }
    Err(PkiError::Parse(format!("no PEM block {want:?} found")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serial_hex_is_minimal() {
        assert_eq!(serial_hex_from_bytes(&[0, 0x8a, 1]), "8a01");
        assert_eq!(serial_hex_from_bytes(&[0]), "00");
    }

    #[test]
    fn cert_type_round_trip() {
        for t in [CertType::Careplan, CertType::Kaigo] {
            assert_eq!(t.as_str().parse::<CertType>().unwrap(), t);
            assert_eq!(CertType::from_enum(t as i64), Some(t));
        }
        assert!("other".parse::<CertType>().is_err());
        let (nb, na) = CertType::Kaigo.default_validity(0);
        assert!(nb < 0 && na == 1095 * DAY_MS);
    }
}
