//! State shared by a launcher, its handles and its event task, and the one place where an
//! observed end of a container becomes a recorded outcome.
//!
//! Locks: `jobs` and each handle's `inner` are short `std` mutexes never held across an
//! await. Each handle's `finishing` is an async mutex held while one caller turns what it
//! saw (a die event's exit code, or an inspect) into an outcome (record -> set), so two
//! observers of the same end never interleave. The terminal state lives in a `watch`
//! channel: set once, waking every waiter.
//!
//! Order of an observed end: the outcome is recorded durably, then the terminal state is
//! set, then a background cleanup copies the output and removes the container; the
//! handle's `settled` channel turns `true` when that cleanup is over, and the launcher
//! counts cleanups in flight so a short-lived process can wait for them before it exits.
//! `terminate()` keeps its own order: stop, with the ABORTED record and the output copy
//! under way meanwhile, then remove, then set.

use berth_core::{labels, DockerStatus, JobReturnCode};
use berth_engine::{ContainerRuntime, ContainerState, EngineError, LabelFilter};
use berth_store::time::rfc3339_from_unix_nanos;
use berth_store::{JobOutcome, ObservedBy, OutcomeStore, StoreError};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::sync::{watch, Notify};

use crate::joblog;
use crate::settings::LauncherSettings;

/// How often a removal is tried before it is left to recovery.
const REMOVE_ATTEMPTS: u32 = 8;

/// One force-remove; `true` when the container is gone or going ("not found" and "removal
/// in progress" count), `false` when it should be tried again.
async fn try_remove(runtime: &dyn ContainerRuntime, id: &str, name: &str, last: bool) -> bool {
    match runtime.remove(id, true).await {
        Ok(()) => tracing::debug!(container = %name, "removed"),
        Err(EngineError::NotFound(_)) => tracing::debug!(container = %name, "already removed"),
        Err(EngineError::Conflict(m)) => {
            tracing::info!(container = %name, "removal already in progress: {m}")
        }
        Err(e) if last => {
            tracing::warn!(container = %name, "cannot remove the container: {e}; `berth recover` will remove it");
        }
        Err(e) => {
            tracing::info!(container = %name, "cannot remove the container yet: {e}; retrying");
            return false;
        }
    }
    true
}

pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // Every critical section here is a few field writes; a panic cannot leave them torn.
    m.lock().unwrap_or_else(|p| p.into_inner())
}

pub(crate) fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// One job container followed by this process.
pub(crate) struct HandleState {
    pub job_id: String,
    pub container_id: String,
    pub container_name: String,
    pub timeout: Option<Duration>,
    /// The job's folder as berth reads it: where its output is kept.
    pub job_dir: Option<PathBuf>,
    /// Set once, never cleared.
    pub terminal: watch::Sender<Option<JobReturnCode>>,
    /// `true` once this process has nothing left to do for the ended job: its output is
    /// copied and its container removed (or kept on purpose). Set after `terminal`.
    pub settled: watch::Sender<bool>,
    /// The container may be restarted by the engine (its plan sets a restart policy, or it
    /// is not known): a die event is then not the end, and only an inspect decides.
    pub may_restart: bool,
    pub inner: Mutex<HandleInner>,
    /// Held while an observer turns what it saw into the outcome.
    pub finishing: tokio::sync::Mutex<()>,
    /// Wakes waiters when the event task could not decide (they fall back to inspect).
    pub nudge: Notify,
}

#[derive(Default)]
pub(crate) struct HandleInner {
    pub outcome: Option<JobOutcome>,
    /// `terminate()` has begun: any end observed from now on is ABORTED, learned this way.
    pub terminating: Option<ObservedBy>,
    /// A die event was seen, with the engine's `exitCode` attribute when it had one.
    pub die_seen: bool,
    pub die_exit_code: Option<i64>,
    pub oom_seen: bool,
    /// The event task saw the end but could not read it; waiters should inspect.
    pub undecided: bool,
    /// Why the outcome could not be written to the store (the container is kept).
    pub unrecorded: Option<String>,
}

