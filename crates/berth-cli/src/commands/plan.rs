//! `berth plan`: validate the inputs and print the container plan; contacts no engine.

use crate::site::{read_input, read_json_object, Site, SiteArgs};
use berth_core::args::JobProcessArgs;
use berth_core::plan::{build_plan, ContainerPlan, PlanRequest};
use berth_core::pyval::Map;
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
    /// The job carries the locally authorised BYOC marker.
    #[arg(long)]
    pub byoc: bool,
}

#[derive(Debug, Clone, Args)]
pub struct PlanCmd {
    #[command(flatten)]
    pub site: SiteArgs,
    #[command(flatten)]
    pub job: JobArgs,
}

/// Build the plan for a job of a site, printing planning warnings to stderr.
pub fn plan_job(site: &Site, job: &JobArgs) -> anyhow::Result<ContainerPlan> {
    let mut meta = read_json_object(&job.job, "job meta")?;
    if job.byoc {
        meta.insert("byoc".into(), serde_json::Value::Bool(true));
    }
    let args_origin = job.process_args.display().to_string();
    let args = JobProcessArgs::from_json(&read_input(&job.process_args, "job process args")?, &args_origin)?;
    let plan = plan_for_site(site, &meta, &args, &job.set)?;
    for w in &plan.warnings {
        eprintln!("warning: {w}");
    }
    Ok(plan)
}

/// The plan for one job of `site` as this process would launch it: the site's parent
/// root as the workspace object, this process's environment, uid and gid.
pub fn plan_for_site(
    site: &Site,
    meta: &Map,
    args: &JobProcessArgs,
    set_options: &[String],
) -> Result<ContainerPlan, berth_core::Error> {
    let env = |name: &str| std::env::var(name).ok();
    build_plan(&PlanRequest {
        site_config: &site.config,
        site: &site.name,
        role: site.role,
        job_meta: meta,
        job_args: Some(args),
        set_options,
        parent_root: &site.parent_root,
        workspace_object: true,
        launcher_env: &env,
        uid: nix::unistd::getuid().as_raw(),
        gid: nix::unistd::getgid().as_raw(),
    })
}

pub fn run(cmd: &PlanCmd) -> anyhow::Result<i32> {
    let site = cmd.site.load()?;
    let plan = plan_job(&site, &cmd.job)?;
    println!("{}", serde_json::to_string_pretty(&plan.to_json())?);
    Ok(0)
}
