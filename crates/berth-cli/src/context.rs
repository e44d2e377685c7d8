//! What the lifecycle commands share: the site opened by the launcher's site object.

use crate::site::SiteArgs;
use berth_launcher::{OpenSite, Site};

/// Open a loaded site (store, engine client under the site's `engine_timeout`,
/// launcher). A rebuilt store is reported on stderr.
///
/// Dropping the result drops the launcher, which waits (up to the site's
/// `cleanup_deadline`) for output copies and container removals still running in the
/// background, so a command does not exit with a finished job's container left behind.
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
