//! The message writer: every message write (insert, transition, audit append, group-commit
//! batch) runs as one synchronous call on its own rusqlite connection.
//!
//! sqlx runs each statement on a per-connection worker thread and answers through a channel,
//! so a statement costs two thread wake-ups. One write is ~11 statements (savepoint, read,
//! write, receipt, three per audit entry), a round trip three writes: profiles of the load
//! showed a quarter of the relay's CPU in those hand-offs. Here a whole batch — BEGIN
//! IMMEDIATE, every write in its savepoint, COMMIT — is one job on the writer's own thread,
//! with cached statements: two wake-ups per batch.
//!
//! The connection opens the same database file as the pool (WAL, `synchronous=FULL`, foreign
//! keys, the same busy timeout), after the pool ran the migrations. Writes through the pool
//! (sessions, enrollment) and through this connection take SQLite's one write lock in turn.
//! The thread ends when the store (every clone) is dropped ([`crate::thread`]).

use std::path::Path;
use std::time::Duration;

use renkei_store::{
    AuditDraft, AuditRecord, AuditSealer, InsertOutcome, MessageId, MessageRecord, MessageState,
    MessageWrite, MessageWritten, Millis, ReceiptRecord, SharedSealer, StoreError, StoreResult,
    AUDIT_GENESIS_HASH,
};
use rusqlite::{params, Connection, OptionalExtension};

use crate::columns::corrupt;
use crate::messaging::MESSAGE_COLUMNS;
use crate::reader::{message_by_id, message_by_key};
use crate::thread::{open_connection, ConnThread};
use crate::{map_sql_err, to_i64};

/// The writer's thread, which owns its connection.
pub(crate) struct Writer {
    thread: ConnThread,
}

impl std::fmt::Debug for Writer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Writer").finish_non_exhaustive()
    }
}

/// The error every write of a batch reports when the batch's transaction could not begin or
/// commit (nothing of it is durable; the caller may retry).
fn batch_failed(e: &StoreError) -> StoreError {
    StoreError::Unavailable(format!("group commit failed: {e}"))
}

impl Writer {
    /// Open the writer's connection to the database file at `path` (which exists and is
    /// migrated) and start its thread.
    pub(crate) fn open(path: &Path, busy_timeout: Duration) -> StoreResult<Self> {
        let conn = open_connection(path, busy_timeout, false)?;
        Ok(Self {
            thread: ConnThread::start("renkei-sqlite-writer", conn)?,
        })
    }

    /// Run `f` on the writer's thread inside one `BEGIN IMMEDIATE` transaction; commit if it
    /// returns `Ok`. On any failure the thread ends the open transaction ([`crate::thread`]).
    async fn transaction<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Connection) -> StoreResult<T> + Send + 'static,
    ) -> StoreResult<T> {
        self.thread
            .run(|conn| {
                exec(conn, "BEGIN IMMEDIATE", [])?;
                let out = f(conn)?;
                exec(conn, "COMMIT", [])?;
                Ok(out)
            })
            .await?
    }

    /// [`renkei_store::MessagingStore::insert_message`].
    pub(crate) async fn insert_message(
        &self,
        m: &MessageRecord,
        receipt: &ReceiptRecord,
        audit: &[AuditDraft],
        sealer: &SharedSealer,
    ) -> StoreResult<InsertOutcome> {
        let (m, receipt, audit, sealer) =
            (m.clone(), receipt.clone(), audit.to_vec(), sealer.clone());
        // A duplicate wrote nothing: committing the empty transaction is harmless.
        self.transaction(move |c| insert_in(c, &m, &receipt, &audit, sealer.as_ref()))
            .await
    }

    /// [`renkei_store::MessagingStore::transition`].
    #[allow(clippy::too_many_arguments)]
    pub(crate) async fn transition(
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
        let (id, from, reasons) = (*id, from.to_vec(), reasons.map(str::to_owned));
        let (receipt, audit, sealer) = (receipt.clone(), audit.to_vec(), sealer.clone());
        self.transaction(move |c| {
            let reasons = reasons.as_deref();
            transition_in(
                c,
                &id,
                &from,
                to,
                at,
                reasons,
                &receipt,
                &audit,
                sealer.as_ref(),
            )
        })
        .await
    }

    /// [`renkei_store::MessagingStore::append_audit`].
    pub(crate) async fn append_audit(
        &self,
        audit: &[AuditDraft],
        sealer: &SharedSealer,
    ) -> StoreResult<Vec<AuditRecord>> {
        let (audit, sealer) = (audit.to_vec(), sealer.clone());
        self.transaction(move |c| append_audit_in(c, &audit, sealer.as_ref()))
            .await
    }

    /// [`renkei_store::MessagingStore::write_batch`]: one transaction, each write in its own
    /// savepoint, one commit (one WAL fsync) for the whole batch.
    pub(crate) async fn write_batch(
        &self,
        writes: &[MessageWrite],
        sealer: &SharedSealer,
    ) -> Vec<StoreResult<MessageWritten>> {
        let n = writes.len();
        let (writes, sealer) = (writes.to_vec(), sealer.clone());
        let done = self
            .thread
            .run(move |conn| {
                // A failure that ends the batch leaves its transaction open: the thread rolls
                // it back, so nothing of the batch commits.
                exec(conn, "BEGIN IMMEDIATE", []).map_err(|e| all_failed(n, &e))?;
                let mut out = Vec::with_capacity(n);
                for w in &writes {
                    out.push(write_one(conn, w, sealer.as_ref()).map_err(|e| all_failed(n, &e))?);
                }
                // Nobody hears "ok" before the commit returned.
                if let Err(e) = exec(conn, "COMMIT", []) {
                    for r in &mut out {
                        if r.is_ok() {
                            *r = Err(batch_failed(&e));
                        }
                    }
                }
                Ok(out)
            })
            .await;
        // No answer: the job panicked (its transaction was rolled back) or the thread stopped
        // (whether the batch committed is unknown). Either way every write of it failed here.
        done.unwrap_or_else(|e| Err(all_failed(n, &e)))
            .unwrap_or_else(|failed| failed)
    }
}

