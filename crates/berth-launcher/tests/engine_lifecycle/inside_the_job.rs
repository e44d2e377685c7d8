//! What a job sees from inside its container: the security profile and the isolation.

use super::*;

// ---- the security profile, seen from inside the job container -------------------------

/// What one job saw trying to gain privileges: its own ids and raw-socket attempt, then
/// the same from a setuid-root helper it runs. Read from the job's output file.
struct PrivilegeAttempt {
    job: String,
    helper: String,
}

/// Runs a job as the non-root job user in an image that carries a setuid-root copy of the
/// stub; the job asks for a raw socket itself, then through the setuid helper.
async fn attempt_privileges(site: &Site, job_id: &str) -> PrivilegeAttempt {
    let image = step(
        "import setuid stub image",
        site.live.cleanup.new_setuid_stub_image(&site.live.rt),
    )
    .await
    .expect("setuid stub image");
    site.live.write_job(
        job_id,
        &format!(
            "ids\ntry-raw-socket\nprint --- helper\nrun {} ids | try-raw-socket",
            berth_testkit::SETUID_STUB_PATH
        ),
    );
    let plan = plan_with_image(&site.live, job_id, &image);
    site.live.cleanup.container(&plan.name);
    let h = step(&format!("launch {job_id}"), site.launcher.launch(plan))
        .await
        .unwrap_or_else(|e| panic!("launch {job_id}: {e} ({:?})", e.hint()));
    assert_eq!(wait(&h).await, JobReturnCode::Success, "{:?}", h.outcome());
    site.assert_removed(&h).await;
    let log = site.live.job_dir(job_id).join(berth_launcher::JOB_LOG_FILE);
    let text = std::fs::read_to_string(&log).expect("the job's output was kept");
    let (job, helper) = text
        .split_once("--- helper")
        .unwrap_or_else(|| panic!("no helper section in {text}"));
    PrivilegeAttempt {
        job: job.to_string(),
        helper: helper.to_string(),
    }
}

pub(crate) async fn gaining_privileges_fails_under_restricted_and_succeeds_under_baseline(rt: DockerRuntime) {
    // Baseline (the engine's defaults, as upstream): the setuid helper becomes root and,
    // as root with the default capabilities, opens a raw socket.
    let site = Site::new(rt.clone(), json!({"security_profile": "baseline"})).await;
    let base = attempt_privileges(&site, "escalate-baseline").await;
    assert!(
        base.job
            .contains(&format!("ids: uid={JOB_UID} euid={JOB_UID} nnp=0")),
        "{}",
        base.job
    );
    assert!(base.job.contains("try-raw-socket: error"), "{}", base.job);
    assert!(
        base.helper.contains(&format!("ids: uid={JOB_UID} euid=0 nnp=0")),
        "{}",
        base.helper
    );
    assert!(base.helper.contains("try-raw-socket: ok"), "{}", base.helper);
    assert!(base.helper.contains("exit 0"), "{}", base.helper);
    site.assert_no_containers().await;
    drop(site);

    // Restricted (the default): no-new-privileges keeps the setuid bit from raising the
    // effective uid, and with every capability dropped not even root could open the socket.
    let site = Site::new(rt, json!({})).await;
    let restricted = attempt_privileges(&site, "escalate-restricted").await;
    assert!(
        restricted
            .job
            .contains(&format!("ids: uid={JOB_UID} euid={JOB_UID} nnp=1")),
        "{}",
        restricted.job
    );
    assert!(
        restricted.job.contains("try-raw-socket: error"),
        "{}",
        restricted.job
    );
    assert!(
        restricted
            .helper
            .contains(&format!("ids: uid={JOB_UID} euid={JOB_UID} nnp=1")),
        "{}",
        restricted.helper
    );
    assert!(
        restricted.helper.contains("try-raw-socket: error"),
        "{}",
        restricted.helper
    );
    site.assert_no_containers().await;
}

// ---- isolation, seen from inside the job container -----------------------------------

