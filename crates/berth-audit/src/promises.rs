//! What the engine made of a plan: each isolation promise berth makes, read back from the
//! engine's inspect answer of a container created from that plan.
//!
//! `berth doctor` creates (and removes) a throwaway container from the plan of a sample job
//! and calls [`engine_promises`]; a promise the engine did not keep is reported with its
//! fix. Docker's and Podman's answers are both read: Podman lists tmpfs mounts under
//! `HostConfig.Tmpfs` (with `U` for "owned by the container's user" until the container
//! starts), names a bridge network `bridge` in `NetworkMode`, and spells out a dropped `ALL`
//! as the capabilities it removed.

use berth_core::pyval::string_items;
use serde_json::Value;

/// One promise, kept or not.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Promise {
    /// Stable name (`user`, `workspace_root`, `read_only_site_folders`, ...).
    pub name: &'static str,
    pub kept: bool,
    /// What the engine did, in a line.
    pub detail: String,
    /// What to do when it is not kept.
    pub fix: String,
}

/// Each promise of `planned` (the create body berth sent, as planned) checked against
/// `inspect` (the engine's inspect answer of the container it created). `workspace_root` is
/// the tmpfs berth puts at the job workspace root.
pub fn engine_promises(planned: &Value, inspect: &Value, workspace_root: &str) -> Vec<Promise> {
    let host = &inspect["HostConfig"];
    let plan_host = &planned["HostConfig"];
    let mut out = Vec::new();
    let mut promise = |name, kept, detail: String, fix: &str| {
        out.push(Promise {
            name,
            kept,
            detail,
            fix: fix.to_string(),
        })
    };

    let user = text(&planned["User"]);
    let got_user = text(&inspect["Config"]["User"]);
    promise(
        "user",
        got_user == user,
        format!("runs as '{got_user}' (planned '{user}')"),
        "the engine replaced the job user: check the engine's user namespace or default-user settings",
    );

    let (kept, detail) = workspace_tmpfs(plan_host, host, user, workspace_root);
    promise(
        "workspace_root",
        kept,
        detail,
        "the job user must be able to create folders at the workspace root: use an engine that keeps \
         tmpfs mode and owner options (Docker 20.10+, Podman 4+ through berth's `U` form)",
    );

    let (kept, detail) = bind_mounts(plan_host, inspect, workspace_root);
    promise(
        "mounts",
        kept,
        detail,
        "the engine changed the mounts: startup/ and local/ must be read-only, the job folder \
         read-write, and nothing else mounted (no engine socket); check engine-wide default mounts \
         (containers.conf `mounts`, Docker plugins)",
    );

    let network = text(&plan_host["NetworkMode"]);
    let networks: Vec<&str> = inspect["NetworkSettings"]["Networks"]
        .as_object()
        .map(|m| m.keys().map(String::as_str).collect())
        .unwrap_or_default();
    promise(
        "network",
        networks == [network],
        format!("attached to {networks:?} (planned '{network}')"),
        "the job must be on the site network only: check that the network exists and the engine's \
         default network settings",
    );

    let auto_remove = host["AutoRemove"].as_bool().unwrap_or(false);
    promise(
        "auto_remove",
        !auto_remove,
        format!("AutoRemove {auto_remove}"),
        "berth reads the exit code before it removes a container; the engine must not remove it first",
    );

    let planned_opts = string_items(Some(&plan_host["SecurityOpt"]));
    let got_opts = string_items(Some(&host["SecurityOpt"]));
    let missing: Vec<&String> = planned_opts.iter().filter(|o| !got_opts.contains(o)).collect();
    promise(
        "security_options",
        missing.is_empty(),
        format!("security options {got_opts:?} (planned {planned_opts:?})"),
        "the engine dropped security options (no-new-privileges, seccomp, ...): upgrade it or check \
         its security settings",
    );

    let (kept, detail) = capabilities(plan_host, host);
    promise(
        "capabilities",
        kept,
        detail,
        "the engine granted capabilities the plan did not: check its default capabilities \
         (containers.conf `default_capabilities`)",
    );

    for (field, name) in [
        ("PidsLimit", "pids_limit"),
        ("Memory", "memory_limit"),
        ("NanoCpus", "cpu_limit"),
        ("ShmSize", "shm_size"),
    ] {
        let Some(want) = plan_host[field].as_i64().filter(|v| *v > 0) else {
            continue;
        };
        let got = host[field].as_i64().unwrap_or(0);
        promise(
            name,
            got == want,
            format!("{field} {got} (planned {want})"),
            "the engine did not apply a resource limit: on cgroup v1, rootless engines cannot \
             (run the engine rootful, or move the host to cgroup v2)",
        );
    }

    let planned_devices = plan_host["DeviceRequests"].as_array().map_or(0, Vec::len);
    if planned_devices > 0 {
        let got = host["DeviceRequests"].as_array().map_or(0, Vec::len);
        promise(
            "gpus",
            got == planned_devices,
            format!("{got} device requests (planned {planned_devices})"),
            "the engine ignored the GPU request: use Docker with the NVIDIA runtime, or Podman 5+",
        );
    }
    out
}

