//! `berth logs JOB [-f]`: a job's output. While its container exists, from the engine
//! (with `-f`, streamed until the container stops); after the container is gone, from the
//! job's log file `<parent-root>/<job_id>/berth-job.log`, which berth writes before it
//! removes a container.

use crate::context::open;
use crate::site::SiteArgs;
use berth_core::Error;
use berth_engine::{EngineError, LogStream};
use berth_launcher::{joblog, JobOutput, OpenSite};
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

/// What the engine stream gave: everything, or nothing because the container was gone.
enum Streamed {
    Done,
    Gone,
}

async fn stream_engine(ctx: &OpenSite, id: &str, follow: bool) -> anyhow::Result<Streamed> {
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
    let ctx = open(&cmd.site)?;
    let path = match ctx.output(&cmd.job)? {
        JobOutput::Container { id, job_id } => {
            if let Streamed::Done = ctx.launcher.block_on(stream_engine(&ctx, &id, cmd.follow))? {
                return Ok(0);
            }
            // The container went away meanwhile: the job folder keeps its output.
            ctx.log_file(&cmd.job, job_id)?
        }
        JobOutput::LogFile { path, .. } => path,
    };
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
