//! What the lifecycle commands share: the site opened by the launcher's site object.

use crate::site::SiteArgs;
use berth_launcher::{OpenSite, Site};

/// Open a loaded site (store, engine client, launcher). A rebuilt store is reported on
/// stderr.
pub fn open_site(site: &Site) -> anyhow::Result<OpenSite> {
    let open = site.open(false)?;
    for n in &open.notices {
        eprintln!("warning: {n}");
    }
    Ok(open)
}

/// Load the site from the flags and open it.
pub fn open(args: &SiteArgs) -> anyhow::Result<OpenSite> {
    open_site(&args.load()?)
}
