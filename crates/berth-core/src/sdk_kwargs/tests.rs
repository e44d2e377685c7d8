use super::spec::SPECS;
use super::*;
use crate::pyval::Map;
use proptest::prelude::*;
use serde_json::{json, Value};

const SRC: &str = "default_job_container_kwargs";

fn kw(v: Value) -> Map {
    v.as_object().cloned().expect("test input is an object")
}

fn tr(v: Value) -> Result<EngineFields> {
    translate(&kw(v), SRC)
}

fn host(v: Value) -> Value {
    Value::Object(tr(v).expect("translates").host_config)
}

fn config(v: Value) -> Value {
    Value::Object(tr(v).expect("translates").config)
}

fn refused(v: Value) -> Error {
    let e = tr(v).expect_err("must be refused");
    assert_eq!(e.kind(), crate::ErrorKind::Invalid, "{e:?}");
    e
}

/// One object from several, keeping order (a single `json!` this large hits the macro
/// recursion limit).
fn merged(parts: &[Value]) -> Value {
    let mut out = Map::new();
    for part in parts {
        out.extend(part.as_object().cloned().unwrap_or_default());
    }
    Value::Object(out)
}

/// Compares serialised text, so key order counts.
fn same(actual: &Value, expected: &Value) {
    assert_eq!(actual.to_string(), expected.to_string());
}

#[test]
fn every_sdk_key_is_reserved_or_translated() {
    for key in SDK_CREATE_KWARGS.iter().chain(SDK_HOST_CONFIG_KWARGS) {
        assert!(
            is_reserved_kwarg(key) != spec_for(key).is_some(),
            "{key}: reserved keys have no rule, every other key has one"
        );
    }
    for (i, s) in SPECS.iter().enumerate() {
        assert!(
            is_known_run_kwarg(s.key) && !is_reserved_kwarg(s.key),
            "{}",
            s.key
        );
        assert!(SPECS[..i].iter().all(|o| o.key != s.key), "duplicate {}", s.key);
    }
}

