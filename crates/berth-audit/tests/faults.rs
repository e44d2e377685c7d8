//! Engine faults against the real engine. The launcher talks to the engine through a
//! unix-socket proxy (`common::proxy`) that cuts connections, adds latency or goes away;
//! the tests' own checks use a direct connection. Every container the launcher creates is
//! audited right after creation ([`AuditingRuntime`]).
//!
//! In each scenario berth must report correct outcomes, leave no container behind and
//! launch one more job fine afterwards. Timings are printed (`--nocapture` shows them).

mod common;

use berth_audit::AuditingRuntime;
use berth_core::{ErrorKind, JobReturnCode};
use berth_engine::docker::{DockerRuntime, DEFAULT_SOCKET};
use berth_engine::ContainerRuntime;
use berth_engine::EngineError;
use berth_launcher::{JobHandle, Launcher, LauncherSettings};
use berth_store::{MemoryStore, ObservedBy, OutcomeStore};
use common::proxy::{EngineProxy, RequestMatch};
use common::{step, TestSite};
use futures::future::join_all;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A site whose launcher reaches the engine through a proxy.
struct FaultSite {
    launcher: Launcher,
    store: Arc<MemoryStore>,
    audited: Arc<AuditingRuntime>,
    proxy: EngineProxy,
    _proxy_dir: tempfile::TempDir,
    site: TestSite,
}

impl FaultSite {
    async fn new(rt: DockerRuntime, extra_site_args: Value) -> Self {
        Self::with(rt, extra_site_args, |_| {}).await
    }

    async fn with(
        rt: DockerRuntime,
        extra_site_args: Value,
        edit: impl FnOnce(&mut LauncherSettings),
    ) -> Self {
        let site = TestSite::new(rt, extra_site_args).await;
        let proxy_dir = tempfile::tempdir().expect("proxy dir");
        let proxy = EngineProxy::start(&proxy_dir.path().join("engine.sock"), Path::new(DEFAULT_SOCKET));
        let through_proxy = DockerRuntime::connect(&proxy.url()).expect("proxy runtime");
        let audited = Arc::new(AuditingRuntime::new(
            Arc::new(through_proxy),
            Arc::new(site.rt.clone()),
            site.policy(),
        ));
        let store = Arc::new(MemoryStore::new());
        let mut settings = site.settings();
        edit(&mut settings);
        let launcher = Launcher::new(audited.clone(), settings, store.clone());
        Self {
            launcher,
            store,
            audited,
            proxy,
            _proxy_dir: proxy_dir,
            site,
        }
    }

    async fn launch(&self, job_id: &str, script: &str) -> JobHandle {
        common::launch(&self.launcher, &self.site, job_id, script).await
    }

    /// Waits for the job (and its container's removal) and checks its state, exit code and
    /// stored outcome.
    async fn expect_end(&self, h: &JobHandle, code: JobReturnCode, exit_code: Option<i64>) {
        let got = step(&format!("wait {}", h.job_id()), h.wait_settled()).await;
        assert_eq!(got, code, "state of {}", h.job_id());
        let stored = self
            .store
            .outcome(h.container_id())
            .expect("read store")
            .unwrap_or_else(|| panic!("no outcome recorded for {}", h.job_id()));
        assert_eq!(
            (stored.return_code, stored.exit_code),
            (code, exit_code),
            "outcome of {}: {stored:?}",
            h.job_id()
        );
    }

    /// berth still works: one more job runs and ends well, and nothing is left.
    async fn launch_one_more_and_finish(&self) {
        let h = self.launch("one-more", "exit 0").await;
        self.expect_end(&h, JobReturnCode::Success, Some(0)).await;
        self.finish().await;
    }

    /// Nothing left, nothing tracked, and every created container passed the audit.
    async fn finish(&self) {
        // Removal follows the recorded outcome; give a last removal a moment.
        let deadline = Instant::now() + Duration::from_secs(20);
        while !self.site.containers().await.is_empty() && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        self.site.assert_no_containers().await;
        assert_eq!(self.launcher.tracked_count(), 0, "jobs still tracked");
        let audited = self.audited.assert_all_passed();
        assert!(audited > 0, "no container was audited");
    }
}

