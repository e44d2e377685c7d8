//! Audits of live containers through a [`ContainerRuntime`], and the helpers test suites use
//! to audit every container they create.

use crate::checks::audit_container;
use crate::policy::SitePolicy;
use crate::report::AuditReport;
use async_trait::async_trait;
use berth_engine::{
    ContainerEvent, ContainerRuntime, ContainerState, ContainerSummary, EngineError, EngineInfo,
    EngineResult, LabelFilter, LogChunk,
};
use futures::stream::BoxStream;
use std::sync::{Arc, Mutex};

/// Inspect container `id` and audit it against `site`'s policy for its labels. One engine
/// request; no retry and no deadline of its own.
pub async fn audit_live(rt: &dyn ContainerRuntime, id: &str, site: &SitePolicy) -> EngineResult<AuditReport> {
    let inspect = rt.inspect_raw(id).await?;
    Ok(audit_container(&inspect, &site.for_inspect(&inspect)))
}

/// For test suites: audit container `id` and panic, printing the report, unless it passes.
/// Returns the report (which may hold notes).
pub async fn assert_container_passes(rt: &dyn ContainerRuntime, id: &str, site: &SitePolicy) -> AuditReport {
    let report = match audit_live(rt, id, site).await {
        Ok(report) => report,
        Err(e) => panic!("audit of container {id}: cannot inspect it: {e}"),
    };
    assert!(report.passed, "container breaks the site policy:\n{report}");
    report
}

/// What [`AuditingRuntime`] saw for one created container.
#[derive(Debug, Clone)]
pub enum AuditRecord {
    Audited(AuditReport),
    /// The container was created but could not be inspected.
    NotInspected {
        id: String,
        error: EngineError,
    },
}

/// A runtime that audits every container right after the engine created it (before it
/// starts), then answers as `inner` does. Everything else is passed through unchanged.
///
/// The audit inspects through `inspector`, which may be a different connection from
/// `inner` (a test that breaks `inner` on purpose still audits through a good one).
pub struct AuditingRuntime {
    inner: Arc<dyn ContainerRuntime>,
    inspector: Arc<dyn ContainerRuntime>,
    site: SitePolicy,
    records: Mutex<Vec<AuditRecord>>,
}

impl AuditingRuntime {
    pub fn new(
        inner: Arc<dyn ContainerRuntime>,
        inspector: Arc<dyn ContainerRuntime>,
        site: SitePolicy,
    ) -> Self {
        Self {
            inner,
            inspector,
            site,
            records: Mutex::new(Vec::new()),
        }
    }

    fn records_lock(&self) -> std::sync::MutexGuard<'_, Vec<AuditRecord>> {
        // A list of finished records; a panic elsewhere cannot leave it torn.
        self.records.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Every record so far, in creation order.
    pub fn records(&self) -> Vec<AuditRecord> {
        self.records_lock().clone()
    }

    /// How many containers were created (and audited or not) so far.
    pub fn created(&self) -> usize {
        self.records_lock().len()
    }

    /// Panics unless every created container was inspected and passed. Returns how many.
    pub fn assert_all_passed(&self) -> usize {
        let records = self.records();
        let mut problems = Vec::new();
        for r in &records {
            match r {
                AuditRecord::Audited(report) if report.passed => {}
                AuditRecord::Audited(report) => problems.push(report.to_string()),
                AuditRecord::NotInspected { id, error } => {
                    problems.push(format!("{id}: not audited: cannot inspect it: {error}"))
                }
            }
        }
        assert!(
            problems.is_empty(),
            "{} of {} created containers fail the audit:\n{}",
            problems.len(),
            records.len(),
            problems.join("\n")
        );
        records.len()
    }
}

#[async_trait]
impl ContainerRuntime for AuditingRuntime {
    fn address(&self) -> String {
        self.inner.address()
    }

    async fn ping(&self) -> EngineResult<EngineInfo> {
        self.inner.ping().await
    }
    async fn network_exists(&self, name: &str) -> EngineResult<bool> {
        self.inner.network_exists(name).await
    }
    async fn image_exists(&self, image: &str) -> EngineResult<bool> {
        self.inner.image_exists(image).await
    }
    async fn pull_image(&self, image: &str) -> EngineResult<()> {
        self.inner.pull_image(image).await
    }
    async fn create(
        &self,
        name: &str,
        body: &serde_json::Value,
        platform: Option<&str>,
    ) -> EngineResult<String> {
        let id = self.inner.create(name, body, platform).await?;
        let record = match audit_live(self.inspector.as_ref(), &id, &self.site).await {
            Ok(report) => {
                if !report.passed {
                    tracing::error!("{report}");
                }
                AuditRecord::Audited(report)
            }
            Err(error) => AuditRecord::NotInspected {
                id: id.clone(),
                error,
            },
        };
        self.records_lock().push(record);
        Ok(id)
    }
    async fn start(&self, id: &str) -> EngineResult<()> {
        self.inner.start(id).await
    }
    async fn inspect(&self, id: &str) -> EngineResult<ContainerState> {
        self.inner.inspect(id).await
    }
    async fn stop(&self, id: &str, grace_secs: u32) -> EngineResult<()> {
        self.inner.stop(id, grace_secs).await
    }
    async fn kill(&self, id: &str) -> EngineResult<()> {
        self.inner.kill(id).await
    }
    async fn remove(&self, id: &str, force: bool) -> EngineResult<()> {
        self.inner.remove(id, force).await
    }
    async fn list(&self, filters: &[LabelFilter], all: bool) -> EngineResult<Vec<ContainerSummary>> {
        self.inner.list(filters, all).await
    }
    fn events(&self, filters: &[LabelFilter]) -> BoxStream<'static, EngineResult<ContainerEvent>> {
        self.inner.events(filters)
    }
    fn logs(&self, id: &str, follow: bool) -> BoxStream<'static, EngineResult<LogChunk>> {
        self.inner.logs(id, follow)
    }
    async fn wait_exit(&self, id: &str) -> EngineResult<i64> {
        self.inner.wait_exit(id).await
    }
    async fn inspect_raw(&self, id: &str) -> EngineResult<serde_json::Value> {
        self.inner.inspect_raw(id).await
    }
}
