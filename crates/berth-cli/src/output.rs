//! The JSON shapes berth prints for jobs and outcomes.

use berth_core::JobReturnCode;
use berth_store::{HistoryEntry, JobOutcome};
use serde_json::{json, Value};

pub use berth_launcher::report::outcome_json;

/// A job line: who, where, and its state or outcome.
pub fn job_json(
    site: &str,
    job_id: &str,
    container_id: &str,
    container_name: &str,
    state: &str,
    outcome: Option<&JobOutcome>,
) -> Value {
    json!({
        "site": site,
        "job_id": job_id,
        "container_id": container_id,
        "container_name": container_name,
        "state": state,
        "outcome": outcome.map(outcome_json),
    })
}

/// A history row for `ps --all --json`.
pub fn history_json(entry: &HistoryEntry) -> Value {
    let l = &entry.launch;
    json!({
        "job_id": l.job_id,
        "site": l.site,
        "role": l.role.as_str(),
        "image": l.image,
        "container_id": l.container_id,
        "container_name": l.container_name,
        "started_ms": entry.started_ms(),
        "finished_ms": entry.finished_ms(),
        "duration_ms": entry.finished_ms().map(|f| f - entry.started_ms()),
        "outcome": entry.outcome.as_ref().map(outcome_json),
    })
}

/// A command stopped by Ctrl-C (SIGINT) after cleaning up: exit status 130.
#[derive(Debug)]
pub struct Interrupted(pub String);

impl std::fmt::Display for Interrupted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Interrupted {}

/// The exit status of a command ended by Ctrl-C (128 + SIGINT).
pub const INTERRUPTED_STATUS: u8 = 130;

/// The exit status of a command whose stdout was closed by its reader (128 + SIGPIPE, as
/// a process that the signal ended would report).
pub const CLOSED_STDOUT_STATUS: u8 = 141;

/// Whether `err` is a write to a stdout the reader closed (`berth ps | head -c1`).
pub fn is_closed_stdout(err: &anyhow::Error) -> bool {
    err.chain().any(|e| {
        e.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}

/// The process exit status for a return code (`berth wait`).
pub fn exit_status(code: JobReturnCode) -> i32 {
    code.code()
}

/// Milliseconds as a short human duration (`1.2s`, `3m04s`, `2h05m`).
pub fn human_duration(ms: i64) -> String {
    let secs = ms as f64 / 1000.0;
    if secs < 60.0 {
        format!("{secs:.1}s")
    } else if secs < 3600.0 {
        format!("{}m{:02}s", (secs / 60.0) as i64, (secs % 60.0) as i64)
    } else {
        format!(
            "{}h{:02}m",
            (secs / 3600.0) as i64,
            ((secs % 3600.0) / 60.0) as i64
        )
    }
}

/// Unix milliseconds as UTC `YYYY-MM-DD HH:MM:SS` (`-` before the epoch).
pub fn human_time(ms: i64) -> String {
    berth_store::time::rfc3339_from_unix_nanos(ms.saturating_mul(1_000_000))
        .and_then(|t| t.get(..19).map(|t| t.replace('T', " ")))
        .unwrap_or_else(|| "-".to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_and_durations_read_well() {
        assert_eq!(human_time(1000), "1970-01-01 00:00:01");
        assert_eq!(human_time(1_795_000_000_000), "2026-11-18 11:06:40");
        assert_eq!(human_duration(1234), "1.2s");
        assert_eq!(human_duration(184_000), "3m04s");
        assert_eq!(human_duration(7_500_000), "2h05m");
    }
}
