//! The demo's sample site on disk, in NVFlare's workspace layout:
//!
//! ```text
//! <workdir>/
//!   workspace/                    the site workspace (host path = what berth reads)
//!     startup/fed_client.json     placeholder for the provisioned startup kit
//!     local/resources.json        ClientDockerJobLauncher: workspace, network, options
//!     local/study_runtime.yaml    study `demo`: image and dataset `train`
//!     <job_id>/meta.json          one folder per job, with its stub.script
//!     .berth/state.db             berth's state store (outside every job's view)
//!   data/train/samples.csv        the dataset, mounted read-only at /data/demo/train
//!   logs/<job>.log                each job's output, captured from the engine
//! ```

use anyhow::Context;
use berth_core::args::Role;
use serde_json::{json, Value};
use std::path::{Path, PathBuf};

/// The study the demo jobs belong to.
pub const STUDY: &str = "demo";
/// The study's one dataset.
pub const DATASET: &str = "train";
/// The dataset's file.
pub const DATASET_FILE: &str = "samples.csv";

/// A few rows of a toy classification set.
const SAMPLES_CSV: &str = "\
x1,x2,label
0.12,0.88,1
0.93,0.10,0
0.45,0.51,1
0.78,0.33,0
0.05,0.97,1
0.66,0.20,0
0.31,0.72,1
0.88,0.41,0
";

/// Where everything of one demo run lives.
#[derive(Debug, Clone)]
pub struct DemoLayout {
    pub root: PathBuf,
    pub workspace: PathBuf,
    pub data: PathBuf,
    pub logs: PathBuf,
}

impl DemoLayout {
    pub fn new(root: &Path) -> Self {
        Self {
            root: root.to_path_buf(),
            workspace: root.join("workspace"),
            data: root.join("data").join(DATASET),
            logs: root.join("logs"),
        }
    }

    pub fn resources_json(&self) -> PathBuf {
        self.workspace.join("local").join("resources.json")
    }

    pub fn job_dir(&self, job_id: &str) -> PathBuf {
        self.workspace.join(job_id)
    }

    pub fn dataset_file(&self) -> PathBuf {
        self.data.join(DATASET_FILE)
    }

    pub fn log_file(&self, job: &str) -> PathBuf {
        self.logs.join(format!("{job}.log"))
    }

    /// The dataset as a job sees it.
    pub fn dataset_in_job() -> String {
        format!(
            "{}/{DATASET_FILE}",
            berth_core::study::data_mount_target(STUDY, DATASET)
        )
    }
}

/// What the site's config names.
#[derive(Debug, Clone)]
pub struct SiteSpec<'a> {
    pub site: &'a str,
    pub network: &'a str,
    pub image: &'a str,
}

fn write(path: &Path, text: &str) -> anyhow::Result<()> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).with_context(|| format!("cannot create {}", parent.display()))?;
    }
    std::fs::write(path, text).with_context(|| format!("cannot write {}", path.display()))
}

fn pretty(value: &Value) -> String {
    // Serialising a JSON value built in memory cannot fail.
    format!("{}\n", serde_json::to_string_pretty(value).unwrap_or_default())
}

/// A YAML scalar for a path: a JSON string is a valid YAML double-quoted scalar.
fn yaml_str(s: &str) -> String {
    Value::String(s.to_string()).to_string()
}

