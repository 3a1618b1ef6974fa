//! The pages and the JSON endpoint through `tower::ServiceExt::oneshot`.

mod common;

use axum::body::Body;
use http::{header, Request, StatusCode};
use http_body_util::BodyExt;
use renkei_ids::OfficeNumber;
use renkei_portal::{router, NewOffice, PortalState};
use renkei_store::now_millis;
use tower::ServiceExt;

struct Resp {
    status: StatusCode,
    cookie: Option<String>,
    location: Option<String>,
    body: String,
}

async fn send(app: &axum::Router, req: Request<Body>) -> Resp {
    let r = app.clone().oneshot(req).await.expect("response");
    let status = r.status();
    let cookie = r
        .headers()
        .get(header::SET_COOKIE)
        .and_then(|v| v.to_str().ok())
        .map(|v| v.split(';').next().unwrap_or("").to_owned());
    let location = r
        .headers()
        .get(header::LOCATION)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let body = String::from_utf8_lossy(&r.into_body().collect().await.expect("body").to_bytes())
        .into_owned();
    Resp {
        status,
        cookie,
        location,
        body,
    }
}

fn get(path: &str, cookie: &str) -> Request<Body> {
    Request::get(path)
        .header(header::COOKIE, cookie)
        .body(Body::empty())
        .unwrap()
}

fn post(path: &str, cookie: &str, form: &[(&str, &str)]) -> Request<Body> {
    let body: String = form
        .iter()
        .map(|(k, v)| {
            format!(
                "{}={}",
                k,
                v.bytes()
                    .map(|b| if b.is_ascii_alphanumeric() {
                        (b as char).to_string()
                    } else {
                        format!("%{b:02X}")
                    })
                    .collect::<String>()
            )
        })
        .collect::<Vec<_>>()
        .join("&");
    Request::post(path)
        .header(header::COOKIE, cookie)
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(Body::from(body))
        .unwrap()
}

