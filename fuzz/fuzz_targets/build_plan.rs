//! A whole launch from fuzzed inputs: the input is split on NUL bytes into the job meta,
//! the job process args, the launcher args and the study runtime file. Every accepted plan
//! must meet the site policy the test suite checks (`tests/plan_policy`); a breach is a crash.
#![no_main]

#[path = "../../crates/berth-core/tests/plan_policy/mod.rs"]
mod plan_policy;

use berth_core::args::{JobProcessArgs, Role};
use berth_core::config::SiteConfig;
use libfuzzer_sys::fuzz_target;
use plan_policy::scenario::{self, Scenario};
use serde_json::{json, Value};
use std::collections::BTreeMap;

fn object(text: &str) -> Option<serde_json::Map<String, Value>> {
    match serde_json::from_str(text) {
        Ok(Value::Object(m)) => Some(m),
        _ => None,
    }
}

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let mut parts = text.split('\0');
    let Some(meta) = parts.next().and_then(object) else {
        return;
    };
    let args = parts.next().and_then(object).map(JobProcessArgs::from_map);
    let mut site_args = parts.next().and_then(object).unwrap_or_default();
    let study_runtime = parts.next().map(str::to_string);

    let Ok(dir) = tempfile::tempdir() else { return };
    let Ok(tmp) = dir.path().canonicalize() else {
        return;
    };
    let ws = tmp.join("ws").to_string_lossy().into_owned();
    site_args.insert("workspace".into(), json!(ws));
    let Ok(site_config) = SiteConfig::from_args(&site_args, None) else {
        return;
    };
    let sc = Scenario {
        site: "site-1".into(),
        role: Role::Client,
        meta,
        args,
        set_options: Vec::new(),
        study_runtime,
        study_data: None,
        fs: Vec::new(),
        launcher_env: BTreeMap::from([("USER".to_string(), "launcher-user".to_string())]),
        uid: 1000,
        gid: 1000,
        workspace_object: true,
    };
    let job_id = sc.meta.get("job_id").and_then(Value::as_str).map(str::to_string);
    if scenario::prepare_workspace(&tmp, job_id.as_deref(), &sc).is_err() {
        return;
    }
    let outcome = scenario::run(&sc, &site_config, &ws);
    if let (Ok(plan), Err(breach)) = (&outcome.result, &outcome.policy) {
        panic!("policy breach: {breach}\nplan: {}", plan.to_json());
    }
});
