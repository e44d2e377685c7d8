//! `berth doctor`: check what a site needs before its first job, and say how to fix what
//! is missing. Prints a checklist (or JSON with `--json`); the exit status is 1 when any
//! check failed (warnings do not fail).

use crate::site::SiteArgs;
use crate::style::Style;
use berth_launcher::doctor::{self, Check, Checklist, Status};
use berth_launcher::Site;
use clap::Args;
use serde_json::json;

#[derive(Debug, Clone, Args)]
pub struct DoctorCmd {
    #[command(flatten)]
    pub site: SiteArgs,
    /// Print the checklist as JSON.
    #[arg(long)]
    pub json: bool,
}

pub fn run(cmd: &DoctorCmd) -> anyhow::Result<i32> {
    let mut list = Checklist::default();
    let site = check_config(&mut list, &cmd.site);
    doctor::check_site(&mut list, site.as_ref());
    if cmd.json {
        println!("{}", serde_json::to_string_pretty(&to_json(&cmd.site, &list))?);
    } else {
        print(&cmd.site, &list, Style::detect());
    }
    Ok(if list.failed() { 1 } else { 0 })
}

/// Load the site as every command does (the workspace folder is checked with the layout),
/// and report the config as the first check: it is about this command's own inputs.
fn check_config(list: &mut Checklist, args: &SiteArgs) -> Option<Site> {
    match args.load_site() {
        Ok(site) => {
            crate::site::announce(&site);
            list.pass(
                "config",
                doctor::CONFIG,
                format!(
                    "{}: {} for site '{}'",
                    args.config.display(),
                    site.role.launcher_class(),
                    site.name
                ),
            );
            Some(site)
        }
        Err(e) => {
            let fix = e.hint().map(str::to_string).unwrap_or_else(|| {
                if e.message().starts_with("cannot read config") {
                    "pass --config with the site's local/resources.json (or a JSON object of the launcher args)".into()
                } else {
                    "fix the launcher args in local/resources.json (or the plain args file)".into()
                }
            });
            list.fail("config", doctor::CONFIG, e.message().to_string(), fix);
            None
        }
    }
}

fn status_word(status: Status) -> &'static str {
    match status {
        Status::Pass => "pass",
        Status::Warn => "warn",
        Status::Fail => "fail",
        Status::Skip => "skip",
    }
}

fn to_json(args: &SiteArgs, list: &Checklist) -> serde_json::Value {
    let checks: Vec<_> = list
        .checks
        .iter()
        .map(|c| {
            json!({
                "id": c.id,
                "group": c.group,
                "status": status_word(c.status),
                "summary": c.summary,
                "fix": c.fix,
            })
        })
        .collect();
    json!({
        "ok": !list.failed(),
        "site": args.site,
        "config": args.config,
        "counts": {
            "pass": list.count(Status::Pass),
            "warn": list.count(Status::Warn),
            "fail": list.count(Status::Fail),
            "skip": list.count(Status::Skip),
        },
        "checks": checks,
    })
}

fn mark(s: &Style, status: Status) -> String {
    match status {
        Status::Pass => s.green("✓"),
        Status::Warn => s.yellow("!"),
        Status::Fail => s.red("✗"),
        Status::Skip => s.dim("-"),
    }
}

fn print_check(s: &Style, c: &Check) {
    let summary = match c.status {
        Status::Skip => s.dim(&c.summary),
        _ => c.summary.clone(),
    };
    println!("  {} {summary}", mark(s, c.status));
    if let Some(fix) = &c.fix {
        let label = if c.status == Status::Fail {
            s.red("fix:")
        } else {
            s.yellow("note:")
        };
        println!("      {label} {fix}");
    }
}

fn print(args: &SiteArgs, list: &Checklist, s: Style) {
    println!(
        "{}",
        s.bold(&format!(
            "berth doctor: site {}, config {}",
            args.site,
            args.config.display()
        ))
    );
    let mut group = "";
    for c in &list.checks {
        if c.group != group {
            group = c.group;
            println!("{}", s.bold(group));
        }
        print_check(&s, c);
    }
    println!();
    let fails = list.count(Status::Fail);
    let warns = list.count(Status::Warn);
    let mut tally = format!(
        "{} checks: {} passed",
        list.checks.len(),
        list.count(Status::Pass)
    );
    if warns > 0 {
        tally.push_str(&format!(", {warns} warning{}", if warns == 1 { "" } else { "s" }));
    }
    if fails > 0 {
        tally.push_str(&format!(", {fails} failed"));
    }
    let skips = list.count(Status::Skip);
    if skips > 0 {
        tally.push_str(&format!(", {skips} skipped"));
    }
    if fails > 0 {
        println!("{}", s.red(&tally));
    } else {
        println!("{}", s.green(&format!("{tally}; the site is ready for berth")));
    }
}
