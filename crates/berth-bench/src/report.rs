//! The results file (`results.json`) and its markdown rendering (`results.md`), with the
//! issue's targets judged against the medians of the same run.

use crate::concurrency::Round;
use crate::context::Arm;
use crate::exit::ArmExit;
use crate::launch::ArmLaunch;
use crate::procinfo::Host;
use crate::scale::ScaleResults;
use crate::stats::{ratio, Series, Summary};
use serde::Serialize;
use std::collections::BTreeMap;
use std::fmt::Write as _;

#[derive(Debug, Clone, Serialize)]
pub struct Machine {
    #[serde(flatten)]
    pub host: Host,
    pub engine_version: String,
    pub api_version: String,
    pub engine_platform: String,
}

#[derive(Debug, Serialize)]
pub struct Target {
    pub name: String,
    pub target: String,
    pub measured: String,
    /// `None` when the scenario did not run.
    pub met: Option<bool>,
}

#[derive(Debug, Default, Serialize)]
pub struct Results {
    pub command: String,
    pub started_unix_s: u64,
    pub duration_s: f64,
    pub machine: Option<Machine>,
    pub options: serde_json::Value,
    pub seed: u64,
    pub launch: Option<BTreeMap<Arm, ArmLaunch>>,
    pub exit_detection: Option<BTreeMap<Arm, ArmExit>>,
    pub concurrency: Option<Vec<Round>>,
    pub scale: Option<ScaleResults>,
    pub targets: Vec<Target>,
    pub errors: Vec<String>,
    pub interrupted: bool,
}

fn med(s: &Series) -> Option<f64> {
    s.median()
}

fn mean(s: &Series) -> Option<f64> {
    s.summary.as_ref().map(|s| s.mean)
}

fn fmt(v: Option<f64>, digits: usize) -> String {
    v.map_or("–".to_string(), |v| format!("{v:.digits$}"))
}

fn fmt_ratio(v: Option<f64>) -> String {
    v.map_or("–".to_string(), |v| format!("{v:.3}x"))
}

/// Median all-running and all-outcomes times of an arm's concurrency rounds.
fn round_medians(rounds: &[Round], arm: Arm) -> (Option<f64>, Option<f64>, usize, usize) {
    let of = |f: fn(&Round) -> f64| {
        let v: Vec<f64> = rounds.iter().filter(|r| r.arm == arm).map(f).collect();
        Summary::of(&v).map(|s| s.median)
    };
    let correct = rounds.iter().filter(|r| r.arm == arm).map(|r| r.correct).sum();
    let jobs = rounds.iter().filter(|r| r.arm == arm).map(|r| r.jobs).sum();
    (of(|r| r.all_running_s), of(|r| r.all_outcomes_s), correct, jobs)
}

impl Results {
    /// Judge the targets.
    pub fn judge(&mut self) {
        let mut targets = Vec::new();
        let launch = self.launch.as_ref();
        let raw = launch.and_then(|l| l.get(&Arm::Raw));
        let berth = launch.and_then(|l| l.get(&Arm::BerthSqlite));
        let r = match (raw, berth) {
            (Some(raw), Some(b)) => med(&raw.launch_ms)
                .zip(med(&b.launch_ms))
                .and_then(|(r, b)| ratio(b, r)),
            _ => None,
        };
        targets.push(Target {
            name: "launch latency, median berth/raw".into(),
            target: "<= 1.03x".into(),
            measured: fmt_ratio(r),
            met: r.map(|r| r <= 1.03),
        });
        let cpu = berth.and_then(|b| mean(&b.launch_cpu_ms));
        let child_cpu = self.scale.as_ref().and_then(|s| s.child_cpu_per_launch_ms);
        targets.push(Target {
            name: "launcher CPU per launch".into(),
            target: "<= 3 ms".into(),
            measured: format!(
                "{} ms in-process; {} ms in the launcher-only child",
                fmt(cpu, 2),
                fmt(child_cpu, 2)
            ),
            met: cpu
                .or(child_cpu)
                .map(|_| cpu.is_none_or(|c| c <= 3.0) && child_cpu.is_none_or(|c| c <= 3.0)),
        });
        let exit = self.exit_detection.as_ref();
        let detect = exit
            .and_then(|e| e.get(&Arm::BerthSqlite))
            .and_then(|e| med(&e.detect_ms));
        let raw_detect = exit
            .and_then(|e| e.get(&Arm::Raw))
            .and_then(|e| med(&e.detect_ms));
        targets.push(Target {
            name: "exit detection after FinishedAt, median".into(),
            target: "<= 50 ms".into(),
            measured: format!("{} ms (raw /wait: {} ms)", fmt(detect, 1), fmt(raw_detect, 1)),
            met: detect.map(|d| d <= 50.0),
        });
        if let Some(rounds) = &self.concurrency {
            let (raw_run, _, _, _) = round_medians(rounds, Arm::Raw);
            let (b_run, _, correct, jobs) = round_medians(rounds, Arm::BerthSqlite);
            let r = raw_run.zip(b_run).and_then(|(r, b)| ratio(b, r));
            targets.push(Target {
                name: "concurrent launches: all running, berth/raw".into(),
                target: "<= 1.05x, every outcome correct".into(),
                measured: format!("{}, {correct}/{jobs} correct", fmt_ratio(r)),
                met: r.map(|r| r <= 1.05 && correct == jobs),
            });
        }
        if let Some(scale) = &self.scale {
            let max_rss = scale.levels.iter().map(|l| l.rss_mib).fold(0.0, f64::max);
            let live: Vec<_> = scale.levels.iter().filter(|l| l.live_jobs > 0).collect();
            let constant = |f: fn(&crate::scale::Level) -> Option<u64>| {
                let v: Vec<Option<u64>> = live.iter().map(|l| f(l)).collect();
                v.windows(2).all(|w| w[0] == w[1])
            };
            let threads_const = constant(|l| Some(l.threads));
            let conns_const = constant(|l| l.engine_connections);
            let span = |f: fn(&crate::scale::Level) -> Option<u64>| {
                let v: Vec<String> = live
                    .iter()
                    .map(|l| f(l).map_or("?".into(), |x| x.to_string()))
                    .collect();
                v.join("/")
            };
            targets.push(Target {
                name: "launcher RSS, threads, engine connections from 1 to max live jobs".into(),
                target: "RSS <= 15 MiB; threads and connections constant".into(),
                measured: format!(
                    "max RSS {max_rss:.1} MiB; threads {}; connections {}",
                    span(|l| Some(l.threads)),
                    span(|l| l.engine_connections)
                ),
                met: Some(max_rss <= 15.0 && threads_const && conns_const),
            });
        }
        self.targets = targets;
    }

