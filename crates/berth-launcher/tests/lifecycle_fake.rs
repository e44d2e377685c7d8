//! The job lifecycle against the in-memory engine, in milliseconds.
//!
//! One test per upstream mocked-engine case (`// Cnnn`), translated to berth's model:
//! a single event subscription per launcher instead of a watcher thread per job, and no
//! auto-remove (outcomes are recorded before berth removes a container). Where berth
//! differs from upstream, the test says so.

use berth_core::{DockerStatus, ErrorKind, JobReturnCode};
use berth_engine::fake::{FakeRuntime, FakeStatus, Method, StartBehavior};
use berth_engine::{ContainerEventKind, EngineError};
use berth_launcher::{BlockingLauncher, JobHandle, Launcher, LauncherSettings};
use berth_store::{JobOutcome, LaunchRecord, MemoryStore, ObservedBy, OutcomeStore, StoreError};
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

mod common;
#[path = "lifecycle_fake/guarantees.rs"]
mod guarantees;

use common::{name, plan, settings, site_labels, IMAGE, NET};

/// A store that notes where in the engine's request log each outcome was recorded, and
/// can be made to fail.
struct RecordingStore {
    inner: MemoryStore,
    fake: FakeRuntime,
    recorded_at_request: Mutex<HashMap<String, usize>>,
    fail_outcomes: AtomicBool,
}

impl OutcomeStore for RecordingStore {
    fn record_launch(&self, launch: &LaunchRecord) -> Result<(), StoreError> {
        self.inner.record_launch(launch)
    }
    fn record_outcome(&self, outcome: &JobOutcome) -> Result<JobOutcome, StoreError> {
        if self.fail_outcomes.load(Ordering::SeqCst) {
            return Err(StoreError::Io {
                path: "state.db".into(),
                message: "disk full".into(),
            });
        }
        self.recorded_at_request
            .lock()
            .unwrap()
            .entry(outcome.container_id.clone())
            .or_insert(self.fake.request_count());
        self.inner.record_outcome(outcome)
    }
    fn outcome(&self, container_id: &str) -> Result<Option<JobOutcome>, StoreError> {
        self.inner.outcome(container_id)
    }
    fn withdraw_outcome(&self, outcome: &JobOutcome) -> Result<bool, StoreError> {
        self.inner.withdraw_outcome(outcome)
    }
}

struct Site {
    fake: FakeRuntime,
    store: Arc<RecordingStore>,
    launcher: Launcher,
}

impl Site {
    fn new() -> Self {
        Self::with(settings())
    }

    fn with(settings: LauncherSettings) -> Self {
        let fake = FakeRuntime::with(NET, IMAGE);
        let store = Arc::new(RecordingStore {
            inner: MemoryStore::new(),
            fake: fake.clone(),
            recorded_at_request: Mutex::default(),
            fail_outcomes: AtomicBool::new(false),
        });
        let launcher = Launcher::new(Arc::new(fake.clone()), settings, store.clone());
        Self {
            fake,
            store,
            launcher,
        }
    }

    async fn launch(&self, job: &str) -> JobHandle {
        self.launcher.launch(plan(job)).await.expect("launch")
    }

    fn stored(&self, h: &JobHandle) -> Option<JobOutcome> {
        self.store.outcome(h.container_id()).unwrap()
    }

    fn inspects(&self) -> usize {
        self.fake.count(Method::Inspect)
    }
}

