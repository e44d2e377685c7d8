//! One launch in a throwaway workspace: write the site files, build the plan, and check an
//! accepted plan against the policy.

use super::{check_plan_policy, PolicyContext};
use berth_core::args::{JobProcessArgs, Role};
use berth_core::config::SiteConfig;
use berth_core::plan::{build_plan, ContainerPlan, PlanRequest};
use berth_core::pyval::Map;
use berth_core::study;
use berth_core::Error;
use std::collections::BTreeMap;
use std::path::Path;

/// A filesystem entry created in the workspace before planning. Paths are relative to the
/// workspace root; a link target may be absolute or relative.
#[derive(Debug, Clone)]
pub enum FsOp {
    Dir(String),
    File(String, String),
    Symlink(String, String),
    Socket(String),
    /// Remove a default folder (`startup`, `local`, the job folder).
    Remove(String),
}

/// Everything one launch needs.
#[derive(Debug, Clone)]
pub struct Scenario {
    pub site: String,
    pub role: Role,
    pub meta: Map,
    pub args: Option<JobProcessArgs>,
    pub set_options: Vec<String>,
    pub study_runtime: Option<String>,
    pub study_data: Option<String>,
    pub fs: Vec<FsOp>,
    pub launcher_env: BTreeMap<String, String>,
    pub uid: u32,
    pub gid: u32,
    pub workspace_object: bool,
}

/// The outcome of a scenario: the plan or error, and the policy verdict for a plan.
pub struct Outcome {
    pub result: Result<ContainerPlan, Error>,
    pub policy: Result<(), String>,
}

/// Create `<tmp>/ws` with `startup/`, `local/` and the job folder (when the job id is a plain
/// name), then apply `fs`. Returns the workspace path.
pub fn prepare_workspace(tmp: &Path, job_id: Option<&str>, sc: &Scenario) -> std::io::Result<String> {
    let ws = tmp.join("ws");
    std::fs::create_dir_all(ws.join("startup"))?;
    std::fs::create_dir_all(ws.join("local"))?;
    if let Some(id) = job_id {
        let plain = !id.is_empty()
            && !id.contains(['/', '\0'])
            && !matches!(id, "." | ".." | "startup" | "local")
            && id.len() < 200;
        if plain {
            std::fs::create_dir_all(ws.join(id))?;
        }
    }
    for op in &sc.fs {
        match op {
            FsOp::Dir(p) => std::fs::create_dir_all(ws.join(p))?,
            FsOp::File(p, text) => {
                if let Some(parent) = ws.join(p).parent() {
                    std::fs::create_dir_all(parent)?;
                }
                std::fs::write(ws.join(p), text)?
            }
            FsOp::Symlink(p, to) => {
                let link = ws.join(p);
                if link.is_dir() && !link.is_symlink() {
                    std::fs::remove_dir_all(&link)?;
                }
                let target = if to.starts_with('/') {
                    to.clone()
                } else {
                    ws.join(to).to_string_lossy().into_owned()
                };
                std::os::unix::fs::symlink(target, link)?
            }
            FsOp::Socket(p) => {
                let path = ws.join(p);
                if let Some(parent) = path.parent() {
                    std::fs::create_dir_all(parent)?;
                }
                // The listener is dropped at once; the socket file stays.
                drop(std::os::unix::net::UnixListener::bind(path)?);
            }
            FsOp::Remove(p) => {
                let path = ws.join(p);
                if path.is_symlink() || path.is_file() {
                    std::fs::remove_file(path)?;
                } else if path.is_dir() {
                    std::fs::remove_dir_all(path)?;
                }
            }
        }
    }
    if let Some(text) = &sc.study_runtime {
        std::fs::write(ws.join(study::STUDY_RUNTIME_FILE), text)?;
    }
    if let Some(text) = &sc.study_data {
        std::fs::write(ws.join(study::STUDY_DATA_FILE), text)?;
    }
    Ok(ws.to_string_lossy().into_owned())
}

/// Build the plan for `sc` against `site_config` whose host workspace is the prepared one
/// (`ws`), and check the policy when it is accepted.
pub fn run(sc: &Scenario, site_config: &SiteConfig, ws: &str) -> Outcome {
    let env = sc.launcher_env.clone();
    let launcher_env = move |k: &str| env.get(k).cloned();
    let req = PlanRequest {
        site_config,
        site: &sc.site,
        role: sc.role,
        job_meta: &sc.meta,
        job_args: sc.args.as_ref(),
        set_options: &sc.set_options,
        parent_root: Path::new(ws),
        workspace_object: sc.workspace_object,
        launcher_env: &launcher_env,
        uid: sc.uid,
        gid: sc.gid,
        berth_python: false,
    };
    let result = build_plan(&req);
    let policy = match &result {
        Err(_) => Ok(()),
        Ok(plan) => {
            let study_name = sc
                .meta
                .get("study")
                .and_then(|v| v.as_str())
                .filter(|s| !s.is_empty());
            let runtime = study::load_runtime_for_launch(Path::new(ws), study_name, &mut Vec::new())
                .ok()
                .flatten();
            let default_args = JobProcessArgs::default();
            let host_ws = site_config
                .workspace
                .as_deref()
                .map(berth_core::workspace::normpath)
                .unwrap_or_default();
            let ctx = PolicyContext {
                site_config,
                study_kwargs: runtime.as_ref().map(|r| &r.docker_kwargs),
                host_workspace: &host_ws,
                uid: sc.uid,
                gid: sc.gid,
                launcher_env: &launcher_env,
                job_args: sc.args.as_ref().unwrap_or(&default_args),
                byoc: sc.meta.get("byoc").is_some_and(berth_core::pyval::is_truthy),
                workspace_object: sc.workspace_object,
            };
            check_plan_policy(plan, &ctx)
        }
    };
    Outcome { result, policy }
}
