//! Send, list, download, acknowledge and inspect messages.

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use futures::StreamExt;
use renkei_api::{
    AckOutcome, AckRequest, AckResponse, ErrorCode, ListQuery, MessageId, MessagePage,
    MessageState, MessageStatus, Problem, SendResponse, HEADER_IDEMPOTENCY_KEY, HEADER_LENGTH,
    HEADER_MESSAGE_ID, HEADER_SHA256, MAX_INBOX_WAIT_SECS,
};
use renkei_blob::{ByteStream, Expected};
use renkei_envelope::{EnvelopeError, EnvelopeMeta, EnvelopeReader, Header};
use renkei_pki::OfficeCert;
use renkei_store::{
    InsertOutcome, Mailbox, MessageQuery, MessageRecord, MessageWrite, MessageWritten, StoreError,
};

use super::{audit, audit_best_effort, make_receipt, message_audit, signed_receipt, summary};
use crate::auth::OfficeSession;
use crate::error::{ApiError, ApiResult};
use crate::extract::{ApiJson, ApiPath, ApiQuery};
use crate::{RelayState, DAY_MS};

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

#[derive(Clone)]
struct SendHeaders {
    key: String,
    sha256: [u8; 32],
    length: u64,
}

fn send_headers(headers: &HeaderMap, max: u64) -> ApiResult<SendHeaders> {
    let key = header(headers, HEADER_IDEMPOTENCY_KEY)
        .ok_or(ApiError::new(ErrorCode::IdempotencyKeyRequired))?;
    if key.is_empty() || key.len() > 128 || !key.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(ApiError::detail(
            ErrorCode::BadRequest,
            "Idempotency-Key must be 1–128 visible ASCII characters",
        ));
    }
    let sha = header(headers, HEADER_SHA256)
        .and_then(|h| hex::decode(h).ok())
        .and_then(|b| <[u8; 32]>::try_from(b).ok())
        .ok_or_else(|| {
            ApiError::detail(
                ErrorCode::BadRequest,
                "X-Renkei-Sha256 must be 64 hex digits",
            )
        })?;
    let length = header(headers, HEADER_LENGTH)
        .or_else(|| header(headers, http::header::CONTENT_LENGTH.as_str()))
        .ok_or(ApiError::new(ErrorCode::LengthRequired))?
        .parse::<u64>()
        .map_err(|_| {
            ApiError::detail(
                ErrorCode::BadRequest,
                "X-Renkei-Length must be a byte count",
            )
        })?;
    if length > max {
        return Err(ApiError::detail(
            ErrorCode::PayloadTooLarge,
            format!("limit {max} bytes"),
        ));
    }
    Ok(SendHeaders {
        key: key.to_owned(),
        sha256: sha,
        length,
    })
}

/// Longest wait for the next piece of an upload: a client that stalls longer gives its slot up.
const UPLOAD_IDLE: std::time::Duration = std::time::Duration::from_secs(30);

/// The next piece of an upload, never past the announced length; a cut-off or stalled stream
/// is a length mismatch.
async fn next_piece(
    stream: &mut axum::body::BodyDataStream,
    got: u64,
    expected: &SendHeaders,
) -> ApiResult<Option<Bytes>> {
    let next = tokio::time::timeout(UPLOAD_IDLE, stream.next())
        .await
        .map_err(|_| {
            ApiError::detail(
                ErrorCode::LengthMismatch,
                format!(
                    "upload stalled: no data for {} s after {got} of {} bytes",
                    UPLOAD_IDLE.as_secs(),
                    expected.length
                ),
            )
        })?;
    let Some(chunk) = next else { return Ok(None) };
    let chunk = chunk.map_err(|e| {
        ApiError::detail(
            ErrorCode::LengthMismatch,
            format!(
                "upload interrupted after {got} of {} bytes: {e}",
                expected.length
            ),
        )
    })?;
    if got + chunk.len() as u64 > expected.length {
        return Err(ApiError::detail(
            ErrorCode::LengthMismatch,
            "body is longer than announced",
        ));
    }
    Ok(Some(chunk))
}

