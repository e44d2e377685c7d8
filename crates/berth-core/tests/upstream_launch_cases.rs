//! Upstream's Docker launcher launch cases (upstream-test-cases.md sections G–R, C040–C130)
//! at plan level: the same inputs as upstream's fixtures, asserting on the container-create
//! body berth would send, or on the error kind and the phrase upstream matches.
//!
//! Upstream asserts on `containers.run` kwargs; berth's plan is the Engine API body those
//! kwargs become (DESIGN decision 11), so `shm_size="8g"` is checked as `ShmSize` bytes,
//! `ipc_mode` as `IpcMode`, and so on. "The run is never called" becomes "build_plan
//! returned Err". Cases about the engine itself (image missing, returned handle, start
//! handshake) live in crates/berth-launcher/tests/lifecycle_fake.rs.

mod common;
// Sections P, Q and R.
#[path = "upstream_launch_cases/resources_and_kwargs.rs"]
mod resources_and_kwargs;

use berth_core::ErrorKind;
use common::*;
use serde_json::{json, Value};

const V2_STUDY_IMAGE: &str =
    "format_version: 2\nstudies:\n  study-a:\n    container:\n      image: registry.example.com/study:v9\n";

// ---- G. construction (the launch half) ----

// C040
#[test]
fn c040_workspace_unset_fails_lazily_at_launch() {
    let f = Fixture::client().site_args(json!({}));
    assert_eq!(f.config().unwrap().workspace, None, "construction succeeds");
    invalid(&f, &["workspace", "NVFL_DOCKER_WORKSPACE"]);
}

// C041
#[test]
fn c041_workspace_read_from_env() {
    let mut f = Fixture::client().site_args(json!({}));
    f.env_workspace = Some("/host/ws".into());
    assert_eq!(f.config().unwrap().workspace.as_deref(), Some("/host/ws"));
    assert_eq!(
        mount_at(&f.create(), &format!("{MOUNT}/startup"))["Source"],
        "/host/ws/startup"
    );
}

// ---- H. image selection and validation ----

// C047
#[test]
fn c047_empty_legacy_docker_block_has_no_image() {
    let f = Fixture::client().meta(json!({
        "job_id": "job-1",
        "deploy_map": {"app": ["site-1"]},
        "resource_spec": {"site-1": {"docker": {}}},
    }));
    refused(&f, &["no job image was specified"]);
}

macro_rules! image_type_case {
    ($name:ident, $value:tt, $ty:literal) => {
        #[test]
        fn $name() {
            let f = Fixture::client().docker(json!({"image": $value}));
            refused(
                &f,
                &[concat!("launcher_spec docker image for site 'site-1' must be a string, got ", $ty)],
            );
        }
    };
}

// C048
image_type_case!(c048_image_int, 123, "int");
// C049
image_type_case!(c049_image_float, (1.5), "float");
// C050
image_type_case!(c050_image_bool, true, "bool");
// C051
image_type_case!(c051_image_list, ["nvflare-job", "latest"], "list");
// C052
image_type_case!(c052_image_dict, {"name": "nvflare-job"}, "dict");
// C053: the type check runs before the falsy check.
image_type_case!(c053_image_false, false, "bool");
// C054
image_type_case!(c054_image_zero, 0, "int");
// C055
image_type_case!(c055_image_zero_float, (0.0), "float");
// C056
image_type_case!(c056_image_empty_list, [], "list");
// C057
image_type_case!(c057_image_empty_dict, {}, "dict");

// C058
#[test]
fn c058_image_from_launcher_spec_default() {
    let f = Fixture::client().meta(json!({
        "job_id": "job-1",
        "launcher_spec": {"default": {"docker": {"image": "default/img:v1"}}},
    }));
    assert_eq!(f.create()["Image"], "default/img:v1");
}

// C059: ImageNotFound is an engine answer; see missing_image_is_refused_naming_it in
// crates/berth-launcher/tests/lifecycle_fake.rs.

// C060
#[test]
fn c060_study_image_used_when_job_image_is_null() {
    let f = Fixture::client()
        .docker(json!({"image": null}))
        .meta_set("study", json!("study-a"))
        .runtime_yaml(V2_STUDY_IMAGE);
    assert_eq!(f.create()["Image"], "registry.example.com/study:v9");
}

// C061
#[test]
fn c061_job_image_wins_over_study_image() {
    let f = Fixture::client()
        .meta_set("study", json!("study-a"))
        .runtime_yaml(V2_STUDY_IMAGE);
    assert_eq!(f.create()["Image"], IMAGE);
}

