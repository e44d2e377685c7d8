//! The site settings the lifecycle runs with.

use berth_core::config::OrphanPolicy;
use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The wall clock retention is judged by, in Unix milliseconds. Injectable so tests can
/// move time without sleeping. Cheap to clone.
#[derive(Clone)]
pub struct Clock(Arc<dyn Fn() -> i64 + Send + Sync>);

impl Clock {
    /// The system clock.
    pub fn system() -> Self {
        Self(Arc::new(|| {
            SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
                .unwrap_or(0)
        }))
    }

    /// A clock that reads `now` (Unix milliseconds) on every call.
    pub fn from_fn(now: impl Fn() -> i64 + Send + Sync + 'static) -> Self {
        Self(Arc::new(now))
    }

    pub fn now_ms(&self) -> i64 {
        (self.0)()
    }
}

impl Default for Clock {
    fn default() -> Self {
        Self::system()
    }
}

impl fmt::Debug for Clock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Clock")
    }
}

/// Two clocks are equal when they are the same clock.
impl PartialEq for Clock {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}

impl Eq for Clock {}

/// How a [`crate::Launcher`] talks to the engine and follows its jobs.
///
/// Every wait on the engine takes its deadline from here; nothing is baked in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LauncherSettings {
    /// The site (server or client) name. Events and listings are filtered by it, and a
    /// plan for another site is refused.
    pub site: String,
    /// The Docker network the site's jobs join; checked once, on the first launch.
    /// Default: `nvflare-network`.
    pub network: String,
    /// How long a launch waits for its container to reach `running` before it terminates
    /// it (upstream's handle `timeout`). `None` waits for ever. Default: 30 s.
    pub start_timeout: Option<Duration>,
    /// The deadline of one engine request (site arg `engine_timeout`). The launcher wraps
    /// its runtime in [`berth_engine::deadline::DeadlineRuntime`] with it, so every request
    /// it (and whoever uses [`crate::Launcher::runtime`]) makes has this deadline; a `stop`
    /// gets its grace period on top. A request past it is an engine error that names the
    /// engine and the deadline, never an outcome. Default: 30 s.
    pub engine_timeout: Duration,
    /// How long [`crate::JobHandle::wait_through_outage`] (`berth wait`) keeps waiting
    /// while the engine cannot be reached before it gives up with the engine error (site
    /// arg `engine_outage_limit`). [`crate::JobHandle::wait`] (the Python handle) has no
    /// such limit: it waits through any outage. Default: 120 s.
    pub outage_limit: Duration,
    /// The pause between two inspects in `enter_states`, and between fallback inspects of
    /// `wait` while the event stream is down. Never used for exit detection while events
    /// flow. Default: 1 s.
    pub poll_interval: Duration,
    /// Pull a missing image (DESIGN decision 5). Default: `false`: air-gapped sites are
    /// common, and a missing image is an error that names it.
    pub allow_pull: bool,
    /// How long a successful image check is trusted for further launches of the same
    /// image: within it a launch goes straight to create. An image removed meanwhile makes
    /// create answer "no such image"; the launch then checks again (and pulls when
    /// allowed). `Duration::ZERO` checks on every launch. Default: 30 s.
    pub image_check_ttl: Duration,
    /// How many launches of this launcher may have a create or start request with the
    /// engine at once; further launches wait their turn in the launcher. The engine works
    /// through creates and starts a few at a time, so a request it merely queues would
    /// spend its queue time against `engine_timeout`; waiting here instead keeps every
    /// request's deadline for the engine's own work. The wait for a turn is not counted in
    /// a launch's bound (the site's `timeout` plus `engine_timeout`). 0 is taken as 1.
    /// Default: 8.
    pub max_starting: usize,
    /// Keep the container of a job that did not succeed for this long, for debugging.
    /// Its outcome is recorded all the same. Cleanup after the period is the recovery
    /// sweep's work. Default: `None` (removed once the outcome is recorded).
    pub keep_failed_for: Option<Duration>,
    /// First pause before re-subscribing to engine events after the stream dropped;
    /// doubled on every failure up to [`Self::reconnect_backoff_max`]. Default: 100 ms.
    pub reconnect_backoff_min: Duration,
    /// Longest pause between two re-subscription attempts. Default: 10 s.
    pub reconnect_backoff_max: Duration,
    /// While the event stream is up, `wait` still inspects its container once per this
    /// period, as a safety net for an event the engine never sent. Default: 30 s.
    pub settle_check_interval: Duration,
    /// The workspace as berth reads it (the parent view, `--parent-root`). A job's folder
    /// is `<parent_root>/<job_id>`; the launcher writes the job's output there
    /// ([`crate::JOB_LOG_FILE`]) before it removes the container. For launched jobs the
    /// plan's `parent_job_dir` is used; this root serves attached and recovered ones.
    /// `None`: output of attached and recovered jobs is not kept. Default: `None`.
    pub parent_root: Option<PathBuf>,
    /// The site's host workspace. Recovery leaves alone (and reports) containers of this
    /// site whose workspace label names another workspace. `None`: no check. Default: `None`.
    pub workspace: Option<String>,
    /// What recovery at start does with running containers it did not start. Default:
    /// adopt.
    pub orphan_policy: OrphanPolicy,
    /// Run [`crate::Launcher::recover`] with [`Self::orphan_policy`] once, before the first
    /// launch or attach. Default: `false` (the CLI runs it through `berth recover`).
    pub recover_on_start: bool,
    /// How long copying a container's output to its log file may take before the copy is
    /// abandoned (the container is removed all the same). Default: 60 s.
    pub log_copy_timeout: Duration,
    /// How long a [`crate::BlockingLauncher`] waits, when shut down or dropped, for the
    /// cleanups still running in the background (copying a finished job's output, then
    /// removing its container) before it gives up and leaves the rest to `berth recover`.
    /// Default: 10 s.
    pub cleanup_deadline: Duration,
    /// The clock retention is judged by. Default: the system clock.
    pub clock: Clock,
    /// Test-only hook, never for production: when set, right after the launcher observes
    /// that a job's container ended and before it records the outcome, it creates this
    /// file and then holds (never records), so a test can kill the process in exactly that
    /// window. The CLI sets it from `BERTH_TEST_HOLD_BEFORE_RECORD`. Default: `None`.
    #[doc(hidden)]
    pub hold_before_record: Option<PathBuf>,
}

