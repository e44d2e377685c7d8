//! [`Site`]: one site as every front end drives it (the `berth` command and the Python
//! drop-in).
//!
//! A front end parses its own inputs (command-line flags and files, or the values NVFlare
//! hands over) and presents results; everything between lives here, once: reading and
//! validating the site config (strict JSON), the settings the lifecycle runs with (every
//! duration checked, never a panic), where the workspace is read, the job inputs, the plan,
//! opening the state store and the engine, and finding a job (a live container, or its
//! recorded outcome once the container is gone).
//!
//! Building a [`Site`] contacts no engine and opens no store; [`Site::open`] does both.

use crate::{BlockingJobHandle, BlockingLauncher, LauncherSettings, RecoveryReport};
use berth_core::args::{JobProcessArgs, Role};
use berth_core::config::{parse_config_text, OrphanPolicy, SiteConfig};
use berth_core::plan::{build_plan, ContainerPlan, PlanRequest};
use berth_core::pyval::{self, Map};
use berth_core::workspace::{resolve_parent_root, ParentRootOrigin};
use berth_core::{labels, Error, Result, WORKSPACE_ENV, WORKSPACE_MOUNT};
use berth_engine::docker::DockerRuntime;
use berth_engine::{ContainerRuntime, ContainerSummary, LabelFilter};
use berth_store::{default_path, HistoryEntry, LaunchFilter, SqliteStore};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

/// The largest input berth reads (a config, a meta.json, job process args): anything
/// bigger is not a job description.
pub const MAX_INPUT_BYTES: u64 = 4 * 1024 * 1024;

/// Test-only: makes the launcher hold between "container ended" and "outcome written"
/// (see [`LauncherSettings::hold_before_record`]). Never set it on a real site.
pub const HOLD_BEFORE_RECORD_ENV: &str = "BERTH_TEST_HOLD_BEFORE_RECORD";

/// Read a small text input file, naming it (`what`) in every error.
pub fn read_input(path: &Path, what: &str) -> Result<String> {
    let meta = std::fs::metadata(path)
        .map_err(|e| Error::invalid(format!("cannot read {what} '{}': {e}", path.display())))?;
    if !meta.is_file() {
        return Err(Error::invalid(format!(
            "{what} '{}' is not a regular file",
            path.display()
        )));
    }
    if meta.len() > MAX_INPUT_BYTES {
        return Err(Error::invalid(format!(
            "{what} '{}' is {} bytes; berth reads at most {MAX_INPUT_BYTES}",
            path.display(),
            meta.len()
        )));
    }
    std::fs::read_to_string(path)
        .map_err(|e| Error::invalid(format!("cannot read {what} '{}': {e}", path.display())))
}

/// An input handed over as text (by Python) obeys the same size limit as a file.
fn check_text_size(text: &str, what: &str) -> Result<()> {
    if text.len() as u64 > MAX_INPUT_BYTES {
        return Err(Error::invalid(format!(
            "{what} is {} bytes; berth reads at most {MAX_INPUT_BYTES}",
            text.len()
        )));
    }
    Ok(())
}

/// NVFlare participant names: a letter or digit, then letters, digits, '.', '_' or '-'.
pub fn check_site_name(name: &str) -> Result<()> {
    let mut chars = name.chars();
    let ok = chars.next().is_some_and(|c| c.is_ascii_alphanumeric())
        && name.len() <= 128
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
    if ok {
        Ok(())
    } else {
        Err(Error::invalid(format!("site name '{}' is not a valid participant name", name.escape_debug()))
            .with_hint("use the site's name from the project: letters, digits, '.', '_' and '-', starting with a letter or digit"))
    }
}

/// What a front end knows about where berth reads the workspace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ParentRoot {
    /// Named by the operator (`--parent-root`, `BERTH_PARENT_ROOT`).
    Explicit(PathBuf),
    /// Given by the parent process's workspace object (the Python drop-in).
    Workspace(PathBuf),
    /// Not given: [`resolve_parent_root`]'s rule (the config's host workspace when it
    /// exists here, else the parent container's mount).
    Default,
}

