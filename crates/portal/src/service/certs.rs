//! Office certificates: issuance from a device's enrollment request (gated by the 証明書発行用
//! パスワード and the device policy), status and renewal warnings, re-issue of the issuance
//! password as a sealed notice, revocation, 端末変更 and the CRL.

use base64::Engine;
use renkei_ids::{KjUserId, OfficeNumber};
use renkei_pki::{
    CertType, EnrollmentRequest, RevocationReason, RevokedEntry, DAY_MS, RENEWAL_WARNING_DAYS,
};
use renkei_store::password::{
    hash_password_async as hash_password, verify_password_async as verify_password,
};
use renkei_store::{CertProfile, CertRecord, DeviceBinding, Millis, Notice, StoreError};
use serde::{Deserialize, Serialize};

use super::accounts::minutes_left;
use super::PortalService;
use crate::secrets::{new_password, open_notice, seal_notice};
use crate::PortalError;

/// The JSON a client posts to `POST /enroll/certificate` (also accepted pasted into the portal's
/// certificate form).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EnrollRequestJson {
    /// 介護電子請求用ユーザID.
    pub kj_id: String,
    /// 証明書発行用パスワード.
    pub issuance_password: String,
    /// `careplan` (free) or `kaigo` (paid).
    pub cert_type: String,
    /// PKCS#10 CSR (PEM).
    pub csr_pem: String,
    /// X25519 public key, base64.
    pub encryption_key: String,
    /// Ed25519 proof, base64.
    pub proof: String,
    /// Device label (host name).
    #[serde(default)]
    pub device_label: String,
}

/// What the client receives.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IssuedCertificate {
    /// The office certificate.
    pub certificate_pem: String,
    /// The CA certificate.
    pub ca_certificate_pem: String,
    /// Serial, lower-case hex.
    pub serial: String,
}

/// A certificate as the portal shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertStatus {
    /// The record.
    pub record: CertRecord,
    /// Unrevoked and inside its validity.
    pub valid: bool,
    /// Days until expiry (negative when expired).
    pub days_left: i64,
    /// The renewal warning threshold reached (60, 30 or 7), if any.
    pub warning: Option<i64>,
}

/// The renewal warning for a certificate expiring at `not_after`: the smallest of 60/30/7 days
/// that the remaining time is within, or `None` (more than 60 days left, or expired).
pub fn renewal_warning(not_after: Millis, now: Millis) -> Option<i64> {
    if now >= not_after {
        return None;
    }
    let left = not_after - now;
    RENEWAL_WARNING_DAYS
        .iter()
        .rev()
        .copied()
        .find(|d| left <= d * DAY_MS)
}

fn profile_of(t: CertType) -> CertProfile {
    match t {
        CertType::Careplan => CertProfile::Careplan,
        CertType::Kaigo => CertProfile::Kaigo,
    }
}

fn b64(field: &'static str, s: &str) -> Result<Vec<u8>, PortalError> {
    base64::engine::general_purpose::STANDARD
        .decode(s.trim())
        .map_err(|_| {
            PortalError::invalid(
                field,
                format!("{field} はbase64で指定してください"),
                format!("{field} must be base64"),
            )
        })
}

fn revocation_reason(name: &str) -> RevocationReason {
    match name {
        "keyCompromise" => RevocationReason::KeyCompromise,
        "affiliationChanged" => RevocationReason::AffiliationChanged,
        "superseded" => RevocationReason::Superseded,
        "cessationOfOperation" => RevocationReason::CessationOfOperation,
        _ => RevocationReason::Unspecified,
    }
}

