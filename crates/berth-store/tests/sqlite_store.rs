//! The SQLite store: records, ordering, durability, concurrency (threads and processes) and
//! damaged files.

use berth_core::args::Role;
use berth_core::JobReturnCode;
use berth_store::{
    default_path, HistoryEntry, JobOutcome, LaunchFilter, LaunchRecord, ObservedBy, OutcomeStore,
    SqliteStore, StoreError, StoreOptions,
};
use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

#[path = "sqlite_store/damaged.rs"]
mod damaged;

fn launch(container_id: &str, job_id: &str, site: &str, at_ms: i64) -> LaunchRecord {
    LaunchRecord {
        job_id: job_id.into(),
        site: site.into(),
        role: Role::Client,
        container_id: container_id.into(),
        container_name: format!("{site}-{job_id}"),
        image: "nvflare-pt:2.6".into(),
        plan_digest: format!("sha256:{container_id}"),
        workspace: "/var/tmp/ws".into(),
        launched_at_ms: at_ms,
    }
}

fn outcome(container_id: &str, job_id: &str, exit_code: i64) -> JobOutcome {
    JobOutcome {
        job_id: job_id.into(),
        container_id: container_id.into(),
        return_code: JobReturnCode::from_exit_code(exit_code),
        exit_code: Some(exit_code),
        oom_killed: false,
        finished_at: None,
        observed_by: ObservedBy::Event,
        recorded_at_ms: 0,
    }
}

fn open(path: &Path) -> SqliteStore {
    let (store, report) = SqliteStore::open(path).expect("open store");
    assert_eq!(
        report.rebuilt_from,
        None,
        "unexpected rebuild of {}",
        path.display()
    );
    store
}

fn store_path(dir: &tempfile::TempDir) -> PathBuf {
    default_path(dir.path())
}

#[test]
fn default_path_is_a_hidden_dir_at_the_workspace_root() {
    assert_eq!(
        default_path(Path::new("/var/tmp/nvflare/workspace")),
        PathBuf::from("/var/tmp/nvflare/workspace/.berth/state.db")
    );
}

#[test]
fn missing_store_and_directory_are_created() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir
        .path()
        .join("site")
        .join("deep")
        .join(".berth")
        .join("state.db");
    let (store, report) = SqliteStore::open(&path).unwrap();
    assert!(report.created);
    assert_eq!(report.rebuilt_from, None);
    assert_eq!(report.notice(), None);
    assert!(path.is_file());
    store.record_launch(&launch("c1", "j1", "site-1", 1)).unwrap();
    assert_eq!(store.history(10).unwrap().len(), 1);
}

#[test]
fn launches_and_outcomes_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&store_path(&dir));
    let mut l = launch("c1", "job-1", "site-1", 1_700_000_000_000);
    l.role = Role::Server;
    store.record_launch(&l).unwrap();
    assert_eq!(store.outcome("c1").unwrap(), None);

    let o = JobOutcome {
        job_id: "job-1".into(),
        container_id: "c1".into(),
        return_code: JobReturnCode::ExecutionError,
        exit_code: Some(137),
        oom_killed: true,
        finished_at: Some("2023-11-14T22:13:25.5Z".into()),
        observed_by: ObservedBy::Recovery,
        recorded_at_ms: 1_700_000_006_000,
    };
    assert_eq!(store.record_outcome(&o).unwrap(), o);
    assert_eq!(store.outcome("c1").unwrap(), Some(o.clone()));

    let entry = store.launch_by_container("c1").unwrap().unwrap();
    assert_eq!(
        entry,
        HistoryEntry {
            launch: l.clone(),
            outcome: Some(o.clone())
        }
    );
    assert_eq!(store.launch_by_job("job-1", "site-1").unwrap(), Some(entry));
    assert_eq!(store.launch_by_job("job-1", "site-2").unwrap(), None);
    assert_eq!(store.launch_by_container("nope").unwrap(), None);

    // Every return code and observation survives the trip.
    for (i, code) in JobReturnCode::ALL.into_iter().enumerate() {
        for (k, by) in ObservedBy::ALL.into_iter().enumerate() {
            let id = format!("rc-{i}-{k}");
            let o = JobOutcome {
                return_code: code,
                exit_code: None,
                observed_by: by,
                ..outcome(&id, "j", 0)
            };
            assert_eq!(store.record_outcome(&o).unwrap(), o);
            assert_eq!(store.outcome(&id).unwrap(), Some(o));
        }
    }
}

