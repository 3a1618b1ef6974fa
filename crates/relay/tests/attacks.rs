//! Authorisation and bad-input tests: every way of reaching another office's data or slipping
//! in a bad upload that we could think of is refused with the right problem, and leaves nothing
//! behind.

mod common;

use axum::body::Body;
use common::*;
use http::{Method, StatusCode};
use renkei_api::{
    AckOutcome, AckRequest, ErrorCode, MessageId, MessagePage, OfficeLoginRequest, SendResponse,
    UserLoginRequest, UserLoginResponse,
};
use renkei_relay::RelayConfig;
use sha2::{Digest, Sha256};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn other_offices_cannot_see_or_touch_a_message() {
    let fx = sqlite_fixture(RelayConfig::default()).await;
    let a = fx.login(&fx.a).await;
    let c = fx.login(&fx.c).await;
    let env = fx.envelope(&fx.a, &fx.b, b"x");
    let id = a.send(&env, "k").await.json::<SendResponse>().message.id;
    let ack = AckRequest {
        outcome: AckOutcome::Imported,
        reasons: vec![],
    };

    // A third office: status, download and ack all look like "no such message".
    c.get(&format!("/messages/{id}"))
        .await
        .expect_problem(ErrorCode::MessageNotFound);
    c.get(&format!("/messages/{id}/content"))
        .await
        .expect_problem(ErrorCode::MessageNotFound);
    c.post_json(&format!("/messages/{id}/ack"), &ack)
        .await
        .expect_problem(ErrorCode::MessageNotFound);
    assert!(c
        .get("/messages/inbox")
        .await
        .json::<MessagePage>()
        .items
        .is_empty());
    // The sender sees the status but may not download or acknowledge for the recipient.
    assert_eq!(
        a.get(&format!("/messages/{id}")).await.status,
        StatusCode::OK
    );
    a.get(&format!("/messages/{id}/content"))
        .await
        .expect_problem(ErrorCode::MessageNotFound);
    a.post_json(&format!("/messages/{id}/ack"), &ack)
        .await
        .expect_problem(ErrorCode::MessageNotFound);
    // Guessed and malformed ids.
    for guess in [
        MessageId::new_v7().to_string(),
        "1".into(),
        "../../etc/passwd".into(),
        id.to_string().replace('-', ""),
    ] {
        let r = c.get(&format!("/messages/{}", urlencode(&guess))).await;
        assert!(r.status == StatusCode::NOT_FOUND, "{guess}: {}", r.status);
    }
    // Nothing happened to the message.
    let st = fx.store.message(&id).await.unwrap().unwrap();
    assert_eq!(st.state, renkei_api::MessageState::Stored);
}

