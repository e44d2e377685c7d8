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
use berth_launcher::{JobHandle, Launcher};
use berth_store::{MemoryStore, ObservedBy, OutcomeStore};
use berth_stub_image::testing::engine_or_skip;
use common::proxy::EngineProxy;
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
        let launcher = Launcher::new(audited.clone(), site.settings(), store.clone());
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
        let plan = self.site.plan(job_id, script);
        step(&format!("launch {job_id}"), self.launcher.launch(plan))
            .await
            .unwrap_or_else(|e| panic!("launch {job_id}: {e} ({:?})", e.hint()))
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
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_jobs_survive_five_event_stream_cuts() {
    let Some(rt) = engine_or_skip() else { return };
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
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_engine_still_gives_correct_outcomes() {
    let Some(rt) = engine_or_skip() else { return };
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
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_engine_refuses_the_launch_and_creates_nothing() {
    let Some(rt) = engine_or_skip() else { return };
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
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_container_removed_behind_berths_back_is_recorded_and_gone() {
    let Some(rt) = engine_or_skip() else { return };
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
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_container_killed_from_outside_is_an_execution_error_137() {
    let Some(rt) = engine_or_skip() else { return };
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
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_oom_killed_job_is_recorded_as_such() {
    let Some(rt) = engine_or_skip() else { return };
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
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_removal_that_fails_is_retried() {
    let Some(rt) = engine_or_skip() else { return };
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
