//! Property tests over hostile inputs: no input makes the parsers or the plan builder panic,
//! and every plan that is accepted meets the site policy (`plan_policy::check_plan_policy`).
//!
//! `BERTH_FUZZ_CASES` sets the number of cases per property (default 256, the CI pass):
//!
//! ```text
//! BERTH_FUZZ_CASES=20000 cargo test --release -p berth-core --test fuzz_plan -- --nocapture
//! ```
//!
//! Deeper coverage-guided fuzzing of the same entry points lives in `/fuzz` (cargo-fuzz).

mod plan_policy;

use berth_core::args::{JobProcessArgs, Role};
use berth_core::config::{parse_config_text, SiteConfig};
use berth_core::pyval::Map;
use berth_core::sdk_kwargs::{SDK_CREATE_KWARGS, SDK_HOST_CONFIG_KWARGS};
use berth_core::{study, WORKSPACE_MOUNT};
use plan_policy::scenario::{self, FsOp, Scenario};
use plan_policy::{check_plan_policy, PolicyContext};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

fn cases() -> u32 {
    std::env::var("BERTH_FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(256)
}

/// Run `f` on a thread with a large stack: the nested strategies below are deep generic
/// types, and generating from them in a debug build needs more than the default 2 MiB.
fn with_big_stack(f: impl FnOnce() + Send + 'static) {
    let handle = std::thread::Builder::new()
        .stack_size(256 << 20)
        .spawn(f)
        .expect("spawn the property thread");
    if let Err(panic) = handle.join() {
        std::panic::resume_unwind(panic);
    }
}

/// Run one property with the configured number of cases and report how many inputs ran.
fn run_property<S: Strategy>(name: &str, strategy: S, test: impl Fn(S::Value) -> Result<(), TestCaseError>)
where
    S::Value: std::fmt::Debug,
{
    let executions = AtomicUsize::new(0);
    let start = Instant::now();
    let mut runner = TestRunner::new(Config {
        cases: cases(),
        failure_persistence: None,
        ..Config::default()
    });
    let result = runner.run(&strategy, |input| {
        executions.fetch_add(1, Ordering::Relaxed);
        test(input)
    });
    println!(
        "fuzz {name}: {} executions in {:.2?}",
        executions.load(Ordering::Relaxed),
        start.elapsed()
    );
    if let Err(e) = result {
        panic!("{name}: {e}");
    }
}

// ---- input strategies ------------------------------------------------------------------

/// Strings an attacker would try: traversal, separators, control characters, unicode,
/// reserved names, huge values, plus plain random text.
fn hostile_string() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => "[a-z0-9][a-z0-9._-]{0,12}",
        2 => "\\PC{0,24}",
        1 => "[\\x00-\\x20/.\\\\:=$`'\"\\n]{0,8}",
        1 => Just("../etc".to_string()),
        1 => Just("..".to_string()),
        1 => Just(".".to_string()),
        1 => Just("".to_string()),
        1 => Just("startup".to_string()),
        1 => Just("local".to_string()),
        1 => Just("/var/run/docker.sock".to_string()),
        1 => Just("/".to_string()),
        1 => Just("io.berth.managed".to_string()),
        1 => Just("USER".to_string()),
        1 => Just("PYTHONPATH".to_string()),
        1 => Just("NVFLARE_JOB_AUTH_TOKEN".to_string()),
        1 => Just("job-1/../../x".to_string()),
        1 => Just("a\u{0}b".to_string()),
        1 => Just("host".to_string()),
        1 => (1usize..3000).prop_map(|n| "x".repeat(n)),
    ]
}

fn hostile_number() -> impl Strategy<Value = Value> {
    prop_oneof![
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>().prop_map(|f| serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)),
        Just(json!(0)),
        Just(json!(-1)),
        Just(json!(i64::MAX)),
        Just(json!(u64::MAX)),
        Just(json!(1.5)),
    ]
}

fn leaf() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        hostile_number(),
        hostile_string().prop_map(Value::String),
        prop_oneof![
            Just("8g"),
            Just("9999999999g"),
            Just("8Gi"),
            Just("host"),
            Just("tcp://localhost:8004"),
            Just("shared-file://0/srv/x")
        ]
        .prop_map(|s| Value::String(s.to_string())),
    ]
}

