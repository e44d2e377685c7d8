//! The site policy every accepted plan must meet, shared by the corpus and the fuzz tests.
//!
//! A job submitter controls `meta.json`; the parent controls the job process args and `--set`;
//! the site admin controls the launcher config and the study files. The policy is what a job
//! container may look like given only that split: whatever the job asks for, it gets its own
//! folder read-write, `startup/` and `local/` read-only, the launcher's uid:gid, and nothing the
//! site admin did not grant.

#![allow(dead_code)]

use berth_core::args::{JobProcessArgs, CREDENTIAL_ENV};
use berth_core::config::SiteConfig;
use berth_core::plan::ContainerPlan;
use berth_core::pyval::{self, Map};
use berth_core::sdk_kwargs::{self, EngineFields};
use berth_core::security::SecurityProfile;
use berth_core::{labels, WORKSPACE_MOUNT};
use serde_json::{json, Value};
use std::path::Path;

/// What the policy check needs to know besides the plan.
pub struct PolicyContext<'a> {
    pub site_config: &'a SiteConfig,
    /// The resolved study's `docker_kwargs` (site-admin controlled), when a v2 file applies.
    pub study_kwargs: Option<&'a Map>,
    /// The host workspace the plan was built for (normalised).
    pub host_workspace: &'a str,
    pub uid: u32,
    pub gid: u32,
    pub launcher_env: &'a dyn Fn(&str) -> Option<String>,
    pub job_args: &'a JobProcessArgs,
    /// Whether the job meta carried the BYOC marker.
    pub byoc: bool,
    pub workspace_object: bool,
}

/// HostConfig fields the launcher itself sets, or that a job may influence through its
/// allowlisted options and portable resources. Every other HostConfig field must be exactly
/// what the site admin configured.
const LAUNCHER_OR_JOB_HOST_FIELDS: [&str; 8] = [
    "AutoRemove",
    "NetworkMode",
    "Mounts",
    "Tmpfs",
    "ShmSize",
    "DeviceRequests",
    "NanoCpus",
    "Memory",
];

/// Top-level create-body fields the launcher sets.
const LAUNCHER_TOP_FIELDS: [&str; 8] = [
    "Image",
    "Cmd",
    "Env",
    "WorkingDir",
    "User",
    "Labels",
    "HostConfig",
    "Entrypoint",
];

/// Host trees no bind source may lie in, whatever the config says. Sub-folders of `/etc`
/// and `/run` may hold a site's secrets; the engine's own parts of them may not be mounted.
const FORBIDDEN_TREES: [&str; 12] = [
    "/proc",
    "/sys",
    "/dev",
    "/var/lib/docker",
    "/var/lib/containerd",
    "/boot",
    "/etc/docker",
    "/etc/shadow",
    "/run/docker",
    "/run/containerd",
    "/var/run/docker",
    "/var/run/containerd",
];

/// System directories that may not be mounted themselves.
const FORBIDDEN_SOURCES: [&str; 4] = ["/", "/etc", "/run", "/var/run"];

/// The engine fields the site admin granted: site `default_job_container_kwargs`, then the
/// study's `docker_kwargs` on top (the plan builder's merge order).
fn admin_kwargs(ctx: &PolicyContext<'_>) -> Map {
    let mut merged = Map::new();
    if let Some(rt) = &ctx.site_config.runtime {
        merged.insert("runtime".into(), Value::String(rt.clone()));
    }
    merged.extend(ctx.site_config.default_job_container_kwargs.clone());
    if let Some(study) = ctx.study_kwargs {
        merged.extend(study.clone());
    }
    merged
}

fn admin_fields(ctx: &PolicyContext<'_>) -> EngineFields {
    sdk_kwargs::translate(&admin_kwargs(ctx), "policy").unwrap_or_default()
}

/// HostConfig fields the security profile decides when the site does not.
const PROFILE_HOST_FIELDS: [&str; 3] = ["CapDrop", "PidsLimit", "SecurityOpt"];

