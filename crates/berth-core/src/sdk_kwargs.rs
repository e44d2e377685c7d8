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

use crate::error::{Error, Result};
use crate::pyval::{self, Map};
use serde_json::{json, Value};

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
    let mut reserved: Vec<&str> = kwargs
        .keys()
        .map(String::as_str)
        .filter(|k| is_reserved_kwarg(k))
        .collect();
    if !reserved.is_empty() {
        reserved.sort_unstable();
        let listed: Vec<String> = reserved.iter().map(|k| format!("'{k}'")).collect();
        return Err(Error::invalid(format!(
            "{source} must not contain reserved keys: [{}]",
            listed.join(", ")
        ))
        .with_hint(format!(
            "the launcher sets these itself; remove them (reserved: {})",
            RESERVED_DOCKER_KWARGS.join(", ")
        )));
    }
    let unknown: Vec<&str> = kwargs
        .keys()
        .map(String::as_str)
        .filter(|k| !is_known_run_kwarg(k))
        .collect();
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

/// docker-py's `parse_bytes`: an integer is taken as is; a string is a decimal number
/// (Python `float` syntax) with an optional unit `b`, `k`, `m` or `g` (any case, powers of
/// 1024, an extra trailing `b` allowed: `"8gb"`), truncated toward zero; `""` is 0.
/// `field` and `source` name the value in errors. Floats, booleans and results outside
/// i64 are refused (the SDK would send them and the engine would reject them).
pub fn parse_bytes(v: &Value, field: &str, source: &str) -> Result<i64> {
    let f = Field::new(source, field);
    match v {
        Value::Number(n) if !n.is_f64() => n.as_i64().ok_or_else(|| f.out_of_range(v)),
        Value::String(s) => size_from_str(s).map_err(|why| {
            let detail = match why {
                SizeError::Number => "its number part is not a decimal number",
                SizeError::Unit => "the unit must be one of b, k, m, g (an extra trailing b is allowed)",
                SizeError::Range => "the size does not fit a signed 64-bit integer",
            };
            Error::invalid(format!(
                "{} key '{}' must be {SIZE_FORM}, got {}: {detail}",
                f.source,
                f.key,
                pyval::repr(v)
            ))
        }),
        _ => Err(f.type_error(SIZE_FORM, v)),
    }
}

const SIZE_FORM: &str = "a number of bytes or a size string such as '512m' or '8g'";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SizeError {
    Number,
    Unit,
    Range,
}

fn size_from_str(s: &str) -> Result<i64, SizeError> {
    let mut chars: Vec<char> = s.chars().collect();
    let Some(&last) = chars.last() else {
        return Ok(0);
    };
    // "8gb" / "8GB": a b after another letter is dropped.
    if chars.len() >= 2 && chars[chars.len() - 2].is_alphabetic() && matches!(last, 'b' | 'B') {
        chars.pop();
    }
    let Some(&suffix) = chars.last() else {
        return Err(SizeError::Number);
    };
    let (number, unit): (String, f64) = if suffix.is_ascii_digit() {
        (chars.iter().collect(), 1.0)
    } else {
        let unit = match suffix.to_lowercase().collect::<String>().as_str() {
            "b" => 1.0,
            "k" => 1024.0,
            "m" => 1024.0 * 1024.0,
            "g" => 1024.0 * 1024.0 * 1024.0,
            _ => return Err(SizeError::Unit),
        };
        (chars[..chars.len() - 1].iter().collect(), unit)
    };
    let x = python_float(&number).ok_or(SizeError::Number)?;
    let bytes = (x * unit).trunc();
    if bytes.is_nan() {
        return Err(SizeError::Number);
    }
    // -2^63 ..= 2^63 - 1; the upper bound is exclusive as a float.
    if !(-9_223_372_036_854_775_808.0..9_223_372_036_854_775_808.0).contains(&bytes) {
        return Err(SizeError::Range);
    }
    Ok(bytes as i64)
}

