//! Fixtures shared by the plan-level tests: upstream's launcher test defaults (site
//! `site-1`, workspace `/ws`, the default `JOB_PROCESS_ARGS` and job meta), a temporary
//! parent view to write study files into, and a fixed launcher environment.

#![allow(dead_code)]

use berth_core::args::{JobProcessArgs, Role};
use berth_core::config::SiteConfig;
use berth_core::plan::{build_plan, ContainerPlan, PlanRequest};
use berth_core::{Error, ErrorKind, Result};
use serde_json::{json, Value};
use std::collections::HashMap;
use std::path::Path;

pub const UID: u32 = 1000;
pub const GID: u32 = 1000;
pub const IMAGE: &str = "nvflare/nvflare:test";
pub const MOUNT: &str = "/var/tmp/nvflare/workspace";
pub const CLIENT_MODULE: &str = "nvflare.private.fed.app.client.worker_process";
pub const SERVER_MODULE: &str = "nvflare.private.fed.app.server.runner_process";

/// Upstream's `JOB_PROCESS_ARGS` fixture for the client launcher tests.
pub fn default_args() -> Value {
    json!({
        "exe_module": ["", CLIENT_MODULE],
        "parent_url": ["-u", "tcp://localhost:8002"],
        "workspace": ["-w", "/ws"],
        "startup_dir": ["-s", "/ws/startup"],
    })
}

/// Upstream's job meta fixture, with `extra` merged into the site's docker block.
pub fn meta_with_docker(extra: Value) -> Value {
    let mut docker = json!({"image": IMAGE});
    for (k, v) in obj(extra) {
        docker[k] = v;
    }
    json!({
        "job_id": "job-1",
        "deploy_map": {"app": ["site-1"]},
        "launcher_spec": {"site-1": {"docker": docker}},
    })
}

pub use berth_testkit::obj;

/// One launch: site config args, identity, meta, args, study files, launcher env.
pub struct Fixture {
    pub site_args: Value,
    pub env_workspace: Option<String>,
    pub site: String,
    pub role: Role,
    pub meta: Value,
    pub args: Option<Value>,
    pub set: Vec<String>,
    pub parent: tempfile::TempDir,
    pub workspace_object: bool,
    pub env: HashMap<String, String>,
}

impl Fixture {
    /// Upstream's client launcher fixture: workspace `/ws`, site `site-1`, the default meta
    /// and args, no workspace object, no study files, an empty launcher environment.
    pub fn client() -> Self {
        Self {
            site_args: json!({"workspace": "/ws"}),
            env_workspace: None,
            site: "site-1".into(),
            role: Role::Client,
            meta: meta_with_docker(json!({})),
            args: Some(default_args()),
            set: Vec::new(),
            parent: tempfile::tempdir().expect("tempdir"),
            workspace_object: false,
            env: HashMap::new(),
        }
    }

    pub fn meta(mut self, meta: Value) -> Self {
        self.meta = meta;
        self
    }

    pub fn docker(self, extra: Value) -> Self {
        self.meta(meta_with_docker(extra))
    }

    pub fn meta_set(mut self, key: &str, value: Value) -> Self {
        self.meta[key] = value;
        self
    }

    pub fn site_args(mut self, args: Value) -> Self {
        self.site_args = args;
        self
    }

    pub fn site_arg(mut self, key: &str, value: Value) -> Self {
        self.site_args[key] = value;
        self
    }

    pub fn arg(mut self, name: &str, flag: &str, value: Value) -> Self {
        let args = self.args.get_or_insert_with(|| json!({}));
        args[name] = json!([flag, value]);
        self
    }

    pub fn args(mut self, args: Option<Value>) -> Self {
        self.args = args;
        self
    }

    pub fn env(mut self, name: &str, value: &str) -> Self {
        self.env.insert(name.into(), value.into());
        self
    }

    pub fn with_workspace_object(mut self) -> Self {
        self.workspace_object = true;
        self
    }

    pub fn parent_root(&self) -> &Path {
        self.parent.path()
    }

    /// Write `local/<name>` in the parent view.
    pub fn site_file(&self, name: &str, text: &str) -> &Self {
        let local = self.parent.path().join("local");
        std::fs::create_dir_all(&local).expect("create local/");
        std::fs::write(local.join(name), text).expect("write site file");
        self
    }

