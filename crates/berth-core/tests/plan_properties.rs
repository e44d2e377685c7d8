//! Properties of every plan berth accepts:
//! - the container name is a valid Docker name, whatever the site and job id;
//! - no job id, study, dataset or mount source makes a bind leave the workspace rules:
//!   only `startup/` and `local/` (read-only) and `<ws>/<job_id>` (read-write) come from
//!   the host workspace, every container path is absolute, normalised and used once;
//! - no job input (arbitrary `launcher_spec` / `resource_spec`) reaches a HostConfig field
//!   other than the site's, `ShmSize`, `DeviceRequests`, `NanoCpus`, `Memory` and the
//!   launcher's own, nor changes the user, working dir or environment.

mod common;

use berth_core::workspace::normpath;
use common::*;
use proptest::collection::{btree_map, vec};
use proptest::prelude::*;
use serde_json::{json, Map, Value};
use std::collections::HashSet;
use std::path::Path;

/// Docker's container name rule, written out here rather than borrowed from the crate.
fn docker_accepts_name(name: &str) -> bool {
    let bytes = name.as_bytes();
    bytes.len() >= 2
        && bytes[0].is_ascii_alphanumeric()
        && bytes[1..]
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'))
}

fn within(inner: &str, outer: &str) -> bool {
    Path::new(inner).starts_with(outer)
}

/// A single path segment an attacker might try.
fn segment() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("..".to_string()),
        Just(".".to_string()),
        Just(String::new()),
        Just("startup".to_string()),
        Just("local".to_string()),
        Just("job-1".to_string()),
        Just("%2e%2e".to_string()),
        Just("..\\..".to_string()),
        Just("a\0b".to_string()),
        Just(" ".to_string()),
        "[a-z0-9][a-z0-9_.-]{0,8}",
        "\\PC{1,6}",
    ]
}

/// Path-like strings: segments joined by `/`, maybe absolute, maybe with a trailing `/`.
fn pathy() -> impl Strategy<Value = String> {
    (any::<bool>(), vec(segment(), 1..4), any::<bool>()).prop_map(|(abs, parts, trailing)| {
        let mut s = parts.join("/");
        if abs {
            s.insert(0, '/');
        }
        if trailing {
            s.push('/');
        }
        s
    })
}

/// Names of studies, datasets and secret mounts: mostly valid, sometimes path-like.
fn name() -> impl Strategy<Value = String> {
    prop_oneof![8 => "[a-z0-9][a-z0-9_-]{0,10}[a-z0-9]", 1 => pathy(), 1 => segment()]
}

const HOST_WS: &str = "/srv/nvflare/site-1";

/// Host paths a study might name as a source, including ones inside the workspace.
fn source() -> impl Strategy<Value = String> {
    prop_oneof![
        12 => "/mnt/[a-z]{1,6}(/[a-z0-9_-]{1,6}){0,2}",
        1 => pathy(),
        1 => pathy().prop_map(|p| format!("{HOST_WS}/{p}")),
        1 => Just(HOST_WS.to_string()),
        1 => Just(format!("{HOST_WS}/startup")),
        1 => Just(format!("{HOST_WS}/local")),
        1 => Just(format!("{HOST_WS}/job-1")),
        1 => Just("/srv/nvflare".to_string()),
        1 => Just("/var/run/docker.sock".to_string()),
    ]
}

fn mount_path() -> impl Strategy<Value = String> {
    prop_oneof![
        8 => "/var/run/secrets/[a-z]{1,6}",
        1 => pathy(),
        1 => Just(MOUNT.to_string()),
        1 => Just(format!("{MOUNT}/startup")),
        1 => Just("/data".to_string()),
    ]
}

fn job_id() -> impl Strategy<Value = String> {
    prop_oneof![8 => "[a-zA-Z0-9][a-zA-Z0-9._-]{0,20}", 2 => pathy(), 1 => segment(), 1 => "\\PC{1,20}"]
}

