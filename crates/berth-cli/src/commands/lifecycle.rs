//! `berth launch`, `wait`, `status` and `stop`: one job, found by berth's labels, so a
//! `launch` in one process and a `wait` in another work.

use crate::commands::plan::{plan_job, JobArgs};
use crate::context::Ctx;
use crate::output::{exit_status, job_json};
use crate::site::SiteArgs;
use berth_launcher::BlockingJobHandle;
use clap::Args;
use serde_json::Value;

#[derive(Debug, Clone, Args)]
pub struct LaunchCmd {
    #[command(flatten)]
    pub site: SiteArgs,
    #[command(flatten)]
    pub job: JobArgs,
}

/// A job of the site: its id, or a container id or name.
#[derive(Debug, Clone, Args)]
pub struct JobRef {
    #[command(flatten)]
    pub site: SiteArgs,
    /// The job id (or a container id or name).
    #[arg(value_name = "JOB")]
    pub job: String,
}

fn print(v: &Value) -> anyhow::Result<()> {
    println!("{}", serde_json::to_string_pretty(v)?);
    Ok(())
}

fn describe(ctx: &Ctx, handle: &BlockingJobHandle, state: &str) -> Value {
    job_json(
        &ctx.site.name,
        handle.job_id(),
        handle.container_id(),
        handle.container_name(),
        state,
        handle.outcome().as_ref(),
    )
}

/// The state word for a handle after one look.
fn state_word(handle: &BlockingJobHandle) -> &'static str {
    if handle.terminal_state().is_some() {
        "ended"
    } else {
        "running"
    }
}

/// A handle for the job, or — when its container is gone — its recorded history.
enum Found {
    Live(BlockingJobHandle),
    Recorded(Value, i32),
}

fn find(ctx: &Ctx, job: &str) -> anyhow::Result<Found> {
    match ctx.launcher.attach(job) {
        Ok(handle) => Ok(Found::Live(handle)),
        Err(attach_err) => {
            let entry = match ctx.store.launch_by_job(job, &ctx.site.name)? {
                Some(e) => Some(e),
                None => ctx.store.launch_by_container(job)?,
            };
            match entry {
                Some(entry) => {
                    let l = &entry.launch;
                    let status = entry
                        .outcome
                        .as_ref()
                        .map(|o| exit_status(o.return_code))
                        .unwrap_or(127);
                    let state = if entry.outcome.is_some() {
                        "ended"
                    } else {
                        "vanished"
                    };
                    let v = job_json(
                        &l.site,
                        &l.job_id,
                        &l.container_id,
                        &l.container_name,
                        state,
                        entry.outcome.as_ref(),
                    );
                    Ok(Found::Recorded(v, status))
                }
                None => Err(attach_err.into()),
            }
        }
    }
}

pub fn launch(cmd: &LaunchCmd) -> anyhow::Result<i32> {
    let site = cmd.site.load()?;
    let plan = plan_job(&site, &cmd.job)?;
    let ctx = Ctx::new(site)?;
    let handle = ctx.launcher.launch(plan)?;
    let state = state_word(&handle);
    print(&describe(&ctx, &handle, state))?;
    Ok(0)
}

pub fn wait(cmd: &JobRef) -> anyhow::Result<i32> {
    let ctx = Ctx::new(cmd.site.load()?)?;
    match find(&ctx, &cmd.job)? {
        Found::Live(handle) => {
            // A one-shot command: return once the container is removed, not only decided.
            let code = handle.wait_settled();
            print(&describe(&ctx, &handle, "ended"))?;
            Ok(exit_status(code))
        }
        Found::Recorded(v, status) => {
            print(&v)?;
            Ok(status)
        }
    }
}

pub fn status(cmd: &JobRef) -> anyhow::Result<i32> {
    let ctx = Ctx::new(cmd.site.load()?)?;
    match find(&ctx, &cmd.job)? {
        Found::Live(handle) => {
            handle.poll();
            print(&describe(&ctx, &handle, state_word(&handle)))?;
        }
        Found::Recorded(v, _) => print(&v)?,
    }
    Ok(0)
}

pub fn stop(cmd: &JobRef) -> anyhow::Result<i32> {
    let ctx = Ctx::new(cmd.site.load()?)?;
    match find(&ctx, &cmd.job)? {
        Found::Live(handle) => {
            handle.terminate();
            print(&describe(&ctx, &handle, "ended"))?;
        }
        Found::Recorded(v, _) => {
            eprintln!("note: job '{}' had already ended", cmd.job);
            print(&v)?;
        }
    }
    Ok(0)
}
