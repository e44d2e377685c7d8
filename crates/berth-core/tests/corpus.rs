//! The adversarial corpus: every case in `tests/corpus/*.jsonl` is run through config
//! parsing, args parsing and `build_plan` in its own temporary workspace, and its stated
//! outcome is checked. Every accepted plan must also pass the site policy check.
//!
//! Case format (one JSON object per line; blank lines and lines starting with `#` are
//! comments) — see `tests/corpus/README.md`.

mod plan_policy;

use berth_core::strict_json;
use berth_core::ErrorKind;

use berth_core::args::{JobProcessArgs, Role};
use berth_core::config::{parse_config_text, SiteConfig};
use berth_core::pyval::Map;
use plan_policy::scenario::{self, FsOp, Scenario};
use serde_json::{json, Value};
use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};

const DEFAULT_IMAGE: &str = "nvflare/nvflare:test";

fn corpus_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests").join("corpus")
}

struct Case {
    file: String,
    line: usize,
    name: String,
    raw: Map,
}

fn load_cases() -> Vec<Case> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(corpus_dir())
        .expect("tests/corpus exists")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "jsonl"))
        .collect();
    files.sort();
    let mut cases = Vec::new();
    for path in files {
        let file = path
            .file_name()
            .unwrap_or_default()
            .to_string_lossy()
            .into_owned();
        let text = std::fs::read_to_string(&path).expect("corpus file is readable");
        for (i, line) in text.lines().enumerate() {
            let line_no = i + 1;
            let trimmed = line.trim();
            if trimmed.is_empty() || trimmed.starts_with('#') {
                continue;
            }
            let raw: Map = match serde_json::from_str(trimmed) {
                Ok(Value::Object(m)) => m,
                Ok(_) => panic!("{file}:{line_no}: a case must be a JSON object"),
                Err(e) => panic!("{file}:{line_no}: {e}"),
            };
            let name = raw
                .get("name")
                .and_then(Value::as_str)
                .unwrap_or_else(|| panic!("{file}:{line_no}: case without a name"))
                .to_string();
            cases.push(Case {
                file: file.clone(),
                line: line_no,
                name,
                raw,
            });
        }
    }
    cases
}

/// Replace `$TMP` (the case's temporary folder) and `$WS` (the workspace inside it) in every
/// string of a JSON tree.
fn subst(v: &Value, tmp: &str, ws: &str) -> Value {
    let s = |s: &str| s.replace("$TMP", tmp).replace("$WS", ws);
    match v {
        Value::String(text) => Value::String(s(text)),
        Value::Array(items) => Value::Array(items.iter().map(|i| subst(i, tmp, ws)).collect()),
        Value::Object(m) => Value::Object(m.iter().map(|(k, v)| (s(k), subst(v, tmp, ws))).collect()),
        other => other.clone(),
    }
}

fn obj(v: &Value, what: &str) -> Result<Map, String> {
    v.as_object()
        .cloned()
        .ok_or_else(|| format!("{what} must be an object"))
}

fn default_meta(site: &str) -> Map {
    obj(
        &json!({"job_id": "job-1", "launcher_spec": {site: {"docker": {"image": DEFAULT_IMAGE}}}}),
        "meta",
    )
    .unwrap_or_default()
}

fn default_args() -> Map {
    obj(
        &json!({
            "exe_module": ["-m", "nvflare.private.fed.app.client.worker_process"],
            "workspace": ["-m", "/var/tmp/nvflare/workspace"],
            "startup_dir": ["-w", "/var/tmp/nvflare/workspace/startup"],
            "job_id": ["-n", "job-1"],
            "client_name": ["-c", "site-1"],
            "auth_token": ["-t", "token-SECRET-0123456789"],
            "auth_signature": ["-ts", "signature-SECRET-0123456789"],
            "ssid": ["-d", "ssid-SECRET-0123456789"],
            "parent_url": ["-p", "tcp://localhost:8004"],
            "parent_conn_sec": ["--parent_conn_sec", "clear"],
        }),
        "args",
    )
    .unwrap_or_default()
}

