//! Group commit: concurrent message writes (sends, downloads, acks) of one relay node share one
//! metadata transaction, and so one durable commit.
//!
//! On SQLite every commit is a WAL fsync and only one writer runs at a time, so three commits per
//! file (stored, downloaded, acknowledged) each waiting for the disk cap the relay at a fraction of
//! what the disk can do. The [`GroupCommitter`] is one task per node that takes every write queued
//! while the previous batch was committing and hands them to
//! [`MessagingStore::write_batch`](renkei_store::MessagingStore::write_batch) as one transaction
//! (each write in its own savepoint, so one write's conflict does not touch the others). No
//! request waits for a timer: under light load a batch is one write; under load batches grow by
//! themselves. A request hears "ok" only after the shared commit returned, so durability is
//! exactly that of one transaction per request.
//!
//! Backends whose concurrent transactions already share flushes (PostgreSQL) say so through
//! `prefers_group_commit() == false`, and the relay calls them directly.

use std::sync::Arc;

use renkei_store::{MessageWrite, MessageWritten, SharedSealer, Store, StoreError, StoreResult};
use tokio::sync::{mpsc, oneshot};

/// Largest batch: bounds the time one transaction holds SQLite's write lock.
const MAX_BATCH: usize = 128;

struct Job {
    write: MessageWrite,
    reply: oneshot::Sender<StoreResult<MessageWritten>>,
}

/// The queue of one node's writer task.
#[derive(Debug, Clone)]
pub(crate) struct GroupCommitter {
    queue: mpsc::UnboundedSender<Job>,
}

impl std::fmt::Debug for Job {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Job").finish_non_exhaustive()
    }
}

impl GroupCommitter {
    /// Start the writer task on the current Tokio runtime.
    pub(crate) fn start(store: Arc<dyn Store>, sealer: SharedSealer) -> Self {
        let (queue, rx) = mpsc::unbounded_channel();
        tokio::spawn(writer(store, sealer, rx));
        Self { queue }
    }

    /// Queue one write and wait until the batch holding it has committed. `Err(write)` if the
    /// writer task is gone (its runtime shut down) before taking it: the caller writes directly.
    pub(crate) async fn submit(
        &self,
        write: MessageWrite,
    ) -> Result<StoreResult<MessageWritten>, MessageWrite> {
        let (reply, rx) = oneshot::channel();
        if let Err(mpsc::error::SendError(job)) = self.queue.send(Job { write, reply }) {
            return Err(job.write);
        }
        // The task dropped the reply without answering only if it stopped mid-batch: whether
        // that batch committed is unknown, as after a lost connection.
        Ok(rx.await.unwrap_or_else(|_| {
            Err(StoreError::Unavailable(
                "the writer task stopped during a commit".into(),
            ))
        }))
    }
}

async fn writer(store: Arc<dyn Store>, sealer: SharedSealer, mut rx: mpsc::UnboundedReceiver<Job>) {
    let mut jobs: Vec<Job> = Vec::with_capacity(MAX_BATCH);
    while rx.recv_many(&mut jobs, MAX_BATCH).await > 0 {
        let (writes, replies): (Vec<MessageWrite>, Vec<_>) =
            jobs.drain(..).map(|j| (j.write, j.reply)).unzip();
        let results = store.write_batch(&writes, &sealer).await;
        debug_assert_eq!(results.len(), replies.len());
        let mut results = results.into_iter();
        for reply in replies {
            let r = results.next().unwrap_or_else(|| {
                Err(StoreError::Unavailable(
                    "the store answered fewer writes than the batch held".into(),
                ))
            });
            // A requester that went away still had its write committed (a retry with the same
            // idempotency key finds it).
            let _ = reply.send(r);
        }
    }
}
