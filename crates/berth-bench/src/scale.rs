//! Scale: what the launcher process costs with 1, 10, 100, 200 live jobs.
//!
//! The launcher runs alone in a child process (this binary's hidden `scale-child` command)
//! through [`BlockingLauncher`], as berth's CLI and Python package run it, so the figures
//! hold nothing of the benchmark itself. The child launches jobs one after another up to
//! each level, lets the process settle, reports its footprint on stdout and waits for the
//! parent (which counts its engine connections with `ss`) to say go on.

use crate::procinfo::{cpu_time, engine_connections, footprint, Footprint};
use crate::site::{Planner, SiteNames};
use anyhow::{bail, Context};
use berth_engine::docker::DockerRuntime;
use berth_launcher::{BlockingLauncher, LauncherSettings};
use berth_store::SqliteStore;
use serde::{Deserialize, Serialize};
use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How long the child idles at a level before it measures.
const SETTLE: Duration = Duration::from_secs(2);

/// One level as the child reports it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ChildLevel {
    pub live_jobs: usize,
    pub footprint: Footprint,
    /// Process CPU since the launcher was built, ms.
    pub cpu_ms: f64,
    /// Of which the benchmark's own creation of job folders, ms.
    #[serde(default)]
    pub folder_cpu_ms: f64,
    /// Launches so far.
    pub launches: usize,
    /// Wall time of the launches made to reach this level, s.
    pub launch_wall_s: f64,
}

