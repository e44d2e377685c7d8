//! The doctor's checks, in the order a site would hit them: its config, the engine and
//! network, the workspace layout, the study files, the images, the container options and
//! the user jobs run as. A check that cannot run because an earlier one failed is skipped,
//! not failed twice.

use crate::site::SiteArgs;
use berth_core::study::{validate_site_studies, SiteStudies, STUDY_RUNTIME_FILE};
use berth_core::{sdk_kwargs, WORKSPACE_ENV, WORKSPACE_MOUNT};
use berth_engine::docker::{DockerRuntime, DEFAULT_SOCKET};
use berth_engine::{ContainerRuntime, EngineError};
use berth_launcher::Site;
use std::path::Path;
use std::time::Duration;

/// How long the engine may take to answer each of the doctor's requests.
const ENGINE_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Pass,
    /// Works, but worth knowing; does not fail the run.
    Warn,
    Fail,
    /// Not checked because something it needs failed first.
    Skip,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Check {
    /// Stable name for scripts (`engine`, `network`, `startup_dir`, ...).
    pub id: &'static str,
    /// The heading it is printed under.
    pub group: &'static str,
    pub status: Status,
    pub summary: String,
    /// For a failure: what to do. For a warning: what it means.
    pub fix: Option<String>,
}

#[derive(Debug, Default)]
pub struct Checklist {
    pub checks: Vec<Check>,
}

impl Checklist {
    fn add(
        &mut self,
        id: &'static str,
        group: &'static str,
        status: Status,
        summary: String,
        fix: Option<String>,
    ) {
        self.checks.push(Check {
            id,
            group,
            status,
            summary,
            fix,
        });
    }

    fn pass(&mut self, id: &'static str, group: &'static str, summary: String) {
        self.add(id, group, Status::Pass, summary, None);
    }

    fn warn(&mut self, id: &'static str, group: &'static str, summary: String, note: String) {
        self.add(id, group, Status::Warn, summary, Some(note));
    }

    fn fail(&mut self, id: &'static str, group: &'static str, summary: String, fix: String) {
        self.add(id, group, Status::Fail, summary, Some(fix));
    }

    fn skip(&mut self, id: &'static str, group: &'static str, summary: String) {
        self.add(id, group, Status::Skip, summary, None);
    }

    pub fn failed(&self) -> bool {
        self.checks.iter().any(|c| c.status == Status::Fail)
    }

    pub fn count(&self, status: Status) -> usize {
        self.checks.iter().filter(|c| c.status == status).count()
    }
}

const CONFIG: &str = "Site config";
const ENGINE: &str = "Engine";
const WORKSPACE: &str = "Workspace";
const STUDY: &str = "Study files";
const IMAGES: &str = "Images";
const OPTIONS: &str = "Container options";
const USER: &str = "Job user";
const ENGINE_PROMISES: &str = "What the engine makes of a plan";

/// The engine, once reached, with a runtime to ask it on.
struct Engine {
    rt: tokio::runtime::Runtime,
    docker: DockerRuntime,
}

impl Engine {
    fn ask<T>(
        &self,
        fut: impl std::future::Future<Output = Result<T, EngineError>>,
    ) -> Result<T, EngineError> {
        self.rt
            .block_on(async { tokio::time::timeout(ENGINE_TIMEOUT, fut).await })
            .unwrap_or_else(|_| {
                Err(EngineError::Unreachable(format!(
                    "{} did not answer within {}s",
                    self.docker.endpoint(),
                    ENGINE_TIMEOUT.as_secs()
                )))
            })
    }
}

/// Run every check.
pub fn run_all(args: &SiteArgs) -> Checklist {
    let mut list = Checklist::default();
    let site = check_config(&mut list, args);
    let engine = check_engine(&mut list);
    check_network(&mut list, site.as_ref(), engine.as_ref());
    let local_ok = check_workspace(&mut list, site.as_ref());
    let studies = check_study_files(&mut list, site.as_ref(), local_ok);
    check_images(&mut list, site.as_ref(), engine.as_ref(), studies.as_ref());
    check_container_options(&mut list, site.as_ref(), studies.as_ref());
    check_engine_promises(&mut list, site.as_ref(), engine.as_ref(), local_ok);
    check_job_user(&mut list);
    list
}

