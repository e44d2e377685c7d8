//! berth-launcher: the job lifecycle.
//!
//! [`Launcher::launch`] turns a [`berth_core::plan::ContainerPlan`] into a running
//! container and a [`JobHandle`]; the launcher's single event task detects every job's
//! end, records its outcome in the [`berth_store::OutcomeStore`] and only then removes the
//! container. [`BlockingLauncher`] wraps it for callers that are not async.
//!
//! Concurrency model: one background task per launcher holds one engine event
//! subscription (filtered by berth's managed label and the site) and spawns a short task
//! per observed end; handles share per-job state behind a mutex and a `watch` channel.
//! No thread, connection or polling loop per job.
//!
//! Front ends: [`Site`] (the [`site`] module) is what the CLI and the Python package both
//! drive: config, settings, plan, store, engine and job lookup, in one place. [`doctor`]
//! checks a site before its first job with the same rules, as findings a front prints.
//!
//! Durability: [`Launcher::recover`] (the [`recovery`] module) settles every container and
//! launch of the site after a restart; [`retention`] keeps failed jobs' containers for a
//! while; [`joblog`] keeps each job's output in its folder ([`JOB_LOG_FILE`]) before its
//! container is removed.

mod blocking;
pub mod doctor;
mod executor;
mod handle;
mod job;
pub mod joblog;
mod launcher;
mod lifecycle;
pub mod pyfiles;
pub mod recovery;
pub mod report;
pub mod retention;
mod settings;
pub mod site;
mod watcher;

pub use blocking::{BlockingJobHandle, BlockingLauncher};
pub use handle::JobHandle;
pub use joblog::JOB_LOG_FILE;
pub use launcher::Launcher;
pub use recovery::{RecoveredJob, RecoveryAction, RecoveryReport};
pub use settings::{Clock, LauncherSettings};
pub use site::{FoundJob, JobOutput, JobRequest, OpenSite, ParentRoot, Site};
