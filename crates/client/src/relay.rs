//! HTTP client of the relay's `/api/v1` over mutual TLS, with the two-stage login and an
//! automatic re-login from remembered credentials when the session expires.

use std::sync::Mutex;
use std::time::Duration;

use renkei_api::{
    AckRequest, AckResponse, AuditExport, CertStatus, DirectoryEntry, DirectoryPage,
    DirectoryQuery, ErrorCode, ListQuery, MessageId, MessagePage, MessageStatus,
    OfficeLoginRequest, Problem, RevocationList, SendResponse, SessionResponse, UserLoginRequest,
    UserLoginResponse, API_PREFIX, HEADER_IDEMPOTENCY_KEY, HEADER_LENGTH, HEADER_SHA256,
};
use renkei_ids::OfficeNumber;
use reqwest::{Method, RequestBuilder, Response, StatusCode};
use serde::de::DeserializeOwned;
use sha2::{Digest, Sha256};

use crate::keystore::Credentials;
use crate::ClientError;

/// The relay's routes, relative to [`API_PREFIX`].
pub mod routes {
    /// Stage 1 of the login (personal user).
    pub const LOGIN_USER: &str = "/session/user";
    /// Stage 2 of the login (office KJ account).
    pub const LOGIN_OFFICE: &str = "/session/office";
    /// The current session (DELETE logs out).
    pub const SESSION: &str = "/session";
    /// Send (POST an envelope).
    pub const MESSAGES: &str = "/messages";
    /// Messages addressed to the office.
    pub const INBOX: &str = "/messages/inbox";
    /// Messages sent by the office.
    pub const OUTBOX: &str = "/messages/outbox";
    /// Office directory.
    pub const DIRECTORY: &str = "/directory";
    /// Revoked certificates.
    pub const REVOCATIONS: &str = "/certificates/revoked";
    /// One certificate by serial (`/certificates/{serial}`).
    pub const CERTIFICATES: &str = "/certificates";
    /// The office's audit trail export.
    pub const AUDIT: &str = "/audit/export";
}

/// Build the rustls configuration of a device: trust only the Renkei CA, present the office
/// certificate with the device's Ed25519 key.
pub fn http_client(
    ca_pem: &str,
    identity: Option<(&str, &[u8])>,
) -> Result<reqwest::Client, ClientError> {
    let tls = renkei_pki::tls::client_tls_config(ca_pem, identity)?;
    reqwest::Client::builder()
        .use_preconfigured_tls(tls)
        .connect_timeout(Duration::from_secs(10))
        .timeout(Duration::from_secs(120))
        .build()
        .map_err(|e| ClientError::Config(format!("HTTP client: {e}")))
}

/// Map a transport error: connection problems mean "try later".
pub(crate) fn transport(e: reqwest::Error) -> ClientError {
    if e.is_connect() || e.is_timeout() || e.is_request() {
        ClientError::Unreachable(e.to_string())
    } else {
        ClientError::Protocol(e.to_string())
    }
}

/// Turn a non-success response into the relay's problem (or a synthetic one).
pub(crate) async fn problem(resp: Response) -> ClientError {
    let status = resp.status();
    let body = resp.bytes().await.unwrap_or_default();
    match serde_json::from_slice::<Problem>(&body) {
        Ok(p) => ClientError::Relay(Box::new(p)),
        Err(_) if status.is_server_error() => ClientError::Unreachable(format!("HTTP {status}")),
        Err(_) => ClientError::Protocol(format!(
            "HTTP {status}: {}",
            String::from_utf8_lossy(&body[..body.len().min(200)])
        )),
    }
}

/// A logged-in (or not yet logged-in) connection to the relay.
pub struct RelayClient {
    http: reqwest::Client,
    base: String,
    /// Validity of the device certificate (Unix ms), checked before every request: the relay
    /// refuses an expired certificate during the TLS handshake, which would otherwise look
    /// like an unreachable server.
    validity: Option<(i64, i64)>,
    session: Mutex<Option<SessionResponse>>,
    credentials: Mutex<Option<Credentials>>,
}

impl std::fmt::Debug for RelayClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RelayClient")
            .field("base", &self.base)
            .finish_non_exhaustive()
    }
}