/// Every write of a batch of `n` failed with `e`.
fn all_failed(n: usize, e: &StoreError) -> Vec<StoreResult<MessageWritten>> {
    (0..n).map(|_| Err(batch_failed(e))).collect()
}

fn exec(conn: &Connection, sql: &str, params: impl rusqlite::Params) -> StoreResult<usize> {
    conn.prepare_cached(sql)
        .and_then(|mut st| st.execute(params))
        .map_err(map_sql_err)
}

/// One write of a batch inside a savepoint: its failure undoes only its own changes. If the
/// savepoint cannot be opened, rolled back to or released, the outer error makes the caller
/// abandon the whole transaction, so no write of the batch commits half-done.
fn write_one(
    conn: &Connection,
    w: &MessageWrite,
    sealer: &dyn AuditSealer,
) -> StoreResult<StoreResult<MessageWritten>> {
    exec(conn, "SAVEPOINT write_one", [])?;
    let r = match w {
        MessageWrite::Insert {
            message,
            receipt,
            audit,
        } => insert_in(conn, message, receipt, audit, sealer).map(MessageWritten::Inserted),
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
        .map(|m| MessageWritten::Transitioned(Box::new(m))),
    };
    if r.is_err() {
        exec(conn, "ROLLBACK TO write_one", [])?;
    }
    exec(conn, "RELEASE write_one", [])?;
    Ok(r)
}

fn insert_receipt(conn: &Connection, r: &ReceiptRecord) -> StoreResult<()> {
    exec(
        conn,
        "INSERT INTO receipts (message_id, event, at, body, signature) VALUES (?, ?, ?, ?, ?)",
        params![
            r.message_id.to_string(),
            r.event.as_str(),
            r.at,
            r.body,
            r.signature
        ],
    )?;
    Ok(())
}

/// Chain `drafts` onto their offices' trails. The caller holds the write lock.
fn append_audit_in(
    conn: &Connection,
    drafts: &[AuditDraft],
    sealer: &dyn AuditSealer,
) -> StoreResult<Vec<AuditRecord>> {
    let mut order: Vec<&AuditDraft> = drafts.iter().collect();
    order.sort_by(|a, b| a.office.cmp(&b.office));
    let mut out = Vec::with_capacity(order.len());
    for d in order {
        let head: Option<(i64, String)> = conn
            .prepare_cached("SELECT seq, hash FROM audit_heads WHERE office = ?")
            .and_then(|mut st| {
                st.query_row([d.office.as_str()], |r| Ok((r.get(0)?, r.get(1)?)))
                    .optional()
            })
            .map_err(map_sql_err)?;
        let (seq, prev_hash) = match head {
            Some((seq, hash)) => (u64::try_from(seq).map_err(|e| corrupt("seq", e))? + 1, hash),
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
        let seq = to_i64(rec.seq, "seq")?;
        exec(
            conn,
            "INSERT INTO audit_entries (office, seq, at, kind, actor, detail, prev_hash, hash, sig) \
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            params![
                rec.office.as_str(),
                seq,
                rec.at,
                rec.kind,
                rec.actor,
                rec.detail,
                rec.prev_hash,
                rec.hash,
                rec.sig
            ],
        )?;
        exec(
            conn,
            "INSERT INTO audit_heads (office, seq, hash) VALUES (?, ?, ?) \
             ON CONFLICT (office) DO UPDATE SET seq = excluded.seq, hash = excluded.hash",
            params![rec.office.as_str(), seq, rec.hash],
        )?;
        out.push(rec);
    }
    Ok(out)
}

