//! Two relay node processes — separate OS processes, each with its own pool and S3 client — on
//! one PostgreSQL schema and one S3 bucket: a message sent through one is fetched and
//! acknowledged through the other, a session opened on one is valid on the other, and
//! concurrent sends on both keep every office's audit chain intact.

mod common;

use std::sync::Arc;

use common::node::{download, get, send};
use common::*;
use renkei_api::{
    AckOutcome, AckRequest, AckResponse, AuditExport, MessagePage, MessageState, SendResponse,
};
use renkei_blob::testsuite::S3TestServer;
use renkei_relay::RelayConfig;
use renkei_store::Store;
use sha2::{Digest, Sha256};

/// Node mode: serve the relay from the directory the parent prepared until killed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "run by two_node_processes_share_postgres_and_s3 as a child process"]
async fn relay_node_process() {
    node::serve_if_node().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_node_processes_share_postgres_and_s3() {
    let s3 = S3TestServer::start();
    let bucket = s3.fresh_bucket().await;
    let store_url = pg_schema_url().await;
    // The fixture enrolls the offices in the shared schema (and runs the migrations); the
    // nodes are separate processes that open the same schema and bucket by URL.
    let store: Arc<dyn Store> = Arc::new(
        renkei_store_postgres::PgStore::open(&store_url)
            .await
            .unwrap(),
    );
    let blobs = renkei_blob::open_blob_store(&bucket).await.unwrap();
    let fx = fixture(store, blobs, RelayConfig::default()).await;
    let dir = tempfile::tempdir().unwrap();
    let mut bases = Vec::new();
    let mut nodes = Vec::new();
    for n in ["node1", "node2"] {
        let d = dir.path().join(n);
        node::write_node_files(&d, &fx);
        std::fs::write(d.join("store.url"), &store_url).unwrap();
        std::fs::write(d.join("blobs.url"), &bucket).unwrap();
        let (child, port) = node::start_node(&d);
        nodes.push(child);
        bases.push(format!("https://localhost:{port}/api/v1"));
    }
    let (one, two) = (bases[0].as_str(), bases[1].as_str());
    let (http_a, http_b, http_c) = (
        node::https_client(&fx, &fx.a),
        node::https_client(&fx, &fx.b),
        node::https_client(&fx, &fx.c),
    );
    // Log in on node 1, use the session on node 2: sessions live in the database.
    let token_a = node::login(&http_a, one, &fx.a).await;
    let token_b = node::login(&http_b, one, &fx.b).await;
    let token_c = node::login(&http_c, two, &fx.c).await;

    let env = fx.envelope(&fx.a, &fx.b, b"node one");
    let r = send(&http_a, one, &token_a, &env, "n-1").await;
    assert_eq!(r.status(), 201);
    let sent: SendResponse = r.json().await.unwrap();
    let inbox: MessagePage = get(&http_b, two, &token_b, "/messages/inbox").await;
    assert_eq!(inbox.items[0].id, sent.message.id);
    let dl = download(&http_b, two, &token_b, sent.message.id).await;
    assert_eq!(dl.as_ref(), env.as_slice());
    let ack: AckResponse = http_b
        .post(format!("{two}/messages/{}/ack", sent.message.id))
        .bearer_auth(&token_b)
        .json(&AckRequest {
            outcome: AckOutcome::Imported,
            reasons: vec![],
        })
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(ack.message.state, MessageState::Imported);
    // The same idempotency key on the other node is the same message.
    let r = send(&http_a, two, &token_a, &env, "n-1").await;
    assert_eq!(r.status(), 200);
    let dup: SendResponse = r.json().await.unwrap();
    assert!(dup.duplicate);
    assert_eq!(dup.message.id, sent.message.id);

    // Concurrent sends through both nodes into B's inbox (and B's audit chain).
    let n = 15;
    let mut tasks = Vec::new();
    for i in 0..n {
        let a_env = fx.envelope(&fx.a, &fx.b, format!("a{i}").as_bytes());
        let c_env = fx.envelope(&fx.c, &fx.b, format!("c{i}").as_bytes());
        let (h, b, t) = (http_a.clone(), one.to_owned(), token_a.clone());
        tasks.push(tokio::spawn(async move {
            send(&h, &b, &t, &a_env, &format!("burst-{i}"))
                .await
                .status()
        }));
        let (h, b, t) = (http_c.clone(), two.to_owned(), token_c.clone());
        tasks.push(tokio::spawn(async move {
            send(&h, &b, &t, &c_env, &format!("burst-{i}"))
                .await
                .status()
        }));
    }
    for t in tasks {
        assert_eq!(t.await.unwrap(), 201);
    }
    let inbox: MessagePage = get(&http_b, one, &token_b, "/messages/inbox?limit=200").await;
    assert_eq!(inbox.items.len(), 1 + 2 * n);
    // Every payload is in the shared bucket, whichever node stored it.
    for item in &inbox.items {
        let body = download(&http_b, two, &token_b, item.id).await;
        assert_eq!(hex::encode(Sha256::digest(&body)), item.digest);
    }

    let export: AuditExport = get(&http_b, two, &token_b, "/audit/export").await;
    let parsed: renkei_evidence::AuditExport =
        serde_json::from_str(&serde_json::to_string(&export).unwrap()).unwrap();
    let report = renkei_evidence::verify_audit_export(&parsed, fx.pki.ca.ca_cert_pem()).unwrap();
    assert!(report.is_valid(), "{:?}", report.problems);
    let sent_entries = export
        .entries
        .iter()
        .filter(|e| e.kind == "message.sent")
        .count();
    assert_eq!(sent_entries, 1 + 2 * n);
    drop(nodes);
}