/// Keys drawn from every vocabulary the inputs use, so random trees hit real code paths.
fn key() -> impl Strategy<Value = String> {
    let known: Vec<&'static str> = [
        "job_id",
        "launcher_spec",
        "resource_spec",
        "study",
        "byoc",
        "default",
        "@default",
        "site-1",
        "docker",
        "process",
        "k8s",
        "image",
        "python_path",
        "entrypoint",
        "num_of_gpus",
        "num_of_cpus",
        "memory",
        "shm_size",
        "privileged",
        "cap_add",
        "devices",
        "volumes",
        "mounts",
        "network_mode",
        "binds",
        "labels",
        "Count",
        "Capabilities",
        "capabilities",
        "count",
        "name",
        "soft",
        "hard",
    ]
    .into_iter()
    .chain(SDK_CREATE_KWARGS.iter().copied())
    .chain(SDK_HOST_CONFIG_KWARGS.iter().copied())
    .collect();
    prop_oneof![
        4 => proptest::sample::select(known).prop_map(str::to_string),
        1 => hostile_string(),
    ]
}

fn json_tree() -> impl Strategy<Value = Value> {
    leaf().prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..5).prop_map(Value::Array),
            prop::collection::vec((key(), inner), 0..6)
                .prop_map(|kv| Value::Object(kv.into_iter().collect())),
        ]
    })
}

/// Up to `len` SDK container kwargs (create and host-config names) with random values.
fn sdk_kwargs(len: std::ops::Range<usize>) -> impl Strategy<Value = Map> {
    let names: Vec<&'static str> = SDK_CREATE_KWARGS
        .iter()
        .chain(SDK_HOST_CONFIG_KWARGS.iter())
        .copied()
        .collect();
    prop::collection::vec((proptest::sample::select(names), json_tree()), len)
        .prop_map(|kv| kv.into_iter().map(|(k, v)| (k.to_string(), v)).collect())
}

/// A job docker block: mostly a valid one, else allowlisted keys with hostile values and
/// sometimes a forbidden key.
fn docker_block() -> impl Strategy<Value = Value> {
    let valid = (
        prop::option::weighted(0.3, 0i64..4),
        prop::option::weighted(0.3, prop_oneof![Just("1g"), Just("512m"), Just("0")]),
    )
        .prop_map(|(gpus, shm)| {
            let mut m = json!({"image": "nvflare/nvflare:test"});
            if let Some(g) = gpus {
                m["num_of_gpus"] = json!(g);
            }
            if let Some(s) = shm {
                m["shm_size"] = json!(s);
            }
            m
        });
    prop_oneof![4 => valid, 1 => hostile_docker_block()]
}

fn hostile_docker_block() -> impl Strategy<Value = Value> {
    (
        prop::option::weighted(
            0.9,
            prop_oneof![
                6 => Just(json!("nvflare/nvflare:test")),
                1 => leaf()
            ],
        ),
        prop::option::weighted(0.2, leaf()),
        prop::option::weighted(
            0.2,
            prop_oneof![
                Just(json!("/bin/sh")),
                Just(json!(["/bin/sh", "-c"])),
                json_tree()
            ],
        ),
        prop::option::weighted(
            0.3,
            prop_oneof![3 => (0i64..4).prop_map(Value::from), 1 => leaf()],
        ),
        prop::option::weighted(0.3, prop_oneof![3 => Just(json!("1g")), 1 => leaf()]),
        prop::option::weighted(0.1, (key(), json_tree())),
    )
        .prop_map(|(image, python_path, entrypoint, gpus, shm, extra)| {
            let mut m = Map::new();
            let mut put = |k: &str, v: Option<Value>| {
                if let Some(v) = v {
                    m.insert(k.to_string(), v);
                }
            };
            put("image", image);
            put("python_path", python_path);
            put("entrypoint", entrypoint);
            put("num_of_gpus", gpus);
            put("shm_size", shm);
            if let Some((k, v)) = extra {
                m.insert(k, v);
            }
            Value::Object(m)
        })
}