pub(crate) async fn the_job_container_is_isolated(rt: DockerRuntime) {
    let site = Site::new(rt, json!({})).await;
    // Another job's folder, with something in it the probe must not see.
    let other = site.live.write_job("other-job", "exit 0");
    std::fs::write(other.join("secret.txt"), "other job's data\n").expect("write secret");
    let secret = container_path("other-job/secret.txt");
    let h = site
        .launch(
            "probe-job",
            &format!(
                "probe probe.json {secret} {} {}",
                container_path("other-job"),
                container_path("startup")
            ),
        )
        .await;
    assert_eq!(wait(&h).await, JobReturnCode::Success, "{:?}", h.outcome());

    let report_path = site.live.job_dir("probe-job").join("probe.json");
    let text = std::fs::read_to_string(&report_path).expect("the probe wrote its report in the job folder");
    let report: Value = serde_json::from_str(&text).expect("probe report is JSON");
    let attempt = |name: &str| -> (bool, String) {
        let a = &report["attempts"][name];
        assert!(a.is_object(), "no attempt {name} in {report:#}");
        (
            a["ok"] == json!(true),
            a["detail"].as_str().unwrap_or_default().to_string(),
        )
    };

    // Runs as the launcher's uid:gid, in its job folder; the report file is the job user's.
    assert_eq!(report["uid"], json!(JOB_UID.to_string()), "{report:#}");
    assert_eq!(report["gid"], json!(JOB_GID.to_string()), "{report:#}");
    assert_eq!(report["cwd"], json!(container_path("probe-job")));
    let meta = std::fs::metadata(&report_path).expect("report metadata");
    assert_eq!((meta.uid(), meta.gid()), (JOB_UID, JOB_GID));

    // DESIGN decision 10: the job user can create folders at the workspace root.
    let (ok, detail) = attempt("workspace_root_mkdir");
    assert!(ok, "mkdir at the workspace root failed: {detail}");

    // startup/ and local/ are read-only mounts (writable on the host: only the mount stops it).
    for name in ["write_startup", "write_local"] {
        let (ok, detail) = attempt(name);
        assert!(!ok, "{name} succeeded: {detail}");
        assert!(detail.contains("Read-only file system"), "{name}: {detail}");
    }
    let (ok, detail) = attempt(&format!("read:{}", container_path("startup")));
    assert!(ok, "startup/ is not readable: {detail}");

    // Another job's folder is invisible: not listed, not readable.
    let (ok, detail) = attempt("other_entries");
    assert!(
        ok && detail.is_empty(),
        "workspace root lists other entries: {detail}"
    );
    let attempts = report["attempts"].as_object().expect("attempts");
    assert!(
        !attempts.keys().any(|k| k.starts_with("read_other:")),
        "{report:#}"
    );
    for path in [secret.clone(), container_path("other-job")] {
        let (ok, detail) = attempt(&format!("read:{path}"));
        assert!(!ok, "{path} is readable: {detail}");
        assert!(detail.contains("No such file or directory"), "{path}: {detail}");
    }

    // The mounts: the workspace root a tmpfs, startup/ and local/ read-only, the job rw.
    let mounts = report["mounts"].as_array().expect("mounts");
    let mount = |target: &str| {
        mounts
            .iter()
            .rev()
            .find(|m| m["target"] == json!(target))
            .unwrap_or_else(|| panic!("no mount at {target}: {mounts:#?}"))
    };
    assert_eq!(mount(WORKSPACE_MOUNT)["fstype"], json!("tmpfs"));
    assert_eq!(mount(&container_path("startup"))["ro"], json!(true));
    assert_eq!(mount(&container_path("local"))["ro"], json!(true));
    assert_eq!(mount(&container_path("probe-job"))["ro"], json!(false));
    let job_mounts: Vec<&str> = mounts
        .iter()
        .filter_map(|m| m["target"].as_str())
        .filter(|t| t.starts_with(&format!("{WORKSPACE_MOUNT}/")))
        .collect();
    assert_eq!(job_mounts.len(), 3, "unexpected workspace mounts: {job_mounts:?}");

    // No engine inside.
    assert_eq!(report["docker_socket"], json!(false), "{report:#}");

    // Credentials travel in the environment only, never on the command line.
    let argv = report["argv"].as_array().expect("argv");
    assert_eq!(
        argv.get(1..4),
        Some(&[json!("-u"), json!("-m"), json!(berth_testkit::CLIENT_MODULE)][..])
    );
    for secret in [AUTH_TOKEN, AUTH_SIGNATURE, SSID] {
        assert!(
            !argv
                .iter()
                .any(|a| a.as_str().is_some_and(|a| a.contains(secret))),
            "credential {secret} on the command line: {argv:?}"
        );
    }
    let env = &report["env"];
    assert_eq!(env["NVFLARE_JOB_AUTH_TOKEN"], json!(AUTH_TOKEN));
    assert_eq!(env["NVFLARE_JOB_TOKEN_SIGNATURE"], json!(AUTH_SIGNATURE));
    assert_eq!(env["NVFLARE_JOB_SSID"], json!(SSID));

    site.assert_removed(&h).await;
    site.assert_no_containers().await;
}