// ---- (a) container names ----

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    #[test]
    fn container_names_are_valid_docker_names(
        site in prop_oneof!["[a-z0-9][a-z0-9._-]{0,15}", "\\PC{0,20}", ".{0,12}"],
        job in prop_oneof!["[a-zA-Z0-9._-]{1,200}", "\\PC{1,40}", job_id()],
    ) {
        let mut f = Fixture::client().meta_set("job_id", json!(job));
        f.site = site.clone();
        f.meta["launcher_spec"] = json!({site.clone(): {"docker": {"image": IMAGE}}});
        if let Ok(plan) = f.plan() {
            prop_assert!(docker_accepts_name(&plan.name), "{:?} from {site:?} / {job:?}", plan.name);
            prop_assert!(plan.name.len() <= 128, "{:?}", plan.name);
        }
    }
}

// ---- (b) mount sources and targets ----

#[derive(Debug, Clone)]
struct StudyInput {
    v2: bool,
    job: String,
    study: String,
    datasets: Vec<(String, String, bool)>,
    secrets: Vec<(String, String, String)>,
    link_job_to: Option<&'static str>,
}

fn study_input() -> impl Strategy<Value = StudyInput> {
    (
        any::<bool>(),
        job_id(),
        name(),
        vec((name(), source(), any::<bool>()), 0..4),
        vec((name(), source(), mount_path()), 0..3),
        prop_oneof![8 => Just(None), 1 => Just(Some("startup")), 1 => Just(Some(".."))],
    )
        .prop_map(|(v2, job, study, datasets, secrets, link_job_to)| StudyInput {
            v2,
            job,
            study,
            datasets,
            secrets,
            link_job_to,
        })
}

fn study_files(input: &StudyInput) -> (&'static str, String) {
    let mut datasets = Map::new();
    for (name, source, ro) in &input.datasets {
        datasets.insert(
            name.clone(),
            json!({"source": source, "mode": if *ro { "ro" } else { "rw" }}),
        );
    }
    if !input.v2 {
        let doc = json!({input.study.clone(): datasets});
        return ("study_data.yaml", serde_yaml::to_string(&doc).expect("yaml"));
    }
    let mut secrets = Map::new();
    for (name, source, path) in &input.secrets {
        secrets.insert(name.clone(), json!({"source": source, "mount_path": path}));
    }
    let doc = json!({
        "format_version": 2,
        "studies": {input.study.clone(): {"datasets": datasets, "secret_mounts": secrets}},
    });
    ("study_runtime.yaml", serde_yaml::to_string(&doc).expect("yaml"))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(800))]

    #[test]
    fn mounts_never_escape_the_workspace_rules(input in study_input(), workspace_object in any::<bool>()) {
        let mut f = Fixture::client()
            .site_arg("workspace", json!(HOST_WS))
            .meta_set("job_id", json!(input.job))
            .meta_set("study", json!(input.study));
        f.workspace_object = workspace_object;
        let (file, text) = study_files(&input);
        f.site_file(file, &text);
        if let Some(to) = input.link_job_to {
            let root = f.parent_root();
            let _ = std::fs::create_dir_all(root.join("startup"));
            let _ = std::os::unix::fs::symlink(root.join(to), root.join(&input.job));
        }
        let Ok(plan) = f.plan() else { return Ok(()) };
        let create = plan.create;
        let job = input.job.as_str();

        prop_assert!(!job.is_empty() && !job.contains('/') && !job.contains('\0'));
        prop_assert!(!matches!(job, "." | ".." | "startup" | "local"), "{job:?}");
        prop_assert!(input.link_job_to.is_none() || !f.parent_root().join(job).is_symlink());
        prop_assert_eq!(&create["WorkingDir"], &json!(format!("{MOUNT}/{job}")));

        let mut targets = HashSet::new();
        let mut workspace_binds_seen = Vec::new();
        for m in mounts(&create) {
            let target = m["Target"].as_str().expect("Target");
            prop_assert!(target.starts_with('/') && normpath(target) == target, "{m}");
            prop_assert!(targets.insert(target.to_string()), "duplicate target {target}");
            prop_assert_eq!(&m["Type"], "bind");
            let source = m["Source"].as_str().expect("Source");
            prop_assert!(source.starts_with('/') && normpath(source) == source, "{m}");
            let ro = m["ReadOnly"].as_bool().expect("ReadOnly");
            if within(source, HOST_WS) || within(HOST_WS, source) || within(target, MOUNT) {
                workspace_binds_seen.push(m.clone());
            }
            if within(source, &format!("{HOST_WS}/startup")) || within(source, &format!("{HOST_WS}/local")) {
                prop_assert!(ro, "startup/local mounted read-write: {m}");
            }
        }
        prop_assert_eq!(workspace_binds_seen, workspace_binds(HOST_WS, job));
    }
}

