//! [`JobHandle`]: one job container, as NVFlare's `DockerJobHandle` sees it.

use crate::executor::Shared;
use crate::job::{self, lock, HandleState, OnMissing, Seen};
use crate::lifecycle::Observation;
use berth_core::{DockerStatus, JobReturnCode};
use berth_engine::EngineError;
use berth_store::{JobOutcome, ObservedBy};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How long the engine has not answered a waiter's looks, against an optional limit.
struct Outage {
    limit: Option<Duration>,
    since: Option<Instant>,
}

impl Outage {
    fn new(limit: Option<Duration>) -> Self {
        Self { limit, since: None }
    }

    fn ongoing(&self) -> bool {
        self.since.is_some()
    }

    fn answered(&mut self) {
        self.since = None;
    }

    /// `Err` once the engine has failed every look for longer than the limit.
    fn failed(&mut self, e: EngineError) -> Result<(), EngineError> {
        let since = *self.since.get_or_insert_with(Instant::now);
        match self.limit {
            Some(limit) if since.elapsed() >= limit => Err(e),
            _ => Ok(()),
        }
    }
}

/// A launched (or attached) job. Cheap to clone; clones share one state.
///
/// The terminal state is set at most once and never cleared. Exit detection is driven by
/// the launcher's event task; the handle's own methods inspect only when they must.
///
/// The terminal state is set as soon as the outcome is durably recorded; copying the
/// job's output and removing its container follow in the background. Use
/// [`JobHandle::wait_settled`] when the container must be gone (a process about to exit).
#[derive(Clone)]
pub struct JobHandle {
    pub(crate) state: Arc<HandleState>,
    pub(crate) shared: Arc<Shared>,
}

impl std::fmt::Debug for JobHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JobHandle")
            .field("job_id", &self.state.job_id)
            .field("container_id", &self.state.container_id)
            .field("container_name", &self.state.container_name)
            .field("terminal_state", &self.state.terminal())
            .finish()
    }
}

impl JobHandle {
    pub fn container_id(&self) -> &str {
        &self.state.container_id
    }

    pub fn container_name(&self) -> &str {
        &self.state.container_name
    }

    pub fn job_id(&self) -> &str {
        &self.state.job_id
    }

    /// How long `enter_states` waits before it terminates the container (the site's
    /// start timeout). `None`: no limit.
    pub fn timeout(&self) -> Option<Duration> {
        self.state.timeout
    }

    /// The terminal state, once known. Makes no engine call.
    pub fn terminal_state(&self) -> Option<JobReturnCode> {
        self.state.terminal()
    }

    /// How the job ended (exit code, OOM flag, finish time), once known.
    pub fn outcome(&self) -> Option<JobOutcome> {
        self.state.outcome()
    }

    /// Non-blocking look. Once terminal, returns the state with no engine call. Otherwise
    /// one inspect: a stopped container's outcome is recorded and the state set (the
    /// container is removed in the background); a running one gives UNKNOWN. A container
    /// the engine no longer knows gives UNKNOWN while the event task is connected and may
    /// still report its end (spec §9.4), and ABORTED (vanished) when it is not. An engine
    /// that cannot be reached or does not answer gives UNKNOWN: the job is not known to
    /// have ended (DESIGN decision 13). If another observer is recording the end right
    /// now, this returns UNKNOWN rather than wait for it.
    pub async fn poll(&self) -> JobReturnCode {
        self.try_poll().await.unwrap_or(JobReturnCode::Unknown)
    }