/// Test-only: the folder that stands in for the parent container's workspace mount
/// (`/var/tmp/nvflare/workspace`), so tests never touch the real path. Never set it on a
/// real site.
pub const PARENT_MOUNT_TEST_ENV: &str = "BERTH_TEST_PARENT_MOUNT";

/// A seconds setting as a [`Duration`]; a value no duration can hold is an input error
/// naming the field, never a panic.
pub fn duration_setting(field: &str, secs: f64) -> Result<Duration> {
    Duration::try_from_secs_f64(secs).map_err(|_| {
        Error::invalid(format!("{field} {secs} is not a usable duration in seconds")).with_hint(format!(
            "give {field} as a non-negative number of seconds that fits in 64 bits"
        ))
    })
}

/// The uid:gid jobs run as: the berth process's own.
pub fn process_user() -> (u32, u32) {
    (nix::unistd::getuid().as_raw(), nix::unistd::getgid().as_raw())
}

/// One site: its validated config, name, role, where berth reads its workspace, and the
/// user its jobs run as.
#[derive(Debug, Clone)]
pub struct Site {
    pub config: SiteConfig,
    pub name: String,
    pub role: Role,
    pub parent_root: PathBuf,
    /// Why berth reads the workspace there.
    pub parent_root_origin: ParentRootOrigin,
    /// Jobs run as this uid:gid: the berth process's own.
    pub uid: u32,
    pub gid: u32,
}

impl Site {
    /// The site from a config's text: an NVFlare `local/resources.json` (the Docker
    /// launcher component) or a plain JSON object of the launcher args. `origin` names the
    /// config in errors. `role` overrides the component's class. The host workspace falls
    /// back to [`WORKSPACE_ENV`].
    pub fn from_config_text(
        text: &str,
        origin: &str,
        name: &str,
        role: Option<&str>,
        parent_root: ParentRoot,
    ) -> Result<Self> {
        check_site_name(name)?;
        check_text_size(text, &format!("config '{origin}'"))?;
        let section = parse_config_text(text, origin)?;
        let config = SiteConfig::from_args(&section.args, env_workspace())
            .map_err(|e| e.context(format!("config '{origin}'")))?;
        let role = match (role, section.role) {
            (Some(r), _) => r.parse::<Role>()?,
            (None, Some(r)) => r,
            (None, None) => {
                return Err(
                    Error::invalid("the site's role is unknown: the config is a plain args object")
                        .with_hint("pass --role client or --role server"),
                )
            }
        };
        Self::new(config, name, role, parent_root)
    }

    /// The site from the launcher's constructor args as a JSON object (the Python
    /// drop-in), read with the same strict rules as a config file.
    pub fn from_launcher_args(
        args_json: &str,
        name: &str,
        role: &str,
        parent_root: ParentRoot,
    ) -> Result<Self> {
        check_site_name(name)?;
        check_text_size(args_json, "launcher args")?;
        let args = berth_core::strict_json::parse_object_strict(args_json, "launcher args")?;
        let config = SiteConfig::from_args(&args, env_workspace())?;
        let role = role.parse::<Role>()?;
        Self::new(config, name, role, parent_root)
    }

