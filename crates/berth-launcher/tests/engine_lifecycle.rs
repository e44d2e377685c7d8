//! The job lifecycle on a real Docker engine, with plans from the core builder and the job
//! stub image built by the tests (no registry is needed).
//!
//! These tests need Docker: without a reachable engine they are reported ignored, unless
//! `BERTH_REQUIRE_DOCKER=1`, where they fail. Each test runs its own site: a unique site
//! name (so its berth labels are its own), a temporary workspace, a unique network and a
//! unique stub image, all removed by a [`Cleanup`] guard even when the test fails. Every
//! test ends by listing the containers labelled with its site: none may remain.
//!
//! Jobs run as uid:gid 1000:1000, as they would under a launcher running as a non-root
//! user (the plan takes the launcher's ids).

use async_trait::async_trait;
use berth_audit::{AuditingRuntime, SitePolicy};
use berth_core::plan::ContainerPlan;
use berth_core::{labels, DockerStatus, Error, ErrorKind, JobReturnCode, WORKSPACE_MOUNT};
use berth_engine::dialect::EngineFamily;
use berth_engine::docker::{familiar_image_name, DockerRuntime};
use berth_engine::{
    ContainerEvent, ContainerRuntime, ContainerState, ContainerSummary, EngineError, EngineInfo,
    EngineResult, LabelFilter, LogChunk,
};
use berth_launcher::{JobHandle, Launcher, LauncherSettings};
use berth_store::{JobOutcome, MemoryStore, ObservedBy, OutcomeStore};
use berth_testkit::{obj, unique_name, Cleanup, LiveSite, SiteWorkspace};
use futures::future::join_all;
use futures::stream::BoxStream;
use futures::StreamExt;
use serde_json::{json, Value};
use std::os::unix::fs::MetadataExt;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

#[path = "engine_lifecycle/inside_the_job.rs"]
mod inside_the_job;
use inside_the_job::*;

/// Generous deadline for one engine step on a loaded 2-core machine.
const STEP: Duration = Duration::from_secs(90);

/// The job user: what a launcher running as a non-root user passes to the plan.
const JOB_UID: u32 = 1000;
const JOB_GID: u32 = 1000;

/// Credentials in the job process args; they must reach the job only through its env.
const AUTH_TOKEN: &str = "tok-5f1c2d9e7a";
const AUTH_SIGNATURE: &str = "sig-0b6e4c8f21";
const SSID: &str = "ssid-93d7a1c4";

async fn step<T>(what: &str, fut: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(STEP, fut)
        .await
        .unwrap_or_else(|_| panic!("{what} took longer than {STEP:?}"))
}

fn container_path(rel: &str) -> String {
    format!("{WORKSPACE_MOUNT}/{rel}")
}

/// The launcher args of these sites: a 30 s start timeout, then `extra`.
fn site_args(extra: Value) -> Value {
    let mut args = obj(json!({"timeout": 30}));
    args.extend(obj(extra));
    Value::Object(args)
}

/// A site's workspace with nothing on the engine yet.
fn workspace(network: &str, image: &str, extra_site_args: Value) -> SiteWorkspace {
    SiteWorkspace::new(network, image, site_args(extra_site_args))
}

/// The job process args, with credentials.
fn job_args(ws: &SiteWorkspace, job_id: &str) -> Value {
    let mut args = ws.client_args(job_id);
    args["auth_token"] = json!(["-t", AUTH_TOKEN]);
    args["auth_signature"] = json!(["-ts", AUTH_SIGNATURE]);
    args["ssid"] = json!(["-d", SSID]);
    args
}

/// The plan for `job_id` as the launcher would build it (parent root = host workspace,
/// since berth runs on the host here), running `image`.
fn plan_with_image(ws: &SiteWorkspace, job_id: &str, image: &str) -> ContainerPlan {
    ws.plan(
        &ws.job_meta(job_id, image),
        &job_args(ws, job_id),
        JOB_UID,
        JOB_GID,
    )
}

fn plan(ws: &SiteWorkspace, job_id: &str) -> ContainerPlan {
    plan_with_image(ws, job_id, &ws.image)
}

