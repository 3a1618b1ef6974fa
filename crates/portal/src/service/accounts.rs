//! Operators, office registration (single and bulk CSV), password re-issue, KJ login with
//! lockout, and the forced change of a temporary password.

use renkei_ids::{KjUserId, OfficeNumber, ServiceKindCode};
use renkei_store::password::{
    hash_password_async as hash_password, verify_password_async as verify_password,
};
use renkei_store::{KjAccount, Millis, Office, Operator, StoreError};
use serde::{Deserialize, Serialize};

use super::PortalService;
use crate::secrets::{check_password_rules, new_kj_id, new_password};
use crate::PortalError;

/// What an operator enters to register an office.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewOffice {
    /// 介護保険事業所番号 (10 digits).
    pub number: String,
    /// 事業所名.
    pub name: String,
    /// 事業所名カナ.
    pub name_kana: String,
    /// サービス種類コード (43 居宅介護支援, 11 訪問介護, 15 通所介護 …).
    pub kind: String,
    /// 郵便番号.
    pub postal_code: String,
    /// 所在地.
    pub address: String,
    /// 電話番号.
    pub phone: String,
}

/// 電子請求登録結果に関するお知らせ: what the federation prints and sends to the office. The
/// passwords appear here once and are stored only as hashes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RegistrationNotice {
    /// Office.
    pub office: Office,
    /// 介護電子請求用ユーザID.
    pub kj_id: KjUserId,
    /// Temporary password (must be changed at first login).
    pub temporary_password: String,
    /// 証明書発行用パスワード (absent on a login-password re-issue).
    pub issuance_password: Option<String>,
    /// Issued at.
    pub issued_at: Millis,
    /// Registration or re-issue.
    pub reissue: bool,
}

/// Result of a bulk registration.
#[derive(Debug, Clone, Default)]
pub struct BulkResult {
    /// Notices of the offices registered.
    pub registered: Vec<RegistrationNotice>,
    /// `(line, message)` of lines refused.
    pub refused: Vec<(usize, String)>,
}

/// A successful KJ login.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoginOutcome {
    /// The account's KJ ID.
    pub kj_id: KjUserId,
    /// Its office.
    pub office: OfficeNumber,
    /// The temporary password must be changed before anything else.
    pub must_change_password: bool,
}

/// A successful operator login.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OperatorLogin {
    /// Login.
    pub login: String,
    /// Display name.
    pub display_name: String,
}

fn field(v: &str) -> &str {
    v.trim_matches(|c: char| c.is_whitespace() || c == '\u{3000}')
}

impl NewOffice {
    fn validate(&self, now: Millis) -> Result<Office, PortalError> {
        let number: OfficeNumber = field(&self.number)
            .parse()
            .map_err(|e: renkei_ids::IdError| PortalError::invalid("number", e.ja, e.en))?;
        let kind: ServiceKindCode = field(&self.kind)
            .parse()
            .map_err(|e: renkei_ids::IdError| PortalError::invalid("kind", e.ja, e.en))?;
        let name = field(&self.name);
        if name.is_empty() || name.chars().count() > 100 {
            return Err(PortalError::invalid(
                "name",
                "事業所名を100文字以内で入力してください",
                "enter the office name (up to 100 characters)",
            ));
        }
        let postal = field(&self.postal_code);
        let postal_ok = postal.is_empty()
            || (postal.len() == 8
                && postal.as_bytes()[3] == b'-'
                && postal
                    .bytes()
                    .enumerate()
                    .all(|(i, b)| i == 3 || b.is_ascii_digit()));
        if !postal_ok {
            return Err(PortalError::invalid(
                "postal_code",
                "郵便番号は「123-4567」の形で入力してください",
                "postal code is NNN-NNNN",
            ));
        }
        Ok(Office {
            prefecture: number.prefecture(),
            number,
            name: name.to_owned(),
            name_kana: field(&self.name_kana).to_owned(),
            kind,
            postal_code: postal.to_owned(),
            address: field(&self.address).to_owned(),
            phone: field(&self.phone).to_owned(),
            accepts: Vec::new(),
            registered_at: now,
        })
    }
}

