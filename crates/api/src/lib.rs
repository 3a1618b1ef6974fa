//! The HTTP API of the Renkei relay, `/api/v1`: request and response types and the problem
//! catalogue, shared by the relay (which serves them) and the client (which calls them).
//!
//! Nothing here does HTTP. The types are plain serde structs that also describe themselves to
//! utoipa, so the relay's OpenAPI document is generated from the very types both sides compile
//! against.
//!
//! - [`messages`]: sending, listing, downloading and acknowledging messages (one 送信単位 each);
//! - [`session`]: the two-stage login (personal user, then the office's KJ account);
//! - [`directory`]: the office directory and certificate status;
//! - [`evidence`]: signed receipts and audit exports as they travel;
//! - [`problem`]: RFC 9457 problem details with one [`ErrorCode`] catalogue carrying Japanese
//!   and English text.
//!
//! ```
//! use renkei_api::{ErrorCode, Problem};
//! let p = Problem::new(ErrorCode::DigestMismatch);
//! assert_eq!(p.status, 422);
//! assert_eq!(p.code, "digest_mismatch");
//! assert!(p.message_ja.contains("ハッシュ"));
//! ```

pub mod directory;
pub mod evidence;
pub mod messages;
pub mod problem;
pub mod session;

pub use directory::*;
pub use evidence::*;
pub use messages::*;
pub use problem::*;
pub use session::*;

/// Path prefix of every endpoint.
pub const API_PREFIX: &str = "/api/v1";

/// Header carrying the client's idempotency key on a send (1–128 visible ASCII characters).
pub const HEADER_IDEMPOTENCY_KEY: &str = "idempotency-key";
/// Header carrying the lower-case hex SHA-256 of the whole envelope (send and download).
pub const HEADER_SHA256: &str = "x-renkei-sha256";
/// Header carrying the envelope length in bytes (send and download); required on a send even
/// when the body is chunked, so the relay can refuse an oversized upload before reading it.
pub const HEADER_LENGTH: &str = "x-renkei-length";
/// Header carrying the message id on a download.
pub const HEADER_MESSAGE_ID: &str = "x-renkei-message-id";

/// Serde helpers for RFC 3339 timestamps, used by every time field of the API.
pub mod timefmt {
    pub use time::serde::rfc3339;
    /// Optional RFC 3339 timestamps.
    pub use time::serde::rfc3339::option;
}
