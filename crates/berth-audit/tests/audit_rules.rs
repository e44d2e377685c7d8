//! Each audit rule on inspect answers: a plan from the core planner, created in the fake
//! engine (whose inspect answer mirrors what was created), passes; each escalation a
//! container could carry, written into that answer, fails the check that covers it,
//! unless the site allowed exactly that.

use berth_audit::{audit_container, AuditReport, Check, SiteAllowances, SitePolicy};
use berth_core::args::{JobProcessArgs, Role};
use berth_core::config::SiteConfig;
use berth_core::plan::{build_plan, PlanRequest};
use berth_core::{labels, WORKSPACE_MOUNT};
use berth_engine::fake::FakeRuntime;
use berth_engine::ContainerRuntime;
use berth_testkit::obj;
use serde_json::{json, Value};

const SITE: &str = "site-a";
const JOB: &str = "job-1";
const TOKEN: &str = "tok-secret-91f3a0";

struct Fixture {
    dir: tempfile::TempDir,
    inspect: Value,
}

impl Fixture {
    fn ws(&self) -> String {
        self.dir.path().to_str().expect("utf-8").to_string()
    }

    fn config(&self, container_kwargs: Value) -> SiteConfig {
        SiteConfig::from_args(
            &obj(json!({
                "workspace": self.ws(),
                "network": "net-a",
                "default_job_container_kwargs": container_kwargs,
            })),
            None,
        )
        .expect("config")
    }

    fn policy(&self, container_kwargs: Value) -> SitePolicy {
        SitePolicy::new(&self.config(container_kwargs), SITE, 1000, 1000).expect("policy")
    }

    fn audit_with(&self, inspect: &Value, container_kwargs: Value) -> AuditReport {
        let site = self.policy(container_kwargs);
        audit_container(inspect, &site.for_inspect(inspect))
    }

    fn audit(&self, inspect: &Value) -> AuditReport {
        self.audit_with(inspect, json!({}))
    }

    /// The answer with `edit` applied.
    fn edited(&self, edit: impl FnOnce(&mut Value)) -> Value {
        let mut v = self.inspect.clone();
        edit(&mut v);
        v
    }

    fn bind(&self, source: &str, target: &str, rw: bool) -> Value {
        self.edited(|v| {
            v["Mounts"].as_array_mut().expect("mounts").push(json!({
                "Type": "bind", "Source": source, "Destination": target, "Mode": "", "RW": rw,
                "Propagation": "rprivate"
            }))
        })
    }
}

async fn fixture() -> Fixture {
    let dir = tempfile::tempdir().expect("tempdir");
    for sub in ["startup", "local", JOB] {
        std::fs::create_dir(dir.path().join(sub)).expect("mkdir");
    }
    let f = Fixture {
        dir,
        inspect: Value::Null,
    };
    let config = f.config(json!({"shm_size": "1g"}));
    let meta = obj(json!({
        "job_id": JOB,
        "launcher_spec": {SITE: {"docker": {"image": "img:1", "num_of_gpus": 1}}},
    }));
    let args = JobProcessArgs::from_map(obj(json!({
        "exe_module": ["-m", "nvflare.private.fed.app.client.worker_process"],
        "workspace": ["-m", WORKSPACE_MOUNT],
        "job_id": ["-n", JOB],
        "client_name": ["-c", SITE],
        "auth_token": ["-t", TOKEN],
    })));
    let env = |_: &str| None;
    let plan = build_plan(&PlanRequest {
        site_config: &config,
        site: SITE,
        role: Role::Client,
        job_meta: &meta,
        job_args: Some(&args),
        set_options: &[],
        parent_root: f.dir.path(),
        workspace_object: true,
        launcher_env: &env,
        uid: 1000,
        gid: 1000,
        berth_python: false,
    })
    .expect("plan");
    let fake = FakeRuntime::with("net-a", "img:1");
    let id = fake.create(&plan.name, &plan.create, None).await.expect("create");
    let inspect = fake.inspect_raw(&id).await.expect("inspect_raw");
    Fixture { inspect, ..f }
}

