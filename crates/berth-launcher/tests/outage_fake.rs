//! DESIGN decision 13 against the in-memory engine: an engine that cannot be reached or
//! does not answer is never an outcome, every request has the site's deadline, and an
//! outcome that cannot be written keeps its container until recovery records it.
//!
//! Time bounds here are generous upper bounds that show "it did not hang".

use berth_core::config::OrphanPolicy;
use berth_core::JobReturnCode;
use berth_engine::fake::{FakeRuntime, FakeStatus, Method};
use berth_engine::EngineError;
use berth_launcher::{JobHandle, Launcher, LauncherSettings, RecoveryAction};
use berth_store::{JobOutcome, LaunchRecord, MemoryStore, ObservedBy, OutcomeStore, StoreError};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

mod common;

use common::{name, plan, IMAGE, NET, SITE};
/// The engine deadline of these tests.
const DEADLINE: Duration = Duration::from_millis(200);
/// "Did not hang": far above any bound the tests show.
const HANG: Duration = Duration::from_secs(10);

fn settings() -> LauncherSettings {
    let mut s = LauncherSettings::new(SITE);
    s.engine_timeout = DEADLINE;
    s.outage_limit = Duration::from_millis(600);
    s.poll_interval = Duration::from_millis(10);
    s.start_timeout = Some(Duration::from_millis(500));
    s.reconnect_backoff_min = Duration::from_millis(10);
    s.reconnect_backoff_max = Duration::from_millis(50);
    s.settle_check_interval = Duration::from_secs(60);
    s
}

/// A store whose outcome writes can be made to fail (a full disk, a locked file).
struct Store {
    inner: MemoryStore,
    unwritable: AtomicBool,
}

impl OutcomeStore for Store {
    fn record_launch(&self, launch: &LaunchRecord) -> Result<(), StoreError> {
        self.inner.record_launch(launch)
    }
    fn record_outcome(&self, outcome: &JobOutcome) -> Result<JobOutcome, StoreError> {
        if self.unwritable.load(Ordering::SeqCst) {
            return Err(StoreError::Io {
                path: "state.db".into(),
                message: "No space left on device".into(),
            });
        }
        self.inner.record_outcome(outcome)
    }
    fn outcome(&self, container_id: &str) -> Result<Option<JobOutcome>, StoreError> {
        self.inner.outcome(container_id)
    }
    fn withdraw_outcome(&self, outcome: &JobOutcome) -> Result<bool, StoreError> {
        self.inner.withdraw_outcome(outcome)
    }
    fn launch_record(&self, container_id: &str) -> Result<Option<LaunchRecord>, StoreError> {
        self.inner.launch_record(container_id)
    }
    fn pending_launches(&self, site: &str) -> Result<Vec<LaunchRecord>, StoreError> {
        self.inner.pending_launches(site)
    }
}

struct Site {
    fake: FakeRuntime,
    store: Arc<Store>,
    launcher: Launcher,
}

impl Site {
    fn new() -> Self {
        let fake = FakeRuntime::with(NET, IMAGE);
        let store = Arc::new(Store {
            inner: MemoryStore::new(),
            unwritable: AtomicBool::new(false),
        });
        let launcher = Launcher::new(Arc::new(fake.clone()), settings(), store.clone());
        Self {
            fake,
            store,
            launcher,
        }
    }

    /// Another process of the same site (a later `berth` command).
    fn another_process(&self) -> Launcher {
        Launcher::new(Arc::new(self.fake.clone()), settings(), self.store.clone())
    }

    async fn launch(&self, job: &str) -> JobHandle {
        self.launcher.launch(plan(job)).await.expect("launch")
    }

    /// The engine cannot be reached from now on, and the event stream is gone.
    fn go_dark(&self) {
        self.fake.set_unreachable(true);
        self.fake.cut_events();
    }

    fn stored(&self, h: &JobHandle) -> Option<JobOutcome> {
        self.store.outcome(h.container_id()).unwrap()
    }
}

fn unreachable_text(e: &EngineError) -> String {
    match e {
        EngineError::Unreachable(m) => m.clone(),
        other => panic!("expected an unreachable engine, got {other:?}"),
    }
}

