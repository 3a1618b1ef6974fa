//! The PostgreSQL backend of Renkei's storage traits: several relay nodes on one database.
//!
//! Migrations in `migrations/` run at open (sqlx's migrator takes an advisory lock, so several
//! nodes starting at once are safe).

mod enrollment;
mod messaging;

use renkei_store::StoreError;
use sqlx::postgres::PgPoolOptions;
use sqlx::PgPool;

/// Metadata store on PostgreSQL.
#[derive(Clone)]
pub struct PgStore {
    pool: PgPool,
}

impl std::fmt::Debug for PgStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgStore").finish_non_exhaustive()
    }
}

impl PgStore {
    /// Connect to a `postgres://…` URL and run migrations.
    pub async fn open(url: &str) -> Result<Self, StoreError> {
        let pool = PgPoolOptions::new()
            .max_connections(16)
            .acquire_timeout(std::time::Duration::from_secs(10))
            .connect(url)
            .await
            .map_err(unavailable)?;
        Self::from_pool(pool).await
    }

    /// Use an existing pool (tests point it at a fresh schema) and run migrations.
    pub async fn from_pool(pool: PgPool) -> Result<Self, StoreError> {
        sqlx::migrate!("./migrations")
            .run(&pool)
            .await
            .map_err(|e| StoreError::Unavailable(format!("migration failed: {e}")))?;
        Ok(Self { pool })
    }

    /// The underlying pool.
    pub fn pool(&self) -> &PgPool {
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
        // SQLSTATE 53100 disk_full.
        sqlx::Error::Database(db) if db.code().as_deref() == Some("53100") => {
            StoreError::Full(db.to_string())
        }
        _ => unavailable(e),
    }
}

fn unavailable(e: sqlx::Error) -> StoreError {
    StoreError::Unavailable(e.to_string())
}
