//! Messaging data: messages, receipts, idempotency keys, sessions and the audit trail.
//!
//! Owned by the relay. Every method is one transaction. The rules that must hold even with
//! several relay nodes on one database live here, in the backends, not in the relay:
//!
//! - a message row and its `stored` receipt and audit entries commit together, so a message is
//!   visible exactly when it is durable;
//! - `(sender, idempotency_key)` is unique: a retry with the same digest returns the existing
//!   message, a different digest is a [`StoreError::Conflict`];
//! - a transition succeeds only from the states it names, so a message reaches exactly one final
//!   state even when two nodes race;
//! - audit appends are serialized per office (SQLite: one writer; PostgreSQL: a row lock on the
//!   office's head row), so `seq` has no gaps and `prev_hash` always names the previous entry.

use std::collections::HashSet;

use async_trait::async_trait;
pub use renkei_api::{MessageId, MessageState};
use renkei_ids::{FileSeq, OfficeNumber, PersonalUserId};
use serde::{Deserialize, Serialize};

use crate::{Millis, StoreResult};

/// Which messages [`MessagingStore::message_counts`] counts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CountScope {
    /// Every message the relay holds.
    All,
    /// Messages the office sent.
    SentBy(OfficeNumber),
    /// Messages addressed to the office.
    AddressedTo(OfficeNumber),
}

/// A stored message (one envelope, one 送信単位). The payload lives in the blob store under
/// `blob_key`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MessageRecord {
    /// Id (UUID v7).
    pub id: MessageId,
    /// Sender office.
    pub sender: OfficeNumber,
    /// Recipient office.
    pub recipient: OfficeNumber,
    /// The sender's idempotency key.
    pub idempotency_key: String,
    /// SHA-256 of the envelope, lower-case hex.
    pub digest: String,
    /// Envelope length in bytes.
    pub length: u64,
    /// ファイル連番.
    pub file_seq: FileSeq,
    /// File names in the envelope header, in order.
    pub files: Vec<String>,
    /// Serial of the certificate the sender signed with.
    pub sender_cert_serial: String,
    /// Serial of the recipient certificate it is sealed to.
    pub recipient_cert_serial: String,
    /// Key in the blob store.
    pub blob_key: String,
    /// Current state.
    pub state: MessageState,
    /// Stored at.
    pub stored_at: Millis,
    /// First download.
    pub downloaded_at: Option<Millis>,
    /// Final state reached at.
    pub finished_at: Option<Millis>,
    /// Unread messages expire at this time.
    pub expires_at: Millis,
    /// Rejection reasons as JSON text (for `rejected`).
    pub reasons: Option<String>,
}

impl MessageRecord {
    /// The record after its move to `to` at `at` (the rule every backend applies): the first
    /// download sets `downloaded_at`, a final state `finished_at`, and rejection `reasons`
    /// replace earlier ones only when given. [`StoreError::Conflict`](crate::StoreError::Conflict)
    /// unless the message is in one of the states `from`.
    pub fn transitioned(
        &self,
        from: &[MessageState],
        to: MessageState,
        at: Millis,
        reasons: Option<&str>,
    ) -> crate::StoreResult<MessageRecord> {
        if !from.contains(&self.state) {
            return Err(crate::StoreError::Conflict(format!(
                "message {} is {}, not one of {from:?}",
                self.id, self.state
            )));
        }
        Ok(MessageRecord {
            state: to,
            downloaded_at: match to {
                MessageState::Downloaded => self.downloaded_at.or(Some(at)),
                _ => self.downloaded_at,
            },
            finished_at: if to.is_final() {
                Some(at)
            } else {
                self.finished_at
            },
            reasons: reasons.map(str::to_owned).or_else(|| self.reasons.clone()),
            ..self.clone()
        })
    }
}

/// A relay-signed receipt as stored: the canonical JSON that was signed, and the signature.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReceiptRecord {
    /// Message.
    pub message_id: MessageId,
    /// Event (the state it certifies).
    pub event: MessageState,
    /// When.
    pub at: Millis,
    /// The canonical receipt JSON exactly as signed.
    pub body: String,
    /// Signature, base64.
    pub signature: String,
}