fn envelope_invalid(e: EnvelopeError) -> ApiError {
    ApiError::detail(ErrorCode::EnvelopeInvalid, e.to_string())
}

/// An upload on its way into the blob store: each piece passes through the envelope reader
/// (check 1 and both digests, in the same pass as the blob store's own hashing) and the first
/// problem is kept for the answer.
struct Upload {
    reader: EnvelopeReader,
    failure: Option<ApiError>,
}

/// The body after its head: the pieces still to come, checked on the way.
fn rest_of_body(
    stream: axum::body::BodyDataStream,
    got: u64,
    expected: SendHeaders,
    upload: Arc<Mutex<Upload>>,
) -> ByteStream {
    futures::stream::unfold(
        (stream, got, expected, upload, false),
        |(mut stream, got, expected, upload, failed)| async move {
            if failed {
                return None;
            }
            let piece = next_piece(&mut stream, got, &expected).await;
            let mut up = upload.lock().unwrap_or_else(|p| p.into_inner());
            let failure = match piece {
                Ok(None) => return None,
                Ok(Some(chunk)) => match up.reader.update(&chunk) {
                    Ok(()) => {
                        drop(up);
                        let got = got + chunk.len() as u64;
                        return Some((Ok(chunk), (stream, got, expected, upload, false)));
                    }
                    Err(e) => envelope_invalid(e),
                },
                Err(e) => e,
            };
            up.failure.get_or_insert(failure);
            drop(up);
            let err = std::io::Error::other("upload refused");
            Some((Err(err), (stream, got, expected, upload, true)))
        },
    )
    .boxed()
}

async fn existing_response(state: &RelayState, m: &MessageRecord) -> ApiResult<SendResponse> {
    let receipts = state.store().receipts(&m.id).await?;
    let stored = receipts
        .iter()
        .find(|r| r.event == MessageState::Stored)
        .and_then(|r| signed_receipt(state, r))
        .ok_or(ApiError::new(ErrorCode::Internal))?;
    Ok(SendResponse {
        message: summary(state, m),
        receipt: stored,
        duplicate: true,
    })
}

/// The sender's certificate as the portal recorded it, for check 2–3 once the body is in.
struct SenderCert {
    cert: OfficeCert,
    revoked: bool,
}

/// Routing, from the header alone (before the body is stored): the relay refuses what the
/// recipient would refuse.
async fn check_route(
    state: &RelayState,
    session: &OfficeSession,
    h: &Header,
) -> ApiResult<SenderCert> {
    if h.sender != session.office {
        return Err(ErrorCode::SenderMismatch.into());
    }
    let now = state.now();
    // Recipient: registered, enrolled, and sealed to one of its valid certificates.
    let enrolled = state
        .store()
        .office_enrolled(&h.recipient, now)
        .await?
        .ok_or(ApiError::new(ErrorCode::RecipientUnknown))?;
    if !enrolled {
        return Err(ErrorCode::RecipientNotEnrolled.into());
    }
    let rcert = state.store().certificate(&h.recipient_cert_serial).await?;
    let rcert_ok = rcert.is_some_and(|c| {
        c.office.as_ref() == Some(&h.recipient)
            && c.revoked_at.is_none()
            && c.not_before <= now
            && now <= c.not_after
    });
    if !rcert_ok {
        return Err(ErrorCode::RecipientCertificateInvalid.into());
    }
    // Sender: the certificate the header names, as the CA issued and the portal recorded it.
    let srec = state
        .store()
        .certificate(&h.sender_cert_serial)
        .await?
        .ok_or(ApiError::new(ErrorCode::SenderCertificateInvalid))?;
    let cert = OfficeCert::parse_pem(&srec.pem)
        .map_err(|_| ApiError::new(ErrorCode::SenderCertificateInvalid))?;
    Ok(SenderCert {
        cert,
        revoked: srec.revoked_at.is_some(),
    })
}