/// An insert inside the caller's write transaction.
fn insert_in(
    conn: &Connection,
    m: &MessageRecord,
    receipt: &ReceiptRecord,
    audit: &[AuditDraft],
    sealer: &dyn AuditSealer,
) -> StoreResult<InsertOutcome> {
    let existing = message_by_key(conn, &m.sender, &m.idempotency_key)?;
    if let Some(prior) = existing {
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
    exec(
        conn,
        &format!(
            "INSERT INTO messages ({MESSAGE_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
        ),
        params![
            m.id.to_string(),
            m.sender.as_str(),
            m.recipient.as_str(),
            m.idempotency_key,
            m.digest,
            to_i64(m.length, "length")?,
            m.file_seq.as_str(),
            files,
            m.sender_cert_serial,
            m.recipient_cert_serial,
            m.blob_key,
            m.state.as_str(),
            m.stored_at,
            m.downloaded_at,
            m.finished_at,
            m.expires_at,
            m.reasons
        ],
    )?;
    insert_receipt(conn, receipt)?;
    append_audit_in(conn, audit, sealer)?;
    Ok(InsertOutcome::Inserted)
}

/// A transition inside the caller's write transaction.
#[allow(clippy::too_many_arguments)]
fn transition_in(
    conn: &Connection,
    id: &MessageId,
    from: &[MessageState],
    to: MessageState,
    at: Millis,
    reasons: Option<&str>,
    receipt: &ReceiptRecord,
    audit: &[AuditDraft],
    sealer: &dyn AuditSealer,
) -> StoreResult<MessageRecord> {
    let current =
        message_by_id(conn, id)?.ok_or_else(|| StoreError::NotFound(format!("message {id}")))?;
    let next = current.transitioned(from, to, at, reasons)?;
    exec(
        conn,
        "UPDATE messages SET state = ?, downloaded_at = ?, finished_at = ?, reasons = ? WHERE id = ?",
        params![
            to.as_str(),
            next.downloaded_at,
            next.finished_at,
            next.reasons,
            id.to_string()
        ],
    )?;
    insert_receipt(conn, receipt)?;
    append_audit_in(conn, audit, sealer)?;
    Ok(next)
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use renkei_store::{AuditDraft, AuditRecord, AuditSealer, MessagingStore, SharedSealer};

    use crate::SqliteStore;

    struct Sealer {
        panics: bool,
    }

    impl AuditSealer for Sealer {
        fn seal(&self, r: &AuditRecord) -> (String, String) {
            assert!(!self.panics, "a sealer that fails mid-transaction");
            (format!("{:064x}", r.seq), String::new())
        }
    }

    fn draft(office: &str, at: i64) -> Vec<AuditDraft> {
        vec![AuditDraft {
            office: office.parse().unwrap(),
            at,
            kind: "login".into(),
            actor: "c0000000001".into(),
            detail: "{}".into(),
        }]
    }

    async fn store() -> (tempfile::TempDir, SqliteStore) {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("w.db").display());
        let store = SqliteStore::open(&url).await.unwrap();
        (dir, store)
    }

    /// A job that panics inside its transaction rolls it back and leaves the thread and the
    /// connection usable: the next write is not refused with "transaction within a
    /// transaction", and nothing of the failed one was written.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_panicking_write_is_rolled_back_and_the_writer_goes_on() {
        let (_dir, store) = store().await;
        let good: SharedSealer = Arc::new(Sealer { panics: false });
        let bad: SharedSealer = Arc::new(Sealer { panics: true });
        store
            .append_audit(&draft("0330000001", 1), &good)
            .await
            .unwrap();
        let e = store
            .append_audit(&draft("0330000001", 2), &bad)
            .await
            .unwrap_err();
        assert!(e.to_string().contains("rolled back"), "{e}");
        let next = store
            .append_audit(&draft("0330000001", 3), &good)
            .await
            .unwrap();
        assert_eq!(
            (next[0].seq, next[0].at),
            (2, 3),
            "the failed entry left no trace"
        );
    }

    /// Writes through the pool and through the writer's own connection take SQLite's write
    /// lock in turn: under concurrency none fails with "database is locked".
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn pool_writes_and_writer_writes_interleave() {
        let (_dir, store) = store().await;
        sqlx::query("CREATE TABLE pool_writes (n INTEGER)")
            .execute(store.pool())
            .await
            .unwrap();
        let sealer: SharedSealer = Arc::new(Sealer { panics: false });
        let mut tasks = Vec::new();
        for i in 0..40i64 {
            let (store, sealer) = (store.clone(), sealer.clone());
            tasks.push(tokio::spawn(async move {
                if i % 2 == 0 {
                    let mut tx = store.pool().begin_with("BEGIN IMMEDIATE").await?;
                    sqlx::query("INSERT INTO pool_writes VALUES (?)")
                        .bind(i)
                        .execute(&mut *tx)
                        .await?;
                    tx.commit().await?;
                } else {
                    store
                        .append_audit(&draft("0330000001", i), &sealer)
                        .await
                        .map_err(|e| sqlx::Error::Protocol(e.to_string()))?;
                }
                Ok::<_, sqlx::Error>(())
            }));
        }
        for t in tasks {
            t.await.unwrap().unwrap();
        }
        let (n,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM pool_writes")
            .fetch_one(store.pool())
            .await
            .unwrap();
        let trail = store
            .audit_entries(&"0330000001".parse().unwrap(), 0, 100)
            .await
            .unwrap();
        assert_eq!((n, trail.len()), (20, 20));
    }
}
