//! The exact container-create JSON berth sends for representative jobs, kept as files under
//! `tests/snapshots/` so any change to what reaches Docker shows up in review.
//!
//! To accept an intended change: `BERTH_UPDATE_SNAPSHOTS=1 cargo test -p berth-core --test
//! plan_snapshots`, then review the diff of the snapshot files. A missing snapshot is
//! written and the test fails, so a new one is always looked at once.
//!
//! Inputs are fixed (uid:gid 1000:1000, a fixed launcher environment, host workspace
//! `/srv/nvflare/site-1`); the temporary parent view never reaches the body, because
//! PYTHONPATH is mapped onto the container workspace.

mod common;

use berth_core::args::Role;
use common::*;
use serde_json::{json, Value};
use std::path::PathBuf;

const HOST_WS: &str = "/srv/nvflare/site-1";

fn check_snapshot(name: &str, actual: &Value) {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/snapshots")
        .join(format!("{name}.json"));
    let rendered = format!("{}\n", serde_json::to_string_pretty(actual).expect("render"));
    let update = std::env::var_os("BERTH_UPDATE_SNAPSHOTS").is_some_and(|v| v != "0");
    match std::fs::read_to_string(&path) {
        Ok(expected) if expected == rendered => {}
        Ok(_) if update => std::fs::write(&path, &rendered).expect("update snapshot"),
        Ok(expected) => {
            let diff: Vec<String> = expected
                .lines()
                .zip(rendered.lines())
                .enumerate()
                .filter(|(_, (e, a))| e != a)
                .take(10)
                .map(|(i, (e, a))| format!("line {}:\n  - {e}\n  + {a}", i + 1))
                .collect();
            panic!(
                "snapshot {} differs ({} vs {} lines); first differences:\n{}\n\
                 rerun with BERTH_UPDATE_SNAPSHOTS=1 to accept",
                path.display(),
                expected.lines().count(),
                rendered.lines().count(),
                diff.join("\n")
            );
        }
        Err(_) => {
            std::fs::create_dir_all(path.parent().expect("parent")).expect("snapshot dir");
            std::fs::write(&path, &rendered).expect("write snapshot");
            assert!(
                update,
                "new snapshot {} written; review it and rerun",
                path.display()
            );
        }
    }
}

/// The launcher environment every snapshot uses.
fn site_fixture(site_args: Value) -> Fixture {
    Fixture::client()
        .site_args(site_args)
        .env("USER", "nvflare")
        .env("HOME", "/home/nvflare")
        .with_workspace_object()
}

/// JOB_PROCESS_ARGS as a client parent builds them (spec §1.4).
fn client_args() -> Value {
    json!({
        "exe_module": ["-m", CLIENT_MODULE],
        "workspace": ["-m", MOUNT],
        "startup_dir": ["-w", format!("{MOUNT}/startup")],
        "job_id": ["-n", "job-1"],
        "client_name": ["-c", "site-1"],
        "auth_token": ["-t", "client-token"],
        "auth_signature": ["-ts", "client-signature"],
        "ssid": ["-d", "ssid-1234"],
        "parent_url": ["-p", "stcp://localhost:8004"],
        "parent_conn_sec": ["--parent_conn_sec", "mtls"],
        "target": ["-g", "server1:8002"],
        "scheme": ["-scheme", "grpc"],
        "startup_config_file": ["-s", "fed_client.json"],
        "options": ["--set", "secure_train=true uid=site-1"],
    })
}

fn client_meta() -> Value {
    json!({
        "job_id": "job-1",
        "name": "hello-pt",
        "deploy_map": {"app": ["@ALL"]},
        "launcher_spec": {"default": {"docker": {"image": "nvflare/nvflare:2.7.0"}}},
    })
}

#[test]
fn client_job() {
    let mut f = site_fixture(json!({
        "workspace": HOST_WS,
        "network": "nvflare-network",
        "default_job_env": {"NCCL_P2P_DISABLE": "1"},
    }))
    .meta(client_meta())
    .args(Some(client_args()));
    f.set = vec!["secure_train=true".into(), "uid=site-1".into()];
    std::fs::create_dir_all(f.parent_root().join("local/custom")).unwrap();
    check_snapshot("client_job", &f.plan().unwrap().to_json());
}

#[test]
fn server_job() {
    let mut f = site_fixture(json!({"workspace": "/srv/nvflare/server1", "network": "fl-net"}))
        .meta(json!({
            "job_id": "job-7",
            "deploy_map": {"app": ["@ALL"]},
            "launcher_spec": {"server1": {"docker": {"image": "nvflare/nvflare:2.7.0", "shm_size": "2g"}}},
        }))
        .args(Some(json!({
            "exe_module": ["-m", SERVER_MODULE],
            "workspace": ["-m", MOUNT],
            "startup_config_file": ["-s", "fed_server.json"],
            "app_root": ["-r", format!("{MOUNT}/job-7/app_server")],
            "job_id": ["-n", "job-7"],
            "auth_token": ["-t", "job-7"],
            "auth_signature": ["-ts", "server-signature"],
            "ssid": ["--ssid", "ssid-5678"],
            "parent_url": ["-p", "tcp://localhost:8004"],
            "parent_conn_sec": ["--parent_conn_sec", "clear"],
            "root_url": ["-u", "grpc://server1:8002"],
            "service_host": ["--host", "server1"],
            "service_port": ["--port", 8003],
            "options": ["--set", "secure_train=true"],
        })));
    f.site = "server1".into();
    f.role = Role::Server;
    f.set = vec!["secure_train=true".into()];
    check_snapshot("server_job", &f.plan().unwrap().to_json());
}