fn fs_ops(v: Option<&Value>) -> Result<Vec<FsOp>, String> {
    let Some(v) = v else { return Ok(Vec::new()) };
    let items = v.as_array().ok_or("fs must be a list")?;
    let mut out = Vec::new();
    for item in items {
        let m = item.as_object().ok_or("fs item must be an object")?;
        let s = |k: &str| m.get(k).and_then(Value::as_str).map(str::to_string);
        let op = if let Some(p) = s("mkdir") {
            FsOp::Dir(p)
        } else if let Some(p) = s("file") {
            FsOp::File(p, s("text").unwrap_or_default())
        } else if let Some(p) = s("symlink") {
            FsOp::Symlink(p, s("to").ok_or("symlink needs 'to'")?)
        } else if let Some(p) = s("socket") {
            FsOp::Socket(p)
        } else if let Some(p) = s("remove") {
            FsOp::Remove(p)
        } else {
            return Err(format!("unknown fs op {item}"));
        };
        out.push(op);
    }
    Ok(out)
}

/// What went wrong for a mismatching case.
fn run_case(case: &Case) -> Result<(), String> {
    let c = &case.raw;
    let tmp = tempfile::tempdir().map_err(|e| e.to_string())?;
    let site = c
        .get("site_name")
        .and_then(Value::as_str)
        .unwrap_or("site-1")
        .to_string();
    let role: Role = c
        .get("role")
        .and_then(Value::as_str)
        .unwrap_or("client")
        .parse()
        .map_err(|e| format!("bad role: {e}"))?;

    // Substitute the case's paths first: the workspace is `<tmp>/ws`.
    let tmp_path = std::fs::canonicalize(tmp.path()).map_err(|e| e.to_string())?;
    let tmp_dir = tmp_path.to_string_lossy().into_owned();
    let ws = tmp_path.join("ws").to_string_lossy().into_owned();
    let c: Map = match subst(&Value::Object(c.clone()), &tmp_dir, &ws) {
        Value::Object(m) => m,
        _ => unreachable!("an object stays an object"),
    };
    // The job id decides which folder is created up front; read it from the raw inputs.
    let pre_job_id = c
        .get("meta")
        .and_then(|m| m.get("job_id"))
        .or_else(|| c.get("meta_merge").and_then(|m| m.get("job_id")))
        .map_or(Some("job-1"), Value::as_str);
    let mut sc = Scenario {
        site: site.clone(),
        role,
        meta: Map::new(),
        args: None,
        set_options: Vec::new(),
        study_runtime: study_runtime_text(&c),
        study_data: c.get("study_data").and_then(Value::as_str).map(str::to_string),
        fs: fs_ops(c.get("fs"))?,
        launcher_env: BTreeMap::new(),
        uid: c.get("uid").and_then(Value::as_u64).unwrap_or(1000) as u32,
        gid: c.get("gid").and_then(Value::as_u64).unwrap_or(1000) as u32,
        workspace_object: c.get("workspace_object").and_then(Value::as_bool).unwrap_or(true),
    };
    scenario::prepare_workspace(&tmp_path, pre_job_id, &sc).map_err(|e| format!("setup: {e}"))?;

    sc.launcher_env = match c.get("launcher_env") {
        Some(v) => obj(v, "launcher_env")?
            .into_iter()
            .map(|(k, v)| (k, v.as_str().unwrap_or_default().to_string()))
            .collect(),
        None => [("USER", "launcher-user"), ("HOME", "/home/launcher")]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
    };
    sc.set_options = c
        .get("set")
        .and_then(Value::as_array)
        .map(|items| {
            items
                .iter()
                .map(|i| i.as_str().unwrap_or_default().to_string())
                .collect()
        })
        .unwrap_or_default();

    let outcome = (|| -> Result<Option<scenario::Outcome>, berth_core::Error> {
        // Site config: raw file text, or an args object (default: just the workspace).
        let env_ws = c.get("env_workspace").and_then(Value::as_str).map(str::to_string);
        let site_args = if let Some(text) = c.get("config_text").and_then(Value::as_str) {
            // The strict reader first (duplicate keys), then the launcher section.
            strict_json::parse_value_strict(text, "config 'resources.json'")?;
            parse_config_text(text, "resources.json")?.args
        } else {
            let mut args = match c.get("site") {
                Some(v) => v.as_object().cloned().unwrap_or_default(),
                None => obj(&json!({"workspace": ws}), "site").unwrap_or_default(),
            };
            if let Some(Value::Object(extra)) = c.get("site_merge") {
                args.extend(extra.clone());
            }
            args
        };
        let site_config = SiteConfig::from_args(&site_args, env_ws)?;

        // Job process args.
        sc.args = if let Some(text) = c.get("args_text").and_then(Value::as_str) {
            let map = strict_json::parse_object_strict(text, "job process args 'args.json'")?;
            Some(JobProcessArgs::from_map(map))
        } else if c.get("args_none").and_then(Value::as_bool) == Some(true) {
            None
        } else {
            let mut args = match c.get("args") {
                Some(v) => v.as_object().cloned().unwrap_or_default(),
                None => default_args(),
            };
            if let Some(Value::Object(extra)) = c.get("args_merge") {
                for (k, v) in extra {
                    if v.is_null() {
                        args.shift_remove(k);
                    } else {
                        args.insert(k.clone(), v.clone());
                    }
                }
            }
            Some(JobProcessArgs::from_map(args))
        };

        // Job meta.
        sc.meta = if let Some(text) = meta_text(&c).as_deref() {
            strict_json::parse_object_strict(text, "job meta 'meta.json'")?
        } else {
            let mut meta = match c.get("meta") {
                Some(Value::Object(m)) => m.clone(),
                Some(_) => panic!("meta must be an object; use meta_text for other shapes"),
                None => default_meta(&site),
            };
            if let Some(docker) = c.get("docker") {
                meta.insert("launcher_spec".into(), json!({ &site: {"docker": docker} }));
            }
            if let Some(Value::Object(extra)) = c.get("docker_merge") {
                let mut docker = obj(&json!({"image": DEFAULT_IMAGE}), "docker").unwrap_or_default();
                docker.extend(extra.clone());
                meta.insert("launcher_spec".into(), json!({ &site: {"docker": docker} }));
            }
            if let Some(Value::Object(extra)) = c.get("meta_merge") {
                meta.extend(extra.clone());
            }
            meta
        };
        if c.get("stop_after_parse").and_then(Value::as_bool) == Some(true) {
            return Ok(None);
        }
        Ok(Some(scenario::run(&sc, &site_config, &ws)))
    })();

    let (result, policy) = match outcome {
        Err(e) => (Err(e), Ok(())),
        Ok(None) => return check_parse_only(&c),
        Ok(Some(o)) => (o.result, o.policy),
    };
    let expect = c
        .get("expect")
        .and_then(Value::as_object)
        .ok_or("case has no expect object")?;
    match (expect.get("error"), result) {
        (Some(kind), Err(e)) => {
            let want = match kind.as_str() {
                Some("invalid") => ErrorKind::Invalid,
                Some("refused") => ErrorKind::Refused,
                _ => return Err(format!("bad expect.error {kind}")),
            };
            let phrase = expect.get("phrase").and_then(Value::as_str).unwrap_or_default();
            if e.kind() != want || !e.message().contains(phrase) {
                return Err(format!(
                    "expected {kind} containing {phrase:?}, got {:?}: {}",
                    e.kind(),
                    e.message()
                ));
            }
            Ok(())
        }
        (Some(kind), Ok(plan)) => Err(format!(
            "expected {kind} error {:?}, but it was accepted: {}",
            expect.get("phrase"),
            plan.to_json()
        )),
        (None, Err(e)) => Err(format!(
            "expected acceptance, got {:?}: {}",
            e.kind(),
            e.message()
        )),
        (None, Ok(plan)) => {
            policy.map_err(|p| format!("policy breach: {p}\nplan: {}", plan.to_json()))?;
            let checks = expect
                .get("ok")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default();
            for check in &checks {
                assert_check(&plan, check).map_err(|e| format!("{e}\nplan: {}", plan.to_json()))?;
            }
            Ok(())
        }
    }
}

