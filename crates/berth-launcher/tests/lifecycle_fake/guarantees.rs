//! berth's own guarantees beyond upstream's cases, and exit detection from the die event
//! with cleanup after the terminal state.

use super::*;

// ---- berth's own guarantees ----------------------------------------------------------

#[tokio::test]
async fn oom_kill_is_recorded() {
    let s = Site::new();
    let h = s.launch("job-1").await;
    s.fake.oom_kill(h.container_id());
    assert_eq!(wait(&h).await, JobReturnCode::ExecutionError);
    let o = h.outcome().unwrap();
    assert!(o.oom_killed);
    assert_eq!(o.exit_code, Some(137));
    assert_eq!(s.stored(&h).unwrap(), o);
}

#[tokio::test]
async fn dead_container_event_gives_aborted() {
    let s = Site::new();
    let h = s.launch("job-1").await;
    s.fake.make_dead(h.container_id());
    assert_eq!(wait(&h).await, JobReturnCode::Aborted);
}

#[tokio::test]
async fn terminate_racing_the_jobs_own_exit_ends_aborted() {
    // The job exits just before terminate; nobody has observed it yet.
    let s = Site::new();
    let h = s.launch("job-1").await;
    s.fake.hold_events(true);
    s.fake.exit(h.container_id(), 0);
    assert_eq!(h.terminate().await, JobReturnCode::Aborted);
    s.fake.release_events();
    tokio::time::sleep(Duration::from_millis(10)).await;
    assert_eq!(h.poll().await, JobReturnCode::Aborted);
    assert_eq!(s.stored(&h).unwrap().return_code, JobReturnCode::Aborted);

    // The job exits on its own while a slow stop is in flight.
    s.fake.set_stop_delay(Duration::from_millis(40));
    let h = s.launch("job-2").await;
    let term = tokio::spawn({
        let h = h.clone();
        async move { h.terminate().await }
    });
    tokio::time::sleep(Duration::from_millis(10)).await;
    s.fake.exit(h.container_id(), 0);
    assert_eq!(term.await.unwrap(), JobReturnCode::Aborted);
    assert_eq!(wait(&h).await, JobReturnCode::Aborted);
    // Recorded while the stop was under way, before the job's own end was known.
    let o = s.stored(&h).unwrap();
    assert_eq!((o.return_code, o.exit_code), (JobReturnCode::Aborted, None));
}

#[tokio::test]
async fn stop_answering_304_is_tolerated() {
    let s = Site::new();
    let h = s.launch("job-1").await;
    s.fake.fail_next(Method::Stop, EngineError::NotModified);
    assert_eq!(h.terminate().await, JobReturnCode::Aborted);
    assert_eq!(s.fake.count(Method::Stop), 1);
}

#[tokio::test]
async fn remove_answering_409_in_progress_is_tolerated() {
    let s = Site::new();
    let h = s.launch("job-1").await;
    s.fake.remove_conflicts(h.container_id(), 1);
    assert_eq!(h.terminate().await, JobReturnCode::Aborted);
    assert_eq!(s.fake.status(h.container_id()), Some(FakeStatus::Removed));

    let h = s.launch("job-2").await;
    s.fake.remove_conflicts(h.container_id(), 1);
    s.fake.exit(h.container_id(), 0);
    assert_eq!(wait(&h).await, JobReturnCode::Success);
}