#[test]
fn every_key_translates_to_the_engine_api_fields() {
    let out = tr(merged(&[
        json!({
            "domainname": "example.org",
            "entrypoint": "/bin/sh -c 'a b'",
            "healthcheck": {"test": "curl -f http://localhost/", "interval": 30_000_000_000i64,
                            "timeout": 5_000_000_000i64, "retries": 3, "start_period": 1_000_000_000},
            "hostname": "job-1",
            "labels": {"team": "fl"},
            "mac_address": "02:42:ac:11:00:02",
            "network_disabled": false,
            "platform": "linux/amd64",
            "stdin_open": true,
            "stop_signal": "SIGINT",
            "tty": false,
            "use_config_proxy": true,
            "version": "1.41",
        }),
        json!({
            "blkio_weight_device": [{"Path": "/dev/sda", "Weight": 200}],
            "blkio_weight": 300,
            "cap_add": ["SYS_PTRACE"],
            "cap_drop": ["NET_RAW"],
            "cgroup_parent": "/berth",
            "cgroupns": "private",
            "cpu_count": 2,
            "cpu_percent": 50,
            "cpu_period": 100_000,
            "cpu_quota": 50_000,
            "cpu_shares": 512,
            "cpuset_cpus": "0-3",
            "cpuset_mems": "0",
            "cpu_rt_period": 1_000_000,
            "cpu_rt_runtime": 950_000,
        }),
        json!({
            "device_cgroup_rules": ["c 1:3 mr"],
            "device_read_bps": [{"Path": "/dev/sda", "Rate": 1_048_576}],
            "device_read_iops": [{"path": "/dev/sda", "rate": 1000}],
            "device_write_bps": [{"Path": "/dev/sdb", "Rate": 2_097_152}],
            "device_write_iops": [{"Path": "/dev/sdb", "Rate": 500}],
            "devices": ["/dev/fuse"],
            "device_requests": [{"count": -1, "capabilities": [["gpu"]]}],
            "dns_opt": ["ndots:2"],
            "dns_search": ["example.org"],
            "dns": ["10.0.0.2"],
            "extra_hosts": {"registry": "10.0.0.5"},
            "group_add": ["video", 44],
            "init": true,
        }),
        json!({
            "ipc_mode": "host",
            "isolation": "default",
            "kernel_memory": "64m",
            "links": {"db": "database"},
            "log_config": {"type": "json-file", "config": {"max-size": "10m"}},
            "lxc_conf": {"lxc.utsname": "docker"},
            "mem_limit": "8g",
            "mem_reservation": "1g",
            "mem_swappiness": 10,
            "memswap_limit": "16g",
            "nano_cpus": 2_000_000_000,
            "oom_kill_disable": true,
            "oom_score_adj": 100,
        }),
        json!({
            "pid_mode": "host",
            "pids_limit": 1024,
            "privileged": true,
            "publish_all_ports": true,
            "read_only": true,
            "restart_policy": {"Name": "on-failure", "MaximumRetryCount": 3},
            "security_opt": ["no-new-privileges"],
            "shm_size": "8g",
            "storage_opt": {"size": "20G"},
            "sysctls": {"net.core.somaxconn": 1024},
            "tmpfs": ["/run:rw,size=64m"],
            "ulimits": [{"name": "nofile", "soft": 1024, "hard": 2048}],
            "userns_mode": "host",
            "uts_mode": "host",
            "volume_driver": "local",
            "volumes_from": "a,b",
            "runtime": "nvidia",
        }),
    ]))
    .expect("translates");
    same(
        &Value::Object(out.config),
        &json!({
            "Domainname": "example.org",
            "Entrypoint": ["/bin/sh", "-c", "a b"],
            "Healthcheck": {"Test": ["CMD-SHELL", "curl -f http://localhost/"], "Interval": 30_000_000_000i64,
                            "Timeout": 5_000_000_000i64, "Retries": 3, "StartPeriod": 1_000_000_000},
            "Hostname": "job-1",
            "Labels": {"team": "fl"},
            "MacAddress": "02:42:ac:11:00:02",
            "NetworkDisabled": false,
            "OpenStdin": true,
            "StopSignal": "SIGINT",
            "Tty": false,
        }),
    );
    same(
        &Value::Object(out.host_config),
        &merged(&[
            json!({
                "BlkioWeightDevice": [{"Path": "/dev/sda", "Weight": 200}],
                "BlkioWeight": 300,
                "CapAdd": ["SYS_PTRACE"],
                "CapDrop": ["NET_RAW"],
                "CgroupParent": "/berth",
                "CgroupnsMode": "private",
                "CpuCount": 2,
                "CpuPercent": 50,
                "CpuPeriod": 100_000,
                "CpuQuota": 50_000,
                "CpuShares": 512,
                "CpusetCpus": "0-3",
                "CpusetMems": "0",
                "CpuRealtimePeriod": 1_000_000,
                "CpuRealtimeRuntime": 950_000,
            }),
            json!({
                "DeviceCgroupRules": ["c 1:3 mr"],
                "BlkioDeviceReadBps": [{"Path": "/dev/sda", "Rate": 1_048_576}],
                "BlkioDeviceReadIOps": [{"Path": "/dev/sda", "Rate": 1000}],
                "BlkioDeviceWriteBps": [{"Path": "/dev/sdb", "Rate": 2_097_152}],
                "BlkioDeviceWriteIOps": [{"Path": "/dev/sdb", "Rate": 500}],
                "Devices": [{"PathOnHost": "/dev/fuse", "PathInContainer": "/dev/fuse", "CgroupPermissions": "rwm"}],
                "DeviceRequests": [{"Driver": "", "Count": -1, "DeviceIDs": [], "Capabilities": [["gpu"]], "Options": {}}],
                "DnsOptions": ["ndots:2"],
                "DnsSearch": ["example.org"],
                "Dns": ["10.0.0.2"],
                "ExtraHosts": ["registry:10.0.0.5"],
                "GroupAdd": ["video", "44"],
                "Init": true,
            }),
            json!({
                "IpcMode": "host",
                "Isolation": "default",
                "KernelMemory": 67_108_864,
                "Links": ["db:database"],
                "LogConfig": {"Type": "json-file", "Config": {"max-size": "10m"}},
                "LxcConf": [{"Key": "lxc.utsname", "Value": "docker"}],
                "Memory": 8_589_934_592i64,
                "MemoryReservation": 1_073_741_824,
                "MemorySwappiness": 10,
                "MemorySwap": 17_179_869_184i64,
                "NanoCpus": 2_000_000_000,
                "OomKillDisable": true,
                "OomScoreAdj": 100,
            }),
            json!({
                "PidMode": "host",
                "PidsLimit": 1024,
                "Privileged": true,
                "PublishAllPorts": true,
                "ReadonlyRootfs": true,
                "RestartPolicy": {"Name": "on-failure", "MaximumRetryCount": 3},
                "SecurityOpt": ["no-new-privileges"],
                "ShmSize": 8_589_934_592i64,
                "StorageOpt": {"size": "20G"},
                "Sysctls": {"net.core.somaxconn": "1024"},
                "Tmpfs": {"/run": "rw,size=64m"},
                "Ulimits": [{"Name": "nofile", "Soft": 1024, "Hard": 2048}],
                "UsernsMode": "host",
                "UTSMode": "host",
                "VolumeDriver": "local",
                "VolumesFrom": ["a", "b"],
                "Runtime": "nvidia",
            }),
        ]),
    );
    assert_eq!(out.platform.as_deref(), Some("linux/amd64"));
}

