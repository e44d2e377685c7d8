//! Site and study container options in the Python Docker SDK's names and value forms
//! (`shm_size: "8g"`, `mem_limit`, `ulimits`, ...), translated into Docker Engine API
//! container-create fields exactly as docker-py 7.x does (DESIGN decision 11).
//!
//! CONTRACT (translation implemented by the sdk-kwargs work):
//! - `pub struct EngineFields { pub config: Map, pub host_config: Map, pub platform: Option<String> }`
//! - `pub fn translate(kwargs: &Map, source: &str) -> Result<EngineFields>`
//! - `pub fn parse_bytes(v: &Value, field: &str, source: &str) -> Result<i64>`

/// Keys the launcher controls; neither a site nor a study may set them.
pub const RESERVED_DOCKER_KWARGS: [&str; 11] = [
    "volumes",
    "mounts",
    "network",
    "environment",
    "command",
    "name",
    "detach",
    "auto_remove",
    "user",
    "working_dir",
    "image",
];

/// docker-py 7.x `containers.run` create-level kwargs.
pub const SDK_CREATE_KWARGS: &[&str] = &[
    "command",
    "detach",
    "domainname",
    "entrypoint",
    "environment",
    "healthcheck",
    "hostname",
    "image",
    "labels",
    "mac_address",
    "name",
    "network_disabled",
    "platform",
    "stdin_open",
    "stop_signal",
    "tty",
    "use_config_proxy",
    "user",
    "working_dir",
];

/// docker-py 7.x `containers.run` host-config kwargs.
pub const SDK_HOST_CONFIG_KWARGS: &[&str] = &[
    "auto_remove",
    "blkio_weight_device",
    "blkio_weight",
    "cap_add",
    "cap_drop",
    "cgroup_parent",
    "cgroupns",
    "cpu_count",
    "cpu_percent",
    "cpu_period",
    "cpu_quota",
    "cpu_shares",
    "cpuset_cpus",
    "cpuset_mems",
    "cpu_rt_period",
    "cpu_rt_runtime",
    "device_cgroup_rules",
    "device_read_bps",
    "device_read_iops",
    "device_write_bps",
    "device_write_iops",
    "devices",
    "device_requests",
    "dns_opt",
    "dns_search",
    "dns",
    "extra_hosts",
    "group_add",
    "init",
    "init_path",
    "ipc_mode",
    "isolation",
    "kernel_memory",
    "links",
    "log_config",
    "lxc_conf",
    "mem_limit",
    "mem_reservation",
    "mem_swappiness",
    "memswap_limit",
    "mounts",
    "nano_cpus",
    "network_mode",
    "oom_kill_disable",
    "oom_score_adj",
    "pid_mode",
    "pids_limit",
    "privileged",
    "publish_all_ports",
    "read_only",
    "restart_policy",
    "security_opt",
    "shm_size",
    "storage_opt",
    "sysctls",
    "tmpfs",
    "ulimits",
    "userns_mode",
    "uts_mode",
    "version",
    "volume_driver",
    "volumes_from",
    "runtime",
];

/// Whether the Docker SDK's `containers.run` knows this keyword.
pub fn is_known_run_kwarg(key: &str) -> bool {
    SDK_CREATE_KWARGS.contains(&key) || SDK_HOST_CONFIG_KWARGS.contains(&key)
}

/// Whether the launcher owns this keyword.
pub fn is_reserved_kwarg(key: &str) -> bool {
    RESERVED_DOCKER_KWARGS.contains(&key)
}
