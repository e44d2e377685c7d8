//! Nothing lost, on a real engine, driving the `berth` binary: launcher processes killed
//! with SIGKILL (also between "container exited" and "outcome written"), `berth recover`
//! recording the exact outcomes afterwards, two CLI processes sharing one site's store,
//! job output kept in `berth-job.log`, retention, a corrupted store rebuilt from labels, and
//! an engine that cannot be reached or hangs (exit 3, nothing recorded), a closed stdout and
//! Ctrl-C.
//!
//! These tests need Docker: without a reachable engine they are reported ignored, unless
//! `BERTH_REQUIRE_DOCKER=1`, where they fail. Each test has its own site name, temporary
//! workspace, network and stub image; a guard removes every container labelled with the
//! site, the network and the image when the test ends, also when it fails.

use berth_core::labels;
use berth_engine::docker::DockerRuntime;
use berth_engine::{ContainerRuntime, EngineError, LabelFilter};
use berth_store::SqliteStore;
use berth_testkit::LiveSite;
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// Generous deadline for anything on a loaded 2-core machine.
const DEADLINE: Duration = Duration::from_secs(90);

/// One test's site ([`LiveSite`]: workspace, network, image, every container labelled with
/// the site removed at the end), its launcher config file and a runtime to drive the engine.
struct CliSite {
    // Drop order: the site (containers, network, image, folder), then the runtime.
    live: LiveSite,
    site: String,
    image: String,
    config: PathBuf,
    engine: DockerRuntime,
    runtime: tokio::runtime::Runtime,
}

impl CliSite {
    fn new(engine: DockerRuntime, extra_site_args: Value) -> Self {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        let live = runtime.block_on(LiveSite::new(engine.clone(), extra_site_args));
        let config = live.root().join("launcher.json");
        std::fs::write(&config, live.site_args.to_string()).expect("config");
        Self {
            site: live.site.clone(),
            image: live.image.clone(),
            live,
            config,
            engine,
            runtime,
        }
    }

    fn root(&self) -> &Path {
        self.live.root()
    }

    fn job_dir(&self, job: &str) -> PathBuf {
        self.root().join(job)
    }

    fn log_file(&self, job: &str) -> PathBuf {
        self.job_dir(job).join("berth-job.log")
    }

    /// Writes the job folder (with its `stub.script`), its meta.json and args file.
    fn job(&self, job: &str, script: &str) {
        self.live.write_job(job, script);
        let meta = self.live.job_meta(job, &self.image);
        std::fs::write(self.inputs(job, "meta.json"), meta.to_string()).expect("meta");
        let args = self.live.client_args(job);
        std::fs::write(self.inputs(job, "args.json"), args.to_string()).expect("args");
    }

    /// Launch inputs live outside the job folder.
    fn inputs(&self, job: &str, file: &str) -> PathBuf {
        let dir = self.root().join(".inputs").join(job);
        std::fs::create_dir_all(&dir).expect("inputs folder");
        dir.join(file)
    }

    /// `berth <cmd> <site args> <rest>`.
    fn berth(&self, cmd: &str, rest: &[&str]) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_berth"));
        c.arg(cmd)
            .arg("--config")
            .arg(&self.config)
            .args(["--site", &self.site, "--role", "client", "--parent-root"])
            .arg(self.root())
            .args(rest)
            .env_remove("NVFL_DOCKER_WORKSPACE")
            .env_remove("BERTH_TEST_HOLD_BEFORE_RECORD")
            .stdin(Stdio::null());
        c
    }

    fn run(&self, cmd: &str, rest: &[&str]) -> Output {
        self.berth(cmd, rest).output().expect("run berth")
    }

    /// `berth launch` of a job written with `script`; returns the container id.
    fn launch(&self, job: &str, script: &str) -> String {
        self.job(job, script);
        let meta = self.inputs(job, "meta.json");
        let args = self.inputs(job, "args.json");
        let out = self.run(
            "launch",
            &["--job", meta.to_str().unwrap(), "--args", args.to_str().unwrap()],
        );
        assert!(out.status.success(), "launch {job}: {}", text(&out.stderr));
        let v: Value = serde_json::from_slice(&out.stdout).expect("launch JSON");
        v["container_id"].as_str().expect("container id").to_string()
    }

    fn recover_json(&self) -> (Value, String) {
        let out = self.run("recover", &["--json"]);
        let stderr = text(&out.stderr);
        assert!(out.status.success(), "recover: {stderr}");
        (serde_json::from_slice(&out.stdout).expect("recover JSON"), stderr)
    }

    /// The engine's status of a container, `None` once it is gone.
    fn status(&self, id: &str) -> Option<String> {
        match self.runtime.block_on(self.engine.inspect(id)) {
            Ok(st) => Some(st.status),
            Err(EngineError::NotFound(_)) => None,
            Err(e) => panic!("inspect {id}: {e}"),
        }
    }

    fn until(&self, what: &str, mut cond: impl FnMut() -> bool) {
        let start = Instant::now();
        while !cond() {
            assert!(start.elapsed() < DEADLINE, "timed out waiting for {what}");
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn store(&self) -> SqliteStore {
        SqliteStore::open(&berth_store::default_path(self.root()))
            .expect("open store")
            .0
    }
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn recovered<'a>(report: &'a Value, container_id: &str) -> &'a Value {
    report["jobs"]
        .as_array()
        .expect("jobs")
        .iter()
        .find(|j| j["container_id"] == container_id)
        .unwrap_or_else(|| panic!("{container_id} not in {report:#}"))
}