/// Under `restricted`, every job container drops every capability, cannot gain privileges
/// and has a process limit, unless the site (or its study file) set that option itself;
/// under `baseline` these fields are exactly the site's.
fn check_profile(ctx: &PolicyContext<'_>, host: &Map, admin: &EngineFields, problems: &mut Vec<String>) {
    let kwargs = admin_kwargs(ctx);
    let given = |k: &str| kwargs.get(k).is_some_and(|v| !v.is_null());
    let site = |k: &str| admin.host_config.get(k).cloned();
    let restricted = ctx.site_config.security_profile == SecurityProfile::Restricted;
    let want_cap_drop = if restricted && !given("cap_drop") {
        Some(json!(["ALL"]))
    } else {
        site("CapDrop")
    };
    let want_pids = if restricted && !given("pids_limit") {
        Some(json!(4096))
    } else {
        site("PidsLimit")
    };
    let site_opts: Vec<Value> = site("SecurityOpt")
        .and_then(|v| v.as_array().cloned())
        .unwrap_or_default();
    let site_decides_nnp = site_opts.iter().filter_map(Value::as_str).any(|o| {
        o == "no-new-privileges" || o.starts_with("no-new-privileges:") || o.starts_with("no-new-privileges=")
    });
    let want_opts = if restricted && !site_decides_nnp {
        let mut opts = site_opts;
        opts.push(json!("no-new-privileges"));
        Some(Value::Array(opts))
    } else {
        site("SecurityOpt")
    };
    for (field, want) in [
        ("CapDrop", want_cap_drop),
        ("PidsLimit", want_pids),
        ("SecurityOpt", want_opts),
    ] {
        let got = host.get(field).cloned();
        expect(
            got == want,
            || {
                format!(
                    "HostConfig.{field} is {got:?}, the {} profile and the site give {want:?}",
                    ctx.site_config.security_profile.as_str()
                )
            },
            problems,
        );
    }
}

fn is_within(inner: &str, outer: &str) -> bool {
    Path::new(inner).starts_with(outer)
}

fn expect(cond: bool, what: impl FnOnce() -> String, problems: &mut Vec<String>) {
    if !cond {
        problems.push(what());
    }
}