/// The 1-based line of a byte offset (the csv crate's own line count skips blank lines).
fn line_at(text: &str, byte: u64) -> usize {
    let b = text.as_bytes();
    let mut end = usize::try_from(byte).unwrap_or(usize::MAX).min(b.len());
    // A record's position includes the blank lines skipped before it.
    while end < b.len() && (b[end] == b'\n' || b[end] == b'\r') {
        end += 1;
    }
    b[..end].iter().filter(|c| **c == b'\n').count() + 1
}

/// Parse one bulk CSV's rows: `事業所番号,事業所名,事業所名カナ,サービス種類コード,郵便番号,所在地,電話番号`;
/// a first line that does not start with a digit is a header. Returns `(line, row)`.
pub(crate) fn parse_bulk_csv(text: &str) -> Result<Vec<(usize, NewOffice)>, PortalError> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut rdr = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(text.as_bytes());
    let mut out = Vec::new();
    for (i, rec) in rdr.records().enumerate() {
        // csv skips blank lines: take the line number from the record's position.
        let rec = rec.map_err(|e| {
            let line = e.position().map_or(i + 1, |p| line_at(text, p.byte()));
            PortalError::invalid(
                "csv",
                format!("{line}行目を読み取れません（{e}）"),
                format!("line {line}: {e}"),
            )
        })?;
        let line = rec.position().map_or(i + 1, |p| line_at(text, p.byte()));
        let get = |n: usize| rec.get(n).unwrap_or("").to_owned();
        if line == 1 && !get(0).trim().starts_with(|c: char| c.is_ascii_digit()) {
            continue;
        }
        if rec.iter().all(|f| f.trim().is_empty()) {
            continue;
        }
        out.push((
            line,
            NewOffice {
                number: get(0),
                name: get(1),
                name_kana: get(2),
                kind: get(3),
                postal_code: get(4),
                address: get(5),
                phone: get(6),
            },
        ));
    }
    Ok(out)
}

impl PortalService {
    /// Create an operator (bootstrap, or by another operator).
    pub async fn create_operator(
        &self,
        login: &str,
        display_name: &str,
        password: &str,
        now: Millis,
    ) -> Result<(), PortalError> {
        let ok_login = !login.is_empty()
            && login.len() <= 64
            && login
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.');
        if !ok_login {
            return Err(PortalError::invalid(
                "login",
                "ログイン名は半角英数字と - _ . で64文字以内です",
                "a login is up to 64 of A-Z a-z 0-9 - _ .",
            ));
        }
        check_password_rules(password, login, false)?;
        let op = Operator {
            login: login.to_owned(),
            display_name: display_name.to_owned(),
            password_hash: hash_password(password).await,
            failed_logins: 0,
            locked_until: None,
            disabled: false,
            created_at: now,
        };
        self.store.insert_operator(&op).await.map_err(|e| match e {
            StoreError::Conflict(_) => {
                PortalError::invalid("login", "このログイン名は使われています", "login exists")
            }
            other => other.into(),
        })
    }

