//! Open loop: requests leave on a fixed schedule (rate R) whether or not earlier ones have been
//! answered, each on an idle pooled connection or a new one, so a slow response never delays the
//! next send. Latency runs from the request's *scheduled* send time: when the server (or the
//! generator) falls behind, the wait is charged to the figures instead of silently skipped
//! (the "coordinated omission" a closed loop commits).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use anyhow::Context;

use crate::client::{Connection, Outcome, Target};
use crate::pacer::Pacer;
use crate::stats::{Mode, Phase, PhaseResult, Recorder};

/// Most connections open at once. Beyond it the server is hopelessly behind (at 5000/s that is
/// 200 ms of backlog); requests that would need more are counted as errors, which keeps file
/// descriptors and ephemeral ports bounded.
const MAX_CONNECTIONS: usize = 1000;

/// Idle connections plus counts of all connections, idle or busy.
struct Pool {
    idle: Mutex<Vec<Connection>>,
    open: AtomicUsize,
    peak: AtomicUsize,
}

impl Pool {
    fn idle(&self) -> MutexGuard<'_, Vec<Connection>> {
        self.idle.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Reserves room for a new connection, or `false` at [`MAX_CONNECTIONS`].
    fn reserve(&self) -> bool {
        let reserved = self.open.fetch_update(Ordering::AcqRel, Ordering::Acquire, |open| {
            (open < MAX_CONNECTIONS).then_some(open + 1)
        });
        match reserved {
            Ok(before) => {
                self.peak.fetch_max(before + 1, Ordering::AcqRel);
                true
            }
            Err(_) => false,
        }
    }

    fn release(&self) {
        self.open.fetch_sub(1, Ordering::AcqRel);
    }
}

/// Sends `rate` requests per second to `target` for `warmup` (unrecorded) then `measure`, starting
/// with `initial_connections`, or enough for 20 ms of requests if that is more: connecting a burst
/// of fresh connections mid-run can overflow the server's accept queue, and a dropped SYN costs a
/// 1 s retransmission that says nothing about the server's request handling.
pub async fn run(
    target: Arc<Target>,
    rate: u64,
    initial_connections: usize,
    warmup: Duration,
    measure: Duration,
) -> anyhow::Result<PhaseResult> {
    let pool = Arc::new(Pool {
        idle: Mutex::new(Vec::new()),
        open: AtomicUsize::new(0),
        peak: AtomicUsize::new(0),
    });
    let initial = initial_connections.max(usize::try_from(rate / 50).unwrap_or(MAX_CONNECTIONS));
    for _ in 0..initial.min(MAX_CONNECTIONS) {
        let connection = Connection::open(&target)
            .await
            .with_context(|| format!("connecting to {}", target.name))?;
        pool.reserve();
        pool.idle().push(connection);
    }
    let recorder = Arc::new(Mutex::new(Recorder::new()));
    let schedule = Schedule::new(rate, warmup, measure);
    let pacer = Pacer::new().context("creating the pacing timer")?;
    let mut in_flight = Vec::with_capacity(usize::try_from(schedule.count).unwrap_or(0));
    for index in 0..schedule.count {
        let due = schedule.due(index);
        pacer.sleep_until(due).await.context("waiting for the next send")?;
        let recorded = due >= schedule.recording_from;
        let request = one_request(
            Arc::clone(&target),
            Arc::clone(&pool),
            Arc::clone(&recorder),
            due,
            recorded,
        );
        in_flight.push(tokio::spawn(request));
    }
    for request in in_flight {
        // Each request is bounded by client::REQUEST_TIMEOUT, so this wait is too.
        let _ = request.await;
    }
    let phase = Phase {
        target: target.name.clone(),
        mode: Mode::Open,
        offered_rps: Some(rate),
        connections: pool.peak.load(Ordering::Acquire),
    };
    let recorder = recorder.lock().unwrap_or_else(PoisonError::into_inner);
    Ok(recorder.finish(phase, measure))
}

/// When each request is due.
struct Schedule {
    start: Instant,
    recording_from: Instant,
    rate: u64,
    count: u64,
}

impl Schedule {
    fn new(rate: u64, warmup: Duration, measure: Duration) -> Self {
        // A short lead so the first sends are not already late while the pacer starts.
        let start = Instant::now() + Duration::from_millis(20);
        let count = u64::try_from(u128::from(rate) * (warmup + measure).as_nanos() / 1_000_000_000).unwrap_or(u64::MAX);
        Self {
            start,
            recording_from: start + warmup,
            rate,
            count,
        }
    }

    /// Absolute times, not accumulated intervals, so oversleeping never drifts the rate.
    fn due(&self, index: u64) -> Instant {
        let nanos = u128::from(index) * 1_000_000_000 / u128::from(self.rate);
        self.start + Duration::from_nanos(u64::try_from(nanos).unwrap_or(u64::MAX))
    }
}

async fn one_request(
    target: Arc<Target>,
    pool: Arc<Pool>,
    recorder: Arc<Mutex<Recorder>>,
    due: Instant,
    recorded: bool,
) {
    let send_lag = due.elapsed();
    let idle = pool.idle().pop();
    let (outcome, kept) = match idle {
        Some(connection) => exchange(&target, connection).await,
        None if pool.reserve() => match Connection::open(&target).await {
            Ok(connection) => exchange(&target, connection).await,
            Err(_) => (Outcome::Transport, None),
        },
        None => (Outcome::PoolExhausted, None),
    };
    let latency = due.elapsed();
    if recorded {
        let mut recorder = recorder.lock().unwrap_or_else(PoisonError::into_inner);
        recorder.record(outcome, latency);
        recorder.record_send_lag(send_lag);
    }
    match kept {
        Some(connection) => pool.idle().push(connection),
        None if outcome != Outcome::PoolExhausted => pool.release(),
        None => {}
    }
}

async fn exchange(target: &Target, mut connection: Connection) -> (Outcome, Option<Connection>) {
    let outcome = connection.send(target).await;
    (outcome, outcome.keeps_connection().then_some(connection))
}
