//! The shared storage story test on PostgreSQL, in a fresh uniquely named schema.
//!
//! The server is named by `RENKEI_TEST_POSTGRES_URL` (default
//! `postgres://postgres@127.0.0.1:5432/test`). An unreachable server fails the test: a skipped
//! backend would pass silently in CI.

use renkei_store_postgres::PgStore;
use sqlx::postgres::PgPoolOptions;
use sqlx::Executor;

async fn fresh_store() -> (PgStore, String, sqlx::PgPool) {
    let url = std::env::var("RENKEI_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_owned());
    let admin = PgPoolOptions::new()
        .max_connections(1)
        .acquire_timeout(std::time::Duration::from_secs(10))
        .connect(&url)
        .await
        .unwrap_or_else(|e| {
            panic!("PostgreSQL at {url} is unreachable (set RENKEI_TEST_POSTGRES_URL): {e}")
        });
    let schema = format!("renkei_test_{}", uuid::Uuid::new_v4().simple());
    admin
        .execute(format!("CREATE SCHEMA {schema}").as_str())
        .await
        .expect("create schema");
    let search_path = format!("SET search_path TO {schema}");
    let pool = PgPoolOptions::new()
        .max_connections(8)
        .after_connect(move |conn, _meta| {
            let sql = search_path.clone();
            Box::pin(async move {
                conn.execute(sql.as_str()).await?;
                Ok(())
            })
        })
        .connect(&url)
        .await
        .expect("connect to schema");
    let store = PgStore::from_pool(pool)
        .await
        .expect("migrate fresh schema");
    (store, schema, admin)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shared_suite_passes_on_postgres() {
    let (store, schema, admin) = fresh_store().await;
    renkei_store::testsuite::run_all(&store).await;
    store.pool().close().await;
    admin
        .execute(format!("DROP SCHEMA {schema} CASCADE").as_str())
        .await
        .expect("drop schema");
}