const STUDY_RUNTIME: &str = r#"format_version: 2
studies:
  lung-cancer:
    container:
      image: registry.example.com/lung/train:1.4
    datasets:
      reference:
        source: /mnt/datasets/lung/reference
        mode: ro
      scratch:
        type: mount
        source: /mnt/scratch/lung
        mode: rw
    env:
      DB_HOST: postgres.internal
      DB_PORT: 5432
      DEBUG: true
    secret_env:
      DB_PASSWORD:
        source: NVFL_LUNG_DB_PASSWORD
        key: password
    secret_mounts:
      db-ca:
        source: /srv/secrets/lung/db-ca
        mount_path: /var/run/nvflare/secrets/db-ca
    docker_kwargs:
      shm_size: 8g
      ulimits:
        - {name: memlock, soft: -1, hard: -1}
      labels:
        study: lung-cancer
"#;

#[test]
fn study_job_with_secrets_gpus_and_limits() {
    let f = site_fixture(json!({
        "workspace": HOST_WS,
        "default_job_container_kwargs": {"ipc_mode": "private", "shm_size": "1g"},
        "default_job_env": {"SITE_REGION": "eu-west"},
    }))
    .meta(json!({
        "job_id": "job-2",
        "study": "lung-cancer",
        "launcher_spec": {"site-1": {"docker": {"num_of_gpus": 2}}},
        "resource_spec": {"@default": {"num_of_cpus": 4, "memory": "16Gi"}},
    }))
    .args(Some(client_args()))
    .arg("job_id", "-n", json!("job-2"))
    .env("NVFL_LUNG_DB_PASSWORD", "s3cret")
    .runtime_yaml(STUDY_RUNTIME);
    check_snapshot(
        "study_job_with_secrets_gpus_and_limits",
        &f.plan().unwrap().to_json(),
    );
}

#[test]
fn shared_file_parent_url_job() {
    let f = site_fixture(json!({"workspace": HOST_WS}))
        .meta(client_meta())
        .args(Some(client_args()))
        .arg(
            "parent_url",
            "-p",
            json!("shared-file://0/lustre/nvflare/cellnet/lst_12345678?poll_interval=0.05"),
        )
        .arg("parent_conn_sec", "--parent_conn_sec", json!("clear"));
    check_snapshot("shared_file_parent_url_job", &f.plan().unwrap().to_json());
}

#[test]
fn byoc_entrypoint_job() {
    let f = site_fixture(json!({"workspace": HOST_WS}))
        .meta(json!({
            "job_id": "job-3",
            "byoc": true,
            "launcher_spec": {"site-1": {"docker": {
                "image": "registry.example.com/team/custom:3",
                "python_path": "/opt/conda/bin/python",
                "entrypoint": "/opt/entry.sh --log-level 'debug info'",
            }}},
        }))
        .args(Some(client_args()))
        .arg("job_id", "-n", json!("job-3"));
    check_snapshot("byoc_entrypoint_job", &f.plan().unwrap().to_json());
}

/// `security_profile: baseline`: the engine's defaults, as upstream sends them (no
/// CapDrop, SecurityOpt or PidsLimit). The body differs from upstream's only by berth's
/// documented deviations: AutoRemove false, labels, the uid-owned workspace tmpfs.
#[test]
fn baseline_profile_job() {
    let mut f = site_fixture(json!({
        "workspace": HOST_WS,
        "security_profile": "baseline",
        "default_job_env": {"NCCL_P2P_DISABLE": "1"},
    }))
    .meta(client_meta())
    .args(Some(client_args()));
    f.set = vec!["secure_train=true".into(), "uid=site-1".into()];
    let plan = f.plan().unwrap();
    let host = &plan.create["HostConfig"];
    for field in ["CapDrop", "CapAdd", "SecurityOpt", "PidsLimit", "Runtime"] {
        assert!(host.get(field).is_none(), "{field} under baseline: {host}");
    }
    check_snapshot("baseline_profile_job", &plan.to_json());
}

/// A restricted site that relaxes single options in its own container kwargs, and runs its
/// jobs under another OCI runtime: what the site wrote stands, the rest of the profile stays.
#[test]
fn restricted_site_relaxes_single_options() {
    let f = site_fixture(json!({
        "workspace": HOST_WS,
        "runtime": "runsc",
        "allowed_images": ["nvflare/nvflare:*"],
        "default_job_container_kwargs": {
            "cap_add": ["NET_RAW"],
            "security_opt": ["apparmor=nvflare-job"],
            "pids_limit": 16384,
        },
    }))
    .meta(client_meta())
    .args(Some(client_args()));
    let plan = f.plan().unwrap();
    let host = &plan.create["HostConfig"];
    assert_eq!(host["CapDrop"], json!(["ALL"]));
    assert_eq!(host["CapAdd"], json!(["NET_RAW"]));
    assert_eq!(
        host["SecurityOpt"],
        json!(["apparmor=nvflare-job", "no-new-privileges"])
    );
    assert_eq!(host["PidsLimit"], json!(16384));
    assert_eq!(host["Runtime"], json!("runsc"));
    check_snapshot("restricted_site_relaxes_single_options", &plan.to_json());
}
