//! The demo's four jobs: what each one's script does, the outcome it should end with, and
//! how the demo checks from its outputs that it did what it claims.

use super::site::{DemoLayout, DATASET, STUDY};
use berth_core::{JobReturnCode, WORKSPACE_MOUNT};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The file the train job writes into its folder.
pub const RESULT_FILE: &str = "result.txt";
/// The train job's report of what it read (job-stub `probe`).
pub const TRAIN_PROBE: &str = "train-probe.json";
/// The snoop job's report of what it tried (job-stub `probe`).
pub const SNOOP_REPORT: &str = "snoop-report.json";
/// How long the `stopped` job runs before the demo stops it.
pub const STOP_AFTER: Duration = Duration::from_secs(3);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JobKind {
    Train,
    Fail,
    Stopped,
    Snoop,
}

impl JobKind {
    pub const ALL: [JobKind; 4] = [JobKind::Train, JobKind::Fail, JobKind::Stopped, JobKind::Snoop];

    pub fn name(self) -> &'static str {
        match self {
            JobKind::Train => "train",
            JobKind::Fail => "fail",
            JobKind::Stopped => "stopped",
            JobKind::Snoop => "snoop",
        }
    }

    /// One line on what the job is for.
    pub fn purpose(self) -> &'static str {
        match self {
            JobKind::Train => "reads the mounted dataset, writes a result into its job folder",
            JobKind::Fail => "prints an error to stderr and exits 1",
            JobKind::Stopped => "runs until the demo stops it",
            JobKind::Snoop => "tries to read train's folder and to write startup/ and local/",
        }
    }

    pub fn expected(self) -> JobReturnCode {
        match self {
            JobKind::Train | JobKind::Snoop => JobReturnCode::Success,
            JobKind::Fail => JobReturnCode::ExecutionError,
            JobKind::Stopped => JobReturnCode::Aborted,
        }
    }

    /// The job-stub script (see crates/job-stub). `train_job_id` is the train job's folder,
    /// which the snoop job tries to reach.
    pub fn script(self, train_job_id: &str) -> String {
        let dataset = DemoLayout::dataset_in_job();
        let lines: Vec<String> = match self {
            JobKind::Train => vec![
                format!("print loading {dataset}"),
                format!("try-read {dataset}"),
                "sleep 0.6".into(),
                "print epoch 1/3 done".into(),
                "sleep 0.6".into(),
                "print epoch 2/3 done".into(),
                "sleep 0.6".into(),
                "print epoch 3/3 done".into(),
                format!("probe {TRAIN_PROBE} {dataset}"),
                format!("write {RESULT_FILE} demo model trained for 3 epochs on {dataset}"),
                format!("print wrote {RESULT_FILE}"),
            ],
            JobKind::Fail => vec![
                "print loading the model".into(),
                "sleep 1".into(),
                "eprint error: the loss diverged (nan) at step 12; giving up".into(),
                "exit 1".into(),
            ],
            JobKind::Stopped => vec![
                "print waiting for the server's next task".into(),
                "sleep 300".into(),
                "print the demo should have stopped this job by now".into(),
            ],
            JobKind::Snoop => {
                let other = format!("{WORKSPACE_MOUNT}/{train_job_id}");
                vec![
                    "print looking for other jobs and the site's startup kit".into(),
                    format!("try-read {other}"),
                    format!("try-read {other}/{RESULT_FILE}"),
                    format!("try-write {WORKSPACE_MOUNT}/startup/snoop.txt"),
                    format!("try-write {WORKSPACE_MOUNT}/local/snoop.txt"),
                    format!("probe {SNOOP_REPORT} {other} {other}/{RESULT_FILE}"),
                    "sleep 0.5".into(),
                    "print done".into(),
                ]
            }
        };
        let mut script = format!("# berth demo job '{}': {}\n", self.name(), self.purpose());
        for line in lines {
            script.push_str(&line);
            script.push('\n');
        }
        script
    }
}

/// What the demo concluded about one job from its outcome and outputs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verdict {
    pub as_expected: bool,
    /// One line: what the outputs show, or why the job did not do what it should.
    pub detail: String,
    /// The file that best shows what the job did.
    pub output: PathBuf,
}

/// The ended job's facts the verdict is drawn from.
pub struct Ended<'a> {
    pub kind: JobKind,
    pub return_code: Option<JobReturnCode>,
    pub exit_code: Option<i64>,
    pub job_dir: &'a Path,
    pub log_file: &'a Path,
    /// The captured output, when it could be read.
    pub log: Option<&'a str>,
    pub train_job_id: &'a str,
    pub dataset_len: u64,
}

