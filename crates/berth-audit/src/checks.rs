//! [`audit_container`]: one Engine API inspect answer against one [`AuditPolicy`].
//!
//! Pure: it reads the JSON it is given and nothing else, so every rule is tested with
//! hand-written inspect answers. The engine's own defaults (an `IpcMode` of `private` or
//! `shareable`, empty namespace modes) pass; anything wider needs the site's say-so.

use crate::policy::{AuditPolicy, SiteAllowances};
use crate::report::{AuditReport, Check};
use berth_core::pyval::string_items;
use berth_core::security::{self, SecurityProfile};
use berth_core::{labels, workspace, WORKSPACE_MOUNT};
use serde_json::Value;

/// Credential values shorter than this are only matched as whole argv items: a short
/// value inside a longer argument is more likely a coincidence than a leak.
const MIN_SUBSTRING_SECRET: usize = 8;

/// Where credential env vars start (`NVFLARE_JOB_AUTH_TOKEN`, ...).
const CREDENTIAL_PREFIX: &str = "NVFLARE_JOB_";

/// Audit the container `inspect` describes (the engine's whole `GET /containers/{id}/json`
/// answer) against `policy`. Never fails: missing fields read as the engine's defaults,
/// and whatever cannot be read where the policy needs it is a finding.
pub fn audit_container(inspect: &Value, policy: &AuditPolicy) -> AuditReport {
    let id = text(inspect.get("Id")).to_string();
    let name = text(inspect.get("Name")).trim_start_matches('/').to_string();
    let mut report = AuditReport::new(id, name, policy.job_id.clone());
    let empty = Value::Null;
    let config = inspect.get("Config").unwrap_or(&empty);
    let host = inspect.get("HostConfig").unwrap_or(&empty);
    let allowed = &policy.site.allowed;

    check_labels(&mut report, config, policy);
    if host.get("AutoRemove").and_then(Value::as_bool) == Some(true) {
        report.fail(
            Check::AutoRemove,
            "HostConfig.AutoRemove is true: the engine may delete the container before berth reads its exit code",
        );
    }
    let user = text(config.get("User"));
    if user != policy.site.user {
        let shown = if user.is_empty() {
            "the image's default user (root)"
        } else {
            user
        };
        report.fail(
            Check::User,
            format!("runs as {shown}, not as the launcher's {}", policy.site.user),
        );
    }
    if host.get("Privileged").and_then(Value::as_bool) == Some(true) && !allowed.privileged {
        report.fail(
            Check::Privileged,
            "privileged, and the site did not set privileged: true",
        );
    }
    check_capabilities(&mut report, host, allowed);
    check_devices(&mut report, host, allowed);
    check_namespaces(&mut report, host, inspect.get("NetworkSettings"), policy);
    // The engine itself adds `label=disable` (no SELinux label) to a privileged container
    // and one sharing the host's pid or ipc namespace.
    let engine_disables_labels = allowed.privileged
        || [&allowed.pid_mode, &allowed.ipc_mode]
            .iter()
            .any(|m| m.as_deref() == Some("host"));
    for opt in string_items(host.get("SecurityOpt")) {
        let engine_added =
            engine_disables_labels && matches!(opt.as_str(), "label=disable" | "label:disable");
        // Turning no-new-privileges on only narrows what a job may do.
        if !engine_added && !security::enables_no_new_privileges(&opt) && !allowed.security_opt.contains(&opt)
        {
            report.fail(
                Check::SecurityOptions,
                format!("security option '{opt}' is not in the site's security_opt"),
            );
        }
    }
    if policy.site.profile == SecurityProfile::Restricted {
        check_restricted(&mut report, host, allowed);
    }
    check_mounts(&mut report, inspect, host, policy);
    check_credentials(&mut report, inspect, config);
    report
}

fn text(v: Option<&Value>) -> &str {
    v.and_then(Value::as_str).unwrap_or_default()
}

