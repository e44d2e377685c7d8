//! Bad input never panics: malformed or oddly typed job meta, job process args, site
//! config and study files each give an error of the right kind whose message names the
//! field or the file (DESIGN decision 12).

mod common;

use berth_core::ErrorKind::{self, Invalid, Refused};
use common::*;
use serde_json::{json, Value};

struct Case {
    what: &'static str,
    fixture: Fixture,
    kind: ErrorKind,
    phrases: &'static [&'static str],
}

fn case(what: &'static str, fixture: Fixture, kind: ErrorKind, phrases: &'static [&'static str]) -> Case {
    Case {
        what,
        fixture,
        kind,
        phrases,
    }
}

fn meta(key: &str, value: Value) -> Fixture {
    Fixture::client().meta_set(key, value)
}

fn launcher_spec(value: Value) -> Fixture {
    meta("launcher_spec", value)
}

fn resource_spec(value: Value) -> Fixture {
    meta("resource_spec", value)
}

fn arg(name: &str, value: Value) -> Fixture {
    let mut f = Fixture::client();
    f.args.as_mut().unwrap()[name] = value;
    f
}

fn study(runtime: Option<&str>, data: Option<&str>) -> Fixture {
    let mut f = Fixture::client().meta_set("study", json!("study-a"));
    if let Some(text) = runtime {
        f = f.runtime_yaml(text);
    }
    if let Some(text) = data {
        f = f.study_data_yaml(text);
    }
    f
}

fn v2_study(body: &str) -> Fixture {
    study(
        Some(&format!("format_version: 2\nstudies:\n  study-a:\n{body}")),
        None,
    )
}

fn deep(depth: usize) -> Value {
    let mut v = json!("x");
    for _ in 0..depth {
        v = json!({ "a": v });
    }
    v
}

fn cases() -> Vec<Case> {
    vec![
        // ---- job meta: wrong types everywhere ----
        case("job_id int", meta("job_id", json!(5)), Invalid, &["job_id", "must be a string", "got 5"]),
        case("job_id true", meta("job_id", json!(true)), Invalid, &["job_id", "must be a string"]),
        case("job_id list", meta("job_id", json!(["job-1"])), Invalid, &["job_id", "must be a string"]),
        case("job_id empty list", meta("job_id", json!([])), Refused, &["missing JOB_ID"]),
        case("job_id dict", meta("job_id", json!({"id": 1})), Invalid, &["job_id", "must be a string"]),
        case("job_id NUL", meta("job_id", json!("job\u{0}1")), Invalid, &["job_id", "NUL byte"]),
        case("launcher_spec str", launcher_spec(json!("docker")), Refused, &["launcher_spec", "str"]),
        case("launcher_spec list", launcher_spec(json!([1, 2])), Refused, &["launcher_spec", "list"]),
        case("launcher_spec int", launcher_spec(json!(7)), Refused, &["launcher_spec", "int"]),
        case(
            "launcher_spec site entry str",
            launcher_spec(json!({"site-1": "docker"})),
            Refused,
            &["launcher_spec['site-1']", "str"],
        ),
        case(
            "launcher_spec site docker list",
            launcher_spec(json!({"site-1": {"docker": ["image"]}})),
            Refused,
            &["launcher_spec['site-1']['docker']", "list"],
        ),
        case(
            "launcher_spec default int",
            launcher_spec(json!({"default": 3, "site-1": {"docker": {"image": IMAGE}}})),
            Refused,
            &["launcher_spec['default']", "int"],
        ),
        case(
            "launcher_spec default docker str",
            launcher_spec(json!({"default": {"docker": "img"}})),
            Refused,
            &["launcher_spec['default']['docker']", "str"],
        ),
        case(
            "deeply nested image",
            Fixture::client().docker(json!({"image": deep(400)})),
            Refused,
            &["image", "must be a string, got dict"],
        ),
        case(
            "shm_size nested",
            Fixture::client().docker(json!({"shm_size": {"a": [1]}})),
            Refused,
            &["field 'shm_size'"],
        ),
        case(
            "entrypoint nested list",
            Fixture::client().docker(json!({"entrypoint": [["/bin/sh"]]})).meta_set("byoc", json!(true)),
            Refused,
            &["field 'entrypoint'"],
        ),
        case(
            "entrypoint unbalanced quote",
            Fixture::client().docker(json!({"entrypoint": "/bin/sh 'x"})).meta_set("byoc", json!(true)),
            Invalid,
            &["entrypoint"],
        ),
        case(
            "python_path int",
            Fixture::client().docker(json!({"python_path": 3})),
            Refused,
            &["python_path", "non-empty string"],
        ),
        case("resource_spec str", resource_spec(json!("gpu")), Invalid, &["resource_spec", "str"]),
        case("resource_spec list", resource_spec(json!([{"num_of_gpus": 1}])), Invalid, &["resource_spec", "list"]),
        case(
            "resource_spec site str",
            resource_spec(json!({"site-1": "big"})),
            Invalid,
            &["resource_spec['site-1']", "str"],
        ),
        case(
            "resource_spec @default list",
            resource_spec(json!({"@default": [1]})),
            Invalid,
            &["resource_spec['@default']", "list"],
        ),
        case(
            "num_of_cpus string",
            resource_spec(json!({"site-1": {"num_of_cpus": "4"}})),
            Invalid,
            &["resource_spec for site 'site-1'.num_of_cpus"],
        ),
        case(
            "num_of_cpus huge",
            resource_spec(json!({"site-1": {"num_of_cpus": i64::MAX}})),
            Invalid,
            &["resource_spec for site 'site-1'.num_of_cpus"],
        ),
        case(
            "num_of_gpus float",
            resource_spec(json!({"@default": {"num_of_gpus": 1.0}})),
            Invalid,
            &["resource_spec for site 'site-1'.num_of_gpus"],
        ),
        case(
            "memory int",
            resource_spec(json!({"site-1": {"memory": 8}})),
            Invalid,
            &["resource_spec for site 'site-1'.memory"],
        ),
        case(
            "memory overflow",
            resource_spec(json!({"site-1": {"memory": "99999999999999999999Ti"}})),
            Invalid,
            &["resource_spec for site 'site-1'.memory"],
        ),
        case(
            "legacy nested docker block str",
            Fixture::client().meta(json!({"job_id": "job-1", "resource_spec": {"site-1": {"docker": "img"}}})),
            Refused,
            &["resource_spec['site-1']['docker']", "str"],
        ),
        case("study int", meta("study", json!(5)), Invalid, &["'study' must be a string"]),
        case("study list", meta("study", json!(["study-a"])), Invalid, &["'study' must be a string"]),
        // ---- job process args: entries that are not [flag, value] pairs ----
        case("exe_module str", arg("exe_module", json!("module")), Refused, &["exe_module"]),
        case("exe_module one item", arg("exe_module", json!(["-m"])), Refused, &["exe_module"]),
        case("exe_module empty module", arg("exe_module", json!(["-m", ""])), Refused, &["missing exe_module"]),
        case("parent_url str", arg("parent_url", json!("tcp://localhost:8002")), Invalid, &["malformed parent_url"]),
        case("parent_url triple", arg("parent_url", json!(["-p", "tcp://a:1", "x"])), Invalid, &["malformed parent_url"]),
        case(
            "parent_conn_sec null",
            arg("parent_conn_sec", json!(null)),
            Invalid,
            &["malformed parent_conn_sec"],
        ),
        case(
            "parent_conn_sec dict",
            arg("parent_conn_sec", json!({"flag": "mtls"})),
            Invalid,
            &["malformed parent_conn_sec"],
        ),
        case("parent_url port text", arg("parent_url", json!(["-p", "tcp://h:port"])), Invalid, &["invalid parent URL"]),
        case(
            "parent_url port out of range",
            arg("parent_url", json!(["-p", "tcp://h:70000"])),
            Invalid,
            &["invalid parent URL"],
        ),
        case("parent_url int", arg("parent_url", json!(["-p", 8002])), Invalid, &["parent URL"]),
        case("workspace str", arg("workspace", json!("/ws")), Invalid, &["malformed workspace"]),
        case("startup_dir dict", arg("startup_dir", json!({"-s": "/ws/startup"})), Invalid, &["malformed startup_dir"]),
        case("auth_token str", arg("auth_token", json!("secret")), Invalid, &["malformed auth_token"]),
        case("ssid triple", arg("ssid", json!(["-d", "a", "b"])), Invalid, &["malformed ssid"]),
        case(
            "python_path NUL",
            Fixture::client().docker(json!({"python_path": "/usr/bin/python\u{0}"})),
            Invalid,
            &["NUL", "python"],
        ),
        case("args value NUL", arg("workspace", json!(["-w", "/ws\u{0}x"])), Invalid, &["NUL", "/ws"]),
        case("set item NUL", {
            let mut f = Fixture::client();
            f.set = vec!["a=\u{0}b".into()];
            f
        }, Invalid, &["NUL"]),
        case("args empty", Fixture::client().args(Some(json!({}))), Refused, &["__job_process_args__"]),
        // ---- site config ----
        case(
            "site env list",
            Fixture::client().site_arg("default_job_env", json!(["A=1"])),
            Invalid,
            &["default_job_env", "JSON object"],
        ),
        case(
            "site env value dict",
            Fixture::client().site_arg("default_job_env", json!({"A": {"b": 1}})),
            Invalid,
            &["default_job_env['A']"],
        ),
        case(
            "site kwargs str",
            Fixture::client().site_arg("default_job_container_kwargs", json!("shm_size=1g")),
            Invalid,
            &["default_job_container_kwargs", "JSON object"],
        ),
        case(
            "site kwargs bad value",
            Fixture::client().site_arg("default_job_container_kwargs", json!({"shm_size": [1]})),
            Invalid,
            &["default_job_container_kwargs", "shm_size"],
        ),
        case(
            "site kwargs unknown key",
            Fixture::client().site_arg("default_job_container_kwargs", json!({"shm_szie": "1g"})),
            Invalid,
            &["default_job_container_kwargs", "shm_szie"],
        ),
        case(
            "site workspace int",
            Fixture::client().site_arg("workspace", json!(5)),
            Invalid,
            &["workspace", "must be a string"],
        ),
        case(
            "site network list",
            Fixture::client().site_arg("network", json!(["net"])),
            Invalid,
            &["network", "Docker network name"],
        ),
        // ---- study files: garbage, wrong shapes, unreadable ----
        case(
            "v2 malformed yaml",
            study(Some("studies: [\n"), None),
            Invalid,
            &["Could not parse study runtime file", "study_runtime.yaml"],
        ),
        case(
            "v2 not utf-8",
            study(Some("format_version: 2\nstudies: {\u{fffd}"), None),
            Invalid,
            &["study_runtime.yaml"],
        ),
        case("v2 list root", study(Some("- 1\n- 2\n"), None), Invalid, &["study_runtime.yaml", "mapping"]),
        case("v2 empty", study(Some(""), None), Invalid, &["study_runtime.yaml", "must be a mapping"]),
        case(
            "v2 format_version str",
            study(Some("format_version: '2'\nstudies: {}\n"), None),
            Invalid,
            &["study_runtime.yaml", "format_version"],
        ),
        case(
            "v2 studies list",
            study(Some("format_version: 2\nstudies: [study-a]\n"), None),
            Invalid,
            &["study_runtime.yaml", "studies"],
        ),
        case("v2 study str", v2_study("    x\n"), Invalid, &["study_runtime.yaml", "studies.study-a"]),
        case(
            "v2 env list value",
            v2_study("    env:\n      A: [1]\n"),
            Invalid,
            &["study_runtime.yaml", "studies.study-a.env.A", "scalar"],
        ),
        case(
            "v2 datasets str",
            v2_study("    datasets: /data\n"),
            Invalid,
            &["study_runtime.yaml", "studies.study-a.datasets"],
        ),
        case(
            "v2 dataset source int",
            v2_study("    datasets:\n      d: {source: 5, mode: ro}\n"),
            Invalid,
            &["study_runtime.yaml", "studies.study-a.datasets.d.source"],
        ),
        case(
            "v2 secret_env ref str",
            v2_study("    secret_env:\n      A: SOURCE\n"),
            Invalid,
            &["study_runtime.yaml", "studies.study-a.secret_env.A"],
        ),
        case(
            "v2 docker_kwargs bad value",
            v2_study("    docker_kwargs:\n      shm_size: [1]\n"),
            Invalid,
            &["studies.study-a.docker_kwargs", "shm_size"],
        ),
        case(
            "v2 docker_kwargs network_mode",
            v2_study("    docker_kwargs:\n      network_mode: host\n"),
            Invalid,
            &["studies.study-a.docker_kwargs", "network_mode"],
        ),
        case(
            "v2 container image list",
            v2_study("    container:\n      image: [a]\n"),
            Invalid,
            &["study_runtime.yaml", "studies.study-a.container.image"],
        ),
        case(
            "v2 secret mount at workspace",
            v2_study("    secret_mounts:\n      s:\n        source: /srv/secret\n        mount_path: /var/tmp/nvflare/workspace/startup\n"),
            Invalid,
            &["mount_path"],
        ),
        case(
            "v2 dataset source inside workspace",
            v2_study("    datasets:\n      d: {source: /ws/startup, mode: rw}\n"),
            Invalid,
            &["dataset source", "/ws/startup"],
        ),
        case(
            "v1 malformed yaml",
            study(None, Some("study-a: [\n")),
            Invalid,
            &["Could not parse study data file", "study_data.yaml"],
        ),
        case("v1 list root", study(None, Some("[]\n")), Invalid, &["study_data.yaml", "dictionary"]),
        case(
            "v1 flat study",
            study(None, Some("study-a: /data/train\n")),
            Invalid,
            &["study_data.yaml", "study -> dataset"],
        ),
        case(
            "v1 dataset int",
            study(None, Some("study-a:\n  training: 5\n")),
            Invalid,
            &["study_data.yaml", "training"],
        ),
        case(
            "v1 mode bool",
            study(None, Some("study-a:\n  training: {source: /data/t, mode: true}\n")),
            Invalid,
            &["study_data.yaml", "mode"],
        ),
        case(
            "v1 source relative",
            study(None, Some("study-a:\n  training: {source: data/t, mode: ro}\n")),
            Invalid,
            &["data/t", "absolute"],
        ),
    ]
}

#[test]
fn bad_input_gives_the_right_error_kind_and_names_the_field() {
    let mut failures = Vec::new();
    for c in cases() {
        match c.fixture.plan() {
            Ok(plan) => failures.push(format!("{}: planned {}", c.what, plan.create)),
            Err(e) if e.kind() != c.kind => {
                failures.push(format!("{}: kind {:?}, want {:?}: {e}", c.what, e.kind(), c.kind))
            }
            Err(e) => {
                for p in c.phrases {
                    if !e.message().contains(p) {
                        failures.push(format!("{}: message lacks {p:?}: {e}", c.what));
                    }
                }
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} case(s) failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// Site files berth cannot read as files: a study file that is a folder.
#[test]
fn unreadable_study_files_are_invalid_and_named() {
    for (file, phrase) in [
        ("study_runtime.yaml", "study runtime file"),
        ("study_data.yaml", "study data file"),
    ] {
        let f = Fixture::client().meta_set("study", json!("study-a"));
        std::fs::create_dir_all(f.parent_root().join("local").join(file)).unwrap();
        let e = f.err();
        assert_err(&e, Invalid, &[phrase, file]);
    }
}

/// A study file that is not UTF-8 at all.
#[test]
fn binary_study_files_are_invalid_and_named() {
    for file in ["study_runtime.yaml", "study_data.yaml"] {
        let f = Fixture::client().meta_set("study", json!("study-a"));
        let local = f.parent_root().join("local");
        std::fs::create_dir_all(&local).unwrap();
        std::fs::write(local.join(file), [0xff, 0xfe, 0x00, 0x9f, b':', b'\n']).unwrap();
        let e = f.err();
        assert_err(&e, Invalid, &[file]);
    }
}

/// A `local` that is a file, so the study files cannot even be looked up.
#[test]
fn local_that_is_a_file_means_no_study_files() {
    let f = Fixture::client().meta_set("study", json!("study-a"));
    std::fs::write(f.parent_root().join("local"), "not a folder").unwrap();
    assert!(f.plan().is_ok());
}
