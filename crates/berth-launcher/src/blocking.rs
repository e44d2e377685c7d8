//! A blocking facade for callers that are not async (the CLI, the Python package).
//!
//! [`BlockingLauncher`] owns a small multi-thread tokio runtime (a fixed two worker
//! threads); the launcher's event task runs there, so jobs are followed between calls.
//! Do not call these methods from inside an async context: they block the thread.
//!
//! A job's output copy and container removal run in the background after its terminal
//! state is set. [`BlockingLauncher::shutdown`], and dropping the launcher, wait for those
//! still running, for at most [`LauncherSettings::cleanup_deadline`], so a one-shot
//! process does not exit with a container still to be removed.

use crate::{JobHandle, Launcher, LauncherSettings, RecoveryReport};
use berth_core::config::OrphanPolicy;
use berth_core::plan::ContainerPlan;
use berth_core::{DockerStatus, JobReturnCode, Result};
use berth_engine::{ContainerRuntime, EngineError};
use berth_store::{JobOutcome, OutcomeStore};
use std::sync::Arc;
use std::time::Duration;

/// Worker threads of the facade's runtime: the event task, the launches and terminates
/// (tasks here, see [`on_workers`]), settle tasks and output copies (writes into the page
/// cache; their flushes to disk run on the blocking threads).
const WORKER_THREADS: usize = 2;

/// Blocking threads of the facade's runtime: the state store's commits and the job logs'
/// flushes to disk. Two, so a long flush never holds up an outcome commit (SQLite serialises
/// writers anyway); the thread count stays flat however many jobs end at once.
const BLOCKING_THREADS: usize = 2;

/// [`Launcher`] with blocking methods.
pub struct BlockingLauncher {
    // Dropped before the runtime it runs on.
    launcher: Launcher,
    rt: Arc<tokio::runtime::Runtime>,
}

impl std::fmt::Debug for BlockingLauncher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BlockingLauncher")
            .field("launcher", &self.launcher)
            .finish_non_exhaustive()
    }
}

impl BlockingLauncher {
    /// Builds the runtime; contacts no engine.
    pub fn new(
        runtime: Arc<dyn ContainerRuntime>,
        settings: LauncherSettings,
        store: Arc<dyn OutcomeStore>,
    ) -> std::io::Result<Self> {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(WORKER_THREADS)
            .max_blocking_threads(BLOCKING_THREADS)
            .thread_name("berth-launcher")
            .enable_all()
            .build()?;
        Ok(Self {
            launcher: Launcher::new(runtime, settings, store),
            rt: Arc::new(rt),
        })
    }

    pub fn launcher(&self) -> &Launcher {
        &self.launcher
    }

    pub fn launch(&self, plan: ContainerPlan) -> Result<BlockingJobHandle> {
        let launcher = self.launcher.clone();
        let handle = on_workers(&self.rt, async move { launcher.launch(plan).await })?;
        Ok(self.wrap(handle))
    }

    pub fn attach(&self, what: &str) -> Result<BlockingJobHandle> {
        let handle = self.rt.block_on(self.launcher.attach(what))?;
        Ok(self.wrap(handle))
    }

    /// [`Launcher::lookup`]: `Ok(None)` only when the engine answered and has no container
    /// of `what` (and the store no outcome).
    pub fn lookup(&self, what: &str) -> Result<Option<BlockingJobHandle>> {
        let handle = self.rt.block_on(self.launcher.lookup(what))?;
        Ok(handle.map(|h| self.wrap(h)))
    }

    /// Run `fut` on the launcher's runtime (engine calls through [`Launcher::runtime`]).
    pub fn block_on<F: std::future::Future>(&self, fut: F) -> F::Output {
        self.rt.block_on(fut)
    }

    /// [`Launcher::recover`]. Adopted jobs keep being followed on the facade's runtime
    /// while this value lives.
    pub fn recover(&self, policy: OrphanPolicy) -> Result<RecoveryReport> {
        self.rt.block_on(self.launcher.recover(policy))
    }

    /// [`Launcher::recover_at_start`].
    pub fn recover_at_start(&self) -> Option<Result<RecoveryReport>> {
        self.rt.block_on(self.launcher.recover_at_start())
    }

    /// Wait until no cleanup (output copy, container removal, removal retry) runs in the
    /// background, for at most the site's `cleanup_deadline`. Returns how many were still
    /// running then (0: all done; the rest is left to `berth recover`). The launcher stays
    /// usable. Dropping the launcher does the same.
    pub fn shutdown(&self) -> usize {
        let limit = self.launcher.settings().cleanup_deadline;
        let left = self.rt.block_on(self.launcher.wait_cleanups(limit));
        if left > 0 {
            tracing::warn!(
                "{left} container cleanup(s) still running after {limit:?} (cleanup_deadline); \
                 `berth recover` will finish them"
            );
        }
        left
    }