#[tokio::test]
async fn a_hung_engine_fails_a_launch_within_one_deadline_and_creates_nothing() {
    let s = Site::new();
    s.fake.set_hung(true);
    let t = Instant::now();
    let err = s.launcher.launch(plan("job-1")).await.unwrap_err();
    let took = t.elapsed();
    assert!(took < HANG, "launch took {took:?}");
    assert!(took >= DEADLINE, "answered before the deadline: {took:?}");
    let msg = err.message();
    assert!(msg.contains("the fake engine"), "{msg}");
    assert!(msg.contains("200ms"), "{msg}");
    assert!(msg.contains("engine_timeout"), "{msg}");
    assert_eq!(s.fake.count(Method::Create), 0);
    assert!(s.fake.live_containers().is_empty());
}

#[tokio::test]
async fn a_hung_engine_mid_create_leaves_nothing_untracked() {
    let s = Site::new();
    // The engine answers the checks, then hangs while the create is on its way.
    let h = s.launch("warm-up").await;
    s.fake.exit(h.container_id(), 0);
    assert_eq!(
        tokio::time::timeout(HANG, h.wait()).await.unwrap(),
        JobReturnCode::Success
    );
    s.fake.set_hung(true);
    let t = Instant::now();
    let err = s.launcher.launch(plan("job-1")).await.unwrap_err();
    assert!(t.elapsed() < HANG);
    assert!(err.message().contains("did not answer"), "{}", err.message());
    s.fake.set_hung(false);
    // The create never reached the fake (held before it), so no container exists.
    assert!(s.fake.id_of(&name("job-1")).is_none());
}

#[tokio::test]
async fn poll_keeps_saying_running_through_an_outage_and_records_nothing() {
    let s = Site::new();
    let h = s.launch("job-1").await;
    s.go_dark();
    for _ in 0..5 {
        assert_eq!(h.poll().await, JobReturnCode::Unknown);
        let e = h.try_poll().await.unwrap_err();
        assert!(unreachable_text(&e).contains("fake engine is down"), "{e}");
    }
    assert_eq!(h.terminal_state(), None);
    assert_eq!(s.stored(&h), None, "nothing is recorded from an error");
    // A hung engine: the same, each look bounded by the deadline.
    s.fake.set_unreachable(false);
    s.fake.set_hung(true);
    let t = Instant::now();
    assert_eq!(h.poll().await, JobReturnCode::Unknown);
    assert!(t.elapsed() < HANG);
    let e = h.try_poll().await.unwrap_err();
    assert!(unreachable_text(&e).contains("within 200ms"), "{e}");
    assert_eq!(s.stored(&h), None);
    // Back: the job's real end is recorded.
    s.fake.set_hung(false);
    s.fake.exit(h.container_id(), 3);
    let code = tokio::time::timeout(HANG, h.wait()).await.unwrap();
    assert_eq!(code, JobReturnCode::from_exit_code(3));
    assert_eq!(s.stored(&h).unwrap().exit_code, Some(3));
}

#[tokio::test]
async fn wait_rides_out_an_outage_and_reports_the_real_end() {
    let s = Site::new();
    let h = s.launch("job-1").await;
    s.go_dark();
    let waiter = tokio::spawn({
        let h = h.clone();
        async move { h.wait().await }
    });
    // Longer than the outage limit: `wait` (the Python handle's) has none.
    tokio::time::sleep(Duration::from_millis(900)).await;
    assert!(!waiter.is_finished(), "wait ended during an outage");
    s.fake.exit(h.container_id(), 0);
    s.fake.set_unreachable(false);
    let code = tokio::time::timeout(HANG, waiter).await.unwrap().unwrap();
    assert_eq!(code, JobReturnCode::Success);
    assert_eq!(s.stored(&h).unwrap().observed_by, ObservedBy::Inspect);
}

