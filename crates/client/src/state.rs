//! The local state database (SQLite in WAL mode with a busy timeout, so that the web UI and
//! CLI scripts can use one home at the same time).

use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use serde::Serialize;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{Row, SqlitePool};

use crate::ClientError;

/// Current time as RFC 3339 (UTC).
pub(crate) fn now_rfc3339() -> String {
    time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

/// One file of a 送信単位, in memory.
#[derive(Clone, PartialEq, Eq)]
pub struct UnitFile {
    /// File name (no directory).
    pub name: String,
    /// Contents.
    pub bytes: Vec<u8>,
}

impl std::fmt::Debug for UnitFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "UnitFile({}, {} bytes)", self.name, self.bytes.len())
    }
}

/// Encode files as `u32 name_len || name || u64 len || bytes` each (the envelope's bundle
/// layout).
pub(crate) fn encode_files(files: &[UnitFile]) -> Vec<u8> {
    let mut out = Vec::new();
    for f in files {
        out.extend_from_slice(&(f.name.len() as u32).to_be_bytes());
        out.extend_from_slice(f.name.as_bytes());
        out.extend_from_slice(&(f.bytes.len() as u64).to_be_bytes());
        out.extend_from_slice(&f.bytes);
    }
    out
}

/// Inverse of [`encode_files`].
pub(crate) fn decode_files(mut b: &[u8]) -> Result<Vec<UnitFile>, ClientError> {
    let bad = || ClientError::KeystoreCorrupt("outbox bundle is malformed".into());
    let mut out = Vec::new();
    while !b.is_empty() {
        let (n, rest) = b.split_first_chunk::<4>().ok_or_else(bad)?;
        let n = u32::from_be_bytes(*n) as usize;
        if rest.len() < n {
            return Err(bad());
        }
        let (name, rest) = rest.split_at(n);
        let (len, rest) = rest.split_first_chunk::<8>().ok_or_else(bad)?;
        let len = usize::try_from(u64::from_be_bytes(*len)).map_err(|_| bad())?;
        if rest.len() < len {
            return Err(bad());
        }
        let (bytes, rest) = rest.split_at(len);
        out.push(UnitFile {
            name: String::from_utf8(name.to_vec()).map_err(|_| bad())?,
            bytes: bytes.to_vec(),
        });
        b = rest;
    }
    Ok(out)
}

/// A send as recorded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SendRecord {
    /// Local id.
    pub id: i64,
    /// When the user asked for it.
    pub created_at: String,
    /// Recipient office number.
    pub recipient: String,
    /// ファイル連番.
    pub file_seq: String,
    /// File names.
    pub files: Vec<String>,
    /// SHA-256 over names and contents.
    pub content_sha256: String,
    /// Idempotency key used with the relay.
    pub idempotency_key: String,
    /// `ui`, `cli` or `watch`.
    pub source: String,
    /// Months (YYYYMM) named by the files.
    pub months: String,
    /// Clients (insured numbers) in the files.
    pub clients: String,
    /// Sent despite validation errors (the user overrode them; recorded as an event).
    pub validation_overridden: bool,
    /// `queued`, `failed` or a relay message state.
    pub state: String,
    /// Relay message id once stored.
    pub message_id: Option<String>,
    /// Envelope digest once sealed.
    pub digest: Option<String>,
    /// Why it failed or why it is still waiting.
    pub error: Option<String>,
    /// Last change.
    pub updated_at: String,
}

/// What a new send records.
#[derive(Debug, Clone)]
pub struct NewSend<'a> {
    /// Recipient office number.
    pub recipient: &'a str,
    /// ファイル連番.
    pub file_seq: &'a str,
    /// The files, in import order.
    pub files: &'a [UnitFile],
    /// SHA-256 over names and contents.
    pub content_sha256: &'a str,
    /// `ui`, `cli` or `watch`.
    pub source: &'a str,
    /// Months for search.
    pub months: &'a str,
    /// Clients for search.
    pub clients: &'a str,
    /// Validation errors were overridden.
    pub validation_overridden: bool,
}