#[test]
fn output_follows_input_order() {
    let a = host(json!({"shm_size": "1g", "ipc_mode": "host", "mem_limit": 1024}));
    same(
        &a,
        &json!({"ShmSize": 1_073_741_824, "IpcMode": "host", "Memory": 1024}),
    );
    let b = host(json!({"mem_limit": 1024, "ipc_mode": "host", "shm_size": "1g"}));
    same(
        &b,
        &json!({"Memory": 1024, "IpcMode": "host", "ShmSize": 1_073_741_824}),
    );
}

#[test]
fn empty_input_gives_empty_fields() {
    assert_eq!(tr(json!({})).expect("translates"), EngineFields::default());
}

#[test]
fn byte_sizes_follow_the_sdk() {
    let cases: &[(Value, i64)] = &[
        (json!("8g"), 8_589_934_592),
        (json!("8G"), 8_589_934_592),
        (json!("8gb"), 8_589_934_592),
        (json!("8GB"), 8_589_934_592),
        (json!("512m"), 536_870_912),
        (json!("512MB"), 536_870_912),
        (json!("1k"), 1024),
        (json!("1kb"), 1024),
        (json!("100"), 100),
        (json!("100b"), 100),
        (json!("100B"), 100),
        (json!("1bb"), 1),
        (json!(1024), 1024),
        (json!(0), 0),
        (json!(-1), -1),
        (json!(i64::MAX), i64::MAX),
        (json!("1.5g"), 1_610_612_736),
        (json!("0.5k"), 512),
        (json!(".5k"), 512),
        (json!("1.7b"), 1),
        (json!("-1.5b"), -1),
        (json!("-1"), -1),
        (json!("-1g"), -1_073_741_824),
        (json!("+2m"), 2_097_152),
        (json!("1e3"), 1000),
        (json!("1e3k"), 1_024_000),
        (json!("1_000k"), 1_024_000),
        (json!(" 8g"), 8_589_934_592),
        (json!("8 g"), 8_589_934_592),
        (json!(""), 0),
    ];
    for (input, want) in cases {
        assert_eq!(parse_bytes(input, "shm_size", SRC).ok(), Some(*want), "{input}");
    }
}

#[test]
fn bad_byte_sizes_are_refused_naming_source_key_and_form() {
    let cases = [
        json!("8x"),
        json!("8g "),
        json!("g"),
        json!("gb"),
        json!("b"),
        json!("abc"),
        json!("8kk"),
        json!("1__0k"),
        json!("_1k"),
        json!("1_k"),
        json!("inf"),
        json!("nanm"),
        json!("1e30g"),
        // Through a float it becomes 2^63, one past i64::MAX.
        json!("9223372036854775807"),
        json!(u64::MAX),
        json!(1.5),
        json!(1024.0),
        json!(true),
        json!([1]),
        json!({"size": 1}),
        json!(null),
    ];
    for input in cases {
        let e = parse_bytes(&input, "shm_size", SRC).expect_err(&input.to_string());
        assert_eq!(e.kind(), crate::ErrorKind::Invalid);
        assert!(
            e.message()
                .starts_with("default_job_container_kwargs key 'shm_size' "),
            "{input}: {}",
            e.message()
        );
    }
    let e = parse_bytes(&json!("8x"), "shm_size", SRC).expect_err("bad unit");
    assert!(
        e.message().contains("'512m'") && e.message().contains("b, k, m, g"),
        "{}",
        e.message()
    );
    let e = parse_bytes(&json!(u64::MAX), "mem_limit", SRC).expect_err("too big");
    assert!(e.message().contains("out of range"), "{}", e.message());
}

#[test]
fn size_keys_use_their_engine_fields_and_truthiness() {
    same(
        &host(
            json!({"shm_size": 1024, "mem_limit": "512m", "memswap_limit": -1, "mem_reservation": "1g", "kernel_memory": "64m"}),
        ),
        &json!({"ShmSize": 1024, "Memory": 536_870_912, "MemorySwap": -1, "MemoryReservation": 1_073_741_824, "KernelMemory": 67_108_864}),
    );
    // mem_limit, memswap_limit and shm_size are sent when given; the other two only when truthy.
    same(
        &host(
            json!({"shm_size": 0, "mem_limit": "", "memswap_limit": 0, "mem_reservation": 0, "kernel_memory": ""}),
        ),
        &json!({"ShmSize": 0, "Memory": 0, "MemorySwap": 0}),
    );
    // "0" is a truthy string, so it is sent.
    same(
        &host(json!({"mem_reservation": "0"})),
        &json!({"MemoryReservation": 0}),
    );
    let e = refused(json!({"mem_limit": "lots"}));
    assert!(
        e.message()
            .starts_with("default_job_container_kwargs key 'mem_limit' must be"),
        "{}",
        e.message()
    );
}

