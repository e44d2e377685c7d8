//! What the real-engine suites of this crate share: a site on the local engine (the test
//! kit's [`LiveSite`]: temporary workspace, unique name, network and stub image, all removed
//! even when a test fails), plans built by the core planner, and the engine proxy.
//!
//! These tests need Docker: without a reachable engine they are reported ignored, unless
//! `BERTH_REQUIRE_DOCKER=1`, where they fail.

#![allow(dead_code)]

pub mod dockerd;
pub mod proxy;

use berth_audit::SitePolicy;
use berth_core::plan::ContainerPlan;
use berth_engine::docker::DockerRuntime;
use berth_launcher::{JobHandle, Launcher, LauncherSettings};
use berth_store::{MemoryStore, OutcomeStore};
use berth_testkit::LiveSite;
use serde_json::{json, Value};
use std::sync::Arc;
use std::time::Duration;

/// Deadline for one engine step on a loaded 2-core machine.
pub const STEP: Duration = Duration::from_secs(90);

/// Jobs run as a non-root user, as under a launcher that is not root.
pub const JOB_UID: u32 = 1000;
pub const JOB_GID: u32 = 1000;

/// Credentials in the job process args: they reach the job through its env only.
pub const AUTH_TOKEN: &str = "tok-audit-7c41e9a2";
pub const SSID: &str = "ssid-audit-52be0d17";

pub async fn step<T>(what: &str, fut: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(STEP, fut)
        .await
        .unwrap_or_else(|_| panic!("{what} took longer than {STEP:?}"))
}

/// A site on the real engine ([`LiveSite`]) with this suite's job user and launcher settings.
pub struct TestSite {
    pub live: LiveSite,
}

impl std::ops::Deref for TestSite {
    type Target = LiveSite;
    fn deref(&self) -> &LiveSite {
        &self.live
    }
}

impl TestSite {
    /// A new site; `extra_site_args` are added to the launcher args (e.g. container options).
    pub async fn new(rt: DockerRuntime, extra_site_args: Value) -> Self {
        Self {
            live: LiveSite::new(rt, extra_site_args).await,
        }
    }

    pub fn policy(&self) -> SitePolicy {
        SitePolicy::new(&self.config(), &self.site, JOB_UID, JOB_GID).expect("site policy")
    }

    pub fn settings(&self) -> LauncherSettings {
        let mut s = LauncherSettings::new(&self.site);
        s.network = self.network.clone();
        s.start_timeout = Some(Duration::from_secs(60));
        s.poll_interval = Duration::from_millis(100);
        s.settle_check_interval = Duration::from_secs(5);
        s.reconnect_backoff_min = Duration::from_millis(100);
        s.reconnect_backoff_max = Duration::from_secs(1);
        s
    }

    /// The plan for `job_id` running `script`, with its container registered for cleanup
    /// before anything is created.
    pub fn plan(&self, job_id: &str, script: &str) -> ContainerPlan {
        self.write_job(job_id, script);
        let mut args = self.client_args(job_id);
        args["auth_token"] = json!(["-t", AUTH_TOKEN]);
        args["ssid"] = json!(["-d", SSID]);
        self.live
            .plan(&self.job_meta(job_id, &self.image), &args, JOB_UID, JOB_GID)
    }
}

/// Launches `job_id` running `script` on `site` through `launcher`; a failure panics.
pub async fn launch(launcher: &Launcher, site: &TestSite, job_id: &str, script: &str) -> JobHandle {
    let plan = site.plan(job_id, script);
    step(&format!("launch {job_id}"), launcher.launch(plan))
        .await
        .unwrap_or_else(|e| panic!("launch {job_id}: {e} ({:?})", e.hint()))
}

/// Every launch in `store` has its outcome, and a recovery by another process (over the
/// direct connection) finds nothing to do.
pub async fn assert_every_launch_has_its_outcome(site: &TestSite, store: &Arc<MemoryStore>) {
    for l in store.launches() {
        assert!(
            store.outcome(&l.container_id).expect("read store").is_some(),
            "launch of {} has no outcome",
            l.job_id
        );
    }
    let other = Launcher::new(Arc::new(site.rt.clone()), site.settings(), store.clone());
    let report = step("recover", other.recover(berth_core::config::OrphanPolicy::Report))
        .await
        .expect("recover");
    assert!(report.errors.is_empty(), "{:?}", report.errors);
    assert!(
        report.jobs.is_empty(),
        "recovery found work: {}",
        report.summary()
    );
}
