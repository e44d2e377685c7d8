//! What the engine really does with a plan: a throwaway container from the plan of a sample
//! job, created (never started), inspected and removed, and each promise of the plan checked
//! against what the engine made of it ([`berth_audit::engine_promises`]).

use super::engine::Engine;
use super::{Checklist, ENGINE_PROMISES};
use crate::{JobRequest, Site};
use berth_core::args::{JobProcessArgs, Role};
use berth_core::WORKSPACE_MOUNT;
use berth_engine::{ContainerRuntime, EngineError};
use std::cell::RefCell;
use std::path::PathBuf;

/// The engine's flags and the throwaway container's promises. Each promise the engine did
/// not keep is a failure with its fix.
pub(super) fn check_engine_promises(
    list: &mut Checklist,
    site: Option<&Site>,
    engine: Option<&Engine>,
    local_ok: bool,
) {
    let (Some(site), Some(engine), true) = (site, engine, local_ok) else {
        list.skip(
            "engine_promises",
            ENGINE_PROMISES,
            "what the engine makes of a plan: needs the site config, the engine and the workspace".into(),
        );
        return;
    };
    check_engine_flags(list, engine);
    let probe = ThrowawayJob::new(site);
    let result = probe.run(site, engine);
    if let Err((name, e)) = probe.clean(engine) {
        list.warn(
            "engine_promises",
            ENGINE_PROMISES,
            format!("could not remove the throwaway container {name}: {e}"),
            format!("remove it: docker rm -f {name}"),
        );
    }
    match result {
        Err(EngineError::Unsupported { engine: e, what, why }) => list.fail(
            "engine_promises",
            ENGINE_PROMISES,
            format!("{e} cannot keep {what}"),
            why,
        ),
        Err(e) => list.fail(
            "engine_promises",
            ENGINE_PROMISES,
            format!("cannot create a throwaway container from a sample plan: {e}"),
            "fix the failures above (network, workspace, engine) first".into(),
        ),
        Ok(promises) => {
            for p in promises {
                if p.kept {
                    list.pass(
                        "engine_promises",
                        ENGINE_PROMISES,
                        format!("{}: {}", p.name, p.detail),
                    );
                } else {
                    list.fail(
                        "engine_promises",
                        ENGINE_PROMISES,
                        format!("{} not kept: {}", p.name, p.detail),
                        p.fix,
                    );
                }
            }
        }
    }
}

/// OOM kills flagged; rootless Podman and what it cannot limit.
fn check_engine_flags(list: &mut Checklist, engine: &Engine) {
    if let Ok(info) = engine.admin("the engine's details", engine.docker.engine()) {
        if !info.reports_oom_kills() {
            list.warn(
                "oom_flag",
                ENGINE_PROMISES,
                format!("{} does not flag OOM kills", info.describe()),
                "a job the kernel kills for memory ends as exit code 137 without the OOM flag; \
                 Podman 5 and Docker flag it"
                    .into(),
            );
        }
    }
    match engine.admin("Podman's host details", engine.docker.podman_host()) {
        Ok(Some(host)) if host.rootless && host.cgroup_version == "v1" => list.fail(
            "rootless_limits",
            ENGINE_PROMISES,
            "rootless Podman on a cgroup v1 host ignores memory, CPU and pids limits".into(),
            "run Podman rootful (sudo podman system service), or move the host to cgroup v2".into(),
        ),
        Ok(Some(host)) if host.rootless => list.warn(
            "rootless",
            ENGINE_PROMISES,
            format!("rootless Podman (cgroup {})", host.cgroup_version),
            "jobs reach the network through slirp4netns, which needs /dev/net/tun usable by the \
             service's user; the workspace must be readable by that user"
                .into(),
        ),
        _ => {}
    }
}

/// A root filesystem with nothing to run: the container is created and inspected, never
/// started, so the image needs only the folders a create may look at.
fn probe_rootfs() -> Vec<u8> {
    let mut builder = tar::Builder::new(Vec::new());
    for (folder, mode) in [("tmp/", 0o1777), ("var/", 0o755), ("var/tmp/", 0o1777)] {
        let mut header = tar::Header::new_gnu();
        header.set_entry_type(tar::EntryType::Directory);
        header.set_mode(mode);
        header.set_size(0);
        // A folder name of a few bytes and an empty body in memory: appending cannot fail.
        let _ = builder.append_data(&mut header, folder, std::io::empty());
    }
    builder.into_inner().unwrap_or_default()
}