#[test]
fn shell_split_follows_posix_shlex() {
    let ok: &[(&str, &[&str])] = &[
        ("/bin/sh -c 'a b'", &["/bin/sh", "-c", "a b"]),
        ("/bin/sh -c", &["/bin/sh", "-c"]),
        ("  a \t b\nc\r ", &["a", "b", "c"]),
        ("", &[]),
        ("   ", &[]),
        ("a '' b", &["a", "", "b"]),
        ("\"\"", &[""]),
        ("x\"y z\"w", &["xy zw"]),
        ("a\\ b", &["a b"]),
        ("\"a \\\"q\\\" \\d \\\\\"", &["a \"q\" \\d \\"]),
        ("'a\\b' \"$HOME\"", &["a\\b", "$HOME"]),
        ("#not-a-comment x", &["#not-a-comment", "x"]),
        (
            "python -m nvflare.x --opt=\"1 2\"",
            &["python", "-m", "nvflare.x", "--opt=1 2"],
        ),
    ];
    for (input, want) in ok {
        let got = shell_split(input).unwrap_or_else(|e| panic!("{input:?}: {e}"));
        assert_eq!(got, want.to_vec(), "{input:?}");
    }
    assert_eq!(shell_split("'a"), Err("No closing quotation"));
    assert_eq!(shell_split("\"a"), Err("No closing quotation"));
    assert_eq!(shell_split("a\\"), Err("No escaped character"));
    assert_eq!(shell_split("\"a\\"), Err("No escaped character"));
}

#[test]
fn entrypoint_string_is_split_and_list_kept() {
    same(
        &config(json!({"entrypoint": "/bin/sh -c 'a b'"})),
        &json!({"Entrypoint": ["/bin/sh", "-c", "a b"]}),
    );
    same(
        &config(json!({"entrypoint": ["/bin/sh", "-c a"]})),
        &json!({"Entrypoint": ["/bin/sh", "-c a"]}),
    );
    // An empty string splits to an empty list, which the SDK sends (it clears the image's).
    same(&config(json!({"entrypoint": ""})), &json!({"Entrypoint": []}));
    let e = refused(json!({"entrypoint": "/bin/sh -c 'unbalanced"}));
    assert!(
        e.message()
            .starts_with("default_job_container_kwargs key 'entrypoint' must be a command line")
            && e.message().contains("No closing quotation"),
        "{}",
        e.message()
    );
    let e = refused(json!({"entrypoint": ["/bin/sh", 1]}));
    assert!(
        e.message()
            .contains("'entrypoint[1]' must be a string, got int 1"),
        "{}",
        e.message()
    );
    refused(json!({"entrypoint": 7}));
}

#[test]
fn labels_from_a_mapping_or_a_list() {
    same(
        &config(json!({"labels": {"a": "1", "b": ""}})),
        &json!({"Labels": {"a": "1", "b": ""}}),
    );
    same(
        &config(json!({"labels": ["x", "y", "x"]})),
        &json!({"Labels": {"x": "", "y": ""}}),
    );
    same(&config(json!({"labels": []})), &json!({"Labels": {}}));
    let e = refused(json!({"labels": {"a": 1}}));
    assert!(
        e.message().contains("'labels.a' must be a string, got int 1"),
        "{}",
        e.message()
    );
    refused(json!({"labels": "a=b"}));
    refused(json!({"labels": [1]}));
}

#[test]
fn create_level_scalars() {
    same(
        &config(json!({"hostname": "", "tty": true, "stdin_open": false, "network_disabled": true})),
        &json!({"Hostname": "", "Tty": true, "OpenStdin": false, "NetworkDisabled": true}),
    );
    refused(json!({"tty": 1}));
    refused(json!({"stop_signal": 9}));
    refused(json!({"hostname": ["a"]}));
    let out = tr(json!({"platform": ""})).expect("translates");
    assert_eq!(out.platform, None);
    refused(json!({"platform": 1}));
}

#[test]
fn client_only_keys_are_ignored() {
    let out = tr(json!({"version": "1.41", "use_config_proxy": false})).expect("translates");
    assert_eq!(out, EngineFields::default());
}

#[test]
fn null_means_not_given() {
    let out = tr(json!({"shm_size": null, "labels": null, "entrypoint": null, "network_mode": null}))
        .expect("translates");
    assert_eq!(out, EngineFields::default());
}

