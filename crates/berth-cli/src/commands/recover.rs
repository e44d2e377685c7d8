//! `berth recover`: after a restart (or any time), settle every container and launch of the
//! site: record the exact outcome of stopped containers and remove them (retention
//! permitting), apply the orphan policy to running ones, record launches whose container
//! vanished, and flag containers of another workspace.

use crate::context::open_site;
use crate::site::SiteArgs;
use berth_core::config::OrphanPolicy;
use berth_launcher::report::recovery_json;
use berth_launcher::RecoveryReport;
use clap::Args;

#[derive(Debug, Clone, Args)]
pub struct RecoverCmd {
    #[command(flatten)]
    pub site: SiteArgs,
    /// What to do with running containers: adopt (leave running; the next wait, status or
    /// recover records their end), terminate (stop, record ABORTED, remove) or report.
    /// Default: the site's `orphan_policy` (adopt).
    #[arg(long, value_name = "POLICY")]
    pub policy: Option<String>,
    /// Print JSON instead of a summary.
    #[arg(long)]
    pub json: bool,
}

fn print_human(site: &str, policy: OrphanPolicy, report: &RecoveryReport) {
    println!("recovery of site {site} (orphan policy: {})", policy.as_str());
    for j in &report.jobs {
        let mut line = format!(
            "  {:<17} {:<24} {}",
            j.action.as_str(),
            if j.job_id.is_empty() { "-" } else { &j.job_id },
            j.container_name
        );
        if let Some(o) = &j.outcome {
            line.push_str(&format!("  {} ({})", o.return_code.name(), o.return_code.code()));
            if let Some(code) = o.exit_code {
                line.push_str(&format!(", exit {code}"));
            }
            if o.oom_killed {
                line.push_str(", OOM-killed");
            }
        }
        if j.launch_rebuilt {
            line.push_str("  [launch record rebuilt from labels]");
        }
        if let Some(ws) = j
            .workspace
            .as_deref()
            .filter(|_| j.action.as_str() == "foreign-workspace")
        {
            line.push_str(&format!("  [workspace {ws}]"));
        }
        println!("{line}");
    }
    println!("{}", report.summary());
    for e in &report.errors {
        eprintln!("warning: {e}");
    }
}

pub fn run(cmd: &RecoverCmd) -> anyhow::Result<i32> {
    let site = cmd.site.load()?;
    let policy = match &cmd.policy {
        Some(p) => p.parse::<OrphanPolicy>().map_err(|e| e.context("--policy"))?,
        None => site.config.orphan_policy,
    };
    let ctx = open_site(&site)?;
    let report = ctx.recover(Some(policy))?;
    if cmd.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&recovery_json(&ctx.site.name, policy, &report))?
        );
        for e in &report.errors {
            eprintln!("warning: {e}");
        }
    } else {
        print_human(&ctx.site.name, policy, &report);
    }
    // Something could not be settled: a failure for scripts, the rest was done.
    Ok(if report.errors.is_empty() { 0 } else { 3 })
}
