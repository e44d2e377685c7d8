//! `berth logs JOB [-f]`: a job's output. While its container exists, from the engine
//! (with `-f`, streamed until the container stops); after the container is gone, from the
//! job's log file `<parent-root>/<job_id>/berth-job.log`, which berth writes before it
//! removes a container.

use crate::context::Ctx;
use crate::site::SiteArgs;
use berth_core::{labels, Error};
use berth_engine::{ContainerSummary, EngineError, LogStream};
use berth_launcher::joblog;
use clap::Args;
use futures::StreamExt;
use std::io::Write;

#[derive(Debug, Clone, Args)]
pub struct LogsCmd {
    #[command(flatten)]
    pub site: SiteArgs,
    /// The job id (or a container id or name).
    #[arg(value_name = "JOB")]
    pub job: String,
    /// Follow the output until the container stops.
    #[arg(short = 'f', long)]
    pub follow: bool,
}

fn matches(c: &ContainerSummary, what: &str) -> bool {
    c.id == what
        || (what.len() >= 4 && c.id.starts_with(what))
        || c.name == what
        || c.labels.get(labels::JOB_ID).map(String::as_str) == Some(what)
}

/// What the engine stream gave: everything, or nothing because the container was gone.
enum Streamed {
    Done,
    Gone,
}

async fn stream_engine(ctx: &Ctx, id: &str, follow: bool) -> anyhow::Result<Streamed> {
    let mut stream = ctx.runtime.logs(id, follow);
    let mut printed = false;
    let mut out = std::io::stdout().lock();
    let mut err = std::io::stderr().lock();
    while let Some(chunk) = stream.next().await {
        match chunk {
            Ok(chunk) => {
                printed = true;
                match chunk.stream {
                    LogStream::Stdout => out.write_all(&chunk.bytes)?,
                    LogStream::Stderr => err.write_all(&chunk.bytes)?,
                }
                if follow {
                    out.flush()?;
                    err.flush()?;
                }
            }
            Err(EngineError::NotFound(_)) if !printed => return Ok(Streamed::Gone),
            Err(e) => {
                return Err(Error::refused(format!("cannot read the output of container {id}: {e}")).into())
            }
        }
    }
    out.flush()?;
    Ok(Streamed::Done)
}

pub fn run(cmd: &LogsCmd) -> anyhow::Result<i32> {
    let ctx = Ctx::new(cmd.site.load()?)?;
    let filters = ctx.site_filters();
    let listed = ctx
        .block_on(async { ctx.runtime.list(&filters, true).await })?
        .map_err(|e| Error::refused(format!("cannot list containers: {e}")))?;
    let found = listed
        .iter()
        .filter(|c| matches(c, &cmd.job))
        .max_by_key(|c| c.created);
    let mut job_id = None;
    if let Some(c) = found {
        job_id = c.labels.get(labels::JOB_ID).cloned();
        if let Streamed::Done = ctx.block_on(stream_engine(&ctx, &c.id, cmd.follow))?? {
            return Ok(0);
        }
    }
    // The container is gone: the job folder keeps its output.
    let job_id = match job_id {
        Some(id) => id,
        None => match ctx.store.launch_by_job(&cmd.job, &ctx.site.name)? {
            Some(entry) => entry.launch.job_id,
            None => match ctx.store.launch_by_container(&cmd.job)? {
                Some(entry) => entry.launch.job_id,
                None => cmd.job.clone(),
            },
        },
    };
    let path = joblog::job_dir(&ctx.site.parent_root, &job_id)
        .map(|dir| joblog::job_log_path(&dir))
        .ok_or_else(|| Error::invalid(format!("'{job_id}' is not a job id")))?;
    let mut file = joblog::open_for_read(&path).map_err(|e| {
        let what = if e.kind() == std::io::ErrorKind::NotFound {
            format!(
                "no container of job '{}' on site '{}' and no log file {}",
                cmd.job,
                ctx.site.name,
                path.display()
            )
        } else {
            format!("cannot read {}: {e}", path.display())
        };
        Error::refused(what).with_hint("berth ps --all lists the site's jobs")
    })?;
    std::io::copy(&mut file, &mut std::io::stdout().lock())?;
    Ok(0)
}
