//! Scenarios for the enrollment traits.
//!
//! The scenarios use office numbers of prefecture 47 (`47…`) only, so that other scenario
//! modules running against the same database can use any other prefecture without clashes.
//! [`sample_office`] and [`sample_account`] are public so that other scenarios can register the
//! offices they need.

use renkei_ids::{KjUserId, OfficeNumber, PersonalUserId};

use crate::{
    CertProfile, CertRecord, DeviceBinding, EnrollmentStore, KjAccount, LicenseEntry, Millis,
    Notice, Office, OfficeQuery, Operator, PersonalUser, PortalSession, Store, StoreError,
    UsageApplication,
};

/// A plausible office with the given number (name `テスト事業所<number>`, kind 43, Tokyo time 0).
pub fn sample_office(number: &str, at: Millis) -> Office {
    let number: OfficeNumber = number.parse().expect("test office number");
    Office {
        name: format!("テスト事業所{number}"),
        name_kana: format!("テストジギョウショ{number}"),
        kind: "43".parse().expect("kind"),
        prefecture: number.prefecture(),
        postal_code: "900-0001".into(),
        address: "沖縄県那覇市港町1-1".into(),
        phone: "098-000-0000".into(),
        accepts: vec!["UPPLAN@202407".into()],
        registered_at: at,
        number,
    }
}

/// A KJ account for `office` with placeholder hashes (scenarios do not log in).
pub fn sample_account(kj_id: &str, office: &OfficeNumber, at: Millis) -> KjAccount {
    KjAccount {
        kj_id: kj_id.parse().expect("test KJ ID"),
        office: office.clone(),
        password_hash: "$argon2id$v=19$m=19456,t=2,p=1$placeholder$placeholder".into(),
        password_temporary: true,
        issuance_password_hash: "$argon2id$v=19$m=19456,t=2,p=1$issuance$placeholder".into(),
        failed_logins: 0,
        locked_until: None,
        created_at: at,
    }
}

/// A certificate record for `office` (not a real certificate: storage does not parse PEM).
pub fn sample_cert(
    serial: &str,
    office: &OfficeNumber,
    spki: &str,
    not_before: Millis,
    not_after: Millis,
) -> CertRecord {
    CertRecord {
        serial: serial.into(),
        office: Some(office.clone()),
        profile: CertProfile::Careplan,
        spki_sha256: spki.into(),
        encryption_key: Some(vec![7u8; 32]),
        pem: format!("-----BEGIN CERTIFICATE-----\n{serial}\n-----END CERTIFICATE-----\n"),
        not_before,
        not_after,
        issued_at: not_before,
        revoked_at: None,
        revocation_reason: None,
    }
}

const T0: Millis = 1_750_000_000_000; // 2025-06-15T15:06:40Z
const DAY: Millis = 86_400_000;

fn office_no(s: &str) -> OfficeNumber {
    s.parse().expect("office number")
}

/// Run the enrollment scenarios.
pub async fn run<S: Store>(store: &S) {
    offices_and_accounts(store).await;
    directory_search(store).await;
    certificates(store).await;
    devices(store).await;
    device_certificates(store).await;
    operators(store).await;
    usage_applications_and_ledger(store).await;
    notices(store).await;
    portal_sessions(store).await;
    lockouts(store).await;
}