fn assert_fails(report: &AuditReport, check: Check, phrase: &str) {
    assert!(!report.passed, "expected {check} to fail:\n{report}");
    assert!(
        report
            .failures()
            .any(|f| f.check == check && f.message.contains(phrase)),
        "expected a {check} failure mentioning {phrase:?}:\n{report}"
    );
}

fn assert_passes(report: &AuditReport) {
    assert!(report.passed, "expected a pass:\n{report}");
}

#[tokio::test]
async fn a_planned_container_passes_every_check() {
    let f = fixture().await;
    let report = f.audit(&f.inspect);
    assert_passes(&report);
    assert!(report.findings.is_empty(), "{report}");
    assert_eq!(report.job_id.as_deref(), Some(JOB));
    // It has the three planned binds, a GPU request and the credential in its env.
    assert_eq!(f.inspect["Mounts"].as_array().map(Vec::len), Some(3));
    assert_eq!(f.inspect["HostConfig"]["DeviceRequests"][0]["Count"], 1);
    assert!(f.inspect["Config"]["Env"]
        .as_array()
        .expect("env")
        .contains(&json!(format!("NVFLARE_JOB_AUTH_TOKEN={TOKEN}"))));
}

#[tokio::test]
async fn privileged_only_when_the_site_set_it() {
    let f = fixture().await;
    let v = f.edited(|v| v["HostConfig"]["Privileged"] = json!(true));
    assert_fails(&f.audit(&v), Check::Privileged, "privileged");
    assert_passes(&f.audit_with(&v, json!({"privileged": true})));
}

#[tokio::test]
async fn added_capabilities_only_those_the_site_added() {
    let f = fixture().await;
    let v = f.edited(|v| v["HostConfig"]["CapAdd"] = json!(["SYS_ADMIN", "NET_ADMIN"]));
    assert_fails(&f.audit(&v), Check::Capabilities, "SYS_ADMIN");
    let r = f.audit_with(&v, json!({"cap_add": ["CAP_SYS_ADMIN"]}));
    assert_fails(&r, Check::Capabilities, "NET_ADMIN");
    assert!(!r.failures().any(|x| x.message.contains("SYS_ADMIN")), "{r}");
    assert_passes(&f.audit_with(&v, json!({"cap_add": ["sys_admin", "NET_ADMIN"]})));
    // Dropping capabilities is always fine.
    assert_passes(&f.audit(&f.edited(|v| v["HostConfig"]["CapDrop"] = json!(["ALL"]))));
}

#[tokio::test]
async fn devices_only_those_the_site_mapped() {
    let f = fixture().await;
    let dev = json!({"PathOnHost": "/dev/kmsg", "PathInContainer": "/dev/kmsg", "CgroupPermissions": "rwm"});
    let v = f.edited(|v| v["HostConfig"]["Devices"] = json!([dev]));
    assert_fails(&f.audit(&v), Check::Devices, "/dev/kmsg");
    assert_passes(&f.audit_with(&v, json!({"devices": ["/dev/kmsg"]})));
    assert_fails(
        &f.audit_with(&v, json!({"devices": ["/dev/kmsg:/dev/kmsg:r"]})),
        Check::Devices,
        "/dev/kmsg",
    );
    let v = f.edited(|v| v["HostConfig"]["DeviceCgroupRules"] = json!(["c 1:3 mr"]));
    assert_fails(&f.audit(&v), Check::Devices, "c 1:3 mr");
    assert_passes(&f.audit_with(&v, json!({"device_cgroup_rules": ["c 1:3 mr"]})));
}

