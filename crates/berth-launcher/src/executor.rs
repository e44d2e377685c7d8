//! The launcher's shared state (engine, store, settings, the jobs it follows, the event
//! connection, background cleanups) and the I/O side of the job lifecycle: it feeds what it
//! sees of a container to [`HandleState::apply`] and runs the actions that come back (record,
//! stop, copy the output, remove, wake the waiters). What those are is decided in
//! [`crate::lifecycle`] alone.
//!
//! Order of an observed end: the outcome is recorded durably, then the terminal state is
//! set, then a background cleanup copies the output and removes the container (the
//! copy's flush to disk runs beside the removal: the bytes are out of the engine); the
//! handle's `settled` channel turns `true` when that cleanup is over, and the launcher
//! counts cleanups in flight so a short-lived process can wait for them before it exits.
//! `terminate()` keeps its own order: stop, with the ABORTED record and the output copy
//! under way meanwhile, then remove, then set.

use berth_core::{labels, DockerStatus, JobReturnCode};
use berth_engine::{ContainerRuntime, ContainerSummary, EngineError, LabelFilter};
use berth_store::{JobOutcome, ObservedBy, OutcomeStore, StoreError};
use std::collections::{HashMap, VecDeque};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;
use tokio::sync::{watch, Notify};

use crate::job::{lock, now_ms, wait_settled, HandleState, OnMissing, Seen};
use crate::joblog;
use crate::lifecycle::{Action, Observation};
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