    pub fn markdown(&self) -> String {
        let mut md = String::new();
        let _ = writeln!(md, "# berth benchmark results\n");
        let _ = writeln!(md, "Command: `{}`\n", self.command);
        if let Some(m) = &self.machine {
            let _ = writeln!(
                md,
                "Machine: {} CPUs ({}), {} MiB RAM, kernel {}, {} {} (API {}). Run took {:.0} s; seed {}.\n",
                m.host.nproc,
                m.host.cpu_model,
                m.host.mem_total_mib,
                m.host.kernel,
                m.engine_platform,
                m.engine_version,
                m.api_version,
                self.duration_s,
                self.seed
            );
        }
        if self.interrupted {
            let _ = writeln!(md, "**Interrupted**: the figures below are partial.\n");
        }
        let _ = writeln!(md, "## Targets (medians, same run)\n");
        let _ = writeln!(md, "| target | goal | measured | met |\n|---|---|---|---|");
        for t in &self.targets {
            let met = match t.met {
                Some(true) => "yes",
                Some(false) => "**no**",
                None => "not run",
            };
            let _ = writeln!(md, "| {} | {} | {} | {met} |", t.name, t.target, t.measured);
        }
        if let Some(launch) = &self.launch {
            self.launch_table(&mut md, launch);
        }
        if let Some(exit) = &self.exit_detection {
            let _ = writeln!(
                md,
                "\n## Exit detection (ms after the container's `State.FinishedAt`)\n"
            );
            let _ = writeln!(
                md,
                "| arm | n | caller knows, median | p95 | die event reaches a subscriber, median | outcome recorded, median | CPU per job lifecycle, mean | failures |\n|---|---|---|---|---|---|---|---|"
            );
            for (arm, e) in exit {
                let recorded = if *arm == Arm::Raw {
                    "–".to_string()
                } else {
                    fmt(med(&e.recorded_ms), 0)
                };
                let _ = writeln!(
                    md,
                    "| {} | {} | {} | {} | {} | {} | {} | {} |",
                    arm.label(),
                    e.detect_ms.samples.len(),
                    fmt(med(&e.detect_ms), 1),
                    fmt(e.detect_ms.summary.as_ref().map(|s| s.p95), 1),
                    fmt(med(&e.die_event_ms), 1),
                    recorded,
                    fmt(mean(&e.lifecycle_cpu_ms), 2),
                    e.failures.len()
                );
            }
            let _ = writeln!(
                md,
                "\nberth: `JobHandle::wait` returns once the launcher recorded the outcome from the die event (the container is removed right after; checked off the clock); FinishedAt is read from the container. Raw: the engine's `/wait` answers. \"outcome recorded\" is on a millisecond clock."
            );
        }
        if let Some(rounds) = &self.concurrency {
            let _ = writeln!(md, "\n## Concurrency (jobs launched at once)\n");
            let _ = writeln!(
                md,
                "| arm | jobs | all running (s) | all outcomes known (s) | launch median / p95 (ms) | correct | ended before seen running | raw removal afterwards (s) |\n|---|---|---|---|---|---|---|---|"
            );
            for r in rounds {
                let _ = writeln!(
                    md,
                    "| {} | {} | {:.2} | {:.2} | {} / {} | {}/{} | {} | {} |",
                    r.arm.label(),
                    r.jobs,
                    r.all_running_s,
                    r.all_outcomes_s,
                    fmt(med(&r.launch_ms), 0),
                    fmt(r.launch_ms.summary.as_ref().map(|s| s.p95), 0),
                    r.correct,
                    r.jobs,
                    r.ended_before_running,
                    fmt(r.cleanup_s, 2)
                );
            }
            let (rr, ro, _, _) = round_medians(rounds, Arm::Raw);
            let (br, bo, _, _) = round_medians(rounds, Arm::BerthSqlite);
            let _ = writeln!(
                md,
                "\nMedian over rounds, berth/raw: all running {}, all outcomes {} (berth's outcomes include removing each container; raw removes afterwards, off the clock).",
                fmt_ratio(rr.zip(br).and_then(|(r, b)| ratio(b, r))),
                fmt_ratio(ro.zip(bo).and_then(|(r, b)| ratio(b, r)))
            );
        }
        if let Some(scale) = &self.scale {
            let _ = writeln!(
                md,
                "\n## Scale (launcher alone in a child process, `BlockingLauncher` + SQLite store)\n"
            );
            let _ = writeln!(
                md,
                "| live jobs | RSS (MiB) | peak RSS (MiB) | threads | engine connections | socket fds |\n|---|---|---|---|---|---|"
            );
            for l in &scale.levels {
                let _ = writeln!(
                    md,
                    "| {} | {:.1} | {:.1} | {} | {} | {} |",
                    l.live_jobs,
                    l.rss_mib,
                    l.peak_rss_mib,
                    l.threads,
                    l.engine_connections.map_or("?".into(), |c| c.to_string()),
                    l.socket_fds
                );
            }
            let _ = writeln!(
                md,
                "\nLevel 0: the launcher is built but has launched nothing (no engine contact yet). Engine connections: the process's unix sockets whose peer is the engine socket (`ss -xpn`); the socket fds also count the runtime's internal socket pair. Launcher-only CPU per launch over {} sequential launches (including the first launch's engine checks and building each plan): {} ms; the benchmark's own creation of each job folder, a site's work before the launch, took {} ms more per launch and is left out.",
                scale.launches,
                fmt(scale.child_cpu_per_launch_ms, 2),
                fmt(scale.child_folder_cpu_per_launch_ms, 3)
            );
        }
        if !self.errors.is_empty() {
            let _ = writeln!(md, "\n## Errors\n");
            for e in &self.errors {
                let _ = writeln!(md, "- {e}");
            }
        }
        md
    }