/// Write the site workspace, the dataset and the log folder.
pub fn write_site(layout: &DemoLayout, spec: &SiteSpec<'_>) -> anyhow::Result<()> {
    let workspace = layout.workspace.to_string_lossy();
    write(
        &layout.workspace.join("startup").join("fed_client.json"),
        &pretty(&json!({
            "format_version": 2,
            "_note": "placeholder: a provisioned site's startup kit holds this file and its certificates",
            "servers": [{"name": "demo", "service": {"scheme": "grpc"}}],
            "client": {"retry_timeout": 30},
        })),
    )?;
    write(
        &layout.resources_json(),
        &pretty(&json!({
            "format_version": 2,
            "components": [{
                "id": "docker_launcher",
                "path": format!("nvflare.app_opt.job_launcher.docker_launcher.{}", Role::Client.launcher_class()),
                "args": {
                    "workspace": workspace,
                    "network": spec.network,
                    "default_job_container_kwargs": {"shm_size": "64m"},
                    "default_job_env": {"DEMO_SITE": spec.site},
                },
            }],
        })),
    )?;
    let runtime = [
        "format_version: 2".to_string(),
        "studies:".to_string(),
        format!("  {STUDY}:"),
        "    container:".to_string(),
        format!("      image: {}", yaml_str(spec.image)),
        "    datasets:".to_string(),
        format!("      {DATASET}:"),
        format!("        source: {}", yaml_str(&layout.data.to_string_lossy())),
        "        mode: ro".to_string(),
        "    env:".to_string(),
        "      DEMO_EPOCHS: 3".to_string(),
    ]
    .join("\n")
        + "\n";
    write(
        &layout.workspace.join("local").join("study_runtime.yaml"),
        &runtime,
    )?;
    write(&layout.dataset_file(), SAMPLES_CSV)?;
    std::fs::create_dir_all(&layout.logs)
        .with_context(|| format!("cannot create {}", layout.logs.display()))?;
    Ok(())
}

/// A job's meta.json, as an NVFlare job folder carries it. The image comes from the study.
pub fn job_meta(job_id: &str, name: &str, site: &str) -> Value {
    json!({
        "name": format!("demo-{name}"),
        "job_id": job_id,
        "study": STUDY,
        "deploy_map": {"app": [site]},
        "min_clients": 1,
    })
}

/// The job process args the parent would pass (`name -> [flag, value]`).
pub fn job_process_args(job_id: &str, site: &str) -> serde_json::Map<String, Value> {
    let workspace = berth_core::WORKSPACE_MOUNT;
    let args = json!({
        "exe_module": ["-m", "nvflare.private.fed.app.client.worker_process"],
        "workspace": ["-m", workspace],
        "startup_dir": ["-w", format!("{workspace}/startup")],
        "job_id": ["-n", job_id],
        "client_name": ["--client_name", site],
        "startup_config_file": ["-s", "fed_client.json"],
    });
    match args {
        Value::Object(m) => m,
        _ => serde_json::Map::new(),
    }
}

/// Write one job folder: meta.json and the script the job stub runs.
pub fn write_job(layout: &DemoLayout, job_id: &str, meta: &Value, script: &str) -> anyhow::Result<()> {
    let dir = layout.job_dir(job_id);
    write(&dir.join("meta.json"), &pretty(meta))?;
    write(&dir.join("stub.script"), script)
}

#[cfg(test)]
mod tests {
    use super::*;
    use berth_core::config::{parse_config_text, SiteConfig};
    use berth_core::study::{load_study_runtime_file, LauncherMode};

    #[test]
    fn the_site_files_parse_with_berth_core() {
        let dir = tempfile::tempdir().unwrap();
        let layout = DemoLayout::new(dir.path());
        let spec = SiteSpec {
            site: "site-1",
            network: "berth-demo",
            image: "berth-job-stub:abc",
        };
        write_site(&layout, &spec).unwrap();

        let text = std::fs::read_to_string(layout.resources_json()).unwrap();
        let section = parse_config_text(&text, "resources.json").unwrap();
        assert_eq!(section.role, Some(Role::Client));
        let cfg = SiteConfig::from_args(&section.args, None).unwrap();
        assert_eq!(cfg.network, "berth-demo");
        assert_eq!(
            cfg.workspace.as_deref(),
            Some(&*layout.workspace.to_string_lossy())
        );

        let mut warnings = Vec::new();
        let runtime = load_study_runtime_file(
            &layout.workspace.join("local/study_runtime.yaml"),
            LauncherMode::Docker,
            &mut warnings,
        )
        .unwrap();
        let demo = &runtime.studies[STUDY];
        assert_eq!(demo.image.as_deref(), Some("berth-job-stub:abc"));
        assert_eq!(demo.datasets[0].target, "/data/demo/train");
        assert!(demo.datasets[0].read_only);
        assert_eq!(DemoLayout::dataset_in_job(), "/data/demo/train/samples.csv");
    }
}
