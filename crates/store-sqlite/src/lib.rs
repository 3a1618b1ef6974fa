//! The SQLite backend of Renkei's storage traits: the embedded default.
//!
//! One database file in WAL mode with `synchronous=FULL`, so that a committed send survives a
//! power cut; migrations in `migrations/` run at open. The message flow runs on rusqlite
//! connections owned by threads of its own (modules `writer`, `reader`); the rest on sqlx's pool.

mod columns;
mod enrollment;
mod messaging;
mod reader;
mod thread;
mod writer;

use std::str::FromStr;

use renkei_store::StoreError;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::SqlitePool;

/// How long a writer waits for SQLite's write lock before giving up.
const BUSY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// Metadata store on SQLite.
#[derive(Clone)]
pub struct SqliteStore {
    pool: SqlitePool,
    /// Message writes, each one job on the writer's thread and connection ([`writer`]).
    writer: std::sync::Arc<writer::Writer>,
    /// The hot reads of the message flow, on threads and connections of their own
    /// ([`reader`]).
    readers: std::sync::Arc<reader::Readers>,
}

impl std::fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteStore").finish_non_exhaustive()
    }
}

impl SqliteStore {
    /// Open (creating if needed) the database at a `sqlite://PATH` URL and run migrations.
    pub async fn open(url: &str) -> Result<Self, StoreError> {
        let opts = SqliteConnectOptions::from_str(url)
            .map_err(|e| StoreError::Unavailable(format!("bad sqlite URL {url}: {e}")))?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .foreign_keys(true)
            .busy_timeout(BUSY_TIMEOUT);
        let pool = SqlitePoolOptions::new()
            .max_connections(8)
            .connect_with(opts.clone())
            .await
            .map_err(unavailable)?;
        sqlx::migrate!("./migrations")
            .run(&pool)
            .await
            .map_err(|e| StoreError::Unavailable(format!("migration failed: {e}")))?;
        // The writer and readers open the same file: an in-memory database would be another
        // (empty) one for each connection.
        let path = opts.get_filename().to_owned();
        if !path.is_file() {
            return Err(StoreError::Unavailable(format!(
                "the SQLite store needs a database file, not {url}"
            )));
        }
        let (writer, readers) = tokio::task::spawn_blocking(move || {
            Ok::<_, StoreError>((
                writer::Writer::open(&path, BUSY_TIMEOUT)?,
                reader::Readers::open(&path, BUSY_TIMEOUT)?,
            ))
        })
        .await
        .map_err(|e| StoreError::Unavailable(format!("cannot open the store's threads: {e}")))??;
        Ok(Self {
            pool,
            writer: std::sync::Arc::new(writer),
            readers: std::sync::Arc::new(readers),
        })
    }

    /// The underlying pool (for backend-specific maintenance such as backups).
    pub fn pool(&self) -> &SqlitePool {
        &self.pool
    }
}

/// Map a sqlx error to the store's error kinds.
pub(crate) fn map_err(e: sqlx::Error) -> StoreError {
    match &e {
        sqlx::Error::RowNotFound => StoreError::NotFound(e.to_string()),
        sqlx::Error::Database(db) if db.is_unique_violation() => {
            StoreError::Conflict(db.to_string())
        }
        sqlx::Error::ColumnDecode { .. } | sqlx::Error::Decode(_) => {
            StoreError::Corrupt(e.to_string())
        }
        // SQLITE_FULL (13): the disk or `max_page_count` is exhausted.
        sqlx::Error::Database(db) if db.code().as_deref() == Some("13") => {
            StoreError::Full(db.to_string())
        }
        _ => unavailable(e),
    }
}

/// Map a rusqlite error to the store's error kinds (as [`map_err`] does for sqlx).
pub(crate) fn map_sql_err(e: rusqlite::Error) -> StoreError {
    use rusqlite::ffi;
    match &e {
        rusqlite::Error::SqliteFailure(f, _)
            if f.extended_code == ffi::SQLITE_CONSTRAINT_UNIQUE
                || f.extended_code == ffi::SQLITE_CONSTRAINT_PRIMARYKEY =>
        {
            StoreError::Conflict(e.to_string())
        }
        // SQLITE_FULL: the disk or `max_page_count` is exhausted.
        rusqlite::Error::SqliteFailure(f, _) if f.code == rusqlite::ErrorCode::DiskFull => {
            StoreError::Full(e.to_string())
        }
        rusqlite::Error::FromSqlConversionFailure(..)
        | rusqlite::Error::InvalidColumnType(..)
        | rusqlite::Error::IntegralValueOutOfRange(..) => StoreError::Corrupt(e.to_string()),
        _ => StoreError::Unavailable(e.to_string()),
    }
}

/// A count or sequence number as SQLite's INTEGER.
pub(crate) fn to_i64(v: u64, what: &str) -> Result<i64, StoreError> {
    i64::try_from(v).map_err(|_| StoreError::Conflict(format!("{what} out of range")))
}

fn unavailable(e: sqlx::Error) -> StoreError {
    StoreError::Unavailable(e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An in-memory URL is refused with a clear error: the writer and reader connections would
    /// each see a different, empty database.
    #[tokio::test]
    async fn an_in_memory_database_is_refused() {
        let e = SqliteStore::open("sqlite::memory:").await.unwrap_err();
        assert!(e.to_string().contains("needs a database file"), "{e}");
    }

    /// A database that cannot grow (its disk is full, here its page limit) is `StoreError::Full`,
    /// which the relay answers with `507 storage_full`, not a retryable "unavailable".
    #[tokio::test]
    async fn a_full_database_is_full_not_unavailable() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("full.db").display());
        let store = SqliteStore::open(&url).await.unwrap();
        let mut conn = store.pool().acquire().await.unwrap();
        sqlx::query("CREATE TABLE filler (b BLOB)")
            .execute(&mut *conn)
            .await
            .unwrap();
        let (pages,): (i64,) = sqlx::query_as("PRAGMA page_count")
            .fetch_one(&mut *conn)
            .await
            .unwrap();
        sqlx::query(&format!("PRAGMA max_page_count = {}", pages + 4))
            .execute(&mut *conn)
            .await
            .unwrap();
        let mut err = None;
        for _ in 0..100 {
            if let Err(e) = sqlx::query("INSERT INTO filler VALUES (zeroblob(8192))")
                .execute(&mut *conn)
                .await
            {
                err = Some(e);
                break;
            }
        }
        let e = map_err(err.expect("the page limit is reached"));
        assert!(matches!(e, StoreError::Full(_)), "{e:?}");
    }
}
