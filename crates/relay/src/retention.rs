//! Retention: unread messages expire (with an `expired` receipt for the sender), and past the
//! delete horizon messages and their blobs are removed. Audit entries stay forever.

use renkei_api::MessageState;
use renkei_store::{Millis, StoreError};

use crate::handlers::{make_receipt, message_audit};
use crate::{RelayState, DAY_MS};

/// What one retention run did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RetentionReport {
    /// Messages moved to `expired`.
    pub expired: u64,
    /// Messages (rows and blobs) deleted.
    pub purged: u64,
    /// Expired sessions deleted.
    pub sessions_purged: u64,
}

/// Errors of a retention run (it stops at the first; a later run continues where it stopped).
#[derive(Debug, thiserror::Error)]
pub enum RetentionError {
    /// The metadata store failed.
    #[error("store: {0}")]
    Store(#[from] StoreError),
    /// The expiry receipt could not be signed.
    #[error("cannot sign the expiry receipt")]
    Sign,
    /// The blob store failed.
    #[error("blob store: {0}")]
    Blob(#[from] renkei_blob::BlobError),
}

const BATCH: u32 = 500;

/// Run the retention policy as of `now`. Safe to run on several nodes at once: each
/// transition happens at most once, and deleting twice is harmless.
pub async fn run_retention(
    state: &RelayState,
    now: Millis,
) -> Result<RetentionReport, RetentionError> {
    let mut report = RetentionReport::default();
    loop {
        let due = state.store().expired_unread(now, BATCH).await?;
        if due.is_empty() {
            break;
        }
        let mut progressed = false;
        for m in &due {
            let Ok((receipt, _)) = make_receipt(
                state,
                m,
                MessageState::Expired,
                now,
                Some("unread past the retention limit".to_owned()),
            ) else {
                return Err(RetentionError::Sign);
            };
            let drafts = message_audit(m, now, "message.expired", "relay", serde_json::json!({}));
            match state
                .store()
                .transition(
                    &m.id,
                    &[MessageState::Stored],
                    MessageState::Expired,
                    now,
                    None,
                    &receipt,
                    &drafts,
                    state.notary(),
                )
                .await
            {
                Ok(_) => {
                    report.expired += 1;
                    progressed = true;
                }
                // Downloaded (or expired by another node) in the meantime.
                Err(StoreError::Conflict(_)) | Err(StoreError::NotFound(_)) => {}
                Err(e) => return Err(e.into()),
            }
        }
        if !progressed {
            break;
        }
    }
    let horizon = now - i64::from(state.config().delete_after_days) * DAY_MS;
    loop {
        let old = state.store().purgeable(horizon, BATCH).await?;
        if old.is_empty() {
            break;
        }
        for m in &old {
            // Blob first: a crash in between leaves a row whose payload is gone (and which the
            // next run deletes), never an orphan blob nobody will find.
            state.blobs().delete(&m.blob_key).await?;
            if state.store().delete_message(&m.id).await? {
                report.purged += 1;
            }
        }
    }
    report.sessions_purged = state.store().purge_sessions(now).await?;
    Ok(report)
}
