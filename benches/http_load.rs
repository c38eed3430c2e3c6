//! HTTP load benchmark: each scenario's request (issue 2: an authenticated `GET /v1/api-keys`;
//! issue 3: `POST /v1/tokens/verify`, and `POST /v1/tokens` under one active allow policy; issue 4:
//! `POST /tokens/fetch`; issue 17: the same list with certificate JWTs, `/ai/context/summary`, MCP's
//! `fetch_token`, the credential proxy) against `latchkey dev` (or, with `BENCH_MESH=postgres`, the
//! mesh of `latchkey serve` processes on PostgreSQL and NATS), beside the same generator against a
//! bare axum handler answering the same bytes (the floor; for the proxy, the provider it forwards
//! to, called directly), in the same run. Run with `cargo bench --bench http_load` (or `make
//! bench`); knobs and method are described in docs/benchmarks.md. It reports; it never fails on its
//! figures.

// Tests and benchmarks start their own helpers (receivers, fake peers, a service under test) with
// `tokio::spawn` and await or abort the handles themselves; `latchkey_server::Tasks` (which
// clippy.toml makes the only way in the crates' own code) is for what a service runs.
#![allow(clippy::disallowed_methods)]

#[path = "http_load/certificates.rs"]
mod certificates;
#[path = "http_load/children.rs"]
mod children;
#[path = "http_load/client.rs"]
mod client;
#[path = "http_load/closed_loop.rs"]
mod closed_loop;
#[path = "http_load/config.rs"]
mod config;
#[path = "http_load/floor.rs"]
mod floor;
#[path = "http_load/latchkey.rs"]
mod latchkey;
#[path = "http_load/mcp.rs"]
mod mcp;
#[path = "http_load/oauth_peer.rs"]
mod oauth_peer;
#[path = "http_load/open_loop.rs"]
mod open_loop;
#[path = "http_load/pacer.rs"]
mod pacer;
#[path = "http_load/report.rs"]
mod report;
#[path = "http_load/scenario.rs"]
mod scenario;
#[path = "http_load/stats.rs"]
mod stats;
#[path = "http_load/upstream.rs"]
mod upstream;

use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::anyhow;

use crate::client::Target;
use crate::config::BenchConfig;
use crate::report::{Machine, Report, ScenarioReport};
use crate::scenario::{Request, Scenario};
use crate::stats::PhaseResult;

fn main() -> ExitCode {
    // Re-executed by `floor::spawn`: be the floor server, nothing else.
    if let Ok(port) = std::env::var(floor::PORT_ENV) {
        return floor::serve_from_env(&port);
    }
    // `cargo test --all-targets` runs bench binaries too, without `--bench`: a load test has no
    // place in the test suite, so say how to run it and leave.
    if !std::env::args().any(|arg| arg == "--bench") {
        println!("http_load: skipped; run it with `cargo bench --bench http_load` (or `make bench`)");
        return ExitCode::SUCCESS;
    }
    match benchmark() {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("http_load: {error:#}");
            ExitCode::FAILURE
        }
    }
}

fn benchmark() -> anyhow::Result<()> {
    let config = BenchConfig::from_env()?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(config.client_threads)
        .enable_all()
        .build()?;
    let outcome = runtime.block_on(async {
        tokio::select! {
            result = run(&config) => result,
            // Dropping `run` drops its child guards, which kill the servers.
            _ = tokio::signal::ctrl_c() => Err(anyhow!("interrupted")),
        }
    });
    runtime.shutdown_timeout(Duration::from_secs(1));
    outcome
}

