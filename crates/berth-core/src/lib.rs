//! berth-core: everything berth decides before it first contacts a container engine.
//!
//! Inputs (site config, job meta, job process args, study files) go in; a
//! [`plan::ContainerPlan`] — the exact Docker Engine API container-create body plus the
//! container name — or a precise [`Error`] comes out. Nothing here opens a socket or
//! starts a runtime; the only I/O is reading site files (study files, custom code dirs)
//! from the parent view of the workspace.

pub mod args;
pub mod codes;
pub mod config;
pub mod error;
pub mod job_spec;
pub mod labels;
pub mod names;
pub mod parent_url;
pub mod plan;
pub mod pyval;
pub mod resources;
pub mod sdk_kwargs;
pub mod security;
pub mod strict_json;
pub mod study;
pub mod submission;
pub mod time;
pub mod units;
pub mod workspace;

pub use codes::{DockerStatus, JobReturnCode};
pub use error::{Error, ErrorKind, Result};

/// Where a job container sees the workspace, and where the parent reads it when it runs
/// inside its own container (`start_docker.sh` mounts the host workspace here).
pub const WORKSPACE_MOUNT: &str = "/var/tmp/nvflare/workspace";
/// The python executable used when neither the site nor the job names one.
pub const DEFAULT_PYTHON_PATH: &str = "/usr/local/bin/python";
/// The Docker network a site uses unless its config names another.
pub const DEFAULT_NETWORK: &str = "nvflare-network";
/// Seconds a launch waits for the container to reach `running`.
pub const DEFAULT_START_TIMEOUT_SECS: f64 = 30.0;
/// The deadline of one engine request, in seconds (site arg `engine_timeout`).
pub const DEFAULT_ENGINE_TIMEOUT_SECS: f64 = 30.0;
/// How long `berth wait` rides out an engine that cannot be reached before it gives up
/// with an engine error, in seconds (site arg `engine_outage_limit`).
pub const DEFAULT_ENGINE_OUTAGE_LIMIT_SECS: f64 = 120.0;
/// The folder, directly under the workspace, where berth writes its own pure-Python files
/// for job containers (DESIGN decision 15). Never the state store, never a job's data.
pub const BERTH_PYTHON_DIR: &str = ".berth-python";
/// Where a job container sees [`BERTH_PYTHON_DIR`], read-only; the last PYTHONPATH entry.
pub const BERTH_PYTHON_TARGET: &str = "/opt/berth/python";
/// Environment variable that names the host workspace when the config does not.
pub const WORKSPACE_ENV: &str = "NVFL_DOCKER_WORKSPACE";
