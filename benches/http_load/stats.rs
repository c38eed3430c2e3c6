//! Latency histograms and outcome counts, and the per-phase result they boil down to.

use std::collections::BTreeMap;
use std::time::Duration;

use hdrhistogram::Histogram;
use serde::Serialize;

use crate::client::Outcome;

/// Highest latency the histogram resolves, in microseconds; anything slower is clamped to it
/// (and is a timeout anyway, see `client::REQUEST_TIMEOUT`).
const HIGHEST_MICROS: u64 = 60_000_000;

/// Collects what happened to the requests of one phase (or one connection of it).
pub struct Recorder {
    /// Latency of 2xx responses, in microseconds, 3 significant digits.
    latency: Histogram<u64>,
    /// Open loop: how late each request's task started after its due time, in microseconds. It is
    /// the generator's own share of the latency (pacer wake-up plus task scheduling).
    send_lag: Histogram<u64>,
    successes: u64,
    /// Everything that was not a 2xx, by kind (`status 429`, `transport`, `timeout`).
    errors: BTreeMap<String, u64>,
}

impl Recorder {
    /// An empty recorder.
    pub fn new() -> Self {
        Self {
            latency: histogram(),
            send_lag: histogram(),
            successes: 0,
            errors: BTreeMap::new(),
        }
    }

    /// Records how late a request left the generator (open loop).
    pub fn record_send_lag(&mut self, lag: Duration) {
        self.send_lag.saturating_record(micros(lag));
    }

    /// Records one finished request. Only 2xx latencies enter the histogram: a fast error must not
    /// make a server look fast. Errors are counted and reported instead.
    pub fn record(&mut self, outcome: Outcome, latency: Duration) {
        match outcome {
            Outcome::Success => {
                self.successes += 1;
                self.latency.saturating_record(micros(latency));
            }
            Outcome::Status(status) => *self.errors.entry(format!("status {}", status.as_u16())).or_default() += 1,
            Outcome::Transport => *self.errors.entry("transport".to_owned()).or_default() += 1,
            Outcome::Timeout => *self.errors.entry("timeout".to_owned()).or_default() += 1,
            Outcome::PoolExhausted => *self.errors.entry("pool exhausted".to_owned()).or_default() += 1,
        }
    }

    /// Adds everything `other` recorded.
    pub fn merge(&mut self, other: &Recorder) {
        add(&mut self.latency, &other.latency);
        add(&mut self.send_lag, &other.send_lag);
        self.successes += other.successes;
        for (kind, count) in &other.errors {
            *self.errors.entry(kind.clone()).or_default() += count;
        }
    }

    /// Summarises the phase, `measured` being how long the recorded window lasted.
    pub fn finish(&self, phase: Phase, measured: Duration) -> PhaseResult {
        let quantile_ms = |q: f64| self.latency.value_at_quantile(q) as f64 / 1000.0;
        let lagged = !self.send_lag.is_empty();
        let seconds = measured.as_secs_f64();
        PhaseResult {
            target: phase.target,
            mode: phase.mode,
            offered_rps: phase.offered_rps,
            connections: phase.connections,
            seconds,
            achieved_rps: self.successes as f64 / seconds,
            successes: self.successes,
            errors: self.errors.values().sum(),
            error_kinds: self.errors.clone(),
            p50_ms: quantile_ms(0.50),
            p99_ms: quantile_ms(0.99),
            p999_ms: quantile_ms(0.999),
            max_ms: self.latency.max() as f64 / 1000.0,
            send_lag_p99_ms: lagged.then(|| self.send_lag.value_at_quantile(0.99) as f64 / 1000.0),
            send_lag_max_ms: lagged.then(|| self.send_lag.max() as f64 / 1000.0),
        }
    }
}

fn histogram() -> Histogram<u64> {
    match Histogram::new_with_bounds(1, HIGHEST_MICROS, 3) {
        Ok(histogram) => histogram,
        Err(error) => panic!("constant histogram bounds are valid: {error:?}"),
    }
}

fn micros(duration: Duration) -> u64 {
    u64::try_from(duration.as_micros()).unwrap_or(HIGHEST_MICROS).max(1)
}

/// Adds `source` into `sum`. Both have the same bounds, so this cannot fail; saturate rather than
/// panic regardless.
fn add(sum: &mut Histogram<u64>, source: &Histogram<u64>) {
    if sum.add(source).is_err() {
        for value in source.iter_recorded() {
            sum.saturating_record_n(value.value_iterated_to(), value.count_at_value());
        }
    }
}

/// Closed loop (each connection sends its next request when the last one is answered) or open
/// loop (requests are sent on a fixed schedule whether or not earlier ones were answered).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    /// Maximum throughput.
    Closed,
    /// Latency at a fixed offered rate.
    Open,
}

/// What a phase was, to label its result.
pub struct Phase {
    /// `floor` or `latchkey`.
    pub target: String,
    /// Which loop.
    pub mode: Mode,
    /// Open loop: the schedule's rate.
    pub offered_rps: Option<u64>,
    /// Connections used (open loop: the most that were open at once).
    pub connections: usize,
}

/// One row of the report.
#[derive(Debug, Clone, Serialize)]
pub struct PhaseResult {
    pub target: String,
    pub mode: Mode,
    pub offered_rps: Option<u64>,
    pub connections: usize,
    pub seconds: f64,
    /// 2xx responses per second of the measured window.
    pub achieved_rps: f64,
    pub successes: u64,
    pub errors: u64,
    pub error_kinds: BTreeMap<String, u64>,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub p999_ms: f64,
    pub max_ms: f64,
    /// Open loop: the generator's own delay (request task start minus due time), p99 and max.
    pub send_lag_p99_ms: Option<f64>,
    pub send_lag_max_ms: Option<f64>,
}
