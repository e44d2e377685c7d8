//! `berth demo` and `berth doctor`, run as a user would: the built binary on the local
//! engine. Tests that need an engine are reported ignored when none is
//! reachable (failed with `BERTH_REQUIRE_DOCKER=1`). Every network and image they make has a unique name and is
//! registered for removal before the binary runs, so nothing is left behind when a test
//! fails; the demo's containers are found by their workspace label and registered too.
//! The demo's tests need the default `demo` feature; without it there is no demo command.

#[cfg(feature = "demo")]
use berth_engine::docker::DockerRuntime;
#[cfg(feature = "demo")]
use berth_engine::{ContainerRuntime, LabelFilter};
#[cfg(feature = "demo")]
use berth_testkit::block_on;
use berth_testkit::{unique_name, Cleanup};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;

const BERTH: &str = env!("CARGO_BIN_EXE_berth");

fn berth(args: &[&str]) -> Command {
    let mut cmd = Command::new(BERTH);
    cmd.args(args)
        .env("NO_COLOR", "1")
        .env_remove("BERTH_CONFIG")
        .env_remove("BERTH_SITE");
    cmd
}

fn run(cmd: &mut Command) -> (i32, String, String) {
    berth_testkit::run_output(cmd)
}

#[cfg(feature = "demo")]
/// Registers every container whose workspace label is `workspace` (the demo's jobs).
fn register_containers(rt: &DockerRuntime, cleanup: &Cleanup, workspace: &Path) {
    let filters = [LabelFilter::eq(
        berth_core::labels::WORKSPACE,
        &workspace.display().to_string(),
    )];
    if let Ok(found) = block_on(rt.list(&filters, true)) {
        for c in found {
            cleanup.container(&c.id);
        }
    }
}

/// One `berth demo` run on a unique network name, image tag and a work dir that does not
/// exist yet (under a temp dir removed at the end). The network and image are registered
/// for removal before the binary runs, the demo's containers right after it.
#[cfg(feature = "demo")]
struct DemoRun {
    _cleanup: Cleanup,
    _tmp: tempfile::TempDir,
    network: String,
    image: String,
    workdir: PathBuf,
    code: i32,
    stdout: String,
    stderr: String,
}

#[cfg(feature = "demo")]
impl DemoRun {
    /// `berth demo <flags> --network .. --image-tag .. --workdir ..`, run to its end.
    fn new(rt: &DockerRuntime, flags: &[&str]) -> Self {
        let mut demo = Self::prepare(rt);
        (demo.code, demo.stdout, demo.stderr) = run(&mut demo.command(flags));
        demo.register_containers(rt);
        demo
    }

    /// A network, image tag and work dir for one demo run, removed at the end; not run yet.
    fn prepare(rt: &DockerRuntime) -> Self {
        let cleanup = Cleanup::new(rt);
        let network = cleanup.network(&unique_name("net"));
        let image = cleanup.image(&format!("{}:latest", unique_name("img")));
        let tmp = tempfile::tempdir().expect("a temp dir");
        let workdir = tmp.path().canonicalize().expect("a real path").join("site");
        Self {
            _cleanup: cleanup,
            _tmp: tmp,
            network,
            image,
            workdir,
            code: -1,
            stdout: String::new(),
            stderr: String::new(),
        }
    }

    /// `berth demo <flags>` on this run's network, image and work dir.
    fn command(&self, flags: &[&str]) -> Command {
        let workdir = self.workdir.display().to_string();
        let mut args = vec!["demo"];
        args.extend_from_slice(flags);
        args.extend([
            "--network",
            &self.network,
            "--image-tag",
            &self.image,
            "--workdir",
            &workdir,
        ]);
        berth(&args)
    }

    /// The containers the demo made, removed at the end whatever happened.
    fn register_containers(&self, rt: &DockerRuntime) {
        register_containers(rt, &self._cleanup, &self.workdir.join("workspace"));
    }

