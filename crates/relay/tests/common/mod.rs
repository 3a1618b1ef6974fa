//! Test fixtures: a test PKI, offices enrolled through the EnrollmentStore, a relay state on a
//! chosen metadata store and blob store, and a small client that speaks to the router with a
//! client certificate attached.

#![allow(dead_code)]

pub mod node;

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;

use axum::body::Body;
use bytes::Bytes;
use http::{HeaderMap, Method, Request, StatusCode};
use renkei_api::{
    ErrorCode, OfficeLoginRequest, Problem, SessionResponse, UserLoginRequest, UserLoginResponse,
};
use renkei_blob::BlobStore;
use renkei_ids::{KjUserId, OfficeNumber, PersonalUserId, YearMonth};
use renkei_pki::testpki::TestPki;
use renkei_pki::{CertType, DeviceKeys, IssuedCert, OfficeCert, DAY_MS};
use renkei_relay::{EvidenceNotary, PeerCertificate, RelayConfig, RelayState};
use renkei_store::password::hash_password;
use renkei_store::{
    CertProfile, CertRecord, DeviceBinding, KjAccount, LicenseEntry, Office, PersonalUser, Store,
    UsageApplication,
};
use sha2::{Digest, Sha256};
use tower::ServiceExt;

pub const PASSWORD: &str = "Passw0rd!連携";

/// One enrolled office with its device.
pub struct Party {
    pub number: OfficeNumber,
    pub keys: DeviceKeys,
    pub cert: IssuedCert,
    pub user: PersonalUserId,
    pub kj: KjUserId,
}

pub struct Fixture {
    pub pki: TestPki,
    pub store: Arc<dyn Store>,
    pub blobs: Arc<dyn BlobStore>,
    pub state: RelayState,
    pub app: axum::Router,
    pub a: Party,
    pub b: Party,
    pub c: Party,
    /// Milliseconds added to the real clock.
    pub skew: Arc<AtomicI64>,
    _keep: Vec<Box<dyn std::any::Any + Send + Sync>>,
}

fn cert_record(cert: &IssuedCert, office: &OfficeNumber) -> CertRecord {
    let parsed = OfficeCert::parse_pem(&cert.pem).expect("office cert");
    CertRecord {
        serial: cert.serial_hex.clone(),
        office: Some(office.clone()),
        profile: match parsed.cert_type() {
            CertType::Careplan => CertProfile::Careplan,
            CertType::Kaigo => CertProfile::Kaigo,
        },
        spki_sha256: cert.spki_sha256_hex.clone(),
        encryption_key: Some(parsed.encryption_key().to_vec()),
        pem: cert.pem.clone(),
        not_before: cert.not_before,
        not_after: cert.not_after,
        issued_at: cert.not_before,
        revoked_at: None,
        revocation_reason: None,
    }
}