#[test]
fn healthcheck_forms() {
    same(
        &config(json!({"healthcheck": {"Test": ["CMD", "true"], "Retries": 2}})),
        &json!({"Healthcheck": {"Test": ["CMD", "true"], "Retries": 2}}),
    );
    // A present snake_case key wins over its PascalCase twin, as in the SDK.
    same(
        &config(json!({"healthcheck": {"Interval": 1, "interval": 2_000_000}})),
        &json!({"Healthcheck": {"Interval": 2_000_000}}),
    );
    same(&config(json!({"healthcheck": {}})), &json!({"Healthcheck": {}}));
    let e = refused(json!({"healthcheck": {"test": "true", "start_peroid": 1}}));
    assert!(
        e.message()
            .contains("'healthcheck.start_peroid' is not a Healthcheck field"),
        "{}",
        e.message()
    );
    assert!(e.hint().is_some_and(|h| h.contains("start_period")));
    refused(json!({"healthcheck": {"interval": "30s"}}));
    refused(json!({"healthcheck": {"test": 1}}));
    refused(json!({"healthcheck": "true"}));
}

#[test]
fn device_requests_are_normalised() {
    same(
        &host(json!({"device_requests": [
            {"Count": 2, "Capabilities": [["gpu"]]},
            {"driver": "nvidia", "device_ids": ["0", "GPU-1"], "capabilities": [["gpu", "utility"]], "options": {"k": "v"}},
            {},
        ]})),
        &json!({"DeviceRequests": [
            {"Driver": "", "Count": 2, "DeviceIDs": [], "Capabilities": [["gpu"]], "Options": {}},
            {"Driver": "nvidia", "Count": 0, "DeviceIDs": ["0", "GPU-1"], "Capabilities": [["gpu", "utility"]], "Options": {"k": "v"}},
            {"Driver": "", "Count": 0, "DeviceIDs": [], "Capabilities": [], "Options": {}},
        ]}),
    );
    same(
        &host(json!({"device_requests": []})),
        &json!({"DeviceRequests": []}),
    );
    // snake_case wins, even when it is null.
    same(
        &host(json!({"device_requests": [{"count": null, "Count": 3}]})),
        &json!({"DeviceRequests": [{"Driver": "", "Count": 0, "DeviceIDs": [], "Capabilities": [], "Options": {}}]}),
    );
    for bad in [
        json!({"device_requests": {"count": 1}}),
        json!({"device_requests": ["gpu"]}),
        json!({"device_requests": [{"count": "1"}]}),
        json!({"device_requests": [{"count": true}]}),
        json!({"device_requests": [{"count": u64::MAX}]}),
        json!({"device_requests": [{"capabilities": ["gpu"]}]}),
        json!({"device_requests": [{"device_ids": "0"}]}),
        json!({"device_requests": [{"options": ["a"]}]}),
        json!({"device_requests": [{"driver": 1}]}),
        json!({"device_requests": [{"gpus": 1}]}),
    ] {
        refused(bad);
    }
}

#[test]
fn devices_strings_and_mappings() {
    same(
        &host(json!({"devices": [
            "/dev/sda",
            "/dev/sda:/dev/xvda",
            "/dev/sda:/dev/xvda:r",
            {"PathOnHost": "/dev/fuse", "pathincontainer": "/dev/fuse", "CgroupPermissions": "rw"},
        ]})),
        &json!({"Devices": [
            {"PathOnHost": "/dev/sda", "PathInContainer": "/dev/sda", "CgroupPermissions": "rwm"},
            {"PathOnHost": "/dev/sda", "PathInContainer": "/dev/xvda", "CgroupPermissions": "rwm"},
            {"PathOnHost": "/dev/sda", "PathInContainer": "/dev/xvda", "CgroupPermissions": "r"},
            {"PathOnHost": "/dev/fuse", "PathInContainer": "/dev/fuse", "CgroupPermissions": "rw"},
        ]}),
    );
    same(&host(json!({"devices": []})), &json!({}));
    refused(json!({"devices": "/dev/sda"}));
    refused(json!({"devices": [1]}));
    refused(json!({"devices": [{"Host": "/dev/sda"}]}));
}

#[test]
fn ulimits_either_case() {
    same(
        &host(
            json!({"ulimits": [{"Name": "memlock", "Soft": -1, "Hard": -1}, {"name": "nproc", "soft": 1024}]}),
        ),
        &json!({"Ulimits": [{"Name": "memlock", "Soft": -1, "Hard": -1}, {"Name": "nproc", "Soft": 1024}]}),
    );
    let e = refused(json!({"ulimits": [{"soft": 1}]}));
    assert!(
        e.message().contains("'ulimits[0].name' must be a string"),
        "{}",
        e.message()
    );
    refused(json!({"ulimits": [{"name": 1}]}));
    refused(json!({"ulimits": [{"name": "nofile", "soft": "1024"}]}));
    refused(json!({"ulimits": [{"name": "nofile", "hard": u64::MAX}]}));
    refused(json!({"ulimits": {"name": "nofile"}}));
    refused(json!({"ulimits": ["nofile=1024:2048"]}));
}