#[test]
fn recording_a_launch_twice_keeps_the_first() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&store_path(&dir));
    store.record_launch(&launch("c1", "j", "s", 5)).unwrap();
    store.record_launch(&launch("c1", "j", "s", 9)).unwrap();
    let all = store.history(100).unwrap();
    assert_eq!(all.len(), 1);
    assert_eq!(all[0].launch.launched_at_ms, 5);
}

#[test]
fn first_outcome_wins() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&store_path(&dir));
    store.record_launch(&launch("c1", "j", "s", 1)).unwrap();
    let first = outcome("c1", "j", 0);
    let mut later = outcome("c1", "j", 9);
    later.observed_by = ObservedBy::Terminate;
    assert_eq!(store.record_outcome(&first).unwrap(), first);
    assert_eq!(store.record_outcome(&later).unwrap(), first);
    assert_eq!(store.outcome("c1").unwrap(), Some(first.clone()));

    // Also across connections.
    let other = open(store.path());
    assert_eq!(other.record_outcome(&later).unwrap(), first);
}

#[test]
fn history_is_ordered_by_launch_time_with_outcomes_joined() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&store_path(&dir));
    // Inserted out of time order.
    store
        .record_launch(&launch("c3", "job-3", "site-1", 3_000))
        .unwrap();
    store
        .record_launch(&launch("c1", "job-1", "site-1", 1_000))
        .unwrap();
    let mut server = launch("c2", "job-2", "server", 2_000);
    server.role = Role::Server;
    store.record_launch(&server).unwrap();
    store
        .record_launch(&launch("c4", "job-4", "site-2", 4_000))
        .unwrap();

    let mut done = outcome("c1", "job-1", 1);
    done.finished_at = Some("1970-01-01T00:00:03.250Z".into());
    done.recorded_at_ms = 9_000;
    store.record_outcome(&done).unwrap();
    let mut no_finish_time = outcome("c2", "job-2", 0);
    no_finish_time.recorded_at_ms = 7_000;
    store.record_outcome(&no_finish_time).unwrap();

    let all = store.history(100).unwrap();
    let ids: Vec<_> = all.iter().map(|e| e.launch.container_id.as_str()).collect();
    assert_eq!(ids, ["c1", "c2", "c3", "c4"]);

    let first = &all[0];
    assert_eq!(first.launch.job_id, "job-1");
    assert_eq!(first.launch.site, "site-1");
    assert_eq!(first.launch.role, Role::Client);
    assert_eq!(first.launch.image, "nvflare-pt:2.6");
    assert_eq!(first.launch.container_name, "site-1-job-1");
    assert_eq!(first.started_ms(), 1_000);
    assert_eq!(
        first.finished_ms(),
        Some(3_250),
        "the engine's finish time is preferred"
    );
    assert_eq!(first.duration_ms(), Some(2_250));
    assert_eq!(first.return_code(), Some(JobReturnCode::ExecutionError));
    assert_eq!(all[1].launch.role, Role::Server);
    assert_eq!(all[1].finished_ms(), Some(7_000), "falls back to the record time");
    assert_eq!(all[1].duration_ms(), Some(5_000));
    assert_eq!(all[2].outcome, None);
    assert_eq!(all[2].duration_ms(), None);

    // A limit keeps the newest, still oldest first.
    let newest: Vec<_> = store
        .history(2)
        .unwrap()
        .into_iter()
        .map(|e| e.launch.container_id)
        .collect();
    assert_eq!(newest, ["c3", "c4"]);

    // Filters.
    let ids = |f: LaunchFilter| -> Vec<String> {
        store
            .launches(&f)
            .unwrap()
            .into_iter()
            .map(|e| e.launch.container_id)
            .collect()
    };
    assert_eq!(
        ids(LaunchFilter {
            site: Some("site-1".into()),
            ..Default::default()
        }),
        ["c1", "c3"]
    );
    assert_eq!(
        ids(LaunchFilter {
            role: Some(Role::Server),
            ..Default::default()
        }),
        ["c2"]
    );
    assert_eq!(
        ids(LaunchFilter {
            finished: Some(true),
            ..Default::default()
        }),
        ["c1", "c2"]
    );
    assert_eq!(
        ids(LaunchFilter {
            finished: Some(false),
            ..Default::default()
        }),
        ["c3", "c4"]
    );
    assert_eq!(
        ids(LaunchFilter {
            since_ms: Some(2_500),
            ..Default::default()
        }),
        ["c3", "c4"]
    );
    assert_eq!(
        ids(LaunchFilter {
            site: Some("site-1".into()),
            finished: Some(false),
            ..Default::default()
        }),
        ["c3"]
    );
}

