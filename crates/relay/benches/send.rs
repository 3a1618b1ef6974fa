//! The relay's request path in process (the router, no TLS or sockets), on SQLite and a local
//! payload directory in a temporary directory: what one send, one download + ack, and a burst
//! of concurrent sends cost, durably (blob fsync'd, metadata committed).
//!
//! `cargo bench -p renkei-relay --bench send`. Figures in docs/PERFORMANCE.md.

#[path = "../tests/common/mod.rs"]
mod common;

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use renkei_api::{AckOutcome, AckRequest, SendResponse};
use renkei_relay::RelayConfig;

fn payload(len: usize) -> Vec<u8> {
    (0..len).map(|i| b"0123456789,\r\n"[i % 13]).collect()
}

fn relay(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let (fx, dirs) = rt.block_on(async {
        let (store, d1) = common::sqlite_store().await;
        let (blobs, d2) = common::local_blobs().await;
        (
            common::fixture(store, blobs, RelayConfig::default()).await,
            (d1, d2),
        )
    });
    let a = rt.block_on(fx.login(&fx.a));
    let b = rt.block_on(fx.login(&fx.b));
    let keys = AtomicU64::new(0);
    let key = || format!("bench-{}", keys.fetch_add(1, Ordering::Relaxed));

    let mut group = c.benchmark_group("relay_sqlite");
    group
        .sample_size(20)
        .measurement_time(Duration::from_secs(8));
    for kb in [5usize, 100] {
        let env = fx.envelope(&fx.a, &fx.b, &payload(kb * 1024));
        group.throughput(Throughput::Bytes(env.len() as u64));
        // One send at a time: the latency of a durable send.
        group.bench_function(BenchmarkId::new("send_one", format!("{kb}KB")), |bench| {
            bench.iter(|| {
                let r = rt.block_on(a.send(&env, &key()));
                assert_eq!(r.status.as_u16(), 201);
            })
        });
        // Sixteen at once: what group commit makes of concurrent sends (time per send).
        group.bench_function(
            BenchmarkId::new("send_16_concurrent_per_send", format!("{kb}KB")),
            |bench| {
                bench.iter_custom(|iters| {
                    let mut total = Duration::ZERO;
                    for _ in 0..iters {
                        let keys: Vec<String> = (0..16).map(|_| key()).collect();
                        let t = Instant::now();
                        rt.block_on(futures::future::join_all(
                            keys.iter().map(|k| a.send(&env, k)),
                        ))
                        .iter()
                        .for_each(|r| assert_eq!(r.status.as_u16(), 201));
                        total += t.elapsed() / 16;
                    }
                    total
                })
            },
        );
        // Download and acknowledge one message (the recipient's half of a round trip).
        group.bench_function(
            BenchmarkId::new("download_ack", format!("{kb}KB")),
            |bench| {
                bench.iter_custom(|iters| {
                    let ids: Vec<_> = (0..iters)
                        .map(|_| {
                            rt.block_on(a.send(&env, &key()))
                                .json::<SendResponse>()
                                .message
                                .id
                        })
                        .collect();
                    let t = Instant::now();
                    for id in ids {
                        rt.block_on(async {
                            let body = b.get(&format!("/messages/{id}/content")).await;
                            assert_eq!(body.body.len(), env.len());
                            let ack = AckRequest {
                                outcome: AckOutcome::Imported,
                                reasons: vec![],
                            };
                            let r = b.post_json(&format!("/messages/{id}/ack"), &ack).await;
                            assert_eq!(r.status.as_u16(), 200);
                        });
                    }
                    t.elapsed()
                })
            },
        );
    }
    group.finish();
    drop(dirs);
}

criterion_group!(benches, relay);
criterion_main!(benches);
