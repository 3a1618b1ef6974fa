//! The portal's side of the enrollment traits: operators, usage applications, the license
//! ledger, notices and portal sessions. Identical SQL on both backends (`$N` parameters); the
//! backend's `enrollment.rs` delegates here.

use renkei_ids::{KjUserId, OfficeNumber, YearMonth};
use renkei_store::{
    CertRecord, DeviceBinding, LicenseEntry, Millis, Notice, Operator, PersonalUser, PortalSession,
    StoreError, StoreResult, UsageApplication,
};
use sqlx::FromRow;

use super::{bind_device_tx, corrupt, insert_certificate_row, insert_personal_user, Db};
use crate::map_err;

type Pool = sqlx::Pool<Db>;

fn date_text(d: time::Date) -> String {
    format!("{:04}-{:02}-{:02}", d.year(), u8::from(d.month()), d.day())
}

fn parse_date(what: &str, s: &str) -> StoreResult<time::Date> {
    let bad = || corrupt(what, s);
    let b = s.as_bytes();
    if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
        return Err(bad());
    }
    let y: i32 = s[0..4].parse().map_err(|_| bad())?;
    let m: u8 = s[5..7].parse().map_err(|_| bad())?;
    let d: u8 = s[8..10].parse().map_err(|_| bad())?;
    let month = time::Month::try_from(m).map_err(|_| bad())?;
    time::Date::from_calendar_date(y, month, d).map_err(|_| bad())
}

pub(crate) async fn record_device_certificate(
    pool: &Pool,
    cert: &CertRecord,
    binding: &DeviceBinding,
    max_devices: u32,
) -> StoreResult<()> {
    let mut tx = pool.begin().await.map_err(map_err)?;
    // Bind first: it takes the office lock, and a refused binding leaves nothing behind.
    bind_device_tx(&mut tx, binding, max_devices).await?;
    insert_certificate_row(&mut *tx, cert).await?;
    tx.commit().await.map_err(map_err)
}

pub(crate) async fn change_device(
    pool: &Pool,
    office: &OfficeNumber,
    at: Millis,
) -> StoreResult<Vec<String>> {
    let mut tx = pool.begin().await.map_err(map_err)?;
    // Every unrevoked certificate of a released device's key is revoked, not only the one
    // the binding names last (a device that renewed holds older certificates of the same key).
    let spkis: Vec<(String,)> = sqlx::query_as(
        "UPDATE device_bindings SET released_at = $1 WHERE office = $2 AND released_at IS NULL RETURNING spki_sha256",
    )
    .bind(at)
    .bind(office.as_str())
    .fetch_all(&mut *tx)
    .await
    .map_err(map_err)?;
    let mut revoked = Vec::new();
    for (spki,) in spkis {
        let serials: Vec<(String,)> = sqlx::query_as(
            "UPDATE certificates SET revoked_at = $1, revocation_reason = 'superseded' \
             WHERE office = $2 AND spki_sha256 = $3 AND revoked_at IS NULL RETURNING serial",
        )
        .bind(at)
        .bind(office.as_str())
        .bind(&spki)
        .fetch_all(&mut *tx)
        .await
        .map_err(map_err)?;
        revoked.extend(serials.into_iter().map(|(s,)| s));
    }
    revoked.sort();
    tx.commit().await.map_err(map_err)?;
    Ok(revoked)
}

#[derive(FromRow)]
struct OperatorRow {
    login: String,
    display_name: String,
    password_hash: String,
    failed_logins: i64,
    locked_until: Option<i64>,
    disabled: bool,
    created_at: i64,
}