/// Job id, exit code, expected return code.
const CODES: [(&str, i64, i64); 4] = [
    ("job-ok", 0, 0),
    ("job-fail", 1, 1),
    ("job-abort", 9, 9),
    ("job-three", 3, 1),
];

fn kill(children: Vec<Child>) {
    for mut child in children {
        // std's kill is SIGKILL on Unix.
        child.kill().expect("SIGKILL");
        let status = child.wait().expect("reap");
        assert!(
            !status.success(),
            "the launcher process was killed, not finished: {status:?}"
        );
    }
}

/// The four jobs end while no launcher runs; `berth recover` reports each exact code and
/// removes the containers; `berth wait` then answers from the store.
fn assert_recovered_exactly(site: &CliSite, ids: &[String]) {
    let store = site.store();
    for ((job, _, _), id) in CODES.iter().zip(ids) {
        assert_eq!(site.status(id).as_deref(), Some("exited"), "{job}");
        let entry = store
            .launch_by_job(job, &site.site)
            .unwrap()
            .expect("launch recorded");
        assert_eq!(entry.outcome, None, "{job}: nobody recorded it yet");
    }
    let started = Instant::now();
    let (report, _) = site.recover_json();
    eprintln!("berth recover took {:?}", started.elapsed());
    for ((job, exit, rc), id) in CODES.iter().zip(ids) {
        let j = recovered(&report, id);
        assert_eq!(j["action"], "recorded", "{job}: {j:#}");
        assert_eq!(j["outcome"]["return_code"], *rc, "{job}: {j:#}");
        assert_eq!(j["outcome"]["exit_code"], *exit, "{job}: {j:#}");
        assert_eq!(j["outcome"]["observed_by"], "recovery", "{job}");
        assert_eq!(site.status(id), None, "{job}: container removed");
        let out = site.run("wait", &[job]);
        assert_eq!(
            out.status.code(),
            Some(*rc as i32),
            "{job}: {}",
            text(&out.stderr)
        );
    }
    assert!(store.pending_launches(&site.site).unwrap().is_empty());
}

fn sigkilled_launchers_then_recover_reports_exact_codes(engine: DockerRuntime) {
    let site = CliSite::new(engine, json!({}));
    let t0 = Instant::now();
    let ids: Vec<String> = CODES
        .iter()
        .map(|(job, exit, _)| site.launch(job, &format!("sleep 12\nexit {exit}")))
        .collect();
    // The launcher processes that follow the jobs.
    let waiters: Vec<Child> = CODES
        .iter()
        .map(|(job, _, _)| {
            site.berth("wait", &[job])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("spawn wait")
        })
        .collect();
    std::thread::sleep(Duration::from_millis(1500));
    for (id, (job, _, _)) in ids.iter().zip(CODES) {
        assert_eq!(
            site.status(id).as_deref(),
            Some("running"),
            "{job} still runs at the kill"
        );
    }
    kill(waiters);
    site.until("all jobs exited", || {
        ids.iter().all(|id| site.status(id).as_deref() == Some("exited"))
    });
    assert_recovered_exactly(&site, &ids);
    eprintln!("sigkill test took {:?}", t0.elapsed());
}

