//! The shared storage story test on a fresh SQLite database file.

use renkei_store_sqlite::SqliteStore;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shared_suite_passes_on_sqlite() {
    let dir = tempfile::tempdir().expect("temp dir");
    let url = format!("sqlite://{}", dir.path().join("renkei.db").display());
    let store = SqliteStore::open(&url).await.expect("open sqlite store");
    renkei_store::testsuite::run_all(&store).await;
}
