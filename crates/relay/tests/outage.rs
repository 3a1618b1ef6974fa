//! The database goes away (every connection of the relay is terminated by the server) and
//! comes back, and the payload disk fills up and is freed: requests during the outage get a
//! clean problem document or succeed, and nothing accepted before is lost.

mod common;

use common::*;
use http::StatusCode;
use renkei_api::{MessagePage, SendResponse};
use renkei_relay::RelayConfig;
use sqlx::Executor;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_connections_dropped_and_back() {
    let (blobs, d2) = local_blobs().await;
    let store = pg_store().await;
    let mut fx = fixture(store, blobs, RelayConfig::default()).await;
    fx.keep(d2);
    let a = fx.login(&fx.a).await;
    let b = fx.login(&fx.b).await;
    let env = fx.envelope(&fx.a, &fx.b, b"before");
    let first: SendResponse = a.send(&env, "before").await.json();

    // Our pools name their connections after their schema; kill exactly those.
    let url = std::env::var("RENKEI_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_owned());
    let admin = sqlx::postgres::PgPoolOptions::new()
        .max_connections(1)
        .connect(&url)
        .await
        .unwrap();
    let app_names: Vec<(String,)> = sqlx::query_as(
        "SELECT DISTINCT application_name FROM pg_stat_activity WHERE application_name LIKE 'renkei_relay_test_%'",
    )
    .fetch_all(&admin)
    .await
    .unwrap();
    assert!(!app_names.is_empty());
    // Find ours: the one whose schema holds our message.
    let mut ours = None;
    for (name,) in app_names {
        let sql = format!("SELECT count(*) FROM {name}.messages WHERE idempotency_key = 'before'");
        if let Ok(row) = sqlx::query_as::<_, (i64,)>(&sql).fetch_one(&admin).await {
            if row.0 == 1 && fx.store.message(&first.message.id).await.unwrap().is_some() {
                ours = Some(name);
            }
        }
    }
    let ours = ours.expect("our schema");
    let killed = admin
        .execute(
            format!("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = '{ours}'")
                .as_str(),
        )
        .await
        .unwrap();
    assert!(killed.rows_affected() >= 1);

    // Every answer is either success or a clean problem; soon everything works again.
    let mut ok = false;
    for i in 0..20 {
        let env = fx.envelope(&fx.a, &fx.b, format!("after-{i}").as_bytes());
        let r = a.send(&env, &format!("after-{i}")).await;
        match r.status {
            StatusCode::CREATED => {
                ok = true;
                break;
            }
            _ => {
                let p = r.problem();
                assert!(
                    ["storage_unavailable", "internal"].contains(&p.code.as_str()),
                    "{p:?}"
                );
            }
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(ok, "the relay did not recover");
    let inbox: MessagePage = b.get("/messages/inbox").await.json();
    assert!(
        inbox.items.iter().any(|m| m.id == first.message.id),
        "accepted message lost"
    );
}

/// A small tmpfs mounted for one test (the machine's tests run as root) and unmounted after it,
/// even when the test fails.
struct SmallDisk {
    dir: tempfile::TempDir,
}

impl SmallDisk {
    fn mount(size: &str) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let st = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir.path())
            .status()
            .expect("run mount");
        assert!(
            st.success(),
            "cannot mount a {size} tmpfs at {} (the disk-full test needs root)",
            dir.path().display()
        );
        Self { dir }
    }
    fn path(&self) -> &std::path::Path {
        self.dir.path()
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount")
            .arg("-l")
            .arg(self.dir.path())
            .status();
    }
}

/// Every file under `dir`, relative.
fn files_under(dir: &std::path::Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let e = e.unwrap();
            if e.file_type().unwrap().is_dir() {
                stack.push(e.path());
            } else {
                out.push(
                    e.path()
                        .strip_prefix(dir)
                        .unwrap()
                        .to_string_lossy()
                        .into_owned(),
                );
            }
        }
    }
    out.sort();
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn payload_disk_fills_up_and_is_freed() {
    use sha2::Digest;
    let disk = SmallDisk::mount("1m");
    let blobs: std::sync::Arc<dyn renkei_blob::BlobStore> = std::sync::Arc::new(
        renkei_blob::LocalBlobStore::open(disk.path())
            .await
            .unwrap(),
    );
    let (store, d1) = sqlite_store().await;
    let mut fx = fixture(store, blobs, RelayConfig::default()).await;
    fx.keep(d1);
    let a = fx.login(&fx.a).await;
    let b = fx.login(&fx.b).await;
    let before = fx.envelope(&fx.a, &fx.b, b"accepted before the disk filled up");
    let first: SendResponse = a.send(&before, "before").await.json();
    let blobs_before = files_under(disk.path());

    // Something else fills the disk to the last byte.
    let filler = disk.path().join("filler");
    {
        use std::io::Write;
        let mut f = std::fs::File::create(&filler).unwrap();
        let chunk = vec![0u8; 4096];
        while f.write_all(&chunk).is_ok() {}
        let _ = f.sync_all();
    }
    let big: Vec<u8> = (0..100_000u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    let env = fx.envelope(&fx.a, &fx.b, &big);
    let r = a.send(&env, "during").await;
    assert_eq!(r.status.as_u16(), 507, "{:?}", r.problem());
    assert_eq!(r.problem().code, "storage_full");
    // Nothing half-written is left, and nothing accepted is touched.
    let mut now = files_under(disk.path());
    now.retain(|f| f != "filler");
    assert_eq!(now, blobs_before, "no partial payload left behind");
    let inbox: MessagePage = b.get("/messages/inbox").await.json();
    assert_eq!(inbox.items.len(), 1, "the refused send is not offered");
    let dl = b
        .get(&format!("/messages/{}/content", first.message.id))
        .await;
    assert_eq!(dl.status, StatusCode::OK);
    assert_eq!(
        dl.body.as_ref(),
        before.as_slice(),
        "accepted payload intact"
    );
    assert_eq!(
        hex::encode(sha2::Sha256::digest(&dl.body)),
        first.message.digest
    );

    // Space comes back: the client's retry with the same key is stored as a new message.
    std::fs::remove_file(&filler).unwrap();
    let r = a.send(&env, "during").await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.problem());
    let retried: SendResponse = r.json();
    assert!(!retried.duplicate);
    let dl = b
        .get(&format!("/messages/{}/content", retried.message.id))
        .await;
    assert_eq!(dl.body.as_ref(), env.as_slice());
}