fn check_parse_only(c: &Map) -> Result<(), String> {
    match c.get("expect").and_then(|e| e.get("error")) {
        None => Ok(()),
        Some(k) => Err(format!("expected {k} error while parsing, but parsing succeeded")),
    }
}

fn env_of(plan: &berth_core::plan::ContainerPlan) -> Vec<String> {
    berth_core::pyval::string_items(plan.create.get("Env"))
}

/// One assertion on an accepted plan.
fn assert_check(plan: &berth_core::plan::ContainerPlan, check: &Value) -> Result<(), String> {
    let m = check.as_object().ok_or("check must be an object")?;
    let body = &plan.create;
    for (op, arg) in m {
        match op.as_str() {
            // {"absent": "/HostConfig/Privileged"} (a JSON pointer, or a list of them)
            "absent" => {
                let ptrs: Vec<&Value> = arg.as_array().map_or(vec![arg], |a| a.iter().collect());
                for p in ptrs {
                    let p = p.as_str().unwrap_or_default();
                    if let Some(v) = body.pointer(p) {
                        return Err(format!("{p} should be absent, is {v}"));
                    }
                }
            }
            // {"eq": {"/HostConfig/ShmSize": 8589934592}}
            "eq" => {
                for (p, want) in arg.as_object().ok_or("eq takes an object")? {
                    let got = body.pointer(p);
                    if got != Some(want) {
                        return Err(format!("{p} is {got:?}, expected {want}"));
                    }
                }
            }
            // {"env": {"USER": "launcher-user", "FLAG": null}}: null is a bare KEY
            "env" => {
                let env = env_of(plan);
                for (k, want) in arg.as_object().ok_or("env takes an object")? {
                    let entry = match want.as_str() {
                        Some(v) => format!("{k}={v}"),
                        None => k.clone(),
                    };
                    let same_name: Vec<&String> = env
                        .iter()
                        .filter(|e| e.split_once('=').map_or(e.as_str(), |(n, _)| n) == k)
                        .collect();
                    if same_name != [&entry] {
                        return Err(format!(
                            "Env {k}: expected exactly [{entry:?}], got {same_name:?}"
                        ));
                    }
                }
            }
            "env_absent" => {
                let env = env_of(plan);
                for k in arg.as_array().ok_or("env_absent takes a list")? {
                    let k = k.as_str().unwrap_or_default();
                    if env
                        .iter()
                        .any(|e| e.split_once('=').map_or(e.as_str(), |(n, _)| n) == k)
                    {
                        return Err(format!("Env should not have {k}"));
                    }
                }
            }
            // {"cmd_has": ["--set", "a=b"]}: these items appear in Cmd, in order, adjacent
            "cmd_has" => {
                let want: Vec<&Value> = arg.as_array().ok_or("cmd_has takes a list")?.iter().collect();
                let cmd: Vec<&Value> = body["Cmd"]
                    .as_array()
                    .map(|a| a.iter().collect())
                    .unwrap_or_default();
                if !cmd.windows(want.len().max(1)).any(|w| w == want.as_slice()) {
                    return Err(format!("Cmd {} lacks {arg}", body["Cmd"]));
                }
            }
            "cmd_lacks" => {
                let needle = arg.as_str().unwrap_or_default();
                if body["Cmd"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .any(|c| c.as_str().is_some_and(|c| c.contains(needle)))
                {
                    return Err(format!("Cmd {} contains {needle:?}", body["Cmd"]));
                }
            }
            // {"mounts": 4}: the number of mounts
            "mounts" => {
                let n = body["HostConfig"]["Mounts"].as_array().map_or(0, Vec::len);
                if Some(n as u64) != arg.as_u64() {
                    return Err(format!("{n} mounts, expected {arg}"));
                }
            }
            // {"mount": {"Target": "/data/s/d", "Source": "/srv/d", "ReadOnly": true}}
            "mount" => {
                let found = body["HostConfig"]["Mounts"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .any(|m| {
                        arg.as_object()
                            .into_iter()
                            .flatten()
                            .all(|(k, v)| m.get(k) == Some(v))
                    });
                if !found {
                    return Err(format!("no mount matches {arg}"));
                }
            }
            "warning" => {
                let phrase = arg.as_str().unwrap_or_default();
                if !plan.warnings.iter().any(|w| w.contains(phrase)) {
                    return Err(format!("no warning contains {phrase:?}: {:?}", plan.warnings));
                }
            }
            "name" => {
                if Some(plan.name.as_str()) != arg.as_str() {
                    return Err(format!("name is {:?}, expected {arg}", plan.name));
                }
            }
            "name_len_max" => {
                if plan.name.len() as u64 > arg.as_u64().unwrap_or(0) {
                    return Err(format!("name {:?} is longer than {arg}", plan.name));
                }
            }
            other => return Err(format!("unknown check {other}")),
        }
    }
    Ok(())
}

#[test]
fn corpus_cases_have_their_stated_outcome() {
    let cases = load_cases();
    let mut names = HashSet::new();
    let mut failures = Vec::new();
    let mut per_file: BTreeMap<&str, (usize, usize, usize)> = BTreeMap::new();
    for case in &cases {
        if !names.insert(case.name.clone()) {
            failures.push(format!(
                "{}:{} duplicate case name {}",
                case.file, case.line, case.name
            ));
        }
        let accepted = case.raw.get("expect").is_some_and(|e| e.get("error").is_none());
        let entry = per_file.entry(&case.file).or_default();
        entry.0 += 1;
        if accepted {
            entry.1 += 1;
        } else {
            entry.2 += 1;
        }
        let result = std::panic::catch_unwind(|| run_case(case));
        match result {
            Ok(Ok(())) => {}
            Ok(Err(why)) => failures.push(format!("{}:{} {}: {why}", case.file, case.line, case.name)),
            Err(_) => failures.push(format!("{}:{} {}: PANICKED", case.file, case.line, case.name)),
        }
    }
    println!("corpus: {} cases", cases.len());
    for (file, (n, ok, err)) in &per_file {
        println!("  {file}: {n} cases ({ok} accepted, {err} refused)");
    }
    assert!(
        cases.len() >= 220,
        "the corpus must hold at least 220 cases, has {}",
        cases.len()
    );
    assert!(
        failures.is_empty(),
        "{} of {} corpus cases do not have their stated outcome:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}

/// `study_runtime`, after a comment line of `study_runtime_pad_bytes` bytes when the case asks
/// for an oversized file (kept out of the table so a review diff stays readable).
fn study_runtime_text(c: &Map) -> Option<String> {
    let text = c.get("study_runtime").and_then(Value::as_str)?;
    match c.get("study_runtime_pad_bytes").and_then(Value::as_u64) {
        Some(n) => Some(format!("# {}\n{text}", "x".repeat(n as usize))),
        None => Some(text.to_string()),
    }
}

/// `meta_text`, or for `meta_nest_depth: N` an object nested N levels deep.
fn meta_text(c: &Map) -> Option<String> {
    if let Some(depth) = c.get("meta_nest_depth").and_then(Value::as_u64) {
        let depth = depth as usize;
        return Some(format!("{}1{}", "{\"a\":".repeat(depth), "}".repeat(depth)));
    }
    c.get("meta_text").and_then(Value::as_str).map(str::to_string)
}