    fn assert_succeeded(&self) {
        assert_eq!(self.code, 0, "stdout:\n{}\nstderr:\n{}", self.stdout, self.stderr);
    }
}

#[cfg(feature = "demo")]
fn job<'a>(summary: &'a Value, name: &str) -> &'a Value {
    summary["jobs"]
        .as_array()
        .and_then(|jobs| jobs.iter().find(|j| j["job"] == name))
        .unwrap_or_else(|| panic!("no job {name} in {summary:#}"))
}

#[cfg(feature = "demo")]
fn demo_runs_four_jobs_to_their_expected_outcomes_and_leaves_nothing_behind(rt: DockerRuntime) {
    let demo = DemoRun::new(&rt, &["--json"]);
    let (network, image, stdout) = (demo.network.clone(), demo.image.clone(), demo.stdout.clone());
    let workdir = demo.workdir.clone();
    let workdir_arg = workdir.display().to_string();
    demo.assert_succeeded();
    let summary: Value = serde_json::from_str(&stdout).expect("one JSON summary");
    assert_eq!(summary["ok"], true, "{summary:#}");

    let train = job(&summary, "train");
    assert_eq!(train["return_code_name"], "SUCCESS");
    assert_eq!(train["exit_code"], 0);
    assert!(train["detail"]
        .as_str()
        .unwrap()
        .contains("/data/demo/train/samples.csv"));
    let fail = job(&summary, "fail");
    assert_eq!(fail["return_code_name"], "EXECUTION_ERROR");
    assert_eq!(fail["exit_code"], 1);
    let stopped = job(&summary, "stopped");
    assert_eq!(stopped["return_code_name"], "ABORTED");
    let snoop = job(&summary, "snoop");
    assert_eq!(snoop["return_code_name"], "SUCCESS");
    let detail = snoop["detail"].as_str().unwrap();
    assert!(detail.starts_with("refused:"), "{detail}");
    assert!(detail.contains("write startup/"), "{detail}");
    for j in summary["jobs"].as_array().unwrap() {
        assert_eq!(j["as_expected"], true, "{j:#}");
        assert!(j["duration_ms"].as_u64().is_some());
        assert!(
            j["output"].as_str().is_some_and(|o| o.starts_with(&workdir_arg)),
            "{j:#}"
        );
    }

    // Nothing left: containers, network, image, work dir.
    assert_eq!(summary["network"]["created"], true);
    assert_eq!(summary["image"]["imported"], true);
    for j in summary["jobs"].as_array().unwrap() {
        let name = j["container_name"].as_str().unwrap();
        let gone = block_on(rt.inspect(name));
        assert!(gone.as_ref().is_err_and(|e| e.is_not_found()), "{name}: {gone:?}");
    }
    assert!(
        !block_on(rt.network_exists(&network)).unwrap(),
        "network {network} left behind"
    );
    assert!(
        !block_on(rt.image_exists(&image)).unwrap(),
        "image {image} left behind"
    );
    assert!(!workdir.exists(), "work dir left behind");
}

