//! `berth audit`: checks the site's live job containers against what the site allows.

use crate::site::SiteArgs;
use berth_audit::{audit_live, AuditReport, SitePolicy};
use berth_core::{labels, Error};
use berth_engine::{ContainerRuntime, ContainerSummary};
use berth_launcher::Site;
use clap::Args;
use serde_json::json;

#[derive(Debug, Clone, Args)]
pub struct AuditCmd {
    #[command(flatten)]
    pub site: SiteArgs,
    /// The job to audit (its id, or a container id or name).
    #[arg(value_name = "JOB", required_unless_present = "all", conflicts_with = "all")]
    pub job: Option<String>,
    /// Audit every container of the site.
    #[arg(long)]
    pub all: bool,
    /// The uid:gid jobs must run as. Default: the uid:gid of this process, as jobs run as
    /// the launcher's.
    #[arg(long, value_name = "UID:GID")]
    pub user: Option<String>,
    /// Print JSON instead of text.
    #[arg(long)]
    pub json: bool,
}

fn parse_user(s: &str) -> Result<(u32, u32), Error> {
    let parsed = s
        .split_once(':')
        .and_then(|(u, g)| Some((u.parse().ok()?, g.parse().ok()?)));
    parsed.ok_or_else(|| {
        Error::invalid(format!("--user '{s}' is not a numeric UID:GID"))
            .with_hint("for example --user 1000:1000")
    })
}

fn selected<'a>(containers: &'a [ContainerSummary], job: Option<&str>) -> Vec<&'a ContainerSummary> {
    containers
        .iter()
        .filter(|c| match job {
            None => true,
            Some(what) => {
                c.id == what
                    || (what.len() >= 4 && c.id.starts_with(what))
                    || c.name == what
                    || c.labels.get(labels::JOB_ID).map(String::as_str) == Some(what)
            }
        })
        .collect()
}

/// Exit status 0 when every audited container passes, 1 when one fails.
pub fn run(cmd: &AuditCmd) -> anyhow::Result<i32> {
    let site = cmd.site.load()?;
    let (uid, gid) = match &cmd.user {
        Some(u) => parse_user(u)?,
        None => (site.uid, site.gid),
    };
    let policy = SitePolicy::new(&site.config, &site.name, uid, gid)?;
    let rt = Site::engine()?;
    let filters = site.filters();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let reports: Vec<AuditReport> = runtime.block_on(async {
        let containers = rt
            .list(&filters, true)
            .await
            .map_err(|e| Error::refused(format!("cannot connect to Docker daemon: {e}")))?;
        let chosen = selected(&containers, cmd.job.as_deref());
        if let (Some(job), true) = (&cmd.job, chosen.is_empty()) {
            return Err(Error::refused(format!(
                "no container of job '{job}' found for site '{}'",
                site.name
            ))
            .with_hint("berth ps lists the site's containers; berth audit --all audits them all"));
        }
        let mut reports = Vec::new();
        for c in chosen {
            match audit_live(&rt, &c.id, &policy).await {
                Ok(report) => reports.push(report),
                // Removed since the listing: nothing left to audit.
                Err(e) if e.is_not_found() => {}
                Err(e) => {
                    return Err(Error::refused(format!(
                        "cannot inspect container '{}': {e}",
                        c.name
                    )))
                }
            }
        }
        Ok(reports)
    })?;

    let passed = reports.iter().all(|r| r.passed);
    if cmd.json {
        let out = json!({
            "site": site.name,
            "user": policy.user,
            "passed": passed,
            "containers": reports,
        });
        println!("{}", serde_json::to_string_pretty(&out)?);
    } else {
        for report in &reports {
            println!("{report}");
        }
        let failed = reports.iter().filter(|r| !r.passed).count();
        println!(
            "{} container(s) of site {} audited: {} passed, {failed} failed",
            reports.len(),
            site.name,
            reports.len() - failed
        );
    }
    Ok(if passed { 0 } else { 1 })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn users_are_numeric_pairs() {
        assert_eq!(parse_user("1000:100").ok(), Some((1000, 100)));
        for bad in ["1000", "a:b", ":", "1:2:3"] {
            assert!(parse_user(bad).is_err(), "{bad}");
        }
    }
}