#[test]
fn extra_hosts_mapping_is_sorted_list_kept() {
    same(
        &host(json!({"extra_hosts": {"b": "10.0.0.2", "a-b": "10.0.0.3", "a": "10.0.0.1"}})),
        &json!({"ExtraHosts": ["a:10.0.0.1", "a-b:10.0.0.3", "b:10.0.0.2"]}),
    );
    same(
        &host(json!({"extra_hosts": ["z:1.2.3.4", "host.docker.internal:host-gateway"]})),
        &json!({"ExtraHosts": ["z:1.2.3.4", "host.docker.internal:host-gateway"]}),
    );
    refused(json!({"extra_hosts": "a:1.2.3.4"}));
    refused(json!({"extra_hosts": {"a": 1}}));
}

#[test]
fn restart_policy_and_log_config() {
    same(
        &host(json!({"restart_policy": {"name": "always"}})),
        &json!({"RestartPolicy": {"Name": "always"}}),
    );
    same(&host(json!({"restart_policy": {}})), &json!({}));
    refused(json!({"restart_policy": "always"}));
    refused(json!({"restart_policy": {"Name": "on-failure", "maximum_retry_count": 3}}));
    refused(json!({"restart_policy": {"MaximumRetryCount": "3"}}));

    same(
        &host(json!({"log_config": {"Type": "none"}})),
        &json!({"LogConfig": {"Type": "none", "Config": {}}}),
    );
    same(
        &host(json!({"log_config": {}})),
        &json!({"LogConfig": {"Config": {}}}),
    );
    refused(json!({"log_config": "json-file"}));
    refused(json!({"log_config": {"type": "json-file", "config": ["max-size=1m"]}}));
    refused(json!({"log_config": {"type": "json-file", "config": {"max-file": 3}}}));
    refused(json!({"log_config": {"driver": "json-file"}}));
}

#[test]
fn tmpfs_sysctls_and_storage_opt() {
    same(
        &host(json!({"tmpfs": ["/run:rw,noexec", "/tmp", "/x:a:b"]})),
        &json!({"Tmpfs": {"/run": "rw,noexec", "/tmp": "", "/x": "a:b"}}),
    );
    same(
        &host(json!({"tmpfs": {"/run": "size=1m"}})),
        &json!({"Tmpfs": {"/run": "size=1m"}}),
    );
    same(&host(json!({"tmpfs": []})), &json!({}));
    refused(json!({"tmpfs": "/run"}));
    refused(json!({"tmpfs": [1]}));
    refused(json!({"tmpfs": {"/run": 1}}));

    // The SDK renders sysctl values with str().
    same(
        &host(json!({"sysctls": {"a": "1", "b": 2, "c": true, "d": 1.5, "e": u64::MAX}})),
        &json!({"Sysctls": {"a": "1", "b": "2", "c": "True", "d": "1.5", "e": "18446744073709551615"}}),
    );
    same(&host(json!({"sysctls": {}})), &json!({}));
    refused(json!({"sysctls": ["net.ipv4.ip_forward=1"]}));
    refused(json!({"sysctls": {"a": null}}));
    refused(json!({"sysctls": {"a": [1]}}));

    same(&host(json!({"storage_opt": {}})), &json!({"StorageOpt": {}}));
    refused(json!({"storage_opt": {"size": 20}}));
}

#[test]
fn string_lists() {
    same(
        &host(
            json!({"cap_add": "SYS_ADMIN", "cap_drop": [], "security_opt": [], "dns": [], "dns_search": []}),
        ),
        &json!({"CapAdd": ["SYS_ADMIN"], "SecurityOpt": [], "Dns": []}),
    );
    same(
        &host(json!({"group_add": [1000, "video"]})),
        &json!({"GroupAdd": ["1000", "video"]}),
    );
    same(&host(json!({"group_add": []})), &json!({}));
    same(
        &host(json!({"volumes_from": ["a:ro", "b"]})),
        &json!({"VolumesFrom": ["a:ro", "b"]}),
    );
    same(
        &host(json!({"volumes_from": "a,,b"})),
        &json!({"VolumesFrom": ["a", "", "b"]}),
    );
    let e = refused(json!({"security_opt": "no-new-privileges"}));
    assert!(
        e.message()
            .contains("'security_opt' must be a list of strings, got str"),
        "{}",
        e.message()
    );
    refused(json!({"cap_add": [1]}));
    refused(json!({"dns": "8.8.8.8"}));
    refused(json!({"dns_opt": [true]}));
    refused(json!({"group_add": "video"}));
    refused(json!({"group_add": [1.5]}));
    refused(json!({"device_cgroup_rules": "c 1:3 mr"}));
    refused(json!({"volumes_from": 1}));
}