fn csrf_of(html: &str) -> String {
    let i =
        html.find("name=\"_csrf\" value=\"").expect("csrf field") + "name=\"_csrf\" value=\"".len();
    html[i..i + 64].to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn login_csrf_lockout_and_enrollment_over_http() {
    let fx = common::sqlite().await;
    let now = now_millis();
    let notice = fx
        .service
        .register_office(
            "admin",
            &NewOffice {
                number: "1310100010".into(),
                name: "れんけい居宅".into(),
                kind: "43".into(),
                ..Default::default()
            },
            now,
        )
        .await
        .unwrap();
    let app = router(PortalState::new(fx.service.clone()));

    // The login page sets an HttpOnly, SameSite=Strict session cookie and a CSRF token.
    let r = app
        .clone()
        .oneshot(Request::get("/login").body(Body::empty()).unwrap())
        .await
        .unwrap();
    let set = r
        .headers()
        .get(header::SET_COOKIE)
        .unwrap()
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        set.contains("HttpOnly") && set.contains("SameSite=Strict"),
        "{set}"
    );
    let cookie = set.split(';').next().unwrap().to_owned();
    let html =
        String::from_utf8_lossy(&r.into_body().collect().await.unwrap().to_bytes()).into_owned();
    assert!(html.contains("id=\"login-button\""));
    let token = csrf_of(&html);

    // Missing token: refused.
    let r = send(
        &app,
        post(
            "/login",
            &cookie,
            &[
                ("kj_id", notice.kj_id.as_str()),
                ("password", &notice.temporary_password),
            ],
        ),
    )
    .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    // Wrong KJ ID shape: a clear message.
    let r = send(
        &app,
        post(
            "/login",
            &cookie,
            &[("_csrf", &token), ("kj_id", "KJ123"), ("password", "x")],
        ),
    )
    .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(r.body.contains("KJ"), "{}", r.body);
    // Replayed token: refused.
    let r = send(
        &app,
        post(
            "/login",
            &cookie,
            &[
                ("_csrf", &token),
                ("kj_id", notice.kj_id.as_str()),
                ("password", &notice.temporary_password),
            ],
        ),
    )
    .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);

    // A good login rotates the session and sends a temporary password to /password.
    let token = csrf_of(&send(&app, get("/login", &cookie)).await.body);
    let r = send(
        &app,
        post(
            "/login",
            &cookie,
            &[
                ("_csrf", &token),
                ("kj_id", notice.kj_id.as_str()),
                ("password", &notice.temporary_password),
            ],
        ),
    )
    .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    assert_eq!(r.location.as_deref(), Some("/password"));
    let office_cookie = r.cookie.expect("new session");
    assert_ne!(office_cookie, cookie);
    let r = send(&app, get("/office", &office_cookie)).await;
    assert_eq!(
        r.location.as_deref(),
        Some("/password"),
        "nothing before the password change"
    );
    let token = csrf_of(&send(&app, get("/password", &office_cookie)).await.body);
    let pw = "Renkei-2025ok";
    let r = send(
        &app,
        post(
            "/password",
            &office_cookie,
            &[
                ("_csrf", &token),
                ("current_password", &notice.temporary_password),
                ("new_password", pw),
                ("new_password_confirm", pw),
            ],
        ),
    )
    .await;
    assert_eq!(r.location.as_deref(), Some("/office"));
    let r = send(&app, get("/office", &office_cookie)).await;
    assert!(r.body.contains("id=\"need-certificate\""));

    // JSON enrollment: first device OK, second refused with 409, CA and CRL served.
    let office: OfficeNumber = "1310100010".parse().unwrap();
    let issuance = notice.issuance_password.clone().unwrap();
    let (_k1, req1) = common::device_request(notice.kj_id.as_str(), &issuance, &office, "PC-1");
    let json = |v: &renkei_portal::EnrollRequestJson| {
        Request::post("/enroll/certificate")
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from(serde_json::to_vec(v).unwrap()))
            .unwrap()
    };
    let r = send(&app, json(&req1)).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let issued: renkei_portal::IssuedCertificate = serde_json::from_str(&r.body).unwrap();
    let (_k2, req2) = common::device_request(notice.kj_id.as_str(), &issuance, &office, "PC-2");
    let r = send(&app, json(&req2)).await;
    assert_eq!(r.status, StatusCode::CONFLICT);
    assert!(r.body.contains("端末変更"), "{}", r.body);
    let r = send(
        &app,
        Request::post("/enroll/certificate")
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from("{}"))
            .unwrap(),
    )
    .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(send(&app, get("/ca.pem", ""))
        .await
        .body
        .contains("BEGIN CERTIFICATE"));

    // 端末変更 from the office page, then the second device enrolls.
    let home = send(&app, get("/office", &office_cookie)).await.body;
    assert!(home.contains("利用申請可能です"));
    let i = home.find("id=\"device-change-form\"").unwrap();
    let token = csrf_of(&home[i..]);
    let r = send(
        &app,
        post(
            "/office/device-change",
            &office_cookie,
            &[("_csrf", &token)],
        ),
    )
    .await;
    assert_eq!(r.location.as_deref(), Some("/office"));
    assert_eq!(send(&app, json(&req2)).await.status, StatusCode::OK);
    let crl = send(&app, get("/crl.pem", "")).await.body;
    let crl = renkei_pki::parse_crl(&crl, fx.service.ca_certificate_pem()).unwrap();
    assert!(crl.is_revoked(&issued.serial));

    // Usage application over the form.
    let page = send(&app, get("/office/apply", &office_cookie)).await.body;
    let token = csrf_of(&page);
    let fields = [
        ("_csrf", token.as_str()),
        ("contact_name", "連携 花子"),
        ("contact_email", "hanako@example.jp"),
        ("contact_phone", "03-0000-0000"),
        ("agree_terms", "on"),
        ("agree_privacy", "on"),
        ("confirm_fee", "on"),
    ];
    let r = send(&app, post("/office/apply", &office_cookie, &fields)).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert!(r.body.contains("id=\"personal-user-id\""));

    // Lockout over HTTP: five failures, then even the right password is refused.
    let anon = send(&app, get("/login", "")).await;
    let anon_cookie = anon.cookie.unwrap();
    let mut token = csrf_of(&anon.body);
    for _ in 0..5 {
        let r = send(
            &app,
            post(
                "/login",
                &anon_cookie,
                &[
                    ("_csrf", &token),
                    ("kj_id", notice.kj_id.as_str()),
                    ("password", "Wrong-pass-1"),
                ],
            ),
        )
        .await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED);
        token = csrf_of(&r.body);
    }
    let r = send(
        &app,
        post(
            "/login",
            &anon_cookie,
            &[
                ("_csrf", &token),
                ("kj_id", notice.kj_id.as_str()),
                ("password", pw),
            ],
        ),
    )
    .await;
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS);
    assert!(r.body.contains("ロック"));
}

