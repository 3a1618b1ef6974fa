//! Enrollment: the device asks the portal for an office certificate. The keys were generated
//! on this device when the home was created; only the CSR, the X25519 public key and the proof
//! leave it.

use base64::Engine;
use renkei_ids::{KjUserId, OfficeNumber};
use renkei_pki::{CertType, OfficeCert};
use serde::{Deserialize, Serialize};

use crate::home::Home;
use crate::keystore::Keystore;
use crate::relay::{http_client, transport};
use crate::ClientError;

/// Path of the portal's enrollment endpoint.
pub const ENROLL_PATH: &str = "/enroll/certificate";

/// What the user enters to enroll (from the 電子請求登録結果に関するお知らせ).
#[derive(Clone)]
pub struct EnrollInput {
    /// 介護保険事業所番号.
    pub office: OfficeNumber,
    /// 介護電子請求用ユーザID.
    pub kj_id: KjUserId,
    /// 証明書発行用パスワード.
    pub issuance_password: String,
    /// Which certificate (the free `careplan` one is what care plan exchange needs).
    pub cert_type: CertType,
    /// Label shown in the portal's device list.
    pub device_label: String,
}

impl std::fmt::Debug for EnrollInput {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EnrollInput")
            .field("office", &self.office)
            .field("kj_id", &self.kj_id)
            .field("cert_type", &self.cert_type)
            .finish_non_exhaustive()
    }
}

#[derive(Serialize)]
struct EnrollBody<'a> {
    kj_id: &'a str,
    issuance_password: &'a str,
    cert_type: &'a str,
    csr_pem: &'a str,
    encryption_key: String,
    proof: String,
    device_label: &'a str,
}

#[derive(Deserialize)]
struct EnrollReply {
    certificate_pem: String,
    #[serde(default)]
    ca_certificate_pem: Option<String>,
    #[serde(default)]
    serial: Option<String>,
}

/// The portal's error body: `{code, message}` (message "日本語 / English"), or problem
/// details with separate texts.
#[derive(Deserialize)]
struct PortalError {
    #[serde(default)]
    code: Option<String>,
    #[serde(default)]
    message: Option<String>,
    #[serde(default)]
    message_ja: Option<String>,
    #[serde(default)]
    message_en: Option<String>,
    #[serde(default)]
    detail: Option<String>,
}

/// The result of a successful enrollment.
#[derive(Debug, Clone)]
pub struct Enrolled {
    /// The office.
    pub office: OfficeNumber,
    /// Certificate serial (hex).
    pub serial: String,
    /// Validity end (Unix ms).
    pub not_after: i64,
}

/// Enroll this device: send the request to the portal, check the certificate it returns
/// (issued by our CA, for our office, carrying our keys) and store it in the keystore.
pub async fn enroll(
    home: &Home,
    keystore: &mut Keystore,
    input: &EnrollInput,
) -> Result<Enrolled, ClientError> {
    if let (Some(office), Some(_)) = (keystore.office(), keystore.certificate_pem()) {
        return Err(ClientError::AlreadyEnrolled(office.to_string()));
    }
    request_certificate(home, keystore, input).await
}

/// Renew this device's certificate (before it expires, or after the portal revoked the old one
/// as `superseded`): the same device keys ask the portal for a new certificate with the
/// 証明書発行用パスワード. The previous certificate is kept in the keystore, so that messages
/// sealed for it still open.
pub async fn renew(
    home: &Home,
    keystore: &mut Keystore,
    kj_id: KjUserId,
    issuance_password: String,
    device_label: String,
) -> Result<Enrolled, ClientError> {
    let (office, pem) = match (keystore.office(), keystore.certificate_pem()) {
        (Some(o), Some(p)) => (o.clone(), p.to_owned()),
        _ => return Err(ClientError::NotEnrolled),
    };
    let current = OfficeCert::parse_pem(&pem)?;
    let input = EnrollInput {
        office,
        kj_id,
        issuance_password,
        cert_type: current.cert_type(),
        device_label,
    };
    request_certificate(home, keystore, &input).await
}

