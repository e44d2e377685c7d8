//! [`HandleState`]: one job container followed by this process, and the one door through
//! which what is seen of it reaches its lifecycle ([`HandleState::apply`]).
//!
//! Locks: `inner` is a short `std` mutex never held across an await. `finishing` is an
//! async mutex held by an observer that inspects the container or stops it, from the
//! engine call until its observation is applied and the actions it led to have run, so
//! two such observers never interleave. The terminal state lives in a `watch` channel:
//! set once, by the lifecycle's [`Action::Wake`], waking every waiter.

use berth_core::{DockerStatus, JobReturnCode};
use berth_engine::EngineError;
use berth_store::JobOutcome;
use std::path::PathBuf;
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::sync::{watch, Notify};

use crate::lifecycle::{self, Action, Observation, Phase};

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
    /// Held by an observer that inspects or stops the container (see the module docs).
    pub finishing: tokio::sync::Mutex<()>,
    /// Wakes waiters when the event task could not decide (they fall back to inspect).
    pub nudge: Notify,
}

#[derive(Default)]
pub(crate) struct HandleInner {
    pub lifecycle: lifecycle::State,
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

    /// Feed one observation to the job's lifecycle; the actions it leads to, to run in
    /// order.
    pub fn apply(&self, observation: Observation) -> Vec<Action> {
        let job = lifecycle::Job {
            job_id: &self.job_id,
            container_id: &self.container_id,
            may_restart: self.may_restart,
        };
        let mut inner = lock(&self.inner);
        let (next, actions) = lifecycle::step(job, &inner.lifecycle, observation);
        inner.lifecycle = next;
        actions
    }

    /// The end is someone else's to decide right now (being recorded, or a stop under way).
    pub fn busy(&self) -> bool {
        lock(&self.inner).lifecycle.busy()
    }

    /// Publish the terminal state (the lifecycle asks once; a second ask changes nothing).
    pub fn wake(&self, code: JobReturnCode) {
        self.terminal.send_if_modified(|t| {
            if t.is_none() {
                *t = Some(code);
                true
            } else {
                false
            }
        });
    }

    /// Nothing is left to do for this job in this process.
    pub fn mark_settled(&self) {
        self.settled.send_replace(true);
    }

    pub fn terminal(&self) -> Option<JobReturnCode> {
        *self.terminal.borrow()
    }

    pub fn outcome(&self) -> Option<JobOutcome> {
        lock(&self.inner).lifecycle.outcome().cloned()
    }

    /// Why the outcome could not be written to the store, if it could not.
    pub fn unrecorded(&self) -> Option<String> {
        match &lock(&self.inner).lifecycle.phase {
            Phase::Ended { unrecorded, .. } => unrecorded.clone(),
            _ => None,
        }
    }

    /// Until the terminal state is set; then it.
    pub async fn ended(&self) -> JobReturnCode {
        let mut terminal = self.terminal.subscribe();
        // The sender lives in `self`, so this ends only once set.
        let code = match terminal.wait_for(|t| t.is_some()).await {
            Ok(code) => code.unwrap_or(JobReturnCode::Unknown),
            Err(_) => JobReturnCode::Unknown,
        };
        code
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