async fn run(config: &BenchConfig) -> anyhow::Result<()> {
    // Before anything of ours runs, so the load average shows only what else the machine was doing.
    let machine = Machine::probe().await;
    if machine.cpu_busy_percent_before_start > 10.0 {
        let busy = machine.cpu_busy_percent_before_start;
        eprintln!("warning: the CPUs were {busy:.0}% busy before the run: other work will skew the figures");
    }
    let work_dir = tempfile::tempdir()?;
    let mut scenarios = Vec::new();
    let mut system = None;
    if config.only_floor {
        eprintln!("BENCH_ONLY_FLOOR: benchmarking the floor alone, with a synthetic body");
        let sample = latchkey::synthetic_sample();
        let request = Request::get("/v1/api-keys");
        let rate = config.rate_of(Scenario::ApiKeys);
        let results = measure_floor(&request, &sample, "lk_live_floor_only", work_dir.path(), rate, config).await?;
        scenarios.push(ScenarioReport::new(
            Scenario::ApiKeys,
            rate,
            sample.body.len(),
            results.to_vec(),
        ));
    } else {
        eprintln!("starting latchkey…");
        let with_upstream = config.scenarios.contains(&Scenario::Proxy);
        let latchkey = latchkey::start(work_dir.path(), config.mesh, with_upstream).await?;
        eprintln!("system under test: {}", latchkey.system);
        system = Some(latchkey.system);
        for &scenario in &config.scenarios {
            let rate = config.rate_of(scenario);
            let request = scenario.prepare(&latchkey, config).await?;
            let sample = latchkey.sample(&request).await?;
            eprintln!("== {}", scenario.name());
            let floor = match request.direct() {
                // The proxy's floor is the provider it forwards to, asked directly.
                Some((addr, direct)) => {
                    let target = Target::new("floor".to_owned(), addr, &direct, &latchkey.api_key)?;
                    measure(Arc::new(target), rate, config).await?
                }
                None => measure_floor(&request, &sample, &latchkey.api_key, work_dir.path(), rate, config).await?,
            };
            let mut results = floor.to_vec();
            let target = Arc::new(Target::new(
                "latchkey".to_owned(),
                children::loopback(latchkey.port),
                &request,
                &latchkey.api_key,
            )?);
            results.extend(measure(Arc::clone(&target), rate, config).await?);
            if target.used_up_authorizations() {
                eprintln!(
                    "warning: {} used up its {} single-use credentials: the requests after them were refused",
                    scenario.name(),
                    request.authorizations.len()
                );
            }
            scenarios.push(ScenarioReport::new(scenario, rate, sample.body.len(), results));
        }
        // The work directory goes away with this run; keep the server's output for diagnosis.
        let kept = report::output_dir()?.join("http_load-latchkey.log");
        std::fs::copy(&latchkey.log, &kept)?;
        eprintln!("latchkey's output: {}", kept.display());
    }

    let report = Report::new(config, machine, system, scenarios);
    println!("{}", report.to_markdown());
    println!("JSON: {}", report.write_json()?.display());
    Ok(())
}

/// The floor answering `sample` to `request`, both phases; it stops before Latchkey is measured,
/// so it takes no CPU then.
async fn measure_floor(
    request: &Request,
    sample: &latchkey::Sample,
    api_key: &str,
    work_dir: &std::path::Path,
    rate: u64,
    config: &BenchConfig,
) -> anyhow::Result<[PhaseResult; 2]> {
    let floor = floor::spawn(&sample.body, &sample.content_type, work_dir).await?;
    let target = Target::new("floor".to_owned(), children::loopback(floor.port), request, api_key)?;
    measure(Arc::new(target), rate, config).await
}

/// Both phases against one target: closed loop for throughput, then open loop for latency.
async fn measure(target: Arc<Target>, rate: u64, config: &BenchConfig) -> anyhow::Result<[PhaseResult; 2]> {
    let (warmup, measure) = (config.warmup, config.measure);
    eprintln!(
        "{}: closed loop, {} connections, {warmup:?} warm-up + {measure:?}",
        target.name, config.connections
    );
    let closed = closed_loop::run(Arc::clone(&target), config.connections, warmup, measure).await;
    eprintln!(
        "{}: open loop at {} rps, {warmup:?} warm-up + {measure:?}",
        target.name, rate
    );
    let open = open_loop::run(target, rate, config.connections, warmup, measure).await?;
    Ok([closed, open])
}