    /// [`Self::poll`], but an engine that cannot be asked is an error, not UNKNOWN.
    pub async fn try_poll(&self) -> Result<JobReturnCode, EngineError> {
        let h = &self.state;
        if let Some(code) = h.terminal() {
            return Ok(code);
        }
        // Another observer is deciding the end right now: do not wait for it.
        let guard = h.finishing.try_lock().ok().filter(|_| !h.busy());
        let Some(_guard) = guard else {
            return Ok(h.terminal().unwrap_or(JobReturnCode::Unknown));
        };
        let on_missing = if self.shared.is_connected() {
            OnMissing::Wait
        } else {
            OnMissing::Decide
        };
        match self
            .shared
            .settle_locked(h, ObservedBy::Inspect, on_missing, &[])
            .await
        {
            Seen::Ended(code) => Ok(code),
            Seen::Failed(e) => Err(e),
            Seen::Status(_) | Seen::Unknown => Ok(h.terminal().unwrap_or(JobReturnCode::Unknown)),
        }
    }

    /// Until terminal. Driven by the launcher's event task: no engine call while events
    /// flow, except one safety inspect per `settle_check_interval`. Falls back to
    /// inspecting every `poll_interval` while the event stream is down or when the event
    /// task could not read a container it saw end. Waits through any engine outage (an
    /// engine that cannot be asked is never an end). Has no deadline of its own; wrap it
    /// in `tokio::time::timeout` for one.
    pub async fn wait(&self) -> JobReturnCode {
        match self.wait_bounded(None).await {
            Ok(code) => code,
            // Without an outage limit the loop only ends with a terminal state.
            Err(_) => self.state.terminal().unwrap_or(JobReturnCode::Unknown),
        }
    }

    /// [`Self::wait`], but an engine that cannot be asked for longer than the site's
    /// `outage_limit` (counted from the first failed look, reset by any answer) ends the
    /// wait with that engine error. The job is not known to have ended then; nothing is
    /// recorded.
    pub async fn wait_through_outage(&self) -> Result<JobReturnCode, EngineError> {
        self.wait_bounded(Some(self.shared.settings.outage_limit)).await
    }

    async fn wait_bounded(&self, outage_limit: Option<Duration>) -> Result<JobReturnCode, EngineError> {
        let h = &self.state;
        let settings = &self.shared.settings;
        let mut terminal = h.terminal.subscribe();
        let mut connected = self.shared.events_connected.subscribe();
        // Once the event task could not decide, keep inspecting until the end is known.
        let mut fallback = false;
        let mut outage = Outage::new(outage_limit);
        loop {
            if let Some(code) = *terminal.borrow_and_update() {
                return Ok(code);
            }
            fallback |= std::mem::take(&mut lock(&h.inner).undecided);
            let live = *connected.borrow_and_update();
            let inspecting = fallback || !live || outage.ongoing();
            if inspecting {
                match self
                    .shared
                    .settle(h, ObservedBy::Inspect, OnMissing::Decide)
                    .await
                {
                    Seen::Ended(code) => return Ok(code),
                    Seen::Failed(e) => outage.failed(e)?,
                    Seen::Status(_) | Seen::Unknown => outage.answered(),
                }
            }
            let nap = if inspecting {
                settings.poll_interval
            } else {
                settings.settle_check_interval
            };
            let nudged = h.nudge.notified();
            tokio::select! {
                _ = terminal.changed() => {}
                _ = connected.changed() => {}
                _ = nudged => {}
                _ = tokio::time::sleep(nap) => {
                    if !inspecting {
                        // Safety net: an end the engine never announced.
                        match self.shared.settle(h, ObservedBy::Inspect, OnMissing::Decide).await {
                            Seen::Ended(code) => return Ok(code),
                            Seen::Failed(e) => outage.failed(e)?,
                            Seen::Status(_) | Seen::Unknown => outage.answered(),
                        }
                    }
                }
            }
        }
    }

    /// [`Self::wait`], then until this process has finished with the job: its output copied
    /// to the job's log file and its container removed (or kept on purpose, by retention
    /// or because the outcome could not be recorded). A removal that failed and is being
    /// retried in the background is not waited for (see [`crate::Launcher::wait_cleanups`]).
    /// Has no deadline of its own.
    pub async fn wait_settled(&self) -> JobReturnCode {
        let code = self.wait().await;
        job::wait_settled(&self.state, code).await
    }

