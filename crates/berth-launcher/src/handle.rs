//! [`JobHandle`]: one job container, as NVFlare's `DockerJobHandle` sees it.

use crate::shared::{self, lock, HandleState, OnMissing, Seen, Shared};
use berth_core::{DockerStatus, JobReturnCode};
use berth_store::{JobOutcome, ObservedBy};
use std::sync::Arc;
use std::time::{Duration, Instant};

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
    /// container is removed in the background); a running one gives UNKNOWN. A container the engine no longer knows
    /// gives UNKNOWN while the event task is connected and may still report its end
    /// (spec §9.4), and ABORTED (vanished) when it is not. If another observer is
    /// recording the end right now, this returns UNKNOWN rather than wait for it.
    pub async fn poll(&self) -> JobReturnCode {
        let h = &self.state;
        if let Some(code) = h.terminal() {
            return code;
        }
        let Ok(_guard) = h.finishing.try_lock() else {
            return h.terminal().unwrap_or(JobReturnCode::Unknown);
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
            Seen::Ended(code) => code,
            Seen::Status(_) | Seen::Unknown => h.terminal().unwrap_or(JobReturnCode::Unknown),
        }
    }

    /// Until terminal. Driven by the launcher's event task: no engine call while events
    /// flow, except one safety inspect per `settle_check_interval`. Falls back to
    /// inspecting every `poll_interval` while the event stream is down or when the event
    /// task could not read a container it saw end. Has no deadline of its own; wrap it in
    /// `tokio::time::timeout` for one.
    pub async fn wait(&self) -> JobReturnCode {
        let h = &self.state;
        let settings = &self.shared.settings;
        let mut terminal = h.terminal.subscribe();
        let mut connected = self.shared.events_connected.subscribe();
        // Once the event task could not decide, keep inspecting until the end is known.
        let mut fallback = false;
        loop {
            if let Some(code) = *terminal.borrow_and_update() {
                return code;
            }
            fallback |= std::mem::take(&mut lock(&h.inner).undecided);
            let live = *connected.borrow_and_update();
            let inspecting = fallback || !live;
            if inspecting {
                if let Seen::Ended(code) = self
                    .shared
                    .settle(h, ObservedBy::Inspect, OnMissing::Decide)
                    .await
                {
                    return code;
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
                        if let Seen::Ended(code) =
                            self.shared.settle(h, ObservedBy::Inspect, OnMissing::Decide).await
                        {
                            return code;
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
        shared::wait_settled(&self.state, code).await
    }

    /// Whether this process has finished with the ended job (see [`Self::wait_settled`]).
    /// Makes no engine call.
    pub fn is_settled(&self) -> bool {
        *self.state.settled.borrow()
    }

    /// Stop with no grace period, record the ABORTED outcome, force-remove. The state
    /// ends ABORTED unless a terminal state was already set (set-once), also when the job
    /// exits on its own meanwhile. Never fails: engine errors (404, 304, 409, others) are
    /// logged. Returns the terminal state once the container is removed (settled), also
    /// when another observer recorded the end.
    pub async fn terminate(&self) -> JobReturnCode {
        self.shared.terminate(&self.state, ObservedBy::Terminate).await
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
                Seen::Ended(_) | Seen::Unknown => return false,
            }
            if let Some(limit) = h.timeout {
                if start.elapsed() > limit {
                    tracing::warn!(job_id = %h.job_id, container = %h.container_name,
                        "container did not reach {states:?} within {limit:?}; terminating it");
                    self.shared.terminate(h, ObservedBy::StartTimeout).await;
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
