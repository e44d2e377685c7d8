//! `SiteLauncher`: one site's launcher, as the Python drop-in drives it.
//!
//! A thin front over [`berth_launcher::Site`]: construction validates the site config and
//! contacts nothing; the first `start`, `launch`, `attach` or `recover` opens the state
//! store and the engine client. Recovery with the site's `orphan_policy` runs once, when
//! the parent starts (`start`) or before the first launch at the latest.

use crate::errors::to_py;
use crate::handle::NativeJobHandle;
use berth_core::config::OrphanPolicy;
use berth_core::Error;
use berth_launcher::report::recovery_json;
use berth_launcher::{JobRequest, OpenSite, ParentRoot, Site};
use pyo3::prelude::*;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError, Weak};

/// Every site opened in this process, for the exit hook.
static OPENED: Mutex<Vec<Weak<OpenSite>>> = Mutex::new(Vec::new());

/// Wait for the background cleanups of every open site, each bounded by its launcher's
/// `cleanup_deadline` (see [`berth_launcher::BlockingLauncher::shutdown`]).
pub fn shutdown_all() {
    let open: Vec<Arc<OpenSite>> = {
        let mut list = OPENED.lock().unwrap_or_else(PoisonError::into_inner);
        list.retain(|w| w.strong_count() > 0);
        list.iter().filter_map(Weak::upgrade).collect()
    };
    for site in open {
        site.launcher.shutdown();
    }
}

/// A site's launcher. Thread-safe: NVFlare may launch several jobs at once.
#[pyclass(name = "SiteLauncher", module = "berth._native", frozen)]
pub struct SiteLauncher {
    site: Site,
    /// Opened on first use and kept; `None` until then, or after a failed open.
    opened: Mutex<Option<Arc<OpenSite>>>,
}

fn job_request(
    job_meta_json: &str,
    job_args_json: Option<&str>,
    set_options: Vec<String>,
    workspace_object: bool,
) -> Result<JobRequest, Error> {
    JobRequest::from_json(
        job_meta_json,
        "job_meta",
        job_args_json,
        "JOB_PROCESS_ARGS",
        set_options,
        workspace_object,
    )
}

impl SiteLauncher {
    /// The opened site. A failure is not cached, so the next call tries again.
    fn opened(&self) -> Result<Arc<OpenSite>, Error> {
        let mut slot = self.opened.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(open) = slot.as_ref() {
            return Ok(open.clone());
        }
        let open = Arc::new(self.site.open(true)?);
        OPENED
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(Arc::downgrade(&open));
        *slot = Some(open.clone());
        Ok(open)
    }
}

#[pymethods]
impl SiteLauncher {
    /// `args_json`: the launcher args (upstream's constructor args and berth's extras) as
    /// a JSON object. `role`: `"client"` or `"server"`. `parent_root`: the parent's
    /// workspace root (its workspace object).
    #[new]
    #[pyo3(signature = (args_json, site, role, parent_root))]
    fn new(args_json: &str, site: &str, role: &str, parent_root: &str) -> PyResult<Self> {
        let root = ParentRoot::Workspace(PathBuf::from(parent_root));
        let site = Site::from_launcher_args(args_json, site, role, root).map_err(to_py)?;
        Ok(Self {
            site,
            opened: Mutex::new(None),
        })
    }

    /// The parent has started: run recovery with the site's `orphan_policy` unless it has
    /// run already. Returns the report as JSON, or `None` when it had run.
    fn start(&self, py: Python<'_>) -> PyResult<Option<String>> {
        py.detach(|| {
            let open = self.opened()?;
            let policy = self.site.config.orphan_policy;
            match open.launcher.recover_at_start() {
                None => Ok(None),
                Some(report) => Ok(Some(recovery_json(&self.site.name, policy, &report?).to_string())),
            }
        })
        .map_err(to_py)
    }

    /// Recovery now with `policy` (default: the site's `orphan_policy`); the report as JSON.
    #[pyo3(signature = (policy=None))]
    fn recover(&self, py: Python<'_>, policy: Option<&str>) -> PyResult<String> {
        py.detach(|| {
            let policy = match policy {
                Some(p) => p.parse::<OrphanPolicy>().map_err(|e| e.context("policy"))?,
                None => self.site.config.orphan_policy,
            };
            let report = self.opened()?.recover(Some(policy))?;
            Ok(recovery_json(&self.site.name, policy, &report).to_string())
        })
        .map_err(to_py)
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
            let job = job_request(job_meta_json, job_args_json, set_options, workspace_object)?;
            Ok(self.site.plan(&job)?.to_json().to_string())
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
            let job = job_request(job_meta_json, job_args_json, set_options, workspace_object)?;
            let plan = self.site.plan(&job)?;
            for w in &plan.warnings {
                tracing::warn!(job_id = %plan.job_id, "{w}");
            }
            self.opened()?.launch(plan)
        })
        .map(NativeJobHandle::new)
        .map_err(to_py)
    }

    /// A handle for a job of this site found by berth's labels (container id or name, or
    /// job id), or by its recorded outcome.
    fn attach(&self, py: Python<'_>, what: &str) -> PyResult<NativeJobHandle> {
        py.detach(|| self.opened()?.launcher.attach(what))
            .map(NativeJobHandle::new)
            .map_err(to_py)
    }

    #[getter]
    fn site(&self) -> &str {
        &self.site.name
    }

    #[getter]
    fn role(&self) -> &'static str {
        self.site.role.as_str()
    }

    #[getter]
    fn parent_root(&self) -> String {
        self.site.parent_root.display().to_string()
    }

    #[getter]
    fn network(&self) -> &str {
        &self.site.config.network
    }

    #[getter]
    fn orphan_policy(&self) -> &'static str {
        self.site.config.orphan_policy.as_str()
    }

    /// The state store file this site records outcomes in.
    #[getter]
    fn store_path(&self) -> String {
        self.site.store_path().display().to_string()
    }

    fn __repr__(&self) -> String {
        format!(
            "SiteLauncher(site={:?}, role={:?}, parent_root={:?})",
            self.site.name,
            self.site.role.as_str(),
            self.site.parent_root.display().to_string()
        )
    }
}

impl Drop for SiteLauncher {
    /// See [`crate::drop_off_thread`].
    fn drop(&mut self) {
        let opened = self
            .opened
            .get_mut()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if let Some(opened) = opened {
            crate::drop_off_thread(opened);
        }
    }
}