impl RelayClient {
    /// A client for the relay at `relay_url`, authenticating with the office certificate.
    pub fn new(
        relay_url: &str,
        ca_pem: &str,
        cert_pem: &str,
        key_pkcs8: &[u8],
    ) -> Result<Self, ClientError> {
        let validity = renkei_pki::OfficeCert::parse_pem(cert_pem)
            .ok()
            .map(|c| (c.not_before(), c.not_after()));
        Ok(Self {
            http: http_client(ca_pem, Some((cert_pem, key_pkcs8)))?,
            base: format!("{}{}", relay_url.trim_end_matches('/'), API_PREFIX),
            validity,
            session: Mutex::new(None),
            credentials: Mutex::new(None),
        })
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Refuse to contact the relay with a device certificate outside its validity period,
    /// with a message that says so (and what to do).
    fn check_own_certificate(&self) -> Result<(), ClientError> {
        own_certificate_valid_at(self.validity, renkei_pki::now_millis())
    }

    /// Credentials to log in with automatically when a request needs a session (remembered
    /// credentials from the keystore).
    pub fn set_credentials(&self, creds: Option<Credentials>) {
        if let Ok(mut c) = self.credentials.lock() {
            *c = creds;
        }
    }

    /// The current session, if logged in.
    pub fn session(&self) -> Option<SessionResponse> {
        self.session.lock().ok().and_then(|s| s.clone())
    }

    /// Forget the session (and the credentials used for automatic re-login).
    pub fn forget(&self) {
        if let Ok(mut s) = self.session.lock() {
            *s = None;
        }
        if let Ok(mut c) = self.credentials.lock() {
            *c = None;
        }
    }

    /// The two-stage login. On success the credentials are kept in memory so that an expired
    /// session is renewed without asking the user again.
    pub async fn login(&self, creds: &Credentials) -> Result<SessionResponse, ClientError> {
        let stage1: UserLoginResponse = self
            .post_json_unauth(
                routes::LOGIN_USER,
                &UserLoginRequest {
                    user_id: creds.user_id.clone(),
                    password: creds.user_password.clone(),
                },
            )
            .await?;
        let session: SessionResponse = self
            .post_json_unauth(
                routes::LOGIN_OFFICE,
                &OfficeLoginRequest {
                    stage1_token: stage1.stage1_token,
                    kj_id: creds.kj_id.clone(),
                    password: creds.kj_password.clone(),
                },
            )
            .await?;
        if let Ok(mut s) = self.session.lock() {
            *s = Some(session.clone());
        }
        if let Ok(mut c) = self.credentials.lock() {
            *c = Some(creds.clone());
        }
        Ok(session)
    }

    async fn post_json_unauth<T: DeserializeOwned>(
        &self,
        path: &str,
        body: &impl serde::Serialize,
    ) -> Result<T, ClientError> {
        self.check_own_certificate()?;
        let resp = self
            .http
            .post(self.url(path))
            .json(body)
            .send()
            .await
            .map_err(transport)?;
        json_of(resp).await
    }

    /// Send a request with the session token; on an expired or unknown session, log in again
    /// from the remembered credentials once and retry.
    async fn authed(&self, make: impl Fn() -> RequestBuilder) -> Result<Response, ClientError> {
        self.check_own_certificate()?;
        for attempt in 0..2 {
            let token = match self.session() {
                Some(s) => s.token,
                None => {
                    let creds = self.credentials.lock().ok().and_then(|c| c.clone());
                    match creds {
                        Some(c) => self.login(&c).await?.token,
                        None => return Err(ClientError::NoCredentials),
                    }
                }
            };
            let resp = make().bearer_auth(&token).send().await.map_err(transport)?;
            if resp.status() == StatusCode::UNAUTHORIZED && attempt == 0 {
                let err = problem(resp).await;
                let relogin = matches!(
                    &err,
                    ClientError::Relay(p) if matches!(p.error_code(), Some(ErrorCode::SessionExpired | ErrorCode::Unauthenticated | ErrorCode::TokenCertMismatch))
                );
                let can = self
                    .credentials
                    .lock()
                    .map(|c| c.is_some())
                    .unwrap_or(false);
                if relogin && can {
                    if let Ok(mut s) = self.session.lock() {
                        *s = None;
                    }
                    continue;
                }
                return Err(err);
            }
            return Ok(resp);
        }
        Err(ClientError::Protocol("login loop".into()))
    }

    async fn get_json<T: DeserializeOwned>(
        &self,
        path: &str,
        query: &(impl serde::Serialize + Sync),
    ) -> Result<T, ClientError> {
        let url = self.url(path);
        let resp = self
            .authed(|| self.http.request(Method::GET, &url).query(query))
            .await?;
        json_of(resp).await
    }

    /// Upload an envelope. `idempotency_key` makes a retry harmless.
    pub async fn send(
        &self,
        envelope: &[u8],
        idempotency_key: &str,
    ) -> Result<SendResponse, ClientError> {
        let digest = hex::encode(Sha256::digest(envelope));
        let url = self.url(routes::MESSAGES);
        let body = bytes::Bytes::copy_from_slice(envelope);
        let resp = self
            .authed(|| {
                self.http
                    .post(&url)
                    .header(HEADER_IDEMPOTENCY_KEY, idempotency_key)
                    .header(HEADER_SHA256, &digest)
                    .header(HEADER_LENGTH, envelope.len().to_string())
                    .header(reqwest::header::CONTENT_TYPE, "application/octet-stream")
                    .body(body.clone())
            })
            .await?;
        json_of(resp).await
    }

    /// One page of the inbox (messages addressed to this office), newest first.
    pub async fn inbox(&self, query: &ListQuery) -> Result<MessagePage, ClientError> {
        self.get_json(routes::INBOX, query).await
    }

    /// One page of the outbox (messages this office sent), newest first.
    pub async fn outbox(&self, query: &ListQuery) -> Result<MessagePage, ClientError> {
        self.get_json(routes::OUTBOX, query).await
    }

    /// A message and its receipt chain.
    pub async fn status(&self, id: MessageId) -> Result<MessageStatus, ClientError> {
        self.get_json(&format!("{}/{id}", routes::MESSAGES), &())
            .await
    }

    /// Download an envelope; the digest the relay announces is checked against the bytes.
    pub async fn download(&self, id: MessageId) -> Result<Vec<u8>, ClientError> {
        let url = self.url(&format!("{}/{id}/content", routes::MESSAGES));
        let resp = self.authed(|| self.http.get(&url)).await?;
        if !resp.status().is_success() {
            return Err(problem(resp).await);
        }
        let announced = resp
            .headers()
            .get(HEADER_SHA256)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let bytes = resp.bytes().await.map_err(transport)?.to_vec();
        if let Some(d) = announced {
            if !d.eq_ignore_ascii_case(&hex::encode(Sha256::digest(&bytes))) {
                return Err(ClientError::Tampered(
                    "ダウンロードしたデータのハッシュ値が一致しません / digest mismatch".into(),
                ));
            }
        }
        Ok(bytes)
    }

    /// Acknowledge a downloaded message as imported or rejected.
    pub async fn ack(&self, id: MessageId, ack: &AckRequest) -> Result<AckResponse, ClientError> {
        let url = self.url(&format!("{}/{id}/ack", routes::MESSAGES));
        let resp = self.authed(|| self.http.post(&url).json(ack)).await?;
        json_of(resp).await
    }

    /// Search the office directory.
    pub async fn directory(&self, query: &DirectoryQuery) -> Result<DirectoryPage, ClientError> {
        self.get_json(routes::DIRECTORY, query).await
    }

    /// One office of the directory (with the certificate to seal to).
    pub async fn office(&self, office: &OfficeNumber) -> Result<DirectoryEntry, ClientError> {
        self.get_json(&format!("{}/{office}", routes::DIRECTORY), &())
            .await
    }

    /// One certificate by serial, with its PEM (for messages signed before a renewal).
    pub async fn certificate(&self, serial: &str) -> Result<CertStatus, ClientError> {
        self.get_json(&format!("{}/{serial}", routes::CERTIFICATES), &())
            .await
    }

    /// Every revoked certificate.
    pub async fn revocations(&self) -> Result<RevocationList, ClientError> {
        self.get_json(routes::REVOCATIONS, &()).await
    }

    /// The office's audit trail.
    pub async fn audit(&self) -> Result<AuditExport, ClientError> {
        self.get_json(routes::AUDIT, &()).await
    }
}

/// [`ClientError::OwnCertificateExpired`] / [`ClientError::OwnCertificateNotYetValid`] when
/// `at` is outside `validity` (`(not_before, not_after)`, Unix ms).
pub(crate) fn own_certificate_valid_at(
    validity: Option<(i64, i64)>,
    at: i64,
) -> Result<(), ClientError> {
    match validity {
        Some((_, not_after)) if at > not_after => Err(ClientError::OwnCertificateExpired {
            not_after: crate::error::jst_date(not_after),
        }),
        Some((not_before, _)) if at < not_before => Err(ClientError::OwnCertificateNotYetValid {
            not_before: crate::error::jst_date(not_before),
        }),
        _ => Ok(()),
    }
}

async fn json_of<T: DeserializeOwned>(resp: Response) -> Result<T, ClientError> {
    if !resp.status().is_success() {
        return Err(problem(resp).await);
    }
    let bytes = resp.bytes().await.map_err(transport)?;
    serde_json::from_slice(&bytes).map_err(|e| ClientError::Protocol(format!("JSON: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn own_certificate_outside_its_validity_is_named_as_such() {
        let day = renkei_pki::DAY_MS;
        let validity = Some((10 * day, 20 * day));
        assert!(own_certificate_valid_at(validity, 15 * day).is_ok());
        assert!(own_certificate_valid_at(None, 0).is_ok());
        let expired = own_certificate_valid_at(validity, 21 * day).unwrap_err();
        assert!(
            matches!(expired, ClientError::OwnCertificateExpired { .. }),
            "{expired}"
        );
        let text = expired.to_string();
        assert!(
            text.contains("有効期限") && text.contains("1970年01月21日 09:00"),
            "{text}"
        );
        assert!(!expired.is_unreachable());
        let early = own_certificate_valid_at(validity, 9 * day).unwrap_err();
        assert!(early.to_string().contains("日付と時刻"), "{early}");
    }
}