/// Python's `float(str)`: surrounding whitespace allowed, `_` only between digits.
fn python_float(s: &str) -> Option<f64> {
    let trimmed: Vec<char> = s.trim().chars().collect();
    for (i, &c) in trimmed.iter().enumerate() {
        if c == '_' {
            let before = i > 0 && trimmed[i - 1].is_ascii_digit();
            let after = trimmed.get(i + 1).is_some_and(|c| c.is_ascii_digit());
            if !(before && after) {
                return None;
            }
        }
    }
    let cleaned: String = trimmed.into_iter().filter(|&c| c != '_').collect();
    cleaned.parse::<f64>().ok()
}

/// Splits a command line as Python's `shlex.split` does (POSIX mode, no comments): blanks
/// separate words, `'...'` is literal, `"..."` lets `\` escape only `"` and `\`, a `\`
/// outside quotes escapes any character, and adjacent quoted parts join one word.
pub fn shell_split(s: &str) -> std::result::Result<Vec<String>, &'static str> {
    #[derive(Clone, Copy, PartialEq)]
    enum State {
        Between,
        Word,
        Single,
        Double,
        Escape { in_double: bool },
    }
    let mut words = Vec::new();
    let mut word = String::new();
    let mut quoted = false;
    let mut state = State::Between;
    for c in s.chars() {
        state = match state {
            State::Between | State::Word => match c {
                ' ' | '\t' | '\r' | '\n' => {
                    if !word.is_empty() || quoted {
                        words.push(std::mem::take(&mut word));
                        quoted = false;
                    }
                    State::Between
                }
                '\\' => State::Escape { in_double: false },
                '\'' => {
                    quoted = true;
                    State::Single
                }
                '"' => {
                    quoted = true;
                    State::Double
                }
                _ => {
                    word.push(c);
                    State::Word
                }
            },
            State::Single => {
                if c == '\'' {
                    State::Word
                } else {
                    word.push(c);
                    State::Single
                }
            }
            State::Double => match c {
                '"' => State::Word,
                '\\' => State::Escape { in_double: true },
                _ => {
                    word.push(c);
                    State::Double
                }
            },
            State::Escape { in_double } => {
                if in_double && c != '"' && c != '\\' {
                    word.push('\\');
                }
                word.push(c);
                if in_double {
                    State::Double
                } else {
                    State::Word
                }
            }
        };
    }
    match state {
        State::Single | State::Double => Err("No closing quotation"),
        State::Escape { .. } => Err("No escaped character"),
        State::Between | State::Word => {
            if !word.is_empty() || quoted {
                words.push(word);
            }
            Ok(words)
        }
    }
}

// ---------------------------------------------------------------------------------------
// The key table

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Target {
    Config,
    Host,
}

/// When the SDK puts a given (non-null) value into the body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum When {
    /// `if x is not None`.
    Given,
    /// `if x:` (a falsy value such as `0`, `""`, `false` or `[]` is left out).
    Truthy,
}

/// Value forms copied into one field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Form {
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
enum Rule {
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

struct Spec {
    key: &'static str,
    target: Target,
    /// The Engine API field (empty when nothing is emitted).
    field: &'static str,
    rule: Rule,
}

const fn spec(key: &'static str, target: Target, field: &'static str, rule: Rule) -> Spec {
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
const SPECS: &[Spec] = &[
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

fn spec_for(key: &str) -> Option<&'static Spec> {
    SPECS.iter().find(|s| s.key == key)
}

// ---------------------------------------------------------------------------------------
// Errors

/// A value's place in the input, for error messages (`shm_size`, `ulimits[0].soft`).
struct Field<'a> {
    source: &'a str,
    key: String,
}

impl<'a> Field<'a> {
    fn new(source: &'a str, key: &str) -> Self {
        Self {
            source,
            key: pyval::shorten(key, 80),
        }
    }

    fn at(&self, index: usize) -> Field<'a> {
        Field {
            source: self.source,
            key: format!("{}[{index}]", self.key),
        }
    }

