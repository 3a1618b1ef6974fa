//! Who is calling: the device certificate from mutual TLS, then the session token bound to it.
//!
//! Every check is repeated on every request against the database, in one read of the
//! certificate, its device binding and the session (revocation and 端末変更 take effect at once
//! on every relay node), and a token is honoured only from the certificate key it was issued to.

use axum::extract::FromRequestParts;
use http::request::Parts;
use renkei_api::ErrorCode;
use renkei_ids::{OfficeNumber, PersonalUserId};
use renkei_pki::PkiError;
use renkei_store::{SessionRecord, SessionStage};
use sha2::{Digest, Sha256};

use crate::error::ApiError;
use crate::tls::PeerCertificate;
use crate::RelayState;

/// A client certificate that is issued by the CA, registered, unrevoked, in its validity
/// period and (by policy) an active device of its office.
#[derive(Debug, Clone)]
pub struct DeviceCert {
    /// The office the certificate names.
    pub office: OfficeNumber,
    /// Certificate serial (hex).
    pub serial: String,
    /// SHA-256 of its SubjectPublicKeyInfo (hex).
    pub spki_sha256: String,
}

/// SHA-256 hex of a bearer token (only hashes are stored).
pub(crate) fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// A fresh random token (256 bits, URL-safe base64).
pub(crate) fn new_token() -> String {
    use base64::Engine;
    use rand_core::RngCore;
    let mut b = [0u8; 32];
    rand_core::OsRng.fill_bytes(&mut b);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b)
}

pub(crate) async fn check_device(
    state: &RelayState,
    peer: Option<&PeerCertificate>,
) -> Result<DeviceCert, ApiError> {
    authenticate(state, peer, None)
        .await
        .map(|(device, _)| device)
}

/// The device checks and, with a token, the session it names: one store read for both.
async fn authenticate(
    state: &RelayState,
    peer: Option<&PeerCertificate>,
    token_hash: Option<&str>,
) -> Result<(DeviceCert, Option<SessionRecord>), ApiError> {
    let peer = peer.ok_or(ApiError::new(ErrorCode::ClientCertRequired))?;
    // rustls verified the chain already; repeat it so that a request that reached the router any
    // other way (tests, a misconfigured listener) is held to the same rule (once per certificate
    // and node: the answer is cached).
    let cert = state
        .verified_office_cert(&peer.der)
        .map_err(|_| ApiError::new(ErrorCode::CertificateUnknown))?;
    let now = state.now();
    let record = state
        .store()
        .request_auth(cert.serial_hex(), token_hash)
        .await?
        .ok_or(ApiError::new(ErrorCode::CertificateUnknown))?;
    if record.office.as_ref() != Some(cert.office()) || record.spki_sha256 != cert.spki_sha256_hex()
    {
        return Err(ApiError::new(ErrorCode::CertificateUnknown));
    }
    if record.revoked_at.is_some() {
        return Err(ApiError::new(ErrorCode::CertificateRevoked));
    }
    match cert.check_valid_at(now) {
        Ok(()) => {}
        Err(PkiError::Expired { .. } | PkiError::NotYetValid { .. }) => {
            return Err(ApiError::new(ErrorCode::CertificateExpired))
        }
        Err(_) => return Err(ApiError::new(ErrorCode::CertificateUnknown)),
    }
    if state.config().require_device_binding && !record.device_bound {
        return Err(ApiError::detail(
            ErrorCode::CertificateUnknown,
            "device is not bound to the office",
        ));
    }
    let device = DeviceCert {
        office: cert.office().clone(),
        serial: record.serial,
        spki_sha256: record.spki_sha256,
    };
    Ok((device, record.session))
}

impl FromRequestParts<RelayState> for DeviceCert {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, state: &RelayState) -> Result<Self, ApiError> {
        check_device(state, parts.extensions.get::<PeerCertificate>()).await
    }
}

/// A logged-in office session on a checked device.
#[derive(Debug, Clone)]
pub struct OfficeSession {
    /// The device.
    pub device: DeviceCert,
    /// The office (equal to the device's).
    pub office: OfficeNumber,
    /// The personal user who logged in.
    pub user_id: PersonalUserId,
    /// Hash of the token (for logout).
    pub token_hash: String,
}

/// The session a bearer token names, checked against the device and the clock.
pub(crate) async fn check_session(
    state: &RelayState,
    device: &DeviceCert,
    token: &str,
    stage: SessionStage,
) -> Result<SessionRecord, ApiError> {
    let session = state.store().session(&token_hash(token)).await?;
    session_checks(state, device, session, stage)
}

/// The checks of [`check_session`] on a session already read.
fn session_checks(
    state: &RelayState,
    device: &DeviceCert,
    session: Option<SessionRecord>,
    stage: SessionStage,
) -> Result<SessionRecord, ApiError> {
    let session = session.ok_or(ApiError::new(ErrorCode::Unauthenticated))?;
    if session.stage != stage {
        return Err(ApiError::new(ErrorCode::Unauthenticated));
    }
    // The binding check comes before expiry: a stolen token must not even learn its state.
    let same_key: bool = subtle::ConstantTimeEq::ct_eq(
        session.spki_sha256.as_bytes(),
        device.spki_sha256.as_bytes(),
    )
    .into();
    if !same_key || session.office != device.office {
        return Err(ApiError::new(ErrorCode::TokenCertMismatch));
    }
    if session.expires_at <= state.now() {
        return Err(ApiError::new(ErrorCode::SessionExpired));
    }
    Ok(session)
}

fn bearer(parts: &Parts) -> Option<&str> {
    let v = parts
        .headers
        .get(http::header::AUTHORIZATION)?
        .to_str()
        .ok()?;
    let (scheme, token) = v.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then_some(token.trim())
        .filter(|t| !t.is_empty())
}

impl FromRequestParts<RelayState> for OfficeSession {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, state: &RelayState) -> Result<Self, ApiError> {
        let peer = parts.extensions.get::<PeerCertificate>();
        // Without a token the device is still checked first, so its error is the one reported.
        let Some(token) = bearer(parts) else {
            check_device(state, peer).await?;
            return Err(ApiError::new(ErrorCode::Unauthenticated));
        };
        let (device, session) = authenticate(state, peer, Some(&token_hash(token))).await?;
        let session = session_checks(state, &device, session, SessionStage::Office)?;
        Ok(Self {
            office: session.office,
            user_id: session.user_id,
            token_hash: session.token_hash,
            device,
        })
    }
}
