//! The benchmark's site: a unique site name, network, stub image and host workspace, the
//! plans its jobs run with, and the removal of everything it created.

use anyhow::{bail, Context};
use berth_core::args::{JobProcessArgs, Role};
use berth_core::config::SiteConfig;
use berth_core::labels;
use berth_core::plan::{build_plan, ContainerPlan, PlanRequest};
use berth_engine::docker::DockerRuntime;
use berth_engine::{ContainerRuntime, EngineError, LabelFilter};
use berth_testkit::obj;
use futures::StreamExt;
use serde_json::json;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// The names one benchmark run works under. Everything Docker-side is unique to the run.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct SiteNames {
    /// Also the `io.berth.site` label of every container the run creates.
    pub site: String,
    pub network: String,
    pub image: String,
    /// Host workspace (the benchmark runs on the engine's host, so it is also the parent view).
    pub workspace: PathBuf,
}

impl SiteNames {
    /// Fresh unique names; `workspace` must exist.
    pub fn fresh(workspace: &Path) -> Self {
        let base = berth_testkit::unique_name("bench");
        Self {
            site: base.clone(),
            network: format!("{base}-net"),
            image: format!("{base}-img:latest"),
            workspace: workspace.to_path_buf(),
        }
    }

    /// The label filter that selects every container of this run.
    pub fn filters(&self) -> Vec<LabelFilter> {
        vec![
            LabelFilter::eq(labels::MANAGED, "true"),
            LabelFilter::eq(labels::SITE, &self.site),
        ]
    }
}

/// Builds plans for the run's jobs through berth-core, exactly as a site would.
pub struct Planner {
    names: SiteNames,
    counter: AtomicU64,
    prefix: String,
    /// CPU the benchmark itself spent creating job folders (the site's work before a
    /// launch, not the launcher's), ns.
    folder_cpu_ns: AtomicU64,
}

impl Planner {
    /// Creates `startup/` and `local/` in the workspace. `prefix` keeps job ids of two
    /// processes (the benchmark and its scale child) apart.
    pub fn new(names: &SiteNames, prefix: &str) -> anyhow::Result<Self> {
        for dir in ["startup", "local"] {
            std::fs::create_dir_all(names.workspace.join(dir))
                .with_context(|| format!("cannot create {dir}/ in {}", names.workspace.display()))?;
        }
        Ok(Self {
            names: names.clone(),
            counter: AtomicU64::new(0),
            prefix: prefix.to_string(),
            folder_cpu_ns: AtomicU64::new(0),
        })
    }

    /// CPU spent creating job folders so far (thread CPU of the calls that made them).
    pub fn folder_cpu(&self) -> Duration {
        Duration::from_nanos(self.folder_cpu_ns.load(Ordering::Relaxed))
    }

    pub fn names(&self) -> &SiteNames {
        &self.names
    }

    /// A plan for a fresh job whose stub runs `script` (`;`-separated stub commands),
    /// with its job folder created. Also returns how long `build_plan` itself took.
    pub fn plan(&self, script: &str) -> anyhow::Result<(ContainerPlan, Duration)> {
        let n = self.counter.fetch_add(1, Ordering::Relaxed);
        let job_id = format!("{}-{n}", self.prefix);
        let cpu = crate::procinfo::thread_cpu_time();
        std::fs::create_dir_all(self.names.workspace.join(&job_id))
            .with_context(|| format!("cannot create the job folder of {job_id}"))?;
        let spent = crate::procinfo::thread_cpu_time().saturating_sub(cpu);
        self.folder_cpu_ns
            .fetch_add(spent.as_nanos() as u64, Ordering::Relaxed);
        let workspace = self.names.workspace.display().to_string();
        let site_args = obj(json!({
            "workspace": workspace,
            "network": self.names.network,
            "default_job_env": {"STUB_SCRIPT": script},
        }));
        let config = SiteConfig::from_args(&site_args, None)?;
        let meta = obj(json!({
            "job_id": job_id,
            "deploy_map": {"app": [self.names.site]},
            "launcher_spec": {(self.names.site.clone()): {"docker": {"image": self.names.image}}},
        }));
        let args = JobProcessArgs::from_map(obj(json!({
            "exe_module": ["", "nvflare.private.fed.app.client.worker_process"],
            "parent_url": ["-u", "tcp://localhost:8002"],
            "workspace": ["-w", workspace],
            "startup_dir": ["-s", format!("{workspace}/startup")],
        })));
        let env = |name: &str| std::env::var(name).ok();
        let started = std::time::Instant::now();
        let plan = build_plan(&PlanRequest {
            site_config: &config,
            site: &self.names.site,
            role: Role::Client,
            job_meta: &meta,
            job_args: Some(&args),
            set_options: &[],
            parent_root: &self.names.workspace,
            workspace_object: true,
            launcher_env: &env,
            uid: nix::unistd::getuid().as_raw(),
            gid: nix::unistd::getgid().as_raw(),
            berth_python: false,
        })?;
        Ok((plan, started.elapsed()))
    }
}

/// Creates the network and imports the stub image under the run's names.
pub async fn create_objects(rt: &DockerRuntime, names: &SiteNames) -> anyhow::Result<()> {
    rt.create_network(&names.network)
        .await
        .with_context(|| format!("cannot create network {}", names.network))?;
    rt.import_image(berth_stub_image::rootfs_tar(), &names.image)
        .await
        .with_context(|| format!("cannot import the stub image as {}", names.image))?;
    if !rt.image_exists(&names.image).await? {
        bail!("the stub image {} is not visible after its import", names.image);
    }
    Ok(())
}

/// Removes every container labelled with the run's site (any state), then the network
/// and the image. Best effort: reports what it could not remove and goes on.
pub async fn remove_objects(rt: &DockerRuntime, names: &SiteNames) {
    for attempt in 0..3 {
        let listed = match rt.list(&names.filters(), true).await {
            Ok(l) => l,
            Err(e) => {
                eprintln!("cleanup: cannot list the run's containers: {e}");
                break;
            }
        };
        if listed.is_empty() {
            break;
        }
        if attempt == 0 {
            eprintln!("cleanup: removing {} container(s)", listed.len());
        }
        futures::stream::iter(listed)
            .for_each_concurrent(8, |c| async move {
                match rt.remove(&c.id, true).await {
                    Ok(()) | Err(EngineError::NotFound(_)) | Err(EngineError::Conflict(_)) => {}
                    Err(e) => eprintln!("cleanup: container {}: {e}", c.name),
                }
            })
            .await;
    }
    // The engine may release the last endpoints a moment after the containers are gone.
    for attempt in 1..=5 {
        match rt.remove_network(&names.network).await {
            Ok(()) | Err(EngineError::NotFound(_)) => break,
            Err(e) if attempt == 5 => eprintln!("cleanup: network {}: {e}", names.network),
            Err(_) => tokio::time::sleep(Duration::from_secs(1)).await,
        }
    }
    match rt.remove_image(&names.image).await {
        Ok(()) | Err(EngineError::NotFound(_)) => {}
        Err(e) => eprintln!("cleanup: image {}: {e}", names.image),
    }
}
