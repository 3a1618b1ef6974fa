//! A rusqlite connection owned by one thread, which runs the jobs sent to it in order: a job
//! (however many statements) costs its caller two thread wake-ups, where sqlx costs two per
//! statement. The message writer ([`crate::writer`]) is one such thread; the hot reads
//! ([`crate::reader`]) run on a few more.

use std::path::Path;
use std::sync::mpsc;
use std::time::Duration;

use renkei_store::{StoreError, StoreResult};
use rusqlite::Connection;

use crate::map_sql_err;

type Job = Box<dyn FnOnce(&Connection) + Send>;

/// The queue of one connection thread. The thread ends when every clone is dropped.
pub(crate) struct ConnThread {
    name: &'static str,
    jobs: mpsc::Sender<Job>,
}

impl std::fmt::Debug for ConnThread {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConnThread")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

/// Open a connection to the database file at `path` (which exists and is migrated) with the
/// pool's settings: WAL, `synchronous=FULL`, foreign keys, the same busy timeout.
/// `query_only` connections refuse every write.
pub(crate) fn open_connection(
    path: &Path,
    busy_timeout: Duration,
    query_only: bool,
) -> StoreResult<Connection> {
    let conn = Connection::open(path).map_err(map_sql_err)?;
    conn.busy_timeout(busy_timeout).map_err(map_sql_err)?;
    conn.pragma_update(None, "journal_mode", "WAL")
        .map_err(map_sql_err)?;
    conn.pragma_update(None, "synchronous", "FULL")
        .map_err(map_sql_err)?;
    conn.pragma_update(None, "foreign_keys", "ON")
        .map_err(map_sql_err)?;
    conn.pragma_update(None, "query_only", query_only)
        .map_err(map_sql_err)?;
    conn.set_prepared_statement_cache_capacity(32);
    Ok(conn)
}

impl ConnThread {
    /// Start a thread that owns `conn`.
    pub(crate) fn start(name: &'static str, conn: Connection) -> StoreResult<Self> {
        let (jobs, queue) = mpsc::channel::<Job>();
        std::thread::Builder::new()
            .name(name.into())
            .spawn(move || {
                for job in queue {
                    // A panicking job drops its reply (its caller hears "stopped"); the
                    // thread and the connection carry on with the next.
                    let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| job(&conn)));
                }
            })
            .map_err(|e| StoreError::Unavailable(format!("cannot start {name}: {e}")))?;
        Ok(Self { name, jobs })
    }

    /// Run `f` on the thread and wait for its answer.
    pub(crate) async fn run<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Connection) -> T + Send + 'static,
    ) -> StoreResult<T> {
        let stopped =
            || StoreError::Unavailable(format!("the SQLite thread {} stopped", self.name));
        let (reply, answer) = tokio::sync::oneshot::channel();
        self.jobs
            .send(Box::new(move |c| {
                let _ = reply.send(f(c));
            }))
            .map_err(|_| stopped())?;
        answer.await.map_err(|_| stopped())
    }
}
