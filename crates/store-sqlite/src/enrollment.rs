//! The enrollment traits on SQLite.
//!
//! The SQL text is shared in spirit with the PostgreSQL backend (`$N` parameters work on both);
//! the differences are where SQLite's single writer makes a one-statement check-and-insert
//! atomic, while PostgreSQL needs a row lock.

use async_trait::async_trait;
use renkei_ids::{KjUserId, OfficeNumber, PersonalUserId, YearMonth};
use renkei_store::{
    CertProfile, CertRecord, DeviceBinding, EnrollmentStore, KjAccount, LicenseEntry, Millis,
    Notice, Office, OfficeListing, OfficeQuery, Operator, PersonalUser, PortalSession, StoreError,
    StoreResult, UsageApplication,
};
use sqlx::{FromRow, QueryBuilder, Sqlite};

use crate::columns::{corrupt, Columns};
use crate::reader::query_opt;
use crate::{map_err, SqliteStore};

mod ext;
mod lockout;

type Db = Sqlite;

#[derive(FromRow)]
struct OfficeRow {
    number: String,
    name: String,
    name_kana: String,
    kind: String,
    prefecture: i64,
    postal_code: String,
    address: String,
    phone: String,
    accepts: String,
    registered_at: i64,
}

impl OfficeRow {
    fn into_model(self) -> StoreResult<Office> {
        Ok(Office {
            number: self
                .number
                .parse()
                .map_err(|e| corrupt("offices.number", e))?,
            name: self.name,
            name_kana: self.name_kana,
            kind: self.kind.parse().map_err(|e| corrupt("offices.kind", e))?,
            prefecture: u8::try_from(self.prefecture)
                .map_err(|e| corrupt("offices.prefecture", e))?,
            postal_code: self.postal_code,
            address: self.address,
            phone: self.phone,
            accepts: serde_json::from_str(&self.accepts)
                .map_err(|e| corrupt("offices.accepts", e))?,
            registered_at: self.registered_at,
        })
    }
}

#[derive(FromRow)]
struct OfficeListingRow {
    #[sqlx(flatten)]
    office: OfficeRow,
    enrolled: bool,
}

#[derive(FromRow)]
struct KjRow {
    kj_id: String,
    office: String,
    password_hash: String,
    password_temporary: bool,
    issuance_password_hash: String,
    failed_logins: i64,
    locked_until: Option<i64>,
    created_at: i64,
}

impl KjRow {
    fn into_model(self) -> StoreResult<KjAccount> {
        Ok(KjAccount {
            kj_id: self
                .kj_id
                .parse()
                .map_err(|e| corrupt("kj_accounts.kj_id", e))?,
            office: self
                .office
                .parse()
                .map_err(|e| corrupt("kj_accounts.office", e))?,
            password_hash: self.password_hash,
            password_temporary: self.password_temporary,
            issuance_password_hash: self.issuance_password_hash,
            failed_logins: u32::try_from(self.failed_logins).unwrap_or(u32::MAX),
            locked_until: self.locked_until,
            created_at: self.created_at,
        })
    }
}

#[derive(FromRow)]
struct PersonalRow {
    user_id: String,
    office: String,
    display_name: String,
    password_hash: String,
    failed_logins: i64,
    locked_until: Option<i64>,
    disabled: bool,
    created_at: i64,
}

impl PersonalRow {
    fn into_model(self) -> StoreResult<PersonalUser> {
        Ok(PersonalUser {
            user_id: self
                .user_id
                .parse()
                .map_err(|e| corrupt("personal_users.user_id", e))?,
            office: self
                .office
                .parse()
                .map_err(|e| corrupt("personal_users.office", e))?,
            display_name: self.display_name,
            password_hash: self.password_hash,
            failed_logins: u32::try_from(self.failed_logins).unwrap_or(u32::MAX),
            locked_until: self.locked_until,
            disabled: self.disabled,
            created_at: self.created_at,
        })
    }
}

#[derive(FromRow)]
struct CertRow {
    serial: String,
    office: Option<String>,
    profile: String,
    spki_sha256: String,
    encryption_key: Option<Vec<u8>>,
    pem: String,
    not_before: i64,
    not_after: i64,
    issued_at: i64,
    revoked_at: Option<i64>,
    revocation_reason: Option<String>,
}

