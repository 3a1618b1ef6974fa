//! [`MessagingStore`] on SQLite.
//!
//! Every writing transaction starts with `BEGIN IMMEDIATE`, taking SQLite's single write lock
//! up front: concurrent writers queue on `busy_timeout` instead of failing when a deferred read
//! transaction tries to upgrade, and audit appends are serialized for free.

use std::collections::HashSet;

use async_trait::async_trait;
use renkei_ids::OfficeNumber;
use renkei_store::{
    AuditDraft, AuditRecord, AuditSealer, CountScope, InsertOutcome, Mailbox, MessageId,
    MessageQuery, MessageRecord, MessageState, MessageWrite, MessageWritten, MessagingStore,
    Millis, ReceiptRecord, RequestAuth, SessionRecord, SessionStage, StoreError, StoreResult,
    AUDIT_GENESIS_HASH,
};
use sqlx::sqlite::SqliteRow;
use sqlx::{Row, SqliteConnection};

use crate::{map_err, SqliteStore};

const MESSAGE_COLUMNS: &str = "id, sender, recipient, idempotency_key, digest, length, file_seq, files, \
     sender_cert_serial, recipient_cert_serial, blob_key, state, stored_at, downloaded_at, finished_at, \
     expires_at, reasons";

fn corrupt(what: &str, e: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(format!("{what}: {e}"))
}

fn message_from_row(row: &SqliteRow) -> StoreResult<MessageRecord> {
    let id: String = row.try_get("id").map_err(map_err)?;
    let files: String = row.try_get("files").map_err(map_err)?;
    let state: String = row.try_get("state").map_err(map_err)?;
    let length: i64 = row.try_get("length").map_err(map_err)?;
    Ok(MessageRecord {
        id: id.parse().map_err(|e| corrupt("message id", e))?,
        sender: parse_col(row, "sender")?,
        recipient: parse_col(row, "recipient")?,
        idempotency_key: row.try_get("idempotency_key").map_err(map_err)?,
        digest: row.try_get("digest").map_err(map_err)?,
        length: u64::try_from(length).map_err(|e| corrupt("length", e))?,
        file_seq: parse_col(row, "file_seq")?,
        files: serde_json::from_str(&files).map_err(|e| corrupt("files", e))?,
        sender_cert_serial: row.try_get("sender_cert_serial").map_err(map_err)?,
        recipient_cert_serial: row.try_get("recipient_cert_serial").map_err(map_err)?,
        blob_key: row.try_get("blob_key").map_err(map_err)?,
        state: MessageState::parse(&state).ok_or_else(|| corrupt("state", &state))?,
        stored_at: row.try_get("stored_at").map_err(map_err)?,
        downloaded_at: row.try_get("downloaded_at").map_err(map_err)?,
        finished_at: row.try_get("finished_at").map_err(map_err)?,
        expires_at: row.try_get("expires_at").map_err(map_err)?,
        reasons: row.try_get("reasons").map_err(map_err)?,
    })
}

fn parse_col<T: std::str::FromStr>(row: &SqliteRow, col: &str) -> StoreResult<T>
where
    T::Err: std::fmt::Display,
{
    let s: String = row.try_get(col).map_err(map_err)?;
    s.parse().map_err(|e| corrupt(col, e))
}

fn receipt_from_row(row: &SqliteRow) -> StoreResult<ReceiptRecord> {
    let id: String = row.try_get("message_id").map_err(map_err)?;
    let event: String = row.try_get("event").map_err(map_err)?;
    Ok(ReceiptRecord {
        message_id: id.parse().map_err(|e| corrupt("message id", e))?,
        event: MessageState::parse(&event).ok_or_else(|| corrupt("event", &event))?,
        at: row.try_get("at").map_err(map_err)?,
        body: row.try_get("body").map_err(map_err)?,
        signature: row.try_get("signature").map_err(map_err)?,
    })
}

