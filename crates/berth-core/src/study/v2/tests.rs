use super::*;
use crate::ErrorKind;
use serde_json::json;

/// Write `text` as `local/study_runtime.yaml` under a temp workspace and load it.
fn load(text: &str, mode: LauncherMode) -> (Result<StudyRuntimeConfig>, Vec<String>) {
    let dir = tempfile::tempdir().unwrap();
    let local = dir.path().join("local");
    std::fs::create_dir(&local).unwrap();
    let path = local.join("study_runtime.yaml");
    std::fs::write(&path, text).unwrap();
    let mut warnings = Vec::new();
    let result = load_study_runtime_file(&path, mode, &mut warnings);
    (result, warnings)
}

fn ok(text: &str, mode: LauncherMode) -> StudyRuntimeConfig {
    match load(text, mode).0 {
        Ok(config) => config,
        Err(e) => panic!("unexpected error: {e}\n---\n{text}"),
    }
}

fn err(text: &str, mode: LauncherMode) -> String {
    match load(text, mode).0 {
        Ok(config) => panic!("expected an error, got {config:?}\n---\n{text}"),
        Err(e) => {
            assert_eq!(e.kind(), ErrorKind::Invalid, "{e}");
            assert!(e.message().contains("study_runtime.yaml"), "{e}");
            e.message().to_string()
        }
    }
}

/// A file with one study `study-a` whose body is `body` (YAML, indented by the caller's
/// own two-space steps).
fn study_a(body: &str) -> String {
    let indented: String = body.lines().map(|l| format!("    {l}\n")).collect();
    format!("format_version: 2\nstudies:\n  study-a:\n{indented}")
}

const D: LauncherMode = LauncherMode::Docker;
const K: LauncherMode = LauncherMode::K8s;
const S: LauncherMode = LauncherMode::Slurm;
const P: LauncherMode = LauncherMode::Process;

#[test]
fn full_example_in_docker_mode() {
    // C134, docker variant: no pod_template and no items
    let text = "\
format_version: 2
studies:
  lung-cancer:
    container:
      image: registry.example.com/lung:v3
    datasets:
      reference:
        source: /host/data/reference
        mode: ro
      scratch:
        type: mount
        source: /host/data/scratch
        mode: rw
    env:
      DB_HOST: postgres.svc
      DB_PORT: 5432
    secret_env:
      DB_USER: {source: STUDY_DB_USER, key: username}
      DB_PASSWORD: {source: study-db, key: password}
    secret_mounts:
      db-ca:
        source: /host/secrets/study-db-ca
        mount_path: /var/run/nvflare/secrets/db-ca
";
    let config = ok(text, D);
    let rt = &config.studies["lung-cancer"];
    assert_eq!(rt.image.as_deref(), Some("registry.example.com/lung:v3"));
    assert_eq!(
        rt.datasets,
        [
            DataMount {
                target: "/data/lung-cancer/reference".into(),
                source: "/host/data/reference".into(),
                read_only: true
            },
            DataMount {
                target: "/data/lung-cancer/scratch".into(),
                source: "/host/data/scratch".into(),
                read_only: false
            },
        ]
    );
    assert_eq!(
        rt.env,
        [
            ("DB_HOST".to_string(), "postgres.svc".to_string()),
            ("DB_PORT".to_string(), "5432".to_string())
        ]
    );
    assert_eq!(
        rt.secret_env,
        [
            SecretEnvRef {
                name: "DB_USER".into(),
                source: "STUDY_DB_USER".into()
            },
            SecretEnvRef {
                name: "DB_PASSWORD".into(),
                source: "study-db".into()
            },
        ]
    );
    assert_eq!(
        rt.secret_mounts,
        [DataMount {
            target: "/var/run/nvflare/secrets/db-ca".into(),
            source: "/host/secrets/study-db-ca".into(),
            read_only: true
        }]
    );
    assert!(rt.docker_kwargs.is_empty());
}

