//! Retention: how long the container of a failed job is kept for debugging.
//!
//! A site may keep the container of a job that did not succeed for a while
//! ([`crate::LauncherSettings::keep_failed_for`], the site option
//! `keep_failed_containers_hours`). Its outcome is recorded and its output copied to the job
//! folder all the same, before anything is kept. The period counts from the container's
//! `FinishedAt` (else from when the outcome was recorded), on the launcher's clock. Once it
//! has passed, the launcher that kept the container removes it, and so does any recovery
//! (`berth recover`) that runs later. Succeeded jobs' containers are never kept.

use berth_core::JobReturnCode;
use berth_store::JobOutcome;
use std::time::Duration;

/// When the job ended, in Unix milliseconds: the engine's `FinishedAt`, else the time the
/// outcome was recorded.
pub fn finished_ms(outcome: &JobOutcome) -> i64 {
    outcome
        .finished_at
        .as_deref()
        .and_then(berth_store::time::unix_ms_from_rfc3339)
        .unwrap_or(outcome.recorded_at_ms)
}

/// What to do with the stopped container of a job whose outcome is recorded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Retention {
    /// Remove it now.
    Remove,
    /// Keep it: a failed job, still within the period.
    Keep,
    /// It was kept, and the period is over: remove it now.
    Expired,
}

/// Decide for `outcome` with the site's period at `now_ms`.
pub fn decide(outcome: &JobOutcome, keep_failed_for: Option<Duration>, now_ms: i64) -> Retention {
    let Some(period) = keep_failed_for.filter(|_| outcome.return_code != JobReturnCode::Success) else {
        return Retention::Remove;
    };
    let period_ms = i64::try_from(period.as_millis()).unwrap_or(i64::MAX);
    if now_ms >= finished_ms(outcome).saturating_add(period_ms) {
        Retention::Expired
    } else {
        Retention::Keep
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use berth_store::ObservedBy;

    fn outcome(code: JobReturnCode, finished_at: Option<&str>) -> JobOutcome {
        JobOutcome {
            job_id: "j".into(),
            container_id: "c".into(),
            return_code: code,
            exit_code: Some(code.code().into()),
            oom_killed: false,
            finished_at: finished_at.map(str::to_string),
            observed_by: ObservedBy::Recovery,
            recorded_at_ms: 5_000,
        }
    }

    #[test]
    fn failed_jobs_are_kept_for_the_period_from_finished_at() {
        let hour = Some(Duration::from_secs(3600));
        let failed = outcome(JobReturnCode::ExecutionError, Some("1970-01-01T00:00:10Z"));
        assert_eq!(decide(&failed, hour, 10_000), Retention::Keep);
        assert_eq!(decide(&failed, hour, 3_609_999), Retention::Keep);
        assert_eq!(decide(&failed, hour, 3_610_000), Retention::Expired);
        assert_eq!(decide(&failed, None, 10_000), Retention::Remove);
        let ok = outcome(JobReturnCode::Success, Some("1970-01-01T00:00:10Z"));
        assert_eq!(decide(&ok, hour, 10_000), Retention::Remove);
        // No FinishedAt: counted from when the outcome was recorded.
        let unknown = outcome(JobReturnCode::Aborted, None);
        assert_eq!(decide(&unknown, hour, 3_604_999), Retention::Keep);
        assert_eq!(decide(&unknown, hour, 3_605_000), Retention::Expired);
    }
}