/// Poll a condition every millisecond for up to two seconds.
async fn until(what: &str, mut cond: impl FnMut() -> bool) {
    let start = Instant::now();
    while !cond() {
        assert!(
            start.elapsed() < Duration::from_secs(2),
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
}

async fn wait(h: &JobHandle) -> JobReturnCode {
    tokio::time::timeout(Duration::from_secs(2), h.wait())
        .await
        .expect("wait timed out")
}

/// Take the event task down and keep it down.
async fn events_down(s: &Site) {
    s.fake.refuse_events(true);
    s.fake.cut_events();
    until("events disconnected", || !s.launcher.events_connected()).await;
}

// ---- C: poll, terminal-state caching, exit detection --------------------------------

// C015
#[tokio::test]
async fn poll_is_unknown_while_running() {
    let s = Site::new();
    let h = s.launch("job-1").await;
    assert_eq!(h.poll().await, JobReturnCode::Unknown);
    assert_eq!(h.terminal_state(), None);
    h.terminate().await;
}

// C016
#[tokio::test]
async fn poll_sees_exit_zero_as_success_and_records_it() {
    let s = Site::new();
    let h = s.launch("job-1").await;
    s.fake.hold_events(true); // poll, not the event task, observes the end
    s.fake.exit(h.container_id(), 0);
    assert_eq!(h.poll().await, JobReturnCode::Success);
    assert_eq!(h.terminal_state(), Some(JobReturnCode::Success));
    let o = s.stored(&h).unwrap();
    assert_eq!((o.exit_code, o.observed_by), (Some(0), ObservedBy::Inspect));
    assert!(o.finished_at.is_some());
    h.wait_settled().await;
    assert_eq!(s.fake.status(h.container_id()), Some(FakeStatus::Removed));
}

// C017
#[tokio::test]
async fn poll_sees_nonzero_exit_as_execution_error() {
    let s = Site::new();
    let h = s.launch("job-1").await;
    s.fake.hold_events(true);
    s.fake.exit(h.container_id(), 1);
    assert_eq!(h.poll().await, JobReturnCode::ExecutionError);
    assert_eq!(s.stored(&h).unwrap().exit_code, Some(1));
}

// C018
#[tokio::test]
async fn poll_sees_dead_as_aborted() {
    let s = Site::new();
    let h = s.launch("job-1").await;
    s.fake.hold_events(true);
    s.fake.make_dead(h.container_id());
    assert_eq!(h.poll().await, JobReturnCode::Aborted);
    assert_eq!(s.stored(&h).unwrap().return_code, JobReturnCode::Aborted);
}

// C019
#[tokio::test]
async fn poll_after_terminal_makes_no_engine_call() {
    let s = Site::new();
    let h = s.launch("job-1").await;
    s.fake.exit(h.container_id(), 0);
    assert_eq!(wait(&h).await, JobReturnCode::Success);
    let before = s.fake.request_count();
    for _ in 0..3 {
        assert_eq!(h.poll().await, JobReturnCode::Success);
    }
    assert_eq!(
        s.fake.request_count(),
        before,
        "zero engine requests after the terminal state"
    );
}

// C020 — berth: "no watcher" is an event task that is disconnected; a vanished container
// with no recorded outcome is then ABORTED at once, observed as vanished.
#[tokio::test]
async fn poll_of_vanished_container_without_event_task_is_aborted() {
    let s = Site::new();
    let h = s.launch("job-1").await;
    events_down(&s).await;
    s.fake.vanish_silently(h.container_id());
    assert_eq!(h.poll().await, JobReturnCode::Aborted);
    let o = s.stored(&h).unwrap();
    assert_eq!((o.observed_by, o.exit_code), (ObservedBy::Vanished, None));
}

// C021 — the container of a failed job is kept (retention) and then goes dead: the first
// state stays, and no further inspect is made.
#[tokio::test]
async fn terminal_state_is_set_once_and_never_cleared() {
    let mut settings = settings();
    settings.keep_failed_for = Some(Duration::from_secs(3600));
    let s = Site::with(settings);
    let h = s.launch("job-1").await;
    s.fake.hold_events(true);
    s.fake.exit(h.container_id(), 1);
    assert_eq!(h.poll().await, JobReturnCode::ExecutionError);
    s.fake.make_dead(h.container_id());
    s.fake.release_events();
    let inspects = s.inspects();
    assert_eq!(h.poll().await, JobReturnCode::ExecutionError);
    assert_eq!(h.terminate().await, JobReturnCode::ExecutionError);
    assert!(!h.enter_states(&[DockerStatus::Running]).await);
    assert_eq!(s.inspects(), inspects);
    assert_eq!(s.stored(&h).unwrap().return_code, JobReturnCode::ExecutionError);
}

// C022 — berth does not auto-remove, but the container may still be removed by someone
// else right after it exits: the die event's exit code is kept.
#[tokio::test]
async fn exit_code_captured_although_container_is_removed() {
    let s = Site::new();
    let h = s.launch("job-1").await;
    s.fake.exit(h.container_id(), 0);
    s.fake.remove_behind_back(h.container_id());
    assert_eq!(wait(&h).await, JobReturnCode::Success);
    assert_eq!(h.poll().await, JobReturnCode::Success);
    let o = s.stored(&h).unwrap();
    assert_eq!((o.exit_code, o.observed_by), (Some(0), ObservedBy::Event));
}

// C023 — the container is gone but the event task has not processed its events yet: poll
// answers UNKNOWN and leaves the state unset; once the events arrive, SUCCESS.
#[tokio::test]
async fn vanished_container_is_unknown_until_the_event_task_decides() {
    let s = Site::new();
    let h = s.launch("job-1").await;
    s.fake.hold_events(true);
    s.fake.exit(h.container_id(), 0);
    s.fake.remove_behind_back(h.container_id());
    assert_eq!(h.poll().await, JobReturnCode::Unknown);
    assert_eq!(h.terminal_state(), None);
    s.fake.release_events();
    assert_eq!(wait(&h).await, JobReturnCode::Success);
}

// C024 — the die event carries no exit code: the outcome comes from inspect.
#[tokio::test]
async fn die_event_without_exit_code_falls_back_to_inspect() {
    let s = Site::new();
    let h = s.launch("job-1").await;
    s.fake.hold_events(true);
    s.fake.exit(h.container_id(), 0);
    s.fake.drop_held_events();
    s.fake.hold_events(false);
    s.fake
        .inject_event(h.container_id(), ContainerEventKind::Die { exit_code: None });
    assert_eq!(wait(&h).await, JobReturnCode::Success);
    assert_eq!(s.stored(&h).unwrap().exit_code, Some(0));
}

// C025 — the engine never sends the die event at all: wait()'s periodic safety inspect
// (settle_check_interval) finds the end.
#[tokio::test]
async fn lost_die_event_is_caught_by_the_safety_inspect() {
    let mut settings = settings();
    settings.settle_check_interval = Duration::from_millis(30);
    let s = Site::with(settings);
    let h = s.launch("job-1").await;
    s.fake.hold_events(true);
    s.fake.exit(h.container_id(), 0);
    s.fake.drop_held_events();
    assert_eq!(wait(&h).await, JobReturnCode::Success);
    assert_eq!(s.stored(&h).unwrap().observed_by, ObservedBy::Inspect);
}

// C026 — a die event without a usable exit code (the engine's attribute is missing or not
// a number): the stopped container's own state gives the outcome.
#[tokio::test]
async fn die_event_without_usable_code_uses_the_inspected_code() {
    let s = Site::new();
    let h = s.launch("job-1").await;
    s.fake.hold_events(true);
    s.fake.exit(h.container_id(), 3);
    s.fake.drop_held_events();
    s.fake.hold_events(false);
    s.fake
        .inject_event(h.container_id(), ContainerEventKind::Die { exit_code: None });
    assert_eq!(wait(&h).await, JobReturnCode::ExecutionError);
    assert_eq!(s.stored(&h).unwrap().exit_code, Some(3));
}

// C027 — a die event without the exit code arrives before the engine shows the container
// stopped: the event task cannot decide; wait() inspects until it can. (A die event that
// carries the code is the end itself: the engine sends it after the container stopped.)
#[tokio::test]
async fn die_event_before_state_change_is_retried() {
    let s = Site::new();
    let h = s.launch("job-1").await;
    s.fake
        .inject_event(h.container_id(), ContainerEventKind::Die { exit_code: None });
    let waiter = tokio::spawn({
        let h = h.clone();
        async move { h.wait().await }
    });
    tokio::time::sleep(Duration::from_millis(20)).await;
    assert_eq!(h.terminal_state(), None);
    s.fake.hold_events(true);
    s.fake.exit(h.container_id(), 0); // its die event is "lost"
    s.fake.drop_held_events();
    let code = tokio::time::timeout(Duration::from_secs(2), waiter)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(code, JobReturnCode::Success);
}

// C028 — the event task's inspect fails with an API error: wait() falls back to inspect.
#[tokio::test]
async fn event_task_inspect_error_falls_back_to_wait_inspect() {
    let s = Site::new();
    let h = s.launch("job-1").await;
    s.fake.fail_next(
        Method::Inspect,
        EngineError::Api {
            status: 500,
            message: "boom".into(),
        },
    );
    s.fake.exit(h.container_id(), 0);
    assert_eq!(wait(&h).await, JobReturnCode::Success);
    assert_eq!(s.stored(&h).unwrap().exit_code, Some(0));
}

// ---- D: terminate ----------------------------------------------------------------------

// C029
#[tokio::test]
async fn terminate_stops_removes_and_aborts() {
    let s = Site::new();
    let h = s.launch("job-1").await;
    assert_eq!(h.terminate().await, JobReturnCode::Aborted);
    assert_eq!(h.terminal_state(), Some(JobReturnCode::Aborted));
    assert_eq!(s.fake.count_for(Method::Stop, h.container_id()), 1);
    assert_eq!(s.fake.status(h.container_id()), Some(FakeStatus::Removed));
    let o = s.stored(&h).unwrap();
    assert_eq!(
        (o.return_code, o.observed_by),
        (JobReturnCode::Aborted, ObservedBy::Terminate)
    );
}

/// Terminate makes two engine calls in series, stop and remove; the output is read by
/// following the log while the stop is under way (with no ping: the log answers at once),
/// and the ABORTED outcome is recorded before the removal. No other request is sent.
#[tokio::test]
async fn terminate_is_stop_and_remove_with_the_record_and_output_alongside() {
    let s = Site::new();
    let h = s.launch("job-1").await;
    let id = h.container_id().to_string();
    s.fake.set_logs(
        &id,
        vec![berth_engine::LogChunk {
            stream: berth_engine::LogStream::Stdout,
            bytes: b"last words\n".to_vec(),
        }],
    );
    let before = s.fake.request_count();
    assert_eq!(h.terminate().await, JobReturnCode::Aborted);
    let during: Vec<Method> = s.fake.requests()[before..]
        .iter()
        .map(|r| {
            assert_eq!(r.target, id, "a request for something else: {r:?}");
            r.method
        })
        .collect();
    assert_eq!(
        during
            .iter()
            .filter(|m| **m != Method::Logs)
            .copied()
            .collect::<Vec<_>>(),
        vec![Method::Stop, Method::Remove],
        "{during:?}"
    );
    assert_eq!(
        during.iter().filter(|m| **m == Method::Logs).count(),
        1,
        "{during:?}"
    );
    let recorded_at = s.store.recorded_at_request.lock().unwrap()[&id];
    let removed_at = s
        .fake
        .requests()
        .iter()
        .rposition(|r| r.method == Method::Remove && r.target == id)
        .unwrap();
    assert!(
        recorded_at <= removed_at,
        "recorded at request {recorded_at}, removed at {removed_at}"
    );
    let o = s.stored(&h).unwrap();
    assert_eq!((o.return_code, o.exit_code), (JobReturnCode::Aborted, None));
}

/// A stop the engine refuses leaves the container running: the followed output copy is
/// abandoned instead of waiting for an end that does not come, and the removal follows.
#[tokio::test]
async fn terminate_does_not_wait_for_a_log_that_a_failed_stop_leaves_open() {
    let s = Site::new();
    let h = s.launch("job-1").await;
    s.fake.fail_always(
        Method::Stop,
        Some(EngineError::Api {
            status: 500,
            message: "server error".into(),
        }),
    );
    let done = tokio::time::timeout(Duration::from_secs(2), h.terminate()).await;
    assert_eq!(done.expect("terminate returned"), JobReturnCode::Aborted);
    assert_eq!(s.fake.status(h.container_id()), Some(FakeStatus::Removed));
}

// C030
#[tokio::test]
async fn terminate_with_engine_errors_still_aborts() {
    let s = Site::new();
    let h = s.launch("job-1").await;
    let err = EngineError::Api {
        status: 500,
        message: "server error".into(),
    };
    for m in [Method::Stop, Method::Inspect, Method::Remove] {
        s.fake.fail_always(m, Some(err.clone()));
    }
    assert_eq!(h.terminate().await, JobReturnCode::Aborted);
    assert_eq!(h.poll().await, JobReturnCode::Aborted);
}

// C031
#[tokio::test]
async fn terminate_of_vanished_container_aborts() {
    let s = Site::new();
    let h = s.launch("job-1").await;
    s.fake.vanish_silently(h.container_id());
    assert_eq!(h.terminate().await, JobReturnCode::Aborted);
}

// C032
#[tokio::test]
async fn terminate_keeps_an_existing_terminal_state() {
    let s = Site::new();
    let h = s.launch("job-1").await;
    s.fake.exit(h.container_id(), 0);
    assert_eq!(wait(&h).await, JobReturnCode::Success);
    let before = s.fake.request_count();
    assert_eq!(h.terminate().await, JobReturnCode::Success);
    assert_eq!(h.terminal_state(), Some(JobReturnCode::Success));
    assert_eq!(s.fake.request_count(), before);
}

// ---- E: wait ---------------------------------------------------------------------------

// C033
#[tokio::test]
async fn wait_returns_at_once_when_terminal() {
    let s = Site::new();
    let h = s.launch("job-1").await;
    h.terminate().await;
    let before = s.fake.request_count();
    let start = Instant::now();
    assert_eq!(h.wait().await, JobReturnCode::Aborted);
    assert!(start.elapsed() < Duration::from_millis(50));
    assert_eq!(s.fake.request_count(), before);
}

// C034 — berth: "no watcher" is a disconnected event task; wait() inspects.
#[tokio::test]
async fn wait_without_event_task_inspects() {
    let s = Site::new();
    let h = s.launch("job-1").await;
    events_down(&s).await;
    s.fake.exit(h.container_id(), 0);
    assert_eq!(wait(&h).await, JobReturnCode::Success);
    assert_eq!(s.stored(&h).unwrap().observed_by, ObservedBy::Inspect);
}

#[tokio::test]
async fn wait_is_event_driven_without_inspect_polling() {
    let s = Site::new();
    let h = s.launch("job-1").await;
    let inspects = s.inspects();
    let waiter = tokio::spawn({
        let h = h.clone();
        async move { h.wait().await }
    });
    tokio::time::sleep(Duration::from_millis(60)).await; // 12 poll intervals
    assert_eq!(
        s.inspects(),
        inspects,
        "no inspect while events flow and the job runs"
    );
    s.fake.exit(h.container_id(), 9);
    let code = tokio::time::timeout(Duration::from_secs(2), waiter)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(code, JobReturnCode::Aborted); // 9 is the job's own abort code
    assert_eq!(
        s.inspects(),
        inspects,
        "none: the die event carries the exit code"
    );
}

// ---- F: enter_states -------------------------------------------------------------------

// C035
#[tokio::test]
async fn enter_states_true_when_running() {
    let s = Site::new();
    let h = s.launch("job-1").await;
    assert!(h.enter_states(&[DockerStatus::Running]).await);
    h.terminate().await;
}

// C036
#[tokio::test]
async fn enter_states_false_when_terminal_first() {
    let s = Site::new();
    let h = s.launch("job-1").await;
    s.fake.hold_events(true);
    s.fake.exit(h.container_id(), 1);
    assert!(!h.enter_states(&[DockerStatus::Running]).await);
    assert_eq!(h.terminal_state(), Some(JobReturnCode::ExecutionError));
}

// C037
#[tokio::test]
async fn stuck_in_created_is_terminated_after_the_start_timeout() {
    let mut settings = settings();
    settings.start_timeout = Some(Duration::from_millis(60));
    let s = Site::with(settings);
    s.fake.on_start(&name("job-1"), StartBehavior::StayCreated);
    let start = Instant::now();
    let h = s.launch("job-1").await; // still returns the handle
    let took = start.elapsed();
    assert!(
        took >= Duration::from_millis(60) && took < Duration::from_secs(1),
        "{took:?}"
    );
    assert_eq!(h.terminal_state(), Some(JobReturnCode::Aborted));
    assert_eq!(s.stored(&h).unwrap().observed_by, ObservedBy::StartTimeout);
    assert_eq!(s.fake.status(h.container_id()), Some(FakeStatus::Removed));
    assert_eq!(h.timeout(), Some(Duration::from_millis(60)));
}

// C038
#[tokio::test]
async fn enter_states_false_at_once_when_already_terminal() {
    let s = Site::new();
    let h = s.launch("job-1").await;
    h.terminate().await;
    let inspects = s.inspects();
    assert!(!h.enter_states(&[DockerStatus::Running]).await);
    assert_eq!(s.inspects(), inspects);
}

// ---- G, H, I: launcher ---------------------------------------------------------------

// C045
#[tokio::test]
async fn unreachable_engine_is_refused_lazily_and_retried() {
    let s = Site::new();
    assert_eq!(s.fake.request_count(), 0, "construction contacts no engine");
    s.fake.set_unreachable(true);
    let e = s.launcher.launch(plan("job-1")).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Refused);
    assert!(
        e.message().starts_with("cannot connect to Docker daemon: "),
        "{e}"
    );
    s.fake.set_unreachable(false);
    let h = s.launch("job-1").await; // a failure is not cached
    h.terminate().await;
}

// C046
#[tokio::test]
async fn missing_network_is_refused_with_the_create_hint() {
    let s = Site::new();
    s.fake.remove_network(NET);
    let e = s.launcher.launch(plan("job-1")).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Refused);
    assert_eq!(e.message(), "Docker network 'nvflare-network' does not exist");
    // The fix appears once: in the hint, not also in the message.
    assert_eq!(e.hint(), Some("docker network create nvflare-network"));
    let printed = format!("error: {}\n  hint: {}", e.message(), e.hint().unwrap_or_default());
    assert_eq!(printed.matches("docker network create").count(), 1, "{printed}");
    assert_eq!(s.fake.count(Method::Create), 0);

    s.fake.add_network(NET);
    s.fake.fail_next(
        Method::NetworkExists,
        EngineError::Api {
            status: 500,
            message: "boom".into(),
        },
    );
    let e = s.launcher.launch(plan("job-1")).await.unwrap_err();
    assert!(
        e.message()
            .starts_with("error checking Docker network 'nvflare-network': "),
        "{e}"
    );
    let h = s.launch("job-1").await;
    let checks = s.fake.count(Method::NetworkExists);
    let h2 = s.launch("job-2").await;
    assert_eq!(
        s.fake.count(Method::NetworkExists),
        checks,
        "checked once, then cached"
    );
    h.terminate().await;
    h2.terminate().await;
}

