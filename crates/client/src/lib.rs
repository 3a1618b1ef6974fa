//! The Renkei client library: everything a care office's installation does, without any user
//! interface (the `renkei client …` commands and the local web UI sit on top).
//!
//! - [`Home`]: the state directory (configuration, CA certificate, keystore, state database);
//! - [`Keystore`]: device keys, office certificate and remembered credentials, encrypted with a
//!   passphrase (Argon2id + ChaCha20-Poly1305);
//! - [`StateDb`]: history, receipts, the offline outbox, favourites and received files, in
//!   SQLite (WAL) so that several processes can share one home.
//!
//! ```no_run
//! # fn main() -> Result<(), renkei_client::ClientError> {
//! use renkei_client::Home;
//! # let ca_pem = "";
//! let dir = std::path::Path::new("/tmp/renkei-office");
//! let (home, keystore) = Home::create(dir, "https://relay.example", "https://portal.example",
//!                                     ca_pem, "a long passphrase")?;
//! // later, in another process:
//! let home = Home::open(dir)?;
//! let keystore = home.unlock("a long passphrase")?;
//! # Ok(()) }
//! ```

pub mod atomic;
mod error;
mod home;
mod keystore;
mod landing;
mod state;

pub use error::ClientError;
pub use home::{Config, Home};
pub use keystore::{Credentials, KdfParams, Keystore, MIN_PASSPHRASE_CHARS};
pub use state::{Favourite, NewSend, OutboxItem, ReceivedRecord, SendRecord, StateDb, UnitFile};
pub mod enroll;
mod office;
pub mod relay;
pub mod units;
pub use office::{FlushReport, Office, Queued, SendProgress, SendStage};
mod receive;
pub use receive::{ImportOutcome, InboxEntry};
pub mod watch;

pub use enroll::{enroll, renew, EnrollInput, Enrolled};
/// The relay API types, re-exported for front ends (CLI, web UI).
pub use renkei_api as api;
/// The PKI types front ends need (certificate types), re-exported.
pub use renkei_pki as pki;
pub use units::{describe_findings, prepare_units, PreparedUnit};
pub mod evidence;