#[cfg(feature = "demo")]
fn doctor_passes_on_the_demo_workspace_it_kept(rt: DockerRuntime) {
    let demo = DemoRun::new(&rt, &["-q", "--keep"]);
    let (network, image, stdout) = (demo.network.clone(), demo.image.clone(), demo.stdout.clone());
    let workspace = demo.workdir.join("workspace");
    demo.assert_succeeded();
    assert!(stdout.contains("All 4 jobs ended as expected."), "{stdout}");
    assert!(stdout.contains("berth doctor --config"), "{stdout}");
    // --keep keeps the outputs and what the demo created.
    let train_result = std::fs::read_dir(&workspace)
        .unwrap()
        .filter_map(Result::ok)
        .find(|e| e.file_name().to_string_lossy().starts_with("train-"))
        .map(|e| e.path().join("result.txt"))
        .expect("the train job's folder");
    assert!(train_result.is_file());
    assert!(block_on(rt.network_exists(&network)).unwrap());
    assert!(block_on(rt.image_exists(&image)).unwrap());

    let config = workspace.join("local/resources.json");
    let (code, stdout, stderr) = run(&mut doctor(&config, &workspace));
    assert_eq!(code, 0, "stdout:\n{stdout}\nstderr:\n{stderr}");
    assert!(
        stdout.contains(&format!("✓ network '{network}' exists")),
        "{stdout}"
    );
    assert!(stdout.contains(&format!("✓ image {image} present")), "{stdout}");
    assert!(stdout.contains("the site is ready for berth"), "{stdout}");
    assert!(!stdout.contains('✗'), "{stdout}");
    // The engine kept every promise of a throwaway container made from a sample plan.
    for promise in ["user", "workspace_root", "mounts", "network", "auto_remove"] {
        assert!(stdout.contains(&format!("✓ {promise}: ")), "{promise}:\n{stdout}");
    }

    let (code, stdout, _) = run(doctor(&config, &workspace).arg("--json"));
    assert_eq!(code, 0);
    let report: Value = serde_json::from_str(&stdout).expect("JSON");
    assert_eq!(report["ok"], true);
    assert_eq!(report["counts"]["fail"], 0);
}

/// A minimal site workspace: startup/ and local/resources.json naming `network`; the
/// config is written outside the workspace so local/ can be left out.
fn bare_site(root: &Path, network: &str, with_startup: bool, with_local: bool) -> PathBuf {
    let workspace = root.join("workspace");
    std::fs::create_dir_all(&workspace).unwrap();
    if with_startup {
        std::fs::create_dir_all(workspace.join("startup")).unwrap();
    }
    if with_local {
        std::fs::create_dir_all(workspace.join("local")).unwrap();
    }
    let config = root.join("resources.json");
    let text = serde_json::json!({
        "format_version": 2,
        "components": [{
            "id": "docker_launcher",
            "path": "nvflare.app_opt.job_launcher.docker_launcher.ClientDockerJobLauncher",
            "args": {"workspace": workspace, "network": network},
        }],
    });
    std::fs::write(&config, text.to_string()).unwrap();
    config
}

/// `berth doctor` for site-1 with `config`, reading the workspace at `workspace`.
fn doctor(config: &Path, workspace: &Path) -> Command {
    berth(&[
        "doctor",
        "--config",
        &config.display().to_string(),
        "--site",
        "site-1",
        "--parent-root",
        &workspace.display().to_string(),
    ])
}

fn doctor_fails_with_the_create_command_when_the_network_is_missing(rt: DockerRuntime) {
    let cleanup = Cleanup::new(&rt);
    // Registered though never created: removed should anything create it.
    let network = cleanup.network(&unique_name("net"));
    let tmp = tempfile::tempdir().unwrap();
    let config = bare_site(tmp.path(), &network, true, true);

    let (code, stdout, stderr) = run(&mut doctor(&config, &tmp.path().join("workspace")));
    assert_eq!(code, 1, "stdout:\n{stdout}\nstderr:\n{stderr}");
    assert!(
        stdout.contains(&format!("✗ network '{network}' does not exist")),
        "{stdout}"
    );
    assert!(
        stdout.contains(&format!("fix: docker network create {network}")),
        "{stdout}"
    );
    assert!(stdout.contains("✓ engine reachable"), "{stdout}");
    assert!(stdout.contains("✓ startup/ present"), "{stdout}");
}

