//! Recovery after a restart: every container of the site and every launch in the store
//! ends up with exactly one recorded outcome, and nothing is left behind but what the
//! orphan policy and retention keep.
//!
//! [`Launcher::recover`] lists the site's berth-labelled containers and:
//! - a container whose workspace label names another workspace than the site's is only
//!   reported ([`RecoveryAction::ForeignWorkspace`]): it belongs to another installation
//!   of the same site name, and is not touched;
//! - a container the store does not know (a rebuilt store) gets its launch record back,
//!   rebuilt from its labels (job id, site, role, workspace, plan digest) and the listing
//!   (name, image, created time);
//! - a running (or created, paused, restarting) container that this launcher does not
//!   follow already is handled by the orphan policy (except a `created` one younger than
//!   the start timeout, at least a minute: another process may be starting it, so it is
//!   only reported): adopt (follow it; its end is recorded by this launcher, or by the next `wait`,
//!   `status` or `recover` when this process ends first), terminate (stop, record ABORTED,
//!   keep its output, remove) or report (leave it alone);
//! - a stopped (exited or dead) container has its exact outcome recorded (exit code, OOM
//!   flag, `FinishedAt`; observed by recovery) unless one is recorded already, its output
//!   copied to the job folder, and is then removed, or kept while retention allows;
//! - a launch in the store with no outcome and no container is recorded as vanished
//!   (ABORTED), so every launch has exactly one outcome.

use crate::handle::JobHandle;
use crate::job::{lock, now_ms, HandleState, OnMissing, Seen};
use crate::launcher::Launcher;
use crate::lifecycle;
use crate::retention::{self, Retention};
use crate::watcher;
use berth_core::args::Role;
use berth_core::config::OrphanPolicy;
use berth_core::{labels, DockerStatus, JobReturnCode, Result};
use berth_engine::{ContainerSummary, EngineError};
use berth_store::{JobOutcome, LaunchRecord, ObservedBy};
use std::path::PathBuf;
use std::sync::Arc;

/// What recovery did with one container or launch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecoveryAction {
    /// Running; followed to its end (orphan policy `adopt`).
    Adopted,
    /// Running; stopped, recorded ABORTED and removed (orphan policy `terminate`).
    Terminated,
    /// Running; left alone (orphan policy `report`).
    Reported,
    /// Stopped; its outcome is recorded and the container removed.
    Recorded,
    /// Stopped, failed; its outcome is recorded and the container kept for the retention
    /// period.
    Kept,
    /// Stopped, kept by retention, and the period is over: removed now.
    Swept,
    /// A launch with no outcome whose container no longer exists: recorded ABORTED.
    Vanished,
    /// The site's label matches but the workspace label names another workspace: left
    /// alone.
    ForeignWorkspace,
    /// Something failed (see the report's errors); the container was left as it was.
    Failed,
}

impl RecoveryAction {
    pub fn as_str(self) -> &'static str {
        match self {
            RecoveryAction::Adopted => "adopted",
            RecoveryAction::Terminated => "terminated",
            RecoveryAction::Reported => "reported",
            RecoveryAction::Recorded => "recorded",
            RecoveryAction::Kept => "kept",
            RecoveryAction::Swept => "swept",
            RecoveryAction::Vanished => "vanished",
            RecoveryAction::ForeignWorkspace => "foreign-workspace",
            RecoveryAction::Failed => "failed",
        }
    }
}

/// One container or launch recovery looked at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecoveredJob {
    pub job_id: String,
    pub container_id: String,
    pub container_name: String,
    /// The engine's status when recovery looked (`running`, `exited`, ...); `None` for a
    /// vanished launch.
    pub status: Option<String>,
    /// The workspace label.
    pub workspace: Option<String>,
    pub action: RecoveryAction,
    /// The recorded outcome, once there is one.
    pub outcome: Option<JobOutcome>,
    /// The outcome was in the store before this recovery.
    pub outcome_was_recorded: bool,
    /// The store did not know this container; its launch record was rebuilt from labels.
    pub launch_rebuilt: bool,
    /// The job's output file, when recovery wrote it.
    pub log_file: Option<PathBuf>,
}

/// What [`Launcher::recover`] found and did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RecoveryReport {
    pub jobs: Vec<RecoveredJob>,
    /// What could not be done (engine or store errors), one line each.
    pub errors: Vec<String>,
}