#[test]
fn launcher_specific_blocks_are_rejected_by_other_launchers() {
    // C137
    assert!(err(&study_a("docker_kwargs: {shm_size: 8g}"), S).contains("Docker-only"));
    // C163
    assert!(err(&study_a("docker_kwargs: {shm_size: 8g}"), K).contains("Docker-only"));
    assert!(err(&study_a("docker_kwargs: null"), P).contains("Docker-only"));
    // C143 (C141, C142 for the other modes)
    for mode in [D, K, P] {
        assert!(
            err(&study_a("slurm: {partition: gpu}"), mode).contains("Slurm-only"),
            "{mode}"
        );
    }
    // C196 (C130 at launch), C136
    for mode in [D, S, P] {
        assert!(
            err(&study_a("pod_template: {spec: {}}"), mode).contains("Kubernetes-only"),
            "{mode}"
        );
    }
    // C128 at parser level, C138
    let items = "secret_mounts:\n  db-ca:\n    source: /s\n    mount_path: /m\n    items: {ca.crt: ca.crt}";
    for mode in [D, S, P] {
        assert!(err(&study_a(items), mode).contains("Kubernetes-only"), "{mode}");
    }
    let m = err(&study_a(items), D);
    assert!(
        m.contains("point source at a directory containing only the intended files"),
        "{m}"
    );
}

#[test]
fn each_launcher_accepts_its_own_blocks_structurally() {
    // C144: inline pod_template in k8s mode
    ok(
        &study_a("pod_template: {spec: {nodeSelector: {workload: gpu}}}"),
        K,
    );
    ok(&study_a("pod_template: lung_cancer_pod.yaml"), K);
    assert!(err(&study_a("pod_template: 5"), K).contains("pod_template"));
    ok(
        &study_a("secret_mounts:\n  db-ca: {source: s, mount_path: /m, items: {ca.crt: ca.crt}}"),
        K,
    );
    // C135 (structure only): slurm block, key-less secret_env, empty env values
    let slurm = ok(
        &study_a(concat!(
            "slurm: {partition: gpu, account: 1234}\n",
            "env: {EMPTY_VALUE: '', MULTILINE: \"first line\\nsecond line\"}\n",
            "secret_env:\n  A: {source: A_SRC}\n  B: {source: B_SRC, key: b}",
        )),
        S,
    );
    let rt = &slurm.studies["study-a"];
    assert_eq!(rt.env[0], ("EMPTY_VALUE".to_string(), String::new()));
    assert_eq!(rt.env[1].1, "first line\nsecond line");
    assert_eq!(rt.secret_env.len(), 2);
    // C161: docker mode keeps docker_kwargs
    let config = ok(
        &study_a("docker_kwargs:\n  shm_size: 8g\n  device_requests: [{Count: 1, Capabilities: [[gpu]]}]"),
        D,
    );
    let kwargs = &config.studies["study-a"].docker_kwargs;
    assert_eq!(
        serde_json::Value::Object(kwargs.clone()),
        json!({"shm_size": "8g", "device_requests": [{"Count": 1, "Capabilities": [["gpu"]]}]})
    );
}

#[test]
fn launcher_mode_names() {
    assert_eq!(LauncherMode::from_name("docker").unwrap(), D);
    assert_eq!(LauncherMode::from_name("k8s").unwrap(), K);
    let e = LauncherMode::from_name("kubernetes").unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Invalid);
    assert!(e.message().contains("unknown launcher mode"), "{e}");
    for mode in LauncherMode::ALL {
        assert_eq!(LauncherMode::from_name(mode.as_str()).unwrap(), mode);
    }
}

#[test]
fn secret_env_key_is_required_outside_slurm() {
    let text = study_a("secret_env:\n  PASSWORD: {source: PASSWORD_SOURCE}");
    // C140 (docker), C139 (k8s)
    for mode in [D, K] {
        assert!(err(&text, mode).contains("secret_env.PASSWORD.key"), "{mode}");
    }
    assert!(
        err(&study_a("secret_env:\n  PASSWORD: {source: X, key: ''}"), D).contains("secret_env.PASSWORD.key")
    );
    ok(&text, S);
    assert!(err(&study_a("secret_env:\n  PASSWORD: {source: X, key: 5}"), S).contains(".key"));
}

