//! Scenarios for the messaging traits: the message state machine, idempotency, paging,
//! receipts, the per-office audit chain (also under concurrent appends), retention queries and
//! sessions.

use futures::future::join_all;
use renkei_ids::{OfficeNumber, PersonalUserId};

use crate::{
    AuditDraft, AuditRecord, AuditSealer, CountScope, InsertOutcome, Mailbox, MessageId,
    MessageQuery, MessageRecord, MessageState, ReceiptRecord, RequestAuth, SessionRecord,
    SessionStage, SharedSealer, Store, StoreError, AUDIT_GENESIS_HASH,
};

/// A deterministic stand-in for the relay's signer: the store must call it with `seq` and
/// `prev_hash` already assigned and store exactly what it returns. (FNV-1a; the real chain uses
/// SHA-256 and Ed25519 in the relay.)
struct TestSealer;

fn fnv(s: &str) -> u64 {
    s.bytes().fold(0xcbf29ce484222325u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x100000001b3)
    })
}

fn expected_hash(e: &AuditRecord) -> String {
    let canon = format!(
        "{}|{}|{}|{}|{}|{}|{}",
        e.office, e.seq, e.at, e.kind, e.actor, e.detail, e.prev_hash
    );
    format!("{:016x}{:048x}", fnv(&canon), e.seq)
}

fn test_sealer() -> SharedSealer {
    std::sync::Arc::new(TestSealer)
}

impl AuditSealer for TestSealer {
    fn seal(&self, e: &AuditRecord) -> (String, String) {
        assert!(
            e.hash.is_empty() && e.sig.is_empty(),
            "sealer called with hash/sig already set"
        );
        let h = expected_hash(e);
        (h.clone(), format!("sig:{h}"))
    }
}

fn office(s: &str) -> OfficeNumber {
    s.parse().expect("test office number")
}

fn message(
    id: MessageId,
    sender: &OfficeNumber,
    recipient: &OfficeNumber,
    key: &str,
    digest: &str,
    at: i64,
) -> MessageRecord {
    MessageRecord {
        id,
        sender: sender.clone(),
        recipient: recipient.clone(),
        idempotency_key: key.to_owned(),
        digest: digest.to_owned(),
        length: 1234,
        file_seq: "20191025200201".parse().expect("file seq"),
        files: vec!["UPPLAN_201912_0300000100_43_0300000005_11_20191025200201.CSV".into()],
        sender_cert_serial: "5f01".into(),
        recipient_cert_serial: "7a02".into(),
        blob_key: id.to_string(),
        state: MessageState::Stored,
        stored_at: at,
        downloaded_at: None,
        finished_at: None,
        expires_at: at + 1000,
        reasons: None,
    }
}

fn receipt(id: MessageId, event: MessageState, at: i64) -> ReceiptRecord {
    ReceiptRecord {
        message_id: id,
        event,
        at,
        body: format!("{{\"id\":\"{id}\",\"event\":\"{event}\"}}"),
        signature: "c2ln".into(),
    }
}

fn draft(office: &OfficeNumber, kind: &str, at: i64) -> AuditDraft {
    AuditDraft {
        office: office.clone(),
        at,
        kind: kind.into(),
        actor: "c0000000001".into(),
        detail: "{}".into(),
    }
}

/// Run the messaging scenarios.
pub async fn run<S: Store>(store: &S) {
    lifecycle(store).await;
    paging(store).await;
    audit_chain(store).await;
    retention(store).await;
    sessions(store).await;
    request_auth(store).await;
}