async fn offices_and_accounts<S: EnrollmentStore>(store: &S) {
    let a = sample_office("4710000001", T0);
    let acc = sample_account("KJ470000000001", &a.number, T0);
    store
        .register_office(&a, &acc)
        .await
        .expect("register office");
    assert_eq!(
        store.office(&a.number).await.expect("office"),
        Some(a.clone())
    );
    assert_eq!(
        store.kj_account(&acc.kj_id).await.expect("kj"),
        Some(acc.clone())
    );
    assert_eq!(
        store
            .kj_account_for_office(&a.number)
            .await
            .expect("kj for office"),
        Some(acc.clone())
    );
    assert_eq!(
        store.office(&office_no("4719999999")).await.expect("none"),
        None
    );
    let missing: KjUserId = "KJ479999999999".parse().expect("kj");
    assert_eq!(store.kj_account(&missing).await.expect("none"), None);

    // The same office twice: conflict.
    let again = sample_account("KJ470000000002", &a.number, T0);
    assert!(matches!(
        store.register_office(&a, &again).await,
        Err(StoreError::Conflict(_))
    ));
    // A new office with an existing KJ ID: conflict, and the office is not half-created.
    let b = sample_office("4710000002", T0);
    let dup = sample_account("KJ470000000001", &b.number, T0);
    assert!(matches!(
        store.register_office(&b, &dup).await,
        Err(StoreError::Conflict(_))
    ));
    assert_eq!(
        store.office(&b.number).await.expect("office b"),
        None,
        "nothing half-created"
    );
    // An account naming another office: refused.
    let wrong = sample_account("KJ470000000003", &a.number, T0);
    assert!(store.register_office(&b, &wrong).await.is_err());
    assert_eq!(store.office(&b.number).await.expect("office b"), None);

    // Update the mutable fields.
    let mut changed = acc.clone();
    changed.password_hash = "$argon2id$changed".into();
    changed.password_temporary = false;
    changed.failed_logins = 3;
    changed.locked_until = Some(T0 + 900_000);
    store.update_kj_account(&changed).await.expect("update");
    assert_eq!(
        store.kj_account(&acc.kj_id).await.expect("kj"),
        Some(changed.clone())
    );
    changed.failed_logins = 0;
    changed.locked_until = None;
    store
        .update_kj_account(&changed)
        .await
        .expect("update back");
    assert_eq!(
        store.kj_account(&acc.kj_id).await.expect("kj"),
        Some(changed)
    );
    let mut ghost = acc.clone();
    ghost.kj_id = missing;
    assert!(matches!(
        store.update_kj_account(&ghost).await,
        Err(StoreError::NotFound(_))
    ));
}

async fn directory_search<S: EnrollmentStore>(store: &S) {
    // 4720000001..=4720000005, one of them a 訪問介護 office with a name containing `%`.
    for i in 1..=5u32 {
        let mut o = sample_office(&format!("47200000{i:02}"), T0);
        if i == 3 {
            o.kind = "11".parse().expect("kind");
            o.name = "ヘルパー100%ステーション".into();
            o.name_kana = "ヘルパーステーション".into();
        }
        let acc = sample_account(&format!("KJ4720000000{i:02}"), &o.number, T0);
        store.register_office(&o, &acc).await.expect("register");
    }
    let q = |f: fn(&mut OfficeQuery)| {
        let mut q = OfficeQuery {
            limit: 200,
            ..OfficeQuery::default()
        };
        f(&mut q);
        q
    };
    let numbers = |v: Vec<crate::OfficeListing>| {
        v.into_iter()
            .map(|l| l.office.number.to_string())
            .collect::<Vec<_>>()
    };

    let all = store
        .search_offices(&q(|q| q.number_prefix = Some("472".into())))
        .await
        .expect("prefix");
    assert_eq!(
        numbers(all.clone()),
        (1..=5)
            .map(|i| format!("47200000{i:02}"))
            .collect::<Vec<_>>()
    );
    assert!(
        all.iter().all(|l| !l.enrolled),
        "no certificate and no application yet"
    );

    let by_kind = store
        .search_offices(&q(|q| q.kind = Some("11".parse().expect("kind"))))
        .await
        .expect("kind");
    assert_eq!(numbers(by_kind), vec!["4720000003"]);

    let pct = store
        .search_offices(&q(|q| q.name_contains = Some("100%".into())))
        .await
        .expect("name");
    assert_eq!(numbers(pct), vec!["4720000003"]);
    let literal_pct = store
        .search_offices(&q(|q| q.name_contains = Some("%".into())))
        .await
        .expect("pct");
    assert_eq!(
        numbers(literal_pct),
        vec!["4720000003"],
        "% is matched literally"
    );
    let kana = store
        .search_offices(&q(|q| q.name_contains = Some("ヘルパーステ".into())))
        .await
        .expect("kana");
    assert_eq!(numbers(kana), vec!["4720000003"]);

    let pref = store
        .search_offices(&q(|q| q.prefecture = Some(47)))
        .await
        .expect("pref");
    assert!(pref.len() >= 5);
    let none = store
        .search_offices(&q(|q| q.prefecture = Some(1)))
        .await
        .expect("pref 1");
    assert!(none.iter().all(|l| l.office.prefecture == 1));

    let page = store
        .search_offices(&OfficeQuery {
            number_prefix: Some("472".into()),
            limit: 2,
            offset: 2,
            ..Default::default()
        })
        .await
        .expect("page");
    assert_eq!(numbers(page), vec!["4720000003", "4720000004"]);

    let enrolled_query = q(|q| {
        q.number_prefix = Some("472".into());
        q.enrolled_only = true;
    });
    assert!(store
        .search_offices(&enrolled_query)
        .await
        .expect("enrolled")
        .is_empty());
}