    fn new(config: SiteConfig, name: &str, role: Role, parent_root: ParentRoot) -> Result<Self> {
        let mount = std::env::var_os(PARENT_MOUNT_TEST_ENV)
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from(WORKSPACE_MOUNT));
        let (parent_root, parent_root_origin) = match parent_root {
            ParentRoot::Workspace(p) => (p, ParentRootOrigin::WorkspaceObject),
            ParentRoot::Explicit(p) => resolve_parent_root(Some(&p), config.workspace.as_deref(), &mount),
            ParentRoot::Default => resolve_parent_root(None, config.workspace.as_deref(), &mount),
        };
        let site = Self {
            config,
            name: name.to_string(),
            role,
            parent_root,
            parent_root_origin,
            uid: process_user().0,
            gid: process_user().1,
        };
        // Every setting is checked now, so a bad one is an input error before any launch.
        site.settings()?;
        Ok(site)
    }

    /// The workspace berth reads must be a directory; the error names it, where it came
    /// from and the fix.
    pub fn check_parent_root(&self) -> Result<()> {
        if self.parent_root.is_dir() {
            return Ok(());
        }
        let fix = match self.parent_root_origin {
            ParentRootOrigin::Explicit => "pass --parent-root (or BERTH_PARENT_ROOT) with the folder that holds the site's startup/ and local/".to_string(),
            _ => format!(
                "set the launcher's \"workspace\" arg (or {WORKSPACE_ENV}) to the site's workspace, or pass --parent-root with where berth sees it"
            ),
        };
        Err(Error::invalid(format!(
            "the workspace '{}' ({}) is not a directory",
            self.parent_root.display(),
            self.parent_root_origin.describe()
        ))
        .with_hint(fix))
    }

    /// The settings the lifecycle runs with, from the site config.
    pub fn settings(&self) -> Result<LauncherSettings> {
        let c = &self.config;
        let mut s = LauncherSettings::new(self.name.clone());
        s.network = c.network.clone();
        s.start_timeout = c.timeout.map(|t| duration_setting("timeout", t)).transpose()?;
        s.engine_timeout = duration_setting("engine_timeout", c.engine_timeout)?;
        s.outage_limit = duration_setting("engine_outage_limit", c.engine_outage_limit)?;
        s.allow_pull = c.pull_missing_images;
        s.keep_failed_for = if c.keep_failed_containers_hours > 0.0 {
            Some(duration_setting(
                "keep_failed_containers_hours (in seconds)",
                c.keep_failed_containers_hours * 3600.0,
            )?)
        } else {
            None
        };
        s.parent_root = Some(self.parent_root.clone());
        s.workspace = self.host_workspace();
        s.orphan_policy = c.orphan_policy;
        s.hold_before_record = std::env::var_os(HOLD_BEFORE_RECORD_ENV).map(PathBuf::from);
        Ok(s)
    }

    /// The plan for one job of this site as this process would launch it. Contacts no
    /// engine. Planning warnings are in the plan.
    pub fn plan(&self, job: &JobRequest) -> Result<ContainerPlan> {
        let env = |name: &str| std::env::var(name).ok();
        build_plan(&PlanRequest {
            site_config: &self.config,
            site: &self.name,
            role: self.role,
            job_meta: &job.meta,
            job_args: job.args.as_ref(),
            set_options: &job.set_options,
            parent_root: &self.parent_root,
            workspace_object: job.workspace_object,
            launcher_env: &env,
            uid: self.uid,
            gid: self.gid,
            berth_python: true,
        })
    }

    /// [`Site::plan`] plus two checks of an operator's inputs that upstream does not make
    /// (what `berth plan` and `berth launch` run): a study the site's study file does not
    /// have is refused (it would otherwise surface as "no job image", or a job without its
    /// data), then a job folder that is not in the workspace (it would otherwise fail at
    /// create time with the engine's "bind source path does not exist"). Both Invalid.
    pub fn plan_checked(&self, job: &JobRequest) -> Result<ContainerPlan> {
        let planned = self.plan(job);
        let study = job.meta.get("study").and_then(Value::as_str);
        berth_core::study::check_study_known(&self.parent_root, study)?;
        let plan = planned?;
        berth_core::workspace::check_job_folder(&self.parent_root, &plan.job_id)?;
        Ok(plan)
    }

    /// The state store file of this site (under the workspace as berth reads it).
    pub fn store_path(&self) -> PathBuf {
        default_path(&self.parent_root)
    }

    /// The host workspace, as berth labels this site's containers with it
    /// (`io.berth.workspace`); `None` when the config names none.
    pub fn host_workspace(&self) -> Option<String> {
        self.config
            .workspace
            .as_deref()
            .filter(|ws| !ws.is_empty())
            .map(berth_core::workspace::normpath)
    }

    /// Whether a listed container of this site's name belongs to this site's workspace. One
    /// of the same name in another workspace is another site's: `ps` lists it only when
    /// asked, marked, and `logs` never reads it.
    pub fn owns(&self, c: &ContainerSummary) -> bool {
        let workspace = self.host_workspace();
        workspace.is_some() && c.labels.get(labels::WORKSPACE).map(String::as_str) == workspace.as_deref()
    }

    /// The label filters that select this site's containers.
    pub fn filters(&self) -> Vec<LabelFilter> {
        vec![
            LabelFilter::eq(labels::MANAGED, "true"),
            LabelFilter::eq(labels::SITE, &self.name),
        ]
    }

    /// Open the site's state store. A rebuilt store is logged and returned as a notice.
    pub fn open_store(&self) -> Result<(Arc<SqliteStore>, Vec<String>)> {
        let path = self.store_path();
        let (store, report) = SqliteStore::open(&path).map_err(|e| {
            Error::refused(format!("cannot open the state store {}: {e}", path.display()))
                .with_hint("berth keeps it at <workspace>/.berth/state.db; check that berth may write there")
        })?;
        let notices: Vec<String> = report.notice().into_iter().collect();
        for n in &notices {
            tracing::warn!("{n}");
        }
        Ok((Arc::new(store), notices))
    }

    /// The engine client from `DOCKER_HOST` or the local socket. Contacts nothing yet.
    pub fn engine() -> Result<DockerRuntime> {
        DockerRuntime::from_env().map_err(|e| {
            Error::refused(format!("cannot connect to Docker daemon: {e}"))
                .with_hint("is the engine running? check DOCKER_HOST or /var/run/docker.sock")
        })
    }

    /// Open the state store and the engine client (contacting nothing yet) and build the
    /// launcher. With `recover_on_start`, the first launch or attach runs recovery with the
    /// site's `orphan_policy` first (the Python drop-in; the CLI has `berth recover`).
    pub fn open(&self, recover_on_start: bool) -> Result<OpenSite> {
        let (store, notices) = self.open_store()?;
        self.open_on(Arc::new(Self::engine()?), store, notices, recover_on_start)
    }

    /// [`Site::open`] with a given engine client and store.
    pub fn open_on(
        &self,
        runtime: Arc<DockerRuntime>,
        store: Arc<SqliteStore>,
        notices: Vec<String>,
        recover_on_start: bool,
    ) -> Result<OpenSite> {
        let mut settings = self.settings()?;
        settings.recover_on_start = recover_on_start;
        let launcher = BlockingLauncher::new(runtime, settings, store.clone())
            .map_err(|e| Error::refused(format!("cannot start berth's launcher runtime: {e}")))?;
        let runtime = launcher.launcher().runtime();
        Ok(OpenSite {
            site: self.clone(),
            store,
            runtime,
            launcher,
            notices,
        })
    }
}