async fn lifecycle<S: Store>(store: &S) {
    let s = office("0310000001");
    let r = office("0310000002");
    let id = MessageId::new_v7();
    let m = message(id, &s, &r, "key-1", "aa", 1_000);
    let out = store
        .insert_message(
            &m,
            &receipt(id, MessageState::Stored, 1_000),
            &[draft(&s, "send", 1_000), draft(&r, "receive", 1_000)],
            &test_sealer(),
        )
        .await
        .expect("insert");
    assert_eq!(out, InsertOutcome::Inserted);
    assert_eq!(store.message(&id).await.unwrap(), Some(m.clone()));
    assert_eq!(
        store.message_by_idempotency_key(&s, "key-1").await.unwrap(),
        Some(m.clone())
    );
    assert_eq!(
        store.message_by_idempotency_key(&r, "key-1").await.unwrap(),
        None
    );

    // A retry with the same key and digest returns the first message and writes nothing.
    let retry = message(MessageId::new_v7(), &s, &r, "key-1", "aa", 2_000);
    let out = store
        .insert_message(
            &retry,
            &receipt(retry.id, MessageState::Stored, 2_000),
            &[draft(&s, "send", 2_000)],
            &test_sealer(),
        )
        .await
        .expect("retry");
    assert_eq!(out, InsertOutcome::Duplicate(Box::new(m.clone())));
    assert_eq!(store.message(&retry.id).await.unwrap(), None);
    assert_eq!(
        store.audit_entries(&s, 0, 100).await.unwrap().len(),
        1,
        "a duplicate writes no audit entry"
    );
    // The same key with other content is a conflict.
    let other = message(MessageId::new_v7(), &s, &r, "key-1", "bb", 2_000);
    let err = store
        .insert_message(
            &other,
            &receipt(other.id, MessageState::Stored, 2_000),
            &[],
            &test_sealer(),
        )
        .await
        .expect_err("digest differs");
    assert!(matches!(err, StoreError::Conflict(_)), "{err:?}");
    // The same key from another sender is a different message.
    let mirrored = message(MessageId::new_v7(), &r, &s, "key-1", "cc", 2_500);
    assert_eq!(
        store
            .insert_message(
                &mirrored,
                &receipt(mirrored.id, MessageState::Stored, 2_500),
                &[],
                &test_sealer()
            )
            .await
            .unwrap(),
        InsertOutcome::Inserted
    );

    // stored → downloaded, once.
    let d = store
        .transition(
            &id,
            &[MessageState::Stored],
            MessageState::Downloaded,
            3_000,
            None,
            &receipt(id, MessageState::Downloaded, 3_000),
            &[draft(&r, "download", 3_000)],
            &test_sealer(),
        )
        .await
        .expect("download");
    assert_eq!(
        (d.state, d.downloaded_at, d.finished_at),
        (MessageState::Downloaded, Some(3_000), None)
    );
    let err = store
        .transition(
            &id,
            &[MessageState::Stored],
            MessageState::Downloaded,
            3_100,
            None,
            &receipt(id, MessageState::Downloaded, 3_100),
            &[],
            &test_sealer(),
        )
        .await
        .expect_err("second download transition");
    assert!(matches!(err, StoreError::Conflict(_)), "{err:?}");

    // downloaded → rejected (final), with reasons; no second final state.
    let reasons = r#"[{"file":"UPPLAN_x.CSV","line":3,"item":"被保険者番号","code":"invalid"}]"#;
    let f = store
        .transition(
            &id,
            &[MessageState::Downloaded],
            MessageState::Rejected,
            4_000,
            Some(reasons),
            &receipt(id, MessageState::Rejected, 4_000),
            &[draft(&s, "ack", 4_000), draft(&r, "ack", 4_000)],
            &test_sealer(),
        )
        .await
        .expect("reject");
    assert_eq!(
        (f.state, f.downloaded_at, f.finished_at),
        (MessageState::Rejected, Some(3_000), Some(4_000))
    );
    assert_eq!(f.reasons.as_deref(), Some(reasons));
    for to in [MessageState::Imported, MessageState::Expired] {
        let err = store
            .transition(
                &id,
                &[MessageState::Stored, MessageState::Downloaded],
                to,
                5_000,
                None,
                &receipt(id, to, 5_000),
                &[],
                &test_sealer(),
            )
            .await
            .expect_err("second final state");
        assert!(matches!(err, StoreError::Conflict(_)), "{err:?}");
    }
    assert_eq!(
        store.message(&id).await.unwrap().unwrap().state,
        MessageState::Rejected
    );

    let events: Vec<_> = store
        .receipts(&id)
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.event)
        .collect();
    assert_eq!(
        events,
        vec![
            MessageState::Stored,
            MessageState::Downloaded,
            MessageState::Rejected
        ]
    );
    assert_eq!(
        store.receipts(&id).await.unwrap()[0],
        receipt(id, MessageState::Stored, 1_000)
    );

    let ghost = MessageId::new_v7();
    let err = store
        .transition(
            &ghost,
            &[MessageState::Stored],
            MessageState::Downloaded,
            1,
            None,
            &receipt(ghost, MessageState::Downloaded, 1),
            &[],
            &test_sealer(),
        )
        .await
        .expect_err("unknown message");
    assert!(matches!(err, StoreError::NotFound(_)), "{err:?}");
    assert!(store.receipts(&ghost).await.unwrap().is_empty());
}