async fn certificates<S: EnrollmentStore>(store: &S) {
    let o = sample_office("4730000001", T0);
    store
        .register_office(&o, &sample_account("KJ473000000001", &o.number, T0))
        .await
        .expect("register");
    let now = crate::now_millis();
    let old = sample_cert("0a01", &o.number, "aa", now - 400 * DAY, now - 35 * DAY);
    let mut new = sample_cert("0a02", &o.number, "bb", now - DAY, now + 365 * DAY);
    new.profile = CertProfile::Kaigo;
    new.issued_at = now - DAY + 1;
    store.insert_certificate(&old).await.expect("insert old");
    store.insert_certificate(&new).await.expect("insert new");
    assert!(matches!(
        store.insert_certificate(&old).await,
        Err(StoreError::Conflict(_))
    ));
    assert_eq!(
        store.certificate("0a02").await.expect("get"),
        Some(new.clone())
    );
    assert_eq!(store.certificate("ffff").await.expect("get none"), None);
    let list = store
        .certificates_for_office(&o.number)
        .await
        .expect("list");
    assert_eq!(list, vec![new.clone(), old.clone()], "newest first");

    // A relay certificate has no office.
    let mut relay = sample_cert("0a03", &o.number, "cc", now, now + DAY);
    relay.office = None;
    relay.profile = CertProfile::Relay;
    relay.encryption_key = None;
    store.insert_certificate(&relay).await.expect("relay cert");
    assert_eq!(store.certificate("0a03").await.expect("relay"), Some(relay));

    store
        .revoke_certificate("0a01", now, "superseded")
        .await
        .expect("revoke");
    store
        .revoke_certificate("0a01", now + 5, "keyCompromise")
        .await
        .expect("revoke again");
    let revoked = store
        .certificate("0a01")
        .await
        .expect("get")
        .expect("exists");
    assert_eq!(revoked.revoked_at, Some(now), "first revocation stays");
    assert_eq!(revoked.revocation_reason.as_deref(), Some("superseded"));
    assert!(matches!(
        store.revoke_certificate("ffff", now, "x").await,
        Err(StoreError::NotFound(_))
    ));
    let crl: Vec<String> = store
        .revoked_certificates()
        .await
        .expect("crl")
        .into_iter()
        .map(|c| c.serial)
        .collect();
    assert!(crl.contains(&"0a01".to_string()));
    assert!(!crl.contains(&"0a02".to_string()));
}