    /// Operator login with the same lockout rule as offices.
    pub async fn operator_login(
        &self,
        login: &str,
        password: &str,
        now: Millis,
    ) -> Result<OperatorLogin, PortalError> {
        let Some(op) = self.store.operator(login).await? else {
            // Hash anyway so that unknown logins take as long as wrong passwords.
            let _ = verify_password(password, "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHRzYWx0$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA").await;
            return Err(PortalError::BadCredentials);
        };
        if let Some(until) = op.locked_until.filter(|u| *u > now) {
            return Err(PortalError::Locked {
                minutes: minutes_left(until, now),
            });
        }
        // Count the attempt before checking it (one atomic statement), so that parallel guesses
        // cannot get more than `lockout_threshold` passwords checked; a success clears it again.
        let (attempt, locked_until) = self
            .store
            .record_operator_login_failure(
                &op.login,
                now,
                self.config.lockout_threshold,
                self.config.lockout_ms,
            )
            .await?;
        if attempt > self.config.lockout_threshold {
            return Err(PortalError::Locked {
                minutes: minutes_left(locked_until.unwrap_or(now + self.config.lockout_ms), now),
            });
        }
        if op.disabled || !verify_password(password, &op.password_hash).await {
            tracing::warn!(operator = %op.login, attempt, "operator login failed");
            return Err(PortalError::BadCredentials);
        }
        self.store.reset_operator_login_failures(&op.login).await?;
        Ok(OperatorLogin {
            login: op.login,
            display_name: op.display_name,
        })
    }

    /// Register an office: a new KJ ID, a temporary password and a 証明書発行用パスワード, returned
    /// once as the printable notice.
    pub async fn register_office(
        &self,
        operator: &str,
        input: &NewOffice,
        now: Millis,
    ) -> Result<RegistrationNotice, PortalError> {
        let office = match input.validate(now) {
            Ok(o) => o,
            Err(e) => {
                let known = field(&input.number).parse::<OfficeNumber>().ok();
                self.refused(known.as_ref(), now, "portal.register_refused", operator, &e)
                    .await;
                return Err(e);
            }
        };
        let temporary_password = new_password(12);
        let issuance_password = new_password(12);
        // A fresh random KJ ID collides with probability ~n/10^12; retry a few times.
        for _ in 0..5 {
            let account = KjAccount {
                kj_id: new_kj_id(),
                office: office.number.clone(),
                password_hash: hash_password(&temporary_password).await,
                password_temporary: true,
                issuance_password_hash: hash_password(&issuance_password).await,
                failed_logins: 0,
                locked_until: None,
                created_at: now,
            };
            match self.store.register_office(&office, &account).await {
                Ok(()) => {
                    self.audit(
                        &office.number,
                        now,
                        "portal.office_registered",
                        operator,
                        serde_json::json!({"kj_id": account.kj_id}),
                    )
                    .await;
                    return Ok(RegistrationNotice {
                        office,
                        kj_id: account.kj_id,
                        temporary_password,
                        issuance_password: Some(issuance_password),
                        issued_at: now,
                        reissue: false,
                    });
                }
                Err(StoreError::Conflict(_)) => {
                    if self.store.office(&office.number).await?.is_some() {
                        let e = PortalError::invalid(
                            "number",
                            format!("事業所番号 {} は登録済みです", office.number),
                            "office already registered",
                        );
                        self.refused(
                            Some(&office.number),
                            now,
                            "portal.register_refused",
                            operator,
                            &e,
                        )
                        .await;
                        return Err(e);
                    }
                }
                Err(e) => return Err(e.into()),
            }
        }
        Err(PortalError::Internal(
            "could not allocate a unique KJ ID".into(),
        ))
    }

    /// Register every row of a CSV. All rows are validated first; if any is invalid nothing is
    /// registered. Offices registered already are reported per line.
    pub async fn bulk_register(
        &self,
        operator: &str,
        csv_text: &str,
        now: Millis,
    ) -> Result<BulkResult, PortalError> {
        let rows = parse_bulk_csv(csv_text)?;
        let mut refused = Vec::new();
        for (line, row) in &rows {
            if let Err(e) = row.validate(now) {
                refused.push((*line, e.to_string()));
            }
        }
        if !refused.is_empty() {
            return Ok(BulkResult {
                registered: Vec::new(),
                refused,
            });
        }
        let mut result = BulkResult::default();
        for (line, row) in rows {
            match self.register_office(operator, &row, now).await {
                Ok(n) => result.registered.push(n),
                Err(e) => result.refused.push((line, e.public_message())),
            }
        }
        Ok(result)
    }