#[test]
fn launch_by_job_is_the_latest_and_pending_launches_lack_outcomes() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&store_path(&dir));
    store
        .record_launch(&launch("old", "job", "site-1", 1_000))
        .unwrap();
    store.record_outcome(&outcome("old", "job", 1)).unwrap();
    store
        .record_launch(&launch("new", "job", "site-1", 2_000))
        .unwrap();
    store
        .record_launch(&launch("other-site", "job", "site-2", 3_000))
        .unwrap();

    let latest = store.launch_by_job("job", "site-1").unwrap().unwrap();
    assert_eq!(latest.launch.container_id, "new");
    assert_eq!(latest.outcome, None);

    let pending: Vec<_> = store
        .pending_launches("site-1")
        .unwrap()
        .into_iter()
        .map(|l| l.container_id)
        .collect();
    assert_eq!(pending, ["new"]);
    store.record_outcome(&outcome("new", "job", 0)).unwrap();
    assert!(store.pending_launches("site-1").unwrap().is_empty());
    assert_eq!(store.pending_launches("site-2").unwrap().len(), 1);
}

#[test]
fn prune_forgets_old_finished_launches_only() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&store_path(&dir));
    for (id, at) in [("a", 1_000), ("b", 2_000), ("pending", 500)] {
        store.record_launch(&launch(id, id, "s", at)).unwrap();
    }
    for (id, recorded) in [("a", 1_500), ("b", 9_000), ("orphan", 100)] {
        let mut o = outcome(id, id, 0);
        o.recorded_at_ms = recorded;
        store.record_outcome(&o).unwrap();
    }
    let pruned = store.prune_older_than(5_000).unwrap();
    assert_eq!((pruned.launches, pruned.outcomes), (1, 2));
    let left: Vec<_> = store
        .history(10)
        .unwrap()
        .into_iter()
        .map(|e| e.launch.container_id)
        .collect();
    assert_eq!(left, ["pending", "b"]);
    assert_eq!(store.outcome("orphan").unwrap(), None);
}

#[test]
fn reopening_after_drop_keeps_everything() {
    let dir = tempfile::tempdir().unwrap();
    let path = store_path(&dir);
    {
        let (store, report) = SqliteStore::open(&path).unwrap();
        assert!(report.created);
        store.record_launch(&launch("c1", "j1", "s", 1)).unwrap();
        store.record_outcome(&outcome("c1", "j1", 9)).unwrap();
        store.record_launch(&launch("c2", "j2", "s", 2)).unwrap();
    }
    let (store, report) = SqliteStore::open(&path).unwrap();
    assert!(!report.created);
    assert_eq!(report.rebuilt_from, None);
    let all = store.history(10).unwrap();
    assert_eq!(all.len(), 2);
    assert_eq!(all[0].return_code(), Some(JobReturnCode::Aborted));
    assert_eq!(all[1].outcome, None);
}

#[test]
fn a_recorded_outcome_is_visible_to_a_fresh_connection_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let path = store_path(&dir);
    let writer = open(&path);
    writer.record_launch(&launch("c1", "j", "s", 1)).unwrap();
    let o = outcome("c1", "j", 1);
    writer.record_outcome(&o).unwrap();

    // The writer is still open: the data is in its WAL, which other connections read.
    let reader = open(&path);
    assert_eq!(reader.outcome("c1").unwrap(), Some(o.clone()));
    // And a plain SQLite connection agrees, with the durability settings in force.
    let raw = rusqlite::Connection::open(&path).unwrap();
    let n: i64 = raw
        .query_row("SELECT COUNT(*) FROM outcomes", [], |r| r.get(0))
        .unwrap();
    assert_eq!(n, 1);
    let mode: String = raw.query_row("PRAGMA journal_mode", [], |r| r.get(0)).unwrap();
    assert_eq!(mode, "wal");
}