/// Check an accepted plan against the site policy. `Err` lists every breach found.
pub fn check_plan_policy(plan: &ContainerPlan, ctx: &PolicyContext<'_>) -> Result<(), String> {
    let mut problems = Vec::new();
    let body = match plan.create.as_object() {
        Some(b) => b,
        None => return Err("create body is not an object".into()),
    };
    let admin = admin_fields(ctx);
    let empty = Map::new();
    let host = body
        .get("HostConfig")
        .and_then(Value::as_object)
        .unwrap_or(&empty);
    let job_target = format!("{WORKSPACE_MOUNT}/{}", plan.job_id);

    // Identity, working dir, image.
    let user = format!("{}:{}", ctx.uid, ctx.gid);
    expect(
        body.get("User").and_then(Value::as_str) == Some(user.as_str()),
        || format!("User is {:?}, not the launcher's {user}", body.get("User")),
        &mut problems,
    );
    expect(
        body.get("WorkingDir").and_then(Value::as_str) == Some(job_target.as_str()),
        || format!("WorkingDir is {:?}, not {job_target}", body.get("WorkingDir")),
        &mut problems,
    );
    expect(
        body.get("Image")
            .and_then(Value::as_str)
            .is_some_and(|i| !i.is_empty() && i == plan.image),
        || {
            format!(
                "Image {:?} is empty or differs from the plan's",
                body.get("Image")
            )
        },
        &mut problems,
    );

    // Top-level fields: launcher's own, or exactly what the admin configured.
    for (k, v) in body {
        if LAUNCHER_TOP_FIELDS.contains(&k.as_str()) {
            continue;
        }
        expect(
            admin.config.get(k) == Some(v),
            || format!("top-level {k} = {v} was not granted by the site"),
            &mut problems,
        );
    }
    if let Some(ep) = body.get("Entrypoint") {
        expect(
            ctx.byoc || admin.config.get("Entrypoint") == Some(ep),
            || format!("Entrypoint {ep} without BYOC and not set by the site"),
            &mut problems,
        );
    }

    // HostConfig: launcher fields checked one by one, the rest must be the admin's.
    expect(
        host.get("AutoRemove") == Some(&Value::Bool(false)),
        || format!("AutoRemove is {:?}, not false", host.get("AutoRemove")),
        &mut problems,
    );
    expect(
        host.get("NetworkMode").and_then(Value::as_str) == Some(ctx.site_config.network.as_str()),
        || {
            format!(
                "NetworkMode is {:?}, not the site network",
                host.get("NetworkMode")
            )
        },
        &mut problems,
    );
    expect(
        !host.contains_key("Binds"),
        || "HostConfig has Binds".into(),
        &mut problems,
    );
    check_profile(ctx, host, &admin, &mut problems);
    for (k, v) in host {
        if LAUNCHER_OR_JOB_HOST_FIELDS.contains(&k.as_str()) || PROFILE_HOST_FIELDS.contains(&k.as_str()) {
            continue;
        }
        expect(
            admin.host_config.get(k) == Some(v),
            || format!("HostConfig.{k} = {v} was not granted by the site"),
            &mut problems,
        );
    }
    if let Some(shm) = host.get("ShmSize") {
        expect(
            shm.as_i64().is_some_and(|s| s >= 0),
            || format!("ShmSize {shm} is not a non-negative i64"),
            &mut problems,
        );
    }
    for key in ["NanoCpus", "Memory"] {
        if let Some(v) = host.get(key) {
            expect(
                v.as_i64().is_some(),
                || format!("{key} {v} does not fit i64"),
                &mut problems,
            );
        }
    }
    if let Some(reqs) = host.get("DeviceRequests") {
        let granted = admin.host_config.get("DeviceRequests") == Some(reqs);
        let gpu_only = reqs.as_array().is_some_and(|items| {
            items.iter().all(|r| {
                r.get("Capabilities") == Some(&serde_json::json!([["gpu"]]))
                    && r.get("DeviceIDs")
                        .and_then(Value::as_array)
                        .is_none_or(|d| d.is_empty())
                    && r.get("Driver").and_then(Value::as_str).is_none_or(str::is_empty)
                    && r.get("Options")
                        .and_then(Value::as_object)
                        .is_none_or(|o| o.is_empty())
                    && r.get("Count").and_then(Value::as_i64).is_some_and(|c| c >= 0)
            })
        });
        expect(
            granted || gpu_only,
            || format!("DeviceRequests {reqs} is neither the site's nor a plain GPU count"),
            &mut problems,
        );
    }

    // Tmpfs: the workspace root owned by the job user, plus what the site granted.
    match host.get("Tmpfs").and_then(Value::as_object) {
        None => problems.push("HostConfig.Tmpfs is missing".into()),
        Some(tmpfs) => {
            let want = format!("mode=1777,uid={},gid={}", ctx.uid, ctx.gid);
            expect(
                tmpfs.get(WORKSPACE_MOUNT).and_then(Value::as_str) == Some(want.as_str()),
                || format!("workspace tmpfs is {:?}, not {want}", tmpfs.get(WORKSPACE_MOUNT)),
                &mut problems,
            );
            let granted = admin.host_config.get("Tmpfs").and_then(Value::as_object);
            for (path, opts) in tmpfs {
                if path == WORKSPACE_MOUNT {
                    continue;
                }
                expect(
                    granted.and_then(|g| g.get(path)) == Some(opts),
                    || format!("tmpfs {path} was not granted by the site"),
                    &mut problems,
                );
                let clean = berth_core::workspace::normpath(path);
                expect(
                    !is_within(&clean, WORKSPACE_MOUNT) && !is_within(WORKSPACE_MOUNT, &clean),
                    || format!("tmpfs {path} overlaps the workspace mount"),
                    &mut problems,
                );
            }
        }
    }

    check_mounts(plan, ctx, host, &mut problems);
    check_env(plan, ctx, body, &mut problems);
    check_labels(plan, ctx, body, &admin, &mut problems);

    if problems.is_empty() {
        Ok(())
    } else {
        Err(problems.join("; "))
    }
}