async fn devices<S: EnrollmentStore>(store: &S) {
    let o = sample_office("4740000001", T0);
    store
        .register_office(&o, &sample_account("KJ474000000001", &o.number, T0))
        .await
        .expect("register");
    let bind = |spki: &str, serial: &str, at: Millis| DeviceBinding {
        office: o.number.clone(),
        spki_sha256: spki.into(),
        cert_serial: serial.into(),
        label: format!("PC-{spki}"),
        bound_at: at,
        released_at: None,
    };
    assert!(store
        .active_devices(&o.number)
        .await
        .expect("none")
        .is_empty());
    store
        .bind_device(&bind("d1", "s1", T0), 1)
        .await
        .expect("first device");
    // A second device is refused while the first is bound.
    assert!(matches!(
        store.bind_device(&bind("d2", "s2", T0 + 1), 1).await,
        Err(StoreError::Conflict(_))
    ));
    // The same device again (renewed certificate) is not a second device.
    store
        .bind_device(&bind("d1", "s1b", T0 + 2), 1)
        .await
        .expect("same device");
    let active = store.active_devices(&o.number).await.expect("active");
    assert_eq!(active.len(), 1);
    assert_eq!(active[0].cert_serial, "s1b");
    assert_eq!(active[0].bound_at, T0);
    // A policy of two devices admits the second.
    store
        .bind_device(&bind("d2", "s2", T0 + 3), 2)
        .await
        .expect("two allowed");
    assert_eq!(
        store.active_devices(&o.number).await.expect("active").len(),
        2
    );
    // 端末変更: release every binding; then a new device binds.
    assert_eq!(
        store
            .release_devices(&o.number, T0 + 4)
            .await
            .expect("release"),
        2
    );
    assert_eq!(
        store
            .release_devices(&o.number, T0 + 5)
            .await
            .expect("release none"),
        0
    );
    assert!(store
        .active_devices(&o.number)
        .await
        .expect("none")
        .is_empty());
    store
        .bind_device(&bind("d3", "s3", T0 + 6), 1)
        .await
        .expect("new device after release");
    assert_eq!(
        store.active_devices(&o.number).await.expect("one")[0].spki_sha256,
        "d3"
    );
    // Unknown office: not found.
    let mut stray = bind("d9", "s9", T0);
    stray.office = office_no("4749999999");
    assert!(matches!(
        store.bind_device(&stray, 1).await,
        Err(StoreError::NotFound(_))
    ));
}

async fn device_certificates<S: EnrollmentStore>(store: &S) {
    let o = sample_office("4750000001", T0);
    store
        .register_office(&o, &sample_account("KJ475000000001", &o.number, T0))
        .await
        .expect("register");
    let now = crate::now_millis();
    let binding = |spki: &str, serial: &str| DeviceBinding {
        office: o.number.clone(),
        spki_sha256: spki.into(),
        cert_serial: serial.into(),
        label: "PC".into(),
        bound_at: now,
        released_at: None,
    };
    let c1 = sample_cert("0b01", &o.number, "e1", now, now + DAY);
    store
        .record_device_certificate(&c1, &binding("e1", "0b01"), 1)
        .await
        .expect("first device");
    // A second device: refused, and its certificate is not stored.
    let c2 = sample_cert("0b02", &o.number, "e2", now, now + DAY);
    assert!(matches!(
        store
            .record_device_certificate(&c2, &binding("e2", "0b02"), 1)
            .await,
        Err(StoreError::Conflict(_))
    ));
    assert_eq!(
        store.certificate("0b02").await.expect("get"),
        None,
        "nothing half-created"
    );
    // 端末変更 releases the first device and revokes its certificate.
    assert_eq!(
        store
            .change_device(&o.number, now + 1)
            .await
            .expect("change"),
        vec!["0b01".to_string()]
    );
    let revoked = store
        .certificate("0b01")
        .await
        .expect("get")
        .expect("exists");
    assert_eq!(revoked.revoked_at, Some(now + 1));
    assert_eq!(revoked.revocation_reason.as_deref(), Some("superseded"));
    store
        .record_device_certificate(&c2, &binding("e2", "0b02"), 1)
        .await
        .expect("after change");
    assert_eq!(
        store.active_devices(&o.number).await.expect("active")[0].cert_serial,
        "0b02"
    );
    assert!(store
        .change_device(&office_no("4759999999"), now)
        .await
        .expect("unknown office")
        .is_empty());
}

async fn operators<S: EnrollmentStore>(store: &S) {
    let before = store.count_operators().await.expect("count");
    let op = Operator {
        login: "okinawa-admin".into(),
        display_name: "沖縄県国保連 管理者".into(),
        password_hash: "$argon2id$placeholder".into(),
        failed_logins: 0,
        locked_until: None,
        disabled: false,
        created_at: T0,
    };
    store.insert_operator(&op).await.expect("insert");
    assert!(matches!(
        store.insert_operator(&op).await,
        Err(StoreError::Conflict(_))
    ));
    assert_eq!(store.count_operators().await.expect("count"), before + 1);
    assert_eq!(
        store.operator("okinawa-admin").await.expect("get"),
        Some(op.clone())
    );
    assert_eq!(store.operator("nobody").await.expect("none"), None);
    let mut changed = op.clone();
    changed.failed_logins = 5;
    changed.locked_until = Some(T0 + 1);
    changed.disabled = true;
    store.update_operator(&changed).await.expect("update");
    assert_eq!(
        store.operator("okinawa-admin").await.expect("get"),
        Some(changed.clone())
    );
    changed.login = "nobody".into();
    assert!(matches!(
        store.update_operator(&changed).await,
        Err(StoreError::NotFound(_))
    ));
}