fn job_meta() -> impl Strategy<Value = Map> {
    (
        prop_oneof![
            12 => Just(json!("job-1")),
            1 => hostile_string().prop_map(Value::String),
            1 => json_tree()
        ],
        prop_oneof![
            8 => docker_block().prop_map(|d| json!({"site-1": {"docker": d}})),
            2 => docker_block().prop_map(|d| json!({"default": {"docker": d}})),
            1 => json_tree(),
        ],
        prop::option::weighted(
            0.3,
            prop_oneof![
                (0i64..3, 1i64..3).prop_map(
                    |(g, c)| json!({"site-1": {"num_of_gpus": g, "num_of_cpus": c, "memory": "1Gi"}})
                ),
                docker_block().prop_map(|d| json!({"site-1": {"docker": d}})),
                json_tree()
            ],
        ),
        prop::option::weighted(
            0.5,
            prop_oneof![
                6 => Just(json!("s1")),
                1 => hostile_string().prop_map(Value::String),
                1 => leaf()
            ],
        ),
        prop::option::weighted(0.3, leaf()),
        prop::option::weighted(0.1, (key(), json_tree())),
    )
        .prop_map(|(job_id, launcher_spec, resource_spec, study, byoc, extra)| {
            let mut m = Map::new();
            m.insert("job_id".into(), job_id);
            m.insert("launcher_spec".into(), launcher_spec);
            if let Some(v) = resource_spec {
                m.insert("resource_spec".into(), v);
            }
            if let Some(v) = study {
                m.insert("study".into(), v);
            }
            if let Some(v) = byoc {
                m.insert("byoc".into(), v);
            }
            if let Some((k, v)) = extra {
                m.entry(k).or_insert(v);
            }
            m
        })
}

fn parent_url() -> impl Strategy<Value = String> {
    prop_oneof![
        12 => Just("tcp://localhost:8004".to_string()),
        1 => Just("stcp://[::1]:8004".to_string()),
        1 => Just("shared-file://0/srv/shared".to_string()),
        1 => Just("shared-file://0/var/run".to_string()),
        1 => ("[a-z+.-]{0,8}", "[a-z0-9.:@\\[\\]%]{0,16}", "[0-9]{0,6}", "\\PC{0,10}").prop_map(|(s, h, p, path)| format!("{s}://{h}:{p}{path}")),
        1 => hostile_string(),
    ]
}

fn job_args() -> impl Strategy<Value = Option<JobProcessArgs>> {
    (
        parent_url(),
        prop_oneof![16 => Just(json!("clear")), 1 => leaf()],
        prop::option::weighted(
            0.1,
            (
                proptest::sample::select(vec![
                    "exe_module",
                    "workspace",
                    "job_id",
                    "client_name",
                    "auth_token",
                    "ssid",
                    "parent_url",
                    "options",
                ]),
                json_tree(),
            ),
        ),
        "SECRET-[a-z0-9]{8,16}",
        prop::bool::weighted(0.03),
    )
        .prop_map(|(url, sec, replace, token, none)| {
            if none {
                return None;
            }
            let mut m = json!({
                "exe_module": ["-m", "nvflare.private.fed.app.client.worker_process"],
                "workspace": ["-m", WORKSPACE_MOUNT],
                "job_id": ["-n", "job-1"],
                "client_name": ["-c", "site-1"],
                "auth_token": ["-t", token],
                "auth_signature": ["-ts", format!("{token}-sig")],
                "ssid": ["-d", format!("{token}-ssid")],
                "parent_url": ["-p", url],
                "parent_conn_sec": ["--parent_conn_sec", sec],
            });
            if let Some((k, v)) = replace {
                m[k] = v;
            }
            m.as_object().cloned().map(JobProcessArgs::from_map)
        })
}

fn site_args() -> impl Strategy<Value = Map> {
    (
        prop::option::weighted(0.25, sdk_kwargs(1..3)),
        prop::option::weighted(0.2, prop::collection::vec((hostile_string(), leaf()), 1..3)),
        prop::option::weighted(0.1, prop_oneof![Just(json!("fl-net")), leaf()]),
    )
        .prop_map(|(kwargs, env, network)| {
            let mut m = Map::new();
            m.insert(
                "default_job_container_kwargs".into(),
                Value::Object(kwargs.unwrap_or_default()),
            );
            m.insert(
                "default_job_env".into(),
                Value::Object(env.into_iter().flatten().collect()),
            );
            if let Some(n) = network {
                m.insert("network".into(), n);
            }
            m
        })
}