#[tokio::test]
async fn device_requests_beyond_plain_gpus_need_the_site() {
    let f = fixture().await;
    let picked = json!([{"Driver": "nvidia", "Count": 0, "DeviceIDs": ["3"], "Capabilities": [["gpu"]], "Options": {}}]);
    let v = f.edited(|v| v["HostConfig"]["DeviceRequests"] = picked.clone());
    assert_fails(&f.audit(&v), Check::Devices, "device request");
    assert_passes(&f.audit_with(
        &v,
        json!({"device_requests": [{"driver": "nvidia", "device_ids": ["3"], "capabilities": [["gpu"]]}]}),
    ));
    let v = f.edited(|v| {
        v["HostConfig"]["DeviceRequests"] =
            json!([{"Driver": "", "Count": -1, "Capabilities": [["gpu", "compute", "utility"]]}])
    });
    assert_fails(&f.audit(&v), Check::Devices, "device request");
}

#[tokio::test]
async fn host_namespaces_only_when_the_site_set_them() {
    let f = fixture().await;
    for (field, mode, kwarg) in [
        ("PidMode", "host", "pid_mode"),
        ("IpcMode", "host", "ipc_mode"),
        ("UTSMode", "host", "uts_mode"),
        ("UsernsMode", "host", "userns_mode"),
        ("PidMode", "container:other", "pid_mode"),
    ] {
        let v = f.edited(|v| v["HostConfig"][field] = json!(mode));
        assert_fails(&f.audit(&v), Check::Namespaces, field);
        assert_passes(&f.audit_with(&v, json!({kwarg: mode})));
    }
    for ipc in ["private", "shareable", "none", ""] {
        assert_passes(&f.audit(&f.edited(|v| v["HostConfig"]["IpcMode"] = json!(ipc))));
    }
    for net in ["host", "bridge", "container:x", "none"] {
        let v = f.edited(|v| v["HostConfig"]["NetworkMode"] = json!(net));
        assert_fails(&f.audit(&v), Check::Namespaces, "not the site network");
    }
}

#[tokio::test]
async fn podmans_way_of_reporting_namespaces_passes() {
    let f = fixture().await;
    // Podman: `bridge` with the named network listed, and `private` namespaces.
    let podman = f.edited(|v| {
        v["HostConfig"]["NetworkMode"] = json!("bridge");
        v["NetworkSettings"] = json!({"Networks": {"net-a": {}}});
        for field in ["PidMode", "UTSMode", "UsernsMode", "IpcMode"] {
            v["HostConfig"][field] = json!("private");
        }
    });
    assert_passes(&f.audit(&podman));
    // `bridge` on another network, or on the site network and another, is not the site's.
    for networks in [json!({"bridge": {}}), json!({"net-a": {}, "net-b": {}})] {
        let v = f.edited(|v| {
            v["HostConfig"]["NetworkMode"] = json!("bridge");
            v["NetworkSettings"] = json!({ "Networks": networks });
        });
        assert_fails(&f.audit(&v), Check::Namespaces, "not the site network");
    }
}

#[tokio::test]
async fn security_options_only_the_sites() {
    let f = fixture().await;
    let v =
        f.edited(|v| v["HostConfig"]["SecurityOpt"] = json!(["seccomp=unconfined", "apparmor=unconfined"]));
    assert_fails(&f.audit(&v), Check::SecurityOptions, "seccomp=unconfined");
    assert_fails(
        &f.audit_with(&v, json!({"security_opt": ["seccomp=unconfined"]})),
        Check::SecurityOptions,
        "apparmor=unconfined",
    );
}