    fn dot(&self, name: &str) -> Field<'a> {
        Field {
            source: self.source,
            key: format!("{}.{}", self.key, pyval::shorten(name, 80)),
        }
    }

    fn type_error(&self, expected: &str, got: &Value) -> Error {
        Error::invalid(format!(
            "{} key '{}' must be {expected}, got {} {}",
            self.source,
            self.key,
            pyval::type_name(got),
            pyval::repr(got)
        ))
    }

    fn value_error(&self, detail: impl std::fmt::Display) -> Error {
        Error::invalid(format!("{} key '{}' {detail}", self.source, self.key))
    }

    fn out_of_range(&self, got: &Value) -> Error {
        self.value_error(format_args!(
            "is out of range: {} does not fit a signed 64-bit integer (the Docker Engine API's integer width)",
            pyval::repr(got)
        ))
    }
}

fn unknown_keys_error(keys: &[&str], source: &str) -> Error {
    let quoted: Vec<String> = keys
        .iter()
        .map(|k| format!("'{}'", pyval::shorten(k, 80)))
        .collect();
    let message = match quoted.as_slice() {
        [one] => format!("{source} key {one} is not a Docker SDK run option"),
        many => format!("{source} keys {} are not Docker SDK run options", many.join(", ")),
    };
    let mut hints = Vec::new();
    for key in keys {
        let close = close_matches(key);
        if *key == "ports" {
            hints.push(
                "'ports' is not among the Docker SDK's create or host-config options, so berth does not \
                 accept it; job containers reach the site over the site network"
                    .to_string(),
            );
        } else if !close.is_empty() {
            let names: Vec<String> = close.iter().map(|c| format!("'{c}'")).collect();
            hints.push(format!(
                "for '{}' did you mean {}?",
                pyval::shorten(key, 80),
                names.join(" or ")
            ));
        }
    }
    if hints.is_empty() {
        hints.push(
            "use the keyword names of the Docker SDK's containers.run (docker-py 7.x), e.g. shm_size, \
             mem_limit, ipc_mode, ulimits"
                .to_string(),
        );
    }
    Error::invalid(message).with_hint(hints.join("; "))
}

/// Known, non-reserved keys close to `key`: same letters ignoring case and `_`, the
/// Engine API name of the key (`ShmSize`, `Memory`), or a small edit distance.
fn close_matches(key: &str) -> Vec<&'static str> {
    let squash = |s: &str| -> String {
        s.chars()
            .filter(|c| *c != '_' && *c != '-')
            .flat_map(char::to_lowercase)
            .collect()
    };
    let wanted = squash(key);
    let lower = key.to_lowercase();
    let budget = (key.chars().count() / 4).clamp(1, 3);
    let mut scored: Vec<(usize, &'static str)> = Vec::new();
    for s in SPECS {
        if s.rule == Rule::ClientOnly || s.rule == Rule::NetworkMode || s.rule == Rule::InitPath {
            continue;
        }
        let d = if squash(s.key) == wanted || (!s.field.is_empty() && squash(s.field) == wanted) {
            0
        } else {
            edit_distance(&lower, s.key)
        };
        if d <= budget {
            scored.push((d, s.key));
        }
    }
    scored.sort_by_key(|(d, _)| *d);
    scored.into_iter().take(3).map(|(_, k)| k).collect()
}

/// Optimal string alignment distance (Levenshtein plus adjacent transpositions). Long
/// inputs are cut first, so a hostile key cannot make this slow.
fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().take(64).collect();
    let b: Vec<char> = b.chars().take(64).collect();
    let width = b.len() + 1;
    let mut d = vec![0usize; (a.len() + 1) * width];
    for i in 0..=a.len() {
        for j in 0..=b.len() {
            d[i * width + j] = if i == 0 {
                j
            } else if j == 0 {
                i
            } else {
                let cost = usize::from(a[i - 1] != b[j - 1]);
                let mut best = (d[(i - 1) * width + j] + 1)
                    .min(d[i * width + j - 1] + 1)
                    .min(d[(i - 1) * width + j - 1] + cost);
                if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                    best = best.min(d[(i - 2) * width + j - 2] + 1);
                }
                best
            };
        }
    }
    d[a.len() * width + b.len()]
}

fn network_mode_error(source: &str) -> Error {
    Error::invalid(format!(
        "{source} key 'network_mode' cannot be used: the launcher always attaches the job container \
         to the site network set by its 'network' argument, and the Docker SDK refuses 'network' \
         together with 'network_mode'"
    ))
    .with_hint("remove network_mode; choose the job network with the launcher's network argument")
}

