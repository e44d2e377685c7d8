//! berth-py: the native part of berth's Python package, imported as `berth._native`.
//!
//! A thin front end: it parses what the pure-Python NVFlare drop-in hands over (JSON
//! text and plain values), builds the plan with berth-core and launches with
//! berth-launcher's blocking facade. Every call that may wait on the engine or the state
//! store releases the GIL. berth's `tracing` events reach Python's `logging` (loggers
//! named after the Rust module, e.g. `berth_launcher.launcher`).
//!
//! Nothing here contacts the engine at import or construction: the first launch does.

mod errors;
mod handle;
mod site;

use pyo3::prelude::*;
use std::sync::{PoisonError, RwLock};

/// `true` once the `atexit` hook has run: from then on no berth thread calls into Python.
/// A thread logging holds the read lock from the check until it has left Python, so the
/// hook cannot set it between a thread's check and that thread's attach.
static EXITING: RwLock<bool> = RwLock::new(false);

fn exiting_gate() -> std::sync::RwLockReadGuard<'static, bool> {
    EXITING.read().unwrap_or_else(PoisonError::into_inner)
}

/// The `berth._native` module.
#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    install_log_bridge(m.py());
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    m.add_class::<site::SiteLauncher>()?;
    m.add_class::<handle::NativeJobHandle>()?;
    m.add_function(wrap_pyfunction!(_shutdown, m)?)?;
    let hook = m.getattr("_shutdown")?;
    m.py().import("atexit")?.call_method1("register", (hook,))?;
    Ok(())
}

/// Drop `value` on a thread of its own. A launcher's tokio runtime is shut down when the
/// last of its holders (the `SiteLauncher` and every `JobHandle` it gave out) is dropped,
/// and that waits for the runtime's threads. One of them may be waiting for the GIL, to
/// log, while the dropping thread holds it: dropping there would never return.
pub(crate) fn drop_off_thread<T: Send + 'static>(value: T) {
    let spawned = std::thread::Builder::new()
        .name("berth-drop".into())
        .spawn(move || drop(value));
    if let Err(e) = spawned {
        log::warn!("cannot start a thread to release a launcher's runtime: {e}");
    }
}

/// Registered with `atexit`, so it runs before the interpreter finalizes: waits for every
/// live launcher's background cleanups (output copies, container removals), each for at
/// most its launcher's `cleanup_deadline`, then turns the log bridge off. The launchers'
/// runtime threads outlive the interpreter; once Python is finalizing, a thread that
/// attaches to it (to log) may crash the process.
#[pyfunction]
fn _shutdown(py: Python<'_>) {
    // Without the GIL: a thread logging may hold the read lock while it waits for the GIL.
    py.detach(|| {
        site::shutdown_all();
        *EXITING.write().unwrap_or_else(PoisonError::into_inner) = true;
    });
}

/// pyo3-log's logger, silent once the process is exiting.
struct LogBridge(pyo3_log::Logger);

impl log::Log for LogBridge {
    fn enabled(&self, metadata: &log::Metadata<'_>) -> bool {
        !*exiting_gate() && self.0.enabled(metadata)
    }

    fn log(&self, record: &log::Record<'_>) {
        let gate = exiting_gate();
        if !*gate {
            self.0.log(record);
        }
    }

    fn flush(&self) {
        let gate = exiting_gate();
        if !*gate {
            self.0.flush();
        }
    }
}

/// Route `log` records (and, through tracing's `log` feature, berth's tracing events) to
/// Python's `logging`. Loggers are cached but their levels are read on every record, so
/// `logging.getLogger("berth_launcher").setLevel(...)` takes effect at once. A second
/// import in the same process keeps the first bridge.
fn install_log_bridge(py: Python<'_>) {
    let Ok(logger) = pyo3_log::Logger::new(py, pyo3_log::Caching::Loggers) else {
        return;
    };
    let bridge = LogBridge(logger.filter(log::LevelFilter::Trace));
    if log::set_boxed_logger(Box::new(bridge)).is_ok() {
        log::set_max_level(log::LevelFilter::Trace);
        log::debug!("berth log bridge installed");
    }
}