#[tokio::test]
async fn no_socket_system_dir_or_other_workspace_path_is_mounted() {
    let f = fixture().await;
    let ws = f.ws();
    for (source, phrase) in [
        ("/var/run/docker.sock", "engine socket"),
        ("/run/docker.sock", "engine socket"),
        ("/srv/engine/api.sock", "socket"),
        ("/", "system directory"),
        ("/etc", "system directory"),
        ("/proc/1", "system directory"),
        ("/var/lib/docker/volumes", "system directory"),
    ] {
        assert_fails(&f.audit(&f.bind(source, "/mnt/x", true)), Check::Mounts, phrase);
    }
    for (source, target) in [
        (ws.clone(), "/ws".to_string()),
        (format!("{ws}/other-job"), format!("{WORKSPACE_MOUNT}/other-job")),
        (format!("{ws}/.berth"), "/state".to_string()),
    ] {
        assert_fails(
            &f.audit(&f.bind(&source, &target, false)),
            Check::Mounts,
            "workspace",
        );
    }
    // A dataset or secret folder outside the workspace is what study files name.
    assert_passes(&f.audit(&f.bind("/data/cifar", "/data/cifar", false)));
    // `-v` binds and `Mounts` requests are read too.
    let v = f.edited(|v| v["HostConfig"]["Binds"] = json!(["/var/run/docker.sock:/var/run/docker.sock"]));
    assert_fails(&f.audit(&v), Check::Mounts, "/var/run/docker.sock");
    let v = f.edited(|v| {
        v["HostConfig"]["Mounts"]
            .as_array_mut()
            .expect("mounts")
            .push(json!({"Type": "bind", "Source": "/etc", "Target": "/host-etc", "ReadOnly": true}))
    });
    assert_fails(&f.audit(&v), Check::Mounts, "/etc");
    let v = f.edited(|v| v["HostConfig"]["VolumesFrom"] = json!(["other"]));
    assert_fails(&f.audit(&v), Check::Mounts, "other");
}

#[tokio::test]
async fn volumes_named_fail_anonymous_are_noted() {
    let f = fixture().await;
    let named = f.edited(|v| {
        v["Mounts"].as_array_mut().expect("mounts").push(json!({
            "Type": "volume", "Name": "shared-data", "Source": "/var/lib/docker/volumes/shared-data/_data",
            "Destination": "/shared", "RW": true
        }))
    });
    assert_fails(&f.audit(&named), Check::Mounts, "shared-data");
    let anon_name = "a".repeat(64);
    let anon = f.edited(|v| {
        v["Mounts"].as_array_mut().expect("mounts").push(json!({
            "Type": "volume", "Name": anon_name, "Source": format!("/var/lib/docker/volumes/{anon_name}/_data"),
            "Destination": "/cache", "RW": true
        }))
    });
    let r = f.audit(&anon);
    assert_passes(&r);
    assert_eq!(r.findings.len(), 1, "{r}");
}

#[tokio::test]
async fn startup_and_local_are_read_only() {
    let f = fixture().await;
    for sub in ["startup", "local"] {
        let v = f.edited(|v| {
            for m in v["Mounts"].as_array_mut().expect("mounts") {
                if m["Destination"] == json!(format!("{WORKSPACE_MOUNT}/{sub}")) {
                    m["RW"] = json!(true);
                }
            }
        });
        assert_fails(&f.audit(&v), Check::ReadOnlySiteFolders, sub);
    }
    // Something else mounted read-write where startup/ belongs.
    let v = f.edited(|v| {
        let mounts = v["Mounts"].as_array_mut().expect("mounts");
        mounts.retain(|m| m["Destination"] != json!(format!("{WORKSPACE_MOUNT}/startup")));
    });
    let v = {
        let g = Fixture {
            dir: tempfile::tempdir().expect("tempdir"),
            inspect: v,
        };
        g.bind("/data/fake-startup", &format!("{WORKSPACE_MOUNT}/startup"), true)
    };
    assert_fails(&f.audit(&v), Check::ReadOnlySiteFolders, "fake-startup");
}

#[tokio::test]
async fn the_job_runs_as_the_launcher_user() {
    let f = fixture().await;
    for user in ["", "0:0", "root", "1000", "1000:0"] {
        let v = f.edited(|v| v["Config"]["User"] = json!(user));
        assert_fails(&f.audit(&v), Check::User, "1000:1000");
    }
}