fn init_path_error(source: &str) -> Error {
    Error::invalid(format!(
        "{source} key 'init_path' is not supported: the Docker SDK refuses it for Engine API 1.29 and \
         later, which every supported engine speaks"
    ))
    .with_hint("remove init_path; use init: true for the engine's default init")
}

// ---------------------------------------------------------------------------------------
// Value forms

fn want_str<'v>(f: &Field, v: &'v Value) -> Result<&'v str> {
    v.as_str().ok_or_else(|| f.type_error("a string", v))
}

fn want_bool(f: &Field, v: &Value) -> Result<bool> {
    v.as_bool().ok_or_else(|| f.type_error("true or false", v))
}

/// An integer that fits i64; booleans and floats are refused.
fn want_int(f: &Field, v: &Value) -> Result<i64> {
    match v {
        Value::Number(n) if !n.is_f64() => n.as_i64().ok_or_else(|| f.out_of_range(v)),
        _ => Err(f.type_error("an integer", v)),
    }
}

fn want_int_in(f: &Field, v: &Value, lo: i64, hi: i64) -> Result<i64> {
    let n = want_int(f, v)?;
    if (lo..=hi).contains(&n) {
        Ok(n)
    } else {
        Err(f.value_error(format_args!("must be between {lo} and {hi}, got {n}")))
    }
}

fn want_list<'v>(f: &Field, v: &'v Value, expected: &str) -> Result<&'v Vec<Value>> {
    v.as_array().ok_or_else(|| f.type_error(expected, v))
}

fn want_map<'v>(f: &Field, v: &'v Value, expected: &str) -> Result<&'v Map> {
    v.as_object().ok_or_else(|| f.type_error(expected, v))
}

fn str_list(f: &Field, v: &Value) -> Result<Vec<Value>> {
    let items = want_list(f, v, "a list of strings")?;
    items
        .iter()
        .enumerate()
        .map(|(i, item)| want_str(&f.at(i), item).map(|s| Value::String(s.to_string())))
        .collect()
}

fn str_map(f: &Field, v: &Value) -> Result<Map> {
    let map = want_map(f, v, "a mapping of strings to strings")?;
    let mut out = Map::new();
    for (k, item) in map {
        let s = want_str(&f.dot(k), item)?;
        out.insert(k.clone(), Value::String(s.to_string()));
    }
    Ok(out)
}

fn plain(f: &Field, v: &Value, form: Form, when: When) -> Result<Option<Value>> {
    let out = match form {
        Str => Value::String(want_str(f, v)?.to_string()),
        Bool => Value::Bool(want_bool(f, v)?),
        Int => Value::from(want_int(f, v)?),
        Bytes => Value::from(parse_bytes(v, &f.key, f.source)?),
        StrList => Value::Array(str_list(f, v)?),
        StrMap => Value::Object(str_map(f, v)?),
        BlkioWeight => Value::from(want_int_in(f, v, 0, 1000)?),
    };
    // The SDK tests the value it was given, before any conversion ("0" is truthy).
    Ok(match when {
        When::Given => Some(out),
        When::Truthy => pyval::is_truthy(v).then_some(out),
    })
}

/// Reads an object of one of the SDK's helper types (`Ulimit`, `DeviceRequest`, ...),
/// whose fields may be spelled snake_case or PascalCase; like the SDK, a present snake_case
/// key wins. Any other key is refused: the SDK would drop it silently.
fn sdk_object<'v>(
    f: &Field,
    v: &'v Value,
    type_name: &str,
    names: &[(&str, &str)],
) -> Result<Vec<Option<&'v Value>>> {
    let obj = want_map(f, v, &format!("a mapping ({type_name} fields)"))?;
    for k in obj.keys() {
        if !names.iter().any(|(snake, pascal)| k == snake || k == pascal) {
            let accepted: Vec<&str> = names.iter().map(|(snake, _)| *snake).collect();
            return Err(f
                .dot(k)
                .value_error(format_args!("is not a {type_name} field"))
                .with_hint(format!("accepted: {}", accepted.join(", "))));
        }
    }
    Ok(names
        .iter()
        .map(|(snake, pascal)| match obj.get(*snake) {
            Some(v) => Some(v),
            None => obj.get(*pascal),
        })
        .map(|v| v.filter(|v| !v.is_null()))
        .collect())
}