fn error_text(e: &anyhow::Error) -> (String, Option<String>) {
    match e.chain().find_map(|c| c.downcast_ref::<berth_core::Error>()) {
        Some(be) => (be.message().to_string(), be.hint().map(str::to_string)),
        None => (format!("{e:#}"), None),
    }
}

/// Load the site as every command does; the workspace folder is checked with the layout.
fn check_config(list: &mut Checklist, args: &SiteArgs) -> Option<Site> {
    match args.load_unchecked() {
        Ok(site) => {
            crate::site::announce(&site);
            list.pass(
                "config",
                CONFIG,
                format!(
                    "{}: {} for site '{}'",
                    args.config.display(),
                    site.role.launcher_class(),
                    site.name
                ),
            );
            Some(site)
        }
        Err(e) => {
            let (message, hint) = error_text(&e);
            list.fail(
                "config",
                CONFIG,
                message.clone(),
                hint.unwrap_or_else(|| {
                    if message.starts_with("cannot read config") {
                        "pass --config with the site's local/resources.json (or a JSON object of the launcher args)"
                            .into()
                    } else {
                        "fix the launcher args in local/resources.json (or the plain args file)".into()
                    }
                }),
            );
            None
        }
    }
}

fn engine_origin() -> String {
    match std::env::var("DOCKER_HOST") {
        Ok(h) if !h.trim().is_empty() => format!("from DOCKER_HOST={h}"),
        _ => "the default socket; DOCKER_HOST is not set".to_string(),
    }
}

fn unreachable_fix() -> String {
    match std::env::var("DOCKER_HOST") {
        Ok(h) if !h.trim().is_empty() => format!(
            "DOCKER_HOST={h} does not lead to a running engine: set it to the engine's socket \
             (e.g. unix://{DEFAULT_SOCKET}, or Podman's Docker-compatible socket), or unset it to use {DEFAULT_SOCKET}"
        ),
        _ if Path::new(DEFAULT_SOCKET).exists() => format!(
            "{DEFAULT_SOCKET} exists but no engine answered: start the engine (systemctl start docker) \
             and make sure this user may use the socket (the docker group)"
        ),
        _ => format!(
            "no engine socket at {DEFAULT_SOCKET}: start the engine (systemctl start docker), or set \
             DOCKER_HOST to its socket (Podman: its Docker-compatible socket)"
        ),
    }
}

/// Engine reachable, and from where; API version at least 1.41.
fn check_engine(list: &mut Checklist) -> Option<Engine> {
    let origin = engine_origin();
    let docker = match DockerRuntime::from_env() {
        Ok(d) => d,
        Err(e) => {
            list.fail(
                "engine",
                ENGINE,
                format!("cannot use the engine address ({origin}): {e}"),
                unreachable_fix(),
            );
            list.skip("api_version", ENGINE, "API version: engine not reachable".into());
            return None;
        }
    };
    let rt = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            list.fail(
                "engine",
                ENGINE,
                format!("cannot start a runtime to ask the engine: {e}"),
                "check the process limits (threads, open files)".into(),
            );
            return None;
        }
    };
    let engine = Engine { rt, docker };
    let endpoint = engine.docker.endpoint();
    match engine.ask(engine.docker.ping()) {
        Ok(info) => {
            list.pass(
                "engine",
                ENGINE,
                format!("engine reachable at {endpoint} ({origin})"),
            );
            list.pass(
                "api_version",
                ENGINE,
                format!(
                    "API {} ({} {}); berth needs 1.41 or newer",
                    info.api_version, info.platform, info.engine_version
                ),
            );
            Some(engine)
        }
        Err(EngineError::TooOld { found, minimum }) => {
            list.pass(
                "engine",
                ENGINE,
                format!("engine reachable at {endpoint} ({origin})"),
            );
            list.fail(
                "api_version",
                ENGINE,
                format!("engine API {found} is older than {minimum}"),
                "upgrade the engine to Docker 20.10 (API 1.41) or newer, or use Podman 4 or newer".into(),
            );
            None
        }
        Err(e) => {
            let detail = match &e {
                EngineError::Unreachable(why) => why.clone(),
                other => other.to_string(),
            };
            list.fail(
                "engine",
                ENGINE,
                format!("cannot reach the engine at {endpoint} ({origin}): {detail}"),
                unreachable_fix(),
            );
            list.skip("api_version", ENGINE, "API version: engine not reachable".into());
            None
        }
    }
}

