//! `berth`: launch federated-learning jobs as Docker containers for a site, and follow them
//! to their end.

mod commands;
mod context;
mod output;
mod site;
mod style;

use clap::{Parser, Subcommand};
use std::process::ExitCode;

#[derive(Debug, Parser)]
#[command(
    name = "berth",
    version,
    about = "Run each federated-learning job of a site in its own Docker container"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Validate a job's inputs and print the container plan; contacts no engine.
    Plan(commands::plan::PlanCmd),
    /// Plan, create and start a job's container, and wait until it runs.
    Launch(commands::lifecycle::LaunchCmd),
    /// Block until a job ends; the exit status is its return code (0, 1, 9, ...).
    Wait(commands::lifecycle::JobRef),
    /// One look at a job: its state, and its outcome once it ended.
    Status(commands::lifecycle::JobRef),
    /// Stop a job at once and remove its container; it ends ABORTED.
    Stop(commands::lifecycle::JobRef),
    /// The site's job containers; with --all, past jobs and their outcomes.
    Ps(commands::ps::PsCmd),
    /// A job's output: from the engine while its container exists, from its log file after.
    Logs(commands::logs::LogsCmd),
    /// Re-attach running jobs, record and clean up ended ones, apply retention.
    Recover(commands::recover::RecoverCmd),
    /// Check live berth containers against what the site allows.
    Audit(commands::audit::AuditCmd),
    /// Check the engine, network, workspace, study files and images a site needs.
    Doctor(commands::doctor::DoctorCmd),
    /// Run a small site end to end on the local engine.
    #[cfg(feature = "demo")]
    Demo(commands::demo::DemoCmd),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match &cli.command {
        Command::Plan(cmd) => commands::plan::run(cmd),
        Command::Launch(cmd) => commands::lifecycle::launch(cmd),
        Command::Wait(cmd) => commands::lifecycle::wait(cmd),
        Command::Status(cmd) => commands::lifecycle::status(cmd),
        Command::Stop(cmd) => commands::lifecycle::stop(cmd),
        Command::Ps(cmd) => commands::ps::run(cmd),
        Command::Logs(cmd) => commands::logs::run(cmd),
        Command::Recover(cmd) => commands::recover::run(cmd),
        Command::Audit(cmd) => commands::audit::run(cmd),
        Command::Doctor(cmd) => commands::doctor::run(cmd),
        #[cfg(feature = "demo")]
        Command::Demo(cmd) => commands::demo::run(cmd),
    };
    match result {
        Ok(status) => ExitCode::from(u8::try_from(status).unwrap_or(1)),
        Err(err) => report(&err),
    }
}

/// Print an error as `error: <message>` (plus its hint) and pick the exit status: 2 for
/// invalid input, 3 for a refused or failed launch.
fn report(err: &anyhow::Error) -> ExitCode {
    if let Some(e) = err.chain().find_map(|e| e.downcast_ref::<berth_core::Error>()) {
        eprintln!("error: {}", e.message());
        if let Some(hint) = e.hint() {
            eprintln!("  hint: {hint}");
        }
        return ExitCode::from(e.kind().exit_status() as u8);
    }
    eprintln!("error: {err:#}");
    ExitCode::from(3)
}