/// One level as reported.
#[derive(Debug, Clone, Serialize)]
pub struct Level {
    pub live_jobs: usize,
    pub rss_mib: f64,
    pub peak_rss_mib: f64,
    pub threads: u64,
    pub socket_fds: u64,
    /// Connections whose peer is the engine socket (`ss -xpn`); `None` without `ss`.
    pub engine_connections: Option<u64>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ScaleResults {
    pub levels: Vec<Level>,
    /// The launcher process's CPU per launch over all its sequential launches, ms
    /// (includes building each plan and handling the start events of its own jobs; not
    /// the benchmark's creation of job folders).
    pub child_cpu_per_launch_ms: Option<f64>,
    /// The benchmark's creation of a job folder, CPU per launch, ms (left out above).
    pub child_folder_cpu_per_launch_ms: Option<f64>,
    pub launches: usize,
}

/// The levels measured for a maximum: 0 (launcher built, nothing launched), then 1, 10,
/// 100, 200 up to `max`, and `max` itself.
pub fn levels(max: usize) -> Vec<usize> {
    let mut l: Vec<usize> = [0, 1, 10, 100, 200].into_iter().filter(|n| *n <= max).collect();
    if !l.contains(&max) {
        l.push(max);
    }
    l
}

/// Kills the child if the parent leaves early.
struct ChildGuard(Child);

impl Drop for ChildGuard {
    fn drop(&mut self) {
        if matches!(self.0.try_wait(), Ok(None)) {
            let _ = self.0.kill();
        }
        let _ = self.0.wait();
    }
}

/// Parent side. Blocking: run it on a blocking thread.
pub fn run(names: &SiteNames, max: usize) -> anyhow::Result<ScaleResults> {
    let exe = std::env::current_exe().context("cannot find this program to start the scale child")?;
    let child = Command::new(exe)
        .args(["scale-child", "--names", &serde_json::to_string(names)?])
        .arg("--levels")
        .arg(
            levels(max)
                .iter()
                .map(usize::to_string)
                .collect::<Vec<_>>()
                .join(","),
        )
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .context("cannot start the scale child")?;
    let mut guard = ChildGuard(child);
    let pid = guard.0.id();
    let stdout = guard.0.stdout.take().context("child stdout")?;
    let mut stdin: ChildStdin = guard.0.stdin.take().context("child stdin")?;
    let mut reports = Vec::new();
    for line in BufReader::new(stdout).lines() {
        let line = line?;
        let Some(json) = line.strip_prefix("level ") else {
            continue;
        };
        let level: ChildLevel = serde_json::from_str(json).context("scale child report")?;
        let conns = engine_connections(pid);
        eprintln!(
            "  scale: {:>3} live jobs: RSS {:.1} MiB, {} threads, {} engine connections ({} socket fds)",
            level.live_jobs,
            level.footprint.rss_kib as f64 / 1024.0,
            level.footprint.threads,
            conns.map_or("?".to_string(), |c| c.to_string()),
            level.footprint.socket_fds
        );
        reports.push((level, conns));
        writeln!(stdin, "go")?;
    }
    let status = guard.0.wait()?;
    if !status.success() {
        bail!("the scale child failed ({status})");
    }
    let first = reports.first().map(|(l, _)| l.clone());
    let last = reports.last().map(|(l, _)| l.clone());
    let child_cpu_per_launch_ms = match (first, last) {
        (Some(a), Some(b)) if b.launches > a.launches => {
            // Includes the idle settle pauses (an idle launcher should cost nothing there)
            // and building each plan; not the benchmark creating job folders, which a
            // site does before it launches.
            let launches = (b.launches - a.launches) as f64;
            let folders = b.folder_cpu_ms - a.folder_cpu_ms;
            Some(((b.cpu_ms - a.cpu_ms - folders) / launches, folders / launches))
        }
        _ => None,
    };
    let child_folder_cpu_per_launch_ms = child_cpu_per_launch_ms.map(|(_, f)| f);
    let child_cpu_per_launch_ms = child_cpu_per_launch_ms.map(|(c, _)| c);
    let launches = reports.last().map_or(0, |(l, _)| l.launches);
    Ok(ScaleResults {
        levels: reports
            .into_iter()
            .map(|(l, conns)| Level {
                live_jobs: l.live_jobs,
                rss_mib: l.footprint.rss_kib as f64 / 1024.0,
                peak_rss_mib: l.footprint.peak_rss_kib as f64 / 1024.0,
                threads: l.footprint.threads,
                socket_fds: l.footprint.socket_fds,
                engine_connections: conns,
            })
            .collect(),
        child_cpu_per_launch_ms,
        child_folder_cpu_per_launch_ms,
        launches,
    })
}

/// Child side: only the launcher, its store and the plans.
pub fn child_main(names_json: &str, levels: &str) -> anyhow::Result<()> {
    let names: SiteNames = serde_json::from_str(names_json).context("--names")?;
    let levels: Vec<usize> = levels
        .split(',')
        .map(|s| s.trim().parse())
        .collect::<Result<_, _>>()
        .context("--levels")?;
    let planner = Planner::new(&names, "scale")?;
    let rt = DockerRuntime::from_env()?;
    let (store, _) = SqliteStore::open(&names.workspace.join("scale-state.db"))?;
    let mut settings = LauncherSettings::new(&names.site);
    settings.network = names.network.clone();
    let launcher = BlockingLauncher::new(Arc::new(rt), settings, Arc::new(store))?;
    let cpu0 = cpu_time();
    let mut handles = Vec::new();
    let mut stdin = std::io::stdin().lock();
    for level in levels {
        let t = Instant::now();
        while handles.len() < level {
            let (plan, _) = planner.plan("sleep 3600")?;
            let handle = launcher.launch(plan)?;
            if let Some(code) = handle.terminal_state() {
                bail!("job {} ended at launch: {code:?}", handle.job_id());
            }
            handles.push(handle);
        }
        let launch_wall_s = t.elapsed().as_secs_f64();
        std::thread::sleep(SETTLE);
        let cpu_ms = (cpu_time() - cpu0).as_secs_f64() * 1e3;
        let report = ChildLevel {
            live_jobs: handles.len(),
            footprint: footprint(),
            cpu_ms,
            folder_cpu_ms: planner.folder_cpu().as_secs_f64() * 1e3,
            launches: handles.len(),
            launch_wall_s,
        };
        println!("level {}", serde_json::to_string(&report)?);
        std::io::stdout().flush()?;
        let mut line = String::new();
        if stdin.read_line(&mut line)? == 0 {
            break;
        }
    }
    // The parent removes the containers by label, faster than terminating one by one.
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels_follow_the_maximum() {
        assert_eq!(levels(200), vec![0, 1, 10, 100, 200]);
        assert_eq!(levels(20), vec![0, 1, 10, 20]);
        assert_eq!(levels(1), vec![0, 1]);
    }
}