fn check_mounts(plan: &ContainerPlan, ctx: &PolicyContext<'_>, host: &Map, problems: &mut Vec<String>) {
    let Some(mounts) = host.get("Mounts").and_then(Value::as_array) else {
        problems.push("HostConfig.Mounts is missing".into());
        return;
    };
    let ws = ctx.host_workspace;
    let fixed = [
        (
            format!("{ws}/startup"),
            format!("{WORKSPACE_MOUNT}/startup"),
            true,
        ),
        (format!("{ws}/local"), format!("{WORKSPACE_MOUNT}/local"), true),
        (
            format!("{ws}/{}", plan.job_id),
            format!("{WORKSPACE_MOUNT}/{}", plan.job_id),
            false,
        ),
    ];
    if mounts.len() < 3 {
        problems.push(format!("only {} mounts", mounts.len()));
        return;
    }
    for (m, (source, target, ro)) in mounts.iter().zip(fixed.iter()) {
        let ok = m.get("Type").and_then(Value::as_str) == Some("bind")
            && m.get("Source").and_then(Value::as_str) == Some(source.as_str())
            && m.get("Target").and_then(Value::as_str) == Some(target.as_str())
            && m.get("ReadOnly") == Some(&Value::Bool(*ro));
        expect(
            ok,
            || format!("mount {m} is not {source} -> {target} (ro={ro})"),
            problems,
        );
    }
    // The job folder is one plain child of the workspace.
    expect(
        !plan.job_id.is_empty()
            && !plan.job_id.contains('/')
            && !matches!(plan.job_id.as_str(), "." | ".." | "startup" | "local")
            && !plan.job_id.contains('\0'),
        || format!("job id {:?} is not a single workspace child", plan.job_id),
        problems,
    );
    let mut targets = std::collections::HashSet::new();
    for m in mounts {
        let source = m.get("Source").and_then(Value::as_str).unwrap_or_default();
        let target = m.get("Target").and_then(Value::as_str).unwrap_or_default();
        expect(
            targets.insert(target.to_string()),
            || format!("two mounts at {target}"),
            problems,
        );
        expect(
            !source.ends_with(".sock") && !source.contains("docker.sock"),
            || format!("mount source {source} is a socket"),
            problems,
        );
    }
    for m in &mounts[3..] {
        let source = m.get("Source").and_then(Value::as_str).unwrap_or_default();
        let target = m.get("Target").and_then(Value::as_str).unwrap_or_default();
        let clean = berth_core::workspace::normpath(source);
        expect(
            m.get("Type").and_then(Value::as_str) == Some("bind"),
            || format!("extra mount {m} is not a bind"),
            problems,
        );
        expect(
            source.starts_with('/') && clean == source && source != "/",
            || format!("extra mount source {source:?} is not a normalised absolute path"),
            problems,
        );
        expect(
            !FORBIDDEN_TREES.iter().any(|t| is_within(source, t)) && !FORBIDDEN_SOURCES.contains(&source),
            || format!("extra mount source {source} is a system tree"),
            problems,
        );
        expect(
            !is_within(source, ws) && !is_within(ws, source),
            || format!("extra mount source {source} overlaps the workspace {ws}"),
            problems,
        );
        expect(
            !is_within(target, WORKSPACE_MOUNT) && !is_within(WORKSPACE_MOUNT, target),
            || format!("extra mount target {target} overlaps the workspace mount"),
            problems,
        );
    }
}