// C062
#[test]
fn c062_missing_image_error_mentions_study_runtime() {
    let f = Fixture::client()
        .docker(json!({"image": null}))
        .meta_set("study", json!("study-a"))
        .runtime_yaml("format_version: 2\nstudies: {}\n");
    refused(&f, &["no job image was specified", "container.image"]);
}

// ---- I. request basics and required inputs ----

// C063: DESIGN decision 1 — berth creates without auto-remove (upstream: auto_remove=True).
// The returned handle is covered by launch_returns_a_handle_and_records_the_launch in
// crates/berth-launcher/tests/lifecycle_fake.rs.
#[test]
fn c063_default_launch_plans_without_auto_remove() {
    let plan = Fixture::client().plan().unwrap();
    assert_eq!(plan.create["HostConfig"]["AutoRemove"], false);
    assert_eq!(plan.name, "site-1-job-1");
    assert_eq!(plan.create["Image"], IMAGE);
    assert_eq!(plan.create["HostConfig"]["NetworkMode"], "nvflare-network");
    assert_eq!(plan.create["User"], "1000:1000");
    assert_eq!(plan.create["Labels"]["io.berth.managed"], "true");
}

// C064: the start handshake is engine-side; see
// launch_returns_a_handle_when_the_job_ends_before_running in
// crates/berth-launcher/tests/lifecycle_fake.rs.

// C065
#[test]
fn c065_missing_job_id() {
    refused(&Fixture::client().meta(json!({})), &["JOB_ID"]);
}

// C066
#[test]
fn c066_missing_job_process_args() {
    refused(&Fixture::client().args(None), &["__job_process_args__"]);
}

// ---- J. parent URL rewrite and connection security ----

// C067
#[test]
fn c067_parent_url_host_becomes_site() {
    let f = Fixture::client().arg("parent_url", "-u", json!("tcp://localhost:8004"));
    let joined = cmd(&f.create()).join(" ");
    assert!(joined.contains("tcp://site-1:8004"), "{joined}");
    assert!(!joined.contains("localhost"), "{joined}");
}

// C068: the plan is built without waiting on any engine, so none of upstream's 30 s.
#[test]
fn c068_secure_parent_url_is_preserved() {
    let f = Fixture::client()
        .arg(
            "parent_url",
            "-u",
            json!("stcp://localhost:8004/path?option=value"),
        )
        .arg("parent_conn_sec", "--parent_conn_sec", json!("mtls"));
    let argv = cmd(&f.create());
    assert!(
        argv.contains(&"stcp://site-1:8004/path?option=value".to_string()),
        "{argv:?}"
    );
    let at = argv
        .iter()
        .position(|a| a == "--parent_conn_sec")
        .expect("--parent_conn_sec");
    assert_eq!(argv[at + 1], "mtls");
}

fn parent_security_case(url: &str, security: &str, phrase: &str) {
    let f = Fixture::client().arg("parent_url", "-u", json!(url)).arg(
        "parent_conn_sec",
        "--parent_conn_sec",
        json!(security),
    );
    invalid(&f, &[phrase]);
}

// C069
#[test]
fn c069_stcp_with_clear_does_not_match() {
    parent_security_case("stcp://localhost:8004", "clear", "does not match");
}

// C070
#[test]
fn c070_tcp_with_mtls_does_not_match() {
    parent_security_case("tcp://localhost:8004", "mtls", "does not match");
}

// C071
#[test]
fn c071_tls_is_not_clear_or_mtls() {
    parent_security_case("tcp://localhost:8004", "tls", "requires clear or mTLS");
}

// C072
#[test]
fn c072_http_scheme_is_refused() {
    parent_security_case(
        "http://localhost:8004",
        "clear",
        "must use shared-file, tcp, or stcp",
    );
}

// C073
#[test]
fn c073_shared_file_url_is_kept_and_mounted() {
    let url = "shared-file://0/lustre/nvflare/cellnet/lst_12345678?poll_interval=0.05";
    let f = Fixture::client()
        .site_arg("workspace", json!("/host/workspace"))
        .arg("parent_url", "-u", json!(url));
    let create = f.create();
    assert!(cmd(&create).contains(&url.to_string()), "{:?}", cmd(&create));
    let dir = "/lustre/nvflare/cellnet/lst_12345678";
    assert_eq!(mount_at(&create, dir), bind(dir, dir, false));
}

