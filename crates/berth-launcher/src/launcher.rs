//! [`Launcher`]: engine checks, launch and attach.

use crate::executor::{EngineChecked, Shared};
use crate::handle::JobHandle;
use crate::job::{lock, now_ms, HandleState, OnMissing, Seen};
use crate::lifecycle::{self, Observation};
use crate::settings::LauncherSettings;
use crate::watcher;
use berth_core::plan::ContainerPlan;
use berth_core::{labels, DockerStatus, Error, Result};
use berth_engine::deadline::DeadlineRuntime;
use berth_engine::{ContainerRuntime, EngineError};
use berth_store::{LaunchRecord, ObservedBy, OutcomeStore};
use std::sync::Arc;

/// Launches a site's job containers and follows them to their end.
///
/// Construction contacts no engine. The first launch pings the engine and checks the
/// site network (spec §8), caching the result only after success. One background event
/// task per launcher (started on the first launch or attach, on the caller's tokio
/// runtime) detects every job's end. Cheap to clone; clones share everything.
#[derive(Clone)]
pub struct Launcher {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for Launcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Launcher")
            .field("settings", &self.shared.settings)
            .finish_non_exhaustive()
    }
}

/// Cancelling a launch (dropping its future) after the container exists terminates the
/// container, as upstream terminates on any exception during the start handshake.
struct TerminateOnDrop(Option<JobHandle>);

impl Drop for TerminateOnDrop {
    fn drop(&mut self) {
        if let Some(handle) = self.0.take() {
            if let Ok(rt) = tokio::runtime::Handle::try_current() {
                rt.spawn(async move {
                    handle.terminate().await;
                });
            }
        }
    }
}

/// How long a relaunch waits for the removal of its job's leftover container.
const LEFTOVER_REMOVAL_DEADLINE: std::time::Duration = std::time::Duration::from_secs(15);

fn creating(job_id: &str, e: impl std::fmt::Display) -> Error {
    Error::refused(format!("error creating container for job {job_id}: {e}"))
}

/// An engine failure during a launch: an engine that stopped answering is reported as
/// spec §8 words it, whichever request noticed; anything else as a create failure.
fn engine_failure(job_id: &str, e: &EngineError, context: impl std::fmt::Display) -> Error {
    match e {
        EngineError::Unreachable(_) => Error::refused(format!("cannot connect to Docker daemon: {e}"))
            .with_hint("is the engine running? check DOCKER_HOST or /var/run/docker.sock"),
        _ => creating(job_id, format!("{context}{e}")),
    }
}

/// `fut` until `deadline` (none: no limit). Past it, the launch is refused; dropping the
/// launch's future stops a container it already created ([`TerminateOnDrop`]).
async fn within<T>(
    deadline: Option<tokio::time::Instant>,
    budget: Option<std::time::Duration>,
    job_id: &str,
    fut: impl std::future::Future<Output = Result<T>>,
) -> Result<T> {
    let Some(deadline) = deadline else {
        return fut.await;
    };
    match tokio::time::timeout_at(deadline, fut).await {
        Ok(result) => result,
        Err(_) => Err(Error::refused(format!(
            "the launch of job {job_id} did not finish within {:?} (the site's timeout plus engine_timeout)",
            budget.unwrap_or_default()
        ))
        .with_hint("check the engine (berth doctor); a container the launch created is stopped, or cleared by the next launch of the job")),
    }
}

fn label(plan: &ContainerPlan, key: &str) -> Option<String> {
    plan.create.get("Labels")?.get(key)?.as_str().map(str::to_string)
}

/// Whether the plan lets the engine restart the container after its job ends (a restart
/// policy other than `no`): its die event is then not the job's end.
fn may_restart(plan: &ContainerPlan) -> bool {
    let policy = plan
        .create
        .get("HostConfig")
        .and_then(|h| h.get("RestartPolicy"))
        .and_then(|p| p.get("Name"))
        .and_then(|n| n.as_str());
    !matches!(policy, None | Some("") | Some("no"))
}

