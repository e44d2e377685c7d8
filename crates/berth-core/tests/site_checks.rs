//! What `berth doctor` checks in a site's study files is what a launch checks: for every
//! study file a launch of some study refuses, `validate_site_studies` fails with the same
//! message, word for word. And the operator checks the CLI adds before a launch: a study
//! the site does not have, and a job folder that is not in the workspace.

mod common;

use berth_core::study::{check_study_known, validate_site_studies, STUDY_DATA_FILE, STUDY_RUNTIME_FILE};
use berth_core::ErrorKind;
use common::*;
use serde_json::json;

/// A client launch of a job in `study` against the site's `study_runtime.yaml` text.
fn launch_in(study: &str, runtime_yaml: &str) -> Fixture {
    Fixture::client()
        .meta_set("study", json!(study))
        .runtime_yaml(runtime_yaml)
}

fn doctor(f: &Fixture) -> berth_core::Result<berth_core::study::SiteStudies> {
    validate_site_studies(f.parent_root(), "/ws", &mut Vec::new())
}

#[test]
fn a_study_file_a_launch_refuses_fails_the_site_check_with_the_same_message() {
    let cases = [
        (
            "relative dataset source",
            "format_version: 2\nstudies:\n  lung:\n    datasets:\n      train: {source: data/train, mode: ro}\n",
        ),
        (
            "dataset source inside the workspace",
            "format_version: 2\nstudies:\n  lung:\n    datasets:\n      train: {source: /ws/local, mode: ro}\n",
        ),
        (
            "system directory as a dataset",
            "format_version: 2\nstudies:\n  lung:\n    datasets:\n      train: {source: /etc, mode: ro}\n",
        ),
        (
            "relative secret mount source",
            "format_version: 2\nstudies:\n  lung:\n    secret_mounts:\n      ca: {source: certs/ca, mount_path: /var/run/nvflare/secrets/ca}\n",
        ),
        (
            "secret mounted over a system directory",
            "format_version: 2\nstudies:\n  lung:\n    secret_mounts:\n      ca: {source: /srv/ca, mount_path: /etc}\n",
        ),
        (
            "docker_kwargs the SDK does not know",
            "format_version: 2\nstudies:\n  lung:\n    docker_kwargs: {shm_sise: 1g}\n",
        ),
        ("unknown key", "format_version: 2\nstudies:\n  lung:\n    containr: {image: x}\n"),
    ];
    for (what, yaml) in cases {
        let f = launch_in("lung", yaml);
        let launch = f.err();
        let check = doctor(&f).expect_err(what);
        assert_eq!(check.message(), launch.message(), "{what}");
        assert_eq!(check.kind(), launch.kind(), "{what}");
    }
}

#[test]
fn the_site_check_covers_every_study_not_only_the_launched_one() {
    let yaml = "format_version: 2\nstudies:\n  good:\n    container: {image: x}\n  bad:\n    datasets:\n      train: {source: rel/path, mode: ro}\n";
    let good = launch_in("good", yaml);
    good.plan().expect("a job of the good study launches");
    let bad = launch_in("bad", yaml);
    assert_eq!(doctor(&good).unwrap_err().message(), bad.err().message());
}

#[test]
fn legacy_and_combined_files_are_checked_as_a_launch_checks_them() {
    let f = Fixture::client()
        .meta_set("study", json!("lung"))
        .study_data_yaml("lung:\n  train: {source: relative/train, mode: ro}\n");
    assert_eq!(doctor(&f).unwrap_err().message(), f.err().message());

    let both = launch_in("lung", "format_version: 2\nstudies: {}\n").study_data_yaml("{}\n");
    let e = doctor(&both).unwrap_err();
    assert_eq!(e.message(), both.err().message());
    assert!(
        e.message().contains(STUDY_DATA_FILE.trim_start_matches("local/")),
        "{e}"
    );
}

#[test]
fn a_good_study_file_passes_and_lists_its_studies() {
    let f = launch_in(
        "lung",
        "format_version: 2\nstudies:\n  lung:\n    datasets:\n      train: {source: /data/lung, mode: ro}\n  heart: {}\n",
    );
    let studies = doctor(&f).unwrap();
    assert_eq!(studies.names(), ["lung", "heart"]);
    assert_eq!(studies.file(), Some(STUDY_RUNTIME_FILE));
}

#[test]
fn an_unknown_study_is_an_error_naming_it_and_the_studies_there_are() {
    let f = launch_in(
        "lung",
        "format_version: 2\nstudies:\n  lung-cancer: {container: {image: x}}\n  heart: {}\n",
    );
    let e = check_study_known(f.parent_root(), Some("lung-cancr")).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Invalid);
    assert!(e.message().contains("unknown study 'lung-cancr'"), "{e}");
    assert!(e.message().contains("lung-cancer, heart"), "{e}");
    check_study_known(f.parent_root(), Some("heart")).unwrap();
    // No study, the default study, and a site without study files are never unknown.
    check_study_known(f.parent_root(), None).unwrap();
    check_study_known(f.parent_root(), Some("default")).unwrap();
    check_study_known(Fixture::client().parent_root(), Some("lung")).unwrap();

    let legacy = Fixture::client().study_data_yaml("lung:\n  train: {source: /d, mode: ro}\n");
    let e = check_study_known(legacy.parent_root(), Some("lungs")).unwrap_err();
    assert!(
        e.message().contains("unknown study 'lungs'") && e.message().contains(": lung"),
        "{e}"
    );
}