fn check_network(list: &mut Checklist, site: Option<&Site>, engine: Option<&Engine>) {
    let Some(site) = site else {
        list.skip(
            "network",
            ENGINE,
            "site network: the site config did not load".into(),
        );
        return;
    };
    let name = &site.config.network;
    let Some(engine) = engine else {
        list.skip(
            "network",
            ENGINE,
            format!("network '{name}': engine not reachable"),
        );
        return;
    };
    match engine.ask(engine.docker.network_exists(name)) {
        Ok(true) => list.pass("network", ENGINE, format!("network '{name}' exists")),
        Ok(false) => list.fail(
            "network",
            ENGINE,
            format!("network '{name}' does not exist; every launch would be refused"),
            format!("docker network create {name}"),
        ),
        Err(e) => list.fail(
            "network",
            ENGINE,
            format!("cannot look up network '{name}': {e}"),
            unreachable_fix(),
        ),
    }
}

const LAYOUT_FIX: &str = "point the launcher's workspace (or --parent-root) at the site's folder from its \
     startup kit: the one that holds startup/ and local/";

/// Host workspace set; parent root, startup/ and local/ present; local/ readable; the
/// store dir writable. Returns whether local/ can be read (the study files live there).
fn check_workspace(list: &mut Checklist, site: Option<&Site>) -> bool {
    let Some(site) = site else {
        list.skip(
            "workspace",
            WORKSPACE,
            "workspace: the site config did not load".into(),
        );
        return false;
    };
    match &site.config.workspace {
        Some(ws) => list.pass("workspace_set", WORKSPACE, format!("host workspace {ws}")),
        None => list.fail(
            "workspace_set",
            WORKSPACE,
            "the host workspace is not set; every launch would be refused".into(),
            format!(
                "add \"workspace\": \"/host/path/to/workspace\" to the launcher args, or set {WORKSPACE_ENV}"
            ),
        ),
    }
    let root = &site.parent_root;
    if !root.is_dir() {
        list.fail(
            "parent_root",
            WORKSPACE,
            format!(
                "berth would read the workspace at {} ({}), which is not a directory",
                root.display(),
                site.parent_root_origin.describe()
            ),
            format!(
                "pass --parent-root with the folder where berth sees the workspace \
                 ({WORKSPACE_MOUNT} inside the parent container)"
            ),
        );
        return false;
    }
    list.pass(
        "parent_root",
        WORKSPACE,
        format!(
            "berth reads the workspace at {} ({})",
            root.display(),
            site.parent_root_origin.describe()
        ),
    );
    let startup = root.join("startup");
    if startup.is_dir() {
        list.pass("startup_dir", WORKSPACE, "startup/ present".into());
    } else {
        list.fail(
            "startup_dir",
            WORKSPACE,
            format!("no startup/ in {}: this is not a site workspace", root.display()),
            LAYOUT_FIX.into(),
        );
    }
    let local = root.join("local");
    let mut local_ok = false;
    if !local.is_dir() {
        list.fail(
            "local_dir",
            WORKSPACE,
            format!("no local/ in {}: this is not a site workspace", root.display()),
            LAYOUT_FIX.into(),
        );
    } else {
        match std::fs::read_dir(&local) {
            Ok(_) => {
                local_ok = true;
                list.pass("local_dir", WORKSPACE, "local/ present and readable".into());
            }
            Err(e) => {
                list.fail(
                    "local_dir",
                    WORKSPACE,
                    format!("cannot read {}: {e}", local.display()),
                    format!("let berth's user read it: chown or chmod {}", local.display()),
                );
            }
        }
    }
    check_store_dir(list, root);
    local_ok
}

