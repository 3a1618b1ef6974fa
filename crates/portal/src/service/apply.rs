//! 利用申請 (usage application), the license ledger, the charges export, and the client download.

use std::path::PathBuf;

use renkei_ids::{KjUserId, OfficeNumber, PersonalUserId, YearMonth};
use renkei_ledger::{charges_csv, tokyo_date, BillingMethod, ChargeRow, LicenseTerm};
use renkei_store::password::hash_password_async as hash_password;
use renkei_store::{LicenseEntry, Millis, PersonalUser, StoreError, UsageApplication};
use serde::{Deserialize, Serialize};

use super::PortalService;
use crate::secrets::{new_password, new_personal_id};
use crate::PortalError;

/// The usage-application form.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApplicationForm {
    /// 担当者名.
    pub contact_name: String,
    /// 担当者メールアドレス.
    pub contact_email: String,
    /// 担当者電話番号.
    pub contact_phone: String,
    /// Pay by invoice instead of deduction from the benefit.
    pub invoice: bool,
    /// 利用規約に同意する.
    pub agree_terms: bool,
    /// 個人情報の取扱いに同意する.
    pub agree_privacy: bool,
    /// 利用料金について確認した.
    pub confirm_fee: bool,
}

/// A completed application: what the completion page shows (the password only this once).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApplicationOutcome {
    /// The stored application.
    pub application: UsageApplication,
    /// The personal user ID (c + 10 digits).
    pub personal_user_id: PersonalUserId,
    /// Its initial password.
    pub personal_password: String,
    /// The license term written to the ledger.
    pub license: LicenseTerm,
}

/// A client build to download.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientBuild {
    /// Path on disk.
    pub path: PathBuf,
    /// File name offered to the browser.
    pub file_name: String,
}

fn email_ok(s: &str) -> bool {
    let Some((local, domain)) = s.split_once('@') else {
        return false;
    };
    !local.is_empty()
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && s.len() <= 254
        && !s.contains(char::is_whitespace)
}

impl ApplicationForm {
    fn validate(&self) -> Result<(), PortalError> {
        if self.contact_name.trim().is_empty() || self.contact_name.chars().count() > 60 {
            return Err(PortalError::invalid(
                "contact_name",
                "担当者名を60文字以内で入力してください",
                "enter the contact person's name",
            ));
        }
        if !email_ok(self.contact_email.trim()) {
            return Err(PortalError::invalid(
                "contact_email",
                "メールアドレスの形式が正しくありません",
                "invalid e-mail address",
            ));
        }
        let phone = self.contact_phone.trim();
        if phone.is_empty()
            || phone.len() > 20
            || !phone.bytes().all(|b| b.is_ascii_digit() || b == b'-')
        {
            return Err(PortalError::invalid(
                "contact_phone",
                "電話番号は半角数字とハイフンで入力してください",
                "phone: digits and hyphens",
            ));
        }
        if !self.agree_terms {
            return Err(PortalError::invalid(
                "agree_terms",
                "利用規約に同意してください",
                "accept the terms of use",
            ));
        }
        if !self.agree_privacy {
            return Err(PortalError::invalid(
                "agree_privacy",
                "個人情報の取扱いに同意してください",
                "accept the personal-information policy",
            ));
        }
        if !self.confirm_fee {
            return Err(PortalError::invalid(
                "confirm_fee",
                "利用料金の説明を確認してください",
                "confirm the fee message",
            ));
        }
        Ok(())
    }
}

fn to_entry(
    id: String,
    office: &OfficeNumber,
    kj_id: &KjUserId,
    t: &LicenseTerm,
    now: Millis,
) -> LicenseEntry {
    LicenseEntry {
        id,
        office: office.clone(),
        kj_id: kj_id.clone(),
        kind: t.kind.as_str().to_owned(),
        event_date: t.event_date,
        period_start: t.period_start,
        period_end: t.period_end,
        claim_month: t.claim_month,
        amount_yen: i64::from(t.amount_yen),
        billing: t.billing.as_str().to_owned(),
        reason: t.reason.clone(),
        campaign: t.campaign.clone(),
        auto_renew: t.auto_renew,
        created_at: now,
    }
}

fn tokyo_today(now: Millis) -> Result<time::Date, PortalError> {
    tokyo_date(now).ok_or_else(|| PortalError::Internal(format!("time {now} out of range")))
}

/// Normalise an organisation name for comparison: no surrounding or inner spaces (half- or
/// full-width), so "れんけい 居宅" and "れんけい　居宅" match "れんけい居宅".
fn normalise_name(s: &str) -> String {
    s.chars()
        .filter(|c| !c.is_whitespace() && *c != '\u{3000}')
        .collect()
}

impl PortalService {
    /// Whether the office may apply now: the top page shows "利用申請可能です" when this is `Ok(true)`.
    pub async fn can_apply(&self, office: &OfficeNumber, now: Millis) -> Result<bool, PortalError> {
        Ok(self.valid_certificate(office, now).await?.is_some()
            && self
                .store
                .usage_applications_for_office(office)
                .await?
                .is_empty())
    }

