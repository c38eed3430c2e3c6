//! The report: a markdown table per scenario on stdout, a verdict against the issues' targets
//! (reported, never enforced), and the same as JSON with the machine it ran on.

use std::path::PathBuf;
use std::process::Command;

use anyhow::Context;
use serde::Serialize;

use crate::config::BenchConfig;
use crate::scenario::Scenario;
use crate::stats::{Mode, PhaseResult};

/// Everything one run produced.
#[derive(Debug, Serialize)]
pub struct Report {
    pub machine: Machine,
    pub seconds: u64,
    pub warmup_seconds: u64,
    pub connections: usize,
    pub client_threads: usize,
    /// `BENCH_LATCHKEY_BIN` when set: then `machine.git_commit` need not be what Latchkey was built from.
    pub latchkey_binary: Option<String>,
    /// What ran Latchkey (`latchkey dev`, or the mesh of `latchkey serve` processes); `None` when
    /// only the floor was measured.
    pub system: Option<String>,
    pub scenarios: Vec<ScenarioReport>,
}

/// One scenario's phases and verdict.
#[derive(Debug, Serialize)]
pub struct ScenarioReport {
    pub scenario: &'static str,
    /// The open loop's offered rate.
    pub rate: u64,
    /// Size of the benchmarked response body.
    pub response_bytes: usize,
    pub results: Vec<PhaseResult>,
    pub verdict: Option<Verdict>,
}

/// Where the figures come from.
#[derive(Debug, Serialize)]
pub struct Machine {
    pub cpus: usize,
    pub cpu_model: String,
    pub memory_gib: f64,
    pub rustc: String,
    pub kernel: String,
    /// The checkout's commit, `-dirty` when it has uncommitted changes.
    pub git_commit: String,
    /// 1-minute load average when the run started (it still counts the build `cargo bench` just did).
    pub load_average_at_start: f64,
    /// Share of all CPUs busy during the second before the run started: anything well above 0
    /// means other work shared the CPUs and the figures are pessimistic.
    pub cpu_busy_percent_before_start: f64,
}

/// Latchkey against the scenario's targets.
#[derive(Debug, Serialize)]
pub struct Verdict {
    /// Closed-loop requests/s: the peak this machine served.
    pub peak_rps: f64,
    pub throughput_percent_of_floor: f64,
    pub throughput_target_percent: Option<f64>,
    pub throughput_target_met: Option<bool>,
    pub open_loop_p99_ms: f64,
    /// Whether the open loop served the offered rate without errors.
    pub open_loop_served: bool,
    pub p99_target_ms: f64,
    pub p99_target_rate: u64,
    /// Served without errors and p99 within target; `None` when the run's rate is not the target's.
    pub p99_target_met: Option<bool>,
}

impl ScenarioReport {
    /// Assembles one scenario's results and judges Latchkey's figures, if there are any.
    pub fn new(scenario: Scenario, rate: u64, response_bytes: usize, results: Vec<PhaseResult>) -> Self {
        let find = |target: &str, mode: Mode| results.iter().find(|r| r.target == target && r.mode == mode);
        let targets = scenario.targets();
        let verdict = match (
            find("floor", Mode::Closed),
            find("latchkey", Mode::Closed),
            find("latchkey", Mode::Open),
        ) {
            (Some(floor), Some(latchkey), Some(open)) => {
                let percent = 100.0 * latchkey.achieved_rps / floor.achieved_rps.max(f64::MIN_POSITIVE);
                // A p99 only counts if the offered rate was actually served, without errors.
                let served = open.errors == 0 && open.achieved_rps >= 0.99 * open.offered_rps.unwrap_or(0) as f64;
                Some(Verdict {
                    peak_rps: latchkey.achieved_rps,
                    throughput_percent_of_floor: percent,
                    throughput_target_percent: targets.throughput_percent_of_floor,
                    throughput_target_met: targets.throughput_percent_of_floor.map(|target| percent >= target),
                    open_loop_p99_ms: open.p99_ms,
                    open_loop_served: served,
                    p99_target_ms: targets.p99_ms,
                    p99_target_rate: targets.p99_rate,
                    p99_target_met: (rate == targets.p99_rate).then_some(served && open.p99_ms <= targets.p99_ms),
                })
            }
            _ => None,
        };
        Self {
            scenario: scenario.name(),
            rate,
            response_bytes,
            results,
            verdict,
        }
    }

