//! Long-polling inbox listings (`GET /messages/inbox?wait=N`): a waiting listing answers as
//! soon as a message for its office is stored — at once through the same node, within the
//! re-check interval through another node on the same store — and never for another office's
//! message; limits and shutdown end the wait cleanly.

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use common::*;
use http::StatusCode;
use renkei_api::{ErrorCode, MessagePage, MessageState, SendResponse, MAX_INBOX_WAIT_SECS};
use renkei_relay::{EvidenceNotary, RelayConfig, RelayState};

const UNREAD: &str = "/messages/inbox?state=stored";

/// Send one envelope from A to B through `a`; its message id.
async fn send_a_to_b(fx: &Fixture, a: &Client, key: &str) -> renkei_api::MessageId {
    let r = a.send(&fx.envelope(&fx.a, &fx.b, b"1,2\r\n"), key).await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.problem());
    r.json::<SendResponse>().message.id
}

/// A listing that waits `secs`, started in the background: its page and how long it took.
fn wait_in_background(
    c: Client,
    secs: u32,
) -> tokio::task::JoinHandle<(StatusCode, Option<MessagePage>, Duration)> {
    tokio::spawn(async move {
        let t0 = Instant::now();
        let r = c.get(&format!("{UNREAD}&wait={secs}")).await;
        let page = (r.status == StatusCode::OK).then(|| r.json::<MessagePage>());
        (r.status, page, t0.elapsed())
    })
}

/// `waiter` (B, on whichever node) starts a 20 s wait; A then sends to B through `a`. The id
/// sent, and the waiter's answer and how long it waited.
async fn wait_while_a_sends(
    fx: &Fixture,
    a: &Client,
    waiter: Client,
    key: &str,
) -> (
    renkei_api::MessageId,
    StatusCode,
    Option<MessagePage>,
    Duration,
) {
    let waiting = wait_in_background(waiter, 20);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let id = send_a_to_b(fx, a, key).await;
    let (status, page, took) = waiting.await.unwrap();
    (id, status, page, took)
}

/// A second relay node on the same store and blobs (its own signals, as another process has).
fn second_node(fx: &Fixture, config: RelayConfig) -> axum::Router {
    second_node_on(fx, fx.store.clone(), config)
}

/// A second relay node on `store` (e.g. its own pool on the same database) and the same blobs.
fn second_node_on(
    fx: &Fixture,
    store: Arc<dyn renkei_store::Store>,
    config: RelayConfig,
) -> axum::Router {
    let notary = Arc::new(
        EvidenceNotary::new(&fx.pki.relay_key_pkcs8, &fx.pki.relay_cert.pem).expect("notary"),
    );
    let state = RelayState::new(
        store,
        fx.blobs.clone(),
        notary,
        fx.pki.ca.ca_cert_pem().to_owned(),
        config,
    )
    .expect("state");
    renkei_relay::router(state)
}