// C059 — berth does not pull by default (DESIGN decision 5).
#[tokio::test]
async fn missing_image_is_refused_naming_it() {
    let s = Site::new();
    s.fake.remove_image(IMAGE);
    let e = s.launcher.launch(plan("job-1")).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Refused);
    assert_eq!(e.message(), format!("image '{IMAGE}' not found for job job-1"));
    let hint = e.hint().unwrap();
    assert!(hint.contains("does not pull"), "{hint}");
    // The fix names the site arg that exists.
    assert!(hint.contains("\"pull_missing_images\": true"), "{hint}");
    assert!(!hint.contains("allow_pull"), "{hint}");
    assert_eq!(s.fake.count(Method::PullImage) + s.fake.count(Method::Create), 0);
}

#[tokio::test]
async fn missing_image_is_pulled_when_the_site_allows_it() {
    let mut settings = settings();
    settings.allow_pull = true;
    let s = Site::with(settings);
    s.fake.remove_image(IMAGE);
    let e = s.launcher.launch(plan("job-1")).await.unwrap_err();
    assert!(e.message().contains("not found for job job-1"), "{e}");
    s.fake.make_pullable(IMAGE);
    let h = s.launch("job-1").await;
    assert_eq!(s.fake.count(Method::PullImage), 2);
    h.terminate().await;
}