/// An audit event before it is chained: the backend assigns `seq` and `prev_hash` under the
/// office's lock and asks an [`AuditSealer`] for `hash` and `sig`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditDraft {
    /// Office whose trail receives the entry.
    pub office: OfficeNumber,
    /// When.
    pub at: Millis,
    /// Event kind (`send`, `download`, `ack`, `login`, `login_failed`, `logout`, `expire` …).
    pub kind: String,
    /// Who acted.
    pub actor: String,
    /// Details as JSON text.
    pub detail: String,
}

/// One chained audit entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditRecord {
    /// Office.
    pub office: OfficeNumber,
    /// 1-based position in the office's trail.
    pub seq: u64,
    /// When.
    pub at: Millis,
    /// Event kind.
    pub kind: String,
    /// Who acted.
    pub actor: String,
    /// Details as JSON text.
    pub detail: String,
    /// Hash of the previous entry, hex (64 zeros for the first).
    pub prev_hash: String,
    /// Hash of this entry, hex.
    pub hash: String,
    /// Signature over `hash`, base64.
    pub sig: String,
}

/// The `prev_hash` of an office's first audit entry.
pub const AUDIT_GENESIS_HASH: &str =
    "0000000000000000000000000000000000000000000000000000000000000000";

/// Computes `hash` and `sig` of an audit entry whose other fields are final (`hash` and `sig`
/// are empty when called). Implemented by the relay with its signing key; called by the backend
/// inside the transaction that holds the office's lock.
pub trait AuditSealer: Send + Sync {
    /// Return `(hash_hex, sig_base64)`.
    fn seal(&self, entry: &AuditRecord) -> (String, String);
}

/// An [`AuditSealer`] the backend may hand to its own writer thread.
pub type SharedSealer = std::sync::Arc<dyn AuditSealer>;

/// Which side of the mailbox.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Mailbox {
    /// Messages the office receives.
    Inbox,
    /// Messages the office sent.
    Outbox,
}

/// A paged listing, newest first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageQuery {
    /// Whose mailbox.
    pub office: OfficeNumber,
    /// Which side.
    pub mailbox: Mailbox,
    /// Only this state.
    pub state: Option<MessageState>,
    /// Only ids strictly older (smaller) than this.
    pub before: Option<MessageId>,
    /// Page size (backends clamp to 1–500).
    pub limit: u32,
}

/// Result of [`MessagingStore::insert_message`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InsertOutcome {
    /// The message was new and is now stored.
    Inserted,
    /// The sender already stored this content under this key: the earlier message.
    Duplicate(Box<MessageRecord>),
}

/// One write of the message flow, for [`MessagingStore::write_batch`]: the arguments of
/// [`MessagingStore::insert_message`] or [`MessagingStore::transition`], owned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MessageWrite {
    /// [`MessagingStore::insert_message`].
    Insert {
        /// The new message.
        message: Box<MessageRecord>,
        /// Its `stored` receipt.
        receipt: ReceiptRecord,
        /// Its audit entries.
        audit: Vec<AuditDraft>,
    },
    /// [`MessagingStore::transition`].
    Transition {
        /// The message.
        id: MessageId,
        /// States it may be in.
        from: Vec<MessageState>,
        /// The new state.
        to: MessageState,
        /// When.
        at: Millis,
        /// Rejection reasons as JSON text.
        reasons: Option<String>,
        /// The receipt of the new state.
        receipt: ReceiptRecord,
        /// Its audit entries.
        audit: Vec<AuditDraft>,
    },
}

/// What one [`MessageWrite`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MessageWritten {
    /// Result of an [`MessageWrite::Insert`].
    Inserted(InsertOutcome),
    /// The updated message of a [`MessageWrite::Transition`].
    Transitioned(Box<MessageRecord>),
}

/// How far a login has got.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum SessionStage {
    /// The personal user logged in; only the office login may follow.
    User,
    /// Full session for the office.
    Office,
}

impl SessionStage {
    /// Storage string.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::User => "user",
            Self::Office => "office",
        }
    }
    /// Parse the storage string.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "user" => Some(Self::User),
            "office" => Some(Self::Office),
            _ => None,
        }
    }
}

