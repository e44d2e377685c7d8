//! `berth demo`: a small client site, end to end, on the local engine, with nothing prepared.
//!
//! It imports a job image `FROM scratch` around the built-in job stub, writes a site
//! workspace in NVFlare's layout (see [`site`]), creates the site network when it is absent,
//! and runs four jobs through the real planner and launcher at once (see [`jobs`]): one
//! that trains on the mounted dataset, one that fails, one the demo stops, and one that
//! tries to reach another job's folder and the site kit and is refused. Then it prints what
//! happened and where each job's output is, and removes what it created unless `--keep`.
//!
//! The demo assumes berth runs on the engine's host: the temp dir it writes is bind-mounted
//! into the jobs by its host path.

mod cleanup;
mod jobs;
mod progress;
mod run_job;
mod site;
mod summary;

use crate::output::{human_duration, Interrupted};
use crate::site::SiteArgs;
use crate::style::{pad, Style};
use anyhow::Context;
use berth_core::args::JobProcessArgs;
use berth_core::plan::ContainerPlan;
use berth_core::{Error, JobReturnCode};
use berth_engine::docker::DockerRuntime;
use berth_engine::{ContainerRuntime, EngineError, EngineInfo, LogStream};
use berth_launcher::site::read_input;
use berth_launcher::{BlockingJobHandle, BlockingLauncher};
use berth_launcher::{JobRequest, Site};
use clap::Args;
use cleanup::{clean_up, Cleaned};
use futures::StreamExt;
use jobs::{judge, Ended, JobKind, Verdict, STOP_AFTER};
use progress::{Board, Mode, Phase};
use run_job::{outcome_text, JobContext};
use serde_json::json;
use site::{DemoLayout, SiteSpec};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use summary::{print_summary, summary_json};

#[derive(Debug, Clone, Args)]
pub struct DemoCmd {
    /// Keep the work dir, and the network and image when the demo created them, to look at
    /// afterwards (containers are always removed once their outcome is recorded).
    #[arg(long)]
    pub keep: bool,
    /// Build the sample site here (an empty or absent folder) instead of a fresh temp dir.
    #[arg(long, value_name = "DIR")]
    pub workdir: Option<PathBuf>,
    /// The Docker network the site's jobs join; created when absent, and then removed.
    #[arg(long, value_name = "NAME", default_value = "berth-demo")]
    pub network: String,
    /// The job image's tag; imported from the built-in job stub when absent, and then
    /// removed. Default: berth-job-stub:<hash of the stub>.
    #[arg(long, value_name = "TAG")]
    pub image_tag: Option<String>,
    /// Print one JSON summary instead of progress and a table.
    #[arg(long)]
    pub json: bool,
    /// Print only the summary table.
    #[arg(short, long, conflicts_with = "verbose")]
    pub quiet: bool,
    /// Also print the site's files, each job's container and mounts, and its output.
    #[arg(short, long)]
    pub verbose: bool,
}

/// The demo site's name.
const SITE: &str = "site-1";
/// How long the engine may take to answer the first ping.
const PING_TIMEOUT: Duration = Duration::from_secs(10);
/// No demo job should come close; past this the demo stops it.
const JOB_DEADLINE: Duration = Duration::from_secs(60);
/// How often a job thread looks at the stop conditions while it waits.
const TICK: Duration = Duration::from_millis(200);
/// How long the demo waits for a job's captured output after the job ended.
const LOG_DRAIN: Duration = Duration::from_secs(5);
/// How long cleanup waits for the engine to let go of the network.
const NETWORK_RELEASE: Duration = Duration::from_secs(15);
/// How often the live progress is redrawn.
const REDRAW: Duration = Duration::from_millis(100);

/// What this run created, so cleanup removes exactly that.
#[derive(Debug, Default)]
struct Created {
    /// The work dir, when the demo created it (else only its subfolders are removed).
    workdir_root: Option<PathBuf>,
    layout: Option<DemoLayout>,
    image: Option<String>,
    network: Option<String>,
    containers: Mutex<Vec<String>>,
}

/// One job's end, as the summary shows it.
#[derive(Debug)]
struct JobReport {
    kind: JobKind,
    job_id: String,
    container_name: String,
    return_code: Option<JobReturnCode>,
    exit_code: Option<i64>,
    took: Duration,
    verdict: Verdict,
    log: Option<String>,
}

