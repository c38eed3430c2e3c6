//! Closed loop: C connections, each sending its next request as soon as the previous one is
//! answered. Measures the most the server sustains; its latencies are service times under
//! saturation, not what a client at a given rate would see (that is the open loop's job).

use std::sync::Arc;
use std::time::Duration;

use tokio::task::JoinSet;
use tokio::time::Instant;

use crate::client::{Connection, Target};
use crate::stats::{Mode, Phase, PhaseResult, Recorder};

/// Pause before reconnecting after a failed connect, so a dead server is not hammered in a spin.
const RECONNECT_PAUSE: Duration = Duration::from_millis(10);

/// Runs `connections` closed loops against `target` for `warmup` (unrecorded) then `measure`.
pub async fn run(target: Arc<Target>, connections: usize, warmup: Duration, measure: Duration) -> PhaseResult {
    let recording_from = Instant::now() + warmup;
    let until = recording_from + measure;
    let mut loops = JoinSet::new();
    for _ in 0..connections {
        loops.spawn(one_connection(Arc::clone(&target), recording_from, until));
    }
    let mut total = Recorder::new();
    while let Some(joined) = loops.join_next().await {
        match joined {
            Ok(recorder) => total.merge(&recorder),
            Err(error) => eprintln!("a {} load task failed: {error}", target.name),
        }
    }
    let phase = Phase {
        target: target.name.clone(),
        mode: Mode::Closed,
        offered_rps: None,
        connections,
    };
    total.finish(phase, measure)
}

/// One connection's loop; requests sent before `recording_from` are warm-up and not recorded.
async fn one_connection(target: Arc<Target>, recording_from: Instant, until: Instant) -> Recorder {
    let mut recorder = Recorder::new();
    let mut connection: Option<Connection> = None;
    loop {
        let sent = Instant::now();
        if sent >= until {
            return recorder;
        }
        let open = match connection.as_mut() {
            Some(open) => open,
            None => match Connection::open(&target).await {
                Ok(fresh) => connection.insert(fresh),
                Err(_) => {
                    if sent >= recording_from {
                        recorder.record(crate::client::Outcome::Transport, Duration::ZERO);
                    }
                    tokio::time::sleep(RECONNECT_PAUSE).await;
                    continue;
                }
            },
        };
        let outcome = open.send(&target).await;
        if sent >= recording_from {
            recorder.record(outcome, sent.elapsed());
        }
        if !outcome.keeps_connection() {
            connection = None;
        }
    }
}
