//! RFC 9457 problem details with one catalogue of stable codes and their Japanese and English
//! text. Every error the relay returns is a [`Problem`] built from an [`ErrorCode`]; clients
//! branch on `code`, show `message_ja` and log `message_en`.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// Media type of problem documents.
pub const PROBLEM_CONTENT_TYPE: &str = "application/problem+json";

macro_rules! catalogue {
    ($( $(#[$m:meta])* $variant:ident = ($code:literal, $status:literal, $ja:literal, $en:literal), )*) => {
        /// Every error the API can return. The string code is stable: clients may match on it.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
        #[serde(rename_all = "snake_case")]
        pub enum ErrorCode {
            $( $(#[$m])* $variant, )*
        }

        impl ErrorCode {
            /// Every code (for tests and documentation).
            pub const ALL: &'static [ErrorCode] = &[$(ErrorCode::$variant,)*];

            /// The stable string code.
            pub fn code(self) -> &'static str {
                match self { $(ErrorCode::$variant => $code,)* }
            }
            /// HTTP status.
            pub fn status(self) -> u16 {
                match self { $(ErrorCode::$variant => $status,)* }
            }
            /// Japanese message for users.
            pub fn ja(self) -> &'static str {
                match self { $(ErrorCode::$variant => $ja,)* }
            }
            /// English message.
            pub fn en(self) -> &'static str {
                match self { $(ErrorCode::$variant => $en,)* }
            }
            /// Parse a stable code.
            pub fn from_code(code: &str) -> Option<Self> {
                Self::ALL.iter().copied().find(|c| c.code() == code)
            }
        }
    };
}

catalogue! {
    /// The request is malformed (bad JSON, a missing or invalid parameter).
    BadRequest = ("bad_request", 400, "リクエストの形式が正しくありません。", "The request is malformed."),
    /// An identifier (office number, user ID …) is invalid.
    InvalidIdentifier = ("invalid_identifier", 400, "番号またはIDの形式が正しくありません。", "An identifier is not valid."),
    /// No client certificate was presented.
    ClientCertRequired = ("client_cert_required", 401, "端末の証明書が提示されていません。クライアントを再起動してください。", "A client certificate is required."),
    /// The client certificate is not known to the relay.
    CertificateUnknown = ("certificate_unknown", 401, "この端末の証明書は登録されていません。ポータルで証明書を発行してください。", "The client certificate is not registered."),
    /// The client certificate has been revoked.
    CertificateRevoked = ("certificate_revoked", 401, "この端末の証明書は失効しています。ポータルで再発行してください。", "The client certificate has been revoked."),
    /// The client certificate is outside its validity period.
    CertificateExpired = ("certificate_expired", 401, "この端末の証明書は有効期限切れです。ポータルで更新してください。", "The client certificate has expired."),
    /// No session token, or an unknown one.
    Unauthenticated = ("unauthenticated", 401, "ログインしてください。", "Authentication is required."),
    /// The session has expired.
    SessionExpired = ("session_expired", 401, "ログインの有効期限が切れました。もう一度ログインしてください。", "The session has expired; log in again."),
    /// A token was presented from another certificate than the one it was issued to.
    TokenCertMismatch = ("token_cert_mismatch", 401, "このログインは別の端末のものです。もう一度ログインしてください。", "The token belongs to another device certificate."),
    /// Wrong ID or password.
    LoginFailed = ("login_failed", 401, "IDまたはパスワードが正しくありません。", "The ID or password is wrong."),
    /// Too many failed logins.
    AccountLocked = ("account_locked", 403, "ログインに続けて失敗したため、一時的にロックされています。しばらくしてからお試しください。", "The account is locked after repeated failures; try again later."),
    /// The personal user is disabled.
    UserDisabled = ("user_disabled", 403, "この個人ユーザIDは利用停止されています。", "This personal user is disabled."),
    /// User, KJ account and certificate do not belong to the same office.
    OfficeMismatch = ("office_mismatch", 403, "個人ユーザID・介護電子請求用ユーザID・端末の証明書が同じ事業所のものではありません。", "User, KJ account and certificate belong to different offices."),
    /// Not allowed.
    Forbidden = ("forbidden", 403, "この操作は許可されていません。", "This operation is not allowed."),
    /// No such message (or not one of this office's).
    MessageNotFound = ("message_not_found", 404, "該当するファイルが見つかりません。", "No such message."),
    /// No such office.
    OfficeNotFound = ("office_not_found", 404, "該当する事業所が見つかりません。", "No such office."),
    /// No such certificate.
    CertificateNotFound = ("certificate_not_found", 404, "該当する証明書が見つかりません。", "No such certificate."),
    /// No such endpoint.
    NotFound = ("not_found", 404, "該当するページがありません。", "Not found."),
    /// The envelope is larger than the relay accepts.
    PayloadTooLarge = ("payload_too_large", 413, "ファイルが大きすぎます。送信できる大きさの上限を超えています。", "The file exceeds the size limit."),
    /// A send without the length header.
    LengthRequired = ("length_required", 411, "送信データの長さが指定されていません。", "The envelope length header is required."),
    /// The body is not as long as announced (also: the client disconnected mid-upload).
    LengthMismatch = ("length_mismatch", 400, "送信データが途中で途切れたか、長さが一致しません。もう一度送信してください。", "The body length does not match the announced length."),
    /// The body's SHA-256 does not match the announced digest.
    DigestMismatch = ("digest_mismatch", 422, "送信データのハッシュ値が一致しません。もう一度送信してください。", "The body's SHA-256 digest does not match."),
    /// A send without an idempotency key.
    IdempotencyKeyRequired = ("idempotency_key_required", 400, "再送防止キー（Idempotency-Key）が指定されていません。", "An Idempotency-Key header is required."),
    /// The idempotency key was used before for a different envelope.
    IdempotencyConflict = ("idempotency_conflict", 409, "同じ再送防止キーで別の内容が送信されています。", "The idempotency key was already used for different content."),
    /// The envelope cannot be parsed.
    EnvelopeInvalid = ("envelope_invalid", 422, "送信データの形式（封筒）が正しくありません。", "The envelope is malformed."),
    /// The envelope's sender is not the session's office.
    SenderMismatch = ("sender_mismatch", 403, "送信元の事業所番号がログイン中の事業所と一致しません。", "The envelope's sender is not the logged-in office."),
    /// The sender's signature does not verify.
    SignatureInvalid = ("signature_invalid", 422, "送信元の電子署名を検証できません。", "The sender's signature does not verify."),
    /// The sender certificate named in the envelope is unknown, revoked or expired.
    SenderCertificateInvalid = ("sender_certificate_invalid", 422, "送信元の証明書が無効です（失効・期限切れ・不一致）。", "The sender certificate is unknown, revoked or expired."),
    /// The recipient office does not exist.
    RecipientUnknown = ("recipient_unknown", 422, "送信先の事業所番号は登録されていません。", "The recipient office is not registered."),
    /// The recipient office exists but cannot receive.
    RecipientNotEnrolled = ("recipient_not_enrolled", 422, "送信先の事業所はケアプランデータ連携システムの利用を開始していません。", "The recipient office is not enrolled."),
    /// The envelope is sealed to a certificate the recipient no longer holds.
    RecipientCertificateInvalid = ("recipient_certificate_invalid", 422, "送信先の証明書が無効です。送信先の最新の証明書で暗号化し直してください。", "The recipient certificate is not valid; seal to the current one."),
    /// The transition is not allowed in the message's state.
    InvalidTransition = ("invalid_transition", 409, "このファイルの状態ではこの操作はできません。", "The message's state does not allow this."),
    /// The message expired.
    MessageExpired = ("message_expired", 410, "このファイルは保存期間を過ぎたため取得できません。", "The message has expired."),
    /// The disk or bucket is full.
    StorageFull = ("storage_full", 507, "サーバーの保存領域が不足しています。管理者に連絡してください。", "The server has run out of storage."),
    /// The database or object store is unavailable.
    StorageUnavailable = ("storage_unavailable", 503, "サーバーが一時的に利用できません。しばらくしてから再度お試しください。", "Storage is temporarily unavailable; retry later."),
    /// Anything else.
    Internal = ("internal", 500, "サーバー内部でエラーが発生しました。", "Internal server error."),
}

/// An RFC 9457 problem document (`application/problem+json`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Problem {
    /// `urn:renkei:problem:<code>`.
    #[serde(rename = "type")]
    pub type_uri: String,
    /// Short English summary (the catalogue's English message).
    pub title: String,
    /// HTTP status.
    pub status: u16,
    /// Detail of this occurrence, if any (never internals).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    /// Stable code.
    pub code: String,
    /// Japanese message for users.
    pub message_ja: String,
    /// English message.
    pub message_en: String,
}