/// Everything the summary prints.
#[derive(Debug)]
struct DemoRun {
    engine: EngineInfo,
    endpoint: String,
    layout: DemoLayout,
    image: String,
    image_imported: bool,
    network: String,
    network_created: bool,
    reports: Vec<JobReport>,
}

/// Human lines are printed only when neither `--json` nor `-q` is given.
struct Out {
    style: Style,
    human: bool,
    verbose: bool,
}

impl Out {
    fn line(&self, text: impl AsRef<str>) {
        if self.human {
            println!("{}", text.as_ref());
        }
    }

    fn detail(&self, text: impl AsRef<str>) {
        if self.human && self.verbose {
            println!("{}", self.style.dim(text.as_ref()));
        }
    }
}

pub fn run(cmd: &DemoCmd) -> anyhow::Result<i32> {
    if !berth_core::config::is_valid_network_name(&cmd.network) {
        return Err(Error::invalid(format!(
            "--network '{}' is not a valid Docker network name",
            cmd.network
        ))
        .with_hint("use letters, digits, '_', '.' and '-', starting with a letter or digit")
        .into());
    }
    let image = cmd
        .image_tag
        .clone()
        .unwrap_or_else(berth_stub_image::default_tag);
    let style = Style::detect();
    let out = Out {
        style,
        human: !cmd.json && !cmd.quiet,
        verbose: cmd.verbose,
    };
    let engine_rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .thread_name("berth-demo")
        .enable_all()
        .build()
        .context("cannot start the demo's runtime")?;
    let interrupted = Arc::new(AtomicBool::new(false));
    {
        let flag = interrupted.clone();
        engine_rt.spawn(async move {
            if tokio::signal::ctrl_c().await.is_ok() {
                flag.store(true, Ordering::SeqCst);
            }
        });
    }

    let docker = DockerRuntime::from_env().map_err(|e| unreachable_error(&e))?;
    let engine = engine_rt
        .block_on(async { tokio::time::timeout(PING_TIMEOUT, docker.ping()).await })
        .map_err(|_| {
            unreachable_error(&EngineError::Unreachable(format!(
                "{} did not answer within {}s",
                docker.endpoint(),
                PING_TIMEOUT.as_secs()
            )))
        })?
        .map_err(|e| unreachable_error(&e))?;

    let mut created = Created::default();
    let result = run_site(
        cmd,
        &out,
        &engine_rt,
        &docker,
        engine,
        &image,
        &interrupted,
        &mut created,
    );
    let cleanup = clean_up(&engine_rt, &docker, &created, cmd.keep);
    if result.is_err() {
        for p in &cleanup.problems {
            eprintln!("warning: cleanup: {p}");
        }
    }
    let demo = result?;
    let all_good = demo.reports.iter().all(|r| r.verdict.as_expected);
    if cmd.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&summary_json(&demo, &cleanup, cmd.keep))?
        );
    } else {
        print_summary(&demo, &cleanup, cmd, style);
    }
    Ok(if all_good { 0 } else { 1 })
}

fn unreachable_error(e: &EngineError) -> anyhow::Error {
    Error::refused(format!("cannot connect to Docker daemon: {e}"))
        .with_hint(
            "the demo needs a local Docker engine: start it, or point DOCKER_HOST at its socket \
             (berth doctor shows what is wrong)",
        )
        .into()
}

fn engine_failure(what: &str, e: EngineError) -> anyhow::Error {
    Error::refused(format!("{what}: {e}")).into()
}

/// A short random hex id, so job ids (and container names) of concurrent demos never meet.
fn run_id() -> String {
    use std::hash::{BuildHasher, Hasher};
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u32(std::process::id());
    if let Ok(now) = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH) {
        hasher.write_u128(now.as_nanos());
    }
    format!("{:06x}", hasher.finish() & 0xff_ffff)
}