    /// Re-issue a lost login password (operator): a new temporary password, the lockout cleared,
    /// and a new notice.
    pub async fn reissue_password(
        &self,
        operator: &str,
        office: &OfficeNumber,
        now: Millis,
    ) -> Result<RegistrationNotice, PortalError> {
        let office_row = self.store.office(office).await?.ok_or_else(|| {
            PortalError::not_found(
                format!("事業所番号 {office} は登録されていません"),
                "office not registered",
            )
        })?;
        let mut account = self
            .store
            .kj_account_for_office(office)
            .await?
            .ok_or_else(|| {
                PortalError::not_found("この事業所のKJ IDがありません", "no KJ account")
            })?;
        let temporary_password = new_password(12);
        account.password_hash = hash_password(&temporary_password).await;
        account.password_temporary = true;
        account.failed_logins = 0;
        account.locked_until = None;
        self.store.update_kj_account(&account).await?;
        self.audit(
            office,
            now,
            "portal.password_reissued",
            operator,
            serde_json::json!({"kj_id": account.kj_id}),
        )
        .await;
        Ok(RegistrationNotice {
            office: office_row,
            kj_id: account.kj_id,
            temporary_password,
            issuance_password: None,
            issued_at: now,
            reissue: true,
        })
    }

    /// Parse a KJ ID typed by a user, with the clear shape error.
    pub fn parse_kj_id(input: &str) -> Result<KjUserId, PortalError> {
        field(input)
            .parse()
            .map_err(|e: renkei_ids::IdError| PortalError::invalid("kj_id", e.ja, e.en))
    }

    /// Check a KJ ID and password (login, and re-entry before opening a sealed notice), counting
    /// failures toward the lockout.
    pub(crate) async fn check_kj_password(
        &self,
        kj_id: &KjUserId,
        password: &str,
        now: Millis,
    ) -> Result<KjAccount, PortalError> {
        let Some(mut account) = self.store.kj_account(kj_id).await? else {
            let e = PortalError::BadCredentials;
            self.refused(None, now, "portal.login_failed", kj_id.as_str(), &e)
                .await;
            return Err(e);
        };
        let locked = |until: Option<Millis>| PortalError::Locked {
            minutes: minutes_left(until.unwrap_or(now + self.config.lockout_ms), now),
        };
        let mut refusal = account
            .locked_until
            .filter(|u| *u > now)
            .map(|u| locked(Some(u)));
        if refusal.is_none() {
            // Count the attempt before checking it (one atomic statement), so that parallel
            // guesses cannot get more than `lockout_threshold` passwords checked; a success
            // clears the count again.
            let (attempt, locked_until) = self
                .store
                .record_kj_login_failure(
                    kj_id,
                    now,
                    self.config.lockout_threshold,
                    self.config.lockout_ms,
                )
                .await?;
            if attempt > self.config.lockout_threshold {
                refusal = Some(locked(locked_until));
            } else if !verify_password(password, &account.password_hash).await {
                let e = PortalError::BadCredentials;
                self.refused(
                    Some(&account.office),
                    now,
                    if locked_until.is_some() {
                        "portal.login_lockout"
                    } else {
                        "portal.login_failed"
                    },
                    kj_id.as_str(),
                    &e,
                )
                .await;
                return Err(e);
            }
        }
        if let Some(e) = refusal {
            self.refused(
                Some(&account.office),
                now,
                "portal.login_locked",
                kj_id.as_str(),
                &e,
            )
            .await;
            return Err(e);
        }
        self.store.reset_kj_login_failures(kj_id).await?;
        account.failed_logins = 0;
        account.locked_until = None;
        Ok(account)
    }