#[tokio::test]
async fn exit_while_the_event_stream_is_cut_is_caught_by_the_resync() {
    let s = Site::new();
    let h = s.launch("job-1").await;
    let other = s.launch("job-2").await;
    events_down(&s).await;
    s.fake.exit(h.container_id(), 3);
    s.fake.vanish_silently(other.container_id());
    tokio::time::sleep(Duration::from_millis(20)).await;
    assert_eq!(h.terminal_state(), None, "nobody looked while disconnected");
    s.fake.refuse_events(false);
    until("re-sync", || {
        h.terminal_state().is_some() && other.terminal_state().is_some()
    })
    .await;
    assert_eq!(h.terminal_state(), Some(JobReturnCode::ExecutionError));
    assert_eq!(s.stored(&h).unwrap().exit_code, Some(3));
    assert_eq!(s.stored(&other).unwrap().observed_by, ObservedBy::Vanished);
    assert!(s.fake.subscriptions_opened() >= 2);
    assert_eq!(s.fake.active_subscriptions(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn twenty_concurrent_launches_reach_their_outcomes_with_one_subscription() {
    let s = Arc::new(Site::new());
    let codes = [0, 1, 9, 3, 137];
    for i in 0..20 {
        s.fake.on_start(
            &name(&format!("job-{i}")),
            StartBehavior::ExitAfter {
                code: codes[i % codes.len()],
                after: Duration::from_millis(20 + (i as u64 * 7) % 40),
            },
        );
    }
    let launches = (0..20).map(|i| {
        let s = s.clone();
        async move { s.launcher.launch(plan(&format!("job-{i}"))).await.unwrap() }
    });
    let handles = futures::future::join_all(launches).await;
    for (i, h) in handles.iter().enumerate() {
        let want = JobReturnCode::from_exit_code(codes[i % codes.len()]);
        assert_eq!(wait(h).await, want, "job-{i}");
        assert_eq!(s.stored(h).unwrap().exit_code, Some(codes[i % codes.len()]));
    }
    until("all removed", || s.fake.live_containers().is_empty()).await;
    assert_eq!(s.fake.subscriptions_opened(), 1);
    assert_eq!(s.fake.count(Method::Events), 1);
    assert_eq!(s.store.inner.launches().len(), 20);
    assert_eq!(s.store.inner.outcomes().len(), 20);
    assert_eq!(s.launcher.tracked_count(), 0);
}

#[tokio::test]
async fn removal_happens_only_after_the_outcome_is_recorded() {
    let s = Site::new();
    let h = s.launch("job-1").await;
    s.fake.exit(h.container_id(), 0);
    wait(&h).await;
    let h2 = s.launch("job-2").await;
    h2.terminate().await;
    for h in [&h, &h2] {
        let recorded_at = s.store.recorded_at_request.lock().unwrap()[h.container_id()];
        let removes: Vec<usize> = s
            .fake
            .requests()
            .iter()
            .filter(|r| r.method == Method::Remove && r.target == h.container_id())
            .map(|r| r.seq)
            .collect();
        assert!(!removes.is_empty());
        assert!(
            removes.iter().all(|&seq| seq >= recorded_at),
            "{removes:?} vs {recorded_at}"
        );
    }
}

#[tokio::test]
async fn an_outcome_that_cannot_be_recorded_keeps_the_container() {
    let s = Site::new();
    let h = s.launch("job-1").await;
    s.store.fail_outcomes.store(true, Ordering::SeqCst);
    s.fake.exit(h.container_id(), 0);
    assert_eq!(wait(&h).await, JobReturnCode::Success);
    assert_eq!(s.fake.status(h.container_id()), Some(FakeStatus::Exited));
    assert_eq!(s.fake.count(Method::Remove), 0);
}

#[tokio::test]
async fn one_event_subscription_whatever_the_number_of_jobs() {
    let s = Site::new();
    for i in 0..5 {
        let h = s.launch(&format!("job-{i}")).await;
        s.fake.exit(h.container_id(), 0);
        wait(&h).await;
    }
    assert_eq!(s.fake.subscriptions_opened(), 1);
}

#[tokio::test]
async fn leftover_exited_container_is_recorded_and_removed() {
    let s = Site::new();
    let old = s.fake.seed_container(
        &name("job-1"),
        IMAGE,
        site_labels("job-1"),
        FakeStatus::Exited,
        Some(1),
    );
    let h = s.launch("job-1").await;
    assert_ne!(h.container_id(), old);
    let o = s.store.outcome(&old).unwrap().unwrap();
    assert_eq!(
        (o.return_code, o.observed_by),
        (JobReturnCode::ExecutionError, ObservedBy::Recovery)
    );
    assert_eq!(s.fake.status(&old), Some(FakeStatus::Removed));
    h.terminate().await;
}

#[tokio::test]
async fn leftover_running_container_is_refused_by_name() {
    let s = Site::new();
    s.fake.seed_container(
        &name("job-1"),
        IMAGE,
        site_labels("job-1"),
        FakeStatus::Running,
        None,
    );
    let e = s.launcher.launch(plan("job-1")).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Refused);
    assert!(
        e.message().contains("'site-1-job-1'") && e.message().contains("running"),
        "{e}"
    );
    assert_eq!(s.fake.live_containers().len(), 1, "nothing new was created");
}

#[tokio::test]
async fn a_same_named_container_berth_did_not_create_is_never_removed() {
    let s = Site::new();
    let foreign = s.fake.seed_container(
        &name("job-1"),
        IMAGE,
        std::collections::HashMap::new(),
        FakeStatus::Exited,
        Some(0),
    );
    let e = s.launcher.launch(plan("job-1")).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Refused);
    assert!(e.message().contains("did not create"), "{e}");
    assert_eq!(s.fake.status(&foreign), Some(FakeStatus::Exited));
    assert_eq!(s.fake.live_containers().len(), 1, "nothing new was created");
}

#[tokio::test]
async fn retention_keeps_failed_containers_only() {
    let mut settings = settings();
    settings.keep_failed_for = Some(Duration::from_secs(3600));
    let s = Site::with(settings);
    let ok = s.launch("job-1").await;
    let bad = s.launch("job-2").await;
    s.fake.exit(ok.container_id(), 0);
    s.fake.exit(bad.container_id(), 1);
    assert_eq!(wait(&ok).await, JobReturnCode::Success);
    assert_eq!(wait(&bad).await, JobReturnCode::ExecutionError);
    assert_eq!(s.fake.status(ok.container_id()), Some(FakeStatus::Removed));
    assert_eq!(s.fake.status(bad.container_id()), Some(FakeStatus::Exited));
}

#[tokio::test]
async fn attach_from_another_launcher_follows_the_job() {
    let s = Site::new();
    let h = s.launch("job-1").await;
    // A second process: its own launcher, the same engine and store.
    let other = Launcher::new(Arc::new(s.fake.clone()), settings(), s.store.clone());
    let attached = other.attach("job-1").await.unwrap();
    assert_eq!(attached.container_id(), h.container_id());
    let by_prefix = other.attach(&h.container_id()[..12]).await.unwrap();
    assert_eq!(by_prefix.container_id(), h.container_id());
    s.fake.exit(h.container_id(), 0);
    assert_eq!(wait(&attached).await, JobReturnCode::Success);
    assert_eq!(wait(&h).await, JobReturnCode::Success);
    assert_eq!(s.store.inner.outcomes().len(), 1);

    // Gone and recorded: a terminal handle from the store.
    let late = other.attach(h.container_id()).await.unwrap();
    assert_eq!(late.terminal_state(), Some(JobReturnCode::Success));
    let e = other.attach("job-9").await.unwrap_err();
    assert!(e.message().contains("no container of job 'job-9'"), "{e}");
}

#[tokio::test]
async fn attach_settles_a_job_that_ended_unwatched() {
    let s = Site::new();
    let id = s.fake.seed_container(
        &name("job-7"),
        IMAGE,
        site_labels("job-7"),
        FakeStatus::Exited,
        Some(9),
    );
    let h = s.launcher.attach("job-7").await.unwrap();
    assert_eq!(h.terminal_state(), Some(JobReturnCode::Aborted));
    h.wait_settled().await;
    assert_eq!(s.fake.status(&id), Some(FakeStatus::Removed));
}

#[tokio::test]
async fn cancelled_launch_terminates_its_container() {
    let mut settings = settings();
    settings.start_timeout = None;
    let s = Site::with(settings);
    s.fake.on_start(&name("job-1"), StartBehavior::StayCreated);
    let r = tokio::time::timeout(Duration::from_millis(30), s.launcher.launch(plan("job-1"))).await;
    assert!(r.is_err());
    until("cleanup", || s.fake.live_containers().is_empty()).await;
    assert_eq!(s.store.inner.outcomes()[0].return_code, JobReturnCode::Aborted);
}

#[test]
fn blocking_facade_launches_and_waits() {
    let fake = FakeRuntime::with(NET, IMAGE);
    fake.on_start(
        &name("job-1"),
        StartBehavior::ExitAfter {
            code: 0,
            after: Duration::from_millis(20),
        },
    );
    let store = Arc::new(MemoryStore::new());
    let launcher = BlockingLauncher::new(Arc::new(fake.clone()), settings(), store.clone()).unwrap();
    let h = launcher.launch(plan("job-1")).unwrap();
    assert_eq!(
        h.wait_timeout(Duration::from_secs(2)),
        Some(JobReturnCode::Success)
    );
    assert_eq!(h.poll(), JobReturnCode::Success);
    let h2 = launcher.launch(plan("job-2")).unwrap();
    assert_eq!(h2.terminate(), JobReturnCode::Aborted);
    assert_eq!(store.outcomes().len(), 2);
    assert_eq!(fake.subscriptions_opened(), 1);
}

#[test]
fn handles_are_send_and_sync() {
    fn is<T: Send + Sync + Clone>() {}
    is::<Launcher>();
    is::<JobHandle>();
}

// ---- Exit detection from the die event; cleanup after the terminal state ------------

/// Launch the site's first job and let the event task's first re-sync (a listing) run, so
/// it does not race the die event for the job's end.
async fn launch_synced(s: &Site, job: &str) -> JobHandle {
    let h = s.launch(job).await;
    until("first re-sync", || s.fake.count(Method::List) > 0).await;
    h
}

/// Where in the request log the first removal of `id` was asked.
fn first_remove(fake: &FakeRuntime, id: &str) -> Option<usize> {
    fake.requests()
        .iter()
        .find(|r| r.method == Method::Remove && r.target == id)
        .map(|r| r.seq)
}

#[tokio::test]
async fn terminal_state_is_set_before_the_container_is_removed() {
    let s = Site::new();
    s.fake.set_remove_delay(Duration::from_millis(300));
    let h = launch_synced(&s, "job-1").await;
    s.fake.exit(h.container_id(), 3);
    let started = Instant::now();
    assert_eq!(wait(&h).await, JobReturnCode::ExecutionError);
    assert!(started.elapsed() < Duration::from_millis(300));
    // The outcome is readable at once; the container is still being removed.
    assert_eq!(h.outcome().unwrap().exit_code, Some(3));
    assert!(!h.is_settled());
    assert_ne!(s.fake.status(h.container_id()), Some(FakeStatus::Removed));
    assert_eq!(h.poll().await, JobReturnCode::ExecutionError);
    assert_eq!(h.wait_settled().await, JobReturnCode::ExecutionError);
    assert_eq!(s.fake.status(h.container_id()), Some(FakeStatus::Removed));
}

#[tokio::test]
async fn die_event_outcome_is_recorded_before_removal_without_an_inspect() {
    let s = Site::new();
    let h = launch_synced(&s, "job-1").await;
    let inspects = s.inspects();
    s.fake.exit(h.container_id(), 3);
    assert_eq!(h.wait_settled().await, JobReturnCode::ExecutionError);
    assert_eq!(s.inspects(), inspects, "the die event carried everything");
    let o = s.stored(&h).unwrap();
    assert_eq!(
        (o.exit_code, o.oom_killed, o.observed_by),
        (Some(3), false, ObservedBy::Event)
    );
    let finished = o.finished_at.as_deref().expect("finish time from the event");
    assert!(finished.ends_with('Z') && finished.contains('T'), "{finished}");
    assert!(
        berth_store::time::unix_ms_from_rfc3339(finished).is_some(),
        "{finished}"
    );
    let recorded = s.store.recorded_at_request.lock().unwrap()[h.container_id()];
    let removed = first_remove(&s.fake, h.container_id()).expect("removed");
    assert!(
        recorded <= removed,
        "outcome recorded (before request {recorded}) after removal ({removed})"
    );
    // The job's output was read before the removal too.
    let logs = s
        .fake
        .requests()
        .iter()
        .find(|r| r.method == Method::Logs && r.target == h.container_id())
        .map(|r| r.seq)
        .expect("output copied");
    assert!(logs < removed);
}

#[tokio::test]
async fn wait_settled_returns_only_after_removal() {
    let s = Site::new();
    s.fake.set_remove_delay(Duration::from_millis(80));
    let h = s.launch("job-1").await;
    let settled = tokio::spawn({
        let h = h.clone();
        async move { h.wait_settled().await }
    });
    s.fake.exit(h.container_id(), 0);
    let code = tokio::time::timeout(Duration::from_secs(2), settled)
        .await
        .expect("wait_settled timed out")
        .unwrap();
    assert_eq!(code, JobReturnCode::Success);
    assert!(h.is_settled());
    assert_eq!(s.fake.status(h.container_id()), Some(FakeStatus::Removed));
    assert_eq!(s.launcher.cleanups_in_flight(), 0);
}

#[tokio::test]
async fn die_event_outcome_matches_what_inspect_gives() {
    let s = Site::new();
    // By the event task, from the die event (and the oom event before it).
    let by_event = launch_synced(&s, "job-1").await;
    s.fake.oom_kill(by_event.container_id());
    by_event.wait_settled().await;
    let plain = s.launch("job-2").await;
    s.fake.exit(plain.container_id(), 3);
    plain.wait_settled().await;
    // By poll, from an inspect of the stopped container.
    s.fake.hold_events(true);
    let by_inspect = s.launch("job-3").await;
    s.fake.oom_kill(by_inspect.container_id());
    assert_eq!(by_inspect.poll().await, JobReturnCode::ExecutionError);
    let plain_inspect = s.launch("job-4").await;
    s.fake.exit(plain_inspect.container_id(), 3);
    assert_eq!(plain_inspect.poll().await, JobReturnCode::ExecutionError);

    let key = |h: &JobHandle| {
        let o = s.stored(h).unwrap();
        (o.return_code, o.exit_code, o.oom_killed)
    };
    assert_eq!(s.stored(&by_event).unwrap().observed_by, ObservedBy::Event);
    assert_eq!(s.stored(&by_inspect).unwrap().observed_by, ObservedBy::Inspect);
    assert_eq!(key(&by_event), key(&by_inspect));
    assert_eq!(key(&by_event), (JobReturnCode::ExecutionError, Some(137), true));
    assert_eq!(key(&plain), key(&plain_inspect));
    assert_eq!(key(&plain), (JobReturnCode::ExecutionError, Some(3), false));
}

#[tokio::test]
async fn die_event_after_terminate_began_is_aborted() {
    let s = Site::new();
    s.fake.set_stop_delay(Duration::from_millis(40));
    let h = s.launch("job-1").await;
    let term = tokio::spawn({
        let h = h.clone();
        async move { h.terminate().await }
    });
    tokio::time::sleep(Duration::from_millis(10)).await;
    s.fake.exit(h.container_id(), 3);
    assert_eq!(term.await.unwrap(), JobReturnCode::Aborted);
    // terminate() returns once the container is gone, whoever recorded the end.
    assert_eq!(s.fake.status(h.container_id()), Some(FakeStatus::Removed));
    // Recorded while the stop was under way, before the job's own end was known.
    let o = s.stored(&h).unwrap();
    assert_eq!((o.return_code, o.exit_code), (JobReturnCode::Aborted, None));
    assert_eq!(o.observed_by, ObservedBy::Terminate);
}

#[tokio::test]
async fn restart_policy_keeps_the_inspect_path() {
    let s = Site::new();
    let mut p = plan("job-1");
    p.create["HostConfig"]["RestartPolicy"] =
        serde_json::json!({"Name": "on-failure", "MaximumRetryCount": 1});
    let h = s.launcher.launch(p).await.unwrap();
    until("first re-sync", || s.fake.count(Method::List) > 0).await;
    let inspects = s.inspects();
    s.fake.exit(h.container_id(), 3);
    assert_eq!(wait(&h).await, JobReturnCode::ExecutionError);
    assert!(
        s.inspects() > inspects,
        "a die event of a restartable container is not the end"
    );
}

#[test]
fn blocking_launcher_drop_waits_for_in_flight_cleanup() {
    let fake = FakeRuntime::with(NET, IMAGE);
    fake.set_remove_delay(Duration::from_millis(150));
    let store = Arc::new(MemoryStore::new());
    let launcher = BlockingLauncher::new(Arc::new(fake.clone()), settings(), store.clone()).unwrap();
    let h = launcher.launch(plan("job-1")).unwrap();
    fake.exit(h.container_id(), 0);
    assert_eq!(
        h.wait_timeout(Duration::from_secs(2)),
        Some(JobReturnCode::Success)
    );
    assert_ne!(fake.status(h.container_id()), Some(FakeStatus::Removed));
    drop(launcher);
    assert_eq!(fake.status(h.container_id()), Some(FakeStatus::Removed));
    assert_eq!(h.poll(), JobReturnCode::Success);

    // shutdown() does the same and says nothing is left.
    let launcher = BlockingLauncher::new(Arc::new(fake.clone()), settings(), store).unwrap();
    let h = launcher.launch(plan("job-2")).unwrap();
    fake.exit(h.container_id(), 0);
    assert_eq!(
        h.wait_timeout(Duration::from_secs(2)),
        Some(JobReturnCode::Success)
    );
    assert_eq!(launcher.shutdown(), 0);
    assert_eq!(fake.status(h.container_id()), Some(FakeStatus::Removed));
}

/// The create and start requests of the launches at once, in the order the engine
/// answered them.
async fn creates_and_starts_of_launches_at_once(settings: LauncherSettings, jobs: usize) -> Vec<Method> {
    let s = Site::with(settings);
    s.fake.set_latency(Duration::from_millis(20));
    let launches = (0..jobs).map(|i| s.launcher.launch(plan(&format!("job-{i}"))));
    let handles = futures::future::join_all(launches).await;
    s.fake.set_latency(Duration::ZERO);
    for h in handles {
        let h = h.expect("every launch waits its turn and then runs");
        assert_eq!(h.poll().await, JobReturnCode::Unknown);
        h.terminate().await;
    }
    s.fake
        .requests()
        .into_iter()
        .map(|r| r.method)
        .filter(|m| matches!(m, Method::Create | Method::Start))
        .collect()
}

/// `max_starting`: launches at once take turns for create and start, so the engine never
/// holds more of them than that; the wait for a turn does not count against a launch's
/// bound (here 20 turns of two 20 ms requests each, 0.8 s, past a 0.3 s budget).
#[tokio::test]
async fn launches_at_once_take_turns_for_create_and_start() {
    let mut one_at_a_time = settings();
    one_at_a_time.max_starting = 1;
    one_at_a_time.start_timeout = Some(Duration::from_millis(200));
    one_at_a_time.engine_timeout = Duration::from_millis(100);
    let order = creates_and_starts_of_launches_at_once(one_at_a_time, 20).await;
    let alternating: Vec<Method> = (0..20).flat_map(|_| [Method::Create, Method::Start]).collect();
    assert_eq!(order, alternating);

    // With enough turns for all, every create is sent before any start is answered.
    let order = creates_and_starts_of_launches_at_once(settings(), 4).await;
    assert_eq!(order[..4], [Method::Create; 4]);
}
