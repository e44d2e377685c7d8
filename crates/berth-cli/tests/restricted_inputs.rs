//! `berth plan` on the inputs the restricted-by-default rules govern, run as an operator
//! would: BYOC only from `--byoc`, job id types, launcher-owned env names in the site
//! config, the security profile and the image allowlist. No engine is contacted.

use serde_json::{json, Value};
use std::path::Path;
use std::process::Command;

const BERTH: &str = env!("CARGO_BIN_EXE_berth");
const SITE: &str = "site-1";

struct Site {
    dir: tempfile::TempDir,
}

impl Site {
    fn new(config: Value) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let ws = dir.path().join("ws");
        for sub in ["startup", "local", "job-1"] {
            std::fs::create_dir_all(ws.join(sub)).expect("mkdir");
        }
        let mut config = config;
        config["workspace"] = json!(ws.to_str().expect("utf-8"));
        write(&dir.path().join("config.json"), &config);
        write(
            &dir.path().join("args.json"),
            &json!({
                "exe_module": ["-m", "nvflare.private.fed.app.client.worker_process"],
                "workspace": ["-m", "/var/tmp/nvflare/workspace"],
                "job_id": ["-n", "job-1"],
                "client_name": ["-c", SITE],
            }),
        );
        Self { dir }
    }

    /// `berth plan` for `meta`, plus `extra` arguments: (exit status, stdout, stderr).
    fn plan(&self, meta: &Value, extra: &[&str]) -> (i32, String, String) {
        let root = self.dir.path();
        write(&root.join("meta.json"), meta);
        let out = Command::new(BERTH)
            .arg("plan")
            .arg("--config")
            .arg(root.join("config.json"))
            .args(["--site", SITE, "--role", "client", "--parent-root"])
            .arg(root.join("ws"))
            .arg("--job")
            .arg(root.join("meta.json"))
            .arg("--args")
            .arg(root.join("args.json"))
            .args(extra)
            .env("NO_COLOR", "1")
            .env_remove("BERTH_CONFIG")
            .env_remove("BERTH_SITE")
            .env_remove("BERTH_PARENT_ROOT")
            .output()
            .expect("berth runs");
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }
}

fn write(path: &Path, value: &Value) {
    std::fs::write(path, serde_json::to_vec(value).expect("json")).expect("write");
}

fn meta(docker: Value) -> Value {
    json!({"job_id": "job-1", "launcher_spec": {SITE: {"docker": docker}}})
}

fn host_config(stdout: &str) -> Value {
    let plan: Value = serde_json::from_str(stdout).expect("plan JSON");
    plan["create"]["HostConfig"].clone()
}

#[test]
fn only_the_flag_authorises_byoc_and_a_meta_claim_is_ignored_with_a_warning() {
    let site = Site::new(json!({}));
    let mut with_entrypoint = meta(json!({"image": "img:1", "entrypoint": "/bin/sh"}));
    with_entrypoint["byoc"] = json!(true);

    let (code, _, err) = site.plan(&with_entrypoint, &[]);
    assert_eq!(code, 3, "{err}");
    assert!(err.contains("lacks locally authorized BYOC"), "{err}");
    assert!(err.contains("warning:") && err.contains("--byoc"), "{err}");

    let (code, out, err) = site.plan(&with_entrypoint, &["--byoc"]);
    assert_eq!(code, 0, "{err}");
    assert!(!err.contains("warning:"), "{err}");
    let plan: Value = serde_json::from_str(&out).expect("plan JSON");
    assert_eq!(plan["create"]["Entrypoint"], json!(["/bin/sh"]));

    // A claim without an entrypoint changes nothing but is still reported.
    let mut plain = meta(json!({"image": "img:1"}));
    plain["byoc"] = json!(true);
    let (code, _, err) = site.plan(&plain, &[]);
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("ignores"), "{err}");
}

#[test]
fn job_id_types_and_nul_are_input_errors() {
    let site = Site::new(json!({}));
    for (job_id, phrase) in [
        (json!(5), "job_id in job_meta must be a string"),
        (json!(["job-1"]), "job_id in job_meta must be a string"),
        (json!({"id": "job-1"}), "job_id in job_meta must be a string"),
        (json!(true), "job_id in job_meta must be a string"),
        (json!("job\u{0}1"), "NUL byte"),
    ] {
        let mut m = meta(json!({"image": "img:1"}));
        m["job_id"] = job_id.clone();
        let (code, _, err) = site.plan(&m, &[]);
        assert_eq!(code, 2, "{job_id}: {err}");
        assert!(err.contains(phrase) && err.contains("job_id"), "{job_id}: {err}");
    }
}

#[test]
fn site_env_may_not_set_launcher_owned_names() {
    for name in [
        "PYTHONPATH",
        "NVFLARE_JOB_AUTH_TOKEN",
        "NVFLARE_JOB_OTHER",
        "NVFL_WORKSPACE_OWNER_FQCN",
    ] {
        let site = Site::new(json!({"default_job_env": {name: "x"}}));
        let (code, _, err) = site.plan(&meta(json!({"image": "img:1"})), &[]);
        assert_eq!(code, 2, "{name}: {err}");
        assert!(
            err.contains("default_job_env") && err.contains(name) && err.contains("launcher-owned"),
            "{name}: {err}"
        );
    }
    let site = Site::new(json!({"default_job_env": {"NCCL_P2P_DISABLE": "1"}}));
    let (code, _, err) = site.plan(&meta(json!({"image": "img:1"})), &[]);
    assert_eq!(code, 0, "{err}");
}

#[test]
fn the_default_profile_is_restricted_and_an_unknown_one_is_an_input_error() {
    let site = Site::new(json!({}));
    let (code, out, err) = site.plan(&meta(json!({"image": "img:1"})), &[]);
    assert_eq!(code, 0, "{err}");
    let host = host_config(&out);
    assert_eq!(host["CapDrop"], json!(["ALL"]));
    assert_eq!(host["SecurityOpt"], json!(["no-new-privileges"]));
    assert_eq!(host["PidsLimit"], json!(4096));

    let site = Site::new(json!({"security_profile": "baseline"}));
    let (code, out, err) = site.plan(&meta(json!({"image": "img:1"})), &[]);
    assert_eq!(code, 0, "{err}");
    let host = host_config(&out);
    for field in ["CapDrop", "SecurityOpt", "PidsLimit"] {
        assert!(host.get(field).is_none(), "{field}: {host}");
    }

    let site = Site::new(json!({"security_profile": "strict"}));
    let (code, _, err) = site.plan(&meta(json!({"image": "img:1"})), &[]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("security_profile"), "{err}");
}

#[test]
fn an_image_outside_the_allowlist_is_refused_naming_image_and_arg() {
    let site = Site::new(json!({"allowed_images": ["registry.local/*", "img:1"]}));
    let (code, _, err) = site.plan(&meta(json!({"image": "img:1"})), &[]);
    assert_eq!(code, 0, "{err}");
    let (code, _, err) = site.plan(&meta(json!({"image": "registry.local/team/x:2"})), &[]);
    assert_eq!(code, 0, "{err}");
    let (code, _, err) = site.plan(&meta(json!({"image": "docker.io/evil:1"})), &[]);
    assert_eq!(code, 3, "{err}");
    assert!(
        err.contains("docker.io/evil:1") && err.contains("allowed_images"),
        "{err}"
    );
}
