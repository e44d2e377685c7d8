//! Job process args (`JOB_PROCESS_ARGS`: argument name -> `(flag, value)`) and the site
//! [`Role`] that picks which of them become module arguments.

use crate::pyval::{self, Map};
use crate::{Error, Result};
use serde_json::Value;
use std::fmt;
use std::str::FromStr;

/// Argument-name keys, as NVFlare's `JobProcessArgs` spells them.
pub mod keys {
    pub const EXE_MODULE: &str = "exe_module";
    pub const WORKSPACE: &str = "workspace";
    pub const STARTUP_DIR: &str = "startup_dir";
    pub const APP_ROOT: &str = "app_root";
    pub const JOB_ID: &str = "job_id";
    pub const CLIENT_NAME: &str = "client_name";
    pub const AUTH_TOKEN: &str = "auth_token";
    pub const TOKEN_SIGNATURE: &str = "auth_signature";
    pub const SSID: &str = "ssid";
    pub const PARENT_URL: &str = "parent_url";
    pub const PARENT_CONN_SEC: &str = "parent_conn_sec";
    pub const ROOT_URL: &str = "root_url";
    pub const SERVICE_HOST: &str = "service_host";
    pub const SERVICE_PORT: &str = "service_port";
    pub const TARGET: &str = "target";
    pub const SCHEME: &str = "scheme";
    pub const STARTUP_CONFIG_FILE: &str = "startup_config_file";
    pub const OPTIONS: &str = "options";
    pub const RESTORE_SNAPSHOT: &str = "restore_snapshot";
}

/// Credential args and the env names they travel under (never argv).
pub const CREDENTIAL_ENV: [(&str, &str); 3] = [
    (keys::AUTH_TOKEN, "NVFLARE_JOB_AUTH_TOKEN"),
    (keys::TOKEN_SIGNATURE, "NVFLARE_JOB_TOKEN_SIGNATURE"),
    (keys::SSID, "NVFLARE_JOB_SSID"),
];

/// Which side of a federation a site is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Role {
    Server,
    Client,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Server => "server",
            Role::Client => "client",
        }
    }

    /// The NVFlare launcher class name for this role.
    pub fn launcher_class(self) -> &'static str {
        match self {
            Role::Server => "ServerDockerJobLauncher",
            Role::Client => "ClientDockerJobLauncher",
        }
    }

    /// The job process args that become module arguments, in order
    /// (`ClientDockerJobLauncher` / `ServerDockerJobLauncher.get_module_args`).
    pub fn module_arg_names(self) -> &'static [&'static str] {
        match self {
            Role::Client => &[
                keys::WORKSPACE,
                keys::STARTUP_DIR,
                keys::JOB_ID,
                keys::CLIENT_NAME,
                keys::PARENT_URL,
                keys::PARENT_CONN_SEC,
                keys::TARGET,
                keys::SCHEME,
                keys::STARTUP_CONFIG_FILE,
            ],
            Role::Server => &[
                keys::WORKSPACE,
                keys::STARTUP_CONFIG_FILE,
                keys::APP_ROOT,
                keys::JOB_ID,
                keys::PARENT_URL,
                keys::PARENT_CONN_SEC,
                keys::ROOT_URL,
                keys::SERVICE_HOST,
                keys::SERVICE_PORT,
            ],
        }
    }

    /// The app folder name of this site inside a job folder: NVFlare's server always uses
    /// `app_server`, a client uses `app_<name>`.
    pub fn app_dir_name(self, site: &str) -> String {
        match self {
            Role::Server => "app_server".to_string(),
            Role::Client => format!("app_{site}"),
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Role {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "server" => Ok(Role::Server),
            "client" => Ok(Role::Client),
            other => Err(Error::invalid(format!(
                "role must be 'client' or 'server', got '{}'",
                pyval::shorten(other, 40)
            ))
            .with_hint("pass --role client or --role server")),
        }
    }
}

