//! Launch-level study discovery: what `load_runtime_for_launch` / `load_v1_mounts` give
//! the plan builder for the upstream launcher cases.

use super::*;
use crate::ErrorKind;
use proptest::prelude::*;
use serde_json::json;
use std::path::PathBuf;

/// A temp workspace (parent view) with a `local/` folder.
struct Site {
    dir: tempfile::TempDir,
}

impl Site {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("local")).unwrap();
        Site { dir }
    }

    fn root(&self) -> &Path {
        self.dir.path()
    }

    fn runtime(self, text: &str) -> Self {
        std::fs::write(self.root().join(STUDY_RUNTIME_FILE), text).unwrap();
        self
    }

    fn legacy(self, text: &str) -> Self {
        std::fs::write(self.root().join(STUDY_DATA_FILE), text).unwrap();
        self
    }

    fn launch(&self, study: Option<&str>) -> (Result<Option<StudyRuntime>>, Vec<String>) {
        let mut warnings = Vec::new();
        let r = load_runtime_for_launch(self.root(), study, &mut warnings);
        (r, warnings)
    }

    fn runtime_for(&self, study: &str) -> StudyRuntime {
        match self.launch(Some(study)).0 {
            Ok(Some(rt)) => rt,
            other => panic!("expected a runtime, got {other:?}"),
        }
    }

    fn error(&self, study: &str) -> Error {
        match self.launch(Some(study)).0 {
            Err(e) => e,
            Ok(other) => panic!("expected an error, got {other:?}"),
        }
    }

    fn v1(&self, study: &str) -> (Result<Vec<DataMount>>, Vec<String>) {
        let mut warnings = Vec::new();
        let r = load_v1_mounts(self.root(), study, &mut warnings);
        (r, warnings)
    }
}

fn study_a(body: &str) -> String {
    let indented: String = body.lines().map(|l| format!("    {l}\n")).collect();
    format!("format_version: 2\nstudies:\n  study-a:\n{indented}")
}

fn mount(target: &str, source: &str, read_only: bool) -> DataMount {
    DataMount {
        target: target.into(),
        source: source.into(),
        read_only,
    }
}

#[test]
fn file_names_and_targets() {
    // C204
    assert_eq!(
        Path::new("/ws").join(STUDY_RUNTIME_FILE),
        PathBuf::from("/ws/local/study_runtime.yaml")
    );
    assert_eq!(
        Path::new("/ws").join(STUDY_DATA_FILE),
        PathBuf::from("/ws/local/study_data.yaml")
    );
    assert_eq!(data_mount_target("study-a", "training"), "/data/study-a/training");
}

#[test]
fn no_runtime_file_means_no_runtime() {
    let site = Site::new();
    let (r, w) = site.launch(Some("study-a"));
    assert_eq!(r.unwrap(), None);
    assert!(w.is_empty());
    // a v1 file alone does not make a runtime either
    let site = Site::new().legacy("study-a: {}\n");
    assert_eq!(site.launch(Some("study-a")).0.unwrap(), None);
    // no `local/` folder, or a file in its place: no study files
    let dir = tempfile::tempdir().unwrap();
    let mut w = Vec::new();
    assert_eq!(
        load_runtime_for_launch(dir.path(), Some("study-a"), &mut w).unwrap(),
        None
    );
    std::fs::write(dir.path().join("local"), "").unwrap();
    assert_eq!(
        load_runtime_for_launch(dir.path(), Some("study-a"), &mut w).unwrap(),
        None
    );
    assert!(load_v1_mounts(dir.path(), "study-a", &mut w).unwrap().is_empty());
}

#[test]
fn study_image_is_offered_to_the_launch() {
    // C060, C061 (the job image winning is the plan builder's rule)
    let site = Site::new().runtime(&study_a("container:\n  image: registry.example.com/study:v9"));
    assert_eq!(
        site.runtime_for("study-a").image.as_deref(),
        Some("registry.example.com/study:v9")
    );
}

#[test]
fn runtime_exists_even_without_an_entry_for_the_study() {
    // C062: an empty runtime (no image), which the launch reports as "container.image"
    let site = Site::new().runtime("format_version: 2\nstudies: {}\n");
    let (r, w) = site.launch(Some("study-a"));
    assert_eq!(r.unwrap(), Some(StudyRuntime::default()));
    assert!(w.iter().any(|m| m.contains("no study entries")), "{w:?}");
    let (r, _) = site.launch(None);
    assert_eq!(r.unwrap(), Some(StudyRuntime::default()));
    // an unknown study in a non-empty file warns
    let site = Site::new().runtime("format_version: 2\nstudies:\n  other: {}\n");
    let (r, w) = site.launch(Some("study-a"));
    assert_eq!(r.unwrap(), Some(StudyRuntime::default()));
    assert!(
        w.iter().any(|m| m.contains("has no entry for study 'study-a'")),
        "{w:?}"
    );
}

