//! A small migration runner that lets several services share one database: each service's versions
//! are recorded under its own name, and concurrent starts of the same service serialise on a lock.
//!
//! It also guards against running an older build against a newer schema. A migration is additive
//! unless it is marked `breaking` (it renames, drops or changes what an older build reads or
//! writes). A process whose build is behind the database starts when every newer migration is
//! additive (a rolling deploy: old and new replicas side by side) and refuses to start when one
//! is breaking (docs/storage.md, "Rolling out a migration").

use sqlx::Executor;

use crate::{Backend, Db, StorageError, now_ms};

/// One schema change, written once per backend.
#[derive(Clone, Copy, Debug)]
pub struct Migration {
    pub version: i64,
    pub name: &'static str,
    pub sqlite: &'static str,
    pub postgres: &'static str,
    /// Older builds cannot run beside it: once applied, they refuse to start.
    pub breaking: bool,
}

/// Declares a service's migrations from `migrations/{sqlite,postgres}/<file>.sql` beside its
/// Cargo.toml: `migrations![(1, "0001_init"), (2, "0002_rename", breaking)]`.
#[macro_export]
macro_rules! migrations {
    ($(($version:expr, $file:literal $(, $breaking:ident)?)),+ $(,)?) => {
        &[$($crate::Migration {
            version: $version,
            name: $file,
            sqlite: include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/migrations/sqlite/", $file, ".sql")),
            postgres: include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/migrations/postgres/", $file, ".sql")),
            breaking: $crate::migrations!(@breaking $($breaking)?),
        }),+]
    };
    (@breaking) => { false };
    (@breaking breaking) => { true };
}

const CREATE_TABLE: &str = "CREATE TABLE IF NOT EXISTS latchkey_migrations (
    service TEXT NOT NULL,
    version BIGINT NOT NULL,
    name TEXT NOT NULL,
    applied_at BIGINT NOT NULL,
    PRIMARY KEY (service, version)
)";

/// The breaking migrations applied, beside the bookkeeping table (a table of its own rather than
/// a column, so databases migrated before the guard need no change to that table).
const CREATE_BREAKING_TABLE: &str = "CREATE TABLE IF NOT EXISTS latchkey_breaking_migrations (
    service TEXT NOT NULL,
    version BIGINT NOT NULL,
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

/// Fails when the database is past the newest of `migrations` and one of the newer ones is
/// breaking; warns when they are all additive.
async fn refuse_a_breaking_newer_schema(
    tx: &mut sqlx::Transaction<'static, sqlx::Any>,
    service: &str,
    migrations: &[Migration],
) -> Result<(), StorageError> {
    let known = migrations.iter().map(|migration| migration.version).max().unwrap_or(0);
    let newest: Option<i64> = sqlx::query_scalar("SELECT MAX(version) FROM latchkey_migrations WHERE service = $1")
        .bind(service)
        .fetch_one(&mut **tx)
        .await?;
    let Some(newest) = newest.filter(|newest| *newest > known) else {
        return Ok(());
    };
    let breaking: Option<i64> =
        sqlx::query_scalar("SELECT MIN(version) FROM latchkey_breaking_migrations WHERE service = $1 AND version > $2")
            .bind(service)
            .bind(known)
            .fetch_one(&mut **tx)
            .await?;
    match breaking {
        Some(breaking_version) => Err(StorageError::SchemaAhead {
            service: service.to_owned(),
            database_version: newest,
            known_version: known,
            breaking_version,
        }),
        None => {
            tracing::warn!(
                service,
                database_version = newest,
                known_version = known,
                "the database is migrated past this build; the newer migrations are additive, so this \
                 process runs beside the newer build: upgrade it"
            );
            Ok(())
        }
    }
}

pub(crate) async fn run(db: &Db, service: &str, migrations: &[Migration]) -> Result<(), StorageError> {
    let mut tx = db.begin_write().await?;
    lock(&mut tx, db.backend()).await?;
    tx.execute(CREATE_TABLE).await?;
    tx.execute(CREATE_BREAKING_TABLE).await?;
    let refused = refuse_a_breaking_newer_schema(&mut tx, service, migrations).await;
    // Committed (the bookkeeping tables stay) before a refusal is answered: see below.
    tx.commit().await?;
    refused?;
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
            // Ended here, not dropped: a dropped transaction's rollback waits for the connection's
            // next use, and until then it holds the lock the next migration's transaction (on
            // another connection of the pool) waits for.
            tx.commit().await?;
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
        if migration.breaking {
            sqlx::query("INSERT INTO latchkey_breaking_migrations (service, version) VALUES ($1, $2)")
                .bind(service)
                .bind(migration.version)
                .execute(&mut *tx)
                .await?;
        }
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