/// Operators see how many messages the relay holds per state (overall and per office), never
/// a file name or a payload; an office session does not reach the page.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn operators_see_relay_counts_but_no_file() {
    use renkei_store::{MessageId, MessageRecord, MessageState, ReceiptRecord};
    let fx = common::sqlite().await;
    let now = now_millis();
    fx.service
        .create_operator("admin", "管理者", "Operator-2025x", now)
        .await
        .unwrap();
    let (a, b): (OfficeNumber, OfficeNumber) =
        ("1310100010".parse().unwrap(), "1310100028".parse().unwrap());
    for (i, (from, to)) in [(&a, &b), (&a, &b), (&b, &a)].into_iter().enumerate() {
        let id = MessageId::new_v7();
        let m = MessageRecord {
            id,
            sender: from.clone(),
            recipient: to.clone(),
            idempotency_key: format!("k{i}"),
            digest: "00".repeat(32),
            length: 10,
            file_seq: "20250425090000".parse().unwrap(),
            files: vec!["UPPLAN_202505_1310100010_43_1310100028_11_20250425090000.CSV".into()],
            sender_cert_serial: "01".into(),
            recipient_cert_serial: "02".into(),
            blob_key: id.to_string(),
            state: MessageState::Stored,
            stored_at: now,
            downloaded_at: None,
            finished_at: None,
            expires_at: now + 1000,
            reasons: None,
        };
        let receipt = ReceiptRecord {
            message_id: id,
            event: MessageState::Stored,
            at: now,
            body: "{}".into(),
            signature: "c2ln".into(),
        };
        fx.store
            .insert_message(
                &m,
                &receipt,
                &[],
                &(std::sync::Arc::new(common::Sha256Sealer) as _),
            )
            .await
            .unwrap();
    }
    let app = router(PortalState::new(fx.service.clone()));
    let r = send(&app, get("/operator/login", "")).await;
    let cookie = r.cookie.clone().unwrap();
    let token = csrf_of(&r.body);
    let r = send(
        &app,
        post(
            "/operator/login",
            &cookie,
            &[
                ("_csrf", &token),
                ("login", "admin"),
                ("password", "Operator-2025x"),
            ],
        ),
    )
    .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    let cookie = r.cookie.unwrap_or(cookie);
    let r = send(&app, get("/operator/relay", &cookie)).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert!(r.body.contains("受付済（未取得）"), "{}", r.body);
    assert!(r.body.contains("<th class=\"num\">3</th>"), "{}", r.body);
    assert!(!r.body.contains("UPPLAN"), "no file names: {}", r.body);
    let r = send(&app, get("/operator/relay?office=1310100010", &cookie)).await;
    let sent = &r.body[r.body.find("id=\"relay-sent\"").unwrap()..];
    assert!(sent.contains("<td class=\"num\">2</td>"), "{}", r.body);
    let received = &r.body[r.body.find("id=\"relay-received\"").unwrap()..];
    assert!(received.contains("<td class=\"num\">1</td>"), "{}", r.body);
    let r = send(&app, get("/operator/relay?office=12", &cookie)).await;
    assert!(
        r.body.contains("事業所番号が正しくありません"),
        "{}",
        r.body
    );
    // Without an operator session: not shown.
    let r = send(&app, get("/operator/relay", "")).await;
    assert_ne!(r.status, StatusCode::OK);
    assert!(!r.body.contains("relay-counts"));
}
