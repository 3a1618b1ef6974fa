//! A relay node as a real OS process: the test binary re-executed in "node" mode, serving from
//! a directory the parent prepared (keys, certificates, and which metadata store and payload
//! store to use). Used by the SIGKILL test and the two-process scale-out test.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use renkei_api::{OfficeLoginRequest, SessionResponse, UserLoginRequest, UserLoginResponse};
use renkei_pki::tls::{client_tls_config, server_tls_config};
use renkei_pki::ClientAuth;
use renkei_relay::{EvidenceNotary, RelayConfig, RelayState};
use renkei_store::Store;

use super::{Fixture, Party, PASSWORD};

/// Set in the child: the directory to serve from.
pub const NODE_ENV: &str = "RENKEI_RELAY_TEST_NODE_DIR";

/// The body of each test binary's ignored `relay_node_process` test: in a child started by
/// [`start_node`], serve the relay until killed; anywhere else, return at once.
///
/// The directory holds `relay.key`, `relay.pem`, `ca.pem`, `server.pem`, `server.key`, and
/// optionally `store.url` (default: SQLite `relay.db` there) and `blobs.url` (default: the
/// local directory `blobs` there).
pub async fn serve_if_node() {
    let Ok(dir) = std::env::var(NODE_ENV) else {
        return;
    };
    let dir = PathBuf::from(dir);
    let read = |n: &str| std::fs::read(dir.join(n)).unwrap();
    let text = |n: &str| String::from_utf8(read(n)).unwrap();
    let store_url = std::fs::read_to_string(dir.join("store.url"))
        .unwrap_or_else(|_| format!("sqlite://{}", dir.join("relay.db").display()));
    let store: Arc<dyn Store> = if store_url.starts_with("postgres") {
        Arc::new(
            renkei_store_postgres::PgStore::open(&store_url)
                .await
                .unwrap(),
        )
    } else {
        Arc::new(
            renkei_store_sqlite::SqliteStore::open(&store_url)
                .await
                .unwrap(),
        )
    };
    let blob_url = std::fs::read_to_string(dir.join("blobs.url"))
        .unwrap_or_else(|_| dir.join("blobs").display().to_string());
    let blobs = renkei_blob::open_blob_store(&blob_url).await.unwrap();
    let notary = Arc::new(EvidenceNotary::new(&read("relay.key"), &text("relay.pem")).unwrap());
    let state =
        RelayState::new(store, blobs, notary, text("ca.pem"), RelayConfig::default()).unwrap();
    let tls = server_tls_config(
        &text("server.pem"),
        &text("server.key"),
        &text("ca.pem"),
        ClientAuth::Required,
    )
    .unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    std::fs::write(dir.join("port.tmp"), port.to_string()).unwrap();
    std::fs::rename(dir.join("port.tmp"), dir.join("port")).unwrap();
    renkei_relay::serve(
        listener,
        Arc::new(tls),
        renkei_relay::router(state),
        std::future::pending(),
    )
    .await
    .unwrap();
}

/// Write the relay's keys and certificates of `fx` into a node directory.
pub fn write_node_files(dir: &Path, fx: &Fixture) {
    std::fs::create_dir_all(dir).unwrap();
    std::fs::write(dir.join("relay.key"), fx.pki.relay_key_pkcs8.as_slice()).unwrap();
    std::fs::write(dir.join("relay.pem"), &fx.pki.relay_cert.pem).unwrap();
    std::fs::write(dir.join("ca.pem"), fx.pki.ca.ca_cert_pem()).unwrap();
    std::fs::write(dir.join("server.pem"), &fx.pki.server.cert.pem).unwrap();
    std::fs::write(dir.join("server.key"), fx.pki.server.key_pem.as_bytes()).unwrap();
}

/// A relay node process; killed (SIGKILL) and reaped on drop.
pub struct Node(Child);

impl Node {
    pub fn kill(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Start a node process serving from `dir`; returns it with its port once it listens.
pub fn start_node(dir: &Path) -> (Node, u16) {
    let _ = std::fs::remove_file(dir.join("port"));
    let mut node = Node(
        Command::new(std::env::current_exe().unwrap())
            .args(["--exact", "relay_node_process", "--ignored", "--nocapture"])
            .env(NODE_ENV, dir)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Ok(p) = std::fs::read_to_string(dir.join("port")) {
            return (node, p.trim().parse().unwrap());
        }
        if Instant::now() >= deadline {
            node.kill();
            panic!("relay node did not start");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// An HTTPS client presenting `p`'s device certificate.
pub fn https_client(fx: &Fixture, p: &Party) -> reqwest::Client {
    let key = p.keys.signing_pkcs8().to_vec();
    let tls = client_tls_config(fx.pki.ca.ca_cert_pem(), Some((&p.cert.pem, &key))).unwrap();
    reqwest::Client::builder()
        .use_preconfigured_tls(tls)
        .build()
        .unwrap()
}

/// Both login stages over HTTPS; the session token.
pub async fn login(http: &reqwest::Client, base: &str, p: &Party) -> String {
    let s1: UserLoginResponse = http
        .post(format!("{base}/session/user"))
        .json(&UserLoginRequest {
            user_id: p.user.clone(),
            password: PASSWORD.into(),
        })
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let s: SessionResponse = http
        .post(format!("{base}/session/office"))
        .json(&OfficeLoginRequest {
            stage1_token: s1.stage1_token,
            kj_id: p.kj.clone(),
            password: PASSWORD.into(),
        })
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    s.token
}

/// `POST /messages` with the headers a client sends (idempotency key, digest, length).
pub async fn send(
    http: &reqwest::Client,
    base: &str,
    token: &str,
    env: &[u8],
    key: &str,
) -> reqwest::Response {
    use sha2::{Digest, Sha256};
    http.post(format!("{base}/messages"))
        .bearer_auth(token)
        .header("idempotency-key", key)
        .header("x-renkei-sha256", hex::encode(Sha256::digest(env)))
        .header("x-renkei-length", env.len().to_string())
        .body(env.to_vec())
        .send()
        .await
        .unwrap()
}

/// `GET base + path` as JSON; the request must succeed.
pub async fn get<T: serde::de::DeserializeOwned>(
    http: &reqwest::Client,
    base: &str,
    token: &str,
    path: &str,
) -> T {
    let r = http
        .get(format!("{base}{path}"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success(), "GET {path}: {}", r.status());
    r.json().await.unwrap()
}

/// A message's envelope as downloaded.
pub async fn download(
    http: &reqwest::Client,
    base: &str,
    token: &str,
    id: impl std::fmt::Display,
) -> bytes::Bytes {
    http.get(format!("{base}/messages/{id}/content"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap()
}
