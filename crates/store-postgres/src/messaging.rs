//! [`MessagingStore`] on PostgreSQL.
//!
//! Transactions run at READ COMMITTED; the invariants that must hold across relay nodes are
//! kept with row locks: a transition locks the message row (`FOR UPDATE`) before checking its
//! state, and an audit append locks the office's head row, so two nodes never both extend the
//! same chain. Several heads are always locked in office-number order (no lock cycles).

use std::collections::HashSet;

use async_trait::async_trait;
use renkei_ids::OfficeNumber;
use renkei_store::{
    AuditDraft, AuditRecord, AuditSealer, CountScope, InsertOutcome, Mailbox, MessageId,
    MessageQuery, MessageRecord, MessageState, MessagingStore, Millis, ReceiptRecord, RequestAuth,
    SessionRecord, SessionStage, SharedSealer, StoreError, StoreResult, AUDIT_GENESIS_HASH,
};
use sqlx::postgres::PgRow;
use sqlx::{PgConnection, Row};

use crate::{map_err, PgStore};

const MESSAGE_COLUMNS: &str = "id::text AS id, sender, recipient, idempotency_key, digest, length, file_seq, files, \
     sender_cert_serial, recipient_cert_serial, blob_key, state, stored_at, downloaded_at, finished_at, \
     expires_at, reasons";

const INSERT_COLUMNS: &str = "id, sender, recipient, idempotency_key, digest, length, file_seq, files, \
     sender_cert_serial, recipient_cert_serial, blob_key, state, stored_at, downloaded_at, finished_at, \
     expires_at, reasons";

fn corrupt(what: &str, e: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(format!("{what}: {e}"))
}

fn parse_col<T: std::str::FromStr>(row: &PgRow, col: &str) -> StoreResult<T>
where
    T::Err: std::fmt::Display,
{
    let s: String = row.try_get(col).map_err(map_err)?;
    s.parse().map_err(|e| corrupt(col, e))
}

