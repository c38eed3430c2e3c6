//! A small migration runner that lets several services share one database: each service's versions
//! are recorded under its own name, and concurrent starts of the same service serialise on a lock.

use sqlx::Executor;

use crate::{Backend, Db, StorageError, now_ms};

/// One schema change, written once per backend.
#[derive(Clone, Copy, Debug)]
pub struct Migration {
    pub version: i64,
    pub name: &'static str,
    pub sqlite: &'static str,
    pub postgres: &'static str,
}

/// Declares a service's migrations from `migrations/{sqlite,postgres}/<file>.sql` beside its
/// Cargo.toml: `migrations![(1, "0001_init")]`.
#[macro_export]
macro_rules! migrations {
    ($(($version:expr, $file:literal)),+ $(,)?) => {
        &[$($crate::Migration {
            version: $version,
            name: $file,
            sqlite: include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/migrations/sqlite/", $file, ".sql")),
            postgres: include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/migrations/postgres/", $file, ".sql")),
        }),+]
    };
}

const CREATE_TABLE: &str = "CREATE TABLE IF NOT EXISTS latchkey_migrations (
    service TEXT NOT NULL,
    version BIGINT NOT NULL,
    name TEXT NOT NULL,
    applied_at BIGINT NOT NULL,
    PRIMARY KEY (service, version)
)";

/// Serialises migrations of every service sharing a PostgreSQL database: two processes starting
/// together wait here in turn (even `CREATE TABLE IF NOT EXISTS` races on PostgreSQL's catalogue).
/// SQLite needs nothing more than its write lock, which `begin_write` takes.
async fn lock(tx: &mut sqlx::Transaction<'static, sqlx::Any>, backend: Backend) -> Result<(), sqlx::Error> {
    if backend == Backend::Postgres {
        sqlx::query("SELECT pg_advisory_xact_lock(7436101)")
            .execute(&mut **tx)
            .await?;
    }
    Ok(())
}

pub(crate) async fn run(db: &Db, service: &str, migrations: &[Migration]) -> Result<(), StorageError> {
    let mut tx = db.begin_write().await?;
    lock(&mut tx, db.backend()).await?;
    tx.execute(CREATE_TABLE).await?;
    tx.commit().await?;
    for migration in migrations {
        let mut tx = db.begin_write().await?;
        lock(&mut tx, db.backend()).await?;
        let applied: Option<i64> =
            sqlx::query_scalar("SELECT version FROM latchkey_migrations WHERE service = $1 AND version = $2")
                .bind(service)
                .bind(migration.version)
                .fetch_optional(&mut *tx)
                .await?;
        if applied.is_some() {
            continue;
        }
        let sql = match db.backend() {
            Backend::Sqlite => migration.sqlite,
            Backend::Postgres => migration.postgres,
        };
        let failed = |source| StorageError::Migration {
            service: service.to_owned(),
            version: migration.version,
            source,
        };
        sqlx::raw_sql(sqlx::AssertSqlSafe(sql))
            .execute(&mut *tx)
            .await
            .map_err(failed)?;
        sqlx::query("INSERT INTO latchkey_migrations (service, version, name, applied_at) VALUES ($1, $2, $3, $4)")
            .bind(service)
            .bind(migration.version)
            .bind(migration.name)
            .bind(now_ms())
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        tracing::info!(
            service,
            version = migration.version,
            name = migration.name,
            "applied migration"
        );
    }
    Ok(())
}
