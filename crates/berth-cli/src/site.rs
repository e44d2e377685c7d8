//! Site inputs shared by every command: the launcher config, the site's name and role,
//! and where berth reads the workspace. Loading and every rule are the launcher's
//! [`berth_launcher::Site`]; this module only reads the flags and the config file.

use berth_launcher::site::read_input;
use berth_launcher::{ParentRoot, Site};
use clap::Args;
use std::path::PathBuf;

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

/// The one stderr line that names the workspace a command reads.
pub fn announce(site: &Site) {
    eprintln!(
        "berth: workspace {} ({})",
        site.parent_root.display(),
        site.parent_root_origin.describe()
    );
}

impl SiteArgs {
    /// Load the site, check that the workspace berth reads is a directory, and name it on
    /// stderr.
    pub fn load(&self) -> anyhow::Result<Site> {
        let site = self.load_site()?;
        site.check_parent_root()?;
        announce(&site);
        Ok(site)
    }

    /// Load the site without looking at its workspace folder (doctor reports on it).
    pub fn load_site(&self) -> berth_core::Result<Site> {
        let origin = self.config.display().to_string();
        let text = read_input(&self.config, "config")?;
        let root = match &self.parent_root {
            Some(p) => ParentRoot::Explicit(p.clone()),
            None => ParentRoot::Default,
        };
        Site::from_config_text(&text, &origin, &self.site, self.role.as_deref(), root)
    }
}