    fn wrap(&self, handle: JobHandle) -> BlockingJobHandle {
        BlockingJobHandle {
            handle,
            rt: self.rt.clone(),
        }
    }
}

/// Run `work` as a task on the runtime's workers and block until it is done. A future run
/// by `block_on` is polled on the calling thread, so each engine answer the workers read
/// must wake that thread, and each step it takes wakes them again; a task on the workers
/// makes those steps where the answers arrive, and wakes the caller once. A panic in
/// `work` is a panic here.
fn on_workers<T: Send + 'static>(
    rt: &tokio::runtime::Runtime,
    work: impl std::future::Future<Output = T> + Send + 'static,
) -> T {
    match rt.block_on(rt.spawn(work)) {
        Ok(value) => value,
        Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
        // Tasks are cancelled only when the runtime shuts down, and it lives as long as
        // `rt`, which the caller holds.
        Err(e) => panic!("a launcher task was cancelled: {e}"),
    }
}

impl Drop for BlockingLauncher {
    fn drop(&mut self) {
        if self.launcher.cleanups_in_flight() == 0 {
            return;
        }
        if tokio::runtime::Handle::try_current().is_ok() {
            // Blocking here would stall (or panic) the caller's runtime.
            tracing::warn!("BlockingLauncher dropped inside an async context; not waiting for cleanups");
            return;
        }
        self.shutdown();
    }
}

/// [`JobHandle`] with blocking methods. Cheap to clone.
#[derive(Clone)]
pub struct BlockingJobHandle {
    handle: JobHandle,
    rt: Arc<tokio::runtime::Runtime>,
}

impl std::fmt::Debug for BlockingJobHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.handle.fmt(f)
    }
}

impl BlockingJobHandle {
    pub fn handle(&self) -> &JobHandle {
        &self.handle
    }

    pub fn container_id(&self) -> &str {
        self.handle.container_id()
    }

    pub fn container_name(&self) -> &str {
        self.handle.container_name()
    }

    pub fn job_id(&self) -> &str {
        self.handle.job_id()
    }

    pub fn timeout(&self) -> Option<Duration> {
        self.handle.timeout()
    }

    pub fn terminal_state(&self) -> Option<JobReturnCode> {
        self.handle.terminal_state()
    }

    pub fn outcome(&self) -> Option<JobOutcome> {
        self.handle.outcome()
    }

    pub fn poll(&self) -> JobReturnCode {
        self.rt.block_on(self.handle.poll())
    }

    pub fn wait(&self) -> JobReturnCode {
        self.rt.block_on(self.handle.wait())
    }

    /// [`JobHandle::wait_settled`]: until terminal, then until the output is copied and the
    /// container removed.
    pub fn wait_settled(&self) -> JobReturnCode {
        self.rt.block_on(self.handle.wait_settled())
    }

    /// Whether this process has finished with the ended job ([`JobHandle::is_settled`]).
    pub fn is_settled(&self) -> bool {
        self.handle.is_settled()
    }

    /// [`JobHandle::wait`] for at most `limit`: `None` when the job has not ended by then.
    pub fn wait_timeout(&self, limit: Duration) -> Option<JobReturnCode> {
        self.rt
            .block_on(async { tokio::time::timeout(limit, self.handle.wait()).await.ok() })
    }

    pub fn terminate(&self) -> JobReturnCode {
        let handle = self.handle.clone();
        on_workers(&self.rt, async move { handle.terminate().await })
    }

    /// [`JobHandle::try_terminate`].
    pub fn try_terminate(&self) -> std::result::Result<JobReturnCode, EngineError> {
        let handle = self.handle.clone();
        on_workers(&self.rt, async move { handle.try_terminate().await })
    }

    /// [`JobHandle::try_poll`].
    pub fn try_poll(&self) -> std::result::Result<JobReturnCode, EngineError> {
        self.rt.block_on(self.handle.try_poll())
    }

    /// [`JobHandle::wait_through_outage`], then until settled (as [`Self::wait_settled`]).
    pub fn wait_settled_through_outage(&self) -> std::result::Result<JobReturnCode, EngineError> {
        self.rt.block_on(async {
            self.handle.wait_through_outage().await?;
            Ok(self.handle.wait_settled().await)
        })
    }

    /// [`JobHandle::unrecorded`].
    pub fn unrecorded(&self) -> Option<String> {
        self.handle.unrecorded()
    }

    pub fn enter_states(&self, states: &[DockerStatus]) -> bool {
        self.rt.block_on(self.handle.enter_states(states))
    }
}