/// Reads an object the SDK passes to the engine unchanged; the engine matches its field
/// names ignoring case (the last spelling wins), so berth does too, and refuses other keys.
fn engine_object<'v>(f: &Field, v: &'v Value, names: &[&str]) -> Result<Vec<Option<&'v Value>>> {
    let obj = want_map(f, v, &format!("a mapping with keys {}", names.join(", ")))?;
    let mut found = vec![None; names.len()];
    for (k, item) in obj {
        let Some(i) = names.iter().position(|n| n.eq_ignore_ascii_case(k)) else {
            return Err(f
                .dot(k)
                .value_error("is not a field the Docker Engine reads here")
                .with_hint(format!("accepted: {}", names.join(", "))));
        };
        found[i] = Some(item).filter(|v| !v.is_null());
    }
    Ok(found)
}

fn entrypoint(f: &Field, v: &Value) -> Result<Value> {
    match v {
        Value::String(s) => match shell_split(s) {
            Ok(words) => Ok(Value::from(words)),
            Err(why) => Err(f.value_error(format_args!(
                "must be a command line a POSIX shell could split, got {}: {why}",
                pyval::repr(v)
            ))),
        },
        Value::Array(_) => Ok(Value::Array(str_list(f, v)?)),
        _ => Err(f.type_error("a string or a list of strings", v)),
    }
}

fn healthcheck(f: &Field, v: &Value) -> Result<Value> {
    let names = [
        ("test", "Test"),
        ("interval", "Interval"),
        ("timeout", "Timeout"),
        ("retries", "Retries"),
        ("start_period", "StartPeriod"),
    ];
    let fields = sdk_object(f, v, "Healthcheck", &names)?;
    let mut out = Map::new();
    for ((snake, pascal), value) in names.iter().zip(fields) {
        let Some(value) = value else { continue };
        let ff = f.dot(snake);
        let emitted = match *snake {
            "test" => match value {
                // A string test runs in the image's shell.
                Value::String(s) => Value::from(vec!["CMD-SHELL".to_string(), s.clone()]),
                Value::Array(_) => Value::Array(str_list(&ff, value)?),
                _ => return Err(ff.type_error("a string or a list of strings", value)),
            },
            "retries" => Value::from(want_int(&ff, value)?),
            _ => {
                let nanos = want_int(&ff, value).map_err(|e| e.with_hint("durations are in nanoseconds"))?;
                Value::from(nanos)
            }
        };
        out.insert(pascal.to_string(), emitted);
    }
    Ok(Value::Object(out))
}

fn labels(f: &Field, v: &Value) -> Result<Value> {
    match v {
        Value::Object(_) => Ok(Value::Object(str_map(f, v)?)),
        // A list names labels with empty values.
        Value::Array(items) => {
            let mut out = Map::new();
            for (i, item) in items.iter().enumerate() {
                out.insert(
                    want_str(&f.at(i), item)?.to_string(),
                    Value::String(String::new()),
                );
            }
            Ok(Value::Object(out))
        }
        _ => Err(f.type_error("a mapping of strings to strings or a list of strings", v)),
    }
}

fn caps(f: &Field, v: &Value) -> Result<Option<Value>> {
    // The engine also reads a single string as a one-item list.
    let list = match v {
        Value::String(s) => vec![Value::String(s.clone())],
        _ => str_list(f, v)?,
    };
    Ok(pyval::is_truthy(v).then_some(Value::Array(list)))
}