/// Checks 2–3 on the whole envelope: the sender's certificate and signature.
fn check_signature(state: &RelayState, meta: &EnvelopeMeta, sender: &SenderCert) -> ApiResult<()> {
    meta.verify_sender(&sender.cert, state.ca_cert_pem(), state.now(), &|_| {
        sender.revoked
    })
    .map_err(|e| match e {
        EnvelopeError::BadSignature => ApiError::new(ErrorCode::SignatureInvalid),
        EnvelopeError::SenderMismatch { .. } => ApiError::new(ErrorCode::SenderMismatch),
        other => ApiError::detail(ErrorCode::SenderCertificateInvalid, other.to_string()),
    })
}

/// Upload one envelope (`application/octet-stream`), with `Idempotency-Key`,
/// `X-Renkei-Sha256` and `X-Renkei-Length`. The message is visible to the recipient only once
/// its blob is durable and its row committed.
#[utoipa::path(post, path = "/messages", tag = "messages", security(("bearer" = [])),
    request_body(content = Vec<u8>, content_type = "application/octet-stream", description = "RKE1 envelope"),
    params(
        ("idempotency-key" = String, Header, description = "client-chosen key; a retry with the same key and content is harmless"),
        ("x-renkei-sha256" = String, Header, description = "SHA-256 of the envelope, hex"),
        ("x-renkei-length" = u64, Header, description = "envelope length in bytes"),
    ),
    responses((status = 201, body = SendResponse), (status = 200, body = SendResponse, description = "duplicate of an earlier send"),
        (status = "4XX", body = Problem, content_type = "application/problem+json"),
        (status = "5XX", body = Problem, content_type = "application/problem+json")))]
pub(crate) async fn send(
    State(state): State<RelayState>,
    session: OfficeSession,
    req: Request,
) -> Response {
    match send_inner(&state, &session, req).await {
        Ok((status, body)) => (status, Json(body)).into_response(),
        Err(e) => {
            audit_best_effort(
                &state,
                vec![audit(
                    &session.office,
                    state.now(),
                    "message.refused",
                    session.user_id.as_str(),
                    serde_json::json!({"code": e.code()}),
                )],
            )
            .await;
            e.into_response()
        }
    }
}

