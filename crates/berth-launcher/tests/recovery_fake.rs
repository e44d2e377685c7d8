//! Recovery, retention and job output files against the in-memory engine.

use berth_core::args::Role;
use berth_core::config::OrphanPolicy;
use berth_core::plan::ContainerPlan;
use berth_core::{labels, JobReturnCode};
use berth_engine::fake::{FakeRuntime, FakeStatus};
use berth_engine::{LogChunk, LogStream};
use berth_launcher::{Clock, Launcher, LauncherSettings, RecoveryAction, JOB_LOG_FILE};
use berth_store::{LaunchRecord, MemoryStore, ObservedBy, OutcomeStore};
use std::collections::HashMap;
use std::path::Path;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::Duration;

mod common;

use common::{name, settings, IMAGE, NET, SITE, WORKSPACE as WS};

/// The labels of job `job`'s container in `workspace`, with a plan digest as the core
/// builder sets it.
fn site_labels(job: &str, workspace: &str) -> HashMap<String, String> {
    let mut labels = berth_testkit::fake_site::site_labels(job, workspace);
    labels.insert(labels::PLAN_DIGEST.to_string(), "sha256:abc".to_string());
    labels
}

struct Site {
    fake: FakeRuntime,
    store: Arc<MemoryStore>,
    launcher: Launcher,
    root: tempfile::TempDir,
    now: Arc<AtomicI64>,
}

fn real_now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

impl Site {
    fn new(edit: impl FnOnce(&mut LauncherSettings)) -> Self {
        let fake = FakeRuntime::with(NET, IMAGE);
        let store = Arc::new(MemoryStore::new());
        let root = tempfile::tempdir().unwrap();
        let now = Arc::new(AtomicI64::new(real_now_ms()));
        let mut s = settings();
        s.parent_root = Some(root.path().to_path_buf());
        s.workspace = Some(WS.to_string());
        let clock_now = now.clone();
        s.clock = Clock::from_fn(move || clock_now.load(Ordering::SeqCst));
        edit(&mut s);
        let launcher = Launcher::new(Arc::new(fake.clone()), s, store.clone());
        Self {
            fake,
            store,
            launcher,
            root,
            now,
        }
    }

    fn seed(&self, job: &str, status: FakeStatus, code: Option<i64>) -> String {
        self.fake
            .seed_container(&name(job), IMAGE, site_labels(job, WS), status, code)
    }