fn audit_from_row(row: &SqliteRow) -> StoreResult<AuditRecord> {
    let seq: i64 = row.try_get("seq").map_err(map_err)?;
    Ok(AuditRecord {
        office: parse_col(row, "office")?,
        seq: u64::try_from(seq).map_err(|e| corrupt("seq", e))?,
        at: row.try_get("at").map_err(map_err)?,
        kind: row.try_get("kind").map_err(map_err)?,
        actor: row.try_get("actor").map_err(map_err)?,
        detail: row.try_get("detail").map_err(map_err)?,
        prev_hash: row.try_get("prev_hash").map_err(map_err)?,
        hash: row.try_get("hash").map_err(map_err)?,
        sig: row.try_get("sig").map_err(map_err)?,
    })
}

fn session_from_row(row: &SqliteRow) -> StoreResult<SessionRecord> {
    let stage: String = row.try_get("stage").map_err(map_err)?;
    Ok(SessionRecord {
        token_hash: row.try_get("token_hash").map_err(map_err)?,
        stage: SessionStage::parse(&stage).ok_or_else(|| corrupt("stage", &stage))?,
        user_id: parse_col(row, "user_id")?,
        office: parse_col(row, "office")?,
        spki_sha256: row.try_get("spki_sha256").map_err(map_err)?,
        created_at: row.try_get("created_at").map_err(map_err)?,
        expires_at: row.try_get("expires_at").map_err(map_err)?,
    })
}

/// The error every write of a batch reports when the batch's transaction could not begin or
/// commit (nothing of it is durable; the caller may retry).
fn batch_failed(e: &StoreError) -> StoreError {
    StoreError::Unavailable(format!("group commit failed: {e}"))
}

/// The columns of [`REQUEST_AUTH`]: the certificate's as `cert_*`, the session's by their names.
fn request_auth_from_row(row: &SqliteRow) -> StoreResult<RequestAuth> {
    let office: Option<String> = row.try_get("cert_office").map_err(map_err)?;
    let token: Option<String> = row.try_get("token_hash").map_err(map_err)?;
    Ok(RequestAuth {
        serial: row.try_get("cert_serial").map_err(map_err)?,
        office: office
            .map(|o| o.parse().map_err(|e| corrupt("certificate office", e)))
            .transpose()?,
        spki_sha256: row.try_get("cert_spki_sha256").map_err(map_err)?,
        revoked_at: row.try_get("cert_revoked_at").map_err(map_err)?,
        device_bound: row.try_get("device_bound").map_err(map_err)?,
        session: token.map(|_| session_from_row(row)).transpose()?,
    })
}

/// A request's certificate, device binding and session in one statement (see
/// [`MessagingStore::request_auth`]).
const REQUEST_AUTH: &str = "SELECT c.serial AS cert_serial, c.office AS cert_office, \
     c.spki_sha256 AS cert_spki_sha256, c.revoked_at AS cert_revoked_at, \
     EXISTS (SELECT 1 FROM device_bindings d WHERE d.office = c.office \
       AND d.spki_sha256 = c.spki_sha256 AND d.released_at IS NULL) AS device_bound, \
     s.token_hash, s.stage, s.user_id, s.office, s.spki_sha256, s.created_at, s.expires_at \
     FROM certificates c LEFT JOIN sessions s ON s.token_hash = ?2 \
     WHERE c.serial = ?1";

fn to_i64(v: u64, what: &str) -> StoreResult<i64> {
    i64::try_from(v).map_err(|_| StoreError::Conflict(format!("{what} out of range")))
}

async fn insert_receipt(conn: &mut SqliteConnection, r: &ReceiptRecord) -> StoreResult<()> {
    sqlx::query(
        "INSERT INTO receipts (message_id, event, at, body, signature) VALUES (?, ?, ?, ?, ?)",
    )
    .bind(r.message_id.to_string())
    .bind(r.event.as_str())
    .bind(r.at)
    .bind(&r.body)
    .bind(&r.signature)
    .execute(&mut *conn)
    .await
    .map_err(map_err)?;
    Ok(())
}