#[tokio::test]
async fn a_bounded_wait_gives_up_with_the_engine_error_after_the_outage_limit() {
    let s = Site::new();
    let h = s.launch("job-1").await;
    s.go_dark();
    let t = Instant::now();
    let e = tokio::time::timeout(HANG, h.wait_through_outage())
        .await
        .unwrap()
        .unwrap_err();
    let took = t.elapsed();
    assert!(
        took >= Duration::from_millis(600),
        "gave up before the limit: {took:?}"
    );
    assert!(unreachable_text(&e).contains("fake engine is down"));
    assert_eq!(h.terminal_state(), None);
    assert_eq!(s.stored(&h), None);
    assert_eq!(s.fake.status(h.container_id()), Some(FakeStatus::Running));
}

#[tokio::test]
async fn a_short_outage_does_not_end_a_bounded_wait() {
    let s = Site::new();
    let h = s.launch("job-1").await;
    s.go_dark();
    let waiter = tokio::spawn({
        let h = h.clone();
        async move { h.wait_through_outage().await }
    });
    // Well under the 600 ms outage limit.
    tokio::time::sleep(Duration::from_millis(150)).await;
    s.fake.set_unreachable(false);
    tokio::time::sleep(Duration::from_millis(100)).await;
    s.fake.exit(h.container_id(), 9);
    let code = tokio::time::timeout(HANG, waiter)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(
        code,
        JobReturnCode::Aborted,
        "exit code 9 is the job's own abort code"
    );
}