/// A login session. Only the SHA-256 of the token is stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionRecord {
    /// SHA-256 of the bearer token, hex.
    pub token_hash: String,
    /// Stage.
    pub stage: SessionStage,
    /// The personal user.
    pub user_id: PersonalUserId,
    /// The office.
    pub office: OfficeNumber,
    /// SHA-256 of the client certificate's SPKI, hex: the token is refused from any other key.
    pub spki_sha256: String,
    /// Issued.
    pub created_at: Millis,
    /// Expires.
    pub expires_at: Millis,
}

/// What one authenticated request checks, read together: the client certificate's registration
/// (office, key, revocation), whether its key is an active device of its office, and the session
/// the bearer token names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestAuth {
    /// Serial number, lower-case hex.
    pub serial: String,
    /// Office the certificate names (None for relay/server certificates).
    pub office: Option<OfficeNumber>,
    /// SHA-256 of the certificate's SubjectPublicKeyInfo, lower-case hex.
    pub spki_sha256: String,
    /// When revoked, if revoked.
    pub revoked_at: Option<Millis>,
    /// An unreleased device binding of `office` has this key.
    pub device_bound: bool,
    /// The session of the token hash asked for, if it exists (expired ones too).
    pub session: Option<SessionRecord>,
}

/// Recipients of newly stored messages (see [`MessagingStore::inbox_events`]).
pub type InboxEvents = futures::stream::BoxStream<'static, StoreResult<OfficeNumber>>;

/// Storage of the message flow.
#[async_trait]
pub trait MessagingStore: Send + Sync {
    /// Store a new message with its `stored` receipt and audit entries, in one transaction.
    /// If `(sender, idempotency_key)` exists: the same digest gives
    /// [`InsertOutcome::Duplicate`] (and writes nothing), a different digest
    /// [`StoreError::Conflict`](crate::StoreError::Conflict).
    async fn insert_message(
        &self,
        message: &MessageRecord,
        receipt: &ReceiptRecord,
        audit: &[AuditDraft],
        sealer: &SharedSealer,
    ) -> StoreResult<InsertOutcome>;

    /// Apply several writes, each exactly as its single-call method would (each succeeds or
    /// fails on its own, in order, and sees the writes before it). A backend may commit them
    /// together (group commit: one durable commit for the whole batch); a result is returned
    /// only after the commit that made it durable, so a success still means "durable". A failed
    /// commit fails every write of the batch that had succeeded.
    ///
    /// The default applies them one by one.
    async fn write_batch(
        &self,
        writes: &[MessageWrite],
        sealer: &SharedSealer,
    ) -> Vec<StoreResult<MessageWritten>> {
        let mut out = Vec::with_capacity(writes.len());
        for w in writes {
            out.push(match w {
                MessageWrite::Insert {
                    message,
                    receipt,
                    audit,
                } => self
                    .insert_message(message, receipt, audit, sealer)
                    .await
                    .map(MessageWritten::Inserted),
                MessageWrite::Transition {
                    id,
                    from,
                    to,
                    at,
                    reasons,
                    receipt,
                    audit,
                } => self
                    .transition(
                        id,
                        from,
                        *to,
                        *at,
                        reasons.as_deref(),
                        receipt,
                        audit,
                        sealer,
                    )
                    .await
                    .map(|m| MessageWritten::Transitioned(Box::new(m))),
            });
        }
        out
    }

    /// Whether [`write_batch`](Self::write_batch) commits a batch in one transaction, so that a
    /// caller gains by collecting concurrent writes (SQLite: one writer, one fsync per commit).
    /// `false` where concurrent transactions already share durable flushes (PostgreSQL).
    fn prefers_group_commit(&self) -> bool {
        false
    }

    /// Whether `office` is registered (`None` if not) and enrolled at `now` — it has a usage
    /// application and a valid, unrevoked office certificate — exactly as the directory's
    /// `enrolled` flag; one indexed look-up for the send path.
    async fn office_enrolled(
        &self,
        office: &OfficeNumber,
        now: Millis,
    ) -> StoreResult<Option<bool>>;

    /// How many messages are in each state — all of them, or those sent by / addressed to one
    /// office. Metadata for operators (国保連): counts only, never a payload or a file name.
    async fn message_counts(&self, scope: &CountScope) -> StoreResult<Vec<(MessageState, u64)>>;

    /// One message.
    async fn message(&self, id: &MessageId) -> StoreResult<Option<MessageRecord>>;