fn settings(ws: &SiteWorkspace) -> LauncherSettings {
    let mut s = LauncherSettings::new(&ws.site);
    s.network = ws.network.clone();
    s.start_timeout = Some(Duration::from_secs(30));
    s.poll_interval = Duration::from_millis(50);
    s.settle_check_interval = Duration::from_secs(5);
    s
}

/// One test's site on the real engine ([`LiveSite`]), a launcher and an in-memory outcome
/// store. Dropping it removes every container, network and image it registered (fields
/// drop in order: the launcher, then the site).
struct Site {
    launcher: Launcher,
    /// Audits every container the launcher creates against the site's policy.
    auditor: Arc<AuditingRuntime>,
    store: Arc<MemoryStore>,
    live: LiveSite,
}

impl Site {
    async fn new(rt: DockerRuntime, extra_site_args: Value) -> Self {
        Self::with_runtime(rt, extra_site_args, |rt| Arc::new(rt)).await
    }

    /// A site whose launcher talks to the engine through `wrap(rt)`.
    async fn with_runtime(
        rt: DockerRuntime,
        extra_site_args: Value,
        wrap: impl FnOnce(DockerRuntime) -> Arc<dyn ContainerRuntime>,
    ) -> Self {
        let live = LiveSite::new(rt.clone(), site_args(extra_site_args)).await;
        let store = Arc::new(MemoryStore::new());
        let policy = SitePolicy::new(&live.config(), &live.site, JOB_UID, JOB_GID).expect("site policy");
        let auditor = Arc::new(AuditingRuntime::new(wrap(rt.clone()), Arc::new(rt), policy));
        let launcher = Launcher::new(auditor.clone(), settings(&live), store.clone());
        Self {
            launcher,
            auditor,
            store,
            live,
        }
    }

    /// The plan for a job folder written with `script`; its container is registered with
    /// the guard before anything is created.
    fn plan(&self, job_id: &str, script: &str) -> ContainerPlan {
        self.live.write_job(job_id, script);
        let plan = plan(&self.live, job_id);
        self.live.cleanup.container(&plan.name);
        plan
    }

    async fn launch(&self, job_id: &str, script: &str) -> JobHandle {
        let plan = self.plan(job_id, script);
        step(&format!("launch {job_id}"), self.launcher.launch(plan))
            .await
            .unwrap_or_else(|e| panic!("launch {job_id}: {e} ({:?})", e.hint()))
    }

    fn stored(&self, h: &JobHandle) -> JobOutcome {
        self.store
            .outcome(h.container_id())
            .expect("read store")
            .unwrap_or_else(|| panic!("no outcome recorded for {}", h.job_id()))
    }

    async fn containers(&self) -> Vec<ContainerSummary> {
        step("list", self.live.rt.list(&self.live.site_filters(), true))
            .await
            .expect("list site containers")
    }

    /// No container labelled with this site remains, whatever its state (once the
    /// removals running in the background are done).
    async fn assert_no_containers(&self) {
        assert_eq!(
            self.launcher.wait_cleanups(Duration::from_secs(20)).await,
            0,
            "cleanups still running"
        );
        let left = self.containers().await;
        assert!(
            left.is_empty(),
            "containers left behind: {:?}",
            left.iter().map(|c| (&c.name, &c.status)).collect::<Vec<_>>()
        );
        assert_eq!(self.launcher.tracked_count(), 0, "jobs still tracked");
        self.auditor.assert_all_passed();
    }

    async fn assert_removed(&self, h: &JobHandle) {
        step("settle", h.wait_settled()).await;
        assert!(
            matches!(
                step("inspect", self.live.rt.inspect(h.container_id())).await,
                Err(EngineError::NotFound(_))
            ),
            "container of {} still exists",
            h.job_id()
        );
    }
}

async fn wait(h: &JobHandle) -> JobReturnCode {
    step(&format!("wait {}", h.job_id()), h.wait()).await
}