    /// The license term an application made now would start (for the fee message).
    pub fn quote(&self, invoice: bool, now: Millis) -> Result<LicenseTerm, PortalError> {
        let billing = if invoice {
            BillingMethod::Invoice
        } else {
            BillingMethod::Deduction
        };
        self.config
            .ledger
            .application(tokyo_today(now)?, billing)
            .map_err(|e| PortalError::Internal(e.to_string()))
    }

    /// Complete a 利用申請: needs a valid certificate; creates the personal user and the license
    /// term in one transaction.
    pub async fn apply(
        &self,
        kj_id: &KjUserId,
        form: &ApplicationForm,
        now: Millis,
    ) -> Result<ApplicationOutcome, PortalError> {
        let account = self.active_account(kj_id).await?;
        let result = self.apply_checked(&account, form, now).await;
        match &result {
            Ok(o) => {
                self.audit(
                    &account.office,
                    now,
                    "portal.usage_application",
                    kj_id.as_str(),
                    serde_json::json!({"application": o.application.id, "personal_user": o.personal_user_id,
                                       "claim_month": o.license.claim_month, "amount_yen": o.license.amount_yen}),
                )
                .await
            }
            Err(e) => self.refused(Some(&account.office), now, "portal.usage_application_refused", kj_id.as_str(), e).await,
        }
        result
    }

    async fn apply_checked(
        &self,
        account: &renkei_store::KjAccount,
        form: &ApplicationForm,
        now: Millis,
    ) -> Result<ApplicationOutcome, PortalError> {
        form.validate()?;
        let cert = self
            .valid_certificate(&account.office, now)
            .await?
            .ok_or(PortalError::NoValidCertificate)?;
        if !self
            .store
            .usage_applications_for_office(&account.office)
            .await?
            .is_empty()
        {
            return Err(PortalError::AlreadyApplied);
        }
        let term = self.quote(form.invoice, now)?;
        let password = new_password(12);
        for _ in 0..5 {
            let user_id = new_personal_id();
            let user = PersonalUser {
                user_id: user_id.clone(),
                office: account.office.clone(),
                display_name: form.contact_name.trim().to_owned(),
                password_hash: hash_password(&password).await,
                failed_logins: 0,
                locked_until: None,
                disabled: false,
                created_at: now,
            };
            let application = UsageApplication {
                id: uuid::Uuid::new_v4().to_string(),
                office: account.office.clone(),
                kj_id: account.kj_id.clone(),
                contact_name: form.contact_name.trim().to_owned(),
                contact_email: form.contact_email.trim().to_owned(),
                contact_phone: form.contact_phone.trim().to_owned(),
                billing: term.billing.as_str().to_owned(),
                cert_serial: cert.serial.clone(),
                personal_user: user_id.clone(),
                terms_accepted_at: now,
                privacy_accepted_at: now,
                fee_confirmed_at: now,
                completed_at: now,
            };
            let entry = to_entry(
                uuid::Uuid::new_v4().to_string(),
                &account.office,
                &account.kj_id,
                &term,
                now,
            );
            match self
                .store
                .complete_usage_application(&application, &user, &entry)
                .await
            {
                Ok(()) => {
                    return Ok(ApplicationOutcome {
                        application,
                        personal_user_id: user_id,
                        personal_password: password,
                        license: term,
                    })
                }
                Err(StoreError::Conflict(_)) => {
                    // Either the random c… ID was taken (retry) or a concurrent application won.
                    if !self
                        .store
                        .usage_applications_for_office(&account.office)
                        .await?
                        .is_empty()
                    {
                        return Err(PortalError::AlreadyApplied);
                    }
                }
                Err(e) => return Err(e.into()),
            }
        }
        Err(PortalError::Internal(
            "could not allocate a unique personal user ID".into(),
        ))
    }

    /// Write every automatic renewal due by `now` (Asia/Tokyo date). Safe to run on several nodes
    /// at once: a term is unique per office and start day. Returns the terms written.
    pub async fn run_renewals(&self, now: Millis) -> Result<Vec<LicenseEntry>, PortalError> {
        let today = tokyo_today(now)?;
        let mut written = Vec::new();
        for latest in self.store.latest_licenses().await? {
            let billing = BillingMethod::parse(&latest.billing).unwrap_or_default();
            let due = self
                .config
                .ledger
                .renewals_due(latest.period_start, latest.auto_renew, billing, today)
                .map_err(|e| PortalError::Internal(e.to_string()))?;
            for term in due {
                let entry = to_entry(
                    uuid::Uuid::new_v4().to_string(),
                    &latest.office,
                    &latest.kj_id,
                    &term,
                    now,
                );
                match self.store.insert_license(&entry).await {
                    Ok(()) => {
                        self.audit(&entry.office, now, "portal.license_renewed", "system", serde_json::json!({"period_start": renkei_ledger::format_date(term.period_start), "amount_yen": term.amount_yen})).await;
                        written.push(entry);
                    }
                    Err(StoreError::Conflict(_)) => {}
                    Err(e) => return Err(e.into()),
                }
            }
        }
        Ok(written)
    }