    fn job_dir(&self, job: &str) -> std::path::PathBuf {
        let dir = self.root.path().join(job);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    fn gone(&self, id: &str) -> bool {
        matches!(self.fake.status(id), None | Some(FakeStatus::Removed))
    }

    fn plan(&self, job: &str) -> ContainerPlan {
        let mut plan = common::plan(job);
        plan.create["Labels"] = serde_json::json!(site_labels(job, WS));
        plan.parent_job_dir = self.job_dir(job);
        plan
    }
}

fn out(text: &str) -> LogChunk {
    LogChunk {
        stream: LogStream::Stdout,
        bytes: text.as_bytes().to_vec(),
    }
}

fn err(text: &str) -> LogChunk {
    LogChunk {
        stream: LogStream::Stderr,
        bytes: text.as_bytes().to_vec(),
    }
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

async fn until(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while !cond() {
        assert!(
            std::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

#[tokio::test]
async fn exited_containers_get_their_exact_outcomes_and_are_removed() {
    let site = Site::new(|_| {});
    let cases = [
        ("j0", 0, JobReturnCode::Success),
        ("j1", 1, JobReturnCode::ExecutionError),
        ("j9", 9, JobReturnCode::Aborted),
        ("j3", 3, JobReturnCode::ExecutionError),
    ];
    let ids: Vec<String> = cases
        .iter()
        .map(|(job, code, _)| site.seed(job, FakeStatus::Exited, Some(*code)))
        .collect();

    let report = site.launcher.recover(OrphanPolicy::Adopt).await.unwrap();
    assert!(report.errors.is_empty(), "{:?}", report.errors);
    assert_eq!(report.count(RecoveryAction::Recorded), 4, "{report:?}");
    for ((job, code, rc), id) in cases.iter().zip(&ids) {
        let stored = site.store.outcome(id).unwrap().expect("outcome recorded");
        assert_eq!(stored.return_code, *rc, "{job}");
        assert_eq!(stored.exit_code, Some(*code), "{job}");
        assert_eq!(stored.observed_by, ObservedBy::Recovery);
        assert!(stored.finished_at.is_some());
        assert!(site.gone(id), "{job} removed");
        let j = report.jobs.iter().find(|j| &j.container_id == id).unwrap();
        assert!(!j.outcome_was_recorded);
    }
    // A second run finds nothing left to do.
    let again = site.launcher.recover(OrphanPolicy::Adopt).await.unwrap();
    assert!(again.jobs.is_empty(), "{again:?}");
}

#[tokio::test]
async fn unknown_containers_get_their_launch_rebuilt_from_labels() {
    let site = Site::new(|_| {});
    let id = site.seed("j1", FakeStatus::Exited, Some(2));
    let report = site.launcher.recover(OrphanPolicy::Adopt).await.unwrap();
    assert!(report.jobs[0].launch_rebuilt);
    let launch = site.store.launch_record(&id).unwrap().expect("launch rebuilt");
    assert_eq!(
        launch,
        LaunchRecord {
            job_id: "j1".into(),
            site: SITE.into(),
            role: Role::Client,
            container_id: id.clone(),
            container_name: name("j1"),
            image: IMAGE.into(),
            plan_digest: "sha256:abc".into(),
            workspace: WS.into(),
            launched_at_ms: 0,
        }
    );
    // Every launch has exactly one outcome.
    assert!(site.store.pending_launches(SITE).unwrap().is_empty());
    assert_eq!(site.store.outcomes().len(), 1);
}

#[tokio::test]
async fn running_orphan_is_adopted_and_its_end_recorded() {
    let site = Site::new(|_| {});
    let id = site.seed("j1", FakeStatus::Running, None);
    let report = site.launcher.recover(OrphanPolicy::Adopt).await.unwrap();
    assert_eq!(report.jobs[0].action, RecoveryAction::Adopted);
    assert_eq!(site.fake.status(&id), Some(FakeStatus::Running));
    assert_eq!(site.launcher.running_jobs().len(), 1);
    until("subscribed", || site.launcher.events_connected()).await;

    site.fake.exit(&id, 3);
    let handle = site.launcher.attach(&id).await.unwrap();
    assert_eq!(handle.wait().await, JobReturnCode::ExecutionError);
    let stored = site.store.outcome(&id).unwrap().unwrap();
    assert_eq!(stored.exit_code, Some(3));
    until("removed", || site.gone(&id)).await;
}

#[tokio::test]
async fn running_orphan_is_terminated_under_terminate() {
    let site = Site::new(|_| {});
    let id = site.seed("j1", FakeStatus::Running, None);
    let report = site.launcher.recover(OrphanPolicy::Terminate).await.unwrap();
    let j = &report.jobs[0];
    assert_eq!(j.action, RecoveryAction::Terminated);
    let o = j.outcome.as_ref().unwrap();
    assert_eq!(o.return_code, JobReturnCode::Aborted);
    assert_eq!(o.observed_by, ObservedBy::Recovery);
    assert_eq!(site.store.outcome(&id).unwrap().as_ref(), Some(o));
    assert!(site.gone(&id));
}

#[tokio::test]
async fn running_orphan_is_only_listed_under_report() {
    let site = Site::new(|_| {});
    let id = site.seed("j1", FakeStatus::Running, None);
    let report = site.launcher.recover(OrphanPolicy::Report).await.unwrap();
    assert_eq!(report.jobs[0].action, RecoveryAction::Reported);
    assert_eq!(site.fake.status(&id), Some(FakeStatus::Running));
    assert_eq!(site.store.outcome(&id).unwrap(), None);
    assert!(site.launcher.running_jobs().is_empty());
}

#[tokio::test]
async fn launch_without_outcome_or_container_is_recorded_vanished() {
    let site = Site::new(|_| {});
    site.store
        .record_launch(&LaunchRecord {
            job_id: "gone".into(),
            site: SITE.into(),
            role: Role::Client,
            container_id: "f".repeat(64),
            container_name: name("gone"),
            image: IMAGE.into(),
            plan_digest: String::new(),
            workspace: WS.into(),
            launched_at_ms: 1,
        })
        .unwrap();
    let report = site.launcher.recover(OrphanPolicy::Adopt).await.unwrap();
    let j = &report.jobs[0];
    assert_eq!(j.action, RecoveryAction::Vanished);
    let stored = site.store.outcome(&"f".repeat(64)).unwrap().unwrap();
    assert_eq!(stored.return_code, JobReturnCode::Aborted);
    assert_eq!(stored.observed_by, ObservedBy::Vanished);
    assert!(site.store.pending_launches(SITE).unwrap().is_empty());
}

#[tokio::test]
async fn container_of_another_workspace_is_flagged_and_left_alone() {
    let site = Site::new(|_| {});
    let id = site.fake.seed_container(
        &name("j1"),
        IMAGE,
        site_labels("j1", "/elsewhere"),
        FakeStatus::Exited,
        Some(1),
    );
    let report = site.launcher.recover(OrphanPolicy::Terminate).await.unwrap();
    assert_eq!(report.jobs[0].action, RecoveryAction::ForeignWorkspace);
    assert_eq!(site.fake.status(&id), Some(FakeStatus::Exited));
    assert_eq!(site.store.outcome(&id).unwrap(), None);
    assert!(site.store.launch_record(&id).unwrap().is_none());
}

#[tokio::test]
async fn retention_keeps_a_failed_container_then_sweeps_it() {
    let site = Site::new(|s| s.keep_failed_for = Some(Duration::from_secs(3600)));
    let failed = site.seed("bad", FakeStatus::Exited, Some(1));
    let ok = site.seed("good", FakeStatus::Exited, Some(0));
    site.job_dir("bad");
    site.fake.set_logs(&failed, vec![out("trace\n")]);

    let report = site.launcher.recover(OrphanPolicy::Adopt).await.unwrap();
    let kept = report.with(RecoveryAction::Kept).next().expect("kept");
    assert_eq!(kept.container_id, failed);
    assert_eq!(site.fake.status(&failed), Some(FakeStatus::Exited));
    assert!(site.gone(&ok), "a succeeded job is never kept");
    // Outcome recorded and output written although the container is kept.
    assert_eq!(
        site.store.outcome(&failed).unwrap().unwrap().return_code,
        JobReturnCode::ExecutionError
    );
    assert_eq!(read(&site.root.path().join("bad").join(JOB_LOG_FILE)), "trace\n");

    // Still within the period: kept again.
    site.now.fetch_add(3_500_000, Ordering::SeqCst);
    let report = site.launcher.recover(OrphanPolicy::Adopt).await.unwrap();
    assert_eq!(report.count(RecoveryAction::Kept), 1);
    assert!(report.jobs[0].outcome_was_recorded);

    // Past it: swept.
    site.now.fetch_add(200_000, Ordering::SeqCst);
    let report = site.launcher.recover(OrphanPolicy::Adopt).await.unwrap();
    assert_eq!(report.count(RecoveryAction::Swept), 1, "{report:?}");
    assert!(site.gone(&failed));
    assert!(site
        .launcher
        .recover(OrphanPolicy::Adopt)
        .await
        .unwrap()
        .jobs
        .is_empty());
}

#[tokio::test]
async fn launcher_keeps_a_failed_job_and_sweeps_it_when_the_period_ends() {
    // The real clock, so the launcher's own sweep task sees time pass. The fake reports
    // FinishedAt in whole seconds, so the period must be over a second.
    let site = Site::new(|s| {
        s.keep_failed_for = Some(Duration::from_millis(2000));
        s.clock = Clock::system();
    });
    let h = site.launcher.launch(site.plan("j1")).await.unwrap();
    site.fake.set_logs(h.container_id(), vec![out("boom\n")]);
    site.fake.exit(h.container_id(), 1);
    assert_eq!(h.wait().await, JobReturnCode::ExecutionError);
    assert_eq!(site.fake.status(h.container_id()), Some(FakeStatus::Exited));
    assert_eq!(read(&site.root.path().join("j1").join(JOB_LOG_FILE)), "boom\n");
    until("swept", || site.gone(h.container_id())).await;
}

#[tokio::test]
async fn output_is_written_to_the_job_folder_before_removal() {
    let site = Site::new(|_| {});
    let h = site.launcher.launch(site.plan("j1")).await.unwrap();
    site.fake.set_logs(
        h.container_id(),
        vec![out("hello\n"), err("Traceback: oops\n"), out("bye\n")],
    );
    site.fake.exit(h.container_id(), 1);
    assert_eq!(h.wait().await, JobReturnCode::ExecutionError);
    assert!(site.gone(h.container_id()));
    // The fake has no output for a removed container: the copy came first.
    assert_eq!(
        read(&site.root.path().join("j1").join(JOB_LOG_FILE)),
        "hello\nTraceback: oops\nbye\n"
    );
}

#[tokio::test]
async fn terminate_and_recovery_keep_the_output_too() {
    let site = Site::new(|_| {});
    let h = site.launcher.launch(site.plan("t1")).await.unwrap();
    site.fake.set_logs(h.container_id(), vec![out("until stopped\n")]);
    assert_eq!(h.terminate().await, JobReturnCode::Aborted);
    assert_eq!(
        read(&site.root.path().join("t1").join(JOB_LOG_FILE)),
        "until stopped\n"
    );

    let id = site.seed("r1", FakeStatus::Exited, Some(0));
    site.job_dir("r1");
    site.fake.set_logs(&id, vec![out("recovered\n")]);
    let report = site.launcher.recover(OrphanPolicy::Adopt).await.unwrap();
    let j = report.jobs.iter().find(|j| j.container_id == id).unwrap();
    assert_eq!(
        j.log_file.as_deref(),
        Some(site.root.path().join("r1").join(JOB_LOG_FILE).as_path())
    );
    assert_eq!(
        read(&site.root.path().join("r1").join(JOB_LOG_FILE)),
        "recovered\n"
    );
}

#[tokio::test]
async fn symlinked_log_file_is_refused_and_the_outcome_still_recorded() {
    let site = Site::new(|_| {});
    let outside = tempfile::tempdir().unwrap();
    let precious = outside.path().join("precious");
    std::fs::write(&precious, "keep me").unwrap();
    let dir = site.job_dir("j1");
    std::os::unix::fs::symlink(&precious, dir.join(JOB_LOG_FILE)).unwrap();

    let h = site.launcher.launch(site.plan("j1")).await.unwrap();
    site.fake
        .set_logs(h.container_id(), vec![out("overwrite attempt\n")]);
    site.fake.exit(h.container_id(), 3);
    assert_eq!(h.wait().await, JobReturnCode::ExecutionError);
    assert_eq!(
        site.store.outcome(h.container_id()).unwrap().unwrap().exit_code,
        Some(3)
    );
    assert!(site.gone(h.container_id()), "removed all the same");
    assert_eq!(read(&precious), "keep me");

    // Recovery refuses it too.
    let id = site.seed("j1", FakeStatus::Exited, Some(1));
    site.fake.set_logs(&id, vec![out("again\n")]);
    let report = site.launcher.recover(OrphanPolicy::Adopt).await.unwrap();
    assert_eq!(report.jobs[0].action, RecoveryAction::Recorded);
    assert_eq!(report.jobs[0].log_file, None);
    assert!(site.gone(&id));
    assert_eq!(read(&precious), "keep me");
}

#[tokio::test]
async fn recovery_at_start_runs_once_before_the_first_launch() {
    let site = Site::new(|s| s.recover_on_start = true);
    let old = site.seed("old", FakeStatus::Exited, Some(9));
    let h = site.launcher.launch(site.plan("new")).await.unwrap();
    assert_eq!(
        site.store.outcome(&old).unwrap().unwrap().return_code,
        JobReturnCode::Aborted
    );
    assert!(site.gone(&old));
    assert_eq!(h.terminate().await, JobReturnCode::Aborted);
}

#[tokio::test]
async fn the_launchers_own_running_job_is_not_an_orphan() {
    let site = Site::new(|_| {});
    let h = site.launcher.launch(site.plan("mine")).await.unwrap();
    let report = site.launcher.recover(OrphanPolicy::Terminate).await.unwrap();
    assert_eq!(report.jobs[0].action, RecoveryAction::Adopted);
    assert_eq!(site.fake.status(h.container_id()), Some(FakeStatus::Running));
    site.fake.exit(h.container_id(), 0);
    assert_eq!(h.wait().await, JobReturnCode::Success);
}
