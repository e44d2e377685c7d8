//! `berth plan`: validate the inputs and print the container plan; contacts no engine.

use crate::site::SiteArgs;
use berth_core::plan::ContainerPlan;
use berth_launcher::site::read_input;
use berth_launcher::{JobRequest, Site};
use clap::Args;
use std::path::PathBuf;

/// Launch inputs, shared by `plan` and `launch`.
#[derive(Debug, Clone, Args)]
pub struct JobArgs {
    /// The job's meta.json.
    #[arg(long, value_name = "FILE")]
    pub job: PathBuf,
    /// The job process args: a JSON object `name -> [flag, value]` (JOB_PROCESS_ARGS).
    #[arg(long = "args", value_name = "FILE")]
    pub process_args: PathBuf,
    /// One item of the parent's `--set` list; repeat for more.
    #[arg(long = "set", value_name = "OPTION")]
    pub set: Vec<String>,
    /// The job carries the locally authorised BYOC marker. The only way to authorise it on
    /// the command line: a `byoc` key in the meta file is ignored.
    #[arg(long)]
    pub byoc: bool,
}

// A site and one job's launch inputs: what `plan` and `launch` take. (A plain comment:
// each command's help text is its variant's doc in main.rs.)
#[derive(Debug, Clone, Args)]
pub struct JobCmd {
    #[command(flatten)]
    pub site: SiteArgs,
    #[command(flatten)]
    pub job: JobArgs,
    /// Print JSON (the default output; accepted so every result command takes it).
    #[arg(long)]
    pub json: bool,
}

/// Build the plan for a job of a site, printing planning warnings to stderr.
pub fn plan_job(site: &Site, job: &JobArgs) -> anyhow::Result<ContainerPlan> {
    let meta_origin = format!("job meta '{}'", job.job.display());
    let args_origin = format!("job process args '{}'", job.process_args.display());
    let meta = read_input(&job.job, "job meta")?;
    let args = read_input(&job.process_args, "job process args")?;
    let mut request = JobRequest::from_json(
        &meta,
        &meta_origin,
        Some(&args),
        &args_origin,
        job.set.clone(),
        true,
    )?;
    if let Some(w) = request.authorise_byoc_by_flag(job.byoc) {
        eprintln!("warning: {w}");
    }
    let plan = site.plan_checked(&request)?;
    for w in &plan.warnings {
        eprintln!("warning: {w}");
    }
    Ok(plan)
}

pub fn run(cmd: &JobCmd) -> anyhow::Result<i32> {
    let site = cmd.site.load()?;
    let plan = plan_job(&site, &cmd.job)?;
    println!("{}", serde_json::to_string_pretty(&plan.to_json())?);
    Ok(0)
}