fn check_labels(report: &mut AuditReport, config: &Value, policy: &AuditPolicy) {
    let empty = serde_json::Map::new();
    let got = config.get("Labels").and_then(Value::as_object).unwrap_or(&empty);
    let label = |key: &str| got.get(key).and_then(Value::as_str);
    let site = &policy.site;
    let expect: [(&str, Option<&str>); 6] = [
        (labels::MANAGED, Some("true")),
        (labels::SITE, Some(site.site.as_str())),
        (labels::ROLE, None),
        (labels::JOB_ID, None),
        (labels::WORKSPACE, Some(site.host_workspace.as_str())),
        (labels::PLAN_DIGEST, None),
    ];
    for (key, want) in expect {
        match (label(key), want) {
            (None, _) => report.fail(Check::Labels, format!("label {key} is missing")),
            (Some(v), Some(want)) if v != want => {
                report.fail(Check::Labels, format!("label {key} is '{v}', expected '{want}'"))
            }
            _ => {}
        }
    }
    if let Some(role) = label(labels::ROLE) {
        if role != "server" && role != "client" {
            report.fail(
                Check::Labels,
                format!("label {} is '{role}', not server or client", labels::ROLE),
            );
        }
    }
    if label(labels::JOB_ID).is_some() && policy.host_job_dir().is_none() {
        report.fail(
            Check::Labels,
            format!(
                "label {} does not name one plain workspace folder",
                labels::JOB_ID
            ),
        );
    }
}

/// The capabilities an engine grants by default: what dropping `ALL` must remove.
pub(crate) const DEFAULT_CAPS: &[&str] = &[
    "AUDIT_WRITE",
    "CHOWN",
    "DAC_OVERRIDE",
    "FOWNER",
    "FSETID",
    "KILL",
    "MKNOD",
    "NET_BIND_SERVICE",
    "NET_RAW",
    "SETFCAP",
    "SETGID",
    "SETPCAP",
    "SETUID",
    "SYS_CHROOT",
];

/// Whether an inspected `HostConfig.CapDrop` drops every capability. Docker reports a drop of
/// `ALL` as `["ALL"]`; Podman spells it out as the default capabilities it removed, so a list
/// that holds every default capability counts too.
pub fn drops_all_capabilities(cap_drop: Option<&Value>) -> bool {
    let dropped: Vec<String> = string_items(cap_drop).iter().map(|c| cap_name(c)).collect();
    dropped.iter().any(|c| c == "ALL") || DEFAULT_CAPS.iter().all(|d| dropped.iter().any(|c| c == d))
}

/// `CAP_SYS_ADMIN`, `sys_admin` and `SYS_ADMIN` are one capability.
fn cap_name(c: &str) -> String {
    let upper = c.trim().to_ascii_uppercase();
    upper.strip_prefix("CAP_").map(str::to_string).unwrap_or(upper)
}

fn check_capabilities(report: &mut AuditReport, host: &Value, allowed: &SiteAllowances) {
    let site: Vec<String> = allowed.cap_add.iter().map(|c| cap_name(c)).collect();
    for cap in string_items(host.get("CapAdd")) {
        if !site.contains(&cap_name(&cap)) {
            report.fail(
                Check::Capabilities,
                format!("capability {cap} is added, and the site's cap_add does not add it"),
            );
        }
    }
}

/// The `restricted` profile (DESIGN decision 14) as the engine reports it. An option the
/// site set itself is a note ("relaxed by the site"); one missing without the site's say-so
/// is a failure.
fn check_restricted(report: &mut AuditReport, host: &Value, allowed: &SiteAllowances) {
    let opts = string_items(host.get("SecurityOpt"));
    if !opts.iter().any(|o| security::enables_no_new_privileges(o)) {
        if allowed
            .security_opt
            .iter()
            .any(|o| security::decides_no_new_privileges(o))
        {
            report.note(
                Check::Restricted,
                "relaxed by the site: no-new-privileges is off (the site's security_opt sets it)",
            );
        } else {
            report.fail(
                Check::Restricted,
                "no-new-privileges is not set: setuid binaries can raise the job's privileges",
            );
        }
    }
    if !drops_all_capabilities(host.get("CapDrop")) {
        if allowed.privileged && host.get("Privileged").and_then(Value::as_bool) == Some(true) {
            // A privileged container has every capability whatever CapDrop says (Podman then
            // reports no drop at all); the Privileged check speaks for the site's choice.
            report.note(
                Check::Restricted,
                "relaxed by the site: privileged, so no capability is dropped (the site's privileged)",
            );
        } else if allowed.cap_drop_set {
            report.note(
                Check::Restricted,
                "relaxed by the site: capabilities are not all dropped (the site's cap_drop)",
            );
        } else {
            report.fail(
                Check::Restricted,
                "HostConfig.CapDrop does not drop ALL capabilities",
            );
        }
    }
    for cap in string_items(host.get("CapAdd")) {
        if allowed.cap_add.iter().any(|c| cap_name(c) == cap_name(&cap)) {
            report.note(
                Check::Restricted,
                format!("relaxed by the site: capability {cap} is added back (the site's cap_add)"),
            );
        }
    }
    let limited = host
        .get("PidsLimit")
        .and_then(Value::as_i64)
        .is_some_and(|n| n > 0);
    if !limited {
        if allowed.pids_limit_set {
            report.note(
                Check::Restricted,
                "relaxed by the site: no process limit (the site's pids_limit)",
            );
        } else {
            report.fail(
                Check::Restricted,
                "HostConfig.PidsLimit is not set: no process limit",
            );
        }
    }
    for opt in &opts {
        if opt.starts_with("seccomp") && allowed.security_opt.contains(opt) {
            report.note(
                Check::Restricted,
                format!("relaxed by the site: security option '{opt}' replaces the engine's default seccomp profile"),
            );
        }
    }
}