fn date(y: i32, m: u8, d: u8) -> time::Date {
    time::Date::from_calendar_date(y, time::Month::try_from(m).expect("month"), d).expect("date")
}

/// A license term for scenarios.
pub fn sample_license(
    id: &str,
    office: &OfficeNumber,
    kj: &str,
    start: time::Date,
    claim: &str,
) -> LicenseEntry {
    LicenseEntry {
        id: id.into(),
        office: office.clone(),
        kj_id: kj.parse().expect("kj"),
        kind: "application".into(),
        event_date: start,
        period_start: start,
        period_end: start
            .replace_year(start.year() + 1)
            .expect("date")
            .previous_day()
            .expect("date"),
        claim_month: claim.parse().expect("month"),
        amount_yen: 21_000,
        billing: "deduction".into(),
        reason: "年間利用料（新規申請）".into(),
        campaign: None,
        auto_renew: true,
        created_at: T0,
    }
}

async fn usage_applications_and_ledger<S: EnrollmentStore>(store: &S) {
    let o = sample_office("4760000001", T0);
    let kj = "KJ476000000001";
    store
        .register_office(&o, &sample_account(kj, &o.number, T0))
        .await
        .expect("register");
    let user = PersonalUser {
        user_id: "c4760000001".parse().expect("c id"),
        office: o.number.clone(),
        display_name: "連携 花子".into(),
        password_hash: "$argon2id$placeholder".into(),
        failed_logins: 0,
        locked_until: None,
        disabled: false,
        created_at: T0,
    };
    let app = UsageApplication {
        id: "app-1".into(),
        office: o.number.clone(),
        kj_id: kj.parse().expect("kj"),
        contact_name: "連携 花子".into(),
        contact_email: "hanako@example.jp".into(),
        contact_phone: "098-000-0000".into(),
        billing: "deduction".into(),
        cert_serial: "0c01".into(),
        personal_user: user.user_id.clone(),
        terms_accepted_at: T0,
        privacy_accepted_at: T0,
        fee_confirmed_at: T0,
        completed_at: T0,
    };
    let lic = sample_license("lic-1", &o.number, kj, date(2025, 7, 16), "202508");
    // A license row that collides with nothing but an application id that exists later: first a
    // failing attempt (user for another office) leaves nothing behind.
    let mut stray = user.clone();
    stray.office = office_no("4760000002");
    assert!(store
        .complete_usage_application(&app, &stray, &lic)
        .await
        .is_err());
    assert!(store
        .personal_users_for_office(&o.number)
        .await
        .expect("users")
        .is_empty());

    store
        .complete_usage_application(&app, &user, &lic)
        .await
        .expect("complete");
    assert_eq!(
        store
            .usage_applications_for_office(&o.number)
            .await
            .expect("apps"),
        vec![app.clone()]
    );
    assert_eq!(
        store.personal_user(&user.user_id).await.expect("user"),
        Some(user.clone())
    );
    assert_eq!(
        store
            .personal_users_for_office(&o.number)
            .await
            .expect("users"),
        vec![user.clone()]
    );
    assert_eq!(
        store.licenses_for_office(&o.number).await.expect("lic"),
        vec![lic.clone()]
    );

    // A second application whose license collides (same start day): all or nothing.
    let mut user2 = user.clone();
    user2.user_id = "c4760000002".parse().expect("c id");
    let mut app2 = app.clone();
    app2.id = "app-2".into();
    app2.personal_user = user2.user_id.clone();
    let mut lic_dup = lic.clone();
    lic_dup.id = "lic-dup".into();
    assert!(matches!(
        store
            .complete_usage_application(&app2, &user2, &lic_dup)
            .await,
        Err(StoreError::Conflict(_))
    ));
    assert_eq!(
        store.personal_user(&user2.user_id).await.expect("user2"),
        None,
        "rolled back"
    );
    assert_eq!(
        store
            .usage_applications_for_office(&o.number)
            .await
            .expect("apps")
            .len(),
        1
    );

    // Personal user updates.
    let mut u = user.clone();
    u.failed_logins = 2;
    u.disabled = true;
    store.update_personal_user(&u).await.expect("update user");
    assert_eq!(
        store.personal_user(&u.user_id).await.expect("user"),
        Some(u.clone())
    );
    u.user_id = "c4769999999".parse().expect("c id");
    assert!(matches!(
        store.update_personal_user(&u).await,
        Err(StoreError::NotFound(_))
    ));

    // Renewal rows, the latest term per office, the claim month query.
    let mut renewal = sample_license("lic-2", &o.number, kj, date(2026, 7, 16), "202608");
    renewal.kind = "renewal".into();
    store.insert_license(&renewal).await.expect("renewal");
    let mut again = renewal.clone();
    again.id = "lic-2b".into();
    assert!(
        matches!(
            store.insert_license(&again).await,
            Err(StoreError::Conflict(_))
        ),
        "idempotent renewal"
    );
    let latest = store.latest_licenses().await.expect("latest");
    let mine: Vec<&LicenseEntry> = latest.iter().filter(|l| l.office == o.number).collect();
    assert_eq!(mine, vec![&renewal]);
    let aug = store
        .licenses_for_claim_month("202508".parse().expect("m"))
        .await
        .expect("claims");
    assert!(aug.contains(&lic));
    assert!(!aug.contains(&renewal));
    assert_eq!(
        store.licenses_for_office(&o.number).await.expect("all"),
        vec![lic, renewal]
    );
}