#[test]
fn top_level_rules() {
    // C146
    assert!(err("studies: {}\n", D).contains("format_version must be 2, got None"));
    // C147
    assert!(err("format_version: 3\nstudies: {}\n", D).contains("format_version must be 2, got 3"));
    assert!(err("format_version: '2'\n", D).contains("format_version"));
    assert!(err("format_version: true\n", D).contains("format_version"));
    ok("format_version: 2.0\n", D);
    // C148
    let m = err("format_version: 2\nresources: {}\nstudies: {}\n", D);
    assert!(m.contains("top level has unknown key(s) ['resources']"), "{m}");
    assert!(m.contains("allowed: ['format_version', 'studies']"), "{m}");
    assert!(err("format_version: 2\n7: x\n", D).contains("unknown key(s) [7]"));
    // the document must be a mapping
    assert!(err("", D).contains("file content must be a mapping."));
    assert!(err("- a\n- b\n", D).contains("file content must be a mapping."));
    assert!(err("just text\n", D).contains("file content must be a mapping."));
    assert!(err("format_version: 2\nstudies: [a]\n", D).contains("studies must be a mapping"));
    assert!(err("format_version: 2\nstudies: text\n", D).contains("studies must be a mapping"));
}

#[test]
fn empty_studies_warn() {
    // C201
    let (config, warnings) = load("format_version: 2\n", D);
    assert!(config.unwrap().studies.is_empty());
    assert!(
        warnings.iter().any(|w| w.contains("no study entries")),
        "{warnings:?}"
    );
    let (config, warnings) = load("format_version: 2\nstudies: null\n", D);
    assert!(config.unwrap().studies.is_empty());
    assert_eq!(warnings.len(), 1);
}

#[test]
fn study_names_and_shapes() {
    // C200
    let m = err("format_version: 2\nstudies:\n  Bad/Name: {}\n", D);
    assert!(m.contains("study name 'Bad/Name' is not a valid name."), "{m}");
    assert!(err("format_version: 2\nstudies:\n  12: {}\n", D).contains("study name 12"));
    assert!(err("format_version: 2\nstudies:\n  null: {}\n", D).contains("study name None"));
    // no trailing-newline quirk
    assert!(err("format_version: 2\nstudies:\n  \"study-a\\n\": {}\n", D).contains("study name"));
    assert!(
        err("format_version: 2\nstudies:\n  study-a: [x]\n", D).contains("studies.study-a must be a mapping")
    );
    assert!(err("format_version: 2\nstudies:\n  study-a: null\n", D)
        .contains("studies.study-a must be a mapping"));
    // name is checked before the value
    assert!(err("format_version: 2\nstudies:\n  Bad: 5\n", D).contains("study name"));
    // C149
    let m = err(&study_a("secret_evn: {}"), D);
    assert!(
        m.contains("studies.study-a has unknown key(s) ['secret_evn']"),
        "{m}"
    );
    // an empty study is fine
    assert_eq!(
        ok("format_version: 2\nstudies:\n  study-a: {}\n", D).studies["study-a"],
        StudyRuntime::default()
    );
}

#[test]
fn container_rules() {
    // C192
    let m = err(&study_a("container: {name: my-job}"), D);
    assert!(m.contains("unknown key(s) ['name']"), "{m}");
    let m = err(&study_a("container: {image: x, name: my-job}"), D);
    assert!(m.contains("'name'"), "{m}");
    // C193
    assert!(err(&study_a("container: {}"), D)
        .contains("studies.study-a.container.image must be a non-empty string"));
    assert!(err(&study_a("container: {image: ''}"), D).contains("container.image"));
    assert!(err(&study_a("container: {image: 5}"), D).contains("container.image"));
    assert!(err(&study_a("container: registry/x:1"), D).contains("container must be a mapping"));
    assert_eq!(ok(&study_a("container: null"), D).studies["study-a"].image, None);
}

