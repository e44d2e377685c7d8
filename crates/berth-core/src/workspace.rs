//! The workspace layout and the path rules for everything berth mounts.
//!
//! berth checks paths where it can look: the *parent view* (`parent_root`), which is the
//! workspace as berth itself reads it. The *host* path (the bind source the engine sees)
//! is derived lexically from the configured host workspace.

use crate::{Error, Result};
use std::path::{Component, Path, PathBuf};

/// Workspace children a job id may not take.
pub const RESERVED_NAMES: [&str; 2] = ["startup", "local"];

/// POSIX lexical normalisation (Python's `posixpath.normpath`): collapses `//` and `/./`,
/// resolves `a/..`, drops a trailing `/`; `""` becomes `.`.
pub fn normpath(path: &str) -> String {
    if path.is_empty() {
        return ".".to_string();
    }
    let absolute = path.starts_with('/');
    let mut parts: Vec<&str> = Vec::new();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                if parts.last().is_some_and(|p| *p != "..") {
                    parts.pop();
                } else if !absolute {
                    parts.push("..");
                }
            }
            other => parts.push(other),
        }
    }
    let joined = parts.join("/");
    match (absolute, joined.is_empty()) {
        (true, _) => format!("/{joined}"),
        (false, true) => ".".to_string(),
        (false, false) => joined,
    }
}

/// Where a site's parent root came from, as every command reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParentRootOrigin {
    /// `--parent-root` or `BERTH_PARENT_ROOT`.
    Explicit,
    /// The config's host workspace, which exists where berth runs (berth on the host).
    HostWorkspace,
    /// The parent container's mount of the workspace (berth inside the parent container).
    ParentMount,
    /// The root of the parent process's workspace object (the Python drop-in).
    WorkspaceObject,
}

impl ParentRootOrigin {
    /// How the origin reads in the workspace line (`berth: workspace <dir> (<origin>)`).
    pub fn describe(self) -> &'static str {
        match self {
            ParentRootOrigin::Explicit => "from --parent-root or BERTH_PARENT_ROOT",
            ParentRootOrigin::HostWorkspace => "the config's host workspace",
            ParentRootOrigin::ParentMount => {
                "the parent container's mount; the config names no host workspace that exists here"
            }
            ParentRootOrigin::WorkspaceObject => "the parent's workspace object",
        }
    }
}

/// Where berth reads a site's workspace (its *parent root*; DESIGN, CLI contract):
///
/// 1. `explicit` (`--parent-root` or `BERTH_PARENT_ROOT`) when given;
/// 2. else the host workspace when that path is a directory where berth runs (berth on
///    the host);
/// 3. else `parent_mount` (`/var/tmp/nvflare/workspace` for real sites: berth inside the
///    parent container, where the host workspace is mounted there).
///
/// A folder at `parent_mount` on the host does not win over an existing host workspace: it
/// may be another site's, or a leftover. `parent_mount` is a parameter so tests need not
/// touch the real path. Does not check that the result exists; the commands that read it do.
pub fn resolve_parent_root(
    explicit: Option<&Path>,
    host_workspace: Option<&str>,
    parent_mount: &Path,
) -> (PathBuf, ParentRootOrigin) {
    if let Some(dir) = explicit {
        return (dir.to_path_buf(), ParentRootOrigin::Explicit);
    }
    match host_workspace.filter(|ws| !ws.is_empty()).map(Path::new) {
        Some(ws) if ws.is_absolute() && ws.is_dir() => (
            PathBuf::from(normpath(&ws.to_string_lossy())),
            ParentRootOrigin::HostWorkspace,
        ),
        _ => (parent_mount.to_path_buf(), ParentRootOrigin::ParentMount),
    }
}