fn assert_refused(e: &Error, phrases: &[&str]) {
    assert_eq!(e.kind(), ErrorKind::Refused, "wrong kind for: {e}");
    for p in phrases {
        assert!(e.message().contains(p), "message lacks {p:?}: {e}");
    }
}

// ---- exit codes and outcomes ---------------------------------------------------------

async fn exit_codes_map_to_return_codes(rt: DockerRuntime) {
    // A small memory limit for every job of the site: only the allocating job exceeds it.
    let limits = json!({"default_job_container_kwargs": {"mem_limit": "32m", "memswap_limit": "32m"}});
    let site = Site::new(rt, limits).await;

    let scripted = [
        ("exit-0", "sleep 0.2\nexit 0", 0, JobReturnCode::Success),
        ("exit-1", "sleep 0.2\nexit 1", 1, JobReturnCode::ExecutionError),
        ("exit-3", "sleep 0.2\nexit 3", 3, JobReturnCode::ExecutionError),
        // The job's own abort code.
        ("exit-9", "sleep 0.2\nexit 9", 9, JobReturnCode::Aborted),
        // OOM-killed by the engine: SIGKILL, 137.
        ("oom", "alloc 256\nsleep 30", 137, JobReturnCode::ExecutionError),
    ];
    let mut handles = Vec::new();
    for (job, script, _, _) in &scripted {
        handles.push(site.launch(job, script).await);
    }
    // Killed from outside berth (`docker kill`): also 137, but not OOM.
    let killed = site.launch("killed", "sleep 60").await;
    assert!(step("killed running", killed.enter_states(&[DockerStatus::Running])).await);
    step("kill", site.live.rt.stop(killed.container_id(), 0))
        .await
        .expect("kill");

    let codes = join_all(handles.iter().chain([&killed]).map(wait)).await;
    // Podman before 5 never sets the OOM flag: its OOM kill is a plain 137 (dialect docs).
    let reports_oom = site.live.rt.engine().await.expect("engine").reports_oom_kills();
    let expected = scripted
        .iter()
        .map(|(job, _, exit, code)| (*job, *exit, *code))
        .chain([("killed", 137, JobReturnCode::ExecutionError)]);
    for ((job, exit, code), (h, got)) in expected.zip(handles.iter().chain([&killed]).zip(codes)) {
        assert_eq!(got, code, "return code of {job}");
        assert_eq!(h.terminal_state(), Some(code), "{job}");
        let outcome = h.outcome().expect("outcome on the handle");
        assert_eq!(outcome.exit_code, Some(exit), "exit code of {job}: {outcome:?}");
        assert_eq!(
            outcome.oom_killed,
            job == "oom" && reports_oom,
            "OOM flag of {job}: {outcome:?}"
        );
        assert!(outcome.finished_at.is_some(), "{job}: {outcome:?}");
        assert_eq!(
            site.stored(h),
            outcome,
            "{job}: the store holds what the handle says"
        );
        site.assert_removed(h).await;
    }
    site.assert_no_containers().await;
}

/// The output a job wrote before a terminate is kept in its job folder.
const LAST_WORDS: &str = "last words before the kill";