impl PortalService {
    /// Issue an office certificate to a device. Refusals (wrong password, CSR for another office,
    /// a second device) are audited; nothing is stored unless everything succeeds.
    pub async fn issue_certificate(
        &self,
        req: &EnrollRequestJson,
        now: Millis,
    ) -> Result<IssuedCertificate, PortalError> {
        let kj_id = Self::parse_kj_id(&req.kj_id)?;
        let cert_type: CertType = req.cert_type.trim().parse().map_err(|_| {
            PortalError::invalid(
                "cert_type",
                "証明書の種類は careplan か kaigo です",
                "cert_type is careplan or kaigo",
            )
        })?;
        let account = self.active_account(&kj_id).await?;
        let office_no = account.office.clone();
        let result = self.issue_checked(&account, cert_type, req, now).await;
        match &result {
            Ok(c) => {
                self.audit(
                    &office_no,
                    now,
                    "portal.certificate_issued",
                    kj_id.as_str(),
                    serde_json::json!({"serial": c.serial, "cert_type": cert_type.as_str(), "device": req.device_label}),
                )
                .await
            }
            Err(e) => self.refused(Some(&office_no), now, "portal.certificate_refused", kj_id.as_str(), e).await,
        }
        result
    }

    async fn issue_checked(
        &self,
        account: &renkei_store::KjAccount,
        cert_type: CertType,
        req: &EnrollRequestJson,
        now: Millis,
    ) -> Result<IssuedCertificate, PortalError> {
        // Wrong 証明書発行用パスワード count on the issuance counter, never on the login counter
        // (this endpoint needs no login, so anyone knowing a KJ ID could otherwise lock the
        // office's login). The attempt is counted before it is checked, in one atomic statement,
        // so parallel guesses cannot get more than `lockout_threshold` passwords checked.
        let (attempt, locked_until) = self
            .store
            .record_issuance_failure(
                &account.kj_id,
                now,
                self.config.lockout_threshold,
                self.config.lockout_ms,
            )
            .await?;
        if attempt > self.config.lockout_threshold {
            return Err(PortalError::IssuanceLocked {
                minutes: minutes_left(locked_until.unwrap_or(now + self.config.lockout_ms), now),
            });
        }
        if !verify_password(
            req.issuance_password.trim(),
            &account.issuance_password_hash,
        )
        .await
        {
            if locked_until.is_some() {
                self.audit(
                    &account.office,
                    now,
                    "portal.issuance_lockout",
                    account.kj_id.as_str(),
                    serde_json::json!({"failures": attempt}),
                )
                .await;
            }
            return Err(PortalError::BadIssuancePassword);
        }
        self.store.reset_issuance_failures(&account.kj_id).await?;
        let office = self.store.office(&account.office).await?.ok_or_else(|| {
            PortalError::not_found("事業所が登録されていません", "office not registered")
        })?;
        let key = b64("encryption_key", &req.encryption_key)?;
        let encryption_key: [u8; 32] = key.as_slice().try_into().map_err(|_| {
            PortalError::invalid(
                "encryption_key",
                "暗号化鍵は32バイトです",
                "the X25519 key is 32 bytes",
            )
        })?;
        let request = EnrollmentRequest {
            csr_pem: req.csr_pem.clone(),
            encryption_key,
            proof: b64("proof", &req.proof)?,
        };
        // Refuse a second device before signing anything.
        let active = self.store.active_devices(&office.number).await?;
        let label = if req.device_label.trim().is_empty() {
            "(名前なし)".to_owned()
        } else {
            req.device_label.trim().chars().take(100).collect()
        };
        let (not_before, not_after) = cert_type.default_validity(now);
        let issued = self.ca.issue_office_cert(
            &request,
            &office.number,
            &office.name,
            cert_type,
            not_before,
            not_after,
        )?;
        let same_device = active
            .iter()
            .any(|d| d.spki_sha256 == issued.spki_sha256_hex);
        if !same_device && active.len() >= self.config.max_devices as usize {
            return Err(PortalError::DeviceLimit {
                label: active.first().map(|d| d.label.clone()).unwrap_or_default(),
            });
        }
        let record = CertRecord {
            serial: issued.serial_hex.clone(),
            office: Some(office.number.clone()),
            profile: profile_of(cert_type),
            spki_sha256: issued.spki_sha256_hex.clone(),
            encryption_key: Some(encryption_key.to_vec()),
            pem: issued.pem.clone(),
            not_before: issued.not_before,
            not_after: issued.not_after,
            issued_at: now,
            revoked_at: None,
            revocation_reason: None,
        };
        let binding = DeviceBinding {
            office: office.number.clone(),
            spki_sha256: issued.spki_sha256_hex.clone(),
            cert_serial: issued.serial_hex.clone(),
            label,
            bound_at: now,
            released_at: None,
        };
        match self
            .store
            .record_device_certificate(&record, &binding, self.config.max_devices)
            .await
        {
            Ok(()) => {}
            Err(StoreError::Conflict(_)) => {
                let active = self.store.active_devices(&office.number).await?;
                return Err(PortalError::DeviceLimit {
                    label: active.first().map(|d| d.label.clone()).unwrap_or_default(),
                });
            }
            Err(e) => return Err(e.into()),
        }
        Ok(IssuedCertificate {
            certificate_pem: issued.pem,
            ca_certificate_pem: self.ca.ca_cert_pem().to_owned(),
            serial: issued.serial_hex,
        })
    }

