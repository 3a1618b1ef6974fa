//! The whole enrollment flow through the library API, on SQLite and on PostgreSQL.

mod common;

use common::{device_request, Fixture};
use renkei_ids::OfficeNumber;
use renkei_pki::OfficeCert;
use renkei_portal::{ApplicationForm, NewOffice, PortalError};
use renkei_store::now_millis;

const NEW_PASSWORD: &str = "Renkei-2025ok";

fn form() -> ApplicationForm {
    ApplicationForm {
        contact_name: "連携 花子".into(),
        contact_email: "hanako@example.jp".into(),
        contact_phone: "03-0000-0000".into(),
        invoice: false,
        agree_terms: true,
        agree_privacy: true,
        confirm_fee: true,
    }
}

async fn whole_flow(fx: Fixture) {
    let s = &fx.service;
    let now = now_millis();
    s.create_operator("admin", "管理者", "Operator-2025x", now)
        .await
        .expect("operator");
    s.operator_login("admin", "Operator-2025x", now)
        .await
        .expect("operator login");

    // 1. Registration; bad office numbers are refused with the field named.
    let bad = NewOffice {
        number: "131010001".into(),
        name: "x".into(),
        kind: "43".into(),
        ..Default::default()
    };
    assert!(matches!(
        s.register_office("admin", &bad, now).await,
        Err(PortalError::Invalid {
            field: "number",
            ..
        })
    ));
    let input = NewOffice {
        number: "1310100010".into(),
        name: "れんけい居宅介護支援事業所".into(),
        kind: "43".into(),
        ..Default::default()
    };
    let notice = s
        .register_office("admin", &input, now)
        .await
        .expect("register");
    assert!(notice.kj_id.as_str().starts_with("KJ"));
    let issuance = notice.issuance_password.clone().expect("issuance password");
    assert!(
        s.register_office("admin", &input, now).await.is_err(),
        "twice"
    );
    let office: OfficeNumber = "1310100010".parse().unwrap();

    // 2. Login with the temporary password; nothing else until it is changed.
    let kj = notice.kj_id.clone();
    assert!(matches!(
        s.kj_login("KJ12", "x", now).await,
        Err(PortalError::Invalid { field: "kj_id", .. })
    ));
    let login = s
        .kj_login(kj.as_str(), &notice.temporary_password, now)
        .await
        .expect("login");
    assert!(login.must_change_password);
    let (_k, req) = device_request(kj.as_str(), &issuance, &office, "PC-1");
    assert!(matches!(
        s.issue_certificate(&req, now).await,
        Err(PortalError::MustChangePassword)
    ));
    assert!(matches!(
        s.change_kj_password(&kj, &notice.temporary_password, "short", now)
            .await,
        Err(PortalError::PasswordRule { .. })
    ));
    s.change_kj_password(&kj, &notice.temporary_password, NEW_PASSWORD, now)
        .await
        .expect("change");
    assert!(
        !s.kj_login(kj.as_str(), NEW_PASSWORD, now)
            .await
            .expect("login")
            .must_change_password
    );

    // No certificate yet: no application.
    assert!(!s.can_apply(&office, now).await.unwrap());
    assert!(matches!(
        s.apply(&kj, &form(), now).await,
        Err(PortalError::NoValidCertificate)
    ));

    // 3. Certificates: wrong issuance password, CSR for another office, then the free one.
    let mut wrong = req.clone();
    wrong.issuance_password = "nope".into();
    assert!(matches!(
        s.issue_certificate(&wrong, now).await,
        Err(PortalError::BadIssuancePassword)
    ));
    let other: OfficeNumber = "2710100020".parse().unwrap();
    let (_o, foreign) = device_request(kj.as_str(), &issuance, &other, "PC-X");
    assert!(matches!(
        s.issue_certificate(&foreign, now).await,
        Err(PortalError::Certificate(_))
    ));
    let issued = s.issue_certificate(&req, now).await.expect("issue");
    let cert = OfficeCert::parse_pem(&issued.certificate_pem).unwrap();
    cert.verify(&issued.ca_certificate_pem, now, |_| false)
        .unwrap();
    assert_eq!(cert.office(), &office);
    // The same device again (renewal) is fine; a second device is refused until 端末変更.
    s.issue_certificate(&req, now)
        .await
        .expect("same device again");
    let (_k2, req2) = device_request(kj.as_str(), &issuance, &office, "PC-2");
    match s.issue_certificate(&req2, now).await {
        Err(PortalError::DeviceLimit { label }) => assert_eq!(label, "PC-1"),
        other => panic!("second device: {other:?}"),
    }
    let revoked = s
        .change_device(kj.as_str(), &office, now)
        .await
        .expect("端末変更");
    assert_eq!(
        revoked.len(),
        2,
        "both certificates of the released device are revoked"
    );
    let issued2 = s
        .issue_certificate(&req2, now)
        .await
        .expect("new device after 端末変更");
    let crl = renkei_pki::parse_crl(&s.crl_pem().await.unwrap(), s.ca_certificate_pem()).unwrap();
    assert!(crl.is_revoked(&issued.serial));
    assert!(!crl.is_revoked(&issued2.serial));

    // Issuance password re-issue: a sealed notice opened only with the KJ password.
    let notice_id = s
        .reissue_issuance_password(&kj, NEW_PASSWORD, now)
        .await
        .expect("reissue");
    assert!(s
        .open_notice(&kj, "Wrong-password1", &notice_id, now)
        .await
        .is_err());
    let text = s
        .open_notice(&kj, NEW_PASSWORD, &notice_id, now)
        .await
        .expect("open");
    let new_issuance = text.rsplit(' ').next().unwrap().to_owned();
    let mut old = req2.clone();
    old.issuance_password = issuance.clone();
    assert!(matches!(
        s.issue_certificate(&old, now).await,
        Err(PortalError::BadIssuancePassword)
    ));
    old.issuance_password = new_issuance;
    s.issue_certificate(&old, now)
        .await
        .expect("new issuance password works");

    // 4. Usage application: both consents required, then the c… user and the ledger entry.
    assert!(s.can_apply(&office, now).await.unwrap());
    let mut no_terms = form();
    no_terms.agree_terms = false;
    assert!(matches!(
        s.apply(&kj, &no_terms, now).await,
        Err(PortalError::Invalid {
            field: "agree_terms",
            ..
        })
    ));
    let done = s.apply(&kj, &form(), now).await.expect("apply");
    assert!(done.personal_user_id.as_str().starts_with('c'));
    let user = fx
        .store
        .personal_user(&done.personal_user_id)
        .await
        .unwrap()
        .expect("user");
    assert!(renkei_store::password::verify_password(
        &done.personal_password,
        &user.password_hash
    ));
    assert!(matches!(
        s.apply(&kj, &form(), now).await,
        Err(PortalError::AlreadyApplied)
    ));
    let lic = fx.store.licenses_for_office(&office).await.unwrap();
    assert_eq!(lic.len(), 1);
    let csv = s.charges_csv(done.license.claim_month).await.unwrap();
    assert!(
        csv.contains(&format!("1310100010,{kj},{}", done.license.amount_yen)),
        "{csv}"
    );
    assert!(fx
        .store
        .search_offices(&renkei_store::OfficeQuery {
            enrolled_only: true,
            limit: 10,
            ..Default::default()
        })
        .await
        .unwrap()
        .iter()
        .any(|l| l.office.number == office));

    // 5. Download gate.
    assert!(matches!(
        s.client_download("ちがう事業所", "1310100010", std::env::consts::OS, now)
            .await,
        Err(PortalError::RegistryMismatch)
    ));
    let build = s
        .client_download(
            "れんけい 居宅介護支援事業所",
            "1310100010",
            std::env::consts::OS,
            now,
        )
        .await
        .expect("download");
    assert!(build.path.exists());

    // Refusals and steps are in the office's audit trail.
    let trail = fx.store.audit_entries(&office, 0, 500).await.unwrap();
    let kinds: Vec<&str> = trail.iter().map(|e| e.kind.as_str()).collect();
    for k in [
        "portal.office_registered",
        "portal.certificate_refused",
        "portal.device_released",
        "portal.usage_application",
        "portal.download_refused",
    ] {
        assert!(kinds.contains(&k), "{k} missing from {kinds:?}");
    }

    // Lockout after five failures, even with the right password afterwards (wrong issuance
    // passwords above count on their own counter, not on this one).
    s.kj_login(kj.as_str(), NEW_PASSWORD, now)
        .await
        .expect("login resets the counter");
    for _ in 0..5 {
        assert!(matches!(
            s.kj_login(kj.as_str(), "Wrong-password1", now).await,
            Err(PortalError::BadCredentials)
        ));
    }
    assert!(matches!(
        s.kj_login(kj.as_str(), NEW_PASSWORD, now).await,
        Err(PortalError::Locked { .. })
    ));
    s.kj_login(kj.as_str(), NEW_PASSWORD, now + s.config().lockout_ms + 1)
        .await
        .expect("after the lockout");

    // A revoked certificate cannot be used to apply (second office).
    let n2 = s
        .register_office(
            "admin",
            &NewOffice {
                number: "2710100020".into(),
                name: "訪問介護なにわ".into(),
                kind: "11".into(),
                ..Default::default()
            },
            now,
        )
        .await
        .unwrap();
    s.change_kj_password(&n2.kj_id, &n2.temporary_password, NEW_PASSWORD, now)
        .await
        .unwrap();
    let (_k3, r3) = device_request(
        n2.kj_id.as_str(),
        n2.issuance_password.as_deref().unwrap(),
        &other,
        "PC-N",
    );
    let c3 = s.issue_certificate(&r3, now).await.unwrap();
    s.revoke_certificate("admin", &c3.serial, "keyCompromise", now)
        .await
        .unwrap();
    assert!(matches!(
        s.apply(&n2.kj_id, &form(), now).await,
        Err(PortalError::NoValidCertificate)
    ));
    // Expired: three years later the certificate no longer counts.
    let later = now + 4 * 365 * renkei_pki::DAY_MS;
    assert!(s.valid_certificate(&office, later).await.unwrap().is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn whole_flow_on_sqlite() {
    whole_flow(common::sqlite().await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn whole_flow_on_postgres() {
    whole_flow(common::postgres().await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bulk_registration_is_all_or_nothing_on_invalid_rows() {
    let fx = common::sqlite().await;
    let now = now_millis();
    let bad = "事業所番号,事業所名\n1310100010,A,,43\n99,B,,43\n";
    let r = fx.service.bulk_register("admin", bad, now).await.unwrap();
    assert!(r.registered.is_empty());
    assert_eq!(r.refused.len(), 1);
    assert_eq!(r.refused[0].0, 3);
    assert!(fx
        .store
        .office(&"1310100010".parse().unwrap())
        .await
        .unwrap()
        .is_none());
    let good = "1310100010,A,,43\n1310100028,B,,11\n";
    let r = fx.service.bulk_register("admin", good, now).await.unwrap();
    assert_eq!(r.registered.len(), 2);
    let again = fx.service.bulk_register("admin", good, now).await.unwrap();
    assert_eq!(again.refused.len(), 2, "already registered");
}