    pub fn runtime_yaml(self, text: &str) -> Self {
        self.site_file("study_runtime.yaml", text);
        self
    }

    pub fn study_data_yaml(self, text: &str) -> Self {
        self.site_file("study_data.yaml", text);
        self
    }

    pub fn config(&self) -> Result<SiteConfig> {
        SiteConfig::from_args(&obj(self.site_args.clone()), self.env_workspace.clone())
    }

    pub fn plan(&self) -> Result<ContainerPlan> {
        let config = self.config()?;
        let meta = obj(self.meta.clone());
        let args = self.args.clone().map(|a| JobProcessArgs::from_map(obj(a)));
        let env = |name: &str| self.env.get(name).cloned();
        build_plan(&PlanRequest {
            site_config: &config,
            site: &self.site,
            role: self.role,
            job_meta: &meta,
            job_args: args.as_ref(),
            set_options: &self.set,
            parent_root: self.parent.path(),
            workspace_object: self.workspace_object,
            launcher_env: &env,
            uid: UID,
            gid: GID,
            berth_python: false,
        })
    }

    /// The create body of a plan that must succeed.
    pub fn create(&self) -> Value {
        match self.plan() {
            Ok(plan) => plan.create,
            Err(e) => panic!("expected a plan, got {:?}: {e}", e.kind()),
        }
    }

    /// The error of a plan that must fail (the engine is never reached).
    pub fn err(&self) -> Error {
        match self.plan() {
            Ok(plan) => panic!("expected an error, got a plan: {}", plan.create),
            Err(e) => e,
        }
    }
}

/// Assert an error's kind and that its message holds each phrase.
pub fn assert_err(e: &Error, kind: ErrorKind, phrases: &[&str]) {
    assert_eq!(e.kind(), kind, "wrong kind for: {e}");
    for p in phrases {
        assert!(e.message().contains(p), "message lacks {p:?}: {e}");
    }
}

pub fn refused(f: &Fixture, phrases: &[&str]) -> Error {
    let e = f.err();
    assert_err(&e, ErrorKind::Refused, phrases);
    e
}

pub fn invalid(f: &Fixture, phrases: &[&str]) -> Error {
    let e = f.err();
    assert_err(&e, ErrorKind::Invalid, phrases);
    e
}

pub fn cmd(create: &Value) -> Vec<String> {
    strings(&create["Cmd"])
}

pub fn env_list(create: &Value) -> Vec<String> {
    strings(&create["Env"])
}

pub fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .expect("a list")
        .iter()
        .map(|s| s.as_str().expect("a string").to_string())
        .collect()
}

/// `Env` as a name -> value map (a bare `KEY` maps to `None`).
pub fn env_map(create: &Value) -> HashMap<String, Option<String>> {
    env_list(create)
        .into_iter()
        .map(|kv| match kv.split_once('=') {
            Some((k, v)) => (k.to_string(), Some(v.to_string())),
            None => (kv, None),
        })
        .collect()
}

pub fn mounts(create: &Value) -> Vec<Value> {
    create["HostConfig"]["Mounts"]
        .as_array()
        .expect("Mounts is a list")
        .clone()
}

/// The mount with this container path.
pub fn mount_at(create: &Value, target: &str) -> Value {
    mounts(create)
        .into_iter()
        .find(|m| m["Target"] == target)
        .unwrap_or_else(|| panic!("no mount at {target}: {}", create["HostConfig"]["Mounts"]))
}

pub fn bind(source: &str, target: &str, read_only: bool) -> Value {
    json!({"Type": "bind", "Source": source, "Target": target, "ReadOnly": read_only})
}

/// The three workspace binds upstream puts at mounts[1..4], for host workspace `ws`.
pub fn workspace_binds(ws: &str, job: &str) -> Vec<Value> {
    vec![
        bind(&format!("{ws}/startup"), &format!("{MOUNT}/startup"), true),
        bind(&format!("{ws}/local"), &format!("{MOUNT}/local"), true),
        bind(&format!("{ws}/{job}"), &format!("{MOUNT}/{job}"), false),
    ]
}