// ---- (c) HostConfig and launcher-owned fields are out of the job's reach ----

const SITE_KWARGS: &str = r#"{"ipc_mode": "private", "pids_limit": 512, "labels": {"team": "a"}}"#;

const DOCKER_KEYS: [&str; 24] = [
    "image",
    "python_path",
    "entrypoint",
    "num_of_gpus",
    "shm_size",
    "privileged",
    "cap_add",
    "devices",
    "pid_mode",
    "ipc_mode",
    "network_mode",
    "network",
    "security_opt",
    "volumes",
    "volumes_from",
    "binds",
    "Binds",
    "user",
    "working_dir",
    "environment",
    "mounts",
    "auto_remove",
    "tmpfs",
    "device_requests",
];

fn arb_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        (0i64..5).prop_map(Value::from),
        (-1e3f64..1e3).prop_map(|f| json!(f)),
        ".{0,8}".prop_map(Value::from),
        prop_oneof![
            Just("8g"),
            Just("host"),
            Just("/bin/sh"),
            Just("4Gi"),
            Just("ALL")
        ]
        .prop_map(Value::from),
    ];
    leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            vec(inner.clone(), 0..4).prop_map(Value::Array),
            btree_map("[a-zA-Z_]{1,8}", inner, 0..4).prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// Values a job would plausibly write for a docker key, or anything at all.
fn docker_value(key: &'static str) -> BoxedStrategy<Value> {
    let plausible: BoxedStrategy<Value> = match key {
        "image" => Just(json!("registry.example.com/img:1")).boxed(),
        "python_path" => Just(json!("/opt/conda/bin/python")).boxed(),
        "entrypoint" => prop_oneof![Just(json!("/bin/sh -c")), Just(json!(["/bin/sh"]))].boxed(),
        "num_of_gpus" => (0i64..4).prop_map(Value::from).boxed(),
        "shm_size" => prop_oneof![Just(json!("2g")), (0i64..1 << 40).prop_map(Value::from)].boxed(),
        _ => arb_json().boxed(),
    };
    prop_oneof![3 => plausible, 1 => arb_json()].boxed()
}

fn docker_block() -> impl Strategy<Value = Value> {
    let entry = proptest::sample::select(&DOCKER_KEYS[..]).prop_flat_map(|k| (Just(k), docker_value(k)));
    (Just(()), vec(entry, 0..4)).prop_map(|(_, entries)| {
        let mut block = Map::new();
        block.insert("image".into(), json!(IMAGE));
        for (k, v) in entries {
            block.insert(k.to_string(), v);
        }
        Value::Object(block)
    })
}

fn site_entry() -> impl Strategy<Value = Value> {
    prop_oneof![
        4 => docker_block().prop_map(|d| json!({"docker": d})),
        1 => (docker_block(), arb_json()).prop_map(|(d, p)| json!({"docker": d, "process": p})),
        1 => arb_json(),
    ]
}

fn launcher_spec() -> impl Strategy<Value = Value> {
    let key = prop_oneof![Just("site-1"), Just("default"), Just("defaults"), Just("site-2")];
    btree_map(key, site_entry(), 0..3)
        .prop_map(|m| Value::Object(m.into_iter().map(|(k, v)| (k.into(), v)).collect()))
}

fn resource_block() -> impl Strategy<Value = Value> {
    let key = prop_oneof![
        Just("num_of_gpus"),
        Just("num_of_cpus"),
        Just("memory"),
        Just("mem_per_gpu_in_GiB"),
        Just("docker"),
        Just("process"),
        Just("device_requests"),
        Just("privileged"),
        Just("nano_cpus"),
        Just("mem_limit"),
    ];
    let value = prop_oneof![
        (0i64..9).prop_map(Value::from),
        prop_oneof![Just("8Gi"), Just("512Mi"), Just("1Ti")].prop_map(Value::from),
        docker_block(),
        arb_json(),
    ];
    btree_map(key, value, 0..4)
        .prop_map(|m| Value::Object(m.into_iter().map(|(k, v)| (k.into(), v)).collect()))
}

