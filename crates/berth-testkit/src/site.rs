//! A client site on the real engine, for suites that launch real jobs.

use crate::engine::{unique_name, Cleanup};
use crate::json::obj;
use berth_core::args::{JobProcessArgs, Role};
use berth_core::config::SiteConfig;
use berth_core::plan::{build_plan, ContainerPlan, PlanRequest};
use berth_core::{labels, WORKSPACE_MOUNT};
use berth_engine::docker::DockerRuntime;
use berth_engine::{ContainerRuntime, ContainerSummary, LabelFilter};
use serde_json::{json, Value};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The module a client job process runs (`-m`), as NVFlare's client parent passes it.
pub const CLIENT_MODULE: &str = "nvflare.private.fed.app.client.worker_process";

/// Deadline for one engine step while a site is set up or listed, on a loaded 2-core machine.
const STEP: Duration = Duration::from_secs(90);

async fn step<T>(what: &str, fut: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(STEP, fut)
        .await
        .unwrap_or_else(|_| panic!("{what} took longer than {STEP:?}"))
}

fn chmod(path: &Path, mode: u32) {
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
        .unwrap_or_else(|e| panic!("chmod {}: {e}", path.display()));
}

/// A site's host side, with nothing on the engine: a unique site name (so its berth labels
/// are its own), a temporary workspace in NVFlare's layout, and the launcher args naming a
/// network and an image that may or may not exist.
///
/// `startup/` and `local/` are world-writable on the host, so only the read-only mounts
/// keep a job out of them.
pub struct SiteWorkspace {
    pub site: String,
    pub network: String,
    pub image: String,
    /// The launcher args (resources.json `args`) the site config is read from.
    pub site_args: Value,
    pub dir: tempfile::TempDir,
}

impl SiteWorkspace {
    /// A new workspace: `{"workspace", "network", "timeout": 60}` plus `extra_site_args`
    /// (which may override them) as its launcher args.
    pub fn new(network: &str, image: &str, extra_site_args: Value) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        for (sub, file, text) in [
            ("startup", "fed_client.json", "{\"format_version\": 2}\n"),
            ("local", "resources.json", "{\"components\": []}\n"),
        ] {
            let path = dir.path().join(sub);
            std::fs::create_dir(&path).expect("site folder");
            std::fs::write(path.join(file), text).expect("site file");
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
            site: unique_name("site"),
            network: network.to_string(),
            image: image.to_string(),
            site_args,
            dir,
        }
    }

    /// The workspace on the host (berth runs on the engine's host in these suites, so it is
    /// also the parent root).
    pub fn root(&self) -> &Path {
        self.dir.path()
    }

    pub fn config(&self) -> SiteConfig {
        SiteConfig::from_args(&obj(self.site_args.clone()), None).expect("site config")
    }

    /// Labels that select this site's berth containers.
    pub fn site_filters(&self) -> Vec<LabelFilter> {
        vec![
            LabelFilter::eq(labels::MANAGED, "true"),
            LabelFilter::eq(labels::SITE, &self.site),
        ]
    }

    /// The folder of job `job_id`.
    pub fn job_dir(&self, job_id: &str) -> PathBuf {
        self.root().join(job_id)
    }

    /// Writes the job folder (world-writable, so the job user can write it): its
    /// `stub.script` and an empty custom code folder. Returns the folder.
    pub fn write_job(&self, job_id: &str, script: &str) -> PathBuf {
        let dir = self.job_dir(job_id);
        let custom = dir.join(Role::Client.app_dir_name(&self.site)).join("custom");
        std::fs::create_dir_all(&custom).expect("job folder");
        std::fs::write(dir.join("stub.script"), format!("{script}\n")).expect("stub.script");
        chmod(&dir, 0o777);
        dir
    }

    /// The job's meta: deployed to this site, running `image`.
    pub fn job_meta(&self, job_id: &str, image: &str) -> Value {
        json!({
            "job_id": job_id,
            "deploy_map": {"app": [self.site]},
            "launcher_spec": {self.site.as_str(): {"docker": {"image": image}}},
        })
    }

    /// The client job process args without credentials (add `auth_token`, `ssid`, ... to
    /// the returned object).
    pub fn client_args(&self, job_id: &str) -> Value {
        json!({
            "exe_module": ["-m", CLIENT_MODULE],
            "workspace": ["-m", WORKSPACE_MOUNT],
            "startup_dir": ["-w", format!("{WORKSPACE_MOUNT}/startup")],
            "job_id": ["-n", job_id],
            "client_name": ["-c", self.site],
            "parent_url": ["-p", "tcp://localhost:8102"],
        })
    }

    /// The plan the core builds for `meta` and `args` with this site's config, for a
    /// launcher running as `uid:gid`.
    pub fn plan(&self, meta: &Value, args: &Value, uid: u32, gid: u32) -> ContainerPlan {
        let config = self.config();
        let meta = obj(meta.clone());
        let args = JobProcessArgs::from_map(obj(args.clone()));
        let env = |_: &str| None;
        build_plan(&PlanRequest {
            site_config: &config,
            site: &self.site,
            role: Role::Client,
            job_meta: &meta,
            job_args: Some(&args),
            set_options: &[],
            parent_root: self.root(),
            workspace_object: true,
            launcher_env: &env,
            uid,
            gid,
            berth_python: false,
        })
        .unwrap_or_else(|e| panic!("plan for {}: {e} ({:?})", plan_job(&meta), e.hint()))
    }
}