    /// The charges of a claim month as CSV (office number, KJ ID, amount, claim month, reason,
    /// billing).
    pub async fn charges_csv(&self, month: YearMonth) -> Result<String, PortalError> {
        let rows: Vec<ChargeRow> = self
            .store
            .licenses_for_claim_month(month)
            .await?
            .into_iter()
            .map(|l| ChargeRow {
                office: l.office,
                kj_id: l.kj_id,
                amount_yen: u32::try_from(l.amount_yen).unwrap_or(0),
                claim_month: l.claim_month,
                reason: l.reason,
                billing: BillingMethod::parse(&l.billing).unwrap_or_default(),
            })
            .collect();
        Ok(charges_csv(&rows))
    }

    /// Check the download gate (organisation name + office number against the registry) and pick
    /// the build for `os` (`windows`, `linux`, `macos`).
    pub async fn client_download(
        &self,
        organisation: &str,
        office: &str,
        os: &str,
        now: Millis,
    ) -> Result<ClientBuild, PortalError> {
        let number: OfficeNumber = office
            .trim()
            .parse()
            .map_err(|e: renkei_ids::IdError| PortalError::invalid("office_number", e.ja, e.en))?;
        let registered = self.store.office(&number).await?;
        let matches = registered.as_ref().is_some_and(|o| {
            normalise_name(&o.name) == normalise_name(organisation)
                && !organisation.trim().is_empty()
        });
        if !matches {
            let e = PortalError::RegistryMismatch;
            self.refused(
                registered.as_ref().map(|o| &o.number),
                now,
                "portal.download_refused",
                "anonymous",
                &e,
            )
            .await;
            return Err(e);
        }
        let os = match os {
            "windows" | "linux" | "macos" => os,
            _ => {
                return Err(PortalError::invalid(
                    "os",
                    "OSを選んでください",
                    "choose an operating system",
                ))
            }
        };
        let build = match &self.config.client_builds_dir {
            Some(dir) => {
                let sub = dir.join(os);
                let mut files: Vec<PathBuf> = std::fs::read_dir(&sub)
                    .map(|rd| {
                        rd.filter_map(|e| e.ok().map(|e| e.path()))
                            .filter(|p| p.is_file())
                            .collect()
                    })
                    .unwrap_or_default();
                files.sort();
                let path = files.pop().ok_or_else(|| {
                    PortalError::not_found(
                        format!("{os} 用のクライアントは準備中です"),
                        format!("no client build for {os}"),
                    )
                })?;
                let file_name = path
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_else(|| "renkei".into());
                ClientBuild { path, file_name }
            }
            None => {
                if os != std::env::consts::OS {
                    return Err(PortalError::not_found(
                        format!(
                            "このサーバには {os} 用のクライアントがありません（{} 用のみ）",
                            std::env::consts::OS
                        ),
                        format!("this server only has the {} client", std::env::consts::OS),
                    ));
                }
                let path =
                    std::env::current_exe().map_err(|e| PortalError::Internal(e.to_string()))?;
                let file_name = if os == "windows" {
                    "renkei.exe"
                } else {
                    "renkei"
                }
                .to_owned();
                ClientBuild { path, file_name }
            }
        };
        self.audit(
            &number,
            now,
            "portal.client_download",
            "anonymous",
            serde_json::json!({"os": os}),
        )
        .await;
        Ok(build)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn application_form_rules() {
        let ok = ApplicationForm {
            contact_name: "連携 花子".into(),
            contact_email: "hanako@example.jp".into(),
            contact_phone: "03-0000-0000".into(),
            invoice: false,
            agree_terms: true,
            agree_privacy: true,
            confirm_fee: true,
        };
        ok.validate().unwrap();
        let field_of = |f: ApplicationForm| match f.validate() {
            Err(PortalError::Invalid { field, .. }) => field,
            other => panic!("{other:?}"),
        };
        assert_eq!(
            field_of(ApplicationForm {
                agree_terms: false,
                ..ok.clone()
            }),
            "agree_terms"
        );
        assert_eq!(
            field_of(ApplicationForm {
                agree_privacy: false,
                ..ok.clone()
            }),
            "agree_privacy"
        );
        assert_eq!(
            field_of(ApplicationForm {
                confirm_fee: false,
                ..ok.clone()
            }),
            "confirm_fee"
        );
        assert_eq!(
            field_of(ApplicationForm {
                contact_email: "a@b".into(),
                ..ok.clone()
            }),
            "contact_email"
        );
        assert_eq!(
            field_of(ApplicationForm {
                contact_phone: "０３".into(),
                ..ok.clone()
            }),
            "contact_phone"
        );
        assert_eq!(
            field_of(ApplicationForm {
                contact_name: " ".into(),
                ..ok
            }),
            "contact_name"
        );
    }

    #[test]
    fn organisation_names_compare_without_spaces() {
        assert_eq!(
            normalise_name(" れんけい　居宅 "),
            normalise_name("れんけい居宅")
        );
        assert_ne!(
            normalise_name("れんけい居宅"),
            normalise_name("れんけい訪問")
        );
    }
}