// C074
#[test]
fn c074_malformed_shared_file_url() {
    let f = Fixture::client().arg("parent_url", "-u", json!("shared-file://lustre/not-placeholder"));
    invalid(&f, &["invalid shared-file parent URL"]);
}

// ---- K. workspace mounts and isolation ----

// C075: DESIGN decision 10 — the workspace-root tmpfs is `HostConfig.Tmpfs`, owned by the
// job's uid:gid, instead of upstream's `Mounts[0]` tmpfs entry; the startup/local/job binds
// keep upstream's order at indices 0..2.
#[test]
fn c075_workspace_binds_and_tmpfs_root() {
    let f = Fixture::client().site_arg("workspace", json!("/host/workspace"));
    let create = f.create();
    let m = mounts(&create);
    assert_eq!(m[..3], workspace_binds("/host/workspace", "job-1")[..]);
    assert!(m.iter().all(|m| m["Type"] == "bind"), "no tmpfs entry in Mounts");
    assert_eq!(
        create["HostConfig"]["Tmpfs"],
        json!({MOUNT: "mode=1777,uid=1000,gid=1000"})
    );
    assert_eq!(create["WorkingDir"], format!("{MOUNT}/job-1"));
}

// C076
#[test]
fn c076_job_id_escape_is_refused() {
    let f = Fixture::client().meta_set("job_id", json!("../other"));
    refused(&f, &["single workspace child"]);
}

// C077
#[test]
fn c077_no_docker_socket_in_job_container() {
    let create = Fixture::client().create();
    for m in mounts(&create) {
        assert_ne!(m["Source"], "/var/run/docker.sock");
    }
    assert!(!create.to_string().contains("docker.sock"));
}

// ---- L. v1 study data mounts ----

const V1_STUDY_A: &str = "study-a:\n  training:\n    source: /data/train\n    mode: ro\n  output:\n    source: /data/out\n    mode: rw\n";

// C078: the v1 file is read from the parent view (`<parent_root>/local/study_data.yaml`).
#[test]
fn c078_v1_nested_datasets() {
    let f = Fixture::client()
        .meta_set("study", json!("study-a"))
        .study_data_yaml(V1_STUDY_A);
    let create = f.create();
    assert_eq!(
        cmd(&create),
        [
            "/usr/local/bin/python",
            "-u",
            "-m",
            CLIENT_MODULE,
            "-w",
            "/ws",
            "-s",
            "/ws/startup",
            "-u",
            "tcp://site-1:8002"
        ]
    );
    assert_eq!(create["WorkingDir"], "/var/tmp/nvflare/workspace/job-1");
    assert_eq!(
        mount_at(&create, "/data/study-a/training"),
        bind("/data/train", "/data/study-a/training", true)
    );
    assert_eq!(
        mount_at(&create, "/data/study-a/output"),
        bind("/data/out", "/data/study-a/output", false)
    );
}

// C079
#[test]
fn c079_same_source_to_multiple_targets() {
    let f = Fixture::client().meta_set("study", json!("study-a")).study_data_yaml(
        "study-a:\n  training: {source: /data/shared, mode: ro}\n  validation: {source: /data/shared, mode: ro}\n",
    );
    let create = f.create();
    assert_eq!(
        mount_at(&create, "/data/study-a/training")["Source"],
        "/data/shared"
    );
    assert_eq!(
        mount_at(&create, "/data/study-a/validation")["Source"],
        "/data/shared"
    );
}

// C080
#[test]
fn c080_dataset_source_is_not_checked_in_the_parent_view() {
    let f = Fixture::client()
        .meta_set("study", json!("study-a"))
        .study_data_yaml("study-a:\n  training: {source: /host/not-mounted-in-parent, mode: ro}\n");
    assert_eq!(
        mount_at(&f.create(), "/data/study-a/training"),
        bind("/host/not-mounted-in-parent", "/data/study-a/training", true)
    );
}

// C081
#[test]
fn c081_default_study_without_mapping_mounts_no_data() {
    let f = Fixture::client()
        .meta_set("study", json!("default"))
        .study_data_yaml("{}\n");
    assert_eq!(mounts(&f.create()), workspace_binds("/ws", "job-1"));
}

// C082
#[test]
fn c082_default_study_mapping_is_mounted() {
    let f = Fixture::client()
        .meta_set("study", json!("default"))
        .study_data_yaml("default:\n  training: {source: /data/default-train, mode: ro}\n");
    assert_eq!(
        mount_at(&f.create(), "/data/default/training"),
        bind("/data/default-train", "/data/default/training", true)
    );
}