fn urlencode(s: &str) -> String {
    s.replace('/', "%2F")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_are_bound_to_certificate_and_time() {
    let fx = sqlite_fixture(RelayConfig::default()).await;
    let a = fx.login(&fx.a).await;
    let token = a.token.clone().unwrap();

    // Replayed from another office's certificate.
    let mut stolen = fx.client(Some(&fx.b.cert));
    stolen.token = Some(token.clone());
    stolen
        .get("/messages/inbox")
        .await
        .expect_problem(ErrorCode::TokenCertMismatch);
    // Without a client certificate at all.
    let mut bare = fx.client(None);
    bare.token = Some(token.clone());
    bare.get("/messages/inbox")
        .await
        .expect_problem(ErrorCode::ClientCertRequired);
    // From a certificate of a rogue CA for the same office.
    let mut rogue = fx.client(Some(&fx.pki.wrong_ca.cert));
    rogue.token = Some(token.clone());
    rogue
        .get("/messages/inbox")
        .await
        .expect_problem(ErrorCode::CertificateUnknown);
    // No token, a made-up token.
    fx.client(Some(&fx.a.cert))
        .get("/messages/inbox")
        .await
        .expect_problem(ErrorCode::Unauthenticated);
    let mut made_up = fx.client(Some(&fx.a.cert));
    made_up.token = Some("AAAA".into());
    made_up
        .get("/messages/inbox")
        .await
        .expect_problem(ErrorCode::Unauthenticated);

    // A stage-1 token is not a session, and works once, only from its certificate.
    let mut c = fx.client(Some(&fx.a.cert));
    let s1: UserLoginResponse = c
        .post_json(
            "/session/user",
            &UserLoginRequest {
                user_id: fx.a.user.clone(),
                password: PASSWORD.into(),
            },
        )
        .await
        .json();
    c.token = Some(s1.stage1_token.clone());
    c.get("/messages/inbox")
        .await
        .expect_problem(ErrorCode::Unauthenticated);
    c.token = None;
    let req = OfficeLoginRequest {
        stage1_token: s1.stage1_token.clone(),
        kj_id: fx.a.kj.clone(),
        password: PASSWORD.into(),
    };
    fx.client(Some(&fx.b.cert))
        .post_json("/session/office", &req)
        .await
        .expect_problem(ErrorCode::TokenCertMismatch);
    assert_eq!(
        c.post_json("/session/office", &req).await.status,
        StatusCode::OK
    );
    c.post_json("/session/office", &req)
        .await
        .expect_problem(ErrorCode::Unauthenticated);

    // Logout ends the session.
    let mut d = fx.login(&fx.a).await;
    assert_eq!(
        d.call(Method::DELETE, "/session", &[], Body::empty())
            .await
            .status,
        StatusCode::NO_CONTENT
    );
    d.get("/messages/inbox")
        .await
        .expect_problem(ErrorCode::Unauthenticated);
    d.token = None;

    // Sessions expire.
    assert_eq!(a.get("/messages/inbox").await.status, StatusCode::OK);
    fx.skew
        .fetch_add(31 * 60 * 1000, std::sync::atomic::Ordering::SeqCst);
    a.get("/messages/inbox")
        .await
        .expect_problem(ErrorCode::SessionExpired);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_certificates_are_refused() {
    let fx = sqlite_fixture(RelayConfig::default()).await;
    let login = UserLoginRequest {
        user_id: fx.a.user.clone(),
        password: PASSWORD.into(),
    };
    fx.client(Some(&fx.pki.revoked.cert))
        .post_json("/session/user", &login)
        .await
        .expect_problem(ErrorCode::CertificateRevoked);
    fx.client(Some(&fx.pki.expired.cert))
        .post_json("/session/user", &login)
        .await
        .expect_problem(ErrorCode::CertificateExpired);
    fx.client(Some(&fx.pki.wrong_ca.cert))
        .post_json("/session/user", &login)
        .await
        .expect_problem(ErrorCode::CertificateUnknown);
    fx.client(None)
        .post_json("/session/user", &login)
        .await
        .expect_problem(ErrorCode::ClientCertRequired);
    // The TLS server certificate is CA-issued but no office certificate.
    fx.client(Some(&fx.pki.server.cert))
        .post_json("/session/user", &login)
        .await
        .expect_problem(ErrorCode::CertificateUnknown);

    // A logged-in office whose certificate is revoked mid-session is cut off at once.
    let a = fx.login(&fx.a).await;
    assert_eq!(a.get("/messages/inbox").await.status, StatusCode::OK);
    fx.store
        .revoke_certificate(&fx.a.cert.serial_hex, fx.state.now(), "keyCompromise")
        .await
        .unwrap();
    a.get("/messages/inbox")
        .await
        .expect_problem(ErrorCode::CertificateRevoked);
    // And nobody can send to an office whose certificate is revoked.
    let b = fx.login(&fx.b).await;
    let env = fx.envelope(&fx.b, &fx.a, b"x");
    let r = b.send(&env, "k").await;
    assert!(
        r.problem().code == "recipient_not_enrolled"
            || r.problem().code == "recipient_certificate_invalid",
        "{:?}",
        r.problem()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logins_fail_cleanly_and_lock() {
    let fx = sqlite_fixture(RelayConfig {
        max_failed_logins: 3,
        ..RelayConfig::default()
    })
    .await;
    let c = fx.client(Some(&fx.a.cert));
    let wrong = UserLoginRequest {
        user_id: fx.a.user.clone(),
        password: "wrong".into(),
    };
    // Another office's user from A's device, even with the right password, is refused exactly
    // like an unknown ID (nothing tells A's device which IDs exist elsewhere).
    let other = UserLoginRequest {
        user_id: fx.b.user.clone(),
        password: PASSWORD.into(),
    };
    c.post_json("/session/user", &other)
        .await
        .expect_problem(ErrorCode::LoginFailed);
    let unknown = UserLoginRequest {
        user_id: "c9999999999".parse().unwrap(),
        password: PASSWORD.into(),
    };
    c.post_json("/session/user", &unknown)
        .await
        .expect_problem(ErrorCode::LoginFailed);
    c.post_json("/session/user", &wrong)
        .await
        .expect_problem(ErrorCode::LoginFailed);
    c.post_json("/session/user", &wrong)
        .await
        .expect_problem(ErrorCode::LoginFailed);
    c.post_json("/session/user", &wrong)
        .await
        .expect_problem(ErrorCode::AccountLocked);
    let right = UserLoginRequest {
        user_id: fx.a.user.clone(),
        password: PASSWORD.into(),
    };
    c.post_json("/session/user", &right)
        .await
        .expect_problem(ErrorCode::AccountLocked);
    fx.skew
        .fetch_add(16 * 60 * 1000, std::sync::atomic::Ordering::SeqCst);
    assert_eq!(
        c.post_json("/session/user", &right).await.status,
        StatusCode::OK
    );
    // Malformed JSON is a problem document too.
    let r = c
        .call(
            Method::POST,
            "/session/user",
            &[("content-type", "application/json".into())],
            Body::from("{\"user_id\":\"x\""),
        )
        .await;
    r.expect_problem(ErrorCode::BadRequest);
    // So is an unknown route.
    c.get("/nope").await.expect_problem(ErrorCode::NotFound);
    // The failures are in A's audit trail.
    let entries = fx.store.audit_entries(&fx.a.number, 0, 100).await.unwrap();
    assert!(entries.iter().filter(|e| e.kind == "login.failed").count() >= 4);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parallel_guesses_get_no_more_than_the_threshold_checked() {
    let fx = sqlite_fixture(RelayConfig {
        max_failed_logins: 3,
        ..RelayConfig::default()
    })
    .await;
    let c = fx.client(Some(&fx.a.cert));
    let wrong = UserLoginRequest {
        user_id: fx.a.user.clone(),
        password: "wrong".into(),
    };
    let answers = futures::future::join_all(
        (0..12).map(|_| async { c.post_json("/session/user", &wrong).await.problem().code }),
    )
    .await;
    let failed = answers
        .iter()
        .filter(|c| *c == ErrorCode::LoginFailed.code())
        .count();
    let locked = answers
        .iter()
        .filter(|c| *c == ErrorCode::AccountLocked.code())
        .count();
    assert_eq!(failed + locked, 12, "{answers:?}");
    // Attempts 1 and 2 may be plain failures; the third locks; everything after is refused
    // without its password being checked, however the requests interleave.
    assert!(failed <= 2, "{answers:?}");
    // And the right password is refused while the lock holds.
    let right = UserLoginRequest {
        user_id: fx.a.user.clone(),
        password: PASSWORD.into(),
    };
    c.post_json("/session/user", &right)
        .await
        .expect_problem(ErrorCode::AccountLocked);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_uploads_are_refused_and_leave_nothing() {
    let fx = sqlite_fixture(RelayConfig {
        max_envelope_bytes: 64 * 1024,
        ..RelayConfig::default()
    })
    .await;
    let a = fx.login(&fx.a).await;
    let env = fx.envelope(&fx.a, &fx.b, b"1,2,3");
    let sha = hex::encode(Sha256::digest(&env));
    let send = |headers: Vec<(&'static str, String)>, body: Vec<u8>| {
        let a = &a;
        async move {
            a.call(Method::POST, "/messages", &headers, Body::from(body))
                .await
        }
    };
    // Missing headers.
    send(
        vec![
            ("x-renkei-sha256", sha.clone()),
            ("x-renkei-length", env.len().to_string()),
        ],
        env.clone(),
    )
    .await
    .expect_problem(ErrorCode::IdempotencyKeyRequired);
    // Oversized: refused from the header, before the body is read.
    send(
        vec![
            ("idempotency-key", "k1".into()),
            ("x-renkei-sha256", sha.clone()),
            ("x-renkei-length", "1000000".into()),
        ],
        env.clone(),
    )
    .await
    .expect_problem(ErrorCode::PayloadTooLarge);
    // Digest mismatch.
    send(
        vec![
            ("idempotency-key", "k2".into()),
            ("x-renkei-sha256", "00".repeat(32)),
            ("x-renkei-length", env.len().to_string()),
        ],
        env.clone(),
    )
    .await
    .expect_problem(ErrorCode::DigestMismatch);
    // Body shorter / longer than announced.
    send(
        vec![
            ("idempotency-key", "k3".into()),
            ("x-renkei-sha256", sha.clone()),
            ("x-renkei-length", (env.len() + 1).to_string()),
        ],
        env.clone(),
    )
    .await
    .expect_problem(ErrorCode::LengthMismatch);
    send(
        vec![
            ("idempotency-key", "k4".into()),
            ("x-renkei-sha256", sha.clone()),
            ("x-renkei-length", (env.len() - 1).to_string()),
        ],
        env.clone(),
    )
    .await
    .expect_problem(ErrorCode::LengthMismatch);
    // Not an envelope.
    a.send(b"hello", "k5")
        .await
        .expect_problem(ErrorCode::EnvelopeInvalid);
    // Tampered ciphertext: the sender's signature no longer verifies.
    let mut tampered = env.clone();
    let n = tampered.len();
    tampered[n - 70] ^= 1;
    a.send(&tampered, "k6")
        .await
        .expect_problem(ErrorCode::SignatureInvalid);
    // An envelope from another office.
    let forged = fx.envelope(&fx.b, &fx.a, b"x");
    a.send(&forged, "k7")
        .await
        .expect_problem(ErrorCode::SenderMismatch);
    // A misaddressed upload is refused from its head, while the rest has not even been sent:
    // the body streams, it is not buffered first.
    let (mut tx, rx) = futures::channel::mpsc::channel::<Result<bytes::Bytes, std::io::Error>>(2);
    let hl = u32::from_be_bytes(forged[4..8].try_into().unwrap()) as usize;
    let head = forged[..8 + hl + 32 + 8 + 1].to_vec();
    {
        use futures::SinkExt;
        tx.send(Ok(bytes::Bytes::from(head))).await.unwrap();
    }
    let headers = [
        ("idempotency-key", "k9".to_owned()),
        ("x-renkei-sha256", hex::encode(Sha256::digest(&forged))),
        ("x-renkei-length", forged.len().to_string()),
    ];
    tokio::time::timeout(
        std::time::Duration::from_secs(10),
        a.call(Method::POST, "/messages", &headers, Body::from_stream(rx)),
    )
    .await
    .expect("answered before the body ended")
    .expect_problem(ErrorCode::SenderMismatch);
    drop(tx);
    // Client disconnects mid-upload.
    let (mut tx, rx) = futures::channel::mpsc::channel::<Result<bytes::Bytes, std::io::Error>>(2);
    let body = Body::from_stream(rx);
    let half = env[..env.len() / 2].to_vec();
    let feeder = tokio::spawn(async move {
        use futures::SinkExt;
        tx.send(Ok(bytes::Bytes::from(half))).await.unwrap();
        tx.send(Err(std::io::Error::new(
            std::io::ErrorKind::ConnectionReset,
            "client went away",
        )))
        .await
        .unwrap();
    });
    let headers = [
        ("idempotency-key", "k8".to_owned()),
        ("x-renkei-sha256", sha.clone()),
        ("x-renkei-length", env.len().to_string()),
    ];
    a.call(Method::POST, "/messages", &headers, body)
        .await
        .expect_problem(ErrorCode::LengthMismatch);
    feeder.await.unwrap();

    // Nothing of all that is visible, stored or left on disk.
    let b = fx.login(&fx.b).await;
    assert!(b
        .get("/messages/inbox")
        .await
        .json::<MessagePage>()
        .items
        .is_empty());
    assert!(a
        .get("/messages/outbox")
        .await
        .json::<MessagePage>()
        .items
        .is_empty());
    for k in ["k1", "k2", "k3", "k4", "k5", "k6", "k7", "k8", "k9"] {
        assert!(fx
            .store
            .message_by_idempotency_key(&fx.a.number, k)
            .await
            .unwrap()
            .is_none());
    }
    let refused = fx
        .store
        .audit_entries(&fx.a.number, 0, 100)
        .await
        .unwrap()
        .iter()
        .filter(|e| e.kind == "message.refused")
        .count();
    assert_eq!(refused, 10);
    // The good one still goes through under a fresh key.
    assert_eq!(a.send(&env, "k10").await.status, StatusCode::CREATED);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_and_unenrolled_recipients() {
    let fx = sqlite_fixture(RelayConfig::default()).await;
    // Office D is registered but never enrolled: no usage application, no device.
    let now = fx.state.now();
    let d_number: renkei_ids::OfficeNumber = "0300000300".parse().unwrap();
    fx.store
        .register_office(
            &renkei_store::Office {
                number: d_number.clone(),
                name: "未利用事業所".into(),
                name_kana: String::new(),
                kind: "11".parse().unwrap(),
                prefecture: 3,
                postal_code: String::new(),
                address: String::new(),
                phone: String::new(),
                accepts: vec![],
                registered_at: now,
            },
            &renkei_store::KjAccount {
                kj_id: "KJ000000000099".parse().unwrap(),
                office: d_number.clone(),
                password_hash: "x".into(),
                password_temporary: true,
                issuance_password_hash: "x".into(),
                failed_logins: 0,
                locked_until: None,
                created_at: now,
            },
        )
        .await
        .unwrap();
    let a = fx.login(&fx.a).await;
    let entry: renkei_api::DirectoryEntry = a.get("/directory/0300000300").await.json();
    assert!(!entry.enrolled);
    assert!(entry.certificate.is_none());
    a.get("/directory/0300000999")
        .await
        .expect_problem(ErrorCode::OfficeNotFound);
    a.get("/directory/12")
        .await
        .expect_problem(ErrorCode::InvalidIdentifier);
    a.get("/directory?kind=x")
        .await
        .expect_problem(ErrorCode::InvalidIdentifier);
    let page: renkei_api::DirectoryPage = a
        .get("/directory?number=0300000&enrolled_only=true")
        .await
        .json();
    assert!(page.items.iter().all(|e| e.enrolled));
    assert!(!page.items.iter().any(|e| e.number == d_number));
    // Certificate status.
    let st: renkei_api::CertStatus = a
        .get(&format!("/certificates/{}", fx.pki.revoked.cert.serial_hex))
        .await
        .json();
    assert_eq!(st.status, "revoked");
    let st: renkei_api::CertStatus = a
        .get(&format!("/certificates/{}", fx.b.cert.serial_hex))
        .await
        .json();
    assert_eq!(st.status, "good");
    let list: renkei_api::RevocationList = a.get("/certificates/revoked").await.json();
    assert!(list
        .revoked
        .iter()
        .any(|c| c.serial == fx.pki.revoked.cert.serial_hex));
    a.get("/certificates/ffff")
        .await
        .expect_problem(ErrorCode::CertificateNotFound);
}
