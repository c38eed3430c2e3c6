//! One sqlx code path over the two backends Latchkey supports: SQLite (the embedded default) and
//! PostgreSQL (production). Queries are portable SQL with `$n` placeholders, TEXT ids, BIGINT
//! unix-millisecond timestamps and BLOB/BYTEA for bytes; only DDL differs, so each service keeps
//! its migrations per backend side by side and [`Db::migrate`] picks the right one.
//!
//! The pool is sqlx's `Any` driver: one set of query functions serves both backends. Its cost over a
//! native pool is a value conversion per column, measured in `docs/storage.md`.

mod group_commit;
mod lease;
mod migrate;

use std::{str::FromStr, time::Duration};

use sqlx::{
    Any, AnyPool, Transaction,
    any::{AnyConnectOptions, AnyPoolOptions},
};

pub use group_commit::{GroupCommit, GroupFailed};
pub use lease::Lease;
pub use migrate::Migration;
pub use rusqlite;
pub use sqlx;

/// Which database a URL points at.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    #[error("unsupported database URL scheme (expected sqlite: or postgres:)")]
    UnsupportedUrl,
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    /// A query on the calling thread ([`Db::sqlite_reader`]) failed.
    #[error("database error: {0}")]
    SqliteReader(#[from] rusqlite::Error),
    #[error("migration {version} of {service} failed: {source}")]
    Migration {
        service: String,
        version: i64,
        #[source]
        source: sqlx::Error,
    },
    /// The database carries a migration of the service this build does not know, and it is one
    /// older builds cannot run beside (docs/storage.md, "Rolling out a migration").
    #[error(
        "the {service} database is at migration {database_version}, past this build's {known_version}, \
         and migration {breaking_version} is marked breaking: this build cannot run against it; \
         run the build that migrated it (or a newer one)"
    )]
    SchemaAhead {
        service: String,
        database_version: i64,
        known_version: i64,
        breaking_version: i64,
    },
}

/// PostgreSQL connections a pool opens at most unless told otherwise.
pub const DEFAULT_MAX_CONNECTIONS: u32 = 16;

/// A connection pool and the backend it talks to. Cheap to clone.
#[derive(Clone, Debug)]
pub struct Db {
    pool: AnyPool,
    /// SQLite only: the one connection write transactions use (see [`Db::begin_write`]).
    writer: Option<AnyPool>,
    backend: Backend,
    /// PostgreSQL only: where [`Db::listener`] connects.
    postgres_url: Option<PostgresUrl>,
    /// SQLite on a file: the file, which [`Db::sqlite_reader`] opens.
    sqlite_file: Option<std::sync::Arc<std::path::Path>>,
}

/// A PostgreSQL URL, which may carry a password: its `Debug` never shows it.
#[derive(Clone)]
struct PostgresUrl(std::sync::Arc<str>);

impl std::fmt::Debug for PostgresUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PostgresUrl(redacted)")
    }
}

impl Db {
    /// Connects to `url` (`sqlite://path?mode=rwc` or `postgres://…`). A SQLite file is created when
    /// missing and put in WAL mode, so readers never wait for the single writer.
    pub async fn connect(url: &str) -> Result<Self, StorageError> {
        Self::connect_with_pool(url, DEFAULT_MAX_CONNECTIONS).await
    }