async fn enroll(
    store: &dyn Store,
    number: &str,
    name: &str,
    kind: &str,
    n: u32,
    keys: DeviceKeys,
    cert: IssuedCert,
) -> Party {
    let now = renkei_store::now_millis();
    let office: OfficeNumber = number.parse().unwrap();
    let kj: KjUserId = format!("KJ{:012}", n).parse().unwrap();
    let user: PersonalUserId = format!("c{:010}", n).parse().unwrap();
    store
        .register_office(
            &Office {
                number: office.clone(),
                name: name.into(),
                name_kana: "レンケイ".into(),
                kind: kind.parse().unwrap(),
                prefecture: office.prefecture(),
                postal_code: "020-0000".into(),
                address: "岩手県盛岡市".into(),
                phone: String::new(),
                accepts: vec!["UPPLAN@202407".into()],
                registered_at: now,
            },
            &KjAccount {
                kj_id: kj.clone(),
                office: office.clone(),
                password_hash: hash_password(PASSWORD),
                password_temporary: false,
                issuance_password_hash: hash_password("issue"),
                failed_logins: 0,
                locked_until: None,
                created_at: now,
            },
        )
        .await
        .expect("register office");
    let rec = cert_record(&cert, &office);
    store
        .record_device_certificate(
            &rec,
            &DeviceBinding {
                office: office.clone(),
                spki_sha256: rec.spki_sha256.clone(),
                cert_serial: rec.serial.clone(),
                label: "test-pc".into(),
                bound_at: now,
                released_at: None,
            },
            1,
        )
        .await
        .expect("record device certificate");
    let today = time::OffsetDateTime::now_utc().date();
    store
        .complete_usage_application(
            &UsageApplication {
                id: uuid::Uuid::new_v4().to_string(),
                office: office.clone(),
                kj_id: kj.clone(),
                contact_name: "連携 太郎".into(),
                contact_email: "taro@example.invalid".into(),
                contact_phone: "019-000-0000".into(),
                billing: "deduction".into(),
                cert_serial: rec.serial.clone(),
                personal_user: user.clone(),
                terms_accepted_at: now,
                privacy_accepted_at: now,
                fee_confirmed_at: now,
                completed_at: now,
            },
            &PersonalUser {
                user_id: user.clone(),
                office: office.clone(),
                display_name: "連携 太郎".into(),
                password_hash: hash_password(PASSWORD),
                failed_logins: 0,
                locked_until: None,
                disabled: false,
                created_at: now,
            },
            &LicenseEntry {
                id: uuid::Uuid::new_v4().to_string(),
                office: office.clone(),
                kj_id: kj.clone(),
                kind: "application".into(),
                event_date: today,
                period_start: today,
                period_end: today.replace_year(today.year() + 1).unwrap_or(today),
                claim_month: YearMonth::new(today.year() as u16, today.month() as u8).unwrap(),
                amount_yen: 0,
                billing: "deduction".into(),
                reason: "test".into(),
                campaign: None,
                auto_renew: true,
                created_at: now,
            },
        )
        .await
        .expect("usage application");
    Party {
        number: office,
        keys,
        cert,
        user,
        kj,
    }
}

/// The relay on `store` and `blobs`, with offices A and B from the test PKI and a third,
/// C, issued here; the revoked and expired certificates of A are recorded too.
pub async fn fixture(
    store: Arc<dyn Store>,
    blobs: Arc<dyn BlobStore>,
    config: RelayConfig,
) -> Fixture {
    let pki = TestPki::generate();
    let a = enroll(
        store.as_ref(),
        pki.office_a.office.as_str(),
        &pki.office_a.name,
        "43",
        1,
        DeviceKeys::import(&pki.office_a.keys.export()).unwrap(),
        pki.office_a.cert.clone(),
    )
    .await;
    let b = enroll(
        store.as_ref(),
        pki.office_b.office.as_str(),
        &pki.office_b.name,
        "11",
        2,
        DeviceKeys::import(&pki.office_b.keys.export()).unwrap(),
        pki.office_b.cert.clone(),
    )
    .await;
    let c_office: OfficeNumber = "0300000200".parse().unwrap();
    let c_keys = DeviceKeys::generate().unwrap();
    let req = c_keys
        .enrollment_request(&c_office, "第三者事業所")
        .unwrap();
    let now = renkei_store::now_millis();
    let c_cert = pki
        .ca
        .issue_office_cert(
            &req,
            &c_office,
            "第三者事業所",
            CertType::Careplan,
            now - DAY_MS,
            now + 365 * DAY_MS,
        )
        .unwrap();
    let c = enroll(
        store.as_ref(),
        "0300000200",
        "第三者事業所",
        "11",
        3,
        c_keys,
        c_cert,
    )
    .await;
    for (t, revoked) in [(&pki.revoked, true), (&pki.expired, false)] {
        store
            .insert_certificate(&cert_record(&t.cert, &t.office))
            .await
            .unwrap();
        if revoked {
            store
                .revoke_certificate(&t.cert.serial_hex, now - DAY_MS, "keyCompromise")
                .await
                .unwrap();
        }
    }
    let notary =
        Arc::new(EvidenceNotary::new(&pki.relay_key_pkcs8, &pki.relay_cert.pem).expect("notary"));
    let skew = Arc::new(AtomicI64::new(0));
    let s2 = skew.clone();
    let state = RelayState::with_clock(
        store.clone(),
        blobs.clone(),
        notary,
        pki.ca.ca_cert_pem().to_owned(),
        config,
        Arc::new(move || renkei_store::now_millis() + s2.load(Ordering::SeqCst)),
    )
    .expect("state");
    let app = renkei_relay::router(state.clone());
    Fixture {
        pki,
        store,
        blobs,
        state,
        app,
        a,
        b,
        c,
        skew,
        _keep: Vec::new(),
    }
}

