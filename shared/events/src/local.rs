//! The durable in-process bus of `latchkey dev`: events are rows of an append-only table in the
//! bus's own database (deduplicated by event id), and each durable consumer's position is a row
//! of a cursor table, advanced only by acks. Publishing wakes waiting subscriptions at once; they
//! also poll, so a second process writing the same database is seen too.

use std::{
    collections::VecDeque,
    sync::{Arc, Mutex, PoisonError},
    time::Duration,
};

use latchkey_storage::{Backend, Db, Migration, migrations, now_ms, sqlx};
use tokio::{
    sync::{broadcast, watch},
    time::Instant,
};

use crate::{BusError, Envelope, EventFilter, bus::Acker as DeliveryAcker, bus::Delivery};

/// The bus's own tables, migrated under the service name `bus`.
pub(crate) const MIGRATIONS: &[Migration] = migrations![(1, "0001_bus")];

/// How many events a durable subscription reads per query.
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
        let (published, _) = watch::channel(0);
        let (live, _) = broadcast::channel(LIVE_CAPACITY);
        Ok(Self {
            inner: Arc::new(Inner { db, published, live }),
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

    pub(crate) async fn durable(&self, name: &str, filter: EventFilter) -> Result<Durable, BusError> {
        let position: Option<i64> = sqlx::query_scalar("SELECT position FROM latchkey_bus_cursors WHERE consumer = $1")
            .bind(name)
            .fetch_optional(self.inner.db.pool())
            .await?;
        Ok(Durable {
            bus: self.clone(),
            name: name.into(),
            filter,
            read_after: position.unwrap_or(0),
            buffer: VecDeque::new(),
            rewind: Arc::new(Mutex::new(None)),
            published: self.inner.published.subscribe(),
        })
    }

    pub(crate) fn live(&self, filter: EventFilter) -> Live {
        Live {
            receiver: self.inner.live.subscribe(),
            filter,
        }
    }
}

/// A durable consumer reading the event table after its cursor.
pub(crate) struct Durable {
    bus: LocalBus,
    name: Arc<str>,
    filter: EventFilter,
    /// The last sequence number read from the table (delivered or filtered out).
    read_after: i64,
    buffer: VecDeque<(i64, Envelope)>,
    /// Set by a nak or an unsettled drop: read again from this event on.
    rewind: Arc<Mutex<Option<Rewind>>>,
    published: watch::Receiver<u64>,
}

#[derive(Clone, Copy)]
struct Rewind {
    seq: i64,
    not_before: Instant,
}

impl Durable {
    pub(crate) async fn next(&mut self) -> Option<Result<Delivery, BusError>> {
        loop {
            let rewind = self.rewind.lock().unwrap_or_else(PoisonError::into_inner).take();
            if let Some(rewind) = rewind {
                self.buffer.clear();
                self.read_after = rewind.seq - 1;
                tokio::time::sleep_until(rewind.not_before).await;
            }
            if let Some((seq, envelope)) = self.buffer.pop_front() {
                let acker = Acker {
                    db: self.bus.inner.db.clone(),
                    consumer: self.name.clone(),
                    seq,
                    rewind: self.rewind.clone(),
                    settled: false,
                };
                return Some(Ok(Delivery {
                    envelope,
                    acker: DeliveryAcker::Local(acker),
                }));
            }
            // Mark the current generation seen before reading, so a publish landing after the
            // read still wakes us.
            self.published.borrow_and_update();
            if let Err(err) = self.read().await {
                return Some(Err(err));
            }
            if self.buffer.is_empty() {
                tokio::select! {
                    _ = self.published.changed() => {}
                    _ = tokio::time::sleep(POLL_INTERVAL) => {}
                }
            }
        }
    }

    async fn read(&mut self) -> Result<(), BusError> {
        let rows: Vec<(i64, String, Vec<u8>)> = sqlx::query_as(
            "SELECT seq, event_type, payload FROM latchkey_bus_events WHERE seq > $1 ORDER BY seq LIMIT $2",
        )
        .bind(self.read_after)
        .bind(READ_BATCH)
        .fetch_all(self.bus.inner.db.pool())
        .await?;
        for (seq, event_type, payload) in rows {
            self.read_after = seq;
            if !self.filter.matches_type(&event_type) {
                continue;
            }
            match Envelope::from_json(&payload) {
                Ok(envelope) => self.buffer.push_back((seq, envelope)),
                Err(err) => tracing::error!(seq, error = %err, "skipping an undecodable event"),
            }
        }
        Ok(())
    }
}

/// Settles one event of a durable local consumer.
pub(crate) struct Acker {
    db: Db,
    consumer: Arc<str>,
    seq: i64,
    rewind: Arc<Mutex<Option<Rewind>>>,
    settled: bool,
}

impl Acker {
    /// Moves the consumer's cursor to this event, never backwards.
    pub(crate) async fn ack(mut self) -> Result<(), BusError> {
        sqlx::query(
            "INSERT INTO latchkey_bus_cursors (consumer, position, updated_at) VALUES ($1, $2, $3) \
             ON CONFLICT (consumer) DO UPDATE SET position = excluded.position, updated_at = excluded.updated_at \
             WHERE latchkey_bus_cursors.position < excluded.position",
        )
        .bind(&*self.consumer)
        .bind(self.seq)
        .bind(now_ms())
        .execute(self.db.pool())
        .await?;
        self.settled = true;
        Ok(())
    }

    pub(crate) fn nak(mut self, delay: Duration) {
        self.request_redelivery(Instant::now() + delay);
    }

    fn request_redelivery(&mut self, not_before: Instant) {
        self.settled = true;
        let mut rewind = self.rewind.lock().unwrap_or_else(PoisonError::into_inner);
        // Two pending redeliveries: the earlier event wins, the later one follows it anyway.
        if rewind.is_none_or(|pending| self.seq < pending.seq) {
            *rewind = Some(Rewind {
                seq: self.seq,
                not_before,
            });
        }
    }
}

impl Drop for Acker {
    fn drop(&mut self) {
        if !self.settled {
            self.request_redelivery(Instant::now());
        }
    }
}

/// Events published in this process from now on.
pub(crate) struct Live {
    receiver: broadcast::Receiver<Arc<Envelope>>,
    filter: EventFilter,
}

impl Live {
    pub(crate) async fn next(&mut self) -> Option<Result<Delivery, BusError>> {
        loop {
            match self.receiver.recv().await {
                Ok(envelope) if self.filter.matches(&envelope) => {
                    return Some(Ok(Delivery {
                        envelope: Envelope::clone(&envelope),
                        acker: DeliveryAcker::Live,
                    }));
                }
                Ok(_) => {}
                Err(broadcast::error::RecvError::Lagged(missed)) => return Some(Err(BusError::Lagged(missed))),
                Err(broadcast::error::RecvError::Closed) => return None,
            }
        }
    }
}
