//! Two relay nodes — separate states, pools and S3 clients — on one PostgreSQL schema and one
//! S3 bucket: a message sent through one is fetched and acknowledged through the other, and
//! concurrent sends on both keep every office's audit chain intact.

mod common;

use std::sync::Arc;

use common::*;
use http::StatusCode;
use renkei_api::{
    AckOutcome, AckRequest, AckResponse, AuditExport, MessagePage, MessageState, SendResponse,
};
use renkei_blob::testsuite::S3TestServer;
use renkei_relay::{EvidenceNotary, RelayConfig, RelayState};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_nodes_share_postgres_and_s3() {
    let s3 = S3TestServer::start();
    let bucket = s3.fresh_bucket().await;
    let stores = pg_stores(2).await;
    let blobs1 = renkei_blob::open_blob_store(&bucket).await.unwrap();
    let blobs2 = renkei_blob::open_blob_store(&bucket).await.unwrap();
    let fx = fixture(stores[0].clone(), blobs1, RelayConfig::default()).await;
    let notary2 =
        Arc::new(EvidenceNotary::new(&fx.pki.relay_key_pkcs8, &fx.pki.relay_cert.pem).unwrap());
    let node2 = RelayState::new(
        stores[1].clone(),
        blobs2,
        notary2,
        fx.pki.ca.ca_cert_pem().to_owned(),
        RelayConfig::default(),
    )
    .unwrap();
    let app2 = renkei_relay::router(node2);
    let on2 = |mut c: Client| {
        c.app = app2.clone();
        c
    };

    // Log in on node 1, use the session on node 2: sessions live in the database.
    let a1 = fx.login(&fx.a).await;
    let b2 = on2(fx.login(&fx.b).await);
    let c2 = on2(fx.login(&fx.c).await);

    let env = fx.envelope(&fx.a, &fx.b, b"node one");
    let sent: SendResponse = a1.send(&env, "n-1").await.json();
    let inbox: MessagePage = b2.get("/messages/inbox").await.json();
    assert_eq!(inbox.items[0].id, sent.message.id);
    let dl = b2
        .get(&format!("/messages/{}/content", sent.message.id))
        .await;
    assert_eq!(dl.body.as_ref(), env.as_slice());
    let ack: AckResponse = b2
        .post_json(
            &format!("/messages/{}/ack", sent.message.id),
            &AckRequest {
                outcome: AckOutcome::Imported,
                reasons: vec![],
            },
        )
        .await
        .json();
    assert_eq!(ack.message.state, MessageState::Imported);
    // The same idempotency key on the other node is the same message.
    let a2 = on2(fx.login(&fx.a).await);
    let dup: SendResponse = a2.send(&env, "n-1").await.json();
    assert!(dup.duplicate);
    assert_eq!(dup.message.id, sent.message.id);

    // Concurrent sends through both nodes into B's inbox (and B's audit chain).
    let n = 15;
    let mut tasks = Vec::new();
    for i in 0..n {
        let (a1e, c2e) = (
            fx.envelope(&fx.a, &fx.b, format!("a{i}").as_bytes()),
            fx.envelope(&fx.c, &fx.b, format!("c{i}").as_bytes()),
        );
        let (a1c, c2c) = (
            Client {
                app: a1.app.clone(),
                peer: a1.peer.clone(),
                token: a1.token.clone(),
            },
            Client {
                app: c2.app.clone(),
                peer: c2.peer.clone(),
                token: c2.token.clone(),
            },
        );
        tasks.push(tokio::spawn(async move {
            a1c.send(&a1e, &format!("burst-{i}")).await.status
        }));
        tasks.push(tokio::spawn(async move {
            c2c.send(&c2e, &format!("burst-{i}")).await.status
        }));
    }
    for t in tasks {
        assert_eq!(t.await.unwrap(), StatusCode::CREATED);
    }
    let inbox: MessagePage = b2.get("/messages/inbox?limit=200").await.json();
    assert_eq!(inbox.items.len(), 1 + 2 * n);

    let export: AuditExport = b2.get("/audit/export").await.json();
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
}
