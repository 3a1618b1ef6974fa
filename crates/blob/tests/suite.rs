//! Both blob stores pass the same story: a local directory and a real S3-protocol server
//! (moto, started here on loopback, or `RENKEI_TEST_S3_URL`).

use std::sync::Arc;

use bytes::Bytes;
use futures::StreamExt;
use renkei_blob::testsuite::{run, S3TestServer};
use renkei_blob::{open_blob_store, BlobError, BlobStore, Expected, LocalBlobStore};

#[tokio::test]
async fn local_store_passes_the_suite() {
    let dir = tempfile::tempdir().unwrap();
    let store = open_blob_store(&format!("file://{}", dir.path().display()))
        .await
        .unwrap();
    run(store.as_ref(), "t-").await;
    let local = LocalBlobStore::open(dir.path()).await.unwrap();
    assert_eq!(
        local.temp_files().await.unwrap(),
        0,
        "failed puts leave no temp files"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s3_store_passes_the_suite() {
    let server = S3TestServer::start();
    let url = server.fresh_bucket().await;
    let store = open_blob_store(&url).await.unwrap();
    run(store.as_ref(), "t-").await;
}

#[tokio::test]
async fn dropped_upload_leaves_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(LocalBlobStore::open(dir.path()).await.unwrap());
    let (tx, rx) = futures::channel::mpsc::channel::<Result<Bytes, std::io::Error>>(1);
    let body = rx.boxed();
    let s2 = store.clone();
    let task = tokio::spawn(async move {
        s2.put(
            "half",
            body,
            Expected {
                sha256: [0; 32],
                length: 3 << 20,
            },
        )
        .await
    });
    let mut tx = tx;
    // More than one write batch (1 MiB), so that the temp file exists while the rest is due.
    for _ in 0..3 {
        futures::SinkExt::send(&mut tx, Ok(Bytes::from(vec![1; 600_000])))
            .await
            .unwrap();
    }
    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    assert_eq!(
        store.temp_files().await.unwrap(),
        1,
        "upload in progress writes a temp file"
    );
    task.abort(); // the connection task dies with the client
    let _ = task.await;
    assert_eq!(store.temp_files().await.unwrap(), 0);
    assert!(!store.exists("half").await.unwrap());
}

#[tokio::test]
async fn crash_leftovers_are_removed_at_open() {
    let dir = tempfile::tempdir().unwrap();
    drop(LocalBlobStore::open(dir.path()).await.unwrap());
    std::fs::write(dir.path().join("tmp").join("dead.part"), b"half an upload").unwrap();
    let store = LocalBlobStore::open(dir.path()).await.unwrap();
    assert_eq!(store.temp_files().await.unwrap(), 0);
}

#[tokio::test]
async fn a_second_process_on_the_directory_keeps_the_first_ones_uploads() {
    let dir = tempfile::tempdir().unwrap();
    // The first "process" is open (holds its shared lock) and is writing an upload.
    let first = LocalBlobStore::open(dir.path()).await.unwrap();
    let live = dir.path().join("tmp").join("live.part");
    std::fs::write(&live, b"being written").unwrap();
    // An hour-old leftover of some earlier crash.
    let dead = dir.path().join("tmp").join("dead.part");
    std::fs::write(&dead, b"half an upload").unwrap();
    std::fs::File::options()
        .write(true)
        .open(&dead)
        .unwrap()
        .set_modified(std::time::SystemTime::now() - std::time::Duration::from_secs(2 * 3600))
        .unwrap();
    let second = LocalBlobStore::open(dir.path()).await.unwrap();
    assert!(!dead.exists(), "an old leftover is removed");
    assert!(live.exists(), "a live upload of another process is kept");
    drop((first, second));
    // Alone again: every leftover goes.
    let alone = LocalBlobStore::open(dir.path()).await.unwrap();
    assert!(!live.exists());
    assert_eq!(alone.temp_files().await.unwrap(), 0);
}

#[tokio::test]
async fn blobs_spread_over_fan_out_directories_and_legacy_paths_are_found() {
    let dir = tempfile::tempdir().unwrap();
    let store = LocalBlobStore::open(dir.path()).await.unwrap();
    // Time-ordered keys (UUIDv7) share their first characters; they must not share a directory.
    for _ in 0..64 {
        let key = uuid::Uuid::now_v7().simple().to_string();
        store
            .put_bytes(&key, Bytes::from_static(b"x"), Expected::of(b"x"))
            .await
            .unwrap();
    }
    let fans = std::fs::read_dir(dir.path().join("objects"))
        .unwrap()
        .count();
    assert!(
        fans > 20,
        "64 time-ordered keys landed in only {fans} directories"
    );

    // A blob where versions before the hashed fan-out put it (objects/<first two chars>/).
    let legacy_dir = dir.path().join("objects").join("01");
    std::fs::create_dir_all(&legacy_dir).unwrap();
    std::fs::write(legacy_dir.join("0123legacy"), b"old").unwrap();
    assert!(store.exists("0123legacy").await.unwrap());
    assert_eq!(
        store.get_bytes("0123legacy").await.unwrap(),
        Bytes::from_static(b"old")
    );
    let listed = store.list(None, 1000).await.unwrap();
    assert_eq!(listed.items.len(), 65);
    assert!(listed.items.iter().any(|e| e.key == "0123legacy"));
    assert!(store.delete("0123legacy").await.unwrap());
    assert!(!store.exists("0123legacy").await.unwrap());
}

#[test]
fn full_disk_is_its_own_error() {
    let e = BlobError::from_io("write", std::io::Error::from_raw_os_error(28));
    assert!(matches!(e, BlobError::StorageFull(_)), "{e:?}");
    let e = BlobError::from_io("write", std::io::Error::from_raw_os_error(5));
    assert!(matches!(e, BlobError::Unavailable(_)), "{e:?}");
}

#[tokio::test]
async fn urls_choose_the_store() {
    let dir = tempfile::tempdir().unwrap();
    let plain = open_blob_store(dir.path().to_str().unwrap()).await.unwrap();
    plain
        .put_bytes("k", Bytes::from_static(b"x"), Expected::of(b"x"))
        .await
        .unwrap();
    let fan = hex::encode(&<sha2::Sha256 as sha2::Digest>::digest(b"k")[..1]);
    assert!(dir.path().join("objects").join(fan).join("k").exists());
    assert!(matches!(
        open_blob_store("ftp://x").await,
        Err(BlobError::Config(_))
    ));
    assert!(matches!(
        open_blob_store("s3://b?endpoint=http://127.0.0.1:1&bogus=1").await,
        Err(BlobError::Config(_))
    ));
    let cfg = renkei_blob::S3Config::from_url(
        "s3://bucket/pre?endpoint=http://127.0.0.1:9000&region=ap-northeast-1&access_key_id=a&secret_access_key=s",
    )
    .unwrap();
    assert_eq!(
        (
            cfg.bucket.as_str(),
            cfg.prefix.as_str(),
            cfg.region.as_str()
        ),
        ("bucket", "pre", "ap-northeast-1")
    );
    assert!(cfg.allow_http, "loopback http is allowed by default");
    assert!(!format!("{cfg:?}").contains("\"s\""), "secret is redacted");
}