impl RecoveryReport {
    pub fn with(&self, action: RecoveryAction) -> impl Iterator<Item = &RecoveredJob> {
        self.jobs.iter().filter(move |j| j.action == action)
    }

    pub fn count(&self, action: RecoveryAction) -> usize {
        self.with(action).count()
    }

    /// One line: how many of each action, and how many errors.
    pub fn summary(&self) -> String {
        use RecoveryAction::*;
        let mut parts: Vec<String> = [
            Recorded,
            Kept,
            Swept,
            Vanished,
            Adopted,
            Terminated,
            Reported,
            ForeignWorkspace,
            Failed,
        ]
        .into_iter()
        .filter_map(|a| {
            let n = self.count(a);
            (n > 0).then(|| format!("{n} {}", a.as_str()))
        })
        .collect();
        let rebuilt = self.jobs.iter().filter(|j| j.launch_rebuilt).count();
        if rebuilt > 0 {
            parts.push(format!("{rebuilt} launch records rebuilt from labels"));
        }
        if !self.errors.is_empty() {
            parts.push(format!("{} errors", self.errors.len()));
        }
        if parts.is_empty() {
            "nothing to recover".to_string()
        } else {
            parts.join(", ")
        }
    }
}

fn label<'a>(c: &'a ContainerSummary, key: &str) -> Option<&'a str> {
    c.labels.get(key).map(String::as_str)
}

/// A launch record for a container the store does not know, from its labels and listing.
fn launch_from_labels(c: &ContainerSummary, site: &str) -> std::result::Result<LaunchRecord, String> {
    let role: Role = label(c, labels::ROLE)
        .ok_or_else(|| format!("container {} has no {} label", c.name, labels::ROLE))?
        .parse()
        .map_err(|e| format!("container {}: {e}", c.name))?;
    Ok(LaunchRecord {
        job_id: label(c, labels::JOB_ID).unwrap_or_default().to_string(),
        site: site.to_string(),
        role,
        container_id: c.id.clone(),
        container_name: c.name.clone(),
        image: c.image.clone(),
        plan_digest: label(c, labels::PLAN_DIGEST).unwrap_or_default().to_string(),
        workspace: label(c, labels::WORKSPACE).unwrap_or_default().to_string(),
        launched_at_ms: c.created.saturating_mul(1000),
    })
}

impl Launcher {
    /// Recover the site: see the [module docs](crate::recovery). `policy` decides what
    /// happens to running containers. Engine and store failures on one container are
    /// collected in the report and the rest go on; the error is for an engine that cannot
    /// be reached or cannot list containers.
    ///
    /// Adopted jobs are followed by this launcher's event task from now on (their handles
    /// are in [`Launcher::running_jobs`]); a process that exits right after leaves them
    /// running, and the next `wait`, `status` or recovery records their end.
    pub async fn recover(&self, policy: OrphanPolicy) -> Result<RecoveryReport> {
        self.check_engine(false).await?;
        let shared = self.shared();
        let settings = &shared.settings;
        let mut report = RecoveryReport::default();
        // Wall time, compared with launch records (which use wall time too): launches
        // recorded after the listing are another process's, not vanished ones.
        let listed_at = now_ms();
        let listed = shared.list_site().await?;

        for c in &listed {
            let workspace = label(c, labels::WORKSPACE).map(str::to_string);
            let mut job = RecoveredJob {
                job_id: label(c, labels::JOB_ID).unwrap_or_default().to_string(),
                container_id: c.id.clone(),
                container_name: c.name.clone(),
                status: Some(c.status.clone()),
                workspace: workspace.clone(),
                action: RecoveryAction::Failed,
                outcome: None,
                outcome_was_recorded: false,
                launch_rebuilt: false,
                log_file: None,
            };
            if let Some(expected) = &settings.workspace {
                if workspace.as_deref() != Some(expected.as_str()) {
                    tracing::warn!(container = %c.name, workspace = ?workspace,
                        "container of site '{}' belongs to another workspace; leaving it alone", settings.site);
                    job.action = RecoveryAction::ForeignWorkspace;
                    report.jobs.push(job);
                    continue;
                }
            }
            match shared.store.launch_record(&c.id) {
                Ok(Some(_)) => {}
                Ok(None) => match launch_from_labels(c, &settings.site) {
                    Ok(record) => match shared.store.record_launch(&record) {
                        Ok(()) => job.launch_rebuilt = true,
                        Err(e) => report
                            .errors
                            .push(format!("{}: cannot record its launch: {e}", c.name)),
                    },
                    Err(e) => report
                        .errors
                        .push(format!("cannot rebuild the launch record: {e}")),
                },
                Err(e) => report
                    .errors
                    .push(format!("{}: cannot read the state store: {e}", c.name)),
            }
            let status = DockerStatus::parse(&c.status);
            if status.is_terminal() {
                self.recover_stopped(&mut job, &mut report).await;
            } else if status == DockerStatus::Other {
                // `removing`: someone is removing it; its end is someone else's to record,
                // or becomes a vanished launch on the next recovery.
                job.action = RecoveryAction::Reported;
            } else if shared.tracked(&c.id).is_some() {
                // This launcher's own job: followed already, not an orphan.
                job.action = RecoveryAction::Adopted;
            } else if status == DockerStatus::Created && self.maybe_starting(c, listed_at) {
                // Another process may be starting it right now: never touch it.
                job.action = RecoveryAction::Reported;
            } else {
                self.recover_live(&mut job, policy, &mut report.errors).await;
            }
            report.jobs.push(job);
        }

        match shared.store.pending_launches(&settings.site) {
            Ok(pending) => {
                for launch in pending {
                    let seen = listed.iter().any(|c| c.id == launch.container_id);
                    if seen || launch.launched_at_ms > listed_at {
                        continue;
                    }
                    if let Some(job) = self.recover_missing(&launch, &mut report).await {
                        report.jobs.push(job);
                    }
                }
            }
            Err(e) => report
                .errors
                .push(format!("cannot read the pending launches: {e}")),
        }
        tracing::info!(site = %settings.site, "recovery: {}", report.summary());
        Ok(report)
    }