impl Launcher {
    /// A launcher over `runtime`, which it wraps in a [`DeadlineRuntime`] with the site's
    /// `engine_timeout`: every engine request it makes has that deadline.
    pub fn new(
        runtime: Arc<dyn ContainerRuntime>,
        settings: LauncherSettings,
        store: Arc<dyn OutcomeStore>,
    ) -> Self {
        let runtime: Arc<dyn ContainerRuntime> =
            Arc::new(DeadlineRuntime::new(runtime, settings.engine_timeout));
        let starting = tokio::sync::Semaphore::new(settings.max_starting.max(1));
        Self {
            shared: Arc::new_cyclic(|me| Shared {
                me: me.clone(),
                runtime,
                settings,
                store,
                jobs: Default::default(),
                events_connected: tokio::sync::watch::Sender::new(false),
                watcher: Default::default(),
                engine_checked: tokio::sync::Mutex::new(EngineChecked::default()),
                images_checked: Default::default(),
                starting,
                start_recovery: tokio::sync::Mutex::new(false),
                cleanups: tokio::sync::watch::Sender::new(0),
            }),
        }
    }

    pub fn settings(&self) -> &LauncherSettings {
        &self.shared.settings
    }

    /// The engine as the launcher speaks to it: every request with the site's
    /// `engine_timeout`. Front ends use it for what the launcher does not do itself
    /// (listings, logs), so their requests have the same deadline.
    pub fn runtime(&self) -> Arc<dyn ContainerRuntime> {
        self.shared.runtime.clone()
    }

    pub(crate) fn shared(&self) -> &Arc<Shared> {
        &self.shared
    }

    /// With `recover_on_start`, run recovery once, before the first launch or attach. Its
    /// failure is logged, not returned: the launch goes on.
    async fn recover_once_at_start(&self) {
        let _ = self.recover_at_start().await;
    }

    /// With `recover_on_start`, run recovery with the site's `orphan_policy` unless it has
    /// run already in this launcher (then, or without the setting, `None`). The outcome is
    /// logged as well as returned. Called by the parent when it starts, and by the first
    /// launch or attach at the latest.
    pub async fn recover_at_start(&self) -> Option<Result<crate::RecoveryReport>> {
        if !self.shared.settings.recover_on_start {
            return None;
        }
        let mut done = self.shared.start_recovery.lock().await;
        if *done {
            return None;
        }
        *done = true;
        let result = self.recover(self.shared.settings.orphan_policy).await;
        match &result {
            Ok(report) => tracing::info!("recovery at start: {}", report.summary()),
            Err(e) => tracing::error!("recovery at start failed: {e}"),
        }
        Some(result)
    }

    /// Jobs this launcher follows that have not ended yet.
    pub fn running_jobs(&self) -> Vec<JobHandle> {
        lock(&self.shared.jobs)
            .values()
            .map(|state| JobHandle {
                state: state.clone(),
                shared: self.shared.clone(),
            })
            .collect()
    }

    /// Ping (and with `network`, check the site network). Spec §8's errors; the result is
    /// cached only after success, so a failure is retried next time.
    pub(crate) async fn check_engine(&self, network: bool) -> Result<()> {
        let mut checked = self.shared.engine_checked.lock().await;
        if !checked.pinged {
            self.shared
                .runtime
                .ping()
                .await
                .map_err(|e| Error::refused(format!("cannot connect to Docker daemon: {e}")))?;
            checked.pinged = true;
        }
        if network && !checked.network {
            let n = &self.shared.settings.network;
            match self.shared.runtime.network_exists(n).await {
                Ok(true) => checked.network = true,
                Ok(false) | Err(EngineError::NotFound(_)) => {
                    return Err(Error::refused(format!("Docker network '{n}' does not exist"))
                        .with_hint(format!("docker network create {n}")))
                }
                Err(e) => {
                    return Err(Error::refused(format!(
                        "error checking Docker network '{n}': {e}"
                    )))
                }
            }
        }
        Ok(())
    }