fn observed(store: &MemoryStore, handles: &[JobHandle]) -> BTreeMap<&'static str, usize> {
    let mut by = BTreeMap::new();
    for h in handles {
        if let Ok(Some(o)) = store.outcome(h.container_id()) {
            *by.entry(o.observed_by.as_str()).or_default() += 1;
        }
    }
    by
}

// (a) The event stream is cut 5 times while 50 short jobs with distinct exit codes run,
// launched in waves of 10. (Cutting every open connection instead also cuts removals in
// flight: see `a_removal_that_fails_is_retried`.)
async fn fifty_jobs_survive_five_event_stream_cuts(rt: DockerRuntime) {
    let s = FaultSite::new(rt, json!({})).await;
    let started = Instant::now();
    let mut jobs: Vec<(JobHandle, i64)> = Vec::new();
    let mut cuts = Vec::new();
    for wave in 0..5 {
        let launches = (0..10).map(|i| {
            let n = wave * 10 + i;
            // Distinct codes 0..=49 (9 is the job's own abort code); runs of 0.6 to 2.2 s.
            let code = n as i64;
            let secs = 0.6 + 0.4 * (i % 5) as f64;
            let script = format!("sleep {secs}\nexit {code}");
            let job_id = format!("job-{n:02}");
            let s = &s;
            async move { (s.launch(&job_id, &script).await, code) }
        });
        jobs.extend(join_all(launches).await);
        tokio::time::sleep(Duration::from_millis(700)).await;
        cuts.push(s.proxy.cut_event_streams());
    }
    let launched_in = started.elapsed();
    join_all(jobs.iter().map(|(h, code)| {
        let code = *code;
        s.expect_end(h, JobReturnCode::from_exit_code(code), Some(code))
    }))
    .await;
    let handles: Vec<JobHandle> = jobs.iter().map(|(h, _)| h.clone()).collect();
    eprintln!(
        "(a) 50 jobs, 5 cuts (event streams cut: {cuts:?}): launched in {launched_in:?}, all ended in {:?}; \
         observed by {:?}; proxy accepted {} connections",
        started.elapsed(),
        observed(&s.store, &handles),
        s.proxy.accepted()
    );
    assert_eq!(cuts.len(), 5);
    assert!(
        cuts.iter().all(|&n| n == 1),
        "each cut should find the one event stream: {cuts:?}"
    );
    s.finish().await;
    assert_eq!(s.audited.created(), 50);
    s.launch_one_more_and_finish().await;
}

// (b) Every request reaches the engine 200 ms late.
async fn a_slow_engine_still_gives_correct_outcomes(rt: DockerRuntime) {
    let s = FaultSite::new(rt, json!({})).await;
    s.proxy.set_delay(Duration::from_millis(200));
    let started = Instant::now();
    let codes = [0_i64, 3, 9, 42];
    let site = &s;
    let handles = join_all(codes.iter().map(|code| async move {
        site.launch(&format!("slow-{code}"), &format!("sleep 0.5\nexit {code}"))
            .await
    }))
    .await;
    let launched_in = started.elapsed();
    for (h, code) in handles.iter().zip(codes) {
        s.expect_end(h, JobReturnCode::from_exit_code(code), Some(code))
            .await;
    }
    eprintln!(
        "(b) 200 ms per request: 4 concurrent launches in {launched_in:?}, all ended in {:?}",
        started.elapsed()
    );
    let t = Instant::now();
    s.launch_one_more_and_finish().await;
    eprintln!("(b) one more job, still slow: {:?}", t.elapsed());
}

