//! Lockouts under parallel guessing, and the issuance-password lock kept apart from the login
//! lock, on SQLite and on PostgreSQL.

mod common;

use common::{device_request, Fixture};
use renkei_ids::OfficeNumber;
use renkei_portal::{NewOffice, PortalError};
use renkei_store::now_millis;

const NEW_PASSWORD: &str = "Renkei-2025ok";
const PARALLEL: usize = 20;

/// Sort parallel outcomes into (wrong password, locked); anything else fails the test.
fn tally<T: std::fmt::Debug>(results: Vec<Result<T, PortalError>>) -> (usize, usize) {
    let mut bad = 0;
    let mut locked = 0;
    for r in results {
        match r {
            Err(PortalError::BadCredentials) => bad += 1,
            Err(PortalError::Locked { minutes }) => {
                assert!((1..=15).contains(&minutes), "{minutes} minutes");
                locked += 1;
            }
            other => panic!("unexpected outcome {other:?}"),
        }
    }
    (bad, locked)
}

async fn lockouts(fx: Fixture) {
    let s = &fx.service;
    let now = now_millis();
    let threshold = s.config().lockout_threshold as usize;
    s.create_operator("admin", "管理者", "Operator-2025x", now)
        .await
        .expect("operator");
    let notice = s
        .register_office(
            "admin",
            &NewOffice {
                number: "1310100010".into(),
                name: "れんけい居宅介護支援事業所".into(),
                kind: "43".into(),
                ..Default::default()
            },
            now,
        )
        .await
        .expect("register");
    let office: OfficeNumber = "1310100010".parse().unwrap();
    let kj = notice.kj_id.clone();
    s.change_kj_password(&kj, &notice.temporary_password, NEW_PASSWORD, now)
        .await
        .expect("change");
    let issuance = notice.issuance_password.clone().expect("issuance password");

    // Five wrong 証明書発行用パスワード lock issuance (even for the right one) but not the login.
    let (_k, good) = device_request(kj.as_str(), &issuance, &office, "PC-1");
    let mut wrong = good.clone();
    wrong.issuance_password = "nope".into();
    for _ in 0..threshold {
        assert!(matches!(
            s.issue_certificate(&wrong, now).await,
            Err(PortalError::BadIssuancePassword)
        ));
    }
    let locked = s.issue_certificate(&good, now).await;
    let Err(e @ PortalError::IssuanceLocked { .. }) = locked else {
        panic!("issuance should be locked: {locked:?}");
    };
    assert!(e
        .to_string()
        .starts_with("証明書発行用パスワードの誤りが続いたため"));
    assert_eq!(e.code(), "issuance_locked");
    let account = fx.store.kj_account(&kj).await.unwrap().unwrap();
    assert_eq!((account.failed_logins, account.locked_until), (0, None));
    s.kj_login(kj.as_str(), NEW_PASSWORD, now)
        .await
        .expect("the login is not locked by issuance guesses");
    let trail = fx.store.audit_entries(&office, 0, 500).await.unwrap();
    assert!(trail.iter().any(|e| e.kind == "portal.issuance_lockout"));
    assert!(trail
        .iter()
        .any(|e| e.kind == "portal.certificate_refused" && e.detail.contains("issuance_locked")));
    // After the lock, the right password issues (and clears the counter).
    let later = now + s.config().lockout_ms;
    s.issue_certificate(&good, later)
        .await
        .expect("issue after the issuance lock");
    assert!(matches!(
        s.issue_certificate(&wrong, later).await,
        Err(PortalError::BadIssuancePassword)
    ));

    // Parallel wrong KJ logins: no attempt is lost, only `threshold` passwords are checked.
    let results = futures::future::join_all(
        (0..PARALLEL).map(|_| s.kj_login(kj.as_str(), "Wrong-password1", later)),
    )
    .await;
    assert_eq!(tally(results), (threshold, PARALLEL - threshold));
    let account = fx.store.kj_account(&kj).await.unwrap().unwrap();
    // (A request that already sees the lock is refused without being counted.)
    assert!((threshold..=PARALLEL).contains(&(account.failed_logins as usize)));
    assert_eq!(account.locked_until, Some(later + s.config().lockout_ms));
    assert!(matches!(
        s.kj_login(kj.as_str(), NEW_PASSWORD, later).await,
        Err(PortalError::Locked { .. })
    ));
    let after = later + s.config().lockout_ms;
    s.kj_login(kj.as_str(), NEW_PASSWORD, after)
        .await
        .expect("after the lockout");
    let account = fx.store.kj_account(&kj).await.unwrap().unwrap();
    assert_eq!((account.failed_logins, account.locked_until), (0, None));

    // The same for operators.
    let results = futures::future::join_all(
        (0..PARALLEL).map(|_| s.operator_login("admin", "Wrong-password1", now)),
    )
    .await;
    assert_eq!(tally(results), (threshold, PARALLEL - threshold));
    let op = fx.store.operator("admin").await.unwrap().unwrap();
    assert!((threshold..=PARALLEL).contains(&(op.failed_logins as usize)));
    assert!(matches!(
        s.operator_login("admin", "Operator-2025x", now).await,
        Err(PortalError::Locked { .. })
    ));
    s.operator_login("admin", "Operator-2025x", now + s.config().lockout_ms)
        .await
        .expect("operator after the lockout");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lockouts_on_sqlite() {
    lockouts(common::sqlite().await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lockouts_on_postgres() {
    lockouts(common::postgres().await).await;
}
