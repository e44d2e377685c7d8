//! berth's pure-Python files for job containers (DESIGN decision 15), and the contract
//! constants the Python package shares with the core.
//!
//! Job processes load the same component list as their parent, so a job image without
//! berth would fail to import `berth.nvflare`. Before each launch the launcher writes the
//! pure-Python part of the package (embedded in this binary) to
//! `<workspace>/.berth-python/berth/`, and the plan mounts that folder read-only at
//! [`berth_core::BERTH_PYTHON_TARGET`], the last PYTHONPATH entry. The folder holds those
//! files and nothing else; the state store (`.berth/`) is a sibling no job sees.
//!
//! `python/berth/_contract.py` is generated from the core by [`contract_module`]; a test
//! fails when the checked-in file differs.

use berth_core::args::Role;
use berth_core::config::{OrphanPolicy, BERTH_ARGS};
use berth_core::sdk_kwargs::RESERVED_DOCKER_KWARGS;
use berth_core::study::STUDY_DATA_FILE;
use berth_core::{Error, Result};
use std::fmt::Write as _;
use std::io::Write as _;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

static TMP_COUNTER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// The package files as they are in the repository, embedded at build time.
const INIT_PY: &str = include_str!("../../../python/berth/__init__.py");
const NVFLARE_PY: &str = include_str!("../../../python/berth/nvflare.py");

fn py_str(s: &str) -> String {
    // A JSON string of printable text is a valid Python string literal.
    serde_json::to_string(s).unwrap_or_else(|_| format!("{s:?}"))
}

fn py_tuple(items: &[&str]) -> String {
    let mut out = String::from("(");
    for item in items {
        let _ = write!(out, "\n    {},", py_str(item));
    }
    out.push_str("\n)");
    out
}

/// The text of `berth/_contract.py`: the constants the Python package repeats from the
/// core, rendered from the core's own values.
pub fn contract_module() -> String {
    let policies: Vec<&str> = OrphanPolicy::ALL.iter().map(|p| p.as_str()).collect();
    let mut reserved: Vec<&str> = RESERVED_DOCKER_KWARGS.to_vec();
    reserved.sort_unstable();
    let mut out = String::new();
    out.push_str(
        "\"\"\"Contract constants shared with berth's core, generated from it: do not edit.\n\n\
         `cargo test -p berth-launcher` fails when this file differs from the core; rewrite it\n\
         with `BERTH_WRITE_CONTRACT=1 cargo test -p berth-launcher contract`.\n\"\"\"\n\n",
    );
    let _ = writeln!(out, "WORKSPACE_MOUNT = {}", py_str(berth_core::WORKSPACE_MOUNT));
    let _ = writeln!(out, "WORKSPACE_ENV = {}", py_str(berth_core::WORKSPACE_ENV));
    let _ = writeln!(out, "DEFAULT_NETWORK = {}", py_str(berth_core::DEFAULT_NETWORK));
    let _ = writeln!(
        out,
        "DEFAULT_PYTHON_PATH = {}",
        py_str(berth_core::DEFAULT_PYTHON_PATH)
    );
    let _ = writeln!(
        out,
        "DEFAULT_START_TIMEOUT = {}",
        berth_core::DEFAULT_START_TIMEOUT_SECS
    );
    let _ = writeln!(out, "STUDY_DATA_PATH_FILE = {}", py_str(STUDY_DATA_FILE));
    let _ = writeln!(
        out,
        "BERTH_PYTHON_TARGET = {}",
        py_str(berth_core::BERTH_PYTHON_TARGET)
    );
    let _ = writeln!(out, "ORPHAN_POLICIES = {}", py_tuple(&policies));
    let _ = writeln!(out, "BERTH_ARGS = {}", py_tuple(&BERTH_ARGS));
    let _ = writeln!(
        out,
        "# Docker SDK run kwargs the launcher sets itself; a site default may not name them.\n\
         RESERVED_DOCKER_KWARGS = frozenset({})",
        py_tuple(&reserved)
    );
    let _ = writeln!(
        out,
        "# Job process args that become module arguments, in order.\nCLIENT_MODULE_ARGS = {}",
        py_tuple(Role::Client.module_arg_names())
    );
    let _ = writeln!(
        out,
        "SERVER_MODULE_ARGS = {}",
        py_tuple(Role::Server.module_arg_names())
    );
    out
}