#[test]
fn an_outcome_survives_the_writer_process_aborting() {
    let dir = tempfile::tempdir().unwrap();
    let path = store_path(&dir);
    let out = child("crash", &path, 0, None).output().unwrap();
    assert!(!out.status.success(), "the child should have aborted");
    let store = open(&path);
    let entry = store
        .launch_by_container("crash-c")
        .unwrap()
        .expect("launch kept");
    assert_eq!(entry.outcome.map(|o| o.exit_code), Some(Some(3)));
}

#[test]
fn concurrent_threads_each_with_a_connection_lose_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let path = store_path(&dir);
    const THREADS: usize = 4;
    const PER: usize = 60;
    let winners: Vec<BTreeMap<String, i64>> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..THREADS)
            .map(|w| {
                let path = path.clone();
                s.spawn(move || {
                    let (store, _) = SqliteStore::open(&path).unwrap();
                    write_workload(&store, w, PER)
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    check_workload(&path, THREADS, PER, &winners);
}

#[test]
fn concurrent_processes_lose_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let path = store_path(&dir);
    const PROCS: usize = 3;
    const PER: usize = 80;
    let go = dir.path().join("go");
    let children: Vec<_> = (0..PROCS)
        .map(|w| {
            child("workload", &path, w, Some(&go))
                .env("BERTH_STORE_TEST_PER", PER.to_string())
                .spawn()
                .unwrap()
        })
        .collect();
    release_together(children, &go, "a writer process");
    let winners: Vec<BTreeMap<String, i64>> = (0..PROCS)
        .map(|w| {
            let text = fs::read_to_string(dir.path().join(format!(".berth/winners-{w}"))).unwrap();
            text.lines()
                .map(|l| {
                    let (k, v) = l.split_once(' ').unwrap();
                    (k.to_string(), v.parse().unwrap())
                })
                .collect()
        })
        .collect();
    check_workload(&path, PROCS, PER, &winners);
}

const SHARED: usize = 20;

/// Worker `w`: `per` launches of its own, each with two outcomes (the first must win), and
/// an outcome for every shared container, racing the other workers. Returns the winner it saw
/// for each shared container.
fn write_workload(store: &SqliteStore, w: usize, per: usize) -> BTreeMap<String, i64> {
    let mut winners = BTreeMap::new();
    for k in 0..per {
        let id = format!("w{w}-c{k}");
        store
            .record_launch(&launch(
                &id,
                &format!("job-{w}-{k}"),
                "site-1",
                (k * 10 + w) as i64,
            ))
            .unwrap();
        let first = outcome(&id, "j", (k % 3) as i64);
        assert_eq!(store.record_outcome(&first).unwrap(), first);
        assert_eq!(store.record_outcome(&outcome(&id, "j", 42)).unwrap(), first);
        if k < SHARED {
            let shared = format!("shared-{k}");
            store
                .record_launch(&launch(&shared, "shared", "site-1", 0))
                .unwrap();
            let stored = store
                .record_outcome(&outcome(&shared, "shared", 100 + w as i64))
                .unwrap();
            winners.insert(shared, stored.exit_code.unwrap());
        }
    }
    winners
}

fn check_workload(path: &Path, workers: usize, per: usize, winners: &[BTreeMap<String, i64>]) {
    let store = open(path);
    let all = store.history(usize::MAX).unwrap();
    assert_eq!(all.len(), workers * per + SHARED, "every launch is there once");
    assert!(
        all.iter().all(|e| e.outcome.is_some()),
        "every launch has an outcome"
    );
    assert!(store.pending_launches("site-1").unwrap().is_empty());
    for e in &all {
        let o = e.outcome.as_ref().unwrap();
        if let Some(k) = e.launch.container_id.strip_prefix("shared-") {
            let stored = o.exit_code.unwrap();
            for seen in winners {
                assert_eq!(
                    seen[&format!("shared-{k}")],
                    stored,
                    "all writers agree on the winner"
                );
            }
        } else {
            let k: usize = e
                .launch
                .container_id
                .rsplit_once("-c")
                .unwrap()
                .1
                .parse()
                .unwrap();
            assert_eq!(
                o.exit_code,
                Some((k % 3) as i64),
                "first outcome won for {}",
                e.launch.container_id
            );
        }
    }
    let raw = rusqlite::Connection::open(path).unwrap();
    let n: i64 = raw
        .query_row("SELECT COUNT(*) FROM outcomes", [], |r| r.get(0))
        .unwrap();
    assert_eq!(
        n as usize,
        workers * per + SHARED,
        "exactly one outcome per launch"
    );
    let check: String = raw.query_row("PRAGMA integrity_check", [], |r| r.get(0)).unwrap();
    assert_eq!(check, "ok");
}

/// Lets every child start and wait at the line, releases them together by writing `go`, and
/// fails unless every one of them succeeds.
fn release_together(children: Vec<std::process::Child>, go: &Path, who: &str) {
    std::thread::sleep(Duration::from_millis(300));
    fs::write(go, b"go").unwrap();
    for c in children {
        let out = c.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "{who} failed: {}\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

/// Re-run this test binary as a child process that only runs `child_process_entry`.
fn child(mode: &str, path: &Path, worker: usize, go: Option<&Path>) -> Command {
    let mut cmd = Command::new(std::env::current_exe().unwrap());
    cmd.args([
        "--exact",
        "child_process_entry",
        "--nocapture",
        "--test-threads=1",
    ])
    .env("BERTH_STORE_TEST_CHILD", mode)
    .env("BERTH_STORE_TEST_PATH", path)
    .env("BERTH_STORE_TEST_WORKER", worker.to_string())
    .stdin(Stdio::null())
    .stdout(Stdio::piped())
    .stderr(Stdio::piped());
    if let Some(go) = go {
        cmd.env("BERTH_STORE_TEST_GO", go);
    }
    cmd
}

/// The body of child processes; does nothing in a normal test run.
#[test]
fn child_process_entry() {
    let Ok(mode) = std::env::var("BERTH_STORE_TEST_CHILD") else {
        return;
    };
    let path = PathBuf::from(std::env::var("BERTH_STORE_TEST_PATH").unwrap());
    let worker: usize = std::env::var("BERTH_STORE_TEST_WORKER").unwrap().parse().unwrap();
    if let Ok(go) = std::env::var("BERTH_STORE_TEST_GO") {
        let deadline = Instant::now() + Duration::from_secs(30);
        while !Path::new(&go).exists() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(1));
        }
    }
    let (store, _) = SqliteStore::open(&path).unwrap();
    match mode.as_str() {
        "crash" => {
            store
                .record_launch(&launch("crash-c", "crash-j", "site-1", 1))
                .unwrap();
            store.record_outcome(&outcome("crash-c", "crash-j", 3)).unwrap();
            // No destructors, no clean close: like a killed launcher.
            std::process::abort();
        }
        "open" => {}
        "workload" => {
            let per: usize = std::env::var("BERTH_STORE_TEST_PER").unwrap().parse().unwrap();
            let winners = write_workload(&store, worker, per);
            let text: String = winners.iter().map(|(k, v)| format!("{k} {v}\n")).collect();
            let out = path.parent().unwrap().join(format!("winners-{worker}"));
            fs::write(out, text).unwrap();
        }
        other => panic!("unknown child mode {other}"),
    }
}

#[test]
fn a_writer_held_past_the_busy_timeout_is_a_busy_error() {
    let dir = tempfile::tempdir().unwrap();
    let path = store_path(&dir);
    drop(open(&path));
    let options = StoreOptions {
        busy_timeout: Duration::from_millis(100),
    };
    let (store, _) = SqliteStore::open_with(&path, &options).unwrap();
    let holder = rusqlite::Connection::open(&path).unwrap();
    holder.execute_batch("BEGIN IMMEDIATE").unwrap();
    let err = store.record_outcome(&outcome("c", "j", 0)).unwrap_err();
    assert!(matches!(err, StoreError::Busy { .. }), "{err}");
    assert!(err.to_string().contains("retry"), "{err}");
    holder.execute_batch("ROLLBACK").unwrap();
    store.record_outcome(&outcome("c", "j", 0)).unwrap();
}

/// Several processes opening a store that does not exist yet all get it: the switch to WAL
/// mode, which SQLite may answer "busy" at once when two openers race, is retried.
#[test]
fn many_processes_opening_a_new_store_at_once_all_succeed() {
    const PROCS: usize = 6;
    for round in 0..8 {
        let dir = tempfile::tempdir().unwrap();
        let path = store_path(&dir);
        let go = dir.path().join("go");
        let children: Vec<_> = (0..PROCS)
            .map(|w| child("open", &path, w, Some(&go)).spawn().unwrap())
            .collect();
        release_together(children, &go, &format!("round {round}: an opener"));
    }
}
