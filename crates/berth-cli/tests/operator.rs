//! What a site admin meets in the first hour, run as they would run it (the built binary):
//! which workspace each command reads and says it reads, doctor agreeing with launch, input
//! errors at plan time, error texts, `--json`, `ps` keeping to its workspace, completions and
//! the man page. Tests that need an engine are reported ignored without one (failed with
//! `BERTH_REQUIRE_DOCKER=1`);
//! their Docker objects have unique names and are removed even when a test fails.
//!
//! The parent container's workspace mount (`/var/tmp/nvflare/workspace`) is stood in for by a
//! temp folder through `BERTH_TEST_PARENT_MOUNT`, so no test touches the real path.

use berth_engine::docker::DockerRuntime;
use berth_engine::{ContainerRuntime, LabelFilter};
use berth_testkit::{block_on, unique_name, Cleanup};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::process::Command;

const BERTH: &str = env!("CARGO_BIN_EXE_berth");
const PARENT_MOUNT_ENV: &str = "BERTH_TEST_PARENT_MOUNT";

/// `berth` with none of the caller's site settings, and the parent mount pointed at `mount`.
fn berth(mount: &Path, args: &[&str]) -> Command {
    let mut cmd = Command::new(BERTH);
    cmd.args(args)
        .env("NO_COLOR", "1")
        .env(PARENT_MOUNT_ENV, mount)
        .env_remove("BERTH_CONFIG")
        .env_remove("BERTH_SITE")
        .env_remove("BERTH_PARENT_ROOT")
        .env_remove("NVFL_DOCKER_WORKSPACE");
    cmd
}

fn run(cmd: &mut Command) -> (i32, String, String) {
    berth_testkit::run_output(cmd)
}

/// A site workspace in NVFlare's layout: startup/, local/resources.json naming itself as the
/// host workspace, an optional study runtime file, and job folders.
struct Workspace {
    root: PathBuf,
}

impl Workspace {
    fn new(parent: &Path, name: &str, network: &str) -> Self {
        let root = parent.join(name);
        std::fs::create_dir_all(root.join("startup")).unwrap();
        std::fs::create_dir_all(root.join("local")).unwrap();
        std::fs::write(root.join("startup/fed_client.json"), "{}\n").unwrap();
        let ws = Self { root };
        ws.write_config(json!({"workspace": ws.root, "network": network}));
        ws
    }

    fn write_config(&self, args: Value) {
        let config = json!({"format_version": 2, "components": [{
            "id": "docker_launcher",
            "path": "nvflare.app_opt.job_launcher.docker_launcher.ClientDockerJobLauncher",
            "args": args,
        }]});
        std::fs::write(self.config(), config.to_string()).unwrap();
    }

    fn config(&self) -> PathBuf {
        self.root.join("local/resources.json")
    }

    fn config_arg(&self) -> String {
        self.config().display().to_string()
    }

    fn study_runtime(&self, text: &str) {
        std::fs::write(self.root.join("local/study_runtime.yaml"), text).unwrap();
    }

    /// A job folder with its meta.json (and a stub script); returns the meta path.
    fn job(&self, job_id: &str, meta: Value, script: &str) -> String {
        let dir = self.root.join(job_id);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("meta.json"), meta.to_string()).unwrap();
        std::fs::write(dir.join("stub.script"), script).unwrap();
        dir.join("meta.json").display().to_string()
    }
}

/// The job process args file for `job_id` at `site`.
fn args_file(dir: &Path, job_id: &str, site: &str) -> String {
    let path = dir.join(format!("args-{job_id}.json"));
    let args = json!({
        "exe_module": ["-m", "nvflare.private.fed.app.client.worker_process"],
        "workspace": ["-m", "/var/tmp/nvflare/workspace"],
        "job_id": ["-n", job_id],
        "client_name": ["-c", site],
    });
    std::fs::write(&path, args.to_string()).unwrap();
    path.display().to_string()
}

/// A temp dir holding a stand-in parent mount with a broken study file, and room for
/// workspaces.
struct Host {
    dir: tempfile::TempDir,
}

