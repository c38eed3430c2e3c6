//! The benchmark's knobs, read from the environment so `make bench` needs no arguments.

use std::time::Duration;

use anyhow::{Context, bail};

use crate::scenario::Scenario;

/// Everything one run of the benchmark is parameterised by.
#[derive(Debug, Clone)]
pub struct BenchConfig {
    /// Measured duration of every phase (`BENCH_SECONDS`, default 10).
    pub measure: Duration,
    /// Unrecorded load before every phase, so connection set-up, caches and allocator growth are
    /// not charged to the figures (`BENCH_WARMUP_SECONDS`, default 2).
    pub warmup: Duration,
    /// The scenarios to run, in order (`BENCH_SCENARIOS`, comma-separated; default all).
    pub scenarios: Vec<Scenario>,
    /// Offered rate of every open-loop phase in requests per second (`BENCH_RATE`); by default each
    /// scenario's own (`Targets::p99_rate`: 10000 for verify, 2000 for cert_read and proxy, 5000
    /// for the others).
    pub rate: Option<u64>,
    /// Connections of the closed-loop phase (`BENCH_CONNECTIONS`, default 32); the open loop starts
    /// with at least as many.
    pub connections: usize,
    /// Worker threads of the generator's own runtime (`BENCH_CLIENT_THREADS`, default 2). With one
    /// thread the generator, not the server, capped the floor's closed-loop throughput on this
    /// 2-core machine, which would flatter Latchkey's share of it.
    pub client_threads: usize,
    /// Benchmark only the floor, against a synthetic body (`BENCH_ONLY_FLOOR=1`).
    pub only_floor: bool,
    /// Benchmark the mesh as deployed (`BENCH_MESH=postgres`: one `latchkey serve` process per
    /// service on PostgreSQL and NATS JetStream) instead of `latchkey dev` (`BENCH_MESH=dev`, the
    /// default).
    pub mesh: bool,
}

impl BenchConfig {
    /// Reads the knobs, rejecting values that would make the run meaningless.
    pub fn from_env() -> anyhow::Result<Self> {
        let config = Self {
            measure: Duration::from_secs(number("BENCH_SECONDS", 10)?),
            warmup: Duration::from_secs(number("BENCH_WARMUP_SECONDS", 2)?),
            scenarios: scenarios()?,
            rate: std::env::var("BENCH_RATE")
                .is_ok()
                .then(|| number("BENCH_RATE", 0))
                .transpose()?,
            connections: usize::try_from(number("BENCH_CONNECTIONS", 32)?)?,
            client_threads: usize::try_from(number("BENCH_CLIENT_THREADS", 2)?)?,
            only_floor: flag("BENCH_ONLY_FLOOR"),
            mesh: match std::env::var("BENCH_MESH").as_deref().map(str::trim) {
                Err(_) | Ok("" | "dev") => false,
                Ok("postgres") => true,
                Ok(other) => bail!("BENCH_MESH={other:?}: expected dev or postgres"),
            },
        };
        if config.measure.is_zero() || config.rate == Some(0) || config.connections == 0 || config.client_threads == 0 {
            bail!("BENCH_SECONDS, BENCH_RATE, BENCH_CONNECTIONS and BENCH_CLIENT_THREADS must be positive");
        }
        Ok(config)
    }

    /// The open-loop rate of `scenario`.
    pub fn rate_of(&self, scenario: Scenario) -> u64 {
        self.rate.unwrap_or(scenario.targets().p99_rate)
    }
}

fn scenarios() -> anyhow::Result<Vec<Scenario>> {
    let Ok(names) = std::env::var("BENCH_SCENARIOS") else {
        return Ok(Scenario::ALL.to_vec());
    };
    names
        .split(',')
        .map(str::trim)
        .filter(|name| !name.is_empty())
        .map(|name| {
            Scenario::parse(name).with_context(|| {
                let known: Vec<_> = Scenario::ALL.iter().map(|s| s.name()).collect();
                format!(
                    "BENCH_SCENARIOS: unknown scenario {name:?} (known: {})",
                    known.join(", ")
                )
            })
        })
        .collect()
}

fn number(name: &str, default: u64) -> anyhow::Result<u64> {
    match std::env::var(name) {
        Ok(text) => text
            .trim()
            .parse()
            .with_context(|| format!("{name}={text:?} is not a whole number")),
        Err(_) => Ok(default),
    }
}

fn flag(name: &str) -> bool {
    std::env::var(name).is_ok_and(|value| !matches!(value.trim(), "" | "0" | "false" | "no"))
}
