//! `berth recover`: after a restart (or any time), settle every container and launch of the
//! site: record the exact outcome of stopped containers and remove them (retention
//! permitting), apply the orphan policy to running ones, record launches whose container
//! vanished, and flag containers of another workspace.

use crate::context::Ctx;
use crate::output::outcome_json;
use crate::site::SiteArgs;
use berth_core::config::OrphanPolicy;
use berth_core::Error;
use berth_launcher::{RecoveredJob, RecoveryReport};
use clap::Args;
use serde_json::{json, Value};

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

fn parse_policy(s: &str) -> Result<OrphanPolicy, Error> {
    match s {
        "adopt" => Ok(OrphanPolicy::Adopt),
        "terminate" => Ok(OrphanPolicy::Terminate),
        "report" => Ok(OrphanPolicy::Report),
        other => Err(Error::invalid(format!(
            "--policy '{other}' is not one of adopt, terminate, report"
        ))),
    }
}

fn job_json(j: &RecoveredJob) -> Value {
    json!({
        "job_id": j.job_id,
        "container_id": j.container_id,
        "container_name": j.container_name,
        "status": j.status,
        "workspace": j.workspace,
        "action": j.action.as_str(),
        "launch_rebuilt": j.launch_rebuilt,
        "outcome_was_recorded": j.outcome_was_recorded,
        "log_file": j.log_file.as_ref().map(|p| p.display().to_string()),
        "outcome": j.outcome.as_ref().map(outcome_json),
    })
}

fn report_json(site: &str, policy: OrphanPolicy, report: &RecoveryReport) -> Value {
    json!({
        "site": site,
        "policy": policy.as_str(),
        "summary": report.summary(),
        "jobs": report.jobs.iter().map(job_json).collect::<Vec<_>>(),
        "errors": report.errors,
    })
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
        Some(p) => parse_policy(p)?,
        None => site.config.orphan_policy,
    };
    let ctx = Ctx::new(site)?;
    let report = ctx.launcher.recover(policy)?;
    if cmd.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&report_json(&ctx.site.name, policy, &report))?
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