fn devices(f: &Field, v: &Value) -> Result<Option<Value>> {
    let items = want_list(
        f,
        v,
        "a list of 'host[:container[:permissions]]' strings or mappings",
    )?;
    let mut out = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        let fi = f.at(i);
        let mapping = match item {
            Value::String(s) => {
                let mut parts = s.split(':');
                let host = parts.next().unwrap_or_default();
                let container = parts.next().unwrap_or(host);
                let perms = parts.next().unwrap_or("rwm");
                json!({"PathOnHost": host, "PathInContainer": container, "CgroupPermissions": perms})
            }
            Value::Object(_) => {
                let names = ["PathOnHost", "PathInContainer", "CgroupPermissions"];
                let fields = engine_object(&fi, item, &names)?;
                let mut m = Map::new();
                for (name, value) in names.iter().zip(fields) {
                    if let Some(value) = value {
                        m.insert(
                            name.to_string(),
                            Value::String(want_str(&fi.dot(name), value)?.to_string()),
                        );
                    }
                }
                Value::Object(m)
            }
            _ => return Err(fi.type_error("a 'host[:container[:permissions]]' string or a mapping", item)),
        };
        out.push(mapping);
    }
    Ok((!out.is_empty()).then_some(Value::Array(out)))
}

fn device_requests(f: &Field, v: &Value) -> Result<Value> {
    let items = want_list(f, v, "a list of device request mappings")?;
    let names = [
        ("driver", "Driver"),
        ("count", "Count"),
        ("device_ids", "DeviceIDs"),
        ("capabilities", "Capabilities"),
        ("options", "Options"),
    ];
    let mut out = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        let fi = f.at(i);
        let fields = sdk_object(&fi, item, "DeviceRequest", &names)?;
        let [driver, count, device_ids, capabilities, options] = fields[..] else {
            return Err(fi.value_error("could not be read"));
        };
        let driver = match driver {
            Some(d) => want_str(&fi.dot("driver"), d)?.to_string(),
            None => String::new(),
        };
        let count = match count {
            Some(c) => want_int(&fi.dot("count"), c)?,
            None => 0,
        };
        let device_ids = match device_ids {
            Some(d) => str_list(&fi.dot("device_ids"), d)?,
            None => Vec::new(),
        };
        let capabilities = match capabilities {
            Some(c) => {
                let fc = fi.dot("capabilities");
                let sets = want_list(&fc, c, "a list of lists of strings")?;
                let mut out = Vec::with_capacity(sets.len());
                for (j, set) in sets.iter().enumerate() {
                    out.push(Value::Array(str_list(&fc.at(j), set)?));
                }
                out
            }
            None => Vec::new(),
        };
        let options = match options {
            Some(o) => str_map(&fi.dot("options"), o)?,
            None => Map::new(),
        };
        out.push(json!({
            "Driver": driver,
            "Count": count,
            "DeviceIDs": device_ids,
            "Capabilities": capabilities,
            "Options": options,
        }));
    }
    Ok(Value::Array(out))
}

fn extra_hosts(f: &Field, v: &Value) -> Result<Value> {
    match v {
        // The SDK sorts a mapping by host name.
        Value::Object(map) => {
            let mut pairs = Vec::with_capacity(map.len());
            for (host, ip) in map {
                pairs.push((host.as_str(), want_str(&f.dot(host), ip)?));
            }
            pairs.sort();
            Ok(Value::from(
                pairs
                    .into_iter()
                    .map(|(host, ip)| format!("{host}:{ip}"))
                    .collect::<Vec<_>>(),
            ))
        }
        Value::Array(_) => Ok(Value::Array(str_list(f, v)?)),
        _ => Err(f.type_error(
            "a mapping of host names to addresses or a list of 'host:ip' strings",
            v,
        )),
    }
}

fn group_add(f: &Field, v: &Value) -> Result<Option<Value>> {
    let items = want_list(f, v, "a list of group names or ids")?;
    let mut out = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        let fi = f.at(i);
        let group = match item {
            Value::String(s) => s.clone(),
            Value::Number(n) if !n.is_f64() => n.to_string(),
            _ => return Err(fi.type_error("a group name or an integer id", item)),
        };
        out.push(Value::String(group));
    }
    Ok((!out.is_empty()).then_some(Value::Array(out)))
}