    /// The message a sender stored under an idempotency key.
    async fn message_by_idempotency_key(
        &self,
        sender: &OfficeNumber,
        key: &str,
    ) -> StoreResult<Option<MessageRecord>>;

    /// A page of an inbox or outbox.
    async fn list_messages(&self, query: &MessageQuery) -> StoreResult<Vec<MessageRecord>>;

    /// Move a message from one of `from` to `to` at `at`, with its receipt and audit entries,
    /// in one transaction; sets `downloaded_at` (to `downloaded`) or `finished_at` (to a final
    /// state) and `reasons`. Returns the updated message; NotFound if it does not exist,
    /// Conflict if its state is not in `from`.
    #[allow(clippy::too_many_arguments)]
    async fn transition(
        &self,
        id: &MessageId,
        from: &[MessageState],
        to: MessageState,
        at: Millis,
        reasons: Option<&str>,
        receipt: &ReceiptRecord,
        audit: &[AuditDraft],
        sealer: &SharedSealer,
    ) -> StoreResult<MessageRecord>;

    /// Receipts of a message in issue order.
    async fn receipts(&self, id: &MessageId) -> StoreResult<Vec<ReceiptRecord>>;

    /// Messages not yet acknowledged (`stored`, or `downloaded` without an ack) whose
    /// `expires_at` is at or before `now`: retention gives them their final state, `expired`.
    async fn expired_unacknowledged(
        &self,
        now: Millis,
        limit: u32,
    ) -> StoreResult<Vec<MessageRecord>>;

    /// Messages stored before `stored_before` (the delete horizon), in any state.
    async fn purgeable(&self, stored_before: Millis, limit: u32)
        -> StoreResult<Vec<MessageRecord>>;

    /// Which of `keys` a message row refers to (for the orphan-blob sweep).
    async fn blob_keys_in_use(&self, keys: &[String]) -> StoreResult<HashSet<String>>;

    /// Delete a message row and its receipts (after its blob was deleted). Audit entries stay.
    /// Returns whether a row was deleted.
    async fn delete_message(&self, id: &MessageId) -> StoreResult<bool>;

    /// Append audit entries (sorted by office, each chained under the office's lock).
    async fn append_audit(
        &self,
        audit: &[AuditDraft],
        sealer: &SharedSealer,
    ) -> StoreResult<Vec<AuditRecord>>;

    /// An office's entries with `seq > after_seq`, in order, at most `limit`.
    async fn audit_entries(
        &self,
        office: &OfficeNumber,
        after_seq: u64,
        limit: u32,
    ) -> StoreResult<Vec<AuditRecord>>;

    /// Store a new session. Conflict if the token hash exists.
    async fn insert_session(&self, session: &SessionRecord) -> StoreResult<()>;

    /// A session by token hash (expired ones too: the caller tells "expired" from "unknown").
    async fn session(&self, token_hash: &str) -> StoreResult<Option<SessionRecord>>;

    /// The certificate `serial` with its device binding and, if `token_hash` is given, that
    /// session, in one query (every request runs it: revocation and 端末変更 take effect at
    /// once). None if no certificate has that serial.
    async fn request_auth(
        &self,
        serial: &str,
        token_hash: Option<&str>,
    ) -> StoreResult<Option<RequestAuth>>;

    /// The recipients of new messages as they commit, through any node sharing this store,
    /// where the backend has such a channel (PostgreSQL: LISTEN/NOTIFY); `None` where it has not
    /// (SQLite: one node, whose sends wake its listings directly). A hint only: a lost event
    /// delays a waiting listing until its next re-read, and the stream may end (subscribe
    /// again).
    async fn inbox_events(&self) -> StoreResult<Option<InboxEvents>> {
        Ok(None)
    }

    /// Consume a stage-1 session and store the full session, atomically: NotFound if the
    /// stage-1 session is gone (each stage-1 token works once).
    async fn promote_session(&self, stage1_hash: &str, session: &SessionRecord) -> StoreResult<()>;

    /// Delete a session; whether it existed.
    async fn delete_session(&self, token_hash: &str) -> StoreResult<bool>;

    /// Delete sessions that expired before `now`; how many.
    async fn purge_sessions(&self, now: Millis) -> StoreResult<u64>;
}
