//! `berth ps`: the site's containers, and with `--all` its past outcomes from the store.

use crate::context::open;
use crate::output::{history_json, human_duration, human_time};
use crate::site::SiteArgs;
use berth_core::labels;
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
    /// At most this many past jobs with --all (newest first).
    #[arg(long, default_value_t = 50)]
    pub limit: usize,
}

pub fn run(cmd: &PsCmd) -> anyhow::Result<i32> {
    let ctx = open(&cmd.site)?;
    let containers = ctx.containers()?;
    let history = if cmd.all {
        ctx.history(cmd.limit)?
    } else {
        Vec::new()
    };

    if cmd.json {
        let live: Vec<_> = containers
            .iter()
            .map(|c| {
                json!({
                    "job_id": c.labels.get(labels::JOB_ID),
                    "container_id": c.id,
                    "container_name": c.name,
                    "image": c.image,
                    "state": c.status,
                    "created": c.created,
                })
            })
            .collect();
        let mut out = json!({"site": ctx.site.name, "containers": live});
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
    for c in &containers {
        println!(
            "{:<24} {:<14} {:<10} {:<32} {}",
            c.labels.get(labels::JOB_ID).map(String::as_str).unwrap_or("-"),
            c.id.get(..12).unwrap_or(&c.id),
            c.status,
            c.image,
            human_time(c.created * 1000),
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