/// One unit waiting in the outbox.
#[derive(Debug, Clone)]
pub struct OutboxItem {
    /// The send.
    pub send: SendRecord,
    /// Plaintext files, until sealed.
    pub files: Option<Vec<UnitFile>>,
    /// The sealed envelope, once sealed.
    pub envelope: Option<Vec<u8>>,
    /// Attempts so far.
    pub attempts: i64,
}

/// A received message as recorded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ReceivedRecord {
    /// Relay message id.
    pub message_id: String,
    /// Sender office number.
    pub sender: String,
    /// ファイル連番.
    pub file_seq: String,
    /// File names.
    pub files: Vec<String>,
    /// Envelope digest.
    pub digest: String,
    /// `written` (in the import folder, acknowledgement still to go), `imported`, `rejected`,
    /// or `expired` (the relay's word when the acknowledgement came too late).
    pub state: String,
    /// Table kinds (Japanese titles).
    pub kinds: String,
    /// Months.
    pub months: String,
    /// Clients.
    pub clients: String,
    /// Where the files were written.
    pub written_to: Option<String>,
    /// Rejection reasons, or why the state is not `imported` (JSON).
    pub reasons: Option<String>,
    /// When.
    pub at: String,
}

/// A favourite partner office.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Favourite {
    /// Office number.
    pub office: String,
    /// Office name.
    pub name: String,
}

/// The state database of one home.
#[derive(Clone)]
pub struct StateDb {
    pool: SqlitePool,
}

impl std::fmt::Debug for StateDb {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StateDb").finish_non_exhaustive()
    }
}

const SEND_COLS: &str = "id, created_at, recipient, file_seq, files, content_sha256, idempotency_key, source, months, clients, validation_overridden, state, message_id, digest, error, updated_at";

fn send_from_row(r: &sqlx::sqlite::SqliteRow) -> Result<SendRecord, ClientError> {
    let files: String = r.try_get("files")?;
    Ok(SendRecord {
        id: r.try_get("id")?,
        created_at: r.try_get("created_at")?,
        recipient: r.try_get("recipient")?,
        file_seq: r.try_get("file_seq")?,
        files: serde_json::from_str(&files).unwrap_or_default(),
        content_sha256: r.try_get("content_sha256")?,
        idempotency_key: r.try_get("idempotency_key")?,
        source: r.try_get("source")?,
        months: r.try_get("months")?,
        clients: r.try_get("clients")?,
        validation_overridden: r.try_get::<i64, _>("validation_overridden")? != 0,
        state: r.try_get("state")?,
        message_id: r.try_get("message_id")?,
        digest: r.try_get("digest")?,
        error: r.try_get("error")?,
        updated_at: r.try_get("updated_at")?,
    })
}