/// Chain `drafts` onto their offices' trails. The caller holds the write lock.
async fn append_audit_in(
    conn: &mut SqliteConnection,
    drafts: &[AuditDraft],
    sealer: &dyn AuditSealer,
) -> StoreResult<Vec<AuditRecord>> {
    let mut order: Vec<&AuditDraft> = drafts.iter().collect();
    order.sort_by(|a, b| a.office.cmp(&b.office));
    let mut out = Vec::with_capacity(order.len());
    for d in order {
        let head = sqlx::query("SELECT seq, hash FROM audit_heads WHERE office = ?")
            .bind(d.office.as_str())
            .fetch_optional(&mut *conn)
            .await
            .map_err(map_err)?;
        let (seq, prev_hash) = match head {
            Some(row) => {
                let seq: i64 = row.try_get("seq").map_err(map_err)?;
                (
                    seq as u64 + 1,
                    row.try_get::<String, _>("hash").map_err(map_err)?,
                )
            }
            None => (1, AUDIT_GENESIS_HASH.to_owned()),
        };
        let mut rec = AuditRecord {
            office: d.office.clone(),
            seq,
            at: d.at,
            kind: d.kind.clone(),
            actor: d.actor.clone(),
            detail: d.detail.clone(),
            prev_hash,
            hash: String::new(),
            sig: String::new(),
        };
        let (hash, sig) = sealer.seal(&rec);
        rec.hash = hash;
        rec.sig = sig;
        sqlx::query(
            "INSERT INTO audit_entries (office, seq, at, kind, actor, detail, prev_hash, hash, sig) \
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(rec.office.as_str())
        .bind(to_i64(rec.seq, "seq")?)
        .bind(rec.at)
        .bind(&rec.kind)
        .bind(&rec.actor)
        .bind(&rec.detail)
        .bind(&rec.prev_hash)
        .bind(&rec.hash)
        .bind(&rec.sig)
        .execute(&mut *conn)
        .await
        .map_err(map_err)?;
        sqlx::query(
            "INSERT INTO audit_heads (office, seq, hash) VALUES (?, ?, ?) \
             ON CONFLICT (office) DO UPDATE SET seq = excluded.seq, hash = excluded.hash",
        )
        .bind(rec.office.as_str())
        .bind(to_i64(rec.seq, "seq")?)
        .bind(&rec.hash)
        .execute(&mut *conn)
        .await
        .map_err(map_err)?;
        out.push(rec);
    }
    Ok(out)
}

async fn fetch_message(
    conn: &mut SqliteConnection,
    id: &MessageId,
) -> StoreResult<Option<MessageRecord>> {
    let row = sqlx::query(&format!(
        "SELECT {MESSAGE_COLUMNS} FROM messages WHERE id = ?"
    ))
    .bind(id.to_string())
    .fetch_optional(&mut *conn)
    .await
    .map_err(map_err)?;
    row.as_ref().map(message_from_row).transpose()
}

/// The outcome of one write of a batch, or (outer `Err`) a failure of the savepoint machinery
/// itself, after which the transaction's state is unknown and the whole batch must fail.
type WriteFuture<'a> = std::pin::Pin<
    Box<dyn std::future::Future<Output = StoreResult<StoreResult<MessageWritten>>> + Send + 'a>,
>;

/// One write of a batch inside a savepoint: its failure undoes only its own changes. If the
/// savepoint cannot be opened, rolled back to or released, the connection is in a state nobody
/// can reason about: the outer error makes the caller abandon the whole transaction, so no
/// write of the batch commits half-done. (Boxed with one explicit lifetime: the compiler
/// cannot prove the nested sqlx futures `Send` otherwise.)
fn write_one<'a>(
    conn: &'a mut SqliteConnection,
    w: &'a MessageWrite,
    sealer: &'a dyn AuditSealer,
) -> WriteFuture<'a> {
    Box::pin(async move {
        sqlx::query("SAVEPOINT write_one")
            .execute(&mut *conn)
            .await
            .map_err(map_err)?;
        let r = match w {
            MessageWrite::Insert {
                message,
                receipt,
                audit,
            } => insert_in(conn, message, receipt, audit, sealer)
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
            } => transition_in(
                conn,
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
        };
        if r.is_err() {
            sqlx::query("ROLLBACK TO write_one")
                .execute(&mut *conn)
                .await
                .map_err(map_err)?;
        }
        sqlx::query("RELEASE write_one")
            .execute(&mut *conn)
            .await
            .map_err(map_err)?;
        Ok(r)
    })
}

