//! `berth-bench`: berth against the Docker Engine API's own floor, on the local engine.
//!
//! ```text
//! cargo run --release -p berth-bench -- --out bench-results
//! ```
//!
//! One run builds its own stub image, network and workspace (all uniquely named), measures
//! berth and a raw Engine API baseline interleaved in random order, writes
//! `<out>/results.json` and `<out>/results.md`, prints the table, and removes every Docker
//! object it created (also on error and Ctrl-C, best effort). It does not fail on targets.
//! See docs/benchmarks.md.

mod concurrency;
mod context;
mod exit;
mod launch;
mod procinfo;
mod raw;
mod report;
mod rfc3339;
mod scale;
mod site;
mod stats;

use anyhow::Context;
use berth_engine::docker::DockerRuntime;
use berth_engine::ContainerRuntime;
use berth_launcher::{Launcher, LauncherSettings};
use berth_store::{MemoryStore, SqliteStore};
use clap::{Args, Parser, Subcommand};
use context::Ctx;
use report::{Machine, Results};
use serde::Serialize;
use site::{Planner, SiteNames};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

#[derive(Debug, Parser)]
#[command(
    name = "berth-bench",
    about = "Benchmark berth against the raw Docker Engine API"
)]
struct Cli {
    #[command(flatten)]
    opts: Options,
    #[command(subcommand)]
    child: Option<ChildCmd>,
}

#[derive(Debug, Clone, Args, Serialize)]
struct Options {
    /// Where results.json and results.md go.
    #[arg(long, default_value = "bench-results")]
    out: PathBuf,
    /// Samples per arm for launch/terminate and for exit detection.
    #[arg(long, default_value_t = 25)]
    samples: usize,
    /// Unrecorded launches per arm before sampling.
    #[arg(long, default_value_t = 2)]
    warmup: usize,
    /// Jobs launched at once in the concurrency scenario.
    #[arg(long, default_value_t = 100)]
    concurrency: usize,
    /// Concurrency rounds per arm (arms in random order).
    #[arg(long, default_value_t = 2)]
    concurrency_rounds: usize,
    /// Seconds each concurrent job sleeps.
    #[arg(long, default_value_t = 5.0)]
    concurrent_sleep: f64,
    /// Seconds each exit-detection job sleeps before it exits.
    #[arg(long, default_value_t = 0.5)]
    exit_sleep: f64,
    /// Most live jobs in the scale scenario (levels 1, 10, 100, 200 up to it, and it).
    #[arg(long, default_value_t = 200)]
    scale_max: usize,
    /// Scenarios to leave out: launch, exit, concurrency, scale (comma-separated).
    #[arg(long, value_delimiter = ',')]
    skip: Vec<String>,
    /// Leave out the berth-with-memory-store arm.
    #[arg(long)]
    no_memory_store: bool,
    /// berth's `LauncherSettings::max_starting` (default: the launcher's own default).
    #[arg(long)]
    max_starting: Option<usize>,
    /// Seed of the interleaving order (default: from the clock; printed).
    #[arg(long)]
    seed: Option<u64>,
}

#[derive(Debug, Subcommand)]
enum ChildCmd {
    /// The launcher-only process of the scale scenario (started by the benchmark itself).
    #[command(hide = true)]
    ScaleChild {
        #[arg(long)]
        names: String,
        #[arg(long)]
        levels: String,
    },
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    if let Some(ChildCmd::ScaleChild { names, levels }) = &cli.child {
        return scale::child_main(names, levels);
    }
    // The same shape as berth's blocking facade: two worker threads.
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let result = rt.block_on(bench(cli.opts));
    rt.shutdown_timeout(Duration::from_secs(5));
    result
}

