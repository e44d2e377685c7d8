//! `JobHandle`: one launched job, wrapped by the Python `DockerJobHandle`.
//!
//! Return codes are NVFlare's integers (0, 1, 9, 127). Every method that may wait on the
//! engine releases the GIL.

use berth_core::DockerStatus;
use berth_launcher::BlockingJobHandle;
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::PyDict;
use std::time::Duration;

#[pyclass(name = "JobHandle", module = "berth._native", frozen)]
pub struct NativeJobHandle {
    /// Taken only by `drop`.
    inner: Option<BlockingJobHandle>,
}

impl NativeJobHandle {
    pub fn new(inner: BlockingJobHandle) -> Self {
        Self { inner: Some(inner) }
    }

    fn inner(&self) -> &BlockingJobHandle {
        self.inner
            .as_ref()
            .unwrap_or_else(|| unreachable!("a JobHandle's inner handle is taken only by drop"))
    }
}

impl Drop for NativeJobHandle {
    /// The handle may hold the last reference to its launcher's runtime (its launcher
    /// dropped first); see [`crate::drop_off_thread`].
    fn drop(&mut self) {
        if let Some(inner) = self.inner.take() {
            crate::drop_off_thread(inner);
        }
    }
}

#[pymethods]
impl NativeJobHandle {
    /// One look; UNKNOWN (127) while the job runs. No engine call once terminal.
    fn poll(&self, py: Python<'_>) -> i32 {
        py.detach(|| self.inner().poll()).code()
    }

    /// Block until the job ends; its return code.
    fn wait(&self, py: Python<'_>) -> i32 {
        py.detach(|| self.inner().wait()).code()
    }

    /// `wait` for at most `seconds`; `None` if the job has not ended by then.
    fn wait_timeout(&self, py: Python<'_>, seconds: f64) -> PyResult<Option<i32>> {
        let limit = Duration::try_from_secs_f64(seconds)
            .map_err(|e| PyValueError::new_err(format!("wait_timeout seconds {seconds}: {e}")))?;
        Ok(py.detach(|| self.inner().wait_timeout(limit)).map(|c| c.code()))
    }

    /// Stop and remove the container; ABORTED unless the job had already ended.
    fn terminate(&self, py: Python<'_>) -> i32 {
        py.detach(|| self.inner().terminate()).code()
    }

    /// Wait until the container is in one of `states` (Docker status names). False on
    /// timeout (the job is then terminated) or when the job ended first.
    fn enter_states(&self, py: Python<'_>, states: Vec<String>) -> bool {
        let states: Vec<DockerStatus> = states.iter().map(|s| DockerStatus::parse(s)).collect();
        py.detach(|| self.inner().enter_states(&states))
    }

    #[getter]
    fn container_id(&self) -> &str {
        self.inner().container_id()
    }

    #[getter]
    fn container_name(&self) -> &str {
        self.inner().container_name()
    }

    #[getter]
    fn job_id(&self) -> &str {
        self.inner().job_id()
    }

    /// Seconds `enter_states` waits; `None` for no limit.
    #[getter]
    fn timeout(&self) -> Option<f64> {
        self.inner().timeout().map(|d| d.as_secs_f64())
    }

    /// The return code once known; makes no engine call.
    #[getter]
    fn terminal_state(&self) -> Option<i32> {
        self.inner().terminal_state().map(|c| c.code())
    }

    /// How the job ended, once known: return and exit codes, OOM flag, finish time, and
    /// what observed the end.
    #[getter]
    fn outcome<'py>(&self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyDict>>> {
        let Some(o) = self.inner().outcome() else {
            return Ok(None);
        };
        let d = PyDict::new(py);
        d.set_item("job_id", &o.job_id)?;
        d.set_item("container_id", &o.container_id)?;
        d.set_item("return_code", o.return_code.code())?;
        d.set_item("exit_code", o.exit_code)?;
        d.set_item("oom_killed", o.oom_killed)?;
        d.set_item("finished_at", o.finished_at.as_deref())?;
        d.set_item("observed_by", o.observed_by.as_str())?;
        d.set_item("recorded_at_ms", o.recorded_at_ms)?;
        Ok(Some(d))
    }

    fn __repr__(&self) -> String {
        format!(
            "JobHandle(job_id={:?}, container_name={:?}, terminal_state={:?})",
            self.inner().job_id(),
            self.inner().container_name(),
            self.inner().terminal_state().map(|c| c.name())
        )
    }
}