fn same_device(a: &Value, b: &Value) -> bool {
    let field = |v: &Value, k: &str| v.get(k).and_then(Value::as_str).unwrap_or_default().to_string();
    let host = |v: &Value| field(v, "PathOnHost");
    let container = |v: &Value| match field(v, "PathInContainer") {
        c if c.is_empty() => host(v),
        c => c,
    };
    let perms = |v: &Value| match field(v, "CgroupPermissions") {
        p if p.is_empty() => "rwm".to_string(),
        p => p,
    };
    host(a) == host(b) && container(a) == container(b) && perms(a) == perms(b)
}

/// Jobs may ask for GPUs through their resources (`num_of_gpus`), which the plan turns
/// into `{"Count": n, "Capabilities": [["gpu"]]}`: that request needs no site say-so.
fn is_plain_gpu_request(r: &Value) -> bool {
    let caps_are_gpu = r.get("Capabilities") == Some(&serde_json::json!([["gpu"]]));
    let driver_ok = matches!(text(r.get("Driver")), "" | "nvidia");
    let no_ids = r
        .get("DeviceIDs")
        .and_then(Value::as_array)
        .is_none_or(|ids| ids.is_empty());
    let no_options = r
        .get("Options")
        .and_then(Value::as_object)
        .is_none_or(|o| o.is_empty());
    caps_are_gpu && driver_ok && no_ids && no_options
}

/// A request equals a site's one, reading absent and empty values alike.
fn same_request(a: &Value, b: &Value) -> bool {
    let norm = |v: &Value| {
        let get = |k: &str| v.get(k).cloned().unwrap_or(Value::Null);
        let or_empty = |x: Value, empty: Value| if x.is_null() { empty } else { x };
        (
            text(v.get("Driver")).to_string(),
            v.get("Count").and_then(Value::as_i64).unwrap_or(0),
            or_empty(get("DeviceIDs"), serde_json::json!([])),
            or_empty(get("Capabilities"), serde_json::json!([])),
            or_empty(get("Options"), serde_json::json!({})),
        )
    };
    norm(a) == norm(b)
}

fn check_devices(report: &mut AuditReport, host: &Value, allowed: &SiteAllowances) {
    for dev in host
        .get("Devices")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        if !allowed.devices.iter().any(|d| same_device(d, dev)) {
            report.fail(
                Check::Devices,
                format!(
                    "device {} is mapped in, and the site's devices do not map it",
                    dev
                ),
            );
        }
    }
    for rule in string_items(host.get("DeviceCgroupRules")) {
        if !allowed.device_cgroup_rules.contains(&rule) {
            report.fail(
                Check::Devices,
                format!("device cgroup rule '{rule}' is not in the site's device_cgroup_rules"),
            );
        }
    }
    for req in host
        .get("DeviceRequests")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        if !is_plain_gpu_request(req) && !allowed.device_requests.iter().any(|r| same_request(r, req)) {
            report.fail(
                Check::Devices,
                format!("device request {req} is neither a plain GPU request nor one of the site's"),
            );
        }
    }
}