/// A present image is checked once and trusted for the site's image-check period.
#[tokio::test]
async fn image_check_is_trusted_for_its_period() {
    let s = Site::new();
    let h1 = s.launch("job-1").await;
    let h2 = s.launch("job-2").await;
    assert_eq!(
        s.fake.count(Method::ImageExists),
        1,
        "second launch trusts the first check"
    );
    h1.terminate().await;
    h2.terminate().await;

    let mut settings = settings();
    settings.image_check_ttl = Duration::ZERO;
    let s = Site::with(settings);
    let h1 = s.launch("job-1").await;
    let h2 = s.launch("job-2").await;
    assert_eq!(
        s.fake.count(Method::ImageExists),
        2,
        "a zero period checks every launch"
    );
    h1.terminate().await;
    h2.terminate().await;
}

/// An image removed while its check is trusted: create says "no such image", the launch
/// checks again and is refused with the image named, and nothing is left behind.
#[tokio::test]
async fn image_removed_within_the_period_is_checked_again() {
    let s = Site::new();
    let h = s.launch("job-1").await;
    h.terminate().await;
    s.fake.remove_image(IMAGE);
    let e = s.launcher.launch(plan("job-2")).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Refused);
    assert_eq!(e.message(), format!("image '{IMAGE}' not found for job job-2"));
    assert_eq!(s.fake.count(Method::ImageExists), 2);
    assert!(s.fake.live_containers().is_empty());
    // Once the image is back (here: pulled), launches work again.
    let mut settings = settings();
    settings.allow_pull = true;
    let s = Site::with(settings);
    let h = s.launch("job-1").await;
    h.terminate().await;
    s.fake.remove_image(IMAGE);
    s.fake.make_pullable(IMAGE);
    let h = s.launch("job-2").await;
    assert_eq!(s.fake.count(Method::PullImage), 1);
    assert_eq!(
        s.fake.count(Method::Create),
        3,
        "one create refused, then retried once"
    );
    h.terminate().await;
}

