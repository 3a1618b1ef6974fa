//! The portal's errors: every refusal has a Japanese message first and an English one beside it.

use renkei_store::StoreError;

/// Why a portal operation was refused or failed.
#[derive(Debug, thiserror::Error)]
pub enum PortalError {
    /// A form field is invalid (field name, Japanese, English).
    #[error("{ja} / {en}")]
    Invalid {
        /// Stable field name (the form's `name`).
        field: &'static str,
        /// Japanese explanation.
        ja: String,
        /// English explanation.
        en: String,
    },
    /// ID or password wrong (deliberately not saying which).
    #[error("IDまたはパスワードが正しくありません / wrong ID or password")]
    BadCredentials,
    /// Too many failed attempts.
    #[error("ログインに続けて失敗したため、{minutes}分間ロックされています / locked for {minutes} minutes after repeated failures")]
    Locked {
        /// Minutes left (rounded up).
        minutes: i64,
    },
    /// The temporary password must be changed first.
    #[error("仮パスワードを変更してから操作してください / change the temporary password first")]
    MustChangePassword,
    /// The new password breaks a rule.
    #[error("{ja} / {en}")]
    PasswordRule {
        /// Japanese.
        ja: String,
        /// English.
        en: String,
    },
    /// The 証明書発行用パスワード is wrong.
    #[error("証明書発行用パスワードが正しくありません / wrong certificate issuance password")]
    BadIssuancePassword,
    /// Certificate issuance is locked after repeated wrong 証明書発行用パスワード (the KJ login is
    /// not affected: the two have separate counters).
    #[error("証明書発行用パスワードの誤りが続いたため、この事業所の証明書発行を{minutes}分間停止しています。時間をおいてから再度お試しください。パスワードが分からない場合は国保連に再発行を依頼してください / certificate issuance is locked for {minutes} minutes after repeated wrong issuance passwords")]
    IssuanceLocked {
        /// Minutes left (rounded up).
        minutes: i64,
    },
    /// The office already has as many devices as the policy allows.
    #[error("この事業所番号では既に別の端末（{label}）が登録されています。ポータルの「端末変更」で前の端末を解除してから、もう一度登録してください / another device ({label}) is already registered for this office; release it with 端末変更 on the portal first")]
    DeviceLimit {
        /// Label of the bound device.
        label: String,
    },
    /// A usage application needs a valid certificate.
    #[error("有効な電子証明書がないため利用申請できません。先に証明書を発行してください（失効・期限切れの証明書は使えません）/ a valid certificate is required before applying")]
    NoValidCertificate,
    /// The office has applied already.
    #[error("この事業所の利用申請は完了しています / this office has already applied")]
    AlreadyApplied,
    /// Something the operation needs does not exist.
    #[error("{ja} / {en}")]
    NotFound {
        /// Japanese.
        ja: String,
        /// English.
        en: String,
    },
    /// Organisation name and office number do not match the registry.
    #[error("事業所名と介護保険事業所番号の組み合わせが登録内容と一致しません / organisation name and office number do not match the registry")]
    RegistryMismatch,
    /// The certificate request was refused by the CA.
    #[error("証明書を発行できません：{0}")]
    Certificate(#[from] renkei_pki::PkiError),
    /// Storage failed.
    #[error("データベースの処理に失敗しました / storage error: {0}")]
    Store(#[from] StoreError),
    /// An internal failure (random source, time out of range …).
    #[error("内部エラーが発生しました / internal error: {0}")]
    Internal(String),
}

impl PortalError {
    /// A field error.
    pub fn invalid(field: &'static str, ja: impl Into<String>, en: impl Into<String>) -> Self {
        Self::Invalid {
            field,
            ja: ja.into(),
            en: en.into(),
        }
    }
    /// A not-found error.
    pub fn not_found(ja: impl Into<String>, en: impl Into<String>) -> Self {
        Self::NotFound {
            ja: ja.into(),
            en: en.into(),
        }
    }
    /// A stable machine code (JSON endpoints, audit details).
    pub fn code(&self) -> &'static str {
        match self {
            Self::Invalid { .. } => "invalid_input",
            Self::BadCredentials => "bad_credentials",
            Self::Locked { .. } => "locked",
            Self::MustChangePassword => "must_change_password",
            Self::PasswordRule { .. } => "password_rule",
            Self::BadIssuancePassword => "bad_issuance_password",
            Self::IssuanceLocked { .. } => "issuance_locked",
            Self::DeviceLimit { .. } => "device_limit",
            Self::NoValidCertificate => "no_valid_certificate",
            Self::AlreadyApplied => "already_applied",
            Self::NotFound { .. } => "not_found",
            Self::RegistryMismatch => "registry_mismatch",
            Self::Certificate(_) => "certificate_refused",
            Self::Store(_) => "storage",
            Self::Internal(_) => "internal",
        }
    }
    /// The HTTP status that fits.
    pub fn status(&self) -> http::StatusCode {
        use http::StatusCode as S;
        match self {
            Self::Invalid { .. } | Self::PasswordRule { .. } | Self::Certificate(_) => {
                S::BAD_REQUEST
            }
            Self::BadCredentials | Self::BadIssuancePassword => S::UNAUTHORIZED,
            Self::Locked { .. } | Self::IssuanceLocked { .. } => S::TOO_MANY_REQUESTS,
            Self::MustChangePassword | Self::NoValidCertificate | Self::RegistryMismatch => {
                S::FORBIDDEN
            }
            Self::DeviceLimit { .. } | Self::AlreadyApplied => S::CONFLICT,
            Self::NotFound { .. } => S::NOT_FOUND,
            Self::Store(StoreError::Unavailable(_)) => S::SERVICE_UNAVAILABLE,
            Self::Store(StoreError::Full(_)) => S::INSUFFICIENT_STORAGE,
            Self::Store(_) | Self::Internal(_) => S::INTERNAL_SERVER_ERROR,
        }
    }
    /// Message safe to show a user: internals (storage, internal errors) are not echoed.
    pub fn public_message(&self) -> String {
        match self {
            Self::Store(_) | Self::Internal(_) => {
                "処理できませんでした。しばらくしてからもう一度お試しください / temporarily unavailable, please retry".into()
            }
            other => other.to_string(),
        }
    }
}
