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
    #[serde(skip)]
    kind: Scenario,
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
    /// The peak against another scenario's in the same run (`cert_read` against `api_keys`).
    pub relative_throughput: Option<RelativeThroughput>,
    pub open_loop_p99_ms: f64,
    /// Whether the open loop served the offered rate without errors.
    pub open_loop_served: bool,
    /// The floor's open-loop p99 at the same rate, when there is one.
    pub floor_open_loop_p99_ms: Option<f64>,
    /// Latchkey's open-loop p99 minus the floor's: what Latchkey adds (for the proxy: to the
    /// provider's own answer).
    pub open_loop_p99_added_ms: Option<f64>,
    /// `None`: no p99 target; the p99 is reported.
    pub p99_target_ms: Option<f64>,
    /// Whether the target bounds the added p99 rather than Latchkey's own.
    pub p99_target_added: bool,
    pub p99_target_rate: u64,
    /// Served without errors (both targets, for an added p99) and p99 within target; `None` when
    /// there is no target or the run's rate is not the target's.
    pub p99_target_met: Option<bool>,
}

/// Latchkey's peak as a share of its peak in another scenario of the same run.
#[derive(Debug, Serialize)]
pub struct RelativeThroughput {
    pub scenario: &'static str,
    /// `None` when that scenario did not run (or has no Latchkey figures).
    pub percent: Option<f64>,
    pub target_percent: f64,
    pub target_met: Option<bool>,
}

impl ScenarioReport {
    /// Assembles one scenario's results and judges Latchkey's figures, if there are any.
    pub fn new(scenario: Scenario, rate: u64, response_bytes: usize, results: Vec<PhaseResult>) -> Self {
        let find = |target: &str, mode: Mode| results.iter().find(|r| r.target == target && r.mode == mode);
        let targets = scenario.targets();
        // A p99 only counts if the offered rate was actually served, without errors.
        let served =
            |open: &PhaseResult| open.errors == 0 && open.achieved_rps >= 0.99 * open.offered_rps.unwrap_or(0) as f64;
        let verdict = match (
            find("floor", Mode::Closed),
            find("latchkey", Mode::Closed),
            find("latchkey", Mode::Open),
        ) {
            (Some(floor), Some(latchkey), Some(open)) => {
                let percent = 100.0 * latchkey.achieved_rps / floor.achieved_rps.max(f64::MIN_POSITIVE);
                let floor_open = find("floor", Mode::Open);
                let added = floor_open.map(|floor| open.p99_ms - floor.p99_ms);
                let judged = match (targets.p99_added, added) {
                    (false, _) => Some(open.p99_ms),
                    (true, Some(added)) if floor_open.is_some_and(served) => Some(added),
                    // The floor's p99 is missing or was not served: nothing to subtract.
                    (true, _) => None,
                };
                let met = targets
                    .p99_ms
                    .map(|target| served(open) && judged.is_some_and(|p99| p99 <= target));
                Some(Verdict {
                    peak_rps: latchkey.achieved_rps,
                    throughput_percent_of_floor: percent,
                    throughput_target_percent: targets.throughput_percent_of_floor,
                    throughput_target_met: targets.throughput_percent_of_floor.map(|target| percent >= target),
                    relative_throughput: None,
                    open_loop_p99_ms: open.p99_ms,
                    open_loop_served: served(open),
                    floor_open_loop_p99_ms: floor_open.map(|floor| floor.p99_ms),
                    open_loop_p99_added_ms: added,
                    p99_target_ms: targets.p99_ms,
                    p99_target_added: targets.p99_added,
                    p99_target_rate: targets.p99_rate,
                    p99_target_met: met.filter(|_| rate == targets.p99_rate),
                })
            }
            _ => None,
        };
        Self {
            kind: scenario,
            scenario: scenario.name(),
            rate,
            response_bytes,
            results,
            verdict,
        }
    }

    /// Judges the peak against another scenario's in the same run, for a scenario whose target
    /// says so; `peaks` are every scenario's Latchkey peak.
    fn relate(&mut self, peaks: &[(Scenario, f64)]) {
        let (Some(verdict), Some((other, target))) = (
            self.verdict.as_mut(),
            self.kind.targets().throughput_percent_of_scenario,
        ) else {
            return;
        };
        let percent = peaks
            .iter()
            .find(|(scenario, _)| *scenario == other)
            .map(|(_, peak)| 100.0 * verdict.peak_rps / peak.max(f64::MIN_POSITIVE));
        verdict.relative_throughput = Some(RelativeThroughput {
            scenario: other.name(),
            percent,
            target_percent: target,
            target_met: percent.map(|percent| percent >= target),
        });
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
        if let Some(relative) = &v.relative_throughput {
            let other = relative.scenario;
            let target = relative.target_percent;
            out += &match (relative.percent, relative.target_met) {
                (Some(percent), Some(met)) => format!(
                    "latchkey peak = {percent:.0}% of its {other} peak in this run (target >= {target:.0}%: {})\n",
                    yes_no(met)
                ),
                _ => format!("the target is >= {target:.0}% of {other}'s peak: run {other} too to judge it\n"),
            };
        }
        let served = if v.open_loop_served {
            ""
        } else {
            ", the rate was NOT served without errors"
        };
        let p99 = match (v.p99_target_added, v.floor_open_loop_p99_ms, v.open_loop_p99_added_ms) {
            (true, Some(floor), Some(added)) => format!(
                "latchkey p99 at {} rps = {:.3} ms{served}, the floor's {floor:.3} ms: {added:.3} ms added",
                self.rate, v.open_loop_p99_ms
            ),
            _ => format!(
                "latchkey p99 at {} rps = {:.3} ms{served}",
                self.rate, v.open_loop_p99_ms
            ),
        };
        let what = if v.p99_target_added { " added" } else { "" };
        out += &match (v.p99_target_ms, v.p99_target_met) {
            (None, _) => format!("{p99} (no p99 target: reported)\n"),
            (Some(target), Some(met)) => format!(
                "{p99} (target <= {target} ms{what}, served without errors: {})\n",
                yes_no(met)
            ),
            (Some(_), None) => format!(
                "{p99} (the target applies at {} rps: not judged on this run)\n",
                v.p99_target_rate
            ),
        };
        out
    }
}

impl Report {
    pub fn new(
        config: &BenchConfig,
        machine: Machine,
        system: Option<&str>,
        mut scenarios: Vec<ScenarioReport>,
    ) -> Self {
        let peaks: Vec<(Scenario, f64)> = scenarios
            .iter()
            .filter_map(|report| Some((report.kind, report.verdict.as_ref()?.peak_rps)))
            .collect();
        for report in &mut scenarios {
            report.relate(&peaks);
        }
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
