//! Site and study container options in the Python Docker SDK's names and value forms
//! (`shm_size: "8g"`, `mem_limit`, `ulimits`, ...), translated into Docker Engine API
//! container-create fields exactly as docker-py 7.x does (DESIGN decision 11).
//!
//! CONTRACT:
//! - `pub struct EngineFields { pub config: Map, pub host_config: Map, pub platform: Option<String> }`
//! - `pub fn translate(kwargs: &Map, source: &str) -> Result<EngineFields>`
//! - `pub fn parse_bytes(v: &Value, field: &str, source: &str) -> Result<i64>`
//!
//! Where docker-py would send a value the engine then rejects (a float byte count, a
//! boolean where an integer goes, an integer beyond i64, a mapping key the engine
//! ignores), berth refuses it here with an error naming the source and the key. A field
//! the SDK would send as `null` inside a structured value (`Ulimit.Soft`, `Healthcheck.Test`)
//! is left out instead; the engine reads both as unset.

mod errors;
mod shell;
mod size;
mod spec;
#[cfg(test)]
mod tests;
mod translators;

pub use shell::shell_split;
pub use size::parse_bytes;

use crate::error::{Error, Result};
use crate::pyval::Map;
use errors::{init_path_error, network_mode_error, unknown_keys_error, Field};
use spec::{spec_for, Rule, Target};
use translators::*;

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

/// The keys of `kwargs` that the Docker SDK's `containers.run` does not know (reserved keys
/// are known), in input order.
pub fn unknown_keys(kwargs: &Map) -> Vec<&str> {
    kwargs
        .keys()
        .map(String::as_str)
        .filter(|k| !is_known_run_kwarg(k))
        .collect()
}

/// The launcher-owned keys among `keys`, sorted (as upstream lists them in its errors).
pub fn reserved_keys<'a>(keys: impl IntoIterator<Item = &'a str>) -> Vec<&'a str> {
    let mut reserved: Vec<&str> = keys.into_iter().filter(|k| is_reserved_kwarg(k)).collect();
    reserved.sort_unstable();
    reserved
}

/// Refuses launcher-owned keys in site-level container options (`source` names them, e.g.
/// `default_job_container_kwargs`): Invalid "<source> must not contain reserved keys:
/// ['a', 'b']" (sorted, as upstream words it), with the whole reserved list as the hint.
/// Study files word the same rule their own way, as upstream does (see `study::v2`); both
/// take the keys from [`reserved_keys`].
pub fn refuse_reserved(kwargs: &Map, source: &str) -> Result<()> {
    let reserved = reserved_keys(kwargs.keys().map(String::as_str));
    if reserved.is_empty() {
        return Ok(());
    }
    let listed: Vec<String> = reserved.iter().map(|k| format!("'{k}'")).collect();
    Err(Error::invalid(format!(
        "{source} must not contain reserved keys: [{}]",
        listed.join(", ")
    ))
    .with_hint(format!(
        "the launcher sets these itself; remove them (reserved: {})",
        RESERVED_DOCKER_KWARGS.join(", ")
    )))
}

/// Engine API container-create fields produced from Docker SDK `containers.run` kwargs.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct EngineFields {
    /// Top-level create-body fields (`Entrypoint`, `Labels`, `Hostname`, `Tty`, ...).
    pub config: Map,
    /// `HostConfig` fields (`ShmSize`, `Memory`, `DeviceRequests`, `Ulimits`, ...).
    pub host_config: Map,
    /// The `platform` query parameter of `POST /containers/create`.
    pub platform: Option<String>,
}

/// Translates Docker SDK `containers.run` kwargs into Engine API create fields, as docker-py
/// 7.x does, refusing what the SDK or the engine would refuse later.
///
/// `source` names where the kwargs came from (`default_job_container_kwargs`,
/// `studies.<s>.docker_kwargs`, ...) and starts every error message. A `null` value means
/// "not given", as `None` does for the SDK. Fields appear in the order of the input keys.
///
/// Does not merge layers, and does not check API-version requirements the SDK checks
/// against the connected engine (`device_requests` needs 1.40, `platform` 1.41).
pub fn translate(kwargs: &Map, source: &str) -> Result<EngineFields> {
    refuse_reserved(kwargs, source)?;
    let unknown = unknown_keys(kwargs);
    if !unknown.is_empty() {
        return Err(unknown_keys_error(&unknown, source));
    }

    let mut out = EngineFields::default();
    for (key, value) in kwargs {
        if value.is_null() {
            continue;
        }
        let Some(spec) = spec_for(key) else {
            return Err(unknown_keys_error(&[key.as_str()], source));
        };
        let f = Field::new(source, key);
        let emitted = match spec.rule {
            Rule::Plain(form, when) => plain(&f, value, form, when)?,
            Rule::Entrypoint => Some(entrypoint(&f, value)?),
            Rule::Healthcheck => Some(healthcheck(&f, value)?),
            Rule::Labels => Some(labels(&f, value)?),
            Rule::Platform => {
                let p = want_str(&f, value)?;
                if !p.is_empty() {
                    out.platform = Some(p.to_string());
                }
                None
            }
            // `version` is overwritten by the SDK with the client's API version, and
            // `use_config_proxy` only injects the SDK user's proxy settings into the env;
            // neither reaches the create body.
            Rule::ClientOnly => None,
            Rule::NetworkMode => return Err(network_mode_error(source)),
            Rule::InitPath => return Err(init_path_error(source)),
            Rule::Caps => caps(&f, value)?,
            Rule::Devices => devices(&f, value)?,
            Rule::DeviceRequests => Some(device_requests(&f, value)?),
            Rule::ExtraHosts => Some(extra_hosts(&f, value)?),
            Rule::GroupAdd => group_add(&f, value)?,
            Rule::Links => Some(links(&f, value)?),
            Rule::LogConfig => Some(log_config(&f, value)?),
            Rule::LxcConf => Some(lxc_conf(&f, value)?),
            Rule::RestartPolicy => restart_policy(&f, value)?,
            Rule::Sysctls => sysctls(&f, value)?,
            Rule::Tmpfs => tmpfs(&f, value)?,
            Rule::Ulimits => Some(ulimits(&f, value)?),
            Rule::HostOnly => host_only(&f, value)?,
            Rule::VolumesFrom => Some(volumes_from(&f, value)?),
            Rule::WeightDevices => weight_devices(&f, value)?,
            Rule::ThrottleDevices => throttle_devices(&f, value)?,
        };
        if let Some(v) = emitted {
            let target = match spec.target {
                Target::Config => &mut out.config,
                Target::Host => &mut out.host_config,
            };
            target.insert(spec.field.to_string(), v);
        }
    }
    Ok(out)
}