    /// Whether this process has finished with the ended job (see [`Self::wait_settled`]).
    /// Makes no engine call.
    pub fn is_settled(&self) -> bool {
        *self.state.settled.borrow()
    }

    /// Stop with no grace period, record the ABORTED outcome, force-remove. The state
    /// ends ABORTED unless a terminal state was already set (set-once), also when the job
    /// exits on its own meanwhile. Never fails: engine errors are logged. When the engine
    /// could not be reached or did not answer the stop, nothing is recorded and UNKNOWN is
    /// returned (the job may still run); the stop is retried in the background, and any end
    /// seen later is recorded as ABORTED. Returns the terminal
    /// state once the container is removed (settled), also when another observer recorded
    /// the end.
    pub async fn terminate(&self) -> JobReturnCode {
        match self.try_terminate().await {
            Ok(code) => code,
            Err(_) => {
                self.retry_terminate_in_background();
                JobReturnCode::Unknown
            }
        }
    }

    /// After a stop the engine did not hear: try again with growing pauses (from the poll
    /// interval, at most the settle check interval) until it is heard or the job ends, for
    /// as long as the launcher lives.
    fn retry_terminate_in_background(&self) {
        let Ok(rt) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let state = self.state.clone();
        let weak = self.shared.me.clone();
        let mut pause = self.shared.settings.poll_interval;
        rt.spawn(async move {
            loop {
                let cap = match weak.upgrade() {
                    Some(shared) => shared.settings.settle_check_interval,
                    None => return,
                };
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(cap);
                if state.terminal().is_some() {
                    return;
                }
                let Some(shared) = weak.upgrade() else { return };
                if shared.terminate(&state, ObservedBy::Terminate).await.is_ok() {
                    return;
                }
            }
        });
    }

    /// [`Self::terminate`], but an engine that could not stop the container is an error.
    pub async fn try_terminate(&self) -> Result<JobReturnCode, EngineError> {
        self.shared.terminate(&self.state, ObservedBy::Terminate).await
    }

    /// Why the job's outcome could not be written to the state store, if it could not:
    /// the container is then kept, and `berth recover` records the outcome later.
    pub fn unrecorded(&self) -> Option<String> {
        self.state.unrecorded()
    }

    /// Wait until the container is in one of `states` (spec §9.7): `true` when reached;
    /// `false` when the job is already terminal, ends first (its outcome is recorded), or
    /// the engine cannot be asked. Inspects once per `poll_interval`. Past the handle's
    /// `timeout` it terminates the container and returns `false`.
    pub async fn enter_states(&self, states: &[DockerStatus]) -> bool {
        let h = &self.state;
        let start = Instant::now();
        let mut terminal = h.terminal.subscribe();
        loop {
            if h.terminal().is_some() {
                return false;
            }
            let seen = {
                let _guard = h.finishing.lock().await;
                let on_missing = if self.shared.is_connected() {
                    OnMissing::Wait
                } else {
                    OnMissing::Decide
                };
                self.shared
                    .settle_locked(h, ObservedBy::Inspect, on_missing, states)
                    .await
            };
            match seen {
                Seen::Status(s) if states.contains(&s) => return true,
                Seen::Status(_) => {}
                Seen::Ended(_) | Seen::Unknown | Seen::Failed(_) => return false,
            }
            if let Some(limit) = h.timeout {
                if start.elapsed() > limit {
                    tracing::warn!(job_id = %h.job_id, container = %h.container_name,
                        "container did not reach {states:?} within {limit:?}; terminating it");
                    let _ = self.shared.terminate_as(h, Observation::StartTimeout).await;
                    return false;
                }
            }
            tokio::select! {
                _ = terminal.changed() => {}
                _ = tokio::time::sleep(self.shared.settings.poll_interval) => {}
            }
        }
    }
}
