//! Kill -9 during a burst of sends: after a restart on the same database and blob directory,
//! every send the relay acknowledged (201) is there with its payload intact, and nothing
//! partial is offered. The relay runs as a real child process (this test binary re-executed
//! in "node" mode), killed with SIGKILL.

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use common::*;
use renkei_api::MessagePage;
use renkei_blob::{BlobStore, LocalBlobStore};
use renkei_relay::RelayConfig;
use sha2::{Digest, Sha256};

/// Node mode: serve the relay from the directory the parent prepared until killed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "run by crash_during_burst_loses_no_acknowledged_send as a child process"]
async fn relay_node_process() {
    node::serve_if_node().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crash_during_burst_loses_no_acknowledged_send() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().to_path_buf();
    let store: Arc<dyn renkei_store::Store> = Arc::new(
        renkei_store_sqlite::SqliteStore::open(&format!(
            "sqlite://{}",
            path.join("relay.db").display()
        ))
        .await
        .unwrap(),
    );
    // The fixture only enrolls offices; its own relay state gets a payload directory of its own,
    // so that the node processes are the only users of theirs (a node alone on its directory
    // removes every unfinished upload at start).
    let blobs: Arc<dyn BlobStore> = Arc::new(
        LocalBlobStore::open(path.join("fixture-blobs"))
            .await
            .unwrap(),
    );
    let fx = fixture(store.clone(), blobs, RelayConfig::default()).await;
    node::write_node_files(&path, &fx);

    let (mut child, port) = node::start_node(&path);
    let base = format!("https://localhost:{port}/api/v1");
    let http = node::https_client(&fx, &fx.a);
    let token = node::login(&http, &base, &fx.a).await;

    // A burst of concurrent sends; the node is killed while they are in flight.
    let envelopes: Vec<Vec<u8>> = (0..60)
        .map(|i| fx.envelope(&fx.a, &fx.b, &vec![b'a' + (i % 26) as u8; 20_000 + i]))
        .collect();
    let done = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for (i, env) in envelopes.iter().cloned().enumerate() {
        let (http, base, token, done) = (http.clone(), base.clone(), token.clone(), done.clone());
        tasks.push(tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(10 * i as u64)).await;
            let r = http
                .post(format!("{base}/messages"))
                .bearer_auth(&token)
                .header("idempotency-key", format!("burst-{i}"))
                .header("x-renkei-sha256", hex::encode(Sha256::digest(&env)))
                .header("x-renkei-length", env.len().to_string())
                .body(env)
                .send()
                .await;
            let ok = matches!(r, Ok(r) if r.status() == 201);
            if ok {
                done.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            }
            ok
        }));
    }
    // Kill once a few sends were acknowledged, while the rest are still coming.
    let deadline = Instant::now() + Duration::from_secs(30);
    while done.load(std::sync::atomic::Ordering::SeqCst) < 5 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    child.kill(); // SIGKILL
    let mut acknowledged = Vec::new();
    for (i, t) in tasks.into_iter().enumerate() {
        if t.await.unwrap() {
            acknowledged.push(i);
        }
    }

    // Restart on the same files.
    let (mut child, port) = node::start_node(&path);
    let base = format!("https://localhost:{port}/api/v1");
    let http_b = node::https_client(&fx, &fx.b);
    let token_b = node::login(&http_b, &base, &fx.b).await;
    let inbox: MessagePage = node::get(&http_b, &base, &token_b, "/messages/inbox?limit=200").await;
    // Every acknowledged send is offered…
    for i in &acknowledged {
        let m = store
            .message_by_idempotency_key(&fx.a.number, &format!("burst-{i}"))
            .await
            .unwrap()
            .expect("acknowledged send lost");
        assert!(inbox.items.iter().any(|x| x.id == m.id));
    }
    // …and everything offered downloads whole, with the digest the relay recorded.
    for item in &inbox.items {
        let body = node::download(&http_b, &base, &token_b, item.id).await;
        assert_eq!(
            hex::encode(Sha256::digest(&body)),
            item.digest,
            "partial payload offered"
        );
        assert!(envelopes.iter().any(|e| e.as_slice() == body.as_ref()));
    }
    // Opened while the restarted node runs, this open cleans nothing itself (it is not alone):
    // what it counts is what the node left.
    let local = LocalBlobStore::open(path.join("blobs")).await.unwrap();
    assert_eq!(
        local.temp_files().await.unwrap(),
        0,
        "unfinished uploads are cleaned at start"
    );
    child.kill();
    eprintln!(
        "acknowledged {} of {} sends before the kill; {} offered after restart",
        acknowledged.len(),
        envelopes.len(),
        inbox.items.len()
    );
    assert!(
        !acknowledged.is_empty(),
        "the burst should have got some sends through before the kill"
    );
    assert!(
        acknowledged.len() < envelopes.len(),
        "the kill should have hit the burst"
    );
}