fn text(v: &Value) -> &str {
    v.as_str().unwrap_or_default()
}

/// The tmpfs at the workspace root: mode 1777 and, when the plan names an owner, that owner.
fn workspace_tmpfs(plan_host: &Value, host: &Value, user: &str, root: &str) -> (bool, String) {
    let planned = text(&plan_host["Tmpfs"][root]);
    let wants_owner = option_value(planned, "uid").is_some();
    // Docker keeps a `Mounts` tmpfs there; both engines list `Tmpfs` entries.
    let from_mounts = host["Mounts"].as_array().and_then(|mounts| {
        mounts
            .iter()
            .find(|m| m["Type"] == "tmpfs" && text(&m["Target"]) == root)
    });
    let Some(options) = host["Tmpfs"][root].as_str() else {
        return match from_mounts {
            Some(m) if !wants_owner => {
                let mode = m["TmpfsOptions"]["Mode"].as_i64().unwrap_or(0);
                (mode == 0o1777, format!("tmpfs mode {mode:o}"))
            }
            Some(_) => (
                false,
                "tmpfs without an owner (the plan asks the job user's)".into(),
            ),
            None => (false, format!("no tmpfs at {root}")),
        };
    };
    let mode_ok = option_value(options, "mode") == Some("1777");
    let (uid, gid) = user.split_once(':').unwrap_or((user, ""));
    let owner_ok = !wants_owner
        || options.split(',').any(|o| o.trim() == "U")
        || (option_value(options, "uid") == Some(uid) && option_value(options, "gid") == Some(gid));
    (
        mode_ok && owner_ok,
        format!("tmpfs {root} with '{options}' (job user {user})"),
    )
}

fn option_value<'a>(options: &'a str, key: &str) -> Option<&'a str> {
    options
        .split(',')
        .filter_map(|o| o.trim().split_once('='))
        .find(|(k, _)| *k == key)
        .map(|(_, v)| v)
}

/// Every planned bind at its target with the planned source and access, and no other mount.
fn bind_mounts(plan_host: &Value, inspect: &Value, root: &str) -> (bool, String) {
    let points = inspect["Mounts"].as_array().cloned().unwrap_or_default();
    let planned = plan_host["Mounts"].as_array().cloned().unwrap_or_default();
    let mut wrong = Vec::new();
    for m in planned.iter().filter(|m| m["Type"] == "bind") {
        let target = text(&m["Target"]);
        let ro = m["ReadOnly"].as_bool().unwrap_or(false);
        match points.iter().find(|p| text(&p["Destination"]) == target) {
            None => wrong.push(format!("{target} is not mounted")),
            Some(p) if p["RW"].as_bool() != Some(!ro) => wrong.push(format!(
                "{target} is {}",
                if ro { "writable" } else { "read-only" }
            )),
            Some(p) if text(&p["Source"]) != text(&m["Source"]) => {
                wrong.push(format!("{target} comes from {}", text(&p["Source"])))
            }
            Some(_) => {}
        }
    }
    for p in &points {
        let dest = text(&p["Destination"]);
        let planned_here = dest == root || planned.iter().any(|m| text(&m["Target"]) == dest);
        if !planned_here {
            wrong.push(format!(
                "{} is mounted at {dest}, not planned",
                text(&p["Source"])
            ));
        }
    }
    let binds = planned.iter().filter(|m| m["Type"] == "bind").count();
    if wrong.is_empty() {
        (true, format!("{binds} planned binds as planned, nothing else"))
    } else {
        (false, wrong.join("; "))
    }
}