/// The work dir: `--workdir` (absent or empty) or a fresh temp dir. Returns its absolute path
/// and whether the demo created it.
fn prepare_workdir(arg: Option<&Path>) -> anyhow::Result<(PathBuf, bool)> {
    let Some(dir) = arg else {
        let tmp = tempfile::Builder::new()
            .prefix("berth-demo-")
            .tempdir()
            .context("cannot create a temp dir for the demo")?;
        let path = tmp.keep();
        let real = path.canonicalize().unwrap_or(path);
        return Ok((real, true));
    };
    let created = match std::fs::read_dir(dir) {
        Ok(mut entries) => {
            if entries.next().is_some() {
                return Err(
                    Error::invalid(format!("--workdir '{}' is not empty", dir.display()))
                        .with_hint("give an empty or absent folder; the demo does not write over files")
                        .into(),
                );
            }
            false
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
            true
        }
        Err(e) => {
            return Err(Error::invalid(format!("cannot use --workdir '{}': {e}", dir.display())).into());
        }
    };
    let real = dir
        .canonicalize()
        .with_context(|| format!("cannot resolve {}", dir.display()))?;
    Ok((real, created))
}

#[allow(clippy::too_many_arguments)]
fn run_site(
    cmd: &DemoCmd,
    out: &Out,
    engine_rt: &tokio::runtime::Runtime,
    docker: &DockerRuntime,
    engine: EngineInfo,
    image: &str,
    interrupted: &Arc<AtomicBool>,
    created: &mut Created,
) -> anyhow::Result<DemoRun> {
    let s = &out.style;
    out.line(s.bold("berth demo: one client site, four jobs, on the local engine"));
    let endpoint = docker.endpoint();
    out.line(format!(
        "  engine     {endpoint} ({} {}, API {})",
        engine.platform, engine.engine_version, engine.api_version
    ));

    // The job image.
    let present = engine_rt
        .block_on(docker.image_exists(image))
        .map_err(|e| engine_failure(&format!("cannot look up image '{image}'"), e))?;
    let image_imported = !present;
    if image_imported {
        engine_rt
            .block_on(docker.import_image(berth_stub_image::rootfs_tar(), image))
            .map_err(|e| engine_failure(&format!("cannot import the job image '{image}'"), e))?;
        created.image = Some(image.to_string());
    }
    out.line(format!(
        "  image      {image} ({})",
        if image_imported {
            "imported from the built-in job stub, FROM scratch"
        } else {
            "already present"
        }
    ));

    // The site network.
    let network = cmd.network.clone();
    let exists = engine_rt
        .block_on(docker.network_exists(&network))
        .map_err(|e| engine_failure(&format!("cannot look up network '{network}'"), e))?;
    let network_created = if exists {
        false
    } else {
        match engine_rt.block_on(docker.create_network(&network)) {
            Ok(_) => {
                created.network = Some(network.clone());
                true
            }
            // Someone else created it meanwhile: use it, leave it.
            Err(EngineError::Conflict(_)) => false,
            Err(e) => return Err(engine_failure(&format!("cannot create network '{network}'"), e)),
        }
    };
    out.line(format!(
        "  network    {network} ({})",
        if network_created {
            "created"
        } else {
            "already present"
        }
    ));

    // The workspace.
    let (root, root_created) = prepare_workdir(cmd.workdir.as_deref())?;
    let layout = DemoLayout::new(&root);
    created.workdir_root = root_created.then(|| root.clone());
    created.layout = Some(layout.clone());
    site::write_site(
        &layout,
        &SiteSpec {
            site: SITE,
            network: &network,
            image,
        },
    )?;
    out.line(format!(
        "  workspace  {} (startup/, local/resources.json, local/study_runtime.yaml)",
        layout.workspace.display()
    ));
    out.line(format!(
        "  dataset    {} -> /data/{}/{} (read-only)",
        layout.data.display(),
        site::STUDY,
        site::DATASET
    ));
    out.detail(format!("  config     {}", layout.resources_json().display()));

    let site = SiteArgs {
        config: layout.resources_json(),
        site: SITE.to_string(),
        role: None,
        parent_root: Some(layout.workspace.clone()),
    }
    .load_site()?;

    // The jobs: folders, then plans (pure), then launches.
    let run = run_id();
    let ids: Vec<String> = JobKind::ALL
        .iter()
        .map(|k| format!("{}-{run}", k.name()))
        .collect();
    let train_id = ids[0].clone();
    let mut plans = Vec::new();
    for (kind, id) in JobKind::ALL.iter().zip(&ids) {
        site::write_job(
            &layout,
            id,
            &site::job_meta(id, kind.name(), SITE),
            &kind.script(&train_id),
        )?;
        let plan = plan_for(&site, id)?;
        out.detail(format!(
            "  job {:<8} {} in container {}: {}",
            kind.name(),
            id,
            plan.name,
            mounts_text(&plan)
        ));
        for w in &plan.warnings {
            out.detail(format!("    warning: {w}"));
        }
        plans.push(plan);
    }
    out.line("");

    if interrupted.load(Ordering::SeqCst) {
        return Err(Interrupted("interrupted before the jobs started; the demo cleaned up".into()).into());
    }
    let (store, notices) = site.open_store()?;
    for n in &notices {
        eprintln!("warning: {n}");
    }
    let launcher_docker = DockerRuntime::connect(&endpoint).map_err(|e| unreachable_error(&e))?;
    let opened = site.open_on(Arc::new(launcher_docker), store, notices, false)?;
    let launcher = opened.launcher;

    let mode = match (out.human, s.terminal) {
        (false, _) => Mode::Silent,
        (true, true) => Mode::Live,
        (true, false) => Mode::Plain,
    };
    let names: Vec<&'static str> = JobKind::ALL.iter().map(|k| k.name()).collect();
    let board = Arc::new(Board::new(&names, mode, *s));
    let dataset_len = std::fs::metadata(layout.dataset_file())
        .map(|m| m.len())
        .unwrap_or(0);
    let ctx = JobContext {
        launcher: &launcher,
        board: &board,
        engine_rt,
        docker,
        layout: &layout,
        containers: &created.containers,
        interrupted,
        train_job_id: &train_id,
        dataset_len,
    };
    let reports: Vec<JobReport> = std::thread::scope(|scope| {
        let threads: Vec<_> = JobKind::ALL
            .iter()
            .zip(plans)
            .enumerate()
            .map(|(i, (kind, plan))| {
                let ctx = &ctx;
                scope.spawn(move || ctx.run_job(i, *kind, plan))
            })
            .collect();
        while !board.all_final() {
            board.draw();
            std::thread::sleep(REDRAW);
        }
        board.draw();
        threads
            .into_iter()
            .zip(JobKind::ALL)
            .map(|(t, kind)| {
                t.join().unwrap_or_else(|_| JobReport {
                    kind,
                    job_id: String::new(),
                    container_name: String::new(),
                    return_code: None,
                    exit_code: None,
                    took: Duration::ZERO,
                    verdict: Verdict {
                        as_expected: false,
                        detail: "the demo's job thread failed".into(),
                        output: layout.log_file(kind.name()),
                    },
                    log: None,
                })
            })
            .collect()
    });
    // Removals of finished jobs may still be running; the cleanup below expects them done.
    launcher.shutdown();
    drop(launcher);
    if interrupted.load(Ordering::SeqCst) {
        return Err(Interrupted("interrupted; the demo stopped its jobs and cleaned up".into()).into());
    }
    Ok(DemoRun {
        engine,
        endpoint,
        layout,
        image: image.to_string(),
        image_imported,
        network,
        network_created,
        reports,
    })
}