impl Host {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let mount = dir.path().join("var-tmp-nvflare-workspace");
        std::fs::create_dir_all(mount.join("local")).unwrap();
        std::fs::create_dir_all(mount.join("startup")).unwrap();
        std::fs::write(
            mount.join("local/study_runtime.yaml"),
            "format_version: 2\nstudies:\n  lung:\n    container: {image: lung:1}\n    datasets:\n      x: {source: relative/path, mode: ro}\n",
        )
        .unwrap();
        Self { dir }
    }

    fn mount(&self) -> PathBuf {
        self.dir.path().join("var-tmp-nvflare-workspace")
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }
}

fn check<'a>(doctor: &'a Value, id: &str) -> Vec<&'a Value> {
    doctor["checks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["id"] == id)
        .collect()
}

// 3: the right workspace, named on stderr.
fn the_config_workspace_wins_over_a_parent_mount_path_that_exists_with_a_broken_study_file() {
    let host = Host::new();
    let ws = Workspace::new(host.path(), "site-a", "nvflare-network");
    ws.study_runtime("format_version: 2\nstudies:\n  lung:\n    container: {image: lung:1}\n");
    let meta = ws.job("job-1", json!({"job_id": "job-1", "study": "lung"}), "");
    let args = args_file(host.path(), "job-1", "site-1");
    let config = ws.config_arg();
    let site = ["--config", config.as_str(), "--site", "site-1"];

    let mut plan_args = vec!["plan"];
    plan_args.extend(site);
    plan_args.extend(["--job", &meta, "--args", &args, "--json"]);
    let (code, stdout, stderr) = run(&mut berth(&host.mount(), &plan_args));
    assert_eq!(code, 0, "{stderr}");
    let plan: Value = serde_json::from_str(&stdout).expect("stdout is only the plan's JSON");
    assert_eq!(plan["create"]["Image"], "lung:1");
    let line = format!(
        "berth: workspace {} (the config's host workspace)",
        ws.root.display()
    );
    assert_eq!(
        stderr
            .lines()
            .filter(|l| l.starts_with("berth: workspace"))
            .collect::<Vec<_>>(),
        [line.as_str()]
    );

    // doctor reads the same workspace: its study file passes, the mount's broken one is never read.
    let mut doctor_args = vec!["doctor", "--json"];
    doctor_args.extend(site);
    let (_, stdout, stderr) = run(&mut berth(&host.mount(), &doctor_args));
    assert!(stderr.contains(&line), "{stderr}");
    let doctor: Value = serde_json::from_str(&stdout).unwrap();
    for c in check(&doctor, "study_files") {
        assert_eq!(c["status"], "pass", "{c}");
    }
    let root = &check(&doctor, "parent_root")[0];
    assert!(
        root["summary"]
            .as_str()
            .unwrap()
            .contains(&ws.root.display().to_string()),
        "{root}"
    );

    // BERTH_PARENT_ROOT (and --parent-root) override: now the broken file is read, and named.
    let (code, _, stderr) = run(berth(&host.mount(), &plan_args).env("BERTH_PARENT_ROOT", host.mount()));
    assert_eq!(code, 2, "{stderr}");
    assert!(
        stderr.contains(&format!(
            "berth: workspace {} (from --parent-root or BERTH_PARENT_ROOT)",
            host.mount().display()
        )),
        "{stderr}"
    );
    assert!(stderr.contains("relative/path"), "{stderr}");

    // A config whose host workspace is not here (berth inside the parent container): the mount.
    ws.write_config(json!({"workspace": "/nonexistent-berth-host/site-a"}));
    let (code, _, stderr) = run(&mut berth(&host.mount(), &plan_args));
    assert_eq!(code, 2, "{stderr}");
    assert!(
        stderr.contains(&format!(
            "berth: workspace {} (the parent container's mount",
            host.mount().display()
        )),
        "{stderr}"
    );
}

