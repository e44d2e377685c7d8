//! Site launcher config: the constructor arguments of NVFlare's Docker job launcher, read
//! from `local/resources.json` (the Client/Server Docker launcher component) or from a
//! plain JSON object of the same args, plus berth's own optional extras.

use crate::args::Role;
use crate::pyval::{self, Map};
use crate::sdk_kwargs;
use crate::security::{self, ImageAllowlist, SecurityProfile};
use crate::{
    Error, Result, DEFAULT_ENGINE_OUTAGE_LIMIT_SECS, DEFAULT_ENGINE_TIMEOUT_SECS, DEFAULT_NETWORK,
    DEFAULT_PYTHON_PATH, DEFAULT_START_TIMEOUT_SECS,
};
use serde_json::Value;

/// What a restarted site does with a running berth container it did not start in this
/// process (its launcher died or restarted).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OrphanPolicy {
    /// Re-attach a handle and follow the job to its end (default: nothing is lost).
    #[default]
    Adopt,
    /// Stop it and record it as ABORTED.
    Terminate,
    /// Leave it alone and only list it.
    Report,
}

impl OrphanPolicy {
    /// Every policy, as its config word.
    pub const ALL: [OrphanPolicy; 3] = [OrphanPolicy::Adopt, OrphanPolicy::Terminate, OrphanPolicy::Report];

    pub fn as_str(self) -> &'static str {
        match self {
            OrphanPolicy::Adopt => "adopt",
            OrphanPolicy::Terminate => "terminate",
            OrphanPolicy::Report => "report",
        }
    }
}

impl std::str::FromStr for OrphanPolicy {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        OrphanPolicy::ALL
            .into_iter()
            .find(|p| p.as_str() == s)
            .ok_or_else(|| {
                Error::invalid(format!(
                    "'{}' is not one of adopt, terminate, report",
                    pyval::shorten(s, 40)
                ))
            })
    }
}

/// The site's launcher settings, validated.
#[derive(Debug, Clone, PartialEq)]
pub struct SiteConfig {
    /// The host workspace (bind source root). `None` fails at launch, as upstream.
    pub workspace: Option<String>,
    pub network: String,
    pub default_python_path: String,
    /// Seconds to wait for `running`; `None` waits forever.
    pub timeout: Option<f64>,
    pub default_job_container_kwargs: Map,
    pub default_job_env: Map,
    /// berth extra: pull a missing image instead of failing (default false: air-gapped).
    pub pull_missing_images: bool,
    /// berth extra: keep a failed job's container this many hours for debugging.
    pub keep_failed_containers_hours: f64,
    /// berth extra: what recovery does with running containers it finds.
    pub orphan_policy: OrphanPolicy,
    /// berth extra: the deadline of one engine request, in seconds (DESIGN decision 13).
    pub engine_timeout: f64,
    /// berth extra: how long a `wait` rides out an engine it cannot reach, in seconds.
    pub engine_outage_limit: f64,
    /// berth extra: how far job containers are hardened (DESIGN decision 14).
    pub security_profile: SecurityProfile,
    /// berth extra: the images jobs may run (default: any).
    pub allowed_images: ImageAllowlist,
    /// berth extra: the engine's OCI runtime for job containers (`runsc`, ...); `None` is
    /// the engine's default.
    pub runtime: Option<String>,
}

impl Default for SiteConfig {
    fn default() -> Self {
        Self {
            workspace: None,
            network: DEFAULT_NETWORK.to_string(),
            default_python_path: DEFAULT_PYTHON_PATH.to_string(),
            timeout: Some(DEFAULT_START_TIMEOUT_SECS),
            default_job_container_kwargs: Map::new(),
            default_job_env: Map::new(),
            pull_missing_images: false,
            keep_failed_containers_hours: 0.0,
            orphan_policy: OrphanPolicy::Adopt,
            engine_timeout: DEFAULT_ENGINE_TIMEOUT_SECS,
            engine_outage_limit: DEFAULT_ENGINE_OUTAGE_LIMIT_SECS,
            security_profile: SecurityProfile::Restricted,
            allowed_images: ImageAllowlist::default(),
            runtime: None,
        }
    }
}

