//! What a site allows its job containers: [`SitePolicy`] from the site config, narrowed to
//! one container by its labels into an [`AuditPolicy`].

use berth_core::config::SiteConfig;
use berth_core::pyval::{string_items, Map};
use berth_core::security::SecurityProfile;
use berth_core::{labels, sdk_kwargs, workspace, Error, Result};
use serde_json::Value;
use std::collections::HashMap;

/// Engine options a site (or a study file the site admin wrote) set on purpose in its
/// container options, in Engine API form. Each one widens what the audit accepts by
/// exactly what was set.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SiteAllowances {
    pub privileged: bool,
    /// `HostConfig.CapAdd` entries, as written (compared without case or `CAP_` prefix).
    pub cap_add: Vec<String>,
    /// `HostConfig.Devices` mappings (`PathOnHost`, `PathInContainer`, `CgroupPermissions`).
    pub devices: Vec<Value>,
    pub device_cgroup_rules: Vec<String>,
    /// `HostConfig.DeviceRequests` as the site wrote them.
    pub device_requests: Vec<Value>,
    pub security_opt: Vec<String>,
    pub pid_mode: Option<String>,
    pub ipc_mode: Option<String>,
    pub uts_mode: Option<String>,
    pub userns_mode: Option<String>,
    pub volumes_from: Vec<String>,
    /// Whether the site set `cap_drop` itself (then the `restricted` profile keeps it).
    pub cap_drop_set: bool,
    /// Whether the site set `pids_limit` itself.
    pub pids_limit_set: bool,
}

fn string(v: Option<&Value>) -> Option<String> {
    v.and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
}

fn merge<T: PartialEq + Clone>(into: &mut Vec<T>, from: &[T]) {
    for item in from {
        if !into.contains(item) {
            into.push(item.clone());
        }
    }
}

impl SiteAllowances {
    /// Reads Docker SDK container options (`default_job_container_kwargs`, a study's
    /// `docker_kwargs`) the way the plan builder translates them. `source` names them in
    /// errors.
    pub fn from_kwargs(kwargs: &Map, source: &str) -> Result<Self> {
        let fields = sdk_kwargs::translate(kwargs, source)?;
        let host = &fields.host_config;
        let set = |key: &str| kwargs.get(key).is_some_and(|v| !v.is_null());
        Ok(Self {
            cap_drop_set: set("cap_drop"),
            pids_limit_set: set("pids_limit"),
            privileged: host.get("Privileged").and_then(Value::as_bool).unwrap_or(false),
            cap_add: string_items(host.get("CapAdd")),
            devices: host
                .get("Devices")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default(),
            device_cgroup_rules: string_items(host.get("DeviceCgroupRules")),
            device_requests: host
                .get("DeviceRequests")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default(),
            security_opt: string_items(host.get("SecurityOpt")),
            pid_mode: string(host.get("PidMode")),
            ipc_mode: string(host.get("IpcMode")),
            uts_mode: string(host.get("UTSMode")),
            userns_mode: string(host.get("UsernsMode")),
            volumes_from: string_items(host.get("VolumesFrom")),
        })
    }

    /// Everything either allows (a study's options on top of the site's).
    pub fn union(mut self, other: &SiteAllowances) -> Self {
        self.privileged |= other.privileged;
        self.cap_drop_set |= other.cap_drop_set;
        self.pids_limit_set |= other.pids_limit_set;
        merge(&mut self.cap_add, &other.cap_add);
        merge(&mut self.devices, &other.devices);
        merge(&mut self.device_cgroup_rules, &other.device_cgroup_rules);
        merge(&mut self.device_requests, &other.device_requests);
        merge(&mut self.security_opt, &other.security_opt);
        merge(&mut self.volumes_from, &other.volumes_from);
        for (mine, theirs) in [
            (&mut self.pid_mode, &other.pid_mode),
            (&mut self.ipc_mode, &other.ipc_mode),
            (&mut self.uts_mode, &other.uts_mode),
            (&mut self.userns_mode, &other.userns_mode),
        ] {
            if mine.is_none() {
                mine.clone_from(theirs);
            }
        }
        self
    }
}

/// A site's policy for every job container it launches.
#[derive(Debug, Clone, PartialEq)]
pub struct SitePolicy {
    /// The site's name (its `io.berth.site` label).
    pub site: String,
    /// The host workspace, normalised (bind sources are compared against it).
    pub host_workspace: String,
    /// The Docker network every job joins.
    pub network: String,
    /// `uid:gid` of the launcher: every job runs as it.
    pub user: String,
    /// The site's `security_profile`: what every job container must carry.
    pub profile: SecurityProfile,
    pub allowed: SiteAllowances,
}

