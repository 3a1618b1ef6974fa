//! Wake-ups for long-polling inbox listings (`GET /messages/inbox?wait=N`).
//!
//! A listing that finds nothing new waits on its office's [`Notify`]; a send stored through this
//! node wakes it at once, and so does one stored through another node when the store announces
//! it ([`forward_store_events`]: PostgreSQL LISTEN/NOTIFY). The signal is only a hint: a waiting
//! listing also re-reads the store every
//! [`RelayConfig::inbox_recheck`](crate::RelayConfig::inbox_recheck), so a lost event delays a
//! message by at most that interval and the nodes stay stateless.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, Weak};

use renkei_ids::OfficeNumber;
use tokio::sync::Notify;

/// Forward the store's inbox events to the node's signals for as long as the relay state lives;
/// a lost subscription is renewed after a second (events in the gap are caught by re-reads).
pub(crate) async fn forward_store_events(inner: std::sync::Weak<crate::Inner>) {
    use futures::StreamExt;
    loop {
        let Some(state) = inner.upgrade() else { return };
        let events = state.store.inbox_events().await;
        drop(state);
        match events {
            Ok(None) => return,
            Ok(Some(mut events)) => {
                while let Some(event) = events.next().await {
                    let Some(state) = inner.upgrade() else { return };
                    match event {
                        Ok(office) => state.inbox_signals.notify(&office),
                        Err(e) => {
                            tracing::warn!(error = %e, "inbox events interrupted");
                            break;
                        }
                    }
                }
            }
            Err(e) => tracing::warn!(error = %e, "cannot listen to inbox events"),
        }
        tokio::time::sleep(std::time::Duration::from_secs(1)).await;
    }
}

/// One [`Notify`] per office that has a listing waiting on this node.
#[derive(Default)]
pub(crate) struct InboxSignals {
    inner: Mutex<Signals>,
    /// Set when the node shuts down: no listing waits any more.
    closed: AtomicBool,
    closing: Notify,
}

#[derive(Default)]
struct Signals {
    offices: HashMap<OfficeNumber, Weak<Notify>>,
    /// Size at which entries of offices nobody waits for any more are dropped.
    sweep_at: usize,
}

/// Entries kept before the first sweep.
const SWEEP_MIN: usize = 64;

impl InboxSignals {
    /// The office's signal; hold it while waiting (the entry lives as long as someone does).
    pub(crate) fn subscribe(&self, office: &OfficeNumber) -> Arc<Notify> {
        let mut s = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(n) = s.offices.get(office).and_then(Weak::upgrade) {
            return n;
        }
        if s.offices.len() >= s.sweep_at.max(SWEEP_MIN) {
            s.offices.retain(|_, w| w.strong_count() > 0);
            s.sweep_at = (s.offices.len() * 2).max(SWEEP_MIN);
        }
        let n = Arc::new(Notify::new());
        s.offices.insert(office.clone(), Arc::downgrade(&n));
        n
    }

    /// Wake every listing of `office` waiting on this node.
    pub(crate) fn notify(&self, office: &OfficeNumber) {
        let n = self
            .inner
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .offices
            .get(office)
            .and_then(Weak::upgrade);
        if let Some(n) = n {
            n.notify_waiters();
        }
    }

    /// Wait for `signal` (already enabled by the caller) for at most `nap`, or until the node
    /// shuts down; whether the node is shutting down.
    pub(crate) async fn wait(
        &self,
        signal: std::pin::Pin<&mut tokio::sync::futures::Notified<'_>>,
        nap: std::time::Duration,
    ) -> bool {
        let closing = self.closing.notified();
        tokio::pin!(closing);
        closing.as_mut().enable();
        if self.closed.load(Ordering::SeqCst) {
            return true;
        }
        tokio::select! {
            () = signal => {}
            () = closing => {}
            () = tokio::time::sleep(nap) => {}
        }
        self.closed.load(Ordering::SeqCst)
    }

    /// The node shuts down: wake every waiting listing, and let none wait from now on.
    pub(crate) fn close(&self) {
        self.closed.store(true, Ordering::SeqCst);
        self.closing.notify_waiters();
    }

    /// Offices with an entry (live or not yet swept).
    #[cfg(test)]
    fn entries(&self) -> usize {
        self.inner
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .offices
            .len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn office(n: u32) -> OfficeNumber {
        format!("13{n:08}").parse().expect("office number")
    }

    #[tokio::test]
    async fn a_notify_wakes_only_that_office() {
        let s = InboxSignals::default();
        let (a, b) = (s.subscribe(&office(1)), s.subscribe(&office(2)));
        let wait_a = a.notified();
        let wait_b = b.notified();
        tokio::pin!(wait_a, wait_b);
        wait_a.as_mut().enable();
        wait_b.as_mut().enable();
        s.notify(&office(1));
        tokio::time::timeout(Duration::from_secs(1), wait_a)
            .await
            .expect("office 1 woken");
        assert!(
            tokio::time::timeout(Duration::from_millis(50), wait_b)
                .await
                .is_err(),
            "office 2 not woken"
        );
    }

    #[tokio::test]
    async fn a_notify_before_the_wait_is_not_lost_once_enabled() {
        let s = InboxSignals::default();
        let n = s.subscribe(&office(3));
        let wait = n.notified();
        tokio::pin!(wait);
        // Registered before the store is read, so a send between the read and the wait counts.
        wait.as_mut().enable();
        s.notify(&office(3));
        tokio::time::timeout(Duration::from_secs(1), wait)
            .await
            .expect("woken");
    }

    #[test]
    fn subscribers_share_one_signal_and_dead_entries_are_swept() {
        let s = InboxSignals::default();
        let a = s.subscribe(&office(4));
        assert!(Arc::ptr_eq(&a, &s.subscribe(&office(4))));
        for i in 0..1_000 {
            drop(s.subscribe(&office(100 + i)));
        }
        assert!(
            s.entries() <= 2 * SWEEP_MIN,
            "entries of offices nobody waits for are dropped: {}",
            s.entries()
        );
        assert!(
            Arc::ptr_eq(&a, &s.subscribe(&office(4))),
            "a live entry stays"
        );
        s.notify(&office(999_999)); // nobody waits: nothing happens
    }
}
