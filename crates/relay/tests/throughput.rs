//! A quick throughput probe (not a timed test; `--run-ignored` to run): offices send 5–200 KB
//! envelopes over real mutual TLS to a relay on SQLite and a local blob directory while the
//! recipient downloads and acknowledges each; prints one JSON line with files/s, send latency
//! percentiles and errors, next to the fsync'd-file-write rate of the same disk.
//! The full month-start generator is `renkei loadtest`.

mod common;

use std::sync::Arc;
use std::time::Instant;

use common::*;
use renkei_api::{AckOutcome, AckRequest, SendResponse};
use renkei_pki::tls::server_tls_config;
use renkei_pki::ClientAuth;
use renkei_relay::RelayConfig;
use sha2::{Digest, Sha256};

fn fsync_rate(dir: &std::path::Path, seconds: f64) -> f64 {
    use std::io::Write;
    let start = Instant::now();
    let mut n = 0u64;
    let data = vec![7u8; 50_000];
    while start.elapsed().as_secs_f64() < seconds {
        let p = dir.join(format!("probe-{n}"));
        let mut f = std::fs::File::create(&p).unwrap();
        f.write_all(&data).unwrap();
        f.sync_all().unwrap();
        std::fs::File::open(dir).unwrap().sync_all().unwrap();
        n += 1;
    }
    n as f64 / start.elapsed().as_secs_f64()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "throughput probe, run on demand"]
async fn throughput_probe() {
    let (store, d1) = sqlite_store().await;
    let (blobs, d2) = local_blobs().await;
    let probe_dir = tempfile::tempdir_in(d2.path()).unwrap();
    let disk_fsyncs = fsync_rate(probe_dir.path(), 2.0);
    let mut fx = fixture(store, blobs, RelayConfig::default()).await;
    fx.keep(d1);
    fx.keep(d2);
    let tls = server_tls_config(
        &fx.pki.server.cert.pem,
        &fx.pki.server.key_pem,
        fx.pki.ca.ca_cert_pem(),
        ClientAuth::Required,
    )
    .unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!(
        "https://localhost:{}/api/v1",
        listener.local_addr().unwrap().port()
    );
    tokio::spawn(renkei_relay::serve(
        listener,
        Arc::new(tls),
        fx.app.clone(),
        std::future::pending(),
    ));
    let (ha, hb) = (
        node::https_client(&fx, &fx.a),
        node::https_client(&fx, &fx.b),
    );
    let (ta, tb) = (
        node::login(&ha, &base, &fx.a).await,
        node::login(&hb, &base, &fx.b).await,
    );
    let total: usize = std::env::var("RENKEI_PROBE_FILES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(300);
    let envelopes: Vec<Vec<u8>> = (0..total)
        .map(|i| fx.envelope(&fx.a, &fx.b, &vec![b'x'; 5_000 + (i * 6_577) % 195_000]))
        .collect();
    let start = Instant::now();
    let sem = Arc::new(tokio::sync::Semaphore::new(16));
    let mut tasks = Vec::new();
    for (i, env) in envelopes.into_iter().enumerate() {
        let (ha, hb, ta, tb, base, sem) = (
            ha.clone(),
            hb.clone(),
            ta.clone(),
            tb.clone(),
            base.clone(),
            sem.clone(),
        );
        tasks.push(tokio::spawn(async move {
            let _permit = sem.acquire().await.unwrap();
            let t0 = Instant::now();
            let r = ha
                .post(format!("{base}/messages"))
                .bearer_auth(&ta)
                .header("idempotency-key", format!("p-{i}"))
                .header("x-renkei-sha256", hex::encode(Sha256::digest(&env)))
                .header("x-renkei-length", env.len().to_string())
                .body(env)
                .send()
                .await
                .ok()
                .filter(|r| r.status() == 201)?;
            let send_ms = t0.elapsed().as_secs_f64() * 1000.0;
            let id = r.json::<SendResponse>().await.ok()?.message.id;
            hb.get(format!("{base}/messages/{id}/content"))
                .bearer_auth(&tb)
                .send()
                .await
                .ok()?
                .bytes()
                .await
                .ok()?;
            let ack = hb
                .post(format!("{base}/messages/{id}/ack"))
                .bearer_auth(&tb)
                .json(&AckRequest {
                    outcome: AckOutcome::Imported,
                    reasons: vec![],
                })
                .send()
                .await
                .ok()?;
            (ack.status() == 200).then_some(send_ms)
        }));
    }
    let mut lat = Vec::new();
    let mut errors = 0;
    for t in tasks {
        match t.await.unwrap() {
            Some(ms) => lat.push(ms),
            None => errors += 1,
        }
    }
    let secs = start.elapsed().as_secs_f64();
    lat.sort_by(|a, b| a.partial_cmp(b).unwrap());
    let pct = |p: f64| {
        lat.get(((lat.len() as f64 - 1.0) * p).round() as usize)
            .copied()
            .unwrap_or(f64::NAN)
    };
    let files_per_s = lat.len() as f64 / secs;
    println!(
        "{}",
        serde_json::json!({
            "files": total, "files_per_s": files_per_s, "p50_ms": pct(0.5), "p99_ms": pct(0.99), "errors": errors,
            "disk_fsync_writes_per_s": disk_fsyncs, "ratio": files_per_s / disk_fsyncs,
            "build": if cfg!(debug_assertions) { "debug" } else { "release" },
        })
    );
    assert_eq!(errors, 0);
}
