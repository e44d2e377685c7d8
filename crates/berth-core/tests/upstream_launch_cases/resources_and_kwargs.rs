//! Sections P (GPU / CPU / memory translation), Q (container-kwargs merge, site -> study ->
//! job) and R (v2 study runtime specifics).

use super::*;

// ---- P. GPU / CPU / memory translation ----

/// `device_requests=[{"Count": n, "Capabilities": [["gpu"]]}]` as the SDK sends it.
fn gpu_request(count: i64) -> Value {
    json!([{"Driver": "", "Count": count, "DeviceIDs": [], "Capabilities": [["gpu"]], "Options": {}}])
}

// C108
#[test]
fn c108_num_of_gpus_becomes_a_device_request() {
    let create = Fixture::client().docker(json!({"num_of_gpus": 2})).create();
    assert_eq!(create["HostConfig"]["DeviceRequests"], gpu_request(2));
}

// C109
#[test]
fn c109_job_gpus_override_site_device_requests() {
    let f = Fixture::client()
        .site_arg(
            "default_job_container_kwargs",
            json!({"device_requests": [{"Count": 1, "Capabilities": [["gpu"]]}]}),
        )
        .docker(json!({"num_of_gpus": 2}));
    assert_eq!(f.create()["HostConfig"]["DeviceRequests"], gpu_request(2));
}

// C110
#[test]
fn c110_flat_gpus_beside_mode_keys_are_ignored() {
    let f = Fixture::client().meta(json!({
        "job_id": "job-1",
        "resource_spec": {"site-1": {"docker": {"image": "nvflare:test"}, "num_of_gpus": 2}},
    }));
    let create = f.create();
    assert_eq!(create["Image"], "nvflare:test");
    assert!(create["HostConfig"].get("DeviceRequests").is_none(), "{create}");
}

// C111
#[test]
fn c111_gpus_from_flat_resource_spec() {
    let f = Fixture::client().meta_set("resource_spec", json!({"site-1": {"num_of_gpus": 2}}));
    assert_eq!(f.create()["HostConfig"]["DeviceRequests"], gpu_request(2));
}

// C112
#[test]
fn c112_portable_cpu_and_memory_override_site_defaults() {
    let f = Fixture::client()
        .site_arg(
            "default_job_container_kwargs",
            json!({"nano_cpus": 1, "mem_limit": 1}),
        )
        .meta_set(
            "resource_spec",
            json!({"@default": {"num_of_cpus": 4, "memory": "8Gi"}, "site-1": {"num_of_cpus": 6}}),
        );
    let host = f.create()["HostConfig"].clone();
    assert_eq!(host["NanoCpus"], 6_000_000_000_i64);
    assert_eq!(host["Memory"], 8_i64 * 1024 * 1024 * 1024);
}

// C113
#[test]
fn c113_no_gpu_anywhere_no_device_requests() {
    let create = Fixture::client().create();
    assert!(create["HostConfig"].get("DeviceRequests").is_none(), "{create}");
}

const V2_STUDY_GPUS: &str = "format_version: 2\nstudies:\n  study-a:\n    docker_kwargs:\n      device_requests:\n        - Count: 4\n          Capabilities: [[gpu]]\n";

fn study_gpu_fixture(docker: Value) -> Fixture {
    Fixture::client()
        .docker(docker)
        .meta_set("study", json!("study-a"))
        .runtime_yaml(V2_STUDY_GPUS)
}

// C114
#[test]
fn c114_job_gpus_win_over_study_device_requests() {
    let create = study_gpu_fixture(json!({"num_of_gpus": 1})).create();
    assert_eq!(create["HostConfig"]["DeviceRequests"], gpu_request(1));
}

// C115
#[test]
fn c115_explicit_zero_gpus_drop_study_device_requests() {
    let create = study_gpu_fixture(json!({"num_of_gpus": 0})).create();
    assert!(create["HostConfig"].get("DeviceRequests").is_none(), "{create}");
}

// C116
#[test]
fn c116_unspecified_job_gpus_keep_study_device_requests() {
    let create = study_gpu_fixture(json!({})).create();
    assert_eq!(create["HostConfig"]["DeviceRequests"], gpu_request(4));
}

// ---- Q. container-kwargs merge (site -> study -> job) ----

const GIB: i64 = 1024 * 1024 * 1024;

// C117
#[test]
fn c117_site_kwargs_passed() {
    let f = Fixture::client().site_arg("default_job_container_kwargs", json!({"ipc_mode": "host"}));
    assert_eq!(f.create()["HostConfig"]["IpcMode"], "host");
}

// C118: the job's "8g" reaches the engine as bytes, as the SDK converts it (decision 11).
#[test]
fn c118_job_shm_size_forwarded() {
    let create = Fixture::client().docker(json!({"shm_size": "8g"})).create();
    assert_eq!(create["HostConfig"]["ShmSize"], 8 * GIB);
}

// C119
#[test]
fn c119_job_and_site_kwargs_merged() {
    let f = Fixture::client()
        .site_arg("default_job_container_kwargs", json!({"ipc_mode": "host"}))
        .docker(json!({"shm_size": "8g"}));
    let host = f.create()["HostConfig"].clone();
    assert_eq!(host["IpcMode"], "host");
    assert_eq!(host["ShmSize"], 8 * GIB);
}