// 4: doctor runs what launch runs.
fn a_study_file_plan_refuses_fails_doctor_with_the_same_message() {
    let host = Host::new();
    let ws = Workspace::new(host.path(), "site-a", "nvflare-network");
    ws.study_runtime("format_version: 2\nstudies:\n  lung:\n    container: {image: lung:1}\n    datasets:\n      train: {source: data/train, mode: ro}\n");
    let meta = ws.job("job-1", json!({"job_id": "job-1", "study": "lung"}), "");
    let args = args_file(host.path(), "job-1", "site-1");
    let config = ws.config_arg();

    let (code, _, plan_err) = run(&mut berth(
        &host.mount(),
        &[
            "plan", "--config", &config, "--site", "site-1", "--job", &meta, "--args", &args,
        ],
    ));
    assert_eq!(code, 2, "{plan_err}");
    let message = plan_err
        .lines()
        .find_map(|l| l.strip_prefix("error: "))
        .expect("an error line")
        .to_string();
    assert!(message.contains("data/train"), "{message}");

    let (code, stdout, _) = run(&mut berth(
        &host.mount(),
        &["doctor", "--json", "--config", &config, "--site", "site-1"],
    ));
    assert_eq!(code, 1);
    let doctor: Value = serde_json::from_str(&stdout).unwrap();
    let failed: Vec<_> = check(&doctor, "study_files")
        .into_iter()
        .filter(|c| c["status"] == "fail")
        .collect();
    assert_eq!(failed.len(), 1, "{doctor:#}");
    assert_eq!(failed[0]["summary"], message.as_str());
}

// 5 and 6: input errors at plan time, with the names that matter.
fn a_missing_job_folder_and_an_unknown_study_are_input_errors_at_plan_time() {
    let host = Host::new();
    let ws = Workspace::new(host.path(), "site-a", "nvflare-network");
    ws.study_runtime(
        "format_version: 2\nstudies:\n  lung-cancer:\n    container: {image: lung:1}\n  heart: {}\n",
    );
    let meta = ws.job("job-1", json!({"job_id": "job-2", "study": "lung-cancer"}), "");
    let args = args_file(host.path(), "job-2", "site-1");
    let config = ws.config_arg();
    let plan = |meta: &str| {
        run(&mut berth(
            &host.mount(),
            &[
                "plan", "--config", &config, "--site", "site-1", "--job", meta, "--args", &args,
            ],
        ))
    };

    // meta.json names job-2, whose folder the workspace does not have.
    let (code, stdout, stderr) = plan(&meta);
    assert_eq!(code, 2, "{stderr}");
    assert!(stdout.is_empty());
    let folder = ws.root.join("job-2").display().to_string();
    assert!(
        stderr.contains(&format!(
            "job folder '{folder}' does not exist in the workspace '{}'",
            ws.root.display()
        )),
        "{stderr}"
    );

    let meta = ws.job("job-3", json!({"job_id": "job-3", "study": "lung-cancr"}), "");
    let (code, _, stderr) = plan(&meta);
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("unknown study 'lung-cancr'"), "{stderr}");
    assert!(stderr.contains("lung-cancer, heart"), "{stderr}");
    assert!(!stderr.contains("no job image"), "{stderr}");
}

// 6: flag typos get clap's suggestions.
fn flag_and_command_typos_get_suggestions() {
    let host = Host::new();
    let (code, _, stderr) = run(&mut berth(&host.mount(), &["plan", "--parent-rot", "/x"]));
    assert_eq!(code, 2);
    assert!(
        stderr.contains("similar argument exists: '--parent-root'"),
        "{stderr}"
    );
    let (code, _, stderr) = run(&mut berth(&host.mount(), &["stauts"]));
    assert_eq!(code, 2);
    assert!(
        stderr.contains("tip: ") && stderr.contains("'status'"),
        "{stderr}"
    );
}

// 7: every command that prints a result takes --json.
fn every_result_command_accepts_json() {
    let host = Host::new();
    for command in [
        "plan", "launch", "wait", "status", "stop", "ps", "recover", "audit", "doctor",
    ] {
        let (code, stdout, stderr) = run(&mut berth(&host.mount(), &[command, "--help"]));
        assert_eq!(code, 0, "{command}: {stderr}");
        assert!(
            stdout.contains("--json"),
            "berth {command} does not take --json:\n{stdout}"
        );
    }
}