async fn paging<S: Store>(store: &S) {
    let s = office("0320000001");
    let r = office("0320000002");
    let stranger = office("0320000003");
    let mut ids = Vec::new();
    for i in 0..7 {
        let id = MessageId::new_v7();
        let m = message(
            id,
            &s,
            &r,
            &format!("page-{i}"),
            &format!("d{i}"),
            10_000 + i,
        );
        store
            .insert_message(
                &m,
                &receipt(id, MessageState::Stored, 10_000 + i),
                &[],
                &test_sealer(),
            )
            .await
            .unwrap();
        ids.push(id);
    }
    ids.reverse(); // newest first
    let q = |mailbox, office: &OfficeNumber, before, limit, state| MessageQuery {
        office: office.clone(),
        mailbox,
        state,
        before,
        limit,
    };
    let mut seen = Vec::new();
    let mut before = None;
    loop {
        let page = store
            .list_messages(&q(Mailbox::Inbox, &r, before, 3, None))
            .await
            .unwrap();
        assert!(page.len() <= 3);
        if page.is_empty() {
            break;
        }
        before = page.last().map(|m| m.id);
        seen.extend(page.into_iter().map(|m| m.id));
    }
    assert_eq!(
        seen, ids,
        "inbox pages cover every message once, newest first"
    );
    let outbox = store
        .list_messages(&q(Mailbox::Outbox, &s, None, 100, None))
        .await
        .unwrap();
    assert_eq!(outbox.iter().map(|m| m.id).collect::<Vec<_>>(), ids);
    assert!(store
        .list_messages(&q(Mailbox::Inbox, &s, None, 100, None))
        .await
        .unwrap()
        .is_empty());
    assert!(store
        .list_messages(&q(Mailbox::Inbox, &stranger, None, 100, None))
        .await
        .unwrap()
        .is_empty());

    let first = ids[6];
    store
        .transition(
            &first,
            &[MessageState::Stored],
            MessageState::Downloaded,
            20_000,
            None,
            &receipt(first, MessageState::Downloaded, 20_000),
            &[],
            &test_sealer(),
        )
        .await
        .unwrap();
    let downloaded = store
        .list_messages(&q(
            Mailbox::Inbox,
            &r,
            None,
            100,
            Some(MessageState::Downloaded),
        ))
        .await
        .unwrap();
    assert_eq!(
        downloaded.iter().map(|m| m.id).collect::<Vec<_>>(),
        vec![first]
    );
    let stored = store
        .list_messages(&q(
            Mailbox::Inbox,
            &r,
            None,
            100,
            Some(MessageState::Stored),
        ))
        .await
        .unwrap();
    assert_eq!(stored.len(), 6);
}

async fn audit_chain<S: Store>(store: &S) {
    let a = office("0330000001");
    let b = office("0330000002");
    let first = store
        .append_audit(&[draft(&a, "login", 1)], &test_sealer())
        .await
        .unwrap();
    assert_eq!(first.len(), 1);
    assert_eq!(
        (first[0].seq, first[0].prev_hash.as_str()),
        (1, AUDIT_GENESIS_HASH)
    );

    // Many concurrent appends to two offices: no gaps, no forks.
    let futs = (0..40).map(|i| {
        let drafts = vec![draft(&a, "send", 100 + i), draft(&b, "receive", 100 + i)];
        async move { store.append_audit(&drafts, &test_sealer()).await }
    });
    for r in join_all(futs).await {
        r.expect("concurrent append");
    }
    for (o, n) in [(&a, 41u64), (&b, 40u64)] {
        let entries = store.audit_entries(o, 0, 1000).await.unwrap();
        assert_eq!(entries.len() as u64, n, "entries of {o}");
        let mut prev = AUDIT_GENESIS_HASH.to_owned();
        for (i, e) in entries.iter().enumerate() {
            assert_eq!(e.seq, i as u64 + 1);
            assert_eq!(&e.office, o);
            assert_eq!(e.prev_hash, prev, "chain of {o} broken at {}", e.seq);
            assert_eq!(
                e.hash,
                expected_hash(&AuditRecord {
                    hash: String::new(),
                    sig: String::new(),
                    ..e.clone()
                })
            );
            assert_eq!(e.sig, format!("sig:{}", e.hash));
            prev = e.hash.clone();
        }
    }
    let tail = store.audit_entries(&a, 39, 1000).await.unwrap();
    assert_eq!(tail.iter().map(|e| e.seq).collect::<Vec<_>>(), vec![40, 41]);
    assert_eq!(store.audit_entries(&a, 0, 5).await.unwrap().len(), 5);
    assert!(store
        .audit_entries(&office("0330000009"), 0, 10)
        .await
        .unwrap()
        .is_empty());
}

