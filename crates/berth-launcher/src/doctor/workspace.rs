//! The workspace layout, the state store's folder, the study files, the container options
//! and the user jobs run as: everything that needs no engine.

use super::{Checklist, OPTIONS, STUDY, USER, WORKSPACE};
use crate::Site;
use berth_core::study::{validate_site_studies, SiteStudies, STUDY_RUNTIME_FILE};
use berth_core::{plan, WORKSPACE_ENV, WORKSPACE_MOUNT};
use std::path::Path;

const LAYOUT_FIX: &str = "point the launcher's workspace (or --parent-root) at the site's folder from its \
     startup kit: the one that holds startup/ and local/";

/// Host workspace set; parent root, startup/ and local/ present; local/ readable; the
/// store dir writable. Returns whether local/ can be read (the study files live there).
pub(super) fn check_workspace(list: &mut Checklist, site: Option<&Site>) -> bool {
    let Some(site) = list.site_or_skip(site, "workspace", WORKSPACE, "workspace") else {
        return false;
    };
    match &site.config.workspace {
        Some(ws) => list.pass("workspace_set", WORKSPACE, format!("host workspace {ws}")),
        None => list.fail(
            "workspace_set",
            WORKSPACE,
            "the host workspace is not set; every launch would be refused".into(),
            format!(
                "add \"workspace\": \"/host/path/to/workspace\" to the launcher args, or set {WORKSPACE_ENV}"
            ),
        ),
    }
    let root = &site.parent_root;
    let origin = site.parent_root_origin.describe();
    if !root.is_dir() {
        list.fail(
            "parent_root",
            WORKSPACE,
            format!(
                "berth would read the workspace at {} ({origin}), which is not a directory",
                root.display()
            ),
            format!(
                "pass --parent-root with the folder where berth sees the workspace \
                 ({WORKSPACE_MOUNT} inside the parent container)"
            ),
        );
        return false;
    }
    list.pass(
        "parent_root",
        WORKSPACE,
        format!("berth reads the workspace at {} ({origin})", root.display()),
    );
    if root.join("startup").is_dir() {
        list.pass("startup_dir", WORKSPACE, "startup/ present".into());
    } else {
        list.fail(
            "startup_dir",
            WORKSPACE,
            format!("no startup/ in {}: this is not a site workspace", root.display()),
            LAYOUT_FIX.into(),
        );
    }
    let local_ok = check_local_dir(list, root);
    check_store_dir(list, root);
    local_ok
}

/// `local/` present and readable (the study files live there).
fn check_local_dir(list: &mut Checklist, root: &Path) -> bool {
    let local = root.join("local");
    if !local.is_dir() {
        list.fail(
            "local_dir",
            WORKSPACE,
            format!("no local/ in {}: this is not a site workspace", root.display()),
            LAYOUT_FIX.into(),
        );
        return false;
    }
    match std::fs::read_dir(&local) {
        Ok(_) => {
            list.pass("local_dir", WORKSPACE, "local/ present and readable".into());
            true
        }
        Err(e) => {
            list.fail(
                "local_dir",
                WORKSPACE,
                format!("cannot read {}: {e}", local.display()),
                format!("let berth's user read it: chown or chmod {}", local.display()),
            );
            false
        }
    }
}

/// `<parent_root>/.berth` must be writable (or creatable); checked by writing a probe file.
fn check_store_dir(list: &mut Checklist, root: &Path) {
    let store_dir = root.join(berth_store::sqlite::STORE_DIR);
    let (probe_in, what) = if store_dir.is_dir() {
        (store_dir.clone(), "writable")
    } else {
        (root.to_path_buf(), "can be created")
    };
    let probe = probe_in.join(format!(".berth-doctor-{}", std::process::id()));
    match std::fs::write(&probe, b"") {
        Ok(()) => {
            // The probe is ours and empty; a failure to remove it is harmless.
            let _ = std::fs::remove_file(&probe);
            list.pass(
                "store_dir",
                WORKSPACE,
                format!("state store dir {} {what}", store_dir.display()),
            );
        }
        Err(e) => list.fail(
            "store_dir",
            WORKSPACE,
            format!("cannot write in {}: {e}", probe_in.display()),
            format!(
                "berth keeps its state store in {}: let berth's user write there (chown or chmod)",
                store_dir.display()
            ),
        ),
    }
}