/// `"No such file or directory (os error 2)"` -> `"No such file or directory"`; a
/// `"<path>: <why>"` detail keeps only the why.
fn short_reason(detail: &str) -> String {
    let why = detail.rsplit(": ").next().unwrap_or(detail);
    match why.find(" (os error") {
        Some(i) => why[..i].to_string(),
        None => why.to_string(),
    }
}

fn read_report(path: &Path) -> Result<Value, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("no report at {}: {e}", path.display()))?;
    serde_json::from_str(&text).map_err(|e| format!("unreadable report {}: {e}", path.display()))
}

/// `(ok, detail)` of one attempt in a probe report.
fn attempt<'v>(report: &'v Value, name: &str) -> Option<(bool, &'v str)> {
    let a = report.get("attempts")?.get(name)?;
    Some((a.get("ok")?.as_bool()?, a.get("detail")?.as_str().unwrap_or("")))
}

/// Judge an ended job.
pub fn judge(job: &Ended<'_>) -> Verdict {
    let expected = job.kind.expected();
    let fail = |detail: String, output: &Path| Verdict {
        as_expected: false,
        detail,
        output: output.to_path_buf(),
    };
    match job.return_code {
        Some(code) if code == expected => {}
        Some(code) => {
            return fail(
                format!("expected {}, got {}", expected.name(), code.name()),
                job.log_file,
            )
        }
        None => return fail("did not end".into(), job.log_file),
    }
    match job.kind {
        JobKind::Train => judge_train(job),
        JobKind::Fail => {
            if job.exit_code != Some(1) {
                return fail(
                    format!("expected exit code 1, got {:?}", job.exit_code),
                    job.log_file,
                );
            }
            let said = job
                .log
                .and_then(|l| l.lines().rev().find(|line| line.starts_with("error:")))
                .map(|l| format!("stderr: {l}"))
                .unwrap_or_else(|| "exited 1".into());
            Verdict {
                as_expected: true,
                detail: said,
                output: job.log_file.to_path_buf(),
            }
        }
        JobKind::Stopped => Verdict {
            as_expected: true,
            detail: format!(
                "stopped by the demo after {}s; its container was killed and removed",
                STOP_AFTER.as_secs()
            ),
            output: job.log_file.to_path_buf(),
        },
        JobKind::Snoop => judge_snoop(job),
    }
}

fn judge_train(job: &Ended<'_>) -> Verdict {
    let result = job.job_dir.join(RESULT_FILE);
    let probe = job.job_dir.join(TRAIN_PROBE);
    let fail = |detail: String| Verdict {
        as_expected: false,
        detail,
        output: result.clone(),
    };
    let report = match read_report(&probe) {
        Ok(r) => r,
        Err(e) => return fail(e),
    };
    let dataset = DemoLayout::dataset_in_job();
    let read = match attempt(&report, &format!("read:{dataset}")) {
        Some((true, detail)) => detail.to_string(),
        Some((false, why)) => return fail(format!("could not read {dataset}: {}", short_reason(why))),
        None => return fail(format!("its report has no read of {dataset}")),
    };
    if read != format!("{} bytes", job.dataset_len) {
        return fail(format!(
            "read {read} of {dataset}, the dataset has {} bytes",
            job.dataset_len
        ));
    }
    let target = berth_core::study::data_mount_target(STUDY, DATASET);
    let read_only = report
        .get("mounts")
        .and_then(Value::as_array)
        .and_then(|ms| {
            ms.iter()
                .find(|m| m.get("target").and_then(Value::as_str) == Some(&target))
        })
        .and_then(|m| m.get("ro").and_then(Value::as_bool));
    if read_only != Some(true) {
        return fail(format!("{target} is not mounted read-only"));
    }
    match std::fs::read_to_string(&result) {
        Ok(text) if !text.trim().is_empty() => Verdict {
            as_expected: true,
            detail: format!("read {dataset} ({read}, read-only mount), wrote {RESULT_FILE}"),
            output: result.clone(),
        },
        Ok(_) => fail(format!("{RESULT_FILE} is empty")),
        Err(e) => fail(format!("no {RESULT_FILE}: {e}")),
    }
}

