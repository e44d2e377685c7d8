//! What a process costs: CPU time, resident memory, threads and engine connections,
//! read from `getrusage` and `/proc`.

use serde::Serialize;
use std::collections::HashSet;
use std::time::Duration;

/// User + system CPU time of this process so far (all threads).
pub fn cpu_time() -> Duration {
    use nix::sys::resource::{getrusage, UsageWho};
    match getrusage(UsageWho::RUSAGE_SELF) {
        Ok(u) => timeval(u.user_time()) + timeval(u.system_time()),
        Err(_) => Duration::ZERO,
    }
}

/// CPU time of the calling thread so far.
pub fn thread_cpu_time() -> Duration {
    use nix::time::{clock_gettime, ClockId};
    match clock_gettime(ClockId::CLOCK_THREAD_CPUTIME_ID) {
        Ok(t) => Duration::new(t.tv_sec().max(0) as u64, t.tv_nsec().clamp(0, 999_999_999) as u32),
        Err(_) => Duration::ZERO,
    }
}

fn timeval(t: nix::sys::time::TimeVal) -> Duration {
    Duration::from_secs(t.tv_sec().max(0) as u64) + Duration::from_micros(t.tv_usec().max(0) as u64)
}

/// One look at a process's footprint.
#[derive(Debug, Clone, Default, PartialEq, Serialize, serde::Deserialize)]
pub struct Footprint {
    /// `VmRSS`, KiB.
    pub rss_kib: u64,
    /// `VmHWM` (peak RSS), KiB.
    pub peak_rss_kib: u64,
    pub threads: u64,
    /// Socket file descriptors the process holds.
    pub socket_fds: u64,
}

/// Read `/proc/self/status` and `/proc/self/fd`.
pub fn footprint() -> Footprint {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let field = |name: &str| -> u64 {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
    let socket_fds = std::fs::read_dir("/proc/self/fd")
        .map(|dir| {
            dir.filter_map(|e| e.ok())
                .filter_map(|e| std::fs::read_link(e.path()).ok())
                .filter(|target| target.to_string_lossy().starts_with("socket:"))
                .count() as u64
        })
        .unwrap_or(0);
    Footprint {
        rss_kib: field("VmRSS:"),
        peak_rss_kib: field("VmHWM:"),
        threads: field("Threads:"),
        socket_fds,
    }
}

/// Connections of process `pid` whose peer is the engine's socket (`…/docker.sock`), from
/// `ss -xpn`. `None` when `ss` is not available or fails.
pub fn engine_connections(pid: u32) -> Option<u64> {
    let out = std::process::Command::new("ss").args(["-xpn"]).output().ok()?;
    if !out.status.success() {
        return None;
    }
    Some(count_engine_connections(
        &String::from_utf8_lossy(&out.stdout),
        pid,
    ))
}

/// Parse `ss -xpn` output: rows are `netid state recv-q send-q local local-inode peer
/// peer-inode [users:(...)]`.
fn count_engine_connections(ss_output: &str, pid: u32) -> u64 {
    let rows: Vec<Vec<&str>> = ss_output
        .lines()
        .map(|l| l.split_whitespace().collect::<Vec<_>>())
        .filter(|f| f.len() >= 8)
        .collect();
    let engine_side: HashSet<&str> = rows
        .iter()
        .filter(|f| f[4].ends_with("/docker.sock"))
        .map(|f| f[5])
        .collect();
    let marker = format!("pid={pid},");
    rows.iter()
        .filter(|f| f[8..].iter().any(|u| u.contains(&marker)))
        .filter(|f| engine_side.contains(f[7]))
        .count() as u64
}

/// This host: CPUs, memory, kernel.
#[derive(Debug, Clone, Serialize)]
pub struct Host {
    pub nproc: usize,
    pub cpu_model: String,
    pub mem_total_mib: u64,
    pub kernel: String,
}

pub fn host() -> Host {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let cpu_model = cpuinfo
        .lines()
        .find_map(|l| l.strip_prefix("model name"))
        .and_then(|rest| rest.split_once(':'))
        .map(|(_, v)| v.trim().to_string())
        .unwrap_or_default();
    let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    let mem_kib: u64 = meminfo
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))
        .and_then(|r| r.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .map(|s| s.trim().to_string())
        .unwrap_or_default();
    Host {
        nproc: std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0),
        cpu_model,
        mem_total_mib: mem_kib / 1024,
        kernel,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn engine_connections_are_matched_by_peer_inode() {
        let ss = "\
Netid State Recv-Q Send-Q Local Address:Port Peer Address:Port Process
u_str ESTAB 0 0 /var/run/docker.sock 500 * 600 users:((\"dockerd\",pid=1,fd=30))
u_str ESTAB 0 0 * 600 * 500 users:((\"berth-bench\",pid=42,fd=9))
u_str ESTAB 0 0 /var/run/docker.sock 501 * 601 users:((\"dockerd\",pid=1,fd=31))
u_str ESTAB 0 0 * 601 * 501 users:((\"berth-bench\",pid=42,fd=10))
u_str ESTAB 0 0 /run/containerd.sock 700 * 701 users:((\"containerd\",pid=2,fd=3))
u_str ESTAB 0 0 * 701 * 700 users:((\"berth-bench\",pid=42,fd=11))
u_str ESTAB 0 0 * 602 * 502 users:((\"other\",pid=421,fd=9))
";
        assert_eq!(count_engine_connections(ss, 42), 2);
        assert_eq!(count_engine_connections(ss, 7), 0);
    }

    #[test]
    fn this_process_can_be_measured() {
        let f = footprint();
        assert!(f.rss_kib > 0 && f.threads >= 1);
        let before = cpu_time();
        let mut x = 0u64;
        for i in 0..2_000_000u64 {
            x = x.wrapping_mul(31).wrapping_add(i);
        }
        assert!(x != 1 || cpu_time() >= before);
    }
}
