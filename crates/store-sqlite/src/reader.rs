//! The hot reads of the message flow (authentication of every request, the message a download
//! or ack names, inbox pages, idempotency, recipient and certificate checks of a send) on a few connection
//! threads of their own ([`crate::thread`]): one job per read, two thread wake-ups, where a sqlx
//! read costs more (the statement's worker, the pool's return). Other reads stay on the pool.
//!
//! The connections are `query_only`: a read that tried to write would fail.

use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use renkei_store::StoreResult;
use rusqlite::{Connection, Params, Row};

use crate::map_sql_err;
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

    /// Run `f` on the next reader thread.
    pub(crate) async fn run<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Connection) -> StoreResult<T> + Send + 'static,
    ) -> StoreResult<T> {
        let i = self.next.fetch_add(1, Ordering::Relaxed) % self.threads.len();
        self.threads[i].run(f).await?
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
