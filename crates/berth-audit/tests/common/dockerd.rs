//! A dedicated Docker engine for tests that restart an engine: its own `dockerd` with its
//! own data root, exec root, pidfile, socket and config file (so the host's daemon.json is
//! not read), its own default bridge (an interface this helper creates, never `docker0`)
//! and no iptables rules, the `vfs` storage driver (nothing shared with the host engine's
//! storage), and a short shutdown timeout. The shared engine is never touched. Started and
//! removed by the test: dropping it stops the daemon, ends the containerd it started (found
//! by its own exec root, ended by pid), deletes its bridge and removes its folder.
//!
//! Not `--bridge=none`: a daemon started so deletes the host's `docker0` interface, which
//! belongs to the shared engine (its default-bridge containers then cannot start).
//!
//! Needs root and a `dockerd` binary; [`DedicatedEngine::start`] says why when it cannot
//! run, and the test is reported ignored (or, with `BERTH_REQUIRE_DOCKER=1`, failed).

use berth_engine::docker::DockerRuntime;
use berth_engine::ContainerRuntime;
use berth_testkit::Unavailable;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// How long a start or a stop of the daemon may take on a loaded 2-core machine.
const DAEMON_STEP: Duration = Duration::from_secs(90);

pub struct DedicatedEngine {
    dir: tempfile::TempDir,
    /// The default bridge of this engine: an interface of its own.
    bridge: String,
    live_restore: bool,
    daemon: Option<Child>,
}

impl DedicatedEngine {
    /// A running dedicated engine, or why none can run here (the harness then reports the
    /// test ignored, or failed with `BERTH_REQUIRE_DOCKER=1`).
    pub async fn start(live_restore: bool) -> Result<Self, Unavailable> {
        Self::try_start(live_restore)
            .await
            .map_err(|why| Unavailable(format!("no dedicated dockerd can run here ({why})")))
    }