fn judge_snoop(job: &Ended<'_>) -> Verdict {
    let report_path = job.job_dir.join(SNOOP_REPORT);
    let fail = |detail: String| Verdict {
        as_expected: false,
        detail,
        output: report_path.clone(),
    };
    let report = match read_report(&report_path) {
        Ok(r) => r,
        Err(e) => return fail(e),
    };
    let other = format!("{WORKSPACE_MOUNT}/{}", job.train_job_id);
    let checks = [
        (format!("read:{other}"), "read train's folder"),
        (format!("read:{other}/{RESULT_FILE}"), "read train's result"),
        ("write_startup".to_string(), "write startup/"),
        ("write_local".to_string(), "write local/"),
    ];
    let mut refusals = Vec::new();
    for (name, what) in &checks {
        match attempt(&report, name) {
            Some((false, why)) => refusals.push(format!("{what} ({})", short_reason(why))),
            Some((true, detail)) => return fail(format!("NOT refused: could {what}: {detail}")),
            None => return fail(format!("its report has no attempt '{name}'")),
        }
    }
    match attempt(&report, "other_entries") {
        Some((true, "")) => {}
        Some((true, seen)) => return fail(format!("NOT isolated: it sees other workspace entries: {seen}")),
        Some((false, why)) => return fail(format!("could not list the workspace root: {why}")),
        None => return fail("its report has no workspace listing".into()),
    }
    if report.get("docker_socket").and_then(Value::as_bool) != Some(false) {
        return fail("NOT isolated: the engine socket is visible in the job".into());
    }
    // The job's own try-read / try-write lines must agree with its report.
    if let Some(log) = job.log {
        if let Some(line) = log
            .lines()
            .find(|l| (l.starts_with("try-read ") || l.starts_with("try-write ")) && l.contains(": ok"))
        {
            return fail(format!("NOT refused: {line}"));
        }
    }
    Verdict {
        as_expected: true,
        detail: format!("refused: {}; sees no other job", refusals.join(", ")),
        output: report_path.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reasons_are_short() {
        assert_eq!(
            short_reason("/var/tmp/nvflare/workspace/startup/probe-1: Read-only file system (os error 30)"),
            "Read-only file system"
        );
        assert_eq!(
            short_reason("No such file or directory (os error 2)"),
            "No such file or directory"
        );
    }

    #[test]
    fn the_snoop_script_names_the_train_folder() {
        let script = JobKind::Snoop.script("train-abc");
        assert!(script.contains("try-read /var/tmp/nvflare/workspace/train-abc\n"));
        assert!(script.contains("probe snoop-report.json /var/tmp/nvflare/workspace/train-abc "));
    }

    fn snoop_report(read_ok: bool) -> String {
        let other = "/var/tmp/nvflare/workspace/train-1";
        serde_json::json!({
            "docker_socket": false,
            "mounts": [],
            "attempts": {
                "write_startup": {"ok": false, "detail": "x: Read-only file system (os error 30)"},
                "write_local": {"ok": false, "detail": "x: Read-only file system (os error 30)"},
                "other_entries": {"ok": true, "detail": ""},
                (format!("read:{other}")): {"ok": read_ok, "detail": if read_ok { "3 entries" } else { "No such file or directory (os error 2)" }},
                (format!("read:{other}/result.txt")): {"ok": false, "detail": "No such file or directory (os error 2)"},
            }
        })
        .to_string()
    }

    fn judge_snoop_with(report: &str, log: Option<&str>) -> Verdict {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(SNOOP_REPORT), report).unwrap();
        let log_file = dir.path().join("snoop.log");
        judge(&Ended {
            kind: JobKind::Snoop,
            return_code: Some(JobReturnCode::Success),
            exit_code: Some(0),
            job_dir: dir.path(),
            log_file: &log_file,
            log,
            train_job_id: "train-1",
            dataset_len: 0,
        })
    }

    #[test]
    fn snoop_passes_only_when_every_attempt_was_refused() {
        let v = judge_snoop_with(&snoop_report(false), None);
        assert!(v.as_expected, "{v:?}");
        assert!(
            v.detail.contains("write startup/ (Read-only file system)"),
            "{v:?}"
        );

        let v = judge_snoop_with(&snoop_report(true), None);
        assert!(!v.as_expected);
        assert!(v.detail.contains("NOT refused"), "{v:?}");

        let log = "try-write /var/tmp/nvflare/workspace/startup/snoop.txt: ok\n";
        let v = judge_snoop_with(&snoop_report(false), Some(log));
        assert!(!v.as_expected, "{v:?}");
    }

    #[test]
    fn a_wrong_return_code_is_reported() {
        let dir = tempfile::tempdir().unwrap();
        let log_file = dir.path().join("fail.log");
        let v = judge(&Ended {
            kind: JobKind::Fail,
            return_code: Some(JobReturnCode::Success),
            exit_code: Some(0),
            job_dir: dir.path(),
            log_file: &log_file,
            log: None,
            train_job_id: "t",
            dataset_len: 0,
        });
        assert!(!v.as_expected);
        assert_eq!(v.detail, "expected EXECUTION_ERROR, got SUCCESS");
    }
}