// C063 — berth creates without auto-remove, with its labels, and records the launch.
#[tokio::test]
async fn launch_returns_a_handle_and_records_the_launch() {
    let s = Site::new();
    let h = s.launch("job-1").await;
    assert_eq!((h.job_id(), h.container_name()), ("job-1", "site-1-job-1"));
    let c = s
        .fake
        .live_containers()
        .into_iter()
        .find(|c| c.id == h.container_id())
        .unwrap();
    assert_eq!(c.status, "running");
    assert_eq!(c.labels, site_labels("job-1"));
    let launches = s.store.inner.launches();
    assert_eq!(launches.len(), 1);
    assert_eq!(launches[0].container_id, h.container_id());
    assert_eq!(launches[0].workspace, "/ws");
    h.terminate().await;
}

// C064 — a job that ends before `running` is seen is reported, not lost.
#[tokio::test]
async fn launch_returns_a_handle_when_the_job_ends_before_running() {
    let s = Site::new();
    s.fake.on_start(&name("job-1"), StartBehavior::ExitImmediately(1));
    let h = s.launch("job-1").await;
    assert_eq!(h.terminal_state(), Some(JobReturnCode::ExecutionError));
    assert_eq!(s.stored(&h).unwrap().exit_code, Some(1));
    until("removal", || {
        s.fake.status(h.container_id()) == Some(FakeStatus::Removed)
    })
    .await;
}