    /// An office's certificates with validity and warnings, newest first.
    pub async fn certificate_status(
        &self,
        office: &OfficeNumber,
        now: Millis,
    ) -> Result<Vec<CertStatus>, PortalError> {
        Ok(self
            .store
            .certificates_for_office(office)
            .await?
            .into_iter()
            .map(|record| {
                let valid = record.revoked_at.is_none()
                    && record.not_before <= now
                    && now < record.not_after;
                CertStatus {
                    days_left: (record.not_after - now).div_euclid(DAY_MS),
                    warning: if valid {
                        renewal_warning(record.not_after, now)
                    } else {
                        None
                    },
                    valid,
                    record,
                }
            })
            .collect())
    }

    /// The office's valid office certificate (newest), if any: the condition of 利用申請.
    pub async fn valid_certificate(
        &self,
        office: &OfficeNumber,
        now: Millis,
    ) -> Result<Option<CertRecord>, PortalError> {
        Ok(self
            .certificate_status(office, now)
            .await?
            .into_iter()
            .find(|s| {
                s.valid && matches!(s.record.profile, CertProfile::Careplan | CertProfile::Kaigo)
            })
            .map(|s| s.record))
    }

    /// Re-issue the 証明書発行用パスワード after the office re-enters its KJ password; the new one
    /// is delivered as a notice sealed with that password. Returns the notice id.
    pub async fn reissue_issuance_password(
        &self,
        kj_id: &KjUserId,
        kj_password: &str,
        now: Millis,
    ) -> Result<String, PortalError> {
        let account = self.check_kj_password(kj_id, kj_password, now).await?;
        if account.password_temporary {
            return Err(PortalError::MustChangePassword);
        }
        let new = new_password(12);
        let body = format!("証明書発行用パスワード: {new}");
        let notice = Notice {
            id: uuid::Uuid::new_v4().to_string(),
            office: account.office.clone(),
            kind: "issuance_password".into(),
            sealed: true,
            body: seal_notice(kj_password, &body)?,
            created_at: now,
            read_at: None,
        };
        self.store
            .reissue_issuance_password(kj_id, &hash_password(&new).await, &notice)
            .await?;
        self.audit(
            &account.office,
            now,
            "portal.issuance_password_reissued",
            kj_id.as_str(),
            serde_json::json!({"notice": notice.id}),
        )
        .await;
        Ok(notice.id)
    }