// (c) Nothing listens at launch: a clear Refused error and nothing created; once the
// engine is back, the next launch works. The same once the launcher has already talked
// to the engine.
async fn an_unreachable_engine_refuses_the_launch_and_creates_nothing(rt: DockerRuntime) {
    let s = FaultSite::new(rt, json!({})).await;
    s.proxy.down();
    let t = Instant::now();
    let err = step("launch", s.launcher.launch(s.site.plan("down-1", "exit 0")))
        .await
        .expect_err("launch with the engine down");
    eprintln!("(c) first launch, engine down, after {:?}: {err}", t.elapsed());
    assert_eq!(err.kind(), ErrorKind::Refused, "{err}");
    assert!(err.message().contains("cannot connect to Docker daemon"), "{err}");
    s.site.assert_no_containers().await;
    assert_eq!(s.audited.created(), 0);

    s.proxy.up();
    let h = s.launch("up-1", "exit 0").await;
    s.expect_end(&h, JobReturnCode::Success, Some(0)).await;

    // The launcher has pinged already: the engine going away now fails the launch at its
    // first engine request instead.
    s.proxy.down();
    let t = Instant::now();
    let err = step("launch", s.launcher.launch(s.site.plan("down-2", "exit 0")))
        .await
        .expect_err("second launch with the engine down");
    eprintln!("(c) later launch, engine down, after {:?}: {err}", t.elapsed());
    assert_eq!(err.kind(), ErrorKind::Refused, "{err}");
    assert!(err.message().contains("cannot reach the engine"), "{err}");
    s.site.assert_no_containers().await;
    s.proxy.up();
    s.launch_one_more_and_finish().await;
}

// (d) `docker rm -f` behind berth's back while the job runs. While events flow, the die
// event carries the kill's 137 before the container is gone: recorded like any kill from
// outside (EXECUTION_ERROR, 137). When berth is cut off from the engine while it happens,
// nothing tells how the job ended: ABORTED, observed as vanished.
async fn a_container_removed_behind_berths_back_is_recorded_and_gone(rt: DockerRuntime) {
    let s = FaultSite::new(rt, json!({})).await;

    let h = s.launch("removed", "sleep 60").await;
    step("rm -f", s.site.rt.remove(h.container_id(), true))
        .await
        .expect("remove behind berth's back");
    let t = Instant::now();
    s.expect_end(&h, JobReturnCode::ExecutionError, Some(137)).await;
    let outcome = s.store.outcome(h.container_id()).expect("read").expect("outcome");
    eprintln!(
        "(d) rm -f, events flowing: ended after {:?}, outcome {outcome:?}",
        t.elapsed()
    );
    assert_eq!(outcome.observed_by, ObservedBy::Event);

    let h = s.launch("removed-unseen", "sleep 60").await;
    s.proxy.down();
    step("rm -f", s.site.rt.remove(h.container_id(), true))
        .await
        .expect("remove behind berth's back");
    tokio::time::sleep(Duration::from_millis(500)).await;
    s.proxy.up();
    let t = Instant::now();
    s.expect_end(&h, JobReturnCode::Aborted, None).await;
    let outcome = s.store.outcome(h.container_id()).expect("read").expect("outcome");
    eprintln!(
        "(d) rm -f, berth cut off: ended {:?} after the engine came back, outcome {outcome:?}",
        t.elapsed()
    );
    assert_eq!(outcome.observed_by, ObservedBy::Vanished);
    s.finish().await;
    s.launch_one_more_and_finish().await;
}

// (e) Killed from outside (SIGKILL, 137).
async fn a_container_killed_from_outside_is_an_execution_error_137(rt: DockerRuntime) {
    let s = FaultSite::new(rt, json!({})).await;
    let h = s.launch("killed", "sleep 60").await;
    step("kill", s.site.rt.stop(h.container_id(), 0))
        .await
        .expect("kill from outside");
    let t = Instant::now();
    s.expect_end(&h, JobReturnCode::ExecutionError, Some(137)).await;
    let outcome = s.store.outcome(h.container_id()).expect("read").expect("outcome");
    eprintln!("(e) kill: ended after {:?}, outcome {outcome:?}", t.elapsed());
    assert!(!outcome.oom_killed);
    s.finish().await;
    s.launch_one_more_and_finish().await;
}