/// Podman reports a container on a named bridge network as `NetworkMode: bridge`, with the
/// network itself under `NetworkSettings.Networks`; Docker names the network in both.
fn attached_network<'a>(host: &'a Value, settings: Option<&'a Value>) -> &'a str {
    let mode = text(host.get("NetworkMode"));
    let networks = settings
        .and_then(|s| s.get("Networks"))
        .and_then(Value::as_object);
    match networks {
        Some(n) if mode == "bridge" && n.len() == 1 => n.keys().next().map_or(mode, String::as_str),
        _ => mode,
    }
}

fn check_namespaces(report: &mut AuditReport, host: &Value, settings: Option<&Value>, policy: &AuditPolicy) {
    let allowed = &policy.site.allowed;
    let network = attached_network(host, settings);
    if network != policy.site.network {
        report.fail(
            Check::Namespaces,
            format!(
                "network mode is '{network}', not the site network '{}'",
                policy.site.network
            ),
        );
    }
    // The engine's defaults for each mode (Docker's empty, Podman's `private`), then the
    // site's own setting.
    let modes: [(&str, &str, &[&str], &Option<String>); 4] = [
        ("PidMode", "pid", &["", "private"], &allowed.pid_mode),
        (
            "IpcMode",
            "ipc",
            &["", "private", "shareable", "none"],
            &allowed.ipc_mode,
        ),
        ("UTSMode", "uts", &["", "private"], &allowed.uts_mode),
        ("UsernsMode", "user", &["", "private"], &allowed.userns_mode),
    ];
    for (field, what, defaults, site) in modes {
        let mode = text(host.get(field));
        if !defaults.contains(&mode) && site.as_deref() != Some(mode) {
            report.fail(
                Check::Namespaces,
                format!("{what} namespace mode is '{mode}' ({field}), and the site did not set it"),
            );
        }
    }
    for from in string_items(host.get("VolumesFrom")) {
        if !allowed.volumes_from.contains(&from) {
            report.fail(
                Check::Mounts,
                format!(
                    "volumes are taken from container '{from}', and the site's volumes_from does not name it"
                ),
            );
        }
    }
}

/// One mount, from whichever of the three places the engine reports it.
#[derive(Debug, Clone, PartialEq)]
struct MountSeen {
    kind: String,
    /// A host path for binds; a volume name (or the engine's path for it) for volumes.
    source: String,
    target: String,
    writable: bool,
    /// The volume name, for volumes.
    volume: Option<String>,
}

fn mounts_seen(inspect: &Value, host: &Value) -> Vec<MountSeen> {
    let mut seen: Vec<MountSeen> = Vec::new();
    // The effective mounts.
    for m in inspect
        .get("Mounts")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        seen.push(MountSeen {
            kind: text(m.get("Type")).to_string(),
            source: text(m.get("Source")).to_string(),
            target: text(m.get("Destination")).to_string(),
            writable: m.get("RW").and_then(Value::as_bool).unwrap_or(true),
            volume: m.get("Name").and_then(Value::as_str).map(str::to_string),
        });
    }
    // What was asked for: `-v` style binds ...
    for b in string_items(host.get("Binds")) {
        let parts: Vec<&str> = b.split(':').collect();
        let (source, target, opts) = match parts.as_slice() {
            [s, t] => (*s, *t, ""),
            [s, t, o, ..] => (*s, *t, *o),
            _ => (b.as_str(), "", ""),
        };
        let is_path = source.starts_with('/');
        seen.push(MountSeen {
            kind: if is_path { "bind" } else { "volume" }.to_string(),
            source: source.to_string(),
            target: target.to_string(),
            writable: !opts.split(',').any(|o| o == "ro"),
            volume: (!is_path).then(|| source.to_string()),
        });
    }
    // ... and `Mounts` entries.
    for m in host.get("Mounts").and_then(Value::as_array).into_iter().flatten() {
        let kind = text(m.get("Type")).to_string();
        let source = text(m.get("Source")).to_string();
        seen.push(MountSeen {
            volume: (kind == "volume").then(|| source.clone()),
            kind,
            source,
            target: text(m.get("Target")).to_string(),
            writable: !m.get("ReadOnly").and_then(Value::as_bool).unwrap_or(false),
        });
    }
    let mut unique: Vec<MountSeen> = Vec::new();
    for m in seen {
        if !unique.contains(&m) {
            unique.push(m);
        }
    }
    unique
}