// C120
#[test]
fn c120_job_kwargs_override_site_kwargs() {
    let f = Fixture::client()
        .site_arg("default_job_container_kwargs", json!({"shm_size": "2g"}))
        .docker(json!({"shm_size": "8g"}));
    assert_eq!(f.create()["HostConfig"]["ShmSize"], 8 * GIB);
}

// C121: under `baseline` exactly upstream's keys (berth's AutoRemove and Tmpfs aside);
// the default `restricted` profile adds its three fields and nothing else (decision 14).
#[test]
fn c121_no_kwargs_no_extra_keys() {
    let host = Fixture::client()
        .site_arg("security_profile", json!("baseline"))
        .create()["HostConfig"]
        .clone();
    assert!(
        host.get("ShmSize").is_none() && host.get("IpcMode").is_none(),
        "{host}"
    );
    let keys: Vec<&str> = host.as_object().unwrap().keys().map(String::as_str).collect();
    assert_eq!(keys, ["AutoRemove", "NetworkMode", "Mounts", "Tmpfs"]);
    let host = Fixture::client().create()["HostConfig"].clone();
    let keys: Vec<&str> = host.as_object().unwrap().keys().map(String::as_str).collect();
    assert_eq!(
        keys,
        [
            "AutoRemove",
            "NetworkMode",
            "Mounts",
            "Tmpfs",
            "CapDrop",
            "PidsLimit",
            "SecurityOpt"
        ]
    );
}

fn study_kwargs_fixture(kwargs_yaml: &str) -> Fixture {
    Fixture::client()
        .meta_set("study", json!("study-a"))
        .runtime_yaml(&format!(
            "format_version: 2\nstudies:\n  study-a:\n    docker_kwargs:\n{kwargs_yaml}"
        ))
}

// C122
#[test]
fn c122_study_docker_kwargs_applied() {
    let f = study_kwargs_fixture("      shm_size: 8g\n      ipc_mode: host\n");
    let host = f.create()["HostConfig"].clone();
    assert_eq!(host["ShmSize"], 8 * GIB);
    assert_eq!(host["IpcMode"], "host");
}

// C123
#[test]
fn c123_job_kwargs_win_over_study() {
    let f = study_kwargs_fixture("      shm_size: 8g\n").docker(json!({"shm_size": "2g"}));
    assert_eq!(f.create()["HostConfig"]["ShmSize"], 2 * GIB);
}

// C124: labels are create-level fields; berth adds its own beside the site's.
#[test]
fn c124_study_kwargs_win_over_site_and_site_labels_kept() {
    let f = study_kwargs_fixture("      shm_size: 8g\n").site_arg(
        "default_job_container_kwargs",
        json!({"shm_size": "1g", "labels": {"site": "a"}}),
    );
    let create = f.create();
    assert_eq!(create["HostConfig"]["ShmSize"], 8 * GIB);
    assert_eq!(create["Labels"]["site"], "a");
}

// C125
#[test]
fn c125_study_environment_kwarg_is_launcher_owned() {
    invalid(
        &study_kwargs_fixture("      environment: {A: b}\n"),
        &["launcher-owned"],
    );
}

// C126
#[test]
fn c126_unknown_sdk_kwarg_is_refused() {
    refused(
        &study_kwargs_fixture("      shm_szie: 8g\n"),
        &["not supported by the installed Docker SDK", "shm_szie"],
    );
}

// ---- R. v2 study runtime specifics ----

// C127
#[test]
fn c127_datasets_and_secret_mounts_are_bound() {
    let f = Fixture::client().meta_set("study", json!("study-a")).runtime_yaml(
        "format_version: 2\nstudies:\n  study-a:\n    datasets:\n      training: {source: /host/data/train, mode: ro}\n    secret_mounts:\n      db-ca:\n        source: /host/secrets/db-ca\n        mount_path: /var/run/nvflare/secrets/db-ca\n",
    );
    let create = f.create();
    assert_eq!(
        mount_at(&create, "/data/study-a/training"),
        bind("/host/data/train", "/data/study-a/training", true)
    );
    assert_eq!(
        mount_at(&create, "/var/run/nvflare/secrets/db-ca"),
        bind("/host/secrets/db-ca", "/var/run/nvflare/secrets/db-ca", true)
    );
}

// C128
#[test]
fn c128_secret_mount_items_are_kubernetes_only() {
    let f = Fixture::client().meta_set("study", json!("study-a")).runtime_yaml(
        "format_version: 2\nstudies:\n  study-a:\n    secret_mounts:\n      db-ca:\n        source: /host/secrets/db-ca\n        mount_path: /var/run/nvflare/secrets/db-ca\n        items: {ca.crt: ca.crt}\n",
    );
    invalid(&f, &["Kubernetes-only"]);
}

// C129
#[test]
fn c129_v1_and_v2_files_cannot_be_combined() {
    let f = Fixture::client()
        .runtime_yaml("format_version: 2\nstudies: {}\n")
        .study_data_yaml("{}\n");
    refused(&f, &["cannot be combined"]);
}

// C130
#[test]
fn c130_pod_template_is_kubernetes_only() {
    let f = Fixture::client()
        .meta_set("study", json!("study-a"))
        .runtime_yaml("format_version: 2\nstudies:\n  study-a:\n    pod_template: {spec: {}}\n");
    invalid(&f, &["Kubernetes-only"]);
}