/// Arguments of NVFlare's launcher constructor.
pub const UPSTREAM_ARGS: [&str; 7] = [
    "workspace",
    "network",
    "python_path",
    "timeout",
    "default_job_container_kwargs",
    "default_job_env",
    "default_python_path",
];

/// berth's optional extras (also accepted as keyword arguments by the Python classes).
pub const BERTH_ARGS: [&str; 8] = [
    "pull_missing_images",
    "keep_failed_containers_hours",
    "orphan_policy",
    "engine_timeout",
    "engine_outage_limit",
    security::PROFILE_ARG,
    security::ALLOWED_IMAGES_ARG,
    "runtime",
];

/// The longest `engine_timeout` and `engine_outage_limit` accepted, in seconds (a day):
/// beyond that a hung engine would look like a hung berth.
pub const MAX_ENGINE_WAIT_SECS: f64 = 86_400.0;

impl SiteConfig {
    /// Validate launcher args. `env_workspace` is `NVFL_DOCKER_WORKSPACE` from the
    /// environment, used when `workspace` is absent or empty.
    pub fn from_args(args: &Map, env_workspace: Option<String>) -> Result<Self> {
        let mut cfg = SiteConfig::default();
        for key in args.keys() {
            if !UPSTREAM_ARGS.contains(&key.as_str()) && !BERTH_ARGS.contains(&key.as_str()) {
                return Err(Error::invalid(format!(
                    "unknown launcher argument '{}'",
                    pyval::shorten(key, 60)
                ))
                .with_hint(format!(
                    "known arguments: {}",
                    [&UPSTREAM_ARGS[..], &BERTH_ARGS[..]].concat().join(", ")
                )));
            }
        }

        cfg.workspace = match args.get("workspace") {
            Some(v) if pyval::is_truthy(v) => Some(
                v.as_str()
                    .ok_or_else(|| type_error("workspace", "a string (the host workspace path)", v))?
                    .to_string(),
            ),
            _ => env_workspace.filter(|w| !w.is_empty()),
        };
        if let Some(ws) = &cfg.workspace {
            if !ws.starts_with('/') {
                return Err(Error::invalid(format!("workspace must be an absolute host path, got '{ws}'"))
                    .with_hint("give the workspace path as the Docker daemon's host sees it, e.g. /srv/nvflare/site-1"));
            }
        }

        if let Some(v) = args.get("network") {
            let net = v
                .as_str()
                .ok_or_else(|| type_error("network", "a Docker network name", v))?;
            if !is_valid_network_name(net) {
                return Err(Error::invalid(format!(
                    "network '{}' is not a valid Docker network name",
                    pyval::shorten(net, 80)
                ))
                .with_hint("use letters, digits, '_', '.' and '-', starting with a letter or digit"));
            }
            cfg.network = net.to_string();
        }

        // default_python_path wins when not null; the deprecated python_path is its alias.
        let python = match (args.get("default_python_path"), args.get("python_path")) {
            (Some(v), _) if !v.is_null() => Some(v),
            (_, Some(v)) if !v.is_null() => Some(v),
            _ => None,
        };
        if let Some(v) = python {
            cfg.default_python_path = pyval::non_blank_str(v)
                .ok_or_else(|| {
                    Error::invalid(format!(
                        "default_python_path must be a non-empty string, got {}",
                        pyval::repr(v)
                    ))
                })?
                .to_string();
        }

        cfg.timeout = match args.get("timeout") {
            None => Some(DEFAULT_START_TIMEOUT_SECS),
            Some(Value::Null) => None,
            Some(v) => match v.as_f64().filter(|_| !v.is_boolean()) {
                Some(t) if t.is_finite() && t >= 0.0 => Some(t),
                _ => {
                    return Err(type_error(
                        "timeout",
                        "a non-negative number of seconds, or null to wait forever",
                        v,
                    ))
                }
            },
        };

        cfg.default_job_container_kwargs = optional_map(args, "default_job_container_kwargs")?;
        sdk_kwargs::refuse_reserved(&cfg.default_job_container_kwargs, "default_job_container_kwargs")?;

        cfg.default_job_env = optional_map(args, "default_job_env")?;
        for (name, value) in &cfg.default_job_env {
            if name.is_empty() || name.contains('=') || name.contains('\0') {
                return Err(Error::invalid(format!(
                    "default_job_env name '{}' is not a valid variable name",
                    name.escape_debug()
                ))
                .with_hint("names must be non-empty and contain no '=' or NUL"));
            }
            if security::is_launcher_owned_env(name) {
                return Err(Error::invalid(format!(
                    "default_job_env name '{name}' is launcher-owned and cannot be set by the site"
                ))
                .with_hint(format!(
                    "the launcher sets {} itself for every job; remove it from default_job_env",
                    security::LAUNCHER_OWNED_ENV_TEXT
                )));
            }
            if value.is_array() || value.is_object() {
                return Err(type_error(
                    &format!("default_job_env['{name}']"),
                    "a scalar value",
                    value,
                ));
            }
        }

        if let Some(v) = args.get("pull_missing_images") {
            cfg.pull_missing_images = v
                .as_bool()
                .ok_or_else(|| type_error("pull_missing_images", "true or false", v))?;
        }
        if let Some(v) = args.get("keep_failed_containers_hours") {
            cfg.keep_failed_containers_hours = v
                .as_f64()
                .filter(|h| !v.is_boolean() && h.is_finite() && *h >= 0.0)
                .ok_or_else(|| {
                    type_error(
                        "keep_failed_containers_hours",
                        "a non-negative number of hours",
                        v,
                    )
                })?;
        }
        if let Some(v) = args.get("orphan_policy") {
            cfg.orphan_policy = match v.as_str().and_then(|s| s.parse().ok()) {
                Some(policy) => policy,
                None => {
                    return Err(type_error(
                        "orphan_policy",
                        "one of 'adopt', 'terminate', 'report'",
                        v,
                    ))
                }
            };
        }
        cfg.engine_timeout = engine_seconds(args, "engine_timeout", cfg.engine_timeout)?;
        cfg.engine_outage_limit = engine_seconds(args, "engine_outage_limit", cfg.engine_outage_limit)?;
        if let Some(v) = args.get(security::PROFILE_ARG) {
            cfg.security_profile = SecurityProfile::from_arg(v)?;
        }
        cfg.allowed_images = ImageAllowlist::from_arg(args.get(security::ALLOWED_IMAGES_ARG))?;
        cfg.runtime = match args.get("runtime") {
            None | Some(Value::Null) => None,
            Some(v) => Some(runtime_name(v)?),
        };
        if cfg.runtime.is_some()
            && cfg
                .default_job_container_kwargs
                .get("runtime")
                .is_some_and(|v| !v.is_null())
        {
            return Err(Error::invalid(
                "the runtime is set twice: as launcher argument runtime and in default_job_container_kwargs",
            )
            .with_hint(
                "keep the launcher argument runtime and remove it from default_job_container_kwargs",
            ));
        }
        Ok(cfg)
    }
}

