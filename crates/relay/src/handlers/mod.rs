//! Request handlers and the helpers they share (receipts, summaries, audit drafts).

pub(crate) mod messages;
pub(crate) mod session;

use renkei_api::{MessageState, MessageSummary, ReceiptBody, RejectReason, SignedReceipt};
use renkei_ids::OfficeNumber;
use renkei_store::{AuditDraft, MessageRecord, Millis, ReceiptRecord};
use time::OffsetDateTime;

use crate::notary::rfc3339;
use crate::{RelayState, DAY_MS};

pub(crate) fn datetime(ms: Millis) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .unwrap_or(OffsetDateTime::UNIX_EPOCH)
}

/// What either party may see about a message.
pub(crate) fn summary(state: &RelayState, m: &MessageRecord) -> MessageSummary {
    let now = state.now();
    let window = i64::from(state.config().reminder_days) * DAY_MS;
    MessageSummary {
        id: m.id,
        sender: m.sender.clone(),
        recipient: m.recipient.clone(),
        file_seq: m.file_seq.clone(),
        files: m.files.clone(),
        length: m.length,
        digest: m.digest.clone(),
        state: m.state,
        stored_at: datetime(m.stored_at),
        downloaded_at: m.downloaded_at.map(datetime),
        finished_at: m.finished_at.map(datetime),
        expires_at: datetime(m.expires_at),
        expiring_soon: matches!(m.state, MessageState::Stored | MessageState::Downloaded)
            && m.expires_at - now <= window,
        reasons: m
            .reasons
            .as_deref()
            .and_then(|r| serde_json::from_str::<Vec<RejectReason>>(r).ok())
            .unwrap_or_default(),
    }
}

/// Sign the receipt of `event` for `m` and return the stored form and the signed form.
pub(crate) fn make_receipt(
    state: &RelayState,
    m: &MessageRecord,
    event: MessageState,
    at: Millis,
    reason: Option<String>,
) -> Result<(ReceiptRecord, SignedReceipt), crate::ApiError> {
    let body = ReceiptBody {
        v: 1,
        message_id: m.id.to_string(),
        event: event.as_str().to_owned(),
        at: rfc3339(at),
        digest: m.digest.clone(),
        length: m.length,
        sender: m.sender.to_string(),
        recipient: m.recipient.to_string(),
        file_seq: m.file_seq.to_string(),
        files: m.files.clone(),
        reason,
    };
    let (canonical, signed) = state.notary().sign_receipt(&body).map_err(|e| {
        tracing::error!(error = %e, "cannot sign receipt");
        crate::ApiError::new(renkei_api::ErrorCode::Internal)
    })?;
    let record = ReceiptRecord {
        message_id: m.id,
        event,
        at,
        body: canonical,
        signature: signed.signature.clone(),
    };
    Ok((record, signed))
}

/// A stored receipt as it travels.
pub(crate) fn signed_receipt(state: &RelayState, r: &ReceiptRecord) -> Option<SignedReceipt> {
    let receipt: ReceiptBody = serde_json::from_str(&r.body).ok()?;
    Some(SignedReceipt {
        kind: "renkei-receipt".to_owned(),
        receipt,
        signature: r.signature.clone(),
        relay_cert: state.notary().relay_cert_pem().to_owned(),
    })
}

/// An audit draft for `office`.
pub(crate) fn audit(
    office: &OfficeNumber,
    at: Millis,
    kind: &str,
    actor: &str,
    detail: serde_json::Value,
) -> AuditDraft {
    AuditDraft {
        office: office.clone(),
        at,
        kind: kind.to_owned(),
        actor: actor.to_owned(),
        detail: detail.to_string(),
    }
}

/// Message audit drafts for both offices.
pub(crate) fn message_audit(
    m: &MessageRecord,
    at: Millis,
    kind: &str,
    actor: &str,
    extra: serde_json::Value,
) -> Vec<AuditDraft> {
    let detail = serde_json::json!({
        "message_id": m.id.to_string(),
        "digest": m.digest,
        "length": m.length,
        "sender": m.sender.as_str(),
        "recipient": m.recipient.as_str(),
        "file_seq": m.file_seq.as_str(),
        "extra": extra,
    });
    vec![
        audit(&m.sender, at, kind, actor, detail.clone()),
        audit(&m.recipient, at, kind, actor, detail),
    ]
}

/// Append audit entries outside a message transaction (failures, logins); a failure to write
/// them is logged, never hidden from the operator, and does not change the answer.
pub(crate) async fn audit_best_effort(state: &RelayState, drafts: Vec<renkei_store::AuditDraft>) {
    if let Err(e) = state.store().append_audit(&drafts, &state.sealer()).await {
        tracing::error!(error = %e, "could not append audit entries");
    }
}