#[tokio::test]
async fn a_stop_the_engine_does_not_hear_records_nothing_and_is_retried() {
    let s = Site::new();
    let h = s.launch("job-1").await;
    s.fake.set_unreachable(true);
    let e = h.try_terminate().await.unwrap_err();
    assert!(matches!(e, EngineError::Unreachable(_)));
    assert_eq!(h.terminal_state(), None);
    assert_eq!(s.stored(&h), None);
    assert_eq!(s.fake.status(h.container_id()), Some(FakeStatus::Running));
    // The Python handle's terminate: UNKNOWN now, retried until the engine hears it.
    assert_eq!(h.terminate().await, JobReturnCode::Unknown);
    s.fake.set_unreachable(false);
    let code = tokio::time::timeout(HANG, h.wait()).await.unwrap();
    assert_eq!(code, JobReturnCode::Aborted);
    let stored = s.stored(&h).unwrap();
    assert_eq!(
        (stored.return_code, stored.observed_by),
        (JobReturnCode::Aborted, ObservedBy::Terminate)
    );
    let t = Instant::now();
    while s.fake.status(h.container_id()) != Some(FakeStatus::Removed) {
        assert!(t.elapsed() < HANG, "the stopped container was not removed");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test]
async fn attach_and_lookup_tell_gone_from_cannot_see() {
    let s = Site::new();
    let h = s.launch("job-1").await;
    let other = s.another_process();
    assert!(other.lookup("no-such-job").await.unwrap().is_none());
    s.fake.set_unreachable(true);
    let err = other.lookup("job-1").await.unwrap_err();
    assert!(err.message().contains("fake engine is down"), "{}", err.message());
    s.fake.set_unreachable(false);
    s.fake.set_hung(true);
    let t = Instant::now();
    let err = other.lookup("job-1").await.unwrap_err();
    assert!(t.elapsed() < HANG);
    assert!(err.message().contains("200ms"), "{}", err.message());
    s.fake.set_hung(false);
    let found = other.lookup("job-1").await.unwrap().expect("found");
    assert_eq!(found.container_id(), h.container_id());
    assert_eq!(s.stored(&h), None);
}

#[tokio::test]
async fn only_an_engine_reported_404_becomes_vanished() {
    let s = Site::new();
    let h = s.launch("job-1").await;
    s.fake.refuse_events(true);
    s.fake.cut_events();
    let t = Instant::now();
    while s.launcher.events_connected() {
        assert!(t.elapsed() < HANG);
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    s.fake.set_unreachable(true);
    assert_eq!(h.poll().await, JobReturnCode::Unknown);
    s.fake.set_unreachable(false);
    s.fake.vanish_silently(h.container_id());
    assert_eq!(h.poll().await, JobReturnCode::Aborted);
    assert_eq!(s.stored(&h).unwrap().observed_by, ObservedBy::Vanished);
}

#[tokio::test]
async fn an_unwritable_store_keeps_the_container_and_recovery_records_it_later() {
    let s = Site::new();
    let h = s.launch("job-1").await;
    s.store.unwritable.store(true, Ordering::SeqCst);
    s.fake.exit(h.container_id(), 4);
    let code = tokio::time::timeout(HANG, h.wait_settled()).await.unwrap();
    assert_eq!(code, JobReturnCode::from_exit_code(4));
    assert!(
        h.unrecorded().unwrap().contains("No space left"),
        "{:?}",
        h.unrecorded()
    );
    assert_eq!(s.stored(&h), None);
    assert_eq!(s.fake.status(h.container_id()), Some(FakeStatus::Exited));
    assert_eq!(s.fake.count(Method::Remove), 0);

    // The same for a stop: ABORTED is known, not written, and the container stays.
    let h2 = s.launch("job-2").await;
    assert_eq!(h2.try_terminate().await.unwrap(), JobReturnCode::Aborted);
    assert!(h2.unrecorded().is_some());
    assert_eq!(s.fake.status(h2.container_id()), Some(FakeStatus::Exited));

    // Recovery while the store is still unwritable: errors, nothing removed.
    let report = s.another_process().recover(OrphanPolicy::Adopt).await.unwrap();
    assert_eq!(report.errors.len(), 2, "{:?}", report.errors);
    assert_eq!(s.fake.status(h.container_id()), Some(FakeStatus::Exited));

    // Writable again: a later recover records each exact outcome and removes both.
    s.store.unwritable.store(false, Ordering::SeqCst);
    let report = s.another_process().recover(OrphanPolicy::Adopt).await.unwrap();
    assert!(report.errors.is_empty(), "{:?}", report.errors);
    assert_eq!(report.count(RecoveryAction::Recorded), 2);
    let o = s.stored(&h).unwrap();
    assert_eq!(
        (o.exit_code, o.return_code),
        (Some(4), JobReturnCode::from_exit_code(4))
    );
    let o2 = s.stored(&h2).unwrap();
    assert_eq!(o2.exit_code, Some(137));
    let t = Instant::now();
    while !s.fake.live_containers().is_empty() {
        assert!(t.elapsed() < HANG, "recovered containers were not removed");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test]
async fn a_launch_never_takes_longer_than_the_site_timeout_plus_one_deadline() {
    let s = Site::new();
    // Every request 150 ms late (under the 200 ms request deadline), and the container
    // never reaches `running`: the requests of the launch add up past the budget.
    s.fake
        .on_start(&name("job-1"), berth_engine::fake::StartBehavior::StayCreated);
    s.fake.set_latency(Duration::from_millis(150));
    let t = Instant::now();
    let result = s.launcher.launch(plan("job-1")).await;
    let took = t.elapsed();
    let budget = Duration::from_millis(700);
    assert!(took < budget + Duration::from_millis(300), "launch took {took:?}");
    s.fake.set_latency(Duration::ZERO);
    // Ping, network, image, create and start alone take 750 ms here.
    let e = result.expect_err("a launch past its budget");
    assert!(e.message().contains("did not finish within 700ms"), "{e}");
    // The container it created ends stopped, recorded ABORTED and removed.
    let launches = s.store.inner.launches();
    assert_eq!(launches.len(), 1);
    let id = Some(launches[0].container_id.clone());
    let t = Instant::now();
    loop {
        let recorded = id
            .as_ref()
            .and_then(|id| s.store.outcome(id).unwrap())
            .map(|o| o.return_code);
        let gone = id.as_ref().map(|id| s.fake.status(id)) == Some(Some(FakeStatus::Removed));
        if recorded == Some(JobReturnCode::Aborted) && gone {
            break;
        }
        assert!(
            t.elapsed() < HANG,
            "recorded {recorded:?}, removed {gone}, id {id:?}, status {:?}, took {took:?}",
            id.as_ref().map(|i| s.fake.status(i))
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}