// 9: completions and the man page.
fn completions_and_man_pages_come_from_the_command_definitions() {
    let host = Host::new();
    for (shell, marker) in [
        ("bash", "_berth()"),
        ("zsh", "#compdef berth"),
        ("fish", "complete -c berth"),
    ] {
        let (code, stdout, stderr) = run(&mut berth(&host.mount(), &["completions", shell]));
        assert_eq!(code, 0, "{shell}: {stderr}");
        assert!(stdout.contains(marker), "{shell}: {stdout}");
        assert!(
            stdout.contains("parent-root") && stdout.contains("all-workspaces"),
            "{shell}"
        );
    }
    let (code, _, _) = run(&mut berth(&host.mount(), &["completions", "tcsh"]));
    assert_eq!(code, 2);
    let (code, stdout, _) = run(&mut berth(&host.mount(), &["man"]));
    assert_eq!(code, 0);
    assert!(stdout.contains(".TH berth 1"), "{stdout}");
    assert!(stdout.contains("completions"), "{stdout}");
    let (code, stdout, _) = run(&mut berth(&host.mount(), &["man", "plan"]));
    assert_eq!(code, 0);
    assert!(stdout.contains(".TH berth-plan 1"), "{stdout}");
    assert!(stdout.contains("parent\\-root"), "{stdout}");
    let (code, _, stderr) = run(&mut berth(&host.mount(), &["man", "plann"]));
    assert_eq!(code, 2);
    assert!(stderr.contains("no command 'plann'"), "{stderr}");
}

/// Everything the engine tests need: a network and a stub image of their own.
struct EngineSite {
    rt: DockerRuntime,
    cleanup: Cleanup,
    network: String,
    image: String,
}

impl EngineSite {
    fn new(rt: DockerRuntime) -> Self {
        let cleanup = Cleanup::new(&rt);
        let network = block_on(cleanup.new_network(&rt)).expect("a network");
        let image = block_on(cleanup.new_stub_image(&rt)).expect("a stub image");
        Self {
            rt,
            cleanup,
            network,
            image,
        }
    }

    /// Registers every container of `workspace` for removal.
    fn register(&self, workspace: &Path) {
        let filters = [LabelFilter::eq(
            berth_core::labels::WORKSPACE,
            &workspace.display().to_string(),
        )];
        if let Ok(found) = block_on(self.rt.list(&filters, true)) {
            for c in found {
                self.cleanup.container(&c.id);
            }
        }
    }
}