    /// Create, start and wait for `running` (spec §5 steps 23–27, DESIGN decisions 1, 5, 6).
    ///
    /// Always returns a handle when it returns `Ok`: a container that does not reach
    /// `running` within the start timeout is terminated and its handle returned; one that
    /// ends before `running` is seen has its outcome recorded and is returned as such.
    /// Errors are `Refused`: engine unreachable, network or image missing, a running
    /// container of the same name, or an engine failure on create or start.
    pub async fn launch(&self, plan: ContainerPlan) -> Result<JobHandle> {
        let settings = &self.shared.settings;
        let job_id = plan.job_id.clone();
        if plan.site != settings.site {
            return Err(Error::invalid(format!(
                "plan for job {job_id} is for site '{}', but this launcher runs site '{}'",
                plan.site, settings.site
            )));
        }
        if label(&plan, labels::MANAGED).as_deref() != Some("true")
            || label(&plan, labels::SITE).as_deref() != Some(settings.site.as_str())
        {
            return Err(Error::invalid(format!(
                "plan for job {job_id} lacks berth's labels ({} and {}); its end could not be followed",
                labels::MANAGED,
                labels::SITE
            )));
        }
        // DESIGN decision 15: the folder the plan mounts must hold berth's Python files
        // before the container is created (a bind source must exist).
        if let Some(root) = crate::pyfiles::mounted_root(&plan) {
            crate::pyfiles::write_job_files(&root)?;
        }
        // The whole launch within the site's timeout plus one request deadline, the
        // recovery at start and the wait for a turn to start aside; every request has its
        // own deadline as well.
        let budget = settings
            .start_timeout
            .map(|t| t.saturating_add(settings.engine_timeout));
        let mut deadline = budget.map(|b| tokio::time::Instant::now() + b);
        within(deadline, budget, &job_id, self.check_engine(true)).await?;
        let waiting = tokio::time::Instant::now();
        self.recover_once_at_start().await;
        // `max_starting`: queued here rather than in the engine, where the queue time would
        // count against each request's deadline. The semaphore is never closed.
        let turn = self.shared.starting.acquire().await.ok();
        if let Some(d) = deadline.as_mut() {
            *d += waiting.elapsed();
        }
        within(deadline, budget, &job_id, self.create_and_start(plan, turn)).await
    }

    /// [`Self::launch`] once the engine is checked: image, create, start, wait for running.
    /// `turn` is given back once the start is answered.
    async fn create_and_start(
        &self,
        plan: ContainerPlan,
        turn: Option<tokio::sync::SemaphorePermit<'_>>,
    ) -> Result<JobHandle> {
        let settings = &self.shared.settings;
        let job_id = plan.job_id.clone();
        watcher::ensure_started(&self.shared);
        self.ensure_image(&plan).await?;

        let runtime = &self.shared.runtime;
        let create = || runtime.create(&plan.name, &plan.create, plan.platform.as_deref());
        let mut created = match create().await {
            // DESIGN decision 6, looked at only when the name is taken, so a launch does
            // not pay an extra inspect for the rare leftover.
            Err(EngineError::Conflict(_)) => {
                self.clear_leftover(&plan).await?;
                create().await
            }
            other => other,
        };
        if matches!(created, Err(EngineError::NotFound(_))) && self.forget_image(&plan.image).await {
            // The image was trusted from an earlier check and is gone now: check again
            // (pulling it when the site allows), then try once more.
            self.ensure_image(&plan).await?;
            created = create().await;
        }
        let container_id = match created {
            Ok(id) => id,
            Err(EngineError::NotFound(m)) => {
                return Err(Error::refused(format!(
                    "image '{}' not found for job {job_id}: {m}",
                    plan.image
                )))
            }
            Err(e @ EngineError::Unreachable(_)) => {
                // The create may have reached the engine and only its answer was lost.
                self.remove_unstarted(&plan).await;
                return Err(engine_failure(&job_id, &e, "").with_hint(format!(
                    "if the engine created container '{}' all the same, the next launch of job {job_id} \
                     removes it (it never started)",
                    plan.name
                )));
            }
            Err(e) => return Err(engine_failure(&job_id, &e, "")),
        };
        let state = Arc::new(
            HandleState::new(&job_id, &container_id, &plan.name, settings.start_timeout)
                .with_job_dir(Some(plan.parent_job_dir.clone()))
                .with_restart_policy(may_restart(&plan)),
        );
        let handle = JobHandle {
            state: state.clone(),
            shared: self.shared.clone(),
        };
        let mut guard = TerminateOnDrop(Some(handle.clone()));
        let record = LaunchRecord {
            job_id: job_id.clone(),
            site: plan.site.clone(),
            role: plan.role,
            container_id: container_id.clone(),
            container_name: plan.name.clone(),
            image: plan.image.clone(),
            plan_digest: label(&plan, labels::PLAN_DIGEST).unwrap_or_default(),
            workspace: label(&plan, labels::WORKSPACE).unwrap_or_default(),
            launched_at_ms: now_ms(),
        };
        // The launch record is written while the engine starts the container: it needs no
        // flush before start, since the container's labels let recovery rebuild it.
        let recording = {
            let shared = self.shared.clone();
            async move { shared.on_store(move |s| s.record_launch(&record)).await }
        };
        self.shared.track(state.clone());
        let (recorded, started) = tokio::join!(recording, runtime.start(&container_id));
        drop(turn);
        if let Err(e) = recorded {
            guard.0 = None;
            handle.terminate().await;
            return Err(Error::refused(format!(
                "cannot record the launch of job {job_id} in the state store: {e}"
            )));
        }
        if let Err(e) = started {
            guard.0 = None;
            handle.terminate().await;
            return Err(engine_failure(&job_id, &e, ""));
        }
        tracing::info!(job_id = %job_id, container = %plan.name, image = %plan.image, "started");
        if !handle.enter_states(&[DockerStatus::Running]).await {
            tracing::warn!(job_id = %job_id, container = %plan.name,
                state = ?handle.terminal_state(), "container did not reach running");
        }
        guard.0 = None;
        Ok(handle)
    }