async fn send_inner(
    state: &RelayState,
    session: &OfficeSession,
    req: Request,
) -> ApiResult<(StatusCode, SendResponse)> {
    let (parts, body) = req.into_parts();
    let h = send_headers(&parts.headers, state.config().max_envelope_bytes)?;
    if let Some(prior) = state
        .store()
        .message_by_idempotency_key(&session.office, &h.key)
        .await?
    {
        if prior.digest != hex::encode(h.sha256) {
            return Err(ErrorCode::IdempotencyConflict.into());
        }
        return Ok((StatusCode::OK, existing_response(state, &prior).await?));
    }
    // Held until the envelope is stored: bounds the uploads in flight.
    let _slot = state.upload_slot().await;
    let t0 = std::time::Instant::now();
    // The head first (at most MAX_HEADER_LEN and a few bytes): a misaddressed upload is
    // refused before its body is stored.
    let mut stream = body.into_data_stream();
    let mut reader = EnvelopeReader::new();
    let mut head = Vec::new();
    let mut got = 0u64;
    while reader.header().is_none() {
        let Some(piece) = next_piece(&mut stream, got, &h).await? else {
            break;
        };
        got += piece.len() as u64;
        reader.update(&piece).map_err(envelope_invalid)?;
        head.push(piece);
    }
    let Some(header) = reader.header().cloned() else {
        if got != h.length {
            return Err(ApiError::detail(
                ErrorCode::LengthMismatch,
                format!("got {got} of {} bytes", h.length),
            ));
        }
        // The body ended inside the head: the reader says where.
        return Err(match reader.finish() {
            Err(e) => envelope_invalid(e),
            Ok(_) => ApiError::detail(ErrorCode::EnvelopeInvalid, "incomplete envelope head"),
        });
    };
    let sender = check_route(state, session, &header).await?;
    let t_check = t0.elapsed();
    let id = MessageId::new_v7();
    let blob_key = id.0.simple().to_string();
    // The body streams into the blob store, which verifies the announced digest and length
    // and makes the blob durable; nothing is visible to the recipient until the row commits.
    // Blob first, row second: a crash in between leaves an unreferenced blob (swept by the
    // retention job), never a row without its payload.
    let upload = Arc::new(Mutex::new(Upload {
        reader,
        failure: None,
    }));
    let body = futures::stream::iter(head.into_iter().map(Ok))
        .chain(rest_of_body(stream, got, h.clone(), upload.clone()))
        .boxed();
    let stored = state
        .blobs()
        .put(
            &blob_key,
            body,
            Expected {
                sha256: h.sha256,
                length: h.length,
            },
        )
        .await;
    // The store has consumed (and dropped) the body stream: the upload state is ours again.
    let upload = Arc::try_unwrap(upload)
        .map_err(|_| ApiError::new(ErrorCode::Internal))?
        .into_inner()
        .unwrap_or_else(|p| p.into_inner());
    if let Err(e) = stored {
        return Err(upload.failure.unwrap_or_else(|| e.into()));
    }
    let t_blob = t0.elapsed();
    // Checks 1 (complete) and 2–3 now that every byte is in; a refused envelope's blob goes.
    let checked = upload
        .reader
        .finish()
        .map_err(envelope_invalid)
        .and_then(|meta| check_signature(state, &meta, &sender).map(|()| meta));
    let meta = match checked {
        Ok(meta) => meta,
        Err(e) => {
            if let Err(de) = state.blobs().delete(&blob_key).await {
                tracing::warn!(error = %de, key = %blob_key, "could not delete a refused upload");
            }
            return Err(e);
        }
    };
    let hdr = meta.header();
    let now = state.now();
    let m = MessageRecord {
        id,
        sender: hdr.sender.clone(),
        recipient: hdr.recipient.clone(),
        idempotency_key: h.key.clone(),
        digest: meta.digest_hex(),
        length: meta.len(),
        file_seq: hdr.file_seq.clone(),
        files: hdr.files.iter().map(|f| f.name.clone()).collect(),
        sender_cert_serial: hdr.sender_cert_serial.clone(),
        recipient_cert_serial: hdr.recipient_cert_serial.clone(),
        blob_key,
        state: MessageState::Stored,
        stored_at: now,
        downloaded_at: None,
        finished_at: None,
        expires_at: now + i64::from(state.config().unread_retention_days) * DAY_MS,
        reasons: None,
    };
    let (receipt, signed) = make_receipt(state, &m, MessageState::Stored, now, None)?;
    let drafts = message_audit(
        &m,
        now,
        "message.sent",
        session.user_id.as_str(),
        serde_json::json!({"files": m.files}),
    );
    let outcome = state
        .write(MessageWrite::Insert {
            message: Box::new(m.clone()),
            receipt,
            audit: drafts,
        })
        .await
        .and_then(|w| match w {
            MessageWritten::Inserted(o) => Ok(o),
            MessageWritten::Transitioned(_) => Err(StoreError::Corrupt(
                "an insert answered as a transition".into(),
            )),
        });
    // Only for outcomes that prove this row was not written.
    let discard = || async {
        if let Err(e) = state.blobs().delete(&m.blob_key).await {
            tracing::warn!(error = %e, key = %m.blob_key, "could not delete an unused blob");
        }
    };
    tracing::debug!(
        check_ms = t_check.as_secs_f64() * 1e3,
        body_ms = (t_blob - t_check).as_secs_f64() * 1e3,
        commit_ms = (t0.elapsed() - t_blob).as_secs_f64() * 1e3,
        "send stages"
    );
    match outcome {
        Ok(InsertOutcome::Inserted) => {
            state.inbox_signals().notify(&m.recipient);
            Ok((
                StatusCode::CREATED,
                SendResponse {
                    message: summary(state, &m),
                    receipt: signed,
                    duplicate: false,
                },
            ))
        }
        Ok(InsertOutcome::Duplicate(prior)) => {
            discard().await;
            Ok((StatusCode::OK, existing_response(state, &prior).await?))
        }
        Err(StoreError::Conflict(_)) => {
            discard().await;
            Err(ErrorCode::IdempotencyConflict.into())
        }
        // Whether the row committed is unknown (a lost connection, a failed group commit):
        // the blob stays, since the row may point at it. If the row did not commit, the blob is
        // an orphan that the retention job's sweep removes once it is older than its grace
        // period; a retry with the same key stores a fresh blob or finds the committed row.
        Err(e) => {
            tracing::warn!(error = %e, key = %m.blob_key, "send commit failed; blob kept for the orphan sweep");
            Err(e.into())
        }
    }
}