fn resource_spec() -> impl Strategy<Value = Value> {
    let key = prop_oneof![Just("site-1"), Just("@default"), Just("default")];
    prop_oneof![
        4 => btree_map(key, resource_block(), 0..3)
            .prop_map(|m| Value::Object(m.into_iter().map(|(k, v)| (k.into(), v)).collect())),
        1 => arb_json(),
    ]
}

fn hostile_site() -> Fixture {
    let kwargs: Value = serde_json::from_str(SITE_KWARGS).expect("site kwargs");
    Fixture::client()
        .site_args(
            json!({"workspace": HOST_WS, "network": "site-net", "default_job_container_kwargs": kwargs}),
        )
        .env("USER", "nvflare")
        .env("HOME", "/home/nvflare")
        .with_workspace_object()
        .meta_set("study", json!("s"))
        .runtime_yaml(FALLBACK_STUDY)
}

/// A study whose image applies when the job's spec names none, so more inputs plan.
const FALLBACK_STUDY: &str = "format_version: 2\nstudies:\n  s:\n    container: {image: fallback/img:1}\n";

const RESOURCE_FIELDS: [&str; 4] = ["ShmSize", "DeviceRequests", "NanoCpus", "Memory"];
const FORBIDDEN_HOST_FIELDS: [&str; 6] = [
    "Privileged",
    "CapAdd",
    "Devices",
    "PidMode",
    "Binds",
    "VolumesFrom",
];

proptest! {
    #![proptest_config(ProptestConfig::with_cases(500))]

    #[test]
    fn job_input_cannot_reach_launcher_or_site_fields(
        ls in prop_oneof![4 => launcher_spec(), 1 => arb_json()],
        rs in prop_oneof![1 => Just(None), 3 => resource_spec().prop_map(Some)],
        byoc in any::<bool>(),
    ) {
        let baseline = hostile_site().create();
        let mut f = hostile_site().meta_set("launcher_spec", ls).meta_set("byoc", json!(byoc));
        f.meta.as_object_mut().unwrap().remove("deploy_map");
        if let Some(rs) = rs {
            f = f.meta_set("resource_spec", rs);
        }
        let Ok(plan) = f.plan() else { return Ok(()) };
        let create = plan.create;

        let top: HashSet<&str> = create.as_object().unwrap().keys().map(String::as_str).collect();
        let allowed_top: HashSet<&str> =
            ["Image", "Cmd", "Env", "WorkingDir", "User", "Labels", "HostConfig", "Entrypoint"].into();
        prop_assert!(top.is_subset(&allowed_top), "{top:?}");
        prop_assert!(byoc || create.get("Entrypoint").is_none(), "entrypoint without BYOC");
        for field in ["User", "WorkingDir", "Env"] {
            prop_assert_eq!(&create[field], &baseline[field], "{} changed", field);
        }
        let labels = create["Labels"].as_object().unwrap();
        for (k, v) in baseline["Labels"].as_object().unwrap() {
            if k != "io.berth.plan-digest" {
                prop_assert_eq!(labels.get(k), Some(v), "label {}", k);
            }
        }
        prop_assert_eq!(labels.len(), baseline["Labels"].as_object().unwrap().len());

        let host = create["HostConfig"].as_object().unwrap();
        let base_host = baseline["HostConfig"].as_object().unwrap();
        for key in host.keys() {
            prop_assert!(
                base_host.contains_key(key) || RESOURCE_FIELDS.contains(&key.as_str()),
                "job put {} into HostConfig", key
            );
        }
        for (key, value) in base_host {
            prop_assert_eq!(host.get(key), Some(value), "{} changed", key);
        }
        for key in FORBIDDEN_HOST_FIELDS {
            prop_assert!(!host.contains_key(key), "{}", key);
        }
        prop_assert_eq!(&create["HostConfig"]["NetworkMode"], "site-net");
        prop_assert_eq!(&create["HostConfig"]["IpcMode"], "private");
        // The default profile, whatever the job asked for; the site's own pids_limit stands.
        prop_assert_eq!(&create["HostConfig"]["CapDrop"], &json!(["ALL"]));
        prop_assert_eq!(&create["HostConfig"]["SecurityOpt"], &json!(["no-new-privileges"]));
        prop_assert_eq!(&create["HostConfig"]["PidsLimit"], &json!(512));
    }
}
