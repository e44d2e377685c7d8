//! State shared by a launcher, its handles and its event task, and the one place where an
//! observed end of a container becomes a recorded outcome.
//!
//! Locks: `jobs` and each handle's `inner` are short `std` mutexes never held across an
//! await. Each handle's `finishing` is an async mutex held while one caller turns an
//! inspect into an outcome (inspect -> record -> remove -> set), so two observers of the
//! same end never interleave. The terminal state lives in a `watch` channel: set once,
//! waking every waiter.

use berth_core::{labels, DockerStatus, JobReturnCode};
use berth_engine::{ContainerRuntime, ContainerState, EngineError, LabelFilter};
use berth_store::{JobOutcome, ObservedBy, OutcomeStore};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::sync::{watch, Notify};

use crate::settings::LauncherSettings;

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
    /// Set once, never cleared.
    pub terminal: watch::Sender<Option<JobReturnCode>>,
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
}

impl HandleState {
    pub fn new(job_id: &str, container_id: &str, container_name: &str, timeout: Option<Duration>) -> Self {
        Self {
            job_id: job_id.to_string(),
            container_id: container_id.to_string(),
            container_name: container_name.to_string(),
            timeout,
            terminal: watch::Sender::new(None),
            inner: Mutex::new(HandleInner::default()),
            finishing: tokio::sync::Mutex::new(()),
            nudge: Notify::new(),
        }
    }

    pub fn terminal(&self) -> Option<JobReturnCode> {
        *self.terminal.borrow()
    }

    pub fn outcome(&self) -> Option<JobOutcome> {
        lock(&self.inner).outcome.clone()
    }

    /// Set the outcome and terminal state unless one is set already; returns the state
    /// that holds afterwards.
    fn set_terminal(&self, outcome: JobOutcome) -> JobReturnCode {
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

/// What to make of a container that the engine no longer knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum OnMissing {
    /// Leave the state unset: the event task is connected and will decide (spec §9.4).
    Wait,
    /// Nobody else will decide: a vanished container with no recorded outcome is ABORTED.
    Decide,
}

/// What one look at a container found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Seen {
    /// Alive (or in one of the statuses the caller was waiting for).
    Status(DockerStatus),
    /// The job has a terminal state.
    Ended(JobReturnCode),
    /// Nothing could be learned (engine error, or a missing container left undecided).
    Unknown,
}

pub(crate) struct Shared {
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

    /// Record `outcome` (durably, first one wins), then remove the container when
    /// `remove` and retention allow, then set the handle's terminal state.
    async fn conclude(&self, h: &HandleState, outcome: JobOutcome, remove: bool) -> JobReturnCode {
        let (outcome, durable) = match self.store.record_outcome(&outcome) {
            Ok(stored) => (stored, true),
            Err(e) => {
                tracing::error!(job_id = %h.job_id, container = %h.container_name,
                    "cannot record the outcome: {e}; keeping the container for recovery");
                (outcome, false)
            }
        };
        let keep = self
            .settings
            .keep_failed_for
            .filter(|_| outcome.return_code != JobReturnCode::Success);
        if remove && durable {
            match keep {
                Some(period) => tracing::info!(job_id = %h.job_id, container = %h.container_name,
                    "keeping the container of a failed job for {period:?}"),
                None => self.remove_container(h).await,
            }
        }
        lock(&self.jobs).remove(&h.container_id);
        h.set_terminal(outcome)
    }

    /// Force-remove; "already gone" and "removal in progress" are fine.
    pub async fn remove_container(&self, h: &HandleState) {
        match self.runtime.remove(&h.container_id, true).await {
            Ok(()) => tracing::debug!(container = %h.container_name, "removed"),
            Err(EngineError::NotFound(_)) => {
                tracing::debug!(container = %h.container_name, "already removed")
            }
            Err(EngineError::Conflict(m)) => {
                tracing::info!(container = %h.container_name, "removal already in progress: {m}")
            }
            Err(e) => tracing::warn!(container = %h.container_name, "cannot remove the container: {e}"),
        }
    }

    /// One inspect, turned into an outcome when the container has ended. The caller holds
    /// `h.finishing`. A status in `targets` is reported as such even when terminal
    /// (`enter_states` asked for it).
    pub async fn settle_locked(
        &self,
        h: &HandleState,
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
                tracing::warn!(job_id = %h.job_id, container = %h.container_name, "cannot inspect: {e}");
                Seen::Unknown
            }
        }
    }

    /// The container is gone. Its end is known if an outcome was recorded (by this or
    /// another process) or a die event carried the exit code; otherwise it vanished.
    async fn settle_missing(&self, h: &HandleState, on_missing: OnMissing) -> Seen {
        match self.store.outcome(&h.container_id) {
            Ok(Some(stored)) => return Seen::Ended(h.set_terminal(stored)),
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

    pub async fn settle(&self, h: &HandleState, by: ObservedBy, on_missing: OnMissing) -> Seen {
        let _guard = h.finishing.lock().await;
        self.settle_locked(h, by, on_missing, &[]).await
    }

    /// Stop with no grace, record ABORTED, force-remove. Never fails; engine errors are
    /// logged. A terminal state that was already set is kept.
    pub async fn terminate(&self, h: &HandleState, by: ObservedBy) -> JobReturnCode {
        {
            let mut inner = lock(&h.inner);
            if let Some(code) = h.terminal() {
                return code;
            }
            inner.terminating.get_or_insert(by);
        }
        match self.runtime.stop(&h.container_id, 0).await {
            Ok(()) => tracing::debug!(container = %h.container_name, "stopped"),
            Err(EngineError::NotModified) => {
                tracing::debug!(container = %h.container_name, "already stopped")
            }
            Err(EngineError::NotFound(_)) => {
                tracing::info!(container = %h.container_name, "container not found")
            }
            Err(e) => tracing::error!(container = %h.container_name, "cannot stop the container: {e}"),
        }
        let _guard = h.finishing.lock().await;
        if let Some(code) = h.terminal() {
            return code;
        }
        let by = lock(&h.inner).terminating.unwrap_or(by);
        let state = match self.runtime.inspect(&h.container_id).await {
            Ok(st) => Some(st),
            Err(EngineError::NotFound(_)) => None,
            Err(e) => {
                tracing::error!(container = %h.container_name, "cannot inspect the stopped container: {e}");
                None
            }
        };
        let outcome = JobOutcome {
            job_id: h.job_id.clone(),
            container_id: h.container_id.clone(),
            return_code: JobReturnCode::Aborted,
            exit_code: state.as_ref().and_then(|s| s.exit_code),
            oom_killed: state.as_ref().is_some_and(|s| s.oom_killed) || lock(&h.inner).oom_seen,
            finished_at: state.and_then(|s| s.finished_at),
            observed_by: by,
            recorded_at_ms: now_ms(),
        };
        let outcome = match self.store.record_outcome(&outcome) {
            Ok(stored) => stored,
            Err(e) => {
                tracing::error!(job_id = %h.job_id, "cannot record the ABORTED outcome: {e}");
                outcome
            }
        };
        // A stopped job has nothing left to debug that its outcome does not say.
        self.remove_container(h).await;
        lock(&self.jobs).remove(&h.container_id);
        h.set_terminal(outcome)
    }
}