/// Ask the portal for a certificate of this device's keys, check it and store it.
async fn request_certificate(
    home: &Home,
    keystore: &mut Keystore,
    input: &EnrollInput,
) -> Result<Enrolled, ClientError> {
    let keys = keystore.device_keys();
    let req = keys.enrollment_request(&input.office, input.office.as_str())?;
    let b64 = base64::engine::general_purpose::STANDARD;
    let body = EnrollBody {
        kj_id: input.kj_id.as_str(),
        issuance_password: &input.issuance_password,
        cert_type: input.cert_type.as_str(),
        csr_pem: &req.csr_pem,
        encryption_key: b64.encode(req.encryption_key),
        proof: b64.encode(&req.proof),
        device_label: &input.device_label,
    };
    let http = http_client(home.ca_pem(), None)?;
    let url = format!("{}{ENROLL_PATH}", home.config().portal_url);
    let resp = http
        .post(&url)
        .json(&body)
        .send()
        .await
        .map_err(transport)?;
    let status = resp.status();
    let bytes = resp.bytes().await.map_err(transport)?;
    if !status.is_success() {
        return Err(portal_error(status.as_u16(), &bytes));
    }
    let reply: EnrollReply = serde_json::from_slice(&bytes)
        .map_err(|e| ClientError::Protocol(format!("portal reply: {e}")))?;
    if let Some(ca) = &reply.ca_certificate_pem {
        if ca.trim() != home.ca_pem().trim() {
            return Err(ClientError::Protocol(
                "ポータルの認証局証明書が設定と異なります / the portal's CA certificate differs from the configured one".into(),
            ));
        }
    }
    let cert = OfficeCert::parse_pem(&reply.certificate_pem)?;
    cert.verify(home.ca_pem(), renkei_pki::now_millis(), |_| false)?;
    cert.ensure_office(&input.office)?;
    if cert.signing_key() != &keys.signing_public_key()
        || cert.encryption_key() != &keys.encryption_public_key()
    {
        return Err(ClientError::Protocol(
            "発行された証明書がこの端末の鍵のものではありません / the issued certificate does not carry this device's keys".into(),
        ));
    }
    if let Some(serial) = &reply.serial {
        if !serial.eq_ignore_ascii_case(cert.serial_hex()) {
            return Err(ClientError::Protocol(format!(
                "serial mismatch {serial} / {}",
                cert.serial_hex()
            )));
        }
    }
    let enrolled = Enrolled {
        office: input.office.clone(),
        serial: cert.serial_hex().to_owned(),
        not_after: cert.not_after(),
    };
    keystore.set_certificate(input.office.clone(), reply.certificate_pem);
    keystore.save(&home.keystore_path())?;
    Ok(enrolled)
}

fn portal_error(status: u16, body: &[u8]) -> ClientError {
    let parsed: Option<PortalError> = serde_json::from_slice(body).ok();
    let code = parsed
        .as_ref()
        .and_then(|p| p.code.clone())
        .unwrap_or_default();
    let (mut ja, mut en) = match parsed {
        Some(p) => match (p.message_ja, p.message_en, p.message) {
            (Some(ja), en, _) => (ja, en.unwrap_or_default()),
            (None, _, Some(m)) => match m.split_once(" / ") {
                Some((ja, en)) => (ja.to_owned(), en.to_owned()),
                None => (m, String::new()),
            },
            (None, en, None) => (p.detail.unwrap_or_default(), en.unwrap_or_default()),
        },
        None => (
            String::new(),
            String::from_utf8_lossy(&body[..body.len().min(300)]).into_owned(),
        ),
    };
    let second_device = code == "device_limit" || (status == 409 && code.is_empty());
    if second_device && !ja.contains("端末変更") {
        ja = format!(
            "この事業所番号は別の端末で利用登録されています。ケアプランデータ連携は1事業所につき1台の端末で利用します。\
             この端末に切り替えるには、ポータルの「端末変更」で前の端末を解除してから、もう一度お試しください。{ja}"
        );
    }
    if second_device && en.is_empty() {
        en = "this office is already enrolled on another device; release it in the portal (端末変更) first".into();
    }
    if ja.is_empty() {
        ja = format!("ポータルが証明書の発行を拒否しました（HTTP {status}）");
    }
    ClientError::Portal { status, ja, en }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn second_device_message_is_clear() {
        let e = portal_error(
            409,
            br#"{"code":"device_limit","message_ja":"","message_en":"device limit reached"}"#,
        );
        let text = e.to_string();
        assert!(text.contains("別の端末で利用登録されています"), "{text}");
        assert!(text.contains("端末変更"));
        let e = portal_error(401, b"not json");
        assert!(e.to_string().contains("HTTP 401"));
    }
}