async fn notices<S: EnrollmentStore>(store: &S) {
    let o = sample_office("4770000001", T0);
    let acc = sample_account("KJ477000000001", &o.number, T0);
    store.register_office(&o, &acc).await.expect("register");
    let n1 = Notice {
        id: "n1".into(),
        office: o.number.clone(),
        kind: "issuance_password".into(),
        sealed: true,
        body: vec![0, 1, 2, 255],
        created_at: T0,
        read_at: None,
    };
    store
        .reissue_issuance_password(&acc.kj_id, "$argon2id$new-issuance", &n1)
        .await
        .expect("reissue");
    let after = store
        .kj_account(&acc.kj_id)
        .await
        .expect("kj")
        .expect("exists");
    assert_eq!(after.issuance_password_hash, "$argon2id$new-issuance");
    assert_eq!(
        after.password_hash, acc.password_hash,
        "only the issuance password changes"
    );
    let mut n2 = n1.clone();
    n2.id = "n2".into();
    n2.sealed = false;
    n2.kind = "info".into();
    n2.body = "お知らせ".as_bytes().to_vec();
    n2.created_at = T0 + 10;
    store.insert_notice(&n2).await.expect("insert");
    assert_eq!(
        store.notices_for_office(&o.number).await.expect("list"),
        vec![n2.clone(), n1.clone()]
    );
    store.mark_notice_read("n1", T0 + 20).await.expect("read");
    store
        .mark_notice_read("n1", T0 + 30)
        .await
        .expect("read again");
    let read = store.notices_for_office(&o.number).await.expect("list");
    assert_eq!(read[1].read_at, Some(T0 + 20), "the first read time stays");
    assert!(matches!(
        store.mark_notice_read("nope", T0).await,
        Err(StoreError::NotFound(_))
    ));
    // Re-issue for an account of another office: refused, nothing stored.
    let mut n3 = n1.clone();
    n3.id = "n3".into();
    n3.office = office_no("4770000002");
    assert!(store
        .reissue_issuance_password(&acc.kj_id, "$x", &n3)
        .await
        .is_err());
    assert_eq!(
        store
            .kj_account(&acc.kj_id)
            .await
            .expect("kj")
            .expect("exists")
            .issuance_password_hash,
        "$argon2id$new-issuance"
    );
}

