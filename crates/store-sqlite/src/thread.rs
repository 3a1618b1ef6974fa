//! A rusqlite connection owned by one thread, which runs the jobs sent to it in order: a job
//! (however many statements) costs its caller two thread wake-ups, where sqlx costs two per
//! statement. The message writer ([`crate::writer`]) is one such thread; the hot reads
//! ([`crate::reader`]) run on a few more.

use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Arc};
use std::time::Duration;

use renkei_store::{StoreError, StoreResult};
use rusqlite::Connection;

use crate::map_sql_err;

type Job = Box<dyn FnOnce(&Connection) + Send>;

/// The queue of one connection thread. The thread ends when every clone is dropped.
pub(crate) struct ConnThread {
    name: &'static str,
    jobs: mpsc::SyncSender<Job>,
    /// Jobs sent and not yet finished.
    pending: Arc<AtomicUsize>,
}

impl std::fmt::Debug for ConnThread {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConnThread")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

/// Open a connection to the database file at `path` (which exists and is migrated) with the
/// pool's durability settings: WAL, `synchronous=FULL`, foreign keys, the same busy timeout.
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

/// Jobs a thread holds waiting, beyond which callers hear "busy" at once instead of queueing
/// without bound (in service the requests in flight bound it far lower).
const QUEUE_LIMIT: usize = 4096;

impl ConnThread {
    /// Start a thread that owns `conn`.
    pub(crate) fn start(name: &'static str, conn: Connection) -> StoreResult<Self> {
        Self::start_with_limit(name, conn, QUEUE_LIMIT)
    }

    fn start_with_limit(name: &'static str, conn: Connection, limit: usize) -> StoreResult<Self> {
        let (jobs, queue) = mpsc::sync_channel::<Job>(limit);
        std::thread::Builder::new()
            .name(name.into())
            .spawn(move || {
                for job in queue {
                    job(&conn);
                    // No job may leave a transaction open for the next (a rollback that failed
                    // inside a job): every later BEGIN would fail.
                    if !conn.is_autocommit() {
                        if let Err(e) = conn.execute_batch("ROLLBACK") {
                            tracing::error!(thread = name, error = %e, "cannot end an open transaction");
                        }
                    }
                }
            })
            .map_err(|e| StoreError::Unavailable(format!("cannot start {name}: {e}")))?;
        Ok(Self {
            name,
            jobs,
            pending: Arc::new(AtomicUsize::new(0)),
        })
    }

    /// Jobs sent to this thread and not yet finished.
    pub(crate) fn pending(&self) -> usize {
        self.pending.load(Ordering::Relaxed)
    }

    /// Run `f` on the thread and wait for its answer. A job runs to its end even if the caller
    /// stops waiting (a write still commits, as a request whose client went away).
    pub(crate) async fn run<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Connection) -> T + Send + 'static,
    ) -> StoreResult<T> {
        let name = self.name;
        let stopped = || StoreError::Unavailable(format!("the SQLite thread {name} stopped"));
        let (reply, answer) = tokio::sync::oneshot::channel();
        let pending = self.pending.clone();
        pending.fetch_add(1, Ordering::Relaxed);
        let sent = self.jobs.try_send(Box::new(move |c| {
            // A panicking job is an error; the loop then ends the transaction it left open
            // and goes on with the next job.
            let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| f(c))).map_err(|_| {
                StoreError::Unavailable(format!(
                    "a job on the SQLite thread {name} failed and was rolled back"
                ))
            });
            pending.fetch_sub(1, Ordering::Relaxed);
            let _ = reply.send(r);
        }));
        if let Err(e) = sent {
            self.pending.fetch_sub(1, Ordering::Relaxed);
            return Err(match e {
                mpsc::TrySendError::Full(_) => StoreError::Unavailable(format!(
                    "the SQLite thread {name} is busy ({} jobs waiting)",
                    self.pending()
                )),
                mpsc::TrySendError::Disconnected(_) => stopped(),
            });
        }
        answer.await.map_err(|_| stopped())?
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn thread() -> (tempfile::TempDir, ConnThread) {
        let dir = tempfile::tempdir().unwrap();
        let conn =
            open_connection(&dir.path().join("t.db"), Duration::from_secs(1), false).unwrap();
        conn.execute_batch("CREATE TABLE t (n INTEGER)").unwrap();
        (dir, ConnThread::start("renkei-test-thread", conn).unwrap())
    }

    /// A job that leaves its transaction open does not leave it to the next job: that one can
    /// begin its own, and the abandoned one's changes are gone.
    #[tokio::test]
    async fn an_open_transaction_does_not_outlive_its_job() {
        let (_dir, t) = thread();
        t.run(|c| c.execute_batch("BEGIN IMMEDIATE; INSERT INTO t VALUES (1)"))
            .await
            .unwrap()
            .unwrap();
        let n: i64 = t
            .run(|c| {
                c.execute_batch("BEGIN IMMEDIATE; INSERT INTO t VALUES (2); COMMIT")?;
                c.query_row("SELECT COUNT(*) FROM t", [], |r| r.get(0))
            })
            .await
            .unwrap()
            .unwrap();
        assert_eq!(n, 1, "only the committed row");
    }

    /// A thread whose queue is full answers "busy" at once; once it catches up it takes jobs
    /// again.
    #[tokio::test]
    async fn a_full_queue_answers_busy() {
        let dir = tempfile::tempdir().unwrap();
        let conn =
            open_connection(&dir.path().join("q.db"), Duration::from_secs(1), false).unwrap();
        let t = std::sync::Arc::new(
            ConnThread::start_with_limit("renkei-test-queue", conn, 2).unwrap(),
        );
        let (release, held) = mpsc::channel::<()>();
        let (started, running) = mpsc::channel::<()>();
        let first = tokio::spawn({
            let t = t.clone();
            async move {
                t.run(move |_| {
                    started.send(()).unwrap();
                    held.recv().ok();
                })
                .await
            }
        });
        tokio::task::spawn_blocking(move || running.recv().unwrap())
            .await
            .unwrap();
        // The running job holds the thread; two more fill the queue.
        let queued: Vec<_> = (0..2)
            .map(|_| {
                let t = t.clone();
                tokio::spawn(async move { t.run(|_| ()).await })
            })
            .collect();
        while t.pending() < 3 {
            tokio::task::yield_now().await;
        }
        let e = t.run(|_| ()).await.unwrap_err();
        assert!(e.to_string().contains("busy"), "{e}");
        release.send(()).unwrap();
        first.await.unwrap().unwrap();
        for q in queued {
            q.await.unwrap().unwrap();
        }
        t.run(|_| ()).await.unwrap();
    }

    /// A panicking job answers with an error of its own and the thread serves the next job.
    #[tokio::test]
    async fn a_panicking_job_is_an_error_and_the_thread_goes_on() {
        let (_dir, t) = thread();
        let e = t
            .run(|_| -> i64 { panic!("a job that fails") })
            .await
            .unwrap_err();
        assert!(e.to_string().contains("rolled back"), "{e}");
        let one: i64 = t
            .run(|c| c.query_row("SELECT 1", [], |r| r.get(0)))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(one, 1);
    }
}