// C083
#[test]
fn c083_missing_study_mapping_warns_and_mounts_no_data() {
    let f = Fixture::client()
        .meta_set("study", json!("study-a"))
        .study_data_yaml("other-study:\n  training: {source: /data/t, mode: ro}\n");
    let plan = f.plan().unwrap();
    assert_eq!(mounts(&plan.create), workspace_binds("/ws", "job-1"));
    assert!(
        plan.warnings
            .iter()
            .any(|w| w.contains("has no entry for study 'study-a'")),
        "{:?}",
        plan.warnings
    );
}

// ---- M. environment ----

// C084
#[test]
fn c084_default_job_env_is_merged() {
    let f = Fixture::client().site_arg("default_job_env", json!({"NCCL_P2P_DISABLE": "1"}));
    let env = env_map(&f.create());
    assert_eq!(env["NCCL_P2P_DISABLE"].as_deref(), Some("1"));
    assert!(env.contains_key("USER") && env.contains_key("HOME"), "{env:?}");
}

// C085
#[test]
fn c085_launcher_user_and_home_win_over_default_job_env() {
    let f = Fixture::client()
        .site_arg("default_job_env", json!({"USER": "wrong", "HOME": "/bad/home"}))
        .env("USER", "actual-user")
        .env("HOME", "/real/home");
    let env = env_map(&f.create());
    assert_eq!(env["USER"].as_deref(), Some("actual-user"));
    assert_eq!(env["HOME"].as_deref(), Some("/real/home"));
}

// C086
#[test]
fn c086_credentials_travel_in_env_not_argv() {
    let f = Fixture::client()
        .arg("auth_token", "-t", json!("secret-token"))
        .arg("auth_signature", "-ts", json!("secret-signature"))
        .arg("ssid", "-d", json!("secret-ssid"));
    let create = f.create();
    let env = env_map(&create);
    assert_eq!(env["NVFLARE_JOB_AUTH_TOKEN"].as_deref(), Some("secret-token"));
    assert_eq!(
        env["NVFLARE_JOB_TOKEN_SIGNATURE"].as_deref(),
        Some("secret-signature")
    );
    assert_eq!(env["NVFLARE_JOB_SSID"].as_deref(), Some("secret-ssid"));
    assert!(
        cmd(&create).iter().all(|a| !a.contains("secret-")),
        "{:?}",
        cmd(&create)
    );
}

const V2_ENV: &str = "format_version: 2\nstudies:\n  study-a:\n    env:\n      DB_HOST: postgres.internal\n      USER: site-user\n    secret_env:\n      DB_PASSWORD:\n        source: NVFL_STUDY_A_DB_PASSWORD\n        key: password\n";

// C087
#[test]
fn c087_study_env_and_secret_env_are_injected() {
    let f = Fixture::client()
        .meta_set("study", json!("study-a"))
        .runtime_yaml(V2_ENV)
        .env("NVFL_STUDY_A_DB_PASSWORD", "s3cret");
    let env = env_map(&f.create());
    assert_eq!(env["DB_HOST"].as_deref(), Some("postgres.internal"));
    assert_eq!(env["DB_PASSWORD"].as_deref(), Some("s3cret"));
    assert_ne!(env["USER"].as_deref(), Some("site-user"));
}

// C088
#[test]
fn c088_missing_secret_env_source() {
    let f = Fixture::client().meta_set("study", json!("study-a")).runtime_yaml(
        "format_version: 2\nstudies:\n  study-a:\n    secret_env:\n      DB_PASSWORD: {source: NVFL_STUDY_A_MISSING, key: password}\n",
    );
    refused(&f, &["NVFL_STUDY_A_MISSING"]);
}

// ---- N. python_path ----

// C089
#[test]
fn c089_job_python_path_overrides_site_default() {
    let f = Fixture::client()
        .site_arg("default_python_path", json!("/usr/bin/python"))
        .docker(json!({"python_path": "/opt/conda/bin/python"}));
    let create = f.create();
    assert_eq!(cmd(&create)[0], "/opt/conda/bin/python");
    let body = create.to_string();
    assert!(
        !body.contains("python_path") && !body.contains("PythonPath"),
        "{body}"
    );
}

