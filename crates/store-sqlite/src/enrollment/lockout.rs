//! Atomic failure counters (login lockout and the issuance-password lockout).
//!
//! Each count is one `UPDATE … RETURNING` statement, so parallel failures never overwrite each
//! other (no read-modify-write in the application). The SQL is identical on both backends.

use renkei_store::{Millis, StoreError, StoreResult};

use super::Db;
use crate::map_err;

type Pool = sqlx::Pool<Db>;

/// A counter: the table, its key column and the two counter columns (static names only).
pub(crate) struct Counter {
    table: &'static str,
    key: &'static str,
    count: &'static str,
    until: &'static str,
}

pub(crate) const KJ_LOGIN: Counter = Counter {
    table: "kj_accounts",
    key: "kj_id",
    count: "failed_logins",
    until: "locked_until",
};
pub(crate) const PERSONAL_LOGIN: Counter = Counter {
    table: "personal_users",
    key: "user_id",
    count: "failed_logins",
    until: "locked_until",
};
pub(crate) const OPERATOR_LOGIN: Counter = Counter {
    table: "operators",
    key: "login",
    count: "failed_logins",
    until: "locked_until",
};
pub(crate) const ISSUANCE: Counter = Counter {
    table: "kj_accounts",
    key: "kj_id",
    count: "issuance_failures",
    until: "issuance_locked_until",
};

/// Count one failure: +1, or 1 when the previous lock has expired; lock at `threshold` unless a
/// lock is already in force (which is kept, not extended). Right-hand sides read the old row.
pub(crate) async fn record_failure(
    pool: &Pool,
    c: &Counter,
    key: &str,
    now: Millis,
    threshold: u32,
    lockout_ms: Millis,
) -> StoreResult<(u32, Option<Millis>)> {
    let Counter {
        table,
        key: key_col,
        count,
        until,
    } = c;
    let next =
        format!("(CASE WHEN {until} IS NOT NULL AND {until} <= $2 THEN 1 ELSE {count} + 1 END)");
    let sql = format!(
        "UPDATE {table} SET {count} = {next}, \
         {until} = CASE WHEN {until} IS NOT NULL AND {until} > $2 THEN {until} \
                        WHEN {next} >= $3 THEN $2 + $4 \
                        ELSE NULL END \
         WHERE {key_col} = $1 RETURNING {count}, {until}"
    );
    let row: Option<(i64, Option<i64>)> = sqlx::query_as(&sql)
        .bind(key)
        .bind(now)
        .bind(i64::from(threshold))
        .bind(lockout_ms)
        .fetch_optional(pool)
        .await
        .map_err(map_err)?;
    let (n, locked_until) =
        row.ok_or_else(|| StoreError::NotFound(format!("{table} row {key}")))?;
    Ok((u32::try_from(n).unwrap_or(u32::MAX), locked_until))
}

/// Clear a counter and its lock.
pub(crate) async fn reset(pool: &Pool, c: &Counter, key: &str) -> StoreResult<()> {
    let Counter {
        table,
        key: key_col,
        count,
        until,
    } = c;
    let sql = format!("UPDATE {table} SET {count} = 0, {until} = NULL WHERE {key_col} = $1");
    let r = sqlx::query(&sql)
        .bind(key)
        .execute(pool)
        .await
        .map_err(map_err)?;
    if r.rows_affected() == 0 {
        return Err(StoreError::NotFound(format!("{table} row {key}")));
    }
    Ok(())
}
