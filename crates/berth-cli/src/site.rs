//! Site inputs shared by every command: the launcher config, the site's name and role,
//! and where berth reads the workspace.

use berth_core::args::Role;
use berth_core::config::{parse_config_text, SiteConfig};
use berth_core::pyval::Map;
use berth_core::workspace::{resolve_parent_root, ParentRootOrigin};
use berth_core::{Error, WORKSPACE_ENV, WORKSPACE_MOUNT};
use clap::Args;
use std::path::{Path, PathBuf};

/// The largest input file berth reads (config, meta.json, args): anything bigger is not a
/// job description.
pub const MAX_INPUT_BYTES: u64 = 4 * 1024 * 1024;

#[derive(Debug, Clone, Args)]
pub struct SiteArgs {
    /// NVFlare `local/resources.json`, or a JSON object of the launcher args.
    #[arg(long, value_name = "FILE", env = "BERTH_CONFIG")]
    pub config: PathBuf,
    /// The site's name (the parent container's name on the Docker network).
    #[arg(long, value_name = "NAME", env = "BERTH_SITE")]
    pub site: String,
    /// client or server; taken from the component class when not given.
    #[arg(long, value_name = "ROLE")]
    pub role: Option<String>,
    /// Where berth reads the workspace (study files, local/custom, job folders).
    /// Default: the config's host workspace when that folder exists here (berth on the
    /// host), else /var/tmp/nvflare/workspace (berth inside the parent container).
    #[arg(long, value_name = "DIR", env = "BERTH_PARENT_ROOT")]
    pub parent_root: Option<PathBuf>,
}

/// The loaded, validated site.
#[derive(Debug, Clone)]
pub struct Site {
    pub config: SiteConfig,
    pub name: String,
    pub role: Role,
    pub parent_root: PathBuf,
    /// Why berth reads the workspace there.
    pub parent_root_origin: ParentRootOrigin,
}

/// Test-only: the folder that stands in for the parent container's workspace mount
/// (`/var/tmp/nvflare/workspace`), so tests never touch the real path. Never set it on a
/// real site.
pub const PARENT_MOUNT_TEST_ENV: &str = "BERTH_TEST_PARENT_MOUNT";

impl Site {
    /// The one stderr line that names the workspace a command reads.
    pub fn announce(&self) {
        eprintln!(
            "berth: workspace {} ({})",
            self.parent_root.display(),
            self.parent_root_origin.describe()
        );
    }
}

/// Read a small text input file, naming it in every error.
pub fn read_input(path: &Path, what: &str) -> Result<String, Error> {
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

/// Read a JSON object file (meta.json and the like).
pub fn read_json_object(path: &Path, what: &str) -> Result<Map, Error> {
    let text = read_input(path, what)?;
    berth_core::strict_json::parse_object_strict(&text, &format!("{what} '{}'", path.display()))
}

/// NVFlare participant names: a letter or digit, then letters, digits, '.', '_' or '-'.
pub fn check_site_name(name: &str) -> Result<(), Error> {
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

impl SiteArgs {
    /// Load the site, check that the workspace berth reads is a directory, and name it on
    /// stderr.
    pub fn load(&self) -> anyhow::Result<Site> {
        let site = self.load_unchecked()?;
        if !site.parent_root.is_dir() {
            let fix = match site.parent_root_origin {
                ParentRootOrigin::Explicit => "pass --parent-root (or BERTH_PARENT_ROOT) with the folder that holds the site's startup/ and local/".to_string(),
                _ => format!(
                    "set the launcher's \"workspace\" arg (or {WORKSPACE_ENV}) to the site's workspace, or pass --parent-root with where berth sees it"
                ),
            };
            return Err(Error::invalid(format!(
                "the workspace '{}' ({}) is not a directory",
                site.parent_root.display(),
                site.parent_root_origin.describe()
            ))
            .with_hint(fix)
            .into());
        }
        site.announce();
        Ok(site)
    }

    /// Load the site without looking at its workspace folder (doctor reports on it).
    pub fn load_unchecked(&self) -> anyhow::Result<Site> {
        check_site_name(&self.site)?;
        let origin = self.config.display().to_string();
        let text = read_input(&self.config, "config")?;
        let section = parse_config_text(&text, &origin)?;
        let env_ws = std::env::var(WORKSPACE_ENV).ok();
        let config = SiteConfig::from_args(&section.args, env_ws)
            .map_err(|e| e.context(format!("config '{origin}'")))?;
        let role = match (&self.role, section.role) {
            (Some(r), _) => r.parse::<Role>()?,
            (None, Some(r)) => r,
            (None, None) => {
                return Err(
                    Error::invalid("the site's role is unknown: the config is a plain args object")
                        .with_hint("pass --role client or --role server")
                        .into(),
                )
            }
        };
        let mount = std::env::var_os(PARENT_MOUNT_TEST_ENV)
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from(WORKSPACE_MOUNT));
        let (parent_root, parent_root_origin) =
            resolve_parent_root(self.parent_root.as_deref(), config.workspace.as_deref(), &mount);
        Ok(Site {
            config,
            name: self.site.clone(),
            role,
            parent_root,
            parent_root_origin,
        })
    }
}