async fn retention<S: Store>(store: &S) {
    let s = office("0340000001");
    let r = office("0340000002");
    let mk = |key: &str, stored_at: i64| {
        let id = MessageId::new_v7();
        (id, message(id, &s, &r, key, key, stored_at))
    };
    // expires_at = stored_at + 1000
    let (unread, m1) = mk("ret-unread", 1_000_000);
    let (read, m2) = mk("ret-read", 1_000_000);
    let (fresh, m3) = mk("ret-fresh", 1_500_000);
    let (acked, m4) = mk("ret-acked", 1_000_000);
    for m in [&m1, &m2, &m3, &m4] {
        store
            .insert_message(
                m,
                &receipt(m.id, MessageState::Stored, m.stored_at),
                &[],
                &test_sealer(),
            )
            .await
            .unwrap();
    }
    for id in [read, acked] {
        store
            .transition(
                &id,
                &[MessageState::Stored],
                MessageState::Downloaded,
                1_000_500,
                None,
                &receipt(id, MessageState::Downloaded, 1_000_500),
                &[],
                &test_sealer(),
            )
            .await
            .unwrap();
    }
    store
        .transition(
            &acked,
            &[MessageState::Downloaded],
            MessageState::Imported,
            1_000_600,
            None,
            &receipt(acked, MessageState::Imported, 1_000_600),
            &[],
            &test_sealer(),
        )
        .await
        .unwrap();
    // Operator counts: per state, per office side, and overall.
    let expect = vec![
        (MessageState::Stored, 2),
        (MessageState::Downloaded, 1),
        (MessageState::Imported, 1),
    ];
    let sorted = |mut v: Vec<(MessageState, u64)>| {
        v.sort_by_key(|(s, _)| s.as_str());
        v
    };
    let mut want = expect.clone();
    want.sort_by_key(|(s, _)| s.as_str());
    for scope in [
        CountScope::SentBy(s.clone()),
        CountScope::AddressedTo(r.clone()),
    ] {
        assert_eq!(sorted(store.message_counts(&scope).await.unwrap()), want);
    }
    assert!(store
        .message_counts(&CountScope::SentBy(r.clone()))
        .await
        .unwrap()
        .is_empty());
    let all = store.message_counts(&CountScope::All).await.unwrap();
    for (state, n) in &expect {
        let total = all.iter().find(|(s, _)| s == state).map_or(0, |(_, n)| *n);
        assert!(total >= *n, "{state}: {total} < {n}");
    }
    let due: Vec<_> = store
        .expired_unacknowledged(1_001_000, 100)
        .await
        .unwrap()
        .into_iter()
        .map(|m| m.id)
        .collect();
    assert!(due.contains(&unread));
    assert!(
        due.contains(&read),
        "a message downloaded but never acknowledged expires too (its final state)"
    );
    assert!(
        !due.contains(&acked),
        "an acknowledged message is final already"
    );
    assert!(!due.contains(&fresh));
    assert!(!store
        .expired_unacknowledged(1_000_999, 100)
        .await
        .unwrap()
        .iter()
        .any(|m| m.id == unread));

    let horizon: Vec<_> = store
        .purgeable(1_200_000, 1000)
        .await
        .unwrap()
        .into_iter()
        .map(|m| m.id)
        .collect();
    assert!(horizon.contains(&unread) && horizon.contains(&read) && !horizon.contains(&fresh));
    assert!(store.delete_message(&read).await.unwrap());
    assert!(!store.delete_message(&read).await.unwrap());
    assert_eq!(store.message(&read).await.unwrap(), None);
    assert!(store.receipts(&read).await.unwrap().is_empty());
    // Once purged, the idempotency key is free again.
    assert_eq!(
        store
            .message_by_idempotency_key(&s, "ret-read")
            .await
            .unwrap(),
        None
    );
}

