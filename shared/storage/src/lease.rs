//! Leases: which one of a service's replicas does a job only one may do at a time (relay an
//! outbox, consume the audit stream). A lease is a row naming its holder and when it runs out;
//! the holder renews it while it works, and another replica takes it once it ran out (its holder
//! died or lost the database). Work that must never be done by a holder that lost its lease
//! renews it inside its own transaction ([`Lease::renew_in`]): the renewal locks the row, so a
//! replica taking over waits for that transaction, and a holder that was overtaken writes nothing.
//!
//! Times are each process's wall clock: replicas' clocks must agree to well under the lease's
//! length (docs/operations.md).

use std::{
    sync::{
        Arc,
        atomic::{AtomicI64, Ordering},
    },
    time::Duration,
};

use sqlx::{Any, Transaction};

use crate::{Backend, Db, StorageError, now_ms};

const CREATE_TABLE: &str = "CREATE TABLE IF NOT EXISTS latchkey_leases (
    name TEXT PRIMARY KEY,
    holder TEXT NOT NULL,
    until_ms BIGINT NOT NULL
)";

/// One replica's handle on the lease `name`. A replica is a process: every handle a process opens
/// holds as the same holder, so a task started again in the same process carries on at once.
#[derive(Clone, Debug)]
pub struct Lease {
    db: Db,
    name: Arc<str>,
    holder: Arc<str>,
    ttl_ms: i64,
    /// Until when this holder last made sure it holds the lease (0: it does not).
    held_until: Arc<AtomicI64>,
}

impl Lease {
    /// The lease `name` for this process, lasting `ttl` per renewal.
    /// Creates the leases table when missing.
    pub async fn open(db: Db, name: &str, ttl: Duration) -> Result<Self, StorageError> {
        Self::open_as(db, name, ttl, process_holder_id()).await
    }

    /// The lease `name` for the holder `holder`: a second replica inside one process (tests).
    pub async fn open_as(db: Db, name: &str, ttl: Duration, holder: &str) -> Result<Self, StorageError> {
        if db.backend() == Backend::Postgres {
            // Two replicas starting at once would both try to create the table.
            let mut tx = db.begin_write().await?;
            sqlx::query("SELECT pg_advisory_xact_lock(7300000001)")
                .execute(&mut *tx)
                .await?;
            sqlx::query(CREATE_TABLE).execute(&mut *tx).await?;
            tx.commit().await?;
        } else {
            sqlx::query(CREATE_TABLE).execute(db.pool()).await?;
        }
        Ok(Self {
            db,
            name: name.into(),
            holder: holder.into(),
            ttl_ms: i64::try_from(ttl.as_millis()).unwrap_or(i64::MAX / 4),
            held_until: Arc::new(AtomicI64::new(0)),
        })
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// This replica's holder id, as stored in the lease's row.
    pub fn holder(&self) -> &str {
        &self.holder
    }

    /// Whether this replica held the lease as of its last acquire or renewal, and still does by
    /// its clock. A hint (another replica takes it over only once it ran out), not a fence.
    pub fn is_held(&self) -> bool {
        self.held_until.load(Ordering::Acquire) > now_ms()
    }

    /// Takes the lease when it is free or ran out, or renews it when this replica holds it.
    /// Answers whether this replica holds it now.
    pub async fn acquire(&self) -> Result<bool, StorageError> {
        let now = now_ms();
        let until = now + self.ttl_ms;
        let mut tx = self.db.begin_write().await?;
        let taken = sqlx::query(
            "INSERT INTO latchkey_leases (name, holder, until_ms) VALUES ($1, $2, $3) \
             ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, until_ms = excluded.until_ms \
             WHERE latchkey_leases.holder = excluded.holder OR latchkey_leases.until_ms < $4",
        )
        .bind(&*self.name)
        .bind(&*self.holder)
        .bind(until)
        .bind(now)
        .execute(&mut *tx)
        .await?
        .rows_affected()
            == 1;
        tx.commit().await?;
        self.held_until.store(if taken { until } else { 0 }, Ordering::Release);
        Ok(taken)
    }

    /// Like [`acquire`](Self::acquire), but without a write while more than half of the lease
    /// this replica last took is left: for a loop that asks before every round.
    pub async fn acquire_lazily(&self) -> Result<bool, StorageError> {
        let held_until = self.held_until.load(Ordering::Acquire);
        if held_until - now_ms() > self.ttl_ms / 2 {
            return Ok(true);
        }
        self.acquire().await
    }

    /// Renews the lease inside `tx`, answering whether this replica still holds it: false when
    /// another replica took it over (then `tx` must write nothing). The row stays locked until
    /// `tx` ends, so nobody takes the lease over meanwhile.
    pub async fn renew_in(&self, tx: &mut Transaction<'static, Any>) -> Result<bool, sqlx::Error> {
        let until = now_ms() + self.ttl_ms;
        let renewed = sqlx::query("UPDATE latchkey_leases SET until_ms = $1 WHERE name = $2 AND holder = $3")
            .bind(until)
            .bind(&*self.name)
            .bind(&*self.holder)
            .execute(&mut **tx)
            .await?
            .rows_affected()
            == 1;
        // Counted as held only once the transaction commits; until then, ask again next round.
        if !renewed {
            self.held_until.store(0, Ordering::Release);
        }
        Ok(renewed)
    }

    /// Gives the lease up, so another replica takes over at once rather than when it runs out.
    pub async fn release(&self) -> Result<(), StorageError> {
        self.held_until.store(0, Ordering::Release);
        let mut tx = self.db.begin_write().await?;
        sqlx::query("DELETE FROM latchkey_leases WHERE name = $1 AND holder = $2")
            .bind(&*self.name)
            .bind(&*self.holder)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }
}

/// This process's holder id: its process id and a random part (process ids repeat across hosts
/// and restarts), so logs and the row tell which process holds a lease.
fn process_holder_id() -> &'static str {
    static HOLDER: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    HOLDER.get_or_init(|| {
        let random: u64 = rand::random();
        format!("{}-{random:016x}", std::process::id())
    })
}
