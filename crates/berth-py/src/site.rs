//! `SiteLauncher`: one site's launcher, as the Python drop-in drives it.
//!
//! Construction validates the site config and contacts nothing. `launch` builds the plan
//! (spec §5 steps 1–22, every validation error before any engine contact), then on first
//! use opens the state store and the engine client, then launches (steps 23–27).

use crate::errors::to_py;
use crate::handle::NativeJobHandle;
use berth_core::args::{JobProcessArgs, Role};
use berth_core::config::SiteConfig;
use berth_core::plan::{build_plan, ContainerPlan, PlanRequest};
use berth_core::pyval::{self, Map};
use berth_core::Error;
use berth_engine::docker::DockerRuntime;
use berth_launcher::{BlockingLauncher, LauncherSettings};
use berth_store::{default_path, SqliteStore};
use pyo3::prelude::*;
use serde_json::Value;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

/// A site's launcher. Thread-safe: NVFlare may launch several jobs at once.
#[pyclass(name = "SiteLauncher", module = "berth._native", frozen)]
pub struct SiteLauncher {
    config: SiteConfig,
    site: String,
    role: Role,
    /// Where berth reads the workspace (the parent's workspace object root).
    parent_root: PathBuf,
    uid: u32,
    gid: u32,
    /// Created on the first launch and kept; `None` until then, or after a failed open.
    engine: Mutex<Option<Arc<BlockingLauncher>>>,
}

/// One launch's inputs, parsed from what Python hands over.
struct LaunchInputs {
    job_meta: Map,
    job_args: Option<JobProcessArgs>,
    set_options: Vec<String>,
    workspace_object: bool,
}

fn parse_object(text: &str, what: &str) -> Result<Map, Error> {
    match serde_json::from_str::<Value>(text) {
        Ok(Value::Object(m)) => Ok(m),
        Ok(other) => Err(Error::invalid(format!(
            "{what} must be a mapping, got {}",
            pyval::type_name(&other)
        ))),
        Err(e) => Err(Error::invalid(format!("could not read {what}: {e}"))),
    }
}

impl LaunchInputs {
    fn parse(
        job_meta_json: &str,
        job_args_json: Option<&str>,
        set_options: Vec<String>,
        workspace_object: bool,
    ) -> Result<Self, Error> {
        let job_meta = parse_object(job_meta_json, "job_meta")?;
        let job_args = match job_args_json {
            None => None,
            Some(text) => match serde_json::from_str::<Value>(text) {
                Ok(Value::Null) => None,
                Ok(Value::Object(m)) => Some(JobProcessArgs::from_map(m)),
                Ok(other) => {
                    return Err(Error::refused(format!(
                        "JOB_PROCESS_ARGS must be a mapping of name -> (flag, value), got {}",
                        pyval::type_name(&other)
                    )))
                }
                Err(e) => return Err(Error::invalid(format!("could not read JOB_PROCESS_ARGS: {e}"))),
            },
        };
        Ok(Self {
            job_meta,
            job_args,
            set_options,
            workspace_object,
        })
    }
}

/// A duration from seconds that the config already checked to be finite and >= 0; one too
/// large to represent means "no limit".
fn seconds(secs: f64) -> Option<Duration> {
    Duration::try_from_secs_f64(secs).ok()
}

impl SiteLauncher {
    fn settings(&self) -> LauncherSettings {
        let mut s = LauncherSettings::new(&self.site);
        s.network = self.config.network.clone();
        s.start_timeout = self.config.timeout.and_then(seconds);
        s.engine_timeout = Duration::from_secs_f64(self.config.engine_timeout);
        s.outage_limit = Duration::from_secs_f64(self.config.engine_outage_limit);
        s.allow_pull = self.config.pull_missing_images;
        let keep = self.config.keep_failed_containers_hours;
        s.keep_failed_for = (keep > 0.0).then(|| seconds(keep * 3600.0).unwrap_or(Duration::MAX));
        s
    }

    fn build(&self, inputs: &LaunchInputs) -> Result<ContainerPlan, Error> {
        let env = |name: &str| std::env::var(name).ok();
        let request = PlanRequest {
            site_config: &self.config,
            site: &self.site,
            role: self.role,
            job_meta: &inputs.job_meta,
            job_args: inputs.job_args.as_ref(),
            set_options: &inputs.set_options,
            parent_root: &self.parent_root,
            workspace_object: inputs.workspace_object,
            launcher_env: &env,
            uid: self.uid,
            gid: self.gid,
        };
        let plan = build_plan(&request)?;
        for w in &plan.warnings {
            tracing::warn!(job_id = %plan.job_id, "{w}");
        }
        Ok(plan)
    }

    /// The blocking launcher, created on first use: engine client (no contact yet) and
    /// state store. A failure is not cached, so the next launch tries again.
    fn engine(&self) -> Result<Arc<BlockingLauncher>, Error> {
        let mut slot = self.engine.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(engine) = slot.as_ref() {
            return Ok(engine.clone());
        }
        let runtime = DockerRuntime::from_env()
            .map_err(|e| Error::refused(format!("cannot connect to Docker daemon: {e}")))?;
        let path = default_path(&self.parent_root);
        let (store, report) = SqliteStore::open(&path).map_err(|e| {
            Error::refused(format!("cannot open berth's state store {}: {e}", path.display()))
                .with_hint("the site workspace must be writable by the parent process")
        })?;
        if let Some(notice) = report.notice() {
            tracing::warn!("{notice}");
        }
        let engine = BlockingLauncher::new(Arc::new(runtime), self.settings(), Arc::new(store))
            .map_err(|e| Error::refused(format!("cannot start berth's launcher runtime: {e}")))?;
        let engine = Arc::new(engine);
        *slot = Some(engine.clone());
        Ok(engine)
    }
}

