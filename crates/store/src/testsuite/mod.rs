//! The one story test every storage backend must pass (enabled by the `testsuite` feature).
//!
//! Backend crates call [`run_all`] from an integration test against a fresh database.

pub mod enrollment;
pub mod messaging;

use crate::Store;

/// Run every scenario against `store`, which must be freshly migrated and empty.
pub async fn run_all<S: Store>(store: &S) {
    enrollment::run(store).await;
    messaging::run(store).await;
}