impl LauncherSettings {
    /// The documented defaults for `site`.
    pub fn new(site: impl Into<String>) -> Self {
        Self {
            site: site.into(),
            network: berth_core::DEFAULT_NETWORK.to_string(),
            start_timeout: Some(Duration::from_secs_f64(berth_core::DEFAULT_START_TIMEOUT_SECS)),
            engine_timeout: Duration::from_secs_f64(berth_core::DEFAULT_ENGINE_TIMEOUT_SECS),
            outage_limit: Duration::from_secs_f64(berth_core::DEFAULT_ENGINE_OUTAGE_LIMIT_SECS),
            poll_interval: Duration::from_secs(1),
            allow_pull: false,
            image_check_ttl: Duration::from_secs(30),
            max_starting: 8,
            keep_failed_for: None,
            reconnect_backoff_min: Duration::from_millis(100),
            reconnect_backoff_max: Duration::from_secs(10),
            settle_check_interval: Duration::from_secs(30),
            parent_root: None,
            workspace: None,
            orphan_policy: OrphanPolicy::Adopt,
            recover_on_start: false,
            log_copy_timeout: Duration::from_secs(60),
            cleanup_deadline: Duration::from_secs(10),
            clock: Clock::system(),
            hold_before_record: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_match_upstream() {
        let s = LauncherSettings::new("site-1");
        assert_eq!(s.network, "nvflare-network");
        assert_eq!(s.start_timeout, Some(Duration::from_secs(30)));
        assert_eq!(s.poll_interval, Duration::from_secs(1));
        assert_eq!(s.engine_timeout, Duration::from_secs(30));
        assert_eq!(s.outage_limit, Duration::from_secs(120));
        assert!(!s.allow_pull);
        assert_eq!(s.keep_failed_for, None);
        assert_eq!(s.orphan_policy, OrphanPolicy::Adopt);
        assert!(!s.recover_on_start);
    }

    #[test]
    fn injected_clock_is_read() {
        let c = Clock::from_fn(|| 42);
        assert_eq!(c.now_ms(), 42);
        assert_eq!(c, c.clone());
        assert_ne!(c, Clock::system());
    }
}
