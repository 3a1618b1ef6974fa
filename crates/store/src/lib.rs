//! Storage traits and model types shared by the relay and the portal.
//!
//! Renkei keeps metadata in one database (SQLite by default, PostgreSQL to scale out) with one
//! migration history. This crate holds only the traits and the plain model types; each backend
//! crate (`renkei-store-sqlite`, `renkei-store-postgres`) implements every trait with its own SQL
//! and its own migrations, and the [`testsuite`] module (feature `testsuite`) is the one story
//! test that every backend must pass.
//!
//! The traits are split by who owns the data:
//! - [`EnrollmentStore`]: offices, KJ accounts, operators, certificates, devices, usage
//!   applications, personal users, licenses and notices (written by the portal);
//! - [`MessagingStore`]: messages, receipts, idempotency keys, sessions and the audit trail
//!   (written by the relay).
//!
//! A backend implements both; [`Store`] is the object the server passes around.

pub mod enrollment;
pub mod messaging;
pub mod password;
#[cfg(feature = "testsuite")]
pub mod testsuite;

pub use enrollment::*;
pub use messaging::*;

/// Errors of every storage backend.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The row that the operation needs does not exist.
    #[error("not found: {0}")]
    NotFound(String),
    /// A uniqueness rule was violated (the row exists already).
    #[error("conflict: {0}")]
    Conflict(String),
    /// The database could not be reached or failed; the operation may be retried.
    #[error("database unavailable: {0}")]
    Unavailable(String),
    /// Stored data could not be decoded (a bug or manual tampering).
    #[error("corrupt row: {0}")]
    Corrupt(String),
    /// The database's disk (or its configured size limit) is full; nothing of the failed
    /// operation was written. Retrying helps only once an operator has made room.
    #[error("database full: {0}")]
    Full(String),
}

/// Result alias for storage operations.
pub type StoreResult<T> = Result<T, StoreError>;

/// Everything a Renkei server node needs from its metadata database.
pub trait Store: EnrollmentStore + MessagingStore + Send + Sync + 'static {}
impl<T: EnrollmentStore + MessagingStore + Send + Sync + 'static> Store for T {}

/// Milliseconds since the Unix epoch, UTC: the one timestamp representation in storage
/// (portable between SQLite and PostgreSQL, ordered, no time zone ambiguity).
pub type Millis = i64;

/// The current time in [`Millis`].
pub fn now_millis() -> Millis {
    (time::OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000) as i64
}