/// Move `id` from `from` to `to` with its receipt and audit entries (group-committed).
#[allow(clippy::too_many_arguments)]
async fn transition(
    state: &RelayState,
    id: MessageId,
    from: MessageState,
    to: MessageState,
    at: renkei_store::Millis,
    reasons: Option<String>,
    receipt: renkei_store::ReceiptRecord,
    audit: Vec<renkei_store::AuditDraft>,
) -> Result<MessageRecord, StoreError> {
    match state
        .write(MessageWrite::Transition {
            id,
            from: vec![from],
            to,
            at,
            reasons,
            receipt,
            audit,
        })
        .await?
    {
        MessageWritten::Transitioned(m) => Ok(*m),
        MessageWritten::Inserted(_) => Err(StoreError::Corrupt(
            "a transition answered as an insert".into(),
        )),
    }
}

fn page(state: &RelayState, items: Vec<MessageRecord>, limit: u32) -> MessagePage {
    let next_before = (items.len() as u32 == limit)
        .then(|| items.last().map(|m| m.id))
        .flatten();
    MessagePage {
        items: items.iter().map(|m| summary(state, m)).collect(),
        next_before,
    }
}

async fn list(
    state: &RelayState,
    session: &OfficeSession,
    q: &ListQuery,
    mailbox: Mailbox,
) -> ApiResult<MessagePage> {
    let limit = q.limit.unwrap_or(50).clamp(1, 200);
    let items = state
        .store()
        .list_messages(&MessageQuery {
            office: session.office.clone(),
            mailbox,
            state: q.state,
            before: q.before,
            limit,
        })
        .await?;
    Ok(page(state, items, limit))
}

/// The inbox page of `q`; with `wait`, an empty page is held until a message arrives (woken by
/// sends through this node and by the store's events for the others, re-read every
/// [`crate::RelayConfig::inbox_recheck`] in case an event is lost), the wait is over or the node
/// shuts down.
async fn inbox_page(
    state: &RelayState,
    session: &OfficeSession,
    q: &ListQuery,
) -> ApiResult<MessagePage> {
    let wait = q.wait.unwrap_or(0);
    if wait > MAX_INBOX_WAIT_SECS {
        return Err(ApiError::detail(
            ErrorCode::BadRequest,
            format!("wait is at most {MAX_INBOX_WAIT_SECS} seconds"),
        ));
    }
    if wait == 0 {
        return list(state, session, q, Mailbox::Inbox).await;
    }
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(wait.into());
    state.listen_to_store_events();
    let signals = state.inbox_signals();
    let signal = signals.subscribe(&session.office);
    loop {
        // Registered before the read, so a send committed between the read and the wait wakes it.
        let woken = signal.notified();
        tokio::pin!(woken);
        woken.as_mut().enable();
        let page = list(state, session, q, Mailbox::Inbox).await?;
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        if !page.items.is_empty() || left.is_zero() {
            return Ok(page);
        }
        if signals
            .wait(woken, left.min(state.config().inbox_recheck))
            .await
        {
            return Ok(page);
        }
    }
}

/// Messages addressed to the session's office, newest first.
#[utoipa::path(get, path = "/messages/inbox", tag = "messages", security(("bearer" = [])), params(ListQuery),
    responses((status = 200, body = MessagePage), (status = "4XX", body = Problem, content_type = "application/problem+json")))]
pub(crate) async fn inbox(
    State(state): State<RelayState>,
    session: OfficeSession,
    ApiQuery(q): ApiQuery<ListQuery>,
) -> ApiResult<Json<MessagePage>> {
    inbox_page(&state, &session, &q).await.map(Json)
}

