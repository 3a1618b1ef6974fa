//! Enrollment data: what the portal writes and the relay reads.
//!
//! Owned by the portal. The relay uses the read methods (offices for the directory, accounts for
//! the two-stage login, certificates and device bindings for mutual TLS).

use async_trait::async_trait;
use renkei_ids::{KjUserId, OfficeNumber, PersonalUserId, ServiceKindCode, YearMonth};
use serde::{Deserialize, Serialize};

use crate::{Millis, StoreResult};

/// A care office registered by the regional federation (国保連).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Office {
    /// 介護保険事業所番号.
    pub number: OfficeNumber,
    /// 事業所名.
    pub name: String,
    /// 事業所名カナ (may be empty).
    pub name_kana: String,
    /// Main service kind (43 = 居宅介護支援, 11 = 訪問介護, …).
    pub kind: ServiceKindCode,
    /// Prefecture code 1–47 (都道府県番号).
    pub prefecture: u8,
    /// 郵便番号 `NNN-NNNN` (may be empty).
    pub postal_code: String,
    /// 所在地.
    pub address: String,
    /// 電話番号 (may be empty).
    pub phone: String,
    /// File kinds and CSV versions the office's care software imports, e.g. `UPPLAN@202407`.
    /// Empty means "every kind the standard requires for its service kind".
    pub accepts: Vec<String>,
    /// When the federation registered it.
    pub registered_at: Millis,
}

/// The office's 介護電子請求用ユーザID account.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KjAccount {
    /// The KJ ID.
    pub kj_id: KjUserId,
    /// Office it belongs to (one KJ ID per office).
    pub office: OfficeNumber,
    /// Argon2 PHC hash of the password.
    pub password_hash: String,
    /// The password is the temporary one from the registration notice and must be changed.
    pub password_temporary: bool,
    /// Argon2 PHC hash of the 証明書発行用パスワード.
    pub issuance_password_hash: String,
    /// Consecutive failed logins (reset on success).
    pub failed_logins: u32,
    /// Locked out until this time, if set.
    pub locked_until: Option<Millis>,
    /// Created.
    pub created_at: Millis,
}

/// A personal user (c… ID) created by a completed 利用申請.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PersonalUser {
    /// The c… ID.
    pub user_id: PersonalUserId,
    /// Office it belongs to.
    pub office: OfficeNumber,
    /// Display name (contact person).
    pub display_name: String,
    /// Argon2 PHC hash of the password.
    pub password_hash: String,
    /// Consecutive failed logins.
    pub failed_logins: u32,
    /// Locked out until, if set.
    pub locked_until: Option<Millis>,
    /// Disabled by the office or an operator.
    pub disabled: bool,
    /// Created.
    pub created_at: Millis,
}

/// What a certificate is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CertProfile {
    /// 請求委任事業所用ケアプラン証明書 (free, care plan exchange only).
    Careplan,
    /// 介護保険証明書 (paid, electronic claims in general).
    Kaigo,
    /// The relay's receipt-signing certificate.
    Relay,
    /// A TLS server certificate.
    Server,
}

impl CertProfile {
    /// Stable string used in storage.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Careplan => "careplan",
            Self::Kaigo => "kaigo",
            Self::Relay => "relay",
            Self::Server => "server",
        }
    }
    /// Parse the storage string.
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "careplan" => Self::Careplan,
            "kaigo" => Self::Kaigo,
            "relay" => Self::Relay,
            "server" => Self::Server,
            _ => return None,
        })
    }
}

/// A certificate issued by the Renkei CA.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CertRecord {
    /// Serial number, lower-case hex.
    pub serial: String,
    /// Office the certificate names (None for relay/server certificates).
    pub office: Option<OfficeNumber>,
    /// Profile.
    pub profile: CertProfile,
    /// SHA-256 of the certificate's SubjectPublicKeyInfo, lower-case hex: the device identity.
    pub spki_sha256: String,
    /// The X25519 encryption public key carried in the certificate (32 bytes), if any.
    pub encryption_key: Option<Vec<u8>>,
    /// PEM of the certificate.
    pub pem: String,
    /// Validity start.
    pub not_before: Millis,
    /// Validity end.
    pub not_after: Millis,
    /// When issued.
    pub issued_at: Millis,
    /// When revoked, if revoked.
    pub revoked_at: Option<Millis>,
    /// Why (RFC 5280 reason name, e.g. `keyCompromise`, `superseded`, `cessationOfOperation`).
    pub revocation_reason: Option<String>,
}