/// Log what keeping a job's output came to; the file when it was kept.
fn kept(job_id: &str, flushed: Result<(PathBuf, u64), String>) -> Option<PathBuf> {
    match flushed {
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

/// Flush a copied output to disk, if there is one.
async fn flush(job_id: &str, copied: Option<joblog::Copied>) {
    if let Some(copied) = copied {
        kept(job_id, copied.flush().await);
    }
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
    /// Turns for create and start requests ([`LauncherSettings::max_starting`]).
    pub starting: tokio::sync::Semaphore,
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

    /// Every container of the site (berth's labels), running or not.
    pub async fn list_site(&self) -> berth_core::Result<Vec<ContainerSummary>> {
        self.runtime.list(&self.site_filters(), true).await.map_err(|e| {
            berth_core::Error::refused(format!(
                "cannot list the containers of site '{}': {e}",
                self.settings.site
            ))
        })
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

    /// Copy the container's output to the job's log file and flush it. Failures are
    /// logged, never returned: the caller goes on to remove the container.
    pub async fn save_log(
        &self,
        container_id: &str,
        job_id: &str,
        job_dir: Option<&Path>,
    ) -> Option<PathBuf> {
        let copied = self.copy_log(container_id, job_id, job_dir, false).await?;
        kept(job_id, copied.flush().await)
    }

    /// The output copied into the job's log file, not yet flushed; `None` (logged) when
    /// it could not be.
    async fn copy_log(
        &self,
        container_id: &str,
        job_id: &str,
        job_dir: Option<&Path>,
        follow: bool,
    ) -> Option<joblog::Copied> {
        let Some(dir) = job_dir else {
            tracing::debug!(job_id = %job_id, "no job folder known; the output is not kept");
            return None;
        };
        let copied = joblog::copy(
            self.runtime.as_ref(),
            container_id,
            dir,
            self.settings.log_copy_timeout,
            follow,
        )
        .await;
        copied
            .map_err(|e| tracing::warn!(job_id = %job_id, "cannot keep the job's output: {e}"))
            .ok()
    }

    /// Keep the job's output, then force-remove its container. Once the output is out of
    /// the engine, its flush to disk and the removal go on together.
    pub async fn save_log_and_remove(&self, h: &HandleState) {
        let copied = self
            .copy_log(&h.container_id, &h.job_id, h.job_dir.as_deref(), false)
            .await;
        tokio::join!(flush(&h.job_id, copied), self.remove_container(h));
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

    /// Run the actions a lifecycle step asked for, in order, feeding back what the store
    /// answers to a record. The stop of a terminate is not run here (see
    /// [`Self::terminate`]).
    pub async fn run(&self, h: &Arc<HandleState>, actions: Vec<Action>) {
        let mut queue = VecDeque::from(actions);
        let mut counted = None;
        while let Some(action) = queue.pop_front() {
            match action {
                Action::Record(outcome) => {
                    let recorded = self.record(h, outcome).await;
                    queue.extend(h.apply(Observation::Recorded(recorded)));
                }
                Action::Remove => self.remove_container(h).await,
                Action::Untrack => {
                    lock(&self.jobs).remove(&h.container_id);
                }
                Action::Wake(code) => {
                    // The cleanup is counted before the state is set, so a waiter that
                    // wakes and then waits for cleanups cannot miss it.
                    if queue.contains(&Action::Cleanup) {
                        counted = self
                            .me
                            .upgrade()
                            .map(|shared| (CleanupGuard::new(shared.clone()), shared));
                    }
                    h.wake(code);
                }
                Action::Cleanup => match counted.take() {
                    Some((guard, shared)) => {
                        let h = h.clone();
                        tokio::spawn(async move {
                            let _guard = guard;
                            shared.clean_up(&h).await;
                            h.mark_settled();
                        });
                    }
                    None => h.mark_settled(),
                },
                Action::Settled => h.mark_settled(),
                Action::Inspect => {
                    if let Some(shared) = self.me.upgrade() {
                        tokio::spawn(crate::watcher::settle_with_retry(
                            shared,
                            h.clone(),
                            ObservedBy::Event,
                            OnMissing::Decide,
                        ));
                    }
                }
                Action::Stop | Action::FollowLog | Action::Withdraw => {
                    tracing::error!(job_id = %h.job_id, "{action:?} belongs to a terminate; not run");
                }
            }
        }
    }

    /// Record `outcome` durably (the first one for the container wins); the stored one, or
    /// why it could not be written.
    async fn record(&self, h: &HandleState, outcome: JobOutcome) -> Result<JobOutcome, String> {
        if let Some(marker) = &self.settings.hold_before_record {
            // Test-only: stop between "container ended" and "outcome written".
            if let Err(e) = std::fs::write(marker, &h.container_id) {
                tracing::error!("cannot write the hold marker {}: {e}", marker.display());
            }
            tracing::warn!(job_id = %h.job_id, "hold_before_record is set: holding before recording");
            std::future::pending::<()>().await;
        }
        self.on_store(move |s| s.record_outcome(&outcome))
            .await
            .map_err(|e| {
                tracing::error!(job_id = %h.job_id, container = %h.container_name,
                    "cannot record the outcome: {e}; keeping the container for recovery");
                e.to_string()
            })
    }

    /// An ended job's cleanup: keep its output, then remove its container, or keep the
    /// container of a failed job for the retention period.
    async fn clean_up(&self, h: &HandleState) {
        let Some(outcome) = h.outcome() else { return };
        let keep = self
            .settings
            .keep_failed_for
            .filter(|_| outcome.return_code != JobReturnCode::Success);
        match keep {
            Some(period) => {
                tracing::info!(job_id = %h.job_id, container = %h.container_name,
                    "keeping the container of a failed job for {period:?}");
                self.save_log(&h.container_id, &h.job_id, h.job_dir.as_deref())
                    .await;
                self.schedule_sweep(h, &outcome, period);
            }
            None => self.save_log_and_remove(h).await,
        }
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

    /// Apply `observation`, run what it leads to, and say what is known then: the end once
    /// decided (waiting for another observer's record to finish), else `otherwise`.
    async fn observe(&self, h: &Arc<HandleState>, observation: Observation, otherwise: Seen) -> Seen {
        let actions = h.apply(observation);
        self.run(h, actions).await;
        if lock(&h.inner).lifecycle.decided() {
            return Seen::Ended(h.ended().await);
        }
        otherwise
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
                let seen = Observation::inspected(&st, by, now_ms());
                self.observe(h, seen, Seen::Status(status)).await
            }
            Err(EngineError::NotFound(_)) => {
                tracing::info!(job_id = %h.job_id, container = %h.container_name, "container not found");
                // Its end is known if an outcome was recorded (by this or another process).
                let stored = match self.store.outcome(&h.container_id) {
                    Ok(stored) => stored,
                    Err(e) => {
                        tracing::warn!(job_id = %h.job_id, "cannot read the state store: {e}");
                        None
                    }
                };
                let missing = Observation::Missing {
                    stored,
                    decide: on_missing == OnMissing::Decide,
                    at_ms: now_ms(),
                };
                self.observe(h, missing, Seen::Unknown).await
            }
            Err(e) => {
                // An outage is logged once by the deadline wrapper; other failures here.
                if matches!(e, EngineError::Unreachable(_)) {
                    tracing::debug!(job_id = %h.job_id, container = %h.container_name, "cannot inspect: {e}");
                } else {
                    tracing::warn!(job_id = %h.job_id, container = %h.container_name, "cannot inspect: {e}");
                }
                h.apply(Observation::EngineError);
                Seen::Failed(e)
            }
        }
    }

    pub async fn settle(&self, h: &Arc<HandleState>, by: ObservedBy, on_missing: OnMissing) -> Seen {
        let _guard = h.finishing.lock().await;
        self.settle_locked(h, by, on_missing, &[]).await
    }

    /// Stop with no grace (the runtime's kill), record ABORTED, force-remove. A terminal
    /// state that was already set is kept. `Err` when the engine could not be reached or did
    /// not answer the stop: nothing is recorded then, since the job may still run, and any
    /// end observed later is ABORTED. An error answer of the engine still ends ABORTED, as
    /// upstream. When the outcome cannot be written the container is kept (recovery records
    /// it later) and the state is set all the same.
    ///
    /// Two engine round trips in series, the stop and the removal. The stop is the
    /// runtime's [`ContainerRuntime::kill`] (on Docker a SIGKILL, one engine step shorter
    /// than upstream's stop with no grace, with the same effect). While the stop is under
    /// way the ABORTED outcome is committed (durable before the removal, as every outcome
    /// is; taken back if the stop was not heard) and the job's output is copied by
    /// following its log until the container stops. The copy's flush to disk runs beside
    /// the removal; both are over when this returns.
    pub async fn terminate(
        &self,
        h: &Arc<HandleState>,
        by: ObservedBy,
    ) -> Result<JobReturnCode, EngineError> {
        self.terminate_as(h, Observation::Terminate { by }).await
    }

    /// [`Self::terminate`], begun by `request` ([`Observation::Terminate`] or
    /// [`Observation::StartTimeout`]).
    pub async fn terminate_as(
        &self,
        h: &Arc<HandleState>,
        request: Observation,
    ) -> Result<JobReturnCode, EngineError> {
        // From here any end observed is ABORTED.
        h.apply(request);
        if let Some(code) = h.terminal() {
            return Ok(wait_settled(h, code).await);
        }
        let _guard = h.finishing.lock().await;
        let actions = h.apply(Observation::StopNow { at_ms: now_ms() });
        let Some(outcome) = actions.iter().find_map(|a| match a {
            Action::Record(o) => Some(o.clone()),
            _ => None,
        }) else {
            // Another observer decided the end; like our own path, return once the
            // container is gone.
            let code = h.ended().await;
            return Ok(wait_settled(h, code).await);
        };
        let stop_failed = Notify::new();
        let stop = async {
            let stopped = self.runtime.kill(&h.container_id).await;
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
                copied = self.copy_log(&h.container_id, &h.job_id, h.job_dir.as_deref(), true) => copied,
                _ = stop_failed.notified() => None,
            }
        };
        let to_record = outcome.clone();
        let (stopped, recorded, copied) =
            tokio::join!(stop, self.on_store(move |s| s.record_outcome(&to_record)), copy);
        let unheard = matches!(stopped, Err(EngineError::Unreachable(_)));
        for action in h.apply(Observation::StopAnswered { heard: !unheard }) {
            match action {
                Action::Withdraw => {
                    if let Ok(stored) = &recorded {
                        let stored = stored.clone();
                        if let Err(w) = self.on_store(move |s| s.withdraw_outcome(&stored)).await {
                            tracing::error!(job_id = %h.job_id, "cannot take back the ABORTED outcome of a stop that was not heard: {w}");
                        }
                    }
                }
                other => self.run(h, vec![other]).await,
            }
        }
        if let Err(e @ EngineError::Unreachable(_)) = stopped {
            flush(&h.job_id, copied).await;
            return Err(e);
        }
        let recorded = recorded.map_err(|e| {
            tracing::error!(job_id = %h.job_id, container = %h.container_name,
                "cannot record the ABORTED outcome: {e}; keeping the container for recovery");
            e.to_string()
        });
        let copied = match copied {
            // The followed copy was abandoned; keep what the container has written so far.
            None if recorded.is_ok() && stopped.is_err() => {
                self.copy_log(&h.container_id, &h.job_id, h.job_dir.as_deref(), false)
                    .await
            }
            copied => copied,
        };
        // The output is out of the engine: its flush and the removal go on together.
        let actions = h.apply(Observation::Recorded(recorded));
        tokio::join!(flush(&h.job_id, copied), self.run(h, actions));
        Ok(h.terminal().unwrap_or(JobReturnCode::Aborted))
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