fn links(f: &Field, v: &Value) -> Result<Value> {
    let mut pairs: Vec<(String, Option<String>)> = Vec::new();
    let alias = |f: &Field, a: &Value| -> Result<Option<String>> {
        match a {
            Value::Null => Ok(None),
            _ => Ok(Some(want_str(f, a)?.to_string()).filter(|s| !s.is_empty())),
        }
    };
    match v {
        Value::Object(map) => {
            for (name, a) in map {
                pairs.push((name.clone(), alias(&f.dot(name), a)?));
            }
        }
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                let fi = f.at(i);
                let pair = item.as_array().filter(|p| p.len() == 2);
                let Some([name, a]) = pair.map(Vec::as_slice) else {
                    return Err(fi.type_error("a [container, alias] pair", item));
                };
                pairs.push((want_str(&fi.at(0), name)?.to_string(), alias(&fi.at(1), a)?));
            }
        }
        _ => {
            return Err(f.type_error(
                "a mapping of container names to aliases or a list of [container, alias] pairs",
                v,
            ))
        }
    }
    // The SDK sorts links.
    pairs.sort();
    Ok(Value::from(
        pairs
            .into_iter()
            .map(|(name, a)| match a {
                Some(a) => format!("{name}:{a}"),
                None => name,
            })
            .collect::<Vec<_>>(),
    ))
}

fn log_config(f: &Field, v: &Value) -> Result<Value> {
    let fields = sdk_object(f, v, "LogConfig", &[("type", "Type"), ("config", "Config")])?;
    let mut out = Map::new();
    if let Some(Some(t)) = fields.first() {
        out.insert(
            "Type".into(),
            Value::String(want_str(&f.dot("type"), t)?.to_string()),
        );
    }
    let config = match fields.get(1).copied().flatten() {
        Some(c) if pyval::is_truthy(c) => str_map(&f.dot("config"), c)?,
        Some(c) if !c.is_object() => return Err(f.dot("config").type_error("a mapping", c)),
        _ => Map::new(),
    };
    out.insert("Config".into(), Value::Object(config));
    Ok(Value::Object(out))
}

fn lxc_conf(f: &Field, v: &Value) -> Result<Value> {
    let mut out = Vec::new();
    match v {
        Value::Object(map) => {
            for (k, item) in map {
                let value = match item {
                    Value::String(_) | Value::Bool(_) | Value::Number(_) => pyval::python_str(item),
                    _ => None,
                };
                let Some(value) = value else {
                    return Err(f.dot(k).type_error("a scalar", item));
                };
                out.push(json!({"Key": k, "Value": value}));
            }
        }
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                let fi = f.at(i);
                let fields = engine_object(&fi, item, &["Key", "Value"])?;
                let mut m = Map::new();
                for (name, value) in ["Key", "Value"].iter().zip(fields) {
                    if let Some(value) = value {
                        m.insert(
                            name.to_string(),
                            Value::String(want_str(&fi.dot(name), value)?.to_string()),
                        );
                    }
                }
                out.push(Value::Object(m));
            }
        }
        _ => return Err(f.type_error("a mapping or a list of {Key, Value} mappings", v)),
    }
    Ok(Value::Array(out))
}

fn restart_policy(f: &Field, v: &Value) -> Result<Option<Value>> {
    let names = ["Name", "MaximumRetryCount"];
    let fields = engine_object(f, v, &names)?;
    let mut out = Map::new();
    if let Some(Some(name)) = fields.first() {
        out.insert(
            "Name".into(),
            Value::String(want_str(&f.dot("Name"), name)?.to_string()),
        );
    }
    if let Some(Some(count)) = fields.get(1) {
        out.insert(
            "MaximumRetryCount".into(),
            Value::from(want_int(&f.dot("MaximumRetryCount"), count)?),
        );
    }
    Ok(pyval::is_truthy(v).then_some(Value::Object(out)))
}

fn sysctls(f: &Field, v: &Value) -> Result<Option<Value>> {
    let map = want_map(f, v, "a mapping of sysctl names to values")?;
    let mut out = Map::new();
    for (k, item) in map {
        // The SDK sends str(value): True, 1, 1.0.
        let rendered = match item {
            Value::String(_) | Value::Bool(_) | Value::Number(_) => pyval::python_str(item),
            _ => None,
        };
        let Some(rendered) = rendered else {
            return Err(f.dot(k).type_error("a string or number", item));
        };
        out.insert(k.clone(), Value::String(rendered));
    }
    Ok((!out.is_empty()).then_some(Value::Object(out)))
}