/// A site on the real engine: a [`SiteWorkspace`] (reached through `Deref`) whose network
/// and stub image exist, each unique, with a guard that removes them.
///
/// Fields drop in order: the guard removes the site's containers, the network and the
/// image, then the workspace folder goes.
pub struct LiveSite {
    pub cleanup: Cleanup,
    pub rt: DockerRuntime,
    pub workspace: SiteWorkspace,
}

impl std::ops::Deref for LiveSite {
    type Target = SiteWorkspace;

    fn deref(&self) -> &SiteWorkspace {
        &self.workspace
    }
}

impl LiveSite {
    /// A new site: see [`SiteWorkspace::new`] for its launcher args. Every container
    /// labelled with the site is removed at the end, whoever created it.
    pub async fn new(rt: DockerRuntime, extra_site_args: Value) -> Self {
        let cleanup = Cleanup::new(&rt);
        let network = step("create network", cleanup.new_network(&rt))
            .await
            .expect("network");
        let image = step("import stub image", cleanup.new_stub_image(&rt))
            .await
            .expect("stub image");
        let workspace = SiteWorkspace::new(&network, &image, extra_site_args);
        cleanup.site_containers(&workspace.site);
        Self {
            cleanup,
            rt,
            workspace,
        }
    }

    /// [`SiteWorkspace::plan`], its container registered with the guard before anything is
    /// created.
    pub fn plan(&self, meta: &Value, args: &Value, uid: u32, gid: u32) -> ContainerPlan {
        let plan = self.workspace.plan(meta, args, uid, gid);
        self.cleanup.container(&plan.name);
        plan
    }

    /// Every container labelled with this site, whatever its state.
    pub async fn containers(&self) -> Vec<ContainerSummary> {
        step("list", self.rt.list(&self.site_filters(), true))
            .await
            .expect("list site containers")
    }

    /// Fails the test when any container labelled with this site remains.
    pub async fn assert_no_containers(&self) {
        let left = self.containers().await;
        assert!(
            left.is_empty(),
            "containers left behind: {:?}",
            left.iter().map(|c| (&c.name, &c.status)).collect::<Vec<_>>()
        );
    }
}

fn plan_job(meta: &berth_core::pyval::Map) -> String {
    meta.get("job_id")
        .map(|v| v.to_string())
        .unwrap_or_else(|| "a job without job_id".to_string())
}