async fn bench(opts: Options) -> anyhow::Result<()> {
    let started = Instant::now();
    let seed = opts.seed.unwrap_or_else(|| {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(1)
    });
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut results = Results {
        command: format!("cargo run --release -p berth-bench -- {}", args.join(" ")),
        started_unix_s: SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0),
        options: serde_json::to_value(&opts)?,
        seed,
        ..Results::default()
    };
    let docker = DockerRuntime::from_env().context("no Docker engine configured")?;
    let info = docker.ping().await.context("the Docker engine does not answer")?;
    results.machine = Some(Machine {
        host: procinfo::host(),
        engine_version: info.engine_version,
        api_version: info.api_version,
        engine_platform: info.platform,
    });
    let workspace = tempfile::Builder::new()
        .prefix("berth-bench-")
        .tempdir()
        .context("cannot create the workspace")?;
    let names = SiteNames::fresh(workspace.path());
    eprintln!(
        "berth-bench: site {}, workspace {}, seed {seed}",
        names.site,
        workspace.path().display()
    );

    let interrupted = tokio::select! {
        r = run_all(&opts, &docker, &names, seed, &mut results) => {
            if let Err(e) = r {
                results.errors.push(format!("{e:#}"));
            }
            false
        }
        _ = tokio::signal::ctrl_c() => {
            eprintln!("berth-bench: interrupted; cleaning up (Ctrl-C again to abandon)");
            true
        }
    };
    results.interrupted = interrupted;
    let cleanup = site::remove_objects(&docker, &names);
    tokio::select! {
        _ = cleanup => {}
        _ = tokio::signal::ctrl_c() => eprintln!("berth-bench: cleanup abandoned"),
    }
    drop(workspace);

    results.duration_s = started.elapsed().as_secs_f64();
    results.judge();
    std::fs::create_dir_all(&opts.out).with_context(|| format!("cannot create {}", opts.out.display()))?;
    let md = results.markdown();
    std::fs::write(
        opts.out.join("results.json"),
        serde_json::to_string_pretty(&results)?,
    )?;
    std::fs::write(opts.out.join("results.md"), &md)?;
    println!("{md}");
    eprintln!(
        "berth-bench: wrote {} and {}",
        opts.out.join("results.json").display(),
        opts.out.join("results.md").display()
    );
    Ok(())
}

async fn run_all(
    opts: &Options,
    docker: &DockerRuntime,
    names: &SiteNames,
    seed: u64,
    results: &mut Results,
) -> anyhow::Result<()> {
    let skip = |s: &str| opts.skip.iter().any(|k| k == s);
    site::create_objects(docker, names).await?;
    let endpoint = docker.endpoint();
    let settings = {
        let mut s = LauncherSettings::new(&names.site);
        s.network = names.network.clone();
        if let Some(n) = opts.max_starting {
            s.max_starting = n;
        }
        s
    };
    let (sqlite, _) = SqliteStore::open(&names.workspace.join("state.db"))?;
    let sqlite = Launcher::new(
        Arc::new(DockerRuntime::connect(&endpoint)?),
        settings.clone(),
        Arc::new(sqlite),
    );
    let memory = (!opts.no_memory_store).then(|| -> anyhow::Result<Launcher> {
        Ok(Launcher::new(
            Arc::new(DockerRuntime::connect(&endpoint)?),
            settings.clone(),
            Arc::new(MemoryStore::new()),
        ))
    });
    let memory = memory.transpose()?;
    let mut ctx = Ctx {
        raw: Arc::new(DockerRuntime::connect(&endpoint)?),
        sqlite,
        memory,
        planner: Planner::new(names, "job")?,
        rng: stats::Rng::new(seed),
    };

    if !skip("launch") {
        eprintln!(
            "launch latency, CPU and terminate: {} samples per arm",
            opts.samples
        );
        match launch::run(&mut ctx, opts.samples, opts.warmup).await {
            Ok(r) => results.launch = Some(r),
            Err(e) => results.errors.push(format!("launch: {e:#}")),
        }
    }
    if !skip("exit") {
        eprintln!("exit detection: {} samples per arm", opts.samples);
        let listener = DockerRuntime::connect(&endpoint)?;
        match exit::run(&mut ctx, &listener, opts.samples, opts.exit_sleep).await {
            Ok(r) => results.exit_detection = Some(r),
            Err(e) => results.errors.push(format!("exit detection: {e:#}")),
        }
    }
    if !skip("concurrency") && opts.concurrency > 0 {
        eprintln!("concurrency: {} jobs at once", opts.concurrency);
        // The memory-store launcher sits this one out: it would only add its own events.
        ctx.memory = None;
        match concurrency::run(
            &mut ctx,
            opts.concurrency,
            opts.concurrency_rounds,
            opts.concurrent_sleep,
        )
        .await
        {
            Ok(r) => results.concurrency = Some(r),
            Err(e) => results.errors.push(format!("concurrency: {e:#}")),
        }
    }
    if !skip("scale") && opts.scale_max > 0 {
        eprintln!(
            "scale: up to {} live jobs in a launcher-only child process",
            opts.scale_max
        );
        // Nothing of this process's launchers runs meanwhile.
        drop(ctx);
        let (names, max) = (names.clone(), opts.scale_max);
        match tokio::task::spawn_blocking(move || scale::run(&names, max)).await {
            Ok(Ok(r)) => results.scale = Some(r),
            Ok(Err(e)) => results.errors.push(format!("scale: {e:#}")),
            Err(e) => results.errors.push(format!("scale: {e}")),
        }
    }
    Ok(())
}
