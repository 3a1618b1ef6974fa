//! The client's one error type. Messages are Japanese first, English beside them, and name
//! what the user can do next.

use std::path::Path;

use renkei_api::Problem;

/// Everything that can go wrong in the client library.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ClientError {
    /// A file or folder could not be read or written.
    #[error(
        "ファイル {path} を読み書きできません（{source}）/ cannot read or write {path} ({source})"
    )]
    Io {
        /// The path.
        path: String,
        /// The cause.
        source: std::io::Error,
    },
    /// The passphrase does not open the keystore.
    #[error("パスフレーズが正しくありません / wrong passphrase")]
    WrongPassphrase,
    /// The keystore file is damaged or of an unknown format.
    #[error("鍵ファイルが壊れているか、形式が違います（{0}）/ keystore is damaged or of an unknown format ({0})")]
    KeystoreCorrupt(String),
    /// The home directory has not been set up.
    #[error("クライアントの初期設定がされていません（{0}）。`renkei client init` を実行してください / client home not initialised ({0}); run `renkei client init`")]
    NotInitialised(String),
    /// The home directory is set up already.
    #[error("クライアントは初期設定済みです（{0}）/ client home already initialised ({0})")]
    AlreadyInitialised(String),
    /// The device has no certificate yet.
    #[error("この端末はまだ証明書を発行していません。`renkei client enroll` を実行してください / this device is not enrolled yet; run `renkei client enroll`")]
    NotEnrolled,
    /// The device is enrolled already.
    #[error("この端末は証明書を発行済みです（事業所番号 {0}）/ this device is already enrolled (office {0})")]
    AlreadyEnrolled(String),
    /// The device's own certificate has expired: the relay refuses it (during the TLS
    /// handshake), so nothing is sent or received until it is renewed.
    #[error("この端末の証明書は有効期限（{not_after}）が切れています。ポータルで証明書を更新（再発行）してください。送受信はそれまでできません / this device's certificate expired on {not_after}; renew it in the portal")]
    OwnCertificateExpired {
        /// End of validity (date, Japan time).
        not_after: String,
    },
    /// The device's own certificate is not valid yet (usually a wrong clock on this PC).
    #[error("この端末の証明書の有効期間がまだ始まっていません（{not_before}から）。パソコンの日付と時刻を確認してください / this device's certificate is not valid before {not_before}; check the PC's date and time")]
    OwnCertificateNotYetValid {
        /// Start of validity (date and time, Japan time).
        not_before: String,
    },
    /// No login credentials are remembered and none were given.
    #[error("ログイン情報がありません。個人ユーザID・介護電子請求用ユーザIDとパスワードを入力してください / no credentials remembered; enter the personal user ID, the KJ ID and their passwords")]
    NoCredentials,
    /// The configuration is invalid.
    #[error("設定が正しくありません（{0}）/ invalid configuration ({0})")]
    Config(String),
    /// Input given by the user is invalid.
    #[error("{ja} / {en}")]
    BadInput {
        /// Japanese.
        ja: String,
        /// English.
        en: String,
    },
    /// The local state database failed.
    #[error(
        "端末内の記録（データベース）を読み書きできません（{0}）/ local state database error ({0})"
    )]
    Db(#[from] sqlx::Error),
    /// A certificate or key problem.
    #[error(transparent)]
    Pki(#[from] renkei_pki::PkiError),
    /// The relay refused the request.
    #[error("{0}")]
    Relay(Box<Problem>),
    /// The relay or portal could not be reached (the send is kept in the outbox).
    #[error("サーバーに接続できません（{0}）。送信はこの端末に保存され、接続が戻ると自動で送られます / cannot reach the server ({0})")]
    Unreachable(String),
    /// The portal refused the enrollment.
    #[error("{ja} / {en}")]
    Portal {
        /// HTTP status.
        status: u16,
        /// Japanese.
        ja: String,
        /// English.
        en: String,
    },
    /// The server answered something this client does not understand.
    #[error("サーバーの応答を理解できません（{0}）/ unexpected server response ({0})")]
    Protocol(String),
    /// A 送信単位 failed validation and was not sent.
    #[error("ファイルに誤りがあるため送信しませんでした（{}件）/ not sent: the files have {} error(s)\n{}", .0.len(), .0.len(), .0.join("\n"))]
    Invalid(Vec<String>),
    /// A downloaded envelope failed a check: nothing was written.
    #[error("受信したファイルを検証できないため取り込みませんでした（{0}）/ the received file failed verification and was not imported ({0})")]
    Tampered(String),
    /// A file of a received message would replace a different file already in the import
    /// folder: nothing was written and the message stays waiting.
    #[error("取込フォルダに同じ名前の別のファイル {0} があるため取り込みませんでした。確認して移動してから、もう一度取り込んでください / a different file {0} is already in the import folder; nothing was written")]
    ImportConflict(String),
    /// Sealing or opening an envelope failed for another reason.
    #[error("暗号化・復号に失敗しました（{0}）/ envelope error ({0})")]
    Envelope(String),
    /// The recipient cannot receive (not enrolled, revoked, wrong certificate).
    #[error("送信先 {office} には送れません（{reason}）/ cannot send to {office} ({reason})")]
    Recipient {
        /// The office.
        office: String,
        /// Why.
        reason: String,
    },
    /// Evidence (receipts, audit trail) failed verification.
    #[error("証跡を検証できません（{0}）/ evidence does not verify ({0})")]
    Evidence(String),
}

/// A Unix-ms instant as a Japan-time date and time (`2025年05月01日 09:00`), for messages.
pub(crate) fn jst_date(ms: i64) -> String {
    let jst = time::UtcOffset::from_hms(9, 0, 0).unwrap_or(time::UtcOffset::UTC);
    match time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000) {
        Ok(t) => {
            let t = t.to_offset(jst);
            format!(
                "{:04}年{:02}月{:02}日 {:02}:{:02}",
                t.year(),
                u8::from(t.month()),
                t.day(),
                t.hour(),
                t.minute()
            )
        }
        Err(_) => format!("{ms} ms"),
    }
}

impl ClientError {
    pub(crate) fn io(path: &Path, source: std::io::Error) -> Self {
        ClientError::Io {
            path: path.display().to_string(),
            source,
        }
    }

    pub(crate) fn bad_input(ja: impl Into<String>, en: impl Into<String>) -> Self {
        ClientError::BadInput {
            ja: ja.into(),
            en: en.into(),
        }
    }

    /// Whether the error means the server could not be reached (retry later), as opposed to a
    /// refusal that will not change on retry.
    pub fn is_unreachable(&self) -> bool {
        match self {
            ClientError::Unreachable(_) => true,
            ClientError::Relay(p) => matches!(p.status, 502..=504),
            _ => false,
        }
    }

    /// The relay's problem code, if the relay refused the request.
    pub fn problem_code(&self) -> Option<&str> {
        match self {
            ClientError::Relay(p) => Some(&p.code),
            _ => None,
        }
    }
}