/// Study runtime text: a structured v2 file with hostile parts, or random YAML.
fn study_runtime() -> impl Strategy<Value = Option<String>> {
    let structured = (
        prop::option::weighted(0.3, sdk_kwargs(0..3)),
        prop::option::weighted(0.3, prop::collection::vec((hostile_string(), leaf()), 1..3)),
        prop::option::weighted(0.3, (hostile_string(), hostile_string())),
        prop::option::weighted(0.3, (hostile_string(), hostile_string())),
    )
        .prop_map(|(kwargs, env, dataset, secret)| {
            let mut s1 = Map::new();
            s1.insert("container".into(), json!({"image": "study/img:1"}));
            s1.insert("docker_kwargs".into(), Value::Object(kwargs.unwrap_or_default()));
            s1.insert("env".into(), Value::Object(env.into_iter().flatten().collect()));
            if let Some((name, source)) = dataset {
                s1.insert(
                    "datasets".into(),
                    json!({ name: {"source": source, "mode": "ro"} }),
                );
            }
            if let Some((source, path)) = secret {
                s1.insert(
                    "secret_mounts".into(),
                    json!({"m1": {"source": source, "mount_path": path}}),
                );
            }
            let doc = json!({"format_version": 2, "studies": {"s1": s1}});
            serde_yaml::to_string(&doc).ok()
        });
    prop_oneof![
        3 => Just(None),
        4 => structured,
        1 => json_tree().prop_map(|t| serde_yaml::to_string(&t).ok()),
        1 => "\\PC{0,200}".prop_map(Some),
    ]
}

fn fs_ops() -> impl Strategy<Value = Vec<FsOp>> {
    prop::collection::vec(
        prop_oneof![
            Just(FsOp::Symlink("job-1".into(), "startup".into())),
            Just(FsOp::Symlink("job-1".into(), "/".into())),
            Just(FsOp::Remove("job-1".into())),
            Just(FsOp::Dir("local/custom".into())),
            Just(FsOp::Symlink("../link".into(), "/etc".into())),
        ],
        0..2,
    )
}

#[derive(Debug, Clone)]
struct PlanInput {
    meta: Map,
    args: Option<JobProcessArgs>,
    site: Map,
    set: Vec<String>,
    study_runtime: Option<String>,
    fs: Vec<FsOp>,
    role_server: bool,
    workspace_object: bool,
    uid: u32,
}

fn plan_input() -> impl Strategy<Value = PlanInput> {
    (
        job_meta(),
        job_args(),
        site_args(),
        prop::collection::vec(hostile_string(), 0..3),
        study_runtime(),
        fs_ops(),
        any::<bool>(),
        prop::bool::weighted(0.8),
        prop_oneof![Just(1000u32), Just(0u32), any::<u32>()],
    )
        .prop_map(
            |(meta, args, site, set, study_runtime, fs, role_server, workspace_object, uid)| PlanInput {
                meta,
                args,
                site,
                set,
                study_runtime,
                fs,
                role_server,
                workspace_object,
                uid,
            },
        )
}

/// Count refusals by the start of their message, to show what the generator mostly hits.
fn note_refusal(refusals: &std::sync::Mutex<BTreeMap<String, usize>>, message: &str) {
    let head: String = message.chars().take(48).collect();
    if let Ok(mut m) = refusals.lock() {
        *m.entry(head).or_default() += 1;
    }
}

// ---- properties ------------------------------------------------------------------------

#[test]
fn plans_from_hostile_inputs_never_panic_and_meet_policy() {
    with_big_stack(|| {
        let accepted = AtomicUsize::new(0);
        let refusals = std::sync::Mutex::new(BTreeMap::<String, usize>::new());
        run_property("build_plan", plan_input(), |input| {
            let tmp = tempfile::tempdir().map_err(|e| TestCaseError::fail(e.to_string()))?;
            let tmp_path = tmp
                .path()
                .canonicalize()
                .map_err(|e| TestCaseError::fail(e.to_string()))?;
            let ws = tmp_path.join("ws").to_string_lossy().into_owned();
            let mut site_args = input.site.clone();
            site_args.insert("workspace".into(), json!(ws));
            let site_config = match SiteConfig::from_args(&site_args, None) {
                Ok(c) => c,
                Err(e) => {
                    note_refusal(&refusals, e.message());
                    return Ok(());
                }
            };
            let sc = Scenario {
                site: "site-1".into(),
                role: if input.role_server {
                    Role::Server
                } else {
                    Role::Client
                },
                meta: input.meta.clone(),
                args: input.args.clone(),
                set_options: input.set.clone(),
                study_runtime: input.study_runtime.clone(),
                study_data: None,
                fs: input.fs.clone(),
                launcher_env: BTreeMap::from([
                    ("USER".to_string(), "launcher-user".to_string()),
                    ("HOME".to_string(), "/home/launcher".to_string()),
                ]),
                uid: input.uid,
                gid: input.uid,
                workspace_object: input.workspace_object,
            };
            let job_id = input.meta.get("job_id").and_then(Value::as_str);
            scenario::prepare_workspace(&tmp_path, job_id, &sc)
                .map_err(|e| TestCaseError::fail(e.to_string()))?;
            let outcome = scenario::run(&sc, &site_config, &ws);
            if let Err(e) = &outcome.result {
                note_refusal(&refusals, e.message());
            }
            if let Ok(plan) = &outcome.result {
                accepted.fetch_add(1, Ordering::Relaxed);
                prop_assert!(
                    outcome.policy.is_ok(),
                    "policy breach: {:?}\nplan: {}",
                    outcome.policy,
                    plan.to_json()
                );
            }
            Ok(())
        });
        println!(
            "fuzz build_plan: {} accepted plans checked against the policy",
            accepted.load(Ordering::Relaxed)
        );
        let mut top: Vec<(String, usize)> = refusals
            .lock()
            .map(|m| m.clone().into_iter().collect())
            .unwrap_or_default();
        top.sort_by_key(|(_, n)| std::cmp::Reverse(*n));
        for (why, n) in top.iter().take(8) {
            println!("  refused {n:>5}x: {why}");
        }
    });
}