/// The files berth writes for job containers: path under the folder, contents.
pub fn job_files() -> [(&'static str, String); 3] {
    [
        ("berth/__init__.py", INIT_PY.to_string()),
        ("berth/nvflare.py", NVFLARE_PY.to_string()),
        ("berth/_contract.py", contract_module()),
    ]
}

/// The folder under `parent_root` (the workspace as berth reads it).
pub fn folder(parent_root: &Path) -> PathBuf {
    parent_root.join(berth_core::BERTH_PYTHON_DIR)
}

/// The workspace (as berth reads it) whose `.berth-python` folder the plan mounts, or
/// `None` when the plan does not mount it. The job folder is `<workspace>/<job_id>`.
pub fn mounted_root(plan: &berth_core::plan::ContainerPlan) -> Option<PathBuf> {
    let mounts = plan.create.get("HostConfig")?.get("Mounts")?.as_array()?;
    mounts
        .iter()
        .any(|m| m.get("Target").and_then(|t| t.as_str()) == Some(berth_core::BERTH_PYTHON_TARGET))
        .then(|| plan.parent_job_dir.parent().map(Path::to_path_buf))
        .flatten()
}

fn refuse_link(path: &Path) -> Result<()> {
    match std::fs::symlink_metadata(path) {
        Ok(m) if m.file_type().is_symlink() => Err(Error::refused(format!(
            "{} is a symbolic link; berth writes its Python files only into a folder of its own",
            path.display()
        ))
        .with_hint("remove the link; berth recreates the folder at the next launch")),
        _ => Ok(()),
    }
}

fn write_error(path: &Path, e: std::io::Error) -> Error {
    Error::refused(format!(
        "cannot write berth's Python files to {}: {e}",
        path.display()
    ))
    .with_hint("the parent process must be able to write in its workspace")
}

/// Make `<parent_root>/.berth-python/berth/` hold exactly the current files (world-readable,
/// so a job running as any user can import them). A file already up to date is left
/// alone; a changed one is replaced atomically, so a job starting meanwhile never reads
/// half a file. Symbolic links in the way are refused.
pub fn write_job_files(parent_root: &Path) -> Result<PathBuf> {
    let root = folder(parent_root);
    let pkg = root.join("berth");
    for dir in [&root, &pkg] {
        refuse_link(dir)?;
        if !dir.is_dir() {
            std::fs::create_dir_all(dir).map_err(|e| write_error(dir, e))?;
        }
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o755))
            .map_err(|e| write_error(dir, e))?;
    }
    for (name, text) in job_files() {
        let path = root.join(name);
        refuse_link(&path)?;
        if std::fs::read(&path).ok().as_deref() == Some(text.as_bytes()) {
            continue;
        }
        // Unique per process and call: launches in parallel each write their own copy,
        // and the last rename wins with identical contents.
        let n = TMP_COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let tmp = pkg.join(format!(
            ".{}.{n}.{}.tmp",
            std::process::id(),
            name.replace('/', "_")
        ));
        let write = || -> std::io::Result<()> {
            let mut f = std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&tmp)?;
            f.write_all(text.as_bytes())?;
            f.set_permissions(std::fs::Permissions::from_mode(0o644))?;
            f.sync_all()?;
            std::fs::rename(&tmp, &path)
        };
        if let Err(e) = write() {
            let _ = std::fs::remove_file(&tmp);
            return Err(write_error(&path, e));
        }
    }
    Ok(root)
}

#[cfg(test)]
mod tests {
    use super::*;

    const CONTRACT_FILE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../python/berth/_contract.py");

    #[test]
    fn contract_file_matches_the_core() {
        let expected = contract_module();
        if std::env::var_os("BERTH_WRITE_CONTRACT").is_some() {
            std::fs::write(CONTRACT_FILE, &expected).expect("write _contract.py");
        }
        let on_disk = std::fs::read_to_string(CONTRACT_FILE).unwrap_or_default();
        assert!(
            on_disk == expected,
            "python/berth/_contract.py differs from the core; rewrite it with \
             BERTH_WRITE_CONTRACT=1 cargo test -p berth-launcher contract\n--- expected:\n{expected}"
        );
    }

    #[test]
    fn job_files_are_written_once_and_replaced_when_changed() {
        let dir = tempfile::tempdir().unwrap();
        let root = write_job_files(dir.path()).unwrap();
        let nv = root.join("berth/nvflare.py");
        assert_eq!(std::fs::read_to_string(&nv).unwrap(), NVFLARE_PY);
        let mode = std::fs::metadata(&nv).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o644);
        std::fs::write(&nv, "stale").unwrap();
        write_job_files(dir.path()).unwrap();
        assert_eq!(std::fs::read_to_string(&nv).unwrap(), NVFLARE_PY);
        let names: Vec<_> = std::fs::read_dir(root.join("berth"))
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        assert_eq!(names.len(), 3, "only the package files: {names:?}");
    }

    #[test]
    fn parallel_writers_all_succeed() {
        let dir = tempfile::tempdir().unwrap();
        std::thread::scope(|s| {
            let handles: Vec<_> = (0..8).map(|_| s.spawn(|| write_job_files(dir.path()))).collect();
            for h in handles {
                h.join().unwrap().unwrap();
            }
        });
        let root = folder(dir.path());
        assert_eq!(
            std::fs::read_to_string(root.join("berth/nvflare.py")).unwrap(),
            NVFLARE_PY
        );
        assert_eq!(
            std::fs::read_dir(root.join("berth")).unwrap().count(),
            3,
            "no temp file left"
        );
    }

    #[test]
    fn a_link_in_place_of_the_folder_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let elsewhere = tempfile::tempdir().unwrap();
        std::os::unix::fs::symlink(elsewhere.path(), dir.path().join(berth_core::BERTH_PYTHON_DIR)).unwrap();
        let e = write_job_files(dir.path()).unwrap_err();
        assert!(e.message().contains("symbolic link"), "{}", e.message());
        assert_eq!(std::fs::read_dir(elsewhere.path()).unwrap().count(), 0);
    }
}