/// The device bound to an office (one installation per office number by default).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviceBinding {
    /// Office.
    pub office: OfficeNumber,
    /// SHA-256 of the device's signing public key (SPKI), hex.
    pub spki_sha256: String,
    /// Certificate serial issued to this device.
    pub cert_serial: String,
    /// Host name / label the client reported.
    pub label: String,
    /// Bound at.
    pub bound_at: Millis,
    /// Released (端末変更) at; a released binding no longer counts.
    pub released_at: Option<Millis>,
}

/// Filters of the office directory.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct OfficeQuery {
    /// Prefix of the office number.
    pub number_prefix: Option<String>,
    /// Substring of the name or kana.
    pub name_contains: Option<String>,
    /// Prefecture code.
    pub prefecture: Option<u8>,
    /// Service kind.
    pub kind: Option<ServiceKindCode>,
    /// Only offices with a valid certificate and a completed 利用申請.
    pub enrolled_only: bool,
    /// Page size (1–200).
    pub limit: u32,
    /// Offset for paging.
    pub offset: u32,
}

/// One directory row.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OfficeListing {
    /// The office.
    pub office: Office,
    /// Holds an unrevoked, unexpired certificate and a completed usage application.
    pub enrolled: bool,
}

/// An operator of the regional federation (国保連) who uses the portal's operator pages.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Operator {
    /// Login name (ASCII, chosen at creation).
    pub login: String,
    /// Name shown on pages and in the audit trail.
    pub display_name: String,
    /// Argon2 PHC hash of the password.
    pub password_hash: String,
    /// Consecutive failed logins.
    pub failed_logins: u32,
    /// Locked out until, if set.
    pub locked_until: Option<Millis>,
    /// Disabled operators cannot log in.
    pub disabled: bool,
    /// Created.
    pub created_at: Millis,
}

/// A completed usage application (利用申請).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UsageApplication {
    /// Random identifier (UUID text), printed on the completion page.
    pub id: String,
    /// Office.
    pub office: OfficeNumber,
    /// KJ account that applied.
    pub kj_id: KjUserId,
    /// 担当者名.
    pub contact_name: String,
    /// 担当者メールアドレス.
    pub contact_email: String,
    /// 担当者電話番号.
    pub contact_phone: String,
    /// `deduction` (default) or `invoice` (renkei_ledger::BillingMethod).
    pub billing: String,
    /// The valid certificate the application was made with.
    pub cert_serial: String,
    /// The personal user created by the application.
    pub personal_user: PersonalUserId,
    /// 利用規約 accepted at.
    pub terms_accepted_at: Millis,
    /// 個人情報の取扱い accepted at.
    pub privacy_accepted_at: Millis,
    /// Fee message confirmed at.
    pub fee_confirmed_at: Millis,
    /// Completed at.
    pub completed_at: Millis,
}

/// One license term in the ledger (an application or an annual renewal).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LicenseEntry {
    /// Random identifier (UUID text).
    pub id: String,
    /// Office.
    pub office: OfficeNumber,
    /// The office's KJ ID (for the deduction run).
    pub kj_id: KjUserId,
    /// `application` or `renewal` (renkei_ledger::EventKind).
    pub kind: String,
    /// Day of the event, Asia/Tokyo.
    pub event_date: time::Date,
    /// First day of the term.
    pub period_start: time::Date,
    /// Last day of the term.
    pub period_end: time::Date,
    /// Claim month the fee is charged to.
    pub claim_month: YearMonth,
    /// Yen incl. tax.
    pub amount_yen: i64,
    /// `deduction` or `invoice`.
    pub billing: String,
    /// Reason shown in the charges export.
    pub reason: String,
    /// Campaign that set the fee.
    pub campaign: Option<String>,
    /// Renews automatically on the anniversary.
    pub auto_renew: bool,
    /// Written at.
    pub created_at: Millis,
}

/// A notice for an office (お知らせ): a re-issued 証明書発行用パスワード and the like.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Notice {
    /// Random identifier (UUID text).
    pub id: String,
    /// Office.
    pub office: OfficeNumber,
    /// Kind (`issuance_password`, …).
    pub kind: String,
    /// The body is sealed with a key derived from the office's KJ password.
    pub sealed: bool,
    /// Body (sealed bytes, or UTF-8 text when not sealed).
    pub body: Vec<u8>,
    /// Created.
    pub created_at: Millis,
    /// First opened at.
    pub read_at: Option<Millis>,
}

/// A portal (browser) session, kept server-side so that any node can serve any request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PortalSession {
    /// SHA-256 (hex) of the cookie token; the token itself is never stored.
    pub id_hash: String,
    /// `anonymous`, `operator` or `office`.
    pub role: String,
    /// Operator login or KJ ID (empty for anonymous sessions).
    pub subject: String,
    /// Created.
    pub created_at: Millis,
    /// Expires.
    pub expires_at: Millis,
}