#[test]
fn dataset_rules() {
    // C150: type before unknown keys
    let m = err(&study_a("datasets:\n  d: {type: databricks, workspace: w}"), D);
    assert!(m.contains("not yet supported"), "{m}");
    // C151
    let m = err(&study_a("datasets:\n  d: {type: nfs, source: /s, mode: ro}"), D);
    assert!(m.contains("unknown type 'nfs'"), "{m}");
    assert!(
        err(&study_a("datasets:\n  d: {type: null, source: /s, mode: ro}"), D).contains("unknown type None")
    );
    // C152
    let m = err(&study_a("datasets:\n  d: {source: pvc}"), D);
    assert!(
        m.contains("studies.study-a.datasets.d.mode must be 'ro' or 'rw'."),
        "{m}"
    );
    assert!(err(&study_a("datasets:\n  d: {source: /s, mode: RO}"), D).contains(".mode"));
    assert!(err(&study_a("datasets:\n  d: {mode: ro}"), D)
        .contains("datasets.d.source must be a non-empty string"));
    assert!(err(&study_a("datasets:\n  d: {source: '', mode: ro}"), D).contains(".source"));
    assert!(err(&study_a("datasets:\n  d: {source: /s, mode: ro, extra: 1}"), D).contains("['extra']"));
    assert!(err(&study_a("datasets:\n  Bad_D: {source: /s, mode: ro}"), D).contains("dataset name 'Bad_D'"));
    assert!(err(&study_a("datasets:\n  d: /s"), D).contains("datasets.d must be a mapping"));
    assert!(err(&study_a("datasets: [d]"), D).contains("datasets must be a mapping"));
    // order within a dataset: unknown keys before source, source before mode
    assert!(err(&study_a("datasets:\n  d: {extra: 1}"), D).contains("unknown key"));
    assert!(err(&study_a("datasets:\n  d: {mode: bad}"), D).contains(".source"));
}

#[test]
fn env_rules() {
    // C153
    let m = err(
        &study_a("env: {DB_USER: a}\nsecret_env: {DB_USER: {source: S, key: k}}"),
        D,
    );
    assert!(
        m.contains("defines ['DB_USER'] in both env and secret_env"),
        "{m}"
    );
    // C154–C160
    for (section, name) in [
        ("env", "PYTHONPATH"),
        ("env", "NVFL_WORKSPACE_TRANSFER_TOKEN"),
        ("secret_env", "NVFL_WORKSPACE_TRANSFER_TOKEN"),
        ("secret_env", "NVFL_WORKSPACE_OWNER_FQCN"),
        ("env", "NVFLARE_JOB_AUTH_TOKEN"),
        ("secret_env", "NVFLARE_JOB_TOKEN_SIGNATURE"),
        ("secret_env", "NVFLARE_JOB_SSID"),
    ] {
        let body = if section == "env" {
            format!("env: {{{name}: /opt/site}}")
        } else {
            format!("secret_env: {{{name}: {{source: X, key: k}}}}")
        };
        let m = err(&study_a(&body), D);
        assert!(m.contains("launcher-owned"), "{section} {name}: {m}");
        assert!(m.contains(&format!("{section}.{name}")), "{m}");
    }
    // USER and HOME are allowed (they lose to the launcher's later)
    ok(&study_a("env: {USER: site-user, HOME: /home/x}"), D);
    // C164
    assert!(
        err(&study_a("env:\n  DB: {host: x}"), D).contains("studies.study-a.env.DB must be a scalar value.")
    );
    assert!(err(&study_a("env: {DB: [x]}"), D).contains("scalar"));
    assert!(err(&study_a("env: {DB: null}"), D).contains("scalar"));
    // C165, in k8s and docker mode
    for mode in [K, D] {
        assert!(
            err(&study_a("env: {FOO: ''}"), mode).contains("must not be empty"),
            "{mode}"
        );
    }
    // scalars are rendered as text
    let config = ok(
        &study_a("env: {A: true, B: false, C: 5432, D: 1.5, E: 2.0, F: -7, G: text}"),
        D,
    );
    let values: Vec<&str> = config.studies["study-a"]
        .env
        .iter()
        .map(|(_, v)| v.as_str())
        .collect();
    assert_eq!(values, ["true", "false", "5432", "1.5", "2.0", "-7", "text"]);
    // names: non-empty strings, no '=' or NUL (berth)
    assert!(err(&study_a("env: {5: x}"), D).contains("env names must be non-empty strings, got 5"));
    assert!(err(&study_a("env: {'': x}"), D).contains("non-empty strings"));
    assert!(err(&study_a("env: {'NVFLARE_JOB_SSID=x': y}"), D).contains("must not contain '='"));
    assert!(err(&study_a("env: {A: \"a\\0b\"}"), D).contains("NUL"));
    assert!(err(&study_a("secret_env: {'A=B': {source: S, key: k}}"), D).contains("'='"));
    assert!(err(&study_a("env: [A]"), D).contains("env must be a mapping"));
}