/// [`MessagingStore::insert_message`] inside the caller's write transaction.
async fn insert_in(
    conn: &mut SqliteConnection,
    m: &MessageRecord,
    receipt: &ReceiptRecord,
    audit: &[AuditDraft],
    sealer: &dyn AuditSealer,
) -> StoreResult<InsertOutcome> {
    let existing = sqlx::query(&format!(
        "SELECT {MESSAGE_COLUMNS} FROM messages WHERE sender = ? AND idempotency_key = ?"
    ))
    .bind(m.sender.as_str())
    .bind(&m.idempotency_key)
    .fetch_optional(&mut *conn)
    .await
    .map_err(map_err)?;
    if let Some(row) = existing {
        let prior = message_from_row(&row)?;
        return if prior.digest == m.digest {
            Ok(InsertOutcome::Duplicate(Box::new(prior)))
        } else {
            Err(StoreError::Conflict(format!(
                "idempotency key {:?} of {} was used for another digest",
                m.idempotency_key, m.sender
            )))
        };
    }
    let files = serde_json::to_string(&m.files).map_err(|e| corrupt("files", e))?;
    sqlx::query(&format!(
        "INSERT INTO messages ({MESSAGE_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
    ))
    .bind(m.id.to_string())
    .bind(m.sender.as_str())
    .bind(m.recipient.as_str())
    .bind(&m.idempotency_key)
    .bind(&m.digest)
    .bind(to_i64(m.length, "length")?)
    .bind(m.file_seq.as_str())
    .bind(files)
    .bind(&m.sender_cert_serial)
    .bind(&m.recipient_cert_serial)
    .bind(&m.blob_key)
    .bind(m.state.as_str())
    .bind(m.stored_at)
    .bind(m.downloaded_at)
    .bind(m.finished_at)
    .bind(m.expires_at)
    .bind(&m.reasons)
    .execute(&mut *conn)
    .await
    .map_err(map_err)?;
    insert_receipt(conn, receipt).await?;
    append_audit_in(conn, audit, sealer).await?;
    Ok(InsertOutcome::Inserted)
}

/// [`MessagingStore::transition`] inside the caller's write transaction.
#[allow(clippy::too_many_arguments)]
async fn transition_in(
    conn: &mut SqliteConnection,
    id: &MessageId,
    from: &[MessageState],
    to: MessageState,
    at: Millis,
    reasons: Option<&str>,
    receipt: &ReceiptRecord,
    audit: &[AuditDraft],
    sealer: &dyn AuditSealer,
) -> StoreResult<MessageRecord> {
    let current = fetch_message(conn, id)
        .await?
        .ok_or_else(|| StoreError::NotFound(format!("message {id}")))?;
    if !from.contains(&current.state) {
        return Err(StoreError::Conflict(format!(
            "message {id} is {}, not one of {from:?}",
            current.state
        )));
    }
    let downloaded_at = match to {
        MessageState::Downloaded => current.downloaded_at.or(Some(at)),
        _ => current.downloaded_at,
    };
    let finished_at = if to.is_final() {
        Some(at)
    } else {
        current.finished_at
    };
    let reasons = reasons.map(str::to_owned).or(current.reasons.clone());
    sqlx::query("UPDATE messages SET state = ?, downloaded_at = ?, finished_at = ?, reasons = ? WHERE id = ?")
        .bind(to.as_str())
        .bind(downloaded_at)
        .bind(finished_at)
        .bind(&reasons)
        .bind(id.to_string())
        .execute(&mut *conn)
        .await
        .map_err(map_err)?;
    insert_receipt(conn, receipt).await?;
    append_audit_in(conn, audit, sealer).await?;
    Ok(MessageRecord {
        state: to,
        downloaded_at,
        finished_at,
        reasons,
        ..current
    })
}

impl SqliteStore {
    async fn begin_write(&self) -> StoreResult<sqlx::Transaction<'static, sqlx::Sqlite>> {
        self.pool
            .begin_with("BEGIN IMMEDIATE")
            .await
            .map_err(map_err)
    }
}