/// Storage of the enrollment flow. Every method is one transaction.
#[async_trait]
pub trait EnrollmentStore: Send + Sync {
    /// Register an office with its KJ account (both or neither). Conflict if either exists.
    async fn register_office(&self, office: &Office, account: &KjAccount) -> StoreResult<()>;
    /// One office.
    async fn office(&self, number: &OfficeNumber) -> StoreResult<Option<Office>>;
    /// Directory search.
    async fn search_offices(&self, query: &OfficeQuery) -> StoreResult<Vec<OfficeListing>>;

    /// KJ account by ID.
    async fn kj_account(&self, kj_id: &KjUserId) -> StoreResult<Option<KjAccount>>;
    /// KJ account of an office.
    async fn kj_account_for_office(&self, office: &OfficeNumber) -> StoreResult<Option<KjAccount>>;
    /// Replace a KJ account's mutable fields (password, flags, counters, lock).
    async fn update_kj_account(&self, account: &KjAccount) -> StoreResult<()>;

    /// Personal user by ID.
    async fn personal_user(&self, user_id: &PersonalUserId) -> StoreResult<Option<PersonalUser>>;
    /// Personal users of an office.
    async fn personal_users_for_office(
        &self,
        office: &OfficeNumber,
    ) -> StoreResult<Vec<PersonalUser>>;
    /// Replace a personal user's mutable fields.
    async fn update_personal_user(&self, user: &PersonalUser) -> StoreResult<()>;

    /// Store a newly issued certificate.
    async fn insert_certificate(&self, cert: &CertRecord) -> StoreResult<()>;
    /// Certificate by serial.
    async fn certificate(&self, serial: &str) -> StoreResult<Option<CertRecord>>;
    /// Certificates of an office, newest first.
    async fn certificates_for_office(&self, office: &OfficeNumber) -> StoreResult<Vec<CertRecord>>;
    /// Mark revoked (idempotent: the first revocation time and reason stay).
    async fn revoke_certificate(&self, serial: &str, at: Millis, reason: &str) -> StoreResult<()>;
    /// Every revoked certificate (for the CRL).
    async fn revoked_certificates(&self) -> StoreResult<Vec<CertRecord>>;

    /// Active (unreleased) device bindings of an office.
    async fn active_devices(&self, office: &OfficeNumber) -> StoreResult<Vec<DeviceBinding>>;
    /// Bind a device unless `max_devices` active bindings exist already (Conflict then). The same
    /// device (same `spki_sha256`) binding again is not a new device: its binding takes the new
    /// certificate serial and label. NotFound if the office does not exist.
    async fn bind_device(&self, binding: &DeviceBinding, max_devices: u32) -> StoreResult<()>;
    /// Release every active binding of an office (端末変更); returns how many were released.
    async fn release_devices(&self, office: &OfficeNumber, at: Millis) -> StoreResult<u32>;
    /// Issue a certificate to a device: store the certificate and bind the device (see
    /// [`bind_device`](Self::bind_device)) in one transaction; nothing is stored when the binding
    /// is refused.
    async fn record_device_certificate(
        &self,
        cert: &CertRecord,
        binding: &DeviceBinding,
        max_devices: u32,
    ) -> StoreResult<()>;
    /// 端末変更: release every active binding of an office and revoke every unrevoked certificate of
    /// the released devices' keys (reason `superseded`), in one transaction. Returns the revoked
    /// serials, sorted.
    async fn change_device(&self, office: &OfficeNumber, at: Millis) -> StoreResult<Vec<String>>;

    /// Create an operator. Conflict if the login exists.
    async fn insert_operator(&self, operator: &Operator) -> StoreResult<()>;
    /// Operator by login.
    async fn operator(&self, login: &str) -> StoreResult<Option<Operator>>;
    /// Replace an operator's mutable fields.
    async fn update_operator(&self, operator: &Operator) -> StoreResult<()>;
    /// How many operators exist (bootstrap creates the first one).
    async fn count_operators(&self) -> StoreResult<u64>;