// C090
#[test]
fn c090_whitespace_python_path_is_refused() {
    let e = refused(
        &Fixture::client().docker(json!({"python_path": "   "})),
        &["python_path"],
    );
    let m = e.message();
    assert!(
        m[m.find("python_path").unwrap()..].contains("non-empty string"),
        "{m}"
    );
}

// ---- O. job-controlled option allowlist and BYOC ----

// C091
#[test]
fn c091_job_device_requests_are_refused() {
    let f = Fixture::client().docker(json!({
        "num_of_gpus": 1,
        "device_requests": [{"Count": 4, "Capabilities": [["gpu"]]}],
    }));
    refused(&f, &["unsupported job-controlled Docker option"]);
}

macro_rules! isolation_option_case {
    ($name:ident, $key:literal) => {
        #[test]
        fn $name() {
            let f = Fixture::client().docker(json!({$key: "attacker-controlled"}));
            refused(&f, &["unsupported job-controlled Docker option", $key]);
        }
    };
}

// C092
isolation_option_case!(c092_privileged, "privileged");
// C093
isolation_option_case!(c093_pid_mode, "pid_mode");
// C094
isolation_option_case!(c094_ipc_mode, "ipc_mode");
// C095
isolation_option_case!(c095_devices, "devices");
// C096
isolation_option_case!(c096_cap_add, "cap_add");
// C097
isolation_option_case!(c097_security_opt, "security_opt");
// C098
isolation_option_case!(c098_network_mode, "network_mode");
// C099
isolation_option_case!(c099_volumes, "volumes");

// C100
#[test]
fn c100_entrypoint_without_byoc() {
    let e = refused(
        &Fixture::client().docker(json!({"entrypoint": "/bin/sh"})),
        &[
            "job Docker spec for site 'site-1'",
            "lacks locally authorized BYOC",
        ],
    );
    let m = e.message();
    assert!(
        m.find("job Docker spec").unwrap() < m.find("lacks locally").unwrap(),
        "{m}"
    );
}

macro_rules! gpu_value_case {
    ($name:ident, $value:tt) => {
        #[test]
        fn $name() {
            let e = refused(
                &Fixture::client().docker(json!({"num_of_gpus": $value})),
                &["num_of_gpus", "integer greater than or equal to 0"],
            );
            let m = e.message();
            assert!(m.find("num_of_gpus").unwrap() < m.find("integer greater").unwrap(), "{m}");
        }
    };
}

// C101
gpu_value_case!(c101_gpus_true, true);
// C102
gpu_value_case!(c102_gpus_false, false);
// C103
gpu_value_case!(c103_gpus_string, "1");
// C104
gpu_value_case!(c104_gpus_float, (1.5));
// C105
gpu_value_case!(c105_gpus_negative, (-1));
// C106
gpu_value_case!(c106_gpus_null, null);

// C107
#[test]
fn c107_entrypoint_forwarded_with_byoc() {
    let f = Fixture::client()
        .docker(json!({"entrypoint": ["/bin/sh", "-c"]}))
        .meta_set("byoc", json!(true));
    let create = f.create();
    assert_eq!(create["Entrypoint"], json!(["/bin/sh", "-c"]));
    assert_eq!(
        cmd(&create)[..4],
        ["/usr/local/bin/python", "-u", "-m", CLIENT_MODULE]
    );
}

// ---- plan-level checks of berth's own decisions that sit next to these cases ----

// Spec §5 step 20: with a workspace object (a real parent, the CLI), a traversal-style
// job id fails as the workspace object's ValueError before the RuntimeError of C076.
#[test]
fn traversal_job_id_with_workspace_object_is_invalid_job_id() {
    let f = Fixture::client()
        .meta_set("job_id", json!("../other"))
        .with_workspace_object();
    invalid(&f, &["invalid job_id"]);
}

// DESIGN decision 12: a job folder that is a symlink is refused in the parent view.
#[test]
fn symlinked_job_folder_is_refused() {
    let f = Fixture::client();
    std::fs::create_dir_all(f.parent_root().join("startup")).unwrap();
    std::os::unix::fs::symlink(f.parent_root().join("startup"), f.parent_root().join("job-1")).unwrap();
    refused(&f, &["must not be a symlink"]);
}

// C013 at plan level: a job id that takes a reserved name.
#[test]
fn reserved_job_id_is_refused() {
    for job in ["startup", "local"] {
        let e = Fixture::client().meta_set("job_id", json!(job)).err();
        assert_err(&e, ErrorKind::Refused, &["reserved workspace name"]);
    }
}