    /// [`connect`](Self::connect), opening at most `max_connections` PostgreSQL connections
    /// (`database.max_connections`; SQLite keeps its own pools of 8 readers and one writer). Every
    /// replica of every service opens its own pool, so together they must stay under the server's
    /// `max_connections` (docs/operations.md).
    pub async fn connect_with_pool(url: &str, max_connections: u32) -> Result<Self, StorageError> {
        sqlx::any::install_default_drivers();
        let backend = backend_of(url)?;
        let options = AnyConnectOptions::from_str(url)?;
        let (pool, writer) = match backend {
            Backend::Sqlite => {
                let sqlite_pool = |connections: u32| {
                    AnyPoolOptions::new()
                        .max_connections(connections)
                        // No ping before handing out a connection: a SQLite connection is a file
                        // handle that cannot have gone away, and sqlx runs each connection on a
                        // thread of its own, so the ping is a round trip to that thread (a futex
                        // wake and a context switch each way) before every query.
                        .test_before_acquire(false)
                        .after_connect(|conn, _| {
                            Box::pin(async move {
                                sqlx::raw_sql(
                                    "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; \
                                     PRAGMA busy_timeout = 10000; PRAGMA foreign_keys = ON;",
                                )
                                .execute(conn)
                                .await?;
                                Ok(())
                            })
                        })
                        .connect_with(options.clone())
                };
                let pool = sqlite_pool(8).await?;
                (pool, Some(sqlite_pool(1).await?))
            }
            Backend::Postgres => {
                let pool = AnyPoolOptions::new()
                    .max_connections(max_connections.max(1))
                    .acquire_timeout(Duration::from_secs(10))
                    .connect_with(options)
                    .await?;
                (pool, None)
            }
        };
        let postgres_url = (backend == Backend::Postgres).then(|| PostgresUrl(url.into()));
        let sqlite_file = match backend {
            Backend::Sqlite => {
                let options = sqlx::sqlite::SqliteConnectOptions::from_str(url)?;
                let file = options.get_filename();
                (file != std::path::Path::new(":memory:") && !url.contains("mode=memory")).then(|| file.into())
            }
            Backend::Postgres => None,
        };
        Ok(Self {
            pool,
            writer,
            backend,
            postgres_url,
            sqlite_file,
        })
    }

    /// SQLite on a file: the one row `sql` answers (or none), read on the calling thread by a
    /// read-only connection the thread keeps for this file, with no hand-off to a driver thread.
    /// For point reads on hot paths: it blocks the thread for the read (microseconds; WAL readers
    /// never wait for the writer). `None` on PostgreSQL and for an in-memory SQLite database: the
    /// caller reads through the pool instead. `sql` is the pool's query text (`$1`, `$2`, … in
    /// order of appearance); each row is decoded as `T` (a tuple of columns).
    pub fn read_one_here<T, P>(&self, sql: &str, params: P) -> Option<Result<Option<T>, StorageError>>
    where
        P: rusqlite::Params,
        T: for<'row> TryFrom<&'row rusqlite::Row<'row>, Error = rusqlite::Error>,
    {
        let file = self.sqlite_file.as_ref()?;
        Some(readers_here::with_reader(file, |reader| {
            let mut statement = reader.prepare_cached(sql)?;
            let mut rows = statement.query(params)?;
            match rows.next()? {
                Some(row) => Ok(Some(T::try_from(row)?)),
                None => Ok(None),
            }
        }))
    }

    /// SQLite on a file: a read-only connection of its own that runs each query on the calling
    /// thread, for reads of many rows at once. The pool's driver runs every connection on a thread
    /// of its own and hands each row across (~7 µs a row on a 2-core machine, against ~0.4 µs for
    /// SQLite's own work: docs/storage.md, "Reading many rows on the calling thread"). Blocking: call
    /// it from a blocking task. `None` on PostgreSQL and for an in-memory SQLite database.
    pub fn sqlite_reader(&self) -> Result<Option<rusqlite::Connection>, StorageError> {
        let Some(file) = &self.sqlite_file else {
            return Ok(None);
        };
        Ok(Some(readers_here::open(file)?))
    }

    /// PostgreSQL: a connection of its own listening on `channel` (`LISTEN`), so a task learns at
    /// once what another process announced with [`notify`](Self::notify). `None` on SQLite, where
    /// one process has the database.
    pub async fn listener(&self, channel: &str) -> Result<Option<sqlx::postgres::PgListener>, StorageError> {
        let Some(url) = &self.postgres_url else {
            return Ok(None);
        };
        let mut listener = sqlx::postgres::PgListener::connect(&url.0).await?;
        listener.listen(channel).await?;
        Ok(Some(listener))
    }

    /// PostgreSQL: announces `payload` on `channel` to every listener (`pg_notify`). Nothing on
    /// SQLite.
    pub async fn notify(&self, channel: &str, payload: &str) -> Result<(), StorageError> {
        if self.backend == Backend::Postgres {
            sqlx::query("SELECT pg_notify($1, $2)")
                .bind(channel)
                .bind(payload)
                .execute(&self.pool)
                .await?;
        }
        Ok(())
    }