fn env_workspace() -> Option<String> {
    std::env::var(WORKSPACE_ENV).ok()
}

/// One job's launch inputs: its meta, the job process args, the parent's `--set` items.
#[derive(Debug, Clone, Default)]
pub struct JobRequest {
    pub meta: Map,
    /// `JOB_PROCESS_ARGS`; `None` when the parent supplied none.
    pub args: Option<JobProcessArgs>,
    pub set_options: Vec<String>,
    /// Whether a parent workspace object is present (always, for the CLI and a real
    /// parent); it decides PYTHONPATH and the job-id name check.
    pub workspace_object: bool,
}

impl JobRequest {
    /// From the JSON texts of the job meta and the job process args, read with the strict
    /// rules (repeated keys, nesting). `meta_origin` / `args_origin` name them in errors.
    /// Args that are `null` (or absent) mean none were supplied; args that are not an
    /// object are refused as upstream refuses them.
    pub fn from_json(
        meta_json: &str,
        meta_origin: &str,
        args_json: Option<&str>,
        args_origin: &str,
        set_options: Vec<String>,
        workspace_object: bool,
    ) -> Result<Self> {
        check_text_size(meta_json, meta_origin)?;
        let meta = berth_core::strict_json::parse_object_strict(meta_json, meta_origin)?;
        let args = match args_json {
            None => None,
            Some(text) => {
                check_text_size(text, args_origin)?;
                match berth_core::strict_json::parse_value_strict(text, args_origin).map_err(|e| {
                    e.with_hint("the job process args are a JSON object of name -> [flag, value]")
                })? {
                    Value::Null => None,
                    Value::Object(m) => Some(JobProcessArgs::from_map(m)),
                    other => {
                        return Err(Error::refused(format!(
                            "{args_origin} must be a mapping of name -> (flag, value), got {}",
                            pyval::type_name(&other)
                        )))
                    }
                }
            }
        };
        Ok(Self {
            meta,
            args,
            set_options,
            workspace_object,
        })
    }

