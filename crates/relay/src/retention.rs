//! Retention: messages not acknowledged by their expiry time — never downloaded, or downloaded
//! but never acknowledged as imported or rejected — expire (with an `expired` receipt for the
//! sender, so every message reaches exactly one final state), and past the delete horizon
//! messages and their blobs are removed. Audit entries stay forever.
//!
//! The same run sweeps orphan payloads: a blob is stored before its row commits, so a crash in
//! between, or a commit whose outcome was unknown (the send handler then keeps the blob, since
//! the row may exist), leaves a blob no row refers to. Blobs older than
//! [`RelayConfig::orphan_grace`](crate::RelayConfig::orphan_grace) with no row are deleted; a
//! younger one may belong to a send still in progress.

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
    /// Payloads no message referred to, deleted.
    pub orphans_removed: u64,
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
        let due = state.store().expired_unacknowledged(now, BATCH).await?;
        if due.is_empty() {
            break;
        }
        let mut progressed = false;
        for m in &due {
            let (reason, was) = if m.state == MessageState::Downloaded {
                (
                    "downloaded but not acknowledged within the retention limit",
                    "downloaded",
                )
            } else {
                ("unread past the retention limit", "unread")
            };
            let Ok((receipt, _)) = make_receipt(
                state,
                m,
                MessageState::Expired,
                now,
                Some(reason.to_owned()),
            ) else {
                return Err(RetentionError::Sign);
            };
            let drafts = message_audit(
                m,
                now,
                "message.expired",
                "relay",
                serde_json::json!({ "was": was }),
            );
            match state
                .store()
                .transition(
                    &m.id,
                    &[MessageState::Stored, MessageState::Downloaded],
                    MessageState::Expired,
                    now,
                    None,
                    &receipt,
                    &drafts,
                    &state.sealer(),
                )
                .await
            {
                Ok(_) => {
                    report.expired += 1;
                    progressed = true;
                }
                // Acknowledged (or expired by another node) in the meantime.
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
            // next run deletes) rather than a blob waiting for the orphan sweep.
            state.blobs().delete(&m.blob_key).await?;
            if state.store().delete_message(&m.id).await? {
                report.purged += 1;
            }
        }
    }
    report.sessions_purged = state.store().purge_sessions(now).await?;
    report.orphans_removed = sweep_orphans(state, now).await?;
    Ok(report)
}

/// Payloads listed per page of the orphan sweep.
const SWEEP_PAGE: usize = 1000;

/// Delete blobs older than the grace period that no message row refers to. Returns how many.
async fn sweep_orphans(state: &RelayState, now: Millis) -> Result<u64, RetentionError> {
    let grace_ms = i64::try_from(state.config().orphan_grace.as_millis()).unwrap_or(i64::MAX);
    let cutoff = std::time::UNIX_EPOCH
        + std::time::Duration::from_millis(
            u64::try_from(now.saturating_sub(grace_ms)).unwrap_or(0),
        );
    let mut removed = 0;
    let mut cursor: Option<String> = None;
    loop {
        let page = state.blobs().list(cursor.as_deref(), SWEEP_PAGE).await?;
        let old: Vec<String> = page
            .items
            .into_iter()
            .filter(|b| b.modified < cutoff)
            .map(|b| b.key)
            .collect();
        if !old.is_empty() {
            let used = state.store().blob_keys_in_use(&old).await?;
            for key in old.iter().filter(|k| !used.contains(*k)) {
                if state.blobs().delete(key).await? {
                    tracing::info!(key = %key, "removed a payload no message refers to");
                    removed += 1;
                }
            }
        }
        match page.next {
            Some(next) => cursor = Some(next),
            None => return Ok(removed),
        }
    }
}