#[test]
fn env_and_secret_env_for_the_plan() {
    // C087: USER is accepted here and loses to the launcher's USER later
    let site = Site::new().runtime(&study_a(concat!(
        "env:\n  DB_HOST: postgres.internal\n  USER: site-user\n",
        "secret_env:\n  DB_PASSWORD: {source: NVFL_STUDY_A_DB_PASSWORD, key: password}",
    )));
    let rt = site.runtime_for("study-a");
    assert_eq!(
        rt.env,
        [
            ("DB_HOST".to_string(), "postgres.internal".to_string()),
            ("USER".to_string(), "site-user".to_string())
        ]
    );
    assert_eq!(
        rt.secret_env,
        [SecretEnvRef {
            name: "DB_PASSWORD".into(),
            source: "NVFL_STUDY_A_DB_PASSWORD".into()
        }]
    );
    // C088: the source is only recorded here; the plan builder reads (and misses) it
    let site = Site::new().runtime(&study_a(
        "secret_env:\n  DB_PASSWORD: {source: NVFL_STUDY_A_MISSING, key: password}",
    ));
    assert_eq!(
        site.runtime_for("study-a").secret_env[0].source,
        "NVFL_STUDY_A_MISSING"
    );
}

#[test]
fn docker_kwargs_for_the_plan() {
    // C114, C115, C116: the study's device_requests reach the plan as given
    let site = Site::new().runtime(&study_a(
        "docker_kwargs:\n  device_requests: [{Count: 4, Capabilities: [[gpu]]}]",
    ));
    let rt = site.runtime_for("study-a");
    assert_eq!(
        rt.docker_kwargs["device_requests"],
        json!([{"Count": 4, "Capabilities": [["gpu"]]}])
    );
    // C122, C123, C124: study kwargs kept in SDK form for the site -> study -> job merge
    let site = Site::new().runtime(&study_a("docker_kwargs: {shm_size: 8g, ipc_mode: host}"));
    let rt = site.runtime_for("study-a");
    assert_eq!(
        serde_json::Value::Object(rt.docker_kwargs),
        json!({"shm_size": "8g", "ipc_mode": "host"})
    );
}

#[test]
fn reserved_docker_kwargs_are_invalid() {
    // C125
    let site = Site::new().runtime(&study_a("docker_kwargs: {environment: {A: b}}"));
    let e = site.error("study-a");
    assert_eq!(e.kind(), ErrorKind::Invalid);
    assert!(e.message().contains("launcher-owned"), "{e}");
}

#[test]
fn unknown_sdk_kwargs_are_refused_for_the_resolved_study() {
    // C126
    let site = Site::new().runtime(&study_a("docker_kwargs: {shm_szie: 8g, zz_top: 1, shm_size: 1g}"));
    let e = site.error("study-a");
    assert_eq!(e.kind(), ErrorKind::Refused);
    assert!(
        e.message().contains("not supported by the installed Docker SDK"),
        "{e}"
    );
    assert!(e.message().contains("['shm_szie', 'zz_top']"), "{e}");
    assert!(e.message().starts_with("study runtime file '"), "{e}");
    // another study's kwargs are only checked structurally
    let (r, _) = site.launch(Some("other"));
    assert_eq!(r.unwrap(), Some(StudyRuntime::default()));
}

#[test]
fn datasets_and_secret_mounts_for_the_plan() {
    // C127
    let site = Site::new().runtime(&study_a(concat!(
        "datasets:\n  training: {source: /host/data/train, mode: ro}\n",
        "secret_mounts:\n  db-ca: {source: /host/secrets/db-ca, mount_path: /var/run/nvflare/secrets/db-ca}",
    )));
    let rt = site.runtime_for("study-a");
    assert_eq!(
        rt.datasets,
        [mount("/data/study-a/training", "/host/data/train", true)]
    );
    assert_eq!(
        rt.secret_mounts,
        [mount(
            "/var/run/nvflare/secrets/db-ca",
            "/host/secrets/db-ca",
            true
        )]
    );
}