#[test]
fn links_sorted_with_optional_alias() {
    same(
        &host(json!({"links": {"web": null, "db": "database", "cache": ""}})),
        &json!({"Links": ["cache", "db:database", "web"]}),
    );
    same(
        &host(json!({"links": [["web", "site"], ["db", null]]})),
        &json!({"Links": ["db", "web:site"]}),
    );
    refused(json!({"links": ["db:database"]}));
    refused(json!({"links": [["a", "b", "c"]]}));
    refused(json!({"links": "db"}));
}

#[test]
fn lxc_conf_forms() {
    same(
        &host(json!({"lxc_conf": {"a": 1, "b": "x"}})),
        &json!({"LxcConf": [{"Key": "a", "Value": "1"}, {"Key": "b", "Value": "x"}]}),
    );
    same(
        &host(json!({"lxc_conf": [{"Key": "a", "Value": "1"}]})),
        &json!({"LxcConf": [{"Key": "a", "Value": "1"}]}),
    );
    refused(json!({"lxc_conf": "a=1"}));
    refused(json!({"lxc_conf": {"a": [1]}}));
}

#[test]
fn blkio_devices_and_weights() {
    same(
        &host(json!({"blkio_weight": 0, "blkio_weight_device": [], "device_read_bps": []})),
        &json!({}),
    );
    refused(json!({"blkio_weight": 1001}));
    refused(json!({"blkio_weight": -1}));
    refused(json!({"blkio_weight_device": [{"Path": "/dev/sda", "Weight": 5000}]}));
    refused(json!({"device_read_bps": [{"Path": "/dev/sda", "Rate": -1}]}));
    refused(json!({"device_read_bps": [{"Path": "/dev/sda", "Rate": "1mb"}]}));
    refused(json!({"device_write_iops": [{"Path": "/dev/sda", "Limit": 1}]}));
    refused(json!({"device_write_bps": {"Path": "/dev/sda", "Rate": 1}}));
}

#[test]
fn integers_falsy_skipped_wrong_types_and_overflow_refused() {
    same(
        &host(
            json!({"cpu_shares": 0, "nano_cpus": 0, "pids_limit": 0, "mem_swappiness": 0, "cpu_quota": -1}),
        ),
        &json!({"MemorySwappiness": 0, "CpuQuota": -1}),
    );
    for key in [
        "cpu_count",
        "cpu_percent",
        "cpu_period",
        "cpu_quota",
        "cpu_shares",
        "cpu_rt_period",
        "cpu_rt_runtime",
        "nano_cpus",
        "oom_score_adj",
        "pids_limit",
        "mem_swappiness",
    ] {
        let e = refused(json!({ key: "2" }));
        assert!(
            e.message()
                .contains(&format!("'{key}' must be an integer, got str '2'")),
            "{}",
            e.message()
        );
        refused(json!({ key: true }));
        refused(json!({ key: 1.5 }));
        let e = refused(json!({ key: u64::MAX }));
        assert!(e.message().contains("out of range"), "{}", e.message());
    }
}

#[test]
fn booleans_and_strings() {
    same(
        &host(
            json!({"privileged": false, "oom_kill_disable": false, "publish_all_ports": false, "read_only": false, "init": false}),
        ),
        &json!({"ReadonlyRootfs": false, "Init": false}),
    );
    same(
        &host(json!({"ipc_mode": "", "pid_mode": "", "runtime": "", "cgroup_parent": ""})),
        &json!({"CgroupParent": ""}),
    );
    refused(json!({"privileged": "yes"}));
    refused(json!({"read_only": 1}));
    refused(json!({"ipc_mode": true}));
    refused(json!({"cpuset_mems": 0}));
}

#[test]
fn userns_and_uts_accept_only_host() {
    same(
        &host(json!({"userns_mode": "", "uts_mode": "host"})),
        &json!({"UTSMode": "host"}),
    );
    let e = refused(json!({"userns_mode": "private"}));
    assert!(
        e.message().contains("'userns_mode' must be 'host'"),
        "{}",
        e.message()
    );
    refused(json!({"uts_mode": 1}));
}

#[test]
fn unknown_key_names_it_and_suggests_close_matches() {
    let e = refused(json!({"shm_szie": "8g"}));
    assert_eq!(
        e.message(),
        "default_job_container_kwargs key 'shm_szie' is not a Docker SDK run option"
    );
    assert!(
        e.hint().is_some_and(|h| h.contains("'shm_size'")),
        "{:?}",
        e.hint()
    );
    let hint_for = |key: &str| refused(json!({ key: 1 })).hint().unwrap_or_default().to_string();
    assert!(hint_for("ShmSize").contains("'shm_size'"));
    assert!(hint_for("Memory").contains("'mem_limit'"));
    assert!(hint_for("mem_limt").contains("'mem_limit'"));
    assert!(hint_for("ipcmode").contains("'ipc_mode'"));
    assert!(hint_for("ports").contains("'ports'"));
    assert!(!hint_for("zzzzzzzzzz").contains("did you mean"));
    let e = refused(json!({"a_b_c": 1, "tyy": true}));
    assert!(
        e.message()
            .contains("keys 'a_b_c', 'tyy' are not Docker SDK run options"),
        "{}",
        e.message()
    );
    assert!(e.hint().is_some_and(|h| h.contains("'tty'")));
    // A hostile key is cut in the message.
    let long = "k".repeat(10_000);
    let e = refused(json!({ long: 1 }));
    assert!(e.message().len() < 300);
}

