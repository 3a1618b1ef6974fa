//! The one test story every [`BlobStore`] must pass, and a launcher for a real S3-protocol
//! server (moto) on loopback. Enabled by the `testsuite` feature.

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures::StreamExt;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::{BlobError, BlobStore, ByteStream, Expected};

fn chunks(parts: Vec<Result<Bytes, std::io::Error>>) -> ByteStream {
    futures::stream::iter(parts).boxed()
}

/// Run every scenario against `store`; keys are prefixed with `prefix` so several runs can
/// share one store.
pub async fn run(store: &dyn BlobStore, prefix: &str) {
    let key = |k: &str| format!("{prefix}{k}");

    // Round trip, multi-chunk, 3 MiB and a few bytes (beyond a local read's first gulp).
    let big: Vec<u8> = (0..(3usize << 20) + 7)
        .map(|i| (i * 31 % 251) as u8)
        .collect();
    let parts: Vec<_> = big
        .chunks(150_001)
        .map(|c| Ok(Bytes::copy_from_slice(c)))
        .collect();
    store
        .put(&key("big"), chunks(parts), Expected::of(&big))
        .await
        .expect("put big");
    assert!(store.exists(&key("big")).await.unwrap());
    let read = store.get(&key("big")).await.expect("get big");
    assert_eq!(read.length, big.len() as u64);
    assert_eq!(
        store.get_bytes(&key("big")).await.unwrap(),
        Bytes::from(big.clone())
    );

    // Empty payload is a valid blob.
    store
        .put_bytes(&key("empty"), Bytes::new(), Expected::of(b""))
        .await
        .expect("put empty");
    assert_eq!(store.get_bytes(&key("empty")).await.unwrap().len(), 0);

    // Putting the same content again is harmless.
    let small = Bytes::from_static(b"RKE1 small envelope");
    store
        .put_bytes(&key("small"), small.clone(), Expected::of(&small))
        .await
        .unwrap();
    store
        .put_bytes(&key("small"), small.clone(), Expected::of(&small))
        .await
        .unwrap();
    assert_eq!(store.get_bytes(&key("small")).await.unwrap(), small);

    // Every kind of bad upload leaves nothing under its key.
    let good = Expected::of(&small);
    let wrong_digest = Expected {
        sha256: [7; 32],
        length: small.len() as u64,
    };
    let e = store
        .put_bytes(&key("bad1"), small.clone(), wrong_digest)
        .await
        .expect_err("digest");
    assert!(matches!(e, BlobError::DigestMismatch { .. }), "{e:?}");
    let short = Expected {
        length: small.len() as u64 + 5,
        ..good
    };
    let e = store
        .put_bytes(&key("bad2"), small.clone(), short)
        .await
        .expect_err("short");
    assert!(matches!(e, BlobError::LengthMismatch { .. }), "{e:?}");
    let long = Expected {
        length: small.len() as u64 - 1,
        ..good
    };
    let e = store
        .put_bytes(&key("bad3"), small.clone(), long)
        .await
        .expect_err("long");
    assert!(matches!(e, BlobError::LengthMismatch { .. }), "{e:?}");
    let cut = chunks(vec![
        Ok(small.slice(..5)),
        Err(std::io::Error::new(
            std::io::ErrorKind::ConnectionReset,
            "client went away",
        )),
    ]);
    let e = store.put(&key("bad4"), cut, good).await.expect_err("cut");
    assert!(matches!(e, BlobError::Body(_)), "{e:?}");
    for k in ["bad1", "bad2", "bad3", "bad4"] {
        assert!(!store.exists(&key(k)).await.unwrap(), "{k} must not exist");
        assert!(matches!(
            store.get(&key(k)).await,
            Err(BlobError::NotFound(_))
        ));
    }
    // A failed overwrite keeps the earlier blob.
    let e = store
        .put_bytes(&key("small"), Bytes::from_static(b"other"), good)
        .await;
    assert!(e.is_err());
    assert_eq!(store.get_bytes(&key("small")).await.unwrap(), small);

    // Keys are checked.
    for bad in ["", "../etc/passwd", "a/b", "sp ace", &"x".repeat(129)] {
        assert!(
            matches!(store.exists(bad).await, Err(BlobError::InvalidKey(_))),
            "{bad:?}"
        );
        assert!(matches!(
            store.put_bytes(bad, small.clone(), good).await,
            Err(BlobError::InvalidKey(_))
        ));
    }

    // Listing walks every blob once, page by page, and only finished blobs.
    let mut seen = std::collections::BTreeSet::new();
    let mut cursor: Option<String> = None;
    let mut pages = 0;
    loop {
        let page = store.list(cursor.as_deref(), 2).await.expect("list");
        assert!(page.items.len() <= 2);
        for item in &page.items {
            assert!(seen.insert(item.key.clone()), "{} listed twice", item.key);
            let age = std::time::SystemTime::now()
                .duration_since(item.modified)
                .unwrap_or_default();
            if item.key.starts_with(prefix) {
                assert!(age < Duration::from_secs(3600), "{}: {age:?}", item.key);
            }
        }
        pages += 1;
        assert!(pages < 10_000, "listing does not end");
        match page.next {
            Some(next) => cursor = Some(next),
            None => break,
        }
    }
    let ours: Vec<_> = seen.iter().filter_map(|k| k.strip_prefix(prefix)).collect();
    assert_eq!(ours, ["big", "empty", "small"], "listing: {seen:?}");

    // Delete.
    assert!(store.delete(&key("small")).await.unwrap());
    assert!(!store.delete(&key("small")).await.unwrap());
    assert!(!store.exists(&key("small")).await.unwrap());
    assert!(matches!(
        store.get(&key("small")).await,
        Err(BlobError::NotFound(_))
    ));
    let mut after: Vec<String> = store
        .list(None, 10_000)
        .await
        .unwrap()
        .items
        .into_iter()
        .filter_map(|e| e.key.strip_prefix(prefix).map(str::to_owned))
        .collect();
    after.sort();
    assert_eq!(after, ["big", "empty"]);
}