async fn portal_sessions<S: EnrollmentStore>(store: &S) {
    let s = PortalSession {
        id_hash: "47aa".into(),
        role: "office".into(),
        subject: "KJ477000000001".into(),
        created_at: T0,
        expires_at: T0 + 1_000,
    };
    store.insert_portal_session(&s).await.expect("insert");
    assert!(matches!(
        store.insert_portal_session(&s).await,
        Err(StoreError::Conflict(_))
    ));
    assert_eq!(
        store.portal_session("47aa", T0 + 999).await.expect("get"),
        Some(s.clone())
    );
    assert_eq!(
        store
            .portal_session("47aa", T0 + 1_000)
            .await
            .expect("expired"),
        None
    );
    assert_eq!(store.portal_session("47zz", T0).await.expect("none"), None);

    store
        .insert_csrf_token("tok1", "47aa", T0)
        .await
        .expect("token");
    assert!(!store
        .consume_csrf_token("tok1", "47bb", T0)
        .await
        .expect("other session"));
    assert!(store
        .consume_csrf_token("tok1", "47aa", T0)
        .await
        .expect("first use"));
    assert!(!store
        .consume_csrf_token("tok1", "47aa", T0)
        .await
        .expect("replay"));
    assert!(!store
        .consume_csrf_token("never", "47aa", T0)
        .await
        .expect("unknown"));

    let s2 = PortalSession {
        id_hash: "47bb".into(),
        expires_at: T0 + 5_000,
        ..s.clone()
    };
    store.insert_portal_session(&s2).await.expect("second");
    store
        .insert_csrf_token("tok2", "47bb", T0)
        .await
        .expect("token");
    assert!(
        store
            .purge_portal_sessions(T0 + 2_000)
            .await
            .expect("purge")
            >= 1
    );
    assert_eq!(
        store
            .portal_session("47bb", T0 + 2_000)
            .await
            .expect("kept"),
        Some(s2)
    );
    assert!(store.delete_portal_session("47bb").await.expect("delete"));
    assert!(!store
        .delete_portal_session("47bb")
        .await
        .expect("delete again"));
    assert!(!store
        .consume_csrf_token("tok2", "47bb", T0)
        .await
        .expect("token gone with its session"));
}

/// Fire `n` failures at once; every one must be counted (no lost updates).
async fn parallel_failures<F, Fut>(n: u32, fail: F) -> Vec<(u32, Option<Millis>)>
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = crate::StoreResult<(u32, Option<Millis>)>>,
{
    let mut counts = futures::future::join_all((0..n).map(|_| fail()))
        .await
        .into_iter()
        .map(|r| r.expect("record failure"))
        .collect::<Vec<_>>();
    counts.sort_unstable();
    counts
}

