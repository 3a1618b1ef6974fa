//! Shared fixtures: fresh SQLite / PostgreSQL stores and a portal service over them.
#![allow(dead_code)]

use std::sync::Arc;

use base64::Engine;
use renkei_ids::OfficeNumber;
use renkei_pki::{Ca, DeviceKeys};
use renkei_portal::{EnrollRequestJson, PortalConfig, PortalService};
use renkei_store::{AuditRecord, AuditSealer, Store};
use sha2::Digest;
use sqlx::Executor;

/// Test double of the relay's sealer: a real SHA-256 over the entry; the "signature" is a label
/// (signing is the relay's concern and is tested there).
pub struct Sha256Sealer;

impl AuditSealer for Sha256Sealer {
    fn seal(&self, e: &AuditRecord) -> (String, String) {
        let canon = format!(
            "{}|{}|{}|{}|{}|{}|{}",
            e.office, e.seq, e.at, e.kind, e.actor, e.detail, e.prev_hash
        );
        let h = hex::encode(sha2::Sha256::digest(canon.as_bytes()));
        (h.clone(), format!("test:{h}"))
    }
}

pub struct Fixture {
    pub service: PortalService,
    pub store: Arc<dyn Store>,
    _dir: Option<tempfile::TempDir>,
}

pub fn config() -> PortalConfig {
    PortalConfig {
        secure_cookies: false,
        ..PortalConfig::default()
    }
}

pub async fn sqlite() -> Fixture {
    let dir = tempfile::tempdir().expect("tempdir");
    let url = format!("sqlite://{}", dir.path().join("portal.db").display());
    let store: Arc<dyn Store> = Arc::new(
        renkei_store_sqlite::SqliteStore::open(&url)
            .await
            .expect("sqlite"),
    );
    let ca = Arc::new(Ca::generate("Renkei Test CA").expect("ca"));
    Fixture {
        service: PortalService::new(store.clone(), ca, Arc::new(Sha256Sealer), config()),
        store,
        _dir: Some(dir),
    }
}

pub async fn postgres() -> Fixture {
    let url = std::env::var("RENKEI_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_owned());
    let admin = sqlx::postgres::PgPoolOptions::new()
        .max_connections(1)
        .connect(&url)
        .await
        .unwrap_or_else(|e| {
            panic!("PostgreSQL at {url} is unreachable (set RENKEI_TEST_POSTGRES_URL): {e}")
        });
    let schema = format!("renkei_portal_{}", uuid::Uuid::new_v4().simple());
    admin
        .execute(format!("CREATE SCHEMA {schema}").as_str())
        .await
        .expect("schema");
    let sp = format!("SET search_path TO {schema}");
    let pool = sqlx::postgres::PgPoolOptions::new()
        .max_connections(4)
        .after_connect(move |c, _| {
            let sql = sp.clone();
            Box::pin(async move {
                c.execute(sql.as_str()).await?;
                Ok(())
            })
        })
        .connect(&url)
        .await
        .expect("pool");
    let store: Arc<dyn Store> = Arc::new(
        renkei_store_postgres::PgStore::from_pool(pool)
            .await
            .expect("migrate"),
    );
    let ca = Arc::new(Ca::generate("Renkei Test CA").expect("ca"));
    Fixture {
        service: PortalService::new(store.clone(), ca, Arc::new(Sha256Sealer), config()),
        store,
        _dir: None,
    }
}

/// An enrollment request JSON for a fresh device of `office`.
pub fn device_request(
    kj_id: &str,
    issuance_password: &str,
    office: &OfficeNumber,
    label: &str,
) -> (DeviceKeys, EnrollRequestJson) {
    let keys = DeviceKeys::generate().expect("keys");
    let r = keys
        .enrollment_request(office, "テスト事業所")
        .expect("request");
    let b64 = base64::engine::general_purpose::STANDARD;
    let json = EnrollRequestJson {
        kj_id: kj_id.to_owned(),
        issuance_password: issuance_password.to_owned(),
        cert_type: "careplan".into(),
        csr_pem: r.csr_pem,
        encryption_key: b64.encode(r.encryption_key),
        proof: b64.encode(&r.proof),
        device_label: label.to_owned(),
    };
    (keys, json)
}