// 7 and 8: a piped wait prints nothing extra, a terminal one keeps a live line; ps keeps to
// its workspace.
fn ps_lists_only_this_workspace_and_wait_is_quiet_when_piped_and_live_on_a_terminal(rt: DockerRuntime) {
    let engine = EngineSite::new(rt);
    let host = Host::new();
    let site = unique_name("site");
    let a = Workspace::new(host.path(), "ws-a", &engine.network);
    let b = Workspace::new(host.path(), "ws-b", &engine.network);
    let meta = json!({"job_id": "job-1", "launcher_spec": {"default": {"docker": {"image": engine.image}}}});
    let meta_a = a.job(
        "job-1",
        meta.clone(),
        "print epoch 1/2\nsleep 2\nprint epoch 2/2\nsleep 2\n",
    );
    let meta_b = b.job("job-1", meta, "sleep 30\n");
    let args = args_file(host.path(), "job-1", &site);
    let (ca, cb) = (a.config_arg(), b.config_arg());
    let in_a = ["--config", ca.as_str(), "--site", site.as_str()];
    let in_b = ["--config", cb.as_str(), "--site", site.as_str()];
    let with = |base: &[&str], site: &[&str], rest: &[&str]| -> Vec<String> {
        base.iter()
            .chain(site)
            .chain(rest)
            .map(|s| s.to_string())
            .collect()
    };
    let go = |argv: Vec<String>| {
        let argv: Vec<&str> = argv.iter().map(String::as_str).collect();
        run(&mut berth(&host.mount(), &argv))
    };

    // Another site of the same name in workspace b runs a job of the same id.
    // The container name is <site>-<job_id>, so b's job is launched first and stopped at the end.
    let (code, _, stderr) = go(with(
        &["launch"],
        &in_b,
        &["--job", &meta_b, "--args", &args, "--json"],
    ));
    engine.register(&b.root);
    assert_eq!(code, 0, "{stderr}");
    let (code, stdout, stderr) = go(with(&["ps", "--json"], &in_a, &[]));
    assert_eq!(code, 0, "{stderr}");
    let ps: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(ps["containers"].as_array().unwrap().len(), 0, "{ps:#}");
    assert!(stderr.contains("1 container of a site named"), "{stderr}");
    let (_, stdout, _) = go(with(&["ps", "--json", "--all-workspaces"], &in_a, &[]));
    let ps: Value = serde_json::from_str(&stdout).unwrap();
    let listed = ps["containers"].as_array().unwrap();
    assert_eq!(listed.len(), 1, "{ps:#}");
    assert_eq!(listed[0]["other_workspace"], true);
    assert_eq!(listed[0]["workspace"], b.root.display().to_string());
    let (_, stdout, _) = go(with(&["ps", "--all-workspaces"], &in_a, &[]));
    assert!(
        stdout.contains(&format!("(other workspace: {})", b.root.display())),
        "{stdout}"
    );
    let (code, _, stderr) = go(with(&["stop", "--json"], &in_b, &["job-1"]));
    assert_eq!(code, 0, "{stderr}");

    // Workspace a's job: its own ps lists it, unmarked.
    let (code, stdout, stderr) = go(with(
        &["launch", "--json"],
        &in_a,
        &["--job", &meta_a, "--args", &args],
    ));
    engine.register(&a.root);
    assert_eq!(code, 0, "{stderr}");
    let launched: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(launched["job_id"], "job-1");
    let (_, stdout, _) = go(with(&["ps", "--json"], &in_a, &[]));
    let ps: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(ps["containers"][0]["other_workspace"], false, "{ps:#}");
    let (code, stdout, _) = go(with(&["status", "--json"], &in_a, &["job-1"]));
    assert_eq!(code, 0);
    assert_eq!(
        serde_json::from_str::<Value>(&stdout).unwrap()["state"],
        "running"
    );

    // wait on a terminal (script(1) gives it one): the live line names job, state and output.
    let argv = with(&["wait", "--json"], &in_a, &["job-1"]);
    let (code, typescript, stderr) = in_terminal(&host.mount(), &argv);
    assert_eq!(code, 0, "{typescript}\n{stderr}");
    assert!(
        typescript.contains("job-1: running, "),
        "no live line: {typescript:?}"
    );
    assert!(
        typescript.contains("| epoch 1/2"),
        "no output in the live line: {typescript:?}"
    );
    assert!(
        typescript.contains("\"return_code_name\": \"SUCCESS\""),
        "{typescript}"
    );

    // wait piped: stdout is the JSON outcome, stderr only names the workspace.
    let (code, stdout, stderr) = go(with(&["wait"], &in_a, &["job-1"]));
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(
        serde_json::from_str::<Value>(&stdout).unwrap()["outcome"]["return_code_name"],
        "SUCCESS"
    );
    assert_eq!(stderr.lines().count(), 1, "{stderr:?}");
    assert!(stderr.starts_with("berth: workspace "), "{stderr:?}");
    assert!(!stderr.contains('\r'), "{stderr:?}");
}

/// `berth ARGS` under script(1), which gives it a terminal; returns its status, everything
/// it wrote to the terminal, and script's own stderr.
fn in_terminal(mount: &Path, args: &[String]) -> (i32, String, String) {
    let quote = |s: &str| format!("'{}'", s.replace('\'', "'\\''"));
    let line: Vec<String> = std::iter::once(BERTH.to_string())
        .chain(args.iter().cloned())
        .map(|a| quote(&a))
        .collect();
    let mut cmd = berth(mount, &[]);
    let mut script = Command::new("script");
    script
        .args(["-qec", &line.join(" "), "/dev/null"])
        .env("COLUMNS", "120");
    for (k, v) in cmd.get_envs() {
        match v {
            Some(v) => script.env(k, v),
            None => script.env_remove(k),
        };
    }
    cmd = script;
    run(&mut cmd)
}

berth_testkit::test_main!(
    the_config_workspace_wins_over_a_parent_mount_path_that_exists_with_a_broken_study_file,
    a_study_file_plan_refuses_fails_doctor_with_the_same_message,
    a_missing_job_folder_and_an_unknown_study_are_input_errors_at_plan_time,
    flag_and_command_typos_get_suggestions,
    every_result_command_accepts_json,
    completions_and_man_pages_come_from_the_command_definitions,
    ps_lists_only_this_workspace_and_wait_is_quiet_when_piped_and_live_on_a_terminal,
);
