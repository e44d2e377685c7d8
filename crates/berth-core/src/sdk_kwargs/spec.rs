//! The key table: every non-reserved Docker SDK run kwarg, the Engine API field it fills and
//! the rule that translates its value.

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Target {
    Config,
    Host,
}

/// When the SDK puts a given (non-null) value into the body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum When {
    /// `if x is not None`.
    Given,
    /// `if x:` (a falsy value such as `0`, `""`, `false` or `[]` is left out).
    Truthy,
}

/// Value forms copied into one field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Form {
    Str,
    Bool,
    Int,
    /// `parse_bytes`.
    Bytes,
    StrList,
    StrMap,
    /// The Engine API's block-IO weight, 0..=1000.
    BlkioWeight,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Rule {
    Plain(Form, When),
    Entrypoint,
    Healthcheck,
    Labels,
    Platform,
    ClientOnly,
    NetworkMode,
    InitPath,
    Caps,
    Devices,
    DeviceRequests,
    ExtraHosts,
    GroupAdd,
    Links,
    LogConfig,
    LxcConf,
    RestartPolicy,
    Sysctls,
    Tmpfs,
    Ulimits,
    /// `userns_mode` / `uts_mode`: the SDK accepts only `"host"`.
    HostOnly,
    VolumesFrom,
    WeightDevices,
    ThrottleDevices,
}

pub(super) struct Spec {
    pub(super) key: &'static str,
    pub(super) target: Target,
    /// The Engine API field (empty when nothing is emitted).
    pub(super) field: &'static str,
    pub(super) rule: Rule,
}

pub(super) const fn spec(key: &'static str, target: Target, field: &'static str, rule: Rule) -> Spec {
    Spec {
        key,
        target,
        field,
        rule,
    }
}

use Form::*;
use Target::{Config as C, Host as H};
use When::{Given, Truthy};