#[async_trait]
impl MessagingStore for SqliteStore {
    async fn insert_message(
        &self,
        m: &MessageRecord,
        receipt: &ReceiptRecord,
        audit: &[AuditDraft],
        sealer: &dyn AuditSealer,
    ) -> StoreResult<InsertOutcome> {
        let mut tx = self.begin_write().await?;
        let outcome = insert_in(&mut tx, m, receipt, audit, sealer).await?;
        if matches!(outcome, InsertOutcome::Inserted) {
            tx.commit().await.map_err(map_err)?;
        }
        Ok(outcome)
    }

    async fn write_batch(
        &self,
        writes: &[MessageWrite],
        sealer: &dyn AuditSealer,
    ) -> Vec<StoreResult<MessageWritten>> {
        let mut tx = match self.begin_write().await {
            Ok(tx) => tx,
            Err(e) => return writes.iter().map(|_| Err(batch_failed(&e))).collect(),
        };
        let mut out = Vec::with_capacity(writes.len());
        for w in writes {
            match write_one(&mut tx, w, sealer).await {
                Ok(r) => out.push(r),
                Err(e) => {
                    // Dropping the transaction rolls it back: nothing of this batch commits.
                    drop(tx);
                    return writes.iter().map(|_| Err(batch_failed(&e))).collect();
                }
            }
        }
        // One commit, one WAL fsync, for the whole batch; nobody hears "ok" before it.
        if let Err(e) = tx.commit().await.map_err(map_err) {
            for r in &mut out {
                if r.is_ok() {
                    *r = Err(batch_failed(&e));
                }
            }
        }
        out
    }

    fn prefers_group_commit(&self) -> bool {
        true
    }

    async fn office_enrolled(
        &self,
        office: &OfficeNumber,
        now: Millis,
    ) -> StoreResult<Option<bool>> {
        let row = sqlx::query(
            "SELECT (EXISTS (SELECT 1 FROM certificates c WHERE c.office = o.number \
             AND c.profile IN ('careplan', 'kaigo') AND c.revoked_at IS NULL AND c.not_before <= ? \
             AND c.not_after > ?) AND EXISTS (SELECT 1 FROM usage_applications a WHERE a.office = o.number)) \
             AS enrolled FROM offices o WHERE o.number = ?",
        )
        .bind(now)
        .bind(now)
        .bind(office.as_str())
        .fetch_optional(&self.pool)
        .await
        .map_err(map_err)?;
        row.map(|r| r.try_get::<bool, _>("enrolled").map_err(map_err))
            .transpose()
    }

    async fn message_counts(&self, scope: &CountScope) -> StoreResult<Vec<(MessageState, u64)>> {
        let (filter, office) = match scope {
            CountScope::All => ("", None),
            CountScope::SentBy(o) => ("WHERE sender = ?", Some(o.as_str())),
            CountScope::AddressedTo(o) => ("WHERE recipient = ?", Some(o.as_str())),
        };
        let sql = format!(
            "SELECT state, COUNT(*) AS n FROM messages {filter} GROUP BY state ORDER BY state"
        );
        let mut q = sqlx::query(&sql);
        if let Some(o) = office {
            q = q.bind(o);
        }
        let rows = q.fetch_all(&self.pool).await.map_err(map_err)?;
        rows.iter()
            .map(|r| {
                let state: String = r.try_get("state").map_err(map_err)?;
                let n: i64 = r.try_get("n").map_err(map_err)?;
                let state = MessageState::parse(&state).ok_or_else(|| corrupt("state", &state))?;
                Ok((state, u64::try_from(n).unwrap_or(0)))
            })
            .collect()
    }

    async fn message(&self, id: &MessageId) -> StoreResult<Option<MessageRecord>> {
        let mut conn = self.pool.acquire().await.map_err(map_err)?;
        fetch_message(&mut conn, id).await
    }

    async fn message_by_idempotency_key(
        &self,
        sender: &OfficeNumber,
        key: &str,
    ) -> StoreResult<Option<MessageRecord>> {
        let row = sqlx::query(&format!(
            "SELECT {MESSAGE_COLUMNS} FROM messages WHERE sender = ? AND idempotency_key = ?"
        ))
        .bind(sender.as_str())
        .bind(key)
        .fetch_optional(&self.pool)
        .await
        .map_err(map_err)?;
        row.as_ref().map(message_from_row).transpose()
    }