async fn lockouts<S: EnrollmentStore>(store: &S) {
    const LOCK: Millis = 15 * 60_000;
    let o = sample_office("4780000001", T0);
    let kj: KjUserId = "KJ478000000001".parse().expect("kj");
    store
        .register_office(&o, &sample_account(kj.as_str(), &o.number, T0))
        .await
        .expect("register");

    // 20 parallel wrong logins: counts 1..=20, each seen once; locked from the 5th on.
    let counts = parallel_failures(20, || store.record_kj_login_failure(&kj, T0, 5, LOCK)).await;
    assert_eq!(
        counts.iter().map(|c| c.0).collect::<Vec<_>>(),
        (1..=20).collect::<Vec<_>>()
    );
    for (n, until) in &counts {
        assert_eq!(*until, (*n >= 5).then_some(T0 + LOCK), "count {n}");
    }
    let acc = store.kj_account(&kj).await.expect("get").expect("account");
    assert_eq!(acc.failed_logins, 20);
    assert_eq!(acc.locked_until, Some(T0 + LOCK));
    // A failure during the lock is counted but does not extend the lock.
    assert_eq!(
        store
            .record_kj_login_failure(&kj, T0 + 1_000, 5, LOCK)
            .await
            .expect("fail"),
        (21, Some(T0 + LOCK))
    );
    // After the lock expired, a new count starts.
    assert_eq!(
        store
            .record_kj_login_failure(&kj, T0 + LOCK, 5, LOCK)
            .await
            .expect("fail"),
        (1, None)
    );
    store.reset_kj_login_failures(&kj).await.expect("reset");
    let acc = store.kj_account(&kj).await.expect("get").expect("account");
    assert_eq!((acc.failed_logins, acc.locked_until), (0, None));

    // Wrong issuance passwords lock issuance, never the login.
    for n in 1..=5u32 {
        let (count, until) = store
            .record_issuance_failure(&kj, T0, 5, LOCK)
            .await
            .expect("issuance failure");
        assert_eq!(count, n);
        assert_eq!(until, (n == 5).then_some(T0 + LOCK));
    }
    let acc = store.kj_account(&kj).await.expect("get").expect("account");
    assert_eq!((acc.failed_logins, acc.locked_until), (0, None));
    // update_kj_account (the relay's path) leaves the issuance counter alone.
    store.update_kj_account(&acc).await.expect("update");
    assert_eq!(
        store
            .record_issuance_failure(&kj, T0, 5, LOCK)
            .await
            .expect("fail"),
        (6, Some(T0 + LOCK))
    );
    store.reset_issuance_failures(&kj).await.expect("reset");
    assert_eq!(
        store
            .record_issuance_failure(&kj, T0, 5, LOCK)
            .await
            .expect("fail"),
        (1, None)
    );
    // Re-issuing the issuance password clears its counter.
    let notice = Notice {
        id: "notice-lockout".into(),
        office: o.number.clone(),
        kind: "issuance_password".into(),
        sealed: false,
        body: b"new".to_vec(),
        created_at: T0,
        read_at: None,
    };
    store
        .reissue_issuance_password(&kj, "$argon2id$new", &notice)
        .await
        .expect("reissue");
    assert_eq!(
        store
            .record_issuance_failure(&kj, T0, 5, LOCK)
            .await
            .expect("fail"),
        (1, None)
    );

    // Operators and personal users count the same way.
    let op = Operator {
        login: "lockout-op".into(),
        display_name: "ロック試験".into(),
        password_hash: "$argon2id$placeholder".into(),
        failed_logins: 0,
        locked_until: None,
        disabled: false,
        created_at: T0,
    };
    store.insert_operator(&op).await.expect("insert operator");
    let counts = parallel_failures(20, || {
        store.record_operator_login_failure("lockout-op", T0, 5, LOCK)
    })
    .await;
    assert_eq!(counts.last(), Some(&(20, Some(T0 + LOCK))));
    let got = store
        .operator("lockout-op")
        .await
        .expect("get")
        .expect("operator");
    assert_eq!((got.failed_logins, got.locked_until), (20, Some(T0 + LOCK)));
    store
        .reset_operator_login_failures("lockout-op")
        .await
        .expect("reset");
    let got = store
        .operator("lockout-op")
        .await
        .expect("get")
        .expect("operator");
    assert_eq!((got.failed_logins, got.locked_until), (0, None));

    let user: PersonalUserId = "c4760000001".parse().expect("c id");
    // (Created by the usage application scenario, which leaves counters behind.)
    store
        .reset_personal_user_login_failures(&user)
        .await
        .expect("reset");
    let counts = parallel_failures(20, || {
        store.record_personal_user_login_failure(&user, T0, 5, LOCK)
    })
    .await;
    assert_eq!(counts.last(), Some(&(20, Some(T0 + LOCK))));
    let got = store
        .personal_user(&user)
        .await
        .expect("get")
        .expect("user");
    assert_eq!((got.failed_logins, got.locked_until), (20, Some(T0 + LOCK)));
    store
        .reset_personal_user_login_failures(&user)
        .await
        .expect("reset");

    // Unknown keys are NotFound, never a silent no-op.
    let nobody: KjUserId = "KJ478000000009".parse().expect("kj");
    assert!(matches!(
        store.record_kj_login_failure(&nobody, T0, 5, LOCK).await,
        Err(StoreError::NotFound(_))
    ));
    assert!(matches!(
        store.record_issuance_failure(&nobody, T0, 5, LOCK).await,
        Err(StoreError::NotFound(_))
    ));
    assert!(matches!(
        store.reset_operator_login_failures("nobody").await,
        Err(StoreError::NotFound(_))
    ));
}