    fn to_markdown(&self) -> String {
        let mut out = format!(
            "### {} (response body {} bytes)\n\n\
             | target | mode | rate | conns | achieved rps | p50 ms | p99 ms | p99.9 ms | max ms | errors |\n\
             |---|---|---|---|---|---|---|---|---|---|\n",
            self.scenario, self.response_bytes
        );
        for r in &self.results {
            let (mode, rate) = match (r.mode, r.offered_rps) {
                (Mode::Open, Some(rate)) => ("open", rate.to_string()),
                _ => ("closed", "max".to_owned()),
            };
            let errors = match r.errors {
                0 => "0".to_owned(),
                n => format!(
                    "{n} ({})",
                    r.error_kinds
                        .iter()
                        .map(|(k, c)| format!("{k}: {c}"))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            };
            out += &format!(
                "| {} | {mode} | {rate} | {} | {:.0} | {:.3} | {:.3} | {:.3} | {:.3} | {errors} |\n",
                r.target, r.connections, r.achieved_rps, r.p50_ms, r.p99_ms, r.p999_ms, r.max_ms
            );
        }
        out += "\n";
        for r in &self.results {
            if let (Some(p99), Some(max)) = (r.send_lag_p99_ms, r.send_lag_max_ms) {
                out += &format!(
                    "{} open loop: the generator's own send lag p99 {p99:.3} ms, max {max:.3} ms (included above)\n",
                    r.target
                );
            }
        }
        let Some(v) = &self.verdict else {
            out += "no Latchkey figures in this run (BENCH_ONLY_FLOOR), so no verdict\n";
            return out;
        };
        let yes_no = |met: bool| if met { "met" } else { "NOT met" };
        out += &format!(
            "latchkey peak {:.0} rps = {:.0}% of the floor",
            v.peak_rps, v.throughput_percent_of_floor
        );
        out += &match (v.throughput_target_percent, v.throughput_target_met) {
            (Some(target), Some(met)) => format!(" (target >= {target:.0}%: {})\n", yes_no(met)),
            _ => "\n".to_owned(),
        };
        let served = if v.open_loop_served {
            ""
        } else {
            ", the rate was NOT served without errors"
        };
        out += &match v.p99_target_met {
            Some(met) => format!(
                "latchkey p99 at {} rps = {:.3} ms{served} (target <= {} ms, served without errors: {})\n",
                self.rate,
                v.open_loop_p99_ms,
                v.p99_target_ms,
                yes_no(met)
            ),
            None => format!(
                "latchkey p99 at {} rps = {:.3} ms{served} (the target applies at {} rps: not judged on this run)\n",
                self.rate, v.open_loop_p99_ms, v.p99_target_rate
            ),
        };
        out
    }
}

impl Report {
    pub fn new(config: &BenchConfig, machine: Machine, system: Option<&str>, scenarios: Vec<ScenarioReport>) -> Self {
        Self {
            system: system.map(str::to_owned),
            machine,
            seconds: config.measure.as_secs(),
            warmup_seconds: config.warmup.as_secs(),
            connections: config.connections,
            client_threads: config.client_threads,
            latchkey_binary: std::env::var("BENCH_LATCHKEY_BIN").ok(),
            scenarios,
        }
    }

    /// The human-readable report.
    pub fn to_markdown(&self) -> String {
        let m = &self.machine;
        let mut out = format!(
            "machine: {} CPUs ({}), {:.1} GiB, {}, Linux {}, commit {}\n\
             before the run: CPUs {:.0}% busy, load average {:.2}\n\
             measured {} s per phase after {} s warm-up; generator on {} thread(s)\n\n",
            m.cpus,
            m.cpu_model,
            m.memory_gib,
            m.rustc,
            m.kernel,
            m.git_commit,
            m.cpu_busy_percent_before_start,
            m.load_average_at_start,
            self.seconds,
            self.warmup_seconds,
            self.client_threads
        );
        if let Some(system) = &self.system {
            out.insert_str(0, &format!("system under test: {system}\n"));
        }
        if let Some(binary) = &self.latchkey_binary {
            out.insert_str(0, &format!("latchkey binary: {binary} (BENCH_LATCHKEY_BIN)\n"));
        }
        for scenario in &self.scenarios {
            out += &scenario.to_markdown();
            out += "\n";
        }
        out
    }