async fn sessions<S: Store>(store: &S) {
    let user: PersonalUserId = "c0000000042".parse().unwrap();
    let o = office("0350000001");
    let stage1 = SessionRecord {
        token_hash: "h1".into(),
        stage: SessionStage::User,
        user_id: user.clone(),
        office: o.clone(),
        spki_sha256: "ab".repeat(32),
        created_at: 1_000,
        expires_at: 2_000,
    };
    store.insert_session(&stage1).await.unwrap();
    assert!(matches!(
        store.insert_session(&stage1).await,
        Err(StoreError::Conflict(_))
    ));
    assert_eq!(store.session("h1").await.unwrap(), Some(stage1.clone()));
    assert_eq!(store.session("nope").await.unwrap(), None);

    let full = SessionRecord {
        token_hash: "h2".into(),
        stage: SessionStage::Office,
        expires_at: 9_000,
        ..stage1.clone()
    };
    store.promote_session("h1", &full).await.unwrap();
    assert_eq!(
        store.session("h1").await.unwrap(),
        None,
        "a stage-1 token works once"
    );
    assert_eq!(store.session("h2").await.unwrap(), Some(full.clone()));
    let again = SessionRecord {
        token_hash: "h3".into(),
        ..full.clone()
    };
    assert!(matches!(
        store.promote_session("h1", &again).await,
        Err(StoreError::NotFound(_))
    ));
    assert!(
        matches!(
            store.promote_session("h2", &again).await,
            Err(StoreError::NotFound(_))
        ),
        "only stage-1 promotes"
    );
    assert_eq!(store.session("h3").await.unwrap(), None);

    let old = SessionRecord {
        token_hash: "h4".into(),
        expires_at: 5_000,
        ..full.clone()
    };
    store.insert_session(&old).await.unwrap();
    assert_eq!(store.purge_sessions(6_000).await.unwrap(), 1);
    assert_eq!(store.session("h4").await.unwrap(), None);
    assert!(store.session("h2").await.unwrap().is_some());
    assert!(store.delete_session("h2").await.unwrap());
    assert!(!store.delete_session("h2").await.unwrap());
}

/// The per-request read: certificate, device binding and session together, each part changing
/// the answer as soon as the row it reads changes.
async fn request_auth<S: Store>(store: &S) {
    use super::enrollment::{sample_account, sample_cert, sample_office};
    use crate::DeviceBinding;
    const T: i64 = 1_750_000_000_000;
    let o = sample_office("1390000077", T);
    store
        .register_office(&o, &sample_account("KJ139000007701", &o.number, T))
        .await
        .unwrap();
    let spki = "cd".repeat(32);
    store
        .insert_certificate(&sample_cert("7e01", &o.number, &spki, T, T + 1_000_000))
        .await
        .unwrap();
    assert_eq!(store.request_auth("7e99", None).await.unwrap(), None);
    let unbound = RequestAuth {
        serial: "7e01".into(),
        office: Some(o.number.clone()),
        spki_sha256: spki.clone(),
        revoked_at: None,
        device_bound: false,
        session: None,
    };
    assert_eq!(
        store.request_auth("7e01", None).await.unwrap(),
        Some(unbound.clone())
    );
    // Another office's device with the same key does not bind this one.
    store
        .bind_device(
            &DeviceBinding {
                office: o.number.clone(),
                spki_sha256: "ef".repeat(32),
                cert_serial: "7e02".into(),
                label: "PC-2".into(),
                bound_at: T,
                released_at: None,
            },
            2,
        )
        .await
        .unwrap();
    assert!(
        !store
            .request_auth("7e01", None)
            .await
            .unwrap()
            .unwrap()
            .device_bound
    );
    store
        .bind_device(
            &DeviceBinding {
                office: o.number.clone(),
                spki_sha256: spki.clone(),
                cert_serial: "7e01".into(),
                label: "PC-1".into(),
                bound_at: T,
                released_at: None,
            },
            2,
        )
        .await
        .unwrap();
    let session = SessionRecord {
        token_hash: "auth-h1".into(),
        stage: SessionStage::Office,
        user_id: "c0000000077".parse().unwrap(),
        office: o.number.clone(),
        spki_sha256: spki.clone(),
        created_at: T,
        expires_at: T + 60_000,
    };
    store.insert_session(&session).await.unwrap();
    assert_eq!(
        store.request_auth("7e01", Some("auth-h1")).await.unwrap(),
        Some(RequestAuth {
            device_bound: true,
            session: Some(session.clone()),
            ..unbound.clone()
        })
    );
    // An unknown token leaves the certificate's answer as it is.
    let no_session = store
        .request_auth("7e01", Some("auth-nope"))
        .await
        .unwrap()
        .unwrap();
    assert!(no_session.device_bound && no_session.session.is_none());
    // Revocation and 端末変更 show on the next read.
    store
        .revoke_certificate("7e01", T + 5, "keyCompromise")
        .await
        .unwrap();
    assert_eq!(
        store
            .request_auth("7e01", Some("auth-h1"))
            .await
            .unwrap()
            .unwrap()
            .revoked_at,
        Some(T + 5)
    );
    store.release_devices(&o.number, T + 6).await.unwrap();
    let released = store
        .request_auth("7e01", Some("auth-h1"))
        .await
        .unwrap()
        .unwrap();
    assert!(!released.device_bound);
    assert_eq!(released.session, Some(session));
}