impl CertRow {
    /// The row read by a reader thread ([`crate::reader`]).
    fn from_columns(row: &impl Columns) -> StoreResult<Self> {
        Ok(Self {
            serial: row.text("serial")?,
            office: row.opt_text("office")?,
            profile: row.text("profile")?,
            spki_sha256: row.text("spki_sha256")?,
            encryption_key: row.opt_blob("encryption_key")?,
            pem: row.text("pem")?,
            not_before: row.int("not_before")?,
            not_after: row.int("not_after")?,
            issued_at: row.int("issued_at")?,
            revoked_at: row.opt_int("revoked_at")?,
            revocation_reason: row.opt_text("revocation_reason")?,
        })
    }

    fn into_model(self) -> StoreResult<CertRecord> {
        Ok(CertRecord {
            office: match self.office {
                Some(o) => Some(o.parse().map_err(|e| corrupt("certificates.office", e))?),
                None => None,
            },
            profile: CertProfile::parse(&self.profile)
                .ok_or_else(|| corrupt("certificates.profile", &self.profile))?,
            serial: self.serial,
            spki_sha256: self.spki_sha256,
            encryption_key: self.encryption_key,
            pem: self.pem,
            not_before: self.not_before,
            not_after: self.not_after,
            issued_at: self.issued_at,
            revoked_at: self.revoked_at,
            revocation_reason: self.revocation_reason,
        })
    }
}

#[derive(FromRow)]
struct DeviceRow {
    office: String,
    spki_sha256: String,
    cert_serial: String,
    label: String,
    bound_at: i64,
    released_at: Option<i64>,
}

impl DeviceRow {
    fn into_model(self) -> StoreResult<DeviceBinding> {
        Ok(DeviceBinding {
            office: self
                .office
                .parse()
                .map_err(|e| corrupt("device_bindings.office", e))?,
            spki_sha256: self.spki_sha256,
            cert_serial: self.cert_serial,
            label: self.label,
            bound_at: self.bound_at,
            released_at: self.released_at,
        })
    }
}

pub(crate) const OFFICE_COLS: &str =
    "number, name, name_kana, kind, prefecture, postal_code, address, phone, accepts, registered_at";
pub(crate) const KJ_COLS: &str =
    "kj_id, office, password_hash, password_temporary, issuance_password_hash, \
     failed_logins, locked_until, created_at";
pub(crate) const PERSONAL_COLS: &str =
    "user_id, office, display_name, password_hash, failed_logins, locked_until, disabled, created_at";
pub(crate) const CERT_COLS: &str =
    "serial, office, profile, spki_sha256, encryption_key, pem, not_before, \
     not_after, issued_at, revoked_at, revocation_reason";

