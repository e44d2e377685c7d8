//! `berth`: launch federated-learning jobs as Docker containers for a site, and follow them
//! to their end.

mod commands;
mod site;

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
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match &cli.command {
        Command::Plan(cmd) => commands::plan::run(cmd),
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