#[test]
fn kubernetes_only_fields_are_invalid_at_launch() {
    // C128
    let site = Site::new().runtime(&study_a(
        "secret_mounts:\n  db-ca: {source: /s, mount_path: /m, items: {ca.crt: ca.crt}}",
    ));
    let e = site.error("study-a");
    assert_eq!(e.kind(), ErrorKind::Invalid);
    assert!(e.message().contains("Kubernetes-only"), "{e}");
    // C130
    let site = Site::new().runtime(&study_a("pod_template: {spec: {}}"));
    let e = site.error("study-a");
    assert_eq!(e.kind(), ErrorKind::Invalid);
    assert!(e.message().contains("Kubernetes-only"), "{e}");
    // C134 (docker variant): a bad entry for another study fails every launch
    let site = Site::new().runtime("format_version: 2\nstudies:\n  a: {}\n  b: {slurm: {}}\n");
    assert!(site.error("a").message().contains("Slurm-only"));
}

#[test]
fn v1_and_v2_cannot_be_combined() {
    // C129
    let site = Site::new()
        .runtime("format_version: 2\nstudies: {}\n")
        .legacy("{}\n");
    let e = site.error("study-a");
    assert_eq!(e.kind(), ErrorKind::Refused);
    assert!(e.message().contains("cannot be combined"), "{e}");
    assert!(e.message().contains("study_data.yaml"), "{e}");
    // an existence check: a directory in place of the v1 file counts too
    let site = Site::new().runtime("format_version: 2\n");
    std::fs::create_dir(site.root().join(STUDY_DATA_FILE)).unwrap();
    assert_eq!(site.error("study-a").kind(), ErrorKind::Refused);
    // even a broken v2 file: the conflict is reported first
    let site = Site::new().runtime("[").legacy("{}\n");
    assert_eq!(site.error("study-a").kind(), ErrorKind::Refused);
}

#[test]
fn unreadable_or_oversized_runtime_files_are_invalid() {
    let site = Site::new();
    std::fs::create_dir(site.root().join(STUDY_RUNTIME_FILE)).unwrap();
    let e = site.error("study-a");
    assert_eq!(e.kind(), ErrorKind::Invalid);
    assert!(e.message().contains("Could not read study runtime file"), "{e}");

    let site = Site::new();
    let mut big = study_a("env: {A: b}");
    big.push_str(&"# padding\n".repeat(110_000));
    std::fs::write(site.root().join(STUDY_RUNTIME_FILE), big).unwrap();
    let e = site.error("study-a");
    assert_eq!(e.kind(), ErrorKind::Invalid);
    assert!(e.message().contains("larger than"), "{e}");

    let site = Site::new().runtime("format_version: 2\nstudies:\n  study-a: {env: {A: 1, A: 2}}\n");
    let e = site.error("study-a");
    assert_eq!(e.kind(), ErrorKind::Invalid);
    assert!(
        e.message().contains("studies.study-a.env has duplicate key 'A'"),
        "{e}"
    );

    let site = Site::new().runtime(&format!("{}{}", "[".repeat(5000), "]".repeat(5000)));
    let e = site.error("study-a");
    assert!(e.message().contains("Could not parse study runtime file"), "{e}");
}

#[test]
fn v1_mounts_at_launch() {
    // C078
    let site = Site::new().legacy(
        "study-a:\n  training: {source: /data/train, mode: ro}\n  output: {source: /data/out, mode: rw}\n",
    );
    let (r, w) = site.v1("study-a");
    assert_eq!(
        r.unwrap(),
        [
            mount("/data/study-a/training", "/data/train", true),
            mount("/data/study-a/output", "/data/out", false)
        ]
    );
    assert!(w.is_empty());
    // C079
    let site = Site::new().legacy(concat!(
        "study-a:\n",
        "  training: {source: /data/shared, mode: ro}\n",
        "  validation: {source: /data/shared, mode: ro}\n",
    ));
    let mounts = site.v1("study-a").0.unwrap();
    assert_eq!(mounts[0].source, mounts[1].source);
    assert_eq!(mounts[1].target, "/data/study-a/validation");
    // C080: the host source is not checked from the parent view
    let site = Site::new().legacy("study-a:\n  training: {source: /host/not-mounted-in-parent, mode: ro}\n");
    assert_eq!(
        site.v1("study-a").0.unwrap(),
        [mount(
            "/data/study-a/training",
            "/host/not-mounted-in-parent",
            true
        )]
    );
    // C081
    let site = Site::new().legacy("{}\n");
    assert!(site.v1("default").0.unwrap().is_empty());
    // C082
    let site = Site::new().legacy("default:\n  training: {source: /data/default-train, mode: ro}\n");
    assert_eq!(
        site.v1("default").0.unwrap(),
        [mount("/data/default/training", "/data/default-train", true)]
    );
    // C083
    let site = Site::new().legacy("other-study: {}\n");
    let (r, w) = site.v1("study-a");
    assert!(r.unwrap().is_empty());
    assert!(
        w.iter().any(|m| m.contains("has no entry for study 'study-a'")),
        "{w:?}"
    );
}

