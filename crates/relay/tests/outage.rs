//! The database goes away (every connection of the relay is terminated by the server) and
//! comes back: requests during the outage get a clean problem document or succeed on a fresh
//! connection, and nothing accepted before is lost.

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