    /// Writes the JSON report to `<target dir>/bench/http_load.json` and returns its path.
    pub fn write_json(&self) -> anyhow::Result<PathBuf> {
        let path = output_dir()?.join("http_load.json");
        std::fs::write(&path, serde_json::to_vec_pretty(self)?)
            .with_context(|| format!("writing {}", path.display()))?;
        Ok(path)
    }
}

/// `<target dir>/bench`, created if missing: where the run's outputs are kept.
pub fn output_dir() -> anyhow::Result<PathBuf> {
    let dir = target_dir().join("bench");
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    Ok(dir)
}

/// `$CARGO_TARGET_DIR`, else the target directory this binary was built into
/// (`<target>/release/deps/http_load-…`), else `./target`.
fn target_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("CARGO_TARGET_DIR") {
        return PathBuf::from(dir);
    }
    std::env::current_exe()
        .ok()
        .and_then(|exe| exe.ancestors().nth(3).map(PathBuf::from))
        .unwrap_or_else(|| PathBuf::from("target"))
}

impl Machine {
    /// Describes this machine and how busy it is right now (takes a second to measure that).
    pub async fn probe() -> Self {
        let before = cpu_times();
        tokio::time::sleep(std::time::Duration::from_secs(1)).await;
        let after = cpu_times();
        let cpu_busy_percent_before_start = match (before, after) {
            (Some((busy0, total0)), Some((busy1, total1))) if total1 > total0 => {
                100.0 * (busy1.saturating_sub(busy0)) as f64 / (total1 - total0) as f64
            }
            _ => f64::NAN,
        };
        let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
        let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
        let field = |text: &str, name: &str| {
            text.lines()
                .find(|line| line.starts_with(name))
                .and_then(|line| line.split_once(':'))
                .map(|(_, value)| value.trim().to_owned())
        };
        let memory_kib: f64 = field(&meminfo, "MemTotal")
            .and_then(|value| value.trim_end_matches("kB").trim().parse().ok())
            .unwrap_or(0.0);
        Self {
            cpus: std::thread::available_parallelism().map_or(0, usize::from),
            cpu_model: field(&cpuinfo, "model name").unwrap_or_else(|| "unknown".to_owned()),
            memory_gib: memory_kib / (1024.0 * 1024.0),
            rustc: command_output("rustc", &["--version"]),
            kernel: std::fs::read_to_string("/proc/sys/kernel/osrelease")
                .map_or_else(|_| "unknown".to_owned(), |s| s.trim().to_owned()),
            git_commit: command_output("git", &["describe", "--always", "--dirty", "--abbrev=7"]),
            load_average_at_start: std::fs::read_to_string("/proc/loadavg")
                .ok()
                .and_then(|text| text.split_whitespace().next().and_then(|first| first.parse().ok()))
                .unwrap_or(f64::NAN),
            cpu_busy_percent_before_start,
        }
    }
}

/// (busy, total) jiffies over all CPUs from the first line of /proc/stat; idle and iowait are
/// the not-busy part.
fn cpu_times() -> Option<(u64, u64)> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    let fields: Vec<u64> = stat
        .lines()
        .next()?
        .split_whitespace()
        .skip(1)
        .filter_map(|f| f.parse().ok())
        .collect();
    let total: u64 = fields.iter().take(8).sum();
    let idle = fields.get(3)? + fields.get(4).copied().unwrap_or(0);
    Some((total.saturating_sub(idle), total))
}

fn command_output(program: &str, args: &[&str]) -> String {
    Command::new(program)
        .args(args)
        .output()
        .ok()
        .filter(|output| output.status.success())
        .map_or_else(
            || "unknown".to_owned(),
            |output| String::from_utf8_lossy(&output.stdout).trim().to_owned(),
        )
}