#[test]
fn secret_env_rules() {
    assert!(err(&study_a("secret_env: {A: S}"), D).contains("secret_env.A must be a mapping"));
    let m = err(&study_a("secret_env: {A: {source: S, key: k, name: n}}"), D);
    assert!(m.contains("secret_env.A has unknown key(s) ['name']"), "{m}");
    assert!(err(&study_a("secret_env: {A: {key: k}}"), D)
        .contains("secret_env.A.source must be a non-empty string"));
    assert!(err(&study_a("secret_env: {A: {source: 'X=Y', key: k}}"), D).contains("secret_env.A.source"));
    // unknown keys before source, source before key
    assert!(err(&study_a("secret_env: {A: {bad: 1}}"), D).contains("unknown key"));
    assert!(err(&study_a("secret_env: {A: {}}"), D).contains(".source"));
}

#[test]
fn secret_mount_rules() {
    let mount = |fields: &str| study_a(&format!("secret_mounts:\n  db-ca: {{{fields}}}"));
    // C194
    assert!(err(&mount("source: /s, mount_path: /m, mode: rw"), D).contains("read-only"));
    // C195
    let m = err(&mount("source: /s, mount_path: secrets/db-ca"), D);
    assert!(
        m.contains("secret_mounts.db-ca.mount_path must be an absolute path"),
        "{m}"
    );
    assert!(err(&mount("source: /s"), D).contains("absolute"));
    assert!(err(&mount("source: /s, mount_path: ''"), D).contains("absolute"));
    assert!(err(&mount("source: '', mount_path: /m"), D).contains("secret_mounts.db-ca.source"));
    assert!(err(&mount("mount_path: /m"), D).contains(".source"));
    assert!(err(&mount("source: /s, mount_path: /m, extra: 1"), D).contains("['extra']"));
    assert!(err(
        "format_version: 2\nstudies:\n  s:\n    secret_mounts:\n      DB: {}\n",
        D
    )
    .contains("secret mount name 'DB'"));
    assert!(err(&study_a("secret_mounts: {db-ca: /s}"), D).contains("secret_mounts.db-ca must be a mapping"));
    // order: unknown keys, mode, mount_path, items, source
    assert!(err(&mount("bad: 1, mode: rw"), D).contains("unknown key"));
    assert!(err(&mount("mode: rw, mount_path: rel"), D).contains("read-only"));
    assert!(err(&mount("mount_path: rel, items: {a: a}"), D).contains("absolute"));
    assert!(err(&mount("mount_path: /m, items: {a: a}"), D).contains("Kubernetes-only"));
    // explicit ro and null items are fine
    let config = ok(&mount("source: /s, mount_path: /m, mode: ro, items: null"), D);
    assert!(config.studies["study-a"].secret_mounts[0].read_only);
}

#[test]
fn docker_kwargs_rules() {
    // C162, C125
    for key in ["image", "environment", "volumes", "user"] {
        let m = err(&study_a(&format!("docker_kwargs: {{{key}: x}}")), D);
        assert!(
            m.contains(&format!("must not contain launcher-owned key(s) ['{key}']")),
            "{m}"
        );
    }
    let m = err(&study_a("docker_kwargs: {name: a, image: b, shm_size: 1g}"), D);
    assert!(m.contains("['image', 'name']"), "{m}");
    assert!(err(&study_a("docker_kwargs: {5: x}"), D).contains("keys must be non-empty strings, got 5"));
    assert!(err(&study_a("docker_kwargs: {'': x}"), D).contains("keys must be non-empty strings"));
    assert!(err(&study_a("docker_kwargs: [shm_size]"), D).contains("docker_kwargs must be a mapping"));
    let m = err(&study_a("docker_kwargs: {cpu_count: .nan}"), D);
    assert!(
        m.contains("docker_kwargs.cpu_count") && m.contains("finite"),
        "{m}"
    );
    // unknown SDK keys pass the parser (the launch path refuses them)
    let config = ok(&study_a("docker_kwargs: {shm_szie: 8g}"), D);
    assert!(config.studies["study-a"].docker_kwargs.contains_key("shm_szie"));
    assert!(ok(&study_a("docker_kwargs: null"), D).studies["study-a"]
        .docker_kwargs
        .is_empty());
}

