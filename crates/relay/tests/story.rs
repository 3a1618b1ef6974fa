//! The relay story — login, send, list, download, acknowledge, re-send idempotently, expire
//! and purge — on every combination of metadata store and blob store.

mod common;

use common::*;
use http::StatusCode;
use renkei_api::{
    AckOutcome, AckRequest, AckResponse, AuditExport, DirectoryEntry, DirectoryPage, ErrorCode,
    MessagePage, MessageState, MessageStatus, RejectReason, SendResponse, SignedReceipt,
};
use renkei_blob::testsuite::S3TestServer;
use renkei_relay::RelayConfig;

/// Verify with the offline verifier of `renkei-evidence`, given only the CA certificate.
fn verify_receipt(fx: &Fixture, r: &SignedReceipt) {
    let json = serde_json::to_string(r).unwrap();
    let parsed: renkei_evidence::SignedReceipt =
        serde_json::from_str(&json).expect("evidence receipt form");
    renkei_evidence::verify_receipt(&parsed, fx.pki.ca.ca_cert_pem()).expect("receipt verifies");
}

fn verify_audit(fx: &Fixture, export: &AuditExport) {
    let json = serde_json::to_string(export).unwrap();
    let parsed: renkei_evidence::AuditExport =
        serde_json::from_str(&json).expect("evidence export form");
    let report = renkei_evidence::verify_audit_export(&parsed, fx.pki.ca.ca_cert_pem())
        .expect("export verifies");
    assert!(report.is_valid(), "{:?}", report.problems);
    assert_eq!(report.entry_count, export.entries.len());
    assert_eq!(report.first_seq, Some(1));
}

