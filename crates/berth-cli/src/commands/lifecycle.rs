//! `berth launch`, `wait`, `status` and `stop`: one job, found by berth's labels, so a
//! `launch` in one process and a `wait` in another work.

use crate::commands::plan::{plan_job, JobCmd};
use crate::context::{open, open_site};
use crate::live::LiveLine;
use crate::output::{exit_status, job_json};
use crate::site::SiteArgs;
use berth_core::Error;
use berth_engine::EngineError;
use berth_launcher::{BlockingJobHandle, FoundJob, OpenSite};
use berth_store::HistoryEntry;
use clap::Args;
use serde_json::Value;
use std::time::{Duration, Instant};

/// A job of the site: its id, or a container id or name.
#[derive(Debug, Clone, Args)]
pub struct JobRef {
    #[command(flatten)]
    pub site: SiteArgs,
    /// The job id (or a container id or name).
    #[arg(value_name = "JOB")]
    pub job: String,
    /// Print JSON (the default output; accepted so every result command takes it).
    #[arg(long)]
    pub json: bool,
}

fn print(v: &Value) -> anyhow::Result<()> {
    println!("{}", serde_json::to_string_pretty(v)?);
    Ok(())
}

fn describe(ctx: &OpenSite, handle: &BlockingJobHandle, state: &str) -> Value {
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

/// A recorded job (its container gone) as printed, with `wait`'s exit status.
fn recorded(entry: &HistoryEntry) -> (Value, i32) {
    let l = &entry.launch;
    let status = entry
        .outcome
        .as_ref()
        .map(|o| exit_status(o.return_code))
        .unwrap_or(127);
    // The engine itself reports no container and no outcome was recorded.
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
    (v, status)
}

/// An engine that could not answer for the job: exit 3, nothing recorded.
fn engine_error(what: &str, job: &str, e: EngineError) -> anyhow::Error {
    Error::refused(format!("cannot {what} job '{job}': {e}"))
        .with_hint("nothing was recorded; check the engine (DOCKER_HOST, engine_timeout) and try again")
        .into()
}

/// The outcome is known but could not be written: loud, exit 3.
fn check_recorded(handle: &BlockingJobHandle) -> anyhow::Result<()> {
    match handle.unrecorded() {
        None => Ok(()),
        Some(e) => Err(Error::refused(format!(
            "the outcome of job '{}' could not be recorded in the state store: {e}",
            handle.job_id()
        ))
        .with_hint(format!(
            "its container {} is kept; once the store is writable, `berth recover` records the outcome",
            handle.container_name()
        ))
        .into()),
    }
}

pub fn launch(cmd: &JobCmd) -> anyhow::Result<i32> {
    let site = cmd.site.load()?;
    let plan = plan_job(&site, &cmd.job)?;
    let ctx = open_site(&site)?;
    let handle = ctx.launcher.launch(plan)?;
    let state = state_word(&handle);
    print(&describe(&ctx, &handle, state))?;
    Ok(0)
}

/// The `Instant` a Unix-milliseconds start time corresponds to (now, for a time ahead).
fn started_instant(started_ms: i64) -> Instant {
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(started_ms);
    let ago = Duration::from_millis(now_ms.saturating_sub(started_ms).max(0) as u64);
    Instant::now().checked_sub(ago).unwrap_or_else(Instant::now)
}

pub fn wait(cmd: &JobRef) -> anyhow::Result<i32> {
    let ctx = open(&cmd.site)?;
    match ctx.find(&cmd.job)? {
        FoundJob::Live(handle) => {
            let live = if handle.terminal_state().is_none() {
                let started = ctx
                    .store
                    .launch_by_job(handle.job_id(), &ctx.site.name)
                    .ok()
                    .flatten()
                    .map(|e| started_instant(e.started_ms()))
                    .unwrap_or_else(Instant::now);
                LiveLine::start(
                    ctx.runtime.clone(),
                    handle.job_id(),
                    handle.container_id(),
                    started,
                )
            } else {
                None
            };
            // A one-shot command: return once the container is removed, not only decided.
            // An engine outage longer than the site's engine_outage_limit ends the wait.
            let code = handle
                .wait_settled_through_outage()
                .map_err(|e| engine_error("wait for", &cmd.job, e))?;
            if let Some(live) = live {
                live.finish();
            }
            print(&describe(&ctx, &handle, "ended"))?;
            check_recorded(&handle)?;
            Ok(exit_status(code))
        }
        FoundJob::Recorded(entry) => {
            let (v, status) = recorded(&entry);
            print(&v)?;
            Ok(status)
        }
    }
}

pub fn status(cmd: &JobRef) -> anyhow::Result<i32> {
    let ctx = open(&cmd.site)?;
    match ctx.find(&cmd.job)? {
        FoundJob::Live(handle) => {
            handle
                .try_poll()
                .map_err(|e| engine_error("look at", &cmd.job, e))?;
            print(&describe(&ctx, &handle, state_word(&handle)))?;
            check_recorded(&handle)?;
        }
        FoundJob::Recorded(entry) => print(&recorded(&entry).0)?,
    }
    Ok(0)
}

pub fn stop(cmd: &JobRef) -> anyhow::Result<i32> {
    let ctx = open(&cmd.site)?;
    match ctx.find(&cmd.job)? {
        FoundJob::Live(handle) => {
            handle
                .try_terminate()
                .map_err(|e| engine_error("stop", &cmd.job, e))?;
            print(&describe(&ctx, &handle, "ended"))?;
            check_recorded(&handle)?;
        }
        FoundJob::Recorded(entry) => {
            eprintln!("note: job '{}' had already ended", cmd.job);
            print(&recorded(&entry).0)?;
        }
    }
    Ok(0)
}