fn sigkill_between_exit_and_outcome_then_recover_reports_exact_codes(engine: DockerRuntime) {
    let site = CliSite::new(engine, json!({}));
    let t0 = Instant::now();
    let ids: Vec<String> = CODES
        .iter()
        .map(|(job, exit, _)| site.launch(job, &format!("sleep 3\nexit {exit}")))
        .collect();
    let markers: Vec<PathBuf> = CODES
        .iter()
        .map(|(job, _, _)| site.root().join(format!(".hold-{job}")))
        .collect();
    let waiters: Vec<Child> = CODES
        .iter()
        .zip(&markers)
        .map(|((job, _, _), marker)| {
            site.berth("wait", &[job])
                .env("BERTH_TEST_HOLD_BEFORE_RECORD", marker)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("spawn wait")
        })
        .collect();
    // Each launcher has seen its container exit and holds before recording.
    site.until("every launcher saw its job end", || {
        markers.iter().all(|m| m.exists())
    });
    kill(waiters);
    assert_recovered_exactly(&site, &ids);
    eprintln!("kill-before-record test took {:?}", t0.elapsed());
}

fn two_cli_processes_on_one_site_leave_a_consistent_store(engine: DockerRuntime) {
    let site = CliSite::new(engine, json!({}));
    let t0 = Instant::now();
    let plan: Vec<Vec<(String, i64)>> = (0..2)
        .map(|p| {
            (0..3)
                .map(|i| (format!("job-p{p}-{i}"), (p * 3 + i) as i64 % 4))
                .collect()
        })
        .collect();
    std::thread::scope(|scope| {
        for jobs in &plan {
            let site = &site;
            scope.spawn(move || {
                for (job, exit) in jobs {
                    site.launch(job, &format!("sleep 0.5\nexit {exit}"));
                }
                for (job, exit) in jobs {
                    let out = site.run("wait", &[job]);
                    let rc = match exit {
                        0 => 0,
                        9 => 9,
                        _ => 1,
                    };
                    assert_eq!(out.status.code(), Some(rc), "{job}: {}", text(&out.stderr));
                }
            });
        }
    });
    let store = site.store();
    let history = store
        .launches(&berth_store::LaunchFilter {
            site: Some(site.site.clone()),
            ..Default::default()
        })
        .unwrap();
    assert_eq!(history.len(), 6, "{history:#?}");
    for entry in &history {
        let outcome = entry.outcome.as_ref().expect("every launch has its outcome");
        let exit = plan
            .iter()
            .flatten()
            .find(|(j, _)| *j == entry.launch.job_id)
            .map(|(_, e)| *e)
            .unwrap();
        assert_eq!(outcome.exit_code, Some(exit), "{}", entry.launch.job_id);
        assert_eq!(site.status(&entry.launch.container_id), None);
    }
    eprintln!("two-process test took {:?}", t0.elapsed());
}