impl Problem {
    /// The problem for `code`, with the catalogue's text.
    pub fn new(code: ErrorCode) -> Self {
        Self {
            type_uri: format!("urn:renkei:problem:{}", code.code()),
            title: code.en().to_owned(),
            status: code.status(),
            detail: None,
            code: code.code().to_owned(),
            message_ja: code.ja().to_owned(),
            message_en: code.en().to_owned(),
        }
    }

    /// Add a detail of this occurrence.
    pub fn with_detail(mut self, detail: impl Into<String>) -> Self {
        self.detail = Some(detail.into());
        self
    }

    /// The catalogue entry, if the code is known.
    pub fn error_code(&self) -> Option<ErrorCode> {
        ErrorCode::from_code(&self.code)
    }
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} / {} ({})",
            self.message_ja, self.message_en, self.code
        )?;
        if let Some(d) = &self.detail {
            write!(f, ": {d}")?;
        }
        Ok(())
    }
}

impl std::error::Error for Problem {}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn catalogue_is_complete_and_unique() {
        let mut seen = HashSet::new();
        for c in ErrorCode::ALL {
            assert!(seen.insert(c.code()), "duplicate code {}", c.code());
            assert!((400..600).contains(&c.status()));
            assert!(!c.ja().is_empty() && !c.en().is_empty());
            assert!(!c.ja().is_ascii(), "{} lacks Japanese", c.code());
            assert_eq!(ErrorCode::from_code(c.code()), Some(*c));
            // serde name == stable code
            assert_eq!(
                serde_json::to_value(c).unwrap(),
                serde_json::json!(c.code())
            );
        }
    }

    #[test]
    fn problem_round_trip() {
        let p = Problem::new(ErrorCode::SessionExpired).with_detail("x");
        let v = serde_json::to_value(&p).unwrap();
        assert_eq!(v["type"], "urn:renkei:problem:session_expired");
        assert_eq!(v["status"], 401);
        let back: Problem = serde_json::from_value(v).unwrap();
        assert_eq!(back, p);
        assert_eq!(back.error_code(), Some(ErrorCode::SessionExpired));
    }
}