/// Anonymous volumes (an image's `VOLUME`) are named by 64 hex digits.
fn is_anonymous_volume(name: &str) -> bool {
    name.len() == 64 && name.bytes().all(|b| b.is_ascii_hexdigit())
}

fn check_mounts(report: &mut AuditReport, inspect: &Value, host: &Value, policy: &AuditPolicy) {
    let ws = &policy.site.host_workspace;
    let job_dir = policy.host_job_dir();
    let site_dirs = [
        (
            workspace::join_posix(ws, "startup"),
            workspace::join_posix(WORKSPACE_MOUNT, "startup"),
        ),
        (
            workspace::join_posix(ws, "local"),
            workspace::join_posix(WORKSPACE_MOUNT, "local"),
        ),
    ];
    for m in mounts_seen(inspect, host) {
        match m.kind.as_str() {
            "tmpfs" => continue,
            "volume" => {
                let name = m.volume.clone().unwrap_or_default();
                if is_anonymous_volume(&name) {
                    report.note(
                        Check::Mounts,
                        format!("anonymous volume at {} (from the image's VOLUME)", m.target),
                    );
                } else {
                    report.fail(
                        Check::Mounts,
                        format!("named volume '{name}' at {} is not in the plan", m.target),
                    );
                }
                continue;
            }
            "bind" | "" => {}
            other => {
                report.fail(
                    Check::Mounts,
                    format!("mount of type '{other}' at {} is not in the plan", m.target),
                );
                continue;
            }
        }
        let source = workspace::normpath(&m.source);
        let site_dir = site_dirs
            .iter()
            .find(|(src, target)| *src == source || *target == m.target);
        if let Some((src, target)) = site_dir {
            if m.writable {
                report.fail(
                    Check::ReadOnlySiteFolders,
                    format!("{source} is mounted read-write at {}", m.target),
                );
            }
            if m.target != *target {
                report.fail(
                    Check::Mounts,
                    format!("{source} is mounted at {}, not at {target}", m.target),
                );
            }
            if *src == source {
                continue;
            }
        }
        if job_dir.as_deref() == Some(source.as_str()) {
            continue;
        }
        if source.ends_with("docker.sock")
            || source.ends_with("podman.sock")
            || source.ends_with("containerd.sock")
        {
            report.fail(
                Check::Mounts,
                format!(
                    "the engine socket {source} is mounted at {}: the job could control the host",
                    m.target
                ),
            );
            continue;
        }
        let field = format!("bind mount source for {}", m.target);
        if let Err(e) = workspace::check_mount_source(&source, &field, ws) {
            report.fail(Check::Mounts, e.message().to_string());
        }
    }
}

fn check_credentials(report: &mut AuditReport, inspect: &Value, config: &Value) {
    let secrets: Vec<(String, String)> = string_items(config.get("Env"))
        .into_iter()
        .filter_map(|e| {
            let (k, v) = e.split_once('=')?;
            (k.starts_with(CREDENTIAL_PREFIX) && !v.is_empty()).then(|| (k.to_string(), v.to_string()))
        })
        .collect();
    if secrets.is_empty() {
        return;
    }
    let mut argv: Vec<(&str, String)> = Vec::new();
    for (field, value) in [
        ("Cmd", config.get("Cmd")),
        ("Entrypoint", config.get("Entrypoint")),
        ("Args", inspect.get("Args")),
    ] {
        match value {
            Some(Value::String(s)) => argv.push((field, s.clone())),
            v => argv.extend(string_items(v).into_iter().map(|s| (field, s))),
        }
    }
    argv.push(("Path", text(inspect.get("Path")).to_string()));
    for (name, value) in &secrets {
        let leaked = argv.iter().find(|(_, arg)| {
            arg == value || (value.len() >= MIN_SUBSTRING_SECRET && arg.contains(value.as_str()))
        });
        if let Some((field, _)) = leaked {
            report.fail(
                Check::Credentials,
                format!("the value of {name} appears in the container's {field}"),
            );
        }
    }
}