async fn story(fx: &Fixture) {
    let a = fx.login(&fx.a).await;
    let b = fx.login(&fx.b).await;

    // The directory tells A whom it can send to and which certificate to seal to.
    let d: DirectoryEntry = a.get(&format!("/directory/{}", fx.b.number)).await.json();
    assert!(d.enrolled);
    assert_eq!(d.certificate.as_ref().unwrap().serial, fx.b.cert.serial_hex);
    let page: DirectoryPage = a.get("/directory?number=03000&kind=11").await.json();
    assert!(page.items.iter().any(|e| e.number == fx.b.number));
    assert!(page.items.iter().all(|e| e.kind == "11"));

    // Send.
    let env = fx.envelope(&fx.a, &fx.b, "1,2,3\r\n".as_bytes());
    let r = a.send(&env, "key-1").await;
    assert_eq!(
        r.status,
        StatusCode::CREATED,
        "{}",
        String::from_utf8_lossy(&r.body)
    );
    let sent: SendResponse = r.json();
    assert!(!sent.duplicate);
    assert_eq!(sent.message.state, MessageState::Stored);
    assert_eq!(sent.receipt.receipt.event, "stored");
    verify_receipt(fx, &sent.receipt);
    let id = sent.message.id;

    // Idempotent re-send: same key and content → the same message, nothing new.
    let again = a.send(&env, "key-1").await;
    assert_eq!(again.status, StatusCode::OK);
    let again: SendResponse = again.json();
    assert!(again.duplicate);
    assert_eq!(again.message.id, id);
    assert_eq!(again.receipt, sent.receipt);
    // Same key, other content → conflict.
    let other = fx.envelope(&fx.a, &fx.b, b"other");
    a.send(&other, "key-1")
        .await
        .expect_problem(ErrorCode::IdempotencyConflict);

    // Inbox and outbox.
    let inbox: MessagePage = b.get("/messages/inbox").await.json();
    assert_eq!(
        inbox.items.iter().map(|m| m.id).collect::<Vec<_>>(),
        vec![id]
    );
    assert!(!inbox.items[0].expiring_soon);
    let outbox: MessagePage = a.get("/messages/outbox").await.json();
    assert_eq!(outbox.items.len(), 1);
    assert!(a
        .get("/messages/inbox")
        .await
        .json::<MessagePage>()
        .items
        .is_empty());

    // Acknowledging before downloading is refused.
    let ok = AckRequest {
        outcome: AckOutcome::Imported,
        reasons: vec![],
    };
    b.post_json(&format!("/messages/{id}/ack"), &ok)
        .await
        .expect_problem(ErrorCode::InvalidTransition);

    // Download.
    let dl = b.get(&format!("/messages/{id}/content")).await;
    assert_eq!(dl.status, StatusCode::OK);
    assert_eq!(dl.body.as_ref(), env.as_slice());
    assert_eq!(
        dl.headers.get("x-renkei-sha256").unwrap().to_str().unwrap(),
        sent.message.digest
    );
    let st: MessageStatus = a.get(&format!("/messages/{id}")).await.json();
    assert_eq!(st.message.state, MessageState::Downloaded);
    // A second download is allowed and records nothing new.
    assert_eq!(
        b.get(&format!("/messages/{id}/content")).await.status,
        StatusCode::OK
    );

    // Ack imported; repeating it returns the same receipt; another outcome is refused.
    let r: AckResponse = b
        .post_json(&format!("/messages/{id}/ack"), &ok)
        .await
        .json();
    assert_eq!(r.message.state, MessageState::Imported);
    verify_receipt(fx, &r.receipt);
    let r2: AckResponse = b
        .post_json(&format!("/messages/{id}/ack"), &ok)
        .await
        .json();
    assert_eq!(r2.receipt, r.receipt);
    let rej = AckRequest {
        outcome: AckOutcome::Rejected,
        reasons: vec![RejectReason {
            file: None,
            line: None,
            item: None,
            code: "x".into(),
            message: None,
        }],
    };
    b.post_json(&format!("/messages/{id}/ack"), &rej)
        .await
        .expect_problem(ErrorCode::InvalidTransition);

    let st: MessageStatus = a.get(&format!("/messages/{id}")).await.json();
    assert_eq!(st.message.state, MessageState::Imported);
    let events: Vec<_> = st
        .receipts
        .iter()
        .map(|r| r.receipt.event.as_str())
        .collect();
    assert_eq!(events, ["stored", "downloaded", "imported"]);
    st.receipts.iter().for_each(|r| verify_receipt(fx, r));

    // A second message is rejected with reasons.
    let env2 = fx.envelope(&fx.a, &fx.b, b"bad,row");
    let id2 = a
        .send(&env2, "key-2")
        .await
        .json::<SendResponse>()
        .message
        .id;
    b.get(&format!("/messages/{id2}/content")).await;
    let reasons = vec![RejectReason {
        file: Some("UPPLAN_x.CSV".into()),
        line: Some(3),
        item: Some("被保険者番号".into()),
        code: "invalid_insured_number".into(),
        message: Some("被保険者番号が不正です".into()),
    }];
    let r: AckResponse = b
        .post_json(
            &format!("/messages/{id2}/ack"),
            &AckRequest {
                outcome: AckOutcome::Rejected,
                reasons: reasons.clone(),
            },
        )
        .await
        .json();
    assert_eq!(r.message.state, MessageState::Rejected);
    assert_eq!(r.message.reasons, reasons);
    assert!(r
        .receipt
        .receipt
        .reason
        .as_deref()
        .unwrap()
        .contains("invalid_insured_number"));

    // Retention: an unread message expires, and so does one downloaded but never acknowledged;
    // the sender sees the final state; then they are purged.
    let env3 = fx.envelope(&fx.a, &fx.b, b"late");
    let id3 = a
        .send(&env3, "key-3")
        .await
        .json::<SendResponse>()
        .message
        .id;
    let env4 = fx.envelope(&fx.a, &fx.b, b"fetched, never acknowledged");
    let id4 = a
        .send(&env4, "key-4")
        .await
        .json::<SendResponse>()
        .message
        .id;
    assert_eq!(b.get(&format!("/messages/{id4}/content")).await.status, 200);
    fx.advance_days(24);
    // Reminder window (7 days before the 30-day expiry). Sessions expired meanwhile: log in again.
    let a = fx.login(&fx.a).await;
    let b = fx.login(&fx.b).await;
    let st: MessageStatus = a.get(&format!("/messages/{id3}")).await.json();
    assert!(st.message.expiring_soon);
    // A payload no row refers to (a crash between storing it and committing its row).
    let orphan = format!("orphan-{}", uuid::Uuid::new_v4().simple());
    fx.blobs
        .put_bytes(
            &orphan,
            bytes::Bytes::from_static(b"RKE1"),
            renkei_blob::Expected::of(b"RKE1"),
        )
        .await
        .unwrap();
    fx.advance_days(7);
    let report = renkei_relay::run_retention(&fx.state, fx.state.now())
        .await
        .unwrap();
    assert_eq!(report.expired, 2);
    assert!(report.sessions_purged >= 1);
    assert_eq!(report.purged, 0);
    assert_eq!(report.orphans_removed, 1, "{report:?}");
    assert!(!fx.blobs.exists(&orphan).await.unwrap());
    for m in [id, id2, id3, id4] {
        assert!(
            fx.blobs.exists(&m.0.simple().to_string()).await.unwrap(),
            "the sweep kept {m}'s payload"
        );
    }
    let a = fx.login(&fx.a).await;
    let b2 = fx.login(&fx.b).await;
    drop(b);
    let st: MessageStatus = a.get(&format!("/messages/{id3}")).await.json();
    assert_eq!(st.message.state, MessageState::Expired);
    assert_eq!(st.receipts.last().unwrap().receipt.event, "expired");
    b2.get(&format!("/messages/{id3}/content"))
        .await
        .expect_problem(ErrorCode::MessageExpired);
    // The downloaded one has its final state too, with the reason; a late ack is refused.
    let st: MessageStatus = a.get(&format!("/messages/{id4}")).await.json();
    assert_eq!(st.message.state, MessageState::Expired);
    let last = &st.receipts.last().unwrap().receipt;
    assert_eq!(last.event, "expired");
    assert!(last.reason.as_deref().unwrap().contains("not acknowledged"));
    b2.post_json(&format!("/messages/{id4}/ack"), &ok)
        .await
        .expect_problem(ErrorCode::MessageExpired);
    // Running again changes nothing.
    let again = renkei_relay::run_retention(&fx.state, fx.state.now())
        .await
        .unwrap();
    assert_eq!((again.expired, again.purged), (0, 0));

    // The audit trail of A covers all of it and verifies.
    let export: AuditExport = a.get("/audit/export").await.json();
    verify_audit(fx, &export);
    let kinds: Vec<_> = export.entries.iter().map(|e| e.kind.as_str()).collect();
    for k in [
        "login",
        "message.sent",
        "message.refused",
        "message.downloaded",
        "message.imported",
        "message.rejected",
        "message.expired",
        "audit.exported",
    ] {
        assert!(kinds.contains(&k), "{k} missing from {kinds:?}");
    }
    // A trail longer than an export page (1,000 entries) is written page by page and, parsed
    // straight from the bytes the relay sent, verifies as one chain under one checkpoint.
    let drafts: Vec<renkei_store::AuditDraft> = (0..2100)
        .map(|i| renkei_store::AuditDraft {
            office: fx.a.number.clone(),
            at: fx.state.now(),
            kind: "test.filler".into(),
            actor: "test".into(),
            detail: format!("{{\"i\":{i}}}"),
        })
        .collect();
    fx.store
        .append_audit(&drafts, &fx.state.sealer())
        .await
        .unwrap();
    let raw = a.get("/audit/export").await;
    assert_eq!(raw.status, StatusCode::OK);
    let long: renkei_evidence::AuditExport =
        serde_json::from_slice(&raw.body).expect("the streamed export is one JSON document");
    let report = renkei_evidence::verify_audit_export(&long, fx.pki.ca.ca_cert_pem()).unwrap();
    assert!(report.is_valid(), "{:?}", report.problems);
    assert_eq!(report.first_seq, Some(1));
    assert_eq!(long.entries.len(), export.entries.len() + 2100 + 1);
    assert_eq!(
        long.checkpoint.checkpoint.last_seq,
        long.entries.last().unwrap().seq
    );
    assert_eq!(long.entries.last().unwrap().kind, "audit.exported");

    let export_b: AuditExport = b2.get("/audit/export").await.json();
    verify_audit(fx, &export_b);
    assert!(export_b
        .entries
        .iter()
        .all(|e| e.office == fx.b.number.as_str()));

    // Past the delete horizon everything goes, blobs included.
    fx.advance_days(181);
    let report = renkei_relay::run_retention(&fx.state, fx.state.now())
        .await
        .unwrap();
    assert_eq!(report.purged, 4);
    for m in [id, id2, id3, id4] {
        assert!(fx.store.message(&m).await.unwrap().is_none());
        assert!(!fx.blobs.exists(&m.0.simple().to_string()).await.unwrap());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn story_on_sqlite_and_local_directory() {
    let (store, d1) = sqlite_store().await;
    let (blobs, d2) = local_blobs().await;
    let mut fx = fixture(store, blobs, RelayConfig::default()).await;
    fx.keep(d1);
    fx.keep(d2);
    story(&fx).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn story_on_postgres_and_s3() {
    let s3 = S3TestServer::start();
    let blobs = renkei_blob::open_blob_store(&s3.fresh_bucket().await)
        .await
        .unwrap();
    let fx = fixture(pg_store().await, blobs, RelayConfig::default()).await;
    story(&fx).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn story_on_sqlite_and_s3() {
    let s3 = S3TestServer::start();
    let blobs = renkei_blob::open_blob_store(&s3.fresh_bucket().await)
        .await
        .unwrap();
    let (store, d1) = sqlite_store().await;
    let mut fx = fixture(store, blobs, RelayConfig::default()).await;
    fx.keep(d1);
    story(&fx).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn story_on_postgres_and_local_directory() {
    let (blobs, d2) = local_blobs().await;
    let mut fx = fixture(pg_store().await, blobs, RelayConfig::default()).await;
    fx.keep(d2);
    story(&fx).await;
}