/// The job's folder must be in the workspace before its launch (NVFlare deploys it there
/// first); a missing one would otherwise pass planning and fail at create time with the
/// engine's "bind source path does not exist". Checked in the parent view; Invalid, naming
/// the folder and the workspace.
pub fn check_job_folder(parent_root: &Path, job_id: &str) -> Result<()> {
    let dir = parent_root.join(job_id);
    match std::fs::metadata(&dir) {
        Ok(meta) if meta.is_dir() => Ok(()),
        Ok(_) => Err(Error::invalid(format!(
            "the job folder '{}' in the workspace '{}' is not a folder",
            dir.display(),
            parent_root.display()
        ))),
        Err(e) => Err(Error::invalid(format!(
            "the job folder '{}' does not exist in the workspace '{}' ({e})",
            dir.display(),
            parent_root.display()
        ))
        .with_hint(format!(
            "a job's folder is <workspace>/<job_id> and holds its meta.json: deploy job '{job_id}' there first, \
             or point --parent-root at the workspace that has it"
        ))),
    }
}

/// Join container paths POSIX-style.
pub fn join_posix(base: &str, child: &str) -> String {
    format!("{}/{}", base.trim_end_matches('/'), child)
}

/// The host path of a workspace child, checked as upstream's `_safe_workspace_child_path`
/// does (spec §10), with the filesystem checks done in the parent view berth can read:
///
/// 1. the child is a single, already-normalised path component;
/// 2. unless allowed, it is not a reserved name (`startup`, `local`);
/// 3. in the parent view, it does not resolve outside the workspace;
/// 4. in the parent view, it is not itself a symlink.
///
/// A child that does not exist in the parent view passes 3 and 4. Returns the lexically
/// normalised host path.
pub fn safe_workspace_child_path(
    host_workspace: &str,
    child: &str,
    allow_reserved: bool,
    parent_root: &Path,
) -> Result<String> {
    let normalised = normpath(child);
    if child.is_empty()
        || child.starts_with('/')
        || normalised != child
        || matches!(normalised.as_str(), "" | "." | "..")
        || normalised.contains('/')
        || normalised.contains('\0')
    {
        return Err(Error::refused(format!(
            "job workspace path must be a single workspace child: {}",
            crate::pyval::shorten(&child.escape_debug().to_string(), 200)
        ))
        .with_hint("a job id must be one plain folder name, without '/', '.' or '..'"));
    }
    if !allow_reserved && RESERVED_NAMES.contains(&normalised.as_str()) {
        return Err(Error::refused(format!(
            "job workspace path uses reserved workspace name: {child}"
        ))
        .with_hint("'startup' and 'local' hold the site's kit and config; a job id may not take them"));
    }
    let parent_child = parent_root.join(&normalised);
    if let (Ok(root_real), Ok(child_real)) = (parent_root.canonicalize(), parent_child.canonicalize()) {
        if !child_real.starts_with(&root_real) {
            return Err(
                Error::refused(format!("job workspace path escapes workspace: {child}")).with_hint(format!(
                    "{} resolves to {}",
                    parent_child.display(),
                    child_real.display()
                )),
            );
        }
    }
    if parent_child
        .symlink_metadata()
        .is_ok_and(|m| m.file_type().is_symlink())
    {
        return Err(
            Error::refused(format!("workspace child path must not be a symlink: {child}")).with_hint(
                format!("replace the link {} with a real folder", parent_child.display()),
            ),
        );
    }
    Ok(normpath(&join_posix(host_workspace, &normalised)))
}

/// `path` with a leading `from` prefix (whole components) replaced by `to`; `None` when
/// `path` does not start with `from`.
pub fn replace_prefix(path: &Path, from: &Path, to: &str) -> Option<String> {
    let rest = path.strip_prefix(from).ok()?;
    let rest = rest.to_string_lossy();
    Some(if rest.is_empty() {
        to.to_string()
    } else {
        join_posix(to, &rest)
    })
}