/// A moto S3 server on a free loopback port, started for the test and killed on drop; or the
/// server `RENKEI_TEST_S3_URL` names (then nothing is started).
#[derive(Debug)]
pub struct S3TestServer {
    child: Option<Child>,
    base_url: String,
    endpoint: String,
}

impl S3TestServer {
    /// Start moto (`python3 -m moto.server`), or use `RENKEI_TEST_S3_URL`
    /// (`s3://ignored?endpoint=http://127.0.0.1:PORT&…`; its bucket is replaced per call of
    /// [`Self::fresh_bucket`]). Panics if no server can be had: a skipped S3 backend would
    /// pass silently.
    pub fn start() -> Self {
        if let Ok(url) = std::env::var("RENKEI_TEST_S3_URL") {
            let cfg =
                crate::S3Config::from_url(&url).expect("RENKEI_TEST_S3_URL is a valid s3:// URL");
            let endpoint = cfg.endpoint.expect("RENKEI_TEST_S3_URL names an endpoint");
            return Self {
                child: None,
                base_url: url,
                endpoint,
            };
        }
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("free port")
            .port();
        let child = Command::new("python3")
            .args([
                "-m",
                "moto.server",
                "-H",
                "127.0.0.1",
                "-p",
                &port.to_string(),
            ])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start moto (pip install 'moto[server]'): {e}"));
        let mut me = Self {
            child: Some(child),
            base_url: format!(
                "s3://unused?endpoint=http://127.0.0.1:{port}&region=us-east-1&access_key_id=test&secret_access_key=test"
            ),
            endpoint: format!("http://127.0.0.1:{port}"),
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                break;
            }
            if let Some(status) = me.child.as_mut().and_then(|c| c.try_wait().ok().flatten()) {
                panic!("moto server exited at start ({status}); is moto[server] installed?");
            }
            assert!(
                Instant::now() < deadline,
                "moto server did not listen on port {port} within 30 s"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        me
    }

    /// Create a new uniquely named bucket and return the `s3://` URL of a store in it.
    pub async fn fresh_bucket(&self) -> String {
        let bucket = format!("renkei-test-{}", uuid::Uuid::new_v4().simple());
        let hostport = self
            .endpoint
            .trim_start_matches("http://")
            .trim_end_matches('/')
            .to_owned();
        let mut stream = tokio::net::TcpStream::connect(&hostport)
            .await
            .expect("connect to S3 test server");
        // moto accepts unsigned requests; one CreateBucket call is all we need.
        let req = format!("PUT /{bucket} HTTP/1.1\r\nHost: {hostport}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
        stream
            .write_all(req.as_bytes())
            .await
            .expect("send CreateBucket");
        let mut resp = String::new();
        stream
            .read_to_string(&mut resp)
            .await
            .expect("read CreateBucket response");
        assert!(
            resp.starts_with("HTTP/1.1 200") || resp.starts_with("HTTP/1.0 200"),
            "CreateBucket failed: {resp}"
        );
        let query = self.base_url.split_once('?').map(|(_, q)| q).unwrap_or("");
        format!("s3://{bucket}?{query}")
    }
}

impl Drop for S3TestServer {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}