impl Fixture {
    pub fn keep(&mut self, v: impl std::any::Any + Send + Sync) {
        self._keep.push(Box::new(v));
    }
    pub fn advance_days(&self, days: i64) {
        self.skew.fetch_add(days * DAY_MS, Ordering::SeqCst);
    }
    pub fn client(&self, cert: Option<&IssuedCert>) -> Client {
        Client {
            app: self.app.clone(),
            peer: cert.map(|c| PeerCertificate::from_der(c.der.clone())),
            token: None,
        }
    }
    /// A logged-in client for a party.
    pub async fn login(&self, p: &Party) -> Client {
        let mut c = self.client(Some(&p.cert));
        c.login(p).await.expect("login");
        c
    }
    /// An envelope from `from` to `to` with one UPPLAN file.
    pub fn envelope(&self, from: &Party, to: &Party, content: &[u8]) -> Vec<u8> {
        let recipient = OfficeCert::parse_pem(&to.cert.pem).unwrap();
        let seq = "20191025200201".parse().unwrap();
        let name = format!(
            "UPPLAN_201912_{}_43_{}_11_20191025200201.CSV",
            from.number, to.number
        );
        renkei_envelope::seal(
            &renkei_envelope::SealInput {
                sender: &from.number,
                sender_cert_serial: &from.cert.serial_hex,
                recipient_cert: &recipient,
                file_seq: &seq,
                files: &[(name, content.to_vec())],
                created_at: renkei_store::now_millis(),
            },
            &from.keys,
        )
        .expect("seal")
    }
}

pub struct Client {
    pub app: axum::Router,
    pub peer: Option<PeerCertificate>,
    pub token: Option<String>,
}

#[derive(Debug)]
pub struct Resp {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Resp {
    pub fn json<T: serde::de::DeserializeOwned>(&self) -> T {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&self.body)))
    }
    pub fn problem(&self) -> Problem {
        assert_eq!(
            self.headers.get("content-type").unwrap(),
            "application/problem+json"
        );
        self.json()
    }
    /// Assert the response is the problem `code`.
    pub fn expect_problem(&self, code: ErrorCode) {
        let p = self.problem();
        assert_eq!(p.code, code.code(), "{p:?}");
        assert_eq!(self.status.as_u16(), code.status());
    }
}

impl Client {
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        headers: &[(&str, String)],
        body: Body,
    ) -> Resp {
        let mut req = Request::builder()
            .method(method)
            .uri(format!("/api/v1{path}"));
        for (k, v) in headers {
            req = req.header(*k, v);
        }
        if let Some(t) = &self.token {
            req = req.header("authorization", format!("Bearer {t}"));
        }
        let mut req = req.body(body).unwrap();
        if let Some(p) = &self.peer {
            req.extensions_mut().insert(p.clone());
        }
        let resp = self.app.clone().oneshot(req).await.unwrap();
        let (parts, body) = resp.into_parts();
        let body = http_body_util::BodyExt::collect(body)
            .await
            .map(|c| c.to_bytes())
            .unwrap_or_default();
        Resp {
            status: parts.status,
            headers: parts.headers,
            body,
        }
    }
    pub async fn get(&self, path: &str) -> Resp {
        self.call(Method::GET, path, &[], Body::empty()).await
    }
    pub async fn post_json(&self, path: &str, v: &impl serde::Serialize) -> Resp {
        self.call(
            Method::POST,
            path,
            &[("content-type", "application/json".into())],
            Body::from(serde_json::to_vec(v).unwrap()),
        )
        .await
    }
    pub async fn login(&mut self, p: &Party) -> Result<SessionResponse, Resp> {
        let r = self
            .post_json(
                "/session/user",
                &UserLoginRequest {
                    user_id: p.user.clone(),
                    password: PASSWORD.into(),
                },
            )
            .await;
        if r.status != StatusCode::OK {
            return Err(r);
        }
        let s1: UserLoginResponse = r.json();
        let r = self
            .post_json(
                "/session/office",
                &OfficeLoginRequest {
                    stage1_token: s1.stage1_token,
                    kj_id: p.kj.clone(),
                    password: PASSWORD.into(),
                },
            )
            .await;
        if r.status != StatusCode::OK {
            return Err(r);
        }
        let s: SessionResponse = r.json();
        self.token = Some(s.token.clone());
        Ok(s)
    }
    pub async fn send(&self, envelope: &[u8], key: &str) -> Resp {
        let headers = [
            ("idempotency-key", key.to_owned()),
            ("x-renkei-sha256", hex::encode(Sha256::digest(envelope))),
            ("x-renkei-length", envelope.len().to_string()),
            ("content-type", "application/octet-stream".into()),
        ];
        self.call(
            Method::POST,
            "/messages",
            &headers,
            Body::from(envelope.to_vec()),
        )
        .await
    }
}