impl StateDb {
    /// Open (creating and migrating if needed) the database at `path`.
    pub async fn open(path: &Path) -> Result<Self, ClientError> {
        let opts = SqliteConnectOptions::from_str("sqlite://")?
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(15));
        let pool = SqlitePoolOptions::new()
            .max_connections(4)
            .connect_with(opts)
            .await?;
        sqlx::migrate!("./migrations")
            .run(&pool)
            .await
            .map_err(|e| ClientError::Db(sqlx::Error::Migrate(Box::new(e))))?;
        Ok(Self { pool })
    }

    /// Record a send and queue it in the outbox, in one transaction. Returns the local id.
    pub async fn insert_send(&self, s: &NewSend<'_>) -> Result<i64, ClientError> {
        let now = now_rfc3339();
        let names: Vec<&str> = s.files.iter().map(|f| f.name.as_str()).collect();
        let mut tx = self.pool.begin().await?;
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO sends (created_at, recipient, file_seq, files, content_sha256, idempotency_key, source, months, clients, validation_overridden, state, updated_at)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'queued', ?) RETURNING id",
        )
        .bind(&now)
        .bind(s.recipient)
        .bind(s.file_seq)
        .bind(serde_json::to_string(&names).unwrap_or_default())
        .bind(s.content_sha256)
        .bind(uuid::Uuid::new_v4().to_string())
        .bind(s.source)
        .bind(s.months)
        .bind(s.clients)
        .bind(i64::from(s.validation_overridden))
        .bind(&now)
        .fetch_one(&mut *tx)
        .await?;
        sqlx::query("INSERT INTO outbox (send_id, bundle) VALUES (?, ?)")
            .bind(id)
            .bind(encode_files(s.files))
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(id)
    }

    /// The outbox, oldest first (the order sends go out in).
    pub async fn outbox(&self) -> Result<Vec<OutboxItem>, ClientError> {
        let rows = sqlx::query(&format!(
            "SELECT {SEND_COLS}, o.bundle, o.envelope, o.attempts FROM outbox o JOIN sends s ON s.id = o.send_id ORDER BY o.send_id"
        ))
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                let bundle: Option<Vec<u8>> = r.try_get("bundle")?;
                Ok(OutboxItem {
                    send: send_from_row(r)?,
                    files: bundle.map(|b| decode_files(&b)).transpose()?,
                    envelope: r.try_get("envelope")?,
                    attempts: r.try_get("attempts")?,
                })
            })
            .collect()
    }

    /// Remember the sealed envelope of a queued send (and drop the plaintext).
    pub async fn set_envelope(
        &self,
        send_id: i64,
        envelope: &[u8],
        digest: &str,
    ) -> Result<(), ClientError> {
        let mut tx = self.pool.begin().await?;
        sqlx::query("UPDATE outbox SET envelope = ?, bundle = NULL WHERE send_id = ?")
            .bind(envelope)
            .bind(send_id)
            .execute(&mut *tx)
            .await?;
        sqlx::query("UPDATE sends SET digest = ?, updated_at = ? WHERE id = ?")
            .bind(digest)
            .bind(now_rfc3339())
            .bind(send_id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Note a failed attempt that will be retried.
    pub async fn note_attempt(&self, send_id: i64, error: &str) -> Result<(), ClientError> {
        sqlx::query("UPDATE outbox SET attempts = attempts + 1, last_error = ? WHERE send_id = ?")
            .bind(error)
            .bind(send_id)
            .execute(&self.pool)
            .await?;
        sqlx::query("UPDATE sends SET error = ?, updated_at = ? WHERE id = ?")
            .bind(error)
            .bind(now_rfc3339())
            .bind(send_id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// The relay stored the send: record the message id and leave the outbox.
    pub async fn mark_sent(
        &self,
        send_id: i64,
        message_id: &str,
        state: &str,
    ) -> Result<(), ClientError> {
        let mut tx = self.pool.begin().await?;
        sqlx::query(
            "UPDATE sends SET message_id = ?, state = ?, error = NULL, updated_at = ? WHERE id = ?",
        )
        .bind(message_id)
        .bind(state)
        .bind(now_rfc3339())
        .bind(send_id)
        .execute(&mut *tx)
        .await?;
        sqlx::query("DELETE FROM outbox WHERE send_id = ?")
            .bind(send_id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    /// The send was refused for good: record why and leave the outbox.
    pub async fn mark_failed(&self, send_id: i64, error: &str) -> Result<(), ClientError> {
        let mut tx = self.pool.begin().await?;
        sqlx::query("UPDATE sends SET state = 'failed', error = ?, updated_at = ? WHERE id = ?")
            .bind(error)
            .bind(now_rfc3339())
            .bind(send_id)
            .execute(&mut *tx)
            .await?;
        sqlx::query("DELETE FROM outbox WHERE send_id = ?")
            .bind(send_id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Update the state of a sent message (from a receipt or a status poll).
    pub async fn set_send_state(&self, message_id: &str, state: &str) -> Result<(), ClientError> {
        sqlx::query("UPDATE sends SET state = ?, updated_at = ? WHERE message_id = ?")
            .bind(state)
            .bind(now_rfc3339())
            .bind(message_id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// A send of the same content to the same recipient that is still under way or arrived,
    /// if any: sends that failed, were rejected (差し戻し) or expired do not count, so the
    /// same content can be sent again.
    pub async fn find_same_content(
        &self,
        recipient: &str,
        content_sha256: &str,
    ) -> Result<Option<SendRecord>, ClientError> {
        let row = sqlx::query(&format!(
            "SELECT {SEND_COLS} FROM sends WHERE recipient = ? AND content_sha256 = ? AND state NOT IN ('failed', 'rejected', 'expired') ORDER BY id LIMIT 1"
        ))
        .bind(recipient)
        .bind(content_sha256)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(send_from_row).transpose()
    }

    /// One send.
    pub async fn send(&self, id: i64) -> Result<Option<SendRecord>, ClientError> {
        let row = sqlx::query(&format!("SELECT {SEND_COLS} FROM sends WHERE id = ?"))
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(send_from_row).transpose()
    }

    /// Sends, newest first, optionally filtered by a search text (partner, month, client,
    /// file name, state).
    pub async fn sends(
        &self,
        search: Option<&str>,
        limit: i64,
    ) -> Result<Vec<SendRecord>, ClientError> {
        let rows = sqlx::query(&format!(
            "SELECT {SEND_COLS} FROM sends WHERE (recipient || ' ' || {PARTNER_NAME_OF_RECIPIENT} || ' ' || months || ' ' || clients || ' ' || files || ' ' || state) LIKE ? ESCAPE '\\' ORDER BY id DESC LIMIT ?"
        ))
        .bind(like_pattern(search))
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(send_from_row).collect()
    }

    /// Store a receipt (idempotent: the same event twice is kept once).
    pub async fn add_receipt(
        &self,
        message_id: &str,
        event: &str,
        at: &str,
        json: &str,
    ) -> Result<(), ClientError> {
        sqlx::query("INSERT INTO receipts (message_id, event, at, json) VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING")
            .bind(message_id)
            .bind(event)
            .bind(at)
            .bind(json)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// The receipts of a message in the order they were issued.
    pub async fn receipts(&self, message_id: &str) -> Result<Vec<String>, ClientError> {
        let rows: Vec<(String,)> = sqlx::query_as(
            "SELECT json FROM receipts WHERE message_id = ? ORDER BY at, CASE event WHEN 'stored' THEN 0 WHEN 'downloaded' THEN 1 ELSE 2 END",
        )
        .bind(message_id)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.into_iter().map(|r| r.0).collect())
    }

    /// Record a received message.
    pub async fn record_received(&self, r: &ReceivedRecord) -> Result<(), ClientError> {
        sqlx::query(
            "INSERT INTO received (message_id, sender, file_seq, files, digest, state, kinds, months, clients, written_to, reasons, at)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
             ON CONFLICT (message_id) DO UPDATE SET state = excluded.state, written_to = excluded.written_to, reasons = excluded.reasons, at = excluded.at",
        )
        .bind(&r.message_id)
        .bind(&r.sender)
        .bind(&r.file_seq)
        .bind(serde_json::to_string(&r.files).unwrap_or_default())
        .bind(&r.digest)
        .bind(&r.state)
        .bind(&r.kinds)
        .bind(&r.months)
        .bind(&r.clients)
        .bind(&r.written_to)
        .bind(&r.reasons)
        .bind(&r.at)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// A received message, if this device processed it.
    pub async fn received(&self, message_id: &str) -> Result<Option<ReceivedRecord>, ClientError> {
        Ok(self
            .received_where("WHERE message_id = ?", Some(message_id), 1)
            .await?
            .pop())
    }

    /// Received messages, newest first.
    pub async fn received_list(&self, limit: i64) -> Result<Vec<ReceivedRecord>, ClientError> {
        self.received_where("", None, limit).await
    }

    /// Received messages, newest first, whose sender, month, client, file names, table kinds
    /// or state contain `search` (taken literally: `_` and `%` are not wildcards).
    pub async fn received_search(
        &self,
        search: &str,
        limit: i64,
    ) -> Result<Vec<ReceivedRecord>, ClientError> {
        let pattern = like_pattern(Some(search));
        self.received_where(
            &format!("WHERE (sender || ' ' || {PARTNER_NAME_OF_SENDER} || ' ' || months || ' ' || clients || ' ' || files || ' ' || kinds || ' ' || state) LIKE ? ESCAPE '\\'"),
            Some(&pattern),
            limit,
        )
        .await
    }

    async fn received_where(
        &self,
        filter: &str,
        arg: Option<&str>,
        limit: i64,
    ) -> Result<Vec<ReceivedRecord>, ClientError> {
        let sql = format!(
            "SELECT message_id, sender, file_seq, files, digest, state, kinds, months, clients, written_to, reasons, at FROM received {filter} ORDER BY at DESC LIMIT ?"
        );
        let mut q = sqlx::query(&sql);
        if let Some(a) = arg {
            q = q.bind(a);
        }
        let rows = q.bind(limit).fetch_all(&self.pool).await?;
        rows.iter()
            .map(|r| {
                let files: String = r.try_get("files")?;
                Ok(ReceivedRecord {
                    message_id: r.try_get("message_id")?,
                    sender: r.try_get("sender")?,
                    file_seq: r.try_get("file_seq")?,
                    files: serde_json::from_str(&files).unwrap_or_default(),
                    digest: r.try_get("digest")?,
                    state: r.try_get("state")?,
                    kinds: r.try_get("kinds")?,
                    months: r.try_get("months")?,
                    clients: r.try_get("clients")?,
                    written_to: r.try_get("written_to")?,
                    reasons: r.try_get("reasons")?,
                    at: r.try_get("at")?,
                })
            })
            .collect()
    }

    /// Add (or rename) a favourite.
    pub async fn add_favourite(&self, office: &str, name: &str) -> Result<(), ClientError> {
        sqlx::query("INSERT INTO favourites (office, name, added_at) VALUES (?, ?, ?) ON CONFLICT (office) DO UPDATE SET name = excluded.name")
            .bind(office)
            .bind(name)
            .bind(now_rfc3339())
            .execute(&self.pool)
            .await?;
        self.remember_partner(office, name).await
    }

    /// Remove a favourite.
    pub async fn remove_favourite(&self, office: &str) -> Result<(), ClientError> {
        sqlx::query("DELETE FROM favourites WHERE office = ?")
            .bind(office)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Favourites in the order they were added.
    pub async fn favourites(&self) -> Result<Vec<Favourite>, ClientError> {
        let rows: Vec<(String, String)> =
            sqlx::query_as("SELECT office, name FROM favourites ORDER BY added_at, office")
                .fetch_all(&self.pool)
                .await?;
        Ok(rows
            .into_iter()
            .map(|(office, name)| Favourite { office, name })
            .collect())
    }

    /// Record a local event (e.g. a validation override).
    pub async fn record_event(
        &self,
        kind: &str,
        detail: &serde_json::Value,
    ) -> Result<(), ClientError> {
        sqlx::query("INSERT INTO events (at, kind, detail) VALUES (?, ?, ?)")
            .bind(now_rfc3339())
            .bind(kind)
            .bind(detail.to_string())
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Local events, oldest first.
    pub async fn events(&self) -> Result<Vec<(String, String, serde_json::Value)>, ClientError> {
        let rows: Vec<(String, String, String)> =
            sqlx::query_as("SELECT at, kind, detail FROM events ORDER BY id")
                .fetch_all(&self.pool)
                .await?;
        Ok(rows
            .into_iter()
            .map(|(a, k, d)| {
                (
                    a,
                    k,
                    serde_json::from_str(&d).unwrap_or(serde_json::Value::Null),
                )
            })
            .collect())
    }
}

/// The partner's name (or nothing) for a send's recipient / a received message's sender.
const PARTNER_NAME_OF_RECIPIENT: &str =
    "COALESCE((SELECT name FROM partners p WHERE p.office = sends.recipient), '')";
const PARTNER_NAME_OF_SENDER: &str =
    "COALESCE((SELECT name FROM partners p WHERE p.office = received.sender), '')";

impl StateDb {
    /// Remember a partner office's name as the directory gave it (for searching history by
    /// name).
    pub async fn remember_partner(&self, office: &str, name: &str) -> Result<(), ClientError> {
        sqlx::query(
            "INSERT INTO partners (office, name, seen_at) VALUES (?, ?, ?) \
             ON CONFLICT(office) DO UPDATE SET name = excluded.name, seen_at = excluded.seen_at",
        )
        .bind(office)
        .bind(name)
        .bind(now_rfc3339())
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// A partner's remembered name.
    pub async fn partner_name(&self, office: &str) -> Result<Option<String>, ClientError> {
        Ok(
            sqlx::query_scalar("SELECT name FROM partners WHERE office = ?")
                .bind(office)
                .fetch_optional(&self.pool)
                .await?,
        )
    }
}

/// A `LIKE … ESCAPE '\'` pattern matching `search` literally anywhere in the text.
fn like_pattern(search: Option<&str>) -> String {
    let mut p = String::from("%");
    for c in search.unwrap_or("").chars() {
        if matches!(c, '\\' | '%' | '_') {
            p.push('\\');
        }
        p.push(c);
    }
    p.push('%');
    p
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unit(n: &str, b: &[u8]) -> UnitFile {
        UnitFile {
            name: n.into(),
            bytes: b.to_vec(),
        }
    }

    #[test]
    fn bundle_round_trip_and_truncation() {
        let files = vec![unit("A.CSV", b"1,2\r\n"), unit("B.CSV", b"")];
        let enc = encode_files(&files);
        assert_eq!(decode_files(&enc).unwrap(), files);
        for n in 1..enc.len() {
            let _ = decode_files(&enc[..n]); // never panics
        }
        assert!(decode_files(&enc[..enc.len() - 1]).is_err());
    }

    /// History search takes the text literally: a file name with `_` matches itself, and `%`
    /// or `_` are not wildcards; received messages are searchable the same way.
    #[tokio::test]
    async fn history_search_is_literal() {
        let dir = tempfile::tempdir().unwrap();
        let db = StateDb::open(&dir.path().join("s.db")).await.unwrap();
        let files = vec![unit(
            "UPPLAN_1310000019_43_1320000018_11_20250425090000.CSV",
            b"x",
        )];
        db.insert_send(&NewSend {
            recipient: "1320000018",
            file_seq: "20250425090000",
            files: &files,
            content_sha256: "h",
            source: "cli",
            months: "202505",
            clients: "0000012345",
            validation_overridden: false,
        })
        .await
        .unwrap();
        let hits = |s: &'static str| {
            let db = &db;
            async move { db.sends(Some(s), 10).await.unwrap().len() }
        };
        assert_eq!(hits("UPPLAN_1310000019").await, 1);
        assert_eq!(hits("0000012345").await, 1);
        assert_eq!(hits("202505").await, 1);
        assert_eq!(hits("UPPLAN%1310000019").await, 0, "% is not a wildcard");
        assert_eq!(hits("UPPLAN_131_").await, 0, "_ is not a wildcard");
        assert_eq!(hits("").await, 1);
        db.record_received(&ReceivedRecord {
            message_id: "m1".into(),
            sender: "1320000018".into(),
            file_seq: "20250601100000".into(),
            files: vec!["UPJSK_1320000018_11_1310000019_43_20250601100000.CSV".into()],
            digest: "d".into(),
            state: "imported".into(),
            kinds: "実績".into(),
            months: "202505".into(),
            clients: "0000012345".into(),
            written_to: None,
            reasons: None,
            at: "2025-06-01T10:00:00Z".into(),
        })
        .await
        .unwrap();
        assert_eq!(
            db.received_search("UPJSK_1320000018", 10)
                .await
                .unwrap()
                .len(),
            1
        );
        assert_eq!(db.received_search("実績", 10).await.unwrap().len(), 1);
        assert!(db.received_search("UPPLAN", 10).await.unwrap().is_empty());

        // By the partner's name, once the directory (or a favourite) told it; a renamed
        // office is found under its new name only.
        assert_eq!(hits("れんけい訪問").await, 0);
        db.remember_partner("1320000018", "れんけい訪問介護")
            .await
            .unwrap();
        assert_eq!(hits("れんけい訪問").await, 1);
        assert_eq!(
            db.received_search("れんけい訪問", 10).await.unwrap().len(),
            1
        );
        db.add_favourite("1320000018", "れんけいヘルパーステーション")
            .await
            .unwrap();
        assert_eq!(hits("ヘルパーステーション").await, 1);
        assert_eq!(hits("れんけい訪問").await, 0);
        assert_eq!(
            db.partner_name("1320000018").await.unwrap().as_deref(),
            Some("れんけいヘルパーステーション")
        );
    }

    #[tokio::test]
    async fn outbox_keeps_order_and_envelope() {
        let dir = tempfile::tempdir().unwrap();
        let db = StateDb::open(&dir.path().join("s.db")).await.unwrap();
        let mut ids = Vec::new();
        for i in 0..3 {
            let files = vec![unit(&format!("F{i}.CSV"), b"x")];
            let id = db
                .insert_send(&NewSend {
                    recipient: "0300000005",
                    file_seq: "20250101000000",
                    files: &files,
                    content_sha256: &format!("h{i}"),
                    source: "cli",
                    months: "202501",
                    clients: "",
                    validation_overridden: false,
                })
                .await
                .unwrap();
            ids.push(id);
        }
        let q = db.outbox().await.unwrap();
        assert_eq!(q.iter().map(|i| i.send.id).collect::<Vec<_>>(), ids);
        assert_eq!(q[1].files.as_ref().unwrap()[0].name, "F1.CSV");

        db.set_envelope(ids[0], b"ENV", "d0").await.unwrap();
        let q = db.outbox().await.unwrap();
        assert!(q[0].files.is_none());
        assert_eq!(q[0].envelope.as_deref(), Some(&b"ENV"[..]));

        db.mark_sent(ids[0], "m0", "stored").await.unwrap();
        db.mark_failed(ids[2], "refused").await.unwrap();
        let q = db.outbox().await.unwrap();
        assert_eq!(q.len(), 1);
        assert_eq!(q[0].send.id, ids[1]);

        assert!(db
            .find_same_content("0300000005", "h0")
            .await
            .unwrap()
            .is_some());
        assert!(
            db.find_same_content("0300000005", "h2")
                .await
                .unwrap()
                .is_none(),
            "failed sends may be retried"
        );
        // A send the recipient rejected (差し戻し) or that expired may be sent again too.
        for state in ["rejected", "expired"] {
            db.set_send_state("m0", state).await.unwrap();
            assert!(
                db.find_same_content("0300000005", "h0")
                    .await
                    .unwrap()
                    .is_none(),
                "{state} sends may be sent again"
            );
        }
        db.set_send_state("m0", "imported").await.unwrap();
        assert!(db
            .find_same_content("0300000005", "h0")
            .await
            .unwrap()
            .is_some());
        assert!(db
            .find_same_content("0300000013", "h0")
            .await
            .unwrap()
            .is_none());
        let all = db.sends(Some("202501"), 10).await.unwrap();
        assert_eq!(all.len(), 3);
        assert_eq!(all[0].id, ids[2]);
    }

    #[tokio::test]
    async fn two_handles_share_one_database() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.db");
        let a = StateDb::open(&path).await.unwrap();
        let b = StateDb::open(&path).await.unwrap();
        let (ra, rb) = tokio::join!(
            async {
                for i in 0..20 {
                    a.add_favourite(&format!("03000{i:05}"), "a").await.unwrap();
                }
            },
            async {
                for i in 0..20 {
                    b.record_event("x", &serde_json::json!({ "i": i }))
                        .await
                        .unwrap();
                }
            }
        );
        let _ = (ra, rb);
        assert_eq!(a.favourites().await.unwrap().len(), 20);
        assert_eq!(b.events().await.unwrap().len(), 20);
    }
}
