//! [`MessagingStore`] on SQLite.
//!
//! Every writing transaction starts with `BEGIN IMMEDIATE`, taking SQLite's single write lock
//! up front: concurrent writers queue on `busy_timeout` instead of failing when a deferred read
//! transaction tries to upgrade, and audit appends are serialized for free.
//!
//! Message writes run on the writer thread ([`crate::writer`]), the hot reads on the reader
//! threads ([`crate::reader`]); the rest here goes through sqlx's pool.

use std::collections::HashSet;

use async_trait::async_trait;
use renkei_ids::OfficeNumber;
use renkei_store::{
    AuditDraft, AuditRecord, CountScope, InsertOutcome, Mailbox, MessageId, MessageQuery,
    MessageRecord, MessageState, MessageWrite, MessageWritten, MessagingStore, Millis,
    ReceiptRecord, RequestAuth, SessionRecord, SessionStage, SharedSealer, StoreError, StoreResult,
};
use rusqlite::params;
use sqlx::sqlite::SqliteRow;
use sqlx::{Row, SqliteConnection};

use crate::columns::{corrupt, Columns};
use crate::reader::{message_by_id, message_by_key, query_all, query_opt};
use crate::{map_err, to_i64, SqliteStore};

pub(crate) const MESSAGE_COLUMNS: &str = "id, sender, recipient, idempotency_key, digest, length, file_seq, files, \
     sender_cert_serial, recipient_cert_serial, blob_key, state, stored_at, downloaded_at, finished_at, \
     expires_at, reasons";