#[test]
fn parsers_never_panic_on_hostile_text() {
    with_big_stack(|| {
        let text = prop_oneof![
            2 => json_tree().prop_map(|t| t.to_string()),
            1 => "\\PC{0,300}",
            1 => json_tree().prop_map(|t| json!({"components": [{"path": "x.ClientDockerJobLauncher", "args": t}]}).to_string()),
            1 => (json_tree(), key()).prop_map(|(t, k)| {
                // Duplicate a key at the top level.
                let v = t.to_string();
                format!("{{\"{k}\": {v}, \"{k}\": {v}}}")
            }),
        ];
        run_property("parsers", text, |text| {
            let _ = parse_config_text(&text, "fuzz.json").map(|s| SiteConfig::from_args(&s.args, None));
            let _ = JobProcessArgs::from_json(&text, "fuzz.json").map(|a| {
                let _ = a.module_argv(Role::Client);
                let _ = a.module_argv(Role::Server);
                let _ = a.credential_env();
                let _ = berth_core::parent_url::rewrite_parent_url(&a, "site-1");
            });
            if let Ok(Value::Object(args)) = serde_json::from_str::<Value>(&text) {
                let _ = SiteConfig::from_args(&args, None);
                let _ = berth_core::sdk_kwargs::translate(&args, "fuzz");
                let mut warnings = Vec::new();
                let _ = berth_core::job_spec::docker_spec_for_launch(
                    &args,
                    "site-1",
                    "/usr/bin/python",
                    &mut warnings,
                );
                let _ = berth_core::resources::portable_resources(&args, "site-1");
            }
            Ok(())
        });
    });
}

#[test]
fn study_files_never_panic() {
    with_big_stack(|| {
        let text = prop_oneof![
            3 => study_runtime().prop_map(|s| s.unwrap_or_default()),
            1 => "\\PC{0,300}",
            1 => json_tree().prop_map(|t| serde_yaml::to_string(&json!({"s1": t})).unwrap_or_default()),
        ];
        run_property(
            "study files",
            (text, prop_oneof![Just("s1".to_string()), hostile_string()]),
            |(text, name)| {
                let tmp = tempfile::tempdir().map_err(|e| TestCaseError::fail(e.to_string()))?;
                let root = tmp.path();
                std::fs::create_dir_all(root.join("local"))
                    .map_err(|e| TestCaseError::fail(e.to_string()))?;
                std::fs::write(root.join(study::STUDY_RUNTIME_FILE), &text)
                    .map_err(|e| TestCaseError::fail(e.to_string()))?;
                let _ = study::load_runtime_for_launch(root, Some(&name), &mut Vec::new());
                std::fs::remove_file(root.join(study::STUDY_RUNTIME_FILE))
                    .map_err(|e| TestCaseError::fail(e.to_string()))?;
                std::fs::write(root.join(study::STUDY_DATA_FILE), &text)
                    .map_err(|e| TestCaseError::fail(e.to_string()))?;
                let _ = study::load_v1_mounts(root, &name, &mut Vec::new());
                Ok(())
            },
        );
    });
}

/// A change that makes a clean plan break the policy.
type Breach = Box<dyn Fn(&mut Value)>;