impl HandleState {
    pub fn new(job_id: &str, container_id: &str, container_name: &str, timeout: Option<Duration>) -> Self {
        Self {
            job_id: job_id.to_string(),
            container_id: container_id.to_string(),
            container_name: container_name.to_string(),
            timeout,
            job_dir: None,
            terminal: watch::Sender::new(None),
            settled: watch::Sender::new(false),
            // Unknown until the plan says otherwise.
            may_restart: true,
            inner: Mutex::new(HandleInner::default()),
            finishing: tokio::sync::Mutex::new(()),
            nudge: Notify::new(),
        }
    }

    pub fn with_job_dir(mut self, job_dir: Option<PathBuf>) -> Self {
        self.job_dir = job_dir;
        self
    }

    pub fn with_restart_policy(mut self, may_restart: bool) -> Self {
        self.may_restart = may_restart;
        self
    }

    /// Nothing is left to do for this job in this process.
    pub fn mark_settled(&self) {
        self.settled.send_replace(true);
    }

    pub fn terminal(&self) -> Option<JobReturnCode> {
        *self.terminal.borrow()
    }

    pub fn outcome(&self) -> Option<JobOutcome> {
        lock(&self.inner).outcome.clone()
    }

    /// Set the outcome and terminal state unless one is set already; returns the state
    /// that holds afterwards.
    pub fn set_terminal(&self, outcome: JobOutcome) -> JobReturnCode {
        let code = outcome.return_code;
        {
            let mut inner = lock(&self.inner);
            if inner.outcome.is_none() && self.terminal().is_none() {
                inner.outcome = Some(outcome);
            }
        }
        self.terminal.send_if_modified(|t| {
            if t.is_none() {
                *t = Some(code);
                true
            } else {
                false
            }
        });
        self.terminal().unwrap_or(code)
    }
}

/// Until `h` is settled (its cleanup is over); then `code`.
pub(crate) async fn wait_settled(h: &HandleState, code: JobReturnCode) -> JobReturnCode {
    let mut settled = h.settled.subscribe();
    // The sender lives in `h`, so this ends only when settled.
    let _ = settled.wait_for(|s| *s).await;
    code
}

/// What to make of a container that the engine no longer knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum OnMissing {
    /// Leave the state unset: the event task is connected and will decide (spec §9.4).
    Wait,
    /// Nobody else will decide: a vanished container with no recorded outcome is ABORTED.
    Decide,
}

/// What one look at a container found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Seen {
    /// Alive (or in one of the statuses the caller was waiting for).
    Status(DockerStatus),
    /// The job has a terminal state.
    Ended(JobReturnCode),
    /// A missing container left undecided (the event task may still report its end).
    Unknown,
    /// The engine could not be asked (unreachable, no answer within the deadline, or an
    /// error answer other than 404). Never an outcome (DESIGN decision 13).
    Failed(EngineError),
}

pub(crate) struct Shared {
    /// This value, for tasks that must not keep the launcher alive.
    pub me: Weak<Shared>,
    pub runtime: Arc<dyn ContainerRuntime>,
    pub settings: LauncherSettings,
    pub store: Arc<dyn OutcomeStore>,
    /// Jobs not yet terminal, by container id.
    pub jobs: Mutex<HashMap<String, Arc<HandleState>>>,
    /// Whether the event task holds a live subscription.
    pub events_connected: watch::Sender<bool>,
    pub watcher: Mutex<Option<tokio::task::JoinHandle<()>>>,
    /// Engine checks done (ping; ping + network), cached only after success.
    pub engine_checked: tokio::sync::Mutex<EngineChecked>,
    /// When each image was last found present. Held across the check, so launches of
    /// the same image at once share one engine call.
    pub images_checked: tokio::sync::Mutex<HashMap<String, tokio::time::Instant>>,
    /// Whether the start recovery (`recover_on_start`) has run.
    pub start_recovery: tokio::sync::Mutex<bool>,
    /// Cleanups (output copy, container removal, removal retries) running in the
    /// background.
    pub cleanups: watch::Sender<usize>,
}