/// `JOB_PROCESS_ARGS` as the parent builds it: name -> `[flag, value]`, kept raw so each
/// consumer can apply upstream's own check (a malformed `parent_url` is a ValueError, a
/// missing `exe_module` a RuntimeError).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct JobProcessArgs {
    entries: Map,
}

impl JobProcessArgs {
    /// Wrap a JSON object `name -> [flag, value]`.
    pub fn from_map(entries: Map) -> Self {
        Self { entries }
    }

    /// Parse the JSON text of an args file; `origin` names it in errors.
    pub fn from_json(text: &str, origin: &str) -> Result<Self> {
        let entries = crate::strict_json::parse_object_strict(text, &format!("job process args '{origin}'"))
            .map_err(|e| e.with_hint("the args file is a JSON object of name -> [flag, value]"))?;
        Ok(Self { entries })
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    pub fn raw(&self, name: &str) -> Option<&Value> {
        self.entries.get(name)
    }

    pub fn as_map(&self) -> &Map {
        &self.entries
    }

    /// The `(flag, value)` pair of an entry that is truthy (upstream skips falsy entries).
    /// An entry that is not a `[flag, value]` pair is an error naming it.
    pub fn pair(&self, name: &str) -> Result<Option<(String, Value)>> {
        let Some(entry) = pyval::truthy(self.entries.get(name)) else {
            return Ok(None);
        };
        match entry.as_array().map(Vec::as_slice) {
            Some([flag, value]) => {
                let flag = match flag {
                    Value::String(s) => s.clone(),
                    other => pyval::python_str(other).unwrap_or_default(),
                };
                Ok(Some((flag, value.clone())))
            }
            _ => Err(Error::invalid(format!(
                "malformed {name} in JOB_PROCESS_ARGS: expected [flag, value], got {}",
                pyval::repr(entry)
            ))
            .with_hint("each job process arg must be a two-item list [flag, value]")),
        }
    }

    /// A copy with one entry replaced.
    pub fn with(&self, name: &str, flag: &str, value: Value) -> Self {
        let mut entries = self.entries.clone();
        entries.insert(
            name.to_string(),
            Value::Array(vec![Value::String(flag.to_string()), value]),
        );
        Self { entries }
    }

    /// The module's `{flag: value}` arguments for `role`, in order: later duplicate flags
    /// overwrite the value but keep the first position; null values are dropped.
    pub fn module_args(&self, role: Role) -> Result<Vec<(String, Value)>> {
        let mut out: Vec<(String, Value)> = Vec::new();
        for name in role.module_arg_names() {
            if let Some((flag, value)) = self.pair(name)? {
                match out.iter_mut().find(|(f, _)| *f == flag) {
                    Some(slot) => slot.1 = value,
                    None => out.push((flag, value)),
                }
            }
        }
        out.retain(|(_, v)| !v.is_null());
        Ok(out)
    }

    /// The module arguments as argv items: flag, then Python's `str(value)`.
    pub fn module_argv(&self, role: Role) -> Result<Vec<String>> {
        let mut argv = Vec::new();
        for (flag, value) in self.module_args(role)? {
            argv.push(flag);
            argv.push(pyval::python_str(&value).unwrap_or_default());
        }
        Ok(argv)
    }

    /// Credential env (`NVFLARE_JOB_*`) from the credential args: only truthy entries with
    /// truthy values, stringified; empty ones are skipped so the job fails loudly itself.
    pub fn credential_env(&self) -> Result<Vec<(String, String)>> {
        let mut env = Vec::new();
        for (arg, env_name) in CREDENTIAL_ENV {
            if let Some((_, value)) = self.pair(arg)? {
                if pyval::is_truthy(&value) {
                    env.push((
                        env_name.to_string(),
                        pyval::python_str(&value).unwrap_or_default(),
                    ));
                }
            }
        }
        Ok(env)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn args(v: Value) -> JobProcessArgs {
        JobProcessArgs::from_map(v.as_object().unwrap().clone())
    }

    // C132 / C133
    #[test]
    fn both_roles_build_empty_module_args_from_empty_input() {
        let empty = JobProcessArgs::default();
        assert!(empty.module_args(Role::Client).unwrap().is_empty());
        assert!(empty.module_args(Role::Server).unwrap().is_empty());
    }

    #[test]
    fn client_order_and_credentials_excluded() {
        let a = args(json!({
            "exe_module": ["-m", "nvflare.private.fed.app.client.worker_process"],
            "scheme": ["-scheme", "grpc"],
            "workspace": ["-m", "/ws"],
            "job_id": ["-n", "job-1"],
            "auth_token": ["-t", "secret-token"],
            "startup_dir": ["-w", "/ws/startup"],
            "client_name": ["-c", "site-1"],
            "ssid": ["-d", "secret-ssid"],
            "options": ["--set", "a=b"],
        }));
        let argv = a.module_argv(Role::Client).unwrap();
        assert_eq!(
            argv,
            [
                "-m",
                "/ws",
                "-w",
                "/ws/startup",
                "-n",
                "job-1",
                "-c",
                "site-1",
                "-scheme",
                "grpc"
            ]
        );
        assert!(argv.iter().all(|s| !s.contains("secret")));
    }

    #[test]
    fn server_order() {
        let a = args(json!({
            "service_port": ["--port", 8003],
            "workspace": ["-m", "/ws"],
            "app_root": ["-r", "/ws/j/app_server"],
            "startup_config_file": ["-s", "fed_server.json"],
            "job_id": ["-n", "j"],
        }));
        assert_eq!(
            a.module_argv(Role::Server).unwrap(),
            [
                "-m",
                "/ws",
                "-s",
                "fed_server.json",
                "-r",
                "/ws/j/app_server",
                "-n",
                "j",
                "--port",
                "8003"
            ]
        );
    }

    #[test]
    fn duplicate_flags_keep_first_position_and_last_value_and_null_is_dropped() {
        let a = args(json!({
            "workspace": ["-x", "first"],
            "startup_dir": ["-w", null],
            "job_id": ["-x", "second"],
            "client_name": ["-c", ""],
        }));
        assert_eq!(a.module_argv(Role::Client).unwrap(), ["-x", "second", "-c", ""]);
    }

    // C226, C227, C228
    #[test]
    fn credentials_become_env_stringified_and_empty_ones_are_skipped() {
        let a = args(json!({
            "auth_token": ["-t", "secret-token"],
            "auth_signature": ["-ts", "secret-signature"],
            "ssid": ["-d", "secret-ssid"],
        }));
        assert_eq!(
            a.credential_env().unwrap(),
            [
                ("NVFLARE_JOB_AUTH_TOKEN".to_string(), "secret-token".to_string()),
                (
                    "NVFLARE_JOB_TOKEN_SIGNATURE".to_string(),
                    "secret-signature".to_string()
                ),
                ("NVFLARE_JOB_SSID".to_string(), "secret-ssid".to_string()),
            ]
        );
        let only_ssid = args(json!({"ssid": ["-d", 12345]}));
        assert_eq!(
            only_ssid.credential_env().unwrap(),
            [("NVFLARE_JOB_SSID".to_string(), "12345".to_string())]
        );
        let empty = args(json!({"auth_token": ["-t", ""], "ssid": ["-d", null]}));
        assert!(empty.credential_env().unwrap().is_empty());
    }

    #[test]
    fn malformed_entry_names_the_arg() {
        let a = args(json!({"job_id": "j"}));
        let e = a.module_args(Role::Client).unwrap_err();
        assert!(e.message().contains("malformed job_id"), "{e}");
    }

    #[test]
    fn non_object_args_file_is_invalid() {
        let e = JobProcessArgs::from_json("[1]", "args.json").unwrap_err();
        assert_eq!(e.kind(), crate::ErrorKind::Invalid);
        assert!(e.message().contains("args.json"));
        let e = JobProcessArgs::from_json("{", "args.json").unwrap_err();
        assert!(e.message().contains("could not parse"));
    }
}