impl SitePolicy {
    /// The policy of site `site` whose launcher runs as `uid:gid`. Fails when the config
    /// names no workspace or its container options do not translate.
    pub fn new(config: &SiteConfig, site: &str, uid: u32, gid: u32) -> Result<Self> {
        let host_workspace = match config.workspace.as_deref() {
            Some(ws) if ws.starts_with('/') => workspace::normpath(ws),
            _ => {
                return Err(Error::invalid(
                    "the audit needs the site's host workspace: set 'workspace' in the launcher args or NVFL_DOCKER_WORKSPACE",
                ))
            }
        };
        Ok(Self {
            site: site.to_string(),
            host_workspace,
            network: config.network.clone(),
            user: format!("{uid}:{gid}"),
            profile: config.security_profile,
            allowed: SiteAllowances::from_kwargs(
                &config.default_job_container_kwargs,
                "default_job_container_kwargs",
            )?,
        })
    }

    /// Also allow what a study's `docker_kwargs` set (the site admin wrote them too).
    pub fn allow(mut self, extra: &SiteAllowances) -> Self {
        self.allowed = self.allowed.union(extra);
        self
    }

    /// The policy for the container carrying `container_labels`: its job id comes from its
    /// `io.berth.job-id` label. Everything else comes from the site, never from the
    /// container, so a container cannot widen its own policy.
    pub fn for_labels(&self, container_labels: &HashMap<String, String>) -> AuditPolicy {
        AuditPolicy {
            site: self.clone(),
            job_id: container_labels.get(labels::JOB_ID).cloned(),
        }
    }

    /// The policy for the container an Engine API inspect answer describes.
    pub fn for_inspect(&self, inspect: &Value) -> AuditPolicy {
        let container_labels: HashMap<String, String> = inspect
            .pointer("/Config/Labels")
            .and_then(Value::as_object)
            .map(|m| {
                m.iter()
                    .filter_map(|(k, v)| v.as_str().map(|v| (k.clone(), v.to_string())))
                    .collect()
            })
            .unwrap_or_default();
        self.for_labels(&container_labels)
    }
}

/// The policy one container is audited against.
#[derive(Debug, Clone, PartialEq)]
pub struct AuditPolicy {
    pub site: SitePolicy,
    /// The job the container runs, from its label; `None` when the label is missing.
    pub job_id: Option<String>,
}

impl AuditPolicy {
    /// The job's own folder on the host, when the job id is one plain folder name.
    pub fn host_job_dir(&self) -> Option<String> {
        let id = self.job_id.as_deref()?;
        let plain = !id.is_empty()
            && !id.contains('/')
            && !id.contains('\0')
            && id != "."
            && id != ".."
            && !workspace::RESERVED_NAMES.contains(&id);
        plain.then(|| workspace::join_posix(&self.site.host_workspace, id))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn kwargs(v: Value) -> Map {
        v.as_object().cloned().unwrap_or_default()
    }

    #[test]
    fn site_options_become_allowances() {
        let a = SiteAllowances::from_kwargs(
            &kwargs(json!({
                "privileged": true,
                "cap_add": ["SYS_PTRACE"],
                "devices": ["/dev/fuse"],
                "ipc_mode": "host",
                "security_opt": ["seccomp=unconfined"],
                "shm_size": "1g",
            })),
            "site",
        )
        .unwrap();
        assert!(a.privileged);
        assert_eq!(a.cap_add, ["SYS_PTRACE"]);
        assert_eq!(a.devices[0]["PathOnHost"], "/dev/fuse");
        assert_eq!(a.ipc_mode.as_deref(), Some("host"));
        assert_eq!(a.security_opt, ["seccomp=unconfined"]);
        assert_eq!(a.pid_mode, None);
    }

    #[test]
    fn a_policy_needs_the_workspace_and_takes_only_the_job_id_from_labels() {
        let mut config = SiteConfig::default();
        assert!(SitePolicy::new(&config, "s", 1, 2).is_err());
        config.workspace = Some("/srv/ws/".into());
        let site = SitePolicy::new(&config, "s", 1, 2).unwrap();
        assert_eq!(
            (site.host_workspace.as_str(), site.user.as_str()),
            ("/srv/ws", "1:2")
        );
        let labels = HashMap::from([
            (labels::JOB_ID.to_string(), "j1".to_string()),
            (labels::WORKSPACE.to_string(), "/".to_string()),
        ]);
        let p = site.for_labels(&labels);
        assert_eq!(p.site.host_workspace, "/srv/ws");
        assert_eq!(p.host_job_dir().as_deref(), Some("/srv/ws/j1"));
        for bad in ["..", "a/b", "startup", ""] {
            let labels = HashMap::from([(labels::JOB_ID.to_string(), bad.to_string())]);
            assert_eq!(site.for_labels(&labels).host_job_dir(), None, "{bad}");
        }
    }
}