    /// Set the BYOC marker from the operator's flag, never from the file (DESIGN decision
    /// 16, for front ends that read the meta from disk: the CLI). Returns a warning when the
    /// file claimed BYOC and the flag did not grant it.
    pub fn authorise_byoc_by_flag(&mut self, flag: bool) -> Option<String> {
        berth_core::job_spec::authorize_byoc_by_flag(&mut self.meta, flag)
    }
}

/// Whether a listed container is the one `what` names: its id (or a unique-looking
/// prefix of at least 4 characters), its name, or its job id.
pub fn container_matches(c: &ContainerSummary, what: &str) -> bool {
    c.id == what
        || (what.len() >= 4 && c.id.starts_with(what))
        || c.name == what
        || c.labels.get(labels::JOB_ID).map(String::as_str) == Some(what)
}

/// A job found by [`OpenSite::find`].
pub enum FoundJob {
    /// Its container exists (running, or ended and followed now).
    Live(BlockingJobHandle),
    /// Its container is gone; the store's record of it (with its outcome, if recorded).
    Recorded(Box<HistoryEntry>),
}

/// Where a job's output is: its container while it exists, its log file after.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JobOutput {
    Container { id: String, job_id: Option<String> },
    LogFile { job_id: String, path: PathBuf },
}

/// A site with its state store and engine client open and a launcher running.
///
/// Dropping it drops the launcher, which waits (up to the site's `cleanup_deadline`) for
/// output copies and container removals still running in the background.
pub struct OpenSite {
    pub site: Site,
    pub store: Arc<SqliteStore>,
    /// The launcher's engine client: every request under the site's `engine_timeout`.
    pub runtime: Arc<dyn ContainerRuntime>,
    pub launcher: BlockingLauncher,
    /// Things the opening noticed (a rebuilt store), for the front end to show.
    pub notices: Vec<String>,
}

impl OpenSite {
    /// Create, start and wait for `running`.
    pub fn launch(&self, plan: ContainerPlan) -> Result<BlockingJobHandle> {
        self.launcher.launch(plan)
    }

    /// Recovery with `policy`, or the site's `orphan_policy`.
    pub fn recover(&self, policy: Option<OrphanPolicy>) -> Result<RecoveryReport> {
        self.launcher
            .recover(policy.unwrap_or(self.site.config.orphan_policy))
    }

    /// The job `what` names (job id, container id or name): a handle while its container
    /// exists, else its record in the store when the engine answered and has no container
    /// of it. An engine that cannot be reached or does not answer is an error, never
    /// "gone" (DESIGN decision 13); neither a container nor a record is an error naming
    /// the job.
    pub fn find(&self, what: &str) -> Result<FoundJob> {
        if let Some(handle) = self.launcher.lookup(what)? {
            return Ok(FoundJob::Live(handle));
        }
        match self.recorded(what)? {
            Some(entry) => Ok(FoundJob::Recorded(Box::new(entry))),
            None => Err(Error::refused(format!(
                "no container of job '{what}' found for site '{}'",
                self.site.name
            ))
            .with_hint("berth ps --all lists the site's jobs and past outcomes")),
        }
    }