    /// Open a sealed notice of the office with the office's KJ password (re-entered).
    pub async fn open_notice(
        &self,
        kj_id: &KjUserId,
        kj_password: &str,
        notice_id: &str,
        now: Millis,
    ) -> Result<String, PortalError> {
        let account = self.check_kj_password(kj_id, kj_password, now).await?;
        let notice = self
            .store
            .notices_for_office(&account.office)
            .await?
            .into_iter()
            .find(|n| n.id == notice_id)
            .ok_or_else(|| {
                PortalError::not_found("お知らせが見つかりません", "notice not found")
            })?;
        let text = if notice.sealed {
            open_notice(kj_password, &notice.body).ok_or_else(|| {
                PortalError::invalid(
                    "password",
                    "このお知らせは発行時のパスワードで保護されています。パスワードを変更した場合は、もう一度再発行してください",
                    "the notice is sealed with the password current at issue; re-issue it",
                )
            })?
        } else {
            String::from_utf8_lossy(&notice.body).into_owned()
        };
        self.store.mark_notice_read(&notice.id, now).await?;
        Ok(text)
    }

    /// Revoke a certificate (operator, or the office for its own certificate).
    pub async fn revoke_certificate(
        &self,
        actor: &str,
        serial: &str,
        reason: &str,
        now: Millis,
    ) -> Result<(), PortalError> {
        let cert = self
            .store
            .certificate(serial.trim())
            .await?
            .ok_or_else(|| {
                PortalError::not_found(
                    format!("シリアル {serial} の証明書はありません"),
                    "no such certificate",
                )
            })?;
        self.store
            .revoke_certificate(&cert.serial, now, reason)
            .await?;
        if let Some(office) = &cert.office {
            self.audit(
                office,
                now,
                "portal.certificate_revoked",
                actor,
                serde_json::json!({"serial": cert.serial, "reason": reason}),
            )
            .await;
        }
        Ok(())
    }

    /// 端末変更: release the office's device(s) and revoke their certificates, so that a new PC can
    /// enroll. Returns the revoked serials.
    pub async fn change_device(
        &self,
        actor: &str,
        office: &OfficeNumber,
        now: Millis,
    ) -> Result<Vec<String>, PortalError> {
        let revoked = self.store.change_device(office, now).await?;
        self.audit(
            office,
            now,
            "portal.device_released",
            actor,
            serde_json::json!({"revoked": revoked}),
        )
        .await;
        Ok(revoked)
    }

    /// The current CRL (PEM), signed now.
    pub async fn crl_pem(&self) -> Result<String, PortalError> {
        let revoked: Vec<RevokedEntry> = self
            .store
            .revoked_certificates()
            .await?
            .into_iter()
            .filter_map(|c| {
                Some(RevokedEntry {
                    serial_hex: c.serial,
                    revoked_at: c.revoked_at?,
                    reason: revocation_reason(c.revocation_reason.as_deref().unwrap_or("")),
                })
            })
            .collect();
        Ok(self.ca.sign_crl(&revoked)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renewal_warnings_at_60_30_7_days() {
        let now = 1_000 * DAY_MS;
        assert_eq!(renewal_warning(now + 61 * DAY_MS, now), None);
        assert_eq!(renewal_warning(now + 60 * DAY_MS, now), Some(60));
        assert_eq!(renewal_warning(now + 31 * DAY_MS, now), Some(60));
        assert_eq!(renewal_warning(now + 30 * DAY_MS, now), Some(30));
        assert_eq!(renewal_warning(now + 8 * DAY_MS, now), Some(30));
        assert_eq!(renewal_warning(now + 7 * DAY_MS, now), Some(7));
        assert_eq!(renewal_warning(now + 1, now), Some(7));
        assert_eq!(
            renewal_warning(now, now),
            None,
            "expired: no warning, the certificate is invalid"
        );
    }

    #[test]
    fn revocation_reason_names() {
        assert_eq!(
            revocation_reason("superseded"),
            RevocationReason::Superseded
        );
        assert_eq!(
            revocation_reason("keyCompromise"),
            RevocationReason::KeyCompromise
        );
        assert_eq!(revocation_reason("whatever"), RevocationReason::Unspecified);
    }
}