/// Host directories a job must never get a bind mount of: the root, system trees and the
/// engine's own state and sockets.
const FORBIDDEN_SOURCES: [&str; 18] = [
    "/",
    "/bin",
    "/boot",
    "/dev",
    "/etc",
    "/lib",
    "/lib32",
    "/lib64",
    "/proc",
    "/root",
    "/run",
    "/sbin",
    "/sys",
    "/usr",
    "/var",
    "/var/lib",
    "/var/run",
    "/var/lib/docker",
];

/// Trees under which no source may lie at all: the kernel's views, the engine's state,
/// sockets and configuration, and the system's programs and libraries. `/etc` and `/run`
/// themselves are refused (`FORBIDDEN_SOURCES`), but their sub-folders are where sites keep
/// secrets (`/etc/flare/secrets/...`, `/run/secrets/...`), so only the parts that belong to
/// an engine, hold its or the system's control sockets, or hold the host's own login
/// credentials are refused below them.
const FORBIDDEN_TREES: [&str; 40] = [
    "/proc",
    "/sys",
    "/dev",
    "/var/lib/docker",
    "/var/lib/containerd",
    "/var/lib/containers",
    "/usr",
    "/bin",
    "/sbin",
    "/lib",
    "/lib32",
    "/lib64",
    "/boot",
    "/root",
    "/etc/docker",
    "/etc/containerd",
    "/etc/containers",
    "/etc/shadow",
    "/etc/shadow-",
    "/etc/gshadow",
    "/etc/gshadow-",
    "/etc/sudoers",
    "/etc/sudoers.d",
    "/etc/ssh",
    "/run/docker",
    "/run/containerd",
    "/run/podman",
    "/run/crio",
    "/run/runc",
    "/run/user",
    "/run/systemd",
    "/run/dbus",
    "/var/run/docker",
    "/var/run/containerd",
    "/var/run/podman",
    "/var/run/crio",
    "/var/run/runc",
    "/var/run/user",
    "/var/run/systemd",
    "/var/run/dbus",
];

/// Check a host path berth is asked to bind into a job container (a dataset, a secret
/// mount, the shared-file directory). `field` names where it came from.
///
/// Refused: relative or unnormalised paths, system directories and the engine's trees,
/// anything ending in `.sock` or that is a socket where berth can see it, and anything
/// that overlaps the host workspace (which would expose other jobs or make `startup/`
/// writable). A source berth can see is checked again where it resolves to, because the
/// engine follows links in a bind source: a link `/srv/data -> /` passes every lexical check.
pub fn check_mount_source(source: &str, field: &str, host_workspace: &str) -> Result<()> {
    let refuse = |why: &str| {
        Error::invalid(format!("{field} '{}' {why}", crate::pyval::shorten(source, 200)))
            .with_hint("point it at a dedicated data or secret folder on the host")
    };
    if !source.starts_with('/') {
        return Err(refuse("must be an absolute host path"));
    }
    if normpath(source) != source || source.contains('\0') {
        return Err(refuse(
            "must be a normalised absolute path (no '.', '..', '//' or trailing '/')",
        ));
    }
    let ws = normpath(host_workspace);
    if let Some(why) = mount_source_problem(source, &ws) {
        return Err(refuse(&why));
    }
    if let Ok(real) = Path::new(source).canonicalize() {
        let real = real.to_string_lossy();
        if real != source {
            let real_ws = realpath_lenient(Path::new(&ws)).to_string_lossy().into_owned();
            if let Some(why) =
                mount_source_problem(&real, &ws).or_else(|| mount_source_problem(&real, &real_ws))
            {
                return Err(refuse(&format!(
                    "resolves to {}, which {why}",
                    crate::pyval::shorten(&real, 200)
                )));
            }
        }
    }
    Ok(())
}