/// `<parent_root>/.berth` must be writable (or creatable); checked by writing a probe file.
fn check_store_dir(list: &mut Checklist, root: &Path) {
    let store_dir = root.join(berth_store::sqlite::STORE_DIR);
    let (probe_in, what) = if store_dir.is_dir() {
        (store_dir.clone(), "writable")
    } else {
        (root.to_path_buf(), "can be created")
    };
    let probe = probe_in.join(format!(".berth-doctor-{}", std::process::id()));
    match std::fs::write(&probe, b"") {
        Ok(()) => {
            // The probe is ours and empty; a failure to remove it is harmless.
            let _ = std::fs::remove_file(&probe);
            list.pass(
                "store_dir",
                WORKSPACE,
                format!("state store dir {} {what}", store_dir.display()),
            );
        }
        Err(e) => list.fail(
            "store_dir",
            WORKSPACE,
            format!("cannot write in {}: {e}", probe_in.display()),
            format!(
                "berth keeps its state store in {}: let berth's user write there (chown or chmod)",
                store_dir.display()
            ),
        ),
    }
}

type Studies = SiteStudies;

/// The study files, checked by the same core function a launch's checks come from
/// (`validate_site_studies`): a study file a launch refuses fails here with that message.
fn check_study_files(list: &mut Checklist, site: Option<&Site>, local_ok: bool) -> Option<Studies> {
    let Some(site) = site else {
        list.skip(
            "study_files",
            STUDY,
            "study files: the site config did not load".into(),
        );
        return None;
    };
    if !local_ok {
        list.skip("study_files", STUDY, "study files: local/ cannot be read".into());
        return None;
    }
    let host_workspace = site
        .config
        .workspace
        .as_deref()
        .filter(|ws| !ws.is_empty())
        .map(berth_core::workspace::normpath)
        .unwrap_or_else(|| site.parent_root.display().to_string());
    let mut warnings = Vec::new();
    let result = validate_site_studies(&site.parent_root, &host_workspace, &mut warnings);
    for w in &warnings {
        list.warn("study_files", STUDY, w.clone(), "jobs still launch".into());
    }
    let studies = match result {
        Ok(studies) => studies,
        Err(e) => {
            list.fail(
                "study_files",
                STUDY,
                e.message().to_string(),
                e.hint().map(str::to_string).unwrap_or_else(|| {
                    "fix the study file; every launch with a study is refused until then".into()
                }),
            );
            return None;
        }
    };
    match studies.file() {
        Some(file) => {
            let names = studies.names();
            list.pass(
                "study_files",
                STUDY,
                format!(
                    "{file}: {} stud{} ({}), mount sources allowed",
                    names.len(),
                    plural_y(names.len()),
                    names.join(", ")
                ),
            );
        }
        None => list.pass(
            "study_files",
            STUDY,
            "no study files: jobs get no datasets or study settings".into(),
        ),
    }
    check_dataset_sources(list, &studies);
    Some(studies)
}

fn plural_y(n: usize) -> &'static str {
    if n == 1 {
        "y"
    } else {
        "ies"
    }
}

/// A dataset source berth cannot see is only a warning: when berth runs in the parent
/// container, host paths are often invisible to it.
fn check_dataset_sources(list: &mut Checklist, studies: &Studies) {
    let mut sources: Vec<(String, String)> = Vec::new();
    if let Some(rt) = &studies.runtime {
        for (name, s) in &rt.studies {
            for m in &s.datasets {
                sources.push((format!("{name} {}", m.target), m.source.clone()));
            }
        }
    }
    if let Some(data) = &studies.legacy {
        for (name, datasets) in &data.studies {
            for (dataset, d) in datasets {
                sources.push((format!("{name}/{dataset}"), d.source.clone()));
            }
        }
    }
    if sources.is_empty() {
        return;
    }
    let missing: Vec<String> = sources
        .iter()
        .filter(|(_, src)| !Path::new(src).exists())
        .map(|(what, src)| format!("{src} ({what})"))
        .collect();
    if missing.is_empty() {
        list.pass(
            "dataset_sources",
            STUDY,
            format!(
                "{} dataset source{} present",
                sources.len(),
                if sources.len() == 1 { "" } else { "s" }
            ),
        );
    } else {
        list.warn(
            "dataset_sources",
            STUDY,
            format!("dataset source not found here: {}", missing.join(", ")),
            "the engine refuses to start a job whose bind source is missing on the host; \
             ignore this if berth runs in a container that does not see host paths"
                .into(),
        );
    }
}