#[test]
fn reserved_keys_are_listed_sorted() {
    let e = refused(json!({"shm_size": "1g", "user": "0:0", "image": "x", "volumes": {}}));
    assert_eq!(
        e.message(),
        "default_job_container_kwargs must not contain reserved keys: ['image', 'user', 'volumes']"
    );
    for key in RESERVED_DOCKER_KWARGS {
        let e = refused(json!({ key: null }));
        assert!(e.message().contains("reserved"), "{key}");
    }
    // Reserved keys are reported before unknown ones.
    assert!(refused(json!({"bogus": 1, "network": "x"}))
        .message()
        .contains("reserved"));
}

#[test]
fn network_mode_and_init_path_are_refused_with_a_reason() {
    let e = refused(json!({"network_mode": "host"}));
    assert!(
        e.message().contains("'network_mode' cannot be used") && e.message().contains("'network'"),
        "{}",
        e.message()
    );
    assert!(e.hint().is_some_and(|h| h.contains("network argument")));
    let e = refused(json!({"init_path": "/usr/bin/tini"}));
    assert!(
        e.message().contains("'init_path' is not supported"),
        "{}",
        e.message()
    );
}

#[test]
fn source_starts_every_message() {
    let e = translate(&kw(json!({"shm_size": []})), "studies.s1.docker_kwargs").expect_err("refused");
    assert!(
        e.message()
            .starts_with("studies.s1.docker_kwargs key 'shm_size' must be"),
        "{}",
        e.message()
    );
}

fn arb_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>().prop_filter_map("finite", |f| serde_json::Number::from_f64(f).map(Value::Number)),
        prop::sample::select(vec![
            "8g", "1.5g", "512m", "-1", "", "host", "a:b:c", "'x", "a b", "1e400k"
        ])
        .prop_map(Value::from),
        "[a-zA-Z0-9 :'\"\\\\._=_-]{0,12}".prop_map(Value::String),
        ".{0,8}".prop_map(Value::String),
    ];
    let nested_keys = prop_oneof![
        prop::sample::select(vec![
            "name",
            "Name",
            "soft",
            "hard",
            "count",
            "Count",
            "capabilities",
            "device_ids",
            "options",
            "driver",
            "test",
            "interval",
            "retries",
            "type",
            "config",
            "Path",
            "Rate",
            "Weight",
            "MaximumRetryCount",
            "PathOnHost",
            "Key",
            "Value",
        ])
        .prop_map(String::from),
        "[a-z_]{0,6}",
    ];
    leaf.prop_recursive(4, 48, 6, move |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..5).prop_map(Value::Array),
            prop::collection::vec((nested_keys.clone(), inner), 0..5)
                .prop_map(|kv| Value::Object(kv.into_iter().collect())),
        ]
    })
}

fn arb_kwargs() -> impl Strategy<Value = Map> {
    let mut keys: Vec<&'static str> = SPECS.iter().map(|s| s.key).collect();
    keys.extend(["user", "ports", "shm_szie"]);
    let key = prop_oneof![
        8 => prop::sample::select(keys).prop_map(String::from),
        1 => ".{0,6}",
    ];
    prop::collection::vec((key, arb_json()), 0..6).prop_map(|kv| kv.into_iter().collect())
}

fn numbers_fit_i64(v: &Value) -> bool {
    match v {
        Value::Number(n) => n.as_i64().is_some(),
        Value::Array(items) => items.iter().all(numbers_fit_i64),
        Value::Object(map) => map.values().all(numbers_fit_i64),
        _ => true,
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn translate_never_panics_and_sends_only_i64_numbers(kwargs in arb_kwargs()) {
        let first = translate(&kwargs, SRC);
        if let Ok(fields) = &first {
            prop_assert!(numbers_fit_i64(&Value::Object(fields.config.clone())));
            prop_assert!(numbers_fit_i64(&Value::Object(fields.host_config.clone())));
        }
        prop_assert_eq!(format!("{first:?}"), format!("{:?}", translate(&kwargs, SRC)));
    }

    #[test]
    fn parse_bytes_never_panics(s in ".{0,12}") {
        let _ = parse_bytes(&Value::String(s), "shm_size", SRC);
    }

    #[test]
    fn shell_split_never_panics(s in "[a-z '\"\\\\\t]{0,16}") {
        let _ = shell_split(&s);
    }
}