fn message_from_row(row: &PgRow) -> StoreResult<MessageRecord> {
    let files: String = row.try_get("files").map_err(map_err)?;
    let state: String = row.try_get("state").map_err(map_err)?;
    let length: i64 = row.try_get("length").map_err(map_err)?;
    Ok(MessageRecord {
        id: parse_col(row, "id")?,
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

fn receipt_from_row(row: &PgRow) -> StoreResult<ReceiptRecord> {
    let event: String = row.try_get("event").map_err(map_err)?;
    Ok(ReceiptRecord {
        message_id: parse_col(row, "message_id")?,
        event: MessageState::parse(&event).ok_or_else(|| corrupt("event", &event))?,
        at: row.try_get("at").map_err(map_err)?,
        body: row.try_get("body").map_err(map_err)?,
        signature: row.try_get("signature").map_err(map_err)?,
    })
}

fn audit_from_row(row: &PgRow) -> StoreResult<AuditRecord> {
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

fn session_from_row(row: &PgRow) -> StoreResult<SessionRecord> {
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

/// The columns of [`REQUEST_AUTH`]: the certificate's as `cert_*`, the session's by their names.
fn request_auth_from_row(row: &PgRow) -> StoreResult<RequestAuth> {
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
     FROM certificates c LEFT JOIN sessions s ON s.token_hash = $2 \
     WHERE c.serial = $1";

/// The LISTEN/NOTIFY channel of new messages; the payload is the recipient's office number.
/// (Database-wide: stores on other schemas of the same database may hear each other, which
/// only costs a listing a re-read.)
const INBOX_CHANNEL: &str = "renkei_inbox";

fn to_i64(v: u64, what: &str) -> StoreResult<i64> {
    i64::try_from(v).map_err(|_| StoreError::Conflict(format!("{what} out of range")))
}

async fn insert_receipt(conn: &mut PgConnection, r: &ReceiptRecord) -> StoreResult<()> {
    sqlx::query("INSERT INTO receipts (message_id, event, at, body, signature) VALUES ($1::uuid, $2, $3, $4, $5)")
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

/// Chain `drafts` onto their offices' trails, locking each office's head row.
async fn append_audit_in(
    conn: &mut PgConnection,
    drafts: &[AuditDraft],
    sealer: &dyn AuditSealer,
) -> StoreResult<Vec<AuditRecord>> {
    let mut order: Vec<&AuditDraft> = drafts.iter().collect();
    order.sort_by(|a, b| a.office.cmp(&b.office));
    let mut out = Vec::with_capacity(order.len());
    for d in order {
        sqlx::query("INSERT INTO audit_heads (office, seq, hash) VALUES ($1, 0, $2) ON CONFLICT (office) DO NOTHING")
            .bind(d.office.as_str())
            .bind(AUDIT_GENESIS_HASH)
            .execute(&mut *conn)
            .await
            .map_err(map_err)?;
        let head = sqlx::query("SELECT seq, hash FROM audit_heads WHERE office = $1 FOR UPDATE")
            .bind(d.office.as_str())
            .fetch_one(&mut *conn)
            .await
            .map_err(map_err)?;
        let last: i64 = head.try_get("seq").map_err(map_err)?;
        let mut rec = AuditRecord {
            office: d.office.clone(),
            seq: u64::try_from(last).map_err(|e| corrupt("seq", e))? + 1,
            at: d.at,
            kind: d.kind.clone(),
            actor: d.actor.clone(),
            detail: d.detail.clone(),
            prev_hash: head.try_get("hash").map_err(map_err)?,
            hash: String::new(),
            sig: String::new(),
        };
        let (hash, sig) = sealer.seal(&rec);
        rec.hash = hash;
        rec.sig = sig;
        sqlx::query(
            "INSERT INTO audit_entries (office, seq, at, kind, actor, detail, prev_hash, hash, sig) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
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
        sqlx::query("UPDATE audit_heads SET seq = $2, hash = $3 WHERE office = $1")
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
    conn: &mut PgConnection,
    id: &MessageId,
    lock: bool,
) -> StoreResult<Option<MessageRecord>> {
    let suffix = if lock { " FOR UPDATE" } else { "" };
    let row = sqlx::query(&format!(
        "SELECT {MESSAGE_COLUMNS} FROM messages WHERE id = $1::uuid{suffix}"
    ))
    .bind(id.to_string())
    .fetch_optional(&mut *conn)
    .await
    .map_err(map_err)?;
    row.as_ref().map(message_from_row).transpose()
}

async fn by_idempotency_key(
    conn: &mut PgConnection,
    sender: &OfficeNumber,
    key: &str,
) -> StoreResult<Option<MessageRecord>> {
    let row = sqlx::query(&format!(
        "SELECT {MESSAGE_COLUMNS} FROM messages WHERE sender = $1 AND idempotency_key = $2"
    ))
    .bind(sender.as_str())
    .bind(key)
    .fetch_optional(&mut *conn)
    .await
    .map_err(map_err)?;
    row.as_ref().map(message_from_row).transpose()
}

fn duplicate_or_conflict(prior: MessageRecord, m: &MessageRecord) -> StoreResult<InsertOutcome> {
    if prior.digest == m.digest {
        Ok(InsertOutcome::Duplicate(Box::new(prior)))
    } else {
        Err(StoreError::Conflict(format!(
            "idempotency key {:?} of {} was used for another digest",
            m.idempotency_key, m.sender
        )))
    }
}

async fn insert_session_in(conn: &mut PgConnection, s: &SessionRecord) -> StoreResult<()> {
    sqlx::query(
        "INSERT INTO sessions (token_hash, stage, user_id, office, spki_sha256, created_at, expires_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
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

#[async_trait]
impl MessagingStore for PgStore {
    async fn insert_message(
        &self,
        m: &MessageRecord,
        receipt: &ReceiptRecord,
        audit: &[AuditDraft],
        sealer: &SharedSealer,
    ) -> StoreResult<InsertOutcome> {
        let mut tx = self.pool.begin().await.map_err(map_err)?;
        let files = serde_json::to_string(&m.files).map_err(|e| corrupt("files", e))?;
        // ON CONFLICT DO NOTHING waits for a concurrent insert of the same key to finish, so
        // two nodes racing on one retry agree on a single message.
        let inserted = sqlx::query(&format!(
            "INSERT INTO messages ({INSERT_COLUMNS}) VALUES ($1::uuid, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, \
             $13, $14, $15, $16, $17) ON CONFLICT (sender, idempotency_key) DO NOTHING"
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
        .execute(&mut *tx)
        .await
        .map_err(map_err)?
        .rows_affected();
        if inserted == 0 {
            let prior = by_idempotency_key(&mut tx, &m.sender, &m.idempotency_key)
                .await?
                .ok_or_else(|| StoreError::Unavailable("idempotency row vanished; retry".into()))?;
            return duplicate_or_conflict(prior, m);
        }
        insert_receipt(&mut tx, receipt).await?;
        append_audit_in(&mut tx, audit, sealer.as_ref()).await?;
        tx.commit().await.map_err(map_err)?;
        // Announced after the commit, in a statement of its own: a NOTIFY inside the message's
        // transaction would serialise every sending commit on PostgreSQL's notification queue
        // lock. A lost announcement only costs waiting listings a re-read.
        if let Err(e) = sqlx::query("SELECT pg_notify($1, $2)")
            .bind(INBOX_CHANNEL)
            .bind(m.recipient.as_str())
            .execute(&self.pool)
            .await
        {
            tracing::warn!(error = %e, "could not announce a new message");
        }
        Ok(InsertOutcome::Inserted)
    }

    async fn office_enrolled(
        &self,
        office: &OfficeNumber,
        now: Millis,
    ) -> StoreResult<Option<bool>> {
        let row = sqlx::query(
            "SELECT (EXISTS (SELECT 1 FROM certificates c WHERE c.office = o.number \
             AND c.profile IN ('careplan', 'kaigo') AND c.revoked_at IS NULL AND c.not_before <= $1 \
             AND c.not_after > $1) AND EXISTS (SELECT 1 FROM usage_applications a WHERE a.office = o.number)) \
             AS enrolled FROM offices o WHERE o.number = $2",
        )
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
            CountScope::SentBy(o) => ("WHERE sender = $1", Some(o.as_str())),
            CountScope::AddressedTo(o) => ("WHERE recipient = $1", Some(o.as_str())),
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
        fetch_message(&mut conn, id, false).await
    }

    async fn message_by_idempotency_key(
        &self,
        sender: &OfficeNumber,
        key: &str,
    ) -> StoreResult<Option<MessageRecord>> {
        let mut conn = self.pool.acquire().await.map_err(map_err)?;
        by_idempotency_key(&mut conn, sender, key).await
    }

    async fn list_messages(&self, q: &MessageQuery) -> StoreResult<Vec<MessageRecord>> {
        let col = match q.mailbox {
            Mailbox::Inbox => "recipient",
            Mailbox::Outbox => "sender",
        };
        // Only the conditions given, so that generic plans can use (recipient, state, id).
        let mut n = 1;
        let mut next = || {
            n += 1;
            n
        };
        let state_cond = q
            .state
            .map(|_| format!(" AND state = ${}", next()))
            .unwrap_or_default();
        let before_cond = q
            .before
            .map(|_| format!(" AND id < ${}::uuid", next()))
            .unwrap_or_default();
        let limit = next();
        let sql = format!(
            "SELECT {MESSAGE_COLUMNS} FROM messages WHERE {col} = $1{state_cond}{before_cond} \
             ORDER BY id DESC LIMIT ${limit}"
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
        sealer: &SharedSealer,
    ) -> StoreResult<MessageRecord> {
        let mut tx = self.pool.begin().await.map_err(map_err)?;
        let current = fetch_message(&mut tx, id, true)
            .await?
            .ok_or_else(|| StoreError::NotFound(format!("message {id}")))?;
        let next = current.transitioned(from, to, at, reasons)?;
        sqlx::query(
            "UPDATE messages SET state = $1, downloaded_at = $2, finished_at = $3, reasons = COALESCE($4, reasons) \
             WHERE id = $5::uuid",
        )
        .bind(to.as_str())
        .bind(next.downloaded_at)
        .bind(next.finished_at)
        .bind(reasons)
        .bind(id.to_string())
        .execute(&mut *tx)
        .await
        .map_err(map_err)?;
        insert_receipt(&mut tx, receipt).await?;
        append_audit_in(&mut tx, audit, sealer.as_ref()).await?;
        let updated = fetch_message(&mut tx, id, false)
            .await?
            .ok_or_else(|| StoreError::NotFound(format!("message {id}")))?;
        tx.commit().await.map_err(map_err)?;
        Ok(updated)
    }

    async fn receipts(&self, id: &MessageId) -> StoreResult<Vec<ReceiptRecord>> {
        let rows = sqlx::query(
            "SELECT message_id::text AS message_id, event, at, body, signature FROM receipts \
             WHERE message_id = $1::uuid ORDER BY id",
        )
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
            "SELECT {MESSAGE_COLUMNS} FROM messages WHERE state IN ('stored', 'downloaded') AND expires_at <= $1 \
             ORDER BY expires_at LIMIT $2"
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
            "SELECT {MESSAGE_COLUMNS} FROM messages WHERE stored_at < $1 ORDER BY stored_at LIMIT $2"
        ))
        .bind(stored_before)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await
        .map_err(map_err)?;
        rows.iter().map(message_from_row).collect()
    }

    async fn blob_keys_in_use(&self, keys: &[String]) -> StoreResult<HashSet<String>> {
        let used: Vec<String> =
            sqlx::query_scalar("SELECT blob_key FROM messages WHERE blob_key = ANY($1)")
                .bind(keys)
                .fetch_all(&self.pool)
                .await
                .map_err(map_err)?;
        Ok(used.into_iter().collect())
    }

    async fn delete_message(&self, id: &MessageId) -> StoreResult<bool> {
        // Receipts go with the row (ON DELETE CASCADE).
        let n = sqlx::query("DELETE FROM messages WHERE id = $1::uuid")
            .bind(id.to_string())
            .execute(&self.pool)
            .await
            .map_err(map_err)?
            .rows_affected();
        Ok(n > 0)
    }

    async fn append_audit(
        &self,
        audit: &[AuditDraft],
        sealer: &SharedSealer,
    ) -> StoreResult<Vec<AuditRecord>> {
        let mut tx = self.pool.begin().await.map_err(map_err)?;
        let out = append_audit_in(&mut tx, audit, sealer.as_ref()).await?;
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
             WHERE office = $1 AND seq > $2 ORDER BY seq LIMIT $3",
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
             WHERE token_hash = $1",
        )
        .bind(token_hash)
        .fetch_optional(&self.pool)
        .await
        .map_err(map_err)?;
        row.as_ref().map(session_from_row).transpose()
    }

    async fn inbox_events(&self) -> StoreResult<Option<renkei_store::InboxEvents>> {
        use futures::StreamExt;
        let mut listener = sqlx::postgres::PgListener::connect_with(&self.pool)
            .await
            .map_err(map_err)?;
        listener.listen(INBOX_CHANNEL).await.map_err(map_err)?;
        Ok(Some(
            listener
                .into_stream()
                .map(|n| {
                    let n = n.map_err(map_err)?;
                    n.payload()
                        .parse::<OfficeNumber>()
                        .map_err(|e| corrupt("inbox notification", e))
                })
                .boxed(),
        ))
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
        let mut tx = self.pool.begin().await.map_err(map_err)?;
        let n = sqlx::query("DELETE FROM sessions WHERE token_hash = $1 AND stage = 'user'")
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
        let n = sqlx::query("DELETE FROM sessions WHERE token_hash = $1")
            .bind(token_hash)
            .execute(&self.pool)
            .await
            .map_err(map_err)?
            .rows_affected();
        Ok(n > 0)
    }

    async fn purge_sessions(&self, now: Millis) -> StoreResult<u64> {
        let n = sqlx::query("DELETE FROM sessions WHERE expires_at < $1")
            .bind(now)
            .execute(&self.pool)
            .await
            .map_err(map_err)?
            .rows_affected();
        Ok(n)
    }
}