#[test]
fn check_order_across_sections() {
    // unknown key before slurm, slurm before container, container before pod_template,
    // pod_template before docker_kwargs, docker_kwargs before datasets, datasets before
    // env, env before secret_env, collision before secret_mounts
    assert!(err(&study_a("bogus: 1\nslurm: {}"), D).contains("unknown key"));
    assert!(err(&study_a("slurm: {}\ncontainer: {}"), D).contains("Slurm-only"));
    assert!(err(&study_a("pod_template: {}\ncontainer: {}"), D).contains("container.image"));
    assert!(err(&study_a("docker_kwargs: {image: x}\npod_template: {}"), D).contains("Kubernetes-only"));
    assert!(err(&study_a("datasets: {d: 1}\ndocker_kwargs: {image: x}"), D).contains("launcher-owned"));
    assert!(err(&study_a("env: {A: null}\ndatasets: {d: 1}"), D).contains("datasets.d"));
    assert!(err(&study_a("secret_env: {A: {}}\nenv: {B: null}"), D).contains("env.B"));
    assert!(err(&study_a("secret_mounts: {x: 1}\nsecret_env: {A: {}}"), D).contains("secret_env.A"));
    assert!(err(
        &study_a("secret_mounts: {x: 1}\nenv: {A: a}\nsecret_env: {A: {source: S, key: k}}"),
        D
    )
    .contains("both env and secret_env"));
}

#[test]
fn every_study_is_validated() {
    let text = "format_version: 2\nstudies:\n  study-a: {env: {A: b}}\n  other: {pod_template: {spec: {}}}\n";
    assert!(err(text, D).contains("studies.other.pod_template"));
}

#[test]
fn resolve_known_and_unknown_studies() {
    // C202
    let config = ok("format_version: 2\nstudies:\n  study-a: {env: {A: b}}\n", D);
    let mut warnings = Vec::new();
    let rt = config.resolve(Some("study-a"), &mut warnings);
    assert_eq!(rt.env, [("A".to_string(), "b".to_string())]);
    assert!(warnings.is_empty());
    // C203
    let config = ok("format_version: 2\nstudies:\n  other: {env: {A: b}}\n", D);
    let mut warnings = Vec::new();
    assert_eq!(
        config.resolve(Some("study-a"), &mut warnings),
        StudyRuntime::default()
    );
    assert!(
        warnings[0].contains("has no entry for study 'study-a'"),
        "{warnings:?}"
    );
    // no study or an empty map: empty runtime, no warning
    let mut warnings = Vec::new();
    assert_eq!(config.resolve(None, &mut warnings), StudyRuntime::default());
    assert_eq!(config.resolve(Some(""), &mut warnings), StudyRuntime::default());
    assert_eq!(
        StudyRuntimeConfig::default().resolve(Some("study-a"), &mut warnings),
        StudyRuntime::default()
    );
    assert!(warnings.is_empty());
}

#[test]
fn duplicate_and_malformed_keys_name_their_path() {
    let m = err("format_version: 2\nstudies:\n  study-a: {}\n  study-a: {}\n", D);
    assert!(m.contains("studies has duplicate key 'study-a'"), "{m}");
    let m = err(&study_a("docker_kwargs:\n  labels: {a: 1, a: 2}"), D);
    assert!(
        m.contains("studies.study-a.docker_kwargs.labels has duplicate key 'a'"),
        "{m}"
    );
    let m = err("format_version: 2\nformat_version: 2\n", D);
    assert!(
        m.contains("the top level has duplicate key 'format_version'"),
        "{m}"
    );
    let m = err("format_version: 2\nstudies:\n  ? [a, b]\n  : {}\n", D);
    assert!(m.contains("keys must be scalars"), "{m}");
}
