//! Seeding a relay with history: message rows as completed exchanges leave them, for the load
//! tool (`renkei loadtest --prefill N`), which measures how the relay behaves as its store grows
//! toward a month's volume without spending hours sending it first.

use renkei_api::{MessageId, MessageState};
use renkei_ids::{FileSeq, OfficeNumber};
use renkei_store::{
    InsertOutcome, MessageRecord, MessageWrite, MessageWritten, Millis, StoreError,
};

use crate::handlers::{make_receipt, message_audit};
use crate::{RelayState, DAY_MS};

/// Errors of seeding.
#[derive(Debug, thiserror::Error)]
pub enum SeedError {
    /// The metadata store refused or failed.
    #[error("store: {0}")]
    Store(#[from] StoreError),
    /// The receipt could not be signed.
    #[error("cannot sign the receipt")]
    Sign,
    /// The row existed already.
    #[error("message exists: {0}")]
    Exists(String),
}

/// Record one finished exchange from `sender` to `recipient` at `at`: the message row in state
/// `imported` (no payload: its blob is treated as already purged), its signed `stored` receipt
/// and the `message.sent` audit entries of both offices, written through the same (group)
/// commit path as a real send.
pub async fn seed_imported(
    state: &RelayState,
    sender: &OfficeNumber,
    recipient: &OfficeNumber,
    idempotency_key: String,
    at: Millis,
) -> Result<MessageId, SeedError> {
    let id = MessageId::new_v7();
    let file_seq: FileSeq = "20250401090000"
        .parse()
        .expect("a valid ファイル連番 constant");
    let m = MessageRecord {
        id,
        sender: sender.clone(),
        recipient: recipient.clone(),
        idempotency_key,
        digest: hex::encode([0u8; 32]),
        length: 0,
        file_seq,
        files: vec![format!(
            "UPPLAN_{sender}_43_{recipient}_11_20250401090000.CSV"
        )],
        sender_cert_serial: String::new(),
        recipient_cert_serial: String::new(),
        blob_key: id.0.simple().to_string(),
        state: MessageState::Imported,
        stored_at: at,
        downloaded_at: Some(at),
        finished_at: Some(at),
        expires_at: at + i64::from(state.config().unread_retention_days) * DAY_MS,
        reasons: None,
    };
    let (receipt, _) =
        make_receipt(state, &m, MessageState::Stored, at, None).map_err(|_| SeedError::Sign)?;
    let audit = message_audit(&m, at, "message.sent", "loadtest", serde_json::json!({}));
    match state
        .write(MessageWrite::Insert {
            message: Box::new(m),
            receipt,
            audit,
        })
        .await?
    {
        MessageWritten::Inserted(InsertOutcome::Inserted) => Ok(id),
        MessageWritten::Inserted(InsertOutcome::Duplicate(prior)) => {
            Err(SeedError::Exists(prior.id.to_string()))
        }
        MessageWritten::Transitioned(_) => Err(SeedError::Store(StoreError::Corrupt(
            "an insert answered as a transition".into(),
        ))),
    }
}