fn doctor_fails_with_a_fix_when_docker_host_points_at_a_wrong_socket() {
    // Needs no engine: the point is that there is none at that address.
    let tmp = tempfile::tempdir().unwrap();
    let config = bare_site(tmp.path(), "nvflare-network", true, true);

    let (code, stdout, stderr) =
        run(doctor(&config, &tmp.path().join("workspace")).env("DOCKER_HOST", "unix:///nonexistent.sock"));
    assert_eq!(code, 1, "stdout:\n{stdout}\nstderr:\n{stderr}");
    assert!(
        stdout.contains("✗ cannot reach the engine at unix:///nonexistent.sock (from DOCKER_HOST=unix:///nonexistent.sock)"),
        "{stdout}"
    );
    assert!(
        stdout.contains("fix: DOCKER_HOST=unix:///nonexistent.sock does not lead to a running engine"),
        "{stdout}"
    );
    assert!(
        stdout.contains("- network 'nvflare-network': engine not reachable"),
        "{stdout}"
    );

    let (code, stdout, _) = run(doctor(&config, &tmp.path().join("workspace"))
        .arg("--json")
        .env("DOCKER_HOST", "unix:///nonexistent.sock"));
    assert_eq!(code, 1);
    let report: Value = serde_json::from_str(&stdout).expect("JSON");
    let engine = report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == "engine")
        .unwrap();
    assert_eq!(engine["status"], "fail");
    assert!(engine["fix"].as_str().unwrap().contains("DOCKER_HOST"));
}

fn doctor_fails_with_a_fix_when_the_workspace_lacks_startup_or_local() {
    // The workspace checks do not need the engine.
    for (with_startup, with_local, missing) in [(false, true, "startup/"), (true, false, "local/")] {
        let tmp = tempfile::tempdir().unwrap();
        let config = bare_site(tmp.path(), "nvflare-network", with_startup, with_local);
        let (code, stdout, stderr) = run(&mut doctor(&config, &tmp.path().join("workspace")));
        assert_eq!(code, 1, "stdout:\n{stdout}\nstderr:\n{stderr}");
        let workspace = tmp.path().join("workspace");
        assert!(
            stdout.contains(&format!(
                "✗ no {missing} in {}: this is not a site workspace",
                workspace.display()
            )),
            "{stdout}"
        );
        assert!(
            stdout.contains("fix: point the launcher's workspace (or --parent-root) at the site's folder"),
            "{stdout}"
        );
    }
}

#[cfg(not(feature = "demo"))]
fn without_the_demo_feature_there_is_no_demo_command() {
    let (code, _, stderr) = run(&mut berth(&["demo", "--json"]));
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("unrecognized subcommand 'demo'"), "{stderr}");
}

#[cfg(feature = "demo")]
fn demo_interrupted_by_ctrl_c_cleans_up_and_exits_130(rt: DockerRuntime) {
    let demo = DemoRun::prepare(&rt);
    let child = demo
        .command(&[])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("berth demo");
    // Its jobs run for a few seconds: interrupt it while they do.
    std::thread::sleep(std::time::Duration::from_secs(3));
    let sent = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .expect("kill -INT");
    assert!(sent.success());
    let out = child.wait_with_output().expect("berth demo ends");
    demo.register_containers(&rt);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(130), "stderr:\n{stderr}");
    assert!(stderr.contains("interrupted"), "{stderr}");
    let filters = [LabelFilter::eq(
        berth_core::labels::WORKSPACE,
        &demo.workdir.join("workspace").display().to_string(),
    )];
    let left = block_on(rt.list(&filters, true)).expect("list");
    assert!(left.is_empty(), "the demo left containers: {left:?}");
}

berth_testkit::test_main!(
    #[cfg(feature = "demo")]
    demo_runs_four_jobs_to_their_expected_outcomes_and_leaves_nothing_behind,
    #[cfg(feature = "demo")]
    doctor_passes_on_the_demo_workspace_it_kept,
    doctor_fails_with_the_create_command_when_the_network_is_missing,
    doctor_fails_with_a_fix_when_docker_host_points_at_a_wrong_socket,
    doctor_fails_with_a_fix_when_the_workspace_lacks_startup_or_local,
    #[cfg(not(feature = "demo"))]
    without_the_demo_feature_there_is_no_demo_command,
    #[cfg(feature = "demo")]
    demo_interrupted_by_ctrl_c_cleans_up_and_exits_130,
);