/// Images named by the study runtime (a site config cannot name one: `image` is a
/// launcher-owned key), present locally.
fn check_images(
    list: &mut Checklist,
    site: Option<&Site>,
    engine: Option<&Engine>,
    studies: Option<&Studies>,
) {
    let (Some(site), Some(studies)) = (site, studies) else {
        list.skip(
            "images",
            IMAGES,
            "images: the study files could not be read".into(),
        );
        return;
    };
    let mut images: Vec<(String, Vec<String>)> = Vec::new();
    if let Some(rt) = &studies.runtime {
        for (name, s) in &rt.studies {
            if let Some(image) = &s.image {
                match images.iter_mut().find(|(i, _)| i == image) {
                    Some((_, users)) => users.push(name.clone()),
                    None => images.push((image.clone(), vec![name.clone()])),
                }
            }
        }
    }
    if images.is_empty() {
        list.pass(
            "images",
            IMAGES,
            "no images named by the site's study runtime; jobs name theirs in meta.json".into(),
        );
        return;
    }
    let Some(engine) = engine else {
        list.skip("images", IMAGES, "images: engine not reachable".into());
        return;
    };
    for (image, users) in images {
        let used_by = format!("study {}", users.join(", "));
        match engine.ask(engine.docker.image_exists(&image)) {
            Ok(true) => list.pass("images", IMAGES, format!("image {image} present ({used_by})")),
            Ok(false) if site.config.pull_missing_images => list.warn(
                "images",
                IMAGES,
                format!("image {image} ({used_by}) is not present"),
                "pull_missing_images is on: the first launch pulls it".into(),
            ),
            Ok(false) => list.fail(
                "images",
                IMAGES,
                format!("image {image} ({used_by}) is not present; launches would be refused"),
                format!(
                    "berth does not pull images: load it on this host (docker load -i <file>, or \
                     docker import <rootfs.tar> {image}), or set \"pull_missing_images\": true in the launcher args"
                ),
            ),
            Err(e) => list.fail("images", IMAGES, format!("cannot look up image {image}: {e}"), unreachable_fix()),
        }
    }
}

/// The site's container options (and each study's) translate into Engine API fields.
fn check_container_options(list: &mut Checklist, site: Option<&Site>, studies: Option<&Studies>) {
    let Some(site) = site else {
        list.skip(
            "container_options",
            OPTIONS,
            "container options: the site config did not load".into(),
        );
        return;
    };
    let kwargs = &site.config.default_job_container_kwargs;
    match sdk_kwargs::translate(kwargs, "default_job_container_kwargs") {
        Ok(_) if kwargs.is_empty() => list.pass(
            "container_options",
            OPTIONS,
            "no site container options (default_job_container_kwargs)".into(),
        ),
        Ok(_) => list.pass(
            "container_options",
            OPTIONS,
            format!(
                "default_job_container_kwargs translate: {}",
                kwargs.keys().cloned().collect::<Vec<_>>().join(", ")
            ),
        ),
        Err(e) => list.fail(
            "container_options",
            OPTIONS,
            e.message().to_string(),
            e.hint()
                .map(str::to_string)
                .unwrap_or_else(|| "use the Python Docker SDK's names and value forms".into()),
        ),
    }
    let Some(rt) = studies.and_then(|s| s.runtime.as_ref()) else {
        return;
    };
    for (name, s) in &rt.studies {
        if s.docker_kwargs.is_empty() {
            continue;
        }
        let source = format!("studies.{name}.docker_kwargs");
        let mut unknown = sdk_kwargs::unknown_keys(&s.docker_kwargs);
        unknown.sort_unstable();
        let result = if unknown.is_empty() {
            sdk_kwargs::translate(&s.docker_kwargs, &source).map(|_| ())
        } else {
            Err(berth_core::Error::refused(format!(
                "{source}: {} not supported by the Docker SDK",
                unknown.join(", ")
            ))
            .with_hint("use the keyword names of the Python Docker SDK's containers.run (for example shm_size, ipc_mode)"))
        };
        match result {
            Ok(()) => list.pass("container_options", OPTIONS, format!("{source} translate")),
            Err(e) => list.fail(
                "container_options",
                OPTIONS,
                e.message().to_string(),
                e.hint()
                    .map(str::to_string)
                    .unwrap_or_else(|| format!("fix {source} in {STUDY_RUNTIME_FILE}")),
            ),
        }
    }
}