// (f) OOM-killed under the site's memory limit.
async fn an_oom_killed_job_is_recorded_as_such(rt: DockerRuntime) {
    let s = FaultSite::new(
        rt,
        json!({"default_job_container_kwargs": {"mem_limit": "32m", "memswap_limit": "32m"}}),
    )
    .await;
    let h = s.launch("oom", "alloc 256\nsleep 30").await;
    let t = Instant::now();
    s.expect_end(&h, JobReturnCode::ExecutionError, Some(137)).await;
    let outcome = s.store.outcome(h.container_id()).expect("read").expect("outcome");
    eprintln!("(f) OOM: ended after {:?}, outcome {outcome:?}", t.elapsed());
    assert!(outcome.oom_killed, "{outcome:?}");
    s.finish().await;
    s.launch_one_more_and_finish().await;
}

// (g) The engine connection fails while berth removes an ended job's container (here: the
// removal request is dropped on its way). The outcome is recorded; the container must
// still go: the launcher retries a failed removal with growing pauses.
async fn a_removal_that_fails_is_retried(rt: DockerRuntime) {
    let s = FaultSite::new(rt, json!({})).await;
    let h = s.launch("remove-fails", "sleep 0.5\nexit 4").await;
    s.proxy.drop_deletes(true);
    s.expect_end(&h, JobReturnCode::ExecutionError, Some(4)).await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    s.proxy.drop_deletes(false);
    eprintln!("(g) removals dropped: {}", s.proxy.deletes_dropped());
    s.finish().await;
    s.launch_one_more_and_finish().await;
}

/// The engine deadline of the tests below (`engine_timeout`): short, yet long enough for
/// a create or start on a loaded shared engine.
const DEADLINE: Duration = Duration::from_secs(10);
/// "It did not hang": a generous upper bound for one failing request on a loaded machine.
const BOUND: Duration = Duration::from_secs(40);

fn short_deadline(s: &mut LauncherSettings) {
    s.engine_timeout = DEADLINE;
}

impl FaultSite {
    /// The container of `name` as the engine shows it, through the direct connection.
    async fn status_of(&self, name: &str) -> Option<String> {
        match step("inspect", self.site.rt.inspect(name)).await {
            Ok(st) => Some(st.status),
            Err(EngineError::NotFound(_)) => None,
            Err(e) => panic!("inspect {name}: {e}"),
        }
    }

    /// Every launch recorded has its outcome, and recovery by another process finds
    /// nothing to fix.
    async fn assert_every_launch_has_its_outcome(&self) {
        common::assert_every_launch_has_its_outcome(&self.site, &self.store).await;
    }
}

fn unreachable_text(e: &EngineError) -> &str {
    match e {
        EngineError::Unreachable(m) => m,
        other => panic!("expected an engine error, got {other:?}"),
    }
}

