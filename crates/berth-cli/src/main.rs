//! `berth`: launch federated-learning jobs as Docker containers for a site, and follow them
//! to their end.

mod commands;
mod context;
mod live;
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
    Plan(commands::plan::JobCmd),
    /// Plan, create and start a job's container, and wait until it runs.
    Launch(commands::plan::JobCmd),
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
    /// Print a shell completion script (bash, zsh or fish) to stdout.
    Completions(commands::shell::CompletionsCmd),
    /// Print the man page (roff) to stdout: berth(1), or berth-<command>(1).
    Man(commands::shell::ManCmd),
}

impl Command {
    /// Whether the command handles an interrupt itself: `demo` stops and removes what it
    /// created first, then exits 130.
    fn handles_interrupt(&self) -> bool {
        #[cfg(feature = "demo")]
        if matches!(self, Command::Demo(_)) {
            return true;
        }
        false
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    quiet_on_closed_stdout();
    if !cli.command.handles_interrupt() {
        exit_on_interrupt();
    }
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
        Command::Completions(cmd) => commands::shell::completions::<Cli>(cmd),
        Command::Man(cmd) => commands::shell::man::<Cli>(cmd),
    };
    match result {
        Ok(status) => ExitCode::from(u8::try_from(status).unwrap_or(1)),
        Err(err) => report(&err),
    }
}

/// Print an error as `error: <message>` (plus its hint) and pick the exit status: 2 for
/// invalid input, 3 for a refused or failed launch.
fn report(err: &anyhow::Error) -> ExitCode {
    if output::is_closed_stdout(err) {
        return ExitCode::from(output::CLOSED_STDOUT_STATUS);
    }
    if let Some(i) = err.chain().find_map(|e| e.downcast_ref::<output::Interrupted>()) {
        eprintln!("{i}");
        return ExitCode::from(output::INTERRUPTED_STATUS);
    }
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

/// A reader that closed stdout (`berth ps --json | head -c1`, `berth status J | true`) ends
/// the command quietly. `println!` panics on a closed stdout (Rust ignores SIGPIPE), and it
/// is used throughout: this hook turns exactly that panic into a silent exit. Writes that
/// return their error instead are handled in [`report`].
fn quiet_on_closed_stdout() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let message = info
            .payload()
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| info.payload().downcast_ref::<&str>().copied())
            .unwrap_or("");
        if message.starts_with("failed printing to stdout") && message.contains("Broken pipe") {
            std::process::exit(i32::from(output::CLOSED_STDOUT_STATUS));
        }
        default(info);
    }));
}

/// Ctrl-C (SIGINT) exits 130 at once. Nothing is stopped: a job that `wait`, `status` or
/// `logs -f` was following keeps running, and its outcome is recorded by whoever follows
/// it next (`berth wait`, `berth recover`).
fn exit_on_interrupt() {
    let watcher = std::thread::Builder::new().name("berth-sigint".into()).spawn(|| {
        let rt = tokio::runtime::Builder::new_current_thread().enable_io().build();
        if let Ok(rt) = rt {
            if rt.block_on(tokio::signal::ctrl_c()).is_ok() {
                std::process::exit(i32::from(output::INTERRUPTED_STATUS));
            }
        }
    });
    if let Err(e) = watcher {
        eprintln!("warning: cannot watch for Ctrl-C: {e}");
    }
}