pub(crate) async fn insert_operator(pool: &Pool, o: &Operator) -> StoreResult<()> {
    sqlx::query(
        "INSERT INTO operators (login, display_name, password_hash, failed_logins, locked_until, disabled, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(&o.login)
    .bind(&o.display_name)
    .bind(&o.password_hash)
    .bind(i64::from(o.failed_logins))
    .bind(o.locked_until)
    .bind(o.disabled)
    .bind(o.created_at)
    .execute(pool)
    .await
    .map_err(map_err)?;
    Ok(())
}

pub(crate) async fn operator(pool: &Pool, login: &str) -> StoreResult<Option<Operator>> {
    let row: Option<OperatorRow> = sqlx::query_as(
        "SELECT login, display_name, password_hash, failed_logins, locked_until, disabled, created_at \
         FROM operators WHERE login = $1",
    )
    .bind(login)
    .fetch_optional(pool)
    .await
    .map_err(map_err)?;
    Ok(row.map(|r| Operator {
        login: r.login,
        display_name: r.display_name,
        password_hash: r.password_hash,
        failed_logins: u32::try_from(r.failed_logins).unwrap_or(u32::MAX),
        locked_until: r.locked_until,
        disabled: r.disabled,
        created_at: r.created_at,
    }))
}

pub(crate) async fn update_operator(pool: &Pool, o: &Operator) -> StoreResult<()> {
    let r = sqlx::query(
        "UPDATE operators SET display_name = $1, password_hash = $2, failed_logins = $3, locked_until = $4, \
         disabled = $5 WHERE login = $6",
    )
    .bind(&o.display_name)
    .bind(&o.password_hash)
    .bind(i64::from(o.failed_logins))
    .bind(o.locked_until)
    .bind(o.disabled)
    .bind(&o.login)
    .execute(pool)
    .await
    .map_err(map_err)?;
    if r.rows_affected() == 0 {
        return Err(StoreError::NotFound(format!("operator {}", o.login)));
    }
    Ok(())
}

pub(crate) async fn count_operators(pool: &Pool) -> StoreResult<u64> {
    let (n,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM operators")
        .fetch_one(pool)
        .await
        .map_err(map_err)?;
    Ok(u64::try_from(n).unwrap_or(0))
}

const APP_COLS: &str =
    "id, office, kj_id, contact_name, contact_email, contact_phone, billing, cert_serial, \
     personal_user, terms_accepted_at, privacy_accepted_at, fee_confirmed_at, completed_at";

#[derive(FromRow)]
struct AppRow {
    id: String,
    office: String,
    kj_id: String,
    contact_name: String,
    contact_email: String,
    contact_phone: String,
    billing: String,
    cert_serial: String,
    personal_user: String,
    terms_accepted_at: i64,
    privacy_accepted_at: i64,
    fee_confirmed_at: i64,
    completed_at: i64,
}

const LICENSE_COLS: &str =
    "id, office, kj_id, kind, event_date, period_start, period_end, claim_month, \
     amount_yen, billing, reason, campaign, auto_renew, created_at";

#[derive(FromRow)]
struct LicenseRow {
    id: String,
    office: String,
    kj_id: String,
    kind: String,
    event_date: String,
    period_start: String,
    period_end: String,
    claim_month: String,
    amount_yen: i64,
    billing: String,
    reason: String,
    campaign: Option<String>,
    auto_renew: bool,
    created_at: i64,
}

impl LicenseRow {
    fn into_model(self) -> StoreResult<LicenseEntry> {
        Ok(LicenseEntry {
            office: self
                .office
                .parse()
                .map_err(|e| corrupt("license_ledger.office", e))?,
            kj_id: self
                .kj_id
                .parse()
                .map_err(|e| corrupt("license_ledger.kj_id", e))?,
            event_date: parse_date("license_ledger.event_date", &self.event_date)?,
            period_start: parse_date("license_ledger.period_start", &self.period_start)?,
            period_end: parse_date("license_ledger.period_end", &self.period_end)?,
            claim_month: self
                .claim_month
                .parse()
                .map_err(|e| corrupt("license_ledger.claim_month", e))?,
            id: self.id,
            kind: self.kind,
            amount_yen: self.amount_yen,
            billing: self.billing,
            reason: self.reason,
            campaign: self.campaign,
            auto_renew: self.auto_renew,
            created_at: self.created_at,
        })
    }
}

async fn insert_license_row<'e, E>(exec: E, l: &LicenseEntry) -> StoreResult<()>
where
    E: sqlx::Executor<'e, Database = Db>,
{
    sqlx::query(&format!(
        "INSERT INTO license_ledger ({LICENSE_COLS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)"
    ))
    .bind(&l.id)
    .bind(l.office.as_str())
    .bind(l.kj_id.as_str())
    .bind(&l.kind)
    .bind(date_text(l.event_date))
    .bind(date_text(l.period_start))
    .bind(date_text(l.period_end))
    .bind(l.claim_month.to_string())
    .bind(l.amount_yen)
    .bind(&l.billing)
    .bind(&l.reason)
    .bind(l.campaign.as_deref())
    .bind(l.auto_renew)
    .bind(l.created_at)
    .execute(exec)
    .await
    .map_err(map_err)?;
    Ok(())
}

pub(crate) async fn complete_usage_application(
    pool: &Pool,
    a: &UsageApplication,
    user: &PersonalUser,
    license: &LicenseEntry,
) -> StoreResult<()> {
    if user.office != a.office || license.office != a.office || user.user_id != a.personal_user {
        return Err(StoreError::Conflict(
            "application, user and license name different offices or users".into(),
        ));
    }
    let mut tx = pool.begin().await.map_err(map_err)?;
    insert_personal_user(&mut *tx, user).await?;
    sqlx::query(&format!(
        "INSERT INTO usage_applications ({APP_COLS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)"
    ))
    .bind(&a.id)
    .bind(a.office.as_str())
    .bind(a.kj_id.as_str())
    .bind(&a.contact_name)
    .bind(&a.contact_email)
    .bind(&a.contact_phone)
    .bind(&a.billing)
    .bind(&a.cert_serial)
    .bind(a.personal_user.as_str())
    .bind(a.terms_accepted_at)
    .bind(a.privacy_accepted_at)
    .bind(a.fee_confirmed_at)
    .bind(a.completed_at)
    .execute(&mut *tx)
    .await
    .map_err(map_err)?;
    insert_license_row(&mut *tx, license).await?;
    tx.commit().await.map_err(map_err)
}

pub(crate) async fn usage_applications_for_office(
    pool: &Pool,
    office: &OfficeNumber,
) -> StoreResult<Vec<UsageApplication>> {
    let rows: Vec<AppRow> =
        sqlx::query_as(&format!("SELECT {APP_COLS} FROM usage_applications WHERE office = $1 ORDER BY completed_at DESC, id"))
            .bind(office.as_str())
            .fetch_all(pool)
            .await
            .map_err(map_err)?;
    rows.into_iter()
        .map(|r| {
            Ok(UsageApplication {
                office: r
                    .office
                    .parse()
                    .map_err(|e| corrupt("usage_applications.office", e))?,
                kj_id: r
                    .kj_id
                    .parse()
                    .map_err(|e| corrupt("usage_applications.kj_id", e))?,
                personal_user: r
                    .personal_user
                    .parse()
                    .map_err(|e| corrupt("usage_applications.personal_user", e))?,
                id: r.id,
                contact_name: r.contact_name,
                contact_email: r.contact_email,
                contact_phone: r.contact_phone,
                billing: r.billing,
                cert_serial: r.cert_serial,
                terms_accepted_at: r.terms_accepted_at,
                privacy_accepted_at: r.privacy_accepted_at,
                fee_confirmed_at: r.fee_confirmed_at,
                completed_at: r.completed_at,
            })
        })
        .collect()
}

pub(crate) async fn insert_license(pool: &Pool, l: &LicenseEntry) -> StoreResult<()> {
    insert_license_row(pool, l).await
}

async fn licenses_where(
    pool: &Pool,
    clause: &str,
    arg: Option<String>,
) -> StoreResult<Vec<LicenseEntry>> {
    let sql = format!("SELECT {LICENSE_COLS} FROM license_ledger l {clause}");
    let mut q = sqlx::query_as::<_, LicenseRow>(&sql);
    if let Some(a) = arg {
        q = q.bind(a);
    }
    q.fetch_all(pool)
        .await
        .map_err(map_err)?
        .into_iter()
        .map(LicenseRow::into_model)
        .collect()
}

pub(crate) async fn licenses_for_office(
    pool: &Pool,
    office: &OfficeNumber,
) -> StoreResult<Vec<LicenseEntry>> {
    licenses_where(
        pool,
        "WHERE office = $1 ORDER BY period_start",
        Some(office.to_string()),
    )
    .await
}

pub(crate) async fn latest_licenses(pool: &Pool) -> StoreResult<Vec<LicenseEntry>> {
    licenses_where(
        pool,
        "WHERE period_start = (SELECT MAX(m.period_start) FROM license_ledger m WHERE m.office = l.office) \
         ORDER BY office",
        None,
    )
    .await
}

pub(crate) async fn licenses_for_claim_month(
    pool: &Pool,
    month: YearMonth,
) -> StoreResult<Vec<LicenseEntry>> {
    licenses_where(
        pool,
        "WHERE claim_month = $1 ORDER BY office, period_start",
        Some(month.to_string()),
    )
    .await
}

async fn insert_notice_row<'e, E>(exec: E, n: &Notice) -> StoreResult<()>
where
    E: sqlx::Executor<'e, Database = Db>,
{
    sqlx::query("INSERT INTO notices (id, office, kind, sealed, body, created_at, read_at) VALUES ($1, $2, $3, $4, $5, $6, $7)")
        .bind(&n.id)
        .bind(n.office.as_str())
        .bind(&n.kind)
        .bind(n.sealed)
        .bind(n.body.as_slice())
        .bind(n.created_at)
        .bind(n.read_at)
        .execute(exec)
        .await
        .map_err(map_err)?;
    Ok(())
}

pub(crate) async fn reissue_issuance_password(
    pool: &Pool,
    kj_id: &KjUserId,
    new_hash: &str,
    n: &Notice,
) -> StoreResult<()> {
    let mut tx = pool.begin().await.map_err(map_err)?;
    let r = sqlx::query(
        "UPDATE kj_accounts SET issuance_password_hash = $1, issuance_failures = 0, \
         issuance_locked_until = NULL WHERE kj_id = $2 AND office = $3",
    )
    .bind(new_hash)
    .bind(kj_id.as_str())
    .bind(n.office.as_str())
    .execute(&mut *tx)
    .await
    .map_err(map_err)?;
    if r.rows_affected() == 0 {
        return Err(StoreError::NotFound(format!(
            "KJ account {kj_id} of office {}",
            n.office
        )));
    }
    insert_notice_row(&mut *tx, n).await?;
    tx.commit().await.map_err(map_err)
}

pub(crate) async fn insert_notice(pool: &Pool, n: &Notice) -> StoreResult<()> {
    insert_notice_row(pool, n).await
}

#[derive(FromRow)]
struct NoticeRow {
    id: String,
    office: String,
    kind: String,
    sealed: bool,
    body: Vec<u8>,
    created_at: i64,
    read_at: Option<i64>,
}

pub(crate) async fn notices_for_office(
    pool: &Pool,
    office: &OfficeNumber,
) -> StoreResult<Vec<Notice>> {
    let rows: Vec<NoticeRow> = sqlx::query_as(
        "SELECT id, office, kind, sealed, body, created_at, read_at FROM notices WHERE office = $1 \
         ORDER BY created_at DESC, id",
    )
    .bind(office.as_str())
    .fetch_all(pool)
    .await
    .map_err(map_err)?;
    rows.into_iter()
        .map(|r| {
            Ok(Notice {
                office: r.office.parse().map_err(|e| corrupt("notices.office", e))?,
                id: r.id,
                kind: r.kind,
                sealed: r.sealed,
                body: r.body,
                created_at: r.created_at,
                read_at: r.read_at,
            })
        })
        .collect()
}

pub(crate) async fn mark_notice_read(pool: &Pool, id: &str, at: Millis) -> StoreResult<()> {
    let r = sqlx::query("UPDATE notices SET read_at = COALESCE(read_at, $1) WHERE id = $2")
        .bind(at)
        .bind(id)
        .execute(pool)
        .await
        .map_err(map_err)?;
    if r.rows_affected() == 0 {
        return Err(StoreError::NotFound(format!("notice {id}")));
    }
    Ok(())
}

#[derive(FromRow)]
struct SessionRow {
    id_hash: String,
    role: String,
    subject: String,
    created_at: i64,
    expires_at: i64,
}

pub(crate) async fn insert_portal_session(pool: &Pool, s: &PortalSession) -> StoreResult<()> {
    sqlx::query("INSERT INTO portal_sessions (id_hash, role, subject, created_at, expires_at) VALUES ($1, $2, $3, $4, $5)")
        .bind(&s.id_hash)
        .bind(&s.role)
        .bind(&s.subject)
        .bind(s.created_at)
        .bind(s.expires_at)
        .execute(pool)
        .await
        .map_err(map_err)?;
    Ok(())
}

pub(crate) async fn portal_session(
    pool: &Pool,
    id_hash: &str,
    now: Millis,
) -> StoreResult<Option<PortalSession>> {
    let row: Option<SessionRow> = sqlx::query_as(
        "SELECT id_hash, role, subject, created_at, expires_at FROM portal_sessions WHERE id_hash = $1 AND expires_at > $2",
    )
    .bind(id_hash)
    .bind(now)
    .fetch_optional(pool)
    .await
    .map_err(map_err)?;
    Ok(row.map(|r| PortalSession {
        id_hash: r.id_hash,
        role: r.role,
        subject: r.subject,
        created_at: r.created_at,
        expires_at: r.expires_at,
    }))
}

pub(crate) async fn delete_portal_session(pool: &Pool, id_hash: &str) -> StoreResult<bool> {
    let mut tx = pool.begin().await.map_err(map_err)?;
    sqlx::query("DELETE FROM portal_csrf_tokens WHERE session = $1")
        .bind(id_hash)
        .execute(&mut *tx)
        .await
        .map_err(map_err)?;
    let r = sqlx::query("DELETE FROM portal_sessions WHERE id_hash = $1")
        .bind(id_hash)
        .execute(&mut *tx)
        .await
        .map_err(map_err)?;
    tx.commit().await.map_err(map_err)?;
    Ok(r.rows_affected() > 0)
}

pub(crate) async fn purge_portal_sessions(pool: &Pool, now: Millis) -> StoreResult<u64> {
    let mut tx = pool.begin().await.map_err(map_err)?;
    sqlx::query(
        "DELETE FROM portal_csrf_tokens WHERE session IN (SELECT id_hash FROM portal_sessions WHERE expires_at <= $1)",
    )
    .bind(now)
    .execute(&mut *tx)
    .await
    .map_err(map_err)?;
    let r = sqlx::query("DELETE FROM portal_sessions WHERE expires_at <= $1")
        .bind(now)
        .execute(&mut *tx)
        .await
        .map_err(map_err)?;
    tx.commit().await.map_err(map_err)?;
    Ok(r.rows_affected())
}

pub(crate) async fn insert_csrf_token(
    pool: &Pool,
    token_hash: &str,
    session: &str,
    at: Millis,
) -> StoreResult<()> {
    sqlx::query("INSERT INTO portal_csrf_tokens (token_hash, session, issued_at, used_at) VALUES ($1, $2, $3, NULL)")
        .bind(token_hash)
        .bind(session)
        .bind(at)
        .execute(pool)
        .await
        .map_err(map_err)?;
    Ok(())
}

pub(crate) async fn consume_csrf_token(
    pool: &Pool,
    token_hash: &str,
    session: &str,
    at: Millis,
) -> StoreResult<bool> {
    let r = sqlx::query(
        "UPDATE portal_csrf_tokens SET used_at = $1 WHERE token_hash = $2 AND session = $3 AND used_at IS NULL",
    )
    .bind(at)
    .bind(token_hash)
    .bind(session)
    .execute(pool)
    .await
    .map_err(map_err)?;
    Ok(r.rows_affected() == 1)
}