    /// A `created` container younger than the start timeout (at least a minute) may be
    /// another process's launch in progress.
    fn maybe_starting(&self, c: &ContainerSummary, now_ms: i64) -> bool {
        let grace = self
            .shared()
            .settings
            .start_timeout
            .unwrap_or_default()
            .max(std::time::Duration::from_secs(60));
        let grace_ms = i64::try_from(grace.as_millis()).unwrap_or(i64::MAX);
        now_ms.saturating_sub(c.created.saturating_mul(1000)) < grace_ms
    }

    /// A running container: the orphan policy decides.
    async fn recover_live(
        &self,
        job: &mut RecoveredJob,
        policy: OrphanPolicy,
        report_errors: &mut Vec<String>,
    ) {
        let shared = self.shared();
        let state = shared.track(Arc::new(
            HandleState::new(
                &job.job_id,
                &job.container_id,
                &job.container_name,
                shared.settings.start_timeout,
            )
            .with_job_dir(shared.job_dir_for(&job.job_id)),
        ));
        match policy {
            OrphanPolicy::Adopt => {
                watcher::ensure_started(shared);
                job.action = RecoveryAction::Adopted;
            }
            OrphanPolicy::Terminate => {
                let handle = JobHandle {
                    state: state.clone(),
                    shared: shared.clone(),
                };
                if let Err(e) = shared.terminate(&state, ObservedBy::Recovery).await {
                    // Not stopped, so nothing recorded: it is still running, and followed.
                    report_errors.push(format!("{}: cannot stop: {e}", job.container_name));
                    watcher::ensure_started(shared);
                    job.action = RecoveryAction::Adopted;
                    return;
                }
                job.outcome = handle.outcome();
                job.action = RecoveryAction::Terminated;
            }
            OrphanPolicy::Report => {
                // Not followed: leave no tracked state behind.
                lock(&shared.jobs).remove(&job.container_id);
                job.action = RecoveryAction::Reported;
            }
        }
    }