/// Added capabilities only as planned; a planned drop of `ALL` removes every default one.
fn capabilities(plan_host: &Value, host: &Value) -> (bool, String) {
    let norm = |v: &Value| -> Vec<String> {
        string_items(Some(v))
            .into_iter()
            .map(|c| c.trim_start_matches("CAP_").to_uppercase())
            .collect()
    };
    let planned_add = norm(&plan_host["CapAdd"]);
    let got_add = norm(&host["CapAdd"]);
    let extra: Vec<&String> = got_add.iter().filter(|c| !planned_add.contains(c)).collect();
    let drops_all = norm(&plan_host["CapDrop"]).iter().any(|c| c == "ALL");
    let got_drop = norm(&host["CapDrop"]);
    let kept_default: Vec<&str> = if drops_all && !got_drop.iter().any(|c| c == "ALL") {
        crate::checks::DEFAULT_CAPS
            .iter()
            .copied()
            .filter(|c| !got_drop.iter().any(|d| d == c) && !planned_add.iter().any(|a| a == c))
            .collect()
    } else {
        Vec::new()
    };
    (
        extra.is_empty() && kept_default.is_empty(),
        format!("added {got_add:?}, dropped {got_drop:?}{}", {
            if kept_default.is_empty() {
                String::new()
            } else {
                format!("; still granted {kept_default:?}")
            }
        }),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const ROOT: &str = "/ws";

    fn planned() -> Value {
        json!({
            "User": "1000:1000",
            "HostConfig": {
                "NetworkMode": "net-a", "AutoRemove": false,
                "Mounts": [
                    {"Type": "bind", "Source": "/h/startup", "Target": "/ws/startup", "ReadOnly": true},
                    {"Type": "bind", "Source": "/h/j", "Target": "/ws/j", "ReadOnly": false}
                ],
                "Tmpfs": {"/ws": "mode=1777,uid=1000,gid=1000"},
                "SecurityOpt": ["no-new-privileges"], "CapDrop": ["ALL"], "PidsLimit": 512,
                "Memory": 1048576
            }
        })
    }

    fn points() -> Value {
        json!([
            {"Type": "bind", "Source": "/h/startup", "Destination": "/ws/startup", "RW": false},
            {"Type": "bind", "Source": "/h/j", "Destination": "/ws/j", "RW": true}
        ])
    }

    fn docker_answer() -> Value {
        json!({
            "Config": {"User": "1000:1000"},
            "HostConfig": {
                "NetworkMode": "net-a", "AutoRemove": false,
                "Tmpfs": {"/ws": "mode=1777,uid=1000,gid=1000"},
                "SecurityOpt": ["no-new-privileges"], "CapDrop": ["ALL"], "PidsLimit": 512,
                "Memory": 1048576
            },
            "Mounts": points(),
            "NetworkSettings": {"Networks": {"net-a": {}}}
        })
    }

    fn podman_answer() -> Value {
        json!({
            "Config": {"User": "1000:1000"},
            "HostConfig": {
                "NetworkMode": "bridge", "AutoRemove": false, "Mounts": null,
                "Tmpfs": {"/ws": "mode=1777,U,rw,rprivate,nosuid,nodev,tmpcopyup"},
                "SecurityOpt": ["no-new-privileges"],
                "CapDrop": ["AUDIT_WRITE", "CHOWN", "DAC_OVERRIDE", "FOWNER", "FSETID", "KILL",
                    "MKNOD", "NET_BIND_SERVICE", "NET_RAW", "SETFCAP", "SETGID", "SETPCAP", "SETUID",
                    "SYS_CHROOT"],
                "CapAdd": [], "PidsLimit": 512, "Memory": 1048576
            },
            "Mounts": points(),
            "NetworkSettings": {"Networks": {"net-a": {}}}
        })
    }

    fn broken(answer: &Value) -> Vec<&'static str> {
        engine_promises(&planned(), answer, ROOT)
            .into_iter()
            .filter(|p| !p.kept)
            .map(|p| p.name)
            .collect()
    }

    #[test]
    fn docker_and_podman_answers_keep_every_promise() {
        assert_eq!(broken(&docker_answer()), Vec::<&str>::new());
        assert_eq!(broken(&podman_answer()), Vec::<&str>::new());
        let names: Vec<_> = engine_promises(&planned(), &docker_answer(), ROOT)
            .into_iter()
            .map(|p| p.name)
            .collect();
        assert_eq!(
            names,
            [
                "user",
                "workspace_root",
                "mounts",
                "network",
                "auto_remove",
                "security_options",
                "capabilities",
                "pids_limit",
                "memory_limit"
            ]
        );
    }

    #[test]
    fn each_broken_promise_is_named() {
        type Edit = Box<dyn Fn(&mut Value)>;
        let cases: Vec<(&str, Edit)> = vec![
            ("user", Box::new(|v| v["Config"]["User"] = json!(""))),
            (
                "workspace_root",
                Box::new(|v| v["HostConfig"]["Tmpfs"]["/ws"] = json!("mode=755")),
            ),
            (
                "workspace_root",
                Box::new(|v| v["HostConfig"]["Tmpfs"]["/ws"] = json!("mode=1777")),
            ),
            (
                "workspace_root",
                Box::new(|v| v["HostConfig"]["Tmpfs"] = json!({})),
            ),
            ("mounts", Box::new(|v| v["Mounts"][0]["RW"] = json!(true))),
            (
                "mounts",
                Box::new(|v| {
                    v["Mounts"].as_array_mut().unwrap().push(json!(
                    {"Type": "bind", "Source": "/run/podman/podman.sock", "Destination": "/run/podman/podman.sock", "RW": true}))
                }),
            ),
            (
                "network",
                Box::new(|v| v["NetworkSettings"]["Networks"] = json!({"podman": {}})),
            ),
            (
                "auto_remove",
                Box::new(|v| v["HostConfig"]["AutoRemove"] = json!(true)),
            ),
            (
                "security_options",
                Box::new(|v| v["HostConfig"]["SecurityOpt"] = json!([])),
            ),
            (
                "capabilities",
                Box::new(|v| v["HostConfig"]["CapDrop"] = json!(["NET_RAW"])),
            ),
            (
                "capabilities",
                Box::new(|v| v["HostConfig"]["CapAdd"] = json!(["SYS_ADMIN"])),
            ),
            (
                "pids_limit",
                Box::new(|v| v["HostConfig"]["PidsLimit"] = json!(0)),
            ),
            ("memory_limit", Box::new(|v| v["HostConfig"]["Memory"] = json!(0))),
        ];
        for base in [docker_answer(), podman_answer()] {
            for (name, edit) in &cases {
                let mut answer = base.clone();
                edit(&mut answer);
                assert_eq!(broken(&answer), [*name], "{answer:#}");
            }
        }
    }

    #[test]
    fn ignored_gpus_are_a_broken_promise() {
        let mut plan = planned();
        plan["HostConfig"]["DeviceRequests"] = json!([{"Count": -1, "Capabilities": [["gpu"]]}]);
        let mut answer = docker_answer();
        let gpus = |answer: &Value| {
            engine_promises(&plan, answer, ROOT)
                .into_iter()
                .find(|p| p.name == "gpus")
                .map(|p| p.kept)
        };
        assert_eq!(gpus(&answer), Some(false));
        answer["HostConfig"]["DeviceRequests"] = plan["HostConfig"]["DeviceRequests"].clone();
        assert_eq!(gpus(&answer), Some(true));
    }
}