#[tokio::test]
async fn credentials_stay_out_of_the_command_line() {
    let f = fixture().await;
    let v = f.edited(|v| {
        v["Config"]["Cmd"]
            .as_array_mut()
            .expect("cmd")
            .extend([json!("-t"), json!(TOKEN)])
    });
    assert_fails(&f.audit(&v), Check::Credentials, "NVFLARE_JOB_AUTH_TOKEN");
    let v = f.edited(|v| v["Args"] = json!([format!("--token={TOKEN}")]));
    assert_fails(&f.audit(&v), Check::Credentials, "Args");
    let v = f.edited(|v| v["Config"]["Entrypoint"] = json!(format!("sh -c 'run {TOKEN}'")));
    assert_fails(&f.audit(&v), Check::Credentials, "Entrypoint");
}

#[tokio::test]
async fn auto_remove_is_off() {
    let f = fixture().await;
    let v = f.edited(|v| v["HostConfig"]["AutoRemove"] = json!(true));
    assert_fails(&f.audit(&v), Check::AutoRemove, "AutoRemove");
}

#[tokio::test]
async fn berths_labels_are_present_and_match_the_site() {
    let f = fixture().await;
    for key in [
        labels::MANAGED,
        labels::SITE,
        labels::ROLE,
        labels::JOB_ID,
        labels::WORKSPACE,
        labels::PLAN_DIGEST,
    ] {
        let v = f.edited(|v| {
            v["Config"]["Labels"].as_object_mut().expect("labels").remove(key);
        });
        assert_fails(&f.audit(&v), Check::Labels, key);
    }
    let v = f.edited(|v| v["Config"]["Labels"][labels::SITE] = json!("other-site"));
    assert_fails(&f.audit(&v), Check::Labels, "other-site");
    // A container cannot widen its own policy through its labels.
    let v = f.edited(|v| {
        v["Config"]["Labels"][labels::WORKSPACE] = json!("/");
        v["Mounts"].as_array_mut().expect("mounts").push(json!({
            "Type": "bind", "Source": "/srv", "Destination": "/srv", "RW": true
        }));
    });
    assert_fails(&f.audit(&v), Check::Labels, labels::WORKSPACE);
    let v = f.edited(|v| v["Config"]["Labels"][labels::JOB_ID] = json!(".."));
    assert_fails(&f.audit(&v), Check::Labels, "plain workspace folder");
}

#[tokio::test]
async fn a_studys_options_can_widen_the_policy() {
    let f = fixture().await;
    let v = f.edited(|v| v["HostConfig"]["IpcMode"] = json!("host"));
    let study = SiteAllowances::from_kwargs(&obj(json!({"ipc_mode": "host"})), "study").expect("study");
    let site = f.policy(json!({})).allow(&study);
    assert_passes(&audit_container(&v, &site.for_inspect(&v)));
}

#[tokio::test]
async fn an_empty_or_odd_answer_is_findings_not_a_panic() {
    let f = fixture().await;
    for v in [
        json!({}),
        json!(null),
        json!([1]),
        json!({"Config": 3, "HostConfig": "x", "Mounts": {}}),
    ] {
        let r = f.audit(&v);
        assert!(!r.passed);
        assert!(r.failed(Check::Labels) && r.failed(Check::User), "{r}");
    }
}

fn notes(report: &AuditReport, check: Check) -> Vec<String> {
    report
        .findings
        .iter()
        .filter(|f| f.check == check && f.severity == berth_audit::Severity::Note)
        .map(|f| f.message.clone())
        .collect()
}

/// How Podman 4 reports a drop of `ALL` in an inspect's `HostConfig.CapDrop`: the default
/// capabilities it removed, as recorded from a real Podman 4.3.
fn podman_drop_all() -> Vec<String> {
    serde_json::from_str(include_str!("podman-4-cap-drop-all.json")).expect("a JSON list of names")
}

#[tokio::test]
async fn podmans_spelled_out_drop_of_all_passes_the_restricted_check() {
    let f = fixture().await;
    assert_passes(&f.audit(&f.edited(|v| v["HostConfig"]["CapDrop"] = json!(podman_drop_all()))));
}

