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

/// The `berth._native` module.
#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    install_log_bridge(m.py());
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    m.add_class::<site::SiteLauncher>()?;
    m.add_class::<handle::NativeJobHandle>()?;
    Ok(())
}

/// Route `log` records (and, through tracing's `log` feature, berth's tracing events) to
/// Python's `logging`. Loggers are cached but their levels are read on every record, so
/// `logging.getLogger("berth_launcher").setLevel(...)` takes effect at once. A second
/// import in the same process keeps the first bridge.
fn install_log_bridge(py: Python<'_>) {
    let installed = pyo3_log::Logger::new(py, pyo3_log::Caching::Loggers)
        .map(|logger| logger.filter(log::LevelFilter::Trace).install());
    if let Ok(Ok(_reset)) = installed {
        log::debug!("berth log bridge installed");
    }
}
