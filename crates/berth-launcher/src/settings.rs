//! The site settings the lifecycle runs with.

use std::time::Duration;

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
    /// The pause between two inspects in `enter_states`, and between fallback inspects of
    /// `wait` while the event stream is down. Never used for exit detection while events
    /// flow. Default: 1 s.
    pub poll_interval: Duration,
    /// Pull a missing image (DESIGN decision 5). Default: `false`: air-gapped sites are
    /// common, and a missing image is an error that names it.
    pub allow_pull: bool,
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
}

impl LauncherSettings {
    /// The documented defaults for `site`.
    pub fn new(site: impl Into<String>) -> Self {
        Self {
            site: site.into(),
            network: berth_core::DEFAULT_NETWORK.to_string(),
            start_timeout: Some(Duration::from_secs_f64(berth_core::DEFAULT_START_TIMEOUT_SECS)),
            poll_interval: Duration::from_secs(1),
            allow_pull: false,
            keep_failed_for: None,
            reconnect_backoff_min: Duration::from_millis(100),
            reconnect_backoff_max: Duration::from_secs(10),
            settle_check_interval: Duration::from_secs(30),
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
        assert!(!s.allow_pull);
        assert_eq!(s.keep_failed_for, None);
    }
}
