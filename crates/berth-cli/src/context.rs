//! What the lifecycle commands share: the engine, the site's state store and a launcher.

use crate::site::Site;
use berth_core::Error;
use berth_engine::docker::DockerRuntime;
use berth_engine::ContainerRuntime;
use berth_launcher::{BlockingLauncher, LauncherSettings};
use berth_store::{default_path, SqliteStore};
use std::sync::Arc;
use std::time::Duration;

/// The launcher settings a site's config gives.
pub fn launcher_settings(site: &Site) -> LauncherSettings {
    let mut s = LauncherSettings::new(site.name.clone());
    s.network = site.config.network.clone();
    s.start_timeout = site.config.timeout.map(Duration::from_secs_f64);
    s.engine_timeout = Duration::from_secs_f64(site.config.engine_timeout);
    s.outage_limit = Duration::from_secs_f64(site.config.engine_outage_limit);
    s.allow_pull = site.config.pull_missing_images;
    s.keep_failed_for = (site.config.keep_failed_containers_hours > 0.0)
        .then(|| Duration::from_secs_f64(site.config.keep_failed_containers_hours * 3600.0));
    s.parent_root = Some(site.parent_root.clone());
    s.workspace = site
        .config
        .workspace
        .as_deref()
        .filter(|ws| !ws.is_empty())
        .map(berth_core::workspace::normpath);
    s.orphan_policy = site.config.orphan_policy;
    s.hold_before_record = std::env::var_os(HOLD_BEFORE_RECORD_ENV).map(std::path::PathBuf::from);
    s
}

/// Test-only: makes the launcher hold between "container ended" and "outcome written"
/// (see `LauncherSettings::hold_before_record`). Never set it on a real site.
pub const HOLD_BEFORE_RECORD_ENV: &str = "BERTH_TEST_HOLD_BEFORE_RECORD";

/// The site's state store, under the workspace as berth reads it; a rebuilt store is
/// reported on stderr.
pub fn open_store(site: &Site) -> anyhow::Result<Arc<SqliteStore>> {
    let path = default_path(&site.parent_root);
    let (store, report) = SqliteStore::open(&path).map_err(|e| {
        Error::refused(format!("cannot open the state store: {e}"))
            .with_hint("berth keeps it at <workspace>/.berth/state.db; check that berth may write there")
    })?;
    if let Some(notice) = report.notice() {
        eprintln!("warning: {notice}");
    }
    Ok(Arc::new(store))
}

/// The engine from `DOCKER_HOST` or the local socket. Contacts nothing yet.
pub fn engine() -> anyhow::Result<DockerRuntime> {
    DockerRuntime::from_env().map_err(|e| {
        Error::refused(format!("cannot connect to Docker daemon: {e}"))
            .with_hint("is the engine running? check DOCKER_HOST or /var/run/docker.sock")
            .into()
    })
}

/// Everything a lifecycle command needs.
///
/// Dropping it drops the launcher, which waits (up to the site's `cleanup_deadline`) for
/// output copies and container removals still running in the background, so a command
/// does not exit with a finished job's container left behind.
pub struct Ctx {
    pub site: Site,
    pub store: Arc<SqliteStore>,
    /// The launcher's runtime: every request with the site's `engine_timeout`.
    pub runtime: Arc<dyn ContainerRuntime>,
    pub launcher: BlockingLauncher,
}

impl Ctx {
    pub fn new(site: Site) -> anyhow::Result<Self> {
        let store = open_store(&site)?;
        let launcher = BlockingLauncher::new(Arc::new(engine()?), launcher_settings(&site), store.clone())?;
        let runtime = launcher.launcher().runtime();
        Ok(Self {
            site,
            store,
            runtime,
            launcher,
        })
    }

    /// Run one engine call outside the launcher (listing, logs) on the launcher's runtime.
    pub fn block_on<F: std::future::Future>(&self, fut: F) -> anyhow::Result<F::Output> {
        Ok(self.launcher.block_on(fut))
    }

    /// The label filters that select this site's containers.
    pub fn site_filters(&self) -> Vec<berth_engine::LabelFilter> {
        vec![
            berth_engine::LabelFilter::eq(berth_core::labels::MANAGED, "true"),
            berth_engine::LabelFilter::eq(berth_core::labels::SITE, &self.site.name),
        ]
    }
}