    /// After a create whose answer was lost: a container of this plan that exists but never
    /// started (this site's labels, this plan's digest, status `created`) is removed, as
    /// nothing was recorded for it. Best effort: when the engine still cannot be asked, the
    /// next launch of the job clears it (DESIGN decision 6).
    async fn remove_unstarted(&self, plan: &ContainerPlan) {
        let runtime = &self.shared.runtime;
        let Ok(st) = runtime.inspect(&plan.name).await else {
            return;
        };
        let ours = st.labels.get(labels::MANAGED).map(String::as_str) == Some("true")
            && st.labels.get(labels::SITE) == Some(&self.shared.settings.site)
            && st.labels.get(labels::PLAN_DIGEST) == label(plan, labels::PLAN_DIGEST).as_ref();
        if ours && DockerStatus::parse(&st.status) == DockerStatus::Created {
            match runtime.remove(&st.id, true).await {
                Ok(()) | Err(EngineError::NotFound(_)) => {
                    tracing::info!(job_id = %plan.job_id, container = %plan.name,
                        "removed the container a failed create left behind")
                }
                Err(e) => tracing::warn!(job_id = %plan.job_id, container = %plan.name,
                    "cannot remove the container a failed create left behind: {e}"),
            }
        }
    }

    /// Forget a cached image check; whether there was one to forget.
    async fn forget_image(&self, image: &str) -> bool {
        self.shared.images_checked.lock().await.remove(image).is_some()
    }

    /// The image must be present; pulled only when the site allows it. A success is
    /// trusted for [`LauncherSettings::image_check_ttl`].
    async fn ensure_image(&self, plan: &ContainerPlan) -> Result<()> {
        let (image, job_id) = (&plan.image, &plan.job_id);
        let ttl = self.shared.settings.image_check_ttl;
        let mut checked = self.shared.images_checked.lock().await;
        let now = tokio::time::Instant::now();
        if checked.get(image).is_some_and(|at| now.duration_since(*at) < ttl) {
            return Ok(());
        }
        let runtime = &self.shared.runtime;
        let present = runtime
            .image_exists(image)
            .await
            .map_err(|e| engine_failure(job_id, &e, format_args!("cannot check image '{image}': ")))?;
        if present {
            if !ttl.is_zero() {
                checked.retain(|_, at| now.duration_since(*at) < ttl);
                checked.insert(image.clone(), now);
            }
            return Ok(());
        }
        drop(checked);
        if !self.shared.settings.allow_pull {
            return Err(
                Error::refused(format!("image '{image}' not found for job {job_id}")).with_hint(format!(
                    "berth does not pull images: load it on this host (docker load -i <file>, or docker \
                     pull {image}), or set \"pull_missing_images\": true in the site's launcher args"
                )),
            );
        }
        tracing::info!(image = %image, "pulling missing image");
        runtime.pull_image(image).await.map_err(|e| match e {
            EngineError::NotFound(m) => {
                Error::refused(format!("image '{image}' not found for job {job_id}: {m}"))
            }
            e => creating(job_id, format!("cannot pull image '{image}': {e}")),
        })
    }