    /// KJ login.
    pub async fn kj_login(
        &self,
        kj_id: &str,
        password: &str,
        now: Millis,
    ) -> Result<LoginOutcome, PortalError> {
        let kj_id = match Self::parse_kj_id(kj_id) {
            Ok(k) => k,
            Err(e) => {
                self.refused(None, now, "portal.login_refused", "anonymous", &e)
                    .await;
                return Err(e);
            }
        };
        let account = self.check_kj_password(&kj_id, password, now).await?;
        self.audit(
            &account.office,
            now,
            "portal.login",
            kj_id.as_str(),
            serde_json::json!({}),
        )
        .await;
        Ok(LoginOutcome {
            kj_id: account.kj_id,
            office: account.office,
            must_change_password: account.password_temporary,
        })
    }

    /// Change the KJ password (forced after a temporary one).
    pub async fn change_kj_password(
        &self,
        kj_id: &KjUserId,
        current: &str,
        new: &str,
        now: Millis,
    ) -> Result<(), PortalError> {
        let mut account = self.check_kj_password(kj_id, current, now).await?;
        let reuses_current = verify_password(new, &account.password_hash).await;
        if let Err(e) = check_password_rules(new, kj_id.as_str(), reuses_current) {
            self.refused(
                Some(&account.office),
                now,
                "portal.password_change_refused",
                kj_id.as_str(),
                &e,
            )
            .await;
            return Err(e);
        }
        account.password_hash = hash_password(new).await;
        account.password_temporary = false;
        self.store.update_kj_account(&account).await?;
        self.audit(
            &account.office,
            now,
            "portal.password_changed",
            kj_id.as_str(),
            serde_json::json!({}),
        )
        .await;
        Ok(())
    }

    /// An account that may act (exists, temporary password changed).
    pub(crate) async fn active_account(&self, kj_id: &KjUserId) -> Result<KjAccount, PortalError> {
        let account = self
            .store
            .kj_account(kj_id)
            .await?
            .ok_or_else(|| PortalError::not_found("KJ IDが見つかりません", "unknown KJ ID"))?;
        if account.password_temporary {
            return Err(PortalError::MustChangePassword);
        }
        Ok(account)
    }
}

/// Minutes left of a lock, rounded up (what the refusal message shows).
pub(crate) fn minutes_left(until: Millis, now: Millis) -> i64 {
    (until - now + 59_999) / 60_000
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bulk_csv_skips_header_and_blank_lines_and_keeps_line_numbers() {
        let csv = "\u{feff}事業所番号,事業所名,カナ,種類,郵便番号,所在地,電話\n\
                   1310100010,\"れんけい居宅, 本店\",レンケイ,43,100-0001,千代田区1-1,03-0000-0000\n\
                   \n\
                   2710100020,訪問介護なにわ,ナニワ,11,,,\n";
        let rows = parse_bulk_csv(csv).unwrap();
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0].0, 2);
        assert_eq!(rows[0].1.name, "れんけい居宅, 本店");
        assert_eq!(rows[1].0, 4);
        assert_eq!(rows[1].1.kind, "11");
    }

    #[test]
    fn office_validation() {
        let ok = NewOffice {
            number: " 1310100010 ".into(),
            name: "れんけい".into(),
            kind: "43".into(),
            ..Default::default()
        };
        let o = ok.validate(0).unwrap();
        assert_eq!(o.prefecture, 13);
        for (bad, field_name) in [
            (
                NewOffice {
                    number: "131010001".into(),
                    ..ok.clone()
                },
                "number",
            ),
            (
                NewOffice {
                    number: "9910100010".into(),
                    ..ok.clone()
                },
                "number",
            ),
            (
                NewOffice {
                    kind: "4".into(),
                    ..ok.clone()
                },
                "kind",
            ),
            (
                NewOffice {
                    name: "　".into(),
                    ..ok.clone()
                },
                "name",
            ),
            (
                NewOffice {
                    postal_code: "1000001".into(),
                    ..ok.clone()
                },
                "postal_code",
            ),
        ] {
            match bad.validate(0) {
                Err(PortalError::Invalid { field, .. }) => assert_eq!(field, field_name),
                other => panic!("{field_name}: {other:?}"),
            }
        }
    }
}