    /// A stopped container: record its exact outcome (unless recorded), keep its output,
    /// then remove it or keep it per retention.
    async fn recover_stopped(&self, job: &mut RecoveredJob, report: &mut RecoveryReport) {
        let shared = self.shared();
        if let Some(h) = shared.tracked(&job.container_id) {
            // This launcher follows it: let the usual path record and remove it.
            shared.settle(&h, ObservedBy::Recovery, OnMissing::Decide).await;
            job.outcome = h.outcome();
            job.action = RecoveryAction::Recorded;
            return;
        }
        let recorded = match shared.store.outcome(&job.container_id) {
            Ok(o) => o,
            Err(e) => {
                report.errors.push(format!(
                    "{}: cannot read the state store: {e}",
                    job.container_name
                ));
                return;
            }
        };
        let outcome = match recorded {
            Some(o) => {
                job.outcome_was_recorded = true;
                o
            }
            None => {
                let st = match shared.runtime.inspect(&job.container_id).await {
                    Ok(st) => st,
                    Err(EngineError::NotFound(_)) => {
                        // Removed since the listing, by a process that records first.
                        job.outcome = shared.store.outcome(&job.container_id).ok().flatten();
                        job.outcome_was_recorded = job.outcome.is_some();
                        job.action = RecoveryAction::Recorded;
                        return;
                    }
                    Err(e) => {
                        report
                            .errors
                            .push(format!("{}: cannot inspect: {e}", job.container_name));
                        return;
                    }
                };
                let fresh = lifecycle::stopped_outcome(
                    &job.job_id,
                    &job.container_id,
                    &st,
                    ObservedBy::Recovery,
                    now_ms(),
                );
                match shared.store.record_outcome(&fresh) {
                    Ok(stored) => {
                        job.outcome_was_recorded = stored != fresh;
                        stored
                    }
                    Err(e) => {
                        // Not durable: the container stays, for the next recovery.
                        report.errors.push(format!(
                            "{}: cannot record the outcome: {e}; the container is kept",
                            job.container_name
                        ));
                        job.outcome = Some(fresh);
                        return;
                    }
                }
            }
        };
        let job_dir = shared.job_dir_for(&job.job_id);
        let decision = retention::decide(
            &outcome,
            shared.settings.keep_failed_for,
            shared.settings.clock.now_ms(),
        );
        // The output is copied before every removal, and when a freshly recorded failed
        // job is kept (its launcher may have died before copying it).
        if decision != Retention::Keep || !job.outcome_was_recorded {
            job.log_file = shared
                .save_log(&job.container_id, &job.job_id, job_dir.as_deref())
                .await;
        }
        let h = HandleState::new(&job.job_id, &job.container_id, &job.container_name, None);
        job.action = match decision {
            Retention::Keep => RecoveryAction::Kept,
            Retention::Remove => {
                shared.remove_container(&h).await;
                RecoveryAction::Recorded
            }
            Retention::Expired => {
                shared.remove_container(&h).await;
                RecoveryAction::Swept
            }
        };
        job.outcome = Some(outcome);
    }

    /// A launch with no outcome whose container was not listed.
    async fn recover_missing(
        &self,
        launch: &LaunchRecord,
        report: &mut RecoveryReport,
    ) -> Option<RecoveredJob> {
        let shared = self.shared();
        let mut job = RecoveredJob {
            job_id: launch.job_id.clone(),
            container_id: launch.container_id.clone(),
            container_name: launch.container_name.clone(),
            status: None,
            workspace: Some(launch.workspace.clone()),
            action: RecoveryAction::Vanished,
            outcome: None,
            outcome_was_recorded: false,
            launch_rebuilt: false,
            log_file: None,
        };
        if let Some(h) = shared.tracked(&launch.container_id) {
            if let Seen::Failed(e) = shared.settle(&h, ObservedBy::Recovery, OnMissing::Decide).await {
                report
                    .errors
                    .push(format!("{}: cannot inspect: {e}", launch.container_name));
                return None;
            }
            job.outcome = h.outcome();
            return Some(job);
        }
        // The listing may be stale: look once more before calling it vanished.
        match shared.runtime.inspect(&launch.container_id).await {
            Ok(_) => return None,
            Err(EngineError::NotFound(_)) => {}
            Err(e) => {
                report
                    .errors
                    .push(format!("{}: cannot inspect: {e}", launch.container_name));
                return None;
            }
        }
        let outcome = JobOutcome::new(
            &launch.job_id,
            &launch.container_id,
            JobReturnCode::Aborted,
            ObservedBy::Vanished,
            now_ms(),
        );
        match shared.store.record_outcome(&outcome) {
            Ok(stored) => {
                job.outcome_was_recorded = stored != outcome;
                if job.outcome_was_recorded {
                    // Recorded meanwhile by the process that removed it.
                    job.action = RecoveryAction::Recorded;
                }
                job.outcome = Some(stored);
            }
            Err(e) => {
                report.errors.push(format!(
                    "{}: cannot record the vanished outcome: {e}",
                    launch.container_name
                ));
                job.action = RecoveryAction::Failed;
            }
        }
        Some(job)
    }
}