/// The sample job: unique names, its image imported for it, a job folder made for it in
/// the workspace; removed by [`Self::clean`].
struct ThrowawayJob {
    job_id: String,
    image: String,
    dir: PathBuf,
    /// The container's name once planned.
    container: RefCell<Option<String>>,
}

impl ThrowawayJob {
    fn new(site: &Site) -> Self {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        let job_id = format!("berth-doctor-{}-{nanos:08x}", std::process::id());
        Self {
            image: format!("{job_id}:probe"),
            dir: site.parent_root.join(&job_id),
            job_id,
            container: RefCell::new(None),
        }
    }

    fn run(&self, site: &Site, engine: &Engine) -> Result<Vec<berth_audit::Promise>, EngineError> {
        let refused = |e: &dyn std::fmt::Display| EngineError::Api {
            status: 0,
            message: e.to_string(),
        };
        std::fs::create_dir(&self.dir)
            .map_err(|e| refused(&format!("cannot make {}: {e}", self.dir.display())))?;
        let plan = site
            .plan(&self.request(site))
            .map_err(|e| refused(&format!("the sample job does not plan: {}", e.message())))?;
        // As a launch does (DESIGN decision 15): the folder the plan mounts must hold berth's
        // Python files before the container is created, or the engine refuses the bind.
        if let Some(root) = crate::pyfiles::mounted_root(&plan) {
            crate::pyfiles::write_job_files(&root).map_err(|e| refused(&e.message()))?;
        }
        let what = format!("the import of image '{}'", self.image);
        engine.admin(&what, engine.docker.import_image(probe_rootfs(), &self.image))?;
        self.container.replace(Some(plan.name.clone()));
        let id = engine.ask(
            engine
                .runtime
                .create(&plan.name, &plan.create, plan.platform.as_deref()),
        )?;
        let inspect = engine.ask(engine.runtime.inspect_raw(&id));
        let removed = engine.ask(engine.runtime.remove(&id, true));
        let inspect = inspect?;
        removed?;
        Ok(berth_audit::engine_promises(
            &plan.create,
            &inspect,
            WORKSPACE_MOUNT,
        ))
    }

    fn request(&self, site: &Site) -> JobRequest {
        let meta = serde_json::json!({
            "job_id": self.job_id,
            "launcher_spec": {site.name.clone(): {"docker": {"image": self.image}}},
        });
        let (module, config) = match site.role {
            Role::Client => ("nvflare.private.fed.app.client.worker_process", "fed_client.json"),
            Role::Server => ("nvflare.private.fed.app.server.runner_process", "fed_server.json"),
        };
        let mut args = serde_json::json!({
            "exe_module": ["-m", module],
            "workspace": ["-m", WORKSPACE_MOUNT],
            "startup_dir": ["-w", format!("{WORKSPACE_MOUNT}/startup")],
            "job_id": ["-n", self.job_id],
            "startup_config_file": ["-s", config],
        });
        if site.role == Role::Client {
            args["client_name"] = serde_json::json!(["--client_name", site.name]);
        }
        JobRequest {
            meta: meta.as_object().cloned().unwrap_or_default(),
            args: args.as_object().cloned().map(JobProcessArgs::from_map),
            set_options: Vec::new(),
            workspace_object: true,
        }
    }

    /// Best effort: the container is already gone unless the run failed half-way. Returns
    /// the container it could not remove, with why.
    fn clean(&self, engine: &Engine) -> Result<(), (String, EngineError)> {
        let what = format!("the removal of image '{}'", self.image);
        let container = match self.container.borrow().as_deref() {
            Some(name) => match engine.ask(engine.runtime.remove(name, true)) {
                Ok(()) | Err(EngineError::NotFound(_)) => Ok(()),
                Err(e) => Err((name.to_string(), e)),
            },
            None => Ok(()),
        };
        let _ = engine.admin(&what, engine.docker.remove_image(&self.image));
        let _ = std::fs::remove_dir(&self.dir);
        container
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_probe_rootfs_holds_only_folders() {
        let bytes = probe_rootfs();
        let mut archive = tar::Archive::new(bytes.as_slice());
        let mut seen = Vec::new();
        for entry in archive.entries().unwrap() {
            let entry = entry.unwrap();
            assert_eq!(entry.header().entry_type(), tar::EntryType::Directory);
            seen.push((
                entry.path().unwrap().display().to_string(),
                entry.header().mode().unwrap(),
            ));
        }
        assert_eq!(seen[0], ("tmp/".to_string(), 0o1777));
        assert_eq!(seen.len(), 3);
    }
}