/// Messages the session's office sent, newest first.
#[utoipa::path(get, path = "/messages/outbox", tag = "messages", security(("bearer" = [])), params(ListQuery),
    responses((status = 200, body = MessagePage), (status = "4XX", body = Problem, content_type = "application/problem+json")))]
pub(crate) async fn outbox(
    State(state): State<RelayState>,
    session: OfficeSession,
    ApiQuery(q): ApiQuery<ListQuery>,
) -> ApiResult<Json<MessagePage>> {
    if q.wait.is_some_and(|w| w > 0) {
        return Err(ApiError::detail(
            ErrorCode::BadRequest,
            "wait applies to the inbox only",
        ));
    }
    list(&state, &session, &q, Mailbox::Outbox).await.map(Json)
}

fn parse_id(raw: &str) -> ApiResult<MessageId> {
    // An unparsable id is answered like an unknown one: nothing to learn by guessing shapes.
    raw.parse()
        .map_err(|_| ApiError::new(ErrorCode::MessageNotFound))
}

/// The message if the office is a party to it; otherwise "not found", whether it exists or not.
async fn visible(
    state: &RelayState,
    session: &OfficeSession,
    id: &MessageId,
    recipient_only: bool,
) -> ApiResult<MessageRecord> {
    let m = state
        .store()
        .message(id)
        .await?
        .ok_or(ApiError::new(ErrorCode::MessageNotFound))?;
    let allowed = m.recipient == session.office || (!recipient_only && m.sender == session.office);
    if !allowed {
        tracing::warn!(office = %session.office, message = %id, "office asked for a message it is no party to");
        return Err(ErrorCode::MessageNotFound.into());
    }
    Ok(m)
}

/// A message and its receipt chain (sender or recipient).
#[utoipa::path(get, path = "/messages/{id}", tag = "messages", security(("bearer" = [])),
    params(("id" = String, Path, description = "message id")),
    responses((status = 200, body = MessageStatus), (status = "4XX", body = Problem, content_type = "application/problem+json")))]
pub(crate) async fn status(
    State(state): State<RelayState>,
    session: OfficeSession,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<Json<MessageStatus>> {
    let id = parse_id(&id)?;
    let m = visible(&state, &session, &id, false).await?;
    let receipts = state
        .store()
        .receipts(&id)
        .await?
        .iter()
        .filter_map(|r| signed_receipt(&state, r))
        .collect();
    Ok(Json(MessageStatus {
        message: summary(&state, &m),
        receipts,
    }))
}

/// Download the envelope (recipient only). The first download records `downloaded` with a
/// receipt; later downloads are allowed until the message is final.
#[utoipa::path(get, path = "/messages/{id}/content", tag = "messages", security(("bearer" = [])),
    params(("id" = String, Path, description = "message id")),
    responses((status = 200, content_type = "application/octet-stream", body = Vec<u8>,
        headers(("x-renkei-sha256" = String), ("x-renkei-length" = u64), ("x-renkei-message-id" = String))),
        (status = "4XX", body = Problem, content_type = "application/problem+json")))]
pub(crate) async fn download(
    State(state): State<RelayState>,
    session: OfficeSession,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<Response> {
    let id = parse_id(&id)?;
    let mut m = visible(&state, &session, &id, true).await?;
    if m.state == MessageState::Expired {
        return Err(ErrorCode::MessageExpired.into());
    }
    let read = state.blobs().get(&m.blob_key).await.map_err(|e| match e {
        renkei_blob::BlobError::NotFound(_) => {
            tracing::error!(message = %id, "blob of a live message is missing");
            ApiError::new(ErrorCode::Internal)
        }
        other => other.into(),
    })?;
    if m.state == MessageState::Stored {
        let now = state.now();
        let (receipt, _) = make_receipt(&state, &m, MessageState::Downloaded, now, None)?;
        let drafts = message_audit(
            &m,
            now,
            "message.downloaded",
            session.user_id.as_str(),
            serde_json::json!({}),
        );
        match transition(
            &state,
            id,
            MessageState::Stored,
            MessageState::Downloaded,
            now,
            None,
            receipt,
            drafts,
        )
        .await
        {
            Ok(updated) => m = updated,
            // Another node recorded the download (or the expiry) first.
            Err(StoreError::Conflict(_)) => {
                m = state
                    .store()
                    .message(&id)
                    .await?
                    .ok_or(ApiError::new(ErrorCode::MessageNotFound))?;
                if m.state == MessageState::Expired {
                    return Err(ErrorCode::MessageExpired.into());
                }
            }
            Err(e) => return Err(e.into()),
        }
    }
    let body = Body::from_stream(read.stream.map(|r| r.map_err(std::io::Error::other)));
    let mut resp = Response::new(body);
    let hs = resp.headers_mut();
    hs.insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/octet-stream"),
    );
    hs.insert(
        http::header::CONTENT_LENGTH,
        http::HeaderValue::from(read.length),
    );
    hs.insert(HEADER_LENGTH, http::HeaderValue::from(read.length));
    if let Ok(v) = http::HeaderValue::from_str(&m.digest) {
        hs.insert(HEADER_SHA256, v);
    }
    if let Ok(v) = http::HeaderValue::from_str(&m.id.to_string()) {
        hs.insert(HEADER_MESSAGE_ID, v);
    }
    Ok(resp)
}