    /// The store's record of a job of this site, by job id or container id.
    pub fn recorded(&self, what: &str) -> Result<Option<HistoryEntry>> {
        let store_err = |e| Error::refused(format!("cannot read the state store: {e}"));
        match self
            .store
            .launch_by_job(what, &self.site.name)
            .map_err(store_err)?
        {
            Some(e) => Ok(Some(e)),
            None => self.store.launch_by_container(what).map_err(store_err),
        }
    }

    /// The site's containers (running and stopped).
    pub fn containers(&self) -> Result<Vec<ContainerSummary>> {
        let filters = self.site.filters();
        self.launcher
            .block_on(self.runtime.list(&filters, true))
            .map_err(|e| Error::refused(format!("cannot list containers: {e}")))
    }

    /// The site's past launches and outcomes, newest first, at most `limit`.
    pub fn history(&self, limit: usize) -> Result<Vec<HistoryEntry>> {
        let filter = LaunchFilter {
            site: Some(self.site.name.clone()),
            limit: Some(limit),
            ..LaunchFilter::default()
        };
        self.store
            .launches(&filter)
            .map_err(|e| Error::refused(format!("cannot read the state store: {e}")))
    }

    /// Where the output of the job `what` names is: its newest container, else the log
    /// file berth wrote in its job folder before removing the container.
    pub fn output(&self, what: &str) -> Result<JobOutput> {
        let listed = self.containers()?;
        if let Some(c) = listed
            .iter()
            .filter(|c| self.site.owns(c) && container_matches(c, what))
            .max_by_key(|c| c.created)
        {
            return Ok(JobOutput::Container {
                id: c.id.clone(),
                job_id: c.labels.get(labels::JOB_ID).cloned(),
            });
        }
        let (job_id, path) = self.log_file_of(what)?;
        Ok(JobOutput::LogFile { job_id, path })
    }

    /// The log file of the job `what` names (`job_id` when already known).
    pub fn log_file(&self, what: &str, job_id: Option<String>) -> Result<PathBuf> {
        let job_id = match job_id {
            Some(id) => id,
            None => self.log_file_of(what)?.0,
        };
        crate::joblog::job_dir(&self.site.parent_root, &job_id)
            .map(|dir| crate::joblog::job_log_path(&dir))
            .ok_or_else(|| Error::invalid(format!("'{job_id}' is not a job id")))
    }