#[pymethods]
impl SiteLauncher {
    /// `args_json`: the launcher args (upstream's constructor args and berth's extras) as
    /// a JSON object, with `workspace` already resolved from `NVFL_DOCKER_WORKSPACE`.
    /// `role`: `"client"` or `"server"`. `uid`/`gid`: the user jobs run as.
    #[new]
    #[pyo3(signature = (args_json, site, role, parent_root, uid, gid))]
    fn new(args_json: &str, site: &str, role: &str, parent_root: &str, uid: u32, gid: u32) -> PyResult<Self> {
        let args = parse_object(args_json, "launcher args").map_err(to_py)?;
        let config = SiteConfig::from_args(&args, None).map_err(to_py)?;
        let role = role.parse::<Role>().map_err(to_py)?;
        Ok(Self {
            config,
            site: site.to_string(),
            role,
            parent_root: PathBuf::from(parent_root),
            uid,
            gid,
            engine: Mutex::new(None),
        })
    }

    /// The plan for a job as `{"name": ..., "create": ...}` JSON. Contacts no engine.
    #[pyo3(signature = (job_meta_json, job_args_json, set_options, workspace_object))]
    fn plan(
        &self,
        py: Python<'_>,
        job_meta_json: &str,
        job_args_json: Option<&str>,
        set_options: Vec<String>,
        workspace_object: bool,
    ) -> PyResult<String> {
        py.detach(|| {
            let inputs = LaunchInputs::parse(job_meta_json, job_args_json, set_options, workspace_object)?;
            let plan = self.build(&inputs)?;
            Ok(plan.to_json().to_string())
        })
        .map_err(to_py)
    }

    /// Plan, then create, start and wait for `running`. Always returns a handle when it
    /// returns: a job that did not reach `running` in time has been terminated.
    #[pyo3(signature = (job_meta_json, job_args_json, set_options, workspace_object))]
    fn launch(
        &self,
        py: Python<'_>,
        job_meta_json: &str,
        job_args_json: Option<&str>,
        set_options: Vec<String>,
        workspace_object: bool,
    ) -> PyResult<NativeJobHandle> {
        py.detach(|| {
            let inputs = LaunchInputs::parse(job_meta_json, job_args_json, set_options, workspace_object)?;
            let plan = self.build(&inputs)?;
            self.engine()?.launch(plan)
        })
        .map(NativeJobHandle::new)
        .map_err(to_py)
    }

    /// A handle for a job of this site found by berth's labels (container id or name, or
    /// job id), or by its recorded outcome.
    fn attach(&self, py: Python<'_>, what: &str) -> PyResult<NativeJobHandle> {
        py.detach(|| self.engine()?.attach(what))
            .map(NativeJobHandle::new)
            .map_err(to_py)
    }

    #[getter]
    fn site(&self) -> &str {
        &self.site
    }

    #[getter]
    fn role(&self) -> &'static str {
        self.role.as_str()
    }

    #[getter]
    fn parent_root(&self) -> String {
        self.parent_root.display().to_string()
    }

    #[getter]
    fn network(&self) -> &str {
        &self.config.network
    }

    /// The state store file this site records outcomes in.
    #[getter]
    fn store_path(&self) -> String {
        default_path(&self.parent_root).display().to_string()
    }

    fn __repr__(&self) -> String {
        format!(
            "SiteLauncher(site={:?}, role={:?}, parent_root={:?})",
            self.site,
            self.role.as_str(),
            self.parent_root.display().to_string()
        )
    }
}

impl Drop for SiteLauncher {
    /// The launcher's tokio runtime is shut down on a thread of its own: its workers may be
    /// waiting for the GIL (to log) that the dropping thread holds.
    fn drop(&mut self) {
        let engine = self
            .engine
            .get_mut()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if let Some(engine) = engine {
            let _ = std::thread::Builder::new()
                .name("berth-shutdown".into())
                .spawn(move || drop(engine));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn job_args_null_or_absent_is_none_and_other_shapes_are_refused() {
        let p = LaunchInputs::parse("{}", Some("null"), vec![], false).expect("null args");
        assert!(p.job_args.is_none());
        let p = LaunchInputs::parse("{}", None, vec![], false).expect("absent args");
        assert!(p.job_args.is_none());
        let e = LaunchInputs::parse("{}", Some("[1]"), vec![], false)
            .err()
            .expect("list args");
        assert_eq!(e.kind(), berth_core::ErrorKind::Refused);
        let e = LaunchInputs::parse("[]", None, vec![], false)
            .err()
            .expect("list meta");
        assert_eq!(e.kind(), berth_core::ErrorKind::Invalid);
    }

    #[test]
    fn huge_durations_mean_no_limit() {
        assert_eq!(seconds(1.5), Some(Duration::from_millis(1500)));
        assert_eq!(seconds(1e300), None);
    }
}
