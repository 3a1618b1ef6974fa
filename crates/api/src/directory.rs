//! The office directory (who can receive what) and certificate status.

use renkei_ids::OfficeNumber;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa::{IntoParams, ToSchema};

/// Directory search filters; all optional, combined with AND.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DirectoryQuery {
    /// Prefix of the 介護保険事業所番号.
    pub number: Option<String>,
    /// Part of the office name or kana.
    pub name: Option<String>,
    /// Prefecture code 1–47.
    pub prefecture: Option<u8>,
    /// サービス種類コード, e.g. `11`.
    pub kind: Option<String>,
    /// Only offices that can receive now.
    #[serde(default)]
    pub enrolled_only: Option<bool>,
    /// Page size 1–200 (default 50).
    pub limit: Option<u32>,
    /// Offset.
    pub offset: Option<u32>,
}

/// A certificate as the directory shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct CertificateInfo {
    /// Serial (hex).
    pub serial: String,
    /// `careplan` or `kaigo`.
    pub profile: String,
    /// PEM: seal envelopes to the X25519 key inside it, after verifying it chains to the CA.
    pub pem: String,
    /// Validity end.
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub not_after: OffsetDateTime,
}

/// One office in the directory.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct DirectoryEntry {
    /// 介護保険事業所番号.
    #[schema(value_type = String)]
    pub number: OfficeNumber,
    /// 事業所名.
    pub name: String,
    /// 事業所名カナ.
    pub name_kana: String,
    /// サービス種類コード.
    pub kind: String,
    /// Prefecture code.
    pub prefecture: u8,
    /// Holds a valid certificate and a completed 利用申請: can receive now.
    pub enrolled: bool,
    /// Accepted file kinds and CSV versions (`UPPLAN@202407`); empty = every kind the standard
    /// requires for its service kind.
    pub accepts: Vec<String>,
    /// The certificate to seal to (the newest valid one), if enrolled.
    pub certificate: Option<CertificateInfo>,
}

/// One page of the directory.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct DirectoryPage {
    /// Offices.
    pub items: Vec<DirectoryEntry>,
}

/// Status of one certificate (what a verifier needs besides the CA certificate).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct CertStatus {
    /// Serial (hex).
    pub serial: String,
    /// Office the certificate names, if an office certificate.
    #[schema(value_type = Option<String>)]
    pub office: Option<OfficeNumber>,
    /// `good`, `revoked` or `expired`.
    pub status: String,
    /// Validity end.
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub not_after: OffsetDateTime,
    /// Revocation time, if revoked.
    #[serde(with = "time::serde::rfc3339::option")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub revoked_at: Option<OffsetDateTime>,
    /// RFC 5280 reason name, if revoked.
    pub revocation_reason: Option<String>,
    /// The certificate itself (PEM), so that a recipient can check a message signed with a
    /// certificate the sender has since renewed. Absent in revocation lists.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pem: Option<String>,
}

/// Every revoked certificate serial (a JSON revocation list; the signed CRL is the portal's).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct RevocationList {
    /// Revoked certificates.
    pub revoked: Vec<CertStatus>,
}