// (h) The engine accepts requests and never answers. Every request ends at the deadline
// with an error naming the engine and the deadline; nothing is recorded from it; a job
// that really ends meanwhile (its die event comes on the stream opened before) is
// recorded exactly; once the engine answers again, a stop works.
async fn a_hung_engine_is_an_error_within_the_deadline_never_an_outcome(rt: DockerRuntime) {
    let s = FaultSite::with(rt, json!({}), short_deadline).await;
    let long = s.launch("hung-long", "sleep 60").await;
    let short = s.launch("hung-short", "sleep 8\nexit 7").await;
    s.proxy.hang(true);

    let t = Instant::now();
    let e = step("poll", long.try_poll()).await.unwrap_err();
    let took = t.elapsed();
    eprintln!("(h) poll, engine hung: {took:?}: {e}");
    assert!(took >= DEADLINE && took < BOUND, "{took:?}");
    let msg = unreachable_text(&e);
    assert!(
        msg.contains(&s.proxy.url()) && msg.contains(&format!("within {}s", DEADLINE.as_secs())),
        "{msg}"
    );
    assert_eq!(step("poll", long.poll()).await, JobReturnCode::Unknown);

    let t = Instant::now();
    let err = step("launch", s.launcher.launch(s.site.plan("hung-new", "exit 0")))
        .await
        .expect_err("launch on a hung engine");
    let took = t.elapsed();
    eprintln!("(h) launch, engine hung: {took:?}: {err}");
    assert!(took < BOUND, "{took:?}");
    assert!(err.message().contains("did not answer"), "{err}");
    assert_eq!(s.status_of(&s.site.plan("hung-new", "exit 0").name).await, None);

    let t = Instant::now();
    let e = step("stop", long.try_terminate()).await.unwrap_err();
    eprintln!("(h) stop, engine hung: {:?}: {e}", t.elapsed());
    assert!(t.elapsed() < BOUND);
    assert_eq!(long.terminal_state(), None);
    assert_eq!(
        s.store.outcome(long.container_id()).unwrap(),
        None,
        "recorded from an error"
    );
    assert_eq!(
        s.status_of(long.container_name()).await.as_deref(),
        Some("running")
    );

    // The short job ends on its own while the engine hangs: its die event still arrives.
    s.expect_end(&short, JobReturnCode::ExecutionError, Some(7)).await;
    eprintln!("(h) requests swallowed while hung: {}", s.proxy.requests_hung());
    s.proxy.hang(false);
    assert_eq!(
        step("stop", long.try_terminate()).await.unwrap(),
        JobReturnCode::Aborted
    );
    assert_eq!(
        s.store.outcome(long.container_id()).unwrap().unwrap().return_code,
        JobReturnCode::Aborted
    );
    s.finish().await;
    s.assert_every_launch_has_its_outcome().await;
    s.launch_one_more_and_finish().await;
}

// (i) Slow headers: every answer held back. Past the deadline a launch fails at its first
// request and creates nothing; under it, launches are slow and outcomes exact.
async fn slow_headers_past_the_deadline_fail_fast_and_under_it_work(rt: DockerRuntime) {
    let s = FaultSite::with(rt, json!({}), short_deadline).await;
    s.proxy.set_answer_delay(DEADLINE + Duration::from_secs(1));
    let t = Instant::now();
    let err = step("launch", s.launcher.launch(s.site.plan("slow-1", "exit 0")))
        .await
        .expect_err("launch past the deadline");
    eprintln!(
        "(i) headers 1 s past the deadline ({DEADLINE:?}): failed after {:?}: {err}",
        t.elapsed()
    );
    assert!(t.elapsed() < BOUND);
    assert!(
        err.message()
            .contains(&format!("did not answer a ping within {}s", DEADLINE.as_secs())),
        "{err}"
    );
    s.site.assert_no_containers().await;

    s.proxy.set_answer_delay(Duration::from_millis(400));
    let t = Instant::now();
    let h = s.launch("slow-2", "sleep 1\nexit 3").await;
    eprintln!("(i) headers 0.4 s late: launched in {:?}", t.elapsed());
    s.expect_end(&h, JobReturnCode::ExecutionError, Some(3)).await;
    s.proxy.set_answer_delay(Duration::ZERO);
    s.finish().await;
    s.assert_every_launch_has_its_outcome().await;
    s.launch_one_more_and_finish().await;
}

// (j) The create reaches the engine, its answer is lost. The launch fails with the engine
// error; the container the engine made (never started, nothing recorded) is removed.
async fn a_cut_mid_create_fails_the_launch_and_leaves_nothing(rt: DockerRuntime) {
    let s = FaultSite::with(rt, json!({}), short_deadline).await;
    let warm = s.launch("warm", "exit 0").await;
    s.expect_end(&warm, JobReturnCode::Success, Some(0)).await;
    s.proxy.cut_after_next(RequestMatch::CREATE);
    let plan = s.site.plan("cut-create", "exit 0");
    let name = plan.name.clone();
    let t = Instant::now();
    let err = step("launch", s.launcher.launch(plan))
        .await
        .expect_err("launch with the create cut");
    eprintln!("(j) create cut: failed after {:?}: {err}", t.elapsed());
    assert_eq!(s.proxy.cuts_after(), 1);
    assert!(err.message().contains("cannot reach the engine"), "{err}");
    assert_eq!(s.status_of(&name).await, None, "the created container was left");
    s.finish().await;
    s.assert_every_launch_has_its_outcome().await;
    // The same job id launches fine afterwards.
    let h = s.launch("cut-create", "exit 0").await;
    s.expect_end(&h, JobReturnCode::Success, Some(0)).await;
    s.finish().await;
}