/// Report the final outcome (recipient only, after download): imported, or rejected with
/// machine-readable reasons. Repeating the same outcome returns the same receipt.
#[utoipa::path(post, path = "/messages/{id}/ack", tag = "messages", security(("bearer" = [])),
    params(("id" = String, Path, description = "message id")), request_body = AckRequest,
    responses((status = 200, body = AckResponse), (status = "4XX", body = Problem, content_type = "application/problem+json")))]
pub(crate) async fn ack(
    State(state): State<RelayState>,
    session: OfficeSession,
    ApiPath(id): ApiPath<String>,
    ApiJson(req): ApiJson<AckRequest>,
) -> ApiResult<Json<AckResponse>> {
    let id = parse_id(&id)?;
    let m = visible(&state, &session, &id, true).await?;
    let to = match req.outcome {
        AckOutcome::Imported => MessageState::Imported,
        AckOutcome::Rejected => MessageState::Rejected,
    };
    match (req.outcome, req.reasons.is_empty()) {
        (AckOutcome::Imported, false) => {
            return Err(ApiError::detail(
                ErrorCode::BadRequest,
                "an import has no reasons",
            ))
        }
        (AckOutcome::Rejected, true) => {
            return Err(ApiError::detail(
                ErrorCode::BadRequest,
                "a rejection needs at least one reason",
            ))
        }
        _ => {}
    }
    if m.state == to {
        let receipt = state
            .store()
            .receipts(&id)
            .await?
            .iter()
            .find(|r| r.event == to)
            .and_then(|r| signed_receipt(&state, r))
            .ok_or(ApiError::new(ErrorCode::Internal))?;
        return Ok(Json(AckResponse {
            message: summary(&state, &m),
            receipt,
        }));
    }
    if m.state == MessageState::Expired {
        return Err(ErrorCode::MessageExpired.into());
    }
    if m.state != MessageState::Downloaded {
        return Err(ApiError::detail(
            ErrorCode::InvalidTransition,
            format!("message is {}", m.state),
        ));
    }
    let reasons_json =
        (!req.reasons.is_empty()).then(|| serde_json::to_string(&req.reasons).unwrap_or_default());
    let now = state.now();
    let (receipt, signed) = make_receipt(&state, &m, to, now, reasons_json.clone())?;
    let drafts = message_audit(
        &m,
        now,
        &format!("message.{to}"),
        session.user_id.as_str(),
        serde_json::json!({"outcome": to.as_str(), "reasons": req.reasons}),
    );
    let updated = transition(
        &state,
        id,
        MessageState::Downloaded,
        to,
        now,
        reasons_json,
        receipt,
        drafts,
    )
    .await
    .map_err(|e| match e {
        StoreError::Conflict(_) => ApiError::detail(
            ErrorCode::InvalidTransition,
            "the message reached another state first",
        ),
        other => other.into(),
    })?;
    Ok(Json(AckResponse {
        message: summary(&state, &updated),
        receipt: signed,
    }))
}