    async fn list_messages(&self, q: &MessageQuery) -> StoreResult<Vec<MessageRecord>> {
        let col = match q.mailbox {
            Mailbox::Inbox => "recipient",
            Mailbox::Outbox => "sender",
        };
        // Only the conditions given, so that the planner can use (recipient, state, id).
        let sql =
            format!(
            "SELECT {MESSAGE_COLUMNS} FROM messages WHERE {col} = ?{}{} ORDER BY id DESC LIMIT ?",
            if q.state.is_some() { " AND state = ?" } else { "" },
            if q.before.is_some() { " AND id < ?" } else { "" },
        );
        let mut query = sqlx::query(&sql).bind(q.office.as_str());
        if let Some(state) = q.state {
            query = query.bind(state.as_str());
        }
        if let Some(before) = q.before {
            query = query.bind(before.to_string());
        }
        let rows = query
            .bind(i64::from(q.limit.clamp(1, 500)))
            .fetch_all(&self.pool)
            .await
            .map_err(map_err)?;
        rows.iter().map(message_from_row).collect()
    }

    async fn transition(
        &self,
        id: &MessageId,
        from: &[MessageState],
        to: MessageState,
        at: Millis,
        reasons: Option<&str>,
        receipt: &ReceiptRecord,
        audit: &[AuditDraft],
        sealer: &dyn AuditSealer,
    ) -> StoreResult<MessageRecord> {
        let mut tx = self.begin_write().await?;
        let updated =
            transition_in(&mut tx, id, from, to, at, reasons, receipt, audit, sealer).await?;
        tx.commit().await.map_err(map_err)?;
        Ok(updated)
    }

    async fn receipts(&self, id: &MessageId) -> StoreResult<Vec<ReceiptRecord>> {
        let rows = sqlx::query("SELECT message_id, event, at, body, signature FROM receipts WHERE message_id = ? ORDER BY id")
            .bind(id.to_string())
            .fetch_all(&self.pool)
            .await
            .map_err(map_err)?;
        rows.iter().map(receipt_from_row).collect()
    }

    async fn expired_unacknowledged(
        &self,
        now: Millis,
        limit: u32,
    ) -> StoreResult<Vec<MessageRecord>> {
        let rows = sqlx::query(&format!(
            "SELECT {MESSAGE_COLUMNS} FROM messages WHERE state IN ('stored', 'downloaded') AND expires_at <= ? \
             ORDER BY expires_at LIMIT ?"
        ))
        .bind(now)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await
        .map_err(map_err)?;
        rows.iter().map(message_from_row).collect()
    }

    async fn purgeable(
        &self,
        stored_before: Millis,
        limit: u32,
    ) -> StoreResult<Vec<MessageRecord>> {
        let rows = sqlx::query(&format!(
            "SELECT {MESSAGE_COLUMNS} FROM messages WHERE stored_at < ? ORDER BY stored_at LIMIT ?"
        ))
        .bind(stored_before)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await
        .map_err(map_err)?;
        rows.iter().map(message_from_row).collect()
    }

    async fn blob_keys_in_use(&self, keys: &[String]) -> StoreResult<HashSet<String>> {
        let mut used = HashSet::new();
        for chunk in keys.chunks(500) {
            let sql = format!(
                "SELECT blob_key FROM messages WHERE blob_key IN ({})",
                vec!["?"; chunk.len()].join(", ")
            );
            let mut query = sqlx::query_scalar::<_, String>(&sql);
            for k in chunk {
                query = query.bind(k);
            }
            used.extend(query.fetch_all(&self.pool).await.map_err(map_err)?);
        }
        Ok(used)
    }

    async fn delete_message(&self, id: &MessageId) -> StoreResult<bool> {
        let mut tx = self.begin_write().await?;
        sqlx::query("DELETE FROM receipts WHERE message_id = ?")
            .bind(id.to_string())
            .execute(&mut *tx)
            .await
            .map_err(map_err)?;
        let n = sqlx::query("DELETE FROM messages WHERE id = ?")
            .bind(id.to_string())
            .execute(&mut *tx)
            .await
            .map_err(map_err)?
            .rows_affected();
        tx.commit().await.map_err(map_err)?;
        Ok(n > 0)
    }

