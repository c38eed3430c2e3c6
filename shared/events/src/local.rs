//! The durable in-process bus of `latchkey dev`: events are rows of an append-only table in the
//! bus's own database (deduplicated by event id), and each durable consumer's position is a row
//! of a cursor table, advanced only by acks. Publishing wakes waiting subscriptions at once; they
//! also poll, so a second process writing the same database is seen too. Durable consumers live in
//! `durable`, replays in `replay`, and both read the table through `rows`.

use std::{sync::Arc, time::Duration};

use latchkey_storage::{Backend, Db, Migration, migrations, now_ms, sqlx};
use tokio::sync::{broadcast, watch};

use crate::{
    BusError, DeadLetters, Envelope, EventFilter,
    dead_letter::DeadLetterSetup,
    delivery::{Acker as DeliveryAcker, Delivery, Step},
};

mod durable;
mod replay;
mod rows;

pub(crate) use durable::Durable;
pub(crate) use replay::Replay;

/// The bus's own tables, migrated under the service name `bus`.
pub(crate) const MIGRATIONS: &[Migration] = migrations![(1, "0001_bus")];

/// How many events a durable subscription or a replay reads per query.
const READ_BATCH: i64 = 256;
/// How often an idle subscription looks for events it was not told about.
const POLL_INTERVAL: Duration = Duration::from_secs(1);
/// How many events a live subscriber may fall behind before it is told it missed some.
const LIVE_CAPACITY: usize = 4096;
/// Serialises publishers on PostgreSQL, so sequence numbers become visible in order and a reader
/// can never pass a row that commits later with a smaller number.
const PUBLISH_LOCK: i64 = 7_436_102;

/// The in-process bus over one database. Cheap to clone; clones share subscribers.
#[derive(Clone)]
pub struct LocalBus {
    inner: Arc<Inner>,
    pub(crate) dead_letters: DeadLetterSetup,
}

struct Inner {
    db: Db,
    /// Bumped after every publish that stored something, to wake durable subscriptions.
    published: watch::Sender<u64>,
    live: broadcast::Sender<Arc<Envelope>>,
}

impl std::fmt::Debug for LocalBus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalBus")
            .field("backend", &self.inner.db.backend())
            .finish_non_exhaustive()
    }
}

impl LocalBus {
    pub(crate) async fn open(db: Db) -> Result<Self, BusError> {
        db.migrate("bus", MIGRATIONS).await?;
        // Its consumers' dead letters stay beside their cursors unless the bus is told otherwise.
        let dead_letters = DeadLetterSetup {
            store: Some(DeadLetters::open(db.clone()).await?),
            ..DeadLetterSetup::default()
        };
        let (published, _) = watch::channel(0);
        let (live, _) = broadcast::channel(LIVE_CAPACITY);
        Ok(Self {
            inner: Arc::new(Inner { db, published, live }),
            dead_letters,
        })
    }

    /// The database holding the bus's tables.
    pub fn db(&self) -> &Db {
        &self.inner.db
    }

    pub(crate) async fn publish(&self, events: &[Envelope]) -> Result<(), BusError> {
        if events.is_empty() {
            return Ok(());
        }
        let db = &self.inner.db;
        let mut tx = db.begin_write().await?;
        if db.backend() == Backend::Postgres {
            sqlx::query("SELECT pg_advisory_xact_lock($1)")
                .bind(PUBLISH_LOCK)
                .execute(&mut *tx)
                .await?;
        }
        let mut stored = Vec::with_capacity(events.len());
        for event in events {
            let inserted = sqlx::query(
                "INSERT INTO latchkey_bus_events (event_id, account, event_type, payload, published_at) \
                 VALUES ($1, $2, $3, $4, $5) ON CONFLICT (event_id) DO NOTHING",
            )
            .bind(&event.id)
            .bind(&event.account)
            .bind(&event.event_type)
            .bind(event.to_json())
            .bind(now_ms())
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if inserted == 1 {
                stored.push(event);
            }
        }
        tx.commit().await?;
        if !stored.is_empty() {
            self.inner.published.send_modify(|generation| *generation += 1);
            for event in stored {
                // No live subscriber is not an error.
                let _ = self.inner.live.send(Arc::new(event.clone()));
            }
        }
        Ok(())
    }

    pub(crate) fn live(&self, filter: EventFilter) -> Live {
        Live {
            receiver: self.inner.live.subscribe(),
            filter,
            lagged: false,
        }
    }
}

/// Events published in this process from now on. A subscriber that fell more than the channel's
/// capacity behind lost the oldest of them: it says so ([`Step::Interrupted`]) and, as it receives
/// everything after them, that it is current again ([`Step::CaughtUp`]) on the next step.
pub(crate) struct Live {
    receiver: broadcast::Receiver<Arc<Envelope>>,
    filter: EventFilter,
    /// Interrupted was reported; CaughtUp comes next.
    lagged: bool,
}

impl Live {
    pub(crate) async fn next(&mut self) -> Option<Result<Step, BusError>> {
        if std::mem::take(&mut self.lagged) {
            return Some(Ok(Step::CaughtUp));
        }
        loop {
            match self.receiver.recv().await {
                Ok(envelope) if self.filter.matches(&envelope) => {
                    return Some(Ok(Step::Event(Delivery {
                        envelope: Envelope::clone(&envelope),
                        published_ms: None,
                        acker: DeliveryAcker::Live,
                    })));
                }
                Ok(_) => {}
                Err(broadcast::error::RecvError::Lagged(missed)) => {
                    tracing::warn!(missed, "a live subscription fell behind and missed events");
                    self.lagged = true;
                    return Some(Ok(Step::Interrupted));
                }
                Err(broadcast::error::RecvError::Closed) => return None,
            }
        }
    }
}