/// Counts one background cleanup for as long as it lives (also when its task is aborted).
pub(crate) struct CleanupGuard(Arc<Shared>);

impl CleanupGuard {
    fn new(shared: Arc<Shared>) -> Self {
        shared.cleanups.send_modify(|n| *n += 1);
        Self(shared)
    }
}

impl Drop for CleanupGuard {
    fn drop(&mut self) {
        self.0.cleanups.send_modify(|n| *n = n.saturating_sub(1));
    }
}

#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct EngineChecked {
    pub pinged: bool,
    pub network: bool,
}

impl Drop for Shared {
    fn drop(&mut self) {
        if let Some(task) = lock(&self.watcher).take() {
            task.abort();
        }
    }
}

impl Shared {
    /// Run a store call on the runtime's blocking pool: a commit waits for the disk, and
    /// the runtime's threads must go on serving events and other jobs meanwhile.
    pub async fn on_store<T: Send + 'static>(
        &self,
        call: impl FnOnce(&dyn OutcomeStore) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        let store = self.store.clone();
        tokio::task::spawn_blocking(move || call(store.as_ref()))
            .await
            .unwrap_or_else(|e| {
                Err(StoreError::Io {
                    path: "state store".to_string(),
                    message: format!("the store call did not finish: {e}"),
                })
            })
    }

    /// The labels every event subscription and listing of this site filters on.
    pub fn site_filters(&self) -> Vec<LabelFilter> {
        vec![
            LabelFilter::eq(labels::MANAGED, "true"),
            LabelFilter::eq(labels::SITE, &self.settings.site),
        ]
    }

    /// Follow `h` until it ends. If the container is followed already, that state is
    /// returned instead, so every handle of one container shares one state.
    pub fn track(&self, h: Arc<HandleState>) -> Arc<HandleState> {
        if h.terminal().is_some() {
            return h;
        }
        lock(&self.jobs)
            .entry(h.container_id.clone())
            .or_insert(h)
            .clone()
    }

    pub fn tracked(&self, container_id: &str) -> Option<Arc<HandleState>> {
        lock(&self.jobs).get(container_id).cloned()
    }

    pub fn is_connected(&self) -> bool {
        *self.events_connected.borrow()
    }

    /// The folder of a job this launcher did not plan: `<parent_root>/<job_id>`.
    pub fn job_dir_for(&self, job_id: &str) -> Option<PathBuf> {
        joblog::job_dir(self.settings.parent_root.as_deref()?, job_id)
    }

    /// Copy the container's output to the job's log file. Failures are logged, never
    /// returned: the caller goes on to remove the container.
    pub async fn save_log(
        &self,
        container_id: &str,
        job_id: &str,
        job_dir: Option<&Path>,
    ) -> Option<PathBuf> {
        self.copy_log(container_id, job_id, job_dir, false).await
    }

    async fn copy_log(
        &self,
        container_id: &str,
        job_id: &str,
        job_dir: Option<&Path>,
        follow: bool,
    ) -> Option<PathBuf> {
        let Some(dir) = job_dir else {
            tracing::debug!(job_id = %job_id, "no job folder known; the output is not kept");
            return None;
        };
        match joblog::save(
            self.runtime.as_ref(),
            container_id,
            dir,
            self.settings.log_copy_timeout,
            follow,
        )
        .await
        {
            Ok((path, bytes)) => {
                tracing::debug!(job_id = %job_id, file = %path.display(), bytes, "job output kept");
                Some(path)
            }
            Err(e) => {
                tracing::warn!(job_id = %job_id, "cannot keep the job's output: {e}");
                None
            }
        }
    }

    /// Keep the job's output, then force-remove its container.
    pub async fn save_log_and_remove(&self, h: &HandleState) {
        self.save_log(&h.container_id, &h.job_id, h.job_dir.as_deref())
            .await;
        self.remove_container(h).await;
    }

    /// After keeping a failed job's container, remove it once the retention period has
    /// passed (by the launcher's clock), if the launcher still exists then. Recovery does
    /// the same for containers whose launcher is gone.
    fn schedule_sweep(&self, h: &HandleState, outcome: &JobOutcome, period: Duration) {
        let weak = self.me.clone();
        let (container_id, job_id, name, job_dir) = (
            h.container_id.clone(),
            h.job_id.clone(),
            h.container_name.clone(),
            h.job_dir.clone(),
        );
        let finished = crate::retention::finished_ms(outcome);
        let Ok(rt) = tokio::runtime::Handle::try_current() else {
            return;
        };
        rt.spawn(async move {
            let period_ms = i64::try_from(period.as_millis()).unwrap_or(i64::MAX);
            loop {
                let wait_ms = {
                    let Some(shared) = weak.upgrade() else { return };
                    finished.saturating_add(period_ms) - shared.settings.clock.now_ms()
                };
                if wait_ms <= 0 {
                    break;
                }
                // Re-read the clock after each nap: an injected clock may move on its own.
                let nap = u64::try_from(wait_ms).unwrap_or(0).clamp(10, 60_000);
                tokio::time::sleep(Duration::from_millis(nap)).await;
            }
            let Some(shared) = weak.upgrade() else { return };
            let h = HandleState::new(&job_id, &container_id, &name, None).with_job_dir(job_dir);
            tracing::info!(job_id = %job_id, container = %name, "retention period over; removing the kept container");
            shared.save_log_and_remove(&h).await;
        });
    }

    fn outcome_from_state(&self, h: &HandleState, st: &ContainerState, by: ObservedBy) -> Option<JobOutcome> {
        let code = DockerStatus::parse(&st.status).return_code(st.exit_code)?;
        let inner = lock(&h.inner);
        let (code, by) = match inner.terminating {
            Some(t) => (JobReturnCode::Aborted, t),
            None => (code, by),
        };
        Some(JobOutcome {
            job_id: h.job_id.clone(),
            container_id: h.container_id.clone(),
            return_code: code,
            exit_code: st.exit_code,
            oom_killed: st.oom_killed || inner.oom_seen,
            finished_at: st.finished_at.clone(),
            observed_by: by,
            recorded_at_ms: now_ms(),
        })
    }

    /// Record `outcome` (durably, first one wins), then set the handle's terminal state,
    /// then (in a background task counted in `cleanups`) copy the output and remove the
    /// container when `remove` and retention allow, and mark the handle settled.
    async fn conclude(&self, h: &Arc<HandleState>, outcome: JobOutcome, remove: bool) -> JobReturnCode {
        if let Some(marker) = &self.settings.hold_before_record {
            // Test-only: stop between "container ended" and "outcome written".
            if let Err(e) = std::fs::write(marker, &h.container_id) {
                tracing::error!("cannot write the hold marker {}: {e}", marker.display());
            }
            tracing::warn!(job_id = %h.job_id, "hold_before_record is set: holding before recording");
            std::future::pending::<()>().await;
        }
        let to_record = outcome.clone();
        let recorded = self.on_store(move |s| s.record_outcome(&to_record)).await;
        let (outcome, durable) = match recorded {
            Ok(stored) => (stored, true),
            Err(e) => {
                tracing::error!(job_id = %h.job_id, container = %h.container_name,
                    "cannot record the outcome: {e}; keeping the container for recovery");
                lock(&h.inner).unrecorded = Some(e.to_string());
                (outcome, false)
            }
        };
        let keep = self
            .settings
            .keep_failed_for
            .filter(|_| outcome.return_code != JobReturnCode::Success);
        lock(&self.jobs).remove(&h.container_id);
        // Outcome first (above), then the state (waking waiters), then in the background
        // the output and the removal. The cleanup is counted before the state is set, so
        // a waiter that wakes and then waits for cleanups cannot miss it.
        let cleanup = (remove && durable)
            .then(|| self.me.upgrade())
            .flatten()
            .map(|shared| (CleanupGuard::new(shared.clone()), shared));
        let code = h.set_terminal(outcome.clone());
        match cleanup {
            Some((guard, shared)) => {
                let h = h.clone();
                tokio::spawn(async move {
                    let _guard = guard;
                    match keep {
                        Some(period) => {
                            tracing::info!(job_id = %h.job_id, container = %h.container_name,
                                "keeping the container of a failed job for {period:?}");
                            shared
                                .save_log(&h.container_id, &h.job_id, h.job_dir.as_deref())
                                .await;
                            shared.schedule_sweep(&h, &outcome, period);
                        }
                        None => shared.save_log_and_remove(&h).await,
                    }
                    h.mark_settled();
                });
            }
            None => h.mark_settled(),
        }
        code
    }

    /// A die event that carries the exit code ends the job: the outcome is built from the
    /// event (exit code, the OOM event seen before it, the event's time as the finish
    /// time) without waiting for the engine to answer an inspect, which it does only once
    /// its own exit handling is over. Not used for a container the engine may restart.
    pub async fn settle_from_die_event(
        &self,
        h: &Arc<HandleState>,
        exit_code: i64,
        time_nano: i64,
    ) -> JobReturnCode {
        let _guard = h.finishing.lock().await;
        if let Some(code) = h.terminal() {
            return code;
        }
        let outcome = {
            let inner = lock(&h.inner);
            let (code, by) = match inner.terminating {
                Some(t) => (JobReturnCode::Aborted, t),
                None => (JobReturnCode::from_exit_code(exit_code), ObservedBy::Event),
            };
            JobOutcome {
                job_id: h.job_id.clone(),
                container_id: h.container_id.clone(),
                return_code: code,
                exit_code: Some(exit_code),
                oom_killed: inner.oom_seen,
                finished_at: rfc3339_from_unix_nanos(time_nano),
                observed_by: by,
                recorded_at_ms: now_ms(),
            }
        };
        self.conclude(h, outcome, true).await
    }

    /// Force-remove; "already gone" and "removal in progress" are fine.
    pub async fn remove_container(&self, h: &HandleState) {
        let runtime = self.runtime.clone();
        let (id, name) = (h.container_id.clone(), h.container_name.clone());
        if try_remove(runtime.as_ref(), &id, &name, false).await {
            return;
        }
        // The outcome is already recorded, so nothing else in this process would come back
        // for the container: retry in the background with growing pauses (from the poll
        // interval), and leave what is still there after that to `berth recover`.
        let mut pause = self.settings.poll_interval.max(Duration::from_millis(50));
        let guard = self.me.upgrade().map(CleanupGuard::new);
        tokio::spawn(async move {
            let _guard = guard;
            for attempt in 2..=REMOVE_ATTEMPTS {
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(Duration::from_secs(10));
                if try_remove(runtime.as_ref(), &id, &name, attempt == REMOVE_ATTEMPTS).await {
                    return;
                }
            }
        });
    }

    /// One inspect, turned into an outcome when the container has ended. The caller holds
    /// `h.finishing`. A status in `targets` is reported as such even when terminal
    /// (`enter_states` asked for it).
    pub async fn settle_locked(
        &self,
        h: &Arc<HandleState>,
        by: ObservedBy,
        on_missing: OnMissing,
        targets: &[DockerStatus],
    ) -> Seen {
        if let Some(code) = h.terminal() {
            return Seen::Ended(code);
        }
        match self.runtime.inspect(&h.container_id).await {
            Ok(st) => {
                let status = DockerStatus::parse(&st.status);
                if targets.contains(&status) {
                    return Seen::Status(status);
                }
                match self.outcome_from_state(h, &st, by) {
                    Some(outcome) => Seen::Ended(self.conclude(h, outcome, true).await),
                    None => Seen::Status(status),
                }
            }
            Err(EngineError::NotFound(_)) => {
                tracing::info!(job_id = %h.job_id, container = %h.container_name, "container not found");
                self.settle_missing(h, on_missing).await
            }
            Err(e) => {
                // An outage is logged once by the deadline wrapper; other failures here.
                if matches!(e, EngineError::Unreachable(_)) {
                    tracing::debug!(job_id = %h.job_id, container = %h.container_name, "cannot inspect: {e}");
                } else {
                    tracing::warn!(job_id = %h.job_id, container = %h.container_name, "cannot inspect: {e}");
                }
                Seen::Failed(e)
            }
        }
    }

    /// The container is gone. Its end is known if an outcome was recorded (by this or
    /// another process) or a die event carried the exit code; otherwise it vanished.
    async fn settle_missing(&self, h: &Arc<HandleState>, on_missing: OnMissing) -> Seen {
        match self.store.outcome(&h.container_id) {
            Ok(Some(stored)) => {
                let code = h.set_terminal(stored);
                h.mark_settled();
                return Seen::Ended(code);
            }
            Ok(None) => {}
            Err(e) => tracing::warn!(job_id = %h.job_id, "cannot read the state store: {e}"),
        }
        let (die_seen, die_code, oom, terminating) = {
            let inner = lock(&h.inner);
            (
                inner.die_seen,
                inner.die_exit_code,
                inner.oom_seen,
                inner.terminating,
            )
        };
        let (code, exit_code, by) = match (terminating, die_code) {
            (Some(t), code) => (JobReturnCode::Aborted, code, t),
            (None, Some(code)) => (JobReturnCode::from_exit_code(code), Some(code), ObservedBy::Event),
            (None, None) if die_seen || on_missing == OnMissing::Decide => {
                (JobReturnCode::Aborted, None, ObservedBy::Vanished)
            }
            (None, None) => return Seen::Unknown,
        };
        let outcome = JobOutcome {
            job_id: h.job_id.clone(),
            container_id: h.container_id.clone(),
            return_code: code,
            exit_code,
            oom_killed: oom,
            finished_at: None,
            observed_by: by,
            recorded_at_ms: now_ms(),
        };
        Seen::Ended(self.conclude(h, outcome, false).await)
    }

    pub async fn settle(&self, h: &Arc<HandleState>, by: ObservedBy, on_missing: OnMissing) -> Seen {
        let _guard = h.finishing.lock().await;
        self.settle_locked(h, by, on_missing, &[]).await
    }

    /// Stop with no grace, record ABORTED, force-remove. A terminal state that was already
    /// set is kept. `Err` when the engine could not be reached or did not answer the stop:
    /// nothing is recorded then, since the job may still run, and any end observed later is
    /// ABORTED. An error answer of the engine still ends ABORTED, as upstream. When the
    /// outcome cannot be written the container is kept (recovery records it later) and the
    /// state is set all the same.
    ///
    /// Two engine round trips in series, the stop and the removal. While the stop is under
    /// way the ABORTED outcome is committed (durable before the removal, as every outcome
    /// is; taken back if the stop was not heard) and the job's output is copied by
    /// following its log until the container stops. The outcome therefore has no exit code
    /// or finish time: what the kill gives (137) says nothing about the job.
    pub async fn terminate(
        &self,
        h: &Arc<HandleState>,
        by: ObservedBy,
    ) -> Result<JobReturnCode, EngineError> {
        let ended = {
            let mut inner = lock(&h.inner);
            if h.terminal().is_none() {
                inner.terminating.get_or_insert(by);
            }
            h.terminal()
        };
        if let Some(code) = ended {
            return Ok(wait_settled(h, code).await);
        }
        // From here this call owns the job's end: an end the event task sees meanwhile
        // waits for the lock and then finds the state set.
        let _guard = h.finishing.lock().await;
        if let Some(code) = h.terminal() {
            // Another observer recorded the end; like our own path, return once the
            // container is gone.
            return Ok(wait_settled(h, code).await);
        }
        let outcome = {
            let inner = lock(&h.inner);
            JobOutcome {
                job_id: h.job_id.clone(),
                container_id: h.container_id.clone(),
                return_code: JobReturnCode::Aborted,
                exit_code: None,
                oom_killed: inner.oom_seen,
                finished_at: None,
                observed_by: inner.terminating.unwrap_or(by),
                recorded_at_ms: now_ms(),
            }
        };
        let to_record = outcome.clone();
        let stop_failed = Notify::new();
        let stop = async {
            let stopped = self.runtime.stop(&h.container_id, 0).await;
            match &stopped {
                Ok(()) => tracing::debug!(container = %h.container_name, "stopped"),
                Err(EngineError::NotModified) => {
                    tracing::debug!(container = %h.container_name, "already stopped")
                }
                Err(EngineError::NotFound(_)) => {
                    tracing::info!(container = %h.container_name, "container not found")
                }
                // Unreachable: the job may well still run (DESIGN decision 13). Another
                // error answer: ABORTED all the same, as upstream (C030).
                Err(e) => {
                    tracing::error!(container = %h.container_name, "cannot stop the container: {e}")
                }
            }
            if stopped.is_err() {
                // Only a stop that answered "stopped" says the followed log will end; on
                // any other answer the copy is made once more without following.
                stop_failed.notify_one();
            }
            stopped
        };
        let copy = async {
            tokio::select! {
                kept = self.copy_log(&h.container_id, &h.job_id, h.job_dir.as_deref(), true) => kept.is_some(),
                _ = stop_failed.notified() => false,
            }
        };
        let (stopped, recorded, copied) =
            tokio::join!(stop, self.on_store(move |s| s.record_outcome(&to_record)), copy);
        if let Err(e @ EngineError::Unreachable(_)) = stopped {
            // Nothing may stay recorded from a stop the engine never heard.
            if let Ok(stored) = &recorded {
                let stored = stored.clone();
                if let Err(w) = self.on_store(move |s| s.withdraw_outcome(&stored)).await {
                    tracing::error!(job_id = %h.job_id, "cannot take back the ABORTED outcome of a stop that was not heard: {w}");
                }
            }
            return Err(e);
        }
        let outcome = match recorded {
            Ok(stored) => {
                if !copied && stopped.is_err() {
                    // The followed copy was abandoned; keep what the container has
                    // written so far.
                    self.save_log(&h.container_id, &h.job_id, h.job_dir.as_deref())
                        .await;
                }
                // A stopped job has nothing left to debug that its outcome and output do
                // not say.
                self.remove_container(h).await;
                stored
            }
            Err(e) => {
                tracing::error!(job_id = %h.job_id, container = %h.container_name,
                    "cannot record the ABORTED outcome: {e}; keeping the container for recovery");
                lock(&h.inner).unrecorded = Some(e.to_string());
                outcome
            }
        };
        lock(&self.jobs).remove(&h.container_id);
        let code = h.set_terminal(outcome);
        h.mark_settled();
        Ok(code)
    }

    /// Wait until no cleanup runs in the background, for at most `limit`. Returns how
    /// many are still running then (0: all done).
    pub async fn wait_cleanups(&self, limit: Duration) -> usize {
        let mut rx = self.cleanups.subscribe();
        let done = tokio::time::timeout(limit, rx.wait_for(|n| *n == 0)).await;
        match done {
            Ok(Ok(_)) => 0,
            _ => *self.cleanups.borrow(),
        }
    }
}