/// The plan for a demo job, exactly as `berth plan` would build it from the job folder.
fn plan_for(site: &Site, job_id: &str) -> anyhow::Result<ContainerPlan> {
    let meta_path = site.parent_root.join(job_id).join("meta.json");
    let meta = read_input(&meta_path, "job meta")?;
    let mut request = JobRequest::from_json(
        &meta,
        &format!("job meta '{}'", meta_path.display()),
        None,
        "job process args",
        Vec::new(),
        true,
    )?;
    request.args = Some(JobProcessArgs::from_map(site::job_process_args(
        job_id, &site.name,
    )));
    Ok(site.plan(&request)?)
}

/// `target (ro) <- source, ...` for the verbose listing.
fn mounts_text(plan: &ContainerPlan) -> String {
    let mounts = plan.create["HostConfig"]["Mounts"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let mut parts: Vec<String> = mounts
        .iter()
        .map(|m| {
            format!(
                "{}{}",
                m["Target"].as_str().unwrap_or("?"),
                if m["ReadOnly"].as_bool() == Some(true) {
                    " (ro)"
                } else {
                    " (rw)"
                }
            )
        })
        .collect();
    parts.push(format!("{} (tmpfs)", berth_core::WORKSPACE_MOUNT));
    parts.join(", ")
}