/// Re-checks far apart: only the signal can end a wait early.
fn signal_only() -> RelayConfig {
    RelayConfig {
        inbox_recheck: Duration::from_secs(120),
        ..RelayConfig::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_send_through_the_same_node_ends_the_wait_at_once() {
    let fx = sqlite_fixture(signal_only()).await;
    let a = fx.login(&fx.a).await;
    let b = fx.login(&fx.b).await;
    let c = fx.login(&fx.c).await;

    let waiting_b = wait_in_background(b, 20);
    let waiting_c = wait_in_background(c, 2);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let id = send_a_to_b(&fx, &a, "lp-1").await;

    let (status, page, took) = waiting_b.await.unwrap();
    assert_eq!(status, StatusCode::OK);
    let page = page.unwrap();
    assert_eq!(page.items.len(), 1);
    assert_eq!(page.items[0].id, id);
    assert_eq!(page.items[0].state, MessageState::Stored);
    assert!(
        took < Duration::from_secs(10),
        "woken by the send, not by the 20 s wait or the 120 s re-check: {took:?}"
    );

    // C's listing is not woken by a message for B: it waits its 2 s out and finds nothing.
    let (status, page, took) = waiting_c.await.unwrap();
    assert_eq!(status, StatusCode::OK);
    assert!(page.unwrap().items.is_empty());
    assert!(took >= Duration::from_millis(1_900), "{took:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_listing_with_something_to_show_answers_without_waiting() {
    let fx = sqlite_fixture(signal_only()).await;
    let a = fx.login(&fx.a).await;
    let b = fx.login(&fx.b).await;
    send_a_to_b(&fx, &a, "lp-2").await;
    let t0 = Instant::now();
    let page: MessagePage = b.get(&format!("{UNREAD}&wait=20")).await.json();
    assert_eq!(page.items.len(), 1);
    assert!(t0.elapsed() < Duration::from_secs(5), "{:?}", t0.elapsed());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_send_through_another_node_shows_up_within_the_recheck() {
    let fx = sqlite_fixture(signal_only()).await;
    let a = fx.login(&fx.a).await;
    let b_on_node2 = Client {
        app: second_node(
            &fx,
            RelayConfig {
                inbox_recheck: Duration::from_millis(200),
                ..RelayConfig::default()
            },
        ),
        ..fx.login(&fx.b).await
    };
    // Sent through node 1: node 2 hears no signal, its re-check finds the message.
    let (id, status, page, took) = wait_while_a_sends(&fx, &a, b_on_node2, "lp-3").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(page.unwrap().items[0].id, id);
    assert!(took < Duration::from_secs(10), "{took:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn waits_on_postgres_too() {
    let (blobs, d) = local_blobs().await;
    let mut fx = fixture(pg_store().await, blobs, signal_only()).await;
    fx.keep(d);
    let a = fx.login(&fx.a).await;
    let b = fx.login(&fx.b).await;
    let (id, _, page, took) = wait_while_a_sends(&fx, &a, b, "lp-pg").await;
    assert_eq!(page.unwrap().items[0].id, id);
    assert!(took < Duration::from_secs(10), "{took:?}");
}

/// PostgreSQL announces each commit (LISTEN/NOTIFY): a listing waiting on another node, with its
/// own connection pool and re-reads two minutes apart, is woken at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_send_through_another_postgres_node_wakes_the_wait() {
    let mut stores = pg_stores(2).await;
    let node2_store = stores.pop().unwrap();
    let (blobs, d) = local_blobs().await;
    let mut fx = fixture(stores.pop().unwrap(), blobs, signal_only()).await;
    fx.keep(d);
    let a = fx.login(&fx.a).await;
    let b_on_node2 = Client {
        app: second_node_on(&fx, node2_store, signal_only()),
        ..fx.login(&fx.b).await
    };
    // The first waiting listing starts node 2's subscription; give it a moment to LISTEN.
    let r = b_on_node2.get(&format!("{UNREAD}&wait=1")).await;
    assert_eq!(r.status, StatusCode::OK);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (id, status, page, took) = wait_while_a_sends(&fx, &a, b_on_node2, "lp-pg-2").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(page.unwrap().items[0].id, id);
    assert!(
        took < Duration::from_secs(10),
        "woken by the notification, not the 20 s wait or the 120 s re-read: {took:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn limits_of_wait() {
    let fx = sqlite_fixture(RelayConfig::default()).await;
    let b = fx.login(&fx.b).await;
    b.get(&format!("{UNREAD}&wait={}", MAX_INBOX_WAIT_SECS + 1))
        .await
        .expect_problem(ErrorCode::BadRequest);
    b.get("/messages/outbox?wait=5")
        .await
        .expect_problem(ErrorCode::BadRequest);
    // wait=0 is an ordinary listing; so is the outbox without wait.
    let t0 = Instant::now();
    let page: MessagePage = b.get(&format!("{UNREAD}&wait=0")).await.json();
    assert!(page.items.is_empty());
    assert!(t0.elapsed() < Duration::from_secs(5));
    assert_eq!(b.get("/messages/outbox").await.status, StatusCode::OK);
    // A waiting listing is still an authenticated one.
    let anonymous = fx.client(Some(&fx.b.cert));
    anonymous
        .get(&format!("{UNREAD}&wait=5"))
        .await
        .expect_problem(ErrorCode::Unauthenticated);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutting_down_ends_every_wait() {
    let fx = sqlite_fixture(signal_only()).await;
    let b = fx.login(&fx.b).await;
    let waiting = wait_in_background(b, 20);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let t0 = Instant::now();
    fx.state.end_inbox_waits();
    let (status, page, _) = waiting.await.unwrap();
    assert_eq!(status, StatusCode::OK);
    assert!(page.unwrap().items.is_empty());
    assert!(t0.elapsed() < Duration::from_secs(5), "{:?}", t0.elapsed());
    // Later listings do not wait either.
    let b = fx.login(&fx.b).await;
    let t0 = Instant::now();
    let r = b.get(&format!("{UNREAD}&wait=20")).await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(t0.elapsed() < Duration::from_secs(5), "{:?}", t0.elapsed());
}