    fn launch_table(&self, md: &mut String, launch: &BTreeMap<Arm, ArmLaunch>) {
        let arms: Vec<Arm> = launch.keys().copied().collect();
        let _ = writeln!(
            md,
            "\n## Launch and terminate (sequential, arms interleaved at random)\n"
        );
        let mut header = "| metric |".to_string();
        let mut rule = "|---|".to_string();
        for a in &arms {
            let _ = write!(header, " {} |", a.label());
            rule.push_str("---|");
        }
        for a in arms.iter().filter(|a| **a != Arm::Raw) {
            let _ = write!(header, " {} / raw |", a.label());
            rule.push_str("---|");
        }
        let _ = writeln!(md, "{header}\n{rule}");
        type Pick = fn(&ArmLaunch) -> Option<f64>;
        let rows: [(&str, Pick, usize); 9] = [
            ("samples", |l| Some(l.launch_ms.samples.len() as f64), 0),
            ("launch -> running, median (ms)", |l| med(&l.launch_ms), 1),
            (
                "launch -> running, p95 (ms)",
                |l| l.launch_ms.summary.as_ref().map(|s| s.p95),
                1,
            ),
            ("CPU per launch, mean (ms)", |l| mean(&l.launch_cpu_ms), 2),
            ("CPU per launch, median (ms)", |l| med(&l.launch_cpu_ms), 2),
            ("terminate -> gone, median (ms)", |l| med(&l.terminate_ms), 1),
            (
                "terminate -> gone, p95 (ms)",
                |l| l.terminate_ms.summary.as_ref().map(|s| s.p95),
                1,
            ),
            ("CPU per terminate, mean (ms)", |l| mean(&l.terminate_cpu_ms), 2),
            ("failures", |l| Some(l.failures.len() as f64), 0),
        ];
        for (name, pick, digits) in rows {
            let _ = write!(md, "| {name} |");
            for a in &arms {
                let _ = write!(md, " {} |", fmt(pick(&launch[a]), digits));
            }
            let raw = launch.get(&Arm::Raw).and_then(pick);
            for a in arms.iter().filter(|a| **a != Arm::Raw) {
                let show = name.contains("median") || name.contains("p95") || name.contains("mean");
                let r = if show {
                    fmt_ratio(raw.zip(pick(&launch[a])).and_then(|(r, b)| ratio(b, r)))
                } else {
                    String::new()
                };
                let _ = write!(md, " {r} |");
            }
            let _ = writeln!(md);
        }
        let plan = launch.get(&Arm::BerthSqlite).and_then(|l| med(&l.plan_ms));
        let _ = writeln!(
            md,
            "\nPlans are built with berth-core before the clock starts (median `build_plan`: {} ms); every arm sends the same create body.",
            fmt(plan, 2)
        );
    }
}
