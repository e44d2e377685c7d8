//! The README's walkthrough ("A first site, step by step"), run exactly as printed: every
//! `sh` block of that section, in order, in one `sh -eu`, from a copy of the repository's
//! `examples/` and with the built `berth` first on `PATH`. Needs an engine (ignored without
//! one unless `BERTH_REQUIRE_DOCKER=1`); the check that it names every command does not.
//!
//! The walkthrough names fixed objects (network `berth-example`, image `berth-example-job:1`,
//! container `site-1-hello-1`, `/tmp/berth-example`), because an operator copies it. So that
//! two runs on one machine cannot meet, the test holds a lock file for its whole run; it
//! removes the container always, and the network, image and data folder only when they did
//! not exist before it started.

use berth_engine::docker::DockerRuntime;
use berth_engine::ContainerRuntime;
use berth_testkit::{block_on, Cleanup};
use std::path::{Path, PathBuf};
use std::process::Command;

const BERTH: &str = env!("CARGO_BIN_EXE_berth");
const SECTION: &str = "## A first site, step by step";
const IMAGE: &str = "berth-example-job:1";
const NETWORK: &str = "berth-example";
const CONTAINER: &str = "site-1-hello-1";
const DATA_ROOT: &str = "/tmp/berth-example";
const LOCK: &str = "/tmp/berth-readme-walkthrough.lock";

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The bodies of the fenced `sh` blocks of a README section (up to the next `## `).
fn section_blocks(readme: &str, heading: &str) -> Vec<String> {
    let start = readme
        .find(&format!("\n{heading}\n"))
        .unwrap_or_else(|| panic!("README has no section '{heading}'"));
    let rest = &readme[start + heading.len() + 2..];
    let section = match rest.find("\n## ") {
        Some(end) => &rest[..end],
        None => rest,
    };
    let mut blocks = Vec::new();
    let mut current: Option<String> = None;
    for line in section.lines() {
        match (&mut current, line.trim_end()) {
            (None, "```sh") => current = Some(String::new()),
            (Some(body), "```") => {
                blocks.push(std::mem::take(body));
                current = None;
            }
            (Some(body), l) => {
                body.push_str(l);
                body.push('\n');
            }
            (None, _) => {}
        }
    }
    assert!(current.is_none(), "an unterminated code block in '{heading}'");
    blocks
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}

/// Holds an exclusive lock on [`LOCK`] while alive.
struct RunLock(#[allow(dead_code)] nix::fcntl::Flock<std::fs::File>);

impl RunLock {
    fn take() -> Self {
        let file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(LOCK)
            .expect("the lock file opens");
        let lock = nix::fcntl::Flock::lock(file, nix::fcntl::FlockArg::LockExclusive)
            .map_err(|(_, e)| e)
            .expect("the lock is taken");
        Self(lock)
    }
}

/// Removes the data folder on drop when the run created it.
struct DataRoot(bool);

impl Drop for DataRoot {
    fn drop(&mut self) {
        if self.0 {
            let _ = std::fs::remove_dir_all(DATA_ROOT);
        }
    }
}

/// The walkthrough's `sh` blocks, joined.
fn walkthrough_script() -> String {
    let readme = std::fs::read_to_string(repo_root().join("README.md")).unwrap();
    let blocks = section_blocks(&readme, SECTION);
    assert_eq!(blocks.len(), 3, "the walkthrough's sh blocks: {blocks:?}");
    blocks.concat()
}

fn the_readme_walkthrough_shows_every_command() {
    let script = walkthrough_script();
    for command in [
        "berth doctor",
        "berth plan",
        "berth launch",
        "berth status",
        "berth logs",
        "berth wait",
        "berth ps --all",
    ] {
        assert!(script.contains(command), "the walkthrough lacks '{command}'");
    }
}

fn the_readme_walkthrough_runs_as_printed(rt: DockerRuntime) {
    let script = walkthrough_script();
    let _lock = RunLock::take();
    let cleanup = Cleanup::new(&rt);
    cleanup.container(CONTAINER);
    if !block_on(rt.network_exists(NETWORK)).expect("network lookup") {
        cleanup.network(NETWORK);
    }
    if !block_on(rt.image_exists(IMAGE)).expect("image lookup") {
        cleanup.image(IMAGE);
        block_on(berth_stub_image::ensure_stub_image(&rt, IMAGE)).expect("the example image is imported");
    }
    let _data = DataRoot(!Path::new(DATA_ROOT).exists());

    let root = tempfile::tempdir().unwrap();
    copy_dir(&repo_root().join("examples"), &root.path().join("examples"));
    let bin_dir = Path::new(BERTH).parent().unwrap();
    let path = format!(
        "{}:{}",
        bin_dir.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let mut cmd = Command::new("sh");
    cmd.arg("-euc")
        .arg(&script)
        .current_dir(root.path())
        .env("PATH", path)
        .env("NO_COLOR", "1");
    for (name, _) in std::env::vars_os() {
        let name = name.to_string_lossy().into_owned();
        if (name.starts_with("BERTH_") && name != "BERTH_REQUIRE_DOCKER") || name == "NVFL_DOCKER_WORKSPACE" {
            cmd.env_remove(name);
        }
    }
    let out = cmd.output().expect("sh runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "the walkthrough failed ({:?})\n--- stdout\n{stdout}\n--- stderr\n{stderr}",
        out.status
    );

    // What an operator would look for in the output.
    let workspace = root.path().join("examples/site-1");
    let workspace = workspace.canonicalize().unwrap_or(workspace);
    assert!(stdout.contains("the site is ready for berth"), "doctor: {stdout}");
    assert!(
        stderr.contains(&format!(
            "berth: workspace {}",
            root.path().join("examples/site-1").display()
        )) || stderr.contains(&format!("berth: workspace {}", workspace.display())),
        "no command named its workspace: {stderr}"
    );
    assert!(
        stdout.contains("\"Image\": \"berth-example-job:1\""),
        "plan: {stdout}"
    );
    assert!(
        stdout.contains("training on /data/mnist/train/train.csv"),
        "logs: {stdout}"
    );
    assert!(
        stdout.contains("try-read /data/mnist/train/train.csv: ok"),
        "the job did not read its dataset: {stdout}"
    );
    assert!(
        stdout.contains("\"return_code_name\": \"SUCCESS\""),
        "wait: {stdout}"
    );
    let ps_line = stdout
        .lines()
        .find(|l| l.starts_with("hello-1 ") && l.contains("SUCCESS"))
        .unwrap_or_else(|| panic!("ps --all shows no successful hello-1: {stdout}"));
    assert!(ps_line.contains(IMAGE), "{ps_line}");
    let log = std::fs::read_to_string(workspace.join("hello-1/berth-job.log")).expect("the job log is kept");
    assert!(log.contains("done"), "{log}");
    let left = block_on(rt.list(
        &[berth_engine::LabelFilter::eq(
            berth_core::labels::WORKSPACE,
            &root.path().join("examples/site-1").display().to_string(),
        )],
        true,
    ))
    .expect("list");
    assert!(left.is_empty(), "containers left after wait: {left:?}");
}

berth_testkit::test_main!(
    the_readme_walkthrough_shows_every_command,
    the_readme_walkthrough_runs_as_printed,
);