    async fn try_start(live_restore: bool) -> Result<Self, String> {
        // Short paths: a unix socket path has a length limit.
        let dir = tempfile::Builder::new()
            .prefix("berth-dockerd-")
            .tempdir_in("/tmp")
            .map_err(|e| format!("temp dir: {e}"))?;
        std::fs::write(dir.path().join("daemon.json"), "{}\n").map_err(|e| e.to_string())?;
        let bridge = own_bridge()?;
        let mut engine = Self {
            dir,
            bridge,
            live_restore,
            daemon: None,
        };
        engine.spawn().await?;
        Ok(engine)
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// `unix://…` of the engine's socket.
    pub fn url(&self) -> String {
        format!("unix://{}", self.path("docker.sock").display())
    }

    pub fn runtime(&self) -> DockerRuntime {
        DockerRuntime::connect(&self.url()).expect("dedicated engine runtime")
    }

    async fn spawn(&mut self) -> Result<(), String> {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.path("dockerd.log"))
            .map_err(|e| e.to_string())?;
        let mut cmd = Command::new("dockerd");
        cmd.arg("--config-file")
            .arg(self.path("daemon.json"))
            .arg("--data-root")
            .arg(self.path("data"))
            .arg("--exec-root")
            .arg(self.path("exec"))
            .arg("--pidfile")
            .arg(self.path("docker.pid"))
            .arg("--host")
            .arg(self.url())
            .arg(format!("--bridge={}", self.bridge))
            .args([
                "--iptables=false",
                "--ip-masq=false",
                "--storage-driver=vfs",
                "--shutdown-timeout=3",
            ]);
        if self.live_restore {
            cmd.arg("--live-restore");
        }
        let child = cmd
            .stdin(Stdio::null())
            .stdout(log.try_clone().map_err(|e| e.to_string())?)
            .stderr(log)
            .spawn()
            .map_err(|e| format!("cannot run dockerd: {e}"))?;
        self.daemon = Some(child);
        let rt = self.runtime();
        let started = Instant::now();
        loop {
            if let Ok(Ok(_)) = tokio::time::timeout(Duration::from_secs(5), rt.ping()).await {
                return Ok(());
            }
            if let Some(Ok(Some(status))) = self.daemon.as_mut().map(Child::try_wait) {
                self.daemon = None;
                return Err(format!("dockerd exited with {status}: {}", self.log_tail()));
            }
            if started.elapsed() > DAEMON_STEP {
                self.stop_daemon();
                return Err(format!(
                    "dockerd did not answer within {DAEMON_STEP:?}: {}",
                    self.log_tail()
                ));
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    fn log_tail(&self) -> String {
        let log = std::fs::read_to_string(self.path("dockerd.log")).unwrap_or_default();
        let lines: Vec<&str> = log.lines().collect();
        lines[lines.len().saturating_sub(5)..].join(" | ")
    }

    /// SIGTERM to the daemon, as `systemctl stop docker` does; waits for it to exit
    /// (SIGKILL after [`DAEMON_STEP`]).
    fn stop_daemon(&mut self) {
        let Some(mut child) = self.daemon.take() else {
            return;
        };
        let _ = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status();
        let started = Instant::now();
        while started.elapsed() < DAEMON_STEP {
            if let Ok(Some(_)) = child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = child.kill();
        let _ = child.wait();
    }

    /// Stop the daemon and start it again on the same folders. Without live-restore the
    /// daemon stops its containers on the way down; with it they keep running.
    pub async fn restart(&mut self) -> Result<Duration, String> {
        let started = Instant::now();
        self.stop_daemon();
        self.spawn().await?;
        Ok(started.elapsed())
    }

    /// Processes (containerd, shims) still running from this engine's exec root.
    fn leftover_pids(&self) -> Vec<u32> {
        let marker = self.path("exec");
        let marker = marker.to_string_lossy();
        let Ok(entries) = std::fs::read_dir("/proc") else {
            return Vec::new();
        };
        entries
            .flatten()
            .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
            .filter(|pid| {
                std::fs::read(Path::new("/proc").join(pid.to_string()).join("cmdline"))
                    .map(|c| String::from_utf8_lossy(&c).contains(marker.as_ref()))
                    .unwrap_or(false)
            })
            .collect()
    }
}

/// A bridge interface for one dedicated engine: a name and a /24 of its own (10.213.x.0,
/// from the process id and a counter, so concurrent tests do not meet).
fn own_bridge() -> Result<String, String> {
    static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    let pid = std::process::id();
    let name = format!("bbr{}x{n}", pid % 100_000);
    let subnet = (pid.wrapping_add(n * 7) % 250) + 1;
    let ip = |args: &[&str]| -> Result<(), String> {
        let status = Command::new("ip")
            .args(args)
            .status()
            .map_err(|e| format!("cannot run ip: {e}"))?;
        if status.success() {
            Ok(())
        } else {
            Err(format!("ip {} failed: {status}", args.join(" ")))
        }
    };
    ip(&["link", "add", &name, "type", "bridge"])?;
    let configured = ip(&["addr", "add", &format!("10.213.{subnet}.1/24"), "dev", &name])
        .and_then(|()| ip(&["link", "set", &name, "up"]));
    if let Err(e) = configured {
        let _ = ip(&["link", "del", &name]);
        return Err(e);
    }
    Ok(name)
}

impl Drop for DedicatedEngine {
    fn drop(&mut self) {
        self.stop_daemon();
        // With live-restore the daemon leaves its containerd running on purpose.
        for pid in self.leftover_pids() {
            let _ = Command::new("kill").args(["-KILL", &pid.to_string()]).status();
        }
        // Mounts of the daemon's own (e.g. its exec root's netns files) would keep the
        // folder busy; unmount whatever is left under it.
        if let Ok(mounts) = std::fs::read_to_string("/proc/self/mounts") {
            let root = self.dir.path().to_string_lossy().to_string();
            let mut points: Vec<&str> = mounts
                .lines()
                .filter_map(|l| l.split_whitespace().nth(1))
                .filter(|p| p.starts_with(&root))
                .collect();
            points.sort_by_key(|p| std::cmp::Reverse(p.len()));
            for p in points {
                let _ = Command::new("umount").arg("-l").arg(p).status();
            }
        }
        let _ = Command::new("ip").args(["link", "del", &self.bridge]).status();
    }
}