/// Every non-reserved SDK run kwarg, with the Engine API field it fills.
pub(super) const SPECS: &[Spec] = &[
    // create level
    spec("domainname", C, "Domainname", Rule::Plain(Str, Given)),
    spec("entrypoint", C, "Entrypoint", Rule::Entrypoint),
    spec("healthcheck", C, "Healthcheck", Rule::Healthcheck),
    spec("hostname", C, "Hostname", Rule::Plain(Str, Given)),
    spec("labels", C, "Labels", Rule::Labels),
    spec("mac_address", C, "MacAddress", Rule::Plain(Str, Given)),
    spec("network_disabled", C, "NetworkDisabled", Rule::Plain(Bool, Given)),
    spec("platform", C, "", Rule::Platform),
    spec("stdin_open", C, "OpenStdin", Rule::Plain(Bool, Given)),
    spec("stop_signal", C, "StopSignal", Rule::Plain(Str, Given)),
    spec("tty", C, "Tty", Rule::Plain(Bool, Given)),
    spec("use_config_proxy", C, "", Rule::ClientOnly),
    // host config
    spec("blkio_weight_device", H, "BlkioWeightDevice", Rule::WeightDevices),
    spec("blkio_weight", H, "BlkioWeight", Rule::Plain(BlkioWeight, Truthy)),
    spec("cap_add", H, "CapAdd", Rule::Caps),
    spec("cap_drop", H, "CapDrop", Rule::Caps),
    spec("cgroup_parent", H, "CgroupParent", Rule::Plain(Str, Given)),
    spec("cgroupns", H, "CgroupnsMode", Rule::Plain(Str, Truthy)),
    spec("cpu_count", H, "CpuCount", Rule::Plain(Int, Truthy)),
    spec("cpu_percent", H, "CpuPercent", Rule::Plain(Int, Truthy)),
    spec("cpu_period", H, "CpuPeriod", Rule::Plain(Int, Truthy)),
    spec("cpu_quota", H, "CpuQuota", Rule::Plain(Int, Truthy)),
    spec("cpu_shares", H, "CpuShares", Rule::Plain(Int, Truthy)),
    spec("cpuset_cpus", H, "CpusetCpus", Rule::Plain(Str, Truthy)),
    spec("cpuset_mems", H, "CpusetMems", Rule::Plain(Str, Truthy)),
    spec("cpu_rt_period", H, "CpuRealtimePeriod", Rule::Plain(Int, Truthy)),
    spec(
        "cpu_rt_runtime",
        H,
        "CpuRealtimeRuntime",
        Rule::Plain(Int, Truthy),
    ),
    spec(
        "device_cgroup_rules",
        H,
        "DeviceCgroupRules",
        Rule::Plain(StrList, Given),
    ),
    spec("device_read_bps", H, "BlkioDeviceReadBps", Rule::ThrottleDevices),
    spec(
        "device_read_iops",
        H,
        "BlkioDeviceReadIOps",
        Rule::ThrottleDevices,
    ),
    spec(
        "device_write_bps",
        H,
        "BlkioDeviceWriteBps",
        Rule::ThrottleDevices,
    ),
    spec(
        "device_write_iops",
        H,
        "BlkioDeviceWriteIOps",
        Rule::ThrottleDevices,
    ),
    spec("devices", H, "Devices", Rule::Devices),
    spec("device_requests", H, "DeviceRequests", Rule::DeviceRequests),
    spec("dns_opt", H, "DnsOptions", Rule::Plain(StrList, Given)),
    spec("dns_search", H, "DnsSearch", Rule::Plain(StrList, Truthy)),
    spec("dns", H, "Dns", Rule::Plain(StrList, Given)),
    spec("extra_hosts", H, "ExtraHosts", Rule::ExtraHosts),
    spec("group_add", H, "GroupAdd", Rule::GroupAdd),
    spec("init", H, "Init", Rule::Plain(Bool, Given)),
    spec("init_path", H, "InitPath", Rule::InitPath),
    spec("ipc_mode", H, "IpcMode", Rule::Plain(Str, Truthy)),
    spec("isolation", H, "Isolation", Rule::Plain(Str, Truthy)),
    spec("kernel_memory", H, "KernelMemory", Rule::Plain(Bytes, Truthy)),
    spec("links", H, "Links", Rule::Links),
    spec("log_config", H, "LogConfig", Rule::LogConfig),
    spec("lxc_conf", H, "LxcConf", Rule::LxcConf),
    spec("mem_limit", H, "Memory", Rule::Plain(Bytes, Given)),
    spec(
        "mem_reservation",
        H,
        "MemoryReservation",
        Rule::Plain(Bytes, Truthy),
    ),
    spec("mem_swappiness", H, "MemorySwappiness", Rule::Plain(Int, Given)),
    spec("memswap_limit", H, "MemorySwap", Rule::Plain(Bytes, Given)),
    spec("nano_cpus", H, "NanoCpus", Rule::Plain(Int, Truthy)),
    spec("network_mode", H, "NetworkMode", Rule::NetworkMode),
    spec("oom_kill_disable", H, "OomKillDisable", Rule::Plain(Bool, Truthy)),
    spec("oom_score_adj", H, "OomScoreAdj", Rule::Plain(Int, Truthy)),
    spec("pid_mode", H, "PidMode", Rule::Plain(Str, Truthy)),
    spec("pids_limit", H, "PidsLimit", Rule::Plain(Int, Truthy)),
    spec("privileged", H, "Privileged", Rule::Plain(Bool, Truthy)),
    spec(
        "publish_all_ports",
        H,
        "PublishAllPorts",
        Rule::Plain(Bool, Truthy),
    ),
    spec("read_only", H, "ReadonlyRootfs", Rule::Plain(Bool, Given)),
    spec("restart_policy", H, "RestartPolicy", Rule::RestartPolicy),
    spec("security_opt", H, "SecurityOpt", Rule::Plain(StrList, Given)),
    spec("shm_size", H, "ShmSize", Rule::Plain(Bytes, Given)),
    spec("storage_opt", H, "StorageOpt", Rule::Plain(StrMap, Given)),
    spec("sysctls", H, "Sysctls", Rule::Sysctls),
    spec("tmpfs", H, "Tmpfs", Rule::Tmpfs),
    spec("ulimits", H, "Ulimits", Rule::Ulimits),
    spec("userns_mode", H, "UsernsMode", Rule::HostOnly),
    spec("uts_mode", H, "UTSMode", Rule::HostOnly),
    spec("version", H, "", Rule::ClientOnly),
    spec("volume_driver", H, "VolumeDriver", Rule::Plain(Str, Given)),
    spec("volumes_from", H, "VolumesFrom", Rule::VolumesFrom),
    spec("runtime", H, "Runtime", Rule::Plain(Str, Truthy)),
];

pub(super) fn spec_for(key: &str) -> Option<&'static Spec> {
    SPECS.iter().find(|s| s.key == key)
}