/// The study files, checked by the same core function a launch's checks come from
/// (`validate_site_studies`): a study file a launch refuses fails here with that message.
pub(super) fn check_study_files(
    list: &mut Checklist,
    site: Option<&Site>,
    local_ok: bool,
) -> Option<SiteStudies> {
    let site = list.site_or_skip(site, "study_files", STUDY, "study files")?;
    if !local_ok {
        list.skip("study_files", STUDY, "study files: local/ cannot be read".into());
        return None;
    }
    let host_workspace = site
        .host_workspace()
        .unwrap_or_else(|| site.parent_root.display().to_string());
    let mut warnings = Vec::new();
    let result = validate_site_studies(&site.parent_root, &host_workspace, &mut warnings);
    for w in &warnings {
        list.warn("study_files", STUDY, w.clone(), "jobs still launch".into());
    }
    let studies = match result {
        Ok(studies) => studies,
        Err(e) => {
            list.fail(
                "study_files",
                STUDY,
                e.message().to_string(),
                e.hint().map(str::to_string).unwrap_or_else(|| {
                    "fix the study file; every launch with a study is refused until then".into()
                }),
            );
            return None;
        }
    };
    match studies.file() {
        Some(file) => {
            let names = studies.names();
            let plural = if names.len() == 1 { "y" } else { "ies" };
            list.pass(
                "study_files",
                STUDY,
                format!(
                    "{file}: {} stud{plural} ({}), mount sources allowed",
                    names.len(),
                    names.join(", ")
                ),
            );
        }
        None => list.pass(
            "study_files",
            STUDY,
            "no study files: jobs get no datasets or study settings".into(),
        ),
    }
    check_dataset_sources(list, &studies);
    Some(studies)
}

/// A dataset source berth cannot see is only a warning: when berth runs in the parent
/// container, host paths are often invisible to it.
fn check_dataset_sources(list: &mut Checklist, studies: &SiteStudies) {
    let mut sources: Vec<(String, String)> = Vec::new();
    if let Some(rt) = &studies.runtime {
        for (name, s) in &rt.studies {
            for m in &s.datasets {
                sources.push((format!("{name} {}", m.target), m.source.clone()));
            }
        }
    }
    if let Some(data) = &studies.legacy {
        for (name, datasets) in &data.studies {
            for (dataset, d) in datasets {
                sources.push((format!("{name}/{dataset}"), d.source.clone()));
            }
        }
    }
    if sources.is_empty() {
        return;
    }
    let missing: Vec<String> = sources
        .iter()
        .filter(|(_, src)| !Path::new(src).exists())
        .map(|(what, src)| format!("{src} ({what})"))
        .collect();
    if missing.is_empty() {
        let plural = if sources.len() == 1 { "" } else { "s" };
        list.pass(
            "dataset_sources",
            STUDY,
            format!("{} dataset source{plural} present", sources.len()),
        );
    } else {
        list.warn(
            "dataset_sources",
            STUDY,
            format!("dataset source not found here: {}", missing.join(", ")),
            "the engine refuses to start a job whose bind source is missing on the host; \
             ignore this if berth runs in a container that does not see host paths"
                .into(),
        );
    }
}

/// The site's container options (and each study's) translate into Engine API fields, by
/// the core functions a launch translates each layer with, so the messages are a launch's.
pub(super) fn check_container_options(
    list: &mut Checklist,
    site: Option<&Site>,
    studies: Option<&SiteStudies>,
) {
    let Some(site) = list.site_or_skip(site, "container_options", OPTIONS, "container options") else {
        return;
    };
    let kwargs = &site.config.default_job_container_kwargs;
    match plan::translate_site_options(&site.config) {
        Ok(_) if kwargs.is_empty() => list.pass(
            "container_options",
            OPTIONS,
            "no site container options (default_job_container_kwargs)".into(),
        ),
        Ok(_) => list.pass(
            "container_options",
            OPTIONS,
            format!(
                "default_job_container_kwargs translate: {}",
                kwargs.keys().cloned().collect::<Vec<_>>().join(", ")
            ),
        ),
        Err(e) => list.fail_with(
            "container_options",
            OPTIONS,
            &e,
            "use the Python Docker SDK's names and value forms".into(),
        ),
    }
    let Some(rt) = studies.and_then(|s| s.runtime.as_ref()) else {
        return;
    };
    for (name, s) in rt.studies.iter().filter(|(_, s)| !s.docker_kwargs.is_empty()) {
        let source = format!("studies.{name}.docker_kwargs");
        match plan::translate_study_options(name, &s.docker_kwargs) {
            Ok(_) => list.pass("container_options", OPTIONS, format!("{source} translate")),
            Err(e) => list.fail_with(
                "container_options",
                OPTIONS,
                &e,
                format!("fix {source} in {STUDY_RUNTIME_FILE}"),
            ),
        }
    }
}