// (k) The start reaches the engine, its answer is lost. The launch fails; the container
// (which did start) is stopped, recorded ABORTED and removed, as any failed start.
async fn a_cut_mid_start_records_the_launch_aborted_and_leaves_nothing(rt: DockerRuntime) {
    let s = FaultSite::with(rt, json!({}), short_deadline).await;
    s.proxy.cut_after_next(RequestMatch::START);
    let t = Instant::now();
    let err = step("launch", s.launcher.launch(s.site.plan("cut-start", "sleep 60")))
        .await
        .expect_err("launch with the start cut");
    eprintln!("(k) start cut: failed after {:?}: {err}", t.elapsed());
    assert_eq!(s.proxy.cuts_after(), 1);
    assert!(err.message().contains("cannot reach the engine"), "{err}");
    // The terminate runs in the launch's error path: wait for its removal.
    s.finish().await;
    let launches = s.store.launches();
    assert_eq!(launches.len(), 1);
    let o = s
        .store
        .outcome(&launches[0].container_id)
        .unwrap()
        .expect("outcome");
    assert_eq!(
        (o.return_code, o.observed_by),
        (JobReturnCode::Aborted, ObservedBy::Terminate)
    );
    s.assert_every_launch_has_its_outcome().await;
    s.launch_one_more_and_finish().await;
}

// (l) The stop reaches the engine, its answer is lost. The caller gets the engine error
// (CLI: exit 3); the job's end still arrives as an event and is recorded ABORTED, as the
// stop asked, and the container is removed. A terminate stops with a kill on Docker and
// with a stop on Podman (berth-engine's `kill`).
async fn a_cut_mid_stop_is_an_error_and_the_job_still_ends_aborted(rt: DockerRuntime) {
    let stop = if rt.engine().await.expect("engine").kill_is_quickest_stop() {
        RequestMatch::KILL
    } else {
        RequestMatch::STOP
    };
    let s = FaultSite::with(rt, json!({}), short_deadline).await;
    let h = s.launch("cut-stop", "sleep 60").await;
    s.proxy.cut_after_next(stop);
    let t = Instant::now();
    let result = step("stop", h.try_terminate()).await;
    eprintln!("(l) stop cut: answered after {:?}: {result:?}", t.elapsed());
    assert_eq!(s.proxy.cuts_after(), 1);
    assert!(matches!(result, Err(EngineError::Unreachable(_))), "{result:?}");
    s.expect_end(&h, JobReturnCode::Aborted, Some(137)).await;
    let o = s.store.outcome(h.container_id()).unwrap().unwrap();
    eprintln!("(l) then recorded: {o:?}");
    s.finish().await;
    s.assert_every_launch_has_its_outcome().await;
    s.launch_one_more_and_finish().await;
}

berth_testkit::test_main!(
    fifty_jobs_survive_five_event_stream_cuts,
    a_slow_engine_still_gives_correct_outcomes,
    an_unreachable_engine_refuses_the_launch_and_creates_nothing,
    a_container_removed_behind_berths_back_is_recorded_and_gone,
    a_container_killed_from_outside_is_an_execution_error_137,
    an_oom_killed_job_is_recorded_as_such,
    a_removal_that_fails_is_retried,
    a_hung_engine_is_an_error_within_the_deadline_never_an_outcome,
    slow_headers_past_the_deadline_fail_fast_and_under_it_work,
    a_cut_mid_create_fails_the_launch_and_leaves_nothing,
    a_cut_mid_start_records_the_launch_aborted_and_leaves_nothing,
    a_cut_mid_stop_is_an_error_and_the_job_still_ends_aborted,
);
