//! Reading a result row by column name, the same way whichever driver produced it: sqlx's
//! [`SqliteRow`] for the pool's reads and rusqlite's [`rusqlite::Row`] for the writer's
//! ([`crate::writer`]), so that each record has one decoder.

use renkei_store::{StoreError, StoreResult};
use sqlx::sqlite::SqliteRow;
use sqlx::Row as _;

use crate::map_err;

/// The typed column getters the decoders need.
pub(crate) trait Columns {
    /// A `TEXT NOT NULL` column.
    fn text(&self, col: &str) -> StoreResult<String>;
    /// A nullable `TEXT` column.
    fn opt_text(&self, col: &str) -> StoreResult<Option<String>>;
    /// An `INTEGER NOT NULL` column.
    fn int(&self, col: &str) -> StoreResult<i64>;
    /// A nullable `INTEGER` column.
    fn opt_int(&self, col: &str) -> StoreResult<Option<i64>>;
    /// A nullable `BLOB` column.
    fn opt_blob(&self, col: &str) -> StoreResult<Option<Vec<u8>>>;

    /// A `TEXT` column parsed into a domain type.
    fn parsed<T: std::str::FromStr>(&self, col: &str) -> StoreResult<T>
    where
        T::Err: std::fmt::Display,
    {
        let s = self.text(col)?;
        s.parse().map_err(|e| corrupt(col, e))
    }
}

/// A stored value that does not decode.
pub(crate) fn corrupt(what: &str, e: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(format!("{what}: {e}"))
}

impl Columns for SqliteRow {
    fn text(&self, col: &str) -> StoreResult<String> {
        self.try_get(col).map_err(map_err)
    }
    fn opt_text(&self, col: &str) -> StoreResult<Option<String>> {
        self.try_get(col).map_err(map_err)
    }
    fn int(&self, col: &str) -> StoreResult<i64> {
        self.try_get(col).map_err(map_err)
    }
    fn opt_int(&self, col: &str) -> StoreResult<Option<i64>> {
        self.try_get(col).map_err(map_err)
    }
    fn opt_blob(&self, col: &str) -> StoreResult<Option<Vec<u8>>> {
        self.try_get(col).map_err(map_err)
    }
}

impl Columns for rusqlite::Row<'_> {
    fn text(&self, col: &str) -> StoreResult<String> {
        self.get(col).map_err(|e| corrupt(col, e))
    }
    fn opt_text(&self, col: &str) -> StoreResult<Option<String>> {
        self.get(col).map_err(|e| corrupt(col, e))
    }
    fn int(&self, col: &str) -> StoreResult<i64> {
        self.get(col).map_err(|e| corrupt(col, e))
    }
    fn opt_int(&self, col: &str) -> StoreResult<Option<i64>> {
        self.get(col).map_err(|e| corrupt(col, e))
    }
    fn opt_blob(&self, col: &str) -> StoreResult<Option<Vec<u8>>> {
        self.get(col).map_err(|e| corrupt(col, e))
    }
}