pub(crate) fn message_from_row(row: &impl Columns) -> StoreResult<MessageRecord> {
    let id = row.text("id")?;
    let files = row.text("files")?;
    let state = row.text("state")?;
    let length = row.int("length")?;
    Ok(MessageRecord {
        id: id.parse().map_err(|e| corrupt("message id", e))?,
        sender: row.parsed("sender")?,
        recipient: row.parsed("recipient")?,
        idempotency_key: row.text("idempotency_key")?,
        digest: row.text("digest")?,
        length: u64::try_from(length).map_err(|e| corrupt("length", e))?,
        file_seq: row.parsed("file_seq")?,
        files: serde_json::from_str(&files).map_err(|e| corrupt("files", e))?,
        sender_cert_serial: row.text("sender_cert_serial")?,
        recipient_cert_serial: row.text("recipient_cert_serial")?,
        blob_key: row.text("blob_key")?,
        state: MessageState::parse(&state).ok_or_else(|| corrupt("state", &state))?,
        stored_at: row.int("stored_at")?,
        downloaded_at: row.opt_int("downloaded_at")?,
        finished_at: row.opt_int("finished_at")?,
        expires_at: row.int("expires_at")?,
        reasons: row.opt_text("reasons")?,
    })
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

fn audit_from_row(row: &impl Columns) -> StoreResult<AuditRecord> {
    let seq = row.int("seq")?;
    Ok(AuditRecord {
        office: row.parsed("office")?,
        seq: u64::try_from(seq).map_err(|e| corrupt("seq", e))?,
        at: row.int("at")?,
        kind: row.text("kind")?,
        actor: row.text("actor")?,
        detail: row.text("detail")?,
        prev_hash: row.text("prev_hash")?,
        hash: row.text("hash")?,
        sig: row.text("sig")?,
    })
}

fn session_from_row(row: &impl Columns) -> StoreResult<SessionRecord> {
    let stage = row.text("stage")?;
    Ok(SessionRecord {
        token_hash: row.text("token_hash")?,
        stage: SessionStage::parse(&stage).ok_or_else(|| corrupt("stage", &stage))?,
        user_id: row.parsed("user_id")?,
        office: row.parsed("office")?,
        spki_sha256: row.text("spki_sha256")?,
        created_at: row.int("created_at")?,
        expires_at: row.int("expires_at")?,
    })
}

/// The columns of [`REQUEST_AUTH`]: the certificate's as `cert_*`, the session's by their names.
fn request_auth_from_row(row: &impl Columns) -> StoreResult<RequestAuth> {
    let office = row.opt_text("cert_office")?;
    let token = row.opt_text("token_hash")?;
    Ok(RequestAuth {
        serial: row.text("cert_serial")?,
        office: office
            .map(|o| o.parse().map_err(|e| corrupt("certificate office", e)))
            .transpose()?,
        spki_sha256: row.text("cert_spki_sha256")?,
        revoked_at: row.opt_int("cert_revoked_at")?,
        device_bound: row.int("device_bound")? != 0,
        session: token.map(|_| session_from_row(row)).transpose()?,
    })
}

/// Whether an office is registered (a row) and enrolled (the value): a valid office
/// certificate and a usage application.
const OFFICE_ENROLLED: &str = "SELECT (EXISTS (SELECT 1 FROM certificates c WHERE c.office = o.number \
     AND c.profile IN ('careplan', 'kaigo') AND c.revoked_at IS NULL AND c.not_before <= ?1 \
     AND c.not_after > ?1) AND EXISTS (SELECT 1 FROM usage_applications a WHERE a.office = o.number)) \
     AS enrolled FROM offices o WHERE o.number = ?2";

/// A request's certificate, device binding and session in one statement (see
/// [`MessagingStore::request_auth`]).
const REQUEST_AUTH: &str = "SELECT c.serial AS cert_serial, c.office AS cert_office, \
     c.spki_sha256 AS cert_spki_sha256, c.revoked_at AS cert_revoked_at, \
     EXISTS (SELECT 1 FROM device_bindings d WHERE d.office = c.office \
       AND d.spki_sha256 = c.spki_sha256 AND d.released_at IS NULL) AS device_bound, \
     s.token_hash, s.stage, s.user_id, s.office, s.spki_sha256, s.created_at, s.expires_at \
     FROM certificates c LEFT JOIN sessions s ON s.token_hash = ?2 \
     WHERE c.serial = ?1";

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
        sealer: &SharedSealer,
    ) -> StoreResult<InsertOutcome> {
        self.writer.insert_message(m, receipt, audit, sealer).await
    }

    async fn write_batch(
        &self,
        writes: &[MessageWrite],
        sealer: &SharedSealer,
    ) -> Vec<StoreResult<MessageWritten>> {
        self.writer.write_batch(writes, sealer).await
    }

    fn prefers_group_commit(&self) -> bool {
        true
    }

    async fn office_enrolled(
        &self,
        office: &OfficeNumber,
        now: Millis,
    ) -> StoreResult<Option<bool>> {
        let office = office.as_str().to_owned();
        self.readers
            .run(move |c| {
                query_opt(c, OFFICE_ENROLLED, params![now, office], |r| {
                    Ok(r.int("enrolled")? != 0)
                })
            })
            .await
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
        let id = *id;
        self.readers.run(move |c| message_by_id(c, &id)).await
    }

    async fn message_by_idempotency_key(
        &self,
        sender: &OfficeNumber,
        key: &str,
    ) -> StoreResult<Option<MessageRecord>> {
        let (sender, key) = (sender.clone(), key.to_owned());
        self.readers
            .run(move |c| message_by_key(c, &sender, &key))
            .await
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
        let mut args: Vec<rusqlite::types::Value> = vec![q.office.as_str().to_owned().into()];
        if let Some(state) = q.state {
            args.push(state.as_str().to_owned().into());
        }
        if let Some(before) = q.before {
            args.push(before.to_string().into());
        }
        args.push(i64::from(q.limit.clamp(1, 500)).into());
        self.readers
            .run(move |c| {
                query_all(c, &sql, rusqlite::params_from_iter(args), |r| {
                    message_from_row(r)
                })
            })
            .await
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
        self.writer
            .transition(id, from, to, at, reasons, receipt, audit, sealer)
            .await
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
        sealer: &SharedSealer,
    ) -> StoreResult<Vec<AuditRecord>> {
        self.writer.append_audit(audit, sealer).await
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
        let (serial, token) = (serial.to_owned(), token_hash.map(str::to_owned));
        self.readers
            .run(move |c| {
                query_opt(c, REQUEST_AUTH, params![serial, token], |r| {
                    request_auth_from_row(r)
                })
            })
            .await
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