/// Why a normalised absolute source may not be mounted, if it may not.
fn mount_source_problem(source: &str, ws: &str) -> Option<String> {
    if FORBIDDEN_SOURCES.contains(&source)
        || FORBIDDEN_TREES
            .iter()
            .any(|tree| Path::new(source).starts_with(tree))
    {
        return Some("is a system directory; berth does not mount it into a job".into());
    }
    if source.ends_with(".sock") || is_socket(Path::new(source)) {
        return Some("is a socket; berth does not mount sockets into a job".into());
    }
    if Path::new(source).starts_with(ws) || Path::new(ws).starts_with(source) {
        return Some(format!(
            "overlaps the site workspace {ws}; jobs see only their own folder"
        ));
    }
    None
}

fn is_socket(path: &Path) -> bool {
    use std::os::unix::fs::FileTypeExt;
    path.metadata().is_ok_and(|m| m.file_type().is_socket())
}

/// Whether `inner` is `outer` or lies below it, by whole path components.
pub fn is_within(inner: &str, outer: &str) -> bool {
    Path::new(inner).starts_with(outer)
}

/// A path with symlinks resolved as far as it exists (`realpath`): the existing prefix is
/// canonicalised and the rest is appended lexically.
pub fn realpath_lenient(path: &Path) -> PathBuf {
    let mut existing = path.to_path_buf();
    let mut rest: Vec<std::ffi::OsString> = Vec::new();
    loop {
        if let Ok(real) = existing.canonicalize() {
            let mut out = real;
            for part in rest.iter().rev() {
                out.push(part);
            }
            return out;
        }
        match (existing.file_name().map(|n| n.to_os_string()), existing.parent()) {
            (Some(name), Some(parent)) => {
                rest.push(name);
                existing = parent.to_path_buf();
            }
            _ => {
                return path
                    .components()
                    .filter(|c| !matches!(c, Component::CurDir))
                    .collect()
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ErrorKind;

    #[test]
    fn a_missing_job_folder_is_invalid_naming_folder_and_workspace() {
        let ws = tempfile::tempdir().unwrap();
        std::fs::create_dir(ws.path().join("job-1")).unwrap();
        std::fs::write(ws.path().join("job-2"), "").unwrap();
        check_job_folder(ws.path(), "job-1").unwrap();
        let e = check_job_folder(ws.path(), "job-3").unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Invalid);
        let folder = ws.path().join("job-3").display().to_string();
        assert!(e.message().contains(&format!("'{folder}' does not exist")), "{e}");
        assert!(
            e.message()
                .contains(&format!("workspace '{}'", ws.path().display())),
            "{e}"
        );
        let e = check_job_folder(ws.path(), "job-2").unwrap_err();
        assert!(e.message().contains("is not a folder"), "{e}");
    }

    #[test]
    fn parent_root_is_the_host_workspace_when_it_exists_even_if_the_mount_path_does() {
        let host = tempfile::tempdir().unwrap();
        let mount = tempfile::tempdir().unwrap();
        let ws = host.path().display().to_string();
        let (root, origin) = resolve_parent_root(None, Some(&ws), mount.path());
        assert_eq!(root, host.path());
        assert_eq!(origin, ParentRootOrigin::HostWorkspace);
    }

    #[test]
    fn parent_root_falls_back_to_the_mount_and_yields_to_an_explicit_dir() {
        let mount = tempfile::tempdir().unwrap();
        let explicit = tempfile::tempdir().unwrap();
        for ws in [
            None,
            Some(""),
            Some("/nonexistent-berth-host-ws"),
            Some("relative/ws"),
        ] {
            let (root, origin) = resolve_parent_root(None, ws, mount.path());
            assert_eq!(
                (root.as_path(), origin),
                (mount.path(), ParentRootOrigin::ParentMount),
                "{ws:?}"
            );
        }
        let ws = mount.path().display().to_string();
        let (root, origin) = resolve_parent_root(Some(explicit.path()), Some(&ws), mount.path());
        assert_eq!(
            (root.as_path(), origin),
            (explicit.path(), ParentRootOrigin::Explicit)
        );
    }

    fn nowhere() -> &'static Path {
        Path::new("/nonexistent-berth-parent-root")
    }

    #[test]
    fn normpath_matches_posixpath() {
        for (input, want) in [
            ("", "."),
            ("job-1/", "job-1"),
            ("./job", "job"),
            ("a/../b", "b"),
            ("..", ".."),
            ("/..", "/"),
            ("//a//b/./c/", "/a/b/c"),
            ("a/b/../../..", ".."),
        ] {
            assert_eq!(normpath(input), want, "{input}");
        }
    }

    // C009
    #[test]
    fn child_under_workspace() {
        assert_eq!(
            safe_workspace_child_path("/workspace", "job-1", false, nowhere()).unwrap(),
            "/workspace/job-1"
        );
        assert_eq!(
            safe_workspace_child_path("/workspace/", "job-1", false, nowhere()).unwrap(),
            "/workspace/job-1"
        );
    }

    // C010
    #[test]
    fn reserved_names_allowed_when_requested() {
        for name in RESERVED_NAMES {
            assert_eq!(
                safe_workspace_child_path("/workspace", name, true, nowhere()).unwrap(),
                format!("/workspace/{name}")
            );
        }
    }

    // C011, C012 and the other spellings of §10 step 1
    #[test]
    fn rejects_anything_but_a_single_child() {
        for child in [
            "../other",
            "job-1/../job-2",
            "job-1/",
            "./job",
            "/abs",
            "",
            ".",
            "..",
            "a/b",
            "a\0b",
        ] {
            let e = safe_workspace_child_path("/workspace", child, false, nowhere()).unwrap_err();
            assert_eq!(e.kind(), ErrorKind::Refused);
            assert!(e.message().contains("single workspace child"), "{child}: {e}");
        }
    }

    #[test]
    fn odd_but_single_children_pass() {
        for child in ["a..b", "job\\x", "job 1"] {
            assert!(
                safe_workspace_child_path("/workspace", child, false, nowhere()).is_ok(),
                "{child}"
            );
        }
    }

    // C013
    #[test]
    fn rejects_reserved_name_by_default() {
        let e = safe_workspace_child_path("/workspace", "local", false, nowhere()).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Refused);
        assert!(e.message().contains("reserved workspace name"));
    }

    // C014
    #[test]
    fn rejects_symlinked_child() {
        let tmp = tempfile::tempdir().unwrap();
        let ws = tmp.path().join("workspace");
        std::fs::create_dir_all(ws.join("job-2")).unwrap();
        std::os::unix::fs::symlink(ws.join("job-2"), ws.join("job-1")).unwrap();
        let e = safe_workspace_child_path(ws.to_str().unwrap(), "job-1", false, &ws).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Refused);
        assert!(e.message().contains("must not be a symlink"), "{e}");
    }

    #[test]
    fn rejects_child_that_escapes_through_a_link() {
        let tmp = tempfile::tempdir().unwrap();
        let ws = tmp.path().join("workspace");
        std::fs::create_dir_all(&ws).unwrap();
        std::fs::create_dir_all(tmp.path().join("outside")).unwrap();
        std::os::unix::fs::symlink(tmp.path().join("outside"), ws.join("job-1")).unwrap();
        let e = safe_workspace_child_path(ws.to_str().unwrap(), "job-1", false, &ws).unwrap_err();
        assert!(e.message().contains("escapes workspace"), "{e}");
    }

    #[test]
    fn symlink_to_startup_is_refused_decision_12() {
        let tmp = tempfile::tempdir().unwrap();
        let ws = tmp.path();
        std::fs::create_dir_all(ws.join("startup")).unwrap();
        std::os::unix::fs::symlink(ws.join("startup"), ws.join("job-1")).unwrap();
        let e = safe_workspace_child_path("/host/ws", "job-1", false, ws).unwrap_err();
        assert!(e.message().contains("must not be a symlink"), "{e}");
    }

    #[test]
    fn mount_sources_follow_policy() {
        let ws = "/srv/nvflare/site-1";
        assert!(check_mount_source("/data/train", "dataset", ws).is_ok());
        for bad in [
            "data/train",
            "/data/../etc",
            "/data/train/",
            "/",
            "/etc",
            "/run",
            "/var/run",
            "/etc/docker",
            "/etc/docker/certs.d",
            "/etc/containerd",
            "/etc/shadow",
            "/etc/ssh/ssh_host_ed25519_key",
            "/etc/sudoers.d",
            "/run/docker",
            "/run/containerd/containerd.sock.ttrpc",
            "/run/podman",
            "/run/systemd/private",
            "/run/dbus",
            "/var/run/docker/netns",
            "/run/secrets/x.sock",
            "/proc/1",
            "/sys/fs/cgroup",
            "/dev/shm",
            "/var/run/docker.sock",
            "/run/docker.sock",
            "/run/user/1000",
            "/srv/docker.sock",
            "/srv/nvflare/site-1",
            "/srv/nvflare/site-1/startup",
            "/srv/nvflare",
            "/var/lib/docker/volumes",
            "/usr/bin",
            "/lib/x",
            "/root/.ssh",
        ] {
            let e = check_mount_source(bad, "studies.s.datasets.d.source", ws).unwrap_err();
            assert_eq!(e.kind(), ErrorKind::Invalid, "{bad}");
            assert!(e.message().contains("studies.s.datasets.d.source"), "{e}");
        }
        assert!(check_mount_source("/srv/nvflare/site-10", "d", ws).is_ok());
    }

    #[test]
    fn secret_folders_under_etc_and_run_are_allowed() {
        let ws = "/srv/nvflare/site-1";
        for ok in [
            "/etc/flare/secrets/db-ca",
            "/etc/ssl/private",
            "/run/secrets/token",
            "/var/run/secrets/token",
            "/etc/dockerx",
            "/run/dockerhub-creds",
        ] {
            assert!(check_mount_source(ok, "secret mount source", ws).is_ok(), "{ok}");
        }
    }

    #[test]
    fn mount_sources_are_checked_where_links_point() {
        let tmp = tempfile::tempdir().unwrap();
        let base = tmp.path().canonicalize().unwrap();
        let ws = base.join("ws");
        std::fs::create_dir_all(ws.join("startup")).unwrap();
        std::fs::create_dir_all(base.join("data")).unwrap();
        let link = |name: &str, to: &Path| {
            std::os::unix::fs::symlink(to, base.join(name)).unwrap();
            base.join(name).to_string_lossy().into_owned()
        };
        let ws_s = ws.to_str().unwrap();
        for (source, phrase) in [
            (link("to-root", Path::new("/")), "system directory"),
            (link("to-etc", Path::new("/etc")), "system directory"),
            (link("to-ws", &ws), "overlaps the site workspace"),
            (
                link("to-startup", &ws.join("startup")),
                "overlaps the site workspace",
            ),
        ] {
            let e = check_mount_source(&source, "dataset", ws_s).unwrap_err();
            assert!(e.message().contains("resolves to"), "{e}");
            assert!(e.message().contains(phrase), "{e}");
        }
        let ok = link("to-data", &base.join("data"));
        assert!(check_mount_source(&ok, "dataset", ws_s).is_ok());
    }

    #[test]
    fn prefix_replacement_is_by_component() {
        assert_eq!(
            replace_prefix(
                Path::new("/ws/job/app_a/custom"),
                Path::new("/ws"),
                "/var/tmp/nvflare/workspace"
            )
            .as_deref(),
            Some("/var/tmp/nvflare/workspace/job/app_a/custom")
        );
        assert_eq!(replace_prefix(Path::new("/ws2/x"), Path::new("/ws"), "/m"), None);
    }

    #[test]
    fn realpath_lenient_resolves_the_existing_prefix() {
        let tmp = tempfile::tempdir().unwrap();
        let real = tmp.path().canonicalize().unwrap();
        assert_eq!(realpath_lenient(&tmp.path().join("a/b")), real.join("a/b"));
    }
}
