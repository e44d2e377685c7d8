//! `berth ps`: the site's containers, and with `--all` its past outcomes from the store.

use crate::context::open;
use crate::output::{history_json, human_duration, human_time};
use crate::site::SiteArgs;
use berth_core::labels;
use berth_engine::ContainerSummary;
use clap::Args;
use serde_json::json;

#[derive(Debug, Clone, Args)]
pub struct PsCmd {
    #[command(flatten)]
    pub site: SiteArgs,
    /// Also list past jobs and their outcomes from the state store.
    #[arg(long)]
    pub all: bool,
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
    /// Also list the containers of this site's name that belong to other workspaces
    /// (another site with the same name on this engine), marked as such.
    #[arg(long)]
    pub all_workspaces: bool,
    /// At most this many past jobs with --all (newest first).
    #[arg(long, default_value_t = 50)]
    pub limit: usize,
}

pub fn run(cmd: &PsCmd) -> anyhow::Result<i32> {
    let ctx = open(&cmd.site)?;
    // Containers of this site's name in other workspaces are another site's.
    let (mine, elsewhere): (Vec<_>, Vec<_>) = ctx.containers()?.into_iter().partition(|c| ctx.site.owns(c));
    let other_count = elsewhere.len();
    let containers: Vec<(&ContainerSummary, bool)> = mine
        .iter()
        .map(|c| (c, false))
        .chain(elsewhere.iter().filter(|_| cmd.all_workspaces).map(|c| (c, true)))
        .collect();
    if other_count > 0 && !cmd.all_workspaces {
        eprintln!(
            "note: {other_count} container{} of a site named '{}' belong{} to other workspaces; --all-workspaces lists {}",
            if other_count == 1 { "" } else { "s" },
            ctx.site.name,
            if other_count == 1 { "s" } else { "" },
            if other_count == 1 { "it" } else { "them" },
        );
    }
    let history = if cmd.all {
        ctx.history(cmd.limit)?
    } else {
        Vec::new()
    };

    if cmd.json {
        let live: Vec<_> = containers
            .iter()
            .map(|(c, other)| {
                json!({
                    "job_id": c.labels.get(labels::JOB_ID),
                    "container_id": c.id,
                    "container_name": c.name,
                    "image": c.image,
                    "state": c.status,
                    "created": c.created,
                    "workspace": c.labels.get(labels::WORKSPACE),
                    "other_workspace": other,
                })
            })
            .collect();
        let mut out =
            json!({"site": ctx.site.name, "workspace": ctx.site.host_workspace(), "containers": live});
        if cmd.all {
            out["history"] = history.iter().map(history_json).collect();
        }
        println!("{}", serde_json::to_string_pretty(&out)?);
        return Ok(0);
    }

    println!(
        "{:<24} {:<14} {:<10} {:<32} CREATED",
        "JOB", "CONTAINER", "STATE", "IMAGE"
    );
    for (c, other) in &containers {
        let mut created = human_time(c.created * 1000);
        if *other {
            created.push_str(&format!(
                "  (other workspace: {})",
                c.labels.get(labels::WORKSPACE).map(String::as_str).unwrap_or("-")
            ));
        }
        println!(
            "{:<24} {:<14} {:<10} {:<32} {}",
            c.labels.get(labels::JOB_ID).map(String::as_str).unwrap_or("-"),
            c.id.get(..12).unwrap_or(&c.id),
            c.status,
            c.image,
            created,
        );
    }
    if containers.is_empty() {
        println!("(no containers of site {})", ctx.site.name);
    }
    if cmd.all {
        println!();
        println!(
            "{:<24} {:<7} {:<32} {:<20} {:<9} OUTCOME",
            "JOB", "ROLE", "IMAGE", "STARTED", "DURATION"
        );
        for e in history.iter().rev() {
            let outcome = match &e.outcome {
                Some(o) => {
                    let mut s = format!("{} ({})", o.return_code.name(), o.return_code.code());
                    if let Some(code) = o.exit_code {
                        s.push_str(&format!(", exit {code}"));
                    }
                    if o.oom_killed {
                        s.push_str(", OOM-killed");
                    }
                    s
                }
                None => "(no outcome yet)".to_string(),
            };
            println!(
                "{:<24} {:<7} {:<32} {:<20} {:<9} {}",
                e.launch.job_id,
                e.launch.role.as_str(),
                e.launch.image,
                human_time(e.started_ms()),
                e.finished_ms()
                    .map(|f| human_duration(f - e.started_ms()))
                    .unwrap_or_else(|| "-".into()),
                outcome
            );
        }
    }
    Ok(0)
}
