//! Shared helpers of the `renkei client …` tests: an in-process demo (two enrolled offices) on
//! either metadata backend, and the CLI run against one office's client home.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Output;

use renkei_format::{sample_unit, FileKind};
use renkei_ids::{OfficeNumber, ServiceKindCode};
use renkei_server::demo::RunningDemo;
use serde_json::Value;

/// Which metadata backend the demo's relay and portal use.
#[derive(Debug, Clone, Copy)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// A fresh PostgreSQL schema in the test database, as a URL that selects it (the approach of
/// `crates/server/tests/common`).
pub async fn fresh_postgres_url() -> String {
    let base = std::env::var("RENKEI_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into());
    let schema = format!("renkei_cli_{}_{}", std::process::id(), rand_suffix());
    let pool = sqlx::PgPool::connect(&base).await.unwrap_or_else(|e| {
        panic!("PostgreSQL must answer at {base} (bash .ci/setup starts it): {e}")
    });
    sqlx::query(&format!("CREATE SCHEMA {schema}"))
        .execute(&pool)
        .await
        .expect("create schema");
    pool.close().await;
    let sep = if base.contains('?') { '&' } else { '?' };
    format!("{base}{sep}options=-csearch_path%3D{schema}")
}

fn rand_suffix() -> String {
    use std::time::{SystemTime, UNIX_EPOCH};
    let n = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    format!("{n:x}")
}

/// `renkei demo` in `tmp/demo` on `backend`, on ephemeral loopback ports.
pub async fn start_demo(tmp: &Path, backend: Backend) -> RunningDemo {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let url = match backend {
        Backend::Sqlite => None,
        Backend::Postgres => Some(fresh_postgres_url().await),
    };
    renkei_server::demo::start_demo_on(
        &tmp.join("demo"),
        "127.0.0.1:0".parse().unwrap(),
        url.as_deref(),
    )
    .await
    .expect("demo starts")
}

/// One demo office, driven through `renkei client …` on its client home.
pub struct Office {
    pub home: PathBuf,
    pub number: String,
    pub kind: String,
    pub name: String,
    pub kj_id: String,
    pub kj_password: String,
}

impl Office {
    /// The demo's `i`-th office (0: 居宅介護支援, 1: 訪問介護).
    pub fn of(demo: &RunningDemo, i: usize) -> Office {
        let o = &demo.file.offices[i];
        Office {
            home: PathBuf::from(&o.client_home),
            number: o.office_number.clone(),
            kind: o.kind.clone(),
            name: o.name.clone(),
            kj_id: o.kj_id.clone(),
            kj_password: o.kj_password.clone(),
        }
    }

    /// The keystore passphrase of the demo home.
    pub fn passphrase(&self) -> String {
        std::fs::read_to_string(self.home.join("demo-passphrase"))
            .unwrap()
            .trim_end()
            .to_owned()
    }

    /// The office through the client library (unlocked, not logged in).
    pub async fn open(&self) -> renkei_client::Office {
        let home = renkei_client::Home::open(&self.home).unwrap();
        renkei_client::Office::unlock(home, &self.passphrase())
            .await
            .unwrap()
    }

    pub async fn run(&self, args: &[&str]) -> Output {
        let mut full = vec![
            "client".to_owned(),
            "--home".into(),
            self.home.display().to_string(),
            "--passphrase-file".into(),
            self.home.join("demo-passphrase").display().to_string(),
        ];
        full.extend(args.iter().map(|s| s.to_string()));
        renkei(&full).await
    }

    pub async fn json(&self, args: &[&str]) -> Value {
        let mut a = vec!["--json"];
        a.extend_from_slice(args);
        let out = self.run(&a).await;
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout)
            .unwrap_or_else(|e| panic!("{args:?}: {e}: {}", String::from_utf8_lossy(&out.stdout)))
    }

    pub fn party(&self) -> (OfficeNumber, ServiceKindCode) {
        (self.number.parse().unwrap(), self.kind.parse().unwrap())
    }
}

/// Run the `renkei` binary.
pub async fn renkei(args: &[String]) -> Output {
    tokio::process::Command::new(env!("CARGO_BIN_EXE_renkei"))
        .args(args)
        .env_remove("RENKEI_PASSPHRASE")
        .output()
        .await
        .expect("run renkei")
}

/// Write one sample 送信単位 from `from` to `to` into `dir`; returns (name, bytes) per file.
pub fn write_unit(
    dir: &Path,
    kind: FileKind,
    from: &Office,
    to: &Office,
    seq: &str,
) -> Vec<(String, Vec<u8>)> {
    std::fs::create_dir_all(dir).unwrap();
    sample_unit(
        kind,
        "202505".parse().unwrap(),
        &from.party(),
        &to.party(),
        &seq.parse().unwrap(),
    )
    .unwrap()
    .into_iter()
    .map(|(n, b)| {
        std::fs::write(dir.join(n.to_string()), &b).unwrap();
        (n.to_string(), b)
    })
    .collect()
}

/// Whether `dir` is missing or empty.
pub fn empty_dir(dir: &Path) -> bool {
    !dir.exists() || std::fs::read_dir(dir).unwrap().next().is_none()
}