/// What the engine really does with a plan: a throwaway container from the plan of a sample
/// job (a stub image imported for it, a job folder made for it in the workspace), created on
/// the site's network, inspected and removed with its image and folder. It is never started.
/// Each promise the engine did not keep is a failure with its fix.
fn check_engine_promises(list: &mut Checklist, site: Option<&Site>, engine: Option<&Engine>, local_ok: bool) {
    let (Some(site), Some(engine), true) = (site, engine, local_ok) else {
        list.skip(
            "engine_promises",
            ENGINE_PROMISES,
            "what the engine makes of a plan: needs the site config, the engine and the workspace".into(),
        );
        return;
    };
    if let Ok(info) = engine.ask(engine.docker.engine()) {
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
    match engine.ask(engine.docker.podman_host()) {
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
    let probe = ThrowawayJob::new(site);
    let result = probe.run(site, engine);
    probe.clean(engine);
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

/// The sample job of [`check_engine_promises`]: unique names, removed by [`Self::clean`].
struct ThrowawayJob {
    job_id: String,
    image: String,
    dir: std::path::PathBuf,
    /// The container's name once planned.
    container: std::cell::RefCell<Option<String>>,
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
            container: std::cell::RefCell::new(None),
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
        if let Some(root) = berth_launcher::pyfiles::mounted_root(&plan) {
            berth_launcher::pyfiles::write_job_files(&root).map_err(|e| refused(&e.message()))?;
        }
        engine.ask(
            engine
                .docker
                .import_image(berth_stub_image::rootfs_tar(), &self.image),
        )?;
        self.container.replace(Some(plan.name.clone()));
        let id = engine.ask(
            engine
                .docker
                .create(&plan.name, &plan.create, plan.platform.as_deref()),
        )?;
        let inspect = engine.ask(engine.docker.inspect_raw(&id));
        let removed = engine.ask(engine.docker.remove(&id, true));
        let inspect = inspect?;
        removed?;
        Ok(berth_audit::engine_promises(
            &plan.create,
            &inspect,
            WORKSPACE_MOUNT,
        ))
    }

    fn request(&self, site: &Site) -> berth_launcher::JobRequest {
        let meta = serde_json::json!({
            "job_id": self.job_id,
            "launcher_spec": {site.name.clone(): {"docker": {"image": self.image}}},
        });
        let (module, name_flag, config) = match site.role {
            berth_core::args::Role::Client => (
                "nvflare.private.fed.app.client.worker_process",
                serde_json::json!(["--client_name", site.name]),
                "fed_client.json",
            ),
            berth_core::args::Role::Server => (
                "nvflare.private.fed.app.server.runner_process",
                serde_json::json!(["--server_name", site.name]),
                "fed_server.json",
            ),
        };
        let mut args = serde_json::json!({
            "exe_module": ["-m", module],
            "workspace": ["-m", WORKSPACE_MOUNT],
            "startup_dir": ["-w", format!("{WORKSPACE_MOUNT}/startup")],
            "job_id": ["-n", self.job_id],
            "startup_config_file": ["-s", config],
        });
        if site.role == berth_core::args::Role::Client {
            args["client_name"] = name_flag;
        }
        berth_launcher::JobRequest {
            meta: meta.as_object().cloned().unwrap_or_default(),
            args: args
                .as_object()
                .cloned()
                .map(berth_core::args::JobProcessArgs::from_map),
            set_options: Vec::new(),
            workspace_object: true,
        }
    }

    /// Best effort: the container is already gone unless the run failed half-way.
    fn clean(&self, engine: &Engine) {
        if let Some(name) = self.container.borrow().as_deref() {
            match engine.ask(engine.docker.remove(name, true)) {
                Ok(()) | Err(EngineError::NotFound(_)) => {}
                Err(e) => eprintln!("doctor: could not remove the throwaway container {name}: {e}"),
            }
        }
        let _ = engine.ask(engine.docker.remove_image(&self.image));
        let _ = std::fs::remove_dir(&self.dir);
    }
}

/// Jobs run as berth's own uid:gid.
fn check_job_user(list: &mut Checklist) {
    let uid = nix::unistd::getuid().as_raw();
    let gid = nix::unistd::getgid().as_raw();
    if uid == 0 {
        list.warn(
            "job_user",
            USER,
            format!("jobs will run as {uid}:{gid} (root)"),
            "jobs run as berth's own uid:gid; run berth as the site's service user so jobs run unprivileged"
                .into(),
        );
    } else {
        list.pass(
            "job_user",
            USER,
            format!("jobs will run as {uid}:{gid} (berth's own user)"),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use berth_core::study::STUDY_DATA_FILE;

    #[test]
    fn failures_fail_and_warnings_do_not() {
        let mut list = Checklist::default();
        list.pass("a", ENGINE, "ok".into());
        list.warn("b", USER, "root".into(), "note".into());
        assert!(!list.failed());
        list.fail("c", ENGINE, "bad".into(), "fix".into());
        assert!(list.failed());
        assert_eq!(list.count(Status::Pass), 1);
    }

    #[test]
    fn a_workspace_without_startup_fails_with_the_layout_fix() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("local")).unwrap();
        let site = Site {
            config: berth_core::config::SiteConfig {
                workspace: Some(dir.path().display().to_string()),
                ..Default::default()
            },
            name: "site-1".into(),
            role: berth_core::args::Role::Client,
            parent_root: dir.path().to_path_buf(),
            parent_root_origin: berth_core::workspace::ParentRootOrigin::Explicit,
            uid: 1000,
            gid: 1000,
        };
        let mut list = Checklist::default();
        assert!(check_workspace(&mut list, Some(&site)), "local/ is readable");
        let startup = list.checks.iter().find(|c| c.id == "startup_dir").unwrap();
        assert_eq!(startup.status, Status::Fail);
        assert!(startup.fix.as_deref().unwrap().contains("startup/ and local/"));
        let store = list.checks.iter().find(|c| c.id == "store_dir").unwrap();
        assert_eq!(store.status, Status::Pass);
    }

    #[test]
    fn both_study_files_fail() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("local")).unwrap();
        std::fs::write(
            dir.path().join(STUDY_RUNTIME_FILE),
            "format_version: 2\nstudies: {}\n",
        )
        .unwrap();
        std::fs::write(dir.path().join(STUDY_DATA_FILE), "{}\n").unwrap();
        let site = Site {
            config: Default::default(),
            name: "site-1".into(),
            role: berth_core::args::Role::Client,
            parent_root: dir.path().to_path_buf(),
            parent_root_origin: berth_core::workspace::ParentRootOrigin::Explicit,
            uid: 1000,
            gid: 1000,
        };
        let mut list = Checklist::default();
        check_study_files(&mut list, Some(&site), true);
        assert!(list.failed(), "{:?}", list.checks);
        assert!(list
            .checks
            .iter()
            .any(|c| c.status == Status::Fail && c.summary.contains("cannot be combined")));
    }
}