    /// Count one failed KJ login in a single atomic statement and return the new count and lock.
    ///
    /// The count goes up by one (so parallel failures are never lost); when it reaches
    /// `threshold` the account is locked until `now + lockout_ms`. A failure while a lock is in
    /// force is counted but does not extend the lock; the first failure after a lock expired
    /// starts a new count at 1. NotFound if the account does not exist.
    async fn record_kj_login_failure(
        &self,
        kj_id: &KjUserId,
        now: Millis,
        threshold: u32,
        lockout_ms: Millis,
    ) -> StoreResult<(u32, Option<Millis>)>;
    /// A successful KJ login: clear the failure count and the lock. NotFound if no such account.
    async fn reset_kj_login_failures(&self, kj_id: &KjUserId) -> StoreResult<()>;
    /// [`record_kj_login_failure`](Self::record_kj_login_failure) for a personal user.
    async fn record_personal_user_login_failure(
        &self,
        user_id: &PersonalUserId,
        now: Millis,
        threshold: u32,
        lockout_ms: Millis,
    ) -> StoreResult<(u32, Option<Millis>)>;
    /// Clear a personal user's failure count and lock. NotFound if no such user.
    async fn reset_personal_user_login_failures(&self, user_id: &PersonalUserId)
        -> StoreResult<()>;
    /// [`record_kj_login_failure`](Self::record_kj_login_failure) for an operator.
    async fn record_operator_login_failure(
        &self,
        login: &str,
        now: Millis,
        threshold: u32,
        lockout_ms: Millis,
    ) -> StoreResult<(u32, Option<Millis>)>;
    /// Clear an operator's failure count and lock. NotFound if no such operator.
    async fn reset_operator_login_failures(&self, login: &str) -> StoreResult<()>;
    /// Count one wrong 証明書発行用パスワード on the account's own issuance counter (separate from
    /// the login counter, so that issuance guesses never lock the office's login); same rules
    /// as [`record_kj_login_failure`](Self::record_kj_login_failure).
    async fn record_issuance_failure(
        &self,
        kj_id: &KjUserId,
        now: Millis,
        threshold: u32,
        lockout_ms: Millis,
    ) -> StoreResult<(u32, Option<Millis>)>;
    /// A successful issuance: clear the issuance failure count and lock. NotFound if no such
    /// account. (Re-issuing the 証明書発行用パスワード clears them too.)
    async fn reset_issuance_failures(&self, kj_id: &KjUserId) -> StoreResult<()>;

    /// Complete a 利用申請: the application, its personal user and its license term, all or
    /// nothing.
    async fn complete_usage_application(
        &self,
        application: &UsageApplication,
        user: &PersonalUser,
        license: &LicenseEntry,
    ) -> StoreResult<()>;
    /// Usage applications of an office, newest first.
    async fn usage_applications_for_office(
        &self,
        office: &OfficeNumber,
    ) -> StoreResult<Vec<UsageApplication>>;

    /// Add a license term (a renewal). Conflict if the office has a term starting that day.
    async fn insert_license(&self, entry: &LicenseEntry) -> StoreResult<()>;
    /// License terms of an office, oldest first.
    async fn licenses_for_office(&self, office: &OfficeNumber) -> StoreResult<Vec<LicenseEntry>>;
    /// The latest term (greatest `period_start`) of every office (the renewal job's input).
    async fn latest_licenses(&self) -> StoreResult<Vec<LicenseEntry>>;
    /// Every term charged to a claim month, by office number then start.
    async fn licenses_for_claim_month(&self, month: YearMonth) -> StoreResult<Vec<LicenseEntry>>;

    /// Replace the 証明書発行用パスワード hash (clearing the issuance failure count and lock) and
    /// deliver the sealed notice, in one transaction.
    async fn reissue_issuance_password(
        &self,
        kj_id: &KjUserId,
        new_hash: &str,
        notice: &Notice,
    ) -> StoreResult<()>;
    /// Store a notice.
    async fn insert_notice(&self, notice: &Notice) -> StoreResult<()>;
    /// Notices of an office, newest first.
    async fn notices_for_office(&self, office: &OfficeNumber) -> StoreResult<Vec<Notice>>;
    /// Mark a notice read (the first read time stays).
    async fn mark_notice_read(&self, id: &str, at: Millis) -> StoreResult<()>;

    /// Create a portal session.
    async fn insert_portal_session(&self, session: &PortalSession) -> StoreResult<()>;
    /// An unexpired portal session by token hash.
    async fn portal_session(
        &self,
        id_hash: &str,
        now: Millis,
    ) -> StoreResult<Option<PortalSession>>;
    /// Delete a portal session and its CSRF tokens; whether it existed.
    async fn delete_portal_session(&self, id_hash: &str) -> StoreResult<bool>;
    /// Delete expired sessions (and their tokens); how many.
    async fn purge_portal_sessions(&self, now: Millis) -> StoreResult<u64>;
    /// Record a single-use CSRF token (hash) for a session.
    async fn insert_csrf_token(
        &self,
        token_hash: &str,
        session: &str,
        at: Millis,
    ) -> StoreResult<()>;
    /// Use a CSRF token: true once if it was issued to `session` and not used before.
    async fn consume_csrf_token(
        &self,
        token_hash: &str,
        session: &str,
        at: Millis,
    ) -> StoreResult<bool>;
}
