//! The JSON shapes every front end shows for outcomes and recovery reports (the CLI's
//! `--json` output, the Python package's dicts), defined once.

use crate::{RecoveredJob, RecoveryReport};
use berth_core::config::OrphanPolicy;
use berth_store::JobOutcome;
use serde_json::{json, Value};

/// An outcome: return code (number and name), exit code, OOM flag, finish time, and how
/// berth observed the end.
pub fn outcome_json(outcome: &JobOutcome) -> Value {
    json!({
        "return_code": outcome.return_code.code(),
        "return_code_name": outcome.return_code.name(),
        "exit_code": outcome.exit_code,
        "oom_killed": outcome.oom_killed,
        "finished_at": outcome.finished_at,
        "observed_by": outcome.observed_by.as_str(),
    })
}

/// One job a recovery looked at.
pub fn recovered_job_json(j: &RecoveredJob) -> Value {
    json!({
        "job_id": j.job_id,
        "container_id": j.container_id,
        "container_name": j.container_name,
        "status": j.status,
        "workspace": j.workspace,
        "action": j.action.as_str(),
        "launch_rebuilt": j.launch_rebuilt,
        "outcome_was_recorded": j.outcome_was_recorded,
        "log_file": j.log_file.as_ref().map(|p| p.display().to_string()),
        "outcome": j.outcome.as_ref().map(outcome_json),
    })
}

/// A recovery of `site` with `policy`: its summary line, every job, every error.
pub fn recovery_json(site: &str, policy: OrphanPolicy, report: &RecoveryReport) -> Value {
    json!({
        "site": site,
        "policy": policy.as_str(),
        "summary": report.summary(),
        "jobs": report.jobs.iter().map(recovered_job_json).collect::<Vec<_>>(),
        "errors": report.errors,
    })
}