/// The policy check itself must catch breaches, or the properties above prove nothing.
#[test]
fn policy_check_catches_breaches() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let tmp_path = tmp.path().canonicalize().expect("canonical tempdir");
    let ws = tmp_path.join("ws").to_string_lossy().into_owned();
    let site_config = SiteConfig::from_args(json!({"workspace": ws}).as_object().expect("object"), None)
        .expect("site config");
    let sc = Scenario {
        site: "site-1".into(),
        role: Role::Client,
        meta: json!({"job_id": "job-1", "launcher_spec": {"site-1": {"docker": {"image": "img"}}}})
            .as_object()
            .cloned()
            .expect("object"),
        args: json!({"exe_module": ["-m", "m"], "auth_token": ["-t", "SECRET-abcdefgh"]})
            .as_object()
            .cloned()
            .map(JobProcessArgs::from_map),
        set_options: vec![],
        study_runtime: None,
        study_data: None,
        fs: vec![],
        launcher_env: BTreeMap::new(),
        uid: 1000,
        gid: 1000,
        workspace_object: true,
    };
    scenario::prepare_workspace(&tmp_path, Some("job-1"), &sc).expect("workspace");
    let outcome = scenario::run(&sc, &site_config, &ws);
    let plan = outcome.result.expect("the clean plan is accepted");
    assert_eq!(outcome.policy, Ok(()));

    let env = |_: &str| None;
    let args = sc.args.clone().expect("args");
    let ctx = PolicyContext {
        site_config: &site_config,
        study_kwargs: None,
        host_workspace: &ws,
        uid: 1000,
        gid: 1000,
        launcher_env: &env,
        job_args: &args,
        byoc: false,
        workspace_object: true,
    };
    let breaches: Vec<(&str, Breach)> = vec![
        (
            "Privileged",
            Box::new(|b| b["HostConfig"]["Privileged"] = json!(true)),
        ),
        ("CapAdd", Box::new(|b| b["HostConfig"]["CapAdd"] = json!(["ALL"]))),
        (
            "PidMode",
            Box::new(|b| b["HostConfig"]["PidMode"] = json!("host")),
        ),
        (
            "Binds",
            Box::new(|b| b["HostConfig"]["Binds"] = json!(["/:/host"])),
        ),
        (
            "AutoRemove",
            Box::new(|b| b["HostConfig"]["AutoRemove"] = json!(true)),
        ),
        ("User", Box::new(|b| b["User"] = json!("0:0"))),
        (
            "NetworkMode",
            Box::new(|b| b["HostConfig"]["NetworkMode"] = json!("host")),
        ),
        (
            "startup rw",
            Box::new(|b| b["HostConfig"]["Mounts"][0]["ReadOnly"] = json!(false)),
        ),
        (
            "docker socket",
            Box::new(|b| {
                if let Some(m) = b["HostConfig"]["Mounts"].as_array_mut() {
                    m.push(json!({"Type": "bind", "Source": "/var/run/docker.sock", "Target": "/s", "ReadOnly": true}));
                }
            }),
        ),
        (
            "token in Cmd",
            Box::new(|b| {
                if let Some(c) = b["Cmd"].as_array_mut() {
                    c.push(json!("SECRET-abcdefgh"));
                }
            }),
        ),
        ("USER", Box::new(|b| b["Env"][0] = json!("USER=root"))),
        (
            "label",
            Box::new(|b| b["Labels"]["io.berth.site"] = json!("other")),
        ),
        ("Entrypoint", Box::new(|b| b["Entrypoint"] = json!(["/bin/sh"]))),
        (
            "Devices",
            Box::new(|b| b["HostConfig"]["Devices"] = json!([{"PathOnHost": "/dev/mem"}])),
        ),
        (
            "gpu options",
            Box::new(|b| {
                b["HostConfig"]["DeviceRequests"] =
                    json!([{"Count": 1, "Capabilities": [["gpu"]], "DeviceIDs": ["all"]}])
            }),
        ),
        (
            "workspace tmpfs",
            Box::new(|b| b["HostConfig"]["Tmpfs"]["/var/tmp/nvflare/workspace"] = json!("mode=1777")),
        ),
    ];
    for (what, breach) in breaches {
        let mut broken = plan.clone();
        breach(&mut broken.create);
        assert!(
            check_plan_policy(&broken, &ctx).is_err(),
            "the policy check missed: {what}"
        );
    }
}