fn check_env(plan: &ContainerPlan, ctx: &PolicyContext<'_>, body: &Map, problems: &mut Vec<String>) {
    let env: Vec<&str> = body
        .get("Env")
        .and_then(Value::as_array)
        .map(|items| items.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let lookup = |name: &str| -> Vec<Option<&str>> {
        env.iter()
            .filter_map(|e| match e.split_once('=') {
                Some((k, v)) if k == name => Some(Some(v)),
                None if *e == name => Some(None),
                _ => None,
            })
            .collect()
    };
    for e in &env {
        let name = e.split_once('=').map_or(*e, |(k, _)| k);
        expect(
            !name.is_empty() && !e.contains('\0'),
            || format!("env entry {e:?} has an empty name or a NUL"),
            problems,
        );
    }
    let user = (ctx.launcher_env)("USER").unwrap_or_else(|| "nvflare".into());
    let home = (ctx.launcher_env)("HOME").unwrap_or_else(|| "/tmp".into());
    for (name, want) in [("USER", user), ("HOME", home)] {
        let got = lookup(name);
        expect(
            got == [Some(want.as_str())],
            || format!("Env {name} is {got:?}, not the launcher's {want:?}"),
            problems,
        );
    }
    if ctx.workspace_object {
        let got = lookup("PYTHONPATH");
        let prefix = format!("{WORKSPACE_MOUNT}/{}/", plan.job_id);
        expect(
            got.len() == 1 && got[0].is_some_and(|p| p.starts_with(&prefix)),
            || format!("Env PYTHONPATH is {got:?}, not under {prefix}"),
            problems,
        );
    }
    let cmd: Vec<&str> = body
        .get("Cmd")
        .and_then(Value::as_array)
        .map(|items| items.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    for (arg, env_name) in CREDENTIAL_ENV {
        let Ok(Some((_, value))) = ctx.job_args.pair(arg) else {
            continue;
        };
        if !pyval::is_truthy(&value) {
            continue;
        }
        let value = pyval::python_str(&value).unwrap_or_default();
        let got = lookup(env_name);
        expect(
            got == [Some(value.as_str())],
            || format!("credential {env_name} is {got:?} in Env, not the job's"),
            problems,
        );
        if value.len() >= 8 {
            expect(
                !cmd.iter().any(|c| c.contains(&value)),
                || format!("credential {arg} appears in Cmd"),
                problems,
            );
            let labels = body.get("Labels").map(Value::to_string).unwrap_or_default();
            expect(
                !labels.contains(&value),
                || format!("credential {arg} appears in Labels"),
                problems,
            );
        }
    }
}

fn check_labels(
    plan: &ContainerPlan,
    ctx: &PolicyContext<'_>,
    body: &Map,
    admin: &EngineFields,
    problems: &mut Vec<String>,
) {
    let Some(l) = body.get("Labels").and_then(Value::as_object) else {
        problems.push("Labels missing".into());
        return;
    };
    let want = [
        (labels::MANAGED, "true".to_string()),
        (labels::SITE, plan.site.clone()),
        (labels::ROLE, plan.role.as_str().to_string()),
        (labels::JOB_ID, plan.job_id.clone()),
        (labels::WORKSPACE, ctx.host_workspace.to_string()),
    ];
    for (k, v) in want {
        expect(
            l.get(k).and_then(Value::as_str) == Some(v.as_str()),
            || format!("label {k} is {:?}, not {v:?}", l.get(k)),
            problems,
        );
    }
    expect(
        l.get(labels::PLAN_DIGEST)
            .and_then(Value::as_str)
            .is_some_and(|d| d.len() == 16),
        || "plan digest label missing".into(),
        problems,
    );
    let granted = admin.config.get("Labels").and_then(Value::as_object);
    for (k, v) in l {
        if k.starts_with(labels::PREFIX) {
            continue;
        }
        expect(
            granted.and_then(|g| g.get(k)) == Some(v),
            || format!("label {k} was not set by the site"),
            problems,
        );
    }
}

pub mod scenario;