    /// DESIGN decision 6: a stopped leftover of the same name is recorded and removed; a
    /// running one refuses the launch, and so does a container berth did not create.
    async fn clear_leftover(&self, plan: &ContainerPlan) -> Result<()> {
        let shared = &self.shared;
        let job_id = &plan.job_id;
        let st = match shared.runtime.inspect(&plan.name).await {
            Ok(st) => st,
            Err(EngineError::NotFound(_)) => return Ok(()),
            Err(e) => {
                return Err(creating(
                    job_id,
                    format!("cannot inspect container '{}': {e}", plan.name),
                ))
            }
        };
        let status = DockerStatus::parse(&st.status);
        if matches!(
            status,
            DockerStatus::Running | DockerStatus::Restarting | DockerStatus::Paused
        ) {
            return Err(Error::refused(format!(
                "container '{}' for job {job_id} is already {}",
                plan.name, st.status
            ))
            .with_hint(format!(
                "stop it first: berth stop {job_id} (or docker rm -f {})",
                plan.name
            )));
        }
        let ours = st.labels.get(labels::MANAGED).map(String::as_str) == Some("true")
            && st.labels.get(labels::SITE) == Some(&shared.settings.site);
        if let Some(h) = shared.tracked(&st.id) {
            // Our own earlier launch of this job, not yet settled.
            shared.settle(&h, ObservedBy::Inspect, OnMissing::Decide).await;
        } else if !ours {
            // Someone else's container (or another site's): never remove what berth did
            // not create.
            return Err(Error::refused(format!(
                "container name '{}' for job {job_id} is taken by a container this site's berth did not create",
                plan.name
            ))
            .with_hint(format!(
                "remove or rename that container (docker rm {}) if it is not needed",
                plan.name
            )));
        } else {
            let job = st.labels.get(labels::JOB_ID).unwrap_or(job_id);
            let outcome = lifecycle::stopped_outcome(job, &st.id, &st, ObservedBy::Recovery, now_ms());
            shared.store.record_outcome(&outcome).map_err(|e| {
                Error::refused(format!(
                    "cannot record the outcome of leftover container '{}' of job {job_id}: {e}",
                    plan.name
                ))
            })?;
            tracing::info!(job_id = %job_id, container = %plan.name, status = %st.status,
                return_code = %outcome.return_code, "recorded a leftover container");
            shared
                .save_log(&st.id, &outcome.job_id, Some(&plan.parent_job_dir))
                .await;
        }
        match shared.runtime.remove(&st.id, true).await {
            Ok(()) | Err(EngineError::NotFound(_)) | Err(EngineError::Conflict(_)) => {}
            Err(e) => {
                return Err(creating(
                    job_id,
                    format!("cannot remove leftover container '{}': {e}", plan.name),
                ))
            }
        }
        // A removal already in progress (the earlier run's own cleanup, 409) returns before
        // the name is free: wait until the container is gone.
        let deadline = tokio::time::Instant::now() + LEFTOVER_REMOVAL_DEADLINE;
        let mut pause = std::time::Duration::from_millis(20);
        loop {
            match shared.runtime.inspect(&st.id).await {
                Err(EngineError::NotFound(_)) => return Ok(()),
                _ if tokio::time::Instant::now() >= deadline => {
                    return Err(creating(
                        job_id,
                        format!(
                        "leftover container '{}' is still being removed after {LEFTOVER_REMOVAL_DEADLINE:?}",
                        plan.name
                    ),
                    ))
                }
                _ => {
                    tokio::time::sleep(pause).await;
                    pause = (pause * 2).min(std::time::Duration::from_millis(500));
                }
            }
        }
    }

