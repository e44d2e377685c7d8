//! What the real-engine suites of this crate share: a site on the local engine (temporary
//! workspace, unique name, network and stub image, all removed by a [`Cleanup`] guard even
//! when a test fails), plans built by the core planner, and the engine proxy.
//!
//! These tests need Docker: without a reachable engine they skip (saying so), unless
//! `BERTH_REQUIRE_DOCKER=1`, where they fail.

#![allow(dead_code)]

pub mod dockerd;
pub mod proxy;

use berth_audit::SitePolicy;
use berth_core::args::{JobProcessArgs, Role};
use berth_core::config::SiteConfig;
use berth_core::plan::{build_plan, ContainerPlan, PlanRequest};
use berth_core::pyval::Map;
use berth_core::{labels, WORKSPACE_MOUNT};
use berth_engine::docker::DockerRuntime;
use berth_engine::{ContainerRuntime, ContainerSummary, LabelFilter};
use berth_launcher::LauncherSettings;
use berth_stub_image::testing::{unique_name, Cleanup};
use serde_json::{json, Value};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
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

pub fn obj(v: Value) -> Map {
    match v {
        Value::Object(m) => m,
        other => panic!("fixture is not an object: {other}"),
    }
}

fn chmod(path: &Path, mode: u32) {
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
        .unwrap_or_else(|e| panic!("chmod {}: {e}", path.display()));
}

/// A site on the real engine. Fields drop in order: the guard removes containers, the
/// network and the image, then the workspace folder goes.
pub struct TestSite {
    pub cleanup: Cleanup,
    pub rt: DockerRuntime,
    pub site: String,
    pub network: String,
    pub image: String,
    pub site_args: Value,
    pub dir: tempfile::TempDir,
}

impl TestSite {
    /// A new site; `extra_site_args` are added to the launcher args (e.g. container options).
    pub async fn new(rt: DockerRuntime, extra_site_args: Value) -> Self {
        let cleanup = Cleanup::new(&rt);
        let network = step("create network", cleanup.new_network(&rt))
            .await
            .expect("network");
        let image = step("import stub image", cleanup.new_stub_image(&rt))
            .await
            .expect("stub image");
        let dir = tempfile::tempdir().expect("tempdir");
        for (sub, file) in [("startup", "fed_client.json"), ("local", "resources.json")] {
            let path = dir.path().join(sub);
            std::fs::create_dir(&path).expect("site folder");
            std::fs::write(path.join(file), "{}\n").expect("site file");
            // World-writable on the host: only the read-only mount keeps a job out.
            chmod(&path, 0o777);
        }
        let mut site_args = json!({
            "workspace": dir.path().to_str().expect("utf-8 tempdir"),
            "network": network,
            "timeout": 60,
        });
        for (k, v) in obj(extra_site_args) {
            site_args[k] = v;
        }
        Self {
            cleanup,
            rt,
            site: unique_name("site"),
            network,
            image,
            site_args,
            dir,
        }
    }

    pub fn root(&self) -> &Path {
        self.dir.path()
    }

    pub fn config(&self) -> SiteConfig {
        SiteConfig::from_args(&obj(self.site_args.clone()), None).expect("site config")
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

    pub fn site_filters(&self) -> Vec<LabelFilter> {
        vec![
            LabelFilter::eq(labels::MANAGED, "true"),
            LabelFilter::eq(labels::SITE, &self.site),
        ]
    }

    /// Writes the job folder with its `stub.script`.
    pub fn job_dir(&self, job_id: &str, script: &str) -> PathBuf {
        let dir = self.root().join(job_id);
        let custom = dir.join(Role::Client.app_dir_name(&self.site)).join("custom");
        std::fs::create_dir_all(&custom).expect("job folder");
        std::fs::write(dir.join("stub.script"), format!("{script}\n")).expect("stub.script");
        chmod(&dir, 0o777);
        dir
    }

    /// The plan for `job_id` running `script`, with its container registered for cleanup
    /// before anything is created.
    pub fn plan(&self, job_id: &str, script: &str) -> ContainerPlan {
        self.job_dir(job_id, script);
        let config = self.config();
        let meta = obj(json!({
            "job_id": job_id,
            "deploy_map": {"app": [self.site]},
            "launcher_spec": {self.site.as_str(): {"docker": {"image": self.image}}},
        }));
        let args = JobProcessArgs::from_map(obj(json!({
            "exe_module": ["-m", "nvflare.private.fed.app.client.worker_process"],
            "workspace": ["-m", WORKSPACE_MOUNT],
            "startup_dir": ["-w", format!("{WORKSPACE_MOUNT}/startup")],
            "job_id": ["-n", job_id],
            "client_name": ["-c", self.site],
            "parent_url": ["-p", "tcp://localhost:8102"],
            "auth_token": ["-t", AUTH_TOKEN],
            "ssid": ["-d", SSID],
        })));
        let env = |_: &str| None;
        let plan = build_plan(&PlanRequest {
            site_config: &config,
            site: &self.site,
            role: Role::Client,
            job_meta: &meta,
            job_args: Some(&args),
            set_options: &[],
            parent_root: self.root(),
            workspace_object: true,
            launcher_env: &env,
            uid: JOB_UID,
            gid: JOB_GID,
        })
        .unwrap_or_else(|e| panic!("plan for {job_id}: {e} ({:?})", e.hint()));
        self.cleanup.container(&plan.name);
        plan
    }

    /// Every container labelled with this site, whatever its state.
    pub async fn containers(&self) -> Vec<ContainerSummary> {
        step("list", self.rt.list(&self.site_filters(), true))
            .await
            .expect("list site containers")
    }

    pub async fn assert_no_containers(&self) {
        let left = self.containers().await;
        assert!(
            left.is_empty(),
            "containers left behind: {:?}",
            left.iter().map(|c| (&c.name, &c.status)).collect::<Vec<_>>()
        );
    }
}