    async fn append_audit(
        &self,
        audit: &[AuditDraft],
        sealer: &dyn AuditSealer,
    ) -> StoreResult<Vec<AuditRecord>> {
        let mut tx = self.begin_write().await?;
        let out = append_audit_in(&mut tx, audit, sealer).await?;
        tx.commit().await.map_err(map_err)?;
        Ok(out)
    }

    async fn audit_entries(
        &self,
        office: &OfficeNumber,
        after_seq: u64,
        limit: u32,
    ) -> StoreResult<Vec<AuditRecord>> {
        let rows = sqlx::query(
            "SELECT office, seq, at, kind, actor, detail, prev_hash, hash, sig FROM audit_entries \
             WHERE office = ? AND seq > ? ORDER BY seq LIMIT ?",
        )
        .bind(office.as_str())
        .bind(to_i64(after_seq, "seq")?)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await
        .map_err(map_err)?;
        rows.iter().map(audit_from_row).collect()
    }

    async fn insert_session(&self, s: &SessionRecord) -> StoreResult<()> {
        let mut conn = self.pool.acquire().await.map_err(map_err)?;
        insert_session_in(&mut conn, s).await
    }

    async fn session(&self, token_hash: &str) -> StoreResult<Option<SessionRecord>> {
        let row = sqlx::query(
            "SELECT token_hash, stage, user_id, office, spki_sha256, created_at, expires_at FROM sessions \
             WHERE token_hash = ?",
        )
        .bind(token_hash)
        .fetch_optional(&self.pool)
        .await
        .map_err(map_err)?;
        row.as_ref().map(session_from_row).transpose()
    }

    async fn request_auth(
        &self,
        serial: &str,
        token_hash: Option<&str>,
    ) -> StoreResult<Option<RequestAuth>> {
        let row = sqlx::query(REQUEST_AUTH)
            .bind(serial)
            .bind(token_hash)
            .fetch_optional(&self.pool)
            .await
            .map_err(map_err)?;
        row.as_ref().map(request_auth_from_row).transpose()
    }

    async fn promote_session(&self, stage1_hash: &str, s: &SessionRecord) -> StoreResult<()> {
        let mut tx = self.begin_write().await?;
        let n = sqlx::query("DELETE FROM sessions WHERE token_hash = ? AND stage = 'user'")
            .bind(stage1_hash)
            .execute(&mut *tx)
            .await
            .map_err(map_err)?
            .rows_affected();
        if n == 0 {
            return Err(StoreError::NotFound("stage-1 session".into()));
        }
        insert_session_in(&mut tx, s).await?;
        tx.commit().await.map_err(map_err)?;
        Ok(())
    }

    async fn delete_session(&self, token_hash: &str) -> StoreResult<bool> {
        let n = sqlx::query("DELETE FROM sessions WHERE token_hash = ?")
            .bind(token_hash)
            .execute(&self.pool)
            .await
            .map_err(map_err)?
            .rows_affected();
        Ok(n > 0)
    }

    async fn purge_sessions(&self, now: Millis) -> StoreResult<u64> {
        let n = sqlx::query("DELETE FROM sessions WHERE expires_at < ?")
            .bind(now)
            .execute(&self.pool)
            .await
            .map_err(map_err)?
            .rows_affected();
        Ok(n)
    }
}

async fn insert_session_in(conn: &mut SqliteConnection, s: &SessionRecord) -> StoreResult<()> {
    sqlx::query(
        "INSERT INTO sessions (token_hash, stage, user_id, office, spki_sha256, created_at, expires_at) \
         VALUES (?, ?, ?, ?, ?, ?, ?)",
    )
    .bind(&s.token_hash)
    .bind(s.stage.as_str())
    .bind(s.user_id.as_str())
    .bind(s.office.as_str())
    .bind(&s.spki_sha256)
    .bind(s.created_at)
    .bind(s.expires_at)
    .execute(&mut *conn)
    .await
    .map_err(map_err)?;
    Ok(())
}