#[tokio::test]
async fn restricted_profile_fields_are_required() {
    let f = fixture().await;
    // The planned container carries them (the site's default profile is restricted).
    assert_eq!(f.inspect["HostConfig"]["CapDrop"], json!(["ALL"]));
    assert_eq!(
        f.inspect["HostConfig"]["SecurityOpt"],
        json!(["no-new-privileges"])
    );
    assert_eq!(f.inspect["HostConfig"]["PidsLimit"], json!(4096));
    for (edit, phrase) in [
        (
            Box::new(|v: &mut Value| v["HostConfig"]["SecurityOpt"] = json!([])) as Box<dyn Fn(&mut Value)>,
            "no-new-privileges",
        ),
        (
            Box::new(|v: &mut Value| v["HostConfig"]["SecurityOpt"] = json!(["no-new-privileges:false"])),
            "no-new-privileges",
        ),
        (
            Box::new(|v: &mut Value| v["HostConfig"]["CapDrop"] = Value::Null),
            "CapDrop",
        ),
        (
            Box::new(|v: &mut Value| v["HostConfig"]["CapDrop"] = json!(["NET_RAW"])),
            "CapDrop",
        ),
        (
            // Podman's spelled-out form, one default capability short.
            Box::new(|v: &mut Value| v["HostConfig"]["CapDrop"] = json!(podman_drop_all()[1..])),
            "CapDrop",
        ),
        (
            Box::new(|v: &mut Value| v["HostConfig"]["PidsLimit"] = json!(0)),
            "PidsLimit",
        ),
        (
            Box::new(|v: &mut Value| v["HostConfig"]["PidsLimit"] = Value::Null),
            "PidsLimit",
        ),
    ] {
        let v = f.edited(|v| edit(v));
        assert_fails(&f.audit(&v), Check::Restricted, phrase);
    }
}

#[tokio::test]
async fn a_site_relaxed_option_is_a_note_not_a_failure() {
    let f = fixture().await;
    let v = f.edited(|v| {
        v["HostConfig"]["SecurityOpt"] = json!(["no-new-privileges:false"]);
        v["HostConfig"]["CapDrop"] = json!(["NET_RAW"]);
        v["HostConfig"]["CapAdd"] = json!(["NET_ADMIN"]);
        v["HostConfig"]["PidsLimit"] = json!(-1);
    });
    let r = f.audit_with(
        &v,
        json!({"security_opt": ["no-new-privileges:false"], "cap_drop": ["NET_RAW"], "cap_add": ["NET_ADMIN"], "pids_limit": -1}),
    );
    assert_passes(&r);
    let n = notes(&r, Check::Restricted);
    assert_eq!(n.len(), 4, "{r}");
    assert!(n.iter().all(|m| m.starts_with("relaxed by the site")), "{n:?}");
    // Each relaxation stands alone: the rest of the profile is still required.
    let r = f.audit_with(&v, json!({"cap_add": ["NET_ADMIN"]}));
    assert_fails(&r, Check::Restricted, "no-new-privileges");
    assert_fails(&r, Check::Restricted, "CapDrop");
    assert_fails(&r, Check::Restricted, "PidsLimit");
}

#[tokio::test]
async fn baseline_sites_do_not_require_the_restricted_fields() {
    let f = fixture().await;
    let v = f.edited(|v| {
        v["HostConfig"]["SecurityOpt"] = Value::Null;
        v["HostConfig"]["CapDrop"] = Value::Null;
        v["HostConfig"]["PidsLimit"] = Value::Null;
    });
    let config = SiteConfig::from_args(
        &obj(json!({"workspace": f.ws(), "network": "net-a", "security_profile": "baseline"})),
        None,
    )
    .expect("config");
    let site = SitePolicy::new(&config, SITE, 1000, 1000).expect("policy");
    let r = audit_container(&v, &site.for_inspect(&v));
    assert_passes(&r);
    assert!(r.findings.is_empty(), "{r}");
    // A restricted container is fine under baseline too: narrowing is never a breach.
    assert_passes(&audit_container(&f.inspect, &site.for_inspect(&f.inspect)));
}