/// A positive number of seconds up to [`MAX_ENGINE_WAIT_SECS`]; `default` when absent.
fn engine_seconds(args: &Map, field: &str, default: f64) -> Result<f64> {
    match args.get(field) {
        None => Ok(default),
        Some(v) => v
            .as_f64()
            .filter(|t| !v.is_boolean() && t.is_finite() && *t > 0.0 && *t <= MAX_ENGINE_WAIT_SECS)
            .ok_or_else(|| {
                type_error(
                    field,
                    &format!("a number of seconds above 0 and at most {MAX_ENGINE_WAIT_SECS}"),
                    v,
                )
            }),
    }
}

/// An OCI runtime name as the engine's `--add-runtime` / daemon.json `runtimes` knows it.
fn runtime_name(v: &Value) -> Result<String> {
    match v.as_str() {
        Some(name)
            if !name.is_empty()
                && name.len() <= 128
                && name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-')) =>
        {
            Ok(name.to_string())
        }
        _ => Err(type_error(
            "runtime",
            "the name of a runtime the engine has configured (letters, digits, '_', '.', '-'), e.g. 'runsc'",
            v,
        )),
    }
}

fn type_error(field: &str, expected: &str, got: &Value) -> Error {
    Error::invalid(format!(
        "launcher argument {field} must be {expected}, got {}",
        pyval::repr(got)
    ))
}