    /// A handle for a job this process did not launch (or launched earlier), found by
    /// berth's labels: `what` is a container id (or unique prefix), a container name, or a
    /// job id. A container already gone whose outcome the store holds gives a terminal
    /// handle. Pings the engine on first use; never checks the network.
    pub async fn attach(&self, what: &str) -> Result<JobHandle> {
        match self.lookup(what).await? {
            Some(handle) => Ok(handle),
            None => Err(Error::refused(format!(
                "no container of job '{what}' found for site '{}'",
                self.shared.settings.site
            ))
            .with_hint("berth ps --all lists the site's jobs and past outcomes")),
        }
    }

    /// [`Self::attach`], but `Ok(None)` when the engine answered and lists no container of
    /// `what`, and the store holds no outcome for it. An engine that cannot be reached or
    /// does not answer is an error (never "no container"), so a caller can tell "gone"
    /// from "cannot see" (DESIGN decision 13).
    pub async fn lookup(&self, what: &str) -> Result<Option<JobHandle>> {
        self.check_engine(false).await?;
        self.recover_once_at_start().await;
        watcher::ensure_started(&self.shared);
        let shared = &self.shared;
        let known = lock(&shared.jobs)
            .values()
            .find(|h| h.container_id == what || h.container_name == what || h.job_id == what)
            .cloned();
        if let Some(state) = known {
            return Ok(Some(JobHandle {
                state,
                shared: shared.clone(),
            }));
        }
        let listed = shared.list_site().await?;
        let found = listed
            .iter()
            .filter(|c| {
                c.id == what
                    || (what.len() >= 4 && c.id.starts_with(what))
                    || c.name == what
                    || c.labels.get(labels::JOB_ID).map(String::as_str) == Some(what)
            })
            .max_by_key(|c| c.created);
        let Some(c) = found else {
            if let Ok(Some(outcome)) = shared.store.outcome(what) {
                let state = Arc::new(HandleState::new(
                    &outcome.job_id,
                    what,
                    "",
                    shared.settings.start_timeout,
                ));
                let ended = state.apply(Observation::Missing {
                    stored: Some(outcome),
                    decide: true,
                    at_ms: now_ms(),
                });
                shared.run(&state, ended).await;
                return Ok(Some(JobHandle {
                    state,
                    shared: shared.clone(),
                }));
            }
            return Ok(None);
        };
        let job_id = c.labels.get(labels::JOB_ID).cloned().unwrap_or_default();
        let state = shared.track(Arc::new(
            HandleState::new(&job_id, &c.id, &c.name, shared.settings.start_timeout)
                .with_job_dir(shared.job_dir_for(&job_id)),
        ));
        // It may have ended while nobody watched.
        if let Seen::Failed(e) = shared
            .settle(&state, ObservedBy::Inspect, OnMissing::Decide)
            .await
        {
            return Err(Error::refused(format!(
                "cannot inspect container '{}' of job '{job_id}': {e}",
                c.name
            )));
        }
        Ok(Some(JobHandle {
            state,
            shared: shared.clone(),
        }))
    }

    /// Wait, for at most `limit`, until no cleanup (a finished job's output copy and
    /// container removal, or a removal retry) runs in the background. Returns how many are
    /// still running then: 0 when all are done. Starts no new work.
    pub async fn wait_cleanups(&self, limit: std::time::Duration) -> usize {
        self.shared.wait_cleanups(limit).await
    }

    /// Cleanups running in the background now.
    pub fn cleanups_in_flight(&self) -> usize {
        *self.shared.cleanups.borrow()
    }

    /// Whether the event task holds a live engine subscription.
    pub fn events_connected(&self) -> bool {
        self.shared.is_connected()
    }

    #[doc(hidden)]
    pub fn tracked_count(&self) -> usize {
        lock(&self.shared.jobs).len()
    }
}