/// Jobs run as berth's own uid:gid (the site's, or this process's when the config did not
/// load: the same rule).
pub(super) fn check_job_user(list: &mut Checklist, site: Option<&Site>) {
    let (uid, gid) = site.map_or_else(crate::site::process_user, |s| (s.uid, s.gid));
    if uid == 0 {
        list.warn(
            "job_user",
            USER,
            format!("jobs will run as {uid}:{gid} (root)"),
            "jobs run as berth's own uid:gid; run berth as the site's service user so jobs run unprivileged"
                .into(),
        );
    } else {
        list.pass(
            "job_user",
            USER,
            format!("jobs will run as {uid}:{gid} (berth's own user)"),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::super::Status;
    use super::*;
    use berth_core::study::STUDY_DATA_FILE;

    fn site_at(root: &Path, workspace: Option<String>) -> Site {
        Site {
            config: berth_core::config::SiteConfig {
                workspace,
                ..Default::default()
            },
            name: "site-1".into(),
            role: berth_core::args::Role::Client,
            parent_root: root.to_path_buf(),
            parent_root_origin: berth_core::workspace::ParentRootOrigin::Explicit,
            uid: 1000,
            gid: 1000,
        }
    }

    /// A temp workspace with local/ and this study runtime file.
    fn workspace_with_study_runtime(text: &str) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("local")).unwrap();
        std::fs::write(dir.path().join(STUDY_RUNTIME_FILE), text).unwrap();
        dir
    }

    /// The one failed check of `list`.
    fn only_failure(list: &Checklist) -> Vec<&super::super::Check> {
        let failed: Vec<_> = list.checks.iter().filter(|c| c.status == Status::Fail).collect();
        assert_eq!(failed.len(), 1, "{:?}", list.checks);
        failed
    }

    #[test]
    fn a_workspace_without_startup_fails_with_the_layout_fix() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("local")).unwrap();
        let site = site_at(dir.path(), Some(dir.path().display().to_string()));
        let mut list = Checklist::default();
        assert!(check_workspace(&mut list, Some(&site)), "local/ is readable");
        let startup = list.checks.iter().find(|c| c.id == "startup_dir").unwrap();
        assert_eq!(startup.status, Status::Fail);
        assert!(startup.fix.as_deref().unwrap().contains("startup/ and local/"));
        let store = list.checks.iter().find(|c| c.id == "store_dir").unwrap();
        assert_eq!(store.status, Status::Pass);
    }

    #[test]
    fn both_study_files_fail_with_the_launch_message() {
        let dir = workspace_with_study_runtime("format_version: 2\nstudies: {}\n");
        std::fs::write(dir.path().join(STUDY_DATA_FILE), "{}\n").unwrap();
        let site = site_at(dir.path(), None);
        let mut list = Checklist::default();
        check_study_files(&mut list, Some(&site), true);
        let launch =
            berth_core::study::load_runtime_for_launch(dir.path(), None, &mut Vec::new()).unwrap_err();
        let failed = only_failure(&list);
        assert!(
            failed[0].summary.contains("cannot be combined"),
            "{:?}",
            failed[0]
        );
        assert_eq!(failed[0].summary, launch.message());
    }

    #[test]
    fn a_study_option_a_launch_refuses_fails_with_the_launch_message() {
        let dir = workspace_with_study_runtime(
            "format_version: 2\nstudies:\n  s1:\n    docker_kwargs:\n      shm_size: 8q\n",
        );
        let site = site_at(dir.path(), Some(dir.path().display().to_string()));
        let mut list = Checklist::default();
        let studies = check_study_files(&mut list, Some(&site), true);
        check_container_options(&mut list, Some(&site), studies.as_ref());
        let rt = studies.as_ref().and_then(|s| s.runtime.as_ref()).unwrap();
        let launch = plan::translate_study_options("s1", &rt.studies["s1"].docker_kwargs).unwrap_err();
        let failed = only_failure(&list);
        assert_eq!(failed[0].id, "container_options");
        assert_eq!(failed[0].summary, launch.message());
        assert!(
            launch.message().contains("studies.s1.docker_kwargs"),
            "{}",
            launch.message()
        );
    }
}
