//! Shared helpers of the server's integration tests: a real server on loopback ports.

#![allow(dead_code)]

use std::path::PathBuf;

use renkei_server::config::ServerConfig;
use renkei_server::RunningServer;

/// Which metadata backend a test runs on.
#[derive(Debug, Clone, Copy)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// A fresh PostgreSQL schema in the test database, as a URL that selects it.
pub async fn fresh_postgres_url() -> String {
    let base = std::env::var("RENKEI_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into());
    let schema = format!("renkei_srv_{}_{}", std::process::id(), rand_suffix());
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

/// A server on ephemeral loopback ports with its own data directory.
pub struct TestServer {
    pub running: RunningServer,
    pub dir: tempfile::TempDir,
}

/// Start relay + portal (portal over plain HTTP) on `backend`.
pub async fn start(backend: Backend) -> TestServer {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let dir = tempfile::tempdir().expect("tempdir");
    let mut config = ServerConfig::default();
    config.server.data_dir = dir.path().join("data");
    config.server.portal_listen = "127.0.0.1:0".parse().unwrap();
    config.server.relay_listen = "127.0.0.1:0".parse().unwrap();
    config.server.portal_tls = false;
    if let Backend::Postgres = backend {
        config.storage.database_url = fresh_postgres_url().await;
    }
    let running = renkei_server::start(&config).await.expect("server starts");
    running.set_ready();
    TestServer { running, dir }
}

/// Where screenshots go: docs/images when RENKEI_UPDATE_SCREENSHOTS=1, else a temp directory.
pub fn screenshot_dir(tmp: &std::path::Path) -> PathBuf {
    if std::env::var("RENKEI_UPDATE_SCREENSHOTS").as_deref() == Ok("1") {
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../docs/images")
    } else {
        tmp.join("screenshots")
    }
}