    pub fn pool(&self) -> &AnyPool {
        &self.pool
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Begins a transaction that will write. On SQLite it takes the write lock up front
    /// (`BEGIN IMMEDIATE`): a deferred transaction that reads before it writes cannot upgrade once
    /// another connection has committed, and fails instead of waiting. SQLite has one writer at a
    /// time anyway, so its write transactions share one connection and queue for it in the pool
    /// (woken the moment it is free) instead of in SQLite's busy handler, which sleeps (1 ms, 2 ms,
    /// 5 ms, …) between tries and wastes most of a contended writer's time. A write transaction must
    /// therefore not begin another on the same `Db` before it ends.
    pub async fn begin_write(&self) -> Result<Transaction<'static, Any>, StorageError> {
        Ok(match &self.writer {
            Some(writer) => writer.begin_with("BEGIN IMMEDIATE").await?,
            None => self.pool.begin().await?,
        })
    }

    /// Whether the database answers a trivial query within `limit`: readiness probes.
    pub async fn ping(&self, limit: Duration) -> bool {
        let answered = tokio::time::timeout(limit, sqlx::query("SELECT 1").execute(&self.pool)).await;
        matches!(answered, Ok(Ok(_)))
    }

    /// Applies `migrations` of `service` that this database has not seen yet, each in its own
    /// transaction, recording them in `latchkey_migrations`.
    pub async fn migrate(&self, service: &str, migrations: &[Migration]) -> Result<(), StorageError> {
        migrate::run(self, service, migrations).await
    }

    pub async fn close(&self) {
        self.pool.close().await;
        if let Some(writer) = &self.writer {
            writer.close().await;
        }
    }
}

/// The read-only SQLite connections each thread keeps for [`Db::read_one_here`], one per file.
mod readers_here {
    use std::{cell::RefCell, path::Path, sync::Arc, time::Duration};

    use crate::StorageError;

    /// Files a thread keeps a reader for; beyond it the oldest goes (tests open many databases).
    const FILES_PER_THREAD: usize = 16;

    thread_local! {
        static READERS: RefCell<Vec<(Arc<Path>, rusqlite::Connection)>> = const { RefCell::new(Vec::new()) };
    }

    /// A read-only connection to `file`, waiting up to 10 s for a lock as the pools do.
    pub(crate) fn open(file: &Path) -> rusqlite::Result<rusqlite::Connection> {
        let reader = rusqlite::Connection::open_with_flags(
            file,
            rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )?;
        reader.busy_timeout(Duration::from_secs(10))?;
        Ok(reader)
    }

    pub(crate) fn with_reader<T>(
        file: &Arc<Path>,
        read: impl FnOnce(&rusqlite::Connection) -> rusqlite::Result<T>,
    ) -> Result<T, StorageError> {
        READERS.with(|readers| {
            let mut readers = readers.borrow_mut();
            let index = match readers.iter().position(|(kept, _)| kept == file) {
                Some(index) => index,
                None => {
                    let reader = open(file)?;
                    if readers.len() == FILES_PER_THREAD {
                        readers.remove(0);
                    }
                    readers.push((file.clone(), reader));
                    readers.len() - 1
                }
            };
            Ok(read(&readers[index].1)?)
        })
    }
}

/// Tells the backend from a URL's scheme.
pub fn backend_of(url: &str) -> Result<Backend, StorageError> {
    if url.starts_with("sqlite:") {
        Ok(Backend::Sqlite)
    } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
        Ok(Backend::Postgres)
    } else {
        Err(StorageError::UnsupportedUrl)
    }
}

/// The SQLite URL of a database file, created if missing.
pub fn sqlite_url(path: &std::path::Path) -> String {
    format!("sqlite://{}?mode=rwc", path.display())
}

/// Milliseconds since the Unix epoch: the one timestamp representation in every table.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or_default()
}

/// True when `err` is a unique-constraint violation, which several callers treat as "already done".
pub fn is_unique_violation(err: &sqlx::Error) -> bool {
    matches!(err, sqlx::Error::Database(db) if db.is_unique_violation())
}