#[tokio::test]
async fn engine_error_on_create_or_start_is_refused() {
    let s = Site::new();
    s.fake.fail_next(
        Method::Create,
        EngineError::Api {
            status: 500,
            message: "no space".into(),
        },
    );
    let e = s.launcher.launch(plan("job-1")).await.unwrap_err();
    assert!(
        e.message()
            .starts_with("error creating container for job job-1: "),
        "{e}"
    );
    s.fake.on_start(
        &name("job-1"),
        StartBehavior::Fail(EngineError::Api {
            status: 500,
            message: "OCI runtime create failed".into(),
        }),
    );
    let e = s.launcher.launch(plan("job-1")).await.unwrap_err();
    assert!(e.message().contains("OCI runtime create failed"), "{e}");
    assert!(
        s.fake.live_containers().is_empty(),
        "the failed container is removed"
    );
    let outcomes = s.store.inner.outcomes();
    assert_eq!(outcomes.len(), 1);
    assert_eq!(outcomes[0].return_code, JobReturnCode::Aborted);
}

#[tokio::test]
async fn plan_for_another_site_is_invalid() {
    let s = Site::new();
    let mut p = plan("job-1");
    p.site = "site-2".into();
    assert_eq!(s.launcher.launch(p).await.unwrap_err().kind(), ErrorKind::Invalid);
    assert_eq!(s.fake.request_count(), 0);
}