/// Escape `%`, `_` and `\` for a `LIKE … ESCAPE '\'` pattern.
fn like_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    for c in s.chars() {
        if matches!(c, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

pub(crate) async fn insert_personal_user<'e, E>(exec: E, u: &PersonalUser) -> StoreResult<()>
where
    E: sqlx::Executor<'e, Database = Db>,
{
    sqlx::query(&format!(
        "INSERT INTO personal_users ({PERSONAL_COLS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"
    ))
    .bind(u.user_id.as_str())
    .bind(u.office.as_str())
    .bind(&u.display_name)
    .bind(&u.password_hash)
    .bind(i64::from(u.failed_logins))
    .bind(u.locked_until)
    .bind(u.disabled)
    .bind(u.created_at)
    .execute(exec)
    .await
    .map_err(map_err)?;
    Ok(())
}

pub(crate) async fn insert_certificate_row<'e, E>(exec: E, c: &CertRecord) -> StoreResult<()>
where
    E: sqlx::Executor<'e, Database = Db>,
{
    sqlx::query(&format!(
        "INSERT INTO certificates ({CERT_COLS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)"
    ))
    .bind(&c.serial)
    .bind(c.office.as_ref().map(|o| o.as_str()))
    .bind(c.profile.as_str())
    .bind(&c.spki_sha256)
    .bind(c.encryption_key.as_deref())
    .bind(&c.pem)
    .bind(c.not_before)
    .bind(c.not_after)
    .bind(c.issued_at)
    .bind(c.revoked_at)
    .bind(c.revocation_reason.as_deref())
    .execute(exec)
    .await
    .map_err(map_err)?;
    Ok(())
}

/// Bind a device inside an open transaction; see [`EnrollmentStore::bind_device`].
pub(crate) async fn bind_device_tx(
    tx: &mut sqlx::Transaction<'_, Db>,
    b: &DeviceBinding,
    max_devices: u32,
) -> StoreResult<()> {
    // Take the write lock first so that the count below cannot go stale (SQLite has one writer;
    // a deferred transaction that reads first could otherwise fail on upgrade).
    let touched = sqlx::query("UPDATE offices SET number = number WHERE number = $1")
        .bind(b.office.as_str())
        .execute(&mut **tx)
        .await
        .map_err(map_err)?;
    if touched.rows_affected() == 0 {
        return Err(StoreError::NotFound(format!("office {}", b.office)));
    }
    // The same device enrolling again (a renewed certificate) is not a second device.
    let same = sqlx::query(
        "UPDATE device_bindings SET cert_serial = $1, label = $2 \
         WHERE office = $3 AND spki_sha256 = $4 AND released_at IS NULL",
    )
    .bind(&b.cert_serial)
    .bind(&b.label)
    .bind(b.office.as_str())
    .bind(&b.spki_sha256)
    .execute(&mut **tx)
    .await
    .map_err(map_err)?;
    if same.rows_affected() > 0 {
        return Ok(());
    }
    let (active,): (i64,) = sqlx::query_as(
        "SELECT COUNT(*) FROM device_bindings WHERE office = $1 AND released_at IS NULL",
    )
    .bind(b.office.as_str())
    .fetch_one(&mut **tx)
    .await
    .map_err(map_err)?;
    if active >= i64::from(max_devices) {
        return Err(StoreError::Conflict(format!(
            "office {} already has {active} active device(s) (max {max_devices})",
            b.office
        )));
    }
    sqlx::query(
        "INSERT INTO device_bindings (office, spki_sha256, cert_serial, label, bound_at, released_at) \
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(b.office.as_str())
    .bind(&b.spki_sha256)
    .bind(&b.cert_serial)
    .bind(&b.label)
    .bind(b.bound_at)
    .bind(b.released_at)
    .execute(&mut **tx)
    .await
    .map_err(map_err)?;
    Ok(())
}

#[async_trait]
impl EnrollmentStore for SqliteStore {
    async fn register_office(&self, office: &Office, account: &KjAccount) -> StoreResult<()> {
        if account.office != office.number {
            return Err(StoreError::Conflict(format!(
                "KJ account {} names office {}, not {}",
                account.kj_id, account.office, office.number
            )));
        }
        let accepts =
            serde_json::to_string(&office.accepts).map_err(|e| corrupt("offices.accepts", e))?;
        let mut tx = self.pool.begin().await.map_err(map_err)?;
        sqlx::query(&format!(
            "INSERT INTO offices ({OFFICE_COLS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)"
        ))
        .bind(office.number.as_str())
        .bind(&office.name)
        .bind(&office.name_kana)
        .bind(office.kind.as_str())
        .bind(i64::from(office.prefecture))
        .bind(&office.postal_code)
        .bind(&office.address)
        .bind(&office.phone)
        .bind(accepts)
        .bind(office.registered_at)
        .execute(&mut *tx)
        .await
        .map_err(map_err)?;
        sqlx::query(&format!(
            "INSERT INTO kj_accounts ({KJ_COLS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"
        ))
        .bind(account.kj_id.as_str())
        .bind(account.office.as_str())
        .bind(&account.password_hash)
        .bind(account.password_temporary)
        .bind(&account.issuance_password_hash)
        .bind(i64::from(account.failed_logins))
        .bind(account.locked_until)
        .bind(account.created_at)
        .execute(&mut *tx)
        .await
        .map_err(map_err)?;
        tx.commit().await.map_err(map_err)
    }

    async fn office(&self, number: &OfficeNumber) -> StoreResult<Option<Office>> {
        sqlx::query_as::<_, OfficeRow>(&format!(
            "SELECT {OFFICE_COLS} FROM offices WHERE number = $1"
        ))
        .bind(number.as_str())
        .fetch_optional(&self.pool)
        .await
        .map_err(map_err)?
        .map(OfficeRow::into_model)
        .transpose()
    }

    async fn search_offices(&self, q: &OfficeQuery) -> StoreResult<Vec<OfficeListing>> {
        let now = renkei_store::now_millis();
        let mut qb: QueryBuilder<Db> = QueryBuilder::new(format!(
            "SELECT {OFFICE_COLS}, (EXISTS (SELECT 1 FROM certificates c WHERE c.office = o.number \
             AND c.profile IN ('careplan', 'kaigo') AND c.revoked_at IS NULL AND c.not_before <= "
        ));
        qb.push_bind(now);
        qb.push(" AND c.not_after > ");
        qb.push_bind(now);
        qb.push(") AND EXISTS (SELECT 1 FROM usage_applications a WHERE a.office = o.number)) AS enrolled ");
        qb.push("FROM offices o WHERE 1 = 1");
        if let Some(p) = &q.number_prefix {
            qb.push(" AND o.number LIKE ");
            qb.push_bind(format!("{}%", like_escape(p)));
            qb.push(" ESCAPE '\\'");
        }
        if let Some(n) = &q.name_contains {
            let pat = format!("%{}%", like_escape(n));
            qb.push(" AND (o.name LIKE ");
            qb.push_bind(pat.clone());
            qb.push(" ESCAPE '\\' OR o.name_kana LIKE ");
            qb.push_bind(pat);
            qb.push(" ESCAPE '\\')");
        }
        if let Some(p) = q.prefecture {
            qb.push(" AND o.prefecture = ");
            qb.push_bind(i64::from(p));
        }
        if let Some(k) = &q.kind {
            qb.push(" AND o.kind = ");
            qb.push_bind(k.as_str().to_owned());
        }
        // The same conditions as the `enrolled` column (a computed column cannot be filtered on
        // in WHERE portably).
        if q.enrolled_only {
            qb.push(
                " AND EXISTS (SELECT 1 FROM usage_applications a2 WHERE a2.office = o.number) \
                 AND EXISTS (SELECT 1 FROM certificates c2 WHERE c2.office = o.number \
                 AND c2.profile IN ('careplan', 'kaigo') AND c2.revoked_at IS NULL AND c2.not_before <= ",
            );
            qb.push_bind(now);
            qb.push(" AND c2.not_after > ");
            qb.push_bind(now);
            qb.push(")");
        }
        let limit = match q.limit {
            0 => 50,
            n => n.min(200),
        };
        qb.push(" ORDER BY o.number LIMIT ");
        qb.push_bind(i64::from(limit));
        qb.push(" OFFSET ");
        qb.push_bind(i64::from(q.offset));
        let rows: Vec<OfficeListingRow> = qb
            .build_query_as()
            .fetch_all(&self.pool)
            .await
            .map_err(map_err)?;
        rows.into_iter()
            .map(|r| {
                Ok(OfficeListing {
                    office: r.office.into_model()?,
                    enrolled: r.enrolled,
                })
            })
            .collect()
    }

    async fn kj_account(&self, kj_id: &KjUserId) -> StoreResult<Option<KjAccount>> {
        sqlx::query_as::<_, KjRow>(&format!(
            "SELECT {KJ_COLS} FROM kj_accounts WHERE kj_id = $1"
        ))
        .bind(kj_id.as_str())
        .fetch_optional(&self.pool)
        .await
        .map_err(map_err)?
        .map(KjRow::into_model)
        .transpose()
    }

    async fn kj_account_for_office(&self, office: &OfficeNumber) -> StoreResult<Option<KjAccount>> {
        sqlx::query_as::<_, KjRow>(&format!(
            "SELECT {KJ_COLS} FROM kj_accounts WHERE office = $1"
        ))
        .bind(office.as_str())
        .fetch_optional(&self.pool)
        .await
        .map_err(map_err)?
        .map(KjRow::into_model)
        .transpose()
    }

    async fn update_kj_account(&self, a: &KjAccount) -> StoreResult<()> {
        let r = sqlx::query(
            "UPDATE kj_accounts SET password_hash = $1, password_temporary = $2, issuance_password_hash = $3, \
             failed_logins = $4, locked_until = $5 WHERE kj_id = $6",
        )
        .bind(&a.password_hash)
        .bind(a.password_temporary)
        .bind(&a.issuance_password_hash)
        .bind(i64::from(a.failed_logins))
        .bind(a.locked_until)
        .bind(a.kj_id.as_str())
        .execute(&self.pool)
        .await
        .map_err(map_err)?;
        if r.rows_affected() == 0 {
            return Err(StoreError::NotFound(format!("KJ account {}", a.kj_id)));
        }
        Ok(())
    }

    async fn personal_user(&self, user_id: &PersonalUserId) -> StoreResult<Option<PersonalUser>> {
        sqlx::query_as::<_, PersonalRow>(&format!(
            "SELECT {PERSONAL_COLS} FROM personal_users WHERE user_id = $1"
        ))
        .bind(user_id.as_str())
        .fetch_optional(&self.pool)
        .await
        .map_err(map_err)?
        .map(PersonalRow::into_model)
        .transpose()
    }

    async fn personal_users_for_office(
        &self,
        office: &OfficeNumber,
    ) -> StoreResult<Vec<PersonalUser>> {
        sqlx::query_as::<_, PersonalRow>(&format!(
            "SELECT {PERSONAL_COLS} FROM personal_users WHERE office = $1 ORDER BY created_at, user_id"
        ))
        .bind(office.as_str())
        .fetch_all(&self.pool)
        .await
        .map_err(map_err)?
        .into_iter()
        .map(PersonalRow::into_model)
        .collect()
    }

    async fn update_personal_user(&self, u: &PersonalUser) -> StoreResult<()> {
        let r = sqlx::query(
            "UPDATE personal_users SET display_name = $1, password_hash = $2, failed_logins = $3, \
             locked_until = $4, disabled = $5 WHERE user_id = $6",
        )
        .bind(&u.display_name)
        .bind(&u.password_hash)
        .bind(i64::from(u.failed_logins))
        .bind(u.locked_until)
        .bind(u.disabled)
        .bind(u.user_id.as_str())
        .execute(&self.pool)
        .await
        .map_err(map_err)?;
        if r.rows_affected() == 0 {
            return Err(StoreError::NotFound(format!("personal user {}", u.user_id)));
        }
        Ok(())
    }

    async fn insert_certificate(&self, cert: &CertRecord) -> StoreResult<()> {
        insert_certificate_row(&self.pool, cert).await
    }

    async fn certificate(&self, serial: &str) -> StoreResult<Option<CertRecord>> {
        // Read twice by every send (recipient's and sender's certificate): a reader thread.
        let serial = serial.to_owned();
        self.readers
            .run(move |c| {
                let sql = format!("SELECT {CERT_COLS} FROM certificates WHERE serial = ?1");
                query_opt(c, &sql, [serial], |r| {
                    CertRow::from_columns(r)?.into_model()
                })
            })
            .await
    }

    async fn certificates_for_office(&self, office: &OfficeNumber) -> StoreResult<Vec<CertRecord>> {
        sqlx::query_as::<_, CertRow>(&format!(
            "SELECT {CERT_COLS} FROM certificates WHERE office = $1 ORDER BY issued_at DESC, serial DESC"
        ))
        .bind(office.as_str())
        .fetch_all(&self.pool)
        .await
        .map_err(map_err)?
        .into_iter()
        .map(CertRow::into_model)
        .collect()
    }

    async fn revoke_certificate(&self, serial: &str, at: Millis, reason: &str) -> StoreResult<()> {
        let r = sqlx::query(
            "UPDATE certificates SET revoked_at = $1, revocation_reason = $2 \
             WHERE serial = $3 AND revoked_at IS NULL",
        )
        .bind(at)
        .bind(reason)
        .bind(serial)
        .execute(&self.pool)
        .await
        .map_err(map_err)?;
        if r.rows_affected() == 0 && self.certificate(serial).await?.is_none() {
            return Err(StoreError::NotFound(format!("certificate {serial}")));
        }
        Ok(())
    }

    async fn revoked_certificates(&self) -> StoreResult<Vec<CertRecord>> {
        sqlx::query_as::<_, CertRow>(&format!(
            "SELECT {CERT_COLS} FROM certificates WHERE revoked_at IS NOT NULL ORDER BY revoked_at, serial"
        ))
        .fetch_all(&self.pool)
        .await
        .map_err(map_err)?
        .into_iter()
        .map(CertRow::into_model)
        .collect()
    }

    async fn active_devices(&self, office: &OfficeNumber) -> StoreResult<Vec<DeviceBinding>> {
        sqlx::query_as::<_, DeviceRow>(
            "SELECT office, spki_sha256, cert_serial, label, bound_at, released_at FROM device_bindings \
             WHERE office = $1 AND released_at IS NULL ORDER BY bound_at, id",
        )
        .bind(office.as_str())
        .fetch_all(&self.pool)
        .await
        .map_err(map_err)?
        .into_iter()
        .map(DeviceRow::into_model)
        .collect()
    }

    async fn bind_device(&self, binding: &DeviceBinding, max_devices: u32) -> StoreResult<()> {
        let mut tx = self.pool.begin().await.map_err(map_err)?;
        bind_device_tx(&mut tx, binding, max_devices).await?;
        tx.commit().await.map_err(map_err)
    }

    async fn release_devices(&self, office: &OfficeNumber, at: Millis) -> StoreResult<u32> {
        let r = sqlx::query(
            "UPDATE device_bindings SET released_at = $1 WHERE office = $2 AND released_at IS NULL",
        )
        .bind(at)
        .bind(office.as_str())
        .execute(&self.pool)
        .await
        .map_err(map_err)?;
        Ok(u32::try_from(r.rows_affected()).unwrap_or(u32::MAX))
    }

    async fn record_device_certificate(
        &self,
        cert: &CertRecord,
        binding: &DeviceBinding,
        max_devices: u32,
    ) -> StoreResult<()> {
        ext::record_device_certificate(&self.pool, cert, binding, max_devices).await
    }
    async fn change_device(&self, office: &OfficeNumber, at: Millis) -> StoreResult<Vec<String>> {
        ext::change_device(&self.pool, office, at).await
    }
    async fn insert_operator(&self, operator: &Operator) -> StoreResult<()> {
        ext::insert_operator(&self.pool, operator).await
    }
    async fn operator(&self, login: &str) -> StoreResult<Option<Operator>> {
        ext::operator(&self.pool, login).await
    }
    async fn update_operator(&self, operator: &Operator) -> StoreResult<()> {
        ext::update_operator(&self.pool, operator).await
    }
    async fn count_operators(&self) -> StoreResult<u64> {
        ext::count_operators(&self.pool).await
    }
    async fn record_kj_login_failure(
        &self,
        kj_id: &KjUserId,
        now: Millis,
        threshold: u32,
        lockout_ms: Millis,
    ) -> StoreResult<(u32, Option<Millis>)> {
        lockout::record_failure(
            &self.pool,
            &lockout::KJ_LOGIN,
            kj_id.as_str(),
            now,
            threshold,
            lockout_ms,
        )
        .await
    }
    async fn reset_kj_login_failures(&self, kj_id: &KjUserId) -> StoreResult<()> {
        lockout::reset(&self.pool, &lockout::KJ_LOGIN, kj_id.as_str()).await
    }
    async fn record_personal_user_login_failure(
        &self,
        user_id: &PersonalUserId,
        now: Millis,
        threshold: u32,
        lockout_ms: Millis,
    ) -> StoreResult<(u32, Option<Millis>)> {
        lockout::record_failure(
            &self.pool,
            &lockout::PERSONAL_LOGIN,
            user_id.as_str(),
            now,
            threshold,
            lockout_ms,
        )
        .await
    }
    async fn reset_personal_user_login_failures(
        &self,
        user_id: &PersonalUserId,
    ) -> StoreResult<()> {
        lockout::reset(&self.pool, &lockout::PERSONAL_LOGIN, user_id.as_str()).await
    }
    async fn record_operator_login_failure(
        &self,
        login: &str,
        now: Millis,
        threshold: u32,
        lockout_ms: Millis,
    ) -> StoreResult<(u32, Option<Millis>)> {
        lockout::record_failure(
            &self.pool,
            &lockout::OPERATOR_LOGIN,
            login,
            now,
            threshold,
            lockout_ms,
        )
        .await
    }
    async fn reset_operator_login_failures(&self, login: &str) -> StoreResult<()> {
        lockout::reset(&self.pool, &lockout::OPERATOR_LOGIN, login).await
    }
    async fn record_issuance_failure(
        &self,
        kj_id: &KjUserId,
        now: Millis,
        threshold: u32,
        lockout_ms: Millis,
    ) -> StoreResult<(u32, Option<Millis>)> {
        lockout::record_failure(
            &self.pool,
            &lockout::ISSUANCE,
            kj_id.as_str(),
            now,
            threshold,
            lockout_ms,
        )
        .await
    }
    async fn reset_issuance_failures(&self, kj_id: &KjUserId) -> StoreResult<()> {
        lockout::reset(&self.pool, &lockout::ISSUANCE, kj_id.as_str()).await
    }
    async fn complete_usage_application(
        &self,
        application: &UsageApplication,
        user: &PersonalUser,
        license: &LicenseEntry,
    ) -> StoreResult<()> {
        ext::complete_usage_application(&self.pool, application, user, license).await
    }
    async fn usage_applications_for_office(
        &self,
        office: &OfficeNumber,
    ) -> StoreResult<Vec<UsageApplication>> {
        ext::usage_applications_for_office(&self.pool, office).await
    }
    async fn insert_license(&self, entry: &LicenseEntry) -> StoreResult<()> {
        ext::insert_license(&self.pool, entry).await
    }
    async fn licenses_for_office(&self, office: &OfficeNumber) -> StoreResult<Vec<LicenseEntry>> {
        ext::licenses_for_office(&self.pool, office).await
    }
    async fn latest_licenses(&self) -> StoreResult<Vec<LicenseEntry>> {
        ext::latest_licenses(&self.pool).await
    }
    async fn licenses_for_claim_month(&self, month: YearMonth) -> StoreResult<Vec<LicenseEntry>> {
        ext::licenses_for_claim_month(&self.pool, month).await
    }
    async fn reissue_issuance_password(
        &self,
        kj_id: &KjUserId,
        new_hash: &str,
        notice: &Notice,
    ) -> StoreResult<()> {
        ext::reissue_issuance_password(&self.pool, kj_id, new_hash, notice).await
    }
    async fn insert_notice(&self, notice: &Notice) -> StoreResult<()> {
        ext::insert_notice(&self.pool, notice).await
    }
    async fn notices_for_office(&self, office: &OfficeNumber) -> StoreResult<Vec<Notice>> {
        ext::notices_for_office(&self.pool, office).await
    }
    async fn mark_notice_read(&self, id: &str, at: Millis) -> StoreResult<()> {
        ext::mark_notice_read(&self.pool, id, at).await
    }
    async fn insert_portal_session(&self, session: &PortalSession) -> StoreResult<()> {
        ext::insert_portal_session(&self.pool, session).await
    }
    async fn portal_session(
        &self,
        id_hash: &str,
        now: Millis,
    ) -> StoreResult<Option<PortalSession>> {
        ext::portal_session(&self.pool, id_hash, now).await
    }
    async fn delete_portal_session(&self, id_hash: &str) -> StoreResult<bool> {
        ext::delete_portal_session(&self.pool, id_hash).await
    }
    async fn purge_portal_sessions(&self, now: Millis) -> StoreResult<u64> {
        ext::purge_portal_sessions(&self.pool, now).await
    }
    async fn insert_csrf_token(
        &self,
        token_hash: &str,
        session: &str,
        at: Millis,
    ) -> StoreResult<()> {
        ext::insert_csrf_token(&self.pool, token_hash, session, at).await
    }
    async fn consume_csrf_token(
        &self,
        token_hash: &str,
        session: &str,
        at: Millis,
    ) -> StoreResult<bool> {
        ext::consume_csrf_token(&self.pool, token_hash, session, at).await
    }
}