    /// The job id and log file of the job `what` names, by the store's record or as a job
    /// id itself.
    fn log_file_of(&self, what: &str) -> Result<(String, PathBuf)> {
        let job_id = self
            .recorded(what)?
            .map(|e| e.launch.job_id)
            .unwrap_or_else(|| what.to_string());
        let path = self.log_file(what, Some(job_id.clone()))?;
        Ok((job_id, path))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn site(args: &str) -> Result<Site> {
        Site::from_launcher_args(
            args,
            "site-1",
            "client",
            ParentRoot::Workspace(PathBuf::from("/nonexistent/ws")),
        )
    }

    #[test]
    fn huge_durations_are_input_errors_naming_the_field() {
        let e = site(r#"{"workspace": "/ws", "timeout": 1e300}"#).unwrap_err();
        assert_eq!(e.kind(), berth_core::ErrorKind::Invalid);
        assert!(e.message().contains("timeout"), "{}", e.message());
        let e = site(r#"{"workspace": "/ws", "keep_failed_containers_hours": 1e300}"#).unwrap_err();
        assert!(
            e.message().contains("keep_failed_containers_hours"),
            "{}",
            e.message()
        );
    }

    #[test]
    fn settings_map_the_config() {
        let s = site(
            r#"{"workspace": "/ws/", "timeout": 1.5, "keep_failed_containers_hours": 2,
                "orphan_policy": "terminate", "network": "n1", "pull_missing_images": true}"#,
        )
        .unwrap();
        let st = s.settings().unwrap();
        assert_eq!(st.start_timeout, Some(Duration::from_millis(1500)));
        assert_eq!(st.keep_failed_for, Some(Duration::from_secs(7200)));
        assert_eq!(st.orphan_policy, OrphanPolicy::Terminate);
        assert_eq!(st.network, "n1");
        assert!(st.allow_pull);
        assert_eq!(st.workspace.as_deref(), Some("/ws"));
        assert_eq!(st.parent_root.as_deref(), Some(Path::new("/nonexistent/ws")));
        let none = site(r#"{"workspace": "/ws", "timeout": null}"#).unwrap();
        assert_eq!(none.settings().unwrap().start_timeout, None);
    }

    #[test]
    fn launcher_args_are_strict_json() {
        let e = site(r#"{"workspace": "/a", "workspace": "/b"}"#).unwrap_err();
        assert!(e.message().contains("workspace"), "{}", e.message());
        let deep = format!("{}{}", "[".repeat(200), "]".repeat(200));
        assert!(site(&format!(r#"{{"default_job_env": {deep}}}"#)).is_err());
    }

    #[test]
    fn bad_site_names_and_roles_are_refused() {
        let e = Site::from_launcher_args("{}", "../x", "client", ParentRoot::Default).unwrap_err();
        assert!(e.message().contains("participant name"), "{}", e.message());
        let e = Site::from_launcher_args("{}", "s", "worker", ParentRoot::Default).unwrap_err();
        assert!(e.message().contains("role"), "{}", e.message());
    }

    #[test]
    fn job_args_null_or_absent_is_none_and_other_shapes_are_refused() {
        let p =
            JobRequest::from_json("{}", "job_meta", Some("null"), "JOB_PROCESS_ARGS", vec![], false).unwrap();
        assert!(p.args.is_none());
        let p = JobRequest::from_json("{}", "job_meta", None, "JOB_PROCESS_ARGS", vec![], false).unwrap();
        assert!(p.args.is_none());
        let e = JobRequest::from_json("{}", "job_meta", Some("[1]"), "JOB_PROCESS_ARGS", vec![], false)
            .unwrap_err();
        assert_eq!(e.kind(), berth_core::ErrorKind::Refused);
        let e = JobRequest::from_json("[]", "job_meta", None, "JOB_PROCESS_ARGS", vec![], false).unwrap_err();
        assert_eq!(e.kind(), berth_core::ErrorKind::Invalid);
        let e = JobRequest::from_json(
            r#"{"job_id": "a", "job_id": "b"}"#,
            "job_meta",
            None,
            "x",
            vec![],
            false,
        )
        .unwrap_err();
        assert!(e.message().contains("job_id"), "{}", e.message());
    }

    #[test]
    fn byoc_comes_from_the_caller() {
        let mut j = JobRequest::from_json(r#"{"byoc": false}"#, "m", None, "a", vec![], true).unwrap();
        assert_eq!(j.authorise_byoc_by_flag(true), None);
        assert_eq!(j.meta.get("byoc"), Some(&Value::Bool(true)));
        let mut j = JobRequest::from_json(r#"{"byoc": true}"#, "m", None, "a", vec![], true).unwrap();
        assert!(j.authorise_byoc_by_flag(false).is_some());
        assert_eq!(j.meta.get("byoc"), None);
    }

    #[test]
    fn an_explicit_parent_root_must_be_a_directory() {
        let site = Site::from_launcher_args(
            r#"{"workspace": "/ws"}"#,
            "s",
            "client",
            ParentRoot::Explicit(PathBuf::from("/nonexistent/berth/root")),
        )
        .unwrap();
        assert_eq!(site.parent_root_origin, ParentRootOrigin::Explicit);
        let e = site.check_parent_root().unwrap_err();
        assert!(e.message().contains("--parent-root"), "{}", e.message());
    }
}