fn optional_map(args: &Map, field: &str) -> Result<Map> {
    match args.get(field) {
        None | Some(Value::Null) => Ok(Map::new()),
        Some(Value::Object(m)) => Ok(m.clone()),
        Some(other) => Err(type_error(field, "a JSON object", other)),
    }
}

/// Docker's network name rule (the same alphabet as container names, one character allowed).
pub fn is_valid_network_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphanumeric())
        && name.len() <= 128
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))
}

/// The launcher section of a config file: its args, and the role its class names.
#[derive(Debug, Clone, PartialEq)]
pub struct LauncherSection {
    pub args: Map,
    /// From the component class (`ClientDockerJobLauncher` / `ServerDockerJobLauncher`);
    /// `None` for a plain args object.
    pub role: Option<Role>,
    /// The component's class path, when read from `resources.json`.
    pub class_path: Option<String>,
}

/// Read a config file's text: an NVFlare `resources.json` (the single component whose
/// class is a Client/Server Docker job launcher) or a plain JSON object of launcher args.
pub fn parse_config_text(text: &str, origin: &str) -> Result<LauncherSection> {
    let value = crate::strict_json::parse_value_strict(text, &format!("config '{origin}'"))?;
    let Value::Object(root) = value else {
        return Err(Error::invalid(format!(
            "config '{origin}' must be a JSON object (resources.json or launcher args), got {}",
            pyval::type_name(&value)
        )));
    };
    let Some(components) = root.get("components") else {
        return Ok(LauncherSection {
            args: root,
            role: None,
            class_path: None,
        });
    };
    let components = components
        .as_array()
        .ok_or_else(|| Error::invalid(format!("config '{origin}': 'components' must be a list")))?;
    let mut found: Vec<(Role, String, Map)> = Vec::new();
    for (i, component) in components.iter().enumerate() {
        let Some(component) = component.as_object() else {
            return Err(Error::invalid(format!(
                "config '{origin}': components[{i}] must be an object"
            )));
        };
        let Some(path) = component
            .get("path")
            .or_else(|| component.get("class_path"))
            .and_then(Value::as_str)
        else {
            continue;
        };
        let class = path.rsplit('.').next().unwrap_or(path);
        let role = match class {
            "ClientDockerJobLauncher" => Role::Client,
            "ServerDockerJobLauncher" => Role::Server,
            _ => continue,
        };
        let args = match component.get("args") {
            None | Some(Value::Null) => Map::new(),
            Some(Value::Object(a)) => a.clone(),
            Some(other) => {
                return Err(Error::invalid(format!(
                    "config '{origin}': components[{i}].args must be an object, got {}",
                    pyval::type_name(other)
                )))
            }
        };
        found.push((role, path.to_string(), args));
    }
    match found.len() {
        0 => Err(
            Error::invalid(format!("config '{origin}' has no Docker job launcher component")).with_hint(
                "add a component whose path ends in ClientDockerJobLauncher or ServerDockerJobLauncher",
            ),
        ),
        1 => {
            let (role, class_path, args) = found.remove(0);
            Ok(LauncherSection {
                args,
                role: Some(role),
                class_path: Some(class_path),
            })
        }
        n => Err(Error::invalid(format!(
            "config '{origin}' has {n} Docker job launcher components; exactly one must be configured"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ErrorKind;
    use serde_json::json;

    fn args(v: Value) -> Map {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn defaults() {
        let cfg = SiteConfig::from_args(&Map::new(), None).unwrap();
        assert_eq!(cfg, SiteConfig::default());
        assert_eq!(cfg.network, "nvflare-network");
        assert_eq!(cfg.default_python_path, "/usr/local/bin/python");
        assert_eq!(cfg.timeout, Some(30.0));
        assert_eq!(cfg.workspace, None);
        assert_eq!(cfg.engine_timeout, 30.0);
        assert_eq!(cfg.engine_outage_limit, 120.0);
    }

    #[test]
    fn engine_deadlines_are_positive_bounded_seconds() {
        let cfg = SiteConfig::from_args(
            &args(json!({"engine_timeout": 2.5, "engine_outage_limit": 10})),
            None,
        )
        .unwrap();
        assert_eq!((cfg.engine_timeout, cfg.engine_outage_limit), (2.5, 10.0));
        for bad in [
            json!(0),
            json!(-1),
            json!("30"),
            json!(true),
            json!(null),
            json!(1e9),
        ] {
            for field in ["engine_timeout", "engine_outage_limit"] {
                let e = SiteConfig::from_args(&args(json!({ field: bad.clone() })), None).unwrap_err();
                assert_eq!(e.kind(), ErrorKind::Invalid, "{field}={bad}");
                assert!(e.message().contains(field), "{}", e.message());
                assert!(e.message().contains("above 0"), "{}", e.message());
            }
        }
    }

    // C039 and the python_path alias rules
    #[test]
    fn python_path_resolution() {
        let e = SiteConfig::from_args(&args(json!({"default_python_path": "   "})), None).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Invalid);
        assert!(e
            .message()
            .contains("default_python_path must be a non-empty string"));
        let e = SiteConfig::from_args(
            &args(json!({"default_python_path": "", "python_path": "/ok"})),
            None,
        )
        .unwrap_err();
        assert!(e
            .message()
            .contains("default_python_path must be a non-empty string"));
        let cfg = SiteConfig::from_args(&args(json!({"python_path": "/opt/py"})), None).unwrap();
        assert_eq!(cfg.default_python_path, "/opt/py");
        let cfg = SiteConfig::from_args(
            &args(json!({"python_path": "/opt/py", "default_python_path": "/d"})),
            None,
        )
        .unwrap();
        assert_eq!(cfg.default_python_path, "/d");
    }

    // C040 (lazy: construction succeeds), C041
    #[test]
    fn workspace_falls_back_to_env() {
        assert_eq!(SiteConfig::from_args(&Map::new(), None).unwrap().workspace, None);
        let cfg = SiteConfig::from_args(&Map::new(), Some("/host/ws".into())).unwrap();
        assert_eq!(cfg.workspace.as_deref(), Some("/host/ws"));
        let cfg = SiteConfig::from_args(&args(json!({"workspace": ""})), Some("/host/ws".into())).unwrap();
        assert_eq!(cfg.workspace.as_deref(), Some("/host/ws"));
        let cfg = SiteConfig::from_args(&args(json!({"workspace": "/a"})), Some("/host/ws".into())).unwrap();
        assert_eq!(cfg.workspace.as_deref(), Some("/a"));
    }

    // C042
    #[test]
    fn reserved_container_kwargs_are_refused() {
        for key in sdk_kwargs::RESERVED_DOCKER_KWARGS {
            let e = SiteConfig::from_args(&args(json!({"default_job_container_kwargs": {key: 1}})), None)
                .unwrap_err();
            assert_eq!(e.kind(), ErrorKind::Invalid);
            assert!(e.message().contains("reserved"), "{key}: {e}");
            // Listed as upstream's Python list is printed.
            assert!(e.message().ends_with(&format!("['{key}']")), "{key}: {e}");
            // The hint names every reserved key, so it cannot fall behind the list.
            let hint = e.hint().expect("a hint");
            for reserved in sdk_kwargs::RESERVED_DOCKER_KWARGS {
                assert!(hint.contains(reserved), "hint lacks {reserved}: {hint}");
            }
        }
    }

    // C043, C044
    #[test]
    fn non_reserved_kwargs_and_env_are_kept_unchanged() {
        let cfg = SiteConfig::from_args(
            &args(json!({
                "default_job_container_kwargs": {"shm_size": "2g", "ipc_mode": "host"},
                "default_job_env": {"NCCL_P2P_DISABLE": "1"},
            })),
            None,
        )
        .unwrap();
        assert_eq!(
            Value::Object(cfg.default_job_container_kwargs),
            json!({"shm_size": "2g", "ipc_mode": "host"})
        );
        assert_eq!(
            Value::Object(cfg.default_job_env),
            json!({"NCCL_P2P_DISABLE": "1"})
        );
    }

    #[test]
    fn bad_types_name_the_field() {
        for (input, field) in [
            (json!({"network": 5}), "network"),
            (json!({"network": "bad name"}), "network"),
            (json!({"timeout": "30"}), "timeout"),
            (json!({"timeout": -1}), "timeout"),
            (json!({"timeout": true}), "timeout"),
            (json!({"workspace": 7}), "workspace"),
            (json!({"workspace": "relative/ws"}), "workspace"),
            (json!({"default_job_env": []}), "default_job_env"),
            (json!({"default_job_env": {"A": {"b": 1}}}), "default_job_env"),
            (
                json!({"default_job_container_kwargs": "shm_size=8g"}),
                "default_job_container_kwargs",
            ),
            (json!({"pull_missing_images": "yes"}), "pull_missing_images"),
            (json!({"orphan_policy": "ignore"}), "orphan_policy"),
            (
                json!({"keep_failed_containers_hours": -2}),
                "keep_failed_containers_hours",
            ),
            (json!({"netwrok": "x"}), "netwrok"),
        ] {
            let e = SiteConfig::from_args(&args(input.clone()), None).unwrap_err();
            assert_eq!(e.kind(), ErrorKind::Invalid, "{input}");
            assert!(e.message().contains(field), "{input}: {e}");
        }
        assert_eq!(
            SiteConfig::from_args(&args(json!({"timeout": null})), None)
                .unwrap()
                .timeout,
            None
        );
    }

    #[test]
    fn resources_json_component_gives_args_and_role() {
        let text = r#"{"format_version": 2, "components": [
            {"id": "resource_manager", "path": "nvflare.app_common.resource_managers.passthrough.PassthroughResourceManager", "args": {}},
            {"id": "docker_launcher", "path": "nvflare.app_opt.job_launcher.docker_launcher.ServerDockerJobLauncher",
             "args": {"network": "fl-net"}}]}"#;
        let s = parse_config_text(text, "resources.json").unwrap();
        assert_eq!(s.role, Some(Role::Server));
        assert_eq!(Value::Object(s.args), json!({"network": "fl-net"}));
        let plain = parse_config_text(r#"{"network": "x"}"#, "args.json").unwrap();
        assert_eq!(plain.role, None);
    }

    #[test]
    fn resources_json_errors() {
        for (text, phrase) in [
            ("[]", "must be a JSON object"),
            ("{", "could not parse"),
            (r#"{"components": {}}"#, "'components' must be a list"),
            (r#"{"components": [1]}"#, "components[0]"),
            (r#"{"components": []}"#, "no Docker job launcher component"),
            (
                r#"{"components": [{"path": "a.ClientDockerJobLauncher"}, {"path": "b.ServerDockerJobLauncher"}]}"#,
                "exactly one",
            ),
            (
                r#"{"components": [{"path": "a.ClientDockerJobLauncher", "args": []}]}"#,
                "args must be an object",
            ),
        ] {
            let e = parse_config_text(text, "resources.json").unwrap_err();
            assert!(e.message().contains(phrase), "{text}: {e}");
        }
    }
}