fn output_of_a_job_that_fails_at_once_is_kept_after_its_container_is_gone(engine: DockerRuntime) {
    let site = CliSite::new(engine, json!({}));
    let id = site.launch("job-crash", "print hello-from-the-job\neprint dying-now\nexit 1");
    let out = site.run("wait", &["job-crash"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    assert_eq!(site.status(&id), None, "container removed");
    let kept = std::fs::read_to_string(site.log_file("job-crash")).expect("berth-job.log");
    assert!(
        kept.contains("hello-from-the-job") && kept.contains("dying-now"),
        "{kept}"
    );
    let out = site.run("logs", &["job-crash"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("hello-from-the-job"));

    // While the container exists, from the engine; -f follows until it stops.
    let id = site.launch("job-talk", "print early\nsleep 2\nprint late\nexit 0");
    let started = Instant::now();
    let out = site.run("logs", &["-f", "job-talk"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let followed = text(&out.stdout);
    assert!(
        followed.contains("early") && followed.contains("late"),
        "{followed}"
    );
    assert!(
        started.elapsed() >= Duration::from_millis(500),
        "followed until the end"
    );
    assert_eq!(site.status(&id).as_deref(), Some("exited"));
    assert_eq!(site.run("wait", &["job-talk"]).status.code(), Some(0));
    let out = site.run("logs", &["job-talk"]);
    assert!(text(&out.stdout).contains("late"), "from the file after removal");
}

fn retention_keeps_a_failed_container_then_recover_removes_it(engine: DockerRuntime) {
    // 0.002 h = 7.2 s.
    let site = CliSite::new(engine, json!({"keep_failed_containers_hours": 0.002}));
    let failed = site.launch("job-bad", "print kept-for-debugging\nexit 1");
    let ok = site.launch("job-good", "exit 0");
    assert_eq!(site.run("wait", &["job-bad"]).status.code(), Some(1));
    assert_eq!(site.run("wait", &["job-good"]).status.code(), Some(0));
    assert_eq!(site.status(&ok), None, "a succeeded job is not kept");
    assert_eq!(site.status(&failed).as_deref(), Some("exited"), "kept");
    let kept = std::fs::read_to_string(site.log_file("job-bad")).expect("output kept already");
    assert!(kept.contains("kept-for-debugging"));

    let (report, _) = site.recover_json();
    assert_eq!(recovered(&report, &failed)["action"], "kept", "{report:#}");
    assert_eq!(site.status(&failed).as_deref(), Some("exited"));

    let finished = site
        .runtime
        .block_on(site.engine.inspect(&failed))
        .unwrap()
        .finished_at
        .and_then(|f| berth_store::time::unix_ms_from_rfc3339(&f))
        .expect("FinishedAt");
    let now = berth_store::time::now_ms();
    let left = (finished + 7_200 - now).max(0) as u64;
    eprintln!("waiting {left} ms for the retention period to end");
    std::thread::sleep(Duration::from_millis(left + 300));
    let (report, _) = site.recover_json();
    assert_eq!(recovered(&report, &failed)["action"], "swept", "{report:#}");
    assert_eq!(site.status(&failed), None, "removed after the period");
    let listed = site
        .runtime
        .block_on(
            site.engine
                .list(&[LabelFilter::eq(labels::SITE, &site.site)], true),
        )
        .unwrap();
    assert!(listed.is_empty(), "nothing left behind: {listed:?}");
}

fn corrupted_store_is_rebuilt_and_recover_records_outcomes_from_labels(engine: DockerRuntime) {
    let site = CliSite::new(engine, json!({}));
    let id = site.launch("job-five", "sleep 1\nexit 5");
    site.until("job exited", || site.status(&id).as_deref() == Some("exited"));

    let path = berth_store::default_path(site.root());
    let junk = berth_testkit::noise(8192, u64::from(std::process::id()));
    std::fs::write(&path, junk).expect("corrupt the store");

    let (report, stderr) = site.recover_json();
    assert!(
        stderr.contains("damaged") && stderr.contains("rebuilt"),
        "{stderr}"
    );
    let j = recovered(&report, &id);
    assert_eq!(j["action"], "recorded", "{j:#}");
    assert_eq!(j["launch_rebuilt"], true, "{j:#}");
    assert_eq!(j["outcome"]["exit_code"], 5);
    assert_eq!(j["outcome"]["return_code"], 1);
    assert_eq!(site.status(&id), None);
    let entry = site
        .store()
        .launch_by_job("job-five", &site.site)
        .unwrap()
        .expect("launch rebuilt from labels");
    assert_eq!(entry.launch.image, site.image);
    assert_eq!(entry.outcome.expect("outcome").exit_code, Some(5));
    let moved = std::fs::read_dir(path.parent().unwrap())
        .unwrap()
        .filter_map(|e| e.ok())
        .any(|e| e.file_name().to_string_lossy().starts_with("state.db.corrupt-"));
    assert!(moved, "the damaged file is kept aside");
}

// ---- engine faults at the CLI (DESIGN decision 13) --------------------------------------

/// A socket that accepts connections and never answers: a hung engine. Its thread lives
/// as long as the test process; the socket goes with the test's folder.
fn hung_engine(path: &Path) -> String {
    let listener = std::os::unix::net::UnixListener::bind(path).expect("bind the hung socket");
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for conn in listener.incoming().flatten() {
            held.push(conn);
        }
    });
    format!("unix://{}", path.display())
}

/// Runs `berth <cmd>` against the engine at `docker_host`; its output and how long it took.
fn run_against(site: &CliSite, docker_host: &str, cmd: &str, rest: &[&str]) -> (Output, Duration) {
    let started = Instant::now();
    let out = site
        .berth(cmd, rest)
        .env("DOCKER_HOST", docker_host)
        .output()
        .expect("run berth");
    (out, started.elapsed())
}

// An engine that cannot be reached (no socket) or does not answer (hung): status, stop,
// wait, logs, ps and recover each exit 3 with the engine error, within the site's
// engine_timeout (2 s here) plus start-up; nothing is recorded and
// the job keeps running. Once the engine answers again, everything works.
fn an_engine_that_cannot_be_reached_or_hangs_is_exit_3_and_records_nothing(engine: DockerRuntime) {
    let site = CliSite::new(engine, json!({}));
    let id = site.launch("outage", "sleep 300");
    // Short deadlines for the faulty engines only: a real launch on a loaded shared engine
    // may take longer than 2 s.
    let config = std::fs::read_to_string(&site.config).expect("config");
    let mut short: Value = serde_json::from_str(&config).expect("config JSON");
    short["engine_timeout"] = json!(2);
    short["engine_outage_limit"] = json!(2);
    std::fs::write(&site.config, short.to_string()).expect("config");
    let missing = format!("unix://{}", site.root().join("no-engine.sock").display());
    let hung = hung_engine(&site.root().join("hung-engine.sock"));
    let commands: [(&str, &[&str]); 6] = [
        ("status", &["outage"]),
        ("stop", &["outage"]),
        ("wait", &["outage"]),
        ("logs", &["outage"]),
        ("ps", &["--all"]),
        ("recover", &[]),
    ];
    for (host, expect) in [(&missing, "no engine socket"), (&hung, "within 2s")] {
        for (cmd, rest) in commands {
            let (out, took) = run_against(&site, host, cmd, rest);
            let stderr = text(&out.stderr);
            eprintln!(
                "{cmd} against {host}: exit {:?} after {took:?}: {}",
                out.status.code(),
                stderr.trim()
            );
            assert_eq!(out.status.code(), Some(3), "{cmd}: {stderr}");
            assert!(stderr.contains("cannot reach the engine"), "{cmd}: {stderr}");
            assert!(stderr.contains(expect), "{cmd}: {stderr}");
            assert!(
                stderr.contains(host.as_str()),
                "{cmd} should name the engine: {stderr}"
            );
            assert!(!text(&out.stdout).contains("vanished"), "{cmd}");
            assert!(took < Duration::from_secs(60), "{cmd} took {took:?}");
        }
    }
    assert_eq!(
        site.status(&id).as_deref(),
        Some("running"),
        "the job kept running"
    );
    let entry = site
        .store()
        .launch_by_job("outage", &site.site)
        .unwrap()
        .expect("launch recorded");
    assert_eq!(entry.outcome, None, "nothing recorded from an engine error");

    std::fs::write(&site.config, config).expect("config");
    let out = site.run("stop", &["outage"]);
    assert!(out.status.success(), "stop: {}", text(&out.stderr));
    let v: Value = serde_json::from_slice(&out.stdout).expect("stop JSON");
    assert_eq!(v["outcome"]["return_code_name"], "ABORTED", "{v:#}");
    site.until("the stopped container is removed", || site.status(&id).is_none());
    let (report, _) = site.recover_json();
    assert!(report["jobs"].as_array().unwrap().is_empty(), "{report:#}");
}

// A reader that closes stdout ends the command quietly (no panic, no error text), and
// Ctrl-C ends `berth wait` with 130 while the job keeps running.
fn a_closed_stdout_is_quiet_and_ctrl_c_exits_130(engine: DockerRuntime) {
    let site = CliSite::new(engine, json!({}));
    let id = site.launch("hygiene", "sleep 300");

    // `berth ps --all --json | head -c1` and `berth status J | true`, with berth's status.
    let berth = env!("CARGO_BIN_EXE_berth");
    let args = format!(
        "--config '{}' --site '{}' --role client --parent-root '{}'",
        site.config.display(),
        site.site,
        site.root().display()
    );
    for pipeline in [
        format!("'{berth}' ps --all --json {args} | head -c1 >/dev/null"),
        format!("'{berth}' status hygiene {args} | true"),
    ] {
        let out = Command::new("bash")
            .arg("-c")
            .arg(format!("{pipeline}; echo \"berth exit ${{PIPESTATUS[0]}}\" >&2"))
            .env_remove("NVFL_DOCKER_WORKSPACE")
            .output()
            .expect("bash");
        let stderr = text(&out.stderr);
        eprintln!("{pipeline}: {}", stderr.trim());
        assert!(!stderr.contains("panicked"), "{pipeline}: {stderr}");
        assert!(!stderr.contains("Broken pipe"), "{pipeline}: {stderr}");
        let status = stderr
            .lines()
            .find_map(|l| l.strip_prefix("berth exit "))
            .expect("berth's exit status");
        assert!(status == "0" || status == "141", "{pipeline}: exit {status}");
    }

    let mut waiter = site
        .berth("wait", &["hygiene"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("berth wait");
    std::thread::sleep(Duration::from_secs(2));
    let sent = Command::new("kill")
        .args(["-INT", &waiter.id().to_string()])
        .status()
        .expect("kill -INT");
    assert!(sent.success());
    let started = Instant::now();
    let status = loop {
        if let Some(status) = waiter.try_wait().expect("try_wait") {
            break status;
        }
        assert!(started.elapsed() < DEADLINE, "berth wait ignored SIGINT");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(status.code(), Some(130), "{status:?}");
    assert_eq!(
        site.status(&id).as_deref(),
        Some("running"),
        "the job keeps running"
    );
    let entry = site
        .store()
        .launch_by_job("hygiene", &site.site)
        .unwrap()
        .unwrap();
    assert_eq!(entry.outcome, None);
    let out = site.run("stop", &["hygiene"]);
    assert!(out.status.success(), "stop: {}", text(&out.stderr));
}

/// DESIGN decision 15, checked from inside a real job container: berth's own Python files
/// are on the job's PYTHONPATH (last), from `<workspace>/.berth-python` mounted read-only,
/// and that folder holds the package files and nothing else; the state store is not there.
fn a_job_sees_berth_python_files_read_only_and_nothing_else(engine: DockerRuntime) {
    let site = CliSite::new(engine, json!({}));
    let target = berth_core::BERTH_PYTHON_TARGET;
    let script = format!(
        "probe probe.json {target}/berth/nvflare.py {target}/berth/_contract.py\n\
         try-read {target}\ntry-read {target}/berth\ntry-write {target}/berth/planted.py\n\
         try-read {target}/.berth\nexit 0"
    );
    site.launch("job-py", &script);
    let out = site.run("wait", &["job-py"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));

    let probe: Value = serde_json::from_str(
        &std::fs::read_to_string(site.job_dir("job-py").join("probe.json")).expect("probe"),
    )
    .expect("probe JSON");
    let host_dir = site.root().join(berth_core::BERTH_PYTHON_DIR);
    let mount = probe["mounts"]
        .as_array()
        .expect("mounts")
        .iter()
        .find(|m| m["target"] == target)
        .unwrap_or_else(|| panic!("no mount at {target}: {probe:#}"));
    assert_eq!(mount["ro"], true, "{mount:#}");
    let pythonpath = probe["env"]["PYTHONPATH"].as_str().expect("PYTHONPATH");
    assert!(pythonpath.ends_with(&format!(":{target}")), "{pythonpath}");
    for name in ["nvflare.py", "_contract.py"] {
        let attempt = &probe["attempts"][format!("read:{target}/berth/{name}")];
        assert_eq!(attempt["ok"], true, "{name}: {attempt:#}");
        let on_host = std::fs::metadata(host_dir.join("berth").join(name))
            .expect("host file")
            .len();
        assert!(
            attempt["detail"]
                .as_str()
                .unwrap_or("")
                .contains(&on_host.to_string()),
            "{name}: the job reads the host's file ({on_host} bytes): {attempt:#}"
        );
    }

    let log = std::fs::read_to_string(site.log_file("job-py")).expect("berth-job.log");
    assert!(log.contains(&format!("try-read {target}: ok 1 entries")), "{log}");
    assert!(
        log.contains(&format!("try-read {target}/berth: ok 3 entries")),
        "{log}"
    );
    assert!(
        log.contains(&format!("try-write {target}/berth/planted.py: error")),
        "{log}"
    );
    assert!(log.contains(&format!("try-read {target}/.berth: error")), "{log}");
    assert!(!host_dir.join("berth/planted.py").exists());
    assert_eq!(
        std::fs::read_to_string(host_dir.join("berth/_contract.py")).expect("contract"),
        berth_launcher::pyfiles::contract_module()
    );
}

berth_testkit::test_main!(
    sigkilled_launchers_then_recover_reports_exact_codes,
    sigkill_between_exit_and_outcome_then_recover_reports_exact_codes,
    two_cli_processes_on_one_site_leave_a_consistent_store,
    output_of_a_job_that_fails_at_once_is_kept_after_its_container_is_gone,
    retention_keeps_a_failed_container_then_recover_removes_it,
    corrupted_store_is_rebuilt_and_recover_records_outcomes_from_labels,
    an_engine_that_cannot_be_reached_or_hangs_is_exit_3_and_records_nothing,
    a_closed_stdout_is_quiet_and_ctrl_c_exits_130,
    a_job_sees_berth_python_files_read_only_and_nothing_else,
);
