//! A real relay + portal on loopback (SQLite or PostgreSQL) with two enrolled offices whose
//! client homes were created, enrolled and given their credentials through the same library
//! calls a real installation makes.

#![allow(dead_code)]

use std::path::{Path, PathBuf};

use renkei_client::{Credentials, EnrollInput, Home, Office, UnitFile};
use renkei_format::FileKind;
use renkei_ids::{FileSeq, KjUserId, OfficeNumber};
use renkei_portal::{ApplicationForm, NewOffice};
use renkei_server::config::ServerConfig;
use renkei_server::RunningServer;

#[derive(Debug, Clone, Copy)]
pub enum Backend {
    Sqlite,
    Postgres,
}

pub const PASSPHRASE: &str = "test passphrase 123";

/// One enrolled office of the test.
pub struct TestOffice {
    pub number: OfficeNumber,
    pub kind: &'static str,
    pub name: &'static str,
    pub home_dir: PathBuf,
    pub creds: Credentials,
    /// 証明書発行用パスワード from the registration notice.
    pub issuance_password: String,
}

pub struct World {
    pub server: RunningServer,
    pub dir: tempfile::TempDir,
    /// 居宅介護支援事業所 (sends 予定).
    pub cm: TestOffice,
    /// 訪問介護事業所 (sends 実績 back).
    pub provider: TestOffice,
}

async fn fresh_postgres_url() -> String {
    let base = std::env::var("RENKEI_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into());
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    let schema = format!("renkei_cli_{}_{nanos:x}", std::process::id());
    let pool = sqlx::PgPool::connect(&base).await.unwrap_or_else(|e| {
        panic!("PostgreSQL at {base} is unreachable (set RENKEI_TEST_POSTGRES_URL): {e}")
    });
    sqlx::query(&format!("CREATE SCHEMA {schema}"))
        .execute(&pool)
        .await
        .expect("create schema");
    pool.close().await;
    let sep = if base.contains('?') { '&' } else { '?' };
    format!("{base}{sep}options=-csearch_path%3D{schema}")
}

fn password(tag: &str) -> String {
    format!("Pw-{tag}-Xy7k2Q9z")
}

pub async fn world(backend: Backend) -> World {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let dir = tempfile::tempdir().expect("tempdir");
    let mut config = ServerConfig::default();
    config.server.data_dir = dir.path().join("server");
    config.server.portal_listen = "127.0.0.1:0".parse().unwrap();
    config.server.relay_listen = "127.0.0.1:0".parse().unwrap();
    config.server.portal_tls = false;
    config.server.hostnames = vec!["localhost".into(), "127.0.0.1".into()];
    if let Backend::Postgres = backend {
        config.storage.database_url = fresh_postgres_url().await;
    }
    let server = renkei_server::start(&config).await.expect("server starts");
    server.set_ready();
    let now = renkei_store::now_millis();
    server
        .portal
        .create_operator("admin", "国保連 テスト", &password("op"), now)
        .await
        .expect("operator");
    let mut offices = Vec::new();
    for (number, name, kind) in [
        ("1310000019", "れんけい居宅介護支援センター", "43"),
        ("1370000027", "ひまわり訪問介護ステーション", "11"),
    ] {
        let notice = server
            .portal
            .register_office(
                "admin",
                &NewOffice {
                    number: number.into(),
                    name: name.into(),
                    name_kana: "テスト".into(),
                    kind: kind.into(),
                    postal_code: "100-0001".into(),
                    address: "東京都千代田区千代田1-1".into(),
                    phone: "03-0000-0001".into(),
                },
                now,
            )
            .await
            .expect("register office");
        let kj_id: KjUserId = notice.kj_id.clone();
        let kj_password = password(number);
        server
            .portal
            .change_kj_password(&kj_id, &notice.temporary_password, &kj_password, now)
            .await
            .expect("change pw");
        let home_dir = dir.path().join("clients").join(number);
        let issuance_password = notice.issuance_password.clone().expect("issuance password");
        let (home, mut ks) = Home::create(
            &home_dir,
            &server.relay_url,
            &server.portal_url,
            &server.ca_cert_pem,
            PASSPHRASE,
        )
        .expect("home");
        renkei_client::enroll(
            &home,
            &mut ks,
            &EnrollInput {
                office: number.parse().unwrap(),
                kj_id: kj_id.clone(),
                issuance_password: issuance_password.clone(),
                cert_type: renkei_client::pki::CertType::Careplan,
                device_label: format!("test-{number}"),
            },
        )
        .await
        .expect("enroll");
        let outcome = server
            .portal
            .apply(&kj_id, &application(number), now)
            .await
            .expect("apply");
        let creds = Credentials {
            user_id: outcome.personal_user_id.clone(),
            user_password: outcome.personal_password.clone(),
            kj_id,
            kj_password,
        };
        offices.push(TestOffice {
            number: number.parse().unwrap(),
            kind,
            name,
            home_dir,
            creds,
            issuance_password,
        });
    }
    let provider = offices.pop().unwrap();
    let cm = offices.pop().unwrap();
    World {
        server,
        dir,
        cm,
        provider,
    }
}

/// A complete 利用申請 for the office `number`.
pub fn application(number: &str) -> ApplicationForm {
    ApplicationForm {
        contact_name: "連携 花子".into(),
        contact_email: format!("o{number}@test.invalid"),
        contact_phone: "03-0000-0001".into(),
        invoice: false,
        agree_terms: true,
        agree_privacy: true,
        confirm_fee: true,
    }
}

impl TestOffice {
    pub async fn open(&self) -> Office {
        Office::unlock(Home::open(&self.home_dir).unwrap(), PASSPHRASE)
            .await
            .expect("unlock")
    }
    pub fn party(&self) -> (OfficeNumber, renkei_ids::ServiceKindCode) {
        (self.number.clone(), self.kind.parse().unwrap())
    }
}

/// A valid unit of `kind` from `from` to `to`.
pub fn unit(kind: FileKind, from: &TestOffice, to: &TestOffice, seq: &str) -> Vec<UnitFile> {
    let seq: FileSeq = seq.parse().unwrap();
    renkei_format::sample_unit(
        kind,
        "202505".parse().unwrap(),
        &from.party(),
        &to.party(),
        &seq,
    )
    .expect("sample")
    .into_iter()
    .map(|(n, b)| UnitFile {
        name: n.to_string(),
        bytes: b,
    })
    .collect()
}

pub fn write_unit(dir: &Path, files: &[UnitFile]) -> Vec<PathBuf> {
    std::fs::create_dir_all(dir).unwrap();
    files
        .iter()
        .map(|f| {
            let p = dir.join(&f.name);
            std::fs::write(&p, &f.bytes).unwrap();
            p
        })
        .collect()
}
