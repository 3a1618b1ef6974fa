//! Messages: one envelope (one 送信単位) from a sender office to a recipient office.

use std::fmt;
use std::str::FromStr;

use renkei_ids::{FileSeq, OfficeNumber};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use crate::evidence::SignedReceipt;

/// Identifier of a message: a UUID v7 chosen by the relay (time-ordered, unguessable in its
/// random part). Listings page by it.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, ToSchema)]
#[serde(transparent)]
#[schema(value_type = String, format = Uuid)]
pub struct MessageId(pub Uuid);

impl MessageId {
    /// A fresh, time-ordered id.
    pub fn new_v7() -> Self {
        Self(Uuid::now_v7())
    }
}

impl fmt::Display for MessageId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.as_hyphenated().fmt(f)
    }
}

impl fmt::Debug for MessageId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "MessageId({})", self.0.as_hyphenated())
    }
}

impl FromStr for MessageId {
    type Err = uuid::Error;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Uuid::parse_str(s).map(Self)
    }
}

/// Where a message is in its life. `imported`, `rejected` and `expired` are final, and a
/// message reaches exactly one of them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum MessageState {
    /// Durably stored by the relay and offered to the recipient.
    Stored,
    /// Downloaded by the recipient at least once.
    Downloaded,
    /// The recipient imported it into its care software.
    Imported,
    /// The recipient refused it (see the reasons).
    Rejected,
    /// Nobody downloaded it before the retention limit.
    Expired,
}

impl MessageState {
    /// Every state, in lifecycle order.
    pub const ALL: [MessageState; 5] = [
        Self::Stored,
        Self::Downloaded,
        Self::Imported,
        Self::Rejected,
        Self::Expired,
    ];

    /// Stable string used in storage, receipts and the API.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Stored => "stored",
            Self::Downloaded => "downloaded",
            Self::Imported => "imported",
            Self::Rejected => "rejected",
            Self::Expired => "expired",
        }
    }

    /// Parse the stable string.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|st| st.as_str() == s)
    }

    /// Whether no further transition is possible.
    pub fn is_final(self) -> bool {
        matches!(self, Self::Imported | Self::Rejected | Self::Expired)
    }

    /// Japanese label for user interfaces.
    pub fn label_ja(self) -> &'static str {
        match self {
            Self::Stored => "受付済（未取得）",
            Self::Downloaded => "取得済",
            Self::Imported => "取込済",
            Self::Rejected => "取込不可",
            Self::Expired => "期限切れ",
        }
    }
}

impl fmt::Display for MessageState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One machine-readable reason why a recipient rejected a message (a CSV row and item that
/// failed validation, or a whole-envelope problem when `file` is absent).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct RejectReason {
    /// File name inside the 送信単位, if the reason concerns one file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
    /// 1-based line (CSV record) number, if known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub line: Option<u64>,
    /// Item (column) name or number, if known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub item: Option<String>,
    /// Stable machine code, e.g. `invalid_insured_number`, `signature_invalid`.
    pub code: String,
    /// Human-readable explanation (Japanese first).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

/// What the relay tells either party about one message (never the payload).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct MessageSummary {
    /// Message id.
    pub id: MessageId,
    /// Sender office (介護保険事業所番号).
    #[schema(value_type = String, example = "0300000100")]
    pub sender: OfficeNumber,
    /// Recipient office.
    #[schema(value_type = String, example = "0300000005")]
    pub recipient: OfficeNumber,
    /// ファイル連番 shared by the files of the unit.
    #[schema(value_type = String, example = "20191025200201")]
    pub file_seq: FileSeq,
    /// File names inside the envelope, in import order.
    pub files: Vec<String>,
    /// Envelope length in bytes.
    pub length: u64,
    /// Lower-case hex SHA-256 of the envelope.
    pub digest: String,
    /// Current state.
    pub state: MessageState,
    /// When the relay stored it.
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub stored_at: OffsetDateTime,
    /// First download, if any.
    #[serde(with = "time::serde::rfc3339::option")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub downloaded_at: Option<OffsetDateTime>,
    /// When the final state was reached, if it was.
    #[serde(with = "time::serde::rfc3339::option")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub finished_at: Option<OffsetDateTime>,
    /// When an unread message expires (after this, it can no longer be downloaded).
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub expires_at: OffsetDateTime,
    /// The message is unread and expires within the reminder window: both sides are reminded.
    pub expiring_soon: bool,
    /// Rejection reasons (only for `rejected`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub reasons: Vec<RejectReason>,
}

/// Response of a send.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct SendResponse {
    /// The stored message.
    pub message: MessageSummary,
    /// The relay-signed `stored` receipt.
    pub receipt: SignedReceipt,
    /// True when this was a retry of an earlier send with the same idempotency key and digest:
    /// nothing new was stored.
    pub duplicate: bool,
}

/// Which messages a listing shows.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// Only messages in this state.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[param(value_type = Option<MessageState>)]
    pub state: Option<MessageState>,
    /// Page cursor: only messages older than this id (the previous page's `next_before`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[param(value_type = Option<String>, format = Uuid)]
    pub before: Option<MessageId>,
    /// Page size, 1–200 (default 50).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<u32>,
    /// Inbox only (long poll): if the page would be empty, hold the answer up to this many
    /// seconds (at most 25) until a message makes it non-empty. 0 or absent answers at once.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wait: Option<u32>,
}

/// Longest `wait` an inbox listing may ask for, in seconds (below every timeout on the way).
pub const MAX_INBOX_WAIT_SECS: u32 = 25;

/// One page of an inbox or outbox, newest first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct MessagePage {
    /// The messages.
    pub items: Vec<MessageSummary>,
    /// Cursor of the next (older) page, absent on the last page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_before: Option<MessageId>,
}

/// Final outcome a recipient reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum AckOutcome {
    /// Imported into the care software.
    Imported,
    /// Refused; `reasons` say why.
    Rejected,
}

/// Body of an acknowledgement.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct AckRequest {
    /// Outcome.
    pub outcome: AckOutcome,
    /// Why it was rejected (required non-empty for `rejected`, must be empty for `imported`).
    #[serde(default)]
    pub reasons: Vec<RejectReason>,
}

/// Response of an acknowledgement.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct AckResponse {
    /// The message in its final state.
    pub message: MessageSummary,
    /// The relay-signed receipt of the final state.
    pub receipt: SignedReceipt,
}

/// A message with the chain of receipts that proves its history.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct MessageStatus {
    /// The message.
    pub message: MessageSummary,
    /// Receipts in the order they were issued (`stored` first).
    pub receipts: Vec<SignedReceipt>,
}