/// A fresh SQLite store in a temp dir.
pub async fn sqlite_store() -> (Arc<dyn Store>, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("relay.db").display());
    (
        Arc::new(renkei_store_sqlite::SqliteStore::open(&url).await.unwrap()),
        dir,
    )
}

/// A fresh PostgreSQL store in a new schema; fails when the server is unreachable.
pub async fn pg_store() -> Arc<dyn Store> {
    pg_stores(1).await.remove(0)
}

/// `n` stores with their own pools on one fresh schema (several relay nodes on one database).
/// The test server's URL and a fresh, empty schema created in it.
async fn pg_fresh_schema() -> (String, String) {
    use sqlx::Executor;
    let url = std::env::var("RENKEI_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_owned());
    let admin = sqlx::postgres::PgPoolOptions::new()
        .max_connections(1)
        .connect(&url)
        .await
        .unwrap_or_else(|e| {
            panic!("PostgreSQL at {url} is unreachable (set RENKEI_TEST_POSTGRES_URL): {e}")
        });
    let schema = format!("renkei_relay_test_{}", uuid::Uuid::new_v4().simple());
    admin
        .execute(format!("CREATE SCHEMA {schema}").as_str())
        .await
        .unwrap();
    (url, schema)
}

/// A fresh, empty PostgreSQL schema as a store URL (its `search_path` in the URL), for a
/// store opened by another process.
pub async fn pg_schema_url() -> String {
    let (url, schema) = pg_fresh_schema().await;
    let sep = if url.contains('?') { '&' } else { '?' };
    format!("{url}{sep}options=-csearch_path%3D{schema}")
}

pub async fn pg_stores(n: usize) -> Vec<Arc<dyn Store>> {
    use sqlx::Executor;
    let (url, schema) = pg_fresh_schema().await;
    let mut out: Vec<Arc<dyn Store>> = Vec::new();
    for _ in 0..n {
        let search_path = format!("SET search_path TO {schema}");
        let pool = sqlx::postgres::PgPoolOptions::new()
            .max_connections(8)
            .after_connect(move |conn, _| {
                let sql = search_path.clone();
                Box::pin(async move {
                    conn.execute(sql.as_str()).await?;
                    Ok(())
                })
            })
            .connect_with(
                <sqlx::postgres::PgConnectOptions as std::str::FromStr>::from_str(&url)
                    .unwrap()
                    .application_name(&schema),
            )
            .await
            .unwrap();
        out.push(Arc::new(
            renkei_store_postgres::PgStore::from_pool(pool)
                .await
                .unwrap(),
        ));
    }
    out
}

/// The relay on a fresh SQLite store and local payload directory (kept with the fixture).
pub async fn sqlite_fixture(config: RelayConfig) -> Fixture {
    let (store, d1) = sqlite_store().await;
    let (blobs, d2) = local_blobs().await;
    let mut fx = fixture(store, blobs, config).await;
    fx.keep(d1);
    fx.keep(d2);
    fx
}

/// A local blob store in a temp dir.
pub async fn local_blobs() -> (Arc<dyn BlobStore>, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    (
        Arc::new(renkei_blob::LocalBlobStore::open(dir.path()).await.unwrap()),
        dir,
    )
}