#[test]
fn v1_mounts_missing_file_and_errors() {
    let site = Site::new();
    let (r, w) = site.v1("study-a");
    assert!(r.unwrap().is_empty());
    assert!(w[0].contains("was not found"), "{w:?}");
    // no study: nothing is read
    let (r, w) = site.v1("");
    assert!(r.unwrap().is_empty());
    assert!(w.is_empty());
    let site = Site::new().legacy("study-a: /data/train\n");
    let e = site.v1("study-a").0.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Invalid);
    assert!(e.message().contains("study -> dataset"), "{e}");
    let site = Site::new().legacy("- a\n");
    assert!(site.v1("study-a").0.unwrap_err().message().contains("dictionary"));
}

/// An independent statement of the strict name rule, for the property below.
fn reference_name_rule(name: &str) -> bool {
    let ok_edge = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit();
    (1..=63).contains(&name.len())
        && name.chars().all(|c| ok_edge(c) || c == '-' || c == '_')
        && name.chars().next().is_some_and(ok_edge)
        && name.chars().last().is_some_and(ok_edge)
}

fn name_strategy() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-z0-9][a-z0-9_-]{0,10}[a-z0-9]",
        "[a-zA-Z0-9_./ \\-]{0,12}",
        "[a-z]{1,4}\n",
        "[a-z0-9]{60,66}",
        any::<String>(),
    ]
}

const YAMLISH: &str = "[a-zA-Z0-9 :_\\-\\[\\]{}\n\t'\"!&*#|>%@,.?/\\\\]{0,300}";
const STUDY_BODY: &str =
    "(container|datasets|env|secret_env|secret_mounts|docker_kwargs|slurm|pod_template|x): \
     (\\{\\}|null|\\[\\]|1|a|\\{a: \\{source: /s, mode: ro, key: k, mount_path: /m\\}\\})";

fn parse_v2(text: &str, mode: LauncherMode) -> Result<StudyRuntimeConfig> {
    parse_study_runtime(
        text,
        Path::new("/ws/local/study_runtime.yaml"),
        mode,
        &mut Vec::new(),
    )
}

fn quoted(s: &str) -> String {
    serde_json::to_string(s).unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn parser_never_panics_on_yamlish_text(text in YAMLISH) {
        for mode in LauncherMode::ALL {
            let _ = parse_v2(&text, mode);
        }
        let _ = parse_study_data(&text, Path::new("/ws/local/study_data.yaml"), &mut Vec::new());
    }

    #[test]
    fn parser_never_panics_on_studyish_documents(study in name_strategy(), body in STUDY_BODY) {
        let text = format!("format_version: 2\nstudies:\n  {}: {{{body}}}\n", quoted(&study));
        for mode in LauncherMode::ALL {
            let _ = parse_v2(&text, mode);
        }
    }

    #[test]
    fn accepted_names_follow_the_strict_rule(
        study in name_strategy(),
        dataset in name_strategy(),
        mount in name_strategy(),
    ) {
        let text = format!(
            "format_version: 2\nstudies:\n  {}:\n    datasets:\n      {}: {{source: /s, mode: ro}}\n    \
             secret_mounts:\n      {}: {{source: /s, mount_path: /m}}\n",
            quoted(&study),
            quoted(&dataset),
            quoted(&mount)
        );
        let accepted = parse_v2(&text, LauncherMode::Docker);
        let all_valid = [&study, &dataset, &mount].iter().all(|n| reference_name_rule(n));
        prop_assert_eq!(accepted.is_ok(), all_valid);
        if let Ok(config) = accepted {
            for (name, rt) in &config.studies {
                prop_assert!(reference_name_rule(name));
                for ds in &rt.datasets {
                    let tail = ds.target.strip_prefix(&format!("/data/{name}/")).unwrap_or("");
                    prop_assert!(reference_name_rule(tail));
                }
            }
        }
        let v1 = format!("{}:\n  {}: {{source: /s, mode: ro}}\n", quoted(&study), quoted(&dataset));
        let accepted = parse_study_data(&v1, Path::new("/d.yaml"), &mut Vec::new());
        prop_assert_eq!(accepted.is_ok(), reference_name_rule(&study) && reference_name_rule(&dataset));
        prop_assert_eq!(is_valid_name(&study), reference_name_rule(&study));
    }
}
