//! The hot reads of the message flow (authentication of every request, the message a download
//! or ack names, inbox pages, idempotency, recipient and certificate checks of a send) on a few
//! connection threads of their own ([`crate::thread`]): one job per read, two thread wake-ups,
//! where a sqlx read costs more (the statement's worker, the pool's return). Other reads stay on
//! the pool. The message lookups here are also the writer's, inside its transactions.
//!
//! The connections are `query_only`: a read that tried to write would fail.

use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use renkei_ids::OfficeNumber;
use renkei_store::{MessageId, MessageRecord, StoreResult};
use rusqlite::{params, Connection, Params, Row};

use crate::map_sql_err;
use crate::messaging::{message_from_row, MESSAGE_COLUMNS};
use crate::thread::{open_connection, ConnThread};

/// Reader threads: one per core of the machines this runs on is plenty, as a read takes
/// microseconds.
const READERS: usize = 2;

/// The reader threads, used in turn.
#[derive(Debug)]
pub(crate) struct Readers {
    threads: Vec<ConnThread>,
    next: AtomicUsize,
}

impl Readers {
    /// Open the connections and start their threads.
    pub(crate) fn open(path: &Path, busy_timeout: Duration) -> StoreResult<Self> {
        let threads = (0..READERS)
            .map(|_| {
                ConnThread::start(
                    "renkei-sqlite-reader",
                    open_connection(path, busy_timeout, true)?,
                )
            })
            .collect::<StoreResult<_>>()?;
        Ok(Self {
            threads,
            next: AtomicUsize::new(0),
        })
    }

    /// Run `f` on the reader thread with the fewest jobs waiting (ties in turn), so that a
    /// long page does not hold up the short reads queued behind it.
    pub(crate) async fn run<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Connection) -> StoreResult<T> + Send + 'static,
    ) -> StoreResult<T> {
        let n = self.threads.len();
        let start = self.next.fetch_add(1, Ordering::Relaxed);
        let thread = (0..n)
            .map(|k| &self.threads[(start + k) % n])
            .min_by_key(|t| t.pending())
            .expect("at least one reader thread");
        thread.run(f).await?
    }
}

/// The first row of `sql`, decoded, if any.
pub(crate) fn query_opt<T>(
    conn: &Connection,
    sql: &str,
    params: impl Params,
    decode: impl FnOnce(&Row<'_>) -> StoreResult<T>,
) -> StoreResult<Option<T>> {
    let mut st = conn.prepare_cached(sql).map_err(map_sql_err)?;
    let mut rows = st.query(params).map_err(map_sql_err)?;
    match rows.next().map_err(map_sql_err)? {
        Some(row) => decode(row).map(Some),
        None => Ok(None),
    }
}

/// The message `id`.
pub(crate) fn message_by_id(
    conn: &Connection,
    id: &MessageId,
) -> StoreResult<Option<MessageRecord>> {
    let sql = format!("SELECT {MESSAGE_COLUMNS} FROM messages WHERE id = ?");
    query_opt(conn, &sql, [id.to_string()], |r| message_from_row(r))
}

/// The message `sender` sent under idempotency key `key`.
pub(crate) fn message_by_key(
    conn: &Connection,
    sender: &OfficeNumber,
    key: &str,
) -> StoreResult<Option<MessageRecord>> {
    let sql =
        format!("SELECT {MESSAGE_COLUMNS} FROM messages WHERE sender = ? AND idempotency_key = ?");
    query_opt(conn, &sql, params![sender.as_str(), key], |r| {
        message_from_row(r)
    })
}

/// Every row of `sql`, decoded.
pub(crate) fn query_all<T>(
    conn: &Connection,
    sql: &str,
    params: impl Params,
    decode: impl Fn(&Row<'_>) -> StoreResult<T>,
) -> StoreResult<Vec<T>> {
    let mut st = conn.prepare_cached(sql).map_err(map_sql_err)?;
    let mut rows = st.query(params).map_err(map_sql_err)?;
    let mut out = Vec::new();
    while let Some(row) = rows.next().map_err(map_sql_err)? {
        out.push(decode(row)?);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// While one reader thread is held by a long job, short reads go to the other one instead
    /// of queueing behind it (with plain turns, every second read would wait).
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn short_reads_do_not_queue_behind_a_long_one() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("r.db");
        Connection::open(&path)
            .unwrap()
            .execute_batch("PRAGMA journal_mode = WAL; CREATE TABLE t (n INTEGER)")
            .unwrap();
        let readers = std::sync::Arc::new(Readers::open(&path, Duration::from_secs(1)).unwrap());
        let (release, held) = std::sync::mpsc::channel::<()>();
        let long = tokio::spawn({
            let readers = readers.clone();
            async move {
                readers
                    .run(move |_| {
                        held.recv().ok();
                        Ok(())
                    })
                    .await
            }
        });
        while readers.threads.iter().all(|t| t.pending() == 0) {
            tokio::task::yield_now().await;
        }
        let short = async {
            for _ in 0..4 {
                readers
                    .run(|c| {
                        query_opt(c, "SELECT COUNT(*) AS n FROM t", [], |r| {
                            Ok(r.get::<_, i64>(0))
                        })
                    })
                    .await
                    .unwrap();
            }
        };
        let done = tokio::time::timeout(Duration::from_secs(10), short).await;
        release.send(()).unwrap();
        long.await.unwrap().unwrap();
        assert!(done.is_ok(), "a short read waited behind the long one");
    }
}
