//! What the in-memory engine suites share: the test kit's fake site (its image, network,
//! labels and plans) and fast launcher settings.

#![allow(dead_code)]

use berth_launcher::LauncherSettings;
pub use berth_testkit::fake_site::{name, plan, IMAGE, NET, SITE, WORKSPACE};
use std::collections::HashMap;
use std::time::Duration;

/// The labels of job `job`'s container in the site's workspace.
pub fn site_labels(job: &str) -> HashMap<String, String> {
    berth_testkit::fake_site::site_labels(job, WORKSPACE)
}

/// Settings for milliseconds-long tests.
pub fn settings() -> LauncherSettings {
    let mut s = LauncherSettings::new(SITE);
    s.poll_interval = Duration::from_millis(5);
    s.start_timeout = Some(Duration::from_millis(500));
    s.reconnect_backoff_min = Duration::from_millis(5);
    s.reconnect_backoff_max = Duration::from_millis(20);
    // Long: tests must not pass thanks to the safety net unless they ask for it.
    s.settle_check_interval = Duration::from_secs(60);
    s
}