async fn terminate_on_a_running_job_is_aborted_and_leaves_no_container(rt: DockerRuntime) {
    let site = Site::new(rt, json!({})).await;
    let h = site
        .launch("long", &format!("print {LAST_WORDS}\nsleep 120"))
        .await;
    assert_eq!(h.terminal_state(), None);
    assert_eq!(step("poll", h.poll()).await, JobReturnCode::Unknown);
    step("the job's first line", async {
        while !logged(&site.live.rt, h.container_id()).await.contains(LAST_WORDS) {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;

    let started = Instant::now();
    assert_eq!(step("terminate", h.terminate()).await, JobReturnCode::Aborted);
    eprintln!("terminate took {:?}", started.elapsed());
    assert_eq!(h.terminal_state(), Some(JobReturnCode::Aborted));
    // Terminal state is set once: later calls answer from it.
    assert_eq!(wait(&h).await, JobReturnCode::Aborted);
    assert_eq!(step("poll", h.poll()).await, JobReturnCode::Aborted);
    assert_eq!(
        step("terminate again", h.terminate()).await,
        JobReturnCode::Aborted
    );

    let outcome = site.stored(&h);
    assert_eq!(outcome.return_code, JobReturnCode::Aborted);
    assert_eq!(outcome.observed_by, ObservedBy::Terminate);
    // Recorded while the kill is under way: the kill's 137 says nothing about the job.
    assert_eq!(outcome.exit_code, None, "{outcome:?}");
    site.assert_removed(&h).await;
    site.assert_no_containers().await;
    let log = site.live.job_dir("long").join(berth_launcher::JOB_LOG_FILE);
    let kept = std::fs::read_to_string(&log).expect("the terminated job's output was kept");
    assert!(kept.contains(LAST_WORDS), "{}: {kept:?}", log.display());
}

/// What the engine holds of a container's output so far.
async fn logged(rt: &DockerRuntime, id: &str) -> String {
    let chunks: Vec<_> = rt.logs(id, false).collect().await;
    chunks
        .into_iter()
        .filter_map(Result::ok)
        .map(|c| String::from_utf8_lossy(&c.bytes).into_owned())
        .collect()
}

/// Delegates to the engine, except that `start` returns only once the container has
/// exited: the launch can then only see the job after its end, never `running`.
struct StartReturnsAfterExit(DockerRuntime);

#[async_trait]
impl ContainerRuntime for StartReturnsAfterExit {
    async fn ping(&self) -> EngineResult<EngineInfo> {
        self.0.ping().await
    }
    async fn network_exists(&self, name: &str) -> EngineResult<bool> {
        self.0.network_exists(name).await
    }
    async fn image_exists(&self, image: &str) -> EngineResult<bool> {
        self.0.image_exists(image).await
    }
    async fn pull_image(&self, image: &str) -> EngineResult<()> {
        self.0.pull_image(image).await
    }
    async fn create(&self, name: &str, body: &Value, platform: Option<&str>) -> EngineResult<String> {
        self.0.create(name, body, platform).await
    }
    async fn start(&self, id: &str) -> EngineResult<()> {
        self.0.start(id).await?;
        self.0.wait_exit(id).await.map(|_| ())
    }
    async fn inspect(&self, id: &str) -> EngineResult<ContainerState> {
        self.0.inspect(id).await
    }
    async fn stop(&self, id: &str, grace_secs: u32) -> EngineResult<()> {
        self.0.stop(id, grace_secs).await
    }
    async fn kill(&self, id: &str) -> EngineResult<()> {
        self.0.kill(id).await
    }
    async fn remove(&self, id: &str, force: bool) -> EngineResult<()> {
        self.0.remove(id, force).await
    }
    async fn list(&self, filters: &[LabelFilter], all: bool) -> EngineResult<Vec<ContainerSummary>> {
        self.0.list(filters, all).await
    }
    fn events(&self, filters: &[LabelFilter]) -> BoxStream<'static, EngineResult<ContainerEvent>> {
        self.0.events(filters)
    }
    fn logs(&self, id: &str, follow: bool) -> BoxStream<'static, EngineResult<LogChunk>> {
        self.0.logs(id, follow)
    }
    async fn wait_exit(&self, id: &str) -> EngineResult<i64> {
        self.0.wait_exit(id).await
    }
}

async fn a_job_that_exits_before_running_is_seen_is_reported(rt: DockerRuntime) {
    let site = Site::with_runtime(rt, json!({}), |rt| Arc::new(StartReturnsAfterExit(rt))).await;
    let h = site.launch("quick", "exit 3").await;
    // The launch returned a handle, and the end is already known: it was not lost.
    assert_eq!(h.terminal_state(), Some(JobReturnCode::ExecutionError));
    assert_eq!(wait(&h).await, JobReturnCode::ExecutionError);
    let outcome = site.stored(&h);
    assert_eq!(outcome.exit_code, Some(3), "{outcome:?}");
    assert_eq!(h.outcome(), Some(outcome));
    site.assert_removed(&h).await;

    // The same on the plain engine path, where the race goes whichever way it goes.
    let plain = Site::new(site.live.rt.clone(), json!({})).await;
    let quick = plain.launch("quick-plain", "exit 0").await;
    eprintln!("plain launch returned with state {:?}", quick.terminal_state());
    assert_eq!(wait(&quick).await, JobReturnCode::Success);
    assert_eq!(plain.stored(&quick).exit_code, Some(0));
    plain.assert_no_containers().await;
    site.assert_no_containers().await;
}

// ---- clear errors ----------------------------------------------------------------------

async fn a_missing_network_is_a_clear_error(rt: DockerRuntime) {
    let cleanup = Cleanup::new(&rt);
    let image = step("import stub image", cleanup.new_stub_image(&rt))
        .await
        .expect("stub image");
    let absent = unique_name("net-absent");
    let ws = workspace(&absent, &image, json!({}));
    ws.write_job("job-1", "exit 0");
    let plan = plan(&ws, "job-1");
    cleanup.container(&plan.name);
    let launcher = Launcher::new(Arc::new(rt.clone()), settings(&ws), Arc::new(MemoryStore::new()));

    let e = step("launch", launcher.launch(plan)).await.unwrap_err();
    assert_refused(&e, &["does not exist", &absent]);
    let hint = e.hint().unwrap_or_default();
    assert!(
        hint.contains(&format!("docker network create {absent}")),
        "hint: {hint:?}"
    );
    let left = step("list", rt.list(&ws.site_filters(), true))
        .await
        .expect("list");
    assert!(left.is_empty(), "{left:?}");
}

async fn a_missing_image_is_a_clear_error(rt: DockerRuntime) {
    let site = Site::new(rt, json!({})).await;
    site.live.write_job("job-1", "exit 0");
    let absent = format!("{}:absent", unique_name("img"));
    let plan = plan_with_image(&site.live, "job-1", &absent);
    site.live.cleanup.container(&plan.name);

    let e = step("launch", site.launcher.launch(plan)).await.unwrap_err();
    assert_refused(&e, &["not found for job", "job-1", &absent]);
    assert!(
        e.hint().is_some_and(|h| h.contains("does not pull")),
        "{:?}",
        e.hint()
    );
    site.assert_no_containers().await;
}

async fn an_unreachable_engine_is_a_clear_error() {
    // Needs no engine: it must not find one.
    let ws = workspace("nvflare-network", "berth-job-stub:absent", json!({}));
    ws.write_job("job-1", "exit 0");
    let plan = plan(&ws, "job-1");
    let rt = DockerRuntime::connect("unix:///nonexistent/berth.sock").expect("a well-formed address");
    let launcher = Launcher::new(Arc::new(rt), settings(&ws), Arc::new(MemoryStore::new()));
    let e = step("launch", launcher.launch(plan)).await.unwrap_err();
    assert_refused(
        &e,
        &["cannot connect to Docker daemon", "/nonexistent/berth.sock"],
    );
}

// ---- many jobs at once -----------------------------------------------------------------

async fn twenty_concurrent_jobs_all_reach_their_outcome(rt: DockerRuntime) {
    let site = Site::new(rt, json!({})).await;
    let jobs: Vec<(String, i64)> = (0..20).map(|i| (format!("job-{i:02}"), i)).collect();
    let plans: Vec<ContainerPlan> = jobs
        .iter()
        .map(|(job, code)| site.plan(job, &format!("sleep 0.5\nexit {code}")))
        .collect();

    let started = Instant::now();
    let launched = join_all(plans.into_iter().map(|plan| site.launcher.launch(plan)));
    let handles: Vec<JobHandle> = step("launch 20 jobs", launched)
        .await
        .into_iter()
        .collect::<Result<_, _>>()
        .unwrap_or_else(|e: Error| panic!("a launch failed: {e}"));
    eprintln!("20 launches took {:?}", started.elapsed());
    let codes = join_all(handles.iter().map(wait)).await;
    eprintln!("20 jobs ended after {:?}", started.elapsed());

    for (((job, exit), h), code) in jobs.iter().zip(&handles).zip(codes) {
        assert_eq!(h.job_id(), job);
        assert_eq!(code, JobReturnCode::from_exit_code(*exit), "{job}");
        let outcome = site.stored(h);
        assert_eq!(outcome.exit_code, Some(*exit), "{job}: {outcome:?}");
        assert_eq!(outcome.return_code, code, "{job}");
    }
    assert_eq!(
        handles
            .iter()
            .filter(|h| h.terminal_state() == Some(JobReturnCode::Aborted))
            .count(),
        1,
        "exactly one job (exit 9) aborted itself"
    );
    site.assert_no_containers().await;
}

// ---- cleanup, and the plan as the engine takes it -------------------------------------

async fn a_failing_test_leaves_no_container_behind(rt: DockerRuntime) {
    let seen: Arc<Mutex<Option<(String, String)>>> = Arc::default();
    let (rt2, seen2) = (rt.clone(), seen.clone());
    let failed = tokio::spawn(async move {
        let site = Site::new(rt2, json!({})).await;
        let h = site.launch("doomed", "sleep 120").await;
        *seen2.lock().unwrap() = Some((site.live.site.clone(), h.container_id().to_string()));
        panic!("a failing test (expected)");
    })
    .await;
    assert!(failed.unwrap_err().is_panic());
    let (site, id) = seen.lock().unwrap().clone().expect("the job was launched");
    let filters = [
        LabelFilter::eq(labels::MANAGED, "true"),
        LabelFilter::eq(labels::SITE, &site),
    ];
    let left = step("list", rt.list(&filters, true)).await.expect("list");
    assert!(left.is_empty(), "{left:?}");
    assert!(matches!(
        step("inspect", rt.inspect(&id)).await,
        Err(EngineError::NotFound(_))
    ));
}

/// `docker inspect` of one object, as JSON.
fn docker_inspect(rt: &DockerRuntime, id: &str) -> Value {
    let out = std::process::Command::new("docker")
        .args(["-H", &rt.endpoint(), "inspect", id])
        .output()
        .expect("the docker command is needed to inspect the container");
    assert!(
        out.status.success(),
        "docker inspect: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let list: Value = serde_json::from_slice(&out.stdout).expect("docker inspect prints JSON");
    list[0].clone()
}

async fn the_planned_create_body_is_accepted_by_the_engine_as_planned(rt: DockerRuntime) {
    let site = Site::new(
        rt,
        json!({
            "default_job_container_kwargs": {"shm_size": "64m", "labels": {"org.example.team": "fl"}},
            "default_job_env": {"SITE_LEVEL": "from-site", "FLAG": true},
        }),
    )
    .await;
    let plan = site.plan("job-1", "exit 0");
    // What `berth plan` prints, read back as the engine would get it.
    let printed: Value =
        serde_json::from_str(&serde_json::to_string(&plan.create).expect("serialise")).expect("parse");
    let id = step(
        "create",
        site.live
            .rt
            .create(&plan.name, &printed, plan.platform.as_deref()),
    )
    .await
    .unwrap_or_else(|e| panic!("the engine refused the plan: {e}\n{printed:#}"));
    let got = docker_inspect(&site.live.rt, &id);
    let (config, host) = (&got["Config"], &got["HostConfig"]);
    let podman = matches!(
        site.live.rt.engine().await.expect("engine").family(),
        EngineFamily::Podman { .. }
    );

    assert_eq!(got["Name"], json!(format!("/{}", plan.name)));
    assert_eq!(
        familiar_image_name(config["Image"].as_str().unwrap_or_default()),
        plan.image
    );
    assert_eq!(config["Cmd"], printed["Cmd"]);
    assert_eq!(config["User"], json!(format!("{JOB_UID}:{JOB_GID}")));
    assert_eq!(config["WorkingDir"], json!(container_path("job-1")));
    let env = config["Env"].as_array().expect("Env");
    for item in printed["Env"].as_array().expect("planned Env") {
        assert!(env.contains(item), "Env lacks {item}: {env:?}");
    }
    assert!(env.contains(&json!("SITE_LEVEL=from-site")) && env.contains(&json!("FLAG=True")));
    for (k, v) in printed["Labels"].as_object().expect("planned Labels") {
        assert_eq!(&config["Labels"][k], v, "label {k}");
    }
    assert_eq!(config["Labels"]["org.example.team"], json!("fl"));
    assert_eq!(config["Labels"][labels::SITE], json!(site.live.site));

    assert!(
        got["NetworkSettings"]["Networks"]
            .get(&site.live.network)
            .is_some(),
        "{:#}",
        got["NetworkSettings"]
    );
    assert_eq!(host["AutoRemove"], json!(false));
    assert_eq!(host["ShmSize"], json!(64 * 1024 * 1024));
    // The default `restricted` profile, as the engine holds it.
    // Docker reports `["ALL"]`, Podman the default capabilities it dropped.
    assert!(
        berth_audit::drops_all_capabilities(host.get("CapDrop")),
        "{:#}",
        host["CapDrop"]
    );
    assert_eq!(host["SecurityOpt"], json!(["no-new-privileges"]));
    assert_eq!(host["PidsLimit"], json!(berth_core::security::DEFAULT_PIDS_LIMIT));
    let root = site.live.root().to_str().expect("utf-8");
    let expected = [
        ("startup", format!("{root}/startup"), true),
        ("local", format!("{root}/local"), true),
        ("job-1", format!("{root}/job-1"), false),
    ];
    if podman {
        // Podman was asked for `mode=1777,U` (berth_engine::dialect): `U` becomes the job
        // user's uid and gid when the container starts (the isolation probe checks the
        // effect). It reports mounts only as mount points (below).
        let options: Vec<&str> = host["Tmpfs"][WORKSPACE_MOUNT]
            .as_str()
            .expect("workspace tmpfs")
            .split(',')
            .collect();
        assert!(options.contains(&"mode=1777"), "{options:?}");
        assert!(options.contains(&"U"), "{options:?}");
    } else {
        assert_eq!(host["NetworkMode"], json!(site.live.network));
        assert_eq!(
            host["Tmpfs"],
            json!({WORKSPACE_MOUNT: format!("mode=1777,uid={JOB_UID},gid={JOB_GID}")})
        );
        let mounts = host["Mounts"].as_array().expect("HostConfig.Mounts");
        assert_eq!(mounts.len(), expected.len(), "{mounts:#?}");
        for (m, (target, source, ro)) in mounts.iter().zip(&expected) {
            assert_eq!(m["Type"], json!("bind"), "{m}");
            assert_eq!(m["Source"], json!(source), "{m}");
            assert_eq!(m["Target"], json!(container_path(target)), "{m}");
            // The engine leaves `ReadOnly` out when it is false.
            assert_eq!(m["ReadOnly"].as_bool().unwrap_or(false), *ro, "{m}");
        }
    }
    // The engine's own view of the mount points agrees.
    let points = got["Mounts"].as_array().expect("Mounts");
    for (target, source, ro) in &expected {
        let point = points
            .iter()
            .find(|p| p["Destination"] == json!(container_path(target)))
            .unwrap_or_else(|| panic!("no mount point {target}: {points:#?}"));
        assert_eq!(point["Source"], json!(source));
        assert_eq!(point["RW"], json!(!ro));
    }

    step("remove", site.live.rt.remove(&id, true))
        .await
        .expect("remove");
    site.assert_no_containers().await;
}

berth_testkit::test_main!(
    gaining_privileges_fails_under_restricted_and_succeeds_under_baseline,
    exit_codes_map_to_return_codes,
    terminate_on_a_running_job_is_aborted_and_leaves_no_container,
    a_job_that_exits_before_running_is_seen_is_reported,
    the_job_container_is_isolated,
    a_missing_network_is_a_clear_error,
    a_missing_image_is_a_clear_error,
    an_unreachable_engine_is_a_clear_error,
    twenty_concurrent_jobs_all_reach_their_outcome,
    a_failing_test_leaves_no_container_behind,
    the_planned_create_body_is_accepted_by_the_engine_as_planned,
);
