//! The engine restarts under running jobs, on a dedicated `dockerd` (never the shared
//! engine; see `common::dockerd`). Without live-restore the daemon stops its containers on
//! the way down; with it they keep running. Either way, once the event stream is back every
//! outcome is recorded from what the engine shows, nothing is recorded from the outage
//! itself, and nothing is left behind.
//!
//! ```text
//! BERTH_REQUIRE_DOCKER=1 cargo test -p berth-audit --test engine_restart -- --nocapture
//! ```

mod common;

use berth_core::JobReturnCode;
use berth_engine::ContainerRuntime;
use berth_launcher::{JobHandle, Launcher};
use berth_store::{MemoryStore, ObservedBy, OutcomeStore};
use berth_testkit::Unavailable;
use common::dockerd::DedicatedEngine;
use common::{step, TestSite};
use serde_json::json;
use std::sync::Arc;
use std::time::{Duration, Instant};

struct RestartSite {
    launcher: Launcher,
    store: Arc<MemoryStore>,
    // Dropped before the engine it lives on.
    site: TestSite,
}

impl RestartSite {
    async fn new(engine: &DedicatedEngine) -> Self {
        let site = TestSite::new(engine.runtime(), json!({})).await;
        let store = Arc::new(MemoryStore::new());
        let mut settings = site.settings();
        settings.engine_timeout = Duration::from_secs(5);
        let launcher = Launcher::new(Arc::new(engine.runtime()), settings, store.clone());
        Self {
            launcher,
            store,
            site,
        }
    }

    async fn launch(&self, job_id: &str, script: &str) -> JobHandle {
        common::launch(&self.launcher, &self.site, job_id, script).await
    }

    /// No container left, every launch with its outcome, and a recovery by another process
    /// finds nothing to do.
    async fn assert_settled(&self) {
        let deadline = Instant::now() + Duration::from_secs(30);
        while !self.site.containers().await.is_empty() && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        self.site.assert_no_containers().await;
        common::assert_every_launch_has_its_outcome(&self.site, &self.store).await;
    }
}

// Without live-restore: the daemon's shutdown kills the running jobs (after its 3 s
// shutdown timeout). Their outcomes are the engine's (exit code 137 from the kill), learned
// from the die event or, when the stream was already gone, from the re-sync's inspect once
// the daemon is back; never "vanished", never an outage.
async fn an_engine_restart_that_kills_its_containers_records_each_real_end() -> Result<(), Unavailable> {
    let mut engine = DedicatedEngine::start(false).await?;
    let s = RestartSite::new(&engine).await;
    let done = s.launch("before", "sleep 0.5\nexit 5").await;
    let a = s.launch("running-a", "sleep 300").await;
    let b = s.launch("running-b", "sleep 300").await;
    assert_eq!(
        step("wait", done.wait_settled()).await,
        JobReturnCode::ExecutionError
    );
    let took = engine.restart().await.expect("restart the engine");
    eprintln!("restart (containers killed): daemon back after {took:?}");
    let t = Instant::now();
    for h in [&a, &b] {
        assert_eq!(
            step("wait", h.wait_settled()).await,
            JobReturnCode::ExecutionError
        );
        let o = s.store.outcome(h.container_id()).unwrap().expect("outcome");
        eprintln!("  {}: {:?} after {:?}", h.job_id(), o, t.elapsed());
        assert_eq!(o.exit_code, Some(137), "{o:?}");
        assert_ne!(o.observed_by, ObservedBy::Vanished, "{o:?}");
    }
    assert_eq!(
        s.store.outcome(done.container_id()).unwrap().unwrap().exit_code,
        Some(5)
    );
    s.assert_settled().await;
    // The launcher works on the restarted engine.
    let h = s.launch("after", "exit 0").await;
    assert_eq!(step("wait", h.wait_settled()).await, JobReturnCode::Success);
    s.assert_settled().await;
    Ok(())
}

// With live-restore: the jobs run on through the restart. A job that ends while the daemon
// is down is recorded with its own exit code once the stream is back; one stopped after
// the restart ends ABORTED.
async fn an_engine_restart_with_live_restore_keeps_jobs_and_their_exact_outcomes() -> Result<(), Unavailable>
{
    let mut engine = DedicatedEngine::start(true).await?;
    let s = RestartSite::new(&engine).await;
    let ends = s.launch("ends-during", "sleep 4\nexit 4").await;
    let keeps = s.launch("keeps-running", "sleep 300").await;
    let took = engine.restart().await.expect("restart the engine");
    eprintln!("restart (live-restore): daemon back after {took:?}");
    let st = step("inspect", s.site.rt.inspect(keeps.container_id()))
        .await
        .expect("inspect after the restart");
    assert_eq!(st.status, "running", "live-restore kept the job running");
    assert_eq!(keeps.terminal_state(), None);
    assert_eq!(s.store.outcome(keeps.container_id()).unwrap(), None);

    let t = Instant::now();
    let code = step("wait", ends.wait_settled()).await;
    let o = s.store.outcome(ends.container_id()).unwrap().expect("outcome");
    eprintln!("  {}: {o:?} after {:?}", ends.job_id(), t.elapsed());
    assert_eq!((code, o.exit_code), (JobReturnCode::ExecutionError, Some(4)));

    assert_eq!(
        step("stop", keeps.try_terminate()).await.unwrap(),
        JobReturnCode::Aborted
    );
    s.assert_settled().await;
    Ok(())
}

berth_testkit::test_main!(
    an_engine_restart_that_kills_its_containers_records_each_real_end,
    an_engine_restart_with_live_restore_keeps_jobs_and_their_exact_outcomes,
);
