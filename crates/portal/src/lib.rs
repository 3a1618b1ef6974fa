//! The Renkei enrollment portal: the Japanese web pages where a regional federation (国保連)
//! registers care offices and an office gets from its registration notice to a working client.
//!
//! The flow (docs/spec/portal.md has each rule with its source):
//!
//! 1. an operator registers an office ([`PortalService::register_office`], or a CSV with
//!    [`PortalService::bulk_register`]) and prints the 電子請求登録結果に関するお知らせ;
//! 2. the office logs in with its KJ ID ([`PortalService::kj_login`]) and replaces the temporary
//!    password ([`PortalService::change_kj_password`]);
//! 3. its client enrolls a device: `POST /enroll/certificate` →
//!    [`PortalService::issue_certificate`] (証明書発行用パスワード, one device per office by
//!    default, 端末変更 with [`PortalService::change_device`]);
//! 4. 利用申請 ([`PortalService::apply`]) creates the personal c… user and the license term
//!    ([`renkei_ledger`] decides the fee and the claim month);
//! 5. the client download is gated by organisation name + office number
//!    ([`PortalService::client_download`]).
//!
//! [`router`] serves the HTML pages (maud, no JavaScript, CSRF token on every form, sessions in
//! the database) and the JSON enrollment endpoint; [`PortalService`] is the same flow as a
//! library, used by the pages and by the server's `demo` bootstrap.
//!
//! ```no_run
//! # async fn demo(store: std::sync::Arc<dyn renkei_store::Store>,
//! #               sealer: std::sync::Arc<dyn renkei_store::AuditSealer>) -> Result<(), renkei_portal::PortalError> {
//! use std::sync::Arc;
//! use renkei_portal::{NewOffice, PortalConfig, PortalService};
//! let ca = Arc::new(renkei_pki::Ca::generate("Renkei CA").unwrap());
//! let portal = PortalService::new(store, ca, sealer, PortalConfig::default());
//! let now = renkei_store::now_millis();
//! let notice = portal
//!     .register_office("admin", &NewOffice { number: "1310100010".into(), name: "れんけい居宅".into(),
//!                                            kind: "43".into(), ..Default::default() }, now)
//!     .await?;
//! portal.kj_login(notice.kj_id.as_str(), &notice.temporary_password, now).await?;
//! # Ok(()) }
//! ```

mod error;
pub mod secrets;
mod service;
mod web;

pub use error::PortalError;
pub use service::{
    renewal_warning, ApplicationForm, ApplicationOutcome, BulkResult, CertStatus, ClientBuild,
    EnrollRequestJson, IssuedCertificate, LoginOutcome, NewOffice, OperatorLogin, PortalConfig,
    PortalService, RegistrationNotice,
};
pub use web::{router, PortalState};
