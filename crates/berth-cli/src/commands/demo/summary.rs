//! The end of a demo run: the JSON summary and the table.

use super::*;

pub(super) fn summary_json(demo: &DemoRun, cleaned: &Cleaned, keep: bool) -> serde_json::Value {
    let jobs: Vec<_> = demo
        .reports
        .iter()
        .map(|r| {
            json!({
                "job": r.kind.name(),
                "job_id": r.job_id,
                "container_name": r.container_name,
                "expected": r.kind.expected().name(),
                "return_code": r.return_code.map(|c| c.code()),
                "return_code_name": r.return_code.map(|c| c.name()),
                "exit_code": r.exit_code,
                "duration_ms": r.took.as_millis() as u64,
                "as_expected": r.verdict.as_expected,
                "detail": r.verdict.detail,
                "output": r.verdict.output,
            })
        })
        .collect();
    json!({
        "ok": demo.reports.iter().all(|r| r.verdict.as_expected),
        "site": SITE,
        "engine": {
            "endpoint": demo.endpoint,
            "platform": demo.engine.platform,
            "version": demo.engine.engine_version,
            "api_version": demo.engine.api_version,
        },
        "workdir": demo.layout.root,
        "workspace": demo.layout.workspace,
        "kept": keep,
        "image": {"tag": demo.image, "imported": demo.image_imported, "removed": cleaned.image_removed},
        "network": {"name": demo.network, "created": demo.network_created, "removed": cleaned.network_removed},
        "jobs": jobs,
        "cleanup": {
            "containers_removed": cleaned.containers_removed,
            "workdir_removed": cleaned.workdir_removed,
            "problems": cleaned.problems,
        },
    })
}

pub(super) fn print_summary(demo: &DemoRun, cleaned: &Cleaned, cmd: &DemoCmd, s: Style) {
    println!();
    println!(
        "{}",
        s.bold(&format!(
            "{} {} {} OUTPUT",
            pad("JOB", 8),
            pad("OUTCOME", 26),
            pad("DURATION", 9)
        ))
    );
    for r in &demo.reports {
        let outcome = outcome_text(r.return_code, r.exit_code);
        let (mark, painted) = if r.verdict.as_expected {
            (s.green("✓"), s.green(&pad(&outcome, 24)))
        } else {
            (s.red("✗"), s.red(&pad(&outcome, 24)))
        };
        println!(
            "{} {mark} {painted} {} {}",
            pad(r.kind.name(), 8),
            pad(&human_duration(r.took.as_millis() as i64), 9),
            r.verdict.output.display()
        );
        let detail = if r.verdict.as_expected {
            s.dim(&r.verdict.detail)
        } else {
            s.red(&format!(
                "expected {}: {}",
                r.kind.expected().name(),
                r.verdict.detail
            ))
        };
        println!("           {detail}");
    }
    if cmd.verbose {
        for r in &demo.reports {
            println!();
            println!(
                "{}",
                s.bold(&format!("output of {} ({}):", r.kind.name(), r.container_name))
            );
            match &r.log {
                Some(log) if !log.trim().is_empty() => {
                    for line in log.lines() {
                        println!("  | {line}");
                    }
                }
                _ => println!("  (none captured)"),
            }
        }
    }
    println!();
    let bad: Vec<&JobReport> = demo.reports.iter().filter(|r| !r.verdict.as_expected).collect();
    if bad.is_empty() {
        println!(
            "{}",
            s.green(&format!("All {} jobs ended as expected.", demo.reports.len()))
        );
    } else {
        let names: Vec<&str> = bad.iter().map(|r| r.kind.name()).collect();
        println!(
            "{}",
            s.red(&format!(
                "{} of {} jobs did not end as expected: {}",
                bad.len(),
                demo.reports.len(),
                names.join(", ")
            ))
        );
    }
    if cmd.keep {
        println!("Kept the site at {}.", demo.layout.root.display());
        println!(
            "  check it:  berth doctor --config {} --site {SITE}",
            demo.layout.resources_json().display()
        );
        let mut removal = vec![format!("rm -rf {}", demo.layout.root.display())];
        if demo.network_created {
            removal.push(format!("docker network rm {}", demo.network));
        }
        if demo.image_imported {
            removal.push(format!("docker rmi {}", demo.image));
        }
        println!("  remove it: {}", removal.join("; "));
    } else {
        let mut what = vec![format!("{} containers", cleaned.containers_removed)];
        if cleaned.network_removed {
            what.push(format!("network {}", demo.network));
        }
        if cleaned.image_removed {
            what.push(format!("image {}", demo.image));
        }
        if cleaned.workdir_removed {
            what.push(demo.layout.root.display().to_string());
        }
        println!("Cleaned up: {}.", what.join(", "));
        println!(
            "{}",
            s.dim("The outputs above were in the work dir; run with --keep to look at them.")
        );
    }
    for p in &cleaned.problems {
        eprintln!("warning: cleanup: {p}");
    }
}