fn tmpfs(f: &Field, v: &Value) -> Result<Option<Value>> {
    let out = match v {
        Value::Object(_) => str_map(f, v)?,
        Value::Array(items) => {
            let mut out = Map::new();
            for (i, item) in items.iter().enumerate() {
                let mount = want_str(&f.at(i), item)?;
                let (path, options) = mount.split_once(':').unwrap_or((mount, ""));
                out.insert(path.to_string(), Value::String(options.to_string()));
            }
            out
        }
        _ => {
            return Err(f.type_error(
                "a list of 'path[:options]' strings or a mapping of paths to options",
                v,
            ))
        }
    };
    Ok(pyval::is_truthy(v).then_some(Value::Object(out)))
}

fn ulimits(f: &Field, v: &Value) -> Result<Value> {
    let items = want_list(f, v, "a list of {name, soft, hard} mappings")?;
    let names = [("name", "Name"), ("soft", "Soft"), ("hard", "Hard")];
    let mut out = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        let fi = f.at(i);
        let fields = sdk_object(&fi, item, "Ulimit", &names)?;
        let mut m = Map::new();
        match fields.first().copied().flatten() {
            Some(name) => m.insert(
                "Name".into(),
                Value::String(want_str(&fi.dot("name"), name)?.to_string()),
            ),
            None => {
                return Err(fi
                    .dot("name")
                    .value_error("must be a string (the ulimit's name, e.g. 'nofile')"))
            }
        };
        for ((snake, pascal), value) in names.iter().zip(fields).skip(1) {
            if let Some(value) = value {
                m.insert(pascal.to_string(), Value::from(want_int(&fi.dot(snake), value)?));
            }
        }
        out.push(Value::Object(m));
    }
    Ok(Value::Array(out))
}

fn host_only(f: &Field, v: &Value) -> Result<Option<Value>> {
    if !pyval::is_truthy(v) {
        return Ok(None);
    }
    match v.as_str() {
        Some("host") => Ok(Some(Value::String("host".into()))),
        _ => Err(f.value_error(format_args!(
            "must be 'host' (the only value the Docker SDK accepts), got {}",
            pyval::repr(v)
        ))),
    }
}

fn volumes_from(f: &Field, v: &Value) -> Result<Value> {
    match v {
        // The SDK splits a string on commas.
        Value::String(s) => Ok(Value::from(s.split(',').collect::<Vec<_>>())),
        _ => Ok(Value::Array(str_list(f, v)?)),
    }
}

fn weight_devices(f: &Field, v: &Value) -> Result<Option<Value>> {
    let items = want_list(f, v, "a list of {Path, Weight} mappings")?;
    let mut out = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        let fi = f.at(i);
        let fields = engine_object(&fi, item, &["Path", "Weight"])?;
        let mut m = Map::new();
        if let Some(Some(path)) = fields.first() {
            m.insert(
                "Path".into(),
                Value::String(want_str(&fi.dot("Path"), path)?.to_string()),
            );
        }
        if let Some(Some(weight)) = fields.get(1) {
            m.insert(
                "Weight".into(),
                Value::from(want_int_in(&fi.dot("Weight"), weight, 0, 1000)?),
            );
        }
        out.push(Value::Object(m));
    }
    Ok((!out.is_empty()).then_some(Value::Array(out)))
}

fn throttle_devices(f: &Field, v: &Value) -> Result<Option<Value>> {
    let items = want_list(f, v, "a list of {Path, Rate} mappings")?;
    let mut out = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        let fi = f.at(i);
        let fields = engine_object(&fi, item, &["Path", "Rate"])?;
        let mut m = Map::new();
        if let Some(Some(path)) = fields.first() {
            m.insert(
                "Path".into(),
                Value::String(want_str(&fi.dot("Path"), path)?.to_string()),
            );
        }
        if let Some(Some(rate)) = fields.get(1) {
            m.insert(
                "Rate".into(),
                Value::from(want_int_in(&fi.dot("Rate"), rate, 0, i64::MAX)?),
            );
        }
        out.push(Value::Object(m));
    }
    Ok((!out.is_empty()).then_some(Value::Array(out)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

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
}
